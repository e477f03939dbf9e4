/* Datasets whose samples are image files with one label each (image folders,
 * Tiny ImageNet, CelebA): a path list and a label list; get() reads and
 * decodes the file with the caller's per-thread decoder. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

static dim_status files_get(dim_dataset *ds, dim_decoder *dec, size_t i, int min_side,
			    dim_image *img, int *label, int *warned, dim_error *err)
{
	dd_files *f = ds->priv;
	dim_decode_opts o = f->dopts;
	dim_decoder *own = NULL;
	dim_status st;
	o.min_side = min_side;
	if (!dec) {
		st = dim_decoder_create(&own, err);
		if (st)
			return st;
		dec = own;
	}
	st = dim_image_load(dec, f->paths.v[i], &o, img, warned, err);
	dim_decoder_destroy(own);
	if (!st)
		*label = f->labels[i];
	return st;
}

static const char *files_item_path(const dim_dataset *ds, size_t i)
{
	const dd_files *f = ds->priv;
	return f->paths.v[i];
}

static void files_destroy(dim_dataset *ds)
{
	dd_files *f = ds->priv;
	if (!f)
		return;
	dd_strlist_free(&f->paths);
	free(f->labels);
	free(f);
}

const struct dim_dataset_ops dd_files_ops = {files_get, files_item_path, files_destroy};

dim_status dd_files_create(dim_dataset *ds, const dim_dataset_opts *o, dim_error *err)
{
	dd_files *f = calloc(1, sizeof *f);
	if (!f)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	f->dopts.allow_truncated = o->allow_truncated;
	f->dopts.max_pixels = o->max_pixels;
	ds->priv = f;
	ds->info.encoded = 1;
	return DIM_OK;
}

dim_status dd_files_add(dd_files *f, char *path_owned, int label, dim_error *err)
{
	if (f->paths.n == f->labels_cap) {
		size_t cap = f->labels_cap ? f->labels_cap * 2 : 64;
		int *l = realloc(f->labels, cap * sizeof *l);
		if (!l) {
			free(path_owned);
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		}
		f->labels = l;
		f->labels_cap = cap;
	}
	dim_status st = dd_strlist_push(&f->paths, path_owned, err);
	if (!st)
		f->labels[f->paths.n - 1] = label;
	return st;
}
