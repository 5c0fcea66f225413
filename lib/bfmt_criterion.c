/*
 * bfmt_criterion.c - criterion's sample.json (target/criterion/ID/new/):
 * one rep per sample, times[i] / iters[i] nanoseconds per iteration.  The
 * benchmark.json beside it names the leg (its full_id), and the point
 * estimates of the estimates.json beside it are checked against the
 * samples as criterion computes them.  An estimates.json or
 * benchmark.json given alone is refused: it holds no samples.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

#define CRITERION_METRIC "iter_time_ns"
/* criterion scales the MAD to estimate a normal sigma */
#define MAD_SCALE 1.4826

static int is_sample(const kva_jval *doc)
{
	return kva_json_get(doc, "iters") && kva_json_get(doc, "times");
}

/* A criterion file that holds no samples. */
static int is_companion(const kva_jval *doc)
{
	const kva_jval *m = kva_json_get(doc, "mean");

	return (m && m->t == KVA_JOBJ && kva_json_get(m, "point_estimate")) ||
	       (kva_json_get(doc, "full_id") && kva_json_get(doc, "group_id"));
}

static int detect_criterion(const kva_jval *doc)
{
	return is_sample(doc) || is_companion(doc);
}

/* A file beside the sample, read as one record.  0 with *rd open and
 * *rec filled, 1 when there is none, -1 (with e) when it cannot be read. */
static int companion(const kva_bench *b, const kva_bench_unit *u,
		     const char *base, kva_reader *rd, kva_rec *rec,
		     kva_buf *path, kva_err *e)
{
	const char *src = b->srcs[u->src], *slash = strrchr(src, '/');
	struct stat st;
	kva_err pe = { 0 };
	int rc;

	if (!strcmp(src, "-"))
		return 1;
	path->len = 0;
	if (slash)
		kva_buf_put(path, src, (size_t)(slash - src + 1));
	kva_buf_puts(path, base);
	if (stat(path->p, &st))
		return 1;
	if (!S_ISREG(st.st_mode))
		return kva_errf(e, NULL, "%s beside it is not a regular file", base);
	if (kva_reader_open(rd, path->p, 0))
		return kva_errf(e, NULL, "%s beside it cannot be read", base);
	rd->flags = KVA_READ_UNTYPED | KVA_READ_NONFINITE | KVA_READ_DOCUMENT;
	if ((rc = kva_reader_next(rd, rec, &pe)) == 1 && rec->root->t == KVA_JOBJ)
		return 0;
	kva_reader_close(rd);
	return kva_errf(e, NULL, "%s beside it: %s", base, rc == -1 ? pe.msg :
			"holds no JSON object");
}

/* Check the sample before any rep is taken. */
static int check_sample(kva_bench *b, kva_bench_unit *u, const kva_jval *doc,
			kva_err *e)
{
	const kva_jval *it = kva_json_get(doc, "iters");
	const kva_jval *tm = kva_json_get(doc, "times");
	const kva_jval *i, *t;
	size_t j = 0;
	double x, n;

	if (it->t != KVA_JARR || it->n == 0)
		return kva_errf(e, "iters", "must be a non-empty array of numbers");
	if (tm->t != KVA_JARR || tm->n != it->n)
		return kva_errf(e, "times", "must be an array as long as iters");
	for (i = it->child, t = tm->child; i; i = i->next, t = t->next, j++) {
		if (kva_bench_num(u, i, kva_bench_field(b, "iters[%zu]", j), &n, e) ||
		    kva_bench_num(u, t, kva_bench_field(b, "times[%zu]", j), &x, e))
			return -1;
		if (!(n > 0)) {
			u->errline = kva_bench_line(u, i);
			return kva_errf(e, kva_bench_field(b, "iters[%zu]", j),
					"must be positive");
		}
	}
	return 0;
}

/* The point estimate of stat in estimates.json (s: its unit), against
 * the value criterion derives from the samples. */
