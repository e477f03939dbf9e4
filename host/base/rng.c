/* The counter-based generator (include/cldim/base.h): splitmix64's finaliser
 * chained over seed, stream and index. */
#include <math.h>

#include "cldim/base.h"

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t dim_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
	uint64_t h = mix64(seed + 0x9E3779B97F4A7C15ull);
	h = mix64(h ^ (stream * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull));
	return mix64(h ^ (index * 0x9E3779B97F4A7C15ull + 0x8CB92BA72F3D8DD7ull));
}

double dim_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
	return (double)(dim_rng_u64(seed, stream, index) >> 11) * (1.0 / 9007199254740992.0);
}

double dim_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
	/* Box-Muller on two decorrelated draws. */
	double u1 = dim_rng_uniform(seed, stream, 2 * index);
	double u2 = dim_rng_uniform(seed, stream, 2 * index + 1);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
