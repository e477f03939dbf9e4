/* cldim-test: labels=unit;data timeout=120 */
/* Transforms and the loader: exact identity transform, random crop with
 * padding matches one of its candidate shifts, flips, area resize, channel
 * expansion; batches bit-identical for 1, 2 and 3 threads; shuffle is a
 * permutation that changes per epoch; drop_last counts; worker errors reach
 * the consumer with the file name; stopping mid-epoch does not hang. */
#include <string.h>
#include <sys/stat.h>

#include "cldim/data.h"
#include "testutil.h"

static char *tmp;
static uint8_t *records; /* the CIFAR file's bytes */
#define NREC 203

static void make_cifar(void)
{
	t_rng r = {7};
	char p[1024];
	records = malloc((size_t)NREC * 3073);
	for (size_t i = 0; i < (size_t)NREC * 3073; i++)
		records[i] = (uint8_t)t_rand_u64(&r);
	for (int i = 0; i < NREC; i++)
		records[(size_t)i * 3073] = (uint8_t)(i % 10);
	if (snprintf(p, sizeof p, "%s/test_batch.bin", tmp) < (int)sizeof p)
		t_write_file(p, records, (size_t)NREC * 3073);
}

static float norm(uint8_t v)
{
	return ((float)v * (1.0f / 255.0f) - 0.5f) / 0.5f;
}

static void test_transforms(void)
{
	dim_error err = {0};
	dim_image img = {0};
	dim_transform t;
	float out[3 * 32 * 32], out2[3 * 32 * 32];
	CHECK_OK_ERR(&err, dim_image_reserve(&img, 32, 32, 3, &err));
	for (int i = 0; i < 32 * 32 * 3; i++)
		img.pix[i] = (uint8_t)(i * 7 + 3);

	/* identity: exact */
	dim_transform_init(&t, 3, 32, 32);
	CHECK_OK_ERR(&err, dim_transform_apply(&t, &img, 1, 0, 0, out, &err));
	int bad = 0;
	for (int c = 0; c < 3; c++)
		for (int p = 0; p < 32 * 32; p++)
			bad += out[c * 1024 + p] != norm(img.pix[p * 3 + c]);
	CHECK_MSG(!bad, "identity transform: %d values differ", bad);

	/* random crop with padding 4 + flip: one of the 81 x 2 candidates, exactly */
	t.crop = DIM_CROP_RANDOM;
	t.pad = 4;
	t.hflip = 1;
	int flips = 0, shifted = 0;
	for (uint64_t idx = 0; idx < 40; idx++) {
		CHECK_OK_ERR(&err, dim_transform_apply(&t, &img, 5, 2, idx, out, &err));
		CHECK_OK_ERR(&err, dim_transform_apply(&t, &img, 5, 2, idx, out2, &err));
		CHECK(!memcmp(out, out2, sizeof out));
		int found = 0;
		for (int f = 0; f < 2 && !found; f++)
			for (int dy = -4; dy <= 4 && !found; dy++)
				for (int dx = -4; dx <= 4 && !found; dx++) {
					int ok = 1;
					for (int c = 0; c < 3 && ok; c++)
						for (int y = 0; y < 32 && ok; y++)
							for (int x = 0; x < 32 && ok; x++) {
								int sx = (f ? 31 - x : x) + dx, sy = y + dy;
								float want = sx < 0 || sy < 0 || sx > 31 ||
											     sy > 31
										     ? -1.0f
										     : norm(img.pix[(sy * 32 + sx) * 3 + c]);
								ok = out[c * 1024 + y * 32 + x] == want;
							}
					if (ok) {
						found = 1;
						flips += f;
						shifted += dx || dy;
					}
				}
		CHECK_MSG(found, "random crop of sample %llu matches no shift/flip",
			  (unsigned long long)idx);
	}
	CHECK(flips > 5 && flips < 35 && shifted > 30);

	/* area resize 96 -> 64 of a 3x3-block-constant picture: 1.5 px boxes */
	dim_image big = {0};
	CHECK_OK_ERR(&err, dim_image_reserve(&big, 96, 96, 1, &err));
	for (int y = 0; y < 96; y++)
		for (int x = 0; x < 96; x++)
			big.pix[y * 96 + x] = (uint8_t)(x < 48 ? 0 : 255);
	float *o64 = malloc(64 * 64 * 3 * sizeof(float));
	dim_transform_preset(&t, "stl10", 64, 3, 0, &err);
	CHECK_OK_ERR(&err, dim_transform_apply(&t, &big, 1, 0, 0, o64, &err));
	/* gray -> 3 channels replicated; left half -1, right half +1, no bleed */
	CHECK(o64[0] == -1.0f && o64[63] == 1.0f && o64[64 * 64 + 31] == -1.0f &&
	      o64[2 * 64 * 64 + 32] == 1.0f);
	/* RGB -> 1 channel luma, and RandomResizedCrop stays in range */
	dim_transform_init(&t, 1, 20, 24);
	t.crop = DIM_CROP_RANDOM_RESIZED;
	t.filter = DIM_FILTER_AREA;
	for (uint64_t idx = 0; idx < 20; idx++) {
		CHECK_OK_ERR(&err, dim_transform_apply(&t, &img, 3, 0, idx, o64, &err));
		for (int i = 0; i < 20 * 24; i++)
			CHECK(o64[i] >= -1.0f && o64[i] <= 1.0f);
	}
	CHECK(dim_transform_min_side(&t) == 24);
	CHECK(dim_transform_preset(&t, "nosuch", 32, 3, 1, &err) == DIM_ERR_ARG);
	free(o64);
	dim_image_free(&big);
	dim_image_free(&img);

	/* permutation */
	size_t perm[100], seen[100] = {0};
	dim_permutation(perm, 100, 9, 3);
	int moved = 0;
	for (int i = 0; i < 100; i++) {
		seen[perm[i]]++;
		moved += perm[i] != (size_t)i;
	}
	for (int i = 0; i < 100; i++)
		CHECK(seen[i] == 1);
	CHECK(moved > 80);
}

