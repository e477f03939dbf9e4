/* Adam and SGD over a list of (value, gradient) tensors (see op_optim.h;
 * kernels in cl/optim.cl).
 *
 * At creation the tensors are cut into spans: a run of tensors whose
 * values share one cl_mem, whose gradients share one cl_mem,
 * with the same (value offset - gradient offset) and increasing offsets. The
 * span [first value, end of last value) then maps element-for-element onto
 * the gradient arena, and onto one state buffer per slot that the optimizer
 * allocates with the same layout. A step is one launch per span. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/op_optim.h"

#define PROG "optim"

enum { KIND_ADAM, KIND_SGD };

struct span {
	dim_buf value, grad; /* views covering the span */
	dim_buf state[2];    /* same layout as value */
	size_t n;            /* floats */
};

struct dim_optim {
	dim_ctx *ctx;
	dim_optim_var *vars;
	int nvars;
	int kind, slots;
	dim_adam_desc adam;
	dim_sgd_desc sgd;
	long t;
	struct span *spans;
	int nspans;
	int *span_of;        /* per var: its span, -1 when empty */
	dim_arena *state;
};

dim_status dim_adam_update(dim_ctx *ctx, const dim_adam_desc *d, long t, dim_buf param,
			   dim_buf grad, dim_buf m, dim_buf v, size_t n)
{
	if (t < 1 || n > (size_t)0x7fffffff)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "adam: step %ld, %zu elements", t,
				n);
	/* a float16 chunk per work-item on CPUs, one element on GPUs (cl/optim.cl) */
	const size_t chunk = dim_ctx_vec16(ctx) ? 16 : 1;
	dim_kernel *k;
	dim_status st = dim_kernel_get(ctx, PROG, chunk == 16 ? "-DCHUNK=16" : "-DCHUNK=1",
				       "optim_adam", &k);
	if (st)
		return st;
	double bc1 = 1.0 - pow(d->beta1, (double)t);
	double bc2 = 1.0 - pow(d->beta2, (double)t);
	return DIM_LAUNCH_1D(ctx, k, (n + chunk - 1) / chunk, DIM_INT(n), DIM_BUF(param), DIM_BUF(grad), DIM_BUF(m),
			     DIM_BUF(v), DIM_FLOAT(d->beta1), DIM_FLOAT(1.0 - d->beta1),
			     DIM_FLOAT(d->beta2), DIM_FLOAT(1.0 - d->beta2),
			     DIM_FLOAT(d->eps), DIM_FLOAT(d->weight_decay),
			     DIM_FLOAT(d->lr / bc1), DIM_FLOAT(sqrt(bc2)));
}

dim_status dim_sgd_update(dim_ctx *ctx, const dim_sgd_desc *d, dim_buf param, dim_buf grad,
			  dim_buf momentum_buf, size_t n)
{
	if (n > (size_t)0x7fffffff)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "sgd: %zu elements", n);
	dim_kernel *k;
	dim_status st = dim_kernel_get(ctx, PROG, NULL, "optim_sgd", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, n, DIM_INT(n), DIM_BUF(param), DIM_BUF(grad),
			     DIM_BUF(momentum_buf.mem ? momentum_buf : param), DIM_FLOAT(d->lr),
			     DIM_FLOAT(d->momentum), DIM_FLOAT(d->weight_decay));
}

/* Can var p extend span s (whose last var ends at value byte `end`)? */
static bool extends(const struct span *s, size_t end, const dim_optim_var *p)
{
	const dim_buf *v = &p->value.buf, *g = &p->grad.buf;
	return v->mem == s->value.mem && g->mem == s->grad.mem && v->off >= end &&
	       v->off - s->value.off == g->off - s->grad.off;
}

static dim_status plan(dim_optim *o)
{
	dim_error *err = dim_ctx_error(o->ctx);
	o->spans = calloc((size_t)o->nvars + 1, sizeof *o->spans);
	o->span_of = calloc((size_t)o->nvars + 1, sizeof *o->span_of);
	if (!o->spans || !o->span_of)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	size_t end = 0;
	for (int i = 0; i < o->nvars; i++) {
		const dim_optim_var *p = &o->vars[i];
		o->span_of[i] = -1;
		if (!dim_tensor_numel(&p->value))
			continue;
		struct span *s = o->nspans ? &o->spans[o->nspans - 1] : NULL;
		if (!s || !extends(s, end, p)) {
			s = &o->spans[o->nspans++];
			s->value = p->value.buf;
			s->grad = p->grad.buf;
		}
		end = p->value.buf.off + dim_tensor_numel(&p->value) * sizeof(float);
		s->value.bytes = end - s->value.off;
		s->grad.bytes = s->value.bytes;
		s->n = s->value.bytes / sizeof(float);
		o->span_of[i] = o->nspans - 1;
	}
	dim_status st = dim_arena_create(o->ctx, "optimizer", 0, &o->state);
	for (int i = 0; !st && i < o->nspans; i++)
		for (int k = 0; !st && k < o->slots; k++) {
			st = dim_arena_alloc(o->state, o->spans[i].value.bytes, &o->spans[i].state[k]);
			if (!st)
				st = dim_fill_f32(o->ctx, o->spans[i].state[k], 0.0f);
		}
	return st;
}

