/* The training loop (see include/cldim/train.h). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cldim/io.h"
#include "cldim/plot.h"
#include "cldim/train.h"

#define CKPT_PREFIX "ckpt-"
#define CKPT_SUFFIX ".safetensors"

static long long ckpt_step(const char *name)
{
	size_t lp = strlen(CKPT_PREFIX), ls = strlen(CKPT_SUFFIX), n = strlen(name);
	if (n <= lp + ls || strncmp(name, CKPT_PREFIX, lp) || strcmp(name + n - ls, CKPT_SUFFIX))
		return -1;
	char *end;
	long long s = strtoll(name + lp, &end, 10);
	return end == name + n - ls ? s : -1;
}

/* The checkpoint named by DIR/latest, checked as a load would check it
 * (metadata, structure, values); DIM_OK with path filled in. */
static dim_status latest_of(const char *dir, char *path, size_t n, dim_error *err)
{
	char latest[1200], name[512] = "";
	struct stat st;
	snprintf(latest, sizeof latest, "%s/latest", dir);
	FILE *f = fopen(latest, "r");
	if (!f)
		return dim_fail(err, DIM_ERR_IO, "--resume %s: directory has no 'latest' file "
				"(not a cldim run directory, or no checkpoint was written)", dir);
	if (!fgets(name, sizeof name, f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\r\n")] = '\0';
	if (!name[0] || strchr(name, '/'))
		return dim_fail(err, DIM_ERR_FORMAT, "%s: malformed", latest);
	snprintf(path, n, "%s/%s", dir, name);
	if (stat(path, &st) != 0)
		return dim_fail(err, DIM_ERR_IO, "%s names %s, which does not exist", latest, path);
	dim_checkpoint_summary sum;
	return dim_checkpoint_summarize(path, &sum, err);
}

/* The newest ckpt-<step>.safetensors of dir that loads, other than `not`. */
static bool newest_loadable(const char *dir, const char *not, char *path, size_t n)
{
	long long best = -1;
	char cand[1200];
	for (;;) {
		long long next = -1;
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			long long s = ckpt_step(e->d_name);
			if (s > next && (best < 0 || s < best))
				next = s;
		}
		if (d)
			closedir(d);
		if (next < 0)
			return false;
		best = next;
		snprintf(cand, sizeof cand, "%s/" CKPT_PREFIX "%08lld" CKPT_SUFFIX, dir, next);
		dim_error e2 = {0};
		dim_checkpoint_summary sum;
		if (strcmp(cand, not) && !dim_checkpoint_summarize(cand, &sum, &e2)) {
			snprintf(path, n, "%s", cand);
			return true;
		}
	}
}

dim_status dim_resolve_checkpoint(const char *arg, char *path, size_t n, dim_error *err)
{
	struct stat st;
	if (!arg || stat(arg, &st) != 0)
		return dim_fail(err, DIM_ERR_IO, "--resume %s: no such file or directory (a missing "
				"resume path is an error, not a fresh start)", arg ? arg : "(null)");
	if (!S_ISDIR(st.st_mode)) {
		snprintf(path, n, "%s", arg);
		return DIM_OK;
	}
	path[0] = '\0';
	dim_status rc = latest_of(arg, path, n, err);
	if (!rc)
		return DIM_OK;
	/* a damaged or missing latest checkpoint: the newest one that loads */
	char bad[1200], why[DIM_ERROR_MAX];
	snprintf(bad, sizeof bad, "%s", path);
	snprintf(why, sizeof why, "%s", dim_error_text(err));
	if (!newest_loadable(arg, bad, path, n))
		return dim_fail_prefix(err, "%s: no checkpoint of the directory loads; ", arg);
	dim_log(DIM_LOG_WARN, "%s; using %s instead, the newest checkpoint in %s that loads",
		why, path, arg);
	dim_error_clear(err);
	return DIM_OK;
}

/* Delete all but the newest `keep` checkpoints of the run directory. */
static void prune(const char *dir, int keep)
{
	long long steps[4096];
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 4096) {
		long long s = ckpt_step(e->d_name);
		if (s >= 0)
			steps[n++] = s;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < n; i++) {
		int newer = 0;
		for (int j = 0; j < n; j++)
			newer += steps[j] > steps[i];
		if (newer >= keep) {
			char p[1200];
			snprintf(p, sizeof p, "%s/" CKPT_PREFIX "%08lld" CKPT_SUFFIX, dir, steps[i]);
			remove(p);
		}
	}
}

