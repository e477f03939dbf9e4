/* The one place the library reads the environment (include/cldim/runtime.h,
 * dim_ctx_options_from_env; the table of variables is in docs/design.md).
 * Everything below it takes its switches from dim_ctx_options. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A boolean switch: unset or empty gives `def`, "0" false, anything else true. */
static bool env_flag(const char *name, bool def)
{
	const char *v = getenv(name);
	return v && *v ? strcmp(v, "0") != 0 : def;
}

/* An unsigned size in [lo, hi]: 0 when unset or empty, -1 when malformed. */
static int env_size(const char *name, unsigned long long lo, unsigned long long hi,
		    unsigned long long *out)
{
	const char *v = getenv(name);
	char *end = NULL;
	*out = 0;
	if (!v || !*v)
		return 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end || v[0] == '-' || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

/* An integer tile parameter of the own GEMM: malformed is a warning. */
static int env_int(const char *name, int def, int lo, int hi, bool *set)
{
	const char *s = getenv(name);
	char *end;
	long v;
	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi) {
		dim_log(DIM_LOG_WARN, "%s=%s is not an integer in [%d, %d]; using %d", name, s, lo,
			hi, def);
		return def;
	}
	*set = true;
	return (int)v;
}

/* CLDIM_CACHE_DIR, else $XDG_CACHE_HOME/cldim/kernels, else
 * $HOME/.cache/cldim/kernels; "" when none is set. */
static void cache_dir(char *buf, size_t n)
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

dim_status dim_ctx_options_from_env(dim_ctx_options *o, dim_error *err)
{
	unsigned long long n;
	memset(o, 0, sizeof *o);
	const char *v = getenv("CLDIM_DEVICE");
	o->device = v && *v ? v : NULL;
	cache_dir(o->cache_dir, sizeof o->cache_dir);
	o->no_cache = env_flag("CLDIM_NO_CACHE", false);
	v = getenv("CLDIM_KERNELS_DIR");
	o->kernels_dir = v && *v ? v : NULL;
	o->profile_trace = env_flag("CLDIM_PROFILE_TRACE", false);
	v = getenv("CLDIM_VEC16");
	o->vec16 = v && *v ? (strcmp(v, "0") ? 1 : -1) : 0;
	o->no_fma = !env_flag("CLDIM_FMA", true);

	/* CLDIM_MAX_WG=n: cap every work-group size at n, as a GPU driver with a
	 * smaller limit would (NVIDIA 1024, AMD 256, some 64), so the tests can
	 * show that no kernel relies on the limit of the device they run on. */
	if (env_size("CLDIM_MAX_WG", 1, 1u << 20, &n))
		return dim_fail(err, DIM_ERR_ARG,
				"CLDIM_MAX_WG=%s: expected a work-group size from 1 to 1048576",
				getenv("CLDIM_MAX_WG"));
	o->max_wg = (size_t)n;
	/* CLDIM_ARENA_CHUNK=bytes: the largest default chunk of an arena. For
	 * simulators and small devices: Oclgrind's race detector keeps about 48
	 * bytes of state per byte of every buffer, so 64 MiB activation chunks
	 * that a small test uses a few KiB of would cost gigabytes. */
	if (env_size("CLDIM_ARENA_CHUNK", 4096, 1ull << 40, &n))
		return dim_fail(err, DIM_ERR_ARG,
				"CLDIM_ARENA_CHUNK=%s: expected a size in bytes from 4096 to 2^40",
				getenv("CLDIM_ARENA_CHUNK"));
	o->arena_chunk = (size_t)n;
	if (env_size("CLDIM_DEVICE_MEM_LIMIT_MIB", 1, SIZE_MAX >> 20, &n))
		dim_log(DIM_LOG_WARN, "CLDIM_DEVICE_MEM_LIMIT_MIB=%s is not a size in MiB; ignored",
			getenv("CLDIM_DEVICE_MEM_LIMIT_MIB"));
	else
		o->mem_limit_mib = (size_t)n;

	v = getenv("CLDIM_GEMM");
	if (!v || !*v || !strcmp(v, "auto"))
		o->gemm = DIM_GEMM_AUTO;
	else if (!strcmp(v, "clblast"))
		o->gemm = DIM_GEMM_CLBLAST;
	else if (!strcmp(v, "own"))
		o->gemm = DIM_GEMM_OWN;
	else
		return dim_fail(err, DIM_ERR_ARG, "CLDIM_GEMM=%s: expected clblast, own or auto", v);
	dim_gemm_own_shape *g = &o->gemm_own;
	dim_gemm_own_shape_default(g);
	bool set = false;
	g->mr = env_int("CLDIM_GEMM_MR", g->mr, 1, 16, &set);
	g->nv = env_int("CLDIM_GEMM_NV", g->nv, 1, 4, &set);
	g->kc = env_int("CLDIM_GEMM_KC", g->kc, 0, 1 << 16, &set);
	g->gm = env_int("CLDIM_GEMM_GM", g->gm, 1, 256, &set);
	g->swap_m = env_int("CLDIM_GEMM_SWAP_M", g->swap_m, 0, 1 << 30, &set);
	g->kb = env_int("CLDIM_GEMM_KB", g->kb, 0, 1 << 30, &set);
	g->mb = env_int("CLDIM_GEMM_MB", g->mb, 0, 1 << 30, &set);
	v = getenv("CLDIM_GEMM_PACK");
	if (v && !strcmp(v, "direct")) {
		g->pack_always = false;
		set = true;
	}
	o->gemm_own_set = set;
	if (!set)
		memset(g, 0, sizeof *g);
	o->no_gemm_tuning = !env_flag("CLDIM_GEMM_TUNING", true);
	o->no_device_records = !env_flag("CLDIM_BENCH_RECORDS", true);
	return DIM_OK;
}
