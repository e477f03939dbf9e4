/* cldim — layer 1: OpenCL runtime.
 *
 * Devices (listing and selection), one context + one in-order queue per
 * selected device (dim_ctx), device buffers as (cl_mem, byte offset) views,
 * bump arenas, tensors, kernel programs built on first use and cached on disk,
 * kernel launches, and the GEMM wrapper. Nothing above this layer calls cl*
 * or CLBlast* directly: ops use dim_kernel_get + dim_launch and dim_gemm.
 *
 * Errors: functions return dim_status; the message is in dim_ctx_error(ctx)
 * (or the dim_error passed in, for functions that run before a context). */
#ifndef CLDIM_RUNTIME_H
#define CLDIM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "cldim/base.h"
#include "cldim/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ devices */

enum { DIM_DEV_CPU = 1, DIM_DEV_GPU = 2, DIM_DEV_ACCEL = 4, DIM_DEV_OTHER = 8 };

typedef struct dim_device_info {
	int index;                   /* position in the flat list */
	int platform_index, device_index;
	char platform_name[128], platform_vendor[128], platform_version[128];
	char name[256], vendor[128];
	char version[128];           /* CL_DEVICE_VERSION */
	char c_version[128];         /* CL_DEVICE_OPENCL_C_VERSION */
	char driver[128];            /* CL_DRIVER_VERSION */
	unsigned type;               /* DIM_DEV_* */
	unsigned compute_units, clock_mhz;
	uint64_t global_mem, local_mem, max_alloc;
	size_t max_wg;
	unsigned mem_align_bytes;    /* CL_DEVICE_MEM_BASE_ADDR_ALIGN / 8 */
	bool fp16, fp64, subgroups;
	bool fma;                    /* CL_FP_FMA in CL_DEVICE_SINGLE_FP_CONFIG */
	cl_platform_id platform;
	cl_device_id device;
} dim_device_info;

const char *dim_device_type_name(unsigned type);

/* All devices of all platforms, in platform then device order. *out is
 * malloc'd (free() it). No ICD installed: DIM_ERR_NO_PLATFORM with a message
 * that says what to install. */
dim_status dim_devices_list(dim_device_info **out, int *count, dim_error *err);

/* Pick one device (reading neither the environment nor the device store;
 * see dim_device_select_opt). Selector forms: NULL/"" ("auto"),
 * "auto" (first GPU, else accelerator, else CPU), an index "2", "P:D",
 * "cpu" | "gpu" | "accelerator", or a case-insensitive substring of the
 * platform's name, vendor or version, else (when no platform matches) of the
 * device's name or vendor: "intel" picks Intel's OpenCL runtime even when
 * PoCL runs on an Intel CPU, "pocl" picks PoCL. No match: DIM_ERR_NO_DEVICE;
 * several devices matching at the same level: DIM_ERR_AMBIGUOUS; the message
 * lists the devices. */
dim_status dim_device_select(const char *selector, const dim_device_info *list, int count,
			     int *chosen, dim_error *err);

struct dim_ctx_options;
/* dim_device_select(opt->device, ...), where "auto" also reads the device
 * store in opt->cache_dir: the device with the best recorded training
 * images/s wins when the plain rule's choice has a record too (unless
 * opt->no_device_records). dim_ctx_create selects through this. */
dim_status dim_device_select_opt(const struct dim_ctx_options *opt, const dim_device_info *list,
				 int count, int *chosen, dim_error *err);

/* Device listing as text (one block per device), for `cldim devices`. */
void dim_devices_print(FILE *f, const dim_device_info *list, int count);

/* Logging (dim_log) and the clock (dim_now) are in cldim/base.h. */

/* ------------------------------------------------------------------ context */

typedef struct dim_ctx dim_ctx;

/* GEMM backends (dim_ctx_options.gemm, the device store). */
enum { DIM_GEMM_AUTO = 0, DIM_GEMM_CLBLAST = 1, DIM_GEMM_OWN = 2 };

/* The own GEMM kernel's tile shape (host/runtime/gemm_own.c; experiments in
 * tools/bench/gemm_variants.c). dim_gemm_own_shape_default gives the tuned
 * defaults. */
