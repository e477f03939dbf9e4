/* cldim — data-parallel training over MPI (only with -DCLDIM_WITH_MPI=ON).
 *
 * `mpirun -np K cldim train --batch B ...` runs K processes ("ranks"), one
 * OpenCL device each: the rank's position on its node (MPI_Comm_split_type
 * SHARED) picks among the node's GPUs (else accelerators, else all devices)
 * unless --device is given. Every rank builds the same model (same seed; rank
 * 0's values are broadcast to make sure), takes its shard of every global
 * batch (dim_loader_config sharding) and runs forward/backward on B/K images;
 * a gradient hook (dim_model_set_grad_hook) then averages the gradients of
 * every network over the ranks:
 *
 *   device grads --read--> pinned host bucket --MPI_Allreduce(SUM)--> x 1/K
 *                --write--> device grads            (bucket k+1 is read while
 *                                                    bucket k is reduced)
 *
 * after which every rank applies the identical Adam steps. Batch-norm
 * statistics and the MI negatives are per rank (as PyTorch DDP); loss metrics
 * are averaged; only rank 0 prints and writes checkpoints, which hold nothing
 * rank-specific, so a run resumes on any K. */
#ifndef CLDIM_MPI_H
#define CLDIM_MPI_H

#include <stdbool.h>

#include "cldim/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dim_mpi dim_mpi;

/* Whether an MPI launcher started this process (mpirun, mpiexec, srun with
 * PMI): the environment names a rank. Without one, cldim runs as one process
 * and never initialises MPI. */
bool dim_mpi_launched(void);

/* MPI_Init_thread (FUNNELED: only the calling thread talks MPI), world size,
 * rank, and the node-local rank. */
dim_status dim_mpi_start(dim_mpi **out, dim_error *err);
/* MPI_Finalize and free; logs the allreduce statistics on rank 0. NULL: no-op. */
void dim_mpi_finish(dim_mpi *mp);
/* Print "cldim: rank R of K: msg" and end every rank of the job with
 * MPI_Abort(code), so a failing rank never leaves the others waiting in a
 * collective. Does not return. */
void dim_mpi_abort(dim_mpi *mp, int code, const char *msg);

int dim_mpi_rank(const dim_mpi *mp);
int dim_mpi_size(const dim_mpi *mp);
int dim_mpi_local_rank(const dim_mpi *mp);
int dim_mpi_local_size(const dim_mpi *mp);

/* The device selector (an index, see dim_device_select) of this rank's
 * device: local_rank modulo the node's GPUs (else accelerators, else all). */
dim_status dim_mpi_device(const dim_mpi *mp, char *sel, size_t n, dim_error *err);

/* The trainer's view: rank, size, attach (broadcast rank 0's parameter
 * values, check that every rank built the same model, install the hook),
 * allsum. */
dim_train_replicas dim_mpi_replicas(dim_mpi *mp);

/* Host staging buffers of this many bytes each (default 4 MiB; two of them). */
void dim_mpi_set_bucket_bytes(dim_mpi *mp, size_t bytes);

/* The hook body: average the gradients of both parameter sets of m over all
 * ranks, in place. Collective. */
dim_status dim_mpi_average_grads(dim_mpi *mp, dim_model *m);

typedef struct dim_mpi_stats {
	long long calls;      /* gradient averagings */
	long long buckets;    /* MPI_Allreduce calls for gradients */
	double bytes;         /* gradient bytes per averaging */
	double total_s;       /* wall time in the hook (wait + staging + allreduce) */
	double wait_s;        /* of which waiting for the slowest rank (a barrier) */
	double allreduce_s;   /* of which inside MPI_Allreduce */
} dim_mpi_stats;
dim_mpi_stats dim_mpi_get_stats(const dim_mpi *mp);

#ifdef __cplusplus
}
#endif
#endif
