/* cldim-test: labels=opencl;cli;train timeout=300 */
/* `cldim train --resume` continues exactly (same device, same seed):
 *
 *   A  train 12 steps uninterrupted (checkpoint every 2);
 *   B  train 6 steps (saved at the end), then --resume B to step 12;
 *   C  train 12 steps, SIGKILL it as soon as its first checkpoint exists,
 *      then --resume C to step 12.
 *
 * With --limit 128 and --batch 16 an epoch is 8 steps, so B resumes in the
 * middle of epoch 1 and crosses into epoch 2 after the resume. B's losses
 * for steps 7..12 (metrics.jsonl) and the final checkpoints of B and C
 * (every parameter, buffer and Adam moment, read with dim_st_load) must equal
 * A's bit for bit. The resumed runs give only --resume and --steps: batch,
 * limit and the rest come from the checkpoint's stored options.
 * And: --resume of a missing path is an error, not a fresh start. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cldim/io.h"
#include "testutil.h"

#define DATA "/usr/share/datasets/fashion-mnist"
#define COMMON "--limit 128 --batch 16 --mi-units 64 --seed 7 --ckpt-every 2 --progress none"
#define N 12

static const char *cli;

static int train(const char *args, char *out, size_t n)
{
	char cmd[3000];
	snprintf(cmd, sizeof cmd, "'%s' train %s", cli, args);
	int rc = t_run(cmd, out, n);
	if (rc)
		fprintf(stderr, "%s -> %d\n%s\n", cmd, rc, out);
	return rc;
}

/* The loss terms of one step of a metrics.jsonl, as text (exact compare). */
static int step_line(const char *path, int step, char *line, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char want[64], buf[2048];
	snprintf(want, sizeof want, "{\"step\": %d,", step);
	int found = 0;
	while (fgets(buf, sizeof buf, f))
		if (!strncmp(buf, want, strlen(want))) {
			/* drop time and images/s, keep everything from "local" on */
			const char *l = strstr(buf, "\"local\"");
			snprintf(line, n, "%s", l ? l : "");
			found = 1; /* the last line for the step wins (a resumed run appends) */
		}
	fclose(f);
	return found;
}

/* Every tensor of b equals a's, bit for bit. */
static void same_tensors(const char *a, const char *b)
{
	dim_error err = {0};
	dim_st_file *fa = NULL, *fb = NULL;
	CHECK_OK_ERR(&err, dim_st_load(&err, a, &fa));
	CHECK_OK_ERR(&err, dim_st_load(&err, b, &fb));
	if (!fa || !fb)
		goto out_close;
	CHECK_MSG(dim_st_count(fa) == dim_st_count(fb), "%d vs %d tensors", dim_st_count(fa),
		  dim_st_count(fb));
	int differ = 0;
	for (int i = 0; i < dim_st_count(fa); i++) {
		const dim_st_info *ta = dim_st_at(fa, i), *tb = dim_st_find(fb, ta->name);
		if (!tb || tb->nbytes != ta->nbytes) {
			CHECK_MSG(0, "%s: tensor %s missing or resized in %s", a, ta->name, b);
			continue;
		}
		if (memcmp(ta->data, tb->data, ta->nbytes)) {
			const float *x = ta->data, *y = tb->data;
			size_t k = 0;
			while (k < ta->nbytes / 4 && x[k] == y[k])
				k++;
			if (differ++ < 5)
				fprintf(stderr, "  %s[%zu]: %.9g vs %.9g\n", ta->name, k, x[k], y[k]);
		}
	}
	CHECK_MSG(differ == 0, "%d tensors differ between %s and %s", differ, a, b);
	for (const char *k = "step"; k; k = NULL)
		CHECK(!strcmp(dim_st_meta_get(fa, k), dim_st_meta_get(fb, k)));
out_close:
	dim_st_close(fa);
	dim_st_close(fb);
}

static int exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* Start `cldim train args` without a shell (so a signal reaches cldim), with
 * stdout and stderr to log. */
