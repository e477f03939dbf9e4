/* libFuzzer: PNG decoding (libpng) of untrusted bytes: the input follows the
 * PNG signature, so every run reaches the PNG decoder; a decoded image then
 * goes through a resized-crop transform. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	static dim_decoder *dec;
	dim_error err = {0};
	if (!dec && dim_decoder_create(&dec, &err))
		return 0;
	uint8_t *buf = malloc(size + 8);
	if (!buf)
		return 0;
	memcpy(buf, sig, 8);
	if (size)
		memcpy(buf + 8, data, size);
	dim_decode_opts o = {.max_pixels = 1 << 22};
	dim_image img = {0};
	if (dim_image_decode(dec, buf, size + 8, "fuzz.png", &o, &img, NULL, &err) == DIM_OK) {
		dim_transform t;
		float out[3 * 16 * 16];
		dim_transform_init(&t, 3, 16, 16);
		t.crop = DIM_CROP_RANDOM_RESIZED;
		dim_transform_apply(&t, &img, 1, 0, size, out, &err);
	}
	dim_image_free(&img);
	free(buf);
	return 0;
}
