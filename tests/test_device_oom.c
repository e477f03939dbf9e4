/* cldim-test: labels=opencl;cli timeout=300 */
/* Out of device memory (issue 16, item 7), at a small scale through the
 * CLDIM_DEVICE_MEM_LIMIT_MIB cap: the allocation that does not fit fails with
 * DIM_ERR_DEVICE_MEM naming the cap; from then on the context launches
 * nothing (kernels and GEMMs answer DIM_ERR_DEVICE_MEM, the launch count stays)
 * and is marked so that destroying it does not wait for queued work. Other
 * contexts are unaffected. `cldim train` under the cap exits 7 after the first
 * failed step with a batch hint and writes no checkpoint. */
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

int main(void)
{
	dim_ctx *ctx = t_ctx_with("CLDIM_DEVICE_MEM_LIMIT_MIB", "48");
	dim_buf a = {0}, b = {0}, x = {0};
	dim_kernel *k = NULL;
	CHECK_OK(ctx, dim_buf_create(ctx, 1024, &x));
	CHECK_OK(ctx, dim_kernel_get(ctx, "util", NULL, "util_axpy", &k));
	CHECK_OK(ctx, DIM_LAUNCH_1D(ctx, k, 256, DIM_INT(256), DIM_FLOAT(2.0f), DIM_BUF(x),
				    DIM_BUF(x)));
	CHECK(!dim_ctx_mem_failed(ctx));
	CHECK_OK(ctx, dim_buf_create(ctx, (size_t)32 << 20, &a));
	dim_status st = dim_buf_create(ctx, (size_t)32 << 20, &b);
	CHECK_MSG(st == DIM_ERR_DEVICE_MEM && strstr(dim_ctx_errmsg(ctx), "CLDIM_DEVICE_MEM_LIMIT_MIB"),
		  "status %d: %s", st, dim_ctx_errmsg(ctx));
	CHECK(dim_ctx_mem_failed(ctx));
	unsigned long long launched = dim_ctx_get_stats(ctx).launches;
	CHECK(DIM_LAUNCH_1D(ctx, k, 256, DIM_INT(256), DIM_FLOAT(2.0f), DIM_BUF(x), DIM_BUF(x)) ==
	      DIM_ERR_DEVICE_MEM);
	CHECK(dim_gemm(ctx, DIM_NO_TRANS, DIM_NO_TRANS, 4, 4, 4, 1.0f, a, 4, a, 4, 0.0f, a, 4) ==
	      DIM_ERR_DEVICE_MEM);
	CHECK(dim_ctx_get_stats(ctx).launches == launched);
	/* released memory counts again (for a new context) */
	dim_buf_release(&a);
	dim_buf_release(&x);
	dim_ctx_destroy(ctx);
	ctx = t_ctx_with("CLDIM_DEVICE_MEM_LIMIT_MIB", "48");
	CHECK_OK(ctx, dim_buf_create(ctx, (size_t)32 << 20, &a));
	CHECK(!dim_ctx_mem_failed(ctx));
	dim_buf_release(&a);
	dim_ctx_destroy(ctx);

	const char *cli = getenv("CLDIM_CLI");
	struct stat sb;
	if (!cli || stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &sb)) {
		fprintf(stderr, "CLI part skipped: no CLDIM_CLI or Fashion-MNIST\n");
		return T_RESULT();
	}
	char *dir = t_tmpdir("oom"), cmd[2000], out[1 << 14];
	snprintf(cmd, sizeof cmd, "CLDIM_DEVICE_MEM_LIMIT_MIB=200 '%s' train --encoder dcgan28 --batch 512 "
		 "--mi-units 512 --limit 1024 --steps 2 --progress none --out %s/run", cli, dir);
	int rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc == 7 && strstr(out, "cannot hold a batch of 512") &&
			  strstr(out, "--batch 256") && strstr(out, "CLDIM_DEVICE_MEM_LIMIT_MIB"),
		  "%s -> %d\n%s", cmd, rc, out);
	snprintf(cmd, sizeof cmd, "%s/run/latest", dir);
	CHECK(stat(cmd, &sb) != 0);
	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
