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

/* Store a device's training images/s (and extraction images/s) as its bench
 * record (atomically: temp file + rename). The runtime reads the records
 * (dim_bench_record_load, dim_bench_recorded_best in cldim/tuning.h). */
dim_status dim_bench_record_save(const dim_device_info *d, double train_img_s,
				 double extract_img_s, int batch, dim_error *err);

#ifdef __cplusplus
}
#endif
#endif
