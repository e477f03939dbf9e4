/* cldim-test: labels=opencl timeout=120 */
/* Runtime staging buffers: asynchronous write/read round trips through pinned
 * and plain staging, odd sizes and offsets, the fence, bad ranges and a zero
 * size rejected with a message (nothing enqueued), two buffers used in turn
 * as the trainer and the MPI allreduce use them, and the one-shot wait hook. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static unsigned char pattern(size_t i, unsigned salt) { return (unsigned char)(i * 131u + salt); }

/* Write `n` bytes through staging into a device buffer at an odd offset,
 * read them back through a second staging buffer, compare. */
static void round_trip(dim_ctx *ctx, unsigned flags, size_t n, size_t soff, size_t doff)
{
	dim_staging *w = NULL, *r = NULL;
	dim_buf b = {0};
	CHECK_OK(ctx, dim_staging_create(ctx, soff + n, flags, &w));
	CHECK_OK(ctx, dim_staging_create(ctx, soff + n + 5, flags, &r));
	CHECK_OK(ctx, dim_buf_create(ctx, doff + n + 3, &b));
	if (!w || !r || !b.mem)
		goto out;
	CHECK(dim_staging_bytes(w) == soff + n);
	CHECK(!(flags & DIM_STAGING_PLAIN) || !dim_staging_pinned(w));
	if (!flags && n == 1)
		printf("staging on %s: %s\n", dim_ctx_device(ctx)->name,
		       dim_staging_pinned(w) ? "mapped CL_MEM_ALLOC_HOST_PTR" : "malloc fallback");
	unsigned char *hw = dim_staging_ptr(w), *hr = dim_staging_ptr(r);
	for (size_t i = 0; i < n; i++)
		hw[soff + i] = pattern(i, 7);
	memset(hr, 0xAB, soff + n + 5);
	CHECK(!dim_staging_busy(w));
	CHECK_OK(ctx, dim_staging_write(w, soff, b, doff, n));
	CHECK(dim_staging_busy(w));
	CHECK_OK(ctx, dim_staging_read(r, soff + 1, b, doff, n));
	CHECK_OK(ctx, dim_staging_flush(r));
	CHECK_OK(ctx, dim_staging_wait(r)); /* in order: the write is done too */
	CHECK(!dim_staging_busy(r));
	size_t bad = n;
	for (size_t i = 0; i < n && bad == n; i++)
		if (hr[soff + 1 + i] != pattern(i, 7))
			bad = i;
	CHECK_MSG(bad == n, "%s staging, %zu bytes: byte %zu differs",
		  flags ? "plain" : "pinned", n, bad);
	CHECK(hr[soff] == 0xAB && hr[soff + 1 + n] == 0xAB); /* nothing around it */
	CHECK_OK(ctx, dim_staging_wait(w));
	CHECK_OK(ctx, dim_staging_wait(w)); /* nothing pending: returns at once */
out:
	dim_buf_release(&b);
	dim_staging_destroy(w);
	dim_staging_destroy(r);
}

static void test_round_trips(dim_ctx *ctx)
{
	static const size_t sizes[] = {1, 3, 4, 4097, (1u << 20) + 7};
	for (unsigned f = 0; f < 2; f++)
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
			round_trip(ctx, f ? DIM_STAGING_PLAIN : 0, sizes[i], i * 3, 1 + i * 5);
}

static void test_errors(dim_ctx *ctx)
{
	dim_staging *s = NULL;
	dim_status st = dim_staging_create(ctx, 0, 0, &s);
	CHECK(st == DIM_ERR_ARG && !s && strstr(dim_ctx_errmsg(ctx), "0 bytes"));
	st = dim_staging_create(ctx, 16, 0x80, &s);
	CHECK(st == DIM_ERR_ARG && !s && strstr(dim_ctx_errmsg(ctx), "flags"));

	dim_buf b = {0};
	CHECK_OK(ctx, dim_staging_create(ctx, 64, 0, &s));
	CHECK_OK(ctx, dim_buf_create(ctx, 32, &b));
	if (!s || !b.mem)
		goto out;
	st = dim_staging_write(s, 60, b, 0, 8); /* past the staging end */
	CHECK(st == DIM_ERR_ARG && strstr(dim_ctx_errmsg(ctx), "64-byte staging buffer"));
	st = dim_staging_read(s, 0, b, 30, 4); /* past the device view */
	CHECK(st == DIM_ERR_ARG && strstr(dim_ctx_errmsg(ctx), "32-byte buffer view"));
	st = dim_staging_write(s, SIZE_MAX, b, 0, 2); /* offset that would wrap */
	CHECK(st == DIM_ERR_ARG);
	st = dim_staging_write(s, 0, dim_buf_view(b, 16, 32), 0, 4); /* invalid view */
	CHECK(st == DIM_ERR_ARG && strstr(dim_ctx_errmsg(ctx), "invalid view"));
	CHECK(!dim_staging_busy(s)); /* none of them enqueued anything */
	CHECK_OK(ctx, dim_staging_write(s, 0, b, 0, 0));
	CHECK(!dim_staging_busy(s));
out:
	dim_buf_release(&b);
	dim_staging_destroy(s);
	dim_staging_destroy(NULL);
}

