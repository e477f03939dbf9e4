/* Classifier probes on frozen features (include/cldim/probe.h): trained on
 * the device with the tape, one host-gathered batch at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/data.h"
#include "cldim/op_optim.h"
#include "cldim/probe.h"
#include "cldim/tape_ops.h"

dim_probe_opts dim_probe_linear_defaults(void)
{
	return (dim_probe_opts){.hidden = 0, .dropout = 0, .epochs = 10, .batch = 64, .lr = 5e-3,
				.beta1 = 0.9, .beta2 = 0.999, .standardize = 1, .seed = 1};
}

dim_probe_opts dim_probe_mlp_defaults(void)
{
	return (dim_probe_opts){.hidden = 200, .dropout = 0.1f, .epochs = 100, .batch = 64,
				.lr = 1e-3, .beta1 = 0.5, .beta2 = 0.999,
				.milestones = {50, 100}, .standardize = 0, .holdout = 0.1,
				.patience = 20, .seed = 1};
}

/* The probe's parameters. l1 is NULL for the linear probe. */
struct probe_net {
	dim_params ps;
	dim_param *w0, *b0, *bn_w, *bn_b, *bn_mean, *bn_var, *w1, *b1;
	int hidden;
	float dropout;
	uint64_t seed;
};

static dim_status add_param(struct probe_net *p, const char *name, int ndim, const int *shape,
			    bool trainable, int fan_in, float value, dim_param **out)
{
	dim_status st = dim_params_add(&p->ps, name, ndim, shape, trainable, out);
	if (st)
		return st;
	if (fan_in)
		return dim_param_init_fan_in(p->ps.ctx, *out, fan_in, p->seed);
	return dim_param_init_const(p->ps.ctx, *out, value);
}

static dim_status net_build(struct probe_net *p, dim_ctx *ctx, const dim_probe_opts *o, int d,
			    int classes)
{
	int h = o->hidden;
	int out0 = h > 0 ? h : classes;
	p->hidden = h;
	p->dropout = o->dropout;
	p->seed = o->seed;
	dim_status st = dim_params_init(&p->ps, ctx, "probe");
	if (st)
		return st;
	if ((st = add_param(p, "l0.weight", 2, (int[]){out0, d}, true, d, 0, &p->w0)) ||
	    (st = add_param(p, "l0.bias", 1, &out0, true, d, 0, &p->b0)))
		return st;
	if (h <= 0)
		return DIM_OK;
	if ((st = add_param(p, "bn.weight", 1, &h, true, 0, 1, &p->bn_w)) ||
	    (st = add_param(p, "bn.bias", 1, &h, true, 0, 0, &p->bn_b)) ||
	    (st = add_param(p, "bn.running_mean", 1, &h, false, 0, 0, &p->bn_mean)) ||
	    (st = add_param(p, "bn.running_var", 1, &h, false, 0, 1, &p->bn_var)) ||
	    (st = add_param(p, "l1.weight", 2, (int[]){classes, h}, true, h, 0, &p->w1)) ||
	    (st = add_param(p, "l1.bias", 1, &classes, true, h, 0, &p->b1)))
		return st;
	return DIM_OK;
}

/* logits [n, classes] for x [n, d]; `step` keys the dropout mask. */
static dim_status net_forward(dim_tape *t, struct probe_net *p, const dim_tensor *x,
			      uint64_t step, dim_var **out)
{
	dim_var *xv, *w, *b, *h;
	dim_status st;
	if ((st = dim_tape_input(t, x, &xv)) || (st = dim_tape_param(t, p->w0, &w)) ||
	    (st = dim_tape_param(t, p->b0, &b)) || (st = dim_t_linear(t, xv, w, b, &h)))
		return st;
	if (p->hidden <= 0) {
		*out = h;
		return DIM_OK;
	}
	dim_dropout_desc dd = {.p = p->dropout, .seed = p->seed ^ 0x9e3779b97f4a7c15ull,
			       .step = step, .training = true};
	if (p->dropout > 0 && (st = dim_t_dropout(t, &dd, h, &h)))
		return st;
	dim_batchnorm_desc bd = DIM_BATCHNORM_DEFAULTS;
	if ((st = dim_tape_param(t, p->bn_w, &w)) || (st = dim_tape_param(t, p->bn_b, &b)) ||
	    (st = dim_t_batchnorm(t, &bd, h, w, b, p->bn_mean, p->bn_var, &h)) ||
	    (st = dim_t_relu(t, h, &h)) || (st = dim_tape_param(t, p->w1, &w)) ||
	    (st = dim_tape_param(t, p->b1, &b)))
		return st;
	return dim_t_linear(t, h, w, b, out);
}

