/* cldim — 2-D convolution (PyTorch Conv2d semantics, groups = dilation = 1).
 *
 * Shapes: x [N, C, H, W] (NCHW), weight [O, C, KH, KW] (OIHW), bias [O] or
 * NULL, y [N, O, OH, OW] with OH = (H + 2*pad_h - KH) / stride_h + 1 (same for
 * W). All tensors contiguous fp32.
 *
 * How: im2col + GEMM. Forward runs per-image GEMMs (one strided batched
 * call, W shared) when an image has >= 64 output pixels, else one GEMM over
 * the whole batch plus a permute back to NCHW (chosen by measurement on
 * PoCL, see host/ops/conv.c). 1x1 convolutions with stride 1 and pad 0 skip
 * im2col: Y_n[O][HW] = W[O][C] * X_n[C][HW]. Backward uses one GEMM over the
 * batch for dW and dX, and a gather col2im (deterministic, no atomics).
 *
 * Gradient contract: dweight and dbias accumulate (+=); dx is written (=)
 * when accumulate == 0 and added (+=) when accumulate == 1. A NULL gradient
 * is not computed. Temporaries come from `ws` (the caller rewinds it); the
 * functions enqueue work and never wait for the device. */
#ifndef CLDIM_OP_CONV_H
#define CLDIM_OP_CONV_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_conv2d_desc {
	int stride_h, stride_w; /* >= 1 */
	int pad_h, pad_w;       /* >= 0, zero padding on both sides */
} dim_conv2d_desc;

/* Output size along one axis; <= 0 when the kernel does not fit. */
int dim_conv2d_out_size(int in, int kernel, int stride, int pad);

/* y = conv(x, weight) + bias. y must already have shape [N, O, OH, OW]. */
dim_status dim_conv2d_forward(dim_ctx *ctx, const dim_conv2d_desc *d, dim_arena *ws,
			      const dim_tensor *y, const dim_tensor *x, const dim_tensor *weight,
			      const dim_tensor *bias);

/* From dy [N, O, OH, OW]: dx (=/+= by accumulate), dweight +=, dbias +=. */
dim_status dim_conv2d_backward(dim_ctx *ctx, const dim_conv2d_desc *d, dim_arena *ws,
			       const dim_tensor *dx, int accumulate, const dim_tensor *dweight,
			       const dim_tensor *dbias, const dim_tensor *dy, const dim_tensor *x,
			       const dim_tensor *weight);

#ifdef __cplusplus
}
#endif
#endif
