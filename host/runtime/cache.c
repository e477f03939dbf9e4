/* On-disk cache of compiled program binaries.
 *
 * One file per program build, named <hash of key>.clbin:
 *
 *   [0, 8)    magic "CLDIMKC1"
 *   [8, 12)   u32 LE  key length K
 *   [12, 20)  u64 LE  binary length B
 *   [20, 24)  u32 LE  crc32 over key and binary
 *   [24, 24+K)        key text (exact; compared in full, so hash collisions
 *                     and stale entries are detected)
 *   [24+K, 24+K+B)    the program binary from CL_PROGRAM_BINARIES
 *
 * Anything that does not check out is a miss (and is overwritten by the next
 * store). Writes go to a temporary file that is renamed into place. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#define CACHE_MAGIC "CLDIMKC1"
#define CACHE_HDR 24
#define CACHE_EXT ".clbin"

void dim_cache_default_dir(char *buf, size_t n)
{
	const char *e = getenv("CLDIM_CACHE_DIR");
	if (e && *e) {
		snprintf(buf, n, "%s", e);
		return;
	}
	e = getenv("XDG_CACHE_HOME");
	if (e && *e) {
		snprintf(buf, n, "%s/cldim/kernels", e);
		return;
	}
	e = getenv("HOME");
	if (e && *e) {
		snprintf(buf, n, "%s/.cache/cldim/kernels", e);
		return;
	}
	buf[0] = '\0';
}

static void entry_path(char *buf, size_t n, const char *dir, const char *key)
{
	uint64_t h = dim_fnv1a(DIM_FNV_INIT, key, strlen(key));
	snprintf(buf, n, "%s/%016llx%s", dir, (unsigned long long)h, CACHE_EXT);
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int read_file(const char *path, unsigned char **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || st.st_size > ((off_t)1 << 31)) {
		fclose(f);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	unsigned char *buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != n) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*data = buf;
	*size = n;
	return 0;
}

unsigned char *dim_cache_load(const char *dir, const char *key, size_t *size, int *rejected)
{
	char path[1200];
	unsigned char *file = NULL;
	size_t fsize = 0;
	*rejected = 0;
	entry_path(path, sizeof path, dir, key);
	if (read_file(path, &file, &fsize) != 0)
		return NULL; /* plain miss */

	size_t klen = strlen(key);
	if (fsize < CACHE_HDR || memcmp(file, CACHE_MAGIC, 8) != 0)
		goto out_reject;
	uint64_t k = get_le(file + 8, 4), b = get_le(file + 12, 8);
	uint32_t crc = (uint32_t)get_le(file + 20, 4);
	if (k != klen || b == 0 || b > fsize || CACHE_HDR + k + b != fsize)
		goto out_reject;
	if (memcmp(file + CACHE_HDR, key, klen) != 0)
		goto out_reject; /* stale: another key hashed to the same name */
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, file + CACHE_HDR, (uInt)(k + b));
	if ((uint32_t)c != crc)
		goto out_reject;

	unsigned char *bin = malloc((size_t)b);
	if (!bin)
		goto out_free;
	memcpy(bin, file + CACHE_HDR + k, (size_t)b);
	free(file);
	*size = (size_t)b;
	return bin;

out_reject:
	*rejected = 1;
	dim_log(DIM_LOG_DEBUG, "kernel cache: %s is corrupt or stale; rebuilding", path);
out_free:
	free(file);
	return NULL;
}

void dim_cache_store(const char *dir, const char *key, const unsigned char *bin, size_t size)
{
	char path[1200], tmp[1300];
	if (dim_mkdir_p(dir) != 0) {
		dim_log(DIM_LOG_WARN, "kernel cache: cannot create %s: %s (caching disabled)", dir,
			strerror(errno));
		return;
	}
	entry_path(path, sizeof path, dir, key);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());

	size_t klen = strlen(key);
	unsigned char hdr[CACHE_HDR];
	memcpy(hdr, CACHE_MAGIC, 8);
	put_u32(hdr + 8, (uint32_t)klen);
	put_u64(hdr + 12, size);
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, (const Bytef *)key, (uInt)klen);
	c = crc32(c, bin, (uInt)size);
	put_u32(hdr + 20, (uint32_t)c);

	FILE *f = fopen(tmp, "wb");
	if (!f)
		goto out_warn;
	int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(key, 1, klen, f) == klen &&
		 fwrite(bin, 1, size, f) == size && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		unlink(tmp);
		goto out_warn;
	}
	return;
out_warn:
	dim_log(DIM_LOG_WARN, "kernel cache: cannot write %s: %s", path, strerror(errno));
}

static int is_entry(const char *name)
{
	size_t n = strlen(name), e = strlen(CACHE_EXT);
	return n > e && !strcmp(name + n - e, CACHE_EXT);
}

static int is_stray_tmp(const char *name)
{
	return strstr(name, CACHE_EXT ".tmp.") != NULL;
}

dim_status dim_cache_query(const char *dir, dim_cache_info *out, dim_error *err)
{
	memset(out, 0, sizeof *out);
	if (dir && *dir)
		snprintf(out->dir, sizeof out->dir, "%s", dir);
	else
		dim_cache_default_dir(out->dir, sizeof out->dir);
	if (!out->dir[0])
		return dim_fail(err, DIM_ERR_ARG,
				"no cache directory: set CLDIM_CACHE_DIR or HOME");
	DIR *d = opendir(out->dir);
	if (!d)
		return errno == ENOENT ? DIM_OK
				       : dim_fail(err, DIM_ERR_IO, "%s: %s", out->dir,
						  strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_entry(e->d_name))
			continue;
		char p[2048];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", out->dir, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			out->entries++;
			out->bytes += (unsigned long long)st.st_size;
		}
	}
	closedir(d);
	return DIM_OK;
}

dim_status dim_cache_clear(const char *dir, unsigned *removed, dim_error *err)
{
	dim_cache_info info;
	dim_status st = dim_cache_query(dir, &info, err);
	if (removed)
		*removed = 0;
	if (st)
		return st;
	DIR *d = opendir(info.dir);
	if (!d)
		return DIM_OK;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_entry(e->d_name) && !is_stray_tmp(e->d_name))
			continue;
		char p[2048];
		snprintf(p, sizeof p, "%s/%s", info.dir, e->d_name);
		if (unlink(p) == 0 && removed && is_entry(e->d_name))
			(*removed)++;
	}
	closedir(d);
	return DIM_OK;
}
