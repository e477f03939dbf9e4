/* cldim-test: labels=opencl timeout=300 */
/* Probes, k-NN and NDM on data with a known answer:
 *  - linearly separable classes: linear and non-linear probes reach ~100%;
 *  - shuffled labels: test accuracy near chance;
 *  - the MLP probe's held-out epoch choice: early stop after `patience` epochs,
 *    and the parameters scored are the best epoch's, not the last one's;
 *  - Gaussian clusters: k-NN near 100%, exact neighbours of a tiny set;
 *  - NDM: independent factors give ~0, duplicated factors clearly more. */
#include <string.h>

#include "cldim/probe.h"
#include "testutil.h"

#define D 13
#define K 4

/* Class c has mean 3 * e_c (first K axes) plus N(0, 0.5) noise in D dims. */
static void clusters(t_rng *r, float *x, int32_t *y, size_t n, float sep)
{
	for (size_t i = 0; i < n; i++) {
		int c = (int)(t_rand_u64(r) % K);
		y[i] = c;
		for (int j = 0; j < D; j++) {
			double u1 = t_uniform(r, 1e-9, 1), u2 = t_uniform(r, 0, 1);
			double g = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
			x[i * D + j] = (float)(0.5 * g + (j == c ? sep : 0));
		}
	}
}

static void test_probes(dim_ctx *ctx)
{
	t_rng r = {7};
	size_t ntr = 901, nte = 333;
	float *xtr = malloc(ntr * D * 4), *xte = malloc(nte * D * 4);
	int32_t *ytr = malloc(ntr * 4), *yte = malloc(nte * 4);
	clusters(&r, xtr, ytr, ntr, 3);
	clusters(&r, xte, yte, nte, 3);

	dim_probe_result res;
	dim_probe_opts lin = dim_probe_linear_defaults();
	lin.epochs = 10;
	CHECK_OK(ctx, dim_probe_run(ctx, &lin, D, K, xtr, ytr, ntr, xte, yte, nte, &res));
	fprintf(stderr, "linear separable: train %.3f test %.3f loss %.4f\n", res.train_acc,
		res.test_acc, res.final_loss);
	CHECK(res.test_acc > 0.98);

	dim_probe_opts mlp = dim_probe_mlp_defaults();
	mlp.epochs = 5;
	mlp.lr = 1e-3;
	CHECK_OK(ctx, dim_probe_run(ctx, &mlp, D, K, xtr, ytr, ntr, xte, yte, nte, &res));
	fprintf(stderr, "mlp separable: train %.3f test %.3f loss %.4f\n", res.train_acc,
		res.test_acc, res.final_loss);
	CHECK(res.test_acc > 0.98);

	/* shuffled train labels carry no information about x: chance on test */
	for (size_t i = ntr - 1; i > 0; i--) {
		size_t j = t_rand_u64(&r) % (i + 1);
		int32_t t = ytr[i];
		ytr[i] = ytr[j];
		ytr[j] = t;
	}
	CHECK_OK(ctx, dim_probe_run(ctx, &lin, D, K, xtr, ytr, ntr, xte, yte, nte, &res));
	fprintf(stderr, "linear shuffled: train %.3f test %.3f\n", res.train_acc, res.test_acc);
	CHECK(fabs(res.test_acc - 1.0 / K) < 0.1);

	/* bad labels are an error, not a crash */
	ytr[3] = K;
	CHECK(dim_probe_run(ctx, &lin, D, K, xtr, ytr, ntr, xte, yte, nte, &res) == DIM_ERR_ARG);
	free(xtr);
	free(xte);
	free(ytr);
	free(yte);
}