typedef struct dim_gemm_own_shape {
	int mr, nv;        /* rows per work-item (1..16), float4 column groups (1..4) */
	int kc;            /* k-block (0: none, else up to 65536) */
	int gm;            /* work-group rows (1..256) */
	int swap_m;        /* M from which the operands are swapped (0: never) */
	int kb, mb;        /* tile launches, and the packing before them, cover at most
			    * kb of K and mb rows of M (0: all; defaults 2048, 1024), so
			    * a B panel slice stays in L2 and the A rows swept once per
			    * column panel stay in the last-level cache */
	bool pack_always;  /* pack both operands even when they could be read in place */
} dim_gemm_own_shape;
void dim_gemm_own_shape_default(dim_gemm_own_shape *out);

/* Everything a context is made with. The library reads no environment
 * variable anywhere else than dim_ctx_options_from_env: a zeroed struct means
 * the default device rule, no kernel cache and no device store on disk, and
 * every switch at its default. */
typedef struct dim_ctx_options {  /* zero = defaults */
	const char *device;     /* selector, see dim_device_select; NULL = "auto" */
	bool no_cache;          /* do not read or write the on-disk kernel binaries */
	/* the kernel cache and device store directory; "" = none */
	char cache_dir[1024];
	bool profile;           /* record per-kernel device time */
	/* switches; the CLDIM_* variable each one comes from is named (docs/design.md) */
	bool profile_trace;     /* CLDIM_PROFILE_TRACE: one stderr line per profiled launch */
	int vec16;              /* CLDIM_VEC16: 0 device default (CPU), 1 on, -1 off */
	bool no_fma;            /* CLDIM_FMA=0: mad() instead of fma() */
	size_t max_wg;          /* CLDIM_MAX_WG: cap on every work-group size; 0 none */
	size_t arena_chunk;     /* CLDIM_ARENA_CHUNK: cap on arena chunks in bytes; 0 none */
	size_t mem_limit_mib;   /* CLDIM_DEVICE_MEM_LIMIT_MIB: cap on dim_buf_create bytes */
	const char *kernels_dir;/* CLDIM_KERNELS_DIR: load cl/<program>.cl from here */
	int gemm;               /* CLDIM_GEMM: DIM_GEMM_AUTO (store, then device rule), own, clblast */
	bool gemm_own_set;      /* CLDIM_GEMM_MR, _NV, _KC, _GM, _SWAP_M, _KB, _MB, _PACK */
	dim_gemm_own_shape gemm_own;
	bool no_gemm_tuning;    /* CLDIM_GEMM_TUNING=0: do not apply the stored CLBlast tuning */
	bool no_device_records; /* CLDIM_BENCH_RECORDS=0: "auto" ignores recorded speeds */
} dim_ctx_options;

/* The one place the library reads the environment: fill *o from the CLDIM_*
 * variables (CLDIM_DEVICE, CLDIM_CACHE_DIR, else $XDG_CACHE_HOME/cldim/kernels,
 * else $HOME/.cache/cldim/kernels, CLDIM_NO_CACHE and the switches above).
 * Call it once at the top (the CLI, the C API, tests) and adjust the result.
 * device and kernels_dir point into the environment. A malformed CLDIM_MAX_WG,
 * CLDIM_ARENA_CHUNK or CLDIM_GEMM is DIM_ERR_ARG naming the variable (device,
 * cache_dir and no_cache are filled all the same); other malformed values
 * are logged and ignored. */
dim_status dim_ctx_options_from_env(dim_ctx_options *o, dim_error *err);

/* o->max_wg caps every work-group size of the context (as a driver with a
 * smaller limit would; the tests run the ops under 64 and 256): the device's
 * max_wg in dim_ctx_device and every dim_kernel_max_wg are capped, and
 * dim_launch refuses a larger group; 1 to 1048576, else DIM_ERR_ARG.
 * o->arena_chunk caps the default chunk size of the context's arenas (for
 * simulators such as Oclgrind, whose cost grows with every byte of every
 * buffer); 4096 to 2^40, else DIM_ERR_ARG. */
dim_status dim_ctx_create(dim_ctx **out, const dim_ctx_options *opt, dim_error *err);
void dim_ctx_destroy(dim_ctx *ctx); /* NULL is a no-op */

dim_error *dim_ctx_error(dim_ctx *ctx);
const char *dim_ctx_errmsg(dim_ctx *ctx);
const dim_device_info *dim_ctx_device(const dim_ctx *ctx);

