/* The encoders of the paper's CPC comparison (docs/method.md §2): strided
 * crops with a convnet per crop, folded back into a 7x7 local map, and the
 * bottleneck ResNet they use.
 *
 *   foldalex64       64x64 -> 49 crops 16x16 (stride 8)
 *                    per crop: AlexNet convs 1-5 (bias, BN, ReLU, pools)   192x1x1
 *                    fold                                         M = conv 192x7x7
 *                    conv 384 k3 s2 p0, BN, ReLU                           384x3x3
 *                    fc 4096 (bias), BN, ReLU                         fc = 4096
 *                    Y = linear 64
 *   foldresnet19_32  32x32 -> 49 crops 8x8 (stride 4)
 *                    per crop: conv 64 k3 s2 p1, BN, ReLU                  64x4x4
 *                    6 bottleneck blocks (mid 64, 64, 128/s2, 128, 256/s2, 256;
 *                    out = 4*mid)                                          1024x1x1
 *                    fold                                        M = conv 1024x7x7
 *                    fc 1024, BN, ReLU; Y = linear 64
 *   resnet19_32      the same stem and blocks on the whole 32x32 image:
 *                    64x16x16 -> 256x16x16 (x2) -> 512x8x8 (x2) -> 1024x4x4 (x2);
 *                    M = conv = the 4th block's output, 512x8x8 (official
 *                    local_idx 4); fc 1024; Y 64.
 *
 * Block counts from the official configs/resnets.py (each of the six stages
 * repeats once; 1 stem conv + 6 x 3 block convs = 19). Dropout of the official
 * foldalex64x64 (Dropout2d 0.1 after the post-fold conv, Dropout 0.1 in the
 * fc) is left out. Parameter names match tools/pytorch/cldim_torch.py. */
#include <stdarg.h>
#include <string.h>

#include "cldim/tape_ops.h"
#include "models_internal.h"

#define EXPANSION 4

struct resnet_spec {
	const char *name;
	int input, crop, crop_stride;
	int nblocks, m_block; /* m_block: unfolded encoders only */
	int mid[DIM_ENC_MAX_BLOCKS], stride[DIM_ENC_MAX_BLOCKS];
};

static const struct resnet_spec resnets[] = {
	{"foldresnet19_32", 32, 8, 4, 6, -1, {64, 64, 128, 128, 256, 256}, {1, 1, 2, 1, 2, 1}},
	{"resnet19_32", 32, 0, 0, 6, 3, {64, 64, 128, 128, 256, 256}, {1, 1, 2, 1, 2, 1}},
};

static const struct resnet_spec *find_resnet(const char *name)
{
	for (size_t i = 0; i < sizeof resnets / sizeof resnets[0]; i++)
		if (!strcmp(resnets[i].name, name))
			return &resnets[i];
	return NULL;
}

int dim_resnet_input_size(const char *name)
{
	if (!strcmp(name, "foldalex64"))
		return 64;
	const struct resnet_spec *sp = find_resnet(name);
	return sp ? sp->input : 0;
}

/* ------------------------------------------------------------------ build */

static dim_status add(dim_params *ps, int ndim, const int *shape, bool train, dim_param **out,
		      const char *fmt, ...)
{
	char n[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n, sizeof n, fmt, ap);
	va_end(ap);
	return dim_params_add(ps, n, ndim, shape, train, out);
}

/* BatchNorm under prefix: weight 1, bias 0, running_mean 0, running_var 1. */
static dim_status add_bn(dim_params *ps, const char *prefix, int c, dim_param **w, dim_param **b,
			 dim_param **mean, dim_param **var)
{
	dim_status st;
	if ((st = add(ps, 1, &c, true, w, "%s.weight", prefix)) ||
	    (st = add(ps, 1, &c, true, b, "%s.bias", prefix)) ||
	    (st = add(ps, 1, &c, false, mean, "%s.running_mean", prefix)) ||
	    (st = add(ps, 1, &c, false, var, "%s.running_var", prefix)) ||
	    (st = dim_param_init_const(ps->ctx, *w, 1.0f)))
		return st;
	return dim_param_init_const(ps->ctx, *var, 1.0f);
}

