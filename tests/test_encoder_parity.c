/* cldim-test: labels=opencl;python timeout=600 */
/* The 28x28 encoders (host/models/encoder.c: the official basic28x28 and
 * dcgan28, and the 12x12 test encoder tiny12) and the strided-crop and ResNet
 * encoders (host/models/resnet.c):
 * shapes of M, conv, fc and Y, parameter counts, and parity with the PyTorch modules of
 * tools/pytorch/cldim_torch.py on the same weights and batch: the forward
 * outputs, every parameter gradient of L = sum(gM*M) + sum(gfc*fc) +
 * sum(gY*Y), and the BN running statistics after one training forward. */
#include <string.h>

#include "cldim/io.h"
#include "cldim/models.h"
#include "cldim/op_tensor.h"
#include "cldim/tape_ops.h"
#include "testutil.h"

struct expect {
	const char *name;
	int channels, size, m[3], conv[3], fc;
	size_t trainable; /* PyTorch's sum(p.numel() for p in parameters()) */
};

static const struct expect encoders[] = {
	{"basic28", 1, 28, {128, 7, 7}, {128, 7, 7}, 1024, 6696960},
	{"dcgan28", 1, 28, {128, 7, 7}, {256, 3, 3}, 1024, 3084224},
	{"foldalex64", 3, 64, {192, 7, 7}, {192, 7, 7}, 4096, 17921024},
	{"foldresnet19_32", 3, 32, {1024, 7, 7}, {1024, 7, 7}, 1024, 54884224},
	{"resnet19_32", 3, 32, {512, 8, 8}, {512, 8, 8}, 1024, 20281216},
	/* the test and smoke encoder (the Oclgrind stage's whole-model runs) */
	{"tiny12", 1, 12, {16, 3, 3}, {32, 1, 1}, 64, 16816},
};

/* Values of every parameter and buffer, and with_grad: gradients as grad.<name>. */
static void dump_params(dim_ctx *ctx, dim_params *ps, const char *path, bool with_grad)
{
	int cap = ps->count * 2, n = 0;
	dim_st_tensor *ts = calloc((size_t)cap, sizeof *ts);
	int64_t(*shapes)[DIM_MAX_DIMS] = calloc((size_t)ps->count, sizeof *shapes);
	float **bufs = calloc((size_t)cap, sizeof *bufs);
	char(*names)[128] = calloc((size_t)ps->count, sizeof *names);
	for (int i = 0; i < ps->count; i++) {
		dim_param *p = ps->items[i];
		size_t numel = dim_tensor_numel(&p->value);
		for (int d = 0; d < p->value.ndim; d++)
			shapes[i][d] = p->value.shape[d];
		bufs[n] = malloc(numel * 4);
		CHECK_OK(ctx, dim_tensor_read(ctx, &p->value, bufs[n]));
		ts[n] = (dim_st_tensor){p->name, DIM_DT_F32, p->value.ndim, shapes[i], bufs[n]};
		n++;
		if (with_grad && p->trainable) {
			bufs[n] = malloc(numel * 4);
			CHECK_OK(ctx, dim_tensor_read(ctx, &p->grad, bufs[n]));
			snprintf(names[i], sizeof names[i], "grad.%s", p->name);
			ts[n] = (dim_st_tensor){names[i], DIM_DT_F32, p->value.ndim, shapes[i],
						bufs[n]};
			n++;
		}
	}
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_st_write(&err, path, ts, n, NULL, 0));
	for (int i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(ts);
	free(shapes);
	free(names);
}

/* An input var with random values in [-1, 1], also dumped as dir/name.f32. */
static dim_var *random_input(dim_tape *t, t_rng *rng, const char *dir, const char *name,
			     int ndim, const int *shape, dim_buf *keep)
{
	dim_ctx *ctx = dim_tape_ctx(t);
	size_t n = dim_shape_numel(ndim, shape);
	float *v = malloc(n * 4);
	t_fill(rng, v, n, -1, 1);
	t_dump(dir, name, v, n);
	*keep = t_upload(ctx, v, n);
	free(v);
	dim_tensor x = {.buf = *keep, .ndim = ndim};
	memcpy(x.shape, shape, (size_t)ndim * sizeof *shape);
	return t_input(t, &x);
}

static void dump_var(dim_ctx *ctx, const char *dir, const char *name, dim_var *v)
{
	size_t n = dim_tensor_numel(&v->val);
	float *h = t_download(ctx, v->val.buf, n);
	t_dump(dir, name, h, n);
	free(h);
}

