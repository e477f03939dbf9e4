/* safetensors header scanner: the JSON object between bytes 8 and 8+N.
 *
 * The header is flat, so no recursion and one fixed entry shape:
 *   { "__metadata__": null | {"key": "string", ...},
 *     "name": {"dtype": "F32", "shape": [d, ...], "data_offsets": [begin, end]}, ... }
 * Keys in any order; strings with every JSON escape (surrogate pairs too) and
 * strict UTF-8; integers non-negative, no leading zeros, within int64. Only
 * syntax and per-entry checks live here; sizes and layout are checked by
 * safetensors_read.c. */
#include "io_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scan {
	dim_error *err;
	const char *name;
	const unsigned char *start, *p, *end;
} scan;

static dim_status scan_fail(scan *s, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

static dim_status scan_fail(scan *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return dim_fail(s->err, DIM_ERR_FORMAT, "%s: bad safetensors header at byte %zu: %s",
			s->name, (size_t)(s->p - s->start) + 8, msg);
}

static void skip_ws(scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Skip whitespace; true (and consume it) when the next byte is c. */
static bool accept(scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == (unsigned char)c) {
		s->p++;
		return true;
	}
	return false;
}

static dim_status expect(scan *s, char c)
{
	if (accept(s, c))
		return DIM_OK;
	if (s->p >= s->end)
		return scan_fail(s, "expected '%c', found the end of the header", c);
	return scan_fail(s, "expected '%c', found '%c'", c, *s->p >= 0x20 && *s->p < 0x7f ? *s->p : '?');
}

static int hex4(const unsigned char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void put_utf8(io_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
	}
	io_buf_put(b, u, n);
}

/* \uXXXX (s->p just past the 'u'), with surrogate pairs, into b. */
static dim_status scan_unicode_escape(scan *s, io_buf *b)
{
	int hi = s->end - s->p >= 4 ? hex4(s->p) : -1;
	if (hi < 0)
		return scan_fail(s, "bad \\u escape");
	s->p += 4;
	uint32_t cp = (uint32_t)hi;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return scan_fail(s, "lone low surrogate \\u%04X", hi);
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		int lo = s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u' ? hex4(s->p + 2) : -1;
		if (lo < 0xDC00 || lo > 0xDFFF)
			return scan_fail(s, "high surrogate \\u%04X without a low one", hi);
		s->p += 6;
		cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
	}
	if (cp == 0)
		return scan_fail(s, "string contains \\u0000");
	put_utf8(b, cp);
	return DIM_OK;
}

static dim_status scan_escape(scan *s, io_buf *b)
{
	if (s->p >= s->end)
		return scan_fail(s, "unterminated string");
	unsigned char c = *s->p++;
	switch (c) {
	case '"': io_buf_putc(b, '"'); return DIM_OK;
	case '\\': io_buf_putc(b, '\\'); return DIM_OK;
	case '/': io_buf_putc(b, '/'); return DIM_OK;
	case 'b': io_buf_putc(b, '\b'); return DIM_OK;
	case 'f': io_buf_putc(b, '\f'); return DIM_OK;
	case 'n': io_buf_putc(b, '\n'); return DIM_OK;
	case 'r': io_buf_putc(b, '\r'); return DIM_OK;
	case 't': io_buf_putc(b, '\t'); return DIM_OK;
	case 'u': return scan_unicode_escape(s, b);
	default:
		s->p--;
		return scan_fail(s, "bad escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
	}
}

/* A JSON string into a malloc'd, NUL-terminated UTF-8 copy. */
static dim_status scan_string(scan *s, char **out)
{
	io_buf b = {0};
	dim_status st;
	*out = NULL;
	skip_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return scan_fail(s, "expected a string");
	s->p++;
	for (;;) {
		if (s->p >= s->end) {
			st = scan_fail(s, "unterminated string");
			goto out_free_buf;
		}
		unsigned char c = *s->p;
		uint32_t cp;
		if (c == '"') {
			s->p++;
			break;
		} else if (c == '\\') {
			s->p++;
			st = scan_escape(s, &b);
			if (st != DIM_OK)
				goto out_free_buf;
		} else if (c < 0x20) {
			st = scan_fail(s, "control character 0x%02x in a string", c);
			goto out_free_buf;
		} else {
			size_t k = io_utf8_next(s->p, (size_t)(s->end - s->p), &cp);
			if (!k) {
				st = scan_fail(s, "invalid UTF-8 in a string");
				goto out_free_buf;
			}
			io_buf_put(&b, s->p, k);
			s->p += k;
		}
	}
	io_buf_putc(&b, '\0');
	if (b.oom) {
		st = dim_fail(s->err, DIM_ERR_NOMEM, "%s: out of memory", s->name);
		goto out_free_buf;
	}
	*out = b.p;
	return DIM_OK;

out_free_buf:
	io_buf_free(&b);
	return st;
}

/* A non-negative JSON integer that fits in int64_t. */
static dim_status scan_uint(scan *s, uint64_t *v)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == '-')
		return scan_fail(s, "negative number where a size or offset is due");
	if (s->p >= s->end || *s->p < '0' || *s->p > '9')
		return scan_fail(s, "expected a non-negative integer");
	if (*s->p == '0' && s->end - s->p > 1 && s->p[1] >= '0' && s->p[1] <= '9')
		return scan_fail(s, "number with a leading zero");
	uint64_t x = 0;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		uint64_t d = (uint64_t)(*s->p - '0');
		if (x > ((uint64_t)INT64_MAX - d) / 10)
			return scan_fail(s, "number too large");
		x = x * 10 + d;
		s->p++;
	}
	if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
		return scan_fail(s, "expected an integer, found a fraction or exponent");
	*v = x;
	return DIM_OK;
}

