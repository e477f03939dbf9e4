/* cldim — layer 5: the Deep InfoMax objective and its training step.
 *
 *   loss_enc  = α·Î_global + β·Î_local + γ·mean softplus(−D(σ(Y)))
 *   loss_disc = mean softplus(−D(z)) + mean softplus(D(σ(Y).detach())),  z ~ U[0,1]^d
 *
 * where each Î term is the estimator's loss (JSD, NCE or DV; lower = more
 * MI) computed from the score matrix of the critic (include/cldim/op_mi.h).
 * The encoder and both critics share one Adam (as in the official code, where
 * the MI nets live in the encoder's module); the prior discriminator has its
 * own Adam and steps after the encoder, on σ(Y) from the same forward pass.
 * The method and its deviations from the paper are in docs/method.md. */
#ifndef CLDIM_DIM_H
#define CLDIM_DIM_H

#include "cldim/models.h"
#include "cldim/op_mi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dim_local_critic {
	DIM_CRITIC_DOT = 0,    /* encode-and-dot product, all in-batch negatives */
	DIM_CRITIC_CONCAT = 1, /* concat-and-convolve, one shuffled negative per location */
} dim_local_critic;

typedef struct dim_config {
	char encoder[32];      /* basic28 | dcgan28 | dcgan32 | dcgan64 | alexnet64 | ... */
	int in_channels;       /* image channels (1 for Fashion-MNIST, 3 otherwise) */
	int y_dim;             /* global vector size (64) */
	int mi_units;          /* embedding width D of the local critic (2048) */
	int global_hidden;     /* hidden width of the global critic (512) */
	dim_mi_kind estimator; /* JSD | NCE | DV */
	dim_local_critic local_critic;
	int concat_hidden;     /* width of the concat-and-convolve critic (512) */
	float alpha, beta, gamma; /* gamma 0: no prior term and the discriminator is
				   * neither computed nor trained (its metrics NaN) */
	float lr, beta1, beta2, adam_eps; /* Adam for encoder+critics and for the prior */
	uint64_t seed;
} dim_config;

/* The paper's defaults (docs/method.md §6): dcgan32, Y 64, D 2048, JSD,
 * DIM(L) preset α=0 β=1 γ=0.1, Adam lr 1e-4 betas (0.5, 0.999). */
dim_config dim_config_default(void);

/* Presets by name: "local" (DIM(L): 0, 1, 0.1), "global" (DIM(G): 1, 0, 1),
 * "local+global" (DIM(L+G): 0.5, 0.1, 0.1), "local-noprior" (0, 1, 0). */
dim_status dim_config_preset(dim_config *c, const char *name, dim_error *err);

typedef struct dim_model dim_model;

dim_status dim_model_create(dim_ctx *ctx, const dim_config *cfg, dim_model **out);
void dim_model_destroy(dim_model *m);

const dim_config *dim_model_config(const dim_model *m);
const dim_encoder *dim_model_encoder(const dim_model *m);
/* Encoder + critics (the "encoder" optimizer's set) and the discriminator. */
dim_params *dim_model_params(dim_model *m);
dim_params *dim_model_prior_params(dim_model *m);

typedef struct dim_step_metrics {
	float local, global, prior_enc, prior_disc; /* loss terms (NaN when unused) */
	float total;                                /* encoder loss */
	float mi_local, mi_global;                  /* −loss (JSD, DV) or the NCE bound */
} dim_step_metrics;

/* Forward of every term and backward into the parameter gradients, without
 * optimizer steps (zeroes gradients first). z: N×y_dim prior samples on the
 * host (NULL: drawn from the seed and step). Used by the step and by the
 * PyTorch parity test, which then reads the gradients. */
dim_status dim_model_forward_backward(dim_model *m, const dim_tensor *x, const float *z,
				      dim_step_metrics *out);

/* One full training step: forward_backward, Adam on encoder+critics, then
 * the discriminator's Adam. x is a device batch [N, C, S, S] (N >= 2). A
 * non-finite loss term returns DIM_ERR_NUMERIC naming the term; parameters
 * are then left as they were before this step's updates. */
dim_status dim_train_step(dim_model *m, const dim_tensor *x, dim_step_metrics *out);

/* Called by the training steps after forward/backward and before both
 * optimizers, with the gradients of both parameter sets (dim_model_params,
 * dim_model_prior_params) in place: it may rewrite them (data-parallel
 * averaging, include/cldim/mpi.h). A non-zero status aborts the step before
 * any update. fn = NULL removes the hook. */
typedef dim_status (*dim_grad_hook)(void *user, dim_model *m);
void dim_model_set_grad_hook(dim_model *m, dim_grad_hook fn, void *user);

/* One optimizer step over `micro` equal micro-batches of x (N divisible by
 * micro, N/micro >= 2): forward_backward on each slice of N/micro images,
 * gradients summed then scaled 1/micro, then the grad hook and both Adams.
 * Batch-norm statistics, negatives and prior samples are per micro-batch,
 * exactly as on `micro` data-parallel replicas each holding one slice.
 * Metrics are the mean over micro-batches. micro = 1 is dim_train_step. */
dim_status dim_train_step_accum(dim_model *m, const dim_tensor *x, int micro,
				dim_step_metrics *out);

/* The negatives of the last step for the concat-and-convolve critic: row
 * n*L + l was paired with row neg[n*L + l] (image pi_l(n), location l).
 * Copies at most n entries; returns how many there are (0 for dot). */
int dim_model_negatives(const dim_model *m, int *neg, int n);

/* Device memory the model holds, in bytes: parameters and buffers, their
 * gradients, Adam's two moments, and the activation arenas (sized by the
 * first step). */
typedef struct dim_model_memory {
	size_t params, grads, optimizer, activations;
} dim_model_memory;
dim_model_memory dim_model_memory_use(const dim_model *m);

/* Steps taken so far (drives Adam's bias correction and prior sampling). */
long long dim_model_step(const dim_model *m);
void dim_model_set_step(dim_model *m, long long step);

#ifdef __cplusplus
}
#endif
#endif
