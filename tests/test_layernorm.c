/* cldim-test: labels=opencl;op timeout=300 */
/* layernorm over channels: OpenCL vs a double-precision reference (y, saved
 * mean/rstd, dx, dgamma, dbeta), the reference vs central finite
 * differences, accumulation on a second backward, PyTorch parity
 * (tests/py/check_layernorm.py), and the tape wrapper. */
#include <string.h>

#include "cldim/op_layernorm.h"
#include "cldim/op_linear.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

struct lc {
	int ndim, shape[4], affine;
};

static const struct lc cases[] = {
	{2, {5, 7}, 1},       {2, {3, 13}, 0},      {2, {64, 13}, 1},    {4, {3, 7, 5, 7}, 1},
	{4, {1, 3, 5, 7}, 1}, {4, {2, 64, 8, 8}, 1}, {4, {2, 300, 3, 3}, 1}, {3, {3, 5, 7}, 0},
	/* rows layout with >= 256 rows: the two-step column reduction */
	{2, {300, 13}, 1},    {2, {517, 37}, 1},
	/* C % 16 == 0 rows: the per-row float16 kernels (and with >= 256 rows) */
	{2, {19, 32}, 1},     {2, {300, 48}, 0},    {3, {2, 131, 64}, 1},
	/* rows on GPU forms: a work-group per row, C below, at and above the
	 * local size, odd */
	{2, {3, 1}, 1},       {2, {5, 1000}, 1},    {2, {2, 2048}, 0},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])
#define EPS 1e-5

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

static void ref_forward(struct dims d, const double *x, const double *w, const double *b,
			double *y, double *mean, double *rstd)
{
	for (int n = 0; n < d.N; n++)
		for (int s = 0; s < d.S; s++) {
			double mu = 0, var = 0;
			for (int c = 0; c < d.C; c++)
				mu += x[AT(d, n, c, s)];
			mu /= d.C;
			for (int c = 0; c < d.C; c++)
				var += (x[AT(d, n, c, s)] - mu) * (x[AT(d, n, c, s)] - mu);
			var /= d.C;
			double rs = 1.0 / sqrt(var + EPS);
			mean[n * d.S + s] = mu;
			rstd[n * d.S + s] = rs;
			for (int c = 0; c < d.C; c++) {
				size_t i = AT(d, n, c, s);
				y[i] = (x[i] - mu) * rs * (w ? w[c] : 1.0) + (b ? b[c] : 0.0);
			}
		}
}

static void ref_backward(struct dims d, const double *dy, const double *x, const double *w,
			 const double *mean, const double *rstd, double *dx, double *dw, double *db)
{
	memset(dw, 0, sizeof(double) * d.C);
	memset(db, 0, sizeof(double) * d.C);
	for (int n = 0; n < d.N; n++)
		for (int s = 0; s < d.S; s++) {
			double mu = mean[n * d.S + s], rs = rstd[n * d.S + s], a = 0, b = 0;
			for (int c = 0; c < d.C; c++) {
				size_t i = AT(d, n, c, s);
				double g = dy[i] * (w ? w[c] : 1.0), xh = (x[i] - mu) * rs;
				a += g, b += g * xh;
				dw[c] += dy[i] * xh;
				db[c] += dy[i];
			}
			a /= d.C, b /= d.C;
			for (int c = 0; c < d.C; c++) {
				size_t i = AT(d, n, c, s);
				double g = dy[i] * (w ? w[c] : 1.0), xh = (x[i] - mu) * rs;
				dx[i] = rs * (g - a - xh * b);
			}
		}
}

struct fd_ln {
	struct dims d;
	double *x, *w, *b, *r, *y, *mean, *rstd;
};

static double fd_loss(void *user)
{
	struct fd_ln *u = user;
	double l = 0;
	ref_forward(u->d, u->x, u->w, u->b, u->y, u->mean, u->rstd);
	for (size_t j = 0; j < u->d.total; j++)
		l += u->r[j] * u->y[j];
	return l;
}

