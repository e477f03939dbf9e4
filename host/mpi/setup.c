/* MPI start-up, device choice, the trainer's replica callbacks, and abort. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"

bool dim_mpi_launched(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
					   "PMI_RANK", "MPI_LOCALNRANKS", NULL};
	for (int i = 0; vars[i]; i++)
		if (getenv(vars[i]))
			return true;
	return false;
}

dim_status mpi_fail(dim_error *err, int rc, const char *what)
{
	char msg[MPI_MAX_ERROR_STRING] = "";
	int len = 0;
	MPI_Error_string(rc, msg, &len);
	return dim_fail(err, DIM_ERR_IO, "%s failed: %s (another rank may have died)", what, msg);
}

dim_status dim_mpi_start(dim_mpi **out, dim_error *err)
{
	int inited = 0, provided = 0;
	MPI_Initialized(&inited);
	if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		return dim_fail(err, DIM_ERR_IO, "MPI_Init_thread failed");
	dim_mpi *mp = calloc(1, sizeof *mp);
	if (!mp)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	mp->world = MPI_COMM_WORLD;
	/* errors come back as codes (turned into messages), not as MPI's abort */
	MPI_Comm_set_errhandler(mp->world, MPI_ERRORS_RETURN);
	MPI_Comm_rank(mp->world, &mp->rank);
	MPI_Comm_size(mp->world, &mp->size);
	int rc = MPI_Comm_split_type(mp->world, MPI_COMM_TYPE_SHARED, mp->rank, MPI_INFO_NULL,
				     &mp->node);
	if (rc != MPI_SUCCESS) {
		free(mp);
		return mpi_fail(err, rc, "MPI_Comm_split_type");
	}
	MPI_Comm_rank(mp->node, &mp->local_rank);
	MPI_Comm_size(mp->node, &mp->local_size);
	mp->bucket_bytes = (size_t)4 << 20;
	*out = mp;
	return DIM_OK;
}

void dim_mpi_finish(dim_mpi *mp)
{
	if (!mp)
		return;
	if (mp->rank == 0 && mp->stats.calls > 0) {
		const dim_mpi_stats *s = &mp->stats;
		dim_log(DIM_LOG_INFO, "gradient allreduce over %d ranks: %.2f MiB in %lld bucket(s) "
			"per step; per step %.2f ms in all: %.2f ms waiting for the slowest rank, "
			"%.2f ms in MPI_Allreduce (%.2f GB/s)", mp->size, s->bytes / 1048576.0,
			s->buckets / s->calls, 1e3 * s->total_s / s->calls, 1e3 * s->wait_s / s->calls,
			1e3 * s->allreduce_s / s->calls,
			s->allreduce_s > 0 ? s->bytes * s->calls / s->allreduce_s / 1e9 : 0.0);
	}
	mpi_staging_free(mp);
	if (mp->node != MPI_COMM_NULL)
		MPI_Comm_free(&mp->node);
	free(mp);
	MPI_Finalize();
}

void dim_mpi_abort(dim_mpi *mp, int code, const char *msg)
{
	fprintf(stderr, "cldim: rank %d of %d: %s\ncldim: rank %d is ending the whole job "
		"(MPI_Abort)\n", mp ? mp->rank : 0, mp ? mp->size : 1, msg, mp ? mp->rank : 0);
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
	/* MPI_Abort does not return; should an implementation do so, the
	 * caller exits with `code` and the launcher ends the others */
}

int dim_mpi_rank(const dim_mpi *mp) { return mp->rank; }
int dim_mpi_size(const dim_mpi *mp) { return mp->size; }
int dim_mpi_local_rank(const dim_mpi *mp) { return mp->local_rank; }
int dim_mpi_local_size(const dim_mpi *mp) { return mp->local_size; }

void dim_mpi_set_bucket_bytes(dim_mpi *mp, size_t bytes)
{
	mpi_staging_free(mp);
	mp->bucket_bytes = bytes < 1024 ? 1024 : bytes & ~(size_t)3;
}

dim_mpi_stats dim_mpi_get_stats(const dim_mpi *mp)
{
	return mp->stats;
}

