/* Copying host batches into device buffers: the only part of host/data/
 * that touches the device, through the runtime's copies and staging buffers.
 *
 * The feed (dim_feed_*) is what training uses: batch k+1 goes from the
 * loader into a pinned staging buffer and is queued for the device while step
 * k runs. With one in-order queue the device copy itself still runs between
 * kernels; what overlaps the step's device work is the host side: waiting
 * for the loader's workers and the copy into pinned memory. That runs in the
 * context's wait hook, i.e. the first time the host would block on the
 * device during step k (on the step's first read), after the queue holding
 * step k's first kernels was flushed:
 *
 *   host:   next(k) ─ enqueue step k ─┬ hook: loader → S[k+1] → queue write ─┬ wait ─ ...
 *   device:                           └──── step k kernels ──────────────────┴ write k+1 ─ step k+1
 *
 * Two device buffers X[0], X[1] (step k reads X[k%2] while the write of
 * k+1 fills X[(k+1)%2], queued behind step k's kernels) and two staging
 * buffers S[0], S[1], each refilled only after its fence. */
#include <stdlib.h>
#include <string.h>

#include "cldim/data.h"
#include "cldim/runtime.h"

dim_status dim_batch_upload(dim_ctx *ctx, const dim_batch *b, const dim_buf *x,
			    const dim_buf *labels, dim_error *err)
{
	size_t xb = (size_t)b->n * b->c * b->h * b->w * sizeof(float);
	size_t lb = (size_t)b->n * (size_t)b->label_bytes;
	dim_status st;
	if (x && x->bytes) {
		if (x->bytes < xb)
			return dim_fail(err, DIM_ERR_ARG,
					"upload: image buffer holds %zu bytes, batch needs %zu",
					x->bytes, xb);
		st = dim_write_async(ctx, *x, 0, b->x, xb);
		if (st)
			return dim_fail(err, st, "upload of batch %zu: %s", b->index,
					dim_ctx_errmsg(ctx));
	}
	if (labels && labels->bytes) {
		if (labels->bytes < lb)
			return dim_fail(err, DIM_ERR_ARG,
					"upload: label buffer holds %zu bytes, batch needs %zu",
					labels->bytes, lb);
		st = dim_write_async(ctx, *labels, 0, b->labels, lb);
		if (st)
			return dim_fail(err, st, "upload of batch %zu labels: %s", b->index,
					dim_ctx_errmsg(ctx));
	}
	return DIM_OK;
}

/* ---------------------------------------------------------------- feed */

struct dim_feed {
	dim_ctx *ctx;
	dim_loader *ld;
	int count;            /* loader batches per step */
	size_t batch_bytes;   /* image bytes of one loader batch */
	dim_staging *stg[2];
	dim_buf x[2];
	bool ready[2];        /* X[i] holds (or is queued to hold) the next step's images */
	int next;             /* slot of the next step */
	bool armed;           /* the wait hook is set to fill slot `next` */
	dim_status hook_st;   /* a failure inside the hook, reported by the next call */
	dim_error hook_err;
	dim_feed_stats stats;
};

dim_status dim_feed_create(dim_ctx *ctx, dim_loader *ld, int count, size_t batch_bytes,
			   dim_feed **out, dim_error *err)
{
	*out = NULL;
	if (count < 1 || batch_bytes == 0 || batch_bytes > SIZE_MAX / 2 / (size_t)count)
		return dim_fail(err, DIM_ERR_ARG, "batch feed: %d batch(es) of %zu bytes", count,
				batch_bytes);
	dim_feed *f = calloc(1, sizeof *f);
	if (!f)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	f->ctx = ctx;
	f->ld = ld;
	f->count = count;
	f->batch_bytes = batch_bytes;
	size_t bytes = batch_bytes * (size_t)count;
	dim_status st = DIM_OK;
	for (int i = 0; i < 2 && !st; i++) {
		st = dim_staging_create(ctx, bytes, 0, &f->stg[i]);
		if (!st)
			st = dim_buf_create(ctx, bytes, &f->x[i]);
	}
	if (st) {
		dim_fail(err, st, "batch feed: %s", dim_ctx_errmsg(ctx));
		dim_feed_destroy(f);
		return st;
	}
	f->stats.pinned = dim_staging_pinned(f->stg[0]);
	*out = f;
	return DIM_OK;
}

