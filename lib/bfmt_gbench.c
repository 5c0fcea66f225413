/*
 * bfmt_gbench.c - Google Benchmark JSON (--benchmark_out_format=json or
 * --benchmark_format=json): one leg per run_name, one rep per repetition
 * (a run_type "iteration" entry), a failed rep per error_occurred; the
 * mean, median, stddev and cv aggregates are checked against the
 * repetitions as Google Benchmark's ComputeStats makes them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int detect_gbench(const kva_jval *doc)
{
	const kva_jval *c = kva_json_get(doc, "context");
	const kva_jval *bm = kva_json_get(doc, "benchmarks");

	return c && c->t == KVA_JOBJ && bm && bm->t == KVA_JARR;
}

/* The entry's leg name: run_name (name before v1.5). */
static const char *run_name(const kva_jval *r)
{
	const kva_jval *v = kva_json_get(r, "run_name");

	if (!v || v->t != KVA_JSTR)
		v = kva_json_get(r, "name");
	return v && v->t == KVA_JSTR ? v->s : NULL;
}

/* A repetition (run_type "iteration", or no run_type before v1.4). */
static int repetition(const kva_jval *r)
{
	const kva_jval *t = kva_json_get(r, "run_type");

	return !t || (t->t == KVA_JSTR && !strcmp(t->s, "iteration"));
}

static int errored(const kva_jval *r)
{
	const kva_jval *v = kva_json_get(r, "error_occurred");

	return v && v->t == KVA_JTRUE;
}

/* Context members that say nothing about the conditions. */
static int context_runtime(const char *k)
{
	return !strcmp(k, "load_avg") || !strcmp(k, "json_schema_version") ||
	       !strcmp(k, "library_version") || !strcmp(k, "executable");
}

/* Of an entry, only these are conditions. */
static int entry_nonconfig(const char *k)
{
	return strcmp(k, "threads") && strcmp(k, "time_unit");
}

/* Check entry i (r) before any rep is taken, so a bad document adds
 * nothing.  unit: the time_unit every entry must have (NULL: none). */
static int check_entry(kva_bench *b, kva_bench_unit *u, const kva_jval *bm,
		       const kva_jval *r, size_t i, const char *unit, kva_err *e)
{
	const kva_jval *tu = kva_json_get(r, "time_unit");
	const kva_bench_leg *x0;
	const char *name;
	double x;

	u->errline = kva_bench_line(u, r);
	if (r->t != KVA_JOBJ)
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu]", i),
				"must be an object");
	if (!(name = run_name(r)))
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu].run_name", i),
				"missing, or not a string");
	if (u->leg_name && strcmp(name, run_name(bm->child)))
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu].run_name", i),
				"LEG=FILE names one leg, but the file holds "
				"\"%.60s\" and \"%.60s\"", run_name(bm->child), name);
	x0 = kva_bench_find_leg(b, u->leg_name ? u->leg_name : name);
	if (x0 && x0->fmt && x0->fmt != u->fmt)
		return kva_errf(e, NULL, "leg \"%.60s\" mixes %s and %s rows",
				x0->name, x0->fmt->name, u->fmt->name);
	if (tu && (tu->t != KVA_JSTR || !unit || strcmp(tu->s, unit)))
		return tu->t != KVA_JSTR ?
		       kva_errf(e, kva_bench_field(b, "benchmarks[%zu].time_unit",
						   i), "must be a string") :
		       kva_errf(e, kva_bench_field(b, "benchmarks[%zu].time_unit",
						   i), "\"%.16s\" is not the \"%.16s\" "
				"of benchmarks[0]: times in other units cannot be "
				"compared", tu->s, unit ? unit : "");
	if (!repetition(r)) {
		/* an aggregate needs repetitions to be checked against:
		 * --benchmark_report_aggregates_only leaves none */
		for (const kva_jval *s = bm->child; s; s = s->next)
			if (s->t == KVA_JOBJ && repetition(s) && run_name(s) &&
			    !strcmp(run_name(s), name))
				return 0;
		return kva_errf(e, kva_bench_field(b, "benchmarks[%zu]", i),
				"\"%.60s\" has aggregates but no repetitions "
				"(written with --benchmark_report_aggregates_only): "
				"there is nothing to re-derive", name);
	}
	return kva_bench_num(u, kva_json_get(r, b->metric),
			     kva_bench_field(b, "benchmarks[%zu].%s", i, b->metric),
			     &x, e);
}

/* The time_unit of the run: the first entry's, which must be the one
 * of earlier files (b->unit). */
