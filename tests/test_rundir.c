/* cldim-test: labels=unit timeout=60 */
/* The run directory (include/cldim/rundir.h) and the training presets
 * (include/cldim/train.h), on the host: a run's files told from others and
 * removed alone; a missing checkpoint path or a directory with nothing to
 * resume is an error naming the concept, never a command-line flag; the
 * metrics log is whole lines, cut back to the resumed step (a half line and
 * the later steps go), and plotted; every dataset format has a preset. */
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/io.h"
#include "cldim/train.h"
#include "testutil.h"

static char *join(const char *dir, const char *name)
{
	static char buf[8][1024];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static int exists(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0;
}

static void test_run_files(const char *root)
{
	dim_error err = {0};
	char dir[1024];
	snprintf(dir, sizeof dir, "%s", join(root, "a/b/run"));
	CHECK_OK_ERR(&err, dim_rundir_prepare(dir, &err));
	CHECK(exists(dir) && !dim_rundir_holds_run(dir));
	t_write_file(join(dir, "notes.txt"), "x", 1);
	t_write_file(join(dir, "ckpt-.safetensors"), "x", 1); /* no step: not a checkpoint */
	CHECK(!dim_rundir_holds_run(dir));
	t_write_file(join(dir, "metrics.jsonl"), "{}\n", 3);
	CHECK(dim_rundir_holds_run(dir));
	t_write_file(join(dir, "ckpt-00000004.safetensors"), "x", 1);
	t_write_file(join(dir, "latest"), "ckpt-00000004.safetensors\n", 26);
	t_write_file(join(dir, "skipped.txt"), "1\tbad\n", 6);
	CHECK(dim_rundir_clear(dir) == 0);
	CHECK(!dim_rundir_holds_run(dir) && exists(join(dir, "notes.txt")) &&
	      exists(join(dir, "ckpt-.safetensors")) && !exists(join(dir, "latest")) &&
	      !exists(join(dir, "ckpt-00000004.safetensors")));
	/* a file in the way of the directory */
	t_write_file(join(root, "file"), "x", 1);
	CHECK(dim_rundir_prepare(join(root, "file/run"), &err) == DIM_ERR_IO);
	CHECK_MSG(strstr(err.msg, "file/run") && !strstr(err.msg, "--"), "%s", err.msg);
}

static void test_resolve(const char *root)
{
	dim_error err = {0};
	char path[1200];
	CHECK(dim_resolve_checkpoint(join(root, "missing"), path, sizeof path, &err) == DIM_ERR_IO);
	CHECK_MSG(strstr(err.msg, "checkpoint path") && strstr(err.msg, "missing") &&
			  strstr(err.msg, "no such file") && !strstr(err.msg, "--"),
		  "%s", err.msg);
	/* a directory with nothing that loads */
	char dir[1024];
	snprintf(dir, sizeof dir, "%s", join(root, "empty"));
	mkdir(dir, 0755);
	dim_error_clear(&err);
	CHECK(dim_resolve_checkpoint(dir, path, sizeof path, &err) != DIM_OK);
	CHECK_MSG(strstr(err.msg, "no checkpoint of the directory loads") &&
			  strstr(err.msg, "run directory") && !strstr(err.msg, "--"),
		  "%s", err.msg);
	/* a file is taken as it is */
	t_write_file(join(root, "c.safetensors"), "x", 1);
	CHECK(dim_resolve_checkpoint(join(root, "c.safetensors"), path, sizeof path, &err) ==
		      DIM_OK &&
	      !strcmp(path, join(root, "c.safetensors")));
}

static void log_steps(dim_run_log *l, long long from, long long to)
{
	for (long long s = from; s <= to; s++) {
		dim_train_progress p = {.step = s, .total_steps = to, .images_per_s = 10.0 * s,
					.elapsed_s = (double)s};
		p.m.local = 0.5f;
		p.m.global = NAN; /* absent terms are left out of the line */
		p.m.prior_enc = p.m.prior_disc = p.m.total = p.m.mi_local = p.m.mi_global = 0.25f;
		dim_run_log_step(l, &p, true);
	}
}

static void test_metrics(const char *root)
{
	dim_error err = {0};
	char dir[1024];
	snprintf(dir, sizeof dir, "%s", join(root, "m"));
	CHECK_OK_ERR(&err, dim_rundir_prepare(dir, &err));
	char mpath[1200];
	snprintf(mpath, sizeof mpath, "%s", join(dir, "metrics.jsonl"));
	t_write_file(mpath, "old\n", 4);

	dim_run_log *l = NULL;
	CHECK_OK_ERR(&err, dim_run_log_open(&l, dir, -1, &err)); /* fresh: truncated */
	log_steps(l, 1, 5);
	dim_run_log_sync(l);
	dim_run_log_plot(l);
	dim_run_log_close(l);
	CHECK_MSG(t_count_lines(mpath) == 5, "%d lines", t_count_lines(mpath));
	CHECK(exists(join(dir, "metrics.svg")));
	void *data = NULL;
	size_t size = 0;
	CHECK_OK_ERR(&err, dim_read_file(&err, mpath, &data, &size));
	CHECK(data && !strncmp(data, "{\"step\": 1, \"epoch\": 1,", 23) &&
	      !strstr(data, "\"global\"") && strstr(data, "\"local\": 0.5"));
	free(data);

	/* a kill left half a line; the run resumes from step 3's checkpoint */
	FILE *f = fopen(mpath, "a");
	fputs("{\"step\": 6, \"ep", f);
	fclose(f);
	CHECK_OK_ERR(&err, dim_run_log_open(&l, dir, 3, &err));
	log_steps(l, 4, 4);
	dim_run_log_close(l);
	CHECK_MSG(t_count_lines(mpath) == 4, "%d lines", t_count_lines(mpath));
	CHECK_OK_ERR(&err, dim_read_file(&err, mpath, &data, &size));
	CHECK(data && strstr(data, "{\"step\": 3,") && strstr(data, "{\"step\": 4,") &&
	      !strstr(data, "{\"step\": 5,") && !strstr(data, "{\"step\": 6,"));
	free(data);
}

static void test_presets(void)
{
	/* every format the data layer opens has a preset */
	char formats[256];
	snprintf(formats, sizeof formats, "%s", dim_dataset_formats());
	for (char *save, *fmt = strtok_r(formats, " ", &save); fmt;
	     fmt = strtok_r(NULL, " ", &save)) {
		const dim_train_preset *p = dim_train_preset_for(fmt);
		CHECK_MSG(p && !strcmp(p->format, fmt) && dim_encoder_input_size(p->encoder) ==
								   p->size &&
				  p->epochs > 0 && p->mi_units > 0 && p->batch >= 2,
			  "format %s", fmt);
	}
	const dim_train_preset *c = dim_train_preset_for("cifar10");
	CHECK(c && !strcmp(c->encoder, "dcgan32") && c->channels == 3 && c->epochs == 1000 &&
	      c->mi_units == 2048 && c->batch == 64);
	const dim_train_preset *s = dim_train_preset_for("stl10");
	CHECK(s && !strcmp(s->split, "train+unlabeled") && s->epochs == 200);
	const dim_train_preset *m = dim_train_preset_for("fashion-mnist");
	CHECK(m && !strcmp(m->encoder, "basic28") && m->channels == 1 && m->mi_units == 512);
	CHECK(dim_train_preset_for("nope") == NULL && dim_train_preset_for(NULL) == NULL);
	size_t n = 0;
	CHECK(dim_train_presets(&n) && n >= 9);
}

int main(void)
{
	char *root = t_tmpdir("rundir");
	test_run_files(root);
	test_resolve(root);
	test_metrics(root);
	test_presets();
	if (!t_failures)
		t_rmtree(root);
	free(root);
	return T_RESULT();
}
