/* The flat C API for foreign-function callers (include/cldim/capi.h): a
 * context, a featurizer and the last message behind one opaque handle. */
#include <stdlib.h>
#include <string.h>

#include "cldim/capi.h"
#include "cldim/encode.h"
#include "cldim/io.h"

struct cldim_encoder {
	dim_ctx *ctx;
	dim_featurizer *f;
	dim_error err;
};

struct cldim_stream {
	cldim_encoder *e;
	dim_image_stream *s;
	int batch;
};

const char *cldim_version(void)
{
	return CLDIM_VERSION;
}

void cldim_free(void *p)
{
	free(p);
}

static void copy_msg(char *dst, size_t n, const char *msg)
{
	if (dst && n)
		snprintf(dst, n, "%s", msg);
}

static void json_device(dim_json *j, const dim_device_info *d)
{
	char id[32];
	snprintf(id, sizeof id, "%d:%d", d->platform_index, d->device_index);
	dim_json_begin_object(j);
	dim_json_kv_int(j, "index", d->index);
	dim_json_kv_string(j, "id", id);
	dim_json_kv_string(j, "name", d->name);
	dim_json_kv_string(j, "vendor", d->vendor);
	dim_json_kv_string(j, "platform", d->platform_name);
	dim_json_kv_string(j, "type", dim_device_type_name(d->type));
	dim_json_kv_string(j, "version", d->version);
	dim_json_kv_string(j, "driver_version", d->driver);
	dim_json_kv_int(j, "compute_units", d->compute_units);
	dim_json_kv_int(j, "global_mem_bytes", (int64_t)d->global_mem);
	dim_json_kv_int(j, "max_alloc_bytes", (int64_t)d->max_alloc);
	dim_json_kv_bool(j, "fp64", d->fp64);
	dim_json_end_object(j);
}

int cldim_devices_json(char **json, char *errbuf, size_t errlen)
{
	dim_error err = {0};
	dim_device_info *list = NULL;
	int count = 0;
	char *buf = NULL;
	size_t len = 0;
	*json = NULL;
	dim_status st = dim_devices_list(&list, &count, &err);
	if (st)
		goto out;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		st = dim_fail(&err, DIM_ERR_NOMEM, "out of host memory");
		goto out;
	}
	dim_json j;
	dim_json_init(&j, f, 0);
	dim_json_begin_array(&j);
	for (int i = 0; i < count; i++)
		json_device(&j, &list[i]);
	dim_json_end_array(&j);
	st = dim_json_finish(&err, &j, "device list");
	if (fclose(f) && !st)
		st = dim_fail(&err, DIM_ERR_NOMEM, "out of host memory");
	if (st) {
		free(buf);
		goto out;
	}
	*json = buf;
out:
	free(list);
	copy_msg(errbuf, errlen, st ? dim_error_text(&err) : "");
	return st;
}

/* Keep the context's message (or the status name) as the handle's. */
static int fail_ctx(cldim_encoder *e, dim_status st)
{
	if (st && e->ctx)
		dim_fail(&e->err, st, "%s", dim_ctx_errmsg(e->ctx));
	return st;
}

int cldim_encoder_open(const char *path, const char *device, cldim_encoder **out)
{
	cldim_encoder *e = calloc(1, sizeof *e);
	*out = e;
	if (!e)
		return DIM_ERR_NOMEM;
	if (!path)
		return dim_fail(&e->err, DIM_ERR_ARG, "no encoder file given");
	/* the C API is a top: the environment is read here, once per encoder */
	dim_ctx_options opt;
	dim_status st = dim_ctx_options_from_env(&opt, &e->err);
	if (st)
		return st;
	if (device && *device)
		opt.device = device;
	st = dim_ctx_create(&e->ctx, &opt, &e->err);
	if (st)
		return st;
	return fail_ctx(e, dim_featurizer_load(e->ctx, path, &e->f));
}

