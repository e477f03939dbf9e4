/* cldim-test: labels=opencl timeout=180 */
/* On-disk kernel cache: miss then hit, a second *process* builds nothing,
 * changed options miss, corrupt / truncated / stale entries are misses that
 * get rebuilt (never failures), --no-cache writes nothing, query and clear.
 * Entries are tagged with SipHash-2-4 under the directory's secret (issue 16
 * item 9): an entry with a recomputed CRC (the old format), one tagged under
 * another key, one copied from another cache directory, and any entry while
 * the secret is readable by others are refused before the driver sees them. */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "testutil.h"

static dim_ctx *ctx_in(const char *dir, bool no_cache)
{
	dim_ctx *ctx = NULL;
	dim_error err = {0};
	dim_ctx_options opt;
	if (!dim_ctx_options_from_env(&opt, &err)) {
		snprintf(opt.cache_dir, sizeof opt.cache_dir, "%s", dir);
		opt.no_cache |= no_cache;
	}
	if (err.status || dim_ctx_create(&ctx, &opt, &err)) {
		fprintf(stderr, "context: %s\n", dim_error_text(&err));
		exit(err.status == DIM_ERR_NO_PLATFORM ? 77 : 1);
	}
	return ctx;
}

/* Build util.cl with options, run it once, return the context's stats. */
static dim_ctx_stats use_kernel(const char *dir, const char *opts, bool no_cache)
{
	dim_ctx *ctx = ctx_in(dir, no_cache);
	dim_kernel *k;
	float x[5] = {1, 2, 3, 4, 5}, y[5] = {1, 1, 1, 1, 1};
	CHECK_OK(ctx, dim_kernel_get(ctx, "util", opts, "util_axpy", &k));
	dim_buf bx = t_upload(ctx, x, 5), by = t_upload(ctx, y, 5);
	CHECK_OK(ctx, DIM_LAUNCH_1D(ctx, k, 5, DIM_INT(5), DIM_FLOAT(3.0f), DIM_BUF(bx),
				    DIM_BUF(by)));
	float *r = t_download(ctx, by, 5);
	for (int i = 0; i < 5; i++)
		CHECK(r[i] == 3.0f * x[i] + 1.0f);
	free(r);
	dim_buf_release(&bx);
	dim_buf_release(&by);
	dim_ctx_stats s = dim_ctx_get_stats(ctx);
	dim_ctx_destroy(ctx);
	return s;
}

static unsigned entries(const char *dir)
{
	dim_cache_info info;
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_cache_query(dir, &info, &err));
	return info.entries;
}

/* Path of the only entry in dir (or the first one). */
static int first_entry(const char *dir, char *path, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, ".clbin") && !strstr(e->d_name, ".tmp")) {
			snprintf(path, n, "%s/%s", dir, e->d_name);
			found = 1;
			break;
		}
	if (d)
		closedir(d);
	return found;
}

