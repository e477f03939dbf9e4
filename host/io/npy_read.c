/* .npy reader (format in include/cldim/io.h; numpy/lib/format.py rules).
 *
 * The header is a Python dict literal; we accept the subset numpy writes:
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * keys in any order (exactly these three), ' or " quotes, optional trailing
 * commas, whitespace anywhere. Fortran-ordered arrays are transposed to C
 * order on load, so callers only ever see C order. */
#include "io_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_HEADER 10000 /* numpy's default max_header_size */

typedef struct npy_header {
	dim_dtype dtype;
	bool fortran;
	int ndim;
	int64_t shape[DIM_IO_MAX_DIMS];
	size_t data_off, nbytes;
} npy_header;

typedef struct lit {
	dim_error *err;
	const char *name;
	const char *p, *end;
} lit;

static dim_status lit_fail(lit *l, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

static dim_status lit_fail(lit *l, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return dim_fail(l->err, DIM_ERR_FORMAT, "%s: bad .npy header: %s", l->name, msg);
}

static void lit_skip(lit *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
		l->p++;
}

static bool lit_accept(lit *l, char c)
{
	lit_skip(l);
	if (l->p < l->end && *l->p == c) {
		l->p++;
		return true;
	}
	return false;
}

/* 'text' or "text" without escapes; *s, *n point into the header. */
static dim_status lit_string(lit *l, const char **s, size_t *n)
{
	char q = lit_accept(l, '\'') ? '\'' : lit_accept(l, '"') ? '"' : 0;
	if (!q)
		return lit_fail(l, "expected a quoted string");
	const char *start = l->p;
	while (l->p < l->end && *l->p != q) {
		if (*l->p == '\\' || *l->p == '\n')
			return lit_fail(l, "unsupported character in a string");
		l->p++;
	}
	if (l->p >= l->end)
		return lit_fail(l, "unterminated string");
	*s = start;
	*n = (size_t)(l->p - start);
	l->p++;
	return DIM_OK;
}

static bool lit_word(lit *l, const char *w)
{
	lit_skip(l);
	size_t n = strlen(w);
	if ((size_t)(l->end - l->p) >= n && !memcmp(l->p, w, n)) {
		l->p += n;
		return true;
	}
	return false;
}

/* (), (N,), (A, B), (A, B,) into ndim/shape. */
static dim_status lit_shape(lit *l, npy_header *h)
{
	if (!lit_accept(l, '('))
		return lit_fail(l, "'shape' is not a tuple");
	h->ndim = 0;
	if (lit_accept(l, ')'))
		return DIM_OK;
	for (;;) {
		lit_skip(l);
		if (l->p >= l->end || *l->p < '0' || *l->p > '9')
			return lit_fail(l, "'shape' holds something other than a non-negative integer");
		if (h->ndim == DIM_IO_MAX_DIMS)
			return lit_fail(l, "more than %d dimensions", DIM_IO_MAX_DIMS);
		int64_t v = 0;
		while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
			int d = *l->p++ - '0';
			if (v > (INT64_MAX - d) / 10)
				return lit_fail(l, "dimension too large");
			v = v * 10 + d;
		}
		h->shape[h->ndim++] = v;
		bool comma = lit_accept(l, ',');
		if (lit_accept(l, ')')) {
			if (h->ndim == 1 && !comma)
				return lit_fail(l, "'shape' (%lld) is not a tuple", (long long)v);
			return DIM_OK;
		}
		if (!comma)
			return lit_fail(l, "expected ',' or ')' in 'shape'");
	}
}

