/* cldim — the tape wrappers of the raw ops (autodiff layer).
 *
 * Each dim_t_<op> computes its forward through the raw op of
 * include/cldim/op_<op>.h (which knows nothing of the tape), allocates its
 * output in the tape's activation arena and, when training and a gradient
 * flows, records the backward node (host/autodiff/t_<op>.c). The gradient
 * contract is autodiff.h's.
 *
 * Every wrapper returns a status and its output var through *out, the last
 * argument: DIM_OK and the var, or an error (message in the tape's context)
 * and *out = NULL. An input var that is NULL is DIM_ERR_ARG. */
#ifndef CLDIM_TAPE_OPS_H
#define CLDIM_TAPE_OPS_H

#include <stdbool.h>

#include "cldim/autodiff.h"
#include "cldim/op_activation.h"
#include "cldim/op_batchnorm.h"
#include "cldim/op_conv.h"
#include "cldim/op_crops.h"
#include "cldim/op_dropout.h"
#include "cldim/op_layernorm.h"
#include "cldim/op_linear.h"
#include "cldim/op_loss.h"
#include "cldim/op_mi.h"
#include "cldim/op_pairwise.h"
#include "cldim/op_permute.h"
#include "cldim/op_pool.h"
#include "cldim/op_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- activation (cldim/op_activation.h) ----
 * The output has the shape of x. */
dim_status dim_t_activation(dim_tape *t, const dim_act_desc *d, dim_var *x, dim_var **out);
dim_status dim_t_relu(dim_tape *t, dim_var *x, dim_var **out);
dim_status dim_t_leaky_relu(dim_tape *t, dim_var *x, float slope, dim_var **out);
dim_status dim_t_sigmoid(dim_tape *t, dim_var *x, dim_var **out);
dim_status dim_t_tanh(dim_tape *t, dim_var *x, dim_var **out);
dim_status dim_t_softplus(dim_tape *t, dim_var *x, dim_var **out);

/* ---- batchnorm (cldim/op_batchnorm.h) ----
 * Batch statistics when the tape is training (dim_tape_training), running
 * statistics otherwise; d->training is ignored. w, b may be NULL (no affine);
 * running_mean/running_var are the module's buffers (non-trainable params),
 * required in evaluation. */
dim_status dim_t_batchnorm(dim_tape *t, const dim_batchnorm_desc *d, dim_var *x, dim_var *w,
			   dim_var *b, dim_param *running_mean, dim_param *running_var,
			   dim_var **out);

/* ---- conv (cldim/op_conv.h) ----
 * y = conv2d(x, w, b) recorded on the tape; b may be NULL. Scratch comes from
 * the tape's arena and is released again right after the op is enqueued. */
dim_status dim_t_conv2d(dim_tape *t, const dim_conv2d_desc *d, dim_var *x, dim_var *w,
			dim_var *b, dim_var **out);

/* ---- crops (cldim/op_crops.h) ---- */
/* x [N, C, H, W] -> crops [N*gh*gw, C, k, k]. */
dim_status dim_t_unfold_crops(dim_tape *t, dim_var *x, int k, int stride, dim_var **out);
/* x [N*gh*gw, C, h, w] -> [N, C*h*w, gh, gw]. */
dim_status dim_t_fold_crops(dim_tape *t, dim_var *x, int gh, int gw, dim_var **out);

/* ---- dropout (cldim/op_dropout.h) ----
 * Uses the tape's training flag (dropout is the identity in evaluation,
 * whatever d->training says). */
dim_status dim_t_dropout(dim_tape *t, const dim_dropout_desc *d, dim_var *x, dim_var **out);

/* ---- layernorm (cldim/op_layernorm.h) ----
 * y = layernorm over channels of x (w, b may be NULL). */
dim_status dim_t_layernorm(dim_tape *t, dim_var *x, dim_var *w, dim_var *b, float eps,
			   dim_var **out);

