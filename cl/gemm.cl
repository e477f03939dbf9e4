/* gemm.cl — our own SGEMM for CPU OpenCL devices (PoCL), used by
 * host/runtime/gemm_own.c behind dim_gemm.
 *
 *   C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C          (row-major)
 *
 * One work-item computes one MR × NR register tile of C with explicit float16
 * vectors (PoCL turns them into AVX-512 FMAs directly; it does not have to
 * vectorise across work-items), work-groups of one work-item, so PoCL's
 * work-group function is just this body. Per k: NR/16 vector loads of a B row,
 * MR broadcasts of A, MR·NR/16 FMAs.
 *
 * Operands are read through "panel" strides, so the same micro-kernel runs on
 * packed panels or directly on the caller's matrices when their layout allows:
 *
 *   A tile (MR rows starting at row i0):   a(r, k) = Ap[a_base(i0) + r*a_rs + k*a_ks]
 *   B tile (NR cols starting at col j0):   b(k, c) = Bp[b_base(j0) + k*b_ks + c]
 *
 *   packed A  (gemm_pack_a_*):  panel ib = MR·K floats, a(r,k) at ib*MR*K + k*MR + r
 *                             → a_ps = MR*K, a_rs = 1,   a_ks = MR
 *   direct A, not transposed: a_ps = MR*lda, a_rs = lda, a_ks = 1
 *   direct A, transposed:     a_ps = MR,     a_rs = 1,   a_ks = lda
 *   packed B  (gemm_pack_b_*):  panel jb = K·NR floats, b(k,c) at jb*K*NR + k*NR + c
 *                             → b_ps = K*NR, b_ks = NR
 *   direct B, not transposed: b_ps = NR,     b_ks = ldb
 *
 * Packed panels are zero-padded to whole tiles, so only the C store checks
 * bounds; direct operands (host option, off by default) are used only when
 * M % MR == 0 (A) or N % NR == 0 (B). KC > 0 splits K into blocks of KC so each tile's A and B slices stay in
 * L1/L2 while the work-items of one work-group row reuse them (see GROUP).
 *
 * Tunables (-D): MR (rows per tile, default 6), NV (float16 vectors per tile
 * row, default 4, NR = 16·NV: 24 accumulators + 4 B vectors of the 32 zmm
 * registers); for gemm_tile_kc, KC (k-block, default 256)
 * and GM (tiles down M per work-item, default 8). DIM_FMA (set by the host
 * from dim_ctx_use_fma): the tile's multiply-adds are fma(), which PoCL
 * compiles to vfmadd; mad() becomes a multiply and an add. PACKED (set by the
 * host when both operands are packed, the default): the panel strides are the
 * constants MR and NR and the k loop is unrolled by UNROLL_K (default 4), which
 * PoCL cannot do with run-time strides: 6 × 64 tiles of the critic's GEMMs
 * measured 280-290 -> 300-310 GFLOP/s on a 2-core Sapphire Rapids (unrolling
 * by 2 the same, by 8 no gain).
 */
#ifdef DIM_FMA
#define MADD(a, b, c) fma(a, b, c)
#else
#define MADD(a, b, c) mad(a, b, c)
#endif
#ifndef MR
#define MR 6
#endif
#ifndef NV
#define NV 4
#endif
#define NR (16 * NV)
#ifndef KC
#define KC 256
#endif
#ifndef GM
#define GM 8
#endif
#ifndef UNROLL_K
#define UNROLL_K 4
#endif

/* Packing. The panels are k-major ([k][r] for A, [k][c] for B), so an
 * operand whose rows run along M (A transposed) or N (B not transposed) is a
 * copy of contiguous runs, and the other two are transposes. Each work-item
 * moves a whole block with explicit vectors on the unguarded fast path (whole
 * tiles inside the matrix); the guarded tail zero-pads. (One element per
 * work-item with a guarded load left PoCL's code scalar: 5-11 ms to pack a
 * 4096 x 2048 operand, about a third of the copy bandwidth.) Indices are int:
 * the host refuses operands over 2^31 floats. TK = k values per work-item of
 * the transposing packs. */
