/* The linear probe solved to convergence (include/cldim/probe.h): softmax
 * regression with an L2 penalty, full-batch L-BFGS. The standardised train
 * rows live on the device in blocks of BLOCK_ROWS; one objective evaluation is
 * per block a GEMM for the logits, the softmax residual on the host, and a GEMM
 * accumulating the weight gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/data.h"
#include "cldim/probe.h"

#define BLOCK_ROWS 4096
#define LS_MAX 40 /* backtracking halvings before "precision" */

dim_logreg_opts dim_logreg_defaults(void)
{
	dim_logreg_opts o = {.l2 = -1, .holdout = 0.1, .max_iter = 500, .history = 10,
			     .gtol = 1e-5, .ftol = 1e-10, .standardize = 1, .seed = 1};
	static const double grid[] = {1,    3e-1, 1e-1, 3e-2, 1e-2, 3e-3,
				     1e-3, 3e-4, 1e-4, 3e-5, 1e-5};
	o.ngrid = (int)(sizeof grid / sizeof grid[0]);
	memcpy(o.grid, grid, sizeof grid);
	return o;
}

/* The device side and the problem's shape. Parameters are one vector of
 * np = C*d + C doubles: W row-major [C, d], then b [C]. */
struct lr {
	dim_ctx *ctx;
	int d, c;
	size_t n, nblocks; /* rows on the device */
	dim_buf *xb;       /* [nblocks] standardised rows, BLOCK_ROWS x d each */
	dim_buf wb, lb, rb, gb;
	float *wf, *lf, *rf, *gf;
	const int32_t *y; /* labels of the device rows, in device order */
	double lambda;
	size_t m; /* the objective uses device rows [0, m) */
	int evals;
};

static size_t np_of(const struct lr *p)
{
	return (size_t)p->c * p->d + (size_t)p->c;
}

/* f(x) and its gradient g over rows [0, m). */
static dim_status lr_eval(struct lr *p, const double *x, double *f, double *g)
{
	size_t cd = (size_t)p->c * p->d;
	const double *b = x + cd;
	double loss = 0, *gb = g + cd;
	dim_status st;
	for (size_t i = 0; i < cd; i++)
		p->wf[i] = (float)x[i];
	if ((st = dim_write(p->ctx, p->wb, 0, p->wf, cd * 4)))
		return st;
	memset(gb, 0, (size_t)p->c * sizeof *gb);
	size_t nb = (p->m + BLOCK_ROWS - 1) / BLOCK_ROWS;
	for (size_t k = 0; k < nb; k++) {
		size_t r0 = k * BLOCK_ROWS, rows = p->m - r0 < BLOCK_ROWS ? p->m - r0 : BLOCK_ROWS;
		size_t lbytes = rows * (size_t)p->c * 4;
		if ((st = dim_gemm(p->ctx, DIM_NO_TRANS, DIM_TRANS, rows, (size_t)p->c,
				   (size_t)p->d, 1.0f, p->xb[k], (size_t)p->d, p->wb, (size_t)p->d,
				   0.0f, p->lb, (size_t)p->c)) ||
		    (st = dim_read(p->ctx, p->lb, 0, p->lf, lbytes)))
			return st;
		for (size_t r = 0; r < rows; r++) {
			const float *z = p->lf + r * (size_t)p->c;
			float *res = p->rf + r * (size_t)p->c;
			double zmax = -INFINITY, sum = 0, zd[64] = {0};
			for (int j = 0; j < p->c; j++) {
				zd[j] = (double)z[j] + b[j];
				zmax = zd[j] > zmax ? zd[j] : zmax;
			}
			for (int j = 0; j < p->c; j++)
				sum += exp(zd[j] - zmax);
			int yi = p->y[r0 + r];
			loss += zmax + log(sum) - zd[yi];
			for (int j = 0; j < p->c; j++) {
				double pr = exp(zd[j] - zmax) / sum - (j == yi);
				res[j] = (float)pr;
				gb[j] += pr;
			}
		}
		if ((st = dim_write(p->ctx, p->rb, 0, p->rf, lbytes)) ||
		    (st = dim_gemm(p->ctx, DIM_TRANS, DIM_NO_TRANS, (size_t)p->c, (size_t)p->d, rows,
				   1.0f, p->rb, (size_t)p->c, p->xb[k], (size_t)p->d,
				   k ? 1.0f : 0.0f, p->gb, (size_t)p->d)))
			return st;
	}
	if ((st = dim_read(p->ctx, p->gb, 0, p->gf, cd * 4)))
		return st;
	double inv = 1.0 / (double)p->m, pen = 0;
	for (size_t i = 0; i < cd; i++) {
		g[i] = p->gf[i] * inv + p->lambda * x[i];
		pen += x[i] * x[i];
	}
	for (int j = 0; j < p->c; j++)
		gb[j] *= inv;
	*f = loss * inv + 0.5 * p->lambda * pen;
	p->evals++;
	if (!isfinite(*f))
		return dim_fail(dim_ctx_error(p->ctx), DIM_ERR_NUMERIC,
				"linear probe: objective is %g (non-finite features?)", *f);
	return DIM_OK;
}

