/* 2-D convolution: im2col + GEMM, and a direct GEMM for 1x1 (see op_conv.h
 * for shapes and the gradient contract; cl/conv.cl and cl/im2col.cl for the
 * kernels).
 *
 * R = C*KH*KW, P = OH*OW, NP = N*P. Forward, either (PER_IMAGE_MIN_P below)
 *   per image:  col[N][R][P] = im2col(x)          im2col_fwd
 *               y_n[O][P]    = W[O][R] * col_n     dim_gemm_batched (W shared)
 *               y           += bias                conv_bias_add
 *   or batched: col[R][NP]   = im2col(x)           im2col_fwd
 *               yt[O][NP]    = W * col             dim_gemm
 *               y[N][O][P]   = permute(yt) + bias  conv_swap01
 * 1x1 with stride 1 and pad 0 needs no im2col on the per-image path
 * (col_n = x_n). Backward (one GEMM over the batch: dW sums over images):
 *   dyt[O][NP]   = permute(dy)                    conv_swap01 (skipped if N == 1)
 *   db          += sum over n, p of dy            conv_bias_grad
 *   dW[O][R]    += dyt * col^T                    im2col again + dim_gemm
 *   dcol[R][NP]  = W^T * dyt                      dim_gemm
 *   dx           = col2im(dcol) (gather)          im2col_adj
 * 1x1 with P >= PER_IMAGE_MIN_P: dx_n = W^T * dy_n (batched GEMM), and
 * dW += dyt * xt^T with xt[C][NP] = permute(x). */
#include <stdio.h>
#include <string.h>

#include "cldim/op_conv.h"

#define PROG "conv"

/* Forward: per-image GEMMs (strided batched, W shared) when an image has at
 * least this many output pixels, else one GEMM over the whole batch plus a
 * permute. Measured on PoCL (2-core Xeon, CLBlast 1.5.3, batch 64): per image
 * wins at P = 64..256 (k4s2 64->128 on 16x16: 56 vs 75 ms; 1x1 64->128 on
 * 16x16: 14.5 vs 22 ms), the single GEMM at P = 16 (1x1 256->512 on 4x4: 12.7
 * vs 20.5 ms). The 1x1 backward follows the same switch. With the own CPU GEMM
 * backend (it repacks W for every image of the per-image loop) the single
 * GEMM already wins at P = 64 (dcgan32 batch 64, k4s2 64->128 on 16x16 -> 8x8:
 * 22.6 vs 33.3 ms forward) and loses at P = 256 (3->64 on 32x32: 6.2 vs
 * 4.8 ms), so im2col convolutions switch at 256 there. */
#define PER_IMAGE_MIN_P 64
#define PER_IMAGE_MIN_P_OWN_GEMM 256

static size_t per_image_min_p(dim_ctx *ctx, int is_1x1_conv)
{
	if (!is_1x1_conv && !strcmp(dim_gemm_backend_name(ctx), "own"))
		return PER_IMAGE_MIN_P_OWN_GEMM;
	return PER_IMAGE_MIN_P;
}

int dim_conv2d_out_size(int in, int kernel, int stride, int pad)
{
	if (stride < 1)
		return 0;
	int span = in + 2 * pad - kernel;
	return span < 0 ? 0 : span / stride + 1;
}

/* The sizes of one call, validated. */
struct conv_shape {
	int N, C, H, W, O, KH, KW, OH, OW;
	size_t P, R, NP;
};

