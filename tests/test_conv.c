/* cldim-test: labels=opencl;op timeout=300 */
/* conv2d: OpenCL vs a double-precision reference (forward, dx, dW, db), the
 * reference vs central finite differences, accumulation on a second backward,
 * PyTorch parity (tests/py/check_conv.py), and the tape wrapper. */
#include <string.h>

#include "cldim/op_conv.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

struct cs {
	int N, C, H, W, O, KH, KW, sh, sw, ph, pw, bias;
};

static const struct cs cases[] = {
	{2, 3, 32, 32, 64, 4, 4, 2, 2, 1, 1, 1},   /* DIM encoder conv1 */
	{2, 64, 16, 16, 128, 4, 4, 2, 2, 1, 1, 1}, /* conv2 */
	{1, 128, 8, 8, 256, 4, 4, 2, 2, 1, 1, 1},  /* conv3, batch 1 */
	{3, 7, 5, 7, 13, 3, 3, 1, 1, 1, 1, 1},     /* k3 s1 p1, odd shapes */
	{3, 13, 5, 7, 7, 1, 1, 1, 1, 0, 0, 1},     /* 1x1, P = 35: batched path */
	{1, 7, 5, 7, 3, 1, 1, 1, 1, 0, 0, 0},      /* 1x1, batch 1, no bias */
	{5, 3, 7, 5, 4, 2, 3, 2, 1, 0, 2, 0},      /* rectangular kernel, mixed */
	{3, 3, 5, 7, 5, 1, 1, 2, 2, 1, 0, 1},      /* 1x1 with stride/pad: general */
	{1, 3, 5, 7, 7, 5, 7, 1, 1, 0, 0, 1},      /* kernel = whole image */
	{3, 5, 9, 8, 6, 3, 3, 1, 1, 1, 1, 1},      /* P = 72: per-image forward */
	{3, 13, 9, 8, 7, 1, 1, 1, 1, 0, 0, 1},     /* 1x1, P = 72: per-image fwd+bwd */
	{2, 3, 6, 6, 4, 3, 3, 2, 2, 1, 1, 1},      /* P = 9: swap01 on a padded range */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int oh_of(const struct cs *s) { return (s->H + 2 * s->ph - s->KH) / s->sh + 1; }
static int ow_of(const struct cs *s) { return (s->W + 2 * s->pw - s->KW) / s->sw + 1; }

/* Visit every (n, o, oh, ow, c, kh, kw) with an in-range input pixel. */
#define FOR_TAPS(s)                                                                         \
	for (int n = 0; n < (s)->N; n++)                                                    \
		for (int o = 0; o < (s)->O; o++)                                            \
			for (int oy = 0; oy < OH; oy++)                                     \
				for (int ox = 0; ox < OW; ox++)                             \
					for (int c = 0; c < (s)->C; c++)                    \
						for (int kh = 0; kh < (s)->KH; kh++)        \
							for (int kw = 0; kw < (s)->KW; kw++)

static void ref_forward(const struct cs *s, const double *x, const double *w, const double *b,
			double *y)
{
	int OH = oh_of(s), OW = ow_of(s);
	for (int n = 0; n < s->N; n++)
		for (int o = 0; o < s->O; o++)
			for (int p = 0; p < OH * OW; p++)
				y[(n * s->O + o) * OH * OW + p] = s->bias ? b[o] : 0.0;
	FOR_TAPS(s)
	{
		int ih = oy * s->sh - s->ph + kh, iw = ox * s->sw - s->pw + kw;
		if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W)
			continue;
		y[((n * s->O + o) * OH + oy) * OW + ox] +=
			w[((o * s->C + c) * s->KH + kh) * s->KW + kw] *
			x[((n * s->C + c) * s->H + ih) * s->W + iw];
	}
}

