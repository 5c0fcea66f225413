/*
 * bench.h - bench-rederive's model: benchmark reps grouped into legs,
 * their configurations, the claims about them, and the format adapters
 * that read raw harness output into them.
 *
 * Everything hangs off one kva_bench context (no globals).  A tool fills
 * opts, feeds records to kva_bench_record, then calls kva_bench_finish.
 * The statistics are lib/stats.c's.
 */
#ifndef KVA_BENCH_H
#define KVA_BENCH_H

#include "kvarbiter.h"
#include "stats.h"

#define KVA_BENCH_CI_LEVEL 0.95
/* Reported summaries inside raw rows are the harness's own arithmetic on
 * the same data: they must agree to rounding noise. */
#define KVA_BENCH_EMBEDDED_TOLERANCE_PCT 1e-6

/* ---- allocation (exit 2 on out-of-memory) -------------------------------- */

void *kva_xrealloc(void *p, size_t n, size_t size);
char *kva_xstrdup(const char *s);
/* Grow an array p of cap elements so that n + 1 fit. */
#define KVA_GROW(p, n, cap) do { if ((n) == (cap)) { \
	(cap) = (cap) ? 2 * (cap) : 16; \
	(p) = kva_xrealloc((p), (cap), sizeof *(p)); } } while (0)

/* ---- configurations (lib/bench_cfg.c) -------------------------------------- */

/* A flattened configuration: sorted "path" -> canonical JSON value. */
typedef struct kva_cfgent {
	char *key, *val;
} kva_cfgent;
typedef struct kva_cfg {
	kva_cfgent *e;
	size_t n, cap;
	char digest[65];       /* kva_cfg_seal */
} kva_cfg;

/* A value's canonical text: numbers by value (1.0 and 1 alike; NaN and
 * the infinities as their word in quotes), strings re-escaped, object
 * members sorted. */
void kva_cfg_canon(kva_buf *b, const kva_jval *v);
/* Keys that change from run to run without changing the conditions
 * ("version", "timestamp", "pid", ...): left out at every depth. */
int kva_cfg_runtime_key(const char *k);
/* Flatten obj's members into c as dotted paths under path (a prefix,
 * maybe empty; restored on return).  skip, if not NULL, leaves out
 * top-level members it says 1 for. */
void kva_cfg_flatten(kva_cfg *c, kva_buf *path, const kva_jval *obj,
		     int (*skip)(const char *key));
/* Sort c and compute its digest: SHA-256 of "path=value\n" lines. */
void kva_cfg_seal(kva_cfg *c);
void kva_cfg_free(kva_cfg *c);
/* The entry of a sealed c for key, or NULL. */
const kva_cfgent *kva_cfg_find(const kva_cfg *c, const char *key);
/* Call fn for each path whose value differs between sealed a and b
 * (either side may lack it: its value is then NULL). */
void kva_cfg_diff(const kva_cfg *a, const kva_cfg *b,
		  void (*fn)(void *, const char *, const char *, const char *),
		  void *arg);

/* ---- the model ------------------------------------------------------------ */

struct kva_bench_fmt;

typedef struct kva_bench_opts {
	const char *metric;    /* --metric, or NULL: from the first row */
	int dir;               /* +1 higher is better, -1 lower, 0 from name */
	const char *ref;       /* --ref, or NULL: the first leg with reps */
	uint64_t resamples, seed;
	double tolerance_pct;
	const struct kva_bench_fmt *input_format; /* NULL: detect */
	int text, keep_going;
	size_t max_reps;
} kva_bench_opts;

/* How a rep's run order is known (kva_bench_rep_order). */
enum {
	KVA_ORDER_NONE,        /* not known */
	KVA_ORDER_SEQ,         /* a run record's "seq": runs numbered in order */
	KVA_ORDER_CLOCK        /* seconds since the epoch, from a harness's
				* timestamp (vLLM's "date", Google Benchmark's
				* and pytest-benchmark's file date) */
};

