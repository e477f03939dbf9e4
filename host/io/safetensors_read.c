/* safetensors reader: load, validate, look up (format in include/cldim/io.h).
 *
 * Checks follow the reference implementation (0.4): header length, JSON
 * syntax (safetensors_header.c), known dtypes, unique names, byte sizes,
 * offsets contiguous from 0 that end exactly at the end of the file. */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER 100000000ull /* MAX_HEADER_SIZE in the reference */

/* --------------------------------------------------------------- validation */

static int cmp_entry_name(const void *a, const void *b)
{
	return strcmp(((const st_entry *)a)->info.name, ((const st_entry *)b)->info.name);
}

static int cmp_entry_offset(const void *a, const void *b)
{
	const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
	if (x->info.begin != y->info.begin)
		return x->info.begin < y->info.begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

static int cmp_meta(const void *a, const void *b)
{
	return strcmp(((const dim_st_meta *)a)->key, ((const dim_st_meta *)b)->key);
}

static dim_status check_sizes(dim_error *err, const dim_st_file *f)
{
	char sh[256];
	for (int i = 0; i < f->count; i++) {
		const st_entry *e = &f->tensors[i];
		const dim_st_info *t = &e->info;
		size_t nbytes;
		if (!dim_io_nbytes(t->dtype, t->ndim, t->shape, &nbytes))
			return dim_fail(err, DIM_ERR_FORMAT, "%s: tensor \"%s\": shape %s is too large",
					f->name, t->name, io_shape_str(sh, sizeof sh, t->ndim, t->shape));
		if (e->end < t->begin)
			return dim_fail(err, DIM_ERR_FORMAT,
					"%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
					f->name, t->name, (unsigned long long)t->begin,
					(unsigned long long)e->end);
		if (e->end - t->begin != nbytes)
			return dim_fail(err, DIM_ERR_FORMAT,
					"%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, but shape %s of %s needs %zu",
					f->name, t->name, (unsigned long long)t->begin,
					(unsigned long long)e->end,
					(unsigned long long)(e->end - t->begin),
					io_shape_str(sh, sizeof sh, t->ndim, t->shape),
					dim_dtype_name(t->dtype), nbytes);
	}
	return DIM_OK;
}

/* Sorted by offsets, tensors tile [0, data_size) exactly. */
static dim_status check_layout(dim_error *err, const dim_st_file *f)
{
	const st_entry **order = malloc(((size_t)f->count + 1) * sizeof *order);
	if (!order)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", f->name);
	for (int i = 0; i < f->count; i++)
		order[i] = &f->tensors[i];
	qsort(order, (size_t)f->count, sizeof *order, cmp_entry_offset);

	dim_status st = DIM_OK;
	uint64_t at = 0;
	const char *prev = NULL;
	for (int i = 0; i < f->count && st == DIM_OK; i++) {
		const st_entry *e = order[i];
		if (e->info.begin != at && prev)
			st = dim_fail(err, DIM_ERR_FORMAT,
				      "%s: tensor \"%s\" starts at data byte %llu, but tensor \"%s\" ends at %llu: %s",
				      f->name, e->info.name, (unsigned long long)e->info.begin, prev,
				      (unsigned long long)at,
				      e->info.begin < at ? "overlapping offsets" : "hole in the data");
		else if (e->info.begin != at)
			st = dim_fail(err, DIM_ERR_FORMAT,
				      "%s: tensor \"%s\" starts at data byte %llu, but the data starts at 0: hole in the data",
				      f->name, e->info.name, (unsigned long long)e->info.begin);
		at = e->end;
		prev = e->info.name;
	}
	if (st == DIM_OK && at != f->data_size)
		st = dim_fail(err, DIM_ERR_FORMAT,
			      "%s: tensors cover %llu data bytes, but the file holds %zu after the header (incomplete buffer)",
			      f->name, (unsigned long long)at, f->data_size);
	free(order);
	return st;
}

static dim_status check_unique(dim_error *err, dim_st_file *f)
{
	if (f->count) /* qsort(NULL, 0, ...) is undefined */
		qsort(f->tensors, (size_t)f->count, sizeof *f->tensors, cmp_entry_name);
	for (int i = 1; i < f->count; i++)
		if (!strcmp(f->tensors[i - 1].info.name, f->tensors[i].info.name))
			return dim_fail(err, DIM_ERR_FORMAT, "%s: duplicate tensor name \"%s\"",
					f->name, f->tensors[i].info.name);
	if (f->meta_count)
		qsort(f->meta, (size_t)f->meta_count, sizeof *f->meta, cmp_meta);
	for (int i = 1; i < f->meta_count; i++)
		if (!strcmp(f->meta[i - 1].key, f->meta[i].key))
			return dim_fail(err, DIM_ERR_FORMAT, "%s: duplicate metadata key \"%s\"",
					f->name, f->meta[i].key);
	return DIM_OK;
}

/* ------------------------------------------------------------------ loading */

/* Checks on the first 8 bytes of a file of `size` bytes; *n = header length. */
static dim_status check_prefix(dim_error *err, const char *name, const unsigned char *head,
			       uint64_t size, uint64_t *n)
{
	if (size < 8)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: not a safetensors file: %llu bytes, shorter than the 8-byte length prefix",
				name, (unsigned long long)size);
	*n = io_get_le64(head);
	if (*n > ST_MAX_HEADER)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: header length %llu exceeds the limit of %llu bytes (not a safetensors file?)",
				name, (unsigned long long)*n, ST_MAX_HEADER);
	if (8 + *n > size)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: header length %llu runs past the end of the file (%llu bytes): truncated?",
				name, (unsigned long long)*n, (unsigned long long)size);
	return DIM_OK;
}

