/* cldim-test: labels=opencl timeout=120 */
/* Runtime: device listing and every selector form, buffers and views,
 * host<->device round trips, arenas (alignment, growth, reuse after reset with
 * no new device allocations), kernel launch with offsets. */
#define _GNU_SOURCE /* strcasestr */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include <strings.h>

#include "testutil.h"

static void test_select(void)
{
	dim_error err = {0};
	dim_device_info *list = NULL;
	int n = 0, chosen = -1;
	CHECK_OK_ERR(&err, dim_devices_list(&list, &n, &err));
	if (!list)
		return;
	CHECK(n >= 1);
	CHECK_OK_ERR(&err, dim_device_select("auto", list, n, &chosen, &err));
	CHECK(chosen >= 0 && chosen < n);
	CHECK_OK_ERR(&err, dim_device_select("0", list, n, &chosen, &err));
	CHECK(chosen == 0);
	char pd[32];
	snprintf(pd, sizeof pd, "%d:%d", list[0].platform_index, list[0].device_index);
	CHECK_OK_ERR(&err, dim_device_select(pd, list, n, &chosen, &err));
	CHECK(chosen == 0);
	CHECK_OK_ERR(&err, dim_device_select(dim_device_type_name(list[0].type), list, n, &chosen,
					     &err));
	/* a case-flipped substring of the name */
	char sub[8] = {0};
	memcpy(sub, list[0].name, strnlen(list[0].name, 5));
	for (char *c = sub; *c; c++)
		*c = (char)((*c >= 'a' && *c <= 'z') ? *c - 32 : (*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
	/* it picks a device that has it in a name (platform matches first, so
	 * it need not be list[0]), or it is ambiguous; never "no device" */
	dim_status st = dim_device_select(sub, list, n, &chosen, &err);
	CHECK_MSG(st == DIM_ERR_AMBIGUOUS ||
			  (st == DIM_OK && (strcasestr(list[chosen].name, sub) ||
					    strcasestr(list[chosen].vendor, sub) ||
					    strcasestr(list[chosen].platform_name, sub) ||
					    strcasestr(list[chosen].platform_vendor, sub) ||
					    strcasestr(list[chosen].platform_version, sub))),
		  "selector %s: %s", sub, dim_status_name(st));

	st = dim_device_select("99", list, n, &chosen, &err);
	CHECK(st == DIM_ERR_NO_DEVICE && strstr(err.msg, "no device with index 99"));
	st = dim_device_select("7:3", list, n, &chosen, &err);
	CHECK(st == DIM_ERR_NO_DEVICE);
	st = dim_device_select("no-such-device-xyz", list, n, &chosen, &err);
	CHECK(st == DIM_ERR_NO_DEVICE && strstr(err.msg, "available devices"));
	/* the library names the concept; the CLI maps it to its flag */
	CHECK_MSG(strstr(err.msg, "device selector no-such-device-xyz") && !strstr(err.msg, "--"),
		  "%s", err.msg);
	/* an empty substring would match everything: ambiguous when n > 1 */
	int has_gpu = 0, has_acc = 0;
	for (int i = 0; i < n; i++) {
		has_gpu |= (list[i].type & DIM_DEV_GPU) != 0;
		has_acc |= (list[i].type & DIM_DEV_ACCEL) != 0;
	}
	st = dim_device_select("gpu", list, n, &chosen, &err);
	CHECK(has_gpu ? st == DIM_OK : st == DIM_ERR_NO_DEVICE);
	st = dim_device_select("accelerator", list, n, &chosen, &err);
	CHECK(has_acc ? st == DIM_OK : st == DIM_ERR_NO_DEVICE);

	/* two fake identical devices: a shared substring is ambiguous */
	dim_device_info two[2] = {list[0], list[0]};
	two[1].device_index = 1;
	two[1].index = 1;
	st = dim_device_select(sub, two, 2, &chosen, &err);
	CHECK(st == DIM_ERR_AMBIGUOUS && strstr(err.msg, "matches 2 devices"));
	CHECK_OK_ERR(&err, dim_device_select("0:1", two, 2, &chosen, &err));
	CHECK(chosen == 1);
	free(list);
}

/* Intel's OpenCL runtime beside PoCL on an Intel CPU: both devices carry the
 * CPU's name, PoCL's vendor is GenuineIntel. A platform match comes first. */
static void test_select_two_runtimes(void)
{
	dim_device_info l[2];
	memset(l, 0, sizeof l);
	for (int i = 0; i < 2; i++) {
		l[i].index = i;
		l[i].platform_index = i;
		l[i].type = DIM_DEV_CPU;
	}
	snprintf(l[0].platform_name, sizeof l[0].platform_name, "Intel(R) OpenCL");
	snprintf(l[0].platform_vendor, sizeof l[0].platform_vendor, "Intel(R) Corporation");
	snprintf(l[0].platform_version, sizeof l[0].platform_version, "OpenCL 3.0 LINUX");
	snprintf(l[0].name, sizeof l[0].name, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
	snprintf(l[0].vendor, sizeof l[0].vendor, "Intel(R) Corporation");
	snprintf(l[1].platform_name, sizeof l[1].platform_name, "Portable Computing Language");
	snprintf(l[1].platform_vendor, sizeof l[1].platform_vendor, "The pocl project");
	snprintf(l[1].platform_version, sizeof l[1].platform_version,
		 "OpenCL 3.0 PoCL 3.1+debian  Linux, None+Asserts, RELOC, LLVM 15.0.6");
	snprintf(l[1].name, sizeof l[1].name,
		 "pthread-icelake-server-Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
	snprintf(l[1].vendor, sizeof l[1].vendor, "GenuineIntel");
	dim_error err = {0};
	int chosen = -1;
	CHECK_OK_ERR(&err, dim_device_select("intel", l, 2, &chosen, &err));
	CHECK(chosen == 0);
	chosen = -1;
	CHECK_OK_ERR(&err, dim_device_select("Intel(R) OpenCL", l, 2, &chosen, &err));
	CHECK(chosen == 0);
	chosen = -1;
	CHECK_OK_ERR(&err, dim_device_select("pocl", l, 2, &chosen, &err));
	CHECK(chosen == 1);
	chosen = -1;
	CHECK_OK_ERR(&err, dim_device_select("portable", l, 2, &chosen, &err));
	CHECK(chosen == 1);
	/* only the device names match, and both do: ambiguous */
	CHECK(dim_device_select("xeon", l, 2, &chosen, &err) == DIM_ERR_AMBIGUOUS);
	CHECK(strstr(err.msg, "matches 2 devices") != NULL);
	/* both platforms' versions: ambiguous at the platform level */
	CHECK(dim_device_select("linux", l, 2, &chosen, &err) == DIM_ERR_AMBIGUOUS);
	CHECK(dim_device_select("nvidia", l, 2, &chosen, &err) == DIM_ERR_NO_DEVICE);
}

static void test_buffers(dim_ctx *ctx)
{
	t_rng rng = {7};
	float x[301], y[301];
	t_fill(&rng, x, 301, -3, 3);
	dim_buf b;
	CHECK_OK(ctx, dim_buf_create(ctx, sizeof x, &b));
	CHECK_OK(ctx, dim_write(ctx, b, 0, x, sizeof x));
	CHECK_OK(ctx, dim_read(ctx, b, 0, y, sizeof y));
	CHECK(memcmp(x, y, sizeof x) == 0);
	/* a view at an offset */
	dim_buf v = dim_buf_view(b, 40, 80);
	float z[20];
	CHECK_OK(ctx, dim_read(ctx, v, 0, z, sizeof z));
	CHECK(memcmp(z, x + 10, sizeof z) == 0);
	CHECK_OK(ctx, dim_fill_f32(ctx, v, 2.5f));
	CHECK_OK(ctx, dim_read(ctx, b, 0, y, sizeof y));
	CHECK(y[9] == x[9] && y[10] == 2.5f && y[29] == 2.5f && y[30] == x[30]);
	/* out of range is an error, not a crash */
	CHECK(dim_read(ctx, v, 0, z, 84) == DIM_ERR_ARG);

	/* kernel launch with offsets: y[10..] += 2 * x[3..] over 17 elements */
	dim_kernel *k;
	CHECK_OK(ctx, dim_kernel_get(ctx, "util", NULL, "util_axpy", &k));
	CHECK_OK(ctx, dim_write(ctx, b, 0, x, sizeof x));
	dim_buf bx = dim_buf_view(b, 3 * 4, 17 * 4), by = dim_buf_view(b, 100 * 4, 17 * 4);
	CHECK_OK(ctx, DIM_LAUNCH_1D(ctx, k, 17, DIM_INT(17), DIM_FLOAT(2.0f), DIM_BUF(bx),
				    DIM_BUF(by)));
	CHECK_OK(ctx, dim_read(ctx, b, 0, y, sizeof y));
	for (int i = 0; i < 301; i++) {
		float want = (i >= 100 && i < 117) ? 2.0f * x[i - 97] + x[i] : x[i];
		if (y[i] != want) {
			CHECK_MSG(0, "axpy element %d: %g vs %g", i, y[i], want);
			break;
		}
	}
	/* unknown program and kernel names give messages */
	CHECK(dim_kernel_get(ctx, "no_such_program", NULL, "x", &k) == DIM_ERR_ARG);
	CHECK(dim_kernel_get(ctx, "util", NULL, "no_such_kernel", &k) == DIM_ERR_CL);
	CHECK(strstr(dim_ctx_errmsg(ctx), "no_such_kernel") != NULL);
	/* a build error carries the build log */
	CHECK(dim_kernel_get(ctx, "util", "-DUTIL_UNROLL=syntax(error", "util_axpy", &k) ==
	      DIM_ERR_BUILD);
	CHECK(strstr(dim_ctx_errmsg(ctx), "cl/util.cl") != NULL);
	dim_buf_release(&b);
}

static void test_arena(dim_ctx *ctx)
{
	dim_arena *a;
	CHECK_OK(ctx, dim_arena_create(ctx, "test", 4096, &a));
	dim_arena_mark m0 = dim_arena_get_mark(a);
	size_t align = dim_ctx_device(ctx)->mem_align_bytes;
	dim_tensor t[6];
	static const int shapes[6][4] = {{1, 3, 5, 7}, {2, 2, 2, 2}, {1, 1, 1, 1},
					 {3, 7, 13, 11}, {1, 1, 1, 9}, {5, 1, 1, 1}};
	size_t offs[6];
	cl_mem mems[6];
	for (int i = 0; i < 6; i++) {
		CHECK_OK(ctx, dim_tensor_alloc(a, 4, shapes[i], &t[i]));
		CHECK(t[i].buf.off % align == 0);
		offs[i] = t[i].buf.off;
		mems[i] = t[i].buf.mem;
	}
	unsigned chunks = dim_arena_chunks(a);
	CHECK(chunks >= 2); /* {3,7,13,11} floats > 4096 bytes forces growth */
	/* distinct allocations in the same chunk never overlap */
	for (int i = 0; i < 6; i++)
		for (int j = i + 1; j < 6; j++)
			if (mems[i] == mems[j])
				CHECK(offs[i] + t[i].buf.bytes <= offs[j] ||
				      offs[j] + t[j].buf.bytes <= offs[i]);
	/* write distinct data to each, read back */
	t_rng rng = {3};
	for (int i = 0; i < 6; i++) {
		size_t n = dim_tensor_numel(&t[i]);
		float *x = malloc(n * 4), *y;
		t_fill(&rng, x, n, -1, 1);
		CHECK_OK(ctx, dim_tensor_write(ctx, &t[i], x));
		y = malloc(n * 4);
		CHECK_OK(ctx, dim_tensor_read(ctx, &t[i], y));
		CHECK(memcmp(x, y, n * 4) == 0);
		free(x);
		free(y);
	}
	/* the same sequence after a reset reuses the same memory, no new chunk */
	for (int rep = 0; rep < 3; rep++) {
		dim_arena_reset(a, m0);
		for (int i = 0; i < 6; i++) {
			dim_tensor u;
			CHECK_OK(ctx, dim_tensor_alloc(a, 4, shapes[i], &u));
			CHECK(u.buf.mem == mems[i] && u.buf.off == offs[i]);
		}
	}
	CHECK(dim_arena_chunks(a) == chunks);
	CHECK(dim_arena_peak(a) > 0 && dim_arena_capacity(a) >= dim_arena_peak(a));
	/* a bad shape is an error */
	dim_tensor bad;
	CHECK(dim_tensor_alloc(a, 2, (int[]){3, 0}, &bad) == DIM_ERR_ARG);
	dim_arena_destroy(a);

	char s[64];
	CHECK(!strcmp(dim_shape_str(4, shapes[0], s, sizeof s), "[1, 3, 5, 7]"));
}

/* Views out of range are errors in every build (the check was an assert,
 * compiled out in RelWithDebInfo), and buffer offsets past the kernels' int
 * range go through sub-buffers (the limit lowered from 2^31 floats to 1000
 * so that a small buffer reaches it). */
static void test_views_and_offsets(dim_ctx *ctx)
{
	enum { N = 16384 };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
	t_rng rng = {11};
	t_fill(&rng, x, N, -2, 2);
	dim_buf b, v, bad;
	CHECK_OK(ctx, dim_buf_create(ctx, N * sizeof *x, &b));
	CHECK_OK(ctx, dim_write(ctx, b, 0, x, N * sizeof *x));

	v = dim_buf_view(b, 40, 80);
	bad = dim_buf_view(v, 0, 84);
	CHECK(bad.mem == NULL && bad.bytes > 0);
	CHECK(dim_buf_view(v, 81, 0).mem == NULL);
	CHECK(dim_buf_view(v, SIZE_MAX - 2, 8).mem == NULL); /* off + bytes wraps */
	CHECK(dim_buf_view(bad, 0, 4).mem == NULL);          /* a view of an invalid view */
	CHECK(dim_buf_view(v, 80, 0).mem == b.mem);          /* empty view at the end: fine */
	float z[21];
	CHECK(dim_read(ctx, bad, 0, z, 4) == DIM_ERR_ARG);
	CHECK(dim_fill_f32(ctx, bad, 1.0f) == DIM_ERR_ARG);
	CHECK(strstr(dim_ctx_errmsg(ctx), "null buffer") != NULL);
	CHECK(dim_gemm(ctx, DIM_NO_TRANS, DIM_NO_TRANS, 1, 1, 1, 1.0f, bad, 1, v, 1, 0.0f, v, 1) ==
	      DIM_ERR_ARG);
	dim_buf out;
	CHECK(dim_buf_sub(ctx, v, 4, 80, &out) == DIM_ERR_ARG && out.mem == NULL);
	CHECK(strstr(dim_ctx_errmsg(ctx), "84") == NULL &&
	      strstr(dim_ctx_errmsg(ctx), "outside a 80-byte") != NULL);
	CHECK_OK(ctx, dim_buf_sub(ctx, v, 4, 76, &out));
	CHECK(out.mem == b.mem && out.off == 44 && out.bytes == 76);

	/* y[9000..9000+n) += 2 * x[3000..3000+n) with both offsets past the limit
	 * (2 and -1: exact products, so fused and separate multiply-adds agree) */
	dim_kernel *k;
	CHECK_OK(ctx, dim_kernel_get(ctx, "util", NULL, "util_axpy", &k));
	ctx->karg_off_max = 1000;
	const int n = 777;
	dim_buf bx = dim_buf_view(b, 3000 * 4, n * 4), by = dim_buf_view(b, 9000 * 4, n * 4);
	CHECK_OK(ctx, DIM_LAUNCH_1D(ctx, k, n, DIM_INT(n), DIM_FLOAT(2.0f), DIM_BUF(bx),
				    DIM_BUF(by)));
	/* and one view inside the limit beside one past it */
	dim_buf sx = dim_buf_view(b, 10 * 4, n * 4), sy = dim_buf_view(b, 12001 * 4, n * 4);
	CHECK_OK(ctx, DIM_LAUNCH_1D(ctx, k, n, DIM_INT(n), DIM_FLOAT(-1.0f), DIM_BUF(sx),
				    DIM_BUF(sy)));
	ctx->karg_off_max = 0;
	CHECK_MSG(ctx->karg_subs == 3, "%llu sub-buffers made, 3 expected", ctx->karg_subs);
	CHECK_OK(ctx, dim_read(ctx, b, 0, y, N * sizeof *y));
	int bad_at = -1;
	for (int i = 0; i < N && bad_at < 0; i++) {
		float want = x[i];
		if (i >= 9000 && i < 9000 + n)
			want = 2.0f * x[i - 6000] + x[i];
		else if (i >= 12001 && i < 12001 + n)
			want = -1.0f * x[i - 11991] + x[i];
		if (y[i] != want)
			bad_at = i;
	}
	CHECK_MSG(bad_at < 0, "element %d after launches through sub-buffers", bad_at);
	dim_buf_release(&b);
	free(x);
	free(y);
}

/* CLDIM_MAX_WG caps every kernel's work-group limit; a launch above it is
 * refused as a driver would; a bad value fails the context. */
static void test_wg_cap(void)
{
	dim_ctx *ctx = t_ctx_with("CLDIM_MAX_WG", "32");
	dim_kernel *k;
	CHECK(dim_ctx_device(ctx)->max_wg <= 32);
	CHECK_OK(ctx, dim_kernel_get(ctx, "util", NULL, "util_axpy", &k));
	CHECK(dim_kernel_max_wg(k) >= 1 && dim_kernel_max_wg(k) <= 32);
	float x[100], y[100];
	t_rng rng = {11};
	t_fill(&rng, x, 100, -1, 1);
	dim_buf bx = t_upload(ctx, x, 100), by = t_upload(ctx, x, 100);
	size_t global = 128, local = 64;
	dim_status st = DIM_LAUNCH(ctx, k, 1, &global, &local, DIM_INT(100), DIM_FLOAT(1.0f),
				   DIM_BUF(bx), DIM_BUF(by));
	CHECK(st == DIM_ERR_ARG && strstr(dim_ctx_errmsg(ctx), "exceeds the kernel's limit"));
	/* the 1-D helper picks a group within the cap */
	CHECK_OK(ctx, DIM_LAUNCH_1D(ctx, k, 100, DIM_INT(100), DIM_FLOAT(1.0f), DIM_BUF(bx),
				    DIM_BUF(by)));
	CHECK_OK(ctx, dim_read(ctx, by, 0, y, sizeof y));
	for (int i = 0; i < 100; i++)
		if (y[i] != 2.0f * x[i]) {
			CHECK_MSG(0, "capped axpy element %d: %g vs %g", i, y[i], 2.0f * x[i]);
			break;
		}
	dim_buf_release(&bx);
	dim_buf_release(&by);
	dim_ctx_destroy(ctx);

	static const char *const bad[] = {"0", "abc", "64k", "-4", "99999999"};
	for (int i = 0; i < 5; i++) {
		dim_error err = {0};
		dim_ctx *c = NULL;
		dim_ctx_options opt;
		setenv("CLDIM_MAX_WG", bad[i], 1);
		st = dim_ctx_options_from_env(&opt, &err);
		unsetenv("CLDIM_MAX_WG");
		CHECK_MSG(st == DIM_ERR_ARG && c == NULL && strstr(err.msg, "CLDIM_MAX_WG"),
			  "CLDIM_MAX_WG=%s accepted", bad[i]);
		dim_ctx_destroy(c);
	}
}

/* CLDIM_ARENA_CHUNK caps an arena's default chunk; a larger request still
 * gets a chunk of its own size; a bad value fails the context. */
static void test_arena_chunk_cap(void)
{
	dim_ctx *ctx = t_ctx_with("CLDIM_ARENA_CHUNK", "65536");
	dim_arena *a;
	dim_buf b;
	CHECK_OK(ctx, dim_arena_create(ctx, "capped", (size_t)64 << 20, &a));
	CHECK_OK(ctx, dim_arena_alloc(a, 1000, &b));
	CHECK(dim_arena_capacity(a) == 65536);
	CHECK_OK(ctx, dim_arena_alloc(a, 200000, &b));
	CHECK(dim_arena_chunks(a) == 2 && b.bytes == 200000);
	CHECK(dim_arena_capacity(a) >= 65536 + 200000 && dim_arena_capacity(a) < 65536 + 300000);
	dim_arena_destroy(a);
	dim_ctx_destroy(ctx);

	static const char *const bad[] = {"100", "1x", "-65536"};
	for (int i = 0; i < 3; i++) {
		dim_error err = {0};
		dim_ctx *c = NULL;
		dim_ctx_options opt;
		setenv("CLDIM_ARENA_CHUNK", bad[i], 1);
		dim_status st = dim_ctx_options_from_env(&opt, &err);
		unsetenv("CLDIM_ARENA_CHUNK");
		CHECK_MSG(st == DIM_ERR_ARG && c == NULL && strstr(err.msg, "CLDIM_ARENA_CHUNK"),
			  "CLDIM_ARENA_CHUNK=%s accepted", bad[i]);
		dim_ctx_destroy(c);
	}
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	test_select();
	test_select_two_runtimes();
	test_buffers(ctx);
	test_views_and_offsets(ctx);
	test_arena(ctx);
	test_wg_cap();
	test_arena_chunk_cap();
	dim_ctx_destroy(ctx);
	dim_ctx_destroy(NULL);
	return T_RESULT();
}
