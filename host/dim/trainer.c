/* The training loop (see include/cldim/train.h). The run directory (the
 * checkpoints, the metrics log and plot) is host/dim/rundir.c and run_log.c. */
#include <inttypes.h>
#include <string.h>

#include "cldim/rundir.h"
#include "cldim/train.h"

/* Data parallel: K replicas x A micro-batches per step, each of `micro` images. */
struct split {
	int K, A, micro;
};

static dim_status split_batch(const dim_train_options *o, struct split *s, dim_error *err)
{
	s->K = o->replicas.count > 1 ? o->replicas.count : 1;
	s->A = o->accum > 1 ? o->accum : 1;
	s->micro = o->batch / (s->K * s->A);
	if (o->batch < 2)
		return dim_fail(err, DIM_ERR_ARG, "batch size %d: DIM needs at least 2 images per "
				"batch (the other images are the negatives)", o->batch);
	if (o->batch % (s->K * s->A) || s->micro < 2)
		return dim_fail(err, DIM_ERR_ARG, "batch size %d does not split into %d replica(s) "
				"x %d micro-batch(es) of at least 2 images", o->batch, s->K, s->A);
	return DIM_OK;
}

/* Replicas: the mean of each metric over all of them, and whether any was
 * told to stop (then all stop at the same step). */
static dim_status replica_mean(const dim_train_replicas *r, int K, dim_step_metrics *mt,
			       bool *stop)
{
	float *f[] = {&mt->local, &mt->global, &mt->prior_enc, &mt->prior_disc, &mt->total,
		      &mt->mi_local, &mt->mi_global};
	double v[8];
	for (int i = 0; i < 7; i++)
		v[i] = *f[i];
	v[7] = *stop;
	dim_status st = r->allsum(r->user, v, 8);
	if (st)
		return st;
	for (int i = 0; i < 7; i++)
		*f[i] = (float)(v[i] / K);
	*stop = v[7] > 0;
	return DIM_OK;
}

static void log_memory_plan(dim_ctx *ctx, dim_model *m)
{
	size_t np = dim_params_numel(dim_model_params(m), false) +
		    dim_params_numel(dim_model_prior_params(m), false);
	dim_log(DIM_LOG_INFO, "memory plan: %.1f MiB of parameters, as much again for gradients "
		"and twice for Adam's moments; activations are sized by the first step (device: "
		"%.0f MiB)", (double)np * 4 / 1048576.0,
		(double)dim_ctx_device(ctx)->global_mem / 1048576.0);
}

static void log_first_step(dim_ctx *ctx, dim_model *m, double seconds)
{
	dim_model_memory u = dim_model_memory_use(m);
	double mib = 1.0 / 1048576.0;
	dim_log(DIM_LOG_INFO, "first step done in %.1f s (kernel builds included); device memory: "
		"parameters %.1f MiB, gradients %.1f, Adam %.1f, activations %.1f, total %.1f of "
		"%.0f MiB", seconds, u.params * mib, u.grads * mib, u.optimizer * mib,
		u.activations * mib, (u.params + u.grads + u.optimizer + u.activations) * mib,
		(double)dim_ctx_device(ctx)->global_mem * mib);
}

/* One training run (dim_train_run): what it opened, the schedule, and the
 * training position after the last step. */
struct run {
	dim_ctx *ctx;
	const dim_train_options *o;
	dim_error *err;
	bool lead;                   /* the replica that writes the run directory */
	struct split sp;
	dim_dataset *ds;
	dim_loader *ld;
	dim_model *m;
	dim_run_log *log;            /* lead only */
	dim_feed *feed;              /* a step's A micro-batches, double-buffered (data/upload.c) */
	dim_tensor xt;
	size_t mbytes;
	dim_train_state ts;
	long long per_epoch, total;  /* optimizer steps per epoch, in all */
	double t0, rate;             /* start, smoothed images/s */
	bool first;                  /* no step done yet (kernel builds, OOM hint) */
	char *written;
	size_t wn;
};

/* The model, and the training position of a resumed run (ts->data_seed and
 * the loader's seed from the checkpoint). */
