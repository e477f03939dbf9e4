/* Cosine k-nearest neighbours (include/cldim/probe.h): rows are normalised
 * on the host, similarities of a block of queries against a block of base
 * rows come from one dim_gemm, and each query keeps its k best on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/probe.h"

#define QUERY_BLOCK 1024
#define BASE_BLOCK 4096

static void normalise_rows(float *dst, const float *src, size_t n, int d)
{
	for (size_t i = 0; i < n; i++) {
		const float *s = src + i * (size_t)d;
		float *o = dst + i * (size_t)d;
		double ss = 0;
		for (int j = 0; j < d; j++)
			ss += (double)s[j] * s[j];
		float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
		for (int j = 0; j < d; j++)
			o[j] = s[j] * inv;
	}
}

/* Insert (s, i) into the descending list best[0..k). */
static void keep_best(float *bs, size_t *bi, int k, float s, size_t i)
{
	if (!(s > bs[k - 1]))
		return;
	int j = k - 1;
	while (j > 0 && s > bs[j - 1]) {
		bs[j] = bs[j - 1];
		bi[j] = bi[j - 1];
		j--;
	}
	bs[j] = s;
	bi[j] = i;
}

dim_status dim_knn_search(dim_ctx *ctx, int d, const float *base, size_t nb, const float *queries,
			  size_t nq, int k, bool exclude_self, size_t *idx, float *sim)
{
	dim_error *err = dim_ctx_error(ctx);
	if (d < 1 || k < 1 || (size_t)k + (exclude_self ? 1 : 0) > nb)
		return dim_fail(err, DIM_ERR_ARG, "k-NN: k %d with %zu base rows (d %d)", k, nb, d);
	dim_status st = DIM_OK;
	dim_buf qb = {0}, bb = {0}, sb = {0};
	size_t qcap = nq < QUERY_BLOCK ? nq : QUERY_BLOCK, bcap = nb < BASE_BLOCK ? nb : BASE_BLOCK;
	float *nbase = malloc(nb * (size_t)d * sizeof *nbase);
	float *nq_host = malloc(qcap * (size_t)d * sizeof *nq_host);
	float *scores = malloc(qcap * bcap * sizeof *scores);
	float *bs = malloc(qcap * (size_t)k * sizeof *bs);
	size_t *bi = malloc(qcap * (size_t)k * sizeof *bi);
	if (!nbase || !nq_host || !scores || !bs || !bi) {
		st = dim_fail(err, DIM_ERR_NOMEM, "k-NN: out of host memory (%zu x %d base rows)",
			      nb, d);
		goto out_free;
	}
	normalise_rows(nbase, base, nb, d);
	if ((st = dim_buf_create(ctx, qcap * (size_t)d * 4, &qb)) ||
	    (st = dim_buf_create(ctx, bcap * (size_t)d * 4, &bb)) ||
	    (st = dim_buf_create(ctx, qcap * bcap * 4, &sb)))
		goto out_free;
	for (size_t q0 = 0; q0 < nq; q0 += qcap) {
		size_t qn = nq - q0 < qcap ? nq - q0 : qcap;
		normalise_rows(nq_host, queries + q0 * (size_t)d, qn, d);
		if ((st = dim_write(ctx, qb, 0, nq_host, qn * (size_t)d * 4)))
			goto out_free;
		for (size_t i = 0; i < qn * (size_t)k; i++) {
			bs[i] = -INFINITY;
			bi[i] = 0;
		}
		for (size_t b0 = 0; b0 < nb; b0 += bcap) {
			size_t bn = nb - b0 < bcap ? nb - b0 : bcap;
			if ((st = dim_write(ctx, bb, 0, nbase + b0 * (size_t)d, bn * (size_t)d * 4)) ||
			    (st = dim_gemm(ctx, DIM_NO_TRANS, DIM_TRANS, qn, bn, (size_t)d, 1.0f, qb,
					   (size_t)d, bb, (size_t)d, 0.0f, sb, bn)) ||
			    (st = dim_read(ctx, sb, 0, scores, qn * bn * 4)))
				goto out_free;
			for (size_t q = 0; q < qn; q++)
				for (size_t j = 0; j < bn; j++) {
					if (exclude_self && b0 + j == q0 + q)
						continue;
					keep_best(bs + q * k, bi + q * k, k, scores[q * bn + j], b0 + j);
				}
		}
		memcpy(idx + q0 * (size_t)k, bi, qn * (size_t)k * sizeof *bi);
		if (sim)
			memcpy(sim + q0 * (size_t)k, bs, qn * (size_t)k * sizeof *bs);
	}

out_free:
	dim_buf_release(&sb);
	dim_buf_release(&bb);
	dim_buf_release(&qb);
	free(nbase);
	free(nq_host);
	free(scores);
	free(bs);
	free(bi);
	return st;
}

dim_status dim_knn_accuracy(dim_ctx *ctx, int d, int k, int classes, const float *xtr,
			    const int32_t *ytr, size_t ntr, const float *xte, const int32_t *yte,
			    size_t nte, double *acc)
{
	dim_error *err = dim_ctx_error(ctx);
	if (classes < 1)
		return dim_fail(err, DIM_ERR_ARG, "k-NN: %d classes", classes);
	size_t *idx = malloc((nte ? nte : 1) * (size_t)k * sizeof *idx);
	int *votes = calloc((size_t)classes, sizeof *votes);
	if (!idx || !votes) {
		free(idx);
		free(votes);
		return dim_fail(err, DIM_ERR_NOMEM, "out of host memory");
	}
	dim_status st = dim_knn_search(ctx, d, xtr, ntr, xte, nte, k, false, idx, NULL);
	size_t correct = 0;
	for (size_t q = 0; !st && q < nte; q++) {
		memset(votes, 0, (size_t)classes * sizeof *votes);
		int best = -1;
		/* most votes; ties go to the class seen first (the most similar) */
		for (int j = 0; j < k; j++) {
			int c = ytr[idx[q * k + j]];
			if (c < 0 || c >= classes)
				continue;
			votes[c]++;
		}
		for (int j = 0; j < k; j++) {
			int c = ytr[idx[q * k + j]];
			if (c >= 0 && c < classes && (best < 0 || votes[c] > votes[best]))
				best = c;
		}
		correct += best == yte[q];
	}
	*acc = nte ? (double)correct / (double)nte : 0;
	free(idx);
	free(votes);
	return st;
}