/* Weight init: std > 0 draws N(0, std), else PyTorch's default U(+-1/sqrt(fan_in)). */
static dim_status init_w(dim_params *ps, dim_param *p, int fan_in, float std, uint64_t seed)
{
	if (std > 0)
		return dim_param_init_normal(ps->ctx, p, 0.0f, std, seed);
	return dim_param_init_fan_in(ps->ctx, p, fan_in, seed);
}

/* A conv layer (no pool) of layers[]: weight [out, in, k, k] under
 * encoder.conv<i>, BN under encoder.bn<i>, optional bias. */
static dim_status build_conv(dim_params *ps, dim_enc_layer *L, int i, int in_c, int in_h, int out,
			     int k, int stride, int pad, int pool_k, int pool_s, bool bias, float std,
			     uint64_t seed)
{
	char n[64];
	dim_status st;
	int fan_in = in_c * k * k;
	*L = (dim_enc_layer){.is_conv = 1, .out = out, .k = k, .stride = stride, .pad = pad,
			     .pool_k = pool_k, .pool_s = pool_s, .in_c = in_c, .in_h = in_h,
			     .in_w = in_h};
	int h = (in_h + 2 * pad - k) / stride + 1;
	if (pool_k)
		h = (h - pool_k) / pool_s + 1;
	L->out_h = L->out_w = h;
	if ((st = add(ps, 4, (int[]){out, in_c, k, k}, true, &L->w, "encoder.conv%d.weight", i)) ||
	    (st = init_w(ps, L->w, fan_in, std, seed)))
		return st;
	if (bias && ((st = add(ps, 1, &out, true, &L->b, "encoder.conv%d.bias", i)) ||
		     (st = dim_param_init_fan_in(ps->ctx, L->b, fan_in, seed))))
		return st;
	snprintf(n, sizeof n, "encoder.bn%d", i);
	return add_bn(ps, n, out, &L->bn_w, &L->bn_b, &L->bn_mean, &L->bn_var);
}

/* fc layer i of layers[]: weight [out, in] under encoder.fc<i>, BN under encoder.bnfc<i>. */
static dim_status build_fc(dim_params *ps, dim_enc_layer *L, int i, int in, int out, bool bias,
			   float std, uint64_t seed)
{
	char n[64];
	dim_status st;
	*L = (dim_enc_layer){.is_conv = 0, .out = out, .in_c = in, .out_h = 1, .out_w = 1};
	if ((st = add(ps, 2, (int[]){out, in}, true, &L->w, "encoder.fc%d.weight", i)) ||
	    (st = init_w(ps, L->w, in, std, seed)))
		return st;
	if (bias && ((st = add(ps, 1, &out, true, &L->b, "encoder.fc%d.bias", i)) ||
		     (st = dim_param_init_fan_in(ps->ctx, L->b, in, seed))))
		return st;
	snprintf(n, sizeof n, "encoder.bnfc%d", i);
	return add_bn(ps, n, out, &L->bn_w, &L->bn_b, &L->bn_mean, &L->bn_var);
}

static dim_status build_block(dim_params *ps, dim_enc_block *B, int i, int in_c, int in_h,
			      int mid, int stride, uint64_t seed)
{
	static const int ks[3] = {1, 3, 1};
	char n[64];
	dim_status st;
	*B = (dim_enc_block){.in_c = in_c, .mid_c = mid, .out_c = mid * EXPANSION,
			     .stride = stride, .in_h = in_h};
	B->out_h = (in_h + 2 - 3) / stride + 1;
	int cin[3] = {in_c, mid, mid}, cout[3] = {mid, mid, mid * EXPANSION};
	for (int j = 0; j < 3; j++) {
		if ((st = add(ps, 4, (int[]){cout[j], cin[j], ks[j], ks[j]}, true, &B->w[j],
			      "encoder.blocks.%d.conv%d.weight", i, j)) ||
		    (st = init_w(ps, B->w[j], cin[j] * ks[j] * ks[j], 0, seed)))
			return st;
		snprintf(n, sizeof n, "encoder.blocks.%d.bn%d", i, j);
		if ((st = add_bn(ps, n, cout[j], &B->bn_w[j], &B->bn_b[j], &B->bn_mean[j],
				 &B->bn_var[j])))
			return st;
	}
	if (in_c == B->out_c && stride == 1)
		return DIM_OK;
	if ((st = add(ps, 4, (int[]){B->out_c, in_c, 1, 1}, true, &B->sc_w,
		      "encoder.blocks.%d.shortcut.weight", i)) ||
	    (st = init_w(ps, B->sc_w, in_c, 0, seed)))
		return st;
	snprintf(n, sizeof n, "encoder.blocks.%d.shortcut_bn", i);
	return add_bn(ps, n, B->out_c, &B->sc_bn_w, &B->sc_bn_b, &B->sc_bn_mean, &B->sc_bn_var);
}

