/* The autodiff tape (see include/cldim/autodiff.h).
 *
 * Vars and saved node data live in host pools made of fixed chunks, so
 * pointers stay valid while a step runs; dim_tape_begin rewinds the pools and
 * the device arena without freeing them.
 *
 * Gradient buffers are recycled during the backward pass: the gradient of a
 * var is read only by the backward of the nodes that produced it (or views
 * of it), so once the first such node in recording order has run backward,
 * its buffer goes to a free list and the next gradient that fits takes it.
 * The queue is in order, so work enqueued later on a recycled buffer runs
 * after the work that read it. A gradient's first contribution overwrites
 * (dim_tape_grad's accumulate = 0), so recycled contents never leak. Param
 * gradients, and the gradients of vars no node produced (inputs), are never
 * recycled and stay readable after dim_tape_backward; the gradients of
 * intermediate vars do not. */
#include <stdlib.h>
#include <string.h>

#include "cldim/autodiff.h"

#define POOL_CHUNK (256 * 1024)

struct pool {
	char **chunks;
	size_t nchunks, cur, used;
};

/* Zeroed, 16-byte aligned storage of n bytes; NULL when out of memory. */
static void *pool_alloc(struct pool *p, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > POOL_CHUNK)
		return NULL;
	if (p->nchunks == 0 || p->used + n > POOL_CHUNK) {
		if (p->nchunks && p->cur + 1 < p->nchunks) {
			p->cur++;
		} else {
			char **g = realloc(p->chunks, (p->nchunks + 1) * sizeof *g);
			if (!g)
				return NULL;
			p->chunks = g;
			p->chunks[p->nchunks] = malloc(POOL_CHUNK);
			if (!p->chunks[p->nchunks])
				return NULL;
			p->cur = p->nchunks++;
		}
		p->used = 0;
	}
	void *r = p->chunks[p->cur] + p->used;
	p->used += n;
	memset(r, 0, n);
	return r;
}

static void pool_rewind(struct pool *p)
{
	p->cur = 0;
	p->used = 0;
}

static void pool_free(struct pool *p)
{
	for (size_t i = 0; i < p->nchunks; i++)
		free(p->chunks[i]);
	free(p->chunks);
	memset(p, 0, sizeof *p);
}

/* dim_var first, so a dim_var* is a struct tvar*. */
struct tvar {
	dim_var v;
	struct tvar *src; /* for views: the var whose memory this views */
	size_t first_node; /* roots: 1 + the first node producing it or a view; 0: none */
	dim_buf grad_mem;  /* roots: the whole buffer behind v.grad (recycled ones may be larger) */
};


struct node {
	struct tvar *out;
	dim_backward_fn fn;
	void *saved;
	int phase; /* profiling phase current when the node was recorded */
};

struct dim_tape {
	dim_ctx *ctx;
	dim_arena *arena;
	dim_arena_mark start;
	bool training;
	struct pool vars, saved;
	struct node *nodes;
	size_t nnodes, cap;
	dim_buf *free;          /* recycled gradient buffers: pieces of the arena (backward only) */
	size_t nfree, free_cap;
	bool grad_failed; /* a gradient could not be allocated */
};

dim_status dim_tape_create(dim_ctx *ctx, const char *name, dim_tape **out)
{
	dim_tape *t = calloc(1, sizeof *t);
	if (!t)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
	t->ctx = ctx;
	dim_status st = dim_arena_create(ctx, name ? name : "activations", (size_t)64 << 20,
					 &t->arena);
	if (st) {
		free(t);
		return st;
	}
	t->start = dim_arena_get_mark(t->arena);
	t->training = true;
	*out = t;
	return DIM_OK;
}

void dim_tape_destroy(dim_tape *t)
{
	if (!t)
		return;
	dim_arena_destroy(t->arena);
	pool_free(&t->vars);
	pool_free(&t->saved);
	free(t->nodes);
	free(t->free);
	free(t);
}

void dim_tape_begin(dim_tape *t, bool training)
{
	dim_arena_reset(t->arena, t->start);
	pool_rewind(&t->vars);
	pool_rewind(&t->saved);
	t->nnodes = 0;
	t->nfree = 0;
	t->training = training;
	t->grad_failed = false;
}

bool dim_tape_training(const dim_tape *t) { return t->training; }
dim_ctx *dim_tape_ctx(dim_tape *t) { return t->ctx; }
dim_arena *dim_tape_arena(dim_tape *t) { return t->arena; }
size_t dim_tape_arena_bytes(const dim_tape *t) { return dim_arena_capacity(t->arena); }