/* Per-feature mean and 1/std over the train rows (std floored at 1e-6). */
static dim_status feature_stats(const float *x, size_t n, int d, float **mean, float **rstd)
{
	double *s = calloc((size_t)d, sizeof *s), *s2 = calloc((size_t)d, sizeof *s2);
	*mean = malloc((size_t)d * sizeof **mean);
	*rstd = malloc((size_t)d * sizeof **rstd);
	if (!s || !s2 || !*mean || !*rstd) {
		free(s);
		free(s2);
		return DIM_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < d; j++) {
			double v = x[i * d + j];
			s[j] += v;
			s2[j] += v * v;
		}
	for (int j = 0; j < d; j++) {
		double m = s[j] / (double)n, var = s2[j] / (double)n - m * m;
		(*mean)[j] = (float)m;
		(*rstd)[j] = (float)(1.0 / sqrt(var > 1e-12 ? var : 1e-12));
	}
	free(s);
	free(s2);
	return DIM_OK;
}

/* Gather rows (idx, or consecutive from first when idx is NULL) into dst,
 * standardised when mean is set. */
static void gather(float *dst, const float *x, int d, const size_t *idx, size_t first, int n,
		   const float *mean, const float *rstd)
{
	for (int r = 0; r < n; r++) {
		const float *src = x + (idx ? idx[r] : first + (size_t)r) * (size_t)d;
		float *o = dst + (size_t)r * d;
		if (!mean) {
			memcpy(o, src, (size_t)d * sizeof *o);
			continue;
		}
		for (int j = 0; j < d; j++)
			o[j] = (src[j] - mean[j]) * rstd[j];
	}
}

struct probe_run {
	dim_ctx *ctx;
	dim_tape *tape;
	struct probe_net net;
	dim_optim *opt;
	dim_buf xbuf, ybuf;
	float *xh, *logits, *mean, *rstd;
	float **best;      /* host copy of every parameter at the best held-out epoch */
	int32_t *yh;
	size_t *perm, *rows; /* rows[0..nfit): trained on; rows[nfit..ntr): held out */
	size_t nfit;
	int d, classes, cap;
};

/* Accuracy of the probe (evaluation mode) on rows idx[0..n) of x, or on
 * x[0..n) when idx is NULL. */
static dim_status accuracy(struct probe_run *r, const float *x, const int32_t *y,
			   const size_t *idx, size_t n, double *acc)
{
	size_t correct = 0;
	for (size_t at = 0; at < n; at += (size_t)r->cap) {
		int b = n - at < (size_t)r->cap ? (int)(n - at) : r->cap;
		gather(r->xh, x, r->d, idx ? idx + at : NULL, at, b, r->mean, r->rstd);
		dim_tensor xt = {.buf = dim_buf_view(r->xbuf, 0, (size_t)b * r->d * 4), .ndim = 2,
				 .shape = {b, r->d}};
		dim_status st = dim_tensor_write(r->ctx, &xt, r->xh);
		if (st)
			return st;
		dim_tape_begin(r->tape, false);
		dim_var *lo;
		if ((st = net_forward(r->tape, &r->net, &xt, 0, &lo)) ||
		    (st = dim_tensor_read(r->ctx, &lo->val, r->logits)))
			return st;
		for (int i = 0; i < b; i++) {
			const float *l = r->logits + (size_t)i * r->classes;
			int best = 0;
			for (int c = 1; c < r->classes; c++)
				if (l[c] > l[best])
					best = c;
			correct += best == y[idx ? idx[at + (size_t)i] : at + (size_t)i];
		}
	}
	*acc = n ? (double)correct / (double)n : 0;
	return DIM_OK;
}

