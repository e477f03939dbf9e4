/* Private to host/data/: the PNG decoder behind dim_image_decode. */
#ifndef CLDIM_DATA_PNG_H
#define CLDIM_DATA_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "cldim/data.h"

/* Decode an in-memory PNG into RGB (c = 3); images over max_pixels are
 * refused before any pixel is decoded. */
dim_status dd_png_decode(const uint8_t *buf, size_t len, const char *name, long long max_pixels,
			 dim_image *img, dim_error *err);

#endif