static struct tvar *new_tvar(dim_tape *t)
{
	struct tvar *v = pool_alloc(&t->vars, sizeof *v);
	if (!v)
		dim_fail(dim_ctx_error(t->ctx), DIM_ERR_NOMEM, "out of host memory (tape vars)");
	return v;
}

dim_status dim_tape_input(dim_tape *t, const dim_tensor *x, dim_var **out)
{
	struct tvar *v = new_tvar(t);
	*out = NULL;
	if (!v)
		return DIM_ERR_NOMEM;
	v->v.val = *x;
	*out = &v->v;
	return DIM_OK;
}

dim_status dim_tape_param(dim_tape *t, dim_param *p, dim_var **out)
{
	struct tvar *v = new_tvar(t);
	*out = NULL;
	if (!v)
		return DIM_ERR_NOMEM;
	v->v.val = p->value;
	v->v.param = p;
	v->v.needs_grad = p->trainable && t->training;
	if (p->trainable) {
		v->v.grad = p->grad;
		v->v.grad_ready = true;
	}
	*out = &v->v;
	return DIM_OK;
}

dim_status dim_tape_new(dim_tape *t, int ndim, const int *shape, bool needs_grad,
			dim_var **out)
{
	struct tvar *v = new_tvar(t);
	*out = NULL;
	if (!v)
		return DIM_ERR_NOMEM;
	dim_status st = dim_tensor_alloc(t->arena, ndim, shape, &v->v.val);
	if (st)
		return st;
	v->v.needs_grad = needs_grad && t->training;
	*out = &v->v;
	return DIM_OK;
}

static struct tvar *root_of(struct tvar *v)
{
	while (v->src)
		v = v->src;
	return v;
}

dim_status dim_tape_view(dim_tape *t, dim_var *src, int ndim, const int *shape, dim_var **out)
{
	*out = NULL;
	if (!src)
		return dim_fail(dim_ctx_error(t->ctx), DIM_ERR_ARG, "dim_tape_view: no source");
	if (dim_shape_numel(ndim, shape) != dim_tensor_numel(&src->val)) {
		char a[64], b[64];
		return dim_fail(dim_ctx_error(t->ctx), DIM_ERR_ARG, "cannot view %s as %s",
				dim_shape_str(src->val.ndim, src->val.shape, a, sizeof a),
				dim_shape_str(ndim, shape, b, sizeof b));
	}
	struct tvar *v = new_tvar(t);
	if (!v)
		return DIM_ERR_NOMEM;
	v->src = (struct tvar *)src;
	v->v.val = src->val;
	dim_tensor_set_shape(&v->v.val, ndim, shape);
	v->v.needs_grad = src->needs_grad;
	*out = &v->v;
	return DIM_OK;
}

void *dim_tape_record(dim_tape *t, dim_var *out, dim_backward_fn fn, size_t saved_bytes,
		      dim_status *st)
{
	if (!t->training || !out->needs_grad)
		return NULL;
	if (t->nnodes == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct node *g = realloc(t->nodes, cap * sizeof *g);
		if (!g) {
			*st = dim_fail(dim_ctx_error(t->ctx), DIM_ERR_NOMEM,
				       "out of host memory (tape nodes)");
			return NULL;
		}
		t->nodes = g;
		t->cap = cap;
	}
	void *saved = pool_alloc(&t->saved, saved_bytes ? saved_bytes : 1);
	if (!saved) {
		*st = dim_fail(dim_ctx_error(t->ctx), DIM_ERR_NOMEM,
			       "no room for %zu bytes of a node's saved data (at most %d)",
			       saved_bytes, POOL_CHUNK);
		return NULL;
	}
	struct tvar *root = root_of((struct tvar *)out);
	if (!root->first_node)
		root->first_node = t->nnodes + 1;
	t->nodes[t->nnodes++] =
		(struct node){(struct tvar *)out, fn, saved, dim_profile_get_phase(t->ctx)};
	return saved;
}

/* Give root a recycled buffer: the smallest free one that holds its
 * gradient. False when none fits. */
