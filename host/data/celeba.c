/* CelebA (aligned): img_align_celeba/NNNNNN.jpg (178x218), the split from
 * list_eval_partition.txt ("file 0|1|2" = train|valid|test), and optionally
 * list_attr_celeba.txt (count; 40 names; "file v1..v40", v = +-1, fields
 * split on any whitespace). With opts.label = an attribute name, the label is
 * 1 where it is +1, else 0; without, samples are unlabeled (-1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define CELEBA_MAX_ATTRS 256

static dim_status load_partition(const char *root, int want, dd_strlist *files, dim_error *err)
{
	char *p = dd_join(root, "list_eval_partition.txt"), *text = NULL, *cur, *line;
	dim_status st;
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	st = dd_read_text(p, 64u << 20, &text, NULL, err);
	if (st)
		goto out_free;
	cur = text;
	for (int l = 1; (line = dd_next_line(&cur)); l++) {
		char *file = dd_next_field(&line), *part = dd_next_field(&line);
		long v;
		if (!file)
			continue;
		if (!part || !dd_parse_int(part, 0, 2, &v) || strchr(file, '/')) {
			st = dim_fail(err, DIM_ERR_FORMAT, "%s:%d: expected 'file 0|1|2'", p, l);
			goto out_free;
		}
		if (want < 0 || v == want) {
			st = dd_strlist_push_copy(files, file, err);
			if (st)
				goto out_free;
		}
	}
	if (!files->n)
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: no images in this split", p);
out_free:
	free(text);
	free(p);
	return st;
}

/* Attributes for the chosen files; rows must follow the partition's order. */
static dim_status load_attrs(dim_dataset *ds, const char *p, const dd_strlist *files,
			     dim_error *err)
{
	char *text = NULL, *cur, *line, *f;
	size_t next = 0;
	dim_status st = dd_read_text(p, 256u << 20, &text, NULL, err);
	if (st)
		return st;
	cur = text;
	line = dd_next_line(&cur); /* count */
	line = dd_next_line(&cur);
	while (line && (f = dd_next_field(&line)))
		if ((st = dd_strlist_push_copy(&ds->attr_names, f, err)))
			goto out_free;
	size_t na = ds->attr_names.n;
	if (!na || na > CELEBA_MAX_ATTRS) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s:2: expected 1..%d attribute names, got %zu",
			      p, CELEBA_MAX_ATTRS, na);
		goto out_free;
	}
	ds->attrs = malloc(files->n * na);
	if (!ds->attrs) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_free;
	}
	for (int l = 3; next < files->n && (line = dd_next_line(&cur)); l++) {
		char *file = dd_next_field(&line);
		if (!file || strcmp(file, files->v[next]))
			continue; /* another split's row */
		for (size_t a = 0; a < na; a++) {
			long v;
			f = dd_next_field(&line);
			if (!f || !dd_parse_int(f, -1, 1, &v) || v == 0) {
				st = dim_fail(err, DIM_ERR_FORMAT,
					      "%s:%d: attribute %zu is not -1 or 1", p, l, a + 1);
				goto out_free;
			}
			ds->attrs[next * na + a] = (int8_t)v;
		}
		next++;
	}
	if (next < files->n)
		st = dim_fail(err, DIM_ERR_FORMAT,
			      "%s: no row for %s (rows must follow list_eval_partition.txt)", p,
			      files->v[next]);
out_free:
	free(text);
	return st;
}

dim_status dd_open_celeba(dim_dataset **out, const char *path, const dim_dataset_opts *o,
			  dim_error *err)
{
	static const char *const splits[] = {"train", "valid", "test", "all", NULL};
	dd_strlist files = {0};
	dim_dataset *ds;
	dim_status st;
	int want = -2;
	for (int k = 0; splits[k]; k++)
		if (!strcmp(o->split, splits[k]))
			want = k == 3 ? -1 : k;
	if (want == -2)
		return dim_fail(err, DIM_ERR_ARG,
				"%s: celeba splits are train, valid, test and all, not '%s'", path,
				o->split);
	st = dd_dataset_alloc(&ds, path, "celeba", o->split, &dd_files_ops, err);
	if (st)
		return st;
	st = dd_files_create(ds, o, err);
	if (!st)
		st = load_partition(path, want, &files, err);
	if (st)
		goto out_free_files;
	char *attr = dd_join(path, "list_attr_celeba.txt");
	if (!attr) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_free_files;
	}
	if (dd_is_file(attr))
		st = load_attrs(ds, attr, &files, err);
	else if (o->label)
		st = dim_fail(err, DIM_ERR_IO, "%s: missing (needed for label '%s')", attr,
			      o->label);
	free(attr);
	if (st)
		goto out_free_files;
	long label_attr = -1;
	if (o->label) {
		label_attr = dd_strlist_find(&ds->attr_names, o->label);
		if (label_attr < 0) {
			st = dim_fail(err, DIM_ERR_ARG, "celeba has no attribute '%s'", o->label);
			goto out_free_files;
		}
		char name[300];
		snprintf(name, sizeof name, "not %s", o->label);
		st = dd_strlist_push_copy(&ds->classes, name, err);
		if (!st)
			st = dd_strlist_push_copy(&ds->classes, o->label, err);
		if (st)
			goto out_free_files;
		ds->info.num_classes = 2;
		ds->info.has_labels = 1;
	}
	char *dir = dd_join(path, "img_align_celeba");
	if (!dir) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_free_files;
	}
	size_t na = ds->attr_names.n;
	for (size_t i = 0; i < files.n && !st; i++) {
		int lab = label_attr < 0 ? -1 : ds->attrs[i * na + (size_t)label_attr] > 0;
		st = dd_files_add(ds->priv, dd_join(dir, files.v[i]), lab, err);
	}
	free(dir);
	if (st)
		goto out_free_files;
	ds->info.count = files.n;
	ds->info.width = 178;
	ds->info.height = 218;
	dd_strlist_free(&files);
	*out = ds;
	return DIM_OK;
out_free_files:
	dd_strlist_free(&files);
	dim_dataset_destroy(ds);
	return st;
}
