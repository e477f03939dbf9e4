/* cldim-test: labels=unit;data timeout=120 */
/* JPEG decoding and the file-based readers. JPEGs are written here with
 * TurboJPEG's compressor (baseline, grayscale, CMYK, progressive, truncated)
 * and every decoded pixel is compared with a direct tjDecompress2 of the same
 * file. Then an image folder, a Tiny ImageNet tree and a CelebA tree are built
 * and read back; malformed inputs fail with the file and the problem. */
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "cldim/data.h"
#include "testutil.h"

static char *tmp;

#define CHECK_FAILS(expr, err, what, problem)                                               \
	do {                                                                                \
		dim_error_clear(&(err));                                                    \
		dim_status s_ = (expr);                                                     \
		CHECK_MSG(s_ != DIM_OK, "%s unexpectedly succeeded", #expr);                \
		CHECK_MSG(strstr((err).msg, (what)) && strstr((err).msg, (problem)),        \
			  "message '%s' lacks '%s' / '%s'", (err).msg, (what), (problem));  \
	} while (0)

static const char *P(const char *a, const char *b)
{
	static char buf[16][1024];
	static int k;
	k = (k + 1) % 16;
	if (snprintf(buf[k], sizeof buf[k], "%s/%s", a, b) >= (int)sizeof buf[k])
		return "path-too-long";
	return buf[k];
}

/* A smooth test picture with some texture, pf = TJPF_RGB, GRAY or CMYK. */
static uint8_t *picture(int w, int h, int pf, int seed)
{
	int ps = tjPixelSize[pf];
	uint8_t *p = malloc((size_t)w * h * ps);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < ps; c++)
				p[((size_t)y * w + x) * ps + c] =
					(uint8_t)((x * (3 + c) + y * (5 - c) + seed * 40 +
						   ((x / 4 + y / 4) % 2) * 30) & 0xFF);
	if (pf == TJPF_CMYK)
		for (size_t i = 0; i < (size_t)w * h; i++)
			p[i * 4 + 3] = 255; /* Adobe-inverted K: no black ink */
	return p;
}

/* Compress to memory; returns the size (tjFree the buffer). */
static unsigned long compress(const uint8_t *pix, int w, int h, int pf, int ss, int q, int flags,
			      uint8_t **out)
{
	tjhandle tj = tjInitCompress();
	unsigned long n = 0;
	*out = NULL;
	if (tjCompress2(tj, pix, w, 0, h, pf, out, &n, ss, q, flags) < 0) {
		fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(tj));
		n = 0;
	}
	tjDestroy(tj);
	return n;
}

static void write_jpeg(const char *path, int w, int h, int pf, int seed)
{
	uint8_t *pix = picture(w, h, pf, seed), *jpg;
	unsigned long n = compress(pix, w, h, pf, pf == TJPF_GRAY ? TJSAMP_GRAY : TJSAMP_420, 90,
				   0, &jpg);
	CHECK(n > 0 && t_write_file(path, jpg, n) == 0);
	tjFree(jpg);
	free(pix);
}

/* The oracle: decode with TurboJPEG directly at a given size. */
static uint8_t *direct(const uint8_t *jpg, size_t n, int pf, int w, int h)
{
	tjhandle tj = tjInitDecompress();
	uint8_t *out = malloc((size_t)w * h * tjPixelSize[pf]);
	int rc = tjDecompress2(tj, jpg, (unsigned long)n, out, w, 0, h, pf, TJFLAG_LIMITSCANS);
	if (rc < 0 && tjGetErrorCode(tj) != TJERR_WARNING) {
		fprintf(stderr, "direct decode: %s\n", tjGetErrorStr2(tj));
		free(out);
		out = NULL;
	}
	tjDestroy(tj);
	return out;
}

static int count_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	int d = 0;
	for (size_t i = 0; i < n; i++)
		d += a[i] != b[i];
	return d;
}

