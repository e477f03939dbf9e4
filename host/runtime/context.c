/* Context: one cl_context and one in-order queue on the selected device. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/tuning.h"
#include "internal.h"

const char *dim_cl_error_name(cl_int code)
{
	switch (code) {
#define E(x) case x: return #x
	E(CL_SUCCESS); E(CL_DEVICE_NOT_FOUND); E(CL_DEVICE_NOT_AVAILABLE);
	E(CL_COMPILER_NOT_AVAILABLE); E(CL_MEM_OBJECT_ALLOCATION_FAILURE);
	E(CL_OUT_OF_RESOURCES); E(CL_OUT_OF_HOST_MEMORY); E(CL_PROFILING_INFO_NOT_AVAILABLE);
	E(CL_MEM_COPY_OVERLAP); E(CL_IMAGE_FORMAT_MISMATCH); E(CL_IMAGE_FORMAT_NOT_SUPPORTED);
	E(CL_BUILD_PROGRAM_FAILURE); E(CL_MAP_FAILURE); E(CL_MISALIGNED_SUB_BUFFER_OFFSET);
	E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST); E(CL_COMPILE_PROGRAM_FAILURE);
	E(CL_LINKER_NOT_AVAILABLE); E(CL_LINK_PROGRAM_FAILURE); E(CL_DEVICE_PARTITION_FAILED);
	E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE); E(CL_INVALID_VALUE); E(CL_INVALID_DEVICE_TYPE);
	E(CL_INVALID_PLATFORM); E(CL_INVALID_DEVICE); E(CL_INVALID_CONTEXT);
	E(CL_INVALID_QUEUE_PROPERTIES); E(CL_INVALID_COMMAND_QUEUE); E(CL_INVALID_HOST_PTR);
	E(CL_INVALID_MEM_OBJECT); E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
	E(CL_INVALID_IMAGE_SIZE); E(CL_INVALID_SAMPLER); E(CL_INVALID_BINARY);
	E(CL_INVALID_BUILD_OPTIONS); E(CL_INVALID_PROGRAM); E(CL_INVALID_PROGRAM_EXECUTABLE);
	E(CL_INVALID_KERNEL_NAME); E(CL_INVALID_KERNEL_DEFINITION); E(CL_INVALID_KERNEL);
	E(CL_INVALID_ARG_INDEX); E(CL_INVALID_ARG_VALUE); E(CL_INVALID_ARG_SIZE);
	E(CL_INVALID_KERNEL_ARGS); E(CL_INVALID_WORK_DIMENSION); E(CL_INVALID_WORK_GROUP_SIZE);
	E(CL_INVALID_WORK_ITEM_SIZE); E(CL_INVALID_GLOBAL_OFFSET); E(CL_INVALID_EVENT_WAIT_LIST);
	E(CL_INVALID_EVENT); E(CL_INVALID_OPERATION); E(CL_INVALID_GL_OBJECT);
	E(CL_INVALID_BUFFER_SIZE); E(CL_INVALID_MIP_LEVEL); E(CL_INVALID_GLOBAL_WORK_SIZE);
	E(CL_INVALID_PROPERTY); E(CL_INVALID_IMAGE_DESCRIPTOR); E(CL_INVALID_COMPILER_OPTIONS);
	E(CL_INVALID_LINKER_OPTIONS); E(CL_INVALID_DEVICE_PARTITION_COUNT);
#undef E
	case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
	default: return "unknown OpenCL error";
	}
}

dim_status dim_cl_fail(dim_ctx *ctx, cl_int code, const char *what)
{
	dim_status s = (code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES ||
			code == CL_INVALID_BUFFER_SIZE)
			       ? DIM_ERR_DEVICE_MEM
			       : DIM_ERR_CL;
	return dim_fail(&ctx->err, s, "%s: %s (%d) on %s", what, dim_cl_error_name(code), code,
			ctx->dev.name);
}

dim_status dim_ctx_create(dim_ctx **out, const dim_ctx_options *opt, dim_error *err)
{
	dim_ctx_options defaults = {0};
	dim_device_info *list = NULL;
	int count = 0, chosen = 0;
	dim_status st;
	cl_int rc;

	*out = NULL;
	if (!opt)
		opt = &defaults;
	st = dim_devices_list(&list, &count, err);
	if (st)
		return st;
	st = dim_device_select_opt(opt, list, count, &chosen, err);
	if (st)
		goto out_free_list;
	size_t wg_cap = opt->max_wg, chunk_cap = opt->arena_chunk;
	if (wg_cap > 1u << 20 || (chunk_cap && (chunk_cap < 4096 || chunk_cap > (1ull << 40)))) {
		st = dim_fail(err, DIM_ERR_ARG,
			      "context options: max_wg %zu (CLDIM_MAX_WG) must be 1 to 1048576, "
			      "arena_chunk %zu (CLDIM_ARENA_CHUNK) 4096 to 2^40 bytes (0: no cap)",
			      wg_cap, chunk_cap);
		goto out_free_list;
	}
	if (opt->gemm < DIM_GEMM_AUTO || opt->gemm > DIM_GEMM_OWN ||
	    (opt->gemm_own_set && !dim_gemm_own_shape_ok(&opt->gemm_own))) {
		st = dim_fail(err, DIM_ERR_ARG, "context options: gemm %d (CLDIM_GEMM) or the own "
			      "GEMM's tile shape (CLDIM_GEMM_MR, ...) out of range", opt->gemm);
		goto out_free_list;
	}

	dim_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		st = dim_fail(err, DIM_ERR_NOMEM, "out of memory creating a context");
		goto out_free_list;
	}
	ctx->dev = list[chosen];
	if (wg_cap && (!ctx->dev.max_wg || ctx->dev.max_wg > wg_cap))
		ctx->dev.max_wg = wg_cap; /* dim_kernel_get caps each kernel by this */
	ctx->arena_chunk_max = chunk_cap;
	ctx->profile = opt->profile;
	ctx->profile_trace = opt->profile && opt->profile_trace;
	ctx->vec16 = opt->vec16 ? opt->vec16 > 0 : (ctx->dev.type & DIM_DEV_CPU) != 0;
	ctx->fma = ctx->dev.fma && !opt->no_fma;
	if (opt->mem_limit_mib && opt->mem_limit_mib <= (SIZE_MAX >> 20))
		ctx->mem_limit = opt->mem_limit_mib << 20;
	ctx->gemm_choice = opt->gemm;
	if (opt->gemm_own_set)
		ctx->gemm_own_default = opt->gemm_own;
	else
		dim_gemm_own_shape_default(&ctx->gemm_own_default);
	if (opt->kernels_dir)
		snprintf(ctx->kernels_dir, sizeof ctx->kernels_dir, "%s", opt->kernels_dir);
	cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
					 (cl_context_properties)ctx->dev.platform, 0};
	ctx->context = clCreateContext(props, 1, &ctx->dev.device, NULL, NULL, &rc);
	if (rc != CL_SUCCESS) {
		st = dim_fail(err, DIM_ERR_CL, "clCreateContext on %s: %s (%d)", ctx->dev.name,
			      dim_cl_error_name(rc), rc);
		goto out_free_ctx;
	}
	ctx->queue = clCreateCommandQueue(ctx->context, ctx->dev.device,
					  opt->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &rc);
	if (rc != CL_SUCCESS) {
		st = dim_fail(err, DIM_ERR_CL, "clCreateCommandQueue on %s: %s (%d)",
			      ctx->dev.name, dim_cl_error_name(rc), rc);
		goto out_release_context;
	}

	snprintf(ctx->store_dir, sizeof ctx->store_dir, "%s", opt->cache_dir);
	ctx->no_cache = opt->no_cache || !opt->cache_dir[0];
	if (!ctx->no_cache)
		snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", opt->cache_dir);
	dim_log(DIM_LOG_DEBUG, "device %d (%d:%d): %s, %s", chosen, ctx->dev.platform_index,
		ctx->dev.device_index, ctx->dev.name, ctx->dev.driver);
	/* this device's record in the store (store.c): GEMM backend, CLBlast tuning */
	dim_device_store_load(ctx->store_dir, &ctx->dev, &ctx->record);
	if (!opt->no_gemm_tuning)
		dim_gemm_tuning_apply(ctx, &ctx->record);
	free(list);
	*out = ctx;
	return DIM_OK;

