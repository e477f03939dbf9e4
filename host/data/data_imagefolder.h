/* Private: folder walking shared by the image-folder readers. */
#ifndef CLDIM_DATA_IMAGEFOLDER_H
#define CLDIM_DATA_IMAGEFOLDER_H

#include "data/data_internal.h"

/* Does the name end in an image extension torchvision accepts? */
int dd_is_image_name(const char *name);
/* Sorted entry names of a directory. */
dim_status dd_list_dir(const char *dir, dd_strlist *out, dim_error *err);
/* Add every image file under dir (recursively, torchvision order) with label. */
dim_status dd_add_image_tree(dd_files *f, const char *dir, int label, size_t *added,
			     dim_error *err);

#endif
