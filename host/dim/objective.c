/* The Deep InfoMax objective: model construction and the loss terms, forward
 * and backward on the tape (see include/cldim/dim.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/op_activation.h"
#include "cldim/op_linear.h"
#include "cldim/op_permute.h"
#include "cldim/op_tensor.h"
#include "dim_internal.h"

#define DIM_LN2 0.69314718055994530942

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
			      "negative per positive: use --estimator jsd or nce with it (DV needs "
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
		st = dim_model_optim_init(m);
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
	dim_model_optim_free(m);
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

/* mean(softplus(sign * v)) as a scalar var. */
static dim_var *mean_softplus(dim_tape *t, dim_var *v, float sign)
{
	dim_var *h = sign < 0 ? dim_t_scale(t, v, -1.0f) : v;
	h = h ? dim_t_softplus(t, h) : NULL;
	return h ? dim_t_mean(t, h) : NULL;
}

/* Local scores S[n, m, l] = <E_y(Y_n), E_m(M_m at l)> for encode-and-dot. */
static dim_var *local_scores(dim_tape *t, const dim_model *m, dim_var *M, dim_var *Y)
{
	int N = M->val.shape[0], L = M->val.shape[2] * M->val.shape[3];
	dim_var *rows = dim_t_permute_to_rows(t, M);                 /* [N*L, C] */
	dim_var *lm = rows ? dim_mi1x1_forward(t, &m->local_m, rows) : NULL; /* [N*L, D] */
	dim_var *gy = lm ? dim_mi1x1_forward(t, &m->local_y, Y) : NULL;      /* [N, D] */
	dim_var *s = gy ? dim_t_linear(t, gy, lm, NULL) : NULL;          /* [N, N*L] */
	dim_profile_set_phase(m->ctx, m->ph_est); /* the score GEMM feeds the estimator */
	return s ? dim_t_reshape(t, s, 3, (int[]){N, N, L}) : NULL;
}

/* Concat-and-convolve: the local loss from positive and negative scores with
 * one negative per positive. JSD: mean sp(-pos) + mean sp(neg) (the constant
 * -2 log 2 of the f-divergence form is added on the host); NCE with a single
 * negative: mean softplus(neg - pos). */
static dim_var *concat_local_loss(dim_tape *t, dim_model *m, dim_var *M, dim_var *Y)
{
	dim_var *rows = dim_t_permute_to_rows(t, M), *pos = NULL, *neg = NULL;
	if (!rows || dim_model_negative_pairs(m, M->val.shape[0], M->val.shape[2] * M->val.shape[3]))
		return NULL;
	if (dim_concat_critic_forward(t, &m->concat, rows, Y, m->neg_dev, &pos, &neg))
		return NULL;
	if (m->cfg.estimator == DIM_MI_NCE) {
		dim_var *mp = dim_t_scale(t, pos, -1.0f);
		dim_var *d = mp ? dim_t_add(t, neg, mp) : NULL;
		return d ? mean_softplus(t, d, 1.0f) : NULL;
	}
	dim_var *a = mean_softplus(t, pos, -1.0f);
	dim_var *b = a ? mean_softplus(t, neg, 1.0f) : NULL;
	return b ? dim_t_add(t, a, b) : NULL;
}

/* Read the scalar vars into out (one blocking read). */
static dim_status read_metrics(dim_model *m, dim_var *const *v, float *out, int n)
{
	for (int i = 0; i < n; i++) {
		if (!v[i]) {
			out[i] = NAN;
			continue;
		}
		dim_status st = dim_copy(m->ctx, dim_buf_view(m->metrics, (size_t)i * 4, 4),
					 v[i]->val.buf, 4);
		if (st)
			return st;
	}
	float tmp[8];
	dim_status st = dim_read(m->ctx, m->metrics, 0, tmp, (size_t)n * 4);
	for (int i = 0; i < n && !st; i++)
		if (v[i])
			out[i] = tmp[i];
	return st;
}

static float mi_estimate(dim_mi_kind k, float loss, int N, int L)
{
	if (k == DIM_MI_NCE)
		return logf(1.0f + (float)(N - 1) * (float)L) - loss;
	return -loss;
}

static dim_status finish_metrics(dim_model *m, int N, int L, dim_var *local, dim_var *global,
				 dim_var *pe, dim_var *pd, dim_var *total, dim_step_metrics *out);

