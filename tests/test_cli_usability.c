/* cldim-test: labels=opencl;cli timeout=600 */
/* The command line as a new user meets it (issue 16, items 3, 10, 12-16):
 * extract never overwrites an input, keeps existing outputs unless --force,
 * makes missing directories, refuses .npz, writes class names; -q is the same
 * everywhere; train refuses an --out that holds a run unless --resume/--force;
 * bad flag values exit 2; train --data on a download root; a flat PNG folder
 * trains with an unreadable file skipped and listed; the progress lines
 * (no rate before one is measured, epochs from 1, prior terms only with
 * gamma > 0, done counts this run's steps, config floats without noise); a
 * 1-channel checkpoint on RGB data says it converts. */
#include <png.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/checkpoint.h"
#include "cldim/dim.h"
#include "cldim/io.h"
#include "testutil.h"

#define N 40
#define S 28

static const char *cli;
static const char *env = ""; /* "NAME=value " before the command */
static char *dir;
static char out[1 << 16];

static const char *P(const char *name)
{
	static char buf[16][1024];
	static int k;
	k = (k + 1) % 16;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* Run "cldim <args>" (stderr folded in); the output lands in `out`. */
static int run(const char *args)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "cd '%s' && %s'%s' %s", dir, env, cli, args);
	int rc = t_run(cmd, out, sizeof out);
	return rc;
}

#define EXPECT(args, want_rc, must, must_not)                                               \
	do {                                                                                \
		int rc_ = run(args);                                                        \
		CHECK_MSG(rc_ == (want_rc) && (!(must) || strstr(out, (must) ? (must) : "")) && \
				  (!(must_not) || !strstr(out, (must_not) ? (must_not) : "\1")), \
			  "cldim %s -> %d (want %d, '%s', not '%s'):\n%s", args, rc_,        \
			  want_rc, (must) ? (must) : "", (must_not) ? (must_not) : "", out);   \
	} while (0)

static int exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static long long fsize(const char *path)
{
	struct stat sb;
	return stat(path, &sb) ? -1 : (long long)sb.st_size;
}

static void write_idx(const char *sub)
{
	uint8_t img[16 + N * S * S], lab[8 + N];
	const uint8_t ih[16] = {0, 0, 8, 3, 0, 0, 0, N, 0, 0, 0, S, 0, 0, 0, S};
	const uint8_t lh[8] = {0, 0, 8, 1, 0, 0, 0, N};
	memcpy(img, ih, 16);
	memcpy(lab, lh, 8);
	for (int i = 0; i < N * S * S; i++)
		img[16 + i] = (uint8_t)(i * 37);
	for (int i = 0; i < N; i++)
		lab[8 + i] = (uint8_t)(i % 10);
	mkdir(P(sub), 0755);
	char p[1200];
	const char *names[] = {"train", "t10k"};
	for (int k = 0; k < 2; k++) {
		snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", P(sub), names[k]);
		t_write_file(p, img, sizeof img);
		snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", P(sub), names[k]);
		t_write_file(p, lab, sizeof lab);
	}
}

static void write_png(const char *path, int w, int h, int seed)
{
	png_image pi;
	memset(&pi, 0, sizeof pi);
	pi.version = PNG_IMAGE_VERSION;
	pi.width = (png_uint_32)w;
	pi.height = (png_uint_32)h;
	pi.format = PNG_FORMAT_RGB;
	uint8_t *b = malloc((size_t)w * h * 3);
	for (int i = 0; i < w * h * 3; i++)
		b[i] = (uint8_t)(i * 11 + seed * 71);
	CHECK(png_image_write_to_file(&pi, path, 0, b, 0, NULL));
	free(b);
}

/* A dcgan28 1-channel checkpoint, made through the library. */
static void make_checkpoint(dim_ctx *ctx, const char *path)
{
	dim_config cfg = dim_config_default();
	snprintf(cfg.encoder, sizeof cfg.encoder, "dcgan28");
	cfg.in_channels = 1;
	cfg.mi_units = 16;
	dim_model *m = NULL;
	CHECK_OK(ctx, dim_model_create(ctx, &cfg, &m));
	dim_train_state ts;
	memset(&ts, 0, sizeof ts);
	snprintf(ts.config_json, sizeof ts.config_json, "{}");
	if (m)
		CHECK_OK(ctx, dim_checkpoint_save(m, &ts, path));
	dim_model_destroy(m);
}

