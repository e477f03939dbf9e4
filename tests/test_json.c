/* cldim-test: labels=unit timeout=60 */
/* Streaming JSON writer and CSV fields (host/io/json.c): exact output for
 * compact and indented documents, escaping, shortest round-trip numbers,
 * misuse reported instead of malformed output, write errors, and (when
 * python3 is present) json.loads of a tricky document. */
#include "cldim/io.h"
#include "testutil.h"

#include <float.h>
#include <string.h>

/* Output captured in memory (open_memstream). */
typedef struct capture {
	char *buf;
	size_t len;
	FILE *f;
} capture;

static FILE *cap_open(capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	return c->f;
}

/* Close and compare with want; frees the buffer. */
static void cap_check(capture *c, const char *want, int line)
{
	fclose(c->f);
	if (!c->buf || strcmp(c->buf, want)) {
		fprintf(stderr, "line %d:\n got: [%s]\nwant: [%s]\n", line, c->buf ? c->buf : "(null)",
			want);
		t_failures++;
	}
	free(c->buf);
}

static void test_compact(void)
{
	capture c;
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, cap_open(&c), 0);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "device", "pthread-cpu");
	dim_json_kv_int(&j, "step", 1200);
	dim_json_kv_number(&j, "loss", 0.125);
	dim_json_kv_bool(&j, "ok", true);
	dim_json_key(&j, "shape");
	dim_json_begin_array(&j);
	dim_json_int(&j, 64);
	dim_json_int(&j, -3);
	dim_json_begin_object(&j);
	dim_json_end_object(&j);
	dim_json_begin_array(&j);
	dim_json_end_array(&j);
	dim_json_null(&j);
	dim_json_end_array(&j);
	dim_json_key(&j, "nested");
	dim_json_begin_object(&j);
	dim_json_key(&j, "a");
	dim_json_string(&j, NULL);
	dim_json_end_object(&j);
	dim_json_end_object(&j);
	CHECK_OK_ERR(&err, dim_json_finish(&err, &j, "capture"));
	cap_check(&c,
		  "{\"device\":\"pthread-cpu\",\"step\":1200,\"loss\":0.125,\"ok\":true,"
		  "\"shape\":[64,-3,{},[],null],\"nested\":{\"a\":null}}",
		  __LINE__);
}

static void test_indented(void)
{
	capture c;
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, cap_open(&c), 2);
	dim_json_begin_object(&j);
	dim_json_kv_int(&j, "n", 1);
	dim_json_key(&j, "list");
	dim_json_begin_array(&j);
	dim_json_bool(&j, false);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "k", "v");
	dim_json_end_object(&j);
	dim_json_end_array(&j);
	dim_json_key(&j, "empty");
	dim_json_begin_object(&j);
	dim_json_end_object(&j);
	dim_json_end_object(&j);
	CHECK_OK_ERR(&err, dim_json_finish(&err, &j, "capture"));
	cap_check(&c,
		  "{\n"
		  "  \"n\": 1,\n"
		  "  \"list\": [\n"
		  "    false,\n"
		  "    {\n"
		  "      \"k\": \"v\"\n"
		  "    }\n"
		  "  ],\n"
		  "  \"empty\": {}\n"
		  "}",
		  __LINE__);

	/* a top-level scalar is a document too */
	dim_json_init(&j, cap_open(&c), 0);
	dim_json_string(&j, "x");
	CHECK_OK_ERR(&err, dim_json_finish(&err, &j, "capture"));
	cap_check(&c, "\"x\"", __LINE__);
}

static void test_escaping(void)
{
	capture c;
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, cap_open(&c), 0);
	dim_json_begin_array(&j);
	dim_json_string(&j, "q\"b\\s/");
	dim_json_string(&j, "\b\f\n\r\t\x01\x1f\x7f");
	dim_json_string(&j, "caf\xc3\xa9 \xf0\x9f\x98\x80");   /* valid UTF-8 kept */
	dim_json_string(&j, "bad\xff\xc3(\xed\xa0\x80!");       /* invalid -> U+FFFD */
	dim_json_string_n(&j, "a\0b", 3);                        /* embedded NUL */
	dim_json_end_array(&j);
	CHECK_OK_ERR(&err, dim_json_finish(&err, &j, "capture"));
	cap_check(&c,
		  "[\"q\\\"b\\\\s/\",\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\","
		  "\"caf\xc3\xa9 \xf0\x9f\x98\x80\","
		  "\"bad\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd!\",\"a\\u0000b\"]",
		  __LINE__);

	/* keys are escaped the same way */
	dim_json_init(&j, cap_open(&c), 0);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "k\"\n", "v");
	dim_json_end_object(&j);
	CHECK_OK_ERR(&err, dim_json_finish(&err, &j, "capture"));
	cap_check(&c, "{\"k\\\"\\n\":\"v\"}", __LINE__);
}

