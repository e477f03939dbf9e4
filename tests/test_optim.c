/* cldim-test: labels=opencl;op timeout=300 */
/* Adam and SGD over a parameter group: 10 steps compared step by step with a
 * double-precision reference and with torch.optim (betas (0.5, 0.999) as DIM
 * uses, with and without weight decay; SGD with momentum), one kernel launch
 * per span (a non-trainable buffer between parameters splits the group in
 * two), the state accessors, and the step counter. Also Adam over plain
 * (value, gradient) buffers, without a dim_params (the ops-level API). */
#include <string.h>

#include "cldim/op_optim.h"
#include "cldim/params.h"
#include "testutil.h"

#define STEPS 10

struct group {
	dim_params ps;
	dim_param *tr[3]; /* trainable, in order */
	size_t n[3], total;
};

static void make_group(dim_ctx *ctx, struct group *g, t_rng *rng)
{
	CHECK_OK(ctx, dim_params_init(&g->ps, ctx, "opt"));
	dim_param *rm;
	CHECK_OK(ctx, dim_params_add(&g->ps, "w", 2, (int[]){7, 13}, true, &g->tr[0]));
	CHECK_OK(ctx, dim_params_add(&g->ps, "b", 1, (int[]){13}, true, &g->tr[1]));
	CHECK_OK(ctx, dim_params_add(&g->ps, "running_mean", 1, (int[]){13}, false, &rm));
	CHECK_OK(ctx, dim_params_add(&g->ps, "w2", 2, (int[]){3, 5}, true, &g->tr[2]));
	g->total = 0;
	for (int i = 0; i < 3; i++) {
		g->n[i] = dim_tensor_numel(&g->tr[i]->value);
		float *x = malloc(g->n[i] * 4);
		t_fill(rng, x, g->n[i], -1, 1);
		CHECK_OK(ctx, dim_param_set(ctx, g->tr[i], x));
		free(x);
		g->total += g->n[i];
	}
	float v[13];
	t_fill(rng, v, 13, 5, 6);
	CHECK_OK(ctx, dim_param_set(ctx, rm, v));
}

/* Flat host copies of all trainable values / gradients. */
static void get_all(dim_ctx *ctx, struct group *g, float *dst, bool grad)
{
	for (int i = 0; i < 3; i++) {
		CHECK_OK(ctx, dim_tensor_read(ctx, grad ? &g->tr[i]->grad : &g->tr[i]->value, dst));
		dst += g->n[i];
	}
}

static void set_grads(dim_ctx *ctx, struct group *g, const float *src)
{
	for (int i = 0; i < 3; i++) {
		CHECK_OK(ctx, dim_tensor_write(ctx, &g->tr[i]->grad, src));
		src += g->n[i];
	}
}

