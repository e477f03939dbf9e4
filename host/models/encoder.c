/* The paper's encoders (docs/method.md §2) as tape forward functions. */
#include <math.h>
#include <string.h>

#include "cldim/models.h"
#include "cldim/tape_ops.h"
#include "models_internal.h"

struct layer_spec {
	int is_conv, out, k, stride, pad, pool_k, pool_s;
};

struct encoder_spec {
	const char *name;
	int input, m_layer, nlayers;
	struct layer_spec layers[DIM_ENC_MAX_LAYERS];
};

static const struct encoder_spec specs[] = {
	/* the official basic28x28 (configs/convnets.py): M = conv = 128x7x7 */
	{"basic28", 28, 1, 3, {{1, 64, 5, 2, 2, 0, 0}, {1, 128, 5, 2, 2, 0, 0},
			       {0, 1024, 0, 0, 0, 0, 0}}},
	/* basic32x32's k4 s2 p1 stack on 28x28: M = 128x7x7, conv = 256x3x3 */
	{"dcgan28", 28, 1, 4, {{1, 64, 4, 2, 1, 0, 0}, {1, 128, 4, 2, 1, 0, 0},
			       {1, 256, 4, 2, 1, 0, 0}, {0, 1024, 0, 0, 0, 0, 0}}},
	{"dcgan32", 32, 1, 4, {{1, 64, 4, 2, 1, 0, 0}, {1, 128, 4, 2, 1, 0, 0},
			       {1, 256, 4, 2, 1, 0, 0}, {0, 1024, 0, 0, 0, 0, 0}}},
	{"dcgan64", 64, 2, 5, {{1, 64, 4, 2, 1, 0, 0}, {1, 128, 4, 2, 1, 0, 0},
			       {1, 256, 4, 2, 1, 0, 0}, {1, 512, 4, 2, 1, 0, 0},
			       {0, 1024, 0, 0, 0, 0, 0}}},
	{"alexnet64", 64, 2, 7, {{1, 96, 3, 1, 1, 3, 2}, {1, 192, 3, 1, 1, 3, 2},
				 {1, 384, 3, 1, 1, 0, 0}, {1, 384, 3, 1, 1, 0, 0},
				 {1, 192, 3, 1, 1, 3, 2}, {0, 4096, 0, 0, 0, 0, 0},
				 {0, 4096, 0, 0, 0, 0, 0}}},
	/* Not from the paper: a test and smoke encoder, dcgan28's layout at 12x12
	 * with narrow layers (M = 16x3x3, conv = 32x1x1, fc 64; ~17 k weights), so
	 * that a whole DIM step, extraction and training run in seconds on a
	 * simulated GPU (Oclgrind runs one work-item at a time) */
	{"tiny12", 12, 1, 4, {{1, 8, 4, 2, 1, 0, 0}, {1, 16, 4, 2, 1, 0, 0},
			      {1, 32, 4, 2, 1, 0, 0}, {0, 64, 0, 0, 0, 0, 0}}},
};

/* Prior discriminators other than the paper's Y -> 1000 -> 200 -> 1: tiny12's
 * is narrow too (the paper's widths made 90% of a tiny12 step's time on
 * Oclgrind, in CLBlast GEMMs padded to its tiles). */
static const struct {
	const char *encoder;
	int widths[2];
} prior_specs[] = {{"tiny12", {32, 16}}};

const char *const dim_encoder_names[] = {"basic28",    "dcgan28",         "dcgan32",
					 "dcgan64",    "alexnet64",       "foldalex64",
					 "foldresnet19_32", "resnet19_32",  "tiny12", NULL};

int dim_encoder_input_size(const char *name)
{
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
		if (!strcmp(specs[i].name, name))
			return specs[i].input;
	return dim_resnet_input_size(name);
}

void dim_encoder_prior_widths(const char *name, int widths[2])
{
	widths[0] = 1000;
	widths[1] = 200;
	for (size_t i = 0; i < sizeof prior_specs / sizeof prior_specs[0]; i++)
		if (!strcmp(prior_specs[i].encoder, name)) {
			widths[0] = prior_specs[i].widths[0];
			widths[1] = prior_specs[i].widths[1];
		}
}