static dim_status make_model(struct run *r, dim_loader_config *lc)
{
	const dim_train_options *o = r->o;
	dim_status st = dim_model_create(r->ctx, &o->model, &r->m);
	if (st)
		return st;
	r->ts.data_seed = o->model.seed;
	if (o->resume) {
		char path[1200];
		st = dim_resolve_checkpoint(o->resume, path, sizeof path, r->err);
		if (!st)
			st = dim_checkpoint_load(r->m, path, &r->ts);
		if (st)
			return st;
		lc->seed = r->ts.data_seed;
		dim_log(DIM_LOG_INFO, "resumed from %s at step %lld (epoch %d, batch %lld)", path,
			r->ts.step, r->ts.epoch + 1, r->ts.epoch_batch);
	}
	if (o->replicas.attach && (st = o->replicas.attach(o->replicas.user, r->m)))
		return st;
	snprintf(r->ts.config_json, sizeof r->ts.config_json, "%s",
		 o->config_json ? o->config_json : "{}");
	return DIM_OK;
}

/* Data, model (resumed), loader, the schedule, the batch buffer, the log. */
static dim_status run_open(struct run *r)
{
	const dim_train_options *o = r->o;
	dim_dataset_opts dopt = {.format = o->format, .split = o->split};
	dim_status st = dim_dataset_open(&r->ds, o->data_path, &dopt, r->err);
	if (st)
		return st;
	const dim_dataset_info *info = dim_dataset_get_info(r->ds);
	dim_loader_config lc = {.batch_size = r->sp.micro, .threads = o->threads, .shuffle = 1,
				.drop_last = 1, .seed = o->model.seed, .limit = o->limit,
				.shard_count = r->sp.K * r->sp.A,
				.shard_index = o->replicas.rank * r->sp.A, .shards = r->sp.A,
				.max_bad = o->max_bad};
	st = dim_transform_preset(&lc.transform, info->format, o->image_size, o->model.in_channels,
				  1, r->err);
	if (!st)
		st = make_model(r, &lc);
	if (st)
		return st;
	snprintf(r->ts.dataset, sizeof r->ts.dataset, "%s", o->data_path);
	snprintf(r->ts.format, sizeof r->ts.format, "%s", info->format);
	st = dim_loader_create(&r->ld, r->ds, &lc, r->err);
	if (st)
		return st;

	r->per_epoch = (long long)dim_loader_batches(r->ld) / r->sp.A;
	if (r->per_epoch < 1) {
		size_t have = o->limit && o->limit < info->count ? o->limit : info->count;
		return dim_fail(r->err, DIM_ERR_ARG, "%s: %zu images are fewer than one batch of %d "
				"(try batch size %zu or less)", o->data_path, have, o->batch,
				have / 2 * 2 >= 2 ? have / 2 * 2 : (size_t)2);
	}
	r->total = (long long)o->epochs * r->per_epoch;
	if (o->max_steps > 0 && o->max_steps < r->total)
		r->total = o->max_steps;

	const dim_transform *tf = &lc.transform;
	r->mbytes = (size_t)r->sp.micro * tf->out_c * tf->out_h * tf->out_w * sizeof(float);
	st = dim_feed_create(r->ctx, r->ld, r->sp.A, r->mbytes, &r->feed, r->err);
	if (st)
		return st;
	r->xt = (dim_tensor){.ndim = 4,
			     .shape = {r->sp.micro * r->sp.A, tf->out_c, tf->out_h, tf->out_w}};
	log_memory_plan(r->ctx, r->m);
	if (r->lead)
		st = dim_run_log_open(&r->log, o->out_dir, o->resume ? r->ts.step : -1, r->err);
	return st;
}

static dim_status checkpoint(struct run *r)
{
	dim_run_log_sync(r->log); /* the log is durable up to the checkpoint */
	return dim_rundir_save(r->o->out_dir, r->m, &r->ts, r->o->keep_last, r->written, r->wn);
}

/* After step `step` (batch b of epoch): metrics, progress, the position,
 * and a checkpoint when one is due or the run was told to stop. */
