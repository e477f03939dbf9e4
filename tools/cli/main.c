/* cldim — the command-line tool: a table of subcommands over the library.
 * Each subcommand parses its own flags, calls the library and prints results
 * to stdout (progress and logs to stderr). No maths and no OpenCL here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_data.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{"devices", cmd_devices, "list OpenCL platforms and devices"},
	{"cache", cmd_cache, "show or clear the compiled-kernel cache"},
	{"train", cmd_train, "train Deep InfoMax (default: Fashion-MNIST, embedded)"},
	{"info", cmd_info, "show a checkpoint: config, progress, parameter counts"},
	{"extract", cmd_extract, "encode a dataset or image folder into features.npy"},
	{"eval", cmd_eval, "linear/MLP probes, k-NN and NDM on frozen features, with baselines"},
	{"neighbors", cmd_neighbors, "picture of nearest neighbours in feature space"},
	{"export", cmd_export, "write a checkpoint's encoder alone (PyTorch names, for C/Python)"},
	{"data", cmd_data, "describe a dataset, contact sheet, loader benchmark"},
	{"bench", cmd_bench, "measure device peak and DIM GEMMs (md|csv|json)"},
};

static void usage(FILE *f)
{
	fprintf(f, "cldim %s — Deep InfoMax on any OpenCL device\n\n"
		   "usage: cldim [-v|-q] COMMAND [options]   (cldim COMMAND --help for details)\n\n"
		   "commands:\n", CLDIM_VERSION);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nglobal options: -v (debug log), -q (no progress, errors only; also -q/--quiet after a command), --version\n"
		   "environment: CLDIM_DEVICE (default --device), CLDIM_CACHE_DIR, CLDIM_NO_CACHE,\n"
		   "             CLDIM_KERNELS_DIR (load cl/*.cl from disk)\n");
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			dim_log_set_level(DIM_LOG_DEBUG);
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			cli_set_quiet();
		else if (!strcmp(argv[i], "--version")) {
			printf("cldim %s\n", CLDIM_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "cldim: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	/* the environment, read once (after -q, which silences its warnings) */
	dim_ctx_options_from_env(&cli_opts, &cli_env_err);
	for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].run(argc - i, argv + i);
	fprintf(stderr, "cldim: unknown command '%s'\n\n", argv[i]);
	usage(stderr);
	return 2;
}
