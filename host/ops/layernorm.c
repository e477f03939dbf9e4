/* Layer normalisation over channels (see op_layernorm.h; kernels in
 * cl/layernorm.cl): forward ln_forward; backward ln_backward_params
 * (dgamma, dbeta) then ln_backward_dx. */
#include "cldim/op_layernorm.h"

#define PROG "layernorm"

struct ln_shape {
	int N, C, S;
	size_t total, locations;
};

static int is_vec(const dim_tensor *t, int C)
{
	return t->ndim == 1 && t->shape[0] == C;
}

static dim_status check_shapes(dim_ctx *ctx, const char *who, const dim_tensor *y,
			       const dim_tensor *x, const dim_tensor *weight, const dim_tensor *bias,
			       const dim_tensor *mean, const dim_tensor *rstd, struct ln_shape *s)
{
	dim_error *err = dim_ctx_error(ctx);
	if (!x || !y || !mean || !rstd || x->ndim < 2)
		return dim_fail(err, DIM_ERR_ARG, "%s: x must be [N, C, ...]", who);
	s->N = x->shape[0];
	s->C = x->shape[1];
	s->S = 1;
	for (int i = 2; i < x->ndim; i++)
		s->S *= x->shape[i];
	s->total = dim_tensor_numel(x);
	s->locations = (size_t)s->N * s->S;
	if (s->total == 0 || s->total > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: bad input size", who);
	if (dim_tensor_numel(y) != s->total)
		return dim_fail(err, DIM_ERR_ARG, "%s: output/gradient size differs from x", who);
	if ((weight && !is_vec(weight, s->C)) || (bias && !is_vec(bias, s->C)))
		return dim_fail(err, DIM_ERR_ARG, "%s: weight and bias must be [%d]", who, s->C);
	if (dim_tensor_numel(mean) != s->locations || dim_tensor_numel(rstd) != s->locations)
		return dim_fail(err, DIM_ERR_ARG, "%s: mean/rstd must hold %zu values", who,
				s->locations);
	return DIM_OK;
}

/* Rows of a multiple of 16 channels (S == 1) on CPU devices: the per-row
 * float16 kernels. */
static int rows_fast(dim_ctx *ctx, const struct ln_shape *s)
{
	return s->S == 1 && s->C % 16 == 0 && dim_ctx_vec16(ctx);
}

/* Rows (S == 1) on GPU devices: a work-group per row (cl/layernorm.cl). */
static int rows_wg(dim_ctx *ctx, const struct ln_shape *s)
{
	return s->S == 1 && !dim_ctx_vec16(ctx);
}

/* Power-of-two local size for a row of C: up to 256, no more than C needs. */
static size_t rows_wg_local(dim_kernel *k, int C)
{
	size_t cap = dim_kernel_max_wg(k) < 256 ? dim_kernel_max_wg(k) : 256, l = 1;
	while (l * 2 <= cap && l < (size_t)C)
		l *= 2;
	return l;
}

dim_status dim_layernorm_forward(dim_ctx *ctx, float eps, const dim_tensor *y,
				 const dim_tensor *save_mean, const dim_tensor *save_rstd,
				 const dim_tensor *x, const dim_tensor *weight,
				 const dim_tensor *bias)
{
	struct ln_shape s;
	dim_status st = check_shapes(ctx, "layernorm forward", y, x, weight, bias, save_mean,
				     save_rstd, &s);
	dim_kernel *k;
	if (!st && rows_wg(ctx, &s)) {
		st = dim_kernel_get(ctx, PROG, NULL, "ln_forward_rows_wg", &k);
		if (st)
			return st;
		size_t local = rows_wg_local(k, s.C), global = s.locations * local;
		return DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_BUF(y->buf),
				  DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf), DIM_BUF(x->buf),
				  DIM_BUF(weight ? weight->buf : x->buf),
				  DIM_BUF(bias ? bias->buf : x->buf), DIM_INT(s.C), DIM_FLOAT(eps),
				  DIM_INT(weight != NULL), DIM_INT(bias != NULL),
				  DIM_LOCAL(local * sizeof(float)));
	}
	if (!st && rows_fast(ctx, &s)) {
		st = dim_kernel_get(ctx, PROG, NULL, "ln_forward_rows", &k);
		if (st)
			return st;
		return DIM_LAUNCH_1D(ctx, k, s.locations, DIM_BUF(y->buf), DIM_BUF(save_mean->buf),
				     DIM_BUF(save_rstd->buf), DIM_BUF(x->buf),
				     DIM_BUF(weight ? weight->buf : x->buf),
				     DIM_BUF(bias ? bias->buf : x->buf), DIM_INT(s.N), DIM_INT(s.C),
				     DIM_FLOAT(eps), DIM_INT(weight != NULL), DIM_INT(bias != NULL));
	}
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "ln_forward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, s.locations, DIM_BUF(y->buf), DIM_BUF(save_mean->buf),
			     DIM_BUF(save_rstd->buf), DIM_BUF(x->buf),
			     DIM_BUF(weight ? weight->buf : x->buf), DIM_BUF(bias ? bias->buf : x->buf),
			     DIM_INT(s.N), DIM_INT(s.C), DIM_INT(s.S), DIM_FLOAT(eps),
			     DIM_INT(weight != NULL), DIM_INT(bias != NULL));
}

