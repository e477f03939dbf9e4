/* cldim — dropout (PyTorch's inverted dropout: in training each element is
 * zeroed with probability p and the survivors scaled by 1 / (1 - p); in
 * evaluation it is the identity).
 *
 * The mask is counter-based: element i is kept when the top 32 bits of
 * dim_rng_u64(seed, step, i) are >= round(p * 2^32). Nothing is stored:
 * backward regenerates the same mask from (seed, step). Use a new step (or
 * seed) for every training step and every dropout layer.
 *
 * Shapes: any; x, y, dx, dy have the same number of elements.
 * Gradient contract: dx = mask * scale * dy, written (=) when accumulate == 0
 * and added (+=) when accumulate == 1. Functions enqueue only. */
#ifndef CLDIM_OP_DROPOUT_H
#define CLDIM_OP_DROPOUT_H

#include <stdint.h>

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_dropout_desc {
	float p;          /* drop probability, 0 <= p <= 1 */
	uint64_t seed;
	uint64_t step;    /* stream of the counter-based generator */
	bool training;    /* false: identity */
} dim_dropout_desc;

/* Host-side mask bit (the same rule as the kernel), for tests and tools. */
bool dim_dropout_keep(const dim_dropout_desc *d, uint64_t index);

/* y = dropout(x); y may alias x. */
dim_status dim_dropout_forward(dim_ctx *ctx, const dim_dropout_desc *d, const dim_tensor *y,
			       const dim_tensor *x);
dim_status dim_dropout_backward(dim_ctx *ctx, const dim_dropout_desc *d, const dim_tensor *dx,
				int accumulate, const dim_tensor *dy);

#ifdef __cplusplus
}
#endif
#endif
