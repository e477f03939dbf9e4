/* The GEMM wrapper: one entry point, row-major, over (buffer, offset) views.
 *
 * Backends: CLBlast, and our own kernel for CPU devices (gemm_own.c,
 * cl/gemm.cl). The context's options (gemm, from CLDIM_GEMM=clblast|own|auto)
 * pick one; auto (the default) takes the backend `cldim bench` measured faster
 * on this device (the device store, store.c), else our own kernel on CPU
 * devices, where it measured several times faster than untuned CLBlast on
 * PoCL (BENCHMARKS.md, "CPU GEMM"), and CLBlast everywhere else. The choice
 * is made once per context, at the first GEMM.
 *
 * CLBlast: indirect CLBlast GEMMs need a temporary buffer; we
 * hand it one owned by the context (grown on demand, so only the first step of
 * a run allocates), instead of letting it create and free one per call. */
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "internal.h"

static const char *clblast_status_name(CLBlastStatusCode s)
{
	switch (s) {
	case CLBlastNotImplemented: return "not implemented";
	case CLBlastInvalidMatrixA: return "matrix A is not a valid buffer";
	case CLBlastInvalidMatrixB: return "matrix B is not a valid buffer";
	case CLBlastInvalidMatrixC: return "matrix C is not a valid buffer";
	case CLBlastInvalidDimension: return "M, N and K must be positive";
	case CLBlastInvalidLeadDimA: return "leading dimension of A too small";
	case CLBlastInvalidLeadDimB: return "leading dimension of B too small";
	case CLBlastInvalidLeadDimC: return "leading dimension of C too small";
	case CLBlastInsufficientMemoryA: return "buffer of A too small";
	case CLBlastInsufficientMemoryB: return "buffer of B too small";
	case CLBlastInsufficientMemoryC: return "buffer of C too small";
	case CLBlastInsufficientMemoryTemp: return "temporary buffer too small";
	case CLBlastInvalidBatchCount: return "batch count must be positive";
	case CLBlastInvalidOverrideKernel: return "invalid override kernel";
	case CLBlastMissingOverrideParameter: return "missing override parameter";
	case CLBlastInvalidLocalMemUsage: return "not enough local memory";
	case CLBlastNoHalfPrecision: return "no half precision";
	case CLBlastNoDoublePrecision: return "no double precision";
	case CLBlastInvalidVectorScalar: return "invalid vector scalar";
	case CLBlastInsufficientMemoryScalar: return "insufficient memory scalar";
	case CLBlastDatabaseError: return "device not in the tuning database";
	case CLBlastUnknownError: return "unknown CLBlast error";
	case CLBlastUnexpectedError: return "unexpected CLBlast error";
	default:
		if (s > -64 && s < 0)
			return dim_cl_error_name((cl_int)s);
		return "CLBlast error";
	}
}

static dim_status blas_fail(dim_ctx *ctx, CLBlastStatusCode s, const char *what, size_t M,
			    size_t N, size_t K)
{
	dim_status code = (s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources)
				  ? DIM_ERR_DEVICE_MEM
				  : DIM_ERR_BLAS;
	return dim_fail(&ctx->err, code, "%s (M=%zu N=%zu K=%zu) on %s: CLBlast %d: %s", what, M, N,
			K, ctx->dev.name, (int)s, clblast_status_name(s));
}

static CLBlastTranspose tr(dim_trans t) { return t ? CLBlastTransposeYes : CLBlastTransposeNo; }

/* A view with memory (dim_buf_view out of range gives none) at a float offset. */
static int float_aligned(dim_buf b) { return b.mem && (b.off & 3) == 0; }

static int backend_by_name(const char *s)
{
	if (!strncmp(s, "clblast", 7))
		return DIM_GEMM_CLBLAST;
	if (!strncmp(s, "own", 3))
		return DIM_GEMM_OWN;
	return -1;
}

dim_status dim_gemm_record_backend(dim_ctx *ctx, const char *name)
{
	int b = backend_by_name(name);
	if (b < 0)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "GEMM backend '%s': use own or clblast", name);
	if (!ctx->store_dir[0])
		return DIM_OK; /* no store: nothing to record */
	dim_device_record r = {.gemm_backend = b};
	dim_status st = dim_device_store_update(ctx->store_dir, &ctx->dev, DIM_STORE_BACKEND, &r,
						&ctx->err);
	return st ? dim_fail_prefix(&ctx->err, "GEMM backend record: ") : DIM_OK;
}

dim_status dim_gemm_set_backend(dim_ctx *ctx, const char *name)
{
	int b = backend_by_name(name);
	if (b < 0 || strlen(name) != (b == DIM_GEMM_OWN ? 3u : 7u))
		return dim_fail(&ctx->err, DIM_ERR_ARG, "GEMM backend '%s': use own or clblast", name);
	ctx->gemm_backend = b;
	dim_gemm_own_configure(ctx);
	return DIM_OK;
}

/* Backend for this context from its options, the device store, or the
 * device type. */
static int backend_for(const dim_ctx *ctx)
{
	if (ctx->gemm_choice == DIM_GEMM_OWN || ctx->gemm_choice == DIM_GEMM_CLBLAST)
		return ctx->gemm_choice;
	if (ctx->record.gemm_backend == DIM_GEMM_OWN || ctx->record.gemm_backend == DIM_GEMM_CLBLAST)
		return ctx->record.gemm_backend;
	return (ctx->dev.type & DIM_DEV_CPU) ? DIM_GEMM_OWN : DIM_GEMM_CLBLAST;
}

