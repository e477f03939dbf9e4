/* Batch normalisation (see op_batchnorm.h; kernels in cl/batchnorm.cl).
 * forward:  bn_forward_stats (training) | bn_eval_stats, then bn_forward_apply
 * backward: bn_backward_reduce (dgamma, dbeta, sums), then bn_backward_dx */
#include "cldim/op_batchnorm.h"

#define PROG "batchnorm"

struct bn_shape {
	int N, C, S;
	size_t total;
};

static int is_vec(const dim_tensor *t, int C)
{
	return t->ndim == 1 && t->shape[0] == C;
}

static dim_status check_shapes(dim_ctx *ctx, const char *who, const dim_batchnorm_desc *d,
			       const dim_tensor *y, const dim_tensor *x, const dim_tensor *weight,
			       const dim_tensor *bias, const dim_tensor *mean,
			       const dim_tensor *rstd, struct bn_shape *s)
{
	dim_error *err = dim_ctx_error(ctx);
	char a[64];
	if (!d || !x || !y || !mean || !rstd || x->ndim < 2 || x->ndim > 4)
		return dim_fail(err, DIM_ERR_ARG, "%s: x must be [N, C], [N, C, L] or [N, C, H, W]",
				who);
	s->N = x->shape[0];
	s->C = x->shape[1];
	s->S = 1;
	for (int i = 2; i < x->ndim; i++)
		s->S *= x->shape[i];
	s->total = dim_tensor_numel(x);
	if (s->total == 0 || s->total > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: bad input size %s", who,
				dim_shape_str(x->ndim, x->shape, a, sizeof a));
	if (dim_tensor_numel(y) != s->total)
		return dim_fail(err, DIM_ERR_ARG, "%s: output/gradient size differs from x", who);
	if ((weight && !is_vec(weight, s->C)) || (bias && !is_vec(bias, s->C)) ||
	    !is_vec(mean, s->C) || !is_vec(rstd, s->C))
		return dim_fail(err, DIM_ERR_ARG, "%s: per-channel tensors must be [%d]", who, s->C);
	if (d->training && (size_t)s->N * s->S < 2)
		return dim_fail(err, DIM_ERR_ARG,
				"%s: training needs more than 1 value per channel (input %s)", who,
				dim_shape_str(x->ndim, x->shape, a, sizeof a));
	return DIM_OK;
}

/* Power-of-two work-group size for the per-channel reductions. */
static size_t reduce_local(const dim_kernel *k, size_t m)
{
	size_t cap = dim_kernel_max_wg(k) < 256 ? dim_kernel_max_wg(k) : 256, local = 1;
	while (local * 2 <= cap && local < m)
		local *= 2;
	return local;
}

/* Rows layout (S == 1) with enough rows: the two-step column reduction of
 * cl/batchnorm.cl (contiguous reads) instead of one work-group per channel. */
static int rows_path(const struct bn_shape *s) { return s->S == 1 && s->N >= 256; }

/* Rows layout with whole float16 vectors of channels: the *_rows element
 * kernels. */
static int rows_vec(dim_ctx *ctx, const struct bn_shape *s)
{
	return dim_ctx_vec16(ctx) && s->S == 1 && s->C % 16 == 0;
}

/* Channel planes (S > 1) of whole float16 vectors: the *_planes element
 * kernels. */
static int planes_vec(dim_ctx *ctx, const struct bn_shape *s)
{
	return dim_ctx_vec16(ctx) && s->S > 1 && s->S % 16 == 0;
}

/* Any shape on float16 devices (after rows_path, which takes S == 1 with
 * many rows): the per-channel *_planes reductions, one work-item per channel
 * (a plane's last S % 16 summed as scalars; S == 1 is all tail, and
 * neighbouring work-items read neighbouring channels). The work-group tree
 * they replace cost basic28's 14x14 and 7x7 maps (S = 196, 49) 8 ms of a
 * 250 ms step on PoCL, and three times that on Intel's runtime, which runs
 * barrier regions as loops over the work-items. */
static int planes_reduce(dim_ctx *ctx, const struct bn_shape *s)
{
	(void)s;
	return dim_ctx_vec16(ctx);
}


static int rows_chunks(int R) { return R / 64 < 1 ? 1 : R / 64 > 64 ? 64 : R / 64; }

