/* Private runtime state shared by the files of host/runtime/. */
#ifndef CLDIM_RUNTIME_INTERNAL_H
#define CLDIM_RUNTIME_INTERNAL_H

#include "cldim/runtime.h"

/* OpenCL error code → "CL_OUT_OF_RESOURCES" etc. */
const char *dim_cl_error_name(cl_int code);

/* Record an OpenCL failure in the context's error: "<what>: CL_xxx (-n)". */
dim_status dim_cl_fail(dim_ctx *ctx, cl_int code, const char *what);

struct dim_program;
struct dim_kernel {
	cl_kernel kernel;
	char name[64];
	size_t max_wg;
	struct dim_program *program;
	/* profiling: total device time and count */
	double prof_seconds;
	unsigned long long prof_count;
};

struct dim_program {
	char *key;              /* program name + '\n' + options */
	cl_program program;
	struct dim_kernel **kernels;
	int nkernels;
};

struct dim_ctx {
	dim_device_info dev;
	cl_context context;
	cl_command_queue queue;
	dim_error err;
	bool profile;
	bool profile_trace; /* CLDIM_PROFILE_TRACE=1: one stderr line per profiled launch */
	bool vec16;         /* dim_ctx_vec16; CLDIM_VEC16=0|1 overrides */
	bool fma;           /* dim_ctx_use_fma; CLDIM_FMA=0 turns it off */
	/* out of device memory (memory.c): after the first failed allocation no
	 * kernel is launched and dim_ctx_destroy does not wait for the queue */
	bool mem_failed;
	size_t mem_limit;   /* CLDIM_DEVICE_MEM_LIMIT_MIB (0: none) */
	dim_buf scratch;         /* dim_ctx_scratch, grown on demand */
	size_t arena_chunk_max;  /* CLDIM_ARENA_CHUNK; 0 = no cap */
	/* phases (profile.c) */
	char phase_names[16][32];
	double phase_seconds[16];
	int nphases, phase;
	bool no_cache;
	char cache_dir[1024];
	struct dim_program **programs;
	int nprograms;
	dim_ctx_stats stats;
	/* GEMM scratch (CLBlast temp buffer), grown on demand */
	cl_mem gemm_tmp;
	size_t gemm_tmp_bytes;
	/* GEMM backend (gemm.c): DIM_GEMM_UNSET until the first dim_gemm */
	int gemm_backend;
	/* own GEMM (gemm_own.c): tile shape, packing scratch grown on demand */
	int gemm_own_mr, gemm_own_nv, gemm_own_kc, gemm_own_gm, gemm_own_swap_m;
	bool gemm_own_pack_always;
	/* largest buffer offset (in floats) passed to a kernel as is; further
	 * views go through a sub-buffer (program.c). 0: INT_MAX. Tests lower it. */
	size_t karg_off_max;
	unsigned long long karg_subs; /* sub-buffers made for that so far */
	cl_mem gemm_pack;
	size_t gemm_pack_bytes;
	/* dim_ctx_set_wait_hook (staging.c): run once before the next wait */
	dim_wait_hook wait_hook;
	void *wait_hook_user;
};

/* Sub-buffers one launch may make for views past karg_off_max. */
#define DIM_LAUNCH_MAX_SUBS 16

/* Build or load program `name` with `options`; cached in ctx. */
dim_status dim_program_get(dim_ctx *ctx, const char *name, const char *options,
			   struct dim_program **out);
void dim_programs_release(dim_ctx *ctx);

/* SipHash-2-4 of a || b under a 16-byte key (the cache's entry tag). */
uint64_t dim_siphash24(const unsigned char key[16], const void *a, size_t na, const void *b,
		       size_t nb);

/* On-disk binary cache (cache.c). key_text is the full key; returns a
 * malloc'd binary or NULL on a miss (stale/corrupt entries count as misses,
 * *rejected set to 1). */
unsigned char *dim_cache_load(const char *dir, const char *key_text, size_t *size, int *rejected);
void dim_cache_store(const char *dir, const char *key_text, const unsigned char *bin, size_t size);

/* Hash of a device's platform name, device name and driver version: the key
 * of its per-device files (GEMM tuning, bench record). */
uint64_t dim_device_key(const dim_device_info *d);

void dim_gemm_release(dim_ctx *ctx);

/* Run and clear the wait hook, if one is set (staging.c); called by every
 * runtime function that blocks on the queue, before it blocks. */
void dim_ctx_before_wait(dim_ctx *ctx);

enum { DIM_GEMM_UNSET = 0, DIM_GEMM_CLBLAST = 1, DIM_GEMM_OWN = 2 };

/* Own GEMM (gemm_own.c): same contract as dim_gemm, operands already
 * checked for alignment and M, N, K > 0. */
void dim_gemm_own_configure(dim_ctx *ctx);
dim_status dim_gemm_own(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N, size_t K,
			float alpha, dim_buf A, size_t lda, dim_buf B, size_t ldb, float beta,
			dim_buf C, size_t ldc);
void dim_gemm_own_release(dim_ctx *ctx);

/* Charge `seconds` of device time to the current phase (profile.c). */
void dim_profile_charge(dim_ctx *ctx, double seconds);

#endif
