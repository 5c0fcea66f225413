/* test_cli.c - strict option numbers and the PRNG. */
#include "unit.h"
#include "kvarbiter.h"

static void t_parse_i64(void)
{
	int64_t v;
	const char *err;

	CHECK(!kva_parse_i64("42", 0, 100, &v, &err)); CHECK_EQ_I64(v, 42);
	CHECK(!kva_parse_i64("-5", -10, 10, &v, &err)); CHECK_EQ_I64(v, -5);
	CHECK(kva_parse_i64("", 0, 10, &v, &err)); CHECK_STR(err, "invalid");
	CHECK(kva_parse_i64(" 4", 0, 10, &v, &err)); CHECK_STR(err, "invalid");
	CHECK(kva_parse_i64("4x", 0, 10, &v, &err)); CHECK_STR(err, "invalid");
	CHECK(kva_parse_i64("11", 0, 10, &v, &err)); CHECK_STR(err, "too large");
	CHECK(kva_parse_i64("-1", 0, 10, &v, &err)); CHECK_STR(err, "too small");
	CHECK(kva_parse_i64("99999999999999999999", 0, INT64_MAX, &v, &err));
	CHECK_STR(err, "too large");
}

static void t_parse_size(void)
{
	size_t v;
	const char *err;

	CHECK(!kva_parse_size("16M", &v, &err)); CHECK(v == 16u << 20);
	CHECK(!kva_parse_size("100", &v, &err)); CHECK(v == 100);
	CHECK(kva_parse_size("0", &v, &err));
	CHECK(kva_parse_size("M", &v, &err));
}

static void t_parse_double(void)
{
	double d;
	const char *err;

	CHECK(!kva_parse_double("1e-4", &d, &err)); CHECK(d == 1e-4);
	CHECK(kva_parse_double("nan", &d, &err));
	CHECK(kva_parse_double("1e999", &d, &err));
	CHECK(kva_parse_double("1x", &d, &err));
}

const unit_test suite_cli[] = {
	{ "parse_i64", t_parse_i64 },
	{ "parse_size", t_parse_size },
	{ "parse_double", t_parse_double },
	{ NULL, NULL }
};

/* The stream is part of the output contract (--seed): pin its first
 * values so a change to the generator cannot pass unnoticed. */
static void t_rng_stream(void)
{
	kva_rng r, r2;
	uint64_t first;

	kva_rng_seed(&r, 0);
	first = kva_rng_u64(&r);
	kva_rng_seed(&r2, 0);
	CHECK(kva_rng_u64(&r2) == first);
	kva_rng_seed(&r2, 1);
	CHECK(kva_rng_u64(&r2) != first);
	/* xoshiro256** from splitmix64(0): reference value computed by
	 * the published algorithms */
	CHECK(first == 0x99ec5f36cb75f2b4ULL);
}

static void t_rng_range(void)
{
	kva_rng r;
	int hits[7] = { 0 };

	kva_rng_seed(&r, 7);
	for (int i = 0; i < 70000; i++) {
		int64_t x = kva_rng_range(&r, -3, 3);

		CHECK(x >= -3 && x <= 3);
		hits[x + 3]++;
	}
	for (int i = 0; i < 7; i++)
		CHECK(hits[i] > 9000 && hits[i] < 11000);
	CHECK(kva_rng_range(&r, 5, 5) == 5);
	(void)kva_rng_range(&r, INT64_MIN, INT64_MAX);
}

const unit_test suite_rng[] = {
	{ "rng_stream", t_rng_stream },
	{ "rng_range", t_rng_range },
	{ NULL, NULL }
};
