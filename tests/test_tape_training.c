/* cldim-test: labels=opencl timeout=300 */
/* End to end through the tape: a small MLP and a small convnet trained with
 * Adam on synthetic tasks reach the accuracy the task allows. This is the
 * check that forward, backward, gradient accumulation over shared inputs,
 * parameter updates and the arena reuse across steps work together.
 *
 * MLP: 3 Gaussian blobs in 7-D (well separated): linear 7->32, ReLU,
 * linear 32->3, cross-entropy; test accuracy must reach >= 95%.
 * Convnet: 1x9x9 images holding a noisy horizontal or vertical bar at a
 * random position: conv 3x3 (8) -> BN -> ReLU -> max pool 2 -> conv 3x3 (8)
 * -> ReLU -> global average pool -> linear 8->2; test accuracy >= 95%.
 * Both also check that no device memory is created after the first step.
 * Also: the tape's failures are statuses (a node that cannot be recorded, a
 * view of the wrong size), never a silently missing node or var; and the
 * gradients of intermediate vars are recycled during backward (a chain of
 * eight ops holds at most a few gradient buffers at once) without changing
 * any gradient, including one that two consumers accumulate into. */
#include <math.h>
#include <string.h>

#include "cldim/op_activation.h"
#include "cldim/op_batchnorm.h"
#include "cldim/op_conv.h"
#include "cldim/op_linear.h"
#include "cldim/op_loss.h"
#include "cldim/op_optim.h"
#include "cldim/op_pool.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

#define BATCH 32

/* ---------------------------------------------------------------- data */

static void blobs(t_rng *r, int n, float *x, int *y)
{
	static const float centres[3][7] = {{2, 0, 0, 1, 0, -1, 0},
					    {-2, 1, 0, 0, 1, 0, 1},
					    {0, -2, 1, -1, 0, 1, -1}};
	for (int i = 0; i < n; i++) {
		int k = (int)(t_rand_u64(r) % 3);
		y[i] = k;
		for (int d = 0; d < 7; d++)
			x[i * 7 + d] = centres[k][d] + (float)t_uniform(r, -0.8, 0.8);
	}
}

static void bars(t_rng *r, int n, float *x, int *y)
{
	for (int i = 0; i < n; i++) {
		int k = (int)(t_rand_u64(r) % 2), pos = 1 + (int)(t_rand_u64(r) % 7);
		y[i] = k;
		for (int p = 0; p < 81; p++) {
			int row = p / 9, col = p % 9;
			int on = k ? col == pos : row == pos;
			x[i * 81 + p] = (on ? 1.0f : 0.0f) + (float)t_uniform(r, -0.3, 0.3);
		}
	}
}

/* ---------------------------------------------------------------- models */

struct net {
	dim_params ps;
	dim_param *w1, *b1, *w2, *b2, *c1, *bn_w, *bn_b, *bn_m, *bn_v, *c2, *w3, *b3;
	int conv;
};

