/* cldim — a training run's directory: what dim_train_run writes there and how
 * a run is found again.
 *
 *   ckpt-<step, 8 digits>.safetensors   checkpoints, the newest `keep` kept
 *   latest                              the name of the newest checkpoint
 *   metrics.jsonl                       one JSON object per step
 *   metrics.svg                         the loss terms, MI bounds, images/s by step
 *   skipped.txt                         unreadable images the loader skipped
 *
 * Every file is written atomically (temporary file, fsync, rename) except
 * metrics.jsonl, which only ever grows by whole lines. Nothing here prints
 * except through dim_log. */
#ifndef CLDIM_RUNDIR_H
#define CLDIM_RUNDIR_H

#include "cldim/checkpoint.h"
#include "cldim/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_train_progress dim_train_progress; /* cldim/train.h */

/* Create the directory (mkdir -p) and remove the temporary files that killed
 * runs left in it. */
dim_status dim_rundir_prepare(const char *dir, dim_error *err);

/* Does dir hold a run's files (checkpoints, latest, metrics, skipped.txt)?
 * Other files do not count. */
bool dim_rundir_holds_run(const char *dir);

/* Remove a run's files from dir (only those; anything else stays). A file
 * that cannot be removed is logged and skipped; returns how many were. */
int dim_rundir_clear(const char *dir);

/* Write checkpoint <dir>/ckpt-<ts->step>.safetensors, point "latest" at it,
 * then delete all but the newest `keep` (>= 1) checkpoints. `written` (may be
 * NULL) receives the checkpoint's path. Errors go to the model's context. */
dim_status dim_rundir_save(const char *dir, dim_model *m, const dim_train_state *ts, int keep,
			   char *written, size_t wn);

/* The checkpoint a checkpoint-or-run-directory path names: a file, or a run
 * directory whose "latest" file names one (a damaged latest checkpoint falls
 * back to the newest one that loads, with a warning). A missing path is an
 * error (for a resume: not a fresh start). */
dim_status dim_resolve_checkpoint(const char *arg, char *path, size_t n, dim_error *err);

/* The run's metrics: metrics.jsonl (each line written whole by one write(2)
 * on an O_APPEND descriptor, so a kill leaves whole lines only; synced with
 * every checkpoint) and the history behind metrics.svg. */
typedef struct dim_run_log dim_run_log;

/* Open <dir>/metrics.jsonl: a fresh run truncates it; a run resumed at step
 * `resume_step` (>= 0) first cuts it back to the whole lines of steps <=
 * resume_step (the later steps are run again). A log that cannot be opened
 * is a warning; the run goes on without it. */
dim_status dim_run_log_open(dim_run_log **out, const char *dir, long long resume_step,
			    dim_error *err);
/* One step's line (and plot row). prior: gamma > 0 (else no prior columns). */
void dim_run_log_step(dim_run_log *l, const dim_train_progress *p, bool prior);
/* fsync the log (with a checkpoint: the lines up to it survive a power loss). */
void dim_run_log_sync(dim_run_log *l);
/* Write <dir>/metrics.svg from the steps logged by this process (a warning
 * on failure). */
void dim_run_log_plot(dim_run_log *l);
void dim_run_log_close(dim_run_log *l);

/* <dir>/skipped.txt: the unreadable images the loader skipped, "index\tmessage"
 * per line (nothing when none was; a warning on failure). */
void dim_rundir_write_skipped(const char *dir, dim_loader *ld);

#ifdef __cplusplus
}
#endif
#endif
