/* cldim-test: labels=unit timeout=60 */
/* .npy writers (whole and streamed) and reader (host/io/npy_*.c).
 *
 * Headers byte-identical to numpy 1.24's np.save, round trips of every dtype
 * and shape kind, the streaming writer with known and unknown row counts,
 * every malformed-header rule, and, when python3 has numpy, np.load of our
 * files plus our reader on np.save's files (v1.0, v2.0, Fortran order). */
#include "cldim/io.h"
#include "testutil.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

static char *dir;

static char *path_in(const char *name)
{
	static char buf[8][1024];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, 1024, "%s/%s", dir, name);
	return p;
}

static unsigned char *slurp(const char *path, size_t *n)
{
	void *data = NULL;
	dim_error err = {0};
	if (dim_read_file(&err, path, &data, n) != DIM_OK)
		fprintf(stderr, "%s\n", dim_error_text(&err));
	return data;
}

static int count_temp_files(void)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strstr(e->d_name, ".tmp.") != NULL;
	if (d)
		closedir(d);
	return n;
}

#define CHECK_ERR(err, st, want_st, substr)                                                 \
	do {                                                                                \
		CHECK_MSG((st) == (want_st), "status %s, want %s: %s", dim_status_name(st), \
			  dim_status_name(want_st), (err).msg);                               \
		CHECK_MSG(strstr((err).msg, substr) != NULL, "message \"%s\" lacks \"%s\"",  \
			  (err).msg, substr);                                               \
	} while (0)

/* The 128-byte header numpy writes: dict, then spaces, then '\n'. */
static void numpy_header(unsigned char out[128], const char *dict)
{
	memcpy(out, "\x93NUMPY\x01\x00\x76\x00", 10);
	memset(out + 10, ' ', 117);
	memcpy(out + 10, dict, strlen(dict));
	out[127] = '\n';
}

/* Byte-exact against headers captured from numpy 1.24 np.save. */
static void test_golden_headers(void)
{
	static const struct {
		const char *dict;
		dim_dtype dt;
		int ndim;
		int64_t shape[2];
	} cases[] = {
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", DIM_DT_F32, 2, {2, 3}},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", DIM_DT_F32, 0, {0}},
		{"{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", DIM_DT_I64, 1, {5}},
	};
	dim_error err = {0};
	static const double zeros[8];
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		unsigned char want[128];
		size_t n, nbytes;
		numpy_header(want, cases[c].dict);
		CHECK_OK_ERR(&err, dim_npy_write(&err, path_in("g.npy"), cases[c].dt, cases[c].ndim,
						 cases[c].shape, zeros));
		dim_io_nbytes(cases[c].dt, cases[c].ndim, cases[c].shape, &nbytes);
		unsigned char *b = slurp(path_in("g.npy"), &n);
		CHECK_MSG(b && n == 128 + nbytes && !memcmp(b, want, 128), "case %zu: %.128s", c,
			  b ? (const char *)b + 10 : "");
		free(b);
	}
}

static void fill_bytes(unsigned char *p, size_t n, uint64_t seed)
{
	t_rng r = {seed};
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)t_rand_u64(&r);
}

static void test_round_trips(void)
{
	static const dim_dtype dts[] = {DIM_DT_F32, DIM_DT_I64, DIM_DT_F64, DIM_DT_U8,
					DIM_DT_I32, DIM_DT_F16, DIM_DT_BOOL, DIM_DT_U16};
	static const struct {
		int ndim;
		int64_t shape[4];
	} shapes[] = {{0, {0}}, {1, {0}}, {1, {5}}, {3, {2, 3, 4}}, {2, {0, 7}}, {4, {1, 1, 3, 1}}};
	dim_error err = {0};
	unsigned char data[1024];
	for (size_t d = 0; d < sizeof dts / sizeof *dts; d++)
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			size_t nbytes;
			dim_io_nbytes(dts[d], shapes[s].ndim, shapes[s].shape, &nbytes);
			fill_bytes(data, nbytes, d * 100 + s);
			if (dts[d] == DIM_DT_BOOL)
				for (size_t i = 0; i < nbytes; i++)
					data[i] &= 1;
			CHECK_OK_ERR(&err, dim_npy_write(&err, path_in("rt.npy"), dts[d],
							 shapes[s].ndim, shapes[s].shape, data));
			dim_npy_array a;
			CHECK_OK_ERR(&err, dim_npy_read(&err, path_in("rt.npy"), &a));
			CHECK_MSG(a.dtype == dts[d] && a.ndim == shapes[s].ndim && a.nbytes == nbytes,
				  "%s ndim %d", dim_dtype_name(dts[d]), shapes[s].ndim);
			for (int i = 0; i < a.ndim && i < shapes[s].ndim; i++)
				CHECK(a.shape[i] == shapes[s].shape[i]);
			CHECK(a.data && !memcmp(a.data, data, nbytes));
			CHECK((uintptr_t)a.data % 16 == 0);
			dim_npy_array_free(&a);
			CHECK(a.data == NULL);
		}
	dim_npy_array_free(NULL);
}

