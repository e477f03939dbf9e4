/* libFuzzer: the IDX parser in memory, then the same bytes as a (possibly
 * gzip) file opened as a dataset and read through. */
#include <stdint.h>

#include "cldim/data.h"
#include "data/data_idx.h"
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dim_error err = {0};
	dd_idx idx;
	dd_idx_parse(data, size, "mem", &idx, &err);
	if (fz_write("train-images-idx3-ubyte", data, size))
		return 0;
	dim_dataset *ds = NULL;
	dim_dataset_opts o = {.format = "idx"};
	if (dim_dataset_open(&ds, fz_path("train-images-idx3-ubyte"), &o, &err) == DIM_OK) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		dim_image img = {0};
		for (size_t i = 0; i < in->count && i < 16; i++)
			dim_dataset_get(ds, NULL, i, 0, &img, NULL, NULL, &err);
		dim_image_free(&img);
		dim_dataset_destroy(ds);
	}
	return 0;
}
