/* cldim cache [--clear] [--dir D]: where compiled kernels are cached. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

int cmd_cache(int argc, char **argv)
{
	static const struct option opts[] = {
		{"clear", no_argument, NULL, 'c'},
		{"dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int clear = 0, c;
	const char *dir = NULL;
	while ((c = getopt_long(argc, argv, "cd:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': clear = 1; break;
		case 'd': dir = optarg; break;
		case 'h':
			printf("usage: cldim cache [--clear] [--dir DIR]\n\n"
			       "Shows the compiled-kernel cache: location, entries, size.\n"
			       "  --clear    delete every entry\n"
			       "  --dir DIR  another cache directory (default: CLDIM_CACHE_DIR,\n"
			       "             else $XDG_CACHE_HOME/cldim/kernels, else ~/.cache/cldim/kernels)\n"
			       "Set CLDIM_NO_CACHE=1 (or pass --no-cache to a command) to bypass it.\n");
			return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cldim cache: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	dim_error err = {0};
	dim_cache_info info;
	dim_status st;
	if (!dir)
		dir = cli_opts.cache_dir;
	if (clear) {
		unsigned removed = 0;
		st = dim_cache_clear(dir, &removed, &err);
		if (st)
			return cli_fail("cache", st, dim_error_text(&err));
		printf("removed %u entries\n", removed);
	}
	st = dim_cache_query(dir, &info, &err);
	if (st)
		return cli_fail("cache", st, dim_error_text(&err));
	printf("location  %s\nentries   %u\nsize      %.2f MiB\n", info.dir, info.entries,
	       (double)info.bytes / 1048576.0);
	return 0;
}
