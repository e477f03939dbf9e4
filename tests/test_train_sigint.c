/* cldim-test: labels=opencl;cli;train timeout=300 */
/* SIGINT / SIGTERM during `cldim train`: the run stops at the next step
 * boundary, exits with code 130, and leaves a checkpoint (named by the run's
 * "latest" file) that loads: dim_checkpoint_read_config + dim_model_create +
 * dim_checkpoint_load, at the step the run reached, and that `cldim info`
 * (text and --json) describes. Also `cldim info` on missing, foreign and
 * truncated files: non-zero exit and a message naming the file. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cldim/checkpoint.h"
#include "cldim/io.h"
#include "testutil.h"

#define DATA "/usr/share/datasets/fashion-mnist"

static const char *cli;

static int file_has(const char *path, const char *text)
{
	char buf[1 << 15];
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, text) != NULL;
}

/* Train until the first progress line, send sig, check the exit and the
 * checkpoint. */
static void interrupt_run(const char *dir, int sig)
{
	char out_dir[1024], log[1100];
	snprintf(out_dir, sizeof out_dir, "%s/run-%d", dir, sig);
	snprintf(log, sizeof log, "%s/run-%d.log", dir, sig);
	char *argv[] = {"cldim", "train", "--steps", "100000", "--out", out_dir, "--limit", "256",
			"--batch", "16", "--mi-units", "64", "--ckpt-every", "0", "--progress",
			"lines", "--log-every", "0", NULL};
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(log, "w", stderr);
		if (!f || dup2(fileno(stderr), STDOUT_FILENO) < 0)
			_exit(127);
		execv(cli, argv);
		_exit(127);
	}
	CHECK(pid > 0);
	int status = 0, sent = 0;
	for (int i = 0; pid > 0 && i < 120 * 100; i++) { /* at most two minutes */
		if (file_has(log, "step 1/")) {
			sent = kill(pid, sig) == 0;
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK_MSG(sent && WIFEXITED(status) && WEXITSTATUS(status) == 130,
		  "signal %d: sent %d, status 0x%x (want exit 130); log %s", sig, sent, status, log);
	CHECK_MSG(file_has(log, "interrupted at step") && file_has(log, "--resume"),
		  "the message should name the step and how to resume; log %s", log);

	char latest[1200], name[256] = "", ckpt[1400];
	snprintf(latest, sizeof latest, "%s/latest", out_dir);
	FILE *f = fopen(latest, "r");
	CHECK_MSG(f, "%s missing", latest);
	if (!f)
		return;
	if (!fgets(name, sizeof name, f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	snprintf(ckpt, sizeof ckpt, "%s/%s", out_dir, name);

	dim_error err = {0};
	dim_config cfg;
	dim_train_state ts;
	CHECK_OK_ERR(&err, dim_checkpoint_read_config(ckpt, &cfg, &ts, &err));
	CHECK(ts.step >= 1 && cfg.mi_units == 64 && !strcmp(cfg.encoder, "basic28"));
	char want[64];
	snprintf(want, sizeof want, "interrupted at step %lld", ts.step);
	CHECK_MSG(file_has(log, want), "checkpoint step %lld not the interrupted step; log %s",
		  ts.step, log);
	dim_ctx *ctx = t_ctx();
	dim_model *m = NULL;
	CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	dim_train_state ts2;
	if (m)
		CHECK_OK(ctx, dim_checkpoint_load(m, ckpt, &ts2));
	CHECK(m && ts2.step == ts.step && dim_model_step(m) == ts.step);
	dim_model_destroy(m);
	dim_ctx_destroy(ctx);

	char cmd[2000], out[1 << 15];
	snprintf(cmd, sizeof cmd, "'%s' info %s", cli, out_dir);
	int rc = t_run(cmd, out, sizeof out);
	snprintf(want, sizeof want, "progress    step %lld,", ts.step);
	CHECK_MSG(rc == 0 && strstr(out, want) && strstr(out, "encoder") &&
		  strstr(out, "local critics") && strstr(out, "prior") && strstr(out, "\"batch\":16"),
		  "%s -> %d\n%s", cmd, rc, out);
	snprintf(cmd, sizeof cmd, "'%s' info --json %s", cli, ckpt);
	rc = t_run(cmd, out, sizeof out);
	snprintf(want, sizeof want, "\"step\": %lld,", ts.step);
	CHECK_MSG(rc == 0 && strstr(out, want) && strstr(out, "\"mi_units\": 64") &&
		  strstr(out, "\"tensors_with_adam_state\""), "%s -> %d\n%s", cmd, rc, out);
}

static void info_error(const char *path, int want_rc, const char *want)
{
	char cmd[1200], out[8192];
	snprintf(cmd, sizeof cmd, "'%s' info %s", cli, path);
	int rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc == want_rc && strstr(out, path) && strstr(out, want),
		  "%s -> %d (want %d, '%s')\n%s", cmd, rc, want_rc, want, out);
}

int main(void)
{
	cli = getenv("CLDIM_CLI");
	struct stat sb;
	if (!cli) {
		fprintf(stderr, "skipped: CLDIM_CLI not set\n");
		return 77;
	}
	if (stat(DATA "/train-images-idx3-ubyte.gz", &sb)) {
		fprintf(stderr, "skipped: Fashion-MNIST not installed at " DATA "\n");
		return 77;
	}
	char *dir = t_tmpdir("sigint");
	interrupt_run(dir, SIGINT);
	interrupt_run(dir, SIGTERM);

	/* cldim info on bad input */
	char p[1200];
	snprintf(p, sizeof p, "%s/missing.safetensors", dir);
	info_error(p, 1, "cannot open");
	snprintf(p, sizeof p, "%s/garbage.safetensors", dir);
	CHECK(t_write_file(p, "not a checkpoint at all", 23) == 0);
	info_error(p, 6, "");
	/* a valid safetensors file that is not a checkpoint */
	float one = 1;
	int64_t shape[1] = {1};
	dim_st_tensor t = {"x", DIM_DT_F32, 1, shape, &one};
	dim_error err = {0};
	snprintf(p, sizeof p, "%s/plain.safetensors", dir);
	CHECK_OK_ERR(&err, dim_st_write(&err, p, &t, 1, NULL, 0));
	info_error(p, 6, "not a cldim DIM checkpoint");
	/* a checkpoint cut short */
	char src[1200], cmd[3000], out[4096];
	snprintf(src, sizeof src, "%s/run-%d/latest", dir, SIGINT);
	snprintf(p, sizeof p, "%s/truncated.safetensors", dir);
	snprintf(cmd, sizeof cmd, "head -c 100000 %s/run-%d/$(cat %s) > %s", dir, SIGINT, src, p);
	CHECK(t_run(cmd, out, sizeof out) == 0);
	info_error(p, 6, "");
	info_error(dir, 1, "latest");

	if (!t_failures)
		t_rmtree(dir);
	else
		fprintf(stderr, "files kept in %s\n", dir);
	free(dir);
	return T_RESULT();
}
