/* cldim-test: labels=opencl;cli;slow timeout=400 */
/* GEMM tuning is stored, reloaded and applied (no timing is checked):
 * save -> file -> load gives the same values; a new context applies them
 * (dim_gemm_tuning_applied) and GEMMs stay correct under them; a damaged
 * device record is a miss (logged) for load and for dim_ctx_create, never an
 * error; CLDIM_GEMM_TUNING=0 skips it; a tiny dim_gemm_tune search
 * returns a usable result; `cldim bench --tune` with a tiny budget writes the
 * file that the next context applies. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cldim/bench.h"
#include "cldim/tuning.h"
#include "testutil.h"

static const dim_gemm_tuning known = {
	.has_xgemm = true,
	/* GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN */
	.xgemm = {0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 1, 1},
	.has_direct = true,
	/* KWID MDIMAD MDIMCD NDIMBD NDIMCD PADA PADB VWMD VWND WGD */
	.direct = {2, 8, 8, 8, 8, 1, 1, 2, 2, 16},
	.has_routine = true,
	.min_indirect_size = 48,
};

static int same(const dim_gemm_tuning *a, const dim_gemm_tuning *b)
{
	return a->has_xgemm == b->has_xgemm && a->has_direct == b->has_direct &&
	       a->has_routine == b->has_routine && !memcmp(a->xgemm, b->xgemm, sizeof a->xgemm) &&
	       !memcmp(a->direct, b->direct, sizeof a->direct) &&
	       a->min_indirect_size == b->min_indirect_size;
}

/* C = A·B for odd shapes on both sides of the direct/indirect switch (48³). */
static void check_gemms(dim_ctx *ctx)
{
	static const int shapes[][3] = {{5, 7, 3}, {67, 45, 33}, {130, 70, 66}};
	t_rng rng = {7};
	for (int s = 0; s < 3; s++) {
		int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
		float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
		double *want = calloc((size_t)M * N, sizeof *want);
		t_fill(&rng, a, (size_t)M * K, -1, 1);
		t_fill(&rng, b, (size_t)K * N, -1, 1);
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++)
				for (int k = 0; k < K; k++)
					want[i * N + j] += (double)a[i * K + k] * b[k * N + j];
		dim_buf A = t_upload(ctx, a, (size_t)M * K), B = t_upload(ctx, b, (size_t)K * N), C;
		CHECK_OK(ctx, dim_buf_create(ctx, sizeof(float) * M * N, &C));
		CHECK_OK(ctx, dim_gemm(ctx, DIM_NO_TRANS, DIM_NO_TRANS, M, N, K, 1.0f, A, K, B, N,
				       0.0f, C, N));
		float *got = t_download(ctx, C, (size_t)M * N);
		t_close("gemm under tuning", got, want, (size_t)M * N, 1e-4, 1e-4);
		free(got);
		dim_buf_release(&A);
		dim_buf_release(&B);
		dim_buf_release(&C);
		free(a);
		free(b);
		free(want);
	}
}

