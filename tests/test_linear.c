/* cldim-test: labels=opencl;op timeout=300 */
/* linear: OpenCL vs a double-precision reference (y, dx, dW, db), the
 * reference vs central finite differences, accumulation on a second backward,
 * PyTorch parity (tests/py/check_linear.py), and the tape wrappers (dim_t_linear,
 * dim_t_linear_sum). */
#include <string.h>

#include "cldim/op_linear.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

struct lc {
	int ndim, lead[2], I, O, bias; /* x [lead..., I] */
};

static const struct lc cases[] = {
	{2, {1, 0}, 7, 13, 1},   {2, {3, 0}, 13, 7, 1}, {2, {5, 0}, 64, 10, 0},
	{2, {64, 0}, 300, 65, 1}, {3, {3, 5}, 7, 4, 1},
	{3, {7, 41}, 9, 37, 1}, /* 287 rows: the blocked two-step bias gradient, tail of 5 */
	{2, {5, 0}, 9, 48, 1},  /* O % 16 == 0: the float16 bias add */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* More than 15000 input values: skipped under t_small (simulated GPU). */
static int big_case(const struct lc *c)
{
	return (long)c->lead[0] * (c->ndim == 3 ? c->lead[1] : 1) * c->I > 15000;
}

static void ref_forward(size_t M, size_t I, size_t O, const double *x, const double *w,
			const double *b, double *y)
{
	for (size_t m = 0; m < M; m++)
		for (size_t o = 0; o < O; o++) {
			double s = b ? b[o] : 0.0;
			for (size_t i = 0; i < I; i++)
				s += x[m * I + i] * w[o * I + i];
			y[m * O + o] = s;
		}
}

static void ref_backward(size_t M, size_t I, size_t O, const double *dy, const double *x,
			 const double *w, double *dx, double *dw, double *db)
{
	memset(dx, 0, M * I * 8), memset(dw, 0, O * I * 8), memset(db, 0, O * 8);
	for (size_t m = 0; m < M; m++)
		for (size_t o = 0; o < O; o++) {
			double g = dy[m * O + o];
			db[o] += g;
			for (size_t i = 0; i < I; i++) {
				dx[m * I + i] += g * w[o * I + i];
				dw[o * I + i] += g * x[m * I + i];
			}
		}
}

enum { FD_M = 3, FD_I = 5, FD_O = 4 };
struct fd_lin {
	double *x, *w, *b, *r, *y;
};

static double fd_loss(void *user)
{
	struct fd_lin *u = user;
	double l = 0;
	ref_forward(FD_M, FD_I, FD_O, u->x, u->w, u->b, u->y);
	for (int j = 0; j < FD_M * FD_O; j++)
		l += u->r[j] * u->y[j];
	return l;
}

static void check_fd(void)
{
	enum { M = FD_M, I = FD_I, O = FD_O };
	t_rng rng = {5};
	double x[M * I], w[O * I], b[O], r[M * O], y[M * O], dx[M * I], dw[O * I], db[O];
	t_fill_d(&rng, x, M * I, -1, 1), t_fill_d(&rng, w, O * I, -1, 1);
	t_fill_d(&rng, b, O, -1, 1), t_fill_d(&rng, r, M * O, -1, 1);
	ref_backward(M, I, O, r, x, w, dx, dw, db);
	double *vars[3] = {x, w, b}, *grads[3] = {dx, dw, db};
	size_t sizes[3] = {M * I, O * I, O};
	struct fd_lin u = {x, w, b, r, y};
	t_check_fd("linear", vars, grads, sizes, 3, 1e-4, 1e-7, fd_loss, &u);
}

static void run_case(dim_ctx *ctx, int ci, const char *dir)
{
	const struct lc *c = &cases[ci];
	size_t M = (size_t)c->lead[0] * (c->ndim == 3 ? c->lead[1] : 1), I = c->I, O = c->O;
	size_t nx = M * I, nw = O * I, ny = M * O;
	t_rng rng = {200 + (uint64_t)ci};
	float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(O * 4), *r = malloc(ny * 4);
	float *dw0 = malloc(nw * 4), *db0 = malloc(O * 4);
	t_fill(&rng, x, nx, -1, 1), t_fill(&rng, w, nw, -0.5f, 0.5f), t_fill(&rng, b, O, -1, 1);
	t_fill(&rng, r, ny, -1, 1), t_fill(&rng, dw0, nw, -1, 1), t_fill(&rng, db0, O, -1, 1);
	double *xd = t_to_d(x, nx), *wd = t_to_d(w, nw), *bd = t_to_d(b, O), *rd = t_to_d(r, ny);
	double *yr = malloc(ny * 8), *dxr = malloc(nx * 8), *dwr = malloc(nw * 8), *dbr = malloc(O * 8);
	ref_forward(M, I, O, xd, wd, c->bias ? bd : NULL, yr);
	ref_backward(M, I, O, rd, xd, wd, dxr, dwr, dbr);

	dim_tensor tx = {t_upload(ctx, x, nx), c->ndim, {c->lead[0], c->lead[1], 0}};
	dim_tensor ty = {t_upload(ctx, r, ny), c->ndim, {c->lead[0], c->lead[1], 0}};
	tx.shape[c->ndim - 1] = (int)I;
	ty.shape[c->ndim - 1] = (int)O;
	dim_tensor tr = ty, tdx = tx;
	tr.buf = t_upload(ctx, r, ny);
	tdx.buf = t_upload(ctx, x, nx);
	dim_tensor tw = {t_upload(ctx, w, nw), 2, {(int)O, (int)I}}, tdw = tw;
	tdw.buf = t_upload(ctx, dw0, nw);
	dim_tensor tb = {t_upload(ctx, b, O), 1, {(int)O}}, tdb = tb;
	tdb.buf = t_upload(ctx, db0, O);
	const dim_tensor *bias = c->bias ? &tb : NULL, *dbias = c->bias ? &tdb : NULL;
	char what[64];

	CHECK_OK(ctx, dim_linear_forward(ctx, &ty, &tx, &tw, bias));
	CHECK_OK(ctx, dim_linear_backward(ctx, &tdx, 0, &tdw, dbias, &tr, &tx, &tw));
	double *want = malloc((nw > nx ? nw : nx) * 8);
	for (int pass = 1; pass <= 2; pass++) {
		float *y = t_download(ctx, ty.buf, ny), *dx = t_download(ctx, tdx.buf, nx);
		float *dw = t_download(ctx, tdw.buf, nw), *db = t_download(ctx, tdb.buf, O);
		snprintf(what, sizeof what, "case %d pass %d y", ci, pass);
		t_close_scaled(what, y, yr, ny);
		for (size_t i = 0; i < nx; i++)
			want[i] = pass * dxr[i];
		snprintf(what, sizeof what, "case %d pass %d dx", ci, pass);
		t_close_scaled(what, dx, want, nx);
		for (size_t i = 0; i < nw; i++)
			want[i] = dw0[i] + pass * dwr[i];
		snprintf(what, sizeof what, "case %d pass %d dw", ci, pass);
		t_close_scaled(what, dw, want, nw);
		if (c->bias) {
			for (size_t i = 0; i < O; i++)
				want[i] = db0[i] + pass * dbr[i];
			snprintf(what, sizeof what, "case %d pass %d db", ci, pass);
			t_close_scaled(what, db, want, O);
		}
		if (pass == 1 && dir) {
			char name[32];
			for (size_t i = 0; i < nw; i++)
				dw[i] -= dw0[i];
			for (size_t i = 0; i < O; i++)
				db[i] -= db0[i];
			snprintf(name, sizeof name, "c%d_x", ci), t_dump(dir, name, x, nx);
			snprintf(name, sizeof name, "c%d_w", ci), t_dump(dir, name, w, nw);
			snprintf(name, sizeof name, "c%d_b", ci), t_dump(dir, name, b, O);
			snprintf(name, sizeof name, "c%d_r", ci), t_dump(dir, name, r, ny);
			snprintf(name, sizeof name, "c%d_y", ci), t_dump(dir, name, y, ny);
			snprintf(name, sizeof name, "c%d_dx", ci), t_dump(dir, name, dx, nx);
			snprintf(name, sizeof name, "c%d_dw", ci), t_dump(dir, name, dw, nw);
			snprintf(name, sizeof name, "c%d_db", ci), t_dump(dir, name, db, O);
		}
		free(y), free(dx), free(dw), free(db);
		if (pass == 1) /* second pass accumulates into all three */
			CHECK_OK(ctx, dim_linear_backward(ctx, &tdx, 1, &tdw, dbias, &tr, &tx, &tw));
	}
	free(want), free(x), free(w), free(b), free(r), free(dw0), free(db0);
	free(xd), free(wd), free(bd), free(rd), free(yr), free(dxr), free(dwr), free(dbr);
	dim_buf_release(&tx.buf), dim_buf_release(&ty.buf), dim_buf_release(&tr.buf);
	dim_buf_release(&tdx.buf), dim_buf_release(&tw.buf), dim_buf_release(&tdw.buf);
	dim_buf_release(&tb.buf), dim_buf_release(&tdb.buf);
}

/* Tape: x, w, b parameters; L = linear(y, r) with r [1, O] gives a scalar. */
static void check_tape(dim_ctx *ctx)
{
	enum { I = 6, O = 5 };
	t_rng rng = {77};
	float x[I], w[O * I], b[O], r[O];
	t_fill(&rng, x, I, -1, 1), t_fill(&rng, w, O * I, -1, 1), t_fill(&rng, b, O, -1, 1);
	t_fill(&rng, r, O, -1, 1);
	double xd[I], wd[O * I], rd[O], dxr[I], dwr[O * I], dbr[O];
	for (int i = 0; i < I; i++)
		xd[i] = x[i];
	for (int i = 0; i < O * I; i++)
		wd[i] = w[i];
	for (int i = 0; i < O; i++)
		rd[i] = r[i];
	ref_backward(1, I, O, rd, xd, wd, dxr, dwr, dbr);
	dim_params ps;
	dim_param *px, *pw, *pb, *pr;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "t"));
	CHECK_OK(ctx, dim_params_add(&ps, "x", 2, (int[]){1, I}, true, &px));
	CHECK_OK(ctx, dim_params_add(&ps, "w", 2, (int[]){O, I}, true, &pw));
	CHECK_OK(ctx, dim_params_add(&ps, "b", 1, (int[]){O}, true, &pb));
	CHECK_OK(ctx, dim_params_add(&ps, "r", 2, (int[]){1, O}, false, &pr));
	CHECK_OK(ctx, dim_param_set(ctx, px, x));
	CHECK_OK(ctx, dim_param_set(ctx, pw, w));
	CHECK_OK(ctx, dim_param_set(ctx, pb, b));
	CHECK_OK(ctx, dim_param_set(ctx, pr, r));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "tape", &t));
	for (int step = 1; step <= 2; step++) {
		dim_tape_begin(t, true);
		dim_var *y, *l = NULL;
		CHECK_OK(ctx, dim_t_linear(t, t_param(t, px), t_param(t, pw), t_param(t, pb), &y));
		CHECK_OK(ctx, dim_t_linear(t, y, t_param(t, pr), NULL, &l));
		if (!l)
			break;
		CHECK_OK(ctx, dim_tape_backward(t, l, 1.0f));
		float gx[I], gw[O * I], gb[O];
		double wx[I], ww[O * I], wb[O];
		CHECK_OK(ctx, dim_tensor_read(ctx, &px->grad, gx));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pw->grad, gw));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pb->grad, gb));
		for (int i = 0; i < I; i++)
			wx[i] = step * dxr[i];
		for (int i = 0; i < O * I; i++)
			ww[i] = step * dwr[i];
		for (int i = 0; i < O; i++)
			wb[i] = step * dbr[i];
		t_close("tape dx", gx, wx, I, 1e-4, 1e-5);
		t_close("tape dw", gw, ww, O * I, 1e-4, 1e-5);
		t_close("tape db", gb, wb, O, 1e-4, 1e-5);
	}
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

