/* cldim-test: labels=opencl;op timeout=300 */
/* Max / average / global average pooling: OpenCL vs double references
 * (scatter-form backward, so the device's gather is checked independently),
 * the references vs finite differences, ties (first maximum wins), the
 * accumulate flag, the DIM AlexNet shapes (MaxPool(3, 2) on 31x31 and
 * 64x64), odd 5x7 maps, ceil mode, the tape wrappers, and PyTorch parity. */
#include <string.h>

#include "cldim/op_pool.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

static char *g_dir;
static FILE *g_cases;
static int g_ncase;

enum { MAXP = 0, AVGP = 1 };

/* y and (for max) argmax in double from x. */
static void ref_forward(int kind, const dim_pool2d_desc *d, int NC, int H, int W, int OH, int OW,
			const double *x, double *y, int *arg)
{
	for (int pl = 0; pl < NC; pl++)
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				int hs = oh * d->stride_h - d->pad_h, ws = ow * d->stride_w - d->pad_w;
				int he = hs + d->kernel_h, we = ws + d->kernel_w;
				int hp = he < H + d->pad_h ? he : H + d->pad_h;
				int wp = we < W + d->pad_w ? we : W + d->pad_w;
				int div = (hp - hs) * (wp - ws), cnt = 0, bi = -1;
				double best = -INFINITY, s = 0;
				for (int h = hs; h < he; h++)
					for (int w = ws; w < we; w++) {
						if (h < 0 || h >= H || w < 0 || w >= W)
							continue;
						double v = x[(size_t)pl * H * W + h * W + w];
						cnt++;
						s += v;
						if (bi < 0 || v > best)
							best = v, bi = h * W + w;
					}
				size_t o = ((size_t)pl * OH + oh) * OW + ow;
				if (kind == MAXP) {
					y[o] = best;
					arg[o] = bi;
				} else {
					y[o] = s / (d->exclude_pad ? cnt : div);
				}
			}
}

struct fd_arg {
	int kind, NC, H, W, OH, OW;
	const dim_pool2d_desc *d;
	int *arg;
};

static void fd_fn(const double *x, double *y, const void *a)
{
	const struct fd_arg *f = a;
	ref_forward(f->kind, f->d, f->NC, f->H, f->W, f->OH, f->OW, x, y, f->arg);
}

