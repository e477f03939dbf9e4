/* CIFAR-10 and CIFAR-100 binary versions.
 *   CIFAR-10 record (3073 B):  label u8 | R[32*32] G[32*32] B[32*32]
 *   CIFAR-100 record (3074 B): coarse u8 | fine u8 | same planes
 * Files: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin (+ batches.meta.txt),
 * cifar-100-binary/{train,test}.bin (+ fine/coarse_label_names.txt). A single
 * .bin file may also be opened directly (the split is then that file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE)

typedef struct cifar {
	dd_records rec;
	int label_offset; /* 0: CIFAR-10 / coarse, 1: fine */
	int header;       /* 1 or 2 label bytes */
	int classes;
} cifar;

static const char *const cifar10_names[] = {
	"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
	NULL,
};

static dim_status cifar_get(dim_dataset *ds, dim_decoder *dec, size_t i, int min_side,
			    dim_image *img, int *label, int *warned, dim_error *err)
{
	cifar *c = ds->priv;
	uint8_t rec[2 + 3 * CIFAR_PLANE];
	dim_status st = dd_records_read(&c->rec, i, rec, err);
	if (st)
		return st;
	int lab = rec[c->label_offset];
	if (lab >= c->classes)
		return dim_fail(err, DIM_ERR_FORMAT, "%s: record %zu: label %d is not below %d",
				dd_records_path(&c->rec, i), i, lab, c->classes);
	st = dim_image_reserve(img, CIFAR_SIDE, CIFAR_SIDE, 3, err);
	if (st)
		return st;
	const uint8_t *planes = rec + c->header;
	for (int p = 0; p < CIFAR_PLANE; p++)
		for (int ch = 0; ch < 3; ch++)
			img->pix[p * 3 + ch] = planes[ch * CIFAR_PLANE + p];
	*label = lab;
	return DIM_OK;
}

static const char *cifar_item_path(const dim_dataset *ds, size_t i)
{
	const cifar *c = ds->priv;
	return dd_records_path(&c->rec, i);
}

static void cifar_destroy(dim_dataset *ds)
{
	cifar *c = ds->priv;
	if (!c)
		return;
	dd_records_close(&c->rec);
	free(c);
}

static const struct dim_dataset_ops cifar_ops = {cifar_get, cifar_item_path, cifar_destroy};

static dim_status add_file(cifar *c, const char *dir, const char *name, dim_error *err)
{
	char *p = dd_join(dir, name);
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	dim_status st = dd_records_add(&c->rec, p, (size_t)c->header + 3 * CIFAR_PLANE, err);
	free(p);
	return st;
}

/* Class names from a names file when present, else built-in / numbers. */
static dim_status load_classes(dim_dataset *ds, const char *dir, const char *file, int n,
			       dim_error *err)
{
	char *p = dd_join(dir, file);
	dim_status st = DIM_OK;
	if (!p)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	if (dd_is_file(p)) {
		st = dd_load_names(p, &ds->classes, err);
		if (!st && ds->classes.n != (size_t)n)
			st = dim_fail(err, DIM_ERR_FORMAT, "%s: %zu class names, expected %d", p,
				      ds->classes.n, n);
	} else if (n == 10) {
		st = dd_set_classes(ds, cifar10_names, err);
	} else {
		char num[16];
		for (int k = 0; k < n && !st; k++) {
			snprintf(num, sizeof num, "%d", k);
			st = dd_strlist_push_copy(&ds->classes, num, err);
		}
	}
	free(p);
	ds->info.num_classes = n;
	return st;
}

dim_status dd_open_cifar(dim_dataset **out, const char *path, int hundred,
			 const dim_dataset_opts *o, dim_error *err)
{
	const char *fmt = hundred ? "cifar100" : "cifar10";
	int is_dir = dd_is_dir(path);
	const char *split = is_dir ? o->split : "file";
	dim_dataset *ds;
	dim_status st;
	if (is_dir && strcmp(split, "train") && strcmp(split, "test"))
		return dim_fail(err, DIM_ERR_ARG, "%s: %s has splits train and test, not '%s'",
				path, fmt, split);
	int coarse = 0;
	if (hundred && o->label) {
		if (!strcmp(o->label, "coarse"))
			coarse = 1;
		else if (strcmp(o->label, "fine"))
			return dim_fail(err, DIM_ERR_ARG,
					"cifar100 label must be 'fine' or 'coarse', not '%s'",
					o->label);
	}
	st = dd_dataset_alloc(&ds, path, fmt, split, &cifar_ops, err);
	if (st)
		return st;
	cifar *c = calloc(1, sizeof *c);
	if (!c) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		goto out_destroy;
	}
	ds->priv = c;
	c->header = hundred ? 2 : 1;
	c->label_offset = hundred && !coarse ? 1 : 0;
	c->classes = !hundred ? 10 : coarse ? 20 : 100;
	if (!is_dir) {
		st = dd_records_add(&c->rec, path, (size_t)c->header + 3 * CIFAR_PLANE, err);
	} else if (!hundred && !strcmp(split, "train")) {
		char name[32];
		for (int k = 1; k <= 5 && !st; k++) {
			snprintf(name, sizeof name, "data_batch_%d.bin", k);
			st = add_file(c, path, name, err);
		}
	} else {
		st = add_file(c, path, hundred ? (strcmp(split, "train") ? "test.bin" : "train.bin")
					       : "test_batch.bin", err);
	}
	if (st)
		goto out_destroy;
	const char *names = !hundred ? "batches.meta.txt"
			    : coarse ? "coarse_label_names.txt" : "fine_label_names.txt";
	char *dir = NULL;
	if (!is_dir) {
		dir = dd_strdup(path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		if (slash)
			*slash = 0;
		else if (dir)
			strcpy(dir, ".");
	}
	st = load_classes(ds, is_dir ? path : dir ? dir : ".", names, c->classes, err);
	free(dir);
	if (st)
		goto out_destroy;
	ds->info.count = c->rec.count;
	ds->info.width = ds->info.height = CIFAR_SIDE;
	ds->info.has_labels = 1;
	*out = ds;
	return DIM_OK;
out_destroy:
	dim_dataset_destroy(ds);
	return st;
}
