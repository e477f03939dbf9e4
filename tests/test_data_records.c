/* cldim-test: labels=unit;data timeout=120 */
/* Raw-record readers: CIFAR-10/100, STL-10 (column-major planes, folds,
 * train+unlabeled), IDX plain and gzip; every pixel and label read back
 * exactly; malformed files fail with the file name and the problem; the
 * real Fashion-MNIST from Debian's package loads when installed. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cldim/data.h"
#include "testutil.h"

static char *tmp;

static char *path_of(const char *dir, const char *name)
{
	static char buf[8][1024];
	static int k;
	k = (k + 1) % 8;
	if (snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name) >= (int)sizeof buf[k])
		return "path-too-long";
	return buf[k];
}

/* The call failed, and its message names `what` and contains `problem`. */
#define CHECK_FAILS(expr, err, what, problem)                                               \
	do {                                                                                \
		dim_error_clear(&(err));                                                    \
		dim_status s_ = (expr);                                                     \
		CHECK_MSG(s_ != DIM_OK, "%s unexpectedly succeeded", #expr);                \
		CHECK_MSG(strstr((err).msg, (what)) && strstr((err).msg, (problem)),        \
			  "message '%s' lacks '%s' / '%s'", (err).msg, (what), (problem));  \
	} while (0)

static uint8_t *rand_bytes(t_rng *r, size_t n)
{
	uint8_t *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)t_rand_u64(r);
	return p;
}

/* ---------------------------------------------------------------- CIFAR */

static void check_cifar_record(dim_dataset *ds, size_t i, const uint8_t *rec, int hdr, int label)
{
	dim_image img = {0};
	dim_error err = {0};
	int lab = -2;
	CHECK_OK_ERR(&err, dim_dataset_get(ds, NULL, i, 0, &img, &lab, NULL, &err));
	CHECK(img.w == 32 && img.h == 32 && img.c == 3);
	CHECK_MSG(lab == label, "record %zu: label %d, want %d", i, lab, label);
	int bad = 0;
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < 32; y++)
			for (int x = 0; x < 32; x++)
				bad += img.pix[(y * 32 + x) * 3 + c] != rec[hdr + c * 1024 + y * 32 + x];
	CHECK_MSG(!bad, "record %zu: %d pixels differ", i, bad);
	dim_image_free(&img);
}

