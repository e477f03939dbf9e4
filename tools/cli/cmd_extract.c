/* cldim extract: a split (or a folder of JPEG/PNG images) through a trained
 * encoder into features.npy, labels.npy, class names, a paths file and a list of
 * skipped images. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldim/encode.h"
#include "cldim/io.h"
#include "cldim/train.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cldim extract --checkpoint C --data PATH --out features.npy [options]\n\n"
		"Encodes every image of a dataset split (or any folder of JPEG/PNG images: one class\n"
		"per subfolder, or flat and unlabelled) in file order with\n"
		"the checkpoint's encoder in evaluation mode and writes float32 features [N, D].\n"
		"Beside --out: <stem>.labels.npy (int64, when the data has labels), <stem>.paths.txt\n"
		"(source of each row), <stem>.classes.txt (class names, line k = label k, when the\n"
		"data has them) and <stem>.skipped.txt (images that failed to decode). Missing\n"
		"directories of --out are created; existing outputs are kept unless --force.\n\n"
		"  --checkpoint C   checkpoint file or run directory (its 'latest')\n"
		"  --data PATH      dataset file or directory\n"
		"  --format F       auto (default) | %s\n"
		"  --split S        train (default) | test | ... (see cldim train --help)\n"
		"  --repr R         conv | fc | Y (default) | local (M averaged over locations)\n"
		"  --out FILE       features .npy (required; .npz is refused: np.load reads .npy)\n"
		"  --force          overwrite existing outputs (never an input)\n"
		"  --batch N        images per forward pass (256)\n"
		"  --threads N      decode threads (2)\n"
		"  --limit N        first N images only (0 = all)\n"
		"  --strict         a bad image is an error (default: reported and skipped)\n"
		"  -q, --quiet      no progress, errors only\n"
		"  --device SEL     see cldim devices\n",
		dim_dataset_formats());
}

struct progress_state {
	int tty, quiet;
};

static void progress(void *user, const dim_extract_progress *p)
{
	struct progress_state *ps = user;
	if (ps->quiet)
		return;
	if (p->final) {
		fprintf(stderr, "%s%zu images in %.1f s (%.1f images/s), %zu skipped\n",
			ps->tty ? "\r\033[K" : "", p->done, p->elapsed_s, p->images_per_s, p->skipped);
		return;
	}
	fprintf(stderr, "%s%zu/%zu images  %.1f images/s  %zu skipped%s", ps->tty ? "\r\033[K" : "",
		p->done, p->total, p->images_per_s, p->skipped, ps->tty ? "" : "\n");
}

/* "dir/feat.npy" -> "dir/feat" + suffix */
static void sibling(char *buf, size_t n, const char *out, const char *suffix)
{
	size_t len = strlen(out);
	if (len > 4 && !strcmp(out + len - 4, ".npy"))
		len -= 4;
	snprintf(buf, n, "%.*s%s", (int)len, out, suffix);
}

/* The class names of the extracted split, line k = label k, beside the labels
 * (nothing when the data has no class names). */
static dim_status write_classes(dim_ctx *ctx, const dim_extract_options *o, const char *path)
{
	dim_dataset *ds;
	dim_dataset_opts dopt = {.format = o->stream.format, .split = o->stream.split};
	dim_error *err = dim_ctx_error(ctx);
	dim_status st = dim_dataset_open(&ds, o->data_path, &dopt, err);
	if (st)
		return st;
	int k = dim_dataset_get_info(ds)->num_classes;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		dim_dataset_destroy(ds);
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < k; i++)
		fprintf(f, "%s\n", dim_dataset_class_name(ds, i));
	fclose(f);
	dim_dataset_destroy(ds);
	if (k > 0)
		st = dim_write_file_atomic(err, path, text, len);
	free(text);
	return st;
}

