/* cldim — the Deep InfoMax mutual-information estimators (cl/mi.cl).
 *
 * Input: a score tensor S [N, N, L] row-major, S[n, m, l] = critic score of
 * the global vector of image n against the local feature at location l of
 * image m (L = 1 for the global objective; the GEMM of the global embeddings
 * [N, D] with the local ones laid out [N*L, D] gives exactly this layout).
 * Positives: m == n (N*L of them); negatives: m != n (N(N-1)L of them).
 * Output: the loss to minimise (one float on the device).
 *
 *   JSD (official fenchel_dual_loss, measure JSD), sp = softplus:
 *     loss = mean_neg (sp(u) - log 2) - mean_pos (log 2 - sp(-u))
 *     estimate = -loss
 *   NCE (official infonce_loss): per (n, l) the logits are
 *     [S[n,n,l] ; row n of S with its L self entries *replaced by -10*]
 *     (masked, not removed: they still add L e^-10 to each denominator and
 *     get no gradient), loss = -mean_{n,l} log_softmax(logits)[0]
 *     estimate = log(1 + (N-1)L) - loss   (the InfoNCE bound; for L = 1 it is
 *     log N - loss <= log N)
 *   DV (Donsker-Varadhan, the single-global version of the official code):
 *     loss = log sum_neg exp(u) - log(N(N-1)L) - mean_pos u
 *     estimate = -loss. We normalise by the true negative count N(N-1)L (a
 *     proper log-mean-exp); the official code divides by N(N-1) only, which
 *     shifts the loss by the constant log L and leaves gradients unchanged.
 *
 * Numerics: stable softplus/sigmoid, log-sum-exp with a running max; every
 * exp in forward and backward has a non-positive argument, so finite scores of
 * any magnitude (tested at 1e4) give a finite loss and gradient.
 * Determinism: one work-group per row with a tree reduction, then one
 * work-item folds the rows in order; no atomics.
 *
 * N < 2 has no negatives: DIM_ERR_ARG ("needs N >= 2"), nothing is enqueued.
 *
 * Forward saves per-row statistics in a small buffer taken from `ws` (the
 * caller keeps ws un-rewound until backward has been enqueued) and describes
 * it in *saved; backward uses only S, *saved and gloss.
 * Backward: dS is written (accumulate == 0) or added to (accumulate == 1),
 * scaled by the incoming scalar gradient gloss — a 1-float *device* buffer
 * (e.g. the loss var's gradient on the tape), so no host sync is needed. */
#ifndef CLDIM_OP_MI_H
#define CLDIM_OP_MI_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dim_mi_kind { DIM_MI_JSD = 0, DIM_MI_NCE = 1, DIM_MI_DV = 2 } dim_mi_kind;

/* "jsd" | "nce" | "dv" */
const char *dim_mi_name(dim_mi_kind kind);
/* Case-insensitive name to kind; DIM_ERR_ARG (message in err) otherwise. */
dim_status dim_mi_parse(const char *name, dim_mi_kind *out, dim_error *err);

/* The MI estimate that goes with a loss value (see above), on the host. */
double dim_mi_estimate(dim_mi_kind kind, int N, int L, double loss);

/* What forward leaves for backward. rows: [N, 4] per-row statistics, then 4
 * global ones (see cl/mi.cl); lives in the forward's ws arena. */
typedef struct dim_mi_saved {
	dim_mi_kind kind;
	int N, L;
	dim_buf rows;
} dim_mi_saved;

/* loss: 1 float (=). mi: NULL or 1 float, the estimate (=). S: N*N*L floats. */
dim_status dim_mi_forward(dim_ctx *ctx, dim_mi_kind kind, int N, int L, dim_buf loss,
			  const dim_buf *mi, dim_buf S, dim_mi_saved *saved, dim_arena *ws);
/* dS: N*N*L floats (= or +=), gloss: 1 float on the device. */
dim_status dim_mi_backward(dim_ctx *ctx, dim_mi_kind kind, int N, int L, dim_buf dS,
			   int accumulate, dim_buf S, dim_buf gloss, const dim_mi_saved *saved);

#ifdef __cplusplus
}
#endif
#endif