static void ref_backward(const struct cs *s, const double *dy, const double *x, const double *w,
			 double *dx, double *dw, double *db)
{
	int OH = oh_of(s), OW = ow_of(s);
	memset(dx, 0, sizeof(double) * s->N * s->C * s->H * s->W);
	memset(dw, 0, sizeof(double) * s->O * s->C * s->KH * s->KW);
	memset(db, 0, sizeof(double) * s->O);
	FOR_TAPS(s)
	{
		int ih = oy * s->sh - s->ph + kh, iw = ox * s->sw - s->pw + kw;
		if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W)
			continue;
		double g = dy[((n * s->O + o) * OH + oy) * OW + ox];
		size_t wi = ((size_t)(o * s->C + c) * s->KH + kh) * s->KW + kw;
		size_t xi = ((size_t)(n * s->C + c) * s->H + ih) * s->W + iw;
		dw[wi] += g * x[xi];
		dx[xi] += g * w[wi];
	}
	for (int n = 0; n < s->N; n++)
		for (int o = 0; o < s->O; o++)
			for (int p = 0; p < OH * OW; p++)
				db[o] += dy[(n * s->O + o) * OH * OW + p];
}

static double loss_ref(const struct cs *s, const double *x, const double *w, const double *b,
		       const double *r, double *y, size_t ny)
{
	ref_forward(s, x, w, b, y);
	double l = 0;
	for (size_t i = 0; i < ny; i++)
		l += r[i] * y[i];
	return l;
}

struct fd_conv {
	const struct cs *s;
	double *x, *w, *b, *r, *y;
	size_t ny;
};

static double fd_loss(void *user)
{
	struct fd_conv *u = user;
	return loss_ref(u->s, u->x, u->w, u->b, u->r, u->y, u->ny);
}

/* The reference's gradients against central differences of L = sum(r * y). */
static void check_fd(void)
{
	const struct cs s = {2, 3, 5, 7, 4, 3, 3, 2, 1, 1, 2, 1};
	size_t nx = 2 * 3 * 5 * 7, nw = 4 * 3 * 3 * 3, ny = (size_t)2 * 4 * oh_of(&s) * ow_of(&s);
	t_rng rng = {7};
	double *x = malloc(nx * 8), *w = malloc(nw * 8), *b = malloc(4 * 8), *r = malloc(ny * 8);
	double *y = malloc(ny * 8), *dx = malloc(nx * 8), *dw = malloc(nw * 8), *db = malloc(4 * 8);
	t_fill_d(&rng, x, nx, -1, 1);
	t_fill_d(&rng, w, nw, -1, 1);
	t_fill_d(&rng, b, 4, -1, 1);
	t_fill_d(&rng, r, ny, -1, 1);
	ref_backward(&s, r, x, w, dx, dw, db);
	double *vars[3] = {x, w, b}, *grads[3] = {dx, dw, db};
	size_t sizes[3] = {nx, nw, 4};
	struct fd_conv u = {&s, x, w, b, r, y, ny};
	t_check_fd("conv", vars, grads, sizes, 3, 1e-4, 1e-7, fd_loss, &u);
	free(x), free(w), free(b), free(r), free(y), free(dx), free(dw), free(db);
}