static void test_writer_rejects(void)
{
	dim_error err = {0};
	int64_t s[2] = {2, -3};
	float x[6] = {0};
	dim_status st = dim_npy_write(&err, path_in("bad.npy"), DIM_DT_BF16, 1, s, x);
	CHECK_ERR(err, st, DIM_ERR_ARG, "BF16 cannot be stored in .npy");
	st = dim_npy_write(&err, path_in("bad.npy"), DIM_DT_F32, 2, s, x);
	CHECK_ERR(err, st, DIM_ERR_ARG, "bad shape [2, -3]");
	st = dim_npy_write(&err, path_in("bad.npy"), DIM_DT_F32, 9, s, x);
	CHECK_ERR(err, st, DIM_ERR_ARG, "9 dimensions");
	int64_t huge[3] = {INT64_MAX, INT64_MAX, 2};
	st = dim_npy_write(&err, path_in("bad.npy"), DIM_DT_F32, 3, huge, x);
	CHECK_ERR(err, st, DIM_ERR_ARG, "too large");
	st = dim_npy_write(&err, path_in("bad.npy"), DIM_DT_F32, 1, s, NULL);
	CHECK_ERR(err, st, DIM_ERR_ARG, "no data");
	char missing[1100];
	snprintf(missing, sizeof missing, "%s/nodir/f.npy", dir);
	st = dim_npy_write(&err, missing, DIM_DT_F32, 1, s, x);
	CHECK_ERR(err, st, DIM_ERR_IO, missing);
	CHECK(access(path_in("bad.npy"), F_OK) != 0);
}

/* ------------------------------------------------------------- streaming */

#define D 5
#define N 111

static float feats[N * D];
static int64_t labels[N];

static void make_features(void)
{
	for (int i = 0; i < N * D; i++)
		feats[i] = (float)i * 0.25f - 7.0f;
	for (int i = 0; i < N; i++)
		labels[i] = i % 10 - 3;
}

/* Append feats in uneven batches (3, 0, 7, 1, 100). */
static void append_batches(dim_npy_writer *w, dim_error *err)
{
	static const int batches[] = {3, 0, 7, 1, 100};
	int row = 0;
	for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
		CHECK_OK_ERR(err, dim_npy_writer_append(err, w, feats + (size_t)row * D, batches[b]));
		row += batches[b];
	}
	CHECK(dim_npy_writer_rows(w) == N);
}

static int files_equal(const char *a, const char *b)
{
	size_t na, nb;
	unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
	int same = x && y && na == nb && !memcmp(x, y, na);
	free(x);
	free(y);
	return same;
}

