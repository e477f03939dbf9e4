/* libFuzzer: JPEG decoding of untrusted bytes (first byte picks the options:
 * truncated allowed, DCT downscale target), then a resized-crop transform. */
#include <stdint.h>

#include "cldim/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dim_decoder *dec;
	dim_error err = {0};
	if (size < 1)
		return 0;
	if (!dec && dim_decoder_create(&dec, &err))
		return 0;
	dim_decode_opts o = {.allow_truncated = data[0] & 1, .min_side = (data[0] >> 1) & 63,
			     .max_pixels = 1 << 22};
	dim_image img = {0};
	if (dim_image_decode(dec, data + 1, size - 1, "fuzz", &o, &img, NULL, &err) == DIM_OK) {
		dim_transform t;
		float out[3 * 16 * 16];
		dim_transform_init(&t, 3, 16, 16);
		t.crop = DIM_CROP_RANDOM_RESIZED;
		t.filter = DIM_FILTER_AREA;
		dim_transform_apply(&t, &img, 1, 0, size, out, &err);
	}
	dim_image_free(&img);
	return 0;
}
