/* Tape wrapper for the MI estimators (see op_mi.h). */
#include "cldim/tape_ops.h"

struct mi_node {
	dim_mi_saved saved;
	dim_var *loss, *scores;
};

static dim_status mi_node_backward(dim_tape *t, void *data)
{
	struct mi_node *s = data;
	int acc = 0;
	dim_tensor *dS = dim_tape_grad(t, s->scores, &acc);
	if (!dS)
		return DIM_OK;
	return dim_mi_backward(dim_tape_ctx(t), s->saved.kind, s->saved.N, s->saved.L, dS->buf,
			       acc, s->scores->val.buf, s->loss->grad.buf, &s->saved);
}

dim_status dim_t_mi(dim_tape *t, dim_mi_kind kind, dim_var *scores, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	const int *sh = scores ? scores->val.shape : NULL;
	int N = 0, L = 0;
	*out = NULL;
	if (scores && scores->val.ndim == 3 && sh[0] == sh[1]) {
		N = sh[0];
		L = sh[2];
	} else if (scores && scores->val.ndim == 2 && sh[0] > 0 && sh[1] % sh[0] == 0) {
		N = sh[0];
		L = sh[1] / sh[0];
	}
	if (!N) {
		char b[64] = "none";
		if (scores)
			dim_shape_str(scores->val.ndim, sh, b, sizeof b);
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"dim_t_mi: scores must be [N, N, L] or [N, N*L], got %s", b);
	}
	dim_var *loss;
	dim_mi_saved saved;
	dim_status st;
	if ((st = dim_tape_new(t, 1, (int[]){1}, scores->needs_grad, &loss)) ||
	    (st = dim_mi_forward(ctx, kind, N, L, loss->val.buf, NULL, scores->val.buf, &saved,
				 dim_tape_arena(t))))
		return st;
	struct mi_node *s = dim_tape_record(t, loss, mi_node_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct mi_node){saved, loss, scores};
	*out = loss;
	return DIM_OK;
}
