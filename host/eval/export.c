/* Exported encoders: the encoder of a DIM model alone in one safetensors file
 * (see dim_featurizer_export in include/cldim/encode.h).
 *
 * Tensors carry the names of the PyTorch module (tools/pytorch/cldim_torch.py
 * make_encoder), without the "encoder." prefix the training model gives them,
 * so torch's load_state_dict takes the file as it is (strict); every BatchNorm
 * also gets its int64 scalar num_batches_tracked. Metadata: the format tag,
 * the architecture (cfg.encoder, cfg.in_channels, cfg.y_dim, and the layer
 * geometry as JSON), and the provenance of the checkpoint it came from. The
 * reading side (dim_is_encoder_file, dim_encoder_file_load) is in
 * host/dim/encoder_file.c, beside the checkpoints. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/encode.h"
#include "cldim/io.h"

#define ENC_FORMAT DIM_ENCODER_FILE_FORMAT
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
