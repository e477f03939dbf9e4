/* linear.cl — the bias parts of a dense layer (the products are GEMMs).
 *
 * Layout: y and dy are row-major [M][O] (M = rows, i.e. batch), bias [O].
 * Every buffer argument is (pointer, offset in floats); kernels add the
 * offset first.
 *
 *   linear_bias_add   y[m][o] += bias[o]            one work-item per element
 *   linear_bias_grad  db[o] += sum_m dy[m][o]       one work-item per column,
 *                     rows summed in order m = 0..M-1 (deterministic;
 *                     neighbouring work-items read neighbouring columns)
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
