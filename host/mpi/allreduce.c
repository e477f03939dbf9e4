/* Gradient averaging over ranks: host-staged, bucketed MPI_Allreduce.
 *
 * Layout (built on the first call for a model): the trainable gradients of
 * both parameter sets, in order, are cut into segments so that they pack
 * into buckets of bucket_bytes; a tensor larger than a bucket spans several.
 *
 *   bucket 0: [enc.c1.weight][enc.c1.bias][enc.c2.weight (first part)]
 *   bucket 1: [enc.c2.weight (rest)][...]                 ...
 *
 * Pipeline on the in-order queue, two pinned host buffers H0/H1:
 *
 *   read b0->H0 | read b1->H1 ; wait b0 ; allreduce H0 ; x1/K ; write H0->b0
 *               | read b2->H0 (queued after that write) ; wait b1 ; ...
 *
 * so the device->host copy of bucket k+1 overlaps the allreduce of bucket k.
 * The hook runs after the whole backward pass: overlapping communication with
 * backward itself (DDP's per-layer buckets) would need a per-node callback in
 * the tape and is not done; see README "Multi-device training (MPI)". */
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

void mpi_staging_free(dim_mpi *mp)
{
	for (int i = 0; i < 2; i++) {
		if (mp->host[i] && mp->ctx)
			clEnqueueUnmapMemObject(dim_ctx_queue(mp->ctx), mp->pinned[i], mp->host[i],
						0, NULL, NULL);
		if (mp->pinned[i]) {
			if (mp->ctx)
				clFinish(dim_ctx_queue(mp->ctx));
			clReleaseMemObject(mp->pinned[i]);
		}
		mp->pinned[i] = NULL;
		mp->host[i] = NULL;
	}
	free(mp->seg);
	free(mp->bucket_len);
	mp->seg = NULL;
	mp->bucket_len = NULL;
	mp->nseg = mp->nbuckets = 0;
	mp->model = NULL;
}

static dim_status add_segments(dim_mpi *mp, dim_params *ps, size_t *fill, int *cap,
			       dim_error *err)
{
	for (int i = 0; i < ps->count; i++) {
		const dim_param *p = ps->items[i];
		if (!p->trainable)
			continue;
		size_t left = dim_tensor_numel(&p->grad) * sizeof(float), off = p->grad.buf.off;
		while (left > 0) {
			if (*fill == mp->bucket_bytes) { /* bucket full: open the next */
				mp->nbuckets++;
				*fill = 0;
			}
			size_t n = mp->bucket_bytes - *fill < left ? mp->bucket_bytes - *fill : left;
			if (mp->nseg == *cap) {
				*cap = *cap ? 2 * *cap : 64;
				struct mpi_segment *g = realloc(mp->seg, (size_t)*cap * sizeof *g);
				if (!g)
					return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
				mp->seg = g;
			}
			mp->seg[mp->nseg++] = (struct mpi_segment){p->grad.buf.mem, off, *fill, n,
								   mp->nbuckets};
			*fill += n;
			off += n;
			left -= n;
		}
	}
	return DIM_OK;
}

static dim_status staging_build(dim_mpi *mp, dim_model *m)
{
	dim_error *err = dim_ctx_error(mp->ctx);
	mpi_staging_free(mp);
	size_t fill = 0;
	int cap = 0;
	dim_status st = add_segments(mp, dim_model_params(m), &fill, &cap, err);
	if (!st)
		st = add_segments(mp, dim_model_prior_params(m), &fill, &cap, err);
	if (st)
		return st;
	mp->nbuckets += fill > 0;
	mp->bucket_len = calloc((size_t)mp->nbuckets + 1, sizeof *mp->bucket_len);
	if (!mp->bucket_len)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	mp->stats.bytes = 0;
	for (int i = 0; i < mp->nseg; i++) {
		mp->bucket_len[mp->seg[i].bucket] += mp->seg[i].bytes;
		mp->stats.bytes += (double)mp->seg[i].bytes;
	}
	/* pinned (page-locked where the driver supports it) staging, mapped once */
	for (int i = 0; i < 2; i++) {
		cl_int e;
		mp->pinned[i] = clCreateBuffer(dim_ctx_cl_context(mp->ctx),
					       CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR,
					       mp->bucket_bytes, NULL, &e);
		if (e != CL_SUCCESS)
			return dim_fail(err, DIM_ERR_CL, "staging buffer of %zu bytes: OpenCL error %d",
					mp->bucket_bytes, e);
		mp->host[i] = clEnqueueMapBuffer(dim_ctx_queue(mp->ctx), mp->pinned[i], CL_TRUE,
						 CL_MAP_READ | CL_MAP_WRITE, 0, mp->bucket_bytes, 0,
						 NULL, NULL, &e);
		if (e != CL_SUCCESS)
			return dim_fail(err, DIM_ERR_CL, "mapping a staging buffer: OpenCL error %d",
					e);
	}
	mp->model = m;
	return DIM_OK;
}

