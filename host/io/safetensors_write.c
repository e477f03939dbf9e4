/* safetensors writer (format in include/cldim/io.h).
 *
 * Header, as the reference writer (serde_json) produces it:
 *   {"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]},...}
 * then spaces up to a multiple of 8 bytes. Tensors ordered by element size
 * (largest first, so every tensor starts aligned), then by name. */
#include "io_internal.h"

#include <stdlib.h>
#include <string.h>

static int cmp_tensor_order(const void *a, const void *b)
{
	const dim_st_tensor *x = *(const dim_st_tensor *const *)a;
	const dim_st_tensor *y = *(const dim_st_tensor *const *)b;
	size_t sx = dim_dtype_size(x->dtype), sy = dim_dtype_size(y->dtype);
	if (sx != sy)
		return sx > sy ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_tensor_name(const void *a, const void *b)
{
	const dim_st_tensor *x = *(const dim_st_tensor *const *)a;
	const dim_st_tensor *y = *(const dim_st_tensor *const *)b;
	return strcmp(x->name, y->name);
}

static int cmp_meta_key(const void *a, const void *b)
{
	const dim_st_meta *x = *(const dim_st_meta *const *)a;
	const dim_st_meta *y = *(const dim_st_meta *const *)b;
	return strcmp(x->key, y->key);
}

static dim_status check_text(dim_error *err, const char *path, const char *what, const char *s)
{
	if (!s)
		return dim_fail(err, DIM_ERR_ARG, "%s: %s is NULL", path, what);
	if (!io_utf8_valid(s, strlen(s)))
		return dim_fail(err, DIM_ERR_ARG, "%s: %s \"%s\" is not valid UTF-8", path, what, s);
	return DIM_OK;
}

/* Validate one tensor; its byte size goes to *nbytes. */
static dim_status check_tensor(dim_error *err, const char *path, const dim_st_tensor *t,
			       size_t *nbytes)
{
	dim_status st = check_text(err, path, "tensor name", t->name);
	if (st != DIM_OK)
		return st;
	if (!strcmp(t->name, "__metadata__"))
		return dim_fail(err, DIM_ERR_ARG, "%s: \"__metadata__\" cannot name a tensor", path);
	if (dim_dtype_size(t->dtype) == 0)
		return dim_fail(err, DIM_ERR_ARG, "%s: tensor \"%s\" has an invalid dtype (%d)",
				path, t->name, (int)t->dtype);
	if (t->ndim < 0 || t->ndim > DIM_IO_MAX_DIMS || (t->ndim > 0 && !t->shape))
		return dim_fail(err, DIM_ERR_ARG, "%s: tensor \"%s\" has %d dimensions (0..%d)",
				path, t->name, t->ndim, DIM_IO_MAX_DIMS);
	if (!dim_io_nbytes(t->dtype, t->ndim, t->shape, nbytes)) {
		char sh[256];
		return dim_fail(err, DIM_ERR_ARG, "%s: tensor \"%s\" has a bad shape %s", path,
				t->name, io_shape_str(sh, sizeof sh, t->ndim, t->shape));
	}
	if (*nbytes && !t->data)
		return dim_fail(err, DIM_ERR_ARG, "%s: tensor \"%s\" has no data", path, t->name);
	return DIM_OK;
}

/* Sort and check tensors and metadata; on success the caller owns *ts, *ms. */
static dim_status prepare(dim_error *err, const char *path, const dim_st_tensor *tensors,
			  int count, const dim_st_meta *meta, int meta_count,
			  const dim_st_tensor ***ts, const dim_st_meta ***ms)
{
	dim_status st = DIM_OK;
	if (count < 0 || meta_count < 0 || (count && !tensors) || (meta_count && !meta))
		return dim_fail(err, DIM_ERR_ARG, "%s: bad tensor or metadata list", path);
	*ts = calloc((size_t)count + 1, sizeof **ts);
	*ms = calloc((size_t)meta_count + 1, sizeof **ms);
	if (!*ts || !*ms) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
		goto out_free_lists;
	}
	for (int i = 0; i < count; i++) {
		size_t nbytes;
		st = check_tensor(err, path, &tensors[i], &nbytes);
		if (st != DIM_OK)
			goto out_free_lists;
		(*ts)[i] = &tensors[i];
	}
	for (int i = 0; i < meta_count; i++) {
		st = check_text(err, path, "metadata key", meta[i].key);
		if (st == DIM_OK)
			st = check_text(err, path, "metadata value", meta[i].value);
		if (st != DIM_OK)
			goto out_free_lists;
		(*ms)[i] = &meta[i];
	}
	qsort(*ts, (size_t)count, sizeof **ts, cmp_tensor_name);
	for (int i = 1; i < count; i++)
		if (!strcmp((*ts)[i - 1]->name, (*ts)[i]->name)) {
			st = dim_fail(err, DIM_ERR_ARG, "%s: duplicate tensor name \"%s\"", path,
				      (*ts)[i]->name);
			goto out_free_lists;
		}
	qsort(*ts, (size_t)count, sizeof **ts, cmp_tensor_order);
	qsort(*ms, (size_t)meta_count, sizeof **ms, cmp_meta_key);
	for (int i = 1; i < meta_count; i++)
		if (!strcmp((*ms)[i - 1]->key, (*ms)[i]->key)) {
			st = dim_fail(err, DIM_ERR_ARG, "%s: duplicate metadata key \"%s\"", path,
				      (*ms)[i]->key);
			goto out_free_lists;
		}
	return DIM_OK;

out_free_lists:
	free(*ts);
	free(*ms);
	*ts = NULL;
	*ms = NULL;
	return st;
}

