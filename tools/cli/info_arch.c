/* cldim info --arch: every encoder's layer geometry as a Markdown table, read
 * from an encoder that dim_encoder_build makes (dim_encoder_describe), so the
 * README's copy of the table is checked against the code by a test. */
#include <stdio.h>
#include <string.h>

#include "cldim/models.h"
#include "cli.h"
#include "info_arch.h"

static const char *shape(char *buf, size_t n, const int *s)
{
	if (s[1])
		snprintf(buf, n, "%d×%d×%d", s[0], s[1], s[2]);
	else
		snprintf(buf, n, "%d", s[0]);
	return buf;
}

static const char *num(char *buf, size_t n, int v, int show)
{
	if (show)
		snprintf(buf, n, "%d", v);
	else
		snprintf(buf, n, " ");
	return buf;
}

static void print_rows(const dim_encoder *e, const dim_enc_row *rows, int n)
{
	for (int i = 0; i < n; i++) {
		const dim_enc_row *r = &rows[i];
		char kind[48], k[16], s[16], p[16], pool[16], in[32], out[32];
		if (!strcmp(r->kind, "bottleneck"))
			snprintf(kind, sizeof kind, "bottleneck 1/3/1, mid %d%s", r->mid,
				 r->shortcut ? ", proj." : "");
		else
			snprintf(kind, sizeof kind, "%s%s", r->kind, r->bias ? " +bias" : "");
		if (r->per_crop && strcmp(r->kind, "crops"))
			strncat(kind, " (per crop)", sizeof kind - strlen(kind) - 1);
		bool geo = r->k > 0;
		if (r->pool_k)
			snprintf(pool, sizeof pool, "%d/%d", r->pool_k, r->pool_s);
		else
			snprintf(pool, sizeof pool, " ");
		printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", i ? "" : e->name,
		       r->name, kind, num(k, sizeof k, r->k, geo), num(s, sizeof s, r->stride, geo),
		       num(p, sizeof p, r->pad, geo && strcmp(r->kind, "crops")), pool,
		       shape(in, sizeof in, r->in), shape(out, sizeof out, r->out),
		       r->role[0] ? r->role : " ");
	}
}

int info_arch(const char *name, int channels, const char *device)
{
	int all = !strcmp(name, "all");
	if (!all && !dim_encoder_input_size(name)) {
		fprintf(stderr, "cldim info: unknown encoder '%s' (known:", name);
		for (int i = 0; dim_encoder_names[i]; i++)
			fprintf(stderr, " %s", dim_encoder_names[i]);
		fprintf(stderr, ", or all)\n");
		return 2;
	}
	dim_ctx *ctx;
	int rc = cli_ctx("info", device, 0, 0, &ctx);
	if (rc)
		return rc;
	printf("| encoder | layer | kind | kernel | stride | padding | max pool | input | output "
	       "| representation |\n");
	printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
	for (int i = 0; dim_encoder_names[i] && !rc; i++) {
		if (!all && strcmp(name, dim_encoder_names[i]))
			continue;
		dim_params ps;
		dim_encoder e;
		dim_status st = dim_params_init(&ps, ctx, "arch");
		if (!st)
			st = dim_encoder_build(&e, &ps, dim_encoder_names[i], channels, 64, 0);
		if (st) {
			rc = cli_fail("info", st, dim_ctx_errmsg(ctx));
		} else {
			dim_enc_row rows[DIM_ENC_MAX_ROWS];
			int n = dim_encoder_describe(&e, rows, DIM_ENC_MAX_ROWS);
			print_rows(&e, rows, n < DIM_ENC_MAX_ROWS ? n : DIM_ENC_MAX_ROWS);
		}
		dim_params_free(&ps);
	}
	dim_ctx_destroy(ctx);
	return rc;
}
