/*
 * bench_fuzz.c - libFuzzer target for bench-rederive's readers
 * (lib/bench*.c, lib/bfmt_*.c): any bytes, parsed as one record with
 * NaN and Infinity allowed, go through kva_bench_record as an untyped or
 * typed record of any format, twice (a second record of the same leg),
 * and the derivation writes its records.  Nothing may crash, leak or
 * trip a sanitizer, whatever the record claims to be.  Built and run by
 * tests/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (!freopen("/dev/null", "w", stdout))
		return 1;
	kva_out_init(0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kva_arena a = { 0 };
	kva_bench b;
	kva_bench_unit u = { 0 };
	kva_rec rec = { 0 };
	const kva_jval *root, *type;
	kva_err e;

	root = kva_json_parse_opt(&a, (const char *)data, size, KVA_JSON_NONFINITE, &e);
	if (!root) {
		kva_arena_free(&a);
		return 0;
	}
	type = root->t == KVA_JOBJ ? kva_json_get(root, "type") : NULL;
	rec.root = root;
	rec.type = type && type->t == KVA_JSTR ? type->s : NULL;
	rec.text = (const char *)data;
	rec.len = size;
	rec.line = 1;
	kva_bench_init(&b);
	b.op.max_reps = 8;
	b.op.resamples = 50;
	u.src = kva_bench_src(&b, "fuzz.json");
	u.rec = &rec;
	if (!kva_bench_record(&b, &u, &e)) {
		(void)kva_bench_record(&b, &u, &e);
		(void)kva_bench_finish(&b);
	}
	(void)kva_out_flush();
	kva_bench_free(&b);
	kva_arena_free(&a);
	return 0;
}
