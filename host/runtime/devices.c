/* Device listing and selection.
 *
 * The flat list enumerates every device of every platform in the order the
 * ICD loader reports them. Selectors (see runtime.h) resolve against it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

#include "cldim/tuning.h"
#include "internal.h"

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

static const char no_icd_hint[] =
	"no OpenCL platform found. Install an OpenCL driver (ICD): on Debian/Ubuntu "
	"'apt-get install pocl-opencl-icd' for the CPU, or your GPU vendor's OpenCL "
	"package; the loader reads /etc/OpenCL/vendors/*.icd (override with OCL_ICD_VENDORS)";

const char *dim_device_type_name(unsigned type)
{
	if (type & DIM_DEV_GPU)
		return "gpu";
	if (type & DIM_DEV_ACCEL)
		return "accelerator";
	if (type & DIM_DEV_CPU)
		return "cpu";
	return "other";
}

static void get_pstr(cl_platform_id p, cl_platform_info what, char *buf, size_t n)
{
	buf[0] = '\0';
	if (clGetPlatformInfo(p, what, n, buf, NULL) != CL_SUCCESS)
		snprintf(buf, n, "?");
	buf[n - 1] = '\0';
}

static void get_dstr(cl_device_id d, cl_device_info what, char *buf, size_t n)
{
	buf[0] = '\0';
	if (clGetDeviceInfo(d, what, n, buf, NULL) != CL_SUCCESS)
		snprintf(buf, n, "?");
	buf[n - 1] = '\0';
	/* some drivers pad names with spaces */
	size_t len = strlen(buf);
	while (len && isspace((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
}

static void fill_info(dim_device_info *di, cl_platform_id p, cl_device_id d)
{
	cl_device_type t = 0;
	cl_uint u = 0;
	cl_ulong ul = 0;
	size_t sz = 0;
	char ext[8192];

	di->platform = p;
	di->device = d;
	get_pstr(p, CL_PLATFORM_NAME, di->platform_name, sizeof di->platform_name);
	get_pstr(p, CL_PLATFORM_VENDOR, di->platform_vendor, sizeof di->platform_vendor);
	get_pstr(p, CL_PLATFORM_VERSION, di->platform_version, sizeof di->platform_version);
	get_dstr(d, CL_DEVICE_NAME, di->name, sizeof di->name);
	get_dstr(d, CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor);
	get_dstr(d, CL_DEVICE_VERSION, di->version, sizeof di->version);
	get_dstr(d, CL_DEVICE_OPENCL_C_VERSION, di->c_version, sizeof di->c_version);
	get_dstr(d, CL_DRIVER_VERSION, di->driver, sizeof di->driver);

	clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
	di->type = (t & CL_DEVICE_TYPE_GPU) ? DIM_DEV_GPU
		 : (t & CL_DEVICE_TYPE_ACCELERATOR) ? DIM_DEV_ACCEL
		 : (t & CL_DEVICE_TYPE_CPU) ? DIM_DEV_CPU : DIM_DEV_OTHER;
	if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL) == CL_SUCCESS)
		di->compute_units = u;
	if (clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL) == CL_SUCCESS)
		di->clock_mhz = u;
	if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS)
		di->global_mem = ul;
	if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS)
		di->local_mem = ul;
	if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS)
		di->max_alloc = ul;
	if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof sz, &sz, NULL) == CL_SUCCESS)
		di->max_wg = sz;
	u = 0;
	clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof u, &u, NULL);
	di->mem_align_bytes = u >= 8 ? u / 8 : 128;
	if (di->mem_align_bytes < 64)
		di->mem_align_bytes = 64;
	{
		cl_device_fp_config fp = 0;
		clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
		di->fma = (fp & CL_FP_FMA) != 0;
	}
	ext[0] = '\0';
	clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, sizeof ext, ext, NULL);
	ext[sizeof ext - 1] = '\0';
	di->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
	di->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
	di->subgroups = strstr(ext, "cl_khr_subgroups") != NULL ||
			strstr(ext, "cl_intel_subgroups") != NULL;
}

