/*
 * bench_claim.c - claim records: the numbers a producer reported about a
 * leg (statistics, configuration), each checked against what the reps
 * give, one claim_check record per number.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* The reported numbers a claim record may carry. */
static const char *const claim_stats[] = { "median", "mean", "min", "max",
	"stdev", "cv_pct", "mad", "spread_pct", "q1", "q3", "n", "failed",
	"ttft_median_ms", "tpot_median_ms", "delta_pct", "speedup", NULL };

static int is_claim_stat(const char *key)
{
	for (int i = 0; claim_stats[i]; i++)
		if (!strcmp(key, claim_stats[i]))
			return 1;
	return 0;
}

/* config and server_info: flat objects; 1 if they hold anything. */
static int check_config_shape(kva_bench *b, kva_bench_unit *u,
			      const kva_jval *rec, kva_err *e)
{
	const kva_jval *v;
	int any = 0;

	for (int i = 0; i < 2; i++) {
		const char *key = i ? "server_info" : "config";

		if (!(v = kva_json_get(rec, key)))
			continue;
		u->errline = kva_bench_line(u, v);
		if (v->t != KVA_JOBJ)
			return kva_errf(e, key, "must be an object");
		for (const kva_jval *k = v->child; k; k = k->next) {
			u->errline = kva_bench_line(u, k);
			if (k->t == KVA_JOBJ)
				return kva_errf(e, kva_bench_field(b, "%s.%.60s", key,
								   k->key),
						"must be a number, string, boolean, "
						"null or array");
			any = 1;
		}
	}
	return any;
}

/* See bench.h.  The shape is checked now, so errors come in input order;
 * the claim is checked once every leg is complete. */
int kva_bench_claim_read(kva_bench *b, kva_bench_unit *u, kva_err *e)
{
	const kva_jval *rec = u->rec->root, *v;
	const char *s;
	double x;
	int any = 0, cfg;
	kva_bench_claim *cl;

	for (int i = 0; claim_stats[i]; i++)
		/* null: the producer did not report it; nothing to check */
		if ((v = kva_json_get(rec, claim_stats[i])) && v->t != KVA_JNULL) {
			if (kva_bench_num(u, v, claim_stats[i], &x, e))
				return -1;
			any = 1;
		}
	if ((cfg = check_config_shape(b, u, rec, e)) < 0)
		return -1;
	if (kva_bench_str(u, rec, "leg", &s, e) || kva_bench_str(u, rec, "ref", &s, e) ||
	    kva_bench_str(u, rec, "metric", &s, e))
		return -1;
	if ((v = kva_json_get(rec, "tolerance_pct")) &&
	    (kva_bench_num(u, v, "tolerance_pct", &x, e) ||
	     (x < 0 && kva_errf(e, "tolerance_pct", "must be >= 0"))))
		return -1;
	if (!any && !cfg)
		return 0; /* a declaration for audit-verdict, nothing to check */
	if (!kva_json_get(rec, "leg")) {
		u->errline = u->rec->line;
		return kva_errf(e, "leg", "missing (a claim names the leg it is about)");
	}
	KVA_GROW(b->claims, b->nclaims, b->capclaims);
	cl = &b->claims[b->nclaims++];
	cl->text = kva_xrealloc(NULL, u->rec->len + 1, 1);
	memcpy(cl->text, u->rec->text, u->rec->len);
	cl->text[u->rec->len] = '\0';
	cl->len = u->rec->len;
	cl->src = u->src;
	cl->line = u->rec->line;
	return 0;
}

/* The value of stat for leg l (against ref for delta_pct and speedup);
 * NaN if the input does not define it. */
static double derive(const char *stat, const kva_bench_leg *l,
		     const kva_bench_leg *ref, int dir)
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
	if (!strcmp(stat, "delta_pct"))
		return kva_bench_delta_pct(l->median, ref->median, dir);
	return kva_bench_speedup(l, ref, dir); /* speedup */
}

static int metric_free_stat(const char *stat)
{
	return !strcmp(stat, "n") || !strcmp(stat, "failed") ||
	       !strcmp(stat, "ttft_median_ms") || !strcmp(stat, "tpot_median_ms");
}

/* One claim being checked. */
typedef struct claimctx {
	kva_bench *b;
	const kva_bench_claim *cl;
	const char *legname, *refname, *metric;
	const kva_bench_leg *l, *ref;
	double tol;
} claimctx;

