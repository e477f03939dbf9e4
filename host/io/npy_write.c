/* .npy writers: whole arrays and row-streamed (format in include/cldim/io.h).
 *
 *   off 0   "\x93NUMPY" 0x01 0x00            magic, version 1.0
 *   off 8   u16 LE HEADER_LEN
 *   off 10  "{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }"
 *           + (21 - digits(N)) spaces       room for N to grow (numpy >= 1.23)
 *           + padding spaces + '\n'         so that 10 + HEADER_LEN % 64 == 0
 *   off 10+HEADER_LEN   data, C order
 *
 * The growth room makes the header length independent of N's digits, which
 * is what lets the streaming writer rewrite the row count in place. */
#include "io_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPY_GROWTH_DIGITS 21 /* GROWTH_AXIS_MAX_DIGITS */
#define NPY_ALIGN 64         /* ARRAY_ALIGN */
#define NPY_HEADER_MAX 1024  /* ours never exceed ~350 bytes */

static const char *const npy_descr[DIM_DT_COUNT] = {
	[DIM_DT_BOOL] = "|b1", [DIM_DT_U8] = "|u1",  [DIM_DT_I8] = "|i1",
	[DIM_DT_I16] = "<i2",  [DIM_DT_U16] = "<u2", [DIM_DT_F16] = "<f2",
	[DIM_DT_I32] = "<i4",  [DIM_DT_U32] = "<u4", [DIM_DT_F32] = "<f4",
	[DIM_DT_I64] = "<i8",  [DIM_DT_U64] = "<u8", [DIM_DT_F64] = "<f8",
};

const char *io_npy_descr(dim_dtype dt)
{
	return (unsigned)dt < DIM_DT_COUNT ? npy_descr[dt] : NULL;
}

/* The whole header block, magic to '\n', for rows x shape[1..]; returns its
 * length (a multiple of 64). buf holds NPY_HEADER_MAX bytes. */
static size_t render_header(char *buf, dim_dtype dt, int ndim, int64_t rows,
			    const int64_t *shape)
{
	char dict[NPY_HEADER_MAX];
	size_t n = (size_t)snprintf(dict, sizeof dict,
				    "{'descr': '%s', 'fortran_order': False, 'shape': (",
				    io_npy_descr(dt));
	for (int i = 0; i < ndim; i++)
		n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld", i ? ", " : "",
				      (long long)(i ? shape[i] : rows));
	n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
	if (ndim > 0) {
		int digits = snprintf(NULL, 0, "%lld", (long long)rows);
		for (int i = digits; i < NPY_GROWTH_DIGITS; i++)
			dict[n++] = ' ';
	}
	size_t hlen = n + 1; /* with the '\n' */
	size_t pad = NPY_ALIGN - (10 + hlen) % NPY_ALIGN; /* 1..64, as numpy */
	size_t header_len = hlen + pad;

	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)(header_len & 0xFF);
	buf[9] = (char)(header_len >> 8);
	memcpy(buf + 10, dict, n);
	memset(buf + 10 + n, ' ', pad);
	buf[10 + n + pad] = '\n';
	return 10 + header_len;
}

/* Checks shared by both writers: a dtype .npy can hold, 0..8 dims, each >= 0
 * except shape[0] may be DIM_NPY_ROWS_UNKNOWN when allow_unknown. */
static dim_status check_args(dim_error *err, const char *path, dim_dtype dt, int ndim,
			     const int64_t *shape, bool allow_unknown)
{
	char sh[256];
	if (!path)
		return dim_fail(err, DIM_ERR_ARG, ".npy: no file name");
	if (!io_npy_descr(dt))
		return dim_fail(err, DIM_ERR_ARG, "%s: dtype %s cannot be stored in .npy", path,
				dim_dtype_name(dt));
	if (ndim < 0 || ndim > DIM_IO_MAX_DIMS || (ndim && !shape))
		return dim_fail(err, DIM_ERR_ARG, "%s: %d dimensions (0..%d)", path, ndim,
				DIM_IO_MAX_DIMS);
	for (int i = 0; i < ndim; i++)
		if (shape[i] < 0 && !(i == 0 && allow_unknown && shape[0] == DIM_NPY_ROWS_UNKNOWN))
			return dim_fail(err, DIM_ERR_ARG, "%s: bad shape %s", path,
					io_shape_str(sh, sizeof sh, ndim, shape));
	return DIM_OK;
}

dim_status dim_npy_write(dim_error *err, const char *path, dim_dtype dtype, int ndim,
			 const int64_t *shape, const void *data)
{
	char header[NPY_HEADER_MAX], sh[256];
	size_t nbytes;
	dim_atomic_file *af;

	dim_status st = check_args(err, path, dtype, ndim, shape, false);
	if (st != DIM_OK)
		return st;
	if (!dim_io_nbytes(dtype, ndim, shape, &nbytes))
		return dim_fail(err, DIM_ERR_ARG, "%s: shape %s is too large", path,
				io_shape_str(sh, sizeof sh, ndim, shape));
	if (nbytes && !data)
		return dim_fail(err, DIM_ERR_ARG, "%s: no data", path);
	size_t hlen = render_header(header, dtype, ndim, ndim ? shape[0] : 0, shape);

	st = dim_atomic_open(err, path, &af);
	if (st != DIM_OK)
		return st;
	FILE *f = dim_atomic_stream(af);
	if (fwrite(header, 1, hlen, f) == hlen && nbytes)
		fwrite(data, 1, nbytes, f);
	return dim_atomic_commit(err, af); /* reports any write error */
}

