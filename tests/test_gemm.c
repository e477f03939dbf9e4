/* cldim-test: labels=opencl;op timeout=300 */
/* GEMM wrapper vs a double-precision reference: all four transpose
 * combinations, odd sizes, non-zero offsets inside a larger buffer, padded
 * leading dimensions, beta != 0, beta == 0 over NaN garbage, and the batched
 * form — on every backend (CLDIM_GEMM=clblast, then =own with fma() and with
 * mad() (CLDIM_FMA=0), without the transposed few-row form (CLDIM_GEMM_SWAP_M=0)
 * with operands read in place (CLDIM_GEMM_PACK=direct) and with tile launches
 * split into small blocks of M and K (CLDIM_GEMM_MB, _KB), each on a fresh
 * context), plus a few shapes that cross the own kernel's tile edges and an
 * unknown CLDIM_GEMM (an error where the environment is read). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void ref_gemm(int ta, int tb, int M, int N, int K, double alpha, const float *A, int lda,
		     const float *B, int ldb, double beta, const float *C0, int ldc, double *C)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double s = 0;
			for (int k = 0; k < K; k++) {
				double a = ta ? A[k * lda + i] : A[i * lda + k];
				double b = tb ? B[j * ldb + k] : B[k * ldb + j];
				s += a * b;
			}
			double c0 = beta != 0.0 ? (double)C0[i * ldc + j] : 0.0;
			C[i * ldc + j] = alpha * s + beta * c0;
		}
}

static void one_case(dim_ctx *ctx, t_rng *rng, int ta, int tb, int M, int N, int K, float alpha,
		     float beta, int pad, int nan_c)
{
	int arows = ta ? K : M, acols = ta ? M : K;
	int brows = tb ? N : K, bcols = tb ? K : N;
	int lda = acols + pad, ldb = bcols + pad, ldc = N + pad;
	size_t offa = 3, offb = 5, offc = 7; /* floats */
	size_t na = offa + (size_t)arows * lda, nb = offb + (size_t)brows * ldb,
	       nc = offc + (size_t)M * ldc;
	float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4);
	double *want = malloc((size_t)M * ldc * 8);
	t_fill(rng, A, na, -1, 1);
	t_fill(rng, B, nb, -1, 1);
	t_fill(rng, C, nc, -1, 1);
	if (nan_c)
		for (size_t i = 0; i < nc; i++)
			C[i] = NAN;
	ref_gemm(ta, tb, M, N, K, alpha, A + offa, lda, B + offb, ldb, beta, C + offc, ldc, want);

	dim_buf bA = t_upload(ctx, A, na), bB = t_upload(ctx, B, nb), bC = t_upload(ctx, C, nc);
	CHECK_OK(ctx, dim_gemm(ctx, ta, tb, M, N, K, alpha, dim_buf_view(bA, offa * 4, (na - offa) * 4),
			       lda, dim_buf_view(bB, offb * 4, (nb - offb) * 4), ldb, beta,
			       dim_buf_view(bC, offc * 4, (nc - offc) * 4), ldc));
	float *got = t_download(ctx, bC, nc);
	char what[128];
	snprintf(what, sizeof what, "gemm ta=%d tb=%d M=%d N=%d K=%d beta=%g pad=%d", ta, tb, M, N,
		 K, beta, pad);
	/* compare only the M x N window; padding columns and the offset prefix
	 * must be untouched */
	for (int i = 0; i < M; i++)
		t_close(what, got + offc + (size_t)i * ldc, want + (size_t)i * ldc, (size_t)N, 1e-5,
			1e-5 * K);
	if (!nan_c) {
		CHECK(memcmp(got, C, offc * 4) == 0);
		if (pad)
			CHECK(got[offc + N] == C[offc + N]);
	}
	free(got);
	dim_buf_release(&bA);
	dim_buf_release(&bB);
	dim_buf_release(&bC);
	free(A);
	free(B);
	free(C);
	free(want);
}

static void batched_case(dim_ctx *ctx, t_rng *rng)
{
	int M = 7, N = 13, K = 5, batch = 3;
	size_t sa = M * K + 2, sb = K * N + 1, sc = M * N + 3;
	float *A = malloc(sa * batch * 4), *B = malloc(sb * batch * 4), *C = malloc(sc * batch * 4);
	t_fill(rng, A, sa * batch, -1, 1);
	t_fill(rng, B, sb * batch, -1, 1);
	t_fill(rng, C, sc * batch, -1, 1);
	double *want = malloc(sc * batch * 8);
	for (int b = 0; b < batch; b++)
		ref_gemm(0, 1 - 1, M, N, K, 0.5, A + b * sa, K, B + b * sb, N, 2.0, C + b * sc, N,
			 want + b * sc);
	dim_buf bA = t_upload(ctx, A, sa * batch), bB = t_upload(ctx, B, sb * batch),
		bC = t_upload(ctx, C, sc * batch);
	CHECK_OK(ctx, dim_gemm_batched(ctx, DIM_NO_TRANS, DIM_NO_TRANS, M, N, K, 0.5f, bA, K, sa,
				       bB, N, sb, 2.0f, bC, N, sc, batch));
	float *got = t_download(ctx, bC, sc * batch);
	for (int b = 0; b < batch; b++)
		t_close("batched gemm", got + b * sc, want + b * sc, (size_t)M * N, 1e-5, 1e-5);
	free(got);
	dim_buf_release(&bA);
	dim_buf_release(&bB);
	dim_buf_release(&bC);
	free(A);
	free(B);
	free(C);
	free(want);
}

