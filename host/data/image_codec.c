/* Every TurboJPEG call lives here: decoding (one handle per dim_decoder, so
 * per worker thread; libjpeg-turbo#396 is what sharing a handle does), DCT-
 * domain downscaling, gray/CMYK conversion, and the JPEG writer used by
 * contact sheets. Files are identified by magic bytes, never by extension;
 * PNG files go to data/png_codec.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "cldim/data.h"
#include "cldim/io.h"
#include "data/data_png.h"

#define DEFAULT_MAX_PIXELS (1ll << 26)     /* 64 Mpx, e.g. 8192 x 8192 */
#define MAX_FILE_BYTES (256u << 20)

struct dim_decoder {
	tjhandle tj;
	uint8_t *file;  /* last file read by dim_image_load */
	size_t file_cap;
	uint8_t *cmyk;  /* scratch for CMYK/YCCK decodes */
	size_t cmyk_cap;
};

dim_status dim_image_reserve(dim_image *img, int w, int h, int c, dim_error *err)
{
	size_t need = (size_t)w * (size_t)h * (size_t)c;
	if (need > img->cap) {
		uint8_t *p = realloc(img->pix, need);
		if (!p)
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory for a %dx%dx%d image", w,
					h, c);
		img->pix = p;
		img->cap = need;
	}
	img->w = w;
	img->h = h;
	img->c = c;
	return DIM_OK;
}

void dim_image_free(dim_image *img)
{
	free(img->pix);
	memset(img, 0, sizeof *img);
}

dim_image_kind dim_image_sniff(const uint8_t *buf, size_t len)
{
	if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
		return DIM_IMAGE_JPEG;
	if (len >= 4 && buf[0] == 0x89 && buf[1] == 'P' && buf[2] == 'N' && buf[3] == 'G')
		return DIM_IMAGE_PNG;
	return DIM_IMAGE_UNKNOWN;
}

dim_status dim_decoder_create(dim_decoder **out, dim_error *err)
{
	dim_decoder *d = calloc(1, sizeof *d);
	if (!d)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	d->tj = tjInitDecompress();
	if (!d->tj) {
		dim_status st = dim_fail(err, DIM_ERR_NOMEM, "TurboJPEG: %s", tjGetErrorStr2(NULL));
		free(d);
		return st;
	}
	*out = d;
	return DIM_OK;
}

void dim_decoder_destroy(dim_decoder *d)
{
	if (!d)
		return;
	tjDestroy(d->tj);
	free(d->file);
	free(d->cmyk);
	free(d);
}

/* Does an APP14 "Adobe" segment precede the first scan? Adobe (Photoshop)
 * CMYK JPEGs store inverted values (255 = no ink). */
static int has_adobe_marker(const uint8_t *b, size_t len)
{
	size_t p = 2;
	while (p + 4 <= len) {
		if (b[p] != 0xFF)
			return 0;
		uint8_t m = b[p + 1];
		if (m == 0xFF) {
			p++;
			continue;
		}
		if (m == 0xDA || m == 0xD9)
			return 0;
		size_t seg = (size_t)b[p + 2] << 8 | b[p + 3];
		if (m == 0xEE && seg >= 12 && p + 4 + 5 <= len && !memcmp(b + p + 4, "Adobe", 5))
			return 1;
		p += 2 + seg;
	}
	return 0;
}

/* Smallest scaling factor <= 1 whose shorter side is still >= min_side. */
static tjscalingfactor pick_scale(int w, int h, int min_side)
{
	tjscalingfactor best = {1, 1};
	int n = 0, shorter = w < h ? w : h;
	tjscalingfactor *sf = tjGetScalingFactors(&n);
	if (min_side <= 0 || !sf)
		return best;
	for (int i = 0; i < n; i++) {
		if (sf[i].num > sf[i].denom)
			continue;
		if (TJSCALED(shorter, sf[i]) >= min_side &&
		    (long)sf[i].num * best.denom < (long)best.num * sf[i].denom)
			best = sf[i];
	}
	return best;
}

static dim_status cmyk_to_rgb(dim_decoder *d, const uint8_t *buf, size_t len, int sw, int sh,
			      int flags, dim_image *img, int *rc, dim_error *err)
{
	size_t need = (size_t)sw * sh * 4;
	if (need > d->cmyk_cap) {
		uint8_t *p = realloc(d->cmyk, need);
		if (!p)
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		d->cmyk = p;
		d->cmyk_cap = need;
	}
	*rc = tjDecompress2(d->tj, buf, (unsigned long)len, d->cmyk, sw, 0, sh, TJPF_CMYK, flags);
	if (*rc < 0 && tjGetErrorCode(d->tj) != TJERR_WARNING)
		return DIM_OK; /* caller reports the error */
	int inverted = has_adobe_marker(buf, len);
	const uint8_t *s = d->cmyk;
	uint8_t *o = img->pix;
	for (size_t i = 0; i < (size_t)sw * sh; i++, s += 4, o += 3) {
		unsigned k = inverted ? s[3] : 255u - s[3];
		for (int c = 0; c < 3; c++) {
			unsigned v = inverted ? s[c] : 255u - s[c];
			o[c] = (uint8_t)((v * k + 127) / 255);
		}
	}
	return DIM_OK;
}

