/* Bench records, the reading half (include/cldim/tuning.h): what `cldim bench`
 * measured per device + driver, kept in the cache directory so that
 * `--device auto` can pick the fastest device. host/bench/record.c writes
 * them. One small JSON object per file:
 *   {"cldim_bench_record": 1, "device": "...", "driver": "...",
 *    "platform": "...", "train_images_per_s": 123.4,
 *    "extract_images_per_s": 567.8, "batch": 64, "time": "..."} */
#include <stdlib.h>
#include <string.h>

#include "cldim/tuning.h"
#include "internal.h"

uint64_t dim_device_key(const dim_device_info *d)
{
	uint64_t h = dim_fnv1a(DIM_FNV_INIT, d->platform_name, strlen(d->platform_name));
	h = dim_fnv1a(h, "\n", 1);
	h = dim_fnv1a(h, d->name, strlen(d->name));
	h = dim_fnv1a(h, "\n", 1);
	return dim_fnv1a(h, d->driver, strlen(d->driver));
}

void dim_bench_record_path(const dim_device_info *d, char *buf, size_t n)
{
	char dir[1024];
	dim_cache_default_dir(dir, sizeof dir);
	if (!dir[0]) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, n, "%s/bench-%016llx.json", dir, (unsigned long long)dim_device_key(d));
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