static int run_unit(kva_bench *b, kva_bench_unit *u, const kva_jval *bm,
		    const char **unit, kva_err *e)
{
	const kva_jval *tu = bm->child->t == KVA_JOBJ ?
			     kva_json_get(bm->child, "time_unit") : NULL;

	*unit = tu && tu->t == KVA_JSTR ? tu->s : NULL;
	if (!*unit || !b->unit[0] || !strcmp(*unit, b->unit))
		return 0;
	u->errline = kva_bench_line(u, tu);
	return kva_errf(e, "benchmarks[0].time_unit", "\"%.16s\" is not the "
			"\"%s\" of the files before: times in other units "
			"cannot be compared", *unit, b->unit);
}

/* The repetitions of name that Google Benchmark aggregates (those
 * without an error), their metric values into v (n back). */
static size_t aggregated(const kva_bench *b, const kva_jval *bm, const char *name,
			 double *v)
{
	size_t n = 0;

	for (const kva_jval *s = bm->child; s; s = s->next)
		if (repetition(s) && !strcmp(run_name(s), name) && !errored(s))
			kva_json_num(kva_json_get(s, b->metric), NULL, &v[n++], NULL);
	return n;
}

/* An aggregate entry r of leg l: its metric against the repetitions. */
static void check_aggregate(kva_bench *b, const kva_bench_unit *u,
			    kva_bench_leg *l, const kva_jval *bm,
			    const kva_jval *r, double *v)
{
	const kva_jval *an = kva_json_get(r, "aggregate_name");
	size_t n = aggregated(b, bm, run_name(r), v);
	double mean, sd, d;
	const char *how;

	if (!an || an->t != KVA_JSTR || n == 0)
		return;
	mean = kva_stats_mean(v, n);
	sd = n > 1 ? kva_stats_stdev(v, n) : 0;
	if (!strcmp(an->s, "mean")) {
		d = mean, how = "mean of the repetitions";
	} else if (!strcmp(an->s, "median")) {
		/* ComputeStats: the mean of fewer than three */
		kva_stats_sort(v, n);
		d = n < 3 ? mean : kva_stats_median_sorted(v, n);
		how = "median of the repetitions";
	} else if (!strcmp(an->s, "stddev")) {
		d = sd, how = "sample stdev of the repetitions";
	} else if (!strcmp(an->s, "cv")) {
		d = sd / mean, how = "stdev / mean of the repetitions";
	} else {
		return; /* a user statistic, BigO or RMS: not re-derivable */
	}
	kva_bench_embedded(b, u, l, -1, an->s, kva_json_get(r, b->metric), d, how);
}

static int read_gbench(kva_bench *b, kva_bench_unit *u, const kva_jval *doc,
		       kva_err *e)
{
	const kva_jval *bm = kva_json_get(doc, "benchmarks");
	const kva_jval *ctx = kva_json_get(doc, "context");
	const char *unit;
	size_t i = 0;
	double *v;

	if (kva_bench_settle_metric(b, u, "real_time", e))
		return -1;
	u->errline = kva_bench_line(u, bm);
	if (bm->n == 0)
		return kva_errf(e, "benchmarks", "must be a non-empty array");
	if (run_unit(b, u, bm, &unit, e))
		return -1;
	for (const kva_jval *r = bm->child; r; r = r->next, i++)
		if (check_entry(b, u, bm, r, i, unit, e))
			return -1;
	if (unit)
		snprintf(b->unit, sizeof b->unit, "%s", unit);
	for (const kva_jval *r = bm->child; r; r = r->next) {
		const kva_jval *val = kva_json_get(r, b->metric);
		const kva_jval *msg = kva_json_get(r, "error_message");
		kva_cfg c = { 0 };
		kva_buf path = { 0 };
		kva_bench_leg *l;
		double x;

		if (!repetition(r))
			continue;
		if (kva_bench_row_leg(b, u, NULL, run_name(r), &l, e))
			return -1;
		kva_buf_puts(&path, "context");
		kva_cfg_flatten(&c, &path, ctx, context_runtime);
		path.len = 0;
		path.p[0] = '\0';
		kva_cfg_flatten(&c, &path, r, entry_nonconfig);
		kva_buf_free(&path);
		kva_bench_leg_config(l, &c);
		kva_json_num(val, NULL, &x, NULL);
		kva_bench_rep_add(b, l, u, x, kva_bench_line(u, val), !errored(r) ? NULL :
				  msg && msg->t == KVA_JSTR && msg->slen ? msg->s
				  : "error_occurred");
		kva_bench_reps_clock(l, 1, kva_json_get(ctx, "date"));
	}
	v = kva_xrealloc(NULL, bm->n, sizeof *v);
	for (const kva_jval *r = bm->child; r; r = r->next)
		if (!repetition(r))
			check_aggregate(b, u, kva_bench_find_leg(b, u->leg_name ?
				u->leg_name : run_name(r)), bm, r, v);
	free(v);
	return 0;
}

const kva_bench_fmt kva_bfmt_gbench = {
	"gbench", "Google Benchmark", NULL, detect_gbench, read_gbench
};