#define TK 16

/* A transposed (A[k*lda + i]): work-item (k, g) copies the TK*MR floats
 * A[k][g*TK*MR..] (whole cache lines) into the TK panels g*TK.. at row k;
 * neighbouring work-items (k, k+1) fill neighbouring rows of each panel. */
__kernel void gemm_pack_a_copy(const int M, const int K, __global const float *restrict A,
			       const int A_off, const int lda, __global float *restrict Ap,
			       const int Ap_off)
{
	const int k = (int)get_global_id(0), g = (int)get_global_id(1), i0 = g * TK * MR;
	if (k >= K)
		return;
	const __global float *src = A + A_off + k * lda + i0;
	__global float *dst = Ap + Ap_off + (g * TK * K + k) * MR;
	if (i0 + TK * MR <= M) {
#pragma unroll
		for (int p = 0; p < TK; p++)
#pragma unroll
			for (int r = 0; r < MR; r++)
				dst[p * K * MR + r] = src[p * MR + r];
	} else {
		for (int p = 0; p < TK && i0 + p * MR < M; p++)
			for (int r = 0; r < MR; r++)
				dst[p * K * MR + r] = i0 + p * MR + r < M ? src[p * MR + r] : 0.0f;
	}
}

/* B not transposed (B[k*ldb + j]): work-item (k, jb) copies the NR floats
 * B[k][jb*NR..] to Bp[jb][k][0..NR). */
__kernel void gemm_pack_b_copy(const int N, const int K, __global const float *restrict B,
			       const int B_off, const int ldb, __global float *restrict Bp,
			       const int Bp_off)
{
	const int k = (int)get_global_id(0), jb = (int)get_global_id(1), j0 = jb * NR;
	if (k >= K)
		return;
	const __global float *src = B + B_off + k * ldb + j0;
	__global float *dst = Bp + Bp_off + (jb * K + k) * NR;
	if (j0 + NR <= N) {
#pragma unroll
		for (int v = 0; v < NV; v++)
			vstore16(vload16(v, src), v, dst);
	} else {
		for (int c = 0; c < NR; c++)
			dst[c] = j0 + c < N ? src[c] : 0.0f;
	}
}

/* A not transposed (A[i*lda + k]): work-item (kb, ib) transposes the MR x TK
 * block at rows ib*MR.., columns kb*TK.. into Ap[ib][kb*TK..][0..MR). */
__kernel void gemm_pack_a_gather(const int M, const int K, __global const float *restrict A,
				 const int A_off, const int lda, __global float *restrict Ap,
				 const int Ap_off)
{
	const int k0 = (int)get_global_id(0) * TK, ib = (int)get_global_id(1), i0 = ib * MR;
	if (k0 >= K)
		return;
	const __global float *src = A + A_off + i0 * lda + k0;
	__global float *dst = Ap + Ap_off + (ib * K + k0) * MR;
	if (i0 + MR <= M && k0 + TK <= K) {
		/* the MR source lines are in L1 after the first kk */
#pragma unroll
		for (int kk = 0; kk < TK; kk++)
#pragma unroll
			for (int r = 0; r < MR; r++)
				dst[kk * MR + r] = src[r * lda + kk];
	} else {
		for (int kk = 0; kk < TK && k0 + kk < K; kk++)
			for (int r = 0; r < MR; r++)
				dst[kk * MR + r] = i0 + r < M ? src[r * lda + kk] : 0.0f;
	}
}

/* B transposed (B[j*ldb + k]): work-item (k, jb) writes the NR floats
 * Bp[jb][k][0..NR) from column k of rows jb*NR..; neighbouring work-items
 * read neighbouring k. (Blocks of TK k per work-item measured slower here:
 * 5.2-5.9 vs 4.4 ms for a 2048 x 2048 operand.) */