static void run_case(dim_ctx *ctx, dim_arena *ws, int ci, const char *dir)
{
	const struct cs *s = &cases[ci];
	int OH = oh_of(s), OW = ow_of(s);
	size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->O * s->C * s->KH * s->KW;
	size_t ny = (size_t)s->N * s->O * OH * OW, nb = s->O;
	t_rng rng = {100 + (uint64_t)ci};
	float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(nb * 4), *r = malloc(ny * 4);
	float *dw0 = malloc(nw * 4), *db0 = malloc(nb * 4);
	t_fill(&rng, x, nx, -1, 1);
	t_fill(&rng, w, nw, -0.5f, 0.5f);
	t_fill(&rng, b, nb, -1, 1);
	t_fill(&rng, r, ny, -1, 1);
	t_fill(&rng, dw0, nw, -1, 1);
	t_fill(&rng, db0, nb, -1, 1);

	double *xd = t_to_d(x, nx), *wd = t_to_d(w, nw), *bd = t_to_d(b, nb), *rd = t_to_d(r, ny);
	double *yr = malloc(ny * 8), *dxr = malloc(nx * 8), *dwr = malloc(nw * 8), *dbr = malloc(nb * 8);
	ref_forward(s, xd, wd, bd, yr);
	ref_backward(s, rd, xd, wd, dxr, dwr, dbr);

	dim_tensor tx = {t_upload(ctx, x, nx), 4, {s->N, s->C, s->H, s->W}};
	dim_tensor tw = {t_upload(ctx, w, nw), 4, {s->O, s->C, s->KH, s->KW}};
	dim_tensor tb = {t_upload(ctx, b, nb), 1, {s->O}};
	dim_tensor tr = {t_upload(ctx, r, ny), 4, {s->N, s->O, OH, OW}};
	dim_tensor ty = {t_upload(ctx, r, ny), 4, {s->N, s->O, OH, OW}};
	dim_tensor tdx = {t_upload(ctx, x, nx), 4, {s->N, s->C, s->H, s->W}};
	dim_tensor tdw = {t_upload(ctx, dw0, nw), 4, {s->O, s->C, s->KH, s->KW}};
	dim_tensor tdb = {t_upload(ctx, db0, nb), 1, {s->O}};
	dim_conv2d_desc d = {s->sh, s->sw, s->ph, s->pw};
	char what[64];

	dim_arena_mark m = dim_arena_get_mark(ws);
	CHECK_OK(ctx, dim_conv2d_forward(ctx, &d, ws, &ty, &tx, &tw, s->bias ? &tb : NULL));
	dim_arena_reset(ws, m);
	CHECK_OK(ctx, dim_conv2d_backward(ctx, &d, ws, &tdx, 0, &tdw, s->bias ? &tdb : NULL, &tr,
					  &tx, &tw));
	dim_arena_reset(ws, m);
	float *y = t_download(ctx, ty.buf, ny), *dx = t_download(ctx, tdx.buf, nx);
	float *dw = t_download(ctx, tdw.buf, nw), *db = t_download(ctx, tdb.buf, nb);
	snprintf(what, sizeof what, "case %d y", ci);
	t_close_scaled(what, y, yr, ny);
	snprintf(what, sizeof what, "case %d dx", ci);
	t_close_scaled(what, dx, dxr, nx);
	/* dW and db were pre-filled with dw0/db0: += */
	double *want = malloc((nw > nb ? nw : nb) * 8);
	for (size_t i = 0; i < nw; i++)
		want[i] = dw0[i] + dwr[i];
	snprintf(what, sizeof what, "case %d dw (+= once)", ci);
	t_close_scaled(what, dw, want, nw);
	if (s->bias) {
		for (size_t i = 0; i < nb; i++)
			want[i] = db0[i] + dbr[i];
		snprintf(what, sizeof what, "case %d db (+= once)", ci);
		t_close_scaled(what, db, want, nb);
	}
	if (dir) {
		char name[32];
		snprintf(name, sizeof name, "c%d_x", ci), t_dump(dir, name, x, nx);
		snprintf(name, sizeof name, "c%d_w", ci), t_dump(dir, name, w, nw);
		snprintf(name, sizeof name, "c%d_b", ci), t_dump(dir, name, b, nb);
		snprintf(name, sizeof name, "c%d_r", ci), t_dump(dir, name, r, ny);
		snprintf(name, sizeof name, "c%d_y", ci), t_dump(dir, name, y, ny);
		snprintf(name, sizeof name, "c%d_dx", ci), t_dump(dir, name, dx, nx);
		for (size_t i = 0; i < nw; i++)
			dw[i] -= dw0[i];
		for (size_t i = 0; i < nb; i++)
			db[i] -= db0[i];
		snprintf(name, sizeof name, "c%d_dw", ci), t_dump(dir, name, dw, nw);
		snprintf(name, sizeof name, "c%d_db", ci), t_dump(dir, name, db, nb);
	}
	free(dx), free(dw), free(db);

	/* Second pass with accumulate = 1: dx doubles, dW/db gain a second ref. */
	CHECK_OK(ctx, dim_conv2d_backward(ctx, &d, ws, &tdx, 1, &tdw, s->bias ? &tdb : NULL, &tr,
					  &tx, &tw));
	dim_arena_reset(ws, m);
	dx = t_download(ctx, tdx.buf, nx), dw = t_download(ctx, tdw.buf, nw);
	db = t_download(ctx, tdb.buf, nb);
	double *want_x = malloc(nx * 8);
	for (size_t i = 0; i < nx; i++)
		want_x[i] = 2 * dxr[i];
	snprintf(what, sizeof what, "case %d dx (accumulate)", ci);
	t_close_scaled(what, dx, want_x, nx);
	for (size_t i = 0; i < nw; i++)
		want[i] = dw0[i] + 2 * dwr[i];
	snprintf(what, sizeof what, "case %d dw (+= twice)", ci);
	t_close_scaled(what, dw, want, nw);
	if (s->bias) {
		for (size_t i = 0; i < nb; i++)
			want[i] = db0[i] + 2 * dbr[i];
		snprintf(what, sizeof what, "case %d db (+= twice)", ci);
		t_close_scaled(what, db, want, nb);
	}
	free(dx), free(dw), free(db);

	/* dx alone (no dW, no db) */
	CHECK_OK(ctx, dim_conv2d_backward(ctx, &d, ws, &tdx, 0, NULL, NULL, &tr, &tx, &tw));
	dim_arena_reset(ws, m);
	dx = t_download(ctx, tdx.buf, nx);
	snprintf(what, sizeof what, "case %d dx alone", ci);
	t_close_scaled(what, dx, dxr, nx);
	free(dx);

	free(want), free(want_x), free(y);
	free(x), free(w), free(b), free(r), free(dw0), free(db0);
	free(xd), free(wd), free(bd), free(rd), free(yr), free(dxr), free(dwr), free(dbr);
	dim_buf_release(&tx.buf), dim_buf_release(&tw.buf), dim_buf_release(&tb.buf);
	dim_buf_release(&tr.buf), dim_buf_release(&ty.buf), dim_buf_release(&tdx.buf);
	dim_buf_release(&tdw.buf), dim_buf_release(&tdb.buf);
}

