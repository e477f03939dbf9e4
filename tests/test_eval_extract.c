/* cldim-test: labels=opencl timeout=300 */
/* Extraction on a tiny generated IDX split equals encoding the same images
 * through the library API (eval mode, non-trivial BN running stats, a
 * partial last batch); .npy/labels/paths files are complete; a bad JPEG in a
 * folder is skipped and listed, or fatal with strict. */
#include <string.h>
#include <sys/stat.h>

#include "cldim/encode.h"
#include "cldim/io.h"
#include "testutil.h"

#define NMAX 37
#define SMAX 28
/* Images in the split and their side, the encoder's input. t_small (the
 * simulated GPU): 13 images (still a partial batch) for the 12x12 test
 * encoder tiny12; otherwise 37 for dcgan28. */
static int N = NMAX, S = SMAX;
static const char *encoder = "dcgan28";

static char *join(const char *dir, const char *name)
{
	static char buf[16][1024];
	static int k;
	k = (k + 1) % 16;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static void write_idx(const char *dir, const uint8_t *pix, const uint8_t *labels)
{
	uint8_t img[16 + NMAX * SMAX * SMAX], lab[8 + NMAX];
	const uint8_t ih[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)N, 0, 0, 0, (uint8_t)S,
				0, 0, 0, (uint8_t)S};
	const uint8_t lh[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)N};
	memcpy(img, ih, 16);
	memcpy(img + 16, pix, N * S * S);
	memcpy(lab, lh, 8);
	memcpy(lab + 8, labels, N);
	t_write_file(join(dir, "t10k-images-idx3-ubyte"), img, 16 + (size_t)N * S * S);
	t_write_file(join(dir, "t10k-labels-idx1-ubyte"), lab, 8 + (size_t)N);
}

/* A checkpoint of a model (dcgan28, tiny12) with random BN running statistics. */
static void make_checkpoint(dim_ctx *ctx, const char *path, t_rng *r)
{
	dim_config cfg = dim_config_default();
	snprintf(cfg.encoder, sizeof cfg.encoder, "%s", encoder);
	cfg.in_channels = 1;
	cfg.mi_units = 16;
	dim_model *m;
	CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	dim_params *ps = dim_model_params(m);
	for (int i = 0; i < ps->count; i++) {
		dim_param *p = ps->items[i];
		if (p->trainable)
			continue;
		size_t n = dim_tensor_numel(&p->value);
		float *v = malloc(n * sizeof *v);
		t_fill(r, v, n, strstr(p->name, "var") ? 0.5f : -0.3f, strstr(p->name, "var") ? 2 : .3f);
		CHECK_OK(ctx, dim_param_set(ctx, p, v));
		free(v);
	}
	dim_train_state ts;
	memset(&ts, 0, sizeof ts);
	snprintf(ts.config_json, sizeof ts.config_json, "{}");
	CHECK_OK(ctx, dim_checkpoint_save(m, &ts, path));
	dim_model_destroy(m);
}

static void test_idx_extract(dim_ctx *ctx, const char *dir, dim_featurizer *f, t_rng *r)
{
	uint8_t pix[NMAX * SMAX * SMAX], labels[NMAX];
	for (size_t i = 0; i < (size_t)N * S * S; i++)
		pix[i] = (uint8_t)(t_rand_u64(r) & 255);
	for (int i = 0; i < N; i++)
		labels[i] = (uint8_t)(i % 10);
	write_idx(dir, pix, labels);

	for (int rr = 0; rr < DIM_REPR_COUNT; rr++) {
		/* t_small (simulated GPU): Y (the whole encoder) and the pooled
		 * local map; conv and fc are prefixes of Y's forward */
		if (t_small() && rr != DIM_REPR_Y && rr != DIM_REPR_LOCAL)
			continue;
		dim_extract_options o = {
			.stream = {.format = "idx", .split = "test", .batch = 10, .threads = 2},
			.data_path = dir, .repr = (dim_repr)rr,
			.features_npy = join(dir, "f.npy"), .labels_npy = join(dir, "l.npy"),
			.paths_txt = join(dir, "p.txt"), .skipped_txt = join(dir, "s.txt"),
		};
		dim_extract_result res;
		CHECK_OK(ctx, dim_extract_run(f, &o, &res));
		int d = dim_featurizer_dim(f, (dim_repr)rr);
		CHECK(res.written == (size_t)N && res.skipped == 0 && res.dim == d && res.has_labels);

		dim_error err = {0};
		dim_npy_array fa = {0}, la = {0};
		CHECK_OK_ERR(&err, dim_npy_read(&err, o.features_npy, &fa));
		CHECK_OK_ERR(&err, dim_npy_read(&err, o.labels_npy, &la));
		CHECK(fa.dtype == DIM_DT_F32 && fa.ndim == 2 && fa.shape[0] == N && fa.shape[1] == d);
		CHECK(la.dtype == DIM_DT_I64 && la.ndim == 1 && la.shape[0] == N);
		for (int i = 0; la.data && i < N; i++)
			CHECK(((int64_t *)la.data)[i] == labels[i]);
		CHECK(t_count_lines(o.paths_txt) == N);
		CHECK(t_count_lines(o.skipped_txt) == 0);

		/* the same images through the API, all in one batch: (p/255 - .5) / .5 */
		float *x = malloc(N * S * S * sizeof *x), *want = malloc((size_t)N * d * 4);
		for (int i = 0; i < N * S * S; i++)
			x[i] = (pix[i] / 255.0f - 0.5f) / 0.5f;
		CHECK_OK(ctx, dim_featurizer_encode(f, x, N, (dim_repr)rr, want));
		double *wd = malloc((size_t)N * d * sizeof *wd);
		for (size_t i = 0; i < (size_t)N * d; i++)
			wd[i] = want[i];
		if (fa.data) /* t_close counts its own failure */
			t_close(dim_repr_name((dim_repr)rr), fa.data, wd, (size_t)N * d, 1e-4, 1e-5);
		free(x);
		free(want);
		free(wd);
		dim_npy_array_free(&fa);
		dim_npy_array_free(&la);
	}
}

