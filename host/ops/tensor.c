/* Shape and element-wise ops (see op_tensor.h; kernels in cl/tensor.cl).
 *
 * Everything reduces to five kernels:
 *   concat / split          tensor_copy_blocks, one call per input
 *   add, scale, add-scaled  tensor_lincomb
 *   mul and its gradients   tensor_mul
 *   sums, means, dv of a broadcast          tensor_reduce_rows
 *   broadcast, gradients of sums and means  tensor_expand_rows */
#include <string.h>

#include "cldim/op_tensor.h"

#define PROG "tensor"
#define INT_MAX_N ((size_t)0x7fffffff)
#define SUM_CHUNK 4096 /* elements per partial sum in the two-pass sum */

static dim_status kernel(dim_ctx *ctx, const char *name, dim_kernel **k)
{
	return dim_kernel_get(ctx, PROG, NULL, name, k);
}

static dim_status same_numel(dim_ctx *ctx, const char *who, const dim_tensor *a,
			     const dim_tensor *b)
{
	if (!a || !b)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: missing tensor", who);
	size_t na = dim_tensor_numel(a), nb = dim_tensor_numel(b);
	if (na != nb)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: %zu vs %zu elements", who,
				na, nb);
	if (na > INT_MAX_N)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: too large", who);
	return DIM_OK;
}

/* y (=/+=) alpha * a + beta * b; b may be NULL. */
static dim_status lincomb(dim_ctx *ctx, const dim_tensor *y, int acc, float alpha,
			  const dim_tensor *a, float beta, const dim_tensor *b)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "tensor_lincomb", &k);
	if (st)
		return st;
	size_t n = dim_tensor_numel(y);
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(n), DIM_INT(acc != 0), DIM_TBUF(y),
			     DIM_FLOAT(alpha), DIM_TBUF(a), DIM_FLOAT(beta),
			     DIM_TBUF(b ? b : a), DIM_INT(b != NULL));
}

static dim_status mul(dim_ctx *ctx, const dim_tensor *y, int acc, const dim_tensor *a,
		      const dim_tensor *b)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "tensor_mul", &k);
	if (st)
		return st;
	size_t n = dim_tensor_numel(y);
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(n), DIM_INT(acc != 0), DIM_TBUF(y), DIM_TBUF(a),
			     DIM_TBUF(b));
}

static dim_status copy_blocks(dim_ctx *ctx, size_t nblocks, size_t len, int acc, dim_buf dst,
			      size_t dst_stride, dim_buf src, size_t src_stride)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "tensor_copy_blocks", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, nblocks * len, DIM_INT(nblocks), DIM_INT(len),
			     DIM_INT(acc != 0), DIM_BUF(dst), DIM_INT(dst_stride), DIM_BUF(src),
			     DIM_INT(src_stride));
}

/* out[r] (=/+=) scale * sum of x[r*D .. min(r*D+D, n)), r < rows. */
static dim_status reduce_rows(dim_ctx *ctx, dim_buf out, int acc, dim_buf x, size_t rows,
			      size_t D, size_t n, float scale)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "tensor_reduce_rows", &k);
	if (st)
		return st;
	size_t cap = dim_kernel_max_wg(k) < 256 ? dim_kernel_max_wg(k) : 256, local = 1;
	while (local * 2 <= cap && local < D)
		local *= 2;
	size_t global = rows * local;
	return DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_INT(rows), DIM_INT(D), DIM_INT(n),
			  DIM_FLOAT(scale), DIM_INT(acc != 0), DIM_BUF(out), DIM_BUF(x),
			  DIM_LOCAL(local * sizeof(float)));
}

static dim_status expand_rows(dim_ctx *ctx, dim_buf y, int acc, dim_buf v, size_t rows, size_t D,
			      float scale)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "tensor_expand_rows", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, rows * D, DIM_INT(rows), DIM_INT(D), DIM_FLOAT(scale),
			     DIM_INT(acc != 0), DIM_BUF(y), DIM_BUF(v));
}

/* ------------------------------------------------------------ concat */

static dim_status concat_shapes(dim_ctx *ctx, const char *who, const dim_tensor *y,
				const dim_tensor *a, const dim_tensor *b, size_t *N, size_t *la,
				size_t *lb)
{
	dim_error *err = dim_ctx_error(ctx);
	char s1[64], s2[64], s3[64];
	if (!y || !a || !b || a->ndim < 2 || a->ndim != b->ndim || a->ndim != y->ndim)
		return dim_fail(err, DIM_ERR_ARG, "%s: tensors must have the same rank >= 2", who);
	bool ok = a->shape[0] == b->shape[0] && y->shape[0] == a->shape[0] &&
		  y->shape[1] == a->shape[1] + b->shape[1];
	for (int i = 2; i < a->ndim; i++)
		ok = ok && a->shape[i] == b->shape[i] && y->shape[i] == a->shape[i];
	if (!ok)
		return dim_fail(err, DIM_ERR_ARG, "%s: cannot concat %s and %s into %s", who,
				dim_shape_str(a->ndim, a->shape, s1, sizeof s1),
				dim_shape_str(b->ndim, b->shape, s2, sizeof s2),
				dim_shape_str(y->ndim, y->shape, s3, sizeof s3));
	if (dim_tensor_numel(y) > INT_MAX_N)
		return dim_fail(err, DIM_ERR_ARG, "%s: too large", who);
	*N = (size_t)a->shape[0];
	*la = *N ? dim_tensor_numel(a) / *N : 0;
	*lb = *N ? dim_tensor_numel(b) / *N : 0;
	return DIM_OK;
}