static void build(dim_ctx *ctx, struct net *n, int conv)
{
	memset(n, 0, sizeof *n);
	n->conv = conv;
	CHECK_OK(ctx, dim_params_init(&n->ps, ctx, conv ? "convnet" : "mlp"));
	dim_params *ps = &n->ps;
	if (!conv) {
		CHECK_OK(ctx, dim_params_add(ps, "l1.weight", 2, (int[]){32, 7}, true, &n->w1));
		CHECK_OK(ctx, dim_params_add(ps, "l1.bias", 1, (int[]){32}, true, &n->b1));
		CHECK_OK(ctx, dim_params_add(ps, "l2.weight", 2, (int[]){3, 32}, true, &n->w2));
		CHECK_OK(ctx, dim_params_add(ps, "l2.bias", 1, (int[]){3}, true, &n->b2));
		CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->w1, 7, 1));
		CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->b1, 7, 1));
		CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->w2, 32, 1));
		CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->b2, 32, 1));
		return;
	}
	CHECK_OK(ctx, dim_params_add(ps, "c1.weight", 4, (int[]){8, 1, 3, 3}, true, &n->c1));
	CHECK_OK(ctx, dim_params_add(ps, "bn.weight", 1, (int[]){8}, true, &n->bn_w));
	CHECK_OK(ctx, dim_params_add(ps, "bn.bias", 1, (int[]){8}, true, &n->bn_b));
	CHECK_OK(ctx, dim_params_add(ps, "bn.running_mean", 1, (int[]){8}, false, &n->bn_m));
	CHECK_OK(ctx, dim_params_add(ps, "bn.running_var", 1, (int[]){8}, false, &n->bn_v));
	CHECK_OK(ctx, dim_params_add(ps, "c2.weight", 4, (int[]){8, 8, 3, 3}, true, &n->c2));
	CHECK_OK(ctx, dim_params_add(ps, "fc.weight", 2, (int[]){2, 8}, true, &n->w3));
	CHECK_OK(ctx, dim_params_add(ps, "fc.bias", 1, (int[]){2}, true, &n->b3));
	CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->c1, 9, 2));
	CHECK_OK(ctx, dim_param_init_const(ctx, n->bn_w, 1.0f));
	CHECK_OK(ctx, dim_param_init_const(ctx, n->bn_v, 1.0f));
	CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->c2, 72, 2));
	CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->w3, 8, 2));
	CHECK_OK(ctx, dim_param_init_fan_in(ctx, n->b3, 8, 2));
}

/* The logits for x; NULL after a failed check. */
static dim_var *forward(dim_tape *t, struct net *n, dim_var *x)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	dim_var *h = NULL;
	if (!n->conv) {
		CHECK_OK(ctx, dim_t_linear(t, x, t_param(t, n->w1), t_param(t, n->b1), &h));
		CHECK_OK(ctx, dim_t_relu(t, h, &h));
		CHECK_OK(ctx, dim_t_linear(t, h, t_param(t, n->w2), t_param(t, n->b2), &h));
		return h;
	}
	dim_conv2d_desc d = {1, 1, 1, 1};
	CHECK_OK(ctx, dim_t_conv2d(t, &d, x, t_param(t, n->c1), NULL, &h));
	CHECK_OK(ctx, dim_t_batchnorm(t, &DIM_BATCHNORM_DEFAULTS, h, t_param(t, n->bn_w),
				      t_param(t, n->bn_b), n->bn_m, n->bn_v, &h));
	CHECK_OK(ctx, dim_t_relu(t, h, &h));
	CHECK_OK(ctx, dim_t_maxpool2d(t, &(dim_pool2d_desc){2, 2, 2, 2, 0, 0, false, false}, h,
				      &h));
	CHECK_OK(ctx, dim_t_conv2d(t, &d, h, t_param(t, n->c2), NULL, &h));
	CHECK_OK(ctx, dim_t_relu(t, h, &h));
	CHECK_OK(ctx, dim_t_global_avgpool(t, h, &h));
	CHECK_OK(ctx, dim_t_linear(t, h, t_param(t, n->w3), t_param(t, n->b3), &h));
	return h;
}

/* Train `steps` Adam steps on batches drawn from make(), then return the
 * test accuracy on 512 fresh samples (evaluation mode). */
