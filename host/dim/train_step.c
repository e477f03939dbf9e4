/* The DIM training step: the two optimizers and the prior samples. */
#include <math.h>
#include <stdlib.h>

#include "dim_internal.h"

/* Stream ids of the counter-based generator (params.h) used here. */
#define RNG_STREAM_PRIOR 0x5052494f52ull /* "PRIOR" */

dim_status dim_model_optim_init(dim_model *m)
{
	dim_adam_desc d = {m->cfg.lr, m->cfg.beta1, m->cfg.beta2, m->cfg.adam_eps, 0.0f};
	dim_status st = dim_adam_create(&m->params, &d, &m->opt);
	if (!st)
		st = dim_adam_create(&m->prior_params, &d, &m->prior_opt);
	return st;
}

void dim_model_optim_free(dim_model *m)
{
	dim_optim_destroy(m->opt);
	dim_optim_destroy(m->prior_opt);
	m->opt = m->prior_opt = NULL;
}

dim_status dim_model_prior_samples(dim_model *m, int N, const float *z)
{
	size_t n = (size_t)N * m->cfg.y_dim;
	if (m->z_n < N) {
		float *g = realloc(m->z_host, n * sizeof *g);
		if (!g)
			return dim_fail(dim_ctx_error(m->ctx), DIM_ERR_NOMEM, "out of host memory");
		m->z_host = g;
		dim_buf_release(&m->z_dev);
		dim_status st = dim_buf_create(m->ctx, n * sizeof(float), &m->z_dev);
		if (st)
			return st;
		m->z_n = N;
	}
	/* z ~ U[0, 1)^d, the prior of the paper (dim-spec §4), keyed by
	 * (seed, step, index) so a resumed run draws the same samples. */
	for (size_t i = 0; i < n; i++)
		m->z_host[i] = z ? z[i]
				 : (float)dim_rng_uniform(m->cfg.seed,
							  RNG_STREAM_PRIOR + (uint64_t)m->step, i);
	return dim_write(m->ctx, m->z_dev, 0, m->z_host, n * sizeof(float));
}

dim_status dim_train_step(dim_model *m, const dim_tensor *x, dim_step_metrics *out)
{
	dim_status st = dim_model_forward_backward(m, x, NULL, out);
	if (st)
		return st; /* includes a non-finite loss: no update was applied */
	st = dim_optim_step(m->opt);
	if (!st)
		st = dim_optim_step(m->prior_opt);
	if (!st)
		m->step++;
	return st;
}