static void test_extract(void)
{
	const char *data = "fashion-tiny/t10k-images-idx3-ubyte";
	char args[2048];
	long long ck = fsize(P("c.safetensors")), dt = fsize(P(data));
	/* an input as --out: refused even with --force, and left alone */
	EXPECT("extract --checkpoint c.safetensors --data fashion-tiny --split test --out "
	       "c.safetensors --force", 2, "is an input", NULL);
	snprintf(args, sizeof args, "extract --checkpoint c.safetensors --data %s --out %s --force",
		 data, data);
	EXPECT(args, 2, "is an input", NULL);
	CHECK(fsize(P("c.safetensors")) == ck && fsize(P(data)) == dt);
	/* .npz is refused */
	EXPECT("extract --checkpoint c.safetensors --data fashion-tiny --out f.npz", 2, ".npy",
	       NULL);
	CHECK(!exists(P("f.npz")));
	/* a missing directory is made; class names beside the labels; -q: no progress */
	EXPECT("extract -q --checkpoint c.safetensors --data fashion-tiny --split test --out "
	       "new/sub/f.npy", 0, "new/sub/f.classes.txt", "images/s");
	CHECK(exists(P("new/sub/f.npy")) && exists(P("new/sub/f.labels.npy")));
	FILE *f = fopen(P("new/sub/f.classes.txt"), "r");
	char line[256] = "";
	int lines = 0;
	while (f && fgets(line, sizeof line, f))
		lines++;
	if (f)
		fclose(f);
	CHECK_MSG(lines == 10 && !strcmp(line, "Ankle boot\n"), "%d class lines, last '%s'", lines,
		  line);
	/* existing outputs: kept without --force */
	long long before = fsize(P("new/sub/f.npy"));
	EXPECT("extract --checkpoint c.safetensors --data fashion-tiny --split test --out "
	       "new/sub/f.npy", 2, "--force", NULL);
	CHECK(fsize(P("new/sub/f.npy")) == before);
	/* global -q hides the same as --quiet */
	EXPECT("-q extract --force --checkpoint c.safetensors --data fashion-tiny --split test "
	       "--out new/sub/f.npy", 0, "f.npy", "images/s");
	EXPECT("extract --force --checkpoint c.safetensors --data fashion-tiny --split test "
	       "--out new/sub/f.npy", 0, "images/s", NULL);

	/* no "no GPU" notice outside train's header; an unwritable kernel cache
	 * is said once, not once per kernel */
	t_write_file(P("notadir"), "x", 1);
	env = "CLDIM_CACHE_DIR=notadir/cache ";
	EXPECT("extract --force --checkpoint c.safetensors --data fashion-tiny --split test "
	       "--out new/sub/f.npy", 0, "kernel cache: cannot", "no GPU");
	env = "";
	int said = 0;
	for (const char *q = out; (q = strstr(q, "kernel cache: cannot")); q++)
		said++;
	CHECK_MSG(said == 1, "the cache warning appears %d times:\n%s", said, out);

	/* a flat PNG folder: unlabelled, the bad file skipped and listed; 3-channel
	 * 20x20 data into a 1-channel 28x28 encoder is said */
	EXPECT("extract --checkpoint c.safetensors --data flat --out flat.npy", 0, "1 skipped",
	       NULL);
	CHECK_MSG(strstr(out, "become 1-channel"), "no conversion notice:\n%s", out);
	CHECK(!exists(P("flat.labels.npy")) && !exists(P("flat.classes.txt")));
	dim_error err = {0};
	dim_npy_array a = {0};
	CHECK_OK_ERR(&err, dim_npy_read(&err, P("flat.npy"), &a));
	CHECK(a.ndim == 2 && a.shape[0] == 5);
	dim_npy_array_free(&a);
	f = fopen(P("flat.skipped.txt"), "r");
	CHECK(f && fgets(line, sizeof line, f) && strstr(line, "bad.png"));
	if (f)
		fclose(f);
	/* neighbors on PNGs: a flat folder has no test split, so all of it */
	EXPECT("neighbors --checkpoint c.safetensors --data flat --k 2 --queries 2 --out "
	       "nn/nn.jpg", 0, "2 queries x 2 neighbours", NULL);
	CHECK(fsize(P("nn/nn.jpg")) > 0);
	EXPECT("neighbors --checkpoint c.safetensors --data flat --k 2 --queries 2 --out "
	       "nn/nn.jpg", 2, "--force", NULL);
	EXPECT("neighbors --checkpoint c.safetensors --data flat --k 2 --queries 2 --out "
	       "c.safetensors --force", 2, "is an input", NULL);
	CHECK(fsize(P("c.safetensors")) == ck);
	/* a split a flat folder does not have */
	EXPECT("extract --checkpoint c.safetensors --data flat --split test --out t.npy", 2,
	       "no 'test' split", NULL);
}

