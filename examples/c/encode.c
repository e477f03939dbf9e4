/* Features from C: encode a dataset (or a folder of JPEGs) with an encoder
 * written by `cldim export` (a full training checkpoint works too) and print
 * one line per image: its label, then its Y vector.
 *
 *   cc encode.c $(pkg-config --cflags --libs cldim) -o encode
 *   ./encode encoder.safetensors /usr/share/datasets/fashion-mnist 5
 */
#include <stdio.h>
#include <stdlib.h>

#include <cldim/encode.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s ENCODER DATA COUNT\n", argv[0]);
		return 2;
	}
	dim_error err = {0};
	dim_ctx *ctx = NULL;
	dim_featurizer *f = NULL;
	dim_image_stream *s = NULL;
	float *y = NULL;
	int rc = 1;

	/* the default device: a GPU if there is one, else a CPU (CLDIM_DEVICE
	 * overrides); the environment also gives the kernel cache directory */
	dim_ctx_options opt;
	if (dim_ctx_options_from_env(&opt, &err) || dim_ctx_create(&ctx, &opt, &err)) {
		fprintf(stderr, "%s\n", dim_error_text(&err));
		return 1;
	}
	if (dim_featurizer_load(ctx, argv[1], &f)) {
		fprintf(stderr, "%s\n", dim_ctx_errmsg(ctx));
		goto out;
	}
	int channels, size, d = dim_featurizer_dim(f, DIM_REPR_Y);
	dim_featurizer_input(f, &channels, &size);

	/* the images in file order, preprocessed as in training */
	dim_stream_opts o = {.split = "test", .limit = (size_t)atol(argv[3]), .batch = 64,
			     .threads = 1, .channels = channels, .size = size};
	if (dim_image_stream_open(&s, argv[2], &o, &err)) {
		fprintf(stderr, "%s\n", dim_error_text(&err));
		goto out;
	}
	y = malloc((size_t)o.batch * d * sizeof *y);
	for (;;) {
		const float *x;
		const int64_t *labels;
		const size_t *items;
		int n;
		if (dim_image_stream_next(s, &x, &labels, &items, &n, &err)) {
			fprintf(stderr, "%s\n", dim_error_text(&err));
			goto out;
		}
		if (n == 0)
			break;
		if (dim_featurizer_encode(f, x, n, DIM_REPR_Y, y)) {
			fprintf(stderr, "%s\n", dim_ctx_errmsg(ctx));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			printf("%lld", (long long)labels[i]);
			for (int j = 0; j < d; j++)
				printf(" %.9g", y[(size_t)i * d + j]);
			printf("\n");
		}
	}
	rc = 0;
out:
	free(y);
	dim_image_stream_destroy(s);
	dim_featurizer_destroy(f);
	dim_ctx_destroy(ctx);
	return rc;
}
