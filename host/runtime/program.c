/* Programs and kernels: built on first use, memoised per context, loaded from
 * or stored to the on-disk binary cache (cache.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cl_registry.h"
#include "internal.h"

/* Source text of program `name`: <kernels_dir>/<name>.cl when the options
 * set one (CLDIM_KERNELS_DIR, for development), else the copy embedded at build time. *owned is set when the
 * returned text must be freed. */
static const char *program_source(dim_ctx *ctx, const char *name, char **owned)
{
	*owned = NULL;
	const char *dir = ctx->kernels_dir;
	if (*dir) {
		char path[1200];
		snprintf(path, sizeof path, "%s/%s.cl", dir, name);
		FILE *f = fopen(path, "rb");
		if (f) {
			char *buf = NULL;
			size_t cap = 0, len = 0, r;
			do {
				if (len + 4096 + 1 > cap) {
					cap = (cap + 4096) * 2;
					char *g = realloc(buf, cap);
					if (!g) {
						free(buf);
						fclose(f);
						return NULL;
					}
					buf = g;
				}
				r = fread(buf + len, 1, cap - len - 1, f);
				len += r;
			} while (r > 0);
			fclose(f);
			buf[len] = '\0';
			*owned = buf;
			dim_log(DIM_LOG_DEBUG, "kernel source %s from %s", name, path);
			return buf;
		}
		dim_log(DIM_LOG_WARN, "CLDIM_KERNELS_DIR=%s has no %s.cl; using the embedded copy",
			dir, name);
	}
	for (const struct dim_cl_source *s = dim_cl_sources; s->name; s++)
		if (!strcmp(s->name, name))
			return s->text;
	(void)ctx;
	return NULL;
}

/* The full cache key: everything that can change the binary. */
static char *cache_key(dim_ctx *ctx, const char *name, const char *src, const char *opts)
{
	uint64_t h = dim_fnv1a(DIM_FNV_INIT, src, strlen(src));
	uint64_t h2 = dim_fnv1a(0x84222325cbf29ce4ull, src, strlen(src)) ^ (uint64_t)strlen(src);
	size_t n = 1024 + strlen(opts) + strlen(name);
	char *key = malloc(n);
	if (!key)
		return NULL;
	snprintf(key, n,
		 "cldim-kernel-cache v1\ncldim %s\nprogram %s\nsource %016llx%016llx\n"
		 "options %s\nplatform %s | %s\ndevice %s | %s | %s | %s\ndriver %s\n",
		 CLDIM_VERSION, name, (unsigned long long)h, (unsigned long long)h2, opts,
		 ctx->dev.platform_name, ctx->dev.platform_version, ctx->dev.name,
		 ctx->dev.vendor, ctx->dev.version, ctx->dev.c_version, ctx->dev.driver);
	return key;
}

static dim_status build_log_fail(dim_ctx *ctx, cl_program p, const char *name, const char *opts,
				 cl_int rc)
{
	size_t n = 0;
	clGetProgramBuildInfo(p, ctx->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
	char *log = malloc(n + 1);
	if (log) {
		log[0] = '\0';
		clGetProgramBuildInfo(p, ctx->dev.device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
		log[n] = '\0';
	}
	dim_fail(&ctx->err, DIM_ERR_BUILD, "building cl/%s.cl with \"%s\" on %s: %s (%d)\n%s",
		 name, opts, ctx->dev.name, dim_cl_error_name(rc), rc, log ? log : "");
	free(log);
	return DIM_ERR_BUILD;
}

static cl_program try_cached(dim_ctx *ctx, const char *key, const char *opts)
{
	size_t size = 0;
	int rejected = 0;
	unsigned char *bin = dim_cache_load(ctx->cache_dir, key, &size, &rejected);
	if (rejected)
		ctx->stats.cache_rejected++;
	if (!bin)
		return NULL;
	const unsigned char *bins[1] = {bin};
	cl_int bst = CL_SUCCESS, rc;
	cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device, &size, bins,
						 &bst, &rc);
	free(bin);
	if (rc != CL_SUCCESS || bst != CL_SUCCESS) {
		ctx->stats.cache_rejected++;
		return NULL;
	}
	if (clBuildProgram(p, 1, &ctx->dev.device, opts, NULL, NULL) != CL_SUCCESS) {
		clReleaseProgram(p);
		ctx->stats.cache_rejected++;
		return NULL;
	}
	return p;
}

static void store_binary(dim_ctx *ctx, cl_program p, const char *key)
{
	size_t size = 0;
	if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
	    !size)
		return;
	unsigned char *bin = malloc(size);
	if (!bin)
		return;
	unsigned char *bins[1] = {bin};
	if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
		dim_cache_store(ctx->cache_dir, key, bin, size);
	free(bin);
}

