/* tensor.cl — shape and element-wise kernels: linear combinations, products,
 * strided block copies (concat / split), row reductions and row expansions.
 *
 * Layout: flat fp32 buffers, row-major. Every buffer argument is (pointer,
 * offset in floats); kernels add the offset first. `accumulate` selects
 * out += value (1) or out = value (0); with 0 the old contents are never
 * read, so NaN garbage does not propagate.
 *
 * tensor_lincomb      y[i] = alpha * a[i] (+ beta * b[i] if has_b), i < n;
 *                     y may alias a or b. One work-item per element.
 * tensor_mul          y[i] = a[i] * b[i].
 * tensor_copy_blocks  dst[blk * dst_stride + j] = src[blk * src_stride + j],
 *                     j < len, blk < nblocks; work-item g -> (blk, j) =
 *                     (g / len, g % len). Concat along channels of NCHW
 *                     tensors = one call per input with len = C_in * H * W.
 * tensor_reduce_rows  out[r] = scale * sum_{i in [r*D, min(r*D+D, n))} x[i]:
 *                     one work-group per row, power-of-two local size L;
 *                     work-item l sums i = r*D + l, + L, ... then a tree
 *                     in local memory: a fixed order for a given L, so the
 *                     result is deterministic.
 * tensor_expand_rows  y[r * D + j] = scale * v[r], i = r * D + j < rows * D.
 */

__kernel void tensor_lincomb(const int n, const int accumulate, __global float *y,
			     const int y_off, const float alpha, __global const float *a,
			     const int a_off, const float beta, __global const float *b,
			     const int b_off, const int has_b)
{
	y += y_off;
	a += a_off;
	b += b_off;
	const int i = (int)get_global_id(0);
	if (i >= n)
		return;
	float r = alpha * a[i];
	if (has_b)
		r += beta * b[i];
	y[i] = accumulate ? y[i] + r : r;
}

__kernel void tensor_mul(const int n, const int accumulate, __global float *y, const int y_off,
			 __global const float *a, const int a_off, __global const float *b,
			 const int b_off)
{
	y += y_off;
	a += a_off;
	b += b_off;
	const int i = (int)get_global_id(0);
	if (i >= n)
		return;
	const float r = a[i] * b[i];
	y[i] = accumulate ? y[i] + r : r;
}

__kernel void tensor_copy_blocks(const int nblocks, const int len, const int accumulate,
				 __global float *dst, const int dst_off, const int dst_stride,
				 __global const float *src, const int src_off, const int src_stride)
{
	dst += dst_off;
	src += src_off;
	const int g = (int)get_global_id(0);
	if (g >= nblocks * len)
		return;
	const int blk = g / len, j = g % len;
	const float v = src[blk * src_stride + j];
	__global float *o = dst + blk * dst_stride + j;
	*o = accumulate ? *o + v : v;
}

__kernel void tensor_reduce_rows(const int rows, const int D, const int n, const float scale,
				 const int accumulate, __global float *out, const int out_off,
				 __global const float *x, const int x_off, __local float *tmp)
{
	out += out_off;
	x += x_off;
	const int r = (int)get_group_id(0);
	const int l = (int)get_local_id(0), L = (int)get_local_size(0);
	const int start = r * D;
	const int end = min(start + D, n);
	float s = 0.0f;
	if (r < rows)
		for (int i = start + l; i < end; i += L)
			s += x[i];
	tmp[l] = s;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (int o = L / 2; o > 0; o >>= 1) {
		if (l < o)
			tmp[l] += tmp[l + o];
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (l == 0 && r < rows) {
		const float v = scale * tmp[0];
		out[r] = accumulate ? out[r] + v : v;
	}
}

__kernel void tensor_expand_rows(const int rows, const int D, const float scale,
				 const int accumulate, __global float *y, const int y_off,
				 __global const float *v, const int v_off)
{
	y += y_off;
	v += v_off;
	const int i = (int)get_global_id(0);
	if (i >= rows * D)
		return;
	const float r = scale * v[i / D];
	y[i] = accumulate ? y[i] + r : r;
}