static void test_cifar10(t_rng *r)
{
	char dir[1024];
	if (snprintf(dir, sizeof dir, "%s/%s", tmp, "cifar-10-batches-bin") >= (int)sizeof dir)
		return;
	mkdir(dir, 0755);
	static const int per_file[5] = {3, 2, 1, 1, 2};
	uint8_t *all[9];
	size_t k = 0;
	for (int f = 0; f < 5; f++) {
		uint8_t *buf = rand_bytes(r, 3073 * (size_t)per_file[f]);
		for (int j = 0; j < per_file[f]; j++) {
			buf[j * 3073] = (uint8_t)(k % 10);
			all[k] = malloc(3073);
			memcpy(all[k++], buf + j * 3073, 3073);
		}
		char name[32];
		snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
		t_write_file(path_of(dir, name), buf, 3073 * (size_t)per_file[f]);
		free(buf);
	}
	uint8_t *test = rand_bytes(r, 2 * 3073);
	test[0] = 9;
	test[3073] = 4;
	t_write_file(path_of(dir, "test_batch.bin"), test, 2 * 3073);
	const char *meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
	t_write_file(path_of(dir, "batches.meta.txt"), meta, strlen(meta));

	dim_dataset *ds = NULL;
	dim_error err = {0};
	/* detected from the download root (parent of cifar-10-batches-bin) */
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, tmp, NULL, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "cifar10") && !strcmp(in->split, "train"));
		CHECK(in->count == 9 && in->num_classes == 10 && in->width == 32);
		CHECK(!strcmp(dim_dataset_class_name(ds, 9), "truck"));
		for (size_t i = 0; i < 9; i++)
			check_cifar_record(ds, i, all[i], 1, (int)(i % 10));
		CHECK(strstr(dim_dataset_item_path(ds, 6), "data_batch_4.bin"));
		dim_dataset_destroy(ds);
	}
	dim_dataset_opts o = {.format = "cifar10", .split = "test"};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 2);
		check_cifar_record(ds, 0, test, 1, 9);
		check_cifar_record(ds, 1, test + 3073, 1, 4);
		dim_dataset_destroy(ds);
	}
	/* a single file opened directly */
	o.split = NULL;
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, path_of(dir, "test_batch.bin"), NULL, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 2);
		dim_dataset_destroy(ds);
	}

	/* malformed: label out of range, truncated file, missing file, bad split */
	test[3073] = 10;
	t_write_file(path_of(dir, "test_batch.bin"), test, 2 * 3073);
	o.split = "test";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
	if (ds) {
		dim_image img = {0};
		CHECK_FAILS(dim_dataset_get(ds, NULL, 1, 0, &img, NULL, NULL, &err), err,
			    "test_batch.bin", "label 10");
		dim_image_free(&img);
		dim_dataset_destroy(ds);
	}
	t_write_file(path_of(dir, "test_batch.bin"), test, 2 * 3073 - 5);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "test_batch.bin",
		    "not a positive multiple");
	t_write_file(path_of(dir, "test_batch.bin"), test, 0);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "test_batch.bin",
		    "not a positive multiple");
	unlink(path_of(dir, "data_batch_3.bin"));
	CHECK_FAILS(dim_dataset_open(&ds, dir, NULL, &err), err, "data_batch_3.bin",
		    "cannot open");
	mkdir(path_of(dir, "data_batch_3.bin"), 0755); /* unreadable as a file */
	CHECK_FAILS(dim_dataset_open(&ds, dir, NULL, &err), err, "data_batch_3.bin",
		    "not a regular file");
	o.split = "validation";
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "cifar10", "validation");
	o.format = "nosuch";
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "nosuch", "unknown");
	CHECK(ds == NULL);
	for (size_t i = 0; i < 9; i++)
		free(all[i]);
	free(test);
}

static void test_cifar100(t_rng *r)
{
	char dir[1024];
	if (snprintf(dir, sizeof dir, "%s/%s", tmp, "c100") >= (int)sizeof dir)
		return;
	mkdir(dir, 0755);
	uint8_t *buf = rand_bytes(r, 3 * 3074);
	for (int j = 0; j < 3; j++) {
		buf[j * 3074] = (uint8_t)(17 + j);     /* coarse */
		buf[j * 3074 + 1] = (uint8_t)(90 + j); /* fine */
	}
	t_write_file(path_of(dir, "train.bin"), buf, 3 * 3074);
	t_write_file(path_of(dir, "test.bin"), buf, 3074);
	dim_dataset *ds = NULL;
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, NULL, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "cifar100") && in->count == 3 && in->num_classes == 100);
		CHECK(!strcmp(dim_dataset_class_name(ds, 91), "91"));
		for (int j = 0; j < 3; j++)
			check_cifar_record(ds, (size_t)j, buf + j * 3074, 2, 90 + j);
		dim_dataset_destroy(ds);
	}
	dim_dataset_opts o = {.format = "cifar100", .split = "train", .label = "coarse"};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->num_classes == 20);
		for (int j = 0; j < 3; j++)
			check_cifar_record(ds, (size_t)j, buf + j * 3074, 2, 17 + j);
		dim_dataset_destroy(ds);
	}
	o.label = "medium";
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "medium", "fine");
	free(buf);
}

/* ---------------------------------------------------------------- STL-10 */

static void check_stl(dim_dataset *ds, size_t i, const uint8_t *raw, int label)
{
	dim_image img = {0};
	dim_error err = {0};
	int lab = -2;
	CHECK_OK_ERR(&err, dim_dataset_get(ds, NULL, i, 0, &img, &lab, NULL, &err));
	CHECK(img.w == 96 && img.h == 96 && img.c == 3);
	CHECK_MSG(lab == label, "stl item %zu: label %d, want %d", i, lab, label);
	int bad = 0;
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < 96; y++)
			for (int x = 0; x < 96; x++)
				bad += img.pix[(y * 96 + x) * 3 + c] != raw[c * 9216 + x * 96 + y];
	CHECK_MSG(!bad, "stl item %zu: %d pixels differ", i, bad);
	dim_image_free(&img);
}

