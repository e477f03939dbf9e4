/* Tiny ImageNet (tiny-imagenet-200/): wnids.txt; train/<wnid>/images/<wnid>_<k>.JPEG
 * (labels: index of the wnid in sorted order, as ImageFolder on train/ gives);
 * val/images/ with val/val_annotations.txt ("file<TAB>wnid<TAB>box..."); and
 * test/images/ without labels. Images are 64x64, some grayscale. */
#include <stdlib.h>
#include <string.h>

#include "data/data_imagefolder.h"
#include "data/data_internal.h"

static dim_status load_train(dim_dataset *ds, const char *root, dim_error *err)
{
	dim_status st = DIM_OK;
	for (size_t k = 0; k < ds->classes.n && !st; k++) {
		char *cls = dd_join(root, "train"), *dir = NULL, *img = NULL;
		if (cls)
			dir = dd_join(cls, ds->classes.v[k]);
		if (dir)
			img = dd_join(dir, "images");
		if (!img) {
			st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		} else if (!dd_is_dir(img)) {
			st = dim_fail(err, DIM_ERR_FORMAT, "%s: missing (wnid listed in wnids.txt)",
				      img);
		} else {
			size_t added = 0;
			st = dd_add_image_tree(ds->priv, img, (int)k, &added, err);
			if (!st && !added)
				st = dim_fail(err, DIM_ERR_FORMAT, "%s: no image files", img);
		}
		free(cls);
		free(dir);
		free(img);
	}
	return st;
}

static dim_status load_val(dim_dataset *ds, const char *root, dim_error *err)
{
	char *val = dd_join(root, "val"), *ann = NULL, *images = NULL, *text = NULL;
	char *cur, *line;
	dim_status st = DIM_OK;
	if (val) {
		ann = dd_join(val, "val_annotations.txt");
		images = dd_join(val, "images");
	}
	if (!ann || !images) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_free;
	}
	st = dd_read_text(ann, 64u << 20, &text, NULL, err);
	if (st)
		goto out_free;
	cur = text;
	for (int l = 1; (line = dd_next_line(&cur)); l++) {
		char *file = dd_next_field(&line), *wnid = dd_next_field(&line);
		if (!file)
			continue;
		long k = wnid ? dd_strlist_find(&ds->classes, wnid) : -1;
		if (k < 0 || strchr(file, '/')) {
			st = dim_fail(err, DIM_ERR_FORMAT, "%s:%d: %s", ann, l,
				      !wnid ? "missing wnid"
				      : k < 0 ? "wnid not in wnids.txt" : "bad file name");
			goto out_free;
		}
		char *p = dd_join(images, file);
		st = dd_files_add(ds->priv, p, (int)k, err);
		if (st)
			goto out_free;
	}
	if (!((dd_files *)ds->priv)->paths.n)
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: no annotations", ann);
out_free:
	free(text);
	free(images);
	free(ann);
	free(val);
	return st;
}

dim_status dd_open_tinyimagenet(dim_dataset **out, const char *path, const dim_dataset_opts *o,
				dim_error *err)
{
	const char *split = o->split;
	dim_dataset *ds;
	dim_status st;
	if (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test"))
		return dim_fail(err, DIM_ERR_ARG,
				"%s: tinyimagenet splits are train, val and test, not '%s'", path,
				split);
	st = dd_dataset_alloc(&ds, path, "tinyimagenet", split, &dd_files_ops, err);
	if (st)
		return st;
	st = dd_files_create(ds, o, err);
	if (st)
		goto out_destroy;
	char *wnids = dd_join(path, "wnids.txt");
	st = wnids ? dd_load_names(wnids, &ds->classes, err)
		   : dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	if (!st && !ds->classes.n)
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: no wnids", wnids);
	free(wnids);
	if (st)
		goto out_destroy;
	dd_strlist_sort(&ds->classes);
	ds->info.num_classes = (int)ds->classes.n;
	if (!strcmp(split, "train")) {
		st = load_train(ds, path, err);
	} else if (!strcmp(split, "val")) {
		st = load_val(ds, path, err);
	} else {
		char *t = dd_join(path, "test"), *img = t ? dd_join(t, "images") : NULL;
		size_t added = 0;
		st = img ? dd_add_image_tree(ds->priv, img, -1, &added, err)
			 : dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		if (!st && !added)
			st = dim_fail(err, DIM_ERR_FORMAT, "%s: no image files", img);
		free(img);
		free(t);
	}
	if (st)
		goto out_destroy;
	ds->info.has_labels = strcmp(split, "test") != 0;
	ds->info.count = ((dd_files *)ds->priv)->paths.n;
	ds->info.width = ds->info.height = 64;
	*out = ds;
	return DIM_OK;
out_destroy:
	dim_dataset_destroy(ds);
	return st;
}