/* Two staging buffers and two device buffers used in turn, each staging
 * buffer refilled only after its fence: every device buffer ends up with the
 * last batch written into it. */
static void test_double_buffer(dim_ctx *ctx)
{
	enum { N = 1000, ROUNDS = 9 };
	dim_staging *s[2] = {NULL, NULL};
	dim_buf x[2] = {{0}, {0}};
	for (int i = 0; i < 2; i++) {
		CHECK_OK(ctx, dim_staging_create(ctx, N * sizeof(float), 0, &s[i]));
		CHECK_OK(ctx, dim_buf_create(ctx, N * sizeof(float), &x[i]));
	}
	if (!s[0] || !s[1] || !x[0].mem || !x[1].mem)
		goto out;
	for (int k = 0; k < ROUNDS; k++) {
		CHECK_OK(ctx, dim_staging_wait(s[k % 2]));
		float *h = dim_staging_ptr(s[k % 2]);
		for (int i = 0; i < N; i++)
			h[i] = (float)(k * N + i);
		CHECK_OK(ctx, dim_staging_write(s[k % 2], 0, x[k % 2], 0, N * sizeof(float)));
	}
	for (int j = 0; j < 2; j++) {
		int k = ROUNDS - 1 - ((ROUNDS - 1 - j) % 2); /* last round that used x[j] */
		float *got = t_download(ctx, x[j], N);
		int bad = 0;
		for (int i = 0; got && i < N; i++)
			bad += got[i] != (float)(k * N + i);
		CHECK_MSG(got && !bad, "device buffer %d: %d of %d values are not round %d's", j, bad,
			  N, k);
		free(got);
	}
out:
	for (int i = 0; i < 2; i++) {
		dim_staging_destroy(s[i]);
		dim_buf_release(&x[i]);
	}
}

struct hook_state {
	dim_ctx *ctx;
	int calls;
	dim_buf b;
	float seen;
};

static void hook(void *user)
{
	struct hook_state *h = user;
	h->calls++;
	/* it may wait itself: no second call, no recursion */
	dim_read(h->ctx, h->b, 0, &h->seen, sizeof h->seen);
}

static void test_wait_hook(dim_ctx *ctx)
{
	struct hook_state h = {ctx, 0, {0}, 0};
	CHECK_OK(ctx, dim_buf_create(ctx, 16, &h.b));
	if (!h.b.mem)
		return;
	CHECK_OK(ctx, dim_fill_f32(ctx, h.b, 2.5f));
	dim_ctx_set_wait_hook(ctx, hook, &h);
	CHECK(h.calls == 0); /* setting it runs nothing */
	dim_staging *s = NULL;
	CHECK_OK(ctx, dim_staging_create(ctx, 16, 0, &s));
	if (s) {
		CHECK_OK(ctx, dim_staging_read(s, 0, h.b, 0, 16));
		CHECK_OK(ctx, dim_staging_wait(s)); /* a staging fence is not a hook point */
		CHECK(h.calls == 0);
	}
	float v = 0;
	CHECK_OK(ctx, dim_read(ctx, h.b, 4, &v, sizeof v));
	CHECK(h.calls == 1 && h.seen == 2.5f && v == 2.5f);
	CHECK_OK(ctx, dim_finish(ctx));
	CHECK(h.calls == 1); /* one shot */
	dim_ctx_set_wait_hook(ctx, hook, &h);
	CHECK_OK(ctx, dim_finish(ctx));
	CHECK(h.calls == 2);
	dim_ctx_set_wait_hook(ctx, hook, &h);
	CHECK_OK(ctx, dim_write(ctx, h.b, 0, &v, sizeof v));
	CHECK(h.calls == 3);
	dim_ctx_set_wait_hook(ctx, hook, &h);
	dim_ctx_set_wait_hook(ctx, NULL, NULL); /* cleared */
	CHECK_OK(ctx, dim_finish(ctx));
	CHECK(h.calls == 3);
	dim_staging_destroy(s);
	dim_buf_release(&h.b);
}

int main(void)
{
	dim_ctx *ctx = t_ctx();
	test_round_trips(ctx);
	test_errors(ctx);
	test_double_buffer(ctx);
	test_wait_hook(ctx);
	dim_ctx_destroy(ctx);
	return T_RESULT();
}
