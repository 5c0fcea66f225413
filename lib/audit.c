/*
 * audit.c - the rules of audit-verdict: bench-rederive's legs, comparisons
 * and claim checks plus evidence records in; one finding per rule and one
 * verdict out.  The rules and their thresholds are documented in
 * audit-verdict(1); this file states how each is computed.
 *
 * Semantics (SPEC section 10): objective gates FAIL, interpretive rules can
 * only lower a verdict, FAIL wins over FLAG over PASS, and evidence that is
 * absent is never a PASS: a rule that cannot see what it needs says
 * "evidence_absent" and FLAGs or FAILs, and one that sees some of it but
 * less than it needs (too few reps, a probe on too few prompts, a claim
 * only partly re-derived) says "partial" and FLAGs or FAILs the same way.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "stats.h"

const char *const kva_scope_names[] = { "patch", "bundle", "baseline",
	"profile", "harness", NULL };
const char *const kva_sev_names[] = { "PASS", "FLAG", "FAIL" };

/* ---- the records ---------------------------------------------------------- */

enum rtype { R_LEG, R_CMP, R_CHECK, R_CLAIM, R_ENGAGE, R_PARITY, R_LEVER,
	     R_CRASH, R_CONTENTION, R_HARNESS, R_PROFILE, R_INERT, R_ERROR,
	     R_NTYPES };
static const char *const rtype_names[R_NTYPES] = { "leg", "comparison",
	"claim_check", "claim", "engagement", "parity", "lever", "crash",
	"contention", "harness", "profile", "inert", "error" };

/* A kept record: its values (in the audit's arena) and where it was read. */
typedef struct arec {
	const kva_jval *v;
	char *at;           /* "FILE:LINE", owned */
} arec;

/* A lever: a change under audit, declared by a lever record or inferred
 * from the configuration keys that differ between the legs. */
typedef struct lever {
	const char *name;
	char cls;                /* 'A', 'B', or 0: indeterminate */
	const char *why;         /* how the class was decided (owned by audit) */
	const arec *rec;         /* the lever record, or NULL when inferred */
	const char **keys;       /* inferred: the differing keys (borrowed) */
	size_t nkeys;
	int visible;             /* the live server reports its change */
	double slice;            /* delta of its own leg vs the ref, or NaN */
	const char *slice_leg;
} lever;

struct kva_audit {
	kva_audit_opts o;
	kva_arena arena;         /* values of the kept records */
	char **texts;            /* their text, which the values point into */
	size_t ntexts, captexts;
	arec *r[R_NTYPES];
	size_t n[R_NTYPES], cap[R_NTYPES];
	size_t refused;          /* records refused under --keep-going */
	char *refused_at;        /* the first of them */
	char **strs;             /* strings the result points to */
	size_t nstrs, capstrs;
	size_t capf;
	int evaluated;
	kva_audit_result res;
	/* what is audited, set by eval */
	const arec *cmp, *cand, *ref;   /* comparison and its two leg records */
	const arec *aa;                 /* the A/A comparison (leg "aa"), or NULL */
	const char *cand_name, *ref_name;
	const char *headline;           /* from the claims */
	const kva_jval *isolated;       /* the claimed isolated speedup */
	const arec *isolated_rec;
	lever *lev;
	size_t nlev;
	int declared;                   /* levers come from lever records */
	int real_delta_holds;
	int higher;                     /* the metric's direction */
	kva_buf ledger_text;            /* the ledger for people (--ledger) */
};

static void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	if (!(p = realloc(p, n && size ? n * size : 1)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	return p;
}

#define GROW(p, n, cap) do { if ((n) == (cap)) { \
	(cap) = (cap) ? 2 * (cap) : 8; \
	(p) = xrealloc((p), (cap), sizeof *(p)); } } while (0)

/* Keep s (malloc'd) until the audit is freed; returns it. */
static char *own(kva_audit *a, char *s)
{
	if (!s)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	GROW(a->strs, a->nstrs, a->capstrs);
	a->strs[a->nstrs++] = s;
	return s;
}

/* vsnprintf into a new string of the right size (exits 2 on OOM). */
static char *vdup(const char *f, va_list ap) __attribute__((format(printf, 1, 0)));
static char *vdup(const char *f, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, f, ap2);
	va_end(ap2);
	s = xrealloc(NULL, (size_t)(n < 0 ? 0 : n) + 1, 1);
	vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, f, ap);
	return s;
}