/* ----------------------------------------------------------------- streaming */

struct dim_npy_writer {
	dim_atomic_file *af;
	dim_dtype dtype;
	int ndim;
	int64_t shape[DIM_IO_MAX_DIMS]; /* shape[0]: declared rows or UNKNOWN */
	size_t row_bytes;               /* prod(shape[1..]) * itemsize */
	int64_t rows;                   /* appended so far */
	size_t header_len;
	bool failed;
};

dim_status dim_npy_writer_open(dim_error *err, const char *path, dim_dtype dtype, int ndim,
			       const int64_t *shape, dim_npy_writer **out)
{
	char header[NPY_HEADER_MAX], sh[256];
	*out = NULL;
	dim_status st = check_args(err, path, dtype, ndim, shape, true);
	if (st != DIM_OK)
		return st;
	if (ndim < 1)
		return dim_fail(err, DIM_ERR_ARG, "%s: a streamed array needs at least 1 dimension",
				path);
	dim_npy_writer *w = calloc(1, sizeof *w);
	if (!w)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
	w->dtype = dtype;
	w->ndim = ndim;
	memcpy(w->shape, shape, (size_t)ndim * sizeof *shape);
	if (!dim_io_nbytes(dtype, ndim - 1, shape + 1, &w->row_bytes)) {
		st = dim_fail(err, DIM_ERR_ARG, "%s: shape %s is too large", path,
			      io_shape_str(sh, sizeof sh, ndim, shape));
		goto out_free_writer;
	}
	int64_t rows = shape[0] == DIM_NPY_ROWS_UNKNOWN ? 0 : shape[0];
	w->header_len = render_header(header, dtype, ndim, rows, w->shape);

	st = dim_atomic_open(err, path, &w->af);
	if (st != DIM_OK)
		goto out_free_writer;
	if (fwrite(header, 1, w->header_len, dim_atomic_stream(w->af)) != w->header_len) {
		st = dim_fail(err, DIM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
		goto out_abort_file;
	}
	*out = w;
	return DIM_OK;

out_abort_file:
	dim_atomic_abort(w->af);
out_free_writer:
	free(w);
	return st;
}

dim_status dim_npy_writer_append(dim_error *err, dim_npy_writer *w, const void *rows,
				 int64_t nrows)
{
	const char *path = dim_atomic_path(w->af);
	uint64_t nbytes, total;
	if (w->failed)
		return dim_fail(err, DIM_ERR_IO, "%s: an earlier write failed", path);
	if (nrows < 0 || (nrows && !rows))
		return dim_fail(err, DIM_ERR_ARG, "%s: bad append of %lld rows", path,
				(long long)nrows);
	if (w->shape[0] != DIM_NPY_ROWS_UNKNOWN && nrows > w->shape[0] - w->rows)
		return dim_fail(err, DIM_ERR_ARG, "%s: appending %lld rows to %lld exceeds the %lld declared",
				path, (long long)nrows, (long long)w->rows, (long long)w->shape[0]);
	if (!io_mul_u64((uint64_t)nrows, w->row_bytes, &nbytes) || nbytes > SIZE_MAX ||
	    !io_mul_u64((uint64_t)(w->rows + nrows), w->row_bytes, &total) || total > INT64_MAX)
		return dim_fail(err, DIM_ERR_ARG, "%s: %lld more rows is too large", path,
				(long long)nrows);
	if (nbytes && fwrite(rows, 1, (size_t)nbytes, dim_atomic_stream(w->af)) != nbytes) {
		w->failed = true;
		return dim_fail(err, DIM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
	}
	w->rows += nrows;
	return DIM_OK;
}

int64_t dim_npy_writer_rows(const dim_npy_writer *w)
{
	return w->rows;
}

void dim_npy_writer_abort(dim_npy_writer *w)
{
	if (!w)
		return;
	dim_atomic_abort(w->af);
	free(w);
}

dim_status dim_npy_writer_close(dim_error *err, dim_npy_writer *w)
{
	char header[NPY_HEADER_MAX];
	dim_status st;
	const char *path = dim_atomic_path(w->af);
	FILE *f = dim_atomic_stream(w->af);

	if (w->failed) {
		st = dim_fail(err, DIM_ERR_IO, "%s: not written: an earlier write failed", path);
		goto out_abort;
	}
	if (w->shape[0] != DIM_NPY_ROWS_UNKNOWN && w->rows != w->shape[0]) {
		st = dim_fail(err, DIM_ERR_ARG, "%s: not written: %lld rows appended, %lld declared",
			      path, (long long)w->rows, (long long)w->shape[0]);
		goto out_abort;
	}
	if (w->shape[0] == DIM_NPY_ROWS_UNKNOWN) {
		size_t n = render_header(header, w->dtype, w->ndim, w->rows, w->shape);
		if (n != w->header_len) { /* cannot happen: rows has at most 19 digits */
			st = dim_fail(err, DIM_ERR_ARG, "%s: header grew from %zu to %zu bytes", path,
				      w->header_len, n);
			goto out_abort;
		}
		if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0 || fwrite(header, 1, n, f) != n) {
			st = dim_fail(err, DIM_ERR_IO, "%s: cannot rewrite the header: %s", path,
				      strerror(errno));
			goto out_abort;
		}
	}
	st = dim_atomic_commit(err, w->af);
	free(w);
	return st;

out_abort:
	dim_npy_writer_abort(w);
	return st;
}
