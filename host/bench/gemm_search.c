/* The CLBlast GEMM parameter search behind `cldim bench --tune`.
 *
 * CLBlast picks, per GEMM, the direct kernel (XgemmDirect, one generic kernel
 * that handles any size) when M·N·K < XGEMM_MIN_INDIRECT_SIZE³ and otherwise
 * the indirect one (pad/transpose helpers + Xgemm, which assumes tile
 * multiples). Overrides are per device and process-wide, so the search runs
 * in three stages on one context:
 *   0. every shape with CLBlast's defaults ("before");
 *   1. the switch forced to indirect (XGEMM_MIN_INDIRECT_SIZE = 0): CLBlast's
 *      default Xgemm, then Xgemm candidates (hand-picked, then random valid
 *      ones), each timed on every shape;
 *   2. the switch forced to direct (a huge threshold): XgemmDirect likewise;
 * then the (Xgemm, XgemmDirect, threshold) triple with the least total time
 * over the shapes wins, where the threshold candidates are the points that
 * split the shapes by M·N·K. Invalid combinations (CLBlast or the OpenCL
 * compiler rejects them) are counted and skipped. A candidate is abandoned
 * once its running total exceeds 1.5× the best complete total.
 *
 * The GEMMs run through dim_gemm with the context switched to CLBlast, and
 * the candidates are handed over with dim_gemm_tuning_set (runtime), so the
 * search itself never calls OpenCL or CLBlast. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/bench.h"

#define MAX_CAND 256
#define HUGE_INDIRECT ((size_t)1 << 20) /* (2^20)^3 > any M·N·K: always direct */

enum { GEMMK, KREG, KWG, KWI, MDIMA, MDIMC, MWG, NDIMB, NDIMC, NWG, SA, SB, STRM, STRN, VWM, VWN };
enum { KWID, MDIMAD, MDIMCD, NDIMBD, NDIMCD, PADA, PADB, VWMD, VWND, WGD };

struct search {
	dim_ctx *ctx;
	const dim_gemm_tune_opts *o;
	dim_buf a, b, c;
	int failed;
	char why[256]; /* the last rejection's message */
};

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t pick(uint64_t *s, const size_t *v, int n) { return v[next_rand(s) % (uint64_t)n]; }

static int xgemm_valid(const size_t *p, const dim_device_info *d)
{
	size_t wg = p[MDIMC] * p[NDIMC];
	if (wg > d->max_wg || wg % p[MDIMA] || wg % p[NDIMB])
		return 0;
	if (p[KWG] % p[KWI] || p[MWG] % (p[MDIMC] * p[VWM]) || p[NWG] % (p[NDIMC] * p[VWN]) ||
	    p[MWG] % (p[MDIMA] * p[VWM]) || p[NWG] % (p[NDIMB] * p[VWN]) ||
	    p[KWG] % (wg / p[MDIMA]) || p[KWG] % (wg / p[NDIMB]))
		return 0;
	size_t local = 4 * p[KWG] * (p[SA] * p[MWG] + p[SB] * p[NWG]);
	return local <= d->local_mem;
}

static int direct_valid(const size_t *p, const dim_device_info *d)
{
	size_t wg = p[MDIMCD] * p[NDIMCD];
	if (wg > d->max_wg || wg % p[MDIMAD] || wg % p[NDIMBD])
		return 0;
	if (p[WGD] % p[KWID] || p[WGD] % (p[MDIMCD] * p[VWMD]) ||
	    p[WGD] % (p[NDIMCD] * p[VWND]) || p[WGD] % (p[MDIMAD] * p[VWMD]) ||
	    p[WGD] % (p[NDIMBD] * p[VWND]) || p[WGD] % (wg / p[MDIMAD]) ||
	    p[WGD] % (wg / p[NDIMBD]))
		return 0;
	size_t local = 4 * 2 * p[WGD] * (p[WGD] + (p[PADA] | p[PADB]));
	return local <= d->local_mem;
}

