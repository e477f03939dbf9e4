/* batchnorm.cl — batch normalisation over N and the spatial positions, per
 * channel (PyTorch BatchNorm1d/2d semantics).
 *
 * Layout: x, y, dx, dy [N][C][S] row-major (S = H*W, or 1 for [N, C]); per
 * channel vectors [C]: weight (gamma), bias (beta), mean, rstd = 1/sqrt(var +
 * eps), running_mean, running_var. M = N*S values per channel; element i of
 * channel c is at (i / S) * C * S + c * S + i % S. Every buffer argument is
 * (pointer, offset in floats); kernels add the offset first.
 *
 * bn_forward_stats   one work-group per channel (power-of-two local size):
 *                    mean, then the biased variance around it (two passes,
 *                    strided partial sums + a tree in local memory: a fixed
 *                    order). Saves mean and rstd; with update_running,
 *                    running = (1-momentum)*running + momentum*batch, using the
 *                    unbiased variance var*M/(M-1) for running_var.
 * bn_eval_stats      one work-item per channel: mean = running_mean,
 *                    rstd = 1/sqrt(running_var + eps).
 * bn_forward_apply   one work-item per element: y = (x-mean)*rstd*gamma + beta.
 * bn_backward_reduce one work-group per channel: sum_dy = sum dy, sum_dyxh =
 *                    sum dy*xhat (xhat = (x-mean)*rstd); dgamma += sum_dyxh,
 *                    dbeta += sum_dy; the two sums are kept in sums[2][C].
 * bn_forward_apply_rows / bn_backward_dx_rows  the same for the rows layout
 *                    (S == 1) with C % 16 == 0: work-item (v, r) handles the
 *                    16 channels 16v.. of row r with float16 loads (the 1-D
 *                    forms split i by a runtime C and stayed scalar: 14-15 ms
 *                    on 4096 x 2048 against ~3 ms).
 * bn_backward_dx     one work-item per element:
 *                    batch statistics: dx = gamma*rstd*(dy - sum_dy/M - xhat*sum_dyxh/M)
 *                    running statistics: dx = gamma*rstd*dy
 *                    written (=) or added (+=, accumulate).
 */

