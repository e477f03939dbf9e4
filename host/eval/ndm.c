/* Neural dependency measure (include/cldim/probe.h, docs/method.md §8).
 *
 * Each step the discriminator T scores a batch of B rows y (the joint) and
 * the same rows with every column permuted independently (the product of
 * the marginals), stacked as [2B, d] -> T [2B, 1]. The DV bound and its
 * gradient with respect to T are computed on the host:
 *   DV = mean_i T_i - log mean_j exp T~_j
 *   dL/dT_i = -1/B,  dL/dT~_j = softmax(T~)_j      (L = -DV)
 * and pushed back through the network as the gradient of sum(T * G) with G
 * a constant input (dim_t_mul, dim_t_sum), so no new op is needed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/models.h"
#include "cldim/op_optim.h"
#include "cldim/probe.h"
#include "cldim/tape_ops.h"

dim_ndm_opts dim_ndm_defaults(void)
{
	return (dim_ndm_opts){.steps = 300, .batch = 500, .eval_batches = 8, .lr = 1e-4,
			      .sigmoid = 1, .seed = 1};
}

/* rows [2B, d]: B rows sampled from y[lo, lo + n), then the same rows
 * column-shuffled. */
static void make_batch(float *rows, const float *y, size_t lo, size_t n, int d, int b,
		       int sigmoid, uint64_t seed, uint64_t step)
{
	for (int i = 0; i < b; i++) {
		size_t r = lo + dim_rng_u64(seed, 2 * step, (uint64_t)i) % n;
		for (int j = 0; j < d; j++) {
			float v = y[r * (size_t)d + j];
			rows[(size_t)i * d + j] = sigmoid ? 1.0f / (1.0f + expf(-v)) : v;
		}
	}
	float *sh = rows + (size_t)b * d;
	for (int j = 0; j < d; j++) {
		for (int i = 0; i < b; i++)
			sh[(size_t)i * d + j] = rows[(size_t)i * d + j];
		for (int i = b - 1; i > 0; i--) { /* Fisher-Yates on column j */
			int k = (int)(dim_rng_u64(seed, 2 * step + 1, (uint64_t)j * b + i) %
				      (uint64_t)(i + 1));
			float t = sh[(size_t)i * d + j];
			sh[(size_t)i * d + j] = sh[(size_t)k * d + j];
			sh[(size_t)k * d + j] = t;
		}
	}
}

/* DV value from T [2B]; fills g with dL/dT when g is not NULL. */
static double dv_bound(const float *t, int b, float *g)
{
	double pos = 0, mx = -INFINITY, se = 0;
	for (int i = 0; i < b; i++) {
		pos += t[i];
		if (t[b + i] > mx)
			mx = t[b + i];
	}
	for (int i = 0; i < b; i++)
		se += exp(t[b + i] - mx);
	double lme = mx + log(se / b);
	for (int i = 0; g && i < b; i++) {
		g[i] = -1.0f / (float)b;
		g[b + i] = (float)(exp(t[b + i] - mx) / se);
	}
	return pos / b - lme;
}

/* Fill rows [2B, d]: B joint samples then B from the product of marginals,
 * drawn from the fitting part (eval = 0) or the held-out part (eval = 1). */
typedef void (*batch_fn)(void *user, float *rows, int eval, uint64_t step);

struct ndm_src {
	const float *y;
	size_t n, n_fit;
	int d, b, sigmoid;
	uint64_t seed;
};

static void ndm_batch(void *user, float *rows, int eval, uint64_t step)
{
	struct ndm_src *s = user;
	if (eval)
		make_batch(rows, s->y, s->n_fit, s->n - s->n_fit, s->d, s->b, s->sigmoid,
			   s->seed ^ 0x5bd1e995u, step);
	else
		make_batch(rows, s->y, 0, s->n_fit, s->d, s->b, s->sigmoid, s->seed, step);
}

static dim_status dv_train(dim_ctx *ctx, const dim_ndm_opts *o, int d, batch_fn fn, void *user,
			   const char *what, double *out);

dim_status dim_ndm_run(dim_ctx *ctx, const dim_ndm_opts *o, const float *y, size_t n, int d,
		       double *ndm)
{
	dim_error *err = dim_ctx_error(ctx);
	if (n < 2 || d < 1 || o->batch < 2 || o->steps < 0 || o->eval_batches < 1)
		return dim_fail(err, DIM_ERR_ARG, "NDM: %zu rows, d %d, batch %d, steps %d", n, d,
				o->batch, o->steps);
	/* The discriminator is fitted on the first 80% of the rows and the bound
	 * is read on the other 20%: evaluated on the rows it was fitted on, the
	 * DV bound grows without limit as T memorises them. */
	size_t n_fit = n - n / 5;
	if (n_fit < 2 || n - n_fit < 2)
		return dim_fail(err, DIM_ERR_ARG, "NDM: %zu rows are too few for a held-out split",
				n);
	struct ndm_src src = {y, n, n_fit, d, o->batch, o->sigmoid, o->seed};
	return dv_train(ctx, o, d, ndm_batch, &src, "NDM", ndm);
}

/* MINE (docs/method.md §8): T on [x ; y], joint pairs (x_i, y_i) against pairs
 * with y from another row of the batch. */
struct mine_src {
	const float *x, *y;
	size_t n, n_fit;
	int dx, dy, b;
	uint64_t seed;
};