static void one_case(dim_ctx *ctx, t_rng *rng, int kind, const dim_pool2d_desc *d, int N, int Cc,
		     int H, int W, int ties)
{
	int OH = dim_pool2d_out_size(H, d->kernel_h, d->stride_h, d->pad_h, d->ceil_mode);
	int OW = dim_pool2d_out_size(W, d->kernel_w, d->stride_w, d->pad_w, d->ceil_mode);
	int NC = N * Cc;
	size_t nx = (size_t)NC * H * W, ny = (size_t)NC * OH * OW;
	float *x = malloc(nx * 4), *dy = malloc(ny * 4);
	t_fill(rng, x, nx, -2, 2);
	t_fill(rng, dy, ny, -1, 1);
	if (ties) /* few distinct values: many ties inside windows */
		for (size_t i = 0; i < nx; i++)
			x[i] = (float)((int)(x[i] * 1.5f)) + 0.25f;
	double *xd = malloc(nx * 8), *wy = malloc(ny * 8), *wdx = calloc(nx, 8);
	int *warg = malloc(ny * sizeof(int));
	for (size_t i = 0; i < nx; i++)
		xd[i] = x[i];
	ref_forward(kind, d, NC, H, W, OH, OW, xd, wy, warg);
	/* reference backward: max scatters dy to the argmax */
	for (int pl = 0; kind == MAXP && pl < NC; pl++)
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				size_t o = ((size_t)pl * OH + oh) * OW + ow;
				if (kind == MAXP)
					wdx[(size_t)pl * H * W + warg[o]] += dy[o];
			}
	if (kind == AVGP) { /* the adjoint of a linear map: dx = A^T dy via unit vectors */
		memset(wdx, 0, nx * 8);
		double *e = calloc(nx, 8), *col = malloc(ny * 8);
		for (size_t i = 0; i < nx; i++) {
			e[i] = 1;
			ref_forward(kind, d, NC, H, W, OH, OW, e, col, NULL);
			e[i] = 0;
			for (size_t o = 0; o < ny; o++)
				wdx[i] += col[o] * dy[o];
		}
		free(e), free(col);
	}
	if (!ties && nx * ny < 4000000) {
		double *r = malloc(ny * 8);
		for (size_t o = 0; o < ny; o++)
			r[o] = dy[o];
		int *scratch = malloc(ny * sizeof(int));
		struct fd_arg fa = {kind, NC, H, W, OH, OW, d, scratch};
		double *xp = malloc(nx * 8), *yp = malloc(ny * 8), *ym = malloc(ny * 8), worst = 0;
		memcpy(xp, xd, nx * 8);
		for (size_t i = 0; i < nx; i += 1 + nx / 50) {
			double h = 1e-7, lp = 0, lm = 0;
			xp[i] = xd[i] + h;
			fd_fn(xp, yp, &fa);
			xp[i] = xd[i] - h;
			fd_fn(xp, ym, &fa);
			xp[i] = xd[i];
			for (size_t o = 0; o < ny; o++)
				lp += r[o] * yp[o], lm += r[o] * ym[o];
			double e = fabs((lp - lm) / (2 * h) - wdx[i]);
			worst = e > worst ? e : worst;
		}
		CHECK_MSG(worst < 1e-6, "pool kind %d: finite differences, worst abs err %g", kind,
			  worst);
		free(r), free(scratch), free(xp), free(yp), free(ym);
	}

	dim_tensor tx = {t_upload(ctx, x, nx), 4, {N, Cc, H, W}}, tdx = tx;
	tdx.buf = t_upload(ctx, x, nx);
	dim_tensor ty = {t_upload(ctx, dy, ny), 4, {N, Cc, OH, OW}}, tdy = ty;
	tdy.buf = t_upload(ctx, dy, ny);
	dim_buf arg = {0};
	if (kind == MAXP) {
		CHECK_OK(ctx, dim_buf_create(ctx, ny * sizeof(int), &arg));
		CHECK_OK(ctx, dim_maxpool2d_forward(ctx, d, &ty, arg, &tx));
		CHECK_OK(ctx, dim_maxpool2d_backward(ctx, d, &tdx, 0, &tdy, arg));
	} else {
		CHECK_OK(ctx, dim_avgpool2d_forward(ctx, d, &ty, &tx));
		CHECK_OK(ctx, dim_avgpool2d_backward(ctx, d, &tdx, 0, &tdy));
	}
	float *y = t_download(ctx, ty.buf, ny), *dx = t_download(ctx, tdx.buf, nx);
	char what[160];
	snprintf(what, sizeof what, "%s k%dx%d s%d p%d%s %dx%dx%dx%d%s fwd",
		 kind ? "avg" : "max", d->kernel_h, d->kernel_w, d->stride_h, d->pad_h,
		 d->ceil_mode ? " ceil" : "", N, Cc, H, W, ties ? " ties" : "");
	t_close(what, y, wy, ny, 1e-6, 1e-6);
	if (kind == MAXP) {
		int *ga = malloc(ny * sizeof(int));
		CHECK_OK(ctx, dim_read(ctx, arg, 0, ga, ny * sizeof(int)));
		CHECK_MSG(memcmp(ga, warg, ny * sizeof(int)) == 0, "%s: argmax differs", what);
		free(ga);
	}
	strcat(what, " bwd");
	t_close(what, dx, wdx, nx, 1e-5, 1e-6);
	/* accumulate */
	if (kind == MAXP)
		CHECK_OK(ctx, dim_maxpool2d_backward(ctx, d, &tdx, 1, &tdy, arg));
	else
		CHECK_OK(ctx, dim_avgpool2d_backward(ctx, d, &tdx, 1, &tdy));
	float *dx2 = t_download(ctx, tdx.buf, nx);
	for (size_t i = 0; i < nx; i++)
		wdx[i] = 2.0 * dx[i];
	strcat(what, " accumulate");
	t_close(what, dx2, wdx, nx, 1e-6, 0);

	if (g_cases) {
		char name[32];
		snprintf(name, sizeof name, "c%d", g_ncase++);
		fprintf(g_cases, "%s %d %d %d %d %d %d %d %d %d %d %d %d %d\n", name, kind, N, Cc, H,
			W, d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h, d->pad_w,
			d->ceil_mode, d->exclude_pad);
		char f[48];
		snprintf(f, sizeof f, "%s_x", name), t_dump(g_dir, f, x, nx);
		snprintf(f, sizeof f, "%s_dy", name), t_dump(g_dir, f, dy, ny);
		snprintf(f, sizeof f, "%s_y", name), t_dump(g_dir, f, y, ny);
		snprintf(f, sizeof f, "%s_dx", name), t_dump(g_dir, f, dx, nx);
	}
	free(x), free(dy), free(xd), free(wy), free(wdx), free(warg), free(y), free(dx), free(dx2);
	dim_buf_release(&tx.buf), dim_buf_release(&tdx.buf), dim_buf_release(&ty.buf),
		dim_buf_release(&tdy.buf), dim_buf_release(&arg);
}

