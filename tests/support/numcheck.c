/* Numeric helpers for the op tests: tolerances scaled to an op's output and
 * finite-difference checks of the double-precision references (testutil.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

double t_maxabs(const double *x, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fabs(x[i]) > m ? fabs(x[i]) : m;
	return m;
}

double *t_to_d(const float *x, size_t n)
{
	double *d = malloc(n * sizeof *d + 1);
	if (!d) {
		fprintf(stderr, "t_to_d: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		d[i] = x[i];
	return d;
}

int t_close_scaled(const char *what, const float *got, const double *want, size_t n)
{
	return t_close(what, got, want, n, 1e-4, 1e-5 * t_maxabs(want, n) + 1e-6);
}

int t_check_fd(const char *what, double *const *vars, double *const *grads, const size_t *sizes,
	       int nvars, double h, double tol, t_loss_fn loss, void *user)
{
	int bad = 0;
	for (int v = 0; v < nvars; v++)
		for (size_t i = 0; i < sizes[v]; i++) {
			double keep = vars[v][i];
			vars[v][i] = keep + h;
			double lp = loss(user);
			vars[v][i] = keep - h;
			double lm = loss(user);
			vars[v][i] = keep;
			double fd = (lp - lm) / (2 * h);
			if (!(fabs(fd - grads[v][i]) <= tol * (1 + fabs(fd))) && bad++ < 5)
				fprintf(stderr, "%s: finite differences, var %d [%zu]: fd %.10g, "
					"reference %.10g\n", what, v, i, fd, grads[v][i]);
		}
	CHECK_MSG(bad == 0, "%s: %d finite-difference mismatches", what, bad);
	return bad;
}