/* JSON header for the sorted lists, padded with spaces to a multiple of 8. */
static void render_header(io_buf *h, const dim_st_tensor *const *ts, int count,
			  const dim_st_meta *const *ms, int meta_count)
{
	uint64_t offset = 0;
	io_buf_putc(h, '{');
	if (meta_count) {
		io_buf_puts(h, "\"__metadata__\":{");
		for (int i = 0; i < meta_count; i++) {
			if (i)
				io_buf_putc(h, ',');
			io_buf_json_string(h, ms[i]->key);
			io_buf_putc(h, ':');
			io_buf_json_string(h, ms[i]->value);
		}
		io_buf_putc(h, '}');
	}
	for (int i = 0; i < count; i++) {
		const dim_st_tensor *t = ts[i];
		size_t nbytes = 0;
		dim_io_nbytes(t->dtype, t->ndim, t->shape, &nbytes); /* checked in prepare */
		if (i || meta_count)
			io_buf_putc(h, ',');
		io_buf_json_string(h, t->name);
		io_buf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", dim_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++)
			io_buf_printf(h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
		io_buf_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
			      (unsigned long long)(offset + nbytes));
		offset += nbytes;
	}
	io_buf_putc(h, '}');
	while (h->len % 8)
		io_buf_putc(h, ' ');
}

dim_status dim_st_write(dim_error *err, const char *path, const dim_st_tensor *tensors,
			int count, const dim_st_meta *meta, int meta_count)
{
	const dim_st_tensor **ts;
	const dim_st_meta **ms;
	io_buf h = {0};
	dim_atomic_file *af;
	unsigned char len_le[8];

	if (!path)
		return dim_fail(err, DIM_ERR_ARG, "safetensors: no file name");
	dim_status st = prepare(err, path, tensors, count, meta, meta_count, &ts, &ms);
	if (st != DIM_OK)
		return st;
	render_header(&h, ts, count, ms, meta_count);
	if (h.oom) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory for the header", path);
		goto out_free_header;
	}

	st = dim_atomic_open(err, path, &af);
	if (st != DIM_OK)
		goto out_free_header;
	FILE *f = dim_atomic_stream(af);
	io_put_le64(len_le, h.len);
	fwrite(len_le, 1, 8, f);
	fwrite(h.p, 1, h.len, f);
	for (int i = 0; i < count; i++) {
		size_t nbytes = 0;
		dim_io_nbytes(ts[i]->dtype, ts[i]->ndim, ts[i]->shape, &nbytes);
		if (nbytes && fwrite(ts[i]->data, 1, nbytes, f) != nbytes)
			break; /* ferror is set: commit reports it */
	}
	st = dim_atomic_commit(err, af); /* checks ferror, removes the temp file on failure */

out_free_header:
	io_buf_free(&h);
	free(ts);
	free(ms);
	return st;
}
