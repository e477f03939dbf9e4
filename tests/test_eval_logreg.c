/* cldim-test: labels=opencl;python timeout=600 */
/* The linear probe solved to convergence (dim_logreg_run, host/eval/logreg.c):
 *  - against an exact reference: PyTorch float64 L-BFGS on the same
 *    standardised features and penalty (tests/py/check_logreg.py) gives the
 *    same objective (relative 1e-5) and the same train/test accuracy (within
 *    0.3 points), on overlapping classes with 5000 train rows (two device
 *    blocks) and features of very different scales;
 *  - the stopping rule: a converged fit stops by a convergence rule with a
 *    small gradient; an iteration limit is reported as not converged;
 *  - the penalty chosen on held-out train rows is the grid's best;
 *  - bad labels and a bad grid are errors. */
#include <string.h>

#include "cldim/probe.h"
#include "testutil.h"

#define D 40
#define K 5

/* Class c has a random mean (N(0, 0.35) per axis) plus N(0, 1) noise; feature j
 * is then scaled by 10^(j % 5 - 2) and shifted by j, so standardising matters. */
static void make_data(t_rng *r, const double *means, float *x, int32_t *y, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int c = (int)(t_rand_u64(r) % K);
		y[i] = c;
		for (int j = 0; j < D; j++) {
			double u1 = t_uniform(r, 1e-9, 1), u2 = t_uniform(r, 0, 1);
			double g = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
			x[i * D + j] = (float)((g + means[c * D + j]) * pow(10, j % 5 - 2) + j);
		}
	}
}

static void dump_labels(const char *dir, const char *name, const int32_t *y, size_t n)
{
	float *f = malloc(n * sizeof *f);
	for (size_t i = 0; i < n; i++)
		f[i] = (float)y[i];
	t_dump(dir, name, f, n);
	free(f);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng r = {2024};
	size_t ntr = 5000, nte = 2000;
	double means[K * D];
	for (int i = 0; i < K * D; i++) {
		double u1 = t_uniform(&r, 1e-9, 1), u2 = t_uniform(&r, 0, 1);
		means[i] = 0.35 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
	}
	float *xtr = malloc(ntr * D * 4), *xte = malloc(nte * D * 4);
	int32_t *ytr = malloc(ntr * 4), *yte = malloc(nte * 4);
	make_data(&r, means, xtr, ytr, ntr);
	make_data(&r, means, xte, yte, nte);

	char *dir = t_tmpdir("logreg");
	t_dump(dir, "xtr", xtr, ntr * D);
	t_dump(dir, "xte", xte, nte * D);
	dump_labels(dir, "ytr", ytr, ntr);
	dump_labels(dir, "yte", yte, nte);

	dim_logreg_opts o = dim_logreg_defaults();
	dim_logreg_result res;
	static const double fixed[] = {1e-2, 1e-4};
	for (int i = 0; i < 2; i++) {
		o.l2 = fixed[i];
		CHECK_OK(ctx, dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res));
		fprintf(stderr, "l2 %g: train %.4f test %.4f objective %.8f, %d iterations, stop %s, "
			"max|g| %.2g\n", o.l2, res.train_acc, res.test_acc, res.loss, res.iters,
			res.stop, res.grad_max);
		CHECK(res.converged && res.l2 == o.l2 && res.grad_max <= 1e-3);
		CHECK(!strcmp(res.stop, "gradient") || !strcmp(res.stop, "objective") ||
		      !strcmp(res.stop, "precision"));
		CHECK(res.test_acc > 0.4 && res.test_acc < 0.98); /* not trivial */
		char args[256];
		snprintf(args, sizeof args, "%d %d %zu %zu %.17g %.17g %.17g %.17g", D, K, ntr, nte,
			 o.l2, res.loss, res.train_acc, res.test_acc);
		t_torch_run("check_logreg.py", dir, args);
	}

	/* an iteration limit is not convergence */
	o.l2 = 1e-4;
	o.max_iter = 2;
	CHECK_OK(ctx, dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res));
	CHECK(!res.converged && !strcmp(res.stop, "iterations") && res.iters == 2);

	/* the chosen penalty is the grid's best on the held-out rows */
	o = dim_logreg_defaults();
	o.ngrid = 3;
	o.grid[0] = 1e-4;
	o.grid[1] = 10;
	o.grid[2] = 1e-2;
	CHECK_OK(ctx, dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res));
	fprintf(stderr, "chosen l2 %g (held-out %.4f / %.4f / %.4f), test %.4f\n", res.l2,
		res.heldout_acc[0], res.heldout_acc[1], res.heldout_acc[2], res.test_acc);
	int bi = 0;
	for (int i = 1; i < 3; i++) /* ties go to the larger penalty */
		if (res.heldout_acc[i] > res.heldout_acc[bi] ||
		    (res.heldout_acc[i] == res.heldout_acc[bi] && o.grid[i] > o.grid[bi]))
			bi = i;
	CHECK_MSG(res.l2 == o.grid[bi], "chose %g, the held-out best is %g", res.l2, o.grid[bi]);
	CHECK(res.heldout_acc[1] < res.heldout_acc[0]); /* 10 underfits */
	CHECK(res.converged && res.total_iters > res.iters);

	/* the default grid: the path stops after two values in a row below the best */
	o = dim_logreg_defaults();
	CHECK_OK(ctx, dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res));
	double bacc = -1;
	int below = 0, fitted = 0;
	for (int i = 0; i < o.ngrid; i++) { /* the default grid is in decreasing order */
		fprintf(stderr, "  l2 %g: held-out %.4f\n", o.grid[i], res.heldout_acc[i]);
		if (res.heldout_acc[i] < 0) {
			CHECK_MSG(below >= 2, "l2 %g skipped after %d values below the best",
				  o.grid[i], below);
			continue;
		}
		CHECK_MSG(below < 2, "l2 %g fitted after two values below the best", o.grid[i]);
		fitted++;
		if (res.heldout_acc[i] > bacc) {
			bacc = res.heldout_acc[i];
			below = 0;
		} else if (res.heldout_acc[i] < bacc) {
			below++;
		}
	}
	CHECK(fitted >= 1 && res.heldout_acc[0] >= 0);
	CHECK(res.converged);

	/* bad input */
	o.ngrid = 0;
	CHECK(dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res) == DIM_ERR_ARG);
	o = dim_logreg_defaults();
	o.holdout = 1;
	CHECK(dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res) == DIM_ERR_ARG);
	o = dim_logreg_defaults();
	ytr[7] = K;
	CHECK(dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res) == DIM_ERR_ARG);
	CHECK(strstr(dim_ctx_error(ctx)->msg, "row 7") != NULL);
	ytr[7] = 0;
	yte[5] = -1;
	CHECK(dim_logreg_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &res) == DIM_ERR_ARG);

	t_rmtree(dir);
	free(dir);
	free(xtr);
	free(xte);
	free(ytr);
	free(yte);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