/* Start a claim_check record in o. */
static void check_head(kva_buf *o, const claimctx *c, const char *refname,
		       const char *stat)
{
	kva_buf_puts(o, "{\"type\":\"claim_check\",\"source\":\"claim\",\"at\":");
	kva_bench_put_at(o, c->b, c->cl->src, c->cl->line);
	kva_bench_put_kstr(o, "leg", c->legname);
	if (refname)
		kva_bench_put_kstr(o, "ref", refname);
	kva_bench_put_kstr(o, "metric", c->b->metric ? c->b->metric : "");
	kva_bench_put_kstr(o, "stat", stat);
}

/* See bench.h: "STATUS AT: LEG STAT [KEY] [vs REF]: reported R, derived
 * D[, allowed A][: REASON]". */
void kva_bench_text_check(const char *json, size_t len)
{
	kva_arena a = { 0 };
	kva_buf o = { 0 };
	kva_err e;
	const kva_jval *r = kva_json_parse(&a, json, len, &e), *v;
	static const char *const parts[] = { "status", "at", "leg", "stat", "key",
		"ref", "reported", "derived", "allowed", "reason", NULL };

	for (int i = 0; r && parts[i]; i++) {
		if (!(v = kva_json_get(r, parts[i])))
			continue;
		kva_buf_puts(&o, i == 0 ? "" : i == 1 ? " " : i == 2 ? ": " :
			     i == 5 ? " vs " : i == 6 ? ": reported " :
			     i == 7 ? ", derived " : i == 8 ? ", allowed " :
			     i == 9 ? ": " : " ");
		if (v->t == KVA_JSTR)
			kva_buf_put(&o, v->s, strlen(v->s));
		else
			kva_json_write(&o, v);
	}
	kva_out_record(&o);
	kva_buf_free(&o);
	kva_arena_free(&a);
}

/* Finish and write the record in o (and free it). */
static void check_end(kva_bench *b, kva_buf *o, const char *status,
		      const char *reason)
{
	kva_bench_put_kstr(o, "status", status);
	if (reason)
		kva_bench_put_kstr(o, "reason", reason);
	kva_buf_putc(o, '}');
	if (strcmp(status, "agree"))
		b->mismatch = 1;
	if (b->op.text)
		kva_bench_text_check(o->p, o->len);
	else
		kva_out_record(o);
	kva_buf_free(o);
}

/* Does a canonical configuration value read as a number? */
static int cfg_number(const char *val, double *d)
{
	return val[0] != '"' && val[0] != '[' && sscanf(val, "%lf", d) == 1 &&
	       strcmp(val, "true") && strcmp(val, "false") && strcmp(val, "null");
}

static void check_config(const claimctx *c, const char *key, const kva_jval *v)
{
	kva_buf o = { 0 }, rv = { 0 };
	const kva_bench_leg *l = c->l;
	const kva_cfgent *ce = l ? kva_cfg_find(&l->cfg, key) : NULL;
	char reason[160];
	double r, d, allowed;

	check_head(&o, c, NULL, "config");
	kva_bench_put_kstr(&o, "key", key);
	kva_bench_put_key(&o, "reported");
	kva_json_write(&o, v);
	kva_bench_put_key(&o, "derived");
	if (!l || !ce) {
		snprintf(reason, sizeof reason, !l ? "no leg \"%.60s\" in the input"
			 : "the leg's configuration has no \"%.60s\"",
			 !l ? c->legname : key);
		kva_buf_puts(&o, "null");
		check_end(c->b, &o, "unverifiable", reason);
		return;
	}
	kva_buf_puts(&o, ce->val);
	for (size_t i = 0; i < l->nvaries; i++)
		if (!strcmp(l->varies[i], key)) {
			check_end(c->b, &o, "unverifiable",
				  "the value differs between the leg's reps");
			return;
		}
	kva_cfg_canon(&rv, v);
	if (v->t == KVA_JNUM && !kva_json_num(v, NULL, &r, NULL) &&
	    cfg_number(ce->val, &d)) {
		int ok = kva_bench_agrees(v, r, d, c->tol, &allowed);

		kva_bench_put_knum(&o, "allowed", allowed);
		check_end(c->b, &o, ok ? "agree" : "mismatch", NULL);
	} else {
		check_end(c->b, &o, strcmp(rv.p, ce->val) ? "mismatch" : "agree", NULL);
	}
	kva_buf_free(&rv);
}

