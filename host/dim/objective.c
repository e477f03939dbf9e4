/* The Deep InfoMax objective (see include/cldim/dim.h): the loss terms,
 * forward and backward on the tape, and the step's metrics. It reads the
 * model's state (model.c) and leaves the optimizer steps to step.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/tape_ops.h"
#include "dim_internal.h"

#define DIM_LN2 0.69314718055994530942

/* mean(softplus(sign * v)) as a scalar var. */
static dim_status mean_softplus(dim_tape *t, dim_var *v, float sign, dim_var **out)
{
	dim_var *h = v;
	dim_status st;
	if ((sign < 0 && (st = dim_t_scale(t, v, -1.0f, &h))) || (st = dim_t_softplus(t, h, &h)))
		return st;
	return dim_t_mean(t, h, out);
}

/* Local scores S[n, m, l] = <E_y(Y_n), E_m(M_m at l)> for encode-and-dot. */
static dim_status local_scores(dim_tape *t, const dim_model *m, dim_var *M, dim_var *Y,
			       dim_var **out)
{
	int N = M->val.shape[0], L = M->val.shape[2] * M->val.shape[3];
	dim_var *rows, *lm, *gy, *s;
	dim_status st;
	if ((st = dim_t_permute_to_rows(t, M, &rows)) ||             /* [N*L, C] */
	    (st = dim_mi1x1_forward(t, &m->local_m, rows, &lm)) ||    /* [N*L, D] */
	    (st = dim_mi1x1_forward(t, &m->local_y, Y, &gy)) ||       /* [N, D] */
	    (st = dim_t_linear(t, gy, lm, NULL, &s)))                 /* [N, N*L] */
		return st;
	dim_profile_set_phase(m->ctx, m->ph_est); /* the score GEMM feeds the estimator */
	return dim_t_reshape(t, s, 3, (int[]){N, N, L}, out);
}

/* Concat-and-convolve: the local loss from positive and negative scores with
 * one negative per positive. JSD: mean sp(-pos) + mean sp(neg) (the constant
 * -2 log 2 of the f-divergence form is added on the host); NCE with a single
 * negative: mean softplus(neg - pos). */
static dim_status concat_local_loss(dim_tape *t, dim_model *m, dim_var *M, dim_var *Y,
				    dim_var **out)
{
	dim_var *rows, *pos, *neg, *a, *b;
	dim_status st;
	if ((st = dim_t_permute_to_rows(t, M, &rows)) ||
	    (st = dim_model_negative_pairs(m, M->val.shape[0],
					   M->val.shape[2] * M->val.shape[3])) ||
	    (st = dim_concat_critic_forward(t, &m->concat, rows, Y, m->neg_dev, &pos, &neg)))
		return st;
	if (m->cfg.estimator == DIM_MI_NCE) {
		if ((st = dim_t_scale(t, pos, -1.0f, &a)) || (st = dim_t_add(t, neg, a, &b)))
			return st;
		return mean_softplus(t, b, 1.0f, out);
	}
	if ((st = mean_softplus(t, pos, -1.0f, &a)) || (st = mean_softplus(t, neg, 1.0f, &b)))
		return st;
	return dim_t_add(t, a, b, out);
}

/* total + w * term (total NULL: w * term) */
static dim_status add_term(dim_tape *t, dim_var **total, dim_var *term, float w)
{
	dim_var *g;
	dim_status st = dim_t_scale(t, term, w, &g);
	if (st)
		return st;
	if (!*total) {
		*total = g;
		return DIM_OK;
	}
	return dim_t_add(t, *total, g, total);
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
	dim_var *xv, *s;
	if ((st = dim_tape_input(t, x, &xv)) || (st = dim_encoder_forward(t, &m->enc, xv, &eo)))
		return st;
	dim_var *local = NULL, *global = NULL, *pe = NULL, *pd = NULL, *total = NULL, *sy;
	int L = eo.M->val.shape[2] * eo.M->val.shape[3];
	if (c->beta > 0) {
		dim_profile_set_phase(ctx, m->ph_local);
		if (c->local_critic == DIM_CRITIC_CONCAT)
			st = concat_local_loss(t, m, eo.M, eo.Y, &local);
		else if (!(st = local_scores(t, m, eo.M, eo.Y, &s)))
			st = dim_t_mi(t, c->estimator, s, &local);
		if (st || (st = add_term(t, &total, local, c->beta)))
			return st;
	}
	if (m->has_global) {
		dim_profile_set_phase(ctx, m->ph_global);
		if ((st = dim_global_critic_forward(t, &m->glob, eo.conv, eo.Y, &s)) ||
		    (st = dim_t_mi(t, c->estimator, s, &global)) ||
		    (st = add_term(t, &total, global, c->alpha)))
			return st;
	}
	if (c->gamma <= 0) {
		/* no prior term: neither the term nor the discriminator is computed
		 * (their metrics are NaN; dim_model_apply_grads skips the prior's
		 * optimizer) */
		if (!total)
			return dim_fail(err, DIM_ERR_ARG, "a DIM step with alpha, beta and gamma "
					"all 0 has no loss");
		st = dim_tape_backward(t, total, 1.0f);
		dim_profile_set_phase(ctx, prev_phase);
		if (st)
			return st;
		return finish_metrics(m, N, L, local, global, pe, pd, total, out);
	}
	dim_profile_set_phase(ctx, m->ph_prior);
	dim_var *d_fake;
	if ((st = dim_t_sigmoid(t, eo.Y, &sy)) ||
	    (st = dim_mlp_forward(t, &m->prior, sy, &d_fake)) ||
	    (st = mean_softplus(t, d_fake, -1.0f, &pe)) ||
	    (st = add_term(t, &total, pe, c->gamma)) ||
	    (st = dim_tape_backward(t, total, 1.0f)))
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
	dim_var *zv, *yv, *d_real, *d_det, *lr, *lf;
	if ((st = dim_tape_input(dt, &zt, &zv)) || (st = dim_tape_input(dt, &sy->val, &yv)) ||
	    (st = dim_mlp_forward(dt, &m->prior, zv, &d_real)) ||
	    (st = dim_mlp_forward(dt, &m->prior, yv, &d_det)) ||
	    (st = mean_softplus(dt, d_real, -1.0f, &lr)) ||
	    (st = mean_softplus(dt, d_det, 1.0f, &lf)) || (st = dim_t_add(dt, lr, lf, &pd)))
		return st;
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