static void test_streaming(void)
{
	dim_error err = {0};
	dim_npy_writer *w = NULL;
	int64_t shape[2] = {N, D}, unknown[2] = {DIM_NPY_ROWS_UNKNOWN, D};
	CHECK_OK_ERR(&err, dim_npy_write(&err, path_in("whole.npy"), DIM_DT_F32, 2, shape, feats));

	/* unknown count: patched at close; nothing at the path before that */
	CHECK_OK_ERR(&err, dim_npy_writer_open(&err, path_in("feat.npy"), DIM_DT_F32, 2, unknown, &w));
	if (w) {
		append_batches(w, &err);
		CHECK(access(path_in("feat.npy"), F_OK) != 0 && count_temp_files() == 1);
		CHECK_OK_ERR(&err, dim_npy_writer_close(&err, w));
	}
	CHECK(files_equal(path_in("feat.npy"), path_in("whole.npy")));
	dim_npy_array a;
	CHECK_OK_ERR(&err, dim_npy_read(&err, path_in("feat.npy"), &a));
	CHECK(a.ndim == 2 && a.shape[0] == N && a.shape[1] == D && a.dtype == DIM_DT_F32);
	CHECK(a.data && !memcmp(a.data, feats, sizeof feats));
	dim_npy_array_free(&a);

	/* known count */
	CHECK_OK_ERR(&err, dim_npy_writer_open(&err, path_in("known.npy"), DIM_DT_F32, 2, shape, &w));
	if (w) {
		append_batches(w, &err);
		CHECK_OK_ERR(&err, dim_npy_writer_close(&err, w));
	}
	CHECK(files_equal(path_in("known.npy"), path_in("whole.npy")));

	/* labels (N,) int64, unknown count */
	int64_t lshape[1] = {DIM_NPY_ROWS_UNKNOWN}, lfull[1] = {N};
	CHECK_OK_ERR(&err, dim_npy_writer_open(&err, path_in("labels.npy"), DIM_DT_I64, 1, lshape, &w));
	if (w) {
		CHECK_OK_ERR(&err, dim_npy_writer_append(&err, w, labels, 50));
		CHECK_OK_ERR(&err, dim_npy_writer_append(&err, w, labels + 50, N - 50));
		CHECK_OK_ERR(&err, dim_npy_writer_close(&err, w));
	}
	CHECK_OK_ERR(&err, dim_npy_write(&err, path_in("labels_whole.npy"), DIM_DT_I64, 1, lfull, labels));
	CHECK(files_equal(path_in("labels.npy"), path_in("labels_whole.npy")));

	/* zero rows */
	CHECK_OK_ERR(&err, dim_npy_writer_open(&err, path_in("zero.npy"), DIM_DT_F32, 2, unknown, &w));
	if (w)
		CHECK_OK_ERR(&err, dim_npy_writer_close(&err, w));
	CHECK_OK_ERR(&err, dim_npy_read(&err, path_in("zero.npy"), &a));
	CHECK(a.ndim == 2 && a.shape[0] == 0 && a.shape[1] == D && a.nbytes == 0);
	dim_npy_array_free(&a);
	CHECK(count_temp_files() == 0);
}

static void test_streaming_errors(void)
{
	dim_error err = {0};
	dim_npy_writer *w = NULL;
	int64_t shape[2] = {10, D};
	const char *p = path_in("stream_err.npy");
	CHECK(t_write_file(p, "old", 3) == 0);

	/* too many rows: append refuses; too few: close refuses, old file kept */
	CHECK_OK_ERR(&err, dim_npy_writer_open(&err, p, DIM_DT_F32, 2, shape, &w));
	if (w) {
		CHECK_OK_ERR(&err, dim_npy_writer_append(&err, w, feats, 8));
		dim_status st = dim_npy_writer_append(&err, w, feats, 3);
		CHECK_ERR(err, st, DIM_ERR_ARG, "appending 3 rows to 8 exceeds the 10 declared");
		st = dim_npy_writer_close(&err, w);
		CHECK_ERR(err, st, DIM_ERR_ARG, "8 rows appended, 10 declared");
	}
	size_t n;
	unsigned char *b = slurp(p, &n);
	CHECK(b && n == 3 && !memcmp(b, "old", 3));
	free(b);

	/* abort leaves nothing behind */
	CHECK_OK_ERR(&err, dim_npy_writer_open(&err, path_in("aborted.npy"), DIM_DT_F32, 2, shape, &w));
	if (w) {
		CHECK_OK_ERR(&err, dim_npy_writer_append(&err, w, feats, 4));
		dim_npy_writer_abort(w);
	}
	CHECK(access(path_in("aborted.npy"), F_OK) != 0 && count_temp_files() == 0);
	dim_npy_writer_abort(NULL);

	/* bad arguments */
	dim_status st = dim_npy_writer_open(&err, p, DIM_DT_F32, 0, shape, &w);
	CHECK_ERR(err, st, DIM_ERR_ARG, "at least 1 dimension");
	CHECK(w == NULL);
	int64_t bad[2] = {DIM_NPY_ROWS_UNKNOWN, -2};
	st = dim_npy_writer_open(&err, p, DIM_DT_F32, 2, bad, &w);
	CHECK_ERR(err, st, DIM_ERR_ARG, "bad shape");
	st = dim_npy_write(&err, p, DIM_DT_F32, 2, (int64_t[]){DIM_NPY_ROWS_UNKNOWN, 2}, feats);
	CHECK_ERR(err, st, DIM_ERR_ARG, "bad shape");
	char missing[1100];
	snprintf(missing, sizeof missing, "%s/nodir/f.npy", dir);
	st = dim_npy_writer_open(&err, missing, DIM_DT_F32, 2, shape, &w);
	CHECK_ERR(err, st, DIM_ERR_IO, "cannot create temporary file");
	CHECK(w == NULL);
	CHECK_OK_ERR(&err, dim_npy_writer_open(&err, p, DIM_DT_F32, 2, shape, &w));
	if (w) {
		st = dim_npy_writer_append(&err, w, NULL, 2);
		CHECK_ERR(err, st, DIM_ERR_ARG, "bad append");
		st = dim_npy_writer_append(&err, w, feats, -1);
		CHECK_ERR(err, st, DIM_ERR_ARG, "bad append");
		dim_npy_writer_abort(w);
	}
}

