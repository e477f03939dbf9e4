/* torchvision-style image folders: root/<class>/.../<file>, or a flat folder
 * of images (unlabelled: label -1). Classes are the
 * subdirectory names sorted with strcmp; files are ordered like torchvision's
 * sorted(os.walk()) (by directory path, then file name) and filtered by
 * extension (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case). The
 * content is identified by magic bytes when decoded. Also used by Tiny
 * ImageNet for its train/<wnid>/images/ folders. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_imagefolder.h"
#include "data/data_internal.h"

#define MAX_DEPTH 32

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int dd_is_image_name(const char *name)
{
	static const char *const exts[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm",
					   ".tif", ".tiff", ".webp", NULL};
	size_t n = strlen(name);
	for (int k = 0; exts[k]; k++) {
		size_t e = strlen(exts[k]);
		if (n <= e)
			continue;
		size_t j = 0;
		while (j < e && lower(name[n - e + j]) == exts[k][j])
			j++;
		if (j == e)
			return 1;
	}
	return 0;
}

/* Sorted entry names of a directory (not "." or ".."). */
dim_status dd_list_dir(const char *dir, dd_strlist *out, dim_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	dim_status st = DIM_OK;
	if (!d)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot open directory: %s", dir,
				strerror(errno));
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		st = dd_strlist_push_copy(out, e->d_name, err);
		if (st)
			break;
	}
	closedir(d);
	dd_strlist_sort(out);
	return st;
}

/* Every directory under (and including) dir, unsorted. */
static dim_status walk_dirs(const char *dir, int depth, dd_strlist *dirs, dim_error *err)
{
	dd_strlist names = {0};
	dim_status st = dd_strlist_push_copy(dirs, dir, err);
	if (st)
		return st;
	if (depth >= MAX_DEPTH)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: directories nested over %d deep", dir,
				MAX_DEPTH);
	st = dd_list_dir(dir, &names, err);
	for (size_t i = 0; i < names.n && !st; i++) {
		char *p = dd_join(dir, names.v[i]);
		if (!p) {
			st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
			break;
		}
		if (dd_is_dir(p))
			st = walk_dirs(p, depth + 1, dirs, err);
		free(p);
	}
	dd_strlist_free(&names);
	return st;
}

dim_status dd_add_image_tree(dd_files *f, const char *dir, int label, size_t *added,
			     dim_error *err)
{
	dd_strlist dirs = {0};
	size_t before = f->paths.n;
	dim_status st = walk_dirs(dir, 0, &dirs, err);
	dd_strlist_sort(&dirs);
	for (size_t k = 0; k < dirs.n && !st; k++) {
		dd_strlist names = {0};
		st = dd_list_dir(dirs.v[k], &names, err);
		for (size_t i = 0; i < names.n && !st; i++) {
			if (!dd_is_image_name(names.v[i]))
				continue;
			char *p = dd_join(dirs.v[k], names.v[i]);
			if (!p) {
				st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
				break;
			}
			if (!dd_is_file(p)) {
				free(p);
				continue;
			}
			st = dd_files_add(f, p, label, err);
		}
		dd_strlist_free(&names);
	}
	dd_strlist_free(&dirs);
	if (added)
		*added = f->paths.n - before;
	return st;
}

/* A split of an image folder: root/<split>/ when the folder has split
 * subfolders (train/, val/, test/: the ImageNet layout), else the whole
 * folder, which only "train" and "all" name. Nothing is split at random, so a
 * "test" split never silently holds the training images. */
static dim_status split_root(const char *path, const char *split, char **root, const char **name,
			     dim_error *err)
{
	static const char *const splits[] = {"train", "val", "test", NULL};
	int layout = 0;
	*root = NULL;
	for (int k = 0; splits[k]; k++) {
		char *p = dd_join(path, splits[k]);
		if (!p)
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		layout |= dd_is_dir(p);
		free(p);
	}
	if (!strcmp(split, "all") || (!layout && !strcmp(split, "train"))) {
		*name = "all";
		return DIM_OK;
	}
	char *p = dd_join(path, split);
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	if (!strchr(split, '/') && strcmp(split, ".") && strcmp(split, "..") && dd_is_dir(p)) {
		*root = p;
		*name = split;
		return DIM_OK;
	}
	free(p);
	return dim_fail(err, DIM_ERR_ARG,
			"%s: an image folder has no '%s' split: use 'all' (the whole folder%s), "
			"or make %s/%s/<class>/<images> (the ImageNet layout) or pass a separate "
			"folder", path, split, layout ? "" : ", also 'train'", path, split);
}

dim_status dd_open_imagefolder(dim_dataset **out, const char *path, const dim_dataset_opts *o,
			       dim_error *err)
{
	dd_strlist names = {0};
	dim_dataset *ds;
	dim_status st;
	char *sub = NULL;
	const char *split = "all";
	if (!dd_is_dir(path))
		return dim_fail(err, DIM_ERR_IO, "%s: not a directory (an image folder is "
						 "root/<class>/<images>, or images in root)", path);
	st = split_root(path, o->split ? o->split : "train", &sub, &split, err);
	if (st)
		return st;
	const char *root = sub ? sub : path;
	st = dd_dataset_alloc(&ds, root, "imagefolder", split, &dd_files_ops, err);
	if (st)
		goto out_free_sub;
	st = dd_files_create(ds, o, err);
	if (st)
		goto out_destroy;
	st = dd_list_dir(root, &names, err);
	for (size_t i = 0; i < names.n && !st; i++) {
		char *p = dd_join(root, names.v[i]);
		if (!p) {
			st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
			break;
		}
		if (dd_is_dir(p)) {
			size_t added = 0;
			st = dd_add_image_tree(ds->priv, p, (int)ds->classes.n, &added, err);
			if (!st && !added)
				st = dim_fail(err, DIM_ERR_FORMAT,
					      "%s: class folder has no image files (.jpg .jpeg .png "
					      "...)", p);
			if (!st)
				st = dd_strlist_push_copy(&ds->classes, names.v[i], err);
		}
		free(p);
	}
	if (st)
		goto out_free_names;
	if (!ds->classes.n) {
		/* a flat folder: its own images, unlabelled */
		size_t added = 0;
		st = dd_add_image_tree(ds->priv, root, -1, &added, err);
		if (!st && !added)
			st = dim_fail(err, DIM_ERR_FORMAT,
				      "%s: no image files (.jpg .jpeg .png ...): expected "
				      "root/<class>/<images> or images in the folder itself", root);
		if (st)
			goto out_free_names;
	}
	ds->info.num_classes = (int)ds->classes.n;
	ds->info.has_labels = ds->classes.n > 0;
	ds->info.count = ((dd_files *)ds->priv)->paths.n;
	dd_strlist_free(&names);
	free(sub);
	*out = ds;
	return DIM_OK;
out_free_names:
	dd_strlist_free(&names);
out_destroy:
	dim_dataset_destroy(ds);
out_free_sub:
	free(sub);
	return st;
}
