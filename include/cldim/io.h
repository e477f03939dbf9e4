/* cldim — layer 7: file formats.
 *
 *   atomic files  write to "<path>.tmp.<pid>", fsync, rename over <path>,
 *                 fsync the directory: a reader sees the old file or the new
 *                 one, never half of one.
 *   safetensors   checkpoints and exported weights (PyTorch names, OIHW,
 *                 row-major, little-endian).
 *   .npy          feature export (v1.0, C order), whole-array or streamed
 *                 in batches; reading back for probes.
 *   JSON / CSV    tiny streaming writers for --json output, metrics JSONL and
 *                 benchmark tables.
 *
 * Errors: every function that can fail takes the caller's dim_error as its
 * FIRST argument (see cldim/status.h) and returns a dim_status; the message
 * always names the file and the problem. Nothing here exits or aborts on bad
 * input. Outputs come last. Shapes are int64_t, at most DIM_IO_MAX_DIMS.
 *
 * Byte order: files are little-endian and data pointers are raw host memory,
 * so the library only builds on little-endian hosts (checked at compile time). */
#ifndef CLDIM_IO_H
#define CLDIM_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cldim/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DIM_IO_MAX_DIMS 8

/* ------------------------------------------------------------------ dtypes */

/* Element types. Names are safetensors' ("F32", "I64", ...). */
typedef enum dim_dtype {
	DIM_DT_INVALID = 0,
	DIM_DT_BOOL, DIM_DT_U8, DIM_DT_I8, DIM_DT_F8_E5M2, DIM_DT_F8_E4M3,
	DIM_DT_I16, DIM_DT_U16, DIM_DT_F16, DIM_DT_BF16,
	DIM_DT_I32, DIM_DT_U32, DIM_DT_F32,
	DIM_DT_I64, DIM_DT_U64, DIM_DT_F64,
	DIM_DT_COUNT
} dim_dtype;

/* "F32"; "?" for an invalid value. */
const char *dim_dtype_name(dim_dtype dt);
/* Bytes per element; 0 for an invalid value. */
size_t dim_dtype_size(dim_dtype dt);
/* Exact, case-sensitive match of the first len bytes of name; DIM_DT_INVALID
 * when it is not one of the names above. */
dim_dtype dim_dtype_from_name(const char *name, size_t len);

/* Elements in a shape (1 for ndim 0), and that times the element size, with
 * overflow checks: false when the product does not fit in size_t, when a
 * dimension is negative, or when ndim is out of range. */
bool dim_io_numel(int ndim, const int64_t *shape, size_t *numel);
bool dim_io_nbytes(dim_dtype dt, int ndim, const int64_t *shape, size_t *nbytes);

/* ------------------------------------------------------------ atomic files */

typedef struct dim_atomic_file dim_atomic_file;

/* Create "<path>.tmp.<pid>" for writing (keeping the mode of an existing
 * path). Write through dim_atomic_stream(), then either commit (the temp file
 * replaces path) or abort (the temp file is removed). Until commit, path
 * itself is never touched. Two writers of one path in one process must not
 * overlap (they would share the temp name). */
dim_status dim_atomic_open(dim_error *err, const char *path, dim_atomic_file **out);
FILE *dim_atomic_stream(dim_atomic_file *af);
const char *dim_atomic_path(const dim_atomic_file *af); /* the final path */

/* Check the stream for earlier write errors, fflush, fsync, close, rename over
 * the final path, fsync the directory. Always frees af. On a failure before
 * the rename the temp file is removed and the old file is untouched; a failure
 * to sync the directory after the rename is reported, with the new file in
 * place. */
dim_status dim_atomic_commit(dim_error *err, dim_atomic_file *af);
/* Close and remove the temp file, free af. NULL is a no-op. */
void dim_atomic_abort(dim_atomic_file *af);

/* Temporary files. Every temporary file cldim writes is named
 * "<path>.tmp.<pid>" and is listed while open (dim_tmp_track; the atomic
 * writers do it themselves). dim_tmp_remove_all unlinks every listed one; it is
 * async-signal-safe, for a SIGINT/SIGTERM handler that then exits.
 * dim_tmp_clean_stale removes the "*.tmp.<pid>" files in dir whose process no
 * longer exists on this host (left by a kill); returns how many. Writers on
 * other hosts sharing the directory are not seen: do not share a run directory
 * between hosts. */
int dim_tmp_track(const char *tmp_path);  /* slot, or -1 when the list is full */
void dim_tmp_untrack(int slot);           /* -1 is a no-op */
void dim_tmp_remove_all(void);
int dim_tmp_clean_stale(const char *dir);

/* Whole buffer to path, atomically. */
dim_status dim_write_file_atomic(dim_error *err, const char *path, const void *data,
				 size_t size);

/* Whole file into a malloc'd buffer (one spare NUL byte after the data, not
 * counted in *size); free() it. */
dim_status dim_read_file(dim_error *err, const char *path, void **data, size_t *size);

