/* Private to host/data/: the dataset object, the reader vtable, and small
 * helpers shared by the readers (text files, string lists, record files). */
#ifndef CLDIM_DATA_INTERNAL_H
#define CLDIM_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cldim/data.h"

struct dim_dataset_ops {
	dim_status (*get)(dim_dataset *ds, dim_decoder *dec, size_t i, int min_side,
			  dim_image *img, int *label, int *warned, dim_error *err);
	const char *(*item_path)(const dim_dataset *ds, size_t i);
	void (*destroy)(dim_dataset *ds); /* frees priv only */
};

/* A growable array of owned strings. */
typedef struct dd_strlist {
	char **v;
	size_t n, cap;
} dd_strlist;

struct dim_dataset {
	const struct dim_dataset_ops *ops;
	dim_dataset_info info;
	char *path;
	char split[32];
	dd_strlist classes;
	dd_strlist attr_names; /* CelebA */
	int8_t *attrs;         /* count x attr_names.n, +-1 */
	void *priv;
};

/* ---- dataset.c: allocation for readers */
dim_status dd_dataset_alloc(dim_dataset **out, const char *path, const char *format,
			    const char *split, const struct dim_dataset_ops *ops, dim_error *err);
/* Set classes from a NULL-terminated table of built-in names. */
dim_status dd_set_classes(dim_dataset *ds, const char *const *names, dim_error *err);

/* ---- the readers (one file each) */
dim_status dd_open_cifar(dim_dataset **out, const char *path, int hundred,
			 const dim_dataset_opts *o, dim_error *err);
dim_status dd_open_stl10(dim_dataset **out, const char *path, const dim_dataset_opts *o,
			 dim_error *err);
dim_status dd_open_idx(dim_dataset **out, const char *path, const char *format,
		       const dim_dataset_opts *o, dim_error *err);
dim_status dd_open_imagefolder(dim_dataset **out, const char *path, const dim_dataset_opts *o,
			       dim_error *err);
dim_status dd_open_tinyimagenet(dim_dataset **out, const char *path, const dim_dataset_opts *o,
				dim_error *err);
dim_status dd_open_celeba(dim_dataset **out, const char *path, const dim_dataset_opts *o,
			  dim_error *err);

/* ---- files.c: a dataset whose samples are image files (+ label each) */
typedef struct dd_files {
	dd_strlist paths;
	int *labels;
	size_t labels_cap;
	dim_decode_opts dopts;
} dd_files;
extern const struct dim_dataset_ops dd_files_ops;
dim_status dd_files_create(dim_dataset *ds, const dim_dataset_opts *o, dim_error *err);
dim_status dd_files_add(dd_files *f, char *path_owned, int label, dim_error *err);

/* ---- text.c */
/* Read a whole (small) file, NUL-terminated. Larger than max: DIM_ERR_FORMAT. */
dim_status dd_read_text(const char *path, size_t max, char **out, size_t *len, dim_error *err);
/* Cut the next line off *cur (strips \r\n); NULL at end. */
char *dd_next_line(char **cur);
/* Cut the next whitespace-separated field off *cur; NULL at end of line. */
char *dd_next_field(char **cur);
char *dd_strdup(const char *s);
char *dd_join(const char *dir, const char *name); /* "dir/name", malloc'd */
int dd_is_dir(const char *path);
int dd_is_file(const char *path);
/* Size of a regular file; -1 when it cannot be stat'ed. */
long long dd_file_size(const char *path);
/* Parse a decimal int in [lo, hi] that fills the whole string. */
int dd_parse_int(const char *s, long lo, long hi, long *out);

dim_status dd_strlist_push(dd_strlist *l, char *owned, dim_error *err);
dim_status dd_strlist_push_copy(dd_strlist *l, const char *s, dim_error *err);
void dd_strlist_sort(dd_strlist *l);
long dd_strlist_find(const dd_strlist *l, const char *s); /* -1 if absent */
void dd_strlist_free(dd_strlist *l);
/* Load class names, one per non-empty line (trimmed). */
dim_status dd_load_names(const char *path, dd_strlist *l, dim_error *err);

/* ---- records.c: fixed-size records in one or more files, read by pread */
typedef struct dd_recfile {
	char *path;
	int fd;
	size_t count;
} dd_recfile;

typedef struct dd_records {
	dd_recfile *files;
	int nfiles;
	size_t rec_bytes;
	size_t count;
} dd_records;

/* Open path, check its size is a positive multiple of rec_bytes. */
dim_status dd_records_add(dd_records *r, const char *path, size_t rec_bytes, dim_error *err);
/* Read record i (over all files, in order of adding) into buf. */
dim_status dd_records_read(const dd_records *r, size_t i, uint8_t *buf, dim_error *err);
const char *dd_records_path(const dd_records *r, size_t i);
void dd_records_close(dd_records *r);

#endif