/* Run one epoch; return a malloc'd concatenation of x, labels (int64) and items. */
typedef struct run {
	float *x;
	int64_t *labels;
	size_t *items;
	size_t n, batches, last_n;
} run;

static run one_epoch(dim_dataset *ds, int threads, int ring, int shuffle, int drop, uint64_t epoch)
{
	run r = {0};
	dim_error err = {0};
	dim_loader *l = NULL;
	dim_loader_config cfg = {.batch_size = 16, .threads = threads, .ring = ring,
				 .shuffle = shuffle, .drop_last = drop, .seed = 1234};
	dim_transform_init(&cfg.transform, 3, 32, 32);
	cfg.transform.crop = DIM_CROP_RANDOM;
	cfg.transform.pad = 4;
	cfg.transform.hflip = 1;
	CHECK_OK_ERR(&err, dim_loader_create(&l, ds, &cfg, &err));
	if (!l)
		return r;
	size_t items = dim_loader_items(l);
	r.x = malloc(items * 3072 * sizeof(float));
	r.labels = malloc(items * sizeof *r.labels);
	r.items = malloc(items * sizeof *r.items);
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, epoch, &err));
	for (;;) {
		dim_batch *b = NULL;
		CHECK_OK_ERR(&err, dim_loader_next(l, &b, &err));
		if (!b)
			break;
		CHECK(b->index == r.batches && b->c == 3 && b->h == 32 && b->label_bytes == 8);
		CHECK(r.n + (size_t)b->n <= items);
		if (r.n + (size_t)b->n > items)
			break;
		memcpy(r.x + r.n * 3072, b->x, (size_t)b->n * 3072 * sizeof(float));
		memcpy(r.labels + r.n, b->labels, (size_t)b->n * sizeof *r.labels);
		memcpy(r.items + r.n, b->items, (size_t)b->n * sizeof *r.items);
		r.n += (size_t)b->n;
		r.last_n = (size_t)b->n;
		r.batches++;
		dim_loader_release(l, b);
	}
	CHECK(r.n == items && r.batches == dim_loader_batches(l));
	dim_loader_destroy(l);
	return r;
}

static void free_run(run *r)
{
	free(r->x);
	free(r->labels);
	free(r->items);
}

static int same_run(const run *a, const run *b)
{
	return a->n == b->n && !memcmp(a->x, b->x, a->n * 3072 * sizeof(float)) &&
	       !memcmp(a->labels, b->labels, a->n * sizeof *a->labels) &&
	       !memcmp(a->items, b->items, a->n * sizeof *a->items);
}

static void test_loader(dim_dataset *ds)
{
	/* determinism across thread counts and ring sizes */
	run a = one_epoch(ds, 1, 2, 1, 1, 0), b = one_epoch(ds, 2, 0, 1, 1, 0);
	run c = one_epoch(ds, 3, 2, 1, 1, 0), d = one_epoch(ds, 2, 4, 1, 1, 1);
	CHECK(a.n == 192 && a.batches == 12 && a.last_n == 16);
	CHECK_MSG(same_run(&a, &b), "1 vs 2 threads differ");
	CHECK_MSG(same_run(&a, &c), "1 vs 3 threads differ");
	CHECK_MSG(!same_run(&a, &d), "epochs 0 and 1 are identical");
	/* labels follow the items; items distinct */
	int bad = 0;
	char seen[NREC] = {0};
	for (size_t i = 0; i < a.n; i++) {
		bad += a.labels[i] != (int64_t)(a.items[i] % 10) || seen[a.items[i]]++;
	}
	CHECK_MSG(!bad, "%d label/item mismatches or repeats", bad);
	free_run(&a);
	free_run(&b);
	free_run(&c);
	free_run(&d);

	/* no drop_last, shuffled: a permutation of all 203, last batch 11 */
	a = one_epoch(ds, 2, 2, 1, 0, 5);
	CHECK(a.n == NREC && a.batches == 13 && a.last_n == 11);
	memset(seen, 0, sizeof seen);
	int inorder = 0;
	for (size_t i = 0; i < a.n; i++) {
		seen[a.items[i]]++;
		inorder += a.items[i] == i;
	}
	for (int i = 0; i < NREC; i++)
		CHECK(seen[i] == 1);
	CHECK(inorder < 20);
	free_run(&a);

	/* extraction order: unshuffled, exact */
	a = one_epoch(ds, 2, 3, 0, 0, 0);
	for (size_t i = 0; i < a.n; i++)
		CHECK(a.items[i] == i);
	free_run(&a);
}

