/* cldim neighbors: a JPEG grid, one row per query image: the query, then its
 * k nearest neighbours (cosine similarity in the chosen representation)
 * among the other images of the split. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/encode.h"
#include "cldim/probe.h"
#include "cldim/train.h"
#include "cli.h"

#define GAP 6

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cldim neighbors --checkpoint C [--data PATH] --out nn.jpg [options]\n\n"
		"  --checkpoint C  checkpoint file or run directory\n"
		"  --data PATH     dataset (default: the checkpoint's)\n"
		"  --format F      auto (default) | %s\n"
		"  --split S       test (default; an image folder without a test/ subfolder:\n"
		"                  all of it)\n"
		"  --limit N       search among the first N images (2000; 0 = all)\n"
		"  --repr R        Y (default) | conv | fc | local\n"
		"  --queries N     query rows (8), spread over the split by --seed\n"
		"  --k N           neighbours per row (8)\n"
		"  --scale N       pixel zoom of each tile (3)\n"
		"  --seed N        which images are queries (1)\n"
		"  --out FILE      JPEG to write (required; kept if it exists, unless --force)\n"
		"  --force         overwrite an existing --out (never an input)\n"
		"  --device SEL    see cldim devices\n",
		dim_dataset_formats());
}

/* Paint preprocessed image x (C x S x S, normalised with t's mean/std) at
 * (ox, oy) of an RGB canvas of width w, zoomed by scale. */
static void paint(uint8_t *rgb, int w, int ox, int oy, const float *x, int c, int s, int scale,
		  const dim_transform *t)
{
	for (int yy = 0; yy < s * scale; yy++)
		for (int xx = 0; xx < s * scale; xx++)
			for (int ch = 0; ch < 3; ch++) {
				int sc = c == 1 ? 0 : ch;
				float v = x[(size_t)sc * s * s + (size_t)(yy / scale) * s + xx / scale];
				v = (v * t->std[sc] + t->mean[sc]) * 255.0f;
				v = v < 0 ? 0 : v > 255 ? 255 : v;
				rgb[((size_t)(oy + yy) * w + ox + xx) * 3 + ch] = (uint8_t)(v + 0.5f);
			}
}

/* Would data open as an image folder (named so, or detected)? */
static int format_is_imagefolder(const char *data, const char *format)
{
	if (format && strcmp(format, "auto"))
		return !strcmp(format, "imagefolder");
	dim_dataset *ds = NULL;
	dim_error err = {0};
	dim_dataset_opts o = {.split = "all"};
	int yes = !dim_dataset_open(&ds, data, &o, &err) &&
		  !strcmp(dim_dataset_get_info(ds)->format, "imagefolder");
	dim_dataset_destroy(ds);
	return yes;
}

