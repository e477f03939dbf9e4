/* mi.cl — the Deep InfoMax mutual-information estimators (JSD, InfoNCE, DV)
 * over a score tensor, fused and numerically stable.
 *
 * Layout: S is [N, N, L] row-major, S[n, m, l] at (n*N + m)*L + l: the score
 * of the global vector of image n against the local feature at location l of
 * image m. Row n = the N*L scores of global n, contiguous. Positives: m == n
 * (row offsets [n*L, n*L + L)); negatives: m != n. Every buffer argument is
 * (pointer, offset in floats); kernels add the offset first.
 *
 * Forward is two kernels:
 *   mi_<kind>_rows   one work-group per row n (local size a power of two,
 *                    chosen by the host from the device), each work-item a
 *                    strided partial, then a tree reduction in local memory:
 *                    fixed order, so deterministic. Writes 4 floats per row
 *                    to `rows` [N, 4]:
 *       jsd: [sum_l sp(-S[n,n,l]), sum_{m!=n,l} sp(S[n,m,l]), 0, 0]
 *       nce: [sum_l (u_p - lse_{n,l}), M_n, lneg_n, W_n]      with
 *            v = row n with the L self entries replaced by -10,
 *            M_n = max v, lneg_n = log sum exp v,
 *            lse_{n,l} = logaddexp(u_p = S[n,n,l], lneg_n),
 *            W_n = sum_l exp(M_n - lse_{n,l})  (in (0, L]: used by backward)
 *       dv:  [sum_l S[n,n,l], M_n = max_{m!=n} S[n,m,l], Z_n = sum exp(S - M_n), 0]
 *   mi_finish        one work-item folds the N rows in order and writes the
 *                    loss, the MI estimate (optional) and, for DV, the global
 *                    log-sum-exp of the negatives to stat[0] (stat = rows + 4N).
 *
 * Backward (mi_backward): one work-item per element of dS, from S, the saved
 * row statistics and the incoming scalar gradient gloss[0]:
 *   jsd: pos -g sigmoid(-u)/(NL)              neg  g sigmoid(u)/(N(N-1)L)
 *   nce: pos -g sigmoid(lneg_n - u)/(NL)      neg  g exp(u - M_n) W_n/(NL)
 *   dv:  pos -g/(NL)                          neg  g exp(u - lse)
 * Every exp argument is <= 0, so scores of any finite magnitude give finite
 * results. dS is written (accumulate == 0) or added to (accumulate == 1).
 */

#define MI_JSD 0
#define MI_NCE 1
#define MI_DV 2
#define MI_MASK (-10.0f) /* logit of the masked self-image negatives (NCE) */

float mi_softplus(float x)
{
	return fmax(x, 0.0f) + log1p(exp(-fabs(x)));
}

