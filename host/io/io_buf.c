/* Growable byte buffer, UTF-8 decoding and JSON string escaping shared by the
 * safetensors writer and reader. */
#include "io_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool io_buf_reserve(io_buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (extra <= b->cap - b->len)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void io_buf_put(io_buf *b, const void *s, size_t n)
{
	if (n == 0 || !io_buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void io_buf_putc(io_buf *b, char c)
{
	io_buf_put(b, &c, 1);
}

void io_buf_puts(io_buf *b, const char *s)
{
	io_buf_put(b, s, strlen(s));
}

void io_buf_printf(io_buf *b, const char *fmt, ...)
{
	char small[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n < sizeof small) {
		io_buf_put(b, small, (size_t)n);
		return;
	}
	if (!io_buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void io_buf_free(io_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

size_t io_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (n == 0)
		return 0;
	unsigned char c = s[0];
	size_t len;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		len = 2, v = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0; /* continuation byte, C0/C1 overlong lead, or > F4 */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

bool io_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	while (n) {
		size_t k = io_utf8_next(p, n, &cp);
		if (!k)
			return false;
		p += k;
		n -= k;
	}
	return true;
}

void io_buf_json_string(io_buf *b, const char *s)
{
	io_buf_putc(b, '"');
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		switch (c) {
		case '"': io_buf_puts(b, "\\\""); break;
		case '\\': io_buf_puts(b, "\\\\"); break;
		case '\b': io_buf_puts(b, "\\b"); break;
		case '\f': io_buf_puts(b, "\\f"); break;
		case '\n': io_buf_puts(b, "\\n"); break;
		case '\r': io_buf_puts(b, "\\r"); break;
		case '\t': io_buf_puts(b, "\\t"); break;
		default:
			if (c < 0x20)
				io_buf_printf(b, "\\u%04x", c);
			else
				io_buf_putc(b, (char)c);
		}
	}
	io_buf_putc(b, '"');
}