static void run_backend(const char *backend)
{
	setenv("CLDIM_GEMM", backend, 1);
	dim_ctx *ctx = t_ctx();
	t_rng rng = {42};
	static const int sizes[][3] = {{1, 1, 1}, {7, 1, 33}, {1, 130, 7}, {33, 7, 130},
				       {130, 33, 1}, {64, 64, 64}, {5, 37, 129}};
	CHECK(!strcmp(dim_gemm_backend_name(ctx), backend));
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++)
			for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
				one_case(ctx, &rng, ta, tb, sizes[s][0], sizes[s][1], sizes[s][2],
					 1.0f, 0.0f, 0, 0);
				one_case(ctx, &rng, ta, tb, sizes[s][0], sizes[s][1], sizes[s][2],
					 -0.75f, 0.5f, 3, 0);
			}
	/* whole and partial 6 x 64 tiles of the own kernel, deeper K */
	one_case(ctx, &rng, 0, 1, 12, 128, 300, 1.0f, 0.0f, 0, 0);
	one_case(ctx, &rng, 0, 0, 18, 128, 33, 1.0f, 0.5f, 0, 0); /* both in place with direct */
	one_case(ctx, &rng, 1, 0, 13, 129, 257, 0.5f, 1.0f, 2, 0);
	one_case(ctx, &rng, 1, 1, 67, 65, 40, 1.0f, -1.0f, 0, 0);
	/* beta == 0 must overwrite C even when it holds NaNs */
	one_case(ctx, &rng, 0, 1, 9, 11, 13, 1.0f, 0.0f, 1, 1);
	one_case(ctx, &rng, 1, 0, 70, 70, 9, 1.0f, 0.0f, 0, 1);
	batched_case(ctx, &rng);

	/* errors are statuses with messages, not crashes */
	dim_buf small = {0};
	CHECK_OK(ctx, dim_buf_create(ctx, 16, &small));
	dim_status st = dim_gemm(ctx, 0, 0, 8, 8, 8, 1, small, 8, small, 8, 0, small, 8);
	CHECK(st == DIM_ERR_BLAS);
	CHECK(strstr(dim_ctx_errmsg(ctx), "too small") != NULL);
	dim_buf_release(&small);
	printf("gemm backend: %s\n", dim_gemm_backend_name(ctx));
	dim_ctx_destroy(ctx);
}

int main(void)
{
	run_backend("clblast");
	run_backend("own");
	/* t_small (simulated GPU): CLBlast, what GPUs run, and the own kernels'
	 * default form; not the CPU-tuning variants below */
	if (t_small())
		goto variants_done;
	/* the own kernels with mad() instead of fma() (devices without CL_FP_FMA) */
	setenv("CLDIM_FMA", "0", 1);
	run_backend("own");
	unsetenv("CLDIM_FMA");
	/* few-row NT products without the transposed formulation */
	setenv("CLDIM_GEMM_SWAP_M", "0", 1);
	run_backend("own");
	unsetenv("CLDIM_GEMM_SWAP_M");
	/* operands read in place where their layout allows (CLDIM_GEMM_PACK=direct) */
	setenv("CLDIM_GEMM_PACK", "direct", 1);
	run_backend("own");
	/* tile launches split into blocks of M and K far smaller than the
	 * defaults (CLDIM_GEMM_MB, _KB): M blocks offset A and C (C's columns in
	 * the transposed few-row form), K blocks after the first accumulate with
	 * beta 1, also over NaN garbage; packed, and read in place */
	setenv("CLDIM_GEMM_MB", "13", 1);
	setenv("CLDIM_GEMM_KB", "7", 1);
	run_backend("own");
	setenv("CLDIM_GEMM_PACK", "direct", 1);
	run_backend("own");
	unsetenv("CLDIM_GEMM_PACK");
	unsetenv("CLDIM_GEMM_KB");
	unsetenv("CLDIM_GEMM_MB");
variants_done:

	/* a backend name that does not exist is an error naming the variable,
	 * where the environment is read (dim_ctx_options_from_env); a backend
	 * number out of range in the options fails the context */
	setenv("CLDIM_GEMM", "fastest", 1);
	dim_ctx_options opt;
	dim_error err = {0};
	CHECK(dim_ctx_options_from_env(&opt, &err) == DIM_ERR_ARG &&
	      strstr(dim_error_text(&err), "CLDIM_GEMM") != NULL);
	unsetenv("CLDIM_GEMM");
	dim_error_clear(&err);
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&opt, &err));
	opt.gemm = 7;
	dim_ctx *ctx = NULL;
	CHECK(dim_ctx_create(&ctx, &opt, &err) == DIM_ERR_ARG && !ctx);
	return T_RESULT();
}
