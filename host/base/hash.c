/* FNV-1a hashing (include/cldim/base.h). */
#include "cldim/base.h"

uint64_t dim_fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
