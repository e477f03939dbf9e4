/* cldim bench: which device trains fastest, and how close each op runs to
 * that device's measured peak. Results to stdout (md | csv | json | jsonl),
 * progress to stderr. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cldim/bench.h"
#include "cli.h"

struct gemm_shape {
	const char *what;
	int ta, tb, M, N, K;
};

/* The GEMMs of a DIM(L) step on the 32×32 DCGAN encoder at batch B = 64 with
 * the encode-and-dot local critic (D = 2048, N·L = 64·64 = 4096 rows). */
static const struct gemm_shape dim_shapes[] = {
	{"enc.conv0 fwd (im2col)", 0, 0, 64, 16384, 48},
	{"enc.conv1 fwd (im2col)", 0, 0, 128, 4096, 1024},
	{"enc.conv2 fwd (im2col)", 0, 0, 256, 1024, 2048},
	{"enc.fc fwd", 0, 1, 64, 1024, 4096},
	{"local.c0 fwd (1x1 as GEMM)", 0, 1, 4096, 2048, 128},
	{"local.c1 fwd (1x1 as GEMM)", 0, 1, 4096, 2048, 2048},
	{"local.c1 dW", 1, 0, 2048, 2048, 4096},
	{"local.c1 dX", 0, 0, 4096, 2048, 2048},
	{"scores Y·Mᵀ", 0, 1, 64, 4096, 2048},
};

static int peak_only;

struct record {
	const char *test;
	char shape[64];
	dim_timing t;
	double gflops, gbps, frac;
};

static void emit(FILE *f, const char *fmt, const dim_device_info *d, const struct record *r,
		 int first, int nrec)
{
	char ts[32];
	time_t now = time(NULL);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	if (!strcmp(fmt, "md")) {
		if (first)
			fprintf(f, "| device | test | shape | median ms | min ms | max ms | GFLOP/s | GB/s | of peak |\n"
				   "|---|---|---|---:|---:|---:|---:|---:|---:|\n");
		fprintf(f, "| %s | %s | %s | %.3f | %.3f | %.3f | %.1f | %.1f | %.1f%% |\n", d->name,
			r->test, r->shape, r->t.median_s * 1e3, r->t.min_s * 1e3, r->t.max_s * 1e3,
			r->gflops, r->gbps, 100 * r->frac);
	} else if (!strcmp(fmt, "csv")) {
		if (first)
			fprintf(f, "device,driver,cldim,build,time,test,shape,reps,median_ms,min_ms,max_ms,gflops,gbps,frac_of_peak\n");
		fprintf(f, "\"%s\",\"%s\",%s,%s,%s,\"%s\",\"%s\",%d,%.4f,%.4f,%.4f,%.2f,%.2f,%.4f\n",
			d->name, d->driver, CLDIM_VERSION, CLDIM_BUILD, ts, r->test, r->shape,
			r->t.reps, r->t.median_s * 1e3, r->t.min_s * 1e3, r->t.max_s * 1e3,
			r->gflops, r->gbps, r->frac);
	} else {
		int json = !strcmp(fmt, "json");
		if (json && first)
			fprintf(f, "[\n");
		fprintf(f, "%s{\"device\": \"%s\", \"driver\": \"%s\", \"cldim\": \"%s\", \"build\": \"%s\", "
			   "\"time\": \"%s\", \"test\": \"%s\", \"shape\": \"%s\", \"reps\": %d, "
			   "\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"gflops\": %.2f, "
			   "\"gbps\": %.2f, \"frac_of_peak\": %.4f}%s\n",
			json ? "  " : "", d->name, d->driver, CLDIM_VERSION, CLDIM_BUILD, ts, r->test,
			r->shape, r->t.reps, r->t.median_s * 1e3, r->t.min_s * 1e3, r->t.max_s * 1e3,
			r->gflops, r->gbps, r->frac, json && !(nrec < 0) ? "," : "");
	}
}

