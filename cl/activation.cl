/* activation.cl — element-wise activations and their gradients.
 *
 * Layout: flat fp32 vectors of n elements (any tensor shape, contiguous).
 * Every buffer argument is (pointer, offset in floats); kernels add the
 * offset first.
 *
 * KIND (-D, matches dim_act in op_activation.h; one build per kind):
 *   0 relu        y = max(x, 0)              dx = dy * (y > 0)
 *   1 leaky_relu  y = x > 0 ? x : slope * x  dx = dy * (x > 0 ? 1 : slope)
 *   2 sigmoid     y = 1 / (1 + exp(-x))      dx = dy * y * (1 - y)
 *   3 tanh        y = tanh(x)                dx = dy * (1 - y * y)
 *   4 softplus    y = max(x, 0) + log1p(exp(-|x|))   (stable form)
 *                                            dx = dy * sigmoid(x)
 * Backward reads `saved`: the output y for relu, sigmoid and tanh (as
 * PyTorch does), the input x for leaky_relu and softplus.
 * accumulate: dx += (else dx =). NaN propagates through relu as in PyTorch.
 *
 * CHUNK (-D, 16 on CPU devices, 1 on GPUs): work-item i handles elements
 * [CHUNK*i, CHUNK*i + CHUNK), a whole chunk of 16 as one float16 (a scalar
 * loop for a partial one). One element per work-item with the kind switched
 * at run time stayed scalar on PoCL (4.8 ms forward for 8M elements, about
 * half the copy bandwidth); GPUs keep one element per work-item (coalesced).
 */
#ifndef KIND
#define KIND 0
#endif
#ifndef CHUNK
#define CHUNK 1
#endif

/* The same formulas for float and float16 (relational operators give -1 per
 * true lane for vectors, so select() takes b where the test holds). */
float sigmoid_float(const float x)
{
	const float e = exp(-fabs(x)); /* stable: exp of a non-positive number only */
	return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

float16 sigmoid_float16(const float16 x)
{
	const float16 e = exp(-fabs(x));
	return select(e / (1.0f + e), 1.0f / (1.0f + e), x >= 0.0f);
}

#define SIGMOID(T, x) sigmoid_##T(x)

#if KIND == 0
#define FWD(T, v) select((v), (T)(0.0f), (v) < 0.0f)
#define BWD(T, g, s) select((T)(0.0f), (g), (s) > 0.0f)
#elif KIND == 1
#define FWD(T, v) select((v), slope * (v), (v) < 0.0f)
#define BWD(T, g, s) select(slope * (g), (g), (s) > 0.0f)
#elif KIND == 2
#define FWD(T, v) SIGMOID(T, v)
#define BWD(T, g, s) ((g) * (s) * (1.0f - (s)))
#elif KIND == 3
#define FWD(T, v) tanh(v)
#define BWD(T, g, s) ((g) * (1.0f - (s) * (s)))
#else
#define FWD(T, v) (fmax((v), 0.0f) + log1p(exp(-fabs(v))))
#define BWD(T, g, s) ((g) * SIGMOID(T, s))
#endif

__kernel void activation_forward(const int n, const float slope, __global float *y,
				 const int y_off, __global const float *x, const int x_off)
{
	const int i0 = (int)get_global_id(0) * CHUNK;
	y += y_off + i0;
	x += x_off + i0;
	if (CHUNK == 16 && n - i0 >= 16) { /* not i0 + 16: no overflow near 2^31 */
		const float16 v = vload16(0, x);
		vstore16(FWD(float16, v), 0, y);
		return;
	}
	for (int i = 0; i < CHUNK && i < n - i0; i++) {
		const float v = x[i];
		y[i] = FWD(float, v);
	}
}

__kernel void activation_backward(const int n, const float slope, const int accumulate,
				  __global float *dx, const int dx_off,
				  __global const float *dy, const int dy_off,
				  __global const float *saved, const int saved_off)
{
	const int i0 = (int)get_global_id(0) * CHUNK;
	dx += dx_off + i0;
	dy += dy_off + i0;
	saved += saved_off + i0;
	if (CHUNK == 16 && n - i0 >= 16) { /* not i0 + 16: no overflow near 2^31 */
		const float16 s = vload16(0, saved), g = vload16(0, dy);
		float16 r = BWD(float16, g, s);
		if (accumulate)
			r += vload16(0, dx);
		vstore16(r, 0, dx);
		return;
	}
	for (int i = 0; i < CHUNK && i < n - i0; i++) {
		const float s = saved[i], g = dy[i];
		const float r = BWD(float, g, s);
		dx[i] = accumulate ? dx[i] + r : r;
	}
}
