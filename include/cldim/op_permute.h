/* cldim — permute between channel-major maps and per-location rows.
 *
 *   to_rows:   x [N, C, H, W] (or [N, C, L]) -> y [N*H*W, C]
 *   from_rows: y [N*L, C] -> x [N, C, L]    (the inverse)
 *
 * Each is the other's backward. The output is written (=) when accumulate is
 * 0 and added (+=) when 1. */
#ifndef CLDIM_OP_PERMUTE_H
#define CLDIM_OP_PERMUTE_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

dim_status dim_permute_to_rows(dim_ctx *ctx, int N, int C, int L, dim_buf y, dim_buf x,
			       int accumulate);
dim_status dim_permute_from_rows(dim_ctx *ctx, int N, int C, int L, dim_buf x, dim_buf y,
				 int accumulate);

/* Column block [c0, c0 + W) of x [R, X] into y [R, W], and back (=|+=). */
dim_status dim_slice_cols(dim_ctx *ctx, int R, int X, int W, int c0, dim_buf y, dim_buf x);
dim_status dim_unslice_cols(dim_ctx *ctx, int R, int X, int W, int c0, dim_buf x, dim_buf y,
			    int accumulate);

/* y[r] = x[idx[r]] for rows of H floats; idx: R int32 on the device, a
 * permutation of [0, R). Backward scatters dy back (=|+=). */
dim_status dim_gather_rows(dim_ctx *ctx, int R, int H, dim_buf idx, dim_buf y, dim_buf x);
dim_status dim_scatter_rows(dim_ctx *ctx, int R, int H, dim_buf idx, dim_buf dx, dim_buf dy,
			    int accumulate);

#ifdef __cplusplus
}
#endif
#endif
