/* cldim-test: labels=unit timeout=60 */
/* safetensors writer/reader and atomic file replacement (host/io/).
 *
 * Golden vectors from the format notes, round trips of every layout case,
 * one test per malformed-input rule, truncation and random-mutation sweeps,
 * atomic-write failure paths, and (when python3 is present) an independent
 * parse of our file with Python's json + struct. */
#include "cldim/io.h"
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
	void *data;
	dim_error err = {0};
	if (dim_read_file(&err, path, &data, n) != DIM_OK) {
		fprintf(stderr, "%s\n", dim_error_text(&err));
		return NULL;
	}
	return data;
}

/* Entries in dir whose name contains ".tmp." (leftover temp files). */
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

/* ---------------------------------------------------------------- golden */

static void test_golden_vector(void)
{
	static const char header[] =
		"{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
	float x[6] = {1, 2, 3, 4, 5, 6};
	int64_t shape[3] = {1, 2, 3};
	dim_st_tensor t = {"attn.0", DIM_DT_F32, 3, shape, x};
	dim_error err = {0};
	CHECK(strlen(header) == 64);

	CHECK_OK_ERR(&err, dim_st_write(&err, path_in("golden.safetensors"), &t, 1, NULL, 0));
	size_t n;
	unsigned char *b = slurp(path_in("golden.safetensors"), &n);
	CHECK(b && n == 8 + 64 + 24);
	if (b && n == 96) {
		static const unsigned char len[8] = {0x40, 0, 0, 0, 0, 0, 0, 0};
		CHECK(!memcmp(b, len, 8));
		CHECK_MSG(!memcmp(b + 8, header, 64), "header: %.64s", (const char *)b + 8);
		CHECK(!memcmp(b + 72, x, 24));
	}
	free(b);

	dim_st_file *f;
	CHECK_OK_ERR(&err, dim_st_load(&err, path_in("golden.safetensors"), &f));
	if (f) {
		const dim_st_info *i = dim_st_find(f, "attn.0");
		CHECK(dim_st_count(f) == 1 && i && i->dtype == DIM_DT_F32 && i->ndim == 3);
		CHECK(i && i->shape[0] == 1 && i->shape[1] == 2 && i->shape[2] == 3);
		CHECK(i && i->nbytes == 24 && !memcmp(i->data, x, 24));
		CHECK(dim_st_meta_count(f) == 0 && !dim_st_meta_get(f, "x"));
		dim_st_close(f);
	}
}

static void test_empty_file(void)
{
	static const unsigned char want[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ',
					       ' ', ' ', ' ', ' '};
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_st_write(&err, path_in("empty.safetensors"), NULL, 0, NULL, 0));
	size_t n;
	unsigned char *b = slurp(path_in("empty.safetensors"), &n);
	CHECK(b && n == 16 && !memcmp(b, want, 16));
	free(b);
	dim_st_file *f;
	CHECK_OK_ERR(&err, dim_st_load(&err, path_in("empty.safetensors"), &f));
	CHECK(f && dim_st_count(f) == 0 && dim_st_at(f, 0) == NULL);
	dim_st_close(f);
}

/* ------------------------------------------------------------ round trip */

static float w4[2 * 3 * 2 * 2];
static int64_t labels[5] = {0, -1, 9, INT64_MAX, INT64_MIN};
static double scalar = 3.25;
static uint8_t bytes7[7] = {1, 2, 3, 4, 5, 6, 255};

static void write_mixed(const char *path, dim_error *err)
{
	for (size_t i = 0; i < sizeof w4 / sizeof *w4; i++)
		w4[i] = (float)i * 0.5f - 3.0f;
	static const int64_t s4[4] = {2, 3, 2, 2}, s1[1] = {5}, s0[2] = {0, 3}, s7[1] = {7};
	dim_st_tensor ts[] = {
		{"enc.c1.weight", DIM_DT_F32, 4, s4, w4},
		{"labels", DIM_DT_I64, 1, s1, labels},
		{"step_scale", DIM_DT_F64, 0, NULL, &scalar},
		{"empty", DIM_DT_F32, 2, s0, NULL},
		{"bytes", DIM_DT_U8, 1, s7, bytes7},
		{"quote\"back\\slash\nnl \xc3\xa9", DIM_DT_F32, 2, s0, NULL},
	};
	dim_st_meta meta[] = {
		{"step", "1200"},
		{"config", "{\"alpha\": 0.5, \"estimator\": \"jsd\"}"},
		{"ctl", "tab\there\x01"},
	};
	CHECK_OK_ERR(err, dim_st_write(err, path, ts, 6, meta, 3));
}