static dim_status build_program(dim_ctx *ctx, const char *name, const char *opts_in,
				cl_program *out)
{
	char *owned = NULL;
	const char *src = program_source(ctx, name, &owned);
	if (!src)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "no OpenCL program named '%s' (cl/%s.cl)",
				name, name);
	/* OpenCL C 1.2 everywhere (docs/design.md, "Portability and numerics"). */
	size_t on = strlen(opts_in) + 32;
	char *opts = malloc(on);
	char *key = NULL;
	dim_status st = DIM_OK;
	if (!opts) {
		st = dim_fail(&ctx->err, DIM_ERR_NOMEM, "out of host memory");
		goto out_free_src;
	}
	snprintf(opts, on, "-cl-std=CL1.2 %s", opts_in);

	double t0 = dim_now();
	if (!ctx->no_cache) {
		key = cache_key(ctx, name, src, opts);
		if (key && (*out = try_cached(ctx, key, opts))) {
			ctx->stats.programs_cached++;
			ctx->stats.build_seconds += dim_now() - t0;
			dim_log(DIM_LOG_DEBUG, "program %s [%s]: cache hit", name, opts_in);
			goto out_free_key;
		}
	}

	cl_int rc;
	size_t len = strlen(src);
	cl_program p = clCreateProgramWithSource(ctx->context, 1, &src, &len, &rc);
	if (rc != CL_SUCCESS) {
		st = dim_cl_fail(ctx, rc, "clCreateProgramWithSource");
		goto out_free_key;
	}
	rc = clBuildProgram(p, 1, &ctx->dev.device, opts, NULL, NULL);
	if (rc != CL_SUCCESS) {
		st = build_log_fail(ctx, p, name, opts, rc);
		clReleaseProgram(p);
		goto out_free_key;
	}
	ctx->stats.programs_built++;
	ctx->stats.build_seconds += dim_now() - t0;
	dim_log(DIM_LOG_DEBUG, "program %s [%s]: built from source in %.2f s", name, opts_in,
		dim_now() - t0);
	if (key)
		store_binary(ctx, p, key);
	*out = p;

out_free_key:
	free(key);
	free(opts);
out_free_src:
	free(owned);
	return st;
}

dim_status dim_program_get(dim_ctx *ctx, const char *name, const char *options,
			   struct dim_program **out)
{
	const char *opts = options ? options : "";
	size_t kn = strlen(name) + strlen(opts) + 2;
	char *key = malloc(kn);
	if (!key)
		return dim_fail(&ctx->err, DIM_ERR_NOMEM, "out of host memory");
	snprintf(key, kn, "%s\n%s", name, opts);
	for (int i = 0; i < ctx->nprograms; i++)
		if (!strcmp(ctx->programs[i]->key, key)) {
			free(key);
			*out = ctx->programs[i];
			return DIM_OK;
		}

