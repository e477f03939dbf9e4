/* Tape wrapper for dropout (see op_dropout.h). The mask is regenerated in
 * backward from (seed, step), so only the descriptor is saved. */
#include "cldim/tape_ops.h"

struct dropout_saved {
	dim_dropout_desc desc;
	dim_var *y, *x;
};

static dim_status dropout_backward(dim_tape *t, void *saved)
{
	struct dropout_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	return dim_dropout_backward(dim_tape_ctx(t), &s->desc, dx, acc, &s->y->grad);
}

dim_status dim_t_dropout(dim_tape *t, const dim_dropout_desc *d, dim_var *x, dim_var **out)
{
	*out = NULL;
	if (!x || !d)
		return dim_fail(dim_ctx_error(dim_tape_ctx(t)), DIM_ERR_ARG,
				"dim_t_dropout: no input");
	dim_dropout_desc dd = *d;
	dd.training = dim_tape_training(t);
	dim_var *y;
	dim_status st = dim_tape_new(t, x->val.ndim, x->val.shape, x->needs_grad, &y);
	if (!st)
		st = dim_dropout_forward(dim_tape_ctx(t), &dd, &y->val, &x->val);
	struct dropout_saved *s = st ? NULL :
		dim_tape_record(t, y, dropout_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct dropout_saved){dd, y, x};
	*out = y;
	return DIM_OK;
}
