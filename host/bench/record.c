/* Bench records: `cldim bench` stores the training and extraction speed it
 * measured in the speed section of the device's record in the device store
 * (host/runtime/store.c has the format, the reader and the writer), from
 * which `--device auto` picks the fastest device. */
#include <time.h>

#include "cldim/bench.h"

dim_status dim_bench_record_save(const char *dir, const dim_device_info *d, double train_img_s,
				 double extract_img_s, int batch, dim_error *err)
{
	dim_device_record r = {.has_speed = true, .train_img_s = train_img_s,
			       .extract_img_s = extract_img_s, .batch = batch};
	time_t now = time(NULL);
	struct tm tm;
	strftime(r.time, sizeof r.time, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	return dim_device_store_update(dir, d, DIM_STORE_SPEED, &r, err);
}
