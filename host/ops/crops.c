/* Strided crops and fold (cl/crops.cl). */
#include "cldim/op_crops.h"

int dim_crops_grid(int size, int k, int stride)
{
	if (size < 1 || k < 1 || stride < 1 || k > size)
		return 0;
	return (size - k) / stride + 1;
}

static dim_status check_unfold(dim_ctx *ctx, const dim_unfold_desc *d, dim_buf img,
			       dim_buf crops, int *gh, int *gw)
{
	*gh = dim_crops_grid(d->H, d->k, d->stride);
	*gw = dim_crops_grid(d->W, d->k, d->stride);
	size_t n_img = (size_t)d->N * d->C * d->H * d->W;
	size_t n_crops = (size_t)d->N * (size_t)(*gh) * (*gw) * d->C * d->k * d->k;
	if (d->N < 1 || d->C < 1 || !*gh || !*gw)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"unfold_crops: %dx%d crops with stride %d do not fit a [%d, %d, %d, "
				"%d] input",
				d->k, d->k, d->stride, d->N, d->C, d->H, d->W);
	if (n_crops > (size_t)0x7fffffff || img.bytes < n_img * 4 || crops.bytes < n_crops * 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"unfold_crops: buffers of %zu and %zu bytes are too small for %zu "
				"pixels and %zu crop values",
				img.bytes, crops.bytes, n_img, n_crops);
	return DIM_OK;
}

dim_status dim_crops_unfold_forward(dim_ctx *ctx, const dim_unfold_desc *d, dim_buf y, dim_buf x)
{
	int gh, gw;
	dim_kernel *k;
	dim_status st = check_unfold(ctx, d, x, y, &gh, &gw);
	if (!st)
		st = dim_kernel_get(ctx, "crops", NULL, "crops_unfold_forward", &k);
	if (st)
		return st;
	size_t n = (size_t)d->N * gh * gw * d->C * d->k * d->k;
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(d->N), DIM_INT(d->C), DIM_INT(d->H), DIM_INT(d->W),
			     DIM_INT(d->k), DIM_INT(d->stride), DIM_INT(gh), DIM_INT(gw),
			     DIM_BUF(x), DIM_BUF(y));
}

dim_status dim_crops_unfold_backward(dim_ctx *ctx, const dim_unfold_desc *d, dim_buf dx,
				     int accumulate, dim_buf dy)
{
	int gh, gw;
	dim_kernel *k;
	dim_status st = check_unfold(ctx, d, dx, dy, &gh, &gw);
	if (!st)
		st = dim_kernel_get(ctx, "crops", NULL, "crops_unfold_backward", &k);
	if (st)
		return st;
	size_t n = (size_t)d->N * d->C * d->H * d->W;
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(d->N), DIM_INT(d->C), DIM_INT(d->H), DIM_INT(d->W),
			     DIM_INT(d->k), DIM_INT(d->stride), DIM_INT(gh), DIM_INT(gw),
			     DIM_BUF(dy), DIM_BUF(dx), DIM_INT(accumulate));
}

static dim_status check_fold(dim_ctx *ctx, const dim_fold_desc *d, dim_buf a, dim_buf b,
			     size_t *n)
{
	*n = (size_t)d->N * d->gh * d->gw * d->C * d->h * d->w;
	if (d->N < 1 || d->gh < 1 || d->gw < 1 || d->C < 1 || d->h < 1 || d->w < 1 ||
	    *n > (size_t)0x7fffffff)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"fold_crops: bad shape N=%d grid %dx%d crop map [%d, %d, %d]", d->N,
				d->gh, d->gw, d->C, d->h, d->w);
	if (a.bytes < *n * 4 || b.bytes < *n * 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"fold_crops: buffers of %zu and %zu bytes are too small for %zu "
				"values",
				a.bytes, b.bytes, *n);
	return DIM_OK;
}

dim_status dim_crops_fold_forward(dim_ctx *ctx, const dim_fold_desc *d, dim_buf y, dim_buf x)
{
	size_t n;
	dim_kernel *k;
	dim_status st = check_fold(ctx, d, y, x, &n);
	if (!st)
		st = dim_kernel_get(ctx, "crops", NULL, "crops_fold_forward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(d->N), DIM_INT(d->C), DIM_INT(d->h * d->w),
			     DIM_INT(d->gh * d->gw), DIM_BUF(x), DIM_BUF(y));
}

dim_status dim_crops_fold_backward(dim_ctx *ctx, const dim_fold_desc *d, dim_buf dx,
				   int accumulate, dim_buf dy)
{
	size_t n;
	dim_kernel *k;
	dim_status st = check_fold(ctx, d, dx, dy, &n);
	if (!st)
		st = dim_kernel_get(ctx, "crops", NULL, "crops_fold_backward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(d->N), DIM_INT(d->C), DIM_INT(d->h * d->w),
			     DIM_INT(d->gh * d->gw), DIM_BUF(dy), DIM_BUF(dx), DIM_INT(accumulate));
}
