/* cldim-test: labels=unit;data timeout=120 */
/* PNG through libpng (RGB, gray, palette, RGBA with alpha dropped, 16-bit),
 * refused bombs and broken files; flat image folders (unlabelled); image-folder
 * splits from train/ val/ test/ subfolders, any other split refused; the
 * loader skipping unreadable files up to max_bad (replaced by the next
 * readable sample, listed), failing beyond it; a format named explicitly on a
 * download root finds the archive folder inside; --label only where it means
 * something. */
#include <png.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/data.h"
#include "cldim/io.h"
#include "testutil.h"

#define CHECK_FAILS(expr, err, what, problem)                                               \
	do {                                                                                \
		dim_error_clear(&(err));                                                    \
		dim_status s_ = (expr);                                                     \
		CHECK_MSG(s_ != DIM_OK, "%s unexpectedly succeeded", #expr);                \
		CHECK_MSG(strstr((err).msg, (what)) && strstr((err).msg, (problem)),        \
			  "message '%s' lacks '%s' / '%s'", (err).msg, (what), (problem));  \
	} while (0)

static char *tmp;

static const char *P(const char *dir, const char *name)
{
	static char buf[16][1024];
	static int k;
	k = (k + 1) % 16;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* Pixel (x, y, channel c) of test picture `seed`. */
static uint8_t pv(int x, int y, int c, int seed)
{
	return (uint8_t)(x * 7 + y * 13 + c * 50 + seed * 29);
}

/* Write a w x h PNG in `format` (PNG_FORMAT_*) with libpng's writer. */
static int write_png(const char *path, int w, int h, png_uint_32 format, int seed)
{
	png_image pi;
	memset(&pi, 0, sizeof pi);
	pi.version = PNG_IMAGE_VERSION;
	pi.width = (png_uint_32)w;
	pi.height = (png_uint_32)h;
	pi.format = format;
	int ch = PNG_IMAGE_SAMPLE_CHANNELS(format), bytes = PNG_IMAGE_SAMPLE_COMPONENT_SIZE(format);
	size_t n = (size_t)w * h * ch;
	uint8_t *b8 = malloc(n * (size_t)bytes);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < ch; c++) {
				size_t i = ((size_t)y * w + x) * ch + c;
				uint8_t v = pv(x, y, c, seed);
				if (bytes == 2)
					((uint16_t *)b8)[i] = (uint16_t)(v * 257);
				else
					b8[i] = v;
			}
	int ok = png_image_write_to_file(&pi, path, 0, b8, 0, NULL);
	free(b8);
	return ok ? 0 : -1;
}

static void test_decode(dim_decoder *dec)
{
	dim_error err = {0};
	dim_image img = {0};
	/* RGB: exact */
	CHECK(write_png(P(tmp, "rgb.png"), 9, 5, PNG_FORMAT_RGB, 1) == 0);
	CHECK_OK_ERR(&err, dim_image_load(dec, P(tmp, "rgb.png"), NULL, &img, NULL, &err));
	int bad = 0;
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 9; x++)
			for (int c = 0; c < 3; c++)
				bad += img.pix[(y * 9 + x) * 3 + c] != pv(x, y, c, 1);
	CHECK_MSG(img.w == 9 && img.h == 5 && img.c == 3 && !bad, "%dx%dx%d, %d differ", img.w,
		  img.h, img.c, bad);
	/* RGBA: alpha dropped (not composited), as PIL's convert("RGB") */
	CHECK(write_png(P(tmp, "rgba.png"), 6, 4, PNG_FORMAT_RGBA, 2) == 0);
	CHECK_OK_ERR(&err, dim_image_load(dec, P(tmp, "rgba.png"), NULL, &img, NULL, &err));
	bad = 0;
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 6; x++)
			for (int c = 0; c < 3; c++)
				bad += img.pix[(y * 6 + x) * 3 + c] != pv(x, y, c, 2);
	CHECK_MSG(img.c == 3 && !bad, "RGBA: %d values differ", bad);
	/* gray: replicated into RGB */
	CHECK(write_png(P(tmp, "gray.png"), 5, 3, PNG_FORMAT_GRAY, 3) == 0);
	CHECK_OK_ERR(&err, dim_image_load(dec, P(tmp, "gray.png"), NULL, &img, NULL, &err));
	bad = 0;
	for (int i = 0; i < 15; i++)
		for (int c = 0; c < 3; c++)
			bad += img.pix[i * 3 + c] != pv(i % 5, i / 5, 0, 3);
	CHECK_MSG(img.c == 3 && !bad, "gray: %d values differ", bad);
	/* 16-bit linear input decodes (values are converted, not checked exactly) */
	CHECK(write_png(P(tmp, "deep.png"), 4, 4, PNG_FORMAT_LINEAR_RGB, 4) == 0);
	CHECK_OK_ERR(&err, dim_image_load(dec, P(tmp, "deep.png"), NULL, &img, NULL, &err));
	CHECK(img.w == 4 && img.h == 4 && img.c == 3);

	/* over the pixel limit: refused from the header */
	dim_decode_opts o = {.max_pixels = 40};
	CHECK_FAILS(dim_image_load(dec, P(tmp, "rgb.png"), &o, &img, NULL, &err), err, "rgb.png",
		    "over the limit");
	/* truncated and corrupted files */
	void *bytes = NULL;
	size_t n = 0;
	CHECK_OK_ERR(&err, dim_read_file(&err, P(tmp, "rgb.png"), &bytes, &n));
	CHECK_FAILS(dim_image_decode(dec, bytes, n / 2, "half.png", NULL, &img, NULL, &err), err,
		    "half.png", "PNG");
	CHECK(err.status == DIM_ERR_FORMAT);
	if (bytes && n > 40) {
		((uint8_t *)bytes)[20] ^= 0xFF; /* inside IHDR: its CRC no longer matches */
		CHECK_FAILS(dim_image_decode(dec, bytes, n, "crc.png", NULL, &img, NULL, &err), err,
			    "crc.png", "PNG");
	}
	free(bytes);
	/* the decoder still works after the failures */
	CHECK_OK_ERR(&err, dim_image_load(dec, P(tmp, "rgb.png"), NULL, &img, NULL, &err));
	CHECK(img.w == 9);
	dim_image_free(&img);
}