__kernel void gemm_pack_b_gather(const int N, const int K, __global const float *restrict B,
				 const int B_off, const int ldb, __global float *restrict Bp,
				 const int Bp_off)
{
	const int k = (int)get_global_id(0), jb = (int)get_global_id(1), j0 = jb * NR;
	if (k >= K)
		return;
	const __global float *src = B + B_off + j0 * ldb + k;
	__global float *dst = Bp + Bp_off + (jb * K + k) * NR;
	if (j0 + NR <= N) {
#pragma unroll
		for (int c = 0; c < NR; c++)
			dst[c] = src[c * ldb];
	} else {
		for (int c = 0; c < NR; c++)
			dst[c] = j0 + c < N ? src[c * ldb] : 0.0f;
	}
}

/* With -DCT the kernel computes the transpose of the caller's product (the
 * host swapped the operands, see gemm_own.c): tile element (i, j) goes to
 * C[j*ldc + i]. Scalar stores, 6 x 64 per tile, against K multiply-adds per
 * element. */
#define STORE_ROW_T(r)                                                                 \
	do {                                                                           \
		if (i0 + (r) < M) {                                                    \
			for (int v = 0; v < NV; v++) {                                 \
				float tmp[16];                                         \
				vstore16(alpha * acc[r][v], 0, tmp);                   \
				for (int c = 0; c < 16; c++) {                         \
					const int j = j0 + 16 * v + c;                 \
					if (j < N) {                                   \
						__global float *p =                    \
							C + (size_t)j * ldc + i0 + (r); \
						*p = beta != 0.0f ? mad(beta, *p, tmp[c]) \
								  : tmp[c];            \
					}                                              \
				}                                                      \
			}                                                              \
		}                                                                      \
	} while (0)

/* C rows i0.., cols j0.. = alpha·acc + beta·C (beta == 0: C is not read). */
#define STORE_ROW(r)                                                                   \
	do {                                                                           \
		__global float *crow = C + (size_t)(i0 + (r)) * ldc + j0;              \
		if (full) {                                                            \
			for (int v = 0; v < NV; v++) {                                 \
				float16 x = alpha * acc[r][v];                         \
				if (beta != 0.0f)                                      \
					x = mad((float16)beta, vload16(v, crow), x);   \
				vstore16(x, v, crow);                                  \
			}                                                              \
		} else if (i0 + (r) < M) {                                             \
			for (int v = 0; v < NV; v++) {                                 \
				float tmp[16];                                         \
				vstore16(alpha * acc[r][v], 0, tmp);                   \
				for (int c = 0; c < 16; c++) {                         \
					const int j = j0 + 16 * v + c;                 \
					if (j < N)                                     \
						crow[16 * v + c] =                     \
							beta != 0.0f                   \
								? mad(beta, crow[16 * v + c], tmp[c]) \
								: tmp[c];              \
				}                                                      \
			}                                                              \
		}                                                                      \
	} while (0)

/* One MR × NR tile of C per work-item: work-item (ib, jb) → rows ib*MR..,
 * cols jb*NR... */
