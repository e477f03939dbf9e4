/* cldim-test: labels=opencl;cli;train;slow timeout=600 */
/* Learning, asserted: a short DIM(L) run on Fashion-MNIST makes the 64-d
 * global vector Y linearly more informative about the class than the same
 * encoder at its random initialisation.
 *
 *   1. `cldim train` DIM(L) (JSD, dot critic, default widths) for STEPS steps
 *      of 64 images on the first 10000 training images (the embedded default's
 *      data path; labels are never seen).
 *   2. Both encoders — the trained checkpoint, and a model created from the
 *      same config (= the run's initialisation) — go through the same
 *      extraction: BatchNorm running statistics are re-estimated on the probe's
 *      training images (cumulative average over 20 batches, forward only), then
 *      Y in eval mode (dim_tape_begin(t, false)) via dim_encoder_forward.
 *   3. The same softmax-regression probe (host C, standardised features,
 *      full-batch gradient descent, lr 0.1, momentum 0.9, L2 1e-4, 500 iterations)
 *      is fit on 5000 training images and scored on 2000 test images.
 *
 * Asserted: accuracy(trained Y) - accuracy(random Y) >= MIN_GAIN.
 * Measured (PoCL CPU device, 2 shared cores; mi-units 512, batch 64):
 *
 *   steps  seed  random Y  trained Y  gain
 *   150    1     68.80%    78.30%     +9.50
 *   100    1     68.80%    77.65%     +8.85
 *   100    2     67.10%    76.40%     +9.30
 *   100    3     67.95%    76.60%     +8.65
 *
 * (those rows: the dcgan28 encoder, the default then). With basic28, the
 * default since issue 19: 100 steps, seed 1: random 72.20%, trained 79.80%,
 * gain +7.60.
 *
 * Spread over seeds (dcgan28): random 67.1-68.8%, trained 76.4-77.7%, gain 8.65-9.30.
 * So the threshold MIN_GAIN (4 points) sits well below the smallest gain
 * measured and far above the seed-to-seed spread of either accuracy. What it
 * proves: training moved Y towards class information that a random encoder of
 * the same architecture does not expose linearly — the objective, its
 * gradients and the optimizer work end to end through `cldim train`; it says
 * nothing about reaching the paper's accuracies (those need full runs).
 * The environment variables CLDIM_LEARN_STEPS / CLDIM_LEARN_SEED /
 * CLDIM_LEARN_UNITS override the run for such measurements. */
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cldim/checkpoint.h"
#include "cldim/data.h"
#include "cldim/io.h"
#include "testutil.h"

#define DATA "/usr/share/datasets/fashion-mnist"
#define STEPS 100
#define TRAIN_LIMIT 10000
#define PROBE_TRAIN 5000
#define PROBE_TEST 2000
#define BN_BATCHES 20
#define BATCH 100
#define CLASSES 10

#define MIN_GAIN 0.04 /* 4 points: see the measurements above */

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : def;
}

/* n images of a split, normalised as in training ([-1, 1]), [n, 1, 28, 28]. */
static float *load_images(const char *split, size_t n, int32_t *labels)
{
	dim_error err = {0};
	dim_dataset *ds = NULL;
	dim_dataset_opts o = {.split = split};
	dim_transform tf;
	dim_image img = {0};
	float *x = malloc(n * 28 * 28 * sizeof *x);
	dim_status st = dim_dataset_open(&ds, DATA, &o, &err);
	if (!st)
		st = dim_transform_preset(&tf, dim_dataset_get_info(ds)->format, 28, 1, 0, &err);
	for (size_t i = 0; !st && i < n; i++) {
		int label, warned = 0;
		st = dim_dataset_get(ds, NULL, i, 0, &img, &label, &warned, &err);
		if (!st)
			st = dim_transform_apply(&tf, &img, 0, 0, i, x + i * 28 * 28, &err);
		labels[i] = label;
	}
	CHECK_OK_ERR(&err, st);
	dim_image_free(&img);
	dim_dataset_destroy(ds);
	return x;
}