static void mine_batch(void *user, float *rows, int eval, uint64_t step)
{
	struct mine_src *s = user;
	size_t lo = eval ? s->n_fit : 0, n = eval ? s->n - s->n_fit : s->n_fit;
	uint64_t seed = eval ? s->seed ^ 0x5bd1e995u : s->seed;
	int d = s->dx + s->dy, b = s->b;
	for (int i = 0; i < b; i++) {
		size_t r = lo + dim_rng_u64(seed, 2 * step, (uint64_t)i) % n;
		memcpy(rows + (size_t)i * d, s->x + r * (size_t)s->dx, (size_t)s->dx * 4);
		memcpy(rows + (size_t)i * d + s->dx, s->y + r * (size_t)s->dy, (size_t)s->dy * 4);
	}
	/* marginal: row i's x with row (i + k) mod b's y, k in [1, b) */
	int k = 1 + (int)(dim_rng_u64(seed, 2 * step + 1, 0) % (uint64_t)(b - 1));
	for (int i = 0; i < b; i++) {
		float *dst = rows + (size_t)(b + i) * d;
		memcpy(dst, rows + (size_t)i * d, (size_t)s->dx * 4);
		memcpy(dst + s->dx, rows + (size_t)((i + k) % b) * d + s->dx, (size_t)s->dy * 4);
	}
}

dim_status dim_mine_run(dim_ctx *ctx, const dim_ndm_opts *o, const float *x, int dx,
			const float *y, int dy, size_t n, double *mi)
{
	dim_error *err = dim_ctx_error(ctx);
	size_t n_fit = n - n / 5;
	if (dx < 1 || dy < 1 || o->batch < 2 || o->steps < 0 || o->eval_batches < 1 ||
	    n_fit < 2 || n - n_fit < 2)
		return dim_fail(err, DIM_ERR_ARG, "MINE: %zu rows, dims %d + %d, batch %d", n, dx,
				dy, o->batch);
	struct mine_src src = {x, y, n, n_fit, dx, dy, o->batch, o->seed};
	return dv_train(ctx, o, dx + dy, mine_batch, &src, "MINE", mi);
}

/* Train T (MLP d -> 1000 -> 200 -> 1) to maximise the DV bound on batches
 * from fn, then return the bound on held-out batches. */
static dim_status dv_train(dim_ctx *ctx, const dim_ndm_opts *o, int d, batch_fn fn, void *user,
			   const char *what, double *out)
{
	dim_error *err = dim_ctx_error(ctx);
	int b = o->batch, rows = 2 * b;
	dim_params ps = {0};
	dim_mlp mlp;
	dim_optim *opt = NULL;
	dim_tape *tape = NULL;
	dim_buf xbuf = {0}, gbuf = {0};
	float *xh = malloc((size_t)rows * d * sizeof *xh);
	float *th = malloc((size_t)rows * sizeof *th), *gh = malloc((size_t)rows * sizeof *gh);
	dim_status st = DIM_OK;
	if (!xh || !th || !gh) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		goto out_free;
	}
	dim_adam_desc ad = {.lr = o->lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
	if ((st = dim_params_init(&ps, ctx, "ndm")) ||
	    (st = dim_mlp_build(&mlp, &ps, "T", 3, (int[]){d, 1000, 200, 1}, o->seed)) ||
	    (st = dim_adam_create(&ps, &ad, &opt)) || (st = dim_tape_create(ctx, "ndm", &tape)) ||
	    (st = dim_buf_create(ctx, (size_t)rows * d * 4, &xbuf)) ||
	    (st = dim_buf_create(ctx, (size_t)rows * 4, &gbuf)))
		goto out_free;
	dim_tensor xt = {.buf = xbuf, .ndim = 2, .shape = {rows, d}};
	dim_tensor gt = {.buf = gbuf, .ndim = 2, .shape = {rows, 1}};

	for (int s = 0; s < o->steps; s++) {
		fn(user, xh, 0, (uint64_t)s);
		if ((st = dim_tensor_write(ctx, &xt, xh)))
			goto out_free;
		dim_tape_begin(tape, true);
		dim_var *xv, *t, *gv, *prod, *loss;
		if ((st = dim_tape_input(tape, &xt, &xv)) ||
		    (st = dim_mlp_forward(tape, &mlp, xv, &t)) ||
		    (st = dim_tensor_read(ctx, &t->val, th)))
			goto out_free;
		double dv = dv_bound(th, b, gh);
		if (!isfinite(dv)) {
			st = dim_fail(err, DIM_ERR_NUMERIC, "%s: DV bound is %g at step %d", what, dv,
				      s);
			goto out_free;
		}
		if ((st = dim_tensor_write(ctx, &gt, gh)))
			goto out_free;
		if ((st = dim_tape_input(tape, &gt, &gv)) || (st = dim_t_mul(tape, t, gv, &prod)) ||
		    (st = dim_t_sum(tape, prod, &loss)) || (st = dim_params_zero_grad(&ps)) ||
		    (st = dim_tape_backward(tape, loss, 1.0f)) || (st = dim_optim_step(opt)))
			goto out_free;
	}
	double sum = 0;
	for (int e = 0; e < o->eval_batches; e++) {
		fn(user, xh, 1, (uint64_t)(o->steps + e));
		if ((st = dim_tensor_write(ctx, &xt, xh)))
			goto out_free;
		dim_tape_begin(tape, false);
		dim_var *xv, *t;
		if ((st = dim_tape_input(tape, &xt, &xv)) ||
		    (st = dim_mlp_forward(tape, &mlp, xv, &t)) ||
		    (st = dim_tensor_read(ctx, &t->val, th)))
			goto out_free;
		sum += dv_bound(th, b, NULL);
	}
	*out = sum / o->eval_batches;

out_free:
	dim_buf_release(&gbuf);
	dim_buf_release(&xbuf);
	dim_tape_destroy(tape);
	dim_optim_destroy(opt);
	if (ps.ctx)
		dim_params_free(&ps);
	free(xh);
	free(th);
	free(gh);
	return st;
}
