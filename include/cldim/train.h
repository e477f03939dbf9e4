/* cldim — the training loop behind `cldim train`: dataset, loader, model,
 * steps, checkpoints, resume, metrics log, guards. Progress goes to a callback
 * (the command-line tool draws a bar or prints lines); nothing here prints
 * except through dim_log. */
#ifndef CLDIM_TRAIN_H
#define CLDIM_TRAIN_H

#include <signal.h>

#include "cldim/checkpoint.h"
#include "cldim/data.h"
#include "cldim/rundir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_train_progress {
	long long step, total_steps;  /* optimizer steps: done, planned */
	int epoch, epochs;
	long long epoch_batch, epoch_batches;
	double images_per_s;          /* smoothed */
	double elapsed_s, eta_s;
	dim_step_metrics m;
	bool final;                   /* last call of the run */
} dim_train_progress;

typedef void (*dim_progress_fn)(void *user, const dim_train_progress *p);

/* Data-parallel replicas: one process per device, each with the same model
 * and its shard of every global batch (include/cldim/mpi.h fills this in).
 * All zero: one process. */
typedef struct dim_train_replicas {
	int rank, count;  /* this replica, replicas (0 = 1); rank 0 prints and writes */
	/* Called once the model exists (after any resume): make the replicas
	 * agree and install the gradient averaging (dim_model_set_grad_hook). */
	dim_status (*attach)(void *user, dim_model *m);
	/* Sum n doubles over all replicas, in place. A collective: every replica
	 * calls it at the same point with the same n. */
	dim_status (*allsum)(void *user, double *v, int n);
	void *user;
} dim_train_replicas;

typedef struct dim_train_options {
	dim_config model;
	/* data */
	const char *data_path;       /* dataset file or directory */
	const char *format;          /* NULL/"auto": detected */
	const char *split;           /* NULL: the format's pre-training split */
	int image_size;              /* encoder input (from the encoder) */
	int threads;                 /* loader threads */
	size_t limit;                /* use only the first N samples (0 = all) */
	int max_bad;                 /* unreadable images skipped (each replaced by the next
					readable one, logged, listed in <out_dir>/skipped.txt)
					before training fails; 0 = the first one fails */
	/* schedule */
	int batch;                   /* global: split over replicas, then micro-batches */
	int accum;                   /* micro-batches per step and replica (0 = 1), see
					dim_train_step_accum */
	int epochs;
	long long max_steps;         /* stop after this many steps (0 = epochs) */
	/* output */
	const char *out_dir;         /* checkpoints, metrics.jsonl, metrics.svg */
	long long ckpt_every;        /* steps between checkpoints (0 = end only) */
	int keep_last;               /* checkpoints kept (>= 1) */
	const char *resume;          /* checkpoint file or run directory; NULL = fresh */
	const char *config_json;     /* every option, stored in checkpoints */
	volatile sig_atomic_t *stop; /* set by a signal handler: stop at the next step */
	dim_progress_fn progress;    /* called after every step */
	void *progress_user;
	dim_train_replicas replicas;
} dim_train_options;

/* Per-dataset training defaults, by dataset format (the paper's settings,
 * docs/method.md §7); every one a caller may override. */
typedef struct dim_train_preset {
	const char *format;   /* dim_dataset_info.format */
	const char *encoder;  /* dim_config.encoder */
	const char *split;    /* the pre-training split */
	int channels, size;   /* encoder input: channels, image side */
	int epochs;
	int mi_units;         /* local critic width */
	int batch;            /* images per step */
} dim_train_preset;

/* The preset for a dataset format; NULL for a format without one. */
const dim_train_preset *dim_train_preset_for(const char *format);
/* The whole table (n entries, n may be NULL), e.g. to list it. */
const dim_train_preset *dim_train_presets(size_t *n);

/* Run training: the run directory (out_dir, see cldim/rundir.h) is created,
 * or continued when resuming. On SIGINT/SIGTERM (*stop set) it saves a
 * checkpoint at the step boundary and returns DIM_ERR_INTERRUPTED. A non-finite loss returns
 * DIM_ERR_NUMERIC naming the step and term; the last good checkpoint stays.
 * `written` (may be NULL) receives the path of the last checkpoint written. */
dim_status dim_train_run(dim_ctx *ctx, const dim_train_options *o, char *written, size_t n);

#ifdef __cplusplus
}
#endif
#endif
