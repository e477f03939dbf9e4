/* Stored CLBlast GEMM tuning: the file per device + driver, handing it to
 * CLBlast (CLBlastOverrideParameters), and what was handed over (see
 * include/cldim/tuning.h). The search itself is in gemm_search.c.
 *
 * File format (text, one record per line, '#' comments):
 *   cldim-gemm-tuning 1
 *   device <CL_DEVICE_NAME>
 *   driver <CL_DRIVER_VERSION>
 *   Xgemm GEMMK=0 KREG=1 KWG=32 ...        (all 16 names, any order)
 *   XgemmDirect KWID=2 MDIMAD=8 ...         (all 10 names)
 *   GemmRoutine XGEMM_MIN_INDIRECT_SIZE=384
 * A kernel line that is absent means CLBlast's default for that kernel. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	char dir[1024];
	if (ctx->cache_dir[0])
		snprintf(dir, sizeof dir, "%s", ctx->cache_dir);
	else
		dim_cache_default_dir(dir, sizeof dir);
	if (!dir[0]) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, n, "%s/gemm-tune-%016llx.txt", dir,
		 (unsigned long long)dim_device_key(&ctx->dev));
}

static void put_params(FILE *f, const char *kernel, const char *const *names, const size_t *v,
		       int n)
{
	fprintf(f, "%s", kernel);
	for (int i = 0; i < n; i++)
		fprintf(f, " %s=%zu", names[i], v[i]);
	fputc('\n', f);
}

dim_status dim_gemm_tuning_save(dim_ctx *ctx, const dim_gemm_tuning *t)
{
	char path[1100], tmp[1200];
	dim_gemm_tuning_path(ctx, path, sizeof path);
	if (!path[0])
		return dim_fail(&ctx->err, DIM_ERR_IO,
				"GEMM tuning: no cache directory (set CLDIM_CACHE_DIR or HOME)");
	char dir[1100];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		if (dim_mkdir_p(dir))
			return dim_fail(&ctx->err, DIM_ERR_IO, "%s: cannot create directory: %s",
					dir, strerror(errno));
	}
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return dim_fail(&ctx->err, DIM_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
	fprintf(f, "cldim-gemm-tuning 1\n# written by cldim bench --tune; delete to use CLBlast's "
		   "defaults\ndevice %s\ndriver %s\n",
		ctx->dev.name, ctx->dev.driver);
	if (t->has_xgemm)
		put_params(f, "Xgemm", dim_xgemm_param_names, t->xgemm, DIM_XGEMM_NPARAMS);
	if (t->has_direct)
		put_params(f, "XgemmDirect", dim_xgemm_direct_param_names, t->direct,
			   DIM_XGEMM_DIRECT_NPARAMS);
	if (t->has_routine)
		fprintf(f, "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=%zu\n", t->min_indirect_size);
	int bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, path)) {
		int e = errno;
		unlink(tmp);
		return dim_fail(&ctx->err, DIM_ERR_IO, "%s: cannot write: %s", path, strerror(e));
	}
	return DIM_OK;
}

/* Parse "NAME=VALUE ..." into v by names; every name must appear once. */
static int parse_params(char *rest, const char *const *names, size_t *v, int n)
{
	unsigned seen = 0;
	for (char *tok = strtok(rest, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq = '\0';
		char *end;
		errno = 0;
		unsigned long long x = strtoull(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end || x > (1ull << 30))
			return -1;
		int i = 0;
		while (i < n && strcmp(names[i], tok))
			i++;
		if (i == n || (seen & (1u << i)))
			return -1;
		seen |= 1u << i;
		v[i] = (size_t)x;
	}
	return seen == (1u << n) - 1 ? 0 : -1;
}

dim_status dim_gemm_tuning_load(dim_ctx *ctx, dim_gemm_tuning *t, bool *found)
{
	char path[1100], line[1024];
	memset(t, 0, sizeof *t);
	*found = false;
	dim_gemm_tuning_path(ctx, path, sizeof path);
	if (!path[0])
		return DIM_OK;
	FILE *f = fopen(path, "r");
	if (!f)
		return DIM_OK;
	dim_status st = DIM_OK;
	int lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			st = dim_fail(&ctx->err, DIM_ERR_FORMAT, "%s:%d: line too long", path, lineno);
			break;
		}
		char *s = line + strspn(line, " \t");
		if (*s == '#' || *s == '\n' || *s == '\0')
			continue;
		char *sp = s + strcspn(s, " \t\r\n");
		char *rest = *sp ? sp + 1 : sp;
		*sp = '\0';
		int bad = 0;
		if (lineno == 1) {
			bad = strcmp(s, "cldim-gemm-tuning") || atoi(rest) != 1;
		} else if (!strcmp(s, "device") || !strcmp(s, "driver")) {
			continue; /* informational; the file name already keys them */
		} else if (!strcmp(s, "Xgemm")) {
			bad = parse_params(rest, dim_xgemm_param_names, t->xgemm, DIM_XGEMM_NPARAMS);
			t->has_xgemm = !bad;
		} else if (!strcmp(s, "XgemmDirect")) {
			bad = parse_params(rest, dim_xgemm_direct_param_names, t->direct,
					   DIM_XGEMM_DIRECT_NPARAMS);
			t->has_direct = !bad;
		} else if (!strcmp(s, "GemmRoutine")) {
			static const char *const rn[] = {"XGEMM_MIN_INDIRECT_SIZE"};
			bad = parse_params(rest, rn, &t->min_indirect_size, 1);
			t->has_routine = !bad;
		} else {
			bad = 1;
		}
		if (bad) {
			st = dim_fail(&ctx->err, DIM_ERR_FORMAT,
				      "%s:%d: not a cldim GEMM tuning line (kernel '%s'); delete the "
				      "file or rerun cldim bench --tune",
				      path, lineno, s);
			break;
		}
	}
	fclose(f);
	if (!st && lineno == 0)
		st = dim_fail(&ctx->err, DIM_ERR_FORMAT, "%s: empty GEMM tuning file", path);
	if (st)
		memset(t, 0, sizeof *t);
	else
		*found = true;
	return st;
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

void dim_gemm_tuning_apply(dim_ctx *ctx)
{
	const char *env = getenv("CLDIM_GEMM_TUNING");
	if (env && !strcmp(env, "0"))
		return;
	dim_gemm_tuning t;
	bool found;
	dim_status st = dim_gemm_tuning_load(ctx, &t, &found);
	if (!st && found)
		st = dim_gemm_tuning_set(ctx, &t);
	if (st) {
		dim_log(DIM_LOG_WARN, "GEMM tuning not applied: %s", dim_ctx_errmsg(ctx));
		dim_error_clear(&ctx->err);
		return;
	}
	if (found) {
		char d[1024];
		dim_gemm_tuning_describe(&t, d, sizeof d);
		dim_log(DIM_LOG_DEBUG, "GEMM tuning applied on %s: %s", ctx->dev.name, d);
	}
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
