/* A run directory's metrics: metrics.jsonl, cut back on resume, and the
 * end-of-run plot metrics.svg (see include/cldim/rundir.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cldim/io.h"
#include "cldim/plot.h"
#include "cldim/train.h"

/* Per-step history for the end-of-run plot: step, the loss terms, the
 * estimator's MI bounds, images/s. */
#define HIST_COLS 8

struct dim_run_log {
	char dir[1024];
	int fd;           /* metrics.jsonl, O_APPEND; -1 when it could not be opened */
	double *t;        /* history [n][HIST_COLS] */
	size_t n, cap;
};

/* Keep the whole lines of a metrics log whose step is <= last (the resumed
 * checkpoint's step): a half line left by a kill and the steps after the
 * checkpoint (they are run again) go, so each step appears once. */
static dim_status metrics_trim(const char *path, long long last, dim_error *err)
{
	void *data;
	size_t size, kept = 0, dropped = 0;
	if (access(path, F_OK) != 0)
		return DIM_OK;
	dim_status st = dim_read_file(err, path, &data, &size);
	if (st)
		return st;
	char *buf = data;
	for (char *line = buf; line < buf + size;) {
		char *nl = memchr(line, '\n', (size_t)(buf + size - line));
		if (!nl) { /* a half line */
			dropped++;
			break;
		}
		size_t len = (size_t)(nl - line) + 1;
		char *end;
		long long s = -1;
		if (!strncmp(line, "{\"step\": ", 9)) {
			s = strtoll(line + 9, &end, 10);
			if (end == line + 9 || *end != ',' || nl[-1] != '}')
				s = -1;
		}
		if (s >= 1 && s <= last) {
			memmove(buf + kept, line, len);
			kept += len;
		} else {
			dropped++;
		}
		line = nl + 1;
	}
	if (dropped) {
		st = dim_write_file_atomic(err, path, buf, kept);
		if (!st)
			dim_log(DIM_LOG_INFO, "%s: %zu line(s) after step %lld (the checkpoint's) or "
				"incomplete removed", path, dropped, last);
	}
	free(data);
	return st;
}

dim_status dim_run_log_open(dim_run_log **out, const char *dir, long long resume_step,
			    dim_error *err)
{
	*out = NULL;
	dim_run_log *l = calloc(1, sizeof *l);
	if (!l)
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory (metrics log)");
	snprintf(l->dir, sizeof l->dir, "%s", dir);
	char path[1200];
	snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
	dim_status st = resume_step >= 0 ? metrics_trim(path, resume_step, err) : DIM_OK;
	if (st) {
		free(l);
		return st;
	}
	l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
			   (resume_step >= 0 ? 0 : O_TRUNC), 0666);
	if (l->fd < 0)
		dim_log(DIM_LOG_WARN, "cannot write %s: %s", path, strerror(errno));
	*out = l;
	return DIM_OK;
}

/* One JSON object per step. Each line is formatted whole and written with
 * one write(2) on an O_APPEND descriptor (no stdio buffer), so a kill at any
 * moment leaves whole lines only. */
static void write_line(int fd, const dim_train_progress *p)
{
	if (fd < 0)
		return;
	/* epochs count from 1, as in the progress bar and cldim info */
	char line[640];
	size_t n = (size_t)snprintf(line, sizeof line, "{\"step\": %lld, \"epoch\": %d, "
				    "\"time_s\": %.3f, \"images_per_s\": %.2f", p->step, p->epoch + 1,
				    p->elapsed_s, p->images_per_s);
	const float v[] = {p->m.local, p->m.global, p->m.prior_enc, p->m.prior_disc, p->m.total,
			   p->m.mi_local, p->m.mi_global};
	static const char *const k[] = {"local", "global", "prior_enc", "prior_disc", "total",
					"mi_local", "mi_global"};
	for (int i = 0; i < 7; i++)
		if (isfinite(v[i]) && n < sizeof line)
			n += (size_t)snprintf(line + n, sizeof line - n, ", \"%s\": %.6g", k[i], v[i]);
	if (n + 3 > sizeof line)
		return; /* cannot happen with these fields; never write a cut line */
	n += (size_t)snprintf(line + n, sizeof line - n, "}\n");
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, line + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			dim_log(DIM_LOG_WARN, "metrics.jsonl: write failed at step %lld: %s", p->step,
				w < 0 ? strerror(errno) : "no progress");
			return;
		}
		done += (size_t)w;
	}
}

static void history_add(dim_run_log *h, const dim_train_progress *p, bool prior)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		double *g = realloc(h->t, cap * HIST_COLS * sizeof *g);
		if (!g)
			return;
		h->t = g;
		h->cap = cap;
	}
	double *r = h->t + h->n * HIST_COLS;
	r[0] = (double)p->step;
	r[1] = p->m.local;
	r[2] = p->m.global;
	r[3] = prior ? p->m.prior_enc : NAN; /* gamma = 0: no prior term */
	r[4] = prior ? p->m.prior_disc : NAN;
	r[5] = p->m.mi_local;
	r[6] = p->m.mi_global;
	r[7] = p->images_per_s > 0 ? p->images_per_s : NAN; /* none measured at step 1 */
	h->n++;
}

void dim_run_log_step(dim_run_log *l, const dim_train_progress *p, bool prior)
{
	if (!l)
		return;
	write_line(l->fd, p);
	history_add(l, p, prior);
}

void dim_run_log_sync(dim_run_log *l)
{
	if (l && l->fd >= 0)
		fsync(l->fd);
}

void dim_run_log_plot(dim_run_log *l)
{
	if (!l || !l->n)
		return;
	char path[1200];
	snprintf(path, sizeof path, "%s/metrics.svg", l->dir);
	static const char *const names[] = {"local MI loss", "global MI loss", "prior (encoder)",
					    "prior (discriminator)", "local MI bound (nats)",
					    "global MI bound (nats)", "images/s"};
	dim_error err = {0};
	if (dim_plot_svg(path, "cldim train: loss terms, MI bounds and throughput by step", l->t,
			 l->n, HIST_COLS, names, 6, &err))
		dim_log(DIM_LOG_WARN, "%s", dim_error_text(&err));
}

void dim_run_log_close(dim_run_log *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->t);
	free(l);
}

void dim_rundir_write_skipped(const char *dir, dim_loader *ld)
{
	size_t cap = dim_loader_bad_count(ld);
	if (!cap)
		return;
	/* one consistent copy: workers may still insert finds (in dataset order) */
	size_t *items = malloc(cap * sizeof *items);
	const char **msgs = malloc(cap * sizeof *msgs);
	char path[1200], *text = NULL;
	size_t len = 0;
	FILE *f = items && msgs ? open_memstream(&text, &len) : NULL;
	if (!f) {
		free(items);
		free(msgs);
		return;
	}
	size_t n = dim_loader_bad_snapshot(ld, items, msgs, cap);
	if (n > cap)
		n = cap;
	for (size_t k = 0; k < n; k++)
		fprintf(f, "%zu\t%s\n", items[k], msgs[k]);
	free(items);
	free(msgs);
	fclose(f);
	snprintf(path, sizeof path, "%s/skipped.txt", dir);
	dim_error err = {0};
	if (dim_write_file_atomic(&err, path, text, len))
		dim_log(DIM_LOG_WARN, "%s", dim_error_text(&err));
	else
		dim_log(DIM_LOG_WARN, "%zu unreadable image(s) skipped, listed in %s", n, path);
	free(text);
}