static pid_t spawn_train(char *const *argv, const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(log, "w", stderr);
		if (!f || dup2(fileno(stderr), STDOUT_FILENO) < 0)
			_exit(127);
		execv(cli, argv);
		_exit(127);
	}
	return pid;
}

int main(void)
{
	cli = getenv("CLDIM_CLI");
	if (!cli) {
		fprintf(stderr, "skipped: CLDIM_CLI not set\n");
		return 77;
	}
	if (!exists(DATA "/train-images-idx3-ubyte.gz")) {
		fprintf(stderr, "skipped: Fashion-MNIST not installed at " DATA "\n");
		return 77;
	}
	static char out[1 << 16];
	char *dir = t_tmpdir("resume");
	char a[1024], b[1024], c[1024], args[2048], p1[1200], p2[1200];
	snprintf(a, sizeof a, "%s/a", dir);
	snprintf(b, sizeof b, "%s/b", dir);
	snprintf(c, sizeof c, "%s/c", dir);

	/* A: uninterrupted */
	snprintf(args, sizeof args, "--steps %d --out %s " COMMON, N, a);
	CHECK(train(args, out, sizeof out) == 0);

	/* B: half, then resume */
	snprintf(args, sizeof args, "--steps %d --out %s " COMMON, N / 2, b);
	CHECK(train(args, out, sizeof out) == 0);
	snprintf(args, sizeof args, "--resume %s --steps %d --progress none", b, N);
	CHECK(train(args, out, sizeof out) == 0);
	char la[512], lb[512];
	for (int s = N / 2 + 1; s <= N; s++) {
		snprintf(p1, sizeof p1, "%s/metrics.jsonl", a);
		snprintf(p2, sizeof p2, "%s/metrics.jsonl", b);
		int ok = step_line(p1, s, la, sizeof la) && step_line(p2, s, lb, sizeof lb);
		CHECK_MSG(ok && !strcmp(la, lb), "step %d:\n  uninterrupted %s  resumed       %s", s,
			  ok ? la : "?\n", ok ? lb : "?\n");
	}
	snprintf(p1, sizeof p1, "%s/ckpt-%08d.safetensors", a, N);
	snprintf(p2, sizeof p2, "%s/ckpt-%08d.safetensors", b, N);
	same_tensors(p1, p2);

	/* C: SIGKILL after the first checkpoint, then resume */
	char log[1200], latest[1200], steps[16];
	snprintf(log, sizeof log, "%s/c.log", dir);
	snprintf(latest, sizeof latest, "%s/latest", c);
	snprintf(steps, sizeof steps, "%d", N);
	char *argv[] = {"cldim", "train", "--steps", steps, "--out", c, "--limit", "128",
			"--batch", "16", "--mi-units", "64", "--seed", "7", "--ckpt-every", "2",
			"--progress", "none", NULL};
	pid_t pid = spawn_train(argv, log);
	CHECK(pid > 0);
	int killed = 0, status = 0;
	for (int i = 0; pid > 0 && i < 60 * 500; i++) { /* at most a minute */
		if (exists(latest)) {
			killed = kill(pid, SIGKILL) == 0;
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK_MSG(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the run was not killed mid-way (status %d); see %s", status, log);
	snprintf(args, sizeof args, "--resume %s --steps %d --progress none", c, N);
	CHECK(train(args, out, sizeof out) == 0);
	snprintf(p2, sizeof p2, "%s/ckpt-%08d.safetensors", c, N);
	same_tensors(p1, p2);

	/* a missing resume path is an error, and nothing is trained */
	snprintf(args, sizeof args, "'%s' train --resume %s/nonexistent --steps 2 --out %s/d", cli,
		 dir, dir);
	int rc = t_run(args, out, sizeof out);
	snprintf(p1, sizeof p1, "%s/d", dir);
	CHECK_MSG(rc != 0 && strstr(out, "nonexistent") && strstr(out, "no such file") &&
		  strstr(out, "--resume ") && !strstr(out, "checkpoint path") && !exists(p1),
		  "rc %d: %s", rc, out);

	if (!t_failures)
		t_rmtree(dir);
	else
		fprintf(stderr, "run directories kept in %s\n", dir);
	free(dir);
	return T_RESULT();
}
