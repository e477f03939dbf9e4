/* Paired comparison of own-GEMM variants (and CLBlast) on the DIM shapes.
 * Not part of the build: an experiment driver for BENCHMARKS.md "CPU GEMM".
 *
 *   cc -O2 -Iinclude -Ibuild/... tools/bench/gemm_variants.c build/libcldim.a ...
 *   gemm_variants REPS VARIANT...   VARIANT = clblast | MR,NV,PACK,KC,GM[,KB,MB]
 *                                   (PACK 1 = always pack, KC 0 = no k-blocking,
 *                                   KB / MB: K / M per tile launch, 0 = all)
 * Each rep runs every variant once on a shape, in turn, so load changes on a
 * shared machine hit all variants alike; prints the median GFLOP/s (wall)
 * and, after a slash, the median GFLOP per CPU-second times the core count
 * (what the GEMM would run at with the cores to itself). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cldim/bench.h"
#include "cldim/tuning.h"

struct shape { const char *what; int ta, tb, M, N, K; };
static const struct shape shapes[] = {
	{"conv0", 0, 0, 64, 16384, 48},	{"conv1", 0, 0, 128, 4096, 1024},
	{"conv2", 0, 0, 256, 1024, 2048},	{"fc", 0, 1, 64, 1024, 4096},
	{"c0 fwd", 0, 1, 4096, 2048, 128},	{"c1 fwd", 0, 1, 4096, 2048, 2048},
	{"c1 dW", 1, 0, 2048, 2048, 4096},	{"c1 dX", 0, 0, 4096, 2048, 2048},
	{"c1 fwd L49", 0, 1, 3136, 2048, 2048},	{"scores", 0, 1, 64, 4096, 2048},
	{"scores dY", 0, 0, 64, 2048, 4096},	{"scores dM", 1, 0, 4096, 2048, 64},
	/* batch 128: twice the critic's rows */
	{"B128 c1 fwd", 0, 1, 8192, 2048, 2048},	{"B128 c1 dW", 1, 0, 2048, 2048, 8192},
	{"B128 c1 dX", 0, 0, 8192, 2048, 2048},	{"B128 scores", 0, 1, 128, 8192, 2048},
};

/* CPU seconds of this process (all threads, PoCL's included). */
static double cpu_now(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 3, nv = argc - 2;
	dim_error err = {0};
	dim_ctx *ctx;
	dim_ctx_options o;
	const char *only = getenv("GV_SHAPES");
	if (dim_ctx_options_from_env(&o, &err) == DIM_OK)
		o.profile = getenv("GV_PROFILE") != NULL;
	if (nv < 1 || err.status || dim_ctx_create(&ctx, &o, &err)) {
		fprintf(stderr, "usage: gemm_variants REPS VARIANT... (%s)\n", dim_error_text(&err));
		return 2;
	}
	int cfg[32][7] = {{0}};
	for (int v = 0; v < nv; v++) {
		if (!strcmp(argv[2 + v], "clblast"))
			cfg[v][0] = 0;
		else if (sscanf(argv[2 + v], "%d,%d,%d,%d,%d,%d,%d", &cfg[v][0], &cfg[v][1],
				&cfg[v][2], &cfg[v][3], &cfg[v][4], &cfg[v][5], &cfg[v][6]) < 5)
			return 2;
	}
	printf("| shape |");
	for (int v = 0; v < nv; v++)
		printf(" %s |", argv[2 + v]);
	printf("\n|---|");
	for (int v = 0; v < nv; v++)
		printf("---:|");
	printf("\n");
	double *t = calloc((size_t)nv * reps, sizeof *t), *u = calloc((size_t)nv * reps, sizeof *u);
	unsigned cores = dim_ctx_device(ctx)->compute_units;
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		const struct shape *g = &shapes[s];
		if (only && !strstr(only, g->what))
			continue;
		dim_buf a, b, c;
		dim_buf_create(ctx, (size_t)g->M * g->K * 4, &a);
		dim_buf_create(ctx, (size_t)g->K * g->N * 4, &b);
		dim_buf_create(ctx, (size_t)g->M * g->N * 4, &c);
		dim_fill_f32(ctx, a, 0.5f);
		dim_fill_f32(ctx, b, 0.25f);
		size_t lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
		for (int r = -1; r < reps; r++)
			for (int v = 0; v < nv; v++) {
				dim_gemm_own_shape sh = {
					.mr = cfg[v][0], .nv = cfg[v][1], .pack_always = cfg[v][2],
					.kc = cfg[v][3], .gm = cfg[v][4], .kb = cfg[v][5],
					.mb = cfg[v][6],
					.swap_m = getenv("GV_SWAP_M") ? atoi(getenv("GV_SWAP_M")) : 0};
				if (dim_gemm_use(ctx, cfg[v][0] != 0, &sh)) {
					fprintf(stderr, "%s\n", dim_ctx_errmsg(ctx));
					return 1;
				}
				dim_finish(ctx);
				double t0 = dim_now(), u0 = cpu_now();
				if (dim_gemm(ctx, g->ta, g->tb, g->M, g->N, g->K, 1, a, lda, b, ldb, 0,
					     c, g->N) || dim_finish(ctx)) {
					fprintf(stderr, "%s\n", dim_ctx_errmsg(ctx));
					return 1;
				}
				if (r >= 0) {
					t[v * reps + r] = dim_now() - t0;
					u[v * reps + r] = cpu_now() - u0;
				}
			}
		printf("| %s %c%c %dx%dx%d |", g->what, g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', g->M,
		       g->N, g->K);
		for (int v = 0; v < nv; v++) {
			double f = 2.0 * g->M * g->N * g->K * 1e-9;
			qsort(t + v * reps, reps, sizeof *t, cmpd);
			qsort(u + v * reps, reps, sizeof *u, cmpd);
			printf(" %.1f / %.1f |", f / t[v * reps + reps / 2],
			       f * cores / u[v * reps + reps / 2]);
		}
		printf("\n");
		fflush(stdout);
		dim_buf_release(&a);
		dim_buf_release(&b);
		dim_buf_release(&c);
	}
	free(t);
	free(u);
	if (o.profile)
		dim_ctx_profile_print(ctx, stdout);
	dim_ctx_destroy(ctx);
	return 0;
}
