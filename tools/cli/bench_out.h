/* Result records of `cldim bench` and their md | csv | json | jsonl output
 * (tools/cli/bench_out.c). Every record carries device, driver, cldim version
 * and build; fields that do not apply are null (json), empty (csv) or "-". */
#ifndef CLDIM_CLI_BENCH_OUT_H
#define CLDIM_CLI_BENCH_OUT_H

#include <stdio.h>

#include "cldim/bench.h"

struct bench_rec {
	const char *test;
	char shape[128];
	dim_timing t;
	double gflops, frac;  /* < 0: not a FLOP count */
	double gbps;          /* < 0: n/a */
	double images_per_s;  /* < 0: n/a */
	/* the training step's memory (dim_bench_step_result), MiB; < 0: n/a */
	double rss_base_mib, rss_peak_mib, device_peak_mib;
};

struct bench_out {
	FILE *f;
	const char *fmt;      /* md | csv | json | jsonl */
	int nrec;             /* records written so far (all devices) */
	const dim_device_info *dev;
	int dev_header_done;
};

/* Check a format name; 0 if unknown. */
int bench_fmt_ok(const char *fmt);
void bench_out_device(struct bench_out *o, const dim_device_info *d);
void bench_out_rec(struct bench_out *o, const struct bench_rec *r);
void bench_out_end(struct bench_out *o);
/* A record with only a timing / images-per-second filled in. */
struct bench_rec bench_rec_plain(const char *test, const char *shape, dim_timing t);

#endif
