/* The prefetching loader. Worker threads take samples one at a time, in
 * epoch order, and decode + augment each straight into its place in a ring of
 * host batches; the consumer takes batches strictly in order and releases
 * them. Batch b lives in slot b % ring, so at most `ring` batches are in
 * flight. Every sample's augmentation is keyed by (seed, epoch, dataset
 * index), so batches are bit-identical for any thread count.
 *
 * Slot states: FREE -> FILLING (first worker of batch b) -> READY (last
 * sample done) -> TAKEN (consumer) -> FREE (release). start_epoch bumps a
 * generation so samples of an abandoned epoch are dropped, and waits for busy
 * workers, so the permutation is never read while it changes. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/data.h"
#include "cldim/runtime.h"

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_TAKEN };

typedef struct slot {
	dim_batch b;
	size_t *items;
	enum slot_state state;
	int done; /* samples finished */
} slot;

typedef struct worker {
	dim_loader *l;
	pthread_t thread;
	dim_decoder *dec;
	dim_image img;
	dim_error err;
} worker;

struct dim_loader {
	dim_dataset *ds;
	dim_loader_config cfg;
	int min_side;
	size_t sample_floats; /* c*h*w */
	size_t base;          /* samples considered (limit applied) */
	size_t n_items, n_batches;
	size_t *perm;         /* base entries; NULL without shuffle */

	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* workers wait for work */
	pthread_cond_t ready_cv; /* consumer waits for a batch, start_epoch for idle */
	worker *workers;
	int nworkers;  /* started */
	slot *slots;
	int nslots;

	uint64_t epoch;
	unsigned generation;
	int active;    /* an epoch is being produced */
	int stop;
	int busy;      /* workers inside a sample */
	size_t next_sample, next_batch;
	dim_status fail;
	size_t fail_pos; /* the lowest failed position so far */
	dim_error fail_err;

	/* samples that could not be read (max_bad > 0), in dataset order */
	size_t *bad_items;
	char **bad_msgs;
	size_t nbad;
};

static int can_take(const dim_loader *l)
{
	if (!l->active || l->fail || l->next_sample >= l->n_items)
		return 0;
	size_t b = l->next_sample / (size_t)l->cfg.batch_size;
	const slot *s = &l->slots[b % (size_t)l->nslots];
	return s->state == SLOT_FREE || (s->state == SLOT_FILLING && s->b.index == b);
}

static int skippable(dim_status st)
{
	return st == DIM_ERR_FORMAT || st == DIM_ERR_IO || st == DIM_ERR_UNSUPPORTED;
}

static int known_bad(dim_loader *l, size_t item)
{
	int found = 0;
	pthread_mutex_lock(&l->mu);
	for (size_t k = 0; k < l->nbad && !found; k++)
		found = l->bad_items[k] == item;
	pthread_mutex_unlock(&l->mu);
	return found;
}

/* Note item as bad; DIM_OK while at most max_bad are. */
static dim_status add_bad(dim_loader *l, size_t item, dim_error *err)
{
	dim_status st = DIM_OK;
	pthread_mutex_lock(&l->mu);
	size_t k = 0;
	while (k < l->nbad && l->bad_items[k] != item)
		k++;
	if (k == l->nbad) {
		if (l->nbad >= (size_t)l->cfg.max_bad) {
			st = dim_fail_prefix(err, "more than %d unreadable images (the limit; the "
					     "others are listed above), the last: ", l->cfg.max_bad);
		} else {
			/* keep the list in dataset order, whichever worker found it first */
			size_t at = l->nbad;
			for (; at > 0 && l->bad_items[at - 1] > item; at--) {
				l->bad_items[at] = l->bad_items[at - 1];
				l->bad_msgs[at] = l->bad_msgs[at - 1];
			}
			l->bad_items[at] = item;
			l->bad_msgs[at] = strdup(dim_error_text(err));
			l->nbad++;
			dim_log(DIM_LOG_WARN, "skipped: %s", dim_error_text(err));
		}
	}
	pthread_mutex_unlock(&l->mu);
	return st;
}

/* Decode + augment sample `item` into place; with max_bad, an unreadable one
 * is replaced by the next readable sample in dataset order (augmentation still
 * keyed by the original index, so the replacement is not an exact copy). */
