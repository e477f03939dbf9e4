/* cldim-test: labels=mpi;opencl timeout=300 mpiexec=2 */
/* The gradient averaging hook, run under `mpiexec -n 2`: each rank runs
 * forward/backward on its own random batch, then dim_mpi_average_grads with
 * small buckets (so tensors straddle bucket boundaries) must leave on every
 * rank exactly (g_0 + g_1) / 2 for every trainable gradient of both
 * parameter sets, computed here with a plain MPI_Allreduce of the host copies.
 * Also: attach broadcasts rank 0's parameter values. */
#include <mpi.h>
#include <string.h>

#include "cldim/dim.h"
#include "cldim/mpi.h"
#include "testutil.h"

/* Host copy of every trainable gradient of both sets, in order. */
static float *grads(dim_model *m, size_t *count, bool values)
{
	dim_params *sets[2] = {dim_model_params(m), dim_model_prior_params(m)};
	size_t n = 0;
	for (int s = 0; s < 2; s++)
		n += dim_params_numel(sets[s], !values);
	float *h = malloc(n * sizeof *h);
	size_t at = 0;
	for (int s = 0; s < 2 && h; s++)
		for (int i = 0; i < sets[s]->count; i++) {
			dim_param *p = sets[s]->items[i];
			if (values) {
				dim_param_get(sets[s]->ctx, p, h + at);
				at += dim_tensor_numel(&p->value);
			} else if (p->trainable) {
				dim_tensor_read(sets[s]->ctx, &p->grad, h + at);
				at += dim_tensor_numel(&p->grad);
			}
		}
	*count = n;
	return h;
}

int main(void)
{
	dim_mpi *mp = NULL;
	dim_error err = {0};
	if (dim_mpi_start(&mp, &err)) {
		fprintf(stderr, "%s\n", dim_error_text(&err));
		return 1;
	}
	int rank = dim_mpi_rank(mp);
	CHECK(dim_mpi_size(mp) == 2);
	dim_ctx *ctx = t_ctx();
	if (!ctx) {
		dim_mpi_finish(mp);
		return 77;
	}
	dim_config cfg = dim_config_default();
	snprintf(cfg.encoder, sizeof cfg.encoder, "dcgan28");
	cfg.in_channels = 1;
	cfg.mi_units = 48;
	cfg.seed = 11 + (uint64_t)rank; /* different on purpose: attach must fix it */
	dim_model *m = NULL;
	CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	dim_mpi_set_bucket_bytes(mp, 40004); /* not a multiple of any tensor */
	dim_train_replicas r = dim_mpi_replicas(mp);
	CHECK(r.rank == rank && r.count == 2);
	CHECK_OK(ctx, r.attach(r.user, m));

	/* values now equal rank 0's everywhere */
	size_t nv = 0;
	float *v = grads(m, &nv, true), *v0 = malloc(nv * sizeof *v0);
	memcpy(v0, v, nv * sizeof *v0);
	MPI_Bcast(v0, (int)nv, MPI_FLOAT, 0, MPI_COMM_WORLD);
	CHECK_MSG(!memcmp(v, v0, nv * sizeof *v), "rank %d: values differ from rank 0's", rank);

	/* a different batch of 6 per rank */
	int N = 6, S = 28;
	size_t nx = (size_t)N * S * S;
	float *x = malloc(nx * sizeof *x);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)dim_rng_uniform(99, (uint64_t)rank, i);
	dim_tensor xt = {.ndim = 4, .shape = {N, 1, S, S}};
	CHECK_OK(ctx, dim_buf_create(ctx, nx * sizeof *x, &xt.buf));
	CHECK_OK(ctx, dim_tensor_write(ctx, &xt, x));
	dim_step_metrics mt;
	CHECK_OK(ctx, dim_model_forward_backward(m, &xt, NULL, &mt));

	size_t ng = 0;
	float *g = grads(m, &ng, false);
	MPI_Allreduce(MPI_IN_PLACE, g, (int)ng, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
	for (size_t i = 0; i < ng; i++)
		g[i] *= 0.5f;
	CHECK_OK(ctx, dim_mpi_average_grads(mp, m));
	size_t ng2 = 0;
	float *h = grads(m, &ng2, false);
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < ng; i++)
		if (h[i] != g[i] && !bad++)
			first = i;
	CHECK_MSG(ng2 == ng && bad == 0, "rank %d: %zu of %zu gradients differ, first [%zu]: "
		  "%.9g vs %.9g", rank, bad, ng, first, h[first], g[first]);
	dim_mpi_stats s = dim_mpi_get_stats(mp);
	CHECK(s.calls == 1 && s.buckets > 2 && s.bytes == (double)ng * 4);

	free(x);
	free(g);
	free(h);
	free(v);
	free(v0);
	dim_buf_release(&xt.buf);
	dim_model_destroy(m);
	/* staging buffers belong to the context: free them before it goes */
	int failures = t_failures, total = 0;
	MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	dim_mpi_finish(mp);
	dim_ctx_destroy(ctx);
	t_failures = total;
	return T_RESULT();
}
