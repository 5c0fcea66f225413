/*
 * bench_out.c - bench-rederive's output: each leg's statistics, the
 * comparison of every leg with the reference, the table for people, and
 * the JSON helpers the claim checks share.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define STRIP_WIDTH 32

/* ---- record helpers ------------------------------------------------------- */

void kva_bench_put_key(kva_buf *o, const char *key)
{
	kva_buf_putc(o, ',');
	kva_buf_jstr(o, key, strlen(key));
	kva_buf_putc(o, ':');
}

void kva_bench_put_knum(kva_buf *o, const char *key, double v)
{
	kva_bench_put_key(o, key);
	kva_buf_num(o, v);
}

void kva_bench_put_kstr(kva_buf *o, const char *key, const char *s)
{
	kva_bench_put_key(o, key);
	kva_buf_jstr(o, s, strlen(s));
}

void kva_bench_put_kint(kva_buf *o, const char *key, uint64_t v)
{
	kva_bench_put_key(o, key);
	kva_buf_i64(o, (int64_t)v);
}

void kva_bench_put_kbool(kva_buf *o, const char *key, int v)
{
	kva_bench_put_key(o, key);
	kva_buf_puts(o, v ? "true" : "false");
}

/* See bench.h. */
void kva_bench_put_at(kva_buf *o, const kva_bench *b, uint32_t src, long line)
{
	kva_buf tmp = { 0 };

	kva_buf_printf(&tmp, "%s:%ld", b->srcs[src], line);
	kva_buf_jstr(o, tmp.p, tmp.len);
	kva_buf_free(&tmp);
}

/* Half a unit in the last digit the number's text gives: the rounding a
 * reported figure is entitled to ("1.12" -> 0.005, "1.2e3" -> 50). */
static double rounding_allowance(const kva_jval *v)
{
	const char *p = v->raw, *end = v->raw + v->rawlen;
	long frac = 0, ex = 0;
	int infrac = 0;

	for (; p < end && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.')
			infrac = 1;
		else if (infrac)
			frac++;
	}
	if (p < end)
		ex = strtol(p + 1, NULL, 10);
	return 0.5 * pow(10, (double)(ex - frac));
}

/* See bench.h. */
int kva_bench_agrees(const kva_jval *v, double r, double d, double tol_pct,
		     double *allowed)
{
	double a = tol_pct / 100 * fabs(d), ra = rounding_allowance(v);

	*allowed = a > ra ? a : ra;
	return fabs(r - d) <= *allowed;
}

/* See bench.h. */
double kva_bench_delta_pct(double a, double b, int s)
{
	return b > 0 ? s * 100 * (a - b) / b : NAN;
}

/* See bench.h. */
double kva_bench_speedup(const kva_bench_leg *l, const kva_bench_leg *ref, int dir)
{
	return dir > 0 ? (ref->median > 0 ? l->median / ref->median : NAN)
		       : (l->median > 0 ? ref->median / l->median : NAN);
}

/* ---- statistics per leg --------------------------------------------------------- */

static void compute_leg(const kva_bench *b, kva_bench_leg *l)
{
	double *order, lo, hi, lo3, hi3;
	size_t n = l->n;

	kva_stats_sort(l->ttft, l->nttft);
	kva_stats_sort(l->tpot, l->ntpot);
	l->ttft_med = kva_stats_median_sorted(l->ttft, l->nttft);
	l->tpot_med = kva_stats_median_sorted(l->tpot, l->ntpot);
	if (n == 0) { /* only rows of other metrics */
		l->median = l->mean = l->min = l->max = l->stdev = l->mad = NAN;
		l->q1 = l->q3 = l->warmup_z = l->drift = NAN;
		return;
	}
	order = kva_xrealloc(NULL, n, sizeof *order);
	for (size_t i = 0; i < n; i++)
		order[i] = l->reps[i].v;
	l->sorted = kva_xrealloc(NULL, n, sizeof *l->sorted);
	memcpy(l->sorted, order, n * sizeof *order);
	kva_stats_sort(l->sorted, n);
	l->median = kva_stats_median_sorted(l->sorted, n);
	l->mean = kva_stats_mean(order, n);
	l->min = l->sorted[0];
	l->max = l->sorted[n - 1];
	l->stdev = kva_stats_stdev(order, n);
	l->mad = kva_stats_mad_sorted(l->sorted, n);
	l->q1 = kva_stats_quantile_sorted(l->sorted, n, 0.25);
	l->q3 = kva_stats_quantile_sorted(l->sorted, n, 0.75);
	kva_stats_tukey_fences(l->q1, l->q3, 1.5, &lo, &hi);
	kva_stats_tukey_fences(l->q1, l->q3, 3, &lo3, &hi3);
	l->tukey15 = l->tukey3 = 0;
	for (size_t i = 0; i < n; i++) {
		l->tukey15 += order[i] < lo || order[i] > hi;
		l->tukey3 += order[i] < lo3 || order[i] > hi3;
	}
	l->warmup_z = kva_stats_modified_z(order[0], l->median, l->mad);
	l->warmup_outlier = b->dir * -l->warmup_z > KVA_STATS_OUTLIER_Z;
	l->drift = 100 * kva_stats_drift_slope(order, n) / l->median;
	free(order);
}

