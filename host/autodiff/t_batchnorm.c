/* Tape wrapper for batch normalisation (see op_batchnorm.h). */
#include "cldim/tape_ops.h"

struct bn_saved {
	dim_batchnorm_desc desc;
	dim_var *y, *x, *w, *b;
	dim_tensor mean, rstd;
};

static dim_status bn_backward(dim_tape *t, void *saved)
{
	struct bn_saved *s = saved;
	dim_status st = DIM_OK;
	int acc_x = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc_x);
	dim_tensor *dw = dim_tape_grad_accum(t, s->w, &st);
	dim_tensor *db = dim_tape_grad_accum(t, s->b, &st);
	if (st)
		return st;
	dim_arena *a = dim_tape_arena(t);
	dim_arena_mark m = dim_arena_get_mark(a);
	st = dim_batchnorm_backward(dim_tape_ctx(t), &s->desc, a, dx, acc_x, dw, db, &s->y->grad,
				    &s->x->val, s->w ? &s->w->val : NULL, &s->mean, &s->rstd);
	dim_arena_reset(a, m);
	return st;
}

dim_status dim_t_batchnorm(dim_tape *t, const dim_batchnorm_desc *d, dim_var *x, dim_var *w,
			   dim_var *b, dim_param *running_mean, dim_param *running_var,
			   dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || !d || x->val.ndim < 2)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"dim_t_batchnorm: x must be [N, C, ...]");
	dim_batchnorm_desc desc = *d;
	desc.training = dim_tape_training(t);
	bool ng = x->needs_grad || (w && w->needs_grad) || (b && b->needs_grad);
	dim_var *y;
	dim_tensor mean, rstd;
	const int c = x->val.shape[1];
	dim_arena *a = dim_tape_arena(t);
	dim_status st;
	if ((st = dim_tape_new(t, x->val.ndim, x->val.shape, ng, &y)) ||
	    (st = dim_tensor_alloc(a, 1, &c, &mean)) || (st = dim_tensor_alloc(a, 1, &c, &rstd)) ||
	    (st = dim_batchnorm_forward(ctx, &desc, &y->val, &mean, &rstd,
					running_mean ? &running_mean->value : NULL,
					running_var ? &running_var->value : NULL, &x->val,
					w ? &w->val : NULL, b ? &b->val : NULL)))
		return st;
	struct bn_saved *s = dim_tape_record(t, y, bn_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct bn_saved){desc, y, x, w, b, mean, rstd};
	*out = y;
	return DIM_OK;
}