__kernel void gemm_tile(const int M, const int N, const int K,
			__global const float *Ap, const int Ap_off, const int a_ps, const int a_rs,
			const int a_ks,
			__global const float *Bp, const int Bp_off, const int b_ps, const int b_ks,
			const float alpha, const float beta, __global float *C, const int C_off, const int ldc)
{
	const int ib = (int)get_global_id(0), jb = (int)get_global_id(1);
	const int i0 = ib * MR, j0 = jb * NR;
	if (i0 >= M || j0 >= N)
		return;
	const __global float *a = Ap + Ap_off + (size_t)ib * a_ps;
	const __global float *b = Bp + Bp_off + (size_t)jb * b_ps;
	C += C_off;

	float16 acc[MR][NV];
#pragma unroll
	for (int r = 0; r < MR; r++)
#pragma unroll
		for (int v = 0; v < NV; v++)
			acc[r][v] = (float16)(0.0f);

#ifdef PACKED
#define K_STEP(kk)                                                                     \
	do {                                                                           \
		float16 bv[NV];                                                        \
		_Pragma("unroll") for (int v = 0; v < NV; v++)                         \
			bv[v] = vload16(v, b + (kk) * NR);                             \
		_Pragma("unroll") for (int r = 0; r < MR; r++)                         \
		{                                                                      \
			const float16 av = (float16)(a[(kk) * MR + r]);                \
			_Pragma("unroll") for (int v = 0; v < NV; v++)                 \
				acc[r][v] = MADD(av, bv[v], acc[r][v]);                \
		}                                                                      \
	} while (0)
	int k = 0;
	for (; k + UNROLL_K <= K; k += UNROLL_K) {
#pragma unroll
		for (int u = 0; u < UNROLL_K; u++)
			K_STEP(k + u);
	}
	for (; k < K; k++)
		K_STEP(k);
#else
	for (int k = 0; k < K; k++) {
		float16 bv[NV];
#pragma unroll
		for (int v = 0; v < NV; v++)
			bv[v] = vload16(v, b);
#pragma unroll
		for (int r = 0; r < MR; r++) {
			const float16 av = (float16)(a[r * a_rs]);
#pragma unroll
			for (int v = 0; v < NV; v++)
				acc[r][v] = MADD(av, bv[v], acc[r][v]);
		}
		a += a_ks;
		b += b_ks;
	}
#endif

#ifdef CT
#pragma unroll
	for (int r = 0; r < MR; r++)
		STORE_ROW_T(r);
#else
	const int full = i0 + MR <= M && j0 + NR <= N;
#pragma unroll
	for (int r = 0; r < MR; r++)
		STORE_ROW(r);
#endif
}

/* Cache-blocked form: work-item (ig, jb) computes the GM tiles ib = ig*GM ..
 * of column block jb, K in blocks of KC: the KC × NR slice of B stays in L1
 * while the GM slices of A stream past it. The first k-block stores
 * alpha·acc + beta·C, later ones add alpha·acc to C. */
__kernel void gemm_tile_kc(const int M, const int N, const int K,
			   __global const float *Ap, const int Ap_off, const int a_ps,
			   const int a_rs, const int a_ks,
			   __global const float *Bp, const int Bp_off, const int b_ps,
			   const int b_ks, const float alpha, const float beta0,
			   __global float *C, const int C_off, const int ldc)
{
	const int ig = (int)get_global_id(0), jb = (int)get_global_id(1);
	const int j0 = jb * NR;
	if (ig * GM * MR >= M || j0 >= N)
		return;
	C += C_off;
	for (int k0 = 0; k0 < K; k0 += KC) {
		const int kn = min(KC, K - k0);
		const float beta = k0 == 0 ? beta0 : 1.0f;
		for (int t = 0; t < GM; t++) {
			const int ib = ig * GM + t, i0 = ib * MR;
			if (i0 >= M)
				break;
			const __global float *a = Ap + Ap_off + (size_t)ib * a_ps + (size_t)k0 * a_ks;
			const __global float *b = Bp + Bp_off + (size_t)jb * b_ps + (size_t)k0 * b_ks;
			float16 acc[MR][NV];
#pragma unroll
			for (int r = 0; r < MR; r++)
#pragma unroll
				for (int v = 0; v < NV; v++)
					acc[r][v] = (float16)(0.0f);
			for (int k = 0; k < kn; k++) {
				float16 bv[NV];
#pragma unroll
				for (int v = 0; v < NV; v++)
					bv[v] = vload16(v, b);
#pragma unroll
				for (int r = 0; r < MR; r++) {
					const float16 av = (float16)(a[r * a_rs]);
#pragma unroll
					for (int v = 0; v < NV; v++)
						acc[r][v] = MADD(av, bv[v], acc[r][v]);
				}
				a += a_ks;
				b += b_ks;
			}
			const int full = i0 + MR <= M && j0 + NR <= N;
#pragma unroll
			for (int r = 0; r < MR; r++)
				STORE_ROW(r);
		}
	}
}
