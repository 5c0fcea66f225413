/* test_db.c - the SQLite trace store: migrations, refusals, rows. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "unit.h"
#include "db.h"

/* Every test gets a fresh directory under /tmp, removed after it. */
static char dir[64];

/* dir/name into buf (PATH_MAX-free: our names are short). */
static const char *in_dir(const char *name, char buf[128])
{
	snprintf(buf, 128, "%s/%s", dir, name);
	return buf;
}

/* Remove dir and the plain files in it (a store, its -wal and -shm). */
static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[400];

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			unlink(p);
		}
	closedir(d);
	if (rmdir(dir))
		fprintf(stderr, "test_db: cannot remove %s: %s\n", dir,
			strerror(errno));
}

/* Run body in a fresh directory with KVA_NOW unset; clean up whether
 * the body passed or returned early on a failed CHECK. */
static void with_dir(void (*body)(void))
{
	strcpy(dir, "/tmp/kva-db-XXXXXX");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "test_db: mkdtemp: %s\n", strerror(errno));
		unit_failed_checks++;
		return;
	}
	unsetenv("KVA_NOW");
	body();
	unsetenv("KVA_NOW");
	remove_dir();
}

/* Whether s begins with prefix; says what it got when not. */
static int starts_with(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) == 0)
		return 1;
	fprintf(stderr, "got \"%s\", want it to begin \"%s\"\n", s, prefix);
	return 0;
}

/* Run sql on path through a connection of our own; returns sqlite's code. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *h;
	int rc = sqlite3_open(path, &h);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw_exec %s: %s\n", sql, sqlite3_errmsg(h));
	sqlite3_close(h);
	return rc;
}

/* First column of the first row of sql on path, as an integer; INT64_MIN
 * when the query fails or yields no row. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st = NULL;
	int64_t v = INT64_MIN;

	if (sqlite3_open(path, &h) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* First column of the first row of sql on path as text, in a static
 * buffer; "(error)" when the query fails, "(null)" for SQL NULL. */
static const char *raw_text(const char *path, const char *sql)
{
	static char buf[256];
	sqlite3 *h;
	sqlite3_stmt *st = NULL;

	strcpy(buf, "(error)");
	if (sqlite3_open(path, &h) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(buf, sizeof buf, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return buf;
}

/* A passing radix-2d run, the shape grad-trap's summary has. */
static kva_trap_row pass_row(void)
{
	kva_trap_row r = {
		.oracle = "radix-2d", .kind = "route",
		.candidate = "cand/good.c",
		.candidate_sha256 = "9f86d081884c7d659a2feaa0c55ad015"
				    "a3bf4f1b2b0b822cd15d6c15b0f00a08",
		.verdict = "PASS", .first_case_json = NULL,
		.classes_json = "{}", .cases = 4096, .diverged = 0, .seed = 7,
		.divergence = 0.0, .tol = 1e-4, .seconds = 0.25,
	};
	return r;
}

/* Open path, append one PASS row, close; 0 or 1 (reason on stderr). */
static int open_and_add(const char *path)
{
	kva_db *db;
	kva_err e;
	kva_trap_row r = pass_row();

	if (kva_db_open(path, &db, &e)) {
		fprintf(stderr, "open_and_add: %s\n", e.msg);
		return 1;
	}
	if (kva_db_version(db) != KVA_DB_SCHEMA_VERSION) {
		fprintf(stderr, "open_and_add: version %d\n", kva_db_version(db));
		kva_db_close(db);
		return 1;
	}
	if (kva_db_add_trap_run(db, &r, NULL, &e)) {
		fprintf(stderr, "open_and_add: %s\n", e.msg);
		kva_db_close(db);
		return 1;
	}
	kva_db_close(db);
	return 0;
}

/* Open path and check its version, append nothing; 0 or 1. */
static int open_only(const char *path)
{
	kva_db *db;
	kva_err e;
	int v;

	if (kva_db_open(path, &db, &e)) {
		fprintf(stderr, "open_only: %s\n", e.msg);
		return 1;
	}
	v = kva_db_version(db);
	kva_db_close(db);
	return v == KVA_DB_SCHEMA_VERSION ? 0 : 1;
}

/* Sleep ms milliseconds. */
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void b_new_file(void)
{
	char p[128];
	kva_db *db;
	kva_err e;

	CHECK(!kva_db_open(in_dir("t.db", p), &db, &e));
	CHECK(db);
	CHECK_EQ_I64(kva_db_version(db), KVA_DB_SCHEMA_VERSION);
	kva_db_close(db);
	CHECK_STR(raw_text(p, "PRAGMA journal_mode"), "wal");
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM schema_version"), 1);
	CHECK_EQ_I64(raw_int(p, "SELECT version FROM schema_version"),
		     KVA_DB_SCHEMA_VERSION);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE"
			     " (type, name) IN (VALUES ('table', 'trap_runs'),"
			     " ('index', 'trap_runs_oracle_ts'))"), 2);
	CHECK_STR(raw_text(p, "SELECT group_concat(name, ',') FROM"
			   " pragma_index_info('trap_runs_oracle_ts')"),
		  "oracle,ts");
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 0);
	/* version 2: the auto-heal tables */
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE"
			     " type = 'table' AND name IN ('heal_runs',"
			     " 'heal_attempts')"), 2);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM heal_runs"), 0);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM heal_attempts"), 0);

	/* in memory (no WAL there) for callers that want a scratch store */
	kva_trap_row r = pass_row();
	int64_t id = 0;

	CHECK(!kva_db_open(":memory:", &db, &e));
	if (kva_db_version(db) != KVA_DB_SCHEMA_VERSION ||
	    kva_db_add_trap_run(db, &r, &id, &e))
		id = -1;
	kva_db_close(db);
	CHECK_EQ_I64(id, 1);
}
static void t_db_new_file(void) { with_dir(b_new_file); }