/* ------------------------------------------------------------- safetensors
 *
 *   [0, 8)       u64 LE  N = header length
 *   [8, 8+N)     JSON {"__metadata__":{"k":"v",...},
 *                      "name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},...}
 *                space-padded so that N % 8 == 0 (our writer)
 *   [8+N, EOF)   data; offsets are relative to 8+N, end exclusive
 */

/* One tensor to write. data holds prod(shape) * dim_dtype_size(dtype) bytes,
 * little-endian, row-major ("C" order), no strides. ndim 0 is a scalar. */
typedef struct dim_st_tensor {
	const char *name;
	dim_dtype dtype;
	int ndim;
	const int64_t *shape;
	const void *data;
} dim_st_tensor;

/* A "__metadata__" entry. Values are strings by the format's rules: store
 * numbers as decimal text and a config as one JSON-encoded string. */
typedef struct dim_st_meta {
	const char *key;
	const char *value;
} dim_st_meta;

/* Write tensors and metadata to path, atomically. Tensors are stored the way
 * the reference writer stores them: by element size (largest first), then by
 * name; metadata keys sorted. Names must be valid UTF-8, unique, and not
 * "__metadata__". Errors: DIM_ERR_ARG for bad input, DIM_ERR_IO, NOMEM. */
dim_status dim_st_write(dim_error *err, const char *path, const dim_st_tensor *tensors,
			int count, const dim_st_meta *meta, int meta_count);

/* A loaded file. The data section is held in one malloc'd block, so a tensor's
 * data is aligned to its element size whenever its begin offset is a multiple
 * of that size (always true for files from the reference writer and ours). */
typedef struct dim_st_file dim_st_file;

typedef struct dim_st_info {
	const char *name;
	dim_dtype dtype;
	int ndim;
	int64_t shape[DIM_IO_MAX_DIMS];
	const void *data;   /* valid until dim_st_close */
	size_t nbytes;
	uint64_t begin;     /* data_offsets[0], relative to the data section */
} dim_st_info;

/* Load and validate path: header length <= 100,000,000 and 8+N <= file size;
 * the header is one flat JSON object (UTF-8, escapes decoded); known dtypes
 * only; shape x dtype == end - begin (overflow-checked); offsets contiguous
 * from 0 with no holes or overlaps and ending exactly at the end of the file;
 * no duplicate names or metadata keys; metadata values are strings.
 * DIM_ERR_FORMAT for a malformed file, DIM_ERR_IO when it cannot be read. */
dim_status dim_st_load(dim_error *err, const char *path, dim_st_file **out);
/* The same checks on bytes in memory (copied); name is used in messages. */
dim_status dim_st_load_mem(dim_error *err, const char *name, const void *bytes, size_t size,
			   dim_st_file **out);
void dim_st_close(dim_st_file *f); /* NULL is a no-op */

/* Tensors sorted by name: index 0..count-1. */
int dim_st_count(const dim_st_file *f);
const dim_st_info *dim_st_at(const dim_st_file *f, int i);
/* NULL when absent. */
const dim_st_info *dim_st_find(const dim_st_file *f, const char *name);
/* Find name and check its dtype and shape; messages name the file, the tensor,
 * and both shapes. DIM_ERR_FORMAT when missing or different. */
dim_status dim_st_expect(dim_error *err, const dim_st_file *f, const char *name,
			 dim_dtype dtype, int ndim, const int64_t *shape,
			 const dim_st_info **out);

/* Metadata sorted by key; value NULL when absent. */
int dim_st_meta_count(const dim_st_file *f);
const dim_st_meta *dim_st_meta_at(const dim_st_file *f, int i);
const char *dim_st_meta_get(const dim_st_file *f, const char *key);

/* -------------------------------------------------------------------- .npy
 *
 *   "\x93NUMPY" 01 00  u16 LE HEADER_LEN
 *   "{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }" + spaces + "\n"
 *   data, C order, starting at a multiple of 64
 *
 * Headers are byte-identical to numpy >= 1.23's np.save, which leaves room for
 * shape[0] to grow to 21 digits; the streaming writer uses that room to patch
 * the row count at close. Writer dtypes: F32 '<f4', F64 '<f8', I64 '<i8',
 * U8 '|u1' (also I8 I16 I32 U16 U32 U64 F16 BOOL). */

/* A whole array to path, atomically. */
dim_status dim_npy_write(dim_error *err, const char *path, dim_dtype dtype, int ndim,
			 const int64_t *shape, const void *data);

/* Streaming writer: rows of prod(shape[1..]) elements are appended in
 * batches, so memory does not grow with the row count. shape[0] is either the
 * final row count (checked at close) or DIM_NPY_ROWS_UNKNOWN (whatever was
 * appended). The file is written atomically: nothing appears at path until
 * close succeeds. After any error, close (which then removes the temp file and
 * returns the error) or abort. ndim >= 1. */
#define DIM_NPY_ROWS_UNKNOWN (-1)
typedef struct dim_npy_writer dim_npy_writer;

dim_status dim_npy_writer_open(dim_error *err, const char *path, dim_dtype dtype, int ndim,
			       const int64_t *shape, dim_npy_writer **out);
