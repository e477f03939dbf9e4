/* cldim-test: labels=opencl;data timeout=120 */
/* The training feed (dim_feed): every step's device buffer holds exactly the
 * loader's batches for that step, in order, whether the step was fetched by
 * the wait hook during the step before (prefetch) or by dim_feed_next; the
 * buffer of step k is not overwritten while step k+1's upload is queued;
 * skipping (resume) consumes batches in order; an epoch that ends inside a
 * prefetch, a skip after a prefetch and bad sizes fail with a message. */
#include <string.h>

#include "cldim/data.h"
#include "testutil.h"

#define NREC 150
#define B 8     /* loader batch */
#define A 2     /* batches per step */
#define IMG (3 * 32 * 32)

static char *tmp;

static dim_dataset *make_dataset(void)
{
	t_rng r = {11};
	char p[1024];
	uint8_t *rec = malloc((size_t)NREC * 3073);
	dim_dataset *ds = NULL;
	dim_error err = {0};
	if (!rec)
		return NULL;
	for (size_t i = 0; i < (size_t)NREC * 3073; i++)
		rec[i] = (uint8_t)t_rand_u64(&r);
	for (int i = 0; i < NREC; i++)
		rec[(size_t)i * 3073] = (uint8_t)(i % 10);
	if (snprintf(p, sizeof p, "%s/test_batch.bin", tmp) < (int)sizeof p &&
	    !t_write_file(p, rec, (size_t)NREC * 3073))
		CHECK_OK_ERR(&err, dim_dataset_open(&ds, p, NULL, &err));
	free(rec);
	return ds;
}

static dim_loader *make_loader(dim_dataset *ds)
{
	dim_error err = {0};
	dim_loader *l = NULL;
	dim_loader_config cfg = {.batch_size = B, .threads = 2, .shuffle = 1, .drop_last = 1,
				 .seed = 99};
	dim_transform_init(&cfg.transform, 3, 32, 32);
	cfg.transform.crop = DIM_CROP_RANDOM;
	cfg.transform.pad = 4;
	cfg.transform.hflip = 1;
	CHECK_OK_ERR(&err, dim_loader_create(&l, ds, &cfg, &err));
	return l;
}

/* The images of one epoch straight from a loader, on the host. */
static float *reference_epoch(dim_dataset *ds, uint64_t epoch, size_t *nbatches)
{
	dim_error err = {0};
	dim_loader *l = make_loader(ds);
	float *x = NULL;
	*nbatches = 0;
	if (!l)
		return NULL;
	x = malloc((size_t)NREC * IMG * sizeof(float));
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, epoch, &err));
	for (dim_batch *b = NULL; x;) {
		CHECK_OK_ERR(&err, dim_loader_next(l, &b, &err));
		if (!b)
			break;
		memcpy(x + *nbatches * B * IMG, b->x, (size_t)B * IMG * sizeof(float));
		(*nbatches)++;
		dim_loader_release(l, b);
	}
	dim_loader_destroy(l);
	return x;
}

/* Stands in for a training step: kernels that read x (a copy into `sink`),
 * then a blocking read, the point where the hook runs. */
static void fake_step(dim_ctx *ctx, dim_buf x, dim_buf sink)
{
	float v;
	CHECK_OK(ctx, dim_copy(ctx, sink, x, x.bytes));
	CHECK_OK(ctx, dim_read(ctx, sink, 0, &v, sizeof v));
}

