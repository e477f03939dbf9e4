/* Max, average and global average pooling (see op_pool.h; kernels in
 * cl/pool.cl). Global average pooling is the per-row mean of op_tensor.h
 * over [N*C, H*W]. */
#include <string.h>

#include "cldim/op_pool.h"
#include "cldim/op_tensor.h"

#define PROG "pool"

int dim_pool2d_out_size(int in, int kernel, int stride, int pad, bool ceil_mode)
{
	if (stride < 1 || kernel < 1 || pad < 0 || pad > kernel / 2)
		return 0;
	int span = in + 2 * pad - kernel;
	if (span < 0)
		return 0;
	int out = (span + (ceil_mode ? stride - 1 : 0)) / stride + 1;
	if (ceil_mode && (out - 1) * stride >= in + pad)
		out--;
	return out;
}

struct pool_shape {
	int NC, H, W, OH, OW;
};

/* Checks x (input-side) and y (output-side) shapes against d. */
static dim_status check(dim_ctx *ctx, const char *who, const dim_pool2d_desc *d,
			const dim_tensor *y, const dim_tensor *x, struct pool_shape *s)
{
	dim_error *err = dim_ctx_error(ctx);
	char a[64], b[64];
	if (!d || d->kernel_h < 1 || d->kernel_w < 1 || d->stride_h < 1 || d->stride_w < 1 ||
	    d->pad_h < 0 || d->pad_w < 0 || d->pad_h > d->kernel_h / 2 || d->pad_w > d->kernel_w / 2)
		return dim_fail(err, DIM_ERR_ARG,
				"%s: need kernel, stride >= 1 and 0 <= padding <= kernel/2", who);
	if (!x || !y || x->ndim != 4 || y->ndim != 4)
		return dim_fail(err, DIM_ERR_ARG, "%s: x and y must be 4-D", who);
	s->H = x->shape[2];
	s->W = x->shape[3];
	s->OH = dim_pool2d_out_size(s->H, d->kernel_h, d->stride_h, d->pad_h, d->ceil_mode);
	s->OW = dim_pool2d_out_size(s->W, d->kernel_w, d->stride_w, d->pad_w, d->ceil_mode);
	if (s->OH < 1 || s->OW < 1)
		return dim_fail(err, DIM_ERR_ARG, "%s: window %dx%d does not fit input %s", who,
				d->kernel_h, d->kernel_w, dim_shape_str(4, x->shape, a, sizeof a));
	const int want[4] = {x->shape[0], x->shape[1], s->OH, s->OW};
	if (memcmp(y->shape, want, sizeof want))
		return dim_fail(err, DIM_ERR_ARG, "%s: output is %s, expected %s", who,
				dim_shape_str(4, y->shape, a, sizeof a),
				dim_shape_str(4, want, b, sizeof b));
	if (dim_tensor_numel(x) > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: too large for 32-bit indexing", who);
	s->NC = x->shape[0] * x->shape[1];
	return DIM_OK;
}

static dim_status check_argmax(dim_ctx *ctx, const char *who, dim_buf argmax, const dim_tensor *y)
{
	if (!argmax.mem || argmax.bytes < dim_tensor_numel(y) * sizeof(int))
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"%s: argmax needs %zu bytes", who, dim_tensor_numel(y) * sizeof(int));
	return DIM_OK;
}

#define GEOM(s, d)                                                                          \
	DIM_INT((s).NC), DIM_INT((s).H), DIM_INT((s).W), DIM_INT((s).OH), DIM_INT((s).OW),   \
		DIM_INT((d)->kernel_h), DIM_INT((d)->kernel_w), DIM_INT((d)->stride_h),      \
		DIM_INT((d)->stride_w), DIM_INT((d)->pad_h), DIM_INT((d)->pad_w)

dim_status dim_maxpool2d_forward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *y,
				 dim_buf argmax, const dim_tensor *x)
{
	struct pool_shape s;
	dim_status st = check(ctx, "maxpool2d forward", d, y, x, &s);
	if (!st)
		st = check_argmax(ctx, "maxpool2d forward", argmax, y);
	dim_kernel *k;
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "pool_max_forward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, dim_tensor_numel(y), GEOM(s, d), DIM_TBUF(y), DIM_BUF(argmax),
			     DIM_TBUF(x));
}

dim_status dim_maxpool2d_backward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *dx,
				  int accumulate, const dim_tensor *dy, dim_buf argmax)
{
	if (!dx)
		return DIM_OK;
	struct pool_shape s;
	dim_status st = check(ctx, "maxpool2d backward", d, dy, dx, &s);
	if (!st)
		st = check_argmax(ctx, "maxpool2d backward", argmax, dy);
	dim_kernel *k;
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "pool_max_backward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, dim_tensor_numel(dx), GEOM(s, d), DIM_INT(accumulate != 0),
			     DIM_TBUF(dx), DIM_TBUF(dy), DIM_BUF(argmax));
}

dim_status dim_avgpool2d_forward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *y,
				 const dim_tensor *x)
{
	struct pool_shape s;
	dim_status st = check(ctx, "avgpool2d forward", d, y, x, &s);
	dim_kernel *k;
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "pool_avg_forward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, dim_tensor_numel(y), GEOM(s, d), DIM_INT(!d->exclude_pad),
			     DIM_TBUF(y), DIM_TBUF(x));
}

dim_status dim_avgpool2d_backward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *dx,
				  int accumulate, const dim_tensor *dy)
{
	if (!dx)
		return DIM_OK;
	struct pool_shape s;
	dim_status st = check(ctx, "avgpool2d backward", d, dy, dx, &s);
	dim_kernel *k;
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "pool_avg_backward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, dim_tensor_numel(dx), GEOM(s, d), DIM_INT(!d->exclude_pad),
			     DIM_INT(accumulate != 0), DIM_TBUF(dx), DIM_TBUF(dy));
}

static dim_status check_global(dim_ctx *ctx, const char *who, const dim_tensor *y,
			       const dim_tensor *x)
{
	if (!x || !y || x->ndim != 4 || y->ndim != 2 || y->shape[0] != x->shape[0] ||
	    y->shape[1] != x->shape[1] || x->shape[2] < 1 || x->shape[3] < 1)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"%s: need x [N, C, H, W] and y [N, C]", who);
	return DIM_OK;
}

dim_status dim_global_avgpool_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x)
{
	dim_status st = check_global(ctx, "global avgpool forward", y, x);
	return st ? st : dim_sum_rows_forward(ctx, y, x, true);
}

dim_status dim_global_avgpool_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
				       const dim_tensor *dy)
{
	if (!dx)
		return DIM_OK;
	dim_status st = check_global(ctx, "global avgpool backward", dy, dx);
	return st ? st : dim_sum_rows_backward(ctx, dx, accumulate, dy, true);
}
