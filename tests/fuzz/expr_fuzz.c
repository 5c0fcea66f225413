/*
 * expr_fuzz.c - libFuzzer target for the formula parser (lib/expr.c): any
 * text must be refused cleanly or, when accepted, become an oracle that
 * prints and evaluates on a few queries (inputs from -1 to 2^62, empty
 * and short tables) without a fault: no overflow, no division by zero, no
 * out-of-range table index.  Built and run by tests/fuzz/run.sh
 * (make fuzz).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t vals[] = {
	0, 1, 2, 3, 5, 16, -1, 60, INT64_C(1) << 53, INT64_C(1) << 62,
	INT64_MAX, INT64_MIN
};
#define NVALS (sizeof vals / sizeof vals[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	struct kva_formula *f;
	kva_oracle o;
	kva_err e;
	int64_t tv[4] = { 3, 0, 7, 1 };

	kva_progname = "expr_fuzz";
	if (!null && !(null = fopen("/dev/null", "w")))
		abort();
	if (!(f = kva_formula_parse((const char *)data, size, &e)))
		return 0;
	memset(&o, 0, sizeof o);
	if (!kva_formula_oracle(f, &o, &e)) {
		kva_formula_print(f, null);
		/* the same value in every input, then each input on its own */
		for (size_t q = 0; q < NVALS * (KVA_MAX_IN + 1); q++) {
			kva_args a;
			kva_route r;

			memset(&a, 0, sizeof a);
			for (int i = 0; i < KVA_MAX_IN; i++)
				a.in[i] = q < NVALS ? vals[q] :
					  (int)(q / NVALS) - 1 == i ? vals[q % NVALS] : 1;
			for (int t = 0; t < KVA_MAX_TAB; t++) {
				a.tab[t].v = tv;
				a.tab[t].n = (size_t)((q + (size_t)t) % 5);
			}
			(void)kva_formula_eval(f, &a, &r, &e);
		}
	}
	kva_formula_free(f);
	return 0;
}