static void test_numbers(void)
{
	static const struct {
		double v;
		const char *want;
	} dcases[] = {
		{0.0, "0"}, {-0.0, "-0"}, {1.0, "1"}, {0.1, "0.1"}, {-2.5, "-2.5"},
		{1e20, "1e+20"}, {1e-7, "1e-07"}, {123456789012.0, "123456789012"},
		{1.0 / 3.0, "0.3333333333333333"}, {DBL_MAX, "1.7976931348623157e+308"},
		{5e-324, "5e-324"},
	};
	char buf[32];
	for (size_t i = 0; i < sizeof dcases / sizeof *dcases; i++) {
		dim_json_format_double(buf, dcases[i].v);
		CHECK_MSG(!strcmp(buf, dcases[i].want), "%.17g -> %s, want %s", dcases[i].v, buf,
			  dcases[i].want);
		CHECK(strtod(buf, NULL) == dcases[i].v);
	}
	CHECK(!strcmp(dim_json_format_double(buf, NAN), "null"));
	CHECK(!strcmp(dim_json_format_double(buf, INFINITY), "null"));
	CHECK(!strcmp(dim_json_format_double(buf, -INFINITY), "null"));
	CHECK(!strcmp(dim_json_format_float(buf, 0.1f), "0.1"));
	CHECK(!strcmp(dim_json_format_float(buf, 1.0f / 3.0f), "0.33333334"));
	CHECK(!strcmp(dim_json_format_float(buf, 16777216.0f), "16777216"));
	CHECK(!strcmp(dim_json_format_float(buf, NAN), "null"));

	/* every float round-trips through its text */
	t_rng r = {7};
	int bad = 0;
	for (int i = 0; i < 20000; i++) {
		uint32_t bits = (uint32_t)t_rand_u64(&r);
		float f;
		memcpy(&f, &bits, 4);
		if (!isfinite(f))
			continue;
		dim_json_format_float(buf, f);
		bad += strtof(buf, NULL) != f;
		double d = t_uniform(&r, -1e6, 1e6) * pow(10.0, (double)(int)(t_rand_u64(&r) % 40) - 20);
		dim_json_format_double(buf, d);
		bad += strtod(buf, NULL) != d;
	}
	CHECK(bad == 0);

	capture c;
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, cap_open(&c), 0);
	dim_json_begin_array(&j);
	dim_json_number(&j, NAN);
	dim_json_number(&j, -INFINITY);
	dim_json_float(&j, 0.1f);
	dim_json_int(&j, INT64_MIN);
	dim_json_uint(&j, UINT64_MAX);
	dim_json_end_array(&j);
	CHECK_OK_ERR(&err, dim_json_finish(&err, &j, "capture"));
	cap_check(&c, "[null,null,0.1,-9223372036854775808,18446744073709551615]", __LINE__);
}

/* One misuse: nothing after it is written, finish names it. */
static void check_misuse(void (*script)(dim_json *), const char *substr, int line)
{
	capture c;
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, cap_open(&c), 0);
	script(&j);
	dim_status st = dim_json_finish(&err, &j, "metrics.jsonl");
	fclose(c.f);
	if (st != DIM_ERR_ARG || !strstr(err.msg, substr) || !strstr(err.msg, "metrics.jsonl")) {
		fprintf(stderr, "line %d: status %s, message \"%s\", want \"%s\"\n", line,
			dim_status_name(st), err.msg, substr);
		t_failures++;
	}
	free(c.buf);
}

static void m_value_for_key(dim_json *j) { dim_json_begin_object(j); dim_json_int(j, 1); }
static void m_key_in_array(dim_json *j) { dim_json_begin_array(j); dim_json_key(j, "k"); }
static void m_key_twice(dim_json *j)
{
	dim_json_begin_object(j);
	dim_json_key(j, "a");
	dim_json_key(j, "b");
}
static void m_dangling_key(dim_json *j)
{
	dim_json_begin_object(j);
	dim_json_key(j, "a");
	dim_json_end_object(j);
}
static void m_wrong_end(dim_json *j) { dim_json_begin_object(j); dim_json_end_array(j); }
static void m_extra_end(dim_json *j) { dim_json_end_object(j); }
static void m_unclosed(dim_json *j) { dim_json_begin_array(j); dim_json_begin_array(j); }
static void m_two_values(dim_json *j) { dim_json_int(j, 1); dim_json_int(j, 2); }
static void m_nothing(dim_json *j) { (void)j; }
static void m_null_key(dim_json *j) { dim_json_begin_object(j); dim_json_key(j, NULL); }
static void m_too_deep(dim_json *j)
{
	for (int i = 0; i < DIM_JSON_MAX_DEPTH + 1; i++)
		dim_json_begin_array(j);
	for (int i = 0; i < DIM_JSON_MAX_DEPTH + 1; i++)
		dim_json_end_array(j);
}

