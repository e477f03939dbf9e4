/* cldim-test: labels=mpi;opencl;cli;train timeout=600 */
/* `mpiexec -n 2 cldim train` against one process with the same semantics:
 *
 *   A  mpiexec -n 2 cldim train --batch 8   (4 images per rank, 6 steps,
 *      an epoch of 4 steps, checkpoint every 3)
 *   B  cldim train --batch 8 --accum 2      (2 micro-batches of 4 per step)
 *
 * Rank r's shard is micro-batch r's (loader sharding), BN statistics and
 * negatives are per rank / per micro-batch, so every trainable parameter and
 * Adam moment of A's and B's step-6 checkpoints must agree to fp32
 * tolerance (BN running averages are excluded: A's are rank 0's, updated on
 * its shard only; B's saw both micro-batches).
 *   C  A's step-3 checkpoint resumed by one process (--accum 2) to step 6
 *      must agree with B's step 6 as well.
 *   D  a rank that fails (rank 1 given a device that does not exist) ends
 *      the job with a message naming it, instead of leaving rank 0 waiting;
 *   E  SIGKILL of rank 1 mid-run ends the job within seconds. */
#include <dirent.h>
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
#define COMMON "--limit 32 --batch 8 --mi-units 64 --seed 5 --ckpt-every 3 --progress none"

static const char *cli, *mpiexec;

static int exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* Trainable parameters and Adam moments of b agree with a's. */
static void close_tensors(const char *a, const char *b)
{
	dim_error err = {0};
	dim_st_file *fa = NULL, *fb = NULL;
	CHECK_OK_ERR(&err, dim_st_load(&err, a, &fa));
	CHECK_OK_ERR(&err, dim_st_load(&err, b, &fb));
	if (!fa || !fb)
		goto out_close;
	int differ = 0, compared = 0;
	double worst = 0;
	for (int i = 0; i < dim_st_count(fa); i++) {
		const dim_st_info *ta = dim_st_at(fa, i), *tb = dim_st_find(fb, ta->name);
		if (strstr(ta->name, "running_") || strstr(ta->name, "num_batches"))
			continue;
		if (!tb || tb->nbytes != ta->nbytes || ta->dtype != tb->dtype) {
			CHECK_MSG(0, "%s: tensor %s missing or resized in %s", a, ta->name, b);
			continue;
		}
		if (ta->dtype != DIM_DT_F32)
			continue;
		const float *x = ta->data, *y = tb->data;
		compared++;
		for (size_t k = 0; k < ta->nbytes / 4; k++) {
			double d = fabs((double)x[k] - y[k]), tol = 1e-6 + 1e-4 * fabs((double)x[k]);
			worst = d > worst ? d : worst;
			if (d > tol) {
				if (differ++ < 5)
					fprintf(stderr, "  %s[%zu]: %.9g vs %.9g\n", ta->name, k, x[k],
						y[k]);
				break;
			}
		}
	}
	CHECK_MSG(compared > 20 && differ == 0, "%d of %d tensors differ between %s and %s",
		  differ, compared, a, b);
	fprintf(stderr, "%s vs %s: %d tensors, largest difference %.3g\n", a, b, compared, worst);
	CHECK(!strcmp(dim_st_meta_get(fa, "step"), dim_st_meta_get(fb, "step")));
out_close:
	dim_st_close(fa);
	dim_st_close(fb);
}

/* The pid of the cldim process whose environment says OMPI rank `rank` (or
 * PMI_RANK) and whose command line names `out`; 0 if none. */
