/* MI critics and MLPs: the encode-and-dot embedding net, the global pair
 * critic and plain MLPs (prior discriminator, probes). */
#include <stdlib.h>
#include <string.h>

#include "cldim/models.h"
#include "cldim/tape_ops.h"

static dim_status add_init(dim_params *ps, const char *prefix, const char *what, int ndim,
			   const int *shape, int fan_in, uint64_t seed, dim_param **out)
{
	char n[96];
	snprintf(n, sizeof n, "%s.%s", prefix, what);
	dim_status st = dim_params_add(ps, n, ndim, shape, true, out);
	if (!st && fan_in > 0)
		st = dim_param_init_fan_in(ps->ctx, *out, fan_in, seed);
	return st;
}

/* Shortcut weight [out, in, 1, 1]: U(-0.01, 0.01) with 1 on the diagonal
 * when out >= in (official "noisy identity"), else PyTorch's default. */
static dim_status init_noisy_identity(dim_ctx *ctx, dim_param *p, int out, int in, uint64_t seed)
{
	if (out < in)
		return dim_param_init_fan_in(ctx, p, in, seed);
	dim_status st = dim_param_init_uniform(ctx, p, -0.01f, 0.01f, seed);
	if (st)
		return st;
	float *w = malloc((size_t)out * in * sizeof *w);
	if (!w)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
	st = dim_param_get(ctx, p, w);
	for (int i = 0; i < in && !st; i++)
		w[(size_t)i * in + i] = 1.0f;
	if (!st)
		st = dim_param_set(ctx, p, w);
	free(w);
	return st;
}

dim_status dim_mi1x1_build(dim_mi1x1 *m, dim_params *ps, const char *prefix, int in, int out,
			   uint64_t seed)
{
	char n[96];
	dim_status st;
	memset(m, 0, sizeof *m);
	m->in = in;
	m->out = out;
	if ((st = add_init(ps, prefix, "c0.weight", 4, (int[]){out, in, 1, 1}, in, seed, &m->c0)) ||
	    (st = add_init(ps, prefix, "bn.weight", 1, &out, 0, seed, &m->bn_w)) ||
	    (st = add_init(ps, prefix, "bn.bias", 1, &out, 0, seed, &m->bn_b)) ||
	    (st = add_init(ps, prefix, "c1.weight", 4, (int[]){out, out, 1, 1}, out, seed, &m->c1_w)) ||
	    (st = add_init(ps, prefix, "c1.bias", 1, &out, out, seed, &m->c1_b)) ||
	    (st = add_init(ps, prefix, "shortcut.weight", 4, (int[]){out, in, 1, 1}, 0, seed, &m->sc)) ||
	    (st = add_init(ps, prefix, "ln.weight", 1, &out, 0, seed, &m->ln_w)) ||
	    (st = add_init(ps, prefix, "ln.bias", 1, &out, 0, seed, &m->ln_b)))
		return st;
	snprintf(n, sizeof n, "%s.bn.running_mean", prefix);
	if ((st = dim_params_add(ps, n, 1, &out, false, &m->bn_mean)))
		return st;
	snprintf(n, sizeof n, "%s.bn.running_var", prefix);
	if ((st = dim_params_add(ps, n, 1, &out, false, &m->bn_var)) ||
	    (st = dim_param_init_const(ps->ctx, m->bn_var, 1.0f)) ||
	    (st = dim_param_init_const(ps->ctx, m->bn_w, 1.0f)) ||
	    (st = dim_param_init_const(ps->ctx, m->ln_w, 1.0f)))
		return st;
	return init_noisy_identity(ps->ctx, m->sc, out, in, seed);
}

/* A [D, C, 1, 1] weight used as a linear layer's [D, C]. */
static dim_status as_linear(dim_tape *t, dim_param *p, dim_var **out)
{
	dim_var *v;
	dim_status st = dim_tape_param(t, p, &v);
	return st ? st : dim_tape_view(t, v, 2, p->value.shape, out);
}

dim_status dim_mi1x1_forward(dim_tape *t, const dim_mi1x1 *m, dim_var *rows, dim_var **out)
{
	dim_var *c0, *bn_w, *bn_b, *c1_w, *c1_b, *sc, *ln_w, *ln_b, *h;
	dim_status st;
	*out = NULL;
	if ((st = as_linear(t, m->c0, &c0)) || (st = dim_tape_param(t, m->bn_w, &bn_w)) ||
	    (st = dim_tape_param(t, m->bn_b, &bn_b)) || (st = as_linear(t, m->c1_w, &c1_w)) ||
	    (st = dim_tape_param(t, m->c1_b, &c1_b)) || (st = as_linear(t, m->sc, &sc)) ||
	    (st = dim_tape_param(t, m->ln_w, &ln_w)) || (st = dim_tape_param(t, m->ln_b, &ln_b)))
		return st;
	if ((st = dim_t_linear(t, rows, c0, NULL, &h)) ||
	    (st = dim_t_batchnorm(t, &DIM_BATCHNORM_DEFAULTS, h, bn_w, bn_b, m->bn_mean, m->bn_var,
				  &h)) ||
	    (st = dim_t_relu(t, h, &h)) ||
	    /* c1(h) + b + sc(rows) as one node: no add pass, no gradient copies */
	    (st = dim_t_linear_sum(t, h, c1_w, c1_b, rows, sc, &h)))
		return st;
	return dim_t_layernorm(t, h, ln_w, ln_b, 1e-5f, out);
}

