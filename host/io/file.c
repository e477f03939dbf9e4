/* Atomic file replacement and whole-file reads (see include/cldim/io.h).
 *
 *   open:   <path>.tmp.<pid>  (O_CREAT|O_TRUNC, mode of the old file if any)
 *   commit: ferror? -> fflush -> fsync -> fclose -> rename -> fsync(dir)
 *   abort:  fclose -> unlink(tmp)
 */
#include "io_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct dim_atomic_file {
	FILE *f;
	char *path;     /* final name */
	char *tmp_path; /* <path>.tmp.<pid> */
	int track;      /* dim_tmp_track slot */
};

/* The temporary files this process has open, for dim_tmp_remove_all from a
 * signal handler: a slot's name is written before it is marked used, and the
 * handler only reads marked slots and calls unlink (async-signal-safe). */
#define TMP_SLOTS 64
static char tmp_names[TMP_SLOTS][1200];
static volatile sig_atomic_t tmp_used[TMP_SLOTS];
static pthread_mutex_t tmp_lock = PTHREAD_MUTEX_INITIALIZER;

int dim_tmp_track(const char *path)
{
	int slot = -1;
	if (!path || strlen(path) >= sizeof tmp_names[0])
		return -1;
	pthread_mutex_lock(&tmp_lock);
	for (int i = 0; i < TMP_SLOTS && slot < 0; i++)
		if (!tmp_used[i]) {
			memcpy(tmp_names[i], path, strlen(path) + 1);
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			tmp_used[i] = 1;
			slot = i;
		}
	pthread_mutex_unlock(&tmp_lock);
	return slot;
}

void dim_tmp_untrack(int slot)
{
	if (slot >= 0 && slot < TMP_SLOTS)
		tmp_used[slot] = 0;
}

void dim_tmp_remove_all(void)
{
	for (int i = 0; i < TMP_SLOTS; i++)
		if (tmp_used[i])
			unlink(tmp_names[i]);
}

/* "<anything>.tmp.<digits>": the pid, or -1. */
static long tmp_pid(const char *name)
{
	const char *t = NULL;
	for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp."))
		t = p;
	if (!t || !t[5])
		return -1;
	char *end;
	long pid = strtol(t + 5, &end, 10);
	return *end || pid <= 0 || t[5] < '0' || t[5] > '9' ? -1 : pid;
}

int dim_tmp_clean_stale(const char *dir)
{
	int removed = 0;
	DIR *d = opendir(dir && *dir ? dir : ".");
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long pid = tmp_pid(e->d_name);
		if (pid < 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char p[2400];
		struct stat sb;
		snprintf(p, sizeof p, "%s/%s", dir && *dir ? dir : ".", e->d_name);
		if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(p) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

static char *str_dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

dim_status dim_atomic_open(dim_error *err, const char *path, dim_atomic_file **out)
{
	dim_status st;
	*out = NULL;
	if (!path || !*path)
		return dim_fail(err, DIM_ERR_ARG, "atomic write: empty file name");

	dim_atomic_file *af = calloc(1, sizeof *af);
	if (!af)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
	size_t n = strlen(path) + 32;
	af->path = str_dup(path);
	af->tmp_path = malloc(n);
	if (!af->path || !af->tmp_path) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
		goto out_free_af;
	}
	snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());

	mode_t mode = 0666;
	struct stat old;
	if (stat(path, &old) == 0 && S_ISREG(old.st_mode))
		mode = old.st_mode & 07777;
	af->track = dim_tmp_track(af->tmp_path); /* listed before it exists: no gap for a signal */
	int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		dim_tmp_untrack(af->track);
		st = dim_fail(err, DIM_ERR_IO, "%s: cannot create temporary file %s: %s", path,
			      af->tmp_path, strerror(errno));
		goto out_free_af;
	}
	af->f = fdopen(fd, "wb");
	if (!af->f) {
		st = dim_fail(err, DIM_ERR_IO, "%s: fdopen: %s", path, strerror(errno));
		goto out_close_fd;
	}
	*out = af;
	return DIM_OK;

out_close_fd:
	close(fd);
	unlink(af->tmp_path);
	dim_tmp_untrack(af->track);
out_free_af:
	free(af->tmp_path);
	free(af->path);
	free(af);
	return st;
}

FILE *dim_atomic_stream(dim_atomic_file *af)
{
	return af->f;
}

const char *dim_atomic_path(const dim_atomic_file *af)
{
	return af->path;
}

static void atomic_free(dim_atomic_file *af)
{
	dim_tmp_untrack(af->track);
	free(af->tmp_path);
	free(af->path);
	free(af);
}

