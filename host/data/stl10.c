/* STL-10 binary (stl10_binary/): {train,test,unlabeled}_X.bin hold 96x96x3
 * images, each plane column-major: pixel(c, y, x) = img[c*9216 + x*96 + y].
 * {train,test}_y.bin hold labels 1..10 (one byte each). fold_indices.txt has
 * 10 lines of 0-based indices into train. unlabeled_X.bin is 2.7 GB and is
 * read one record at a time with pread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define STL_SIDE 96
#define STL_PLANE (STL_SIDE * STL_SIDE)
#define STL_REC (3 * STL_PLANE)

typedef struct stl10 {
	dd_records x[2];   /* [0] train or test, [1] unlabeled (train+unlabeled) */
	uint8_t *y;        /* labels of x[0], 0-based; NULL for unlabeled */
	size_t *fold;      /* foldK: item -> train index; NULL otherwise */
	size_t nfold;
	int only_unlabeled;
} stl10;

static const char *const stl_names[] = {
	"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck", NULL,
};

/* Map item i to (record set, record, label). */
static const dd_records *locate(const stl10 *s, size_t i, size_t *rec, int *label)
{
	if (s->only_unlabeled) {
		*rec = i;
		*label = -1;
		return &s->x[1];
	}
	if (s->fold)
		i = s->fold[i];
	if (i < s->x[0].count) {
		*rec = i;
		*label = s->y[i];
		return &s->x[0];
	}
	*rec = i - s->x[0].count;
	*label = -1;
	return &s->x[1];
}

static dim_status stl_get(dim_dataset *ds, dim_decoder *dec, size_t i, int min_side,
			  dim_image *img, int *label, int *warned, dim_error *err)
{
	stl10 *s = ds->priv;
	size_t rec;
	const dd_records *r = locate(s, i, &rec, label);
	uint8_t *raw = malloc(STL_REC);
	if (!raw)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	dim_status st = dd_records_read(r, rec, raw, err);
	if (!st)
		st = dim_image_reserve(img, STL_SIDE, STL_SIDE, 3, err);
	if (!st)
		for (int y = 0; y < STL_SIDE; y++)
			for (int x = 0; x < STL_SIDE; x++)
				for (int c = 0; c < 3; c++)
					img->pix[(y * STL_SIDE + x) * 3 + c] =
						raw[c * STL_PLANE + x * STL_SIDE + y];
	free(raw);
	return st;
}

static const char *stl_item_path(const dim_dataset *ds, size_t i)
{
	const stl10 *s = ds->priv;
	size_t rec;
	int label;
	const dd_records *r = locate(s, i, &rec, &label);
	return dd_records_path(r, rec);
}

static void stl_destroy(dim_dataset *ds)
{
	stl10 *s = ds->priv;
	if (!s)
		return;
	dd_records_close(&s->x[0]);
	dd_records_close(&s->x[1]);
	free(s->y);
	free(s->fold);
	free(s);
}

static const struct dim_dataset_ops stl_ops = {stl_get, stl_item_path, stl_destroy};

static dim_status add_x(dd_records *r, const char *dir, const char *name, dim_error *err)
{
	char *p = dd_join(dir, name);
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	dim_status st = dd_records_add(r, p, STL_REC, err);
	free(p);
	return st;
}

static dim_status load_y(stl10 *s, const char *dir, const char *name, dim_error *err)
{
	char *p = dd_join(dir, name), *text = NULL;
	size_t n = 0;
	dim_status st;
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	st = dd_read_text(p, 1u << 24, &text, &n, err);
	if (st)
		goto out_free_path;
	if (n != s->x[0].count) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: %zu labels for %zu images", p, n,
			      s->x[0].count);
		goto out_free_text;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t v = (uint8_t)text[i];
		if (v < 1 || v > 10) {
			st = dim_fail(err, DIM_ERR_FORMAT, "%s: label %u at %zu is not in 1..10",
				      p, v, i);
			goto out_free_text;
		}
		text[i] = (char)(v - 1);
	}
	s->y = (uint8_t *)text;
	text = NULL;
out_free_text:
	free(text);
out_free_path:
	free(p);
	return st;
}