static dim_status make_sample(dim_loader *l, worker *w, slot *s, size_t p, size_t item)
{
	int label = -1, warned = 0;
	size_t at = p % (size_t)l->cfg.batch_size, got = item;
	int max_bad = l->cfg.max_bad;
	dim_status st;
	for (int tries = 0;; tries++) {
		if (tries > max_bad + 1)
			return dim_fail(&w->err, DIM_ERR_FORMAT, "sample %zu: no readable sample "
					"among the next %d", item, tries);
		if (max_bad > 0 && known_bad(l, got)) {
			got = (got + 1) % l->base;
			continue;
		}
		st = dim_dataset_get(l->ds, w->dec, got, l->min_side, &w->img, &label, &warned,
				     &w->err);
		if (!st)
			st = dim_transform_apply(&l->cfg.transform, &w->img, l->cfg.seed, l->epoch,
						 item, s->b.x + at * l->sample_floats, &w->err);
		if (!st)
			break;
		dim_fail_prefix(&w->err, "sample %zu: ", got);
		if (max_bad <= 0 || !skippable(st))
			return st;
		if ((st = add_bad(l, got, &w->err)))
			return st;
		got = (got + 1) % l->base;
	}
	item = got;
	if (warned)
		dim_log(DIM_LOG_WARN, "%s: decoded with a warning (truncated or corrupt)",
			dim_dataset_item_path(l->ds, item));
	s->items[at] = item;
	if (l->cfg.label_bytes == 4)
		((int32_t *)s->b.labels)[at] = label;
	else
		((int64_t *)s->b.labels)[at] = label;
	if (warned)
		__atomic_fetch_add(&s->b.warnings, 1, __ATOMIC_RELAXED);
	return DIM_OK;
}

size_t dim_loader_bad(dim_loader *l, size_t k, const char **msg)
{
	size_t item = (size_t)-1;
	pthread_mutex_lock(&l->mu);
	if (k < l->nbad) {
		item = l->bad_items[k];
		if (msg)
			*msg = l->bad_msgs[k];
	}
	pthread_mutex_unlock(&l->mu);
	return item;
}

size_t dim_loader_bad_snapshot(dim_loader *l, size_t *items, const char **msgs, size_t cap)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->nbad;
	for (size_t k = 0; k < n && k < cap; k++) {
		if (items)
			items[k] = l->bad_items[k];
		if (msgs)
			msgs[k] = l->bad_msgs[k];
	}
	pthread_mutex_unlock(&l->mu);
	return n;
}

size_t dim_loader_bad_count(dim_loader *l)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->nbad;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Epoch position of the p-th sample this loader delivers (see the sharding
 * fields of dim_loader_config): local batch v is shard shard_index + v % shards
 * of global batch v / shards. Without sharding this is p. */
static size_t global_position(const dim_loader *l, size_t p)
{
	size_t bs = (size_t)l->cfg.batch_size, K = (size_t)l->cfg.shard_count;
	size_t span = (size_t)l->cfg.shards, v = p / bs, at = p % bs;
	size_t g = v / span, s = (size_t)l->cfg.shard_index + v % span;
	return g * bs * K + at * K + s;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	dim_loader *l = w->l;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->stop && !can_take(l))
			pthread_cond_wait(&l->work_cv, &l->mu);
		if (l->stop)
			break;
		size_t p = l->next_sample++, b = p / (size_t)l->cfg.batch_size;
		slot *s = &l->slots[b % (size_t)l->nslots];
		if (s->state == SLOT_FREE) {
			size_t left = l->n_items - b * (size_t)l->cfg.batch_size;
			s->state = SLOT_FILLING;
			s->done = 0;
			s->b.index = b;
			s->b.n = left < (size_t)l->cfg.batch_size ? (int)left : l->cfg.batch_size;
			s->b.warnings = 0;
		}
		unsigned gen = l->generation;
		size_t q = global_position(l, p);
		size_t item = l->perm ? l->perm[q] : q;
		l->busy++;
		pthread_mutex_unlock(&l->mu);

		dim_status st = make_sample(l, w, s, p, item);

		pthread_mutex_lock(&l->mu);
		l->busy--;
		int wake = !l->active && !l->busy; /* start_epoch waits for idle */
		if (gen == l->generation) {
			/* Samples are taken in position order, so once the workers
			 * are idle the lowest failed position is the first bad
			 * sample of the epoch, whichever thread got there first. */
			if (st && (!l->fail || p < l->fail_pos)) {
				l->fail = st;
				l->fail_pos = p;
				l->fail_err = w->err;
			}
			if (l->fail && !l->busy)
				wake = 1;
			if (++s->done == s->b.n) {
				s->state = SLOT_READY;
				wake = 1;
			}
		}
		if (wake)
			pthread_cond_broadcast(&l->ready_cv);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

