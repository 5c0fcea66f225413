/*
 * db.c - the SQLite trace store: open, migrate, append grad-trap runs and
 * audit-verdict sign-offs.
 *
 * The schema grows by migrations: migrations[i] takes a store from version
 * i to i+1.  Append new entries; never edit one that has shipped, since
 * stores in the field already ran it.  Each migration runs in one
 * BEGIN IMMEDIATE transaction together with its version bump, and the
 * version is re-read after the lock is taken, so of several processes
 * opening a new file at once exactly one migrates and the rest wait on the
 * busy timeout and then see the work done.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "db.h"

/* How long a connection waits for another's lock before failing. */
#define DB_BUSY_MS 5000

static const char *const migrations[] = {
	/* 1: grad-trap runs */
	"CREATE TABLE trap_runs ("
	" id INTEGER PRIMARY KEY,"
	" ts TEXT NOT NULL,"                 /* UTC ISO-8601 with 'Z' */
	" tool TEXT NOT NULL,"
	" oracle TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" candidate TEXT NOT NULL,"
	" candidate_sha256 TEXT NOT NULL,"
	" cases INTEGER NOT NULL,"
	" diverged INTEGER NOT NULL,"
	" divergence REAL NOT NULL,"
	" tol REAL NOT NULL,"
	" verdict TEXT NOT NULL"
	"  CHECK (verdict IN ('PASS','HARD_BLOCK','ERROR')),"
	" first_case TEXT,"                  /* JSON: smallest failing case */
	" classes TEXT NOT NULL,"            /* JSON: per-class counts */
	" seconds REAL NOT NULL,"
	" seed INTEGER NOT NULL"
	");"
	"CREATE INDEX trap_runs_oracle_ts ON trap_runs(oracle, ts);",

	/* 2: auto-heal runs and their attempts (written by pipelines/auto-heal
	 * through the sqlite3 CLI, read by pipelines/report) */
	"CREATE TABLE heal_runs ("
	" id INTEGER PRIMARY KEY,"
	" ts TEXT NOT NULL,"                 /* UTC ISO-8601 with 'Z' */
	" oracle TEXT NOT NULL,"
	" model TEXT NOT NULL,"
	" source TEXT NOT NULL"
	"  CHECK (source IN ('replay','live','record')),"
	" paper TEXT,"
	" max_attempts INTEGER NOT NULL,"
	" final_verdict TEXT"
	"  CHECK (final_verdict IN ('PASS','FAIL') OR final_verdict IS NULL),"
	" attempts INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE heal_attempts ("
	" id INTEGER PRIMARY KEY,"
	" run_id INTEGER NOT NULL REFERENCES heal_runs(id),"
	" attempt INTEGER NOT NULL,"         /* 0 = first generation */
	" code TEXT NOT NULL,"
	" verdict TEXT NOT NULL"
	"  CHECK (verdict IN ('PASS','HARD_BLOCK','BUILD_FAIL','NO_CODE')),"
	" divergence REAL,"
	" diverged INTEGER,"
	" first_case TEXT,"                  /* JSON: smallest failing case */
	" unit_test TEXT CHECK (unit_test IN ('pass','fail','none')),"
	" model TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" trap_run_id INTEGER REFERENCES trap_runs(id),"
	" UNIQUE (run_id, attempt)"
	");",

	/* 3: audit-verdict sign-offs and their findings */
	"CREATE TABLE audit_verdicts ("
	" id INTEGER PRIMARY KEY,"
	" ts TEXT NOT NULL,"                 /* UTC ISO-8601 with 'Z' */
	" tool TEXT NOT NULL,"
	" scope TEXT NOT NULL CHECK (scope IN"
	"  ('patch','bundle','baseline','profile','harness')),"
	" leg TEXT,"
	" ref TEXT,"
	" metric TEXT,"
	" verdict TEXT NOT NULL CHECK (verdict IN ('PASS','FLAG','FAIL')),"
	" action TEXT NOT NULL,"
	" lever_class TEXT,"
	" counts_as_kernel_win INTEGER"
	"  CHECK (counts_as_kernel_win IN (0, 1) OR counts_as_kernel_win IS NULL),"
	" e2e_delta_pct REAL,"
	" baseline_drift_pct REAL,"
	" headline_integrity TEXT,"
	" correctness_status TEXT,"
	" record TEXT NOT NULL"              /* JSON: the verdict record */
	");"
	"CREATE INDEX audit_verdicts_scope_ts ON audit_verdicts(scope, ts);"
	"CREATE TABLE audit_findings ("
	" id INTEGER PRIMARY KEY,"
	" verdict_id INTEGER NOT NULL REFERENCES audit_verdicts(id),"
	" rule TEXT NOT NULL,"
	" severity TEXT NOT NULL CHECK (severity IN ('PASS','FLAG','FAIL')),"
	" status TEXT NOT NULL"
	"  CHECK (status IN ('holds','violated','evidence_absent','n/a')),"
	" action TEXT NOT NULL,"
	" threshold TEXT NOT NULL,"
	" record TEXT NOT NULL,"             /* JSON: the finding record */
	" UNIQUE (verdict_id, rule)"
	");",

	/* 4: sweeps (pipelines/sweep): one run per sweep, one row per
	 * (candidate, shard) pointing at the trap_runs row of its verdict;
	 * the UNIQUE key makes a resumed sweep's merge idempotent */
	"CREATE TABLE sweep_runs ("
	" id INTEGER PRIMARY KEY,"
	" ts TEXT NOT NULL,"                 /* UTC ISO-8601 with 'Z' */
	" name TEXT NOT NULL,"
	" sweep_file TEXT NOT NULL,"
	" plan_sha256 TEXT NOT NULL,"
	" shards INTEGER NOT NULL CHECK (shards >= 0),"
	" status TEXT NOT NULL CHECK (status IN ('running','done')),"
	" finished TEXT"
	");"
	"CREATE INDEX sweep_runs_name ON sweep_runs(name, id);"
	"CREATE TABLE sweep_shards ("
	" id INTEGER PRIMARY KEY,"
	" run_id INTEGER NOT NULL REFERENCES sweep_runs(id),"
	" candidate TEXT NOT NULL,"
	" oracle TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" layout TEXT NOT NULL,"             /* '' for route candidates */
	" shard TEXT NOT NULL,"              /* boundaries | grid:SPEC | random:N */
	" seed INTEGER NOT NULL,"
	" host TEXT NOT NULL,"
	" trap_run_id INTEGER NOT NULL REFERENCES trap_runs(id),"
	" error TEXT,"                       /* why, when the verdict is ERROR */
	" ts TEXT NOT NULL,"
	" UNIQUE (run_id, candidate, oracle, kind, layout, shard, seed)"
	");"
	"CREATE VIEW sweep_summary AS"
	" SELECT s.run_id AS run_id, s.candidate AS candidate,"
	"  s.oracle AS oracle, s.kind AS kind, count(*) AS shards,"
	"  sum(t.cases) AS cases, sum(t.diverged) AS diverged,"
	"  CASE WHEN max(t.verdict = 'ERROR') THEN 'ERROR'"
	"   WHEN max(t.verdict = 'HARD_BLOCK') THEN 'HARD_BLOCK'"
	"   ELSE 'PASS' END AS verdict,"
	"  (SELECT json_group_array(k) FROM (SELECT j.key AS k"
	"    FROM sweep_shards s2 JOIN trap_runs t2 ON t2.id = s2.trap_run_id,"
	"    json_each(t2.classes) j"
	"    WHERE s2.run_id = s.run_id AND s2.candidate = s.candidate"
	"    AND s2.oracle = s.oracle AND s2.kind = s.kind"
	"    GROUP BY j.key HAVING sum(j.value) > 0 ORDER BY j.key)) AS classes,"
	"  (SELECT t3.first_case FROM sweep_shards s3"
	"    JOIN trap_runs t3 ON t3.id = s3.trap_run_id"
	"    WHERE s3.run_id = s.run_id AND s3.candidate = s.candidate"
	"    AND s3.oracle = s.oracle AND s3.kind = s.kind"
	"    AND t3.first_case IS NOT NULL"
	"    ORDER BY s3.shard <> 'boundaries', s3.shard, s3.layout, s3.seed"
	"    LIMIT 1) AS first_case"
	" FROM sweep_shards s JOIN trap_runs t ON t.id = s.trap_run_id"
	" GROUP BY s.run_id, s.candidate, s.oracle, s.kind;",

	/* 5: what the trap could not run, and how the candidate was confined
	 * (one string of two statements: parenthesised for clang's
	 * -Wstring-concatenation) */
	("ALTER TABLE trap_runs ADD COLUMN not_run INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE trap_runs ADD COLUMN confinement TEXT;"),  /* JSON object */

	/* 6: a finding's status may be 'partial' (evidence present but short
	 * of what the rule needs).  SQLite cannot alter a CHECK: the table
	 * is rebuilt with its rows and ids; nothing refers to it. */
	("CREATE TABLE audit_findings_v6 ("
	 " id INTEGER PRIMARY KEY,"
	 " verdict_id INTEGER NOT NULL REFERENCES audit_verdicts(id),"
	 " rule TEXT NOT NULL,"
	 " severity TEXT NOT NULL CHECK (severity IN ('PASS','FLAG','FAIL')),"
	 " status TEXT NOT NULL CHECK (status IN"
	 "  ('holds','violated','evidence_absent','partial','n/a')),"
	 " action TEXT NOT NULL,"
	 " threshold TEXT NOT NULL,"
	 " record TEXT NOT NULL,"
	 " UNIQUE (verdict_id, rule)"
	 ");"
	 "INSERT INTO audit_findings_v6 (id, verdict_id, rule, severity, status,"
	 " action, threshold, record) SELECT id, verdict_id, rule, severity,"
	 " status, action, threshold, record FROM audit_findings;"
	 "DROP TABLE audit_findings;"
	 "ALTER TABLE audit_findings_v6 RENAME TO audit_findings;"),

	/* 7: grad-trap --mutate runs (the mutation summary) and their
	 * mutants (one row per mutant record) */
	("CREATE TABLE mutation_runs ("
	 " id INTEGER PRIMARY KEY,"
	 " ts TEXT NOT NULL,"                /* UTC ISO-8601 with 'Z' */
	 " candidate TEXT NOT NULL,"
	 " sha256 TEXT NOT NULL,"
	 " oracle TEXT NOT NULL,"
	 " kind TEXT NOT NULL,"
	 " cases INTEGER NOT NULL,"
	 " total INTEGER NOT NULL,"
	 " compiled INTEGER NOT NULL,"
	 " not_compiled INTEGER NOT NULL,"
	 " killed INTEGER NOT NULL,"
	 " survived INTEGER NOT NULL,"
	 " equivalent_likely INTEGER NOT NULL,"
	 " score REAL,"                      /* killed/compiled; NULL: none built */
	 " unit_test_killed INTEGER,"        /* NULL without --unit-test */
	 " unit_test_compiled INTEGER,"
	 " seconds REAL NOT NULL"
	 ");"
	 "CREATE INDEX mutation_runs_oracle_ts ON mutation_runs(oracle, ts);"
	 "CREATE TABLE mutants ("
	 " run_id INTEGER NOT NULL REFERENCES mutation_runs(id),"
	 " id INTEGER NOT NULL,"             /* the mutant record's id */
	 " op TEXT NOT NULL,"
	 " line INTEGER NOT NULL,"
	 " col INTEGER NOT NULL,"
	 " patch TEXT NOT NULL,"
	 " status TEXT NOT NULL CHECK (status IN"
	 "  ('killed','survived','not_compiled','equivalent_likely')),"
	 " class TEXT,"
	 " killed_by TEXT,"                  /* JSON object, or NULL */
	 " killed_by_unit_test INTEGER"
	 "  CHECK (killed_by_unit_test IN (0, 1) OR killed_by_unit_test IS NULL),"
	 " PRIMARY KEY (run_id, id)"
	 ");"),
};

