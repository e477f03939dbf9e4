/* cldim-test: labels=opencl;op timeout=300 */
/* batchnorm: OpenCL vs a double-precision reference (y, saved mean/rstd,
 * running statistics, dx, dgamma, dbeta) in training and evaluation, the
 * reference vs central finite differences, accumulation on a second backward,
 * PyTorch parity (tests/py/check_batchnorm.py), and the tape wrapper. */
#include <string.h>

#include "cldim/op_batchnorm.h"
#include "cldim/op_linear.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

struct bc {
	int ndim, shape[4], affine, training;
};

static const struct bc cases[] = {
	{2, {5, 7}, 1, 1},       {2, {3, 13}, 0, 1},     {2, {64, 13}, 1, 1},
	{4, {3, 7, 5, 7}, 1, 1}, {4, {1, 3, 5, 7}, 1, 1}, {4, {2, 64, 8, 8}, 1, 1},
	{4, {3, 7, 5, 7}, 1, 0}, {2, {5, 7}, 0, 0},      {3, {2, 5, 300}, 1, 1},
	/* rows layout with >= 256 rows: the two-step column reduction */
	{2, {300, 13}, 1, 1},    {2, {517, 37}, 0, 1},
	/* rows of whole float16 channel vectors: the *_rows element kernels */
	{2, {7, 32}, 1, 1},      {2, {300, 48}, 0, 1},   {2, {5, 16}, 1, 0},
	/* planes of whole float16 vectors (S = 16, 32): the *_planes kernels */
	{4, {3, 5, 4, 4}, 1, 1}, {4, {2, 3, 4, 8}, 1, 0}, {4, {2, 7, 4, 8}, 0, 1},
	/* planes of any S on float16 devices: the *_planes reductions with a
	 * scalar tail (S = 9: tail only; 196: basic28's 14x14 map) */
	{4, {3, 6, 3, 3}, 1, 1}, {4, {2, 5, 14, 14}, 1, 1}, {4, {2, 3, 7, 7}, 0, 1},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])
#define EPS 1e-5

static size_t bc_numel(const struct bc *c)
{
	size_t n = 1;
	for (int k = 0; k < c->ndim; k++)
		n *= (size_t)c->shape[k];
	return n;
}
#define MOM 0.1

struct dims {
	int N, C, S;
	size_t total;
};

static struct dims dims_of(int ndim, const int *shape)
{
	struct dims d = {shape[0], shape[1], 1, 0};
	for (int i = 2; i < ndim; i++)
		d.S *= shape[i];
	d.total = (size_t)d.N * d.C * d.S;
	return d;
}

#define AT(d, n, c, s) (((size_t)(n) * (d).C + (c)) * (d).S + (s))

/* y, mean, rstd; running stats updated in training (rm/rv may be NULL). */
static void ref_forward(struct dims d, int training, const double *x, const double *w,
			const double *b, double *rm, double *rv, double *y, double *mean,
			double *rstd)
{
	double M = (double)d.N * d.S;
	for (int c = 0; c < d.C; c++) {
		double mu = 0, var = 0;
		if (training) {
			for (int n = 0; n < d.N; n++)
				for (int s = 0; s < d.S; s++)
					mu += x[AT(d, n, c, s)];
			mu /= M;
			for (int n = 0; n < d.N; n++)
				for (int s = 0; s < d.S; s++)
					var += (x[AT(d, n, c, s)] - mu) * (x[AT(d, n, c, s)] - mu);
			var /= M;
			if (rm) {
				rm[c] = (1 - MOM) * rm[c] + MOM * mu;
				rv[c] = (1 - MOM) * rv[c] + MOM * var * M / (M - 1);
			}
		} else {
			mu = rm[c];
			var = rv[c];
		}
		mean[c] = mu;
		rstd[c] = 1.0 / sqrt(var + EPS);
		for (int n = 0; n < d.N; n++)
			for (int s = 0; s < d.S; s++) {
				size_t i = AT(d, n, c, s);
				y[i] = (x[i] - mu) * rstd[c] * (w ? w[c] : 1.0) + (b ? b[c] : 0.0);
			}
	}
}

