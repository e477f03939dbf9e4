/* Shared helpers for cldim's C tests.
 *
 * A test is a plain program: it returns 0 when every check passed, 1 when one
 * failed, 77 when it cannot run here (no OpenCL platform, no PyTorch). CHECK
 * records a failure with file:line and keeps going, so one run shows every
 * problem; tests end with `return T_RESULT();`. */
#ifndef CLDIM_TESTUTIL_H
#define CLDIM_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cldim/runtime.h"

extern int t_failures;

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			t_failures++;                                                       \
		}                                                                           \
	} while (0)

#define CHECK_MSG(cond, ...)                                                                \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			t_failures++;                                                       \
		}                                                                           \
	} while (0)

/* Check a dim_status is DIM_OK; print the context's message otherwise. */
#define CHECK_OK(ctx, expr)                                                                 \
	do {                                                                                \
		dim_status st_ = (expr);                                                    \
		if (st_ != DIM_OK) {                                                        \
			fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,  \
				dim_status_name(st_), (ctx) ? dim_ctx_errmsg(ctx) : "");     \
			t_failures++;                                                       \
		}                                                                           \
	} while (0)

/* Same, when the function reports through a dim_error. */
#define CHECK_OK_ERR(err, expr)                                                             \
	do {                                                                                \
		dim_status st_ = (expr);                                                    \
		if (st_ != DIM_OK) {                                                        \
			fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,  \
				dim_status_name(st_), dim_error_text(err));                  \
			t_failures++;                                                       \
		}                                                                           \
	} while (0)

#define T_RESULT() (t_failures ? (fprintf(stderr, "%d check(s) failed\n", t_failures), 1) : 0)

/* A context on the default device, or exit(77) with a message when this
 * machine has no OpenCL platform. Tests only. */
dim_ctx *t_ctx(void);

/* t_ctx with the environment variable `name` set to `value` while the
 * context is made (the runtime reads its switches then, e.g. CLDIM_VEC16=0
 * for the one-element-per-work-item kernels); the variable is unset after. */
dim_ctx *t_ctx_with(const char *name, const char *value);

/* Whether CLDIM_TEST_SMALL is set (not "0"): the run is on a slow simulated
 * device (tests/oclgrind/run.sh sets it), so tests with large cases skip
 * those and keep the small ones, which still cover every code path. */
int t_small(void);

/* Deterministic pseudo-random numbers for test data (splitmix64). */
typedef struct t_rng { uint64_t s; } t_rng;
uint64_t t_rand_u64(t_rng *r);
double t_uniform(t_rng *r, double lo, double hi);
/* Fill with values in [lo, hi] that are never exactly zero. */
void t_fill(t_rng *r, float *x, size_t n, float lo, float hi);
void t_fill_d(t_rng *r, double *x, size_t n, double lo, double hi);

/* Compare got (fp32) to want (double): |got-want| <= atol + rtol*|want|.
 * Prints the first few mismatches with their index and the worst error.
 * Returns 1 when all match (and counts a failure otherwise). */
int t_close(const char *what, const float *got, const double *want, size_t n, double rtol,
	    double atol);
int t_close_ff(const char *what, const float *got, const float *want, size_t n, double rtol,
	       double atol);

/* Upload / download helpers that allocate a fresh buffer (tests only). */
dim_buf t_upload(dim_ctx *ctx, const float *x, size_t n);
float *t_download(dim_ctx *ctx, dim_buf b, size_t n);

/* A fresh empty temporary directory (mkdtemp under TMPDIR); caller frees. */
char *t_tmpdir(const char *tag);
/* rm -r of a directory made by t_tmpdir. */
void t_rmtree(const char *path);
/* Write bytes to a file; returns 0 on success. */
int t_write_file(const char *path, const void *data, size_t n);

#endif

/* Run a shell command with stderr folded into stdout; the output (truncated
 * to n-1 bytes) lands in out. Returns the exit code, or -1 when the command
 * could not run or was killed by a signal. */
int t_run(const char *cmd, char *out, size_t n);

/* ---- PyTorch parity (third oracle) ----
 * A C test dumps its inputs and cldim's outputs as raw little-endian float32
 * files into a directory (t_dump), then runs a Python script from tests/py/
 * with Debian's python3 (CLDIM_TORCH_PYTHON) and that directory as argument.
 * The script recomputes with torch and compares (tests/py/torchcheck.py).
 * t_torch_run returns 0 when it passed, 1 when it failed, 77 when PyTorch is
 * not available (the caller prints "skipped" for that part). */
int t_torch_available(void);
int t_dump(const char *dir, const char *name, const float *x, size_t n);
int t_torch_run(const char *script, const char *dir, const char *args);
