/* Copying a host batch into device buffers: the only part of host/data/
 * that touches OpenCL, through the runtime's dim_write_async. The copy is
 * enqueued on the context's in-order queue behind the previous step's
 * kernels, so the host is free to prepare the next batch meanwhile. */
#include "cldim/data.h"
#include "cldim/runtime.h"

dim_status dim_batch_upload(dim_ctx *ctx, const dim_batch *b, const dim_buf *x,
			    const dim_buf *labels, dim_error *err)
{
	size_t xb = (size_t)b->n * b->c * b->h * b->w * sizeof(float);
	size_t lb = (size_t)b->n * (size_t)b->label_bytes;
	dim_status st;
	if (x && x->bytes) {
		if (x->bytes < xb)
			return dim_fail(err, DIM_ERR_ARG,
					"upload: image buffer holds %zu bytes, batch needs %zu",
					x->bytes, xb);
		st = dim_write_async(ctx, *x, 0, b->x, xb);
		if (st)
			return dim_fail(err, st, "upload of batch %zu: %s", b->index,
					dim_ctx_errmsg(ctx));
	}
	if (labels && labels->bytes) {
		if (labels->bytes < lb)
			return dim_fail(err, DIM_ERR_ARG,
					"upload: label buffer holds %zu bytes, batch needs %zu",
					labels->bytes, lb);
		st = dim_write_async(ctx, *labels, 0, b->labels, lb);
		if (st)
			return dim_fail(err, st, "upload of batch %zu labels: %s", b->index,
					dim_ctx_errmsg(ctx));
	}
	return DIM_OK;
}