/* Whether kernels should write multiply-adds as fma() (-DDIM_FMA): the device
 * reports CL_FP_FMA and the options' no_fma (CLDIM_FMA=0) is off. PoCL compiles mad() to a
 * separate multiply and add (half the FMA throughput of the core) and does not
 * define FP_FAST_FMAF, so the host decides (when the context is made). */
bool dim_ctx_use_fma(const dim_ctx *ctx);

/* Whether element-wise ops should give each work-item a float16 chunk of
 * contiguous elements (CPU devices: PoCL runs a work-item's explicit vectors
 * as AVX-512 code; its own vectorisation across work-items gave up on most
 * of our element-wise kernels) rather than one element (GPUs: coalesced).
 * The options' vec16 (CLDIM_VEC16=0 or 1) overrides the choice (the tests run
 * both forms). */
bool dim_ctx_vec16(const dim_ctx *ctx);

/* Out of device memory: after the first failed device allocation the context
 * launches nothing more (launches and GEMMs return DIM_ERR_DEVICE_MEM) and
 * dim_ctx_destroy does not wait for the kernels already queued (on a CPU
 * device they could run for minutes); make a new context to retry smaller.
 * The options' mem_limit_mib (CLDIM_DEVICE_MEM_LIMIT_MIB=N) caps the bytes
 * of all dim_buf_create buffers of the process at N MiB, so that this failure
 * can be reached, and tested, without exhausting a real device. */
bool dim_ctx_mem_failed(const dim_ctx *ctx);

/* Bytes of device memory held by dim_buf_create buffers in this process, now
 * and at the high-water mark since the last dim_device_mem_peak_reset (which
 * sets the mark to the bytes held now). Arenas, scratch and the own GEMM's
 * packing buffers are counted; memory a driver or CLBlast allocates for
 * itself is not. */
void dim_device_mem_stats(size_t *live, size_t *peak);
void dim_device_mem_peak_reset(void);
/* Interop: the context's OpenCL context and its one in-order queue, for an
 * application that runs its own OpenCL code beside cldim's (and for the test
 * that feeds Oclgrind deliberately broken kernels). Work enqueued on the queue
 * is ordered with cldim's own. No library layer above runtime uses these: the
 * layer check (tests/layers) refuses OpenCL calls outside runtime and below. */
cl_context dim_ctx_cl_context(dim_ctx *ctx);
cl_command_queue dim_ctx_queue(dim_ctx *ctx);

/* Wait until all enqueued work is done. */
dim_status dim_finish(dim_ctx *ctx);

typedef struct dim_ctx_stats {
	unsigned programs_built;      /* compiled from source */
	unsigned programs_cached;     /* loaded from the on-disk cache */
	unsigned cache_rejected;      /* corrupt or stale entries treated as misses */
	double build_seconds;         /* time spent building or loading programs */
	unsigned long long launches;  /* kernels enqueued */
} dim_ctx_stats;
dim_ctx_stats dim_ctx_get_stats(const dim_ctx *ctx);

/* The kernel cache directory this context uses ("" when disabled). */
const char *dim_ctx_cache_dir(const dim_ctx *ctx);

/* Per-kernel device time when the context was created with profile = true. */
void dim_ctx_profile_print(dim_ctx *ctx, FILE *f);
void dim_ctx_profile_reset(dim_ctx *ctx);

/* Phases (profiling only): work enqueued while a phase is current is charged
 * to it when the context was created with profile = true. Kernels are timed
 * with events, GEMMs by waiting for the device around them (profiling mode
 * serialises). The tape records the phase of each node and charges its
 * backward to the same phase. Phase 0 is "other". */
int dim_profile_phase_id(dim_ctx *ctx, const char *name); /* interned; -1 when full */
int dim_profile_set_phase(dim_ctx *ctx, int id);           /* returns the previous one */
int dim_profile_get_phase(const dim_ctx *ctx);
void dim_profile_phase_print(dim_ctx *ctx, FILE *f);
void dim_profile_phase_reset(dim_ctx *ctx);

/* ------------------------------------------------------------------ buffers */

/* A view into device memory: byte offset `off`, `bytes` long. Views never own
 * their memory; dim_buf_release frees only buffers made by dim_buf_create. */
typedef struct dim_buf {
	cl_mem mem;
	size_t off;
	size_t bytes;
} dim_buf;

