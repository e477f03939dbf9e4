/* All-pairs row sums (cl/pairwise.cl). */
#include "cldim/op_pairwise.h"

static dim_status check(dim_ctx *ctx, int N, int H, size_t out_bytes)
{
	if (N <= 0 || H <= 0 || out_bytes < (size_t)N * N * H * 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"pairwise: bad shape N=%d H=%d for a %zu-byte output", N, H,
				out_bytes);
	return DIM_OK;
}

dim_status dim_pairwise_forward(dim_ctx *ctx, int N, int H, dim_buf out, dim_buf a, dim_buf b,
				const dim_buf *bias)
{
	dim_kernel *k;
	dim_status st = check(ctx, N, H, out.bytes);
	if (!st)
		st = dim_kernel_get(ctx, "pairwise", NULL, "pairwise_forward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)N * N * H, DIM_INT(N), DIM_INT(H), DIM_BUF(a),
			     DIM_BUF(b), DIM_BUF(bias ? *bias : a), DIM_INT(bias != NULL),
			     DIM_BUF(out));
}

dim_status dim_pairwise_backward(dim_ctx *ctx, int N, int H, const dim_buf *da, int acc_a,
				 const dim_buf *db, int acc_b, const dim_buf *dbias, dim_buf dout)
{
	dim_kernel *rows, *bk;
	dim_status st = check(ctx, N, H, dout.bytes);
	if (!st)
		st = dim_kernel_get(ctx, "pairwise", NULL, "pairwise_backward_rows", &rows);
	if (!st)
		st = dim_kernel_get(ctx, "pairwise", NULL, "pairwise_backward_bias", &bk);
	if (!st && da)
		st = DIM_LAUNCH_1D(ctx, rows, (size_t)N * H, DIM_INT(N), DIM_INT(H), DIM_INT(0),
				   DIM_BUF(dout), DIM_BUF(*da), DIM_INT(acc_a));
	if (!st && db)
		st = DIM_LAUNCH_1D(ctx, rows, (size_t)N * H, DIM_INT(N), DIM_INT(H), DIM_INT(1),
				   DIM_BUF(dout), DIM_BUF(*db), DIM_INT(acc_b));
	if (!st && dbias)
		st = DIM_LAUNCH_1D(ctx, bk, (size_t)H, DIM_INT(N), DIM_INT(H), DIM_BUF(dout),
				   DIM_BUF(*dbias));
	return st;
}
