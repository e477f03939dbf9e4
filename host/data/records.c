/* Fixed-size records spread over one or more files (CIFAR batches, STL-10
 * planes), read one record at a time with pread: nothing is loaded whole, so
 * the 2.7 GB STL-10 unlabeled file costs one file descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_internal.h"

dim_status dd_records_add(dd_records *r, const char *path, size_t rec_bytes, dim_error *err)
{
	dim_status st;
	struct stat sb;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		st = dim_fail(err, DIM_ERR_IO, "%s: not a regular file", path);
		goto out_close;
	}
	if (sb.st_size <= 0 || (unsigned long long)sb.st_size % rec_bytes) {
		st = dim_fail(err, DIM_ERR_FORMAT,
			      "%s: size %lld is not a positive multiple of the %zu-byte record "
			      "(wrong file or truncated)",
			      path, (long long)sb.st_size, rec_bytes);
		goto out_close;
	}
	dd_recfile *files = realloc(r->files, (size_t)(r->nfiles + 1) * sizeof *files);
	if (!files) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
		goto out_close;
	}
	r->files = files;
	dd_recfile *f = &files[r->nfiles];
	f->path = dd_strdup(path);
	if (!f->path) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
		goto out_close;
	}
	f->fd = fd;
	f->count = (size_t)((unsigned long long)sb.st_size / rec_bytes);
	r->rec_bytes = rec_bytes;
	r->count += f->count;
	r->nfiles++;
	return DIM_OK;
out_close:
	close(fd);
	return st;
}

static const dd_recfile *locate(const dd_records *r, size_t *i)
{
	for (int k = 0; k < r->nfiles; k++) {
		if (*i < r->files[k].count)
			return &r->files[k];
		*i -= r->files[k].count;
	}
	return NULL;
}

dim_status dd_records_read(const dd_records *r, size_t i, uint8_t *buf, dim_error *err)
{
	size_t j = i;
	const dd_recfile *f = locate(r, &j);
	if (!f)
		return dim_fail(err, DIM_ERR_ARG, "record %zu out of range (%zu records)", i,
				r->count);
	off_t off = (off_t)j * (off_t)r->rec_bytes;
	size_t got = 0;
	while (got < r->rec_bytes) {
		ssize_t n = pread(f->fd, buf + got, r->rec_bytes - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return dim_fail(err, DIM_ERR_IO, "%s: record %zu: read failed: %s", f->path,
					j, n < 0 ? strerror(errno) : "file shrank");
		got += (size_t)n;
	}
	return DIM_OK;
}

const char *dd_records_path(const dd_records *r, size_t i)
{
	const dd_recfile *f = locate(r, &i);
	return f ? f->path : NULL;
}

void dd_records_close(dd_records *r)
{
	for (int k = 0; k < r->nfiles; k++) {
		close(r->files[k].fd);
		free(r->files[k].path);
	}
	free(r->files);
	memset(r, 0, sizeof *r);
}