dim_status dim_concat_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *a,
			      const dim_tensor *b)
{
	size_t N, la, lb;
	dim_status st = concat_shapes(ctx, "concat forward", y, a, b, &N, &la, &lb);
	if (st || !N)
		return st;
	dim_buf ya = dim_buf_view(y->buf, 0, y->buf.bytes);
	dim_buf yb = dim_buf_view(y->buf, la * sizeof(float), y->buf.bytes - la * sizeof(float));
	st = copy_blocks(ctx, N, la, 0, ya, la + lb, a->buf, la);
	if (!st)
		st = copy_blocks(ctx, N, lb, 0, yb, la + lb, b->buf, lb);
	return st;
}

dim_status dim_concat_backward(dim_ctx *ctx, const dim_tensor *da, int acc_a,
			       const dim_tensor *db, int acc_b, const dim_tensor *dy)
{
	if (!da && !db)
		return DIM_OK;
	dim_error *err = dim_ctx_error(ctx);
	if (!dy || dy->ndim < 2)
		return dim_fail(err, DIM_ERR_ARG, "concat backward: dy must have rank >= 2");
	/* Shapes from whichever gradients are given; the other part is the rest. */
	size_t N = (size_t)dy->shape[0], per = N ? dim_tensor_numel(dy) / N : 0;
	size_t la = da ? dim_tensor_numel(da) / (N ? N : 1) : per - dim_tensor_numel(db) / (N ? N : 1);
	size_t lb = per - la;
	if ((da && (da->shape[0] != dy->shape[0] || la * N != dim_tensor_numel(da))) ||
	    (db && (db->shape[0] != dy->shape[0] || lb * N != dim_tensor_numel(db))) || la > per)
		return dim_fail(err, DIM_ERR_ARG, "concat backward: gradient shapes do not split dy");
	if (!N)
		return DIM_OK;
	dim_status st = DIM_OK;
	if (da)
		st = copy_blocks(ctx, N, la, acc_a, da->buf, la, dy->buf, per);
	if (!st && db) {
		dim_buf src = dim_buf_view(dy->buf, la * sizeof(float),
					   dy->buf.bytes - la * sizeof(float));
		st = copy_blocks(ctx, N, lb, acc_b, db->buf, lb, src, per);
	}
	return st;
}

/* ------------------------------------------------------------ broadcast */

static dim_status rows_of(dim_ctx *ctx, const char *who, const dim_tensor *big,
			  const dim_tensor *small, size_t *rows, size_t *D)
{
	if (!big || !small)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: missing tensor", who);
	size_t nb = dim_tensor_numel(big), ns = dim_tensor_numel(small);
	if (!ns || nb % ns || nb > INT_MAX_N)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"%s: %zu elements are not whole rows of %zu", who, nb, ns);
	*rows = ns;
	*D = nb / ns;
	return DIM_OK;
}

dim_status dim_broadcast_spatial_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *v)
{
	size_t rows, D;
	dim_status st = rows_of(ctx, "broadcast forward", y, v, &rows, &D);
	if (!st && v->ndim <= y->ndim && memcmp(v->shape, y->shape, sizeof(int) * v->ndim))
		st = dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
			      "broadcast forward: leading dims of y differ from v");
	if (st)
		return st;
	return expand_rows(ctx, y->buf, 0, v->buf, rows, D, 1.0f);
}

dim_status dim_broadcast_spatial_backward(dim_ctx *ctx, const dim_tensor *dv, int accumulate,
					  const dim_tensor *dy)
{
	if (!dv)
		return DIM_OK;
	size_t rows, D;
	dim_status st = rows_of(ctx, "broadcast backward", dy, dv, &rows, &D);
	if (st)
		return st;
	return reduce_rows(ctx, dv->buf, accumulate, dy->buf, rows, D, rows * D, 1.0f);
}

/* ------------------------------------------------------------ add, mul, scale */

dim_status dim_add_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *a,
			   const dim_tensor *b)
{
	dim_status st = same_numel(ctx, "add forward", y, a);
	if (!st)
		st = same_numel(ctx, "add forward", y, b);
	return st ? st : lincomb(ctx, y, 0, 1.0f, a, 1.0f, b);
}