static void b_reopen(void)
{
	char p[128];
	kva_db *db;
	kva_err e;
	kva_trap_row r = pass_row();
	int64_t id, objects;

	CHECK(!open_and_add(in_dir("t.db", p)));
	objects = raw_int(p, "SELECT count(*) FROM sqlite_master");
	CHECK(!kva_db_open(p, &db, &e));
	CHECK_EQ_I64(kva_db_version(db), KVA_DB_SCHEMA_VERSION);
	CHECK(!kva_db_add_trap_run(db, &r, &id, &e));
	CHECK_EQ_I64(id, 2);
	kva_db_close(db);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master"), objects);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM schema_version"), 1);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 2);
}
static void t_db_reopen(void) { with_dir(b_reopen); }

static void b_insert_readback(void)
{
	char p[128];
	kva_db *db;
	kva_err e;
	kva_trap_row r = pass_row();
	sqlite3 *h;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	int ok;

	r.verdict = "HARD_BLOCK";
	r.first_case_json = "{\"b_local_idx\":5,\"head_idx\":0,"
			    "\"prefix_length_h\":60,\"total_blocks_h\":4}";
	r.classes_json = "{\"misroute\":3,\"collision\":1}";
	r.diverged = 4;
	r.divergence = 1.0;
	r.seed = -3;
	setenv("KVA_NOW", "2024-02-29T23:59:59Z", 1);
	CHECK(!kva_db_open(in_dir("t.db", p), &db, &e));
	CHECK(!kva_db_add_trap_run(db, &r, &id, &e));
	kva_db_close(db);
	CHECK_EQ_I64(id, 1);

	CHECK(sqlite3_open(p, &h) == SQLITE_OK);
	ok = sqlite3_prepare_v2(h, "SELECT id, ts, tool, oracle, kind,"
	    " candidate, candidate_sha256, cases, diverged, divergence, tol,"
	    " verdict, first_case, classes, seconds, seed FROM trap_runs",
	    -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
	if (!ok) {
		sqlite3_finalize(st);
		sqlite3_close(h);
		CHECK(ok);
	}
#define COL(i) ((const char *)sqlite3_column_text(st, i))
	ok = sqlite3_column_int64(st, 0) == 1 &&
	     !strcmp(COL(1), "2024-02-29T23:59:59Z") &&
	     !strcmp(COL(2), "unit") && !strcmp(COL(3), "radix-2d") &&
	     !strcmp(COL(4), "route") && !strcmp(COL(5), "cand/good.c") &&
	     !strcmp(COL(6), r.candidate_sha256) &&
	     sqlite3_column_int64(st, 7) == 4096 &&
	     sqlite3_column_int64(st, 8) == 4 &&
	     sqlite3_column_double(st, 9) == 1.0 &&
	     sqlite3_column_double(st, 10) == 1e-4 &&
	     !strcmp(COL(11), "HARD_BLOCK") &&
	     !strcmp(COL(12), r.first_case_json) &&
	     !strcmp(COL(13), r.classes_json) &&
	     sqlite3_column_double(st, 14) == 0.25 &&
	     sqlite3_column_int64(st, 15) == -3 &&
	     sqlite3_step(st) == SQLITE_DONE;
#undef COL
	sqlite3_finalize(st);
	sqlite3_close(h);
	CHECK(ok);
	CHECK_STR(raw_text(p, "SELECT typeof(first_case) || typeof(classes) ||"
			   " typeof(divergence) || typeof(seed) FROM trap_runs"),
		  "texttextrealinteger");
}
static void t_db_insert_readback(void) { with_dir(b_insert_readback); }

static void b_refused_rows(void)
{
	char p[128];
	kva_db *db;
	kva_err e;
	kva_trap_row r = pass_row();
	int64_t id = 42;
	char want[256];

	CHECK(!kva_db_open(in_dir("t.db", p), &db, &e));
	r.verdict = "MAYBE";
	snprintf(want, sizeof want, "trace store %s: CHECK constraint failed", p);
	CHECK(kva_db_add_trap_run(db, &r, &id, &e) == -1);
	CHECK(starts_with(e.msg, want));
	CHECK_EQ_I64(id, 42);

	r = pass_row();
	r.oracle = NULL;
	snprintf(want, sizeof want, "trace store %s: NOT NULL constraint "
		 "failed: trap_runs.oracle", p);
	CHECK(kva_db_add_trap_run(db, &r, NULL, &e) == -1);
	CHECK_STR(e.msg, want);

	r = pass_row();
	r.classes_json = "[1]";
	snprintf(want, sizeof want, "trace store %s: classes: not a json "
		 "object", p);
	CHECK(kva_db_add_trap_run(db, &r, NULL, &e) == -1);
	CHECK_STR(e.msg, want);
	CHECK_STR(e.field, "classes");

	r.classes_json = NULL;
	snprintf(want, sizeof want, "trace store %s: classes is required", p);
	CHECK(kva_db_add_trap_run(db, &r, NULL, &e) == -1);
	CHECK_STR(e.msg, want);

	r = pass_row();
	r.first_case_json = "{\"pos\":1} x";
	snprintf(want, sizeof want, "trace store %s: first_case: ", p);
	CHECK(kva_db_add_trap_run(db, &r, NULL, &e) == -1);
	CHECK(starts_with(e.msg, want));

	r = pass_row();
	r.divergence = NAN;
	snprintf(want, sizeof want, "trace store %s: divergence, tol and "
		 "seconds must be numbers", p);
	CHECK(kva_db_add_trap_run(db, &r, NULL, &e) == -1);
	CHECK_STR(e.msg, want);

	/* the statement is still usable after the failures */
	r = pass_row();
	CHECK(!kva_db_add_trap_run(db, &r, &id, &e));
	kva_db_close(db);
	CHECK_EQ_I64(id, 1);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 1);
}
static void t_db_refused_rows(void) { with_dir(b_refused_rows); }