static void put_rep(kva_buf *o, const kva_bench *b, const kva_bench_leg *l,
		    size_t i)
{
	kva_buf_puts(o, "{\"rep\":");
	kva_buf_i64(o, (int64_t)i);
	kva_bench_put_knum(o, "value", l->reps[i].v);
	kva_bench_put_key(o, "at");
	kva_bench_put_at(o, b, l->reps[i].src, l->reps[i].line);
	if (l->reps[i].okind)
		kva_bench_put_knum(o, "order", l->reps[i].order);
	if (l->reps[i].why) {
		kva_bench_put_kbool(o, "failed", 1);
		kva_bench_put_kstr(o, "why", l->reps[i].why);
	}
	kva_buf_putc(o, '}');
}

/* "at" of the first rep (in rep order) holding value v. */
static void put_at_value(kva_buf *o, const kva_bench *b, const kva_bench_leg *l,
			 double v)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->reps[i].v == v) {
			kva_bench_put_at(o, b, l->reps[i].src, l->reps[i].line);
			return;
		}
	kva_buf_puts(o, "null");
}

/* A JSON array of n strings into o. */
static void put_strs(kva_buf *o, char *const *s, size_t n)
{
	kva_buf_putc(o, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			kva_buf_putc(o, ',');
		kva_buf_jstr(o, s[i], strlen(s[i]));
	}
	kva_buf_putc(o, ']');
}

/* The outliers, failed reps and reps lists (up to --max-reps each) of a
 * leg record: counted before, listed here, never dropped. */
static void put_rep_lists(kva_buf *o, const kva_bench *b, const kva_bench_leg *l)
{
	double lo, hi, lo3, hi3;
	size_t k = 0, max = b->op.max_reps;

	kva_stats_tukey_fences(l->q1, l->q3, 1.5, &lo, &hi);
	kva_stats_tukey_fences(l->q1, l->q3, 3, &lo3, &hi3);
	kva_bench_put_key(o, "outliers");
	kva_buf_putc(o, '[');
	for (size_t i = 0; i < l->n && k < max; i++) {
		double v = l->reps[i].v;

		if (v >= lo && v <= hi)
			continue;
		if (k++)
			kva_buf_putc(o, ',');
		put_rep(o, b, l, i);
		o->len--; /* reopen the object */
		kva_bench_put_knum(o, "beyond_iqr", v < lo3 || v > hi3 ? 3 : 1.5);
		kva_buf_putc(o, '}');
	}
	kva_buf_putc(o, ']');
	kva_bench_put_key(o, "failed_reps");
	kva_buf_putc(o, '[');
	k = 0;
	for (size_t i = 0; i < l->n && k < max; i++) {
		if (!l->reps[i].why)
			continue;
		if (k++)
			kva_buf_putc(o, ',');
		put_rep(o, b, l, i);
	}
	kva_buf_putc(o, ']');
	kva_bench_put_kint(o, "reps_listed", l->n < max ? l->n : max);
	kva_bench_put_key(o, "reps");
	kva_buf_putc(o, '[');
	for (size_t i = 0; i < l->n && i < max; i++) {
		if (i)
			kva_buf_putc(o, ',');
		put_rep(o, b, l, i);
	}
	kva_buf_putc(o, ']');
}