/* One rep: a value and where it came from. */
typedef struct kva_bench_rep {
	double v;
	long line;             /* line of the value in its file */
	uint32_t src;          /* index into kva_bench.srcs */
	char *why;             /* why it failed (owned), or NULL */
	int okind;             /* KVA_ORDER_* */
	double order;          /* its place in the run order (okind) */
} kva_bench_rep;

typedef struct kva_bench_leg {
	char *name;
	const struct kva_bench_fmt *fmt; /* of its rows */
	kva_bench_rep *reps;
	size_t n, cap, failed;
	double *ttft, *tpot;   /* per-rep median TTFT / TPOT, where given */
	size_t nttft, cttft, ntpot, ctpot;
	int cfg_seen;          /* some rep had a configuration */
	kva_cfg cfg;           /* of the first rep (maybe empty) */
	char **varies;         /* config paths that differ between reps */
	size_t nvaries;
	uint32_t *srcs;        /* sources that gave it reps, in order */
	size_t nsrcs;
	size_t other_metric;   /* run records of another metric */
	size_t emb_checked, emb_mismatched;
	/* derived (kva_bench_finish) */
	double *sorted, median, mean, min, max, stdev, mad, q1, q3;
	double warmup_z, drift, ttft_med, tpot_med;
	int warmup_outlier;
	size_t tukey15, tukey3;
} kva_bench_leg;

/* A claim record, kept as text and checked when every leg is known. */
typedef struct kva_bench_claim {
	char *text;
	size_t len;
	uint32_t src;
	long line;
} kva_bench_claim;

typedef struct kva_bench {
	kva_bench_opts op;
	kva_bench_leg **legs;
	size_t nlegs, caplegs;
	kva_bench_leg *last;
	char **srcs;           /* file names, for "at" */
	size_t nsrcs;
	kva_bench_claim *claims;
	size_t nclaims, capclaims;
	kva_buf checks;        /* embedded claim_check records, one a line */
	char *metric;          /* the headline metric (owned) */
	char unit[16];         /* its unit where a format says (Google
				* Benchmark's time_unit), else "" */
	int dir;
	int mismatch;          /* some claim_check did not agree */
	char field[192];       /* names a nested field in errors */
	kva_arena arena;
	uint64_t rows;
	kva_progress prog;
} kva_bench;

/* The record being read: where its values are, for provenance. */
typedef struct kva_bench_unit {
	uint32_t src;          /* kva_bench_src */
	const kva_rec *rec;
	const char *leg_name;  /* from LEG=FILE, or NULL */
	const struct kva_bench_fmt *fmt; /* the adapter reading it */
	long errline;          /* line an error is about */
} kva_bench_unit;

/* ---- format adapters ---------------------------------------------------------- */

/*
 * One input format.  A record with "type" equal to type (if not NULL) is
 * this format's whatever --input-format says; an untyped record is the
 * first adapter's in kva_bench_fmts whose detect says 1 (--input-format
 * names one instead).  read takes the record's reps into legs; it returns
 * 0, or -1 with e and u->errline (kva_bench_num and friends set it).  A
 * new format is one file lib/bfmt_NAME.c, one line in kva_bench_fmts
 * (lib/bench.c), its declaration below and its name in bench-rederive's
 * --input-format list.
 */
typedef struct kva_bench_fmt {
	const char *name;      /* --input-format NAME, a leg's "format" */
	const char *title;     /* for messages ("SGLang"), NULL if typed only */
	const char *type;      /* the "type" of its records, or NULL */
	int (*detect)(const kva_jval *doc);
	int (*read)(kva_bench *b, kva_bench_unit *u, const kva_jval *doc,
		    kva_err *e);
} kva_bench_fmt;