static dim_status build_y(dim_encoder *e, dim_params *ps, int feat, uint64_t seed)
{
	dim_status st;
	e->fc_dim = feat;
	if ((st = add(ps, 2, (int[]){e->y_dim, feat}, true, &e->y_w, "encoder.y.weight")) ||
	    (st = add(ps, 1, &e->y_dim, true, &e->y_b, "encoder.y.bias")) ||
	    (st = dim_param_init_fan_in(ps->ctx, e->y_w, feat, seed)))
		return st;
	return dim_param_init_fan_in(ps->ctx, e->y_b, feat, seed);
}

static void set_shape(int *dst, int c, int h, int w)
{
	dst[0] = c;
	dst[1] = h;
	dst[2] = w;
}

/* foldalex64x64 (official configs/convnets.py): N(0, 0.02) weights on the
 * per-crop convs and the fc, with biases; the post-fold conv has no bias. */
static dim_status build_foldalex(dim_encoder *e, dim_params *ps, uint64_t seed)
{
	static const struct {
		int out, pool;
	} convs[5] = {{96, 1}, {192, 1}, {384, 0}, {384, 0}, {192, 1}};
	const float std = 0.02f;
	dim_status st;
	e->kind = DIM_ENC_FOLD_CONV;
	e->crop = 16;
	e->crop_stride = 8;
	e->grid = dim_crops_grid(e->input_size, e->crop, e->crop_stride);
	int c = e->in_channels, h = e->crop;
	for (int i = 0; i < 5; i++) {
		dim_enc_layer *L = &e->layers[i];
		if ((st = build_conv(ps, L, i, c, h, convs[i].out, 3, 1, 1, convs[i].pool ? 3 : 0,
				     convs[i].pool ? 2 : 0, true, std, seed)))
			return st;
		c = L->out;
		h = L->out_h;
	}
	e->fold_after = 4; /* each crop ends at 192x1x1 */
	set_shape(e->m_shape, c * h * h, e->grid, e->grid);
	set_shape(e->conv_shape, c * h * h, e->grid, e->grid);
	e->m_layer = 4;
	if ((st = build_conv(ps, &e->layers[5], 5, c * h * h, e->grid, 2 * 192, 3, 2, 0, 0, 0,
			     false, 0, seed)))
		return st;
	int feat = e->layers[5].out * e->layers[5].out_h * e->layers[5].out_w;
	if ((st = build_fc(ps, &e->layers[6], 0, feat, 4096, true, std, seed)))
		return st;
	e->nlayers = 7;
	return build_y(e, ps, 4096, seed);
}

