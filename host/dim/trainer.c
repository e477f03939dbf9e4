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

/* The next A micro-batches into their slots of x (uploaded unless skipped:
 * a resumed run consumes the batches its checkpoint had already trained on). */
static dim_status load_step(dim_ctx *ctx, dim_loader *ld, dim_buf x, size_t mbytes, int A,
			    bool skip, dim_error *err)
{
	dim_status st = DIM_OK;
	for (int a = 0; a < A && !st; a++) {
		dim_batch *batch = NULL;
		dim_buf slot = dim_buf_view(x, (size_t)a * mbytes, mbytes);
		st = dim_loader_next(ld, &batch, err);
		if (!st && !skip && batch)
			st = dim_batch_upload(ctx, batch, &slot, &(dim_buf){0}, err);
		if (!st && !skip)
			st = dim_finish(ctx);
		dim_loader_release(ld, batch);
	}
	return st;
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

/* The model, and the training position of a resumed run (ts->data_seed and
 * the loader's seed from the checkpoint). */
static dim_status make_model(dim_ctx *ctx, const dim_train_options *o, dim_loader_config *lc,
			     dim_model **m, dim_train_state *ts)
{
	dim_error *err = dim_ctx_error(ctx);
	dim_status st = dim_model_create(ctx, &o->model, m);
	if (st)
		return st;
	ts->data_seed = o->model.seed;
	if (o->resume) {
		char path[1200];
		st = dim_resolve_checkpoint(o->resume, path, sizeof path, err);
		if (!st)
			st = dim_checkpoint_load(*m, path, ts);
		if (st)
			return st;
		lc->seed = ts->data_seed;
		dim_log(DIM_LOG_INFO, "resumed from %s at step %lld (epoch %d, batch %lld)", path,
			ts->step, ts->epoch + 1, ts->epoch_batch);
	}
	if (o->replicas.attach && (st = o->replicas.attach(o->replicas.user, *m)))
		return st;
	snprintf(ts->config_json, sizeof ts->config_json, "%s",
		 o->config_json ? o->config_json : "{}");
	return DIM_OK;
}

static dim_status checkpoint(const dim_train_options *o, dim_model *m, dim_run_log *rlog,
			     const dim_train_state *ts, char *written, size_t wn)
{
	dim_run_log_sync(rlog); /* the log is durable up to the checkpoint */
	return dim_rundir_save(o->out_dir, m, ts, o->keep_last, written, wn);
}

dim_status dim_train_run(dim_ctx *ctx, const dim_train_options *o, char *written, size_t wn)
{
	dim_error *err = dim_ctx_error(ctx);
	dim_dataset *ds = NULL;
	dim_loader *ld = NULL;
	dim_model *m = NULL;
	dim_run_log *rlog = NULL;
	dim_buf xbuf = {0};
	dim_train_state ts;
	struct split sp;
	memset(&ts, 0, sizeof ts);
	bool lead = o->replicas.rank == 0; /* the replica that writes the run directory */

	dim_status st = split_batch(o, &sp, err);
	if (st)
		return st;
	if (lead && (st = dim_rundir_prepare(o->out_dir, err)))
		return st;

	/* data, model (resumed), loader */
	dim_dataset_opts dopt = {.format = o->format, .split = o->split};
	st = dim_dataset_open(&ds, o->data_path, &dopt, err);
	if (st)
		goto out;
	const dim_dataset_info *info = dim_dataset_get_info(ds);
	dim_loader_config lc = {.batch_size = sp.micro, .threads = o->threads, .shuffle = 1,
				.drop_last = 1, .seed = o->model.seed, .limit = o->limit,
				.shard_count = sp.K * sp.A, .shard_index = o->replicas.rank * sp.A,
				.shards = sp.A, .max_bad = o->max_bad};
	st = dim_transform_preset(&lc.transform, info->format, o->image_size, o->model.in_channels,
				  1, err);
	if (!st)
		st = make_model(ctx, o, &lc, &m, &ts);
	if (st)
		goto out;
	snprintf(ts.dataset, sizeof ts.dataset, "%s", o->data_path);
	snprintf(ts.format, sizeof ts.format, "%s", info->format);
	st = dim_loader_create(&ld, ds, &lc, err);
	if (st)
		goto out;

	/* the schedule */
	long long per_epoch = (long long)dim_loader_batches(ld) / sp.A;
	if (per_epoch < 1) {
		size_t have = o->limit && o->limit < info->count ? o->limit : info->count;
		st = dim_fail(err, DIM_ERR_ARG, "%s: %zu images are fewer than one batch of %d "
			      "(try batch size %zu or less)", o->data_path, have, o->batch,
			      have / 2 * 2 >= 2 ? have / 2 * 2 : (size_t)2);
		goto out;
	}
	long long total = (long long)o->epochs * per_epoch;
	if (o->max_steps > 0 && o->max_steps < total)
		total = o->max_steps;

	/* one device buffer for a step's A micro-batches */
	dim_transform *tf = &lc.transform;
	size_t mbytes = (size_t)sp.micro * tf->out_c * tf->out_h * tf->out_w * sizeof(float);
	st = dim_buf_create(ctx, mbytes * (size_t)sp.A, &xbuf);
	if (st)
		goto out;
	dim_tensor xt = {.buf = xbuf, .ndim = 4,
			 .shape = {sp.micro * sp.A, tf->out_c, tf->out_h, tf->out_w}};
	log_memory_plan(ctx, m);
	if (lead && (st = dim_run_log_open(&rlog, o->out_dir, o->resume ? ts.step : -1, err)))
		goto out;

	double t0 = dim_now(), rate = 0;
	bool first = true;
	long long step = ts.step;
	for (int epoch = ts.epoch; step < total && !st; epoch++) {
		st = dim_loader_start_epoch(ld, (uint64_t)epoch, err);
		for (long long b = 0; !st && b < per_epoch && step < total; b++) {
			bool skip = epoch == ts.epoch && b < ts.epoch_batch; /* resuming mid-epoch */
			double s0 = dim_now();
			dim_step_metrics mt;
			st = load_step(ctx, ld, xbuf, mbytes, sp.A, skip, err);
			if (skip || st)
				continue;
			st = dim_train_step_accum(m, &xt, sp.A, &mt);
			if (st == DIM_ERR_DEVICE_MEM && first)
				dim_fail_prefix(err, "the device cannot hold a batch of %d (try batch "
						"size %d): ", o->batch, o->batch / 2);
			if (st)
				break;
			if (first)
				log_first_step(ctx, m, dim_now() - s0);
			step++;
			bool stop = o->stop && *o->stop;
			if (sp.K > 1 && o->replicas.allsum &&
			    (st = replica_mean(&o->replicas, sp.K, &mt, &stop)))
				break;
			/* the first step includes kernel builds: it seeds no rate */
			double dt = dim_now() - s0, r = dt > 0 ? o->batch / dt : 0;
			rate = first ? 0 : rate ? 0.9 * rate + 0.1 * r : r;
			first = false;
			dim_train_progress p = {step, total, epoch, o->epochs, b + 1, per_epoch, rate,
						dim_now() - t0, rate > 0 ? (double)(total - step) *
									   o->batch / rate : 0,
						mt, false};
			dim_run_log_step(rlog, &p, o->model.gamma > 0);
			if (o->progress && lead)
				o->progress(o->progress_user, &p);
			ts.step = step;
			ts.epoch = epoch;
			ts.epoch_batch = b + 1;
			if (ts.epoch_batch == per_epoch) { /* the next step starts a new epoch */
				ts.epoch = epoch + 1;
				ts.epoch_batch = 0;
			}
			if (stop) {
				st = lead ? checkpoint(o, m, rlog, &ts, written, wn) : DIM_OK;
				if (!st)
					st = dim_fail(err, DIM_ERR_INTERRUPTED, "interrupted at step "
						      "%lld; checkpoint saved in run directory %s",
						      step, o->out_dir);
				break;
			}
			if (lead && o->ckpt_every > 0 && step % o->ckpt_every == 0 && step < total)
				st = checkpoint(o, m, rlog, &ts, written, wn);
		}
	}
	if (!st && lead)
		st = checkpoint(o, m, rlog, &ts, written, wn);
	if (o->progress && lead && st != DIM_ERR_NUMERIC) {
		dim_train_progress p = {.step = step, .total_steps = total, .final = true,
					.elapsed_s = dim_now() - t0, .images_per_s = rate};
		o->progress(o->progress_user, &p);
	}
	dim_run_log_plot(rlog);
out:
	if (ld && lead)
		dim_rundir_write_skipped(o->out_dir, ld);
	dim_run_log_close(rlog);
	dim_buf_release(&xbuf);
	dim_loader_destroy(ld);
	dim_model_destroy(m);
	dim_dataset_destroy(ds);
	return st;
}