static void test_round_trip(void)
{
	dim_error err = {0};
	dim_st_file *f = NULL;
	write_mixed(path_in("mixed.safetensors"), &err);
	CHECK_OK_ERR(&err, dim_st_load(&err, path_in("mixed.safetensors"), &f));
	if (!f)
		return;
	CHECK(dim_st_count(f) == 6);
	for (int i = 1; i < dim_st_count(f); i++) /* sorted by name */
		CHECK(strcmp(dim_st_at(f, i - 1)->name, dim_st_at(f, i)->name) < 0);

	const dim_st_info *t;
	int64_t s4[4] = {2, 3, 2, 2}, s1[1] = {5}, s0[2] = {0, 3};
	CHECK_OK_ERR(&err, dim_st_expect(&err, f, "enc.c1.weight", DIM_DT_F32, 4, s4, &t));
	CHECK(t && !memcmp(t->data, w4, sizeof w4) && (uintptr_t)t->data % 4 == 0);
	CHECK_OK_ERR(&err, dim_st_expect(&err, f, "labels", DIM_DT_I64, 1, s1, &t));
	CHECK(t && !memcmp(t->data, labels, sizeof labels) && (uintptr_t)t->data % 8 == 0);
	CHECK_OK_ERR(&err, dim_st_expect(&err, f, "step_scale", DIM_DT_F64, 0, NULL, &t));
	CHECK(t && t->nbytes == 8 && *(const double *)t->data == 3.25);
	CHECK_OK_ERR(&err, dim_st_expect(&err, f, "empty", DIM_DT_F32, 2, s0, &t));
	CHECK(t && t->nbytes == 0);
	t = dim_st_find(f, "bytes");
	CHECK(t && t->dtype == DIM_DT_U8 && t->nbytes == 7 && !memcmp(t->data, bytes7, 7));
	CHECK(dim_st_find(f, "quote\"back\\slash\nnl \xc3\xa9") != NULL);
	CHECK(dim_st_find(f, "nope") == NULL);

	/* reference order: 8-byte types first, then 4, then 1; names within */
	const dim_st_info *lab = dim_st_find(f, "labels"), *sc = dim_st_find(f, "step_scale"),
			  *w = dim_st_find(f, "enc.c1.weight"), *by = dim_st_find(f, "bytes");
	CHECK(lab && sc && w && by && lab->begin == 0 && sc->begin == 40 && w->begin == 48 &&
	      by->begin == 48 + sizeof w4);

	CHECK(dim_st_meta_count(f) == 3);
	CHECK(dim_st_meta_get(f, "step") && !strcmp(dim_st_meta_get(f, "step"), "1200"));
	CHECK(dim_st_meta_get(f, "config") &&
	      !strcmp(dim_st_meta_get(f, "config"), "{\"alpha\": 0.5, \"estimator\": \"jsd\"}"));
	CHECK(dim_st_meta_get(f, "ctl") && !strcmp(dim_st_meta_get(f, "ctl"), "tab\there\x01"));
	CHECK(!strcmp(dim_st_meta_at(f, 0)->key, "config"));

	/* expect() errors name the file, the tensor and both shapes */
	int64_t bad[4] = {2, 3, 2, 3};
	dim_status st = dim_st_expect(&err, f, "enc.c1.weight", DIM_DT_F32, 4, bad, &t);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "mixed.safetensors");
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "[2, 3, 2, 2], expected [2, 3, 2, 3]");
	CHECK(t == NULL);
	st = dim_st_expect(&err, f, "labels", DIM_DT_F32, 1, s1, NULL);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "\"labels\" is I64, expected F32");
	st = dim_st_expect(&err, f, "missing.weight", DIM_DT_F32, 1, s1, NULL);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "no tensor \"missing.weight\"");
	dim_st_close(f);

	/* the header length is a multiple of 8 */
	size_t n;
	unsigned char *b = slurp(path_in("mixed.safetensors"), &n);
	CHECK(b && n >= 8 && (b[0] | b[1] << 8) % 8 == 0);
	free(b);
}

