/* Tape wrapper for layer normalisation over channels (see op_layernorm.h). */
#include "cldim/tape_ops.h"

struct ln_saved {
	dim_var *y, *x, *w, *b;
	dim_tensor mean, rstd;
};

static dim_status ln_backward(dim_tape *t, void *saved)
{
	struct ln_saved *s = saved;
	dim_status st = DIM_OK;
	int acc_x = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc_x);
	dim_tensor *dw = dim_tape_grad_accum(t, s->w, &st);
	dim_tensor *db = dim_tape_grad_accum(t, s->b, &st);
	if (st)
		return st;
	return dim_layernorm_backward(dim_tape_ctx(t), dx, acc_x, dw, db, &s->y->grad, &s->x->val,
				      s->w ? &s->w->val : NULL, &s->mean, &s->rstd);
}

dim_status dim_t_layernorm(dim_tape *t, dim_var *x, dim_var *w, dim_var *b, float eps,
			   dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || x->val.ndim < 2)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"dim_t_layernorm: x must be [N, C, ...]");
	bool ng = x->needs_grad || (w && w->needs_grad) || (b && b->needs_grad);
	const int loc = (int)(dim_tensor_numel(&x->val) / (size_t)x->val.shape[1]);
	dim_var *y;
	dim_tensor mean, rstd;
	dim_arena *a = dim_tape_arena(t);
	dim_status st;
	if ((st = dim_tape_new(t, x->val.ndim, x->val.shape, ng, &y)) ||
	    (st = dim_tensor_alloc(a, 1, &loc, &mean)) ||
	    (st = dim_tensor_alloc(a, 1, &loc, &rstd)) ||
	    (st = dim_layernorm_forward(ctx, eps, &y->val, &mean, &rstd, &x->val,
					w ? &w->val : NULL, b ? &b->val : NULL)))
		return st;
	struct ln_saved *s = dim_tape_record(t, y, ln_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct ln_saved){y, x, w, b, mean, rstd};
	*out = y;
	return DIM_OK;
}
