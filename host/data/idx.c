/* IDX files (MNIST, Fashion-MNIST), plain or gzip: zlib's gzread reads both.
 * Header: 00 00 TT ND, then ND big-endian u32 sizes, then C-order data.
 * Images are u8 [N, H, W] (0x00000803), labels u8 [N] (0x00000801). A file
 * is decompressed once into memory at open (47 MB for MNIST train). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/data_idx.h"
#include "data/data_internal.h"

#define IDX_MAX_BYTES (4ull << 30)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

dim_status dd_idx_header(const uint8_t *buf, size_t len, const char *name, dd_idx *out,
			 dim_error *err)
{
	memset(out, 0, sizeof *out);
	if (len < 4)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: too short for an IDX header (%zu bytes)",
				name, len);
	if (buf[0] || buf[1])
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: bad IDX magic %02x %02x %02x %02x (expected 00 00 08 0N)",
				name, buf[0], buf[1], buf[2], buf[3]);
	if (buf[2] != 0x08)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: IDX element type 0x%02x is not unsigned byte (0x08)", name,
				buf[2]);
	int nd = buf[3];
	if (nd < 1 || nd > DD_IDX_MAX_DIMS)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: IDX with %d dimensions (1..%d allowed)",
				name, nd, DD_IDX_MAX_DIMS);
	size_t hdr = 4 + 4 * (size_t)nd;
	if (len < hdr)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: truncated IDX header (%zu of %zu bytes)",
				name, len, hdr);
	unsigned long long total = 1;
	for (int d = 0; d < nd; d++) {
		out->dims[d] = be32(buf + 4 + 4 * d);
		total *= out->dims[d];
		if (total > IDX_MAX_BYTES)
			return dim_fail(err, DIM_ERR_FORMAT,
					"%s: absurd IDX dimensions (more than %llu bytes of data)",
					name, IDX_MAX_BYTES);
	}
	out->nd = nd;
	out->header = hdr;
	out->data_bytes = (size_t)total;
	return DIM_OK;
}

dim_status dd_idx_parse(const uint8_t *buf, size_t len, const char *name, dd_idx *out,
			dim_error *err)
{
	dim_status st = dd_idx_header(buf, len, name, out, err);
	if (st)
		return st;
	if (len - out->header != out->data_bytes)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: IDX header declares %zu data bytes but the file has %zu%s",
				name, out->data_bytes, len - out->header,
				len - out->header < out->data_bytes ? " (truncated)" : "");
	out->data = buf + out->header;
	return DIM_OK;
}

dim_status dd_idx_load(const char *path, uint8_t **bytes, size_t *len, dim_error *err)
{
	dim_status st = DIM_OK;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, limit = (size_t)-1;
	dd_idx hdr;
	int header_done = 0;
	errno = 0;
	gzFile gz = gzopen(path, "rb");
	if (!gz)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot open: %s", path,
				errno ? strerror(errno) : "out of memory");
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 1 << 16;
			uint8_t *nb = realloc(buf, ncap);
			if (!nb) {
				st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
				goto out_close;
			}
			buf = nb;
			cap = ncap;
		}
		size_t want = cap - n;
		if (want > (1u << 30))
			want = 1u << 30;
		int r = gzread(gz, buf + n, (unsigned)want);
		if (r < 0) {
			int zerr;
			const char *m = gzerror(gz, &zerr);
			st = dim_fail(err, DIM_ERR_FORMAT, "%s: %s", path,
				      zerr == Z_ERRNO ? strerror(errno) : m);
			goto out_close;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (!header_done && n >= 4 &&
		    (n >= 4 + 4 * (size_t)buf[3] || buf[0] || buf[1] || buf[2] != 0x08 ||
		     buf[3] < 1 || buf[3] > DD_IDX_MAX_DIMS)) {
			st = dd_idx_header(buf, n, path, &hdr, err);
			if (st)
				goto out_close;
			header_done = 1;
			limit = hdr.header + hdr.data_bytes;
		}
		if (n > limit) {
			st = dim_fail(err, DIM_ERR_FORMAT,
				      "%s: more data than the IDX header declares (%zu bytes)",
				      path, limit);
			goto out_close;
		}
	}
	if (!header_done) {
		st = dd_idx_header(buf, n, path, &hdr, err);
		if (st)
			goto out_close;
	}
	*bytes = buf;
	*len = n;
	buf = NULL;
out_close:
	gzclose(gz);
	free(buf);
	return st;
}

typedef struct idx_ds {
	uint8_t *img_bytes, *lab_bytes;
	dd_idx img, lab;
	char *img_path;
} idx_ds;

static const char *const fashion_names[] = {
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot", NULL,
};
static const char *const digit_names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", NULL};

static dim_status idx_get(dim_dataset *ds, dim_decoder *dec, size_t i, int min_side,
			  dim_image *img, int *label, int *warned, dim_error *err)
{
	idx_ds *x = ds->priv;
	int h = (int)x->img.dims[1], w = (int)x->img.dims[2];
	dim_status st = dim_image_reserve(img, w, h, 1, err);
	if (st)
		return st;
	memcpy(img->pix, x->img.data + i * (size_t)w * h, (size_t)w * h);
	*label = x->lab_bytes ? x->lab.data[i] : -1;
	return DIM_OK;
}

static const char *idx_item_path(const dim_dataset *ds, size_t i)
{
	const idx_ds *x = ds->priv;
	return x->img_path;
}

static void idx_destroy(dim_dataset *ds)
{
	idx_ds *x = ds->priv;
	if (!x)
		return;
	free(x->img_bytes);
	free(x->lab_bytes);
	free(x->img_path);
	free(x);
}

static const struct dim_dataset_ops idx_ops = {idx_get, idx_item_path, idx_destroy};

/* dir/name or dir/name.gz, whichever exists; NULL when neither. */
static char *find_gz(const char *dir, const char *name)
{
	char gzname[64];
	char *p = dd_join(dir, name);
	if (p && dd_is_file(p))
		return p;
	free(p);
	snprintf(gzname, sizeof gzname, "%s.gz", name);
	p = dd_join(dir, gzname);
	if (p && dd_is_file(p))
		return p;
	free(p);
	return NULL;
}