static void test_decode(dim_decoder *dec)
{
	dim_error err = {0};
	dim_image img = {0};
	dim_decode_opts o = {0};
	uint8_t *pix, *jpg, *want;
	unsigned long n;
	int warned;

	/* baseline RGB, exact against the direct decode; quality 100 close to source */
	pix = picture(40, 30, TJPF_RGB, 1);
	n = compress(pix, 40, 30, TJPF_RGB, TJSAMP_444, 100, 0, &jpg);
	CHECK_OK_ERR(&err, dim_image_decode(dec, jpg, n, "rgb", &o, &img, &warned, &err));
	want = direct(jpg, n, TJPF_RGB, 40, 30);
	CHECK(img.w == 40 && img.h == 30 && img.c == 3 && !warned);
	CHECK(want && count_diff(img.pix, want, 40 * 30 * 3) == 0);
	int worst = 0;
	for (int i = 0; i < 40 * 30 * 3; i++)
		worst = abs(img.pix[i] - pix[i]) > worst ? abs(img.pix[i] - pix[i]) : worst;
	CHECK_MSG(worst <= 8, "quality 100 differs from the source by %d", worst);
	/* pixel limit */
	o.max_pixels = 1000;
	CHECK_FAILS(dim_image_decode(dec, jpg, n, "big.jpg", &o, &img, NULL, &err), err,
		    "big.jpg", "over the limit");
	o.max_pixels = 0;
	/* truncated: refused by default, decoded with a warning when allowed */
	unsigned long cut = n * 6 / 10;
	CHECK_FAILS(dim_image_decode(dec, jpg, cut, "cut.jpg", &o, &img, NULL, &err), err,
		    "cut.jpg", "truncated");
	o.allow_truncated = 1;
	CHECK_OK_ERR(&err, dim_image_decode(dec, jpg, cut, "cut.jpg", &o, &img, &warned, &err));
	CHECK(warned == 1);
	free(want);
	want = direct(jpg, cut, TJPF_RGB, 40, 30);
	CHECK(want && count_diff(img.pix, want, 40 * 30 * 3) == 0);
	o.allow_truncated = 0;
	/* garbage after the SOI marker, a header cut short */
	jpg[3] = 0x00;
	jpg[4] = 0x01;
	CHECK_FAILS(dim_image_decode(dec, jpg, 40, "hdr.jpg", &o, &img, NULL, &err), err,
		    "hdr.jpg", "JPEG");
	tjFree(jpg);
	free(want);
	free(pix);

	/* grayscale -> RGB */
	pix = picture(33, 17, TJPF_GRAY, 2);
	n = compress(pix, 33, 17, TJPF_GRAY, TJSAMP_GRAY, 95, 0, &jpg);
	CHECK_OK_ERR(&err, dim_image_decode(dec, jpg, n, "gray", &o, &img, NULL, &err));
	want = direct(jpg, n, TJPF_RGB, 33, 17);
	CHECK(img.c == 3 && want && count_diff(img.pix, want, 33 * 17 * 3) == 0);
	CHECK(img.pix[0] == img.pix[1] && img.pix[1] == img.pix[2]);
	tjFree(jpg);
	free(want);
	free(pix);

	/* CMYK (TurboJPEG writes YCCK with an Adobe marker): inverted convention */
	pix = picture(24, 16, TJPF_CMYK, 3);
	n = compress(pix, 24, 16, TJPF_CMYK, TJSAMP_444, 100, 0, &jpg);
	CHECK_OK_ERR(&err, dim_image_decode(dec, jpg, n, "cmyk", &o, &img, NULL, &err));
	want = direct(jpg, n, TJPF_CMYK, 24, 16);
	if (want) {
		int bad = 0, far = 0;
		for (int i = 0; i < 24 * 16; i++)
			for (int c = 0; c < 3; c++) {
				int v = (want[i * 4 + c] * want[i * 4 + 3] + 127) / 255;
				bad += img.pix[i * 3 + c] != v;
				far += abs(img.pix[i * 3 + c] - pix[i * 4 + c]) > 10;
			}
		CHECK_MSG(!bad && !far, "CMYK: %d differ from the formula, %d far from source",
			  bad, far);
	}
	tjFree(jpg);
	free(want);
	free(pix);

	/* progressive */
	pix = picture(48, 40, TJPF_RGB, 4);
	n = compress(pix, 48, 40, TJPF_RGB, TJSAMP_420, 85, TJFLAG_PROGRESSIVE, &jpg);
	CHECK_OK_ERR(&err, dim_image_decode(dec, jpg, n, "prog", &o, &img, NULL, &err));
	want = direct(jpg, n, TJPF_RGB, 48, 40);
	CHECK(img.w == 48 && want && count_diff(img.pix, want, 48 * 40 * 3) == 0);
	tjFree(jpg);
	free(want);
	free(pix);

	/* DCT-domain downscale: 500x375 for a 64 target -> 1/4 -> 125x94 */
	pix = picture(500, 375, TJPF_RGB, 5);
	n = compress(pix, 500, 375, TJPF_RGB, TJSAMP_420, 90, 0, &jpg);
	o.min_side = 64;
	CHECK_OK_ERR(&err, dim_image_decode(dec, jpg, n, "big", &o, &img, NULL, &err));
	CHECK_MSG(img.w == 125 && img.h == 94, "scaled to %dx%d", img.w, img.h);
	want = direct(jpg, n, TJPF_RGB, 125, 94);
	CHECK(want && count_diff(img.pix, want, 125 * 94 * 3) == 0);
	o.min_side = 400; /* nothing <= 1 keeps 400: full size */
	CHECK_OK_ERR(&err, dim_image_decode(dec, jpg, n, "big", &o, &img, NULL, &err));
	CHECK(img.w == 500 && img.h == 375);
	o.min_side = 0;
	tjFree(jpg);
	free(want);
	free(pix);

	/* not JPEG: a truncated PNG (goes to the PNG decoder), random bytes, empty */
	static const uint8_t png[16] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10};
	CHECK_FAILS(dim_image_decode(dec, png, 16, "x.JPEG", &o, &img, NULL, &err), err,
		    "x.JPEG", "PNG");
	CHECK(err.status == DIM_ERR_FORMAT);
	CHECK_FAILS(dim_image_decode(dec, png + 4, 12, "r.jpg", &o, &img, NULL, &err), err,
		    "r.jpg", "not a JPEG");
	CHECK_FAILS(dim_image_decode(dec, png, 0, "e.jpg", &o, &img, NULL, &err), err, "e.jpg",
		    "not a JPEG");
	CHECK_FAILS(dim_image_load(dec, P(tmp, "missing.jpg"), &o, &img, NULL, &err), err,
		    "missing.jpg", "cannot open");

	/* the writer round-trips */
	pix = picture(37, 21, TJPF_RGB, 6);
	CHECK_OK_ERR(&err, dim_image_write_jpeg(P(tmp, "w.jpg"), pix, 37, 21, 100, &err));
	CHECK_OK_ERR(&err, dim_image_load(dec, P(tmp, "w.jpg"), &o, &img, NULL, &err));
	CHECK(img.w == 37 && img.h == 21);
	CHECK_FAILS(dim_image_write_jpeg(P(tmp, "nodir/w.jpg"), pix, 37, 21, 90, &err), err,
		    "nodir/w.jpg", "cannot create");
	CHECK_FAILS(dim_image_write_jpeg(P(tmp, "q.jpg"), pix, 37, 21, 0, &err), err, "q.jpg",
		    "quality");
	free(pix);
	dim_image_free(&img);
}

