#include "testutil.h"

#include <dirent.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int t_failures;
int t_skipped;

int t_result(void)
{
	if (t_failures) {
		fprintf(stderr, "%d check(s) failed\n", t_failures);
		return 1;
	}
	if (t_skipped) {
		fprintf(stderr, "skipped: %d part(s) of this test could not run here\n", t_skipped);
		return 77;
	}
	return 0;
}

dim_var *t_param(dim_tape *t, dim_param *p)
{
	dim_var *v;
	CHECK_OK(dim_tape_ctx(t), dim_tape_param(t, p, &v));
	return v;
}

dim_var *t_input(dim_tape *t, const dim_tensor *x)
{
	dim_var *v;
	CHECK_OK(dim_tape_ctx(t), dim_tape_input(t, x, &v));
	return v;
}

dim_ctx *t_ctx(void)
{
	dim_error err = {0};
	dim_ctx *ctx = NULL;
	dim_ctx_options opt;
	dim_status st = dim_ctx_options_from_env(&opt, &err);
	if (!st)
		st = dim_ctx_create(&ctx, &opt, &err);
	if (st == DIM_ERR_NO_PLATFORM) {
		fprintf(stderr, "skipped: %s\n", dim_error_text(&err));
		exit(77);
	}
	if (st != DIM_OK) {
		fprintf(stderr, "cannot create an OpenCL context: %s\n", dim_error_text(&err));
		exit(1);
	}
	return ctx;
}

dim_ctx *t_ctx_with(const char *name, const char *value)
{
	setenv(name, value, 1);
	dim_ctx *ctx = t_ctx();
	unsetenv(name);
	return ctx;
}

int t_small(void)
{
	const char *v = getenv("CLDIM_TEST_SMALL");
	return v && *v && strcmp(v, "0") != 0;
}

uint64_t t_rand_u64(t_rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

double t_uniform(t_rng *r, double lo, double hi)
{
	double u = (double)(t_rand_u64(r) >> 11) * (1.0 / 9007199254740992.0);
	return lo + (hi - lo) * u;
}

void t_fill(t_rng *r, float *x, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++) {
		float v;
		do
			v = (float)t_uniform(r, lo, hi);
		while (v == 0.0f);
		x[i] = v;
	}
}

void t_fill_d(t_rng *r, double *x, size_t n, double lo, double hi)
{
	for (size_t i = 0; i < n; i++) {
		double v;
		do
			v = t_uniform(r, lo, hi);
		while (v == 0.0);
		x[i] = v;
	}
}

int t_close(const char *what, const float *got, const double *want, size_t n, double rtol,
	    double atol)
{
	size_t bad = 0, worst = 0;
	double worst_err = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - want[i]);
		double lim = atol + rtol * fabs(want[i]);
		if (!(e <= lim)) {
			if (bad < 5)
				fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (err %.3g, limit %.3g)\n",
					what, i, got[i], want[i], e, lim);
			bad++;
		}
		if (!(e <= worst_err)) {
			worst_err = e;
			worst = i;
		}
	}
	if (bad) {
		fprintf(stderr, "%s: %zu of %zu values differ; worst at %zu (err %.3g)\n", what, bad, n,
			worst, worst_err);
		t_failures++;
		return 0;
	}
	return 1;
}

int t_close_ff(const char *what, const float *got, const float *want, size_t n, double rtol,
	       double atol)
{
	double *w = malloc(n * sizeof *w);
	if (!w)
		return 0;
	for (size_t i = 0; i < n; i++)
		w[i] = want[i];
	int ok = t_close(what, got, w, n, rtol, atol);
	free(w);
	return ok;
}

dim_buf t_upload(dim_ctx *ctx, const float *x, size_t n)
{
	dim_buf b = {0};
	if (dim_buf_create(ctx, n * sizeof(float), &b) != DIM_OK ||
	    dim_write(ctx, b, 0, x, n * sizeof(float)) != DIM_OK) {
		fprintf(stderr, "t_upload: %s\n", dim_ctx_errmsg(ctx));
		exit(1);
	}
	return b;
}