static dim_status rows_partial(dim_ctx *ctx, const struct bn_shape *s, int mode, dim_buf x,
			       dim_buf dy, dim_buf mean, dim_buf rstd, dim_buf part, int P)
{
	dim_kernel *k;
	dim_status st = dim_kernel_get(ctx, PROG, NULL, "bn_rows_partial", &k);
	if (st)
		return st;
	int stream = dim_ctx_vec16(ctx);
	size_t vecs = stream ? 1 : ((size_t)s->C + 15) / 16;
	size_t global[2] = {vecs, (size_t)P}, local[2] = {dim_local_pow2(vecs, 16), 1};
	return DIM_LAUNCH(ctx, k, 2, global, local, DIM_BUF(x), DIM_BUF(dy), DIM_BUF(mean),
			  DIM_BUF(rstd), DIM_BUF(part), DIM_INT(s->N), DIM_INT(s->C), DIM_INT(P),
			  DIM_INT(mode), DIM_INT(stream));
}

static dim_status rows_finish(dim_ctx *ctx, const struct bn_shape *s, int stage, dim_buf part,
			      int P, dim_buf mean, dim_buf rstd, dim_buf rm, dim_buf rv,
			      dim_buf sums, dim_buf dg, dim_buf db, const dim_batchnorm_desc *d,
			      int flags)
{
	dim_kernel *k;
	dim_status st = dim_kernel_get(ctx, PROG, NULL, "bn_rows_finish", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)s->C, DIM_BUF(part), DIM_BUF(mean), DIM_BUF(rstd),
			     DIM_BUF(rm), DIM_BUF(rv), DIM_BUF(sums), DIM_BUF(dg), DIM_BUF(db),
			     DIM_INT(s->N), DIM_INT(s->C), DIM_INT(P), DIM_INT(stage),
			     DIM_FLOAT(d ? d->eps : 0.0f), DIM_FLOAT(d ? d->momentum : 0.0f),
			     DIM_INT(flags));
}