/* Read item i and compare with a direct full-size decode of its file. */
static void check_item(dim_dataset *ds, dim_decoder *dec, size_t i, const char *suffix, int label)
{
	dim_error err = {0};
	dim_image img = {0};
	int lab = -2;
	const char *path = dim_dataset_item_path(ds, i);
	CHECK_MSG(path && strlen(path) >= strlen(suffix) &&
			  !strcmp(path + strlen(path) - strlen(suffix), suffix),
		  "item %zu is %s, want ...%s", i, path ? path : "(null)", suffix);
	CHECK_OK_ERR(&err, dim_dataset_get(ds, dec, i, 0, &img, &lab, NULL, &err));
	CHECK_MSG(lab == label, "item %zu (%s): label %d, want %d", i, suffix, lab, label);
	FILE *f = path ? fopen(path, "rb") : NULL;
	if (f && img.pix) {
		uint8_t buf[1 << 16];
		size_t n = fread(buf, 1, sizeof buf, f);
		uint8_t *want = direct(buf, n, TJPF_RGB, img.w, img.h);
		CHECK(want && count_diff(img.pix, want, (size_t)img.w * img.h * 3) == 0);
		free(want);
	}
	if (f)
		fclose(f);
	dim_image_free(&img);
}

static void test_imagefolder(dim_decoder *dec)
{
	const char *root = P(tmp, "folder");
	char r[1024];
	dim_error err = {0};
	dim_dataset *ds = NULL;
	dim_image img = {0};
	snprintf(r, sizeof r, "%s", root);
	mkdir(r, 0755);
	mkdir(P(r, "dog"), 0755);
	mkdir(P(r, "cat"), 0755);
	mkdir(P(r, "cat/sub"), 0755);
	write_jpeg(P(r, "cat/a.jpg"), 20, 10, TJPF_RGB, 1);
	write_jpeg(P(r, "cat/sub/b.JPEG"), 12, 12, TJPF_RGB, 2);
	write_jpeg(P(r, "dog/c.jpg"), 9, 14, TJPF_RGB, 3);
	write_jpeg(P(r, "dog/gray.jpg"), 16, 8, TJPF_GRAY, 4);
	static const uint8_t png[16] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10};
	t_write_file(P(r, "dog/fake.jpg"), png, sizeof png);
	t_write_file(P(r, "dog/notes.txt"), "x", 1);
	t_write_file(P(r, "top.jpg"), "x", 1); /* files at the root are not a class */

	CHECK_OK_ERR(&err, dim_dataset_open(&ds, r, NULL, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "imagefolder") && in->count == 5);
		CHECK(in->num_classes == 2 && !strcmp(dim_dataset_class_name(ds, 0), "cat"));
		check_item(ds, dec, 0, "cat/a.jpg", 0);
		check_item(ds, dec, 1, "cat/sub/b.JPEG", 0);
		check_item(ds, dec, 2, "dog/c.jpg", 1);
		check_item(ds, dec, 4, "dog/gray.jpg", 1);
		CHECK_FAILS(dim_dataset_get(ds, dec, 3, 0, &img, NULL, NULL, &err), err,
			    "dog/fake.jpg", "PNG");
		/* no decoder: one is made for the call */
		CHECK_OK_ERR(&err, dim_dataset_get(ds, NULL, 2, 0, &img, NULL, NULL, &err));
		dim_dataset_destroy(ds);
	}
	mkdir(P(r, "empty"), 0755);
	CHECK_FAILS(dim_dataset_open(&ds, r, NULL, &err), err, "empty", "no image files");
	mkdir(P(tmp, "noclasses"), 0755);
	dim_dataset_opts o = {.format = "imagefolder"};
	CHECK_FAILS(dim_dataset_open(&ds, P(tmp, "noclasses"), &o, &err), err, "noclasses",
		    "no image files");
	CHECK_FAILS(dim_dataset_open(&ds, P(tmp, "nothere"), &o, &err), err, "nothere",
		    "not a directory");
	dim_image_free(&img);
}

