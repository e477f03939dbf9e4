/* Exported encoders: the encoder of a DIM model alone in one safetensors file
 * (see dim_featurizer_export in include/cldim/encode.h).
 *
 * Tensors carry the names of the PyTorch module (tools/pytorch/cldim_torch.py
 * make_encoder), without the "encoder." prefix the training model gives them,
 * so torch's load_state_dict takes the file as it is (strict); every BatchNorm
 * also gets its int64 scalar num_batches_tracked. Metadata: the format tag,
 * the architecture (cfg.encoder, cfg.in_channels, cfg.y_dim, and the layer
 * geometry as JSON), and the provenance of the checkpoint it came from. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/encode.h"
#include "cldim/io.h"

#define ENC_FORMAT "cldim-encoder-1"
#define PREFIX "encoder."
#define NBT ".num_batches_tracked"

static bool is_encoder_param(const dim_param *p)
{
	return !strncmp(p->name, PREFIX, strlen(PREFIX));
}

/* "encoder.bn0.running_var" -> "bn0" when p is a BN's running_var. */
static bool bn_of(const dim_param *p, char *bn, size_t n)
{
	const char *s = p->name + strlen(PREFIX);
	size_t len = strlen(s), tail = strlen(".running_var");
	if (len <= tail || strcmp(s + len - tail, ".running_var"))
		return false;
	snprintf(bn, n, "%.*s", (int)(len - tail), s);
	return true;
}

struct export_list {
	dim_st_tensor *t;
	char (*names)[128];
	int64_t (*shapes)[DIM_MAX_DIMS];
	float **data;
	int n;
};

dim_status dim_featurizer_export(dim_featurizer *f, const char *path)
{
	dim_model *m = dim_featurizer_model(f);
	dim_params *ps = dim_model_params(m);
	dim_ctx *ctx = ps->ctx;
	dim_error *err = dim_ctx_error(ctx);
	const dim_encoder *e = dim_model_encoder(m);
	const dim_train_state *ts = dim_featurizer_train_state(f);
	int cap = 2 * ps->count + 1;
	struct export_list L = {
		.t = calloc((size_t)cap, sizeof *L.t),
		.names = calloc((size_t)cap, sizeof *L.names),
		.shapes = calloc((size_t)cap, sizeof *L.shapes),
		.data = calloc((size_t)cap, sizeof *L.data),
	};
	char *arch = NULL;
	int64_t nbt = ts->step;
	dim_status st = DIM_OK;
	if (!L.t || !L.names || !L.shapes || !L.data) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		goto out_free;
	}
	for (int i = 0; i < ps->count; i++) {
		const dim_param *p = ps->items[i];
		if (!is_encoder_param(p))
			continue;
		size_t numel = dim_tensor_numel(&p->value);
		float *d = malloc(numel * sizeof *d);
		if (!d) {
			st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
			goto out_free;
		}
		L.data[L.n] = d;
		if ((st = dim_param_get(ctx, p, d)))
			goto out_free;
		snprintf(L.names[L.n], sizeof L.names[0], "%s", p->name + strlen(PREFIX));
		for (int k = 0; k < p->value.ndim; k++)
			L.shapes[L.n][k] = p->value.shape[k];
		L.t[L.n] = (dim_st_tensor){L.names[L.n], DIM_DT_F32, p->value.ndim, L.shapes[L.n], d};
		L.n++;
		char bn[96];
		if (bn_of(p, bn, sizeof bn)) {
			/* PyTorch's BatchNorm buffer: forward passes in training mode. */
			snprintf(L.names[L.n], sizeof L.names[0], "%s" NBT, bn);
			L.t[L.n] = (dim_st_tensor){L.names[L.n], DIM_DT_I64, 0, L.shapes[L.n], &nbt};
			L.n++;
		}
	}
	if ((st = dim_encoder_arch_json(e, &arch, err)))
		goto out_free;
	char v[4][32];
	snprintf(v[0], sizeof v[0], "%d", e->in_channels);
	snprintf(v[1], sizeof v[1], "%d", e->y_dim);
	snprintf(v[2], sizeof v[2], "%d", e->input_size);
	snprintf(v[3], sizeof v[3], "%lld", ts->step);
	dim_st_meta meta[] = {
		{"format", ENC_FORMAT},
		{"cldim_version", CLDIM_VERSION},
		{"cfg.encoder", e->name},
		{"cfg.in_channels", v[0]},
		{"cfg.y_dim", v[1]},
		{"input_size", v[2]},
		{"architecture", arch},
		{"step", v[3]},
		{"dataset", ts->dataset},
		{"dataset_format", ts->format},
		{"config", ts->config_json[0] ? ts->config_json : "{}"},
	};
	st = dim_st_write(err, path, L.t, L.n, meta, (int)(sizeof meta / sizeof meta[0]));
out_free:
	for (int i = 0; i < L.n; i++)
		if (L.t[i].dtype == DIM_DT_F32)
			free(L.data[i]);
	free(arch);
	free(L.t);
	free(L.names);
	free(L.shapes);
	free(L.data);
	return st;
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