static void b_newer_version(void)
{
	int rc_newer;
	char p[128], q[128], want[256];
	kva_db *db, *other;
	kva_err e;

	CHECK(!open_and_add(in_dir("t.db", p)));
	CHECK(raw_exec(p, "UPDATE schema_version SET version = 99") == SQLITE_OK);
	/* a failed open sets *out to NULL, whatever it held */
	CHECK(!kva_db_open(in_dir("other.db", q), &other, &e));
	db = other;
	rc_newer = kva_db_open(p, &db, &e);
	kva_db_close(other);
	CHECK(rc_newer == -1);
	CHECK(db == NULL);
	snprintf(want, sizeof want, "trace store %s has schema version 99, "
		 "newer than this build's 7", p);
	CHECK_EQ_I64(KVA_DB_SCHEMA_VERSION, 7);
	CHECK_STR(e.msg, want);
	CHECK_EQ_I64(raw_int(p, "SELECT version FROM schema_version"), 99);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 1);
}
static void t_db_newer_version(void) { with_dir(b_newer_version); }

/* The version 1 schema exactly as migration 1 shipped it, with the
 * store marked at version 1 and two rows in it: a file from a build
 * before the auto-heal tables. */
static const char v1_store[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version VALUES (1);"
	"CREATE TABLE trap_runs ("
	" id INTEGER PRIMARY KEY, ts TEXT NOT NULL, tool TEXT NOT NULL,"
	" oracle TEXT NOT NULL, kind TEXT NOT NULL, candidate TEXT NOT NULL,"
	" candidate_sha256 TEXT NOT NULL, cases INTEGER NOT NULL,"
	" diverged INTEGER NOT NULL, divergence REAL NOT NULL,"
	" tol REAL NOT NULL, verdict TEXT NOT NULL"
	"  CHECK (verdict IN ('PASS','HARD_BLOCK','ERROR')),"
	" first_case TEXT, classes TEXT NOT NULL, seconds REAL NOT NULL,"
	" seed INTEGER NOT NULL);"
	"CREATE INDEX trap_runs_oracle_ts ON trap_runs(oracle, ts);"
	"INSERT INTO trap_runs VALUES (1, '2024-01-01T00:00:00Z', 'grad-trap',"
	" 'radix-2d', 'route', 'a.c', 'aa', 10, 2, 1.0, 1e-4, 'HARD_BLOCK',"
	" '{\"pos\":5}', '{\"misroute\":2}', 0.5, 1);"
	"INSERT INTO trap_runs VALUES (2, '2024-01-01T00:00:01Z', 'grad-trap',"
	" 'radix-2d', 'route', 'b.c', 'bb', 10, 0, 0.0, 1e-4, 'PASS',"
	" NULL, '{}', 0.5, 1);";

/* A version 1 store opened by this build is migrated to the current
 * version in place: its rows stay, the heal tables appear, and they work. */
static void b_migrate_v1(void)
{
	char p[128];
	kva_db *db;
	kva_err e;
	kva_trap_row r = pass_row();
	int64_t id = 0;

	CHECK(raw_exec(in_dir("v1.db", p), v1_store) == SQLITE_OK);
	CHECK(!kva_db_open(p, &db, &e));
	CHECK_EQ_I64(kva_db_version(db), KVA_DB_SCHEMA_VERSION);
	if (kva_db_add_trap_run(db, &r, &id, &e))
		id = -1;
	kva_db_close(db);
	CHECK_EQ_I64(id, 3);
	CHECK_EQ_I64(raw_int(p, "SELECT version FROM schema_version"),
		     KVA_DB_SCHEMA_VERSION);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM schema_version"), 1);
	CHECK_STR(raw_text(p, "SELECT group_concat(verdict || ':' || candidate,"
			   " ',') FROM (SELECT * FROM trap_runs ORDER BY id)"),
		  "HARD_BLOCK:a.c,PASS:b.c,PASS:cand/good.c");
	CHECK_STR(raw_text(p, "SELECT first_case FROM trap_runs WHERE id = 1"),
		  "{\"pos\":5}");
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE"
			     " type = 'table' AND name IN ('heal_runs',"
			     " 'heal_attempts')"), 2);

	/* the new tables take rows, and their checks hold */
	CHECK(raw_exec(p, "INSERT INTO heal_runs (ts, oracle, model, source,"
		       " max_attempts) VALUES ('2024-01-01T00:00:02Z',"
		       " 'radix-2d', 'gpt-4o-mini', 'replay', 3);"
		       "INSERT INTO heal_attempts (run_id, attempt, code,"
		       " verdict, divergence, diverged, unit_test, model,"
		       " source, trap_run_id) VALUES (1, 0, 'int f;',"
		       " 'HARD_BLOCK', 1.0, 2, 'pass', 'gpt-4o-mini',"
		       " 'replay', 1);"
		       "UPDATE heal_runs SET final_verdict = 'FAIL',"
		       " attempts = 1 WHERE id = 1") == SQLITE_OK);
	CHECK_EQ_I64(raw_int(p, "SELECT attempts FROM heal_runs"), 1);
	CHECK_STR(raw_text(p, "SELECT t.verdict FROM heal_attempts a JOIN"
			   " trap_runs t ON t.id = a.trap_run_id"),
		  "HARD_BLOCK");
	fprintf(stderr, "(the next three constraint failures are expected)\n");
	CHECK(raw_exec(p, "INSERT INTO heal_runs (ts, oracle, model, source,"
		       " max_attempts) VALUES ('t', 'o', 'm', 'other', 1)")
	      == SQLITE_CONSTRAINT);
	CHECK(raw_exec(p, "INSERT INTO heal_attempts (run_id, attempt, code,"
		       " verdict, model, source) VALUES (1, 1, '', 'ERROR',"
		       " 'm', 'replay')") == SQLITE_CONSTRAINT);
	CHECK(raw_exec(p, "INSERT INTO heal_attempts (run_id, attempt, code,"
		       " verdict, model, source) VALUES (1, 0, '', 'PASS',"
		       " 'm', 'replay')") == SQLITE_CONSTRAINT);
}
static void t_db_migrate_v1(void) { with_dir(b_migrate_v1); }