dim_status dim_devices_list(dim_device_info **out, int *count, dim_error *err)
{
	cl_uint np = 0;
	cl_int rc = clGetPlatformIDs(0, NULL, &np);
	*out = NULL;
	*count = 0;
	if (rc == CL_PLATFORM_NOT_FOUND_KHR || (rc == CL_SUCCESS && np == 0))
		return dim_fail(err, DIM_ERR_NO_PLATFORM, "%s", no_icd_hint);
	if (rc != CL_SUCCESS)
		return dim_fail(err, DIM_ERR_NO_PLATFORM, "clGetPlatformIDs failed: %s (%d); %s",
				dim_cl_error_name(rc), rc, no_icd_hint);

	cl_platform_id *plats = calloc(np, sizeof *plats);
	if (!plats)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory listing platforms");
	clGetPlatformIDs(np, plats, NULL);

	dim_device_info *list = NULL;
	int n = 0;
	for (cl_uint p = 0; p < np; p++) {
		cl_uint nd = 0;
		if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || !nd)
			continue;
		cl_device_id *devs = calloc(nd, sizeof *devs);
		dim_device_info *grown = realloc(list, (size_t)(n + (int)nd) * sizeof *list);
		if (!devs || !grown) {
			free(devs);
			free(grown ? grown : list);
			free(plats);
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory listing devices");
		}
		list = grown;
		clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL);
		for (cl_uint d = 0; d < nd; d++) {
			dim_device_info *di = &list[n];
			memset(di, 0, sizeof *di);
			fill_info(di, plats[p], devs[d]);
			di->index = n;
			di->platform_index = (int)p;
			di->device_index = (int)d;
			n++;
		}
		free(devs);
	}
	free(plats);
	if (!n) {
		free(list);
		return dim_fail(err, DIM_ERR_NO_PLATFORM,
				"OpenCL platforms exist but report no devices; %s", no_icd_hint);
	}
	*out = list;
	*count = n;
	return DIM_OK;
}

static int strcasecmp_ascii(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
		if (ca != cb || !ca)
			return ca - cb;
	}
}

static int ci_contains(const char *hay, const char *needle)
{
	size_t nl = strlen(needle);
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < nl && hay[i] &&
		       tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
			i++;
		if (i == nl)
			return 1;
	}
	return nl == 0;
}

static int parse_uint(const char *s, int *v)
{
	if (!*s)
		return 0;
	long x = 0;
	for (const char *c = s; *c; c++) {
		if (!isdigit((unsigned char)*c))
			return 0;
		x = x * 10 + (*c - '0');
		if (x > 1000000)
			return 0;
	}
	*v = (int)x;
	return 1;
}