static int bench_device(const char *sel, int reps, const char *fmt, int *first)
{
	dim_ctx *ctx;
	int rc = cli_ctx("bench", sel, 0, 0, &ctx);
	if (rc)
		return rc;
	const dim_device_info *d = dim_ctx_device(ctx);
	dim_peak peak;
	fprintf(stderr, "bench: %s: measuring peak FMA and bandwidth...\n", d->name);
	dim_status st = dim_bench_peak(ctx, reps, &peak);
	if (st) {
		rc = cli_fail("bench", st, dim_ctx_errmsg(ctx));
		goto out;
	}
	size_t n = peak_only ? 0 : sizeof dim_shapes / sizeof dim_shapes[0];
	struct record r = {"peak fp32 FMA", "-", peak.fma_time, peak.gflops, 0, 1.0};
	emit(stdout, fmt, d, &r, *first, 0);
	*first = 0;
	r = (struct record){"peak copy bandwidth", "-", peak.copy_time, 0, peak.gbps, 1.0};
	emit(stdout, fmt, d, &r, 0, n == 0 ? -1 : 0);
	fprintf(stderr, "bench: kernel build %.2f s; GEMMs on DIM shapes (%s)...\n", peak.compile_s,
		dim_gemm_backend_name(ctx));
	for (size_t i = 0; i < n; i++) {
		const struct gemm_shape *g = &dim_shapes[i];
		struct record gr = {.test = g->what};
		snprintf(gr.shape, sizeof gr.shape, "%c%c M=%d N=%d K=%d", g->ta ? 'T' : 'N',
			 g->tb ? 'T' : 'N', g->M, g->N, g->K);
		st = dim_bench_gemm(ctx, g->ta, g->tb, g->M, g->N, g->K, 1, reps, &gr.t);
		if (st) {
			rc = cli_fail("bench", st, dim_ctx_errmsg(ctx));
			goto out;
		}
		gr.gflops = 2.0 * g->M * g->N * g->K / gr.t.median_s * 1e-9;
		gr.frac = gr.gflops / peak.gflops;
		emit(stdout, fmt, d, &gr, 0, i + 1 == n ? -1 : 0);
		fprintf(stderr, "bench: %-28s %8.1f GFLOP/s\n", g->what, gr.gflops);
	}
out:
	dim_ctx_destroy(ctx);
	return rc;
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{"device", required_argument, NULL, 'd'},
		{"reps", required_argument, NULL, 'r'},
		{"output", required_argument, NULL, 'o'},
		{"peak-only", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dev = NULL, *fmt = "md";
	long reps = 5;
	int c;
	peak_only = 0;
	while ((c = getopt_long(argc, argv, "d:r:o:ph", opts, NULL)) != -1) {
		switch (c) {
		case 'p': peak_only = 1; break;
		case 'd': dev = optarg; break;
		case 'r':
			if (!cli_int("bench", "--reps", optarg, 1, 1000, &reps))
				return 2;
			break;
		case 'o':
			fmt = optarg;
			if (strcmp(fmt, "md") && strcmp(fmt, "csv") && strcmp(fmt, "json") &&
			    strcmp(fmt, "jsonl")) {
				fprintf(stderr, "cldim bench: -o: '%s' is not one of md, csv, json, jsonl\n",
					fmt);
				return 2;
			}
			break;
		case 'h':
			printf("usage: cldim bench [--device SEL|all] [--reps N] [-o md|csv|json|jsonl]\n\n"
			       "Measures each device's fp32 FMA peak and copy bandwidth, then the GEMMs of a\n"
			       "DIM(L) step (32x32 DCGAN encoder, batch 64, local critic 2048 wide) as GFLOP/s\n"
			       "and fraction of the measured peak. Warm-up excluded; median, min and max of\n"
			       "--reps repeats (default 5). Results to stdout, progress to stderr.\n"
			       "  --device SEL|all  default: auto (see cldim devices)\n"
			       "  --peak-only       only the FMA and bandwidth peaks\n");
			return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cldim bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	int first = 1, rc = 0;
	if (dev && !strcmp(dev, "all")) {
		dim_error err = {0};
		dim_device_info *list;
		int n;
		dim_status st = dim_devices_list(&list, &n, &err);
		if (st)
			return cli_fail("bench", st, dim_error_text(&err));
		for (int i = 0; i < n && !rc; i++) {
			char sel[16];
			snprintf(sel, sizeof sel, "%d", i);
			rc = bench_device(sel, (int)reps, fmt, &first);
		}
		free(list);
	} else {
		rc = bench_device(dev, (int)reps, fmt, &first);
	}
	if (!strcmp(fmt, "json") && !first)
		printf("]\n");
	return rc;
}
