/* Peak FMA throughput, bandwidth and GEMM timings (see include/cldim/bench.h). */
#include <stdlib.h>

#include "cldim/bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

dim_timing dim_timing_from(double *s, int n)
{
	dim_timing t = {0, 0, 0, n};
	if (n <= 0)
		return t;
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	t.min_s = s[0];
	t.max_s = s[n - 1];
	t.median_s = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
	return t;
}

#define BENCH_LANES 128 /* 8 float16 chains, see cl/bench.cl */

dim_status dim_bench_peak(dim_ctx *ctx, int reps, dim_peak *out)
{
	const dim_device_info *dev = dim_ctx_device(ctx);
	dim_kernel *fma, *copy;
	dim_buf obuf = {0}, x = {0}, y = {0};
	double *samples = calloc((size_t)(reps > 0 ? reps : 1), sizeof *samples);
	dim_status st;
	if (!samples)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
	if (reps < 1)
		reps = 1;

	double t0 = dim_now();
	st = dim_kernel_get(ctx, "bench", dim_ctx_use_fma(ctx) ? "-DDIM_FMA" : NULL, "bench_fma",
			    &fma);
	if (!st)
		st = dim_kernel_get(ctx, "bench", NULL, "bench_copy", &copy);
	if (st)
		goto out_free;
	out->compile_s = dim_now() - t0;

	/* FMA: enough work-items to fill every compute unit many times over. */
	size_t wg = dim_kernel_max_wg(fma) < 256 ? dim_kernel_max_wg(fma) : 256;
	size_t items = (size_t)(dev->compute_units ? dev->compute_units : 1) * wg *
		       ((dev->type & DIM_DEV_CPU) ? 16 : 64);
	int iters = (dev->type & DIM_DEV_CPU) ? 2048 : 8192;
	st = dim_buf_create(ctx, items * 4, &obuf);
	if (st)
		goto out_free;
	for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
		st = dim_finish(ctx);
		double s = dim_now();
		if (!st)
			st = DIM_LAUNCH(ctx, fma, 1, &items, &wg, DIM_INT(iters),
					DIM_FLOAT(0.999f), DIM_FLOAT(0.001f), DIM_BUF(obuf));
		if (!st)
			st = dim_finish(ctx);
		if (st)
			goto out_free;
		if (r >= 0)
			samples[r] = dim_now() - s;
	}
	out->fma_time = dim_timing_from(samples, reps);
	out->gflops = (double)items * iters * BENCH_LANES * 2.0 / out->fma_time.median_s * 1e-9;

	/* Copy: a buffer well beyond the last-level cache (256 MiB, or a quarter of
	 * the largest allocation when that is smaller). */
	size_t bytes = (size_t)256 << 20;
	if (dev->max_alloc && bytes > dev->max_alloc / 4)
		bytes = (size_t)(dev->max_alloc / 4);
	bytes &= ~(size_t)63;
	size_t n4 = bytes / 16;
	st = dim_buf_create(ctx, bytes, &x);
	if (!st)
		st = dim_buf_create(ctx, bytes, &y);
	if (!st)
		st = dim_fill_f32(ctx, x, 1.0f);
	if (st)
		goto out_free;
	size_t cwg = dim_kernel_max_wg(copy) < 256 ? dim_kernel_max_wg(copy) : 256;
	for (int r = -1; r < reps; r++) {
		st = dim_finish(ctx);
		double s = dim_now();
		if (!st)
			st = DIM_LAUNCH(ctx, copy, 1, &n4, &cwg, DIM_INT((int)n4), DIM_BUF(x),
					DIM_BUF(y));
		if (!st)
			st = dim_finish(ctx);
		if (st)
			goto out_free;
		if (r >= 0)
			samples[r] = dim_now() - s;
	}
	out->copy_time = dim_timing_from(samples, reps);
	out->gbps = 2.0 * (double)bytes / out->copy_time.median_s * 1e-9;

out_free:
	dim_buf_release(&obuf);
	dim_buf_release(&x);
	dim_buf_release(&y);
	free(samples);
	return st;
}

dim_status dim_bench_gemm(dim_ctx *ctx, dim_trans ta, dim_trans tb, int M, int N, int K,
			  int warmup, int reps, dim_timing *out)
{
	dim_buf a = {0}, b = {0}, c = {0};
	double *samples = calloc((size_t)(reps > 0 ? reps : 1), sizeof *samples);
	dim_status st = samples ? DIM_OK : DIM_ERR_NOMEM;
	if (!st)
		st = dim_buf_create(ctx, (size_t)M * K * 4, &a);
	if (!st)
		st = dim_buf_create(ctx, (size_t)K * N * 4, &b);
	if (!st)
		st = dim_buf_create(ctx, (size_t)M * N * 4, &c);
	if (!st)
		st = dim_fill_f32(ctx, a, 0.5f);
	if (!st)
		st = dim_fill_f32(ctx, b, 0.25f);
	size_t lda = ta ? (size_t)M : (size_t)K, ldb = tb ? (size_t)K : (size_t)N;
	for (int r = -warmup; !st && r < reps; r++) {
		st = dim_finish(ctx);
		double s = dim_now();
		if (!st)
			st = dim_gemm(ctx, ta, tb, (size_t)M, (size_t)N, (size_t)K, 1.0f, a, lda, b,
				      ldb, 0.0f, c, (size_t)N);
		if (!st)
			st = dim_finish(ctx);
		if (!st && r >= 0)
			samples[r] = dim_now() - s;
	}
	if (!st)
		*out = dim_timing_from(samples, reps);
	dim_buf_release(&a);
	dim_buf_release(&b);
	dim_buf_release(&c);
	free(samples);
	return st == DIM_ERR_NOMEM ? dim_fail(dim_ctx_error(ctx), st, "out of host memory") : st;
}
