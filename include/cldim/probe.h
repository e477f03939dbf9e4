/* cldim — evaluating frozen features (docs/method.md §8): linear and non-linear
 * classifier probes trained on the device with the tape, k-nearest-neighbour
 * classification and search (cosine), and the neural dependency measure.
 *
 * Features are host arrays, row-major [n, d]; labels int32 in [0, classes).
 * Probes copy one batch at a time to the device, so a feature set of any
 * size fits as long as it fits in host memory. */
#ifndef CLDIM_PROBE_H
#define CLDIM_PROBE_H

#include <stdint.h>

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_probe_opts {
	int hidden;        /* 0: linear probe, softmax regression Linear(d -> classes);
			    * > 0: the paper's probe Linear(d -> hidden) -> Dropout ->
			    * BatchNorm1d -> ReLU -> Linear(hidden -> classes) */
	float dropout;     /* 0.1 (non-linear only) */
	int epochs;        /* passes over the train set */
	int batch;         /* 64 */
	double lr, beta1, beta2; /* Adam */
	int milestones[2]; /* epochs after which lr is multiplied by 0.1; 0 = unused */
	int standardize;   /* z-score every feature with the train set's mean/std */
	double holdout;    /* > 0: this fraction of the train rows (the last of a
			    * seeded permutation, as dim_logreg_run splits) is held
			    * out and not trained on; after every epoch the probe is
			    * scored on it and the parameters of the best epoch
			    * (earliest on ties) are the result. 0: train on all
			    * rows, the result is the last epoch's. */
	int patience;      /* with holdout: stop once this many epochs in a row
			    * did not beat the best held-out accuracy (0: run all
			    * epochs) */
	uint64_t seed;     /* initialisation, batch order, dropout, held-out split */
} dim_probe_opts;

/* Linear: Adam lr 5e-3 betas (0.9, 0.999), standardised inputs, 10 epochs,
 * no held-out rows.
 * Non-linear: the paper's network, optimiser and schedule shape (hidden 200,
 * dropout 0.1, Adam betas (0.5, 0.999), batch 64, lr x 0.1 after epochs 50
 * and 100) at lr 1e-3, 10x the paper's 1e-4: the paper trains 1000 epochs
 * and averages the last 100; here at most 100 epochs, the epoch chosen on 10%
 * held-out train rows, stopping after 20 epochs without a better held-out
 * accuracy (docs/method.md §8 and §10). */
dim_probe_opts dim_probe_linear_defaults(void);
dim_probe_opts dim_probe_mlp_defaults(void);

typedef struct dim_probe_result {
	double train_acc, test_acc; /* fractions in [0, 1]; train: the rows trained on */
	double heldout_acc;         /* at the best epoch; -1 without held-out rows */
	double final_loss;          /* mean train loss of the last epoch run */
	int epochs;                 /* epochs run (fewer than asked when stopped early) */
	int best_epoch;             /* the epoch whose parameters were scored */
} dim_probe_result;

/* Train on (xtr, ytr), report accuracy on (xte, yte). Deterministic for a
 * seed on one device. */
dim_status dim_probe_run(dim_ctx *ctx, const dim_probe_opts *o, int d, int classes,
			 const float *xtr, const int32_t *ytr, size_t ntr, const float *xte,
			 const int32_t *yte, size_t nte, dim_probe_result *out);

/* The linear probe solved to convergence: multinomial logistic regression
 * (softmax of x W^T + b) on standardised features, minimising
 *     mean cross-entropy + (l2 / 2) * ||W||^2      (the bias is not penalised)
 * with full-batch L-BFGS (memory `history`, Armijo backtracking). Logits and
 * the weight gradient are two dim_gemm calls over the standardised train rows,
 * held on the device in blocks; the objective, the bias and the L-BFGS state
 * are double precision on the host.
 *
 * Stopping rule, checked once per iteration, first to hold wins:
 *   "gradient"   max |gradient| <= gtol: converged;
 *   "objective"  the objective fell by <= ftol * max(1, |objective|) over the
 *                iteration: converged (stalled);
 *   "precision"  no step along a descent direction lowers the objective as
 *                computed (fp32 GEMMs): converged to working precision;
 *   "iterations" max_iter reached: NOT converged (result.converged = 0).
 * The rule that fired, the iteration count and max |gradient| are reported.
 *
 * l2 < 0 chooses the penalty: the train rows are split (seeded permutation)
 * into a fit part and a held-out part of `holdout` of the rows; each value of
 * `grid` is fitted on the fit part (largest first, each warm-started from the
 * previous) and scored on the held-out part; the best held-out accuracy wins
 * (ties: the larger penalty). Once two values in a row score below the best,
 * the smaller ones are skipped (held-out accuracy -1). The chosen penalty is
 * then refitted on all train rows, warm-started. */
