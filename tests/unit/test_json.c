/* test_json.c - the strict JSON parser and exact integers. */
#include <stdlib.h>

#include "unit.h"
#include "kvarbiter.h"

static kva_arena ar;

static const kva_jval *parse(const char *s, kva_err *e)
{
	kva_arena_reset(&ar);
	return kva_json_parse(&ar, s, strlen(s), e);
}

/* Integer value of member "x" of s, or the error text. */
static const char *int_of(const char *s, int64_t *out)
{
	static kva_err e;
	const kva_jval *v = parse(s, &e);

	if (!v)
		return e.msg;
	return kva_json_int(kva_json_get(v, "x"), "x", out, &e) ? e.msg : NULL;
}

static void t_json_ints(void)
{
	int64_t v;

	CHECK(!int_of("{\"x\":0}", &v)); CHECK_EQ_I64(v, 0);
	CHECK(!int_of("{\"x\":-0}", &v)); CHECK_EQ_I64(v, 0);
	CHECK(!int_of("{\"x\":9007199254740992}", &v));
	CHECK_EQ_I64(v, 9007199254740992LL);
	CHECK(!int_of("{\"x\":-9007199254740992}", &v));
	CHECK_EQ_I64(v, -9007199254740992LL);
	CHECK(!int_of("{\"x\":1.0}", &v)); CHECK_EQ_I64(v, 1);
	CHECK(!int_of("{\"x\":1e3}", &v)); CHECK_EQ_I64(v, 1000);
	CHECK(!int_of("{\"x\":1.50e1}", &v)); CHECK_EQ_I64(v, 15);
	CHECK(!int_of("{\"x\":0.0e99999}", &v)); CHECK_EQ_I64(v, 0);
	CHECK_STR(int_of("{\"x\":9007199254740993}", &v),
		  "9007199254740993 is beyond +-2^53");
	CHECK_STR(int_of("{\"x\":1152921504606846976}", &v),
		  "1152921504606846976 is beyond +-2^53");
	CHECK_STR(int_of("{\"x\":1.5}", &v), "must be an integer, got 1.5");
	CHECK_STR(int_of("{\"x\":1.0000000000000001}", &v),
		  "must be an integer, got 1.0000000000000001");
	CHECK_STR(int_of("{\"x\":1e-1}", &v), "must be an integer, got 1e-1");
	CHECK_STR(int_of("{\"x\":1e99999999999}", &v),
		  "1e99999999999 is beyond +-2^53");
	CHECK_STR(int_of("{\"x\":\"7\"}", &v), "must be an integer, got \"7\"");
	CHECK_STR(int_of("{\"x\":null}", &v), "must be an integer, got null");
	CHECK_STR(int_of("{\"y\":1}", &v), "missing");
}

