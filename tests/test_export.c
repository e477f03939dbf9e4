/* cldim-test: labels=opencl timeout=600 */
/* Exported encoders (all but the two largest encoders): dim_featurizer_export writes the
 * encoder alone (PyTorch names without the model's "encoder." prefix, an
 * int64 scalar num_batches_tracked per BatchNorm, the architecture in the
 * metadata); dim_featurizer_load of that file gives bit-identical conv, fc,
 * Y and local features to the model it came from (weights and non-trivial
 * BN running statistics); and PyTorch (tests/py/check_export.py) loads the
 * file strictly into the plain module and computes the same Y. For every
 * encoder, the layer table (dim_encoder_describe) agrees with its shapes. */
#include <string.h>

#include "cldim/encode.h"
#include "cldim/io.h"
#include "testutil.h"

#define N 3

/* Non-trivial values for what a fresh model leaves at 0 / 1. */
static void perturb(dim_ctx *ctx, dim_params *ps, t_rng *r)
{
	for (int i = 0; i < ps->count; i++) {
		dim_param *p = ps->items[i];
		if (strncmp(p->name, "encoder.", 8) || !strstr(p->name, "bn"))
			continue;
		size_t n = dim_tensor_numel(&p->value);
		float *v = malloc(n * sizeof *v);
		bool pos = strstr(p->name, "running_var") || strstr(p->name, ".weight");
		t_fill(r, v, n, pos ? 0.5f : -0.2f, pos ? 1.5f : 0.2f);
		CHECK_OK(ctx, dim_param_set(ctx, p, v));
		free(v);
	}
}

static void check_file(const char *path, const char *name, const dim_params *ps)
{
	dim_error err = {0};
	dim_st_file *f;
	CHECK_OK_ERR(&err, dim_st_load(&err, path, &f));
	if (!f)
		return;
	CHECK(!strcmp(dim_st_meta_get(f, "format"), "cldim-encoder-1"));
	CHECK(!strcmp(dim_st_meta_get(f, "cfg.encoder"), name));
	CHECK(strstr(dim_st_meta_get(f, "architecture"), "\"layers\":[") != NULL);
	int enc = 0, bn = 0, nbt = 0;
	for (int i = 0; i < ps->count; i++)
		if (!strncmp(ps->items[i]->name, "encoder.", 8)) {
			enc++;
			bn += strstr(ps->items[i]->name, ".running_var") != NULL;
		}
	for (int i = 0; i < dim_st_count(f); i++) {
		const dim_st_info *t = dim_st_at(f, i);
		CHECK_MSG(strncmp(t->name, "encoder.", 8), "%s", t->name);
		if (strstr(t->name, ".num_batches_tracked")) {
			nbt++;
			CHECK_MSG(t->dtype == DIM_DT_I64 && t->ndim == 0, "%s", t->name);
		}
	}
	CHECK_MSG(nbt == bn && dim_st_count(f) == enc + bn, "%s: %d tensors, %d params, %d BNs, "
		  "%d num_batches_tracked", name, dim_st_count(f), enc, bn, nbt);
	dim_st_close(f);
}