/* [a, b, ...] of at most max integers. */
static dim_status scan_uint_list(scan *s, const char *what, uint64_t *vals, int max, int *n)
{
	dim_status st = expect(s, '[');
	*n = 0;
	if (st != DIM_OK || accept(s, ']'))
		return st;
	do {
		if (*n == max)
			return scan_fail(s, "%s has more than %d entries", what, max);
		st = scan_uint(s, &vals[(*n)++]);
		if (st != DIM_OK)
			return st;
	} while (accept(s, ','));
	return expect(s, ']');
}

/* {"dtype":"F32","shape":[...],"data_offsets":[b,e]} in any key order. */
static dim_status scan_tensor(scan *s, st_entry *e)
{
	enum { HAVE_DTYPE = 1, HAVE_SHAPE = 2, HAVE_OFFSETS = 4 };
	const char *tname = e->info.name;
	int have = 0;
	dim_status st = expect(s, '{');
	if (st != DIM_OK)
		return st;
	do {
		char *key;
		st = scan_string(s, &key);
		if (st == DIM_OK)
			st = expect(s, ':');
		if (st != DIM_OK)
			goto out_free_key;
		if (!strcmp(key, "dtype") && !(have & HAVE_DTYPE)) {
			char *dt;
			const unsigned char *at = s->p;
			st = scan_string(s, &dt);
			if (st != DIM_OK)
				goto out_free_key;
			e->info.dtype = dim_dtype_from_name(dt, strlen(dt));
			if (e->info.dtype == DIM_DT_INVALID) {
				s->p = at;
				st = scan_fail(s, "tensor \"%s\" has unknown dtype \"%s\"", tname, dt);
			}
			free(dt);
			have |= HAVE_DTYPE;
		} else if (!strcmp(key, "shape") && !(have & HAVE_SHAPE)) {
			uint64_t dims[DIM_IO_MAX_DIMS];
			st = scan_uint_list(s, "shape", dims, DIM_IO_MAX_DIMS, &e->info.ndim);
			for (int i = 0; i < e->info.ndim; i++)
				e->info.shape[i] = (int64_t)dims[i];
			have |= HAVE_SHAPE;
		} else if (!strcmp(key, "data_offsets") && !(have & HAVE_OFFSETS)) {
			uint64_t off[2] = {0, 0};
			int n;
			st = scan_uint_list(s, "data_offsets", off, 2, &n);
			if (st == DIM_OK && n != 2)
				st = scan_fail(s, "tensor \"%s\": data_offsets needs 2 numbers", tname);
			e->info.begin = off[0];
			e->end = off[1];
			have |= HAVE_OFFSETS;
		} else if (!strcmp(key, "dtype") || !strcmp(key, "shape") ||
			   !strcmp(key, "data_offsets")) {
			st = scan_fail(s, "tensor \"%s\": duplicate key \"%s\"", tname, key);
		} else {
			st = scan_fail(s, "tensor \"%s\": unexpected key \"%s\"", tname, key);
		}
out_free_key:
		free(key);
		if (st != DIM_OK)
			return st;
	} while (accept(s, ','));
	st = expect(s, '}');
	if (st == DIM_OK && have != (HAVE_DTYPE | HAVE_SHAPE | HAVE_OFFSETS))
		st = scan_fail(s, "tensor \"%s\" lacks %s", tname,
			       !(have & HAVE_DTYPE) ? "\"dtype\"" :
			       !(have & HAVE_SHAPE) ? "\"shape\"" : "\"data_offsets\"");
	return st;
}