_Static_assert(sizeof migrations / sizeof migrations[0] ==
	       KVA_DB_SCHEMA_VERSION,
	       "KVA_DB_SCHEMA_VERSION must equal the number of migrations");

struct kva_db {
	sqlite3 *h;           /* the connection */
	char *path;           /* as given to kva_db_open, for diagnostics */
	sqlite3_stmt *ins;    /* INSERT INTO trap_runs, prepared on first use */
};

/* Fill e with "trace store PATH: WHAT: sqlite's message" (WHAT may be NULL);
 * returns -1.  Call before anything else touches the connection. */
static int db_fail(const kva_db *db, const char *what, kva_err *e)
{
	const char *msg = sqlite3_errmsg(db->h);

	if (what)
		return kva_errf(e, NULL, "trace store %s: %s: %s", db->path,
				what, msg);
	return kva_errf(e, NULL, "trace store %s: %s", db->path, msg);
}

/* Run sql (static text, no data in it) on db; returns 0, or -1 with e
 * filled by db_fail(what). */
static int db_exec(const kva_db *db, const char *sql, const char *what,
		   kva_err *e)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, what, e);
	return 0;
}

/* Abandon the open transaction after a failure already described in e.
 * Its own result does not matter: a failed ROLLBACK means there was
 * nothing left to roll back.  Returns -1. */
