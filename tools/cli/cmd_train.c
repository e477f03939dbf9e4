/* cldim train: Deep InfoMax pre-training with per-dataset defaults from the
 * library's preset table (dim_train_preset_for), every one overridable and
 * printed at start. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldim/io.h"
#include "cldim/train.h"
#include "cli.h"
#ifdef CLDIM_WITH_MPI
#include "cldim/mpi.h"
#endif

#define EMBEDDED_DATA "/usr/share/datasets/fashion-mnist"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct progress_state {
	int tty, quiet;
	int open_line;       /* a bar line is on screen, not yet ended */
	int prior;           /* gamma > 0: the prior terms mean something */
	const char *bound;   /* the estimator's MI bound, by name */
	long long start;     /* the step this run started from (-1: none yet) */
	double every, last;
};

/* End a bar line before anything else is printed (also from loader threads,
 * through the log). */
static void end_line(struct progress_state *ps)
{
	if (__atomic_exchange_n(&ps->open_line, 0, __ATOMIC_ACQ_REL))
		fputc('\n', stderr);
}

static void end_line_hook(void *user)
{
	end_line(user);
}

static void progress(void *user, const dim_train_progress *p)
{
	struct progress_state *ps = user;
	if (ps->quiet)
		return;
	if (ps->start < 0)
		ps->start = p->step - (p->final ? 0 : 1);
	if (p->final) {
		end_line(ps);
		long long ran = p->step - ps->start;
		fprintf(stderr, "done: %lld step%s", ran, ran == 1 ? "" : "s");
		if (ps->start > 0)
			fprintf(stderr, " (%lld to %lld)", ps->start, p->step);
		fprintf(stderr, " in %.1f s", p->elapsed_s);
		if (p->images_per_s > 0)
			fprintf(stderr, " (%.1f images/s)", p->images_per_s);
		fputc('\n', stderr);
		return;
	}
	double now = p->elapsed_s;
	/* the step's terms: the loss, the estimator's bound on the MI (nats) */
	const float v[] = {p->m.local, p->m.mi_local, p->m.global, p->m.mi_global,
			   ps->prior ? p->m.prior_enc : NAN, ps->prior ? p->m.prior_disc : NAN};
	char k1[32], k3[40];
	snprintf(k1, sizeof k1, "%s", ps->bound);
	snprintf(k3, sizeof k3, "global_%s", ps->bound);
	const char *const k[] = {"local", k1, "global", k3, "prior_enc", "prior_disc"};
	if (ps->tty) {
		if (now - ps->last < 0.1 && p->step != p->total_steps)
			return;
		int width = 24, fill = (int)(width * (double)p->step / (double)p->total_steps);
		char bar[32];
		for (int i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[width] = '\0';
		fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld", p->epoch + 1, p->epochs, bar,
			p->step, p->total_steps);
		__atomic_store_n(&ps->open_line, 1, __ATOMIC_RELEASE);
	} else {
		if (p->step != ps->start + 1 && now - ps->last < ps->every &&
		    p->step != p->total_steps)
			return;
		fprintf(stderr, "step %lld/%lld epoch %d/%d batch %lld/%lld", p->step,
			p->total_steps, p->epoch + 1, p->epochs, p->epoch_batch, p->epoch_batches);
	}
	/* no rate yet at the first step (it includes the kernel builds) */
	if (p->images_per_s > 0)
		fprintf(stderr, "  %.1f img/s  ETA %.0fs", p->images_per_s, p->eta_s);
	for (int i = 0; i < 6; i++)
		if (isfinite(v[i]))
			fprintf(stderr, "%s%s %.4g", ps->tty ? "  " : " ", k[i], v[i]);
	if (!ps->tty)
		fputc('\n', stderr);
	ps->last = now;
}

/* The value of "key" in the option JSON this command stored in a checkpoint
 * (flat, written with indent 0: "key":value). */
static const char *stored(const char *json, const char *key)
{
	char pat[48];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(json, pat);
	return p ? p + strlen(pat) : NULL;
}

static void stored_long(const char *json, const char *key, long *v)
{
	const char *p = stored(json, key);
	if (*v < 0 && p)
		*v = strtol(p, NULL, 10);
}

