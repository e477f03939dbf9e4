/* The dataset object: open by format name or by detection from the path,
 * and the accessors every reader shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

const char *dim_dataset_formats(void)
{
	return "cifar10 cifar100 stl10 mnist fashion-mnist idx imagefolder tinyimagenet celeba";
}

dim_status dd_dataset_alloc(dim_dataset **out, const char *path, const char *format,
			    const char *split, const struct dim_dataset_ops *ops, dim_error *err)
{
	dim_dataset *ds = calloc(1, sizeof *ds);
	if (!ds)
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
	ds->path = dd_strdup(path);
	if (!ds->path) {
		free(ds);
		return dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
	}
	snprintf(ds->split, sizeof ds->split, "%s", split);
	ds->ops = ops;
	ds->info.format = format;
	ds->info.split = ds->split;
	ds->info.path = ds->path;
	ds->info.channels = 3;
	*out = ds;
	return DIM_OK;
}

dim_status dd_set_classes(dim_dataset *ds, const char *const *names, dim_error *err)
{
	for (; *names; names++) {
		dim_status st = dd_strlist_push_copy(&ds->classes, *names, err);
		if (st)
			return st;
	}
	ds->info.num_classes = (int)ds->classes.n;
	return DIM_OK;
}

void dim_dataset_destroy(dim_dataset *ds)
{
	if (!ds)
		return;
	if (ds->ops && ds->ops->destroy)
		ds->ops->destroy(ds);
	dd_strlist_free(&ds->classes);
	dd_strlist_free(&ds->attr_names);
	free(ds->attrs);
	free(ds->path);
	free(ds);
}

static int has(const char *dir, const char *name)
{
	char *p = dd_join(dir, name);
	int r = p && (dd_is_file(p) || dd_is_dir(p));
	free(p);
	return r;
}

static int has_idx(const char *dir)
{
	return has(dir, "train-images-idx3-ubyte") || has(dir, "train-images-idx3-ubyte.gz") ||
	       has(dir, "t10k-images-idx3-ubyte") || has(dir, "t10k-images-idx3-ubyte.gz");
}

static const char *fmt_idx(const char *path)
{
	return strstr(path, "fashion") || strstr(path, "Fashion") ? "fashion-mnist" : "idx";
}

/* Format of a directory from the names inside it; NULL = plain image folder. */
static const char *detect_dir(const char *dir)
{
	if (has(dir, "data_batch_1.bin") || has(dir, "test_batch.bin"))
		return "cifar10";
	if (has(dir, "fine_label_names.txt") || has(dir, "train.bin") || has(dir, "test.bin"))
		return "cifar100";
	if (has(dir, "train_X.bin") || has(dir, "test_X.bin") || has(dir, "unlabeled_X.bin"))
		return "stl10";
	if (has_idx(dir))
		return fmt_idx(dir);
	if (has(dir, "wnids.txt"))
		return "tinyimagenet";
	if (has(dir, "list_eval_partition.txt") || has(dir, "img_align_celeba"))
		return "celeba";
	return NULL;
}

/* Known top-level folders of the official archives, so the download root
 * can be passed as well. */
static const char *const archive_dirs[] = {
	"cifar-10-batches-bin", "cifar-100-binary", "stl10_binary", "tiny-imagenet-200",
	"celeba", NULL,
};

/* The archive folder inside dir whose contents are of format fmt (NULL when
 * there is none). */
static dim_status archive_root(const char *dir, const char *fmt, char **root, dim_error *err)
{
	*root = NULL;
	for (int k = 0; archive_dirs[k]; k++) {
		char *sub = dd_join(dir, archive_dirs[k]);
		if (!sub)
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		const char *f = dd_is_dir(sub) ? detect_dir(sub) : NULL;
		if (f && !strcmp(f, fmt)) {
			*root = sub;
			return DIM_OK;
		}
		free(sub);
	}
	return DIM_OK;
}

static dim_status detect(const char *path, const char **format, char **root, dim_error *err)
{
	*root = NULL;
	if (dd_is_dir(path)) {
		*format = detect_dir(path);
		if (*format)
			return DIM_OK;
		for (int k = 0; archive_dirs[k]; k++) {
			char *sub = dd_join(path, archive_dirs[k]);
			if (!sub)
				return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
			if (dd_is_dir(sub) && (*format = detect_dir(sub))) {
				*root = sub;
				return DIM_OK;
			}
			free(sub);
		}
		*format = "imagefolder";
		return DIM_OK;
	}
	long long size = dd_file_size(path);
	if (size < 0)
		return dim_fail(err, DIM_ERR_IO, "%s: no such file or directory", path);
	if (strstr(path, "idx") || strstr(path, "ubyte")) {
		*format = fmt_idx(path);
		return DIM_OK;
	}
	if (size > 0 && size % 3073 == 0) {
		*format = "cifar10";
		return DIM_OK;
	}
	if (size > 0 && size % 3074 == 0) {
		*format = "cifar100";
		return DIM_OK;
	}
	return dim_fail(err, DIM_ERR_FORMAT,
			"%s: cannot tell the dataset format from the name or size; pass a format "
			"(%s)",
			path, dim_dataset_formats());
}