static void write_leg(const kva_bench *b, const kva_bench_leg *l)
{
	kva_buf o = { 0 };
	char *const *srcs = b->srcs;

	kva_buf_puts(&o, "{\"type\":\"leg\"");
	kva_bench_put_kstr(&o, "leg", l->name);
	kva_bench_put_kstr(&o, "metric", b->metric);
	kva_bench_put_kstr(&o, "direction", b->dir > 0 ? "higher" : "lower");
	kva_bench_put_kstr(&o, "format", l->fmt ? l->fmt->name : "auto");
	kva_bench_put_kint(&o, "n", l->n);
	kva_bench_put_kint(&o, "failed", l->failed);
	kva_bench_put_knum(&o, "median", l->median);
	kva_bench_put_knum(&o, "mean", l->mean);
	kva_bench_put_knum(&o, "min", l->min);
	kva_bench_put_knum(&o, "max", l->max);
	kva_bench_put_knum(&o, "stdev", l->stdev);
	kva_bench_put_knum(&o, "cv_pct", l->mean != 0 ?
			   100 * l->stdev / fabs(l->mean) : NAN);
	kva_bench_put_knum(&o, "mad", l->mad);
	kva_bench_put_knum(&o, "spread_pct", l->median != 0 ?
			   100 * (l->max - l->min) / fabs(l->median) : NAN);
	kva_bench_put_knum(&o, "q1", l->q1);
	kva_bench_put_knum(&o, "q3", l->q3);
	kva_bench_put_knum(&o, "iqr", l->q3 - l->q1);
	kva_bench_put_kstr(&o, "quartile_method", "linear");
	kva_bench_put_kint(&o, "tukey_1_5", l->tukey15);
	kva_bench_put_kint(&o, "tukey_3", l->tukey3);
	kva_bench_put_knum(&o, "warmup_z", l->warmup_z);
	kva_bench_put_kbool(&o, "warmup_outlier", l->warmup_outlier);
	kva_bench_put_knum(&o, "drift_pct_per_rep", l->drift);
	kva_bench_put_knum(&o, "ttft_median_ms", l->ttft_med);
	kva_bench_put_knum(&o, "tpot_median_ms", l->tpot_med);
	kva_bench_put_key(&o, "config_digest");
	if (l->cfg_seen)
		kva_buf_jstr(&o, l->cfg.digest, 64);
	else
		kva_buf_puts(&o, "null");
	kva_bench_put_key(&o, "config_varies");
	put_strs(&o, l->varies, l->nvaries);
	kva_bench_put_kint(&o, "embedded_checked", l->emb_checked);
	kva_bench_put_kint(&o, "embedded_mismatched", l->emb_mismatched);
	if (l->other_metric)
		kva_bench_put_kint(&o, "rows_other_metric", l->other_metric);
	kva_bench_put_key(&o, "min_at");
	put_at_value(&o, b, l, l->min);
	kva_bench_put_key(&o, "max_at");
	put_at_value(&o, b, l, l->max);
	kva_bench_put_key(&o, "median_at");
	kva_buf_putc(&o, '[');
	if (l->n)
		put_at_value(&o, b, l, l->sorted[(l->n - 1) / 2]);
	if (l->n && l->n % 2 == 0) {
		kva_buf_putc(&o, ',');
		put_at_value(&o, b, l, l->sorted[l->n / 2]);
	}
	kva_buf_putc(&o, ']');
	kva_bench_put_key(&o, "run_order");
	kva_buf_puts(&o, kva_bench_leg_order(l) == KVA_ORDER_SEQ ? "\"seq\"" :
		     kva_bench_leg_order(l) == KVA_ORDER_CLOCK ? "\"clock\"" : "null");
	kva_bench_put_key(&o, "sources");
	kva_buf_putc(&o, '[');
	for (size_t i = 0; i < l->nsrcs; i++) {
		if (i)
			kva_buf_putc(&o, ',');
		kva_buf_jstr(&o, srcs[l->srcs[i]], strlen(srcs[l->srcs[i]]));
	}
	kva_buf_putc(&o, ']');
	put_rep_lists(&o, b, l);
	kva_buf_putc(&o, '}');
	kva_out_record(&o);
	kva_buf_free(&o);
}

/* ---- comparisons --------------------------------------------------------------- */

/* See bench.h. */
const char *kva_bench_run_order(const kva_bench_leg *l, const kva_bench_leg *ref)
{
	int kind = kva_bench_leg_order(l);
	double lo = INFINITY, hi = -INFINITY, rlo = INFINITY, rhi = -INFINITY;

	if (!kind || kind != kva_bench_leg_order(ref))
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		lo = fmin(lo, l->reps[i].order);
		hi = fmax(hi, l->reps[i].order);
	}
	for (size_t i = 0; i < ref->n; i++) {
		rlo = fmin(rlo, ref->reps[i].order);
		rhi = fmax(rhi, ref->reps[i].order);
	}
	if (rhi < lo)
		return "ref_first";
	if (hi < rlo)
		return "ref_last";
	return rlo < hi && lo < rhi ? "interleaved" : "tied";
}