static void test_writer_rejects(void)
{
	dim_error err = {0};
	float x[2] = {1, 2};
	int64_t s2[1] = {2}, neg[1] = {-1};
	const char *p = path_in("rejected.safetensors");
	dim_st_tensor dup[2] = {{"a", DIM_DT_F32, 1, s2, x}, {"a", DIM_DT_F32, 1, s2, x}};
	dim_status st = dim_st_write(&err, p, dup, 2, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "duplicate tensor name \"a\"");
	dim_st_tensor dup2[2] = {{"a", DIM_DT_F32, 1, s2, x}, {"a", DIM_DT_U8, 1, s2, x}};
	st = dim_st_write(&err, p, dup2, 2, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "duplicate tensor name");
	dim_st_tensor bad_dt = {"a", (dim_dtype)99, 1, s2, x};
	st = dim_st_write(&err, p, &bad_dt, 1, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "invalid dtype");
	dim_st_tensor meta_name = {"__metadata__", DIM_DT_F32, 1, s2, x};
	st = dim_st_write(&err, p, &meta_name, 1, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "__metadata__");
	dim_st_tensor bad_utf8 = {"a\xff", DIM_DT_F32, 1, s2, x};
	st = dim_st_write(&err, p, &bad_utf8, 1, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "UTF-8");
	dim_st_tensor negative = {"a", DIM_DT_F32, 1, neg, x};
	st = dim_st_write(&err, p, &negative, 1, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "bad shape [-1]");
	dim_st_tensor nodata = {"a", DIM_DT_F32, 1, s2, NULL};
	st = dim_st_write(&err, p, &nodata, 1, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "no data");
	dim_st_tensor many = {"a", DIM_DT_F32, 9, s2, x};
	st = dim_st_write(&err, p, &many, 1, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_ARG, "9 dimensions");
	dim_st_meta dm[2] = {{"k", "1"}, {"k", "2"}};
	st = dim_st_write(&err, p, NULL, 0, dm, 2);
	CHECK_ERR(err, st, DIM_ERR_ARG, "duplicate metadata key \"k\"");
	dim_st_meta nullv = {"k", NULL};
	st = dim_st_write(&err, p, NULL, 0, &nullv, 1);
	CHECK_ERR(err, st, DIM_ERR_ARG, "metadata value is NULL");
	CHECK(access(p, F_OK) != 0);
	CHECK(count_temp_files() == 0);
}

/* ------------------------------------------------------------- malformed */

/* 8-byte length + header + data_bytes zero bytes, loaded from memory. */
static dim_status load_header(dim_error *err, const char *json, size_t len, size_t data_bytes)
{
	size_t n = 8 + len + data_bytes;
	unsigned char *b = calloc(1, n);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)len >> (8 * i));
	memcpy(b + 8, json, len);
	dim_st_file *f = NULL;
	dim_status st = dim_st_load_mem(err, "bad.safetensors", b, n, &f);
	dim_st_close(f);
	free(b);
	return st;
}

static void expect_bad(const char *json, size_t data_bytes, const char *substr)
{
	dim_error err = {0};
	dim_status st = load_header(&err, json, strlen(json), data_bytes);
	CHECK_MSG(st == DIM_ERR_FORMAT, "header %s: status %s", json, dim_status_name(st));
	CHECK_MSG(strstr(err.msg, "bad.safetensors") && strstr(err.msg, substr),
		  "header %s: message \"%s\" lacks \"%s\"", json, err.msg, substr);
}

static void expect_good(const char *json, size_t data_bytes)
{
	dim_error err = {0};
	dim_status st = load_header(&err, json, strlen(json), data_bytes);
	CHECK_MSG(st == DIM_OK, "header %s: %s", json, err.msg);
}

