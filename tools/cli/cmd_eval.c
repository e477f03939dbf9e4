/* cldim eval: parses the flags into dim_eval_options, runs the library's
 * evaluation protocol (dim_eval_run, include/cldim/eval.h; docs/method.md §8),
 * prints its progress on stderr and the result on stdout (md or json). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/eval.h"
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
		"  --mlp-holdout F    train rows held out to pick the probe's epoch (0.1; 0 = none,\n"
		"                     report the last epoch)\n"
		"  --mlp-patience N   stop after N epochs without a better held-out accuracy\n"
		"                     (20; 0 = run every epoch)\n"
		"  --mlp-epochs N     the same (overrides --epochs)\n"
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

/* Progress lines on stderr (none with -q). */
static void progress(void *user, dim_eval_event ev, int index, const dim_eval_result *r)
{
	(void)user;
	if (cli_quiet)
		return;
	const dim_eval_model *md = &r->models[index];
	const dim_eval_row *w = &r->rows[index];
	switch (ev) {
	case DIM_EVAL_FEATURES:
		fprintf(stderr, "%s features: %zu train + %zu test images in %.1f s\n", md->name,
			md->train_n, md->test_n, md->extract_s);
		break;
	case DIM_EVAL_PROBES: {
		char l2s[32] = "chosen on 10% of train";
		if (r->lin.l2 >= 0)
			snprintf(l2s, sizeof l2s, "%g", r->lin.l2);
		fprintf(stderr, "probes: linear L-BFGS (l2 %s; stop: max|g| <= %g, relative decrease "
			"<= %g or %d iterations), mlp up to %d epochs (lr %g; epoch chosen on %g of "
			"train, patience %d), %d-NN, %d classes\n", l2s,
			r->lin.gtol, r->lin.ftol, r->lin.max_iter, r->mlp.epochs, r->mlp.lr,
			r->mlp.holdout, r->mlp.patience, r->k,
			r->classes);
		break;
	}
	case DIM_EVAL_ROW:
		fprintf(stderr, "  %-8s %-5s d=%-5d linear %5.2f%% (l2 %g, %d iterations, stop: "
			"%s)  mlp %5.2f%% (epoch %d of %d)  %d-NN %5.2f%%  (%.0f s)\n", w->model,
			w->repr, w->dim, 100 * w->lin.test_acc, w->lin.l2, w->lin.iters, w->lin.stop,
			100 * w->mlp.test_acc, w->mlp.best_epoch, w->mlp.epochs, r->k, 100 * w->knn,
			w->seconds);
		break;
	case DIM_EVAL_NDM:
		fprintf(stderr, "  %-8s NDM %.4f (raw Y %.4f)\n", md->name, md->ndm_sigmoid,
			md->ndm_raw);
		break;
	case DIM_EVAL_MINE:
		fprintf(stderr, "  %-8s MINE I(X;Y) %.4f\n", md->name, md->mine);
		break;
	}
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
		{"mlp-lr", required_argument, NULL, O_MLR},
		{"mlp-holdout", required_argument, NULL, O_MHO},
		{"mlp-patience", required_argument, NULL, O_MPA}, {"k", required_argument, NULL, O_K},
		{"ndm-steps", required_argument, NULL, O_NDM},
		{"no-baselines", no_argument, NULL, O_NOBASE},
		{"seed", required_argument, NULL, O_SEED},
		{"batch", required_argument, NULL, O_BATCH},
		{"threads", required_argument, NULL, O_THREADS},
		{"json", no_argument, NULL, O_JSON}, {"device", required_argument, NULL, O_DEVICE},
		{"help", no_argument, NULL, 'h'}, {"quiet", no_argument, NULL, O_QUIET},
		{NULL, 0, NULL, 0},
	};
	dim_eval_options o = dim_eval_defaults();
	const char *repr = "all", *device = NULL;
	long trl = (long)o.train_limit, tel = (long)o.test_limit, epochs = o.mlp_epochs;
	long lit = o.linear_iters, mep = -1, k = o.k, ndm_steps = o.ndm_steps, seed = (long)o.seed;
	long batch = o.batch, threads = o.threads;
	double mlr = o.mlp_lr, ll2 = o.linear_l2, mho = o.mlp_holdout;
	long mpa = o.mlp_patience;
	int json = 0, c;
	dim_error err = {0};

	cli_remove_temps_on_signal();
	optind = 1;
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		int ok = 1;
		switch (c) {
		case O_CKPT: o.checkpoint = optarg; break;
		case O_DATA: o.data = optarg; break;
		case O_FORMAT: o.format = optarg; break;
		case O_TRS: o.train_split = optarg; break;
		case O_TES: o.test_split = optarg; break;
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
		case O_NOBASE: o.baselines = false; break;
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
	if (optind < argc || !o.checkpoint) {
		fprintf(stderr, "cldim eval: %s (see cldim eval --help)\n",
			optind < argc ? "unexpected argument" : "--checkpoint is required");
		return 2;
	}
	if (strcmp(repr, "all") && dim_repr_parse(repr, &o.reprs[o.nrepr++], &err))
		return cli_fail("eval", DIM_ERR_ARG, dim_error_text(&err));
	o.train_limit = (size_t)trl;
	o.test_limit = (size_t)tel;
	o.mlp_epochs = (int)(mep >= 0 ? mep : epochs);
	o.mlp_lr = mlr;
	o.mlp_holdout = mho;
	o.mlp_patience = (int)mpa;
	o.linear_l2 = ll2;
	o.linear_iters = (int)lit;
	o.k = (int)k;
	o.ndm_steps = (int)ndm_steps;
	o.seed = (uint64_t)seed;
	o.batch = (int)batch;
	o.threads = (int)threads;
	o.progress = progress;

	/* a bad checkpoint path fails before the device is opened */
	char path[1200];
	dim_status st = dim_resolve_checkpoint(o.checkpoint, path, sizeof path, &err);
	if (st)
		return cli_fail("eval", st, dim_error_text(&err));
	o.checkpoint = path;
	dim_ctx *ctx;
	int rc = cli_ctx("eval", device, 0, 0, &ctx);
	if (rc)
		return rc;
	dim_eval_result *r = malloc(sizeof *r);
	st = r ? dim_eval_run(ctx, &o, r) : dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM,
						      "out of host memory");
	if (!st && json) {
		st = dim_eval_write_json(r, stdout, dim_ctx_error(ctx));
		printf("\n");
	} else if (!st) {
		dim_eval_write_markdown(r, stdout);
	}
	if (st)
		rc = cli_fail("eval", st, dim_ctx_errmsg(ctx));
	free(r);
	dim_ctx_destroy(ctx);
	return rc;
}