static void t_json_malformed(void)
{
	kva_err e;
	static const char *const bad[][2] = {
		{ "", "malformed JSON at column 1: unexpected end of input" },
		{ "{\"a\":1} x", "malformed JSON at column 9: trailing garbage after the value" },
		{ "{\"a\":1,}", "malformed JSON at column 8: expected member name" },
		{ "{\"a\" 1}", "malformed JSON at column 6: expected ':'" },
		{ "[1 2]", "malformed JSON at column 4: expected ',' or ']'" },
		{ "{\"a\":01}", "malformed JSON at column 7: expected ',' or '}'" },
		{ "{\"a\":-}", "malformed JSON at column 6: bad number" },
		{ "{\"a\":1.}", "malformed JSON at column 8: bad number" },
		{ "{\"a\":tru}", "malformed JSON at column 6: unexpected character" },
		{ "{\"a\":\"x}", "malformed JSON at column 6: unterminated string" },
		{ "{\"a\":\"\\x\"}", "malformed JSON at column 7: bad escape in string" },
		{ "{\"a\":\"\\ud800\"}", "malformed JSON at column 7: lone high surrogate" },
		{ "{\"a\":\"\xff\"}", "malformed JSON at column 7: invalid UTF-8 in string" },
		{ "{\"a\":\"\xc0\xaf\"}", "malformed JSON at column 7: invalid UTF-8 in string" },
		{ "{\"a\":1,\"a\":2}", "duplicate member \"a\"" },
		{ "NaN", "malformed JSON at column 1: bad number" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(!parse(bad[i][0], &e));
		CHECK_STR(e.msg, bad[i][1]);
	}
}

static void t_json_strings_and_write(void)
{
	kva_err e;
	kva_buf b = { 0 };
	const kva_jval *v = parse(" { \"s\" : \"a\\u0000b\\ud83d\\ude00\\n\" ,"
				  " \"n\" : [ 1.50 , -0 , 1e400 ] } ", &e);

	CHECK(v);
	const kva_jval *s = kva_json_get(v, "s");
	CHECK(s && s->slen == 8);
	CHECK(!memcmp(s->s, "a\0b\xf0\x9f\x98\x80\n", 8));
	kva_json_write(&b, v);
	/* numbers and strings keep their source text */
	CHECK_STR(b.p, "{\"s\":\"a\\u0000b\\ud83d\\ude00\\n\",\"n\":[1.50,-0,1e400]}");
	b.len = 0;
	kva_buf_jstr(&b, s->s, s->slen); /* re-escaped from the decoded text */
	CHECK_STR(b.p, "\"a\\u0000b\xf0\x9f\x98\x80\\n\"");
	kva_buf_free(&b);
	CHECK(!kva_json_get(v, "S")); /* case-sensitive */
}

static void t_json_depth(void)
{
	kva_err e;
	char *deep = malloc(2001);

	memset(deep, '[', 2000);
	deep[2000] = '\0';
	CHECK(!parse(deep, &e));
	CHECK(strstr(e.msg, "nesting too deep") != NULL);
	free(deep);
	kva_arena_free(&ar);
}

/* Duplicate names are found in big objects too (hashed past 16 members,
 * so a 200000-member record parses in linear time). */
static void t_json_many_members(void)
{
	kva_buf b = { 0 };
	kva_err e;

	for (int dup = 0; dup < 2; dup++) {
		b.len = 0;
		kva_buf_putc(&b, '{');
		for (int i = 0; i < 200000; i++)
			kva_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
		if (dup)
			kva_buf_puts(&b, ",\"k123456\":0");
		kva_buf_putc(&b, '}');
		kva_arena_reset(&ar);
		const kva_jval *v = kva_json_parse(&ar, b.p, b.len, &e);
		if (dup) {
			CHECK(!v);
			CHECK_STR(e.msg, "duplicate member \"k123456\"");
		} else {
			CHECK(v && v->n == 200000);
			const kva_jval *k = kva_json_get(v, "k199999");
			CHECK(k && k->rawlen == 6);
		}
	}
	for (int n = 1; n < 40; n++) { /* around the switch to hashing */
		b.len = 0;
		kva_buf_putc(&b, '{');
		for (int i = 0; i < n; i++)
			kva_buf_printf(&b, "\"k%d\":0,", i);
		kva_buf_printf(&b, "\"k%d\":1}", n - 1);
		kva_arena_reset(&ar);
		CHECK(!kva_json_parse(&ar, b.p, b.len, &e));
	}
	kva_buf_free(&b);
	kva_arena_free(&ar);
}

static void t_buf_i64(void)
{
	kva_buf b = { 0 };

	kva_buf_i64(&b, INT64_MIN);
	kva_buf_putc(&b, ' ');
	kva_buf_i64(&b, 0);
	kva_buf_putc(&b, ' ');
	kva_buf_i64(&b, 1234567);
	CHECK_STR(b.p, "-9223372036854775808 0 1234567");
	kva_buf_free(&b);
	kva_buf_free(&b); /* idempotent */
}

const unit_test suite_json[] = {
	{ "json_ints", t_json_ints },
	{ "json_malformed", t_json_malformed },
	{ "json_strings_and_write", t_json_strings_and_write },
	{ "json_depth", t_json_depth },
	{ "json_many_members", t_json_many_members },
	{ "buf_i64", t_buf_i64 },
	{ NULL, NULL }
};
