/* cldim data PATH [options]: what a dataset path holds (format, split,
 * counts, classes, image size), a contact sheet of augmented samples, and a
 * decode+augment throughput benchmark of the loader (--bench). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/data.h"
#include "cli.h"
#include "cmd_data.h"

typedef struct data_args {
	const char *path, *format, *split, *label, *sheet, *augment;
	long size, sheet_n, threads, samples, repeats, batch, seed;
	int allow_truncated, bench;
} data_args;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cldim data PATH [options]\n\n"
		"Describes a dataset: format, split, samples, classes, image size.\n"
		"  --format F         %s (default: detect from PATH)\n"
		"  --split S          train | test | unlabeled | train+unlabeled | foldK | val |\n"
		"                     valid | all, per format (default: train)\n"
		"  --label L          cifar100: fine | coarse; celeba: an attribute name\n"
		"  --allow-truncated  decode truncated JPEGs with a warning (default: refuse)\n"
		"  --size N           model input size for the preset transform (default: per\n"
		"                     format: 32 CIFAR, 28 IDX, 64 others)\n"
		"  --sheet FILE.jpg   write a contact sheet of augmented samples\n"
		"  --sheet-n N        samples on the sheet (default 16)\n"
		"  --augment A        preset | crop | rrc | none (default: preset, training)\n"
		"  --seed S           augmentation seed (default 0)\n"
		"  --bench            measure decode+augment images/s of the loader\n"
		"  --threads N        bench with N workers (default: 1 and 2)\n"
		"  --samples N        samples per timed pass (default 2048)\n"
		"  --repeats R        timed passes after one warm-up pass (default 5)\n"
		"  --batch B          batch size (default 64)\n",
		dim_dataset_formats());
}

static int default_size(const dim_dataset_info *in)
{
	if (!strcmp(in->format, "cifar10") || !strcmp(in->format, "cifar100"))
		return 32;
	if (in->channels == 1)
		return in->width ? in->width : 28;
	return 64;
}

static dim_status make_transform(const data_args *a, const dim_dataset_info *in,
				 dim_transform *t, dim_error *err)
{
	int size = a->size ? (int)a->size : default_size(in);
	dim_status st = dim_transform_preset(t, in->format, size, in->channels, 1, err);
	if (st)
		return st;
	if (!strcmp(a->augment, "crop")) {
		t->crop = DIM_CROP_RANDOM;
		t->pad = size / 8;
		t->hflip = 1;
	} else if (!strcmp(a->augment, "rrc")) {
		t->crop = DIM_CROP_RANDOM_RESIZED;
		t->filter = DIM_FILTER_AREA;
		t->hflip = 1;
	} else if (!strcmp(a->augment, "none")) {
		t->hflip = 0;
	} else if (strcmp(a->augment, "preset")) {
		return dim_fail(err, DIM_ERR_ARG, "--augment: '%s' is not preset, crop, rrc or none",
				a->augment);
	}
	return DIM_OK;
}

static void describe(dim_dataset *ds)
{
	const dim_dataset_info *in = dim_dataset_get_info(ds);
	printf("path      %s\nformat    %s\nsplit     %s\nsamples   %zu\n", in->path, in->format,
	       in->split, in->count);
	if (in->width)
		printf("image     %dx%d, %d channel%s\n", in->width, in->height, in->channels,
		       in->channels > 1 ? "s" : "");
	else
		printf("image     varies (%s files)\n", in->encoded ? "JPEG/PNG" : "raw");
	printf("labels    %s\n", in->has_labels ? "yes" : "no (-1)");
	printf("classes   %d", in->num_classes);
	for (int k = 0; k < in->num_classes && k < 12; k++)
		printf("%s%s", k ? ", " : ": ", dim_dataset_class_name(ds, k));
	printf("%s\n", in->num_classes > 12 ? ", ..." : "");
	if (dim_dataset_num_attrs(ds))
		printf("attributes %d (first: %s)\n", dim_dataset_num_attrs(ds),
		       dim_dataset_attr_name(ds, 0));
}

/* Tiles of n augmented samples spread over the dataset, scaled up to >= 64 px. */
static dim_status write_sheet(dim_dataset *ds, const data_args *a, const dim_transform *t,
			      dim_error *err)
{
	const dim_dataset_info *in = dim_dataset_get_info(ds);
	int n = (int)(a->sheet_n < (long)in->count ? a->sheet_n : (long)in->count);
	int cols = (int)ceil(sqrt((double)n)), rows = (n + cols - 1) / cols;
	int zoom = t->out_w >= 64 ? 1 : (64 + t->out_w - 1) / t->out_w, gap = 2;
	int tw = t->out_w * zoom, th = t->out_h * zoom;
	int W = cols * (tw + gap) + gap, H = rows * (th + gap) + gap;
	size_t plane = (size_t)t->out_h * t->out_w;
	dim_image img = {0};
	dim_decoder *dec = NULL;
	dim_status st;
	uint8_t *sheet = calloc((size_t)W * H, 3);
	float *x = malloc(plane * (size_t)t->out_c * sizeof *x);
	if (!sheet || !x) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory for the sheet");
		goto out_free;
	}
	memset(sheet, 40, (size_t)W * H * 3);
	st = dim_decoder_create(&dec, err);
	for (int k = 0; k < n && !st; k++) {
		size_t i = (size_t)k * in->count / (size_t)n;
		int label;
		st = dim_dataset_get(ds, dec, i, dim_transform_min_side(t), &img, &label, NULL, err);
		if (!st)
			st = dim_transform_apply(t, &img, (uint64_t)a->seed, 0, i, x, err);
		if (st)
			break;
		int ox = gap + (k % cols) * (tw + gap), oy = gap + (k / cols) * (th + gap);
		for (int y = 0; y < th; y++)
			for (int xx = 0; xx < tw; xx++)
				for (int c = 0; c < 3; c++) {
					int cc = t->out_c == 3 ? c : 0;
					size_t at = (size_t)(y / zoom) * t->out_w + (size_t)(xx / zoom);
					float v = (x[cc * plane + at] * t->std[cc] + t->mean[cc]) * 255.0f;
					v = v < 0 ? 0 : v > 255 ? 255 : v;
					sheet[((size_t)(oy + y) * W + ox + xx) * 3 + c] =
						(uint8_t)lrintf(v);
				}
	}
	if (!st)
		st = dim_image_write_jpeg(a->sheet, sheet, W, H, 92, err);
	if (!st)
		printf("sheet     %s (%d samples, %dx%d each)\n", a->sheet, n, t->out_w, t->out_h);