size_t dim_loader_items(const dim_loader *l)
{
	return l->n_items;
}

size_t dim_loader_batches(const dim_loader *l)
{
	return l->n_batches;
}

static void stop_workers(dim_loader *l)
{
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_broadcast(&l->work_cv);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < l->nworkers; i++)
		pthread_join(l->workers[i].thread, NULL);
	l->nworkers = 0;
}

void dim_loader_destroy(dim_loader *l)
{
	if (!l)
		return;
	stop_workers(l);
	for (int i = 0; l->workers && i < l->cfg.threads; i++) {
		dim_decoder_destroy(l->workers[i].dec);
		dim_image_free(&l->workers[i].img);
	}
	for (int i = 0; l->slots && i < l->nslots; i++) {
		free(l->slots[i].b.x);
		free(l->slots[i].b.labels);
		free(l->slots[i].items);
	}
	for (size_t k = 0; k < l->nbad; k++)
		free(l->bad_msgs[k]);
	free(l->bad_items);
	free(l->bad_msgs);
	pthread_cond_destroy(&l->ready_cv);
	pthread_cond_destroy(&l->work_cv);
	pthread_mutex_destroy(&l->mu);
	free(l->workers);
	free(l->slots);
	free(l->perm);
	free(l);
}

static dim_status check_config(const dim_loader_config *c, dim_error *err)
{
	const dim_transform *t = &c->transform;
	if (c->batch_size < 1 || c->threads < 1 || c->threads > 256 || c->ring < 0 ||
	    c->ring == 1 || c->ring > 64 || c->max_bad < 0 || (c->label_bytes && c->label_bytes != 4 &&
					     c->label_bytes != 8))
		return dim_fail(err, DIM_ERR_ARG,
				"loader: bad config (batch %d, threads %d, ring %d, label bytes %d)",
				c->batch_size, c->threads, c->ring, c->label_bytes);
	int K = c->shard_count ? c->shard_count : 1, span = c->shards ? c->shards : 1;
	if (K < 1 || span < 1 || c->shard_index < 0 || c->shard_index + span > K ||
	    (K > 1 && !c->drop_last))
		return dim_fail(err, DIM_ERR_ARG, "loader: bad sharding (shards %d..%d of %d%s)",
				c->shard_index, c->shard_index + span - 1, K,
				K > 1 && !c->drop_last ? ", needs drop_last" : "");
	if ((t->out_c != 1 && t->out_c != 3) || t->out_h < 1 || t->out_w < 1 ||
	    t->out_h > 4096 || t->out_w > 4096)
		return dim_fail(err, DIM_ERR_ARG, "loader: bad output shape %dx%dx%d", t->out_c,
				t->out_h, t->out_w);
	return DIM_OK;
}

