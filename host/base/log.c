/* Minimal leveled logging to stderr and a monotonic clock. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "cldim/base.h"

static int log_level = DIM_LOG_INFO;
static void (*log_before)(void *user);
static void *log_before_user;

void dim_log_set_before(void (*fn)(void *user), void *user)
{
	log_before = fn;
	log_before_user = user;
}

void dim_log_set_level(int level) { log_level = level; }
int dim_log_level(void) { return log_level; }

void dim_log(int level, const char *fmt, ...)
{
	static const char *const tag[] = {"error", "warning", "info", "debug"};
	if (level > log_level)
		return;
	if (level < 0)
		level = 0;
	if (level > DIM_LOG_DEBUG)
		level = DIM_LOG_DEBUG;
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (log_before)
		log_before(log_before_user);
	fprintf(stderr, "cldim: %s: %s\n", tag[level], line);
}

double dim_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
