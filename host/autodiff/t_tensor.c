/* Tape wrappers for the shape, element-wise and reduction ops (see
 * op_tensor.h). Flatten and reshape are views (dim_tape_view): no kernel,
 * and their gradient is the source's gradient seen with the new shape. */
#include "cldim/tape_ops.h"

struct bin_saved {
	dim_var *y, *a, *b;
	float alpha;
	bool mean;
};

static dim_ctx *C(dim_tape *t) { return dim_tape_ctx(t); }

static dim_status fail(dim_tape *t, const char *msg)
{
	return dim_fail(dim_ctx_error(C(t)), DIM_ERR_ARG, "%s", msg);
}

/* Records y's node with a, b saved; on success *out = y. s (may be NULL)
 * receives the saved struct, NULL when nothing was recorded. */
static dim_status record(dim_tape *t, dim_var *y, dim_backward_fn fn, dim_var *a, dim_var *b,
			 struct bin_saved **sp, dim_var **out)
{
	dim_status st = DIM_OK;
	struct bin_saved *s = dim_tape_record(t, y, fn, sizeof *s, &st);
	if (st)
		return st;
	if (s) {
		s->y = y;
		s->a = a;
		s->b = b;
	}
	if (sp)
		*sp = s;
	*out = y;
	return DIM_OK;
}

/* ------------------------------------------------------------ concat */

static dim_status concat_backward(dim_tape *t, void *saved)
{
	struct bin_saved *s = saved;
	int acc_a = 0, acc_b = 0;
	dim_tensor *da = dim_tape_grad(t, s->a, &acc_a);
	dim_tensor *db = dim_tape_grad(t, s->b, &acc_b);
	return dim_concat_backward(C(t), da, acc_a, db, acc_b, &s->y->grad);
}

dim_status dim_t_concat_channels(dim_tape *t, dim_var *a, dim_var *b, dim_var **out)
{
	*out = NULL;
	if (!a || !b || a->val.ndim < 2)
		return fail(t, "dim_t_concat_channels: inputs must have rank >= 2");
	int shape[DIM_MAX_DIMS];
	for (int i = 0; i < a->val.ndim; i++)
		shape[i] = a->val.shape[i];
	shape[1] += b->val.shape[1];
	dim_var *y;
	dim_status st;
	if ((st = dim_tape_new(t, a->val.ndim, shape, a->needs_grad || b->needs_grad, &y)) ||
	    (st = dim_concat_forward(C(t), &y->val, &a->val, &b->val)))
		return st;
	return record(t, y, concat_backward, a, b, NULL, out);
}

/* ------------------------------------------------------------ broadcast */

static dim_status broadcast_backward(dim_tape *t, void *saved)
{
	struct bin_saved *s = saved;
	int acc = 0;
	dim_tensor *dv = dim_tape_grad(t, s->a, &acc);
	return dim_broadcast_spatial_backward(C(t), dv, acc, &s->y->grad);
}

dim_status dim_t_broadcast_spatial(dim_tape *t, dim_var *v, int h, int w, dim_var **out)
{
	*out = NULL;
	if (!v || v->val.ndim != 2 || h < 1 || w < 1)
		return fail(t, "dim_t_broadcast_spatial: v must be [N, C] and h, w >= 1");
	const int shape[4] = {v->val.shape[0], v->val.shape[1], h, w};
	dim_var *y;
	dim_status st;
	if ((st = dim_tape_new(t, 4, shape, v->needs_grad, &y)) ||
	    (st = dim_broadcast_spatial_forward(C(t), &y->val, &v->val)))
		return st;
	return record(t, y, broadcast_backward, v, NULL, NULL, out);
}

/* ------------------------------------------------------------ views */

dim_status dim_t_flatten(dim_tape *t, dim_var *x, dim_var **out)
{
	*out = NULL;
	if (!x || x->val.ndim < 1)
		return fail(t, "dim_t_flatten: no input");
	int n = x->val.shape[0];
	const int shape[2] = {n, n ? (int)(dim_tensor_numel(&x->val) / (size_t)n) : 0};
	return dim_tape_view(t, x, 2, shape, out);
}

dim_status dim_t_reshape(dim_tape *t, dim_var *x, int ndim, const int *shape, dim_var **out)
{
	*out = NULL;
	if (!x || ndim < 1 || ndim > DIM_MAX_DIMS)
		return fail(t, "dim_t_reshape: bad rank");
	return dim_tape_view(t, x, ndim, shape, out);
}

/* ------------------------------------------------------------ add, mul */

static dim_status binary_out(dim_tape *t, const char *who, dim_var *a, dim_var *b, dim_var **y)
{
	*y = NULL;
	if (!a || !b || dim_tensor_numel(&a->val) != dim_tensor_numel(&b->val))
		return dim_fail(dim_ctx_error(C(t)), DIM_ERR_ARG, "%s: inputs differ in size", who);
	return dim_tape_new(t, a->val.ndim, a->val.shape, a->needs_grad || b->needs_grad, y);
}

