/* Private state of the MPI data-parallel layer (host/mpi/). */
#ifndef CLDIM_MPI_INTERNAL_H
#define CLDIM_MPI_INTERNAL_H

#include <mpi.h>

#include "cldim/mpi.h"

/* One contiguous piece of a gradient tensor inside a staging bucket. */
struct mpi_segment {
	cl_mem mem;
	size_t dev_off;   /* byte offset in mem */
	size_t host_off;  /* byte offset in the bucket */
	size_t bytes;
	int bucket;
};

struct dim_mpi {
	MPI_Comm world, node;
	int rank, size, local_rank, local_size;
	size_t bucket_bytes;
	/* staging: two pinned host buffers (CL_MEM_ALLOC_HOST_PTR, mapped) */
	dim_ctx *ctx;
	cl_mem pinned[2];
	float *host[2];
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