out_release_context:
	clReleaseContext(ctx->context);
out_free_ctx:
	free(ctx);
out_free_list:
	free(list);
	return st;
}

void dim_ctx_destroy(dim_ctx *ctx)
{
	if (!ctx)
		return;
	if (!ctx->mem_failed) /* after one, the queued kernels are abandoned */
		clFinish(ctx->queue);
	dim_gemm_release(ctx);
	dim_buf_release(&ctx->scratch);
	dim_programs_release(ctx);
	clReleaseCommandQueue(ctx->queue);
	clReleaseContext(ctx->context);
	free(ctx);
}

dim_error *dim_ctx_error(dim_ctx *ctx) { return &ctx->err; }
const char *dim_ctx_errmsg(dim_ctx *ctx) { return dim_error_text(&ctx->err); }
const dim_device_info *dim_ctx_device(const dim_ctx *ctx) { return &ctx->dev; }

bool dim_ctx_vec16(const dim_ctx *ctx) { return ctx->vec16; }
bool dim_ctx_mem_failed(const dim_ctx *ctx) { return ctx->mem_failed; }

bool dim_ctx_use_fma(const dim_ctx *ctx) { return ctx->fma; }
cl_context dim_ctx_cl_context(dim_ctx *ctx) { return ctx->context; }
cl_command_queue dim_ctx_queue(dim_ctx *ctx) { return ctx->queue; }
dim_ctx_stats dim_ctx_get_stats(const dim_ctx *ctx) { return ctx->stats; }
const char *dim_ctx_cache_dir(const dim_ctx *ctx) { return ctx->no_cache ? "" : ctx->cache_dir; }
const char *dim_ctx_store_dir(const dim_ctx *ctx) { return ctx->store_dir; }

