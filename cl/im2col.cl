/* im2col.cl — the column matrix of a 2-D convolution and its adjoint, built
 * once per layer geometry: the window KH, KW, stride SH, SW, padding PH, PW
 * and the plane sizes H, W (input) and OH, OW (output) are -D constants, so
 * the window loops unroll and pixel-index splits are multiplies and shifts.
 * (The runtime-geometry form with one work-item per column element spent
 * 8–12 ms per call on PoCL: scalar div/mod and 8-item work-groups.)
 *
 * Layouts as in conv.cl: x NCHW [N][C][H][W]; col element (r, n, p) at
 * col[r*ld_row + n*ld_img + p], r = (c*KH + kh)*KW + kw, p = oh*OW + ow;
 * (ld_row, ld_img) = (N*P, P) is the batched [R][N*P] layout, (P, R*P) the
 * per-image [N][R][P] one. Every buffer argument is (pointer, offset in
 * floats); indices are int (buffers hold < 2^31 floats): with size_t
 * arithmetic PoCL could not see that neighbouring work-items touch
 * neighbouring addresses and emitted scatters.
 *
 * Both run on 3-D ranges with pixels first and no bounds test (the host
 * picks a work-group size that divides the pixel count): a guarded body or a
 * division left inside PoCL's work-item loop kept it from vectorising.
 *
 * im2col_fwd  range (P, R, N): work-item (p, r, n) writes col[r][n][p]
 *             (zero where the window leaves the image); neighbouring
 *             work-items store to neighbouring p. The load is clamped into
 *             the image and padding is a select, so the body vectorises.
 * im2col_adj  work-item (q = ih*W + iw, c, n), the gather adjoint:
 *             dx[n][c][ih][iw] (+)= sum over the (kh, kw) whose window covers
 *             (ih, iw) of col[r][n][p]; a fixed order, no atomics.
 */
#if !defined(KH) || !defined(KW) || !defined(SH) || !defined(SW) || !defined(PH) || \
	!defined(PW) || !defined(H) || !defined(W) || !defined(OH) || !defined(OW)
#error "im2col.cl needs -DKH -DKW -DSH -DSW -DPH -DPW -DH -DW -DOH -DOW"
#endif

/* i clamped into [0, n): a select, not clamp(), which PoCL's vectoriser sees
 * as an opaque call ("instruction return type cannot be vectorized") */
#define CLAMP(i, n) ((i) < 0 ? 0 : (i) >= (n) ? (n) - 1 : (i))

__kernel void im2col_fwd(__global const float *x, const int x_off, __global float *col,
			 const int col_off, const int C, const int ld_row, const int ld_img)
{
	const int p = (int)get_global_id(0), r = (int)get_global_id(1);
	const int n = (int)get_global_id(2);
	const int c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
	const int oh = p / OW, ow = p - oh * OW;
	const int ih = oh * SH - PH + kh, iw = ow * SW - PW + kw;
	const float v = x[x_off + ((n * C + c) * H + CLAMP(ih, H)) * W + CLAMP(iw, W)];
	col[col_off + r * ld_row + n * ld_img + p] =
		ih >= 0 && ih < H && iw >= 0 && iw < W ? v : 0.0f;
}

__kernel void im2col_adj(__global const float *col, const int col_off, __global float *dx,
			 const int dx_off, const int C, const int ld_row, const int ld_img,
			 const int accumulate)
{
	const int q = (int)get_global_id(0), c = (int)get_global_id(1);
	const int n = (int)get_global_id(2), nc = n * C + c;
	const int ih = q / W, iw = q - ih * W;
	const int src = col_off + c * KH * KW * ld_row + n * ld_img;
	/* only the kh ≡ ih + PH (mod SH) can cover ih (likewise kw): ceil(K/S)
	 * candidates per axis instead of K, in ascending order as before */
	const int kh0 = (ih + PH) % SH, kw0 = (iw + PW) % SW;
	float acc = 0.0f;
#pragma unroll
	for (int i = 0; i < (KH + SH - 1) / SH; i++) {
		const int kh = kh0 + i * SH, oh = (ih + PH - kh) / SH;
		if (kh >= KH || ih + PH - kh < 0 || oh >= OH)
			continue;
#pragma unroll
		for (int j = 0; j < (KW + SW - 1) / SW; j++) {
			const int kw = kw0 + j * SW, ow = (iw + PW - kw) / SW;
			if (kw >= KW || iw + PW - kw < 0 || ow >= OW)
				continue;
			acc += col[src + (kh * KW + kw) * ld_row + oh * OW + ow];
		}
	}
	const int d = dx_off + nc * H * W + q;
	dx[d] = accumulate ? dx[d] + acc : acc;
}