	struct dim_program *prog = calloc(1, sizeof *prog);
	struct dim_program **grown = realloc(ctx->programs, (size_t)(ctx->nprograms + 1) *
								    sizeof *grown);
	if (!prog || !grown) {
		free(prog);
		free(key);
		return dim_fail(&ctx->err, DIM_ERR_NOMEM, "out of host memory");
	}
	ctx->programs = grown;
	dim_status st = build_program(ctx, name, opts, &prog->program);
	if (st) {
		free(prog);
		free(key);
		return st;
	}
	prog->key = key;
	ctx->programs[ctx->nprograms++] = prog;
	*out = prog;
	return DIM_OK;
}

void dim_programs_release(dim_ctx *ctx)
{
	for (int i = 0; i < ctx->nprograms; i++) {
		struct dim_program *p = ctx->programs[i];
		for (int k = 0; k < p->nkernels; k++) {
			clReleaseKernel(p->kernels[k]->kernel);
			free(p->kernels[k]);
		}
		free(p->kernels);
		clReleaseProgram(p->program);
		free(p->key);
		free(p);
	}
	free(ctx->programs);
	ctx->programs = NULL;
	ctx->nprograms = 0;
}

dim_status dim_kernel_get(dim_ctx *ctx, const char *program, const char *options,
			  const char *name, dim_kernel **out)
{
	struct dim_program *p;
	dim_status st = dim_program_get(ctx, program, options, &p);
	if (st)
		return st;
	for (int i = 0; i < p->nkernels; i++)
		if (!strcmp(p->kernels[i]->name, name)) {
			*out = p->kernels[i];
			return DIM_OK;
		}
	cl_int rc;
	cl_kernel k = clCreateKernel(p->program, name, &rc);
	if (rc != CL_SUCCESS)
		return dim_fail(&ctx->err, DIM_ERR_CL, "kernel %s in cl/%s.cl: %s (%d)", name,
				program, dim_cl_error_name(rc), rc);
	struct dim_kernel *dk = calloc(1, sizeof *dk);
	struct dim_kernel **grown = realloc(p->kernels, (size_t)(p->nkernels + 1) * sizeof *grown);
	if (!dk || !grown) {
		free(dk);
		clReleaseKernel(k);
		return dim_fail(&ctx->err, DIM_ERR_NOMEM, "out of host memory");
	}
	p->kernels = grown;
	dk->kernel = k;
	dk->program = p;
	snprintf(dk->name, sizeof dk->name, "%s", name);
	size_t wg = 0;
	if (clGetKernelWorkGroupInfo(k, ctx->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
				     NULL) != CL_SUCCESS || !wg)
		wg = ctx->dev.max_wg ? ctx->dev.max_wg : 64;
	if (ctx->dev.max_wg && wg > ctx->dev.max_wg)
		wg = ctx->dev.max_wg; /* CLDIM_MAX_WG (context.c) */
	dk->max_wg = wg;
	p->kernels[p->nkernels++] = dk;
	*out = dk;
	return DIM_OK;
}

size_t dim_kernel_max_wg(const dim_kernel *k) { return k->max_wg; }
const char *dim_kernel_name(const dim_kernel *k) { return k->name; }

/* Kernels take a buffer as two arguments, the cl_mem and an int offset in
 * floats. A view further than INT_MAX floats (8 GiB) into its cl_mem is
 * passed as a sub-buffer that starts at the device-aligned byte at or below
 * the view, with the small remainder as the offset; dim_launch releases the
 * sub-buffers once the kernel is enqueued (OpenCL keeps them alive until it
 * has run). ctx->karg_off_max lowers the limit for the tests. */
struct launch_subs {
	cl_mem mem[DIM_LAUNCH_MAX_SUBS];
	int n;
};

static size_t arg_off_max(const dim_ctx *ctx)
{
	return ctx->karg_off_max ? ctx->karg_off_max : (size_t)INT_MAX;
}