static dim_status build_resnet(dim_encoder *e, dim_params *ps, const struct resnet_spec *sp,
			       uint64_t seed)
{
	dim_status st;
	e->kind = DIM_ENC_RESNET;
	e->crop = sp->crop;
	e->crop_stride = sp->crop_stride;
	e->grid = sp->crop ? dim_crops_grid(e->input_size, sp->crop, sp->crop_stride) : 0;
	int c = e->in_channels, h = sp->crop ? sp->crop : e->input_size;
	if ((st = build_conv(ps, &e->layers[0], 0, c, h, 64, 3, 2, 1, 0, 0, false, 0, seed)))
		return st;
	c = 64;
	h = e->layers[0].out_h;
	e->nblocks = sp->nblocks;
	e->m_block = sp->crop ? sp->nblocks - 1 : sp->m_block;
	for (int i = 0; i < sp->nblocks; i++) {
		dim_enc_block *B = &e->blocks[i];
		if ((st = build_block(ps, B, i, c, h, sp->mid[i], sp->stride[i], seed)))
			return st;
		c = B->out_c;
		h = B->out_h;
		if (!sp->crop && i == sp->m_block)
			set_shape(e->m_shape, c, h, h);
	}
	int feat = c * h * h;
	if (sp->crop) {
		/* the fold stacks each crop's c x h x h map as channels */
		set_shape(e->m_shape, c * h * h, e->grid, e->grid);
		feat = c * h * h * e->grid * e->grid;
	}
	memcpy(e->conv_shape, e->m_shape, sizeof e->conv_shape);
	if ((st = build_fc(ps, &e->layers[1], 0, feat, 1024, false, 0, seed)))
		return st;
	e->nlayers = 2;
	e->m_layer = 0;
	return build_y(e, ps, 1024, seed);
}

dim_status dim_resnet_build(dim_encoder *e, dim_params *ps, const char *name, int in_channels,
			    int y_dim, uint64_t seed)
{
	dim_error *err = dim_ctx_error(ps->ctx);
	int input = dim_resnet_input_size(name);
	if (!input)
		return dim_fail(err, DIM_ERR_ARG, "unknown encoder '%s'", name);
	if (in_channels < 1 || in_channels > 16 || y_dim < 1 || y_dim > 65536)
		return dim_fail(err, DIM_ERR_ARG, "encoder %s: bad in_channels %d or y_dim %d", name,
				in_channels, y_dim);
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	e->in_channels = in_channels;
	e->input_size = input;
	e->y_dim = y_dim;
	e->bn_momentum = 0.1f;
	e->bn_eps = 1e-5f;
	if (!strcmp(name, "foldalex64"))
		return build_foldalex(e, ps, seed);
	return build_resnet(e, ps, find_resnet(name), seed);
}

/* ---------------------------------------------------------------- forward */

/* The var of p, or NULL when p is NULL (an absent bias). */
static dim_status param_or_null(dim_tape *t, dim_param *p, dim_var **out)
{
	*out = NULL;
	return p ? dim_tape_param(t, p, out) : DIM_OK;
}

static dim_status bn(dim_tape *t, const dim_encoder *e, dim_var *x, dim_param *w, dim_param *b,
		     dim_param *mean, dim_param *var, bool relu, dim_var **out)
{
	dim_batchnorm_desc d = {e->bn_eps, e->bn_momentum, 1};
	dim_var *wv, *bv, *y;
	dim_status st;
	if ((st = dim_tape_param(t, w, &wv)) || (st = dim_tape_param(t, b, &bv)) ||
	    (st = dim_t_batchnorm(t, &d, x, wv, bv, mean, var, &y)))
		return st;
	if (!relu) {
		*out = y;
		return DIM_OK;
	}
	return dim_t_relu(t, y, out);
}

static dim_status conv(dim_tape *t, dim_var *x, dim_param *w, dim_param *b, int stride, int pad,
		       dim_var **out)
{
	dim_conv2d_desc d = {stride, stride, pad, pad};
	dim_var *wv, *bv;
	dim_status st;
	if ((st = dim_tape_param(t, w, &wv)) || (st = param_or_null(t, b, &bv)))
		return st;
	return dim_t_conv2d(t, &d, x, wv, bv, out);
}

/* conv [-> bias] -> BN -> ReLU [-> max pool] of a layers[] entry */
static dim_status conv_layer(dim_tape *t, const dim_encoder *e, const dim_enc_layer *L,
			     dim_var *x, dim_var **out)
{
	dim_var *h;
	dim_status st;
	if ((st = conv(t, x, L->w, L->b, L->stride, L->pad, &h)) ||
	    (st = bn(t, e, h, L->bn_w, L->bn_b, L->bn_mean, L->bn_var, true, &h)))
		return st;
	if (!L->pool_k) {
		*out = h;
		return DIM_OK;
	}
	return dim_t_maxpool2d(t, &(dim_pool2d_desc){L->pool_k, L->pool_k, L->pool_s, L->pool_s,
						     0, 0, false, false}, h, out);
}

