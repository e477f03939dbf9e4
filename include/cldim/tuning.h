/* cldim — the per-device store, and the CLBlast tuning it carries.
 *
 * One small text file per device + driver in the cache directory (the
 * options' cache_dir), device-<16 hex>.txt, the hex being dim_device_key
 * (platform name, device name, driver version), so a driver update starts
 * afresh. It holds what `cldim bench` measured there, in sections:
 *  - the faster GEMM backend (own or CLBlast), which dim_gemm uses under
 *    DIM_GEMM_AUTO;
 *  - CLBlast GEMM parameters (kernels "Xgemm", "XgemmDirect" and the
 *    direct/indirect switch "GemmRoutine"), searched by `cldim bench --tune`
 *    (host/bench/gemm_search.c) and applied to CLBlast
 *    (CLBlastOverrideParameters) by every dim_ctx_create on that device unless
 *    the options' no_gemm_tuning (CLDIM_GEMM_TUNING=0);
 *  - the measured training and extraction images/s, with which
 *    dim_device_select_opt("auto") picks the fastest device unless the
 *    options' no_device_records (CLDIM_BENCH_RECORDS=0).
 * The runtime reads it (dim_ctx_create reads it once per context); writers
 * update one section and replace the file atomically (temp file, fsync,
 * rename). A missing, damaged, foreign or other-version file is a miss,
 * logged as a warning when it exists: never a failure. */
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

/* ---- the store ---- */

typedef struct dim_device_record {
	int gemm_backend;        /* DIM_GEMM_OWN or DIM_GEMM_CLBLAST; DIM_GEMM_AUTO: none */
	bool has_tuning;         /* a --tune result (all three kernels may be defaults) */
	dim_gemm_tuning tuning;
	bool has_speed;          /* a `cldim bench` step measurement */
	double train_img_s, extract_img_s;
	int batch;
	char time[32];           /* when it was measured, "2025-01-31T12:00:00Z" */
} dim_device_record;

/* Sections of a record, for dim_device_store_update. */
enum { DIM_STORE_BACKEND = 1, DIM_STORE_TUNING = 2, DIM_STORE_SPEED = 4 };

/* Hash of a device's platform name, device name and driver version: the
 * store's key. */
uint64_t dim_device_key(const dim_device_info *d);

/* dir/device-<key>.txt ("" when dir is NULL or ""). */
void dim_device_store_path(const char *dir, const dim_device_info *d, char *buf, size_t n);

/* The stored record of d into *r (zeroed first). false when there is none:
 * no directory, no file, or a damaged one (logged as a warning). */
bool dim_device_store_load(const char *dir, const dim_device_info *d, dim_device_record *r);

/* Replace the sections `what` (DIM_STORE_*) of d's record by r's, keep the
 * others (a damaged file keeps none), and write it atomically, creating dir. */
dim_status dim_device_store_update(const char *dir, const dim_device_info *d, unsigned what,
				   const dim_device_record *r, dim_error *err);

/* The store directory of ctx (the options' cache_dir; "" when none). */
const char *dim_ctx_store_dir(const dim_ctx *ctx);

/* ---- CLBlast tuning in the store ---- */

/* Path of the store file for ctx's device ("" when there is no directory). */
void dim_gemm_tuning_path(const dim_ctx *ctx, char *buf, size_t n);

/* Write / read the tuning section of ctx's device record. Load: no record or
 * no tuning in it is DIM_OK with *found = false (a damaged record too,
 * logged); save without a store directory is DIM_ERR_IO. */
dim_status dim_gemm_tuning_save(dim_ctx *ctx, const dim_gemm_tuning *t);
dim_status dim_gemm_tuning_load(dim_ctx *ctx, dim_gemm_tuning *t, bool *found);

/* Hand t to CLBlast for ctx's device (process-wide for that device). */
dim_status dim_gemm_tuning_set(dim_ctx *ctx, const dim_gemm_tuning *t);

/* Called by dim_ctx_create with the record it read: set its tuning if it
 * has one. Never fails the context: problems are logged as warnings. */
void dim_gemm_tuning_apply(dim_ctx *ctx, const dim_device_record *r);

/* What was last set for ctx's device in this process; false if nothing. */
bool dim_gemm_tuning_applied(const dim_ctx *ctx, dim_gemm_tuning *out);

/* "Xgemm MWG=64 NWG=64 ...; XgemmDirect ...; GemmRoutine ..." or "default". */
void dim_gemm_tuning_describe(const dim_gemm_tuning *t, char *buf, size_t n);

/* ---- the own GEMM's tile shape (host/runtime/gemm_own.c) ----
 * For experiments on the kernel (tools/bench/gemm_variants.c); the context's
 * shape comes from its options (dim_gemm_own_shape is in cldim/runtime.h). */
void dim_gemm_own_shape_get(const dim_ctx *ctx, dim_gemm_own_shape *out);
/* From now on ctx's dim_gemm runs the own kernel with shape s (own = true,
 * s may be NULL to keep the current one) or CLBlast (own = false). A shape
 * out of range is DIM_ERR_ARG. */
dim_status dim_gemm_use(dim_ctx *ctx, bool own, const dim_gemm_own_shape *s);

/* Index of the device with the best recorded training images/s in dir's
 * store, or -1 when records are missing for the device the plain "auto" rule
 * would pick (fallback_index), or for every device. Used by
 * dim_device_select_opt("auto"). */
int dim_device_store_best(const char *dir, const dim_device_info *list, int count,
			  int fallback_index);

#ifdef __cplusplus
}
#endif
#endif