/* The labels file next to an images file: images-idx3 -> labels-idx1. */
static char *labels_for(const char *img)
{
	const char *k = strstr(img, "images-idx3");
	if (!k)
		return NULL;
	char *p = dd_strdup(img);
	if (!p)
		return NULL;
	memcpy(p + (k - img), "labels-idx1", 11);
	if (!dd_is_file(p)) {
		free(p);
		return NULL;
	}
	return p;
}

static dim_status open_files(idx_ds *x, const char *img_path, const char *lab_path,
			     dim_error *err)
{
	size_t n;
	dim_status st = dd_idx_load(img_path, &x->img_bytes, &n, err);
	if (st)
		return st;
	st = dd_idx_parse(x->img_bytes, n, img_path, &x->img, err);
	if (st)
		return st;
	if (x->img.nd != 3 || !x->img.dims[0] || !x->img.dims[1] || !x->img.dims[2] ||
	    x->img.dims[1] > 65535 || x->img.dims[2] > 65535)
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: expected non-empty images [N, H, W], got %d dimensions", img_path,
				x->img.nd);
	if (!lab_path)
		return DIM_OK;
	st = dd_idx_load(lab_path, &x->lab_bytes, &n, err);
	if (st)
		return st;
	st = dd_idx_parse(x->lab_bytes, n, lab_path, &x->lab, err);
	if (st)
		return st;
	if (x->lab.nd != 1 || x->lab.dims[0] != x->img.dims[0])
		return dim_fail(err, DIM_ERR_FORMAT,
				"%s: expected %u labels [N] to match %s, got %d dimensions, %u "
				"entries",
				lab_path, x->img.dims[0], img_path, x->lab.nd, x->lab.dims[0]);
	for (size_t i = 0; i < x->lab.dims[0]; i++)
		if (x->lab.data[i] > 9)
			return dim_fail(err, DIM_ERR_FORMAT, "%s: label %u at %zu is not in 0..9",
					lab_path, x->lab.data[i], i);
	return DIM_OK;
}

dim_status dd_open_idx(dim_dataset **out, const char *path, const char *format,
		       const dim_dataset_opts *o, dim_error *err)
{
	char *img = NULL, *lab = NULL;
	const char *split = o->split;
	dim_dataset *ds;
	dim_status st;
	int is_dir = dd_is_dir(path);
	if (is_dir) {
		int test = !strcmp(split, "test");
		if (!test && strcmp(split, "train"))
			return dim_fail(err, DIM_ERR_ARG, "%s: %s splits are train and test, not '%s'",
					path, format, split);
		img = find_gz(path, test ? "t10k-images-idx3-ubyte" : "train-images-idx3-ubyte");
		if (!img)
			return dim_fail(err, DIM_ERR_IO, "%s: no %s-images-idx3-ubyte[.gz] here",
					path, test ? "t10k" : "train");
		lab = find_gz(path, test ? "t10k-labels-idx1-ubyte" : "train-labels-idx1-ubyte");
	} else {
		split = "file";
		img = dd_strdup(path);
		lab = img ? labels_for(img) : NULL;
		if (!img)
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	}
	st = dd_dataset_alloc(&ds, path, format, split, &idx_ops, err);
	if (st)
		goto out_free_paths;
	idx_ds *x = calloc(1, sizeof *x);
	if (!x) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_destroy;
	}
	ds->priv = x;
	x->img_path = img;
	img = NULL;
	st = open_files(x, x->img_path, lab, err);
	if (st)
		goto out_destroy;
	if (x->lab_bytes) {
		st = dd_set_classes(ds, strcmp(format, "fashion-mnist") ? digit_names
									 : fashion_names, err);
		if (st)
			goto out_destroy;
		ds->info.has_labels = 1;
	}
	ds->info.count = x->img.dims[0];
	ds->info.height = (int)x->img.dims[1];
	ds->info.width = (int)x->img.dims[2];
	ds->info.channels = 1;
	*out = ds;
	goto out_free_paths;
out_destroy:
	dim_dataset_destroy(ds);
out_free_paths:
	free(img);
	free(lab);
	return st;
}