#define E(name, dt, shape, offs) \
	"\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static void test_malformed_json(void)
{
	expect_bad("", 0, "does not start with '{'");
	expect_bad(" {}", 0, "does not start with '{'");
	expect_bad("{", 0, "expected a string");
	expect_bad("{" E("a", "F32", "[1]", "[0,4]"), 4, "expected '}'");
	expect_bad("{\"a\" {}}", 0, "expected ':'");
	expect_bad("{" E("a", "F32", "[1]", "[0,4]") ",}", 4, "expected a string");
	expect_bad("{} x", 0, "unexpected bytes after the header");
	expect_bad("{\"a", 0, "unterminated string");
	expect_bad("{\"a\\x\":{}}", 0, "bad escape");
	expect_bad("{\"a\\u12\":{}}", 0, "bad \\u escape");
	expect_bad("{\"\\ud800\":{}}", 0, "without a low one");
	expect_bad("{\"\\udc00\":{}}", 0, "lone low surrogate");
	expect_bad("{\"a\\u0000b\":{}}", 0, "\\u0000");
	expect_bad("{\"a\xff\":{}}", 0, "invalid UTF-8");
	expect_bad("{\"a\xc0\x80\":{}}", 0, "invalid UTF-8"); /* overlong NUL */
	expect_bad("{\"a\tb\":{}}", 0, "control character");
	expect_bad("{" E("a", "F32", "[-1]", "[0,4]") "}", 4, "negative number");
	expect_bad("{" E("a", "F32", "[1.5]", "[0,4]") "}", 4, "fraction or exponent");
	expect_bad("{" E("a", "F32", "[1e2]", "[0,4]") "}", 4, "fraction or exponent");
	expect_bad("{" E("a", "F32", "[01]", "[0,4]") "}", 4, "leading zero");
	expect_bad("{" E("a", "F32", "[99999999999999999999]", "[0,4]") "}", 4, "too large");
	expect_bad("{" E("a", "F32", "[\"1\"]", "[0,4]") "}", 4, "non-negative integer");
	expect_bad("{" E("a", "F32", "[1,2,3,4,5,6,7,8,9]", "[0,4]") "}", 4, "more than 8");
	expect_bad("{" E("a", "F32", "[1]", "[0,4,8]") "}", 4, "more than 2");
	expect_bad("{" E("a", "F32", "[1]", "[4]") "}", 4, "needs 2 numbers");
	expect_bad("{\"a\":[]}", 0, "expected '{'");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "lacks \"data_offsets\"");
	expect_bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "lacks \"dtype\"");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
		   "unexpected key \"x\"");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
		   4, "duplicate key \"dtype\"");
	expect_bad("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
		   "expected a string");
}

static void test_malformed_content(void)
{
	/* unknown dtypes are named */
	expect_bad("{" E("a", "F4", "[1]", "[0,1]") "}", 1, "unknown dtype \"F4\"");
	expect_bad("{" E("a", "f32", "[1]", "[0,4]") "}", 4, "unknown dtype \"f32\"");
	expect_bad("{" E("a", "C64", "[1]", "[0,8]") "}", 8, "unknown dtype \"C64\"");
	/* sizes and layout */
	expect_bad("{" E("a", "F32", "[3]", "[0,8]") "}", 8, "hold 8 bytes, but shape [3] of F32 needs 12");
	expect_bad("{" E("a", "F32", "[1]", "[4,0]") "}", 4, "end before they begin");
	expect_bad("{" E("a", "F32", "[2]", "[0,8]") "," E("b", "F32", "[2]", "[4,12]") "}", 12,
		   "overlapping offsets");
	expect_bad("{" E("a", "F32", "[1]", "[0,4]") "," E("b", "F32", "[1]", "[8,12]") "}", 12,
		   "hole in the data");
	expect_bad("{" E("a", "F32", "[1]", "[4,8]") "}", 8, "the data starts at 0");
	expect_bad("{" E("a", "F32", "[1]", "[0,4]") "}", 5, "incomplete buffer");
	expect_bad("{" E("a", "F32", "[1]", "[0,4]") "}", 3, "incomplete buffer");
	expect_bad("{}", 1, "incomplete buffer");
	expect_bad("{" E("a", "F32", "[4294967296,4294967296,16]", "[0,4]") "}", 4, "too large");
	expect_bad("{" E("a", "F32", "[1]", "[0,4]") "," E("a", "F32", "[1]", "[4,8]") "}", 8,
		   "duplicate tensor name \"a\"");
	/* metadata */
	expect_bad("{\"__metadata__\":{\"a\":1}}", 0, "metadata value for \"a\" is not a string");
	expect_bad("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0, "not a string");
	expect_bad("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "duplicate metadata key \"a\"");
	expect_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key \"__metadata__\"");
	expect_bad("{\"__metadata__\":[\"a\"]}", 0, "expected '{'");
}

