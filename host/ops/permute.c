/* Permute between NCHW maps and per-location rows (cl/permute.cl). */
#include "cldim/op_permute.h"

static dim_status launch(dim_ctx *ctx, const char *name, int N, int C, int L, dim_buf dst,
			 dim_buf src, int accumulate)
{
	size_t n = (size_t)N * C * L;
	if (N <= 0 || C <= 0 || L <= 0 || src.bytes < n * 4 || dst.bytes < n * 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"%s: bad shape N=%d C=%d L=%d for buffers of %zu and %zu bytes",
				name, N, C, L, src.bytes, dst.bytes);
	dim_kernel *k;
	dim_status st = dim_kernel_get(ctx, "permute", NULL, name, &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(N), DIM_INT(C), DIM_INT(L), DIM_BUF(src),
			     DIM_BUF(dst), DIM_INT(accumulate));
}

dim_status dim_permute_to_rows(dim_ctx *ctx, int N, int C, int L, dim_buf y, dim_buf x,
			       int accumulate)
{
	return launch(ctx, "permute_to_rows", N, C, L, y, x, accumulate);
}

dim_status dim_permute_from_rows(dim_ctx *ctx, int N, int C, int L, dim_buf x, dim_buf y,
				 int accumulate)
{
	return launch(ctx, "permute_from_rows", N, C, L, x, y, accumulate);
}

static dim_status check_slice(dim_ctx *ctx, int R, int X, int W, int c0, dim_buf y, dim_buf x)
{
	if (R <= 0 || W <= 0 || c0 < 0 || c0 + W > X || x.bytes < (size_t)R * X * 4 ||
	    y.bytes < (size_t)R * W * 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"slice_cols: columns [%d, %d) of a [%d, %d] matrix do not fit", c0,
				c0 + W, R, X);
	return DIM_OK;
}

dim_status dim_slice_cols(dim_ctx *ctx, int R, int X, int W, int c0, dim_buf y, dim_buf x)
{
	dim_kernel *k;
	dim_status st = check_slice(ctx, R, X, W, c0, y, x);
	if (!st)
		st = dim_kernel_get(ctx, "permute", NULL, "permute_slice_cols", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)R * W, DIM_INT(R), DIM_INT(X), DIM_INT(W), DIM_INT(c0),
			     DIM_BUF(x), DIM_BUF(y));
}

dim_status dim_unslice_cols(dim_ctx *ctx, int R, int X, int W, int c0, dim_buf x, dim_buf y,
			    int accumulate)
{
	dim_kernel *k;
	dim_status st = check_slice(ctx, R, X, W, c0, y, x);
	if (!st)
		st = dim_kernel_get(ctx, "permute", NULL, "permute_unslice_cols", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)R * W, DIM_INT(R), DIM_INT(X), DIM_INT(W), DIM_INT(c0),
			     DIM_BUF(y), DIM_BUF(x), DIM_INT(accumulate));
}

static dim_status check_rows(dim_ctx *ctx, int R, int H, dim_buf idx, dim_buf a, dim_buf b)
{
	size_t n = (size_t)R * H * 4;
	if (R <= 0 || H <= 0 || idx.bytes < (size_t)R * 4 || a.bytes < n || b.bytes < n)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"gather_rows: %d rows of %d do not fit the buffers", R, H);
	return DIM_OK;
}

dim_status dim_gather_rows(dim_ctx *ctx, int R, int H, dim_buf idx, dim_buf y, dim_buf x)
{
	dim_kernel *k;
	dim_status st = check_rows(ctx, R, H, idx, y, x);
	if (!st)
		st = dim_kernel_get(ctx, "permute", NULL, "permute_gather_rows", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)R * H, DIM_INT(R), DIM_INT(H), DIM_BUF(idx), DIM_BUF(x),
			     DIM_BUF(y));
}

dim_status dim_scatter_rows(dim_ctx *ctx, int R, int H, dim_buf idx, dim_buf dx, dim_buf dy,
			    int accumulate)
{
	dim_kernel *k;
	dim_status st = check_rows(ctx, R, H, idx, dx, dy);
	if (!st)
		st = dim_kernel_get(ctx, "permute", NULL, "permute_scatter_rows", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)R * H, DIM_INT(R), DIM_INT(H), DIM_BUF(idx), DIM_BUF(dy),
			     DIM_BUF(dx), DIM_INT(accumulate));
}
