/* cldim — per-device tuning that later runs pick up on their own:
 *
 *  1. CLBlast GEMM parameters (kernels "Xgemm", "XgemmDirect" and the
 *     direct/indirect switch "GemmRoutine"), searched by `cldim bench --tune`
 *     for the DIM shapes, stored per device + driver as a small text file in
 *     the cache directory, and applied to CLBlast (CLBlastOverrideParameters)
 *     by every dim_ctx_create on that device. CLDIM_GEMM_TUNING=0 skips it.
 *  2. Bench records: `cldim bench` stores each device's training images/s in
 *     the cache directory; `--device auto` then picks the best recorded device
 *     (host/runtime/records.c reads them, host/bench/record.c writes them).
 *     CLDIM_BENCH_RECORDS=0 ignores them.
 *
 * Files (in dim_cache_default_dir, or the context's cache dir):
 *   gemm-tune-<16 hex>.txt  and  bench-<16 hex>.json, the hex being a hash
 *   of platform name, device name and driver version, so a driver update
 *   starts afresh. Both are plain text; a bad file is ignored with a warning. */
#ifndef CLDIM_TUNING_H
#define CLDIM_TUNING_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DIM_XGEMM_NPARAMS 16
#define DIM_XGEMM_DIRECT_NPARAMS 10

/* Parameter names in the order of the value arrays below. */
extern const char *const dim_xgemm_param_names[DIM_XGEMM_NPARAMS];
extern const char *const dim_xgemm_direct_param_names[DIM_XGEMM_DIRECT_NPARAMS];

typedef struct dim_gemm_tuning {
	bool has_xgemm, has_direct, has_routine; /* false: CLBlast's default */
	size_t xgemm[DIM_XGEMM_NPARAMS];
	size_t direct[DIM_XGEMM_DIRECT_NPARAMS];
	size_t min_indirect_size;                /* GemmRoutine XGEMM_MIN_INDIRECT_SIZE */
} dim_gemm_tuning;

/* Path of the tuning file for ctx's device ("" when no cache dir is known). */
void dim_gemm_tuning_path(const dim_ctx *ctx, char *buf, size_t n);

/* Write / read the tuning file (atomically: temp file + rename). Load: no
 * file is DIM_OK with *found = false; a malformed file is DIM_ERR_FORMAT
 * naming the file and line (message in the context). */
dim_status dim_gemm_tuning_save(dim_ctx *ctx, const dim_gemm_tuning *t);
dim_status dim_gemm_tuning_load(dim_ctx *ctx, dim_gemm_tuning *t, bool *found);

/* Hand t to CLBlast for ctx's device (process-wide for that device). */
dim_status dim_gemm_tuning_set(dim_ctx *ctx, const dim_gemm_tuning *t);

/* Called by dim_ctx_create: load and set the stored tuning if there is one.
 * Never fails the context: problems are logged as warnings. */
void dim_gemm_tuning_apply(dim_ctx *ctx);

/* What was last set for ctx's device in this process; false if nothing. */
bool dim_gemm_tuning_applied(const dim_ctx *ctx, dim_gemm_tuning *out);

/* "Xgemm MWG=64 NWG=64 ...; XgemmDirect ...; GemmRoutine ..." or "default". */
void dim_gemm_tuning_describe(const dim_gemm_tuning *t, char *buf, size_t n);

/* ---- the own GEMM's tile shape (host/runtime/gemm_own.c) ----
 * For experiments on the kernel (tools/bench/gemm_variants.c); the defaults
 * come from the CLDIM_GEMM_* switches when the context is made. */
typedef struct dim_gemm_own_shape {
	int mr, nv;        /* rows per work-item (1..16), float4 column groups (1..4) */
	int kc;            /* k-block (0: none, else up to 65536) */
	int gm;            /* work-group rows (1..256) */
	int swap_m;        /* M from which the operands are swapped (0: never) */
	bool pack_always;  /* pack both operands even when they could be read in place */
} dim_gemm_own_shape;

void dim_gemm_own_shape_get(const dim_ctx *ctx, dim_gemm_own_shape *out);
/* From now on ctx's dim_gemm runs the own kernel with shape s (own = true,
 * s may be NULL to keep the current one) or CLBlast (own = false). A shape
 * out of range is DIM_ERR_ARG. */
dim_status dim_gemm_use(dim_ctx *ctx, bool own, const dim_gemm_own_shape *s);

/* ---- the search (`cldim bench --tune`) ---- */

typedef struct dim_gemm_shape {
	const char *what;
	int ta, tb, M, N, K;
} dim_gemm_shape;

typedef struct dim_gemm_tune_opts {
	const dim_gemm_shape *shapes;
	int nshapes;
	double seconds;    /* time box for the search (the final check comes on top) */
	int reps;          /* timed repeats per shape and candidate (after 1 warm-up) */
	uint64_t seed;     /* candidate sampling */
	FILE *progress;    /* NULL: quiet */
} dim_gemm_tune_opts;

#define DIM_TUNE_MAX_SHAPES 32

typedef struct dim_gemm_tune_result {
	dim_gemm_tuning best;
	double before_s[DIM_TUNE_MAX_SHAPES]; /* median per shape, CLBlast defaults */
	double after_s[DIM_TUNE_MAX_SHAPES];  /* median per shape, with `best` set */
	int tried, failed;                    /* candidates measured / rejected */
	bool kept_defaults;                   /* the winner lost its re-check */
	double search_s;
} dim_gemm_tune_result;

/* Time the shapes with CLBlast's defaults (call on a context created with
 * CLDIM_GEMM_TUNING=0, before any override), search Xgemm and XgemmDirect
 * candidates and the switch point within the time box, set the winner and
 * time the shapes again. CLBlast is called directly (not through dim_gemm),
 * so this tunes CLBlast whatever backend dim_gemm uses. Does not save. */
dim_status dim_gemm_tune(dim_ctx *ctx, const dim_gemm_tune_opts *o, dim_gemm_tune_result *r);

/* ---- bench records (read here, host/runtime/records.c; written by
 * dim_bench_record_save in cldim/bench.h) ---- */

void dim_bench_record_path(const dim_device_info *d, char *buf, size_t n);
/* Read a device's training images/s (and extraction images/s). */
bool dim_bench_record_load(const dim_device_info *d, double *train_img_s, double *extract_img_s);
/* Index of the device with the best recorded training images/s, or -1 when
 * records are off, missing for the device the plain "auto" rule would pick
 * (fallback_index), or for every device. Used by dim_device_select("auto"). */
int dim_bench_recorded_best(const dim_device_info *list, int count, int fallback_index);

#ifdef __cplusplus
}
#endif
#endif