/* Version 4: a sweep's shards point at trap_runs rows (1 is the PASS row
 * of open_and_add, 2 and 3 HARD_BLOCKs), the UNIQUE key refuses a second
 * row for one (run, candidate, shard), and the summary view folds the
 * shards of a candidate into one verdict, the classes seen and the first
 * case of the boundaries shard. */
static void b_sweep_tables(void)
{
	char p[128];

	CHECK(!open_and_add(in_dir("t.db", p)));
	CHECK(raw_exec(p, "INSERT INTO trap_runs (ts, tool, oracle, kind,"
		       " candidate, candidate_sha256, cases, diverged,"
		       " divergence, tol, verdict, first_case, classes,"
		       " seconds, seed) VALUES"
		       " ('t', 'sweep', 'radix-2d', 'route', 'a.c', 'aa', 10,"
		       " 2, 1.0, 1e-4, 'HARD_BLOCK', '{\"case\":3}',"
		       " '{\"misroute\":2,\"collision\":0}', 0.5, 1),"
		       " ('t', 'sweep', 'radix-2d', 'route', 'a.c', 'aa', 5, 1,"
		       " 1.0, 1e-4, 'HARD_BLOCK', '{\"case\":1}',"
		       " '{\"collision\":1,\"misroute\":0}', 0.5, 2);"
		       "INSERT INTO sweep_runs (ts, name, sweep_file,"
		       " plan_sha256, shards, status) VALUES ('t', 'n',"
		       " 's.jsonl', 'ff', 3, 'running');"
		       "INSERT INTO sweep_shards (run_id, candidate, oracle,"
		       " kind, layout, shard, seed, host, trap_run_id, ts)"
		       " VALUES (1, 'a.c', 'radix-2d', 'route', '',"
		       " 'grid:x=0:4', 1, 'h1', 2, 't'),"
		       " (1, 'a.c', 'radix-2d', 'route', '', 'boundaries', 1,"
		       " 'h2', 3, 't'), (1, 'a.c', 'radix-2d', 'route', '',"
		       " 'grid:x=0:4', 2, 'h1', 1, 't')") == SQLITE_OK);
	CHECK_STR(raw_text(p, "SELECT shards || '|' || cases || '|' ||"
			   " diverged || '|' || verdict || '|' || classes ||"
			   " '|' || first_case FROM sweep_summary"),
		  "3|4111|3|HARD_BLOCK|[\"collision\",\"misroute\"]|{\"case\":1}");
	fprintf(stderr, "(the next two constraint failures are expected)\n");
	CHECK(raw_exec(p, "INSERT INTO sweep_shards (run_id, candidate, oracle,"
		       " kind, layout, shard, seed, host, trap_run_id, ts)"
		       " VALUES (1, 'a.c', 'radix-2d', 'route', '',"
		       " 'boundaries', 1, 'h3', 1, 't')") == SQLITE_CONSTRAINT);
	CHECK(raw_exec(p, "UPDATE sweep_runs SET status = 'paused'")
	      == SQLITE_CONSTRAINT);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sweep_shards"), 3);
}
static void t_db_sweep_tables(void) { with_dir(b_sweep_tables); }

