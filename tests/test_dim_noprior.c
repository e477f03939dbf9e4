/* cldim-test: labels=opencl timeout=300 */
/* gamma = 0 (e.g. --preset local-noprior): the prior term is not computed,
 * its metrics are NaN, and the discriminator is not trained (its parameters
 * stay as initialised) while the encoder is; with gamma > 0 the discriminator
 * does train (so the check can fail). */
#include <math.h>
#include <string.h>

#include "cldim/dim.h"
#include "testutil.h"

#define N 8

/* Sum of |value| over a parameter set's trainable tensors. */
static double mass(dim_ctx *ctx, dim_params *ps)
{
	double s = 0;
	for (int i = 0; i < ps->count; i++) {
		dim_param *p = ps->items[i];
		if (!p->trainable)
			continue;
		size_t n = dim_tensor_numel(&p->value);
		float *v = t_download(ctx, p->value.buf, n);
		for (size_t k = 0; v && k < n; k++)
			s += fabs(v[k]);
		free(v);
	}
	return s;
}

static void run(dim_ctx *ctx, float gamma, const float *x)
{
	dim_config cfg = dim_config_default();
	snprintf(cfg.encoder, sizeof cfg.encoder, "dcgan28");
	cfg.in_channels = 1;
	cfg.mi_units = 16;
	cfg.gamma = gamma;
	cfg.lr = 1e-2f;
	dim_model *m = NULL;
	CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	if (!m)
		return;
	dim_buf xb = t_upload(ctx, x, (size_t)N * 28 * 28);
	dim_tensor xt = {.buf = xb, .ndim = 4, .shape = {N, 1, 28, 28}};
	double enc0 = mass(ctx, dim_model_params(m)), pri0 = mass(ctx, dim_model_prior_params(m));
	dim_step_metrics mt;
	for (int s = 0; s < 2; s++)
		CHECK_OK(ctx, dim_train_step(m, &xt, &mt));
	double enc1 = mass(ctx, dim_model_params(m)), pri1 = mass(ctx, dim_model_prior_params(m));
	CHECK_MSG(enc1 != enc0, "gamma %g: the encoder did not train", gamma);
	if (gamma == 0) {
		CHECK_MSG(pri1 == pri0, "gamma 0: the discriminator changed (%.9g -> %.9g)", pri0,
			  pri1);
		CHECK(isnan(mt.prior_enc) && isnan(mt.prior_disc) && isfinite(mt.local));
	} else {
		CHECK_MSG(pri1 != pri0, "gamma %g: the discriminator did not train", gamma);
		CHECK(isfinite(mt.prior_enc) && isfinite(mt.prior_disc));
	}
	dim_buf_release(&xb);
	dim_model_destroy(m);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng r = {42};
	float *x = malloc((size_t)N * 28 * 28 * sizeof *x);
	t_fill(&r, x, (size_t)N * 28 * 28, -1, 1);
	run(ctx, 0.0f, x);
	run(ctx, 0.1f, x);
	free(x);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
