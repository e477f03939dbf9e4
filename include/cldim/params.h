/* cldim — named parameters, PyTorch-compatible shapes and initialisation.
 *
 * A dim_params is a list of named fp32 tensors (values and gradients) living in
 * one device arena each. Names and layouts follow PyTorch ("enc.c1.weight",
 * conv weights OIHW, linear weights [out, in]), so a checkpoint maps 1:1 onto
 * a torch state_dict. Gradients accumulate (+=) until dim_params_zero_grad. */
#ifndef CLDIM_PARAMS_H
#define CLDIM_PARAMS_H

#include <stdint.h>

#include "cldim/base.h"
#include "cldim/op_optim.h"
#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_param {
	char name[96];
	dim_tensor value;
	dim_tensor grad;
	bool trainable;   /* false for buffers such as BN running statistics */
} dim_param;

typedef struct dim_params {
	dim_ctx *ctx;
	dim_arena *values; /* device memory of values (and buffers) */
	dim_arena *grads;  /* device memory of gradients */
	dim_param **items;
	int count, cap;
} dim_params;

dim_status dim_params_init(dim_params *ps, dim_ctx *ctx, const char *name);
void dim_params_free(dim_params *ps);

/* Add a parameter; *out points into the set (stable until it is freed).
 * Values start at zero; use the init functions below. */
dim_status dim_params_add(dim_params *ps, const char *name, int ndim, const int *shape,
			  bool trainable, dim_param **out);
dim_param *dim_params_find(const dim_params *ps, const char *name);
size_t dim_params_numel(const dim_params *ps, bool trainable_only);

dim_status dim_params_zero_grad(dim_params *ps);

/* The counter-based generator (dim_rng_u64, ...) is in cldim/base.h. */

/* Initialisations with PyTorch's distributions. fan_in = in * kh * kw.
 * Conv2d/Linear weight: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), +).
 * Conv2d/Linear bias:   U(-1/sqrt(fan_in), +1/sqrt(fan_in)).
 * BatchNorm/LayerNorm:  weight 1, bias 0; running_mean 0, running_var 1. */
dim_status dim_param_init_uniform(dim_ctx *ctx, dim_param *p, float lo, float hi, uint64_t seed);
dim_status dim_param_init_normal(dim_ctx *ctx, dim_param *p, float mean, float std,
				 uint64_t seed);
dim_status dim_param_init_const(dim_ctx *ctx, dim_param *p, float value);
dim_status dim_param_init_fan_in(dim_ctx *ctx, dim_param *p, int fan_in, uint64_t seed);

/* Host copies (blocking). */
dim_status dim_param_get(dim_ctx *ctx, const dim_param *p, float *dst);
dim_status dim_param_set(dim_ctx *ctx, dim_param *p, const float *src);

/* Optimizers (cldim/op_optim.h) over the trainable parameters of ps, which
 * must outlive the optimizer and gain no parameters afterwards. */
dim_status dim_adam_create(dim_params *ps, const dim_adam_desc *d, dim_optim **out);
dim_status dim_sgd_create(dim_params *ps, const dim_sgd_desc *d, dim_optim **out);
/* A view of slot `slot` (op_optim.h) of the optimizer's state for trainable
 * parameter p (shape of p's value). */
dim_status dim_optim_state(const dim_optim *o, const dim_param *p, int slot, dim_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
