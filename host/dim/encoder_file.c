/* Exported encoders, the reading side (the writer is dim_featurizer_export in
 * host/eval/export.c): one safetensors file holding a DIM model's encoder
 * alone under the PyTorch module's names (no "encoder." prefix) plus each
 * BatchNorm's num_batches_tracked, with the architecture in the metadata.
 * Here, in the dim layer beside the checkpoints, because checkpoint
 * summaries (cldim info) and model loading read both kinds of file. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/checkpoint.h"
#include "cldim/io.h"

#define ENC_FORMAT DIM_ENCODER_FILE_FORMAT
#define PREFIX "encoder."
#define NBT ".num_batches_tracked"

static bool is_encoder_param(const dim_param *p)
{
	return !strncmp(p->name, PREFIX, strlen(PREFIX));
}

/* Reads the safetensors header only (not the data): whether its metadata
 * names the export format. The loaders then check the file in full. */
bool dim_is_encoder_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char head[8];
	bool yes = false;
	if (!f)
		return false;
	if (fread(head, 1, 8, f) == 8) {
		uint64_t n = 0;
		for (int i = 7; i >= 0; i--)
			n = n << 8 | head[i];
		char *h = n && n < ((uint64_t)1 << 27) ? malloc(n + 1) : NULL;
		if (h && fread(h, 1, n, f) == n) {
			h[n] = 0;
			yes = strstr(h, "\"" ENC_FORMAT "\"") != NULL;
		}
		free(h);
	}
	fclose(f);
	return yes;
}

static dim_status meta_int(const dim_st_file *f, const char *path, const char *key, long lo,
			   long hi, long *out, dim_error *err)
{
	const char *s = dim_st_meta_get(f, key);
	char *end;
	if (!s)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: exported encoder has no '%s' metadata",
				path, key);
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < lo || v > hi)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: metadata %s = '%s' is not an integer in "
				"[%ld, %ld]", path, key, s, lo, hi);
	*out = v;
	return DIM_OK;
}

static dim_status read_config(const dim_st_file *f, const char *path, dim_config *cfg,
			      dim_train_state *ts, dim_error *err)
{
	const char *fmt = dim_st_meta_get(f, "format");
	if (!fmt || strcmp(fmt, ENC_FORMAT))
		return dim_fail(err, DIM_ERR_FORMAT, "%s: not an exported cldim encoder (format "
				"'%s', want '%s')", path, fmt ? fmt : "missing", ENC_FORMAT);
	const char *enc = dim_st_meta_get(f, "cfg.encoder");
	if (!enc || !dim_encoder_input_size(enc))
		return dim_fail(err, DIM_ERR_FORMAT, "%s: unknown encoder '%s' in metadata", path,
				enc ? enc : "(missing)");
	long ch, y, step = 0;
	dim_status st;
	if ((st = meta_int(f, path, "cfg.in_channels", 1, 16, &ch, err)) ||
	    (st = meta_int(f, path, "cfg.y_dim", 1, 65536, &y, err)))
		return st;
	if (dim_st_meta_get(f, "step") &&
	    (st = meta_int(f, path, "step", 0, 0x7fffffffL, &step, err)))
		return st;
	/* Only the encoder is meaningful. The model made from this config gets
	 * the smallest critics (never used for encoding) and no global critic. */
	*cfg = dim_config_default();
	snprintf(cfg->encoder, sizeof cfg->encoder, "%s", enc);
	cfg->in_channels = (int)ch;
	cfg->y_dim = (int)y;
	cfg->mi_units = 1;
	cfg->alpha = 0;
	if (ts) {
		memset(ts, 0, sizeof *ts);
		ts->step = step;
		const char *s = dim_st_meta_get(f, "dataset");
		snprintf(ts->dataset, sizeof ts->dataset, "%s", s ? s : "");
		s = dim_st_meta_get(f, "dataset_format");
		snprintf(ts->format, sizeof ts->format, "%s", s ? s : "");
		s = dim_st_meta_get(f, "config");
		snprintf(ts->config_json, sizeof ts->config_json, "%s", s ? s : "{}");
	}
	return DIM_OK;
}

dim_status dim_encoder_file_read_config(const char *path, dim_config *cfg, dim_train_state *ts,
					dim_error *err)
{
	dim_st_file *f;
	dim_status st = dim_st_load(err, path, &f);
	if (st)
		return st;
	st = read_config(f, path, cfg, ts, err);
	dim_st_close(f);
	return st;
}

/* Every tensor of the file is an encoder parameter or a num_batches_tracked. */
static dim_status check_extra(const dim_st_file *f, const char *path, const dim_params *ps,
			      const char *encoder, dim_error *err)
{
	for (int i = 0; i < dim_st_count(f); i++) {
		const dim_st_info *t = dim_st_at(f, i);
		char full[256];
		size_t len = strlen(t->name);
		if (len > strlen(NBT) && !strcmp(t->name + len - strlen(NBT), NBT))
			continue;
		snprintf(full, sizeof full, PREFIX "%s", t->name);
		if (!dim_params_find(ps, full))
			return dim_fail(err, DIM_ERR_FORMAT, "%s: tensor '%s' is not a parameter of "
					"encoder %s", path, t->name, encoder);
	}
	return DIM_OK;
}

dim_status dim_encoder_file_load(dim_model *m, const char *path, dim_train_state *ts)
{
	dim_params *ps = dim_model_params(m);
	dim_ctx *ctx = ps->ctx;
	dim_error *err = dim_ctx_error(ctx);
	const dim_encoder *e = dim_model_encoder(m);
	dim_config cfg;
	dim_train_state local;
	dim_st_file *f;
	dim_status st = dim_st_load(err, path, &f);
	if (st)
		return st;
	if ((st = read_config(f, path, &cfg, ts ? ts : &local, err)))
		goto out_close;
	if (strcmp(cfg.encoder, e->name) || cfg.in_channels != e->in_channels ||
	    cfg.y_dim != e->y_dim) {
		st = dim_fail(err, DIM_ERR_ARG, "%s: holds encoder %s (%d channels, Y %d), the model "
			      "is %s (%d channels, Y %d)", path, cfg.encoder, cfg.in_channels,
			      cfg.y_dim, e->name, e->in_channels, e->y_dim);
		goto out_close;
	}
	if ((st = check_extra(f, path, ps, e->name, err)))
		goto out_close;
	for (int i = 0; i < ps->count && !st; i++) {
		dim_param *p = ps->items[i];
		if (!is_encoder_param(p))
			continue;
		int64_t shape[DIM_MAX_DIMS];
		for (int d = 0; d < p->value.ndim; d++)
			shape[d] = p->value.shape[d];
		const dim_st_info *info;
		st = dim_st_expect(err, f, p->name + strlen(PREFIX), DIM_DT_F32, p->value.ndim,
				   shape, &info);
		if (!st)
			st = dim_write(ctx, p->value.buf, 0, info->data, info->nbytes);
	}
out_close:
	dim_st_close(f);
	return st;
}
