/* Element-wise activations (see op_activation.h; kernels in
 * cl/activation.cl). One launch per call; a work-item handles a float16
 * chunk on CPU devices, one element on GPUs. */
#include <stdio.h>

#include "cldim/op_activation.h"

#define PROG "activation"

bool dim_act_saves_output(dim_act kind)
{
	return kind == DIM_ACT_RELU || kind == DIM_ACT_SIGMOID || kind == DIM_ACT_TANH;
}

const char *dim_act_name(dim_act kind)
{
	static const char *names[] = {"relu", "leaky_relu", "sigmoid", "tanh", "softplus"};
	return (unsigned)kind < 5 ? names[kind] : "?";
}

static dim_status check(dim_ctx *ctx, const char *who, const dim_act_desc *d,
			const dim_tensor *a, const dim_tensor *b)
{
	dim_error *err = dim_ctx_error(ctx);
	if (!d || (unsigned)d->kind > DIM_ACT_SOFTPLUS)
		return dim_fail(err, DIM_ERR_ARG, "%s: unknown activation", who);
	if (!a || !b)
		return dim_fail(err, DIM_ERR_ARG, "%s: missing tensor", who);
	if (dim_tensor_numel(a) != dim_tensor_numel(b))
		return dim_fail(err, DIM_ERR_ARG, "%s: %zu vs %zu elements", who,
				dim_tensor_numel(a), dim_tensor_numel(b));
	if (dim_tensor_numel(a) > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: too large for 32-bit indexing", who);
	return DIM_OK;
}

/* Elements per work-item: a float16 on CPU devices, one on GPUs. */
static int chunk(const dim_ctx *ctx) { return dim_ctx_vec16(ctx) ? 16 : 1; }

/* cl/activation.cl built for this activation kind and chunk. */
static dim_status kind_kernel(dim_ctx *ctx, const dim_act_desc *d, const char *name,
			      dim_kernel **k)
{
	char opts[32];
	snprintf(opts, sizeof opts, "-DKIND=%d -DCHUNK=%d", (int)d->kind, chunk(ctx));
	return dim_kernel_get(ctx, PROG, opts, name, k);
}

dim_status dim_activation_forward(dim_ctx *ctx, const dim_act_desc *d, const dim_tensor *y,
				  const dim_tensor *x)
{
	dim_status st = check(ctx, "activation forward", d, y, x);
	if (st)
		return st;
	dim_kernel *k;
	st = kind_kernel(ctx, d, "activation_forward", &k);
	if (st)
		return st;
	size_t n = dim_tensor_numel(x);
	return DIM_LAUNCH_1D(ctx, k, (n + chunk(ctx) - 1) / chunk(ctx), DIM_INT(n), DIM_FLOAT(d->slope), DIM_TBUF(y),
			     DIM_TBUF(x));
}

dim_status dim_activation_backward(dim_ctx *ctx, const dim_act_desc *d, const dim_tensor *dx,
				   int accumulate, const dim_tensor *dy, const dim_tensor *x,
				   const dim_tensor *y)
{
	if (!dx)
		return DIM_OK;
	const dim_tensor *saved = d && dim_act_saves_output(d->kind) ? y : x;
	dim_status st = check(ctx, "activation backward", d, dx, dy);
	if (!st)
		st = check(ctx, dim_act_saves_output(d->kind) ? "activation backward (y)"
							       : "activation backward (x)",
			   d, dx, saved);
	if (st)
		return st;
	dim_kernel *k;
	st = kind_kernel(ctx, d, "activation_backward", &k);
	if (st)
		return st;
	size_t n = dim_tensor_numel(dx);
	return DIM_LAUNCH_1D(ctx, k, (n + chunk(ctx) - 1) / chunk(ctx), DIM_INT(n), DIM_FLOAT(d->slope),
			     DIM_INT(accumulate != 0), DIM_TBUF(dx), DIM_TBUF(dy),
			     DIM_TBUF(saved));
}