static dim_status check_shapes(dim_ctx *ctx, const char *who, const dim_conv2d_desc *d,
			       const dim_tensor *y, const dim_tensor *x, const dim_tensor *w,
			       const dim_tensor *b, struct conv_shape *s)
{
	dim_error *err = dim_ctx_error(ctx);
	char a[64], c[64];
	if (!d || d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0)
		return dim_fail(err, DIM_ERR_ARG, "%s: stride must be >= 1 and padding >= 0", who);
	if (!x || !w || !y || x->ndim != 4 || w->ndim != 4 || y->ndim != 4)
		return dim_fail(err, DIM_ERR_ARG, "%s: x, weight and y must be 4-D", who);
	s->N = x->shape[0];
	s->C = x->shape[1];
	s->H = x->shape[2];
	s->W = x->shape[3];
	s->O = w->shape[0];
	s->KH = w->shape[2];
	s->KW = w->shape[3];
	if (w->shape[1] != s->C)
		return dim_fail(err, DIM_ERR_ARG, "%s: weight %s does not match input %s", who,
				dim_shape_str(4, w->shape, a, sizeof a),
				dim_shape_str(4, x->shape, c, sizeof c));
	s->OH = dim_conv2d_out_size(s->H, s->KH, d->stride_h, d->pad_h);
	s->OW = dim_conv2d_out_size(s->W, s->KW, d->stride_w, d->pad_w);
	if (s->OH < 1 || s->OW < 1)
		return dim_fail(err, DIM_ERR_ARG, "%s: kernel %dx%d does not fit input %s", who,
				s->KH, s->KW, dim_shape_str(4, x->shape, a, sizeof a));
	const int want[4] = {s->N, s->O, s->OH, s->OW};
	if (memcmp(y->shape, want, sizeof want))
		return dim_fail(err, DIM_ERR_ARG, "%s: output is %s, expected %s", who,
				dim_shape_str(4, y->shape, a, sizeof a),
				dim_shape_str(4, want, c, sizeof c));
	if (b && (b->ndim != 1 || b->shape[0] != s->O))
		return dim_fail(err, DIM_ERR_ARG, "%s: bias %s, expected [%d]", who,
				dim_shape_str(b->ndim, b->shape, a, sizeof a), s->O);
	s->P = (size_t)s->OH * s->OW;
	s->R = (size_t)s->C * s->KH * s->KW;
	s->NP = (size_t)s->N * s->P;
	if (s->R * s->NP > (size_t)0x7fffffff || s->O * s->NP > (size_t)0x7fffffff ||
	    dim_tensor_numel(x) > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: too large for 32-bit indexing", who);
	return DIM_OK;
}

static int is_1x1(const dim_conv2d_desc *d, const struct conv_shape *s)
{
	return s->KH == 1 && s->KW == 1 && d->stride_h == 1 && d->stride_w == 1 &&
	       d->pad_h == 0 && d->pad_w == 0;
}

static dim_status kernel(dim_ctx *ctx, const char *name, dim_kernel **k)
{
	return dim_kernel_get(ctx, PROG, NULL, name, k);
}

/* The im2col.cl kernel `name` built for this layer geometry. */
static dim_status im2col_kernel(dim_ctx *ctx, const dim_conv2d_desc *d,
				const struct conv_shape *s, const char *name, dim_kernel **k)
{
	char opts[160];
	snprintf(opts, sizeof opts,
		 "-DKH=%d -DKW=%d -DSH=%d -DSW=%d -DPH=%d -DPW=%d -DH=%d -DW=%d -DOH=%d -DOW=%d",
		 s->KH, s->KW, d->stride_h, d->stride_w, d->pad_h, d->pad_w, s->H, s->W, s->OH,
		 s->OW);
	return dim_kernel_get(ctx, "im2col", opts, name, k);
}

/* The largest divisor of `pixels` that is a legal work-group size, up to 256
 * (PoCL spends about a microsecond per group). */
static size_t pixel_group(const dim_kernel *k, size_t pixels)
{
	size_t cap = dim_kernel_max_wg(k) < 256 ? dim_kernel_max_wg(k) : 256;
	size_t lx = pixels < cap ? pixels : cap;
	while (pixels % lx)
		lx--;
	return lx;
}

/* The 3-D range (pixels, rows, N) of im2col.cl: work-groups of up to 256
 * pixels of one plane, a divisor of the pixel count (the kernels have no
 * bounds test). */
static void plane_range(const dim_kernel *k, const struct conv_shape *s, size_t pixels,
			size_t rows, size_t global[3], size_t local[3])
{
	size_t lx = pixel_group(k, pixels);
	global[0] = pixels;
	global[1] = rows;
	global[2] = (size_t)s->N;
	local[0] = lx;
	local[1] = 1;
	local[2] = 1;
}

/* col from x with the ld_row/ld_img index map of im2col.cl: (NP, P) is the
 * batched [R][N*P] layout, (P, R*P) the per-image [N][R][P] one. */
static dim_status im2col(dim_ctx *ctx, const dim_conv2d_desc *d, const struct conv_shape *s,
			 dim_buf col, dim_buf x, size_t ld_row, size_t ld_img)
{
	dim_kernel *k;
	size_t global[3], local[3];
	dim_status st = im2col_kernel(ctx, d, s, "im2col_fwd", &k);
	if (st)
		return st;
	plane_range(k, s, s->P, s->R, global, local);
	return DIM_LAUNCH(ctx, k, 3, global, local, DIM_BUF(x), DIM_BUF(col), DIM_INT(s->C),
			  DIM_INT(ld_row), DIM_INT(ld_img));
}

/* dx (+)= col2im(dcol), the adjoint of im2col (batched layout). */
static dim_status col2im(dim_ctx *ctx, const dim_conv2d_desc *d, const struct conv_shape *s,
			 dim_buf dx, dim_buf dcol, int accumulate)
{
	dim_kernel *k;
	size_t global[3], local[3];
	dim_status st = im2col_kernel(ctx, d, s, "im2col_adj", &k);
	if (st)
		return st;
	plane_range(k, s, (size_t)s->H * s->W, (size_t)s->C, global, local);
	return DIM_LAUNCH(ctx, k, 3, global, local, DIM_BUF(dcol), DIM_BUF(dx), DIM_INT(s->C),
			  DIM_INT(s->NP), DIM_INT(s->P), DIM_INT(accumulate));
}

/* out[B][A][P] = in[A][B][P] (+ bias[a]). */
static dim_status swap01(dim_ctx *ctx, dim_buf out, dim_buf in, const dim_tensor *bias, size_t A,
			 size_t B, size_t P)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "conv_swap01", &k);
	if (st)
		return st;
	/* a work-group of a divisor of P (PoCL: ~1 µs per group), else 64 with
	 * the range padded (the kernel tests p < P) */
	size_t lx = pixel_group(k, P);
	if (lx < 16)
		lx = dim_kernel_max_wg(k) < 64 ? dim_kernel_max_wg(k) : 64;
	size_t global[3] = {P, A, B}, local[3] = {lx, 1, 1};
	return DIM_LAUNCH(ctx, k, 3, global, local, DIM_BUF(in), DIM_BUF(out),
			  DIM_BUF(bias ? bias->buf : in), DIM_INT(A), DIM_INT(B), DIM_INT(P),
			  DIM_INT(bias != NULL));
}

