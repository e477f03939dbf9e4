/* cldim-test: labels=opencl;op timeout=300 */
/* Activations (relu, leaky_relu, sigmoid, tanh, softplus): OpenCL vs a double
 * reference, the reference's derivative vs central finite differences, the
 * accumulate flag, the tape wrappers, and PyTorch parity. */
#include <string.h>

#include "cldim/op_activation.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

static double ref_f(dim_act k, double slope, double x)
{
	switch (k) {
	case DIM_ACT_RELU:
		return x > 0 ? x : 0;
	case DIM_ACT_LEAKY_RELU:
		return x > 0 ? x : slope * x;
	case DIM_ACT_SIGMOID:
		return 1.0 / (1.0 + exp(-x));
	case DIM_ACT_TANH:
		return tanh(x);
	default:
		return x > 20 ? x : log1p(exp(x)); /* PyTorch's definition, threshold 20 */
	}
}

static double ref_df(dim_act k, double slope, double x)
{
	switch (k) {
	case DIM_ACT_RELU:
		return x > 0 ? 1 : 0;
	case DIM_ACT_LEAKY_RELU:
		return x > 0 ? 1 : slope;
	case DIM_ACT_SIGMOID: {
		double s = 1.0 / (1.0 + exp(-x));
		return s * (1 - s);
	}
	case DIM_ACT_TANH:
		return 1 - tanh(x) * tanh(x);
	default:
		return x > 20 ? 1 : 1.0 / (1.0 + exp(-x));
	}
}

/* The reference derivative vs central differences of L = sum(r * f(x)). */
static void fd_check(dim_act k, double slope, t_rng *rng)
{
	double worst = 0;
	for (int i = 0; i < 200; i++) {
		double x = t_uniform(rng, -6, 6), r = t_uniform(rng, -1, 1), h = 1e-5;
		if (fabs(x) < 1e-3)
			continue; /* kink of relu / leaky_relu */
		double fd = r * (ref_f(k, slope, x + h) - ref_f(k, slope, x - h)) / (2 * h);
		double an = r * ref_df(k, slope, x);
		double e = fabs(fd - an) / (1e-8 + fabs(an));
		if (e > worst)
			worst = e;
	}
	CHECK_MSG(worst < 1e-6, "%s: finite differences, worst rel err %g", dim_act_name(k), worst);
}

static void one_case(dim_ctx *ctx, t_rng *rng, dim_act kind, int ndim, const int *shape,
		     const char *torch_dir)
{
	dim_act_desc d = {kind, 0.2f};
	size_t n = dim_shape_numel(ndim, shape);
	float *x = malloc(n * 4), *dy = malloc(n * 4);
	double *wy = malloc(n * 8), *wdx = malloc(n * 8);
	t_fill(rng, x, n, -4, 4);
	t_fill(rng, dy, n, -1, 1);
	if (kind == DIM_ACT_SOFTPLUS && n > 4) {
		x[0] = 25.0f; /* beyond PyTorch's threshold */
		x[1] = -30.0f;
		x[2] = 19.5f;
	}
	for (size_t i = 0; i < n; i++) {
		wy[i] = ref_f(kind, d.slope, x[i]);
		wdx[i] = dy[i] * ref_df(kind, d.slope, x[i]);
	}
	dim_tensor tx = {t_upload(ctx, x, n), 0, {0}}, ty = tx, tdy = tx, tdx = tx;
	dim_tensor_set_shape(&tx, ndim, shape);
	ty = tx;
	ty.buf = t_upload(ctx, x, n); /* overwritten */
	tdy = tx;
	tdy.buf = t_upload(ctx, dy, n);
	tdx = tx;
	tdx.buf = t_upload(ctx, dy, n);
	CHECK_OK(ctx, dim_activation_forward(ctx, &d, &ty, &tx));
	CHECK_OK(ctx, dim_activation_backward(ctx, &d, &tdx, 0, &tdy, &tx, &ty));
	float *y = t_download(ctx, ty.buf, n), *dx = t_download(ctx, tdx.buf, n);
	char what[96];
	snprintf(what, sizeof what, "%s forward n=%zu", dim_act_name(kind), n);
	t_close(what, y, wy, n, 1e-5, 1e-6);
	snprintf(what, sizeof what, "%s backward n=%zu", dim_act_name(kind), n);
	t_close(what, dx, wdx, n, 1e-5, 1e-6);

	/* accumulate = 1 adds a second copy */
	CHECK_OK(ctx, dim_activation_backward(ctx, &d, &tdx, 1, &tdy, &tx, &ty));
	float *dx2 = t_download(ctx, tdx.buf, n);
	for (size_t i = 0; i < n; i++)
		wdx[i] = 2.0 * dx[i];
	snprintf(what, sizeof what, "%s backward accumulate", dim_act_name(kind));
	t_close(what, dx2, wdx, n, 1e-6, 0);

	/* in place */
	CHECK_OK(ctx, dim_activation_forward(ctx, &d, &tx, &tx));
	float *yi = t_download(ctx, tx.buf, n);
	CHECK(memcmp(yi, y, n * 4) == 0);

	if (torch_dir) {
		char name[64];
		snprintf(name, sizeof name, "%s_x", dim_act_name(kind));
		t_dump(torch_dir, name, x, n);
		snprintf(name, sizeof name, "%s_dy", dim_act_name(kind));
		t_dump(torch_dir, name, dy, n);
		snprintf(name, sizeof name, "%s_y", dim_act_name(kind));
		t_dump(torch_dir, name, y, n);
		snprintf(name, sizeof name, "%s_dx", dim_act_name(kind));
		t_dump(torch_dir, name, dx, n);
	}
	free(x), free(dy), free(wy), free(wdx), free(y), free(dx), free(dx2), free(yi);
	dim_buf_release(&tx.buf), dim_buf_release(&ty.buf), dim_buf_release(&tdy.buf),
		dim_buf_release(&tdx.buf);
}