static void test_stl10(t_rng *r)
{
	const size_t rec = 27648;
	char dir[1024];
	if (snprintf(dir, sizeof dir, "%s/%s", tmp, "stl10_binary") >= (int)sizeof dir)
		return;
	mkdir(dir, 0755);
	uint8_t *train = rand_bytes(r, 3 * rec), *test = rand_bytes(r, 2 * rec);
	uint8_t *unl = rand_bytes(r, 2 * rec);
	/* make the column-major layout visible: plane 0 of image 0 is x*96+y */
	for (int x = 0; x < 96; x++)
		for (int y = 0; y < 96; y++)
			train[x * 96 + y] = (uint8_t)(x + 2 * y);
	uint8_t ytrain[3] = {1, 10, 5}, ytest[2] = {3, 7};
	t_write_file(path_of(dir, "train_X.bin"), train, 3 * rec);
	t_write_file(path_of(dir, "test_X.bin"), test, 2 * rec);
	t_write_file(path_of(dir, "unlabeled_X.bin"), unl, 2 * rec);
	t_write_file(path_of(dir, "train_y.bin"), ytrain, 3);
	t_write_file(path_of(dir, "test_y.bin"), ytest, 2);
	const char *folds = "2 0\n1\n0 1 2\n";
	t_write_file(path_of(dir, "fold_indices.txt"), folds, strlen(folds));

	dim_dataset *ds = NULL;
	dim_error err = {0};
	dim_image img = {0};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, NULL, &err));
	if (ds) {
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "stl10") && in->count == 3 && in->width == 96);
		CHECK(!strcmp(dim_dataset_class_name(ds, 7), "monkey"));
		for (int i = 0; i < 3; i++)
			check_stl(ds, (size_t)i, train + i * rec, ytrain[i] - 1);
		CHECK_OK_ERR(&err, dim_dataset_get(ds, NULL, 0, 0, &img, NULL, NULL, &err));
		CHECK(img.pix && img.pix[(5 * 96 + 7) * 3] == 7 + 2 * 5); /* pixel (y=5, x=7) */
		dim_dataset_destroy(ds);
	}
	dim_dataset_opts o = {.format = "stl10", .split = "train+unlabeled"};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 5);
		check_stl(ds, 2, train + 2 * rec, 4);
		check_stl(ds, 3, unl, -1);
		check_stl(ds, 4, unl + rec, -1);
		dim_dataset_destroy(ds);
	}
	o.split = "unlabeled";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 2 && !dim_dataset_get_info(ds)->has_labels);
		check_stl(ds, 1, unl + rec, -1);
		dim_dataset_destroy(ds);
	}
	o.split = "fold0";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->count == 2);
		check_stl(ds, 0, train + 2 * rec, 4);
		check_stl(ds, 1, train, 0);
		dim_dataset_destroy(ds);
	}
	o.split = "test";
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
	if (ds) {
		check_stl(ds, 1, test + rec, 6);
		dim_dataset_destroy(ds);
	}
	/* malformed */
	o.split = "fold7";
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "fold_indices.txt", "fold 7");
	t_write_file(path_of(dir, "fold_indices.txt"), "0 3\n", 4);
	o.split = "fold0";
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "fold_indices.txt", "'3'");
	o.split = "fold12";
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "fold12", "fold");
	o.split = "test";
	ytest[1] = 0;
	t_write_file(path_of(dir, "test_y.bin"), ytest, 2);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "test_y.bin", "not in 1..10");
	t_write_file(path_of(dir, "test_y.bin"), ytest, 1);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "test_y.bin", "1 labels for 2");
	t_write_file(path_of(dir, "test_X.bin"), test, rec + 100);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "test_X.bin", "27648-byte record");
	o.split = "unlabeled";
	unlink(path_of(dir, "unlabeled_X.bin"));
	CHECK_FAILS(dim_dataset_open(&ds, dir, &o, &err), err, "unlabeled_X.bin", "cannot open");
	dim_image_free(&img);
	free(train);
	free(test);
	free(unl);
}

