/* A test-only program with deliberately broken kernels, to show that the
 * Oclgrind stage (tests/oclgrind/run.sh) fails on what it is meant to catch.
 *
 *   bad_kernel oob     every work-item writes one float past its own, so the
 *                      last one writes past the end of the buffer
 *   bad_kernel race    every work-item writes its own id to x[0]
 *   bad_kernel clean   the same launch, in bounds and race-free (control)
 *
 * The kernels are built here from source through the context's cl_context,
 * not from cl/ (they must never ship in the library). Exit code 0 when the
 * OpenCL calls succeeded: on a real device the broken forms may "work", which
 * is exactly why the stage reads Oclgrind's diagnostics, not the exit code. */
#include <stdio.h>
#include <string.h>

#include "cldim/runtime.h"
#include "testutil.h"

static const char src[] =
	"__kernel void oob(__global float *x) {\n"
	"	const int i = (int)get_global_id(0);\n"
	"	x[i + 1] = (float)i;\n"
	"}\n"
	"__kernel void race(__global float *x) {\n"
	"	x[0] = (float)get_global_id(0);\n"
	"}\n"
	"__kernel void clean(__global float *x) {\n"
	"	const int i = (int)get_global_id(0);\n"
	"	x[i] = (float)i;\n"
	"}\n";

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "oob") && strcmp(mode, "race") && strcmp(mode, "clean")) {
		fprintf(stderr, "usage: bad_kernel oob|race|clean\n");
		return 2;
	}
	dim_ctx *ctx = t_ctx();
	cl_context cc = dim_ctx_cl_context(ctx);
	cl_device_id dev = dim_ctx_device(ctx)->device;
	const char *text = src;
	size_t len = sizeof src - 1;
	cl_int rc;
	cl_program prog = clCreateProgramWithSource(cc, 1, &text, &len, &rc);
	CHECK(rc == CL_SUCCESS);
	rc = clBuildProgram(prog, 1, &dev, "", NULL, NULL);
	CHECK(rc == CL_SUCCESS);
	cl_kernel k = clCreateKernel(prog, mode, &rc);
	CHECK(rc == CL_SUCCESS);
	const size_t n = 64, local = 16;
	cl_mem buf = clCreateBuffer(cc, CL_MEM_READ_WRITE, n * sizeof(float), NULL, &rc);
	CHECK(rc == CL_SUCCESS);
	CHECK(clSetKernelArg(k, 0, sizeof buf, &buf) == CL_SUCCESS);
	CHECK(clEnqueueNDRangeKernel(dim_ctx_queue(ctx), k, 1, NULL, &n, &local, 0, NULL, NULL) ==
	      CL_SUCCESS);
	CHECK(clFinish(dim_ctx_queue(ctx)) == CL_SUCCESS);
	clReleaseMemObject(buf);
	clReleaseKernel(k);
	clReleaseProgram(prog);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
