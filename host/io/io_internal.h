/* Helpers shared by the files of host/io/ (not part of the public API). */
#ifndef CLDIM_IO_INTERNAL_H
#define CLDIM_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cldim/io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cldim io writes host memory as little-endian data: big-endian hosts are not supported"
#endif

/* A growable byte buffer; after an allocation failure `oom` is set and
 * further appends do nothing. */
typedef struct io_buf {
	char *p;
	size_t len, cap;
	bool oom;
} io_buf;

void io_buf_put(io_buf *b, const void *s, size_t n);
void io_buf_putc(io_buf *b, char c);
void io_buf_puts(io_buf *b, const char *s);
void io_buf_printf(io_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
void io_buf_free(io_buf *b);

/* Decode one UTF-8 sequence from s[0..n): returns its length (1-4) and the
 * code point, or 0 when it is invalid (bad lead or continuation byte,
 * overlong form, surrogate, above U+10FFFF, truncated). */
size_t io_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
bool io_utf8_valid(const char *s, size_t n);

/* Append s as a JSON string literal (with quotes), escaping like serde_json:
 * \" \\ \b \f \n \r \t, other control characters as \u00XX. s must be valid
 * UTF-8 (checked by the caller). */
void io_buf_json_string(io_buf *b, const char *s);

static inline bool io_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	if (a != 0 && b > UINT64_MAX / a)
		return false;
	*out = a * b;
	return true;
}

static inline uint64_t io_get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void io_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Read exactly n bytes from fd (retrying short reads and EINTR); returns the
 * bytes read, less than n only at end of file or on error (errno set). */
size_t io_read_full(int fd, void *dst, size_t n);

/* Writes "[1, 2, 3]" for a shape into buf (for messages). Returns buf. */
char *io_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);

/* ------------------------------------------------------------ safetensors */

typedef struct st_entry {
	dim_st_info info;
	uint64_t end; /* data_offsets[1] */
} st_entry;

struct dim_st_file {
	char *name;              /* path, for messages */
	unsigned char *data;     /* data section (malloc'd) */
	size_t data_size;
	st_entry *tensors;       /* sorted by name after validation */
	int count, cap;
	dim_st_meta *meta;       /* sorted by key after validation; strings owned */
	int meta_count, meta_cap;
	bool has_meta;
};

/* Parse header[0..n) into f's tensors and metadata (safetensors_header.c).
 * Per-entry checks only: syntax, known dtype, at most DIM_IO_MAX_DIMS dims,
 * required keys. DIM_ERR_FORMAT with the byte position on failure; whatever
 * was parsed stays in f for dim_st_close. */
dim_status st_scan_header(dim_error *err, const char *name, const unsigned char *header,
			  size_t n, dim_st_file *f);

/* ------------------------------------------------------------------- .npy */

/* '<f4' for F32 and so on; NULL for types .npy cannot hold (BF16, F8). */
const char *io_npy_descr(dim_dtype dt);

#endif
