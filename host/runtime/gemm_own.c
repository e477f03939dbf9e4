/* Our own SGEMM for CPU OpenCL devices (cl/gemm.cl), behind dim_gemm.
 *
 * Row-major C = alpha·op(A)·op(B) + beta·C. The micro-kernel reads op(A) as
 * MR-row panels and op(B) as NR-column panels; an operand whose layout already
 * is a panel (A not transposed when M % MR == 0 — transposed, each k would
 * read MR floats of a new row: 100 vs 300 GFLOP/s on the critic's dW — B not
 * transposed when N % NR == 0) can be
 * read in place (CLDIM_GEMM_PACK=direct); by default both are packed (reading
 * in place measured 2-3x slower with leading dimensions that are powers of
 * two), zero-padded to whole tiles, into a scratch buffer owned by the
 * context (grown on demand, so only the first step of a run allocates): B
 * once, A one block of rows at a time just before that block's tiles
 * (launch_tiles).
 *
 * Tunables, read when the context picks its backend (defaults measured on
 * PoCL/AVX-512, see BENCHMARKS.md "CPU GEMM"): CLDIM_GEMM_MR / CLDIM_GEMM_NV
 * (tile rows, float16 vectors per tile row: 6 × 4, i.e. 6 × 64 tiles),
 * CLDIM_GEMM_KC / CLDIM_GEMM_GM (k-blocked kernel with GM tiles per
 * work-item; 0 = off, it did not help), CLDIM_GEMM_PACK=direct,
 * CLDIM_GEMM_SWAP_M (few-row NT products computed transposed, below),
 * CLDIM_GEMM_KB / CLDIM_GEMM_MB (K and M per tile launch, below). The tile's
 * multiply-adds are fma() where dim_ctx_use_fma says so (measured 196 → 319
 * GFLOP/s on the critic's 4096×2048×2048 GEMM, PoCL on a 2-core Sapphire
 * Rapids: mad() compiles to vmulps + vaddps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/tuning.h"
#include "internal.h"

/* Few rows and many columns, B transposed (the M = 64 products x W^T of a
 * batch: enc.fc, the scores Y M^T, the critic's Y path): compute
 * C^T = B A^T instead, so the small operand becomes the B panel that every
 * work-item reads from L2 while the large one streams past once (and is packed
 * by the cheap not-transposed A pack), and store the tile transposed. Measured
 * (tools/bench/gemm_variants.c): enc.fc 138 -> 195, scores 143 -> 166 GFLOP/s;
 * NN shapes got slower swapped (their large operand then needs the transposing
 * A pack), so they are left alone. Up to this many rows, with at least twice as
 * many columns (CLDIM_GEMM_SWAP_M, 0 = never). */
#define SWAP_M_DEFAULT 256

/* Tile launches over at most KB of K and MB rows of M (launch_tiles).
 * Measured on a 2-core Sapphire Rapids (2 MiB L2 per core), GFLOP/s of
 * tools/bench/gemm_variants.c, unblocked -> KB 2048 / MB 1024: the batch-128
 * critic's dW (2048×2048×8192) 184 -> 274, its forward (8192×2048×2048)
 * 242 -> 289, dX 245 -> 290, batch 64's 266-278 -> 277-290; the small-M and
 * small-K shapes unchanged within noise (BENCHMARKS.md, issue 15). */
#define KB_DEFAULT 2048
#define MB_DEFAULT 1024

void dim_gemm_own_shape_default(dim_gemm_own_shape *out)
{
	*out = (dim_gemm_own_shape){.mr = 6, .nv = 4, .kc = 0, .gm = 8, .swap_m = SWAP_M_DEFAULT,
				    .kb = KB_DEFAULT, .mb = MB_DEFAULT, .pack_always = true};
}

/* The context's shape: its options' (CLDIM_GEMM_MR, ... read by env.c), else
 * the defaults (set when the context is made, in gemm_own_default). */
void dim_gemm_own_configure(dim_ctx *ctx)
{
	ctx->gemm_own = ctx->gemm_own_default;
}

void dim_gemm_own_shape_get(const dim_ctx *ctx, dim_gemm_own_shape *out)
{
	*out = ctx->gemm_own;
}

bool dim_gemm_own_shape_ok(const dim_gemm_own_shape *s)
{
	return s->mr >= 1 && s->mr <= 16 && s->nv >= 1 && s->nv <= 4 && s->kc >= 0 &&
	       s->kc <= (1 << 16) && s->gm >= 1 && s->gm <= 256 && s->swap_m >= 0 && s->kb >= 0 &&
	       s->mb >= 0;
}

