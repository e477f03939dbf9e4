/* cldim — shape and element-wise ops: concat along channels (and its split),
 * broadcast of a vector over a spatial map, flatten/reshape, add, mul, scale,
 * add-scaled, and reductions (sum and mean over everything or per row).
 *
 * All tensors contiguous fp32, row-major. Flatten/reshape is a view and has
 * no raw op: on the tape it is dim_t_flatten / dim_t_reshape (cldim/tape_ops.h);
 * outside the tape copy the dim_tensor and call dim_tensor_set_shape.
 *
 * Gradient contract: input gradients are written (=) when their accumulate
 * flag is 0 and added (+=) when it is 1; a NULL gradient is not computed.
 * Reductions use a fixed-order tree (one work-group per row), so results are
 * deterministic. The functions enqueue work and never wait. */
#ifndef CLDIM_OP_TENSOR_H
#define CLDIM_OP_TENSOR_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y [N, Ca+Cb, ...] = concat(a [N, Ca, ...], b [N, Cb, ...]) along dim 1;
 * trailing dims equal (NCHW: along channels; [N, D]: along features). */
dim_status dim_concat_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *a,
			      const dim_tensor *b);
/* The split: da = dy[:, :Ca], db = dy[:, Ca:]. */
dim_status dim_concat_backward(dim_ctx *ctx, const dim_tensor *da, int acc_a,
			       const dim_tensor *db, int acc_b, const dim_tensor *dy);

/* y [N, C, H, W] = v [N, C] at every pixel (any y whose leading dims are v's).
 * Backward: dv = sum over the trailing (spatial) elements of dy. */
dim_status dim_broadcast_spatial_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *v);
dim_status dim_broadcast_spatial_backward(dim_ctx *ctx, const dim_tensor *dv, int accumulate,
					  const dim_tensor *dy);

/* y = a + b (same element counts; y may alias a or b). */
dim_status dim_add_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *a,
			   const dim_tensor *b);
dim_status dim_add_backward(dim_ctx *ctx, const dim_tensor *da, int acc_a, const dim_tensor *db,
			    int acc_b, const dim_tensor *dy);

/* y = a * b element-wise. Backward: da = dy * b, db = dy * a (da is written
 * before db is read-modified, so da and db may be the same tensor with
 * acc_b = 1 when a and b are the same input). */
dim_status dim_mul_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *a,
			   const dim_tensor *b);
dim_status dim_mul_backward(dim_ctx *ctx, const dim_tensor *da, int acc_a, const dim_tensor *db,
			    int acc_b, const dim_tensor *dy, const dim_tensor *a,
			    const dim_tensor *b);

/* y = alpha * x (y may alias x); backward dx = alpha * dy. */
dim_status dim_scale_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x, float alpha);
dim_status dim_scale_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
			      const dim_tensor *dy, float alpha);

/* y += alpha * x (an update, not a differentiable op). */
dim_status dim_add_scaled(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x, float alpha);

/* y [1] = sum (mean = false) or mean (true) of all elements of x. Large
 * inputs are reduced in two passes through a partial-sum buffer from ws. */
dim_status dim_sum_forward(dim_ctx *ctx, dim_arena *ws, const dim_tensor *y, const dim_tensor *x,
			   bool mean);
/* dx = dy[0] (/ numel when mean) everywhere. */
dim_status dim_sum_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
			    const dim_tensor *dy, bool mean);

/* Per-row: y [R] = sum (or mean) over each of R consecutive rows of x, where
 * R = numel(y) and the row length numel(x) / R ([N, D] -> [N]; also
 * [N, C, H, W] -> [N, C]). Backward spreads dy over each row. */
dim_status dim_sum_rows_forward(dim_ctx *ctx, const dim_tensor *y, const dim_tensor *x, bool mean);
dim_status dim_sum_rows_backward(dim_ctx *ctx, const dim_tensor *dx, int accumulate,
				 const dim_tensor *dy, bool mean);

#ifdef __cplusplus
}
#endif
#endif