static void corrupt(const char *path, long where, int truncate_to)
{
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	if (truncate_to >= 0) {
		fclose(f);
		CHECK(truncate(path, truncate_to) == 0);
		return;
	}
	long at = where < 0 ? size + where : where;
	fseek(f, at, SEEK_SET);
	int c = fgetc(f);
	fseek(f, at, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(1 << 24);
	*n = f && buf ? fread(buf, 1, 1 << 24, f) : 0;
	if (f)
		fclose(f);
	return buf;
}

/* Entries the cache did not write under its own secret are never loaded. */
static void test_forged(const char *dir)
{
	/* SipHash-2-4 reference vector: key 00..0f, message 00..0e */
	unsigned char key[16], msg[15];
	for (int i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	CHECK(dim_siphash24(key, msg, 15, NULL, 0) == 0xa129ca6149be45e5ull);
	CHECK(dim_siphash24(key, msg, 7, msg + 7, 8) == 0xa129ca6149be45e5ull);

	char sub[1200], path[2048];
	snprintf(sub, sizeof sub, "%s/forged", dir);
	dim_ctx_stats s = use_kernel(sub, NULL, false);
	CHECK(s.programs_built == 1 && first_entry(sub, path, sizeof path));
	size_t n;
	unsigned char *good = slurp(path, &n), *e = malloc(n + 8);
	uint64_t k = good[8] | (uint64_t)good[9] << 8 | (uint64_t)good[10] << 16, b = n - 28 - k;
	const unsigned char *text = good + 28, *bin = good + 28 + k;

	/* the old format: magic KC1, a CRC32 over key and binary */
	memcpy(e, "CLDIMKC1", 8);
	put_le(e + 8, k, 4);
	put_le(e + 12, b, 8);
	memcpy(e + 24, text, k + b);
	put_le(e + 20, crc32_of(e + 24, k + b), 4);
	CHECK(t_write_file(path, e, n - 4) == 0);
	s = use_kernel(sub, NULL, false);
	CHECK_MSG(s.programs_cached == 0 && s.programs_built == 1 && s.cache_rejected >= 1,
		  "a CRC-only entry: cached %u built %u", s.programs_cached, s.programs_built);

	/* the new format tagged under another key */
	memcpy(e, good, n);
	put_le(e + 20, dim_siphash24(key, text, k, bin, b), 8);
	CHECK(t_write_file(path, e, n) == 0);
	s = use_kernel(sub, NULL, false);
	CHECK_MSG(s.programs_cached == 0 && s.cache_rejected >= 1, "another key: cached %u",
		  s.programs_cached);

	/* an entry from another cache directory (another secret) */
	char other[1300], opath[2048];
	snprintf(other, sizeof other, "%s/forged-other", dir);
	use_kernel(other, NULL, false);
	CHECK(first_entry(other, opath, sizeof opath));
	size_t on;
	unsigned char *foreign = slurp(opath, &on);
	CHECK(t_write_file(path, foreign, on) == 0);
	s = use_kernel(sub, NULL, false);
	CHECK_MSG(s.programs_cached == 0 && s.cache_rejected >= 1, "foreign entry: cached %u",
		  s.programs_cached);
	s = use_kernel(sub, NULL, false); /* rebuilt and stored under this secret */
	CHECK(s.programs_cached == 1 && s.programs_built == 0);

	/* a secret others can read is not trusted */
	char secret[1300];
	snprintf(secret, sizeof secret, "%s/secret", sub);
	CHECK(chmod(secret, 0644) == 0);
	s = use_kernel(sub, NULL, false);
	CHECK_MSG(s.programs_cached == 0 && s.programs_built == 1,
		  "world-readable secret: cached %u", s.programs_cached);
	free(good);
	free(foreign);
	free(e);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--child")) {
		/* second process: must load from the cache and build nothing */
		dim_ctx_stats s = use_kernel(argv[2], NULL, false);
		printf("child: built %u, cached %u\n", s.programs_built, s.programs_cached);
		return (s.programs_built == 0 && s.programs_cached == 1 && !t_failures) ? 0 : 1;
	}
	char *dir = t_tmpdir("kcache");
	char sub[1200];
	snprintf(sub, sizeof sub, "%s/nested/dir", dir); /* created on first store */

	dim_ctx_stats s = use_kernel(sub, NULL, false);
	CHECK(s.programs_built == 1 && s.programs_cached == 0);
	CHECK(entries(sub) == 1);

	s = use_kernel(sub, NULL, false);
	CHECK(s.programs_built == 0 && s.programs_cached == 1 && s.cache_rejected == 0);

	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'/proc/%d/exe' --child '%s'", (int)getpid(), sub);
	CHECK_MSG(system(cmd) == 0, "second process rebuilt kernels: %s", cmd);

	/* changed options: a miss and a second entry */
	s = use_kernel(sub, "-DUTIL_UNROLL=2", false);
	CHECK(s.programs_built == 1 && s.programs_cached == 0);
	CHECK(entries(sub) == 2);
	s = use_kernel(sub, "-DUTIL_UNROLL=2", false);
	CHECK(s.programs_cached == 1 && s.programs_built == 0);

	/* a flipped byte in the binary, then a truncated file, then a flipped
	 * byte in the key: each is rejected, rebuilt, and the entry repaired */
	dim_error err = {0};
	unsigned removed = 0;
	CHECK_OK_ERR(&err, dim_cache_clear(sub, &removed, &err));
	CHECK(removed == 2 && entries(sub) == 0);
	s = use_kernel(sub, NULL, false);
	char path[2048];
	CHECK(first_entry(sub, path, sizeof path));
	for (int mode = 0; mode < 3; mode++) {
		if (mode == 0)
			corrupt(path, -10, -1);
		else if (mode == 1)
			corrupt(path, 0, 30);
		else
			corrupt(path, 40, -1);
		s = use_kernel(sub, NULL, false);
		CHECK_MSG(s.programs_built == 1 && s.cache_rejected >= 1,
			  "mode %d: built %u rejected %u", mode, s.programs_built, s.cache_rejected);
		s = use_kernel(sub, NULL, false);
		CHECK_MSG(s.programs_cached == 1 && s.programs_built == 0, "mode %d repaired", mode);
	}
	/* garbage file of the right name */
	FILE *f = fopen(path, "wb");
	fputs("not a cache entry", f);
	fclose(f);
	s = use_kernel(sub, NULL, false);
	CHECK(s.programs_built == 1 && s.cache_rejected >= 1);

	test_forged(dir);

	/* --no-cache: builds, writes nothing */
	char other[1300];
	snprintf(other, sizeof other, "%s/unused", dir);
	s = use_kernel(other, NULL, true);
	CHECK(s.programs_built == 1 && s.programs_cached == 0);
	struct stat st;
	CHECK(stat(other, &st) != 0);

	/* an unwritable cache location is a warning, never a failure */
	s = use_kernel("/proc/cldim-cannot-write-here", NULL, false);
	CHECK(s.programs_built == 1);

	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