static void check_errors(dim_ctx *ctx)
{
	float v[32];
	t_rng rng = {1};
	t_fill(&rng, v, 32, -1, 1);
	dim_buf b = t_upload(ctx, v, 32);
	dim_tensor x = {b, 2, {2, 3}}, w = {b, 2, {4, 2}}, y = {b, 2, {2, 4}};
	CHECK(dim_linear_forward(ctx, &y, &x, &w, NULL) == DIM_ERR_ARG);
	w.shape[1] = 3;
	y.shape[1] = 5;
	CHECK(dim_linear_forward(ctx, &y, &x, &w, NULL) == DIM_ERR_ARG);
	dim_buf_release(&b);
}

/* dim_t_linear_sum (y = x1 W1^T + b1 + x2 W2^T in one node) against the
 * double reference of two layers, with distinct inputs and with x2 == x1
 * (the second contribution to dx accumulates); loss = y . r. */
static void check_tape_sum(dim_ctx *ctx, int same_x)
{
	enum { I1 = 6, O = 5 };
	const int I2 = same_x ? I1 : 4;
	t_rng rng = {91};
	float x1[I1], x2[I1], w1[O * I1], w2[O * I1], b[O], r[O];
	t_fill(&rng, x1, I1, -1, 1), t_fill(&rng, x2, I2, -1, 1);
	t_fill(&rng, w1, O * I1, -1, 1), t_fill(&rng, w2, O * I2, -1, 1);
	t_fill(&rng, b, O, -1, 1), t_fill(&rng, r, O, -1, 1);
	if (same_x)
		memcpy(x2, x1, sizeof x1);
	double x1d[I1], x2d[I1], w1d[O * I1], w2d[O * I1], rd[O];
	double dx1[I1], dw1[O * I1], db1[O], dx2[I1], dw2[O * I1], db2[O], y[O];
	for (int i = 0; i < I1; i++)
		x1d[i] = x1[i], x2d[i] = x2[i];
	for (int i = 0; i < O * I1; i++)
		w1d[i] = w1[i], w2d[i] = w2[i];
	for (int o = 0; o < O; o++) {
		rd[o] = r[o];
		y[o] = b[o];
		for (int i = 0; i < I1; i++)
			y[o] += x1d[i] * w1d[o * I1 + i];
		for (int i = 0; i < I2; i++)
			y[o] += x2d[i] * w2d[o * I2 + i];
	}
	ref_backward(1, I1, O, rd, x1d, w1d, dx1, dw1, db1);
	ref_backward(1, I2, O, rd, x2d, w2d, dx2, dw2, db2);
	if (same_x)
		for (int i = 0; i < I1; i++)
			dx1[i] += dx2[i];

	dim_params ps;
	dim_param *p1, *p2 = NULL, *pw1, *pw2, *pb, *pr;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "s"));
	CHECK_OK(ctx, dim_params_add(&ps, "x1", 2, (int[]){1, I1}, true, &p1));
	if (!same_x)
		CHECK_OK(ctx, dim_params_add(&ps, "x2", 2, (int[]){1, I2}, true, &p2));
	CHECK_OK(ctx, dim_params_add(&ps, "w1", 2, (int[]){O, I1}, true, &pw1));
	CHECK_OK(ctx, dim_params_add(&ps, "w2", 2, (int[]){O, I2}, true, &pw2));
	CHECK_OK(ctx, dim_params_add(&ps, "b", 1, (int[]){O}, true, &pb));
	CHECK_OK(ctx, dim_params_add(&ps, "r", 2, (int[]){1, O}, false, &pr));
	CHECK_OK(ctx, dim_param_set(ctx, p1, x1));
	if (p2)
		CHECK_OK(ctx, dim_param_set(ctx, p2, x2));
	CHECK_OK(ctx, dim_param_set(ctx, pw1, w1));
	CHECK_OK(ctx, dim_param_set(ctx, pw2, w2));
	CHECK_OK(ctx, dim_param_set(ctx, pb, b));
	CHECK_OK(ctx, dim_param_set(ctx, pr, r));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "tape", &t));
	dim_tape_begin(t, true);
	dim_var *v1 = t_param(t, p1), *v2 = p2 ? t_param(t, p2) : v1, *ys = NULL, *l = NULL;
	CHECK_OK(ctx, dim_t_linear_sum(t, v1, t_param(t, pw1), t_param(t, pb), v2, t_param(t, pw2),
				       &ys));
	CHECK_OK(ctx, dim_t_linear(t, ys, t_param(t, pr), NULL, &l));
	if (l) {
		CHECK_OK(ctx, dim_tape_backward(t, l, 1.0f));
		float gy[O], g1[I1], g2[I1], gw1[O * I1], gw2[O * I1], gb[O];
		CHECK_OK(ctx, dim_tensor_read(ctx, &ys->val, gy));
		CHECK_OK(ctx, dim_tensor_read(ctx, &p1->grad, g1));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pw1->grad, gw1));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pw2->grad, gw2));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pb->grad, gb));
		t_close("sum y", gy, y, O, 1e-4, 1e-5);
		t_close("sum dx1", g1, dx1, I1, 1e-4, 1e-5);
		t_close("sum dw1", gw1, dw1, O * I1, 1e-4, 1e-5);
		t_close("sum dw2", gw2, dw2, O * I2, 1e-4, 1e-5);
		t_close("sum db", gb, db1, O, 1e-4, 1e-5);
		if (p2) {
			CHECK_OK(ctx, dim_tensor_read(ctx, &p2->grad, g2));
			t_close("sum dx2", g2, dx2, I2, 1e-4, 1e-5);
		}
	}
	/* widths that do not match are an error, not a crash */
	dim_var *none = v1;
	CHECK(dim_t_linear_sum(t, v1, t_param(t, pw1), NULL, v2, t_param(t, pb), &none) ==
	      DIM_ERR_ARG && !none);
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	check_fd();
	char *dir = t_tmpdir("linear");
	char manifest[1024] = "";
	for (int i = 0; i < NCASES; i++) {
		const struct lc *c = &cases[i];
		if (t_small() && big_case(c))
			continue; /* the smaller cases cover the same paths */
		run_case(ctx, i, dir);
		size_t used = strlen(manifest);
		snprintf(manifest + used, sizeof manifest - used, "%d %d %d %d %d\n",
			 c->lead[0] * (c->ndim == 3 ? c->lead[1] : 1), c->I, c->O, c->bias, c->ndim);
	}
	check_errors(ctx);
	check_tape(ctx);
	check_tape_sum(ctx, 0);
	check_tape_sum(ctx, 1);
	{
		/* the other form of the element kernels on this device too: one
		 * element per work-item (GPUs) on a CPU, float16 chunks on a GPU */
		dim_ctx *c1 = t_ctx_with("CLDIM_VEC16", dim_ctx_vec16(ctx) ? "0" : "1");
		for (int i = 0; i < NCASES; i++)
			if (!t_small() || !big_case(&cases[i]))
				run_case(c1, i, NULL);
		dim_ctx_destroy(c1);
	}
	char path[1024];
	snprintf(path, sizeof path, "%s/cases.txt", dir);
	t_write_file(path, manifest, strlen(manifest));
	/* the script reads every case of the table (t_small skips some) */
	if (t_small())
		fprintf(stderr, "skipped: PyTorch parity (CLDIM_TEST_SMALL)\n");
	else if (t_torch_run("check_linear.py", dir, NULL) == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
