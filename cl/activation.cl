/* activation.cl — element-wise activations and their gradients.
 *
 * Layout: flat fp32 vectors of n elements (any tensor shape, contiguous).
 * Every buffer argument is (pointer, offset in floats); kernels add the
 * offset first. One work-item per element, i = get_global_id(0) < n.
 *
 * kind (matches dim_act in op_activation.h):
 *   0 relu        y = max(x, 0)              dx = dy * (y > 0)
 *   1 leaky_relu  y = x > 0 ? x : slope * x  dx = dy * (x > 0 ? 1 : slope)
 *   2 sigmoid     y = 1 / (1 + exp(-x))      dx = dy * y * (1 - y)
 *   3 tanh        y = tanh(x)                dx = dy * (1 - y * y)
 *   4 softplus    y = max(x, 0) + log1p(exp(-|x|))   (stable form)
 *                                            dx = dy * sigmoid(x)
 * Backward reads `saved`: the output y for relu, sigmoid and tanh (as
 * PyTorch does), the input x for leaky_relu and softplus.
 * accumulate: dx += (else dx =).
 */

float activation_sigmoid(float x)
{
	/* stable on both sides: exp of a non-positive number only */
	const float e = exp(-fabs(x));
	return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

__kernel void activation_forward(const int n, const int kind, const float slope,
				 __global float *y, const int y_off, __global const float *x,
				 const int x_off)
{
	y += y_off;
	x += x_off;
	const int i = (int)get_global_id(0);
	if (i >= n)
		return;
	const float v = x[i];
	float r;
	switch (kind) {
	case 0:
		r = v < 0.0f ? 0.0f : v; /* NaN propagates, as in PyTorch */
		break;
	case 1:
		r = v < 0.0f ? slope * v : v;
		break;
	case 2:
		r = activation_sigmoid(v);
		break;
	case 3:
		r = tanh(v);
		break;
	default:
		r = fmax(v, 0.0f) + log1p(exp(-fabs(v)));
		break;
	}
	y[i] = r;
}

__kernel void activation_backward(const int n, const int kind, const float slope,
				  const int accumulate, __global float *dx, const int dx_off,
				  __global const float *dy, const int dy_off,
				  __global const float *saved, const int saved_off)
{
	dx += dx_off;
	dy += dy_off;
	saved += saved_off;
	const int i = (int)get_global_id(0);
	if (i >= n)
		return;
	const float s = saved[i], g = dy[i];
	float r;
	switch (kind) {
	case 0:
		r = s > 0.0f ? g : 0.0f;
		break;
	case 1:
		r = s > 0.0f ? g : slope * g;
		break;
	case 2:
		r = g * s * (1.0f - s);
		break;
	case 3:
		r = g * (1.0f - s * s);
		break;
	default:
		r = g * activation_sigmoid(s);
		break;
	}
	dx[i] = accumulate ? dx[i] + r : r;
}