/* Parse and validate a header; f gets entries and metadata but no data. */
static dim_status parse(dim_error *err, const char *name, const unsigned char *header,
			uint64_t n, uint64_t data_size, dim_st_file **out)
{
	dim_status st;
	*out = NULL;
	dim_st_file *f = calloc(1, sizeof *f);
	if (!f)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", name);
	size_t len = strlen(name) + 1;
	f->name = malloc(len);
	if (!f->name) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", name);
		goto out_close;
	}
	memcpy(f->name, name, len);
	if (data_size > SIZE_MAX) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: too large for this machine", name);
		goto out_close;
	}
	f->data_size = (size_t)data_size;

	st = st_scan_header(err, name, header, (size_t)n, f);
	if (st == DIM_OK)
		st = check_unique(err, f);
	if (st == DIM_OK)
		st = check_sizes(err, f);
	if (st == DIM_OK)
		st = check_layout(err, f);
	if (st != DIM_OK)
		goto out_close;
	*out = f;
	return DIM_OK;

out_close:
	dim_st_close(f);
	return st;
}

static dim_status attach_data(dim_error *err, dim_st_file *f)
{
	f->data = malloc(f->data_size ? f->data_size : 1);
	if (!f->data)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory for %zu data bytes",
				f->name, f->data_size);
	for (int i = 0; i < f->count; i++) {
		dim_st_info *t = &f->tensors[i].info;
		t->data = f->data + t->begin;
		t->nbytes = (size_t)(f->tensors[i].end - t->begin);
	}
	return DIM_OK;
}

dim_status dim_st_load_mem(dim_error *err, const char *name, const void *bytes, size_t size,
			   dim_st_file **out)
{
	const unsigned char *b = bytes;
	uint64_t n;
	*out = NULL;
	if (!name)
		name = "(memory)";
	dim_status st = check_prefix(err, name, b, size, &n);
	if (st == DIM_OK)
		st = parse(err, name, b + 8, n, size - 8 - n, out);
	if (st == DIM_OK)
		st = attach_data(err, *out);
	if (st != DIM_OK) {
		dim_st_close(*out);
		*out = NULL;
		return st;
	}
	memcpy((*out)->data, b + 8 + n, (*out)->data_size);
	return DIM_OK;
}