/* ---------------------------------------------------------------- IDX */

static size_t idx_bytes(uint8_t *out, uint8_t type, int nd, const uint32_t *dims,
			const uint8_t *data, size_t n)
{
	out[0] = 0;
	out[1] = 0;
	out[2] = type;
	out[3] = (uint8_t)nd;
	for (int d = 0; d < nd; d++) {
		out[4 + 4 * d] = (uint8_t)(dims[d] >> 24);
		out[5 + 4 * d] = (uint8_t)(dims[d] >> 16);
		out[6 + 4 * d] = (uint8_t)(dims[d] >> 8);
		out[7 + 4 * d] = (uint8_t)dims[d];
	}
	memcpy(out + 4 + 4 * nd, data, n);
	return 4 + 4 * (size_t)nd + n;
}

static void write_gz(const char *path, const void *data, size_t n)
{
	gzFile g = gzopen(path, "wb");
	gzwrite(g, data, (unsigned)n);
	gzclose(g);
}

static void test_idx(t_rng *r)
{
	char dir[1024];
	if (snprintf(dir, sizeof dir, "%s/%s", tmp, "mnist") >= (int)sizeof dir)
		return;
	mkdir(dir, 0755);
	const uint32_t N = 5, H = 4, W = 3;
	uint8_t *pix = rand_bytes(r, N * H * W), labels[5] = {0, 9, 3, 3, 7};
	uint8_t file[512], lfile[64];
	uint32_t dims[3] = {N, H, W}, ldims[1] = {N};
	size_t n = idx_bytes(file, 8, 3, dims, pix, N * H * W);
	size_t ln = idx_bytes(lfile, 8, 1, ldims, labels, N);
	/* train gz, test plain */
	write_gz(path_of(dir, "train-images-idx3-ubyte.gz"), file, n);
	write_gz(path_of(dir, "train-labels-idx1-ubyte.gz"), lfile, ln);
	t_write_file(path_of(dir, "t10k-images-idx3-ubyte"), file, n);
	t_write_file(path_of(dir, "t10k-labels-idx1-ubyte"), lfile, ln);
	for (int split = 0; split < 2; split++) {
		dim_dataset *ds = NULL;
		dim_error err = {0};
		dim_dataset_opts o = {.split = split ? "test" : "train"};
		CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
		if (!ds)
			continue;
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "idx") && in->count == N && in->channels == 1);
		CHECK(in->width == (int)W && in->height == (int)H && in->num_classes == 10);
		for (size_t i = 0; i < N; i++) {
			dim_image img = {0};
			int lab;
			CHECK_OK_ERR(&err, dim_dataset_get(ds, NULL, i, 0, &img, &lab, NULL, &err));
			CHECK(lab == labels[i] && img.c == 1 && img.w == (int)W);
			CHECK(img.pix && !memcmp(img.pix, pix + i * H * W, H * W));
			dim_image_free(&img);
		}
		dim_dataset_destroy(ds);
	}
	/* the images file by itself finds its labels file */
	dim_dataset *ds = NULL;
	dim_error err = {0};
	dim_dataset_opts om = {.format = "mnist"};
	CHECK_OK_ERR(&err, dim_dataset_open(&ds, path_of(dir, "t10k-images-idx3-ubyte"), &om, &err));
	if (ds) {
		CHECK(dim_dataset_get_info(ds)->has_labels && dim_dataset_get_info(ds)->count == N);
		dim_dataset_destroy(ds);
	}

	/* malformed */
	char bad[1024];
	if (snprintf(bad, sizeof bad, "%s/%s", dir, "t10k-images-idx3-ubyte") >= (int)sizeof bad)
		return;
	dim_dataset_opts ot = {.format = "idx", .split = "test"};
	uint8_t tmpf[512];
	memcpy(tmpf, file, n);
	tmpf[2] = 0x0D;
	t_write_file(bad, tmpf, n);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-images", "element type");
	tmpf[2] = 8;
	tmpf[0] = 0x12;
	t_write_file(bad, tmpf, n);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-images", "magic");
	t_write_file(bad, file, n - 7);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-images", "truncated");
	t_write_file(bad, file, 6);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-images", "header");
	uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFu, 0xFFFFu};
	size_t hn = idx_bytes(tmpf, 8, 3, huge, pix, 16);
	t_write_file(bad, tmpf, hn);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-images", "absurd");
	uint32_t flat[2] = {N, H * W};
	hn = idx_bytes(tmpf, 8, 2, flat, pix, N * H * W);
	t_write_file(bad, tmpf, hn);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-images", "[N, H, W]");
	memcpy(tmpf, file, n);
	tmpf[n] = 1;
	t_write_file(bad, tmpf, n + 1);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-images", "declares");
	t_write_file(bad, file, n);
	labels[2] = 12;
	ln = idx_bytes(lfile, 8, 1, ldims, labels, N);
	t_write_file(path_of(dir, "t10k-labels-idx1-ubyte"), lfile, ln);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-labels", "label 12");
	ldims[0] = N - 1;
	ln = idx_bytes(lfile, 8, 1, ldims, labels, N - 1);
	t_write_file(path_of(dir, "t10k-labels-idx1-ubyte"), lfile, ln);
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "t10k-labels", "labels");
	/* corrupt gzip: valid gzip header, then garbage */
	uint8_t gz[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	for (int i = 10; i < 64; i++)
		gz[i] = (uint8_t)(i * 37);
	t_write_file(path_of(dir, "train-images-idx3-ubyte.gz"), gz, sizeof gz);
	ot.split = "train";
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "train-images", "");
	CHECK(err.status == DIM_ERR_FORMAT);
	unlink(path_of(dir, "train-images-idx3-ubyte.gz"));
	CHECK_FAILS(dim_dataset_open(&ds, dir, &ot, &err), err, "mnist", "train-images-idx3");
	free(pix);
}