static void b_not_sqlite(void)
{
	char p[128], w[128], want[256], got[16] = "";
	kva_db *db;
	kva_err e;
	FILE *f;
	struct stat sb;

	CHECK((f = fopen(in_dir("hello.db", p), "w")));
	fputs("hello", f);
	CHECK(fclose(f) == 0);
	CHECK(kva_db_open(p, &db, &e) == -1);
	snprintf(want, sizeof want, "trace store %s: file is not a database", p);
	CHECK_STR(e.msg, want);
	/* left as it was: same bytes, no WAL beside it */
	CHECK((f = fopen(p, "r")));
	if (!fgets(got, sizeof got, f))
		got[0] = '\0';
	fclose(f);
	CHECK_STR(got, "hello");
	CHECK(stat(in_dir("hello.db-wal", w), &sb) == -1 && errno == ENOENT);
}
static void t_db_not_sqlite(void) { with_dir(b_not_sqlite); }

static void b_foreign_sqlite(void)
{
	char p[128], want[256];
	kva_db *db;
	kva_err e;

	CHECK(raw_exec(in_dir("other.db", p),
		       "CREATE TABLE replay (key TEXT PRIMARY KEY)") == SQLITE_OK);
	CHECK(kva_db_open(p, &db, &e) == -1);
	snprintf(want, sizeof want, "trace store %s: not a kvarbiter trace "
		 "store (it has tables but no schema_version)", p);
	CHECK_STR(e.msg, want);
	CHECK_STR(raw_text(p, "PRAGMA journal_mode"), "delete");
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master"
			     " WHERE type = 'table'"), 1);
}
static void t_db_foreign_sqlite(void) { with_dir(b_foreign_sqlite); }

static void b_bad_schema_version(void)
{
	static const struct { const char *sql, *msg; } cases[] = {
		{ "INSERT INTO schema_version VALUES (1)",
		  "schema_version has more than one row" },
		{ "DELETE FROM schema_version", "schema_version has no row" },
		{ "UPDATE schema_version SET version = 'one'",
		  "schema_version does not hold a version number" },
		{ "UPDATE schema_version SET version = -1",
		  "schema_version does not hold a version number" },
	};
	char p[128], want[256];
	kva_db *db;
	kva_err e;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char name[32];

		snprintf(name, sizeof name, "v%zu.db", i);
		CHECK(!open_and_add(in_dir(name, p)));
		CHECK(raw_exec(p, cases[i].sql) == SQLITE_OK);
		CHECK(kva_db_open(p, &db, &e) == -1);
		snprintf(want, sizeof want, "trace store %s: %s", p,
			 cases[i].msg);
		CHECK_STR(e.msg, want);
	}
}
static void t_db_bad_schema_version(void) { with_dir(b_bad_schema_version); }

static void b_open_errors(void)
{
	char p[128], want[256];
	kva_db *db;
	kva_err e;

	CHECK(kva_db_open(in_dir("no/such/dir.db", p), &db, &e) == -1);
	CHECK(db == NULL);
	snprintf(want, sizeof want, "trace store %s: unable to open database "
		 "file", p);
	CHECK(starts_with(e.msg, want));
	CHECK(kva_db_open("", &db, &e) == -1);
	CHECK_STR(e.msg, "trace store path is empty");
	kva_db_close(NULL);
}
static void t_db_open_errors(void) { with_dir(b_open_errors); }

