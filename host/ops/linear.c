/* Dense layer: GEMMs plus the bias kernels of cl/linear.cl (see op_linear.h
 * for shapes and the gradient contract). Row-major GEMM mapping, W [O][I]:
 *   forward  y[M][O]  = x[M][I] * W^T      (NoTrans, Trans)
 *   dx[M][I]          = dy[M][O] * W       (NoTrans, NoTrans), beta = accumulate
 *   dW[O][I]         += dy^T * x           (Trans, NoTrans), beta = 1 */
#include "cldim/op_linear.h"

#define PROG "linear"

struct lin_shape {
	size_t M, I, O;
};

/* y-like tensor: same leading dims as x, last dim O. */
static int rows_match(const dim_tensor *x, const dim_tensor *y, int last)
{
	if (y->ndim != x->ndim || y->shape[y->ndim - 1] != last)
		return 0;
	for (int i = 0; i < x->ndim - 1; i++)
		if (x->shape[i] != y->shape[i])
			return 0;
	return 1;
}

static dim_status check_shapes(dim_ctx *ctx, const char *who, const dim_tensor *y,
			       const dim_tensor *x, const dim_tensor *w, const dim_tensor *b,
			       struct lin_shape *s)
{
	dim_error *err = dim_ctx_error(ctx);
	char a[64], c[64];
	if (!x || !w || !y || x->ndim < 1 || w->ndim != 2)
		return dim_fail(err, DIM_ERR_ARG, "%s: need x [..., in] and weight [out, in]", who);
	s->I = (size_t)x->shape[x->ndim - 1];
	s->O = (size_t)w->shape[0];
	s->M = s->I ? dim_tensor_numel(x) / s->I : 0;
	if ((size_t)w->shape[1] != s->I || s->I == 0 || s->O == 0)
		return dim_fail(err, DIM_ERR_ARG, "%s: weight %s does not match input %s", who,
				dim_shape_str(2, w->shape, a, sizeof a),
				dim_shape_str(x->ndim, x->shape, c, sizeof c));
	if (!rows_match(x, y, (int)s->O))
		return dim_fail(err, DIM_ERR_ARG, "%s: output %s does not match input %s and %zu outputs",
				who, dim_shape_str(y->ndim, y->shape, a, sizeof a),
				dim_shape_str(x->ndim, x->shape, c, sizeof c), s->O);
	if (b && (b->ndim != 1 || (size_t)b->shape[0] != s->O))
		return dim_fail(err, DIM_ERR_ARG, "%s: bias must be [%zu]", who, s->O);
	if (s->M * s->O > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: too large for 32-bit indexing", who);
	return DIM_OK;
}

static dim_status forward(dim_ctx *ctx, const char *who, float beta, const dim_tensor *y,
			  const dim_tensor *x, const dim_tensor *weight, const dim_tensor *bias)
{
	struct lin_shape s;
	dim_status st = check_shapes(ctx, who, y, x, weight, bias, &s);
	if (st || s.M == 0)
		return st;
	st = dim_gemm(ctx, DIM_NO_TRANS, DIM_TRANS, s.M, s.O, s.I, 1.0f, x->buf, s.I, weight->buf,
		      s.I, beta, y->buf, s.O);
	if (st || !bias)
		return st;
	dim_kernel *k;
	if (dim_ctx_vec16(ctx) && s.O % 16 == 0) {
		size_t vecs = s.O / 16;
		size_t global[2] = {vecs, s.M}, local[2] = {dim_local_pow2(vecs, 16), 1};
		st = dim_kernel_get(ctx, PROG, NULL, "linear_bias_add16", &k);
		if (st)
			return st;
		return DIM_LAUNCH(ctx, k, 2, global, local, DIM_BUF(y->buf), DIM_BUF(bias->buf),
				  DIM_INT(s.O));
	}
	st = dim_kernel_get(ctx, PROG, NULL, "linear_bias_add", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, s.M * s.O, DIM_BUF(y->buf), DIM_BUF(bias->buf), DIM_INT(s.M),
			     DIM_INT(s.O));
}

dim_status dim_linear_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x,
			      const dim_tensor *weight, const dim_tensor *bias)
{
	return forward(ctx, "linear forward", 0.0f, y, x, weight, bias);
}

dim_status dim_linear_forward_add(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x,
				  const dim_tensor *weight, const dim_tensor *bias)
{
	return forward(ctx, "linear forward (add)", 1.0f, y, x, weight, bias);
}

/* db += column sums of dy: one step for few rows, else the two-step blocked
 * form of cl/linear.cl with the partial sums in the context scratch. */
static dim_status bias_grad(dim_ctx *ctx, const struct lin_shape *s, dim_buf db, dim_buf dy)
{
	dim_kernel *k, *fin;
	dim_status st;
	if (s->M < 256) {
		st = dim_kernel_get(ctx, PROG, NULL, "linear_bias_grad", &k);
		if (st)
			return st;
		return DIM_LAUNCH_1D(ctx, k, s->O, DIM_BUF(dy), DIM_BUF(db), DIM_INT(s->M),
				     DIM_INT(s->O));
	}
	int stream = dim_ctx_vec16(ctx);
	size_t P = s->M / 64 > 64 ? 64 : s->M / 64, vecs = stream ? 1 : (s->O + 15) / 16;
	dim_buf part;
	st = dim_kernel_get(ctx, PROG, NULL, "linear_bias_grad_part", &k);
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "linear_bias_grad_finish", &fin);
	if (!st)
		st = dim_ctx_scratch(ctx, P * s->O * sizeof(float), &part);
	if (st)
		return st;
	size_t global[2] = {vecs, P}, local[2] = {dim_local_pow2(vecs, 16), 1};
	st = DIM_LAUNCH(ctx, k, 2, global, local, DIM_BUF(dy), DIM_BUF(part), DIM_INT(s->M),
			DIM_INT(s->O), DIM_INT(P), DIM_INT(stream));
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, fin, s->O, DIM_BUF(part), DIM_BUF(db), DIM_INT(s->O),
			     DIM_INT(P));
}

dim_status dim_linear_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
			       const dim_tensor *dweight, const dim_tensor *dbias,
			       const dim_tensor *dy, const dim_tensor *x, const dim_tensor *weight)
{
	struct lin_shape s;
	dim_status st = check_shapes(ctx, "linear backward", dy, x, weight, dbias, &s);
	if (st || s.M == 0)
		return st;
	dim_error *err = dim_ctx_error(ctx);
	if (dx && (dim_tensor_numel(dx) != dim_tensor_numel(x)))
		return dim_fail(err, DIM_ERR_ARG, "linear backward: dx size differs from x");
	if (dweight && dim_tensor_numel(dweight) != s.O * s.I)
		return dim_fail(err, DIM_ERR_ARG, "linear backward: dweight size differs from weight");
	if (dbias) {
		st = bias_grad(ctx, &s, dbias->buf, dy->buf);
		if (st)
			return st;
	}
	if (dweight) {
		st = dim_gemm(ctx, DIM_TRANS, DIM_NO_TRANS, s.O, s.I, s.M, 1.0f, dy->buf, s.O, x->buf,
			      s.I, 1.0f, dweight->buf, s.I);
		if (st)
			return st;
	}
	if (dx)
		st = dim_gemm(ctx, DIM_NO_TRANS, DIM_NO_TRANS, s.M, s.I, s.O, 1.0f, dy->buf, s.O,
			      weight->buf, s.I, accumulate ? 1.0f : 0.0f, dx->buf, s.I);
	return st;
}