static int same_path(const char *a, const char *b)
{
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	int same = ra && rb ? !strcmp(ra, rb) : !strcmp(a, b);
	free(ra);
	free(rb);
	return same;
}

/* What --resume honours (issue 16): the model configuration, the optimizer
 * state, the data order and the dataset come from the checkpoint. --lr,
 * --beta1 and --beta2 replace the stored values, with a notice (as setting a
 * PyTorch param_group's lr before continuing). --data naming another dataset
 * is refused (it would not continue the run), unless the stored path no longer
 * exists (the data moved). Schedule flags (--steps, --epochs, --batch, ...)
 * override the stored schedule. Returns an exit code, 0 to go on. */
static int resume_flags(dim_config *cfg, const dim_train_state *rs, const char *data, double lr,
			double b1, double b2, int quiet)
{
	if (data && rs->dataset[0] && !same_path(data, rs->dataset)) {
		if (access(rs->dataset, F_OK) == 0) {
			fprintf(stderr, "cldim train: --data %s is not the checkpoint's dataset (%s): "
					"resuming on other data would not continue that run; drop --data, "
					"or start a new run with another --out\n", data, rs->dataset);
			return 2;
		}
		if (!quiet)
			fprintf(stderr, "resume: the checkpoint's dataset %s is gone; using --data %s\n",
				rs->dataset, data);
	}
	const struct {
		const char *flag;
		double v;
		float *dst;
	} hp[] = {{"--lr", lr, &cfg->lr}, {"--beta1", b1, &cfg->beta1}, {"--beta2", b2, &cfg->beta2}};
	for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++)
		if (!isnan(hp[i].v) && (float)hp[i].v != *hp[i].dst) {
			if (!quiet)
				fprintf(stderr, "resume: %s %g replaces the checkpoint's %g (Adam moments "
						"kept)\n", hp[i].flag, (double)(float)hp[i].v,
					(double)*hp[i].dst);
			*hp[i].dst = (float)hp[i].v;
		}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cldim train [--data PATH] [options]\n\n"
		"Deep InfoMax pre-training. Without --data, trains on Fashion-MNIST from Debian's\n"
		"dataset-fashion-mnist package (" EMBEDDED_DATA ").\n\n"
		"data:\n"
		"  --data PATH          dataset file or directory\n"
		"  --format F           auto (default) | %s\n"
		"  --split S            default: the format's pre-training split\n"
		"  --limit N            use only the first N images (0 = all)\n"
		"  --threads N          loader threads (default 1)\n"
		"  --max-bad N          unreadable images skipped (each replaced by the next\n"
		"                       readable one; listed in DIR/skipped.txt) before\n"
		"                       training stops (100; 0 = the first one stops it)\n"
		"model (defaults per dataset, from the paper):\n"
		"  --encoder E          basic28 | dcgan28 | dcgan32 | dcgan64 | alexnet64 |\n"
		"                       foldalex64 | foldresnet19_32 | resnet19_32 |\n"
		"                       tiny12 (a 12x12 test and smoke encoder, not the paper's)\n"
		"  --estimator E        jsd (default) | nce | dv\n"
		"  --critic C           local critic: dot (encode-and-dot product, all in-batch\n"
		"                       negatives; default) | concat (concat-and-convolve, one\n"
		"                       shuffled negative per location; jsd or nce)\n"
		"  --preset P           local (default: a=0 b=1 g=0.1) | global (1,0,1) |\n"
		"                       local+global (0.5,0.1,0.1) | local-noprior (0,1,0)\n"
		"  --alpha/--beta/--gamma W   weights of the global, local and prior terms\n"
		"  --mi-units D         local critic width (2048; 512 for MNIST-like data)\n"
		"  --y-dim N            global vector size (64)\n"
		"optimisation:\n"
		"  --batch N            images per step (64); under mpirun, the global batch:\n"
		"                       each of K ranks takes N/K (see README, MPI)\n"
		"  --accum A            split each step into A micro-batches of N/A images\n"
		"                       (gradients summed, then scaled 1/A; BN and negatives\n"
		"                       per micro-batch, as on A data-parallel ranks) (1)\n"
		"  --epochs N           (idx 10, cifar 1000, others 200)\n"
		"  --steps N            stop after N steps (0 = run the epochs)\n"
		"  --lr X               Adam learning rate (1e-4)\n"
		"  --beta1 X --beta2 X  Adam betas (0.5, 0.999)\n"
		"  --seed N             initialisation, data order, augmentation, prior (1)\n"
		"output:\n"
		"  --out DIR            run directory (default runs/<format>-<estimator>)\n"
		"  --ckpt-every N       checkpoint every N steps (default 500; 0 = end only)\n"
		"  --keep N             checkpoints kept (3)\n"
		"  --resume DIR|FILE    continue a run exactly (a missing path is an error; a\n"
		"                       damaged latest checkpoint falls back to the newest one\n"
		"                       that loads). Model, optimizer state, data and data order\n"
		"                       come from the checkpoint; schedule flags, --lr, --beta1\n"
		"                       and --beta2 are honoured; model flags, --seed and another\n"
		"                       --data are refused\n"
		"  --progress MODE      auto | bar | lines | none. Each step shows the loss terms\n"
		"                       and the estimator's MI bound in nats (I_jsd: the JSD\n"
		"                       form, at most 2 log 2 and below 0 while the critic is\n"
		"                       worse than chance; I_nce <= log(1+(N-1)L); I_dv); the\n"
		"                       prior terms only when --gamma > 0. Epochs count from 1\n"
		"                       (as in metrics.jsonl and cldim info)\n"
		"  --log-every SEC      seconds between progress lines when not a terminal (10)\n"
		"  --force              start over in an --out directory that holds a run\n"
		"                       (its checkpoints and metrics are removed first)\n"
		"  -q, --quiet          no progress output, errors only\n"
		"device:\n"
		"  --device SEL         see cldim devices (default auto, or CLDIM_DEVICE; under\n"
		"                       mpirun: the node-local rank's GPU, else device)\n"
		"  --no-cache           do not use the compiled-kernel cache\n"
		"  --profile            time every kernel; print device time per phase at the end\n",
		dim_dataset_formats());
}

