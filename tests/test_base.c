/* cldim-test: labels=unit timeout=60 */
/* The base layer (include/cldim/base.h): dim_mkdir_p (the one mkdir -p of
 * the library), FNV-1a, the counter-based generator (values pinned: init,
 * negatives, prior samples and dropout depend on them), and the device key
 * of the per-device files. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/base.h"
#include "runtime/internal.h"
#include "testutil.h"

static int is_dir(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void test_mkdir_p(void)
{
	char *tmp = t_tmpdir("base");
	char p[4200];
	snprintf(p, sizeof p, "%s/a/b//c/", tmp);
	CHECK(dim_mkdir_p(p) == 0);
	snprintf(p, sizeof p, "%s/a/b/c", tmp);
	CHECK(is_dir(p));
	CHECK(dim_mkdir_p(p) == 0); /* exists: fine */
	snprintf(p, sizeof p, "%s/file", tmp);
	CHECK(t_write_file(p, "x", 1) == 0);
	errno = 0;
	CHECK(dim_mkdir_p(p) == -1 && errno == ENOTDIR); /* a file is not a directory */
	snprintf(p, sizeof p, "%s/file/sub", tmp);
	CHECK(dim_mkdir_p(p) == -1);
	char longp[5000];
	memset(longp, 'd', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = '\0';
	errno = 0;
	CHECK(dim_mkdir_p(longp) == -1 && errno == ENAMETOOLONG); /* never truncated */
	CHECK(dim_mkdir_p("") == -1);
	t_rmtree(tmp);
	free(tmp);
}

static void test_hash_rng(void)
{
	CHECK(dim_fnv1a(DIM_FNV_INIT, "", 0) == 0xcbf29ce484222325ull);
	CHECK(dim_fnv1a(DIM_FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
	CHECK(dim_fnv1a(dim_fnv1a(DIM_FNV_INIT, "foo", 3), "bar", 3) == 0x85944171f73967e8ull);
	CHECK(dim_rng_u64(1, 2, 3) == 0x4a79c62b1a73b275ull);
	CHECK(dim_rng_u64(0, 0, 0) == 0xac9e888aaf4cccd3ull);
	CHECK(dim_rng_uniform(42, 7, 1000) == 0.76395136981814782);
	double s = 0, s2 = 0;
	for (int i = 0; i < 20000; i++) {
		double v = dim_rng_normal(5, 1, (uint64_t)i);
		s += v, s2 += v * v;
	}
	CHECK_MSG(fabs(s / 20000) < 0.03 && fabs(s2 / 20000 - 1) < 0.05, "normal: mean %g var %g",
		  s / 20000, s2 / 20000);
}

/* The key of the device store (device-*.txt): FNV-1a of "platform\ndevice\ndriver". */
static void test_device_key(void)
{
	dim_device_info d;
	memset(&d, 0, sizeof d);
	snprintf(d.platform_name, sizeof d.platform_name, "Portable Computing Language");
	snprintf(d.name, sizeof d.name, "cpu-x");
	snprintf(d.driver, sizeof d.driver, "5.0");
	const char *s = "Portable Computing Language\ncpu-x\n5.0";
	CHECK(dim_device_key(&d) == dim_fnv1a(DIM_FNV_INIT, s, strlen(s)));
}

int main(void)
{
	test_mkdir_p();
	test_hash_rng();
	test_device_key();
	return T_RESULT();
}
