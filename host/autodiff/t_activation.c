/* Tape wrappers for the activations (see op_activation.h). */
#include "cldim/tape_ops.h"

struct act_saved {
	dim_act_desc desc;
	dim_var *y, *x;
};

static dim_status act_backward(dim_tape *t, void *saved)
{
	struct act_saved *s = saved;
	int acc = 0;
	dim_tensor *dx = dim_tape_grad(t, s->x, &acc);
	if (!dx)
		return DIM_OK;
	return dim_activation_backward(dim_tape_ctx(t), &s->desc, dx, acc, &s->y->grad,
				       &s->x->val, &s->y->val);
}

dim_status dim_t_activation(dim_tape *t, const dim_act_desc *d, dim_var *x, dim_var **out)
{
	*out = NULL;
	if (!x || !d)
		return dim_fail(dim_ctx_error(dim_tape_ctx(t)), DIM_ERR_ARG,
				"dim_t_activation: no input");
	dim_var *y;
	dim_status st = dim_tape_new(t, x->val.ndim, x->val.shape, x->needs_grad, &y);
	if (!st)
		st = dim_activation_forward(dim_tape_ctx(t), d, &y->val, &x->val);
	struct act_saved *s = st ? NULL : dim_tape_record(t, y, act_backward, sizeof *s, &st);
	if (st)
		return st;
	if (s)
		*s = (struct act_saved){*d, y, x};
	*out = y;
	return DIM_OK;
}

dim_status dim_t_relu(dim_tape *t, dim_var *x, dim_var **out)
{
	return dim_t_activation(t, &(dim_act_desc){DIM_ACT_RELU, 0.0f}, x, out);
}

dim_status dim_t_leaky_relu(dim_tape *t, dim_var *x, float slope, dim_var **out)
{
	return dim_t_activation(t, &(dim_act_desc){DIM_ACT_LEAKY_RELU, slope}, x, out);
}

dim_status dim_t_sigmoid(dim_tape *t, dim_var *x, dim_var **out)
{
	return dim_t_activation(t, &(dim_act_desc){DIM_ACT_SIGMOID, 0.0f}, x, out);
}

dim_status dim_t_tanh(dim_tape *t, dim_var *x, dim_var **out)
{
	return dim_t_activation(t, &(dim_act_desc){DIM_ACT_TANH, 0.0f}, x, out);
}

dim_status dim_t_softplus(dim_tape *t, dim_var *x, dim_var **out)
{
	return dim_t_activation(t, &(dim_act_desc){DIM_ACT_SOFTPLUS, 0.0f}, x, out);
}