/* One pass over the fit rows in a seeded order. */
static dim_status train_epoch(struct probe_run *r, const dim_probe_opts *o, const float *xtr,
			      const int32_t *ytr, int epoch, uint64_t *step, double *mean_loss)
{
	dim_error *err = dim_ctx_error(r->ctx);
	double loss_sum = 0;
	int nloss = 0;
	size_t ntr = r->nfit;
	dim_permutation(r->perm, ntr, o->seed, (uint64_t)epoch);
	for (size_t i = 0; i < ntr; i++)
		r->perm[i] = r->rows[r->perm[i]];
	for (size_t at = 0; at < ntr; at += (size_t)o->batch) {
		int b = ntr - at < (size_t)o->batch ? (int)(ntr - at) : o->batch;
		if (b < 2 && r->net.hidden > 0)
			break; /* batch norm needs two rows */
		gather(r->xh, xtr, r->d, r->perm + at, 0, b, r->mean, r->rstd);
		for (int i = 0; i < b; i++)
			r->yh[i] = ytr[r->perm[at + (size_t)i]];
		dim_tensor xt = {.buf = dim_buf_view(r->xbuf, 0, (size_t)b * r->d * 4), .ndim = 2,
				 .shape = {b, r->d}};
		dim_status st = dim_tensor_write(r->ctx, &xt, r->xh);
		if (!st)
			st = dim_write(r->ctx, r->ybuf, 0, r->yh, (size_t)b * 4);
		if (st)
			return st;
		dim_tape_begin(r->tape, true);
		dim_var *lo, *loss;
		if ((st = net_forward(r->tape, &r->net, &xt, (*step)++, &lo)) ||
		    (st = dim_t_cross_entropy(r->tape, lo, dim_buf_view(r->ybuf, 0, (size_t)b * 4),
					      &loss)) ||
		    (st = dim_params_zero_grad(&r->net.ps)) ||
		    (st = dim_tape_backward(r->tape, loss, 1.0f)) || (st = dim_optim_step(r->opt)))
			return st;
		if (at + (size_t)o->batch >= ntr || (at / (size_t)o->batch) % 16 == 0) {
			float lv;
			if ((st = dim_tensor_read(r->ctx, &loss->val, &lv)))
				return st;
			if (!isfinite(lv))
				return dim_fail(err, DIM_ERR_NUMERIC, "probe: loss is %g at epoch %d",
						lv, epoch + 1);
			loss_sum += lv;
			nloss++;
		}
	}
	*mean_loss = nloss ? loss_sum / nloss : NAN;
	return DIM_OK;
}

/* Copy every parameter (buffers included) to or from r->best. */
static dim_status snapshot(struct probe_run *r, bool restore)
{
	for (int i = 0; i < r->net.ps.count; i++) {
		dim_param *p = r->net.ps.items[i];
		dim_status st = restore ? dim_param_set(r->ctx, p, r->best[i]) :
					  dim_param_get(r->ctx, p, r->best[i]);
		if (st)
			return st;
	}
	return DIM_OK;
}

static dim_status alloc_best(struct probe_run *r)
{
	r->best = calloc((size_t)r->net.ps.count, sizeof *r->best);
	if (!r->best)
		return DIM_ERR_NOMEM;
	for (int i = 0; i < r->net.ps.count; i++) {
		size_t n = dim_tensor_numel(&r->net.ps.items[i]->value);
		if (!(r->best[i] = malloc((n ? n : 1) * sizeof **r->best)))
			return DIM_ERR_NOMEM;
	}
	return DIM_OK;
}

