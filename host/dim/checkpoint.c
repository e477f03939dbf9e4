/* Checkpoints of a DIM model (see include/cldim/checkpoint.h).
 *
 * File contents: every parameter and buffer of both sets under its own name,
 * the Adam moments as opt.m.<name> / opt.v.<name>, and string metadata:
 * format, cldim version, config fields (cfg.*), the training position
 * (step, epoch, epoch_batch, data_seed), dataset and the full option JSON. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/checkpoint.h"
#include "cldim/io.h"
#include "cldim/models.h"
#include "dim_internal.h"

#define CKPT_FORMAT "cldim-dim-checkpoint-1"

struct host_tensor {
	char name[160];
	int ndim;
	int64_t shape[DIM_MAX_DIMS];
	float *data;
};

struct collect {
	struct host_tensor *t;
	int n, cap;
};

static dim_status push(dim_ctx *ctx, struct collect *c, const char *prefix, const dim_param *p,
		       const dim_tensor *src)
{
	if (c->n == c->cap) {
		int cap = c->cap ? 2 * c->cap : 64;
		struct host_tensor *g = realloc(c->t, (size_t)cap * sizeof *g);
		if (!g)
			return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
		c->t = g;
		c->cap = cap;
	}
	struct host_tensor *h = &c->t[c->n];
	memset(h, 0, sizeof *h);
	snprintf(h->name, sizeof h->name, "%s%s", prefix, p->name);
	h->ndim = p->value.ndim;
	for (int d = 0; d < p->value.ndim; d++)
		h->shape[d] = p->value.shape[d];
	size_t n = dim_tensor_numel(&p->value);
	h->data = malloc(n * sizeof(float));
	if (!h->data)
		return dim_fail(dim_ctx_error(ctx), DIM_ERR_NOMEM, "out of host memory");
	c->n++;
	return dim_read(ctx, src->buf, 0, h->data, n * sizeof(float));
}

static dim_status collect_set(dim_model *m, struct collect *c, dim_params *ps,
			      struct dim_optim *opt)
{
	for (int i = 0; i < ps->count; i++) {
		dim_param *p = ps->items[i];
		dim_status st = push(m->ctx, c, "", p, &p->value);
		if (st)
			return st;
		if (!p->trainable)
			continue;
		dim_tensor mom[2];
		if ((st = dim_optim_state(opt, p, 0, &mom[0])) ||
		    (st = dim_optim_state(opt, p, 1, &mom[1])) ||
		    (st = push(m->ctx, c, "opt.m.", p, &mom[0])) ||
		    (st = push(m->ctx, c, "opt.v.", p, &mom[1])))
			return st;
	}
	return DIM_OK;
}

dim_status dim_checkpoint_save(dim_model *m, const dim_train_state *ts, const char *path)
{
	dim_error *err = dim_ctx_error(m->ctx);
	struct collect c = {0};
	dim_status st = collect_set(m, &c, &m->params, m->opt);
	if (!st)
		st = collect_set(m, &c, &m->prior_params, m->prior_opt);
	dim_st_tensor *list = st ? NULL : calloc((size_t)c.n + 1, sizeof *list);
	if (!st && !list)
		st = dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	if (st)
		goto out_free;
	for (int i = 0; i < c.n; i++)
		list[i] = (dim_st_tensor){c.t[i].name, DIM_DT_F32, c.t[i].ndim, c.t[i].shape,
					  c.t[i].data};

	const dim_config *cfg = &m->cfg;
	char v[18][64];
	snprintf(v[16], 64, "%s", cfg->local_critic == DIM_CRITIC_CONCAT ? "concat" : "dot");
	snprintf(v[17], 64, "%d", cfg->concat_hidden);
	snprintf(v[0], 64, "%lld", ts ? ts->step : m->step);
	snprintf(v[1], 64, "%d", ts ? ts->epoch : 0);
	snprintf(v[2], 64, "%lld", ts ? ts->epoch_batch : 0);
	snprintf(v[3], 64, "%" PRIu64, ts ? ts->data_seed : cfg->seed);
	snprintf(v[4], 64, "%d", cfg->in_channels);
	snprintf(v[5], 64, "%d", cfg->y_dim);
	snprintf(v[6], 64, "%d", cfg->mi_units);
	snprintf(v[7], 64, "%d", cfg->global_hidden);
	snprintf(v[8], 64, "%.9g", cfg->alpha);
	snprintf(v[9], 64, "%.9g", cfg->beta);
	snprintf(v[10], 64, "%.9g", cfg->gamma);
	snprintf(v[11], 64, "%.9g", cfg->lr);
	snprintf(v[12], 64, "%.9g", cfg->beta1);
	snprintf(v[13], 64, "%.9g", cfg->beta2);
	snprintf(v[14], 64, "%.9g", cfg->adam_eps);
	snprintf(v[15], 64, "%" PRIu64, cfg->seed);
	dim_st_meta meta[] = {
		{"format", CKPT_FORMAT},
		{"cldim_version", CLDIM_VERSION},
		{"step", v[0]},
		{"epoch", v[1]},
		{"epoch_batch", v[2]},
		{"data_seed", v[3]},
		{"cfg.encoder", cfg->encoder},
		{"cfg.in_channels", v[4]},
		{"cfg.y_dim", v[5]},
		{"cfg.mi_units", v[6]},
		{"cfg.global_hidden", v[7]},
		{"cfg.estimator", dim_mi_name(cfg->estimator)},
		{"cfg.local_critic", v[16]},
		{"cfg.concat_hidden", v[17]},
		{"cfg.alpha", v[8]},
		{"cfg.beta", v[9]},
		{"cfg.gamma", v[10]},
		{"cfg.lr", v[11]},
		{"cfg.beta1", v[12]},
		{"cfg.beta2", v[13]},
		{"cfg.adam_eps", v[14]},
		{"cfg.seed", v[15]},
		{"dataset", ts ? ts->dataset : ""},
		{"dataset_format", ts ? ts->format : ""},
		{"config", ts && ts->config_json[0] ? ts->config_json : "{}"},
	};
	st = dim_st_write(err, path, list, c.n, meta, (int)(sizeof meta / sizeof meta[0]));
out_free:
	for (int i = 0; i < c.n; i++)
		free(c.t[i].data);
	free(c.t);
	free(list);
	return st;
}

static const char *need(const dim_st_file *f, const char *key, const char *path, dim_error *err,
			dim_status *st)
{
	const char *v = dim_st_meta_get(f, key);
	if (!v && !*st)
		*st = dim_fail(err, DIM_ERR_FORMAT, "%s: checkpoint metadata has no '%s'", path, key);
	return v ? v : "0";
}

/* Metadata is checked like tensors: a whole decimal number in range, or the
 * first problem is reported (DIM_ERR_FORMAT naming the file and the key). */