/* kind 0 Adam, 1 SGD. */
static void run(dim_ctx *ctx, t_rng *rng, int kind, double wd, const char *dir, const char *tag)
{
	struct group g;
	make_group(ctx, &g, rng);
	size_t n = g.total;
	dim_adam_desc ad = {0.01, 0.5, 0.999, 1e-8, wd};
	dim_sgd_desc sd = {0.05, 0.9, wd};
	dim_optim *o = NULL;
	if (kind == 0)
		CHECK_OK(ctx, dim_adam_create(&g.ps, &ad, &o));
	else
		CHECK_OK(ctx, dim_sgd_create(&g.ps, &sd, &o));
	if (!o)
		return;
	CHECK(dim_optim_launches(o) == 2);
	CHECK(dim_optim_state_slots(o) == (kind == 0 ? 2 : 1));
	float *before = malloc(n * 4), *after = malloc(n * 4), *grad = malloc(n * 4);
	float *target = malloc(n * 4);
	double *m = calloc(n, 8), *v = calloc(n, 8), *want = malloc(n * 8), *dgot = malloc(n * 8);
	t_fill(rng, target, n, -1, 1);
	for (int t = 1; t <= STEPS; t++) {
		get_all(ctx, &g, before, false);
		for (size_t i = 0; i < n; i++) /* a quadratic pull plus noise */
			grad[i] = (before[i] - target[i]) * 0.8f + (float)t_uniform(rng, -0.3, 0.3);
		set_grads(ctx, &g, grad);
		unsigned long long l0 = dim_ctx_get_stats(ctx).launches;
		CHECK_OK(ctx, dim_optim_step(o));
		CHECK(dim_ctx_get_stats(ctx).launches - l0 == 2);
		get_all(ctx, &g, after, false);
		for (size_t i = 0; i < n; i++) {
			double gi = (double)grad[i] + (double)(float)wd * before[i];
			if (kind == 0) {
				m[i] = 0.5 * m[i] + 0.5 * gi;
				v[i] = 0.999 * v[i] + 0.001 * gi * gi;
				double mh = m[i] / (1 - pow(0.5, t)), vh = v[i] / (1 - pow(0.999, t));
				want[i] = -(double)ad.lr * mh / (sqrt(vh) + 1e-8);
			} else {
				m[i] = 0.9 * m[i] + gi;
				want[i] = -(double)sd.lr * m[i];
			}
			dgot[i] = (double)after[i] - before[i];
		}
		float *dg = malloc(n * 4);
		for (size_t i = 0; i < n; i++)
			dg[i] = (float)dgot[i];
		char what[96];
		snprintf(what, sizeof what, "%s step %d: update", tag, t);
		t_close(what, dg, want, n, 1e-5, 2e-7);
		free(dg);
		if (dir) {
			char name[64];
			snprintf(name, sizeof name, "%s_before_%d", tag, t), t_dump(dir, name, before, n);
			snprintf(name, sizeof name, "%s_grad_%d", tag, t), t_dump(dir, name, grad, n);
			snprintf(name, sizeof name, "%s_after_%d", tag, t), t_dump(dir, name, after, n);
		}
	}
	CHECK(dim_optim_steps(o) == STEPS);
	/* the state views hold the moments (slot 0 of w2, the second span) */
	dim_tensor st;
	CHECK_OK(ctx, dim_optim_state(o, g.tr[2], 0, &st));
	float *ms = malloc(g.n[2] * 4);
	CHECK_OK(ctx, dim_tensor_read(ctx, &st, ms));
	char what[64];
	snprintf(what, sizeof what, "%s state slot 0 of w2", tag);
	t_close(what, ms, m + g.n[0] + g.n[1], g.n[2], 1e-5, 1e-7);
	if (kind == 0) {
		CHECK_OK(ctx, dim_optim_state(o, g.tr[0], 1, &st));
		float *vs = malloc(g.n[0] * 4);
		CHECK_OK(ctx, dim_tensor_read(ctx, &st, vs));
		snprintf(what, sizeof what, "%s state slot 1 of w", tag);
		t_close(what, vs, v, g.n[0], 1e-5, 1e-9);
		free(vs);
	}
	dim_param *rm = dim_params_find(&g.ps, "running_mean");
	CHECK(dim_optim_state(o, rm, 0, &st) == DIM_ERR_ARG);
	float rv[13];
	CHECK_OK(ctx, dim_param_get(ctx, rm, rv));
	for (int i = 0; i < 13; i++)
		CHECK(rv[i] >= 5 && rv[i] <= 6); /* buffers are not touched */
	dim_optim_set_lr(o, 0.125);
	CHECK(dim_optim_lr(o) == 0.125);
	free(before), free(after), free(grad), free(target), free(m), free(v), free(want),
		free(dgot), free(ms);
	dim_optim_destroy(o);
	dim_params_free(&g.ps);
}

/* Adam over two plain tensors sharing one value buffer and one gradient
 * buffer (one span), one step against the closed form of the first step:
 * m = (1-b1) g, v = (1-b2) g^2, update = -lr sign(g) (up to eps). */
