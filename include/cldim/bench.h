/* cldim — measurements for `cldim bench`: a device's measured peak (fp32 FMA
 * throughput, memory bandwidth) and timings of GEMMs and whole steps, each as
 * the median and spread of repeats after warm-up. Timings wait for the device
 * (dim_finish) before the clock stops. Benchmarks measure; tests never time. */
#ifndef CLDIM_BENCH_H
#define CLDIM_BENCH_H

#include "cldim/dim.h"
#include "cldim/runtime.h"
#include "cldim/tuning.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_timing {
	double median_s, min_s, max_s;
	int reps;
} dim_timing;

/* Median/min/max of n samples (sorted in place). */
dim_timing dim_timing_from(double *samples, int n);

typedef struct dim_peak {
	double gflops;        /* measured fp32 FMA GFLOP/s */
	double gbps;          /* measured copy bandwidth, GB/s (read + write) */
	dim_timing fma_time, copy_time;
	double compile_s;     /* time to build the bench kernels (cold or cached) */
} dim_peak;

dim_status dim_bench_peak(dim_ctx *ctx, int reps, dim_peak *out);

/* C[M×N] = op(A)·op(B) on device buffers it allocates; returns the timing of
 * one GEMM (median over reps after `warmup` calls). */
dim_status dim_bench_gemm(dim_ctx *ctx, dim_trans ta, dim_trans tb, int M, int N, int K,
			  int warmup, int reps, dim_timing *out);

/* Forward and backward (dX and dW) of every convolution of encoder e at
 * `batch`, on random data; up to max layers into out[], count in *n. */
typedef struct dim_bench_conv_result {
	int layer;                  /* index into e->layers */
	char shape[96];
	double flops_fwd, flops_bwd;
	dim_timing fwd, bwd;
} dim_bench_conv_result;
dim_status dim_bench_conv(dim_ctx *ctx, const dim_encoder *e, int batch, int warmup, int reps,
			  dim_bench_conv_result *out, int max, int *n);

/* The MI estimator kernels (op_mi.h) on scores [N, N, L]. */
dim_status dim_bench_mi(dim_ctx *ctx, dim_mi_kind kind, int N, int L, int warmup, int reps,
			dim_timing *fwd, dim_timing *bwd);

/* A whole DIM training step (dim_train_step on a random batch) and
 * extraction (eval-mode encoder forward), on a model made from cfg. The
 * first step (kernel builds) is timed on its own; `warmup` counts it. */
typedef struct dim_bench_step_result {
	double first_step_s;        /* model creation + first step, builds included */
	dim_timing step, extract;
	double train_img_s, extract_img_s; /* batch / median */
	/* Memory of the training steps (extraction excluded). Host: the
	 * process's resident set (Linux /proc; < 0 where unreadable) just
	 * before the model is made, and its high-water mark over model
	 * creation and the steps (reset first through /proc/self/clear_refs
	 * so earlier work does not count). On a CPU device (PoCL) device
	 * buffers are host memory and are inside the RSS. Device: the
	 * high-water mark of dim_buf_create bytes over the same span. */
	double rss_base_mib, rss_peak_mib;
	double device_peak_mib;
} dim_bench_step_result;
dim_status dim_bench_step(dim_ctx *ctx, const dim_config *cfg, int batch, int warmup, int reps,
			  dim_bench_step_result *out);

/* A GEMM of the DIM step: C[M×N] = op(A)·op(B), ta/tb 1 for transposed. */
typedef struct dim_gemm_shape {
	const char *what;
	int ta, tb, M, N, K;
} dim_gemm_shape;

#define DIM_TUNE_MAX_SHAPES 32

/* Store a device's training images/s (and extraction images/s) in the speed
 * section of its record in the device store in dir (cldim/tuning.h), which
 * dim_device_select_opt("auto") reads. */
dim_status dim_bench_record_save(const char *dir, const dim_device_info *d, double train_img_s,
				 double extract_img_s, int batch, dim_error *err);

/* ---- which GEMM backend is faster (host/bench/gemm_backends.c) ---- */

typedef struct dim_gemm_backends_result {
	dim_timing t[2][DIM_TUNE_MAX_SHAPES]; /* per shape: [0] own, [1] CLBlast */
	double total_s[2];                    /* sums of the medians */
	int best;                             /* DIM_GEMM_OWN or DIM_GEMM_CLBLAST */
	const char *best_name;                /* "own" or "clblast" */
} dim_gemm_backends_result;

/* Time every shape with the own GEMM and with CLBlast (dim_bench_gemm, one
 * warm-up and reps repeats each) and take the backend with the least total.
 * With `record`, store it in the device store (dim_gemm_record_backend), from
 * which later contexts on this device take it. The context is left on
 * CLBlast: the caller sets the backend it wants next. */
dim_status dim_bench_gemm_backends(dim_ctx *ctx, const dim_gemm_shape *shapes, int n, int reps,
				   bool record, FILE *progress, dim_gemm_backends_result *r);

/* ---- the CLBlast GEMM parameter search (`cldim bench --tune`,
 * host/bench/gemm_search.c) ---- */


typedef struct dim_gemm_tune_opts {
	const dim_gemm_shape *shapes;
	int nshapes;
	double seconds;    /* time box for the search (the final check comes on top) */
	int reps;          /* timed repeats per shape and candidate (after 1 warm-up) */
	uint64_t seed;     /* candidate sampling */
	FILE *progress;    /* NULL: quiet */
} dim_gemm_tune_opts;


typedef struct dim_gemm_tune_result {
	dim_gemm_tuning best;
	double before_s[DIM_TUNE_MAX_SHAPES]; /* median per shape, CLBlast defaults */
	double after_s[DIM_TUNE_MAX_SHAPES];  /* median per shape, with `best` set */
	int tried, failed;                    /* candidates measured / rejected */
	bool kept_defaults;                   /* the winner lost its re-check */
	double search_s;
} dim_gemm_tune_result;

/* Time the shapes with CLBlast's defaults (call on a context created with
 * no_gemm_tuning, before any override), search Xgemm and XgemmDirect
 * candidates and the switch point within the time box, set the winner and
 * time the shapes again. The GEMMs run through dim_gemm with the context
 * switched to CLBlast (its backend is restored at the end), so this tunes
 * CLBlast whatever backend the context uses. Does not save. */
dim_status dim_gemm_tune(dim_ctx *ctx, const dim_gemm_tune_opts *o, dim_gemm_tune_result *r);

#ifdef __cplusplus
}
#endif
#endif