void cldim_encoder_close(cldim_encoder *e)
{
	if (!e)
		return;
	dim_featurizer_destroy(e->f);
	dim_ctx_destroy(e->ctx);
	free(e);
}

const char *cldim_encoder_error(const cldim_encoder *e)
{
	if (!e)
		return "out of host memory";
	return e->err.status ? dim_error_text(&e->err) : "";
}

static int need_model(cldim_encoder *e)
{
	if (e->f)
		return DIM_OK;
	return dim_fail(&e->err, DIM_ERR_ARG, "the encoder failed to open (%s)",
			e->err.status ? e->err.msg : "no model");
}

const char *cldim_encoder_arch(const cldim_encoder *e)
{
	return e && e->f ? dim_featurizer_config(e->f)->encoder : "";
}

void cldim_encoder_input(const cldim_encoder *e, int *channels, int *size)
{
	*channels = *size = 0;
	if (e && e->f)
		dim_featurizer_input(e->f, channels, size);
}

const char *cldim_encoder_device(const cldim_encoder *e)
{
	return e && e->ctx ? dim_ctx_device(e->ctx)->name : "";
}

int cldim_encoder_dim(cldim_encoder *e, const char *layer, int *dim)
{
	dim_repr r;
	dim_status st = need_model(e);
	if (!st)
		st = dim_repr_parse(layer, &r, &e->err);
	*dim = st ? 0 : dim_featurizer_dim(e->f, r);
	return st;
}

int cldim_encoder_encode(cldim_encoder *e, const float *x, int n, const char *layer,
			 float *out)
{
	dim_repr r;
	dim_status st = need_model(e);
	if (!st)
		st = dim_repr_parse(layer, &r, &e->err);
	if (st)
		return st;
	dim_error_clear(&e->err);
	return fail_ctx(e, dim_featurizer_encode(e->f, x, n, r, out));
}

int cldim_stream_open(cldim_encoder *e, const char *path, const char *format,
		      const char *split, size_t limit, int batch, cldim_stream **out)
{
	*out = NULL;
	dim_status st = need_model(e);
	if (st)
		return st;
	if (batch < 1)
		return dim_fail(&e->err, DIM_ERR_ARG, "batch %d: need at least 1", batch);
	cldim_stream *s = calloc(1, sizeof *s);
	if (!s)
		return dim_fail(&e->err, DIM_ERR_NOMEM, "out of host memory");
	dim_stream_opts o = {.format = format, .split = split, .limit = limit, .batch = batch,
			     .threads = 2};
	dim_featurizer_input(e->f, &o.channels, &o.size);
	st = dim_image_stream_open(&s->s, path, &o, &e->err);
	if (st) {
		free(s);
		return st;
	}
	s->e = e;
	s->batch = batch;
	*out = s;
	return DIM_OK;
}

void cldim_stream_close(cldim_stream *s)
{
	if (!s)
		return;
	dim_image_stream_destroy(s->s);
	free(s);
}

size_t cldim_stream_count(const cldim_stream *s)
{
	return dim_image_stream_count(s->s);
}

int cldim_stream_next(cldim_stream *s, const char *layer, float *out, int64_t *labels, int *n)
{
	cldim_encoder *e = s->e;
	const float *x;
	const int64_t *lab;
	const size_t *items;
	dim_repr r;
	*n = 0;
	dim_status st = dim_repr_parse(layer, &r, &e->err);
	if (!st)
		st = dim_image_stream_next(s->s, &x, &lab, &items, n, &e->err);
	if (st || *n == 0)
		return st;
	if (*n > s->batch)
		return dim_fail(&e->err, DIM_ERR_ARG, "stream gave %d images, batch is %d", *n,
				s->batch);
	if (labels)
		memcpy(labels, lab, (size_t)*n * sizeof *labels);
	return fail_ctx(e, dim_featurizer_encode(e->f, x, *n, r, out));
}