static void test_flags(void)
{
	EXPECT("train --data fashion-tiny --critic concat --estimator dv --out x", 2,
	       "--critic concat", NULL);
	EXPECT("train --data fashion-tiny --progress foo --out x", 2, "--progress foo", NULL);
	EXPECT("data fashion-tiny --label foo", 2, "applies to cifar100", NULL);
	EXPECT("eval --checkpoint c.safetensors --epochs 0", 2, "--epochs", NULL);
	/* without baselines there is no MINE (it needs the pixels): no "nan" column */
	EXPECT("eval --checkpoint c.safetensors --data fashion-tiny --no-baselines --repr Y "
	       "--epochs 1 --ndm-steps 5 --k 3", 0, "NDM", "nan");
	CHECK_MSG(!strstr(out, "MINE"), "%s", out);
	EXPECT("eval -q --json --checkpoint c.safetensors --data fashion-tiny --no-baselines "
	       "--repr Y --epochs 1 --ndm-steps 5 --k 3", 0, "\"ndm\"", "nan");
	CHECK_MSG(!strstr(out, "probes:") && !strstr(out, "features:"), "-q:\n%s", out);
	CHECK(!exists(P("x")));
	/* a batch larger than the data names the data's size */
	EXPECT("train --data fashion-tiny --limit 30 --batch 64 --mi-units 16 --out big", 2,
	       "30 images are fewer than one batch of 64", NULL);
	/* library messages name concepts; the CLI names its flags */
	CHECK_MSG(strstr(out, "(try --batch 30 or less)") && !strstr(out, "batch size"), "%s", out);
	EXPECT("eval --checkpoint nope.safetensors", 1, "--checkpoint nope.safetensors: no such file",
	       "checkpoint path");
	EXPECT("eval --checkpoint c.safetensors --device no-such-device", 4,
	       "--device no-such-device", "device selector");
	/* a download root with the archive folder inside reaches the reader */
	EXPECT("train --data downloads --batch 64 --mi-units 16 --out dl", 2,
	       "20 images are fewer than one batch", NULL);
	/* an --out that holds a run: --resume or --force */
	mkdir(P("old"), 0755);
	t_write_file(P("old/latest"), "ckpt-00000001.safetensors\n", 26);
	t_write_file(P("old/metrics.jsonl"), "{}\n", 3);
	t_write_file(P("old/mine.txt"), "keep", 4);
	EXPECT("train --data fashion-tiny --batch 64 --mi-units 16 --out old", 2, "--resume",
	       NULL);
	CHECK(exists(P("old/latest")));
	EXPECT("train --data fashion-tiny --limit 30 --batch 64 --mi-units 16 --out old --force", 2,
	       "fewer than one batch", NULL);
	CHECK(!exists(P("old/latest")) && !exists(P("old/metrics.jsonl")) &&
	      exists(P("old/mine.txt")));
}

