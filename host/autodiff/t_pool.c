/* Tape wrappers for pooling (see op_pool.h). */
#include "cldim/tape_ops.h"

struct pool_saved {
	dim_pool2d_desc desc;
	dim_var *y, *x;
	dim_buf argmax;
};

static dim_status pool_out(dim_tape *t, const char *who, const dim_pool2d_desc *d, dim_var *x,
			   dim_var **y)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*y = NULL;
	if (!x || !d || x->val.ndim != 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: x must be 4-D", who);
	int oh = dim_pool2d_out_size(x->val.shape[2], d->kernel_h, d->stride_h, d->pad_h,
				     d->ceil_mode);
	int ow = dim_pool2d_out_size(x->val.shape[3], d->kernel_w, d->stride_w, d->pad_w,
				     d->ceil_mode);
	if (oh < 1 || ow < 1)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: window does not fit the input",
				who);
	const int shape[4] = {x->val.shape[0], x->val.shape[1], oh, ow};
	return dim_tape_new(t, 4, shape, x->needs_grad, y);
}

static dim_status maxpool_backward(dim_tape *t, void *saved)
{
	struct pool_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	return dim_maxpool2d_backward(dim_tape_ctx(t), &s->desc, dx, acc, &s->y->grad, s->argmax);
}

dim_status dim_t_maxpool2d(dim_tape *t, const dim_pool2d_desc *d, dim_var *x, dim_var **out)
{
	dim_var *y;
	dim_buf argmax;
	dim_status st;
	*out = NULL;
	if ((st = pool_out(t, "dim_t_maxpool2d", d, x, &y)) ||
	    (st = dim_arena_alloc(dim_tape_arena(t), dim_tensor_numel(&y->val) * sizeof(int),
				  &argmax)) ||
	    (st = dim_maxpool2d_forward(dim_tape_ctx(t), d, &y->val, argmax, &x->val)))
		return st;
	struct pool_saved *s = dim_tape_record(t, y, maxpool_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct pool_saved){*d, y, x, argmax};
	*out = y;
	return DIM_OK;
}

static dim_status avgpool_backward(dim_tape *t, void *saved)
{
	struct pool_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	return dim_avgpool2d_backward(dim_tape_ctx(t), &s->desc, dx, acc, &s->y->grad);
}

dim_status dim_t_avgpool2d(dim_tape *t, const dim_pool2d_desc *d, dim_var *x, dim_var **out)
{
	dim_var *y;
	dim_status st;
	*out = NULL;
	if ((st = pool_out(t, "dim_t_avgpool2d", d, x, &y)) ||
	    (st = dim_avgpool2d_forward(dim_tape_ctx(t), d, &y->val, &x->val)))
		return st;
	struct pool_saved *s = dim_tape_record(t, y, avgpool_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct pool_saved){*d, y, x, {0}};
	*out = y;
	return DIM_OK;
}

static dim_status gap_backward(dim_tape *t, void *saved)
{
	struct pool_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	return dim_global_avgpool_backward(dim_tape_ctx(t), dx, acc, &s->y->grad);
}

dim_status dim_t_global_avgpool(dim_tape *t, dim_var *x, dim_var **out)
{
	*out = NULL;
	if (!x || x->val.ndim != 4)
		return dim_fail(dim_ctx_error(dim_tape_ctx(t)), DIM_ERR_ARG,
				"dim_t_global_avgpool: x must be 4-D");
	dim_var *y;
	dim_status st;
	if ((st = dim_tape_new(t, 2, x->val.shape, x->needs_grad, &y)) ||
	    (st = dim_global_avgpool_forward(dim_tape_ctx(t), &y->val, &x->val)))
		return st;
	struct pool_saved *s = dim_tape_record(t, y, gap_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct pool_saved){.y = y, .x = x};
	*out = y;
	return DIM_OK;
}
