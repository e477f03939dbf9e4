/* cldim — layer 3: the autodiff tape.
 *
 * In training, each op wrapper (dim_t_*, cldim/tape_ops.h) computes its forward
 * through the raw op (include/cldim/op_*.h), allocates its output in the tape's activation
 * arena, and records a node: a backward function plus a small host struct of
 * what backward needs (vars and scalars). dim_tape_backward walks the nodes in
 * reverse. Shapes are fixed for a run, so the first step sizes the arena and
 * dim_tape_begin rewinds it: later steps allocate no device memory.
 *
 * Gradient contract (docs/design.md): parameter gradients accumulate (+=), only
 * dim_params_zero_grad clears them. A var used by several consumers gets the
 * sum of their gradients: a backward function asks dim_tape_grad for the
 * gradient tensor of each input and is told whether to write (=, first
 * contribution) or accumulate (+=, later ones); raw ops take that flag. */
#ifndef CLDIM_AUTODIFF_H
#define CLDIM_AUTODIFF_H

#include "cldim/params.h"
#include "cldim/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_tape dim_tape;

typedef struct dim_var {
	dim_tensor val;
	dim_tensor grad;    /* valid once grad_ready (or always, for params) */
	bool needs_grad;    /* some parameter upstream: gradient flows here */
	bool grad_ready;    /* grad holds at least one contribution */
	dim_param *param;   /* non-NULL for a parameter leaf */
} dim_var;

/* A node's backward: reads out->grad (ready), writes its inputs' grads. */
typedef dim_status (*dim_backward_fn)(dim_tape *t, void *saved);

dim_status dim_tape_create(dim_ctx *ctx, const char *name, dim_tape **out);
void dim_tape_destroy(dim_tape *t);

/* Start a step: forget all nodes and vars, rewind the arena. training=false
 * records nothing (evaluation / extraction). */
void dim_tape_begin(dim_tape *t, bool training);
bool dim_tape_training(const dim_tape *t);
dim_ctx *dim_tape_ctx(dim_tape *t);
/* Arena for activations and op scratch; rewound by dim_tape_begin. */
dim_arena *dim_tape_arena(dim_tape *t);

/* Every function that makes a var returns a status and the var through
 * *out (NULL on failure, with the message in the tape's context); so do the
 * op wrappers dim_t_* (cldim/tape_ops.h). */

/* Leaves. An input has no gradient; a parameter's gradient is its param grad. */
dim_status dim_tape_input(dim_tape *t, const dim_tensor *x, dim_var **out);
dim_status dim_tape_param(dim_tape *t, dim_param *p, dim_var **out);
/* A fresh var with a new tensor in the arena; needs_grad as given. */
dim_status dim_tape_new(dim_tape *t, int ndim, const int *shape, bool needs_grad,
			dim_var **out);
/* A var that views another var's memory with a new shape (reshape/flatten);
 * its gradient is the source's gradient viewed the same way. */
dim_status dim_tape_view(dim_tape *t, dim_var *src, int ndim, const int *shape,
			 dim_var **out);

/* Record a node whose output is `out`. Returns zeroed host storage of
 * saved_bytes for the backward's data (valid until the next begin), or NULL
 * when nothing needs recording (not training, or out needs no grad). When the
 * node cannot be recorded (out of host memory) it sets *st and returns NULL;
 * *st is left alone otherwise. */
void *dim_tape_record(dim_tape *t, dim_var *out, dim_backward_fn fn, size_t saved_bytes,
		      dim_status *st);

/* For backward functions: the gradient tensor of input v to write into.
 * Returns NULL when v needs no gradient. *accumulate = 0 for the first
 * contribution (write), 1 after (add). Parameters always accumulate. */
dim_tensor *dim_tape_grad(dim_tape *t, dim_var *v, int *accumulate);

/* For inputs that a raw op always adds into (weights, biases): the gradient
 * of v, zero-filled first when this is its first contribution, so the op can
 * accumulate either way. NULL when v (may be NULL) needs no gradient; a
 * failure sets *st and returns NULL. */
dim_tensor *dim_tape_grad_accum(dim_tape *t, dim_var *v, dim_status *st);

/* Backward from a scalar var (grad seeded with `seed`, usually 1). Once the
 * first node that produced a var has run backward, that var's gradient buffer
 * is recycled for later gradients: afterwards only the gradients of params
 * and of vars no node produced (inputs, dim_tape_new leaves) are readable. */
dim_status dim_tape_backward(dim_tape *t, dim_var *loss, float seed);

/* Peak bytes of the activation arena so far (for the memory plan). */
size_t dim_tape_arena_bytes(const dim_tape *t);

#ifdef __cplusplus
}
#endif
#endif
