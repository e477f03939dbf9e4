/* linear.cl — the bias parts of a dense layer (the products are GEMMs).
 *
 * Layout: y and dy are row-major [M][O] (M = rows, i.e. batch), bias [O].
 * Every buffer argument is (pointer, offset in floats); kernels add the
 * offset first.
 *
 *   linear_bias_add   y[m][o] += bias[o]            one work-item per element
 *   linear_bias_add16 the same for O % 16 == 0: work-item (v, m) adds the
 *                     float16 bias[16v..] to row m (the 1-D form's gid % O
 *                     kept PoCL scalar: 9.3 ms on 4096 x 2048)
 *   linear_bias_grad  db[o] += sum_m dy[m][o]       one work-item per column,
 *                     rows summed in order m = 0..M-1 (deterministic;
 *                     neighbouring work-items read neighbouring columns);
 *                     used for few rows.
 *   linear_bias_grad_part / _finish  the same sum for many rows in two
 *                     steps: work-item (v, p) sums the 16 columns 16v.. over
 *                     the p-th of P contiguous row blocks with float16 loads
 *                     (part[p][o]), or with stream (CPU devices) work-item
 *                     (0, p) adds its rows whole into part[p]; then db[o] +=
 *                     sum over p in order. The
 *                     one-step form streamed each column at a stride of O
 *                     floats, scalar: 25 ms for the critic's 4096 x 2048.
 */

__kernel void linear_bias_add(__global float *y, const int y_off, __global const float *bias,
			      const int bias_off, const int M, const int O)
{
	y += y_off;
	bias += bias_off;
	const int gid = (int)get_global_id(0);
	if (gid < M * O)
		y[gid] += bias[gid % O];
}

__kernel void linear_bias_add16(__global float *y, const int y_off,
				__global const float *bias, const int bias_off, const int O)
{
	const int o0 = (int)get_global_id(0) * 16, m = (int)get_global_id(1);
	__global float *row = y + y_off + m * O + o0;
	vstore16(vload16(0, row) + vload16(0, bias + bias_off + o0), 0, row);
}

__kernel void linear_bias_grad(__global const float *dy, const int dy_off, __global float *db,
			       const int db_off, const int M, const int O)
{
	dy += dy_off;
	db += db_off;
	const int o = (int)get_global_id(0);
	if (o >= O)
		return;
	float s = 0.0f;
	for (int m = 0; m < M; m++)
		s += dy[m * O + o];
	db[o] += s;
}

__kernel void linear_bias_grad_part(__global const float *dy, const int dy_off,
				    __global float *part, const int part_off, const int M,
				    const int O, const int P, const int stream)
{
	const int o0 = (int)get_global_id(0) * 16, p = (int)get_global_id(1);
	if (o0 >= O)
		return;
	const int m0 = (int)((long)M * p / P), m1 = (int)((long)M * (p + 1) / P);
	if (stream) {
		/* whole rows in order into the partial-sum row (see batchnorm.cl) */
		__global float *pr = part + part_off + p * O;
		const int V = O / 16;
		for (int c = 0; c < O; c++)
			pr[c] = 0.0f;
		for (int m = m0; m < m1; m++) {
			const __global float *row = dy + dy_off + m * O;
			for (int v = 0; v < V; v++)
				vstore16(vload16(v, pr) + vload16(v, row), v, pr);
			for (int c = V * 16; c < O; c++)
				pr[c] += row[c];
		}
		return;
	}
	dy += dy_off + o0;
	part += part_off + p * O + o0;
	if (o0 + 16 <= O) {
		float16 s = (float16)(0.0f);
		for (int m = m0; m < m1; m++)
			s += vload16(0, dy + m * O);
		vstore16(s, 0, part);
	} else {
		for (int c = 0; c < O - o0; c++) {
			float s = 0.0f;
			for (int m = m0; m < m1; m++)
				s += dy[m * O + c];
			part[c] = s;
		}
	}
}

__kernel void linear_bias_grad_finish(__global const float *part, const int part_off,
				      __global float *db, const int db_off, const int O,
				      const int P)
{
	const int o = (int)get_global_id(0);
	if (o >= O)
		return;
	part += part_off;
	float s = 0.0f;
	for (int p = 0; p < P; p++)
		s += part[p * O + o];
	db[db_off + o] += s;
}