extern const kva_bench_fmt kva_bfmt_sglang, kva_bfmt_vllm; /* bfmt_serving.c */
extern const kva_bench_fmt kva_bfmt_hyperfine;            /* bfmt_hyperfine.c */
extern const kva_bench_fmt kva_bfmt_run;                  /* bfmt_run.c */
extern const kva_bench_fmt kva_bfmt_gbench;               /* bfmt_gbench.c */
extern const kva_bench_fmt kva_bfmt_pytest;               /* bfmt_pytest.c */
extern const kva_bench_fmt kva_bfmt_criterion;            /* bfmt_criterion.c */
/* Every adapter, in detection order, NULL-terminated. */
extern const kva_bench_fmt *const kva_bench_fmts[];
/* The adapter called name, or NULL. */
const kva_bench_fmt *kva_bench_fmt_find(const char *name);

/* ---- what adapters call ----------------------------------------------------- */

/* Line of the value v of u's record ("at" provenance). */
long kva_bench_line(const kva_bench_unit *u, const kva_jval *v);
/* A finite number v (NULL: missing) named field, or -1 with e. */
int kva_bench_num(kva_bench_unit *u, const kva_jval *v, const char *field,
		  double *out, kva_err *e);
/* An optional non-negative integer member; *out = -1 when absent. */
int kva_bench_count(kva_bench_unit *u, const kva_jval *obj, const char *field,
		    int64_t *out, kva_err *e);
/* An optional string member (NULL when absent); -1 if not a string. */
int kva_bench_str(kva_bench_unit *u, const kva_jval *obj, const char *field,
		  const char **out, kva_err *e);
/* NaN, Infinity or -Infinity: a bare word (KVA_JSON_NONFINITE) or a
 * string holding one. */