float *t_download(dim_ctx *ctx, dim_buf b, size_t n)
{
	float *x = malloc(n * sizeof *x + 1);
	if (!x || dim_read(ctx, b, 0, x, n * sizeof(float)) != DIM_OK) {
		fprintf(stderr, "t_download: %s\n", dim_ctx_errmsg(ctx));
		exit(1);
	}
	return x;
}

char *t_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	size_t n = strlen(base) + strlen(tag) + 32;
	char *p = malloc(n);
	snprintf(p, n, "%s/cldim-%s-XXXXXX", base, tag);
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		exit(1);
	}
	return p;
}

void t_rmtree(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t n = strlen(path) + strlen(e->d_name) + 2;
		char *p = malloc(n);
		snprintf(p, n, "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			t_rmtree(p);
		else
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(path);
}

int t_write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, n, f);
	return (fclose(f) == 0 && w == n) ? 0 : -1;
}

int t_torch_available(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	const char *py = getenv("CLDIM_TORCH_PYTHON");
	cached = 0;
	if (py && *py) {
		char cmd[1024];
		snprintf(cmd, sizeof cmd, "'%s' -c 'import torch, numpy' >/dev/null 2>&1", py);
		cached = system(cmd) == 0;
	}
	return cached;
}

int t_dump(const char *dir, const char *name, const float *x, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s.f32", dir, name);
	return t_write_file(path, x, n * sizeof *x);
}

static int torch_required(void)
{
	const char *e = getenv("CLDIM_REQUIRE_TORCH");
	return e && !strcmp(e, "1");
}

int t_torch_missing(const char *what)
{
	if (torch_required()) {
		fprintf(stderr, "FAILED: %s needs python3 with torch and numpy (CLDIM_TORCH_PYTHON=%s), "
			"and CLDIM_REQUIRE_TORCH=1 makes its absence an error\n", what,
			getenv("CLDIM_TORCH_PYTHON") ? getenv("CLDIM_TORCH_PYTHON") : "");
		return 1;
	}
	fprintf(stderr, "skipped: %s (no python3 with torch)\n", what);
	return 77;
}

int t_torch_run(const char *script, const char *dir, const char *args)
{
	const char *mode = getenv("CLDIM_TORCH_PARITY");
	if (mode && !strcmp(mode, "off")) {
		/* a stage that runs the same test for something else (the Oclgrind
		 * stage's memory and race checks): its parity part runs in the
		 * PoCL stage; said, neither passed nor skipped */
		fprintf(stderr, "PyTorch parity %s: not run in this stage (CLDIM_TORCH_PARITY=off)\n",
			script);
		return 0;
	}
	if (!t_torch_available()) {
		char what[256];
		snprintf(what, sizeof what, "PyTorch parity %s", script);
		if (t_torch_missing(what) == 77) {
			t_skipped++;
			return 77;
		}
		t_failures++;
		return 1;
	}
	const char *src = getenv("CLDIM_SOURCE_DIR");
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' '%s/tests/py/%s' '%s' %s", getenv("CLDIM_TORCH_PYTHON"),
		 src ? src : ".", script, dir, args ? args : "");
	int rc = system(cmd);
	if (rc != 0) {
		fprintf(stderr, "PyTorch parity failed: %s\n", cmd);
		t_failures++;
		return 1;
	}
	return 0;
}

int t_run(const char *cmd, char *out, size_t n)
{
	char full[8192];
	snprintf(full, sizeof full, "%s 2>&1", cmd);
	FILE *p = popen(full, "r");
	if (!p)
		return -1;
	size_t len = fread(out, 1, n - 1, p);
	out[len] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int t_count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return f ? n : -1;
}
