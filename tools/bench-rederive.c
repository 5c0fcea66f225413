/*
 * bench-rederive - re-derive every benchmark number from the raw rows.
 *
 * Reads SGLang bench_serving rows, vLLM --save-result JSON, hyperfine
 * --export-json documents and generic run records, groups the reps into
 * legs, and writes one leg record per leg, one comparison record per leg
 * against the reference leg, and claim_check records for reported numbers
 * (claim records, and the summaries the raw formats carry themselves).
 * The statistics are in lib/stats.c; this file reads, groups and writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvarbiter.h"
#include "stats.h"

static void usage(FILE *fp)
{
	fputs("usage: bench-rederive [--metric NAME] [--higher-is-better | --lower-is-better]\n"
	      "                      [--ref LEG] [--resamples N] [--seed S] [--tolerance PCT]\n"
	      "                      [--input-format auto|sglang|vllm|hyperfine|run]\n"
	      "                      [--format jsonl|text] [--max-reps N] [--keep-going]\n"
	      "                      [--max-record SIZE] [--progress | --quiet]\n"
	      "                      [[LEG=]FILE ...]\n"
	      "       bench-rederive -h | --help | --version\n",
	      fp);
}

/* ---- options and state ------------------------------------------------ */

enum fmt { F_NONE, F_SGLANG, F_VLLM, F_HYPERFINE, F_RUN };
static const char *const fmt_name[] = { "auto", "sglang", "vllm", "hyperfine", "run" };

#define DEFAULT_SEED 1
#define DEFAULT_RESAMPLES 10000
#define DEFAULT_TOLERANCE_PCT 0.1
#define DEFAULT_MAX_REPS 1000
#define CI_LEVEL 0.95
#define STRIP_WIDTH 32
/* Reported summaries inside raw rows are the harness's own arithmetic on
 * the same data: they must agree to rounding noise. */
#define EMBEDDED_TOLERANCE_PCT 1e-6

typedef struct opts {
	const char *metric;    /* --metric, or NULL: from the first row */
	int dir;               /* +1 higher is better, -1 lower, 0 from name */
	const char *ref;       /* --ref, or NULL: the first leg */
	uint64_t resamples, seed;
	double tolerance_pct;
	int input_format;      /* enum fmt; F_NONE detects */
	int text, keep_going, progress, quiet;
	size_t max_reps, max_record;
} opts;

/* One rep: a value and where it came from. */
typedef struct rep {
	double v;
	long line;     /* line of the value in its file */
	uint32_t src;  /* index into ctx.srcs */
	char *why;     /* why it failed (owned), or NULL for a good rep */
} rep;

/* A flattened configuration: sorted "path" -> canonical JSON value. */
typedef struct cfgent {
	char *key, *val;
} cfgent;
typedef struct cfg {
	cfgent *e;
	size_t n, cap;
	char digest[65];
} cfg;

typedef struct leg {
	char *name;
	int format;            /* enum fmt of its rows */
	rep *reps;
	size_t n, cap, failed;
	double *ttft, *tpot;   /* per-rep median TTFT / TPOT, where given */
	size_t nttft, cttft, ntpot, ctpot;
	int cfg_seen;          /* some rep had a configuration */
	cfg cfg;               /* of the first rep (maybe empty) */
	char **varies;         /* config paths that differ between reps */
	size_t nvaries;
	uint32_t *srcs;        /* sources that gave it reps, in order */
	size_t nsrcs;
	size_t other_metric;   /* run records of another metric */
	size_t emb_checked, emb_mismatched;
	/* derived (compute_leg) */
	double *sorted, median, mean, min, max, stdev, mad, q1, q3;
	double warmup_z, drift, ttft_med, tpot_med;
	int warmup_outlier;
	size_t tukey15, tukey3;
} leg;

/* A claim record, kept as text and evaluated when every leg is known. */
typedef struct claim {
	char *text;
	size_t len;
	uint32_t src;
	long line;
} claim;

/* The text a record's values point into, for provenance. */
typedef struct unit {
	uint32_t src;
	long line;             /* line of the record's first byte */
	const char *text;
	size_t *nl;            /* newline offsets (documents), or NULL */
	size_t nnl;
	const char *leg_name;  /* from LEG=FILE, or NULL */
	long errline;          /* line an error is about */
} unit;

static struct ctx {
	opts op;
	leg **legs;
	size_t nlegs, caplegs;
	leg *last;
	char **srcs;
	size_t nsrcs;
	claim *claims;
	size_t nclaims, capclaims;
	kva_buf checks;        /* embedded claim_check records, one per line */
	size_t nchecks;
	char *metric;          /* the headline metric (owned) */
	int dir;
	int bad;               /* a bad record was reported */
	int mismatch;          /* some claim_check did not agree */
	char field[192];       /* names a nested field in errors */
	kva_arena arena;
	kva_buf san;           /* a line with NaN/Infinity quoted */
	uint64_t rows;
	kva_progress prog;
} C;

static void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	if (!(p = realloc(p, n && size ? n * size : 1)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	return d;
}

/* Grow an array p of *cap elements of size so that n + 1 fit. */
#define GROW(p, n, cap) do { if ((n) == (cap)) { \
	(cap) = (cap) ? 2 * (cap) : 16; \
	(p) = xrealloc((p), (cap), sizeof *(p)); } } while (0)

/* ---- numbers out --------------------------------------------------------- */