static dim_status bias_add(dim_ctx *ctx, const struct conv_shape *s, dim_buf y, dim_buf bias)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "conv_bias_add", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)s->O * s->NP, DIM_BUF(y), DIM_BUF(bias),
			     DIM_INT(s->N), DIM_INT(s->O), DIM_INT(s->P));
}

static dim_status bias_grad(dim_ctx *ctx, const struct conv_shape *s, dim_buf db, dim_buf dy)
{
	dim_kernel *k;
	dim_status st = kernel(ctx, "conv_bias_grad", &k);
	if (st)
		return st;
	size_t cap = dim_kernel_max_wg(k) < 256 ? dim_kernel_max_wg(k) : 256, local = 1;
	while (local * 2 <= cap && local < s->NP)
		local *= 2;
	size_t global = (size_t)s->O * local;
	return DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_BUF(dy), DIM_BUF(db), DIM_INT(s->N),
			  DIM_INT(s->O), DIM_INT(s->P), DIM_LOCAL(local * sizeof(float)));
}

static dim_status ws_alloc(dim_arena *ws, size_t floats, dim_buf *out)
{
	return dim_arena_alloc(ws, floats * sizeof(float), out);
}

dim_status dim_conv2d_forward(dim_ctx *ctx, const dim_conv2d_desc *d, dim_arena *ws,
			      const dim_tensor *y, const dim_tensor *x, const dim_tensor *weight,
			      const dim_tensor *bias)
{
	struct conv_shape s;
	dim_status st = check_shapes(ctx, "conv2d forward", d, y, x, weight, bias, &s);
	if (st)
		return st;
	dim_buf col, yt = y->buf;
	if (s.P >= per_image_min_p(ctx, is_1x1(d, &s)) || s.N == 1) {
		/* y_n[O][P] = W * col_n, col_n = x_n itself for 1x1 */
		dim_buf b = x->buf;
		if (!is_1x1(d, &s)) {
			st = ws_alloc(ws, s.R * s.NP, &b);
			if (!st)
				st = im2col(ctx, d, &s, b, x->buf, s.P, s.R * s.P);
		}
		if (!st)
			st = dim_gemm_batched(ctx, DIM_NO_TRANS, DIM_NO_TRANS, s.O, s.P, s.R, 1.0f,
					      weight->buf, s.R, 0, b, s.P, s.R * s.P, 0.0f, y->buf,
					      s.P, s.O * s.P, s.N);
		if (st || !bias)
			return st;
		return bias_add(ctx, &s, y->buf, bias->buf);
	}
	st = ws_alloc(ws, s.R * s.NP, &col);
	if (!st)
		st = ws_alloc(ws, (size_t)s.O * s.NP, &yt);
	if (!st)
		st = im2col(ctx, d, &s, col, x->buf, s.NP, s.P);
	if (!st)
		st = dim_gemm(ctx, DIM_NO_TRANS, DIM_NO_TRANS, s.O, s.NP, s.R, 1.0f, weight->buf,
			      s.R, col, s.NP, 0.0f, yt, s.NP);
	if (st)
		return st;
	return swap01(ctx, y->buf, yt, bias, s.O, s.N, s.P);
}