static void test_misuse(void)
{
	check_misuse(m_value_for_key, "a value where an object key is due", __LINE__);
	check_misuse(m_key_in_array, "a key outside an object", __LINE__);
	check_misuse(m_key_twice, "where a value is due", __LINE__);
	check_misuse(m_dangling_key, "an object key without a value", __LINE__);
	check_misuse(m_wrong_end, "end_array without a matching begin_array", __LINE__);
	check_misuse(m_extra_end, "end_object without a matching begin_object", __LINE__);
	check_misuse(m_unclosed, "left 2 level(s) open", __LINE__);
	check_misuse(m_two_values, "a second top-level value", __LINE__);
	check_misuse(m_nothing, "no JSON value written", __LINE__);
	check_misuse(m_null_key, "a NULL key", __LINE__);
	check_misuse(m_too_deep, "nesting deeper", __LINE__);

	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, NULL, 0);
	dim_json_int(&j, 1);
	CHECK(dim_json_finish(&err, &j, NULL) == DIM_ERR_ARG && strstr(err.msg, "no output stream"));
}

static void test_write_error(void)
{
	FILE *f = fopen("/dev/full", "w");
	if (!f) {
		fprintf(stderr, "skipped: write-error check (no /dev/full)\n");
		return;
	}
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, f, 0);
	dim_json_begin_array(&j);
	for (int i = 0; i < 5000; i++)
		dim_json_string(&j, "fill the stdio buffer so a write reaches the device");
	dim_json_end_array(&j);
	dim_status st = dim_json_finish(&err, &j, "/dev/full");
	CHECK_MSG(st == DIM_ERR_IO && strstr(err.msg, "/dev/full: write failed"), "%s: %s",
		  dim_status_name(st), err.msg);
	fclose(f);
}

static void test_csv(void)
{
	capture c;
	cap_open(&c);
	const char *row[] = {"plain", "a,b", "say \"hi\"", "two\nlines", " padded", "", NULL,
			     "cr\r", "x"};
	dim_csv_row(c.f, row, 9);
	dim_csv_field(c.f, "end");
	cap_check(&c,
		  "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded\",,,\"cr\r\",x\nend",
		  __LINE__);
}

/* python's json module reads what we wrote, values intact */
static void test_python(void)
{
	const char *py = getenv("CLDIM_TORCH_PYTHON");
	if (!py || !*py) {
		fprintf(stderr, "skipped: python json check (CLDIM_TORCH_PYTHON unset)\n");
		return;
	}
	char *dir = t_tmpdir("json");
	char path[1024], script[1024], cmd[4096];
	snprintf(path, sizeof path, "%s/doc.json", dir);
	snprintf(script, sizeof script, "%s/check.py", dir);
	FILE *f = fopen(path, "w");
	dim_json j;
	dim_error err = {0};
	dim_json_init(&j, f, 1);
	dim_json_begin_object(&j);
	dim_json_kv_string(&j, "s", "q\"b\\\x01\n\xc3\xa9\xf0\x9f\x98\x80\xff");
	dim_json_kv_number(&j, "third", 1.0 / 3.0);
	dim_json_kv_number(&j, "nan", NAN);
	dim_json_key(&j, "f");
	dim_json_float(&j, 0.1f);
	dim_json_kv_int(&j, "big", INT64_MIN);
	dim_json_end_object(&j);
	CHECK_OK_ERR(&err, dim_json_finish(&err, &j, path));
	fclose(f);
	static const char check[] =
		"import json, sys\n"
		"d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
		"assert d['s'] == 'q\"b\\\\\\x01\\n\\u00e9\\U0001F600\\ufffd', repr(d['s'])\n"
		"assert d['third'] == 1 / 3 and d['nan'] is None and d['f'] == 0.1\n"
		"assert d['big'] == -2**63\n";
	CHECK(t_write_file(script, check, strlen(check)) == 0);
	snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", py, script, path);
	CHECK_MSG(system(cmd) == 0, "%s", cmd);
	t_rmtree(dir);
	free(dir);
}

int main(void)
{
	test_compact();
	test_indented();
	test_escaping();
	test_numbers();
	test_misuse();
	test_write_error();
	test_csv();
	test_python();
	return T_RESULT();
}
