/* A run directory's checkpoints: naming, saving with pruning, finding the
 * checkpoint to resume from, and telling a run's files from others (see
 * include/cldim/rundir.h). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cldim/io.h"
#include "cldim/rundir.h"

#define CKPT_PREFIX "ckpt-"
#define CKPT_SUFFIX ".safetensors"

static long long ckpt_step(const char *name)
{
	size_t lp = strlen(CKPT_PREFIX), ls = strlen(CKPT_SUFFIX), n = strlen(name);
	if (n <= lp + ls || strncmp(name, CKPT_PREFIX, lp) || strcmp(name + n - ls, CKPT_SUFFIX))
		return -1;
	char *end;
	long long s = strtoll(name + lp, &end, 10);
	return end == name + n - ls ? s : -1;
}

/* The checkpoint named by DIR/latest, checked as a load would check it
 * (metadata, structure, values); DIM_OK with path filled in. */
static dim_status latest_of(const char *dir, char *path, size_t n, dim_error *err)
{
	char latest[1200], name[512] = "";
	struct stat st;
	snprintf(latest, sizeof latest, "%s/latest", dir);
	FILE *f = fopen(latest, "r");
	if (!f)
		return dim_fail(err, DIM_ERR_IO, "run directory %s has no 'latest' file "
				"(not a cldim run directory, or no checkpoint was written)", dir);
	if (!fgets(name, sizeof name, f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\r\n")] = '\0';
	if (!name[0] || strchr(name, '/'))
		return dim_fail(err, DIM_ERR_FORMAT, "%s: malformed", latest);
	snprintf(path, n, "%s/%s", dir, name);
	if (stat(path, &st) != 0)
		return dim_fail(err, DIM_ERR_IO, "%s names %s, which does not exist", latest, path);
	dim_checkpoint_summary sum;
	return dim_checkpoint_summarize(path, &sum, err);
}

/* The newest ckpt-<step>.safetensors of dir that loads, other than `not`. */
static bool newest_loadable(const char *dir, const char *not, char *path, size_t n)
{
	long long best = -1;
	char cand[1200];
	for (;;) {
		long long next = -1;
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			long long s = ckpt_step(e->d_name);
			if (s > next && (best < 0 || s < best))
				next = s;
		}
		if (d)
			closedir(d);
		if (next < 0)
			return false;
		best = next;
		snprintf(cand, sizeof cand, "%s/" CKPT_PREFIX "%08lld" CKPT_SUFFIX, dir, next);
		dim_error e2 = {0};
		dim_checkpoint_summary sum;
		if (strcmp(cand, not) && !dim_checkpoint_summarize(cand, &sum, &e2)) {
			snprintf(path, n, "%s", cand);
			return true;
		}
	}
}

dim_status dim_resolve_checkpoint(const char *arg, char *path, size_t n, dim_error *err)
{
	struct stat st;
	if (!arg || stat(arg, &st) != 0)
		return dim_fail(err, DIM_ERR_IO, "checkpoint path %s: no such file or directory (a "
				"missing path is an error, never a fresh start)",
				arg ? arg : "(null)");
	if (!S_ISDIR(st.st_mode)) {
		snprintf(path, n, "%s", arg);
		return DIM_OK;
	}
	path[0] = '\0';
	dim_status rc = latest_of(arg, path, n, err);
	if (!rc)
		return DIM_OK;
	/* a damaged or missing latest checkpoint: the newest one that loads */
	char bad[1200], why[DIM_ERROR_MAX];
	snprintf(bad, sizeof bad, "%s", path);
	snprintf(why, sizeof why, "%s", dim_error_text(err));
	if (!newest_loadable(arg, bad, path, n))
		return dim_fail_prefix(err, "%s: no checkpoint of the directory loads; ", arg);
	dim_log(DIM_LOG_WARN, "%s; using %s instead, the newest checkpoint in %s that loads",
		why, path, arg);
	dim_error_clear(err);
	return DIM_OK;
}

/* Delete all but the newest `keep` checkpoints of the run directory. */
static void prune(const char *dir, int keep)
{
	long long steps[4096];
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 4096) {
		long long s = ckpt_step(e->d_name);
		if (s >= 0)
			steps[n++] = s;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < n; i++) {
		int newer = 0;
		for (int j = 0; j < n; j++)
			newer += steps[j] > steps[i];
		if (newer >= keep) {
			char p[1200];
			snprintf(p, sizeof p, "%s/" CKPT_PREFIX "%08lld" CKPT_SUFFIX, dir, steps[i]);
			remove(p);
		}
	}
}

dim_status dim_rundir_save(const char *dir, dim_model *m, const dim_train_state *ts, int keep,
			   char *written, size_t wn)
{
	dim_error *err = dim_ctx_error(dim_model_params(m)->ctx);
	char name[64], path[1200], latest[1200];
	snprintf(name, sizeof name, CKPT_PREFIX "%08lld" CKPT_SUFFIX, ts->step);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	dim_status st = dim_checkpoint_save(m, ts, path);
	if (st)
		return st;
	snprintf(latest, sizeof latest, "%s/latest", dir);
	char line[80];
	snprintf(line, sizeof line, "%s\n", name);
	st = dim_write_file_atomic(err, latest, line, strlen(line));
	if (st)
		return st;
	prune(dir, keep > 0 ? keep : 1);
	if (written)
		snprintf(written, wn, "%s", path);
	dim_log(DIM_LOG_INFO, "checkpoint %s", path);
	return DIM_OK;
}

dim_status dim_rundir_prepare(const char *dir, dim_error *err)
{
	if (dim_mkdir_p(dir))
		return dim_fail(err, DIM_ERR_IO, "cannot create output directory %s: %s", dir,
				strerror(errno));
	int stale = dim_tmp_clean_stale(dir);
	if (stale)
		dim_log(DIM_LOG_INFO, "removed %d temporary file(s) of killed runs from %s", stale,
			dir);
	return DIM_OK;
}

/* Files of a run directory: checkpoints, "latest", the metrics, skipped.txt. */
static bool run_file(const char *name)
{
	size_t n = strlen(name), lp = strlen(CKPT_PREFIX), ls = strlen(CKPT_SUFFIX);
	return !strcmp(name, "latest") || !strcmp(name, "metrics.jsonl") ||
	       !strcmp(name, "metrics.svg") || !strcmp(name, "skipped.txt") ||
	       (n > lp + ls && !strncmp(name, CKPT_PREFIX, lp) &&
		!strcmp(name + n - ls, CKPT_SUFFIX));
}

/* How many run files dir holds; with remove set, delete them (only those). */
static int run_files(const char *dir, bool remove_them, int *failed)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (!run_file(e->d_name))
			continue;
		found++;
		if (remove_them) {
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			if (unlink(p) && errno != ENOENT) {
				dim_log(DIM_LOG_WARN, "cannot remove %s: %s", p, strerror(errno));
				++*failed;
			}
		}
	}
	closedir(d);
	return found;
}

bool dim_rundir_holds_run(const char *dir)
{
	int failed = 0;
	return run_files(dir, false, &failed) > 0;
}

int dim_rundir_clear(const char *dir)
{
	int failed = 0;
	run_files(dir, true, &failed);
	return failed;
}