/* Overlapping classes, so held-out and test accuracy move from epoch to epoch. */
static void test_probe_holdout(dim_ctx *ctx)
{
	t_rng r = {5};
	size_t ntr = 700, nte = 400;
	float *xtr = malloc(ntr * D * 4), *xte = malloc(nte * D * 4);
	int32_t *ytr = malloc(ntr * 4), *yte = malloc(nte * 4);
	clusters(&r, xtr, ytr, ntr, 0.8f);
	clusters(&r, xte, yte, nte, 0.8f);

	dim_probe_opts o = dim_probe_mlp_defaults();
	CHECK(o.holdout == 0.1 && o.patience == 20 && o.epochs == 100 && o.lr == 1e-3);
	CHECK(o.milestones[0] == 50 && o.milestones[1] == 100 && o.hidden == 200);
	o.lr = 3e-3;
	o.epochs = 60;
	o.patience = 4;
	dim_probe_result a, b;
	CHECK_OK(ctx, dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &a));
	fprintf(stderr, "mlp held-out: best epoch %d of %d run, held-out %.3f, train %.3f, test "
		"%.3f\n", a.best_epoch, a.epochs, a.heldout_acc, a.train_acc, a.test_acc);
	CHECK(a.best_epoch >= 1 && a.best_epoch <= a.epochs);
	CHECK(a.heldout_acc > 0.4 && a.heldout_acc <= 1);
	/* stopped by the patience rule (or ran out of epochs) */
	CHECK(a.epochs == o.epochs || a.epochs == a.best_epoch + o.patience);
	CHECK(a.epochs < o.epochs); /* this problem stops early */

	/* the same seed for exactly best_epoch epochs trains the same parameters:
	 * the first run must have scored them, not those of its last epoch */
	o.epochs = a.best_epoch;
	o.patience = 0;
	CHECK_OK(ctx, dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &b));
	CHECK(b.best_epoch == a.best_epoch && b.epochs == a.best_epoch);
	CHECK_MSG(b.test_acc == a.test_acc && b.train_acc == a.train_acc &&
		  b.heldout_acc == a.heldout_acc, "test %.4f vs %.4f, train %.4f vs %.4f",
		  b.test_acc, a.test_acc, b.train_acc, a.train_acc);
	/* patience 0 runs all epochs but still scores the best epoch's parameters */
	dim_probe_result c;
	o.epochs = a.epochs;
	CHECK_OK(ctx, dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &c));
	CHECK(c.epochs == a.epochs && c.best_epoch == a.best_epoch && c.test_acc == a.test_acc);

	/* without held-out rows: all epochs run, the last one is scored */
	o.holdout = 0;
	o.epochs = 3;
	CHECK_OK(ctx, dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &c));
	CHECK(c.epochs == 3 && c.best_epoch == 3 && c.heldout_acc == -1);

	/* held-out fractions that leave nothing to hold out or to train on */
	o.holdout = 0.001; /* 0 rows of 700 */
	CHECK(dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &c) == DIM_ERR_ARG);
	o.holdout = 0.999; /* 699 rows held out, 1 to train on */
	CHECK(dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &c) == DIM_ERR_ARG);
	o.holdout = 1;
	CHECK(dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &c) == DIM_ERR_ARG);
	o.holdout = 0.1;
	o.patience = -1;
	CHECK(dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &c) == DIM_ERR_ARG);
	o.patience = 0;
	yte[5] = -1;
	CHECK(dim_probe_run(ctx, &o, D, K, xtr, ytr, ntr, xte, yte, nte, &c) == DIM_ERR_ARG);
	free(xtr);
	free(xte);
	free(ytr);
	free(yte);
}

