/* Tape wrappers for permute and pairwise. */
#include "cldim/tape_ops.h"

struct permute_saved {
	dim_var *x, *y;
	int N, C, L;
};

static dim_status permute_backward(dim_tape *t, void *p)
{
	struct permute_saved *s = p;
	int acc;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	if (!dx)
		return DIM_OK;
	return dim_permute_from_rows(dim_tape_ctx(t), s->N, s->C, s->L, dx->buf, s->y->grad.buf,
				     acc);
}

dim_status dim_t_permute_to_rows(dim_tape *t, dim_var *x, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || x->val.ndim < 2)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "permute_to_rows: need [N, C, ...]");
	int N = x->val.shape[0], C = x->val.shape[1];
	int L = (int)(dim_tensor_numel(&x->val) / ((size_t)N * C));
	dim_var *y;
	dim_status st = dim_tape_new(t, 2, (int[]){N * L, C}, x->needs_grad, &y);
	if (!st)
		st = dim_permute_to_rows(ctx, N, C, L, y->val.buf, x->val.buf, 0);
	struct permute_saved *s = st ? NULL :
		dim_tape_record(t, y, permute_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct permute_saved){x, y, N, C, L};
	*out = y;
	return DIM_OK;
}

struct slice_saved {
	dim_var *x, *y;
	int R, X, W, c0;
};

static dim_status slice_backward(dim_tape *t, void *p)
{
	struct slice_saved *s = p;
	int acc;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	if (!dx)
		return DIM_OK;
	dim_ctx *ctx = dim_tape_ctx(t);
	/* a first write must also clear the columns outside the slice */
	if (!acc && s->W < s->X) {
		dim_status st = dim_fill_f32(ctx, dx->buf, 0.0f);
		if (st)
			return st;
		acc = 1;
	}
	return dim_unslice_cols(ctx, s->R, s->X, s->W, s->c0, dx->buf, s->y->grad.buf, acc);
}

dim_status dim_t_slice_cols(dim_tape *t, dim_var *x, int c0, int w, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || x->val.ndim != 2)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "slice_cols: need a matrix");
	int R = x->val.shape[0], X = x->val.shape[1];
	dim_var *y;
	dim_status st = dim_tape_new(t, 2, (int[]){R, w}, x->needs_grad, &y);
	if (!st)
		st = dim_slice_cols(ctx, R, X, w, c0, y->val.buf, x->val.buf);
	struct slice_saved *s = st ? NULL : dim_tape_record(t, y, slice_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct slice_saved){x, y, R, X, w, c0};
	*out = y;
	return DIM_OK;
}

struct gather_saved {
	dim_var *x, *y;
	dim_buf idx;
};

static dim_status gather_backward(dim_tape *t, void *p)
{
	struct gather_saved *s = p;
	int acc;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	if (!dx)
		return DIM_OK;
	return dim_scatter_rows(dim_tape_ctx(t), s->x->val.shape[0], s->x->val.shape[1], s->idx,
				dx->buf, s->y->grad.buf, acc);
}

dim_status dim_t_gather_rows(dim_tape *t, dim_var *x, dim_buf idx, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || x->val.ndim != 2)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "gather_rows: need a matrix");
	dim_var *y;
	dim_status st = dim_tape_new(t, 2, x->val.shape, x->needs_grad, &y);
	if (!st)
		st = dim_gather_rows(ctx, x->val.shape[0], x->val.shape[1], idx, y->val.buf,
				     x->val.buf);
	struct gather_saved *s = st ? NULL :
		dim_tape_record(t, y, gather_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct gather_saved){x, y, idx};
	*out = y;
	return DIM_OK;
}

struct pairwise_saved {
	dim_var *a, *b, *bias, *out;
	int N, H;
};

static dim_status pairwise_backward(dim_tape *t, void *p)
{
	struct pairwise_saved *s = p;
	int acc_a = 0, acc_b = 0;
	dim_status st = DIM_OK;
	dim_tensor *da = dim_tape_grad(t, s->a, &acc_a);
	dim_tensor *db = dim_tape_grad(t, s->b, &acc_b);
	dim_tensor *dc = dim_tape_grad_accum(t, s->bias, &st); /* the kernel only adds */
	if (st)
		return st;
	return dim_pairwise_backward(dim_tape_ctx(t), s->N, s->H, da ? &da->buf : NULL, acc_a,
				     db ? &db->buf : NULL, acc_b, dc ? &dc->buf : NULL,
				     s->out->grad.buf);
}

dim_status dim_t_pairwise(dim_tape *t, dim_var *a, dim_var *b, dim_var *bias, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!a || !b || a->val.ndim != 2 || b->val.ndim != 2 ||
	    a->val.shape[0] != b->val.shape[0] || a->val.shape[1] != b->val.shape[1] ||
	    (bias && dim_tensor_numel(&bias->val) != (size_t)a->val.shape[1]))
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"pairwise: a, b must be [N, H], bias [H]");
	int N = a->val.shape[0], H = a->val.shape[1];
	bool ng = a->needs_grad || b->needs_grad || (bias && bias->needs_grad);
	dim_var *y;
	dim_status st = dim_tape_new(t, 2, (int[]){N * N, H}, ng, &y);
	if (!st)
		st = dim_pairwise_forward(ctx, N, H, y->val.buf, a->val.buf, b->val.buf,
					  bias ? &bias->val.buf : NULL);
	struct pairwise_saved *s = st ? NULL :
		dim_tape_record(t, y, pairwise_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct pairwise_saved){a, b, bias, y, N, H};
	*out = y;
	return DIM_OK;
}