out_free:
	dim_decoder_destroy(dec);
	dim_image_free(&img);
	free(x);
	free(sheet);
	return st;
}

static int cmp_double(const void *p, const void *q)
{
	double a = *(const double *)p, b = *(const double *)q;
	return a < b ? -1 : a > b;
}

/* One pass over `samples` items: images per second. */
static dim_status bench_pass(dim_loader *l, uint64_t epoch, double *ips, dim_error *err)
{
	dim_batch *b;
	size_t n = 0;
	double t0 = dim_now();
	dim_status st = dim_loader_start_epoch(l, epoch, err);
	while (!st && !(st = dim_loader_next(l, &b, err)) && b) {
		n += (size_t)b->n;
		dim_loader_release(l, b);
	}
	*ips = (double)n / (dim_now() - t0);
	return st;
}

static dim_status bench(dim_dataset *ds, const data_args *a, const dim_transform *t,
			dim_error *err)
{
	long tlist[2] = {1, 2};
	int nt = 2;
	if (a->threads) {
		tlist[0] = a->threads;
		nt = 1;
	}
	printf("\n| dataset | input | threads | batch | samples | images/s (median) | min | max |\n"
	       "|---|---|---|---|---|---|---|---|\n");
	for (int k = 0; k < nt; k++) {
		dim_loader *l = NULL;
		dim_loader_config cfg = {.batch_size = (int)a->batch, .threads = (int)tlist[k],
					 .shuffle = 1, .drop_last = 1, .seed = (uint64_t)a->seed,
					 .limit = (size_t)a->samples, .transform = *t};
		double ips[64], warm;
		dim_status st = dim_loader_create(&l, ds, &cfg, err);
		if (st)
			return st;
		st = bench_pass(l, 0, &warm, err);
		for (int r = 0; r < a->repeats && !st; r++)
			st = bench_pass(l, (uint64_t)r + 1, &ips[r], err);
		size_t items = dim_loader_items(l);
		dim_loader_destroy(l);
		if (st)
			return st;
		qsort(ips, (size_t)a->repeats, sizeof *ips, cmp_double);
		const dim_dataset_info *in = dim_dataset_get_info(ds);
		printf("| %s | %s -> %dx%d | %ld | %ld | %zu | %.0f | %.0f | %.0f |\n", in->format,
		       in->width ? "native" : "files", t->out_w, t->out_h, tlist[k], a->batch,
		       items, ips[a->repeats / 2], ips[0], ips[a->repeats - 1]);
		fflush(stdout);
	}
	return DIM_OK;
}

