/* md | csv | json | jsonl output of `cldim bench` (see bench_out.h). */
#include <string.h>
#include <time.h>

#include "bench_out.h"
#include "cldim/io.h"

int bench_fmt_ok(const char *fmt)
{
	return !strcmp(fmt, "md") || !strcmp(fmt, "csv") || !strcmp(fmt, "json") ||
	       !strcmp(fmt, "jsonl");
}

struct bench_rec bench_rec_plain(const char *test, const char *shape, dim_timing t)
{
	struct bench_rec r = {.test = test, .t = t, .gflops = -1, .frac = -1, .gbps = -1,
			      .images_per_s = -1, .rss_base_mib = -1, .rss_peak_mib = -1,
			      .device_peak_mib = -1};
	snprintf(r.shape, sizeof r.shape, "%s", shape ? shape : "-");
	return r;
}

void bench_out_device(struct bench_out *o, const dim_device_info *d)
{
	o->dev = d;
	o->dev_header_done = 0;
}

static void md_num(FILE *f, double v, const char *fmt)
{
	if (v < 0)
		fprintf(f, " - |");
	else {
		fputc(' ', f);
		fprintf(f, fmt, v);
		fprintf(f, " |");
	}
}

static void csv_num(FILE *f, double v, const char *fmt)
{
	fputc(',', f);
	if (v >= 0)
		fprintf(f, fmt, v);
}

static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(dim_json *j, const char *key, double v)
{
	dim_json_key(j, key);
	if (v < 0)
		dim_json_null(j);
	else
		dim_json_number(j, v);
}

void bench_out_rec(struct bench_out *o, const struct bench_rec *r)
{
	FILE *f = o->f;
	const dim_device_info *d = o->dev;
	char ts[32];
	time_t now = time(NULL);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	if (!strcmp(o->fmt, "md")) {
		if (!o->dev_header_done)
			fprintf(f, "%s**%s** — driver %s, cldim %s (%s)\n\n"
				   "| test | shape | median ms | min ms | max ms | GFLOP/s | of peak | GB/s | images/s |\n"
				   "|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
				o->nrec ? "\n" : "", d->name, d->driver, CLDIM_VERSION, CLDIM_BUILD);
		fprintf(f, "| %s | %s | %.3f | %.3f | %.3f |", r->test, r->shape,
			r->t.median_s * 1e3, r->t.min_s * 1e3, r->t.max_s * 1e3);
		md_num(f, r->gflops, "%.1f");
		if (r->frac < 0)
			fprintf(f, " - |");
		else
			fprintf(f, " %.1f%% |", 100 * r->frac);
		md_num(f, r->gbps, "%.1f");
		md_num(f, r->images_per_s, "%.1f");
		fputc('\n', f);
	} else if (!strcmp(o->fmt, "csv")) {
		if (!o->nrec)
			fprintf(f, "device,driver,cldim,build,time,test,shape,reps,median_ms,min_ms,"
				   "max_ms,gflops,frac_of_peak,gbps,images_per_s,rss_base_mib,"
				   "rss_peak_mib,device_peak_mib\n");
		csv_str(f, d->name);
		fputc(',', f);
		csv_str(f, d->driver);
		fprintf(f, ",%s,%s,%s,", CLDIM_VERSION, CLDIM_BUILD, ts);
		csv_str(f, r->test);
		fputc(',', f);
		csv_str(f, r->shape);
		fprintf(f, ",%d,%.4f,%.4f,%.4f", r->t.reps, r->t.median_s * 1e3, r->t.min_s * 1e3,
			r->t.max_s * 1e3);
		csv_num(f, r->gflops, "%.2f");
		csv_num(f, r->frac, "%.4f");
		csv_num(f, r->gbps, "%.2f");
		csv_num(f, r->images_per_s, "%.2f");
		csv_num(f, r->rss_base_mib, "%.1f");
		csv_num(f, r->rss_peak_mib, "%.1f");
		csv_num(f, r->device_peak_mib, "%.1f");
		fputc('\n', f);
	} else {
		int json = !strcmp(o->fmt, "json");
		if (json)
			fputs(o->nrec ? ",\n  " : "[\n  ", f);
		dim_json j;
		dim_json_init(&j, f, 0);
		dim_json_begin_object(&j);
		dim_json_key(&j, "device");
		dim_json_string(&j, d->name);
		dim_json_key(&j, "driver");
		dim_json_string(&j, d->driver);
		dim_json_key(&j, "cldim");
		dim_json_string(&j, CLDIM_VERSION);
		dim_json_key(&j, "build");
		dim_json_string(&j, CLDIM_BUILD);
		dim_json_key(&j, "time");
		dim_json_string(&j, ts);
		dim_json_key(&j, "test");
		dim_json_string(&j, r->test);
		dim_json_key(&j, "shape");
		dim_json_string(&j, r->shape);
		dim_json_key(&j, "reps");
		dim_json_int(&j, r->t.reps);
		json_num(&j, "median_ms", r->t.median_s * 1e3);
		json_num(&j, "min_ms", r->t.min_s * 1e3);
		json_num(&j, "max_ms", r->t.max_s * 1e3);
		json_num(&j, "gflops", r->gflops);
		json_num(&j, "frac_of_peak", r->frac);
		json_num(&j, "gbps", r->gbps);
		json_num(&j, "images_per_s", r->images_per_s);
		json_num(&j, "rss_base_mib", r->rss_base_mib);
		json_num(&j, "rss_peak_mib", r->rss_peak_mib);
		json_num(&j, "device_peak_mib", r->device_peak_mib);
		dim_json_end_object(&j);
		if (!json)
			fputc('\n', f);
	}
	o->dev_header_done = 1;
	o->nrec++;
	fflush(f);
}

void bench_out_end(struct bench_out *o)
{
	if (!strcmp(o->fmt, "json"))
		fputs(o->nrec ? "\n]\n" : "[]\n", o->f);
}
