/* What a checkpoint holds, read on the host without a device: configuration,
 * training position, parameter counts per network and the optimizer state
 * (see dim_checkpoint_summarize in include/cldim/checkpoint.h).
 *
 * A tensor is trainable when the file stores its Adam moments
 * (opt.m.<name> and opt.v.<name>); anything else is a buffer (BatchNorm
 * running statistics). Networks are told apart by the name prefix the model
 * gives them (host/dim/objective.c). */
#include <string.h>
#include <sys/stat.h>

#include "cldim/checkpoint.h"
#include "cldim/io.h"
#include "dim_internal.h"

static const struct {
	const char *prefix, *group;
} group_of[] = {
	{"encoder.", "encoder"},
	{"local_m.", "local critics"},
	{"local_y.", "local critics"},
	{"local_cc.", "local critics"},
	{"global_critic.", "global critic"},
	{"prior.", "prior"},
};

static const char *const group_names[DIM_CKPT_GROUPS] = {
	"encoder", "local critics", "global critic", "prior", "other",
};

static int group_index(const char *name)
{
	for (size_t i = 0; i < sizeof group_of / sizeof group_of[0]; i++)
		if (!strncmp(name, group_of[i].prefix, strlen(group_of[i].prefix)))
			for (int g = 0; g < DIM_CKPT_GROUPS; g++)
				if (!strcmp(group_names[g], group_of[i].group))
					return g;
	return DIM_CKPT_GROUPS - 1;
}

static size_t numel_of(const dim_st_info *t)
{
	size_t n = 1;
	for (int d = 0; d < t->ndim; d++)
		n *= (size_t)t->shape[d];
	return n;
}

/* An exported encoder: every tensor is the encoder's; BatchNorm running
 * statistics and num_batches_tracked are buffers, the rest parameters. */
static dim_status summarize_encoder(const char *path, dim_checkpoint_summary *out,
				    dim_error *err)
{
	dim_status st = dim_encoder_file_read_config(path, &out->cfg, &out->ts, err);
	if (st)
		return st;
	dim_st_file *f;
	if ((st = dim_st_load(err, path, &f)))
		return st;
	out->encoder_only = 1;
	struct stat sb;
	if (stat(path, &sb) == 0)
		out->file_bytes = (long long)sb.st_size;
	const char *v = dim_st_meta_get(f, "cldim_version");
	snprintf(out->version, sizeof out->version, "%s", v ? v : "unknown");
	dim_checkpoint_group *g = &out->groups[0];
	for (int i = 0; i < dim_st_count(f); i++) {
		const dim_st_info *t = dim_st_at(f, i);
		bool buffer = strstr(t->name, ".running_") || strstr(t->name, ".num_batches_tracked");
		g->tensors++;
		if (buffer) {
			g->buffers += (long long)numel_of(t);
		} else {
			g->params += (long long)numel_of(t);
			g->trainable_tensors++;
		}
	}
	dim_st_close(f);
	return DIM_OK;
}

dim_status dim_checkpoint_summarize(const char *path, dim_checkpoint_summary *out,
				    dim_error *err)
{
	memset(out, 0, sizeof *out);
	for (int g = 0; g < DIM_CKPT_GROUPS; g++)
		out->groups[g].name = group_names[g];
	if (dim_is_encoder_file(path))
		return summarize_encoder(path, out, err);

	/* Checks the format tag and that every cfg.* and position key is there. */
	dim_status st = dim_checkpoint_read_config(path, &out->cfg, &out->ts, err);
	if (st)
		return st;
	dim_st_file *f;
	st = dim_st_load(err, path, &f);
	if (st)
		return st;
	struct stat sb;
	if (stat(path, &sb) == 0)
		out->file_bytes = (long long)sb.st_size;
	const char *v = dim_st_meta_get(f, "cldim_version");
	snprintf(out->version, sizeof out->version, "%s", v ? v : "unknown");

	for (int i = 0; i < dim_st_count(f); i++) {
		const dim_st_info *t = dim_st_at(f, i);
		size_t n = numel_of(t);
		if ((st = dim_checkpoint_check_tensor(path, t, err)))
			goto out_close;
		bool is_m = !strncmp(t->name, "opt.m.", 6), is_v = !strncmp(t->name, "opt.v.", 6);
		if (is_m || is_v) {
			dim_checkpoint_group *g = &out->groups[group_index(t->name + 6)];
			g->opt_values += (long long)n;
			if (!dim_st_find(f, t->name + 6)) {
				st = dim_fail(err, DIM_ERR_FORMAT, "%s: optimizer state %s has no "
					      "parameter %s", path, t->name, t->name + 6);
				goto out_close;
			}
			continue;
		}
		if (t->dtype != DIM_DT_F32) {
			st = dim_fail(err, DIM_ERR_FORMAT, "%s: tensor %s is %s, checkpoints hold F32",
				      path, t->name, dim_dtype_name(t->dtype));
			goto out_close;
		}
		char mname[256], vname[256];
		snprintf(mname, sizeof mname, "opt.m.%s", t->name);
		snprintf(vname, sizeof vname, "opt.v.%s", t->name);
		bool has_m = dim_st_find(f, mname) != NULL, has_v = dim_st_find(f, vname) != NULL;
		dim_checkpoint_group *g = &out->groups[group_index(t->name)];
		g->tensors++;
		if (has_m || has_v) {
			g->params += (long long)n;
			g->trainable_tensors++;
			if (has_m && has_v)
				g->opt_tensors++;
		} else {
			g->buffers += (long long)n;
		}
	}
out_close:
	dim_st_close(f);
	return st;
}