static double dot(const double *a, const double *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static double max_abs(const double *a, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fabs(a[i]) > m ? fabs(a[i]) : m;
	return m;
}

struct fit {
	double f, gmax;
	int iters, converged;
	char stop[16];
};

/* Minimise from x (updated in place) over rows [0, m) with penalty lambda. */
static dim_status lbfgs(struct lr *p, const dim_logreg_opts *o, double *x, struct fit *out)
{
	size_t np = np_of(p);
	int h = o->history > 0 ? o->history : 1;
	double *g = malloc(np * sizeof *g), *dir = malloc(np * sizeof *dir);
	double *xn = malloc(np * sizeof *xn), *gn = malloc(np * sizeof *gn);
	double *s = malloc((size_t)h * np * sizeof *s), *yv = malloc((size_t)h * np * sizeof *yv);
	double *rho = malloc((size_t)h * sizeof *rho), *alpha = malloc((size_t)h * sizeof *alpha);
	dim_status st = DIM_OK;
	memset(out, 0, sizeof *out);
	if (!g || !dir || !xn || !gn || !s || !yv || !rho || !alpha) {
		st = dim_fail(dim_ctx_error(p->ctx), DIM_ERR_NOMEM,
			      "linear probe: out of host memory (%zu parameters)", np);
		goto out_free;
	}
	double f;
	if ((st = lr_eval(p, x, &f, g)))
		goto out_free;
	int npairs = 0, head = 0; /* ring buffer of the newest h pairs */
	snprintf(out->stop, sizeof out->stop, "iterations");
	for (int it = 0;; it++) {
		out->gmax = max_abs(g, np);
		out->iters = it;
		if (out->gmax <= o->gtol) {
			snprintf(out->stop, sizeof out->stop, "gradient");
			out->converged = 1;
			break;
		}
		if (it >= o->max_iter)
			break;
		/* two-loop recursion: dir = -H g */
		for (size_t i = 0; i < np; i++)
			dir[i] = -g[i];
		for (int k = 0; k < npairs; k++) {
			int j = (head - 1 - k + h) % h;
			alpha[j] = rho[j] * dot(s + (size_t)j * np, dir, np);
			for (size_t i = 0; i < np; i++)
				dir[i] -= alpha[j] * yv[(size_t)j * np + i];
		}
		double t = 1;
		if (npairs) {
			int j = (head - 1 + h) % h;
			double gamma = 1.0 / (rho[j] * dot(yv + (size_t)j * np, yv + (size_t)j * np, np));
			for (size_t i = 0; i < np; i++)
				dir[i] *= gamma;
		} else {
			t = 1.0 / fmax(1.0, sqrt(dot(g, g, np)));
		}
		for (int k = npairs - 1; k >= 0; k--) {
			int j = (head - 1 - k + h) % h;
			double beta = rho[j] * dot(yv + (size_t)j * np, dir, np);
			for (size_t i = 0; i < np; i++)
				dir[i] += (alpha[j] - beta) * s[(size_t)j * np + i];
		}
		double gd = dot(g, dir, np);
		if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
			npairs = 0;
			for (size_t i = 0; i < np; i++)
				dir[i] = -g[i];
			gd = -dot(g, g, np);
			t = 1.0 / fmax(1.0, sqrt(-gd));
		}
		/* Armijo backtracking */
		double fn = f;
		int ok = 0;
		for (int ls = 0; ls < LS_MAX; ls++, t *= 0.5) {
			for (size_t i = 0; i < np; i++)
				xn[i] = x[i] + t * dir[i];
			if ((st = lr_eval(p, xn, &fn, gn)))
				goto out_free;
			if (fn <= f + 1e-4 * t * gd) {
				ok = 1;
				break;
			}
		}
		if (!ok) {
			snprintf(out->stop, sizeof out->stop, "precision");
			out->converged = 1;
			break;
		}
		double *sj = s + (size_t)head * np, *yj = yv + (size_t)head * np;
		for (size_t i = 0; i < np; i++) {
			sj[i] = xn[i] - x[i];
			yj[i] = gn[i] - g[i];
		}
		double sy = dot(sj, yj, np);
		if (sy > 1e-12 * sqrt(dot(sj, sj, np) * dot(yj, yj, np))) {
			rho[head] = 1.0 / sy;
			head = (head + 1) % h;
			npairs = npairs < h ? npairs + 1 : h;
		}
		double drop = f - fn;
		memcpy(x, xn, np * sizeof *x);
		memcpy(g, gn, np * sizeof *g);
		f = fn;
		if (drop <= o->ftol * fmax(1.0, fabs(f))) {
			out->iters = it + 1;
			out->gmax = max_abs(g, np);
			snprintf(out->stop, sizeof out->stop, "objective");
			out->converged = 1;
			break;
		}
	}
	out->f = f;

out_free:
	free(g);
	free(dir);
	free(xn);
	free(gn);
	free(s);
	free(yv);
	free(rho);
	free(alpha);
	return st;
}