/* Everything the command line says; "not given" is NAN, -1 or NULL (a
 * resumed run then takes the checkpoint's value, a new one the default). */
struct train_args {
	const char *data, *format, *split, *encoder, *est, *preset, *out, *resume, *prog;
	const char *device, *critic;
	double alpha, beta, gamma, lr, b1, b2, every;
	long limit, threads, units, ydim, batch, epochs, keep, steps, ckpt, seed, accum, max_bad;
	int quiet, no_cache, profile, force, seed_given;
};

/* Parse argv into *a: -1 to go on, else the exit code (0 after --help). */
static int parse_args(int argc, char **argv, struct train_args *a)
{
	enum { O_FORMAT = 256, O_SPLIT, O_LIMIT, O_THREADS, O_ENCODER, O_EST, O_CRITIC, O_PRESET,
	       O_ALPHA, O_BETA, O_GAMMA, O_UNITS, O_YDIM, O_BATCH, O_EPOCHS, O_STEPS, O_LR,
	       O_B1, O_B2, O_SEED, O_OUT, O_CKPT, O_KEEP, O_RESUME, O_PROGRESS, O_LOGEVERY,
	       O_QUIET, O_DEVICE, O_NOCACHE, O_DATA, O_PROFILE, O_ACCUM, O_FORCE, O_MAXBAD };
	static const struct option opts[] = {
		{"data", required_argument, NULL, O_DATA}, {"format", required_argument, NULL, O_FORMAT},
		{"split", required_argument, NULL, O_SPLIT}, {"limit", required_argument, NULL, O_LIMIT},
		{"threads", required_argument, NULL, O_THREADS},
		{"encoder", required_argument, NULL, O_ENCODER},
		{"estimator", required_argument, NULL, O_EST},
		{"critic", required_argument, NULL, O_CRITIC},
		{"preset", required_argument, NULL, O_PRESET},
		{"alpha", required_argument, NULL, O_ALPHA}, {"beta", required_argument, NULL, O_BETA},
		{"gamma", required_argument, NULL, O_GAMMA},
		{"mi-units", required_argument, NULL, O_UNITS},
		{"y-dim", required_argument, NULL, O_YDIM}, {"batch", required_argument, NULL, O_BATCH},
		{"epochs", required_argument, NULL, O_EPOCHS},
		{"steps", required_argument, NULL, O_STEPS}, {"lr", required_argument, NULL, O_LR},
		{"beta1", required_argument, NULL, O_B1}, {"beta2", required_argument, NULL, O_B2},
		{"seed", required_argument, NULL, O_SEED}, {"out", required_argument, NULL, O_OUT},
		{"ckpt-every", required_argument, NULL, O_CKPT},
		{"keep", required_argument, NULL, O_KEEP},
		{"resume", required_argument, NULL, O_RESUME},
		{"progress", required_argument, NULL, O_PROGRESS},
		{"log-every", required_argument, NULL, O_LOGEVERY},
		{"quiet", no_argument, NULL, O_QUIET}, {"device", required_argument, NULL, O_DEVICE},
		{"no-cache", no_argument, NULL, O_NOCACHE}, {"help", no_argument, NULL, 'h'},
		{"profile", no_argument, NULL, O_PROFILE},
		{"accum", required_argument, NULL, O_ACCUM},
		{"force", no_argument, NULL, O_FORCE},
		{"max-bad", required_argument, NULL, O_MAXBAD},
		{NULL, 0, NULL, 0},
	};
	*a = (struct train_args){
		.prog = "auto", .critic = "dot", .alpha = NAN, .beta = NAN, .gamma = NAN,
		.lr = NAN, .b1 = NAN, .b2 = NAN, .every = 10, .limit = -1, .threads = 1,
		.batch = -1, .keep = -1, .steps = -1, .ckpt = -1, .seed = 1, .accum = 1,
		.max_bad = 100, .quiet = cli_quiet,
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		int ok = 1;
		switch (c) {
		case O_DATA: a->data = optarg; break;
		case O_FORMAT: a->format = optarg; break;
		case O_SPLIT: a->split = optarg; break;
		case O_LIMIT: ok = cli_int("train", "--limit", optarg, 0, 1L << 40, &a->limit); break;
		case O_THREADS: ok = cli_int("train", "--threads", optarg, 1, 64, &a->threads); break;
		case O_ENCODER: a->encoder = optarg; break;
		case O_EST: a->est = optarg; break;
		case O_CRITIC: a->critic = optarg; break;
		case O_PRESET: a->preset = optarg; break;
		case O_ALPHA: ok = cli_float("train", "--alpha", optarg, 0, 1e6, &a->alpha); break;
		case O_BETA: ok = cli_float("train", "--beta", optarg, 0, 1e6, &a->beta); break;
		case O_GAMMA: ok = cli_float("train", "--gamma", optarg, 0, 1e6, &a->gamma); break;
		case O_UNITS: ok = cli_int("train", "--mi-units", optarg, 1, 65536, &a->units); break;
		case O_YDIM: ok = cli_int("train", "--y-dim", optarg, 1, 65536, &a->ydim); break;
		case O_BATCH: ok = cli_int("train", "--batch", optarg, 2, 1 << 20, &a->batch); break;
		case O_EPOCHS:
			ok = cli_int("train", "--epochs", optarg, 1, 1 << 24, &a->epochs);
			break;
		case O_STEPS: ok = cli_int("train", "--steps", optarg, 0, 1L << 40, &a->steps); break;
		case O_LR: ok = cli_float("train", "--lr", optarg, 0, 10, &a->lr); break;
		case O_B1: ok = cli_float("train", "--beta1", optarg, 0, 0.999999, &a->b1); break;
		case O_B2: ok = cli_float("train", "--beta2", optarg, 0, 0.999999999, &a->b2); break;
		case O_SEED: ok = cli_int("train", "--seed", optarg, 0, 1L << 62, &a->seed);
			a->seed_given = 1; break;
		case O_OUT: a->out = optarg; break;
		case O_CKPT:
			ok = cli_int("train", "--ckpt-every", optarg, 0, 1L << 40, &a->ckpt);
			break;
		case O_KEEP: ok = cli_int("train", "--keep", optarg, 1, 100000, &a->keep); break;
		case O_RESUME: a->resume = optarg; break;
		case O_PROGRESS: a->prog = optarg; break;
		case O_LOGEVERY:
			ok = cli_float("train", "--log-every", optarg, 0, 1e6, &a->every);
			break;
		case 'q':
		case O_QUIET: a->quiet = 1; cli_set_quiet(); break;
		case O_FORCE: a->force = 1; break;
		case O_MAXBAD:
			ok = cli_int("train", "--max-bad", optarg, 0, 1 << 24, &a->max_bad);
			break;
		case O_DEVICE: a->device = optarg; break;
		case O_NOCACHE: a->no_cache = 1; break;
		case O_PROFILE: a->profile = 1; break;
		case O_ACCUM: ok = cli_int("train", "--accum", optarg, 1, 1 << 16, &a->accum); break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
		if (!ok)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "cldim train: unexpected argument '%s' (see cldim train --help)\n",
			argv[optind]);
		return 2;
	}
	if (strcmp(a->critic, "dot") && strcmp(a->critic, "concat")) {
		fprintf(stderr, "cldim train: --critic %s: use dot (encode-and-dot product) or "
				"concat (concat-and-convolve)\n", a->critic);
		return 2;
	}
	if (strcmp(a->prog, "auto") && strcmp(a->prog, "bar") && strcmp(a->prog, "lines") &&
	    strcmp(a->prog, "none")) {
		fprintf(stderr, "cldim train: --progress %s: use auto, bar, lines or none\n",
			a->prog);
		return 2;
	}
	return -1;
}