dim_status dim_buf_create(dim_ctx *ctx, size_t bytes, dim_buf *out);
void dim_buf_release(dim_buf *b);
/* Sub-view [off, off+bytes) of b. When it does not fit (or b is invalid)
 * the result is an invalid view (mem NULL, bytes > 0) that dim_launch,
 * dim_read/dim_write/dim_copy and dim_gemm reject with DIM_ERR_ARG; use
 * dim_buf_sub to get the error at once, with a message in the context. */
dim_buf dim_buf_view(dim_buf b, size_t off, size_t bytes);
dim_status dim_buf_sub(dim_ctx *ctx, dim_buf b, size_t off, size_t bytes, dim_buf *out);

/* Blocking host <-> device copies; `off` is a byte offset inside the view. */
dim_status dim_write(dim_ctx *ctx, dim_buf dst, size_t off, const void *src, size_t bytes);
dim_status dim_read(dim_ctx *ctx, dim_buf src, size_t off, void *dst, size_t bytes);
/* Non-blocking write: src must stay valid until the next dim_finish. */
dim_status dim_write_async(dim_ctx *ctx, dim_buf dst, size_t off, const void *src, size_t bytes);
/* Device-side copy and fill (enqueued, in order). */
dim_status dim_copy(dim_ctx *ctx, dim_buf dst, dim_buf src, size_t bytes);
dim_status dim_fill_f32(dim_ctx *ctx, dim_buf dst, float value);

/* A context-owned scratch buffer of at least `bytes` for an op's temporaries
 * between its own launches: valid until the next call (work enqueued before
 * that call may still use it: the queue is in order, and a buffer replaced by
 * a larger one is released only after that work). Grows during a run's first
 * step only, since shapes repeat. */
dim_status dim_ctx_scratch(dim_ctx *ctx, size_t bytes, dim_buf *out);

/* ------------------------------------------------------------------ arenas */

/* A bump allocator over device memory. Allocations are aligned to the device's
 * base-address alignment. An arena grows by whole chunks while it is first
 * filled; dim_arena_reset rewinds to a mark, and the same sequence of
 * allocations after a reset reuses the same chunks and offsets, so a training
 * step creates buffers only the first time it runs. */
typedef struct dim_arena dim_arena;

dim_status dim_arena_create(dim_ctx *ctx, const char *name, size_t chunk_bytes, dim_arena **out);
void dim_arena_destroy(dim_arena *a);
dim_status dim_arena_alloc(dim_arena *a, size_t bytes, dim_buf *out);
typedef struct dim_arena_mark { size_t chunk, used; } dim_arena_mark;
dim_arena_mark dim_arena_get_mark(const dim_arena *a);
void dim_arena_reset(dim_arena *a, dim_arena_mark m);
size_t dim_arena_capacity(const dim_arena *a);  /* bytes of device memory held */
size_t dim_arena_peak(const dim_arena *a);      /* high-water mark of live bytes */
unsigned dim_arena_chunks(const dim_arena *a);  /* clCreateBuffer calls so far */

/* ------------------------------------------------------------------ tensors */

#define DIM_MAX_DIMS 6

/* fp32 tensor, row-major (NCHW for images), contiguous in buf. */
typedef struct dim_tensor {
	dim_buf buf;
	int ndim;
	int shape[DIM_MAX_DIMS];
} dim_tensor;

size_t dim_shape_numel(int ndim, const int *shape);
size_t dim_tensor_numel(const dim_tensor *t);
/* Shape from a list: dim_tensor_shape(&t, 4, (int[]){n, c, h, w}). */
void dim_tensor_set_shape(dim_tensor *t, int ndim, const int *shape);
dim_status dim_tensor_alloc(dim_arena *a, int ndim, const int *shape, dim_tensor *out);
dim_status dim_tensor_write(dim_ctx *ctx, const dim_tensor *t, const float *src);
dim_status dim_tensor_read(dim_ctx *ctx, const dim_tensor *t, float *dst);
/* "[3, 64, 8, 8]" into buf. */
const char *dim_shape_str(int ndim, const int *shape, char *buf, size_t n);

/* ------------------------------------------------------------------ kernels */

typedef struct dim_kernel dim_kernel;