static void test_global(dim_ctx *ctx, t_rng *rng, int N, int Cc, int H, int W)
{
	size_t nx = (size_t)N * Cc * H * W, ny = (size_t)N * Cc, P = (size_t)H * W;
	float *x = malloc(nx * 4), *dy = malloc(ny * 4);
	t_fill(rng, x, nx, -2, 2);
	t_fill(rng, dy, ny, -1, 1);
	double *wy = calloc(ny, 8), *wdx = malloc(nx * 8);
	for (size_t i = 0; i < nx; i++)
		wy[i / P] += x[i] / (double)P;
	for (size_t i = 0; i < nx; i++)
		wdx[i] = dy[i / P] / (double)P;
	dim_tensor tx = {t_upload(ctx, x, nx), 4, {N, Cc, H, W}}, tdx = tx;
	tdx.buf = t_upload(ctx, x, nx);
	dim_tensor ty = {t_upload(ctx, dy, ny), 2, {N, Cc}}, tdy = ty;
	tdy.buf = t_upload(ctx, dy, ny);
	CHECK_OK(ctx, dim_global_avgpool_forward(ctx, &ty, &tx));
	CHECK_OK(ctx, dim_global_avgpool_backward(ctx, &tdx, 0, &tdy));
	float *y = t_download(ctx, ty.buf, ny), *dx = t_download(ctx, tdx.buf, nx);
	t_close("global avgpool fwd", y, wy, ny, 1e-5, 1e-6);
	t_close("global avgpool bwd", dx, wdx, nx, 1e-6, 0);
	dim_tensor bad = ty;
	bad.shape[1]++;
	CHECK(dim_global_avgpool_forward(ctx, &bad, &tx) == DIM_ERR_ARG);
	if (g_cases && N == 5) {
		fprintf(g_cases, "gap 2 %d %d %d %d 0 0 0 0 0 0 0 0\n", N, Cc, H, W);
		t_dump(g_dir, "gap_x", x, nx), t_dump(g_dir, "gap_dy", dy, ny);
		t_dump(g_dir, "gap_y", y, ny), t_dump(g_dir, "gap_dx", dx, nx);
	}
	free(x), free(dy), free(wy), free(wdx), free(y), free(dx);
	dim_buf_release(&tx.buf), dim_buf_release(&tdx.buf), dim_buf_release(&ty.buf),
		dim_buf_release(&tdy.buf);
}

