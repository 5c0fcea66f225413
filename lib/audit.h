/*
 * audit.h - the rules of audit-verdict (SPEC section 10): evidence records
 * in, one finding per rule and one verdict out.
 *
 * The caller feeds every record audit-verdict consumes (kva_audit_consumes)
 * to kva_audit_add, in input order, then calls kva_audit_eval once and
 * reads the result.  Every rule, its threshold and its semantics are
 * documented in audit-verdict(1); the ids below are stable.
 *
 * Ownership: a kva_audit owns copies of the records it was given and
 * every string of its result; kva_audit_free releases all of it.  Out of
 * memory exits the process with status 2, as everywhere in kvarbiter.
 */
#ifndef KVA_AUDIT_H
#define KVA_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "kvarbiter.h"

/* What is being signed off (--scope). */
enum {
	KVA_SCOPE_PATCH,    /* one integrated change: ref leg vs cand leg */
	KVA_SCOPE_BUNDLE,   /* the accepted stack vs the original baseline */
	KVA_SCOPE_BASELINE, /* the reference measurement itself */
	KVA_SCOPE_PROFILE,  /* the profile that drives routing */
	KVA_SCOPE_HARNESS   /* the isolated test rig of a kernel */
};
extern const char *const kva_scope_names[]; /* indexed by KVA_SCOPE_* */

/* Severities, ordered: the verdict is the largest one found. */
enum { KVA_SEV_PASS, KVA_SEV_FLAG, KVA_SEV_FAIL };
extern const char *const kva_sev_names[];   /* "PASS", "FLAG", "FAIL" */

typedef struct kva_audit_opts {
	int scope;                   /* KVA_SCOPE_* */
	double noise_band_pct;       /* --noise-band, default 0.5 */
	double baseline_throughput;  /* --baseline-throughput, NaN if not given */
	int64_t min_reps;            /* --min-reps, default 3 */
	double alpha;                /* --alpha, default 0.05 */
	double min_effect_pct;       /* --min-effect, default 1 */
	double latency_regress_pct;  /* --latency-regress-pct, default 10 */
	double latency_hard_pct;     /* --latency-hard-limit, default 300 */
	double rel_tol;              /* --rel-tol (harness), default 0.01 */
	double fragment_pct;         /* --fragment-pct (profile), default 5 */
	const char *cand;            /* --cand LEG, or NULL: picked */
	const char *ref;             /* --ref LEG, or NULL: picked */
	int ledger;                  /* --ledger: bind every claim to its finding */
} kva_audit_opts;

/* The defaults above, scope patch. */
void kva_audit_opts_default(kva_audit_opts *o);

/* One finding: the outcome of one rule.  Strings live in the kva_audit. */
typedef struct kva_audit_finding {
	const char *rule;      /* stable id, e.g. "same-conditions" */
	int severity;          /* KVA_SEV_* */
	const char *status;    /* holds | violated | evidence_absent | partial | n/a */
	const char *action;    /* pass | eject | remeasure | flag | ... */
	char *threshold;       /* the threshold applied, for people */
	char *message;         /* what was found, for people */
	kva_buf evidence;      /* JSON array of {"what","value","at"} */
	kva_buf json;          /* the whole finding record, one line */
} kva_audit_finding;

/* The verdict.  Strings live in the kva_audit; NaN / NULL / -1 = null. */
typedef struct kva_audit_result {
	int verdict;                 /* KVA_SEV_* */
	const char *action;          /* the verdict's action */
	const char *scope;
	const char *leg, *ref, *metric;
	const char *lever_class;     /* "A", "B", "A+B" or NULL */
	int counts_as_kernel_win;    /* 0, 1, or -1 (not applicable) */
	double e2e_delta_pct, baseline_drift_pct;
	const char *headline_integrity, *correctness_status;
	kva_audit_finding *findings; /* in rule order */
	size_t nfindings;
	kva_buf json;                /* the verdict record, one line */
	kva_buf text;                /* the --format text summary */
	kva_buf ledger;              /* with o.ledger: the ledger records, each
					a line ending in '\n' */
	size_t nledger;
} kva_audit_result;

typedef struct kva_audit kva_audit;

/* A new audit under o (copied; o->cand and o->ref must outlive it). */
kva_audit *kva_audit_new(const kva_audit_opts *o);
/* Free a and everything it owns; accepts NULL. */
void kva_audit_free(kva_audit *a);

/* 1 if records of type are read by audit-verdict (not passed through). */
int kva_audit_consumes(const char *type);

/*
 * Check one consumed record (root, whose type kva_audit_consumes) against
 * its schema and keep a copy.  text/len is the record as read, file and
 * line where it was read (its provenance, "FILE:LINE").  Returns 0, or -1
 * with e naming the offending field; nothing is kept then.
 */
int kva_audit_add(kva_audit *a, const kva_jval *root, const char *text,
		  size_t len, const char *file, long line, kva_err *e);

/* Count an input record that was refused (--keep-going): the evidence is
 * incomplete, which the evidence-complete rule reports. */
void kva_audit_note_refused(kva_audit *a, const char *file, long line);

/*
 * Run every rule of the scope and fill the result (valid until
 * kva_audit_free).  Returns the result, or NULL with e filled when the
 * input cannot be audited as asked (several comparisons and no --cand).
 * Call once.
 */
const kva_audit_result *kva_audit_eval(kva_audit *a, kva_err *e);

/* The exit status of a verdict: 0 PASS, 3 FLAG, 1 FAIL. */
int kva_audit_exit_status(int verdict);

/*
 * The lever a configuration path belongs to, from its last component
 * ("server_info.speculative_algorithm" -> "spec-decode", class 'B').
 * Returns the lever's name and sets *cls to 'A' (kernel: attention or GEMM
 * backend, kernel rebind) or 'B' (spec-decode, TP/EP/DP/PP size, KV
 * budget, chunked prefill, scheduling, quantization); NULL if the path is
 * not a known lever (then *cls is 0).
 */
const char *kva_audit_classify_key(const char *path, char *cls);

/*
 * The smallest two-sided Mann-Whitney p that legs of n and m reps can
 * show, computed the way bench-rederive computes p: exact (2 / C(n+m, n),
 * at most 1) when n + m <= KVA_STATS_MW_EXACT_MAX, else the normal
 * approximation with continuity correction at U = nm.  NaN if n or m is 0.
 */
double kva_audit_min_p(uint64_t n, uint64_t m);

/*
 * Reps per leg for 80% power to show a median delta of effect_pct beyond
 * the floor floor_pct, when a rep's spread is sd_pct (percent of the
 * reference median): n = ceil((pi/2) 2 (z_0.975 + z_0.8)^2 sd^2 / (effect
 * - floor)^2) (the normal-theory size for two means, times pi/2, the
 * variance of a median over a mean's), and at least the smallest n with
 * kva_audit_min_p(n, n) < alpha.  0 when effect_pct <= floor_pct or sd_pct
 * is not finite and non-negative.
 */
uint64_t kva_audit_power_reps(double sd_pct, double effect_pct, double floor_pct,
			      double alpha);

#endif