static dim_status save(dim_model *m, const dim_train_options *o, const dim_train_state *ts,
		       int metrics_fd, char *written, size_t wn)
{
	if (metrics_fd >= 0)
		fsync(metrics_fd); /* the log is durable up to the checkpoint */
	dim_error *err = dim_ctx_error(dim_model_params(m)->ctx);
	char name[64], path[1200], latest[1200];
	snprintf(name, sizeof name, CKPT_PREFIX "%08lld" CKPT_SUFFIX, ts->step);
	snprintf(path, sizeof path, "%s/%s", o->out_dir, name);
	dim_status st = dim_checkpoint_save(m, ts, path);
	if (st)
		return st;
	snprintf(latest, sizeof latest, "%s/latest", o->out_dir);
	char line[80];
	snprintf(line, sizeof line, "%s\n", name);
	st = dim_write_file_atomic(err, latest, line, strlen(line));
	if (st)
		return st;
	prune(o->out_dir, o->keep_last > 0 ? o->keep_last : 1);
	if (written)
		snprintf(written, wn, "%s", path);
	dim_log(DIM_LOG_INFO, "checkpoint %s", path);
	return DIM_OK;
}

/* metrics.jsonl: one JSON object per step. Each line is formatted whole and
 * written with one write(2) on an O_APPEND descriptor (no stdio buffer), so a
 * kill at any moment leaves whole lines only; the file is fsync'd with every
 * checkpoint (the lines up to a checkpoint survive a power loss with it), not
 * per line. A resume first cuts the log back to the checkpoint's step. */
static void log_metrics(int fd, const dim_train_progress *p)
{
	if (fd < 0)
		return;
	/* epochs count from 1, as in the progress bar and cldim info */
	char line[640];
	size_t n = (size_t)snprintf(line, sizeof line, "{\"step\": %lld, \"epoch\": %d, "
				    "\"time_s\": %.3f, \"images_per_s\": %.2f", p->step, p->epoch + 1,
				    p->elapsed_s, p->images_per_s);
	const float v[] = {p->m.local, p->m.global, p->m.prior_enc, p->m.prior_disc, p->m.total,
			   p->m.mi_local, p->m.mi_global};
	static const char *const k[] = {"local", "global", "prior_enc", "prior_disc", "total",
					"mi_local", "mi_global"};
	for (int i = 0; i < 7; i++)
		if (isfinite(v[i]) && n < sizeof line)
			n += (size_t)snprintf(line + n, sizeof line - n, ", \"%s\": %.6g", k[i], v[i]);
	if (n + 3 > sizeof line)
		return; /* cannot happen with these fields; never write a cut line */
	n += (size_t)snprintf(line + n, sizeof line - n, "}\n");
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, line + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			dim_log(DIM_LOG_WARN, "metrics.jsonl: write failed at step %lld: %s", p->step,
				w < 0 ? strerror(errno) : "no progress");
			return;
		}
		done += (size_t)w;
	}
}

/* Keep the whole lines of a metrics log whose step is <= last (the resumed
 * checkpoint's step): a half line left by a kill and the steps after the
 * checkpoint (they are run again) go, so each step appears once. */
static dim_status metrics_trim(const char *path, long long last, dim_error *err)
{
	void *data;
	size_t size, kept = 0, dropped = 0;
	if (access(path, F_OK) != 0)
		return DIM_OK;
	dim_status st = dim_read_file(err, path, &data, &size);
	if (st)
		return st;
	char *buf = data;
	for (char *line = buf; line < buf + size;) {
		char *nl = memchr(line, '\n', (size_t)(buf + size - line));
		if (!nl) { /* a half line */
			dropped++;
			break;
		}
		size_t len = (size_t)(nl - line) + 1;
		char *end;
		long long s = -1;
		if (!strncmp(line, "{\"step\": ", 9)) {
			s = strtoll(line + 9, &end, 10);
			if (end == line + 9 || *end != ',' || nl[-1] != '}')
				s = -1;
		}
		if (s >= 1 && s <= last) {
			memmove(buf + kept, line, len);
			kept += len;
		} else {
			dropped++;
		}
		line = nl + 1;
	}
	if (dropped) {
		st = dim_write_file_atomic(err, path, buf, kept);
		if (!st)
			dim_log(DIM_LOG_INFO, "%s: %zu line(s) after step %lld (the checkpoint's) or "
				"incomplete removed", path, dropped, last);
	}
	free(data);
	return st;
}

