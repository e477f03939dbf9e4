/* Checkpoints of a DIM model (see include/cldim/checkpoint.h).
 *
 * File contents: every parameter and buffer of both sets under its own name,
 * the Adam moments as opt.m.<name> / opt.v.<name>, and string metadata:
 * format, cldim version, config fields (cfg.*), the training position
 * (step, epoch, epoch_batch, data_seed), dataset and the full option JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/checkpoint.h"
#include "cldim/io.h"
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

static void read_state(const dim_st_file *f, const char *path, dim_train_state *ts,
		       dim_error *err, dim_status *st)
{
	memset(ts, 0, sizeof *ts);
	ts->step = strtoll(need(f, "step", path, err, st), NULL, 10);
	ts->epoch = (int)strtol(need(f, "epoch", path, err, st), NULL, 10);
	ts->epoch_batch = strtoll(need(f, "epoch_batch", path, err, st), NULL, 10);
	ts->data_seed = strtoull(need(f, "data_seed", path, err, st), NULL, 10);
	const char *s = dim_st_meta_get(f, "dataset");
	snprintf(ts->dataset, sizeof ts->dataset, "%s", s ? s : "");
	s = dim_st_meta_get(f, "dataset_format");
	snprintf(ts->format, sizeof ts->format, "%s", s ? s : "");
	s = dim_st_meta_get(f, "config");
	snprintf(ts->config_json, sizeof ts->config_json, "%s", s ? s : "{}");
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
	snprintf(cfg->encoder, sizeof cfg->encoder, "%s", need(f, "cfg.encoder", path, err, &st));
	cfg->in_channels = atoi(need(f, "cfg.in_channels", path, err, &st));
	cfg->y_dim = atoi(need(f, "cfg.y_dim", path, err, &st));
	cfg->mi_units = atoi(need(f, "cfg.mi_units", path, err, &st));
	cfg->global_hidden = atoi(need(f, "cfg.global_hidden", path, err, &st));
	if (!st && dim_mi_parse(need(f, "cfg.estimator", path, err, &st), &cfg->estimator, err))
		st = dim_fail_prefix(err, "%s: ", path);
	const char *lc = need(f, "cfg.local_critic", path, err, &st);
	cfg->local_critic = !strcmp(lc, "concat") ? DIM_CRITIC_CONCAT : DIM_CRITIC_DOT;
	cfg->concat_hidden = atoi(need(f, "cfg.concat_hidden", path, err, &st));
	cfg->alpha = strtof(need(f, "cfg.alpha", path, err, &st), NULL);
	cfg->beta = strtof(need(f, "cfg.beta", path, err, &st), NULL);
	cfg->gamma = strtof(need(f, "cfg.gamma", path, err, &st), NULL);
	cfg->lr = strtof(need(f, "cfg.lr", path, err, &st), NULL);
	cfg->beta1 = strtof(need(f, "cfg.beta1", path, err, &st), NULL);
	cfg->beta2 = strtof(need(f, "cfg.beta2", path, err, &st), NULL);
	cfg->adam_eps = strtof(need(f, "cfg.adam_eps", path, err, &st), NULL);
	cfg->seed = strtoull(need(f, "cfg.seed", path, err, &st), NULL, 10);
	if (ts)
		read_state(f, path, ts, err, &st);
out_close:
	dim_st_close(f);
	return st;
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
	st = load_set(m, f, path, &m->params, m->opt);
	if (!st)
		st = load_set(m, f, path, &m->prior_params, m->prior_opt);
	dim_train_state local;
	read_state(f, path, ts ? ts : &local, err, &st);
	if (!st) {
		m->step = (ts ? ts : &local)->step;
		dim_optim_set_steps(m->opt, (long)m->step);
		dim_optim_set_steps(m->prior_opt, (long)m->step);
	}
	dim_st_close(f);
	return st;
}
