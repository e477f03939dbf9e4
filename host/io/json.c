/* Streaming JSON writer and CSV fields (see include/cldim/io.h).
 *
 * State per nesting level: kind ('{' or '['), empty (no item yet). Inside an
 * object, need_key says whether a key or a value comes next. The first misuse
 * is remembered and stops all output, so a bug in a caller gives a clear
 * error from dim_json_finish instead of malformed JSON or a crash. */
#include "io_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void dim_json_init(dim_json *j, FILE *f, int indent)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->indent = indent < 0 ? 0 : indent;
	if (!f)
		j->misuse = "no output stream";
}

static void misuse(dim_json *j, const char *what)
{
	if (!j->misuse)
		j->misuse = what;
}

static void newline(dim_json *j)
{
	if (!j->indent)
		return;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth * j->indent; i++)
		fputc(' ', j->f);
}

/* Separator and indentation before a value; false when nothing may be written. */
static bool before_value(dim_json *j)
{
	if (j->misuse)
		return false;
	if (j->depth == 0) {
		if (j->done)
			misuse(j, "a second top-level value");
		return !j->misuse;
	}
	if (j->kind[j->depth - 1] == '{') {
		if (j->need_key)
			misuse(j, "a value where an object key is due");
		return !j->misuse;
	}
	if (!j->empty[j->depth - 1])
		fputc(',', j->f);
	j->empty[j->depth - 1] = false;
	newline(j);
	return true;
}

static void after_value(dim_json *j)
{
	if (j->depth == 0)
		j->done = true;
	else if (j->kind[j->depth - 1] == '{')
		j->need_key = true;
}

static void write_escaped(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	while (n) {
		uint32_t cp;
		size_t k = io_utf8_next(p, n, &cp);
		if (!k) {
			fputs("\\ufffd", f); /* invalid byte */
			k = 1;
		} else if (cp == '"' || cp == '\\') {
			fputc('\\', f);
			fputc((int)cp, f);
		} else if (cp < 0x20) {
			switch (cp) {
			case '\b': fputs("\\b", f); break;
			case '\f': fputs("\\f", f); break;
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			default: fprintf(f, "\\u%04x", (unsigned)cp);
			}
		} else {
			fwrite(p, 1, k, f);
		}
		p += k;
		n -= k;
	}
	fputc('"', f);
}

static void open_level(dim_json *j, char kind)
{
	if (!before_value(j))
		return;
	if (j->depth == DIM_JSON_MAX_DEPTH) {
		misuse(j, "nesting deeper than DIM_JSON_MAX_DEPTH");
		return;
	}
	fputc(kind, j->f);
	j->kind[j->depth] = kind;
	j->empty[j->depth] = true;
	j->depth++;
	j->need_key = kind == '{';
}

static void close_level(dim_json *j, char kind)
{
	if (j->misuse)
		return;
	if (j->depth == 0 || j->kind[j->depth - 1] != kind) {
		misuse(j, kind == '{' ? "end_object without a matching begin_object"
				      : "end_array without a matching begin_array");
		return;
	}
	if (kind == '{' && !j->need_key) {
		misuse(j, "an object key without a value");
		return;
	}
	bool empty = j->empty[j->depth - 1];
	j->depth--;
	if (!empty)
		newline(j);
	fputc(kind == '{' ? '}' : ']', j->f);
	after_value(j);
}

void dim_json_begin_object(dim_json *j) { open_level(j, '{'); }
void dim_json_end_object(dim_json *j) { close_level(j, '{'); }
void dim_json_begin_array(dim_json *j) { open_level(j, '['); }
void dim_json_end_array(dim_json *j) { close_level(j, '['); }

void dim_json_key(dim_json *j, const char *key)
{
	if (j->misuse)
		return;
	if (j->depth == 0 || j->kind[j->depth - 1] != '{' || !j->need_key) {
		misuse(j, "a key outside an object or where a value is due");
		return;
	}
	if (!key) {
		misuse(j, "a NULL key");
		return;
	}
	if (!j->empty[j->depth - 1])
		fputc(',', j->f);
	j->empty[j->depth - 1] = false;
	newline(j);
	write_escaped(j->f, key, strlen(key));
	fputs(j->indent ? ": " : ":", j->f);
	j->need_key = false;
}

/* Write a scalar's text as the next value. */
static void scalar(dim_json *j, const char *text)
{
	if (!before_value(j))
		return;
	fputs(text, j->f);
	after_value(j);
}

void dim_json_string_n(dim_json *j, const char *s, size_t n)
{
	if (!s) {
		scalar(j, "null");
		return;
	}
	if (!before_value(j))
		return;
	write_escaped(j->f, s, n);
	after_value(j);
}

void dim_json_string(dim_json *j, const char *s)
{
	dim_json_string_n(j, s, s ? strlen(s) : 0);
}

char *dim_json_format_double(char buf[32], double v)
{
	if (!isfinite(v)) {
		strcpy(buf, "null");
		return buf;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

char *dim_json_format_float(char buf[32], float v)
{
	if (!isfinite(v)) {
		strcpy(buf, "null");
		return buf;
	}
	for (int prec = 1; prec <= 9; prec++) {
		snprintf(buf, 32, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	return buf;
}

void dim_json_number(dim_json *j, double v)
{
	char buf[32];
	scalar(j, dim_json_format_double(buf, v));
}

void dim_json_float(dim_json *j, float v)
{
	char buf[32];
	scalar(j, dim_json_format_float(buf, v));
}

void dim_json_int(dim_json *j, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	scalar(j, buf);
}

void dim_json_uint(dim_json *j, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
	scalar(j, buf);
}

void dim_json_bool(dim_json *j, bool v) { scalar(j, v ? "true" : "false"); }
void dim_json_null(dim_json *j) { scalar(j, "null"); }

void dim_json_kv_string(dim_json *j, const char *key, const char *s)
{
	dim_json_key(j, key);
	dim_json_string(j, s);
}

void dim_json_kv_number(dim_json *j, const char *key, double v)
{
	dim_json_key(j, key);
	dim_json_number(j, v);
}

void dim_json_kv_int(dim_json *j, const char *key, int64_t v)
{
	dim_json_key(j, key);
	dim_json_int(j, v);
}

void dim_json_kv_bool(dim_json *j, const char *key, bool v)
{
	dim_json_key(j, key);
	dim_json_bool(j, v);
}

dim_status dim_json_finish(dim_error *err, dim_json *j, const char *what)
{
	if (!what)
		what = "JSON output";
	if (j->misuse)
		return dim_fail(err, DIM_ERR_ARG, "%s: JSON writer misuse: %s", what, j->misuse);
	if (j->depth)
		return dim_fail(err, DIM_ERR_ARG, "%s: JSON document left %d level(s) open", what,
				j->depth);
	if (!j->done)
		return dim_fail(err, DIM_ERR_ARG, "%s: no JSON value written", what);
	errno = 0;
	if (fflush(j->f) != 0 || ferror(j->f))
		return dim_fail(err, DIM_ERR_IO, "%s: write failed: %s", what,
				strerror(errno ? errno : EIO));
	return DIM_OK;
}

/* ---------------------------------------------------------------------- CSV */

void dim_csv_field(FILE *f, const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	bool quote = n && (s[0] == ' ' || s[n - 1] == ' ');
	quote = quote || strpbrk(s, ",\"\r\n") != NULL;
	if (!quote) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

void dim_csv_row(FILE *f, const char *const *fields, int n)
{
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		dim_csv_field(f, fields[i]);
	}
	fputc('\n', f);
}
