/* Per-dataset training defaults (see include/cldim/train.h). */
#include <string.h>

#include "cldim/train.h"

/* The paper's settings per dataset (docs/method.md §7). The IDX datasets
 * (MNIST, Fashion-MNIST: not in the paper's tables) use the official code's
 * basic28x28 encoder and a 512-wide local critic so the embedded default
 * trains in minutes on a CPU. */
static const dim_train_preset presets[] = {
	{"idx", "basic28", "train", 1, 28, 10, 512, 64},
	{"mnist", "basic28", "train", 1, 28, 10, 512, 64},
	{"fashion-mnist", "basic28", "train", 1, 28, 10, 512, 64},
	{"cifar10", "dcgan32", "train", 3, 32, 1000, 2048, 64},
	{"cifar100", "dcgan32", "train", 3, 32, 1000, 2048, 64},
	{"stl10", "alexnet64", "train+unlabeled", 3, 64, 200, 2048, 64},
	{"tinyimagenet", "alexnet64", "train", 3, 64, 200, 2048, 64},
	{"imagefolder", "alexnet64", "train", 3, 64, 200, 2048, 64},
	{"celeba", "alexnet64", "train", 3, 64, 200, 2048, 64},
};

const dim_train_preset *dim_train_presets(size_t *n)
{
	if (n)
		*n = sizeof presets / sizeof presets[0];
	return presets;
}

const dim_train_preset *dim_train_preset_for(const char *format)
{
	for (size_t i = 0; format && i < sizeof presets / sizeof presets[0]; i++)
		if (!strcmp(presets[i].format, format))
			return &presets[i];
	return NULL;
}
