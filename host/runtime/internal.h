/* Private runtime state shared by the files of host/runtime/. */
#ifndef CLDIM_RUNTIME_INTERNAL_H
#define CLDIM_RUNTIME_INTERNAL_H

#include "cldim/runtime.h"
#include "cldim/tuning.h"

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
	bool profile_trace; /* options' profile_trace: one stderr line per profiled launch */
	bool vec16;         /* dim_ctx_vec16; the options' vec16 overrides */
	bool fma;           /* dim_ctx_use_fma; the options' no_fma turns it off */
	/* out of device memory (memory.c): after the first failed allocation no
	 * kernel is launched and dim_ctx_destroy does not wait for the queue */
	bool mem_failed;
	size_t mem_limit;   /* options' mem_limit_mib in bytes (0: none) */
	dim_buf scratch;         /* dim_ctx_scratch, grown on demand */
	size_t arena_chunk_max;  /* options' arena_chunk; 0 = no cap */
	/* phases (profile.c) */
	char phase_names[16][32];
	double phase_seconds[16];
	int nphases, phase;
	bool no_cache;
	char cache_dir[1024];    /* kernel binaries (unset when no_cache) */
	char store_dir[1024];    /* the device store (store.c); "" = none */
	char kernels_dir[1024];  /* options' kernels_dir; "" = the embedded sources */
	dim_device_record record; /* this device's stored record, read at creation */
	struct dim_program **programs;
	int nprograms;
	dim_ctx_stats stats;
	/* GEMM scratch (CLBlast temp buffer), grown on demand */
	cl_mem gemm_tmp;
	size_t gemm_tmp_bytes;
	/* GEMM backend (gemm.c): DIM_GEMM_AUTO (unset) until the first dim_gemm */
	int gemm_backend;
	int gemm_choice;         /* options' gemm */
	dim_gemm_own_shape gemm_own_default; /* options' gemm_own, else the defaults */
	/* own GEMM (gemm_own.c): tile shape, packing scratch grown on demand */
	dim_gemm_own_shape gemm_own;         /* in use (mr 0: not configured yet) */
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

void dim_gemm_release(dim_ctx *ctx);

/* Run and clear the wait hook, if one is set (staging.c); called by every
 * runtime function that blocks on the queue, before it blocks. */
void dim_ctx_before_wait(dim_ctx *ctx);

/* Own GEMM (gemm_own.c): same contract as dim_gemm, operands already
 * checked for alignment and M, N, K > 0. */
void dim_gemm_own_configure(dim_ctx *ctx);
bool dim_gemm_own_shape_ok(const dim_gemm_own_shape *s);
dim_status dim_gemm_own(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N, size_t K,
			float alpha, dim_buf A, size_t lda, dim_buf B, size_t ldb, float beta,
			dim_buf C, size_t ldc);
void dim_gemm_own_release(dim_ctx *ctx);

/* Charge `seconds` of device time to the current phase (profile.c). */
void dim_profile_charge(dim_ctx *ctx, double seconds);

#endif
