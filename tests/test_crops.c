/* cldim-test: labels=opencl;python;op timeout=120 */
/* Strided crops (unfold) and fold: exact against a double reference of the
 * index map, backward against finite differences of the reference loss
 * sum(g * unfold(x)), a second backward proving accumulation, the tape
 * wrappers through dim_tape_backward, and PyTorch parity with F.unfold and
 * the official Fold reshape. Odd shapes, uncovered border pixels, one crop. */
#include <string.h>

#include "cldim/op_crops.h"
#include "cldim/op_tensor.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

struct geom {
	int N, C, H, W, k, s;
};

static void ref_unfold(const struct geom *g, int gh, int gw, const double *x, double *y)
{
	int P = gh * gw;
	for (int n = 0; n < g->N; n++)
		for (int p = 0; p < P; p++)
			for (int c = 0; c < g->C; c++)
				for (int a = 0; a < g->k; a++)
					for (int b = 0; b < g->k; b++) {
						int r = (p / gw) * g->s + a, q = (p % gw) * g->s + b;
						y[(((size_t)(n * P + p) * g->C + c) * g->k + a) * g->k + b] =
							x[(((size_t)n * g->C + c) * g->H + r) * g->W + q];
					}
}

static double ref_loss(const struct geom *g, int gh, int gw, const double *x, const float *gy,
		       double *scratch, size_t ny)
{
	ref_unfold(g, gh, gw, x, scratch);
	double l = 0;
	for (size_t i = 0; i < ny; i++)
		l += gy[i] * scratch[i];
	return l;
}

static void check_unfold(dim_ctx *ctx, t_rng *rng, const struct geom *g)
{
	int gh = dim_crops_grid(g->H, g->k, g->s), gw = dim_crops_grid(g->W, g->k, g->s);
	size_t nx = (size_t)g->N * g->C * g->H * g->W;
	size_t ny = (size_t)g->N * gh * gw * g->C * g->k * g->k;
	float *x = malloc(nx * 4), *gy = malloc(ny * 4), *dx0 = malloc(nx * 4);
	double *xd = malloc(nx * 8), *yd = malloc(ny * 8), *dxd = calloc(nx, 8);
	t_fill(rng, x, nx, -2, 2);
	t_fill(rng, gy, ny, -1, 1);
	t_fill(rng, dx0, nx, -1, 1);
	for (size_t i = 0; i < nx; i++)
		xd[i] = x[i];
	ref_unfold(g, gh, gw, xd, yd);
	dim_unfold_desc d = {g->N, g->C, g->H, g->W, g->k, g->s};
	dim_buf bx = t_upload(ctx, x, nx), by = t_upload(ctx, gy, ny), bg = t_upload(ctx, gy, ny);
	dim_buf bdx = t_upload(ctx, dx0, nx);
	char what[96];
	snprintf(what, sizeof what, "unfold [%d,%d,%d,%d] k%d s%d", g->N, g->C, g->H, g->W, g->k,
		 g->s);
	CHECK_OK(ctx, dim_crops_unfold_forward(ctx, &d, by, bx));
	float *y = t_download(ctx, by, ny);
	t_close(what, y, yd, ny, 0, 0);

	/* backward: the reference's gradient by finite differences (the loss is
	 * linear, so a central difference is exact up to rounding) */
	CHECK_OK(ctx, dim_crops_unfold_backward(ctx, &d, bdx, 0, bg));
	float *dx = t_download(ctx, bdx, nx);
	for (size_t e = 0; e < nx; e++) {
		double keep = xd[e], h = 1e-3;
		xd[e] = keep + h;
		double lp = ref_loss(g, gh, gw, xd, gy, yd, ny);
		xd[e] = keep - h;
		double lm = ref_loss(g, gh, gw, xd, gy, yd, ny);
		xd[e] = keep;
		dxd[e] = (lp - lm) / (2 * h);
	}
	snprintf(what, sizeof what, "unfold backward vs finite differences k%d s%d", g->k, g->s);
	t_close(what, dx, dxd, nx, 1e-5, 1e-6);
	/* a second backward adds */
	CHECK_OK(ctx, dim_crops_unfold_backward(ctx, &d, bdx, 1, bg));
	float *dx2 = t_download(ctx, bdx, nx);
	for (size_t e = 0; e < nx; e++)
		dxd[e] = 2.0 * dx[e];
	t_close("unfold backward accumulates", dx2, dxd, nx, 1e-6, 1e-7);
	free(x);
	free(gy);
	free(dx0);
	free(xd);
	free(yd);
	free(dxd);
	free(y);
	free(dx);
	free(dx2);
	dim_buf_release(&bx);
	dim_buf_release(&by);
	dim_buf_release(&bg);
	dim_buf_release(&bdx);
}

