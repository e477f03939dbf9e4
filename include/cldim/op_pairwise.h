/* cldim — all-pairs sum of two row sets (first layer of a pair critic).
 *
 *   out[n*N + m, :] = b[n, :] + a[m, :] + bias       a, b [N, H]; out [N*N, H]
 *
 * With a = X_a·W_aᵀ and b = X_b·W_bᵀ this is the linear layer W·[x_a(m); x_b(n)]
 * applied to every pair without materialising the N*N concatenated inputs.
 * Backward: da, db written (=) or added (+=) per accumulate; dbias +=. */
#ifndef CLDIM_OP_PAIRWISE_H
#define CLDIM_OP_PAIRWISE_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

dim_status dim_pairwise_forward(dim_ctx *ctx, int N, int H, dim_buf out, dim_buf a, dim_buf b,
				const dim_buf *bias);
dim_status dim_pairwise_backward(dim_ctx *ctx, int N, int H, const dim_buf *da, int acc_a,
				 const dim_buf *db, int acc_b, const dim_buf *dbias, dim_buf dout);

#ifdef __cplusplus
}
#endif
#endif
