/* cldim bench: which device trains fastest, and how close each op runs to
 * that device's measured peak. Results to stdout (md | csv | json | jsonl),
 * progress to stderr. `--tune` (cmd_bench_tune.c) searches CLBlast's GEMM
 * parameters. The start-up (compile) cost is measured in child processes of
 * this binary (--startup-probe), cold with empty temporary kernel caches and
 * warm with the normal ones, because a driver reads its cache location once
 * per process. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_out.h"
#include "cli.h"

struct bench_opts {
	const char *device, *fmt, *encoder;
	int reps, batch, mi_units, quick;
	int peak_only, step_only, no_startup, no_record;
	int tune, tune_batch;
	double tune_seconds;
};

/* The GEMMs of a DIM(L) step on the 32×32 DCGAN encoder at batch B with the
 * encode-and-dot local critic D wide (N·L = B·64 rows). */
int bench_dim_shapes(int B, int D, dim_gemm_shape *out)
{
	const dim_gemm_shape s[] = {
		{"enc.conv0 fwd (im2col)", 0, 0, 64, B * 256, 48},
		{"enc.conv1 fwd (im2col)", 0, 0, 128, B * 64, 1024},
		{"enc.conv2 fwd (im2col)", 0, 0, 256, B * 16, 2048},
		{"enc.fc fwd", 0, 1, B, 1024, 4096},
		{"local.c0 fwd (1x1 as GEMM)", 0, 1, B * 64, D, 128},
		{"local.c1 fwd (1x1 as GEMM)", 0, 1, B * 64, D, D},
		{"local.c1 dW", 1, 0, D, D, B * 64},
		{"local.c1 dX", 0, 0, B * 64, D, D},
		{"scores Y·Mᵀ", 0, 1, B, B * 64, D},
	};
	int n = (int)(sizeof s / sizeof s[0]);
	memcpy(out, s, sizeof s);
	return n;
}

static void gemm_shape_str(const dim_gemm_shape *g, char *buf, size_t n)
{
	snprintf(buf, n, "%c%c M=%d N=%d K=%d", g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', g->M, g->N,
		 g->K);
}

static struct bench_rec flop_rec(const char *test, const char *shape, dim_timing t, double flops,
				 double peak)
{
	struct bench_rec r = bench_rec_plain(test, shape, t);
	r.gflops = flops / t.median_s * 1e-9;
	r.frac = peak > 0 ? r.gflops / peak : -1;
	return r;
}

/* ---------------------------------------------------------- start-up probe */

/* Child mode: time context creation, the first kernel and GEMM builds and the
 * first step of a tiny DIM model; one line on stdout. */
