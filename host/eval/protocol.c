/* The evaluation protocol (see include/cldim/eval.h, docs/method.md §8). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/eval.h"
#include "cldim/train.h"

dim_eval_options dim_eval_defaults(void)
{
	dim_probe_opts mlp = dim_probe_mlp_defaults();
	dim_eval_options o = {
		.train_split = "train", .test_split = "test", .train_limit = 10000,
		.mlp_epochs = mlp.epochs, .mlp_lr = mlp.lr, .mlp_holdout = mlp.holdout,
		.mlp_patience = mlp.patience, .linear_l2 = -1, .linear_iters = 500, .k = 10,
		.ndm_steps = 300, .baselines = true, .seed = 1, .batch = 256, .threads = 2,
	};
	return o;
}

/* Features of one model (or of the pixels): [repr][n x d] and labels. */
struct feats {
	float *x[DIM_REPR_COUNT];
	int32_t *y;
	size_t n;
};

static void feats_free(struct feats *f)
{
	for (int i = 0; i < DIM_REPR_COUNT; i++)
		free(f->x[i]);
	free(f->y);
	memset(f, 0, sizeof *f);
}

struct eval {
	dim_ctx *ctx;
	const dim_eval_options *o;
	dim_eval_result *r;
};

static void report(struct eval *e, dim_eval_event ev, int index)
{
	if (e->o->progress)
		e->o->progress(e->o->progress_user, ev, index, e->r);
}

/* One row: linear probe, non-linear probe and k-NN on one representation. */
static dim_status score(struct eval *e, const char *model, const char *repr, int d,
			const struct feats *tr, const float *xtr, const struct feats *te,
			const float *xte)
{
	dim_eval_result *r = e->r;
	dim_eval_row *row = &r->rows[r->nrows];
	memset(row, 0, sizeof *row);
	snprintf(row->model, sizeof row->model, "%s", model);
	snprintf(row->repr, sizeof row->repr, "%s", repr);
	row->dim = d;
	double t0 = dim_now();
	dim_status st = dim_logreg_run(e->ctx, &r->lin, d, r->classes, xtr, tr->y, tr->n, xte,
				       te->y, te->n, &row->lin);
	if (!st)
		st = dim_probe_run(e->ctx, &r->mlp, d, r->classes, xtr, tr->y, tr->n, xte, te->y,
				   te->n, &row->mlp);
	if (!st)
		st = dim_knn_accuracy(e->ctx, d, r->k, r->classes, xtr, tr->y, tr->n, xte, te->y,
				      te->n, &row->knn);
	row->seconds = dim_now() - t0;
	if (st)
		return st;
	r->nrows++;
	report(e, DIM_EVAL_ROW, r->nrows - 1);
	return DIM_OK;
}

static int max_label(const int32_t *y, size_t n)
{
	int m = -1;
	for (size_t i = 0; i < n; i++)
		m = y[i] > m ? y[i] : m;
	return m;
}

/* NDM of sigmoid(Y) and raw Y, then MINE I(X; Y) with X = the test pixels. */
static dim_status ndm_mine(struct eval *e, int m, const float *y, size_t n, int dy,
			   const struct feats *pix, int pix_dim)
{
	dim_eval_model *md = &e->r->models[m];
	dim_ndm_opts no = dim_ndm_defaults();
	no.steps = e->o->ndm_steps;
	no.seed = e->o->seed;
	dim_status st = DIM_OK;
	for (int sg = 0; sg < 2 && !st; sg++) {
		no.sigmoid = sg == 0;
		st = dim_ndm_run(e->ctx, &no, y, n, dy, sg == 0 ? &md->ndm_sigmoid : &md->ndm_raw);
	}
	if (st)
		return st;
	report(e, DIM_EVAL_NDM, m);
	if (!pix_dim || pix->n != n)
		return DIM_OK;
	no.sigmoid = 0;
	st = dim_mine_run(e->ctx, &no, pix->x[0], pix_dim, y, dy, n, &md->mine);
	if (!st)
		report(e, DIM_EVAL_MINE, m);
	return st;
}