/* Tape: L = sum over maxpool + avgpool + global pool paths from one param. */
static void test_tape(dim_ctx *ctx, t_rng *rng)
{
	dim_params ps;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "pool"));
	dim_param *p;
	const int N = 2, Cc = 3, H = 5, W = 7;
	size_t n = (size_t)N * Cc * H * W;
	CHECK_OK(ctx, dim_params_add(&ps, "x", 4, (int[]){N, Cc, H, W}, true, &p));
	float *x = malloc(n * 4), *g1 = malloc(n * 4), *g2 = malloc(n * 4);
	t_fill(rng, x, n, -2, 2);
	CHECK_OK(ctx, dim_param_set(ctx, p, x));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "pool", &t));
	dim_pool2d_desc d = {3, 3, 2, 2, 1, 1, false, false};
	for (int round = 0; round < 2; round++) {
		dim_tape_begin(t, true);
		dim_var *vx = t_param(t, p), *a = NULL, *b = NULL, *c = NULL;
		CHECK_OK(ctx, dim_t_maxpool2d(t, &d, vx, &a));
		CHECK_OK(ctx, dim_t_avgpool2d(t, &d, vx, &b));
		CHECK_OK(ctx, dim_t_global_avgpool(t, vx, &c));
		if (!a || !b || !c)
			break;
		CHECK(a->val.shape[2] == 3 && a->val.shape[3] == 4 && c->val.ndim == 2);
		/* seed each output's gradient with 1 through a dummy scalar */
		int acc;
		dim_tensor *ga = dim_tape_grad(t, a, &acc), *gb = dim_tape_grad(t, b, &acc),
			   *gc = dim_tape_grad(t, c, &acc);
		CHECK_OK(ctx, dim_fill_f32(ctx, ga->buf, 1.0f));
		CHECK_OK(ctx, dim_fill_f32(ctx, gb->buf, 1.0f));
		CHECK_OK(ctx, dim_fill_f32(ctx, gc->buf, 1.0f));
		dim_var *dummy;
		CHECK_OK(ctx, dim_tape_new(t, 1, (int[]){1}, true, &dummy));
		CHECK_OK(ctx, dim_tape_backward(t, dummy, 0.0f));
		CHECK_OK(ctx, dim_tensor_read(ctx, &p->grad, round ? g2 : g1));
	}
	int cnt_nonzero = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK_MSG(fabsf(g2[i] - 2 * g1[i]) <= 1e-6f * fabsf(g1[i]) + 1e-7f,
			  "tape pool: second backward does not double at %zu", i);
		cnt_nonzero += g1[i] != 0;
	}
	CHECK(cnt_nonzero == (int)n); /* avg and global pooling reach every input */
	free(x), free(g1), free(g2);
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {11};
	g_dir = t_tmpdir("pool");
	char path[1024];
	snprintf(path, sizeof path, "%s/cases.txt", g_dir);
	g_cases = fopen(path, "w");
	const dim_pool2d_desc alex = {3, 3, 2, 2, 0, 0, false, false};
	one_case(ctx, &rng, MAXP, &alex, 3, 7, 31, 31, 0);  /* 31 -> 15 */
	one_case(ctx, &rng, MAXP, &alex, 2, 3, 64, 64, 0);  /* 64 -> 31 */
	one_case(ctx, &rng, MAXP, &alex, 1, 5, 31, 31, 1);  /* ties */
	const dim_pool2d_desc odd = {3, 3, 2, 2, 1, 1, false, false};
	const dim_pool2d_desc odd_ceil = {2, 3, 2, 1, 1, 1, true, false};
	const dim_pool2d_desc two = {2, 2, 2, 2, 0, 0, true, false};
	const dim_pool2d_desc excl = {3, 3, 2, 2, 1, 1, true, true};
	for (int kind = MAXP; kind <= AVGP; kind++) {
		one_case(ctx, &rng, kind, &odd, 5, 3, 5, 7, 0);
		one_case(ctx, &rng, kind, &odd, 1, 13, 5, 7, 1);
		one_case(ctx, &rng, kind, &odd_ceil, 3, 2, 5, 7, 0);
		one_case(ctx, &rng, kind, &two, 3, 1, 5, 7, 0);
		one_case(ctx, &rng, kind, &excl, 1, 3, 5, 7, 0);
	}
	one_case(ctx, &rng, AVGP, &alex, 3, 7, 31, 31, 0);
	test_global(ctx, &rng, 5, 3, 5, 7);
	test_global(ctx, &rng, 1, 13, 1, 1);
	test_tape(ctx, &rng);
	/* argument errors */
	dim_tensor x = {{0}, 4, {1, 1, 5, 7}}, y = {{0}, 4, {1, 1, 1, 1}};
	const dim_pool2d_desc badpad = {3, 3, 1, 1, 2, 2, false, false};
	CHECK(dim_avgpool2d_forward(ctx, &badpad, &y, &x) == DIM_ERR_ARG);
	CHECK(dim_avgpool2d_forward(ctx, &alex, &y, &x) == DIM_ERR_ARG); /* y should be 2x3 */
	fclose(g_cases);
	if (t_torch_run("check_pool.py", g_dir, NULL) == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(g_dir);
	free(g_dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
