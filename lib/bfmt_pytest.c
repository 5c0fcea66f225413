/*
 * bfmt_pytest.c - pytest-benchmark JSON (--benchmark-json, or a saved run
 * with --benchmark-save-data): one leg per test (its fullname), one rep
 * per round in stats.data (seconds per iteration); the stats beside the
 * data are checked against it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int detect_pytest(const kva_jval *doc)
{
	const kva_jval *m = kva_json_get(doc, "machine_info");
	const kva_jval *bm = kva_json_get(doc, "benchmarks");

	return m && m->t == KVA_JOBJ && bm && bm->t == KVA_JARR;
}

static const char *test_name(const kva_jval *t)
{
	const kva_jval *v = kva_json_get(t, "fullname");

	if (!v || v->t != KVA_JSTR)
		v = kva_json_get(t, "name");
	return v && v->t == KVA_JSTR ? v->s : NULL;
}

/* Check benchmarks[i] (t) before any rep is taken. */
static int check_test(kva_bench *b, kva_bench_unit *u, const kva_jval *t,
		      size_t i, kva_err *e)
{
	const kva_jval *stats = kva_json_get(t, "stats");
	const kva_jval *data = stats ? kva_json_get(stats, "data") : NULL;
	const kva_bench_leg *x0;
	const char *name;
	size_t j = 0;
	double x;

	u->errline = kva_bench_line(u, t);
	if (t->t != KVA_JOBJ)
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu]", i),
				"must be an object");
	if (!(name = test_name(t)))
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu].fullname", i),
				"missing, or not a string");
	x0 = kva_bench_find_leg(b, u->leg_name ? u->leg_name : name);
	if (x0 && x0->fmt && x0->fmt != u->fmt)
		return kva_errf(e, NULL, "leg \"%.60s\" mixes %s and %s rows",
				x0->name, x0->fmt->name, u->fmt->name);
	if (!stats || stats->t != KVA_JOBJ)
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu].stats", i),
				stats ? "must be an object" : "missing");
	if (!data)
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu].stats.data", i),
				"missing: the file holds summaries only (saved "
				"without --benchmark-save-data), and a summary "
				"cannot be re-derived");
	if (data->t != KVA_JARR || data->n == 0)
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu].stats.data", i),
				"must be a non-empty array of numbers");
	for (const kva_jval *d = data->child; d; d = d->next, j++)
		if (kva_bench_num(u, d, kva_bench_field(b, "benchmarks[%zu].stats."
							"data[%zu]", i, j), &x, e))
			return -1;
	return 0;
}

/* Members of a test that are its conditions (commit_info and the
 * document's datetime differ between base and head by design). */
static int test_nonconfig(const char *k)
{
	return strcmp(k, "options") && strcmp(k, "params");
}

/* Take the rounds of a checked test t. */
static int take_test(kva_bench *b, kva_bench_unit *u, const kva_jval *doc,
		     const kva_jval *t, kva_err *e)
{
	const kva_jval *stats = kva_json_get(t, "stats");
	const kva_jval *data = kva_json_get(stats, "data");
	double *v, x, mean, sum = 0;
	size_t n = 0;
	kva_bench_leg *l;
	kva_cfg c = { 0 };
	kva_buf path = { 0 };

	if (kva_bench_row_leg(b, u, NULL, test_name(t), &l, e))
		return -1;
	kva_buf_puts(&path, "machine_info");
	kva_cfg_flatten(&c, &path, kva_json_get(doc, "machine_info"), NULL);
	path.len = 0;
	path.p[0] = '\0';
	kva_cfg_flatten(&c, &path, t, test_nonconfig);
	kva_buf_free(&path);
	kva_bench_leg_config(l, &c);
	v = kva_xrealloc(NULL, data->n, sizeof *v);
	for (const kva_jval *d = data->child; d; d = d->next) {
		kva_json_num(d, NULL, &x, NULL);
		v[n++] = x;
		sum += x;
		kva_bench_rep_add(b, l, u, x, kva_bench_line(u, d), NULL);
	}
	kva_bench_reps_clock(l, n, kva_json_get(doc, "datetime"));
	/* pytest-benchmark's Stats of the same rounds */
	mean = kva_stats_mean(v, n);
	kva_bench_embedded(b, u, l, -1, "total", kva_json_get(stats, "total"), sum,
			   "sum(data)");
	kva_bench_embedded(b, u, l, -1, "ops", kva_json_get(stats, "ops"), 1 / mean,
			   "1 / mean(data)");
	kva_bench_embedded(b, u, l, -1, "rounds", kva_json_get(stats, "rounds"),
			   (double)n, "len(data)");
	kva_bench_summary(b, u, l, stats, v, n, "data");
	free(v);
	return 0;
}

static int read_pytest(kva_bench *b, kva_bench_unit *u, const kva_jval *doc,
		       kva_err *e)
{
	const kva_jval *bm = kva_json_get(doc, "benchmarks");
	size_t i = 0;

	if (kva_bench_fixed_metric(b, u, "time", "pytest-benchmark files",
				   "benchmarks", e))
		return -1;
	u->errline = kva_bench_line(u, bm);
	if (bm->n == 0)
		return kva_errf(e, "benchmarks", "must be a non-empty array");
	if (u->leg_name && bm->n > 1)
		return kva_errf(e, "benchmarks", "LEG=FILE names one leg, but the "
				"file holds %zu tests", bm->n);
	for (const kva_jval *t = bm->child; t; t = t->next, i++)
		if (check_test(b, u, t, i, e))
			return -1;
	for (const kva_jval *t = bm->child; t; t = t->next)
		if (take_test(b, u, doc, t, e))
			return -1;
	return 0;
}

const kva_bench_fmt kva_bfmt_pytest = {
	"pytest-benchmark", "pytest-benchmark", NULL, detect_pytest, read_pytest
};
