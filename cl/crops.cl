/* crops.cl — strided crops of an image batch, and the fold back into a map.
 *
 * unfold: x [N, C, H, W] -> y [N*P, C, k, k],  P = gh*gw,  gh = (H-k)/s + 1
 *   y[n*P + i*gw + j, c, a, b] = x[n, c, i*s + a, j*s + b]
 *   (torch F.unfold(x, k, stride=s) reshaped to [N, C, k, k, P] and permuted
 *   to [N, P, C, k, k]: the official DIM Unfold module.)
 * unfold backward: dx[n, c, h, w] = sum of dy over every crop that covers
 *   (h, w). Gathered per dx element (no atomics, fixed order i then j);
 *   pixels no crop covers get 0.
 *
 * fold: x [N*P, C, h, w] -> y [N, C*h*w, gh, gw]
 *   y[n, c*h*w + q, i, j] = x[n*P + i*gw + j, c, q]     (q = row-major h*w index)
 *   (the official Fold module; with 1x1 crop maps it reassembles the crop
 *   features into a gh x gw map of C channels.)
 * fold backward: the inverse permutation.
 *
 * One work-item per destination element; backward kernels write (=) or add
 * (+=) by `accumulate`.
 */
__kernel void crops_unfold_forward(const int N, const int C, const int H, const int W,
				   const int k, const int s, const int gh, const int gw,
				   __global const float *x, const int x_off,
				   __global float *y, const int y_off)
{
	x += x_off;
	y += y_off;
	const int i = (int)get_global_id(0);
	const int P = gh * gw;
	if (i >= N * P * C * k * k)
		return;
	const int b = i % k;
	const int a = (i / k) % k;
	const int c = (i / (k * k)) % C;
	const int np = i / (k * k * C);
	const int p = np % P;
	const int n = np / P;
	const int row = (p / gw) * s + a;
	const int col = (p % gw) * s + b;
	y[i] = x[((n * C + c) * H + row) * W + col];
}

__kernel void crops_unfold_backward(const int N, const int C, const int H, const int W,
				    const int k, const int s, const int gh, const int gw,
				    __global const float *dy, const int dy_off,
				    __global float *dx, const int dx_off, const int accumulate)
{
	dy += dy_off;
	dx += dx_off;
	const int e = (int)get_global_id(0);
	if (e >= N * C * H * W)
		return;
	const int w = e % W;
	const int h = (e / W) % H;
	const int c = (e / (H * W)) % C;
	const int n = e / (H * W * C);
	const int P = gh * gw;
	/* crop rows i with i*s <= h < i*s + k */
	const int i0 = h >= k ? (h - k) / s + 1 : 0;
	const int i1 = min(gh - 1, h / s);
	const int j0 = w >= k ? (w - k) / s + 1 : 0;
	const int j1 = min(gw - 1, w / s);
	float acc = 0.0f;
	for (int i = i0; i <= i1; i++)
		for (int j = j0; j <= j1; j++) {
			const int p = i * gw + j;
			acc += dy[(((n * P + p) * C + c) * k + (h - i * s)) * k + (w - j * s)];
		}
	dx[e] = accumulate ? dx[e] + acc : acc;
}

__kernel void crops_fold_forward(const int N, const int C, const int HW, const int P,
				 __global const float *x, const int x_off,
				 __global float *y, const int y_off)
{
	x += x_off;
	y += y_off;
	const int e = (int)get_global_id(0);
	if (e >= N * C * HW * P)
		return;
	const int p = e % P;
	const int cq = (e / P) % (C * HW);
	const int n = e / (P * C * HW);
	/* cq = c*HW + q, and x[n*P + p, c, q] sits at ((n*P + p)*C + c)*HW + q */
	y[e] = x[(n * P + p) * C * HW + cq];
}

__kernel void crops_fold_backward(const int N, const int C, const int HW, const int P,
				  __global const float *dy, const int dy_off,
				  __global float *dx, const int dx_off, const int accumulate)
{
	dy += dy_off;
	dx += dx_off;
	const int e = (int)get_global_id(0);
	if (e >= N * C * HW * P)
		return;
	const int cq = e % (C * HW);
	const int np = e / (C * HW);
	const int p = np % P;
	const int n = np / P;
	const float v = dy[(n * C * HW + cq) * P + p];
	dx[e] = accumulate ? dx[e] + v : v;
}
