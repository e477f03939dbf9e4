/* cldim-test: labels=opencl;cli;train;python timeout=300 */
/* Checkpoint -> PyTorch: checkpoints written by `cldim train --steps 2`
 * (DIM(L) with the dot critic; DIM(L+G) with the concat critic and NCE) load
 * into tools/pytorch/cldim_torch.py (DIM built from the checkpoint's cfg.*
 * metadata, load_checkpoint), and the encoder in eval mode gives the same Y,
 * fc and conv features as cldim's (dim_checkpoint_load + dim_encoder_forward
 * on an eval tape) on the same 24 Fashion-MNIST test images. The Python side
 * is tests/py/check_train_ckpt.py. */
#include <string.h>
#include <sys/stat.h>

#include "cldim/checkpoint.h"
#include "cldim/data.h"
#include "testutil.h"

#define DATA "/usr/share/datasets/fashion-mnist"
#define N 24

static void check_run(dim_ctx *ctx, const char *cli, const char *dir, const char *name,
		      const char *flags)
{
	char cmd[3000], run[1200], ckpt[1400];
	snprintf(run, sizeof run, "%s/%s", dir, name);
	snprintf(cmd, sizeof cmd, "'%s' train --steps 2 --limit 64 --batch 16 --mi-units 64 "
		 "--progress none --quiet --out %s %s > /dev/null", cli, run, flags);
	int rc = system(cmd);
	CHECK_MSG(rc == 0, "%s -> %d", cmd, rc);
	snprintf(ckpt, sizeof ckpt, "%s/ckpt-00000002.safetensors", run);
	if (rc)
		return;

	/* the first N test images, normalised as in training */
	dim_error err = {0};
	dim_dataset *ds = NULL;
	dim_dataset_opts o = {.split = "test"};
	dim_transform tf;
	dim_image img = {0};
	float *x = malloc(N * 784 * sizeof *x);
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, DATA, &o, &err));
	if (ds)
		CHECK_OK_ERR(&err, dim_transform_preset(&tf, dim_dataset_get_info(ds)->format, 28, 1,
							0, &err));
	for (int i = 0; ds && !t_failures && i < N; i++) {
		int label, warned = 0;
		CHECK_OK_ERR(&err, dim_dataset_get(ds, NULL, (size_t)i, 0, &img, &label, &warned, &err));
		CHECK_OK_ERR(&err, dim_transform_apply(&tf, &img, 0, 0, (uint64_t)i, x + i * 784, &err));
	}
	dim_image_free(&img);
	dim_dataset_destroy(ds);

	dim_config cfg;
	dim_model *m = NULL;
	dim_tape *t = NULL;
	CHECK_OK_ERR(&err, dim_checkpoint_read_config(ckpt, &cfg, NULL, &err));
	if (!t_failures)
		CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	if (m)
		CHECK_OK(ctx, dim_checkpoint_load(m, ckpt, NULL));
	CHECK_OK(ctx, dim_tape_create(ctx, "torch-ckpt", &t));
	if (t_failures || !m || !t)
		goto out_free;
	dim_buf xb = t_upload(ctx, x, N * 784);
	dim_tensor xt = {.buf = xb, .ndim = 4, .shape = {N, 1, 28, 28}};
	dim_tape_begin(t, false);
	dim_encoder_out out;
	CHECK_OK(ctx, dim_encoder_forward(t, dim_model_encoder(m), t_input(t, &xt), &out));
	if (!t_failures) {
		dim_var *v[3] = {out.Y, out.fc, out.conv};
		const char *names[3] = {"Y", "fc", "conv"};
		char sub[1300];
		snprintf(sub, sizeof sub, "%s/dump", run);
		mkdir(sub, 0755);
		CHECK(t_dump(sub, "x", x, N * 784) == 0);
		for (int k = 0; k < 3; k++) {
			size_t n = dim_tensor_numel(&v[k]->val);
			float *h = malloc(n * sizeof *h);
			CHECK_OK(ctx, dim_tensor_read(ctx, &v[k]->val, h));
			CHECK(t_dump(sub, names[k], h, n) == 0);
			free(h);
		}
		char args[1500];
		snprintf(args, sizeof args, "'%s' %d", ckpt, N);
		t_torch_run("check_train_ckpt.py", sub, args);
	}
	dim_buf_release(&xb);
out_free:
	dim_tape_destroy(t);
	dim_model_destroy(m);
	free(x);
}

int main(void)
{
	const char *cli = getenv("CLDIM_CLI");
	struct stat sb;
	if (!cli) {
		fprintf(stderr, "skipped: CLDIM_CLI not set\n");
		return 77;
	}
	if (stat(DATA "/t10k-images-idx3-ubyte.gz", &sb)) {
		fprintf(stderr, "skipped: Fashion-MNIST not installed at " DATA "\n");
		return 77;
	}
	if (!t_torch_available())
		return t_torch_missing("checkpoint parity with PyTorch");
	dim_ctx *ctx = t_ctx();
	char *dir = t_tmpdir("torch-ckpt");
	check_run(ctx, cli, dir, "local", "");
	check_run(ctx, cli, dir, "local-global", "--preset local+global --critic concat "
		  "--estimator nce");
	dim_ctx_destroy(ctx);
	if (!t_failures)
		t_rmtree(dir);
	else
		fprintf(stderr, "files kept in %s\n", dir);
	free(dir);
	return T_RESULT();
}