dim_status dim_add_backward(dim_ctx *ctx, const dim_tensor *da, int acc_a, const dim_tensor *db,
			    int acc_b, const dim_tensor *dy)
{
	dim_status st = DIM_OK;
	if (da)
		st = same_numel(ctx, "add backward", da, dy);
	if (!st && da)
		st = lincomb(ctx, da, acc_a, 1.0f, dy, 0.0f, NULL);
	if (!st && db)
		st = same_numel(ctx, "add backward", db, dy);
	if (!st && db)
		st = lincomb(ctx, db, acc_b, 1.0f, dy, 0.0f, NULL);
	return st;
}

dim_status dim_mul_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *a,
			   const dim_tensor *b)
{
	dim_status st = same_numel(ctx, "mul forward", y, a);
	if (!st)
		st = same_numel(ctx, "mul forward", y, b);
	return st ? st : mul(ctx, y, 0, a, b);
}

dim_status dim_mul_backward(dim_ctx *ctx, const dim_tensor *da, int acc_a, const dim_tensor *db,
			    int acc_b, const dim_tensor *dy, const dim_tensor *a,
			    const dim_tensor *b)
{
	dim_status st = same_numel(ctx, "mul backward", dy, a);
	if (!st)
		st = same_numel(ctx, "mul backward", dy, b);
	if (!st && da)
		st = same_numel(ctx, "mul backward", da, dy);
	if (!st && db)
		st = same_numel(ctx, "mul backward", db, dy);
	if (!st && da)
		st = mul(ctx, da, acc_a, dy, b);
	if (!st && db)
		st = mul(ctx, db, acc_b, dy, a);
	return st;
}

dim_status dim_scale_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x, float alpha)
{
	dim_status st = same_numel(ctx, "scale forward", y, x);
	return st ? st : lincomb(ctx, y, 0, alpha, x, 0.0f, NULL);
}

dim_status dim_scale_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
			      const dim_tensor *dy, float alpha)
{
	if (!dx)
		return DIM_OK;
	dim_status st = same_numel(ctx, "scale backward", dx, dy);
	return st ? st : lincomb(ctx, dx, accumulate, alpha, dy, 0.0f, NULL);
}

dim_status dim_add_scaled(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x, float alpha)
{
	dim_status st = same_numel(ctx, "add_scaled", y, x);
	return st ? st : lincomb(ctx, y, 1, alpha, x, 0.0f, NULL);
}

/* ------------------------------------------------------------ reductions */

dim_status dim_sum_forward(dim_ctx *ctx, dim_arena *ws, const dim_tensor *y, const dim_tensor *x,
			   bool mean)
{
	dim_error *err = dim_ctx_error(ctx);
	if (!y || !x || dim_tensor_numel(y) != 1)
		return dim_fail(err, DIM_ERR_ARG, "sum forward: y must have one element");
	size_t n = dim_tensor_numel(x);
	if (!n || n > INT_MAX_N)
		return dim_fail(err, DIM_ERR_ARG, "sum forward: %zu elements", n);
	float scale = mean ? (float)(1.0 / (double)n) : 1.0f;
	if (n <= SUM_CHUNK)
		return reduce_rows(ctx, y->buf, 0, x->buf, 1, n, n, scale);
	size_t parts = (n + SUM_CHUNK - 1) / SUM_CHUNK;
	if (!ws)
		return dim_fail(err, DIM_ERR_ARG, "sum forward: %zu elements need a workspace", n);
	dim_buf partial;
	dim_status st = dim_arena_alloc(ws, parts * sizeof(float), &partial);
	if (!st)
		st = reduce_rows(ctx, partial, 0, x->buf, parts, SUM_CHUNK, n, 1.0f);
	if (!st)
		st = reduce_rows(ctx, y->buf, 0, partial, 1, parts, parts, scale);
	return st;
}

dim_status dim_sum_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
			    const dim_tensor *dy, bool mean)
{
	if (!dx)
		return DIM_OK;
	size_t n = dim_tensor_numel(dx);
	if (!dy || dim_tensor_numel(dy) != 1 || !n || n > INT_MAX_N)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"sum backward: dy must have one element");
	return expand_rows(ctx, dx->buf, accumulate, dy->buf, 1, n,
			   mean ? (float)(1.0 / (double)n) : 1.0f);
}

dim_status dim_sum_rows_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x, bool mean)
{
	size_t rows, D;
	dim_status st = rows_of(ctx, "sum_rows forward", x, y, &rows, &D);
	if (st)
		return st;
	return reduce_rows(ctx, y->buf, 0, x->buf, rows, D, rows * D,
			   mean ? (float)(1.0 / (double)D) : 1.0f);
}

dim_status dim_sum_rows_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
				 const dim_tensor *dy, bool mean)
{
	if (!dx)
		return DIM_OK;
	size_t rows, D;
	dim_status st = rows_of(ctx, "sum_rows backward", dx, dy, &rows, &D);
	if (st)
		return st;
	return expand_rows(ctx, dx->buf, accumulate, dy->buf, rows, D,
			   mean ? (float)(1.0 / (double)D) : 1.0f);
}