dim_status dim_global_critic_build(dim_global_critic *g, dim_params *ps, const char *prefix,
				   int conv_dim, int y_dim, int hidden, uint64_t seed)
{
	memset(g, 0, sizeof *g);
	g->conv_dim = conv_dim;
	g->y_dim = y_dim;
	g->hidden = hidden;
	int in = conv_dim + y_dim, one = 1;
	dim_status st;
	if ((st = add_init(ps, prefix, "l0.weight", 2, (int[]){hidden, in}, in, seed, &g->l0_w)) ||
	    (st = add_init(ps, prefix, "l0.bias", 1, &hidden, in, seed, &g->l0_b)) ||
	    (st = add_init(ps, prefix, "l1.weight", 2, (int[]){hidden, hidden}, hidden, seed, &g->l1_w)) ||
	    (st = add_init(ps, prefix, "l1.bias", 1, &hidden, hidden, seed, &g->l1_b)) ||
	    (st = add_init(ps, prefix, "l2.weight", 2, (int[]){1, hidden}, hidden, seed, &g->l2_w)) ||
	    (st = add_init(ps, prefix, "l2.bias", 1, &one, hidden, seed, &g->l2_b)))
		return st;
	return DIM_OK;
}

dim_status dim_global_critic_forward(dim_tape *t, const dim_global_critic *g, dim_var *conv,
				     dim_var *y, dim_var **out)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	*out = NULL;
	if (!conv || !y)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "global critic: no input");
	int N = y->val.shape[0];
	dim_var *c = conv;
	dim_status st = conv->val.ndim == 2 ? DIM_OK : dim_t_flatten(t, conv, &c);
	if (st)
		return st;
	if (c->val.shape[1] != g->conv_dim || y->val.shape[1] != g->y_dim)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "global critic: conv %d / y %d "
				"features, built for %d / %d", c->val.shape[1], y->val.shape[1],
				g->conv_dim, g->y_dim);
	/* l0 = [W_conv | W_y]: a = conv·W_convᵀ (pairs index m), b = y·W_yᵀ (index n);
	 * the two column blocks of l0.weight are sliced out each step. */
	dim_var *w, *wc, *wy, *a, *b, *l0_b, *l1_w, *l1_b, *l2_w, *l2_b, *h;
	if ((st = dim_tape_param(t, g->l0_w, &w)) || (st = dim_tape_param(t, g->l0_b, &l0_b)) ||
	    (st = dim_tape_param(t, g->l1_w, &l1_w)) || (st = dim_tape_param(t, g->l1_b, &l1_b)) ||
	    (st = dim_tape_param(t, g->l2_w, &l2_w)) || (st = dim_tape_param(t, g->l2_b, &l2_b)))
		return st;
	if ((st = dim_t_slice_cols(t, w, 0, g->conv_dim, &wc)) ||
	    (st = dim_t_slice_cols(t, w, g->conv_dim, g->y_dim, &wy)) ||
	    (st = dim_t_linear(t, c, wc, NULL, &a)) || (st = dim_t_linear(t, y, wy, NULL, &b)) ||
	    (st = dim_t_pairwise(t, a, b, l0_b, &h)) || (st = dim_t_relu(t, h, &h)) ||
	    (st = dim_t_linear(t, h, l1_w, l1_b, &h)) || (st = dim_t_relu(t, h, &h)) ||
	    (st = dim_t_linear(t, h, l2_w, l2_b, &h)))
		return st;
	return dim_t_reshape(t, h, 3, (int[]){N, N, 1}, out);
}

dim_status dim_mlp_build(dim_mlp *m, dim_params *ps, const char *prefix, int nlayers,
			 const int *dims, uint64_t seed)
{
	if (nlayers < 1 || nlayers > DIM_MLP_MAX)
		return dim_fail(dim_ctx_error(ps->ctx), DIM_ERR_ARG, "mlp %s: %d layers", prefix,
				nlayers);
	memset(m, 0, sizeof *m);
	m->nlayers = nlayers;
	memcpy(m->dims, dims, (size_t)(nlayers + 1) * sizeof *dims);
	for (int i = 0; i < nlayers; i++) {
		char wn[32], bn[32];
		snprintf(wn, sizeof wn, "l%d.weight", i);
		snprintf(bn, sizeof bn, "l%d.bias", i);
		dim_status st;
		if ((st = add_init(ps, prefix, wn, 2, (int[]){dims[i + 1], dims[i]}, dims[i], seed,
				   &m->w[i])) ||
		    (st = add_init(ps, prefix, bn, 1, &dims[i + 1], dims[i], seed, &m->b[i])))
			return st;
	}
	return DIM_OK;
}