static long long meta_int(const dim_st_file *f, const char *key, long long lo, long long hi,
			  const char *path, dim_error *err, dim_status *st)
{
	const char *v = need(f, key, path, err, st);
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (*st)
		return lo;
	if (end == v || *end || errno || x < lo || x > hi) {
		*st = dim_fail(err, DIM_ERR_FORMAT, "%s: checkpoint metadata '%s' is '%.40s', not an "
			       "integer in [%lld, %lld]", path, key, v, lo, hi);
		return lo;
	}
	return x;
}

static uint64_t meta_u64(const dim_st_file *f, const char *key, const char *path, dim_error *err,
			 dim_status *st)
{
	const char *v = need(f, key, path, err, st);
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*st)
		return 0;
	if (end == v || *end || errno || *v == '-' || *v == '+' || *v == ' ') {
		*st = dim_fail(err, DIM_ERR_FORMAT, "%s: checkpoint metadata '%s' is '%.40s', not an "
			       "unsigned 64-bit integer", path, key, v);
		return 0;
	}
	return x;
}

/* A finite float in [lo, hi] (hi_open: < hi). */
static float meta_float(const dim_st_file *f, const char *key, float lo, float hi, bool hi_open,
			const char *path, dim_error *err, dim_status *st)
{
	const char *v = need(f, key, path, err, st);
	char *end;
	float x = strtof(v, &end);
	if (*st)
		return lo;
	if (end == v || *end || !isfinite(x) || x < lo || x > hi || (hi_open && x == hi)) {
		*st = dim_fail(err, DIM_ERR_FORMAT, "%s: checkpoint metadata '%s' is '%.40s', not a "
			       "number in [%g, %g%c", path, key, v, lo, hi, hi_open ? ')' : ']');
		return lo;
	}
	return x;
}