static dim_status add(dim_params *ps, const char *name, int ndim, const int *shape, bool train,
		      dim_param **out)
{
	return dim_params_add(ps, name, ndim, shape, train, out);
}

/* BatchNorm parameters and buffers under prefix: PyTorch's weight, bias,
 * running_mean, running_var. */
static dim_status add_bn(dim_params *ps, const char *prefix, int c, dim_param **w, dim_param **b,
			 dim_param **mean, dim_param **var)
{
	char n[96];
	dim_status st;
	snprintf(n, sizeof n, "%s.weight", prefix);
	if ((st = add(ps, n, 1, &c, true, w)))
		return st;
	snprintf(n, sizeof n, "%s.bias", prefix);
	if ((st = add(ps, n, 1, &c, true, b)))
		return st;
	snprintf(n, sizeof n, "%s.running_mean", prefix);
	if ((st = add(ps, n, 1, &c, false, mean)))
		return st;
	snprintf(n, sizeof n, "%s.running_var", prefix);
	if ((st = add(ps, n, 1, &c, false, var)))
		return st;
	if ((st = dim_param_init_const(ps->ctx, *w, 1.0f)))
		return st;
	return dim_param_init_const(ps->ctx, *var, 1.0f);
}

dim_status dim_encoder_build(dim_encoder *e, dim_params *ps, const char *name, int in_channels,
			     int y_dim, uint64_t seed)
{
	dim_error *err = dim_ctx_error(ps->ctx);
	const struct encoder_spec *sp = NULL;
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
		if (!strcmp(specs[i].name, name))
			sp = &specs[i];
	if (!sp && dim_resnet_input_size(name))
		return dim_resnet_build(e, ps, name, in_channels, y_dim, seed);
	if (!sp)
		return dim_fail(err, DIM_ERR_ARG,
				"unknown encoder '%s' (known: basic28, dcgan28, dcgan32, dcgan64, alexnet64, "
				"foldalex64, foldresnet19_32, resnet19_32, tiny12)",
				name);
	if (in_channels < 1 || in_channels > 16 || y_dim < 1 || y_dim > 65536)
		return dim_fail(err, DIM_ERR_ARG, "encoder %s: bad in_channels %d or y_dim %d", name,
				in_channels, y_dim);
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	e->in_channels = in_channels;
	e->input_size = sp->input;
	e->y_dim = y_dim;
	e->nlayers = sp->nlayers;
	e->m_layer = sp->m_layer;
	e->bn_momentum = 0.1f;
	e->bn_eps = 1e-5f;

	int c = in_channels, h = sp->input, w = sp->input, ci = 0, fi = 0, feat = 0;
	char n[96];
	dim_status st;
	for (int i = 0; i < sp->nlayers; i++) {
		const struct layer_spec *ls = &sp->layers[i];
		dim_enc_layer *L = &e->layers[i];
		L->is_conv = ls->is_conv;
		L->out = ls->out;
		L->k = ls->k;
		L->stride = ls->stride;
		L->pad = ls->pad;
		L->pool_k = ls->pool_k;
		L->pool_s = ls->pool_s;
		if (ls->is_conv) {
			L->in_c = c;
			L->in_h = h;
			L->in_w = w;
			h = (h + 2 * ls->pad - ls->k) / ls->stride + 1;
			w = (w + 2 * ls->pad - ls->k) / ls->stride + 1;
			if (ls->pool_k) {
				h = (h - ls->pool_k) / ls->pool_s + 1;
				w = (w - ls->pool_k) / ls->pool_s + 1;
			}
			L->out_h = h;
			L->out_w = w;
			c = ls->out;
			snprintf(n, sizeof n, "encoder.conv%d.weight", ci);
			if ((st = add(ps, n, 4, (int[]){ls->out, L->in_c, ls->k, ls->k}, true, &L->w)))
				return st;
			if ((st = dim_param_init_fan_in(ps->ctx, L->w, L->in_c * ls->k * ls->k, seed)))
				return st;
			snprintf(n, sizeof n, "encoder.bn%d", ci);
			if ((st = add_bn(ps, n, c, &L->bn_w, &L->bn_b, &L->bn_mean, &L->bn_var)))
				return st;
			if (i == sp->m_layer) {
				e->m_shape[0] = c;
				e->m_shape[1] = h;
				e->m_shape[2] = w;
			}
			e->conv_shape[0] = c;
			e->conv_shape[1] = h;
			e->conv_shape[2] = w;
			ci++;
		} else {
			if (!feat)
				feat = c * h * w;
			L->in_c = feat;
			L->out_h = L->out_w = 1;
			snprintf(n, sizeof n, "encoder.fc%d.weight", fi);
			if ((st = add(ps, n, 2, (int[]){ls->out, feat}, true, &L->w)))
				return st;
			if ((st = dim_param_init_fan_in(ps->ctx, L->w, feat, seed)))
				return st;
			snprintf(n, sizeof n, "encoder.bnfc%d", fi);
			if ((st = add_bn(ps, n, ls->out, &L->bn_w, &L->bn_b, &L->bn_mean, &L->bn_var)))
				return st;
			feat = ls->out;
			fi++;
		}
	}
	if (h < 1 || w < 1)
		return dim_fail(err, DIM_ERR_ARG, "encoder %s: input too small", name);
	e->fc_dim = feat;
	if ((st = add(ps, "encoder.y.weight", 2, (int[]){y_dim, feat}, true, &e->y_w)) ||
	    (st = add(ps, "encoder.y.bias", 1, &y_dim, true, &e->y_b)) ||
	    (st = dim_param_init_fan_in(ps->ctx, e->y_w, feat, seed)) ||
	    (st = dim_param_init_fan_in(ps->ctx, e->y_b, feat, seed)))
		return st;
	return DIM_OK;
}