static void check_fold(dim_ctx *ctx, t_rng *rng, const dim_fold_desc *d)
{
	int P = d->gh * d->gw, HW = d->h * d->w;
	size_t n = (size_t)d->N * P * d->C * HW;
	float *x = malloc(n * 4), *g = malloc(n * 4);
	double *want = malloc(n * 8);
	t_fill(rng, x, n, -2, 2);
	t_fill(rng, g, n, -1, 1);
	for (int a = 0; a < d->N; a++)
		for (int p = 0; p < P; p++)
			for (int c = 0; c < d->C; c++)
				for (int q = 0; q < HW; q++)
					want[(((size_t)a * d->C + c) * HW + q) * P + p] =
						x[(((size_t)a * P + p) * d->C + c) * HW + q];
	dim_buf bx = t_upload(ctx, x, n), by = t_upload(ctx, g, n), bg = t_upload(ctx, g, n);
	dim_buf bdx = t_upload(ctx, x, n);
	CHECK_OK(ctx, dim_crops_fold_forward(ctx, d, by, bx));
	float *y = t_download(ctx, by, n);
	t_close("fold", y, want, n, 0, 0);
	/* backward of a permutation: dx[src] = g[dst]; twice = 2x */
	for (int a = 0; a < d->N; a++)
		for (int p = 0; p < P; p++)
			for (int c = 0; c < d->C; c++)
				for (int q = 0; q < HW; q++)
					want[(((size_t)a * P + p) * d->C + c) * HW + q] =
						g[(((size_t)a * d->C + c) * HW + q) * P + p];
	CHECK_OK(ctx, dim_crops_fold_backward(ctx, d, bdx, 0, bg));
	float *dx = t_download(ctx, bdx, n);
	t_close("fold backward", dx, want, n, 0, 0);
	CHECK_OK(ctx, dim_crops_fold_backward(ctx, d, bdx, 1, bg));
	float *dx2 = t_download(ctx, bdx, n);
	for (size_t i = 0; i < n; i++)
		want[i] *= 2;
	t_close("fold backward accumulates", dx2, want, n, 0, 0);
	free(x);
	free(g);
	free(want);
	free(y);
	free(dx);
	free(dx2);
	dim_buf_release(&bx);
	dim_buf_release(&by);
	dim_buf_release(&bg);
	dim_buf_release(&bdx);
}

/* Tape: L = sum(g * fold(unfold(x) viewed as [N*P, C*k*k/(h*w), h, w])),
 * backward through both wrappers; PyTorch recomputes it with F.unfold. */