dim_status dim_probe_run(dim_ctx *ctx, const dim_probe_opts *o, int d, int classes,
			 const float *xtr, const int32_t *ytr, size_t ntr, const float *xte,
			 const int32_t *yte, size_t nte, dim_probe_result *out)
{
	dim_error *err = dim_ctx_error(ctx);
	struct probe_run r = {.ctx = ctx, .d = d, .classes = classes};
	dim_status st;
	memset(out, 0, sizeof *out);
	out->heldout_acc = -1;
	if (d < 1 || classes < 2 || ntr < 2 || o->batch < 2 || o->epochs < 0 || o->patience < 0)
		return dim_fail(err, DIM_ERR_ARG, "probe: d %d, classes %d, %zu train rows, batch "
				"%d, epochs %d, patience %d", d, classes, ntr, o->batch, o->epochs,
				o->patience);
	size_t nhold = o->holdout > 0 ? (size_t)(o->holdout * (double)ntr) : 0;
	if (!(o->holdout >= 0 && o->holdout < 1) || (o->holdout > 0 && (nhold < 1 ||
							  ntr - nhold < 2)))
		return dim_fail(err, DIM_ERR_ARG, "probe: held-out fraction %g of %zu train rows "
				"leaves no held-out row or fewer than 2 rows to train on",
				o->holdout, ntr);
	for (size_t i = 0; i < ntr; i++)
		if (ytr[i] < 0 || ytr[i] >= classes)
			return dim_fail(err, DIM_ERR_ARG, "probe: train label %d of row %zu is "
					"outside [0, %d)", ytr[i], i, classes);
	for (size_t i = 0; i < nte; i++)
		if (yte[i] < 0 || yte[i] >= classes)
			return dim_fail(err, DIM_ERR_ARG, "probe: test label %d of row %zu is "
					"outside [0, %d)", yte[i], i, classes);
	r.cap = o->batch > 256 ? o->batch : 256;
	r.nfit = ntr - nhold;
	r.xh = malloc((size_t)r.cap * d * sizeof *r.xh);
	r.logits = malloc((size_t)r.cap * classes * sizeof *r.logits);
	r.yh = malloc((size_t)r.cap * sizeof *r.yh);
	r.perm = malloc(ntr * sizeof *r.perm);
	r.rows = malloc(ntr * sizeof *r.rows);
	if (!r.xh || !r.logits || !r.yh || !r.perm || !r.rows) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		goto out_free;
	}
	/* the held-out rows: the last nhold of a seeded permutation (the split
	 * dim_logreg_run makes for the same seed) */
	if (nhold)
		dim_permutation(r.rows, ntr, o->seed, 0);
	else
		for (size_t i = 0; i < ntr; i++)
			r.rows[i] = i;
	if (o->standardize && feature_stats(xtr, ntr, d, &r.mean, &r.rstd)) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		goto out_free;
	}
	dim_adam_desc ad = {.lr = o->lr, .beta1 = o->beta1, .beta2 = o->beta2, .eps = 1e-8};
	if ((st = net_build(&r.net, ctx, o, d, classes)) ||
	    (st = dim_adam_create(&r.net.ps, &ad, &r.opt)) ||
	    (st = dim_tape_create(ctx, "probe", &r.tape)) ||
	    (st = dim_buf_create(ctx, (size_t)r.cap * d * 4, &r.xbuf)) ||
	    (st = dim_buf_create(ctx, (size_t)r.cap * 4, &r.ybuf)))
		goto out_free;
	if (nhold && alloc_best(&r)) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		goto out_free;
	}

	uint64_t step = 0;
	int since = 0;
	for (int e = 0; e < o->epochs; e++) {
		double lr = o->lr, acc = -1;
		for (int m = 0; m < 2; m++)
			if (o->milestones[m] > 0 && e >= o->milestones[m])
				lr *= 0.1;
		dim_optim_set_lr(r.opt, lr);
		st = train_epoch(&r, o, xtr, ytr, e, &step, &out->final_loss);
		if (st)
			goto out_free;
		out->epochs = e + 1;
		if (nhold) {
			st = accuracy(&r, xtr, ytr, r.rows + r.nfit, nhold, &acc);
			if (!st && acc > out->heldout_acc) {
				out->heldout_acc = acc;
				out->best_epoch = e + 1;
				since = 0;
				st = snapshot(&r, false);
			} else {
				since++;
			}
			if (st)
				goto out_free;
		}
		dim_log(DIM_LOG_DEBUG, "probe: epoch %d lr %g loss %.4f held-out %.2f%%", e + 1, lr,
			out->final_loss, 100 * acc);
		if (nhold && o->patience > 0 && since >= o->patience)
			break;
	}
	if (nhold && out->best_epoch > 0)
		st = snapshot(&r, true);
	else
		out->best_epoch = out->epochs;
	if (!st)
		st = accuracy(&r, xtr, ytr, r.rows, r.nfit, &out->train_acc);
	if (!st)
		st = accuracy(&r, xte, yte, NULL, nte, &out->test_acc);

out_free:
	if (r.best)
		for (int i = 0; i < r.net.ps.count; i++)
			free(r.best[i]);
	free(r.best);
	dim_buf_release(&r.ybuf);
	dim_buf_release(&r.xbuf);
	dim_tape_destroy(r.tape);
	dim_optim_destroy(r.opt);
	if (r.net.ps.ctx)
		dim_params_free(&r.net.ps);
	free(r.mean);
	free(r.rstd);
	free(r.xh);
	free(r.logits);
	free(r.yh);
	free(r.perm);
	free(r.rows);
	return st;
}