static dim_status sub_buffer(dim_ctx *ctx, dim_kernel *k, int i, cl_mem *mem, size_t *off,
			     struct launch_subs *subs)
{
	size_t align = ctx->dev.mem_align_bytes ? ctx->dev.mem_align_bytes : 128;
	size_t origin = *off / align * align, size = 0;
	cl_int rc = clGetMemObjectInfo(*mem, CL_MEM_SIZE, sizeof size, &size, NULL);
	if (rc != CL_SUCCESS)
		return dim_cl_fail(ctx, rc, "clGetMemObjectInfo(CL_MEM_SIZE)");
	if (origin >= size || (*off - origin) / 4 > arg_off_max(ctx))
		return dim_fail(&ctx->err, DIM_ERR_ARG, "%s arg %d: offset %zu outside its %zu-byte "
				"buffer", k->name, i, *off, size);
	if (subs->n == DIM_LAUNCH_MAX_SUBS)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "%s: more than %d buffer views past 8 GiB "
				"in one launch", k->name, DIM_LAUNCH_MAX_SUBS);
	cl_buffer_region r = {origin, size - origin};
	cl_mem sub = clCreateSubBuffer(*mem, 0, CL_BUFFER_CREATE_TYPE_REGION, &r, &rc);
	if (rc != CL_SUCCESS) {
		char what[128];
		snprintf(what, sizeof what, "clCreateSubBuffer(%s arg %d, origin %zu)", k->name, i,
			 origin);
		return dim_cl_fail(ctx, rc, what);
	}
	subs->mem[subs->n++] = sub;
	ctx->karg_subs++;
	*mem = sub;
	*off -= origin;
	return DIM_OK;
}

static void release_subs(struct launch_subs *subs)
{
	for (int i = 0; i < subs->n; i++)
		clReleaseMemObject(subs->mem[i]);
	subs->n = 0;
}

static dim_status set_args(dim_ctx *ctx, dim_kernel *k, int nargs, const dim_arg *args,
			   struct launch_subs *subs)
{
	cl_uint idx = 0;
	for (int i = 0; i < nargs; i++) {
		const dim_arg *a = &args[i];
		cl_int rc = CL_SUCCESS;
		switch (a->kind) {
		case DIM_ARG_BUF: {
			cl_mem mem = a->v.buf.mem;
			size_t off = a->v.buf.off;
			if (off & 3)
				return dim_fail(&ctx->err, DIM_ERR_ARG,
						"%s arg %d: buffer offset %zu is not float-aligned",
						k->name, i, off);
			if (!mem && a->v.buf.bytes)
				return dim_fail(&ctx->err, DIM_ERR_ARG,
						"%s arg %d: null buffer of %zu bytes (an out-of-range "
						"dim_buf_view?)", k->name, i, a->v.buf.bytes);
			if (mem && off / 4 > arg_off_max(ctx)) {
				dim_status st = sub_buffer(ctx, k, i, &mem, &off, subs);
				if (st)
					return st;
			}
			cl_int foff = (cl_int)(off / 4);
			rc = clSetKernelArg(k->kernel, idx++, sizeof(cl_mem), &mem);
			if (rc == CL_SUCCESS)
				rc = clSetKernelArg(k->kernel, idx++, sizeof foff, &foff);
			break;
		}
		case DIM_ARG_MEM:
			rc = clSetKernelArg(k->kernel, idx++, sizeof(cl_mem), &a->v.mem);
			break;
		case DIM_ARG_INT: {
			cl_int v = a->v.i;
			rc = clSetKernelArg(k->kernel, idx++, sizeof v, &v);
			break;
		}
		case DIM_ARG_UINT: {
			cl_uint v = a->v.u;
			rc = clSetKernelArg(k->kernel, idx++, sizeof v, &v);
			break;
		}
		case DIM_ARG_FLOAT: {
			cl_float v = a->v.f;
			rc = clSetKernelArg(k->kernel, idx++, sizeof v, &v);
			break;
		}
		case DIM_ARG_LOCAL:
			rc = clSetKernelArg(k->kernel, idx++, a->v.local_bytes, NULL);
			break;
		default:
			return dim_fail(&ctx->err, DIM_ERR_ARG, "%s: bad argument kind", k->name);
		}
		if (rc != CL_SUCCESS) {
			char what[128];
			snprintf(what, sizeof what, "clSetKernelArg(%s, arg %d)", k->name, i);
			return dim_cl_fail(ctx, rc, what);
		}
	}
	return DIM_OK;
}

