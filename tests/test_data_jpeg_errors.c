/* cldim-test: labels=unit;data timeout=120 */
/* One bad JPEG must not poison the decoder (issue 16, item 1): after a header
 * error, a decode error or a truncation warning on a dim_decoder, the next
 * good images decode exactly as on a fresh decoder. The bad files are made
 * here from a good one by patching its SOF marker (width 65535, height 0,
 * 60000 x 60000) or cutting it short; an over-limit message names the
 * header's real dimensions. Then an image folder with a bad file first: every
 * good item after it still decodes through the one decoder. */
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "cldim/data.h"
#include "testutil.h"

static unsigned long make_jpeg(int w, int h, int seed, uint8_t **out)
{
	uint8_t *pix = malloc((size_t)w * h * 3);
	for (int i = 0; i < w * h * 3; i++)
		pix[i] = (uint8_t)(i * 7 + seed * 31 + (i / 24) * 5);
	tjhandle tj = tjInitCompress();
	unsigned long n = 0;
	*out = NULL;
	if (tjCompress2(tj, pix, w, 0, h, TJPF_RGB, out, &n, TJSAMP_420, 90, 0) < 0)
		n = 0;
	tjDestroy(tj);
	free(pix);
	return n;
}

/* Rewrite the frame size in the first SOF0/SOF2 marker; 0 when none. */
static int patch_sof(uint8_t *b, size_t n, int w, int h)
{
	for (size_t i = 2; i + 8 < n; i++)
		if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC2)) {
			b[i + 5] = (uint8_t)(h >> 8);
			b[i + 6] = (uint8_t)h;
			b[i + 7] = (uint8_t)(w >> 8);
			b[i + 8] = (uint8_t)w;
			return 1;
		}
	return 0;
}

/* The good image decodes on dec exactly as on a fresh decoder. */
static void check_good(dim_decoder *dec, const uint8_t *jpg, size_t n, const dim_image *want,
		       const char *after)
{
	dim_error err = {0};
	dim_image img = {0};
	int warned = -1;
	dim_status st = dim_image_decode(dec, jpg, n, "good.jpg", NULL, &img, &warned, &err);
	CHECK_MSG(st == DIM_OK, "good image after %s: %s", after, err.msg);
	if (!st) {
		CHECK(warned == 0 && img.w == want->w && img.h == want->h && img.c == 3);
		CHECK_MSG(!memcmp(img.pix, want->pix, (size_t)want->w * want->h * 3),
			  "good image after %s decodes differently", after);
	}
	dim_image_free(&img);
}