typedef struct cmp_result {
	double delta, speedup, ci_lo, ci_hi, chance, ttft_delta, tpot_delta;
	kva_mw mw;
	int mw_ok, non_overlap, cfg_known, cfg_same;
	const char *order;     /* kva_bench_run_order */
} cmp_result;

static void count_diff(void *arg, const char *k, const char *a, const char *b)
{
	(void)k, (void)a, (void)b;
	++*(size_t *)arg;
}

static void compare(const kva_bench *b, const kva_bench_leg *l,
		    const kva_bench_leg *ref, cmp_result *c)
{
	kva_rng rng;
	size_t ndiff = 0;

	c->delta = kva_bench_delta_pct(l->median, ref->median, b->dir);
	c->speedup = kva_bench_speedup(l, ref, b->dir);
	/* a fresh generator per comparison: its interval depends on its two
	 * legs and the seed, not on which other legs were read */
	kva_rng_seed(&rng, b->op.seed);
	c->ci_lo = c->ci_hi = NAN;
	if (!kva_stats_boot_rel_change_ci(l->sorted, l->n, ref->sorted, ref->n,
					  b->op.resamples, KVA_BENCH_CI_LEVEL, &rng,
					  &c->ci_lo, &c->ci_hi)) {
		double x = 100 * b->dir * c->ci_lo, y = 100 * b->dir * c->ci_hi;

		c->ci_lo = x < y ? x : y;
		c->ci_hi = x < y ? y : x;
	}
	c->mw_ok = !kva_stats_mann_whitney_sorted(l->sorted, l->n, ref->sorted,
						  ref->n, &c->mw);
	c->non_overlap = l->min > ref->max || l->max < ref->min;
	c->chance = kva_stats_inv_choose(l->n, ref->n);
	c->ttft_delta = kva_bench_delta_pct(l->ttft_med, ref->ttft_med, -1);
	c->tpot_delta = kva_bench_delta_pct(l->tpot_med, ref->tpot_med, -1);
	c->cfg_known = l->cfg_seen || ref->cfg_seen;
	if (c->cfg_known)
		kva_cfg_diff(&ref->cfg, &l->cfg, count_diff, &ndiff);
	c->cfg_same = ndiff == 0;
	c->order = kva_bench_run_order(l, ref);
}

static void put_diff(void *arg, const char *key, const char *a, const char *b)
{
	kva_buf *o = arg;

	if (o->p[o->len - 1] != '[')
		kva_buf_putc(o, ',');
	kva_buf_puts(o, "{\"key\":");
	kva_buf_jstr(o, key, strlen(key));
	if (a) {
		kva_buf_puts(o, ",\"ref\":");
		kva_buf_puts(o, a);
	}
	if (b) {
		kva_buf_puts(o, ",\"leg\":");
		kva_buf_puts(o, b);
	}
	kva_buf_putc(o, '}');
}