/* Sum of v over the work-group; every work-item gets the total. */
static float bn_group_sum(__local float *part, float v)
{
	const int lid = (int)get_local_id(0);
	part[lid] = v;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (int h = (int)get_local_size(0) / 2; h > 0; h /= 2) {
		if (lid < h)
			part[lid] += part[lid + h];
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	const float s = part[0];
	barrier(CLK_LOCAL_MEM_FENCE);
	return s;
}

__kernel void bn_forward_stats(__global const float *x, const int x_off, __global float *mean,
			       const int mean_off, __global float *rstd, const int rstd_off,
			       __global float *rmean, const int rmean_off, __global float *rvar,
			       const int rvar_off, const int N, const int C, const int S,
			       const float eps, const float momentum, const int update_running,
			       __local float *part)
{
	x += x_off;
	mean += mean_off;
	rstd += rstd_off;
	rmean += rmean_off;
	rvar += rvar_off;
	const int c = (int)get_group_id(0);
	const int lid = (int)get_local_id(0), ls = (int)get_local_size(0);
	const int M = N * S;
	__global const float *xc = x + c * S;
	float s = 0.0f;
	for (int i = lid; i < M; i += ls)
		s += xc[(i / S) * C * S + i % S];
	const float mu = bn_group_sum(part, s) / (float)M;
	s = 0.0f;
	for (int i = lid; i < M; i += ls) {
		const float d = xc[(i / S) * C * S + i % S] - mu;
		s += d * d;
	}
	const float var = bn_group_sum(part, s) / (float)M;
	if (lid == 0) {
		mean[c] = mu;
		rstd[c] = rsqrt(var + eps);
		if (update_running) {
			rmean[c] = (1.0f - momentum) * rmean[c] + momentum * mu;
			rvar[c] = (1.0f - momentum) * rvar[c] +
				  momentum * var * ((float)M / (float)(M - 1));
		}
	}
}

__kernel void bn_eval_stats(__global float *mean, const int mean_off, __global float *rstd,
			    const int rstd_off, __global const float *rmean, const int rmean_off,
			    __global const float *rvar, const int rvar_off, const int C,
			    const float eps)
{
	mean += mean_off;
	rstd += rstd_off;
	rmean += rmean_off;
	rvar += rvar_off;
	const int c = (int)get_global_id(0);
	if (c < C) {
		mean[c] = rmean[c];
		rstd[c] = rsqrt(rvar[c] + eps);
	}
}

__kernel void bn_forward_apply(__global float *y, const int y_off, __global const float *x,
			       const int x_off, __global const float *mean, const int mean_off,
			       __global const float *rstd, const int rstd_off,
			       __global const float *gamma, const int gamma_off,
			       __global const float *beta, const int beta_off, const int total,
			       const int C, const int S, const int has_gamma, const int has_beta)
{
	y += y_off;
	x += x_off;
	mean += mean_off;
	rstd += rstd_off;
	gamma += gamma_off;
	beta += beta_off;
	const int i = (int)get_global_id(0);
	if (i >= total)
		return;
	const int c = (i / S) % C;
	float v = (x[i] - mean[c]) * rstd[c];
	if (has_gamma)
		v *= gamma[c];
	if (has_beta)
		v += beta[c];
	y[i] = v;
}

__kernel void bn_backward_reduce(__global const float *dy, const int dy_off,
				 __global const float *x, const int x_off,
				 __global const float *mean, const int mean_off,
				 __global const float *rstd, const int rstd_off,
				 __global float *sums, const int sums_off, __global float *dgamma,
				 const int dgamma_off, __global float *dbeta, const int dbeta_off,
				 const int N, const int C, const int S, const int has_dgamma,
				 const int has_dbeta, __local float *part)
{
	dy += dy_off;
	x += x_off;
	mean += mean_off;
	rstd += rstd_off;
	sums += sums_off;
	dgamma += dgamma_off;
	dbeta += dbeta_off;
	const int c = (int)get_group_id(0);
	const int lid = (int)get_local_id(0), ls = (int)get_local_size(0);
	const int M = N * S;
	const float mu = mean[c], rs = rstd[c];
	float a = 0.0f, b = 0.0f;
	for (int i = lid; i < M; i += ls) {
		const int j = (i / S) * C * S + c * S + i % S;
		a += dy[j];
		b += dy[j] * (x[j] - mu) * rs;
	}
	a = bn_group_sum(part, a);
	b = bn_group_sum(part, b);
	if (lid == 0) {
		sums[c] = a;
		sums[C + c] = b;
		if (has_dgamma)
			dgamma[c] += b;
		if (has_dbeta)
			dbeta[c] += a;
	}
}

__kernel void bn_backward_dx(__global float *dx, const int dx_off, __global const float *dy,
			     const int dy_off, __global const float *x, const int x_off,
			     __global const float *mean, const int mean_off,
			     __global const float *rstd, const int rstd_off,
			     __global const float *gamma, const int gamma_off,
			     __global const float *sums, const int sums_off, const int N,
			     const int C, const int S, const int has_gamma, const int batch_stats,
			     const int accumulate)
{
	dx += dx_off;
	dy += dy_off;
	x += x_off;
	mean += mean_off;
	rstd += rstd_off;
	gamma += gamma_off;
	sums += sums_off;
	const int i = (int)get_global_id(0);
	if (i >= N * C * S)
		return;
	const int c = (i / S) % C;
	const float g = (has_gamma ? gamma[c] : 1.0f) * rstd[c];
	float v = dy[i];
	if (batch_stats) {
		const float inv_m = 1.0f / (float)(N * S);
		const float xhat = (x[i] - mean[c]) * rstd[c];
		v -= sums[c] * inv_m + xhat * sums[C + c] * inv_m;
	}
	v *= g;
	dx[i] = accumulate ? dx[i] + v : v;
}

/* Rows layout (S == 1: x [R, C] with R = N, e.g. the 1x1-conv critic on
 * per-location rows). The per-channel kernels above read a column with
 * stride C, one cache line per value; here adjacent work-items take adjacent
 * channels of the same row, so reads are contiguous, in two steps:
 *
 * bn_rows_partial  sums over the p-th of P contiguous row blocks; either
 *                  (stream = 0, GPUs) work-item (v, p) takes the 16 channels
 *                  16v.. (float16 loads, scalar for a tail), or (stream = 1,
 *                  CPU devices) work-item (0, p) streams its rows whole,
 *                  adding each into the partial-sum row (in L1); column
 *                  slices read one 64-byte piece per 8 KiB row and ran at
 *                  half the copy bandwidth (one element per work-item with a
 *                  row loop stayed scalar on PoCL: 4.8 ms for 4096 x 2048):
 *                  mode 0: x            -> part[p*C + c]
 *                  mode 1: (x-mean)^2   -> part[p*C + c]
 *                  mode 2: dy, dy*xhat  -> part[p*C + c], part[(P+p)*C + c]
 * bn_rows_finish   work-item c folds the P partials in order:
 *                  stage 0: mean;  stage 1: rstd and running statistics;
 *                  stage 2: sums[2][C], dgamma += sum dy*xhat, dbeta += sum dy.
 */
__kernel void bn_rows_partial(__global const float *x, const int x_off,
			      __global const float *dy, const int dy_off,
			      __global const float *mean, const int mean_off,
			      __global const float *rstd, const int rstd_off,
			      __global float *part, const int part_off, const int R, const int C,
			      const int P, const int mode, const int stream)
{
	const int g = (int)get_global_id(0), p = (int)get_global_id(1);
	const int r0 = (int)((long)R * p / P), r1 = (int)((long)R * (p + 1) / P);
	x += x_off;
	dy += dy_off;
	mean += mean_off;
	rstd += rstd_off;
	part += part_off + p * C;
	if (stream) {
		/* one work-item per row block, whole rows streamed in order; the
		 * partial-sum rows (C floats each) stay in L1 */
		if (g > 0)
			return;
		const int V = C / 16;
		for (int c = 0; c < C; c++) {
			part[c] = 0.0f;
			if (mode == 2)
				part[P * C + c] = 0.0f;
		}
		for (int r = r0; r < r1; r++) {
			const __global float *xr = x + r * C, *gr = dy + r * C;
			for (int v = 0; v < V; v++) {
				const float16 xv = vload16(v, xr);
				float16 a = vload16(v, part);
				if (mode == 0) {
					a += xv;
				} else if (mode == 1) {
					const float16 d = xv - vload16(v, mean);
					a += d * d;
				} else {
					const float16 gv = vload16(v, gr);
					a += gv;
					vstore16(vload16(v, part + P * C) +
							 gv * (xv - vload16(v, mean)) * vload16(v, rstd),
						 v, part + P * C);
				}
				vstore16(a, v, part);
			}
			for (int c = V * 16; c < C; c++) {
				if (mode == 0) {
					part[c] += xr[c];
				} else if (mode == 1) {
					const float d = xr[c] - mean[c];
					part[c] += d * d;
				} else {
					part[c] += gr[c];
					part[P * C + c] += gr[c] * (xr[c] - mean[c]) * rstd[c];
				}
			}
		}
		return;
	}
	const int c0 = g * 16;
	if (c0 >= C)
		return;
	x += c0;
	dy += c0;
	mean += c0;
	rstd += c0;
	part += c0;
	if (c0 + 16 <= C) {
		float16 a = (float16)(0.0f), b = (float16)(0.0f);
		if (mode == 0) {
			for (int r = r0; r < r1; r++)
				a += vload16(0, x + r * C);
		} else if (mode == 1) {
			const float16 mu = vload16(0, mean);
			for (int r = r0; r < r1; r++) {
				const float16 d = vload16(0, x + r * C) - mu;
				a += d * d;
			}
		} else {
			const float16 mu = vload16(0, mean), rs = vload16(0, rstd);
			for (int r = r0; r < r1; r++) {
				const float16 gv = vload16(0, dy + r * C);
				a += gv;
				b += gv * (vload16(0, x + r * C) - mu) * rs;
			}
			vstore16(b, 0, part + P * C);
		}
		vstore16(a, 0, part);
		return;
	}
	for (int c = 0; c < C - c0; c++) {
		float a = 0.0f, b = 0.0f;
		if (mode == 0) {
			for (int r = r0; r < r1; r++)
				a += x[r * C + c];
		} else if (mode == 1) {
			for (int r = r0; r < r1; r++) {
				const float d = x[r * C + c] - mean[c];
				a += d * d;
			}
		} else {
			for (int r = r0; r < r1; r++) {
				const float gv = dy[r * C + c];
				a += gv;
				b += gv * (x[r * C + c] - mean[c]) * rstd[c];
			}
			part[P * C + c] = b;
		}
		part[c] = a;
	}
}

__kernel void bn_rows_finish(__global const float *part, const int part_off,
			     __global float *mean, const int mean_off, __global float *rstd,
			     const int rstd_off, __global float *rmean, const int rmean_off,
			     __global float *rvar, const int rvar_off, __global float *sums,
			     const int sums_off, __global float *dgamma, const int dgamma_off,
			     __global float *dbeta, const int dbeta_off, const int R, const int C,
			     const int P, const int stage, const float eps, const float momentum,
			     const int flags)
{
	part += part_off;
	mean += mean_off;
	rstd += rstd_off;
	rmean += rmean_off;
	rvar += rvar_off;
	sums += sums_off;
	dgamma += dgamma_off;
	dbeta += dbeta_off;
	const int c = (int)get_global_id(0);
	if (c >= C)
		return;
	float a = 0.0f, b = 0.0f;
	for (int p = 0; p < P; p++)
		a += part[p * C + c];
	if (stage == 0) {
		mean[c] = a / (float)R;
	} else if (stage == 1) {
		const float var = a / (float)R;
		rstd[c] = rsqrt(var + eps);
		if (flags & 1) { /* update the running statistics */
			rmean[c] = (1.0f - momentum) * rmean[c] + momentum * mean[c];
			rvar[c] = (1.0f - momentum) * rvar[c] +
				  momentum * var * ((float)R / (float)(R - 1));
		}
	} else {
		for (int p = 0; p < P; p++)
			b += part[(P + p) * C + c];
		sums[c] = a;
		sums[C + c] = b;
		if (flags & 1)
			dgamma[c] += b;
		if (flags & 2)
			dbeta[c] += a;
	}
}

__kernel void bn_forward_apply_rows(__global float *y, const int y_off,
				    __global const float *x, const int x_off,
				    __global const float *mean, const int mean_off,
				    __global const float *rstd, const int rstd_off,
				    __global const float *gamma, const int gamma_off,
				    __global const float *beta, const int beta_off, const int C,
				    const int has_gamma, const int has_beta)
{
	const int c0 = (int)get_global_id(0) * 16, r = (int)get_global_id(1);
	const int i = r * C + c0;
	float16 v = (vload16(0, x + x_off + i) - vload16(0, mean + mean_off + c0)) *
		    vload16(0, rstd + rstd_off + c0);
	if (has_gamma)
		v *= vload16(0, gamma + gamma_off + c0);
	if (has_beta)
		v += vload16(0, beta + beta_off + c0);
	vstore16(v, 0, y + y_off + i);
}

__kernel void bn_backward_dx_rows(__global float *dx, const int dx_off,
				  __global const float *dy, const int dy_off,
				  __global const float *x, const int x_off,
				  __global const float *mean, const int mean_off,
				  __global const float *rstd, const int rstd_off,
				  __global const float *gamma, const int gamma_off,
				  __global const float *sums, const int sums_off, const int N,
				  const int C, const int has_gamma, const int batch_stats,
				  const int accumulate)
{
	const int c0 = (int)get_global_id(0) * 16, r = (int)get_global_id(1);
	const int i = r * C + c0;
	const float16 rs = vload16(0, rstd + rstd_off + c0);
	float16 g = rs;
	if (has_gamma)
		g *= vload16(0, gamma + gamma_off + c0);
	float16 v = vload16(0, dy + dy_off + i);
	if (batch_stats) {
		const float inv_m = 1.0f / (float)N;
		const float16 xhat = (vload16(0, x + x_off + i) - vload16(0, mean + mean_off + c0)) * rs;
		v -= vload16(0, sums + sums_off + c0) * inv_m +
		     xhat * vload16(0, sums + sums_off + C + c0) * inv_m;
	}
	v *= g;
	if (accumulate)
		v += vload16(0, dx + dx_off + i);
	vstore16(v, 0, dx + dx_off + i);
}

/* Channels-first planes (S > 1; the encoder's NCHW maps) on devices that
 * run float16 chunks per work-item (dim_ctx_vec16):
 *   bn_stats_planes    any S: work-item c: mean, then the biased variance
 *                      around it, over the N planes of channel c (float16
 *                      lanes summed at the end, plus a scalar sum of each
 *                      plane's last S % 16); rstd and running statistics as
 *                      bn_forward_stats.
 *   bn_reduce_planes   any S: work-item c: the sums of bn_backward_reduce.
 *   bn_apply_planes / bn_dx_planes  S % 16 == 0, range (S/16, C, N): one float16 of plane
 *                      (n, c) per work-item, as bn_forward_apply /
 *                      bn_backward_dx.
 * (The per-channel work-group forms split each index by a runtime S and C:
 * 1.8 ms for 64 x 64 x 16 x 16 against a fraction of that.) */
static float bn_hsum16(const float16 v)
{
	const float8 a = v.lo + v.hi;
	const float4 b = a.lo + a.hi;
	return (b.x + b.y) + (b.z + b.w);
}

__kernel void bn_stats_planes(__global const float *x, const int x_off, __global float *mean,
			      const int mean_off, __global float *rstd, const int rstd_off,
			      __global float *rmean, const int rmean_off, __global float *rvar,
			      const int rvar_off, const int N, const int C, const int S,
			      const float eps, const float momentum, const int update_running)
{
	const int c = (int)get_global_id(0);
	if (c >= C)
		return;
	const __global float *xc = x + x_off + c * S;
	const int M = N * S;
	const int S16 = S & ~15; /* whole float16 chunks of a plane; the rest is scalar */
	float16 a = (float16)(0.0f);
	float t = 0.0f;
	for (int n = 0; n < N; n++) {
		const __global float *p = xc + n * C * S;
		for (int s = 0; s < S16; s += 16)
			a += vload16(0, p + s);
		for (int s = S16; s < S; s++)
			t += p[s];
	}
	const float mu = (bn_hsum16(a) + t) / (float)M;
	a = (float16)(0.0f);
	t = 0.0f;
	for (int n = 0; n < N; n++) {
		const __global float *p = xc + n * C * S;
		for (int s = 0; s < S16; s += 16) {
			const float16 d = vload16(0, p + s) - mu;
			a += d * d;
		}
		for (int s = S16; s < S; s++) {
			const float d = p[s] - mu;
			t += d * d;
		}
	}
	const float var = (bn_hsum16(a) + t) / (float)M;
	mean[mean_off + c] = mu;
	rstd[rstd_off + c] = rsqrt(var + eps);
	if (update_running) {
		rmean[rmean_off + c] = (1.0f - momentum) * rmean[rmean_off + c] + momentum * mu;
		rvar[rvar_off + c] = (1.0f - momentum) * rvar[rvar_off + c] +
				     momentum * var * ((float)M / (float)(M - 1));
	}
}

__kernel void bn_reduce_planes(__global const float *dy, const int dy_off,
			       __global const float *x, const int x_off,
			       __global const float *mean, const int mean_off,
			       __global const float *rstd, const int rstd_off,
			       __global float *sums, const int sums_off, __global float *dgamma,
			       const int dgamma_off, __global float *dbeta, const int dbeta_off,
			       const int N, const int C, const int S, const int has_dgamma,
			       const int has_dbeta)
{
	const int c = (int)get_global_id(0);
	if (c >= C)
		return;
	const __global float *dyc = dy + dy_off + c * S, *xc = x + x_off + c * S;
	const float mu = mean[mean_off + c], rs = rstd[rstd_off + c];
	const int S16 = S & ~15;
	float16 a = (float16)(0.0f), b = (float16)(0.0f);
	float ta = 0.0f, tb = 0.0f;
	for (int n = 0; n < N; n++) {
		const __global float *gp = dyc + n * C * S, *xp = xc + n * C * S;
		for (int s = 0; s < S16; s += 16) {
			const float16 g = vload16(0, gp + s);
			a += g;
			b += g * (vload16(0, xp + s) - mu) * rs;
		}
		for (int s = S16; s < S; s++) {
			ta += gp[s];
			tb += gp[s] * (xp[s] - mu) * rs;
		}
	}
	const float sa = bn_hsum16(a) + ta, sb = bn_hsum16(b) + tb;
	sums[sums_off + c] = sa;
	sums[sums_off + C + c] = sb;
	if (has_dgamma)
		dgamma[dgamma_off + c] += sb;
	if (has_dbeta)
		dbeta[dbeta_off + c] += sa;
}

__kernel void bn_apply_planes(__global float *y, const int y_off, __global const float *x,
			      const int x_off, __global const float *mean, const int mean_off,
			      __global const float *rstd, const int rstd_off,
			      __global const float *gamma, const int gamma_off,
			      __global const float *beta, const int beta_off, const int C,
			      const int S, const int has_gamma, const int has_beta)
{
	const int s = (int)get_global_id(0) * 16, c = (int)get_global_id(1);
	const int n = (int)get_global_id(2), i = (n * C + c) * S + s;
	float16 v = (vload16(0, x + x_off + i) - mean[mean_off + c]) * rstd[rstd_off + c];
	if (has_gamma)
		v *= gamma[gamma_off + c];
	if (has_beta)
		v += beta[beta_off + c];
	vstore16(v, 0, y + y_off + i);
}

__kernel void bn_dx_planes(__global float *dx, const int dx_off, __global const float *dy,
			   const int dy_off, __global const float *x, const int x_off,
			   __global const float *mean, const int mean_off,
			   __global const float *rstd, const int rstd_off,
			   __global const float *gamma, const int gamma_off,
			   __global const float *sums, const int sums_off, const int N,
			   const int C, const int S, const int has_gamma, const int batch_stats,
			   const int accumulate)
{
	const int s = (int)get_global_id(0) * 16, c = (int)get_global_id(1);
	const int n = (int)get_global_id(2), i = (n * C + c) * S + s;
	const float rs = rstd[rstd_off + c];
	const float g = (has_gamma ? gamma[gamma_off + c] : 1.0f) * rs;
	float16 v = vload16(0, dy + dy_off + i);
	if (batch_stats) {
		const float inv_m = 1.0f / (float)(N * S);
		const float16 xhat = (vload16(0, x + x_off + i) - mean[mean_off + c]) * rs;
		v -= sums[sums_off + c] * inv_m + xhat * sums[sums_off + C + c] * inv_m;
	}
	v *= g;
	if (accumulate)
		v += vload16(0, dx + dx_off + i);
	vstore16(v, 0, dx + dx_off + i);
}
