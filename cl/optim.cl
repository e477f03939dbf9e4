/* optim.cl — optimizer updates (PyTorch torch.optim.Adam and SGD semantics).
 *
 * Layout: flat fp32 spans of n elements; param, grad and the state buffers
 * (m, v, or the momentum buffer) are parallel: element i of each belongs to
 * the same weight. Buffer arguments are (pointer, offset in floats); kernels
 * add the offset first. One work-item per element. A span may cover many
 * parameter tensors (one launch per parameter group span), including the
 * alignment padding between them, which is never read elsewhere.
 *
 * optim_adam  g = grad + wd * p
 *             m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g * g
 *             p = p - step_size * m / (sqrt(v) / bc2_sqrt + eps)
 *             with step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t)
 *             computed on the host in double (as PyTorch does in Python);
 *             1 - b1 and 1 - b2 also come from the host in double, rounded
 *             once to float (PyTorch's scalar arguments), not 1.0f - b2.
 * optim_sgd   g = grad + wd * p;  buf = momentum * buf + g  (dampening 0,
 *             buf starts at 0 so the first step is buf = g, as PyTorch);
 *             p = p - lr * (momentum != 0 ? buf : g)
 */

__kernel void optim_adam(const int n, __global float *p, const int p_off,
			 __global const float *grad, const int grad_off, __global float *m,
			 const int m_off, __global float *v, const int v_off, const float beta1,
			 const float one_minus_beta1, const float beta2,
			 const float one_minus_beta2, const float eps, const float weight_decay,
			 const float step_size, const float bc2_sqrt)
{
	p += p_off;
	grad += grad_off;
	m += m_off;
	v += v_off;
	const int i = (int)get_global_id(0);
	if (i >= n)
		return;
	float g = grad[i];
	if (weight_decay != 0.0f)
		g += weight_decay * p[i];
	const float mi = beta1 * m[i] + one_minus_beta1 * g;
	const float vi = beta2 * v[i] + one_minus_beta2 * g * g;
	m[i] = mi;
	v[i] = vi;
	p[i] -= step_size * (mi / (sqrt(vi) / bc2_sqrt + eps));
}

__kernel void optim_sgd(const int n, __global float *p, const int p_off,
			__global const float *grad, const int grad_off, __global float *buf,
			const int buf_off, const float lr, const float momentum,
			const float weight_decay)
{
	p += p_off;
	grad += grad_off;
	buf += buf_off;
	const int i = (int)get_global_id(0);
	if (i >= n)
		return;
	float g = grad[i];
	if (weight_decay != 0.0f)
		g += weight_decay * p[i];
	if (momentum != 0.0f) {
		const float b = momentum * buf[i] + g;
		buf[i] = b;
		g = b;
	}
	p[i] -= lr * g;
}