/* Through the tape: L = sum(r * relu(sigmoid(x) * ...)) is too much; one op
 * feeding a parameter-like leaf twice shows the write-then-add contract. */
static void tape_case(dim_ctx *ctx, t_rng *rng)
{
	dim_params ps;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "act"));
	dim_param *p;
	CHECK_OK(ctx, dim_params_add(&ps, "w", 2, (int[]){3, 5}, true, &p));
	float w[15], r[15];
	t_fill(rng, w, 15, -2, 2);
	t_fill(rng, r, 15, -1, 1);
	CHECK_OK(ctx, dim_param_set(ctx, p, w));
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "act", &t));
	dim_tape_begin(t, true);
	dim_var *vw = t_param(t, p);
	/* two consumers of w: tanh(w) and softplus(w); the seed gradient of each
	 * output is set by hand through a leaky_relu of slope 1 (identity). */
	dim_var *a = NULL, *b = NULL, *c = NULL, *e = NULL, *f = NULL;
	CHECK_OK(ctx, dim_t_tanh(t, vw, &a));
	CHECK_OK(ctx, dim_t_softplus(t, vw, &b));
	CHECK_OK(ctx, dim_t_leaky_relu(t, a, 1.0f, &c));
	CHECK_OK(ctx, dim_t_sigmoid(t, b, &e));
	CHECK_OK(ctx, dim_t_relu(t, c, &f));
	CHECK(a && b && c && e && f);
	/* a missing input is an error, and the output is NULL */
	dim_var *none = vw;
	CHECK(dim_t_relu(t, NULL, &none) == DIM_ERR_ARG && !none);
	/* backward from two non-scalars by hand: seed their grads directly */
	int acc;
	dim_tensor *gf = dim_tape_grad(t, f, &acc);
	dim_tensor *ge = dim_tape_grad(t, e, &acc);
	CHECK(gf && ge);
	CHECK_OK(ctx, dim_tensor_write(ctx, gf, r));
	CHECK_OK(ctx, dim_tensor_write(ctx, ge, r));
	/* a scalar loss var that needs no grad walks every recorded node */
	dim_var *dummy;
	CHECK_OK(ctx, dim_tape_new(t, 1, (int[]){1}, true, &dummy));
	CHECK_OK(ctx, dim_tape_backward(t, dummy, 0.0f));
	float g[15];
	CHECK_OK(ctx, dim_tensor_read(ctx, &p->grad, g));
	double want[15];
	for (int i = 0; i < 15; i++) {
		double th = tanh(w[i]), sp = log1p(exp(w[i])), sg = 1 / (1 + exp(-sp));
		want[i] = (th > 0 ? r[i] : 0) * (1 - th * th) + r[i] * sg * (1 - sg) / (1 + exp(-w[i]));
	}
	t_close("tape: tanh/softplus/leaky/sigmoid/relu into one param", g, want, 15, 1e-5, 1e-6);
	dim_tape_destroy(t);
	dim_params_free(&ps);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {42};
	char *dir = t_tmpdir("act");
	static const int s1[] = {3, 7, 5, 7}, s2[] = {1, 13}, s3[] = {5, 3, 1, 1};
	static const int s4[] = {2, 48}; /* whole float16 chunks only */
	for (int k = 0; k <= DIM_ACT_SOFTPLUS; k++) {
		fd_check((dim_act)k, 0.2, &rng);
		one_case(ctx, &rng, (dim_act)k, 4, s1, dir);
		one_case(ctx, &rng, (dim_act)k, 2, s2, NULL);
		one_case(ctx, &rng, (dim_act)k, 4, s3, NULL);
		one_case(ctx, &rng, (dim_act)k, 2, s4, NULL);
	}
	tape_case(ctx, &rng);
	{
		/* the one-element-per-work-item kernels (GPUs) on this device too */
		dim_ctx *c1 = t_ctx_with("CLDIM_VEC16", "0");
		for (int k = 0; k <= DIM_ACT_SOFTPLUS; k++) {
			one_case(c1, &rng, (dim_act)k, 4, s1, NULL);
			one_case(c1, &rng, (dim_act)k, 2, s4, NULL);
		}
		dim_ctx_destroy(c1);
	}
	if (t_torch_run("check_activation.py", dir, "735 0.2") == 77)
		fprintf(stderr, "skipped: PyTorch parity\n");
	t_rmtree(dir);
	free(dir);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
