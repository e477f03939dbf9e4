/* Status names and error-message helpers (see include/cldim/status.h). */
#include "cldim/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[DIM_STATUS_COUNT] = {
	[DIM_OK] = "ok",
	[DIM_ERR_ARG] = "invalid argument",
	[DIM_ERR_IO] = "i/o error",
	[DIM_ERR_FORMAT] = "malformed input",
	[DIM_ERR_NOMEM] = "out of host memory",
	[DIM_ERR_NO_PLATFORM] = "no OpenCL platform",
	[DIM_ERR_NO_DEVICE] = "no matching OpenCL device",
	[DIM_ERR_AMBIGUOUS] = "ambiguous device selection",
	[DIM_ERR_CL] = "OpenCL error",
	[DIM_ERR_BUILD] = "kernel build failed",
	[DIM_ERR_DEVICE_MEM] = "out of device memory",
	[DIM_ERR_BLAS] = "GEMM backend error",
	[DIM_ERR_NUMERIC] = "non-finite value",
	[DIM_ERR_INTERRUPTED] = "interrupted",
	[DIM_ERR_UNSUPPORTED] = "unsupported",
};

const char *dim_status_name(dim_status s)
{
	if ((unsigned)s >= DIM_STATUS_COUNT || !status_names[s])
		return "unknown status";
	return status_names[s];
}

dim_status dim_fail(dim_error *err, dim_status s, const char *fmt, ...)
{
	if (!err)
		return s;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->status = s;
	return s;
}

dim_status dim_fail_prefix(dim_error *err, const char *fmt, ...)
{
	if (!err)
		return DIM_ERR_ARG;
	char old[DIM_ERROR_MAX];
	memcpy(old, err->msg, sizeof old);
	old[sizeof old - 1] = '\0';
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - (size_t)n, "%s", old);
	return err->status;
}

const char *dim_error_text(const dim_error *err)
{
	if (!err)
		return "(no error record)";
	if (err->msg[0])
		return err->msg;
	return dim_status_name(err->status);
}

void dim_error_clear(dim_error *err)
{
	if (!err)
		return;
	err->status = DIM_OK;
	err->msg[0] = '\0';
}

int dim_status_exit_code(dim_status s)
{
	switch (s) {
	case DIM_OK: return 0;
	case DIM_ERR_ARG: return 2;
	case DIM_ERR_NO_PLATFORM: return 3;
	case DIM_ERR_NO_DEVICE: return 4;
	case DIM_ERR_AMBIGUOUS: return 5;
	case DIM_ERR_FORMAT: return 6;
	case DIM_ERR_DEVICE_MEM: return 7;
	case DIM_ERR_NUMERIC: return 8;
	case DIM_ERR_INTERRUPTED: return 130;
	default: return 1;
	}
}
