/* cldim info: what a checkpoint holds — model configuration, training
 * position, parameter counts per network, optimizer state and the stored
 * training options. Reads the file on the host; needs no OpenCL device. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/io.h"
#include "cldim/train.h"
#include "cli.h"
#include "info_arch.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: cldim info [--json] CHECKPOINT|RUN_DIR|ENCODER_FILE\n"
		   "       cldim info --arch NAME|all [--channels C] [--device SEL]\n\n"
		   "Print a checkpoint's configuration (cfg.* metadata and the stored training\n"
		   "options), training progress, parameter counts per network and the optimizer\n"
		   "state. A run directory means the checkpoint its 'latest' file names; an\n"
		   "encoder written by cldim export shows its architecture and provenance.\n\n"
		   "  --json       one JSON object on stdout (the options as the string\n"
		   "               \"options_json\", exactly as stored)\n"
		   "  --arch NAME  the layer geometry of an encoder (or all) as a Markdown table:\n"
		   "               kernel, stride, padding, pooling, input and output shapes and\n"
		   "               which outputs are M, conv, fc and Y (builds it on a device)\n"
		   "  --channels C input channels for --arch (3)\n");
}

static long long total_of(const dim_checkpoint_summary *s, int field)
{
	long long t = 0;
	for (int g = 0; g < DIM_CKPT_GROUPS; g++)
		t += field == 0 ? s->groups[g].params : field == 1 ? s->groups[g].buffers
								   : s->groups[g].opt_values;
	return t;
}

static dim_status print_json(const char *path, const dim_checkpoint_summary *s, dim_error *err)
{
	const dim_config *c = &s->cfg;
	const dim_train_state *ts = &s->ts;
	dim_json j;
	dim_json_init(&j, stdout, 2);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "path", path);
	dim_json_kv_string(&j, "kind", s->encoder_only ? "encoder" : "checkpoint");
	dim_json_kv_int(&j, "file_bytes", s->file_bytes);
	dim_json_kv_string(&j, "cldim_version", s->version);
	dim_json_key(&j, "config");
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "encoder", c->encoder);
	dim_json_kv_int(&j, "in_channels", c->in_channels);
	dim_json_kv_int(&j, "y_dim", c->y_dim);
	if (s->encoder_only)
		goto end_config; /* the critics and Adam are not in the file */
	dim_json_kv_string(&j, "local_critic",
			   c->local_critic == DIM_CRITIC_CONCAT ? "concat" : "dot");
	dim_json_kv_int(&j, "mi_units", c->mi_units);
	dim_json_kv_int(&j, "concat_hidden", c->concat_hidden);
	dim_json_kv_int(&j, "global_hidden", c->global_hidden);
	dim_json_kv_string(&j, "estimator", dim_mi_name(c->estimator));
	dim_json_key(&j, "alpha"); dim_json_float(&j, c->alpha);
	dim_json_key(&j, "beta"); dim_json_float(&j, c->beta);
	dim_json_key(&j, "gamma"); dim_json_float(&j, c->gamma);
	dim_json_key(&j, "lr"); dim_json_float(&j, c->lr);
	dim_json_key(&j, "beta1"); dim_json_float(&j, c->beta1);
	dim_json_key(&j, "beta2"); dim_json_float(&j, c->beta2);
	dim_json_key(&j, "adam_eps"); dim_json_float(&j, c->adam_eps);
	dim_json_key(&j, "seed"); dim_json_uint(&j, c->seed);
end_config:
	dim_json_end_object(&j);
	dim_json_key(&j, "progress");
	dim_json_begin_object(&j);
	dim_json_kv_int(&j, "step", ts->step);
	dim_json_kv_int(&j, "epoch", ts->epoch + 1); /* from 1, as everywhere */
	dim_json_kv_int(&j, "epoch_batch", ts->epoch_batch);
	dim_json_key(&j, "data_seed"); dim_json_uint(&j, ts->data_seed);
	dim_json_kv_string(&j, "dataset", ts->dataset);
	dim_json_kv_string(&j, "dataset_format", ts->format);
	dim_json_end_object(&j);
	dim_json_key(&j, "networks");
	dim_json_begin_array(&j);
	for (int g = 0; g < DIM_CKPT_GROUPS; g++) {
		const dim_checkpoint_group *n = &s->groups[g];
		if (!n->tensors)
			continue;
		dim_json_begin_object(&j);
		dim_json_kv_string(&j, "name", n->name);
		dim_json_kv_int(&j, "tensors", n->tensors);
		dim_json_kv_int(&j, "params", n->params);
		dim_json_kv_int(&j, "buffers", n->buffers);
		dim_json_kv_int(&j, "optimizer_values", n->opt_values);
		dim_json_kv_int(&j, "trainable_tensors", n->trainable_tensors);
		dim_json_kv_int(&j, "tensors_with_adam_state", n->opt_tensors);
		dim_json_end_object(&j);
	}
	dim_json_end_array(&j);
	dim_json_kv_int(&j, "total_params", total_of(s, 0));
	dim_json_kv_int(&j, "total_buffers", total_of(s, 1));
	dim_json_kv_int(&j, "total_optimizer_values", total_of(s, 2));
	dim_json_kv_string(&j, "options_json", ts->config_json);
	dim_json_end_object(&j);
	dim_status st = dim_json_finish(err, &j, "stdout");
	fputc('\n', stdout);
	return st;
}

