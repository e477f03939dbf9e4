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
 * context (grown on demand, so only the first step of a run allocates), one
 * block of K (and of M rows, for A) at a time, just before the tiles that read
 * it (launch_tiles).
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

/* One operand of the tile kernel, read through the panel strides ps/rs/ks:
 * packed block by block into `panels` by `pack` (operand_block then sets ps to
 * the block's panel size), or, with pack NULL, read in place from src. */
struct operand {
	dim_kernel *pack;
	dim_buf src, panels;
	size_t ld;
	int trans, ps, rs, ks;
};

/* The view of operand o for the block at (i0, k0) — i0 a row of op(A) or a
 * column of op(B), a multiple of the panel width w — packing it first: rows
 * (columns) [i0, i0 + n) and k in [k0, k0 + k). Packed, it is a fresh set of
 * panels of depth k at the start of o->panels; in place, an offset into src. */
static dim_status operand_block(dim_ctx *ctx, struct operand *o, int is_a, size_t i0, size_t n,
				size_t k0, size_t k, size_t w, dim_buf *view)
{
	size_t off;
	if (!o->pack) {
		off = (i0 / w * (size_t)o->ps + k0 * (size_t)o->ks) * 4;
		*view = dim_buf_view(o->src, off, o->src.bytes - off);
		return DIM_OK;
	}
	/* element (i, k) of op(X) sits at k*ld + i when op(X) runs along its
	 * rows in memory (A transposed, B not), else at i*ld + k */
	const int along = is_a ? o->trans : !o->trans;
	const size_t nb = (n + w - 1) / w;
	size_t g[2], l[2];
	off = (along ? k0 * o->ld + i0 : i0 * o->ld + k0) * 4;
	if (is_a)
		pack_range(o->trans ? k : (k + 15) / 16, o->trans ? (nb + 15) / 16 : nb, g, l);
	else
		pack_range(k, nb, g, l);
	dim_buf sv = dim_buf_view(o->src, off, o->src.bytes - off);
	o->ps = (int)(w * k);
	*view = o->panels;
	return DIM_LAUNCH(ctx, o->pack, 2, g, l, DIM_INT(n), DIM_INT(k), DIM_BUF(sv),
			  DIM_INT(o->ld), DIM_BUF(o->panels));
}

/* The tile kernel over K in blocks of kb and M in blocks of mb rows. Each
 * block of B (kb × N) and of A (mb × kb) is packed just before the tiles that
 * read it, so it is still in cache, and the scratch holds one block of each
 * instead of both operands. Within a launch the work-items sweep the mb rows
 * of A once per NR-column panel of B: the kb × NR panel slice stays in L2 (2 MiB
 * per core on Sapphire Rapids: a whole 8192 × 64 panel would fill it) and the
 * mb rows of A in the last-level cache. K blocks after the first accumulate
 * into C (beta 1); M blocks offset C by rows (columns when the store is
 * transposed). */
static dim_status launch_tiles(dim_ctx *ctx, dim_kernel *tile, size_t M, size_t N, size_t K,
			       size_t mb, size_t kb, size_t gm, struct operand *a,
			       struct operand *b, float alpha, float beta, dim_buf C, size_t ldc,
			       int ct)
{
	const size_t mr = (size_t)ctx->gemm_own.mr, nr = 16 * (size_t)ctx->gemm_own.nv;
	dim_status st;
	for (size_t k0 = 0; k0 < K; k0 += kb) {
		const size_t k = K - k0 < kb ? K - k0 : kb;
		dim_buf bv, av;
		st = operand_block(ctx, b, 0, 0, N, k0, k, nr, &bv);
		for (size_t m0 = 0; !st && m0 < M; m0 += mb) {
			const size_t m = M - m0 < mb ? M - m0 : mb, nbm = (m + mr - 1) / mr;
			const size_t c_off = (ct ? m0 : m0 * ldc) * 4;
			dim_buf cv = dim_buf_view(C, c_off, C.bytes - c_off);
			size_t g[2] = {(nbm + gm - 1) / gm, (N + nr - 1) / nr}, l[2] = {1, 1};
			st = operand_block(ctx, a, 1, m0, m, k0, k, mr, &av);
			if (!st)
				st = DIM_LAUNCH(ctx, tile, 2, g, l, DIM_INT(m), DIM_INT(N), DIM_INT(k),
						DIM_BUF(av), DIM_INT(a->ps), DIM_INT(a->rs),
						DIM_INT(a->ks), DIM_BUF(bv), DIM_INT(b->ps),
						DIM_INT(b->ks), DIM_FLOAT(alpha),
						DIM_FLOAT(k0 ? 1.0f : beta), DIM_BUF(cv), DIM_INT(ldc));
		}
		if (st)
			return st;
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
	/* the blocks of one tile launch; operands are packed one block at a time */
	const size_t mb = kc ? M : block(M, (size_t)ctx->gemm_own.mb, mr);
	const size_t kb = kc ? K : block(K, (size_t)ctx->gemm_own.kb, 1);
	size_t apack = direct_a ? 0 : (mb + mr - 1) / mr * mr * kb;
	size_t bpack = direct_b ? 0 : nbn * nr * kb;

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
	struct operand a = {pack_a, A, dim_buf_view(scratch, 0, apack * 4), lda, (int)ta, 0, 1,
			    (int)mr};
	struct operand b = {pack_b, B, dim_buf_view(scratch, apack * 4, bpack * 4), ldb, (int)tb,
			    0, 1, (int)nr};
	if (direct_a) {
		a.ps = (int)(ta ? mr : mr * lda);
		a.rs = (int)(ta ? 1 : lda);
		a.ks = (int)(ta ? lda : 1);
	}
	if (direct_b) {
		b.ps = (int)nr;
		b.ks = (int)ldb;
	}
	return launch_tiles(ctx, tile, M, N, K, mb, kb, kc ? (size_t)ctx->gemm_own.gm : 1, &a, &b,
			    alpha, beta, C, ldc, ct);
}