/* Two handles on one store at once: the second open finds the schema in
 * place, and both can append. */
static void b_two_handles(void)
{
	char p[128];
	kva_db *a, *b;
	kva_err e;
	kva_trap_row r = pass_row();
	int64_t ia, ib;

	CHECK(!kva_db_open(in_dir("t.db", p), &a, &e));
	if (kva_db_open(p, &b, &e)) {
		fprintf(stderr, "second open: %s\n", e.msg);
		kva_db_close(a);
		CHECK(!"second open failed");
	}
	ia = kva_db_version(a);
	ib = kva_db_version(b);
	if (kva_db_add_trap_run(a, &r, &ia, &e) ||
	    kva_db_add_trap_run(b, &r, &ib, &e))
		ia = ib = -1;
	kva_db_close(a);
	kva_db_close(b);
	CHECK_EQ_I64(ia, 1);
	CHECK_EQ_I64(ib, 2);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM schema_version"), 1);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 2);
}
static void t_db_two_handles(void) { with_dir(b_two_handles); }

/* Start n children that wait on a pipe, then each call open_and_add(p);
 * release them together and count those that did not exit 0. */
static int race_children(const char *p, int n)
{
	int fd[2], bad = 0, started = 0, st;
	pid_t pids[16];

	if (pipe(fd))
		return n;
	fflush(NULL);
	for (; started < n; started++) {
		pids[started] = fork();
		if (pids[started] < 0)
			break;
		if (pids[started] == 0) {
			char c;

			close(fd[1]);
			while (read(fd[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(open_and_add(p));
		}
	}
	close(fd[0]);
	close(fd[1]); /* EOF on the pipe: all go */
	bad = n - started;
	for (int i = 0; i < started; i++)
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad++;
	return bad;
}

/* Eight processes open one new file at the same instant: every one gets
 * a migrated store and appends; the schema is made once. */
static void b_concurrent_open(void)
{
	char p[128];

	for (int round = 0; round < 3; round++) {
		char name[32];

		snprintf(name, sizeof name, "race%d.db", round);
		CHECK_EQ_I64(race_children(in_dir(name, p), 8), 0);
		CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 8);
		CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM schema_version"), 1);
		CHECK_EQ_I64(raw_int(p, "SELECT version FROM schema_version"),
			     KVA_DB_SCHEMA_VERSION);
		CHECK_STR(raw_text(p, "PRAGMA journal_mode"), "wal");
	}
}
static void t_db_concurrent_open(void) { with_dir(b_concurrent_open); }

/*
 * The version is re-read under the migration lock.  We hold BEGIN
 * IMMEDIATE on a new file and, inside it, mark the store as already at
 * the latest version (without its tables).  A child opening the file
 * meanwhile sees an empty file, waits for our lock, and must then find
 * the work done rather than run migration 1 itself.
 */
static void b_migration_rechecks_under_lock(void)
{
	char p[128], sql[160];
	int fd[2], st, rc;
	pid_t pid;
	sqlite3 *h;

	in_dir("t.db", p);
	CHECK(pipe(fd) == 0);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		CHECK(pid >= 0);
	}
	if (pid == 0) {
		char c;

		close(fd[1]);
		while (read(fd[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(open_only(p));
	}
	close(fd[0]);
	/* The parent opens its connection only after fork: SQLite state must
	 * not cross a fork. */
	snprintf(sql, sizeof sql, "BEGIN IMMEDIATE;"
		 "CREATE TABLE schema_version (version INTEGER NOT NULL);"
		 "INSERT INTO schema_version VALUES (%d);",
		 KVA_DB_SCHEMA_VERSION);
	rc = sqlite3_open(p, &h);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	close(fd[1]); /* the child goes */
	sleep_ms(300);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(h);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK_EQ_I64(rc, SQLITE_OK);
	/* the child opened a store at the latest version, and trap_runs was
	 * never made: it did not run migration 1 after our lock went */
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master"
			     " WHERE name = 'trap_runs'"), 0);
	CHECK_EQ_I64(raw_int(p, "SELECT version FROM schema_version"),
		     KVA_DB_SCHEMA_VERSION);
}
static void t_db_migration_rechecks_under_lock(void)
{
	with_dir(b_migration_rechecks_under_lock);
}

/* Opening an up-to-date store takes no write lock: it succeeds while
 * another connection holds one (if it needed the lock it would fail after
 * the busy timeout, as this process never lets go). */
static void b_open_beside_writer(void)
{
	char p[128];
	sqlite3 *h;
	kva_db *db = NULL;
	kva_err e;
	int rc;

	CHECK(!open_and_add(in_dir("t.db", p)));
	CHECK(sqlite3_open(p, &h) == SQLITE_OK);
	rc = sqlite3_exec(h, "BEGIN IMMEDIATE; DELETE FROM trap_runs", NULL,
			  NULL, NULL);
	if (rc == SQLITE_OK)
		rc = kva_db_open(p, &db, &e) ? -1 : 0;
	if (rc == 0)
		rc = kva_db_version(db) == KVA_DB_SCHEMA_VERSION ? 0 : -2;
	kva_db_close(db);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(h);
	if (rc == -1)
		fprintf(stderr, "open beside a writer: %s\n", e.msg);
	CHECK_EQ_I64(rc, 0);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 1);
}
static void t_db_open_beside_writer(void) { with_dir(b_open_beside_writer); }

static void b_null_first_case(void)
{
	char p[128];
	kva_db *db;
	kva_err e;
	kva_trap_row r = pass_row();

	CHECK(!kva_db_open(in_dir("t.db", p), &db, &e));
	r.first_case_json = NULL;
	CHECK(!kva_db_add_trap_run(db, &r, NULL, &e));
	r.first_case_json = "{\"pos\":15}";
	CHECK(!kva_db_add_trap_run(db, &r, NULL, &e));
	kva_db_close(db);
	CHECK_STR(raw_text(p, "SELECT group_concat(typeof(first_case), ',')"
			   " FROM (SELECT first_case FROM trap_runs ORDER BY id)"),
		  "null,text");
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"
			     " WHERE first_case IS NULL"), 1);
}
static void t_db_null_first_case(void) { with_dir(b_null_first_case); }

