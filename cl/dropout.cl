/* dropout.cl — inverted dropout with a counter-based mask.
 *
 * Layout: flat fp32 vectors of n elements; buffer arguments are (pointer,
 * offset in floats), kernels add the offset first. One work-item per element.
 *
 * The mask bit of element i is a pure function of (seed, step, i):
 *   u = rng(seed, step, i)      (the same 64-bit hash as dim_rng_u64)
 *   keep = (u >> 32) >= thresh  thresh = round(p * 2^32) on the host
 * so forward and backward regenerate the same mask without storing it, for
 * any work-group size or device.
 *   dropout_apply: y[i] = keep ? scale * x[i] : 0     (scale = 1 / (1 - p))
 * Backward is the same kernel on dy (accumulate: dx += ..., else dx =).
 * Evaluation mode is thresh = 0, scale = 1 (identity).
 */

ulong dropout_mix64(ulong z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
	return z ^ (z >> 31);
}

ulong dropout_rng(ulong seed, ulong stream, ulong index)
{
	ulong h = dropout_mix64(seed + 0x9E3779B97F4A7C15UL);
	h = dropout_mix64(h ^ (stream * 0xD1B54A32D192ED03UL + 0x632BE59BD9B4E019UL));
	return dropout_mix64(h ^ (index * 0x9E3779B97F4A7C15UL + 0x8CB92BA72F3D8DD7UL));
}

__kernel void dropout_apply(const int n, const uint seed_lo, const uint seed_hi,
			    const uint step_lo, const uint step_hi, const uint thresh,
			    const float scale, const int accumulate, __global float *y,
			    const int y_off, __global const float *x, const int x_off)
{
	y += y_off;
	x += x_off;
	const int i = (int)get_global_id(0);
	if (i >= n)
		return;
	const ulong seed = ((ulong)seed_hi << 32) | seed_lo;
	const ulong step = ((ulong)step_hi << 32) | step_lo;
	const uint u = (uint)(dropout_rng(seed, step, (ulong)i) >> 32);
	const float r = u >= thresh ? scale * x[i] : 0.0f;
	y[i] = accumulate ? y[i] + r : r;
}