float mi_sigmoid(float x)
{
	const float e = exp(-fabs(x));
	return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* log(exp(a) + exp(b)) */
float mi_logaddexp(float a, float b)
{
	return fmax(a, b) + log1p(exp(-fabs(a - b)));
}

/* Work-group sum / max of v (local size a power of two); every work-item
 * gets the result. red holds get_local_size(0) floats. */
float mi_wg_sum(__local float *red, float v)
{
	const int lid = (int)get_local_id(0);
	red[lid] = v;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (int s = (int)get_local_size(0) / 2; s > 0; s >>= 1) {
		if (lid < s)
			red[lid] += red[lid + s];
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	const float r = red[0];
	barrier(CLK_LOCAL_MEM_FENCE);
	return r;
}

float mi_wg_max(__local float *red, float v)
{
	const int lid = (int)get_local_id(0);
	red[lid] = v;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (int s = (int)get_local_size(0) / 2; s > 0; s >>= 1) {
		if (lid < s)
			red[lid] = fmax(red[lid], red[lid + s]);
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	const float r = red[0];
	barrier(CLK_LOCAL_MEM_FENCE);
	return r;
}

__kernel void mi_jsd_rows(const int N, const int L, __global const float *S, const int S_off,
			  __global float *rows, const int rows_off, __local float *red)
{
	S += S_off;
	rows += rows_off;
	const int n = (int)get_group_id(0), lid = (int)get_local_id(0);
	const int wg = (int)get_local_size(0), R = N * L;
	const int p0 = n * L, p1 = p0 + L; /* the positives of row n */
	__global const float *row = S + (size_t)n * R;
	/* float16 chunks, the positive/negative split a per-lane select: the
	 * scalar loop with a branch and j / L per element kept PoCL's log1p/exp
	 * scalar (9.4 ms for N = 64, L = 64, against ~1 ms this way) */
	float16 pos16 = (float16)(0.0f), neg16 = (float16)(0.0f);
	const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	const int R16 = R / 16 * 16;
	for (int j = lid * 16; j < R16; j += wg * 16) {
		const float16 u = vload16(0, row + j);
		const float16 t = log1p(exp(-fabs(u)));
		const int16 idx = (int16)(j) + lane;
		const int16 isp = idx >= (int16)(p0) && idx < (int16)(p1);
		pos16 += select((float16)(0.0f), fmax(-u, 0.0f) + t, isp);
		neg16 += select(fmax(u, 0.0f) + t, (float16)(0.0f), isp);
	}
	float pos = 0.0f, neg = 0.0f;
	for (int j = R16 + lid; j < R; j += wg) {
		const float u = row[j];
		if (j >= p0 && j < p1)
			pos += mi_softplus(-u);
		else
			neg += mi_softplus(u);
	}
	{
		const float8 a = pos16.lo + pos16.hi, b = neg16.lo + neg16.hi;
		const float4 c = a.lo + a.hi, d = b.lo + b.hi;
		pos += (c.x + c.y) + (c.z + c.w);
		neg += (d.x + d.y) + (d.z + d.w);
	}
	pos = mi_wg_sum(red, pos);
	neg = mi_wg_sum(red, neg);
	if (lid == 0) {
		rows[4 * n + 0] = pos;
		rows[4 * n + 1] = neg;
		rows[4 * n + 2] = 0.0f;
		rows[4 * n + 3] = 0.0f;
	}
}

__kernel void mi_nce_rows(const int N, const int L, __global const float *S, const int S_off,
			  __global float *rows, const int rows_off, __local float *red)
{
	S += S_off;
	rows += rows_off;
	const int n = (int)get_group_id(0), lid = (int)get_local_id(0);
	const int wg = (int)get_local_size(0), R = N * L;
	__global const float *row = S + (size_t)n * R;

	/* running max of the negatives (the masked entries count as -10) */
	float mx = MI_MASK;
	for (int j = lid; j < R; j += wg)
		if (j / L != n)
			mx = fmax(mx, row[j]);
	const float M = mi_wg_max(red, mx);

	float z = 0.0f;
	for (int j = lid; j < R; j += wg)
		if (j / L != n)
			z += exp(row[j] - M);
	z = mi_wg_sum(red, z) + (float)L * exp(MI_MASK - M);
	const float lneg = M + log(z);

	float t = 0.0f, w = 0.0f;
	for (int l = lid; l < L; l += wg) {
		const float u = row[n * L + l];
		t -= mi_softplus(lneg - u); /* u - logaddexp(u, lneg) */
		w += exp(M - mi_logaddexp(u, lneg));
	}
	t = mi_wg_sum(red, t);
	w = mi_wg_sum(red, w);
	if (lid == 0) {
		rows[4 * n + 0] = t;
		rows[4 * n + 1] = M;
		rows[4 * n + 2] = lneg;
		rows[4 * n + 3] = w;
	}
}

__kernel void mi_dv_rows(const int N, const int L, __global const float *S, const int S_off,
			 __global float *rows, const int rows_off, __local float *red)
{
	S += S_off;
	rows += rows_off;
	const int n = (int)get_group_id(0), lid = (int)get_local_id(0);
	const int wg = (int)get_local_size(0), R = N * L;
	__global const float *row = S + (size_t)n * R;

	float mx = -INFINITY, pos = 0.0f;
	for (int j = lid; j < R; j += wg) {
		if (j / L != n)
			mx = fmax(mx, row[j]);
		else
			pos += row[j];
	}
	const float M = mi_wg_max(red, mx);
	pos = mi_wg_sum(red, pos);

	float z = 0.0f;
	for (int j = lid; j < R; j += wg)
		if (j / L != n)
			z += exp(row[j] - M);
	z = mi_wg_sum(red, z);
	if (lid == 0) {
		rows[4 * n + 0] = pos;
		rows[4 * n + 1] = M;
		rows[4 * n + 2] = z;
		rows[4 * n + 3] = 0.0f;
	}
}

/* One work-item: fold rows [N, 4] into the loss (and the MI estimate when
 * has_mi); stat = rows + 4N receives the DV global log-sum-exp. */
__kernel void mi_finish(const int kind, const int N, const int L,
			__global float *rows, const int rows_off,
			__global float *loss, const int loss_off,
			__global float *mi, const int mi_off, const int has_mi)
{
	rows += rows_off;
	loss += loss_off;
	mi += mi_off;
	if (get_global_id(0) != 0)
		return;
	const float npos = (float)N * (float)L;
	const float nneg = npos * (float)(N - 1);
	float l = 0.0f, est = 0.0f;
	if (kind == MI_JSD) {
		float a = 0.0f, b = 0.0f;
		for (int n = 0; n < N; n++) {
			a += rows[4 * n + 0];
			b += rows[4 * n + 1];
		}
		l = a / npos + b / nneg - 2.0f * M_LN2_F;
		est = -l;
	} else if (kind == MI_NCE) {
		float t = 0.0f;
		for (int n = 0; n < N; n++)
			t += rows[4 * n + 0];
		l = -t / npos;
		est = log(1.0f + (float)(N - 1) * (float)L) - l;
	} else {
		float M = -INFINITY, z = 0.0f, p = 0.0f;
		for (int n = 0; n < N; n++)
			M = fmax(M, rows[4 * n + 1]);
		for (int n = 0; n < N; n++) {
			z += rows[4 * n + 2] * exp(rows[4 * n + 1] - M);
			p += rows[4 * n + 0];
		}
		const float lse = M + log(z);
		rows[4 * N] = lse;
		l = lse - (log((float)N) + log((float)(N - 1)) + log((float)L)) - p / npos;
		est = -l;
	}
	loss[0] = l;
	if (has_mi)
		mi[0] = est;
}

__kernel void mi_backward(const int kind, const int N, const int L,
			  __global const float *S, const int S_off,
			  __global const float *rows, const int rows_off,
			  __global const float *gloss, const int gloss_off,
			  __global float *dS, const int dS_off, const int accumulate)
{
	S += S_off;
	rows += rows_off;
	gloss += gloss_off;
	dS += dS_off;
	const int i = (int)get_global_id(0);
	if (i >= N * N * L)
		return;
	const int n = i / (N * L), m = (i / L) % N;
	const float u = S[i], g = gloss[0];
	const float inv_pos = 1.0f / ((float)N * (float)L);
	float d;
	if (kind == MI_JSD) {
		if (m == n)
			d = -g * mi_sigmoid(-u) * inv_pos;
		else
			d = g * mi_sigmoid(u) * (inv_pos / (float)(N - 1));
	} else if (kind == MI_NCE) {
		if (m == n)
			d = -g * mi_sigmoid(rows[4 * n + 2] - u) * inv_pos;
		else
			d = g * exp(u - rows[4 * n + 1]) * rows[4 * n + 3] * inv_pos;
	} else {
		if (m == n)
			d = -g * inv_pos;
		else
			d = g * exp(u - rows[4 * N]);
	}
	dS[i] = accumulate ? dS[i] + d : d;
}