static void test_folders(dim_decoder *dec)
{
	dim_error err = {0};
	dim_dataset *ds = NULL;
	dim_image img = {0};
	int lab = 0;
	/* flat: unlabelled, every image in the folder */
	const char *flat = P(tmp, "flat");
	mkdir(flat, 0755);
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof name, "im%d.png", i);
		CHECK(write_png(P(flat, name), 8, 8, PNG_FORMAT_RGB, i) == 0);
	}
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, flat, NULL, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(in->count == 4 && !in->has_labels && in->num_classes == 0);
		CHECK_OK_ERR(&err, dim_dataset_get(ds, dec, 2, 0, &img, &lab, NULL, &err));
		CHECK(lab == -1 && img.w == 8 && img.pix[0] == pv(0, 0, 0, 2));
		dim_dataset_destroy(ds);
		ds = NULL;
	}
	/* a split the folder does not have is refused, not the whole folder */
	dim_dataset_opts o = {.split = "test"};
	CHECK_FAILS(dim_dataset_open(&ds, flat, &o, &err), err, "flat", "no 'test' split");
	CHECK(err.status == DIM_ERR_ARG);
	o.split = "all";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, flat, &o, &err));
	dim_dataset_destroy(ds);
	ds = NULL;

	/* split layout: root/train/<class>, root/test/<class> */
	const char *root = P(tmp, "splits");
	mkdir(root, 0755);
	mkdir(P(root, "train"), 0755);
	mkdir(P(root, "test"), 0755);
	const char *cls[] = {"train/cat", "train/dog", "test/cat", "test/dog"};
	for (int k = 0; k < 4; k++) {
		mkdir(P(root, cls[k]), 0755);
		char name[64];
		for (int i = 0; i < (k < 2 ? 3 : 1); i++) {
			snprintf(name, sizeof name, "%s/%d.png", cls[k], i);
			CHECK(write_png(P(root, name), 6, 6, PNG_FORMAT_RGB, k) == 0);
		}
	}
	o.split = "train";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, root, &o, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK_MSG(in->count == 6 && in->num_classes == 2 && !strcmp(in->split, "train"),
			  "train: %zu images, %d classes, split %s", in->count, in->num_classes,
			  in->split);
		dim_dataset_destroy(ds);
		ds = NULL;
	}
	o.split = "test";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, root, &o, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(in->count == 2 && in->num_classes == 2 && !strcmp(in->split, "test"));
		CHECK(strstr(dim_dataset_item_path(ds, 0), "/test/cat/"));
		dim_dataset_destroy(ds);
		ds = NULL;
	}
	o.split = "val";
	CHECK_FAILS(dim_dataset_open(&ds, root, &o, &err), err, "splits", "no 'val' split");
	dim_image_free(&img);
}

