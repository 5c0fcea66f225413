/*
 * db.h - the SQLite trace store behind --db FILE (SPEC section 2).
 *
 * Every verdict a tool reaches with --db is appended as one row; the
 * pipelines (report, sweep, auto-heal) read the rows back with plain SQL.
 * The file is SQLite in WAL mode, so many writers (sweep shards, cron jobs)
 * may append at once; a writer waits up to 5 s for the write lock.
 *
 * Schema, version 1 (later versions only add; see the migrations in db.c):
 *
 *   schema_version(version INTEGER NOT NULL)        exactly one row
 *   trap_runs(id INTEGER PRIMARY KEY,
 *             ts TEXT NOT NULL,                     UTC "YYYY-MM-DDTHH:MM:SSZ"
 *             tool TEXT NOT NULL,                   kva_progname of the writer
 *             oracle TEXT NOT NULL, kind TEXT NOT NULL,
 *             candidate TEXT NOT NULL, candidate_sha256 TEXT NOT NULL,
 *             cases INTEGER NOT NULL, diverged INTEGER NOT NULL,
 *             divergence REAL NOT NULL, tol REAL NOT NULL,
 *             verdict TEXT NOT NULL,                PASS | HARD_BLOCK | ERROR
 *             first_case TEXT,                      JSON object, or NULL
 *             classes TEXT NOT NULL,                JSON object of counts
 *             seconds REAL NOT NULL, seed INTEGER NOT NULL)
 *   index trap_runs_oracle_ts on trap_runs(oracle, ts)
 *
 * Version 2 adds the auto-heal loop (pipelines/auto-heal writes these rows
 * with the sqlite3 CLI; pipelines/report reads them):
 *
 *   heal_runs(id INTEGER PRIMARY KEY,
 *             ts TEXT NOT NULL,                     UTC, as trap_runs.ts
 *             oracle TEXT NOT NULL, model TEXT NOT NULL,
 *             source TEXT NOT NULL,                 replay | live | record
 *             paper TEXT,                           the paper's file name
 *             max_attempts INTEGER NOT NULL,        heals allowed after the first try
 *             final_verdict TEXT,                   PASS | FAIL, NULL while
 *                                                   running or if it died
 *             attempts INTEGER NOT NULL DEFAULT 0)  attempts made
 *   heal_attempts(id INTEGER PRIMARY KEY,
 *             run_id INTEGER NOT NULL REFERENCES heal_runs(id),
 *             attempt INTEGER NOT NULL,             0 = first generation
 *             code TEXT NOT NULL,                   the candidate's source
 *             verdict TEXT NOT NULL,                PASS | HARD_BLOCK |
 *                                                   BUILD_FAIL | NO_CODE
 *             divergence REAL, diverged INTEGER,    NULL without a trap run
 *             first_case TEXT,                      JSON object, or NULL
 *             unit_test TEXT,                       pass | fail | none
 *             model TEXT NOT NULL, source TEXT NOT NULL,
 *             trap_run_id INTEGER REFERENCES trap_runs(id),
 *             UNIQUE(run_id, attempt))
 *
 * Version 3 adds audit-verdict's sign-offs (audit-verdict --db):
 *
 *   audit_verdicts(id INTEGER PRIMARY KEY,
 *             ts TEXT NOT NULL, tool TEXT NOT NULL, UTC, as trap_runs.ts
 *             scope TEXT NOT NULL,                  patch | bundle | baseline
 *                                                   | profile | harness
 *             leg TEXT, ref TEXT, metric TEXT,      what was audited
 *             verdict TEXT NOT NULL,                PASS | FLAG | FAIL
 *             action TEXT NOT NULL,                 pass | eject | remeasure ...
 *             lever_class TEXT,                     A | B | A+B, or NULL
 *             counts_as_kernel_win INTEGER,         0 | 1, NULL off patch/bundle
 *             e2e_delta_pct REAL, baseline_drift_pct REAL,
 *             headline_integrity TEXT, correctness_status TEXT,
 *             record TEXT NOT NULL)                 the verdict record, JSON
 *   index audit_verdicts_scope_ts on audit_verdicts(scope, ts)
 *   audit_findings(id INTEGER PRIMARY KEY,
 *             verdict_id INTEGER NOT NULL REFERENCES audit_verdicts(id),
 *             rule TEXT NOT NULL,                   the rule's stable id
 *             severity TEXT NOT NULL,               PASS | FLAG | FAIL
 *             status TEXT NOT NULL,                 holds | violated |
 *                                                   evidence_absent | n/a
 *                                                   (| partial: version 6)
 *             action TEXT NOT NULL, threshold TEXT NOT NULL,
 *             record TEXT NOT NULL,                 the finding record, JSON
 *             UNIQUE(verdict_id, rule))
 *
 * Version 4 adds sweeps (pipelines/sweep writes these rows with the sqlite3
 * CLI, one writer per sweep; the verdict of each shard is a trap_runs row,
 * tool "grad-trap" for the boundaries shard grad-trap --db records itself,
 * tool "sweep" for the shards merged from the hosts' JSONL):
 *
 *   sweep_runs(id INTEGER PRIMARY KEY,
 *             ts TEXT NOT NULL,                     UTC, as trap_runs.ts
 *             name TEXT NOT NULL,                   the sweep's name
 *             sweep_file TEXT NOT NULL,             its path
 *             plan_sha256 TEXT NOT NULL,            the shard plan (resume key)
 *             shards INTEGER NOT NULL,              (candidate, shard) pairs
 *             status TEXT NOT NULL,                 running | done
 *             finished TEXT)                        UTC, once done
 *   index sweep_runs_name on sweep_runs(name, id)
 *   sweep_shards(id INTEGER PRIMARY KEY,
 *             run_id INTEGER NOT NULL REFERENCES sweep_runs(id),
 *             candidate TEXT NOT NULL, oracle TEXT NOT NULL,
 *             kind TEXT NOT NULL, layout TEXT NOT NULL,  '' for routes
 *             shard TEXT NOT NULL,                  boundaries | grid:SPEC |
 *                                                   random:N
 *             seed INTEGER NOT NULL, host TEXT NOT NULL,
 *             trap_run_id INTEGER NOT NULL REFERENCES trap_runs(id),
 *             error TEXT,                           why, for an ERROR verdict
 *             ts TEXT NOT NULL,
 *             UNIQUE(run_id, candidate, oracle, kind, layout, shard, seed))
 *   view sweep_summary(run_id, candidate, oracle, kind, shards, cases,
 *             diverged, verdict,                    ERROR > HARD_BLOCK > PASS
 *             classes,                              JSON array of the classes
 *                                                   seen, by name
 *             first_case)                           of the first failing shard
 *
 * Version 6 lets a finding say its evidence is partial: audit_findings.status
 * is holds | violated | evidence_absent | partial | n/a (the table is rebuilt
 * with its rows; its columns do not change).
 *
 * Version 7 adds grad-trap --mutate --db (one run per mutation summary,
 * one row per mutant record, written in one transaction):
 *
 *   mutation_runs(id INTEGER PRIMARY KEY,
 *             ts TEXT NOT NULL,                     UTC, as trap_runs.ts
 *             candidate TEXT NOT NULL,              the C source's path
 *             sha256 TEXT NOT NULL,                 of the original
 *             oracle TEXT NOT NULL, kind TEXT NOT NULL,
 *             cases INTEGER NOT NULL,               the case set's size
 *             total INTEGER NOT NULL,               mutants generated
 *             compiled INTEGER NOT NULL, not_compiled INTEGER NOT NULL,
 *             killed INTEGER NOT NULL, survived INTEGER NOT NULL,
 *             equivalent_likely INTEGER NOT NULL,
 *             score REAL,                           killed / compiled, or NULL
 *             unit_test_killed INTEGER,             --unit-test's counts,
 *             unit_test_compiled INTEGER,           NULL without it
 *             seconds REAL NOT NULL)
 *   index mutation_runs_oracle_ts on mutation_runs(oracle, ts)
 *   mutants(run_id INTEGER NOT NULL REFERENCES mutation_runs(id),
 *             id INTEGER NOT NULL,                  the mutant record's id
 *             op TEXT NOT NULL, line INTEGER NOT NULL, col INTEGER NOT NULL,
 *             patch TEXT NOT NULL,                  the one-line patch
 *             status TEXT NOT NULL,                 killed | survived |
 *                                                   not_compiled |
 *                                                   equivalent_likely
 *             class TEXT,                           the killing class, or NULL
 *             killed_by TEXT,                       JSON object, or NULL
 *             killed_by_unit_test INTEGER,          0 | 1, NULL without
 *                                                   --unit-test or unbuilt
 *             PRIMARY KEY(run_id, id))
 *
 * Environment: KVA_NOW, when set and not empty, is the timestamp stored in
 * ts instead of the clock's, so tests and replays are reproducible.  It
 * must be a real UTC time written exactly as YYYY-MM-DDTHH:MM:SSZ.
 *
 * Errors are described in the caller's kva_err ("trace store FILE: ..."),
 * never printed.  A handle is for one thread; do not carry one across fork.
 */