/* Resuming: the model configuration, the data and the schedule come from the
 * checkpoint, unless a flag overrides what may change. -1 to go on. */
static int resume_from(struct train_args *a, dim_config *cfg, char *ckpt_path, size_t n)
{
	dim_error err = {0};
	dim_train_state rs;
	dim_status st = dim_resolve_checkpoint(a->resume, ckpt_path, n, &err);
	if (!st)
		st = dim_checkpoint_read_config(ckpt_path, cfg, &rs, &err);
	if (st)
		return cli_fail("train", st, dim_error_text(&err));
	int flags_rc = resume_flags(cfg, &rs, a->data, a->lr, a->b1, a->b2, a->quiet);
	if (flags_rc)
		return flags_rc;
	if (!a->data)
		a->data = strdup(rs.dataset);
	if (!a->format && rs.format[0])
		a->format = strdup(rs.format);
	/* the schedule continues as stored unless a flag overrides it */
	stored_long(rs.config_json, "batch", &a->batch);
	stored_long(rs.config_json, "limit", &a->limit);
	stored_long(rs.config_json, "steps", &a->steps);
	stored_long(rs.config_json, "ckpt_every", &a->ckpt);
	stored_long(rs.config_json, "keep", &a->keep);
	const char *e = stored(rs.config_json, "epochs");
	if (!a->epochs && e)
		a->epochs = strtol(e, NULL, 10);
	const char *sp = stored(rs.config_json, "split");
	if (!a->split && sp && *sp == '"')
		a->split = strndup(sp + 1, strcspn(sp + 1, "\"\\"));
	return -1;
}

