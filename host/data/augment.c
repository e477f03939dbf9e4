/* Preprocessing of one image into a fixed C x H x W float tensor: resize,
 * centre / random / random-resized crop, horizontal flip, channel expansion,
 * normalisation. All geometry reduces to one source rectangle (in source
 * pixels, fractional) resampled to out_h x out_w by a separable filter;
 * samples whose centre falls outside the image are zero padding.
 * Randomness: dim_rng(seed, epoch, index, DRAW + k), so a sample's
 * augmentation does not depend on which thread made it or when. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/data.h"

#define DRAW 0x100 /* counter base of per-sample draws */

static uint64_t mix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t dim_rng(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	return mix64(mix64(mix64(mix64(seed) ^ a) ^ b) ^ c);
}

float dim_rng_unit(uint64_t r)
{
	return (float)(r >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n) (n >= 1), by 64x64->128-free multiply-shift. */
static size_t rng_below(uint64_t r, size_t n)
{
	return (size_t)(((r >> 32) * (uint64_t)n) >> 32);
}

void dim_permutation(size_t *perm, size_t n, uint64_t seed, uint64_t epoch)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		uint64_t r = dim_rng(seed, epoch, i, 1);
		size_t j = n <= 0xFFFFFFFFu ? rng_below(r, i) : (size_t)(r % i);
		size_t t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

void dim_transform_init(dim_transform *t, int out_c, int out_h, int out_w)
{
	memset(t, 0, sizeof *t);
	t->out_c = out_c;
	t->out_h = out_h;
	t->out_w = out_w;
	t->crop = DIM_CROP_CENTER;
	t->scale_min = 0.08f;
	t->scale_max = 1.0f;
	t->ratio_min = 3.0f / 4.0f;
	t->ratio_max = 4.0f / 3.0f;
	t->filter = DIM_FILTER_BILINEAR;
	for (int c = 0; c < 3; c++) {
		t->mean[c] = 0.5f;
		t->std[c] = 0.5f;
	}
}

dim_status dim_transform_preset(dim_transform *t, const char *format, int size, int channels,
				int train, dim_error *err)
{
	if (size <= 0 || size > 4096 || (channels != 1 && channels != 3))
		return dim_fail(err, DIM_ERR_ARG, "bad transform size %d or channels %d", size,
				channels);
	dim_transform_init(t, channels, size, size);
	if (!strcmp(format, "cifar10") || !strcmp(format, "cifar100")) {
		t->resize = size == 32 ? 0 : size;
	} else if (!strcmp(format, "stl10")) {
		t->resize = size;
		t->filter = DIM_FILTER_AREA;
		t->hflip = train;
	} else if (!strcmp(format, "tinyimagenet") || !strcmp(format, "imagefolder")) {
		static const float mean[3] = {0.485f, 0.456f, 0.406f};
		static const float std[3] = {0.229f, 0.224f, 0.225f};
		t->resize = size;
		t->filter = DIM_FILTER_AREA;
		memcpy(t->mean, mean, sizeof mean);
		memcpy(t->std, std, sizeof std);
	} else if (!strcmp(format, "celeba")) {
		t->resize = size;
		t->filter = DIM_FILTER_AREA;
	} else if (!strcmp(format, "mnist") || !strcmp(format, "fashion-mnist") ||
		   !strcmp(format, "idx")) {
		t->resize = size == 28 ? 0 : size;
	} else {
		return dim_fail(err, DIM_ERR_ARG, "no preset for dataset format '%s'", format);
	}
	return DIM_OK;
}

int dim_transform_min_side(const dim_transform *t)
{
	if (t->crop == DIM_CROP_RANDOM_RESIZED)
		return t->out_h > t->out_w ? t->out_h : t->out_w;
	return t->resize > 0 ? t->resize : 0;
}

/* Taps of one output coordinate: src indices first..first+n-1, weights. */
typedef struct axis {
	int *first, *n;
	float *w;
	int maxtaps;
} axis;

static void axis_free(axis *a)
{
	free(a->first);
	free(a->n);
	free(a->w);
}

/* Output o covers source [x0 + o*scale, x0 + (o+1)*scale) of an axis of
 * length len. Bilinear (or any upscale): two taps around the centre, edge-
 * clamped inside the image. Area: box overlap weights. */
static int axis_build(axis *a, int out, double x0, double scale, int len, dim_filter filter)
{
	int area = filter == DIM_FILTER_AREA && scale > 1.0;
	a->maxtaps = area ? (int)ceil(scale) + 2 : 2;
	a->first = calloc((size_t)out, sizeof *a->first);
	a->n = calloc((size_t)out, sizeof *a->n);
	a->w = calloc((size_t)out * (size_t)a->maxtaps, sizeof *a->w);
	if (!a->first || !a->n || !a->w)
		return -1;
	for (int o = 0; o < out; o++) {
		float *w = a->w + (size_t)o * a->maxtaps;
		if (!area) {
			double u = x0 + (o + 0.5) * scale - 0.5;
			if (u < -0.5 || u > len - 0.5)
				continue; /* padding */
			double fl = floor(u);
			int i0 = (int)fl;
			float f = (float)(u - fl);
			int lo = i0 < 0 ? 0 : i0, hi = i0 + 1 > len - 1 ? len - 1 : i0 + 1;
			if (lo == hi || f == 0.0f) {
				a->first[o] = i0 + (f != 0.0f && i0 < 0);
				if (a->first[o] > len - 1)
					a->first[o] = len - 1;
				a->n[o] = 1;
				w[0] = 1.0f;
			} else {
				a->first[o] = lo;
				a->n[o] = 2;
				w[0] = 1.0f - f;
				w[1] = f;
			}
			continue;
		}
		double s = x0 + o * scale, e = s + scale;
		int j0 = (int)floor(s), j1 = (int)ceil(e);
		if (j0 < 0)
			j0 = 0;
		if (j1 > len)
			j1 = len;
		if (j1 - j0 > a->maxtaps)
			j1 = j0 + a->maxtaps;
		a->first[o] = j0;
		for (int j = j0; j < j1; j++) {
			double ov = fmin(e, j + 1.0) - fmax(s, (double)j);
			w[j - j0] = ov > 0 ? (float)(ov / scale) : 0.0f;
		}
		a->n[o] = j1 > j0 ? j1 - j0 : 0;
	}
	return 0;
}

/* The source rectangle (x, y, w, h in source pixels) and the flip bit. */
static void pick_rect(const dim_transform *t, int W, int H, uint64_t seed, uint64_t epoch,
		      uint64_t index, double r[4], int *flip)
{
	uint64_t k = DRAW;
	*flip = t->hflip && dim_rng_unit(dim_rng(seed, epoch, index, k++)) < 0.5f;
	if (t->crop == DIM_CROP_RANDOM_RESIZED) {
		double area = (double)W * H;
		double lr0 = log(t->ratio_min), lr1 = log(t->ratio_max);
		for (int tries = 0; tries < 10; tries++) {
			double ta = area * (t->scale_min + (t->scale_max - t->scale_min) *
							   dim_rng_unit(dim_rng(seed, epoch, index, k++)));
			double ar = exp(lr0 + (lr1 - lr0) * dim_rng_unit(dim_rng(seed, epoch, index, k++)));
			int cw = (int)lround(sqrt(ta * ar)), ch = (int)lround(sqrt(ta / ar));
			if (cw > 0 && ch > 0 && cw <= W && ch <= H) {
				r[0] = (double)rng_below(dim_rng(seed, epoch, index, k++), (size_t)(W - cw + 1));
				r[1] = (double)rng_below(dim_rng(seed, epoch, index, k++), (size_t)(H - ch + 1));
				r[2] = cw;
				r[3] = ch;
				return;
			}
		}
		double in_ratio = (double)W / H;
		int cw = W, ch = H;
		if (in_ratio < t->ratio_min)
			ch = (int)lround(W / t->ratio_min);
		else if (in_ratio > t->ratio_max)
			cw = (int)lround(H * t->ratio_max);
		r[0] = (W - cw) / 2;
		r[1] = (H - ch) / 2;
		r[2] = cw;
		r[3] = ch;
		return;
	}
	/* Resize the shorter side to t->resize (torchvision Resize(int)). */
	double vw = W, vh = H;
	if (t->resize > 0) {
		if (W <= H) {
			vw = t->resize;
			vh = floor((double)t->resize * H / W);
		} else {
			vh = t->resize;
			vw = floor((double)t->resize * W / H);
		}
	}
	double sx = W / vw, sy = H / vh, cx, cy;
	if (t->crop == DIM_CROP_RANDOM) {
		int p = t->pad;
		cx = (double)rng_below(dim_rng(seed, epoch, index, k++),
				       (size_t)fmax(1.0, vw + 2 * p - t->out_w + 1)) - p;
		cy = (double)rng_below(dim_rng(seed, epoch, index, k++),
				       (size_t)fmax(1.0, vh + 2 * p - t->out_h + 1)) - p;
	} else {
		cx = round((vw - t->out_w) / 2.0);
		cy = round((vh - t->out_h) / 2.0);
	}
	r[0] = cx * sx;
	r[1] = cy * sy;
	r[2] = t->out_w * sx;
	r[3] = t->out_h * sy;
}

dim_status dim_transform_apply(const dim_transform *t, const dim_image *in, uint64_t seed,
			       uint64_t epoch, uint64_t index, float *out, dim_error *err)
{
	int OW = t->out_w, OH = t->out_h, OC = t->out_c, C = in->c;
	double r[4];
	int flip;
	axis ax = {0}, ay = {0};
	float *rows = NULL, *px = NULL;
	dim_status st = DIM_OK;
	if (OW <= 0 || OH <= 0 || (OC != 1 && OC != 3) || (C != 1 && C != 3) || in->w <= 0 ||
	    in->h <= 0)
		return dim_fail(err, DIM_ERR_ARG, "transform: bad sizes (out %dx%dx%d, in %dx%dx%d)",
				OC, OH, OW, C, in->h, in->w);
	pick_rect(t, in->w, in->h, seed, epoch, index, r, &flip);
	if (axis_build(&ax, OW, r[0], r[2] / OW, in->w, t->filter) ||
	    axis_build(&ay, OH, r[1], r[3] / OH, in->h, t->filter)) {
		st = dim_fail(err, DIM_ERR_NOMEM, "transform: out of memory");
		goto out_free;
	}
	/* Horizontal pass over every source row, then vertical per output row. */
	rows = malloc((size_t)in->h * OW * C * sizeof *rows);
	px = malloc((size_t)C * sizeof *px);
	if (!rows || !px) {
		st = dim_fail(err, DIM_ERR_NOMEM, "transform: out of memory");
		goto out_free;
	}
	int ylo = in->h, yhi = -1;
	for (int o = 0; o < OH; o++)
		if (ay.n[o]) {
			if (ay.first[o] < ylo)
				ylo = ay.first[o];
			if (ay.first[o] + ay.n[o] - 1 > yhi)
				yhi = ay.first[o] + ay.n[o] - 1;
		}
	for (int y = ylo; y <= yhi; y++) {
		const uint8_t *src = in->pix + (size_t)y * in->w * C;
		float *dst = rows + (size_t)y * OW * C;
		for (int o = 0; o < OW; o++) {
			const float *w = ax.w + (size_t)o * ax.maxtaps;
			for (int c = 0; c < C; c++) {
				float acc = 0.0f;
				for (int k = 0; k < ax.n[o]; k++)
					acc += w[k] * src[(size_t)(ax.first[o] + k) * C + c];
				dst[(size_t)o * C + c] = acc;
			}
		}
	}
	size_t plane = (size_t)OH * OW;
	for (int oy = 0; oy < OH; oy++) {
		const float *w = ay.w + (size_t)oy * ay.maxtaps;
		for (int ox = 0; ox < OW; ox++) {
			int sx = flip ? OW - 1 - ox : ox;
			for (int c = 0; c < C; c++) {
				float acc = 0.0f;
				for (int k = 0; k < ay.n[oy]; k++)
					acc += w[k] * rows[((size_t)(ay.first[oy] + k) * OW + sx) * C + c];
				px[c] = acc;
			}
			size_t at = (size_t)oy * OW + ox;
			for (int c = 0; c < OC; c++) {
				float v = C == OC ? px[c]
					  : C == 1 ? px[0]
					  : 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
				out[c * plane + at] = (v * (1.0f / 255.0f) - t->mean[c]) / t->std[c];
			}
		}
	}
out_free:
	free(px);
	free(rows);
	axis_free(&ax);
	axis_free(&ay);
	return st;
}
