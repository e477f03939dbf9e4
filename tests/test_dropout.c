/* cldim-test: labels=opencl;op timeout=300 */
/* Dropout: the dropped fraction is close to p, the device mask equals the
 * host rule (dim_dropout_keep), the same (seed, step) reproduces it and a new
 * step changes it, backward = mask * scale * dy (and accumulates), evaluation
 * and p = 0 are the identity, p = 1 zeroes, the tape wrapper follows the
 * tape's mode, and PyTorch agrees on the scaling convention. */
#include <string.h>

#include "cldim/op_dropout.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

static void one_p(dim_ctx *ctx, t_rng *rng, float p, size_t n, const char *dump_dir)
{
	dim_dropout_desc d = {p, 0x1234abcd9876ull, 17, true};
	float *x = malloc(n * 4), *dy = malloc(n * 4);
	t_fill(rng, x, n, -2, 2);
	t_fill(rng, dy, n, -1, 1);
	dim_tensor tx = {t_upload(ctx, x, n), 1, {(int)n}}, ty = tx, tdy = tx, tdx = tx;
	ty.buf = t_upload(ctx, x, n);
	tdy.buf = t_upload(ctx, dy, n);
	tdx.buf = t_upload(ctx, dy, n);
	CHECK_OK(ctx, dim_dropout_forward(ctx, &d, &ty, &tx));
	CHECK_OK(ctx, dim_dropout_backward(ctx, &d, &tdx, 0, &tdy));
	float *y = t_download(ctx, ty.buf, n), *dx = t_download(ctx, tdx.buf, n);
	double scale = p < 1 ? 1.0 / (1.0 - p) : 0, *wy = malloc(n * 8), *wdx = malloc(n * 8);
	size_t dropped = 0, mismatch = 0;
	float *mask = malloc(n * 4);
	for (size_t i = 0; i < n; i++) {
		bool keep = dim_dropout_keep(&d, i);
		mask[i] = keep ? 1.0f : 0.0f;
		dropped += !keep;
		mismatch += (y[i] == 0.0f) == keep;
		wy[i] = keep ? (float)scale * x[i] : 0;
		wdx[i] = keep ? (float)scale * dy[i] : 0;
	}
	double frac = (double)dropped / n, sigma = sqrt(p * (1.0 - p) / n);
	CHECK_MSG(fabs(frac - p) <= 5 * sigma + 1e-12, "p=%g: dropped fraction %g", p, frac);
	CHECK_MSG(mismatch == 0, "p=%g: %zu device mask bits differ from the host rule", p,
		  mismatch);
	t_close("dropout forward", y, wy, n, 1e-7, 0);
	t_close("dropout backward = mask * scale * dy", dx, wdx, n, 1e-7, 0);
	/* reproducible: same seed and step, same bits */
	CHECK_OK(ctx, dim_dropout_forward(ctx, &d, &ty, &tx));
	float *y2 = t_download(ctx, ty.buf, n);
	CHECK(memcmp(y, y2, n * 4) == 0);
	/* another step gives another mask (when there is randomness at all) */
	if (p > 0.05f && p < 0.95f) {
		dim_dropout_desc d2 = d;
		d2.step++;
		size_t differ = 0;
		for (size_t i = 0; i < n; i++)
			differ += dim_dropout_keep(&d, i) != dim_dropout_keep(&d2, i);
		double want = 2 * p * (1 - p) * n;
		CHECK_MSG(fabs(differ - want) < 6 * sqrt(want), "p=%g: %zu of %zu bits change", p,
			  differ, n);
	}
	/* accumulate */
	CHECK_OK(ctx, dim_dropout_backward(ctx, &d, &tdx, 1, &tdy));
	float *dx2 = t_download(ctx, tdx.buf, n);
	for (size_t i = 0; i < n; i++)
		wdx[i] *= 2;
	t_close("dropout backward accumulate", dx2, wdx, n, 1e-7, 0);
	/* evaluation: identity both ways */
	d.training = false;
	CHECK_OK(ctx, dim_dropout_forward(ctx, &d, &ty, &tx));
	CHECK_OK(ctx, dim_dropout_backward(ctx, &d, &tdx, 0, &tdy));
	float *ye = t_download(ctx, ty.buf, n), *dxe = t_download(ctx, tdx.buf, n);
	CHECK(memcmp(ye, x, n * 4) == 0);
	CHECK(memcmp(dxe, dy, n * 4) == 0);
	if (dump_dir) {
		t_dump(dump_dir, "x", x, n), t_dump(dump_dir, "dy", dy, n);
		t_dump(dump_dir, "mask", mask, n), t_dump(dump_dir, "y", y, n);
		t_dump(dump_dir, "dx", dx, n);
	}
	free(x), free(dy), free(y), free(dx), free(wy), free(wdx), free(y2), free(dx2), free(ye),
		free(dxe), free(mask);
	dim_buf_release(&tx.buf), dim_buf_release(&ty.buf), dim_buf_release(&tdy.buf),
		dim_buf_release(&tdx.buf);
}