/* A new run's model configuration: the dataset preset's encoder and sizes,
 * then the flags. A resumed run refuses model flags. -1 to go on. */
static int model_config(const struct train_args *a, const dim_train_preset *dd, dim_config *cfg)
{
	dim_error err = {0};
	if (a->resume) {
		if (a->encoder || a->est || a->preset || strcmp(a->critic, "dot") || a->units ||
		    a->ydim || !isnan(a->alpha) || !isnan(a->beta) || !isnan(a->gamma) ||
		    a->seed_given) {
			fprintf(stderr, "cldim train: model options cannot change on --resume (the "
					"checkpoint's configuration and seed are used)\n");
			return 2;
		}
		return -1;
	}
	snprintf(cfg->encoder, sizeof cfg->encoder, "%s", a->encoder ? a->encoder : dd->encoder);
	cfg->in_channels = dd->channels;
	cfg->local_critic = !strcmp(a->critic, "concat") ? DIM_CRITIC_CONCAT : DIM_CRITIC_DOT;
	cfg->mi_units = a->units ? (int)a->units : dd->mi_units;
	if (a->ydim)
		cfg->y_dim = (int)a->ydim;
	if (a->est && dim_mi_parse(a->est, &cfg->estimator, &err))
		return cli_fail("train", DIM_ERR_ARG, dim_error_text(&err));
	if (a->preset && dim_config_preset(cfg, a->preset, &err))
		return cli_fail("train", DIM_ERR_ARG, dim_error_text(&err));
	if (!isnan(a->alpha))
		cfg->alpha = (float)a->alpha;
	if (!isnan(a->beta))
		cfg->beta = (float)a->beta;
	if (!isnan(a->gamma))
		cfg->gamma = (float)a->gamma;
	if (!isnan(a->lr))
		cfg->lr = (float)a->lr;
	if (!isnan(a->b1))
		cfg->beta1 = (float)a->b1;
	if (!isnan(a->b2))
		cfg->beta2 = (float)a->b2;
	cfg->seed = (uint64_t)a->seed;
	if (cfg->local_critic == DIM_CRITIC_CONCAT && cfg->estimator == DIM_MI_DV) {
		fprintf(stderr, "cldim train: --critic concat has one negative per "
				"positive: use --estimator jsd or nce with it (dv needs "
				"--critic dot)\n");
		return 2;
	}
	if (cfg->alpha == 0 && cfg->beta == 0) {
		fprintf(stderr, "cldim train: --alpha and --beta are both 0: no MI term to train\n");
		return 2;
	}
	return -1;
}