/* ---- linear (cldim/op_linear.h) ----
 * y = linear(x, w, b) on the tape; b may be NULL. */
dim_status dim_t_linear(dim_tape *t, dim_var *x, dim_var *w, dim_var *b, dim_var **out);

/* y = linear(x1, w1, b1) + linear(x2, w2) as one node (a residual block's
 * body plus its linear shortcut): the second product accumulates into the
 * first's output and both backward products read the same dy, so neither the
 * add nor its two gradient copies run. b1 may be NULL. */
dim_status dim_t_linear_sum(dim_tape *t, dim_var *x1, dim_var *w1, dim_var *b1, dim_var *x2,
			    dim_var *w2, dim_var **out);

/* ---- loss (cldim/op_loss.h) ----
 * Scalar [1] loss from logits [N, K]; labels must stay valid until backward. */
dim_status dim_t_cross_entropy(dim_tape *t, dim_var *logits, dim_buf labels, dim_var **out);

/* ---- mi (cldim/op_mi.h) ---- scores [N, N, L], [N, N*L] or [N, N] (L = 1) -> a scalar
 * loss var of shape [1]; its saved statistics live in the tape's arena. */
dim_status dim_t_mi(dim_tape *t, dim_mi_kind kind, dim_var *scores, dim_var **out);

/* ---- pairwise (cldim/op_pairwise.h) ---- a [N, H], b [N, H], bias [H] or NULL -> [N*N, H]. */
dim_status dim_t_pairwise(dim_tape *t, dim_var *a, dim_var *b, dim_var *bias, dim_var **out);

/* ---- permute (cldim/op_permute.h) ---- x [N, C, H, W] -> [N*H*W, C]. */
dim_status dim_t_permute_to_rows(dim_tape *t, dim_var *x, dim_var **out);
/* x [R, X] -> columns [c0, c0 + w) as [R, w]. */
dim_status dim_t_slice_cols(dim_tape *t, dim_var *x, int c0, int w, dim_var **out);
/* x [R, H] -> rows permuted by idx (R int32 on the device, a permutation). */
dim_status dim_t_gather_rows(dim_tape *t, dim_var *x, dim_buf idx, dim_var **out);

/* ---- pool (cldim/op_pool.h) ----
 * The argmax of max pooling lives in the tape's arena. */
dim_status dim_t_maxpool2d(dim_tape *t, const dim_pool2d_desc *d, dim_var *x, dim_var **out);
dim_status dim_t_avgpool2d(dim_tape *t, const dim_pool2d_desc *d, dim_var *x, dim_var **out);
dim_status dim_t_global_avgpool(dim_tape *t, dim_var *x, dim_var **out);

/* ---- tensor (cldim/op_tensor.h) ---- */
dim_status dim_t_concat_channels(dim_tape *t, dim_var *a, dim_var *b, dim_var **out);
/* v [N, C] -> [N, C, h, w]. */
dim_status dim_t_broadcast_spatial(dim_tape *t, dim_var *v, int h, int w, dim_var **out);
/* [N, ...] -> [N, prod(...)], a view. */
dim_status dim_t_flatten(dim_tape *t, dim_var *x, dim_var **out);
dim_status dim_t_reshape(dim_tape *t, dim_var *x, int ndim, const int *shape, dim_var **out);
dim_status dim_t_add(dim_tape *t, dim_var *a, dim_var *b, dim_var **out);
dim_status dim_t_mul(dim_tape *t, dim_var *a, dim_var *b, dim_var **out);
dim_status dim_t_scale(dim_tape *t, dim_var *x, float alpha, dim_var **out);
/* Scalar [1] results. */
dim_status dim_t_sum(dim_tape *t, dim_var *x, dim_var **out);
dim_status dim_t_mean(dim_tape *t, dim_var *x, dim_var **out);
/* [N, D] -> [N]. */
dim_status dim_t_sum_rows(dim_tape *t, dim_var *x, bool mean, dim_var **out);

#ifdef __cplusplus
}
#endif
#endif