/* Y of every image. BN running statistics are first re-estimated on the
 * first BN_BATCHES batches of xbn (momentum 1/(k+1): an exact average). */
static float *features(dim_ctx *ctx, dim_model *m, const float *xbn, const float *x, size_t n)
{
	dim_tape *t = NULL;
	dim_buf xb = {0};
	dim_encoder e = *dim_model_encoder(m);
	int yd = e.y_dim;
	float *y = calloc(n * (size_t)yd, sizeof *y);
	CHECK_OK(ctx, dim_tape_create(ctx, "probe", &t));
	CHECK_OK(ctx, dim_buf_create(ctx, BATCH * 28 * 28 * sizeof(float), &xb));
	dim_tensor xt = {.buf = xb, .ndim = 4, .shape = {BATCH, 1, 28, 28}};
	for (int k = 0; k < BN_BATCHES + (int)(n / BATCH) && !t_failures; k++) {
		bool calib = k < BN_BATCHES;
		const float *src = calib ? xbn + (size_t)k * BATCH * 784
					 : x + (size_t)(k - BN_BATCHES) * BATCH * 784;
		CHECK_OK(ctx, dim_write(ctx, xb, 0, src, BATCH * 784 * sizeof(float)));
		e.bn_momentum = calib ? 1.0f / (float)(k + 1) : dim_model_encoder(m)->bn_momentum;
		dim_tape_begin(t, calib);
		dim_encoder_out out;
		CHECK_OK(ctx, dim_encoder_forward(t, &e, t_input(t, &xt), &out));
		if (!calib && !t_failures)
			CHECK_OK(ctx, dim_tensor_read(ctx, &out.Y->val,
						      y + (size_t)(k - BN_BATCHES) * BATCH * yd));
	}
	dim_buf_release(&xb);
	dim_tape_destroy(t);
	return y;
}

/* Softmax regression on standardised features; returns test accuracy. */
static double probe(const float *ftr, const int32_t *ytr, size_t ntr, const float *fte,
		    const int32_t *yte, size_t nte, int d)
{
	double *mu = calloc((size_t)d, sizeof *mu), *sd = calloc((size_t)d, sizeof *sd);
	for (size_t i = 0; i < ntr; i++)
		for (int j = 0; j < d; j++)
			mu[j] += ftr[i * d + j] / (double)ntr;
	for (size_t i = 0; i < ntr; i++)
		for (int j = 0; j < d; j++)
			sd[j] += pow(ftr[i * d + j] - mu[j], 2) / (double)ntr;
	for (int j = 0; j < d; j++)
		sd[j] = sqrt(sd[j]) + 1e-6;
	size_t wn = (size_t)(d + 1) * CLASSES;
	double *w = calloc(wn, sizeof *w), *g = calloc(wn, sizeof *g), *v = calloc(wn, sizeof *v);
	double *z = malloc((size_t)d * sizeof *z), p[CLASSES];
	for (int it = 0; it < 500; it++) {
		memset(g, 0, wn * sizeof *g);
		for (size_t i = 0; i < ntr; i++) {
			for (int j = 0; j < d; j++)
				z[j] = (ftr[i * d + j] - mu[j]) / sd[j];
			double mx = -1e300, s = 0;
			for (int c = 0; c < CLASSES; c++) {
				double a = w[(size_t)d * CLASSES + c];
				for (int j = 0; j < d; j++)
					a += z[j] * w[(size_t)j * CLASSES + c];
				p[c] = a;
				mx = fmax(mx, a);
			}
			for (int c = 0; c < CLASSES; c++)
				s += p[c] = exp(p[c] - mx);
			for (int c = 0; c < CLASSES; c++) {
				double r = (p[c] / s - (c == ytr[i])) / (double)ntr;
				for (int j = 0; j < d; j++)
					g[(size_t)j * CLASSES + c] += r * z[j];
				g[(size_t)d * CLASSES + c] += r;
			}
		}
		for (size_t k = 0; k < wn; k++) {
			v[k] = 0.9 * v[k] - 0.1 * (g[k] + 1e-4 * w[k]);
			w[k] += v[k];
		}
	}
	size_t right = 0;
	for (size_t i = 0; i < nte; i++) {
		int best = 0;
		double bv = -1e300;
		for (int c = 0; c < CLASSES; c++) {
			double a = w[(size_t)d * CLASSES + c];
			for (int j = 0; j < d; j++)
				a += (fte[i * d + j] - mu[j]) / sd[j] * w[(size_t)j * CLASSES + c];
			if (a > bv) {
				bv = a;
				best = c;
			}
		}
		right += best == yte[i];
	}
	free(mu);
	free(sd);
	free(w);
	free(g);
	free(v);
	free(z);
	return (double)right / (double)nte;
}

