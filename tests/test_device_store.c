/* cldim-test: labels=unit timeout=60 */
/* The per-device store (cldim/tuning.h, host/runtime/store.c) on fake device
 * descriptions, no OpenCL needed: each section written, kept by updates of
 * the others and read back exactly; two devices (and one device under two
 * drivers) keep separate records; a damaged, truncated, foreign or
 * other-version file is a miss, never an error, and the next update starts
 * afresh; writes leave no temporary file; no directory is an error for
 * writers and a miss for readers. Also dim_ctx_options_from_env, the one
 * place the library reads the environment. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/tuning.h"
#include "testutil.h"

static dim_device_info fake(const char *name, const char *driver)
{
	dim_device_info d;
	memset(&d, 0, sizeof d);
	snprintf(d.platform_name, sizeof d.platform_name, "Fake Platform");
	snprintf(d.name, sizeof d.name, "%s", name);
	snprintf(d.driver, sizeof d.driver, "%s", driver);
	return d;
}

static const dim_gemm_tuning tuned = {
	.has_xgemm = true,
	.xgemm = {0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 1, 1},
	.has_routine = true,
	.min_indirect_size = 48,
};

static int same_tuning(const dim_gemm_tuning *a, const dim_gemm_tuning *b)
{
	return a->has_xgemm == b->has_xgemm && a->has_direct == b->has_direct &&
	       a->has_routine == b->has_routine && !memcmp(a->xgemm, b->xgemm, sizeof a->xgemm) &&
	       !memcmp(a->direct, b->direct, sizeof a->direct) &&
	       a->min_indirect_size == b->min_indirect_size;
}

static int temp_files(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strstr(e->d_name, ".tmp") != NULL;
	if (d)
		closedir(d);
	return n;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 65536);
	*n = f && buf ? fread(buf, 1, 65535, f) : 0;
	if (f)
		fclose(f);
	return buf;
}

static void test_store(const char *dir)
{
	dim_device_info a = fake("device A", "1.0"), b = fake("device B", "1.0"),
			a2 = fake("device A", "2.0");
	dim_device_record r, w;
	dim_error err = {0};
	char pa[1200], pb[1200], pa2[1200];

	/* one key per device and driver */
	CHECK(dim_device_key(&a) != dim_device_key(&b) && dim_device_key(&a) != dim_device_key(&a2));
	dim_device_store_path(dir, &a, pa, sizeof pa);
	dim_device_store_path(dir, &b, pb, sizeof pb);
	dim_device_store_path(dir, &a2, pa2, sizeof pa2);
	CHECK(strcmp(pa, pb) && strcmp(pa, pa2) && strstr(pa, dir) == pa);
	CHECK(!dim_device_store_load(dir, &a, &r) && !r.gemm_backend && !r.has_tuning);

	/* each section, and the others kept */
	w = (dim_device_record){.gemm_backend = DIM_GEMM_OWN};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &a, DIM_STORE_BACKEND, &w, &err));
	CHECK(dim_device_store_load(dir, &a, &r) && r.gemm_backend == DIM_GEMM_OWN &&
	      !r.has_tuning && !r.has_speed);
	w = (dim_device_record){.has_tuning = true, .tuning = tuned};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &a, DIM_STORE_TUNING, &w, &err));
	w = (dim_device_record){.has_speed = true, .train_img_s = 1234.5678901234,
				.extract_img_s = 0.1, .batch = 64, .time = "2025-01-31T12:00:00Z"};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &a, DIM_STORE_SPEED, &w, &err));
	CHECK(dim_device_store_load(dir, &a, &r));
	CHECK(r.gemm_backend == DIM_GEMM_OWN && r.has_tuning && same_tuning(&r.tuning, &tuned));
	CHECK(r.has_speed && r.train_img_s == 1234.5678901234 && r.extract_img_s == 0.1 &&
	      r.batch == 64 && !strcmp(r.time, "2025-01-31T12:00:00Z"));
	w = (dim_device_record){.gemm_backend = DIM_GEMM_CLBLAST};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &a, DIM_STORE_BACKEND, &w, &err));
	CHECK(dim_device_store_load(dir, &a, &r) && r.gemm_backend == DIM_GEMM_CLBLAST &&
	      r.has_tuning && r.has_speed && r.batch == 64);
	/* a tuning whose kernels are all CLBlast's defaults is still a tuning */
	w = (dim_device_record){.has_tuning = true};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &a, DIM_STORE_TUNING, &w, &err));
	CHECK(dim_device_store_load(dir, &a, &r) && r.has_tuning && !r.tuning.has_xgemm &&
	      !r.tuning.has_routine);
	w = (dim_device_record){.has_tuning = true, .tuning = tuned};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &a, DIM_STORE_TUNING, &w, &err));
	CHECK(temp_files(dir) == 0);

	/* other devices keep their own records */
	CHECK(!dim_device_store_load(dir, &b, &r) && !dim_device_store_load(dir, &a2, &r));
	w = (dim_device_record){.has_speed = true, .train_img_s = 10, .extract_img_s = 20,
				.batch = 32, .time = "t"};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &b, DIM_STORE_SPEED, &w, &err));
	CHECK(dim_device_store_load(dir, &b, &r) && r.has_speed && r.train_img_s == 10 &&
	      !r.gemm_backend && !r.has_tuning);
	CHECK(dim_device_store_load(dir, &a, &r) && r.train_img_s == 1234.5678901234 &&
	      r.gemm_backend == DIM_GEMM_CLBLAST);

	/* a record copied under another device's name is that device's miss */
	size_t n;
	char *text = slurp(pa, &n);
	CHECK(n > 0 && t_write_file(pa2, text, n) == 0);
	CHECK(!dim_device_store_load(dir, &a2, &r) && !r.has_speed);
	/* damaged copies of a's record: every one a miss */
	for (int k = 0; k < 4; k++) {
		char *bad = malloc(n + 1);
		memcpy(bad, text, n);
		size_t m = n;
		if (k == 0)
			m = n - 1;                     /* truncated: the last newline */
		else if (k == 1)
			m = n / 2;                     /* truncated: half */
		else if (k == 2)
			bad[n / 3] ^= 0x20;            /* one byte changed */
		else
			memcpy(bad, "cldim-device-store 9", 20); /* another version */
		CHECK(t_write_file(pa, bad, m) == 0);
		CHECK_MSG(!dim_device_store_load(dir, &a, &r) && !r.has_speed && !r.has_tuning &&
			  !r.gemm_backend, "damage %d read as a record", k);
		free(bad);
	}
	CHECK(t_write_file(pa, "\0\0\0\n", 4) == 0);
	CHECK(!dim_device_store_load(dir, &a, &r));
	/* an update after damage starts afresh with the one section */
	w = (dim_device_record){.gemm_backend = DIM_GEMM_OWN};
	CHECK_OK_ERR(&err, dim_device_store_update(dir, &a, DIM_STORE_BACKEND, &w, &err));
	CHECK(dim_device_store_load(dir, &a, &r) && r.gemm_backend == DIM_GEMM_OWN &&
	      !r.has_tuning && !r.has_speed);
	free(text);

	/* bad input to a writer is an error naming the file; no dir is a miss */
	w = (dim_device_record){.has_speed = true, .train_img_s = -1, .batch = 1, .time = "t"};
	CHECK(dim_device_store_update(dir, &a, DIM_STORE_SPEED, &w, &err) == DIM_ERR_ARG &&
	      strstr(err.msg, pa));
	dim_error_clear(&err);
	CHECK(dim_device_store_update("", &a, DIM_STORE_BACKEND, &w, &err) == DIM_ERR_IO);
	dim_error_clear(&err);
	CHECK(!dim_device_store_load(NULL, &a, &r) && !dim_device_store_load("", &a, &r));
	char file_dir[1200];
	snprintf(file_dir, sizeof file_dir, "%s/plainfile", dir);
	CHECK(t_write_file(file_dir, "x", 1) == 0);
	w = (dim_device_record){.gemm_backend = DIM_GEMM_OWN};
	CHECK(dim_device_store_update(file_dir, &a, DIM_STORE_BACKEND, &w, &err) == DIM_ERR_IO &&
	      strstr(err.msg, file_dir));
	dim_error_clear(&err);
	CHECK(dim_device_store_best(dir, &b, 1, 0) == 0);
	CHECK(temp_files(dir) == 0);
}

