/* cldim — layer normalisation over the channel axis at every location.
 *
 * x [N, C] or [N, C, H, W] (any [N, C, ...]): for each n and spatial
 * position, the C values are normalised with their own mean and biased
 * variance, y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]. This is
 * DIM's LayerNorm over the D channels of a feature map (PyTorch: permute to
 * NHWC, F.layer_norm over C, permute back; for [N, C] plain F.layer_norm).
 * weight and bias [C] are optional (NULL). Forward saves mean and rstd =
 * 1/sqrt(var + eps) per location (N*H*W values each, any shape of that size).
 *
 * Gradient contract: dweight and dbias accumulate (+=); dx is written (=)
 * when accumulate == 0 and added (+=) when accumulate == 1. A NULL gradient
 * is not computed. Per-channel sums are deterministic (fixed order).
 * Enqueues work only. */
#ifndef CLDIM_OP_LAYERNORM_H
#define CLDIM_OP_LAYERNORM_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

dim_status dim_layernorm_forward(dim_ctx *ctx, float eps, const dim_tensor *y,
				 const dim_tensor *save_mean, const dim_tensor *save_rstd,
				 const dim_tensor *x, const dim_tensor *weight,
				 const dim_tensor *bias);

dim_status dim_layernorm_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
				  const dim_tensor *dweight, const dim_tensor *dbias,
				  const dim_tensor *dy, const dim_tensor *x,
				  const dim_tensor *weight, const dim_tensor *save_mean,
				  const dim_tensor *save_rstd);

#ifdef __cplusplus
}
#endif
#endif