#define MAX_STEP (1ll << 48)

static void read_state(const dim_st_file *f, const char *path, dim_train_state *ts,
		       dim_error *err, dim_status *st)
{
	memset(ts, 0, sizeof *ts);
	ts->step = meta_int(f, "step", 0, MAX_STEP, path, err, st);
	ts->epoch = (int)meta_int(f, "epoch", 0, 1 << 30, path, err, st);
	ts->epoch_batch = meta_int(f, "epoch_batch", 0, MAX_STEP, path, err, st);
	ts->data_seed = meta_u64(f, "data_seed", path, err, st);
	const char *s = dim_st_meta_get(f, "dataset");
	snprintf(ts->dataset, sizeof ts->dataset, "%s", s ? s : "");
	s = dim_st_meta_get(f, "dataset_format");
	snprintf(ts->format, sizeof ts->format, "%s", s ? s : "");
	s = dim_st_meta_get(f, "config");
	snprintf(ts->config_json, sizeof ts->config_json, "%s", s ? s : "{}");
	/* a file named ckpt-<N>.safetensors (as runs write them) holds step N: a
	 * different step would make --keep prune the wrong files */
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char *end;
	if (!*st && !strncmp(base, "ckpt-", 5) && base[5] >= '0' && base[5] <= '9') {
		long long n = strtoll(base + 5, &end, 10);
		if (!strcmp(end, ".safetensors") && n != ts->step)
			*st = dim_fail(err, DIM_ERR_FORMAT, "%s: checkpoint metadata 'step' is %lld but "
				       "the file name says step %lld", path, ts->step, n);
	}
}

dim_status dim_checkpoint_read_config(const char *path, dim_config *cfg, dim_train_state *ts,
				      dim_error *err)
{
	dim_st_file *f;
	dim_status st = dim_st_load(err, path, &f);
	if (st)
		return st;
	const char *fmt = dim_st_meta_get(f, "format");
	if (!fmt || strcmp(fmt, CKPT_FORMAT)) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: not a cldim DIM checkpoint (format '%s')",
			      path, fmt ? fmt : "missing");
		goto out_close;
	}
	*cfg = dim_config_default();
	const char *enc = need(f, "cfg.encoder", path, err, &st);
	if (!st && (strlen(enc) >= sizeof cfg->encoder || !dim_encoder_input_size(enc)))
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: checkpoint metadata 'cfg.encoder' is '%.40s', "
			      "not an encoder of this build", path, enc);
	snprintf(cfg->encoder, sizeof cfg->encoder, "%s", enc);
	cfg->in_channels = (int)meta_int(f, "cfg.in_channels", 1, 4, path, err, &st);
	cfg->y_dim = (int)meta_int(f, "cfg.y_dim", 1, 65536, path, err, &st);
	cfg->mi_units = (int)meta_int(f, "cfg.mi_units", 1, 65536, path, err, &st);
	cfg->global_hidden = (int)meta_int(f, "cfg.global_hidden", 1, 65536, path, err, &st);
	if (!st && dim_mi_parse(need(f, "cfg.estimator", path, err, &st), &cfg->estimator, err))
		st = dim_fail_prefix(err, "%s: checkpoint metadata 'cfg.estimator': ", path);
	const char *lc = need(f, "cfg.local_critic", path, err, &st);
	if (!st && strcmp(lc, "concat") && strcmp(lc, "dot"))
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: checkpoint metadata 'cfg.local_critic' is "
			      "'%.40s', not dot or concat", path, lc);
	cfg->local_critic = !strcmp(lc, "concat") ? DIM_CRITIC_CONCAT : DIM_CRITIC_DOT;
	cfg->concat_hidden = (int)meta_int(f, "cfg.concat_hidden", 1, 65536, path, err, &st);
	cfg->alpha = meta_float(f, "cfg.alpha", 0, 1e6f, false, path, err, &st);
	cfg->beta = meta_float(f, "cfg.beta", 0, 1e6f, false, path, err, &st);
	cfg->gamma = meta_float(f, "cfg.gamma", 0, 1e6f, false, path, err, &st);
	cfg->lr = meta_float(f, "cfg.lr", 0, 10, false, path, err, &st);
	cfg->beta1 = meta_float(f, "cfg.beta1", 0, 1, true, path, err, &st);
	cfg->beta2 = meta_float(f, "cfg.beta2", 0, 1, true, path, err, &st);
	cfg->adam_eps = meta_float(f, "cfg.adam_eps", 0, 1, false, path, err, &st);
	cfg->seed = meta_u64(f, "cfg.seed", path, err, &st);
	if (ts)
		read_state(f, path, ts, err, &st);
