/* Encoding images with a DIM encoder in evaluation mode (include/cldim/encode.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cldim/encode.h"
#include "cldim/tape_ops.h"

struct dim_featurizer {
	dim_ctx *ctx;
	dim_model *model;
	dim_tape *tape;
	dim_train_state ts;
	dim_buf xbuf;        /* host batches are uploaded here */
	size_t xcap;         /* bytes of xbuf */
};

static const char *const repr_names[DIM_REPR_COUNT] = {"conv", "fc", "Y", "local"};

const char *dim_repr_name(dim_repr r)
{
	return r >= 0 && r < DIM_REPR_COUNT ? repr_names[r] : "?";
}

dim_status dim_repr_parse(const char *s, dim_repr *out, dim_error *err)
{
	for (int i = 0; i < DIM_REPR_COUNT; i++)
		if (s && !strcasecmp(s, repr_names[i])) {
			*out = (dim_repr)i;
			return DIM_OK;
		}
	return dim_fail(err, DIM_ERR_ARG, "representation '%s': use conv, fc, Y or local",
			s ? s : "(null)");
}

static dim_status featurizer_new(dim_ctx *ctx, const dim_config *cfg, dim_featurizer **out)
{
	dim_featurizer *f = calloc(1, sizeof *f);
	if (!f)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
	f->ctx = ctx;
	dim_status st = dim_model_create(ctx, cfg, &f->model);
	if (!st)
		st = dim_tape_create(ctx, "featurizer", &f->tape);
	if (st) {
		dim_featurizer_destroy(f);
		return st;
	}
	*out = f;
	return DIM_OK;
}

dim_status dim_featurizer_load(dim_ctx *ctx, const char *checkpoint, dim_featurizer **out)
{
	dim_config cfg;
	dim_train_state ts;
	dim_featurizer *f;
	bool enc_only = dim_is_encoder_file(checkpoint);
	dim_status st = enc_only ? dim_encoder_file_read_config(checkpoint, &cfg, &ts,
								 dim_ctx_error(ctx))
				 : dim_checkpoint_read_config(checkpoint, &cfg, &ts, dim_ctx_error(ctx));
	if (st)
		return st;
	st = featurizer_new(ctx, &cfg, &f);
	if (st)
		return st;
	st = enc_only ? dim_encoder_file_load(f->model, checkpoint, &f->ts)
		      : dim_checkpoint_load(f->model, checkpoint, &f->ts);
	if (st) {
		dim_featurizer_destroy(f);
		return st;
	}
	*out = f;
	return DIM_OK;
}

dim_status dim_featurizer_random(dim_ctx *ctx, const dim_config *cfg, uint64_t seed,
				 dim_featurizer **out)
{
	dim_config c = *cfg;
	c.seed = seed;
	return featurizer_new(ctx, &c, out);
}

void dim_featurizer_destroy(dim_featurizer *f)
{
	if (!f)
		return;
	dim_buf_release(&f->xbuf);
	dim_tape_destroy(f->tape);
	dim_model_destroy(f->model);
	free(f);
}

const dim_config *dim_featurizer_config(const dim_featurizer *f)
{
	return dim_model_config(f->model);
}

const dim_train_state *dim_featurizer_train_state(const dim_featurizer *f)
{
	return &f->ts;
}

dim_model *dim_featurizer_model(dim_featurizer *f)
{
	return f->model;
}

void dim_featurizer_input(const dim_featurizer *f, int *channels, int *size)
{
	const dim_encoder *e = dim_model_encoder(f->model);
	if (channels)
		*channels = e->in_channels;
	if (size)
		*size = e->input_size;
}

int dim_featurizer_dim(const dim_featurizer *f, dim_repr r)
{
	const dim_encoder *e = dim_model_encoder(f->model);
	switch (r) {
	case DIM_REPR_CONV: return e->conv_shape[0] * e->conv_shape[1] * e->conv_shape[2];
	case DIM_REPR_FC: return e->fc_dim;
	case DIM_REPR_Y: return e->y_dim;
	case DIM_REPR_LOCAL: return e->m_shape[0];
	default: return 0;
	}
}