dim_status dim_layernorm_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
				  const dim_tensor *dweight, const dim_tensor *dbias,
				  const dim_tensor *dy, const dim_tensor *x,
				  const dim_tensor *weight, const dim_tensor *save_mean,
				  const dim_tensor *save_rstd)
{
	struct ln_shape s;
	dim_status st = check_shapes(ctx, "layernorm backward", dy, x, weight, NULL, save_mean,
				     save_rstd, &s);
	if (st)
		return st;
	if ((dx && dim_tensor_numel(dx) != s.total) || (dweight && !is_vec(dweight, s.C)) ||
	    (dbias && !is_vec(dbias, s.C)))
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"layernorm backward: gradient shapes do not match");
	dim_kernel *k;
	if ((dweight || dbias) && s.S == 1 && s.N >= 256) {
		/* rows layout: contiguous two-step column sums (cl/layernorm.cl) */
		int P = s.N / 64 > 64 ? 64 : s.N / 64;
		dim_buf part, dw = dweight ? dweight->buf : dbias->buf, db = dbias ? dbias->buf : dw;
		dim_kernel *fin;
		st = dim_ctx_scratch(ctx, 2 * (size_t)P * s.C * sizeof(float), &part);
		if (!st)
			st = dim_kernel_get(ctx, PROG, NULL, "ln_rows_partial", &k);
		if (!st)
			st = dim_kernel_get(ctx, PROG, NULL, "ln_rows_finish", &fin);
		int stream = dim_ctx_vec16(ctx);
		size_t vecs = stream ? 1 : ((size_t)s.C + 15) / 16;
		size_t global[2] = {vecs, (size_t)P}, local[2] = {dim_local_pow2(vecs, 16), 1};
		if (!st)
			st = DIM_LAUNCH(ctx, k, 2, global, local, DIM_BUF(dy->buf), DIM_BUF(x->buf),
					DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
					DIM_BUF(part), DIM_INT(s.N), DIM_INT(s.C), DIM_INT(P),
					DIM_INT(stream));
		if (!st)
			st = DIM_LAUNCH_1D(ctx, fin, (size_t)s.C, DIM_BUF(part), DIM_BUF(dw),
					   DIM_BUF(db), DIM_INT(s.C), DIM_INT(P),
					   DIM_INT(dweight != NULL), DIM_INT(dbias != NULL));
		if (st)
			return st;
	} else if (dweight || dbias) {
		st = dim_kernel_get(ctx, PROG, NULL, "ln_backward_params", &k);
		if (st)
			return st;
		size_t cap = dim_kernel_max_wg(k) < 256 ? dim_kernel_max_wg(k) : 256, local = 1;
		while (local * 2 <= cap && local < s.locations)
			local *= 2;
		size_t global = (size_t)s.C * local;
		dim_buf dw = dweight ? dweight->buf : dbias->buf, db = dbias ? dbias->buf : dw;
		st = DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_BUF(dw), DIM_BUF(db),
				DIM_BUF(dy->buf), DIM_BUF(x->buf), DIM_BUF(save_mean->buf),
				DIM_BUF(save_rstd->buf), DIM_INT(s.N), DIM_INT(s.C), DIM_INT(s.S),
				DIM_INT(dweight != NULL), DIM_INT(dbias != NULL),
				DIM_LOCAL(2 * local * sizeof(float)));
		if (st)
			return st;
	}
	if (!dx)
		return DIM_OK;
	if (rows_wg(ctx, &s)) {
		st = dim_kernel_get(ctx, PROG, NULL, "ln_backward_dx_rows_wg", &k);
		if (st)
			return st;
		size_t local = rows_wg_local(k, s.C), global = s.locations * local;
		return DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_BUF(dx->buf), DIM_BUF(dy->buf),
				  DIM_BUF(x->buf), DIM_BUF(weight ? weight->buf : x->buf),
				  DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf), DIM_INT(s.C),
				  DIM_INT(weight != NULL), DIM_INT(accumulate),
				  DIM_LOCAL(local * sizeof(float)));
	}
	if (rows_fast(ctx, &s)) {
		st = dim_kernel_get(ctx, PROG, NULL, "ln_backward_dx_rows", &k);
		if (st)
			return st;
		return DIM_LAUNCH_1D(ctx, k, s.locations, DIM_BUF(dx->buf), DIM_BUF(dy->buf),
				     DIM_BUF(x->buf), DIM_BUF(weight ? weight->buf : x->buf),
				     DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf), DIM_INT(s.N),
				     DIM_INT(s.C), DIM_INT(weight != NULL), DIM_INT(accumulate));
	}
	st = dim_kernel_get(ctx, PROG, NULL, "ln_backward_dx", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, s.locations, DIM_BUF(dx->buf), DIM_BUF(dy->buf),
			     DIM_BUF(x->buf), DIM_BUF(weight ? weight->buf : x->buf),
			     DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf), DIM_INT(s.N),
			     DIM_INT(s.C), DIM_INT(s.S), DIM_INT(weight != NULL),
			     DIM_INT(accumulate));
}
