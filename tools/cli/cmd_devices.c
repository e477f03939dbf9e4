/* cldim devices [--json]: list every OpenCL platform and device. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cldim/io.h"
#include "cli.h"

/* The listing as a JSON array (io.h's writer), one object per device. */
static int print_json(const dim_device_info *list, int count)
{
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, stdout, 2);
	dim_json_begin_array(&j);
	for (int i = 0; i < count; i++) {
		const dim_device_info *d = &list[i];
		char id[32];
		snprintf(id, sizeof id, "%d:%d", d->platform_index, d->device_index);
		dim_json_begin_object(&j);
		dim_json_kv_int(&j, "index", d->index);
		dim_json_kv_string(&j, "id", id);
		dim_json_kv_string(&j, "name", d->name);
		dim_json_kv_string(&j, "vendor", d->vendor);
		dim_json_kv_string(&j, "platform", d->platform_name);
		dim_json_kv_string(&j, "platform_version", d->platform_version);
		dim_json_kv_string(&j, "type", dim_device_type_name(d->type));
		dim_json_kv_string(&j, "version", d->version);
		dim_json_kv_string(&j, "opencl_c_version", d->c_version);
		dim_json_kv_string(&j, "driver_version", d->driver);
		dim_json_kv_int(&j, "compute_units", d->compute_units);
		dim_json_kv_int(&j, "clock_mhz", d->clock_mhz);
		dim_json_kv_int(&j, "global_mem_bytes", (int64_t)d->global_mem);
		dim_json_kv_int(&j, "local_mem_bytes", (int64_t)d->local_mem);
		dim_json_kv_int(&j, "max_alloc_bytes", (int64_t)d->max_alloc);
		dim_json_kv_int(&j, "max_work_group", (int64_t)d->max_wg);
		dim_json_kv_bool(&j, "fp16", d->fp16);
		dim_json_kv_bool(&j, "fp64", d->fp64);
		dim_json_kv_bool(&j, "subgroups", d->subgroups);
		dim_json_kv_bool(&j, "fma", d->fma);
		dim_json_end_object(&j);
	}
	dim_json_end_array(&j);
	printf("\n");
	if (dim_json_finish(&err, &j, "stdout"))
		return cli_fail("devices", err.status, dim_error_text(&err));
	return 0;
}

int cmd_devices(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"device", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, c, rc = 0;
	const char *select = NULL;
	while ((c = getopt_long(argc, argv, "jd:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'd': select = optarg; break;
		case 'h':
			printf("usage: cldim devices [--json] [--device SEL]\n\n"
			       "Lists every OpenCL platform and device: index, platform:device, name,\n"
			       "vendor, type, versions, compute units, clock, memory, fp16/fp64 and\n"
			       "sub-group support. Select one for other commands with --device\n"
			       "(index, P:D, cpu|gpu|accelerator, part of a name, or auto) or CLDIM_DEVICE.\n"
			       "  --json        machine-readable list\n"
			       "  --device SEL  show only the device SEL selects (exit 4: no match,\n"
			       "                5: ambiguous, 3: no OpenCL platform)\n");
			return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cldim devices: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	dim_error err = {0};
	dim_device_info *list = NULL;
	int n = 0;
	dim_status st = dim_devices_list(&list, &n, &err);
	if (st)
		return cli_fail("devices", st, dim_error_text(&err));
	if (select) {
		int chosen = 0;
		dim_ctx_options opt = cli_opts;
		opt.device = select;
		st = dim_device_select_opt(&opt, list, n, &chosen, &err);
		if (st) {
			free(list);
			return cli_fail("devices", st, dim_error_text(&err));
		}
		if (json)
			rc = print_json(list + chosen, 1);
		else
			dim_devices_print(stdout, list + chosen, 1);
	} else if (json)
		rc = print_json(list, n);
	else {
		dim_devices_print(stdout, list, n);
		int chosen = 0;
		dim_error_clear(&err);
		int lvl = dim_log_level();
		dim_log_set_level(DIM_LOG_ERROR);
		if (dim_device_select_opt(&cli_opts, list, n, &chosen, &err) == DIM_OK)
			printf("\ndefault device (--device auto%s): [%d] %s\n",
			       cli_opts.device ? ", from CLDIM_DEVICE" : "", chosen,
			       list[chosen].name);
		else {
			char msg[DIM_ERROR_MAX + 256];
			cli_flag_text("devices", dim_error_text(&err), msg, sizeof msg);
			printf("\ndefault device: none (%s)\n", msg);
		}
		dim_log_set_level(lvl);
	}
	free(list);
	return rc;
}