int cmd_extract(int argc, char **argv)
{
	enum { O_CKPT = 256, O_DATA, O_FORMAT, O_SPLIT, O_REPR, O_OUT, O_BATCH, O_THREADS,
	       O_LIMIT, O_STRICT, O_QUIET, O_DEVICE, O_FORCE };
	static const struct option opts[] = {
		{"checkpoint", required_argument, NULL, O_CKPT},
		{"data", required_argument, NULL, O_DATA},
		{"format", required_argument, NULL, O_FORMAT},
		{"split", required_argument, NULL, O_SPLIT},
		{"repr", required_argument, NULL, O_REPR}, {"out", required_argument, NULL, O_OUT},
		{"batch", required_argument, NULL, O_BATCH},
		{"threads", required_argument, NULL, O_THREADS},
		{"limit", required_argument, NULL, O_LIMIT},
		{"strict", no_argument, NULL, O_STRICT}, {"quiet", no_argument, NULL, O_QUIET},
		{"device", required_argument, NULL, O_DEVICE}, {"help", no_argument, NULL, 'h'},
		{"force", no_argument, NULL, O_FORCE},
		{NULL, 0, NULL, 0},
	};
	const char *ckpt = NULL, *data = NULL, *format = NULL, *split = NULL, *repr = "Y";
	const char *out = NULL, *device = NULL;
	long batch = 256, threads = 2, limit = 0;
	int strict = 0, quiet = cli_quiet, force = 0, c;
	dim_error err = {0};
	int rc;

	cli_remove_temps_on_signal();
	optind = 1;
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		int ok = 1;
		switch (c) {
		case O_CKPT: ckpt = optarg; break;
		case O_DATA: data = optarg; break;
		case O_FORMAT: format = optarg; break;
		case O_SPLIT: split = optarg; break;
		case O_REPR: repr = optarg; break;
		case O_OUT: out = optarg; break;
		case O_BATCH: ok = cli_int("extract", "--batch", optarg, 1, 65536, &batch); break;
		case O_THREADS: ok = cli_int("extract", "--threads", optarg, 1, 64, &threads); break;
		case O_LIMIT: ok = cli_int("extract", "--limit", optarg, 0, 1L << 40, &limit); break;
		case O_STRICT: strict = 1; break;
		case 'q':
		case O_QUIET: quiet = 1; cli_set_quiet(); break;
		case O_FORCE: force = 1; break;
		case O_DEVICE: device = optarg; break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
		if (!ok)
			return 2;
	}
	if (optind < argc || !ckpt || !data || !out) {
		if (optind < argc)
			fprintf(stderr, "cldim extract: unexpected argument '%s'\n", argv[optind]);
		else
			fprintf(stderr, "cldim extract: --checkpoint, --data and --out are required "
					"(see cldim extract --help)\n");
		return 2;
	}
	dim_extract_options o = {
		.stream = {.format = format, .split = split, .limit = (size_t)limit,
			   .batch = (int)batch, .threads = (int)threads, .strict = strict},
		.data_path = data, .features_npy = out,
	};
	if (dim_repr_parse(repr, &o.repr, &err))
		return cli_fail("extract", DIM_ERR_ARG, dim_error_text(&err));
	size_t olen = strlen(out);
	if (olen > 4 && !strcmp(out + olen - 4, ".npz")) {
		fprintf(stderr, "cldim extract: --out %s: extract writes .npy files (one array each, "
				"read with numpy.load); use a .npy name\n", out);
		return 2;
	}
	char path[1200], labels[1200], paths[1200], skipped[1200], classes[1200];
	dim_status st = dim_resolve_checkpoint(ckpt, path, sizeof path, &err);
	if (st)
		return cli_fail("extract", st, dim_error_text(&err));
	sibling(labels, sizeof labels, out, ".labels.npy");
	sibling(paths, sizeof paths, out, ".paths.txt");
	sibling(skipped, sizeof skipped, out, ".skipped.txt");
	sibling(classes, sizeof classes, out, ".classes.txt");
	/* never an input; an existing output only with --force */
	const char *inputs[] = {path, data, ckpt, NULL};
	const char *outputs[] = {out, labels, paths, skipped, classes};
	for (int i = 0; i < 5; i++)
		if ((rc = cli_check_output("extract", outputs[i], inputs, force)))
			return rc;
	if ((rc = cli_make_parent("extract", out)))
		return rc;
	o.labels_npy = labels;
	o.paths_txt = paths;
	o.skipped_txt = skipped;

	dim_ctx *ctx;
	rc = cli_ctx("extract", device, 0, 0, &ctx);
	if (rc)
		return rc;
	dim_featurizer *f = NULL;
	struct progress_state ps = {.tty = isatty(STDERR_FILENO), .quiet = quiet};
	o.progress = progress;
	o.progress_user = &ps;
	dim_extract_result res;
	st = dim_featurizer_load(ctx, path, &f);
	if (!st)
		st = dim_extract_run(f, &o, &res);
	if (!st && res.has_labels)
		st = write_classes(ctx, &o, classes);
	if (st) {
		rc = cli_fail("extract", st, dim_ctx_errmsg(ctx));
	} else {
		printf("%s\t%zu x %d float32 (%s)\n", out, res.written, res.dim,
		       dim_repr_name(o.repr));
		if (res.has_labels)
			printf("%s\t%zu int64 labels\n", labels, res.written);
		if (res.has_labels && !access(classes, F_OK))
			printf("%s\n", classes);
		printf("%s\n", paths);
		if (res.skipped)
			printf("%s\t%zu skipped\n", skipped, res.skipped);
	}
	dim_featurizer_destroy(f);
	dim_ctx_destroy(ctx);
	return rc;
}
