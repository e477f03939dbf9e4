/* util.cl — small helpers used by the runtime's self-tests and by ops that
 * need a plain vector update.
 *
 * Layout: flat fp32 vectors; every buffer argument is (pointer, offset in
 * floats) and the kernel adds the offset first. One work-item per element.
 *
 *   util_axpy:  y[i] = a * x[i] + y[i]          i in [0, n)
 *   util_scale: y[i] = a * x[i]                  (y may alias x)
 */
#ifndef UTIL_UNROLL
#define UTIL_UNROLL 1 /* elements per work-item; exercised by the cache test */
#endif

__kernel void util_axpy(const int n, const float a, __global const float *x, const int x_off,
			__global float *y, const int y_off)
{
	x += x_off;
	y += y_off;
	for (int u = 0; u < UTIL_UNROLL; u++) {
		const int i = (int)get_global_id(0) * UTIL_UNROLL + u;
		if (i < n)
			y[i] = a * x[i] + y[i];
	}
}

__kernel void util_scale(const int n, const float a, __global const float *x, const int x_off,
			 __global float *y, const int y_off)
{
	x += x_off;
	y += y_off;
	const int i = (int)get_global_id(0);
	if (i < n)
		y[i] = a * x[i];
}
