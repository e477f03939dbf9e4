/* cldim — the base layer under everything (host/base/): logging, a monotonic
 * clock, hashing, the counter-based generator and filesystem helpers. It
 * depends on the C library only; status codes are in cldim/status.h, the
 * other half of the layer. See docs/design.md, "Layers". */
#ifndef CLDIM_BASE_H
#define CLDIM_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ logging */

enum { DIM_LOG_ERROR = 0, DIM_LOG_WARN = 1, DIM_LOG_INFO = 2, DIM_LOG_DEBUG = 3 };
void dim_log_set_level(int level);
int dim_log_level(void);
/* Called (from the logging thread) before each message is printed, e.g. to
 * end a progress bar's line; NULL: none. */
void dim_log_set_before(void (*fn)(void *user), void *user);
void dim_log(int level, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Monotonic clock in seconds. */
double dim_now(void);

/* ------------------------------------------------------------------ hashing */

/* 64-bit FNV-1a over bytes, chained from h (start with DIM_FNV_INIT). */
#define DIM_FNV_INIT 0xcbf29ce484222325ull
uint64_t dim_fnv1a(uint64_t h, const void *data, size_t n);

/* ------------------------------------------------------------------ random */

/* Counter-based generator: the value at (seed, stream, index) never depends on
 * how many values were drawn before, so initialisation and sampling are
 * reproducible regardless of order or thread count. */
uint64_t dim_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
double dim_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index); /* [0,1) */
double dim_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);

/* --------------------------------------------------------------- filesystem */

/* mkdir -p: create dir and its missing parents (mode 0755). Returns 0 when
 * dir is a directory afterwards, else -1 with errno set (ENAMETOOLONG for a
 * path of 4096 bytes or more, ENOTDIR when a component is a file). */
int dim_mkdir_p(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