static void plain_vars(dim_ctx *ctx)
{
	dim_buf vb, gb;
	CHECK_OK(ctx, dim_buf_create(ctx, 12 * sizeof(float), &vb));
	CHECK_OK(ctx, dim_buf_create(ctx, 12 * sizeof(float), &gb));
	dim_optim_var vars[2];
	for (int i = 0; i < 2; i++) {
		size_t off = (size_t)i * 4 * sizeof(float), bytes = (size_t)(i ? 8 : 4) * sizeof(float);
		vars[i].value.buf = dim_buf_view(vb, off, bytes);
		vars[i].grad.buf = dim_buf_view(gb, off, bytes);
		dim_tensor_set_shape(&vars[i].value, 1, (int[]){i ? 8 : 4});
		dim_tensor_set_shape(&vars[i].grad, 1, (int[]){i ? 8 : 4});
	}
	float x[12], g[12], y[12], m[12];
	for (int i = 0; i < 12; i++) {
		x[i] = 0.25f * (float)i - 1.0f;
		g[i] = (i % 3 == 0 ? -1.0f : 1.0f) * (0.5f + 0.125f * (float)i);
	}
	CHECK_OK(ctx, dim_write(ctx, vb, 0, x, sizeof x));
	CHECK_OK(ctx, dim_write(ctx, gb, 0, g, sizeof g));
	dim_adam_desc ad = {0.01, 0.5, 0.999, 1e-8, 0};
	dim_optim *o = NULL;
	CHECK_OK(ctx, dim_adam_create_vars(ctx, vars, 2, &ad, &o));
	if (!o)
		goto out;
	CHECK(dim_optim_launches(o) == 1);
	CHECK(dim_optim_ctx(o) == ctx);
	CHECK_OK(ctx, dim_optim_step(o));
	CHECK_OK(ctx, dim_read(ctx, vb, 0, y, sizeof y));
	double want[12];
	for (int i = 0; i < 12; i++)
		want[i] = x[i] - (g[i] > 0 ? 0.01 : -0.01);
	t_close("plain vars: first Adam step", y, want, 12, 1e-5, 1e-6);
	/* state by index and by value view: slot 0 of var 1 is (1 - b1) g */
	CHECK(dim_optim_var_index(o, &vars[1].value) == 1);
	dim_tensor other = vars[1].value;
	other.buf = dim_buf_view(gb, 4 * sizeof(float), 8 * sizeof(float));
	CHECK(dim_optim_var_index(o, &other) == -1);
	dim_tensor st;
	CHECK_OK(ctx, dim_optim_var_state(o, 1, 0, &st));
	CHECK(dim_tensor_numel(&st) == 8);
	CHECK_OK(ctx, dim_tensor_read(ctx, &st, m));
	for (int i = 0; i < 8; i++)
		want[i] = 0.5 * g[4 + i];
	t_close("plain vars: exp_avg of var 1", m, want, 8, 1e-6, 1e-7);
	CHECK(dim_optim_var_state(o, 2, 0, &st) == DIM_ERR_ARG);
	CHECK(dim_optim_var_state(o, 0, 2, &st) == DIM_ERR_ARG);
	dim_optim_destroy(o);
	/* a value and a gradient of different sizes, a negative count */
	dim_optim_var bad = vars[0];
	bad.grad = vars[1].grad;
	o = NULL;
	CHECK(dim_adam_create_vars(ctx, &bad, 1, &ad, &o) == DIM_ERR_ARG && !o);
	CHECK(strstr(dim_ctx_errmsg(ctx), "tensor 0 has 4 values but 8 gradients"));
	CHECK(dim_adam_create_vars(ctx, vars, -1, &ad, &o) == DIM_ERR_ARG);
out:
	dim_buf_release(&vb);
	dim_buf_release(&gb);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {9};
	char *dir = t_tmpdir("optim");
	run(ctx, &rng, 0, 0.0f, dir, "adam");
	run(ctx, &rng, 0, 0.01, dir, "adamwd");
	run(ctx, &rng, 1, 1e-3, dir, "sgd");
	plain_vars(ctx);
	dim_optim_destroy(NULL);
	/* bad hyper-parameters */
	dim_params ps;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "bad"));
	dim_optim *o;
	dim_adam_desc bad = {1e-3, 1.0, 0.999, 1e-8, 0};
	CHECK(dim_adam_create(&ps, &bad, &o) == DIM_ERR_ARG);
	dim_params_free(&ps);
	if (t_torch_run("check_optim.py", dir, "10 119") == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