/* ------------------------------------------------------------- malformed */

/* A .npy image: magic, version, header length, dict padded to 64 with '\n',
 * then data_bytes bytes of 0..255. Returns its size; *out is malloc'd. */
static size_t npy_image(unsigned char **out, const char *dict, int major, size_t data_bytes)
{
	size_t prefix = major == 1 ? 10 : 12, dl = strlen(dict);
	size_t hl = dl + 1;
	hl += (64 - (prefix + hl) % 64) % 64;
	unsigned char *b = malloc(prefix + hl + data_bytes + 1);
	memcpy(b, "\x93NUMPY", 6);
	b[6] = (unsigned char)major;
	b[7] = 0;
	for (size_t i = 0; i < prefix - 8; i++)
		b[8 + i] = (unsigned char)(hl >> (8 * i));
	memset(b + prefix, ' ', hl);
	memcpy(b + prefix, dict, dl);
	b[prefix + hl - 1] = '\n';
	for (size_t i = 0; i < data_bytes; i++)
		b[prefix + hl + i] = (unsigned char)i;
	*out = b;
	return prefix + hl + data_bytes;
}

static void expect_bad_npy(const char *dict, size_t data_bytes, const char *substr)
{
	unsigned char *b;
	size_t n = npy_image(&b, dict, 1, data_bytes);
	dim_error err = {0};
	dim_npy_array a;
	dim_status st = dim_npy_read_mem(&err, "bad.npy", b, n, &a);
	CHECK_MSG(st == DIM_ERR_FORMAT, "%s: status %s", dict, dim_status_name(st));
	CHECK_MSG(strstr(err.msg, "bad.npy") && strstr(err.msg, substr),
		  "%s: message \"%s\" lacks \"%s\"", dict, err.msg, substr);
	CHECK(a.data == NULL);
	free(b);
}

static void expect_good_npy(const char *dict, size_t data_bytes, dim_dtype dt, int ndim)
{
	unsigned char *b;
	size_t n = npy_image(&b, dict, 1, data_bytes);
	dim_error err = {0};
	dim_npy_array a;
	dim_status st = dim_npy_read_mem(&err, "good.npy", b, n, &a);
	CHECK_MSG(st == DIM_OK && a.dtype == dt && a.ndim == ndim, "%s: %s", dict, err.msg);
	dim_npy_array_free(&a);
	free(b);
}

#define HDR(descr, fortran, shape) \
	"{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }"