dim_status dim_batchnorm_forward(dim_ctx *ctx, const dim_batchnorm_desc *d, const dim_tensor *y,
				 const dim_tensor *save_mean, const dim_tensor *save_rstd,
				 const dim_tensor *running_mean, const dim_tensor *running_var,
				 const dim_tensor *x, const dim_tensor *weight,
				 const dim_tensor *bias)
{
	struct bn_shape s;
	dim_status st = check_shapes(ctx, "batchnorm forward", d, y, x, weight, bias, save_mean,
				     save_rstd, &s);
	if (st)
		return st;
	dim_error *err = dim_ctx_error(ctx);
	int track = running_mean && running_var;
	if ((running_mean || running_var) &&
	    (!track || !is_vec(running_mean, s.C) || !is_vec(running_var, s.C)))
		return dim_fail(err, DIM_ERR_ARG, "batchnorm forward: running stats must be [%d]",
				s.C);
	if (!d->training && !track)
		return dim_fail(err, DIM_ERR_ARG,
				"batchnorm forward: evaluation needs running statistics");
	dim_kernel *k;
	if (d->training && rows_path(&s)) {
		int P = rows_chunks(s.N);
		dim_buf part, m = save_mean->buf, r = save_rstd->buf;
		dim_buf rm = track ? running_mean->buf : m, rv = track ? running_var->buf : r;
		st = dim_ctx_scratch(ctx, (size_t)P * s.C * sizeof(float), &part);
		if (!st)
			st = rows_partial(ctx, &s, 0, x->buf, x->buf, m, r, part, P);
		if (!st)
			st = rows_finish(ctx, &s, 0, part, P, m, r, rm, rv, m, m, m, d, 0);
		if (!st)
			st = rows_partial(ctx, &s, 1, x->buf, x->buf, m, r, part, P);
		if (!st)
			st = rows_finish(ctx, &s, 1, part, P, m, r, rm, rv, m, m, m, d, track);
	} else if (d->training && planes_reduce(ctx, &s)) {
		dim_buf rm = track ? running_mean->buf : save_mean->buf;
		dim_buf rv = track ? running_var->buf : save_rstd->buf;
		st = dim_kernel_get(ctx, PROG, NULL, "bn_stats_planes", &k);
		if (!st)
			st = DIM_LAUNCH_1D(ctx, k, (size_t)s.C, DIM_BUF(x->buf),
					   DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
					   DIM_BUF(rm), DIM_BUF(rv), DIM_INT(s.N), DIM_INT(s.C),
					   DIM_INT(s.S), DIM_FLOAT(d->eps), DIM_FLOAT(d->momentum),
					   DIM_INT(track));
	} else if (d->training) {
		st = dim_kernel_get(ctx, PROG, NULL, "bn_forward_stats", &k);
		if (st)
			return st;
		size_t local = reduce_local(k, (size_t)s.N * s.S), global = (size_t)s.C * local;
		dim_buf rm = track ? running_mean->buf : save_mean->buf;
		dim_buf rv = track ? running_var->buf : save_rstd->buf;
		st = DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_BUF(x->buf), DIM_BUF(save_mean->buf),
				DIM_BUF(save_rstd->buf), DIM_BUF(rm), DIM_BUF(rv), DIM_INT(s.N),
				DIM_INT(s.C), DIM_INT(s.S), DIM_FLOAT(d->eps),
				DIM_FLOAT(d->momentum), DIM_INT(track),
				DIM_LOCAL(local * sizeof(float)));
	} else {
		st = dim_kernel_get(ctx, PROG, NULL, "bn_eval_stats", &k);
		if (!st)
			st = DIM_LAUNCH_1D(ctx, k, s.C, DIM_BUF(save_mean->buf),
					   DIM_BUF(save_rstd->buf), DIM_BUF(running_mean->buf),
					   DIM_BUF(running_var->buf), DIM_INT(s.C),
					   DIM_FLOAT(d->eps));
	}
	if (!st && rows_vec(ctx, &s)) {
		size_t global[2] = {(size_t)s.C / 16, (size_t)s.N}, local[2] = {dim_local_pow2((size_t)s.C / 16, 16), 1};
		st = dim_kernel_get(ctx, PROG, NULL, "bn_forward_apply_rows", &k);
		if (st)
			return st;
		return DIM_LAUNCH(ctx, k, 2, global, local, DIM_BUF(y->buf), DIM_BUF(x->buf),
				  DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
				  DIM_BUF(weight ? weight->buf : x->buf),
				  DIM_BUF(bias ? bias->buf : x->buf), DIM_INT(s.C),
				  DIM_INT(weight != NULL), DIM_INT(bias != NULL));
	}
	if (!st && planes_vec(ctx, &s)) {
		size_t global[3] = {(size_t)s.S / 16, (size_t)s.C, (size_t)s.N};
		size_t local[3] = {dim_local_pow2((size_t)s.S / 16, 16), 1, 1};
		st = dim_kernel_get(ctx, PROG, NULL, "bn_apply_planes", &k);
		if (st)
			return st;
		return DIM_LAUNCH(ctx, k, 3, global, local, DIM_BUF(y->buf), DIM_BUF(x->buf),
				  DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
				  DIM_BUF(weight ? weight->buf : x->buf),
				  DIM_BUF(bias ? bias->buf : x->buf), DIM_INT(s.C), DIM_INT(s.S),
				  DIM_INT(weight != NULL), DIM_INT(bias != NULL));
	}
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "bn_forward_apply", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, s.total, DIM_BUF(y->buf), DIM_BUF(x->buf),
			     DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
			     DIM_BUF(weight ? weight->buf : x->buf), DIM_BUF(bias ? bias->buf : x->buf),
			     DIM_INT(s.total), DIM_INT(s.C), DIM_INT(s.S), DIM_INT(weight != NULL),
			     DIM_INT(bias != NULL));
}