static double train_and_test(dim_ctx *ctx, struct net *n, int feat, const int *shape, int classes,
			     void (*make)(t_rng *, int, float *, int *), int steps, float lr)
{
	t_rng rng = {77};
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "train", &t));
	dim_optim *opt;
	dim_adam_desc ad = {lr, 0.9f, 0.999f, 1e-8f, 0.0f};
	CHECK_OK(ctx, dim_adam_create(&n->ps, &ad, &opt));
	float *x = malloc((size_t)512 * feat * sizeof *x);
	int *y = malloc(512 * sizeof *y);
	dim_buf bx, by;
	CHECK_OK(ctx, dim_buf_create(ctx, (size_t)512 * feat * 4, &bx));
	CHECK_OK(ctx, dim_buf_create(ctx, 512 * 4, &by));
	unsigned chunks_after_first = 0;
	for (int s = 0; s < steps; s++) {
		make(&rng, BATCH, x, y);
		CHECK_OK(ctx, dim_write(ctx, bx, 0, x, (size_t)BATCH * feat * 4));
		CHECK_OK(ctx, dim_write(ctx, by, 0, y, BATCH * 4));
		dim_tensor xt = {.buf = dim_buf_view(bx, 0, (size_t)BATCH * feat * 4)};
		int sh[4] = {BATCH, shape[0], shape[1], shape[2]};
		dim_tensor_set_shape(&xt, shape[1] ? 4 : 2, shape[1] ? sh : (int[]){BATCH, feat});
		CHECK_OK(ctx, dim_params_zero_grad(&n->ps));
		dim_tape_begin(t, true);
		dim_var *logits = forward(t, n, t_input(t, &xt)), *loss = NULL;
		CHECK_OK(ctx, dim_t_cross_entropy(t, logits, by, &loss));
		if (!loss)
			break;
		CHECK_OK(ctx, dim_tape_backward(t, loss, 1.0f));
		CHECK_OK(ctx, dim_optim_step(opt));
		if (s == 0)
			chunks_after_first = dim_arena_chunks(dim_tape_arena(t));
	}
	CHECK_MSG(dim_arena_chunks(dim_tape_arena(t)) == chunks_after_first,
		  "device buffers were created after the first step");

	/* test in evaluation mode, one batch of 512 */
	make(&rng, 512, x, y);
	CHECK_OK(ctx, dim_write(ctx, bx, 0, x, (size_t)512 * feat * 4));
	dim_tensor xt = {.buf = bx};
	int sh[4] = {512, shape[0], shape[1], shape[2]};
	dim_tensor_set_shape(&xt, shape[1] ? 4 : 2, shape[1] ? sh : (int[]){512, feat});
	dim_tape_begin(t, false);
	dim_var *logits = forward(t, n, t_input(t, &xt));
	int correct = 0;
	if (logits) {
		float *out = malloc((size_t)512 * classes * sizeof *out);
		CHECK_OK(ctx, dim_tensor_read(ctx, &logits->val, out));
		for (int i = 0; i < 512; i++) {
			int best = 0;
			for (int k = 1; k < classes; k++)
				if (out[i * classes + k] > out[i * classes + best])
					best = k;
			correct += best == y[i];
		}
		free(out);
	}
	dim_buf_release(&bx);
	dim_buf_release(&by);
	free(x);
	free(y);
	dim_optim_destroy(opt);
	dim_tape_destroy(t);
	return correct / 512.0;
}

static dim_status no_backward(dim_tape *t, void *saved)
{
	(void)t, (void)saved;
	return DIM_OK;
}

static void tape_failures(dim_ctx *ctx)
{
	dim_params ps;
	dim_param *p;
	dim_tape *t;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "fail"));
	CHECK_OK(ctx, dim_params_add(&ps, "w", 2, (int[]){4, 6}, true, &p));
	CHECK_OK(ctx, dim_tape_create(ctx, "fail", &t));
	dim_tape_begin(t, true);
	dim_var *v = t_param(t, p), *w = v;
	/* saved data larger than a pool chunk: the node cannot be recorded, and
	 * the caller is told (it used to get the same NULL as "nothing to record") */
	dim_status st = DIM_OK;
	CHECK(dim_tape_record(t, v, no_backward, (size_t)1 << 20, &st) == NULL);
	CHECK(st == DIM_ERR_NOMEM);
	CHECK(strstr(dim_ctx_errmsg(ctx), "saved data") != NULL);
	st = DIM_OK;
	CHECK(dim_tape_record(t, v, no_backward, 16, &st) != NULL && st == DIM_OK);
	/* a view of the wrong size: DIM_ERR_ARG and no var */
	CHECK(dim_tape_view(t, v, 2, (int[]){5, 5}, &w) == DIM_ERR_ARG && !w);
	CHECK(strstr(dim_ctx_errmsg(ctx), "cannot view [4, 6] as [5, 5]") != NULL);
	/* evaluation records nothing and that is not an error */
	dim_tape_begin(t, false);
	v = t_param(t, p);
	st = DIM_OK;
	CHECK(dim_tape_record(t, v, no_backward, 16, &st) == NULL && st == DIM_OK);
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