dim_status dim_npy_writer_append(dim_error *err, dim_npy_writer *w, const void *rows,
				 int64_t nrows);
int64_t dim_npy_writer_rows(const dim_npy_writer *w);
/* Patch the row count into the header and commit. Always frees w. */
dim_status dim_npy_writer_close(dim_error *err, dim_npy_writer *w);
void dim_npy_writer_abort(dim_npy_writer *w); /* NULL is a no-op */

/* A loaded array, always C order (fortran_order True is transposed on load). */
typedef struct dim_npy_array {
	dim_dtype dtype;
	int ndim;
	int64_t shape[DIM_IO_MAX_DIMS];
	void *data;        /* malloc'd, max-aligned */
	size_t nbytes;
} dim_npy_array;

/* Read versions 1.0-3.0 with little-endian '<f4' '<f8' '<f2' '<i8' '<i4'
 * '<i2' '<u8' '<u4' '<u2' '|u1' '|i1' '|b1'. Rejected with a message:
 * big-endian ('>f4'), object/pickled ('|O'), structured or unknown descr,
 * headers over 10000 bytes, keys other than exactly {descr, fortran_order,
 * shape}, truncated data or trailing bytes. */
dim_status dim_npy_read(dim_error *err, const char *path, dim_npy_array *out);
dim_status dim_npy_read_mem(dim_error *err, const char *name, const void *bytes, size_t size,
			    dim_npy_array *out);
void dim_npy_array_free(dim_npy_array *a); /* frees data, zeroes *a */

/* -------------------------------------------------------------------- JSON
 *
 * Streaming writer over a FILE*. Call order follows the document:
 *
 *   dim_json j;  dim_json_init(&j, stdout, 2);
 *   dim_json_begin_object(&j);
 *     dim_json_key(&j, "loss"); dim_json_number(&j, 0.25);
 *     dim_json_key(&j, "dims"); dim_json_begin_array(&j);
 *       dim_json_int(&j, 64); dim_json_end_array(&j);
 *   dim_json_end_object(&j);
 *   st = dim_json_finish(err, &j, "stdout");
 *
 * indent 0 writes one line (for JSONL: write "\n" after finish). Strings are
 * escaped; invalid UTF-8 becomes U+FFFD. Non-finite numbers are written as
 * null. Numbers use the shortest text that reads back to the same value, in
 * the C locale's format (the library never calls setlocale). Misuse (a value
 * where a key is due, unbalanced ends, nesting past DIM_JSON_MAX_DEPTH) does not
 * crash: the writer stops writing and finish reports it. */
#define DIM_JSON_MAX_DEPTH 32

typedef struct dim_json {
	FILE *f;
	int indent;
	int depth;
	bool need_key;                            /* inside an object, key is due */
	bool empty[DIM_JSON_MAX_DEPTH];           /* no item yet at this level */
	char kind[DIM_JSON_MAX_DEPTH];            /* '{' or '[' */
	bool done;                                /* a complete top-level value */
	const char *misuse;                       /* first misuse, or NULL */
} dim_json;

void dim_json_init(dim_json *j, FILE *f, int indent);
void dim_json_begin_object(dim_json *j);
void dim_json_end_object(dim_json *j);
void dim_json_begin_array(dim_json *j);
void dim_json_end_array(dim_json *j);
void dim_json_key(dim_json *j, const char *key);
void dim_json_string(dim_json *j, const char *s);          /* NULL writes null */
void dim_json_string_n(dim_json *j, const char *s, size_t n);
void dim_json_number(dim_json *j, double v);
void dim_json_float(dim_json *j, float v);  /* shortest text for the float */
void dim_json_int(dim_json *j, int64_t v);
void dim_json_uint(dim_json *j, uint64_t v);
void dim_json_bool(dim_json *j, bool v);
void dim_json_null(dim_json *j);
/* key + value in one call */
void dim_json_kv_string(dim_json *j, const char *key, const char *s);
void dim_json_kv_number(dim_json *j, const char *key, double v);
void dim_json_kv_int(dim_json *j, const char *key, int64_t v);
void dim_json_kv_bool(dim_json *j, const char *key, bool v);
/* DIM_ERR_ARG on misuse or an unfinished document, DIM_ERR_IO when the stream
 * has an error (checked with ferror, after fflush). what names the output. */
dim_status dim_json_finish(dim_error *err, dim_json *j, const char *what);

/* Shortest decimal text that strtod reads back to v ("0.1", "1e+20"); "null"
 * for NaN/Inf. buf needs 32 bytes. Returns buf. */
char *dim_json_format_double(char buf[32], double v);
char *dim_json_format_float(char buf[32], float v);

/* --------------------------------------------------------------------- CSV */

/* One RFC 4180 field: quoted (with "" for ") when it holds , " CR LF or
 * starts/ends with a space; as-is otherwise. NULL writes nothing. */
void dim_csv_field(FILE *f, const char *s);
/* n fields separated by ',' and ended by "\n". */
void dim_csv_row(FILE *f, const char *const *fields, int n);

#ifdef __cplusplus
}
#endif
#endif
