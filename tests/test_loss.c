/* cldim-test: labels=opencl;op timeout=300 */
/* Log-softmax + cross-entropy with ignored labels (-1): OpenCL vs a double
 * reference (loss, log-softmax, gradient), the reference gradient vs finite
 * differences, large logits (stability), the accumulate flag, the tape
 * wrapper (twice: parameter gradients double), and PyTorch parity. */
#include <string.h>

#include "cldim/op_loss.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

struct ref_arg { int N, K; const int *y; };

/* loss of logits x (double), and optionally logp and dloss/dx */
static double ref_loss(const double *x, const void *arg, double *logp, double *grad)
{
	const struct ref_arg *a = arg;
	double s = 0;
	int cnt = 0;
	for (int r = 0; r < a->N; r++)
		cnt += a->y[r] != -1;
	for (int r = 0; r < a->N; r++) {
		const double *xr = x + (size_t)r * a->K;
		double m = xr[0], z = 0;
		for (int k = 1; k < a->K; k++)
			m = xr[k] > m ? xr[k] : m;
		for (int k = 0; k < a->K; k++)
			z += exp(xr[k] - m);
		double lse = m + log(z);
		for (int k = 0; k < a->K; k++) {
			if (logp)
				logp[r * a->K + k] = xr[k] - lse;
			if (grad)
				grad[r * a->K + k] = a->y[r] == -1 ? 0 :
					(exp(xr[k] - lse) - (k == a->y[r])) / cnt;
		}
		if (a->y[r] != -1)
			s += lse - xr[a->y[r]];
	}
	return s / cnt;
}

static void one_case(dim_ctx *ctx, dim_arena *ws, t_rng *rng, int N, int K, double range,
		     int n_ignored, const char *dump_dir)
{
	size_t n = (size_t)N * K;
	float *x = malloc(n * 4);
	int *y = malloc(N * sizeof(int));
	t_fill(rng, x, n, (float)-range, (float)range);
	for (int r = 0; r < N; r++)
		y[r] = r < n_ignored ? -1 : (int)(t_rand_u64(rng) % (uint64_t)K);
	double *xd = malloc(n * 8), *wlogp = malloc(n * 8), *wg = malloc(n * 8);
	for (size_t i = 0; i < n; i++)
		xd[i] = x[i];
	struct ref_arg a = {N, K, y};
	double wl = ref_loss(xd, &a, wlogp, wg);
	/* finite differences of the reference */
	double worst = 0;
	for (size_t i = 0; i < n; i += 1 + n / 60) {
		double h = 1e-6, keep = xd[i];
		xd[i] = keep + h;
		double lp = ref_loss(xd, &a, NULL, NULL);
		xd[i] = keep - h;
		double lm = ref_loss(xd, &a, NULL, NULL);
		xd[i] = keep;
		double e = fabs((lp - lm) / (2 * h) - wg[i]);
		worst = e > worst ? e : worst;
	}
	CHECK_MSG(worst < 1e-7, "xent %dx%d: finite differences, worst abs err %g", N, K, worst);

	float seed = 0.75f;
	dim_tensor tx = {t_upload(ctx, x, n), 2, {N, K}}, tlogp = tx, tdx = tx;
	tlogp.buf = t_upload(ctx, x, n);
	tdx.buf = t_upload(ctx, x, n);
	dim_tensor tl = {t_upload(ctx, &seed, 1), 1, {1}}, tdl = tl;
	tdl.buf = t_upload(ctx, &seed, 1);
	dim_buf lab;
	CHECK_OK(ctx, dim_buf_create(ctx, N * sizeof(int), &lab));
	CHECK_OK(ctx, dim_write(ctx, lab, 0, y, N * sizeof(int)));
	dim_arena_mark m = dim_arena_get_mark(ws);
	CHECK_OK(ctx, dim_cross_entropy_forward(ctx, ws, &tl, &tlogp, &tx, lab));
	CHECK_OK(ctx, dim_cross_entropy_backward(ctx, ws, &tdx, 0, &tdl, &tlogp, lab));
	dim_arena_reset(ws, m);
	float loss, *logp = t_download(ctx, tlogp.buf, n), *dx = t_download(ctx, tdx.buf, n);
	CHECK_OK(ctx, dim_read(ctx, tl.buf, 0, &loss, 4));
	char what[96];
	snprintf(what, sizeof what, "xent %dx%d range %g: loss", N, K, range);
	t_close(what, &loss, &wl, 1, 1e-5, 1e-6);
	snprintf(what, sizeof what, "xent %dx%d range %g: log-softmax", N, K, range);
	t_close(what, logp, wlogp, n, 1e-5, 1e-6 * range);
	for (size_t i = 0; i < n; i++)
		wg[i] *= seed;
	snprintf(what, sizeof what, "xent %dx%d range %g: gradient", N, K, range);
	t_close(what, dx, wg, n, 1e-5, 3e-8 * range); /* ulp of the logits */
	CHECK_OK(ctx, dim_cross_entropy_backward(ctx, ws, &tdx, 1, &tdl, &tlogp, lab));
	dim_arena_reset(ws, m);
	float *dx2 = t_download(ctx, tdx.buf, n);
	for (size_t i = 0; i < n; i++)
		wg[i] = 2.0 * dx[i];
	t_close("xent gradient accumulate", dx2, wg, n, 1e-6, 0);
	if (dump_dir) {
		float *yf = malloc(N * 4);
		for (int r = 0; r < N; r++)
			yf[r] = (float)y[r];
		t_dump(dump_dir, "x", x, n), t_dump(dump_dir, "labels", yf, N);
		t_dump(dump_dir, "loss", &loss, 1), t_dump(dump_dir, "logp", logp, n);
		t_dump(dump_dir, "dx", dx, n);
		free(yf);
	}
	free(x), free(y), free(xd), free(wlogp), free(wg), free(logp), free(dx), free(dx2);
	dim_buf_release(&tx.buf), dim_buf_release(&tlogp.buf), dim_buf_release(&tdx.buf),
		dim_buf_release(&tl.buf), dim_buf_release(&tdl.buf), dim_buf_release(&lab);
}