static dim_status decode_once(dim_decoder *d, const uint8_t *buf, size_t len, const char *name,
			      const dim_decode_opts *o, dim_image *img, int *warned, dim_error *err)
{
	dim_decode_opts opt = {0};
	int w = 0, h = 0, ss = 0, cs = 0, rc = 0;
	dim_status st;
	if (o)
		opt = *o;
	if (warned)
		*warned = 0;
	switch (dim_image_sniff(buf, len)) {
	case DIM_IMAGE_JPEG:
		break;
	case DIM_IMAGE_PNG:
		if (len > MAX_FILE_BYTES)
			return dim_fail(err, DIM_ERR_FORMAT, "%s: %zu bytes is too large for an "
					"image", name, len);
		return dd_png_decode(buf, len, name,
				     opt.max_pixels > 0 ? opt.max_pixels : DEFAULT_MAX_PIXELS, img,
				     err);
	default:
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: not a JPEG or PNG file (%zu bytes, starts with %02x %02x %02x)", name,
				len, len > 0 ? buf[0] : 0, len > 1 ? buf[1] : 0, len > 2 ? buf[2] : 0);
	}
	if (len > MAX_FILE_BYTES)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: %zu bytes is too large for an image", name,
				len);
	if (tjDecompressHeader3(d->tj, buf, (unsigned long)len, &w, &h, &ss, &cs) < 0)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: bad JPEG header: %s", name,
				tjGetErrorStr2(d->tj));
	long long maxpx = opt.max_pixels > 0 ? opt.max_pixels : DEFAULT_MAX_PIXELS;
	if (w <= 0 || h <= 0 || (long long)w * h > maxpx)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: %dx%d JPEG is over the limit of %lld pixels", name, w, h, maxpx);
	tjscalingfactor sf = pick_scale(w, h, opt.min_side);
	int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
	st = dim_image_reserve(img, sw, sh, 3, err);
	if (st)
		return st;
	int flags = TJFLAG_LIMITSCANS;
	if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
		st = cmyk_to_rgb(d, buf, len, sw, sh, flags, img, &rc, err);
		if (st)
			return st;
	} else {
		rc = tjDecompress2(d->tj, buf, (unsigned long)len, img->pix, sw, 0, sh, TJPF_RGB,
				   flags);
	}
	if (rc < 0) {
		if (tjGetErrorCode(d->tj) != TJERR_WARNING)
			return dim_fail(err, DIM_ERR_FORMAT, "%s: cannot decode JPEG: %s", name,
					tjGetErrorStr2(d->tj));
		if (!opt.allow_truncated)
			return dim_fail(err, DIM_ERR_FORMAT,
					"%s: truncated or corrupt JPEG (%s); refused (allow "
					"truncated files to use it)",
					name, tjGetErrorStr2(d->tj));
		if (warned)
			*warned = 1;
	}
	return DIM_OK;
}

/* A TurboJPEG 2.x handle is left inside jpeg_read_header after an error (it
 * returns through setjmp without aborting the decompressor), so every later
 * image on it fails ("two SOI markers"). After any error or warning the
 * handle is replaced by a fresh one; the cost is one allocation per bad file. */
static dim_status decoder_renew(dim_decoder *d, const char *name, dim_error *err)
{
	if (d->tj)
		tjDestroy(d->tj);
	d->tj = tjInitDecompress();
	if (!d->tj)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: cannot recreate the TurboJPEG decoder: %s",
				name, tjGetErrorStr2(NULL));
	return DIM_OK;
}

dim_status dim_image_decode(dim_decoder *d, const uint8_t *buf, size_t len, const char *name,
			    const dim_decode_opts *o, dim_image *img, int *warned, dim_error *err)
{
	int warn = 0;
	if (!d->tj) { /* an earlier renewal failed */
		dim_status st = decoder_renew(d, name, err);
		if (st)
			return st;
	}
	dim_status st = decode_once(d, buf, len, name, o, img, &warn, err);
	if (warned)
		*warned = warn;
	if (st || warn) {
		dim_error spare = {0}; /* a failed decode keeps its own message */
		dim_status rs = decoder_renew(d, name, st ? &spare : err);
		st = st ? st : rs;
	}
	return st;
}

dim_status dim_image_load(dim_decoder *d, const char *path, const dim_decode_opts *o,
			  dim_image *img, int *warned, dim_error *err)
{
	dim_status st = DIM_OK;
	struct stat sb;
	size_t got = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		st = dim_fail(err, DIM_ERR_IO, "%s: not a regular file", path);
		goto out_close;
	}
	if ((unsigned long long)sb.st_size > MAX_FILE_BYTES) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: %lld bytes is too large for an image", path,
			      (long long)sb.st_size);
		goto out_close;
	}
	size_t n = (size_t)sb.st_size;
	if (n > d->file_cap) {
		uint8_t *p = realloc(d->file, n);
		if (!p) {
			st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
			goto out_close;
		}
		d->file = p;
		d->file_cap = n;
	}
	while (got < n) {
		ssize_t r = read(fd, d->file + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			st = dim_fail(err, DIM_ERR_IO, "%s: read failed: %s", path,
				      strerror(errno));
			goto out_close;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	st = dim_image_decode(d, d->file, got, path, o, img, warned, err);
out_close:
	close(fd);
	return st;
}

dim_status dim_image_write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int quality,
				dim_error *err)
{
	dim_status st = DIM_OK;
	unsigned char *jpeg = NULL;
	unsigned long size = 0;
	if (w <= 0 || h <= 0 || quality < 1 || quality > 100)
		return dim_fail(err, DIM_ERR_ARG, "%s: bad JPEG size %dx%d or quality %d", path, w,
				h, quality);
	tjhandle tj = tjInitCompress();
	if (!tj)
		return dim_fail(err, DIM_ERR_NOMEM, "TurboJPEG: %s", tjGetErrorStr2(NULL));
	if (tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpeg, &size, TJSAMP_420, quality, 0) < 0) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: JPEG encoding failed: %s", path,
			      tjGetErrorStr2(tj));
		goto out_destroy;
	}
	st = dim_write_file_atomic(err, path, jpeg, size); /* <path>.tmp.<pid>, renamed */
	tjFree(jpeg);
out_destroy:
	tjDestroy(tj);
	return st;
}
