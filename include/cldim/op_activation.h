/* cldim — element-wise activations: ReLU, LeakyReLU, sigmoid, tanh, softplus
 * (PyTorch semantics; softplus with beta = 1 in the stable form
 * max(x, 0) + log1p(exp(-|x|)), which equals PyTorch's threshold-20 version
 * to within fp32 rounding).
 *
 * Shapes: any; x, y, dx, dy have the same number of elements (contiguous).
 * Backward needs what forward saved: the output y for relu, sigmoid and tanh,
 * the input x for leaky_relu and softplus (dim_act_saves_output tells which);
 * the other may be NULL.
 *
 * Gradient contract: dx is written (=) when accumulate == 0 and added (+=)
 * when accumulate == 1. The functions enqueue work and never wait. */
#ifndef CLDIM_OP_ACTIVATION_H
#define CLDIM_OP_ACTIVATION_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dim_act {
	DIM_ACT_RELU = 0,
	DIM_ACT_LEAKY_RELU = 1,
	DIM_ACT_SIGMOID = 2,
	DIM_ACT_TANH = 3,
	DIM_ACT_SOFTPLUS = 4,
} dim_act;

typedef struct dim_act_desc {
	dim_act kind;
	float slope; /* leaky_relu negative slope (PyTorch default 0.01) */
} dim_act_desc;

/* true when backward reads y (relu, sigmoid, tanh), false when it reads x. */
bool dim_act_saves_output(dim_act kind);
const char *dim_act_name(dim_act kind);

/* y = f(x). y may alias x (in place). */
dim_status dim_activation_forward(dim_ctx *ctx, const dim_act_desc *d, const dim_tensor *y,
				  const dim_tensor *x);

/* dx (=/+= by accumulate) = dy * f'(.) from the saved x or y. */
dim_status dim_activation_backward(dim_ctx *ctx, const dim_act_desc *d, const dim_tensor *dx,
				   int accumulate, const dim_tensor *dy, const dim_tensor *x,
				   const dim_tensor *y);

#ifdef __cplusplus
}
#endif
#endif
