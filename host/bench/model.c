/* Model-level measurements for `cldim bench` (include/cldim/bench.h): the
 * encoder's convolutions forward/backward, the MI estimator kernels on the
 * local score shape, a whole DIM training step and extraction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/bench.h"
#include "cldim/op_conv.h"

typedef dim_status (*bench_fn)(void *arg);

/* Warm-up calls excluded; each repeat waits for the device. */
static dim_status time_fn(dim_ctx *ctx, bench_fn fn, void *arg, int warmup, int reps,
			  dim_timing *out)
{
	double *s = calloc((size_t)(reps > 0 ? reps : 1), sizeof *s);
	dim_status st = s ? DIM_OK : dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of memory");
	for (int r = -warmup; !st && r < reps; r++) {
		st = dim_finish(ctx);
		double t0 = dim_now();
		if (!st)
			st = fn(arg);
		if (!st)
			st = dim_finish(ctx);
		if (!st && r >= 0)
			s[r] = dim_now() - t0;
	}
	if (!st)
		*out = dim_timing_from(s, reps);
	free(s);
	return st;
}

/* Deterministic pseudo-random values in [-1, 1) (the values do not matter
 * for timing, only that they are not degenerate). */
static dim_status fill_random(dim_ctx *ctx, const dim_tensor *t, uint64_t seed)
{
	size_t n = dim_tensor_numel(t);
	float *h = malloc(n * sizeof *h);
	if (!h)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		h[i] = (float)((double)(s >> 40) / (double)(1u << 23) - 1.0);
	}
	dim_status st = dim_tensor_write(ctx, t, h);
	free(h);
	return st;
}

/* ------------------------------------------------------------ convolutions */

struct conv_arg {
	dim_ctx *ctx;
	dim_arena *ws;
	dim_conv2d_desc d;
	dim_tensor x, w, y, dy, dx, dw;
};

static dim_status conv_fwd(void *p)
{
	struct conv_arg *a = p;
	dim_arena_mark m = dim_arena_get_mark(a->ws);
	dim_status st = dim_conv2d_forward(a->ctx, &a->d, a->ws, &a->y, &a->x, &a->w, NULL);
	if (!st)
		st = dim_finish(a->ctx); /* scratch is reused right away */
	dim_arena_reset(a->ws, m);
	return st;
}

static dim_status conv_bwd(void *p)
{
	struct conv_arg *a = p;
	dim_arena_mark m = dim_arena_get_mark(a->ws);
	dim_status st = dim_conv2d_backward(a->ctx, &a->d, a->ws, &a->dx, 0, &a->dw, NULL, &a->dy,
					    &a->x, &a->w);
	if (!st)
		st = dim_finish(a->ctx);
	dim_arena_reset(a->ws, m);
	return st;
}

