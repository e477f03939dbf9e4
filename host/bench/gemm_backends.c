/* Which GEMM backend is faster on this device: both timed on the same
 * shapes (dim_bench_gemm), the one with the least total time recorded in the
 * device store, where dim_gemm reads it under DIM_GEMM_AUTO. The runtime only
 * reads and applies the choice; measuring it is the bench layer's. */
#include <string.h>

#include "cldim/bench.h"

dim_status dim_bench_gemm_backends(dim_ctx *ctx, const dim_gemm_shape *shapes, int n, int reps,
				   bool record, FILE *progress, dim_gemm_backends_result *r)
{
	static const char *const names[2] = {"own", "clblast"};
	dim_status st;
	memset(r, 0, sizeof *r);
	if (n < 1 || n > DIM_TUNE_MAX_SHAPES)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "GEMM backends: %d shapes (1..%d)",
				n, DIM_TUNE_MAX_SHAPES);
	for (int bk = 0; bk < 2; bk++) {
		st = dim_gemm_set_backend(ctx, names[bk]);
		if (st)
			return st;
		if (progress)
			fprintf(progress, "bench: GEMMs on the DIM shapes, %s...\n", names[bk]);
		for (int i = 0; i < n; i++) {
			const dim_gemm_shape *g = &shapes[i];
			st = dim_bench_gemm(ctx, g->ta ? DIM_TRANS : DIM_NO_TRANS,
					    g->tb ? DIM_TRANS : DIM_NO_TRANS, g->M, g->N, g->K, 1, reps,
					    &r->t[bk][i]);
			if (st)
				return st;
			r->total_s[bk] += r->t[bk][i].median_s;
		}
	}
	r->best = r->total_s[0] <= r->total_s[1] ? DIM_GEMM_OWN : DIM_GEMM_CLBLAST;
	r->best_name = r->best == DIM_GEMM_OWN ? names[0] : names[1];
	return record ? dim_gemm_record_backend(ctx, r->best_name) : DIM_OK;
}
