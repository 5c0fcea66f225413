/*
 * json_fuzz.c - libFuzzer target for the JSON parser (lib/json.c): any
 * bytes must be refused cleanly or, when accepted, be walkable and written
 * back (compact and canonical), and what is written must parse again and
 * write back to the same bytes.  Built and run by tests/fuzz/run.sh
 * (make fuzz).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every value: members by name, numbers as integers and doubles. */
static void walk(const kva_jval *v, int depth)
{
	kva_err e;
	int64_t i;
	double d;

	if (depth > 10000)
		abort(); /* the parser bounds nesting well below this */
	if (v->t == KVA_JNUM) {
		(void)kva_json_int(v, "n", &i, &e);
		(void)kva_json_num(v, "n", &d, &e);
	}
	for (const kva_jval *c = v->child; c; c = c->next) {
		if (v->t == KVA_JOBJ && c->key && kva_json_get(v, c->key) == NULL)
			abort(); /* a member the lookup cannot find */
		walk(c, depth + 1);
	}
}

/* write(parse(text)) must be a fixed point of parse-then-write. */
static void round_trip(const char *text, size_t n,
		       void (*wr)(kva_buf *, const kva_jval *))
{
	kva_arena a = { 0 }, a2 = { 0 };
	kva_buf b = { 0 }, b2 = { 0 };
	const kva_jval *v;
	kva_err e;

	if ((v = kva_json_parse(&a, text, n, &e))) {
		wr(&b, v);
		if (!(v = kva_json_parse(&a2, b.p, b.len, &e)))
			abort(); /* the writer made text the parser refuses */
		wr(&b2, v);
		if (b.len != b2.len || memcmp(b.p, b2.p, b.len))
			abort(); /* the second write differs from the first */
	}
	kva_buf_free(&b);
	kva_buf_free(&b2);
	kva_arena_free(&a);
	kva_arena_free(&a2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kva_arena a = { 0 };
	const kva_jval *v;
	kva_err e;

	kva_progname = "json_fuzz";
	if ((v = kva_json_parse(&a, (const char *)data, size, &e)))
		walk(v, 0);
	kva_arena_free(&a);
	round_trip((const char *)data, size, kva_json_write);
	round_trip((const char *)data, size, kva_json_write_canon);
	return 0;
}