static void check_encoder(dim_ctx *ctx, dim_tape *t, t_rng *rng, const struct expect *x, int N)
{
	dim_params ps;
	dim_encoder e;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, x->name));
	dim_status st = dim_encoder_build(&e, &ps, x->name, x->channels, 64, 11);
	CHECK_OK(ctx, st);
	if (st)
		goto out_free_params;
	CHECK_MSG(dim_encoder_input_size(x->name) == x->size && e.input_size == x->size,
		  "%s: input size %d", x->name, e.input_size);
	CHECK_MSG(!memcmp(e.m_shape, x->m, sizeof x->m) &&
			  !memcmp(e.conv_shape, x->conv, sizeof x->conv),
		  "%s: M %dx%dx%d conv %dx%dx%d", x->name, e.m_shape[0], e.m_shape[1],
		  e.m_shape[2], e.conv_shape[0], e.conv_shape[1], e.conv_shape[2]);
	CHECK_MSG(e.fc_dim == x->fc, "%s: fc %d", x->name, e.fc_dim);
	size_t count = dim_params_numel(&ps, true);
	CHECK_MSG(count == x->trainable, "%s: %zu trainable parameters, PyTorch has %zu", x->name,
		  count, x->trainable);
	printf("%s: %zu trainable parameters, M %dx%dx%d, fc %d\n", x->name, count, e.m_shape[0],
	       e.m_shape[1], e.m_shape[2], e.fc_dim);

	char *dir = t_tmpdir("encparity");
	char path[1024];
	snprintf(path, sizeof path, "%s/before.safetensors", dir);
	dump_params(ctx, &ps, path, false);
	CHECK_OK(ctx, dim_params_zero_grad(&ps));

	dim_buf bx, bm, bf, by;
	dim_tape_begin(t, true);
	dim_var *vx = random_input(t, rng, dir, "x", 4,
				   (int[]){N, x->channels, x->size, x->size}, &bx);
	dim_encoder_out o;
	st = dim_encoder_forward(t, &e, vx, &o);
	CHECK_OK(ctx, st);
	int mshape[4] = {N, x->m[0], x->m[1], x->m[2]};
	int cshape[4] = {N, x->conv[0], x->conv[1], x->conv[2]};
	CHECK(!st && o.M && !memcmp(o.M->val.shape, mshape, sizeof mshape) && o.conv &&
	      !memcmp(o.conv->val.shape, cshape, sizeof cshape) &&
	      (o.conv == o.M) == !memcmp(x->m, x->conv, sizeof x->m));
	CHECK(!st && o.fc && o.fc->val.ndim == 2 && o.fc->val.shape[1] == x->fc);
	CHECK(!st && o.Y && o.Y->val.ndim == 2 && o.Y->val.shape[0] == N && o.Y->val.shape[1] == 64);
	dim_var *gm = random_input(t, rng, dir, "gM", 4, mshape, &bm);
	dim_var *gf = random_input(t, rng, dir, "gfc", 2, (int[]){N, x->fc}, &bf);
	dim_var *gy = random_input(t, rng, dir, "gY", 2, (int[]){N, 64}, &by);
	dim_var *loss = NULL;
	if (!st && o.M && o.fc && o.Y) {
		/* loss = sum(M gM) + sum(fc gfc) + sum(Y gY) */
		dim_var *const outs[3] = {o.M, o.fc, o.Y}, *const gs[3] = {gm, gf, gy};
		for (int i = 0; i < 3; i++) {
			dim_var *p = NULL, *s = NULL;
			CHECK_OK(ctx, dim_t_mul(t, outs[i], gs[i], &p));
			CHECK_OK(ctx, dim_t_sum(t, p, &s));
			if (!s) {
				loss = NULL;
				break;
			}
			if (!loss)
				loss = s;
			else
				CHECK_OK(ctx, dim_t_add(t, loss, s, &loss));
		}
	}
	CHECK(loss != NULL);
	if (loss) {
		CHECK_OK(ctx, dim_tape_backward(t, loss, 1.0f));
		dump_var(ctx, dir, "M", o.M);
		dump_var(ctx, dir, "conv", o.conv);
		dump_var(ctx, dir, "fc", o.fc);
		dump_var(ctx, dir, "Y", o.Y);
		snprintf(path, sizeof path, "%s/after.safetensors", dir);
		dump_params(ctx, &ps, path, true);
		char args[96];
		snprintf(args, sizeof args, "%s %d %d", x->name, N, x->channels);
		t_torch_run("check_encoder.py", dir, args);
	}
	/* a wrong input size is a clear error */
	dim_tape_begin(t, false);
	dim_tensor bad = {.buf = bx, .ndim = 4,
			  .shape = {1, x->channels, x->size / 2, x->size / 2}};
	CHECK(dim_encoder_forward(t, &e, t_input(t, &bad), &o) == DIM_ERR_ARG);
	t_rmtree(dir);
	free(dir);
	dim_buf_release(&bx);
	dim_buf_release(&bm);
	dim_buf_release(&bf);
	dim_buf_release(&by);
out_free_params:
	dim_params_free(&ps);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	t_rng rng = {77};
	dim_tape *t;
	CHECK_OK(ctx, dim_tape_create(ctx, "encoders", &t));
	for (size_t i = 0; i < sizeof encoders / sizeof encoders[0]; i++)
		check_encoder(ctx, t, &rng, &encoders[i], 3);
	/* unknown names list the known ones */
	dim_params ps;
	dim_encoder e;
	CHECK_OK(ctx, dim_params_init(&ps, ctx, "bad"));
	CHECK(dim_encoder_build(&e, &ps, "resnet50", 3, 64, 1) == DIM_ERR_ARG);
	CHECK(strstr(dim_ctx_error(ctx)->msg, "foldresnet19_32") != NULL);
	CHECK(dim_encoder_input_size("resnet50") == 0);
	dim_params_free(&ps);
	dim_tape_destroy(t);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