static int parse(int argc, char **argv, data_args *a)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"split", required_argument, NULL, 's'},
		{"label", required_argument, NULL, 'l'},
		{"allow-truncated", no_argument, NULL, 'T'},
		{"size", required_argument, NULL, 'z'},
		{"sheet", required_argument, NULL, 'o'},
		{"sheet-n", required_argument, NULL, 'n'},
		{"augment", required_argument, NULL, 'a'},
		{"seed", required_argument, NULL, 'S'},
		{"bench", no_argument, NULL, 'b'},
		{"threads", required_argument, NULL, 't'},
		{"samples", required_argument, NULL, 'N'},
		{"repeats", required_argument, NULL, 'r'},
		{"batch", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': a->format = optarg; break;
		case 's': a->split = optarg; break;
		case 'l': a->label = optarg; break;
		case 'T': a->allow_truncated = 1; break;
		case 'o': a->sheet = optarg; break;
		case 'a': a->augment = optarg; break;
		case 'b': a->bench = 1; break;
		case 'z': if (!cli_int("data", "--size", optarg, 1, 4096, &a->size)) return 2; break;
		case 'n': if (!cli_int("data", "--sheet-n", optarg, 1, 1024, &a->sheet_n)) return 2; break;
		case 'S': if (!cli_int("data", "--seed", optarg, 0, 0x7FFFFFFF, &a->seed)) return 2; break;
		case 't': if (!cli_int("data", "--threads", optarg, 1, 256, &a->threads)) return 2; break;
		case 'N': if (!cli_int("data", "--samples", optarg, 1, 1L << 30, &a->samples)) return 2; break;
		case 'r': if (!cli_int("data", "--repeats", optarg, 1, 64, &a->repeats)) return 2; break;
		case 'B': if (!cli_int("data", "--batch", optarg, 1, 65536, &a->batch)) return 2; break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "cldim data: expected one dataset PATH\n");
		usage(stderr);
		return 2;
	}
	a->path = argv[optind];
	return 0;
}

int cmd_data(int argc, char **argv)
{
	data_args a = {.augment = "preset", .sheet_n = 16, .samples = 2048, .repeats = 5,
		       .batch = 64};
	dim_dataset_opts o = {0};
	dim_dataset *ds = NULL;
	dim_transform t;
	dim_error err = {0};
	cli_remove_temps_on_signal(); /* the contact sheet is written atomically */
	int rc = parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	o.format = a.format;
	o.split = a.split;
	o.label = a.label;
	o.allow_truncated = a.allow_truncated;
	dim_status st = dim_dataset_open(&ds, a.path, &o, &err);
	if (st)
		return cli_fail("data", st, dim_error_text(&err));
	describe(ds);
	st = make_transform(&a, dim_dataset_get_info(ds), &t, &err);
	if (!st && a.sheet)
		st = write_sheet(ds, &a, &t, &err);
	if (!st && a.bench)
		st = bench(ds, &a, &t, &err);
	dim_dataset_destroy(ds);
	if (st)
		return cli_fail("data", st, dim_error_text(&err));
	return 0;
}
