/* layernorm.cl — layer normalisation over the channel axis at every location
 * (DIM's MI1x1ConvNet: PyTorch's F.layer_norm over C after a permute to NHWC).
 *
 * Layout: x, y, dx, dy [N][C][S] row-major (S = H*W, or 1 for [N, C]);
 * weight (gamma) and bias (beta) [C]; mean and rstd = 1/sqrt(var + eps) per
 * location [N][S]. Location l = n*S + s; its channel c is at n*C*S + c*S + s.
 * Every buffer argument is (pointer, offset in floats); kernels add it first.
 *
 * ln_forward        one work-item per location: mean, then the biased
 *                   variance around it (two passes over C, in order), then
 *                   y = (x-mean)*rstd*gamma + beta. Neighbouring work-items
 *                   read neighbouring s (coalesced for S > 1).
 * ln_backward_dx    one work-item per location: with g = dy*gamma and
 *                   xhat = (x-mean)*rstd,
 *                   dx = rstd*(g - mean_c(g) - xhat*mean_c(g*xhat)),
 *                   written (=) or added (+=, accumulate).
 * ln_backward_params one work-group per channel (power-of-two local size):
 *                   dgamma[c] += sum over locations of dy*xhat, dbeta[c] +=
 *                   sum of dy; strided partial sums + a tree in local memory
 *                   (fixed order, deterministic).
 */

__kernel void ln_forward(__global float *y, const int y_off, __global float *mean,
			 const int mean_off, __global float *rstd, const int rstd_off,
			 __global const float *x, const int x_off, __global const float *gamma,
			 const int gamma_off, __global const float *beta, const int beta_off,
			 const int N, const int C, const int S, const float eps,
			 const int has_gamma, const int has_beta)
{
	y += y_off;
	mean += mean_off;
	rstd += rstd_off;
	x += x_off;
	gamma += gamma_off;
	beta += beta_off;
	const int l = (int)get_global_id(0);
	if (l >= N * S)
		return;
	const int base = (l / S) * C * S + l % S;
	float s = 0.0f;
	for (int c = 0; c < C; c++)
		s += x[base + c * S];
	const float mu = s / (float)C;
	s = 0.0f;
	for (int c = 0; c < C; c++) {
		const float d = x[base + c * S] - mu;
		s += d * d;
	}
	const float rs = rsqrt(s / (float)C + eps);
	mean[l] = mu;
	rstd[l] = rs;
	for (int c = 0; c < C; c++) {
		float v = (x[base + c * S] - mu) * rs;
		if (has_gamma)
			v *= gamma[c];
		if (has_beta)
			v += beta[c];
		y[base + c * S] = v;
	}
}

__kernel void ln_backward_dx(__global float *dx, const int dx_off, __global const float *dy,
			     const int dy_off, __global const float *x, const int x_off,
			     __global const float *gamma, const int gamma_off,
			     __global const float *mean, const int mean_off,
			     __global const float *rstd, const int rstd_off, const int N,
			     const int C, const int S, const int has_gamma, const int accumulate)
{
	dx += dx_off;
	dy += dy_off;
	x += x_off;
	gamma += gamma_off;
	mean += mean_off;
	rstd += rstd_off;
	const int l = (int)get_global_id(0);
	if (l >= N * S)
		return;
	const int base = (l / S) * C * S + l % S;
	const float mu = mean[l], rs = rstd[l];
	float a = 0.0f, b = 0.0f;
	for (int c = 0; c < C; c++) {
		const int i = base + c * S;
		const float g = has_gamma ? dy[i] * gamma[c] : dy[i];
		a += g;
		b += g * (x[i] - mu) * rs;
	}
	a /= (float)C;
	b /= (float)C;
	for (int c = 0; c < C; c++) {
		const int i = base + c * S;
		const float g = has_gamma ? dy[i] * gamma[c] : dy[i];
		const float v = rs * (g - a - (x[i] - mu) * rs * b);
		dx[i] = accumulate ? dx[i] + v : v;
	}
}

__kernel void ln_backward_params(__global float *dgamma, const int dgamma_off,
				 __global float *dbeta, const int dbeta_off,
				 __global const float *dy, const int dy_off,
				 __global const float *x, const int x_off,
				 __global const float *mean, const int mean_off,
				 __global const float *rstd, const int rstd_off, const int N,
				 const int C, const int S, const int has_dgamma,
				 const int has_dbeta, __local float *part)
{
	dgamma += dgamma_off;
	dbeta += dbeta_off;
	dy += dy_off;
	x += x_off;
	mean += mean_off;
	rstd += rstd_off;
	const int c = (int)get_group_id(0);
	const int lid = (int)get_local_id(0), ls = (int)get_local_size(0);
	const int L = N * S;
	float a = 0.0f, b = 0.0f;
	for (int l = lid; l < L; l += ls) {
		const int i = (l / S) * C * S + c * S + l % S;
		a += dy[i];
		b += dy[i] * (x[i] - mean[l]) * rstd[l];
	}
	/* two tree reductions in the two halves of part[2 * ls] */
	part[lid] = a;
	part[ls + lid] = b;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (int h = ls / 2; h > 0; h /= 2) {
		if (lid < h) {
			part[lid] += part[lid + h];
			part[ls + lid] += part[ls + lid + h];
		}
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (lid == 0) {
		if (has_dbeta)
			dbeta[c] += part[0];
		if (has_dgamma)
			dgamma[c] += part[ls];
	}
}

/* Rows layout (S == 1: x [R, C], statistics per row): dgamma and dbeta sum
 * over rows. ln_backward_params reads a column per work-group (stride C);
 * these read rows contiguously across work-items, in two steps:
 *   ln_rows_partial  work-item (c, p) sums rows p, p+P, ...:
 *                    part[p*C + c] = sum dy, part[(P+p)*C + c] = sum dy*xhat
 *   ln_rows_finish   work-item c folds the P partials in order:
 *                    dbeta[c] += sum dy, dgamma[c] += sum dy*xhat. */
__kernel void ln_rows_partial(__global const float *dy, const int dy_off,
			      __global const float *x, const int x_off,
			      __global const float *mean, const int mean_off,
			      __global const float *rstd, const int rstd_off,
			      __global float *part, const int part_off, const int R, const int C,
			      const int P)
{
	dy += dy_off;
	x += x_off;
	mean += mean_off;
	rstd += rstd_off;
	part += part_off;
	const int c = (int)get_global_id(0), p = (int)get_global_id(1);
	if (c >= C || p >= P)
		return;
	float a = 0.0f, b = 0.0f;
	for (int r = p; r < R; r += P) {
		const float g = dy[r * C + c];
		a += g;
		b += g * (x[r * C + c] - mean[r]) * rstd[r];
	}
	part[p * C + c] = a;
	part[(P + p) * C + c] = b;
}

__kernel void ln_rows_finish(__global const float *part, const int part_off,
			     __global float *dgamma, const int dgamma_off,
			     __global float *dbeta, const int dbeta_off, const int C, const int P,
			     const int has_dgamma, const int has_dbeta)
{
	part += part_off;
	dgamma += dgamma_off;
	dbeta += dbeta_off;
	const int c = (int)get_global_id(0);
	if (c >= C)
		return;
	float a = 0.0f, b = 0.0f;
	for (int p = 0; p < P; p++) {
		a += part[p * C + c];
		b += part[(P + p) * C + c];
	}
	if (has_dbeta)
		dbeta[c] += a;
	if (has_dgamma)
		dgamma[c] += b;
}
