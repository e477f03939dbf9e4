/* Log-softmax + cross-entropy (see op_loss.h; kernels in cl/loss.cl).
 * forward:  loss_xent_rows (logp, per-row nll) -> loss_xent_reduce mode 0
 * backward: loss_xent_reduce mode 1 (dloss / count) -> loss_xent_backward */
#include "cldim/op_loss.h"

#define PROG "loss"

static dim_status check(dim_ctx *ctx, const char *who, const dim_tensor *loss,
			const dim_tensor *logp, const dim_tensor *x, dim_buf labels)
{
	dim_error *err = dim_ctx_error(ctx);
	if (!x || !logp || x->ndim != 2 || logp->ndim != 2 || x->shape[0] != logp->shape[0] ||
	    x->shape[1] != logp->shape[1] || x->shape[0] < 1 || x->shape[1] < 1)
		return dim_fail(err, DIM_ERR_ARG, "%s: need [N, K] logits and logp of one shape", who);
	if (!loss || dim_tensor_numel(loss) != 1)
		return dim_fail(err, DIM_ERR_ARG, "%s: the loss has one element", who);
	if (!labels.mem || labels.bytes < (size_t)x->shape[0] * sizeof(int))
		return dim_fail(err, DIM_ERR_ARG, "%s: labels need %d int32", who, x->shape[0]);
	if (dim_tensor_numel(x) > (size_t)0x7fffffff)
		return dim_fail(err, DIM_ERR_ARG, "%s: too large", who);
	return DIM_OK;
}

static dim_status reduce(dim_ctx *ctx, int N, int mode, dim_buf labels, dim_buf nll, dim_buf dloss,
			 dim_buf out)
{
	dim_kernel *k;
	dim_status st = dim_kernel_get(ctx, PROG, NULL, "loss_xent_reduce", &k);
	if (st)
		return st;
	size_t cap = dim_kernel_max_wg(k) < 256 ? dim_kernel_max_wg(k) : 256, local = 1;
	while (local * 2 <= cap && local < (size_t)N)
		local *= 2;
	return DIM_LAUNCH(ctx, k, 1, &local, &local, DIM_INT(N), DIM_INT(mode), DIM_BUF(labels),
			  DIM_BUF(nll), DIM_BUF(dloss), DIM_BUF(out),
			  DIM_LOCAL(local * sizeof(float)), DIM_LOCAL(local * sizeof(float)));
}

dim_status dim_cross_entropy_forward(dim_ctx *ctx, dim_arena *ws, const dim_tensor *loss,
				     const dim_tensor *logp, const dim_tensor *logits,
				     dim_buf labels)
{
	dim_status st = check(ctx, "cross_entropy forward", loss, logp, logits, labels);
	if (st)
		return st;
	int N = logits->shape[0], K = logits->shape[1];
	dim_buf nll;
	dim_kernel *k;
	st = dim_arena_alloc(ws, (size_t)N * sizeof(float), &nll);
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "loss_xent_rows", &k);
	if (!st)
		st = DIM_LAUNCH_1D(ctx, k, N, DIM_INT(N), DIM_INT(K), DIM_TBUF(logp), DIM_BUF(nll),
				   DIM_TBUF(logits), DIM_BUF(labels));
	if (!st)
		st = reduce(ctx, N, 0, labels, nll, nll, loss->buf);
	return st;
}

dim_status dim_cross_entropy_backward(dim_ctx *ctx, dim_arena *ws, const dim_tensor *dlogits,
				      int accumulate, const dim_tensor *dloss,
				      const dim_tensor *logp, dim_buf labels)
{
	if (!dlogits)
		return DIM_OK;
	dim_status st = check(ctx, "cross_entropy backward", dloss, logp, dlogits, labels);
	if (st)
		return st;
	int N = logp->shape[0], K = logp->shape[1];
	dim_buf scale;
	dim_kernel *k;
	st = dim_arena_alloc(ws, sizeof(float), &scale);
	if (!st)
		st = reduce(ctx, N, 1, labels, scale, dloss->buf, scale);
	if (!st)
		st = dim_kernel_get(ctx, PROG, NULL, "loss_xent_backward", &k);
	if (!st)
		st = DIM_LAUNCH_1D(ctx, k, (size_t)N * K, DIM_INT(N), DIM_INT(K),
				   DIM_INT(accumulate != 0), DIM_TBUF(dlogits), DIM_TBUF(logp),
				   DIM_BUF(labels), DIM_BUF(scale));
	return st;
}