static void check_fd(void)
{
	struct dims d = {2, 5, 3, 30};
	t_rng rng = {13};
	double x[30], w[5], b[5], r[30], y[30], dx[30], dw[5], db[5], mean[6], rstd[6];
	t_fill_d(&rng, x, 30, -2, 2), t_fill_d(&rng, w, 5, -1, 1), t_fill_d(&rng, b, 5, -1, 1);
	t_fill_d(&rng, r, 30, -1, 1);
	ref_forward(d, x, w, b, y, mean, rstd);
	ref_backward(d, r, x, w, mean, rstd, dx, dw, db);
	double *vars[3] = {x, w, b}, *grads[3] = {dx, dw, db};
	size_t sizes[3] = {30, 5, 5};
	struct fd_ln u = {d, x, w, b, r, y, mean, rstd};
	t_check_fd("layernorm", vars, grads, sizes, 3, 1e-5, 1e-6, fd_loss, &u);
}

static void dumpf(const char *dir, int ci, const char *what, const float *x, size_t n)
{
	char name[32];
	snprintf(name, sizeof name, "c%d_%s", ci, what);
	t_dump(dir, name, x, n);
}

static void run_case(dim_ctx *ctx, int ci, const char *dir)
{
	const struct lc *c = &cases[ci];
	struct dims d = dims_of(c->ndim, c->shape);
	size_t n = d.total, C = (size_t)d.C, L = (size_t)d.N * d.S;
	t_rng rng = {400 + (uint64_t)ci};
	float *x = malloc(n * 4), *r = malloc(n * 4), *w = malloc(C * 4), *b = malloc(C * 4);
	float *dw0 = malloc(C * 4), *db0 = malloc(C * 4);
	t_fill(&rng, x, n, -2, 3), t_fill(&rng, r, n, -1, 1);
	t_fill(&rng, w, C, -1.5f, 1.5f), t_fill(&rng, b, C, -1, 1);
	t_fill(&rng, dw0, C, -1, 1), t_fill(&rng, db0, C, -1, 1);
	double *xd = t_to_d(x, n), *rd = t_to_d(r, n), *wd = t_to_d(w, C), *bd = t_to_d(b, C);
	double *yr = malloc(n * 8), *dxr = malloc(n * 8), *meanr = malloc(L * 8);
	double *rstdr = malloc(L * 8), *dwr = malloc(C * 8), *dbr = malloc(C * 8);
	const double *wa = c->affine ? wd : NULL;
	ref_forward(d, xd, wa, c->affine ? bd : NULL, yr, meanr, rstdr);
	ref_backward(d, rd, xd, wa, meanr, rstdr, dxr, dwr, dbr);

	dim_tensor tx = {t_upload(ctx, x, n), c->ndim, {0}}, ty, tr, tdx;
	memcpy(tx.shape, c->shape, sizeof c->shape);
	ty = tr = tdx = tx;
	ty.buf = t_upload(ctx, r, n), tr.buf = t_upload(ctx, r, n), tdx.buf = t_upload(ctx, x, n);
	dim_tensor vec = {{0}, 1, {d.C}}, tw = vec, tb = vec, tdw = vec, tdb = vec;
	dim_tensor loc = {{0}, 2, {d.N, d.S}}, tmean = loc, trstd = loc;
	tw.buf = t_upload(ctx, w, C), tb.buf = t_upload(ctx, b, C);
	tdw.buf = t_upload(ctx, dw0, C), tdb.buf = t_upload(ctx, db0, C);
	tmean.buf = t_upload(ctx, x, L), trstd.buf = t_upload(ctx, x, L);
	const dim_tensor *pw = c->affine ? &tw : NULL, *pb = c->affine ? &tb : NULL;
	const dim_tensor *pdw = c->affine ? &tdw : NULL, *pdb = c->affine ? &tdb : NULL;
	char what[64];

	CHECK_OK(ctx, dim_layernorm_forward(ctx, 1e-5f, &ty, &tmean, &trstd, &tx, pw, pb));
	CHECK_OK(ctx, dim_layernorm_backward(ctx, &tdx, 0, pdw, pdb, &tr, &tx, pw, &tmean, &trstd));
	float *y = t_download(ctx, ty.buf, n), *dx = t_download(ctx, tdx.buf, n);
	float *mean = t_download(ctx, tmean.buf, L), *rstd = t_download(ctx, trstd.buf, L);
	float *dw = t_download(ctx, tdw.buf, C), *db = t_download(ctx, tdb.buf, C);
	snprintf(what, sizeof what, "case %d y", ci), t_close_scaled(what, y, yr, n);
	snprintf(what, sizeof what, "case %d mean", ci), t_close_scaled(what, mean, meanr, L);
	snprintf(what, sizeof what, "case %d rstd", ci), t_close_scaled(what, rstd, rstdr, L);
	snprintf(what, sizeof what, "case %d dx", ci), t_close_scaled(what, dx, dxr, n);
	double *want = malloc((n > C ? n : C) * 8);
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
		dumpf(dir, ci, "b", b, C), dumpf(dir, ci, "y", y, n), dumpf(dir, ci, "dx", dx, n);
		dumpf(dir, ci, "dw", dw, C), dumpf(dir, ci, "db", db, C);
	}
	free(y), free(dx), free(dw), free(db);

	CHECK_OK(ctx, dim_layernorm_backward(ctx, &tdx, 1, pdw, pdb, &tr, &tx, pw, &tmean, &trstd));
	dx = t_download(ctx, tdx.buf, n), dw = t_download(ctx, tdw.buf, C);
	db = t_download(ctx, tdb.buf, C);
	for (size_t i = 0; i < n; i++)
		want[i] = 2 * dxr[i];
	snprintf(what, sizeof what, "case %d dx (accumulate)", ci), t_close_scaled(what, dx, want, n);
	if (c->affine) {
		for (size_t i = 0; i < C; i++)
			want[i] = dw0[i] + 2 * dwr[i];
		snprintf(what, sizeof what, "case %d dgamma twice", ci), t_close_scaled(what, dw, want, C);
		for (size_t i = 0; i < C; i++)
			want[i] = db0[i] + 2 * dbr[i];
		snprintf(what, sizeof what, "case %d dbeta twice", ci), t_close_scaled(what, db, want, C);
	}
	free(dx), free(dw), free(db), free(want), free(mean), free(rstd);
	free(x), free(r), free(w), free(b), free(dw0), free(db0);
	free(xd), free(rd), free(wd), free(bd), free(yr), free(dxr), free(meanr), free(rstdr);
	free(dwr), free(dbr);
	dim_tensor *all[] = {&tx, &ty, &tr, &tdx, &tw, &tb, &tdw, &tdb, &tmean, &trstd};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		dim_buf_release(&all[i]->buf);
}

