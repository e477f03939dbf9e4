/* cldim-test: labels=opencl;op timeout=300 */
/* MI estimators (JSD, NCE, DV) over S [N, N, L]: forward loss / estimate and
 * backward dS against a plain double reference written from the formulas;
 * the reference gradient against central finite differences; very large,
 * very negative and mixed scores (finite, and still matching); N = 1 is an
 * error; a second backward with accumulate = 1 doubles dS; the tape wrapper;
 * and PyTorch (the official formulas with torch ops, float64 autograd). */
#include <string.h>

#include "cldim/op_mi.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

#define LN2 0.69314718055994530942

static double sp(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* log sum exp of v[0..n) */
static double lse(const double *v, size_t n)
{
	double m = -INFINITY, s = 0;
	for (size_t i = 0; i < n; i++)
		m = v[i] > m ? v[i] : m;
	for (size_t i = 0; i < n; i++)
		s += exp(v[i] - m);
	return m + log(s);
}

#define AT(S, n, m, l) (S)[((size_t)(n) * N + (m)) * L + (l)]

/* Loss of estimator `kind`, and its gradient into g (if g != NULL) scaled by gl. */
static double ref(dim_mi_kind kind, int N, int L, const double *S, double gl, double *g)
{
	const double npos = (double)N * L, nneg = npos * (N - 1);
	size_t R = (size_t)N * L;
	double loss = 0;
	if (kind == DIM_MI_JSD) {
		double epos = 0, eneg = 0;
		for (int n = 0; n < N; n++)
			for (int m = 0; m < N; m++)
				for (int l = 0; l < L; l++) {
					double u = AT(S, n, m, l);
					if (m == n)
						epos += (LN2 - sp(-u)) / npos;
					else
						eneg += (sp(u) - LN2) / nneg;
					if (g)
						AT(g, n, m, l) = m == n ? -gl / (1 + exp(u)) / npos
									: gl / (1 + exp(-u)) / nneg;
				}
		loss = eneg - epos;
	} else if (kind == DIM_MI_NCE) {
		/* logits[n, l] = [S[n,n,l] ; row n with self entries = -10] */
		double *logit = malloc((R + 1) * sizeof *logit);
		if (g)
			memset(g, 0, R * N * sizeof *g);
		for (int n = 0; n < N; n++)
			for (int l = 0; l < L; l++) {
				logit[0] = AT(S, n, n, l);
				for (int m = 0; m < N; m++)
					for (int k = 0; k < L; k++)
						logit[1 + (size_t)m * L + k] = m == n ? -10.0 : AT(S, n, m, k);
				double z = lse(logit, R + 1);
				loss -= (logit[0] - z) / npos;
				if (!g)
					continue;
				/* d(-log softmax_0)/d logit_j = softmax_j - [j == 0] */
				AT(g, n, n, l) += gl * (exp(logit[0] - z) - 1) / npos;
				for (int m = 0; m < N; m++)
					for (int k = 0; k < L; k++)
						if (m != n)
							AT(g, n, m, k) += gl * exp(AT(S, n, m, k) - z) / npos;
			}
		free(logit);
	} else {
		double *neg = calloc(R * N, sizeof *neg), pos = 0;
		size_t nn = 0;
		for (int n = 0; n < N; n++)
			for (int m = 0; m < N; m++)
				for (int l = 0; l < L; l++)
					if (m == n)
						pos += AT(S, n, m, l) / npos;
					else
						neg[nn++] = AT(S, n, m, l);
		double z = lse(neg, nn);
		loss = z - log(nneg) - pos;
		for (int n = 0; g && n < N; n++)
			for (int m = 0; m < N; m++)
				for (int l = 0; l < L; l++)
					AT(g, n, m, l) = m == n ? -gl / npos : gl * exp(AT(S, n, m, l) - z);
		free(neg);
	}
	return gl * loss;
}

/* Central finite differences of the reference on a sample of entries. */
static void fd_check(dim_mi_kind kind, int N, int L, t_rng *rng)
{
	size_t n = (size_t)N * N * L;
	double *S = malloc(n * 8), *g = malloc(n * 8), gl = 0.7, eps = 1e-5;
	t_fill_d(rng, S, n, -3, 3);
	ref(kind, N, L, S, gl, g);
	for (size_t i = 0; i < n; i += 1 + n / 40) {
		double keep = S[i];
		S[i] = keep + eps;
		double lp = ref(kind, N, L, S, gl, NULL);
		S[i] = keep - eps;
		double lm = ref(kind, N, L, S, gl, NULL);
		S[i] = keep;
		double fd = (lp - lm) / (2 * eps);
		CHECK_MSG(fabs(fd - g[i]) < 1e-7 + 1e-5 * fabs(g[i]),
			  "%s N=%d L=%d fd dS[%zu]: fd %.10g analytic %.10g", dim_mi_name(kind), N, L,
			  i, fd, g[i]);
	}
	free(S);
	free(g);
}

enum { FILL_RANDOM, FILL_HUGE, FILL_NEGATIVE, FILL_MIXED, FILL_POSITIVE };
static const char *const fill_names[] = {"random", "huge", "negative", "mixed", "positive"};

static void fill(t_rng *rng, int how, float *S, size_t n)
{
	t_fill(rng, S, n, -3, 3);
	for (size_t i = 0; i < n; i++) {
		double r = t_uniform(rng, 0, 1);
		if (how == FILL_HUGE)
			S[i] = r < 0.5 ? -1e4f : 1e4f;
		else if (how == FILL_NEGATIVE)
			S[i] = (float)(-1e4 + 3 * S[i]);
		else if (how == FILL_POSITIVE)
			S[i] = (float)(1e4 + 3 * S[i]);
		else if (how == FILL_MIXED && r < 0.3)
			S[i] = r < 0.15 ? -1e4f : 1e4f;
	}
}

static int all_finite(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return 0;
	return 1;
}

/* One case: forward + two backward passes on the device vs the reference;
 * with dir, also the PyTorch parity script. */
static void one(dim_ctx *ctx, dim_arena *ws, t_rng *rng, dim_mi_kind kind, int N, int L,
		int how, const char *dir)
{
	size_t n = (size_t)N * N * L;
	float *S = malloc(n * 4), gl = 0.75f;
	fill(rng, how, S, n);
	double *Sd = malloc(n * 8), *gw = malloc(n * 8);
	for (size_t i = 0; i < n; i++)
		Sd[i] = S[i];
	double want = ref(kind, N, L, Sd, gl, gw) / gl;
	double want_mi = dim_mi_estimate(kind, N, L, want);

	dim_arena_mark mark = dim_arena_get_mark(ws);
	dim_buf bS = t_upload(ctx, S, n), bg = t_upload(ctx, &gl, 1), bl, bm, bd;
	CHECK_OK(ctx, dim_buf_create(ctx, 4, &bl));
	CHECK_OK(ctx, dim_buf_create(ctx, 4, &bm));
	CHECK_OK(ctx, dim_buf_create(ctx, n * 4, &bd));
	dim_mi_saved saved;
	CHECK_OK(ctx, dim_mi_forward(ctx, kind, N, L, bl, &bm, bS, &saved, ws));
	CHECK_OK(ctx, dim_mi_backward(ctx, kind, N, L, bd, 0, bS, bg, &saved));
	float *loss = t_download(ctx, bl, 1), *mi = t_download(ctx, bm, 1);
	float *dS = t_download(ctx, bd, n);
	CHECK_OK(ctx, dim_mi_backward(ctx, kind, N, L, bd, 1, bS, bg, &saved));
	float *dS2 = t_download(ctx, bd, n);

	/* fp32 error scales with the largest term that was summed */
	double big = fabs(want), gmax = 0;
	for (size_t i = 0; i < n; i++) {
		big = fmax(big, fabs(Sd[i]));
		gmax = fmax(gmax, fabs(gw[i]));
	}
	double rtol = how == FILL_RANDOM ? 1e-5 : 1e-4;
	char what[96];
	snprintf(what, sizeof what, "%s N=%d L=%d %s", dim_mi_name(kind), N, L, fill_names[how]);
	CHECK_MSG(all_finite(loss, 1) && all_finite(mi, 1) && all_finite(dS, n), "%s: not finite",
		  what);
	CHECK_MSG(fabs(loss[0] - want) <= 2e-6 * big + rtol * fabs(want),
		  "%s loss: cldim %.9g want %.9g", what, loss[0], want);
	CHECK_MSG(fabs(mi[0] - want_mi) <= 2e-6 * big + rtol * fabs(want_mi),
		  "%s estimate: cldim %.9g want %.9g", what, mi[0], want_mi);
	/* huge scores: exp(u - max) is evaluated from differences of 1e4-sized
	 * fp32 values, a few ulps of 1e4 (~1e-3) off: compare loosely */
	double grtol = how == FILL_RANDOM ? 1e-4 : 5e-3;
	snprintf(what, sizeof what, "%s N=%d L=%d %s dS", dim_mi_name(kind), N, L,
		 fill_names[how]);
	t_close(what, dS, gw, n, grtol, 1e-6 * gmax);
	for (size_t i = 0; i < n; i++)
		gw[i] = 2.0 * dS[i];
	snprintf(what, sizeof what, "%s N=%d L=%d %s dS x2 (accumulate)", dim_mi_name(kind), N, L,
		 fill_names[how]);
	t_close(what, dS2, gw, n, 1e-6, 1e-30);

	if (dir) {
		t_dump(dir, "S", S, n);
		t_dump(dir, "loss", loss, 1);
		t_dump(dir, "dS", dS, n);
		char args[64];
		snprintf(args, sizeof args, "%s %d %d %.9g %g", dim_mi_name(kind), N, L,
			 (double)gl, grtol);
		t_torch_run("check_mi.py", dir, args);
	}
	dim_arena_reset(ws, mark);
	dim_buf bufs[] = {bS, bg, bl, bm, bd};
	for (int i = 0; i < 5; i++)
		dim_buf_release(&bufs[i]);
	free(S); free(Sd); free(gw); free(loss); free(mi); free(dS); free(dS2);
}

static void errors(dim_ctx *ctx, dim_arena *ws)
{
	float s = 1.0f;
	dim_buf bS = t_upload(ctx, &s, 1), bl = t_upload(ctx, &s, 1);
	dim_mi_saved saved;
	for (int k = 0; k < 3; k++) {
		dim_status st = dim_mi_forward(ctx, (dim_mi_kind)k, 1, 1, bl, NULL, bS, &saved, ws);
		CHECK(st == DIM_ERR_ARG);
		CHECK_MSG(strstr(dim_ctx_errmsg(ctx), "N >= 2") != NULL, "%s", dim_ctx_errmsg(ctx));
	}
	/* scores buffer too small for N = 2 */
	CHECK(dim_mi_forward(ctx, DIM_MI_JSD, 2, 1, bl, NULL, bS, &saved, ws) == DIM_ERR_ARG);
	dim_mi_kind k;
	CHECK(dim_mi_parse("NCE", &k, NULL) == DIM_OK && k == DIM_MI_NCE);
	CHECK(dim_mi_parse("dv", &k, NULL) == DIM_OK && k == DIM_MI_DV);
	CHECK(dim_mi_parse("jsd", &k, NULL) == DIM_OK && k == DIM_MI_JSD);
	CHECK(dim_mi_parse("mine", &k, NULL) == DIM_ERR_ARG);
	CHECK(!strcmp(dim_mi_name(DIM_MI_DV), "dv"));
	dim_buf_release(&bS);
	dim_buf_release(&bl);
}

/* dim_t_mi on [N, N*L] scores: loss and dS match the raw op (gloss = 1). */
static void tape(dim_ctx *ctx, t_rng *rng)
{
	const int N = 5, L = 3;
	size_t n = (size_t)N * N * L;
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "mi-test", &t));
	float *S = malloc(n * 4);
	t_fill(rng, S, n, -2, 2);
	double *Sd = malloc(n * 8), *gw = malloc(n * 8);
	for (size_t i = 0; i < n; i++)
		Sd[i] = S[i];
	/* a parameter leaf so gradient flows; its grad starts at zero */
	dim_param p = {0};
	p.trainable = true;
	dim_tensor_set_shape(&p.value, 2, (int[]){N, N * L});
	p.grad = p.value;
	p.value.buf = t_upload(ctx, S, n);
	float *zero = calloc(n, 4);
	p.grad.buf = t_upload(ctx, zero, n);
	for (int k = 0; k < 3; k++) {
		dim_tape_begin(t, true);
		dim_var *loss = NULL;
		CHECK_OK(ctx, dim_t_mi(t, (dim_mi_kind)k, t_param(t, &p), &loss));
		if (!loss)
			break;
		CHECK_OK(ctx, dim_tape_backward(t, loss, 1.0f));
		float *got = t_download(ctx, loss->val.buf, 1), *g = t_download(ctx, p.grad.buf, n);
		double want = ref((dim_mi_kind)k, N, L, Sd, 1.0, gw);
		CHECK_MSG(fabs(got[0] - want) < 1e-5 * (1 + fabs(want)), "tape %s: %g vs %g",
			  dim_mi_name((dim_mi_kind)k), got[0], want);
		t_close("tape dS", g, gw, n, 1e-4, 1e-7);
		free(got);
		free(g);
		CHECK_OK(ctx, dim_write(ctx, p.grad.buf, 0, zero, n * 4));
	}
	dim_tape_begin(t, true);
	dim_var *bad = NULL, *none = NULL;
	CHECK_OK(ctx, dim_tape_view(t, t_param(t, &p), 2, (int[]){N * L, N}, &bad));
	CHECK(bad && dim_t_mi(t, DIM_MI_JSD, bad, &none) == DIM_ERR_ARG); /* 15 x 5: not [N, N*L] */
	CHECK(strstr(dim_ctx_errmsg(ctx), "[15, 5]") != NULL);
	dim_buf_release(&p.value.buf);
	dim_buf_release(&p.grad.buf);
	dim_tape_destroy(t);
	free(S); free(Sd); free(gw); free(zero);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	dim_arena *ws;
	t_rng rng = {4};
	if (dim_arena_create(ctx, "mi-ws", 1 << 20, &ws)) {
		fprintf(stderr, "arena: %s\n", dim_ctx_errmsg(ctx));
		return 1;
	}
	for (int k = 0; k < 3; k++) {
		fd_check((dim_mi_kind)k, 2, 1, &rng);
		fd_check((dim_mi_kind)k, 3, 5, &rng);
		fd_check((dim_mi_kind)k, 7, 2, &rng);
	}
	char *dir = t_tmpdir("mi");
	static const int Ns[] = {2, 3, 7, 64}, Ls[] = {1, 5, 64};
	for (int k = 0; k < 3; k++)
		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 3; b++) {
				/* t_small: not S = [64, 64, 64]; [64, 64, 5] still
				 * fills work-groups of 256 */
				if (t_small() && Ns[a] * Ns[a] * Ls[b] > 30000)
					continue;
				one(ctx, ws, &rng, (dim_mi_kind)k, Ns[a], Ls[b], FILL_RANDOM,
				    (a == 2 && b == 1) || (a == 3 && b == 0) ? dir : NULL);
			}
	for (int k = 0; k < 3; k++)
		for (int how = FILL_HUGE; how <= FILL_POSITIVE; how++) {
			one(ctx, ws, &rng, (dim_mi_kind)k, 3, 5, how, NULL);
			one(ctx, ws, &rng, (dim_mi_kind)k, 7, 1, how, how == FILL_MIXED ? dir : NULL);
		}
	errors(ctx, ws);
	tape(ctx, &rng);
	t_rmtree(dir);
	free(dir);
	dim_arena_destroy(ws);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
