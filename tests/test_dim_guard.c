/* cldim-test: labels=opencl timeout=300 */
/* The NaN/Inf guard of the training step: a batch that makes a loss term
 * non-finite (here: NaN pixels) stops the step with DIM_ERR_NUMERIC, a
 * message naming the step and the term, and no parameter or optimizer update
 * (the weights after the failed step equal those before it). A normal step
 * afterwards works. A configuration without any loss term fails its step with
 * DIM_ERR_ARG. */
#include <string.h>

#include "cldim/dim.h"
#include "testutil.h"

static float *snapshot(dim_ctx *ctx, dim_params *ps, size_t *n)
{
	*n = dim_params_numel(ps, false);
	float *all = malloc(*n * sizeof *all), *p = all;
	for (int i = 0; i < ps->count; i++) {
		CHECK_OK(ctx, dim_param_get(ctx, ps->items[i], p));
		p += dim_tensor_numel(&ps->items[i]->value);
	}
	return all;
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	dim_config c = dim_config_default();
	snprintf(c.encoder, sizeof c.encoder, "dcgan28");
	c.in_channels = 1;
	c.mi_units = 32;
	dim_model *m;
	CHECK_OK(ctx, dim_model_create(ctx, &c, &m));
	if (t_failures)
		return T_RESULT();
	const int N = 4;
	size_t nx = (size_t)N * 28 * 28;
	float *x = malloc(nx * sizeof *x);
	t_rng rng = {9};
	t_fill(&rng, x, nx, -1, 1);
	dim_tensor xt = {.buf = t_upload(ctx, x, nx), .ndim = 4, .shape = {N, 1, 28, 28}};
	dim_step_metrics mt;

	/* one good step so the optimizers have state */
	CHECK_OK(ctx, dim_train_step(m, &xt, &mt));
	CHECK(dim_model_step(m) == 1);

	size_t n1, n2, p1, p2;
	float *before = snapshot(ctx, dim_model_params(m), &n1);
	float *pbefore = snapshot(ctx, dim_model_prior_params(m), &p1);
	x[5] = NAN;
	CHECK_OK(ctx, dim_tensor_write(ctx, &xt, x));
	dim_status st = dim_train_step(m, &xt, &mt);
	CHECK_MSG(st == DIM_ERR_NUMERIC, "status %s", dim_status_name(st));
	const char *msg = dim_ctx_errmsg(ctx);
	CHECK_MSG(strstr(msg, "step 2") && strstr(msg, "loss"), "message: %s", msg);
	CHECK(dim_model_step(m) == 1);
	float *after = snapshot(ctx, dim_model_params(m), &n2);
	float *pafter = snapshot(ctx, dim_model_prior_params(m), &p2);
	CHECK(n1 == n2 && memcmp(before, after, n1 * sizeof *before) == 0);
	CHECK(p1 == p2 && memcmp(pbefore, pafter, p1 * sizeof *pbefore) == 0);

	/* finite input again: training goes on */
	x[5] = 0.5f;
	CHECK_OK(ctx, dim_tensor_write(ctx, &xt, x));
	CHECK_OK(ctx, dim_train_step(m, &xt, &mt));
	CHECK(dim_model_step(m) == 2 && isfinite(mt.local) && isfinite(mt.total));

	/* no loss term at all (alpha = beta = gamma = 0): a clear DIM_ERR_ARG, not a
	 * status rebuilt from the context's last error (the NUMERIC above) */
	dim_model *m0 = NULL;
	c.alpha = c.beta = c.gamma = 0.0f;
	CHECK_OK(ctx, dim_model_create(ctx, &c, &m0));
	if (m0) {
		st = dim_train_step(m0, &xt, &mt);
		CHECK_MSG(st == DIM_ERR_ARG, "status %s", dim_status_name(st));
		CHECK_MSG(strstr(dim_ctx_errmsg(ctx), "has no loss"), "message: %s",
			  dim_ctx_errmsg(ctx));
		dim_model_destroy(m0);
	}

	free(before);
	free(after);
	free(pbefore);
	free(pafter);
	free(x);
	dim_buf_release(&xt.buf);
	dim_model_destroy(m);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