static dim_status fc_layer(dim_tape *t, const dim_encoder *e, const dim_enc_layer *L,
			   dim_var *x, dim_var **out)
{
	dim_var *w, *b, *h;
	dim_status st = DIM_OK;
	if (x && x->val.ndim != 2)
		st = dim_t_flatten(t, x, &x);
	if (st || (st = dim_tape_param(t, L->w, &w)) || (st = param_or_null(t, L->b, &b)) ||
	    (st = dim_t_linear(t, x, w, b, &h)))
		return st;
	return bn(t, e, h, L->bn_w, L->bn_b, L->bn_mean, L->bn_var, true, out);
}

static dim_status block(dim_tape *t, const dim_encoder *e, const dim_enc_block *B, dim_var *x,
			dim_var **out)
{
	dim_var *r = x, *h;
	dim_status st = DIM_OK;
	if (B->sc_w &&
	    ((st = conv(t, x, B->sc_w, NULL, B->stride, 0, &r)) ||
	     (st = bn(t, e, r, B->sc_bn_w, B->sc_bn_b, B->sc_bn_mean, B->sc_bn_var, false, &r))))
		return st;
	if ((st = conv(t, x, B->w[0], NULL, 1, 0, &h)) ||
	    (st = bn(t, e, h, B->bn_w[0], B->bn_b[0], B->bn_mean[0], B->bn_var[0], true, &h)) ||
	    (st = conv(t, h, B->w[1], NULL, B->stride, 1, &h)) ||
	    (st = bn(t, e, h, B->bn_w[1], B->bn_b[1], B->bn_mean[1], B->bn_var[1], true, &h)) ||
	    (st = conv(t, h, B->w[2], NULL, 1, 0, &h)) ||
	    (st = bn(t, e, h, B->bn_w[2], B->bn_b[2], B->bn_mean[2], B->bn_var[2], false, &h)) ||
	    (st = dim_t_add(t, h, r, &h)))
		return st;
	return dim_t_relu(t, h, out);
}

dim_status dim_resnet_forward(dim_tape *t, const dim_encoder *e, dim_var *x, dim_encoder_out *out)
{
	dim_var *h = x, *w, *b;
	dim_status st = DIM_OK;
	if (e->crop && (st = dim_t_unfold_crops(t, x, e->crop, e->crop_stride, &h)))
		return st;
	if (e->kind == DIM_ENC_FOLD_CONV) {
		for (int i = 0; i < e->nlayers && !st; i++) {
			const dim_enc_layer *L = &e->layers[i];
			if (!L->is_conv) {
				if (!(st = fc_layer(t, e, L, h, &h)))
					out->fc = h;
				continue;
			}
			st = conv_layer(t, e, L, h, &h);
			if (!st && i == e->fold_after &&
			    !(st = dim_t_fold_crops(t, h, e->grid, e->grid, &h)))
				out->M = out->conv = h;
		}
	} else {
		st = conv_layer(t, e, &e->layers[0], h, &h);
		for (int i = 0; i < e->nblocks && !st; i++) {
			st = block(t, e, &e->blocks[i], h, &h);
			if (!st && !e->crop && i == e->m_block)
				out->M = out->conv = h;
		}
		if (!st && e->crop && !(st = dim_t_fold_crops(t, h, e->grid, e->grid, &h)))
			out->M = out->conv = h;
		if (!st && !(st = fc_layer(t, e, &e->layers[1], h, &h)))
			out->fc = h;
	}
	if (st || (st = dim_tape_param(t, e->y_w, &w)) || (st = dim_tape_param(t, e->y_b, &b)) ||
	    (st = dim_t_linear(t, h, w, b, &out->Y)))
		return st;
	return DIM_OK;
}