/* Per-step history for the end-of-run plot: step, the loss terms, the
 * estimator's MI bounds, images/s. */
#define HIST_COLS 8
struct history {
	double *t;      /* [n][HIST_COLS] */
	size_t n, cap;
};

static void history_add(struct history *h, const dim_train_progress *p, bool prior)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		double *g = realloc(h->t, cap * HIST_COLS * sizeof *g);
		if (!g)
			return;
		h->t = g;
		h->cap = cap;
	}
	double *r = h->t + h->n * HIST_COLS;
	r[0] = (double)p->step;
	r[1] = p->m.local;
	r[2] = p->m.global;
	r[3] = prior ? p->m.prior_enc : NAN; /* gamma = 0: no prior term */
	r[4] = prior ? p->m.prior_disc : NAN;
	r[5] = p->m.mi_local;
	r[6] = p->m.mi_global;
	r[7] = p->images_per_s > 0 ? p->images_per_s : NAN; /* none measured at step 1 */
	h->n++;
}

static void write_plot(const dim_train_options *o, const struct history *h)
{
	if (!h->n)
		return;
	char path[1200];
	snprintf(path, sizeof path, "%s/metrics.svg", o->out_dir);
	static const char *const names[] = {"local MI loss", "global MI loss", "prior (encoder)",
					    "prior (discriminator)", "local MI bound (nats)",
					    "global MI bound (nats)", "images/s"};
	dim_error err = {0};
	if (dim_plot_svg(path, "cldim train: loss terms, MI bounds and throughput by step", h->t,
			 h->n, HIST_COLS, names, 6, &err))
		dim_log(DIM_LOG_WARN, "%s", dim_error_text(&err));
}

/* <out>/skipped.txt: the unreadable images the loader skipped ("index\tmessage"). */
static void write_skipped(const dim_train_options *o, dim_loader *ld)
{
	size_t n = dim_loader_bad_count(ld);
	if (!n)
		return;
	char path[1200], *text = NULL;
	size_t len = 0;
	snprintf(path, sizeof path, "%s/skipped.txt", o->out_dir);
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	for (size_t k = 0; k < n; k++) {
		const char *msg = "";
		size_t item = dim_loader_bad(ld, k, &msg);
		fprintf(f, "%zu\t%s\n", item, msg);
	}
	fclose(f);
	dim_error err = {0};
	if (dim_write_file_atomic(&err, path, text, len))
		dim_log(DIM_LOG_WARN, "%s", dim_error_text(&err));
	else
		dim_log(DIM_LOG_WARN, "%zu unreadable image(s) skipped, listed in %s", n, path);
	free(text);
}