static void write_comparison(const kva_bench *b, const kva_bench_leg *l,
			     const kva_bench_leg *ref, const cmp_result *c)
{
	kva_buf o = { 0 };

	kva_buf_puts(&o, "{\"type\":\"comparison\"");
	kva_bench_put_kstr(&o, "leg", l->name);
	kva_bench_put_kstr(&o, "ref", ref->name);
	kva_bench_put_kstr(&o, "metric", b->metric);
	kva_bench_put_kstr(&o, "direction", b->dir > 0 ? "higher" : "lower");
	kva_bench_put_kint(&o, "n", l->n);
	kva_bench_put_kint(&o, "n_ref", ref->n);
	kva_bench_put_knum(&o, "median", l->median);
	kva_bench_put_knum(&o, "median_ref", ref->median);
	kva_bench_put_knum(&o, "delta_pct", c->delta);
	kva_bench_put_knum(&o, "speedup", c->speedup);
	kva_bench_put_knum(&o, "ci_low_pct", c->ci_lo);
	kva_bench_put_knum(&o, "ci_high_pct", c->ci_hi);
	kva_bench_put_knum(&o, "ci_level", KVA_BENCH_CI_LEVEL);
	kva_bench_put_kint(&o, "resamples", b->op.resamples);
	kva_bench_put_kint(&o, "seed", b->op.seed);
	kva_bench_put_knum(&o, "mw_u", c->mw_ok ? c->mw.u : NAN);
	kva_bench_put_knum(&o, "mw_p", c->mw_ok ? c->mw.p : NAN);
	kva_bench_put_kstr(&o, "mw_method", c->mw.exact ? "exact" : "normal");
	kva_bench_put_kbool(&o, "non_overlap", c->non_overlap);
	kva_bench_put_knum(&o, "non_overlap_chance", c->chance);
	kva_bench_put_kint(&o, "failed", l->failed);
	kva_bench_put_kint(&o, "failed_ref", ref->failed);
	kva_bench_put_knum(&o, "ttft_delta_pct", c->ttft_delta);
	kva_bench_put_knum(&o, "tpot_delta_pct", c->tpot_delta);
	kva_bench_put_key(&o, "run_order");
	if (c->order)
		kva_buf_jstr(&o, c->order, strlen(c->order));
	else
		kva_buf_puts(&o, "null");
	kva_bench_put_key(&o, "config_same");
	kva_buf_puts(&o, c->cfg_known ? c->cfg_same ? "true" : "false" : "null");
	kva_bench_put_key(&o, "config_diff");
	kva_buf_putc(&o, '[');
	if (c->cfg_known)
		kva_cfg_diff(&ref->cfg, &l->cfg, put_diff, &o);
	kva_buf_puts(&o, "]}");
	kva_out_record(&o);
	kva_buf_free(&o);
}

/* ---- text output ----------------------------------------------------------------- */

/* A strip of STRIP_WIDTH columns on the scale [lo, hi]: each rep at its
 * column; "." one rep, ":" two, a digit up to nine, "#" more. */
static void strip(kva_buf *o, const kva_bench_leg *l, double lo, double hi)
{
	unsigned cnt[STRIP_WIDTH] = { 0 };

	for (size_t i = 0; i < l->n; i++) {
		int col = hi > lo ? (int)floor((l->reps[i].v - lo) / (hi - lo) *
					       (STRIP_WIDTH - 1) + 0.5)
				  : STRIP_WIDTH / 2;

		cnt[col < 0 ? 0 : col >= STRIP_WIDTH ? STRIP_WIDTH - 1 : col]++;
	}
	kva_buf_putc(o, '|');
	for (int c = 0; c < STRIP_WIDTH; c++)
		kva_buf_putc(o, cnt[c] == 0 ? ' ' : cnt[c] == 1 ? '.' :
			     cnt[c] == 2 ? ':' : cnt[c] <= 9 ? (int)('0' + cnt[c]) : '#');
	kva_buf_putc(o, '|');
}

/* v for the table: style 'g' %.6g, 'f' %.2f, '+' %+.2f, 'p' %.4g;
 * "-" when undefined. */
static void text_num(char *dst, size_t cap, double v, int style)
{
	if (!isfinite(v))
		snprintf(dst, cap, "-");
	else if (style == 'g')
		snprintf(dst, cap, "%.6g", v);
	else if (style == 'f')
		snprintf(dst, cap, "%.2f", v);
	else if (style == '+')
		snprintf(dst, cap, "%+.2f", v);
	else
		snprintf(dst, cap, "%.4g", v);
}

/* One table row: leg l against ref (c: their comparison). */
static void text_row(kva_buf *o, int w, const kva_bench_leg *l,
		     const kva_bench_leg *ref, const cmp_result *c)
{
	char med[32], spr[32], del[32], ci[48], p[32];

	text_num(med, sizeof med, l->median, 'g');
	text_num(spr, sizeof spr, l->median != 0 ?
		 100 * (l->max - l->min) / fabs(l->median) : NAN, 'f');
	if (l == ref || !ref || !l->n) { /* no comparison was made */
		snprintf(del, sizeof del, l == ref ? "ref" : "-");
		snprintf(ci, sizeof ci, "-");
		snprintf(p, sizeof p, "-");
	} else {
		text_num(del, sizeof del, c->delta, '+');
		if (isfinite(c->ci_lo))
			snprintf(ci, sizeof ci, "[%+.2f, %+.2f]", c->ci_lo, c->ci_hi);
		else
			snprintf(ci, sizeof ci, "-");
		text_num(p, sizeof p, c->mw_ok ? c->mw.p : NAN, 'p');
	}
	kva_buf_printf(o, "%-*.*s %5zu %4zu %11s %8s %8s %19s %9s  ", w, w,
		       l->name, l->n, l->failed, med, spr, del, ci, p);
}

