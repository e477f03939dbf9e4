/* cldim — log-softmax + cross-entropy with integer labels (PyTorch's
 * F.cross_entropy with reduction='mean' and ignore_index=-1).
 *
 * Shapes: logits [N, K], logp [N, K] (the log-softmax, saved for backward),
 * labels int32 [N] in a device buffer (a view of N * 4 bytes; -1 = ignore,
 * e.g. STL-10's unlabeled images), loss [1] = mean over the non-ignored rows
 * of -logp[r][label[r]]. A label outside [-1, K) makes the loss NaN; no
 * labelled row at all gives 0/0 = NaN, as in PyTorch.
 *
 * Backward: dlogits = dloss * (softmax - onehot) / count for labelled rows,
 * 0 for ignored ones; written (=) when accumulate == 0, added (+=) when 1.
 * Scratch (N + 1 floats) comes from ws. Functions enqueue only. */
#ifndef CLDIM_OP_LOSS_H
#define CLDIM_OP_LOSS_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

dim_status dim_cross_entropy_forward(dim_ctx *ctx, dim_arena *ws, const dim_tensor *loss,
				     const dim_tensor *logp, const dim_tensor *logits,
				     dim_buf labels);
dim_status dim_cross_entropy_backward(dim_ctx *ctx, dim_arena *ws, const dim_tensor *dlogits,
				      int accumulate, const dim_tensor *dloss,
				      const dim_tensor *logp, dim_buf labels);

#ifdef __cplusplus
}
#endif
#endif