#ifndef KVA_DB_H
#define KVA_DB_H

#include <stdint.h>

#include "kvarbiter.h"

/* The schema version this build creates and understands. */
#define KVA_DB_SCHEMA_VERSION 7

/* An open trace store (opaque). */
typedef struct kva_db kva_db;

/*
 * Open the trace store at path, creating the file if it does not exist,
 * and bring its schema up to KVA_DB_SCHEMA_VERSION.  Each missing migration
 * runs in its own BEGIN IMMEDIATE transaction with the version bump, so
 * processes opening one new file at once migrate it exactly once.
 * Returns 0 with *out set (free with kva_db_close), or -1 with *out NULL
 * and e filled.  Refused, with the file untouched: a file that is not
 * SQLite, an SQLite file that is not a trace store (tables but no
 * schema_version), and a store whose version is newer than this build's
 * ("trace store FILE has schema version N, newer than this build's M").
 */
int kva_db_open(const char *path, kva_db **out, kva_err *e);

/* Close db, finishing its statements; accepts NULL. */
void kva_db_close(kva_db *db);

/* The version recorded in db's schema_version row, or -1 if unreadable. */
int kva_db_version(kva_db *db);

/* One grad-trap run, as the summary record reports it (SPEC section 4).
 * Strings are borrowed for the duration of the call. */
