/* Host staging buffers for asynchronous copies, and the wait hook.
 *
 * A staging buffer is host memory the device copies from and to without the
 * host waiting: a CL_MEM_ALLOC_HOST_PTR buffer mapped once (page-locked where
 * the driver supports it, so a GPU copies it by DMA), or plain malloc'd memory
 * when the driver refuses that. Copies are enqueued on the context's in-order
 * queue; each staging buffer keeps the event of its last copy, and since the
 * queue runs in order, waiting for that one is waiting for all of them. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct dim_staging {
	dim_ctx *ctx;
	cl_mem mem;      /* NULL: plain host memory */
	void *host;      /* mapped pointer or malloc'd */
	size_t bytes;
	cl_event last;   /* the last copy enqueued from or into it; NULL: none pending */
};

static dim_status staging_map(dim_ctx *ctx, dim_staging *s)
{
	cl_int rc;
	s->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, s->bytes,
				NULL, &rc);
	if (rc != CL_SUCCESS) {
		s->mem = NULL;
		return DIM_ERR_CL;
	}
	s->host = clEnqueueMapBuffer(ctx->queue, s->mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
				     s->bytes, 0, NULL, NULL, &rc);
	if (rc != CL_SUCCESS || !s->host) {
		clReleaseMemObject(s->mem);
		s->mem = NULL;
		s->host = NULL;
		return DIM_ERR_CL;
	}
	return DIM_OK;
}

dim_status dim_staging_create(dim_ctx *ctx, size_t bytes, unsigned flags, dim_staging **out)
{
	*out = NULL;
	if (bytes == 0)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "staging buffer of 0 bytes");
	if (flags & ~(unsigned)DIM_STAGING_PLAIN)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "staging buffer: unknown flags 0x%x", flags);
	dim_staging *s = calloc(1, sizeof *s);
	if (!s)
		return dim_fail(&ctx->err, DIM_ERR_NOMEM, "out of host memory");
	s->ctx = ctx;
	s->bytes = bytes;
	if ((flags & DIM_STAGING_PLAIN) || staging_map(ctx, s)) {
		s->host = malloc(bytes);
		if (!s->host) {
			free(s);
			return dim_fail(&ctx->err, DIM_ERR_NOMEM, "staging buffer of %.1f MiB: out of "
					"host memory", (double)bytes / 1048576.0);
		}
		if (!(flags & DIM_STAGING_PLAIN))
			dim_log(DIM_LOG_DEBUG, "staging buffer of %zu bytes: the driver gives no "
				"mapped host buffer, plain memory used", bytes);
	}
	*out = s;
	return DIM_OK;
}

void dim_staging_destroy(dim_staging *s)
{
	if (!s)
		return;
	if (s->last) {
		/* A copy may still use the memory: wait for it. After a
		 * device-memory failure the context does not wait for its queue
		 * (see dim_ctx_mem_failed), so a copy still pending then keeps its
		 * memory: it is left allocated (one staging buffer, once). */
		cl_int run = CL_COMPLETE;
		if (s->ctx->mem_failed &&
		    clGetEventInfo(s->last, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof run, &run,
				   NULL) != CL_SUCCESS)
			run = CL_QUEUED;
		if (run > CL_COMPLETE) {
			dim_log(DIM_LOG_DEBUG, "staging buffer of %zu bytes left allocated: a copy is "
				"still queued after a device-memory failure", s->bytes);
			clReleaseEvent(s->last);
			free(s);
			return;
		}
		clWaitForEvents(1, &s->last);
		clReleaseEvent(s->last);
	}
	if (s->mem) {
		if (!clEnqueueUnmapMemObject(s->ctx->queue, s->mem, s->host, 0, NULL, NULL) &&
		    !s->ctx->mem_failed)
			clFinish(s->ctx->queue);
		clReleaseMemObject(s->mem);
	} else {
		free(s->host);
	}
	free(s);
}