static dim_status load_fold(stl10 *s, const char *dir, int k, dim_error *err)
{
	char *p = dd_join(dir, "fold_indices.txt"), *text = NULL, *cur, *line, *f;
	dim_status st;
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	st = dd_read_text(p, 1u << 24, &text, NULL, err);
	if (st)
		goto out_free_path;
	cur = text;
	for (int l = 0; (line = dd_next_line(&cur)); l++) {
		if (l != k)
			continue;
		while ((f = dd_next_field(&line))) {
			long v;
			if (!dd_parse_int(f, 0, (long)s->x[0].count - 1, &v)) {
				st = dim_fail(err, DIM_ERR_FORMAT,
					      "%s: line %d: '%s' is not an index below %zu", p,
					      l + 1, f, s->x[0].count);
				goto out_free_text;
			}
			if ((s->nfold & (s->nfold - 1)) == 0) {
				size_t *v2 = realloc(s->fold, (s->nfold ? s->nfold * 2 : 1) *
								  sizeof *v2);
				if (!v2) {
					st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
					goto out_free_text;
				}
				s->fold = v2;
			}
			s->fold[s->nfold++] = (size_t)v;
		}
		break;
	}
	if (!s->nfold)
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: fold %d is missing or empty", p, k);
out_free_text:
	free(text);
out_free_path:
	free(p);
	return st;
}

dim_status dd_open_stl10(dim_dataset **out, const char *path, const dim_dataset_opts *o,
			 dim_error *err)
{
	const char *split = o->split;
	int fold = -1;
	dim_dataset *ds;
	dim_status st;
	if (!strncmp(split, "fold", 4)) {
		long k;
		if (!dd_parse_int(split + 4, 0, 9, &k))
			return dim_fail(err, DIM_ERR_ARG, "stl10: bad fold '%s' (fold0..fold9)",
					split);
		fold = (int)k;
	} else if (strcmp(split, "train") && strcmp(split, "test") &&
		   strcmp(split, "unlabeled") && strcmp(split, "train+unlabeled")) {
		return dim_fail(err, DIM_ERR_ARG,
				"%s: stl10 splits are train, test, unlabeled, train+unlabeled, "
				"fold0..fold9, not '%s'",
				path, split);
	}
	if (!dd_is_dir(path))
		return dim_fail(err, DIM_ERR_IO, "%s: stl10 needs the stl10_binary directory",
				path);
	st = dd_dataset_alloc(&ds, path, "stl10", split, &stl_ops, err);
	if (st)
		return st;
	stl10 *s = calloc(1, sizeof *s);
	if (!s) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_destroy;
	}
	ds->priv = s;
	int test = !strcmp(split, "test");
	if (!strcmp(split, "unlabeled")) {
		s->only_unlabeled = 1;
	} else {
		st = add_x(&s->x[0], path, test ? "test_X.bin" : "train_X.bin", err);
		if (!st)
			st = load_y(s, path, test ? "test_y.bin" : "train_y.bin", err);
		if (st)
			goto out_destroy;
	}
	if (s->only_unlabeled || !strcmp(split, "train+unlabeled")) {
		st = add_x(&s->x[1], path, "unlabeled_X.bin", err);
		if (st)
			goto out_destroy;
	}
	if (fold >= 0) {
		st = load_fold(s, path, fold, err);
		if (st)
			goto out_destroy;
	}
	char *names = dd_join(path, "class_names.txt");
	if (!names) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_destroy;
	}
	if (dd_is_file(names)) {
		st = dd_load_names(names, &ds->classes, err);
		if (!st && ds->classes.n != 10)
			st = dim_fail(err, DIM_ERR_FORMAT, "%s: %zu class names, expected 10",
				      names, ds->classes.n);
		ds->info.num_classes = 10;
	} else {
		st = dd_set_classes(ds, stl_names, err);
	}
	free(names);
	if (st)
		goto out_destroy;
	ds->info.count = s->fold ? s->nfold : s->x[0].count + s->x[1].count;
	ds->info.width = ds->info.height = STL_SIDE;
	ds->info.has_labels = !s->only_unlabeled;
	*out = ds;
	return DIM_OK;
out_destroy:
	dim_dataset_destroy(ds);
	return st;
}