static void print_encoder(const char *path, const dim_checkpoint_summary *s)
{
	const dim_config *c = &s->cfg;
	const dim_checkpoint_group *g = &s->groups[0];
	printf("encoder     %s (%.1f MiB, exported by cldim %s)\n", path,
	       (double)s->file_bytes / 1048576.0, s->version);
	printf("model       encoder %s, %d input channel(s), Y %d (no critics, no optimizer "
	       "state)\n", c->encoder, c->in_channels, c->y_dim);
	printf("trained     %lld steps on %s (%s)\n", s->ts.step,
	       s->ts.dataset[0] ? s->ts.dataset : "-", s->ts.format[0] ? s->ts.format : "-");
	printf("tensors     %d: %lld parameters, %lld buffer values\n", g->tensors, g->params,
	       g->buffers);
	printf("options     %s\n", s->ts.config_json);
}

static void print_text(const char *path, const dim_checkpoint_summary *s)
{
	const dim_config *c = &s->cfg;
	const dim_train_state *ts = &s->ts;
	const dim_checkpoint_group *gc = &s->groups[2];
	if (s->encoder_only) {
		print_encoder(path, s);
		return;
	}
	printf("checkpoint  %s (%.1f MiB, written by cldim %s)\n", path,
	       (double)s->file_bytes / 1048576.0, s->version);
	if (c->local_critic == DIM_CRITIC_CONCAT)
		printf("model       encoder %s, %d input channel(s), Y %d; local critic concat "
		       "(hidden %d); global critic %s\n", c->encoder, c->in_channels, c->y_dim,
		       c->concat_hidden, gc->tensors ? "present" : "absent (alpha = 0)");
	else
		printf("model       encoder %s, %d input channel(s), Y %d; local critic dot "
		       "(width %d); global critic %s\n", c->encoder, c->in_channels, c->y_dim,
		       c->mi_units, gc->tensors ? "present" : "absent (alpha = 0)");
	printf("objective   estimator %s, alpha %g (global), beta %g (local), gamma %g (prior)\n",
	       dim_mi_name(c->estimator), c->alpha, c->beta, c->gamma);
	printf("adam        lr %g, betas (%g, %g), eps %g; init seed %llu\n", c->lr, c->beta1,
	       c->beta2, c->adam_eps, (unsigned long long)c->seed);
	printf("progress    step %lld, epoch %d (%lld batches of it done), data seed %llu\n",
	       ts->step, ts->epoch + 1, ts->epoch_batch, (unsigned long long)ts->data_seed);
	printf("dataset     %s (%s)\n", ts->dataset[0] ? ts->dataset : "-",
	       ts->format[0] ? ts->format : "-");
	printf("\n%-14s %12s %10s %8s %18s\n", "network", "parameters", "buffers", "tensors",
	       "Adam state (m, v)");
	for (int g = 0; g < DIM_CKPT_GROUPS; g++) {
		const dim_checkpoint_group *n = &s->groups[g];
		if (!n->tensors)
			continue;
		char opt[64];
		snprintf(opt, sizeof opt, "%d/%d tensors", n->opt_tensors, n->trainable_tensors);
		printf("%-14s %12lld %10lld %8d %18s\n", n->name, n->params, n->buffers, n->tensors,
		       opt);
	}
	printf("%-14s %12lld %10lld\n", "total", total_of(s, 0), total_of(s, 1));
	long long ov = total_of(s, 2);
	if (ov)
		printf("\noptimizer   Adam moments stored: %lld values (encoder+critics and prior "
		       "Adams; bias correction resumes at step %lld)\n", ov, ts->step);
	else
		printf("\noptimizer   no optimizer state stored (weights only)\n");
	printf("options     %s\n", ts->config_json);
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"arch", required_argument, NULL, 'a'},
		{"channels", required_argument, NULL, 'C'},
		{"device", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, c;
	const char *arch = NULL, *device = NULL;
	long channels = 3;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'a': arch = optarg; break;
		case 'C':
			if (!cli_int("info", "--channels", optarg, 1, 16, &channels))
				return 2;
			break;
		case 'd': device = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (arch) {
		if (optind != argc || json) {
			fprintf(stderr, "cldim info: --arch takes no checkpoint and no --json\n");
			return 2;
		}
		return info_arch(arch, (int)channels, device);
	}
	if (optind != argc - 1) {
		fprintf(stderr, "cldim info: expected one checkpoint file or run directory\n");
		usage(stderr);
		return 2;
	}
	const char *arg = argv[optind];
	char path[1200];
	dim_error err = {0};
	struct stat sb;
	if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(path, sizeof path, "%s/latest", arg);
		if (stat(path, &sb) != 0) {
			fprintf(stderr, "cldim info: %s is a directory without a 'latest' file (not a "
					"cldim run directory, or no checkpoint was written yet)\n", arg);
			return dim_status_exit_code(DIM_ERR_IO);
		}
		dim_status st = dim_resolve_checkpoint(arg, path, sizeof path, &err);
		if (st)
			return cli_fail("info", st, dim_error_text(&err));
	} else {
		snprintf(path, sizeof path, "%s", arg);
	}
	dim_checkpoint_summary s;
	dim_status st = dim_checkpoint_summarize(path, &s, &err);
	if (st)
		return cli_fail("info", st, dim_error_text(&err));
	if (json) {
		st = print_json(path, &s, &err);
		if (st)
			return cli_fail("info", st, dim_error_text(&err));
	} else {
		print_text(path, &s);
	}
	return 0;
}
