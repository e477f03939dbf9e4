/* cldim-test: labels=unit timeout=60 */
/* The test helpers themselves: t_check_fd finds a wrong gradient, and a
 * PyTorch part that cannot run makes the test exit 77 (CTest: skipped),
 * never 0, or 1 when CLDIM_REQUIRE_TORCH=1 (CI). */
#include <string.h>
#include <unistd.h>

#include "testutil.h"

struct quad {
	double *x;
	size_t n;
};

/* L = sum_i (i + 1) x_i^2, so dL/dx_i = 2 (i + 1) x_i */
static double quad_loss(void *user)
{
	struct quad *q = user;
	double l = 0;
	for (size_t i = 0; i < q->n; i++)
		l += (double)(i + 1) * q->x[i] * q->x[i];
	return l;
}

static void test_fd(void)
{
	double x[6], g[6];
	t_rng rng = {3};
	t_fill_d(&rng, x, 6, -1, 1);
	for (int i = 0; i < 6; i++)
		g[i] = 2.0 * (i + 1) * x[i];
	double *vars[1] = {x}, *grads[1] = {g};
	size_t sizes[1] = {6};
	struct quad q = {x, 6};
	CHECK(t_check_fd("quadratic", vars, grads, sizes, 1, 1e-5, 1e-7, quad_loss, &q) == 0);
	int before = t_failures;
	g[4] *= 1.001;
	CHECK(t_check_fd("quadratic, one wrong entry", vars, grads, sizes, 1, 1e-5, 1e-7,
			 quad_loss, &q) == 1);
	CHECK(t_failures == before + 1);
	t_failures = before; /* that failure was the point */
	double m[3] = {-4, 2, 3};
	CHECK(t_maxabs(m, 3) == 4 && t_maxabs(m, 0) == 0);
}

/* Run this program as a child that only tries a PyTorch part. */
static int child(const char *env)
{
	char cmd[4200], out[4096];
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -2;
	self[n] = '\0';
	snprintf(cmd, sizeof cmd, "env %s '%s' --torch-part", env, self);
	int rc = t_run(cmd, out, sizeof out);
	fprintf(stderr, "  [%s] -> %d: %s", env, rc, out);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--torch-part")) {
		CHECK(1);
		CHECK(t_torch_run("check_activation.py", "/nonexistent", NULL) != 0);
		return T_RESULT();
	}
	test_fd();
	CHECK(child("CLDIM_TORCH_PYTHON=/nonexistent/python3 CLDIM_REQUIRE_TORCH=0") == 77);
	CHECK(child("CLDIM_TORCH_PYTHON=/nonexistent/python3 CLDIM_REQUIRE_TORCH=1") == 1);
	CHECK(child("CLDIM_TORCH_PYTHON= CLDIM_REQUIRE_TORCH=") == 77);
	return T_RESULT();
}
