/* CLBlast GEMM tuning: the tuning section of the device store (store.c),
 * handing it to CLBlast (CLBlastOverrideParameters), and what was handed over
 * (see include/cldim/tuning.h). The search itself is in the bench layer
 * (host/bench/gemm_search.c). */
#include <pthread.h>
#include <string.h>

#include <clblast_c.h>

#include "cldim/tuning.h"
#include "internal.h"

const char *const dim_xgemm_param_names[DIM_XGEMM_NPARAMS] = {
	"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
	"NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN",
};
const char *const dim_xgemm_direct_param_names[DIM_XGEMM_DIRECT_NPARAMS] = {
	"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD",
};

/* What was set per device in this process (CLBlast's overrides are
 * process-wide per cl_device_id, so this table is too). */
#define APPLIED_MAX 16
static struct {
	cl_device_id dev;
	dim_gemm_tuning t;
} applied[APPLIED_MAX];
static int napplied;
static pthread_mutex_t applied_lock = PTHREAD_MUTEX_INITIALIZER;

void dim_gemm_tuning_path(const dim_ctx *ctx, char *buf, size_t n)
{
	dim_device_store_path(ctx->store_dir, &ctx->dev, buf, n);
}

dim_status dim_gemm_tuning_save(dim_ctx *ctx, const dim_gemm_tuning *t)
{
	dim_device_record r = {.has_tuning = true, .tuning = *t};
	if (!ctx->store_dir[0])
		return dim_fail(&ctx->err, DIM_ERR_IO,
				"GEMM tuning: no cache directory (set CLDIM_CACHE_DIR or HOME)");
	return dim_device_store_update(ctx->store_dir, &ctx->dev, DIM_STORE_TUNING, &r, &ctx->err);
}

dim_status dim_gemm_tuning_load(dim_ctx *ctx, dim_gemm_tuning *t, bool *found)
{
	dim_device_record r;
	*found = dim_device_store_load(ctx->store_dir, &ctx->dev, &r) && r.has_tuning;
	*t = r.tuning;
	return DIM_OK;
}

static dim_status override(dim_ctx *ctx, const char *kernel, const char *const *names,
			   const size_t *v, int n)
{
	CLBlastStatusCode s = CLBlastOverrideParameters(ctx->dev.device, kernel,
							CLBlastPrecisionSingle, (size_t)n,
							(const char **)names, v);
	if (s != CLBlastSuccess)
		return dim_fail(&ctx->err, DIM_ERR_BLAS,
				"CLBlastOverrideParameters(%s) on %s: CLBlast error %d", kernel,
				ctx->dev.name, (int)s);
	return DIM_OK;
}

dim_status dim_gemm_tuning_set(dim_ctx *ctx, const dim_gemm_tuning *t)
{
	static const char *const rn[] = {"XGEMM_MIN_INDIRECT_SIZE"};
	dim_status st = DIM_OK;
	if (t->has_xgemm)
		st = override(ctx, "Xgemm", dim_xgemm_param_names, t->xgemm, DIM_XGEMM_NPARAMS);
	if (!st && t->has_direct)
		st = override(ctx, "XgemmDirect", dim_xgemm_direct_param_names, t->direct,
			      DIM_XGEMM_DIRECT_NPARAMS);
	if (!st && t->has_routine)
		st = override(ctx, "GemmRoutine", rn, &t->min_indirect_size, 1);
	if (st)
		return st;
	pthread_mutex_lock(&applied_lock);
	int i = 0;
	while (i < napplied && applied[i].dev != ctx->dev.device)
		i++;
	if (i == napplied && napplied < APPLIED_MAX)
		napplied++;
	if (i < APPLIED_MAX) {
		applied[i].dev = ctx->dev.device;
		/* Kernels not named now keep what an earlier call set. */
		if (t->has_xgemm) {
			applied[i].t.has_xgemm = true;
			memcpy(applied[i].t.xgemm, t->xgemm, sizeof t->xgemm);
		}
		if (t->has_direct) {
			applied[i].t.has_direct = true;
			memcpy(applied[i].t.direct, t->direct, sizeof t->direct);
		}
		if (t->has_routine) {
			applied[i].t.has_routine = true;
			applied[i].t.min_indirect_size = t->min_indirect_size;
		}
	}
	pthread_mutex_unlock(&applied_lock);
	return DIM_OK;
}

bool dim_gemm_tuning_applied(const dim_ctx *ctx, dim_gemm_tuning *out)
{
	bool found = false;
	pthread_mutex_lock(&applied_lock);
	for (int i = 0; i < napplied; i++)
		if (applied[i].dev == ctx->dev.device) {
			if (out)
				*out = applied[i].t;
			found = true;
		}
	pthread_mutex_unlock(&applied_lock);
	if (!found && out)
		memset(out, 0, sizeof *out);
	return found;
}

void dim_gemm_tuning_apply(dim_ctx *ctx, const dim_device_record *r)
{
	if (!r->has_tuning)
		return;
	if (dim_gemm_tuning_set(ctx, &r->tuning)) {
		dim_log(DIM_LOG_WARN, "GEMM tuning not applied: %s", dim_ctx_errmsg(ctx));
		dim_error_clear(&ctx->err);
		return;
	}
	char d[1024];
	dim_gemm_tuning_describe(&r->tuning, d, sizeof d);
	dim_log(DIM_LOG_DEBUG, "GEMM tuning applied on %s: %s", ctx->dev.name, d);
}

void dim_gemm_tuning_describe(const dim_gemm_tuning *t, char *buf, size_t n)
{
	size_t used = 0;
	buf[0] = '\0';
#define PUT(...)                                                                  \
	do {                                                                      \
		if (used < n)                                                     \
			used += (size_t)snprintf(buf + used, n - used, __VA_ARGS__); \
	} while (0)
	if (t->has_xgemm) {
		PUT("Xgemm");
		for (int i = 0; i < DIM_XGEMM_NPARAMS; i++)
			PUT(" %s=%zu", dim_xgemm_param_names[i], t->xgemm[i]);
	}
	if (t->has_direct) {
		PUT("%sXgemmDirect", used ? "; " : "");
		for (int i = 0; i < DIM_XGEMM_DIRECT_NPARAMS; i++)
			PUT(" %s=%zu", dim_xgemm_direct_param_names[i], t->direct[i]);
	}
	if (t->has_routine)
		PUT("%sGemmRoutine XGEMM_MIN_INDIRECT_SIZE=%zu", used ? "; " : "",
		    t->min_indirect_size);
	if (!used)
		PUT("default");
#undef PUT
}