static void test_train_flat(void)
{
	/* 3 steps of 4 over 13 readable PNGs + 1 unreadable, gamma 0 */
	EXPECT("train --data flat2 --encoder dcgan28 --mi-units 16 --batch 4 --steps 3 "
	       "--gamma 0 --lr 1e-4 --out run --progress lines --log-every 1000", 0, "done: 3 steps",
	       "prior");
	CHECK_MSG(strstr(out, "\"lr\":0.0001,") && !strstr(out, "9.99999"), "config:\n%s", out);
	const char *s1 = strstr(out, "step 1/3 epoch 1/");
	CHECK_MSG(s1 && strchr(s1, '\n'), "no step 1 line:\n%s", out);
	if (s1 && strchr(s1, '\n')) {
		char l1[512];
		snprintf(l1, sizeof l1, "%.*s", (int)(strchr(s1, '\n') - s1), s1);
		CHECK_MSG(!strstr(l1, "img/s") && !strstr(l1, "ETA") && strstr(l1, "I_jsd"),
			  "step 1 line: %s", l1);
	}
	FILE *f = fopen(P("run/skipped.txt"), "r");
	char line[512] = "";
	CHECK(f && fgets(line, sizeof line, f) && strstr(line, "broken.png"));
	if (f)
		fclose(f);
	f = fopen(P("run/metrics.jsonl"), "r");
	CHECK(f && fgets(line, sizeof line, f) && strstr(line, "\"epoch\": 1,"));
	if (f)
		fclose(f);
	/* metrics.svg: the MI bound plotted, absent terms (global, prior at gamma 0) not listed */
	static char svg[1 << 16];
	f = fopen(P("run/metrics.svg"), "r");
	size_t got = f ? fread(svg, 1, sizeof svg - 1, f) : 0;
	svg[got] = '\0';
	if (f)
		fclose(f);
	CHECK_MSG(strstr(svg, "local MI bound") && !strstr(svg, "global MI") &&
			  !strstr(svg, "prior ("), "metrics.svg:\n%s", svg);
	/* resumed: done counts the steps this run made */
	EXPECT("train --resume run --steps 4 --progress bar", 0, "done: 1 step (3 to 4)", NULL);
	/* the bar's line is ended before any message: each starts a line */
	int joined = 0;
	for (const char *q = out; (q = strstr(q, "cldim: ")); q++)
		joined += q > out && q[-1] != '\n';
	for (const char *q = out; (q = strstr(q, "done: ")); q++)
		joined += q > out && q[-1] != '\n';
	CHECK_MSG(joined == 0 && strstr(out, "[#"), "%d message(s) run into the bar:\n%s", joined,
		  out);
	EXPECT("info run --json", 0, "\"epoch\": 2", NULL);
}

int main(void)
{
	cli = getenv("CLDIM_CLI");
	if (!cli) {
		fprintf(stderr, "skipped: CLDIM_CLI not set\n");
		return 77;
	}
	dim_ctx *ctx = t_ctx();
	dir = t_tmpdir("cli-usability");
	write_idx("fashion-tiny");
	make_checkpoint(ctx, P("c.safetensors"));
	dim_ctx_destroy(ctx);
	mkdir(P("flat"), 0755);
	mkdir(P("flat2"), 0755);
	for (int i = 0; i < 13; i++) {
		char name[64];
		snprintf(name, sizeof name, "flat%s/im%02d.png", i < 5 ? "" : "2", i);
		write_png(P(name), 20, 20, i);
		if (i < 5) {
			snprintf(name, sizeof name, "flat2/im%02d.png", i);
			write_png(P(name), 20, 20, i);
		}
	}
	t_write_file(P("flat/bad.png"), "\x89PNG\r\n\x1a\n broken", 16);
	t_write_file(P("flat2/broken.png"), "nope", 4);
	mkdir(P("downloads"), 0755);
	mkdir(P("downloads/cifar-10-batches-bin"), 0755);
	uint8_t rec[4 * 3073] = {0};
	const char *files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
			       "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
	for (int k = 0; k < 6; k++) {
		char name[128];
		snprintf(name, sizeof name, "downloads/cifar-10-batches-bin/%s", files[k]);
		t_write_file(P(name), rec, sizeof rec);
	}

	test_extract();
	test_flags();
	test_train_flat();

	if (!t_failures)
		t_rmtree(dir);
	else
		fprintf(stderr, "files kept in %s\n", dir);
	free(dir);
	return T_RESULT();
}
