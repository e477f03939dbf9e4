/* The state of a DIM model (see include/cldim/dim.h): configuration and
 * presets, construction (encoder, critics, prior discriminator, tapes,
 * optimizers), the per-step random draws (prior samples, concat-critic
 * negatives), the backup of the batch-norm buffers, the accumulation buffers,
 * and the accessors. Nothing here runs a forward pass or an optimizer: the
 * objective (objective.c) and the step (step.c) use this state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dim_internal.h"

/* Stream ids of the counter-based generator (cldim/base.h) used here. */
#define RNG_STREAM_PRIOR 0x5052494f52ull /* "PRIOR" */
#define RNG_STREAM_NEG 0x4e4547ull        /* "NEG" */

dim_config dim_config_default(void)
{
	dim_config c;
	memset(&c, 0, sizeof c);
	snprintf(c.encoder, sizeof c.encoder, "dcgan32");
	c.in_channels = 3;
	c.y_dim = 64;
	c.mi_units = 2048;
	c.global_hidden = 512;
	c.local_critic = DIM_CRITIC_DOT;
	c.concat_hidden = 512;
	c.estimator = DIM_MI_JSD;
	c.alpha = 0.0f;
	c.beta = 1.0f;
	c.gamma = 0.1f;
	c.lr = 1e-4f;
	c.beta1 = 0.5f;
	c.beta2 = 0.999f;
	c.adam_eps = 1e-8f;
	c.seed = 1;
	return c;
}

dim_status dim_config_preset(dim_config *c, const char *name, dim_error *err)
{
	static const struct {
		const char *name;
		float a, b, g;
	} presets[] = {
		{"local", 0.0f, 1.0f, 0.1f},        /* DIM(L), Tables 1-2 */
		{"global", 1.0f, 0.0f, 1.0f},       /* DIM(G) */
		{"local+global", 0.5f, 0.1f, 0.1f}, /* DIM(L+G); γ not stated, 0.1 */
		{"local-noprior", 0.0f, 1.0f, 0.0f},/* the HEAD README's headline run */
	};
	for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
		if (!strcmp(name, presets[i].name)) {
			c->alpha = presets[i].a;
			c->beta = presets[i].b;
			c->gamma = presets[i].g;
			return DIM_OK;
		}
	return dim_fail(err, DIM_ERR_ARG,
			"unknown preset '%s' (local, global, local+global, local-noprior)", name);
}

static dim_status optim_init(dim_model *m)
{
	dim_adam_desc d = {m->cfg.lr, m->cfg.beta1, m->cfg.beta2, m->cfg.adam_eps, 0.0f};
	dim_status st = dim_adam_create(&m->params, &d, &m->opt);
	if (!st)
		st = dim_adam_create(&m->prior_params, &d, &m->prior_opt);
	return st;
}

static void optim_free(dim_model *m)
{
	dim_optim_destroy(m->opt);
	dim_optim_destroy(m->prior_opt);
	m->opt = m->prior_opt = NULL;
}

dim_status dim_model_create(dim_ctx *ctx, const dim_config *cfg, dim_model **out)
{
	dim_error *err = dim_ctx_error(ctx);
	dim_model *m = calloc(1, sizeof *m);
	if (!m)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	m->ctx = ctx;
	m->cfg = *cfg;
	if (cfg->mi_units < 1 || cfg->y_dim < 1 || !(cfg->alpha >= 0 && cfg->beta >= 0 &&
						     cfg->gamma >= 0)) {
		free(m);
		return dim_fail(err, DIM_ERR_ARG, "bad DIM config (mi_units %d, y_dim %d, weights "
				"%g/%g/%g)", cfg->mi_units, cfg->y_dim, cfg->alpha, cfg->beta,
				cfg->gamma);
	}
	dim_status st = dim_params_init(&m->params, ctx, "encoder");
	if (!st)
		st = dim_params_init(&m->prior_params, ctx, "prior");
	if (!st)
		st = dim_encoder_build(&m->enc, &m->params, cfg->encoder, cfg->in_channels, cfg->y_dim,
				       cfg->seed);
	if (!st && cfg->local_critic == DIM_CRITIC_CONCAT && cfg->estimator == DIM_MI_DV)
		st = dim_fail(err, DIM_ERR_UNSUPPORTED, "the concat-and-convolve critic has one "
			      "negative per positive: use the JSD or NCE estimator with it (DV needs "
			      "the encode-and-dot critic)");
	if (!st && cfg->local_critic == DIM_CRITIC_CONCAT)
		st = dim_concat_critic_build(&m->concat, &m->params, "local_cc", m->enc.m_shape[0],
					     cfg->y_dim, cfg->concat_hidden, cfg->seed);
	if (!st && cfg->local_critic == DIM_CRITIC_DOT)
		st = dim_mi1x1_build(&m->local_m, &m->params, "local_m", m->enc.m_shape[0],
				     cfg->mi_units, cfg->seed);
	if (!st && cfg->local_critic == DIM_CRITIC_DOT)
		st = dim_mi1x1_build(&m->local_y, &m->params, "local_y", cfg->y_dim, cfg->mi_units,
				     cfg->seed);
	if (!st && cfg->alpha > 0) {
		int conv_dim = m->enc.conv_shape[0] * m->enc.conv_shape[1] * m->enc.conv_shape[2];
		st = dim_global_critic_build(&m->glob, &m->params, "global_critic", conv_dim,
					     cfg->y_dim, cfg->global_hidden, cfg->seed);
		m->has_global = !st;
	}
	int ph[2];
	dim_encoder_prior_widths(cfg->encoder, ph);
	if (!st)
		st = dim_mlp_build(&m->prior, &m->prior_params, "prior", 3,
				   (int[]){cfg->y_dim, ph[0], ph[1], 1}, cfg->seed);
	if (!st)
		st = dim_tape_create(ctx, "activations", &m->tape);
	if (!st)
		st = dim_tape_create(ctx, "disc-activations", &m->dtape);
	if (!st)
		st = optim_init(m);
	if (!st)
		st = dim_buf_create(ctx, 8 * sizeof(float), &m->metrics);
	m->ph_enc = dim_profile_phase_id(ctx, "encoder");
	m->ph_local = dim_profile_phase_id(ctx, "local critic");
	m->ph_est = dim_profile_phase_id(ctx, "estimator");
	m->ph_global = dim_profile_phase_id(ctx, "global critic");
	m->ph_prior = dim_profile_phase_id(ctx, "prior");
	m->ph_opt = dim_profile_phase_id(ctx, "optimizer");
	if (st) {
		dim_model_destroy(m);
		return st;
	}
	*out = m;
	return DIM_OK;
}

