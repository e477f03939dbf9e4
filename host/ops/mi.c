/* MI estimators: JSD, InfoNCE, DV over an [N, N, L] score tensor (cl/mi.cl). */
#include <limits.h>
#include <math.h>
#include <strings.h>

#include "cldim/op_mi.h"

#define MI_WG_MAX 256 /* largest work-group a row reduction uses */

static const char *const mi_names[] = {"jsd", "nce", "dv"};
static const char *const mi_row_kernels[] = {"mi_jsd_rows", "mi_nce_rows", "mi_dv_rows"};

const char *dim_mi_name(dim_mi_kind kind)
{
	return (unsigned)kind < 3 ? mi_names[kind] : "?";
}

dim_status dim_mi_parse(const char *name, dim_mi_kind *out, dim_error *err)
{
	for (int k = 0; name && k < 3; k++)
		if (!strcasecmp(name, mi_names[k])) {
			*out = (dim_mi_kind)k;
			return DIM_OK;
		}
	return dim_fail(err, DIM_ERR_ARG, "unknown MI estimator '%s' (jsd | nce | dv)",
			name ? name : "");
}

double dim_mi_estimate(dim_mi_kind kind, int N, int L, double loss)
{
	if (kind == DIM_MI_NCE)
		return log(1.0 + (double)(N - 1) * L) - loss;
	return -loss;
}

static dim_status check(dim_ctx *ctx, const char *what, dim_mi_kind kind, int N, int L,
			size_t S_bytes)
{
	dim_error *err = dim_ctx_error(ctx);
	if ((unsigned)kind > DIM_MI_DV)
		return dim_fail(err, DIM_ERR_ARG, "%s: unknown estimator %d", what, (int)kind);
	if (N < 2)
		return dim_fail(err, DIM_ERR_ARG,
				"%s %s: needs N >= 2 (a batch of %d has no negatives)", what,
				dim_mi_name(kind), N);
	if (L < 1 || (double)N * N * L > INT_MAX)
		return dim_fail(err, DIM_ERR_ARG, "%s %s: bad shape N=%d L=%d", what,
				dim_mi_name(kind), N, L);
	if (S_bytes < (size_t)N * N * L * 4)
		return dim_fail(err, DIM_ERR_ARG,
				"%s %s: scores buffer of %zu bytes is too small for [%d, %d, %d]",
				what, dim_mi_name(kind), S_bytes, N, N, L);
	return DIM_OK;
}

/* Largest power of two <= the kernel's limit and MI_WG_MAX, no larger than
 * needed to cover a row of n elements. */
static size_t row_wg(const dim_kernel *k, size_t n)
{
	size_t cap = dim_kernel_max_wg(k), wg = 1;
	if (cap > MI_WG_MAX)
		cap = MI_WG_MAX;
	while (wg * 2 <= cap && wg < n)
		wg *= 2;
	return wg;
}

dim_status dim_mi_forward(dim_ctx *ctx, dim_mi_kind kind, int N, int L, dim_buf loss,
			  const dim_buf *mi, dim_buf S, dim_mi_saved *saved, dim_arena *ws)
{
	dim_kernel *rows_k, *fin;
	dim_buf rows;
	dim_status st = check(ctx, "mi forward", kind, N, L, S.bytes);
	if (st)
		return st;
	if (loss.bytes < 4 || (mi && mi->bytes < 4))
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"mi forward: loss and estimate need 1 float each");
	st = dim_kernel_get(ctx, "mi", NULL, mi_row_kernels[kind], &rows_k);
	if (!st)
		st = dim_kernel_get(ctx, "mi", NULL, "mi_finish", &fin);
	if (!st)
		st = dim_arena_alloc(ws, ((size_t)N + 1) * 4 * sizeof(float), &rows);
	if (st)
		return st;

	size_t wg = row_wg(rows_k, (size_t)N * L), global = (size_t)N * wg, one = 1;
	st = DIM_LAUNCH(ctx, rows_k, 1, &global, &wg, DIM_INT(N), DIM_INT(L), DIM_BUF(S),
			DIM_BUF(rows), DIM_LOCAL(wg * sizeof(float)));
	if (!st)
		st = DIM_LAUNCH(ctx, fin, 1, &one, &one, DIM_INT(kind), DIM_INT(N), DIM_INT(L),
				DIM_BUF(rows), DIM_BUF(loss), DIM_BUF(mi ? *mi : loss),
				DIM_INT(mi != NULL));
	if (st)
		return st;
	*saved = (dim_mi_saved){kind, N, L, rows};
	return DIM_OK;
}

dim_status dim_mi_backward(dim_ctx *ctx, dim_mi_kind kind, int N, int L, dim_buf dS,
			   int accumulate, dim_buf S, dim_buf gloss, const dim_mi_saved *saved)
{
	dim_kernel *k;
	dim_status st = check(ctx, "mi backward", kind, N, L, S.bytes);
	if (st)
		return st;
	if (dS.bytes < (size_t)N * N * L * 4 || gloss.bytes < 4)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"mi backward: dS needs %d floats and gloss 1", N * N * L);
	if (!saved || saved->kind != kind || saved->N != N || saved->L != L)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG,
				"mi backward %s: saved statistics are not from this forward "
				"(N=%d L=%d)", dim_mi_name(kind), N, L);
	st = dim_kernel_get(ctx, "mi", NULL, "mi_backward", &k);
	if (st)
		return st;
	return DIM_LAUNCH_1D(ctx, k, (size_t)N * N * L, DIM_INT(kind), DIM_INT(N), DIM_INT(L),
			     DIM_BUF(S), DIM_BUF(saved->rows), DIM_BUF(gloss), DIM_BUF(dS),
			     DIM_INT(accumulate));
}
