/* cldim-test: labels=opencl timeout=60 */
/* The GEMM backend chosen by measurement: a backend recorded for this device
 * (as `cldim bench` does) is what later contexts use under CLDIM_GEMM=auto;
 * CLDIM_GEMM forces one; without a record, own on CPUs and CLBlast elsewhere;
 * a bad name is an error; both backends compute the same product. */
#include <string.h>

#include "testutil.h"

static dim_ctx *ctx_in(const char *dir)
{
	dim_ctx *ctx = NULL;
	dim_error err = {0};
	dim_ctx_options opt;
	if (!dim_ctx_options_from_env(&opt, &err))
		snprintf(opt.cache_dir, sizeof opt.cache_dir, "%s", dir);
	if (err.status || dim_ctx_create(&ctx, &opt, &err)) {
		fprintf(stderr, "context: %s\n", dim_error_text(&err));
		exit(err.status == DIM_ERR_NO_PLATFORM ? 77 : 1);
	}
	return ctx;
}

/* Backend name a fresh context in dir uses (after one GEMM). */
static void check_backend(const char *dir, const char *want)
{
	dim_ctx *ctx = ctx_in(dir);
	float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4] = {0};
	dim_buf ba = t_upload(ctx, a, 6), bb = t_upload(ctx, b, 6), bc = t_upload(ctx, c, 4);
	CHECK_OK(ctx, dim_gemm(ctx, DIM_NO_TRANS, DIM_NO_TRANS, 2, 2, 3, 1.0f, ba, 3, bb, 2, 0.0f,
			       bc, 2));
	float *r = t_download(ctx, bc, 4);
	/* [1 2 3; 4 5 6] x [1 0; 0 1; 1 1] = [4 5; 10 11] */
	CHECK(r[0] == 4 && r[1] == 5 && r[2] == 10 && r[3] == 11);
	CHECK_MSG(!strcmp(dim_gemm_backend_name(ctx), want), "backend %s, want %s",
		  dim_gemm_backend_name(ctx), want);
	free(r);
	dim_buf_release(&ba);
	dim_buf_release(&bb);
	dim_buf_release(&bc);
	dim_ctx_destroy(ctx);
}

int main(void)
{
	unsetenv("CLDIM_GEMM");
	char *dir = t_tmpdir("gemmrec");
	dim_ctx *ctx = ctx_in(dir);
	const char *rule = (dim_ctx_device(ctx)->type & DIM_DEV_CPU) ? "own" : "clblast";
	CHECK(dim_gemm_set_backend(ctx, "cuBLAS") == DIM_ERR_ARG);
	CHECK(dim_gemm_record_backend(ctx, "fast") == DIM_ERR_ARG);
	dim_ctx_destroy(ctx);

	check_backend(dir, rule); /* no record: the device-type rule */
	ctx = ctx_in(dir);
	CHECK_OK(ctx, dim_gemm_record_backend(ctx, "clblast"));
	dim_ctx_destroy(ctx);
	check_backend(dir, "clblast");
	ctx = ctx_in(dir);
	CHECK_OK(ctx, dim_gemm_record_backend(ctx, "own"));
	dim_ctx_destroy(ctx);
	check_backend(dir, "own");

	setenv("CLDIM_GEMM", "clblast", 1); /* an explicit choice beats the record */
	check_backend(dir, "clblast");
	setenv("CLDIM_GEMM", "auto", 1);
	check_backend(dir, "own");
	unsetenv("CLDIM_GEMM");

	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