static void test_from_env(const char *dir)
{
	static const char *const vars[] = {
		"CLDIM_DEVICE", "CLDIM_CACHE_DIR", "XDG_CACHE_HOME", "CLDIM_NO_CACHE",
		"CLDIM_KERNELS_DIR", "CLDIM_PROFILE_TRACE", "CLDIM_VEC16", "CLDIM_FMA",
		"CLDIM_MAX_WG", "CLDIM_ARENA_CHUNK", "CLDIM_DEVICE_MEM_LIMIT_MIB", "CLDIM_GEMM",
		"CLDIM_GEMM_MR", "CLDIM_GEMM_NV", "CLDIM_GEMM_KC", "CLDIM_GEMM_GM",
		"CLDIM_GEMM_SWAP_M", "CLDIM_GEMM_PACK", "CLDIM_GEMM_TUNING", "CLDIM_BENCH_RECORDS",
	};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	dim_ctx_options o, zero;
	dim_error err = {0};
	memset(&zero, 0, sizeof zero);
	setenv("HOME", dir, 1);
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&o, &err));
	char want[1200];
	snprintf(want, sizeof want, "%s/.cache/cldim/kernels", dir);
	CHECK_MSG(!strcmp(o.cache_dir, want), "%s", o.cache_dir);
	/* nothing set but HOME: everything else at its zero default */
	memset(o.cache_dir, 0, sizeof o.cache_dir);
	CHECK(!memcmp(&o, &zero, sizeof o));
	setenv("XDG_CACHE_HOME", "/x", 1);
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&o, &err));
	CHECK(!strcmp(o.cache_dir, "/x/cldim/kernels"));
	setenv("CLDIM_CACHE_DIR", "/y", 1);
	setenv("CLDIM_DEVICE", "gpu", 1);
	setenv("CLDIM_NO_CACHE", "1", 1);
	setenv("CLDIM_KERNELS_DIR", "/k", 1);
	setenv("CLDIM_PROFILE_TRACE", "1", 1);
	setenv("CLDIM_VEC16", "0", 1);
	setenv("CLDIM_FMA", "0", 1);
	setenv("CLDIM_MAX_WG", "64", 1);
	setenv("CLDIM_ARENA_CHUNK", "65536", 1);
	setenv("CLDIM_DEVICE_MEM_LIMIT_MIB", "200", 1);
	setenv("CLDIM_GEMM", "own", 1);
	setenv("CLDIM_GEMM_MR", "3", 1);
	setenv("CLDIM_GEMM_PACK", "direct", 1);
	setenv("CLDIM_GEMM_TUNING", "0", 1);
	setenv("CLDIM_BENCH_RECORDS", "0", 1);
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&o, &err));
	CHECK(!strcmp(o.cache_dir, "/y") && o.device && !strcmp(o.device, "gpu") && o.no_cache &&
	      o.kernels_dir && !strcmp(o.kernels_dir, "/k") && o.profile_trace && o.vec16 == -1 &&
	      o.no_fma && o.max_wg == 64 && o.arena_chunk == 65536 && o.mem_limit_mib == 200 &&
	      o.gemm == DIM_GEMM_OWN && o.no_gemm_tuning && o.no_device_records);
	dim_gemm_own_shape def;
	dim_gemm_own_shape_default(&def);
	CHECK(o.gemm_own_set && o.gemm_own.mr == 3 && !o.gemm_own.pack_always &&
	      o.gemm_own.nv == def.nv && o.gemm_own.swap_m == def.swap_m);
	setenv("CLDIM_VEC16", "1", 1);
	setenv("CLDIM_GEMM", "clblast", 1);
	setenv("CLDIM_GEMM_MR", "99", 1); /* out of range: a warning, the default */
	unsetenv("CLDIM_GEMM_PACK");
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&o, &err));
	CHECK(o.vec16 == 1 && o.gemm == DIM_GEMM_CLBLAST && !o.gemm_own_set);
	/* malformed switches that used to fail a context fail here, naming the variable */
	setenv("CLDIM_GEMM", "cuBLAS", 1);
	CHECK(dim_ctx_options_from_env(&o, &err) == DIM_ERR_ARG && strstr(err.msg, "CLDIM_GEMM"));
	dim_error_clear(&err);
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

int main(void)
{
	char *dir = t_tmpdir("device-store");
	CHECK(dir != NULL);
	if (!dir)
		return T_RESULT();
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	test_store(dir);
	test_from_env(dir);
	if (home)
		setenv("HOME", home, 1);
	free(home);
	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