static void test_loader_plain_values(dim_dataset *ds)
{
	dim_error err = {0};
	dim_loader *l = NULL;
	dim_loader_config cfg = {.batch_size = 50, .threads = 2, .label_bytes = 4, .limit = 120};
	dim_transform_init(&cfg.transform, 3, 32, 32);
	CHECK_OK_ERR(&err, dim_loader_create(&l, ds, &cfg, &err));
	if (!l)
		return;
	CHECK(dim_loader_items(l) == 120 && dim_loader_batches(l) == 3);
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 0, &err));
	dim_batch *b;
	int bad = 0;
	size_t k = 0;
	while (dim_loader_next(l, &b, &err) == DIM_OK && b) {
		for (int i = 0; i < b->n; i++, k++) {
			const uint8_t *rec = records + k * 3073;
			bad += ((int32_t *)b->labels)[i] != rec[0];
			for (int p = 0; p < 3072; p++)
				bad += b->x[(size_t)i * 3072 + p] != norm(rec[1 + p]);
		}
		dim_loader_release(l, b);
	}
	CHECK_MSG(k == 120 && !bad, "%zu samples, %d values differ", k, bad);
	/* abandon an epoch midway, start another, then destroy mid-epoch */
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 1, &err));
	CHECK_OK_ERR(&err, dim_loader_next(l, &b, &err));
	dim_loader_release(l, b);
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 2, &err));
	size_t n = 0;
	while (dim_loader_next(l, &b, &err) == DIM_OK && b) {
		n += (size_t)b->n;
		dim_loader_release(l, b);
	}
	CHECK(n == 120);
	CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 3, &err));
	CHECK_OK_ERR(&err, dim_loader_next(l, &b, &err)); /* held while destroying */
	dim_loader_destroy(l);
	dim_loader_config badcfg = cfg;
	badcfg.ring = 1;
	CHECK(dim_loader_create(&l, ds, &badcfg, &err) == DIM_ERR_ARG);
}

static void test_loader_error(void)
{
	char root[1024], p[1100];
	dim_error err = {0};
	dim_dataset *ds = NULL;
	dim_loader *l = NULL;
	if (snprintf(root, sizeof root, "%s/folder", tmp) >= (int)sizeof root)
		return;
	mkdir(root, 0755);
	snprintf(p, sizeof p, "%s/a", root);
	mkdir(p, 0755);
	dim_image img = {0};
	dim_image_reserve(&img, 8, 8, 3, &err);
	memset(img.pix, 128, 8 * 8 * 3);
	for (int i = 0; i < 30; i++) {
		snprintf(p, sizeof p, "%s/a/%02d.jpg", root, i);
		if (i == 17)
			t_write_file(p, "not a jpeg", 10);
		else
			dim_image_write_jpeg(p, img.pix, 8, 8, 90, &err);
	}
	dim_image_free(&img);
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, root, NULL, &err));
	if (!ds)
		return;
	dim_loader_config cfg = {.batch_size = 4, .threads = 2, .shuffle = 1, .seed = 3};
	dim_transform_init(&cfg.transform, 3, 8, 8);
	CHECK_OK_ERR(&err, dim_loader_create(&l, ds, &cfg, &err));
	for (int rep = 0; l && rep < 2; rep++) {
		dim_status st = DIM_OK;
		dim_batch *b = NULL;
		CHECK_OK_ERR(&err, dim_loader_start_epoch(l, (uint64_t)rep, &err));
		dim_error_clear(&err);
		while ((st = dim_loader_next(l, &b, &err)) == DIM_OK && b)
			dim_loader_release(l, b);
		CHECK(st == DIM_ERR_FORMAT);
		CHECK_MSG(strstr(err.msg, "a/17.jpg") && strstr(err.msg, "not a JPEG"),
			  "message: %s", err.msg);
		/* after the error the epoch is over */
		CHECK(dim_loader_next(l, &b, &err) == DIM_OK && b == NULL);
	}
	dim_loader_destroy(l);
	dim_dataset_destroy(ds);
}

int main(void)
{
	dim_error err = {0};
	dim_dataset *ds = NULL;
	tmp = t_tmpdir("data_loader");
	make_cifar();
	test_transforms();
	char p[1024];
	if (snprintf(p, sizeof p, "%s/test_batch.bin", tmp) < (int)sizeof p)
		CHECK_OK_ERR(&err, dim_dataset_open(&ds, p, NULL, &err));
	if (ds) {
		test_loader(ds);
		test_loader_plain_values(ds);
		dim_dataset_destroy(ds);
	}
	test_loader_error();
	free(records);
	t_rmtree(tmp);
	free(tmp);
	return T_RESULT();
}
