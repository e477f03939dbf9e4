/* Tape wrappers for the strided-crop unfold and fold. */
#include "cldim/tape_ops.h"

struct unfold_saved {
	dim_var *x, *y;
	dim_unfold_desc d;
};

static dim_status unfold_backward(dim_tape *t, void *p)
{
	struct unfold_saved *s = p;
	int acc;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	if (!dx)
		return DIM_OK;
	return dim_crops_unfold_backward(dim_tape_ctx(t), &s->d, dx->buf, acc, s->y->grad.buf);
}

dim_status dim_t_unfold_crops(dim_tape *t, dim_var *x, int k, int stride, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x || x->val.ndim != 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "unfold_crops: need [N, C, H, W]");
	dim_unfold_desc d = {x->val.shape[0], x->val.shape[1], x->val.shape[2], x->val.shape[3],
			     k, stride};
	int gh = dim_crops_grid(d.H, k, stride), gw = dim_crops_grid(d.W, k, stride);
	if (!gh || !gw)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"unfold_crops: %dx%d crops with stride %d do not fit a %dx%d input",
				k, k, stride, d.H, d.W);
	dim_var *y;
	dim_status st = dim_tape_new(t, 4, (int[]){d.N * gh * gw, d.C, k, k}, x->needs_grad, &y);
	if (!st)
		st = dim_crops_unfold_forward(ctx, &d, y->val.buf, x->val.buf);
	struct unfold_saved *s = st ? NULL :
		dim_tape_record(t, y, unfold_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct unfold_saved){x, y, d};
	*out = y;
	return DIM_OK;
}

struct fold_saved {
	dim_var *x, *y;
	dim_fold_desc d;
};

static dim_status fold_backward(dim_tape *t, void *p)
{
	struct fold_saved *s = p;
	int acc;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	if (!dx)
		return DIM_OK;
	return dim_crops_fold_backward(dim_tape_ctx(t), &s->d, dx->buf, acc, s->y->grad.buf);
}

dim_status dim_t_fold_crops(dim_tape *t, dim_var *x, int gh, int gw, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!x)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "fold_crops: no input");
	const int *sh = x->val.shape;
	if (x->val.ndim != 4 || gh < 1 || gw < 1 || sh[0] % (gh * gw)) {
		char b[64];
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"fold_crops: %s is not [N*%d*%d, C, h, w]",
				dim_shape_str(x->val.ndim, sh, b, sizeof b), gh, gw);
	}
	dim_fold_desc d = {sh[0] / (gh * gw), gh, gw, sh[1], sh[2], sh[3]};
	dim_var *y;
	dim_status st = dim_tape_new(t, 4, (int[]){d.N, d.C * d.h * d.w, gh, gw}, x->needs_grad,
				     &y);
	if (!st)
		st = dim_crops_fold_forward(ctx, &d, y->val.buf, x->val.buf);
	struct fold_saved *s = st ? NULL : dim_tape_record(t, y, fold_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct fold_saved){x, y, d};
	*out = y;
	return DIM_OK;
}
