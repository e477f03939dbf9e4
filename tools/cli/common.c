#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/io.h"
#include "cli.h"

int cli_quiet;
dim_ctx_options cli_opts;
dim_error cli_env_err;

void cli_set_quiet(void)
{
	cli_quiet = 1;
	dim_log_set_level(DIM_LOG_ERROR);
}

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

/* The library's messages name concepts ("device selector gpu: ..."); each
 * command names them by its flags. cmd NULL: every command. */
static const struct {
	const char *cmd, *concept, *flag;
} flag_names[] = {
	{NULL, "device selector ", "--device "},
	{"train", "batch size ", "--batch "},
	{"train", "checkpoint path ", "--resume "},
	{"eval", "checkpoint path ", "--checkpoint "},
	{"eval", "a dataset path", "--data"},
	{"extract", "checkpoint path ", "--checkpoint "},
	{"export", "checkpoint path ", "--checkpoint "},
	{"neighbors", "checkpoint path ", "--checkpoint "},
};

void cli_flag_text(const char *cmd, const char *msg, char *out, size_t n)
{
	size_t o = 0;
	while (*msg && o + 1 < n) {
		const char *flag = NULL;
		size_t len = 0;
		for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0] && !flag; i++) {
			len = strlen(flag_names[i].concept);
			if ((!flag_names[i].cmd || !strcmp(flag_names[i].cmd, cmd)) &&
			    !strncmp(msg, flag_names[i].concept, len))
				flag = flag_names[i].flag;
		}
		if (flag) {
			o += (size_t)snprintf(out + o, n - o, "%s", flag);
			msg += len;
		} else {
			out[o++] = *msg++;
		}
	}
	out[o < n ? o : n - 1] = '\0';
}

int cli_fail(const char *cmd, dim_status st, const char *msg)
{
	char text[DIM_ERROR_MAX + 256];
	cli_flag_text(cmd, msg && *msg ? msg : dim_status_name(st), text, sizeof text);
	fprintf(stderr, "cldim %s: %s\n", cmd, text);
	return dim_status_exit_code(st);
}

int cli_ctx(const char *cmd, const char *device, int no_cache, int profile, dim_ctx **out)
{
	dim_error err = {0};
	if (cli_env_err.status)
		return cli_fail(cmd, cli_env_err.status, dim_error_text(&cli_env_err));
	dim_ctx_options opt = cli_opts;
	if (device)
		opt.device = device;
	opt.no_cache |= no_cache != 0;
	opt.profile = profile != 0;
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

int cli_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	if (!a || !b || stat(a, &sa) || stat(b, &sb))
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_check_output(const char *cmd, const char *out, const char *const *inputs, int force)
{
	struct stat sb;
	for (int i = 0; inputs && inputs[i]; i++)
		if (cli_same_file(out, inputs[i])) {
			fprintf(stderr, "cldim %s: %s is an input of this command (%s); refusing "
					"to overwrite it (choose another --out)\n", cmd, out,
				inputs[i]);
			return 2;
		}
	if (!force && lstat(out, &sb) == 0) {
		fprintf(stderr, "cldim %s: %s already exists; pass --force to overwrite it\n", cmd,
			out);
		return 2;
	}
	return 0;
}

int cli_make_parent(const char *cmd, const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	char *slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "cldim %s: cannot create directory %s: %s\n", cmd, buf, strerror(errno));
	return dim_status_exit_code(DIM_ERR_IO);
}
