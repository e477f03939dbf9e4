/* optim.cl — optimizer updates (PyTorch torch.optim.Adam and SGD semantics).
 *
 * Layout: flat fp32 spans of n elements; param, grad and the state buffers
 * (m, v, or the momentum buffer) are parallel: element i of each belongs to
 * the same weight. Buffer arguments are (pointer, offset in floats); kernels
 * add the offset first. optim_sgd: one work-item per element; optim_adam:
 * one, or a float16 chunk of 16 with -DCHUNK=16 (CPUs). A span may cover many
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

#ifndef CHUNK
#define CHUNK 1
#endif

/* Adam on values of type T (float, or float16 lane by lane): g, pv, mv, vv
 * in; m_new, v_new, p_new out. */
#define ADAM(T, g, pv, mv, vv, m_new, v_new, p_new)                                   \
	do {                                                                          \
		T g_ = (g);                                                           \
		if (weight_decay != 0.0f)                                             \
			g_ += weight_decay * (pv);                                    \
		m_new = beta1 * (mv) + one_minus_beta1 * g_;                          \
		v_new = beta2 * (vv) + one_minus_beta2 * g_ * g_;                     \
		p_new = (pv) - step_size * (m_new / (sqrt(v_new) / bc2_sqrt + eps));  \
	} while (0)

/* One element per work-item, or a float16 chunk when the host builds with
 * CHUNK=16 (CPU devices): Intel's CPU compiler ran the one-element form at
 * a tenth of PoCL's speed (6.4 M weights: 37-46 ms against 4.5 ms). */
__kernel void optim_adam(const int n, __global float *p, const int p_off,
			 __global const float *grad, const int grad_off, __global float *m,
			 const int m_off, __global float *v, const int v_off, const float beta1,
			 const float one_minus_beta1, const float beta2,
			 const float one_minus_beta2, const float eps, const float weight_decay,
			 const float step_size, const float bc2_sqrt)
{
	const int i0 = (int)get_global_id(0) * CHUNK;
	p += p_off + i0;
	grad += grad_off + i0;
	m += m_off + i0;
	v += v_off + i0;
#if CHUNK == 16
	if (n - i0 >= 16) { /* not i0 + 16: no overflow near 2^31 */
		float16 mn, vn, pn;
		ADAM(float16, vload16(0, grad), vload16(0, p), vload16(0, m), vload16(0, v), mn,
		     vn, pn);
		vstore16(mn, 0, m);
		vstore16(vn, 0, v);
		vstore16(pn, 0, p);
		return;
	}
#endif
	for (int i = 0; i < CHUNK && i < n - i0; i++) {
		float mn, vn, pn;
		ADAM(float, grad[i], p[i], m[i], v[i], mn, vn, pn);
		m[i] = mn;
		v[i] = vn;
		p[i] = pn;
	}
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
