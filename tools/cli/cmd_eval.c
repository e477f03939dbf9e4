/* cldim eval: the paper's protocol on frozen features (docs/method.md §8) for a
 * checkpoint and its baselines (raw pixels, a randomly initialised encoder of
 * the same architecture): linear probe, the paper's non-linear probe and
 * k-NN per representation, and the NDM of Y. Table on stdout (md or json). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/encode.h"
#include "cldim/io.h"
#include "cldim/probe.h"
#include "cldim/train.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cldim eval --checkpoint C [--data PATH] [options]\n\n"
		"Frozen-feature evaluation (docs/method.md §8): for each representation, a linear probe\n"
		"(softmax regression on standardised features with an L2 penalty chosen on 10%% of\n"
		"the train rows, solved to convergence by full-batch L-BFGS), the paper's non-linear probe\n"
		"(Linear(d->200) -> Dropout 0.1 -> BN1d -> ReLU -> Linear(200->classes), Adam,\n"
		"betas (0.5, 0.999), batch 64; its epoch chosen on 10%% of the train rows) and\n"
		"cosine k-NN, trained on the train split and scored on the test split; beside DIM,\n"
		"the same for raw pixels and a randomly initialised encoder. Then the NDM of Y\n"
		"(sigmoid(Y); raw Y in parentheses).\n\n"
		"  --checkpoint C     checkpoint file or run directory\n"
		"  --data PATH        dataset (default: the one the checkpoint was trained on)\n"
		"  --format F         auto (default) | %s\n"
		"  --train-split S    train (default)\n"
		"  --test-split S     test (default)\n"
		"  --train-limit N    first N train images (10000; 0 = all)\n"
		"  --test-limit N     first N test images (0 = all)\n"
		"  --repr R           all (conv, fc, Y; default) | conv | fc | Y | local\n"
		"  --epochs N         non-linear probe epochs at most (100; the paper trains 1000)\n"
		"  --mlp-epochs N     the same (overrides --epochs)\n"
		"  --mlp-holdout F    train rows held out to pick the probe's epoch (0.1; 0 = none,\n"
		"                     report the last epoch)\n"
		"  --mlp-patience N   stop after N epochs without a better held-out accuracy\n"
		"                     (20; 0 = run every epoch)\n"
		"  --linear-l2 X      linear probe penalty (default: chosen from 1 .. 1e-5)\n"
		"  --linear-iters N   L-BFGS iteration limit per fit (500)\n"
		"  --mlp-lr X         non-linear probe learning rate (1e-3; the paper's is 1e-4 for\n"
		"                     1000 epochs), x 0.1 after epochs 50 and 100\n"
		"  --k N              neighbours for k-NN (10)\n"
		"  --ndm-steps N      NDM discriminator steps (300; 0 = no NDM)\n"
		"  --no-baselines     DIM rows only (and no MINE: it needs the pixel features)\n"
		"  --seed N           probe/baseline seed (1)\n"
		"  --batch N          encoder batch (256)    --threads N  decode threads (2)\n"
		"  --json             JSON instead of a markdown table\n"
		"  -q, --quiet        no progress lines, errors only\n"
		"  --device SEL       see cldim devices\n",
		dim_dataset_formats());
}

struct row {
	const char *model;
	char repr[16];
	int dim;
	dim_logreg_result lin;
	dim_probe_result mlp;
	double knn;
	double seconds;
};

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

struct eval_cfg {
	dim_ctx *ctx;
	dim_logreg_opts lin;
	dim_probe_opts mlp;
	int k, classes;
};

static dim_status evaluate(struct eval_cfg *c, const char *model, const char *repr, int d,
			   const float *xtr, const int32_t *ytr, size_t ntr, const float *xte,
			   const int32_t *yte, size_t nte, struct row *r)
{
	memset(r, 0, sizeof *r);
	r->model = model;
	snprintf(r->repr, sizeof r->repr, "%s", repr);
	r->dim = d;
	double t0 = dim_now();
	dim_status st = dim_logreg_run(c->ctx, &c->lin, d, c->classes, xtr, ytr, ntr, xte, yte, nte,
				       &r->lin);
	if (!st)
		st = dim_probe_run(c->ctx, &c->mlp, d, c->classes, xtr, ytr, ntr, xte, yte, nte,
				   &r->mlp);
	if (!st)
		st = dim_knn_accuracy(c->ctx, d, c->k, c->classes, xtr, ytr, ntr, xte, yte, nte,
				      &r->knn);
	r->seconds = dim_now() - t0;
	if (!st && !cli_quiet)
		fprintf(stderr, "  %-8s %-5s d=%-5d linear %5.2f%% (l2 %g, %d iterations, stop: "
			"%s)  mlp %5.2f%% (epoch %d of %d)  %d-NN %5.2f%%  (%.0f s)\n", model,
			repr, d, 100 * r->lin.test_acc, r->lin.l2, r->lin.iters, r->lin.stop,
			100 * r->mlp.test_acc, r->mlp.best_epoch, r->mlp.epochs, c->k,
			100 * r->knn, r->seconds);
	return st;
}

static int max_label(const int32_t *y, size_t n)
{
	int m = -1;
	for (size_t i = 0; i < n; i++)
		m = y[i] > m ? y[i] : m;
	return m;
}

int cmd_eval(int argc, char **argv)
{
	enum { O_CKPT = 256, O_DATA, O_FORMAT, O_TRS, O_TES, O_TRL, O_TEL, O_REPR, O_EPOCHS,
	       O_LL2, O_LIT, O_MEP, O_MLR, O_MHO, O_MPA, O_K, O_NDM, O_NOBASE, O_SEED, O_BATCH, O_THREADS, O_JSON,
	       O_DEVICE, O_QUIET };
	static const struct option opts[] = {
		{"checkpoint", required_argument, NULL, O_CKPT},
		{"data", required_argument, NULL, O_DATA},
		{"format", required_argument, NULL, O_FORMAT},
		{"train-split", required_argument, NULL, O_TRS},
		{"test-split", required_argument, NULL, O_TES},
		{"train-limit", required_argument, NULL, O_TRL},
		{"test-limit", required_argument, NULL, O_TEL},
		{"repr", required_argument, NULL, O_REPR},
		{"epochs", required_argument, NULL, O_EPOCHS},
		{"linear-l2", required_argument, NULL, O_LL2},
		{"linear-iters", required_argument, NULL, O_LIT},
		{"mlp-epochs", required_argument, NULL, O_MEP},
		{"mlp-lr", required_argument, NULL, O_MLR}, {"k", required_argument, NULL, O_K},
		{"mlp-holdout", required_argument, NULL, O_MHO},
		{"mlp-patience", required_argument, NULL, O_MPA},
		{"ndm-steps", required_argument, NULL, O_NDM},
		{"no-baselines", no_argument, NULL, O_NOBASE},
		{"seed", required_argument, NULL, O_SEED},
		{"batch", required_argument, NULL, O_BATCH},
		{"threads", required_argument, NULL, O_THREADS},
		{"json", no_argument, NULL, O_JSON}, {"device", required_argument, NULL, O_DEVICE},
		{"help", no_argument, NULL, 'h'}, {"quiet", no_argument, NULL, O_QUIET},
		{NULL, 0, NULL, 0},
	};
	const char *ckpt = NULL, *data = NULL, *format = NULL, *trs = "train", *tes = "test";
	const char *repr = "all", *device = NULL;
	long trl = 10000, tel = 0, epochs = -1, lit = 500, mep = -1, k = 10, ndm_steps = 300;
	long mpa = -1;
	long seed = 1, batch = 256, threads = 2;
	double mlr = -1, ll2 = -1, mho = -1;
	int json = 0, baselines = 1, c;
	dim_error err = {0};

	cli_remove_temps_on_signal();
	optind = 1;
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		int ok = 1;
		switch (c) {
		case O_CKPT: ckpt = optarg; break;
		case O_DATA: data = optarg; break;
		case O_FORMAT: format = optarg; break;
		case O_TRS: trs = optarg; break;
		case O_TES: tes = optarg; break;
		case O_TRL: ok = cli_int("eval", "--train-limit", optarg, 0, 1L << 40, &trl); break;
		case O_TEL: ok = cli_int("eval", "--test-limit", optarg, 0, 1L << 40, &tel); break;
		case O_REPR: repr = optarg; break;
		case O_EPOCHS: ok = cli_int("eval", "--epochs", optarg, 1, 100000, &epochs); break;
		case O_LL2: ok = cli_float("eval", "--linear-l2", optarg, 0, 1e6, &ll2); break;
		case O_LIT: ok = cli_int("eval", "--linear-iters", optarg, 1, 1000000, &lit); break;
		case O_MEP: ok = cli_int("eval", "--mlp-epochs", optarg, 1, 100000, &mep); break;
		case O_MLR: ok = cli_float("eval", "--mlp-lr", optarg, 0, 10, &mlr); break;
		case O_MHO: ok = cli_float("eval", "--mlp-holdout", optarg, 0, 0.9, &mho); break;
		case O_MPA: ok = cli_int("eval", "--mlp-patience", optarg, 0, 100000, &mpa); break;
		case O_K: ok = cli_int("eval", "--k", optarg, 1, 1000, &k); break;
		case O_NDM: ok = cli_int("eval", "--ndm-steps", optarg, 0, 1L << 30, &ndm_steps); break;
		case O_NOBASE: baselines = 0; break;
		case O_SEED: ok = cli_int("eval", "--seed", optarg, 0, 1L << 62, &seed); break;
		case O_BATCH: ok = cli_int("eval", "--batch", optarg, 1, 65536, &batch); break;
		case O_THREADS: ok = cli_int("eval", "--threads", optarg, 1, 64, &threads); break;
		case O_JSON: json = 1; break;
		case O_DEVICE: device = optarg; break;
		case 'q':
		case O_QUIET: cli_set_quiet(); break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
		if (!ok)
			return 2;
	}
	if (optind < argc || !ckpt) {
		fprintf(stderr, "cldim eval: %s (see cldim eval --help)\n",
			optind < argc ? "unexpected argument" : "--checkpoint is required");
		return 2;
	}
	dim_repr reprs[DIM_REPR_COUNT];
	int nrepr = 0;
	if (!strcmp(repr, "all")) {
		reprs[nrepr++] = DIM_REPR_CONV;
		reprs[nrepr++] = DIM_REPR_FC;
		reprs[nrepr++] = DIM_REPR_Y;
	} else if (dim_repr_parse(repr, &reprs[nrepr++], &err)) {
		return cli_fail("eval", DIM_ERR_ARG, dim_error_text(&err));
	}
	int has_y = 0;
	for (int i = 0; i < nrepr; i++)
		has_y |= reprs[i] == DIM_REPR_Y;

	char path[1200];
	dim_status st = dim_resolve_checkpoint(ckpt, path, sizeof path, &err);
	if (st)
		return cli_fail("eval", st, dim_error_text(&err));
	dim_ctx *ctx;
	int rc = cli_ctx("eval", device, 0, 0, &ctx);
	if (rc)
		return rc;

	dim_featurizer *dimf = NULL, *randf = NULL;
	struct feats tr[2], te[2], pix_tr, pix_te;
	memset(tr, 0, sizeof tr);
	memset(te, 0, sizeof te);
	memset(&pix_tr, 0, sizeof pix_tr);
	memset(&pix_te, 0, sizeof pix_te);
	struct row rows[2 * DIM_REPR_COUNT + 1];
	int nrows = 0;
	double ndm[2][2] = {{NAN, NAN}, {NAN, NAN}}, mine[2] = {NAN, NAN};
	int pix_dim = 0;
	const char *names[2] = {"DIM", "random"};

	st = dim_featurizer_load(ctx, path, &dimf);
	if (st)
		goto out;
	const dim_train_state *ts = dim_featurizer_train_state(dimf);
	if (!data)
		data = ts->dataset[0] ? ts->dataset : NULL;
	if (!format && !strcmp(data ? data : "", ts->dataset) && ts->format[0])
		format = ts->format;
	if (!data) {
		st = dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s names no dataset: give --data",
			      path);
		goto out;
	}
	if (baselines) {
		st = dim_featurizer_random(ctx, dim_featurizer_config(dimf), (uint64_t)seed + 7919,
					   &randf);
		if (st)
			goto out;
	}
	dim_stream_opts so_tr = {.format = format, .split = trs, .limit = (size_t)trl,
				 .batch = (int)batch, .threads = (int)threads};
	dim_stream_opts so_te = so_tr;
	so_te.split = tes;
	so_te.limit = (size_t)tel;
	dim_featurizer *fs[2] = {dimf, randf};
	for (int m = 0; m < 2 && fs[m]; m++) {
		double t0 = dim_now();
		st = dim_extract_memory(fs[m], data, &so_tr, nrepr, reprs, tr[m].x, &tr[m].y,
					&tr[m].n);
		if (!st)
			st = dim_extract_memory(fs[m], data, &so_te, nrepr, reprs, te[m].x, &te[m].y,
						&te[m].n);
		if (st)
			goto out;
		if (!cli_quiet)
			fprintf(stderr, "%s features: %zu train + %zu test images in %.1f s\n",
				names[m], tr[m].n, te[m].n, dim_now() - t0);
	}
	if (!tr[0].n || !te[0].n) {
		st = dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: empty train or test split", data);
		goto out;
	}
	struct eval_cfg ec = {.ctx = ctx, .lin = dim_logreg_defaults(),
			      .mlp = dim_probe_mlp_defaults(), .k = (int)k};
	ec.lin.l2 = ll2;
	ec.lin.max_iter = (int)lit;
	if (mep >= 0 || epochs >= 0)
		ec.mlp.epochs = (int)(mep >= 0 ? mep : epochs);
	if (mho >= 0)
		ec.mlp.holdout = mho;
	if (mpa >= 0)
		ec.mlp.patience = (int)mpa;
	if (mlr >= 0)
		ec.mlp.lr = mlr;
	ec.lin.seed = ec.mlp.seed = (uint64_t)seed;
	char l2s[32] = "chosen on 10% of train";
	if (ll2 >= 0)
		snprintf(l2s, sizeof l2s, "%g", ll2);
	int ml = max_label(tr[0].y, tr[0].n), mt = max_label(te[0].y, te[0].n);
	ec.classes = (ml > mt ? ml : mt) + 1;
	if (ec.classes < 2) {
		st = dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "%s: the splits have no labels (or "
			      "one class): eval needs a labelled train and test split", data);
		goto out;
	}
	if (!cli_quiet)
		fprintf(stderr, "probes: linear L-BFGS (l2 %s; stop: max|g| <= %g, relative decrease <= "
			"%g or %d iterations), mlp up to %d epochs (lr %g; epoch chosen on %g of "
			"train, patience %d), %d-NN, %d classes\n", l2s, ec.lin.gtol, ec.lin.ftol,
			ec.lin.max_iter, ec.mlp.epochs, ec.mlp.lr, ec.mlp.holdout, ec.mlp.patience,
			ec.k, ec.classes);

	if (baselines) {
		int ch, size;
		dim_featurizer_input(dimf, &ch, &size);
		pix_dim = ch * size * size;
		dim_stream_opts p_tr = so_tr, p_te = so_te;
		p_tr.channels = p_te.channels = ch;
		p_tr.size = p_te.size = size;
		dim_error *e = dim_ctx_error(ctx);
		st = dim_extract_pixels(data, &p_tr, &pix_tr.x[0], &pix_tr.y, &pix_tr.n, e);
		if (!st)
			st = dim_extract_pixels(data, &p_te, &pix_te.x[0], &pix_te.y, &pix_te.n, e);
		if (!st)
			st = evaluate(&ec, "pixels", "raw", ch * size * size, pix_tr.x[0], pix_tr.y,
				      pix_tr.n, pix_te.x[0], pix_te.y, pix_te.n, &rows[nrows++]);
		if (st)
			goto out;
	}
	for (int m = 1; m >= 0; m--) {
		if (!fs[m])
			continue;
		for (int i = 0; i < nrepr; i++) {
			st = evaluate(&ec, names[m], dim_repr_name(reprs[i]),
				      dim_featurizer_dim(fs[m], reprs[i]), tr[m].x[i], tr[m].y,
				      tr[m].n, te[m].x[i], te[m].y, te[m].n, &rows[nrows++]);
			if (st)
				goto out;
		}
		for (int i = 0; i < nrepr && ndm_steps > 0; i++) {
			if (reprs[i] != DIM_REPR_Y)
				continue;
			dim_ndm_opts no = dim_ndm_defaults();
			no.steps = (int)ndm_steps;
			no.seed = (uint64_t)seed;
			for (int sg = 0; sg < 2 && !st; sg++) {
				no.sigmoid = sg == 0;
				st = dim_ndm_run(ctx, &no, te[m].x[i], te[m].n,
						 dim_featurizer_dim(fs[m], DIM_REPR_Y), &ndm[m][sg]);
			}
			if (st)
				goto out;
			if (!cli_quiet)
				fprintf(stderr, "  %-8s NDM %.4f (raw Y %.4f)\n", names[m],
					ndm[m][0], ndm[m][1]);
			/* MINE I(X; Y) with X = the test images' pixels */
			if (pix_dim && pix_te.n == te[m].n) {
				no.sigmoid = 0;
				st = dim_mine_run(ctx, &no, pix_te.x[0], pix_dim, te[m].x[i],
						  dim_featurizer_dim(fs[m], DIM_REPR_Y), te[m].n,
						  &mine[m]);
				if (st)
					goto out;
				if (!cli_quiet)
					fprintf(stderr, "  %-8s MINE I(X;Y) %.4f\n", names[m], mine[m]);
			}
		}
	}

	if (json) {
		dim_json j;
		dim_json_init(&j, stdout, 2);
		dim_json_begin_object(&j);
		dim_json_kv_string(&j, "checkpoint", path);
		dim_json_kv_int(&j, "step", ts->step);
		dim_json_kv_string(&j, "data", data);
		dim_json_kv_int(&j, "train_images", (int64_t)tr[0].n);
		dim_json_kv_int(&j, "test_images", (int64_t)te[0].n);
		dim_json_kv_string(&j, "linear_solver", "lbfgs");
		dim_json_kv_int(&j, "linear_max_iter", ec.lin.max_iter);
		dim_json_kv_number(&j, "linear_gtol", ec.lin.gtol);
		dim_json_kv_number(&j, "linear_ftol", ec.lin.ftol);
		dim_json_kv_int(&j, "mlp_epochs", ec.mlp.epochs);
		dim_json_kv_number(&j, "mlp_lr", ec.mlp.lr);
		dim_json_kv_number(&j, "mlp_holdout", ec.mlp.holdout);
		dim_json_kv_int(&j, "mlp_patience", ec.mlp.patience);
		dim_json_kv_int(&j, "k", ec.k);
		dim_json_key(&j, "rows");
		dim_json_begin_array(&j);
		for (int i = 0; i < nrows; i++) {
			dim_json_begin_object(&j);
			dim_json_kv_string(&j, "model", rows[i].model);
			dim_json_kv_string(&j, "repr", rows[i].repr);
			dim_json_kv_int(&j, "dim", rows[i].dim);
			dim_json_kv_number(&j, "linear", rows[i].lin.test_acc);
			dim_json_kv_number(&j, "linear_train", rows[i].lin.train_acc);
			dim_json_kv_number(&j, "linear_l2", rows[i].lin.l2);
			dim_json_kv_int(&j, "linear_iters", rows[i].lin.iters);
			dim_json_kv_string(&j, "linear_stop", rows[i].lin.stop);
			dim_json_kv_int(&j, "linear_converged", rows[i].lin.converged);
			dim_json_kv_number(&j, "linear_grad_max", rows[i].lin.grad_max);
			dim_json_kv_number(&j, "mlp", rows[i].mlp.test_acc);
			dim_json_kv_number(&j, "mlp_train", rows[i].mlp.train_acc);
			dim_json_kv_number(&j, "mlp_heldout", rows[i].mlp.heldout_acc);
			dim_json_kv_int(&j, "mlp_best_epoch", rows[i].mlp.best_epoch);
			dim_json_kv_int(&j, "mlp_epochs_run", rows[i].mlp.epochs);
			dim_json_kv_number(&j, "knn", rows[i].knn);
			dim_json_kv_number(&j, "seconds", rows[i].seconds);
			dim_json_end_object(&j);
		}
		dim_json_end_array(&j);
		if (has_y && ndm_steps > 0) {
			dim_json_key(&j, "ndm");
			dim_json_begin_object(&j);
			for (int m = 0; m < 2; m++)
				if (fs[m]) {
					dim_json_key(&j, names[m]);
					dim_json_begin_object(&j);
					dim_json_kv_number(&j, "sigmoid", ndm[m][0]);
					dim_json_kv_number(&j, "raw", ndm[m][1]);
					if (pix_dim)
						dim_json_kv_number(&j, "mine", mine[m]);
					dim_json_end_object(&j);
				}
			dim_json_end_object(&j);
		}
		dim_json_end_object(&j);
		st = dim_json_finish(dim_ctx_error(ctx), &j, "stdout");
		printf("\n");
	} else {
		printf("checkpoint %s (step %lld), data %s: %zu train / %zu test images; linear: "
		       "L-BFGS, l2 %s, stop at max|g| <= %g; mlp %d epochs, %d-NN (cosine)\n\n",
		       path, ts->step, data, tr[0].n, te[0].n, l2s, ec.lin.gtol, ec.mlp.epochs,
		       ec.k);
		printf("| model | repr | dim | linear | l2 | iterations (stop) | MLP (200) | %d-NN |\n",
		       ec.k);
		printf("|---|---|---:|---:|---:|---|---:|---:|\n");
		for (int i = 0; i < nrows; i++)
			printf("| %s | %s | %d | %.2f | %g | %d (%s) | %.2f | %.2f |\n", rows[i].model,
			       rows[i].repr, rows[i].dim, 100 * rows[i].lin.test_acc, rows[i].lin.l2,
			       rows[i].lin.iters, rows[i].lin.stop, 100 * rows[i].mlp.test_acc,
			       100 * rows[i].knn);
		if (has_y && ndm_steps > 0) {
			printf("\n| model | NDM σ(Y) (raw Y) |%s\n|---|---:|%s\n",
			       pix_dim ? " MINE I(X;Y), nats |" : "", pix_dim ? "---:|" : "");
			for (int m = 0; m < 2; m++) {
				if (!fs[m])
					continue;
				printf("| %s | %.4f (%.4f) |", names[m], ndm[m][0], ndm[m][1]);
				if (pix_dim)
					printf(" %.4f |", mine[m]);
				printf("\n");
			}
		}
	}

out:
	if (st)
		rc = cli_fail("eval", st, dim_ctx_errmsg(ctx));
	for (int m = 0; m < 2; m++) {
		feats_free(&tr[m]);
		feats_free(&te[m]);
	}
	feats_free(&pix_tr);
	feats_free(&pix_te);
	dim_featurizer_destroy(randf);
	dim_featurizer_destroy(dimf);
	dim_ctx_destroy(ctx);
	return rc;
}