/* Shortest %g that reads back as v; null for NaN and infinities. */
static void put_num(kva_buf *b, double v)
{
	char tmp[40];

	if (!isfinite(v)) {
		kva_buf_puts(b, "null");
		return;
	}
	if (v == 0) {
		kva_buf_putc(b, '0');
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	kva_buf_puts(b, tmp);
}

static void put_key(kva_buf *b, const char *key)
{
	kva_buf_putc(b, ',');
	kva_buf_jstr(b, key, strlen(key));
	kva_buf_putc(b, ':');
}

static void put_knum(kva_buf *b, const char *key, double v)
{
	put_key(b, key);
	put_num(b, v);
}

static void put_kstr(kva_buf *b, const char *key, const char *s)
{
	put_key(b, key);
	kva_buf_jstr(b, s, strlen(s));
}

static void put_kint(kva_buf *b, const char *key, uint64_t v)
{
	put_key(b, key);
	kva_buf_i64(b, (int64_t)v);
}

static void put_kbool(kva_buf *b, const char *key, int v)
{
	put_key(b, key);
	kva_buf_puts(b, v ? "true" : "false");
}

/* "FILE:LINE" as a JSON string. */
static void put_at(kva_buf *b, uint32_t src, long line)
{
	kva_buf tmp = { 0 };

	kva_buf_printf(&tmp, "%s:%ld", C.srcs[src], line);
	kva_buf_jstr(b, tmp.p, tmp.len);
	kva_buf_free(&tmp);
}

/* ---- provenance and fields ---------------------------------------------- */

/* Line of the value v inside u's text. */
static long line_at(const unit *u, const kva_jval *v)
{
	size_t off, lo = 0, hi;

	if (!u->nl || !v || !v->raw)
		return u->line;
	off = (size_t)(v->raw - u->text);
	hi = u->nnl; /* count newlines before off */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u->nl[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return u->line + (long)lo;
}

/* Set the nested field name for an error (kept in C.field). */
static const char *fieldf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *fieldf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(C.field, sizeof C.field, fmt, ap);
	va_end(ap);
	return C.field;
}

/* Python's json module writes these for undefined and unbounded values. */
static int nonfinite_word(const char *s)
{
	return !strcmp(s, "NaN") || !strcmp(s, "Infinity") ||
	       !strcmp(s, "-Infinity");
}

/*
 * A finite number from v (the member field of record u), or -1 with e.
 * NaN and the infinities are refused here, not earlier: they are legal in
 * the fields of a foreign row that bench-rederive does not read.
 */
static int get_num(unit *u, const kva_jval *v, const char *field, double *out,
		   kva_err *e)
{
	char ex[48];

	if (v)
		u->errline = line_at(u, v);
	if (v && v->t == KVA_JSTR && nonfinite_word(v->s))
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

/* An optional non-negative integer member; *out = -1 when absent. */
static int get_count(unit *u, const kva_jval *obj, const char *field,
		     int64_t *out, kva_err *e)
{
	const kva_jval *v = kva_json_get(obj, field);

	*out = -1;
	if (!v || v->t == KVA_JNULL)
		return 0;
	u->errline = line_at(u, v);
	if (kva_json_int(v, field, out, e))
		return -1;
	if (*out < 0)
		return kva_errf(e, field, "must be >= 0, got %lld", (long long)*out);
	return 0;
}

/* An optional string member (NULL when absent); -1 if not a string. */
static int get_str(unit *u, const kva_jval *obj, const char *field,
		   const char **out, kva_err *e)
{
	const kva_jval *v = kva_json_get(obj, field);

	*out = NULL;
	if (!v)
		return 0;
	u->errline = line_at(u, v);
	if (v->t != KVA_JSTR || memchr(v->s, '\0', v->slen))
		return kva_errf(e, field, "must be a string");
	*out = v->s;
	return 0;
}

/* ---- metric direction ----------------------------------------------------- */

static int contains(const char *s, const char *w)
{
	return strstr(s, w) != NULL;
}

static int ends_with(const char *s, const char *w)
{
	size_t n = strlen(s), k = strlen(w);

	return n >= k && !strcmp(s + n - k, w);
}

/* +1 if a higher value of metric is better, -1 if lower, 0 if the name
 * does not say (the rule is in bench-rederive(1)). */
static int metric_direction(const char *m)
{
	static const char *const higher[] = { "throughput", "goodput", "per_s",
		"per_sec", "tok_s", "qps", "rps", "speedup", "flops", "bandwidth",
		"accept_length", "hit_rate", NULL };
	static const char *const lower[] = { "time", "latency", "ttft", "tpot",
		"itl", "e2el", "duration", "seconds", "_ms", "_us", "_ns", NULL };

	for (int i = 0; higher[i]; i++)
		if (contains(m, higher[i]))
			return 1;
	for (int i = 0; lower[i]; i++)
		if (contains(m, lower[i]))
			return -1;
	if (ends_with(m, "_s") || !strcmp(m, "s") || !strcmp(m, "ms"))
		return -1;
	return 0;
}

/* ---- configuration --------------------------------------------------------- */

/* Keys that change from run to run without changing the conditions;
 * left out of the digest and the diff at every depth. */
static int runtime_key(const char *k)
{
	static const char *const keys[] = { "version", "sglang_version",
		"vllm_version", "internal_states", "memory_usage",
		"last_gen_throughput", "avg_spec_accept_length", "timestamp",
		"start_time", "end_time", "date", "uptime", "pid", "port", "host",
		NULL };

	for (int i = 0; keys[i]; i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return 0;
}

/* Top-level members of a serving row that are results, not conditions. */
static int result_key(const char *k)
{
	static const char *const keys[] = { "duration", "completed",
		"concurrency", "accept_length", "input_lens", "output_lens",
		"ttfts", "itls", "generated_texts", "errors", "request_goodput",
		"leg", "type", NULL };

	for (int i = 0; keys[i]; i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return !strncmp(k, "total_", 6) || ends_with(k, "_throughput") ||
	       ends_with(k, "_ms");
}

static int cmp_member(const void *a, const void *b)
{
	const kva_jval *x = *(const kva_jval *const *)a;
	const kva_jval *y = *(const kva_jval *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* A value's canonical text: numbers by value (1.0 and 1 alike), strings
 * re-escaped, object members sorted. */
static void canon_value(kva_buf *b, const kva_jval *v)
{
	int64_t i;
	double d;

	switch (v->t) {
	case KVA_JNUM:
		if (!kva_json_int(v, NULL, &i, NULL))
			kva_buf_i64(b, i);
		else if (!kva_json_num(v, NULL, &d, NULL))
			put_num(b, d);
		break;
	case KVA_JARR:
		kva_buf_putc(b, '[');
		for (const kva_jval *k = v->child; k; k = k->next) {
			if (k != v->child)
				kva_buf_putc(b, ',');
			canon_value(b, k);
		}
		kva_buf_putc(b, ']');
		break;
	case KVA_JOBJ: {
		const kva_jval **m = xrealloc(NULL, v->n, sizeof *m);
		size_t n = 0;

		for (const kva_jval *k = v->child; k; k = k->next)
			m[n++] = k;
		qsort(m, n, sizeof *m, cmp_member);
		kva_buf_putc(b, '{');
		for (size_t j = 0; j < n; j++) {
			if (j)
				kva_buf_putc(b, ',');
			kva_buf_jstr(b, m[j]->key, m[j]->keylen);
			kva_buf_putc(b, ':');
			canon_value(b, m[j]);
		}
		kva_buf_putc(b, '}');
		free(m);
		break;
	}
	default:
		kva_json_write_canon(b, v);
	}
}

static void cfg_add(cfg *c, const char *key, const char *val, size_t vlen)
{
	GROW(c->e, c->n, c->cap);
	c->e[c->n].key = xstrdup(key);
	c->e[c->n].val = xrealloc(NULL, vlen + 1, 1);
	memcpy(c->e[c->n].val, val, vlen + 1);
	c->n++;
}

/* Flatten obj's members into c as dotted paths under path. */
static void cfg_flatten(cfg *c, kva_buf *path, const kva_jval *obj, int serving_top)
{
	kva_buf val = { 0 };

	for (const kva_jval *k = obj->child; k; k = k->next) {
		size_t plen = path->len;

		if (memchr(k->key, '\0', k->keylen) || runtime_key(k->key))
			continue;
		if (serving_top && result_key(k->key))
			continue;
		if (plen)
			kva_buf_putc(path, '.');
		kva_buf_put(path, k->key, k->keylen);
		if (k->t == KVA_JOBJ && k->n > 0) {
			cfg_flatten(c, path, k, 0);
		} else {
			val.len = 0;
			canon_value(&val, k);
			cfg_add(c, path->p, val.p, val.len);
		}
		path->len = plen;
		path->p[plen] = '\0';
	}
	kva_buf_free(&val);
}

static int cmp_cfgent(const void *a, const void *b)
{
	return strcmp(((const cfgent *)a)->key, ((const cfgent *)b)->key);
}

/* Sort c and compute its digest: SHA-256 of "path=value\n" lines.  The
 * empty configuration of every plain run record is hashed once. */
static void cfg_seal(cfg *c)
{
	static char empty[65];
	kva_buf all = { 0 };

	if (c->n == 0) {
		if (!empty[0])
			kva_sha256_hex("", 0, empty);
		memcpy(c->digest, empty, sizeof empty);
		return;
	}
	qsort(c->e, c->n, sizeof *c->e, cmp_cfgent);
	for (size_t i = 0; i < c->n; i++)
		kva_buf_printf(&all, "%s=%s\n", c->e[i].key, c->e[i].val);
	kva_sha256_hex(all.p ? all.p : "", all.len, c->digest);
	kva_buf_free(&all);
}

static void cfg_free(cfg *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].key);
		free(c->e[i].val);
	}
	free(c->e);
	memset(c, 0, sizeof *c);
}

static const cfgent *cfg_find(const cfg *c, const char *key)
{
	cfgent k = { (char *)(uintptr_t)key, NULL };

	return c->n ? bsearch(&k, c->e, c->n, sizeof *c->e, cmp_cfgent) : NULL;
}

/* Call fn for each path whose value differs between a and b (either
 * side may lack it: its value is then NULL). */
static void cfg_diff(const cfg *a, const cfg *b,
		     void (*fn)(void *, const char *, const char *, const char *),
		     void *arg)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->e[i].key, b->e[j].key);

		if (c < 0) {
			fn(arg, a->e[i].key, a->e[i].val, NULL);
			i++;
		} else if (c > 0) {
			fn(arg, b->e[j].key, NULL, b->e[j].val);
			j++;
		} else {
			if (strcmp(a->e[i].val, b->e[j].val))
				fn(arg, a->e[i].key, a->e[i].val, b->e[j].val);
			i++, j++;
		}
	}
}

static void note_varies(void *arg, const char *key, const char *va, const char *vb)
{
	leg *l = arg;
	size_t i;

	(void)va, (void)vb;
	for (i = 0; i < l->nvaries; i++)
		if (!strcmp(l->varies[i], key))
			return;
	l->varies = xrealloc(l->varies, l->nvaries + 1, sizeof *l->varies);
	l->varies[l->nvaries++] = xstrdup(key);
}

/* Give leg l the configuration of its next rep (c, maybe empty, is
 * consumed): the first rep's is kept, later ones are compared with it. */
static void leg_config(leg *l, cfg *c)
{
	cfg_seal(c);
	l->cfg_seen |= c->n > 0;
	if (l->n == 0) {
		l->cfg = *c;
		return;
	}
	if (strcmp(l->cfg.digest, c->digest))
		cfg_diff(&l->cfg, c, note_varies, l);
	cfg_free(c);
}

/* ---- legs --------------------------------------------------------------------- */

static leg *find_leg(const char *name)
{
	for (size_t i = 0; i < C.nlegs; i++)
		if (!strcmp(C.legs[i]->name, name))
			return C.legs[i];
	return NULL;
}

/* The leg called name, made (empty) if new. */
static leg *leg_get(const char *name)
{
	leg *l;

	if (C.last && !strcmp(C.last->name, name))
		return C.last;
	for (size_t i = 0; i < C.nlegs; i++)
		if (!strcmp(C.legs[i]->name, name))
			return C.last = C.legs[i];
	l = xrealloc(NULL, 1, sizeof *l);
	memset(l, 0, sizeof *l);
	l->name = xstrdup(name);
	GROW(C.legs, C.nlegs, C.caplegs);
	C.legs[C.nlegs++] = l;
	return C.last = l;
}

static void leg_add(leg *l, double v, uint32_t src, long line, const char *why)
{
	GROW(l->reps, l->n, l->cap);
	l->reps[l->n].v = v;
	l->reps[l->n].src = src;
	l->reps[l->n].line = line;
	l->reps[l->n].why = why ? xstrdup(why) : NULL;
	l->n++;
	if (why)
		l->failed++;
	if (!l->nsrcs || l->srcs[l->nsrcs - 1] != src) {
		size_t i;

		for (i = 0; i < l->nsrcs && l->srcs[i] != src; i++)
			;
		if (i == l->nsrcs) {
			l->srcs = xrealloc(l->srcs, l->nsrcs + 1, sizeof *l->srcs);
			l->srcs[l->nsrcs++] = src;
		}
	}
	kva_progress_tick(&C.prog, ++C.rows);
}

static void leg_free(leg *l)
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
	cfg_free(&l->cfg);
	free(l);
}

/* The leg a row belongs to: LEG=FILE, else the row's "leg", else the
 * fallback (hyperfine's command), else the file's name. */
static int row_leg(unit *u, const kva_jval *row, const char *fallback, int format,
		   leg **out, kva_err *e)
{
	const char *name = u->leg_name;
	leg *l;

	if (!name && row && get_str(u, row, "leg", &name, e))
		return -1;
	if (!name)
		name = fallback ? fallback : C.srcs[u->src];
	l = leg_get(name);
	if (l->format && l->format != format) {
		u->errline = u->line;
		return kva_errf(e, NULL, "leg \"%.60s\" mixes %s and %s rows", name,
				fmt_name[l->format], fmt_name[format]);
	}
	l->format = format;
	*out = l;
	return 0;
}

/* Settle the headline metric on the first data row. */
static int settle_metric(unit *u, const char *metric, kva_err *e)
{
	if (C.metric)
		return 0;
	C.metric = xstrdup(metric); /* metric may live in the parse arena */
	C.dir = C.op.dir ? C.op.dir : metric_direction(metric);
	if (!C.dir) {
		u->errline = u->line;
		return kva_errf(e, "metric", "cannot tell whether a higher or lower "
				"\"%.60s\" is better (give --higher-is-better or "
				"--lower-is-better)", metric);
	}
	return 0;
}

/* ---- embedded summaries ----------------------------------------------------------- */

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

/* Does reported (JSON number v, value r) agree with derived d?  *allowed
 * gets the absolute tolerance used. */
static int agrees(const kva_jval *v, double r, double d, double tol_pct,
		  double *allowed)
{
	double a = tol_pct / 100 * fabs(d), ra = rounding_allowance(v);

	*allowed = a > ra ? a : ra;
	return fabs(r - d) <= *allowed;
}

/*
 * Check one summary a raw row reports about itself (stat, at JSON value
 * v) against the value re-derived from its own raw numbers.  Agreement is
 * counted in the leg; a disagreement becomes a claim_check record.
 */
static void embedded_check(unit *u, leg *l, long rep_idx, const char *stat,
			   const kva_jval *v, double derived, const char *how)
{
	double r, allowed;
	kva_buf *b = &C.checks;

	if (!v || v->t != KVA_JNUM || kva_json_num(v, stat, &r, NULL) ||
	    !isfinite(r) || !isfinite(derived))
		return;
	l->emb_checked++;
	if (agrees(v, r, derived, EMBEDDED_TOLERANCE_PCT, &allowed))
		return;
	l->emb_mismatched++;
	C.mismatch = 1;
	kva_buf_puts(b, "{\"type\":\"claim_check\",\"source\":\"embedded\",\"at\":");
	put_at(b, u->src, line_at(u, v));
	put_kstr(b, "leg", l->name);
	put_kstr(b, "stat", stat);
	if (rep_idx >= 0)
		put_kint(b, "rep", (uint64_t)rep_idx);
	put_key(b, "reported");
	kva_json_write(b, v);
	put_knum(b, "derived", derived);
	put_kstr(b, "derived_from", how);
	put_knum(b, "diff", r - derived);
	put_knum(b, "diff_pct", derived != 0 ? 100 * (r - derived) / fabs(derived) : NAN);
	put_knum(b, "allowed", allowed);
	put_kstr(b, "status", "mismatch");
	kva_buf_puts(b, "}\n");
	C.nchecks++;
}

/* ---- the formats ------------------------------------------------------------- */

/* A serving row (SGLang bench_serving or vLLM benchmark_serving). */
static int read_serving(unit *u, const kva_jval *row, int format, kva_err *e)
{
	const kva_jval *v, *errs;
	int64_t completed, asked, outtok;
	double val, dur = NAN, ttft = 0, tpot = 0;
	int has_ttft, has_tpot;
	char why[96] = "";
	leg *l;
	cfg c = { 0 };
	kva_buf path = { 0 };
	size_t nerr = 0, nerrs_total = 0;
	long rep_idx;

	if (settle_metric(u, C.op.metric ? C.op.metric : "output_throughput", e))
		return -1;
	if (get_num(u, kva_json_get(row, C.metric), C.metric, &val, e))
		return -1;
	if (get_count(u, row, "completed", &completed, e) ||
	    get_count(u, row, "num_prompts", &asked, e) ||
	    get_count(u, row, "total_output_tokens", &outtok, e))
		return -1;
	if ((errs = kva_json_get(row, "errors")) && errs->t == KVA_JARR) {
		for (const kva_jval *k = errs->child; k; k = k->next, nerrs_total++)
			if (k->t == KVA_JSTR && k->slen > 0)
				nerr++;
	}
	if (asked >= 0 && completed >= 0 && completed < asked)
		snprintf(why, sizeof why, "completed %lld of %lld requests",
			 (long long)completed, (long long)asked);
	else if (nerr)
		snprintf(why, sizeof why, "%zu of %zu requests failed", nerr,
			 nerrs_total);
	else if (completed == 0)
		snprintf(why, sizeof why, "no request completed");
	/* TTFT and TPOT: NaN (no request got that far) leaves the rep out */
	v = kva_json_get(row, "median_ttft_ms");
	if ((has_ttft = v && !(v->t == KVA_JSTR && nonfinite_word(v->s))) &&
	    get_num(u, v, "median_ttft_ms", &ttft, e))
		return -1;
	v = kva_json_get(row, "median_tpot_ms");
	if ((has_tpot = v && !(v->t == KVA_JSTR && nonfinite_word(v->s))) &&
	    get_num(u, v, "median_tpot_ms", &tpot, e))
		return -1;
	if (row_leg(u, row, NULL, format, &l, e))
		return -1;
	if (has_ttft) {
		GROW(l->ttft, l->nttft, l->cttft);
		l->ttft[l->nttft++] = ttft;
	}
	if (has_tpot) {
		GROW(l->tpot, l->ntpot, l->ctpot);
		l->tpot[l->ntpot++] = tpot;
	}

	cfg_flatten(&c, &path, row, 1);
	kva_buf_free(&path);
	leg_config(l, &c);
	leg_add(l, val, u->src, line_at(u, kva_json_get(row, C.metric)),
		why[0] ? why : NULL);
	rep_idx = (long)l->n - 1;

	/* what the row reports about itself, against its own raw numbers */
	v = kva_json_get(row, "duration");
	if (v && v->t == KVA_JNUM && !kva_json_num(v, NULL, &dur, NULL) && dur > 0) {
		if (outtok >= 0)
			embedded_check(u, l, rep_idx, "output_throughput",
				       kva_json_get(row, "output_throughput"),
				       (double)outtok / dur,
				       "total_output_tokens / duration");
		if (completed >= 0)
			embedded_check(u, l, rep_idx, "request_throughput",
				       kva_json_get(row, "request_throughput"),
				       (double)completed / dur, "completed / duration");
	}
	v = kva_json_get(row, "ttfts");
	if (v && v->t == KVA_JARR && v->n > 0 && (size_t)completed == v->n && !why[0]) {
		double *t = xrealloc(NULL, v->n, sizeof *t);
		size_t n = 0;

		for (const kva_jval *k = v->child; k; k = k->next) {
			if (k->t != KVA_JNUM || kva_json_num(k, NULL, &t[n], NULL) ||
			    !isfinite(t[n]))
				break;
			n++;
		}
		if (n == v->n) {
			double mean = kva_stats_mean(t, n);

			kva_stats_sort(t, n);
			embedded_check(u, l, rep_idx, "median_ttft_ms",
				       kva_json_get(row, "median_ttft_ms"),
				       kva_stats_median_sorted(t, n) * 1000,
				       "median(ttfts) * 1000");
			embedded_check(u, l, rep_idx, "mean_ttft_ms",
				       kva_json_get(row, "mean_ttft_ms"), mean * 1000,
				       "mean(ttfts) * 1000");
		}
		free(t);
	}
	return 0;
}

/* A hyperfine --export-json document: one leg per results[] entry. */
static int read_hyperfine(unit *u, const kva_jval *doc, kva_err *e)
{
	const kva_jval *res = kva_json_get(doc, "results");
	size_t i = 0;

	if (settle_metric(u, C.op.metric ? C.op.metric : "time", e))
		return -1;
	if (strcmp(C.metric, "time")) {
		u->errline = u->line;
		return kva_errf(e, "results", "hyperfine exports hold the metric "
				"\"time\", not \"%.60s\"", C.metric);
	}
	if (!res || res->t != KVA_JARR || res->n == 0)
		return kva_errf(e, "results", res ? "must be a non-empty array"
				: "missing");
	u->errline = line_at(u, res);
	if (u->leg_name && res->n > 1)
		return kva_errf(e, "results", "LEG=FILE names one leg, but the "
				"export holds %zu commands", res->n);
	/* validate everything before taking any rep, so a bad document adds
	 * nothing */
	for (const kva_jval *r = res->child; r; r = r->next, i++) {
		const kva_jval *times = kva_json_get(r, "times");
		const kva_jval *codes = kva_json_get(r, "exit_codes");
		const char *cmd;
		size_t j = 0;
		double x;
		int64_t ec;

		u->errline = line_at(u, r);
		if (r->t != KVA_JOBJ)
			return kva_errf(e, fieldf("results[%zu]", i), "must be an object");
		if (get_str(u, r, "command", &cmd, e))
			return kva_errf(e, fieldf("results[%zu].command", i), "must be a string");
		if (!cmd)
			return kva_errf(e, fieldf("results[%zu].command", i), "missing");
		{
			const leg *x0 = find_leg(u->leg_name ? u->leg_name : cmd);

			if (x0 && x0->format && x0->format != F_HYPERFINE)
				return kva_errf(e, NULL, "leg \"%.60s\" mixes %s and "
						"hyperfine rows", x0->name,
						fmt_name[x0->format]);
		}
		if (!times || times->t != KVA_JARR || times->n == 0)
			return kva_errf(e, fieldf("results[%zu].times", i),
					times ? "must be a non-empty array of numbers"
					: "missing");
		for (const kva_jval *t = times->child; t; t = t->next, j++)
			if (get_num(u, t, fieldf("results[%zu].times[%zu]", i, j), &x, e))
				return -1;
		if (codes && codes->t != KVA_JNULL) {
			if (codes->t != KVA_JARR || codes->n != times->n) {
				u->errline = line_at(u, codes);
				return kva_errf(e, fieldf("results[%zu].exit_codes", i),
						"must be an array as long as times");
			}
			j = 0;
			for (const kva_jval *t = codes->child; t; t = t->next, j++) {
				u->errline = line_at(u, t);
				if (t->t != KVA_JNULL &&
				    kva_json_int(t, fieldf("results[%zu].exit_codes[%zu]", i, j),
						 &ec, e))
					return -1;
			}
		}
	}
	i = 0;
	for (const kva_jval *r = res->child; r; r = r->next, i++) {
		const kva_jval *times = kva_json_get(r, "times");
		const kva_jval *codes = kva_json_get(r, "exit_codes");
		const kva_jval *code = codes && codes->t == KVA_JARR ? codes->child : NULL;
		const kva_jval *params = kva_json_get(r, "parameters");
		const char *cmd = kva_json_get(r, "command")->s;
		double *t = xrealloc(NULL, times->n, sizeof *t), x;
		size_t n = 0;
		leg *l;

		if (row_leg(u, NULL, cmd, F_HYPERFINE, &l, e)) {
			free(t);
			return -1;
		}
		{
			cfg c = { 0 };
			kva_buf path = { 0 };

			kva_buf_puts(&path, "parameters");
			if (params && params->t == KVA_JOBJ)
				cfg_flatten(&c, &path, params, 0);
			kva_buf_free(&path);
			leg_config(l, &c);
		}
		for (const kva_jval *tv = times->child; tv; tv = tv->next) {
			char why[48] = "";
			int64_t ec = 0;

			kva_json_num(tv, NULL, &x, NULL);
			t[n++] = x;
			if (code) {
				if (code->t != KVA_JNULL)
					kva_json_int(code, NULL, &ec, NULL);
				if (ec)
					snprintf(why, sizeof why, "exit code %lld",
						 (long long)ec);
				code = code->next;
			}
			leg_add(l, x, u->src, line_at(u, tv), why[0] ? why : NULL);
		}
		/* hyperfine's own summary of these times */
		{
			double mean = kva_stats_mean(t, n), sd = kva_stats_stdev(t, n);

			kva_stats_sort(t, n);
			embedded_check(u, l, -1, "mean", kva_json_get(r, "mean"), mean, "mean(times)");
			embedded_check(u, l, -1, "median", kva_json_get(r, "median"),
				       kva_stats_median_sorted(t, n), "median(times)");
			embedded_check(u, l, -1, "min", kva_json_get(r, "min"), t[0], "min(times)");
			embedded_check(u, l, -1, "max", kva_json_get(r, "max"), t[n - 1], "max(times)");
			embedded_check(u, l, -1, "stddev", kva_json_get(r, "stddev"), sd,
				       "sample stdev(times)");
		}
		free(t);
	}
	return 0;
}

/* A generic run record. */
static int read_run(unit *u, const kva_jval *row, kva_err *e)
{
	const char *metric;
	const kva_jval *f;
	double val;
	int64_t completed, asked, ec;
	char why[96] = "";
	leg *l;

	if (get_str(u, row, "metric", &metric, e))
		return -1;
	if (!metric)
		return kva_errf(e, "metric", "missing");
	if (get_num(u, kva_json_get(row, "value"), "value", &val, e))
		return -1;
	if (settle_metric(u, C.op.metric ? C.op.metric : metric, e))
		return -1;
	if (get_count(u, row, "completed", &completed, e) ||
	    get_count(u, row, "num_prompts", &asked, e))
		return -1;
	if ((f = kva_json_get(row, "exit_code")) && f->t != KVA_JNULL) {
		u->errline = line_at(u, f);
		if (kva_json_int(f, "exit_code", &ec, e))
			return -1;
		if (ec)
			snprintf(why, sizeof why, "exit code %lld", (long long)ec);
	}
	if ((f = kva_json_get(row, "failed")) && f->t != KVA_JNULL) {
		u->errline = line_at(u, f);
		if (f->t != KVA_JTRUE && f->t != KVA_JFALSE)
			return kva_errf(e, "failed", "must be true or false");
		if (f->t == KVA_JTRUE && !why[0])
			snprintf(why, sizeof why, "failed");
	}
	if (!why[0] && asked >= 0 && completed >= 0 && completed < asked)
		snprintf(why, sizeof why, "completed %lld of %lld requests",
			 (long long)completed, (long long)asked);
	if ((f = kva_json_get(row, "server_info")) && f->t != KVA_JOBJ) {
		u->errline = line_at(u, f);
		return kva_errf(e, "server_info", "must be an object");
	}
	if (row_leg(u, row, NULL, F_RUN, &l, e))
		return -1;
	if (strcmp(metric, C.metric)) {
		/* a TTFT or TPOT run feeds the leg's medians; others wait for
		 * a run with that --metric */
		if (!strcmp(metric, "ttft_ms") || !strcmp(metric, "median_ttft_ms")) {
			GROW(l->ttft, l->nttft, l->cttft);
			l->ttft[l->nttft++] = val;
		} else if (!strcmp(metric, "tpot_ms") || !strcmp(metric, "median_tpot_ms")) {
			GROW(l->tpot, l->ntpot, l->ctpot);
			l->tpot[l->ntpot++] = val;
		} else {
			l->other_metric++;
		}
		return 0;
	}
	{
		cfg c = { 0 };
		kva_buf path = { 0 };

		kva_buf_puts(&path, "server_info");
		if (f)
			cfg_flatten(&c, &path, f, 0);
		kva_buf_free(&path);
		leg_config(l, &c);
	}
	leg_add(l, val, u->src, line_at(u, kva_json_get(row, "value")),
		why[0] ? why : NULL);
	return 0;
}

/* ---- claims ------------------------------------------------------------------- */

/* The reported numbers a claim record may carry. */
static const char *const claim_stats[] = { "median", "mean", "min", "max",
	"stdev", "cv_pct", "mad", "spread_pct", "q1", "q3", "n", "failed",
	"ttft_median_ms", "tpot_median_ms", "delta_pct", "speedup", NULL };

/* Check a claim's shape now, so its errors come in input order; it is
 * evaluated once every leg is complete. */
static int read_claim(unit *u, const kva_jval *rec, const char *text, size_t len,
		      kva_err *e)
{
	const char *s;
	const kva_jval *v;
	double x;
	int any = 0;

	for (int i = 0; claim_stats[i]; i++)
		/* null: the producer did not report it; nothing to check */
		if ((v = kva_json_get(rec, claim_stats[i])) && v->t != KVA_JNULL) {
			if (get_num(u, v, claim_stats[i], &x, e))
				return -1;
			any = 1;
		}
	for (int i = 0; i < 2; i++) {
		const char *key = i ? "server_info" : "config";

		if (!(v = kva_json_get(rec, key)))
			continue;
		u->errline = line_at(u, v);
		if (v->t != KVA_JOBJ)
			return kva_errf(e, key, "must be an object");
		for (const kva_jval *k = v->child; k; k = k->next) {
			u->errline = line_at(u, k);
			if (k->t == KVA_JOBJ)
				return kva_errf(e, fieldf("%s.%.60s", key, k->key),
						"must be a number, string, boolean, "
						"null or array");
			any = 1;
		}
	}
	if (get_str(u, rec, "leg", &s, e) || get_str(u, rec, "ref", &s, e) ||
	    get_str(u, rec, "metric", &s, e))
		return -1;
	if ((v = kva_json_get(rec, "tolerance_pct")) &&
	    (get_num(u, v, "tolerance_pct", &x, e) ||
	     (x < 0 && kva_errf(e, "tolerance_pct", "must be >= 0"))))
		return -1;
	if (!any)
		return 0; /* a declaration for audit-verdict, nothing to check */
	if (!kva_json_get(rec, "leg")) {
		u->errline = u->line;
		return kva_errf(e, "leg", "missing (a claim names the leg it is about)");
	}
	GROW(C.claims, C.nclaims, C.capclaims);
	C.claims[C.nclaims].text = xrealloc(NULL, len + 1, 1);
	memcpy(C.claims[C.nclaims].text, text, len);
	C.claims[C.nclaims].text[len] = '\0';
	C.claims[C.nclaims].len = len;
	C.claims[C.nclaims].src = u->src;
	C.claims[C.nclaims].line = u->line;
	C.nclaims++;
	return 0;
}

/* ---- one record ---------------------------------------------------------------- */

/*
 * Route one parsed JSON value of unit u.  text/len is the record as read,
 * for pass-through.  quoted: NaN/Infinity had to be quoted for it to
 * parse (only foreign rows and run records may hold them).  Returns 0,
 * or -1 with e and u->errline set.  parse_err/parse_line: why and where
 * the unquoted text failed to parse.
 */
static int handle(unit *u, const kva_jval *root, const char *text, size_t len,
		  int quoted, const kva_err *parse_err, long parse_line, kva_err *e)
{
	const kva_jval *type;

	u->errline = u->line;
	if (root->t != KVA_JOBJ)
		return kva_errf(e, NULL, "record is not a JSON object");
	if ((type = kva_json_get(root, "type"))) {
		if (type->t != KVA_JSTR)
			return kva_errf(e, "type", "must be a string");
		if (!strcmp(type->s, "run"))
			return read_run(u, root, e);
		if (quoted) { /* NaN in a record of ours: the parse error */
			*e = *parse_err;
			u->errline = parse_line;
			return -1;
		}
		if (!strcmp(type->s, "claim") &&
		    read_claim(u, root, text, len, e))
			return -1;
		if (!C.op.text) {
			if (u->nl) { /* a document: pass it on as one line */
				kva_buf b = { 0 };

				kva_json_write(&b, root);
				kva_out_record(&b);
				kva_buf_free(&b);
			} else {
				kva_out_line(text, len);
			}
		}
		return 0;
	}
	switch (C.op.input_format) {
	case F_SGLANG:
	case F_VLLM:
		return read_serving(u, root, C.op.input_format, e);
	case F_HYPERFINE:
		return read_hyperfine(u, root, e);
	case F_RUN:
		return kva_errf(e, "type", "missing");
	}
	if (kva_json_get(root, "results"))
		return read_hyperfine(u, root, e);
	if (kva_json_get(root, "output_throughput") ||
	    (kva_json_get(root, "completed") && kva_json_get(root, "duration"))) {
		int vllm = kva_json_get(root, "model_id") ||
			   kva_json_get(root, "tokenizer_id") ||
			   kva_json_get(root, "burstiness") ||
			   kva_json_get(root, "request_goodput");

		return read_serving(u, root, vllm ? F_VLLM : F_SGLANG, e);
	}
	return kva_errf(e, "type", "missing, and the record is not SGLang, vLLM "
			"or hyperfine output");
}

/* ---- reading ------------------------------------------------------------------- */

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* The line, less surrounding blanks, is a lone "{" or "[": the start of
 * a pretty-printed document. */
static int opens_document(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && strchr(" \t\r", s[i]))
		i++;
	if (i == n || (s[i] != '{' && s[i] != '['))
		return 0;
	i++;
	while (i < n && strchr(" \t\r", s[i]))
		i++;
	return i == n;
}

static int word_at(const char *s, size_t n, size_t i, const char *w)
{
	size_t k = strlen(w);

	return i + k <= n && !memcmp(s + i, w, k) &&
	       (i + k == n || strchr(",]} \t\r\n", s[i + k]));
}

/*
 * Copy s to out with the bare NaN, Infinity and -Infinity tokens that
 * Python's json module writes turned into strings, so the strict parser
 * reads the row and the field that holds one can be named.  Newlines are
 * kept, so line numbers hold.  Returns how many were quoted.
 */
static size_t quote_nonfinite(const char *s, size_t n, kva_buf *out)
{
	size_t q = 0;
	int instr = 0;

	out->len = 0;
	for (size_t i = 0; i < n; i++) {
		static const char *const words[] = { "-Infinity", "Infinity", "NaN" };
		int hit = -1;

		if (instr) {
			if (s[i] == '\\' && i + 1 < n) {
				kva_buf_put(out, s + i, 2);
				i++;
				continue;
			}
			if (s[i] == '"')
				instr = 0;
		} else if (s[i] == '"') {
			instr = 1;
		} else {
			for (int w = 0; w < 3 && hit < 0; w++)
				if (word_at(s, n, i, words[w]))
					hit = w;
		}
		if (hit >= 0) {
			kva_buf_putc(out, '"');
			kva_buf_puts(out, words[hit]);
			kva_buf_putc(out, '"');
			i += strlen(words[hit]) - 1;
			q++;
			continue;
		}
		kva_buf_putc(out, s[i]);
	}
	kva_buf_put(out, "", 0);
	return q;
}

/* Turn "malformed JSON at column C: ..." about a document into the line
 * and column inside it. */
static void relocate_parse_error(unit *u, kva_err *e)
{
	static const char pre[] = "malformed JSON at column ";
	char rest[256];
	long col;
	size_t off, lo = 0, hi = u->nnl, start;

	if (strncmp(e->msg, pre, sizeof pre - 1) ||
	    sscanf(e->msg + sizeof pre - 1, "%ld", &col) != 1 || col < 1)
		return;
	off = (size_t)col - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u->nl[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	u->errline = u->line + (long)lo;
	start = lo ? u->nl[lo - 1] + 1 : 0;
	snprintf(rest, sizeof rest, "%.200s", strchr(e->msg + sizeof pre - 1, ':'));
	snprintf(e->msg, sizeof e->msg, "%s%zu%.200s", pre, off - start + 1, rest);
}

/* Parse text as one record (quoting NaN/Infinity if that is what it
 * takes) and handle it.  Returns 0 or -1 with e and u->errline. */
static int parse_and_handle(unit *u, const char *text, size_t len, kva_err *e)
{
	const kva_jval *root;
	kva_err perr;

	kva_arena_reset(&C.arena);
	u->text = text;
	u->errline = u->line;
	if ((root = kva_json_parse(&C.arena, text, len, &perr)))
		return handle(u, root, text, len, 0, NULL, u->line, e);
	if (quote_nonfinite(text, len, &C.san)) {
		kva_err e2;

		kva_arena_reset(&C.arena);
		u->text = C.san.p;
		if ((root = kva_json_parse(&C.arena, C.san.p, C.san.len, &e2))) {
			size_t *nl = u->nl, nnl = u->nnl, k = 0;
			int rc;

			if (!nl)
				return handle(u, root, text, len, 1, &perr, u->line, e);
			/* the quotes moved the newlines: map the copy's */
			relocate_parse_error(u, &perr);
			u->nl = xrealloc(NULL, nnl ? nnl : 1, sizeof *u->nl);
			for (size_t i = 0; i < C.san.len && k < nnl; i++)
				if (C.san.p[i] == '\n')
					u->nl[k++] = i;
			rc = handle(u, root, text, len, 1, &perr, u->errline, e);
			free(u->nl);
			u->nl = nl;
			return rc;
		}
	}
	*e = perr;
	if (u->nl)
		relocate_parse_error(u, e);
	return -1;
}

/* Report a bad record the house way (lib/jsonl.c's kva_report_bad). */
static void report_bad(const char *name, long line, const kva_err *e)
{
	kva_reader r;

	memset(&r, 0, sizeof r);
	r.name = name;
	kva_report_bad(&r, line, e, C.op.keep_going);
	C.bad = 1;
}

static uint32_t add_src(const char *name)
{
	C.srcs = xrealloc(C.srcs, C.nsrcs + 1, sizeof *C.srcs);
	C.srcs[C.nsrcs] = xstrdup(name);
	return (uint32_t)C.nsrcs++;
}

/*
 * Read one operand ("FILE", "LEG=FILE", "-").  Returns 0, 1 if bad
 * records were turned into error records (--keep-going), -1 to stop.
 */
static int read_operand(const char *operand)
{
	kva_reader r;
	unit u;
	kva_err e;
	char *legname = NULL;
	const char *path = operand, *eq = strchr(operand, '=');
	int st, rc = 0, first = 1;

	memset(&r, 0, sizeof r);
	memset(&u, 0, sizeof u);
	if (eq && eq != operand && !memchr(operand, '/', (size_t)(eq - operand))) {
		legname = xrealloc(NULL, (size_t)(eq - operand) + 1, 1);
		memcpy(legname, operand, (size_t)(eq - operand));
		legname[eq - operand] = '\0';
		path = eq + 1;
	}
	/* records here need not have a type: the lines, as they are */
	if (kva_reader_open(&r, path, C.op.max_record)) {
		free(legname);
		return -1;
	}
	u.src = add_src(r.name);
	u.leg_name = legname;

	while ((st = kva_reader_line(&r)) != 0) {
		size_t n;

		if (st == -2) {
			rc = -1;
			break;
		}
		u.line = r.line;
		u.nl = NULL;
		u.nnl = 0;
		if (st == -1) {
			kva_errf(&e, NULL, "record longer than %zu bytes (see --max-record)",
				 r.max_record);
			u.errline = r.line;
			goto bad;
		}
		n = r.lbuf.len;
		if (n && r.lbuf.p[n - 1] == '\r')
			r.lbuf.p[--n] = '\0';
		if (blank(r.lbuf.p, n))
			continue;
		if (first && opens_document(r.lbuf.p, n)) {
			/* a pretty-printed JSON document (hyperfine, vLLM with
			 * indent): the rest of the input is that one value */
			kva_buf doc = { 0 };
			size_t *nl = NULL, nnl = 0, cap = 0;
			int dst = 1;

			kva_buf_put(&doc, r.lbuf.p, n);
			while (dst == 1) {
				GROW(nl, nnl, cap);
				nl[nnl++] = doc.len;
				kva_buf_putc(&doc, '\n');
				if ((dst = kva_reader_line(&r)) == 1) {
					if (doc.len + r.lbuf.len > r.max_record)
						dst = -1;
					else
						kva_buf_put(&doc, r.lbuf.p, r.lbuf.len);
				}
			}
			if (dst == -2) {
				rc = -1;
			} else if (dst == -1) {
				u.errline = u.line;
				kva_errf(&e, NULL, "document longer than %zu bytes "
					 "(see --max-record)", r.max_record);
				report_bad(r.name, u.errline, &e);
				rc = C.op.keep_going ? 1 : -1;
			} else {
				u.nl = nl;
				u.nnl = nnl;
				if (parse_and_handle(&u, doc.p, doc.len, &e)) {
					report_bad(r.name, u.errline, &e);
					rc = C.op.keep_going ? 1 : -1;
				}
			}
			free(nl);
			kva_buf_free(&doc);
			break;
		}
		first = 0;
		if (!parse_and_handle(&u, r.lbuf.p, n, &e))
			continue;
bad:
		first = 0;
		report_bad(r.name, u.errline, &e);
		if (!C.op.keep_going) {
			rc = -1;
			break;
		}
		rc = 1;
	}
	kva_reader_close(&r);
	free(legname);
	return rc;
}

/* ---- statistics per leg --------------------------------------------------------- */

static void compute_leg(leg *l)
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
	order = xrealloc(NULL, n, sizeof *order);

	for (size_t i = 0; i < n; i++)
		order[i] = l->reps[i].v;
	l->sorted = xrealloc(NULL, n, sizeof *l->sorted);
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
	l->warmup_outlier = C.dir * -l->warmup_z > KVA_STATS_OUTLIER_Z;
	l->drift = 100 * kva_stats_drift_slope(order, n) / l->median;
	free(order);
}

static void put_rep(kva_buf *b, const leg *l, size_t i)
{
	kva_buf_puts(b, "{\"rep\":");
	kva_buf_i64(b, (int64_t)i);
	put_knum(b, "value", l->reps[i].v);
	put_key(b, "at");
	put_at(b, l->reps[i].src, l->reps[i].line);
	if (l->reps[i].why) {
		put_kbool(b, "failed", 1);
		put_kstr(b, "why", l->reps[i].why);
	}
	kva_buf_putc(b, '}');
}

/* "at" of the first rep (in rep order) holding value v. */
static void put_at_value(kva_buf *b, const leg *l, double v)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->reps[i].v == v) {
			put_at(b, l->reps[i].src, l->reps[i].line);
			return;
		}
	kva_buf_puts(b, "null");
}

static void write_leg(const leg *l)
{
	kva_buf b = { 0 };
	double lo, hi, lo3, hi3;
	size_t k;

	kva_buf_puts(&b, "{\"type\":\"leg\"");
	put_kstr(&b, "leg", l->name);
	put_kstr(&b, "metric", C.metric);
	put_kstr(&b, "direction", C.dir > 0 ? "higher" : "lower");
	put_kstr(&b, "format", fmt_name[l->format]);
	put_kint(&b, "n", l->n);
	put_kint(&b, "failed", l->failed);
	put_knum(&b, "median", l->median);
	put_knum(&b, "mean", l->mean);
	put_knum(&b, "min", l->min);
	put_knum(&b, "max", l->max);
	put_knum(&b, "stdev", l->stdev);
	put_knum(&b, "cv_pct", l->mean != 0 ? 100 * l->stdev / fabs(l->mean) : NAN);
	put_knum(&b, "mad", l->mad);
	put_knum(&b, "spread_pct", l->median != 0 ?
		 100 * (l->max - l->min) / fabs(l->median) : NAN);
	put_knum(&b, "q1", l->q1);
	put_knum(&b, "q3", l->q3);
	put_knum(&b, "iqr", l->q3 - l->q1);
	put_kstr(&b, "quartile_method", "linear");
	put_kint(&b, "tukey_1_5", l->tukey15);
	put_kint(&b, "tukey_3", l->tukey3);
	put_knum(&b, "warmup_z", l->warmup_z);
	put_kbool(&b, "warmup_outlier", l->warmup_outlier);
	put_knum(&b, "drift_pct_per_rep", l->drift);
	put_knum(&b, "ttft_median_ms", l->ttft_med);
	put_knum(&b, "tpot_median_ms", l->tpot_med);
	put_key(&b, "config_digest");
	if (l->cfg_seen)
		kva_buf_jstr(&b, l->cfg.digest, 64);
	else
		kva_buf_puts(&b, "null");
	put_key(&b, "config_varies");
	kva_buf_putc(&b, '[');
	for (size_t i = 0; i < l->nvaries; i++) {
		if (i)
			kva_buf_putc(&b, ',');
		kva_buf_jstr(&b, l->varies[i], strlen(l->varies[i]));
	}
	kva_buf_putc(&b, ']');
	put_kint(&b, "embedded_checked", l->emb_checked);
	put_kint(&b, "embedded_mismatched", l->emb_mismatched);
	if (l->other_metric)
		put_kint(&b, "rows_other_metric", l->other_metric);
	put_key(&b, "min_at");
	put_at_value(&b, l, l->min);
	put_key(&b, "max_at");
	put_at_value(&b, l, l->max);
	put_key(&b, "median_at");
	kva_buf_putc(&b, '[');
	if (l->n)
		put_at_value(&b, l, l->sorted[(l->n - 1) / 2]);
	if (l->n && l->n % 2 == 0) {
		kva_buf_putc(&b, ',');
		put_at_value(&b, l, l->sorted[l->n / 2]);
	}
	kva_buf_putc(&b, ']');
	put_key(&b, "sources");
	kva_buf_putc(&b, '[');
	for (size_t i = 0; i < l->nsrcs; i++) {
		if (i)
			kva_buf_putc(&b, ',');
		kva_buf_jstr(&b, C.srcs[l->srcs[i]], strlen(C.srcs[l->srcs[i]]));
	}
	kva_buf_putc(&b, ']');
	/* outliers and failed reps: counted above, listed (up to --max-reps)
	 * here, never dropped */
	kva_stats_tukey_fences(l->q1, l->q3, 1.5, &lo, &hi);
	kva_stats_tukey_fences(l->q1, l->q3, 3, &lo3, &hi3);
	put_key(&b, "outliers");
	kva_buf_putc(&b, '[');
	k = 0;
	for (size_t i = 0; i < l->n && k < C.op.max_reps; i++) {
		double v = l->reps[i].v;

		if (v >= lo && v <= hi)
			continue;
		if (k++)
			kva_buf_putc(&b, ',');
		put_rep(&b, l, i);
		b.len--; /* reopen the object */
		put_knum(&b, "beyond_iqr", v < lo3 || v > hi3 ? 3 : 1.5);
		kva_buf_putc(&b, '}');
	}
	kva_buf_putc(&b, ']');
	put_key(&b, "failed_reps");
	kva_buf_putc(&b, '[');
	k = 0;
	for (size_t i = 0; i < l->n && k < C.op.max_reps; i++) {
		if (!l->reps[i].why)
			continue;
		if (k++)
			kva_buf_putc(&b, ',');
		put_rep(&b, l, i);
	}
	kva_buf_putc(&b, ']');
	put_kint(&b, "reps_listed", l->n < C.op.max_reps ? l->n : C.op.max_reps);
	put_key(&b, "reps");
	kva_buf_putc(&b, '[');
	for (size_t i = 0; i < l->n && i < C.op.max_reps; i++) {
		if (i)
			kva_buf_putc(&b, ',');
		put_rep(&b, l, i);
	}
	kva_buf_puts(&b, "]}");
	kva_out_record(&b);
	kva_buf_free(&b);
}

/* ---- comparisons --------------------------------------------------------------- */

typedef struct cmp_result {
	double delta, speedup, ci_lo, ci_hi, chance, ttft_delta, tpot_delta;
	kva_mw mw;
	int mw_ok, non_overlap, cfg_known, cfg_same;
} cmp_result;

/* s * 100 (a - b) / b, positive = better in direction s; NaN unless b > 0. */
static double delta_pct(double a, double b, int s)
{
	return b > 0 ? s * 100 * (a - b) / b : NAN;
}

static void count_diff(void *arg, const char *k, const char *a, const char *b)
{
	(void)k, (void)a, (void)b;
	++*(size_t *)arg;
}

static void compare(const leg *l, const leg *ref, cmp_result *c)
{
	kva_rng rng;
	size_t ndiff = 0;

	c->delta = delta_pct(l->median, ref->median, C.dir);
	c->speedup = C.dir > 0 ? (ref->median > 0 ? l->median / ref->median : NAN)
			       : (l->median > 0 ? ref->median / l->median : NAN);
	/* a fresh generator per comparison: its interval depends on its two
	 * legs and the seed, not on which other legs were read */
	kva_rng_seed(&rng, C.op.seed);
	c->ci_lo = c->ci_hi = NAN;
	if (!kva_stats_boot_rel_change_ci(l->sorted, l->n, ref->sorted, ref->n,
					  C.op.resamples, CI_LEVEL, &rng,
					  &c->ci_lo, &c->ci_hi)) {
		double a = 100 * C.dir * c->ci_lo, b = 100 * C.dir * c->ci_hi;

		c->ci_lo = a < b ? a : b;
		c->ci_hi = a < b ? b : a;
	}
	c->mw_ok = !kva_stats_mann_whitney_sorted(l->sorted, l->n, ref->sorted,
						  ref->n, &c->mw);
	c->non_overlap = l->min > ref->max || l->max < ref->min;
	c->chance = kva_stats_inv_choose(l->n, ref->n);
	c->ttft_delta = delta_pct(l->ttft_med, ref->ttft_med, -1);
	c->tpot_delta = delta_pct(l->tpot_med, ref->tpot_med, -1);
	c->cfg_known = l->cfg_seen || ref->cfg_seen;
	if (c->cfg_known)
		cfg_diff(&ref->cfg, &l->cfg, count_diff, &ndiff);
	c->cfg_same = ndiff == 0;
}

static void put_diff(void *arg, const char *key, const char *a, const char *b)
{
	kva_buf *buf = arg;

	if (buf->p[buf->len - 1] != '[')
		kva_buf_putc(buf, ',');
	kva_buf_puts(buf, "{\"key\":");
	kva_buf_jstr(buf, key, strlen(key));
	if (a) {
		kva_buf_puts(buf, ",\"ref\":");
		kva_buf_puts(buf, a);
	}
	if (b) {
		kva_buf_puts(buf, ",\"leg\":");
		kva_buf_puts(buf, b);
	}
	kva_buf_putc(buf, '}');
}

static void write_comparison(const leg *l, const leg *ref, const cmp_result *c)
{
	kva_buf b = { 0 };

	kva_buf_puts(&b, "{\"type\":\"comparison\"");
	put_kstr(&b, "leg", l->name);
	put_kstr(&b, "ref", ref->name);
	put_kstr(&b, "metric", C.metric);
	put_kstr(&b, "direction", C.dir > 0 ? "higher" : "lower");
	put_kint(&b, "n", l->n);
	put_kint(&b, "n_ref", ref->n);
	put_knum(&b, "median", l->median);
	put_knum(&b, "median_ref", ref->median);
	put_knum(&b, "delta_pct", c->delta);
	put_knum(&b, "speedup", c->speedup);
	put_knum(&b, "ci_low_pct", c->ci_lo);
	put_knum(&b, "ci_high_pct", c->ci_hi);
	put_knum(&b, "ci_level", CI_LEVEL);
	put_kint(&b, "resamples", C.op.resamples);
	put_kint(&b, "seed", C.op.seed);
	put_knum(&b, "mw_u", c->mw_ok ? c->mw.u : NAN);
	put_knum(&b, "mw_p", c->mw_ok ? c->mw.p : NAN);
	put_kstr(&b, "mw_method", c->mw.exact ? "exact" : "normal");
	put_kbool(&b, "non_overlap", c->non_overlap);
	put_knum(&b, "non_overlap_chance", c->chance);
	put_kint(&b, "failed", l->failed);
	put_kint(&b, "failed_ref", ref->failed);
	put_knum(&b, "ttft_delta_pct", c->ttft_delta);
	put_knum(&b, "tpot_delta_pct", c->tpot_delta);
	put_key(&b, "config_same");
	kva_buf_puts(&b, c->cfg_known ? c->cfg_same ? "true" : "false" : "null");
	put_key(&b, "config_diff");
	kva_buf_putc(&b, '[');
	if (c->cfg_known)
		cfg_diff(&ref->cfg, &l->cfg, put_diff, &b);
	kva_buf_puts(&b, "]}");
	kva_out_record(&b);
	kva_buf_free(&b);
}

/* ---- claim checks ------------------------------------------------------------- */

/* The value of stat for leg l (against ref for delta_pct and speedup);
 * NaN if the input does not define it. */
static double derive(const char *stat, const leg *l, const leg *ref)
{
	if (!strcmp(stat, "median")) return l->median;
	if (!strcmp(stat, "mean")) return l->mean;
	if (!strcmp(stat, "min")) return l->min;
	if (!strcmp(stat, "max")) return l->max;
	if (!strcmp(stat, "stdev")) return l->stdev;
	if (!strcmp(stat, "cv_pct"))
		return l->mean != 0 ? 100 * l->stdev / fabs(l->mean) : NAN;
	if (!strcmp(stat, "mad")) return l->mad;
	if (!strcmp(stat, "spread_pct"))
		return l->median != 0 ? 100 * (l->max - l->min) / fabs(l->median) : NAN;
	if (!strcmp(stat, "q1")) return l->q1;
	if (!strcmp(stat, "q3")) return l->q3;
	if (!strcmp(stat, "n")) return (double)l->n;
	if (!strcmp(stat, "failed")) return (double)l->failed;
	if (!strcmp(stat, "ttft_median_ms")) return l->ttft_med;
	if (!strcmp(stat, "tpot_median_ms")) return l->tpot_med;
	if (!strcmp(stat, "delta_pct")) return delta_pct(l->median, ref->median, C.dir);
	/* speedup */
	return C.dir > 0 ? (ref->median > 0 ? l->median / ref->median : NAN)
			 : (l->median > 0 ? ref->median / l->median : NAN);
}

static int metric_free_stat(const char *stat)
{
	return !strcmp(stat, "n") || !strcmp(stat, "failed") ||
	       !strcmp(stat, "ttft_median_ms") || !strcmp(stat, "tpot_median_ms");
}

/* Start a claim_check record in b. */
static void check_head(kva_buf *b, const claim *cl, const char *legname,
		       const char *refname, const char *stat)
{
	kva_buf_puts(b, "{\"type\":\"claim_check\",\"source\":\"claim\",\"at\":");
	put_at(b, cl->src, cl->line);
	put_kstr(b, "leg", legname);
	if (refname)
		put_kstr(b, "ref", refname);
	put_kstr(b, "metric", C.metric ? C.metric : "");
	put_kstr(b, "stat", stat);
}

/* One claim_check record (JSON text) as a line for people:
 * "STATUS AT: LEG STAT [KEY] [vs REF]: reported R, derived D[, allowed A][: REASON]". */
static void text_check(const char *json, size_t len)
{
	kva_arena a = { 0 };
	kva_buf b = { 0 };
	kva_err e;
	const kva_jval *r = kva_json_parse(&a, json, len, &e), *v;
	static const char *const parts[] = { "status", "at", "leg", "stat", "key",
		"ref", "reported", "derived", "allowed", "reason", NULL };

	for (int i = 0; r && parts[i]; i++) {
		if (!(v = kva_json_get(r, parts[i])))
			continue;
		kva_buf_puts(&b, i == 0 ? "" : i == 1 ? " " : i == 2 ? ": " :
			     i == 5 ? " vs " : i == 6 ? ": reported " :
			     i == 7 ? ", derived " : i == 8 ? ", allowed " :
			     i == 9 ? ": " : " ");
		if (v->t == KVA_JSTR)
			kva_buf_put(&b, v->s, strlen(v->s));
		else
			kva_json_write(&b, v);
	}
	kva_out_record(&b);
	kva_buf_free(&b);
	kva_arena_free(&a);
}

static void check_end(kva_buf *b, const char *status, const char *reason)
{
	put_kstr(b, "status", status);
	if (reason)
		put_kstr(b, "reason", reason);
	kva_buf_putc(b, '}');
	if (strcmp(status, "agree"))
		C.mismatch = 1;
	if (C.op.text) {
		text_check(b->p, b->len);
		b->len = 0;
	} else {
		kva_out_record(b);
	}
}

static void check_config(const claim *cl, const leg *l, const char *legname,
			 const char *key, const kva_jval *v, double tol)
{
	kva_buf b = { 0 }, rv = { 0 };
	const cfgent *ce = l ? cfg_find(&l->cfg, key) : NULL;
	char reason[160];
	double r, d, allowed;

	check_head(&b, cl, legname, NULL, "config");
	put_kstr(&b, "key", key);
	put_key(&b, "reported");
	kva_json_write(&b, v);
	if (!l || !ce) {
		snprintf(reason, sizeof reason, !l ? "no leg \"%.60s\" in the input"
			 : "the leg's configuration has no \"%.60s\"", !l ? legname : key);
		put_key(&b, "derived");
		kva_buf_puts(&b, "null");
		check_end(&b, "unverifiable", reason);
		kva_buf_free(&b);
		return;
	}
	put_key(&b, "derived");
	kva_buf_puts(&b, ce->val);
	for (size_t i = 0; i < l->nvaries; i++)
		if (!strcmp(l->varies[i], key)) {
			check_end(&b, "unverifiable", "the value differs between the leg's reps");
			kva_buf_free(&b);
			return;
		}
	canon_value(&rv, v);
	if (v->t == KVA_JNUM && !kva_json_num(v, NULL, &r, NULL) &&
	    ce->val[0] != '"' && ce->val[0] != '[' &&
	    sscanf(ce->val, "%lf", &d) == 1 && strcmp(ce->val, "true") &&
	    strcmp(ce->val, "false") && strcmp(ce->val, "null")) {
		int ok = agrees(v, r, d, tol, &allowed);

		put_knum(&b, "allowed", allowed);
		check_end(&b, ok ? "agree" : "mismatch", NULL);
	} else {
		check_end(&b, strcmp(rv.p, ce->val) ? "mismatch" : "agree", NULL);
	}
	kva_buf_free(&b);
	kva_buf_free(&rv);
}

/* One reported statistic (v, named stat) of claim cl about leg l. */
static void check_stat(const claim *cl, const leg *l, const char *legname,
		       const leg *ref, const char *refname, const char *metric,
		       const char *stat, const kva_jval *v, double tol)
{
	int vs_ref = !strcmp(stat, "delta_pct") || !strcmp(stat, "speedup");
	char reason[200] = "";
	kva_buf b = { 0 };
	double r, d, allowed;

	check_head(&b, cl, legname, vs_ref ? (refname ? refname :
		   ref ? ref->name : "") : NULL, stat);
	put_key(&b, "reported");
	kva_json_write(&b, v);
	kva_json_num(v, NULL, &r, NULL);
	if (!l)
		snprintf(reason, sizeof reason, "no leg \"%.60s\" in the input",
			 legname);
	else if (vs_ref && !ref)
		snprintf(reason, sizeof reason, "no leg \"%.60s\" in the input",
			 refname ? refname : "");
	else if (vs_ref && ref == l)
		snprintf(reason, sizeof reason, "the leg is its own reference");
	else if (metric && strcmp(metric, C.metric) && !metric_free_stat(stat))
		snprintf(reason, sizeof reason, "the claim is about \"%.60s\"; "
			 "the headline metric is \"%.60s\" (see --metric)",
			 metric, C.metric);
	if (reason[0]) {
		put_key(&b, "derived");
		kva_buf_puts(&b, "null");
		check_end(&b, "unverifiable", reason);
		kva_buf_free(&b);
		return;
	}
	d = derive(stat, l, ref);
	put_knum(&b, "derived", d);
	if (!isfinite(d)) {
		snprintf(reason, sizeof reason, "%s is not defined for this input "
			 "(n = %zu)", stat, l->n);
		check_end(&b, "unverifiable", reason);
	} else {
		int ok = agrees(v, r, d, tol, &allowed);

		put_knum(&b, "diff", r - d);
		put_knum(&b, "diff_pct", d != 0 ? 100 * (r - d) / fabs(d) : NAN);
		put_knum(&b, "allowed", allowed);
		check_end(&b, ok ? "agree" : "mismatch", NULL);
	}
	kva_buf_free(&b);
}

static int is_claim_stat(const char *key)
{
	for (int i = 0; claim_stats[i]; i++)
		if (!strcmp(key, claim_stats[i]))
			return 1;
	return 0;
}

/* Evaluate every stored claim: one claim_check per reported number, in
 * the claim's member order; delta_pct and speedup are against the
 * claim's "ref", else dflt_ref. */
static void check_claims(const leg *dflt_ref)
{
	for (size_t ci = 0; ci < C.nclaims; ci++) {
		const claim *cl = &C.claims[ci];
		const kva_jval *rec, *v;
		const char *legname, *refname = NULL, *metric = NULL;
		const leg *l, *ref;
		double tol = C.op.tolerance_pct;
		kva_err e;

		kva_arena_reset(&C.arena);
		rec = kva_json_parse(&C.arena, cl->text, cl->len, &e);
		if (!rec) /* it parsed when it was read */
			kva_die(KVA_EXIT_TROUBLE, "%s:%ld: %s", C.srcs[cl->src],
				cl->line, e.msg);
		legname = kva_json_get(rec, "leg")->s;
		if ((v = kva_json_get(rec, "ref")))
			refname = v->s;
		if ((v = kva_json_get(rec, "metric")))
			metric = v->s;
		if ((v = kva_json_get(rec, "tolerance_pct")))
			kva_json_num(v, NULL, &tol, NULL);
		l = find_leg(legname);
		ref = refname ? find_leg(refname) : dflt_ref;
		for (const kva_jval *m = rec->child; m; m = m->next) {
			int si = !strcmp(m->key, "server_info");
			kva_buf path = { 0 };

			if (is_claim_stat(m->key)) {
				if (m->t != KVA_JNULL)
					check_stat(cl, l, legname, ref, refname,
						   metric, m->key, m, tol);
				continue;
			}
			if (!si && strcmp(m->key, "config"))
				continue;
			for (const kva_jval *k = m->child; k; k = k->next) {
				path.len = 0;
				if (si)
					kva_buf_puts(&path, "server_info.");
				kva_buf_put(&path, k->key, k->keylen);
				check_config(cl, l, legname, path.p, k, tol);
			}
			kva_buf_free(&path);
		}
	}
}

/* ---- text output ----------------------------------------------------------------- */

/* A strip of STRIP_WIDTH columns on the scale [lo, hi]: each rep at its
 * column; "." one rep, ":" two, a digit up to nine, "#" more. */
static void strip(kva_buf *b, const leg *l, double lo, double hi)
{
	unsigned cnt[STRIP_WIDTH] = { 0 };

	for (size_t i = 0; i < l->n; i++) {
		int col = hi > lo ? (int)floor((l->reps[i].v - lo) / (hi - lo) *
					       (STRIP_WIDTH - 1) + 0.5)
				  : STRIP_WIDTH / 2;

		cnt[col < 0 ? 0 : col >= STRIP_WIDTH ? STRIP_WIDTH - 1 : col]++;
	}
	kva_buf_putc(b, '|');
	for (int c = 0; c < STRIP_WIDTH; c++)
		kva_buf_putc(b, cnt[c] == 0 ? ' ' : cnt[c] == 1 ? '.' :
			     cnt[c] == 2 ? ':' : cnt[c] <= 9 ? (int)('0' + cnt[c]) : '#');
	kva_buf_putc(b, '|');
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

static void write_text(const leg *ref, const cmp_result *res)
{
	kva_buf b = { 0 };
	double lo = INFINITY, hi = -INFINITY;
	int w = 3;

	for (size_t i = 0; i < C.nlegs; i++) {
		int len = (int)strlen(C.legs[i]->name);

		w = len > w ? (len > 40 ? 40 : len) : w;
		lo = C.legs[i]->min < lo ? C.legs[i]->min : lo;
		hi = C.legs[i]->max > hi ? C.legs[i]->max : hi;
	}
	kva_buf_printf(&b, "metric %s (%s is better), reference %s, %g%% CI from %llu "
		       "resamples, seed %llu", C.metric, C.dir > 0 ? "higher" : "lower",
		       ref ? ref->name : "-", CI_LEVEL * 100, (unsigned long long)C.op.resamples,
		       (unsigned long long)C.op.seed);
	kva_out_record(&b);
	kva_buf_printf(&b, "%-*s %5s %4s %11s %8s %8s %19s %9s  reps", w, "leg",
		       "n", "fail", "median", "spread%", "delta%", "95% CI of delta%",
		       "MW p");
	if (lo <= hi)
		kva_buf_printf(&b, " %g .. %g", lo, hi);
	kva_out_record(&b);
	for (size_t i = 0; i < C.nlegs; i++) {
		const leg *l = C.legs[i];
		char med[32], spr[32], del[32], ci[48], p[32];

		text_num(med, sizeof med, l->median, 'g');
		text_num(spr, sizeof spr, l->median != 0 ?
			 100 * (l->max - l->min) / fabs(l->median) : NAN, 'f');
		if (l == ref || !ref || !l->n) { /* no comparison was made */
			snprintf(del, sizeof del, l == ref ? "ref" : "-");
			snprintf(ci, sizeof ci, "-");
			snprintf(p, sizeof p, "-");
		} else {
			const cmp_result *c = &res[i];

			text_num(del, sizeof del, c->delta, '+');
			if (isfinite(c->ci_lo))
				snprintf(ci, sizeof ci, "[%+.2f, %+.2f]", c->ci_lo, c->ci_hi);
			else
				snprintf(ci, sizeof ci, "-");
			text_num(p, sizeof p, c->mw_ok ? c->mw.p : NAN, 'p');
		}
		kva_buf_printf(&b, "%-*.*s %5zu %4zu %11s %8s %8s %19s %9s  ", w, w,
			       l->name, l->n, l->failed, med, spr, del, ci, p);
		strip(&b, l, lo, hi);
		kva_out_record(&b);
	}
	kva_buf_free(&b);
}

/* ---- main ----------------------------------------------------------------------- */

enum { O_METRIC = 256, O_HIGHER, O_LOWER, O_REF, O_RESAMPLES, O_SEED, O_TOL,
       O_INFMT, O_FORMAT, O_MAXREPS };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "metric", required_argument, NULL, O_METRIC },
		{ "higher-is-better", no_argument, NULL, O_HIGHER },
		{ "lower-is-better", no_argument, NULL, O_LOWER },
		{ "ref", required_argument, NULL, O_REF },
		{ "resamples", required_argument, NULL, O_RESAMPLES },
		{ "seed", required_argument, NULL, O_SEED },
		{ "tolerance", required_argument, NULL, O_TOL },
		{ "input-format", required_argument, NULL, O_INFMT },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "max-reps", required_argument, NULL, O_MAXREPS },
		{ "keep-going", no_argument, NULL, KVA_OPT_KEEP },
		{ "max-record", required_argument, NULL, KVA_OPT_MAXREC },
		{ "progress", no_argument, NULL, KVA_OPT_PROGRESS },
		{ "quiet", no_argument, NULL, KVA_OPT_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, KVA_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	opts *op = &C.op;
	const char *errstr;
	int64_t v;
	int c, rc = 0;
	cmp_result *res = NULL;
	const leg *ref = NULL;

	kva_progname = "bench-rederive";
	op->resamples = DEFAULT_RESAMPLES;
	op->seed = DEFAULT_SEED;
	op->tolerance_pct = DEFAULT_TOLERANCE_PCT;
	op->max_reps = DEFAULT_MAX_REPS;
	op->max_record = KVA_MAX_RECORD_DEFAULT;
	kva_stdopts so = { 0 };

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_METRIC:
			if (!*optarg)
				kva_die(2, "--metric: value is empty");
			op->metric = optarg;
			break;
		case O_HIGHER: op->dir = 1; break;
		case O_LOWER: op->dir = -1; break;
		case O_REF: op->ref = optarg; break;
		case O_RESAMPLES:
			if (kva_parse_i64(optarg, 1, 100000000, &v, &errstr))
				kva_die(2, "--resamples: value is %s: %s", errstr, optarg);
			op->resamples = (uint64_t)v;
			break;
		case O_SEED:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &v, &errstr))
				kva_die(2, "--seed: value is %s: %s", errstr, optarg);
			op->seed = (uint64_t)v;
			break;
		case O_TOL:
			if (kva_parse_double(optarg, &op->tolerance_pct, &errstr))
				kva_die(2, "--tolerance: value is %s: %s", errstr, optarg);
			if (op->tolerance_pct < 0)
				kva_die(2, "--tolerance: value is too small: %s", optarg);
			break;
		case O_INFMT:
			for (v = 0; v <= F_RUN && strcmp(optarg, fmt_name[v]); v++)
				;
			if (v > F_RUN)
				kva_die(2, "--input-format: want auto, sglang, vllm, "
					"hyperfine or run, not %s", optarg);
			op->input_format = (int)v;
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "text"))
				op->text = 1;
			else if (strcmp(optarg, "jsonl"))
				kva_die(2, "--format: want jsonl or text, not %s", optarg);
			break;
		case O_MAXREPS:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &v, &errstr))
				kva_die(2, "--max-reps: value is %s: %s", errstr, optarg);
			op->max_reps = (size_t)v;
			break;
		default:
			kva_stdopt(c, optarg, &so, usage);
			break;
		}
	}
	op->keep_going = so.keep_going;
	op->progress = so.progress;
	op->quiet = so.quiet;
	if (so.max_record)
		op->max_record = so.max_record;
	argc -= optind;
	argv += optind;
	if (op->metric && !op->dir && !metric_direction(op->metric))
		kva_die(2, "--metric: cannot tell whether a higher or lower \"%s\" is "
			"better (give --higher-is-better or --lower-is-better)",
			op->metric);
	kva_out_init(0);
	kva_progress_init(&C.prog, "rows", op->progress, op->quiet);

	if (argc == 0 && read_operand("-"))
		rc = 2;
	for (int i = 0; i < argc; i++) {
		int r = read_operand(argv[i]);

		if (r)
			rc = 2;
		if (r < 0 && !op->keep_going)
			break;
	}
	kva_progress_done(&C.prog, C.rows);
	if (rc && !op->keep_going)
		goto out; /* a leg missing reps would be a wrong answer */
	if (C.nlegs) {
		for (size_t i = 0; i < C.nlegs; i++)
			compute_leg(C.legs[i]);
		if (op->ref) {
			if (!(ref = find_leg(op->ref)) || !ref->n) {
				kva_out_flush();
				kva_warnx("--ref: no leg named \"%s\" with %s reps in "
					  "the input", op->ref, C.metric);
				rc = 2;
				goto out;
			}
		}
		for (size_t i = 0; !ref && i < C.nlegs; i++)
			if (C.legs[i]->n)
				ref = C.legs[i];
		res = xrealloc(NULL, C.nlegs, sizeof *res);
		memset(res, 0, C.nlegs * sizeof *res);
		for (size_t i = 0; i < C.nlegs; i++)
			if (ref && C.legs[i] != ref && C.legs[i]->n)
				compare(C.legs[i], ref, &res[i]);
		if (op->text) {
			write_text(ref, res);
		} else {
			for (size_t i = 0; i < C.nlegs; i++)
				write_leg(C.legs[i]);
			for (size_t i = 0; i < C.nlegs; i++)
				if (ref && C.legs[i] != ref && C.legs[i]->n)
					write_comparison(C.legs[i], ref, &res[i]);
		}
	} else if (op->ref) {
		kva_out_flush();
		kva_warnx("--ref: no leg named \"%s\" in the input", op->ref);
		rc = 2;
		goto out;
	}
	if (!op->text && C.checks.len)
		kva_out_line(C.checks.p, C.checks.len - 1);
	for (size_t off = 0; op->text && off < C.checks.len;) {
		const char *nl = memchr(C.checks.p + off, '\n', C.checks.len - off);

		text_check(C.checks.p + off, (size_t)(nl - (C.checks.p + off)));
		off = (size_t)(nl - C.checks.p) + 1;
	}
	check_claims(ref);
	if (!rc && C.mismatch)
		rc = 1;
out:
	if (kva_out_close())
		rc = 2;
	for (size_t i = 0; i < C.nlegs; i++)
		leg_free(C.legs[i]);
	for (size_t i = 0; i < C.nsrcs; i++)
		free(C.srcs[i]);
	for (size_t i = 0; i < C.nclaims; i++)
		free(C.claims[i].text);
	free(C.legs);
	free(C.srcs);
	free(C.claims);
	free(C.metric);
	free(res);
	kva_buf_free(&C.checks);
	kva_buf_free(&C.san);
	kva_arena_free(&C.arena);
	return rc;
}
