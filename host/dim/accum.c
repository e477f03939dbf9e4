/* Gradient accumulation over micro-batches (dim_train_step_accum).
 *
 * One optimizer step over `micro` slices of the batch: each slice runs the
 * whole forward/backward on its own (batch-norm statistics, in-batch
 * negatives, prior samples), and the gradients are summed on the device into
 * a mirror of every trainable gradient, then scaled 1/micro:
 *
 *   sum  = g_0                      (micro-batch 0)
 *   sum += g_a                      (0 < a < micro-1)
 *   grad = (g_last + sum) / micro   (the last one, then hook + optimizers)
 *
 * This is what `micro` data-parallel replicas compute after an averaging
 * allreduce, which is why the MPI test uses it as the one-process reference. */
#include <stdlib.h>

#include "cldim/op_tensor.h"
#include "dim_internal.h"

struct dim_grad_accum {
	dim_arena *arena;
	dim_tensor *sum; /* one per trainable parameter: params, then prior_params */
	dim_tensor **grad;
	int n;
};

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

static dim_status accum_create(dim_model *m)
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

static void metrics_add(dim_step_metrics *sum, const dim_step_metrics *v, float w)
{
	sum->local += w * v->local;
	sum->global += w * v->global;
	sum->prior_enc += w * v->prior_enc;
	sum->prior_disc += w * v->prior_disc;
	sum->total += w * v->total;
	sum->mi_local += w * v->mi_local;
	sum->mi_global += w * v->mi_global;
}

dim_status dim_train_step_accum(dim_model *m, const dim_tensor *x, int micro,
				dim_step_metrics *out)
{
	if (micro == 1)
		return dim_train_step(m, x, out);
	dim_error *err = dim_ctx_error(m->ctx);
	int N = x->shape[0];
	if (x->ndim != 4 || micro < 1 || N % micro || N / micro < 2)
		return dim_fail(err, DIM_ERR_ARG, "gradient accumulation: a batch of %d does not "
				"split into %d micro-batches of at least 2 images", N, micro);
	dim_status st = m->accum ? DIM_OK : accum_create(m);
	if (st) {
		dim_model_accum_free(m);
		return st;
	}
	struct dim_grad_accum *a = m->accum;
	size_t slice = dim_tensor_numel(x) / (size_t)micro * sizeof(float);
	dim_tensor xs = *x;
	xs.shape[0] = N / micro;
	dim_step_metrics mean = {0}, mt;
	for (int k = 0; k < micro; k++) {
		xs.buf = dim_buf_view(x->buf, (size_t)k * slice, slice);
		st = dim_model_forward_backward(m, &xs, NULL, &mt);
		if (st)
			return st; /* no update applied */
		metrics_add(&mean, &mt, 1.0f / (float)micro);
		for (int i = 0; i < a->n && !st; i++) {
			const dim_tensor *g = a->grad[i], *s = &a->sum[i];
			if (k == 0)
				st = dim_copy(m->ctx, s->buf, g->buf, g->buf.bytes);
			else if (k < micro - 1)
				st = dim_add_scaled(m->ctx, s, g, 1.0f);
			else if (!(st = dim_add_scaled(m->ctx, g, s, 1.0f)))
				st = dim_scale_forward(m->ctx, g, g, 1.0f / (float)micro);
		}
		if (st)
			return st;
	}
	*out = mean;
	return dim_model_apply_grads(m);
}