typedef struct kva_trap_row {
	const char *oracle;           /* oracle name, e.g. "radix-2d" */
	const char *kind;             /* route | write | gather */
	const char *candidate;        /* path or command of the candidate */
	const char *candidate_sha256; /* hex digest of the candidate */
	const char *verdict;          /* PASS | HARD_BLOCK | ERROR */
	const char *first_case_json;  /* smallest failing case, or NULL */
	const char *classes_json;     /* per-class counts (object), required */
	int64_t cases;                /* cases run */
	int64_t diverged;             /* cases that diverged */
	int64_t seed;                 /* --seed of the run */
	double divergence;            /* max|G_cand - G_orc| / max|G_orc| */
	double tol;                   /* --tol */
	double seconds;               /* wall time of the run */
	int64_t not_run;              /* cases never run (hang budget, load) */
	const char *confinement_json; /* layers that held (object), or NULL */
} kva_trap_row;

/*
 * Append r to trap_runs, stamped with the current UTC time (or KVA_NOW)
 * and tool = kva_progname.  Only bound parameters reach SQL.  The JSON
 * fields are parsed first: classes must be an object, first_case an object
 * or NULL.  Returns 0 and stores the new row id in *id_out (if non-NULL),
 * or -1 with e filled and nothing written; the schema refuses a NULL
 * required string and a verdict outside PASS, HARD_BLOCK, ERROR.
 */
int kva_db_add_trap_run(kva_db *db, const kva_trap_row *r, int64_t *id_out,
			kva_err *e);

/* One finding of an audit-verdict sign-off (strings borrowed). */
typedef struct kva_finding_row {
	const char *rule, *severity, *status, *action, *threshold;
	const char *record_json;      /* the finding record (object), required */
} kva_finding_row;

/* One audit-verdict sign-off (strings borrowed; NULL / NaN / -1 store
 * NULL where the column allows it). */
typedef struct kva_verdict_row {
	const char *scope, *leg, *ref, *metric, *verdict, *action;
	const char *lever_class, *headline_integrity, *correctness_status;
	int counts_as_kernel_win;     /* 0, 1, or -1 for NULL */
	double e2e_delta_pct, baseline_drift_pct;
	const char *record_json;      /* the verdict record (object), required */
	const kva_finding_row *findings;
	size_t nfindings;
} kva_verdict_row;

/*
 * Append r to audit_verdicts and its findings to audit_findings in one
 * transaction, stamped like kva_db_add_trap_run.  The JSON records are
 * parsed first and must be objects.  Returns 0 with the verdict's row id
 * in *id_out (if non-NULL), or -1 with e filled and nothing written (the
 * schema refuses a scope, verdict, severity or status outside its set).
 */
int kva_db_add_verdict(kva_db *db, const kva_verdict_row *r, int64_t *id_out,
		       kva_err *e);

/* One mutant record of a grad-trap --mutate run (strings borrowed). */
typedef struct kva_mutant_row {
	int64_t id, line, col;
	const char *op, *patch;
	const char *status;           /* killed | survived | not_compiled |
	                                 equivalent_likely */
	const char *class_name;       /* or NULL */
	const char *killed_by_json;   /* object, or NULL */
	int killed_by_unit_test;      /* 0, 1, or -1 for NULL */
} kva_mutant_row;

/* A grad-trap --mutate run: its mutation summary (strings borrowed). */
typedef struct kva_mutation_row {
	const char *candidate, *sha256, *oracle, *kind;
	int64_t cases, total, compiled, not_compiled, killed, survived;
	int64_t equivalent_likely;
	double score;                 /* NaN stores NULL */
	int64_t unit_test_killed;     /* -1 (both) for NULL: no --unit-test */
	int64_t unit_test_compiled;
	double seconds;
	const kva_mutant_row *mutants;
	size_t nmutants;
} kva_mutation_row;

/*
 * Append r to mutation_runs and its mutants to mutants in one transaction,
 * stamped like kva_db_add_trap_run.  killed_by must be a JSON object or
 * NULL.  Returns 0 with the run's row id in *id_out (if non-NULL), or -1
 * with e filled and nothing written (the schema refuses a status outside
 * its set and two mutants with one id).
 */
int kva_db_add_mutation_run(kva_db *db, const kva_mutation_row *r,
			    int64_t *id_out, kva_err *e);

#endif