/* Tape: x [2, 3, 2, 2], gamma, beta as params; y viewed as [1, 24], then
 * L = linear(y, r [1, 24]) = sum(r * y); two steps double the gradients. */
static void check_tape(dim_ctx *ctx)
{
	struct dims d = {2, 3, 4, 24};
	t_rng rng = {66};
	float x[24], w[3], b[3], r[24];
	t_fill(&rng, x, 24, -2, 2), t_fill(&rng, w, 3, -1, 1), t_fill(&rng, b, 3, -1, 1);
	t_fill(&rng, r, 24, -1, 1);
	double xd[24], wd[3], bd[3], rd[24], y[24], mean[8], rstd[8], dx[24], dw[3], db[3];
	for (int i = 0; i < 24; i++)
		xd[i] = x[i], rd[i] = r[i];
	for (int i = 0; i < 3; i++)
		wd[i] = w[i], bd[i] = b[i];
	ref_forward(d, xd, wd, bd, y, mean, rstd);
	ref_backward(d, rd, xd, wd, mean, rstd, dx, dw, db);
	dim_params ps;
	dim_param *px, *pw, *pb, *pr;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "t"));
	CHECK_OK(ctx, dim_params_add(&ps, "x", 4, (int[]){2, 3, 2, 2}, true, &px));
	CHECK_OK(ctx, dim_params_add(&ps, "ln.weight", 1, (int[]){3}, true, &pw));
	CHECK_OK(ctx, dim_params_add(&ps, "ln.bias", 1, (int[]){3}, true, &pb));
	CHECK_OK(ctx, dim_params_add(&ps, "r", 2, (int[]){1, 24}, false, &pr));
	CHECK_OK(ctx, dim_param_set(ctx, px, x));
	CHECK_OK(ctx, dim_param_set(ctx, pw, w));
	CHECK_OK(ctx, dim_param_set(ctx, pb, b));
	CHECK_OK(ctx, dim_param_set(ctx, pr, r));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "tape", &t));
	for (int step = 1; step <= 2; step++) {
		dim_tape_begin(t, true);
		dim_var *yv, *flat, *l = NULL;
		CHECK_OK(ctx, dim_t_layernorm(t, t_param(t, px), t_param(t, pw), t_param(t, pb), 1e-5f,
					      &yv));
		CHECK_OK(ctx, dim_tape_view(t, yv, 2, (int[]){1, 24}, &flat));
		CHECK_OK(ctx, dim_t_linear(t, flat, t_param(t, pr), NULL, &l));
		if (!l)
			break;
		float got[24];
		CHECK_OK(ctx, dim_tensor_read(ctx, &yv->val, got));
		t_close("tape y", got, y, 24, 1e-4, 1e-5);
		CHECK_OK(ctx, dim_tape_backward(t, l, 1.0f));
		float gx[24], gw[3], gb[3];
		double wx[24], ww[3], wb[3];
		CHECK_OK(ctx, dim_tensor_read(ctx, &px->grad, gx));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pw->grad, gw));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pb->grad, gb));
		for (int i = 0; i < 24; i++)
			wx[i] = step * dx[i];
		for (int i = 0; i < 3; i++)
			ww[i] = step * dw[i], wb[i] = step * db[i];
		t_close("tape dx", gx, wx, 24, 1e-4, 1e-5);
		t_close("tape dgamma", gw, ww, 3, 1e-4, 1e-5);
		t_close("tape dbeta", gb, wb, 3, 1e-4, 1e-5);
	}
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