static dim_status add_backward(dim_tape *t, void *saved)
{
	struct bin_saved *s = saved;
	int acc_a = 0, acc_b = 0;
	dim_tensor *da = dim_tape_grad(t, s->a, &acc_a);
	dim_tensor *db = dim_tape_grad(t, s->b, &acc_b);
	return dim_add_backward(C(t), da, acc_a, db, acc_b, &s->y->grad);
}

dim_status dim_t_add(dim_tape *t, dim_var *a, dim_var *b, dim_var **out)
{
	dim_var *y;
	dim_status st;
	*out = NULL;
	if ((st = binary_out(t, "dim_t_add", a, b, &y)) ||
	    (st = dim_add_forward(C(t), &y->val, &a->val, &b->val)))
		return st;
	return record(t, y, add_backward, a, b, NULL, out);
}

static dim_status mul_backward(dim_tape *t, void *saved)
{
	struct bin_saved *s = saved;
	int acc_a = 0, acc_b = 0;
	dim_tensor *da = dim_tape_grad(t, s->a, &acc_a);
	dim_tensor *db = dim_tape_grad(t, s->b, &acc_b);
	return dim_mul_backward(C(t), da, acc_a, db, acc_b, &s->y->grad, &s->a->val, &s->b->val);
}

dim_status dim_t_mul(dim_tape *t, dim_var *a, dim_var *b, dim_var **out)
{
	dim_var *y;
	dim_status st;
	*out = NULL;
	if ((st = binary_out(t, "dim_t_mul", a, b, &y)) ||
	    (st = dim_mul_forward(C(t), &y->val, &a->val, &b->val)))
		return st;
	return record(t, y, mul_backward, a, b, NULL, out);
}

/* ------------------------------------------------------------ scale */

static dim_status scale_backward(dim_tape *t, void *saved)
{
	struct bin_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->a, &acc);
	return dim_scale_backward(C(t), dx, acc, &s->y->grad, s->alpha);
}

dim_status dim_t_scale(dim_tape *t, dim_var *x, float alpha, dim_var **out)
{
	*out = NULL;
	if (!x)
		return fail(t, "dim_t_scale: no input");
	dim_var *y;
	struct bin_saved *s = NULL;
	dim_status st;
	if ((st = dim_tape_new(t, x->val.ndim, x->val.shape, x->needs_grad, &y)) ||
	    (st = dim_scale_forward(C(t), &y->val, &x->val, alpha)) ||
	    (st = record(t, y, scale_backward, x, NULL, &s, out)))
		return st;
	if (s)
		s->alpha = alpha;
	return DIM_OK;
}

/* ------------------------------------------------------------ reductions */

static dim_status sum_backward(dim_tape *t, void *saved)
{
	struct bin_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->a, &acc);
	return dim_sum_backward(C(t), dx, acc, &s->y->grad, s->mean);
}

static dim_status sum_all(dim_tape *t, dim_var *x, bool mean, dim_var **out)
{
	*out = NULL;
	if (!x)
		return fail(t, "dim_t_sum: no input");
	dim_var *y;
	dim_status st = dim_tape_new(t, 1, (const int[]){1}, x->needs_grad, &y);
	if (st)
		return st;
	dim_arena *a = dim_tape_arena(t);
	dim_arena_mark m = dim_arena_get_mark(a);
	st = dim_sum_forward(C(t), a, &y->val, &x->val, mean);
	dim_arena_reset(a, m);
	struct bin_saved *s = NULL;
	if (st || (st = record(t, y, sum_backward, x, NULL, &s, out)))
		return st;
	if (s)
		s->mean = mean;
	return DIM_OK;
}

dim_status dim_t_sum(dim_tape *t, dim_var *x, dim_var **out) { return sum_all(t, x, false, out); }
dim_status dim_t_mean(dim_tape *t, dim_var *x, dim_var **out) { return sum_all(t, x, true, out); }

static dim_status sum_rows_backward(dim_tape *t, void *saved)
{
	struct bin_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->a, &acc);
	return dim_sum_rows_backward(C(t), dx, acc, &s->y->grad, s->mean);
}

dim_status dim_t_sum_rows(dim_tape *t, dim_var *x, bool mean, dim_var **out)
{
	*out = NULL;
	if (!x || x->val.ndim < 1)
		return fail(t, "dim_t_sum_rows: no input");
	dim_var *y;
	struct bin_saved *s = NULL;
	dim_status st;
	if ((st = dim_tape_new(t, 1, x->val.shape, x->needs_grad, &y)) ||
	    (st = dim_sum_rows_forward(C(t), &y->val, &x->val, mean)) ||
	    (st = record(t, y, sum_rows_backward, x, NULL, &s, out)))
		return st;
	if (s)
		s->mean = mean;
	return DIM_OK;
}
