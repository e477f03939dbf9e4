/* Element types and shape arithmetic (see include/cldim/io.h). */
#include "io_internal.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	size_t size;
} dtypes[DIM_DT_COUNT] = {
	[DIM_DT_BOOL] = {"BOOL", 1},       [DIM_DT_U8] = {"U8", 1},
	[DIM_DT_I8] = {"I8", 1},           [DIM_DT_F8_E5M2] = {"F8_E5M2", 1},
	[DIM_DT_F8_E4M3] = {"F8_E4M3", 1}, [DIM_DT_I16] = {"I16", 2},
	[DIM_DT_U16] = {"U16", 2},         [DIM_DT_F16] = {"F16", 2},
	[DIM_DT_BF16] = {"BF16", 2},       [DIM_DT_I32] = {"I32", 4},
	[DIM_DT_U32] = {"U32", 4},         [DIM_DT_F32] = {"F32", 4},
	[DIM_DT_I64] = {"I64", 8},         [DIM_DT_U64] = {"U64", 8},
	[DIM_DT_F64] = {"F64", 8},
};

const char *dim_dtype_name(dim_dtype dt)
{
	if ((unsigned)dt >= DIM_DT_COUNT || !dtypes[dt].name)
		return "?";
	return dtypes[dt].name;
}

size_t dim_dtype_size(dim_dtype dt)
{
	if ((unsigned)dt >= DIM_DT_COUNT)
		return 0;
	return dtypes[dt].size;
}

dim_dtype dim_dtype_from_name(const char *name, size_t len)
{
	for (int i = 1; i < DIM_DT_COUNT; i++)
		if (strlen(dtypes[i].name) == len && !memcmp(dtypes[i].name, name, len))
			return (dim_dtype)i;
	return DIM_DT_INVALID;
}

bool dim_io_numel(int ndim, const int64_t *shape, size_t *numel)
{
	uint64_t n = 1;
	if (ndim < 0 || ndim > DIM_IO_MAX_DIMS)
		return false;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0 || !io_mul_u64(n, (uint64_t)shape[i], &n))
			return false;
	}
	if (n > SIZE_MAX)
		return false;
	*numel = (size_t)n;
	return true;
}

bool dim_io_nbytes(dim_dtype dt, int ndim, const int64_t *shape, size_t *nbytes)
{
	size_t numel;
	uint64_t n;
	if (dim_dtype_size(dt) == 0 || !dim_io_numel(ndim, shape, &numel))
		return false;
	if (!io_mul_u64(numel, dim_dtype_size(dt), &n) || n > SIZE_MAX)
		return false;
	*nbytes = (size_t)n;
	return true;
}

char *io_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
	size_t at = 0;
	int n = snprintf(buf, cap, "[");
	for (int i = 0; n >= 0 && i < ndim && i < DIM_IO_MAX_DIMS; i++) {
		at += (size_t)n;
		if (at >= cap)
			break;
		n = snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
	}
	if (n >= 0)
		at += (size_t)n;
	if (at < cap)
		snprintf(buf + at, cap - at, "]");
	return buf;
}