#define DIM_LOGREG_MAX_GRID 16

typedef struct dim_logreg_opts {
	double l2;         /* penalty; < 0: choose from grid on held-out train rows */
	double grid[DIM_LOGREG_MAX_GRID];
	int ngrid;
	double holdout;    /* fraction of train rows held out for the choice */
	int max_iter;      /* L-BFGS iterations per fit */
	int history;       /* L-BFGS memory */
	double gtol, ftol; /* stopping rule (above) */
	int standardize;   /* z-score with the train rows' mean/std */
	uint64_t seed;     /* held-out split */
} dim_logreg_opts;

typedef struct dim_logreg_result {
	double train_acc, test_acc; /* fractions in [0, 1] */
	double l2;                  /* the penalty of the final fit */
	double heldout_acc[DIM_LOGREG_MAX_GRID]; /* per grid value (selection only;
						  * -1: skipped) */
	double loss;                /* final objective (with the penalty) */
	double grad_max;            /* max |gradient| at the end */
	int iters, evals;           /* of the final fit */
	int total_iters;            /* all fits, selection included */
	int converged;              /* the final fit stopped by a convergence rule */
	char stop[16];              /* the rule that stopped the final fit */
} dim_logreg_result;

/* l2 chosen from 1, 3e-1, ..., 1e-5 on 10% of the train rows; at most 500
 * iterations per fit; gtol 1e-5, ftol 1e-10; history 10; standardised. */
dim_logreg_opts dim_logreg_defaults(void);

dim_status dim_logreg_run(dim_ctx *ctx, const dim_logreg_opts *o, int d, int classes,
			  const float *xtr, const int32_t *ytr, size_t ntr, const float *xte,
			  const int32_t *yte, size_t nte, dim_logreg_result *out);

/* Cosine k-nearest neighbours of each query among the base rows:
 * idx[q * k + j], sim[q * k + j] (may be NULL), most similar first. A row
 * of zeros has similarity 0 to everything. With exclude_self, base row i is
 * not a neighbour of query i (queries = base). Similarities go through
 * dim_gemm in blocks. */
dim_status dim_knn_search(dim_ctx *ctx, int d, const float *base, size_t nb, const float *queries,
			  size_t nq, int k, bool exclude_self, size_t *idx, float *sim);

/* k-NN classification accuracy of the test rows against the train rows
 * (majority vote of the k most similar, ties to the most similar). */
dim_status dim_knn_accuracy(dim_ctx *ctx, int d, int k, int classes, const float *xtr,
			    const int32_t *ytr, size_t ntr, const float *xte, const int32_t *yte,
			    size_t nte, double *acc);

/* Neural dependency measure (docs/method.md §8): a discriminator T (MLP
 * d -> 1000 -> 200 -> 1, ReLU) trained with Adam to maximise the
 * Donsker-Varadhan bound  E_P[T(y)] - log mean exp T(y~),  where y~ is the
 * batch with every factor (column) shuffled independently across the batch.
 * T is fitted on the first 80% of the rows (Adam, lr 1e-4 as in the paper)
 * and the reported NDM is the bound on the other 20%, averaged over
 * `eval_batches` shuffled batches. sigmoid: apply σ to y
 * first (the paper's headline numbers). */
typedef struct dim_ndm_opts {
	int steps, batch, eval_batches;
	double lr;
	int sigmoid;
	uint64_t seed;
} dim_ndm_opts;

dim_ndm_opts dim_ndm_defaults(void);

/* MINE estimate of I(X; Y) (docs/method.md §8): the same discriminator and DV
 * training as NDM on rows [x ; y] — joint pairs against x paired with the y
 * of another image of the batch — read on the held-out 20%. x: n rows of dx
 * (e.g. pixels), y: n rows of dy (e.g. the representation). */
dim_status dim_mine_run(dim_ctx *ctx, const dim_ndm_opts *o, const float *x, int dx,
			const float *y, int dy, size_t n, double *mi);
dim_status dim_ndm_run(dim_ctx *ctx, const dim_ndm_opts *o, const float *y, size_t n, int d,
		       double *ndm);

#ifdef __cplusplus
}
#endif
#endif