static void ref_backward(struct dims d, int training, const double *dy, const double *x,
			 const double *w, const double *mean, const double *rstd, double *dx,
			 double *dw, double *db)
{
	double M = (double)d.N * d.S;
	for (int c = 0; c < d.C; c++) {
		double sdy = 0, sdyx = 0;
		for (int n = 0; n < d.N; n++)
			for (int s = 0; s < d.S; s++) {
				size_t i = AT(d, n, c, s);
				sdy += dy[i];
				sdyx += dy[i] * (x[i] - mean[c]) * rstd[c];
			}
		dw[c] = sdyx;
		db[c] = sdy;
		double g = (w ? w[c] : 1.0) * rstd[c];
		for (int n = 0; n < d.N; n++)
			for (int s = 0; s < d.S; s++) {
				size_t i = AT(d, n, c, s);
				double v = dy[i];
				if (training)
					v -= sdy / M + (x[i] - mean[c]) * rstd[c] * sdyx / M;
				dx[i] = g * v;
			}
	}
}

static double loss(struct dims d, int training, const double *x, const double *w,
		   const double *b, double *rm, double *rv, const double *r, double *y)
{
	double mean[16], rstd[16], l = 0;
	ref_forward(d, training, x, w, b, rm, rv, y, mean, rstd);
	for (size_t i = 0; i < d.total; i++)
		l += r[i] * y[i];
	return l;
}

struct fd_bn {
	struct dims d;
	int training;
	double *x, *w, *b, *rm, *rv, *r, *y;
};

static double fd_loss(void *user)
{
	struct fd_bn *u = user;
	return loss(u->d, u->training, u->x, u->w, u->b, u->rm, u->rv, u->r, u->y);
}

static void check_fd(int training)
{
	struct dims d = {3, 4, 5, 60};
	t_rng rng = {11};
	double x[60], w[4], b[4], r[60], y[60], dx[60], dw[4], db[4], mean[4], rstd[4];
	double rm[4], rv[4];
	t_fill_d(&rng, x, 60, -2, 2), t_fill_d(&rng, w, 4, -1, 1), t_fill_d(&rng, b, 4, -1, 1);
	t_fill_d(&rng, r, 60, -1, 1), t_fill_d(&rng, rm, 4, -1, 1), t_fill_d(&rng, rv, 4, 0.5, 2);
	ref_forward(d, training, x, w, b, training ? NULL : rm, training ? NULL : rv, y, mean,
		    rstd);
	ref_backward(d, training, r, x, w, mean, rstd, dx, dw, db);
	double *vars[3] = {x, w, b}, *grads[3] = {dx, dw, db};
	size_t sizes[3] = {60, 4, 4};
	struct fd_bn u = {d, training, x, w, b, training ? NULL : rm, training ? NULL : rv, r, y};
	t_check_fd(training ? "batchnorm (training)" : "batchnorm (eval)", vars, grads, sizes, 3,
		   1e-5, 1e-6, fd_loss, &u);
}

static void dumpf(const char *dir, int ci, const char *what, const float *x, size_t n)
{
	char name[32];
	snprintf(name, sizeof name, "c%d_%s", ci, what);
	t_dump(dir, name, x, n);
}

