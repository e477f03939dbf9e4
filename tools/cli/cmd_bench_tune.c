/* cldim bench --tune: search CLBlast's GEMM parameters for one device on the
 * DIM shapes (host/bench/gemm_search.c), store the winner for the device
 * and driver (every later context applies it), and print before/after per
 * shape in the chosen format. */
#include <stdlib.h>
#include <string.h>

#include "bench_out.h"
#include "cli.h"

int bench_dim_shapes(int B, int D, dim_gemm_shape *out);

int bench_tune(const char *device, double seconds, int tune_batch, int mi_units, int reps,
	       const char *fmt)
{
	/* "before" must be CLBlast's defaults, not an earlier tuning. */
	cli_opts.no_gemm_tuning = true;
	dim_ctx *ctx;
	int rc = cli_ctx("bench", device, 0, 0, &ctx);
	if (rc)
		return rc;
	const dim_device_info *d = dim_ctx_device(ctx);
	dim_gemm_shape shapes[16];
	int ns = bench_dim_shapes(tune_batch, mi_units, shapes);
	dim_gemm_tune_opts to = {.shapes = shapes, .nshapes = ns, .seconds = seconds,
				 .reps = reps > 3 ? 3 : reps, .seed = 1, .progress = stderr};
	dim_gemm_tune_result res;
	fprintf(stderr, "bench: tuning CLBlast GEMM on %s for %.0f s (DIM shapes at batch %d, D %d)\n",
		d->name, seconds, tune_batch, mi_units);
	dim_status st = dim_gemm_tune(ctx, &to, &res);
	if (!st)
		st = dim_gemm_tuning_save(ctx, &res.best);
	if (st) {
		rc = cli_fail("bench", st, dim_ctx_errmsg(ctx));
		goto out_destroy;
	}
	char path[1100], desc[1024];
	dim_gemm_tuning_path(ctx, path, sizeof path);
	dim_gemm_tuning_describe(&res.best, desc, sizeof desc);
	fprintf(stderr, "bench: %d candidates measured, %d rejected, %.0f s; stored in %s:\n  %s\n",
		res.tried, res.failed, res.search_s, path, desc);

	struct bench_out out = {.f = stdout, .fmt = fmt};
	bench_out_device(&out, d);
	double tb = 0, ta = 0;
	for (int i = 0; i < ns; i++) {
		const dim_gemm_shape *g = &shapes[i];
		double flops = 2.0 * g->M * g->N * g->K;
		for (int after = 0; after < 2; after++) {
			double t = after ? res.after_s[i] : res.before_s[i];
			char test[96];
			snprintf(test, sizeof test, "%s [%s]", g->what, after ? "tuned" : "default");
			struct bench_rec r = bench_rec_plain(test, NULL, (dim_timing){t, t, t, to.reps});
			snprintf(r.shape, sizeof r.shape, "%c%c M=%d N=%d K=%d", g->ta ? 'T' : 'N',
				 g->tb ? 'T' : 'N', g->M, g->N, g->K);
			r.gflops = flops / t * 1e-9;
			bench_out_rec(&out, &r);
		}
		tb += res.before_s[i];
		ta += res.after_s[i];
	}
	bench_out_end(&out);
	fprintf(stderr, "bench: all shapes: %.1f ms default -> %.1f ms tuned (%.2fx)\n", 1e3 * tb,
		1e3 * ta, ta > 0 ? tb / ta : 0);
out_destroy:
	dim_ctx_destroy(ctx);
	return rc;
}
