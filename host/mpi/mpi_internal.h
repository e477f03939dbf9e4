/* Private state of the MPI data-parallel layer (host/mpi/). */
#ifndef CLDIM_MPI_INTERNAL_H
#define CLDIM_MPI_INTERNAL_H

#include <mpi.h>

#include "cldim/mpi.h"

/* One contiguous piece of a gradient tensor inside a staging bucket. */
struct mpi_segment {
	dim_buf grad;     /* the gradient tensor's buffer view */
	size_t dev_off;   /* byte offset in that view */
	size_t host_off;  /* byte offset in the bucket */
	size_t bytes;
	int bucket;
};

struct dim_mpi {
	MPI_Comm world, node;
	int rank, size, local_rank, local_size;
	size_t bucket_bytes;
	/* staging: two runtime staging buffers (pinned where the driver can) */
	dim_ctx *ctx;
	dim_staging *stg[2];
	/* the layout of the model the segments were built for */
	const dim_model *model;
	struct mpi_segment *seg;
	int nseg, nbuckets;
	size_t *bucket_len; /* bytes per bucket */
	dim_mpi_stats stats;
};

/* Free the staging buffers and segments (allreduce.c). */
void mpi_staging_free(dim_mpi *mp);
/* "MPI_Allreduce: <MPI's message>" into err. */
dim_status mpi_fail(dim_error *err, int rc, const char *what);

#endif