static void write_text(const kva_bench *b, const kva_bench_leg *ref,
		       const cmp_result *res)
{
	kva_buf o = { 0 };
	double lo = INFINITY, hi = -INFINITY;
	int w = 3;

	for (size_t i = 0; i < b->nlegs; i++) {
		int len = (int)strlen(b->legs[i]->name);

		w = len > w ? (len > 40 ? 40 : len) : w;
		lo = b->legs[i]->min < lo ? b->legs[i]->min : lo;
		hi = b->legs[i]->max > hi ? b->legs[i]->max : hi;
	}
	kva_buf_printf(&o, "metric %s (%s is better), reference %s, %g%% CI from %llu "
		       "resamples, seed %llu", b->metric, b->dir > 0 ? "higher" : "lower",
		       ref ? ref->name : "-", KVA_BENCH_CI_LEVEL * 100,
		       (unsigned long long)b->op.resamples,
		       (unsigned long long)b->op.seed);
	kva_out_record(&o);
	kva_buf_printf(&o, "%-*s %5s %4s %11s %8s %8s %19s %9s  reps", w, "leg",
		       "n", "fail", "median", "spread%", "delta%", "95% CI of delta%",
		       "MW p");
	if (lo <= hi)
		kva_buf_printf(&o, " %g .. %g", lo, hi);
	kva_out_record(&o);
	for (size_t i = 0; i < b->nlegs; i++) {
		text_row(&o, w, b->legs[i], ref, &res[i]);
		strip(&o, b->legs[i], lo, hi);
		kva_out_record(&o);
	}
	kva_buf_free(&o);
}

/* ---- everything, once the input is read ------------------------------------------ */

/* Legs, comparisons (or the table); 2 if --ref names no leg (reported),
 * the reference leg into *refp. */
static int write_legs(kva_bench *b, const kva_bench_leg **refp)
{
	const kva_bench_leg *ref = NULL;
	cmp_result *res;

	for (size_t i = 0; i < b->nlegs; i++)
		compute_leg(b, b->legs[i]);
	if (b->op.ref && (!(ref = kva_bench_find_leg(b, b->op.ref)) || !ref->n)) {
		kva_out_flush();
		kva_warnx("--ref: no leg named \"%s\" with %s reps in the input",
			  b->op.ref, b->metric);
		return 2;
	}
	for (size_t i = 0; !ref && i < b->nlegs; i++)
		if (b->legs[i]->n)
			ref = b->legs[i];
	res = kva_xrealloc(NULL, b->nlegs, sizeof *res);
	memset(res, 0, b->nlegs * sizeof *res);
	for (size_t i = 0; i < b->nlegs; i++)
		if (ref && b->legs[i] != ref && b->legs[i]->n)
			compare(b, b->legs[i], ref, &res[i]);
	if (b->op.text) {
		write_text(b, ref, res);
	} else {
		for (size_t i = 0; i < b->nlegs; i++)
			write_leg(b, b->legs[i]);
		for (size_t i = 0; i < b->nlegs; i++)
			if (ref && b->legs[i] != ref && b->legs[i]->n)
				write_comparison(b, b->legs[i], ref, &res[i]);
	}
	free(res);
	*refp = ref;
	return 0;
}

/* See bench.h. */
int kva_bench_finish(kva_bench *b)
{
	const kva_bench_leg *ref = NULL;
	const kva_buf *k = &b->checks;

	if (b->nlegs && write_legs(b, &ref))
		return 2;
	if (!b->nlegs && b->op.ref) {
		kva_out_flush();
		kva_warnx("--ref: no leg named \"%s\" in the input", b->op.ref);
		return 2;
	}
	if (!b->op.text && k->len)
		kva_out_line(k->p, k->len - 1);
	for (size_t off = 0; b->op.text && off < k->len;) {
		const char *nl = memchr(k->p + off, '\n', k->len - off);

		kva_bench_text_check(k->p + off, (size_t)(nl - (k->p + off)));
		off = (size_t)(nl - k->p) + 1;
	}
	kva_bench_claims(b, ref);
	return b->mismatch ? 1 : 0;
}
