/* Whole-split feature extraction: to .npy files (streamed) or to host memory
 * (include/cldim/encode.h, "extraction"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/encode.h"
#include "cldim/io.h"

/* A text file written atomically (<path>.tmp.<pid>, renamed on success). */
struct text_out {
	dim_atomic_file *af;
	FILE *f;
};

static dim_status text_open(struct text_out *t, const char *path, dim_error *err)
{
	t->af = NULL;
	t->f = NULL;
	if (!path)
		return DIM_OK;
	dim_status st = dim_atomic_open(err, path, &t->af);
	if (!st)
		t->f = dim_atomic_stream(t->af);
	return st;
}

static dim_status text_close(struct text_out *t, int commit, dim_error *err)
{
	dim_atomic_file *af = t->af;
	t->af = NULL;
	t->f = NULL;
	if (!af)
		return DIM_OK;
	if (!commit) {
		dim_atomic_abort(af);
		return DIM_OK;
	}
	return dim_atomic_commit(err, af);
}

dim_status dim_extract_run(dim_featurizer *f, const dim_extract_options *o,
			   dim_extract_result *res)
{
	dim_error *err = dim_ctx_error(dim_model_params(dim_featurizer_model(f))->ctx);
	dim_image_stream *s = NULL;
	dim_npy_writer *fw = NULL, *lw = NULL;
	struct text_out paths = {0}, skipped = {0};
	float *feat = NULL;
	int64_t *lab = NULL;
	int ok = 0;

	memset(res, 0, sizeof *res);
	dim_stream_opts so = o->stream;
	dim_featurizer_input(f, &so.channels, &so.size);
	int d = dim_featurizer_dim(f, o->repr);
	res->dim = d;
	/* temporaries of killed runs beside the output */
	char dir[1200];
	const char *slash = strrchr(o->features_npy, '/');
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - o->features_npy) : 1,
		 slash ? o->features_npy : ".");
	int stale = dim_tmp_clean_stale(dir);
	if (stale)
		dim_log(DIM_LOG_INFO, "removed %d temporary file(s) of killed runs from %s", stale,
			dir);
	dim_status st = dim_image_stream_open(&s, o->data_path, &so, err);
	if (st)
		goto out;
	const dim_dataset_info *info = dim_image_stream_info(s);
	res->has_labels = info->has_labels;
	feat = malloc((size_t)so.batch * d * sizeof *feat);
	lab = malloc((size_t)so.batch * sizeof *lab);
	if (!feat || !lab) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		goto out;
	}
	int64_t fshape[2] = {DIM_NPY_ROWS_UNKNOWN, d}, lshape[1] = {DIM_NPY_ROWS_UNKNOWN};
	st = dim_npy_writer_open(err, o->features_npy, DIM_DT_F32, 2, fshape, &fw);
	if (!st && o->labels_npy && info->has_labels)
		st = dim_npy_writer_open(err, o->labels_npy, DIM_DT_I64, 1, lshape, &lw);
	if (!st)
		st = text_open(&paths, o->paths_txt, err);
	if (!st)
		st = text_open(&skipped, o->skipped_txt, err);
	if (st)
		goto out;

	double t0 = dim_now(), last = -1;
	size_t total = dim_image_stream_count(s), done = 0;
	for (;;) {
		const float *x;
		const int64_t *labels;
		const size_t *items;
		int n;
		st = dim_image_stream_next(s, &x, &labels, &items, &n, err);
		if (st || !n)
			break;
		st = dim_featurizer_encode(f, x, n, o->repr, feat);
		if (!st)
			st = dim_npy_writer_append(err, fw, feat, n);
		if (!st && lw) {
			for (int i = 0; i < n; i++)
				lab[i] = labels[i];
			st = dim_npy_writer_append(err, lw, lab, n);
		}
		if (st)
			break;
		for (int i = 0; paths.f && i < n; i++) {
			char src[1200];
			dim_image_stream_source(s, items[i], src, sizeof src);
			fprintf(paths.f, "%s\n", src);
		}
		res->written += (size_t)n;
		done = items[n - 1] + 1;
		double now = dim_now() - t0;
		if (o->progress && (now - last >= 0.25 || done == total)) {
			dim_extract_progress p = {
				.done = done, .total = total,
				.skipped = dim_image_stream_skipped(s, NULL, NULL),
				.images_per_s = now > 0 ? (double)res->written / now : 0,
				.elapsed_s = now};
			o->progress(o->progress_user, &p);
			last = now;
		}
	}
	if (st)
		goto out;
	res->seconds = dim_now() - t0;
	res->images_per_s = res->seconds > 0 ? (double)res->written / res->seconds : 0;
	const size_t *sk;
	const char *const *msg;
	res->skipped = dim_image_stream_skipped(s, &sk, &msg);
	for (size_t i = 0; skipped.f && i < res->skipped; i++)
		fprintf(skipped.f, "%zu\t%s\n", sk[i], msg[i]);
	if (res->written == 0) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: no image could be encoded (%zu skipped)",
			      o->data_path, res->skipped);
		goto out;
	}
	if (o->progress) {
		dim_extract_progress p = {.done = total, .total = total, .skipped = res->skipped,
					  .images_per_s = res->images_per_s,
					  .elapsed_s = res->seconds, .final = true};
		o->progress(o->progress_user, &p);
	}
	ok = 1;

