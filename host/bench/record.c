/* Bench records: what `cldim bench` measured per device + driver, kept in the
 * cache directory so that `--device auto` can pick the fastest device
 * (include/cldim/tuning.h). One small JSON object per file:
 *   {"cldim_bench_record": 1, "device": "...", "driver": "...",
 *    "platform": "...", "train_images_per_s": 123.4,
 *    "extract_images_per_s": 567.8, "batch": 64, "time": "..."} */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cldim/io.h"
#include "cldim/tuning.h"

void dim_bench_record_path(const dim_device_info *d, char *buf, size_t n)
{
	char dir[1024];
	dim_cache_default_dir(dir, sizeof dir);
	if (!dir[0]) {
		buf[0] = '\0';
		return;
	}
	/* FNV-1a over platform, device and driver (same key as the GEMM tuning). */
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[3] = {d->platform_name, d->name, d->driver};
	for (int p = 0; p < 3; p++) {
		for (const unsigned char *s = (const unsigned char *)parts[p]; *s; s++)
			h = (h ^ *s) * 0x100000001b3ull;
		if (p < 2)
			h = (h ^ '\n') * 0x100000001b3ull;
	}
	snprintf(buf, n, "%s/bench-%016llx.json", dir, (unsigned long long)h);
}

static int make_dirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0755);
		*p = '/';
		if (rc && errno != EEXIST)
			return -1;
	}
	return 0;
}

dim_status dim_bench_record_save(const dim_device_info *d, double train_img_s,
				 double extract_img_s, int batch, dim_error *err)
{
	char path[1100], tmp[1200], ts[32];
	dim_bench_record_path(d, path, sizeof path);
	if (!path[0])
		return dim_fail(err, DIM_ERR_IO, "bench record: no cache directory");
	snprintf(tmp, sizeof tmp, "%s", path);
	if (make_dirs(tmp))
		return dim_fail(err, DIM_ERR_IO, "%s: cannot create its directory: %s", path,
				strerror(errno));
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
	time_t now = time(NULL);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	dim_json j;
	dim_json_init(&j, f, 2);
	dim_json_begin_object(&j);
	dim_json_key(&j, "cldim_bench_record");
	dim_json_int(&j, 1);
	dim_json_key(&j, "device");
	dim_json_string(&j, d->name);
	dim_json_key(&j, "driver");
	dim_json_string(&j, d->driver);
	dim_json_key(&j, "platform");
	dim_json_string(&j, d->platform_name);
	dim_json_key(&j, "train_images_per_s");
	dim_json_number(&j, train_img_s);
	dim_json_key(&j, "extract_images_per_s");
	dim_json_number(&j, extract_img_s);
	dim_json_key(&j, "batch");
	dim_json_int(&j, batch);
	dim_json_key(&j, "time");
	dim_json_string(&j, ts);
	dim_json_end_object(&j);
	fputc('\n', f);
	int bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, path)) {
		int e = errno;
		unlink(tmp);
		return dim_fail(err, DIM_ERR_IO, "%s: cannot write: %s", path, strerror(e));
	}
	return DIM_OK;
}

static int read_number(const char *text, const char *key, double *out)
{
	const char *p = strstr(text, key);
	if (!p)
		return 0;
	p = strchr(p + strlen(key), ':');
	if (!p)
		return 0;
	char *end;
	double v = strtod(p + 1, &end);
	if (end == p + 1 || !(v >= 0) || v > 1e12)
		return 0;
	*out = v;
	return 1;
}

bool dim_bench_record_load(const dim_device_info *d, double *train_img_s, double *extract_img_s)
{
	char path[1100], text[4096];
	dim_bench_record_path(d, path, sizeof path);
	if (!path[0])
		return false;
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	double tr = 0, ex = 0;
	if (!strstr(text, "\"cldim_bench_record\"") ||
	    !read_number(text, "\"train_images_per_s\"", &tr) || tr <= 0) {
		dim_log(DIM_LOG_WARN, "%s: not a cldim bench record; ignored", path);
		return false;
	}
	read_number(text, "\"extract_images_per_s\"", &ex);
	if (train_img_s)
		*train_img_s = tr;
	if (extract_img_s)
		*extract_img_s = ex;
	return true;
}

int dim_bench_recorded_best(const dim_device_info *list, int count, int fallback_index)
{
	const char *env = getenv("CLDIM_BENCH_RECORDS");
	if ((env && !strcmp(env, "0")) || fallback_index < 0 || fallback_index >= count)
		return -1;
	double fb;
	if (!dim_bench_record_load(&list[fallback_index], &fb, NULL))
		return -1; /* the plain choice was never measured: keep it */
	int best = fallback_index;
	double best_v = fb;
	for (int i = 0; i < count; i++) {
		double v;
		if (i != fallback_index && dim_bench_record_load(&list[i], &v, NULL) && v > best_v) {
			best = i;
			best_v = v;
		}
	}
	return best;
}
