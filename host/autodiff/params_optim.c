/* The optimizers of op_optim.h over a parameter group (see params.h): the
 * trainable parameters become the optimizer's (value, gradient) list, in the
 * group's order. */
#include <stdlib.h>

#include "cldim/params.h"

static dim_status create(dim_params *ps, const dim_adam_desc *adam, const dim_sgd_desc *sgd,
			 dim_optim **out)
{
	*out = NULL;
	dim_optim_var *vars = malloc(((size_t)ps->count + 1) * sizeof *vars);
	if (!vars)
		return dim_fail(dim_ctx_error(ps->ctx), DIM_ERR_NOMEM, "out of host memory");
	int n = 0;
	for (int i = 0; i < ps->count; i++)
		if (ps->items[i]->trainable)
			vars[n++] = (dim_optim_var){ps->items[i]->value, ps->items[i]->grad};
	dim_status st = adam ? dim_adam_create_vars(ps->ctx, vars, n, adam, out) :
			       dim_sgd_create_vars(ps->ctx, vars, n, sgd, out);
	free(vars);
	return st;
}

dim_status dim_adam_create(dim_params *ps, const dim_adam_desc *d, dim_optim **out)
{
	return create(ps, d, NULL, out);
}

dim_status dim_sgd_create(dim_params *ps, const dim_sgd_desc *d, dim_optim **out)
{
	return create(ps, NULL, d, out);
}

dim_status dim_optim_state(const dim_optim *o, const dim_param *p, int slot, dim_tensor *out)
{
	int i = p->trainable && dim_tensor_numel(&p->value) ?
		dim_optim_var_index(o, &p->value) : -1;
	if (i < 0 || slot < 0 || slot >= dim_optim_state_slots(o))
		return dim_fail(dim_ctx_error(dim_optim_ctx(o)), DIM_ERR_ARG,
				"optimizer state: '%s' is not a trainable parameter of this group, "
				"or slot %d does not exist", p->name, slot);
	return dim_optim_var_state(o, i, slot, out);
}
