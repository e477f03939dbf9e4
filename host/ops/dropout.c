/* Dropout with a counter-based mask (see op_dropout.h; kernel in
 * cl/dropout.cl). Forward and backward are the same kernel. */
#include "cldim/op_dropout.h"
#include "cldim/base.h"

/* Kernel parameters for d: keep when (u >> 32) >= *thresh, scale survivors. */
static void mask_params(const dim_dropout_desc *d, uint32_t *thresh, float *scale)
{
	if (!d->training || d->p <= 0.0f) {
		*thresh = 0;
		*scale = 1.0f;
	} else if (d->p >= 1.0f) {
		*thresh = 0; /* every element "kept" but scaled to zero */
		*scale = 0.0f;
	} else {
		double t = (double)d->p * 4294967296.0 + 0.5;
		*thresh = t >= 4294967295.0 ? 0xffffffffu : (uint32_t)t;
		*scale = (float)(1.0 / (1.0 - (double)d->p));
	}
}

bool dim_dropout_keep(const dim_dropout_desc *d, uint64_t index)
{
	uint32_t thresh;
	float scale;
	mask_params(d, &thresh, &scale);
	if (scale == 0.0f)
		return false;
	return (uint32_t)(dim_rng_u64(d->seed, d->step, index) >> 32) >= thresh;
}

static dim_status apply(dim_ctx *ctx, const char *who, const dim_dropout_desc *d,
			const dim_tensor *y, int accumulate, const dim_tensor *x)
{
	dim_error *err = dim_ctx_error(ctx);
	if (!d || !(d->p >= 0.0f && d->p <= 1.0f))
		return dim_fail(err, DIM_ERR_ARG, "%s: p must be in [0, 1]", who);
	if (!x || !y || dim_tensor_numel(x) != dim_tensor_numel(y))
		return dim_fail(err, DIM_ERR_ARG, "%s: x and y differ in size", who);
	size_t n = dim_tensor_numel(x);
	if (n > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: too large for 32-bit indexing", who);
	uint32_t thresh;
	float scale;
	mask_params(d, &thresh, &scale);
	dim_kernel *k;
	dim_status st = dim_kernel_get(ctx, "dropout", NULL, "dropout_apply", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(n), DIM_UINT(d->seed & 0xffffffffu),
			     DIM_UINT(d->seed >> 32), DIM_UINT(d->step & 0xffffffffu),
			     DIM_UINT(d->step >> 32), DIM_UINT(thresh), DIM_FLOAT(scale),
			     DIM_INT(accumulate != 0), DIM_TBUF(y), DIM_TBUF(x));
}

dim_status dim_dropout_forward(dim_ctx *ctx, const dim_dropout_desc *d, const dim_tensor *y,
			       const dim_tensor *x)
{
	return apply(ctx, "dropout forward", d, y, 0, x);
}

dim_status dim_dropout_backward(dim_ctx *ctx, const dim_dropout_desc *d, const dim_tensor *dx,
				int accumulate, const dim_tensor *dy)
{
	if (!dx)
		return DIM_OK;
	return apply(ctx, "dropout backward", d, dx, accumulate, dy);
}