/* A formatted string owned by a (freed with it). */
static char *fmt(kva_audit *a, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(kva_audit *a, const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	s = vdup(f, ap);
	va_end(ap);
	return own(a, s);
}

/* ---- reading values ---------------------------------------------------------- */

static const char *jstr(const kva_jval *o, const char *k)
{
	const kva_jval *v = kva_json_get(o, k);

	return v && v->t == KVA_JSTR ? v->s : NULL;
}

/* The number k of o, NaN when absent or null. */
static double jnum(const kva_jval *o, const char *k)
{
	const kva_jval *v = kva_json_get(o, k);
	double d;

	if (!v || v->t != KVA_JNUM || kva_json_num(v, NULL, &d, NULL))
		return NAN;
	return d;
}

/* The boolean k of o: 1, 0, or dflt when absent or null. */
static int jbool(const kva_jval *o, const char *k, int dflt)
{
	const kva_jval *v = kva_json_get(o, k);

	return !v ? dflt : v->t == KVA_JTRUE ? 1 : v->t == KVA_JFALSE ? 0 : dflt;
}

static int streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* Whether the array of strings arr holds s. */
static int arr_has(const kva_jval *arr, const char *s)
{
	if (!arr || arr->t != KVA_JARR)
		return 0;
	for (const kva_jval *e = arr->child; e; e = e->next)
		if (e->t == KVA_JSTR && !strcmp(e->s, s))
			return 1;
	return 0;
}

/* ---- schemas ----------------------------------------------------------------- */

enum { T_STR = 1, T_NUM = 2, T_BOOL = 4, T_ARR = 8, T_OBJ = 16, T_NULL = 32 };
enum { F_REQ = 1, F_INT = 2, F_NONNEG = 4, F_POS = 8, F_STRARR = 16 };

typedef struct fspec {
	const char *name;
	unsigned types;
	unsigned flags;
	const char *const *oneof; /* allowed strings, or NULL */
} fspec;

static const char *const dirs[] = { "higher", "lower", NULL };
static const char *const statuses[] = { "agree", "mismatch", "unverifiable", NULL };
static const char *const headlines[] = { "kernel", "e2e", "serving", "isolated", NULL };
static const char *const classes[] = { "A", "B", NULL };
static const char *const routes[] = { "optimize", "skip", NULL };

#define NUMN (T_NUM | T_NULL)
static const fspec s_leg[] = {
	{ "leg", T_STR, F_REQ, NULL }, { "metric", T_STR, F_REQ, NULL },
	{ "direction", T_STR, F_REQ, dirs },
	{ "n", T_NUM, F_REQ | F_INT | F_NONNEG, NULL },
	{ "failed", T_NUM, F_REQ | F_INT | F_NONNEG, NULL },
	{ "median", NUMN, F_REQ, NULL }, { "min", NUMN, 0, NULL },
	{ "max", NUMN, 0, NULL }, { "spread_pct", NUMN, 0, NULL },
	{ "warmup_outlier", T_BOOL, 0, NULL }, { "warmup_z", NUMN, 0, NULL },
	{ "ttft_median_ms", NUMN, 0, NULL }, { "tpot_median_ms", NUMN, 0, NULL },
	{ "config_varies", T_ARR, F_STRARR, NULL },
	{ "min_at", T_STR | T_NULL, 0, NULL }, { "max_at", T_STR | T_NULL, 0, NULL },
	{ "median_at", T_ARR, 0, NULL }, { "reps", T_ARR, 0, NULL },
	{ "failed_reps", T_ARR, 0, NULL }, { "sources", T_ARR, F_STRARR, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_cmp[] = {
	{ "leg", T_STR, F_REQ, NULL }, { "ref", T_STR, F_REQ, NULL },
	{ "metric", T_STR, 0, NULL }, { "direction", T_STR, 0, dirs },
	{ "n", T_NUM, F_REQ | F_INT | F_NONNEG, NULL },
	{ "n_ref", T_NUM, F_REQ | F_INT | F_NONNEG, NULL },
	{ "median", NUMN, 0, NULL }, { "median_ref", NUMN, 0, NULL },
	{ "delta_pct", NUMN, F_REQ, NULL }, { "speedup", NUMN, 0, NULL },
	{ "ci_low_pct", NUMN, F_REQ, NULL }, { "ci_high_pct", NUMN, 0, NULL },
	{ "mw_p", NUMN, F_REQ, NULL }, { "non_overlap", T_BOOL, F_REQ, NULL },
	{ "failed", T_NUM, F_INT | F_NONNEG, NULL },
	{ "failed_ref", T_NUM, F_INT | F_NONNEG, NULL },
	{ "ttft_delta_pct", NUMN, 0, NULL }, { "tpot_delta_pct", NUMN, 0, NULL },
	{ "config_same", T_BOOL | T_NULL, 0, NULL },
	{ "config_diff", T_ARR, F_REQ, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_check[] = {
	{ "source", T_STR, 0, NULL }, { "at", T_STR, F_REQ, NULL },
	{ "leg", T_STR, F_REQ, NULL }, { "ref", T_STR, 0, NULL },
	{ "stat", T_STR, F_REQ, NULL }, { "key", T_STR, 0, NULL },
	{ "status", T_STR, F_REQ, statuses }, { "reason", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_claim[] = {
	{ "leg", T_STR, 0, NULL }, { "ref", T_STR, 0, NULL },
	{ "headline", T_STR, 0, headlines },
	{ "isolated_speedup", T_NUM, F_POS, NULL }, { "lever", T_STR, 0, NULL },
	{ "unreported", T_ARR, F_STRARR, NULL }, { "source", T_STR, 0, NULL },
	{ "scope", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_engage[] = {
	{ "leg", T_STR, F_REQ, NULL },
	{ "count", T_NUM, F_REQ | F_INT | F_NONNEG, NULL },
	{ "line", T_STR, 0, NULL }, { "pattern", T_STR, 0, NULL },
	{ "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_parity[] = {
	{ "leg", T_STR, 0, NULL },
	{ "byte_exact", T_NUM, F_REQ | F_INT | F_NONNEG, NULL },
	{ "total", T_NUM, F_REQ | F_INT | F_POS, NULL },
	{ "reference_coherent", T_BOOL, F_REQ, NULL },
	{ "accuracy", T_OBJ, 0, NULL }, { "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_accuracy[] = {
	{ "metric", T_STR, 0, NULL }, { "ref", T_NUM, F_REQ, NULL },
	{ "cand", T_NUM, F_REQ, NULL },
	{ "max_drop", T_NUM, F_REQ | F_NONNEG, NULL },
	{ "n", T_NUM, F_INT | F_NONNEG, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_lever[] = {
	{ "name", T_STR, F_REQ, NULL }, { "class", T_STR, 0, classes },
	{ "keys", T_ARR, F_STRARR, NULL }, { "consequences", T_ARR, F_STRARR, NULL },
	{ "leg", T_STR, 0, NULL }, { "evidence", T_STR, 0, NULL },
	{ "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_crash[] = {
	{ "leg", T_STR, F_REQ, NULL }, { "crashed", T_BOOL, F_REQ, NULL },
	{ "after_rep", T_NUM, F_INT | F_NONNEG, NULL },
	{ "count", T_NUM, F_INT | F_NONNEG, NULL },
	{ "message", T_STR, 0, NULL }, { "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_contention[] = {
	{ "leg", T_STR, F_REQ, NULL }, { "contended", T_BOOL, F_REQ, NULL },
	{ "what", T_STR, 0, NULL }, { "count", T_NUM, F_INT | F_NONNEG, NULL },
	{ "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_harness[] = {
	{ "op", T_STR, 0, NULL }, { "baseline_backend", T_STR, 0, NULL },
	{ "candidate_backend", T_STR, 0, NULL }, { "self_compare", T_BOOL, 0, NULL },
	{ "rel_err", T_NUM, F_NONNEG, NULL }, { "rel_tol", T_NUM, F_POS, NULL },
	{ "dispatch_path", T_STR, 0, NULL }, { "served_path", T_STR, 0, NULL },
	{ "shapes", T_ARR, 0, NULL }, { "served_shapes", T_ARR, 0, NULL },
	{ "oracle_sha256", T_STR, 0, NULL }, { "oracle_sha256_ref", T_STR, 0, NULL },
	{ "isolated_speedup", T_NUM, F_POS, NULL }, { "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_profile[] = {
	{ "kernel", T_STR, F_REQ, NULL }, { "op", T_STR, F_REQ, NULL },
	{ "shape", T_STR | T_ARR, F_REQ, NULL },
	{ "gpu_time_us", T_NUM, F_REQ | F_NONNEG, NULL },
	{ "edit", T_BOOL, 0, NULL }, { "source_file", T_STR, 0, NULL },
	{ "route", T_STR, 0, routes }, { "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_inert[] = {
	{ "key", T_STR, F_REQ, NULL }, { "observed", T_NUM, F_REQ, NULL },
	{ "limit", T_NUM, F_REQ, NULL }, { "what", T_STR, 0, NULL },
	{ "source", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec s_error[] = {
	{ "file", T_STR, 0, NULL }, { "line", T_NUM, F_INT | F_NONNEG, NULL },
	{ "field", T_STR, 0, NULL }, { "message", T_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};
static const fspec *const schemas[R_NTYPES] = { s_leg, s_cmp, s_check,
	s_claim, s_engage, s_parity, s_lever, s_crash, s_contention, s_harness,
	s_profile, s_inert, s_error };

/* The name of a nested field for a diagnostic (one at a time is enough:
 * the error is reported before the next record is read). */
static char fieldbuf[128];

static const char *nested(const char *parent, const char *name, long idx)
{
	if (idx >= 0)
		snprintf(fieldbuf, sizeof fieldbuf, "%.50s[%ld]%s%.50s", parent,
			 idx, name ? "." : "", name ? name : "");
	else
		snprintf(fieldbuf, sizeof fieldbuf, "%.50s.%.50s", parent, name);
	return fieldbuf;
}

static const char *type_words(unsigned t)
{
	switch (t) {
	case T_STR: return "a string";
	case T_NUM: return "a number";
	case T_BOOL: return "true or false";
	case T_ARR: return "an array";
	case T_OBJ: return "an object";
	case T_NUM | T_NULL: return "a number or null";
	case T_STR | T_NULL: return "a string or null";
	case T_BOOL | T_NULL: return "true, false or null";
	case T_STR | T_ARR: return "a string or an array";
	default: return "of another type";
	}
}

static unsigned type_bit(const kva_jval *v)
{
	switch (v->t) {
	case KVA_JSTR: return T_STR;
	case KVA_JNUM: return T_NUM;
	case KVA_JTRUE: case KVA_JFALSE: return T_BOOL;
	case KVA_JARR: return T_ARR;
	case KVA_JOBJ: return T_OBJ;
	default: return T_NULL;
	}
}

/* Check obj against spec; field names are prefixed with parent (or not,
 * when NULL).  Returns 0, or -1 with e. */
static int check_fields(const kva_jval *obj, const fspec *spec,
			const char *parent, kva_err *e)
{
	for (const fspec *f = spec; f->name; f++) {
		const kva_jval *v = kva_json_get(obj, f->name);
		const char *name = parent ? nested(parent, f->name, -1) : f->name;
		double d;
		int64_t i;

		if (!v) {
			if (f->flags & F_REQ)
				return kva_errf(e, name, "missing");
			continue;
		}
		if (!(type_bit(v) & f->types))
			return kva_errf(e, name, "must be %s", type_words(f->types));
		if (v->t == KVA_JSTR && memchr(v->s, '\0', v->slen))
			return kva_errf(e, name, "must not hold a NUL character");
		if (v->t == KVA_JNUM) {
			if (f->flags & F_INT) {
				if (kva_json_int(v, name, &i, e))
					return -1;
				d = (double)i;
			} else if (kva_json_num(v, name, &d, e)) {
				return -1;
			}
			if (!isfinite(d))
				return kva_errf(e, name, "must be a finite number");
			if ((f->flags & F_NONNEG) && d < 0)
				return kva_errf(e, name, "must be >= 0, got %.*s",
						(int)(v->rawlen > 40 ? 40 : v->rawlen), v->raw);
			if ((f->flags & F_POS) && d <= 0)
				return kva_errf(e, name, "must be > 0, got %.*s",
						(int)(v->rawlen > 40 ? 40 : v->rawlen), v->raw);
		}
		if (v->t == KVA_JSTR && f->oneof) {
			int ok = 0;
			kva_buf words = { 0 };

			for (int k = 0; f->oneof[k]; k++) {
				ok |= !strcmp(v->s, f->oneof[k]);
				kva_buf_printf(&words, "%s%s", k ? (f->oneof[k + 1] ?
					       ", " : " or ") : "", f->oneof[k]);
			}
			if (!ok) {
				kva_errf(e, name, "must be %s, got \"%.40s\"",
					 words.p, v->s);
				kva_buf_free(&words);
				return -1;
			}
			kva_buf_free(&words);
		}
		if (v->t == KVA_JARR && (f->flags & F_STRARR)) {
			long k = 0;

			for (const kva_jval *el = v->child; el; el = el->next, k++)
				if (el->t != KVA_JSTR || memchr(el->s, '\0', el->slen))
					return kva_errf(e, nested(name, NULL, k),
							"must be a string");
		}
	}
	return 0;
}

/* The checks a type needs beyond its flat schema. */
static int check_deep(int t, const kva_jval *v, kva_err *e)
{
	const kva_jval *x;
	long k;

	switch (t) {
	case R_LEG:
		for (int w = 0; w < 2; w++) {
			const char *arr = w ? "failed_reps" : "reps";

			k = 0;
			x = kva_json_get(v, arr);
			for (const kva_jval *el = x ? x->child : NULL; el; el = el->next, k++) {
				const kva_jval *at;

				if (el->t != KVA_JOBJ)
					return kva_errf(e, nested(arr, NULL, k), "must be an object");
				if ((at = kva_json_get(el, "at")) && at->t != KVA_JSTR)
					return kva_errf(e, nested(arr, "at", k), "must be a string");
				if ((at = kva_json_get(el, "why")) && at->t != KVA_JSTR)
					return kva_errf(e, nested(arr, "why", k), "must be a string");
			}
		}
		k = 0;
		x = kva_json_get(v, "median_at");
		for (const kva_jval *el = x ? x->child : NULL; el; el = el->next, k++)
			if (el->t != KVA_JSTR && el->t != KVA_JNULL)
				return kva_errf(e, nested("median_at", NULL, k),
						"must be a string or null");
		return 0;
	case R_CMP:
		k = 0;
		x = kva_json_get(v, "config_diff");
		for (const kva_jval *el = x->child; el; el = el->next, k++) {
			const kva_jval *key = kva_json_get(el, "key");

			if (el->t != KVA_JOBJ)
				return kva_errf(e, nested("config_diff", NULL, k),
						"must be an object");
			if (!key || key->t != KVA_JSTR || memchr(key->s, '\0', key->slen))
				return kva_errf(e, nested("config_diff", "key", k),
						key ? "must be a string" : "missing");
		}
		return 0;
	case R_PARITY:
		if ((x = kva_json_get(v, "accuracy")) &&
		    check_fields(x, s_accuracy, "accuracy", e))
			return -1;
		if (jnum(v, "byte_exact") > jnum(v, "total"))
			return kva_errf(e, "byte_exact", "must be <= total");
		return 0;
	}
	return 0;
}

/* See audit.h. */
int kva_audit_consumes(const char *type)
{
	for (int t = 0; t < R_NTYPES; t++)
		if (!strcmp(type, rtype_names[t]))
			return 1;
	return 0;
}

/* See audit.h.  The record is checked on the caller's parse, then copied
 * and parsed again into the audit's own arena. */
int kva_audit_add(kva_audit *a, const kva_jval *root, const char *text,
		  size_t len, const char *file, long line, kva_err *e)
{
	const char *type = jstr(root, "type");
	kva_buf at = { 0 };
	char *copy;
	int t;

	for (t = 0; t < R_NTYPES && !streq(type, rtype_names[t]); t++)
		;
	if (t == R_NTYPES)
		return kva_errf(e, "type", "not a record audit-verdict reads");
	if (check_fields(root, schemas[t], NULL, e) || check_deep(t, root, e))
		return -1;
	copy = xrealloc(NULL, len + 1, 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	GROW(a->texts, a->ntexts, a->captexts);
	a->texts[a->ntexts++] = copy;
	GROW(a->r[t], a->n[t], a->cap[t]);
	if (!(a->r[t][a->n[t]].v = kva_json_parse(&a->arena, copy, len, e)))
		return -1; /* it parsed a moment ago: cannot happen */
	kva_buf_printf(&at, "%s:%ld", file, line);
	a->r[t][a->n[t]].at = at.p;
	a->n[t]++;
	return 0;
}

/* See audit.h. */
void kva_audit_note_refused(kva_audit *a, const char *file, long line)
{
	if (!a->refused++) {
		kva_buf at = { 0 };

		kva_buf_printf(&at, "%s:%ld", file, line);
		a->refused_at = at.p;
	}
}

/* ---- life cycle -------------------------------------------------------------------- */

/* See audit.h. */
void kva_audit_opts_default(kva_audit_opts *o)
{
	memset(o, 0, sizeof *o);
	o->scope = KVA_SCOPE_PATCH;
	o->noise_band_pct = 0.5;
	o->baseline_throughput = NAN;
	o->min_reps = 3;
	o->alpha = 0.05;
	o->min_effect_pct = 1;
	o->latency_regress_pct = 10;
	o->latency_hard_pct = 300;
	o->rel_tol = 0.01;
	o->fragment_pct = 5;
}

/* See audit.h. */
kva_audit *kva_audit_new(const kva_audit_opts *o)
{
	kva_audit *a = calloc(1, sizeof *a);

	if (!a)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	a->o = *o;
	a->res.counts_as_kernel_win = -1;
	a->res.e2e_delta_pct = a->res.baseline_drift_pct = NAN;
	return a;
}

/* See audit.h. */
void kva_audit_free(kva_audit *a)
{
	if (!a)
		return;
	for (int t = 0; t < R_NTYPES; t++) {
		for (size_t i = 0; i < a->n[t]; i++)
			free(a->r[t][i].at);
		free(a->r[t]);
	}
	for (size_t i = 0; i < a->ntexts; i++)
		free(a->texts[i]);
	for (size_t i = 0; i < a->nstrs; i++)
		free(a->strs[i]);
	for (size_t i = 0; i < a->res.nfindings; i++) {
		kva_buf_free(&a->res.findings[i].evidence);
		kva_buf_free(&a->res.findings[i].json);
	}
	for (size_t i = 0; i < a->nlev; i++)
		free(a->lev[i].keys);
	free(a->lev);
	free(a->res.findings);
	kva_buf_free(&a->res.json);
	kva_buf_free(&a->res.text);
	kva_buf_free(&a->res.ledger);
	kva_buf_free(&a->ledger_text);
	free(a->texts);
	free(a->strs);
	free(a->refused_at);
	kva_arena_free(&a->arena);
	free(a);
}

/* See audit.h. */
int kva_audit_exit_status(int verdict)
{
	return verdict == KVA_SEV_PASS ? KVA_EXIT_OK :
	       verdict == KVA_SEV_FLAG ? KVA_EXIT_FLAG : KVA_EXIT_NEGATIVE;
}

/* ---- numbers and evidence ---------------------------------------------------------- */

/* Shortest %g that reads back as v; null for NaN and infinities. */
static void put_kstr(kva_buf *b, const char *k, const char *s)
{
	kva_buf_printf(b, ",\"%s\":", k);
	if (s)
		kva_buf_jstr(b, s, strlen(s));
	else
		kva_buf_puts(b, "null");
}

static void put_knum(kva_buf *b, const char *k, double v)
{
	kva_buf_printf(b, ",\"%s\":", k);
	kva_buf_num(b, v);
}

/* A number for people: "-" when undefined, else %.6g. */
static const char *hnum(kva_audit *a, double v)
{
	return isfinite(v) ? fmt(a, "%.6g", v) : "-";
}

/* A signed percentage for people: "+7.71%". */
static const char *hpct(kva_audit *a, double v)
{
	return isfinite(v) ? fmt(a, "%+.2f%%", v) : "n/a";
}

/* The JSON text of v (byte-exact), owned by a; "null" for NULL. */
static const char *hjson(kva_audit *a, const kva_jval *v)
{
	kva_buf b = { 0 };

	if (!v)
		return "absent";
	if (v->t == KVA_JSTR) {
		kva_buf_put(&b, v->s, v->slen);
	} else {
		kva_json_write(&b, v);
	}
	kva_buf_put(&b, "", 0);
	return own(a, b.p);
}

/* Evidence items: {"what":W,"value":V,"at":"FILE:LINE"[,"source":S]}. */
static void ev_open(kva_audit_finding *f, const char *what)
{
	kva_buf *b = &f->evidence;

	kva_buf_puts(b, b->len ? ",{\"what\":" : "[{\"what\":");
	kva_buf_jstr(b, what, strlen(what));
	kva_buf_puts(b, ",\"value\":");
}

static void ev_close(kva_audit_finding *f, const char *at, const char *source)
{
	put_kstr(&f->evidence, "at", at);
	if (source)
		put_kstr(&f->evidence, "source", source);
	kva_buf_putc(&f->evidence, '}');
}

static void ev_num(kva_audit_finding *f, const char *what, double v,
		   const char *at, const char *source)
{
	ev_open(f, what);
	kva_buf_num(&f->evidence, v);
	ev_close(f, at, source);
}

static void ev_str(kva_audit_finding *f, const char *what, const char *s,
		   const char *at, const char *source)
{
	ev_open(f, what);
	if (s)
		kva_buf_jstr(&f->evidence, s, strlen(s));
	else
		kva_buf_puts(&f->evidence, "null");
	ev_close(f, at, source);
}

static void ev_bool(kva_audit_finding *f, const char *what, int v,
		    const char *at, const char *source)
{
	ev_open(f, what);
	kva_buf_puts(&f->evidence, v < 0 ? "null" : v ? "true" : "false");
	ev_close(f, at, source);
}

static void ev_json(kva_audit_finding *f, const char *what, const kva_jval *v,
		    const char *at, const char *source)
{
	ev_open(f, what);
	if (v)
		kva_json_write(&f->evidence, v);
	else
		kva_buf_puts(&f->evidence, "null");
	ev_close(f, at, source);
}

/* An evidence record's own "source" (the artifact it was taken from). */
static const char *src_of(const arec *r)
{
	return r ? jstr(r->v, "source") : NULL;
}

/* ---- findings ---------------------------------------------------------------------- */

/* More rules than any scope has: findings never move once made. */
#define MAX_RULES 32

static kva_audit_finding *new_finding(kva_audit *a, const char *rule)
{
	kva_audit_finding *f;

	if (!a->res.findings)
		a->res.findings = xrealloc(NULL, MAX_RULES, sizeof *f);
	if (a->res.nfindings == MAX_RULES)
		kva_die(KVA_EXIT_TROUBLE, "internal error: too many rules");
	f = &a->res.findings[a->res.nfindings++];
	memset(f, 0, sizeof *f);
	f->rule = rule;
	f->severity = KVA_SEV_PASS;
	f->status = "holds";
	f->action = "pass";
	return f;
}

static char *vfmt(kva_audit *a, const char *f, va_list ap) __attribute__((format(printf, 2, 0)));
static char *vfmt(kva_audit *a, const char *f, va_list ap)
{
	return own(a, vdup(f, ap));
}

static void threshold(kva_audit *a, kva_audit_finding *f, const char *fm, ...)
	__attribute__((format(printf, 3, 4)));
static void threshold(kva_audit *a, kva_audit_finding *f, const char *fm, ...)
{
	va_list ap;

	va_start(ap, fm);
	f->threshold = vfmt(a, fm, ap);
	va_end(ap);
}

/* Settle f: severity, status, action and what was found. */
static void conclude(kva_audit *a, kva_audit_finding *f, int sev,
		     const char *status, const char *action, const char *fm, ...)
	__attribute__((format(printf, 6, 7)));
static void conclude(kva_audit *a, kva_audit_finding *f, int sev,
		     const char *status, const char *action, const char *fm, ...)
{
	va_list ap;

	f->severity = sev;
	f->status = status;
	f->action = sev == KVA_SEV_PASS ? "pass" : action;
	va_start(ap, fm);
	f->message = vfmt(a, fm, ap);
	va_end(ap);
}

/* What a FAIL asks for in this scope. */
static const char *fail_action(const kva_audit *a)
{
	switch (a->o.scope) {
	case KVA_SCOPE_BASELINE:
	case KVA_SCOPE_PROFILE:
		return "remeasure";
	case KVA_SCOPE_HARNESS:
		return "redo_harness";
	}
	return "eject";
}

/* A list being built for a message: "a, b and c". */
typedef struct words {
	kva_buf b;
	size_t n;
	const char *sep;   /* between items; NULL: "; " */
} words;

static void words_add(words *w, const char *fm, ...) __attribute__((format(printf, 2, 3)));
static void words_add(words *w, const char *fm, ...)
{
	va_list ap;
	char *item;

	va_start(ap, fm);
	item = vdup(fm, ap);
	va_end(ap);
	if (w->n++)
		kva_buf_puts(&w->b, w->sep ? w->sep : "; ");
	kva_buf_puts(&w->b, item);
	free(item);
}

/* The list as a string owned by a ("" when empty); w is emptied. */
static const char *words_done(kva_audit *a, words *w)
{
	char *p;

	kva_buf_put(&w->b, "", 0);
	p = w->b.p;
	memset(w, 0, sizeof *w);
	return own(a, p);
}

/* ---- levers ------------------------------------------------------------------------- */

enum { K_EXACT, K_PREFIX, K_SUFFIX, K_CONTAINS };

typedef struct keyrule {
	const char *pat;
	int how;
	const char *lever;
	char cls;
} keyrule;

/* First match wins, on the last component of the path, lower-cased.
 * Quantization comes first: kv_cache_dtype is a precision, not a budget. */
static const keyrule keyrules[] = {
	{ "kv_cache_dtype", K_EXACT, "quantization", 'B' },
	{ "quantization", K_PREFIX, "quantization", 'B' },
	{ "dtype", K_EXACT, "quantization", 'B' },
	{ "weight_dtype", K_EXACT, "quantization", 'B' },
	{ "torchao_config", K_EXACT, "quantization", 'B' },
	{ "speculative", K_CONTAINS, "spec-decode", 'B' },
	{ "spec_", K_PREFIX, "spec-decode", 'B' },
	{ "draft_model", K_CONTAINS, "spec-decode", 'B' },
	{ "eagle", K_CONTAINS, "spec-decode", 'B' },
	{ "nextn", K_CONTAINS, "spec-decode", 'B' },
	{ "mtp", K_PREFIX, "spec-decode", 'B' },
	{ "_mtp", K_SUFFIX, "spec-decode", 'B' },
	{ "tp_size", K_EXACT, "tp-size", 'B' },
	{ "tensor_parallel_size", K_EXACT, "tp-size", 'B' },
	{ "ep_size", K_EXACT, "ep-size", 'B' },
	{ "expert_parallel_size", K_EXACT, "ep-size", 'B' },
	{ "enable_expert_parallel", K_EXACT, "ep-size", 'B' },
	{ "enable_ep_moe", K_EXACT, "ep-size", 'B' },
	{ "dp_size", K_EXACT, "dp-size", 'B' },
	{ "data_parallel_size", K_EXACT, "dp-size", 'B' },
	{ "enable_dp_attention", K_EXACT, "dp-size", 'B' },
	{ "pp_size", K_EXACT, "pp-size", 'B' },
	{ "pipeline_parallel_size", K_EXACT, "pp-size", 'B' },
	{ "mem_fraction_static", K_EXACT, "kv-budget", 'B' },
	{ "gpu_memory_utilization", K_EXACT, "kv-budget", 'B' },
	{ "max_total_num_tokens", K_EXACT, "kv-budget", 'B' },
	{ "max_total_tokens", K_EXACT, "kv-budget", 'B' },
	{ "num_gpu_blocks", K_PREFIX, "kv-budget", 'B' },
	{ "kv_cache_memory", K_PREFIX, "kv-budget", 'B' },
	{ "chunked_prefill", K_CONTAINS, "chunked-prefill", 'B' },
	{ "max_num_batched_tokens", K_EXACT, "chunked-prefill", 'B' },
	{ "max_prefill_tokens", K_EXACT, "chunked-prefill", 'B' },
	{ "enable_mixed_chunk", K_EXACT, "chunked-prefill", 'B' },
	{ "schedule", K_CONTAINS, "scheduling", 'B' },
	{ "max_running_requests", K_EXACT, "scheduling", 'B' },
	{ "max_num_seqs", K_EXACT, "scheduling", 'B' },
	{ "attention_backend", K_SUFFIX, "attention-backend", 'A' },
	{ "attn_backend", K_SUFFIX, "attention-backend", 'A' },
	{ "gemm", K_CONTAINS, "gemm-backend", 'A' },
	{ "moe_runner_backend", K_EXACT, "gemm-backend", 'A' },
	{ "moe_backend", K_EXACT, "gemm-backend", 'A' },
	{ "linear_backend", K_EXACT, "gemm-backend", 'A' },
	{ "sampling_backend", K_EXACT, "kernel-rebind", 'A' },
	{ "kernel", K_CONTAINS, "kernel-rebind", 'A' },
	{ "overlay", K_CONTAINS, "kernel-rebind", 'A' },
	{ "rebind", K_CONTAINS, "kernel-rebind", 'A' },
	{ "custom_op", K_CONTAINS, "kernel-rebind", 'A' },
	{ "triton", K_CONTAINS, "kernel-rebind", 'A' },
	{ NULL, 0, NULL, 0 }
};

/* See audit.h. */
const char *kva_audit_classify_key(const char *path, char *cls)
{
	const char *last = strrchr(path, '.');
	char low[128];
	size_t n, pl;

	last = last ? last + 1 : path;
	for (n = 0; last[n] && n < sizeof low - 1; n++)
		low[n] = (char)(last[n] >= 'A' && last[n] <= 'Z' ? last[n] - 'A' + 'a' : last[n]);
	low[n] = '\0';
	for (const keyrule *k = keyrules; k->pat; k++) {
		int hit;

		pl = strlen(k->pat);
		switch (k->how) {
		case K_EXACT: hit = !strcmp(low, k->pat); break;
		case K_PREFIX: hit = !strncmp(low, k->pat, pl); break;
		case K_SUFFIX: hit = n >= pl && !strcmp(low + n - pl, k->pat); break;
		default: hit = strstr(low, k->pat) != NULL; break;
		}
		if (hit) {
			*cls = k->cls;
			return k->lever;
		}
	}
	*cls = 0;
	return NULL;
}

/* See audit.h. */
double kva_audit_min_p(uint64_t n, uint64_t m)
{
	double nm, sigma, z, p;

	if (!n || !m)
		return NAN;
	if (n + m <= KVA_STATS_MW_EXACT_MAX) {
		p = 2 * kva_stats_inv_choose(n, m);
		return p > 1 ? 1 : p;
	}
	nm = (double)n * (double)m;
	sigma = sqrt(nm * ((double)(n + m) + 1) / 12);
	z = (nm / 2 - 0.5) / sigma;
	p = erfc(z / sqrt(2));
	return p > 1 ? 1 : p;
}

/* See audit.h. */
uint64_t kva_audit_power_reps(double sd_pct, double effect_pct, double floor_pct,
			      double alpha)
{
	const double z = 1.959963984540054 + 0.8416212335729143;
	double e = effect_pct - floor_pct, n;
	uint64_t k = 2;

	if (!(e > 0) || !(sd_pct >= 0) || !isfinite(sd_pct))
		return 0;
	n = ceil(M_PI * z * z * sd_pct * sd_pct / (e * e));
	while (!(kva_audit_min_p(k, k) < alpha) && k < 1000)
		k++;
	if (n > 1e9)
		return 1000000000;
	return n > (double)k ? (uint64_t)n : k;
}

/* ---- what is audited ----------------------------------------------------------------- */

/* The first record of type t whose string member key is val, or NULL. */
static const arec *find(const kva_audit *a, int t, const char *key, const char *val)
{
	if (!val)
		return NULL;
	for (size_t i = 0; i < a->n[t]; i++)
		if (streq(jstr(a->r[t][i].v, key), val))
			return &a->r[t][i];
	return NULL;
}

/* Where a leg's configuration was read: its first rep (a leg's
 * configuration is its first rep's), else its median, else the record. */
static const char *leg_cfg_at(const arec *l)
{
	const kva_jval *v;

	if (!l)
		return NULL;
	if ((v = kva_json_get(l->v, "reps")) && v->child &&
	    jstr(v->child, "at"))
		return jstr(v->child, "at");
	if ((v = kva_json_get(l->v, "median_at")) && v->child &&
	    v->child->t == KVA_JSTR)
		return v->child->s;
	return l->at;
}

/* Where a leg's median was read (its lower middle rep), else the record. */
static const char *leg_median_at(const arec *l)
{
	const kva_jval *v;

	if (!l)
		return NULL;
	if ((v = kva_json_get(l->v, "median_at")) && v->child &&
	    v->child->t == KVA_JSTR)
		return v->child->s;
	return l->at;
}

/* The string member k of l (such as "min_at"), else where l was read. */
static const char *leg_at(const arec *l, const char *k)
{
	const char *s = l ? jstr(l->v, k) : NULL;

	return s ? s : l ? l->at : NULL;
}

/* The leg that measures the reference's code again: its comparison with
 * the reference is the empirical noise floor of real-delta. */
#define AA_LEG "aa"

/* Pick the comparison, legs and claims under audit.  -1 with e when the
 * input holds several comparisons and nothing says which one. */
static int setup(kva_audit *a, kva_err *e)
{
	const kva_audit_opts *o = &a->o;

	if (o->scope == KVA_SCOPE_PATCH || o->scope == KVA_SCOPE_BUNDLE) {
		if (o->cand) {
			a->cmp = find(a, R_CMP, "leg", o->cand);
		} else {
			/* the A/A leg is a noise floor, never the candidate */
			size_t n = 0;
			const arec *last = NULL;

			for (size_t i = 0; i < a->n[R_CMP]; i++)
				if (!streq(jstr(a->r[R_CMP][i].v, "leg"), AA_LEG)) {
					n++;
					last = &a->r[R_CMP][i];
				}
			if (n == 1)
				a->cmp = last;
			for (size_t i = 0; n > 1 && !a->cmp && i < a->n[R_CLAIM]; i++)
				a->cmp = find(a, R_CMP, "leg",
					      jstr(a->r[R_CLAIM][i].v, "leg"));
			if (n > 1 && !a->cmp) {
				words w = { { 0 }, 0, ", " };

				for (size_t i = 0; i < a->n[R_CMP]; i++)
					if (!streq(jstr(a->r[R_CMP][i].v, "leg"), AA_LEG))
						words_add(&w, "%s", jstr(a->r[R_CMP][i].v, "leg"));
				return kva_errf(e, NULL, "%zu comparisons in the input "
						"(legs %s): name the one to audit with "
						"--cand", n, words_done(a, &w));
			}
		}
		if (a->cmp) {
			a->cand_name = jstr(a->cmp->v, "leg");
			a->ref_name = jstr(a->cmp->v, "ref");
			if (o->ref && strcmp(o->ref, a->ref_name))
				return kva_errf(e, NULL, "--ref %s: leg %s is compared "
						"with %s in the input", o->ref,
						a->cand_name, a->ref_name);
		} else {
			/* no comparison: the candidate is the leg a claim is
			 * about, so that its claims are still audited */
			a->cand_name = o->cand;
			a->ref_name = o->ref ? o->ref : a->n[R_LEG] == 1 ?
				      jstr(a->r[R_LEG][0].v, "leg") : NULL;
			for (size_t i = 0; !a->cand_name && i < a->n[R_CLAIM]; i++) {
				const char *leg = jstr(a->r[R_CLAIM][i].v, "leg");

				if (leg && !streq(leg, a->ref_name))
					a->cand_name = leg;
			}
		}
	} else if (o->scope == KVA_SCOPE_BASELINE) {
		a->ref_name = o->ref ? o->ref : a->n[R_CMP] ?
			      jstr(a->r[R_CMP][0].v, "ref") : a->n[R_LEG] ?
			      jstr(a->r[R_LEG][0].v, "leg") : NULL;
	}
	a->cand = find(a, R_LEG, "leg", a->cand_name);
	a->ref = find(a, R_LEG, "leg", a->ref_name);
	if (a->cmp && !streq(a->cand_name, AA_LEG)) {
		a->aa = find(a, R_CMP, "leg", AA_LEG);
		if (a->aa && !streq(jstr(a->aa->v, "ref"), a->ref_name))
			a->aa = NULL;   /* an A/A of another reference */
	}
	a->higher = !streq(jstr(a->cmp ? a->cmp->v : a->ref ? a->ref->v :
				a->cand ? a->cand->v : NULL, "direction"), "lower");
	for (size_t i = 0; i < a->n[R_CLAIM]; i++) {
		const arec *c = &a->r[R_CLAIM][i];
		const char *leg = jstr(c->v, "leg");

		if (leg && !streq(leg, a->cand_name))
			continue;
		if (!a->headline)
			a->headline = jstr(c->v, "headline");
		if (!a->isolated && kva_json_get(c->v, "isolated_speedup")) {
			a->isolated = kva_json_get(c->v, "isolated_speedup");
			a->isolated_rec = c;
		}
	}
	return 0;
}

/* The config_diff entry of the audited comparison for key, or NULL. */
static const kva_jval *diff_entry(const kva_audit *a, const char *key)
{
	const kva_jval *d = a->cmp ? kva_json_get(a->cmp->v, "config_diff") : NULL;

	for (const kva_jval *el = d ? d->child : NULL; el; el = el->next)
		if (streq(jstr(el, "key"), key))
			return el;
	return NULL;
}

static lever *lever_add(kva_audit *a, const char *name)
{
	lever *l;

	a->lev = xrealloc(a->lev, a->nlev + 1, sizeof *a->lev);
	l = &a->lev[a->nlev++];
	memset(l, 0, sizeof *l);
	l->name = name;
	l->slice = NAN;
	return l;
}

/*
 * The levers under audit.  Declared by lever records when there are any:
 * a lever's class is what its keys say when some key is a known lever
 * (a declaration that disagrees is overruled and said so), else its
 * declared class if something backs it (keys or an evidence citation),
 * else indeterminate.  Otherwise inferred: the differing configuration
 * keys grouped by the lever they belong to; an unknown key is a lever of
 * its own with no class.
 */
static void build_levers(kva_audit *a)
{
	const kva_jval *d = a->cmp ? kva_json_get(a->cmp->v, "config_diff") : NULL;

	a->declared = a->n[R_LEVER] > 0;
	for (size_t i = 0; i < a->n[R_LEVER]; i++) {
		const arec *r = &a->r[R_LEVER][i];
		const kva_jval *keys = kva_json_get(r->v, "keys");
		const char *dc = jstr(r->v, "class"), *cite = jstr(r->v, "evidence");
		const char *leg = jstr(r->v, "leg"), *kkey = NULL;
		lever *l = lever_add(a, jstr(r->v, "name"));
		char kc = 0, c;

		l->rec = r;
		for (const kva_jval *k = keys ? keys->child : NULL; k; k = k->next) {
			if (kva_audit_classify_key(k->s, &c)) {
				if (!kc)
					kkey = k->s;
				kc = !kc || kc == c ? c : 'B';
			}
			if (diff_entry(a, k->s))
				l->visible = 1;
		}
		if (kc) {
			l->cls = kc;
			l->why = dc && dc[0] != kc ?
				 fmt(a, "declared %s, but its key %s is a class %c lever", dc, kkey, kc) :
				 fmt(a, "its key %s", kkey);
		} else if (dc && (cite || (keys && keys->child))) {
			l->cls = dc[0];
			l->why = cite ? fmt(a, "declared %s, citing %s", dc, cite) :
				 fmt(a, "declared %s, with its keys", dc);
		} else if (dc) {
			l->why = fmt(a, "declared %s with nothing to back it (no keys, no evidence)", dc);
		} else {
			l->why = "no declared class, and none of its keys is a known lever";
		}
		if (leg) {
			const arec *cmp = find(a, R_CMP, "leg", leg);

			l->slice_leg = leg;
			l->slice = cmp ? jnum(cmp->v, "delta_pct") : NAN;
		}
	}
	if (a->declared)
		return;
	for (const kva_jval *el = d ? d->child : NULL; el; el = el->next) {
		const char *key = jstr(el, "key"), *name;
		lever *l = NULL;
		char c;

		name = kva_audit_classify_key(key, &c);
		for (size_t i = 0; name && i < a->nlev; i++)
			if (streq(a->lev[i].name, name))
				l = &a->lev[i];
		if (!l) {
			l = lever_add(a, name ? name : key);
			l->cls = c;
			l->visible = 1;
			l->why = name ? fmt(a, "inferred from %s", key) :
				 fmt(a, "%s is not a known lever", key);
		}
		l->keys = xrealloc(l->keys, l->nkeys + 1, sizeof *l->keys);
		l->keys[l->nkeys++] = key;
	}
}

/* "spec-decode(B)"; "x(?)" for an indeterminate class. */
static const char *lever_label(kva_audit *a, const lever *l)
{
	return fmt(a, "%s(%c)", l->name, l->cls ? l->cls : '?');
}

/*
 * The decomposition of the e2e delta over the levers: a lever measured on
 * a leg of its own shows that leg's delta, the rest share the residual
 * (1 + e2e) / prod(1 + slice) - 1, one lever alone owns it all.
 */
static const char *decomposition(kva_audit *a)
{
	double e2e = a->cmp ? jnum(a->cmp->v, "delta_pct") : NAN, prod = 1;
	words rest = { { 0 }, 0, ", " };
	kva_buf b = { 0 };
	size_t measured = 0;

	if (!a->nlev)
		return "no lever identified";
	kva_buf_printf(&b, "e2e %s =", hpct(a, e2e));
	if (a->nlev == 1) {
		kva_buf_printf(&b, " %s", lever_label(a, &a->lev[0]));
		kva_buf_put(&b, "", 0);
		return own(a, b.p);
	}
	for (size_t i = 0; i < a->nlev; i++) {
		const lever *l = &a->lev[i];

		if (l->slice_leg && isfinite(l->slice)) {
			kva_buf_printf(&b, "%s %s %s (leg %s)", measured ? " x" : "",
				       lever_label(a, l), hpct(a, l->slice), l->slice_leg);
			prod *= 1 + l->slice / 100;
			measured++;
		} else {
			words_add(&rest, "%s", lever_label(a, l));
		}
	}
	if (rest.n) {
		double resid = 100 * ((1 + e2e / 100) / prod - 1);
		size_t nrest = rest.n;

		kva_buf_printf(&b, "%s %s %s %s", measured ? " x" : "",
			       words_done(a, &rest), hpct(a, resid),
			       measured ? "(residual)" : "");
		if (nrest > 1)
			kva_buf_puts(&b, measured ? " not separated" : "(not separated)");
		while (b.len && b.p[b.len - 1] == ' ')
			b.len--;
	}
	kva_buf_put(&b, "", 0);
	return own(a, b.p);
}

/* ---- rules of every timed scope -------------------------------------------------------- */

static void r_evidence_complete(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "evidence-complete");
	size_t total = 0, bad = a->refused + a->n[R_ERROR];
	const char *first = a->refused_at;

	threshold(a, f, "every input record read, and no error record from upstream");
	for (int t = 0; t < R_NTYPES; t++)
		total += a->n[t];
	if (a->refused)
		ev_num(f, "records refused here (--keep-going)", (double)a->refused,
		       a->refused_at, NULL);
	for (size_t i = 0; i < a->n[R_ERROR]; i++) {
		const arec *r = &a->r[R_ERROR][i];
		const char *file = jstr(r->v, "file");
		double line = jnum(r->v, "line");
		const char *where = file ? fmt(a, "%s:%.0f", file, isfinite(line) ? line : 0) : r->at;

		ev_str(f, fmt(a, "record refused upstream at %s", where),
		       jstr(r->v, "message"), r->at, NULL);
		if (!first)
			first = where;
	}
	if (bad) {
		/* some records were kept: the evidence is there, but short */
		conclude(a, f, KVA_SEV_FAIL, total > a->n[R_ERROR] ? "partial" :
			 "evidence_absent", fail_action(a), "%zu input record%s "
			 "refused (the first at %s): a verdict would rest on partial "
			 "evidence", bad, bad == 1 ? " was" : "s were", first);
		return;
	}
	for (int t = 0; t < R_NTYPES; t++)
		if (a->n[t])
			ev_num(f, fmt(a, "%s records (the first at)", rtype_names[t]),
			       (double)a->n[t], a->r[t][0].at, NULL);
	conclude(a, f, KVA_SEV_PASS, "holds", "pass", "all %zu records were read", total);
}

static void r_same_conditions(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "same-conditions");
	int bundle = a->o.scope == KVA_SCOPE_BUNDLE;
	words bad = { { 0 }, 0, NULL }, inert = { { 0 }, 0, ", " };
	words keys = { { 0 }, 0, ", " };
	const kva_jval *cs, *d;
	const arec *legs[2] = { a->ref, a->cand };
	size_t ndiff = 0;

	threshold(a, f, "no configuration difference beyond %s; a declared "
		  "consequence only if shown inert (observed < limit)",
		  bundle ? "the declared levers' keys" : "the keys of one lever");
	if (!a->cmp) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject",
			 "no comparison of two legs: the conditions cannot be compared");
		return;
	}
	cs = kva_json_get(a->cmp->v, "config_same");
	if (!cs || cs->t == KVA_JNULL) {
		ev_bool(f, fmt(a, "configuration of legs %s and %s known", a->ref_name,
			       a->cand_name), -1, a->cmp->at, NULL);
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject",
			 "neither leg's raw rows carry a configuration (server_info): "
			 "the conditions cannot be compared");
		return;
	}
	for (int i = 0; i < 2; i++) {
		const kva_jval *v = legs[i] ? kva_json_get(legs[i]->v, "config_varies") : NULL;

		if (v && v->child) {
			ev_json(f, fmt(a, "config_varies of leg %s", jstr(legs[i]->v, "leg")),
				v, legs[i]->at, NULL);
			words_add(&bad, "leg %s changed its configuration between its own "
				  "reps (%s)", jstr(legs[i]->v, "leg"), hjson(a, v));
		}
	}
	d = kva_json_get(a->cmp->v, "config_diff");
	for (const kva_jval *el = d->child; el; el = el->next, ndiff++) {
		const char *key = jstr(el, "key");
		const kva_jval *rv = kva_json_get(el, "ref"), *lv = kva_json_get(el, "leg");
		const arec *owner = NULL, *conseq = NULL, *in;

		ev_json(f, fmt(a, "%s %s", a->ref_name, key), rv, leg_cfg_at(a->ref), NULL);
		ev_json(f, fmt(a, "%s %s", a->cand_name, key), lv, leg_cfg_at(a->cand), NULL);
		words_add(&keys, "%s", key);
		if (!a->declared)
			continue; /* every key belongs to an inferred lever */
		for (size_t i = 0; i < a->n[R_LEVER]; i++) {
			const kva_jval *lr = a->r[R_LEVER][i].v;

			if (!owner && arr_has(kva_json_get(lr, "keys"), key))
				owner = &a->r[R_LEVER][i];
			if (!conseq && arr_has(kva_json_get(lr, "consequences"), key))
				conseq = &a->r[R_LEVER][i];
		}
		if (owner)
			continue;
		if (!conseq) {
			words_add(&bad, "%s differs (%s %s, %s %s) and no declared lever "
				  "changes it", key, a->ref_name, hjson(a, rv),
				  a->cand_name, hjson(a, lv));
			continue;
		}
		if ((in = find(a, R_INERT, "key", key))) {
			double obs = jnum(in->v, "observed"), lim = jnum(in->v, "limit");
			const char *what = jstr(in->v, "what");

			ev_num(f, fmt(a, "observed %s", what ? what : key), obs, in->at, src_of(in));
			ev_num(f, fmt(a, "limit %s", what ? what : key), lim, in->at, src_of(in));
			if (obs < lim) {
				words_add(&inert, "%s (observed %g < limit %g)", key, obs, lim);
				continue;
			}
			words_add(&bad, "%s is a declared consequence of lever %s but not "
				  "inert: observed %g >= limit %g", key,
				  jstr(conseq->v, "name"), obs, lim);
			continue;
		}
		words_add(&bad, "%s is a declared consequence of lever %s, not shown "
			  "inert (no inert record)", key, jstr(conseq->v, "name"));
	}
	if (!a->declared && bundle && ndiff) {
		words_add(&bad, "a bundle must declare its levers (lever records); %zu "
			  "configuration key%s differ undeclared: %s", ndiff,
			  ndiff == 1 ? "" : "s", keys.b.p);
	} else if (!a->declared && a->nlev > 1) {
		words lv = { { 0 }, 0, ", " };

		for (size_t i = 0; i < a->nlev; i++) {
			words kk = { { 0 }, 0, ", " };

			for (size_t k = 0; k < a->lev[i].nkeys; k++)
				words_add(&kk, "%s", a->lev[i].keys[k]);
			words_add(&lv, "%s [%s]", lever_label(a, &a->lev[i]), words_done(a, &kk));
		}
		words_add(&bad, "%zu changes where a patch makes one: %s", a->nlev,
			  words_done(a, &lv));
	} else if (a->declared && !bundle && a->n[R_LEVER] > 1) {
		words_add(&bad, "%zu levers declared where a patch makes one", a->n[R_LEVER]);
	}
	if (bad.n)
		conclude(a, f, KVA_SEV_FAIL, "violated", "eject", "%s", words_done(a, &bad));
	else if (inert.n)
		conclude(a, f, KVA_SEV_FLAG, "violated", "flag", "the legs differ in "
			 "declared consequences of the lever, shown inert: %s",
			 words_done(a, &inert));
	else if (ndiff)
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "only the lever's keys "
			 "differ: %s", keys.b.p);
	else {
		for (int i = 0; i < 2; i++)
			if (legs[i])
				ev_str(f, fmt(a, "config_digest of leg %s", jstr(legs[i]->v, "leg")),
				       jstr(legs[i]->v, "config_digest"), leg_cfg_at(legs[i]), NULL);
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "the two legs ran under "
			 "the same configuration");
	}
	kva_buf_free(&bad.b);
	kva_buf_free(&inert.b);
	kva_buf_free(&keys.b);
}

static void r_contention(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "contention");
	words bad = { { 0 }, 0, NULL };
	const arec *legs[2] = { a->ref, a->cand };
	size_t seen = 0;

	threshold(a, f, "no leg ran contended (a process storm, a co-tenant)");
	for (size_t i = 0; i < a->n[R_CONTENTION]; i++) {
		const arec *r = &a->r[R_CONTENTION][i];
		const char *leg = jstr(r->v, "leg"), *what = jstr(r->v, "what");
		int c = jbool(r->v, "contended", 0);

		if (!streq(leg, a->ref_name) && !streq(leg, a->cand_name))
			continue;
		seen++;
		ev_bool(f, fmt(a, "leg %s contended%s%s%s", leg, what ? " (" : "",
			       what ? what : "", what ? ")" : ""), c, r->at, src_of(r));
		if (c)
			words_add(&bad, "leg %s ran contended%s%s", leg, what ? ": " : "",
				  what ? what : "");
	}
	if (bad.n) {
		conclude(a, f, KVA_SEV_FAIL, "violated", fail_action(a), "%s",
			 words_done(a, &bad));
		return;
	}
	if (!legs[0] && !legs[1]) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", fail_action(a),
			 "no leg with reps: nothing was measured to be contended");
		return;
	}
	for (int i = 0; i < 2; i++)
		if (legs[i])
			ev_num(f, fmt(a, "spread_pct of leg %s", jstr(legs[i]->v, "leg")),
			       jnum(legs[i]->v, "spread_pct"), legs[i]->at, NULL);
	if (seen)
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "no leg was contended "
			 "(%zu contention record%s)", seen, seen == 1 ? "" : "s");
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "no contention was "
			 "reported for the legs");
}

static void r_baseline_drift(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "baseline-drift");
	double x = a->o.baseline_throughput, med, drift;

	threshold(a, f, "|reference median - baseline throughput| <= %g%% of the "
		  "baseline throughput (the noise band)", a->o.noise_band_pct);
	if (isnan(x)) {
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "no --baseline-throughput: "
			 "drift is not measurable here, and is not a passed gate");
		return;
	}
	ev_num(f, "--baseline-throughput", x, NULL, NULL);
	med = a->ref ? jnum(a->ref->v, "median") : NAN;
	if (!isfinite(med)) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", fail_action(a),
			 "no reference leg with reps to hold against the baseline "
			 "throughput");
		return;
	}
	drift = 100 * (med - x) / x;
	a->res.baseline_drift_pct = drift;
	ev_num(f, fmt(a, "median of leg %s", a->ref_name), med, leg_median_at(a->ref), NULL);
	ev_num(f, "drift_pct", drift, NULL, NULL);
	if (fabs(drift) > a->o.noise_band_pct)
		conclude(a, f, KVA_SEV_FAIL, "violated", fail_action(a), "the reference "
			 "median %g is %+.2f%% off the baseline throughput %g (band "
			 "%g%%): the baseline no longer reproduces", med, drift, x,
			 a->o.noise_band_pct);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "the reference median %g "
			 "reproduces the baseline throughput %g (%+.2f%%)", med, x, drift);
}

static void r_real_delta(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "real-delta");
	double d, lo, hi, p, minp, fl = a->o.min_effect_pct, sd = NAN;
	int no, ok_ci, ok_p;
	uint64_t need;

	if (a->aa) {
		double alo = jnum(a->aa->v, "ci_low_pct"), ahi = jnum(a->aa->v, "ci_high_pct");
		double aa = fmax(fabs(alo), fabs(ahi));

		ev_num(f, fmt(a, "A/A floor: largest |bound| of the 95%% CI of leg %s "
			      "against %s", AA_LEG, a->ref_name), aa, a->aa->at, NULL);
		if (isfinite(aa) && aa > fl)
			fl = aa;
		threshold(a, f, "the 95%% CI of delta_pct wholly above the floor "
			  "%g%% (the larger of --min-effect %g%% and the A/A leg's) "
			  "and Mann-Whitney p < %g; non-overlap is evidence, not "
			  "required", fl, a->o.min_effect_pct, a->o.alpha);
	} else {
		threshold(a, f, "the 95%% CI of delta_pct wholly above the floor %g%% "
			  "(--min-effect) and Mann-Whitney p < %g; non-overlap is "
			  "evidence, not required", fl, a->o.alpha);
	}
	if (!a->cmp) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject", "no comparison "
			 "of two legs with reps%s%s: a reported or isolated number is "
			 "not an e2e measurement", a->cand_name ? " for leg " : "",
			 a->cand_name ? a->cand_name : "");
		return;
	}
	d = jnum(a->cmp->v, "delta_pct");
	lo = jnum(a->cmp->v, "ci_low_pct");
	hi = jnum(a->cmp->v, "ci_high_pct");
	p = jnum(a->cmp->v, "mw_p");
	no = jbool(a->cmp->v, "non_overlap", 0);
	a->res.e2e_delta_pct = d;
	ev_num(f, fmt(a, "median of %s", a->ref_name), jnum(a->cmp->v, "median_ref"),
	       leg_median_at(a->ref), NULL);
	ev_num(f, fmt(a, "median of %s", a->cand_name), jnum(a->cmp->v, "median"),
	       leg_median_at(a->cand), NULL);
	if (a->ref && a->cand) {
		const char *rk = a->higher ? "max" : "min", *ck = a->higher ? "min" : "max";
		double s0 = jnum(a->ref->v, "stdev"), s1 = jnum(a->cand->v, "stdev");
		double m0 = jnum(a->ref->v, "median");

		ev_num(f, fmt(a, "best rep of %s (%s)", a->ref_name, rk),
		       jnum(a->ref->v, rk), leg_at(a->ref, a->higher ? "max_at" : "min_at"), NULL);
		ev_num(f, fmt(a, "worst rep of %s (%s)", a->cand_name, ck),
		       jnum(a->cand->v, ck), leg_at(a->cand, a->higher ? "min_at" : "max_at"), NULL);
		if (m0 > 0)
			sd = 100 * sqrt((s0 * s0 + s1 * s1) / 2) / m0;
	}
	ev_num(f, "delta_pct", d, a->cmp->at, NULL);
	ev_num(f, "ci_low_pct", lo, a->cmp->at, NULL);
	ev_num(f, "ci_high_pct", hi, a->cmp->at, NULL);
	ev_num(f, "mw_p", p, a->cmp->at, NULL);
	ev_bool(f, "non_overlap", no, a->cmp->at, NULL);
	if (!isfinite(d)) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject", "the delta is "
			 "undefined (a reference median that is not positive)");
		return;
	}
	ok_ci = isfinite(lo) && lo > fl;
	ok_p = isfinite(p) && p < a->o.alpha;
	if (ok_ci && ok_p) {
		a->real_delta_holds = 1;
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%s beats %s by %s (95%% "
			 "CI [%s, %s], above the floor %g%%); p = %s; %s", a->cand_name,
			 a->ref_name, hpct(a, d), hpct(a, lo), hpct(a, hi), fl, hnum(a, p),
			 no && d > 0 ? "every rep beyond every rep of the reference" :
			 "the legs overlap");
		return;
	}
	minp = kva_audit_min_p((uint64_t)jnum(a->cmp->v, "n"),
			       (uint64_t)jnum(a->cmp->v, "n_ref"));
	if (ok_ci && !(minp < a->o.alpha)) {
		ev_num(f, "smallest possible p for these reps", minp, a->cmp->at, NULL);
		conclude(a, f, KVA_SEV_FLAG, "partial", "remeasure", "the delta "
			 "%s looks real but cannot be significant with %.0f and %.0f "
			 "reps: the smallest possible p is %s, not below alpha %g",
			 hpct(a, d), jnum(a->cmp->v, "n"), jnum(a->cmp->v, "n_ref"),
			 hnum(a, minp), a->o.alpha);
		return;
	}
	if (ok_ci) {
		conclude(a, f, KVA_SEV_FAIL, "violated", "eject", "Mann-Whitney p %s is "
			 "not below alpha %g", hnum(a, p), a->o.alpha);
		return;
	}
	if (d > fl) {
		need = kva_audit_power_reps(sd, d, fl, a->o.alpha);
		ev_num(f, "pooled rep stdev, percent of the reference median",
		       sd, NULL, NULL);
		if (need)
			ev_num(f, "reps per leg for 80% power", (double)need, NULL, NULL);
		if (need)
			conclude(a, f, KVA_SEV_FLAG, "partial", "remeasure", "the "
				 "delta %s clears the floor %g%% but its 95%% CI [%s, %s] does "
				 "not: about %llu reps per leg give 80%% power at the observed "
				 "pooled rep stdev %.3g%%", hpct(a, d), fl, hpct(a, lo), hpct(a, hi),
				 (unsigned long long)need, sd);
		else
			conclude(a, f, KVA_SEV_FLAG, "partial", "remeasure", "the "
				 "delta %s clears the floor %g%% but its 95%% CI [%s, %s] does "
				 "not, and the spread is unknown", hpct(a, d), fl, hpct(a, lo),
				 hpct(a, hi));
		return;
	}
	conclude(a, f, KVA_SEV_FAIL, "violated", "eject", "delta %s is not above the "
		 "floor %g%% (95%% CI [%s, %s], p = %s)", hpct(a, d), fl, hpct(a, lo),
		 hpct(a, hi), hnum(a, p));
}

