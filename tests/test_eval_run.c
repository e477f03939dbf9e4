/* cldim-test: labels=opencl timeout=300 */
/* dim_eval_run, the evaluation protocol as a library call: on a tiny IDX
 * dataset (train and test split) and a random dcgan28 checkpoint, the rows come
 * in the protocol's order (pixels, the random encoder, DIM; each
 * representation), every progress event arrives, the NDM and MINE are set
 * only when Y is evaluated, the baselines can be left out, the JSON report
 * parses back with the same numbers, and a checkpoint without a dataset is a
 * clear error that names the concept, not a command-line flag. */
#include <math.h>
#include <string.h>

#include "cldim/eval.h"
#include "cldim/io.h"
#include "cldim/train.h"
#include "testutil.h"

#define S 28
#define NTR 40
#define NTE 20

static char *join(const char *dir, const char *name)
{
	static char buf[8][1024];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static void write_split(const char *dir, const char *prefix, int n, t_rng *r)
{
	size_t ni = 16 + (size_t)n * S * S, nl = 8 + (size_t)n;
	uint8_t *img = calloc(ni, 1), *lab = calloc(nl, 1);
	const uint8_t ih[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, S, 0, 0, 0, S};
	const uint8_t lh[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n};
	memcpy(img, ih, 16);
	memcpy(lab, lh, 8);
	for (int i = 0; i < n; i++) {
		lab[8 + i] = (uint8_t)(i % 3);
		/* the class shows in the brightness: the probes can learn something */
		for (int p = 0; p < S * S; p++)
			img[16 + (size_t)i * S * S + p] =
				(uint8_t)(60 * (i % 3) + (t_rand_u64(r) & 63));
	}
	char p[1200];
	snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, prefix);
	t_write_file(p, img, ni);
	snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, prefix);
	t_write_file(p, lab, nl);
	free(img);
	free(lab);
}

static void make_checkpoint(dim_ctx *ctx, const char *path)
{
	dim_config cfg = dim_config_default();
	snprintf(cfg.encoder, sizeof cfg.encoder, "dcgan28");
	cfg.in_channels = 1;
	cfg.mi_units = 16;
	dim_model *m;
	CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	dim_train_state ts;
	memset(&ts, 0, sizeof ts);
	ts.step = 3;
	snprintf(ts.config_json, sizeof ts.config_json, "{}");
	CHECK_OK(ctx, dim_checkpoint_save(m, &ts, path));
	dim_model_destroy(m);
}

struct events {
	int n[5];
	int rows_in_order; /* each DIM_EVAL_ROW names the row just added */
};

static void on_event(void *user, dim_eval_event ev, int index, const dim_eval_result *r)
{
	struct events *e = user;
	e->n[ev]++;
	if (ev == DIM_EVAL_ROW && index != r->nrows - 1)
		e->rows_in_order = 0;
}

static dim_eval_options small_opts(const char *ck, const char *data, struct events *ev)
{
	dim_eval_options o = dim_eval_defaults();
	o.checkpoint = ck;
	o.data = data;
	o.format = "idx";
	o.train_limit = 0;
	o.mlp_epochs = 1;
	o.linear_iters = 20;
	o.linear_l2 = 1e-3;
	o.k = 3;
	o.ndm_steps = 5;
	o.batch = 16;
	o.progress = on_event;
	o.progress_user = ev;
	return o;
}

