/* cldim — optimizers: Adam (torch.optim.Adam: L2 weight decay added to the
 * gradient, not AdamW; bias corrections 1 - beta^t) and SGD with momentum
 * (torch.optim.SGD with dampening 0, nesterov off), over a list of plain
 * (value, gradient) tensor pairs. The parameter-group front ends
 * dim_adam_create / dim_sgd_create / dim_optim_state, which take a
 * dim_params, are in cldim/params.h (autodiff layer).
 *
 * One kernel launch per contiguous span of the list: consecutive tensors
 * whose values and gradients lie in the same cl_mem at the same relative
 * offsets form one span, updated by one launch (the parameters of a
 * dim_params live in one arena per kind, so a model's parameters are usually
 * one span; a non-trainable buffer such as a BN running mean between two
 * trainable ones, or a new arena chunk, starts another).
 * dim_optim_launches tells how many launches a step takes.
 *
 * State (Adam exp_avg / exp_avg_sq, SGD momentum_buffer) lives in device
 * buffers the optimizer owns, zero at creation, laid out like the values;
 * dim_optim_var_state gives a tensor view per tensor for checkpoints.
 * A step reads the gradients as they are (zero them between steps) and
 * enqueues work only. */
#ifndef CLDIM_OP_OPTIM_H
#define CLDIM_OP_OPTIM_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hyper-parameters are doubles like PyTorch's Python floats: derived values
 * (1 - beta2, lr / (1 - beta1^t)) are formed in double and rounded to float
 * once, as torch.optim does. */
typedef struct dim_adam_desc {
	double lr;            /* PyTorch default 1e-3; DIM uses 1e-4 */
	double beta1, beta2;  /* PyTorch (0.9, 0.999); DIM uses (0.5, 0.999) */
	double eps;           /* 1e-8 */
	double weight_decay;  /* 0 */
} dim_adam_desc;

typedef struct dim_sgd_desc {
	double lr;
	double momentum;      /* 0 = plain SGD */
	double weight_decay;
} dim_sgd_desc;

/* Raw updates of one span of n elements; step t >= 1 is the step being
 * taken (Adam's bias corrections use it). */
dim_status dim_adam_update(dim_ctx *ctx, const dim_adam_desc *d, long t, dim_buf param,
			   dim_buf grad, dim_buf m, dim_buf v, size_t n);
dim_status dim_sgd_update(dim_ctx *ctx, const dim_sgd_desc *d, dim_buf param, dim_buf grad,
			  dim_buf momentum_buf, size_t n);

/* One tensor to optimize: its value and its gradient (same number of
 * elements). The optimizer keeps a copy of the views; the memory must outlive
 * it. */
typedef struct dim_optim_var {
	dim_tensor value;
	dim_tensor grad;
} dim_optim_var;

typedef struct dim_optim dim_optim;

/* An optimizer over vars[0..n) (n >= 0; the array is copied). */
dim_status dim_adam_create_vars(dim_ctx *ctx, const dim_optim_var *vars, int n,
				const dim_adam_desc *d, dim_optim **out);
dim_status dim_sgd_create_vars(dim_ctx *ctx, const dim_optim_var *vars, int n,
			       const dim_sgd_desc *d, dim_optim **out);
void dim_optim_destroy(dim_optim *o); /* NULL is a no-op */
dim_ctx *dim_optim_ctx(const dim_optim *o);

/* One update of every trainable parameter (step count + 1). */
dim_status dim_optim_step(dim_optim *o);

void dim_optim_set_lr(dim_optim *o, double lr);
double dim_optim_lr(const dim_optim *o);
/* Steps taken (Adam's t); set it when resuming from a checkpoint. */
long dim_optim_steps(const dim_optim *o);
void dim_optim_set_steps(dim_optim *o, long t);
/* Kernel launches per step (number of spans). */
int dim_optim_launches(const dim_optim *o);

/* State slots: Adam 0 = exp_avg, 1 = exp_avg_sq; SGD 0 = momentum_buffer.
 * Returns the number of slots. */
int dim_optim_state_slots(const dim_optim *o);
/* The index of the var whose value is `value` (same buffer, offset and
 * size), -1 when there is none. */
int dim_optim_var_index(const dim_optim *o, const dim_tensor *value);
/* A view of slot `slot` for var i (shape of its value); read or write it
 * with dim_tensor_read / dim_tensor_write. DIM_ERR_ARG for a bad index or
 * slot, or an empty var (it has no state). */
dim_status dim_optim_var_state(const dim_optim *o, int i, int slot, dim_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