static void test_tape(dim_ctx *ctx, t_rng *rng)
{
	dim_params ps;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "drop"));
	dim_param *p;
	const int n = 1001;
	CHECK_OK(ctx, dim_params_add(&ps, "x", 1, (int[]){n}, true, &p));
	float *x = malloc(n * 4), *g = malloc(n * 4), *y = malloc(n * 4);
	t_fill(rng, x, n, -2, 2);
	CHECK_OK(ctx, dim_param_set(ctx, p, x));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "drop", &t));
	dim_dropout_desc d = {0.3f, 5, 99, true};
	dim_tape_begin(t, true);
	dim_var *v = NULL, *dummy = NULL;
	CHECK_OK(ctx, dim_t_dropout(t, &d, t_param(t, p), &v));
	int acc;
	dim_tensor *gv = v ? dim_tape_grad(t, v, &acc) : NULL;
	CHECK(gv != NULL);
	if (gv) {
		CHECK_OK(ctx, dim_fill_f32(ctx, gv->buf, 1.0f));
		CHECK_OK(ctx, dim_tape_new(t, 1, (int[]){1}, true, &dummy));
		CHECK_OK(ctx, dim_tape_backward(t, dummy, 0.0f));
		CHECK_OK(ctx, dim_tensor_read(ctx, &p->grad, g));
		double *w = malloc(n * 8);
		for (int i = 0; i < n; i++)
			w[i] = dim_dropout_keep(&d, i) ? (float)(1.0 / 0.7) : 0.0;
		t_close("tape dropout gradient", g, w, n, 1e-7, 0);
		free(w);
	}
	/* evaluation: identity whatever the descriptor says */
	dim_tape_begin(t, false);
	CHECK_OK(ctx, dim_t_dropout(t, &d, t_param(t, p), &v));
	if (v) {
		CHECK_OK(ctx, dim_tensor_read(ctx, &v->val, y));
		CHECK(memcmp(x, y, n * 4) == 0);
	}
	free(x), free(g), free(y);
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {3};
	char *dir = t_tmpdir("dropout");
	/* the mask statistics are checked within 5 sigma of n, so a smaller n
	 * (simulated GPU, t_small) is as strict */
	const size_t big = t_small() ? 10007 : 100003;
	char args[64];
	snprintf(args, sizeof args, "%zu 0.5", big);
	one_p(ctx, &rng, 0.5f, big, dir);
	one_p(ctx, &rng, 0.1f, big, NULL);
	one_p(ctx, &rng, 0.8f, 7919, NULL);
	one_p(ctx, &rng, 0.0f, 1001, NULL);
	one_p(ctx, &rng, 1.0f, 1001, NULL);
	test_tape(ctx, &rng);
	dim_dropout_desc bad = {1.5f, 0, 0, true};
	dim_tensor tx = {{0}, 1, {1}};
	CHECK(dim_dropout_forward(ctx, &bad, &tx, &tx) == DIM_ERR_ARG);
	if (t_torch_run("check_dropout.py", dir, args) == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
