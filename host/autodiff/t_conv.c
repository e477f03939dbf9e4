/* Tape wrapper for 2-D convolution (see op_conv.h). */
#include "cldim/tape_ops.h"

struct conv_saved {
	dim_conv2d_desc desc;
	dim_var *y, *x, *w, *b;
};

static dim_status conv_backward(dim_tape *t, void *saved)
{
	struct conv_saved *s = saved;
	dim_status st = DIM_OK;
	int acc_x = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc_x);
	dim_tensor *dw = dim_tape_grad_accum(t, s->w, &st);
	dim_tensor *db = dim_tape_grad_accum(t, s->b, &st);
	if (st)
		return st;
	dim_arena *a = dim_tape_arena(t);
	dim_arena_mark m = dim_arena_get_mark(a);
	st = dim_conv2d_backward(dim_tape_ctx(t), &s->desc, a, dx, acc_x, dw, db, &s->y->grad,
				 &s->x->val, &s->w->val);
	dim_arena_reset(a, m);
	return st;
}

dim_status dim_t_conv2d(dim_tape *t, const dim_conv2d_desc *d, dim_var *x, dim_var *w,
			dim_var *b, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || !w || !d || x->val.ndim != 4 || w->val.ndim != 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "dim_t_conv2d: x and w must be 4-D");
	int oh = dim_conv2d_out_size(x->val.shape[2], w->val.shape[2], d->stride_h, d->pad_h);
	int ow = dim_conv2d_out_size(x->val.shape[3], w->val.shape[3], d->stride_w, d->pad_w);
	if (oh < 1 || ow < 1)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"dim_t_conv2d: kernel does not fit input");
	const int shape[4] = {x->val.shape[0], w->val.shape[0], oh, ow};
	bool ng = x->needs_grad || w->needs_grad || (b && b->needs_grad);
	dim_var *y;
	dim_status st = dim_tape_new(t, 4, shape, ng, &y);
	if (st)
		return st;
	dim_arena *a = dim_tape_arena(t);
	dim_arena_mark m = dim_arena_get_mark(a);
	st = dim_conv2d_forward(ctx, d, a, &y->val, &x->val, &w->val, b ? &b->val : NULL);
	dim_arena_reset(a, m);
	struct conv_saved *s = st ? NULL : dim_tape_record(t, y, conv_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct conv_saved){*d, y, x, w, b};
	*out = y;
	return DIM_OK;
}
