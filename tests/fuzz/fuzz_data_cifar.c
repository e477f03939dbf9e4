/* libFuzzer: bytes as a CIFAR-10 and a CIFAR-100 batch file, every record
 * read (up to 64) and pushed through a random-crop transform. */
#include <stdint.h>

#include "cldim/data.h"
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fmts[2] = {"cifar10", "cifar100"};
	dim_error err = {0};
	if (fz_write("batch.bin", data, size))
		return 0;
	for (int f = 0; f < 2; f++) {
		dim_dataset *ds = NULL;
		dim_dataset_opts o = {.format = fmts[f]};
		if (dim_dataset_open(&ds, fz_path("batch.bin"), &o, &err) != DIM_OK)
			continue;
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		dim_image img = {0};
		dim_transform t;
		float out[3 * 32 * 32];
		dim_transform_init(&t, 3, 32, 32);
		t.crop = DIM_CROP_RANDOM;
		t.pad = 4;
		t.hflip = 1;
		for (size_t i = 0; i < in->count && i < 64; i++)
			if (dim_dataset_get(ds, NULL, i, 0, &img, NULL, NULL, &err) == DIM_OK)
				dim_transform_apply(&t, &img, size, 0, i, out, &err);
		dim_image_free(&img);
		dim_dataset_destroy(ds);
	}
	return 0;
}