void dim_model_destroy(dim_model *m)
{
	if (!m)
		return;
	optim_free(m);
	dim_arena_destroy(m->backup);
	dim_model_accum_free(m);
	dim_buf_release(&m->metrics);
	dim_buf_release(&m->z_dev);
	free(m->z_host);
	dim_buf_release(&m->neg_dev);
	free(m->neg_host);
	dim_tape_destroy(m->tape);
	dim_tape_destroy(m->dtape);
	dim_params_free(&m->params);
	dim_params_free(&m->prior_params);
	free(m);
}

const dim_config *dim_model_config(const dim_model *m) { return &m->cfg; }
const dim_encoder *dim_model_encoder(const dim_model *m) { return &m->enc; }
dim_params *dim_model_params(dim_model *m) { return &m->params; }
dim_params *dim_model_prior_params(dim_model *m) { return &m->prior_params; }
long long dim_model_step(const dim_model *m) { return m->step; }
void dim_model_set_step(dim_model *m, long long step) { m->step = step; }

dim_model_memory dim_model_memory_use(const dim_model *m)
{
	dim_model_memory u;
	const dim_params *sets[2] = {&m->params, &m->prior_params};
	memset(&u, 0, sizeof u);
	for (int i = 0; i < 2; i++) {
		u.params += dim_arena_capacity(sets[i]->values);
		u.grads += dim_arena_capacity(sets[i]->grads);
		u.optimizer += 2 * dim_params_numel(sets[i], true) * sizeof(float);
	}
	u.activations = dim_tape_arena_bytes(m->tape) + dim_tape_arena_bytes(m->dtape);
	return u;
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

/* ---------------------------------------------------- accumulation buffers */

void dim_model_accum_free(dim_model *m)
{
	struct dim_grad_accum *a = m->accum;
	if (!a)
		return;
	dim_arena_destroy(a->arena);
	free(a->sum);
	free(a->grad);
	free(a);
	m->accum = NULL;
}

dim_status dim_model_accum_create(dim_model *m)
{
	dim_error *err = dim_ctx_error(m->ctx);
	dim_params *sets[2] = {&m->params, &m->prior_params};
	int total = m->params.count + m->prior_params.count;
	struct dim_grad_accum *a = calloc(1, sizeof *a);
	if (!a)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	m->accum = a;
	a->sum = calloc((size_t)total + 1, sizeof *a->sum);
	a->grad = calloc((size_t)total + 1, sizeof *a->grad);
	if (!a->sum || !a->grad)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	dim_status st = dim_arena_create(m->ctx, "grad-accum", (size_t)16 << 20, &a->arena);
	for (int s = 0; s < 2 && !st; s++)
		for (int i = 0; i < sets[s]->count && !st; i++) {
			dim_param *p = sets[s]->items[i];
			if (!p->trainable)
				continue;
			a->grad[a->n] = &p->grad;
			st = dim_tensor_alloc(a->arena, p->grad.ndim, p->grad.shape, &a->sum[a->n]);
			a->n++;
		}
	return st;
}