static void check_errors(dim_ctx *ctx)
{
	float v[16];
	t_rng rng = {3};
	t_fill(&rng, v, 16, 0.5f, 1);
	dim_buf b = t_upload(ctx, v, 16);
	dim_tensor x = {b, 2, {2, 3}}, m2 = {b, 1, {2}}, m3 = {b, 1, {3}}, c4 = {b, 1, {4}};
	CHECK(dim_layernorm_forward(ctx, 1e-5f, &x, &m3, &m3, &x, NULL, NULL) == DIM_ERR_ARG);
	CHECK(dim_layernorm_forward(ctx, 1e-5f, &x, &m2, &m2, &x, &c4, NULL) == DIM_ERR_ARG);
	dim_tensor x1 = {b, 1, {6}};
	CHECK(dim_layernorm_forward(ctx, 1e-5f, &x1, &m2, &m2, &x1, NULL, NULL) == DIM_ERR_ARG);
	dim_buf_release(&b);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	check_fd();
	char *dir = t_tmpdir("layernorm");
	char manifest[2048] = "";
	for (int i = 0; i < NCASES; i++) {
		const struct lc *c = &cases[i];
		if (t_small() && dims_of(c->ndim, c->shape).total > 15000)
			continue; /* the smaller cases cover the same paths */
		run_case(ctx, i, dir);
		size_t used = strlen(manifest);
		used += (size_t)snprintf(manifest + used, sizeof manifest - used, "%d %d", c->affine,
					 c->ndim);
		for (int k = 0; k < c->ndim; k++)
			used += (size_t)snprintf(manifest + used, sizeof manifest - used, " %d",
						 c->shape[k]);
		snprintf(manifest + used, sizeof manifest - used, "\n");
	}
	check_errors(ctx);
	check_tape(ctx);
	{
		/* the other form of the row reductions on this device too: the
		 * per-channel (GPU) one on a CPU, the float16 one on a GPU */
		dim_ctx *c1 = t_ctx_with("CLDIM_VEC16", dim_ctx_vec16(ctx) ? "0" : "1");
		for (int i = 0; i < NCASES; i++)
			if (!t_small() || dims_of(cases[i].ndim, cases[i].shape).total <= 15000)
				run_case(c1, i, NULL);
		dim_ctx_destroy(c1);
	}
	char path[1024];
	snprintf(path, sizeof path, "%s/cases.txt", dir);
	t_write_file(path, manifest, strlen(manifest));
	/* the script reads every case of the table (t_small skips some) */
	if (t_small())
		fprintf(stderr, "skipped: PyTorch parity (CLDIM_TEST_SMALL)\n");
	else if (t_torch_run("check_layernorm.py", dir, NULL) == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
