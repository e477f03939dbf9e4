/* bench.cl — micro-benchmarks that measure a device's peak.
 *
 *   bench_fma:  each work-item runs 8 independent float16 FMA chains (128
 *               lanes, 2 flops each) for `iters` iterations, all in registers,
 *               then writes one float so nothing is optimised away. Explicit
 *               wide vectors give PoCL AVX-512 FMAs directly (scalar chains
 *               measured 40 GFLOP/s here vs 86 for this form, same load);
 *               GPUs run the 16 components as independent FMAs (ILP).
 *               flops = global_size * iters * 128 * 2
 *               With -DDIM_FMA (the host's dim_ctx_use_fma) the chains use
 *               fma(): PoCL compiles mad() to a multiply and an add, which
 *               measured 180 GFLOP/s against 470 for vfmadd on a 2-core
 *               Sapphire Rapids.
 *   bench_copy: y[i] = x[i] over float4 elements; bytes = 2 * n * 16.
 */
#ifdef DIM_FMA
#define MADD(a, b, c) fma(a, b, c)
#else
#define MADD(a, b, c) mad(a, b, c)
#endif
__kernel void bench_fma(const int iters, const float a, const float b,
			__global float *out, const int out_off)
{
	out += out_off;
	const float s = (float)get_global_id(0) * 1e-7f;
	float16 x0 = (float16)(s), x1 = (float16)(s + 1), x2 = (float16)(s + 2), x3 = (float16)(s + 3);
	float16 x4 = (float16)(s+4), x5 = (float16)(s + 5), x6 = (float16)(s + 6), x7 = (float16)(s + 7);
	const float16 av = (float16)(a), bv = (float16)(b); /* fma/mad take one type */
	for (int i = 0; i < iters; i++) {
		x0 = MADD(x0, av, bv); x1 = MADD(x1, av, bv); x2 = MADD(x2, av, bv); x3 = MADD(x3, av, bv);
		x4 = MADD(x4, av, bv); x5 = MADD(x5, av, bv); x6 = MADD(x6, av, bv); x7 = MADD(x7, av, bv);
	}
	/* every lane feeds the test: NVIDIA's compiler drops the chains of lanes
	 * that no result reads (a test on s0+s5 alone measured 303 TFLOP/s on an
	 * H200, about 5x its fp32 rate) */
	const float16 acc = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
	const float8 h8 = acc.lo + acc.hi;
	const float4 h4 = h8.lo + h8.hi;
	const float r = h4.x + h4.y + h4.z + h4.w;
	if (r == 1234.5f)
		out[get_global_id(0)] = r;
}

__kernel void bench_copy(const int n, __global const float4 *x, const int x_off,
			 __global float4 *y, const int y_off)
{
	/* offsets are in floats; callers pass multiples of 4 */
	x += x_off / 4;
	y += y_off / 4;
	const int i = (int)get_global_id(0);
	if (i < n)
		y[i] = x[i];
}