dim_status dim_mlp_forward(dim_tape *t, const dim_mlp *m, dim_var *x, dim_var **out)
{
	dim_var *h = x, *w, *b;
	dim_status st = DIM_OK;
	*out = NULL;
	for (int i = 0; i < m->nlayers && !st; i++) {
		if ((st = dim_tape_param(t, m->w[i], &w)) || (st = dim_tape_param(t, m->b[i], &b)) ||
		    (st = dim_t_linear(t, h, w, b, &h)))
			break;
		if (i + 1 < m->nlayers)
			st = dim_t_relu(t, h, &h);
	}
	if (!st)
		*out = h;
	return st;
}

dim_status dim_concat_critic_build(dim_concat_critic *c, dim_params *ps, const char *prefix,
				   int m_channels, int y_dim, int hidden, uint64_t seed)
{
	memset(c, 0, sizeof *c);
	c->m_channels = m_channels;
	c->y_dim = y_dim;
	c->hidden = hidden;
	int in = m_channels + y_dim;
	dim_status st;
	if ((st = add_init(ps, prefix, "l0.weight", 4, (int[]){hidden, in, 1, 1}, in, seed, &c->l0)) ||
	    (st = add_init(ps, prefix, "l1.weight", 4, (int[]){hidden, hidden, 1, 1}, hidden, seed,
			   &c->l1)) ||
	    (st = add_init(ps, prefix, "l2.weight", 4, (int[]){1, hidden, 1, 1}, hidden, seed, &c->l2)))
		return st;
	return DIM_OK;
}

/* [1, R, H] views of two row sets, concatenated along the rows. */
static dim_status cat_rows(dim_tape *t, dim_var *a, dim_var *b, dim_var **out)
{
	int R = a->val.shape[0], H = a->val.shape[1];
	dim_var *va, *vb, *c;
	dim_status st;
	if ((st = dim_tape_view(t, a, 3, (int[]){1, R, H}, &va)) ||
	    (st = dim_tape_view(t, b, 3, (int[]){1, R, H}, &vb)) ||
	    (st = dim_t_concat_channels(t, va, vb, &c)))
		return st;
	return dim_tape_view(t, c, 2, (int[]){2 * R, H}, out);
}

dim_status dim_concat_critic_forward(dim_tape *t, const dim_concat_critic *c, dim_var *rows,
				     dim_var *y, dim_buf neg_idx, dim_var **pos, dim_var **neg)
{
	dim_error *err = dim_ctx_error(dim_tape_ctx(t));
	*pos = *neg = NULL;
	if (!rows || !y)
		return dim_fail(err, DIM_ERR_ARG, "concat critic: no input");
	int R = rows->val.shape[0], N = y->val.shape[0];
	if (rows->val.shape[1] != c->m_channels || y->val.shape[1] != c->y_dim || R % N)
		return dim_fail(err, DIM_ERR_ARG, "concat critic: rows [%d, %d], y [%d, %d] do not "
				"match the critic (%d, %d)", R, rows->val.shape[1], N, y->val.shape[1],
				c->m_channels, c->y_dim);
	int L = R / N;
	dim_var *w0, *wm, *wy, *a, *b, *bmap, *brow, *aneg, *apair, *bpair, *l1, *l2, *h, *s, *p;
	dim_status st;
	if ((st = as_linear(t, c->l0, &w0)) || (st = as_linear(t, c->l1, &l1)) ||
	    (st = as_linear(t, c->l2, &l2)))
		return st;
	if ((st = dim_t_slice_cols(t, w0, 0, c->m_channels, &wm)) ||
	    (st = dim_t_slice_cols(t, w0, c->m_channels, c->y_dim, &wy)) ||
	    (st = dim_t_linear(t, rows, wm, NULL, &a)) ||      /* [R, H] */
	    (st = dim_t_linear(t, y, wy, NULL, &b)) ||         /* [N, H] */
	    (st = dim_t_broadcast_spatial(t, b, L, 1, &bmap)) || /* [N, H, L, 1] */
	    (st = dim_t_permute_to_rows(t, bmap, &brow)) ||   /* [R, H] */
	    (st = dim_t_gather_rows(t, a, neg_idx, &aneg)) ||
	    (st = cat_rows(t, a, aneg, &apair)) ||             /* [2R, H] */
	    (st = cat_rows(t, brow, brow, &bpair)) ||
	    (st = dim_t_add(t, apair, bpair, &h)) || (st = dim_t_relu(t, h, &h)) ||
	    (st = dim_t_linear(t, h, l1, NULL, &h)) || (st = dim_t_relu(t, h, &h)) ||
	    (st = dim_t_linear(t, h, l2, NULL, &h)) ||         /* [2R, 1] */
	    (st = dim_tape_view(t, h, 2, (int[]){1, 2 * R}, &s)) ||
	    (st = dim_t_slice_cols(t, s, 0, R, &p)) || (st = dim_t_slice_cols(t, s, R, R, neg)))
		return st;
	*pos = p;
	return DIM_OK;
}
