/* The DIM training step (see include/cldim/dim.h): one batch goes down
 * through the objective (objective.c: forward and backward of every term) and
 * comes back here for the gradient hook and the two optimizers. With
 * gradient accumulation (dim_train_step_accum) the batch is cut into `micro`
 * slices, each running the whole forward/backward on its own (batch-norm
 * statistics, in-batch negatives, prior samples), and the gradients are
 * summed on the device into a mirror of every trainable gradient, then
 * scaled 1/micro:
 *
 *   sum  = g_0                      (micro-batch 0)
 *   sum += g_a                      (0 < a < micro-1)
 *   grad = (g_last + sum) / micro   (the last one, then hook + optimizers)
 *
 * This is what `micro` data-parallel replicas compute after an averaging
 * allreduce, which is why the MPI test uses it as the one-process reference. */
#include "cldim/op_tensor.h"
#include "dim_internal.h"

/* The way back up: the gradient hook, then both optimizers; counts the step. */
static dim_status apply_grads(dim_model *m)
{
	dim_status st = m->grad_hook ? m->grad_hook(m->grad_hook_user, m) : DIM_OK;
	if (st)
		return st;
	int prev = dim_profile_set_phase(m->ctx, m->ph_opt);
	st = dim_optim_step(m->opt);
	if (!st && m->cfg.gamma > 0) /* gamma 0: the discriminator is not trained */
		st = dim_optim_step(m->prior_opt);
	dim_profile_set_phase(m->ctx, prev);
	if (!st)
		m->step++;
	return st;
}

dim_status dim_train_step(dim_model *m, const dim_tensor *x, dim_step_metrics *out)
{
	dim_status st = dim_model_forward_backward(m, x, NULL, out);
	if (st)
		return st; /* includes a non-finite loss: no update was applied */
	return apply_grads(m);
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
	dim_status st = m->accum ? DIM_OK : dim_model_accum_create(m);
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
	return apply_grads(m);
}