static int db_abandon(const kva_db *db)
{
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Step an insert or update in a transaction: 0 when done, else the
 * failure in e (what: the message's context), st finalized and the
 * transaction rolled back, -1. */
static int db_step(const kva_db *db, sqlite3_stmt *st, const char *what,
		   kva_err *e)
{
	if (sqlite3_step(st) == SQLITE_DONE)
		return 0;
	db_fail(db, what, e);
	sqlite3_finalize(st);
	return db_abandon(db);
}

/*
 * Read the schema version of the open file into *version: 0 for an empty
 * file, -1 for an SQLite file holding other things but no schema_version.
 * Returns 0, or -1 with e filled (unreadable file, or a schema_version
 * table that does not hold exactly one non-negative integer).
 */
static int db_read_version(const kva_db *db, int *version, kva_err *e)
{
	sqlite3_stmt *st = NULL;
	int64_t objects, have_table, v;
	int rc;

	if (sqlite3_prepare_v2(db->h,
	    "SELECT (SELECT count(*) FROM sqlite_master),"
	    " (SELECT count(*) FROM sqlite_master"
	    "  WHERE type = 'table' AND name = 'schema_version')",
	    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, NULL, e);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(db, NULL, e);
		sqlite3_finalize(st);
		return -1;
	}
	objects = sqlite3_column_int64(st, 0);
	have_table = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	if (!have_table) {
		*version = objects ? -1 : 0;
		return 0;
	}

	if (sqlite3_prepare_v2(db->h,
	    "SELECT version, typeof(version) = 'integer' FROM schema_version",
	    -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, NULL, e);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			kva_errf(e, NULL, "trace store %s: schema_version has "
				 "no row", db->path);
		else
			db_fail(db, NULL, e);
		sqlite3_finalize(st);
		return -1;
	}
	v = sqlite3_column_int64(st, 0);
	if (!sqlite3_column_int(st, 1) || v < 0 || v > INT32_MAX) {
		sqlite3_finalize(st);
		return kva_errf(e, NULL, "trace store %s: schema_version does "
				"not hold a version number", db->path);
	}
	if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
		if (rc == SQLITE_ROW)
			kva_errf(e, NULL, "trace store %s: schema_version has "
				 "more than one row", db->path);
		else
			db_fail(db, NULL, e);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	*version = (int)v;
	return 0;
}

/* Refuse a version this build cannot use (see db_read_version); returns
 * 0 when version is one a migration can start from or the latest. */
static int db_check_version(const kva_db *db, int version, kva_err *e)
{
	if (version < 0)
		return kva_errf(e, NULL, "trace store %s: not a kvarbiter "
				"trace store (it has tables but no "
				"schema_version)", db->path);
	if (version > KVA_DB_SCHEMA_VERSION)
		return kva_errf(e, NULL, "trace store %s has schema version "
				"%d, newer than this build's %d", db->path,
				version, KVA_DB_SCHEMA_VERSION);
	return 0;
}

/*
 * Apply the one migration the store needs next, under BEGIN IMMEDIATE.
 * Sets *version to the version the store has when the transaction ends
 * (another process may have migrated first).  Returns 0, or -1 with e
 * filled and the transaction rolled back.
 */
static int db_migrate_step(kva_db *db, int *version, kva_err *e)
{
	sqlite3_stmt *st = NULL;
	char what[32];
	int v = 0;

	if (db_exec(db, "BEGIN IMMEDIATE", "cannot lock for migration", e))
		return -1;
	if (db_read_version(db, &v, e) || db_check_version(db, v, e))
		return db_abandon(db);
	if (v < KVA_DB_SCHEMA_VERSION) {
		snprintf(what, sizeof what, "migration %d", v + 1);
		if (v == 0 && db_exec(db,
		    "CREATE TABLE IF NOT EXISTS schema_version"
		    " (version INTEGER NOT NULL);"
		    "INSERT INTO schema_version (version) SELECT 0"
		    " WHERE NOT EXISTS (SELECT 1 FROM schema_version);",
		    what, e))
			return db_abandon(db);
		if (db_exec(db, migrations[v], what, e))
			return db_abandon(db);
		if (sqlite3_prepare_v2(db->h,
		    "UPDATE schema_version SET version = ?1", -1, &st,
		    NULL) != SQLITE_OK) {
			db_fail(db, what, e);
			return db_abandon(db);
		}
		sqlite3_bind_int(st, 1, v + 1);
		if (db_step(db, st, what, e))
			return -1;
		sqlite3_finalize(st);
		v++;
	}
	if (db_exec(db, "COMMIT", "cannot commit migration", e))
		return db_abandon(db);
	*version = v;
	return 0;
}

/*
 * Switch db to WAL (persistent in the file).  An in-memory store cannot
 * use WAL and keeps its mode.  The switch upgrades a read lock to a write
 * lock, and SQLite does not call the busy handler for such an upgrade
 * (it could deadlock), so a file another process is creating or
 * migrating would fail at once with "database is locked": retry here, for
 * as long as the busy timeout allows.  Returns 0, or -1 with e filled.
 */
static int db_use_wal(kva_db *db, kva_err *e)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	const char *file = sqlite3_db_filename(db->h, "main");
	double give_up = kva_now() + DB_BUSY_MS / 1000.0;
	int nap_ms = 1, rc, ok;

	if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK)
		return db_fail(db, NULL, e);
	while ((rc = sqlite3_step(st)) == SQLITE_BUSY && kva_now() < give_up) {
		sqlite3_reset(st);
		sqlite3_sleep(nap_ms);
		if (nap_ms < 50)
			nap_ms *= 2;
	}
	if (rc != SQLITE_ROW) {
		db_fail(db, NULL, e);
		sqlite3_finalize(st);
		return -1;
	}
	mode = sqlite3_column_text(st, 0);
	ok = (mode && strcmp((const char *)mode, "wal") == 0) || !file ||
	     !*file;
	if (!ok)
		kva_errf(e, NULL, "trace store %s: cannot use WAL journal "
			 "mode (still %s)", db->path,
			 mode ? (const char *)mode : "?");
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

/* See db.h.  The version is read before anything is written, so a file
 * that is refused is left exactly as it was. */
int kva_db_open(const char *path, kva_db **out, kva_err *e)
{
	kva_db *db;
	int version = 0, rc;

	*out = NULL;
	if (!path || !*path)
		return kva_errf(e, NULL, "trace store path is empty");
	if (!(db = calloc(1, sizeof *db)) || !(db->path = strdup(path))) {
		free(db);
		return kva_errf(e, NULL, "trace store %s: out of memory", path);
	}
	rc = sqlite3_open_v2(path, &db->h,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		int err = db->h ? sqlite3_system_errno(db->h) : 0;

		if (!db->h)
			kva_errf(e, NULL, "trace store %s: out of memory",
				 path);
		else if (err)
			kva_errf(e, NULL, "trace store %s: %s: %s", path,
				 sqlite3_errmsg(db->h), strerror(err));
		else
			db_fail(db, NULL, e);
		goto fail;
	}
	/* Same as PRAGMA busy_timeout = 5000. */
	if (sqlite3_busy_timeout(db->h, DB_BUSY_MS) != SQLITE_OK) {
		db_fail(db, NULL, e);
		goto fail;
	}
	if (db_read_version(db, &version, e) ||
	    db_check_version(db, version, e))
		goto fail;
	if (db_use_wal(db, e) ||
	    db_exec(db, "PRAGMA foreign_keys = ON", NULL, e))
		goto fail;
	while (version < KVA_DB_SCHEMA_VERSION)
		if (db_migrate_step(db, &version, e))
			goto fail;
	*out = db;
	return 0;
fail:
	kva_db_close(db);
	return -1;
}

/* See db.h. */
void kva_db_close(kva_db *db)
{
	if (!db)
		return;
	sqlite3_finalize(db->ins);
	sqlite3_close(db->h);
	free(db->path);
	free(db);
}

/* See db.h. */
int kva_db_version(kva_db *db)
{
	int v = -1;

	if (!db || db_read_version(db, &v, NULL))
		return -1;
	return v;
}

/* Value of digits s[0..n), which the caller has checked are digits. */
static int digits_value(const char *s, int n)
{
	int v = 0;

	while (n--)
		v = v * 10 + (*s++ - '0');
	return v;
}

/*
 * See kvarbiter.h.  The timestamp for a new row, "YYYY-MM-DDTHH:MM:SSZ"
 * in UTC (trace store, replay store), into
 * buf[21]: KVA_NOW when set and not empty, else the clock.  Returns 0, or
 * -1 with e filled when KVA_NOW is not a real time in exactly that form
 * (normalising it through timegm catches Feb 30 and the like).
 */
int kva_timestamp(char buf[21], kva_err *e)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	const char *now = getenv("KVA_NOW");
	struct tm tm;
	time_t t;
	size_t i;

	if (!now || !*now) {
		t = time(NULL);
		if (!gmtime_r(&t, &tm) ||
		    !strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm))
			return kva_errf(e, NULL, "cannot format the current "
					"time");
		return 0;
	}
	if (strlen(now) != sizeof shape - 1)
		goto bad;
	for (i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)now[i])
				    : now[i] != shape[i])
			goto bad;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = digits_value(now, 4) - 1900;
	tm.tm_mon = digits_value(now + 5, 2) - 1;
	tm.tm_mday = digits_value(now + 8, 2);
	tm.tm_hour = digits_value(now + 11, 2);
	tm.tm_min = digits_value(now + 14, 2);
	tm.tm_sec = digits_value(now + 17, 2);
	t = timegm(&tm);
	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) || strcmp(buf, now))
		goto bad;
	return 0;