dim_status dim_bench_conv(dim_ctx *ctx, const dim_encoder *e, int batch, int warmup, int reps,
			  dim_bench_conv_result *out, int max, int *n)
{
	dim_arena *data = NULL, *ws = NULL;
	dim_status st = dim_arena_create(ctx, "bench-conv", (size_t)64 << 20, &data);
	if (!st)
		st = dim_arena_create(ctx, "bench-conv-ws", (size_t)64 << 20, &ws);
	*n = 0;
	for (int i = 0; !st && i < e->nlayers && *n < max; i++) {
		const dim_enc_layer *l = &e->layers[i];
		if (!l->is_conv)
			continue;
		struct conv_arg a = {.ctx = ctx, .ws = ws,
				     .d = {l->stride, l->stride, l->pad, l->pad}};
		int oh = dim_conv2d_out_size(l->in_h, l->k, l->stride, l->pad);
		int ow = dim_conv2d_out_size(l->in_w, l->k, l->stride, l->pad);
		dim_arena_mark m = dim_arena_get_mark(data);
		st = dim_tensor_alloc(data, 4, (int[]){batch, l->in_c, l->in_h, l->in_w}, &a.x);
		if (!st)
			st = dim_tensor_alloc(data, 4, (int[]){l->out, l->in_c, l->k, l->k}, &a.w);
		if (!st)
			st = dim_tensor_alloc(data, 4, (int[]){batch, l->out, oh, ow}, &a.y);
		if (!st)
			st = dim_tensor_alloc(data, 4, (int[]){batch, l->out, oh, ow}, &a.dy);
		if (!st)
			st = dim_tensor_alloc(data, 4, (int[]){batch, l->in_c, l->in_h, l->in_w}, &a.dx);
		if (!st)
			st = dim_tensor_alloc(data, 4, (int[]){l->out, l->in_c, l->k, l->k}, &a.dw);
		if (!st)
			st = fill_random(ctx, &a.x, 1);
		if (!st)
			st = fill_random(ctx, &a.w, 2);
		if (!st)
			st = fill_random(ctx, &a.dy, 3);
		if (!st)
			st = dim_fill_f32(ctx, a.dw.buf, 0.0f);
		dim_bench_conv_result *r = &out[*n];
		memset(r, 0, sizeof *r);
		snprintf(r->shape, sizeof r->shape, "N=%d C=%d %dx%d -> O=%d %dx%d k%d s%d p%d", batch,
			 l->in_c, l->in_h, l->in_w, l->out, oh, ow, l->k, l->stride, l->pad);
		r->layer = i;
		r->flops_fwd = 2.0 * batch * l->out * oh * ow * (double)l->in_c * l->k * l->k;
		r->flops_bwd = 2.0 * r->flops_fwd; /* dX and dW */
		if (!st)
			st = time_fn(ctx, conv_fwd, &a, warmup, reps, &r->fwd);
		if (!st)
			st = time_fn(ctx, conv_bwd, &a, warmup, reps, &r->bwd);
		dim_arena_reset(data, m);
		if (!st)
			(*n)++;
	}
	dim_arena_destroy(ws);
	dim_arena_destroy(data);
	return st;
}

/* ------------------------------------------------------------ MI kernels */

struct mi_arg {
	dim_ctx *ctx;
	dim_arena *ws;
	dim_mi_kind kind;
	int N, L;
	dim_buf S, dS, loss, gloss;
	dim_mi_saved saved;
	dim_arena_mark mark;
};

static dim_status mi_fwd(void *p)
{
	struct mi_arg *a = p;
	dim_arena_reset(a->ws, a->mark);
	return dim_mi_forward(a->ctx, a->kind, a->N, a->L, a->loss, NULL, a->S, &a->saved, a->ws);
}

static dim_status mi_bwd(void *p)
{
	struct mi_arg *a = p;
	return dim_mi_backward(a->ctx, a->kind, a->N, a->L, a->dS, 0, a->S, a->gloss, &a->saved);
}

dim_status dim_bench_mi(dim_ctx *ctx, dim_mi_kind kind, int N, int L, int warmup, int reps,
			dim_timing *fwd, dim_timing *bwd)
{
	struct mi_arg a = {.ctx = ctx, .kind = kind, .N = N, .L = L};
	size_t n = (size_t)N * N * L;
	dim_arena *data = NULL;
	dim_tensor S;
	dim_status st = dim_arena_create(ctx, "bench-mi", 2 * n * 4 + ((size_t)1 << 20), &data);
	if (!st)
		st = dim_arena_create(ctx, "bench-mi-ws", (size_t)1 << 20, &a.ws);
	if (!st)
		st = dim_tensor_alloc(data, 1, (int[]){(int)n}, &S);
	if (!st)
		st = dim_arena_alloc(data, n * 4, &a.dS);
	if (!st)
		st = dim_arena_alloc(data, 4, &a.loss);
	if (!st)
		st = dim_arena_alloc(data, 4, &a.gloss);
	if (!st)
		st = fill_random(ctx, &S, 4);
	if (!st)
		st = dim_fill_f32(ctx, a.gloss, 1.0f);
	if (st)
		goto out_destroy;
	a.S = S.buf;
	a.mark = dim_arena_get_mark(a.ws);
	st = time_fn(ctx, mi_fwd, &a, warmup, reps, fwd);
	if (!st)
		st = time_fn(ctx, mi_bwd, &a, warmup, reps, bwd);
out_destroy:
	dim_arena_destroy(a.ws);
	dim_arena_destroy(data);
	return st;
}

