/* cldim-test: labels=opencl;cli;train timeout=900 */
/* Nothing lost, nothing silently wrong (issue 16, items 2, 4, 5, 6, 8), through
 * the command-line tool on a small Fashion-MNIST run R (checkpoints at 2, 4, 6):
 *
 *   metrics  a run killed with SIGKILL leaves whole lines only; a resume from
 *            an older checkpoint cuts the log back to its step and drops a half
 *            line, so every step appears once;
 *   values   a checkpoint with a NaN/Inf weight or a negative running_var is
 *            refused by info, extract and train --resume (exit 6, naming the
 *            file and the tensor);
 *   metadata step "abc", a huge step, "-5", an unknown cfg.encoder: exit 6
 *            naming the key;
 *   fallback --resume DIR with a damaged latest checkpoint resumes from the
 *            newest one that loads, naming both;
 *   flags    --lr on resume is honoured with a notice (stored in the next
 *            checkpoint), another --data and --seed are refused (exit 2);
 *   temps    a stale ckpt-*.tmp.<dead pid> in the run directory is removed, a
 *            temporary of a live process is kept; extract stopped by SIGINT
 *            leaves no temporary file and dies of the signal;
 *   jpeg     extract over a folder whose first JPEG has a bad header encodes
 *            every good one and lists the bad one as skipped (item 1). */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cldim/checkpoint.h"
#include "cldim/data.h"
#include "cldim/io.h"
#include "testutil.h"

#define DATA "/usr/share/datasets/fashion-mnist"
#define SMALL "--limit 128 --batch 16 --mi-units 64 --seed 7 --progress none"

static const char *cli;
static char out[1 << 16];

static int run(const char *fmt, const char *a, const char *b)
{
	char cmd[4000], args[3000];
	snprintf(args, sizeof args, fmt, a, b);
	snprintf(cmd, sizeof cmd, "'%s' %s", cli, args);
	return t_run(cmd, out, sizeof out);
}