/* The legs' reps in time: a reference measured wholly before (or
 * after) the candidate confounds drift with the change. */
static void r_run_order(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "run-order");
	const char *o = a->cmp ? jstr(a->cmp->v, "run_order") : NULL;

	threshold(a, f, "where the reps carry their run order, the two legs "
		  "interleaved in time (neither measured wholly before the other)");
	if (!o) {
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "the reps carry no run "
			 "order (a run record's seq, vLLM's date, Google Benchmark's "
			 "or pytest-benchmark's file date): interleaving is not "
			 "checked, and is not a passed gate");
		return;
	}
	ev_str(f, "run_order", o, a->cmp->at, NULL);
	if (!strcmp(o, "interleaved"))
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "the reps of %s and %s "
			 "interleave in time", a->cand_name, a->ref_name);
	else if (!strcmp(o, "tied"))
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "the reps of %s and %s "
			 "share one timestamp: their order cannot be told",
			 a->cand_name, a->ref_name);
	else
		conclude(a, f, KVA_SEV_FLAG, "violated", "remeasure", "every rep of "
			 "%s was measured before every rep of %s: a drift in time "
			 "(thermal state, clocks, other tenants) is confounded with "
			 "the change; interleave the legs (ABAB) and re-measure",
			 strcmp(o, "ref_first") ? a->cand_name : a->ref_name,
			 strcmp(o, "ref_first") ? a->ref_name : a->cand_name);
}

