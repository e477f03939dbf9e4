/* The DIM training step: the two optimizers and the prior samples. */
#include <math.h>
#include <stdlib.h>

#include "dim_internal.h"

/* Stream ids of the counter-based generator (params.h) used here. */
#define RNG_STREAM_PRIOR 0x5052494f52ull /* "PRIOR" */
#define RNG_STREAM_NEG 0x4e4547ull        /* "NEG" */

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
	/* z ~ U[0, 1)^d, the prior of the paper (docs/method.md §5), keyed by
	 * (seed, step, index) so a resumed run draws the same samples. */
	for (size_t i = 0; i < n; i++)
		m->z_host[i] = z ? z[i]
				 : (float)dim_rng_uniform(m->cfg.seed,
							  RNG_STREAM_PRIOR + (uint64_t)m->step, i);
	return dim_write(m->ctx, m->z_dev, 0, m->z_host, n * sizeof(float));
}

/* Visit the non-trainable parameters of both sets with their backup slot. */
static dim_status buffers_copy(dim_model *m, int restore)
{
	dim_params *sets[2] = {&m->params, &m->prior_params};
	dim_status st = DIM_OK;
	if (!m->backup)
		st = dim_arena_create(m->ctx, "buffer-backup", (size_t)1 << 20, &m->backup);
	if (st)
		return st;
	dim_arena_reset(m->backup, (dim_arena_mark){0, 0});
	for (int s = 0; s < 2 && !st; s++)
		for (int i = 0; i < sets[s]->count && !st; i++) {
			dim_param *p = sets[s]->items[i];
			if (p->trainable)
				continue;
			dim_buf slot;
			st = dim_arena_alloc(m->backup, p->value.buf.bytes, &slot);
			if (!st)
				st = restore ? dim_copy(m->ctx, p->value.buf, slot, slot.bytes)
					     : dim_copy(m->ctx, slot, p->value.buf, slot.bytes);
		}
	return st;
}

dim_status dim_model_buffers_save(dim_model *m) { return buffers_copy(m, 0); }
dim_status dim_model_buffers_restore(dim_model *m) { return buffers_copy(m, 1); }

dim_status dim_model_negative_pairs(dim_model *m, int N, int L)
{
	int R = N * L;
	if (m->neg_n < R) {
		int *g = realloc(m->neg_host, (size_t)R * sizeof *g);
		if (!g)
			return dim_fail(dim_ctx_error(m->ctx), DIM_ERR_NOMEM, "out of host memory");
		m->neg_host = g;
		dim_buf_release(&m->neg_dev);
		dim_status st = dim_buf_create(m->ctx, (size_t)R * sizeof(int), &m->neg_dev);
		if (st)
			return st;
		m->neg_n = R;
	}
	/* Per location, a random cyclic permutation of the images (Sattolo's
	 * shuffle: no image is its own negative), keyed by (seed, step), done in
	 * place on the rows of that location (stride L). */
	int *neg = m->neg_host;
	for (int l = 0; l < L; l++) {
		for (int n = 0; n < N; n++)
			neg[n * L + l] = n * L + l;
		for (int i = N - 1; i > 0; i--) {
			uint64_t r = dim_rng_u64(m->cfg.seed, RNG_STREAM_NEG + (uint64_t)m->step,
						 (uint64_t)l * (uint64_t)N + (uint64_t)i);
			int j = (int)(r % (uint64_t)i); /* j < i */
			int tmp = neg[i * L + l];
			neg[i * L + l] = neg[j * L + l];
			neg[j * L + l] = tmp;
		}
	}
	m->neg_last = R;
	return dim_write(m->ctx, m->neg_dev, 0, m->neg_host, (size_t)R * sizeof(int));
}

int dim_model_negatives(const dim_model *m, int *neg, int n)
{
	int k = m->neg_last < n ? m->neg_last : n;
	for (int i = 0; i < k; i++)
		neg[i] = m->neg_host[i];
	return m->neg_last;
}

void dim_model_set_grad_hook(dim_model *m, dim_grad_hook fn, void *user)
{
	m->grad_hook = fn;
	m->grad_hook_user = user;
}

dim_status dim_model_apply_grads(dim_model *m)
{
	dim_status st = m->grad_hook ? m->grad_hook(m->grad_hook_user, m) : DIM_OK;
	if (st)
		return st;
	int prev = dim_profile_set_phase(m->ctx, m->ph_opt);
	st = dim_optim_step(m->opt);
	if (!st && m->cfg.gamma > 0) /* gamma 0: the discriminator is not trained */
		st = dim_optim_step(m->prior_opt);
	dim_profile_set_phase(m->ctx, prev);
	if (!st)
		m->step++;
	return st;
}

dim_status dim_train_step(dim_model *m, const dim_tensor *x, dim_step_metrics *out)
{
	dim_status st = dim_model_forward_backward(m, x, NULL, out);
	if (st)
		return st; /* includes a non-finite loss: no update was applied */
	return dim_model_apply_grads(m);
}