static void run_case(dim_ctx *ctx, dim_arena *ws, int ci, const char *dir)
{
	const struct bc *c = &cases[ci];
	struct dims d = dims_of(c->ndim, c->shape);
	size_t n = d.total, C = (size_t)d.C;
	t_rng rng = {300 + (uint64_t)ci};
	float *x = malloc(n * 4), *r = malloc(n * 4), w[64], b[64], rm[64], rv[64], dw0[64], db0[64];
	t_fill(&rng, x, n, -2, 3), t_fill(&rng, r, n, -1, 1);
	t_fill(&rng, w, C, -1.5f, 1.5f), t_fill(&rng, b, C, -1, 1);
	t_fill(&rng, rm, C, -1, 1), t_fill(&rng, rv, C, 0.5f, 2);
	t_fill(&rng, dw0, C, -1, 1), t_fill(&rng, db0, C, -1, 1);
	double *xd = t_to_d(x, n), *rd = t_to_d(r, n), *wd = t_to_d(w, C), *bd = t_to_d(b, C);
	double *rmd = t_to_d(rm, C), *rvd = t_to_d(rv, C);
	double *yr = malloc(n * 8), *dxr = malloc(n * 8), meanr[64], rstdr[64], dwr[64], dbr[64];
	const double *wa = c->affine ? wd : NULL;
	ref_forward(d, c->training, xd, wa, c->affine ? bd : NULL, rmd, rvd, yr, meanr, rstdr);
	ref_backward(d, c->training, rd, xd, wa, meanr, rstdr, dxr, dwr, dbr);

	dim_tensor tx = {t_upload(ctx, x, n), c->ndim, {0}}, ty, tr, tdx;
	memcpy(tx.shape, c->shape, sizeof c->shape);
	ty = tr = tdx = tx;
	ty.buf = t_upload(ctx, r, n), tr.buf = t_upload(ctx, r, n), tdx.buf = t_upload(ctx, x, n);
	dim_tensor vec = {{0}, 1, {d.C}}, tw = vec, tb = vec, trm = vec, trv = vec, tmean = vec,
		   trstd = vec, tdw = vec, tdb = vec;
	tw.buf = t_upload(ctx, w, C), tb.buf = t_upload(ctx, b, C);
	trm.buf = t_upload(ctx, rm, C), trv.buf = t_upload(ctx, rv, C);
	tmean.buf = t_upload(ctx, w, C), trstd.buf = t_upload(ctx, w, C);
	tdw.buf = t_upload(ctx, dw0, C), tdb.buf = t_upload(ctx, db0, C);
	const dim_tensor *pw = c->affine ? &tw : NULL, *pb = c->affine ? &tb : NULL;
	const dim_tensor *pdw = c->affine ? &tdw : NULL, *pdb = c->affine ? &tdb : NULL;
	dim_batchnorm_desc desc = {1e-5f, 0.1f, c->training};
	char what[64];
	dim_arena_mark m = dim_arena_get_mark(ws);

	CHECK_OK(ctx, dim_batchnorm_forward(ctx, &desc, &ty, &tmean, &trstd, &trm, &trv, &tx, pw, pb));
	CHECK_OK(ctx, dim_batchnorm_backward(ctx, &desc, ws, &tdx, 0, pdw, pdb, &tr, &tx, pw,
					     &tmean, &trstd));
	dim_arena_reset(ws, m);
	float *y = t_download(ctx, ty.buf, n), *dx = t_download(ctx, tdx.buf, n);
	float *mean = t_download(ctx, tmean.buf, C), *rstd = t_download(ctx, trstd.buf, C);
	float *rm1 = t_download(ctx, trm.buf, C), *rv1 = t_download(ctx, trv.buf, C);
	float *dw = t_download(ctx, tdw.buf, C), *db = t_download(ctx, tdb.buf, C);
	snprintf(what, sizeof what, "case %d y", ci), t_close_scaled(what, y, yr, n);
	snprintf(what, sizeof what, "case %d mean", ci), t_close_scaled(what, mean, meanr, C);
	snprintf(what, sizeof what, "case %d rstd", ci), t_close_scaled(what, rstd, rstdr, C);
	snprintf(what, sizeof what, "case %d running_mean", ci), t_close_scaled(what, rm1, rmd, C);
	snprintf(what, sizeof what, "case %d running_var", ci), t_close_scaled(what, rv1, rvd, C);
	snprintf(what, sizeof what, "case %d dx", ci), t_close_scaled(what, dx, dxr, n);
	double want[64], *want_x = malloc(n * 8);
	if (c->affine) {
		for (size_t i = 0; i < C; i++)
			want[i] = dw0[i] + dwr[i];
		snprintf(what, sizeof what, "case %d dgamma", ci), t_close_scaled(what, dw, want, C);
		for (size_t i = 0; i < C; i++)
			want[i] = db0[i] + dbr[i];
		snprintf(what, sizeof what, "case %d dbeta", ci), t_close_scaled(what, db, want, C);
	}
	if (dir) {
		for (size_t i = 0; i < C; i++)
			dw[i] -= dw0[i], db[i] -= db0[i];
		dumpf(dir, ci, "x", x, n), dumpf(dir, ci, "r", r, n), dumpf(dir, ci, "w", w, C);
		dumpf(dir, ci, "b", b, C), dumpf(dir, ci, "rm0", rm, C), dumpf(dir, ci, "rv0", rv, C);
		dumpf(dir, ci, "y", y, n), dumpf(dir, ci, "dx", dx, n), dumpf(dir, ci, "dw", dw, C);
		dumpf(dir, ci, "db", db, C), dumpf(dir, ci, "rm", rm1, C), dumpf(dir, ci, "rv", rv1, C);
	}
	free(y), free(dx), free(dw), free(db);

	/* second backward: dx accumulates, dgamma/dbeta gain another ref */
	CHECK_OK(ctx, dim_batchnorm_backward(ctx, &desc, ws, &tdx, 1, pdw, pdb, &tr, &tx, pw,
					     &tmean, &trstd));
	dim_arena_reset(ws, m);
	dx = t_download(ctx, tdx.buf, n), dw = t_download(ctx, tdw.buf, C);
	db = t_download(ctx, tdb.buf, C);
	for (size_t i = 0; i < n; i++)
		want_x[i] = 2 * dxr[i];
	snprintf(what, sizeof what, "case %d dx (accumulate)", ci), t_close_scaled(what, dx, want_x, n);
	if (c->affine) {
		for (size_t i = 0; i < C; i++)
			want[i] = dw0[i] + 2 * dwr[i];
		snprintf(what, sizeof what, "case %d dgamma twice", ci), t_close_scaled(what, dw, want, C);
		for (size_t i = 0; i < C; i++)
			want[i] = db0[i] + 2 * dbr[i];
		snprintf(what, sizeof what, "case %d dbeta twice", ci), t_close_scaled(what, db, want, C);
	}
	free(dx), free(dw), free(db), free(want_x), free(mean), free(rstd), free(rm1), free(rv1);
	free(x), free(r), free(xd), free(rd), free(wd), free(bd), free(rmd), free(rvd), free(yr);
	free(dxr);
	dim_tensor *all[] = {&tx, &ty, &tr, &tdx, &tw, &tb, &trm, &trv, &tmean, &trstd, &tdw, &tdb};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		dim_buf_release(&all[i]->buf);
}

