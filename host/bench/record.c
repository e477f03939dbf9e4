/* Bench records, the writing half: `cldim bench` stores what it measured per
 * device + driver in the cache directory. The runtime reads them, so that
 * `--device auto` can pick the fastest device without looking up a layer
 * (host/runtime/records.c has the path, the format and the reader). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cldim/bench.h"
#include "cldim/io.h"

dim_status dim_bench_record_save(const dim_device_info *d, double train_img_s,
				 double extract_img_s, int batch, dim_error *err)
{
	char path[1100], tmp[1200], ts[32];
	dim_bench_record_path(d, path, sizeof path);
	if (!path[0])
		return dim_fail(err, DIM_ERR_IO, "bench record: no cache directory");
	snprintf(tmp, sizeof tmp, "%s", path);
	char *slash = strrchr(tmp, '/');
	if (slash && slash != tmp) {
		*slash = '\0';
		if (dim_mkdir_p(tmp))
			return dim_fail(err, DIM_ERR_IO, "%s: cannot create its directory: %s",
					path, strerror(errno));
	}
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
