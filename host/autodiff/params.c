/* Named parameters, counter-based RNG and PyTorch-style initialisation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/params.h"

dim_status dim_params_init(dim_params *ps, dim_ctx *ctx, const char *name)
{
	memset(ps, 0, sizeof *ps);
	ps->ctx = ctx;
	char n[64];
	snprintf(n, sizeof n, "%s.values", name);
	dim_status st = dim_arena_create(ctx, n, (size_t)16 << 20, &ps->values);
	if (st)
		return st;
	snprintf(n, sizeof n, "%s.grads", name);
	st = dim_arena_create(ctx, n, (size_t)16 << 20, &ps->grads);
	if (st) {
		dim_arena_destroy(ps->values);
		ps->values = NULL;
	}
	return st;
}

void dim_params_free(dim_params *ps)
{
	if (!ps)
		return;
	for (int i = 0; i < ps->count; i++)
		free(ps->items[i]);
	free(ps->items);
	dim_arena_destroy(ps->values);
	dim_arena_destroy(ps->grads);
	memset(ps, 0, sizeof *ps);
}

dim_status dim_params_add(dim_params *ps, const char *name, int ndim, const int *shape,
			  bool trainable, dim_param **out)
{
	dim_error *err = dim_ctx_error(ps->ctx);
	if (dim_params_find(ps, name))
		return dim_fail(err, DIM_ERR_ARG, "parameter '%s' defined twice", name);
	if (strlen(name) >= sizeof((dim_param *)0)->name)
		return dim_fail(err, DIM_ERR_ARG, "parameter name too long: %s", name);
	if (ps->count == ps->cap) {
		int cap = ps->cap ? ps->cap * 2 : 32;
		dim_param **g = realloc(ps->items, (size_t)cap * sizeof *g);
		if (!g)
			return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
		ps->items = g;
		ps->cap = cap;
	}
	dim_param *p = calloc(1, sizeof *p);
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	snprintf(p->name, sizeof p->name, "%s", name);
	p->trainable = trainable;
	dim_status st = dim_tensor_alloc(ps->values, ndim, shape, &p->value);
	if (!st && trainable)
		st = dim_tensor_alloc(ps->grads, ndim, shape, &p->grad);
	if (!st)
		st = dim_fill_f32(ps->ctx, p->value.buf, 0.0f);
	if (!st && trainable)
		st = dim_fill_f32(ps->ctx, p->grad.buf, 0.0f);
	if (st) {
		free(p);
		return st;
	}
	ps->items[ps->count++] = p;
	if (out)
		*out = p;
	return DIM_OK;
}

dim_param *dim_params_find(const dim_params *ps, const char *name)
{
	for (int i = 0; i < ps->count; i++)
		if (!strcmp(ps->items[i]->name, name))
			return ps->items[i];
	return NULL;
}

size_t dim_params_numel(const dim_params *ps, bool trainable_only)
{
	size_t n = 0;
	for (int i = 0; i < ps->count; i++)
		if (!trainable_only || ps->items[i]->trainable)
			n += dim_tensor_numel(&ps->items[i]->value);
	return n;
}

dim_status dim_params_zero_grad(dim_params *ps)
{
	for (int i = 0; i < ps->count; i++)
		if (ps->items[i]->trainable) {
			dim_status st = dim_fill_f32(ps->ctx, ps->items[i]->grad.buf, 0.0f);
			if (st)
				return st;
		}
	return DIM_OK;
}

/* Stream for a parameter: its name, so adding a parameter elsewhere in a model
 * does not change the initial values of the others. */
static uint64_t name_stream(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h;
}

static dim_status init_host(dim_ctx *ctx, dim_param *p, int kind, float a, float b,
			    uint64_t seed)
{
	size_t n = dim_tensor_numel(&p->value);
	float *x = malloc(n * sizeof *x + 1);
	if (!x)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
	uint64_t s = name_stream(p->name);
	for (size_t i = 0; i < n; i++) {
		if (kind == 0)
			x[i] = (float)(a + (b - a) * dim_rng_uniform(seed, s, i));
		else if (kind == 1)
			x[i] = (float)(a + b * dim_rng_normal(seed, s, i));
		else
			x[i] = a;
	}
	dim_status st = dim_tensor_write(ctx, &p->value, x);
	free(x);
	return st;
}

dim_status dim_param_init_uniform(dim_ctx *ctx, dim_param *p, float lo, float hi, uint64_t seed)
{
	return init_host(ctx, p, 0, lo, hi, seed);
}

dim_status dim_param_init_normal(dim_ctx *ctx, dim_param *p, float mean, float std, uint64_t seed)
{
	return init_host(ctx, p, 1, mean, std, seed);
}

dim_status dim_param_init_const(dim_ctx *ctx, dim_param *p, float value)
{
	return dim_fill_f32(ctx, p->value.buf, value);
}

dim_status dim_param_init_fan_in(dim_ctx *ctx, dim_param *p, int fan_in, uint64_t seed)
{
	float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
	return init_host(ctx, p, 0, -bound, bound, seed);
}

dim_status dim_param_get(dim_ctx *ctx, const dim_param *p, float *dst)
{
	return dim_tensor_read(ctx, &p->value, dst);
}

dim_status dim_param_set(dim_ctx *ctx, dim_param *p, const float *src)
{
	return dim_tensor_write(ctx, &p->value, src);
}