void *dim_staging_ptr(dim_staging *s) { return s->host; }
size_t dim_staging_bytes(const dim_staging *s) { return s->bytes; }
bool dim_staging_pinned(const dim_staging *s) { return s->mem != NULL; }

static dim_status staging_check(dim_staging *s, size_t soff, dim_buf b, size_t off, size_t bytes,
				const char *what)
{
	dim_ctx *ctx = s->ctx;
	if (soff > s->bytes || bytes > s->bytes - soff)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "%s: %zu bytes at offset %zu outside a "
				"%zu-byte staging buffer", what, bytes, soff, s->bytes);
	if (!b.mem || off > b.bytes || bytes > b.bytes - off)
		return dim_fail(&ctx->err, DIM_ERR_ARG, "%s: %zu bytes at offset %zu outside a "
				"%zu-byte buffer view%s", what, bytes, off, b.bytes,
				b.mem ? "" : " (invalid view)");
	return DIM_OK;
}

static dim_status staging_copy(dim_staging *s, size_t soff, dim_buf b, size_t off, size_t bytes,
			       bool to_device)
{
	dim_ctx *ctx = s->ctx;
	const char *what = to_device ? "dim_staging_write" : "dim_staging_read";
	dim_status st = staging_check(s, soff, b, off, bytes, what);
	if (st || !bytes)
		return st;
	cl_event ev = NULL;
	char *h = (char *)s->host + soff;
	cl_int rc = to_device ? clEnqueueWriteBuffer(ctx->queue, b.mem, CL_FALSE, b.off + off,
						     bytes, h, 0, NULL, &ev)
			      : clEnqueueReadBuffer(ctx->queue, b.mem, CL_FALSE, b.off + off, bytes,
						    h, 0, NULL, &ev);
	if (rc != CL_SUCCESS)
		return dim_cl_fail(ctx, rc, to_device ? "clEnqueueWriteBuffer (staging)"
						      : "clEnqueueReadBuffer (staging)");
	if (s->last)
		clReleaseEvent(s->last);
	s->last = ev;
	return DIM_OK;
}

dim_status dim_staging_write(dim_staging *s, size_t soff, dim_buf dst, size_t off, size_t bytes)
{
	return staging_copy(s, soff, dst, off, bytes, true);
}

dim_status dim_staging_read(dim_staging *s, size_t soff, dim_buf src, size_t off, size_t bytes)
{
	return staging_copy(s, soff, src, off, bytes, false);
}

dim_status dim_staging_flush(dim_staging *s)
{
	cl_int rc = clFlush(s->ctx->queue);
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(s->ctx, rc, "clFlush");
}

dim_status dim_staging_wait(dim_staging *s)
{
	if (!s->last)
		return DIM_OK;
	cl_int rc = clWaitForEvents(1, &s->last);
	cl_int run = CL_COMPLETE;
	if (rc == CL_SUCCESS)
		rc = clGetEventInfo(s->last, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof run, &run,
				    NULL);
	clReleaseEvent(s->last);
	s->last = NULL;
	if (rc == CL_SUCCESS && run < 0)
		rc = run; /* the copy itself failed */
	return rc == CL_SUCCESS ? DIM_OK : dim_cl_fail(s->ctx, rc, "waiting for a staging copy");
}

bool dim_staging_busy(const dim_staging *s) { return s->last != NULL; }

/* ---------------------------------------------------------------- wait hook */

void dim_ctx_set_wait_hook(dim_ctx *ctx, dim_wait_hook fn, void *user)
{
	ctx->wait_hook = fn;
	ctx->wait_hook_user = user;
}

void dim_ctx_before_wait(dim_ctx *ctx)
{
	dim_wait_hook fn = ctx->wait_hook;
	if (!fn)
		return;
	/* one shot, cleared first: the hook may itself wait */
	ctx->wait_hook = NULL;
	clFlush(ctx->queue); /* the device works on what is queued meanwhile */
	fn(ctx->wait_hook_user);
}