/* Why stat cannot be checked ("" if it can). */
static void unverifiable(const claimctx *c, const char *stat, int vs_ref,
			 char *reason, size_t cap)
{
	const char *metric = c->metric, *headline = c->b->metric;

	if (!c->l)
		snprintf(reason, cap, "no leg \"%.60s\" in the input", c->legname);
	else if (vs_ref && !c->ref)
		snprintf(reason, cap, "no leg \"%.60s\" in the input",
			 c->refname ? c->refname : "");
	else if (vs_ref && c->ref == c->l)
		snprintf(reason, cap, "the leg is its own reference");
	else if (metric && strcmp(metric, headline) && !metric_free_stat(stat))
		snprintf(reason, cap, "the claim is about \"%.60s\"; the headline "
			 "metric is \"%.60s\" (see --metric)", metric, headline);
}

/* One reported statistic (v, named stat) of the claim. */
static void check_stat(const claimctx *c, const char *stat, const kva_jval *v)
{
	int vs_ref = !strcmp(stat, "delta_pct") || !strcmp(stat, "speedup"), ok;
	char reason[200] = "";
	kva_buf o = { 0 };
	double r, d, allowed;

	check_head(&o, c, vs_ref ? (c->refname ? c->refname :
		   c->ref ? c->ref->name : "") : NULL, stat);
	kva_bench_put_key(&o, "reported");
	kva_json_write(&o, v);
	kva_json_num(v, NULL, &r, NULL);
	unverifiable(c, stat, vs_ref, reason, sizeof reason);
	if (reason[0]) {
		kva_bench_put_key(&o, "derived");
		kva_buf_puts(&o, "null");
		check_end(c->b, &o, "unverifiable", reason);
		return;
	}
	d = derive(stat, c->l, c->ref, c->b->dir);
	kva_bench_put_knum(&o, "derived", d);
	if (!isfinite(d)) {
		snprintf(reason, sizeof reason, "%s is not defined for this input "
			 "(n = %zu)", stat, c->l->n);
		check_end(c->b, &o, "unverifiable", reason);
		return;
	}
	kva_bench_put_knum(&o, "diff", r - d);
	kva_bench_put_knum(&o, "diff_pct", d != 0 ? 100 * (r - d) / fabs(d) : NAN);
	ok = kva_bench_agrees(v, r, d, c->tol, &allowed);
	kva_bench_put_knum(&o, "allowed", allowed);
	check_end(c->b, &o, ok ? "agree" : "mismatch", NULL);
}

/* Check every member of the claim rec, in member order. */
static void check_claim(claimctx *c, const kva_jval *rec)
{
	for (const kva_jval *m = rec->child; m; m = m->next) {
		int si = !strcmp(m->key, "server_info");
		kva_buf path = { 0 };

		if (is_claim_stat(m->key)) {
			if (m->t != KVA_JNULL)
				check_stat(c, m->key, m);
			continue;
		}
		if (!si && strcmp(m->key, "config"))
			continue;
		for (const kva_jval *k = m->child; k; k = k->next) {
			path.len = 0;
			if (si)
				kva_buf_puts(&path, "server_info.");
			kva_buf_put(&path, k->key, k->keylen);
			check_config(c, path.p, k);
		}
		kva_buf_free(&path);
	}
}

/* See bench.h. */
void kva_bench_claims(kva_bench *b, const kva_bench_leg *dflt_ref)
{
	for (size_t ci = 0; ci < b->nclaims; ci++) {
		claimctx c = { b, &b->claims[ci], NULL, NULL, NULL, NULL, NULL,
			       b->op.tolerance_pct };
		const kva_jval *rec, *v;
		kva_err e;

		kva_arena_reset(&b->arena);
		rec = kva_json_parse(&b->arena, c.cl->text, c.cl->len, &e);
		if (!rec) /* it parsed when it was read */
			kva_die(KVA_EXIT_TROUBLE, "%s:%ld: %s", b->srcs[c.cl->src],
				c.cl->line, e.msg);
		c.legname = kva_json_get(rec, "leg")->s;
		if ((v = kva_json_get(rec, "ref")))
			c.refname = v->s;
		if ((v = kva_json_get(rec, "metric")))
			c.metric = v->s;
		if ((v = kva_json_get(rec, "tolerance_pct")))
			kva_json_num(v, NULL, &c.tol, NULL);
		c.l = kva_bench_find_leg(b, c.legname);
		c.ref = c.refname ? kva_bench_find_leg(b, c.refname) : dflt_ref;
		check_claim(&c, rec);
	}
}
