/* cldim-test: labels=opencl;op timeout=120 */
/* pairwise: out[n*N+m] = b[n] + a[m] + bias. Forward and backward against a
 * double reference; the reference's gradient against central finite
 * differences of L = sum(r * out); accumulate flags; dbias accumulates; and
 * PyTorch (autograd through the explicit broadcast) on the same inputs. */
#include "cldim/op_pairwise.h"
#include "testutil.h"

static void ref_forward(int N, int H, const double *a, const double *b, const double *bias,
			double *out)
{
	for (int n = 0; n < N; n++)
		for (int m = 0; m < N; m++)
			for (int h = 0; h < H; h++)
				out[((size_t)n * N + m) * H + h] = b[n * H + h] + a[m * H + h] +
								   (bias ? bias[h] : 0.0);
}

static double ref_loss(int N, int H, const double *a, const double *b, const double *bias,
		       const double *r)
{
	double *out = malloc((size_t)N * N * H * 8), s = 0;
	ref_forward(N, H, a, b, bias, out);
	for (size_t i = 0; i < (size_t)N * N * H; i++)
		s += r[i] * out[i];
	free(out);
	return s;
}

static void one(dim_ctx *ctx, t_rng *rng, int N, int H, const char *dir)
{
	size_t nab = (size_t)N * H, no = nab * N;
	float *a = malloc(nab * 4), *b = malloc(nab * 4), *bias = malloc(H * 4), *r = malloc(no * 4);
	t_fill(rng, a, nab, -1, 1);
	t_fill(rng, b, nab, -1, 1);
	t_fill(rng, bias, H, -1, 1);
	t_fill(rng, r, no, -1, 1);
	double *ad = t_to_d(a, nab), *bd = t_to_d(b, nab), *cd = t_to_d(bias, H), *rd = t_to_d(r, no);
	double *want = malloc(no * 8);
	ref_forward(N, H, ad, bd, cd, want);

	/* reference gradients: da[m] = sum_n r[n,m], db[n] = sum_m r[n,m], dc = sum */
	double *ga = calloc(nab, 8), *gb = calloc(nab, 8), *gc = calloc(H, 8);
	for (int n = 0; n < N; n++)
		for (int m = 0; m < N; m++)
			for (int h = 0; h < H; h++) {
				double g = rd[((size_t)n * N + m) * H + h];
				ga[m * H + h] += g;
				gb[n * H + h] += g;
				gc[h] += g;
			}
	/* finite differences on the reference (linear, so exact up to rounding) */
	const double eps = 1e-4;
	for (size_t i = 0; i < nab; i += 3) {
		double keep = ad[i];
		ad[i] = keep + eps;
		double lp = ref_loss(N, H, ad, bd, cd, rd);
		ad[i] = keep - eps;
		double lm = ref_loss(N, H, ad, bd, cd, rd);
		ad[i] = keep;
		CHECK_MSG(fabs((lp - lm) / (2 * eps) - ga[i]) < 1e-6, "fd da[%zu]", i);
		keep = bd[i];
		bd[i] = keep + eps;
		lp = ref_loss(N, H, ad, bd, cd, rd);
		bd[i] = keep - eps;
		lm = ref_loss(N, H, ad, bd, cd, rd);
		bd[i] = keep;
		CHECK_MSG(fabs((lp - lm) / (2 * eps) - gb[i]) < 1e-6, "fd db[%zu]", i);
	}

	dim_buf ba = t_upload(ctx, a, nab), bb = t_upload(ctx, b, nab), bc = t_upload(ctx, bias, H);
	dim_buf bo, bda, bdb, bdc, br = t_upload(ctx, r, no);
	CHECK_OK(ctx, dim_buf_create(ctx, no * 4, &bo));
	CHECK_OK(ctx, dim_pairwise_forward(ctx, N, H, bo, ba, bb, &bc));
	float *out = t_download(ctx, bo, no);
	t_close("pairwise forward", out, want, no, 1e-6, 1e-6);
	/* twice: first write (acc 0) then accumulate (acc 1) => 2x; dbias += twice */
	bda = t_upload(ctx, a, nab);
	bdb = t_upload(ctx, b, nab);
	float *zero = calloc(H, 4);
	bdc = t_upload(ctx, zero, H);
	for (int rep = 0; rep < 2; rep++)
		CHECK_OK(ctx, dim_pairwise_backward(ctx, N, H, &bda, rep, &bdb, rep, &bdc, br));
	float *gda = t_download(ctx, bda, nab), *gdb = t_download(ctx, bdb, nab),
	      *gdc = t_download(ctx, bdc, H);
	for (size_t i = 0; i < nab; i++) {
		ga[i] *= 2;
		gb[i] *= 2;
	}
	for (int h = 0; h < H; h++)
		gc[h] *= 2;
	t_close("pairwise da (x2)", gda, ga, nab, 1e-5, 1e-5);
	t_close("pairwise db (x2)", gdb, gb, nab, 1e-5, 1e-5);
	t_close("pairwise dbias (x2)", gdc, gc, H, 1e-5, 1e-5);

	if (dir) {
		t_dump(dir, "a", a, nab);
		t_dump(dir, "b", b, nab);
		t_dump(dir, "bias", bias, H);
		t_dump(dir, "r", r, no);
		t_dump(dir, "out", out, no);
		t_dump(dir, "da", gda, nab);
		t_dump(dir, "db", gdb, nab);
		t_dump(dir, "dbias", gdc, H);
		char args[32];
		snprintf(args, sizeof args, "%d %d", N, H);
		t_torch_run("check_pairwise.py", dir, args);
	}
	dim_buf bufs[] = {ba, bb, bc, bo, bda, bdb, bdc, br};
	for (int i = 0; i < 8; i++)
		dim_buf_release(&bufs[i]);
	free(a); free(b); free(bias); free(r); free(ad); free(bd); free(cd); free(rd);
	free(want); free(ga); free(gb); free(gc); free(out); free(gda); free(gdb); free(gdc);
	free(zero);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {5};
	char *dir = t_tmpdir("pairwise");
	one(ctx, &rng, 1, 3, NULL);
	one(ctx, &rng, 3, 7, NULL);
	one(ctx, &rng, 5, 13, dir);
	one(ctx, &rng, 7, 1, NULL);
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