bad:
	return kva_errf(e, "KVA_NOW", "KVA_NOW: expected a UTC time as "
			"YYYY-MM-DDTHH:MM:SSZ, got \"%.40s\"", now);
}

/* Check that json (NULL allowed when nullable) is one JSON object.
 * Returns 0, or -1 with e naming field. */
static int db_check_object(const kva_db *db, const char *field,
			   const char *json, int nullable, kva_err *e)
{
	kva_arena a = { 0 };
	kva_err je = { 0 };
	const kva_jval *v;
	int rc = 0;

	if (!json)
		return nullable ? 0 : kva_errf(e, field, "trace store %s: %s "
					       "is required", db->path, field);
	if (!(v = kva_json_parse(&a, json, strlen(json), &je)))
		rc = kva_errf(e, field, "trace store %s: %s: %s", db->path,
			      field, je.msg);
	else if (v->t != KVA_JOBJ)
		rc = kva_errf(e, field, "trace store %s: %s: not a json object",
			      db->path, field);
	kva_arena_free(&a);
	return rc;
}

/* Bind a string that may be NULL (NULL binds SQL NULL, which the schema
 * refuses where a value is required). */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* See db.h. */
int kva_db_add_trap_run(kva_db *db, const kva_trap_row *r, int64_t *id_out,
			kva_err *e)
{
	char ts[21];
	sqlite3_stmt *st;
	int rc;

	if (isnan(r->divergence) || isnan(r->tol) || isnan(r->seconds))
		return kva_errf(e, NULL, "trace store %s: divergence, tol and "
				"seconds must be numbers", db->path);
	if (db_check_object(db, "classes", r->classes_json, 0, e) ||
	    db_check_object(db, "first_case", r->first_case_json, 1, e) ||
	    db_check_object(db, "confinement", r->confinement_json, 1, e) ||
	    kva_timestamp(ts, e))
		return -1;
	if (!db->ins && sqlite3_prepare_v2(db->h,
	    "INSERT INTO trap_runs (ts, tool, oracle, kind, candidate,"
	    " candidate_sha256, cases, diverged, divergence, tol, verdict,"
	    " first_case, classes, seconds, seed, not_run, confinement)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	    " ?14, ?15, ?16, ?17)", -1, &db->ins, NULL) != SQLITE_OK)
		return db_fail(db, NULL, e);
	st = db->ins;
	bind_text(st, 1, ts);
	bind_text(st, 2, kva_progname);
	bind_text(st, 3, r->oracle);
	bind_text(st, 4, r->kind);
	bind_text(st, 5, r->candidate);
	bind_text(st, 6, r->candidate_sha256);
	sqlite3_bind_int64(st, 7, r->cases);
	sqlite3_bind_int64(st, 8, r->diverged);
	sqlite3_bind_double(st, 9, r->divergence);
	sqlite3_bind_double(st, 10, r->tol);
	bind_text(st, 11, r->verdict);
	bind_text(st, 12, r->first_case_json);
	bind_text(st, 13, r->classes_json);
	sqlite3_bind_double(st, 14, r->seconds);
	sqlite3_bind_int64(st, 15, r->seed);
	sqlite3_bind_int64(st, 16, r->not_run);
	bind_text(st, 17, r->confinement_json);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		db_fail(db, NULL, e);
	else if (id_out)
		*id_out = sqlite3_last_insert_rowid(db->h);
	/* The bindings point into the caller's strings and ts: drop them. */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Bind a double, NaN as SQL NULL. */
static void bind_real(sqlite3_stmt *st, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_double(st, i, v);
}

/* Prepare sql, bind nothing; returns the statement or NULL with e. */
static sqlite3_stmt *db_prepare(const kva_db *db, const char *sql, kva_err *e)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(db, NULL, e);
		return NULL;
	}
	return st;
}

