/*
 * bfmt_hyperfine.c - hyperfine --export-json documents: one leg per
 * results[] entry (its command), one rep per time, a failed rep per
 * non-zero exit code; hyperfine's own summary is checked.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int detect_hyperfine(const kva_jval *doc)
{
	return kva_json_get(doc, "results") != NULL;
}

/* Check results[i] (r) whole before any rep is taken, so a bad document
 * adds nothing. */
static int check_result(kva_bench *b, kva_bench_unit *u, const kva_jval *r,
			size_t i, kva_err *e)
{
	const kva_jval *times = kva_json_get(r, "times");
	const kva_jval *codes = kva_json_get(r, "exit_codes");
	const kva_bench_leg *x0;
	const char *cmd;
	size_t j = 0;
	double x;
	int64_t ec;

	u->errline = kva_bench_line(u, r);
	if (r->t != KVA_JOBJ)
		return kva_errf(e, kva_bench_field(b, "results[%zu]", i),
				"must be an object");
	if (kva_bench_str(u, r, "command", &cmd, e))
		return kva_errf(e, kva_bench_field(b, "results[%zu].command", i),
				"must be a string");
	if (!cmd)
		return kva_errf(e, kva_bench_field(b, "results[%zu].command", i),
				"missing");
	x0 = kva_bench_find_leg(b, u->leg_name ? u->leg_name : cmd);
	if (x0 && x0->fmt && x0->fmt != u->fmt)
		return kva_errf(e, NULL, "leg \"%.60s\" mixes %s and %s rows",
				x0->name, x0->fmt->name, u->fmt->name);
	if (!times || times->t != KVA_JARR || times->n == 0)
		return kva_errf(e, kva_bench_field(b, "results[%zu].times", i),
				times ? "must be a non-empty array of numbers"
				: "missing");
	for (const kva_jval *t = times->child; t; t = t->next, j++)
		if (kva_bench_num(u, t, kva_bench_field(b, "results[%zu].times[%zu]",
							  i, j), &x, e))
			return -1;
	if (!codes || codes->t == KVA_JNULL)
		return 0;
	if (codes->t != KVA_JARR || codes->n != times->n) {
		u->errline = kva_bench_line(u, codes);
		return kva_errf(e, kva_bench_field(b, "results[%zu].exit_codes", i),
				"must be an array as long as times");
	}
	j = 0;
	for (const kva_jval *t = codes->child; t; t = t->next, j++) {
		u->errline = kva_bench_line(u, t);
		if (t->t != KVA_JNULL &&
		    kva_json_int(t, kva_bench_field(b, "results[%zu].exit_codes[%zu]",
						    i, j), &ec, e))
			return -1;
	}
	return 0;
}

/* Take the reps of a checked results[] entry r. */
static int take_result(kva_bench *b, kva_bench_unit *u, const kva_jval *r,
		       kva_err *e)
{
	const kva_jval *times = kva_json_get(r, "times");
	const kva_jval *codes = kva_json_get(r, "exit_codes");
	const kva_jval *code = codes && codes->t == KVA_JARR ? codes->child : NULL;
	const kva_jval *params = kva_json_get(r, "parameters");
	double *t, x;
	size_t n = 0;
	kva_bench_leg *l;
	kva_cfg c = { 0 };
	kva_buf path = { 0 };

	if (kva_bench_row_leg(b, u, NULL, kva_json_get(r, "command")->s, &l, e))
		return -1;
	kva_buf_puts(&path, "parameters");
	if (params && params->t == KVA_JOBJ)
		kva_cfg_flatten(&c, &path, params, NULL);
	kva_buf_free(&path);
	kva_bench_leg_config(l, &c);
	t = kva_xrealloc(NULL, times->n, sizeof *t);
	for (const kva_jval *tv = times->child; tv; tv = tv->next) {
		char why[48] = "";
		int64_t ec = 0;

		kva_json_num(tv, NULL, &x, NULL);
		t[n++] = x;
		if (code) {
			if (code->t != KVA_JNULL)
				kva_json_int(code, NULL, &ec, NULL);
			if (ec)
				snprintf(why, sizeof why, "exit code %lld", (long long)ec);
			code = code->next;
		}
		kva_bench_rep_add(b, l, u, x, kva_bench_line(u, tv), why[0] ? why : NULL);
	}
	/* hyperfine's own summary of these times */
	kva_bench_summary(b, u, l, r, t, n, "times");
	free(t);
	return 0;
}

static int read_hyperfine(kva_bench *b, kva_bench_unit *u, const kva_jval *doc,
			  kva_err *e)
{
	const kva_jval *res = kva_json_get(doc, "results");
	size_t i = 0;

	if (kva_bench_fixed_metric(b, u, "time", "hyperfine exports", "results", e))
		return -1;
	if (!res || res->t != KVA_JARR || res->n == 0)
		return kva_errf(e, "results", res ? "must be a non-empty array"
				: "missing");
	u->errline = kva_bench_line(u, res);
	if (u->leg_name && res->n > 1)
		return kva_errf(e, "results", "LEG=FILE names one leg, but the "
				"export holds %zu commands", res->n);
	for (const kva_jval *r = res->child; r; r = r->next, i++)
		if (check_result(b, u, r, i, e))
			return -1;
	for (const kva_jval *r = res->child; r; r = r->next)
		if (take_result(b, u, r, e))
			return -1;
	return 0;
}

const kva_bench_fmt kva_bfmt_hyperfine = {
	"hyperfine", "hyperfine", NULL, detect_hyperfine, read_hyperfine
};