dim_status dim_loader_create(dim_loader **out, dim_dataset *ds, const dim_loader_config *cfg,
			     dim_error *err)
{
	dim_status st = check_config(cfg, err);
	if (st)
		return st;
	dim_loader *l = calloc(1, sizeof *l);
	if (!l)
		return dim_fail(err, DIM_ERR_NOMEM, "loader: out of memory");
	l->ds = ds;
	l->cfg = *cfg;
	if (!l->cfg.label_bytes)
		l->cfg.label_bytes = 8;
	if (!l->cfg.ring)
		l->cfg.ring = l->cfg.threads + 2;
	if (!l->cfg.shard_count)
		l->cfg.shard_count = 1;
	if (!l->cfg.shards)
		l->cfg.shards = 1;
	l->nslots = l->cfg.ring;
	l->min_side = dim_transform_min_side(&cfg->transform);
	const dim_transform *t = &cfg->transform;
	l->sample_floats = (size_t)t->out_c * t->out_h * t->out_w;
	size_t count = dim_dataset_get_info(ds)->count, bs = (size_t)cfg->batch_size;
	l->base = cfg->limit && cfg->limit < count ? cfg->limit : count;
	size_t global = bs * (size_t)l->cfg.shard_count;
	l->n_batches = cfg->drop_last ? l->base / global * (size_t)l->cfg.shards
				      : (l->base + bs - 1) / bs;
	l->n_items = cfg->drop_last ? l->n_batches * bs : l->base;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->work_cv, NULL);
	pthread_cond_init(&l->ready_cv, NULL);
	l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
	l->workers = calloc((size_t)cfg->threads, sizeof *l->workers);
	l->perm = cfg->shuffle ? malloc((l->base ? l->base : 1) * sizeof *l->perm) : NULL;
	if (!l->slots || !l->workers || (cfg->shuffle && !l->perm))
		goto out_nomem;
	if (cfg->max_bad > 0) {
		l->bad_items = calloc((size_t)cfg->max_bad, sizeof *l->bad_items);
		l->bad_msgs = calloc((size_t)cfg->max_bad, sizeof *l->bad_msgs);
		if (!l->bad_items || !l->bad_msgs)
			goto out_nomem;
	}
	for (int i = 0; i < l->nslots; i++) {
		slot *s = &l->slots[i];
		s->b.x = malloc(bs * l->sample_floats * sizeof(float));
		s->b.labels = malloc(bs * (size_t)l->cfg.label_bytes);
		s->items = malloc(bs * sizeof *s->items);
		if (!s->b.x || !s->b.labels || !s->items)
			goto out_nomem;
		s->b.items = s->items;
		s->b.c = t->out_c;
		s->b.h = t->out_h;
		s->b.w = t->out_w;
		s->b.label_bytes = l->cfg.label_bytes;
	}
	for (int i = 0; i < cfg->threads; i++) {
		l->workers[i].l = l;
		st = dim_decoder_create(&l->workers[i].dec, err);
		if (st)
			goto out_destroy;
	}
	for (int i = 0; i < cfg->threads; i++) {
		if (pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i])) {
			st = dim_fail(err, DIM_ERR_NOMEM, "loader: cannot start worker thread %d",
				      i);
			goto out_destroy;
		}
		l->nworkers++;
	}
	*out = l;
	return DIM_OK;
out_nomem:
	st = dim_fail(err, DIM_ERR_NOMEM, "loader: out of memory for %d batches of %d",
		      l->nslots, cfg->batch_size);
out_destroy:
	dim_loader_destroy(l);
	return st;
}

dim_status dim_loader_start_epoch(dim_loader *l, uint64_t epoch, dim_error *err)
{
	pthread_mutex_lock(&l->mu);
	l->generation++;
	l->active = 0;
	while (l->busy)
		pthread_cond_wait(&l->ready_cv, &l->mu);
	for (int i = 0; i < l->nslots; i++)
		if (l->slots[i].state != SLOT_TAKEN)
			l->slots[i].state = SLOT_FREE;
	if (l->perm)
		dim_permutation(l->perm, l->base, l->cfg.seed, epoch);
	l->epoch = epoch;
	l->fail = DIM_OK;
	l->next_sample = 0;
	l->next_batch = 0;
	l->active = 1;
	pthread_cond_broadcast(&l->work_cv);
	pthread_mutex_unlock(&l->mu);
	return DIM_OK;
}

dim_status dim_loader_next(dim_loader *l, dim_batch **out, dim_error *err)
{
	dim_status st = DIM_OK;
	*out = NULL;
	pthread_mutex_lock(&l->mu);
	while (l->active) {
		/* A failure is reported once the batches before it are out and
		 * no worker can still find an earlier one (see worker_main). */
		size_t fail_batch = l->fail_pos / (size_t)l->cfg.batch_size;
		int at_fail = l->fail && l->next_batch >= fail_batch;
		if (at_fail && !l->busy) {
			st = l->fail;
			if (err)
				*err = l->fail_err;
			l->active = 0;
			break;
		}
		if (l->next_batch >= l->n_batches)
			break;
		slot *s = &l->slots[l->next_batch % (size_t)l->nslots];
		if (!at_fail && s->state == SLOT_READY && s->b.index == l->next_batch) {
			s->state = SLOT_TAKEN;
			l->next_batch++;
			*out = &s->b;
			break;
		}
		pthread_cond_wait(&l->ready_cv, &l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return st;
}

void dim_loader_release(dim_loader *l, dim_batch *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < l->nslots; i++)
		if (&l->slots[i].b == b && l->slots[i].state == SLOT_TAKEN)
			l->slots[i].state = SLOT_FREE;
	pthread_cond_broadcast(&l->work_cv);
	pthread_mutex_unlock(&l->mu);
}