/* x -> h1..h8 (h_k = a_k h_{k-1}), y = h8 + h4, loss = sum(y): h4's gradient
 * gets two contributions; dloss/dx = a1..a8 + a1..a4 everywhere. */
static void grad_recycling(dim_ctx *ctx)
{
	enum { n = 1 << 18 }; /* 1 MiB per tensor */
	static float host[n];
	const size_t S = (size_t)n * sizeof(float);
	const float a[8] = {1.5f, -0.5f, 2.0f, 0.75f, -1.25f, 0.5f, 1.1f, -2.0f};
	double p8 = 1, p4 = 1;
	for (int k = 0; k < 8; k++) {
		p8 *= a[k];
		if (k < 4)
			p4 *= a[k];
	}
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "recycle", &t));
	size_t cap1 = 0;
	for (int step = 0; step < 2; step++) {
		dim_tape_begin(t, true);
		dim_var *x = NULL, *h[9] = {0}, *y = NULL, *loss = NULL;
		dim_status st = dim_tape_new(t, 1, (int[]){n}, true, &x);
		for (int i = 0; i < n; i++)
			host[i] = (float)(i % 7) - 3.0f;
		if (!st)
			st = dim_write(ctx, x->val.buf, 0, host, S);
		h[0] = x;
		for (int k = 0; k < 8 && !st; k++)
			st = dim_t_scale(t, h[k], a[k], &h[k + 1]);
		if (!st)
			st = dim_t_add(t, h[8], h[4], &y);
		if (!st)
			st = dim_t_sum(t, y, &loss);
		size_t values = dim_arena_peak(dim_tape_arena(t));
		if (!st)
			st = dim_tape_backward(t, loss, 1.0f);
		if (!st)
			st = dim_read(ctx, x->grad.buf, 0, host, S);
		CHECK_MSG(st == DIM_OK, "step %d: %s", step, dim_ctx_errmsg(ctx));
		if (st)
			break;
		int bad = 0;
		for (int i = 0; i < n; i++)
			bad += fabs(host[i] - (p8 + p4)) > 1e-4 * fabs(p8 + p4);
		CHECK_MSG(bad == 0, "step %d: %d of %d input gradients are not %g (e.g. %g)", step,
			  bad, n, p8 + p4, host[0]);
		/* without recycling the 10 gradients (x, h1..h8, y) would need
		 * 10 MiB on top of the values; with it x's and at most 3 more */
		size_t peak = dim_arena_peak(dim_tape_arena(t));
		CHECK_MSG(peak - values <= 4 * S + 4096,
			  "gradients took %.1f MiB of the tape's arena (values %.1f MiB)",
			  (double)(peak - values) / 1048576.0, (double)values / 1048576.0);
		if (step == 0)
			cap1 = dim_arena_capacity(dim_tape_arena(t));
		else
			CHECK_MSG(dim_arena_capacity(dim_tape_arena(t)) == cap1,
				  "the arena grew on the second step (%zu -> %zu bytes)", cap1,
				  dim_arena_capacity(dim_tape_arena(t)));
	}
	dim_tape_destroy(t);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	struct net mlp, cnn;

	tape_failures(ctx);
	grad_recycling(ctx);

	build(ctx, &mlp, 0);
	double acc = train_and_test(ctx, &mlp, 7, (int[]){7, 0, 0}, 3, blobs, 150, 1e-2f);
	printf("MLP on 3 Gaussian blobs: test accuracy %.1f%%\n", 100 * acc);
	CHECK_MSG(acc >= 0.95, "MLP accuracy %.3f", acc);
	dim_params_free(&mlp.ps);

	build(ctx, &cnn, 1);
	acc = train_and_test(ctx, &cnn, 81, (int[]){1, 9, 9}, 2, bars, 200, 1e-2f);
	printf("convnet on horizontal/vertical bars: test accuracy %.1f%%\n", 100 * acc);
	CHECK_MSG(acc >= 0.95, "convnet accuracy %.3f", acc);
	dim_params_free(&cnn.ps);

	dim_ctx_destroy(ctx);
	return T_RESULT();
}