/* whitespace, key order, escapes, unpadded header, null or empty metadata */
static void test_valid_variations(void)
{
	dim_error err = {0};
	expect_good("{ \"__metadata__\" : null ,\n\t\"a\" : { \"data_offsets\" : [ 0 , 4 ] ,"
		    " \"shape\" : [ ] , \"dtype\" : \"F32\" } }  \r\n", 4);
	expect_good("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
		    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
	expect_good("{\"__metadata__\":{}}", 0);
	expect_good("{\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]},"
		    "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		    "\"__metadata__\":{\"x\":\"y\"}}", 6);

	/* escapes decode to the exact UTF-8 name */
	const char *json = "{\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\":"
			   "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
	size_t len = strlen(json);
	unsigned char b[256] = {0};
	b[0] = (unsigned char)len;
	memcpy(b + 8, json, len);
	b[8 + len] = 42;
	dim_st_file *f = NULL;
	CHECK_OK_ERR(&err, dim_st_load_mem(&err, "esc", b, 8 + len + 1, &f));
	const dim_st_info *t = f ? dim_st_at(f, 0) : NULL;
	CHECK(t && !strcmp(t->name, "q\"b\\s/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"));
	CHECK(t && *(const unsigned char *)t->data == 42);
	dim_st_close(f);
}

static void test_bad_prefix(void)
{
	dim_error err = {0};
	dim_st_file *f = NULL;
	unsigned char b[32] = {0};
	dim_status st = dim_st_load_mem(&err, "short.st", b, 5, &f);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "short.st: not a safetensors file: 5 bytes");
	uint64_t big = 100000001;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(big >> (8 * i));
	st = dim_st_load_mem(&err, "big.st", b, sizeof b, &f);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "exceeds the limit");
	memset(b, 0xff, 8); /* 2^64-1: must not wrap 8+N */
	st = dim_st_load_mem(&err, "huge.st", b, sizeof b, &f);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "exceeds the limit");
	memset(b, 0, 8);
	b[0] = 100;
	st = dim_st_load_mem(&err, "past.st", b, sizeof b, &f);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "runs past the end of the file");
	CHECK(f == NULL);
}

/* Every strict prefix of a valid file fails cleanly; random byte damage
 * either loads or fails with DIM_ERR_FORMAT, never anything worse. */
static void test_truncation_and_mutation(void)
{
	dim_error err = {0};
	size_t n;
	unsigned char *good = slurp(path_in("mixed.safetensors"), &n);
	if (!good)
		return;
	int bad_status = 0, loaded = 0;
	for (size_t len = 0; len < n; len++) {
		dim_st_file *f = NULL;
		dim_status st = dim_st_load_mem(&err, "cut", good, len, &f);
		bad_status += st != DIM_ERR_FORMAT;
		loaded += f != NULL;
		dim_st_close(f);
	}
	CHECK_MSG(bad_status == 0 && loaded == 0, "%d prefixes gave another status, %d loaded",
		  bad_status, loaded);

	size_t header_len = (size_t)(good[0] | good[1] << 8); /* < 64 KiB here */
	unsigned char *m = malloc(n);
	t_rng rng = {12345};
	bad_status = 0;
	for (int iter = 0; iter < 4000; iter++) {
		memcpy(m, good, n);
		int flips = 1 + (int)(t_rand_u64(&rng) % 3);
		for (int k = 0; k < flips; k++) {
			size_t at = 8 + t_rand_u64(&rng) % header_len;
			m[at] = (unsigned char)t_rand_u64(&rng);
		}
		dim_st_file *f = NULL;
		dim_status st = dim_st_load_mem(&err, "mutant", m, n, &f);
		bad_status += st != DIM_OK && st != DIM_ERR_FORMAT;
		for (int i = 0; f && i < dim_st_count(f); i++) { /* touch every byte */
			const dim_st_info *t = dim_st_at(f, i);
			volatile unsigned char sum = 0;
			for (size_t b = 0; b < t->nbytes; b++)
				sum ^= ((const unsigned char *)t->data)[b];
		}
		dim_st_close(f);
	}
	CHECK(bad_status == 0);
	free(m);
	free(good);
}