static void r_min_reps(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "min-reps");
	int two = a->o.scope != KVA_SCOPE_BASELINE;
	const arec *legs[2] = { a->ref, two ? a->cand : NULL };
	const char *names[2] = { a->ref_name, a->cand_name };
	words why = { { 0 }, 0, NULL };
	double n[2] = { 0, 0 }, minp = NAN;

	if (two)
		threshold(a, f, "at least %lld reps in each leg, and enough reps for "
			  "the smallest two-sided Mann-Whitney p to fall below alpha %g",
			  (long long)a->o.min_reps, a->o.alpha);
	else
		threshold(a, f, "at least %lld reps", (long long)a->o.min_reps);
	for (int i = 0; i < 1 + two; i++) {
		if (!legs[i] || !(jnum(legs[i]->v, "n") > 0)) {
			conclude(a, f, KVA_SEV_FLAG, "evidence_absent", "remeasure",
				 "leg %s has no reps", names[i] ? names[i] :
				 i ? "(candidate)" : "(reference)");
			return;
		}
		n[i] = jnum(legs[i]->v, "n");
		ev_num(f, fmt(a, "reps in leg %s", names[i]), n[i], legs[i]->at, NULL);
		if (n[i] < (double)a->o.min_reps)
			words_add(&why, "leg %s has %.0f rep%s, fewer than %lld", names[i],
				  n[i], n[i] == 1 ? "" : "s", (long long)a->o.min_reps);
	}
	if (two) {
		minp = kva_audit_min_p((uint64_t)n[1], (uint64_t)n[0]);
		ev_num(f, "smallest possible two-sided p", minp, NULL, NULL);
		if (!(minp < a->o.alpha))
			words_add(&why, "with %.0f and %.0f reps the smallest two-sided p "
				  "is %s, not below alpha %g: no delta can be significant",
				  n[1], n[0], hnum(a, minp), a->o.alpha);
	}
	if (why.n) {
		/* every leg has reps, fewer than the rule needs: short, not
		 * a fault of the change */
		conclude(a, f, KVA_SEV_FLAG, "partial", "remeasure", "%s",
			 words_done(a, &why));
		return;
	}
	if (two)
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%.0f and %.0f reps; the "
			 "smallest possible p, %s, is below alpha %g", n[1], n[0],
			 hnum(a, minp), a->o.alpha);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%.0f reps", n[0]);
}

static void r_crash(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "crash");
	const arec *legs[2] = { a->ref, a->o.scope == KVA_SCOPE_BASELINE ? NULL : a->cand };
	words bad = { { 0 }, 0, NULL };
	int any = 0;

	threshold(a, f, "no failed rep in any leg and no crash of a leg's server "
		  "(do no harm)");
	for (int i = 0; i < 2; i++) {
		const arec *l = legs[i];
		const kva_jval *fr;
		double failed, n;

		if (!l)
			continue;
		any = 1;
		failed = jnum(l->v, "failed");
		n = jnum(l->v, "n");
		ev_num(f, fmt(a, "failed reps of leg %s (of %.0f)", jstr(l->v, "leg"), n),
		       failed, l->at, NULL);
		if (!(failed > 0))
			continue;
		fr = kva_json_get(l->v, "failed_reps");
		for (const kva_jval *el = fr ? fr->child : NULL; el; el = el->next)
			ev_str(f, fmt(a, "leg %s rep %.0f failed", jstr(l->v, "leg"),
				      jnum(el, "rep")), jstr(el, "why"), jstr(el, "at"), NULL);
		words_add(&bad, "leg %s: %.0f of %.0f reps failed%s%s", jstr(l->v, "leg"),
			  failed, n, fr && fr->child && jstr(fr->child, "why") ? " (" : "",
			  fr && fr->child && jstr(fr->child, "why") ?
			  fmt(a, "%s)", jstr(fr->child, "why")) : "");
	}
	for (size_t i = 0; i < a->n[R_CRASH]; i++) {
		const arec *r = &a->r[R_CRASH][i];
		const char *leg = jstr(r->v, "leg"), *msg = jstr(r->v, "message");
		const kva_jval *after = kva_json_get(r->v, "after_rep");
		int c = jbool(r->v, "crashed", 0);

		/* a candidate's crash counts even when it left no reps */
		if (!streq(leg, a->ref_name) && (a->o.scope == KVA_SCOPE_BASELINE ||
						 !streq(leg, a->cand_name)))
			continue;
		any = 1;
		ev_bool(f, fmt(a, "the server of leg %s crashed%s%s", leg, msg ? ": " : "",
			       msg ? msg : ""), c, r->at, src_of(r));
		if (c)
			words_add(&bad, "the server of leg %s crashed%s%s%s", leg,
				  after ? fmt(a, " after rep %s", hjson(a, after)) : "",
				  msg ? ": " : "", msg ? msg : "");
	}
	if (bad.n)
		conclude(a, f, KVA_SEV_FAIL, "violated", fail_action(a), "%s",
			 words_done(a, &bad));
	else if (!any)
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", fail_action(a),
			 "no leg with reps: nothing shows the runs completed");
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "every rep completed and "
			 "no server crashed");
}