static void check_errors(dim_ctx *ctx, dim_arena *ws)
{
	float v[64];
	for (int i = 0; i < 64; i++)
		v[i] = 1.0f;
	dim_buf b = t_upload(ctx, v, 64);
	dim_tensor x = {b, 4, {1, 2, 3, 3}}, w = {b, 4, {2, 3, 2, 2}}, y = {b, 4, {1, 2, 2, 2}};
	dim_conv2d_desc d = {1, 1, 0, 0};
	CHECK(dim_conv2d_forward(ctx, &d, ws, &y, &x, &w, NULL) == DIM_ERR_ARG); /* C mismatch */
	w.shape[1] = 2;
	y.shape[2] = 3;
	CHECK(dim_conv2d_forward(ctx, &d, ws, &y, &x, &w, NULL) == DIM_ERR_ARG); /* bad OH */
	d.stride_h = 0;
	CHECK(dim_conv2d_forward(ctx, &d, ws, &y, &x, &w, NULL) == DIM_ERR_ARG);
	dim_buf_release(&b);
}

/* Through the tape: x, w, b as parameters; L = conv(y, r) with r as a full-size
 * kernel, so L = sum(r * y) is a [1,1,1,1] scalar. */
static void check_tape(dim_ctx *ctx)
{
	const struct cs s = {1, 3, 6, 5, 4, 3, 3, 2, 1, 1, 1, 1};
	int OH = oh_of(&s), OW = ow_of(&s);
	size_t nx = 3 * 6 * 5, nw = 4 * 3 * 3 * 3, ny = (size_t)4 * OH * OW;
	t_rng rng = {99};
	float *x = malloc(nx * 4), *w = malloc(nw * 4), b[4], *r = malloc(ny * 4);
	t_fill(&rng, x, nx, -1, 1), t_fill(&rng, w, nw, -1, 1), t_fill(&rng, b, 4, -1, 1);
	t_fill(&rng, r, ny, -1, 1);
	double *xd = t_to_d(x, nx), *wd = t_to_d(w, nw), *bd = t_to_d(b, 4), *rd = t_to_d(r, ny);
	double *dxr = malloc(nx * 8), *dwr = malloc(nw * 8), dbr[4];
	ref_backward(&s, rd, xd, wd, dxr, dwr, dbr);

	dim_params ps;
	dim_param *px, *pw, *pb, *pr;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "t"));
	CHECK_OK(ctx, dim_params_add(&ps, "x", 4, (int[]){1, 3, 6, 5}, true, &px));
	CHECK_OK(ctx, dim_params_add(&ps, "w", 4, (int[]){4, 3, 3, 3}, true, &pw));
	CHECK_OK(ctx, dim_params_add(&ps, "b", 1, (int[]){4}, true, &pb));
	CHECK_OK(ctx, dim_params_add(&ps, "r", 4, (int[]){1, 4, OH, OW}, false, &pr));
	CHECK_OK(ctx, dim_param_set(ctx, px, x));
	CHECK_OK(ctx, dim_param_set(ctx, pw, w));
	CHECK_OK(ctx, dim_param_set(ctx, pb, b));
	CHECK_OK(ctx, dim_param_set(ctx, pr, r));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "tape", &t));
	for (int step = 1; step <= 2; step++) {
		dim_tape_begin(t, true);
		dim_conv2d_desc d = {s.sh, s.sw, s.ph, s.pw}, d0 = {1, 1, 0, 0};
		dim_var *y, *l = NULL;
		CHECK_OK(ctx, dim_t_conv2d(t, &d, t_param(t, px), t_param(t, pw), t_param(t, pb), &y));
		CHECK_OK(ctx, dim_t_conv2d(t, &d0, y, t_param(t, pr), NULL, &l));
		if (!l)
			break;
		CHECK_OK(ctx, dim_tape_backward(t, l, 1.0f));
		float gx[90], gw[108], gb[4];
		CHECK_OK(ctx, dim_tensor_read(ctx, &px->grad, gx));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pw->grad, gw));
		CHECK_OK(ctx, dim_tensor_read(ctx, &pb->grad, gb));
		double wx[90], ww[108], wb[4];
		for (size_t i = 0; i < nx; i++)
			wx[i] = step * dxr[i];
		for (size_t i = 0; i < nw; i++)
			ww[i] = step * dwr[i];
		for (int i = 0; i < 4; i++)
			wb[i] = step * dbr[i];
		t_close("tape dx", gx, wx, nx, 1e-4, 1e-5);
		t_close("tape dw", gw, ww, nw, 1e-4, 1e-5);
		t_close("tape db", gb, wb, 4, 1e-4, 1e-5);
	}
	dim_tape_destroy(t);
	dim_params_free(&ps);
	free(x), free(w), free(r), free(xd), free(wd), free(bd), free(rd), free(dxr), free(dwr);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	dim_arena *ws;
	CHECK_OK(ctx, dim_arena_create(ctx, "ws", (size_t)8 << 20, &ws));
	check_fd();
	char *dir = t_tmpdir("conv");
	char manifest[2048] = "";
	for (int i = 0; i < NCASES; i++) {
		const struct cs *s = &cases[i];
		/* t_small: not the three DIM encoder layers (the odd shapes after
		 * them take every path: batched, per-image, 1x1, padded swap01) */
		if (t_small() && i < 3)
			continue;
		run_case(ctx, ws, i, dir);
		size_t used = strlen(manifest);
		snprintf(manifest + used, sizeof manifest - used, "%d %d %d %d %d %d %d %d %d %d %d %d\n",
			 s->N, s->C, s->H, s->W, s->O, s->KH, s->KW, s->sh, s->sw, s->ph, s->pw,
			 s->bias);
	}
	check_errors(ctx, ws);
	check_tape(ctx);
	char path[1024];
	snprintf(path, sizeof path, "%s/cases.txt", dir);
	t_write_file(path, manifest, strlen(manifest));
	/* the script reads every case of the table (t_small skips some) */
	if (t_small())
		fprintf(stderr, "skipped: PyTorch parity (CLDIM_TEST_SMALL)\n");
	else if (t_torch_run("check_conv.py", dir, NULL) == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_arena_destroy(ws);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