/* Hand-picked first (square-ish tiles with the vector widths CPUs and GPUs
 * like), then random draws from CLBlast's tuner ranges. */
static int xgemm_candidate(int i, uint64_t *rng, size_t *p)
{
	static const size_t hand[][DIM_XGEMM_NPARAMS] = {
		/* GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN */
		{0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},
		{0, 1, 32, 2, 8, 8, 32, 8, 8, 64, 0, 0, 0, 0, 4, 8},
		{0, 1, 16, 2, 8, 8, 64, 16, 16, 128, 0, 0, 0, 0, 8, 8},
		{0, 1, 32, 2, 16, 16, 128, 16, 16, 128, 1, 1, 0, 0, 4, 4},
		{0, 1, 32, 8, 8, 8, 64, 8, 8, 64, 1, 1, 1, 1, 2, 2},
		{0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 1, 1},
	};
	int nh = (int)(sizeof hand / sizeof hand[0]);
	if (i < nh) {
		memcpy(p, hand[i], sizeof hand[i]);
		return 1;
	}
	static const size_t tile[] = {16, 32, 64, 128}, kwg[] = {16, 32}, dim[] = {8, 16, 32},
			    kwi[] = {2, 8}, vw[] = {1, 2, 4, 8}, bit[] = {0, 1};
	p[GEMMK] = 0;
	p[KREG] = 1;
	p[KWG] = pick(rng, kwg, 2);
	p[KWI] = pick(rng, kwi, 2);
	p[MDIMA] = pick(rng, dim, 3);
	p[MDIMC] = pick(rng, dim, 3);
	p[MWG] = pick(rng, tile, 4);
	p[NDIMB] = pick(rng, dim, 3);
	p[NDIMC] = pick(rng, dim, 3);
	p[NWG] = pick(rng, tile, 4);
	p[SA] = pick(rng, bit, 2);
	p[SB] = pick(rng, bit, 2);
	p[STRM] = pick(rng, bit, 2);
	p[STRN] = pick(rng, bit, 2);
	p[VWM] = pick(rng, vw, 4);
	p[VWN] = pick(rng, vw, 4);
	return 1;
}

static int direct_candidate(int i, uint64_t *rng, size_t *p)
{
	static const size_t hand[][DIM_XGEMM_DIRECT_NPARAMS] = {
		/* KWID MDIMAD MDIMCD NDIMBD NDIMCD PADA PADB VWMD VWND WGD */
		{2, 8, 8, 8, 8, 1, 1, 4, 4, 32},
		{8, 16, 16, 16, 16, 1, 1, 4, 4, 64},
		{2, 8, 8, 8, 8, 1, 1, 2, 2, 16},
		{8, 8, 8, 8, 8, 0, 0, 8, 8, 64},
	};
	int nh = (int)(sizeof hand / sizeof hand[0]);
	if (i < nh) {
		memcpy(p, hand[i], sizeof hand[i]);
		return 1;
	}
	static const size_t wgd[] = {8, 16, 32, 64}, dim[] = {8, 16, 32}, kwid[] = {2, 8, 16},
			    vw[] = {1, 2, 4, 8}, bit[] = {0, 1};
	p[KWID] = pick(rng, kwid, 3);
	p[MDIMAD] = pick(rng, dim, 3);
	p[MDIMCD] = pick(rng, dim, 3);
	p[NDIMBD] = pick(rng, dim, 3);
	p[NDIMCD] = pick(rng, dim, 3);
	p[PADA] = pick(rng, bit, 2);
	p[PADB] = pick(rng, bit, 2);
	p[VWMD] = pick(rng, vw, 4);
	p[VWND] = pick(rng, vw, 4);
	p[WGD] = pick(rng, wgd, 4);
	return 1;
}

/* A failed GEMM or override: keep its message for the progress line and
 * clear the context's error (a rejected candidate is not a failure). */
static int rejected(struct search *S, dim_status st)
{
	snprintf(S->why, sizeof S->why, "%s", dim_ctx_errmsg(S->ctx));
	dim_error_clear(dim_ctx_error(S->ctx));
	return st ? -(int)st : -1;
}

