/* cldim devices [--json]: list every OpenCL platform and device. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_devices(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"device", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, c;
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
		st = dim_device_select(select, list, n, &chosen, &err);
		if (st) {
			free(list);
			return cli_fail("devices", st, dim_error_text(&err));
		}
		if (json)
			dim_devices_print_json(stdout, list + chosen, 1);
		else
			dim_devices_print(stdout, list + chosen, 1);
	} else if (json)
		dim_devices_print_json(stdout, list, n);
	else {
		dim_devices_print(stdout, list, n);
		int chosen = 0;
		dim_error_clear(&err);
		int lvl = dim_log_level();
		dim_log_set_level(DIM_LOG_ERROR);
		if (dim_device_select(NULL, list, n, &chosen, &err) == DIM_OK)
			printf("\ndefault device (--device auto%s): [%d] %s\n",
			       getenv("CLDIM_DEVICE") ? ", from CLDIM_DEVICE" : "", chosen,
			       list[chosen].name);
		else
			printf("\ndefault device: none (%s)\n", dim_error_text(&err));
		dim_log_set_level(lvl);
	}
	free(list);
	return 0;
}
