/*
 * run.c - runs every C unit-test suite and prints "N passed, N failed".
 * A test passes when it returns without a failed CHECK.  Exit 1 if any
 * test failed.  An optional argument runs only tests whose name contains it.
 */
#include "unit.h"
#include "kvarbiter.h"

int unit_failed_checks;

extern const unit_test suite_json[], suite_cli[], suite_rng[], suite_route[],
	suite_expr[], suite_gen[], suite_equiv[], suite_kernels[], suite_db[],
	suite_http[], suite_llm[], suite_stats[], suite_pool[], suite_audit[],
	suite_sha256[], suite_bench[], suite_mutate[];

static const unit_test *const suites[] = {
	suite_json, suite_cli, suite_rng, suite_route, suite_expr, suite_gen,
	suite_equiv, suite_kernels, suite_db, suite_http, suite_llm, suite_stats,
	suite_pool, suite_audit, suite_sha256, suite_bench, suite_mutate, NULL
};

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	kva_progname = "unit";
	for (int s = 0; suites[s]; s++)
		for (const unit_test *t = suites[s]; t->name; t++) {
			int before = unit_failed_checks;

			if (argc > 1 && !strstr(t->name, argv[1]))
				continue;
			t->fn();
			if (unit_failed_checks != before) {
				fprintf(stderr, "FAIL %s\n", t->name);
				failed++;
			} else {
				passed++;
			}
		}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