/* One GEMM of shape g through CLBlast, waited for; 0 or a rejection (< 0). */
static int run_one(struct search *S, const dim_gemm_shape *g)
{
	dim_ctx *ctx = S->ctx;
	size_t M = (size_t)g->M, N = (size_t)g->N, K = (size_t)g->K;
	size_t lda = g->ta ? M : K, ldb = g->tb ? K : N;
	dim_status st = dim_gemm(ctx, g->ta ? DIM_TRANS : DIM_NO_TRANS,
				 g->tb ? DIM_TRANS : DIM_NO_TRANS, M, N, K, 1.0f, S->a, lda, S->b,
				 ldb, 0.0f, S->c, N);
	if (!st)
		st = dim_finish(ctx);
	return st ? rejected(S, st) : 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median seconds per shape into t[]; returns 0, a rejection (< 0), or 1 when
 * abandoned (t[] of the remaining shapes set to INFINITY). */
static int time_shapes(struct search *S, double *t, double give_up)
{
	const dim_gemm_tune_opts *o = S->o;
	double total = 0, samples[64];
	int reps = o->reps < 1 ? 1 : o->reps > 64 ? 64 : o->reps;
	for (int i = 0; i < o->nshapes; i++)
		t[i] = INFINITY;
	for (int i = 0; i < o->nshapes; i++) {
		int rc = run_one(S, &o->shapes[i]); /* warm-up, includes the build */
		if (rc)
			return rc;
		for (int r = 0; r < reps; r++) {
			double s0 = dim_now();
			rc = run_one(S, &o->shapes[i]);
			if (rc)
				return rc;
			samples[r] = dim_now() - s0;
		}
		qsort(samples, (size_t)reps, sizeof samples[0], cmp_d);
		t[i] = samples[reps / 2];
		total += t[i];
		if (total > give_up)
			return 1;
	}
	return 0;
}

static double sum(const double *t, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += t[i];
	return s;
}

static void progress(struct search *S, const char *what, int i, const double *t, int rc)
{
	if (!S->o->progress)
		return;
	if (rc < 0)
		fprintf(S->o->progress, "tune: %s #%d rejected: %s\n", what, i, S->why);
	else if (rc == 1)
		fprintf(S->o->progress, "tune: %s #%d abandoned (slower)\n", what, i);
	else
		fprintf(S->o->progress, "tune: %s #%d total %.1f ms\n", what, i,
			1e3 * sum(t, S->o->nshapes));
}

/* Stage 1 or 2: candidates of one kernel; times[c][s] and params[c]. Index 0
 * is CLBlast's default (no override). Returns the number measured. */
static int stage(struct search *S, int direct, double stop_at, double (*times)[DIM_TUNE_MAX_SHAPES],
		 size_t (*params)[DIM_XGEMM_NPARAMS], uint64_t *rng)
{
	dim_ctx *ctx = S->ctx;
	const dim_device_info *dev = dim_ctx_device(ctx);
	const char *kernel = direct ? "XgemmDirect" : "Xgemm";
	int n = 0, tries = 0;
	double best = INFINITY;
	for (int cand = 0; n < MAX_CAND && tries < 4096; cand++) {
		if (n > 0 && dim_now() > stop_at)
			break;
		size_t *p = params[n];
		if (cand > 0) {
			int ok;
			do {
				if (direct)
					direct_candidate(cand - 1, rng, p);
				else
					xgemm_candidate(cand - 1, rng, p);
				ok = direct ? direct_valid(p, dev) : xgemm_valid(p, dev);
			} while (!ok && ++tries < 4096);
			if (!ok)
				break;
			dim_gemm_tuning t = {.has_xgemm = !direct, .has_direct = direct};
			if (direct)
				memcpy(t.direct, p, sizeof t.direct);
			else
				memcpy(t.xgemm, p, sizeof t.xgemm);
			dim_status st = dim_gemm_tuning_set(ctx, &t);
			if (st) {
				S->failed++;
				progress(S, kernel, cand, NULL, rejected(S, st));
				continue;
			}
		}
		int rc = time_shapes(S, times[n], best * 1.5);
		progress(S, kernel, cand, times[n], rc);
		if (rc < 0) {
			S->failed++;
			continue;
		}
		double tot = sum(times[n], S->o->nshapes);
		if (tot < best)
			best = tot;
		n++;
	}
	return n;
}

/* Force CLBlast's direct/indirect switch; nonzero when it cannot be set. */
static int set_routine(struct search *S, size_t v)
{
	dim_gemm_tuning t = {.has_routine = true, .min_indirect_size = v};
	dim_status st = dim_gemm_tuning_set(S->ctx, &t);
	return st ? rejected(S, st) : 0;
}

static double mnk(const dim_gemm_shape *g) { return (double)g->M * g->N * g->K; }

dim_status dim_gemm_tune(dim_ctx *ctx, const dim_gemm_tune_opts *o, dim_gemm_tune_result *r)
{
	struct search S = {.ctx = ctx, .o = o};
	bool was_own = false, switched = false;
	dim_buf A = {0}, B = {0}, C = {0};
	dim_status st = DIM_OK;
	int ns = o->nshapes;
	double (*ind)[DIM_TUNE_MAX_SHAPES] = NULL, (*dir)[DIM_TUNE_MAX_SHAPES] = NULL;
	size_t (*xp)[DIM_XGEMM_NPARAMS] = NULL, (*dp)[DIM_XGEMM_NPARAMS] = NULL;
	memset(r, 0, sizeof *r);
	if (ns < 1 || ns > DIM_TUNE_MAX_SHAPES)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "GEMM tuning: %d shapes (1..%d)", ns,
				DIM_TUNE_MAX_SHAPES);
	size_t amax = 0, bmax = 0, cmax = 0;
	for (int i = 0; i < ns; i++) {
		const dim_gemm_shape *g = &o->shapes[i];
		if (g->M < 1 || g->N < 1 || g->K < 1)
			return dim_fail(dim_ctx_error(ctx), DIM_ERR_ARG, "GEMM tuning: bad shape %s", g->what);
		size_t a = (size_t)g->M * g->K, b = (size_t)g->K * g->N, c = (size_t)g->M * g->N;
		amax = a > amax ? a : amax;
		bmax = b > bmax ? b : bmax;
		cmax = c > cmax ? c : cmax;
	}
	ind = calloc(MAX_CAND, sizeof *ind);
	dir = calloc(MAX_CAND, sizeof *dir);
	xp = calloc(MAX_CAND, sizeof *xp);
	dp = calloc(MAX_CAND, sizeof *dp);
	if (!ind || !dir || !xp || !dp) {
		st = dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "GEMM tuning: out of host memory");
		goto out_release;
	}
	st = dim_buf_create(ctx, amax * 4, &A);
	if (!st)
		st = dim_buf_create(ctx, bmax * 4, &B);
	if (!st)
		st = dim_buf_create(ctx, cmax * 4, &C);
	if (!st)
		st = dim_fill_f32(ctx, A, 0.5f);
	if (!st)
		st = dim_fill_f32(ctx, B, 0.25f);
	if (st)
		goto out_release;
	S.a = A;
	S.b = B;
	S.c = C;
	/* the search times CLBlast through dim_gemm; the backend is put back below */
	was_own = !strcmp(dim_gemm_backend_name(ctx), "own");
	st = dim_gemm_use(ctx, false, NULL);
	if (st)
		goto out_release;
	switched = true;

	double t0 = dim_now();
	int rc = time_shapes(&S, r->before_s, INFINITY);
	if (rc) {
		st = dim_fail(dim_ctx_error(ctx), DIM_ERR_BLAS, "GEMM tuning: CLBlast defaults fail: %s",
			      rc < 0 ? S.why : "?");
		goto out_release;
	}
	double before = sum(r->before_s, ns);
	if (o->progress)
		fprintf(o->progress, "tune: defaults total %.1f ms\n", 1e3 * before);
	double rest = o->seconds - (dim_now() - t0);
	uint64_t rng = o->seed ? o->seed : 0x5eed;

	int nx = 0, nd = 0;
	if (!set_routine(&S, 0))
		nx = stage(&S, 0, dim_now() + 0.55 * rest, ind, xp, &rng);
	if (!set_routine(&S, HUGE_INDIRECT))
		nd = stage(&S, 1, t0 + o->seconds, dir, dp, &rng);
	r->tried = nx + nd;
	r->failed = S.failed;

	/* Best (Xgemm, XgemmDirect, threshold): thresholds split the shapes by
	 * M·N·K (direct iff mnk < T³). */
	double best = before;
	int bx = -1, bd = -1;
	size_t bt = 0;
	size_t thr[DIM_TUNE_MAX_SHAPES + 2];
	int nt = 0;
	thr[nt++] = 0;
	thr[nt++] = HUGE_INDIRECT;
	for (int i = 0; i < ns; i++)
		thr[nt++] = (size_t)floor(cbrt(mnk(&o->shapes[i]))) + 1;
	for (int x = 0; x < nx; x++)
		for (int d = 0; d < nd; d++)
			for (int k = 0; k < nt; k++) {
				double T3 = (double)thr[k] * thr[k] * thr[k], tot = 0;
				for (int s = 0; s < ns; s++)
					tot += mnk(&o->shapes[s]) < T3 ? dir[d][s] : ind[x][s];
				if (tot < best * 0.98) { /* ignore wins inside timing noise */
					best = tot;
					bx = x, bd = d, bt = thr[k];
				}
			}
	memcpy(r->after_s, r->before_s, sizeof r->after_s);
	if (bx >= 0) {
		double T3 = (double)bt * bt * bt;
		int any_ind = 0, any_dir = 0;
		for (int s = 0; s < ns; s++) {
			int use_dir = mnk(&o->shapes[s]) < T3;
			any_dir |= use_dir;
			any_ind |= !use_dir;
			r->after_s[s] = use_dir ? dir[bd][s] : ind[bx][s];
		}
		r->best.has_routine = true;
		r->best.min_indirect_size = bt;
		r->best.has_xgemm = any_ind && bx > 0;
		r->best.has_direct = any_dir && bd > 0;
		if (r->best.has_xgemm)
			memcpy(r->best.xgemm, xp[bx], sizeof r->best.xgemm);
		if (r->best.has_direct)
			memcpy(r->best.direct, dp[bd], sizeof r->best.direct);
		/* Hand the winner to CLBlast and time it again, unless a kernel's
		 * winner is CLBlast's default, which cannot be restored once
		 * overridden: then after_s keeps the search's measurement. */
		if ((!any_ind || bx > 0) && (!any_dir || bd > 0)) {
			st = dim_gemm_tuning_set(ctx, &r->best);
			if (!st && time_shapes(&S, r->after_s, INFINITY))
				st = dim_fail(dim_ctx_error(ctx), DIM_ERR_BLAS,
					      "GEMM tuning: the chosen parameters fail: %s", S.why);
			/* The search's win did not hold up when timed again (noise,
			 * a loaded machine): keep CLBlast's defaults. */
			if (!st && sum(r->after_s, ns) >= before) {
				if (o->progress)
					fprintf(o->progress, "tune: winner %.1f ms on re-check vs "
						"%.1f ms default: keeping the defaults\n",
						1e3 * sum(r->after_s, ns), 1e3 * before);
				memset(&r->best, 0, sizeof r->best);
				r->kept_defaults = true;
			}
		}
	}
	r->search_s = dim_now() - t0;

out_release:
	if (switched && was_own)
		dim_gemm_use(ctx, true, NULL);
	dim_buf_release(&A);
	dim_buf_release(&B);
	dim_buf_release(&C);
	free(ind);
	free(dir);
	free(xp);
	free(dp);
	return st;
}