static void test_tinyimagenet(dim_decoder *dec)
{
	char r[1024];
	dim_error err = {0};
	dim_dataset *ds = NULL;
	snprintf(r, sizeof r, "%s", P(tmp, "tiny-imagenet-200"));
	mkdir(r, 0755);
	t_write_file(P(r, "wnids.txt"), "n02\nn01\n", 8);
	mkdir(P(r, "train"), 0755);
	mkdir(P(r, "train/n01"), 0755);
	mkdir(P(r, "train/n02"), 0755);
	mkdir(P(r, "train/n01/images"), 0755);
	mkdir(P(r, "train/n02/images"), 0755);
	write_jpeg(P(r, "train/n01/images/n01_0.JPEG"), 64, 64, TJPF_RGB, 1);
	write_jpeg(P(r, "train/n01/images/n01_1.JPEG"), 64, 64, TJPF_GRAY, 2);
	write_jpeg(P(r, "train/n02/images/n02_0.JPEG"), 64, 64, TJPF_RGB, 3);
	t_write_file(P(r, "train/n02/n02_boxes.txt"), "", 0);
	mkdir(P(r, "val"), 0755);
	mkdir(P(r, "val/images"), 0755);
	write_jpeg(P(r, "val/images/val_0.JPEG"), 64, 64, TJPF_RGB, 4);
	write_jpeg(P(r, "val/images/val_1.JPEG"), 64, 64, TJPF_RGB, 5);
	const char *ann = "val_0.JPEG\tn02\t0\t0\t10\t10\nval_1.JPEG\tn01\t1\t2\t3\t4\n";
	t_write_file(P(r, "val/val_annotations.txt"), ann, strlen(ann));
	mkdir(P(r, "test"), 0755);
	mkdir(P(r, "test/images"), 0755);
	write_jpeg(P(r, "test/images/test_0.JPEG"), 64, 64, TJPF_RGB, 6);

	/* detected from the parent directory */
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, tmp, &(dim_dataset_opts){.split = "train"}, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "tinyimagenet") && in->count == 3 && in->width == 64);
		CHECK(!strcmp(dim_dataset_class_name(ds, 0), "n01"));
		check_item(ds, dec, 0, "n01_0.JPEG", 0);
		check_item(ds, dec, 1, "n01_1.JPEG", 0);
		check_item(ds, dec, 2, "n02_0.JPEG", 1);
		dim_dataset_destroy(ds);
	}
	dim_dataset_opts o = {.format = "tinyimagenet", .split = "val"};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, r, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 2);
		check_item(ds, dec, 0, "val/images/val_0.JPEG", 1);
		check_item(ds, dec, 1, "val/images/val_1.JPEG", 0);
		dim_dataset_destroy(ds);
	}
	o.split = "test";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, r, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 1 && !dim_dataset_get_info(ds)->has_labels);
		check_item(ds, dec, 0, "test_0.JPEG", -1);
		dim_dataset_destroy(ds);
	}
	o.split = "val";
	t_write_file(P(r, "val/val_annotations.txt"), "val_0.JPEG\tn09\n", 15);
	CHECK_FAILS(dim_dataset_open(&ds, r, &o, &err), err, "val_annotations.txt:1", "wnid");
	t_write_file(P(r, "wnids.txt"), "n02\nn01\nn03\n", 12);
	o.split = "train";
	CHECK_FAILS(dim_dataset_open(&ds, r, &o, &err), err, "train/n03/images", "missing");
}