static void check_tape(dim_ctx *ctx, t_rng *rng)
{
	const int N = 2, C = 3, H = 11, W = 9, k = 4, s = 3;
	int gh = dim_crops_grid(H, k, s), gw = dim_crops_grid(W, k, s), P = gh * gw;
	size_t nx = (size_t)N * C * H * W, ny = (size_t)N * P * C * k * k;
	dim_tape *t;
	dim_params ps;
	dim_param *px, *pg;
	CHECK_OK(ctx, dim_tape_create(ctx, "crops", &t));
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "crops"));
	CHECK_OK(ctx, dim_params_add(&ps, "x", 4, (int[]){N, C, H, W}, true, &px));
	CHECK_OK(ctx, dim_params_add(&ps, "g", 4, (int[]){N, C * k * k, gh, gw}, false, &pg));
	float *x = malloc(nx * 4), *g = malloc(ny * 4);
	t_fill(rng, x, nx, -1, 1);
	t_fill(rng, g, ny, -1, 1);
	CHECK_OK(ctx, dim_param_set(ctx, px, x));
	CHECK_OK(ctx, dim_param_set(ctx, pg, g));
	CHECK_OK(ctx, dim_params_zero_grad(&ps));
	dim_tape_begin(t, true);
	dim_var *crops = NULL, *folded = NULL, *prod = NULL, *loss = NULL;
	CHECK_OK(ctx, dim_t_unfold_crops(t, t_param(t, px), k, s, &crops));
	CHECK(crops && crops->val.shape[0] == N * P && crops->val.shape[1] == C &&
	      crops->val.shape[2] == k && crops->val.shape[3] == k);
	CHECK_OK(ctx, dim_t_fold_crops(t, crops, gh, gw, &folded));
	CHECK(folded && folded->val.shape[0] == N && folded->val.shape[1] == C * k * k &&
	      folded->val.shape[2] == gh && folded->val.shape[3] == gw);
	CHECK_OK(ctx, dim_t_mul(t, folded, t_param(t, pg), &prod));
	CHECK_OK(ctx, dim_t_sum(t, prod, &loss));
	if (loss)
		CHECK_OK(ctx, dim_tape_backward(t, loss, 1.0f));
	/* errors: a status, and no output var */
	dim_var *none = crops;
	CHECK(dim_t_unfold_crops(t, t_param(t, px), 12, 1, &none) == DIM_ERR_ARG && !none);
	none = crops;
	CHECK(dim_t_fold_crops(t, crops, 5, 5, &none) == DIM_ERR_ARG && !none);
	CHECK(dim_t_fold_crops(t, NULL, 1, 1, &none) == DIM_ERR_ARG);
	dim_buf tiny;
	CHECK_OK(ctx, dim_buf_create(ctx, 8, &tiny));
	dim_unfold_desc bad = {1, 1, 4, 4, 2, 2};
	CHECK(dim_crops_unfold_forward(ctx, &bad, tiny, tiny) == DIM_ERR_ARG);
	dim_fold_desc badf = {1, 2, 2, 1, 1, 1};
	CHECK(dim_crops_fold_forward(ctx, &badf, tiny, tiny) == DIM_ERR_ARG);
	dim_buf_release(&tiny);

	char *dir = t_tmpdir("crops");
	t_dump(dir, "x", x, nx);
	t_dump(dir, "g", g, ny);
	if (crops && folded) {
		float *yc = t_download(ctx, crops->val.buf, ny);
		float *yf = t_download(ctx, folded->val.buf, ny);
		float *dx = t_download(ctx, px->grad.buf, nx);
		t_dump(dir, "crops", yc, ny);
		t_dump(dir, "folded", yf, ny);
		t_dump(dir, "dx", dx, nx);
		free(yc);
		free(yf);
		free(dx);
	}
	char args[96];
	snprintf(args, sizeof args, "%d %d %d %d %d %d", N, C, H, W, k, s);
	t_torch_run("check_crops.py", dir, args);
	t_rmtree(dir);
	free(dir);
	free(x);
	free(g);
	dim_params_free(&ps);
	dim_tape_destroy(t);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {41};
	static const struct geom geoms[] = {
		{2, 3, 32, 32, 8, 4},  /* foldresnet19: 7x7 crops of 8x8 */
		{1, 2, 9, 7, 3, 2},    /* odd sides */
		{3, 1, 10, 11, 4, 3},  /* the last column is in no crop */
		{1, 3, 16, 16, 16, 8}, /* one crop */
		{2, 1, 5, 5, 2, 1},    /* heavy overlap */
	};
	for (size_t i = 0; i < sizeof geoms / sizeof geoms[0]; i++)
		check_unfold(ctx, &rng, &geoms[i]);
	static const dim_fold_desc folds[] = {
		{2, 7, 7, 5, 1, 1}, {1, 3, 2, 4, 2, 3}, {3, 1, 1, 2, 1, 1}, {2, 2, 5, 1, 4, 4}};
	for (size_t i = 0; i < sizeof folds / sizeof folds[0]; i++)
		check_fold(ctx, &rng, &folds[i]);
	CHECK(dim_crops_grid(32, 8, 4) == 7 && dim_crops_grid(64, 16, 8) == 7);
	CHECK(dim_crops_grid(4, 5, 1) == 0 && dim_crops_grid(4, 2, 0) == 0);
	check_tape(ctx, &rng);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
