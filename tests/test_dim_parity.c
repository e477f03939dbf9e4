/* cldim-test: labels=opencl;python timeout=900 */
/* Whole-step parity with PyTorch (tools/pytorch/cldim_torch.py): the same
 * weights (exported through safetensors) and the same batch and prior samples
 * give the same loss terms and every parameter gradient, for each estimator,
 * with the local, global and prior terms all on. */
#include <string.h>

#include "cldim/dim.h"
#include "cldim/io.h"
#include "testutil.h"

/* Write every parameter value and gradient of both sets to path. */
static int dump_params(dim_ctx *ctx, dim_model *m, const char *path)
{
	dim_params *sets[2] = {dim_model_params(m), dim_model_prior_params(m)};
	int total = 0;
	for (int s = 0; s < 2; s++)
		total += sets[s]->count;
	dim_st_tensor *ts = calloc((size_t)total * 2, sizeof *ts);
	int64_t(*shapes)[DIM_MAX_DIMS] = calloc((size_t)total, sizeof *shapes);
	float **bufs = calloc((size_t)total * 2, sizeof *bufs);
	char(*names)[128] = calloc((size_t)total, sizeof *names);
	int n = 0, k = 0;
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < sets[s]->count; i++, k++) {
			dim_param *p = sets[s]->items[i];
			size_t numel = dim_tensor_numel(&p->value);
			for (int d = 0; d < p->value.ndim; d++)
				shapes[k][d] = p->value.shape[d];
			bufs[n] = malloc(numel * 4);
			CHECK_OK(ctx, dim_tensor_read(ctx, &p->value, bufs[n]));
			ts[n] = (dim_st_tensor){p->name, DIM_DT_F32, p->value.ndim, shapes[k], bufs[n]};
			n++;
			if (p->trainable) {
				bufs[n] = malloc(numel * 4);
				CHECK_OK(ctx, dim_tensor_read(ctx, &p->grad, bufs[n]));
				snprintf(names[k], sizeof names[k], "grad.%s", p->name);
				ts[n] = (dim_st_tensor){names[k], DIM_DT_F32, p->value.ndim, shapes[k],
							bufs[n]};
				n++;
			}
		}
	dim_error err = {0};
	dim_status st = dim_st_write(&err, path, ts, n, NULL, 0);
	CHECK_OK_ERR(&err, st);
	for (int i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(ts);
	free(shapes);
	free(names);
	return st == DIM_OK;
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	if (!t_torch_available()) {
		dim_ctx_destroy(ctx);
		return t_torch_missing("the DIM parity test");
	}
	t_rng rng = {2024};
	/* t_small (the simulated GPU, which runs one work-item at a time): the
	 * 12x12 test encoder tiny12 instead of dcgan28 (whose 3 M weights are
	 * millions of simulated work-items per parameter kernel), narrow critics;
	 * every estimator and critic as in the full run */
	const int small = t_small(), N = small ? 4 : 5, nconf = 5;
	const char *enc = small ? "tiny12" : "dcgan28";
	const int S = dim_encoder_input_size(enc);
	static const char *const est[] = {"jsd", "nce", "dv", "jsd", "nce"};
	static const char *const critic[] = {"dot", "dot", "dot", "concat", "concat"};
	for (int e = 0; e < nconf; e++) {
		dim_config c = dim_config_default();
		snprintf(c.encoder, sizeof c.encoder, "%s", enc);
		c.in_channels = 1;
		c.mi_units = small ? 16 : 48;
		c.global_hidden = small ? 8 : 24;
		c.alpha = 0.5f;
		c.beta = 1.0f;
		c.gamma = 0.1f;
		c.seed = 7 + (uint64_t)e;
		c.local_critic = e >= 3 ? DIM_CRITIC_CONCAT : DIM_CRITIC_DOT;
		c.concat_hidden = small ? 16 : 40;
		if (small)
			c.y_dim = 16;
		dim_error err = {0};
		CHECK_OK_ERR(&err, dim_mi_parse(est[e], &c.estimator, &err));
		dim_model *m;
		dim_status cst = dim_model_create(ctx, &c, &m);
		CHECK_OK(ctx, cst);
		if (cst)
			break;
		size_t nx = (size_t)N * S * S, nz = (size_t)N * c.y_dim;
		float *x = malloc(nx * 4), *z = malloc(nz * 4);
		t_fill(&rng, x, nx, -1, 1);
		for (size_t i = 0; i < nz; i++)
			z[i] = (float)t_uniform(&rng, 0, 1);
		dim_tensor xt = {.buf = t_upload(ctx, x, nx), .ndim = 4, .shape = {N, 1, S, S}};
		char *dir = t_tmpdir("dimparity");
		char path[1024];
		snprintf(path, sizeof path, "%s/before.safetensors", dir);
		/* weights before the step (the gradients are still zero) */
		dump_params(ctx, m, path);
		dim_step_metrics mt;
		CHECK_OK(ctx, dim_model_forward_backward(m, &xt, z, &mt));
		snprintf(path, sizeof path, "%s/after.safetensors", dir);
		dump_params(ctx, m, path);
		t_dump(dir, "x", x, nx);
		t_dump(dir, "z", z, nz);
		float terms[5] = {mt.local, mt.global, mt.prior_enc, mt.prior_disc, mt.total};
		t_dump(dir, "terms", terms, 5);
		int nneg = dim_model_negatives(m, NULL, 0);
		if (nneg > 0) {
			int *neg = malloc((size_t)nneg * sizeof *neg);
			dim_model_negatives(m, neg, nneg);
			float *negf = malloc((size_t)nneg * sizeof *negf);
			for (int i = 0; i < nneg; i++)
				negf[i] = (float)neg[i];
			t_dump(dir, "neg", negf, (size_t)nneg);
			free(neg);
			free(negf);
		}
		char args[256];
		snprintf(args, sizeof args, "%s %d %d %d %d %g %g %g %s %d %d %s", est[e], N,
			 c.mi_units, c.global_hidden, c.y_dim, c.alpha, c.beta, c.gamma, critic[e],
			 c.concat_hidden, nneg, enc);
		printf("%s %s/%s: local %.5f global %.5f prior_enc %.5f prior_disc %.5f\n", enc,
		       est[e], critic[e], mt.local, mt.global, mt.prior_enc, mt.prior_disc);
		t_torch_run("check_dim_step.py", dir, args);
		t_rmtree(dir);
		free(dir);
		dim_buf_release(&xt.buf);
		free(x);
		free(z);
		dim_model_destroy(m);
	}
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