void dim_feed_destroy(dim_feed *f)
{
	if (!f)
		return;
	if (f->armed)
		dim_ctx_set_wait_hook(f->ctx, NULL, NULL);
	if (f->stats.overlapped + f->stats.direct)
		dim_log(DIM_LOG_DEBUG, "input feed: %llu step(s) fetched while the step before ran, "
			"%llu before their own; %.3f s of host time fetching and copying into %s "
			"staging", f->stats.overlapped, f->stats.direct, f->stats.host_s,
			f->stats.pinned ? "pinned" : "plain");
	for (int i = 0; i < 2; i++) {
		dim_staging_destroy(f->stg[i]); /* waits for its copy */
		dim_buf_release(&f->x[i]);
	}
	free(f);
}

/* Fetch the next step's batches from the loader into S[slot] and queue their
 * copy into X[slot]. */
static dim_status feed_fill(dim_feed *f, int slot, dim_error *err)
{
	double t0 = dim_now();
	dim_status st = dim_staging_wait(f->stg[slot]); /* its previous copy */
	if (st)
		return dim_fail(err, st, "batch upload: %s", dim_ctx_errmsg(f->ctx));
	char *h = dim_staging_ptr(f->stg[slot]);
	for (int a = 0; a < f->count; a++) {
		dim_batch *b = NULL;
		st = dim_loader_next(f->ld, &b, err);
		if (st)
			return st;
		if (!b)
			return dim_fail(err, DIM_ERR_ARG, "batch feed: the loader's epoch ended "
					"before the step's batch %d of %d", a + 1, f->count);
		size_t xb = (size_t)b->n * b->c * b->h * b->w * sizeof(float);
		if (xb != f->batch_bytes) {
			dim_loader_release(f->ld, b);
			return dim_fail(err, DIM_ERR_ARG, "batch feed: batch %zu has %zu bytes of "
					"images, the feed was made for %zu", b->index, xb,
					f->batch_bytes);
		}
		memcpy(h + (size_t)a * f->batch_bytes, b->x, xb);
		dim_loader_release(f->ld, b);
	}
	st = dim_staging_write(f->stg[slot], 0, f->x[slot], 0, f->batch_bytes * (size_t)f->count);
	if (!st)
		st = dim_staging_flush(f->stg[slot]);
	if (st)
		return dim_fail(err, st, "batch upload: %s", dim_ctx_errmsg(f->ctx));
	f->ready[slot] = true;
	f->stats.host_s += dim_now() - t0;
	return DIM_OK;
}

static void feed_hook(void *user)
{
	dim_feed *f = user;
	f->armed = false;
	f->hook_st = feed_fill(f, f->next, &f->hook_err);
	if (!f->hook_st)
		f->stats.overlapped++;
}

dim_status dim_feed_skip(dim_feed *f, dim_error *err)
{
	if (f->armed || f->ready[f->next])
		return dim_fail(err, DIM_ERR_ARG, "batch feed: skipping after a prefetch");
	for (int a = 0; a < f->count; a++) {
		dim_batch *b = NULL;
		dim_status st = dim_loader_next(f->ld, &b, err);
		if (st)
			return st;
		dim_loader_release(f->ld, b);
	}
	return DIM_OK;
}

dim_status dim_feed_next(dim_feed *f, bool prefetch, dim_buf *x, dim_error *err)
{
	if (f->armed) { /* armed, but the step never waited: fill it now */
		dim_ctx_set_wait_hook(f->ctx, NULL, NULL);
		f->armed = false;
	}
	if (f->hook_st) {
		dim_status st = f->hook_st;
		f->hook_st = DIM_OK;
		f->ready[f->next] = false;
		return dim_fail(err, st, "%s", f->hook_err.msg);
	}
	int slot = f->next;
	if (!f->ready[slot]) {
		dim_status st = feed_fill(f, slot, err);
		if (st)
			return st;
		f->stats.direct++;
	}
	f->ready[slot] = false;
	*x = f->x[slot];
	f->next = slot ^ 1;
	if (prefetch) {
		f->armed = true;
		dim_ctx_set_wait_hook(f->ctx, feed_hook, f);
	}
	return DIM_OK;
}

dim_feed_stats dim_feed_get_stats(const dim_feed *f) { return f->stats; }