static void test_malformed(void)
{
	expect_bad_npy(HDR(">f4", "False", "(2,)"), 8, "big-endian data (descr '>f4')");
	expect_bad_npy(HDR("|O", "False", "(2,)"), 16, "pickled");
	expect_bad_npy(HDR("<c8", "False", "(2,)"), 16, "unsupported descr '<c8'");
	expect_bad_npy(HDR("|f4", "False", "(2,)"), 8, "unsupported descr");
	expect_bad_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
		       "structured dtypes");
	expect_bad_npy("{'descr': '<f4', 'shape': (2,), }", 8, "missing key 'fortran_order'");
	expect_bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", 8,
		       "unexpected key 'x'");
	expect_bad_npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
		       "duplicate key 'descr'");
	expect_bad_npy(HDR("<f4", "False", "(2)"), 8, "'shape' (2) is not a tuple");
	expect_bad_npy(HDR("<f4", "False", "[2]"), 8, "'shape' is not a tuple");
	expect_bad_npy(HDR("<f4", "False", "(-1,)"), 8, "non-negative integer");
	expect_bad_npy(HDR("<f4", "False", "(2 3)"), 24, "expected ',' or ')'");
	expect_bad_npy(HDR("<f4", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 4, "more than 8");
	expect_bad_npy(HDR("<f4", "False", "(99999999999999999999,)"), 4, "too large");
	expect_bad_npy(HDR("<f4", "False", "(4294967296, 4294967296, 4)"), 4, "too large");
	expect_bad_npy(HDR("<f4", "maybe", "(2,)"), 8, "not True or False");
	expect_bad_npy(HDR("<f4", "False", "(2, 3)"), 23, "needs 24 data bytes, the file has 23 (truncated)");
	expect_bad_npy(HDR("<f4", "False", "(2, 3)"), 25, "(trailing bytes)");
	expect_bad_npy(HDR("<f4", "False", "(2,)") " junk", 8, "unexpected text after the dict");
	expect_bad_npy("{'descr': '<f4', 'fortran_order': False 'shape': (2,)}", 8, "expected ',' or '}'");
	expect_bad_npy("'descr': '<f4'", 8, "does not start with '{'");
	expect_bad_npy("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", 8, "unsupported descr");
	expect_bad_npy("{'descr: '<f4'}", 8, "unexpected key");

	/* accepted variations */
	expect_good_npy("{\"shape\": (2,3), \"descr\": \"<f4\", \"fortran_order\": False}", 24,
			DIM_DT_F32, 2);
	expect_good_npy(HDR("<f8", "False", "()"), 8, DIM_DT_F64, 0);
	expect_good_npy(HDR("|u1", "False", "(3, )"), 3, DIM_DT_U8, 1);
	expect_good_npy(HDR("<u1", "False", "(3,)"), 3, DIM_DT_U8, 1);
	expect_good_npy(HDR(">u1", "False", "(3,)"), 3, DIM_DT_U8, 1);
	expect_good_npy(HDR("<i8", "False", "(0, 4,)"), 0, DIM_DT_I64, 2);

	/* magic, version, header length */
	dim_error err = {0};
	dim_npy_array a;
	unsigned char *b;
	size_t n = npy_image(&b, HDR("<f4", "False", "(2,)"), 1, 8);
	dim_status st = dim_npy_read_mem(&err, "m.npy", "PK\x03\x04", 4, &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "m.npy: not a .npy file");
	st = dim_npy_read_mem(&err, "m.npy", b, 0, &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "not a .npy file");
	st = dim_npy_read_mem(&err, "m.npy", b, 4, &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "truncated .npy header (4 bytes)");
	st = dim_npy_read_mem(&err, "m.npy", b, 40, &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "runs past the end of the file");
	b[6] = 4;
	st = dim_npy_read_mem(&err, "m.npy", b, n, &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "unsupported .npy version 4.0");
	b[6] = 1, b[7] = 1;
	st = dim_npy_read_mem(&err, "m.npy", b, n, &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "unsupported .npy version 1.1");
	free(b);
	char big[10100];
	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, HDR("<f4", "False", "(2,)"), strlen(HDR("<f4", "False", "(2,)")));
	n = npy_image(&b, big, 2, 8);
	st = dim_npy_read_mem(&err, "m.npy", b, n, &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "exceeds 10000");
	free(b);
	n = npy_image(&b, HDR("<f4", "False", "(2,)"), 2, 8); /* v2.0 is fine */
	CHECK_OK_ERR(&err, dim_npy_read_mem(&err, "v2.npy", b, n, &a));
	CHECK(a.ndim == 1 && a.shape[0] == 2 && a.nbytes == 8 &&
	      !memcmp(a.data, "\0\1\2\3\4\5\6\7", 8));
	dim_npy_array_free(&a);
	free(b);

	/* every strict prefix of a good file fails cleanly */
	n = npy_image(&b, HDR("<f4", "False", "(2, 3)"), 1, 24);
	int others = 0;
	for (size_t len = 0; len < n; len++)
		others += dim_npy_read_mem(&err, "cut.npy", b, len, &a) != DIM_ERR_FORMAT;
	CHECK(others == 0);
	free(b);

	st = dim_npy_read(&err, path_in("missing.npy"), &a);
	CHECK_ERR(err, st, DIM_ERR_IO, "missing.npy: cannot open");
}

