/* pool.cl — 2-D max and average pooling (PyTorch MaxPool2d / AvgPool2d).
 *
 * Layout: x [N][C][H][W], y [N][C][OH][OW], NCHW contiguous fp32; argmax
 * int32 [N][C][OH][OW] holding h * W + w inside the input plane (PyTorch's
 * index convention). Every buffer argument is (pointer, offset in elements);
 * kernels add the offset first. NC = N * C planes.
 *
 * Window of output (oh, ow): rows hs = oh*SH - PH .. hs + KH (clipped to
 * [0, H)), the same for columns.
 *
 * pool_max_forward   one work-item per output; the first maximum in row-major
 *                    window order wins ties; a NaN wins (as PyTorch).
 * pool_max_backward  one work-item per input (gather, no atomics):
 *                    dx[h][w] = sum of dy[oh][ow] over the windows that cover
 *                    (h, w) and whose argmax is h*W + w, in a fixed order.
 * pool_avg_forward   y = window sum / divisor; divisor = the window clipped
 *                    to [-PH, H+PH) x [-PW, W+PW) when count_include_pad,
 *                    else the window clipped to the image.
 * pool_avg_backward  gather: dx[h][w] = sum over covering windows of
 *                    dy / divisor.
 * accumulate: dx += (else dx =).
 */

__kernel void pool_max_forward(const int NC, const int H, const int W, const int OH,
			       const int OW, const int KH, const int KW, const int SH,
			       const int SW, const int PH, const int PW, __global float *y,
			       const int y_off, __global int *argmax, const int argmax_off,
			       __global const float *x, const int x_off)
{
	y += y_off;
	argmax += argmax_off;
	x += x_off;
	const int g = (int)get_global_id(0);
	if (g >= NC * OH * OW)
		return;
	const int ow = g % OW, oh = (g / OW) % OH, plane = g / (OW * OH);
	int hs = oh * SH - PH, ws = ow * SW - PW;
	const int he = min(hs + KH, H), we = min(ws + KW, W);
	hs = max(hs, 0);
	ws = max(ws, 0);
	__global const float *xp = x + plane * H * W;
	float best = -INFINITY;
	int besti = hs * W + ws;
	for (int h = hs; h < he; h++)
		for (int w = ws; w < we; w++) {
			const float v = xp[h * W + w];
			if (v > best || isnan(v)) {
				best = v;
				besti = h * W + w;
			}
		}
	y[g] = best;
	argmax[g] = besti;
}

/* First output row/column whose window covers input position i. */
int pool_first_out(const int i, const int K, const int S, const int P)
{
	return i + P < K ? 0 : (i + P - K) / S + 1;
}

__kernel void pool_max_backward(const int NC, const int H, const int W, const int OH,
				const int OW, const int KH, const int KW, const int SH,
				const int SW, const int PH, const int PW, const int accumulate,
				__global float *dx, const int dx_off, __global const float *dy,
				const int dy_off, __global const int *argmax, const int argmax_off)
{
	dx += dx_off;
	dy += dy_off;
	argmax += argmax_off;
	const int g = (int)get_global_id(0);
	if (g >= NC * H * W)
		return;
	const int w = g % W, h = (g / W) % H, plane = g / (W * H);
	const int oh0 = pool_first_out(h, KH, SH, PH), oh1 = min((h + PH) / SH + 1, OH);
	const int ow0 = pool_first_out(w, KW, SW, PW), ow1 = min((w + PW) / SW + 1, OW);
	const int me = h * W + w, base = plane * OH * OW;
	float s = 0.0f;
	for (int oh = oh0; oh < oh1; oh++)
		for (int ow = ow0; ow < ow1; ow++)
			if (argmax[base + oh * OW + ow] == me)
				s += dy[base + oh * OW + ow];
	dx[g] = accumulate ? dx[g] + s : s;
}

/* Divisor of the window of output (oh, ow). */
int pool_avg_divisor(const int oh, const int ow, const int H, const int W, const int KH,
		     const int KW, const int SH, const int SW, const int PH, const int PW,
		     const int count_include_pad)
{
	int hs = oh * SH - PH, ws = ow * SW - PW;
	int he = min(hs + KH, H + PH), we = min(ws + KW, W + PW);
	if (count_include_pad)
		return (he - hs) * (we - ws);
	hs = max(hs, 0);
	ws = max(ws, 0);
	he = min(he, H);
	we = min(we, W);
	return (he - hs) * (we - ws);
}

__kernel void pool_avg_forward(const int NC, const int H, const int W, const int OH,
			       const int OW, const int KH, const int KW, const int SH,
			       const int SW, const int PH, const int PW,
			       const int count_include_pad, __global float *y, const int y_off,
			       __global const float *x, const int x_off)
{
	y += y_off;
	x += x_off;
	const int g = (int)get_global_id(0);
	if (g >= NC * OH * OW)
		return;
	const int ow = g % OW, oh = (g / OW) % OH, plane = g / (OW * OH);
	int hs = oh * SH - PH, ws = ow * SW - PW;
	const int he = min(hs + KH, H), we = min(ws + KW, W);
	hs = max(hs, 0);
	ws = max(ws, 0);
	__global const float *xp = x + plane * H * W;
	float s = 0.0f;
	for (int h = hs; h < he; h++)
		for (int w = ws; w < we; w++)
			s += xp[h * W + w];
	y[g] = s / (float)pool_avg_divisor(oh, ow, H, W, KH, KW, SH, SW, PH, PW,
					   count_include_pad);
}

__kernel void pool_avg_backward(const int NC, const int H, const int W, const int OH,
				const int OW, const int KH, const int KW, const int SH,
				const int SW, const int PH, const int PW,
				const int count_include_pad, const int accumulate,
				__global float *dx, const int dx_off, __global const float *dy,
				const int dy_off)
{
	dx += dx_off;
	dy += dy_off;
	const int g = (int)get_global_id(0);
	if (g >= NC * H * W)
		return;
	const int w = g % W, h = (g / W) % H, plane = g / (W * H);
	const int oh0 = pool_first_out(h, KH, SH, PH), oh1 = min((h + PH) / SH + 1, OH);
	const int ow0 = pool_first_out(w, KW, SW, PW), ow1 = min((w + PW) / SW + 1, OW);
	const int base = plane * OH * OW;
	float s = 0.0f;
	for (int oh = oh0; oh < oh1; oh++)
		for (int ow = ow0; ow < ow1; ow++)
			s += dy[base + oh * OW + ow] /
			     (float)pool_avg_divisor(oh, ow, H, W, KH, KW, SH, SW, PH, PW,
						     count_include_pad);
	dx[g] = accumulate ? dx[g] + s : s;
}