dim_status dim_batchnorm_backward(dim_ctx *ctx, const dim_batchnorm_desc *d, dim_arena *ws,
				  const dim_tensor *dx, int accumulate, const dim_tensor *dweight,
				  const dim_tensor *dbias, const dim_tensor *dy,
				  const dim_tensor *x, const dim_tensor *weight,
				  const dim_tensor *save_mean, const dim_tensor *save_rstd)
{
	struct bn_shape s;
	dim_status st = check_shapes(ctx, "batchnorm backward", d, dy, x, weight, NULL, save_mean,
				     save_rstd, &s);
	if (st)
		return st;
	if ((dx && dim_tensor_numel(dx) != s.total) || (dweight && !is_vec(dweight, s.C)) ||
	    (dbias && !is_vec(dbias, s.C)))
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"batchnorm backward: gradient shapes do not match");
	int need_sums = dx && d->training;
	dim_buf sums = save_mean->buf; /* unread unless need_sums */
	dim_kernel *k;
	if ((dweight || dbias || need_sums) && rows_path(&s)) {
		int P = rows_chunks(s.N);
		dim_buf part;
		st = dim_arena_alloc(ws, 2 * (size_t)s.C * sizeof(float), &sums);
		if (!st)
			st = dim_ctx_scratch(ctx, 2 * (size_t)P * s.C * sizeof(float), &part);
		if (!st)
			st = rows_partial(ctx, &s, 2, x->buf, dy->buf, save_mean->buf,
					  save_rstd->buf, part, P);
		if (!st)
			st = rows_finish(ctx, &s, 2, part, P, sums, sums, sums, sums, sums,
					 dweight ? dweight->buf : sums, dbias ? dbias->buf : sums,
					 NULL, (dweight != NULL) | (dbias != NULL) << 1);
		if (st)
			return st;
	} else if ((dweight || dbias || need_sums) && planes_reduce(ctx, &s)) {
		st = dim_arena_alloc(ws, 2 * (size_t)s.C * sizeof(float), &sums);
		if (!st)
			st = dim_kernel_get(ctx, PROG, NULL, "bn_reduce_planes", &k);
		if (!st)
			st = DIM_LAUNCH_1D(ctx, k, (size_t)s.C, DIM_BUF(dy->buf), DIM_BUF(x->buf),
					   DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
					   DIM_BUF(sums), DIM_BUF(dweight ? dweight->buf : sums),
					   DIM_BUF(dbias ? dbias->buf : sums), DIM_INT(s.N),
					   DIM_INT(s.C), DIM_INT(s.S), DIM_INT(dweight != NULL),
					   DIM_INT(dbias != NULL));
		if (st)
			return st;
	} else if (dweight || dbias || need_sums) {
		st = dim_arena_alloc(ws, 2 * (size_t)s.C * sizeof(float), &sums);
		if (!st)
			st = dim_kernel_get(ctx, PROG, NULL, "bn_backward_reduce", &k);
		if (st)
			return st;
		size_t local = reduce_local(k, (size_t)s.N * s.S), global = (size_t)s.C * local;
		st = DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_BUF(dy->buf), DIM_BUF(x->buf),
				DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf), DIM_BUF(sums),
				DIM_BUF(dweight ? dweight->buf : sums),
				DIM_BUF(dbias ? dbias->buf : sums), DIM_INT(s.N), DIM_INT(s.C),
				DIM_INT(s.S), DIM_INT(dweight != NULL), DIM_INT(dbias != NULL),
				DIM_LOCAL(local * sizeof(float)));
		if (st)
			return st;
	}
	if (!dx)
		return DIM_OK;
	if (rows_vec(ctx, &s)) {
		size_t global[2] = {(size_t)s.C / 16, (size_t)s.N}, local[2] = {dim_local_pow2((size_t)s.C / 16, 16), 1};
		st = dim_kernel_get(ctx, PROG, NULL, "bn_backward_dx_rows", &k);
		if (st)
			return st;
		return DIM_LAUNCH(ctx, k, 2, global, local, DIM_BUF(dx->buf), DIM_BUF(dy->buf),
				  DIM_BUF(x->buf), DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
				  DIM_BUF(weight ? weight->buf : x->buf), DIM_BUF(sums), DIM_INT(s.N),
				  DIM_INT(s.C), DIM_INT(weight != NULL), DIM_INT(d->training),
				  DIM_INT(accumulate));
	}
	if (planes_vec(ctx, &s)) {
		size_t global[3] = {(size_t)s.S / 16, (size_t)s.C, (size_t)s.N};
		size_t local[3] = {dim_local_pow2((size_t)s.S / 16, 16), 1, 1};
		st = dim_kernel_get(ctx, PROG, NULL, "bn_dx_planes", &k);
		if (st)
			return st;
		return DIM_LAUNCH(ctx, k, 3, global, local, DIM_BUF(dx->buf), DIM_BUF(dy->buf),
				  DIM_BUF(x->buf), DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
				  DIM_BUF(weight ? weight->buf : x->buf), DIM_BUF(sums), DIM_INT(s.N),
				  DIM_INT(s.C), DIM_INT(s.S), DIM_INT(weight != NULL),
				  DIM_INT(d->training), DIM_INT(accumulate));
	}
	st = dim_kernel_get(ctx, PROG, NULL, "bn_backward_dx", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, s.total, DIM_BUF(dx->buf), DIM_BUF(dy->buf), DIM_BUF(x->buf),
			     DIM_BUF(save_mean->buf), DIM_BUF(save_rstd->buf),
			     DIM_BUF(weight ? weight->buf : x->buf), DIM_BUF(sums), DIM_INT(s.N),
			     DIM_INT(s.C), DIM_INT(s.S), DIM_INT(weight != NULL),
			     DIM_INT(d->training), DIM_INT(accumulate));
}