/* Enqueue the device->host reads of bucket b; *ev: the last one. */
static cl_int enqueue_reads(dim_mpi *mp, int b, int *next_seg, cl_event *ev)
{
	cl_command_queue q = dim_ctx_queue(mp->ctx);
	char *h = (char *)mp->host[b % 2];
	cl_int e = CL_SUCCESS;
	int i = *next_seg;
	for (; e == CL_SUCCESS && i < mp->nseg && mp->seg[i].bucket == b; i++) {
		const struct mpi_segment *s = &mp->seg[i];
		bool last = i + 1 == mp->nseg || mp->seg[i + 1].bucket != b;
		e = clEnqueueReadBuffer(q, s->mem, CL_FALSE, s->dev_off, s->bytes, h + s->host_off,
					0, NULL, last ? ev : NULL);
	}
	*next_seg = i;
	if (e == CL_SUCCESS)
		e = clFlush(q);
	return e;
}

static cl_int enqueue_writes(dim_mpi *mp, int b, int first_seg)
{
	cl_command_queue q = dim_ctx_queue(mp->ctx);
	const char *h = (const char *)mp->host[b % 2];
	cl_int e = CL_SUCCESS;
	for (int i = first_seg; e == CL_SUCCESS && i < mp->nseg && mp->seg[i].bucket == b; i++) {
		const struct mpi_segment *s = &mp->seg[i];
		e = clEnqueueWriteBuffer(q, s->mem, CL_FALSE, s->dev_off, s->bytes,
					 h + s->host_off, 0, NULL, NULL);
	}
	return e;
}

dim_status dim_mpi_average_grads(dim_mpi *mp, dim_model *m)
{
	dim_ctx *ctx = dim_model_params(m)->ctx;
	dim_error *err = dim_ctx_error(ctx);
	if (mp->size == 1)
		return DIM_OK;
	if (mp->ctx != ctx)
		mpi_staging_free(mp);
	mp->ctx = ctx;
	dim_status st = mp->model == m ? DIM_OK : staging_build(mp, m);
	if (st)
		return st;
	/* time spent waiting for the slowest rank, kept apart from the transfer */
	double t0 = MPI_Wtime(), t_mpi = 0;
	int rc0 = MPI_Barrier(mp->world);
	if (rc0 != MPI_SUCCESS)
		return mpi_fail(err, rc0, "MPI_Barrier before the gradient allreduce");
	mp->stats.wait_s += MPI_Wtime() - t0;
	float scale = 1.0f / (float)mp->size;
	cl_event ev[2] = {NULL, NULL};
	int read_seg = 0, first_seg = 0; /* next segment to read; first of the bucket */
	cl_int e = mp->nbuckets ? enqueue_reads(mp, 0, &read_seg, &ev[0]) : CL_SUCCESS;
	for (int b = 0; b < mp->nbuckets && e == CL_SUCCESS; b++) {
		if (b + 1 < mp->nbuckets)
			e = enqueue_reads(mp, b + 1, &read_seg, &ev[(b + 1) % 2]);
		if (e == CL_SUCCESS)
			e = clWaitForEvents(1, &ev[b % 2]);
		clReleaseEvent(ev[b % 2]);
		ev[b % 2] = NULL;
		if (e != CL_SUCCESS)
			break;
		float *h = mp->host[b % 2];
		int n = (int)(mp->bucket_len[b] / sizeof(float));
		double t1 = MPI_Wtime();
		int rc = MPI_Allreduce(MPI_IN_PLACE, h, n, MPI_FLOAT, MPI_SUM, mp->world);
		t_mpi += MPI_Wtime() - t1;
		if (rc != MPI_SUCCESS) {
			st = mpi_fail(err, rc, "MPI_Allreduce of the gradients");
			break;
		}
		for (int i = 0; i < n; i++)
			h[i] *= scale;
		e = enqueue_writes(mp, b, first_seg);
		while (first_seg < mp->nseg && mp->seg[first_seg].bucket == b)
			first_seg++;
	}
	for (int i = 0; i < 2; i++)
		if (ev[i])
			clReleaseEvent(ev[i]);
	if (!st && e != CL_SUCCESS)
		st = dim_fail(err, DIM_ERR_CL, "staging gradients for MPI: OpenCL error %d", e);
	dim_status fst = dim_finish(ctx);
	if (!st)
		st = fst;
	mp->stats.calls++;
	mp->stats.buckets += mp->nbuckets;
	mp->stats.total_s += MPI_Wtime() - t0;
	mp->stats.allreduce_s += t_mpi;
	return st;
}