static bool grad_reuse(dim_tape *t, struct tvar *root)
{
	size_t need = dim_tensor_numel(&root->v.val) * sizeof(float), best = t->nfree;
	for (size_t i = 0; i < t->nfree; i++)
		if (t->free[i].bytes >= need &&
		    (best == t->nfree || t->free[i].bytes < t->free[best].bytes))
			best = i;
	if (best == t->nfree)
		return false;
	root->grad_mem = t->free[best];
	root->v.grad = (dim_tensor){.buf = dim_buf_view(root->grad_mem, 0, need)};
	dim_tensor_set_shape(&root->v.grad, root->v.val.ndim, root->v.val.shape);
	t->free[best] = t->free[--t->nfree];
	return true;
}

/* After the backward of node i: the gradient of its output's root is dead
 * when i is the first node that produced the root (or a view of it). */
static void grad_recycle(dim_tape *t, size_t i)
{
	struct tvar *root = root_of(t->nodes[i].out);
	if (root->first_node != i + 1 || root->v.param || !root->grad_mem.mem)
		return;
	if (t->nfree == t->free_cap) {
		size_t cap = t->free_cap ? 2 * t->free_cap : 32;
		dim_buf *g = realloc(t->free, cap * sizeof *g);
		if (!g)
			return; /* not recycled: only memory is lost, not correctness */
		t->free = g;
		t->free_cap = cap;
	}
	t->free[t->nfree++] = root->grad_mem;
}

dim_tensor *dim_tape_grad(dim_tape *t, dim_var *v, int *accumulate)
{
	struct tvar *tv = (struct tvar *)v, *root = root_of(tv);
	if (!root->v.needs_grad)
		return NULL;
	if (root->v.param) {
		*accumulate = 1;
	} else if (!root->v.grad_ready) {
		/* a buffer the tape owns (grad_mem: recycled after use) */
		if (!root->v.grad.buf.mem && !grad_reuse(t, root)) {
			if (dim_tensor_alloc(t->arena, root->v.val.ndim, root->v.val.shape,
					     &root->v.grad) != DIM_OK) {
				t->grad_failed = true;
				return NULL;
			}
			root->grad_mem = root->v.grad.buf;
		}
		root->v.grad_ready = true;
		*accumulate = 0;
	} else {
		*accumulate = 1;
	}
	if (tv != root) {
		tv->v.grad = root->v.grad;
		dim_tensor_set_shape(&tv->v.grad, tv->v.val.ndim, tv->v.val.shape);
		tv->v.grad_ready = true;
	}
	return &tv->v.grad;
}

dim_tensor *dim_tape_grad_accum(dim_tape *t, dim_var *v, dim_status *st)
{
	int acc = 1;
	dim_tensor *g = v ? dim_tape_grad(t, v, &acc) : NULL;
	if (!g && t->grad_failed)
		*st = dim_ctx_error(t->ctx)->status ? dim_ctx_error(t->ctx)->status
						    : DIM_ERR_DEVICE_MEM;
	else if (g && !acc)
		*st = dim_fill_f32(t->ctx, g->buf, 0.0f);
	return g;
}

dim_status dim_tape_backward(dim_tape *t, dim_var *loss, float seed)
{
	dim_error *err = dim_ctx_error(t->ctx);
	if (!t->training)
		return dim_fail(err, DIM_ERR_ARG, "backward on a tape recorded in eval mode");
	if (dim_tensor_numel(&loss->val) != 1)
		return dim_fail(err, DIM_ERR_ARG, "backward from a non-scalar (%zu elements)",
				dim_tensor_numel(&loss->val));
	if (!loss->needs_grad)
		return DIM_OK; /* nothing upstream to train */
	int acc;
	dim_tensor *g = dim_tape_grad(t, loss, &acc);
	if (!g)
		return dim_fail(err, DIM_ERR_DEVICE_MEM, "no memory for the loss gradient");
	dim_status st = dim_fill_f32(t->ctx, g->buf, seed);
	if (st)
		return st;
	for (size_t i = t->nnodes; i-- > 0;) {
		struct node *n = &t->nodes[i];
		if (!root_of(n->out)->v.grad_ready)
			continue; /* output does not reach the loss */
		int prev = dim_profile_set_phase(t->ctx, n->phase);
		st = n->fn(t, n->saved);
		dim_profile_set_phase(t->ctx, prev);
		if (!st && t->grad_failed)
			st = dim_fail(err, DIM_ERR_DEVICE_MEM, "no device memory for a gradient "
				      "(%s)", dim_error_text(err));
		if (st)
			return st;
		grad_recycle(t, i);
	}
	return DIM_OK;
}