static void r_engagement(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "engagement");
	size_t recs = 0;
	int all_visible = a->nlev > 0;
	double best = 0;
	words vis = { { 0 }, 0, ", " }, hid = { { 0 }, 0, ", " };
	words other = { { 0 }, 0, ", " };

	threshold(a, f, "the candidate path ran in the candidate leg: an engagement "
		  "count > 0, or only configuration levers that the live server "
		  "reports in its server_info");
	if (!a->cand_name) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject",
			 "no candidate leg to show engagement in");
		return;
	}
	for (size_t i = 0; i < a->n[R_ENGAGE]; i++) {
		const arec *r = &a->r[R_ENGAGE][i];
		const char *line = jstr(r->v, "line");
		double c = jnum(r->v, "count");

		if (!streq(jstr(r->v, "leg"), a->cand_name))
			continue;
		recs++;
		ev_num(f, fmt(a, "engagement count in leg %s%s%s", a->cand_name,
			      line ? ": " : "", line ? line : ""), c, r->at, src_of(r));
		best = c > best ? c : best;
	}
	if (best > 0) {
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "the candidate path ran "
			 "%.0f time%s in leg %s", best, best == 1 ? "" : "s", a->cand_name);
		return;
	}
	if (recs) {
		conclude(a, f, KVA_SEV_FAIL, "violated", "eject", "the candidate path "
			 "never ran in leg %s (engagement count 0): a no-op can look "
			 "safe while doing nothing", a->cand_name);
		return;
	}
	for (size_t i = 0; i < a->nlev; i++) {
		all_visible &= a->lev[i].visible;
		words_add(a->lev[i].visible ? &vis : &hid, "%s", a->lev[i].name);
	}
	for (size_t i = 0; i < a->n[R_ENGAGE]; i++) {
		const arec *r = &a->r[R_ENGAGE][i];
		double c = jnum(r->v, "count");

		if (streq(jstr(r->v, "leg"), a->cand_name) || !(c > 0))
			continue;
		ev_num(f, fmt(a, "engagement count in leg %s (not the candidate)",
			      jstr(r->v, "leg")), c, r->at, src_of(r));
		words_add(&other, "%s", jstr(r->v, "leg"));
	}
	if (all_visible) {
		const kva_jval *d = kva_json_get(a->cmp->v, "config_diff");

		for (const kva_jval *el = d->child; el; el = el->next)
			ev_json(f, fmt(a, "%s %s", a->cand_name, jstr(el, "key")),
				kva_json_get(el, "leg"), leg_cfg_at(a->cand), NULL);
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "configuration lever%s "
			 "that the live server of leg %s reports in its server_info",
			 a->nlev == 1 ? "" : "s", a->cand_name);
	} else if (vis.n || other.n) {
		/* something shows engagement, short of the candidate's change */
		words why = { { 0 }, 0, NULL };
		size_t nv = vis.n, no = other.n, nh = hid.n;

		if (nv)
			words_add(&why, "its server reports lever%s %s", nv == 1 ? "" : "s",
				  words_done(a, &vis));
		if (no)
			words_add(&why, "the path ran in leg%s %s, not in %s", no == 1 ?
				  "" : "s", words_done(a, &other), a->cand_name);
		words_add(&why, "no engagement record shows %s ran", nh ? fmt(a,
			  "lever%s %s", nh == 1 ? "" : "s", words_done(a, &hid)) :
			  "the candidate's change");
		conclude(a, f, KVA_SEV_FAIL, "partial", "eject", "engagement of leg "
			 "%s is shown only in part: %s", a->cand_name, words_done(a, &why));
	} else {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject", "no engagement "
			 "evidence for leg %s: a change that is not a configuration key "
			 "the server reports must show it ran (an engagement record)",
			 a->cand_name);
	}
	kva_buf_free(&vis.b);
	kva_buf_free(&hid.b);
	kva_buf_free(&other.b);
}

/* The correctness class of one parity record, worst first.  The two
 * short classes are partial evidence: a probe of the divergence on too
 * few prompts (FAIL: the divergence stays unjudged), and every output
 * byte-exact but too few of them (FLAG: nothing diverged, too little was
 * compared). */
enum { C_NONCOHERENT, C_ACC_FAIL, C_DIVERGES, C_PROBE_SHORT, C_PARITY_SHORT,
       C_ACC_PASS, C_BYTE_PASS, C_NONE };
static const char *const corr_names[] = { "unverifiable_noncoherent_reference",
	"accuracy_gate_fail", "diverges_needs_accuracy_probe",
	"accuracy_probe_short", "byte_parity_short", "accuracy_gate_pass",
	"byte_parity_pass", "evidence_absent" };

/* Byte parity and an accuracy probe need at least this many prompts. */
#define MIN_PROBE_PROMPTS 10

static void r_correctness(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "correctness");
	int base = a->o.scope == KVA_SCOPE_BASELINE, worst = C_NONE;
	const char *leg = base ? a->ref_name : a->cand_name, *worst_msg = "";

	threshold(a, f, base ? "the reference's decoded outputs are coherent" :
		  "a coherent reference, and the candidate byte-exact to it or, "
		  "where it diverges, within the accuracy probe's max_drop, on at "
		  "least %d prompts", MIN_PROBE_PROMPTS);
	for (size_t i = 0; i < a->n[R_PARITY]; i++) {
		const arec *r = &a->r[R_PARITY][i];
		const kva_jval *acc = kva_json_get(r->v, "accuracy");
		double be = jnum(r->v, "byte_exact"), tot = jnum(r->v, "total");
		int coh = jbool(r->v, "reference_coherent", 0), c;
		const char *m;

		if (jstr(r->v, "leg") && !streq(jstr(r->v, "leg"), leg))
			continue;
		ev_bool(f, "reference_coherent", coh, r->at, src_of(r));
		ev_str(f, "byte_exact", fmt(a, "%.0f/%.0f", be, tot), r->at, src_of(r));
		if (!coh) {
			c = C_NONCOHERENT;
			m = fmt(a, "the reference's own decode is not coherent (%.0f/%.0f "
				"byte-exact): byte parity cannot tell a benign tie-break "
				"from a regression", be, tot);
		} else if (base) {
			c = C_BYTE_PASS;
			m = "the reference's decode is coherent";
		} else if (be == tot && tot < MIN_PROBE_PROMPTS) {
			c = C_PARITY_SHORT;
			m = fmt(a, "%.0f/%.0f outputs byte-exact, but parity on fewer "
				"than %d prompts does not certify correctness", be,
				tot, MIN_PROBE_PROMPTS);
		} else if (be == tot) {
			c = C_BYTE_PASS;
			m = fmt(a, "%.0f/%.0f outputs byte-exact", be, tot);
		} else if (acc && jnum(acc, "n") > 0 &&
			   jnum(acc, "n") < MIN_PROBE_PROMPTS) {
			double drop = jnum(acc, "ref") - jnum(acc, "cand");

			ev_num(f, "accuracy probe prompts", jnum(acc, "n"), r->at, src_of(r));
			ev_num(f, "accuracy drop", drop, r->at, src_of(r));
			c = C_PROBE_SHORT;
			m = fmt(a, "%.0f/%.0f byte-exact; the accuracy probe (drop %g, "
				"max_drop %g) ran on %.0f prompt%s, fewer than %d: the "
				"divergence is judged on too little", be, tot, drop,
				jnum(acc, "max_drop"), jnum(acc, "n"),
				jnum(acc, "n") == 1 ? "" : "s", MIN_PROBE_PROMPTS);
		} else if (acc && !(jnum(acc, "n") < MIN_PROBE_PROMPTS)) {
			double drop = jnum(acc, "ref") - jnum(acc, "cand");
			double max = jnum(acc, "max_drop");
			const char *metric = jstr(acc, "metric");

			ev_num(f, fmt(a, "accuracy drop%s%s", metric ? " in " : "",
				      metric ? metric : ""), drop, r->at, src_of(r));
			ev_num(f, "accuracy max_drop", max, r->at, src_of(r));
			c = drop <= max ? C_ACC_PASS : C_ACC_FAIL;
			m = fmt(a, "%.0f/%.0f byte-exact; the accuracy probe drops %g "
				"(%g -> %g), %s max_drop %g", be, tot, drop,
				jnum(acc, "ref"), jnum(acc, "cand"),
				drop <= max ? "within" : "beyond", max);
		} else {
			c = C_DIVERGES;
			m = fmt(a, "%.0f/%.0f byte-exact and no accuracy probe of at "
				"least %d prompts: the divergence is unjudged", be, tot,
				MIN_PROBE_PROMPTS);
		}
		if (c < worst) {
			worst = c;
			worst_msg = m;
		}
	}
	a->res.correctness_status = corr_names[worst];
	if (worst == C_NONE) {
		if (base) {
			a->res.correctness_status = NULL;
			conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "no decoded outputs "
				 "of the reference were given");
		} else {
			conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject", "no "
				 "parity evidence for leg %s: correctness cannot be "
				 "certified", leg ? leg : "(candidate)");
		}
		return;
	}
	if (worst <= C_DIVERGES)
		conclude(a, f, KVA_SEV_FAIL, "violated", fail_action(a), "%s", worst_msg);
	else if (worst == C_PROBE_SHORT)
		conclude(a, f, KVA_SEV_FAIL, "partial", fail_action(a), "%s", worst_msg);
	else if (worst == C_PARITY_SHORT)
		conclude(a, f, KVA_SEV_FLAG, "partial", "remeasure", "%s", worst_msg);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%s", worst_msg);
}

/* Where the raw side of a claim check comes from. */
static const char *check_raw_at(const kva_audit *a, const kva_jval *c)
{
	const arec *l = find(a, R_LEG, "leg", jstr(c, "leg"));

	if (!l)
		return NULL;
	return streq(jstr(c, "stat"), "config") ? leg_cfg_at(l) : leg_median_at(l);
}

static void r_reported_vs_raw(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "reported-vs-raw");
	words bad = { { 0 }, 0, NULL }, unrep = { { 0 }, 0, ", " };
	words unv = { { 0 }, 0, NULL };
	size_t nbad = 0, nunv = 0;

	threshold(a, f, "every reported number agrees with the number re-derived "
		  "from the raw rows (claim_check status agree)");
	for (size_t i = 0; i < a->n[R_CHECK]; i++) {
		const kva_jval *c = a->r[R_CHECK][i].v;
		const char *st = jstr(c, "status"), *key = jstr(c, "key");
		const char *what = fmt(a, "%s %s%s%s", jstr(c, "leg"), jstr(c, "stat"),
				       key ? " " : "", key ? key : "");

		ev_json(f, fmt(a, "reported %s%s", what, streq(st, "agree") ?
			       " (agrees)" : ""), kva_json_get(c, "reported"),
			jstr(c, "at"), NULL);
		if (streq(st, "agree"))
			continue;
		ev_json(f, fmt(a, "raw %s", what), kva_json_get(c, "derived"),
			check_raw_at(a, c), NULL);
		if (streq(st, "unverifiable")) {
			/* not a disagreement: the raw rows cannot say */
			if (nunv++ < 4)
				words_add(&unv, "%s (%s%s%s)", what, jstr(c, "at"),
					  jstr(c, "reason") ? ", " : "",
					  jstr(c, "reason") ? jstr(c, "reason") : "");
			continue;
		}
		if (nbad++ < 4)
			words_add(&bad, "%s: reported %s, raw %s (%s%s%s)", what,
				  hjson(a, kva_json_get(c, "reported")),
				  hjson(a, kva_json_get(c, "derived")), jstr(c, "at"),
				  jstr(c, "reason") ? ", " : "",
				  jstr(c, "reason") ? jstr(c, "reason") : "");
	}
	for (size_t i = 0; i < a->n[R_CLAIM]; i++) {
		const kva_jval *u = kva_json_get(a->r[R_CLAIM][i].v, "unreported");

		for (const kva_jval *el = u ? u->child : NULL; el; el = el->next) {
			ev_str(f, "left unreported", el->s, a->r[R_CLAIM][i].at,
			       src_of(&a->r[R_CLAIM][i]));
			words_add(&unrep, "%s", el->s);
		}
	}
	if (nunv > 4)
		words_add(&unv, "and %zu more", nunv - 4);
	if (nbad) {
		if (nbad > 4)
			words_add(&bad, "and %zu more", nbad - 4);
		conclude(a, f, KVA_SEV_FLAG, "violated", "flag", "%zu reported "
			 "number%s disagree%s with the raw rows (the raw is what "
			 "counts): %s%s", nbad, nbad == 1 ? "" : "s", nbad == 1 ? "s" : "",
			 words_done(a, &bad), nunv ? fmt(a, "; %zu more could not be "
			 "re-derived", nunv) : "");
	} else if (nunv) {
		/* some re-derived and agreeing: partial; none: absent */
		size_t nagree = a->n[R_CHECK] - nunv;

		conclude(a, f, KVA_SEV_FLAG, nagree ? "partial" : "evidence_absent",
			 "flag", "%zu of %zu reported numbers could not be re-derived "
			 "from the raw rows%s: %s", nunv, a->n[R_CHECK], nagree ?
			 fmt(a, " (%zu agree)", nagree) : "", words_done(a, &unv));
	} else if (a->n[R_CHECK] || unrep.n) {
		int left = unrep.n > 0;

		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%zu reported number%s "
			 "agree%s with the raw rows%s%s%s", a->n[R_CHECK],
			 a->n[R_CHECK] == 1 ? "" : "s", a->n[R_CHECK] == 1 ? "s" : "",
			 left ? "; the report left " : "", words_done(a, &unrep),
			 left ? " unreported, every one re-derived from the raw rows" : "");
	} else {
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "no reported number to check");
	}
	kva_buf_free(&unrep.b);
	kva_buf_free(&bad.b);
	kva_buf_free(&unv.b);
}

static void r_headline_latency(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "headline-latency");
	double tt, tp, worst = -INFINITY;
	const char *worst_name = NULL, *worst_key = NULL;

	threshold(a, f, "under a throughput headline, TTFT and TPOT regress by at "
		  "most %g%% (FLAG beyond, FAIL beyond %g%%)",
		  a->o.latency_regress_pct, a->o.latency_hard_pct);
	if (!a->cmp) {
		a->res.headline_integrity = "unverified";
		conclude(a, f, KVA_SEV_FLAG, "evidence_absent", "flag", "no comparison: "
			 "the co-metrics cannot be checked");
		return;
	}
	if (!a->higher) {
		a->res.headline_integrity = "n/a";
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "the headline %s is not a "
			 "throughput (lower is better)", jstr(a->cmp->v, "metric") ?
			 jstr(a->cmp->v, "metric") : "metric");
		return;
	}
	tt = jnum(a->cmp->v, "ttft_delta_pct");
	tp = jnum(a->cmp->v, "tpot_delta_pct");
	for (int i = 0; i < 2; i++) {
		const char *k = i ? "tpot_median_ms" : "ttft_median_ms";
		double d = i ? tp : tt;

		if (a->ref)
			ev_num(f, fmt(a, "%s of %s", k, a->ref_name), jnum(a->ref->v, k),
			       a->ref->at, NULL);
		if (a->cand)
			ev_num(f, fmt(a, "%s of %s", k, a->cand_name), jnum(a->cand->v, k),
			       a->cand->at, NULL);
		ev_num(f, i ? "tpot_delta_pct" : "ttft_delta_pct", d, a->cmp->at, NULL);
		if (isfinite(d) && -d > worst) {
			worst = -d;
			worst_name = i ? "TPOT" : "TTFT";
			worst_key = k;
		}
	}
	if (!worst_name) {
		a->res.headline_integrity = "unverified";
		conclude(a, f, KVA_SEV_FLAG, "evidence_absent", "flag", "the raw rows "
			 "carry no TTFT or TPOT: a throughput headline cannot be "
			 "checked for a hidden latency regression");
		return;
	}
	if (worst > a->o.latency_hard_pct) {
		a->res.headline_integrity = "fail";
		conclude(a, f, KVA_SEV_FAIL, "violated", "eject", "%s regressed by "
			 "%.1f%% under the throughput headline, past the hard limit "
			 "%g%%", worst_name, worst, a->o.latency_hard_pct);
	} else if (worst > a->o.latency_regress_pct) {
		a->res.headline_integrity = "flag";
		conclude(a, f, KVA_SEV_FLAG, "violated", "flag", "%s regressed by "
			 "%.1f%% (%s -> %s ms) under the throughput headline", worst_name,
			 worst, hnum(a, jnum(a->ref ? a->ref->v : NULL, worst_key)),
			 hnum(a, jnum(a->cand ? a->cand->v : NULL, worst_key)));
	} else {
		a->res.headline_integrity = "ok";
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "TTFT %s, TPOT %s: no "
			 "co-metric regressed beyond %g%%", hpct(a, tt), hpct(a, tp),
			 a->o.latency_regress_pct);
	}
}

