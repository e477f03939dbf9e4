/* cldim-test: labels=opencl timeout=300 */
/* Gradient accumulation without MPI (dim_train_step_accum): one step over 3
 * micro-batches hands the gradient hook (which runs right before the two
 * optimizers) the mean of the gradients that dim_model_forward_backward gives
 * on each slice of a second model built the same way, for both parameter
 * sets, and the mean of the slices' metrics; then the optimizers step once.
 * A batch that does not split into micro-batches of two or more images is
 * DIM_ERR_ARG, and micro = 1 is a plain step. */
#include <math.h>
#include <string.h>

#include "cldim/dim.h"
#include "testutil.h"

#define N 6
#define MICRO 3

/* Every trainable gradient of both sets, flattened in order. */
static size_t grad_count(dim_model *m)
{
	return dim_params_numel(dim_model_params(m), true) +
	       dim_params_numel(dim_model_prior_params(m), true);
}

static void read_grads(dim_ctx *ctx, dim_model *m, float *dst)
{
	dim_params *sets[2] = {dim_model_params(m), dim_model_prior_params(m)};
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < sets[s]->count; i++) {
			dim_param *p = sets[s]->items[i];
			if (!p->trainable)
				continue;
			CHECK_OK(ctx, dim_tensor_read(ctx, &p->grad, dst));
			dst += dim_tensor_numel(&p->grad);
		}
}

struct capture {
	dim_ctx *ctx;
	float *grads;
	int calls;
};

static dim_status capture_hook(void *user, dim_model *m)
{
	struct capture *c = user;
	read_grads(c->ctx, m, c->grads);
	c->calls++;
	return DIM_OK;
}

static dim_model *make(dim_ctx *ctx)
{
	dim_config cfg = dim_config_default();
	snprintf(cfg.encoder, sizeof cfg.encoder, "dcgan28");
	cfg.in_channels = 1;
	cfg.mi_units = 16;
	cfg.alpha = 0.5f; /* every term: global, local and prior */
	dim_model *m = NULL;
	CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	return m;
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	dim_model *a = make(ctx), *b = make(ctx);
	if (!a || !b)
		return T_RESULT();
	size_t nx = (size_t)N * 28 * 28, ng = grad_count(a);
	float *x = malloc(nx * sizeof *x);
	t_rng rng = {5};
	t_fill(&rng, x, nx, -1, 1);
	dim_buf xb = t_upload(ctx, x, nx);
	dim_tensor xt = {.buf = xb, .ndim = 4, .shape = {N, 1, 28, 28}};

	/* the reference: forward_backward on each slice of b, gradients averaged */
	float *want = calloc(ng, sizeof *want), *g = malloc(ng * sizeof *g);
	double *want_d = malloc(ng * sizeof *want_d);
	dim_step_metrics ref = {0}, mt;
	size_t slice = nx / MICRO * sizeof(float);
	for (int k = 0; k < MICRO; k++) {
		dim_tensor xs = xt;
		xs.shape[0] = N / MICRO;
		xs.buf = dim_buf_view(xb, (size_t)k * slice, slice);
		CHECK_OK(ctx, dim_model_forward_backward(b, &xs, NULL, &mt));
		read_grads(ctx, b, g);
		for (size_t i = 0; i < ng; i++)
			want[i] += g[i];
		ref.local += mt.local / MICRO;
		ref.global += mt.global / MICRO;
		ref.prior_disc += mt.prior_disc / MICRO;
		ref.total += mt.total / MICRO;
	}
	for (size_t i = 0; i < ng; i++)
		want_d[i] = want[i] / MICRO;
	CHECK(dim_model_step(b) == 0);

	/* the accumulated step on a: the hook sees the mean gradients */
	struct capture cap = {ctx, calloc(ng, sizeof(float)), 0};
	dim_model_set_grad_hook(a, capture_hook, &cap);
	CHECK_OK(ctx, dim_train_step_accum(a, &xt, MICRO, &mt));
	CHECK(cap.calls == 1 && dim_model_step(a) == 1);
	t_close("accumulated gradients (both sets)", cap.grads, want_d, ng, 1e-5, 1e-7);
	CHECK_MSG(fabsf(mt.local - ref.local) <= 1e-5f * (1 + fabsf(ref.local)) &&
			  fabsf(mt.global - ref.global) <= 1e-5f * (1 + fabsf(ref.global)) &&
			  fabsf(mt.prior_disc - ref.prior_disc) <= 1e-5f * (1 + fabsf(ref.prior_disc)) &&
			  fabsf(mt.total - ref.total) <= 1e-5f * (1 + fabsf(ref.total)),
		  "metrics: local %g/%g global %g/%g disc %g/%g total %g/%g", mt.local, ref.local,
		  mt.global, ref.global, mt.prior_disc, ref.prior_disc, mt.total, ref.total);

	/* bad splits, and micro = 1 */
	CHECK(dim_train_step_accum(a, &xt, 4, &mt) == DIM_ERR_ARG); /* 6 % 4 */
	CHECK(strstr(dim_ctx_errmsg(ctx), "micro-batches") != NULL);
	CHECK(dim_train_step_accum(a, &xt, 6, &mt) == DIM_ERR_ARG); /* slices of 1 */
	CHECK(dim_train_step_accum(a, &xt, 0, &mt) == DIM_ERR_ARG);
	CHECK(cap.calls == 1 && dim_model_step(a) == 1);
	CHECK_OK(ctx, dim_train_step_accum(a, &xt, 1, &mt));
	CHECK(cap.calls == 2 && dim_model_step(a) == 2 && isfinite(mt.total));

	free(cap.grads);
	free(want);
	free(want_d);
	free(g);
	free(x);
	dim_buf_release(&xb);
	dim_model_destroy(a);
	dim_model_destroy(b);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
