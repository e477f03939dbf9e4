/* permute.cl — channel-major maps to per-location rows and back.
 *
 *   permute_to_rows:   x [N, C, L]  ->  y [N*L, C]     y[(n*L + l)*C + c] = x[(n*C + c)*L + l]
 *   permute_from_rows: y [N*L, C]   ->  x [N, C, L]    (the inverse; also the backward of the
 *                                                       other, with optional accumulation)
 *
 * L = H*W of an NCHW map. Rows make every 1x1 convolution a plain GEMM over
 * N*L rows (the local MI critic) and give the score GEMM its operand.
 * One work-item per element, indexed by the destination (coalesced writes);
 * TILE x TILE local-memory tiles would help on GPUs (a later optimisation).
 */
__kernel void permute_to_rows(const int N, const int C, const int L,
			      __global const float *x, const int x_off,
			      __global float *y, const int y_off, const int accumulate)
{
	x += x_off;
	y += y_off;
	const int i = (int)get_global_id(0);
	if (i >= N * C * L)
		return;
	const int c = i % C;
	const int row = i / C;
	const int l = row % L;
	const int n = row / L;
	const float v = x[(n * C + c) * L + l];
	y[i] = accumulate ? y[i] + v : v;
}

__kernel void permute_from_rows(const int N, const int C, const int L,
				__global const float *y, const int y_off,
				__global float *x, const int x_off, const int accumulate)
{
	y += y_off;
	x += x_off;
	const int i = (int)get_global_id(0);
	if (i >= N * C * L)
		return;
	const int l = i % L;
	const int nc = i / L;
	const int c = nc % C;
	const int n = nc / C;
	const float v = y[(n * L + l) * C + c];
	x[i] = accumulate ? x[i] + v : v;
}

/* A column block of a row-major matrix, and its scatter back:
 *   permute_slice_cols:   y[r, c] = x[r, c0 + c]           x [R, X], y [R, W]
 *   permute_unslice_cols: x[r, c0 + c] (=|+=) y[r, c]
 * (the first layer of a pair critic multiplies the two halves of one weight
 * matrix separately). */
__kernel void permute_slice_cols(const int R, const int X, const int W, const int c0,
				 __global const float *x, const int x_off,
				 __global float *y, const int y_off)
{
	x += x_off;
	y += y_off;
	const int i = (int)get_global_id(0);
	if (i >= R * W)
		return;
	y[i] = x[(i / W) * X + c0 + i % W];
}

__kernel void permute_unslice_cols(const int R, const int X, const int W, const int c0,
				   __global const float *y, const int y_off,
				   __global float *x, const int x_off, const int accumulate)
{
	y += y_off;
	x += x_off;
	const int i = (int)get_global_id(0);
	if (i >= R * W)
		return;
	const int j = (i / W) * X + c0 + i % W;
	x[j] = accumulate ? x[j] + y[i] : y[i];
}

/* Rows gathered by an index, and the scatter back (for sampled negatives):
 *   permute_gather_rows:  y[r, h] = x[idx[r], h]              x [R, H], idx [R]
 *   permute_scatter_rows: dx[idx[r], h] (=|+=) dy[r, h]
 * idx must be a permutation of [0, R): then every row of dx is written by
 * exactly one work-item (no races, deterministic). */
__kernel void permute_gather_rows(const int R, const int H, __global const int *idx,
				  const int idx_off, __global const float *x, const int x_off,
				  __global float *y, const int y_off)
{
	idx += idx_off;
	x += x_off;
	y += y_off;
	const int i = (int)get_global_id(0);
	if (i >= R * H)
		return;
	y[i] = x[idx[i / H] * H + i % H];
}

__kernel void permute_scatter_rows(const int R, const int H, __global const int *idx,
				   const int idx_off, __global const float *dy, const int dy_off,
				   __global float *dx, const int dx_off, const int accumulate)
{
	idx += idx_off;
	dy += dy_off;
	dx += dx_off;
	const int i = (int)get_global_id(0);
	if (i >= R * H)
		return;
	const int j = idx[i / H] * H + i % H;
	dx[j] = accumulate ? dx[j] + dy[i] : dy[i];
}