dim_status dim_mpi_device(const dim_mpi *mp, char *sel, size_t n, dim_error *err)
{
	dim_device_info *list = NULL;
	int count = 0;
	dim_status st = dim_devices_list(&list, &count, err);
	if (st)
		return st;
	/* the node's devices of the best kind, in listing order */
	static const unsigned kinds[] = {DIM_DEV_GPU, DIM_DEV_ACCEL, ~0u};
	int pick = -1;
	for (int k = 0; k < 3 && pick < 0; k++) {
		int m = 0;
		for (int i = 0; i < count; i++)
			m += (list[i].type & kinds[k]) != 0;
		for (int i = 0, j = 0; m > 0 && i < count; i++)
			if ((list[i].type & kinds[k]) && j++ == mp->local_rank % m)
				pick = i;
	}
	if (pick < 0) {
		free(list);
		return dim_fail(err, DIM_ERR_NO_DEVICE, "rank %d: no OpenCL device", mp->rank);
	}
	snprintf(sel, n, "%d", list[pick].index);
	if (mp->local_rank >= count)
		dim_log(DIM_LOG_WARN, "rank %d: %d ranks on this node share %d device(s)", mp->rank,
			mp->local_size, count);
	free(list);
	return DIM_OK;
}

/* ------------------------------------------------------------ replicas */

static dim_status bcast_values(dim_mpi *mp, dim_params *ps, dim_error *err)
{
	size_t n = dim_params_numel(ps, false);
	float *h = malloc((n ? n : 1) * sizeof *h);
	if (!h)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	dim_status st = DIM_OK;
	size_t at = 0;
	for (int i = 0; i < ps->count && !st; i++) {
		st = dim_param_get(ps->ctx, ps->items[i], h + at);
		at += dim_tensor_numel(&ps->items[i]->value);
	}
	/* counts above INT_MAX would need chunking; models here are far smaller */
	int rc = st ? MPI_SUCCESS : MPI_Bcast(h, (int)n, MPI_FLOAT, 0, mp->world);
	if (!st && rc != MPI_SUCCESS)
		st = mpi_fail(err, rc, "MPI_Bcast of the parameters");
	at = 0;
	for (int i = 0; i < ps->count && !st; i++) {
		st = dim_param_set(ps->ctx, ps->items[i], h + at);
		at += dim_tensor_numel(&ps->items[i]->value);
	}
	free(h);
	return st;
}

static dim_status grad_hook(void *user, dim_model *m)
{
	return dim_mpi_average_grads(user, m);
}

static dim_status attach(void *user, dim_model *m)
{
	dim_mpi *mp = user;
	dim_params *sets[2] = {dim_model_params(m), dim_model_prior_params(m)};
	dim_error *err = dim_ctx_error(sets[0]->ctx);
	if (mp->ctx && mp->ctx != sets[0]->ctx)
		mpi_staging_free(mp);
	mp->ctx = sets[0]->ctx;
	/* every rank must hold the same model: compare sizes before any bulk copy */
	long long mine[4] = {sets[0]->count, sets[1]->count,
			     (long long)dim_params_numel(sets[0], false),
			     (long long)dim_params_numel(sets[1], false)};
	long long lo[4], hi[4];
	int rc = MPI_Allreduce(mine, lo, 4, MPI_LONG_LONG, MPI_MIN, mp->world);
	if (rc == MPI_SUCCESS)
		rc = MPI_Allreduce(mine, hi, 4, MPI_LONG_LONG, MPI_MAX, mp->world);
	if (rc != MPI_SUCCESS)
		return mpi_fail(err, rc, "MPI_Allreduce (model check)");
	if (memcmp(lo, hi, sizeof lo))
		return dim_fail(err, DIM_ERR_ARG, "the ranks built different models (%lld..%lld "
				"parameters): every rank needs the same options", lo[2] + lo[3],
				hi[2] + hi[3]);
	dim_status st = DIM_OK;
	for (int s = 0; s < 2 && !st; s++)
		st = bcast_values(mp, sets[s], err);
	if (!st)
		dim_model_set_grad_hook(m, grad_hook, mp);
	if (!st && mp->rank == 0)
		dim_log(DIM_LOG_INFO, "data parallel: %d ranks, gradients averaged with "
			"MPI_Allreduce in %.1f MiB host buckets", mp->size,
			(double)mp->bucket_bytes / 1048576.0);
	return st;
}

static dim_status allsum(void *user, double *v, int n)
{
	dim_mpi *mp = user;
	int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, mp->world);
	if (rc != MPI_SUCCESS)
		return mp->ctx ? mpi_fail(dim_ctx_error(mp->ctx), rc, "MPI_Allreduce (metrics)")
			       : DIM_ERR_IO;
	return DIM_OK;
}

dim_train_replicas dim_mpi_replicas(dim_mpi *mp)
{
	return (dim_train_replicas){.rank = mp->rank, .count = mp->size, .attach = attach,
				    .allsum = allsum, .user = mp};
}