static void test_files(void)
{
	dim_error err = {0};
	dim_st_file *f = NULL;
	dim_status st = dim_st_load(&err, path_in("does-not-exist.safetensors"), &f);
	CHECK_ERR(err, st, DIM_ERR_IO, "does-not-exist.safetensors: cannot open");
	st = dim_st_load(&err, dir, &f);
	CHECK_ERR(err, st, DIM_ERR_IO, "not a regular file");

	/* truncated on disk: the data section is short */
	size_t n;
	unsigned char *b = slurp(path_in("golden.safetensors"), &n);
	CHECK(b && t_write_file(path_in("cut.safetensors"), b, n - 1) == 0);
	st = dim_st_load(&err, path_in("cut.safetensors"), &f);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "cut.safetensors: tensors cover 24 data bytes, but the file holds 23");
	CHECK(b && t_write_file(path_in("cut.safetensors"), b, 40) == 0);
	st = dim_st_load(&err, path_in("cut.safetensors"), &f);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "runs past the end of the file");
	CHECK(b && t_write_file(path_in("cut.safetensors"), b, 3) == 0);
	st = dim_st_load(&err, path_in("cut.safetensors"), &f);
	CHECK_ERR(err, st, DIM_ERR_FORMAT, "3 bytes, shorter than");
	CHECK(f == NULL);
	free(b);
}

/* ----------------------------------------------------------- atomic files */

static int file_is(const char *path, const char *want)
{
	size_t n;
	unsigned char *b = slurp(path, &n);
	int same = b && n == strlen(want) && !memcmp(b, want, n);
	free(b);
	return same;
}

static void test_atomic(void)
{
	dim_error err = {0};
	const char *p = path_in("atomic.txt");

	/* missing directory: clean error naming the path, nothing created */
	char missing[1200];
	snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", dir);
	dim_status st = dim_st_write(&err, missing, NULL, 0, NULL, 0);
	CHECK_ERR(err, st, DIM_ERR_IO, missing);
	CHECK_ERR(err, st, DIM_ERR_IO, "No such file or directory");
	st = dim_write_file_atomic(&err, missing, "x", 1);
	CHECK_ERR(err, st, DIM_ERR_IO, "cannot create temporary file");

	/* replace, and abort leaves the old file */
	CHECK_OK_ERR(&err, dim_write_file_atomic(&err, p, "old contents", 12));
	CHECK(file_is(p, "old contents"));
	dim_atomic_file *af = NULL;
	CHECK_OK_ERR(&err, dim_atomic_open(&err, p, &af));
	if (af) {
		fputs("half-written", dim_atomic_stream(af));
		CHECK(count_temp_files() == 1);
		CHECK(file_is(p, "old contents"));
		dim_atomic_abort(af);
	}
	CHECK(file_is(p, "old contents") && count_temp_files() == 0);
	dim_atomic_abort(NULL);

	/* rename fails (target is a non-empty directory): temp removed */
	char sub[1200], inner[1300];
	snprintf(sub, sizeof sub, "%s/adir", dir);
	snprintf(inner, sizeof inner, "%s/keep", sub);
	CHECK(mkdir(sub, 0755) == 0 && t_write_file(inner, "k", 1) == 0);
	st = dim_write_file_atomic(&err, sub, "new", 3);
	CHECK_ERR(err, st, DIM_ERR_IO, "cannot rename");
	CHECK(file_is(inner, "k") && count_temp_files() == 0);

	/* write fails mid-file (file size limit): old file intact, temp removed */
	struct rlimit old_lim, lim;
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	if (getrlimit(RLIMIT_FSIZE, &old_lim) == 0) {
		lim = old_lim;
		lim.rlim_cur = 4096;
		if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
			static float big[16384];
			int64_t shape[1] = {16384};
			dim_st_tensor t = {"big", DIM_DT_F32, 1, shape, big};
			st = dim_st_write(&err, p, &t, 1, NULL, 0);
			setrlimit(RLIMIT_FSIZE, &old_lim);
			CHECK_ERR(err, st, DIM_ERR_IO, "atomic.txt");
			CHECK(file_is(p, "old contents") && count_temp_files() == 0);
		}
	}
	signal(SIGXFSZ, old_handler);

	/* the file mode of an existing file is kept */
	CHECK(chmod(p, 0640) == 0);
	CHECK_OK_ERR(&err, dim_write_file_atomic(&err, p, "new", 3));
	struct stat sb;
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0640 && file_is(p, "new"));

	/* a relative path (directory ".") works too */
	char cwd[1024];
	if (getcwd(cwd, sizeof cwd) && chdir(dir) == 0) {
		CHECK_OK_ERR(&err, dim_write_file_atomic(&err, "relative.txt", "r", 1));
		CHECK(file_is("relative.txt", "r"));
		CHECK(chdir(cwd) == 0);
	}
}