/* Map a descr to a dtype; big-endian, object and unknown types fail. */
static dim_status lit_descr(lit *l, const char *s, size_t n, npy_header *h)
{
	char d[16];
	if (n == 0 || n >= sizeof d)
		return lit_fail(l, "unsupported descr '%.*s'", (int)(n < 64 ? n : 64), s);
	memcpy(d, s, n);
	d[n] = '\0';
	if (strchr("<>|=", d[0]) && (d[1] == 'O' || d[1] == 'V'))
		return lit_fail(l, "descr '%s' holds Python objects or records (pickled data), not supported", d);
	if (d[0] == 'O')
		return lit_fail(l, "descr '%s' holds Python objects (pickled data), not supported", d);
	for (int i = 1; i < DIM_DT_COUNT; i++) {
		const char *want = io_npy_descr((dim_dtype)i);
		if (!want || strcmp(d + 1, want + 1))
			continue;
		bool one_byte = want[0] == '|';
		if (d[0] == want[0] || (one_byte && strchr("<>=", d[0])) ||
		    (!one_byte && d[0] == '=')) {
			h->dtype = (dim_dtype)i;
			return DIM_OK;
		}
		if (d[0] == '>')
			return lit_fail(l, "big-endian data (descr '%s') is not supported", d);
	}
	return lit_fail(l, "unsupported descr '%s'", d);
}

static dim_status lit_dict(lit *l, npy_header *h)
{
	enum { HAVE_DESCR = 1, HAVE_FORTRAN = 2, HAVE_SHAPE = 4 };
	int have = 0;
	dim_status st;
	if (!lit_accept(l, '{'))
		return lit_fail(l, "does not start with '{'");
	while (!lit_accept(l, '}')) {
		const char *key, *val;
		size_t klen, vlen;
		int bit;
		st = lit_string(l, &key, &klen);
		if (st != DIM_OK)
			return st;
		if (klen == 5 && !memcmp(key, "descr", 5))
			bit = HAVE_DESCR;
		else if (klen == 13 && !memcmp(key, "fortran_order", 13))
			bit = HAVE_FORTRAN;
		else if (klen == 5 && !memcmp(key, "shape", 5))
			bit = HAVE_SHAPE;
		else
			return lit_fail(l, "unexpected key '%.*s'", (int)(klen < 64 ? klen : 64), key);
		if (have & bit)
			return lit_fail(l, "duplicate key '%.*s'", (int)klen, key);
		have |= bit;
		if (!lit_accept(l, ':'))
			return lit_fail(l, "expected ':' after '%.*s'", (int)klen, key);
		if (bit == HAVE_DESCR) {
			if (lit_accept(l, '['))
				return lit_fail(l, "structured dtypes are not supported");
			st = lit_string(l, &val, &vlen);
			if (st == DIM_OK)
				st = lit_descr(l, val, vlen, h);
		} else if (bit == HAVE_FORTRAN) {
			st = DIM_OK;
			if (lit_word(l, "True"))
				h->fortran = true;
			else if (lit_word(l, "False"))
				h->fortran = false;
			else
				st = lit_fail(l, "'fortran_order' is not True or False");
		} else {
			st = lit_shape(l, h);
		}
		if (st != DIM_OK)
			return st;
		if (!lit_accept(l, ',')) {
			if (!lit_accept(l, '}'))
				return lit_fail(l, "expected ',' or '}'");
			break;
		}
	}
	if (have != (HAVE_DESCR | HAVE_FORTRAN | HAVE_SHAPE))
		return lit_fail(l, "missing key '%s'", !(have & HAVE_DESCR) ? "descr" :
				!(have & HAVE_FORTRAN) ? "fortran_order" : "shape");
	lit_skip(l);
	if (l->p != l->end)
		return lit_fail(l, "unexpected text after the dict");
	return DIM_OK;
}