/* The loader skips unreadable files up to max_bad and lists them. */
static void test_loader_skip(void)
{
	dim_error err = {0};
	dim_dataset *ds = NULL;
	const char *dir = P(tmp, "withbad");
	mkdir(dir, 0755);
	for (int i = 0; i < 8; i++) {
		char name[32];
		snprintf(name, sizeof name, "im%d.png", i);
		if (i == 3 || i == 5)
			t_write_file(P(dir, name), "not an image", 12);
		else
			CHECK(write_png(P(dir, name), 8, 8, PNG_FORMAT_RGB, i) == 0);
	}
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, NULL, &err));
	if (!ds)
		return;
	dim_loader_config lc = {.batch_size = 4, .threads = 2, .drop_last = 1, .max_bad = 5};
	dim_transform_init(&lc.transform, 3, 8, 8);
	for (int pass = 0; pass < 3; pass++) {
		dim_loader *l = NULL;
		lc.max_bad = pass == 0 ? 5 : pass == 1 ? 1 : 0;
		CHECK_OK_ERR(&err, dim_loader_create(&l, ds, &lc, &err));
		if (!l)
			continue;
		CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 0, &err));
		size_t seen[8], n = 0;
		dim_batch *b = NULL;
		dim_status st;
		while (!(st = dim_loader_next(l, &b, &err)) && b) {
			for (int i = 0; i < b->n && n < 8; i++)
				seen[n++] = b->items[i];
			dim_loader_release(l, b);
		}
		if (pass == 0) {
			/* 3 -> 4 and 5 -> 6: full batches, in order, two listed */
			static const size_t want[8] = {0, 1, 2, 4, 4, 6, 6, 7};
			CHECK_MSG(!st && n == 8 && !memcmp(seen, want, sizeof want),
				  "status %d, %zu samples: %s", st, n, err.msg);
			const char *msg = NULL;
			CHECK(dim_loader_bad_count(l) == 2);
			CHECK(dim_loader_bad(l, 0, &msg) == 3 && msg && strstr(msg, "im3.png"));
			CHECK(dim_loader_bad(l, 1, &msg) == 5 && msg && strstr(msg, "im5.png"));
			CHECK(dim_loader_bad(l, 2, &msg) == (size_t)-1);
			size_t snap_item[3] = {0};
			const char *snap_msg[3] = {0};
			CHECK(dim_loader_bad_snapshot(l, snap_item, snap_msg, 3) == 2 &&
			      snap_item[0] == 3 && snap_item[1] == 5 && snap_msg[1] &&
			      strstr(snap_msg[1], "im5.png"));
			CHECK(dim_loader_bad_snapshot(l, NULL, NULL, 0) == 2);
			/* a second epoch does not decode or count them again */
			CHECK_OK_ERR(&err, dim_loader_start_epoch(l, 1, &err));
			while (!(st = dim_loader_next(l, &b, &err)) && b)
				dim_loader_release(l, b);
			CHECK(!st && dim_loader_bad_count(l) == 2);
		} else if (pass == 1) {
			/* the two threads may read im5 before im3: one is listed,
			 * the other trips the limit */
			const char *msg = NULL;
			size_t listed = dim_loader_bad(l, 0, &msg);
			const char *other = listed == 3 ? "im5.png" : "im3.png";
			CHECK_MSG(st == DIM_ERR_FORMAT && strstr(err.msg, "more than 1 unreadable") &&
					  strstr(err.msg, other), "status %d: %s", st, err.msg);
			CHECK(dim_loader_bad_count(l) == 1 && (listed == 3 || listed == 5));
			/* im3 listed: batch 0 (3 -> 4) comes out, im5 fails batch 1;
			 * im5 listed: im3 fails batch 0 before anything comes out */
			CHECK(listed == 5 ? n == 0 : n == 4 && seen[3] == 4);
			size_t snap_item[2] = {0};
			CHECK(dim_loader_bad_snapshot(l, snap_item, NULL, 2) == 1 &&
			      snap_item[0] == listed);
		} else {
			/* the first bad sample in order, however the threads ran */
			CHECK_MSG(st == DIM_ERR_FORMAT && strstr(err.msg, "im3.png"), "status %d: %s",
				  st, err.msg);
			CHECK(n == 0);
		}
		dim_loader_destroy(l);
	}
	dim_dataset_destroy(ds);
}