dim_status dim_gemm_use(dim_ctx *ctx, bool own, const dim_gemm_own_shape *s)
{
	if (own && !s && !ctx->gemm_own.mr) /* never configured yet */
		dim_gemm_own_configure(ctx);
	if (own && s) {
		if (!dim_gemm_own_shape_ok(s))
			return dim_fail(&ctx->err, DIM_ERR_ARG,
					"own GEMM shape out of range (mr %d nv %d kc %d gm %d swap_m %d kb %d mb %d)",
					s->mr, s->nv, s->kc, s->gm, s->swap_m, s->kb, s->mb);
		ctx->gemm_own = *s;
	}
	ctx->gemm_backend = own ? DIM_GEMM_OWN : DIM_GEMM_CLBLAST;
	return DIM_OK;
}

/* Fails unless the bytes [off, off + extent) of b's cl_mem exist. */
static dim_status check_extent(dim_ctx *ctx, dim_buf b, size_t rows, size_t cols, size_t ld,
			       char name, size_t M, size_t N, size_t K)
{
	size_t size = 0;
	cl_int e;
	if (ld < cols)
		return dim_fail(&ctx->err, DIM_ERR_BLAS,
				"GEMM (M=%zu N=%zu K=%zu): leading dimension of %c too small (%zu < %zu)",
				M, N, K, name, ld, cols);
	e = clGetMemObjectInfo(b.mem, CL_MEM_SIZE, sizeof size, &size, NULL);
	if (e != CL_SUCCESS)
		return dim_fail(&ctx->err, DIM_ERR_BLAS,
				"GEMM (M=%zu N=%zu K=%zu): matrix %c is not a valid buffer (%s)", M,
				N, K, name, dim_cl_error_name(e));
	if (b.off + ((rows - 1) * ld + cols) * 4 > size)
		return dim_fail(&ctx->err, DIM_ERR_BLAS,
				"GEMM (M=%zu N=%zu K=%zu): buffer of %c too small (%zu bytes from offset %zu, buffer %zu)",
				M, N, K, name, ((rows - 1) * ld + cols) * 4, b.off, size);
	if (b.off / 4 + (rows - 1) * ld + cols > (size_t)0x7fffffff)
		return dim_fail(&ctx->err, DIM_ERR_ARG,
				"GEMM (M=%zu N=%zu K=%zu): matrix %c spans more than 2^31 floats", M,
				N, K, name);
	return DIM_OK;
}

static dim_status scratch_reserve(dim_ctx *ctx, size_t bytes)
{
	dim_buf nb;
	if (bytes <= ctx->gemm_pack_bytes)
		return DIM_OK;
	bytes += bytes / 4;
	if (ctx->gemm_pack)
		clReleaseMemObject(ctx->gemm_pack);
	ctx->gemm_pack = NULL;
	ctx->gemm_pack_bytes = 0;
	if (dim_buf_create(ctx, bytes, &nb))
		return dim_fail_prefix(&ctx->err, "GEMM packing scratch: ");
	ctx->gemm_pack = nb.mem;
	ctx->gemm_pack_bytes = bytes;
	return DIM_OK;
}

static void release_pack(dim_ctx *ctx)
{
	if (ctx->gemm_pack)
		clReleaseMemObject(ctx->gemm_pack);
	ctx->gemm_pack = NULL;
	ctx->gemm_pack_bytes = 0;
}

void dim_gemm_own_release(dim_ctx *ctx) { release_pack(ctx); }

/* Range of a pack kernel: `items` along k (one per k; one per TK = 16 k for
 * the not-transposed A), `panels` rows (panels, or groups of 16 A panels for
 * the transposed-A copy). Explicit work-groups of up to 16 items:
 * with a NULL local size PoCL picked 128 x 16 and the transposing pack
 * crashed inside PoCL's work-group function. */
static void pack_range(size_t items, size_t panels, size_t g[2], size_t l[2])
{
	l[0] = items < 16 ? items : 16;
	l[1] = 1;
	g[0] = (items + l[0] - 1) / l[0] * l[0];
	g[1] = panels;
}

static dim_status own_gemm(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N,
			   size_t K, float alpha, dim_buf A, size_t lda, dim_buf B, size_t ldb,
			   float beta, dim_buf C, size_t ldc, int ct);

