/* Shared helpers for the cldim subcommands (tools/cli/). */
#ifndef CLDIM_CLI_H
#define CLDIM_CLI_H

#include "cldim/runtime.h"

/* Report a failed library call: "cldim <cmd>: <message>" on stderr; returns
 * the process exit code for the status. */
int cli_fail(const char *cmd, dim_status st, const char *msg);

/* Create a context from --device / --no-cache / --profile flags. */
int cli_ctx(const char *cmd, const char *device, int no_cache, int profile, dim_ctx **out);

/* Parse a long flag value as int/float with range check; on failure print
 * "cldim CMD: --flag: 'v' is not ..." and return 0. */
int cli_int(const char *cmd, const char *flag, const char *v, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *flag, const char *v, double lo, double hi, double *out);

int cmd_devices(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_neighbors(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif
