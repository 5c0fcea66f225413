/*
 * bench.c - bench-rederive's model: legs of reps, the helpers format
 * adapters read rows with, and the routing of one record to its adapter,
 * the claims or the output.  Statistics and output: lib/bench_out.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* Every adapter, in detection order: one line per format. */
const kva_bench_fmt *const kva_bench_fmts[] = {
	&kva_bfmt_sglang,
	&kva_bfmt_vllm,
	&kva_bfmt_hyperfine,
	&kva_bfmt_run,
	&kva_bfmt_gbench,
	&kva_bfmt_pytest,
	&kva_bfmt_criterion,
	NULL
};

/* See bench.h. */
const kva_bench_fmt *kva_bench_fmt_find(const char *name)
{
	for (int i = 0; kva_bench_fmts[i]; i++)
		if (!strcmp(kva_bench_fmts[i]->name, name))
			return kva_bench_fmts[i];
	return NULL;
}

void *kva_xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	if (!(p = realloc(p, n && size ? n * size : 1)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	return p;
}

char *kva_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	return d;
}

/* ---- fields ------------------------------------------------------------------- */

/* See bench.h. */
long kva_bench_line(const kva_bench_unit *u, const kva_jval *v)
{
	return kva_rec_line(u->rec, v ? v->raw : NULL);
}

/* See bench.h. */
const char *kva_bench_field(kva_bench *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->field, sizeof b->field, fmt, ap);
	va_end(ap);
	return b->field;
}

/* See bench.h. */
int kva_bench_nonfinite(const kva_jval *v)
{
	return v && (kva_json_nonfinite(v) || (v->t == KVA_JSTR &&
		(!strcmp(v->s, "NaN") || !strcmp(v->s, "Infinity") ||
		 !strcmp(v->s, "-Infinity"))));
}

/* See bench.h.  NaN and the infinities are refused here, not by the
 * parser: they are legal in the fields of a row that is not read. */
int kva_bench_num(kva_bench_unit *u, const kva_jval *v, const char *field,
		  double *out, kva_err *e)
{
	char ex[48];

	if (v)
		u->errline = kva_bench_line(u, v);
	if (v && v->t == KVA_JSTR && kva_bench_nonfinite(v))
		return kva_errf(e, field, "must be a finite number, got %s", v->s);
	if (kva_json_num(v, field, out, e))
		return -1;
	if (!isfinite(*out)) {
		snprintf(ex, sizeof ex, "%.*s", v->rawlen > 40 ? 40 : (int)v->rawlen,
			 v->raw);
		return kva_errf(e, field, "must be a finite number, got %s", ex);
	}
	return 0;
}

/* See bench.h. */
int kva_bench_count(kva_bench_unit *u, const kva_jval *obj, const char *field,
		    int64_t *out, kva_err *e)
{
	const kva_jval *v = kva_json_get(obj, field);

	*out = -1;
	if (!v || v->t == KVA_JNULL)
		return 0;
	u->errline = kva_bench_line(u, v);
	if (kva_json_int(v, field, out, e))
		return -1;
	if (*out < 0)
		return kva_errf(e, field, "must be >= 0, got %lld", (long long)*out);
	return 0;
}

/* See bench.h. */
int kva_bench_str(kva_bench_unit *u, const kva_jval *obj, const char *field,
		  const char **out, kva_err *e)
{
	const kva_jval *v = kva_json_get(obj, field);

	*out = NULL;
	if (!v)
		return 0;
	u->errline = kva_bench_line(u, v);
	if (v->t != KVA_JSTR || memchr(v->s, '\0', v->slen))
		return kva_errf(e, field, "must be a string");
	*out = v->s;
	return 0;
}

/* ---- the metric ------------------------------------------------------------------ */

static int ends_with(const char *s, const char *w)
{
	size_t n = strlen(s), k = strlen(w);

	return n >= k && !strcmp(s + n - k, w);
}

/* See bench.h. */
int kva_bench_direction(const char *m)
{
	static const char *const higher[] = { "throughput", "goodput", "per_s",
		"per_sec", "tok_s", "qps", "rps", "speedup", "flops", "bandwidth",
		"accept_length", "hit_rate", NULL };
	static const char *const lower[] = { "time", "latency", "ttft", "tpot",
		"itl", "e2el", "duration", "seconds", "_ms", "_us", "_ns", NULL };

	for (int i = 0; higher[i]; i++)
		if (strstr(m, higher[i]))
			return 1;
	for (int i = 0; lower[i]; i++)
		if (strstr(m, lower[i]))
			return -1;
	if (ends_with(m, "_s") || !strcmp(m, "s") || !strcmp(m, "ms"))
		return -1;
	return 0;
}

/* See bench.h. */
int kva_bench_settle_metric(kva_bench *b, kva_bench_unit *u, const char *dflt,
			    kva_err *e)
{
	const char *metric = b->op.metric ? b->op.metric : dflt;

	if (b->metric)
		return 0;
	b->metric = kva_xstrdup(metric); /* it may live in the parse arena */
	b->dir = b->op.dir ? b->op.dir : kva_bench_direction(metric);
	if (!b->dir) {
		u->errline = u->rec->line;
		return kva_errf(e, "metric", "cannot tell whether a higher or lower "
				"\"%.60s\" is better (give --higher-is-better or "
				"--lower-is-better)", metric);
	}
	return 0;
}

/* See bench.h. */
int kva_bench_fixed_metric(kva_bench *b, kva_bench_unit *u, const char *metric,
			   const char *what, const char *field, kva_err *e)
{
	if (kva_bench_settle_metric(b, u, metric, e))
		return -1;
	if (!strcmp(b->metric, metric))
		return 0;
	u->errline = u->rec->line;
	return kva_errf(e, field, "%s hold the metric \"%s\", not \"%.60s\"",
			what, metric, b->metric);
}

/* ---- legs ------------------------------------------------------------------------ */

/* See bench.h. */
kva_bench_leg *kva_bench_find_leg(const kva_bench *b, const char *name)
{
	for (size_t i = 0; i < b->nlegs; i++)
		if (!strcmp(b->legs[i]->name, name))
			return b->legs[i];
	return NULL;
}

/* The leg called name, made (empty) if new. */
static kva_bench_leg *leg_get(kva_bench *b, const char *name)
{
	kva_bench_leg *l;

	if (b->last && !strcmp(b->last->name, name))
		return b->last;
	if ((l = kva_bench_find_leg(b, name)))
		return b->last = l;
	l = kva_xrealloc(NULL, 1, sizeof *l);
	memset(l, 0, sizeof *l);
	l->name = kva_xstrdup(name);
	KVA_GROW(b->legs, b->nlegs, b->caplegs);
	b->legs[b->nlegs++] = l;
	return b->last = l;
}

/* See bench.h. */
int kva_bench_row_leg(kva_bench *b, kva_bench_unit *u, const kva_jval *row,
		      const char *fallback, kva_bench_leg **out, kva_err *e)
{
	const char *name = u->leg_name;
	kva_bench_leg *l;

	if (!name && row && kva_bench_str(u, row, "leg", &name, e))
		return -1;
	if (!name)
		name = fallback ? fallback : b->srcs[u->src];
	l = leg_get(b, name);
	if (l->fmt && l->fmt != u->fmt) {
		u->errline = u->rec->line;
		return kva_errf(e, NULL, "leg \"%.60s\" mixes %s and %s rows", name,
				l->fmt->name, u->fmt->name);
	}
	l->fmt = u->fmt;
	*out = l;
	return 0;
}

static void note_varies(void *arg, const char *key, const char *va, const char *vb)
{
	kva_bench_leg *l = arg;

	(void)va, (void)vb;
	for (size_t i = 0; i < l->nvaries; i++)
		if (!strcmp(l->varies[i], key))
			return;
	l->varies = kva_xrealloc(l->varies, l->nvaries + 1, sizeof *l->varies);
	l->varies[l->nvaries++] = kva_xstrdup(key);
}

/* See bench.h. */
void kva_bench_leg_config(kva_bench_leg *l, kva_cfg *c)
{
	kva_cfg_seal(c);
	l->cfg_seen |= c->n > 0;
	if (l->n == 0) {
		l->cfg = *c;
		return;
	}
	if (strcmp(l->cfg.digest, c->digest))
		kva_cfg_diff(&l->cfg, c, note_varies, l);
	kva_cfg_free(c);
}

/* See bench.h. */
void kva_bench_rep_add(kva_bench *b, kva_bench_leg *l, const kva_bench_unit *u,
		       double v, long line, const char *why)
{
	uint32_t src = u->src;

	KVA_GROW(l->reps, l->n, l->cap);
	l->reps[l->n].v = v;
	l->reps[l->n].src = src;
	l->reps[l->n].line = line;
	l->reps[l->n].why = why ? kva_xstrdup(why) : NULL;
	l->reps[l->n].okind = KVA_ORDER_NONE;
	l->reps[l->n].order = NAN;
	l->n++;
	if (why)
		l->failed++;
	if (!l->nsrcs || l->srcs[l->nsrcs - 1] != src) {
		size_t i;

		for (i = 0; i < l->nsrcs && l->srcs[i] != src; i++)
			;
		if (i == l->nsrcs) {
			l->srcs = kva_xrealloc(l->srcs, l->nsrcs + 1, sizeof *l->srcs);
			l->srcs[l->nsrcs++] = src;
		}
	}
	kva_progress_tick(&b->prog, ++b->rows);
}

/* See bench.h. */
void kva_bench_rep_order(kva_bench_leg *l, int kind, double t)
{
	if (l->n && isfinite(t)) {
		l->reps[l->n - 1].okind = kind;
		l->reps[l->n - 1].order = t;
	}
}

/* See bench.h. */
void kva_bench_reps_clock(kva_bench_leg *l, size_t n, const kva_jval *v)
{
	double t;

	if (!v || v->t != KVA_JSTR || kva_bench_time(v->s, &t))
		return;
	for (size_t i = l->n - (n < l->n ? n : l->n); i < l->n; i++) {
		l->reps[i].okind = KVA_ORDER_CLOCK;
		l->reps[i].order = t;
	}
}

/* See bench.h. */
int kva_bench_leg_order(const kva_bench_leg *l)
{
	int kind = l->n ? l->reps[0].okind : KVA_ORDER_NONE;

	for (size_t i = 1; i < l->n && kind; i++)
		if (l->reps[i].okind != kind)
			kind = KVA_ORDER_NONE;
	return kind;
}

/* n digits of s as a number, or -1. */
static long digits(const char *s, int n)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = 10 * v + (s[i] - '0');
	}
	return v;
}

/* A zone "Z", "+HH:MM" or "+HHMM" (or none) at *p: its offset east of
 * UTC in seconds; -1 if malformed. */
static int zone(const char **p, long *off)
{
	const char *s = *p;
	long h, m, sign = *s == '-' ? -1 : 1;

	*off = 0;
	if (*s == 'Z')
		*p = s + 1;
	if (*s != '+' && *s != '-')
		return 0;
	if ((h = digits(s + 1, 2)) < 0) /* s[1] and s[2] are digits: s[3] is read */
		return -1;
	m = s[3] == ':' ? digits(s + 4, 2) : digits(s + 3, 2);
	if (m < 0 || h > 23 || m > 59)
		return -1;
	*p = s + (s[3] == ':' ? 6 : 5);
	*off = sign * (60 * h + m) * 60;
	return 0;
}

/* See bench.h. */
int kva_bench_time(const char *s, double *out)
{
	struct tm tm = { 0 };
	long f[6], off = 0;
	double frac = 0, scale = 0.1;
	size_t n = strlen(s);
	const char *p;
	time_t t;

	if (n == 15 && s[8] == '-') { /* vLLM: 20241107-153012 */
		f[0] = digits(s, 4), f[1] = digits(s + 4, 2), f[2] = digits(s + 6, 2);
		f[3] = digits(s + 9, 2), f[4] = digits(s + 11, 2);
		f[5] = digits(s + 13, 2);
		p = s + 15;
	} else if (n >= 19 && s[4] == '-' && s[7] == '-' &&
		   (s[10] == 'T' || s[10] == ' ') && s[13] == ':' && s[16] == ':') {
		f[0] = digits(s, 4), f[1] = digits(s + 5, 2), f[2] = digits(s + 8, 2);
		f[3] = digits(s + 11, 2), f[4] = digits(s + 14, 2);
		f[5] = digits(s + 17, 2);
		p = s + 19;
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac += (*p - '0') * scale;
		if (zone(&p, &off))
			return -1;
	} else {
		return -1;
	}
	for (int i = 0; i < 6; i++)
		if (f[i] < 0)
			return -1;
	if (*p || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
	    f[4] > 59 || f[5] > 60)
		return -1;
	tm.tm_year = (int)f[0] - 1900;
	tm.tm_mon = (int)f[1] - 1;
	tm.tm_mday = (int)f[2];
	tm.tm_hour = (int)f[3];
	tm.tm_min = (int)f[4];
	tm.tm_sec = (int)f[5];
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = (double)t - (double)off + frac;
	return 0;
}

void kva_bench_ttft(kva_bench_leg *l, double ms)
{
	KVA_GROW(l->ttft, l->nttft, l->cttft);
	l->ttft[l->nttft++] = ms;
}

void kva_bench_tpot(kva_bench_leg *l, double ms)
{
	KVA_GROW(l->tpot, l->ntpot, l->ctpot);
	l->tpot[l->ntpot++] = ms;
}

static void leg_free(kva_bench_leg *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->reps[i].why);
	for (size_t i = 0; i < l->nvaries; i++)
		free(l->varies[i]);
	free(l->reps);
	free(l->ttft);
	free(l->tpot);
	free(l->varies);
	free(l->srcs);
	free(l->sorted);
	free(l->name);
	kva_cfg_free(&l->cfg);
	free(l);
}

/* ---- embedded summaries ----------------------------------------------------------- */

/* See bench.h. */
void kva_bench_embedded(kva_bench *b, const kva_bench_unit *u, kva_bench_leg *l,
			long rep_idx, const char *stat, const kva_jval *v,
			double derived, const char *how)
{
	double r, allowed;
	kva_buf *o = &b->checks;

	if (!v || v->t != KVA_JNUM || kva_json_num(v, stat, &r, NULL) ||
	    !isfinite(r) || !isfinite(derived))
		return;
	l->emb_checked++;
	if (kva_bench_agrees(v, r, derived, KVA_BENCH_EMBEDDED_TOLERANCE_PCT,
			     &allowed))
		return;
	l->emb_mismatched++;
	b->mismatch = 1;
	kva_buf_puts(o, "{\"type\":\"claim_check\",\"source\":\"embedded\",\"at\":");
	kva_bench_put_at(o, b, u->src, kva_bench_line(u, v));
	kva_bench_put_kstr(o, "leg", l->name);
	kva_bench_put_kstr(o, "stat", stat);
	if (rep_idx >= 0)
		kva_bench_put_kint(o, "rep", (uint64_t)rep_idx);
	kva_bench_put_key(o, "reported");
	kva_json_write(o, v);
	kva_bench_put_knum(o, "derived", derived);
	kva_bench_put_kstr(o, "derived_from", how);
	kva_bench_put_knum(o, "diff", r - derived);
	kva_bench_put_knum(o, "diff_pct", derived != 0 ?
			   100 * (r - derived) / fabs(derived) : NAN);
	kva_bench_put_knum(o, "allowed", allowed);
	kva_bench_put_kstr(o, "status", "mismatch");
	kva_buf_puts(o, "}\n");
}

/* See bench.h. */
void kva_bench_summary(kva_bench *b, const kva_bench_unit *u, kva_bench_leg *l,
		       const kva_jval *obj, double *v, size_t n, const char *of)
{
	double mean = kva_stats_mean(v, n), sd = n > 1 ? kva_stats_stdev(v, n) : 0;
	char how[96];

	snprintf(how, sizeof how, "mean(%s)", of);
	kva_bench_embedded(b, u, l, -1, "mean", kva_json_get(obj, "mean"), mean, how);
	kva_stats_sort(v, n);
	snprintf(how, sizeof how, "median(%s)", of);
	kva_bench_embedded(b, u, l, -1, "median", kva_json_get(obj, "median"),
			   kva_stats_median_sorted(v, n), how);
	snprintf(how, sizeof how, "min(%s)", of);
	kva_bench_embedded(b, u, l, -1, "min", kva_json_get(obj, "min"), v[0], how);
	snprintf(how, sizeof how, "max(%s)", of);
	kva_bench_embedded(b, u, l, -1, "max", kva_json_get(obj, "max"), v[n - 1], how);
	snprintf(how, sizeof how, "sample stdev(%s)", of);
	kva_bench_embedded(b, u, l, -1, "stddev", kva_json_get(obj, "stddev"), sd, how);
}

/* ---- one record ------------------------------------------------------------------- */

/* "type" missing and no adapter knows the record: name those that
 * detect ("A, B or C"). */
static int unknown_record(kva_err *e)
{
	const char *t[16];
	kva_buf list = { 0 };
	size_t n = 0;

	for (int i = 0; kva_bench_fmts[i] && n < 16; i++)
		if (kva_bench_fmts[i]->detect && kva_bench_fmts[i]->title)
			t[n++] = kva_bench_fmts[i]->title;
	for (size_t i = 0; i < n; i++)
		kva_buf_printf(&list, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " or ",
			       t[i]);
	kva_errf(e, "type", "missing, and the record is not %s output",
		 list.p ? list.p : "any known");
	kva_buf_free(&list);
	return -1;
}

/* See bench.h. */
int kva_bench_record(kva_bench *b, kva_bench_unit *u, kva_err *e)
{
	const kva_rec *rec = u->rec;
	const kva_bench_fmt *f = b->op.input_format;

	u->errline = rec->line;
	u->fmt = NULL;
	if (rec->type) {
		for (int i = 0; kva_bench_fmts[i]; i++)
			if (kva_bench_fmts[i]->type &&
			    !strcmp(rec->type, kva_bench_fmts[i]->type)) {
				u->fmt = kva_bench_fmts[i];
				return u->fmt->read(b, u, rec->root, e);
			}
		if (rec->nonfinite) { /* NaN in a record of ours: malformed */
			*e = rec->strict;
			u->errline = rec->line + (e->line > 1 ? e->line - 1 : 0);
			return -1;
		}
		if (!strcmp(rec->type, "claim") && kva_bench_claim_read(b, u, e))
			return -1;
		if (!b->op.text) {
			if (rec->nl) { /* a document: pass it on as one line */
				kva_buf o = { 0 };

				kva_json_write(&o, rec->root);
				kva_out_record(&o);
				kva_buf_free(&o);
			} else {
				kva_out_line(rec->text, rec->len);
			}
		}
		return 0;
	}
	if (f) {
		if (!f->detect) /* a format of typed records only */
			return kva_errf(e, "type", "missing");
		u->fmt = f;
		return f->read(b, u, rec->root, e);
	}
	for (int i = 0; kva_bench_fmts[i]; i++)
		if (kva_bench_fmts[i]->detect && kva_bench_fmts[i]->detect(rec->root)) {
			u->fmt = kva_bench_fmts[i];
			return u->fmt->read(b, u, rec->root, e);
		}
	return unknown_record(e);
}

/* ---- the context ------------------------------------------------------------------- */

/* See bench.h. */
void kva_bench_init(kva_bench *b)
{
	memset(b, 0, sizeof *b);
	b->op.resamples = 10000;
	b->op.seed = 1;
	b->op.tolerance_pct = 0.1;
	b->op.max_reps = 1000;
}

/* See bench.h. */
uint32_t kva_bench_src(kva_bench *b, const char *name)
{
	b->srcs = kva_xrealloc(b->srcs, b->nsrcs + 1, sizeof *b->srcs);
	b->srcs[b->nsrcs] = kva_xstrdup(name);
	return (uint32_t)b->nsrcs++;
}

void kva_bench_free(kva_bench *b)
{
	for (size_t i = 0; i < b->nlegs; i++)
		leg_free(b->legs[i]);
	for (size_t i = 0; i < b->nsrcs; i++)
		free(b->srcs[i]);
	for (size_t i = 0; i < b->nclaims; i++)
		free(b->claims[i].text);
	free(b->legs);
	free(b->srcs);
	free(b->claims);
	free(b->metric);
	kva_buf_free(&b->checks);
	kva_arena_free(&b->arena);
	memset(b, 0, sizeof *b);
}
