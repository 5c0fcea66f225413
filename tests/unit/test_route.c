/* test_route.c - the compiled oracles and query records. */
#include "unit.h"
#include "kvarbiter.h"

static int run(const char *name, const kva_args *a, kva_route *r, kva_err *e)
{
	return kva_oracle_eval(kva_oracle_find(name), a, r, e);
}

static void t_radix_fixtures(void)
{
	/* ImpactArbiter's three-row table, block_size 16 */
	static const int64_t rows[][8] = {
		{ 0, 0, 47, 8, 16, 0, 2, 15 },
		{ 5, 0, 60, 4, 16, 0, 0, 1 },
		{ 0, 3, 200, 4, 16, 3, 0, 8 },
	};
	kva_route r;
	kva_err e;

	for (int i = 0; i < 3; i++) {
		kva_args a = { { rows[i][0], rows[i][1], rows[i][2], rows[i][3],
				 rows[i][4] }, { { 0 } } };

		CHECK(!run("radix-2d", &a, &r, &e));
		CHECK_EQ_I64(r.out[0], rows[i][5]);
		CHECK_EQ_I64(r.out[1], rows[i][6]);
		CHECK_EQ_I64(r.out[2], rows[i][7]);
	}
	kva_args a1 = { { 3, 13, 16 }, { { 0 } } };
	CHECK(!run("radix-1d", &a1, &r, &e));
	CHECK_EQ_I64(r.out[0], 1);
	CHECK_EQ_I64(r.out[1], 0);
}

static void t_validation(void)
{
	kva_route r;
	kva_err e;
	kva_args a = { { 0, 0, 0, 0, 16 }, { { 0 } } };

	CHECK(run("radix-2d", &a, &r, &e));
	CHECK_STR(e.field, "total_blocks_h");
	CHECK_STR(e.msg, "must satisfy total_blocks_h >= 1");
	kva_args b = { { 0, 0 }, { { 0 } } };
	CHECK(run("paged", &b, &r, &e));
	CHECK_STR(e.field, "block_size");
	kva_args c = { { -2, 4 }, { { 0 } } };
	CHECK(run("paged", &c, &r, &e));
	CHECK_STR(e.field, "pos");
}

static void t_paged(void)
{
	int64_t tab[] = { 5, 9, 2 };
	kva_args a = { { 0, 4 }, { { tab, 3 } } };
	kva_route r;
	kva_err e;

	a.in[0] = 11;
	CHECK(!run("paged", &a, &r, &e));
	CHECK_EQ_I64(r.status, KVA_ROUTED);
	CHECK_EQ_I64(r.out[0], 2);
	CHECK_EQ_I64(r.out[1], 3);
	CHECK_EQ_I64(r.out[2], 11);
	a.in[0] = 12; /* one past the table: must not be written */
	CHECK(!run("paged", &a, &r, &e));
	CHECK_EQ_I64(r.status, KVA_UNMAPPED);
	a.in[0] = -1;
	CHECK(!run("paged", &a, &r, &e));
	CHECK_EQ_I64(r.status, KVA_PADDING);
	/* sliding window: position 13 wraps into ring slot (13/4)%2 = 1 */
	kva_args w = { { 13, 4, 2 }, { { tab, 3 } } };
	CHECK(!run("paged-ring", &w, &r, &e));
	CHECK_EQ_I64(r.out[0], 9);
	CHECK_EQ_I64(r.out[2], 37);
	/* slot overflow is an error, not a wrapped number */
	int64_t big[] = { INT32_MAX };
	kva_args o = { { 1, KVA_INT_LIMIT }, { { big, 1 } } };
	CHECK(run("paged", &o, &r, &e));
}

static void t_flashinfer(void)
{
	/* two requests: 2 pages (last holds 3 of 4) and 1 page (holds 1) */
	int64_t indptr[] = { 0, 2, 3 }, indices[] = { 7, 4, 9 }, last[] = { 3, 1 };
	kva_args a = { { 0, 0, 4 }, { { indptr, 3 }, { indices, 3 }, { last, 2 } } };
	kva_route r;
	kva_err e;

	a.in[1] = 6;
	CHECK(!run("flashinfer", &a, &r, &e));
	CHECK_EQ_I64(r.status, KVA_ROUTED);
	CHECK_EQ_I64(r.out[0], 4);
	CHECK_EQ_I64(r.out[1], 2);
	a.in[1] = 7; /* len = (2-1)*4 + 3 = 7 */
	CHECK(!run("flashinfer", &a, &r, &e));
	CHECK_EQ_I64(r.status, KVA_UNMAPPED);
	a.in[0] = 1;
	a.in[1] = 0;
	CHECK(!run("flashinfer", &a, &r, &e));
	CHECK_EQ_I64(r.out[0], 9);
	a.in[0] = 2;
	CHECK(run("flashinfer", &a, &r, &e));
	CHECK_STR(e.field, "batch");
	last[0] = 5;
	a.in[0] = 0;
	CHECK(run("flashinfer", &a, &r, &e));
	CHECK_STR(e.field, "kv_last_page_len");
}

static void t_args_from_json(void)
{
	kva_arena ar = { 0 };
	kva_tabstore ts = { 0 };
	kva_err e;
	kva_args a;
	const kva_oracle *o = kva_oracle_find("paged");
	const char *ok = "{\"type\":\"query\",\"pos\":3,\"block_size\":2,"
			 "\"block_table\":[4,5]}";
	const char *neg = "{\"type\":\"query\",\"pos\":3,\"block_size\":2,"
			  "\"block_table\":[4,-5]}";
	const char *big = "{\"type\":\"query\",\"pos\":3,\"block_size\":2,"
			  "\"block_table\":[2147483648]}";
	const kva_jval *v = kva_json_parse(&ar, ok, strlen(ok), &e);

	CHECK(v && !kva_args_from_json(o, v, &a, &ts, &e));
	CHECK_EQ_I64(a.tab[0].n, 2);
	CHECK_EQ_I64(a.tab[0].v[1], 5);
	kva_arena_reset(&ar);
	v = kva_json_parse(&ar, neg, strlen(neg), &e);
	CHECK(v && kva_args_from_json(o, v, &a, &ts, &e));
	CHECK_STR(e.field, "block_table[1]");
	kva_arena_reset(&ar);
	v = kva_json_parse(&ar, big, strlen(big), &e);
	CHECK(v && kva_args_from_json(o, v, &a, &ts, &e));
	CHECK_STR(e.msg, "must be in [0, 2^31-1]");
	kva_tabstore_free(&ts);
	kva_arena_free(&ar);
}

const unit_test suite_route[] = {
	{ "radix_fixtures", t_radix_fixtures },
	{ "validation", t_validation },
	{ "paged", t_paged },
	{ "flashinfer", t_flashinfer },
	{ "args_from_json", t_args_from_json },
	{ NULL, NULL }
};