/* Kernel `name` from program `program` (cl/<program>.cl, or
 * $CLDIM_KERNELS_DIR/<program>.cl), compiled with `options` ("-DTS=16 ...",
 * may be NULL). Built on first use, then memoised in the context. */
dim_status dim_kernel_get(dim_ctx *ctx, const char *program, const char *options,
			  const char *name, dim_kernel **out);
/* The largest work-group the kernel can run with on this device (capped by
 * CLDIM_MAX_WG); dim_launch fails with DIM_ERR_ARG above it. */
size_t dim_kernel_max_wg(const dim_kernel *k);

/* The largest power of two <= cap that divides n (n > 0): a work-group size
 * for a range of exactly n items (OpenCL 1.2 needs global % local == 0). On
 * PoCL a work-group costs about a microsecond of its own, so kernels whose
 * work-items each do a float16 chunk still want several per group. */
size_t dim_local_pow2(size_t n, size_t cap);
const char *dim_kernel_name(const dim_kernel *k);

enum { DIM_ARG_BUF, DIM_ARG_MEM, DIM_ARG_INT, DIM_ARG_UINT, DIM_ARG_FLOAT, DIM_ARG_LOCAL };
typedef struct dim_arg {
	int kind;
	union {
		dim_buf buf;   /* DIM_ARG_BUF: two kernel args, the cl_mem and an int
				* offset in floats (buf.off / 4) */
		cl_mem mem;    /* DIM_ARG_MEM: the cl_mem alone */
		int i;
		unsigned u;
		float f;
		size_t local_bytes;
	} v;
} dim_arg;

#define DIM_BUF(b) ((dim_arg){.kind = DIM_ARG_BUF, .v.buf = (b)})
#define DIM_TBUF(t) DIM_BUF((t)->buf)
#define DIM_INT(x) ((dim_arg){.kind = DIM_ARG_INT, .v.i = (int)(x)})
#define DIM_UINT(x) ((dim_arg){.kind = DIM_ARG_UINT, .v.u = (unsigned)(x)})
#define DIM_FLOAT(x) ((dim_arg){.kind = DIM_ARG_FLOAT, .v.f = (float)(x)})
#define DIM_LOCAL(n) ((dim_arg){.kind = DIM_ARG_LOCAL, .v.local_bytes = (n)})

/* Enqueue k over `global` work-items (rounded up to a multiple of `local`;
 * kernels must bounds-check). local == NULL lets the driver choose. */
dim_status dim_launch(dim_ctx *ctx, dim_kernel *k, int work_dim, const size_t *global,
		      const size_t *local, int nargs, const dim_arg *args);
#define DIM_LAUNCH(ctx, k, work_dim, global, local, ...)                                   \
	dim_launch((ctx), (k), (work_dim), (global), (local),                              \
		   (int)(sizeof((dim_arg[]){__VA_ARGS__}) / sizeof(dim_arg)),              \
		   (dim_arg[]){__VA_ARGS__})

/* A 1-D launch of n work-items with a work-group size that suits the device. */
dim_status dim_launch_1d(dim_ctx *ctx, dim_kernel *k, size_t n, int nargs, const dim_arg *args);
#define DIM_LAUNCH_1D(ctx, k, n, ...)                                                     \
	dim_launch_1d((ctx), (k), (n), (int)(sizeof((dim_arg[]){__VA_ARGS__}) / sizeof(dim_arg)), \
		      (dim_arg[]){__VA_ARGS__})

/* ------------------------------------------------------------------ GEMM */

typedef enum dim_trans { DIM_NO_TRANS = 0, DIM_TRANS = 1 } dim_trans;

/* Row-major C[M×N] = alpha · op(A) · op(B) + beta · C, op(A) M×K, op(B) K×N.
 * Leading dimensions in elements; buffers as views (their byte offsets are
 * used). With beta == 0, C is overwritten (NaNs in C do not propagate). */
dim_status dim_gemm(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N, size_t K,
		    float alpha, dim_buf A, size_t lda, dim_buf B, size_t ldb, float beta,
		    dim_buf C, size_t ldc);

/* `batch` independent GEMMs; operand i starts at A.off + i*stride_a*4 etc. */
dim_status dim_gemm_batched(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N,
			    size_t K, float alpha, dim_buf A, size_t lda, size_t stride_a,
			    dim_buf B, size_t ldb, size_t stride_b, float beta, dim_buf C,
			    size_t ldc, size_t stride_c, size_t batch);