static void test_bad_jpeg(dim_ctx *ctx, const char *dir, dim_featurizer *f)
{
	char cls[1024];
	snprintf(cls, sizeof cls, "%s/jpegs/a", dir);
	mkdir(join(dir, "jpegs"), 0755);
	mkdir(cls, 0755);
	uint8_t rgb[40 * 30 * 3];
	for (size_t i = 0; i < sizeof rgb; i++)
		rgb[i] = (uint8_t)(i * 7);
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_image_write_jpeg(join(cls, "1.jpg"), rgb, 40, 30, 90, &err));
	CHECK_OK_ERR(&err, dim_image_write_jpeg(join(cls, "3.jpg"), rgb, 40, 30, 90, &err));
	t_write_file(join(cls, "2.jpg"), "not a jpeg at all", 17);

	dim_extract_options o = {
		.stream = {.batch = 2, .threads = 1},
		.data_path = join(dir, "jpegs"), .repr = DIM_REPR_Y,
		.features_npy = join(dir, "j.npy"), .paths_txt = join(dir, "j.txt"),
		.skipped_txt = join(dir, "js.txt"),
	};
	dim_extract_result res;
	CHECK_OK(ctx, dim_extract_run(f, &o, &res));
	CHECK_MSG(res.written == 2 && res.skipped == 1, "written %zu skipped %zu", res.written,
		  res.skipped);
	CHECK(t_count_lines(o.skipped_txt) == 1 && t_count_lines(o.paths_txt) == 2);
	FILE *sf = fopen(o.skipped_txt, "r");
	char line[2048] = "";
	if (sf) {
		CHECK(fgets(line, sizeof line, sf) != NULL);
		fclose(sf);
	}
	CHECK_MSG(strstr(line, "2.jpg") != NULL, "skipped.txt: %s", line);

	o.stream.strict = 1;
	o.features_npy = join(dir, "strict.npy");
	dim_status st = dim_extract_run(f, &o, &res);
	CHECK(st != DIM_OK);
	CHECK_MSG(strstr(dim_ctx_errmsg(ctx), "2.jpg") != NULL, "%s", dim_ctx_errmsg(ctx));
	struct stat sb;
	CHECK(stat(o.features_npy, &sb) != 0); /* nothing left behind */
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng r = {5};
	if (t_small()) {
		N = 13;
		encoder = "tiny12";
		S = dim_encoder_input_size(encoder);
	}
	char *dir = t_tmpdir("eval_extract");
	const char *ck = join(dir, "ck.safetensors");
	make_checkpoint(ctx, ck, &r);
	dim_featurizer *f = NULL;
	CHECK_OK(ctx, dim_featurizer_load(ctx, ck, &f));
	if (f) {
		int c, s;
		dim_featurizer_input(f, &c, &s);
		CHECK_MSG(c == 1 && s == S &&
			  dim_featurizer_dim(f, DIM_REPR_LOCAL) == (t_small() ? 16 : 128) &&
			  dim_featurizer_dim(f, DIM_REPR_Y) == 64,
			  "input %d x %d, conv %d", c, s, dim_featurizer_dim(f, DIM_REPR_CONV));
		test_idx_extract(ctx, dir, f, &r);
		test_bad_jpeg(ctx, dir, f);
	}
	dim_featurizer_destroy(f);
	/* a missing checkpoint is a clear error */
	CHECK(dim_featurizer_load(ctx, join(dir, "nope.safetensors"), &f) != DIM_OK);
	CHECK(strstr(dim_ctx_errmsg(ctx), "nope.safetensors") != NULL);
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