static void check_errors(dim_ctx *ctx)
{
	float v[16];
	t_rng rng = {3};
	t_fill(&rng, v, 16, 0.5f, 1);
	dim_buf b = t_upload(ctx, v, 16);
	dim_tensor x = {b, 2, {1, 3}}, c3 = {b, 1, {3}};
	dim_batchnorm_desc d = DIM_BATCHNORM_DEFAULTS;
	CHECK(dim_batchnorm_forward(ctx, &d, &x, &c3, &c3, NULL, NULL, &x, NULL, NULL) ==
	      DIM_ERR_ARG); /* one value per channel in training */
	x.shape[0] = 2;
	d.training = 0;
	CHECK(dim_batchnorm_forward(ctx, &d, &x, &c3, &c3, NULL, NULL, &x, NULL, NULL) ==
	      DIM_ERR_ARG); /* evaluation without running stats */
	dim_tensor c4 = {b, 1, {4}};
	d.training = 1;
	CHECK(dim_batchnorm_forward(ctx, &d, &x, &c3, &c3, NULL, NULL, &x, &c4, NULL) ==
	      DIM_ERR_ARG);
	dim_buf_release(&b);
}

/* Tape: x [4, 3] and gamma/beta as params, y = bn(x) viewed as [1, 12], then
 * L = linear(y, r [1, 12]) = sum(r * y). Two training steps (gradients double,
 * running stats update twice), then one evaluation step. */
