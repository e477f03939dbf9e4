/* cldim-test: labels=opencl;cli timeout=300 */
/* `cldim bench` options and output formats, with tiny settings (nothing is
 * timed here): json is an array of records with the documented fields,
 * jsonl one object a line, csv a header plus rows, md a table; bad options
 * exit 2. Also the bench records behind --device auto, on a fake device list. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cldim/bench.h"
#include "cldim/tuning.h"
#include "testutil.h"

static char out[1 << 17];

/* stderr: 1 keeps it in out (after stdout), 0 drops it */
static int run_err(const char *env, const char *args, int with_stderr)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s '%s' -q bench %s 2>%s", env, getenv("CLDIM_CLI"), args,
		 with_stderr ? "&1" : "/dev/null");
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *env, const char *args) { return run_err(env, args, 0); }

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

static const char *const fields[] = {
	"\"device\"", "\"driver\"", "\"cldim\"", "\"build\"", "\"time\"", "\"test\"",
	"\"shape\"", "\"reps\"", "\"median_ms\"", "\"min_ms\"", "\"max_ms\"", "\"gflops\"",
	"\"frac_of_peak\"", "\"gbps\"", "\"images_per_s\"", "\"rss_base_mib\"",
	"\"rss_peak_mib\"", "\"device_peak_mib\"",
};

static void cli_tests(const char *env)
{
	const char *tiny = "--step-only --batch 2 --mi-units 8 --reps 1 --no-record";
	char args[512];

	snprintf(args, sizeof args, "%s -o json", tiny);
	int rc = run(env, args);
	CHECK_MSG(rc == 0, "bench %s -> %d", args, rc);
	/* an array of two records: the step and extraction */
	const char *s = out + strspn(out, " \n");
	CHECK_MSG(s[0] == '[' && strstr(out, "]\n"), "not a JSON array:\n%s", out);
	CHECK_MSG(count(out, "\"test\"") == 2, "%s", out);
	CHECK(strstr(out, "\"test\":\"DIM(L) train step\"") || strstr(out, "\"test\": \"DIM(L) train step\""));
	CHECK(strstr(out, "extraction"));
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		CHECK_MSG(count(out, fields[i]) == 2, "field %s missing:\n%s", fields[i], out);
	CHECK(strstr(out, "\"gflops\":null") || strstr(out, "\"gflops\": null"));
	CHECK(count(out, "{") == 2 && count(out, "}") == 2 && count(out, "},") == 1);
	/* the step's memory: a device high-water mark above zero (the model's
	 * arenas), a peak RSS not below the RSS before the model (Linux) */
	{
		const char *dp = strstr(out, "\"device_peak_mib\":");
		const char *rb = strstr(out, "\"rss_base_mib\":");
		const char *rp = strstr(out, "\"rss_peak_mib\":");
		CHECK_MSG(dp && rb && rp, "%s", out);
		if (dp && rb && rp) {
			double d = strtod(dp + 18, NULL), b = strtod(rb + 15, NULL),
			       pk = strtod(rp + 15, NULL);
			CHECK_MSG(d > 0 && b > 0 && pk >= b, "device %g, rss %g -> %g:\n%s", d, b,
				  pk, out);
		}
	}

	snprintf(args, sizeof args, "%s -o jsonl", tiny);
	CHECK(run(env, args) == 0);
	CHECK_MSG(count(out, "\n") == 2 && out[0] == '{' && !strchr(out, '['), "%s", out);

	snprintf(args, sizeof args, "%s -o csv", tiny);
	CHECK(run(env, args) == 0);
	CHECK_MSG(!strncmp(out, "device,driver,cldim,build,time,test,shape,reps,median_ms,", 57) &&
		  count(out, "\n") == 3, "%s", out);

	snprintf(args, sizeof args, "%s -o md", tiny);
	CHECK(run(env, args) == 0);
	CHECK_MSG(strstr(out, "| test | shape | median ms") && strstr(out, "driver") &&
		  count(out, "| DIM(L) train step |") == 1, "%s", out);

	CHECK(run(env, "--peak-only --reps 1 -o jsonl") == 0);
	CHECK_MSG(count(out, "\n") == 2 && strstr(out, "peak fp32 FMA") &&
		  strstr(out, "\"frac_of_peak\":1") , "%s", out);

	CHECK(run(env, "-o xml") == 2);
	CHECK(run(env, "--reps 0") == 2);
	CHECK(run(env, "--batch 1") == 2);
	CHECK(run(env, "--encoder nope") == 2);
	CHECK(run(env, "--peak-only --step-only") == 2);
	CHECK(run(env, "--bogus") == 2);
	CHECK(run(env, "--tune --device all") == 2);

	/* --device all ranks every device; one CPU can be two devices (PoCL and
	 * Intel's runtime, same name), so each line names the platform and the
	 * GEMM backend its figure ran with */
	snprintf(args, sizeof args, "%s --device all -o jsonl", tiny);
	CHECK(run_err(env, args, 1) == 0);
	dim_error err = {0};
	dim_device_info *list = NULL;
	int n = 0;
	CHECK_OK_ERR(&err, dim_devices_list(&list, &n, &err));
	CHECK_MSG(strstr(out, "ranking by DIM(L) training images/s") != NULL, "%s", out);
	for (int i = 0; i < n; i++) {
		char line[512];
		snprintf(line, sizeof line, "] %s (%s): ", list[i].name, list[i].platform_name);
		const char *l = strstr(out, line);
		CHECK_MSG(l && strstr(l, " images/s, GEMM ") &&
				  (!strncmp(strstr(l, ", GEMM ") + 7, "own", 3) ||
				   !strncmp(strstr(l, ", GEMM ") + 7, "clblast", 7)),
			  "no ranking line with '%s' and its GEMM backend:\n%s", line, out);
	}
	free(list);
	CHECK(run(env, "--help") == 0 && strstr(out, "--tune-seconds"));
}