static void b_kva_now(void)
{
	static const char *const bad[] = {
		"2023-02-29T12:00:00Z", "2024-13-01T00:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01 00:00:00Z",
		"2024-01-01T00:00:00", "2024-01-01T00:00:00+00:00",
		"2024-01-01T00:00:00.5Z", "yesterday",
	};
	char p[128], want[256];
	kva_db *db;
	kva_err e;
	kva_trap_row r = pass_row();
	struct tm tm = { 0 };
	const char *ts;
	time_t t0 = time(NULL), t;

	CHECK(!kva_db_open(in_dir("t.db", p), &db, &e));
	setenv("KVA_NOW", "2000-01-01T00:00:00Z", 1);
	CHECK(!kva_db_add_trap_run(db, &r, NULL, &e));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("KVA_NOW", bad[i], 1);
		snprintf(want, sizeof want, "KVA_NOW: expected a UTC time as "
			 "YYYY-MM-DDTHH:MM:SSZ, got \"%s\"", bad[i]);
		if (kva_db_add_trap_run(db, &r, NULL, &e) != -1) {
			fprintf(stderr, "KVA_NOW=%s accepted\n", bad[i]);
			kva_db_close(db);
			CHECK(!"bad KVA_NOW accepted");
		}
		CHECK_STR(e.msg, want);
		CHECK_STR(e.field, "KVA_NOW");
	}
	setenv("KVA_NOW", "", 1); /* set but empty: the clock */
	CHECK(!kva_db_add_trap_run(db, &r, NULL, &e));
	unsetenv("KVA_NOW");
	CHECK(!kva_db_add_trap_run(db, &r, NULL, &e));
	kva_db_close(db);

	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 3);
	CHECK_STR(raw_text(p, "SELECT ts FROM trap_runs WHERE id = 1"),
		  "2000-01-01T00:00:00Z");
	for (int id = 2; id <= 3; id++) {
		char sql[64];

		snprintf(sql, sizeof sql, "SELECT ts FROM trap_runs WHERE id = %d",
			 id);
		ts = raw_text(p, sql);
		CHECK(strlen(ts) == 20 && ts[19] == 'Z');
		CHECK(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year,
			     &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			     &tm.tm_sec) == 6);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		t = timegm(&tm);
		CHECK(t >= t0 && t <= time(NULL));
	}
}
static void t_db_kva_now(void) { with_dir(b_kva_now); }

/* A version 6 store (this build's schema less migration 7's tables, the
 * version set back, a trap run in it) opened by this build is migrated to
 * version 7 in place: the row stays and the mutation tables take rows. */
