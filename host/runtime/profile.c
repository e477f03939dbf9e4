/* Per-phase device time (see dim_profile_* in include/cldim/runtime.h). */
#include <string.h>

#include "internal.h"

#define MAX_PHASES 16

int dim_profile_phase_id(dim_ctx *ctx, const char *name)
{
	if (ctx->nphases == 0) {
		snprintf(ctx->phase_names[0], sizeof ctx->phase_names[0], "other");
		ctx->nphases = 1;
	}
	for (int i = 0; i < ctx->nphases; i++)
		if (!strcmp(ctx->phase_names[i], name))
			return i;
	if (ctx->nphases == MAX_PHASES)
		return -1;
	snprintf(ctx->phase_names[ctx->nphases], sizeof ctx->phase_names[0], "%s", name);
	ctx->phase_seconds[ctx->nphases] = 0;
	return ctx->nphases++;
}

int dim_profile_set_phase(dim_ctx *ctx, int id)
{
	int prev = ctx->phase;
	if (id >= 0 && id < MAX_PHASES)
		ctx->phase = id;
	return prev;
}

int dim_profile_get_phase(const dim_ctx *ctx) { return ctx->phase; }

void dim_profile_charge(dim_ctx *ctx, double seconds)
{
	if (ctx->phase >= 0 && ctx->phase < MAX_PHASES)
		ctx->phase_seconds[ctx->phase] += seconds;
}

void dim_profile_phase_print(dim_ctx *ctx, FILE *f)
{
	double total = 0;
	for (int i = 0; i < ctx->nphases; i++)
		total += ctx->phase_seconds[i];
	fprintf(f, "%-14s %12s %8s\n", "phase", "device ms", "share");
	for (int i = 0; i < ctx->nphases; i++)
		if (ctx->phase_seconds[i] > 0)
			fprintf(f, "%-14s %12.1f %7.1f%%\n", ctx->phase_names[i],
				ctx->phase_seconds[i] * 1e3,
				total > 0 ? 100 * ctx->phase_seconds[i] / total : 0);
	fprintf(f, "%-14s %12.1f\n", "total", total * 1e3);
}

void dim_profile_phase_reset(dim_ctx *ctx)
{
	for (int i = 0; i < MAX_PHASES; i++)
		ctx->phase_seconds[i] = 0;
}
