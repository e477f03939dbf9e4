/* cldim — batch normalisation, 1-D ([N, C] or [N, C, L]) and 2-D
 * ([N, C, H, W]), with PyTorch's BatchNorm semantics.
 *
 * Per channel c, over the M = N*H*W values of that channel:
 *   training:   y = (x - mean) / sqrt(var + eps) * weight + bias, with the
 *               batch mean and biased variance; running_mean and running_var
 *               (when given) become (1-momentum)*running + momentum*batch, the
 *               variance term being the unbiased var*M/(M-1). M must be > 1.
 *   evaluation: the same with running_mean / running_var in place of the
 *               batch statistics (they must be given).
 * weight and bias are optional (affine = false: NULL both). Forward saves
 * mean [C] and rstd = 1/sqrt(var + eps) [C] (the running statistics in
 * evaluation), which is all backward needs besides x.
 *
 * Gradient contract: dweight and dbias accumulate (+=); dx is written (=)
 * when accumulate == 0 and added (+=) when accumulate == 1. A NULL gradient
 * is not computed. Per-channel sums use one work-group per channel and a
 * fixed reduction order (deterministic). Enqueues work only. */
#ifndef CLDIM_OP_BATCHNORM_H
#define CLDIM_OP_BATCHNORM_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_batchnorm_desc {
	float eps;      /* PyTorch default 1e-5 */
	float momentum; /* PyTorch default 0.1 */
	int training;   /* 1: batch statistics (+ running update), 0: running statistics */
} dim_batchnorm_desc;

#define DIM_BATCHNORM_DEFAULTS ((dim_batchnorm_desc){1e-5f, 0.1f, 1})

/* save_mean, save_rstd: [C] outputs for backward. running_mean/running_var:
 * [C] state, read in evaluation and updated in training (NULL: not tracked,
 * training only). */
dim_status dim_batchnorm_forward(dim_ctx *ctx, const dim_batchnorm_desc *d, const dim_tensor *y,
				 const dim_tensor *save_mean, const dim_tensor *save_rstd,
				 const dim_tensor *running_mean, const dim_tensor *running_var,
				 const dim_tensor *x, const dim_tensor *weight,
				 const dim_tensor *bias);

/* d->training must be what forward used. ws holds 2*C floats of sums. */
dim_status dim_batchnorm_backward(dim_ctx *ctx, const dim_batchnorm_desc *d, dim_arena *ws,
				  const dim_tensor *dx, int accumulate, const dim_tensor *dweight,
				  const dim_tensor *dbias, const dim_tensor *dy,
				  const dim_tensor *x, const dim_tensor *weight,
				  const dim_tensor *save_mean, const dim_tensor *save_rstd);

#ifdef __cplusplus
}
#endif
#endif