void dim_atomic_abort(dim_atomic_file *af)
{
	if (!af)
		return;
	if (af->f)
		fclose(af->f);
	unlink(af->tmp_path);
	atomic_free(af);
}

/* fsync the directory holding path, so the rename itself is durable.
 * Filesystems that cannot sync directories answer EINVAL: not an error. */
static dim_status sync_parent_dir(dim_error *err, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	if (!slash)
		dir = str_dup(".");
	else if (slash == path)
		dir = str_dup("/");
	else {
		dir = str_dup(path);
		if (dir)
			dir[slash - path] = '\0';
	}
	if (!dir)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);

	dim_status st = DIM_OK;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		st = dim_fail(err, DIM_ERR_IO, "%s: written, but cannot open directory %s: %s",
			      path, dir, strerror(errno));
	} else {
		if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
			st = dim_fail(err, DIM_ERR_IO, "%s: written, but syncing directory %s failed: %s",
				      path, dir, strerror(errno));
		close(fd);
	}
	free(dir);
	return st;
}

dim_status dim_atomic_commit(dim_error *err, dim_atomic_file *af)
{
	dim_status st;
	if (!af)
		return dim_fail(err, DIM_ERR_ARG, "atomic write: no file");

	if (ferror(af->f)) {
		/* why: the failed fwrite's errno (ENOSPC, EFBIG...) when the caller
		 * commits right after it, else what flushing the rest says */
		int e = errno;
		if (!e) {
			fflush(af->f);
			e = errno;
		}
		st = dim_fail(err, DIM_ERR_IO, "%s: write failed: %s", af->path,
			      strerror(e ? e : EIO));
		goto out_abort;
	}
	if (fflush(af->f) != 0) {
		st = dim_fail(err, DIM_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
		goto out_abort;
	}
	if (fsync(fileno(af->f)) != 0) {
		st = dim_fail(err, DIM_ERR_IO, "%s: fsync failed: %s", af->path, strerror(errno));
		goto out_abort;
	}
	FILE *f = af->f;
	af->f = NULL;
	if (fclose(f) != 0) {
		st = dim_fail(err, DIM_ERR_IO, "%s: close failed: %s", af->path, strerror(errno));
		goto out_abort;
	}
	if (rename(af->tmp_path, af->path) != 0) {
		st = dim_fail(err, DIM_ERR_IO, "%s: cannot rename %s over it: %s", af->path,
			      af->tmp_path, strerror(errno));
		goto out_abort;
	}
	st = sync_parent_dir(err, af->path);
	atomic_free(af);
	return st;

out_abort:
	dim_atomic_abort(af);
	return st;
}

dim_status dim_write_file_atomic(dim_error *err, const char *path, const void *data,
				 size_t size)
{
	dim_atomic_file *af;
	dim_status st = dim_atomic_open(err, path, &af);
	if (st != DIM_OK)
		return st;
	if (size && fwrite(data, 1, size, af->f) != size) {
		st = dim_fail(err, DIM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
		dim_atomic_abort(af);
		return st;
	}
	return dim_atomic_commit(err, af);
}

size_t io_read_full(int fd, void *dst, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)dst + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

dim_status dim_read_file(dim_error *err, const char *path, void **data, size_t *size)
{
	dim_status st;
	*data = NULL;
	*size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

	struct stat sb;
	size_t cap = 4096, len = 0;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		if ((uint64_t)sb.st_size >= SIZE_MAX) {
			st = dim_fail(err, DIM_ERR_NOMEM, "%s: file too large", path);
			goto out_close;
		}
		cap = (size_t)sb.st_size + 1;
	}
	char *buf = malloc(cap);
	if (!buf) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, cap);
		goto out_close;
	}
	for (;;) {
		char probe;
		char *dst = buf + len;
		size_t want = cap - 1 - len;
		if (want == 0) { /* full: EOF, or the file grew / is not regular */
			dst = &probe;
			want = 1;
		}
		ssize_t r = read(fd, dst, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			st = dim_fail(err, DIM_ERR_IO, "%s: read failed: %s", path, strerror(errno));
			goto out_free_buf;
		}
		if (r == 0)
			break;
		if (dst == &probe) {
			char *p = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
			if (!p) {
				st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
				goto out_free_buf;
			}
			buf = p;
			cap *= 2;
			buf[len] = probe;
		}
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	*data = buf;
	*size = len;
	return DIM_OK;

out_free_buf:
	free(buf);
out_close:
	close(fd);
	return st;
}
