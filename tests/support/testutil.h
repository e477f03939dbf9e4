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

#include "cldim/autodiff.h"
#include "cldim/runtime.h"

extern int t_failures;

/* Tape leaves for tests: the var, or NULL after recording a failure with the
 * context's message (an op given the NULL then fails with DIM_ERR_ARG). */
dim_var *t_param(dim_tape *t, dim_param *p);
dim_var *t_input(dim_tape *t, const dim_tensor *x);

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

/* Parts of the test that could not run here (t_torch_run without PyTorch). */
extern int t_skipped;

/* The test's exit code: 1 when a check failed, else 77 ("skipped" to CTest,
 * via SKIP_RETURN_CODE) when a part was skipped, else 0. A test that skipped
 * its PyTorch parity never reports a pass. */
int t_result(void);
#define T_RESULT() t_result()

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

/* ---- numeric references (tests/support/numcheck.c) ---- */

/* max |x[i]| (0 for n == 0). */
double t_maxabs(const double *x, size_t n);
/* A malloc'd double copy of x. */
double *t_to_d(const float *x, size_t n);
/* t_close with the op tests' tolerance for results of a whole op: rtol 1e-4
 * and atol 1e-5 * max|want| + 1e-6 (the error of a sum scales with its largest
 * terms, not with each output). */
int t_close_scaled(const char *what, const float *got, const double *want, size_t n);

/* Finite-difference check of a double-precision reference gradient. For each
 * variable array vars[v] (sizes[v] entries) and each entry i, the central
 * difference (L(x + h) - L(x - h)) / 2h, with L = loss(user) evaluated after
 * setting vars[v][i], is compared to grads[v][i]; a mismatch is
 * |fd - g| > tol * (1 + |fd|). Prints the first five mismatches and counts
 * one failure naming `what` if there were any. Returns the mismatch count. */
typedef double (*t_loss_fn)(void *user);
int t_check_fd(const char *what, double *const *vars, double *const *grads, const size_t *sizes,
	       int nvars, double h, double tol, t_loss_fn loss, void *user);

/* Upload / download helpers that allocate a fresh buffer (tests only). */
dim_buf t_upload(dim_ctx *ctx, const float *x, size_t n);
float *t_download(dim_ctx *ctx, dim_buf b, size_t n);

/* A fresh empty temporary directory (mkdtemp under TMPDIR); caller frees. */
char *t_tmpdir(const char *tag);
/* Newlines in a file; -1 when it cannot be opened. */
int t_count_lines(const char *path);
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
 * not available: then the part counts as skipped (t_skipped), so the test
 * ends with 77 and CTest reports it skipped, not passed. With
 * CLDIM_REQUIRE_TORCH=1 in the environment (CI) a missing PyTorch is a
 * failure instead. CLDIM_TORCH_PARITY=off (the Oclgrind stage, whose op
 * tests run for the simulator's checks) leaves the parity part out, saying so. */
int t_torch_available(void);
/* For a test that is all PyTorch parity: the exit code when PyTorch is
 * missing (77, or 1 under CLDIM_REQUIRE_TORCH=1), after saying why. */
int t_torch_missing(const char *what);
int t_dump(const char *dir, const char *name, const float *x, size_t n);
int t_torch_run(const char *script, const char *dir, const char *args);
