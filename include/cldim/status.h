/* cldim — status codes and error messages.
 *
 * Every library function that can fail for a reason outside the code returns a
 * dim_status. The human-readable message (which file, which OpenCL error, the
 * build log) lives in a dim_error owned by the caller: a context carries one, a
 * data reader or file writer takes one as its first argument. There is no
 * process-global "last error", so two threads never clobber each other. */
#ifndef CLDIM_STATUS_H
#define CLDIM_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dim_status {
	DIM_OK = 0,
	DIM_ERR_ARG,         /* bad argument or value from the user */
	DIM_ERR_IO,          /* open/read/write/rename failed */
	DIM_ERR_FORMAT,      /* a file exists but its contents are malformed */
	DIM_ERR_NOMEM,       /* host allocation failed */
	DIM_ERR_NO_PLATFORM, /* no OpenCL ICD / platform installed */
	DIM_ERR_NO_DEVICE,   /* a device selector matched nothing */
	DIM_ERR_AMBIGUOUS,   /* a device selector matched several devices */
	DIM_ERR_CL,          /* an OpenCL call failed */
	DIM_ERR_BUILD,       /* a kernel failed to compile (build log in message) */
	DIM_ERR_DEVICE_MEM,  /* the device cannot hold what was asked */
	DIM_ERR_BLAS,        /* the GEMM backend failed */
	DIM_ERR_NUMERIC,     /* NaN/Inf where a finite value was required */
	DIM_ERR_INTERRUPTED, /* stopped by a signal at a step boundary */
	DIM_ERR_UNSUPPORTED, /* valid request this build or device cannot do */
	DIM_STATUS_COUNT
} dim_status;

#define DIM_ERROR_MAX 4096

typedef struct dim_error {
	dim_status status;
	char msg[DIM_ERROR_MAX];
} dim_error;

/* Short fixed name of a status ("io error", "no OpenCL platform", ...). */
const char *dim_status_name(dim_status s);

/* Record a failure in err (which may be NULL) and return s, so callers write
 *   return dim_fail(err, DIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
 * Returns s unchanged; the message is truncated to fit. */
dim_status dim_fail(dim_error *err, dim_status s, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Prefix the message already in err with more context ("loading x: " + old). */
dim_status dim_fail_prefix(dim_error *err, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Message text: err->msg if set, else the status name. Never NULL. */
const char *dim_error_text(const dim_error *err);

void dim_error_clear(dim_error *err);

/* Process exit code for a status, used by the command-line tool:
 * 0 ok, 1 runtime error, 2 usage error, 3 no OpenCL platform, 4 no matching
 * device, 5 ambiguous device, 6 bad input file, 7 device out of memory,
 * 8 numeric failure, 130 interrupted. */
int dim_status_exit_code(dim_status s);

#ifdef __cplusplus
}
#endif
#endif
