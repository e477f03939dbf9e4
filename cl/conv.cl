/* conv.cl — the permutes and bias kernels around GEMM for 2-D convolution.
 *
 * Layouts (fp32, row-major): input x NCHW [N][C][H][W], weight OIHW
 * [O][C][KH][KW], output y NCHW [N][O][OH][OW], P = OH*OW pixels per image,
 * R = C*KH*KW rows of the column matrix. Every buffer argument is (pointer,
 * offset in floats); kernels add the offset first.
 *
 * The column matrix itself (im2col and its adjoint) is im2col.cl, built per
 * window geometry.
 * conv_swap01   out[b][a][p] = in[a][b][p] (+ bias[a] when has_bias): moves
 *               between [O][N][P] (GEMM side) and [N][O][P] (NCHW side).
 * conv_bias_add y[n][o][p] += bias[o] (1x1 path, in place).
 * conv_bias_grad db[o] += sum_{n,p} dy[n][o][p]: one work-group per channel
 *               (power-of-two local size), strided partial sums then a tree
 *               reduction in local memory: a fixed order, deterministic.
 */

__kernel void conv_swap01(__global const float *in, const int in_off, __global float *out,
			  const int out_off, __global const float *bias, const int bias_off,
			  const int A, const int B, const int P, const int has_bias)
{
	/* range (P, A, B): pixels first, so both sides are contiguous across
	 * neighbouring work-items and no index is divided (the 1-D form's
	 * div/mod by runtime sizes kept PoCL scalar) */
	const int p = (int)get_global_id(0), a = (int)get_global_id(1);
	const int b = (int)get_global_id(2);
	if (p >= P) /* the host pads P when it has no divisor of 16 or more */
		return;
	float v = in[in_off + (a * B + b) * P + p];
	if (has_bias)
		v += bias[bias_off + a];
	out[out_off + (b * A + a) * P + p] = v;
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
