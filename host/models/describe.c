/* The layer geometry of a built encoder, as rows (see dim_encoder_describe in
 * include/cldim/models.h): for `cldim info --arch`, the README's table and the
 * "architecture" metadata of an exported encoder. Everything is read from the
 * dim_encoder that dim_encoder_build filled in, so it cannot drift from the
 * code that runs. */
#include <stdlib.h>
#include <string.h>

#include "cldim/io.h"
#include "cldim/models.h"

struct rows {
	dim_enc_row *r;
	int n, cap;
	dim_enc_row spare; /* rows past cap are filled here and dropped */
};

static dim_enc_row *push(struct rows *rs, const char *name, const char *kind)
{
	dim_enc_row *r = rs->n < rs->cap ? &rs->r[rs->n] : &rs->spare;
	rs->n++;
	memset(r, 0, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", name);
	snprintf(r->kind, sizeof r->kind, "%s", kind);
	return r;
}

static void shape3(int *dst, int c, int h, int w)
{
	dst[0] = c;
	dst[1] = h;
	dst[2] = w;
}

/* "encoder.conv0.weight" -> "conv0" */
static void module_name(char *dst, size_t n, const dim_param *w)
{
	const char *s = w ? w->name : "?";
	if (!strncmp(s, "encoder.", 8))
		s += 8;
	size_t len = strlen(s);
	if (len > 7 && !strcmp(s + len - 7, ".weight"))
		len -= 7;
	snprintf(dst, n, "%.*s", (int)len, s);
}

static void role(dim_enc_row *r, const char *what)
{
	size_t len = strlen(r->role);
	snprintf(r->role + len, sizeof r->role - len, "%s%s", len ? ", " : "", what);
}

static dim_enc_row *layer(struct rows *rs, const dim_enc_layer *L, int per_crop)
{
	char name[40];
	module_name(name, sizeof name, L->w);
	dim_enc_row *r = push(rs, name, L->is_conv ? "conv" : "fc");
	r->per_crop = per_crop;
	if (L->is_conv) {
		r->k = L->k;
		r->stride = L->stride;
		r->pad = L->pad;
		r->pool_k = L->pool_k;
		r->pool_s = L->pool_s;
		shape3(r->in, L->in_c, L->in_h, L->in_w);
		shape3(r->out, L->out, L->out_h, L->out_w);
	} else {
		shape3(r->in, L->in_c, 0, 0);
		shape3(r->out, L->out, 0, 0);
	}
	r->bias = L->b != NULL;
	r->bn = 1;
	return r;
}

static void crops(struct rows *rs, const dim_encoder *e)
{
	dim_enc_row *r = push(rs, "crops", "crops");
	r->k = e->crop;
	r->stride = e->crop_stride;
	shape3(r->in, e->in_channels, e->input_size, e->input_size);
	shape3(r->out, e->in_channels, e->crop, e->crop);
	r->per_crop = 1;
}

static void fold(struct rows *rs, const dim_encoder *e, int c, int h)
{
	dim_enc_row *r = push(rs, "fold", "fold");
	shape3(r->in, c, h, h);
	shape3(r->out, c * h * h, e->grid, e->grid);
	role(r, "M");
	role(r, "conv");
}

int dim_encoder_describe(const dim_encoder *e, dim_enc_row *rows, int cap)
{
	struct rows rs = {.r = rows, .cap = cap};
	if (e->kind == DIM_ENC_PLAIN) {
		int last_conv = -1, last_fc = -1;
		for (int i = 0; i < e->nlayers; i++)
			*(e->layers[i].is_conv ? &last_conv : &last_fc) = i;
		for (int i = 0; i < e->nlayers; i++) {
			dim_enc_row *r = layer(&rs, &e->layers[i], 0);
			if (i == e->m_layer)
				role(r, "M");
			if (i == last_conv)
				role(r, "conv");
			if (i == last_fc)
				role(r, "fc");
		}
	} else if (e->kind == DIM_ENC_FOLD_CONV) {
		crops(&rs, e);
		for (int i = 0; i <= e->fold_after; i++)
			layer(&rs, &e->layers[i], 1);
		const dim_enc_layer *L = &e->layers[e->fold_after];
		fold(&rs, e, L->out, L->out_h);
		for (int i = e->fold_after + 1; i < e->nlayers; i++) {
			dim_enc_row *r = layer(&rs, &e->layers[i], 0);
			if (i == e->nlayers - 1)
				role(r, "fc");
		}
	} else {
		int pc = e->crop > 0;
		if (pc)
			crops(&rs, e);
		layer(&rs, &e->layers[0], pc);
		for (int i = 0; i < e->nblocks; i++) {
			const dim_enc_block *B = &e->blocks[i];
			char name[40];
			snprintf(name, sizeof name, "blocks.%d", i);
			dim_enc_row *r = push(&rs, name, "bottleneck");
			r->k = 3;
			r->stride = B->stride;
			r->pad = 1;
			r->mid = B->mid_c;
			r->bn = 1;
			r->per_crop = pc;
			r->shortcut = B->sc_w != NULL;
			shape3(r->in, B->in_c, B->in_h, B->in_h);
			shape3(r->out, B->out_c, B->out_h, B->out_h);
			if (!pc && i == e->m_block) {
				role(r, "M");
				role(r, "conv");
			}
		}
		if (pc) {
			const dim_enc_block *B = &e->blocks[e->nblocks - 1];
			fold(&rs, e, B->out_c, B->out_h);
		}
		for (int i = 1; i < e->nlayers; i++) {
			dim_enc_row *r = layer(&rs, &e->layers[i], 0);
			if (i == e->nlayers - 1)
				role(r, "fc");
		}
	}
	dim_enc_row *y = push(&rs, "y", "linear");
	shape3(y->in, e->fc_dim, 0, 0);
	shape3(y->out, e->y_dim, 0, 0);
	y->bias = 1;
	role(y, "Y");
	return rs.n;
}

static void json_shape(dim_json *j, const char *key, const int *s)
{
	dim_json_key(j, key);
	dim_json_begin_array(j);
	for (int d = 0; d < (s[1] ? 3 : 1); d++)
		dim_json_int(j, s[d]);
	dim_json_end_array(j);
}

dim_status dim_encoder_arch_json(const dim_encoder *e, char **out, dim_error *err)
{
	dim_enc_row rows[DIM_ENC_MAX_ROWS];
	int n = dim_encoder_describe(e, rows, DIM_ENC_MAX_ROWS);
	if (n > DIM_ENC_MAX_ROWS)
		return dim_fail(err, DIM_ERR_ARG, "encoder %s: %d layers, more than %d", e->name, n,
				DIM_ENC_MAX_ROWS);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	dim_json j;
	dim_json_init(&j, f, 0);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "encoder", e->name);
	dim_json_kv_int(&j, "in_channels", e->in_channels);
	dim_json_kv_int(&j, "input_size", e->input_size);
	dim_json_kv_int(&j, "y_dim", e->y_dim);
	json_shape(&j, "M", e->m_shape);
	json_shape(&j, "conv", e->conv_shape);
	dim_json_kv_int(&j, "fc", e->fc_dim);
	dim_json_key(&j, "bn_eps");
	dim_json_float(&j, e->bn_eps);
	dim_json_key(&j, "bn_momentum");
	dim_json_float(&j, e->bn_momentum);
	dim_json_key(&j, "layers");
	dim_json_begin_array(&j);
	for (int i = 0; i < n; i++) {
		const dim_enc_row *r = &rows[i];
		dim_json_begin_object(&j);
		dim_json_kv_string(&j, "name", r->name);
		dim_json_kv_string(&j, "kind", r->kind);
		if (r->k) {
			dim_json_kv_int(&j, "kernel", r->k);
			dim_json_kv_int(&j, "stride", r->stride);
			dim_json_kv_int(&j, "padding", r->pad);
		}
		if (r->pool_k) {
			dim_json_kv_int(&j, "maxpool_kernel", r->pool_k);
			dim_json_kv_int(&j, "maxpool_stride", r->pool_s);
		}
		if (r->mid)
			dim_json_kv_int(&j, "mid", r->mid);
		if (r->shortcut)
			dim_json_kv_bool(&j, "projection_shortcut", true);
		dim_json_kv_bool(&j, "bias", r->bias);
		dim_json_kv_bool(&j, "batchnorm_relu", r->bn);
		dim_json_kv_bool(&j, "per_crop", r->per_crop);
		json_shape(&j, "in", r->in);
		json_shape(&j, "out", r->out);
		if (r->role[0])
			dim_json_kv_string(&j, "representation", r->role);
		dim_json_end_object(&j);
	}
	dim_json_end_array(&j);
	dim_json_end_object(&j);
	dim_status st = dim_json_finish(err, &j, "architecture");
	if (fclose(f) && !st)
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	if (st) {
		free(buf);
		return st;
	}
	*out = buf;
	return DIM_OK;
}