static pid_t find_rank(int rank, const char *out)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	char want1[64], want2[64];
	snprintf(want1, sizeof want1, "OMPI_COMM_WORLD_RANK=%d", rank);
	snprintf(want2, sizeof want2, "PMI_RANK=%d", rank);
	while (d && !found && (e = readdir(d))) {
		char path[300], buf[1 << 15];
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		int names_out = 0;
		for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
			names_out |= !strcmp(buf + i, out);
		if (!names_out || !strstr(buf, "cldim"))
			continue;
		snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
			if (!strcmp(buf + i, want1) || !strcmp(buf + i, want2))
				found = (pid_t)atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

static void kill_one_rank(const char *dir)
{
	char out[1100], log[1200], metrics[1200];
	snprintf(out, sizeof out, "%.1000s/e", dir);
	snprintf(log, sizeof log, "%s/e.log", dir);
	snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", out);
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(log, "w", stderr);
		if (!f || dup2(fileno(stderr), STDOUT_FILENO) < 0)
			_exit(127);
		execl(mpiexec, mpiexec, "-n", "2", cli, "train", "--steps", "100000", "--limit",
		      "32", "--batch", "8", "--mi-units", "64", "--progress", "none", "--out", out,
		      (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0);
	/* wait (at most 3 minutes) until a step is done, then SIGKILL rank 1 */
	pid_t victim = 0;
	int status = 0, exited = 0;
	for (int i = 0; pid > 0 && i < 180 * 50 && !victim; i++) {
		struct stat sb;
		if (stat(metrics, &sb) == 0 && sb.st_size > 0)
			victim = find_rank(1, out);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			break;
		}
		nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	CHECK_MSG(victim > 0 && !exited, "rank 1 of the run was not found (see %s)", log);
	if (victim > 0)
		kill(victim, SIGKILL);
	/* the job must end by itself: allow 30 s, then clean up */
	for (int i = 0; !exited && i < 30 * 50; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
		else
			nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		pid_t r0 = find_rank(0, out);
		if (r0 > 0)
			kill(r0, SIGKILL);
	}
	CHECK_MSG(exited && !(WIFEXITED(status) && WEXITSTATUS(status) == 0),
		  "the job did not end within 30 s of rank 1's death, or claimed success (see %s)",
		  log);
	char text[1 << 14] = "";
	FILE *f = fopen(log, "r");
	if (f) {
		size_t n = fread(text, 1, sizeof text - 1, f);
		text[n] = '\0';
		fclose(f);
	}
	CHECK_MSG(strstr(text, "signal 9") || strstr(text, "KILLED") || strstr(text, "Killed"),
		  "no message about the killed rank:\n%s", text);
}

int main(void)
{
	cli = getenv("CLDIM_CLI");
	mpiexec = getenv("CLDIM_MPIEXEC");
	if (!cli || !mpiexec || !*mpiexec) {
		fprintf(stderr, "skipped: CLDIM_CLI or CLDIM_MPIEXEC not set\n");
		return 77;
	}
	if (!exists(DATA "/train-images-idx3-ubyte.gz")) {
		fprintf(stderr, "skipped: Fashion-MNIST not installed at " DATA "\n");
		return 77;
	}
	static char out[1 << 16];
	char *dir = t_tmpdir("mpi");
	char cmd[4096], p1[1200], p2[1200];

	/* A: two ranks */
	snprintf(cmd, sizeof cmd, "'%s' -n 2 '%s' train --steps 6 --out %s/a " COMMON, mpiexec,
		 cli, dir);
	int rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc == 0, "%s -> %d\n%s", cmd, rc, out);
	/* B: one process, two micro-batches */
	snprintf(cmd, sizeof cmd, "'%s' train --steps 6 --accum 2 --out %s/b " COMMON, cli, dir);
	rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc == 0, "%s -> %d\n%s", cmd, rc, out);
	snprintf(p1, sizeof p1, "%s/b/ckpt-00000006.safetensors", dir);
	snprintf(p2, sizeof p2, "%s/a/ckpt-00000006.safetensors", dir);
	close_tensors(p1, p2);

	/* C: A's step 3 resumed on one process */
	snprintf(cmd, sizeof cmd, "'%s' train --resume %s/a/ckpt-00000003.safetensors --steps 6 "
		 "--accum 2 --out %s/c --progress none", cli, dir, dir);
	rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc == 0, "%s -> %d\n%s", cmd, rc, out);
	snprintf(p2, sizeof p2, "%s/c/ckpt-00000006.safetensors", dir);
	close_tensors(p1, p2);

	/* D: rank 1 fails to open its device; the job ends with its message */
	snprintf(cmd, sizeof cmd, "timeout 120 '%s' -n 1 '%s' train --steps 4 --out %s/d " COMMON
		 " : -n 1 '%s' train --steps 4 --out %s/d --device no-such-device " COMMON,
		 mpiexec, cli, dir, cli, dir);
	rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc != 0 && rc != 124 && strstr(out, "rank 1 of 2") &&
		  strstr(out, "no-such-device") && strstr(out, "ending the whole job"),
		  "rc %d:\n%s", rc, out);

	/* E: SIGKILL of one rank */
	kill_one_rank(dir);

	if (!t_failures)
		t_rmtree(dir);
	else
		fprintf(stderr, "run directories kept in %s\n", dir);
	free(dir);
	return T_RESULT();
}