/* Fortran-ordered data is transposed to C order on load. */
static void test_fortran_order(void)
{
	int32_t src[2 * 3 * 4];
	int i = 0;
	for (int k = 0; k < 4; k++) /* first index fastest */
		for (int j = 0; j < 3; j++)
			for (int r = 0; r < 2; r++)
				src[i++] = r * 100 + j * 10 + k;
	unsigned char *b;
	size_t n = npy_image(&b, HDR("<i4", "True", "(2, 3, 4)"), 1, 0);
	unsigned char *full = malloc(n + sizeof src);
	memcpy(full, b, n);
	memcpy(full + n, src, sizeof src);
	CHECK(t_write_file(path_in("fortran.npy"), full, n + sizeof src) == 0);

	dim_error err = {0};
	dim_npy_array a;
	CHECK_OK_ERR(&err, dim_npy_read(&err, path_in("fortran.npy"), &a));
	CHECK(a.dtype == DIM_DT_I32 && a.ndim == 3 && a.shape[0] == 2 && a.shape[2] == 4);
	const int32_t *c = a.data;
	int bad = 0;
	for (int r = 0; c && r < 2; r++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 4; k++)
				bad += c[(r * 3 + j) * 4 + k] != r * 100 + j * 10 + k;
	CHECK(c && bad == 0);
	dim_npy_array_free(&a);
	free(full);
	free(b);
}

/* --------------------------------------------------------------- python */

static int python_has_numpy(void)
{
	const char *py = getenv("CLDIM_TORCH_PYTHON");
	char cmd[1024];
	if (!py || !*py)
		return 0;
	snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", py);
	return system(cmd) == 0;
}

/* Checks our files with np.load (values and bytes against np.save), then
 * writes files for our reader with their C-order bytes beside them. */
static const char py_script[] =
	"import io, os, sys\n"
	"import numpy as np\n"
	"d = sys.argv[1]\n"
	"def saved(a):\n"
	"    b = io.BytesIO(); np.save(b, a); return b.getvalue()\n"
	"feat = np.arange(555, dtype=np.float32).reshape(111, 5) * np.float32(0.25) - np.float32(7)\n"
	"labels = np.arange(111, dtype=np.int64) % 10 - 3\n"
	"for name, want in (('feat.npy', feat), ('labels.npy', labels), ('known.npy', feat)):\n"
	"    got = np.load(os.path.join(d, name))\n"
	"    assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape)\n"
	"    assert np.array_equal(got, want), name\n"
	"    assert open(os.path.join(d, name), 'rb').read() == saved(want), name + ' bytes'\n"
	"z = np.load(os.path.join(d, 'zero.npy'))\n"
	"assert z.shape == (0, 5) and z.dtype == np.float32\n"
	"f = np.load(os.path.join(d, 'fortran.npy'))\n"
	"assert f[1, 2, 3] == 123 and f[0, 1, 2] == 12\n"
	"cases = {\n"
	"  'py_f8': np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7,\n"
	"  'py_fortran': np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),\n"
	"  'py_fortran2': np.asfortranarray(np.arange(35, dtype=np.int64).reshape(5, 7)),\n"
	"  'py_u1': np.arange(256, dtype=np.uint8),\n"
	"  'py_i8': np.array([-1, 0, 2**62], dtype=np.int64),\n"
	"  'py_scalar': np.array(2.5, dtype=np.float32),\n"
	"  'py_bool': np.array([[True, False], [False, True]]),\n"
	"  'py_empty': np.zeros((0, 3), dtype=np.float32),\n"
	"}\n"
	"for name, a in cases.items():\n"
	"    np.save(os.path.join(d, name + '.npy'), a)\n"
	"    open(os.path.join(d, name + '.raw'), 'wb').write(a.tobytes(order='C'))\n"
	"with open(os.path.join(d, 'py_v2.npy'), 'wb') as fh:\n"
	"    np.lib.format.write_array(fh, np.arange(6, dtype=np.float32).reshape(3, 2), version=(2, 0))\n"
	"open(os.path.join(d, 'py_v2.raw'), 'wb').write(np.arange(6, dtype=np.float32).tobytes())\n"
	"np.save(os.path.join(d, 'py_big_endian.npy'), np.arange(4, dtype='>f4'))\n"
	"np.save(os.path.join(d, 'py_object.npy'), np.array([{'a': 1}], dtype=object), allow_pickle=True)\n"
	"print('python: np.load checked our files and wrote its own')\n";

