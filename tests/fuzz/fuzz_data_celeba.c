/* libFuzzer: the text files of CelebA (partition + attributes, split at the
 * first NUL of the input) parsed by the CelebA reader. */
#include <stdint.h>
#include <sys/stat.h>

#include "cldim/data.h"
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t a = nul ? (size_t)(nul - data) : size;
	dim_error err = {0};
	dim_dataset *ds = NULL;
	if (fz_write("list_eval_partition.txt", data, a) ||
	    fz_write("list_attr_celeba.txt", nul ? nul + 1 : data, nul ? size - a - 1 : 0))
		return 0;
	mkdir(fz_path("img_align_celeba"), 0755);
	char root[300];
	snprintf(root, sizeof root, "%s", fz_dir);
	dim_dataset_opts o = {.format = "celeba", .split = "all"};
	if (dim_dataset_open(&ds, root, &o, &err) == DIM_OK) {
		int8_t attrs[256];
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		for (size_t i = 0; i < in->count && i < 8; i++)
			dim_dataset_attrs(ds, i, attrs, &err);
		dim_dataset_destroy(ds);
	}
	return 0;
}
