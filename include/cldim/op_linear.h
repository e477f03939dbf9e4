/* cldim — dense layer (PyTorch Linear): y = x * weight^T + bias.
 *
 * Shapes: x [..., I] (M rows = product of the leading dims), weight [O, I]
 * (PyTorch layout), bias [O] or NULL, y [..., O] with the same leading dims.
 * Contiguous fp32, row-major. Products go through dim_gemm:
 *   y  = x * W^T        (M x O)
 *   dx = dy * W         (M x I)
 *   dW += dy^T * x      (O x I)
 *   db += column sums of dy (one work-item per column, fixed order)
 *
 * Gradient contract: dweight and dbias accumulate (+=); dx is written (=)
 * when accumulate == 0 and added (+=) when accumulate == 1. A NULL gradient
 * is not computed. Enqueues work only. */
#ifndef CLDIM_OP_LINEAR_H
#define CLDIM_OP_LINEAR_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

dim_status dim_linear_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x,
			      const dim_tensor *weight, const dim_tensor *bias);

/* y += x * weight^T + bias (GEMM with beta = 1): the second term of a sum of
 * dense layers, added without a separate pass. */
dim_status dim_linear_forward_add(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x,
				  const dim_tensor *weight, const dim_tensor *bias);

dim_status dim_linear_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
			       const dim_tensor *dweight, const dim_tensor *dbias,
			       const dim_tensor *dy, const dim_tensor *x, const dim_tensor *weight);

#ifdef __cplusplus
}
#endif
#endif