static dim_status add_meta(scan *s, dim_st_file *f, char *key, char *value)
{
	if (f->meta_count == f->meta_cap) {
		int cap = f->meta_cap ? 2 * f->meta_cap : 8;
		dim_st_meta *m = realloc(f->meta, (size_t)cap * sizeof *m);
		if (!m) {
			free(key);
			free(value);
			return dim_fail(s->err, DIM_ERR_NOMEM, "%s: out of memory", s->name);
		}
		f->meta = m;
		f->meta_cap = cap;
	}
	f->meta[f->meta_count].key = key;
	f->meta[f->meta_count].value = value;
	f->meta_count++;
	return DIM_OK;
}

/* "__metadata__": null | {"key": "string value", ...} */
static dim_status scan_metadata(scan *s, dim_st_file *f)
{
	skip_ws(s);
	if (s->end - s->p >= 4 && !memcmp(s->p, "null", 4)) {
		s->p += 4;
		return DIM_OK;
	}
	dim_status st = expect(s, '{');
	if (st != DIM_OK || accept(s, '}'))
		return st;
	do {
		char *key, *value;
		st = scan_string(s, &key);
		if (st != DIM_OK)
			return st;
		st = expect(s, ':');
		skip_ws(s);
		if (st == DIM_OK && (s->p >= s->end || *s->p != '"'))
			st = scan_fail(s, "metadata value for \"%s\" is not a string", key);
		if (st == DIM_OK)
			st = scan_string(s, &value);
		if (st != DIM_OK) {
			free(key);
			return st;
		}
		st = add_meta(s, f, key, value);
		if (st != DIM_OK)
			return st;
	} while (accept(s, ','));
	return expect(s, '}');
}

static st_entry *new_entry(dim_st_file *f)
{
	if (f->count == f->cap) {
		int cap = f->cap ? 2 * f->cap : 16;
		st_entry *t = realloc(f->tensors, (size_t)cap * sizeof *t);
		if (!t)
			return NULL;
		f->tensors = t;
		f->cap = cap;
	}
	st_entry *e = &f->tensors[f->count++];
	memset(e, 0, sizeof *e);
	return e;
}

/* The whole header object; entries and metadata land in f. */
static dim_status scan_header(scan *s, dim_st_file *f)
{
	if (s->p >= s->end || *s->p != '{')
		return scan_fail(s, "header does not start with '{'");
	dim_status st = expect(s, '{');
	if (accept(s, '}'))
		goto out_trailing;
	do {
		char *key;
		st = scan_string(s, &key);
		if (st == DIM_OK)
			st = expect(s, ':');
		if (st != DIM_OK) {
			free(key);
			return st;
		}
		if (!strcmp(key, "__metadata__")) {
			free(key);
			if (f->has_meta)
				return scan_fail(s, "duplicate key \"__metadata__\"");
			f->has_meta = true;
			st = scan_metadata(s, f);
		} else {
			st_entry *e = new_entry(f);
			if (!e) {
				free(key);
				return dim_fail(s->err, DIM_ERR_NOMEM, "%s: out of memory", s->name);
			}
			e->info.name = key;
			st = scan_tensor(s, e);
		}
		if (st != DIM_OK)
			return st;
	} while (accept(s, ','));
	st = expect(s, '}');
	if (st != DIM_OK)
		return st;
out_trailing:
	skip_ws(s);
	if (s->p != s->end)
		return scan_fail(s, "unexpected bytes after the header object");
	return DIM_OK;
}

dim_status st_scan_header(dim_error *err, const char *name, const unsigned char *header,
			  size_t n, dim_st_file *f)
{
	scan s = {.err = err, .name = name, .start = header, .p = header, .end = header + n};
	return scan_header(&s, f);
}