/* A download root with the archive folder inside, format named or not. */
static void test_archive_root(void)
{
	dim_error err = {0};
	dim_dataset *ds = NULL;
	const char *root = P(tmp, "downloads");
	mkdir(root, 0755);
	mkdir(P(root, "cifar-10-batches-bin"), 0755);
	uint8_t rec[4 * 3073];
	for (size_t i = 0; i < sizeof rec; i++)
		rec[i] = (uint8_t)(i % 3073 == 0 ? (i / 3073) % 10 : i * 7);
	const char *files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
			       "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
	for (int k = 0; k < 6; k++) {
		char name[128];
		snprintf(name, sizeof name, "cifar-10-batches-bin/%s", files[k]);
		t_write_file(P(root, name), rec, sizeof rec);
	}
	const char *fmts[] = {NULL, "cifar10"};
	for (int k = 0; k < 2; k++) {
		dim_dataset_opts o = {.format = fmts[k]};
		CHECK_OK_ERR(&err, dim_dataset_open(&ds, root, &o, &err));
		if (ds)
			CHECK(dim_dataset_get_info(ds)->count == 20 &&
			      !strcmp(dim_dataset_get_info(ds)->format, "cifar10"));
		dim_dataset_destroy(ds);
		ds = NULL;
	}
	/* a label choice where none applies */
	dim_dataset_opts o = {.label = "foo"};
	CHECK_FAILS(dim_dataset_open(&ds, root, &o, &err), err, "foo", "applies to cifar100");
	CHECK(err.status == DIM_ERR_ARG);
}

int main(void)
{
	tmp = t_tmpdir("png");
	dim_decoder *dec = NULL;
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_decoder_create(&dec, &err));
	if (dec) {
		test_decode(dec);
		test_folders(dec);
	}
	test_loader_skip();
	test_archive_root();
	dim_decoder_destroy(dec);
	if (!t_failures)
		t_rmtree(tmp);
	else
		fprintf(stderr, "files kept in %s\n", tmp);
	free(tmp);
	return T_RESULT();
}