/* Accuracy of (W, b) in x on raw rows (idx[i], or i when idx is NULL),
 * standardised on the fly; double precision on the host. */
static double accuracy(const double *x, int d, int c, const float *rows, const int32_t *y,
		       const size_t *idx, size_t n, const double *mean, const double *rstd,
		       double *buf)
{
	size_t correct = 0;
	const double *b = x + (size_t)c * d;
	for (size_t i = 0; i < n; i++) {
		size_t r = idx ? idx[i] : i;
		const float *src = rows + r * (size_t)d;
		for (int j = 0; j < d; j++)
			buf[j] = mean ? (src[j] - mean[j]) * rstd[j] : src[j];
		int best = 0;
		double bz = -INFINITY;
		for (int k = 0; k < c; k++) {
			double z = b[k] + dot(x + (size_t)k * d, buf, (size_t)d);
			if (z > bz) {
				bz = z;
				best = k;
			}
		}
		correct += best == y[r];
	}
	return n ? (double)correct / (double)n : 0;
}

/* Upload rows perm[0..n) standardised into blocks. */
static dim_status upload(struct lr *p, const float *xtr, const size_t *perm, const double *mean,
			 const double *rstd)
{
	float *tmp = malloc((size_t)BLOCK_ROWS * p->d * sizeof *tmp);
	dim_status st = DIM_OK;
	if (!tmp)
		return dim_fail(dim_ctx_error(p->ctx), DIM_ERR_NOMEM, "out of host memory");
	for (size_t k = 0; k < p->nblocks && !st; k++) {
		size_t r0 = k * BLOCK_ROWS, rows = p->n - r0 < BLOCK_ROWS ? p->n - r0 : BLOCK_ROWS;
		for (size_t r = 0; r < rows; r++) {
			const float *src = xtr + perm[r0 + r] * (size_t)p->d;
			float *o = tmp + r * (size_t)p->d;
			for (int j = 0; j < p->d; j++)
				o[j] = mean ? (float)((src[j] - mean[j]) * rstd[j]) : src[j];
		}
		st = dim_buf_create(p->ctx, rows * (size_t)p->d * 4, &p->xb[k]);
		if (!st)
			st = dim_write(p->ctx, p->xb[k], 0, tmp, rows * (size_t)p->d * 4);
	}
	free(tmp);
	return st;
}

