/* Gradient averaging over ranks: host-staged, bucketed MPI_Allreduce.
 *
 * Layout (built on the first call for a model): the trainable gradients of
 * both parameter sets, in order, are cut into segments so that they pack
 * into buckets of bucket_bytes; a tensor larger than a bucket spans several.
 *
 *   bucket 0: [enc.c1.weight][enc.c1.bias][enc.c2.weight (first part)]
 *   bucket 1: [enc.c2.weight (rest)][...]                 ...
 *
 * Pipeline on the in-order queue, two runtime staging buffers H0/H1 (pinned
 * where the driver can; dim_staging_wait is the fence of a bucket's reads):
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
		dim_staging_destroy(mp->stg[i]); /* waits for its copies */
		mp->stg[i] = NULL;
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
		size_t left = dim_tensor_numel(&p->grad) * sizeof(float), off = 0;
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
			mp->seg[mp->nseg++] = (struct mpi_segment){p->grad.buf, off, *fill, n,
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
		st = dim_staging_create(mp->ctx, mp->bucket_bytes, 0, &mp->stg[i]);
		if (st)
			return dim_fail_prefix(err, "MPI gradient staging: ");
	}
	mp->model = m;
	return DIM_OK;
}

/* Enqueue the device->host reads of bucket b into its staging buffer (whose
 * fence is then the last of them). */
static dim_status enqueue_reads(dim_mpi *mp, int b, int *next_seg)
{
	dim_staging *s = mp->stg[b % 2];
	dim_status st = DIM_OK;
	int i = *next_seg;
	for (; !st && i < mp->nseg && mp->seg[i].bucket == b; i++) {
		const struct mpi_segment *g = &mp->seg[i];
		st = dim_staging_read(s, g->host_off, g->grad, g->dev_off, g->bytes);
	}
	*next_seg = i;
	return st ? st : dim_staging_flush(s);
}

static dim_status enqueue_writes(dim_mpi *mp, int b, int first_seg)
{
	dim_staging *s = mp->stg[b % 2];
	dim_status st = DIM_OK;
	for (int i = first_seg; !st && i < mp->nseg && mp->seg[i].bucket == b; i++) {
		const struct mpi_segment *g = &mp->seg[i];
		st = dim_staging_write(s, g->host_off, g->grad, g->dev_off, g->bytes);
	}
	return st;
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
	int read_seg = 0, first_seg = 0; /* next segment to read; first of the bucket */
	st = mp->nbuckets ? enqueue_reads(mp, 0, &read_seg) : DIM_OK;
	if (st)
		dim_fail_prefix(err, "staging gradients for MPI: ");
	for (int b = 0; b < mp->nbuckets && !st; b++) {
		/* the writes of bucket b-1 were queued before these reads: H[(b+1)%2]
		 * is refilled only after they copied it */
		if (b + 1 < mp->nbuckets)
			st = enqueue_reads(mp, b + 1, &read_seg);
		if (!st)
			st = dim_staging_wait(mp->stg[b % 2]);
		if (st) {
			dim_fail_prefix(err, "staging gradients for MPI: ");
			break;
		}
		float *h = dim_staging_ptr(mp->stg[b % 2]);
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
		st = enqueue_writes(mp, b, first_seg);
		if (st)
			dim_fail_prefix(err, "staging gradients for MPI: ");
		while (first_seg < mp->nseg && mp->seg[first_seg].bucket == b)
			first_seg++;
	}
	dim_status fst = dim_finish(ctx);
	if (!st)
		st = fst;
	mp->stats.calls++;
	mp->stats.buckets += mp->nbuckets;
	mp->stats.total_s += MPI_Wtime() - t0;
	mp->stats.allreduce_s += t_mpi;
	return st;
}