/* Force this context's GEMM backend: "own" (cl/gemm.cl, written for CPU
 * devices) or "clblast". DIM_ERR_ARG for any other name. */
dim_status dim_gemm_set_backend(dim_ctx *ctx, const char *name);

/* Record `name` as the measured-best backend for this device and driver in
 * the device store (cldim/tuning.h; `cldim bench` does, after timing both on
 * the DIM shapes). With the options' gemm DIM_GEMM_AUTO (CLDIM_GEMM unset or
 * "auto"), later contexts on the same device use the record; without one, the
 * rule is: own on CPU devices, CLBlast elsewhere. */
dim_status dim_gemm_record_backend(dim_ctx *ctx, const char *name);

/* Which implementation dim_gemm uses on this context ("clblast", ...). */
const char *dim_gemm_backend_name(const dim_ctx *ctx);

/* ------------------------------------------------------------------ cache */

typedef struct dim_cache_info {
	char dir[1024];
	unsigned entries;
	unsigned long long bytes;
} dim_cache_info;

/* Location and size of the kernel cache in dir (the options' cache_dir);
 * NULL or "" is DIM_ERR_ARG. */
dim_status dim_cache_query(const char *dir, dim_cache_info *out, dim_error *err);
/* Delete every cache entry in dir (only files cldim wrote). */
dim_status dim_cache_clear(const char *dir, unsigned *removed, dim_error *err);

/* ------------------------------------------------------------------ staging */

/* Host staging buffers: host memory for copies the host does not wait for.
 * Pinned where the driver gives it (a CL_MEM_ALLOC_HOST_PTR buffer, mapped
 * once: page-locked on GPU drivers, copied by DMA), else plain malloc'd
 * memory (the copies are then ordinary non-blocking copies from it).
 * Copies are enqueued on the context's in-order queue, behind the work
 * already queued; the staging buffer's fence is its last copy, and
 * dim_staging_wait waits for it (so for every copy of that buffer). Until
 * then the host must not change the bytes a pending write reads, nor read
 * the bytes a pending read fills. Errors go to dim_ctx_error(ctx).
 * A staging buffer belongs to one context and is destroyed before it. */
typedef struct dim_staging dim_staging;

enum { DIM_STAGING_PLAIN = 1 }; /* flag: plain host memory, no pinned buffer */

/* bytes == 0 or unknown flags: DIM_ERR_ARG. */
dim_status dim_staging_create(dim_ctx *ctx, size_t bytes, unsigned flags, dim_staging **out);
/* Waits for its pending copies first. NULL is a no-op. */
void dim_staging_destroy(dim_staging *s);
void *dim_staging_ptr(dim_staging *s);
size_t dim_staging_bytes(const dim_staging *s);
bool dim_staging_pinned(const dim_staging *s); /* false: the malloc fallback */

/* Enqueue a copy of staging bytes [soff, soff+bytes) into dst at byte `off`
 * (write), or of src's bytes at `off` into the staging buffer at soff
 * (read), and return at once. A range outside either side: DIM_ERR_ARG,
 * nothing enqueued; bytes == 0: nothing to do. */
dim_status dim_staging_write(dim_staging *s, size_t soff, dim_buf dst, size_t off, size_t bytes);
dim_status dim_staging_read(dim_staging *s, size_t soff, dim_buf src, size_t off, size_t bytes);
/* Hand the queued work to the device now (clFlush) without waiting. */
dim_status dim_staging_flush(dim_staging *s);
/* The fence: wait until every copy enqueued on s so far is done. */
dim_status dim_staging_wait(dim_staging *s);
/* Whether a copy was enqueued on s since the last dim_staging_wait. */
bool dim_staging_busy(const dim_staging *s);

/* A one-shot wait hook: `fn(user)` runs once, the next time the context is
 * about to block on the device (dim_read, dim_write, dim_tensor_read/write,
 * dim_finish), after the queue was flushed, and is then cleared. Host work
 * that is independent of the queued kernels (preparing the next batch) runs
 * there while the device computes. The hook may enqueue work and wait; it
 * returns nothing, so it keeps its own errors. NULL fn clears it. */
typedef void (*dim_wait_hook)(void *user);
void dim_ctx_set_wait_hook(dim_ctx *ctx, dim_wait_hook fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