static int startup_probe(const struct bench_opts *o)
{
	double t0 = dim_now();
	dim_ctx *ctx;
	int rc = cli_ctx("bench", o->device, 0, 0, &ctx);
	if (rc)
		return rc;
	double t_ctx = dim_now() - t0, t1 = dim_now();
	dim_timing t;
	dim_status st = dim_bench_gemm(ctx, DIM_NO_TRANS, DIM_NO_TRANS, 64, 64, 64, 1, 1, &t);
	double t_gemm = dim_now() - t1;
	dim_bench_step_result sr;
	dim_config cfg = dim_config_default();
	snprintf(cfg.encoder, sizeof cfg.encoder, "%s", o->encoder);
	cfg.mi_units = 64;
	cfg.global_hidden = 64;
	if (!st)
		st = dim_bench_step(ctx, &cfg, 4, 1, 1, &sr);
	if (st) {
		rc = cli_fail("bench", st, dim_ctx_errmsg(ctx));
	} else {
		dim_ctx_stats cs = dim_ctx_get_stats(ctx);
		printf("startup ctx_s=%.4f gemm_s=%.4f first_step_s=%.4f built=%u cached=%u\n", t_ctx,
		       t_gemm, sr.first_step_s, cs.programs_built, cs.programs_cached);
	}
	dim_ctx_destroy(ctx);
	return rc;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

/* Run this binary with --startup-probe; cold = with empty temporary caches.
 * Returns 0 and the three times on success. */
static int run_probe(const struct bench_opts *o, int cold, double *ctx_s, double *gemm_s,
		     double *step_s)
{
	char exe[1024], cmd[4096], dir[] = "/tmp/cldim-cold-XXXXXX", line[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	const char *dev = o->device ? o->device : "";
	if (strchr(dev, '\'') || strchr(exe, '\''))
		return -1;
	if (cold && !mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof cmd,
		 "%s%s%s%s%s '%s' -q bench --startup-probe --encoder '%s' --device '%s'",
		 cold ? "CLDIM_CACHE_DIR=" : "", cold ? dir : "", cold ? "/cldim POCL_CACHE_DIR=" : "",
		 cold ? dir : "", cold ? "/pocl CLDIM_GEMM_TUNING=0" : "", exe, o->encoder, dev);
	FILE *p = popen(cmd, "r");
	int ok = 0;
	if (p) {
		while (fgets(line, sizeof line, p))
			if (sscanf(line, "startup ctx_s=%lf gemm_s=%lf first_step_s=%lf", ctx_s,
				   gemm_s, step_s) == 3)
				ok = 1;
		ok = pclose(p) == 0 && ok;
	}
	if (cold)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ok ? 0 : -1;
}

static void bench_startup(const struct bench_opts *o, struct bench_out *out)
{
	static const char *const names[2] = {"start-up cold (empty caches)", "start-up warm"};
	for (int cold = 1; cold >= 0; cold--) {
		double c, g, s;
		fprintf(stderr, "bench: start-up, %s caches (child process)...\n",
			cold ? "empty" : "warm");
		if (!cold && run_probe(o, 0, &c, &g, &s)) { /* fill the warm caches first */
			fprintf(stderr, "bench: start-up probe failed; skipped\n");
			return;
		}
		if (run_probe(o, cold, &c, &g, &s)) {
			fprintf(stderr, "bench: start-up probe failed; skipped\n");
			return;
		}
		char shape[128];
		snprintf(shape, sizeof shape, "context %.2f s + first GEMM %.2f s + first step %.2f s",
			 c, g, s);
		double total = c + g + s;
		struct bench_rec r = bench_rec_plain(names[1 - cold], shape,
						     (dim_timing){total, total, total, 1});
		bench_out_rec(out, &r);
	}
}

/* ---------------------------------------------------------- one device */

/* What `--device all` ranks: the training rate and the GEMM backend it ran with. */
struct bench_rank {
	double train_img_s;
	char gemm[16];
};

static int bench_device(const struct bench_opts *o, const char *sel, struct bench_out *out,
			struct bench_rank *rank)
{
	dim_ctx *ctx;
	int rc = cli_ctx("bench", sel, 0, 0, &ctx);
	if (rc)
		return rc;
	const dim_device_info *d = dim_ctx_device(ctx);
	dim_config cfg = dim_config_default();
	dim_model *m = NULL;
	dim_peak peak = {0};
	dim_status st = DIM_OK;
	char shape[128], desc[1024];
	int reps = o->reps;
	bench_out_device(out, d);
	rank->train_img_s = 0;
	snprintf(rank->gemm, sizeof rank->gemm, "%s", dim_gemm_backend_name(ctx));
	dim_gemm_tuning tun;
	dim_gemm_tuning_applied(ctx, &tun);
	dim_gemm_tuning_describe(&tun, desc, sizeof desc);
	fprintf(stderr, "bench: %s (%s); GEMM %s, CLBlast tuning: %s\n", d->name, d->driver,
		dim_gemm_backend_name(ctx), desc);

	if (!o->step_only) {
		fprintf(stderr, "bench: peak FMA and copy bandwidth...\n");
		st = dim_bench_peak(ctx, reps, &peak);
		if (st)
			goto out_fail;
		struct bench_rec r = bench_rec_plain("peak fp32 FMA", "-", peak.fma_time);
		r.gflops = peak.gflops;
		r.frac = 1.0;
		bench_out_rec(out, &r);
		r = bench_rec_plain("peak copy bandwidth", "256 MiB", peak.copy_time);
		r.gbps = peak.gbps;
		bench_out_rec(out, &r);
	}
	if (!o->step_only && !o->peak_only) {
		dim_gemm_shape shapes[16];
		int ns = bench_dim_shapes(o->batch, o->mi_units, shapes);
		/* Both GEMM backends on the same shapes (host/bench/gemm_backends.c);
		 * the faster one (total time) is recorded in the device store, and
		 * CLDIM_GEMM=auto uses it later. */
		static const char *const backends[2] = {"own", "clblast"};
		const char *was = dim_gemm_backend_name(ctx);
		bool record = !o->no_record && !o->quick;
		dim_gemm_backends_result gb;
		fprintf(stderr, "bench: GEMM backends on the DIM shapes (batch %d, D %d)\n", o->batch,
			o->mi_units);
		st = dim_bench_gemm_backends(ctx, shapes, ns, reps, record, stderr, &gb);
		if (st)
			goto out_fail;
		for (int bk = 0; bk < 2; bk++)
			for (int i = 0; i < ns; i++) {
				const dim_gemm_shape *g = &shapes[i];
				char test[96];
				gemm_shape_str(g, shape, sizeof shape);
				snprintf(test, sizeof test, "%s [%s]", g->what, backends[bk]);
				struct bench_rec r = flop_rec(test, shape, gb.t[bk][i],
							      2.0 * g->M * g->N * g->K, peak.gflops);
				bench_out_rec(out, &r);
				fprintf(stderr, "bench: %-38s %8.1f GFLOP/s\n", test, r.gflops);
			}
		double lo = gb.total_s[0] <= gb.total_s[1] ? gb.total_s[0] : gb.total_s[1];
		double hi = gb.total_s[0] <= gb.total_s[1] ? gb.total_s[1] : gb.total_s[0];
		fprintf(stderr, "bench: GEMM backend %s is faster here (%.1f vs %.1f ms over the "
			"shapes)%s\n", gb.best_name, 1e3 * lo, 1e3 * hi,
			record ? "; recorded for CLDIM_GEMM=auto" : "");
		/* the rest of the run uses the measured winner unless CLDIM_GEMM forces one */
		st = dim_gemm_set_backend(ctx, cli_opts.gemm != DIM_GEMM_AUTO ? was : gb.best_name);
		if (st)
			goto out_fail;
	}
	snprintf(cfg.encoder, sizeof cfg.encoder, "%s", o->encoder);
	cfg.mi_units = o->mi_units;
	if (!o->step_only && !o->peak_only) {
		/* per-layer convolutions and the MI kernels need the encoder geometry */
		st = dim_model_create(ctx, &cfg, &m);
		if (st)
			goto out_fail;
		const dim_encoder *e = dim_model_encoder(m);
		dim_bench_conv_result cr[DIM_ENC_MAX_LAYERS];
		int nc = 0;
		fprintf(stderr, "bench: convolutions of %s at batch %d...\n", e->name, o->batch);
		st = dim_bench_conv(ctx, e, o->batch, 1, reps, cr, DIM_ENC_MAX_LAYERS, &nc);
		if (st)
			goto out_fail;
		for (int i = 0; i < nc; i++) {
			char test[64];
			snprintf(test, sizeof test, "conv layer %d fwd", cr[i].layer);
			struct bench_rec r = flop_rec(test, cr[i].shape, cr[i].fwd, cr[i].flops_fwd,
						      peak.gflops);
			r.test = test;
			bench_out_rec(out, &r);
			snprintf(test, sizeof test, "conv layer %d bwd (dX+dW)", cr[i].layer);
			r = flop_rec(test, cr[i].shape, cr[i].bwd, cr[i].flops_bwd, peak.gflops);
			r.test = test;
			bench_out_rec(out, &r);
		}
		int N = o->batch, L = e->m_shape[1] * e->m_shape[2];
		dim_model_destroy(m);
		m = NULL;
		fprintf(stderr, "bench: MI estimators on scores [%d, %d, %d]...\n", N, N, L);
		for (int k = 0; k < 3; k++) {
			dim_timing f, b;
			st = dim_bench_mi(ctx, (dim_mi_kind)k, N, L, 1, reps, &f, &b);
			if (st)
				goto out_fail;
			char tf[32], tb[32];
			snprintf(shape, sizeof shape, "S [%d, %d, %d]", N, N, L);
			snprintf(tf, sizeof tf, "mi %s fwd", dim_mi_name((dim_mi_kind)k));
			snprintf(tb, sizeof tb, "mi %s bwd", dim_mi_name((dim_mi_kind)k));
			double bytes = 4.0 * N * N * L;
			struct bench_rec r = bench_rec_plain(tf, shape, f);
			r.gbps = bytes / f.median_s * 1e-9;
			bench_out_rec(out, &r);
			r = bench_rec_plain(tb, shape, b);
			r.gbps = 2 * bytes / b.median_s * 1e-9;
			bench_out_rec(out, &r);
		}
	}
	if (!o->peak_only) {
		dim_bench_step_result sr;
		fprintf(stderr, "bench: DIM(L) step, %s, D %d, batch %d (first step builds)...\n",
			o->encoder, o->mi_units, o->batch);
		st = dim_bench_step(ctx, &cfg, o->batch, 2, reps, &sr);
		if (st)
			goto out_fail;
		if (sr.rss_peak_mib >= 0)
			snprintf(shape, sizeof shape,
				 "%s D=%d batch=%d (first step %.2f s; peak RSS %.0f MiB, device "
				 "%.0f MiB)", o->encoder, o->mi_units, o->batch, sr.first_step_s,
				 sr.rss_peak_mib, sr.device_peak_mib);
		else
			snprintf(shape, sizeof shape, "%s D=%d batch=%d (first step %.2f s)",
				 o->encoder, o->mi_units, o->batch, sr.first_step_s);
		struct bench_rec r = bench_rec_plain("DIM(L) train step", shape, sr.step);
		r.images_per_s = sr.train_img_s;
		r.rss_base_mib = sr.rss_base_mib;
		r.rss_peak_mib = sr.rss_peak_mib;
		r.device_peak_mib = sr.device_peak_mib;
		bench_out_rec(out, &r);
		snprintf(shape, sizeof shape, "%s batch=%d (eval-mode forward)", o->encoder,
			 o->batch);
		r = bench_rec_plain("extraction", shape, sr.extract);
		r.images_per_s = sr.extract_img_s;
		bench_out_rec(out, &r);
		fprintf(stderr, "bench: train %.1f images/s, extraction %.1f images/s\n",
			sr.train_img_s, sr.extract_img_s);
		rank->train_img_s = sr.train_img_s;
		snprintf(rank->gemm, sizeof rank->gemm, "%s", dim_gemm_backend_name(ctx));
		if (!o->no_record && !o->quick && o->batch == 64 && o->mi_units == 2048) {
			dim_error err = {0};
			if (dim_bench_record_save(dim_ctx_store_dir(ctx), d, sr.train_img_s, sr.extract_img_s, o->batch, &err))
				fprintf(stderr, "bench: record not saved: %s\n", dim_error_text(&err));
		}
	}
	dim_ctx_destroy(ctx);
	if (!o->step_only && !o->peak_only && !o->no_startup)
		bench_startup(&(struct bench_opts){.device = sel, .encoder = o->encoder}, out);
	return 0;

out_fail:
	rc = cli_fail("bench", st, dim_ctx_errmsg(ctx));
	dim_model_destroy(m);
	dim_ctx_destroy(ctx);
	return rc;
}

int bench_tune(const char *device, double seconds, int tune_batch, int mi_units, int reps,
	       const char *fmt);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cldim bench [--device SEL|all] [options]\n\n"
		"Measures each device: fp32 FMA peak and copy bandwidth, the GEMMs of a DIM(L) step\n"
		"(GFLOP/s and fraction of the measured peak), each encoder convolution forward and\n"
		"backward, the MI estimator kernels, a whole DIM(L) training step and extraction\n"
		"(images/s), and start-up time with cold and warm kernel caches. Warm-up excluded;\n"
		"median, min and max of the repeats. Results to stdout, progress to stderr.\n\n"
		"  --device SEL|all   default: auto; 'all' ranks devices by training images/s\n"
		"  --reps N           timed repeats (default 5; 3 with --quick)\n"
		"  -o, --output FMT   md | csv | json | jsonl (default md)\n"
		"  --batch N          batch size (default 64; 16 with --quick)\n"
		"  --mi-units N       local critic width D (default 2048; 256 with --quick)\n"
		"  --encoder NAME     dcgan32 (default) | basic28 | dcgan28 | dcgan64 |\n"
		"                     alexnet64\n"
		"  --quick            small settings (no record is written)\n"
		"  --peak-only        only the FMA and bandwidth peaks\n"
		"  --step-only        only the training step and extraction\n"
		"  --no-startup       skip the cold/warm start-up probes\n"
		"  --no-record        do not store the result for --device auto\n"
		"  --tune             search CLBlast GEMM parameters for this device, store them\n"
		"  --tune-seconds S   time box of the search (default 120)\n"
		"  --tune-batch B     batch whose DIM shapes are tuned (default 4)\n\n"
		"A full run (batch 64, D 2048) stores training images/s per device and driver in the\n"
		"kernel cache directory; --device auto then prefers the fastest recorded device\n"
		"(CLDIM_BENCH_RECORDS=0 ignores records; CLDIM_GEMM_TUNING=0 ignores --tune results).\n");
}