static void test_tape(dim_ctx *ctx, t_rng *rng)
{
	const int N = 5, K = 7;
	dim_params ps;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "xent"));
	dim_param *p;
	CHECK_OK(ctx, dim_params_add(&ps, "logits", 2, (int[]){N, K}, true, &p));
	float x[35], g[35];
	int y[5] = {3, -1, 0, 6, 2};
	t_fill(rng, x, 35, -3, 3);
	CHECK_OK(ctx, dim_param_set(ctx, p, x));
	dim_buf lab;
	CHECK_OK(ctx, dim_buf_create(ctx, sizeof y, &lab));
	CHECK_OK(ctx, dim_write(ctx, lab, 0, y, sizeof y));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "xent", &t));
	for (int round = 0; round < 2; round++) {
		dim_tape_begin(t, true);
		dim_var *l = NULL;
		CHECK_OK(ctx, dim_t_cross_entropy(t, t_param(t, p), lab, &l));
		if (l)
			CHECK_OK(ctx, dim_tape_backward(t, l, 1.0f));
	}
	CHECK_OK(ctx, dim_tensor_read(ctx, &p->grad, g));
	double xd[35], wg[35];
	for (int i = 0; i < 35; i++)
		xd[i] = x[i];
	struct ref_arg a = {N, K, y};
	ref_loss(xd, &a, NULL, wg);
	for (int i = 0; i < 35; i++)
		wg[i] *= 2;
	t_close("tape xent: two backward passes", g, wg, 35, 1e-5, 1e-7);
	dim_tape_destroy(t);
	dim_buf_release(&lab);
	dim_params_free(&ps);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {5};
	char *dir = t_tmpdir("loss");
	dim_arena *ws;
	CHECK_OK(ctx, dim_arena_create(ctx, "ws", 1 << 20, &ws));
	one_case(ctx, ws, &rng, 37, 10, 3, 5, dir);
	one_case(ctx, ws, &rng, 1, 13, 3, 0, NULL);
	one_case(ctx, ws, &rng, 3, 1, 3, 0, NULL);
	one_case(ctx, ws, &rng, 5, 7, 60, 2, NULL);   /* large logits: stable */
	one_case(ctx, ws, &rng, 300, 3, 5, 100, NULL); /* more rows than a work-group */
	test_tape(ctx, &rng);
	/* labels buffer too small */
	dim_tensor x = {{0}, 2, {4, 3}}, l = {{0}, 1, {1}};
	dim_buf small = {0};
	CHECK(dim_cross_entropy_forward(ctx, ws, &l, &x, &x, small) == DIM_ERR_ARG);
	if (t_torch_run("check_loss.py", dir, "37 10") == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_arena_destroy(ws);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