static void test_epochs(dim_ctx *ctx, dim_dataset *ds, int skip)
{
	dim_error err = {0};
	size_t nb = 0;
	const size_t step_floats = (size_t)A * B * IMG;
	dim_loader *l = make_loader(ds);
	dim_feed *f = NULL;
	dim_buf sink = {0};
	float *got = malloc(step_floats * sizeof(float));
	if (!l || !got)
		goto out;
	CHECK_OK_ERR(&err, dim_feed_create(ctx, l, A, (size_t)B * IMG * sizeof(float), &f, &err));
	CHECK_OK(ctx, dim_buf_create(ctx, step_floats * sizeof(float), &sink));
	if (!f || !sink.mem)
		goto out;
	for (uint64_t epoch = 0; epoch < 2; epoch++) {
		float *want = reference_epoch(ds, epoch, &nb);
		long steps = (long)nb / A;
		CHECK(steps == NREC / B / A);
		CHECK_OK_ERR(&err, dim_loader_start_epoch(l, epoch, &err));
		for (long k = 0; want && k < steps; k++) {
			if (k < skip) {
				CHECK_OK_ERR(&err, dim_feed_skip(f, &err));
				continue;
			}
			dim_buf x = {0};
			CHECK_OK_ERR(&err, dim_feed_next(f, k + 1 < steps, &x, &err));
			if (!x.mem)
				break;
			fake_step(ctx, x, sink);
			/* after the step's wait, the next step's upload is queued
			 * into the other buffer: this one is unchanged */
			CHECK_OK(ctx, dim_read(ctx, x, 0, got, step_floats * sizeof(float)));
			CHECK_MSG(!memcmp(got, want + (size_t)k * step_floats,
					  step_floats * sizeof(float)),
				  "epoch %d step %ld: the device buffer is not that step's batches",
				  (int)epoch, k);
		}
		free(want);
	}
	dim_feed_stats s = dim_feed_get_stats(f);
	long steps = NREC / B / A;
	/* per epoch: the first step fetched directly, the others by the hook */
	CHECK_MSG(s.direct == 2 && s.overlapped == (unsigned long long)(2 * (steps - 1 - skip)),
		  "skip %d: %llu direct, %llu overlapped", skip, s.direct, s.overlapped);
out:
	free(got);
	dim_buf_release(&sink);
	dim_feed_destroy(f);
	dim_loader_destroy(l);
}

static void test_errors(dim_ctx *ctx, dim_dataset *ds)
{
	dim_error err = {0};
	dim_loader *l = make_loader(ds);
	dim_feed *f = NULL;
	dim_buf x = {0};
	if (!l)
		return;
	CHECK(dim_feed_create(ctx, l, 0, 64, &f, &err) == DIM_ERR_ARG && !f);
	CHECK(dim_feed_create(ctx, l, 1, 0, &f, &err) == DIM_ERR_ARG && !f);

	/* batches of a different size than the feed was made for */
	CHECK_OK_ERR(&err, dim_feed_create(ctx, l, 1, 100, &f, &err));
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 0, &err));
	dim_status st = f ? dim_feed_next(f, false, &x, &err) : DIM_OK;
	CHECK(st == DIM_ERR_ARG && strstr(err.msg, "made for 100"));
	dim_feed_destroy(f);
	f = NULL;

	/* a prefetch past the epoch's end: reported by the next call */
	long steps = NREC / B / A;
	CHECK_OK_ERR(&err, dim_feed_create(ctx, l, A, (size_t)B * IMG * sizeof(float), &f, &err));
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 0, &err));
	st = DIM_OK;
	for (long k = 0; f && k < steps && !st; k++) {
		st = dim_feed_next(f, true, &x, &err);
		if (!st)
			CHECK_OK(ctx, dim_finish(ctx)); /* runs the hook */
	}
	CHECK_OK_ERR(&err, st);
	st = f ? dim_feed_next(f, false, &x, &err) : DIM_OK;
	CHECK_MSG(st == DIM_ERR_ARG && strstr(err.msg, "epoch ended"), "%s: %s",
		  dim_status_name(st), err.msg);

	/* skipping after a prefetch */
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 1, &err));
	CHECK_OK_ERR(&err, f ? dim_feed_next(f, true, &x, &err) : DIM_OK);
	st = f ? dim_feed_skip(f, &err) : DIM_OK;
	CHECK(st == DIM_ERR_ARG && strstr(err.msg, "prefetch"));
	/* destroyed while armed: the hook is cleared, a later wait runs nothing */
	dim_feed_destroy(f);
	CHECK_OK(ctx, dim_finish(ctx));
	dim_loader_destroy(l);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	tmp = t_tmpdir("data_feed");
	dim_dataset *ds = make_dataset();
	if (ds) {
		test_epochs(ctx, ds, 0);
		test_epochs(ctx, ds, 3);
		test_errors(ctx, ds);
		dim_dataset_destroy(ds);
	}
	t_rmtree(tmp);
	free(tmp);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