static void test_knn(dim_ctx *ctx)
{
	t_rng r = {11};
	size_t ntr = 5000, nte = 1100; /* crosses the query and base block sizes */
	float *xtr = malloc(ntr * D * 4), *xte = malloc(nte * D * 4);
	int32_t *ytr = malloc(ntr * 4), *yte = malloc(nte * 4);
	clusters(&r, xtr, ytr, ntr, 3);
	clusters(&r, xte, yte, nte, 3);
	double acc = 0;
	CHECK_OK(ctx, dim_knn_accuracy(ctx, D, 10, K, xtr, ytr, ntr, xte, yte, nte, &acc));
	fprintf(stderr, "knn clusters: %.3f\n", acc);
	CHECK(acc > 0.98);

	/* exact neighbours against brute force in double, on a small set */
	size_t n = 37, idx[37 * 3];
	float sim[37 * 3];
	CHECK_OK(ctx, dim_knn_search(ctx, D, xtr, n, xtr, n, 3, true, idx, sim));
	for (size_t q = 0; q < n; q++) {
		double best = -2;
		size_t bi = 0;
		for (size_t j = 0; j < n; j++) {
			if (j == q)
				continue;
			double dot = 0, a = 0, b = 0;
			for (int k = 0; k < D; k++) {
				dot += (double)xtr[q * D + k] * xtr[j * D + k];
				a += (double)xtr[q * D + k] * xtr[q * D + k];
				b += (double)xtr[j * D + k] * xtr[j * D + k];
			}
			double c = dot / sqrt(a * b);
			if (c > best) {
				best = c;
				bi = j;
			}
		}
		CHECK_MSG(idx[q * 3] == bi, "query %zu: nearest %zu, want %zu", q, idx[q * 3], bi);
		CHECK(fabs(sim[q * 3] - best) < 1e-4);
		CHECK(sim[q * 3] >= sim[q * 3 + 1] && sim[q * 3 + 1] >= sim[q * 3 + 2]);
	}
	CHECK(dim_knn_search(ctx, D, xtr, 3, xtr, 3, 3, true, idx, sim) == DIM_ERR_ARG);
	free(xtr);
	free(xte);
	free(ytr);
	free(yte);
}

static void test_ndm(dim_ctx *ctx)
{
	t_rng r = {3};
	size_t n = 2000;
	int d = 8;
	float *indep = malloc(n * d * 4), *dep = malloc(n * d * 4);
	t_fill(&r, indep, n * d, -2, 2);
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < d; j++) /* columns 2k and 2k+1 are equal */
			dep[i * d + j] = indep[i * d + (j & ~1)];
	dim_ndm_opts o = dim_ndm_defaults();
	o.steps = 150;
	o.batch = 200;
	double a = 0, b = 0;
	CHECK_OK(ctx, dim_ndm_run(ctx, &o, indep, n, d, &a));
	CHECK_OK(ctx, dim_ndm_run(ctx, &o, dep, n, d, &b));
	fprintf(stderr, "NDM independent %.4f, dependent %.4f\n", a, b);
	CHECK(fabs(a) < 0.1);
	CHECK(b > a + 0.3);

	/* MINE on (x, y): y independent of x gives ~0; y = x's first 4 columns
	 * gives a clearly positive estimate */
	float *y_ind = malloc(n * 4 * 4), *y_dep = malloc(n * 4 * 4);
	t_fill(&r, y_ind, n * 4, -2, 2);
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < 4; j++)
			y_dep[i * 4 + j] = indep[i * d + j];
	double mi0 = 0, mi1 = 0;
	CHECK_OK(ctx, dim_mine_run(ctx, &o, indep, d, y_ind, 4, n, &mi0));
	CHECK_OK(ctx, dim_mine_run(ctx, &o, indep, d, y_dep, 4, n, &mi1));
	fprintf(stderr, "MINE independent %.4f, dependent %.4f\n", mi0, mi1);
	CHECK(fabs(mi0) < 0.1);
	CHECK(mi1 > mi0 + 0.5);
	CHECK(dim_mine_run(ctx, &o, indep, d, y_dep, 4, 3, &mi1) == DIM_ERR_ARG);
	free(y_ind);
	free(y_dep);
	free(indep);
	free(dep);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	test_probes(ctx);
	test_probe_holdout(ctx);
	test_knn(ctx);
	test_ndm(ctx);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