static void test_decoder(void)
{
	dim_error err = {0};
	dim_decoder *dec = NULL, *fresh = NULL;
	uint8_t *good = NULL, *bad;
	unsigned long n = make_jpeg(24, 16, 1, &good);
	CHECK(n > 0);
	CHECK_OK_ERR(&err, dim_decoder_create(&dec, &err));
	CHECK_OK_ERR(&err, dim_decoder_create(&fresh, &err));
	if (!dec || !fresh || !n)
		goto out;
	dim_image want = {0};
	CHECK_OK_ERR(&err, dim_image_decode(fresh, good, n, "ref", NULL, &want, NULL, &err));
	bad = malloc(n);

	static const struct {
		int w, h;
		const char *what;
	} sof[] = {{65535, 16, "65500"}, {16, 0, "JPEG"}, {0, 16, "JPEG"},
		   {60000, 60000, "60000x60000"}};
	for (size_t c = 0; c < sizeof sof / sizeof sof[0]; c++) {
		memcpy(bad, good, n);
		CHECK(patch_sof(bad, n, sof[c].w, sof[c].h));
		dim_image img = {0};
		dim_error_clear(&err);
		dim_status st = dim_image_decode(dec, bad, n, "bad.jpg", NULL, &img, NULL, &err);
		CHECK_MSG(st == DIM_ERR_FORMAT && strstr(err.msg, "bad.jpg") &&
				  strstr(err.msg, sof[c].what),
			  "%dx%d header: status %d, message '%s' lacks '%s'", sof[c].w, sof[c].h,
			  st, err.msg, sof[c].what);
		dim_image_free(&img);
		char after[64];
		snprintf(after, sizeof after, "a %dx%d header", sof[c].w, sof[c].h);
		check_good(dec, good, n, &want, after);
		check_good(dec, good, n, &want, after);
	}
	/* a body error (the header reads fine): entropy data replaced by 0xFF 0x01 */
	memcpy(bad, good, n);
	for (size_t i = n / 2; i + 2 < n; i += 2) {
		bad[i] = 0xFF;
		bad[i + 1] = 0x01;
	}
	dim_image img = {0};
	dim_error_clear(&err);
	CHECK(dim_image_decode(dec, bad, n, "body.jpg", NULL, &img, NULL, &err) != DIM_OK);
	check_good(dec, good, n, &want, "a corrupt body");
	/* a truncation warning (a larger picture cut in its entropy data), refused
	 * and then allowed */
	uint8_t *big = NULL;
	unsigned long bn = make_jpeg(160, 120, 2, &big), cut = bn * 6 / 10;
	CHECK(dim_image_decode(dec, big, cut, "cut.jpg", NULL, &img, NULL, &err) != DIM_OK);
	check_good(dec, good, n, &want, "a refused truncated file");
	int warned = 0;
	dim_decode_opts o = {.allow_truncated = 1};
	CHECK_OK_ERR(&err, dim_image_decode(dec, big, cut, "cut.jpg", &o, &img, &warned, &err));
	CHECK(warned == 1);
	check_good(dec, good, n, &want, "an allowed truncated file");
	tjFree(big);
	dim_image_free(&img);
	free(bad);
	dim_image_free(&want);
out:
	tjFree(good);
	dim_decoder_destroy(dec);
	dim_decoder_destroy(fresh);
}

/* An image folder whose first file has a bad header: the rest still decode. */
static void test_folder(void)
{
	char *tmp = t_tmpdir("jpeg_errors"), path[1200];
	dim_error err = {0};
	dim_decoder *dec = NULL;
	dim_dataset *ds = NULL;
	uint8_t *jpg[4] = {0};
	unsigned long n[4];
	snprintf(path, sizeof path, "%s/c", tmp);
	mkdir(path, 0755);
	for (int i = 0; i < 4; i++) {
		n[i] = make_jpeg(20 + i, 12, i, &jpg[i]);
		if (i == 0)
			patch_sof(jpg[0], n[0], 65535, 12);
		snprintf(path, sizeof path, "%s/c/%d.jpg", tmp, i);
		CHECK(t_write_file(path, jpg[i], n[i]) == 0);
	}
	CHECK_OK_ERR(&err, dim_decoder_create(&dec, &err));
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, tmp, &(dim_dataset_opts){.format = "imagefolder"},
					    &err));
	if (ds && dec) {
		dim_image img = {0};
		CHECK(dim_dataset_get_info(ds)->count == 4);
		CHECK(dim_dataset_get(ds, dec, 0, 0, &img, NULL, NULL, &err) == DIM_ERR_FORMAT);
		CHECK_MSG(strstr(err.msg, "0.jpg") != NULL, "message '%s'", err.msg);
		for (size_t i = 1; i < 4; i++) {
			dim_error_clear(&err);
			CHECK_MSG(dim_dataset_get(ds, dec, i, 0, &img, NULL, NULL, &err) == DIM_OK,
				  "item %zu after a bad file: %s", i, err.msg);
			CHECK(img.w == 20 + (int)i && img.h == 12);
		}
		dim_image_free(&img);
	}
	dim_dataset_destroy(ds);
	dim_decoder_destroy(dec);
	for (int i = 0; i < 4; i++)
		tjFree(jpg[i]);
	t_rmtree(tmp);
	free(tmp);
}

int main(void)
{
	test_decoder();
	test_folder();
	return T_RESULT();
}