static dim_status bn_relu(dim_tape *t, const dim_encoder *e, const dim_enc_layer *L, dim_var *x,
			  dim_var **out)
{
	dim_batchnorm_desc d = {e->bn_eps, e->bn_momentum, 1};
	dim_var *w, *b, *y;
	dim_status st;
	if ((st = dim_tape_param(t, L->bn_w, &w)) || (st = dim_tape_param(t, L->bn_b, &b)) ||
	    (st = dim_t_batchnorm(t, &d, x, w, b, L->bn_mean, L->bn_var, &y)))
		return st;
	return dim_t_relu(t, y, out);
}

dim_status dim_encoder_forward(dim_tape *t, const dim_encoder *e, dim_var *x, dim_encoder_out *out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	const dim_tensor *xt = &x->val;
	if (xt->ndim != 4 || xt->shape[1] != e->in_channels || xt->shape[2] != e->input_size ||
	    xt->shape[3] != e->input_size) {
		char s[64];
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"encoder %s wants [N, %d, %d, %d] input, got %s", e->name,
				e->in_channels, e->input_size, e->input_size,
				dim_shape_str(xt->ndim, xt->shape, s, sizeof s));
	}
	memset(out, 0, sizeof *out);
	if (e->kind != DIM_ENC_PLAIN)
		return dim_resnet_forward(t, e, x, out);
	dim_var *h = x, *w, *b;
	dim_status st = DIM_OK;
	for (int i = 0; i < e->nlayers && !st; i++) {
		const dim_enc_layer *L = &e->layers[i];
		if (L->is_conv) {
			dim_conv2d_desc d = {L->stride, L->stride, L->pad, L->pad};
			if ((st = dim_tape_param(t, L->w, &w)) ||
			    (st = dim_t_conv2d(t, &d, h, w, NULL, &h)) ||
			    (st = bn_relu(t, e, L, h, &h)))
				break;
			if (L->pool_k &&
			    (st = dim_t_maxpool2d(t, &(dim_pool2d_desc){L->pool_k, L->pool_k,
									L->pool_s, L->pool_s,
									0, 0, false, false}, h, &h)))
				break;
			if (i == e->m_layer)
				out->M = h;
			out->conv = h;
		} else {
			if (h->val.ndim != 2 && (st = dim_t_flatten(t, h, &h)))
				break;
			if ((st = dim_tape_param(t, L->w, &w)) ||
			    (st = dim_t_linear(t, h, w, NULL, &h)) ||
			    (st = bn_relu(t, e, L, h, &h)))
				break;
			out->fc = h;
		}
	}
	if (st || (st = dim_tape_param(t, e->y_w, &w)) || (st = dim_tape_param(t, e->y_b, &b)) ||
	    (st = dim_t_linear(t, h, w, b, &out->Y)))
		return st;
	return DIM_OK;
}