/* The rows' shapes chain and end at the encoder's M, conv, fc and Y. */
static void check_rows(const dim_encoder *e)
{
	dim_enc_row rows[DIM_ENC_MAX_ROWS];
	int n = dim_encoder_describe(e, rows, DIM_ENC_MAX_ROWS), roles = 0;
	CHECK(n > 2 && n <= DIM_ENC_MAX_ROWS);
	CHECK(rows[0].in[0] == e->in_channels && rows[0].in[1] == e->input_size);
	for (int i = 0; i < n && i < DIM_ENC_MAX_ROWS; i++) {
		const dim_enc_row *r = &rows[i];
		if (i > 0 && strcmp(r->kind, "fc") && strcmp(r->kind, "linear"))
			CHECK_MSG(!memcmp(r->in, rows[i - 1].out, sizeof r->in), "%s %s", e->name,
				  r->name);
		if (strstr(r->role, "M")) {
			roles++;
			CHECK_MSG(!memcmp(r->out, e->m_shape, sizeof r->out), "%s M", e->name);
		}
		if (strstr(r->role, "conv")) {
			roles++;
			CHECK_MSG(!memcmp(r->out, e->conv_shape, sizeof r->out), "%s conv", e->name);
		}
		if (strstr(r->role, "fc")) {
			roles++;
			CHECK_MSG(r->out[0] == e->fc_dim, "%s fc", e->name);
		}
		if (strstr(r->role, "Y")) {
			roles++;
			CHECK_MSG(r->out[0] == e->y_dim && i == n - 1, "%s Y", e->name);
		}
	}
	CHECK_MSG(roles == 4, "%s: %d representations in the table", e->name, roles);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	char *dir = t_tmpdir("export");
	t_rng r = {7};
	char torch_names[512] = "";
	const dim_repr reprs[DIM_REPR_COUNT] = {DIM_REPR_CONV, DIM_REPR_FC, DIM_REPR_Y,
						DIM_REPR_LOCAL};
	for (int k = 0; dim_encoder_names[k]; k++) {
		const char *name = dim_encoder_names[k];
		dim_config cfg = dim_config_default();
		snprintf(cfg.encoder, sizeof cfg.encoder, "%s", name);
		cfg.in_channels = 3;
		cfg.mi_units = 8;
		dim_featurizer *a = NULL, *b = NULL;
		CHECK_OK(ctx, dim_featurizer_random(ctx, &cfg, 11 + k, &a));
		if (!a)
			continue;
		check_rows(dim_model_encoder(dim_featurizer_model(a)));
		/* The two largest (50M+ weights, slow under the sanitizers) share
		 * their module classes and loading code with the others. */
		if (!strcmp(name, "alexnet64") || !strcmp(name, "foldresnet19_32")) {
			dim_featurizer_destroy(a);
			continue;
		}
		perturb(ctx, dim_model_params(dim_featurizer_model(a)), &r);
		int c, s;
		dim_featurizer_input(a, &c, &s);
		size_t nx = (size_t)N * c * s * s;
		float *x = malloc(nx * sizeof *x), *fa[DIM_REPR_COUNT], *fb[DIM_REPR_COUNT];
		t_fill(&r, x, nx, -1, 1);
		for (int i = 0; i < DIM_REPR_COUNT; i++) {
			fa[i] = calloc((size_t)N * dim_featurizer_dim(a, reprs[i]), sizeof(float));
			fb[i] = calloc((size_t)N * dim_featurizer_dim(a, reprs[i]), sizeof(float));
		}
		CHECK_OK(ctx, dim_featurizer_encode_many(a, x, N, DIM_REPR_COUNT, reprs, fa));
		char path[1100];
		snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
		CHECK_OK(ctx, dim_featurizer_export(a, path));
		CHECK(dim_is_encoder_file(path));
		check_file(path, name, dim_model_params(dim_featurizer_model(a)));
		CHECK_OK(ctx, dim_featurizer_load(ctx, path, &b));
		if (b) {
			CHECK(!strcmp(dim_featurizer_config(b)->encoder, name));
			CHECK_OK(ctx, dim_featurizer_encode_many(b, x, N, DIM_REPR_COUNT, reprs, fb));
			for (int i = 0; i < DIM_REPR_COUNT; i++)
				CHECK_MSG(!memcmp(fa[i], fb[i], (size_t)N * sizeof(float) *
						  dim_featurizer_dim(a, reprs[i])),
					  "%s %s: the loaded export encodes differently", name,
					  dim_repr_name(reprs[i]));
		}
		/* PyTorch at the end, in one run (test_encoder_parity checks every
		 * encoder's names) */
		{
			char xn[64], yn[64];
			snprintf(xn, sizeof xn, "x_%s", name);
			snprintf(yn, sizeof yn, "y_%s", name);
			t_dump(dir, xn, x, nx);
			t_dump(dir, yn, fa[DIM_REPR_Y], (size_t)N * dim_featurizer_dim(a, DIM_REPR_Y));
			strncat(torch_names, name, sizeof torch_names - strlen(torch_names) - 2);
			strcat(torch_names, " ");
		}
		printf("%s: export and load give identical features\n", name);
		for (int i = 0; i < DIM_REPR_COUNT; i++) {
			free(fa[i]);
			free(fb[i]);
		}
		free(x);
		dim_featurizer_destroy(a);
		dim_featurizer_destroy(b);
	}
	char args[600];
	snprintf(args, sizeof args, "%d %s", N, torch_names);
	t_torch_run("check_export.py", dir, args);
	/* a missing file is no export and fails to load with its name */
	CHECK(!dim_is_encoder_file("/nonexistent/enc.safetensors"));
	dim_featurizer *f = NULL;
	CHECK(dim_featurizer_load(ctx, "/nonexistent/enc.safetensors", &f) == DIM_ERR_IO);
	CHECK(strstr(dim_ctx_errmsg(ctx), "/nonexistent/enc.safetensors") != NULL);
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
