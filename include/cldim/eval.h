/* cldim — the evaluation protocol behind `cldim eval` (docs/method.md §8):
 * frozen features of a checkpoint's encoder and of its baselines (raw pixels,
 * a randomly initialised encoder of the same architecture), each scored by a
 * linear probe (L-BFGS softmax regression, L2 penalty chosen on held-out
 * train rows), the paper's non-linear probe and cosine k-NN, trained on the
 * train split and scored on the test split; then the NDM of Y and MINE
 * I(X; Y). Progress goes to a callback; nothing here prints except through
 * dim_log and the report writers. */
#ifndef CLDIM_EVAL_H
#define CLDIM_EVAL_H

#include <stdio.h>

#include "cldim/encode.h"
#include "cldim/probe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The models compared: the trained encoder, then the random baseline. */
enum { DIM_EVAL_DIM, DIM_EVAL_RANDOM, DIM_EVAL_MODELS };
#define DIM_EVAL_MAX_ROWS (DIM_EVAL_MODELS * DIM_REPR_COUNT + 1)

typedef struct dim_eval_result dim_eval_result;

/* What dim_eval_run reports as it goes; result holds everything so far. */
typedef enum dim_eval_event {
	DIM_EVAL_FEATURES, /* model's train and test features extracted */
	DIM_EVAL_PROBES,   /* probe settings known (result->lin, mlp, k, classes) */
	DIM_EVAL_ROW,      /* result->rows[row] scored */
	DIM_EVAL_NDM,      /* model's NDM done */
	DIM_EVAL_MINE,     /* model's MINE done */
} dim_eval_event;

typedef void (*dim_eval_progress_fn)(void *user, dim_eval_event ev, int index,
				     const dim_eval_result *r);

typedef struct dim_eval_options {
	const char *checkpoint;      /* checkpoint file or run directory (dim_resolve_checkpoint) */
	const char *data;            /* dataset; NULL: the one the checkpoint was trained on */
	const char *format;          /* NULL: the checkpoint's (same data) or detected */
	const char *train_split, *test_split;    /* "train", "test" */
	size_t train_limit, test_limit;          /* first N images (0 = all) */
	int nrepr;                   /* representations; 0: conv, fc, Y */
	dim_repr reprs[DIM_REPR_COUNT];
	int mlp_epochs;              /* non-linear probe epochs at most */
	double mlp_lr;               /* its learning rate (x 0.1 after epochs 50 and 100) */
	double mlp_holdout;          /* train rows held out to pick its epoch (0: last epoch) */
	int mlp_patience;            /* stop after this many epochs without a better held-out
				      * accuracy (0: run every epoch) */
	double linear_l2;            /* linear probe penalty; < 0: chosen on 10% of train */
	int linear_iters;            /* L-BFGS iteration limit per fit */
	int k;                       /* neighbours for k-NN */
	int ndm_steps;               /* NDM discriminator steps (0 = no NDM, no MINE) */
	bool baselines;              /* pixel and random-encoder rows (MINE needs the pixels) */
	uint64_t seed;               /* probes, the random encoder (seed + 7919), NDM */
	int batch, threads;          /* encoder batch, decode threads */
	dim_eval_progress_fn progress;
	void *progress_user;
} dim_eval_options;

/* The CLI's defaults: train/test splits, 10000 train images, all test
 * images, conv/fc/Y, the MLP probe's defaults (dim_probe_mlp_defaults), chosen L2, 500 L-BFGS
 * iterations, 10-NN, 300 NDM steps, baselines on, seed 1, batch 256,
 * 2 threads. */
dim_eval_options dim_eval_defaults(void);

typedef struct dim_eval_row {
	char model[16];              /* "pixels", "DIM", "random" */
	char repr[16];               /* "raw", or dim_repr_name */
	int dim;                     /* feature width */
	dim_logreg_result lin;
	dim_probe_result mlp;
	double knn;                  /* k-NN test accuracy */
	double seconds;
} dim_eval_row;

typedef struct dim_eval_model {
	char name[16];               /* "DIM", "random" */
	bool present;
	size_t train_n, test_n;      /* images featurised */
	double extract_s;            /* seconds to extract both splits */
	double ndm_sigmoid, ndm_raw; /* NDM of sigmoid(Y) and of raw Y (NaN: not run) */
	double mine;                 /* MINE I(X; Y) in nats (NaN: not run) */
} dim_eval_model;

struct dim_eval_result {
	char checkpoint[1200];       /* the resolved checkpoint file */
	long long step;              /* its training step */
	char data[1024];             /* the dataset evaluated */
	size_t train_images, test_images;
	int classes;
	dim_logreg_opts lin;         /* the settings used */
	dim_probe_opts mlp;
	int k;
	bool ndm;                    /* Y evaluated and ndm_steps > 0: models[].ndm_* set */
	bool mine;                   /* with the pixel baseline: models[].mine set */
	int nrows;
	dim_eval_row rows[DIM_EVAL_MAX_ROWS]; /* pixels, random rows, DIM rows */
	dim_eval_model models[DIM_EVAL_MODELS];
};

/* Run the protocol. Errors (which file, which split, no labels) are in the
 * context's error; r holds what was done before the failure. */
dim_status dim_eval_run(dim_ctx *ctx, const dim_eval_options *o, dim_eval_result *r);

/* The result as a JSON object (the format of `cldim eval --json`). */
dim_status dim_eval_write_json(const dim_eval_result *r, FILE *f, dim_error *err);
/* The result as markdown tables (the format of `cldim eval`). */
void dim_eval_write_markdown(const dim_eval_result *r, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
