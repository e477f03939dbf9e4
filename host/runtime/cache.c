/* On-disk cache of compiled program binaries.
 *
 * One file per program build, named <hash of key>.clbin:
 *
 *   [0, 8)    magic "CLDIMKC2"
 *   [8, 12)   u32 LE  key length K
 *   [12, 20)  u64 LE  binary length B
 *   [20, 28)  u64 LE  SipHash-2-4 tag over key and binary, keyed with the
 *                     cache directory's secret (see below)
 *   [28, 28+K)        key text (exact; compared in full, so hash collisions
 *                     and stale entries are detected)
 *   [28+K, 28+K+B)    the program binary from CL_PROGRAM_BINARIES
 *
 * A binary goes to the OpenCL driver, which trusts it (a crafted one crashed
 * PoCL inside clBuildProgram, issue 16): a CRC anyone can recompute is not
 * enough. The directory holds "secret", 16 random bytes created with mode
 * 0600 on first use; an entry whose tag does not verify under it (crafted,
 * damaged, or copied from another cache directory) is a miss and is rebuilt.
 * A secret that is not a private regular file of this user disables loading
 * (entries are still rebuilt in memory, never trusted). Writes go to a
 * temporary file that is renamed into place. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cldim/io.h"
#include "internal.h"

#define CACHE_MAGIC "CLDIMKC2"
#define CACHE_HDR 28
#define CACHE_EXT ".clbin"
#define SECRET_NAME "secret"

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

/* SipHash-2-4 (Aumasson & Bernstein, 2012), 128-bit key, 64-bit tag, over the
 * concatenation of two byte strings. Written from the paper's description. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
	uint64_t v0, v1, v2, v3;
	unsigned char tail[8];
	size_t ntail, total;
};

static void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = ROTL(s->v2, 32);
}

static void sip_block(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

static void sip_init(struct sip *s, const unsigned char key[16])
{
	uint64_t k0 = get_le(key, 8), k1 = get_le(key + 8, 8);
	s->v0 = k0 ^ 0x736f6d6570736575ull;
	s->v1 = k1 ^ 0x646f72616e646f6dull;
	s->v2 = k0 ^ 0x6c7967656e657261ull;
	s->v3 = k1 ^ 0x7465646279746573ull;
	s->ntail = s->total = 0;
}

static void sip_update(struct sip *s, const unsigned char *p, size_t n)
{
	s->total += n;
	while (n) {
		s->tail[s->ntail++] = *p++;
		n--;
		if (s->ntail == 8) {
			sip_block(s, get_le(s->tail, 8));
			s->ntail = 0;
		}
		while (!s->ntail && n >= 8) {
			sip_block(s, get_le(p, 8));
			p += 8;
			n -= 8;
		}
	}
}

static uint64_t sip_final(struct sip *s)
{
	uint64_t b = (uint64_t)(s->total & 0xff) << 56;
	for (size_t i = 0; i < s->ntail; i++)
		b |= (uint64_t)s->tail[i] << (8 * i);
	sip_block(s, b);
	s->v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t dim_siphash24(const unsigned char key[16], const void *a, size_t na, const void *b,
		       size_t nb)
{
	struct sip s;
	sip_init(&s, key);
	sip_update(&s, a, na);
	sip_update(&s, b, nb);
	return sip_final(&s);
}

/* The directory's secret: read it, or create it when `create` and absent.
 * 0 on success; -1 when there is none or it cannot be trusted. */
static int cache_secret(const char *dir, unsigned char key[16], int create)
{
	char path[1200], tmp[1300];
	snprintf(path, sizeof path, "%s/" SECRET_NAME, dir);
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			struct stat st;
			int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
				 !(st.st_mode & 077) && st.st_size == 16 &&
				 read(fd, key, 16) == 16;
			close(fd);
			static int warned; /* once per process, not per kernel */
			if (!ok && !warned++)
				dim_log(DIM_LOG_WARN, "kernel cache: %s is not a private 16-byte file of "
					"this user; cached kernels are not loaded (delete it to start over)",
					path);
			return ok ? 0 : -1;
		}
		if (errno != ENOENT || !create)
			return -1;
		/* create it under a temporary name, then link: one creator wins */
		unsigned char rnd[16];
		int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		int got = rfd >= 0 && read(rfd, rnd, 16) == 16;
		if (rfd >= 0)
			close(rfd);
		if (!got)
			return -1;
		snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
		int slot = dim_tmp_track(tmp);
		int wfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		int wrote = wfd >= 0 && write(wfd, rnd, 16) == 16 && fsync(wfd) == 0;
		if (wfd >= 0)
			close(wfd);
		if (wrote && link(tmp, path) != 0 && errno != EEXIST)
			wrote = 0;
		unlink(tmp);
		dim_tmp_untrack(slot);
		if (!wrote)
			return -1;
	}
	return -1;
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
	uint64_t k = get_le(file + 8, 4), b = get_le(file + 12, 8), tag = get_le(file + 20, 8);
	if (k != klen || b == 0 || b > fsize || CACHE_HDR + k + b != fsize)
		goto out_reject;
	if (memcmp(file + CACHE_HDR, key, klen) != 0)
		goto out_reject; /* stale: another key hashed to the same name */
	unsigned char secret[16];
	if (cache_secret(dir, secret, 0) != 0 ||
	    dim_siphash24(secret, file + CACHE_HDR, (size_t)k, file + CACHE_HDR + k, (size_t)b) !=
		    tag)
		goto out_reject; /* crafted, damaged, or from another cache directory */

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

/* One warning per process: every kernel of a run would repeat it. */
static void warn_once(const char *fmt, const char *a, const char *b)
{
	static int warned;
	if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		return;
	dim_log(DIM_LOG_WARN, fmt, a, b);
}

void dim_cache_store(const char *dir, const char *key, const unsigned char *bin, size_t size)
{
	char path[1200], tmp[1300];
	if (dim_mkdir_p(dir) != 0) {
		warn_once("kernel cache: cannot create %s: %s (kernels are not cached)", dir,
			  strerror(errno));
		return;
	}
	entry_path(path, sizeof path, dir, key);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());

	unsigned char secret[16];
	if (cache_secret(dir, secret, 1) != 0)
		return; /* no trusted secret: nothing is stored (or loaded) */
	size_t klen = strlen(key);
	unsigned char hdr[CACHE_HDR];
	memcpy(hdr, CACHE_MAGIC, 8);
	put_u32(hdr + 8, (uint32_t)klen);
	put_u64(hdr + 12, size);
	put_u64(hdr + 20, dim_siphash24(secret, key, klen, bin, size));

	static int cleaned; /* once per process: temporaries of killed processes */
	if (!cleaned++)
		dim_tmp_clean_stale(dir);
	int slot = dim_tmp_track(tmp);
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		dim_tmp_untrack(slot);
		goto out_warn;
	}
	int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(key, 1, klen, f) == klen &&
		 fwrite(bin, 1, size, f) == size && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		unlink(tmp);
		dim_tmp_untrack(slot);
		goto out_warn;
	}
	dim_tmp_untrack(slot);
	return;
out_warn:
	warn_once("kernel cache: cannot write %s: %s (kernels are not cached; this is said "
		  "once)", path, strerror(errno));
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
	if (!dir || !*dir)
		return dim_fail(err, DIM_ERR_ARG,
				"no cache directory: set CLDIM_CACHE_DIR or HOME");
	snprintf(out->dir, sizeof out->dir, "%s", dir);
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
