/* cldim — strided crops (unfold) and their fold back into a map.
 *
 * The strided-crop encoders of the DIM paper's CPC comparison
 * (docs/method.md §2: foldalex64x64, foldresnet19_32x32) cut each image into overlapping
 * k x k crops with stride s, run a convnet on every crop as its own batch
 * row, and fold the crops' final feature vectors back into a gh x gw map:
 *
 *   unfold: x [N, C, H, W] -> y [N*P, C, k, k]          P = gh*gw,
 *           y[n*P + i*gw + j, c, a, b] = x[n, c, i*s + a, j*s + b],
 *           gh = (H - k)/s + 1, gw = (W - k)/s + 1
 *   fold:   x [N*P, C, h, w] -> y [N, C*h*w, gh, gw]
 *           y[n, c*h*w + q, i, j] = x[n*P + i*gw + j, c, q]
 *
 * These are PyTorch's F.unfold(x, k, stride=s).reshape(N, C, k, k, P)
 * .permute(0, 4, 1, 2, 3) and x.reshape(N, P, C, h*w).permute(0, 2, 3, 1)
 * .reshape(N, C*h*w, gh, gw) (the official Unfold / Fold modules).
 *
 * Backward: unfold's sums the gradients of all crops covering a pixel (a
 * gather, fixed order, no atomics); fold's is the inverse permutation. Input
 * gradients are written (=) when accumulate is 0 and added (+=) when 1. */
#ifndef CLDIM_OP_CROPS_H
#define CLDIM_OP_CROPS_H

#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_unfold_desc {
	int N, C, H, W; /* input */
	int k, stride;  /* crop size and stride */
} dim_unfold_desc;

/* Crops along one side: (size - k)/stride + 1, or 0 when k > size or the
 * arguments are not positive. */
int dim_crops_grid(int size, int k, int stride);

dim_status dim_crops_unfold_forward(dim_ctx *ctx, const dim_unfold_desc *d, dim_buf y, dim_buf x);
dim_status dim_crops_unfold_backward(dim_ctx *ctx, const dim_unfold_desc *d, dim_buf dx,
				     int accumulate, dim_buf dy);

typedef struct dim_fold_desc {
	int N;       /* images */
	int gh, gw;  /* crop grid: P = gh*gw crops per image */
	int C, h, w; /* each crop's map */
} dim_fold_desc;

dim_status dim_crops_fold_forward(dim_ctx *ctx, const dim_fold_desc *d, dim_buf y, dim_buf x);
dim_status dim_crops_fold_backward(dim_ctx *ctx, const dim_fold_desc *d, dim_buf dx,
				   int accumulate, dim_buf dy);

#ifdef __cplusplus
}
#endif
#endif
