/* Table of OpenCL sources embedded at build time (generated cl_registry.c). */
#ifndef CLDIM_CL_REGISTRY_H
#define CLDIM_CL_REGISTRY_H
#include <stddef.h>

struct dim_cl_source {
	const char *name;      /* file stem: "conv" for cl/conv.cl */
	const char *text;
	const size_t *len;
};
extern const struct dim_cl_source dim_cl_sources[];

#endif