/* The directory of checkpoint file `ckpt_path` into out[n]. */
static void ckpt_dir(const char *ckpt_path, char *out, size_t n)
{
	const char *slash = strrchr(ckpt_path, '/');
	snprintf(out, n, "%.*s", slash ? (int)(slash - ckpt_path) : 1, slash ? ckpt_path : ".");
}

/* a->out when not given: runs/<dataset>-<estimator>, or a resumed
 * checkpoint's directory. Then a run directory holds one run: continuing it
 * is --resume, replacing it --force. -1 to go on. */
static int choose_out(struct train_args *a, int embedded, const char *fmt_name,
		      const dim_config *cfg, const char *ckpt_path, char *outbuf, size_t n)
{
	if (!a->out) {
		snprintf(outbuf, n, "runs/%s-%s", embedded ? "fashion-mnist" : fmt_name,
			 dim_mi_name(cfg->estimator));
		if (a->resume) /* a checkpoint file: its directory is the run directory */
			ckpt_dir(ckpt_path, outbuf, n);
		a->out = outbuf;
	}
	char rdir[1200] = "";
	if (a->resume)
		ckpt_dir(ckpt_path, rdir, sizeof rdir);
	if ((!a->resume || !cli_same_file(a->out, rdir)) && dim_rundir_holds_run(a->out)) {
		if (!a->force) {
			fprintf(stderr, "cldim train: %s already holds a run (checkpoints or "
					"metrics): continue it with --resume %s, start over in it "
					"with --force, or choose another --out\n", a->out, a->out);
			return 2;
		}
		dim_rundir_clear(a->out);
		if (!a->quiet)
			fprintf(stderr, "cldim train: --force: removed the previous run's "
					"checkpoints and metrics from %s\n", a->out);
	}
	return -1;
}

/* Every option as one JSON object (malloc'd), printed and stored in the
 * checkpoints. */
