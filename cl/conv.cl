/* conv.cl — the data-movement kernels around GEMM for 2-D convolution.
 *
 * Layouts (fp32, row-major): input x NCHW [N][C][H][W], weight OIHW
 * [O][C][KH][KW], output y NCHW [N][O][OH][OW], P = OH*OW pixels per image,
 * R = C*KH*KW rows of the column matrix. Every buffer argument is (pointer,
 * offset in floats); kernels add the offset first.
 *
 * conv_im2col   col[r*ld_row + n*ld_img + p] = x[n][c][oh*SH-PH+kh][ow*SW-PW+kw]
 *               (0 outside the image), r = (c*KH+kh)*KW+kw, p = oh*OW+ow.
 *               ld_row = N*P, ld_img = P gives the batched layout [R][N*P]
 *               that one GEMM Y^T[O][N*P] = W[O][R] * col consumes.
 *               One work-item per col element, p fastest.
 * conv_col2im   the adjoint, as a gather: dx[n][c][h][w] = sum over the
 *               (kh, kw) whose window covers (h, w) of dcol[r][n*P + p]
 *               (same ld_row/ld_img map). One work-item per dx element, a
 *               fixed loop order, no atomics. accumulate: dx += (else =).
 * conv_swap01   out[b][a][p] = in[a][b][p] (+ bias[a] when has_bias): moves
 *               between [O][N][P] (GEMM side) and [N][O][P] (NCHW side).
 * conv_bias_add y[n][o][p] += bias[o] (1x1 path, in place).
 * conv_bias_grad db[o] += sum_{n,p} dy[n][o][p]: one work-group per channel
 *               (power-of-two local size), strided partial sums then a tree
 *               reduction in local memory: a fixed order, deterministic.
 */

__kernel void conv_im2col(__global const float *x, const int x_off, __global float *col,
			  const int col_off, const int N, const int C, const int H, const int W,
			  const int KH, const int KW, const int SH, const int SW, const int PH,
			  const int PW, const int OH, const int OW, const int ld_row,
			  const int ld_img)
{
	/* 3-D range (OW, OH, R*N): the output column comes from the first two
	 * ids and the (row, image) pair is uniform across a work-group, so the
	 * per-element index arithmetic is two multiply-adds, not six div/mods. */
	x += x_off;
	col += col_off;
	const int ow = (int)get_global_id(0), oh = (int)get_global_id(1);
	const int rn = (int)get_global_id(2);
	if (ow >= OW || oh >= OH || rn >= C * KH * KW * N)
		return;
	const int n = rn % N;
	const int r = rn / N;
	const int kw = r % KW;
	const int kh = (r / KW) % KH;
	const int c = r / (KW * KH);
	const int ih = oh * SH - PH + kh;
	const int iw = ow * SW - PW + kw;
	float v = 0.0f;
	if (ih >= 0 && ih < H && iw >= 0 && iw < W)
		v = x[((n * C + c) * H + ih) * W + iw];
	col[r * ld_row + n * ld_img + oh * OW + ow] = v;
}

__kernel void conv_col2im(__global const float *dcol, const int dcol_off, __global float *dx,
			  const int dx_off, const int N, const int C, const int H, const int W,
			  const int KH, const int KW, const int SH, const int SW, const int PH,
			  const int PW, const int OH, const int OW, const int ld_row,
			  const int ld_img, const int accumulate)
{
	dcol += dcol_off;
	dx += dx_off;
	const int total = N * C * H * W;
	const int gid = (int)get_global_id(0);
	if (gid >= total)
		return;
	const int iw = gid % W;
	const int ih = (gid / W) % H;
	const int c = (gid / (W * H)) % C;
	const int n = gid / (W * H * C);
	float acc = 0.0f;
	for (int kh = 0; kh < KH; kh++) {
		const int th = ih + PH - kh;
		if (th < 0 || th % SH)
			continue;
		const int oh = th / SH;
		if (oh >= OH)
			continue;
		for (int kw = 0; kw < KW; kw++) {
			const int tw = iw + PW - kw;
			if (tw < 0 || tw % SW)
				continue;
			const int ow = tw / SW;
			if (ow >= OW)
				continue;
			const int r = (c * KH + kh) * KW + kw;
			acc += dcol[r * ld_row + n * ld_img + oh * OW + ow];
		}
	}
	dx[gid] = accumulate ? dx[gid] + acc : acc;
}

__kernel void conv_swap01(__global const float *in, const int in_off, __global float *out,
			  const int out_off, __global const float *bias, const int bias_off,
			  const int A, const int B, const int P, const int has_bias)
{
	in += in_off;
	out += out_off;
	bias += bias_off;
	const int gid = (int)get_global_id(0);
	if (gid >= A * B * P)
		return;
	/* gid walks the output [B][A][P] so writes are contiguous */
	const int p = gid % P;
	const int a = (gid / P) % A;
	const int b = gid / (P * A);
	float v = in[(a * B + b) * P + p];
	if (has_bias)
		v += bias[a];
	out[gid] = v;
}

__kernel void conv_bias_add(__global float *y, const int y_off, __global const float *bias,
			    const int bias_off, const int N, const int O, const int P)
{
	y += y_off;
	bias += bias_off;
	const int gid = (int)get_global_id(0);
	if (gid >= N * O * P)
		return;
	y[gid] += bias[(gid / P) % O];
}

__kernel void conv_bias_grad(__global const float *dy, const int dy_off, __global float *db,
			     const int db_off, const int N, const int O, const int P,
			     __local float *part)
{
	dy += dy_off;
	db += db_off;
	const int o = (int)get_group_id(0);
	const int lid = (int)get_local_id(0);
	const int ls = (int)get_local_size(0);
	const int M = N * P;
	float s = 0.0f;
	if (o < O)
		for (int i = lid; i < M; i += ls)
			s += dy[((i / P) * O + o) * P + i % P];
	part[lid] = s;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (int h = ls / 2; h > 0; h /= 2) {
		if (lid < h)
			part[lid] += part[lid + h];
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (lid == 0 && o < O)
		db[o] += part[0];
}