static void test_fashion_mnist(void)
{
	const char *dir = "/usr/share/datasets/fashion-mnist";
	struct stat sb;
	if (stat(dir, &sb) != 0) {
		printf("fashion-mnist: %s absent, part skipped\n", dir);
		return;
	}
	static const char *splits[2] = {"train", "test"};
	static const size_t counts[2] = {60000, 10000};
	for (int s = 0; s < 2; s++) {
		dim_dataset *ds = NULL;
		dim_error err = {0};
		dim_dataset_opts o = {.split = splits[s]};
		CHECK_OK_ERR(&err, dim_dataset_open(&ds, dir, &o, &err));
		if (!ds)
			continue;
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		CHECK(!strcmp(in->format, "fashion-mnist") && in->count == counts[s]);
		CHECK(in->width == 28 && in->height == 28 && in->channels == 1);
		CHECK(!strcmp(dim_dataset_class_name(ds, 9), "Ankle boot"));
		size_t hist[10] = {0};
		dim_image img = {0};
		for (size_t i = 0; i < in->count; i++) {
			int lab = -1;
			if (dim_dataset_get(ds, NULL, i, 0, &img, &lab, NULL, &err) || lab < 0 ||
			    lab > 9) {
				CHECK_MSG(0, "item %zu: %s", i, err.msg);
				break;
			}
			hist[lab]++;
		}
		for (int k = 0; k < 10; k++)
			CHECK_MSG(hist[k] == counts[s] / 10, "%s class %d: %zu", splits[s], k,
				  hist[k]);
		dim_image_free(&img);
		dim_dataset_destroy(ds);
	}
}

int main(void)
{
	t_rng r = {42};
	tmp = t_tmpdir("data_records");
	test_cifar10(&r);
	test_cifar100(&r);
	test_stl10(&r);
	test_idx(&r);
	test_fashion_mnist();
	t_rmtree(tmp);
	free(tmp);
	return T_RESULT();
}