int main(void)
{
	char *dir = t_tmpdir("bench-tune");
	CHECK(dir != NULL);
	if (!dir)
		return T_RESULT();
	setenv("CLDIM_CACHE_DIR", dir, 1);
	dim_ctx *ctx = t_ctx();
	dim_gemm_tuning t;
	bool found = true;
	char path[1200];

	/* nothing stored: nothing applied */
	CHECK(!dim_gemm_tuning_applied(ctx, NULL));
	CHECK_OK(ctx, dim_gemm_tuning_load(ctx, &t, &found));
	CHECK(!found);

	/* save -> load round trip */
	CHECK_OK(ctx, dim_gemm_tuning_save(ctx, &known));
	dim_gemm_tuning_path(ctx, path, sizeof path);
	struct stat sb;
	CHECK_MSG(stat(path, &sb) == 0 && strstr(path, dir), "%s", path);
	CHECK_OK(ctx, dim_gemm_tuning_load(ctx, &t, &found));
	CHECK(found && same(&t, &known));
	dim_ctx_destroy(ctx);

	/* a new context applies it, and GEMMs are still right */
	ctx = t_ctx();
	CHECK(dim_gemm_tuning_applied(ctx, &t) && same(&t, &known));
	char desc[1024];
	dim_gemm_tuning_describe(&t, desc, sizeof desc);
	CHECK_MSG(strstr(desc, "Xgemm GEMMK=0 KREG=1 KWG=16") && strstr(desc, "WGD=16") &&
		  strstr(desc, "XGEMM_MIN_INDIRECT_SIZE=48"), "%s", desc);
	check_gemms(ctx);
	dim_ctx_destroy(ctx);

	/* damaged records: a miss for load and for new contexts, which still work */
	ctx = t_ctx();
	const dim_device_info *d = dim_ctx_device(ctx);
	char head[1024];
	snprintf(head, sizeof head, "cldim-device-store 1\nplatform %s\ndevice %s\ndriver %s\n",
		 d->platform_name, d->name, d->driver);
	dim_ctx_destroy(ctx);
	static const char *const bad[] = {
		"clblast Xgemm MWG=64\n",                 /* missing names */
		"clblast Xgemm GEMMK=0 GEMMK=0\n",        /* duplicate */
		"clblast Foo X=1\n",                      /* unknown kernel */
		"clblast GemmRoutine XGEMM_MIN_INDIRECT_SIZE=-3\n",
		"speed train=-1 extract=0 batch=64 time=x\n",
		"gemm-backend cuBLAS\n",
		"version 2\n",                            /* replaced by a future first line */
		"truncated",                              /* no end line */
		"edited",                                 /* checksum mismatch */
		"",                                       /* empty file */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[2048];
		size_t n;
		if (!strcmp(bad[i], "version 2\n"))
			n = (size_t)snprintf(text, sizeof text, "cldim-device-store 2%s",
					     strchr(head, '\n'));
		else
			n = (size_t)snprintf(text, sizeof text, "%s%s", head,
					     bad[i][0] && !strchr(bad[i], '\n') ? "" : bad[i]);
		uint64_t sum = dim_fnv1a(DIM_FNV_INIT, text, n);
		if (strcmp(bad[i], "truncated"))
			n += (size_t)snprintf(text + n, sizeof text - n, "end %016llx\n",
					      (unsigned long long)sum);
		if (!strcmp(bad[i], "edited"))
			text[strlen("cldim-device-store 1\nplatform ")] ^= 1;
		if (!bad[i][0])
			n = 0;
		CHECK(t_write_file(path, text, n) == 0);
		ctx = t_ctx();
		found = true;
		dim_status st = dim_gemm_tuning_load(ctx, &t, &found);
		CHECK_MSG(st == DIM_OK && !found, "case %zu: %d %s", i, (int)st,
			  dim_ctx_errmsg(ctx));
		check_gemms(ctx);
		dim_ctx_destroy(ctx);
	}
	/* the same body, sealed and intact, loads */
	{
		char text[2048];
		size_t n = (size_t)snprintf(text, sizeof text, "%sclblast default\n", head);
		n += (size_t)snprintf(text + n, sizeof text - n, "end %016llx\n",
				      (unsigned long long)dim_fnv1a(DIM_FNV_INIT, text, n));
		CHECK(t_write_file(path, text, n) == 0);
		ctx = t_ctx();
		CHECK_OK(ctx, dim_gemm_tuning_load(ctx, &t, &found));
		CHECK(found && !t.has_xgemm && !t.has_direct && !t.has_routine);
		dim_ctx_destroy(ctx);
	}

	/* the file survives CLDIM_GEMM_TUNING=0 (which only skips applying it) */
	ctx = t_ctx();
	CHECK_OK(ctx, dim_gemm_tuning_save(ctx, &known));
	dim_ctx_destroy(ctx);
	setenv("CLDIM_GEMM_TUNING", "0", 1);
	ctx = t_ctx();
	CHECK_OK(ctx, dim_gemm_tuning_load(ctx, &t, &found));
	CHECK(found);
	unsetenv("CLDIM_GEMM_TUNING");

	/* a tiny search: no time box (defaults + one candidate per kernel) */
	dim_gemm_shape shapes[] = {{"small", 0, 1, 33, 40, 17}, {"wide", 1, 0, 64, 96, 80}};
	dim_gemm_tune_opts o = {.shapes = shapes, .nshapes = 2, .seconds = 0, .reps = 1,
				.seed = 3};
	dim_gemm_tune_result r;
	CHECK_OK(ctx, dim_gemm_tune(ctx, &o, &r));
	CHECK(r.tried >= 2);
	for (int i = 0; i < 2; i++)
		CHECK(r.before_s[i] > 0 && r.after_s[i] > 0);
	check_gemms(ctx);
	dim_ctx_destroy(ctx);

	/* the CLI: --tune with a tiny budget writes the file */
	const char *cli = getenv("CLDIM_CLI");
	if (cli) {
		char cmd[2048];
		remove(path);
		snprintf(cmd, sizeof cmd,
			 "'%s' -q bench --tune --tune-seconds 0 --tune-batch 2 --mi-units 8 --reps 1 "
			 "-o jsonl > '%s/tune.jsonl' 2>&1", cli, dir);
		int st = system(cmd);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", cmd);
		CHECK_MSG(stat(path, &sb) == 0, "no %s after --tune", path);
		ctx = t_ctx();
		CHECK_OK(ctx, dim_gemm_tuning_load(ctx, &t, &found));
		CHECK(found);
		dim_ctx_destroy(ctx);
	}
	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