static dim_status backward_1x1(dim_ctx *ctx, dim_arena *ws, const struct conv_shape *s,
			       const dim_tensor *dx, int accumulate, const dim_tensor *dweight,
			       const dim_tensor *dy, const dim_tensor *x, const dim_tensor *weight)
{
	dim_status st = DIM_OK;
	if (dx)
		st = dim_gemm_batched(ctx, DIM_TRANS, DIM_NO_TRANS, s->C, s->P, s->O, 1.0f,
				      weight->buf, s->C, 0, dy->buf, s->P, s->O * s->P,
				      accumulate ? 1.0f : 0.0f, dx->buf, s->P, s->C * s->P, s->N);
	if (st || !dweight)
		return st;
	dim_buf dyt = dy->buf, xt = x->buf;
	if (s->N > 1) {
		st = ws_alloc(ws, (size_t)s->O * s->NP, &dyt);
		if (!st)
			st = ws_alloc(ws, (size_t)s->C * s->NP, &xt);
		if (!st)
			st = swap01(ctx, dyt, dy->buf, NULL, s->N, s->O, s->P);
		if (!st)
			st = swap01(ctx, xt, x->buf, NULL, s->N, s->C, s->P);
		if (st)
			return st;
	}
	return dim_gemm(ctx, DIM_NO_TRANS, DIM_TRANS, s->O, s->C, s->NP, 1.0f, dyt, s->NP, xt,
			s->NP, 1.0f, dweight->buf, s->C);
}

dim_status dim_conv2d_backward(dim_ctx *ctx, const dim_conv2d_desc *d, dim_arena *ws,
			       const dim_tensor *dx, int accumulate, const dim_tensor *dweight,
			       const dim_tensor *dbias, const dim_tensor *dy, const dim_tensor *x,
			       const dim_tensor *weight)
{
	struct conv_shape s;
	dim_status st = check_shapes(ctx, "conv2d backward", d, dy, x, weight, dbias, &s);
	if (st)
		return st;
	dim_error *err = dim_ctx_error(ctx);
	if (dx && (dx->ndim != 4 || memcmp(dx->shape, x->shape, sizeof(int) * 4)))
		return dim_fail(err, DIM_ERR_ARG, "conv2d backward: dx shape differs from x");
	if (dweight && (dweight->ndim != 4 || memcmp(dweight->shape, weight->shape, sizeof(int) * 4)))
		return dim_fail(err, DIM_ERR_ARG, "conv2d backward: dweight shape differs from weight");
	if (dbias) {
		st = bias_grad(ctx, &s, dbias->buf, dy->buf);
		if (st)
			return st;
	}
	if (is_1x1(d, &s) && s.P >= PER_IMAGE_MIN_P)
		return backward_1x1(ctx, ws, &s, dx, accumulate, dweight, dy, x, weight);
	if (!dx && !dweight)
		return DIM_OK;

	dim_buf dyt = dy->buf, col;
	if (s.N > 1) {
		st = ws_alloc(ws, (size_t)s.O * s.NP, &dyt);
		if (!st)
			st = swap01(ctx, dyt, dy->buf, NULL, s.N, s.O, s.P);
		if (st)
			return st;
	}
	st = ws_alloc(ws, s.R * s.NP, &col);
	if (st)
		return st;
	if (dweight) {
		st = im2col(ctx, d, &s, col, x->buf, s.NP, s.P);
		if (!st)
			st = dim_gemm(ctx, DIM_NO_TRANS, DIM_TRANS, s.O, s.R, s.NP, 1.0f, dyt, s.NP,
				      col, s.NP, 1.0f, dweight->buf, s.R);
		if (st || !dx)
			return st;
	}
	/* The in-order queue lets dcol reuse col once dW has consumed it. */
	dim_buf dcol = col;
	st = dim_gemm(ctx, DIM_TRANS, DIM_NO_TRANS, s.R, s.NP, s.O, 1.0f, weight->buf, s.R, dyt,
		      s.NP, 0.0f, dcol, s.NP);
	if (st)
		return st;
	return col2im(ctx, d, &s, dx->buf, dcol, accumulate);
}