static void test_celeba(dim_decoder *dec)
{
	char r[1024];
	dim_error err = {0};
	dim_dataset *ds = NULL;
	snprintf(r, sizeof r, "%s", P(tmp, "celeba"));
	mkdir(r, 0755);
	mkdir(P(r, "img_align_celeba"), 0755);
	for (int i = 1; i <= 4; i++) {
		char name[64];
		snprintf(name, sizeof name, "img_align_celeba/%06d.jpg", i);
		write_jpeg(P(r, name), 18, 22, TJPF_RGB, i);
	}
	const char *part = "000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n";
	t_write_file(P(r, "list_eval_partition.txt"), part, strlen(part));
	const char *attr = "4\nSmiling Male  \n000001.jpg  1 -1\n000002.jpg -1  1\n"
			   "000003.jpg 1 1\n000004.jpg -1 -1\n";
	t_write_file(P(r, "list_attr_celeba.txt"), attr, strlen(attr));

	CHECK_OK_ERR(&err, dim_dataset_open(&ds, r, NULL, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "celeba") && in->count == 2 && !in->has_labels);
		CHECK(dim_dataset_num_attrs(ds) == 2 &&
		      !strcmp(dim_dataset_attr_name(ds, 1), "Male"));
		int8_t a[2];
		CHECK_OK_ERR(&err, dim_dataset_attrs(ds, 1, a, &err));
		CHECK(a[0] == -1 && a[1] == 1);
		check_item(ds, dec, 1, "img_align_celeba/000002.jpg", -1);
		dim_dataset_destroy(ds);
	}
	dim_dataset_opts o = {.split = "all", .label = "Smiling"};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, r, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 4 && dim_dataset_get_info(ds)->num_classes == 2);
		check_item(ds, dec, 0, "000001.jpg", 1);
		check_item(ds, dec, 3, "000004.jpg", 0);
		dim_dataset_destroy(ds);
	}
	o.split = "valid";
	o.label = "Male";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, r, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 1);
		check_item(ds, dec, 0, "000003.jpg", 1);
		dim_dataset_destroy(ds);
	}
	o.label = "Bald";
	CHECK_FAILS(dim_dataset_open(&ds, r, &o, &err), err, "Bald", "no attribute");
	o.label = NULL;
	o.split = "eval";
	CHECK_FAILS(dim_dataset_open(&ds, r, &o, &err), err, "celeba", "eval");
	t_write_file(P(r, "list_attr_celeba.txt"), "4\nSmiling\n000001.jpg 2\n", 23);
	o.split = "train";
	CHECK_FAILS(dim_dataset_open(&ds, r, &o, &err), err, "list_attr_celeba.txt:3", "-1 or 1");
	t_write_file(P(r, "list_eval_partition.txt"), "000001.jpg 7\n", 13);
	CHECK_FAILS(dim_dataset_open(&ds, r, &o, &err), err, "list_eval_partition.txt:1",
		    "0|1|2");
}

int main(void)
{
	dim_decoder *dec = NULL;
	dim_error err = {0};
	tmp = t_tmpdir("data_jpeg");
	CHECK_OK_ERR(&err, dim_decoder_create(&dec, &err));
	if (dec) {
		test_decode(dec);
		test_imagefolder(dec);
		test_tinyimagenet(dec);
		test_celeba(dec);
	}
	dim_decoder_destroy(dec);
	t_rmtree(tmp);
	free(tmp);
	return T_RESULT();
}
