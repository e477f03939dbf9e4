/* Device buffers, bump arenas and tensors. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Bytes held by dim_buf_create buffers of this process, for the
 * CLDIM_DEVICE_MEM_LIMIT_MIB cap (a test knob: a device-memory failure at a
 * small scale, without exhausting a real device). */
static size_t live_bytes, peak_bytes;

static void peak_update(size_t live)
{
	size_t p = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
	while (live > p &&
	       !__atomic_compare_exchange_n(&peak_bytes, &p, live, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

void dim_device_mem_stats(size_t *live, size_t *peak)
{
	if (live)
		*live = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
	if (peak)
		*peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
}

void dim_device_mem_peak_reset(void)
{
	__atomic_store_n(&peak_bytes, __atomic_load_n(&live_bytes, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
}

/* The first failed allocation marks the context: see dim_ctx_mem_failed. */
static dim_status mem_fail(dim_ctx *ctx, dim_status st)
{
	if (st == DIM_ERR_DEVICE_MEM)
		ctx->mem_failed = true;
	return st;
}

dim_status dim_buf_create(dim_ctx *ctx, size_t bytes, dim_buf *out)
{
	cl_int rc;
	memset(out, 0, sizeof *out);
	if (bytes == 0)
		bytes = 4;
	if (ctx->dev.max_alloc && bytes > ctx->dev.max_alloc)
		return mem_fail(ctx, dim_fail(&ctx->err, DIM_ERR_DEVICE_MEM,
				"buffer of %.1f MiB exceeds the largest allocation %s allows "
				"(%.1f MiB); try a smaller batch",
				(double)bytes / 1048576.0, ctx->dev.name,
				(double)ctx->dev.max_alloc / 1048576.0));
	size_t live = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
	if (ctx->mem_limit && (bytes > ctx->mem_limit || live > ctx->mem_limit - bytes))
		return mem_fail(ctx, dim_fail(&ctx->err, DIM_ERR_DEVICE_MEM,
				"buffer of %.1f MiB does not fit: %.1f MiB of the %.1f MiB that "
				"CLDIM_DEVICE_MEM_LIMIT_MIB allows are in use",
				(double)bytes / 1048576.0, (double)live / 1048576.0,
				(double)ctx->mem_limit / 1048576.0));
	out->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
	if (rc != CL_SUCCESS)
		return mem_fail(ctx, dim_cl_fail(ctx, rc, "clCreateBuffer"));
	peak_update(__atomic_add_fetch(&live_bytes, bytes, __ATOMIC_RELAXED));
	out->off = 0;
	out->bytes = bytes;
	return DIM_OK;
}

void dim_buf_release(dim_buf *b)
{
	if (b && b->mem) {
		size_t bytes = 0;
		if (clGetMemObjectInfo(b->mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) == CL_SUCCESS)
			__atomic_sub_fetch(&live_bytes, bytes, __ATOMIC_RELAXED);
		clReleaseMemObject(b->mem);
		b->mem = NULL;
	}
}

static bool view_fits(dim_buf b, size_t off, size_t bytes)
{
	return b.mem && off <= b.bytes && bytes <= b.bytes - off;
}

dim_buf dim_buf_view(dim_buf b, size_t off, size_t bytes)
{
	if (!view_fits(b, off, bytes)) {
		/* An invalid view: no memory but a size, which dim_launch, the
		 * copies and dim_gemm reject with DIM_ERR_ARG. */
		dim_buf bad = {NULL, off, bytes ? bytes : 1};
		return bad;
	}
	dim_buf v = {b.mem, b.off + off, bytes};
	return v;
}

dim_status dim_buf_sub(dim_ctx *ctx, dim_buf b, size_t off, size_t bytes, dim_buf *out)
{
	if (!view_fits(b, off, bytes)) {
		*out = dim_buf_view(b, off, bytes);
		return dim_fail(&ctx->err, DIM_ERR_ARG, "%zu bytes at offset %zu are outside a "
				"%zu-byte buffer view%s", bytes, off, b.bytes,
				b.mem ? "" : " (itself invalid)");
	}
	*out = dim_buf_view(b, off, bytes);
	return DIM_OK;
}

static dim_status check_range(dim_ctx *ctx, dim_buf b, size_t off, size_t bytes, const char *what)
{
	if (!b.mem || off + bytes > b.bytes || off + bytes < off)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "%s: %zu bytes at offset %zu outside a "
				"%zu-byte buffer view", what, bytes, off, b.bytes);
	return DIM_OK;
}

dim_status dim_write(dim_ctx *ctx, dim_buf dst, size_t off, const void *src, size_t bytes)
{
	if (check_range(ctx, dst, off, bytes, "dim_write"))
		return DIM_ERR_ARG;
	if (!bytes)
		return DIM_OK;
	cl_int rc = clEnqueueWriteBuffer(ctx->queue, dst.mem, CL_TRUE, dst.off + off, bytes, src,
					 0, NULL, NULL);
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(ctx, rc, "clEnqueueWriteBuffer");
}

dim_status dim_write_async(dim_ctx *ctx, dim_buf dst, size_t off, const void *src, size_t bytes)
{
	if (check_range(ctx, dst, off, bytes, "dim_write_async"))
		return DIM_ERR_ARG;
	if (!bytes)
		return DIM_OK;
	cl_int rc = clEnqueueWriteBuffer(ctx->queue, dst.mem, CL_FALSE, dst.off + off, bytes, src,
					 0, NULL, NULL);
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(ctx, rc, "clEnqueueWriteBuffer");
}

dim_status dim_read(dim_ctx *ctx, dim_buf src, size_t off, void *dst, size_t bytes)
{
	if (check_range(ctx, src, off, bytes, "dim_read"))
		return DIM_ERR_ARG;
	if (!bytes)
		return DIM_OK;
	cl_int rc = clEnqueueReadBuffer(ctx->queue, src.mem, CL_TRUE, src.off + off, bytes, dst, 0,
					NULL, NULL);
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(ctx, rc, "clEnqueueReadBuffer");
}

dim_status dim_copy(dim_ctx *ctx, dim_buf dst, dim_buf src, size_t bytes)
{
	if (check_range(ctx, dst, 0, bytes, "dim_copy dst") ||
	    check_range(ctx, src, 0, bytes, "dim_copy src"))
		return DIM_ERR_ARG;
	if (!bytes)
		return DIM_OK;
	cl_int rc = clEnqueueCopyBuffer(ctx->queue, src.mem, dst.mem, src.off, dst.off, bytes, 0,
					NULL, NULL);
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(ctx, rc, "clEnqueueCopyBuffer");
}

dim_status dim_fill_f32(dim_ctx *ctx, dim_buf dst, float value)
{
	if (!dst.bytes)
		return DIM_OK;
	if (!dst.mem)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "dim_fill_f32: null buffer of %zu bytes (an "
				"out-of-range dim_buf_view?)", dst.bytes);
	if ((dst.off | dst.bytes) & 3)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "dim_fill_f32: view not float-aligned");
	cl_int rc = clEnqueueFillBuffer(ctx->queue, dst.mem, &value, sizeof value, dst.off,
					dst.bytes, 0, NULL, NULL);
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(ctx, rc, "clEnqueueFillBuffer");
}

dim_status dim_ctx_scratch(dim_ctx *ctx, size_t bytes, dim_buf *out)
{
	if (bytes > ctx->scratch.bytes) {
		dim_buf_release(&ctx->scratch);
		dim_status st = dim_buf_create(ctx, bytes + bytes / 4, &ctx->scratch);
		if (st)
			return dim_fail_prefix(&ctx->err, "op scratch: ");
	}
	*out = dim_buf_view(ctx->scratch, 0, bytes);
	return DIM_OK;
}

/* ---------------------------------------------------------------- arenas */

struct dim_arena {
	dim_ctx *ctx;
	char name[32];
	size_t chunk_bytes; /* default size of a new chunk */
	size_t align;
	dim_buf *chunks;
	unsigned nchunks;
	size_t cur;         /* chunk being filled */
	size_t used;        /* bytes used in chunk `cur` */
	size_t live, peak;  /* bytes handed out since the last full reset */
};

dim_status dim_arena_create(dim_ctx *ctx, const char *name, size_t chunk_bytes, dim_arena **out)
{
	dim_arena *a = calloc(1, sizeof *a);
	if (!a)
		return dim_fail(&ctx->err, DIM_ERR_NOMEM, "out of host memory");
	a->ctx = ctx;
	snprintf(a->name, sizeof a->name, "%s", name ? name : "arena");
	a->chunk_bytes = chunk_bytes ? chunk_bytes : ((size_t)64 << 20);
	if (ctx->arena_chunk_max && a->chunk_bytes > ctx->arena_chunk_max)
		a->chunk_bytes = ctx->arena_chunk_max; /* CLDIM_ARENA_CHUNK */
	if (ctx->dev.max_alloc && a->chunk_bytes > ctx->dev.max_alloc)
		a->chunk_bytes = (size_t)ctx->dev.max_alloc;
	a->align = ctx->dev.mem_align_bytes ? ctx->dev.mem_align_bytes : 128;
	*out = a;
	return DIM_OK;
}

void dim_arena_destroy(dim_arena *a)
{
	if (!a)
		return;
	for (unsigned i = 0; i < a->nchunks; i++)
		dim_buf_release(&a->chunks[i]);
	free(a->chunks);
	free(a);
}

dim_status dim_arena_alloc(dim_arena *a, size_t bytes, dim_buf *out)
{
	size_t need = (bytes + a->align - 1) / a->align * a->align;
	if (need == 0)
		need = a->align;
	for (;;) {
		if (a->cur < a->nchunks) {
			dim_buf *c = &a->chunks[a->cur];
			if (a->used + need <= c->bytes) {
				*out = dim_buf_view(*c, a->used, bytes);
				a->used += need;
				a->live += need;
				if (a->live > a->peak)
					a->peak = a->live;
				return DIM_OK;
			}
			/* Does not fit in this chunk: move on to the next one. A
			 * later chunk that is too small is skipped the same way. */
			if (a->cur + 1 < a->nchunks || a->used > 0) {
				a->cur++;
				a->used = 0;
				continue;
			}
		}
		/* New chunk at the end, big enough for this request. */
		size_t sz = need > a->chunk_bytes ? need : a->chunk_bytes;
		dim_buf *grown = realloc(a->chunks, (a->nchunks + 1) * sizeof *grown);
		if (!grown)
			return dim_fail(&a->ctx->err, DIM_ERR_NOMEM, "out of host memory");
		a->chunks = grown;
		dim_status st = dim_buf_create(a->ctx, sz, &a->chunks[a->nchunks]);
		if (st)
			return dim_fail_prefix(&a->ctx->err, "arena '%s' (%.1f MiB held): ", a->name,
					       (double)dim_arena_capacity(a) / 1048576.0);
		a->cur = a->nchunks;
		a->used = 0;
		a->nchunks++;
		dim_log(DIM_LOG_DEBUG, "arena %s: chunk %u of %.1f MiB", a->name, a->nchunks,
			(double)sz / 1048576.0);
	}
}

dim_arena_mark dim_arena_get_mark(const dim_arena *a)
{
	dim_arena_mark m = {a->cur, a->used};
	return m;
}

void dim_arena_reset(dim_arena *a, dim_arena_mark m)
{
	/* live bytes: approximate by recomputing from the mark */
	size_t live = 0;
	for (size_t i = 0; i < m.chunk && i < a->nchunks; i++)
		live += a->chunks[i].bytes;
	live += m.used;
	a->cur = m.chunk;
	a->used = m.used;
	a->live = live < a->live ? live : a->live;
}

size_t dim_arena_capacity(const dim_arena *a)
{
	size_t total = 0;
	for (unsigned i = 0; i < a->nchunks; i++)
		total += a->chunks[i].bytes;
	return total;
}

size_t dim_arena_peak(const dim_arena *a) { return a->peak; }
unsigned dim_arena_chunks(const dim_arena *a) { return a->nchunks; }

/* ---------------------------------------------------------------- tensors */

size_t dim_shape_numel(int ndim, const int *shape)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	return n;
}

size_t dim_tensor_numel(const dim_tensor *t) { return dim_shape_numel(t->ndim, t->shape); }

void dim_tensor_set_shape(dim_tensor *t, int ndim, const int *shape)
{
	assert(ndim >= 0 && ndim <= DIM_MAX_DIMS);
	t->ndim = ndim;
	for (int i = 0; i < DIM_MAX_DIMS; i++)
		t->shape[i] = i < ndim ? shape[i] : 1;
}

dim_status dim_tensor_alloc(dim_arena *a, int ndim, const int *shape, dim_tensor *out)
{
	memset(out, 0, sizeof *out);
	if (ndim < 0 || ndim > DIM_MAX_DIMS)
		return dim_fail(&a->ctx->err, DIM_ERR_ARG, "tensor with %d dims", ndim);
	for (int i = 0; i < ndim; i++)
		if (shape[i] <= 0)
			return dim_fail(&a->ctx->err, DIM_ERR_ARG, "tensor dim %d is %d", i,
					shape[i]);
	dim_tensor_set_shape(out, ndim, shape);
	return dim_arena_alloc(a, dim_tensor_numel(out) * sizeof(float), &out->buf);
}

dim_status dim_tensor_write(dim_ctx *ctx, const dim_tensor *t, const float *src)
{
	return dim_write(ctx, t->buf, 0, src, dim_tensor_numel(t) * sizeof(float));
}

dim_status dim_tensor_read(dim_ctx *ctx, const dim_tensor *t, float *dst)
{
	return dim_read(ctx, t->buf, 0, dst, dim_tensor_numel(t) * sizeof(float));
}

const char *dim_shape_str(int ndim, const int *shape, char *buf, size_t n)
{
	size_t used = 0;
	if (!n)
		return buf;
	buf[0] = '\0';
	used += (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < ndim && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, i ? ", %d" : "%d", shape[i]);
	if (used < n)
		snprintf(buf + used, n - used, "]");
	return buf;
}