static dim_status check_args(dim_error *err, const dim_logreg_opts *o, int d, int classes,
			     const int32_t *ytr, size_t ntr, const int32_t *yte, size_t nte)
{
	if (d < 1 || classes < 2 || classes > 64 || ntr < 2 || o->max_iter < 0 ||
	    o->history < 1 || !(o->gtol >= 0) || !(o->ftol >= 0))
		return dim_fail(err, DIM_ERR_ARG, "linear probe: d %d, classes %d (2..64), %zu "
				"train rows, max_iter %d, history %d", d, classes, ntr,
				o->max_iter, o->history);
	if (o->l2 < 0 && (o->ngrid < 1 || o->ngrid > DIM_LOGREG_MAX_GRID ||
			  !(o->holdout > 0 && o->holdout < 1) ||
			  (size_t)(o->holdout * (double)ntr) < 1))
		return dim_fail(err, DIM_ERR_ARG, "linear probe: choosing the penalty needs 1..%d "
				"grid values (got %d) and a held-out fraction in (0, 1) that "
				"leaves rows on both sides (got %g of %zu rows)",
				DIM_LOGREG_MAX_GRID, o->ngrid, o->holdout, ntr);
	for (int i = 0; o->l2 < 0 && i < o->ngrid; i++)
		if (!(o->grid[i] >= 0))
			return dim_fail(err, DIM_ERR_ARG, "linear probe: grid value %g", o->grid[i]);
	for (size_t i = 0; i < ntr; i++)
		if (ytr[i] < 0 || ytr[i] >= classes)
			return dim_fail(err, DIM_ERR_ARG, "linear probe: train label %d of row %zu is "
					"outside [0, %d)", ytr[i], i, classes);
	for (size_t i = 0; i < nte; i++)
		if (yte[i] < 0 || yte[i] >= classes)
			return dim_fail(err, DIM_ERR_ARG, "linear probe: test label %d of row %zu is "
					"outside [0, %d)", yte[i], i, classes);
	return DIM_OK;
}