static char *config_json(const struct train_args *a, const dim_config *cfg,
			 const char *fmt_name, const char *split, int size)
{
	char *json = NULL;
	size_t jlen = 0;
	FILE *jf = open_memstream(&json, &jlen);
	if (!jf)
		return NULL;
	dim_json j;
	dim_json_init(&j, jf, 0);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "data", a->data);
	dim_json_kv_string(&j, "format", fmt_name);
	dim_json_kv_string(&j, "split", split);
	dim_json_kv_string(&j, "encoder", cfg->encoder);
	dim_json_kv_int(&j, "in_channels", cfg->in_channels);
	dim_json_kv_int(&j, "image_size", size);
	dim_json_kv_string(&j, "estimator", dim_mi_name(cfg->estimator));
	dim_json_kv_string(&j, "critic", cfg->local_critic == DIM_CRITIC_CONCAT ? "concat" : "dot");
	dim_json_key(&j, "alpha");
	dim_json_float(&j, cfg->alpha);
	dim_json_key(&j, "beta");
	dim_json_float(&j, cfg->beta);
	dim_json_key(&j, "gamma");
	dim_json_float(&j, cfg->gamma);
	dim_json_kv_int(&j, "mi_units", cfg->mi_units);
	dim_json_kv_int(&j, "y_dim", cfg->y_dim);
	dim_json_kv_int(&j, "batch", a->batch);
	dim_json_kv_int(&j, "accum", a->accum);
	dim_json_kv_int(&j, "epochs", a->epochs);
	dim_json_kv_int(&j, "steps", a->steps);
	dim_json_key(&j, "lr");
	dim_json_float(&j, cfg->lr);
	dim_json_key(&j, "beta1");
	dim_json_float(&j, cfg->beta1);
	dim_json_key(&j, "beta2");
	dim_json_float(&j, cfg->beta2);
	dim_json_kv_int(&j, "seed", (int64_t)cfg->seed);
	dim_json_kv_int(&j, "limit", a->limit);
	dim_json_kv_int(&j, "threads", a->threads);
	dim_json_kv_string(&j, "out", a->out);
	dim_json_kv_int(&j, "ckpt_every", a->ckpt);
	dim_json_kv_int(&j, "keep", a->keep);
	dim_json_end_object(&j);
	fclose(jf);
	return json;
}