/* Bind an int64 count, negative as SQL NULL. */
static void bind_count(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

/* Bind a flag: negative (unknown) as SQL NULL, else 0 or 1. */
static void bind_flag(sqlite3_stmt *st, int i, int v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int(st, i, v != 0);
}

/* See db.h.  One transaction: the verdict and all its findings, or none. */
int kva_db_add_verdict(kva_db *db, const kva_verdict_row *r, int64_t *id_out,
		       kva_err *e)
{
	char ts[21];
	sqlite3_stmt *st;
	int64_t id;

	if (db_check_object(db, "record", r->record_json, 0, e) ||
	    kva_timestamp(ts, e))
		return -1;
	for (size_t i = 0; i < r->nfindings; i++)
		if (db_check_object(db, "finding", r->findings[i].record_json, 0, e))
			return -1;
	if (db_exec(db, "BEGIN IMMEDIATE", "cannot lock to add a verdict", e))
		return -1;
	if (!(st = db_prepare(db, "INSERT INTO audit_verdicts (ts, tool, scope,"
	    " leg, ref, metric, verdict, action, lever_class,"
	    " counts_as_kernel_win, e2e_delta_pct, baseline_drift_pct,"
	    " headline_integrity, correctness_status, record) VALUES (?1, ?2,"
	    " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", e)))
		return db_abandon(db);
	bind_text(st, 1, ts);
	bind_text(st, 2, kva_progname);
	bind_text(st, 3, r->scope);
	bind_text(st, 4, r->leg);
	bind_text(st, 5, r->ref);
	bind_text(st, 6, r->metric);
	bind_text(st, 7, r->verdict);
	bind_text(st, 8, r->action);
	bind_text(st, 9, r->lever_class);
	bind_flag(st, 10, r->counts_as_kernel_win);
	bind_real(st, 11, r->e2e_delta_pct);
	bind_real(st, 12, r->baseline_drift_pct);
	bind_text(st, 13, r->headline_integrity);
	bind_text(st, 14, r->correctness_status);
	bind_text(st, 15, r->record_json);
	if (db_step(db, st, NULL, e))
		return -1;
	sqlite3_finalize(st);
	id = sqlite3_last_insert_rowid(db->h);
	if (!(st = db_prepare(db, "INSERT INTO audit_findings (verdict_id, rule,"
	    " severity, status, action, threshold, record) VALUES (?1, ?2, ?3,"
	    " ?4, ?5, ?6, ?7)", e)))
		return db_abandon(db);
	for (size_t i = 0; i < r->nfindings; i++) {
		const kva_finding_row *f = &r->findings[i];

		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, f->rule);
		bind_text(st, 3, f->severity);
		bind_text(st, 4, f->status);
		bind_text(st, 5, f->action);
		bind_text(st, 6, f->threshold);
		bind_text(st, 7, f->record_json);
		if (db_step(db, st, NULL, e))
			return -1;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	if (db_exec(db, "COMMIT", "cannot commit the verdict", e))
		return db_abandon(db);
	if (id_out)
		*id_out = id;
	return 0;
}

/* See db.h.  One transaction: the run and all its mutants, or none. */
int kva_db_add_mutation_run(kva_db *db, const kva_mutation_row *r,
			    int64_t *id_out, kva_err *e)
{
	char ts[21];
	sqlite3_stmt *st;
	int64_t id;

	if (isnan(r->seconds))
		return kva_errf(e, NULL, "trace store %s: seconds must be a "
				"number", db->path);
	for (size_t i = 0; i < r->nmutants; i++)
		if (db_check_object(db, "killed_by", r->mutants[i].killed_by_json,
				    1, e))
			return -1;
	if (kva_timestamp(ts, e))
		return -1;
	if (db_exec(db, "BEGIN IMMEDIATE", "cannot lock to add a mutation run",
		    e))
		return -1;
	if (!(st = db_prepare(db, "INSERT INTO mutation_runs (ts, candidate,"
	    " sha256, oracle, kind, cases, total, compiled, not_compiled,"
	    " killed, survived, equivalent_likely, score, unit_test_killed,"
	    " unit_test_compiled, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	    " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)", e)))
		return db_abandon(db);
	bind_text(st, 1, ts);
	bind_text(st, 2, r->candidate);
	bind_text(st, 3, r->sha256);
	bind_text(st, 4, r->oracle);
	bind_text(st, 5, r->kind);
	sqlite3_bind_int64(st, 6, r->cases);
	sqlite3_bind_int64(st, 7, r->total);
	sqlite3_bind_int64(st, 8, r->compiled);
	sqlite3_bind_int64(st, 9, r->not_compiled);
	sqlite3_bind_int64(st, 10, r->killed);
	sqlite3_bind_int64(st, 11, r->survived);
	sqlite3_bind_int64(st, 12, r->equivalent_likely);
	bind_real(st, 13, r->score);
	bind_count(st, 14, r->unit_test_killed);
	bind_count(st, 15, r->unit_test_compiled);
	sqlite3_bind_double(st, 16, r->seconds);
	if (db_step(db, st, NULL, e))
		return -1;
	sqlite3_finalize(st);
	id = sqlite3_last_insert_rowid(db->h);
	if (!(st = db_prepare(db, "INSERT INTO mutants (run_id, id, op, line,"
	    " col, patch, status, class, killed_by, killed_by_unit_test)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", e)))
		return db_abandon(db);
	for (size_t i = 0; i < r->nmutants; i++) {
		const kva_mutant_row *m = &r->mutants[i];

		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, m->id);
		bind_text(st, 3, m->op);
		sqlite3_bind_int64(st, 4, m->line);
		sqlite3_bind_int64(st, 5, m->col);
		bind_text(st, 6, m->patch);
		bind_text(st, 7, m->status);
		bind_text(st, 8, m->class_name);
		bind_text(st, 9, m->killed_by_json);
		bind_flag(st, 10, m->killed_by_unit_test);
		if (db_step(db, st, NULL, e))
			return -1;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	if (db_exec(db, "COMMIT", "cannot commit the mutation run", e))
		return db_abandon(db);
	if (id_out)
		*id_out = id;
	return 0;
}
