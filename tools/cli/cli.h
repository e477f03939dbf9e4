/* Shared helpers for the cldim subcommands (tools/cli/). */
#ifndef CLDIM_CLI_H
#define CLDIM_CLI_H

#include "cldim/runtime.h"

/* -q / --quiet, global or per command: no progress output and errors only
 * in the log (the same for every command). */
extern int cli_quiet;

/* The context options from the environment (dim_ctx_options_from_env, read
 * once in main); cli_env_err is set when a variable was malformed, and every
 * command that makes a context fails with it. */
extern dim_ctx_options cli_opts;
extern dim_error cli_env_err;
void cli_set_quiet(void);
/* extract, eval: a SIGINT/SIGTERM removes the temporary files first */
void cli_remove_temps_on_signal(void);

/* Report a failed library call: "cldim <cmd>: <message>" on stderr, the
 * message's concepts named by the command's flags (cli_flag_text); returns
 * the process exit code for the status. */
int cli_fail(const char *cmd, dim_status st, const char *msg);
/* msg with each concept the library names ("device selector X", "batch size
 * N", "checkpoint path P") replaced by the command's flag ("--device X", ...);
 * cut to n bytes. */
void cli_flag_text(const char *cmd, const char *msg, char *out, size_t n);

/* Create a context from --device / --no-cache / --profile flags. */
int cli_ctx(const char *cmd, const char *device, int no_cache, int profile, dim_ctx **out);

/* Parse a long flag value as int/float with range check; on failure print
 * "cldim CMD: --flag: 'v' is not ..." and return 0. */
int cli_int(const char *cmd, const char *flag, const char *v, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *flag, const char *v, double lo, double hi, double *out);

/* Do a and b name the same existing file (device and inode)? */
int cli_same_file(const char *a, const char *b);
/* An output path is refused (message, returns 2) when it is one of the
 * NULL-terminated inputs, or when it exists and force is 0; else 0. */
int cli_check_output(const char *cmd, const char *out, const char *const *inputs, int force);
/* mkdir -p of the directory part of path; 0, or the exit code after a message. */
int cli_make_parent(const char *cmd, const char *path);

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