dim_status dim_dataset_open(dim_dataset **out, const char *path, const dim_dataset_opts *opts,
			    dim_error *err)
{
	dim_dataset_opts o = {0};
	char *root = NULL;
	dim_status st;
	if (opts)
		o = *opts;
	if (!o.split)
		o.split = "train";
	*out = NULL;
	if (!path || !*path)
		return dim_fail(err, DIM_ERR_ARG, "dataset path is empty");
	const char *fmt = o.format;
	if (!fmt || !strcmp(fmt, "auto")) {
		st = detect(path, &fmt, &root, err);
		if (st)
			return st;
	} else if (dd_is_dir(path) && !detect_dir(path)) {
		/* a download root named with its format: the archive's folder inside */
		st = archive_root(path, fmt, &root, err);
		if (st)
			return st;
	}
	const char *p = root ? root : path;
	if (o.label && strcmp(fmt, "cifar100") && strcmp(fmt, "celeba")) {
		free(root);
		return dim_fail(err, DIM_ERR_ARG, "%s: a label choice ('%s') applies to cifar100 "
				"(fine | coarse) and celeba (an attribute), not to %s", path,
				o.label, fmt);
	}
	if (!strcmp(fmt, "cifar10"))
		st = dd_open_cifar(out, p, 0, &o, err);
	else if (!strcmp(fmt, "cifar100"))
		st = dd_open_cifar(out, p, 1, &o, err);
	else if (!strcmp(fmt, "stl10"))
		st = dd_open_stl10(out, p, &o, err);
	else if (!strcmp(fmt, "mnist") || !strcmp(fmt, "fashion-mnist") || !strcmp(fmt, "idx"))
		st = dd_open_idx(out, p, fmt, &o, err);
	else if (!strcmp(fmt, "imagefolder"))
		st = dd_open_imagefolder(out, p, &o, err);
	else if (!strcmp(fmt, "tinyimagenet"))
		st = dd_open_tinyimagenet(out, p, &o, err);
	else if (!strcmp(fmt, "celeba"))
		st = dd_open_celeba(out, p, &o, err);
	else
		st = dim_fail(err, DIM_ERR_ARG, "unknown dataset format '%s' (known: %s)", fmt,
			      dim_dataset_formats());
	free(root);
	return st;
}

const dim_dataset_info *dim_dataset_get_info(const dim_dataset *ds)
{
	return &ds->info;
}

const char *dim_dataset_class_name(const dim_dataset *ds, int k)
{
	if (k < 0 || (size_t)k >= ds->classes.n)
		return NULL;
	return ds->classes.v[k];
}

const char *dim_dataset_item_path(const dim_dataset *ds, size_t i)
{
	if (i >= ds->info.count)
		return NULL;
	return ds->ops->item_path(ds, i);
}

dim_status dim_dataset_get(dim_dataset *ds, dim_decoder *dec, size_t i, int min_side,
			   dim_image *img, int *label, int *warned, dim_error *err)
{
	if (warned)
		*warned = 0;
	if (i >= ds->info.count)
		return dim_fail(err, DIM_ERR_ARG, "%s: sample %zu out of range (%zu samples)",
				ds->path, i, ds->info.count);
	int lab = -1;
	dim_status st = ds->ops->get(ds, dec, i, min_side, img, &lab, warned, err);
	if (label)
		*label = lab;
	return st;
}

int dim_dataset_num_attrs(const dim_dataset *ds)
{
	return ds->attrs ? (int)ds->attr_names.n : 0;
}

const char *dim_dataset_attr_name(const dim_dataset *ds, int k)
{
	if (!ds->attrs || k < 0 || (size_t)k >= ds->attr_names.n)
		return NULL;
	return ds->attr_names.v[k];
}

dim_status dim_dataset_attrs(const dim_dataset *ds, size_t i, int8_t *out, dim_error *err)
{
	if (!ds->attrs)
		return dim_fail(err, DIM_ERR_ARG, "%s: no attributes loaded", ds->path);
	if (i >= ds->info.count)
		return dim_fail(err, DIM_ERR_ARG, "%s: sample %zu out of range", ds->path, i);
	memcpy(out, ds->attrs + i * ds->attr_names.n, ds->attr_names.n);
	return DIM_OK;
}