/* ------------------------------------------------------------ step, extraction */

struct step_arg {
	dim_model *m;
	dim_tensor x;
	dim_tape *tape;
};

static dim_status step_once(void *p)
{
	struct step_arg *a = p;
	dim_step_metrics metrics;
	return dim_train_step(a->m, &a->x, &metrics);
}

static dim_status extract_once(void *p)
{
	struct step_arg *a = p;
	dim_tape_begin(a->tape, false);
	dim_var *xv;
	dim_encoder_out eo;
	dim_status st = dim_tape_input(a->tape, &a->x, &xv);
	return st ? st : dim_encoder_forward(a->tape, dim_model_encoder(a->m), xv, &eo);
}

/* A "Vm...:  N kB" line of /proc/self/status in MiB; -1 where unreadable. */
static double proc_status_mib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double v = -1;
	size_t n = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtod(line + n + 1, NULL) / 1024.0;
			break;
		}
	fclose(f);
	return v;
}

/* Reset the peak RSS (VmHWM) to the current RSS; false where not supported. */
static bool rss_peak_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (!f)
		return false;
	bool ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok;
}

dim_status dim_bench_step(dim_ctx *ctx, const dim_config *cfg, int batch, int warmup, int reps,
			  dim_bench_step_result *out)
{
	struct step_arg a = {0};
	dim_arena *data = NULL;
	memset(out, 0, sizeof *out);
	bool hwm = rss_peak_reset();
	out->rss_base_mib = proc_status_mib("VmRSS");
	size_t dev_peak = 0;
	dim_device_mem_peak_reset();
	double t0 = dim_now();
	dim_status st = dim_model_create(ctx, cfg, &a.m);
	if (!st)
		st = dim_tape_create(ctx, "bench-extract", &a.tape);
	const dim_encoder *e = a.m ? dim_model_encoder(a.m) : NULL;
	size_t xbytes = e ? (size_t)batch * e->in_channels * e->input_size * e->input_size * 4 : 0;
	if (!st)
		st = dim_arena_create(ctx, "bench-batch", xbytes + 4096, &data);
	if (!st)
		st = dim_tensor_alloc(data, 4,
				      (int[]){batch, e->in_channels, e->input_size, e->input_size},
				      &a.x);
	if (!st)
		st = fill_random(ctx, &a.x, 5);
	if (!st)
		st = step_once(&a); /* the first step builds every kernel */
	if (!st)
		st = dim_finish(ctx);
	out->first_step_s = dim_now() - t0;
	if (!st && warmup > 1)
		st = time_fn(ctx, step_once, &a, warmup - 1, 0, &out->step);
	if (!st)
		st = time_fn(ctx, step_once, &a, 0, reps, &out->step);
	out->rss_peak_mib = hwm ? proc_status_mib("VmHWM") : -1;
	dim_device_mem_stats(NULL, &dev_peak);
	out->device_peak_mib = (double)dev_peak / 1048576.0;
	if (!st)
		st = time_fn(ctx, extract_once, &a, warmup, reps, &out->extract);
	if (!st) {
		out->train_img_s = batch / out->step.median_s;
		out->extract_img_s = batch / out->extract.median_s;
	}
	dim_arena_destroy(data);
	dim_tape_destroy(a.tape);
	dim_model_destroy(a.m);
	return st;
}
