/* A dataset split in file order as float batches, bad samples skipped
 * (include/cldim/encode.h, "image streams").
 *
 * The prefetching loader (shuffle off, drop_last off) decodes on worker
 * threads while the caller encodes. The loader ends its epoch at the first
 * sample that fails, so from the batch that failed onwards this file decodes
 * sample by sample on the calling thread, where one bad sample can be noted
 * and stepped over. */
#include <stdlib.h>
#include <string.h>

#include "cldim/encode.h"
#include "cldim/runtime.h"

struct dim_image_stream {
	dim_dataset *ds;
	dim_loader *ld;          /* NULL once we fell back to sequential decoding */
	dim_batch *cur;          /* loader batch handed out, released on next() */
	dim_transform tf;
	dim_stream_opts o;
	size_t count;            /* samples visited (limit applied) */
	size_t pos;              /* first sample not yet delivered */
	/* sequential path */
	dim_decoder *dec;
	dim_image img;
	float *x;
	int64_t *labels;
	size_t *items;
	/* skipped samples */
	size_t *skip;
	char **skip_msg;
	size_t nskip, skip_cap;
};

static dim_status note_skip(dim_image_stream *s, size_t i, const char *msg, dim_error *err)
{
	if (s->nskip == s->skip_cap) {
		size_t cap = s->skip_cap ? 2 * s->skip_cap : 16;
		size_t *a = realloc(s->skip, cap * sizeof *a);
		if (a)
			s->skip = a;
		char **b = realloc(s->skip_msg, cap * sizeof *b);
		if (b)
			s->skip_msg = b;
		if (!a || !b)
			return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		s->skip_cap = cap;
	}
	s->skip[s->nskip] = i;
	s->skip_msg[s->nskip] = strdup(msg);
	s->nskip++;
	dim_log(DIM_LOG_WARN, "skipping sample %zu: %s", i, msg);
	return DIM_OK;
}

/* Data whose channels or size differ from the encoder's input is converted
 * (gray <-> RGB, resized): say so, once per kind of conversion and process. */
static void say_conversion(const char *path, const dim_dataset_info *info,
			   const dim_stream_opts *o)
{
	static char said[512];
	char msg[512] = "", what[200] = "";
	int n = 0;
	if (info->channels != o->channels)
		n += snprintf(what + n, sizeof what - (size_t)n, "%d-channel images become %d-channel "
			      "(%s)", info->channels, o->channels,
			      o->channels == 1 ? "BT.601 luma" : "gray replicated");
	if (info->width && info->height && (info->width != o->size || info->height != o->size))
		snprintf(what + n, sizeof what - (size_t)n, "%s%dx%d images are resized to %dx%d",
			 n ? ", " : "", info->width, info->height, o->size, o->size);
	if (!what[0])
		return;
	snprintf(msg, sizeof msg, "%s: %s for an encoder of %d x %d x %d input", path, what,
		 o->channels, o->size, o->size);
	if (!strcmp(msg, said))
		return;
	snprintf(said, sizeof said, "%s", msg);
	dim_log(DIM_LOG_WARN, "%s", msg);
}

dim_status dim_image_stream_open(dim_image_stream **out, const char *path,
				 const dim_stream_opts *o, dim_error *err)
{
	if (o->batch < 1 || o->channels < 1 || o->size < 1)
		return dim_fail(err, DIM_ERR_ARG, "image stream: batch %d, channels %d, size %d",
				o->batch, o->channels, o->size);
	dim_image_stream *s = calloc(1, sizeof *s);
	if (!s)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	s->o = *o;
	if (s->o.threads < 1)
		s->o.threads = 1;
	dim_dataset_opts dopt = {.format = o->format, .split = o->split};
	dim_status st = dim_dataset_open(&s->ds, path, &dopt, err);
	if (st)
		goto out_free;
	const dim_dataset_info *info = dim_dataset_get_info(s->ds);
	st = dim_transform_preset(&s->tf, info->format, o->size, o->channels, 0, err);
	if (st)
		goto out_free;
	say_conversion(path, info, o);
	s->count = o->limit && o->limit < info->count ? o->limit : info->count;
	size_t per = (size_t)o->channels * o->size * o->size;
	s->x = malloc((size_t)o->batch * per * sizeof *s->x);
	s->labels = malloc((size_t)o->batch * sizeof *s->labels);
	s->items = malloc((size_t)o->batch * sizeof *s->items);
	if (!s->x || !s->labels || !s->items) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		goto out_free;
	}
	dim_loader_config lc = {.batch_size = o->batch, .threads = s->o.threads, .shuffle = 0,
				.drop_last = 0, .label_bytes = 8, .limit = s->count,
				.transform = s->tf};
	if (s->count) {
		st = dim_loader_create(&s->ld, s->ds, &lc, err);
		if (!st)
			st = dim_loader_start_epoch(s->ld, 0, err);
		if (st)
			goto out_free;
	}
	*out = s;
	return DIM_OK;