int kva_bench_nonfinite(const kva_jval *v);
/* A nested field name for an error, kept in b->field until the next. */
const char *kva_bench_field(kva_bench *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* +1 if a higher value of metric is better, -1 if lower, 0 if the name
 * does not say (the rule is in bench-rederive(1)). */
int kva_bench_direction(const char *metric);
/* Settle the headline metric on the first data row: --metric, else
 * dflt.  -1 with e if its direction is unknown. */
int kva_bench_settle_metric(kva_bench *b, kva_bench_unit *u, const char *dflt,
			    kva_err *e);

/* For formats of one metric: settle it, and refuse another (field and
 * "what hold the metric M, not X" in e). */
int kva_bench_fixed_metric(kva_bench *b, kva_bench_unit *u, const char *metric,
			   const char *what, const char *field, kva_err *e);
/* The leg called name, or NULL. */
kva_bench_leg *kva_bench_find_leg(const kva_bench *b, const char *name);
/* The leg a row of u->fmt belongs to: LEG=FILE, else the row's "leg",
 * else fallback, else the file's name; -1 with e if it holds rows of
 * another format. */
int kva_bench_row_leg(kva_bench *b, kva_bench_unit *u, const kva_jval *row,
		      const char *fallback, kva_bench_leg **out, kva_err *e);
/* Give leg l the configuration of its next rep (c is consumed): the
 * first rep's is kept, later ones are compared with it. */
void kva_bench_leg_config(kva_bench_leg *l, kva_cfg *c);
/* Add a rep of value v, its value on line of u's file; why (copied) if
 * it failed. */
void kva_bench_rep_add(kva_bench *b, kva_bench_leg *l, const kva_bench_unit *u,
		       double v, long line, const char *why);
/* The run order of the leg's last rep: t in kind KVA_ORDER_SEQ or
 * KVA_ORDER_CLOCK. */
void kva_bench_rep_order(kva_bench_leg *l, int kind, double t);
/* A timestamp s as seconds since the epoch: ISO 8601
 * "YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM|+HHMM]" (no zone: UTC) or vLLM's
 * "YYYYMMDD-HHMMSS" (its local time, taken as UTC: only order counts).
 * 0, or -1 if s is neither. */
int kva_bench_time(const char *s, double *out);
/* The run order of the leg's last n reps from the timestamp string v
 * (kva_bench_time); nothing when v is absent or not a timestamp. */
void kva_bench_reps_clock(kva_bench_leg *l, size_t n, const kva_jval *v);
/* The kind the run order of every rep of l is known in, else
 * KVA_ORDER_NONE. */
int kva_bench_leg_order(const kva_bench_leg *l);
void kva_bench_ttft(kva_bench_leg *l, double ms);
void kva_bench_tpot(kva_bench_leg *l, double ms);
/* Check a summary a raw row reports about itself (stat, at JSON value v)
 * against the value derived from its own raw numbers: agreement is
 * counted in the leg, a disagreement becomes a claim_check record.
 * rep_idx < 0: about the leg, not one rep. */
void kva_bench_embedded(kva_bench *b, const kva_bench_unit *u, kva_bench_leg *l,
			long rep_idx, const char *stat, const kva_jval *v,
			double derived, const char *how);

/* The summary a harness writes beside values v[0..n) of leg l: the
 * members mean, median, min, max and stddev (sample; 0 of one value) of
 * obj, each checked where obj has it (kva_bench_embedded); of names the
 * values in derived_from ("times" gives "mean(times)").  Sorts v. */
void kva_bench_summary(kva_bench *b, const kva_bench_unit *u, kva_bench_leg *l,
		       const kva_jval *obj, double *v, size_t n, const char *of);

/* ---- the tool's side ------------------------------------------------------- */

/* Defaults in b->op; b is otherwise empty. */
void kva_bench_init(kva_bench *b);
void kva_bench_free(kva_bench *b);
/* Remember a file name; its index is kva_bench_unit.src. */
uint32_t kva_bench_src(kva_bench *b, const char *name);
/* Route one record (a reader with KVA_READ_UNTYPED, _NONFINITE and
 * _DOCUMENT): a format's rows, claims, pass-through of other records.
 * Returns 0, or -1 with e and u->errline. */
int kva_bench_record(kva_bench *b, kva_bench_unit *u, kva_err *e);
/* Derive, compare and write every leg, the embedded checks and the
 * claims.  Returns 0, 1 if some check did not agree, 2 if --ref names no
 * leg with reps (reported). */
int kva_bench_finish(kva_bench *b);

/* ---- inside the library (lib/bench*.c) ------------------------------------ */

/* "FILE:LINE" as a JSON string. */
void kva_bench_put_at(kva_buf *o, const kva_bench *b, uint32_t src, long line);
void kva_bench_put_key(kva_buf *o, const char *key);
void kva_bench_put_knum(kva_buf *o, const char *key, double v);
void kva_bench_put_kstr(kva_buf *o, const char *key, const char *s);
void kva_bench_put_kint(kva_buf *o, const char *key, uint64_t v);
void kva_bench_put_kbool(kva_buf *o, const char *key, int v);
/* Does reported (JSON number v, value r) agree with derived d within
 * tol_pct or the rounding v's digits allow?  *allowed: the tolerance. */
int kva_bench_agrees(const kva_jval *v, double r, double d, double tol_pct,
		     double *allowed);
/* s * 100 (a - b) / b, positive = better in direction s; NaN unless b > 0. */
double kva_bench_delta_pct(double a, double b, int s);
/* How the reps of l and of ref were ordered in time: "ref_first" (every
 * rep of ref before every rep of l), "ref_last", "interleaved" (each leg
 * has a rep after one of the other), "tied" (neither: they share their
 * one instant); NULL when some rep's order is not known or the legs know
 * it in other kinds. */
const char *kva_bench_run_order(const kva_bench_leg *l, const kva_bench_leg *ref);
/* The speedup of l over ref in direction dir, NaN when undefined. */
double kva_bench_speedup(const kva_bench_leg *l, const kva_bench_leg *ref,
			 int dir);
/* Check a claim's shape (u's record) and keep it for kva_bench_claims. */
int kva_bench_claim_read(kva_bench *b, kva_bench_unit *u, kva_err *e);
/* One claim_check per reported number of every kept claim; delta_pct
 * and speedup against the claim's "ref", else dflt_ref. */
void kva_bench_claims(kva_bench *b, const kva_bench_leg *dflt_ref);
/* One claim_check record (JSON text) as a line for people. */
void kva_bench_text_check(const char *json, size_t len);

#endif