/* --------------------------------------------------------------- python */

static int python_has(const char *modules)
{
	const char *py = getenv("CLDIM_TORCH_PYTHON");
	char cmd[1024];
	if (!py || !*py)
		return 0;
	snprintf(cmd, sizeof cmd, "'%s' -c 'import %s' >/dev/null 2>&1", py, modules);
	return system(cmd) == 0;
}

static const char py_check[] =
	"import json, struct, sys\n"
	"import numpy as np\n"
	"b = open(sys.argv[1], 'rb').read()\n"
	"n = struct.unpack('<Q', b[:8])[0]\n"
	"assert n % 8 == 0, n\n"
	"h = json.loads(b[8:8 + n].decode('utf-8'))\n"
	"data = b[8 + n:]\n"
	"meta = h.pop('__metadata__')\n"
	"assert meta == {'step': '1200', 'ctl': 'tab\\there\\x01',\n"
	"                'config': '{\"alpha\": 0.5, \"estimator\": \"jsd\"}'}, meta\n"
	"assert json.loads(meta['config'])['alpha'] == 0.5\n"
	"types = {'F32': np.float32, 'I64': np.int64, 'F64': np.float64, 'U8': np.uint8}\n"
	"end = 0\n"
	"for name, e in sorted(h.items(), key=lambda kv: kv[1]['data_offsets']):\n"
	"    b0, b1 = e['data_offsets']\n"
	"    assert b0 == end, (name, b0, end)\n"
	"    end = b1\n"
	"    a = np.frombuffer(data[b0:b1], dtype=types[e['dtype']]).reshape(e['shape'])\n"
	"    h[name] = a\n"
	"assert end == len(data)\n"
	"w = h['enc.c1.weight']\n"
	"assert w.shape == (2, 3, 2, 2)\n"
	"assert np.array_equal(w.ravel(), np.arange(24, dtype=np.float32) * 0.5 - 3)\n"
	"assert h['labels'].tolist() == [0, -1, 9, 2**63 - 1, -2**63]\n"
	"assert h['step_scale'].shape == () and h['step_scale'] == 3.25\n"
	"assert h['empty'].shape == (0, 3)\n"
	"assert h['bytes'].tolist() == [1, 2, 3, 4, 5, 6, 255]\n"
	"assert 'quote\"back\\\\slash\\nnl \\u00e9' in h\n"
	"print('python: safetensors file parsed and checked')\n";

static void test_python_parse(void)
{
	if (!python_has("numpy, json, struct")) {
		fprintf(stderr, "skipped: python check (no python3 with numpy)\n");
		return;
	}
	const char *script = path_in("check_st.py");
	CHECK(t_write_file(script, py_check, strlen(py_check)) == 0);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", getenv("CLDIM_TORCH_PYTHON"), script,
		 path_in("mixed.safetensors"));
	CHECK_MSG(system(cmd) == 0, "%s", cmd);
}

int main(void)
{
	dir = t_tmpdir("safetensors");
	test_golden_vector();
	test_empty_file();
	test_round_trip();
	test_writer_rejects();
	test_malformed_json();
	test_malformed_content();
	test_valid_variations();
	test_bad_prefix();
	test_truncation_and_mutation();
	test_files();
	test_atomic();
	test_python_parse();
	CHECK(count_temp_files() == 0);
	t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