/* The forward pass on the featurizer's tape (rewound): fills vars[r] for
 * every r with want[r] set, as [n, dim(r)]. */
static dim_status forward(dim_featurizer *f, const dim_tensor *x, const bool *want, dim_var **vars)
{
	dim_error *err = dim_ctx_error(f->ctx);
	dim_tape_begin(f->tape, false);
	dim_encoder_out eo;
	dim_var *xv;
	dim_status st = dim_tape_input(f->tape, x, &xv);
	if (!st)
		st = dim_encoder_forward(f->tape, dim_model_encoder(f->model), xv, &eo);
	if (st)
		return st;
	for (int r = 0; r < DIM_REPR_COUNT; r++) {
		if (!want[r])
			continue;
		dim_var *from;
		switch (r) {
		case DIM_REPR_CONV: from = eo.conv; break;
		case DIM_REPR_FC: from = eo.fc; break;
		case DIM_REPR_Y: from = eo.Y; break;
		default: from = eo.M; break;
		}
		if (!from)
			return dim_fail(err, DIM_ERR_UNSUPPORTED, "encoder %s has no '%s' "
					"representation", dim_model_encoder(f->model)->name,
					repr_names[r]);
		if (r == DIM_REPR_CONV)
			st = dim_t_flatten(f->tape, from, &vars[r]);
		else if (r == DIM_REPR_FC || r == DIM_REPR_Y)
			vars[r] = from;
		else
			st = dim_t_global_avgpool(f->tape, from, &vars[r]);
		if (st)
			return st;
	}
	return DIM_OK;
}

dim_status dim_featurizer_encode_device(dim_featurizer *f, const dim_tensor *x, dim_repr r,
					dim_tensor *out)
{
	bool want[DIM_REPR_COUNT] = {0};
	dim_var *vars[DIM_REPR_COUNT] = {0};
	if (r < 0 || r >= DIM_REPR_COUNT)
		return dim_fail(dim_ctx_error(f->ctx), DIM_ERR_ARG, "bad representation %d", r);
	want[r] = true;
	dim_status st = forward(f, x, want, vars);
	if (st)
		return st;
	*out = vars[r]->val;
	return DIM_OK;
}

dim_status dim_featurizer_encode_many(dim_featurizer *f, const float *x, int n, int count,
				      const dim_repr *reprs, float *const *out)
{
	dim_error *err = dim_ctx_error(f->ctx);
	int c, s;
	dim_featurizer_input(f, &c, &s);
	if (n < 1)
		return dim_fail(err, DIM_ERR_ARG, "encode: %d images (need at least 1)", n);
	size_t bytes = (size_t)n * c * s * s * sizeof(float);
	if (bytes > f->xcap) {
		dim_buf_release(&f->xbuf);
		f->xcap = 0;
		dim_status st = dim_buf_create(f->ctx, bytes, &f->xbuf);
		if (st)
			return st;
		f->xcap = bytes;
	}
	dim_tensor xt = {.buf = dim_buf_view(f->xbuf, 0, bytes), .ndim = 4, .shape = {n, c, s, s}};
	dim_status st = dim_tensor_write(f->ctx, &xt, x);
	if (st)
		return st;
	bool want[DIM_REPR_COUNT] = {0};
	dim_var *vars[DIM_REPR_COUNT] = {0};
	for (int i = 0; i < count; i++) {
		if (reprs[i] < 0 || reprs[i] >= DIM_REPR_COUNT)
			return dim_fail(err, DIM_ERR_ARG, "bad representation %d", reprs[i]);
		want[reprs[i]] = out[i] != NULL;
	}
	st = forward(f, &xt, want, vars);
	for (int i = 0; !st && i < count; i++)
		if (out[i])
			st = dim_tensor_read(f->ctx, &vars[reprs[i]]->val, out[i]);
	return st;
}

dim_status dim_featurizer_encode(dim_featurizer *f, const float *x, int n, dim_repr r,
				 float *out)
{
	return dim_featurizer_encode_many(f, x, n, 1, &r, &out);
}
