/* Private state of a DIM model (host/dim/).
 *
 * A batch goes down the layer once: step.c (dim_train_step[_accum]) calls
 * the objective (objective.c: forward and backward of every term through the
 * models and the tape), which reads this state (model.c: prior samples,
 * negatives, the buffers' backup); back in step.c the gradient hook and the
 * two optimizers run. */
#ifndef CLDIM_DIM_INTERNAL_H
#define CLDIM_DIM_INTERNAL_H

#include "cldim/dim.h"
#include "cldim/io.h"
#include "cldim/op_optim.h"

struct dim_optim;

struct dim_model {
	dim_ctx *ctx;
	dim_config cfg;
	dim_params params;        /* encoder + critics */
	dim_params prior_params;  /* discriminator */
	dim_encoder enc;
	dim_mi1x1 local_m, local_y;
	dim_global_critic glob;
	dim_concat_critic concat;
	dim_buf neg_dev;          /* concat critic: negative row indices (int32) */
	int *neg_host;
	int neg_n, neg_last;
	bool has_global;
	dim_mlp prior;
	dim_tape *tape, *dtape;
	struct dim_optim *opt, *prior_opt;
	dim_buf metrics;          /* scalars gathered for one read per step */
	dim_buf z_dev;            /* prior samples */
	float *z_host;
	int z_n;
	long long step;
	dim_arena *backup;        /* copies of the buffers (dim_model_buffers_save) */
	dim_grad_hook grad_hook;  /* see dim_model_set_grad_hook */
	void *grad_hook_user;
	struct dim_grad_accum *accum; /* dim_train_step_accum's sums (step.c) */
	/* profiling phases: encoder, local critic, estimator, global, prior, optimizer */
	int ph_enc, ph_local, ph_est, ph_global, ph_prior, ph_opt;
};

/* dim_train_step_accum's mirror of every trainable gradient, made on its
 * first use (model.c). */
struct dim_grad_accum {
	dim_arena *arena;
	dim_tensor *sum; /* one per trainable parameter: params, then prior_params */
	dim_tensor **grad;
	int n;
};
dim_status dim_model_accum_create(dim_model *m);
void dim_model_accum_free(dim_model *m);
/* Copy the non-trainable parameters (BN running statistics) aside before a
 * forward pass, and put them back when the step fails its finiteness check,
 * so a bad batch leaves no trace in the model. */
dim_status dim_model_buffers_save(dim_model *m);
dim_status dim_model_buffers_restore(dim_model *m);

/* Draw and upload the concat critic's negatives for N images of L locations. */
dim_status dim_model_negative_pairs(dim_model *m, int N, int L);
/* Upload N prior samples (z given, or drawn from seed and step) to z_dev. */
dim_status dim_model_prior_samples(dim_model *m, int N, const float *z);

/* Non-finite values, a negative running_var or Adam second moment in one
 * checkpoint tensor: DIM_ERR_FORMAT naming path, the tensor and the index. */
dim_status dim_checkpoint_check_tensor(const char *path, const dim_st_info *t, dim_error *err);

#endif