int cmd_bench(int argc, char **argv)
{
	enum { O_QUICK = 256, O_PEAK, O_STEP, O_NOSTART, O_NOREC, O_TUNE, O_TSEC, O_TBATCH,
	       O_BATCH, O_MI, O_ENC, O_PROBE };
	static const struct option opts[] = {
		{"device", required_argument, NULL, 'd'},
		{"reps", required_argument, NULL, 'r'},
		{"output", required_argument, NULL, 'o'},
		{"quick", no_argument, NULL, O_QUICK},
		{"peak-only", no_argument, NULL, O_PEAK},
		{"step-only", no_argument, NULL, O_STEP},
		{"no-startup", no_argument, NULL, O_NOSTART},
		{"no-record", no_argument, NULL, O_NOREC},
		{"tune", no_argument, NULL, O_TUNE},
		{"tune-seconds", required_argument, NULL, O_TSEC},
		{"tune-batch", required_argument, NULL, O_TBATCH},
		{"batch", required_argument, NULL, O_BATCH},
		{"mi-units", required_argument, NULL, O_MI},
		{"encoder", required_argument, NULL, O_ENC},
		{"startup-probe", no_argument, NULL, O_PROBE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench_opts o = {.fmt = "md", .encoder = "dcgan32", .tune_seconds = 120,
			       .tune_batch = 4};
	long reps = -1, batch = -1, mi = -1, tb = 4, v;
	double secs = 120;
	int c, probe = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:r:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o.device = optarg; break;
		case 'r':
			if (!cli_int("bench", "--reps", optarg, 1, 1000, &reps))
				return 2;
			break;
		case 'o':
			o.fmt = optarg;
			if (!bench_fmt_ok(o.fmt)) {
				fprintf(stderr, "cldim bench: -o: '%s' is not one of md, csv, json, jsonl\n",
					o.fmt);
				return 2;
			}
			break;
		case O_QUICK: o.quick = 1; break;
		case O_PEAK: o.peak_only = 1; break;
		case O_STEP: o.step_only = 1; break;
		case O_NOSTART: o.no_startup = 1; break;
		case O_NOREC: o.no_record = 1; break;
		case O_TUNE: o.tune = 1; break;
		case O_PROBE: probe = 1; break;
		case O_TSEC:
			if (!cli_float("bench", "--tune-seconds", optarg, 0, 86400, &secs))
				return 2;
			break;
		case O_TBATCH:
			if (!cli_int("bench", "--tune-batch", optarg, 2, 4096, &tb))
				return 2;
			break;
		case O_BATCH:
			if (!cli_int("bench", "--batch", optarg, 2, 65536, &batch))
				return 2;
			break;
		case O_MI:
			if (!cli_int("bench", "--mi-units", optarg, 1, 65536, &mi))
				return 2;
			break;
		case O_ENC: o.encoder = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cldim bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o.peak_only && o.step_only) {
		fprintf(stderr, "cldim bench: --peak-only and --step-only exclude each other\n");
		return 2;
	}
	for (v = 0; dim_encoder_names[v] && strcmp(dim_encoder_names[v], o.encoder); v++)
		;
	if (!dim_encoder_names[v]) {
		fprintf(stderr, "cldim bench: --encoder: unknown encoder '%s'\n", o.encoder);
		return 2;
	}
	o.reps = (int)(reps > 0 ? reps : o.quick ? 3 : 5);
	o.batch = (int)(batch > 0 ? batch : o.quick ? 16 : 64);
	o.mi_units = (int)(mi > 0 ? mi : o.quick ? 256 : 2048);
	o.tune_seconds = secs;
	o.tune_batch = (int)tb;
	if (probe)
		return startup_probe(&o);
	if (o.tune) {
		if (o.device && !strcmp(o.device, "all")) {
			fprintf(stderr, "cldim bench: --tune takes one device, not 'all'\n");
			return 2;
		}
		return bench_tune(o.device, o.tune_seconds, o.tune_batch, o.mi_units, o.reps, o.fmt);
	}

	struct bench_out out = {.f = stdout, .fmt = o.fmt};
	int rc = 0;
	if (o.device && !strcmp(o.device, "all")) {
		dim_error err = {0};
		dim_device_info *list;
		int n;
		dim_status st = dim_devices_list(&list, &n, &err);
		if (st)
			return cli_fail("bench", st, dim_error_text(&err));
		struct bench_rank *rk = calloc((size_t)n, sizeof *rk);
		for (int i = 0; i < n && !rc && rk; i++) {
			char sel[16];
			snprintf(sel, sizeof sel, "%d", i);
			rc = bench_device(&o, sel, &out, &rk[i]);
		}
		bench_out_end(&out);
		if (!rc && rk && !o.peak_only) {
			/* one CPU can be several devices (PoCL, Intel's runtime): the
			 * platform tells them apart, the GEMM backend is the one the
			 * figure ran with (the measured winner, recorded per device) */
			fprintf(stderr, "bench: ranking by DIM(L) training images/s:\n");
			for (int r = 1; r <= n; r++) {
				int best = -1;
				for (int i = 0; i < n; i++)
					if (rk[i].train_img_s >= 0 &&
					    (best < 0 || rk[i].train_img_s > rk[best].train_img_s))
						best = i;
				fprintf(stderr, "  %d. [%d] %s (%s): %.1f images/s, GEMM %s\n", r,
					best, list[best].name, list[best].platform_name,
					rk[best].train_img_s, rk[best].gemm);
				rk[best].train_img_s = -1;
			}
		}
		free(rk);
		free(list);
		return rc;
	}
	struct bench_rank rank;
	rc = bench_device(&o, o.device, &out, &rank);
	bench_out_end(&out);
	return rc;
}