static void r_lever_class(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "lever-class");
	words ind = { { 0 }, 0, NULL }, bl = { { 0 }, 0, ", " };
	int kernel = streq(a->headline, "kernel");

	threshold(a, f, "every lever classified (A kernel, B orthogonal) from its "
		  "keys or a cited hunk; a B lever is never sold as a kernel win");
	for (size_t i = 0; i < a->nlev; i++) {
		const lever *l = &a->lev[i];
		char cls[2] = { l->cls, 0 };

		ev_str(f, fmt(a, "lever %s (%s)", l->name, l->why), l->cls ? cls : NULL,
		       l->rec ? l->rec->at : leg_cfg_at(a->cand), src_of(l->rec));
		if (!l->cls)
			words_add(&ind, "lever %s: %s", l->name, l->why);
		else if (l->cls == 'B')
			words_add(&bl, "%s", l->name);
	}
	for (size_t i = 0; i < a->n[R_CLAIM]; i++)
		if (jstr(a->r[R_CLAIM][i].v, "headline"))
			ev_str(f, "claimed headline", jstr(a->r[R_CLAIM][i].v, "headline"),
			       a->r[R_CLAIM][i].at, src_of(&a->r[R_CLAIM][i]));
	if (!a->nlev) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "eject", "no lever "
			 "record and no configuration difference: the change cannot be "
			 "classified (cite it with a lever record)");
	} else if (ind.n) {
		/* some levers classified, some not: the evidence is partial */
		const char *st = ind.n < a->nlev ? "partial" : "evidence_absent";

		conclude(a, f, KVA_SEV_FAIL, st, "eject", "indeterminate class: %s",
			 words_done(a, &ind));
	} else if (bl.n && kernel) {
		const char *verb = bl.n == 1 ? "is" : "are";

		conclude(a, f, KVA_SEV_FLAG, "violated", "downgrade_headline", "%s %s "
			 "an orthogonal serving lever (B) sold as a kernel win: %s",
			 words_done(a, &bl), verb, decomposition(a));
	} else {
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%s", decomposition(a));
	}
	kva_buf_free(&ind.b);
	kva_buf_free(&bl.b);
}

static void r_isolated_vs_e2e(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "isolated-vs-e2e");
	words bad = { { 0 }, 0, NULL };
	size_t gaps = 0;

	threshold(a, f, "a claimed isolated speedup comes from a fair harness: "
		  "baseline backend != candidate backend, rel_err <= rel_tol (default "
		  "%g), dispatch path = served path", a->o.rel_tol);
	if (!a->isolated) {
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "no isolated number is claimed");
		return;
	}
	ev_json(f, "claimed isolated_speedup", a->isolated, a->isolated_rec->at,
		src_of(a->isolated_rec));
	if (!a->n[R_HARNESS]) {
		conclude(a, f, KVA_SEV_FLAG, "evidence_absent", "replace_headline_with_e2e",
			 "the isolated %sx has no harness evidence behind it: the e2e "
			 "delta %s is the headline", hjson(a, a->isolated),
			 hpct(a, a->cmp ? jnum(a->cmp->v, "delta_pct") : NAN));
		return;
	}
	for (size_t i = 0; i < a->n[R_HARNESS]; i++) {
		const arec *r = &a->r[R_HARNESS][i];
		const char *bb = jstr(r->v, "baseline_backend"), *cb = jstr(r->v, "candidate_backend");
		const char *dp = jstr(r->v, "dispatch_path"), *sp = jstr(r->v, "served_path");
		double re = jnum(r->v, "rel_err"), tol = jnum(r->v, "rel_tol");
		int self = jbool(r->v, "self_compare", -1);

		if (!isfinite(tol))
			tol = a->o.rel_tol;
		ev_str(f, "harness baseline_backend", bb, r->at, src_of(r));
		ev_str(f, "harness candidate_backend", cb, r->at, src_of(r));
		ev_num(f, "harness rel_err", re, r->at, src_of(r));
		ev_str(f, "harness dispatch_path", dp, r->at, src_of(r));
		ev_str(f, "harness served_path", sp, r->at, src_of(r));
		if (self == 1 || (bb && cb && !strcmp(bb, cb)))
			words_add(&bad, "its baseline compares %s with itself", cb ? cb : "the candidate");
		else if (self == -1 && !(bb && cb))
			gaps++;
		if (isfinite(re) && re > tol)
			words_add(&bad, "rel_err %g exceeds %g", re, tol);
		else if (!isfinite(re))
			gaps++;
		if (dp && sp && strcmp(dp, sp))
			words_add(&bad, "it dispatches through %s, the server through %s", dp, sp);
		else if (!dp || !sp)
			gaps++;
	}
	if (bad.n)
		conclude(a, f, KVA_SEV_FLAG, "violated", "replace_headline_with_e2e",
			 "the isolated %sx is not a measurement of the served kernel "
			 "(%s); the e2e delta %s is the headline", hjson(a, a->isolated),
			 words_done(a, &bad), hpct(a, a->cmp ? jnum(a->cmp->v, "delta_pct") : NAN));
	else if (gaps)
		conclude(a, f, KVA_SEV_FLAG, "partial", "replace_headline_with_e2e",
			 "the harness evidence for the isolated %sx is incomplete "
			 "(backends, rel_err, dispatch and served path are all needed): "
			 "the e2e delta is the headline", hjson(a, a->isolated));
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "the isolated %sx comes "
			 "from a fair harness", hjson(a, a->isolated));
}

/* ---- the baseline scope ----------------------------------------------------------------- */

static void r_baseline_invariant(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "baseline-invariant");
	words bad = { { 0 }, 0, NULL }, unv = { { 0 }, 0, NULL };
	size_t n = 0;

	threshold(a, f, "every configuration claim about the baseline leg (its "
		  "intended serving invariant) agrees with its raw server_info");
	for (size_t i = 0; i < a->n[R_CHECK]; i++) {
		const kva_jval *c = a->r[R_CHECK][i].v;
		const char *key = jstr(c, "key");

		if (!streq(jstr(c, "stat"), "config") || !streq(jstr(c, "leg"), a->ref_name))
			continue;
		n++;
		ev_json(f, fmt(a, "declared %s", key), kva_json_get(c, "reported"),
			jstr(c, "at"), NULL);
		ev_json(f, fmt(a, "ran at %s", key), kva_json_get(c, "derived"),
			leg_cfg_at(a->ref), NULL);
		if (streq(jstr(c, "status"), "unverifiable"))
			words_add(&unv, "%s (%s%s%s)", key, jstr(c, "at"),
				  jstr(c, "reason") ? ": " : "",
				  jstr(c, "reason") ? jstr(c, "reason") : "");
		else if (!streq(jstr(c, "status"), "agree"))
			words_add(&bad, "%s: declared %s, ran at %s (%s)", key,
				  hjson(a, kva_json_get(c, "reported")),
				  hjson(a, kva_json_get(c, "derived")), jstr(c, "at"));
	}
	if (!a->ref) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "remeasure", "no "
			 "baseline leg with reps");
	} else if (bad.n) {
		conclude(a, f, KVA_SEV_FAIL, "violated", "remeasure", "the baseline "
			 "did not run at its intended invariant, so every delta gated "
			 "on it is skewed: %s", words_done(a, &bad));
	} else if (unv.n) {
		/* a declared key the raw rows cannot confirm: still a FAIL (it
		 * may be the handicap), short of evidence rather than shown */
		size_t nu = unv.n;

		conclude(a, f, KVA_SEV_FAIL, nu < n ? "partial" : "evidence_absent",
			 "remeasure", "%zu of %zu declared key%s of the baseline could "
			 "not be confirmed from its raw server_info: %s", nu, n,
			 n == 1 ? "" : "s", words_done(a, &unv));
	} else if (!n) {
		conclude(a, f, KVA_SEV_FLAG, "evidence_absent", "flag", "no intended "
			 "invariant is declared for leg %s (a claim with server_info "
			 "about it): the baseline cannot be confirmed at the setting "
			 "the candidates will run at", a->ref_name);
	} else {
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "the baseline ran at its "
			 "declared invariant (%zu key%s)", n, n == 1 ? "" : "s");
	}
	kva_buf_free(&bad.b);
	kva_buf_free(&unv.b);
}

static void r_baseline_spread(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "baseline-spread");
	double band3 = 3 * a->o.noise_band_pct, sp;

	threshold(a, f, "spread_pct = 100 (max - min) / median <= %g (3 x the "
		  "noise band)", band3);
	if (!a->ref || !(jnum(a->ref->v, "n") > 0)) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "remeasure", "no "
			 "baseline leg with reps");
		return;
	}
	sp = jnum(a->ref->v, "spread_pct");
	ev_num(f, "min", jnum(a->ref->v, "min"), leg_at(a->ref, "min_at"), NULL);
	ev_num(f, "max", jnum(a->ref->v, "max"), leg_at(a->ref, "max_at"), NULL);
	ev_num(f, "median", jnum(a->ref->v, "median"), leg_median_at(a->ref), NULL);
	ev_num(f, "spread_pct", sp, a->ref->at, NULL);
	if (!isfinite(sp))
		conclude(a, f, KVA_SEV_FLAG, "evidence_absent", "remeasure", "the "
			 "spread of leg %s is undefined", a->ref_name);
	else if (sp > band3)
		conclude(a, f, KVA_SEV_FLAG, "violated", "remeasure", "spread %.2f%% "
			 "exceeds %g%% (3 x the noise band %g%%): too noisy to gate a "
			 "win smaller than the spread", sp, band3, a->o.noise_band_pct);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "spread %.2f%%", sp);
}

static void r_baseline_warmup(kva_audit *a)
{
	kva_audit_finding *f = new_finding(a, "baseline-warmup");
	const kva_jval *reps, *wo;

	threshold(a, f, "rep 0 is not a warm-up outlier (modified z beyond %g in "
		  "the worse direction, hyperfine's rule)", KVA_STATS_OUTLIER_Z);
	if (!a->ref || !(jnum(a->ref->v, "n") > 0)) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "remeasure", "no "
			 "baseline leg with reps");
		return;
	}
	reps = kva_json_get(a->ref->v, "reps");
	wo = kva_json_get(a->ref->v, "warmup_outlier");
	if (reps && reps->child)
		ev_num(f, "rep 0", jnum(reps->child, "value"), jstr(reps->child, "at"), NULL);
	ev_num(f, "warmup_z", jnum(a->ref->v, "warmup_z"), a->ref->at, NULL);
	if (!wo)
		conclude(a, f, KVA_SEV_FLAG, "evidence_absent", "remeasure", "leg %s "
			 "does not say whether rep 0 is a warm-up outlier", a->ref_name);
	else if (wo->t == KVA_JTRUE)
		conclude(a, f, KVA_SEV_FLAG, "violated", "remeasure", "rep 0 (%s) is "
			 "a warm-up outlier, modified z %.1f: discard warm-up runs and "
			 "re-measure", hnum(a, reps && reps->child ?
			 jnum(reps->child, "value") : NAN), jnum(a->ref->v, "warmup_z"));
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "rep 0 is in line with "
			 "the rest (modified z %s)", hnum(a, jnum(a->ref->v, "warmup_z")));
}

/* ---- the harness scope ------------------------------------------------------------------ */

/* A check of one harness record: adds evidence and problems; returns 1
 * when the record lacks what the check needs. */
typedef int (*harness_check)(kva_audit *a, kva_audit_finding *f, const arec *r,
			     words *bad);

static const char *op_of(const arec *r)
{
	return jstr(r->v, "op") ? jstr(r->v, "op") : "the kernel";
}

static int hc_self(kva_audit *a, kva_audit_finding *f, const arec *r, words *bad)
{
	const char *bb = jstr(r->v, "baseline_backend"), *cb = jstr(r->v, "candidate_backend");
	int self = jbool(r->v, "self_compare", -1);

	ev_str(f, fmt(a, "%s baseline_backend", op_of(r)), bb, r->at, src_of(r));
	ev_str(f, fmt(a, "%s candidate_backend", op_of(r)), cb, r->at, src_of(r));
	if (self != -1)
		ev_bool(f, fmt(a, "%s self_compare", op_of(r)), self, r->at, src_of(r));
	if (self == 1 || (bb && cb && !strcmp(bb, cb))) {
		words_add(bad, "%s: the baseline is the candidate itself (%s vs %s)",
			  op_of(r), bb ? bb : "?", cb ? cb : "?");
		return 0;
	}
	return self == -1 && !(bb && cb);
}

static int hc_rel_err(kva_audit *a, kva_audit_finding *f, const arec *r, words *bad)
{
	double re = jnum(r->v, "rel_err"), tol = jnum(r->v, "rel_tol");

	if (!isfinite(tol))
		tol = a->o.rel_tol;
	ev_num(f, fmt(a, "%s rel_err", op_of(r)), re, r->at, src_of(r));
	ev_num(f, fmt(a, "%s rel_tol", op_of(r)), tol, r->at, src_of(r));
	if (!isfinite(re))
		return 1;
	if (re > tol)
		words_add(bad, "%s: rel_err %g against the true reference exceeds %g",
			  op_of(r), re, tol);
	return 0;
}

static int hc_dispatch(kva_audit *a, kva_audit_finding *f, const arec *r, words *bad)
{
	const char *dp = jstr(r->v, "dispatch_path"), *sp = jstr(r->v, "served_path");

	ev_str(f, fmt(a, "%s dispatch_path", op_of(r)), dp, r->at, src_of(r));
	ev_str(f, fmt(a, "%s served_path", op_of(r)), sp, r->at, src_of(r));
	if (!dp || !sp)
		return 1;
	if (strcmp(dp, sp))
		words_add(bad, "%s: measured through %s, served through %s", op_of(r), dp, sp);
	return 0;
}

static int hc_shapes(kva_audit *a, kva_audit_finding *f, const arec *r, words *bad)
{
	const kva_jval *sh = kva_json_get(r->v, "shapes"), *sv = kva_json_get(r->v, "served_shapes");
	words miss = { { 0 }, 0, ", " };

	ev_json(f, fmt(a, "%s shapes", op_of(r)), sh, r->at, src_of(r));
	ev_json(f, fmt(a, "%s served_shapes", op_of(r)), sv, r->at, src_of(r));
	if (!sh || !sv)
		return 1;
	for (const kva_jval *s = sv->child; s; s = s->next) {
		kva_buf c1 = { 0 }, c2 = { 0 };
		int found = 0;

		kva_json_write_canon(&c1, s);
		for (const kva_jval *t = sh->child; t && !found; t = t->next) {
			c2.len = 0;
			kva_json_write_canon(&c2, t);
			found = c1.len == c2.len && !memcmp(c1.p, c2.p, c1.len);
		}
		if (!found)
			words_add(&miss, "%s", c1.p);
		kva_buf_free(&c1);
		kva_buf_free(&c2);
	}
	if (miss.n) {
		const char *plural = miss.n == 1 ? "" : "s";

		words_add(bad, "%s: served shape%s %s not measured", op_of(r),
			  plural, words_done(a, &miss));
	}
	kva_buf_free(&miss.b);
	return 0;
}

static int hc_oracle(kva_audit *a, kva_audit_finding *f, const arec *r, words *bad)
{
	const char *s = jstr(r->v, "oracle_sha256"), *want = jstr(r->v, "oracle_sha256_ref");

	ev_str(f, fmt(a, "%s oracle_sha256", op_of(r)), s, r->at, src_of(r));
	ev_str(f, fmt(a, "%s oracle_sha256_ref", op_of(r)), want, r->at, src_of(r));
	if (!s || !want)
		return 1;
	if (strcmp(s, want))
		words_add(bad, "%s: the oracle changed (sha256 %.12s..., reference "
			  "%.12s...)", op_of(r), s, want);
	return 0;
}

static void r_harness(kva_audit *a, const char *id, harness_check check,
		      int absent_sev, const char *thr, const char *lacks,
		      const char *holds)
{
	kva_audit_finding *f = new_finding(a, id);
	words bad = { { 0 }, 0, NULL };
	size_t gaps = 0;

	threshold(a, f, "%s", thr);
	if (!a->n[R_HARNESS]) {
		conclude(a, f, KVA_SEV_FAIL, "evidence_absent", fail_action(a), "no "
			 "harness record: the rig cannot be validated");
		return;
	}
	for (size_t i = 0; i < a->n[R_HARNESS]; i++)
		gaps += (size_t)check(a, f, &a->r[R_HARNESS][i], &bad);
	if (bad.n)
		conclude(a, f, KVA_SEV_FAIL, "violated", fail_action(a), "%s",
			 words_done(a, &bad));
	else if (gaps)
		/* some records carry it: partial; none: absent */
		conclude(a, f, absent_sev, gaps < a->n[R_HARNESS] ? "partial" :
			 "evidence_absent", absent_sev == KVA_SEV_FAIL ?
			 fail_action(a) : "flag", "%zu harness record%s no %s", gaps,
			 gaps == 1 ? " has" : "s have", lacks);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%s", holds);
}

