/*
 * unit.h - the C unit-test harness: each tests/unit/test_*.c defines
 * test functions and a table; the runner prints one line per failure and
 * the closing line "N passed, N failed".
 */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <string.h>
#include <stdint.h>

extern int unit_failed_checks;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	unit_failed_checks++; return; } } while (0)
#define CHECK_EQ_I64(a, b) do { int64_t a_ = (a), b_ = (b); if (a_ != b_) { \
	fprintf(stderr, "%s:%d: %s == %lld, want %lld\n", __FILE__, __LINE__, #a, \
		(long long)a_, (long long)b_); unit_failed_checks++; return; } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
	fprintf(stderr, "%s:%d: %s == \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a, \
		a_ ? a_ : "(null)", b_ ? b_ : "(null)"); unit_failed_checks++; return; } } while (0)

typedef struct unit_test { const char *name; void (*fn)(void); } unit_test;

/* Each test file defines one table with this macro. */
#define UNIT_SUITE(name) const unit_test name[]
#endif