out_close:
	dim_st_close(f);
	return st;
}

/* Values are checked like shapes (issue 16): a non-finite weight, buffer or
 * moment, a negative BatchNorm running variance or a negative Adam second
 * moment is refused naming the file, the tensor and the first bad index,
 * instead of turning every feature into NaN. */
dim_status dim_checkpoint_check_tensor(const char *path, const dim_st_info *t, dim_error *err)
{
	if (t->dtype != DIM_DT_F32)
		return DIM_OK; /* the dtype is checked where it is expected */
	const float *x = t->data;
	size_t n = t->nbytes / sizeof(float), len = strlen(t->name);
	bool nonneg = !strncmp(t->name, "opt.v.", 6) ||
		      (len >= 11 && !strcmp(t->name + len - 11, "running_var"));
	for (size_t i = 0; i < n; i++) {
		float v;
		memcpy(&v, x + i, sizeof v);
		if (!isfinite(v) || (nonneg && v < 0)) {
			size_t bad = 0;
			for (size_t j = i; j < n; j++) {
				memcpy(&v, x + j, sizeof v);
				bad += !isfinite(v) || (nonneg && v < 0);
			}
			memcpy(&v, x + i, sizeof v);
			return dim_fail(err, DIM_ERR_FORMAT, "%s: tensor %s holds %s (%zu of %zu "
					"values, first at flat index %zu): the checkpoint is damaged",
					path, t->name, isnan(v) ? "NaN" : isinf(v) ? "Inf" :
					"a negative variance", bad, n, i);
		}
	}
	return DIM_OK;
}

static dim_status load_tensor(dim_model *m, const dim_st_file *f, const char *path,
			      const char *prefix, const dim_param *p, const dim_tensor *dst)
{
	dim_error *err = dim_ctx_error(m->ctx);
	char name[200];
	int64_t shape[DIM_MAX_DIMS];
	for (int d = 0; d < p->value.ndim; d++)
		shape[d] = p->value.shape[d];
	snprintf(name, sizeof name, "%s%s", prefix, p->name);
	const dim_st_info *info;
	dim_status st = dim_st_expect(err, f, name, DIM_DT_F32, p->value.ndim, shape, &info);
	if (!st)
		st = dim_checkpoint_check_tensor(path, info, err);
	if (st)
		return st;
	return dim_write(m->ctx, dst->buf, 0, info->data, info->nbytes);
}

static dim_status load_set(dim_model *m, const dim_st_file *f, const char *path, dim_params *ps,
			   struct dim_optim *opt)
{
	for (int i = 0; i < ps->count; i++) {
		dim_param *p = ps->items[i];
		dim_status st = load_tensor(m, f, path, "", p, &p->value);
		if (st)
			return st;
		dim_tensor mom[2];
		if (p->trainable &&
		    ((st = dim_optim_state(opt, p, 0, &mom[0])) ||
		     (st = dim_optim_state(opt, p, 1, &mom[1])) ||
		     (st = load_tensor(m, f, path, "opt.m.", p, &mom[0])) ||
		     (st = load_tensor(m, f, path, "opt.v.", p, &mom[1]))))
			return st;
	}
	return DIM_OK;
}

dim_status dim_checkpoint_load(dim_model *m, const char *path, dim_train_state *ts)
{
	dim_error *err = dim_ctx_error(m->ctx);
	dim_st_file *f;
	dim_status st = dim_st_load(err, path, &f);
	if (st)
		return st;
	dim_train_state local;
	read_state(f, path, ts ? ts : &local, err, &st);
	if (!st)
		st = load_set(m, f, path, &m->params, m->opt);
	if (!st)
		st = load_set(m, f, path, &m->prior_params, m->prior_opt);
	if (!st) {
		m->step = (ts ? ts : &local)->step;
		dim_optim_set_steps(m->opt, (long)m->step);
		dim_optim_set_steps(m->prior_opt, (long)m->step);
	}
	dim_st_close(f);
	return st;
}