/* "  0  0:0  cpu  pthread-... (Portable Computing Language)" lines for messages. */
static void list_devices(char *buf, size_t n, const dim_device_info *list, int count)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < count && used < n; i++) {
		int w = snprintf(buf + used, n - used, "\n  %d  %d:%d  %-11s %s (%s)", i,
				 list[i].platform_index, list[i].device_index,
				 dim_device_type_name(list[i].type), list[i].name,
				 list[i].platform_name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* store_dir: where "auto" looks for recorded speeds (NULL: it does not). */
static dim_status select_device(const char *selector, const dim_device_info *list, int count,
				const char *store_dir, int *chosen, dim_error *err)
{
	char avail[2048];
	const char *sel = selector;
	if (!sel || !*sel)
		sel = "auto";
	list_devices(avail, sizeof avail, list, count);

	if (!strcasecmp_ascii(sel, "auto")) {
		static const unsigned order[] = {DIM_DEV_GPU, DIM_DEV_ACCEL, DIM_DEV_CPU, DIM_DEV_OTHER};
		for (int o = 0; o < 4; o++)
			for (int i = 0; i < count; i++)
				if (list[i].type & order[o]) {
					*chosen = i;
					/* recorded speeds (the device store, store.c) */
					int best = store_dir ? dim_device_store_best(store_dir, list,
										    count, i)
							     : -1;
					if (best >= 0 && best != i) {
						*chosen = best;
						dim_log(DIM_LOG_INFO, "auto: device %d (%s), the fastest in "
							"cldim bench records", best, list[best].name);
						return DIM_OK;
					}
					/* `cldim train` says so in its header line */
					if (order[o] != DIM_DEV_GPU)
						dim_log(DIM_LOG_DEBUG,
							"no GPU found; using %s device %d: %s "
							"(training will be slower than on a GPU)",
							dim_device_type_name(list[i].type), i,
							list[i].name);
					return DIM_OK;
				}
		return dim_fail(err, DIM_ERR_NO_DEVICE, "no OpenCL device available");
	}

	unsigned want_type = 0;
	if (!strcasecmp_ascii(sel, "cpu"))
		want_type = DIM_DEV_CPU;
	else if (!strcasecmp_ascii(sel, "gpu"))
		want_type = DIM_DEV_GPU;
	else if (!strcasecmp_ascii(sel, "accelerator") || !strcasecmp_ascii(sel, "accel"))
		want_type = DIM_DEV_ACCEL;
	if (want_type) {
		for (int i = 0; i < count; i++)
			if (list[i].type & want_type) {
				*chosen = i;
				return DIM_OK;
			}
		return dim_fail(err, DIM_ERR_NO_DEVICE,
				"device selector %s: no %s device; available devices:%s", sel, sel, avail);
	}

	int idx;
	if (parse_uint(sel, &idx)) {
		if (idx < count) {
			*chosen = idx;
			return DIM_OK;
		}
		return dim_fail(err, DIM_ERR_NO_DEVICE,
				"device selector %s: no device with index %d (there are %d):%s", sel, idx,
				count, avail);
	}
	const char *colon = strchr(sel, ':');
	if (colon) {
		char a[32];
		size_t la = (size_t)(colon - sel);
		int p, d;
		if (la < sizeof a) {
			memcpy(a, sel, la);
			a[la] = '\0';
			if (parse_uint(a, &p) && parse_uint(colon + 1, &d)) {
				for (int i = 0; i < count; i++)
					if (list[i].platform_index == p && list[i].device_index == d) {
						*chosen = i;
						return DIM_OK;
					}
				return dim_fail(err, DIM_ERR_NO_DEVICE,
						"device selector %s: no device %d on platform %d:%s", sel, d,
						p, avail);
			}
		}
	}

	/* A name selector matches the platform (its name, vendor or version:
	 * "intel" for Intel's runtime, "pocl") before the device (its name or
	 * vendor): with Intel's runtime and PoCL on one Intel CPU, both devices
	 * are called "...Intel(R) Xeon..." but only one platform is Intel's.
	 * Ambiguous only when several devices match at the first level that
	 * matches any. */
	int found = -1, nfound = 0;
	for (int level = 0; level < 2 && !nfound; level++)
		for (int i = 0; i < count; i++) {
			const dim_device_info *d = &list[i];
			int hit = level == 0 ? ci_contains(d->platform_name, sel) ||
						       ci_contains(d->platform_vendor, sel) ||
						       ci_contains(d->platform_version, sel)
					     : ci_contains(d->name, sel) || ci_contains(d->vendor, sel);
			if (hit) {
				if (found < 0)
					found = i;
				nfound++;
			}
		}
	if (nfound == 1) {
		*chosen = found;
		return DIM_OK;
	}
	if (nfound > 1)
		return dim_fail(err, DIM_ERR_AMBIGUOUS,
				"device selector %s matches %d devices; pick one by index or P:D:%s", sel,
				nfound, avail);
	return dim_fail(err, DIM_ERR_NO_DEVICE,
			"device selector %s matches no device (selectors: auto, cpu, gpu, accelerator, "
			"an index, P:D, or part of a platform, device or vendor name); available "
			"devices:%s",
			sel, avail);
}

dim_status dim_device_select(const char *selector, const dim_device_info *list, int count,
			     int *chosen, dim_error *err)
{
	return select_device(selector, list, count, NULL, chosen, err);
}

dim_status dim_device_select_opt(const dim_ctx_options *opt, const dim_device_info *list,
				 int count, int *chosen, dim_error *err)
{
	const char *dir = opt->no_device_records || !opt->cache_dir[0] ? NULL : opt->cache_dir;
	return select_device(opt->device, list, count, dir, chosen, err);
}

static double gib(uint64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

void dim_devices_print(FILE *f, const dim_device_info *list, int count)
{
	for (int i = 0; i < count; i++) {
		const dim_device_info *d = &list[i];
		fprintf(f, "[%d] %d:%d  %s  (%s)\n", i, d->platform_index, d->device_index, d->name,
			dim_device_type_name(d->type));
		fprintf(f, "    platform      %s / %s\n", d->platform_name, d->platform_version);
		fprintf(f, "    vendor        %s\n", d->vendor);
		fprintf(f, "    version       %s; %s; driver %s\n", d->version, d->c_version,
			d->driver);
		fprintf(f, "    compute       %u units @ %u MHz, max work-group %zu\n",
			d->compute_units, d->clock_mhz, d->max_wg);
		fprintf(f, "    memory        global %.2f GiB, local %.0f KiB, max alloc %.2f GiB\n",
			gib(d->global_mem), (double)d->local_mem / 1024.0, gib(d->max_alloc));
		fprintf(f, "    features      fp16 %s, fp64 %s, sub-groups %s, fp32 fma %s\n",
			d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->subgroups ? "yes" : "no",
			d->fma ? "yes" : "no");
	}
}