/* Reads the header first, so a malformed file costs no data allocation. */
dim_status dim_st_load(dim_error *err, const char *path, dim_st_file **out)
{
	dim_status st;
	struct stat sb;
	unsigned char head[8];
	unsigned char *header = NULL;
	uint64_t n;
	*out = NULL;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		st = dim_fail(err, DIM_ERR_IO, "%s: not a regular file", path);
		goto out_close_fd;
	}
	uint64_t size = (uint64_t)sb.st_size;
	size_t got = io_read_full(fd, head, size < 8 ? (size_t)size : 8);
	st = check_prefix(err, path, head, got < 8 ? got : size, &n);
	if (st != DIM_OK)
		goto out_close_fd;
	header = malloc(n ? n : 1);
	if (!header) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory for the header", path);
		goto out_close_fd;
	}
	if (io_read_full(fd, header, n) != n) {
		st = dim_fail(err, DIM_ERR_IO, "%s: short read in the header", path);
		goto out_free_header;
	}
	st = parse(err, path, header, n, size - 8 - n, out);
	if (st == DIM_OK)
		st = attach_data(err, *out);
	if (st == DIM_OK && io_read_full(fd, (*out)->data, (*out)->data_size) != (*out)->data_size)
		st = dim_fail(err, DIM_ERR_IO, "%s: short read in the data (file changed?)", path);
	if (st != DIM_OK) {
		dim_st_close(*out);
		*out = NULL;
	}
out_free_header:
	free(header);
out_close_fd:
	close(fd);
	return st;
}

void dim_st_close(dim_st_file *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->count; i++)
		free((char *)f->tensors[i].info.name);
	for (int i = 0; i < f->meta_count; i++) {
		free((char *)f->meta[i].key);
		free((char *)f->meta[i].value);
	}
	free(f->tensors);
	free(f->meta);
	free(f->data);
	free(f->name);
	free(f);
}

/* ------------------------------------------------------------------ lookup */

int dim_st_count(const dim_st_file *f)
{
	return f->count;
}

const dim_st_info *dim_st_at(const dim_st_file *f, int i)
{
	return i >= 0 && i < f->count ? &f->tensors[i].info : NULL;
}

const dim_st_info *dim_st_find(const dim_st_file *f, const char *name)
{
	int lo = 0, hi = f->count - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(name, f->tensors[mid].info.name);
		if (c == 0)
			return &f->tensors[mid].info;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

dim_status dim_st_expect(dim_error *err, const dim_st_file *f, const char *name,
			 dim_dtype dtype, int ndim, const int64_t *shape,
			 const dim_st_info **out)
{
	char want[256], got[256];
	const dim_st_info *t = dim_st_find(f, name);
	if (out)
		*out = NULL;
	if (!t)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: no tensor \"%s\"", f->name, name);
	if (t->dtype != dtype)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: tensor \"%s\" is %s, expected %s", f->name,
				name, dim_dtype_name(t->dtype), dim_dtype_name(dtype));
	bool same = t->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: tensor \"%s\" has shape %s, expected %s",
				f->name, name, io_shape_str(got, sizeof got, t->ndim, t->shape),
				io_shape_str(want, sizeof want, ndim, shape));
	if (out)
		*out = t;
	return DIM_OK;
}

int dim_st_meta_count(const dim_st_file *f)
{
	return f->meta_count;
}

const dim_st_meta *dim_st_meta_at(const dim_st_file *f, int i)
{
	return i >= 0 && i < f->meta_count ? &f->meta[i] : NULL;
}

const char *dim_st_meta_get(const dim_st_file *f, const char *key)
{
	for (int i = 0; i < f->meta_count; i++)
		if (!strcmp(f->meta[i].key, key))
			return f->meta[i].value;
	return NULL;
}
