/* Tape wrapper for cross-entropy (see op_loss.h). The log-softmax is kept
 * in the tape's arena for backward; per-row scratch is released at once. */
#include "cldim/tape_ops.h"

struct xent_saved {
	dim_var *loss, *logits, *logp;
	dim_buf labels;
};

static dim_status xent_backward(dim_tape *t, void *saved)
{
	struct xent_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->logits, &acc);
	if (!dx)
		return DIM_OK;
	dim_arena *a = dim_tape_arena(t);
	dim_arena_mark m = dim_arena_get_mark(a);
	dim_status st = dim_cross_entropy_backward(dim_tape_ctx(t), a, dx, acc, &s->loss->grad,
						   &s->logp->val, s->labels);
	dim_arena_reset(a, m);
	return st;
}

dim_status dim_t_cross_entropy(dim_tape *t, dim_var *logits, dim_buf labels, dim_var **out)
{
	*out = NULL;
	if (!logits || logits->val.ndim != 2)
		return dim_fail(dim_ctx_error(dim_tape_ctx(t)), DIM_ERR_ARG,
				"dim_t_cross_entropy: logits must be [N, K]");
	dim_var *logp, *loss;
	dim_status st;
	if ((st = dim_tape_new(t, 2, logits->val.shape, false, &logp)) ||
	    (st = dim_tape_new(t, 1, (const int[]){1}, logits->needs_grad, &loss)))
		return st;
	dim_arena *a = dim_tape_arena(t);
	dim_arena_mark m = dim_arena_get_mark(a);
	st = dim_cross_entropy_forward(dim_tape_ctx(t), a, &loss->val, &logp->val, &logits->val,
				       labels);
	dim_arena_reset(a, m);
	struct xent_saved *s = st ? NULL : dim_tape_record(t, loss, xent_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct xent_saved){loss, logits, logp, labels};
	*out = loss;
	return DIM_OK;
}