dim_status dim_train_run(dim_ctx *ctx, const dim_train_options *o, char *written, size_t wn)
{
	dim_error *err = dim_ctx_error(ctx);
	dim_dataset *ds = NULL;
	dim_loader *ld = NULL;
	dim_model *m = NULL;
	dim_feed *feed = NULL;
	int mf = -1;
	struct history hist = {0};
	dim_status st;
	dim_train_state ts;
	memset(&ts, 0, sizeof ts);

	/* data parallel: K replicas x A micro-batches, each of `micro` images */
	int K = o->replicas.count > 1 ? o->replicas.count : 1, A = o->accum > 1 ? o->accum : 1;
	bool lead = o->replicas.rank == 0;
	int micro = o->batch / (K * A);
	if (o->batch < 2)
		return dim_fail(err, DIM_ERR_ARG, "--batch %d: DIM needs at least 2 images per batch "
				"(the other images are the negatives)", o->batch);
	if (o->batch % (K * A) || micro < 2)
		return dim_fail(err, DIM_ERR_ARG, "--batch %d does not split into %d replica(s) x "
				"%d micro-batch(es) of at least 2 images", o->batch, K, A);
	if (lead && dim_mkdir_p(o->out_dir))
		return dim_fail(err, DIM_ERR_IO, "cannot create output directory %s: %s", o->out_dir,
				strerror(errno));

	int stale = lead ? dim_tmp_clean_stale(o->out_dir) : 0;
	if (stale)
		dim_log(DIM_LOG_INFO, "removed %d temporary file(s) of killed runs from %s", stale,
			o->out_dir);

	dim_dataset_opts dopt = {.format = o->format, .split = o->split};
	st = dim_dataset_open(&ds, o->data_path, &dopt, err);
	if (st)
		goto out;
	const dim_dataset_info *info = dim_dataset_get_info(ds);
	dim_loader_config lc = {.batch_size = micro, .threads = o->threads, .shuffle = 1,
				.drop_last = 1, .seed = o->model.seed, .limit = o->limit,
				.shard_count = K * A, .shard_index = o->replicas.rank * A,
				.shards = A, .max_bad = o->max_bad};
	st = dim_transform_preset(&lc.transform, info->format, o->image_size, o->model.in_channels,
				  1, err);
	if (st)
		goto out;

	st = dim_model_create(ctx, &o->model, &m);
	if (st)
		goto out;
	ts.data_seed = o->model.seed;
	if (o->resume) {
		char path[1200];
		st = dim_resolve_checkpoint(o->resume, path, sizeof path, err);
		if (!st)
			st = dim_checkpoint_load(m, path, &ts);
		if (st)
			goto out;
		lc.seed = ts.data_seed;
		dim_log(DIM_LOG_INFO, "resumed from %s at step %lld (epoch %d, batch %lld)", path,
			ts.step, ts.epoch + 1, ts.epoch_batch);
	}
	if (o->replicas.attach && (st = o->replicas.attach(o->replicas.user, m)))
		goto out;
	snprintf(ts.dataset, sizeof ts.dataset, "%s", o->data_path);
	snprintf(ts.format, sizeof ts.format, "%s", info->format);
	snprintf(ts.config_json, sizeof ts.config_json, "%s", o->config_json ? o->config_json : "{}");

	st = dim_loader_create(&ld, ds, &lc, err);
	if (st)
		goto out;
	long long per_epoch = (long long)dim_loader_batches(ld) / A;
	if (per_epoch < 1) {
		size_t have = o->limit && o->limit < info->count ? o->limit : info->count;
		st = dim_fail(err, DIM_ERR_ARG, "%s: %zu images are fewer than one batch of %d "
			      "(try --batch %zu or less)", o->data_path, have, o->batch,
			      have / 2 * 2 >= 2 ? have / 2 * 2 : (size_t)2);
		goto out;
	}
	long long total = (long long)o->epochs * per_epoch;
	if (o->max_steps > 0 && o->max_steps < total)
		total = o->max_steps;

	size_t mbytes = (size_t)micro * lc.transform.out_c * lc.transform.out_h *
			lc.transform.out_w * sizeof(float);
	st = dim_feed_create(ctx, ld, A, mbytes, &feed, err); /* double-buffered input */
	if (st)
		goto out;
	dim_tensor xt = {.ndim = 4,
			 .shape = {micro * A, lc.transform.out_c, lc.transform.out_h,
				   lc.transform.out_w}};

	size_t np = dim_params_numel(dim_model_params(m), false) +
		    dim_params_numel(dim_model_prior_params(m), false);
	dim_log(DIM_LOG_INFO, "memory plan: %.1f MiB of parameters, as much again for gradients "
		"and twice for Adam's moments; activations are sized by the first step (device: "
		"%.0f MiB)", (double)np * 4 / 1048576.0,
		(double)dim_ctx_device(ctx)->global_mem / 1048576.0);

	char mpath[1200];
	snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", o->out_dir);
	if (lead && o->resume && (st = metrics_trim(mpath, ts.step, err)))
		goto out;
	if (lead) {
		mf = open(mpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (o->resume ? 0 : O_TRUNC),
			  0666);
		if (mf < 0)
			dim_log(DIM_LOG_WARN, "cannot write %s: %s", mpath, strerror(errno));
	}

	double t0 = dim_now(), rate = 0;
	bool first = true, first_done = false;
	long long step = ts.step;
	for (int epoch = ts.epoch; step < total && !st; epoch++) {
		st = dim_loader_start_epoch(ld, (uint64_t)epoch, err);
		long long b = 0;
		for (; !st && b < per_epoch && step < total; b++) {
			bool skip = epoch == ts.epoch && b < ts.epoch_batch; /* resuming mid-epoch */
			double s0 = dim_now();
			dim_step_metrics mt;
			if (skip) {
				st = dim_feed_skip(feed, err);
				continue;
			}
			/* this step's images; the next step's are fetched and queued
			 * while this one runs, within the epoch (data/upload.c) */
			st = dim_feed_next(feed, b + 1 < per_epoch && step + 1 < total, &xt.buf, err);
			if (st)
				continue;
			st = dim_train_step_accum(m, &xt, A, &mt);
			if (st == DIM_ERR_DEVICE_MEM && first)
				dim_fail_prefix(err, "the device cannot hold a batch of %d (try --batch %d): ",
						o->batch, o->batch / 2);
			if (st)
				break;
			if (first) {
				dim_model_memory u = dim_model_memory_use(m);
				double mib = 1.0 / 1048576.0;
				dim_log(DIM_LOG_INFO, "first step done in %.1f s (kernel builds included); "
					"device memory: parameters %.1f MiB, gradients %.1f, Adam %.1f, "
					"activations %.1f, total %.1f of %.0f MiB", dim_now() - s0,
					u.params * mib, u.grads * mib, u.optimizer * mib,
					u.activations * mib,
					(u.params + u.grads + u.optimizer + u.activations) * mib,
					(double)dim_ctx_device(ctx)->global_mem * mib);
				first = false;
			}
			step++;
			bool stop = o->stop && *o->stop;
			if (K > 1 && o->replicas.allsum) { /* mean metrics; any replica stops all */
				float *f[] = {&mt.local, &mt.global, &mt.prior_enc, &mt.prior_disc,
					      &mt.total, &mt.mi_local, &mt.mi_global};
				double v[8];
				for (int i = 0; i < 7; i++)
					v[i] = *f[i];
				v[7] = stop;
				if ((st = o->replicas.allsum(o->replicas.user, v, 8)))
					break;
				for (int i = 0; i < 7; i++)
					*f[i] = (float)(v[i] / K);
				stop = v[7] > 0;
			}
			double dt = dim_now() - s0;
			double r = dt > 0 ? o->batch / dt : 0;
			/* the first step includes kernel builds: it seeds nothing */
			rate = first_done ? (rate ? 0.9 * rate + 0.1 * r : r) : 0;
			first_done = true;
			dim_train_progress p = {step, total, epoch, o->epochs, b + 1, per_epoch, rate,
						dim_now() - t0, rate > 0 ? (double)(total - step) *
									   o->batch / rate : 0,
						mt, false};
			log_metrics(mf, &p);
			if (lead)
				history_add(&hist, &p, o->model.gamma > 0);
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
				st = lead ? save(m, o, &ts, mf, written, wn) : DIM_OK;
				if (!st)
					st = dim_fail(err, DIM_ERR_INTERRUPTED,
						      "interrupted at step %lld; checkpoint saved, "
						      "resume with --resume %s", step, o->out_dir);
				break;
			}
			if (lead && o->ckpt_every > 0 && step % o->ckpt_every == 0 && step < total)
				st = save(m, o, &ts, mf, written, wn);
		}
	}
	if (!st && lead)
		st = save(m, o, &ts, mf, written, wn);
	if (o->progress && lead && st != DIM_ERR_NUMERIC) {
		dim_train_progress p = {.step = step, .total_steps = total, .final = true,
					.elapsed_s = dim_now() - t0, .images_per_s = rate};
		o->progress(o->progress_user, &p);
	}
	if (lead)
		write_plot(o, &hist);
out:
	if (ld && lead)
		write_skipped(o, ld);
	if (mf >= 0)
		close(mf);
	free(hist.t);
	dim_feed_destroy(feed);
	dim_loader_destroy(ld);
	dim_model_destroy(m);
	dim_dataset_destroy(ds);
	return st;
}