static dim_status pick_backend(dim_ctx *ctx)
{
	if (ctx->gemm_backend != DIM_GEMM_AUTO)
		return DIM_OK;
	int b = backend_for(ctx);
	ctx->gemm_backend = b;
	dim_gemm_own_configure(ctx);
	dim_log(DIM_LOG_DEBUG, "GEMM backend on %s: %s", ctx->dev.name,
		b == DIM_GEMM_OWN ? "own" : "clblast");
	return DIM_OK;
}

dim_status dim_gemm(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N, size_t K,
		    float alpha, dim_buf A, size_t lda, dim_buf B, size_t ldb, float beta,
		    dim_buf C, size_t ldc)
{
	if (ctx->mem_failed) /* nothing more is launched after a failed allocation */
		return DIM_ERR_DEVICE_MEM;
	if (M == 0 || N == 0)
		return DIM_OK;
	if (!float_aligned(A) || !float_aligned(B) || !float_aligned(C))
		return dim_fail(&ctx->err, DIM_ERR_ARG, "dim_gemm: operand not float-aligned or an invalid view");
	if (K == 0) {
		/* C = beta*C: let CLBlast handle it via a 1-deep product with alpha 0? It
		 * rejects K == 0, so do it here. */
		return dim_fail(&ctx->err, DIM_ERR_ARG, "dim_gemm: K == 0");
	}
	dim_status st = pick_backend(ctx);
	if (st)
		return st;
	if (ctx->gemm_backend == DIM_GEMM_OWN)
		return dim_gemm_own(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
	size_t ao = A.off / 4, bo = B.off / 4, co = C.off / 4;
	size_t tmp = 0;
	CLBlastStatusCode s = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, tr(ta), tr(tb), M,
							 N, K, ao, lda, bo, ldb, co, ldc,
							 &ctx->queue, &tmp);
	if (s != CLBlastSuccess)
		return blas_fail(ctx, s, "GEMM temp size", M, N, K);
	if (tmp > ctx->gemm_tmp_bytes) {
		dim_buf nb;
		size_t want = tmp + tmp / 4;
		if (ctx->gemm_tmp)
			clReleaseMemObject(ctx->gemm_tmp);
		ctx->gemm_tmp = NULL;
		ctx->gemm_tmp_bytes = 0;
		st = dim_buf_create(ctx, want, &nb);
		if (st)
			return dim_fail_prefix(&ctx->err, "GEMM scratch: ");
		ctx->gemm_tmp = nb.mem;
		ctx->gemm_tmp_bytes = want;
	}
	double t0 = ctx->profile && clFinish(ctx->queue) == CL_SUCCESS ? dim_now() : 0;
	s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, tr(ta), tr(tb), M, N, K, alpha, A.mem,
				       ao, lda, B.mem, bo, ldb, beta, C.mem, co, ldc, &ctx->queue,
				       NULL, ctx->gemm_tmp);
	if (s != CLBlastSuccess)
		return blas_fail(ctx, s, "GEMM", M, N, K);
	if (t0 > 0 && clFinish(ctx->queue) == CL_SUCCESS)
		dim_profile_charge(ctx, dim_now() - t0);
	ctx->stats.launches++;
	return DIM_OK;
}

dim_status dim_gemm_batched(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N,
			    size_t K, float alpha, dim_buf A, size_t lda, size_t stride_a,
			    dim_buf B, size_t ldb, size_t stride_b, float beta, dim_buf C,
			    size_t ldc, size_t stride_c, size_t batch)
{
	if (M == 0 || N == 0 || batch == 0)
		return DIM_OK;
	if (batch == 1)
		return dim_gemm(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
	if (!float_aligned(A) || !float_aligned(B) || !float_aligned(C) || K == 0)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "dim_gemm_batched: bad operands");
	dim_status st = pick_backend(ctx);
	if (st)
		return st;
	if (ctx->gemm_backend == DIM_GEMM_OWN) {
		for (size_t i = 0; i < batch && !st; i++) {
			/* the own path checks extents against the cl_mem itself */
			dim_buf a = {A.mem, A.off + i * stride_a * 4, 0};
			dim_buf b = {B.mem, B.off + i * stride_b * 4, 0};
			dim_buf c = {C.mem, C.off + i * stride_c * 4, 0};
			st = dim_gemm_own(ctx, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
		}
		return st;
	}
	double t0 = ctx->profile && clFinish(ctx->queue) == CL_SUCCESS ? dim_now() : 0;
	CLBlastStatusCode s = CLBlastSgemmStridedBatched(
		CLBlastLayoutRowMajor, tr(ta), tr(tb), M, N, K, alpha, A.mem, A.off / 4, lda,
		stride_a, B.mem, B.off / 4, ldb, stride_b, beta, C.mem, C.off / 4, ldc, stride_c,
		batch, &ctx->queue, NULL);
	if (s != CLBlastSuccess)
		return blas_fail(ctx, s, "batched GEMM", M, N, K);
	if (t0 > 0 && clFinish(ctx->queue) == CL_SUCCESS)
		dim_profile_charge(ctx, dim_now() - t0);
	ctx->stats.launches++;
	return DIM_OK;
}

const char *dim_gemm_backend_name(const dim_ctx *ctx)
{
	int b = ctx->gemm_backend != DIM_GEMM_AUTO ? ctx->gemm_backend : backend_for(ctx);
	return b == DIM_GEMM_OWN ? "own" : "clblast";
}

void dim_gemm_release(dim_ctx *ctx)
{
	if (ctx->gemm_tmp)
		clReleaseMemObject(ctx->gemm_tmp);
	ctx->gemm_tmp = NULL;
	ctx->gemm_tmp_bytes = 0;
	dim_gemm_own_release(ctx);
	/* CLBlast caches programs keyed by context; drop them before the
	 * context goes away (CLBlast#47, #126). */
	CLBlastClearCache();
}