dim_status dim_finish(dim_ctx *ctx)
{
	dim_ctx_before_wait(ctx);
	cl_int rc = clFinish(ctx->queue);
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(ctx, rc, "clFinish");
}

static int prof_cmp(const void *a, const void *b)
{
	const struct dim_kernel *ka = *(struct dim_kernel *const *)a;
	const struct dim_kernel *kb = *(struct dim_kernel *const *)b;
	return (ka->prof_seconds < kb->prof_seconds) - (ka->prof_seconds > kb->prof_seconds);
}

void dim_ctx_profile_print(dim_ctx *ctx, FILE *f)
{
	int n = 0;
	for (int p = 0; p < ctx->nprograms; p++)
		n += ctx->programs[p]->nkernels;
	struct dim_kernel **all = calloc((size_t)n + 1, sizeof *all);
	if (!all)
		return;
	n = 0;
	for (int p = 0; p < ctx->nprograms; p++)
		for (int k = 0; k < ctx->programs[p]->nkernels; k++)
			all[n++] = ctx->programs[p]->kernels[k];
	qsort(all, (size_t)n, sizeof *all, prof_cmp);
	fprintf(f, "%-32s %10s %12s %10s\n", "kernel", "calls", "total ms", "us/call");
	for (int i = 0; i < n; i++)
		if (all[i]->prof_count)
			fprintf(f, "%-32s %10llu %12.3f %10.1f\n", all[i]->name, all[i]->prof_count,
				all[i]->prof_seconds * 1e3,
				all[i]->prof_seconds * 1e6 / (double)all[i]->prof_count);
	free(all);
}

void dim_ctx_profile_reset(dim_ctx *ctx)
{
	for (int p = 0; p < ctx->nprograms; p++)
		for (int k = 0; k < ctx->programs[p]->nkernels; k++) {
			ctx->programs[p]->kernels[k]->prof_seconds = 0;
			ctx->programs[p]->kernels[k]->prof_count = 0;
		}
}