out_free:
	dim_image_stream_destroy(s);
	return st;
}

void dim_image_stream_destroy(dim_image_stream *s)
{
	if (!s)
		return;
	if (s->cur)
		dim_loader_release(s->ld, s->cur);
	dim_loader_destroy(s->ld);
	dim_decoder_destroy(s->dec);
	dim_image_free(&s->img);
	dim_dataset_destroy(s->ds);
	for (size_t i = 0; i < s->nskip; i++)
		free(s->skip_msg[i]);
	free(s->skip);
	free(s->skip_msg);
	free(s->x);
	free(s->labels);
	free(s->items);
	free(s);
}

const dim_dataset_info *dim_image_stream_info(const dim_image_stream *s)
{
	return dim_dataset_get_info(s->ds);
}

dim_dataset *dim_image_stream_dataset(dim_image_stream *s)
{
	return s->ds;
}

size_t dim_image_stream_count(const dim_image_stream *s)
{
	return s->count;
}

size_t dim_image_stream_skipped(const dim_image_stream *s, const size_t **items,
				const char *const **messages)
{
	if (items)
		*items = s->skip;
	if (messages)
		*messages = (const char *const *)s->skip_msg;
	return s->nskip;
}

void dim_image_stream_source(const dim_image_stream *s, size_t i, char *buf, size_t n)
{
	const char *p = dim_dataset_item_path(s->ds, i);
	if (dim_dataset_get_info(s->ds)->encoded && p)
		snprintf(buf, n, "%s", p);
	else
		snprintf(buf, n, "%s index %zu", p ? p : "?", i);
}

/* Decode up to one batch from s->pos on this thread. */
static dim_status next_sequential(dim_image_stream *s, int *n, dim_error *err)
{
	size_t per = (size_t)s->o.channels * s->o.size * s->o.size;
	int min_side = dim_transform_min_side(&s->tf);
	int k = 0;
	if (!s->dec && dim_dataset_get_info(s->ds)->encoded) {
		dim_status st = dim_decoder_create(&s->dec, err);
		if (st)
			return st;
	}
	while (k < s->o.batch && s->pos < s->count) {
		size_t i = s->pos++;
		dim_error e = {0};
		int label = -1, warned = 0;
		dim_status st = dim_dataset_get(s->ds, s->dec, i, min_side, &s->img, &label,
						&warned, &e);
		if (!st)
			st = dim_transform_apply(&s->tf, &s->img, 0, 0, i, s->x + (size_t)k * per, &e);
		if (st) {
			if (s->o.strict) {
				*err = e;
				return st;
			}
			st = note_skip(s, i, dim_error_text(&e), err);
			if (st)
				return st;
			continue;
		}
		s->labels[k] = label;
		s->items[k] = i;
		k++;
	}
	*n = k;
	return DIM_OK;
}

dim_status dim_image_stream_next(dim_image_stream *s, const float **x, const int64_t **labels,
				 const size_t **items, int *n, dim_error *err)
{
	*n = 0;
	if (s->cur) {
		dim_loader_release(s->ld, s->cur);
		s->cur = NULL;
	}
	if (s->ld) {
		dim_batch *b = NULL;
		dim_error e = {0};
		dim_status st = dim_loader_next(s->ld, &b, &e);
		if (!st && b) {
			s->cur = b;
			s->pos = b->items[b->n - 1] + 1;
			*x = b->x;
			*labels = b->labels;
			*items = b->items;
			*n = b->n;
			return DIM_OK;
		}
		if (st && s->o.strict) {
			*err = e;
			return st;
		}
		if (st)
			dim_log(DIM_LOG_INFO, "loader stopped (%s); decoding the rest sample by "
				"sample", dim_error_text(&e));
		dim_loader_destroy(s->ld);
		s->ld = NULL;
		if (!st)
			s->pos = s->count; /* the loader delivered everything */
	}
	dim_status st = next_sequential(s, n, err);
	*x = s->x;
	*labels = s->labels;
	*items = s->items;
	return st;
}
