/* cldim — pooling: 2-D max pooling, 2-D average pooling and global average
 * pooling (PyTorch MaxPool2d / AvgPool2d / adaptive_avg_pool2d(1) semantics).
 *
 * Shapes: x [N, C, H, W] NCHW, y [N, C, OH, OW] with
 *   OH = (H + 2*pad_h - kernel_h [+ stride_h - 1 if ceil_mode]) / stride_h + 1,
 * reduced by one in ceil mode when the last window would start in the right
 * padding (PyTorch's rule); the same for W. Padding must be <= kernel / 2.
 * Max pooling saves argmax, int32 [N, C, OH, OW], the index h*W + w of the
 * maximum inside its plane (first maximum on ties, NaN wins, like PyTorch);
 * backward routes dy there. Average pooling divides by the window size
 * including padding (count_include_pad, PyTorch's default) or not.
 * Global average pooling: y [N, C] = mean over H, W of x.
 *
 * Gradient contract: dx is written (=) when accumulate == 0 and added (+=)
 * when accumulate == 1. Backward kernels gather (one work-item per input),
 * so there are no atomics and the order is fixed. Functions enqueue only. */
#ifndef CLDIM_OP_POOL_H
#define CLDIM_OP_POOL_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_pool2d_desc {
	int kernel_h, kernel_w;
	int stride_h, stride_w;  /* PyTorch's default stride is the kernel size */
	int pad_h, pad_w;
	bool ceil_mode;          /* false = floor (PyTorch default) */
	bool exclude_pad;        /* avg only: false = count_include_pad (default) */
} dim_pool2d_desc;

/* Output size along one axis (PyTorch's rule); <= 0 when invalid. */
int dim_pool2d_out_size(int in, int kernel, int stride, int pad, bool ceil_mode);

/* argmax: a view of at least N*C*OH*OW int32. */
dim_status dim_maxpool2d_forward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *y,
				 dim_buf argmax, const dim_tensor *x);
dim_status dim_maxpool2d_backward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *dx,
				  int accumulate, const dim_tensor *dy, dim_buf argmax);

dim_status dim_avgpool2d_forward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *y,
				 const dim_tensor *x);
dim_status dim_avgpool2d_backward(dim_ctx *ctx, const dim_pool2d_desc *d, const dim_tensor *dx,
				  int accumulate, const dim_tensor *dy);

/* y [N, C] = mean over (H, W) of x [N, C, H, W]. */
dim_status dim_global_avgpool_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x);
dim_status dim_global_avgpool_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
				       const dim_tensor *dy);

#ifdef __cplusplus
}
#endif
#endif