/* ---- the profile scope ------------------------------------------------------------------ */

typedef struct opsum {
	const char *op;       /* "" for entries with no op */
	double t, tmax;       /* summed and largest entry's GPU time */
	size_t n;
	const arec *first, *maxrec;
	int routed, skipped;  /* entries with route optimize / skip */
} opsum;

static int blank_shape(const kva_jval *v)
{
	return !v || (v->t == KVA_JSTR && !v->slen) || (v->t == KVA_JARR && !v->child);
}

static void r_profile(kva_audit *a)
{
	kva_audit_finding *f;
	opsum *ops = NULL;
	size_t nops = 0, dom = 0, top = 0, misflag = 0, withsrc = 0;
	double total = 0, blank = 0;
	const arec *topr = NULL;
	const char *rules[] = { "profile-fragmentation", "profile-unattributed",
		"profile-edit-flag", "profile-routing" };

	for (size_t i = 0; i < a->n[R_PROFILE]; i++) {
		const arec *r = &a->r[R_PROFILE][i];
		const char *op = jstr(r->v, "op");
		double t = jnum(r->v, "gpu_time_us");
		size_t k;

		total += t;
		if (!*op || blank_shape(kva_json_get(r->v, "shape")))
			blank += t;
		for (k = 0; k < nops && strcmp(ops[k].op, op); k++)
			;
		if (k == nops) {
			ops = xrealloc(ops, nops + 1, sizeof *ops);
			memset(&ops[nops], 0, sizeof *ops);
			ops[nops].op = op;
			ops[nops++].first = r;
		}
		ops[k].t += t;
		ops[k].n++;
		if (!ops[k].maxrec || t > ops[k].tmax) {
			ops[k].tmax = t;
			ops[k].maxrec = r;
		}
		ops[k].routed += streq(jstr(r->v, "route"), "optimize");
		ops[k].skipped += streq(jstr(r->v, "route"), "skip");
		if (!topr || t > jnum(topr->v, "gpu_time_us")) {
			topr = r;
			top = k;
		}
	}
	if (!a->n[R_PROFILE] || !(total > 0)) {
		for (int i = 0; i < 4; i++) {
			f = new_finding(a, rules[i]);
			threshold(a, f, "a profile with GPU time to attribute");
			conclude(a, f, KVA_SEV_FAIL, "evidence_absent", "remeasure", "%s",
				 a->n[R_PROFILE] ? "the profile records no GPU time" :
				 "no profile record");
		}
		free(ops);
		return;
	}
	for (size_t k = 1; k < nops; k++)
		if (ops[k].t > ops[dom].t)
			dom = k;

	f = new_finding(a, rules[0]);
	threshold(a, f, "re-aggregated by op, the op with the most GPU time is "
		  "the op of the largest single entry, and is not split into "
		  "entries each below %g%% of GPU time", a->o.fragment_pct);
	for (size_t k = 0; k < nops; k++)
		ev_num(f, fmt(a, "GPU time share of op %s (%zu entr%s), %%",
			      *ops[k].op ? ops[k].op : "(none)", ops[k].n,
			      ops[k].n == 1 ? "y" : "ies"), 100 * ops[k].t / total,
		       ops[k].first->at, src_of(ops[k].first));
	ev_num(f, fmt(a, "largest entry %s, %%", jstr(topr->v, "kernel")),
	       100 * jnum(topr->v, "gpu_time_us") / total, topr->at, src_of(topr));
	if (top != dom)
		conclude(a, f, KVA_SEV_FLAG, "violated", "reroute", "the largest entry "
			 "(%s, %.1f%%) is op %s, but op %s takes the most GPU time once "
			 "re-aggregated: %.1f%% over %zu entries", jstr(topr->v, "kernel"),
			 100 * jnum(topr->v, "gpu_time_us") / total,
			 *ops[top].op ? ops[top].op : "(none)",
			 *ops[dom].op ? ops[dom].op : "(none)", 100 * ops[dom].t / total,
			 ops[dom].n);
	else if (ops[dom].n > 1 && 100 * ops[dom].tmax / total < a->o.fragment_pct &&
		 100 * ops[dom].t / total >= a->o.fragment_pct)
		conclude(a, f, KVA_SEV_FLAG, "violated", "reroute", "op %s is split "
			 "into %zu entries, each below %g%%, though it takes %.1f%% of "
			 "GPU time", ops[dom].op, ops[dom].n, a->o.fragment_pct,
			 100 * ops[dom].t / total);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "op %s leads with %.1f%% "
			 "of GPU time (%zu entr%s)", *ops[dom].op ? ops[dom].op : "(none)",
			 100 * ops[dom].t / total, ops[dom].n, ops[dom].n == 1 ? "y" : "ies");

	f = new_finding(a, rules[1]);
	threshold(a, f, "at most 50%% of GPU time in entries without an op or a shape");
	for (size_t i = 0; i < a->n[R_PROFILE]; i++) {
		const arec *r = &a->r[R_PROFILE][i];

		if (*jstr(r->v, "op") && !blank_shape(kva_json_get(r->v, "shape")))
			continue;
		ev_num(f, fmt(a, "gpu_time_us of %s (no op or shape)", jstr(r->v, "kernel")),
		       jnum(r->v, "gpu_time_us"), r->at, src_of(r));
	}
	ev_num(f, "GPU time of all entries, us", total, a->r[R_PROFILE][0].at, NULL);
	ev_num(f, "GPU time share without an op or a shape, %", 100 * blank / total,
	       NULL, NULL);
	if (100 * blank / total > 50)
		conclude(a, f, KVA_SEV_FLAG, "violated", "remeasure", "%.1f%% of GPU "
			 "time is in entries with no op or no shape: the trace cannot "
			 "be attributed", 100 * blank / total);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%.1f%% of GPU time is "
			 "unattributed", 100 * blank / total);

	f = new_finding(a, rules[2]);
	threshold(a, f, "no entry whose kernel has a source file in the tree is "
		  "tagged edit=false");
	for (size_t i = 0; i < a->n[R_PROFILE]; i++) {
		const arec *r = &a->r[R_PROFILE][i];

		if (!jstr(r->v, "source_file"))
			continue;
		withsrc++;
		ev_bool(f, fmt(a, "edit of %s (source %s)", jstr(r->v, "kernel"),
			       jstr(r->v, "source_file")), jbool(r->v, "edit", -1),
			r->at, src_of(r));
		if (jbool(r->v, "edit", 1))
			continue;
		misflag++;
	}
	if (misflag)
		conclude(a, f, KVA_SEV_FLAG, "violated", "reroute", "%zu editable "
			 "kernel%s tagged edit=false would be routed to skip", misflag,
			 misflag == 1 ? " is" : "s are");
	else if (withsrc)
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "%zu entr%s with a "
			 "source file, none tagged edit=false", withsrc,
			 withsrc == 1 ? "y" : "ies");
	else
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "no entry names a source "
			 "file, so no edit flag can be checked");

	f = new_finding(a, rules[3]);
	threshold(a, f, "the op with the most GPU time is routed for optimization");
	ev_num(f, fmt(a, "entries of op %s routed optimize", ops[dom].op),
	       ops[dom].routed, ops[dom].first->at, src_of(ops[dom].first));
	ev_num(f, fmt(a, "entries of op %s routed skip", ops[dom].op),
	       ops[dom].skipped, ops[dom].first->at, src_of(ops[dom].first));
	if (!ops[dom].routed && !ops[dom].skipped)
		conclude(a, f, KVA_SEV_PASS, "n/a", "pass", "no routing decision was "
			 "given for op %s", ops[dom].op);
	else if (!ops[dom].routed)
		conclude(a, f, KVA_SEV_FLAG, "violated", "reroute", "op %s, %.1f%% of "
			 "GPU time, is routed skip", ops[dom].op, 100 * ops[dom].t / total);
	else
		conclude(a, f, KVA_SEV_PASS, "holds", "pass", "op %s is routed for "
			 "optimization", ops[dom].op);
	free(ops);
}

/* ---- the verdict ---------------------------------------------------------------------- */

static const kva_audit_finding *finding_of(const kva_audit *a, const char *rule)
{
	for (size_t i = 0; i < a->res.nfindings; i++)
		if (!strcmp(a->res.findings[i].rule, rule))
			return &a->res.findings[i];
	return NULL;
}

/* Actions in the order a verdict takes them from its findings. */
static const char *const action_order[] = { "eject", "redo_harness",
	"remeasure", "replace_headline_with_e2e", "downgrade_headline",
	"reroute", "flag", "pass", NULL };

static void finding_json(kva_audit *a, kva_audit_finding *f)
{
	kva_buf *b = &f->json;

	kva_buf_puts(b, "{\"type\":\"finding\"");
	put_kstr(b, "rule", f->rule);
	put_kstr(b, "scope", kva_scope_names[a->o.scope]);
	put_kstr(b, "severity", kva_sev_names[f->severity]);
	put_kstr(b, "status", f->status);
	put_kstr(b, "action", f->action);
	put_kstr(b, "threshold", f->threshold);
	put_kstr(b, "message", f->message);
	kva_buf_puts(b, ",\"evidence\":");
	if (f->evidence.len) {
		kva_buf_put(b, f->evidence.p, f->evidence.len);
		kva_buf_putc(b, ']');
	} else {
		kva_buf_puts(b, "[]");
	}
	kva_buf_putc(b, '}');
}

/* JSON true/false from a finding's outcome; null when the rule is absent. */
static void put_ok(kva_buf *b, const char *k, const kva_audit_finding *f)
{
	kva_buf_printf(b, ",\"%s\":%s", k, !f ? "null" :
		       f->severity != KVA_SEV_FAIL && strcmp(f->status, "evidence_absent") &&
		       strcmp(f->status, "partial") ? "true" : "false");
}

static void put_pair(kva_buf *b, const char *k, const arec *ref, const arec *cand,
		     const char *field)
{
	kva_buf_printf(b, "\"%s\":{\"ref\":", k);
	kva_buf_num(b, ref ? jnum(ref->v, field) : NAN);
	kva_buf_puts(b, ",\"cand\":");
	kva_buf_num(b, cand ? jnum(cand->v, field) : NAN);
	kva_buf_putc(b, '}');
}

static void verdict_json(kva_audit *a)
{
	kva_audit_result *r = &a->res;
	kva_buf *b = &r->json;
	int timed2 = a->o.scope == KVA_SCOPE_PATCH || a->o.scope == KVA_SCOPE_BUNDLE;
	size_t count[3] = { 0, 0, 0 };
	int first;

	kva_buf_puts(b, "{\"type\":\"verdict\"");
	put_kstr(b, "scope", r->scope);
	put_kstr(b, "leg", r->leg);
	put_kstr(b, "ref", r->ref);
	put_kstr(b, "metric", r->metric);
	put_kstr(b, "verdict", kva_sev_names[r->verdict]);
	put_kstr(b, "action", r->action);
	for (int pass = 0; pass < 4; pass++) {
		static const char *const lists[] = { "reasons", "rules_fired",
			"evidence_absent", "partial" };

		kva_buf_printf(b, ",\"%s\":[", lists[pass]);
		first = 1;
		for (size_t i = 0; i < r->nfindings; i++) {
			const kva_audit_finding *f = &r->findings[i];
			const char *s;

			if (f->severity == KVA_SEV_PASS ||
			    (pass >= 2 && strcmp(f->status, lists[pass])))
				continue;
			if (!first)
				kva_buf_putc(b, ',');
			first = 0;
			s = pass ? f->rule : fmt(a, "%s: %s", f->rule, f->message);
			kva_buf_jstr(b, s, strlen(s));
		}
		kva_buf_putc(b, ']');
	}
	put_kstr(b, "lever_class", r->lever_class);
	kva_buf_puts(b, ",\"levers\":");
	if (timed2) {
		kva_buf_putc(b, '[');
		for (size_t i = 0; i < a->nlev; i++) {
			const lever *l = &a->lev[i];
			char cls[2] = { l->cls, 0 };

			kva_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
			kva_buf_jstr(b, l->name, strlen(l->name));
			put_kstr(b, "class", l->cls ? cls : NULL);
			put_kstr(b, "from", l->rec ? "lever record" : "config_diff");
			put_kstr(b, "why", l->why);
			put_kstr(b, "at", l->rec ? l->rec->at : leg_cfg_at(a->cand));
			if (l->slice_leg) {
				put_kstr(b, "slice_leg", l->slice_leg);
				put_knum(b, "slice_pct", l->slice);
			}
			kva_buf_putc(b, '}');
		}
		kva_buf_putc(b, ']');
	} else {
		kva_buf_puts(b, "null");
	}
	put_kstr(b, "lever_decomposition", timed2 ? decomposition(a) : NULL);
	kva_buf_printf(b, ",\"counts_as_kernel_win\":%s", r->counts_as_kernel_win < 0 ?
		       "null" : r->counts_as_kernel_win ? "true" : "false");
	put_knum(b, "e2e_delta_pct", r->e2e_delta_pct);
	put_knum(b, "ci_low_pct", timed2 && a->cmp ? jnum(a->cmp->v, "ci_low_pct") : NAN);
	put_knum(b, "ci_high_pct", timed2 && a->cmp ? jnum(a->cmp->v, "ci_high_pct") : NAN);
	put_knum(b, "mw_p", timed2 && a->cmp ? jnum(a->cmp->v, "mw_p") : NAN);
	kva_buf_printf(b, ",\"non_overlapping\":%s", !timed2 || !a->cmp ? "null" :
		       jbool(a->cmp->v, "non_overlap", 0) ? "true" : "false");
	put_ok(b, "same_conditions_ok", timed2 ? finding_of(a, "same-conditions") : NULL);
	put_knum(b, "baseline_drift_pct", r->baseline_drift_pct);
	put_ok(b, "engagement_ok", timed2 ? finding_of(a, "engagement") : NULL);
	put_kstr(b, "headline_integrity", r->headline_integrity);
	put_kstr(b, "correctness_status", r->correctness_status);
	kva_buf_puts(b, ",\"metrics\":");
	if (a->o.scope <= KVA_SCOPE_BASELINE) {
		kva_buf_putc(b, '{');
		put_pair(b, r->metric ? r->metric : "headline", a->ref,
			 timed2 ? a->cand : NULL, "median");
		kva_buf_putc(b, ',');
		put_pair(b, "ttft_ms", a->ref, timed2 ? a->cand : NULL, "ttft_median_ms");
		kva_buf_putc(b, ',');
		put_pair(b, "tpot_ms", a->ref, timed2 ? a->cand : NULL, "tpot_median_ms");
		kva_buf_putc(b, '}');
	} else {
		kva_buf_puts(b, "null");
	}
	kva_buf_puts(b, ",\"thresholds\":{\"noise_band_pct\":");
	kva_buf_num(b, a->o.noise_band_pct);
	put_knum(b, "alpha", a->o.alpha);
	kva_buf_printf(b, ",\"min_reps\":%lld", (long long)a->o.min_reps);
	put_knum(b, "baseline_throughput", a->o.baseline_throughput);
	put_knum(b, "latency_regress_pct", a->o.latency_regress_pct);
	put_knum(b, "latency_hard_limit_pct", a->o.latency_hard_pct);
	put_knum(b, "rel_tol", a->o.rel_tol);
	put_knum(b, "fragment_pct", a->o.fragment_pct);
	kva_buf_putc(b, '}');
	for (size_t i = 0; i < r->nfindings; i++)
		count[r->findings[i].severity]++;
	kva_buf_printf(b, ",\"findings\":{\"PASS\":%zu,\"FLAG\":%zu,\"FAIL\":%zu}}",
		       count[0], count[1], count[2]);
}

/* The evidence items of f as lines for people. */
static void text_evidence(kva_buf *t, const kva_audit_finding *f)
{
	kva_arena ar = { 0 };
	kva_buf ev = { 0 };
	const kva_jval *v;

	if (!f->evidence.len)
		return;
	kva_buf_put(&ev, f->evidence.p, f->evidence.len);
	kva_buf_putc(&ev, ']');
	v = kva_json_parse(&ar, ev.p, ev.len, NULL);
	for (const kva_jval *it = v ? v->child : NULL; it; it = it->next) {
		const kva_jval *val = kva_json_get(it, "value");
		const char *at = jstr(it, "at"), *src = jstr(it, "source");

		kva_buf_printf(t, "        %s = ", jstr(it, "what"));
		if (val && val->t == KVA_JSTR)
			kva_buf_put(t, val->s, val->slen);
		else
			kva_json_write(t, val);
		if (at)
			kva_buf_printf(t, "  (%s)", at);
		if (src)
			kva_buf_printf(t, "  [%s]", src);
		kva_buf_putc(t, '\n');
	}
	kva_arena_free(&ar);
	kva_buf_free(&ev);
}