static int exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static const char *P(const char *dir, const char *name)
{
	static char buf[8][1200];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* Every line of a metrics log is whole; count[s] is how often step s occurs. */
static int check_log(const char *path, int *count, int max_step)
{
	char *text = NULL;
	size_t n = 0;
	dim_error err = {0};
	if (dim_read_file(&err, path, (void **)&text, &n)) {
		CHECK_MSG(0, "%s", err.msg);
		return 0;
	}
	int ok = 1;
	memset(count, 0, sizeof(int) * (size_t)(max_step + 1));
	CHECK_MSG(n == 0 || text[n - 1] == '\n', "%s ends in a half line", path);
	for (char *line = text, *nl; line < text + n && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		int s = -1;
		if (!strncmp(line, "{\"step\": ", 9))
			s = atoi(line + 9);
		if (s < 1 || s > max_step || nl[-1] != '}' || strchr(line + 1, '{')) {
			CHECK_MSG(0, "%s: bad line '%s'", path, line);
			ok = 0;
			continue;
		}
		count[s]++;
	}
	free(text);
	return ok;
}

/* Copy a checkpoint, replacing one metadata value or the first value of the
 * first tensor whose name ends with `tensor`. */
static void rewrite(const char *src, const char *dst, const char *key, const char *val,
		    const char *tensor, float x)
{
	dim_error err = {0};
	dim_st_file *f = NULL;
	CHECK_OK_ERR(&err, dim_st_load(&err, src, &f));
	if (!f)
		return;
	int nt = dim_st_count(f), nm = dim_st_meta_count(f), done = 0;
	dim_st_tensor *t = calloc((size_t)nt, sizeof *t);
	dim_st_meta *m = calloc((size_t)nm, sizeof *m);
	float *copy = NULL;
	for (int i = 0; i < nt; i++) {
		const dim_st_info *in = dim_st_at(f, i);
		size_t ln = strlen(in->name), lt = tensor ? strlen(tensor) : 0;
		t[i] = (dim_st_tensor){in->name, in->dtype, in->ndim, in->shape, in->data};
		if (tensor && !done && ln >= lt && !strcmp(in->name + ln - lt, tensor) &&
		    strncmp(in->name, "opt.", 4)) {
			copy = malloc(in->nbytes);
			memcpy(copy, in->data, in->nbytes);
			copy[0] = x;
			t[i].data = copy;
			done = 1;
		}
	}
	for (int i = 0; i < nm; i++) {
		m[i] = *dim_st_meta_at(f, i);
		if (key && !strcmp(m[i].key, key)) {
			m[i].value = val;
			done = 1;
		}
	}
	CHECK_MSG(done, "%s: nothing named %s", src, key ? key : tensor);
	CHECK_OK_ERR(&err, dim_st_write(&err, dst, t, nt, m, nm));
	free(copy);
	free(t);
	free(m);
	dim_st_close(f);
}

static void expect(int rc, int want, const char *what, const char *a, const char *b)
{
	CHECK_MSG(rc == want && (!a || strstr(out, a)) && (!b || strstr(out, b)),
		  "%s: exit %d (want %d), output lacks '%s' / '%s':\n%s", what, rc, want,
		  a ? a : "", b ? b : "", out);
}

/* Start the CLI with argv, stdout and stderr to log. */
static pid_t spawn_logged(char *const argv[], const char *log)
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

/* Send sig to pid once path exists with at least min_bytes (polled every
 * millisecond for up to two minutes), then reap it. Returns whether the
 * signal was sent before the child ended on its own; *status: its wait status. */
static int signal_when(pid_t pid, const char *path, off_t min_bytes, int sig, int *status)
{
	struct stat sb;
	int sent = 0;
	*status = 0;
	for (int i = 0; pid > 0 && i < 120 * 1000; i++) {
		if (stat(path, &sb) == 0 && sb.st_size >= min_bytes) {
			sent = kill(pid, sig) == 0;
			break;
		}
		if (waitpid(pid, status, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	if (pid > 0)
		waitpid(pid, status, 0);
	return sent;
}

/* SIGKILL a run as soon as its metrics log has anything: whole lines only. */
static void killed_log(const char *dir)
{
	char run_dir[1100], log[1100], metrics[1200];
	snprintf(run_dir, sizeof run_dir, "%s/k", dir);
	snprintf(log, sizeof log, "%s/k.log", dir);
	snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", run_dir);
	char *argv[] = {"cldim", "train", "--steps", "100000", "--out", run_dir, "--limit", "128",
			"--batch", "16", "--mi-units", "64", "--ckpt-every", "0", "--progress",
			"none", NULL};
	int status;
	int killed = signal_when(spawn_logged(argv, log), metrics, 1, SIGKILL, &status);
	CHECK_MSG(killed, "the run ended before it could be killed; see %s", log);
	int count[100001];
	check_log(metrics, count, 100000);
}

/* SIGINT an extract of the whole training split once its features file is
 * being written: no temporary file stays beside the output. */
static void interrupted_extract(const char *dir, const char *ckpt)
{
	char outdir[1100], feats[1200], log[1200];
	snprintf(outdir, sizeof outdir, "%s/x", dir);
	mkdir(outdir, 0755);
	snprintf(feats, sizeof feats, "%s/f.npy", outdir);
	snprintf(log, sizeof log, "%s/x.log", dir);
	char *argv[] = {"cldim", "extract", "--checkpoint", (char *)ckpt, "--data", DATA,
			"--batch", "64", "--quiet", "--out", feats, NULL};
	pid_t pid = spawn_logged(argv, log);
	char tmp[1300];
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", feats, (int)pid);
	int status;
	int sent = signal_when(pid, tmp, 0, SIGINT, &status);
	CHECK_MSG(sent && WIFSIGNALED(status) && WTERMSIG(status) == SIGINT,
		  "extract: sent %d, status 0x%x; see %s", sent, status, log);
	char cmd[1400];
	snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp'", outdir);
	int rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc != 0 && atoi(out) == 0, "temporary files left in %s after SIGINT: %s", outdir,
		  out);
	CHECK(!exists(feats));
}

/* A folder whose first JPEG has a 65535-wide header, then three good ones. */
static void extract_bad_jpeg(const char *dir, const char *ckpt)
{
	char root[1100], path[1300];
	snprintf(root, sizeof root, "%s/jpegs", dir);
	mkdir(root, 0755);
	snprintf(path, sizeof path, "%s/c", root);
	mkdir(path, 0755);
	uint8_t pix[40 * 30 * 3];
	for (size_t i = 0; i < sizeof pix; i++)
		pix[i] = (uint8_t)(i * 13 + i / 90);
	dim_error err = {0};
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/c/%d.jpg", root, i);
		CHECK_OK_ERR(&err, dim_image_write_jpeg(path, pix, 40, 30, 90, &err));
	}
	snprintf(path, sizeof path, "%s/c/0.jpg", root);
	uint8_t *jpg = NULL;
	size_t n = 0;
	CHECK_OK_ERR(&err, dim_read_file(&err, path, (void **)&jpg, &n));
	for (size_t i = 2; jpg && i + 8 < n; i++)
		if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
			jpg[i + 7] = 0xFF;
			jpg[i + 8] = 0xFF;
			break;
		}
	CHECK(jpg && t_write_file(path, jpg, n) == 0);
	free(jpg);
	char feats[1200];
	snprintf(feats, sizeof feats, "%s/j.npy", dir);
	char fmt[2000];
	snprintf(fmt, sizeof fmt, "extract --checkpoint %%s --data %s --quiet --out %%s", root);
	int rc = run(fmt, ckpt, feats);
	expect(rc, 0, "extract over a bad JPEG", "3 x 64", "1 skipped");
	char sk[1200], text[4096] = "";
	snprintf(sk, sizeof sk, "%s/j.skipped.txt", dir);
	FILE *f = fopen(sk, "r");
	size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
	text[got] = '\0';
	if (f)
		fclose(f);
	CHECK_MSG(strstr(text, "0.jpg") && !strstr(text, "1.jpg"), "%s: '%s'", sk, text);
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
	char *dir = t_tmpdir("integrity");
	char R[1024], bad[1200];
	int count[64], rc;
	snprintf(R, sizeof R, "%s/r", dir);

	rc = run("train --steps 6 --ckpt-every 2 --keep 10 --out %s " SMALL "%s", R, "");
	expect(rc, 0, "train", NULL, NULL);

	/* --- metrics: resume from step 4 over a log with a half line ------------ */
	FILE *f = fopen(P(R, "metrics.jsonl"), "a");
	if (f) {
		fputs("{\"step", f);
		fclose(f);
	}
	/* a stale temporary of a dead process, and one of this (live) process */
	char stale[1200], live[1200];
	snprintf(stale, sizeof stale, "%s/ckpt-00000012.safetensors.tmp.%d", R, 2147483000);
	snprintf(live, sizeof live, "%s/ckpt-00000014.safetensors.tmp.%d", R, (int)getpid());
	CHECK(t_write_file(stale, "x", 1) == 0 && t_write_file(live, "y", 1) == 0);
	rc = run("train --resume %s/ckpt-00000004.safetensors --steps 8 --keep 10%s", R, "");
	expect(rc, 0, "resume from step 4", NULL, NULL);
	if (check_log(P(R, "metrics.jsonl"), count, 63))
		for (int s = 1; s <= 8; s++)
			CHECK_MSG(count[s] == 1, "step %d appears %d times after the resume", s,
				  count[s]);
	CHECK_MSG(!exists(stale), "%s (a dead process's) was not removed", stale);
	CHECK_MSG(exists(live), "%s (a live process's) was removed", live);
	unlink(live);

	/* --- metrics: SIGKILL leaves whole lines -------------------------------- */
	killed_log(dir);

	/* --- extract: SIGINT, and a bad JPEG among good ones -------------------- */
	interrupted_extract(dir, P(R, "ckpt-00000008.safetensors"));
	extract_bad_jpeg(dir, P(R, "ckpt-00000008.safetensors"));

	/* --- values: NaN, Inf, negative running_var ----------------------------- */
	const char *good = P(R, "ckpt-00000008.safetensors");
	static const struct {
		const char *tensor;
		float v;
		const char *says;
	} vals[] = {{"encoder.conv0.weight", NAN, "NaN"}, {".bias", INFINITY, "Inf"},
		    {"running_var", -1.0f, "negative variance"}};
	for (int i = 0; i < 3; i++) {
		snprintf(bad, sizeof bad, "%s/values-%d.safetensors", dir, i);
		rewrite(good, bad, NULL, NULL, vals[i].tensor, vals[i].v);
		rc = run("info %s%s", bad, "");
		expect(rc, 6, "info on bad values", bad, vals[i].says);
		expect(rc, 6, "info names the tensor", vals[i].tensor, NULL);
	}
	snprintf(bad, sizeof bad, "%s/values-0.safetensors", dir);
	char feats[1200];
	snprintf(feats, sizeof feats, "%s/f.npy", dir);
	rc = run("extract --checkpoint %s --data " DATA " --split test --limit 32 --quiet --out %s",
		 bad, feats);
	expect(rc, 6, "extract with NaN weights", bad, "NaN");
	CHECK_MSG(!exists(feats), "extract wrote %s from a NaN checkpoint", feats);
	rc = run("train --resume %s --steps 9%s", bad, "");
	expect(rc, 6, "resume from NaN weights", bad, "NaN");

	/* --- metadata ---------------------------------------------------------- */
	static const struct {
		const char *key, *val;
	} meta[] = {{"step", "abc"}, {"step", "99999999999999999999"}, {"step", "-5"},
		    {"epoch", "1x"}, {"cfg.encoder", "nope"}, {"cfg.lr", "nan"},
		    {"cfg.local_critic", "cat"}, {"cfg.mi_units", "0"}};
	for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
		snprintf(bad, sizeof bad, "%s/meta-%zu.safetensors", dir, i);
		rewrite(good, bad, meta[i].key, meta[i].val, NULL, 0);
		char key[64];
		snprintf(key, sizeof key, "'%s'", meta[i].key);
		rc = run("info %s%s", bad, "");
		expect(rc, 6, "info on bad metadata", bad, key);
		rc = run("train --resume %s --steps 9%s", bad, "");
		expect(rc, 6, "resume from bad metadata", bad, key);
	}
	/* a file named for another step than its metadata */
	rewrite(good, P(dir, "ckpt-00000003.safetensors"), "format", "cldim-dim-checkpoint-1",
		NULL, 0);
	rc = run("info %s/ckpt-00000003.safetensors%s", dir, "");
	expect(rc, 6, "a step that is not the file name's", "ckpt-00000003", "file name");

	/* --- flags honoured and refused on resume ------------------------------ */
	rc = run("train --resume %s --data %s --steps 9", R, dir);
	expect(rc, 2, "resume with another --data", "not the checkpoint's dataset", NULL);
	rc = run("train --resume %s --seed 3 --steps 9%s", R, "");
	expect(rc, 2, "resume with --seed", "--resume", NULL);
	CHECK(!exists(P(R, "ckpt-00000009.safetensors")));
	rc = run("train --resume %s --lr 0.0005 --steps 9 --keep 10%s", R, "");
	expect(rc, 0, "resume with --lr", "--lr 0.0005 replaces", NULL);
	dim_config cfg;
	dim_train_state ts;
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_checkpoint_read_config(P(R, "ckpt-00000009.safetensors"), &cfg, &ts,
						      &err));
	CHECK_MSG(cfg.lr == 0.0005f && ts.step == 9, "lr %g step %lld", (double)cfg.lr, ts.step);

	/* --- fallback: the latest checkpoint (9) damaged ----------------------- */
	const char *c9 = P(R, "ckpt-00000009.safetensors");
	CHECK(t_write_file(c9, "damaged", 7) == 0);
	rc = run("train --resume %s --steps 10 --keep 10%s", R, "");
	expect(rc, 0, "resume over a damaged latest", "ckpt-00000009", "ckpt-00000008");
	CHECK(exists(P(R, "ckpt-00000010.safetensors")));
	if (check_log(P(R, "metrics.jsonl"), count, 63))
		for (int s = 1; s <= 10; s++)
			CHECK_MSG(count[s] == 1, "step %d appears %d times after the fallback", s,
				  count[s]);
	/* nothing loads: the error says so */
	char E[1100];
	snprintf(E, sizeof E, "%s/e", dir);
	mkdir(E, 0755);
	CHECK(t_write_file(P(E, "ckpt-00000002.safetensors"), "x", 1) == 0);
	CHECK(t_write_file(P(E, "latest"), "ckpt-00000002.safetensors\n", 26) == 0);
	rc = run("train --resume %s --steps 4%s", E, "");
	expect(rc, 6, "resume with nothing loadable", "no checkpoint of the directory loads",
	       NULL);

	if (!t_failures)
		t_rmtree(dir);
	else
		fprintf(stderr, "files kept in %s\n", dir);
	free(dir);
	return T_RESULT();
}