dim_status dim_gemm_own(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N, size_t K,
			float alpha, dim_buf A, size_t lda, dim_buf B, size_t ldb, float beta,
			dim_buf C, size_t ldc)
{
	dim_status st = check_extent(ctx, A, ta ? K : M, ta ? M : K, lda, 'A', M, N, K);
	if (!st)
		st = check_extent(ctx, B, tb ? N : K, tb ? K : N, ldb, 'B', M, N, K);
	if (!st)
		st = check_extent(ctx, C, M, N, ldc, 'C', M, N, K);
	if (st)
		return st;
	if (!ta && tb && M <= (size_t)ctx->gemm_own.swap_m && N >= 2 * M)
		return own_gemm(ctx, !tb, !ta, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc, 1);
	return own_gemm(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 0);
}

/* The largest multiple of `unit` up to `want` that splits n into near-equal
 * blocks (want 0 or >= n: one block). */
static size_t block(size_t n, size_t want, size_t unit)
{
	if (!want || want >= n)
		return n;
	size_t nblk = (n + want - 1) / want, b = (n + nblk - 1) / nblk;
	b = (b + unit - 1) / unit * unit;
	return b ? b : unit;
}

/* Where the A panels come from when A is packed: packed block by block inside
 * launch_tiles, so the mb rows just packed are still in cache when the tiles
 * read them, and the scratch holds one block instead of all of A. */
struct pack_src {
	dim_kernel *kernel; /* NULL: pa already holds A's panels (or A is read in place) */
	dim_buf A;
	size_t lda;
	int ta;
};

/* The tile kernel over M in blocks of mb rows and K in blocks of kb: each
 * launch's work-items sweep the mb rows of A once per NR-column panel of B, so
 * keeping mb·K floats in the last-level cache and the kb × NR slice of a B
 * panel in L2 (2 MiB per core on Sapphire Rapids: a 8192 × 64 panel is all of
 * it) keeps the tiles fed from cache. K blocks after the first accumulate into
 * C (beta 1); M blocks offset A by whole panels and C by rows (columns when
 * the store is transposed). */
static dim_status launch_tiles(dim_ctx *ctx, dim_kernel *tile, size_t M, size_t N, size_t K,
			       size_t mb, size_t kb, size_t gm, const struct pack_src *src,
			       dim_buf pa, int a_ps, int a_rs, int a_ks, dim_buf pb, int b_ps,
			       int b_ks, float alpha, float beta, dim_buf C, size_t ldc, int ct)
{
	const size_t mr = (size_t)ctx->gemm_own.mr, nr = 16 * (size_t)ctx->gemm_own.nv;
	for (size_t m0 = 0; m0 < M; m0 += mb) {
		const size_t m = M - m0 < mb ? M - m0 : mb, nbm = (m + mr - 1) / mr;
		size_t a_off = m0 / mr * (size_t)a_ps * 4;
		const size_t c_off = (ct ? m0 : m0 * ldc) * 4;
		dim_buf cv = dim_buf_view(C, c_off, C.bytes - c_off);
		if (src->kernel) { /* pack this block's rows of op(A) into pa */
			const size_t so = (src->ta ? m0 : m0 * src->lda) * 4;
			dim_buf av = dim_buf_view(src->A, so, src->A.bytes - so);
			size_t g[2], l[2];
			pack_range(src->ta ? K : (K + 15) / 16, src->ta ? (nbm + 15) / 16 : nbm, g, l);
			dim_status st = DIM_LAUNCH(ctx, src->kernel, 2, g, l, DIM_INT(m), DIM_INT(K),
						   DIM_BUF(av), DIM_INT(src->lda), DIM_BUF(pa));
			if (st)
				return st;
			a_off = 0;
		}
		for (size_t k0 = 0; k0 < K; k0 += kb) {
			const size_t k = K - k0 < kb ? K - k0 : kb;
			const size_t ao = a_off + k0 * (size_t)a_ks * 4, bo = k0 * (size_t)b_ks * 4;
			dim_buf av = dim_buf_view(pa, ao, pa.bytes - ao);
			dim_buf bv = dim_buf_view(pb, bo, pb.bytes - bo);
			size_t g[2] = {(nbm + gm - 1) / gm, (N + nr - 1) / nr}, l[2] = {1, 1};
			dim_status st = DIM_LAUNCH(
				ctx, tile, 2, g, l, DIM_INT(m), DIM_INT(N), DIM_INT(k), DIM_BUF(av),
				DIM_INT(a_ps), DIM_INT(a_rs), DIM_INT(a_ks), DIM_BUF(bv),
				DIM_INT(b_ps), DIM_INT(b_ks), DIM_FLOAT(alpha),
				DIM_FLOAT(k0 ? 1.0f : beta), DIM_BUF(cv), DIM_INT(ldc));
			if (st)
				return st;
		}
	}
	return DIM_OK;
}