size_t dim_local_pow2(size_t n, size_t cap)
{
	size_t l = 1;
	while (l * 2 <= cap && n % (l * 2) == 0)
		l *= 2;
	return l;
}

dim_status dim_launch(dim_ctx *ctx, dim_kernel *k, int work_dim, const size_t *global,
		      const size_t *local, int nargs, const dim_arg *args)
{
	size_t g[3] = {1, 1, 1};
	if (ctx->mem_failed) /* the error that set it is already in ctx->err */
		return DIM_ERR_DEVICE_MEM;
	struct launch_subs subs = {.n = 0};
	dim_status st = set_args(ctx, k, nargs, args, &subs);
	if (st) {
		release_subs(&subs);
		return st;
	}
	size_t group = 1;
	for (int d = 0; d < work_dim; d++) {
		g[d] = global[d];
		if (g[d] == 0) {
			release_subs(&subs);
			return DIM_OK; /* nothing to do */
		}
		if (local && local[d])
			g[d] = (g[d] + local[d] - 1) / local[d] * local[d];
		if (local)
			group *= local[d] ? local[d] : 1;
	}
	/* What a driver answers with CL_INVALID_WORK_GROUP_SIZE; checked here so
	 * that a CLDIM_MAX_WG cap below the device's limit is enforced too. */
	if (group > k->max_wg) {
		release_subs(&subs);
		return dim_fail(&ctx->err, DIM_ERR_ARG,
				"launching %s: work-group of %zu items exceeds the kernel's limit "
				"of %zu on %s", k->name, group, k->max_wg, ctx->dev.name);
	}
	cl_event ev = NULL;
	cl_int rc = clEnqueueNDRangeKernel(ctx->queue, k->kernel, (cl_uint)work_dim, NULL, g, local,
					   0, NULL, ctx->profile ? &ev : NULL);
	release_subs(&subs);
	if (rc != CL_SUCCESS) {
		char what[160];
		snprintf(what, sizeof what, "launching %s (global %zu x %zu)", k->name, g[0],
			 work_dim > 1 ? g[1] : 1);
		return dim_cl_fail(ctx, rc, what);
	}
	ctx->stats.launches++;
	if (ev) {
		cl_ulong t0 = 0, t1 = 0;
		clWaitForEvents(1, &ev);
		clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
		clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
		k->prof_seconds += (double)(t1 - t0) * 1e-9;
		dim_profile_charge(ctx, (double)(t1 - t0) * 1e-9);
		if (ctx->profile_trace)
			fprintf(stderr, "cldim: trace: %-24s %8zu x %-6zu %10.1f us\n", k->name, g[0],
				work_dim > 1 ? g[1] * (work_dim > 2 ? g[2] : 1) : (size_t)1,
				(double)(t1 - t0) * 1e-3);
		k->prof_count++;
		clReleaseEvent(ev);
	}
	return DIM_OK;
}

dim_status dim_launch_1d(dim_ctx *ctx, dim_kernel *k, size_t n, int nargs, const dim_arg *args)
{
	size_t local = k->max_wg < 256 ? k->max_wg : 256;
	if (ctx->dev.type & DIM_DEV_CPU)
		local = k->max_wg < 64 ? k->max_wg : 64;
	size_t global = n;
	return dim_launch(ctx, k, 1, &global, &local, nargs, args);
}