static void verdict_text(kva_audit *a)
{
	kva_audit_result *r = &a->res;
	kva_buf *t = &r->text;
	int timed2 = a->o.scope == KVA_SCOPE_PATCH || a->o.scope == KVA_SCOPE_BUNDLE;

	kva_buf_printf(t, "audit-verdict: %s scope", r->scope);
	if (timed2)
		kva_buf_printf(t, ": leg %s against %s", r->leg ? r->leg : "-",
			       r->ref ? r->ref : "-");
	else if (a->o.scope == KVA_SCOPE_BASELINE)
		kva_buf_printf(t, ": leg %s", r->leg ? r->leg : "-");
	if (r->metric && a->o.scope <= KVA_SCOPE_BASELINE)
		kva_buf_printf(t, ", %s (%s is better)", r->metric,
			       a->higher ? "higher" : "lower");
	kva_buf_printf(t, "\nVERDICT %s: %s\n", kva_sev_names[r->verdict], r->action);
	if (timed2) {
		if (a->cmp)
			kva_buf_printf(t, "  e2e delta %s, 95%% CI [%s, %s], Mann-Whitney "
				       "p %s, %s\n", hpct(a, r->e2e_delta_pct),
				       hpct(a, jnum(a->cmp->v, "ci_low_pct")),
				       hpct(a, jnum(a->cmp->v, "ci_high_pct")),
				       hnum(a, jnum(a->cmp->v, "mw_p")),
				       jbool(a->cmp->v, "non_overlap", 0) ?
				       "non-overlapping" : "overlapping");
		kva_buf_printf(t, "  levers: %s; lever class %s; counts as a kernel "
			       "win: %s\n", decomposition(a),
			       r->lever_class ? r->lever_class : "indeterminate",
			       r->counts_as_kernel_win == 1 ? "yes" : "no");
	}
	for (size_t i = 0; i < r->nfindings; i++) {
		const kva_audit_finding *f = &r->findings[i];

		kva_buf_printf(t, "  %-4s %s: %s%s%s\n", strcmp(f->status, "n/a") ?
			       kva_sev_names[f->severity] : "n/a", f->rule, f->message,
			       !strcmp(f->status, "evidence_absent") ? " [evidence absent]" :
			       !strcmp(f->status, "partial") ? " [evidence partial]" : "",
			       f->severity ?
			       fmt(a, " -> %s", f->action) : "");
		if (f->severity == KVA_SEV_PASS)
			continue;
		kva_buf_printf(t, "        threshold: %s\n", f->threshold);
		text_evidence(t, f);
	}
}

/* ---- the ledger (--ledger) -------------------------------------------------------- */

/* The raw rows a ledger entry cites: a JSON array being built. */
typedef struct rows {
	kva_buf b;
	size_t n;
} rows;

static void rows_add(rows *r, const char *at)
{
	if (!at)
		return;
	kva_buf_puts(&r->b, r->n++ ? "," : "");
	kva_buf_jstr(&r->b, at, strlen(at));
}

/* Every rep of leg l, where it was read. */
static void rows_reps(rows *r, const arec *l)
{
	const kva_jval *reps = l ? kva_json_get(l->v, "reps") : NULL;

	for (const kva_jval *el = reps ? reps->child : NULL; el; el = el->next)
		rows_add(r, jstr(el, "at"));
}

/*
 * One ledger record: the claim (what, of which kind, where read), the
 * finding that judged it (rule, or NULL: nothing did, and the claim's
 * evidence is absent), its status, and the raw rows behind it.  status
 * NULL takes the finding's.  rw is emptied.
 */
static void ledger_put(kva_audit *a, const char *kind, const char *claim,
		       const char *at, const char *source, const char *leg,
		       const char *rule, const char *status, rows *rw)
{
	const kva_audit_finding *f = rule ? finding_of(a, rule) : NULL;
	kva_buf *b = &a->res.ledger, *t = &a->ledger_text;
	int win = !strcmp(kind, "delta") || !strcmp(kind, "headline");
	words blk = { { 0 }, 0, ", " };
	kva_buf bj = { 0 };
	size_t nb;

	if (!f)
		rule = NULL;
	if (!status)
		status = f ? f->status : "evidence_absent";
	/* a win stands only if no gate ejects the change, and a kernel
	 * headline only on a real delta */
	for (size_t i = 0; win && f && i < a->res.nfindings; i++) {
		const kva_audit_finding *g = &a->res.findings[i];

		if (g == f || !(g->severity == KVA_SEV_FAIL ||
				(!strcmp(kind, "headline") && !strcmp(g->rule, "real-delta") &&
				 strcmp(g->status, "holds"))))
			continue;
		words_add(&blk, "%s", g->rule);
		kva_buf_puts(&bj, bj.len ? "," : "");
		kva_buf_jstr(&bj, g->rule, strlen(g->rule));
	}
	kva_buf_puts(b, "{\"type\":\"ledger\"");
	put_kstr(b, "kind", kind);
	put_kstr(b, "claim", claim);
	put_kstr(b, "claim_at", at);
	if (source)
		put_kstr(b, "source", source);
	put_kstr(b, "leg", leg);
	put_kstr(b, "finding", rule);
	put_kstr(b, "severity", f ? kva_sev_names[f->severity] : NULL);
	put_kstr(b, "status", status);
	kva_buf_puts(b, ",\"rows\":[");
	kva_buf_put(b, rw->b.p ? rw->b.p : "", rw->b.len);
	kva_buf_puts(b, "]");
	if (win) {
		kva_buf_puts(b, ",\"blocked_by\":[");
		kva_buf_put(b, bj.p ? bj.p : "", bj.len);
		kva_buf_puts(b, "]");
	}
	nb = blk.n;
	kva_buf_printf(b, ",\"discharged\":%s}\n", streq(status, "holds") &&
		       !nb ? "true" : "false");
	a->res.nledger++;
	kva_buf_printf(t, "    %-15s %-17s %s  (%s%s%s)%s%s\n", status, rule ? rule : "-",
		       claim, at ? at : "-", source ? ", " : "", source ? source : "",
		       nb ? "; blocked by " : "", words_done(a, &blk));
	kva_buf_free(&blk.b);
	kva_buf_free(&bj);
	kva_buf_printf(t, "        rows: ");
	if (rw->n) {
		kva_arena ar = { 0 };
		kva_buf arr = { 0 };
		const kva_jval *v;
		int first = 1;

		kva_buf_putc(&arr, '[');
		kva_buf_put(&arr, rw->b.p, rw->b.len);
		kva_buf_putc(&arr, ']');
		v = kva_json_parse(&ar, arr.p, arr.len, NULL);
		/* consecutive lines of one file as FILE:FIRST-LAST */
		for (const kva_jval *el = v ? v->child : NULL; el; first = 0) {
			const char *c = strrchr(el->s, ':');
			size_t fl = c ? (size_t)(c - el->s) : el->slen;
			long l0 = c ? strtol(c + 1, NULL, 10) : 0, l1 = l0;
			const kva_jval *nx = el->next;

			while (c && nx) {
				const char *c2 = strrchr(nx->s, ':');

				if (!c2 || (size_t)(c2 - nx->s) != fl ||
				    memcmp(nx->s, el->s, fl) || strtol(c2 + 1, NULL, 10) != l1 + 1)
					break;
				l1++;
				nx = nx->next;
			}
			kva_buf_printf(t, "%s%s", first ? "" : ", ", el->s);
			if (l1 > l0)
				kva_buf_printf(t, "-%ld", l1);
			el = nx;
		}
		kva_arena_free(&ar);
		kva_buf_free(&arr);
	} else {
		kva_buf_puts(t, "none");
	}
	kva_buf_putc(t, '\n');
	kva_buf_free(&rw->b);
	memset(rw, 0, sizeof *rw);
}

/* Whether claim_check c checks a member of claim record cl. */
static int check_of_claim(const kva_jval *c, const kva_jval *cl)
{
	const char *stat = jstr(c, "stat");

	if (!streq(jstr(c, "leg"), jstr(cl, "leg")) || !stat)
		return 0;
	if (!strcmp(stat, "config"))
		return kva_json_get(cl, "server_info") || kva_json_get(cl, "config");
	return kva_json_get(cl, stat) != NULL;
}

/*
 * The ledger: every claim the audit was given, bound to the finding that
 * judged it.  A claim record's claim that its leg beats its reference
 * (it names a ref, or an e2e, serving or kernel headline) is judged by
 * real-delta on both legs' reps; a kernel headline by lever-class on the
 * levers; an isolated speedup by isolated-vs-e2e on the harness records;
 * each reported number (claim_check) by reported-vs-raw, or in the
 * baseline scope a configuration of the baseline leg by
 * baseline-invariant, on the rows it was re-derived from.  A claim of a
 * leg the audit did not audit, or in a scope without its rule, has no
 * finding: its evidence is absent.  A claim record that none of this
 * covers is a row of its own, never dropped.
 */
static void build_ledger(kva_audit *a)
{
	int timed2 = a->o.scope == KVA_SCOPE_PATCH || a->o.scope == KVA_SCOPE_BUNDLE;
	rows rw = { { 0 }, 0 };

	for (size_t i = 0; i < a->n[R_CLAIM]; i++) {
		const arec *r = &a->r[R_CLAIM][i];
		const char *leg = jstr(r->v, "leg"), *ref = jstr(r->v, "ref");
		const char *hl = jstr(r->v, "headline"), *src = src_of(r);
		int audited = timed2 && a->cmp && streq(leg, a->cand_name) &&
			      (!ref || streq(ref, a->ref_name));
		int any = 0;

		if (ref || streq(hl, "kernel") || streq(hl, "e2e") || streq(hl, "serving")) {
			if (audited) {
				rows_reps(&rw, a->cand);
				rows_reps(&rw, a->ref);
			}
			ledger_put(a, "delta", fmt(a, "%s beats %s%s%s%s", leg ? leg : "(no leg)",
						   ref ? ref : "its reference", hl ? " (headline " : "",
						   hl ? hl : "", hl ? ")" : ""), r->at, src, leg,
				   audited ? "real-delta" : NULL, NULL, &rw);
			any = 1;
		}
		if (streq(hl, "kernel")) {
			for (size_t k = 0; audited && k < a->nlev; k++) {
				if (a->lev[k].rec) {
					rows_add(&rw, a->lev[k].rec->at);
				} else {
					rows_add(&rw, leg_cfg_at(a->ref));
					rows_add(&rw, leg_cfg_at(a->cand));
					break;
				}
			}
			ledger_put(a, "headline", fmt(a, "the win of %s is a kernel win",
						      leg ? leg : "(no leg)"), r->at, src, leg,
				   audited ? "lever-class" : NULL, NULL, &rw);
			any = 1;
		}
		if (kva_json_get(r->v, "isolated_speedup")) {
			int judged = timed2 && r == a->isolated_rec;

			for (size_t k = 0; judged && k < a->n[R_HARNESS]; k++)
				rows_add(&rw, a->r[R_HARNESS][k].at);
			ledger_put(a, "isolated", fmt(a, "%s is %sx faster isolated",
						      leg ? leg : "(no leg)",
						      hjson(a, kva_json_get(r->v, "isolated_speedup"))),
				   r->at, src, leg, judged ? "isolated-vs-e2e" : NULL, NULL, &rw);
			any = 1;
		}
		for (size_t k = 0; !any && k < a->n[R_CHECK]; k++)
			any = check_of_claim(a->r[R_CHECK][k].v, r->v);
		if (!any)
			ledger_put(a, "claim", fmt(a, "the claim of %s", leg ? leg : "(no leg)"),
				   r->at, src, leg, NULL, NULL, &rw);
	}
	for (size_t i = 0; i < a->n[R_CHECK]; i++) {
		const arec *r = &a->r[R_CHECK][i];
		const char *leg = jstr(r->v, "leg"), *stat = jstr(r->v, "stat");
		const char *key = jstr(r->v, "key"), *st = jstr(r->v, "status");
		const char *rule = a->o.scope == KVA_SCOPE_BASELINE && streq(stat, "config") &&
				   streq(leg, a->ref_name) ? "baseline-invariant" :
				   a->o.scope <= KVA_SCOPE_BASELINE ? "reported-vs-raw" : NULL;
		const arec *l = find(a, R_LEG, "leg", leg);

		if (rule && !streq(st, "unverifiable")) {
			if (streq(stat, "config")) {
				rows_add(&rw, leg_cfg_at(l));
			} else {
				rows_reps(&rw, l);
				if (jstr(r->v, "ref"))
					rows_reps(&rw, find(a, R_LEG, "leg", jstr(r->v, "ref")));
			}
		}
		ledger_put(a, "reported", fmt(a, "%s %s%s%s = %s", leg, stat, key ? " " : "",
					      key ? key : "", hjson(a, kva_json_get(r->v, "reported"))),
			   jstr(r->v, "at"), NULL, leg, rule, !rule ? NULL :
			   streq(st, "agree") ? "holds" : streq(st, "mismatch") ? "violated" :
			   "evidence_absent", &rw);
	}
}

static void finish(kva_audit *a)
{
	kva_audit_result *r = &a->res;
	int timed2 = a->o.scope == KVA_SCOPE_PATCH || a->o.scope == KVA_SCOPE_BUNDLE;

	r->verdict = KVA_SEV_PASS;
	for (size_t i = 0; i < r->nfindings; i++)
		if (r->findings[i].severity > r->verdict)
			r->verdict = r->findings[i].severity;
	r->action = "pass";
	for (int k = 0; action_order[k] && r->verdict != KVA_SEV_PASS; k++) {
		size_t i;

		for (i = 0; i < r->nfindings; i++)
			if (r->findings[i].severity == r->verdict &&
			    !strcmp(r->findings[i].action, action_order[k]))
				break;
		if (i < r->nfindings) {
			r->action = action_order[k];
			break;
		}
	}
	r->scope = kva_scope_names[a->o.scope];
	r->leg = timed2 ? a->cand_name : a->o.scope == KVA_SCOPE_BASELINE ?
		 a->ref_name : NULL;
	r->ref = timed2 ? a->ref_name : NULL;
	r->metric = a->o.scope <= KVA_SCOPE_BASELINE ? jstr(a->cmp ? a->cmp->v :
		    a->ref ? a->ref->v : a->cand ? a->cand->v : NULL, "metric") : NULL;
	if (timed2) {
		int has_a = 0, has_b = 0, ind = !a->nlev;

		for (size_t i = 0; i < a->nlev; i++) {
			has_a |= a->lev[i].cls == 'A';
			has_b |= a->lev[i].cls == 'B';
			ind |= !a->lev[i].cls;
		}
		r->lever_class = ind ? NULL : has_a && has_b ? "A+B" : has_a ? "A" : "B";
		r->counts_as_kernel_win = !ind && !has_b && a->real_delta_holds &&
					  r->verdict != KVA_SEV_FAIL;
	}
	for (size_t i = 0; i < r->nfindings; i++)
		finding_json(a, &r->findings[i]);
	verdict_json(a);
	verdict_text(a);
	if (a->o.ledger) {
		build_ledger(a);
		kva_buf_printf(&r->text, "  ledger: %zu claim%s (status, finding, "
			       "claim, where it was read; the raw rows behind it)\n",
			       r->nledger, r->nledger == 1 ? "" : "s");
		kva_buf_put(&r->text, a->ledger_text.p ? a->ledger_text.p : "",
			    a->ledger_text.len);
	}
}

/* See audit.h. */
const kva_audit_result *kva_audit_eval(kva_audit *a, kva_err *e)
{
	if (a->evaluated)
		return &a->res;
	if (setup(a, e))
		return NULL;
	a->evaluated = 1;
	r_evidence_complete(a);
	switch (a->o.scope) {
	case KVA_SCOPE_PATCH:
	case KVA_SCOPE_BUNDLE:
		build_levers(a);
		r_same_conditions(a);
		r_contention(a);
		r_baseline_drift(a);
		r_real_delta(a);
		r_run_order(a);
		r_min_reps(a);
		r_crash(a);
		r_engagement(a);
		r_correctness(a);
		r_reported_vs_raw(a);
		r_headline_latency(a);
		r_lever_class(a);
		r_isolated_vs_e2e(a);
		break;
	case KVA_SCOPE_BASELINE:
		r_baseline_invariant(a);
		r_contention(a);
		r_baseline_drift(a);
		r_min_reps(a);
		r_crash(a);
		r_correctness(a);
		r_baseline_spread(a);
		r_baseline_warmup(a);
		r_reported_vs_raw(a);
		break;
	case KVA_SCOPE_HARNESS:
		r_harness(a, "harness-self-compare", hc_self, KVA_SEV_FAIL,
			  "the isolated baseline is not the candidate itself "
			  "(baseline_backend != candidate_backend, self_compare false)",
			  "backends", "every harness compares against another backend");
		r_harness(a, "harness-rel-err", hc_rel_err, KVA_SEV_FAIL, fmt(a,
			  "rel_err against the true reference <= rel_tol (the record's, "
			  "else %g)", a->o.rel_tol), "rel_err",
			  "every candidate is within tolerance of the true reference");
		r_harness(a, "harness-dispatch", hc_dispatch, KVA_SEV_FAIL,
			  "the kernel is measured through the dispatch path the server "
			  "uses (dispatch_path = served_path)", "dispatch and served path",
			  "every harness dispatches the way the server does");
		r_harness(a, "harness-shapes", hc_shapes, KVA_SEV_FAIL,
			  "every served shape is among the measured shapes",
			  "shapes and served_shapes", "every served shape is measured");
		r_harness(a, "harness-oracle", hc_oracle, KVA_SEV_FLAG,
			  "the oracle is unchanged (oracle_sha256 = oracle_sha256_ref)",
			  "oracle digests", "the oracle is unchanged");
		break;
	case KVA_SCOPE_PROFILE:
		r_profile(a);
		break;
	}
	finish(a);
	return &a->res;
}
