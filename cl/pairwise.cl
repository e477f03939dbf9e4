/* pairwise.cl — all-pairs sum of two row sets, for critics that score every
 * (global of image n, feature of image n') pair with an MLP whose first layer
 * is linear: W·[a; b] = W_a·a + W_b·b, so the first layer costs two GEMMs
 * instead of one over N*N concatenated rows.
 *
 *   forward:  out[n*N + m, h] = b[n, h] + a[m, h] + bias[h]      n, m in [0, N), h in [0, H)
 *   backward: da[m, h]  (=|+=) sum_n dout[n*N + m, h]
 *             db[n, h]  (=|+=) sum_m dout[n*N + m, h]
 *             dbias[h]  +=     sum_{n,m} dout[n*N + m, h]
 *
 * Layout: row-major; a [N, H], b [N, H], out [N*N, H]. Reductions run in a
 * fixed order (one work-item per output element loops over the summed index),
 * so results are deterministic.
 */
__kernel void pairwise_forward(const int N, const int H,
			       __global const float *a, const int a_off,
			       __global const float *b, const int b_off,
			       __global const float *bias, const int bias_off, const int has_bias,
			       __global float *out, const int out_off)
{
	a += a_off;
	b += b_off;
	bias += bias_off;
	out += out_off;
	const int i = (int)get_global_id(0);
	if (i >= N * N * H)
		return;
	const int h = i % H;
	const int pair = i / H;
	const int m = pair % N;
	const int n = pair / N;
	out[i] = b[n * H + h] + a[m * H + h] + (has_bias ? bias[h] : 0.0f);
}

/* which = 0: da (sum over n); which = 1: db (sum over m). */
__kernel void pairwise_backward_rows(const int N, const int H, const int which,
				     __global const float *dout, const int dout_off,
				     __global float *d, const int d_off, const int accumulate)
{
	dout += dout_off;
	d += d_off;
	const int i = (int)get_global_id(0);
	if (i >= N * H)
		return;
	const int h = i % H;
	const int r = i / H;
	float s = 0.0f;
	if (which == 0)
		for (int n = 0; n < N; n++)
			s += dout[(n * N + r) * H + h];
	else
		for (int m = 0; m < N; m++)
			s += dout[(r * N + m) * H + h];
	d[i] = accumulate ? d[i] + s : s;
}

/* dbias[h] += sum over all N*N rows: from db (already summed over m) when
 * available would be cheaper; this reads dout so it stands alone. */
__kernel void pairwise_backward_bias(const int N, const int H,
				     __global const float *dout, const int dout_off,
				     __global float *dbias, const int dbias_off)
{
	dout += dout_off;
	dbias += dbias_off;
	const int h = (int)get_global_id(0);
	if (h >= H)
		return;
	float s = 0.0f;
	for (int r = 0; r < N * N; r++)
		s += dout[r * H + h];
	dbias[h] += s;
}