out:
	if (fw && ok)
		st = dim_npy_writer_close(err, fw);
	else
		dim_npy_writer_abort(fw);
	if (lw && ok && !st)
		st = dim_npy_writer_close(err, lw);
	else
		dim_npy_writer_abort(lw);
	dim_status s2 = text_close(&paths, ok && !st, err);
	st = st ? st : s2;
	s2 = text_close(&skipped, ok && !st, err);
	st = st ? st : s2;
	free(feat);
	free(lab);
	dim_image_stream_destroy(s);
	return st;
}

dim_status dim_extract_memory(dim_featurizer *f, const char *path, const dim_stream_opts *so_in,
			      int count, const dim_repr *reprs, float **feats, int32_t **labels,
			      size_t *n_out)
{
	dim_error *err = dim_ctx_error(dim_model_params(dim_featurizer_model(f))->ctx);
	dim_image_stream *s = NULL;
	float *tmp[DIM_REPR_COUNT] = {0};
	int dims[DIM_REPR_COUNT];
	size_t n = 0;
	dim_stream_opts so = *so_in;
	dim_featurizer_input(f, &so.channels, &so.size);
	if (count < 1 || count > DIM_REPR_COUNT)
		return dim_fail(err, DIM_ERR_ARG, "extract: %d representations", count);
	*labels = NULL;
	for (int r = 0; r < count; r++)
		feats[r] = NULL;
	dim_status st = dim_image_stream_open(&s, path, &so, err);
	if (st)
		return st;
	size_t total = dim_image_stream_count(s);
	*labels = malloc((total ? total : 1) * sizeof **labels);
	st = *labels ? DIM_OK : dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	for (int r = 0; !st && r < count; r++) {
		dims[r] = dim_featurizer_dim(f, reprs[r]);
		feats[r] = malloc((total ? total : 1) * (size_t)dims[r] * sizeof(float));
		if (!feats[r])
			st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory for %zu x %d features",
				      total, dims[r]);
	}
	while (!st) {
		const float *x;
		const int64_t *lab;
		const size_t *items;
		int b;
		st = dim_image_stream_next(s, &x, &lab, &items, &b, err);
		if (st || !b)
			break;
		for (int r = 0; r < count; r++)
			tmp[r] = feats[r] + n * (size_t)dims[r];
		st = dim_featurizer_encode_many(f, x, b, count, reprs, tmp);
		for (int i = 0; i < b; i++)
			(*labels)[n + (size_t)i] = (int32_t)lab[i];
		n += (size_t)b;
	}
	dim_image_stream_destroy(s);
	if (st) {
		for (int r = 0; r < count; r++) {
			free(feats[r]);
			feats[r] = NULL;
		}
		free(*labels);
		*labels = NULL;
		return st;
	}
	*n_out = n;
	return DIM_OK;
}

dim_status dim_extract_pixels(const char *path, const dim_stream_opts *so, float **x_out,
			      int32_t **labels, size_t *n_out, dim_error *err)
{
	dim_image_stream *s = NULL;
	dim_status st = dim_image_stream_open(&s, path, so, err);
	if (st)
		return st;
	size_t total = dim_image_stream_count(s), n = 0;
	size_t per = (size_t)so->channels * so->size * so->size;
	float *xs = malloc((total ? total : 1) * per * sizeof *xs);
	int32_t *ls = malloc((total ? total : 1) * sizeof *ls);
	if (!xs || !ls)
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory for %zu images", total);
	while (!st) {
		const float *x;
		const int64_t *lab;
		const size_t *items;
		int b;
		st = dim_image_stream_next(s, &x, &lab, &items, &b, err);
		if (st || !b)
			break;
		memcpy(xs + n * per, x, (size_t)b * per * sizeof *xs);
		for (int i = 0; i < b; i++)
			ls[n + (size_t)i] = (int32_t)lab[i];
		n += (size_t)b;
	}
	dim_image_stream_destroy(s);
	if (st) {
		free(xs);
		free(ls);
		return st;
	}
	*x_out = xs;
	*labels = ls;
	*n_out = n;
	return DIM_OK;
}
