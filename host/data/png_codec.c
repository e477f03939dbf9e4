/* PNG decoding with libpng's simplified API: any bit depth, palette, gray or
 * alpha becomes 8-bit RGB. Alpha is dropped, not composited, as PIL's
 * Image.convert("RGB") does for torchvision's ImageFolder. */
#include <png.h>
#include <string.h>

#include "cldim/runtime.h"
#include "data/data_png.h"

dim_status dd_png_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
			 dim_image *img, dim_error *err)
{
	png_image pi;
	memset(&pi, 0, sizeof pi);
	pi.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&pi, buf, len)) {
		dim_status st = dim_fail(err, DIM_ERR_FORMAT, "%s: bad PNG: %s", name, pi.message);
		png_image_free(&pi);
		return st;
	}
	long long w = pi.width, h = pi.height;
	if (w <= 0 || h <= 0 || w * h > max_pixels || w > 1 << 20 || h > 1 << 20) {
		png_image_free(&pi);
		return dim_fail(err, DIM_ERR_FORMAT, "%s: %lldx%lld PNG is over the limit of %lld "
				"pixels", name, w, h, max_pixels);
	}
	pi.format = PNG_FORMAT_RGBA;
	dim_status st = dim_image_reserve(img, (int)w, (int)h, 4, err);
	if (st) {
		png_image_free(&pi);
		return st;
	}
	if (!png_image_finish_read(&pi, NULL, img->pix, 0, NULL)) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: cannot decode PNG: %s", name, pi.message);
		png_image_free(&pi);
		return st;
	}
	/* RGBA -> RGB in place (the write position never passes the read one) */
	size_t n = (size_t)w * (size_t)h;
	for (size_t i = 0; i < n; i++) {
		img->pix[3 * i] = img->pix[4 * i];
		img->pix[3 * i + 1] = img->pix[4 * i + 1];
		img->pix[3 * i + 2] = img->pix[4 * i + 2];
	}
	img->c = 3;
	if (pi.warning_or_error)
		dim_log(DIM_LOG_DEBUG, "%s: libpng: %s", name, pi.message);
	return DIM_OK;
}