dim_status dim_logreg_run(dim_ctx *ctx, const dim_logreg_opts *o, int d, int classes,
			  const float *xtr, const int32_t *ytr, size_t ntr, const float *xte,
			  const int32_t *yte, size_t nte, dim_logreg_result *out)
{
	dim_error *err = dim_ctx_error(ctx);
	memset(out, 0, sizeof *out);
	dim_status st = check_args(err, o, d, classes, ytr, ntr, yte, nte);
	if (st)
		return st;
	struct lr p = {.ctx = ctx, .d = d, .c = classes, .n = ntr};
	size_t cd = (size_t)classes * d, np = np_of(&p);
	p.nblocks = (ntr + BLOCK_ROWS - 1) / BLOCK_ROWS;
	p.xb = calloc(p.nblocks, sizeof *p.xb);
	size_t *perm = malloc(ntr * sizeof *perm);
	int32_t *yp = malloc(ntr * sizeof *yp);
	double *mean = NULL, *rstd = NULL, *x = calloc(np, sizeof *x);
	double *best = malloc(np * sizeof *best), *buf = malloc((size_t)d * sizeof *buf);
	p.wf = malloc(cd * sizeof *p.wf);
	p.gf = malloc(cd * sizeof *p.gf);
	p.lf = malloc((size_t)BLOCK_ROWS * classes * sizeof *p.lf);
	p.rf = malloc((size_t)BLOCK_ROWS * classes * sizeof *p.rf);
	if (!p.xb || !perm || !yp || !x || !best || !buf || !p.wf || !p.gf || !p.lf || !p.rf) {
		st = dim_fail(err, DIM_ERR_NOMEM, "linear probe: out of host memory");
		goto out_free;
	}
	if (o->standardize) {
		mean = calloc((size_t)d, sizeof *mean);
		rstd = calloc((size_t)d, sizeof *rstd);
		if (!mean || !rstd) {
			st = dim_fail(err, DIM_ERR_NOMEM, "linear probe: out of host memory");
			goto out_free;
		}
		for (size_t i = 0; i < ntr; i++)
			for (int j = 0; j < d; j++) {
				double v = xtr[i * (size_t)d + j];
				mean[j] += v;
				rstd[j] += v * v;
			}
		for (int j = 0; j < d; j++) {
			double m = mean[j] / (double)ntr, var = rstd[j] / (double)ntr - m * m;
			mean[j] = m;
			rstd[j] = 1.0 / sqrt(var > 1e-12 ? var : 1e-12);
		}
	}
	/* device order: the fit rows first, the held-out rows last */
	if (o->l2 < 0)
		dim_permutation(perm, ntr, o->seed, 0);
	else
		for (size_t i = 0; i < ntr; i++)
			perm[i] = i;
	for (size_t i = 0; i < ntr; i++)
		yp[i] = ytr[perm[i]];
	p.y = yp;
	if ((st = dim_buf_create(ctx, cd * 4, &p.wb)) ||
	    (st = dim_buf_create(ctx, cd * 4, &p.gb)) ||
	    (st = dim_buf_create(ctx, (size_t)BLOCK_ROWS * classes * 4, &p.lb)) ||
	    (st = dim_buf_create(ctx, (size_t)BLOCK_ROWS * classes * 4, &p.rb)) ||
	    (st = upload(&p, xtr, perm, mean, rstd)))
		goto out_free;

	struct fit fit;
	double lambda = o->l2;
	if (o->l2 < 0) {
		size_t nhold = (size_t)(o->holdout * (double)ntr);
		p.m = ntr - nhold;
		/* largest penalty first: each fit warm-starts the next */
		int order[DIM_LOGREG_MAX_GRID];
		for (int i = 0; i < o->ngrid; i++)
			order[i] = i;
		for (int i = 1; i < o->ngrid; i++)
			for (int j = i; j > 0 && o->grid[order[j]] > o->grid[order[j - 1]]; j--) {
				int tmp = order[j];
				order[j] = order[j - 1];
				order[j - 1] = tmp;
			}
		double best_acc = -1;
		int worse = 0;
		for (int i = 0; i < o->ngrid; i++)
			out->heldout_acc[i] = -1;
		for (int i = 0; i < o->ngrid && worse < 2; i++) {
			int gi = order[i];
			p.lambda = o->grid[gi];
			if ((st = lbfgs(&p, o, x, &fit)))
				goto out_free;
			out->total_iters += fit.iters;
			double acc = accuracy(x, d, classes, xtr, ytr, perm + p.m, nhold, mean, rstd,
					      buf);
			out->heldout_acc[gi] = acc;
			dim_log(DIM_LOG_INFO, "linear probe: l2 %g: held-out %.2f%% (%d "
				"iterations, stop: %s, max|g| %.2g)", p.lambda, 100 * acc,
				fit.iters, fit.stop, fit.gmax);
			if (acc > best_acc) {
				best_acc = acc;
				lambda = p.lambda;
				memcpy(best, x, np * sizeof *x);
				worse = 0;
			} else {
				worse += acc < best_acc;
			}
		}
		memcpy(x, best, np * sizeof *x);
		if (lambda == o->grid[order[0]] || lambda == o->grid[order[o->ngrid - 1]])
			dim_log(DIM_LOG_WARN, "linear probe: the chosen l2 %g is at the end of the "
				"grid; the best penalty may lie beyond it", lambda);
	}
	p.m = ntr;
	p.lambda = lambda;
	p.evals = 0;
	if ((st = lbfgs(&p, o, x, &fit)))
		goto out_free;
	out->total_iters += fit.iters;
	out->l2 = lambda;
	out->loss = fit.f;
	out->grad_max = fit.gmax;
	out->iters = fit.iters;
	out->evals = p.evals;
	out->converged = fit.converged;
	snprintf(out->stop, sizeof out->stop, "%s", fit.stop);
	out->train_acc = accuracy(x, d, classes, xtr, ytr, NULL, ntr, mean, rstd, buf);
	out->test_acc = accuracy(x, d, classes, xte, yte, NULL, nte, mean, rstd, buf);

out_free:
	for (size_t k = 0; p.xb && k < p.nblocks; k++)
		dim_buf_release(&p.xb[k]);
	dim_buf_release(&p.wb);
	dim_buf_release(&p.gb);
	dim_buf_release(&p.lb);
	dim_buf_release(&p.rb);
	free(p.xb);
	free(perm);
	free(yp);
	free(mean);
	free(rstd);
	free(x);
	free(best);
	free(buf);
	free(p.wf);
	free(p.gf);
	free(p.lf);
	free(p.rf);
	return st;
}
