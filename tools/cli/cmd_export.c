/* cldim export: the encoder of a checkpoint alone, as a safetensors file that
 * every command, the C API (dim_featurizer_load), the Python package and
 * PyTorch (tools/pytorch/cldim_torch.py load_encoder) read. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/encode.h"
#include "cldim/train.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cldim export --checkpoint C --out encoder.safetensors [--device SEL]\n\n"
		"Writes the checkpoint's encoder alone: weights and BatchNorm buffers (running\n"
		"statistics and num_batches_tracked) under the PyTorch module's names and layouts,\n"
		"the architecture (encoder, channels, Y width, layer geometry as JSON) and the\n"
		"training provenance in the metadata; no critics, no optimizer state. The file\n"
		"works wherever a checkpoint does (extract, eval, neighbors, info, the C API) and\n"
		"loads into PyTorch with tools/pytorch/cldim_torch.py load_encoder(path).\n\n"
		"  --checkpoint C   checkpoint file or run directory (its 'latest')\n"
		"  --out FILE       the encoder file to write (atomically)\n"
		"  --device SEL     device that reads the weights (see cldim devices)\n");
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{"checkpoint", required_argument, NULL, 'c'},
		{"out", required_argument, NULL, 'o'},
		{"device", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *ckpt = NULL, *out = NULL, *device = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ckpt = optarg; break;
		case 'o': out = optarg; break;
		case 'd': device = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !ckpt || !out) {
		fprintf(stderr, "cldim export: %s\n", optind != argc ? "unexpected argument"
				: "--checkpoint and --out are required");
		usage(stderr);
		return 2;
	}
	dim_error err = {0};
	char path[1200];
	dim_status st = dim_resolve_checkpoint(ckpt, path, sizeof path, &err);
	if (st)
		return cli_fail("export", st, dim_error_text(&err));
	dim_ctx *ctx;
	int rc = cli_ctx("export", device, 0, 0, &ctx);
	if (rc)
		return rc;
	dim_featurizer *f = NULL;
	st = dim_featurizer_load(ctx, path, &f);
	if (!st)
		st = dim_featurizer_export(f, out);
	if (st) {
		rc = cli_fail("export", st, dim_ctx_errmsg(ctx));
	} else {
		struct stat sb;
		const dim_config *cfg = dim_featurizer_config(f);
		printf("%s\tencoder %s, %d channel(s), Y %d, step %lld (%.1f MiB)\n", out,
		       cfg->encoder, cfg->in_channels, cfg->y_dim,
		       dim_featurizer_train_state(f)->step,
		       stat(out, &sb) ? 0.0 : (double)sb.st_size / 1048576.0);
	}
	dim_featurizer_destroy(f);
	dim_ctx_destroy(ctx);
	return rc;
}