static void check_python_file(const char *name, dim_dtype dt, int ndim, const int64_t *shape)
{
	char npy[256], raw[256];
	snprintf(npy, sizeof npy, "%s.npy", name);
	snprintf(raw, sizeof raw, "%s.raw", name);
	dim_error err = {0};
	dim_npy_array a;
	size_t n;
	CHECK_OK_ERR(&err, dim_npy_read(&err, path_in(npy), &a));
	unsigned char *want = slurp(path_in(raw), &n);
	CHECK_MSG(a.dtype == dt && a.ndim == ndim && want && a.nbytes == n &&
			  !memcmp(a.data, want, n),
		  "%s: dtype %s ndim %d nbytes %zu", name, dim_dtype_name(a.dtype), a.ndim, a.nbytes);
	for (int i = 0; i < ndim && i < a.ndim; i++)
		CHECK_MSG(a.shape[i] == shape[i], "%s: dim %d is %lld", name, i, (long long)a.shape[i]);
	free(want);
	dim_npy_array_free(&a);
}

static void test_python(void)
{
	if (!python_has_numpy()) {
		fprintf(stderr, "skipped: numpy cross-check (no python3 with numpy)\n");
		return;
	}
	const char *script = path_in("check_npy.py");
	CHECK(t_write_file(script, py_script, strlen(py_script)) == 0);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", getenv("CLDIM_TORCH_PYTHON"), script, dir);
	int rc = system(cmd);
	CHECK_MSG(rc == 0, "%s", cmd);
	if (rc != 0)
		return;
	check_python_file("py_f8", DIM_DT_F64, 3, (int64_t[]){2, 3, 4});
	check_python_file("py_fortran", DIM_DT_F32, 3, (int64_t[]){2, 3, 4});
	check_python_file("py_fortran2", DIM_DT_I64, 2, (int64_t[]){5, 7});
	check_python_file("py_u1", DIM_DT_U8, 1, (int64_t[]){256});
	check_python_file("py_i8", DIM_DT_I64, 1, (int64_t[]){3});
	check_python_file("py_scalar", DIM_DT_F32, 0, NULL);
	check_python_file("py_bool", DIM_DT_BOOL, 2, (int64_t[]){2, 2});
	check_python_file("py_empty", DIM_DT_F32, 2, (int64_t[]){0, 3});
	check_python_file("py_v2", DIM_DT_F32, 2, (int64_t[]){3, 2});

	dim_error err = {0};
	dim_npy_array a;
	dim_status st = dim_npy_read(&err, path_in("py_big_endian.npy"), &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "py_big_endian.npy: bad .npy header: big-endian");
	st = dim_npy_read(&err, path_in("py_object.npy"), &a);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "pickled");
}

int main(void)
{
	dir = t_tmpdir("npy");
	make_features();
	test_golden_headers();
	test_round_trips();
	test_writer_rejects();
	test_streaming();
	test_streaming_errors();
	test_malformed();
	test_fortran_order();
	test_python();
	CHECK(count_temp_files() == 0);
	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