dim_status dim_eval_run(dim_ctx *ctx, const dim_eval_options *o, dim_eval_result *r)
{
	dim_error *err = dim_ctx_error(ctx);
	struct eval e = {ctx, o, r};
	dim_featurizer *fs[DIM_EVAL_MODELS] = {NULL, NULL};
	struct feats tr[DIM_EVAL_MODELS], te[DIM_EVAL_MODELS], pix_tr, pix_te;
	static const char *const names[DIM_EVAL_MODELS] = {"DIM", "random"};
	memset(tr, 0, sizeof tr);
	memset(te, 0, sizeof te);
	memset(&pix_tr, 0, sizeof pix_tr);
	memset(&pix_te, 0, sizeof pix_te);
	memset(r, 0, sizeof *r);
	for (int m = 0; m < DIM_EVAL_MODELS; m++) {
		snprintf(r->models[m].name, sizeof r->models[m].name, "%s", names[m]);
		r->models[m].ndm_sigmoid = r->models[m].ndm_raw = r->models[m].mine = NAN;
	}

	dim_repr reprs[DIM_REPR_COUNT] = {DIM_REPR_CONV, DIM_REPR_FC, DIM_REPR_Y};
	int nrepr = 3;
	if (o->nrepr > 0) {
		nrepr = o->nrepr < DIM_REPR_COUNT ? o->nrepr : DIM_REPR_COUNT;
		memcpy(reprs, o->reprs, (size_t)nrepr * sizeof reprs[0]);
	}
	bool has_y = false;
	for (int i = 0; i < nrepr; i++)
		has_y |= reprs[i] == DIM_REPR_Y;

	dim_status st = dim_resolve_checkpoint(o->checkpoint, r->checkpoint, sizeof r->checkpoint,
					       err);
	if (!st)
		st = dim_featurizer_load(ctx, r->checkpoint, &fs[DIM_EVAL_DIM]);
	if (st)
		goto out;
	const dim_train_state *ts = dim_featurizer_train_state(fs[DIM_EVAL_DIM]);
	r->step = ts->step;
	const char *data = o->data ? o->data : ts->dataset[0] ? ts->dataset : NULL;
	const char *format = o->format;
	if (!format && !strcmp(data ? data : "", ts->dataset) && ts->format[0])
		format = ts->format;
	if (!data) {
		st = dim_fail(err, DIM_ERR_ARG, "%s names no dataset: give a dataset path",
			      r->checkpoint);
		goto out;
	}
	snprintf(r->data, sizeof r->data, "%s", data);
	if (o->baselines) {
		st = dim_featurizer_random(ctx, dim_featurizer_config(fs[DIM_EVAL_DIM]),
					   o->seed + 7919, &fs[DIM_EVAL_RANDOM]);
		if (st)
			goto out;
	}

	/* features of each model, both splits */
	dim_stream_opts so_tr = {.format = format, .split = o->train_split,
				 .limit = o->train_limit, .batch = o->batch, .threads = o->threads};
	dim_stream_opts so_te = so_tr;
	so_te.split = o->test_split;
	so_te.limit = o->test_limit;
	for (int m = 0; m < DIM_EVAL_MODELS && fs[m]; m++) {
		double t0 = dim_now();
		st = dim_extract_memory(fs[m], data, &so_tr, nrepr, reprs, tr[m].x, &tr[m].y,
					&tr[m].n);
		if (!st)
			st = dim_extract_memory(fs[m], data, &so_te, nrepr, reprs, te[m].x, &te[m].y,
						&te[m].n);
		if (st)
			goto out;
		r->models[m].present = true;
		r->models[m].train_n = tr[m].n;
		r->models[m].test_n = te[m].n;
		r->models[m].extract_s = dim_now() - t0;
		report(&e, DIM_EVAL_FEATURES, m);
	}
	r->train_images = tr[0].n;
	r->test_images = te[0].n;
	if (!tr[0].n || !te[0].n) {
		st = dim_fail(err, DIM_ERR_ARG, "%s: empty train or test split", data);
		goto out;
	}

	/* the probes' settings */
	r->lin = dim_logreg_defaults();
	r->mlp = dim_probe_mlp_defaults();
	r->k = o->k;
	r->lin.l2 = o->linear_l2;
	r->lin.max_iter = o->linear_iters;
	r->mlp.epochs = o->mlp_epochs;
	r->mlp.lr = o->mlp_lr;
	r->mlp.holdout = o->mlp_holdout;
	r->mlp.patience = o->mlp_patience;
	r->lin.seed = r->mlp.seed = o->seed;
	int ml = max_label(tr[0].y, tr[0].n), mt = max_label(te[0].y, te[0].n);
	r->classes = (ml > mt ? ml : mt) + 1;
	if (r->classes < 2) {
		st = dim_fail(err, DIM_ERR_ARG, "%s: the splits have no labels (or one class): the "
			      "evaluation needs a labelled train and test split", data);
		goto out;
	}
	report(&e, DIM_EVAL_PROBES, 0);

	/* the rows: pixels, the random encoder, DIM; then the NDM and MINE of Y */
	int pix_dim = 0;
	if (o->baselines) {
		int ch, size;
		dim_featurizer_input(fs[DIM_EVAL_DIM], &ch, &size);
		pix_dim = ch * size * size;
		dim_stream_opts p_tr = so_tr, p_te = so_te;
		p_tr.channels = p_te.channels = ch;
		p_tr.size = p_te.size = size;
		st = dim_extract_pixels(data, &p_tr, &pix_tr.x[0], &pix_tr.y, &pix_tr.n, err);
		if (!st)
			st = dim_extract_pixels(data, &p_te, &pix_te.x[0], &pix_te.y, &pix_te.n, err);
		if (!st)
			st = score(&e, "pixels", "raw", pix_dim, &pix_tr, pix_tr.x[0], &pix_te,
				   pix_te.x[0]);
		if (st)
			goto out;
	}
	r->ndm = has_y && o->ndm_steps > 0;
	r->mine = r->ndm && pix_dim;
	for (int m = DIM_EVAL_MODELS - 1; m >= 0; m--) {
		if (!fs[m])
			continue;
		for (int i = 0; i < nrepr; i++) {
			st = score(&e, names[m], dim_repr_name(reprs[i]),
				   dim_featurizer_dim(fs[m], reprs[i]), &tr[m], tr[m].x[i], &te[m],
				   te[m].x[i]);
			if (st)
				goto out;
		}
		for (int i = 0; i < nrepr && r->ndm; i++)
			if (reprs[i] == DIM_REPR_Y &&
			    (st = ndm_mine(&e, m, te[m].x[i], te[m].n,
					   dim_featurizer_dim(fs[m], DIM_REPR_Y), &pix_te, pix_dim)))
				goto out;
	}
out:
	for (int m = 0; m < DIM_EVAL_MODELS; m++) {
		feats_free(&tr[m]);
		feats_free(&te[m]);
		dim_featurizer_destroy(fs[m]);
	}
	feats_free(&pix_tr);
	feats_free(&pix_te);
	return st;
}
