/* Tape wrapper for the dense layer (see op_linear.h). */
#include "cldim/op_linear.h"

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

dim_var *dim_t_linear(dim_tape *t, dim_var *x, dim_var *w, dim_var *b)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	if (!x || !w || x->val.ndim < 1 || w->val.ndim != 2) {
		dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "dim_t_linear: need x [..., in], w [out, in]");
		return NULL;
	}
	int shape[DIM_MAX_DIMS];
	for (int i = 0; i < x->val.ndim; i++)
		shape[i] = x->val.shape[i];
	shape[x->val.ndim - 1] = w->val.shape[0];
	bool ng = x->needs_grad || w->needs_grad || (b && b->needs_grad);
	dim_var *y = dim_tape_new(t, x->val.ndim, shape, ng);
	if (!y || dim_linear_forward(ctx, &y->val, &x->val, &w->val, b ? &b->val : NULL))
		return NULL;
	struct linear_saved *s = dim_tape_record(t, y, linear_backward, sizeof *s);
	if (s)
		*s = (struct linear_saved){y, x, w, b};
	return y;
}