static void check_estimate(kva_bench *b, const kva_bench_unit *s,
			   kva_bench_leg *l, const char *stat, double derived,
			   const char *how)
{
	const kva_jval *v = kva_json_get(s->rec->root, stat);

	if (v && v->t == KVA_JOBJ)
		kva_bench_embedded(b, s, l, -1, stat, kva_json_get(v, "point_estimate"),
				   derived, how);
}

static void check_estimates(kva_bench *b, const kva_bench_unit *s,
			    kva_bench_leg *l, const kva_jval *doc, double *v,
			    size_t n)
{
	double sxy = 0, sxx = 0, x, y, med;
	const kva_jval *i = kva_json_get(doc, "iters")->child;
	const kva_jval *t = kva_json_get(doc, "times")->child;

	for (; i; i = i->next, t = t->next) {
		kva_json_num(i, NULL, &x, NULL);
		kva_json_num(t, NULL, &y, NULL);
		sxy += x * y;
		sxx += x * x;
	}
	check_estimate(b, s, l, "mean", kva_stats_mean(v, n), "mean(times / iters)");
	check_estimate(b, s, l, "std_dev", n > 1 ? kva_stats_stdev(v, n) : 0,
		       "sample stdev(times / iters)");
	check_estimate(b, s, l, "slope", sxy / sxx,
		       "sum(iters * times) / sum(iters^2)");
	kva_stats_sort(v, n);
	med = kva_stats_median_sorted(v, n);
	check_estimate(b, s, l, "median", med, "median(times / iters)");
	for (size_t k = 0; k < n; k++)
		v[k] = fabs(v[k] - med);
	kva_stats_sort(v, n);
	check_estimate(b, s, l, "median_abs_dev",
		       kva_stats_median_sorted(v, n) * MAD_SCALE,
		       "median(|times / iters - median|) * 1.4826");
}

static int read_criterion(kva_bench *b, kva_bench_unit *u, const kva_jval *doc,
			  kva_err *e)
{
	const kva_jval *i, *t, *fid;
	kva_reader brd, erd;
	kva_rec brec, erec;
	kva_buf path = { 0 };
	kva_bench_leg *l = NULL;
	double *v, x, n;
	size_t k = 0;
	int bc, ec = 1;

	if (!is_sample(doc))
		return kva_errf(e, NULL, "a criterion %s holds no samples: give the "
				"sample.json beside it (it is checked against "
				"them)", kva_json_get(doc, "full_id") ?
				"benchmark.json" : "estimates.json");
	if (kva_bench_fixed_metric(b, u, CRITERION_METRIC, "criterion samples",
				   "times", e) || check_sample(b, u, doc, e))
		return -1;
	/* both companions are read before any rep is taken */
	if ((bc = companion(b, u, "benchmark.json", &brd, &brec, &path, e)) < 0 ||
	    (ec = companion(b, u, "estimates.json", &erd, &erec, &path, e)) < 0)
		goto out;
	/* the leg: LEG=FILE, else benchmark.json's full_id, else the file */
	fid = bc ? NULL : kva_json_get(brec.root, "full_id");
	if (kva_bench_row_leg(b, u, NULL, fid && fid->t == KVA_JSTR ? fid->s : NULL,
			      &l, e))
		goto out;
	v = kva_xrealloc(NULL, kva_json_get(doc, "iters")->n, sizeof *v);
	for (i = kva_json_get(doc, "iters")->child,
	     t = kva_json_get(doc, "times")->child; i; i = i->next, t = t->next) {
		kva_json_num(i, NULL, &n, NULL);
		kva_json_num(t, NULL, &x, NULL);
		v[k++] = x / n;
		kva_bench_rep_add(b, l, u, x / n, kva_bench_line(u, t), NULL);
	}
	if (!ec) {
		kva_bench_unit s = { kva_bench_src(b, path.p), &erec, NULL, u->fmt, 0 };

		check_estimates(b, &s, l, doc, v, k);
	}
	free(v);
out:
	if (!ec)
		kva_reader_close(&erd);
	if (bc == 0)
		kva_reader_close(&brd);
	kva_buf_free(&path);
	return l ? 0 : -1;
}

const kva_bench_fmt kva_bfmt_criterion = {
	"criterion", "criterion", NULL, detect_criterion, read_criterion
};