int cmd_train(int argc, char **argv)
{
	struct train_args a;
	dim_error err = {0};
	int rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;

	dim_config cfg = dim_config_default();
	char ckpt_path[1200];
	if (a.resume && (rc = resume_from(&a, &cfg, ckpt_path, sizeof ckpt_path)) >= 0)
		return rc;
	int embedded = !a.data;
	if (embedded)
		a.data = EMBEDDED_DATA;

	/* Open once to learn the format and fail early on a bad path. */
	dim_dataset *ds;
	dim_dataset_opts dopt = {.format = a.format, .split = a.split};
	dim_status st = dim_dataset_open(&ds, a.data, &dopt, &err);
	if (st) {
		if (embedded)
			fprintf(stderr, "cldim train: no --data given and the embedded default is "
					"missing: install it with 'apt-get install dataset-fashion-mnist'\n");
		return cli_fail("train", st, dim_error_text(&err));
	}
	char fmt_name[32];
	snprintf(fmt_name, sizeof fmt_name, "%s", dim_dataset_get_info(ds)->format);
	dim_dataset_destroy(ds);
	const dim_train_preset *dd = dim_train_preset_for(fmt_name);
	if (!dd) /* every format the data layer opens has one; else the MNIST-like one */
		dd = dim_train_presets(NULL);

	if ((rc = model_config(&a, dd, &cfg)) >= 0)
		return rc;
	int size = dim_encoder_input_size(cfg.encoder);
	if (!size) {
		fprintf(stderr, "cldim train: --encoder %s: use basic28, dcgan28, dcgan32, dcgan64, "
				"alexnet64, foldalex64, foldresnet19_32, resnet19_32 or tiny12\n",
			cfg.encoder);
		return 2;
	}
	if (!a.epochs)
		a.epochs = dd->epochs;
	a.batch = a.batch < 0 ? dd->batch : a.batch;
	a.limit = a.limit < 0 ? 0 : a.limit;
	a.steps = a.steps < 0 ? 0 : a.steps;
	a.ckpt = a.ckpt < 0 ? 500 : a.ckpt;
	a.keep = a.keep < 0 ? 3 : a.keep;
	const char *split = a.split ? a.split : dd->split;

	char outbuf[1200];
	if ((rc = choose_out(&a, embedded, fmt_name, &cfg, ckpt_path, outbuf, sizeof outbuf)) >= 0)
		return rc;
	char *json = config_json(&a, &cfg, fmt_name, split, size);
	if (!json)
		return cli_fail("train", DIM_ERR_NOMEM, "out of host memory");

	const char *device = a.device;
	int quiet = a.quiet;
	dim_train_replicas replicas = {0};
#ifdef CLDIM_WITH_MPI
	/* under mpirun: one rank per device; rank 0 alone prints and writes */
	dim_mpi *mp = NULL;
	char mpi_dev[32];
	if (dim_mpi_launched()) {
		if ((st = dim_mpi_start(&mp, &err)))
			return cli_fail("train", st, dim_error_text(&err));
		if (!device && !cli_opts.device &&
		    (st = dim_mpi_device(mp, mpi_dev, sizeof mpi_dev, &err)))
			dim_mpi_abort(mp, dim_status_exit_code(st), dim_error_text(&err));
		device = device ? device : cli_opts.device ? NULL : mpi_dev;
		replicas = dim_mpi_replicas(mp);
		if (dim_mpi_rank(mp) > 0) {
			quiet = 1;
			if (dim_log_level() >= DIM_LOG_INFO)
				dim_log_set_level(DIM_LOG_WARN);
		}
	}
#endif
	dim_ctx *ctx;
	rc = cli_ctx("train", device, a.no_cache, a.profile, &ctx);
	if (rc) {
#ifdef CLDIM_WITH_MPI
		if (mp)
			dim_mpi_abort(mp, rc, "cannot open the OpenCL device");
#endif
		free(json);
		return rc;
	}
	if (replicas.count > 1)
		fprintf(stderr, "rank %d of %d: %s\n", replicas.rank, replicas.count,
			dim_ctx_device(ctx)->name);
	if (!quiet)
		fprintf(stderr, "cldim train on %s%s%s\nconfig: %s\n", dim_ctx_device(ctx)->name,
			dim_ctx_device(ctx)->type & DIM_DEV_GPU || device || cli_opts.device ? "" :
			" (no GPU found: training is slower than on a GPU)",
			embedded ? " (embedded default: Fashion-MNIST)" : "", json);

	struct progress_state ps = {.start = -1, .prior = cfg.gamma > 0};
	ps.bound = cfg.estimator == DIM_MI_NCE ? "I_nce" : cfg.estimator == DIM_MI_DV ? "I_dv"
										       : "I_jsd";
	ps.quiet = quiet || !strcmp(a.prog, "none");
	ps.tty = !strcmp(a.prog, "bar") || (!strcmp(a.prog, "auto") && isatty(STDERR_FILENO));
	ps.every = a.every;
	ps.last = -1e9;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	dim_train_options o = {
		.model = cfg, .data_path = a.data, .format = fmt_name, .split = split,
		.image_size = size, .threads = (int)a.threads, .limit = (size_t)a.limit,
		.batch = (int)a.batch, .epochs = (int)a.epochs, .max_steps = a.steps,
		.out_dir = a.out, .ckpt_every = a.ckpt, .keep_last = (int)a.keep,
		.config_json = json,
		.resume = a.resume ? ckpt_path : NULL, /* resolved once: one fallback notice */
		.stop = &stop_flag, .progress = progress, .progress_user = &ps,
		.accum = (int)a.accum, .replicas = replicas, .max_bad = (int)a.max_bad,
	};
	char written[1200] = "";
	dim_log_set_before(end_line_hook, &ps);
	st = dim_train_run(ctx, &o, written, sizeof written);
	dim_log_set_before(NULL, NULL);
	end_line(&ps);
#ifdef CLDIM_WITH_MPI
	if (mp && st && st != DIM_ERR_INTERRUPTED) {
		char msg[DIM_ERROR_MAX + 256];
		cli_flag_text("train", dim_ctx_errmsg(ctx), msg, sizeof msg);
		dim_mpi_abort(mp, dim_status_exit_code(st), msg);
	}
	dim_mpi_finish(mp); /* before the device goes: it frees the staging buffers */
#endif
	if (st == DIM_ERR_INTERRUPTED) { /* the library says where; the flag is ours */
		char msg[DIM_ERROR_MAX + 1300];
		snprintf(msg, sizeof msg, "%s; resume with --resume %s", dim_ctx_errmsg(ctx), a.out);
		rc = cli_fail("train", st, msg);
	} else if (st)
		rc = cli_fail("train", st, dim_ctx_errmsg(ctx));
	else if (replicas.rank == 0)
		printf("%s\n", written);
	if (a.profile) {
		fprintf(stderr, "\ndevice time by phase (all steps; profiling serialises the queue):\n");
		dim_profile_phase_print(ctx, stderr);
		fprintf(stderr, "\nour kernels (GEMMs are charged to phases above):\n");
		dim_ctx_profile_print(ctx, stderr);
	}
	dim_ctx_destroy(ctx);
	free(json);
	return rc;
}
