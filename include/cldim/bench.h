/* cldim — measurements for `cldim bench`: a device's measured peak (fp32 FMA
 * throughput, memory bandwidth) and timings of GEMMs and whole steps, each as
 * the median and spread of repeats after warm-up. Timings wait for the device
 * (dim_finish) before the clock stops. Benchmarks measure; tests never time. */
#ifndef CLDIM_BENCH_H
#define CLDIM_BENCH_H

#include "cldim/runtime.h"

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

#ifdef __cplusplus
}
#endif
#endif