static dim_status own_gemm(dim_ctx *ctx, dim_trans ta, dim_trans tb, size_t M, size_t N,
			   size_t K, float alpha, dim_buf A, size_t lda, dim_buf B, size_t ldb,
			   float beta, dim_buf C, size_t ldc, int ct)
{
	const size_t mr = (size_t)ctx->gemm_own.mr, nr = 16 * (size_t)ctx->gemm_own.nv;
	const size_t nbn = (N + nr - 1) / nr;
	char opts[128];
	dim_kernel *tile, *pack_a = NULL, *pack_b = NULL;
	dim_status st;
	int direct_a = !ctx->gemm_own.pack_always && !ta && M % mr == 0;
	int direct_b = !ctx->gemm_own.pack_always && !tb && N % nr == 0;
	int kc = ctx->gemm_own.kc > 0 && (size_t)ctx->gemm_own.kc < K;
	kc = kc && !ct; /* the transposed store exists in gemm_tile only */
	/* rows per tile launch; A is packed one such block at a time */
	const size_t mb = kc ? M : block(M, (size_t)ctx->gemm_own.mb, mr);
	size_t apack = direct_a ? 0 : (mb + mr - 1) / mr * mr * K, bpack = direct_b ? 0 : nbn * nr * K;

	if (apack + bpack > (size_t)0x7fffffff)
		return dim_fail(&ctx->err, DIM_ERR_ARG,
				"GEMM (M=%zu N=%zu K=%zu): packed panels exceed 2^31 floats", M, N, K);

	const char *fma = dim_ctx_use_fma(ctx) ? " -DDIM_FMA" : "";
	if (kc)
		snprintf(opts, sizeof opts, "-DMR=%d -DNV=%d -DKC=%d -DGM=%d%s", ctx->gemm_own.mr,
			 ctx->gemm_own.nv, ctx->gemm_own.kc, ctx->gemm_own.gm, fma);
	else
		snprintf(opts, sizeof opts, "-DMR=%d -DNV=%d%s%s%s", ctx->gemm_own.mr,
			 ctx->gemm_own.nv, fma, ct ? " -DCT" : "",
			 direct_a || direct_b ? "" : " -DPACKED");
	st = dim_kernel_get(ctx, "gemm", opts, kc ? "gemm_tile_kc" : "gemm_tile", &tile);
	if (!st && !direct_a)
		st = dim_kernel_get(ctx, "gemm", opts, ta ? "gemm_pack_a_copy" : "gemm_pack_a_gather",
				    &pack_a);
	if (!st && !direct_b)
		st = dim_kernel_get(ctx, "gemm", opts, tb ? "gemm_pack_b_gather" : "gemm_pack_b_copy",
				    &pack_b);
	if (!st && (apack || bpack))
		st = scratch_reserve(ctx, (apack + bpack) * 4);
	if (st)
		return st;

	dim_buf scratch = {ctx->gemm_pack, 0, ctx->gemm_pack_bytes};
	dim_buf pa = A, pb = B;
	struct pack_src src = {NULL, A, lda, (int)ta};
	int a_ps, a_rs, a_ks, b_ps, b_ks;
	if (direct_a) {
		a_ps = (int)(ta ? mr : mr * lda);
		a_rs = (int)(ta ? 1 : lda);
		a_ks = (int)(ta ? lda : 1);
	} else {
		src.kernel = pack_a;
		pa = dim_buf_view(scratch, 0, apack * 4);
		a_ps = (int)(mr * K);
		a_rs = 1;
		a_ks = (int)mr;
	}
	if (direct_b) {
		b_ps = (int)nr;
		b_ks = (int)ldb;
	} else {
		size_t g[2], l[2];
		pack_range(K, nbn, g, l);
		pb = dim_buf_view(scratch, apack * 4, bpack * 4);
		st = DIM_LAUNCH(ctx, pack_b, 2, g, l, DIM_INT(N), DIM_INT(K), DIM_BUF(B),
				DIM_INT(ldb), DIM_BUF(pb));
		if (st)
			return st;
		b_ps = (int)(nr * K);
		b_ks = (int)nr;
	}
	return launch_tiles(ctx, tile, M, N, K, mb, kc ? K : block(K, (size_t)ctx->gemm_own.kb, 1),
			    kc ? (size_t)ctx->gemm_own.gm : 1, &src, pa, a_ps, a_rs, a_ks, pb, b_ps,
			    b_ks, alpha, beta, C, ldc, ct);
}