/* Magic, version, header length, dict, data size against the file size. */
static dim_status parse_header(dim_error *err, const char *name, const unsigned char *b,
			       size_t size, npy_header *h)
{
	char sh[256];
	size_t hl, off;
	memset(h, 0, sizeof *h);
	if (size == 0 || memcmp(b, "\x93NUMPY", size < 6 ? size : 6))
		return dim_fail(err, DIM_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", name);
	if (size < 10)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: truncated .npy header (%zu bytes)", name, size);
	if (b[7] != 0 || b[6] < 1 || b[6] > 3)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: unsupported .npy version %d.%d", name,
				b[6], b[7]);
	off = b[6] == 1 ? 10 : 12;
	if (size < off)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: truncated .npy header", name);
	hl = b[8] | (size_t)b[9] << 8;
	if (b[6] > 1)
		hl |= (size_t)b[10] << 16 | (size_t)b[11] << 24;
	if (hl > NPY_MAX_HEADER)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: .npy header of %zu bytes exceeds %d", name,
				hl, NPY_MAX_HEADER);
	if (hl > size - off)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: .npy header of %zu bytes runs past the end of the file (%zu bytes): truncated?",
				name, hl, size);

	lit l = {.err = err, .name = name, .p = (const char *)b + off,
		 .end = (const char *)b + off + hl};
	dim_status st = lit_dict(&l, h);
	if (st != DIM_OK)
		return st;
	h->data_off = off + hl;
	if (!dim_io_nbytes(h->dtype, h->ndim, h->shape, &h->nbytes))
		return dim_fail(err, DIM_ERR_FORMAT, "%s: shape %s is too large", name,
				io_shape_str(sh, sizeof sh, h->ndim, h->shape));
	if (size - h->data_off != h->nbytes)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: shape %s of %s needs %zu data bytes, the file has %zu%s", name,
				io_shape_str(sh, sizeof sh, h->ndim, h->shape), dim_dtype_name(h->dtype),
				h->nbytes, size - h->data_off,
				size - h->data_off < h->nbytes ? " (truncated)" : " (trailing bytes)");
	return DIM_OK;
}

/* Fortran order (first index fastest) to C order (last index fastest). */
static void fortran_to_c(unsigned char *dst, const unsigned char *src, const npy_header *h)
{
	size_t isz = dim_dtype_size(h->dtype), numel = h->nbytes / isz;
	size_t stride[DIM_IO_MAX_DIMS], idx[DIM_IO_MAX_DIMS] = {0};
	size_t s = 1, from = 0;
	for (int k = 0; k < h->ndim; k++) {
		stride[k] = s;
		s *= (size_t)h->shape[k];
	}
	for (size_t i = 0; i < numel; i++) {
		memcpy(dst + i * isz, src + from * isz, isz);
		for (int k = h->ndim - 1; k >= 0; k--) { /* next C-order index */
			from += stride[k];
			if (++idx[k] < (size_t)h->shape[k])
				break;
			from -= stride[k] * idx[k];
			idx[k] = 0;
		}
	}
}

static void fill_out(dim_npy_array *out, const npy_header *h, void *data)
{
	out->dtype = h->dtype;
	out->ndim = h->ndim;
	memcpy(out->shape, h->shape, sizeof out->shape);
	out->data = data;
	out->nbytes = h->nbytes;
}

dim_status dim_npy_read_mem(dim_error *err, const char *name, const void *bytes, size_t size,
			    dim_npy_array *out)
{
	npy_header h;
	memset(out, 0, sizeof *out);
	if (!name)
		name = "(memory)";
	dim_status st = parse_header(err, name, bytes, size, &h);
	if (st != DIM_OK)
		return st;
	unsigned char *data = malloc(h.nbytes ? h.nbytes : 1);
	if (!data)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory for %zu bytes", name, h.nbytes);
	const unsigned char *src = (const unsigned char *)bytes + h.data_off;
	if (h.fortran)
		fortran_to_c(data, src, &h);
	else
		memcpy(data, src, h.nbytes);
	fill_out(out, &h, data);
	return DIM_OK;
}

dim_status dim_npy_read(dim_error *err, const char *path, dim_npy_array *out)
{
	void *buf;
	size_t size;
	npy_header h;
	memset(out, 0, sizeof *out);
	dim_status st = dim_read_file(err, path, &buf, &size);
	if (st != DIM_OK)
		return st;
	st = parse_header(err, path, buf, size, &h);
	if (st != DIM_OK)
		goto out_free_buf;
	if (h.fortran) { /* needs a second buffer; reuse the _mem path */
		st = dim_npy_read_mem(err, path, buf, size, out);
		goto out_free_buf;
	}
	/* C order: slide the data to the front of the (max-aligned) buffer */
	memmove(buf, (char *)buf + h.data_off, h.nbytes);
	void *shrunk = realloc(buf, h.nbytes ? h.nbytes : 1);
	fill_out(out, &h, shrunk ? shrunk : buf);
	return DIM_OK;

out_free_buf:
	free(buf);
	return st;
}

void dim_npy_array_free(dim_npy_array *a)
{
	if (!a)
		return;
	free(a->data);
	memset(a, 0, sizeof *a);
}
