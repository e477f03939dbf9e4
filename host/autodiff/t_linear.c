/* Tape wrapper for the dense layer (see op_linear.h). */
#include "cldim/tape_ops.h"

struct linear_saved {
	dim_var *y, *x, *w, *b;
};

static dim_status linear_backward(dim_tape *t, void *saved)
{
	struct linear_saved *s = saved;
	dim_status st = DIM_OK;
	int acc_x = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc_x);
	dim_tensor *dw = dim_tape_grad_accum(t, s->w, &st);
	dim_tensor *db = dim_tape_grad_accum(t, s->b, &st);
	if (st)
		return st;
	return dim_linear_backward(dim_tape_ctx(t), dx, acc_x, dw, db, &s->y->grad, &s->x->val,
				   &s->w->val);
}

dim_status dim_t_linear(dim_tape *t, dim_var *x, dim_var *w, dim_var *b, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || !w || x->val.ndim < 1 || w->val.ndim != 2)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"dim_t_linear: need x [..., in], w [out, in]");
	int shape[DIM_MAX_DIMS];
	for (int i = 0; i < x->val.ndim; i++)
		shape[i] = x->val.shape[i];
	shape[x->val.ndim - 1] = w->val.shape[0];
	bool ng = x->needs_grad || w->needs_grad || (b && b->needs_grad);
	dim_var *y;
	dim_status st = dim_tape_new(t, x->val.ndim, shape, ng, &y);
	if (!st)
		st = dim_linear_forward(ctx, &y->val, &x->val, &w->val, b ? &b->val : NULL);
	struct linear_saved *s = st ? NULL : dim_tape_record(t, y, linear_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct linear_saved){y, x, w, b};
	*out = y;
	return DIM_OK;
}

struct linear_sum_saved {
	dim_var *y, *x1, *w1, *b1, *x2, *w2;
};

static dim_status linear_sum_backward(dim_tape *t, void *saved)
{
	struct linear_sum_saved *s = saved;
	dim_ctx *ctx = dim_tape_ctx(t);
	dim_status st = DIM_OK;
	int acc = 0;
	/* one input at a time: if x1 and x2 are the same var, the second asks
	 * dim_tape_grad after the first wrote, and accumulates */
	dim_tensor *dx = dim_tape_grad(t, s->x1, &acc);
	dim_tensor *dw = dim_tape_grad_accum(t, s->w1, &st);
	dim_tensor *db = dim_tape_grad_accum(t, s->b1, &st);
	if (!st)
		st = dim_linear_backward(ctx, dx, acc, dw, db, &s->y->grad, &s->x1->val,
					 &s->w1->val);
	if (st)
		return st;
	acc = 0;
	dx = dim_tape_grad(t, s->x2, &acc);
	dw = dim_tape_grad_accum(t, s->w2, &st);
	if (st)
		return st;
	return dim_linear_backward(ctx, dx, acc, dw, NULL, &s->y->grad, &s->x2->val, &s->w2->val);
}

dim_status dim_t_linear_sum(dim_tape *t, dim_var *x1, dim_var *w1, dim_var *b1, dim_var *x2,
			    dim_var *w2, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x1 || !w1 || !x2 || !w2 || x1->val.ndim < 1 || w1->val.ndim != 2 ||
	    w2->val.ndim != 2 || w1->val.shape[0] != w2->val.shape[0])
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"dim_t_linear_sum: need x1 [..., in1], w1 [out, in1], x2 [..., in2], "
				"w2 [out, in2]");
	int shape[DIM_MAX_DIMS];
	for (int i = 0; i < x1->val.ndim; i++)
		shape[i] = x1->val.shape[i];
	shape[x1->val.ndim - 1] = w1->val.shape[0];
	bool ng = x1->needs_grad || w1->needs_grad || (b1 && b1->needs_grad) || x2->needs_grad ||
		  w2->needs_grad;
	dim_var *y;
	dim_status st;
	if ((st = dim_tape_new(t, x1->val.ndim, shape, ng, &y)) ||
	    (st = dim_linear_forward(ctx, &y->val, &x2->val, &w2->val, NULL)) ||
	    (st = dim_linear_forward_add(ctx, &y->val, &x1->val, &w1->val, b1 ? &b1->val : NULL)))
		return st;
	struct linear_sum_saved *s = dim_tape_record(t, y, linear_sum_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct linear_sum_saved){y, x1, w1, b1, x2, w2};
	*out = y;
	return DIM_OK;
}
