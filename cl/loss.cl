/* loss.cl — log-softmax + cross-entropy with integer labels (mean over the
 * rows whose label is not -1, like PyTorch's ignore_index).
 *
 * Layout: logits and logp [N][K] row-major fp32, labels int32 [N], loss [1].
 * Buffer arguments are (pointer, offset in elements); kernels add the offset.
 *
 * loss_xent_rows      one work-item per row r: m = max_k x, lse = m +
 *                     log(sum_k exp(x - m)) (stable), logp[r][k] = x - lse,
 *                     nll[r] = -logp[r][label] (0 when label == -1, NaN when
 *                     the label is out of range so the loss shows it).
 * loss_xent_reduce    one work-group (power-of-two size L): count = number
 *                     of labels != -1, s = sum of nll, both by strided
 *                     partial sums and a fixed tree (deterministic).
 *                     mode 0: out[0] = s / count (the loss)
 *                     mode 1: out[0] = dloss[0] / count (backward's scale)
 * loss_xent_backward  one work-item per element: dx[r][k] = scale *
 *                     (exp(logp[r][k]) - (k == label)), 0 for ignored rows;
 *                     accumulate: dx += (else dx =).
 */

__kernel void loss_xent_rows(const int N, const int K, __global float *logp,
			     const int logp_off, __global float *nll, const int nll_off,
			     __global const float *x, const int x_off,
			     __global const int *labels, const int labels_off)
{
	logp += logp_off;
	nll += nll_off;
	x += x_off;
	labels += labels_off;
	const int r = (int)get_global_id(0);
	if (r >= N)
		return;
	__global const float *xr = x + r * K;
	float m = xr[0];
	for (int k = 1; k < K; k++)
		m = fmax(m, xr[k]);
	float s = 0.0f;
	for (int k = 0; k < K; k++)
		s += exp(xr[k] - m);
	const float lse = m + log(s);
	for (int k = 0; k < K; k++)
		logp[r * K + k] = xr[k] - lse;
	const int y = labels[r];
	nll[r] = y == -1 ? 0.0f : (y >= 0 && y < K) ? lse - xr[y] : NAN;
}

__kernel void loss_xent_reduce(const int N, const int mode, __global const int *labels,
			       const int labels_off, __global const float *nll, const int nll_off,
			       __global const float *dloss, const int dloss_off,
			       __global float *out, const int out_off, __local float *tmp_s,
			       __local float *tmp_c)
{
	labels += labels_off;
	nll += nll_off;
	dloss += dloss_off;
	out += out_off;
	const int l = (int)get_local_id(0), L = (int)get_local_size(0);
	float s = 0.0f, c = 0.0f;
	for (int r = l; r < N; r += L) {
		if (labels[r] != -1) {
			c += 1.0f;
			if (mode == 0)
				s += nll[r];
		}
	}
	tmp_s[l] = s;
	tmp_c[l] = c;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (int o = L / 2; o > 0; o >>= 1) {
		if (l < o) {
			tmp_s[l] += tmp_s[l + o];
			tmp_c[l] += tmp_c[l + o];
		}
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (l == 0)
		out[0] = (mode == 0 ? tmp_s[0] : dloss[0]) / tmp_c[0];
}

__kernel void loss_xent_backward(const int N, const int K, const int accumulate,
				 __global float *dx, const int dx_off, __global const float *logp,
				 const int logp_off, __global const int *labels,
				 const int labels_off, __global const float *scale,
				 const int scale_off)
{
	dx += dx_off;
	logp += logp_off;
	labels += labels_off;
	scale += scale_off;
	const int g = (int)get_global_id(0);
	if (g >= N * K)
		return;
	const int r = g / K, k = g % K, y = labels[r];
	float v = 0.0f;
	if (y != -1)
		v = scale[0] * (exp(logp[g]) - (k == y ? 1.0f : 0.0f));
	dx[g] = accumulate ? dx[g] + v : v;
}