static dim_status create(dim_ctx *ctx, const dim_optim_var *vars, int n, int kind,
			 dim_optim **out)
{
	dim_error *err = dim_ctx_error(ctx);
	*out = NULL;
	if (n < 0 || (n > 0 && !vars))
		return dim_fail(err, DIM_ERR_ARG, "optimizer: %d tensors", n);
	for (int i = 0; i < n; i++)
		if (dim_tensor_numel(&vars[i].value) != dim_tensor_numel(&vars[i].grad))
			return dim_fail(err, DIM_ERR_ARG, "optimizer: tensor %d has %zu values "
					"but %zu gradients", i, dim_tensor_numel(&vars[i].value),
					dim_tensor_numel(&vars[i].grad));
	dim_optim *o = calloc(1, sizeof *o);
	if (!o)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	o->ctx = ctx;
	o->kind = kind;
	o->slots = kind == KIND_ADAM ? 2 : 1;
	o->vars = malloc(((size_t)n + 1) * sizeof *o->vars);
	dim_status st = o->vars ? DIM_OK : dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	if (!st) {
		if (n)
			memcpy(o->vars, vars, (size_t)n * sizeof *vars);
		o->nvars = n;
		st = plan(o);
	}
	if (st) {
		dim_optim_destroy(o);
		return st;
	}
	*out = o;
	return DIM_OK;
}

dim_status dim_adam_create_vars(dim_ctx *ctx, const dim_optim_var *vars, int n,
				const dim_adam_desc *d, dim_optim **out)
{
	if (!d || !(d->lr >= 0) || !(d->beta1 >= 0 && d->beta1 < 1) ||
	    !(d->beta2 >= 0 && d->beta2 < 1) || !(d->eps >= 0) || !(d->weight_decay >= 0))
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"adam: need lr, eps, weight_decay >= 0 and betas in [0, 1)");
	dim_status st = create(ctx, vars, n, KIND_ADAM, out);
	if (!st)
		(*out)->adam = *d;
	return st;
}

dim_status dim_sgd_create_vars(dim_ctx *ctx, const dim_optim_var *vars, int n,
			       const dim_sgd_desc *d, dim_optim **out)
{
	if (!d || !(d->lr >= 0) || !(d->momentum >= 0) || !(d->weight_decay >= 0))
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"sgd: need lr, momentum, weight_decay >= 0");
	dim_status st = create(ctx, vars, n, KIND_SGD, out);
	if (!st)
		(*out)->sgd = *d;
	return st;
}

void dim_optim_destroy(dim_optim *o)
{
	if (!o)
		return;
	dim_arena_destroy(o->state);
	free(o->vars);
	free(o->spans);
	free(o->span_of);
	free(o);
}

dim_status dim_optim_step(dim_optim *o)
{
	long t = o->t + 1;
	for (int i = 0; i < o->nspans; i++) {
		const struct span *s = &o->spans[i];
		dim_status st = o->kind == KIND_ADAM ?
			dim_adam_update(o->ctx, &o->adam, t, s->value, s->grad, s->state[0],
					s->state[1], s->n) :
			dim_sgd_update(o->ctx, &o->sgd, s->value, s->grad, s->state[0], s->n);
		if (st)
			return st;
	}
	o->t = t;
	return DIM_OK;
}

void dim_optim_set_lr(dim_optim *o, double lr)
{
	if (o->kind == KIND_ADAM)
		o->adam.lr = lr;
	else
		o->sgd.lr = lr;
}

double dim_optim_lr(const dim_optim *o) { return o->kind == KIND_ADAM ? o->adam.lr : o->sgd.lr; }
dim_ctx *dim_optim_ctx(const dim_optim *o) { return o->ctx; }
long dim_optim_steps(const dim_optim *o) { return o->t; }
void dim_optim_set_steps(dim_optim *o, long t) { o->t = t; }
int dim_optim_launches(const dim_optim *o) { return o->nspans; }
int dim_optim_state_slots(const dim_optim *o) { return o->slots; }

int dim_optim_var_index(const dim_optim *o, const dim_tensor *value)
{
	for (int i = 0; i < o->nvars; i++) {
		const dim_buf *b = &o->vars[i].value.buf;
		if (b->mem == value->buf.mem && b->off == value->buf.off &&
		    dim_tensor_numel(&o->vars[i].value) == dim_tensor_numel(value))
			return i;
	}
	return -1;
}

dim_status dim_optim_var_state(const dim_optim *o, int i, int slot, dim_tensor *out)
{
	if (i < 0 || i >= o->nvars || o->span_of[i] < 0 || slot < 0 || slot >= o->slots)
		return dim_fail(dim_ctx_error(o->ctx), DIM_ERR_ARG,
				"optimizer state: tensor %d of %d, slot %d of %d (or an empty "
				"tensor, which has no state)", i, o->nvars, slot, o->slots);
	const dim_tensor *v = &o->vars[i].value;
	const struct span *s = &o->spans[o->span_of[i]];
	*out = *v;
	out->buf = dim_buf_view(s->state[slot], v->buf.off - s->value.off,
				dim_tensor_numel(v) * sizeof(float));
	return DIM_OK;
}