/* dim_device_select_opt("auto") with records in the device store: a fake
 * CPU (0) and GPU (1). The options come from the environment, as at the top
 * of the CLI (CLDIM_CACHE_DIR, CLDIM_BENCH_RECORDS). */
static void record_tests(const char *dir)
{
	dim_device_info list[2];
	memset(list, 0, sizeof list);
	for (int i = 0; i < 2; i++) {
		list[i].index = i;
		snprintf(list[i].platform_name, sizeof list[i].platform_name, "Fake Platform");
		snprintf(list[i].name, sizeof list[i].name, "fake device %c", 'A' + i);
		snprintf(list[i].driver, sizeof list[i].driver, "9.9");
	}
	list[0].type = DIM_DEV_CPU;
	list[1].type = DIM_DEV_GPU;
	dim_error err = {0};
	dim_ctx_options opt;
	dim_device_record r;
	int chosen = -1;
	/* these cases choose among the two fake devices: a CLDIM_DEVICE set for
	 * the whole suite (CI's Intel-runtime stage sets "intel") does not apply */
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&opt, &err));
	CHECK(!strcmp(opt.cache_dir, dir) && !opt.no_device_records);
	opt.device = "auto";
	/* no records: the plain rule (GPU first) */
	CHECK_OK_ERR(&err, dim_device_select_opt(&opt, list, 2, &chosen, &err));
	CHECK(chosen == 1);
	/* only the CPU measured: the GPU (the plain choice) was never measured, keep it */
	CHECK_OK_ERR(&err, dim_bench_record_save(dir, &list[0], 20.0, 100.0, 64, &err));
	CHECK_OK_ERR(&err, dim_device_select_opt(&opt, list, 2, &chosen, &err));
	CHECK(chosen == 1);
	/* both measured, CPU faster: records win */
	CHECK_OK_ERR(&err, dim_bench_record_save(dir, &list[1], 10.0, 50.0, 64, &err));
	CHECK(dim_device_store_load(dir, &list[1], &r) && r.has_speed && r.train_img_s == 10.0 &&
	      r.extract_img_s == 50.0 && r.batch == 64 && r.time[0]);
	CHECK_OK_ERR(&err, dim_device_select_opt(&opt, list, 2, &chosen, &err));
	CHECK(chosen == 0);
	CHECK(dim_device_store_best(dir, list, 2, 1) == 0);
	/* plain dim_device_select reads no store; explicit selectors ignore records */
	CHECK_OK_ERR(&err, dim_device_select("auto", list, 2, &chosen, &err));
	CHECK(chosen == 1);
	opt.device = "gpu";
	CHECK_OK_ERR(&err, dim_device_select_opt(&opt, list, 2, &chosen, &err));
	CHECK(chosen == 1);
	/* CLDIM_BENCH_RECORDS=0 */
	setenv("CLDIM_BENCH_RECORDS", "0", 1);
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&opt, &err));
	unsetenv("CLDIM_BENCH_RECORDS");
	opt.device = "auto";
	CHECK(opt.no_device_records);
	CHECK_OK_ERR(&err, dim_device_select_opt(&opt, list, 2, &chosen, &err));
	CHECK(chosen == 1);
	/* a damaged record is ignored (with a warning), not an error */
	CHECK_OK_ERR(&err, dim_ctx_options_from_env(&opt, &err));
	opt.device = "auto";
	char path[1200];
	dim_device_store_path(dir, &list[0], path, sizeof path);
	CHECK(t_write_file(path, "cldim-device-store 1\n", 21) == 0);
	CHECK(!dim_device_store_load(dir, &list[0], &r));
	CHECK_OK_ERR(&err, dim_device_select_opt(&opt, list, 2, &chosen, &err));
	CHECK(chosen == 1);
}

int main(void)
{
	char *dir = t_tmpdir("bench-cli");
	CHECK(dir != NULL);
	if (!dir)
		return T_RESULT();
	setenv("CLDIM_CACHE_DIR", dir, 1);
	record_tests(dir);
	if (getenv("CLDIM_CLI")) {
		char env[1200];
		snprintf(env, sizeof env, "CLDIM_CACHE_DIR='%s'", dir);
		dim_ctx *ctx = t_ctx(); /* exits 77 when there is no OpenCL */
		dim_ctx_destroy(ctx);
		cli_tests(env);
	} else {
		fprintf(stderr, "CLDIM_CLI not set: CLI part skipped\n");
	}
	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