int main(void)
{
	const char *cli = getenv("CLDIM_CLI");
	struct stat sb;
	if (!cli) {
		fprintf(stderr, "skipped: CLDIM_CLI not set\n");
		return 77;
	}
	if (stat(DATA "/train-images-idx3-ubyte.gz", &sb)) {
		fprintf(stderr, "skipped: Fashion-MNIST not installed at " DATA "\n");
		return 77;
	}
	long steps = env_long("CLDIM_LEARN_STEPS", STEPS);
	long seed = env_long("CLDIM_LEARN_SEED", 1);
	long units = env_long("CLDIM_LEARN_UNITS", 512);
	char *dir = t_tmpdir("learn");
	char cmd[2048], ckpt[1200];
	snprintf(cmd, sizeof cmd, "'%s' train --steps %ld --limit %d --mi-units %ld --seed %ld "
		 "--ckpt-every 0 --progress none --out %s/run > %s/ckpt.txt", cli, steps,
		 TRAIN_LIMIT, units, seed, dir, dir);
	int rc = system(cmd);
	CHECK_MSG(rc == 0, "%s -> %d", cmd, rc);
	snprintf(ckpt, sizeof ckpt, "%s/run/ckpt-%08ld.safetensors", dir, steps);

	int32_t *ltr = malloc(PROBE_TRAIN * sizeof *ltr), *lte = malloc(PROBE_TEST * sizeof *lte);
	float *xtr = load_images("train", PROBE_TRAIN, ltr);
	float *xte = load_images("test", PROBE_TEST, lte);

	dim_ctx *ctx = t_ctx();
	dim_error err = {0};
	dim_config cfg;
	dim_train_state ts;
	CHECK_OK_ERR(&err, dim_checkpoint_read_config(ckpt, &cfg, &ts, &err));
	double acc[2] = {0, 0};
	for (int trained = 0; trained < 2 && !t_failures; trained++) {
		dim_model *m = NULL;
		CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
		if (trained && m)
			CHECK_OK(ctx, dim_checkpoint_load(m, ckpt, NULL));
		if (t_failures)
			break;
		float *ftr = features(ctx, m, xtr, xtr, PROBE_TRAIN);
		float *fte = features(ctx, m, xtr, xte, PROBE_TEST);
		if (!t_failures)
			acc[trained] = probe(ftr, ltr, PROBE_TRAIN, fte, lte, PROBE_TEST, cfg.y_dim);
		free(ftr);
		free(fte);
		dim_model_destroy(m);
	}
	fprintf(stderr, "linear probe on Y (%d train / %d test images): random encoder %.2f%%, "
		"after %ld DIM(L) steps (seed %ld, mi-units %ld) %.2f%%, gain %+.2f points\n",
		PROBE_TRAIN, PROBE_TEST, 100 * acc[0], steps, seed, units, 100 * acc[1],
		100 * (acc[1] - acc[0]));
	CHECK_MSG(acc[1] - acc[0] >= MIN_GAIN, "gain %.4f < %.2f", acc[1] - acc[0], MIN_GAIN);

	dim_ctx_destroy(ctx);
	free(xtr);
	free(xte);
	free(ltr);
	free(lte);
	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