static dim_status after_step(struct run *r, int epoch, long long b, const dim_step_metrics *mt,
			     double seconds, bool stop)
{
	const dim_train_options *o = r->o;
	long long step = r->ts.step + 1;
	/* the first step includes kernel builds: it seeds no rate */
	double im = seconds > 0 ? o->batch / seconds : 0;
	r->rate = r->first ? 0 : r->rate ? 0.9 * r->rate + 0.1 * im : im;
	r->first = false;
	dim_train_progress p = {step, r->total, epoch, o->epochs, b + 1, r->per_epoch, r->rate,
				dim_now() - r->t0,
				r->rate > 0 ? (double)(r->total - step) * o->batch / r->rate : 0, *mt,
				false};
	dim_run_log_step(r->log, &p, o->model.gamma > 0);
	if (o->progress && r->lead)
		o->progress(o->progress_user, &p);
	r->ts.step = step;
	r->ts.epoch = epoch;
	r->ts.epoch_batch = b + 1;
	if (r->ts.epoch_batch == r->per_epoch) { /* the next step starts a new epoch */
		r->ts.epoch = epoch + 1;
		r->ts.epoch_batch = 0;
	}
	if (stop) {
		dim_status st = r->lead ? checkpoint(r) : DIM_OK;
		return st ? st : dim_fail(r->err, DIM_ERR_INTERRUPTED, "interrupted at step %lld; "
					  "checkpoint saved in run directory %s", step, o->out_dir);
	}
	if (r->lead && o->ckpt_every > 0 && step % o->ckpt_every == 0 && step < r->total)
		return checkpoint(r);
	return DIM_OK;
}

/* Batch b of epoch: load it, one optimizer step, then after_step. */
static dim_status train_batch(struct run *r, int epoch, long long b)
{
	double s0 = dim_now();
	dim_step_metrics mt;
	/* this step's images; the next step's are fetched and queued while
	 * this one runs, within the epoch (data/upload.c) */
	dim_status st = dim_feed_next(r->feed, b + 1 < r->per_epoch && r->ts.step + 1 < r->total,
				      &r->xt.buf, r->err);
	if (st)
		return st;
	st = dim_train_step_accum(r->m, &r->xt, r->sp.A, &mt);
	if (st == DIM_ERR_DEVICE_MEM && r->first)
		dim_fail_prefix(r->err, "the device cannot hold a batch of %d (try batch size %d): ",
				r->o->batch, r->o->batch / 2);
	if (st)
		return st;
	if (r->first)
		log_first_step(r->ctx, r->m, dim_now() - s0);
	bool stop = r->o->stop && *r->o->stop;
	if (r->sp.K > 1 && r->o->replicas.allsum &&
	    (st = replica_mean(&r->o->replicas, r->sp.K, &mt, &stop)))
		return st;
	return after_step(r, epoch, b, &mt, dim_now() - s0, stop);
}

dim_status dim_train_run(dim_ctx *ctx, const dim_train_options *o, char *written, size_t wn)
{
	struct run r = {.ctx = ctx, .o = o, .err = dim_ctx_error(ctx),
			.lead = o->replicas.rank == 0, .first = true, .written = written, .wn = wn};
	dim_status st = split_batch(o, &r.sp, r.err);
	if (!st && r.lead)
		st = dim_rundir_prepare(o->out_dir, r.err);
	if (st)
		return st;
	st = run_open(&r);
	if (st)
		goto out;

	/* a resumed run first consumes the batches its checkpoint had trained on */
	int epoch0 = r.ts.epoch;
	long long done0 = r.ts.epoch_batch;
	r.t0 = dim_now();
	for (int epoch = epoch0; r.ts.step < r.total && !st; epoch++) {
		st = dim_loader_start_epoch(r.ld, (uint64_t)epoch, r.err);
		for (long long b = 0; !st && b < r.per_epoch && r.ts.step < r.total; b++)
			st = epoch == epoch0 && b < done0
				     ? dim_feed_skip(r.feed, r.err)
				     : train_batch(&r, epoch, b);
	}
	if (!st && r.lead)
		st = checkpoint(&r);
	if (o->progress && r.lead && st != DIM_ERR_NUMERIC) {
		dim_train_progress p = {.step = r.ts.step, .total_steps = r.total, .final = true,
					.elapsed_s = dim_now() - r.t0, .images_per_s = r.rate};
		o->progress(o->progress_user, &p);
	}
	dim_run_log_plot(r.log);
out:
	if (r.ld && r.lead)
		dim_rundir_write_skipped(o->out_dir, r.ld);
	dim_run_log_close(r.log);
	dim_feed_destroy(r.feed);
	dim_loader_destroy(r.ld);
	dim_model_destroy(r.m);
	dim_dataset_destroy(r.ds);
	return st;
}