int cmd_neighbors(int argc, char **argv)
{
	enum { O_CKPT = 256, O_DATA, O_FORMAT, O_SPLIT, O_LIMIT, O_REPR, O_Q, O_K, O_SCALE, O_SEED,
	       O_OUT, O_DEVICE, O_FORCE };
	static const struct option opts[] = {
		{"checkpoint", required_argument, NULL, O_CKPT},
		{"data", required_argument, NULL, O_DATA},
		{"format", required_argument, NULL, O_FORMAT},
		{"split", required_argument, NULL, O_SPLIT},
		{"limit", required_argument, NULL, O_LIMIT},
		{"repr", required_argument, NULL, O_REPR},
		{"queries", required_argument, NULL, O_Q}, {"k", required_argument, NULL, O_K},
		{"scale", required_argument, NULL, O_SCALE},
		{"seed", required_argument, NULL, O_SEED}, {"out", required_argument, NULL, O_OUT},
		{"device", required_argument, NULL, O_DEVICE}, {"help", no_argument, NULL, 'h'},
		{"force", no_argument, NULL, O_FORCE}, {NULL, 0, NULL, 0},
	};
	const char *ckpt = NULL, *data = NULL, *format = NULL, *split = NULL, *repr = "Y";
	const char *out = NULL, *device = NULL;
	long limit = 2000, nq = 8, k = 8, scale = 3, seed = 1;
	int c, force = 0;
	dim_error err = {0};

	cli_remove_temps_on_signal();
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int ok = 1;
		switch (c) {
		case O_CKPT: ckpt = optarg; break;
		case O_DATA: data = optarg; break;
		case O_FORMAT: format = optarg; break;
		case O_SPLIT: split = optarg; break;
		case O_LIMIT: ok = cli_int("neighbors", "--limit", optarg, 0, 1L << 40, &limit); break;
		case O_REPR: repr = optarg; break;
		case O_Q: ok = cli_int("neighbors", "--queries", optarg, 1, 256, &nq); break;
		case O_K: ok = cli_int("neighbors", "--k", optarg, 1, 64, &k); break;
		case O_SCALE: ok = cli_int("neighbors", "--scale", optarg, 1, 16, &scale); break;
		case O_SEED: ok = cli_int("neighbors", "--seed", optarg, 0, 1L << 62, &seed); break;
		case O_OUT: out = optarg; break;
		case O_DEVICE: device = optarg; break;
		case O_FORCE: force = 1; break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
		if (!ok)
			return 2;
	}
	if (optind < argc || !ckpt || !out) {
		fprintf(stderr, "cldim neighbors: %s (see cldim neighbors --help)\n",
			optind < argc ? "unexpected argument" : "--checkpoint and --out are required");
		return 2;
	}
	dim_repr r;
	if (dim_repr_parse(repr, &r, &err))
		return cli_fail("neighbors", DIM_ERR_ARG, dim_error_text(&err));
	char path[1200];
	dim_status st = dim_resolve_checkpoint(ckpt, path, sizeof path, &err);
	if (st)
		return cli_fail("neighbors", st, dim_error_text(&err));
	const char *inputs[] = {path, ckpt, data, NULL};
	int rc = cli_check_output("neighbors", out, inputs, force);
	if (rc || (rc = cli_make_parent("neighbors", out)))
		return rc;
	dim_ctx *ctx;
	rc = cli_ctx("neighbors", device, 0, 0, &ctx);
	if (rc)
		return rc;

	dim_featurizer *f = NULL;
	dim_dataset *ds = NULL;
	float *feat = NULL, *pix = NULL;
	int32_t *lab = NULL, *lab2 = NULL;
	size_t n = 0, n2 = 0, *idx = NULL, *queries = NULL;
	uint8_t *rgb = NULL;
	dim_error *e = dim_ctx_error(ctx);

	st = dim_featurizer_load(ctx, path, &f);
	if (st)
		goto out;
	const dim_train_state *ts = dim_featurizer_train_state(f);
	if (!data)
		data = ts->dataset[0] ? ts->dataset : NULL;
	if (!format && data && !strcmp(data, ts->dataset) && ts->format[0])
		format = ts->format;
	if (!data) {
		st = dim_fail(e, DIM_ERR_ARG, "%s names no dataset: give --data", path);
		goto out;
	}
	if (cli_same_file(out, data)) {
		st = dim_fail(e, DIM_ERR_ARG, "--out %s is the dataset; choose another", out);
		goto out;
	}
	int ch, size;
	dim_featurizer_input(f, &ch, &size);
	dim_dataset_opts dopt = {.format = format, .split = split ? split : "test"};
	if (!split) {
		/* the test split; an image folder without one: all of it, said */
		st = dim_dataset_open(&ds, data, &dopt, e);
		split = "test";
		if (st == DIM_ERR_ARG && !format_is_imagefolder(data, format)) {
			goto out;
		} else if (st == DIM_ERR_ARG) {
			split = "all";
			dim_log(DIM_LOG_INFO, "%s has no test split: neighbours among all its images",
				data);
		} else if (st) {
			goto out;
		}
		dim_dataset_destroy(ds);
		ds = NULL;
		dopt.split = split;
	}
	dim_stream_opts so = {.format = format, .split = split, .limit = (size_t)limit,
			      .batch = 256, .threads = 2, .channels = ch, .size = size};
	dim_transform tf;
	if ((st = dim_dataset_open(&ds, data, &dopt, e)) ||
	    (st = dim_transform_preset(&tf, dim_dataset_get_info(ds)->format, size, ch, 0, e)) ||
	    (st = dim_extract_memory(f, data, &so, 1, &r, &feat, &lab, &n)) ||
	    (st = dim_extract_pixels(data, &so, &pix, &lab2, &n2, e)))
		goto out;
	if (n != n2 || n < (size_t)k + 1) {
		st = dim_fail(e, DIM_ERR_ARG, "%s: %zu images decoded; need more than --k %ld", data,
			      n, k);
		goto out;
	}
	if ((size_t)nq > n)
		nq = (long)n;
	int d = dim_featurizer_dim(f, r);
	queries = malloc((size_t)nq * sizeof *queries);
	idx = malloc((size_t)nq * k * sizeof *idx);
	float *qf = malloc((size_t)nq * d * sizeof *qf);
	if (!queries || !idx || !qf) {
		free(qf);
		st = dim_fail(e, DIM_ERR_NOMEM, "out of host memory");
		goto out;
	}
	for (long q = 0; q < nq; q++) { /* one query per stratum of the split */
		size_t lo = n * (size_t)q / (size_t)nq, hi = n * (size_t)(q + 1) / (size_t)nq;
		queries[q] = lo + dim_rng((uint64_t)seed, 77, (uint64_t)q, 0) % (hi - lo);
		memcpy(qf + (size_t)q * d, feat + queries[q] * d, (size_t)d * sizeof *qf);
	}
	/* k + 1 neighbours: the query itself comes back first and is dropped */
	size_t *idx1 = malloc((size_t)nq * (k + 1) * sizeof *idx1);
	st = idx1 ? dim_knn_search(ctx, d, feat, n, qf, (size_t)nq, (int)k + 1, false, idx1, NULL) :
		    dim_fail(e, DIM_ERR_NOMEM, "out of host memory");
	free(qf);
	if (st) {
		free(idx1);
		goto out;
	}
	for (long q = 0; q < nq; q++) {
		int j = 0;
		for (int t = 0; t <= k && j < k; t++)
			if (idx1[q * (k + 1) + t] != queries[q])
				idx[q * k + j++] = idx1[q * (k + 1) + t];
	}
	free(idx1);

	int tile = size * (int)scale, w = GAP + (int)(k + 1) * (tile + GAP) + GAP;
	int h = GAP + (int)nq * (tile + GAP);
	rgb = malloc((size_t)w * h * 3);
	if (!rgb) {
		st = dim_fail(e, DIM_ERR_NOMEM, "out of host memory");
		goto out;
	}
	memset(rgb, 255, (size_t)w * h * 3);
	size_t per = (size_t)ch * size * size;
	int matches = 0;
	for (long q = 0; q < nq; q++) {
		int y0 = GAP + (int)q * (tile + GAP);
		paint(rgb, w, GAP, y0, pix + queries[q] * per, ch, size, (int)scale, &tf);
		for (int j = 0; j < k; j++) {
			size_t nb = idx[q * k + j];
			paint(rgb, w, 2 * GAP + (j + 1) * (tile + GAP), y0, pix + nb * per, ch, size,
			      (int)scale, &tf);
			matches += lab[nb] >= 0 && lab[nb] == lab[queries[q]];
		}
	}
	st = dim_image_write_jpeg(out, rgb, w, h, 92, e);
	if (st)
		goto out;
	printf("%s\t%ld queries x %ld neighbours in %s (d %d) among %zu images", out, nq, k,
	       dim_repr_name(r), d, n);
	if (dim_dataset_get_info(ds)->has_labels)
		printf("; %.1f%% share the query's label", 100.0 * matches / (double)(nq * k));
	printf("\n");

out:
	if (st)
		rc = cli_fail("neighbors", st, dim_ctx_errmsg(ctx));
	free(rgb);
	free(idx);
	free(queries);
	free(feat);
	free(pix);
	free(lab);
	free(lab2);
	dim_dataset_destroy(ds);
	dim_featurizer_destroy(f);
	dim_ctx_destroy(ctx);
	return rc;
}