static void b_migrate_v6(void)
{
	char p[128];
	kva_db *db;
	kva_err e;

	CHECK(!open_and_add(in_dir("v6.db", p)));
	CHECK(raw_exec(p, "DROP TABLE mutants; DROP TABLE mutation_runs;"
		       "UPDATE schema_version SET version = 6") == SQLITE_OK);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE"
			     " name LIKE 'mutation%' OR name = 'mutants'"), 0);
	CHECK(!kva_db_open(p, &db, &e));
	CHECK_EQ_I64(kva_db_version(db), 7);
	kva_db_close(db);
	CHECK_EQ_I64(raw_int(p, "SELECT version FROM schema_version"), 7);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM schema_version"), 1);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM trap_runs"), 1);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM sqlite_master WHERE"
			     " type = 'table' AND name IN ('mutation_runs',"
			     " 'mutants')"), 2);
	CHECK(raw_exec(p, "INSERT INTO mutation_runs (ts, candidate, sha256,"
		       " oracle, kind, cases, total, compiled, not_compiled,"
		       " killed, survived, equivalent_likely, score, seconds)"
		       " VALUES ('2024-01-01T00:00:00Z', 'a.c', 'aa', 'radix-2d',"
		       " 'route', 10, 2, 2, 0, 1, 1, 0, 0.5, 0.1);"
		       "INSERT INTO mutants (run_id, id, op, line, col, patch,"
		       " status) VALUES (1, 1, 'arith', 3, 5, '-a+b +a-b',"
		       " 'survived')") == SQLITE_OK);
	fprintf(stderr, "(the next two constraint failures are expected)\n");
	CHECK(raw_exec(p, "INSERT INTO mutants (run_id, id, op, line, col,"
		       " patch, status) VALUES (1, 2, 'arith', 3, 5, 'p',"
		       " 'alive')") == SQLITE_CONSTRAINT);
	CHECK(raw_exec(p, "INSERT INTO mutants (run_id, id, op, line, col,"
		       " patch, status) VALUES (1, 1, 'arith', 3, 5, 'p',"
		       " 'killed')") == SQLITE_CONSTRAINT);
}
static void t_db_migrate_v6(void) { with_dir(b_migrate_v6); }

/* A mutation run and its mutants are written together, or not at all. */
static void b_mutation_run(void)
{
	char p[128];
	kva_db *db;
	kva_err e;
	int64_t id = 0;
	kva_mutant_row m[2] = {
		{ 1, 3, 5, "arith", "-a+b +a-b", "killed", "misroute",
		  "{\"case\":4}", 1 },
		{ 2, 4, 9, "relop", "-a<b +a<=b", "survived", NULL, NULL, -1 },
	};
	kva_mutation_row r = {
		"cand/good.c", "aa", "radix-2d", "route", 10, 2, 2, 0, 1, 1, 0,
		0.5, -1, -1, 0.25, m, 2
	};

	CHECK(!kva_db_open(in_dir("m.db", p), &db, &e));
	CHECK(!kva_db_add_mutation_run(db, &r, &id, &e));
	CHECK_EQ_I64(id, 1);
	/* a bad status rolls the whole run back */
	m[1].status = "alive";
	CHECK(kva_db_add_mutation_run(db, &r, NULL, &e) == -1);
	m[1].status = "survived";
	m[1].killed_by_json = "[1]";
	CHECK(kva_db_add_mutation_run(db, &r, NULL, &e) == -1);
	kva_db_close(db);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM mutation_runs"), 1);
	CHECK_EQ_I64(raw_int(p, "SELECT count(*) FROM mutants"), 2);
	CHECK_STR(raw_text(p, "SELECT group_concat(id || ':' || status || ':' ||"
			   " ifnull(class, '-') || ':' || ifnull(killed_by, '-')"
			   " || ':' || ifnull(killed_by_unit_test, '-'), ',')"
			   " FROM (SELECT * FROM mutants ORDER BY id)"),
		  "1:killed:misroute:{\"case\":4}:1,2:survived:-:-:-");
	CHECK_EQ_I64(raw_int(p, "SELECT unit_test_killed IS NULL AND"
			     " unit_test_compiled IS NULL AND score = 0.5"
			     " FROM mutation_runs"), 1);
}
static void t_db_mutation_run(void) { with_dir(b_mutation_run); }

const unit_test suite_db[] = {
	{ "db_new_file", t_db_new_file },
	{ "db_reopen", t_db_reopen },
	{ "db_insert_readback", t_db_insert_readback },
	{ "db_refused_rows", t_db_refused_rows },
	{ "db_newer_version", t_db_newer_version },
	{ "db_migrate_v1", t_db_migrate_v1 },
	{ "db_migrate_v6", t_db_migrate_v6 },
	{ "db_mutation_run", t_db_mutation_run },
	{ "db_sweep_tables", t_db_sweep_tables },
	{ "db_not_sqlite", t_db_not_sqlite },
	{ "db_foreign_sqlite", t_db_foreign_sqlite },
	{ "db_bad_schema_version", t_db_bad_schema_version },
	{ "db_open_errors", t_db_open_errors },
	{ "db_two_handles", t_db_two_handles },
	{ "db_concurrent_open", t_db_concurrent_open },
	{ "db_migration_rechecks_under_lock", t_db_migration_rechecks_under_lock },
	{ "db_open_beside_writer", t_db_open_beside_writer },
	{ "db_null_first_case", t_db_null_first_case },
	{ "db_kva_now", t_db_kva_now },
	{ NULL, NULL }
};
