#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/io.h"
#include "cli.h"

/* SIGINT/SIGTERM: remove this process's temporary files, then die of the
 * signal as before (SA_RESETHAND restored the default action). */
static void remove_temps(int sig)
{
	dim_tmp_remove_all();
	raise(sig);
}

void cli_remove_temps_on_signal(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = remove_temps;
	sa.sa_flags = (int)SA_RESETHAND;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_fail(const char *cmd, dim_status st, const char *msg)
{
	fprintf(stderr, "cldim %s: %s\n", cmd, msg && *msg ? msg : dim_status_name(st));
	return dim_status_exit_code(st);
}

int cli_ctx(const char *cmd, const char *device, int no_cache, int profile, dim_ctx **out)
{
	dim_error err = {0};
	dim_ctx_options opt = {.device = device, .no_cache = no_cache != 0, .profile = profile != 0};
	dim_status st = dim_ctx_create(out, &opt, &err);
	if (st)
		return cli_fail(cmd, st, dim_error_text(&err));
	return 0;
}

int cli_int(const char *cmd, const char *flag, const char *v, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi) {
		fprintf(stderr, "cldim %s: %s: '%s' is not an integer in [%ld, %ld]\n", cmd, flag, v,
			lo, hi);
		return 0;
	}
	*out = x;
	return 1;
}

int cli_float(const char *cmd, const char *flag, const char *v, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end || !(x >= lo && x <= hi)) {
		fprintf(stderr, "cldim %s: %s: '%s' is not a number in [%g, %g]\n", cmd, flag, v, lo,
			hi);
		return 0;
	}
	*out = x;
	return 1;
}