dim_status dim_model_forward_backward(dim_model *m, const dim_tensor *x, const float *z,
				      dim_step_metrics *out)
{
	dim_ctx *ctx = m->ctx;
	dim_error *err = dim_ctx_error(ctx);
	const dim_config *c = &m->cfg;
	int N = x->shape[0];
	if (x->ndim != 4 || N < 2)
		return dim_fail(err, DIM_ERR_ARG, "a DIM step needs a batch [N >= 2, C, H, W]");
	dim_status st = dim_params_zero_grad(&m->params);
	if (!st)
		st = dim_params_zero_grad(&m->prior_params);
	if (!st)
		st = dim_model_buffers_save(m);
	if (st)
		return st;

	/* ---- encoder side ---- */
	dim_tape *t = m->tape;
	dim_tape_begin(t, true);
	int prev_phase = dim_profile_set_phase(ctx, m->ph_enc);
	dim_encoder_out eo;
	st = dim_encoder_forward(t, &m->enc, dim_tape_input(t, x), &eo);
	if (st)
		return st;
	dim_var *local = NULL, *global = NULL, *pe = NULL, *total = NULL, *sy = NULL;
	int L = eo.M->val.shape[2] * eo.M->val.shape[3];
	if (c->beta > 0) {
		dim_profile_set_phase(ctx, m->ph_local);
		if (c->local_critic == DIM_CRITIC_CONCAT) {
			local = concat_local_loss(t, m, eo.M, eo.Y);
		} else {
			dim_var *s = local_scores(t, m, eo.M, eo.Y);
			local = s ? dim_t_mi(t, c->estimator, s) : NULL;
		}
		if (!local)
			return err->status ? err->status : DIM_ERR_CL;
		total = dim_t_scale(t, local, c->beta);
	}
	if (m->has_global) {
		dim_profile_set_phase(ctx, m->ph_global);
		dim_var *s = dim_global_critic_forward(t, &m->glob, eo.conv, eo.Y);
		global = s ? dim_t_mi(t, c->estimator, s) : NULL;
		dim_var *g = global ? dim_t_scale(t, global, c->alpha) : NULL;
		total = g && total ? dim_t_add(t, total, g) : g;
		if (!total)
			return err->status ? err->status : DIM_ERR_CL;
	}
	if (c->gamma <= 0) {
		/* no prior term: neither the term nor the discriminator is computed
		 * (their metrics are NaN; dim_model_apply_grads skips the prior's
		 * optimizer) */
		dim_var *pd = NULL;
		if (!total)
			return err->status ? err->status : DIM_ERR_CL;
		st = dim_tape_backward(t, total, 1.0f);
		dim_profile_set_phase(ctx, prev_phase);
		if (st)
			return st;
		return finish_metrics(m, N, L, local, global, pe, pd, total, out);
	}
	dim_profile_set_phase(ctx, m->ph_prior);
	sy = dim_t_sigmoid(t, eo.Y);
	dim_var *d_fake = sy ? dim_mlp_forward(t, &m->prior, sy) : NULL;
	pe = d_fake ? mean_softplus(t, d_fake, -1.0f) : NULL;
	if (pe) {
		dim_var *g = dim_t_scale(t, pe, c->gamma);
		total = g && total ? dim_t_add(t, total, g) : g;
	}
	if (!pe || !total)
		return err->status ? err->status : DIM_ERR_CL;
	st = dim_tape_backward(t, total, 1.0f);
	if (st)
		return st;

	/* ---- discriminator: its own gradients only, on σ(Y) detached ---- */
	st = dim_params_zero_grad(&m->prior_params);
	if (!st)
		st = dim_model_prior_samples(m, N, z);
	if (st)
		return st;
	dim_tape *dt = m->dtape;
	dim_tape_begin(dt, true);
	dim_tensor zt = {.buf = m->z_dev, .ndim = 2, .shape = {N, c->y_dim}};
	dim_var *d_real = dim_mlp_forward(dt, &m->prior, dim_tape_input(dt, &zt));
	dim_var *d_det = d_real ? dim_mlp_forward(dt, &m->prior, dim_tape_input(dt, &sy->val)) : NULL;
	dim_var *lr = d_det ? mean_softplus(dt, d_real, -1.0f) : NULL;
	dim_var *lf = lr ? mean_softplus(dt, d_det, 1.0f) : NULL;
	dim_var *pd = lf ? dim_t_add(dt, lr, lf) : NULL;
	if (!pd)
		return err->status ? err->status : DIM_ERR_CL;
	st = dim_tape_backward(dt, pd, 1.0f);
	dim_profile_set_phase(ctx, prev_phase);
	if (st)
		return st;
	return finish_metrics(m, N, L, local, global, pe, pd, total, out);
}

/* Read the step's terms into out; a non-finite one is DIM_ERR_NUMERIC (and
 * the BN buffers are restored). */
static dim_status finish_metrics(dim_model *m, int N, int L, dim_var *local, dim_var *global,
				 dim_var *pe, dim_var *pd, dim_var *total, dim_step_metrics *out)
{
	const dim_config *c = &m->cfg;
	dim_error *err = dim_ctx_error(m->ctx);
	dim_status st;
	float v[5];
	st = read_metrics(m, (dim_var *const[]){local, global, pe, pd, total}, v, 5);
	if (st)
		return st;
	if (local && c->local_critic == DIM_CRITIC_CONCAT && c->estimator == DIM_MI_JSD) {
		/* the constant of the f-divergence form, left out of the tape */
		v[0] -= 2.0f * (float)DIM_LN2;
		v[4] -= c->beta * 2.0f * (float)DIM_LN2;
	}
	out->local = v[0];
	out->global = v[1];
	out->prior_enc = v[2];
	out->prior_disc = v[3];
	out->total = v[4];
	out->mi_local = !local ? NAN
			: c->local_critic == DIM_CRITIC_CONCAT
				? (c->estimator == DIM_MI_NCE ? (float)DIM_LN2 - v[0] : -v[0])
				: mi_estimate(c->estimator, v[0], N, L);
	out->mi_global = global ? mi_estimate(c->estimator, v[1], N, 1) : NAN;
	static const char *const names[] = {"local MI", "global MI", "prior (encoder)",
					    "prior (discriminator)", "total"};
	dim_var *const used[] = {local, global, pe, pd, total};
	for (int i = 0; i < 5; i++)
		if (used[i] && !isfinite(v[i])) {
			dim_model_buffers_restore(m);
			return dim_fail(err, DIM_ERR_NUMERIC, "step %lld: the %s loss is %g",
					m->step + 1, names[i], v[i]);
		}
	return DIM_OK;
}

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