static void test_full(dim_ctx *ctx, const char *dir, const char *ck)
{
	struct events ev = {.rows_in_order = 1};
	dim_eval_options o = small_opts(ck, dir, &ev);
	dim_eval_result *r = calloc(1, sizeof *r);
	CHECK_OK(ctx, dim_eval_run(ctx, &o, r));
	CHECK_MSG(r->nrows == 7, "%d rows", r->nrows);
	static const char *const want[7][2] = {{"pixels", "raw"}, {"random", "conv"},
					       {"random", "fc"},    {"random", "Y"},
					       {"DIM", "conv"},     {"DIM", "fc"},
					       {"DIM", "Y"}};
	for (int i = 0; i < r->nrows && i < 7; i++) {
		CHECK_MSG(!strcmp(r->rows[i].model, want[i][0]) &&
				  !strcmp(r->rows[i].repr, want[i][1]),
			  "row %d: %s %s", i, r->rows[i].model, r->rows[i].repr);
		CHECK(r->rows[i].dim > 0 && r->rows[i].lin.test_acc >= 0 &&
		      r->rows[i].lin.test_acc <= 1 && r->rows[i].knn >= 0 && r->rows[i].knn <= 1);
	}
	CHECK(r->rows[0].dim == S * S);
	CHECK(r->step == 3 && r->train_images == NTR && r->test_images == NTE && r->classes == 3);
	CHECK(r->k == 3 && r->mlp.epochs == 1 && r->lin.max_iter == 20 && r->lin.l2 == 1e-3);
	CHECK(strstr(r->checkpoint, "ck.safetensors") && !strcmp(r->data, dir));
	CHECK(r->ndm && r->mine);
	for (int m = 0; m < DIM_EVAL_MODELS; m++)
		CHECK_MSG(r->models[m].present && isfinite(r->models[m].ndm_sigmoid) &&
				  isfinite(r->models[m].ndm_raw) && isfinite(r->models[m].mine) &&
				  r->models[m].train_n == NTR && r->models[m].test_n == NTE,
			  "model %d", m);
	CHECK_MSG(ev.n[DIM_EVAL_FEATURES] == 2 && ev.n[DIM_EVAL_PROBES] == 1 &&
			  ev.n[DIM_EVAL_ROW] == 7 && ev.n[DIM_EVAL_NDM] == 2 &&
			  ev.n[DIM_EVAL_MINE] == 2 && ev.rows_in_order,
		  "events %d %d %d %d %d", ev.n[0], ev.n[1], ev.n[2], ev.n[3], ev.n[4]);

	/* the JSON report carries the same numbers */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_eval_write_json(r, f, &err));
	fclose(f);
	CHECK(text && strstr(text, "\"rows\"") && strstr(text, "\"ndm\"") &&
	      strstr(text, "\"mine\"") && strstr(text, "\"model\": \"pixels\""));
	char want_knn[64];
	snprintf(want_knn, sizeof want_knn, "\"train_images\": %d", NTR);
	CHECK_MSG(text && strstr(text, want_knn), "%s", text ? text : "");
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	dim_eval_write_markdown(r, f);
	fclose(f);
	CHECK(text && strstr(text, "| pixels | raw | 784 |") && strstr(text, "MINE I(X;Y)"));
	free(text);
	free(r);
}

static void test_options(dim_ctx *ctx, const char *dir, const char *ck)
{
	/* no baselines, conv only: one row, no NDM (no Y), no MINE (no pixels) */
	struct events ev = {.rows_in_order = 1};
	dim_eval_options o = small_opts(ck, dir, &ev);
	o.baselines = false;
	o.nrepr = 1;
	o.reprs[0] = DIM_REPR_CONV;
	dim_eval_result *r = calloc(1, sizeof *r);
	CHECK_OK(ctx, dim_eval_run(ctx, &o, r));
	CHECK(r->nrows == 1 && !strcmp(r->rows[0].model, "DIM") && !r->ndm && !r->mine);
	CHECK(r->models[DIM_EVAL_DIM].present && !r->models[DIM_EVAL_RANDOM].present);
	CHECK(isnan(r->models[DIM_EVAL_DIM].ndm_sigmoid));
	CHECK(ev.n[DIM_EVAL_FEATURES] == 1 && ev.n[DIM_EVAL_NDM] == 0);

	/* Y without baselines: NDM, no MINE */
	o.reprs[0] = DIM_REPR_Y;
	CHECK_OK(ctx, dim_eval_run(ctx, &o, r));
	CHECK(r->ndm && !r->mine && isfinite(r->models[DIM_EVAL_DIM].ndm_sigmoid) &&
	      isnan(r->models[DIM_EVAL_DIM].mine));

	/* the checkpoint names no dataset and none is given */
	o.data = NULL;
	CHECK(dim_eval_run(ctx, &o, r) == DIM_ERR_ARG);
	const char *msg = dim_ctx_errmsg(ctx);
	CHECK_MSG(strstr(msg, "names no dataset") && strstr(msg, "dataset path") &&
			  !strstr(msg, "--"), "%s", msg);
	/* a missing checkpoint: the concept, not a flag */
	o.data = dir;
	o.checkpoint = join(dir, "nope");
	CHECK(dim_eval_run(ctx, &o, r) == DIM_ERR_IO);
	msg = dim_ctx_errmsg(ctx);
	CHECK_MSG(strstr(msg, "checkpoint path") && strstr(msg, "nope") && !strstr(msg, "--"),
		  "%s", msg);
	free(r);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng r = {11};
	char *dir = t_tmpdir("eval_run");
	write_split(dir, "train", NTR, &r);
	write_split(dir, "t10k", NTE, &r);
	char ck[1024];
	snprintf(ck, sizeof ck, "%s", join(dir, "ck.safetensors"));
	make_checkpoint(ctx, ck);
	test_full(ctx, dir, ck);
	test_options(ctx, dir, ck);
	if (!t_failures)
		t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