static void check_tape(dim_ctx *ctx)
{
	struct dims d = {4, 3, 1, 12};
	t_rng rng = {55};
	float x[12], w[3], b[3], r[12], ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0};
	t_fill(&rng, x, 12, -2, 2), t_fill(&rng, w, 3, -1, 1), t_fill(&rng, b, 3, -1, 1);
	t_fill(&rng, r, 12, -1, 1);
	double xd[12], wd[3], bd[3], rd[12], y[12], mean[3], rstd[3], dx[12], dw[3], db[3];
	double rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1};
	for (int i = 0; i < 12; i++)
		xd[i] = x[i], rd[i] = r[i];
	for (int i = 0; i < 3; i++)
		wd[i] = w[i], bd[i] = b[i];
	dim_params ps;
	dim_param *px, *pw, *pb, *pr, *prm, *prv;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "t"));
	CHECK_OK(ctx, dim_params_add(&ps, "x", 2, (int[]){4, 3}, true, &px));
	CHECK_OK(ctx, dim_params_add(&ps, "bn.weight", 1, (int[]){3}, true, &pw));
	CHECK_OK(ctx, dim_params_add(&ps, "bn.bias", 1, (int[]){3}, true, &pb));
	CHECK_OK(ctx, dim_params_add(&ps, "bn.running_mean", 1, (int[]){3}, false, &prm));
	CHECK_OK(ctx, dim_params_add(&ps, "bn.running_var", 1, (int[]){3}, false, &prv));
	CHECK_OK(ctx, dim_params_add(&ps, "r", 2, (int[]){1, 12}, false, &pr));
	CHECK_OK(ctx, dim_param_set(ctx, px, x));
	CHECK_OK(ctx, dim_param_set(ctx, pw, w));
	CHECK_OK(ctx, dim_param_set(ctx, pb, b));
	CHECK_OK(ctx, dim_param_set(ctx, pr, r));
	CHECK_OK(ctx, dim_param_set(ctx, prm, zeros));
	CHECK_OK(ctx, dim_param_set(ctx, prv, ones));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "tape", &t));
	dim_batchnorm_desc desc = DIM_BATCHNORM_DEFAULTS;
	for (int step = 1; step <= 3; step++) {
		int training = step <= 2;
		dim_tape_begin(t, training);
		ref_forward(d, training, xd, wd, bd, rm, rv, y, mean, rstd);
		dim_var *yv = NULL;
		CHECK_OK(ctx, dim_t_batchnorm(t, &desc, t_param(t, px), t_param(t, pw),
					      t_param(t, pb), prm, prv, &yv));
		if (!yv)
			break;
		float got[12], grm[3], grv[3];
		CHECK_OK(ctx, dim_tensor_read(ctx, &yv->val, got));
		CHECK_OK(ctx, dim_tensor_read(ctx, &prm->value, grm));
		CHECK_OK(ctx, dim_tensor_read(ctx, &prv->value, grv));
		t_close("tape y", got, y, 12, 1e-4, 1e-5);
		t_close("tape running_mean", grm, rm, 3, 1e-4, 1e-6);
		t_close("tape running_var", grv, rv, 3, 1e-4, 1e-6);
		if (!training)
			break;
		dim_var *flat, *l = NULL;
		CHECK_OK(ctx, dim_tape_view(t, yv, 2, (int[]){1, 12}, &flat));
		CHECK_OK(ctx, dim_t_linear(t, flat, t_param(t, pr), NULL, &l));
		if (!l)
			break;
		CHECK_OK(ctx, dim_tape_backward(t, l, 1.0f));
		ref_backward(d, 1, rd, xd, wd, mean, rstd, dx, dw, db);
		float gx[12], gw[3], gb[3];
		CHECK_OK(ctx, dim_tensor_read(ctx, &px->grad, gx));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pw->grad, gw));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pb->grad, gb));
		for (int i = 0; i < 12; i++)
			dx[i] *= step;
		for (int i = 0; i < 3; i++)
			dw[i] *= step, db[i] *= step;
		t_close("tape dx", gx, dx, 12, 1e-4, 1e-5);
		t_close("tape dgamma", gw, dw, 3, 1e-4, 1e-5);
		t_close("tape dbeta", gb, db, 3, 1e-4, 1e-5);
	}
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	dim_arena *ws;
	CHECK_OK(ctx, dim_arena_create(ctx, "ws", (size_t)1 << 20, &ws));
	check_fd(1);
	check_fd(0);
	char *dir = t_tmpdir("batchnorm");
	char manifest[2048] = "";
	for (int i = 0; i < NCASES; i++) {
		const struct bc *c = &cases[i];
		if (t_small() && bc_numel(c) > 15000)
			continue; /* the smaller cases cover the same paths */
		run_case(ctx, ws, i, dir);
		size_t used = strlen(manifest);
		used += (size_t)snprintf(manifest + used, sizeof manifest - used, "%d %d %d",
					 c->affine, c->training, c->ndim);
		for (int k = 0; k < c->ndim; k++)
			used += (size_t)snprintf(manifest + used, sizeof manifest - used, " %d",
						 c->shape[k]);
		snprintf(manifest + used, sizeof manifest - used, "\n");
	}
	check_errors(ctx);
	check_tape(ctx);
	{
		/* the other form of the element kernels on this device too: one
		 * element per work-item (GPUs) on a CPU, float16 chunks on a GPU */
		dim_ctx *c1 = t_ctx_with("CLDIM_VEC16", dim_ctx_vec16(ctx) ? "0" : "1");
		dim_arena *ws1;
		CHECK_OK(c1, dim_arena_create(c1, "ws", (size_t)1 << 20, &ws1));
		for (int i = 0; i < NCASES; i++)
			if (!t_small() || bc_numel(&cases[i]) <= 15000)
				run_case(c1, ws1, i, NULL);
		dim_arena_destroy(ws1);
		dim_ctx_destroy(c1);
	}
	char path[1024];
	snprintf(path, sizeof path, "%s/cases.txt", dir);
	t_write_file(path, manifest, strlen(manifest));
	/* the script reads every case of the table (t_small skips some) */
	if (t_small())
		fprintf(stderr, "skipped: PyTorch parity (CLDIM_TEST_SMALL)\n");
	else if (t_torch_run("check_batchnorm.py", dir, NULL) == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_arena_destroy(ws);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
