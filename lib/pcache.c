/*
 * pcache.c - the prefix cache of kv-snapshot(1): store, load, gc.
 *
 * The key chain and the schema are in pcache.h.  Habits follow lib/db.c:
 * a busy timeout on every connection, WAL, foreign keys on, every write in
 * one BEGIN IMMEDIATE transaction, and the schema version read before
 * anything is written, so a file that is refused is left as it was.
 *
 * A load looks for the longest cached prefix by binary search over the
 * request's keys h_1 .. h_F.  That is sound because of an invariant every
 * writer keeps: a snapshot is stored with all of its keys h_1 .. h_F in
 * one transaction and deleted with all of them (ON DELETE CASCADE), so if
 * some snapshot holds h_k it also holds h_1 .. h_{k-1}: "h_k is cached" is
 * true for k up to the answer and false after it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "pcache.h"
#include "pool.h"
#include "snap.h"

/* How long a connection waits for another's lock: long, because a writer
 * may be copying a snapshot of hundreds of megabytes into its blob. */
#define PC_BUSY_MS 30000
/* The page size of a new cache, and the size a WAL file is cut back to
 * after a checkpoint (see pc_open). */
#define PC_PAGE_SIZE "65536"
#define PC_WAL_LIMIT "67108864"

/* Version 1 of the schema (pcache.h has it commented).  Later versions
 * add a migration; this text never changes once shipped. */
static const char pc_schema_v1[] =
	"CREATE TABLE snapshots ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" sha256 TEXT NOT NULL UNIQUE,"
	" layout TEXT NOT NULL,"
	" chunks INTEGER NOT NULL CHECK (chunks >= 0),"
	" cur_pos INTEGER NOT NULL CHECK (cur_pos >= 0),"
	" bytes INTEGER NOT NULL CHECK (bytes > 0),"
	" stored_at TEXT NOT NULL,"
	" used_at TEXT NOT NULL,"
	" last_use INTEGER NOT NULL,"
	" hits INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX snapshots_last_use ON snapshots(last_use);"
	/* the bytes in a table of their own: marking a use rewrites a small
	 * row, not one with the whole snapshot in its overflow pages */
	"CREATE TABLE blobs ("
	" snapshot INTEGER PRIMARY KEY"
	"  REFERENCES snapshots(id) ON DELETE CASCADE,"
	" data BLOB NOT NULL"
	");"
	"CREATE TABLE prefixes ("
	" hash TEXT NOT NULL,"
	" snapshot INTEGER NOT NULL"
	"  REFERENCES snapshots(id) ON DELETE CASCADE,"
	" chunks INTEGER NOT NULL CHECK (chunks >= 1),"
	" PRIMARY KEY (hash, snapshot)"
	") WITHOUT ROWID;"
	"CREATE INDEX prefixes_snapshot ON prefixes(snapshot);";

/* An open cache. */
typedef struct pcache {
	sqlite3 *h;       /* the connection */
	const char *path; /* as given with --db, for diagnostics */
} pcache;

/* ---- keys ------------------------------------------------------------ */

/* See pcache.h. */
int kva_pcache_layout_id(const kva_pcache_layout *l, char *out, size_t n)
{
	int len = snprintf(out, n, "kvarbiter-layout-1 layers=%lld kv_heads=%lld"
			   " head_dim=%lld dtype_k=%s dtype_v=%s"
			   " chunk_tokens=%lld seed=%llu",
			   (long long)l->layers, (long long)l->kv_heads,
			   (long long)l->head_dim, kva_dtype_name(l->dtype_k),
			   kva_dtype_name(l->dtype_v), (long long)l->chunk_tokens,
			   (unsigned long long)l->seed);

	return len < 0 || (size_t)len >= n ? -1 : len;
}

/* See pcache.h.  One buffer holds the whole hashed string of a link:
 * 64 hex digits, 8 bytes per token, the layout id. */
void kva_pcache_keys(const char *lid, int64_t chunk_tokens,
		     const int64_t *tokens, int64_t ntok, char (*keys)[65])
{
	size_t ll = strlen(lid), C = (size_t)chunk_tokens;
	int64_t F = ntok / chunk_tokens;
	unsigned char *buf;
	char prev[65];

	if (F <= 0)
		return;
	if (!(buf = malloc(64 + 8 * C + ll)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	kva_sha256_hex(lid, ll, prev);
	for (int64_t k = 0; k < F; k++) {
		const int64_t *t = tokens + k * chunk_tokens;

		memcpy(buf, prev, 64);
		for (size_t j = 0; j < C; j++) {
			uint64_t v = (uint64_t)t[j];

			for (int b = 0; b < 8; b++)
				buf[64 + 8 * j + (size_t)b] =
					(unsigned char)(v >> (8 * b));
		}
		memcpy(buf + 64 + 8 * C, lid, ll);
		kva_sha256_hex(buf, 64 + 8 * C + ll, keys[k]);
		memcpy(prev, keys[k], sizeof prev);
	}
	free(buf);
}

/* ---- the tokens file ------------------------------------------------- */

typedef struct tokens {
	int64_t *v;   /* ids in order, all records concatenated */
	int64_t n, cap;
} tokens;

/*
 * Read every {"type":"tokens","tokens":[...]} record of path ("-" =
 * stdin) into t (zeroed by the caller; free t->v); records of other
 * types are skipped (SPEC section 2).  Returns 0, or -1 with t emptied
 * after reporting "FILE:LINE: field "tokens": ..." (or the reader's own
 * diagnostic) on stderr.
 */
static int read_tokens(const char *path, size_t max_record, tokens *t)
{
	kva_reader r;
	kva_rec rec;
	kva_err e = { 0 }, ie;
	int st;

	if (kva_reader_open(&r, path, max_record))
		return -1;
	while ((st = kva_reader_next(&r, &rec, &e)) == 1) {
		const kva_jval *a = kva_json_get(rec.root, "tokens"), *el;
		size_t i = 0;

		if (strcmp(rec.type, "tokens"))
			continue;
		if (!a) {
			kva_errf(&e, "tokens", "missing");
			st = -1;
			break;
		}
		if (a->t != KVA_JARR) {
			kva_errf(&e, "tokens", "must be an array of token ids");
			st = -1;
			break;
		}
		for (el = a->child; el; el = el->next, i++) {
			int64_t v;

			if (kva_json_int(el, "tokens", &v, &ie)) {
				kva_errf(&e, "tokens", "element %zu: %s", i,
					 ie.msg);
				break;
			}
			if (v < 0) {
				kva_errf(&e, "tokens", "element %zu: must be "
					 ">= 0, got %lld", i, (long long)v);
				break;
			}
			if (t->n == t->cap) {
				int64_t *nv;

				t->cap = t->cap ? 2 * t->cap : 4096;
				if (!(nv = realloc(t->v, (size_t)t->cap *
						   sizeof *nv)))
					kva_die(KVA_EXIT_TROUBLE,
						"out of memory");
				t->v = nv;
			}
			t->v[t->n++] = v;
		}
		if (el) {
			st = -1;
			break;
		}
	}
	if (st == -1)
		kva_report_bad(&r, rec.line, &e, 0);
	kva_reader_close(&r);
	if (st == 0)
		return 0;
	free(t->v);
	memset(t, 0, sizeof *t);
	return -1;
}

/* ---- SQLite ---------------------------------------------------------- */

/* Fill e with "PATH: WHAT: sqlite's message" (WHAT may be NULL); -1. */
static int pc_fail(const pcache *c, const char *what, kva_err *e)
{
	const char *msg = sqlite3_errmsg(c->h);

	if (what)
		return kva_errf(e, NULL, "%s: %s: %s", c->path, what, msg);
	return kva_errf(e, NULL, "%s: %s", c->path, msg);
}

static int pc_exec(const pcache *c, const char *sql, const char *what,
		   kva_err *e)
{
	if (sqlite3_exec(c->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return pc_fail(c, what, e);
	return 0;
}

/* Roll back the open transaction after a failure described in e; a
 * failed ROLLBACK means nothing was left to roll back.  Returns -1. */
static int pc_abandon(const pcache *c)
{
	sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Prepare sql, or fill e; NULL on failure. */
static sqlite3_stmt *pc_prep(const pcache *c, const char *sql, kva_err *e)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(c->h, sql, -1, &st, NULL) != SQLITE_OK) {
		pc_fail(c, NULL, e);
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* The integer of a one-row, one-column query (a PRAGMA, a count). */
static int pc_int(const pcache *c, const char *sql, int64_t *out, kva_err *e)
{
	sqlite3_stmt *st = pc_prep(c, sql, e);
	int rc;

	if (!st)
		return -1;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		pc_fail(c, NULL, e);
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/*
 * What the file holds: *version = its user_version when it is a prefix
 * cache, 0 when it is empty.  Refuses (-1, e) an SQLite file that holds
 * something else and a cache newer than this build.
 */
static int pc_read_version(const pcache *c, int64_t *version, kva_err *e)
{
	int64_t objects, app, v;

	if (pc_int(c, "SELECT count(*) FROM sqlite_master", &objects, e) ||
	    pc_int(c, "PRAGMA application_id", &app, e) ||
	    pc_int(c, "PRAGMA user_version", &v, e))
		return -1;
	if (!objects && !v) {
		*version = 0;
		return 0;
	}
	if (app != KVA_PCACHE_APP_ID || v < 1)
		return kva_errf(e, NULL, "%s: not a kvarbiter prefix cache "
				"(application_id %lld, user_version %lld)",
				c->path, (long long)app, (long long)v);
	if (v > KVA_PCACHE_SCHEMA_VERSION)
		return kva_errf(e, NULL, "%s: prefix cache schema version "
				"%lld is newer than this build's %d", c->path,
				(long long)v, KVA_PCACHE_SCHEMA_VERSION);
	*version = v;
	return 0;
}

/*
 * Switch to WAL, retrying while another process holds the file: the
 * switch upgrades a read lock to a write lock, for which SQLite does not
 * call the busy handler (see lib/db.c).  Returns 0, or -1 with e.
 */
static int pc_use_wal(const pcache *c, kva_err *e)
{
	sqlite3_stmt *st = pc_prep(c, "PRAGMA journal_mode = WAL", e);
	double give_up = kva_now() + PC_BUSY_MS / 1000.0;
	const unsigned char *mode;
	int nap_ms = 1, rc, ok;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_BUSY && kva_now() < give_up) {
		sqlite3_reset(st);
		sqlite3_sleep(nap_ms);
		if (nap_ms < 50)
			nap_ms *= 2;
	}
	if (rc != SQLITE_ROW) {
		pc_fail(c, "cannot switch to WAL", e);
		sqlite3_finalize(st);
		return -1;
	}
	mode = sqlite3_column_text(st, 0);
	ok = mode && !strcmp((const char *)mode, "wal");
	if (!ok)
		kva_errf(e, NULL, "%s: cannot use WAL journal mode (still %s)",
			 c->path, mode ? (const char *)mode : "?");
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

static void pc_close(pcache *c)
{
	sqlite3_close(c->h);
	c->h = NULL;
}

/*
 * Open the cache at path (created when create is set and it does not
 * exist) and bring it to KVA_PCACHE_SCHEMA_VERSION.  The creation runs
 * under BEGIN IMMEDIATE with the version re-read inside, so of several
 * processes creating one file at once exactly one creates the tables.
 * Returns 0, or -1 with e filled and c closed.
 */
static int pc_open(pcache *c, const char *path, int create, kva_err *e)
{
	struct stat sb;
	int64_t version = 0;
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);

	memset(c, 0, sizeof *c);
	c->path = path;
	if (!*path)
		return kva_errf(e, "db", "--db: the path is empty");
	if (!create && stat(path, &sb) < 0)
		return kva_errf(e, NULL, "%s: %s", path, strerror(errno));
	if (sqlite3_open_v2(path, &c->h, flags, NULL) != SQLITE_OK) {
		int err = c->h ? sqlite3_system_errno(c->h) : 0;

		if (!c->h)
			kva_errf(e, NULL, "%s: out of memory", path);
		else if (err)
			kva_errf(e, NULL, "%s: %s: %s", path,
				 sqlite3_errmsg(c->h), strerror(err));
		else
			pc_fail(c, NULL, e);
		goto fail;
	}
	/* page_size and auto_vacuum only take effect on an empty file,
	 * before its first page is written (the WAL switch writes it): large
	 * pages for large blobs (16 times fewer page reads and writes than
	 * the default 4096), and incremental_vacuum for gc.  The WAL file is
	 * trimmed after a checkpoint, else it keeps the size of the largest
	 * snapshot ever stored. */
	if (sqlite3_busy_timeout(c->h, PC_BUSY_MS) != SQLITE_OK ||
	    pc_exec(c, "PRAGMA page_size = " PC_PAGE_SIZE, NULL, e) ||
	    pc_exec(c, "PRAGMA auto_vacuum = INCREMENTAL", NULL, e) ||
	    pc_read_version(c, &version, e) || pc_use_wal(c, e) ||
	    pc_exec(c, "PRAGMA journal_size_limit = " PC_WAL_LIMIT, NULL, e) ||
	    pc_exec(c, "PRAGMA foreign_keys = ON", NULL, e))
		goto fail;
	if (version < KVA_PCACHE_SCHEMA_VERSION) {
		char sql[96];

		if (pc_exec(c, "BEGIN IMMEDIATE", "cannot lock to create the "
			    "schema", e))
			goto fail;
		if (pc_read_version(c, &version, e)) {
			pc_abandon(c);
			goto fail;
		}
		snprintf(sql, sizeof sql, "PRAGMA application_id = %d;"
			 "PRAGMA user_version = %d;", KVA_PCACHE_APP_ID,
			 KVA_PCACHE_SCHEMA_VERSION);
		if (version == 0 &&
		    (pc_exec(c, pc_schema_v1, "cannot create the schema", e) ||
		     pc_exec(c, sql, "cannot create the schema", e))) {
			pc_abandon(c);
			goto fail;
		}
		if (pc_exec(c, "COMMIT", "cannot commit the schema", e)) {
			pc_abandon(c);
			goto fail;
		}
	}
	return 0;
fail:
	pc_close(c);
	return -1;
}

/* ---- records --------------------------------------------------------- */

/* Write b as a record and free it. */
static void emit(kva_buf *b)
{
	kva_out_record(b);
	kva_buf_free(b);
}

/* Finish a subcommand: flush and close stdout; a write error is trouble. */
static int finish(int status)
{
	if (kva_out_close())
		return KVA_EXIT_TROUBLE;
	return status;
}

/* Report e ("kv-snapshot: message") and return KVA_EXIT_TROUBLE. */
static int trouble(const kva_err *e)
{
	kva_out_flush();
	kva_warnx("%s", e->msg);
	return finish(KVA_EXIT_TROUBLE);
}

/* ---- store ----------------------------------------------------------- */

static void layout_of(const kva_snap *s, kva_pcache_layout *l)
{
	l->layers = s->layers;
	l->kv_heads = s->kv_heads;
	l->head_dim = s->head_dim;
	l->chunk_tokens = s->chunk_tokens;
	l->dtype_k = s->dtype_k;
	l->dtype_v = s->dtype_v;
	l->seed = s->seed;
}

/* Bind text that lives until the statement is reset. */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/*
 * Store the snapshot s (sha256 hex of its bytes in sum) with its F keys in
 * one write transaction: the snapshot row is reused when its bytes are
 * already stored (its last use is refreshed), and each key is added once.
 * *id and *fresh say which row and whether it is new.  Returns 0, or -1
 * with e filled and nothing written.
 */
static int store_rows(pcache *c, const kva_snap *s, const char *sum,
		      const char *lid, char (*keys)[65], int64_t F,
		      int64_t *id, int *fresh, kva_err *e)
{
	sqlite3_stmt *st = NULL;
	char ts[21];
	int rc;

	if (kva_timestamp(ts, e))
		return -1;
	if (pc_exec(c, "BEGIN IMMEDIATE", "cannot lock for writing", e))
		return -1;
	if (!(st = pc_prep(c, "SELECT id FROM snapshots WHERE sha256 = ?1", e)))
		return pc_abandon(c);
	bind_text(st, 1, sum);
	rc = sqlite3_step(st);
	*fresh = rc == SQLITE_DONE;
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);

	if (!*fresh) {
		if (!(st = pc_prep(c, "UPDATE snapshots SET last_use ="
		    " (SELECT max(last_use) FROM snapshots) + 1, used_at = ?2"
		    " WHERE id = ?1", e)))
			return pc_abandon(c);
		sqlite3_bind_int64(st, 1, *id);
		bind_text(st, 2, ts);
	} else {
		if (!(st = pc_prep(c, "INSERT INTO snapshots (sha256, layout,"
		    " chunks, cur_pos, bytes, stored_at, used_at, last_use)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6,"
		    " (SELECT coalesce(max(last_use), 0) + 1 FROM snapshots))",
		    e)))
			return pc_abandon(c);
		bind_text(st, 1, sum);
		bind_text(st, 2, lid);
		sqlite3_bind_int64(st, 3, s->count);
		sqlite3_bind_int64(st, 4, s->cur_pos);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)s->size);
		bind_text(st, 6, ts);
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	if (*fresh) {
		*id = sqlite3_last_insert_rowid(c->h);
		if (!(st = pc_prep(c, "INSERT INTO blobs (snapshot, data)"
		    " VALUES (?1, ?2)", e)))
			return pc_abandon(c);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_blob64(st, 2, s->image, s->size, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_finalize(st);
	}

	if (!(st = pc_prep(c, "INSERT OR IGNORE INTO prefixes (hash, snapshot,"
	    " chunks) VALUES (?1, ?2, ?3)", e)))
		return pc_abandon(c);
	for (int64_t k = 0; k < F; k++) {
		bind_text(st, 1, keys[k]);
		sqlite3_bind_int64(st, 2, *id);
		sqlite3_bind_int64(st, 3, k + 1);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (pc_exec(c, "COMMIT", "cannot commit", e))
		return pc_abandon(c);
	return 0;
sqlfail:
	pc_fail(c, NULL, e);
	sqlite3_finalize(st);
	return pc_abandon(c);
}

static int cmd_store(const char *file, const char *tpath, size_t max_record,
		     const char *db)
{
	kva_snap s;
	kva_err e = { 0 };
	kva_pcache_layout l;
	tokens t = { 0 };
	pcache c;
	char lid[256], sum[65], (*keys)[65] = NULL;
	int64_t F = 0, id = 0, usable;
	int fresh = 0;
	kva_buf b = { 0 };

	if (kva_snap_open(file, &s, &e)) {
		kva_warnx("%s: %s%s%s%s", file, e.field ? "field \"" : "",
			  e.field ? e.field : "", e.field ? "\": " : "", e.msg);
		return finish(KVA_EXIT_TROUBLE);
	}
	if (read_tokens(tpath, max_record, &t)) {
		kva_snap_close(&s);
		return finish(KVA_EXIT_TROUBLE);
	}
	layout_of(&s, &l);
	if (kva_pcache_layout_id(&l, lid, sizeof lid) < 0)
		kva_die(KVA_EXIT_TROUBLE, "%s: layout id too long", file);
	usable = t.n < s.cur_pos ? t.n : s.cur_pos;
	F = usable / s.chunk_tokens;
	if (F > 0) {
		if (!(keys = malloc((size_t)F * sizeof *keys)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		kva_pcache_keys(lid, s.chunk_tokens, t.v, usable, keys);
	}
	free(t.v);
	if (pc_open(&c, db, 1, &e)) {
		free(keys);
		kva_snap_close(&s);
		return trouble(&e);
	}
	if (F > 0) {
		int limit = sqlite3_limit(c.h, SQLITE_LIMIT_LENGTH, -1);

		if (s.size > (size_t)limit) {
			kva_errf(&e, NULL, "%s: %zu bytes is more than one "
				 "SQLite value may hold here (%d)", file,
				 s.size, limit);
			goto fail;
		}
		kva_sha256_hex(s.image, s.size, sum);
		if (store_rows(&c, &s, sum, lid, keys, F, &id, &fresh, &e))
			goto fail;
	}
	pc_close(&c);

	kva_buf_puts(&b, "{\"type\":\"stored\",\"file\":");
	kva_buf_jstr(&b, file, strlen(file));
	if (F > 0) {
		kva_buf_printf(&b, ",\"snapshot\":%lld,\"sha256\":\"%s\","
			       "\"new\":%s", (long long)id, sum,
			       fresh ? "true" : "false");
	} else {
		kva_buf_puts(&b, ",\"snapshot\":null");
	}
	kva_buf_printf(&b, ",\"chunks\":%lld,\"cur_pos\":%lld,\"tokens\":%lld,"
		       "\"prefixes\":%lld,\"bytes\":%lld", (long long)s.count,
		       (long long)s.cur_pos, (long long)t.n, (long long)F,
		       F > 0 ? (long long)s.size : 0LL);
	if (F > 0)
		kva_buf_printf(&b, ",\"key\":\"%s\"", keys[F - 1]);
	kva_buf_puts(&b, ",\"layout\":");
	kva_buf_jstr(&b, lid, strlen(lid));
	if (F == 0)
		kva_buf_puts(&b, ",\"note\":\"not stored: no full chunk of "
			     "known tokens to key it by\"");
	kva_buf_putc(&b, '}');
	emit(&b);
	free(keys);
	kva_snap_close(&s);
	return finish(KVA_EXIT_OK);
fail:
	pc_close(&c);
	free(keys);
	kva_snap_close(&s);
	return trouble(&e);
}

/* ---- load ------------------------------------------------------------ */

/*
 * The snapshot holding key (the one with the fewest chunks, then the
 * oldest row): 1 with *id, 0 if none holds it, -1 with e.
 */
static int lookup(const pcache *c, sqlite3_stmt *st, const char *key,
		  int64_t *id, kva_err *e)
{
	int rc;

	sqlite3_reset(st);
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return pc_fail(c, NULL, e);
}

/*
 * Inside the read transaction: find the longest k with a cached key
 * (binary search, see the top of the file), and write that prefix of its
 * snapshot to out.  *hit = k (0: a miss, nothing written), *id, sum.
 */
static int load_prefix(const pcache *c, const char *lid, char (*keys)[65],
		       int64_t F, const char *out, int64_t *hit, int64_t *id,
		       char sum[65], kva_err *e)
{
	sqlite3_stmt *st;
	kva_snap s;
	kva_pcache_layout l;
	char slid[256];
	int64_t lo = 0, hi = F, hid = 0;
	int rc;

	*hit = 0;
	if (!(st = pc_prep(c, "SELECT p.snapshot FROM prefixes p JOIN snapshots s"
	    " ON s.id = p.snapshot WHERE p.hash = ?1"
	    " ORDER BY s.chunks, s.id LIMIT 1", e)))
		return -1;
	/* invariant: keys[0..lo) cached (lo == 0 trivially), keys[hi..F)
	 * not; hid holds the snapshot found for keys[lo - 1] */
	while (lo < hi) {
		int64_t mid = lo + (hi - lo + 1) / 2, got = 0;

		if ((rc = lookup(c, st, keys[mid - 1], &got, e)) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
		if (rc) {
			lo = mid;
			hid = got;
		} else {
			hi = mid - 1;
		}
	}
	sqlite3_finalize(st);
	if (lo == 0)
		return 0;

	if (!(st = pc_prep(c, "SELECT b.data, s.sha256 FROM snapshots s"
	    " JOIN blobs b ON b.snapshot = s.id WHERE s.id = ?1", e)))
		return -1;
	sqlite3_bind_int64(st, 1, hid);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			kva_errf(e, NULL, "%s: snapshot %lld vanished inside a "
				 "read transaction", c->path, (long long)hid);
		else
			pc_fail(c, NULL, e);
		sqlite3_finalize(st);
		return -1;
	}
	snprintf(sum, 65, "%s", (const char *)sqlite3_column_text(st, 1));
	{
		const void *img = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		kva_err pe = { 0 };

		if (kva_snap_parse(img ? img : "", n, &s, &pe)) {
			kva_errf(e, NULL, "%s: snapshot %lld: %s%s%s%s",
				 c->path, (long long)hid,
				 pe.field ? "field \"" : "",
				 pe.field ? pe.field : "",
				 pe.field ? "\": " : "", pe.msg);
			sqlite3_finalize(st);
			return -1;
		}
	}
	/* the key chain already binds the layout; a row whose bytes say
	 * otherwise is a damaged cache, not a hit */
	layout_of(&s, &l);
	if (kva_pcache_layout_id(&l, slid, sizeof slid) < 0 ||
	    strcmp(slid, lid) || lo > s.count ||
	    lo * s.chunk_tokens > s.cur_pos) {
		kva_errf(e, NULL, "%s: snapshot %lld does not match its key "
			 "(%lld chunks of \"%s\")", c->path, (long long)hid,
			 (long long)lo, slid);
		sqlite3_finalize(st);
		return -1;
	}
	rc = kva_snap_save_prefix(&s, lo, out, e);
	sqlite3_finalize(st);
	if (rc)
		return -1;
	*hit = lo;
	*id = hid;
	return 0;
}

/* Record a use of snapshot id (the LRU clock of gc).  It may have been
 * collected since it was read: then nothing changes. */
static int touch(const pcache *c, int64_t id, kva_err *e)
{
	sqlite3_stmt *st;
	char ts[21];

	if (kva_timestamp(ts, e) ||
	    pc_exec(c, "BEGIN IMMEDIATE", "cannot lock for writing", e))
		return -1;
	if (!(st = pc_prep(c, "UPDATE snapshots SET last_use ="
	    " (SELECT max(last_use) FROM snapshots) + 1, used_at = ?2,"
	    " hits = hits + 1 WHERE id = ?1", e)))
		return pc_abandon(c);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, ts);
	if (sqlite3_step(st) != SQLITE_DONE) {
		pc_fail(c, NULL, e);
		sqlite3_finalize(st);
		return pc_abandon(c);
	}
	sqlite3_finalize(st);
	if (pc_exec(c, "COMMIT", "cannot commit", e))
		return pc_abandon(c);
	return 0;
}

static int cmd_load(const char *tpath, size_t max_record, const char *db,
		    const char *out, const kva_pcache_layout *l)
{
	kva_err e = { 0 };
	tokens t = { 0 };
	pcache c;
	char lid[256], sum[65] = "", (*keys)[65] = NULL;
	int64_t F, hit = 0, id = 0;
	kva_buf b = { 0 };

	if (read_tokens(tpath, max_record, &t))
		return finish(KVA_EXIT_TROUBLE);
	if (kva_pcache_layout_id(l, lid, sizeof lid) < 0)
		kva_die(KVA_EXIT_TROUBLE, "layout id too long");
	F = t.n / l->chunk_tokens;
	if (F > 0) {
		if (!(keys = malloc((size_t)F * sizeof *keys)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		kva_pcache_keys(lid, l->chunk_tokens, t.v, t.n, keys);
	}
	free(t.v);
	if (pc_open(&c, db, 0, &e)) {
		free(keys);
		return trouble(&e);
	}
	/* one read transaction: the row found is the row copied, whatever
	 * gc does meanwhile */
	if (pc_exec(&c, "BEGIN", "cannot start reading", &e))
		goto fail;
	if (load_prefix(&c, lid, keys, F, out, &hit, &id, sum, &e)) {
		pc_abandon(&c);
		goto fail;
	}
	if (pc_exec(&c, "COMMIT", "cannot end reading", &e)) {
		pc_abandon(&c);
		goto fail;
	}
	if (hit && touch(&c, id, &e))
		goto fail;
	pc_close(&c);

	kva_buf_puts(&b, "{\"type\":\"loaded\",\"path\":");
	if (hit)
		kva_buf_jstr(&b, out, strlen(out));
	else
		kva_buf_puts(&b, "null");
	kva_buf_printf(&b, ",\"hit_chunks\":%lld,\"hit_tokens\":%lld,"
		       "\"tokens\":%lld,\"request_chunks\":%lld",
		       (long long)hit, (long long)(hit * l->chunk_tokens),
		       (long long)t.n, (long long)F);
	if (hit)
		kva_buf_printf(&b, ",\"snapshot\":%lld,\"sha256\":\"%s\","
			       "\"key\":\"%s\"", (long long)id, sum,
			       keys[hit - 1]);
	else
		kva_buf_puts(&b, ",\"snapshot\":null");
	kva_buf_puts(&b, ",\"layout\":");
	kva_buf_jstr(&b, lid, strlen(lid));
	kva_buf_putc(&b, '}');
	emit(&b);
	free(keys);
	return finish(hit ? KVA_EXIT_OK : KVA_EXIT_NEGATIVE);
fail:
	pc_close(&c);
	free(keys);
	return trouble(&e);
}

/* ---- gc -------------------------------------------------------------- */

typedef struct gc_result {
	int64_t before, after, deleted, kept;
} gc_result;

/* Delete least recently used snapshots (their keys go with them) until
 * the stored bytes are <= max, in one write transaction. */
static int gc_rows(const pcache *c, int64_t max, gc_result *g, kva_err *e)
{
	sqlite3_stmt *st = NULL, *del = NULL;
	int64_t *ids = NULL, *sz = NULL, n = 0, cap = 0, total = 0;
	int rc;

	memset(g, 0, sizeof *g);
	if (pc_exec(c, "BEGIN IMMEDIATE", "cannot lock for writing", e))
		return -1;
	if (!(st = pc_prep(c, "SELECT id, bytes FROM snapshots"
	    " ORDER BY last_use, id", e)))
		return pc_abandon(c);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if (!(ids = realloc(ids, (size_t)cap * sizeof *ids)) ||
			    !(sz = realloc(sz, (size_t)cap * sizeof *sz)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
		}
		ids[n] = sqlite3_column_int64(st, 0);
		sz[n] = sqlite3_column_int64(st, 1);
		total += sz[n++];
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	g->before = total;
	if (!(del = pc_prep(c, "DELETE FROM snapshots WHERE id = ?1", e)))
		goto fail;
	for (int64_t i = 0; i < n && total > max; i++) {
		sqlite3_bind_int64(del, 1, ids[i]);
		if (sqlite3_step(del) != SQLITE_DONE)
			goto sqlfail;
		sqlite3_reset(del);
		total -= sz[i];
		g->deleted++;
	}
	sqlite3_finalize(del);
	del = NULL;
	/* the freed pages go back to the file system in the same
	 * transaction */
	if (g->deleted && pc_exec(c, "PRAGMA incremental_vacuum", "cannot give "
				  "freed pages back", e))
		goto fail;
	if (pc_exec(c, "COMMIT", "cannot commit", e))
		goto fail;
	g->after = total;
	g->kept = n - g->deleted;
	free(ids);
	free(sz);
	return 0;
sqlfail:
	pc_fail(c, NULL, e);
fail:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	free(ids);
	free(sz);
	return pc_abandon(c);
}

static int cmd_gc(const char *db, int64_t max)
{
	kva_err e = { 0 };
	pcache c;
	gc_result g;
	kva_buf b = { 0 };

	if (pc_open(&c, db, 0, &e))
		return trouble(&e);
	if (gc_rows(&c, max, &g, &e)) {
		pc_close(&c);
		return trouble(&e);
	}
	pc_close(&c);
	kva_buf_printf(&b, "{\"type\":\"gc\",\"max_bytes\":%lld,\"deleted\":%lld,"
		       "\"kept\":%lld,\"bytes_before\":%lld,\"bytes_after\":%lld}",
		       (long long)max, (long long)g.deleted, (long long)g.kept,
		       (long long)g.before, (long long)g.after);
	emit(&b);
	return finish(KVA_EXIT_OK);
}

/* ---- options --------------------------------------------------------- */

static void usage(const char *sub, FILE *fp)
{
	if (!strcmp(sub, "store"))
		fputs("usage: kv-snapshot store FILE --tokens T.jsonl --db CACHE\n"
		      "                        [--max-record SIZE]\n", fp);
	else if (!strcmp(sub, "load"))
		fputs("usage: kv-snapshot load --tokens T.jsonl --db CACHE "
		      "--out FILE\n"
		      "                        [--layers N] [--kv-heads N] "
		      "[--head-dim N]\n"
		      "                        [--dtype f16|f32] "
		      "[--chunk-tokens N] [--seed S]\n"
		      "                        [--max-record SIZE]\n", fp);
	else
		fputs("usage: kv-snapshot gc --db CACHE --max-bytes N[K|M|G]\n",
		      fp);
}

/* A byte count: a decimal integer >= 0 with an optional K, M or G (powers
 * of 1024).  Returns 0, or -1 with *errstr as kva_parse_i64's. */
static int parse_bytes(const char *s, int64_t *out, const char **errstr)
{
	char tmp[32];
	size_t n = strlen(s);
	int64_t mul = 1;

	*errstr = "invalid";
	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n + 1);
	switch (tmp[n - 1]) {
	case 'K': case 'k': mul = 1LL << 10; break;
	case 'M': case 'm': mul = 1LL << 20; break;
	case 'G': case 'g': mul = 1LL << 30; break;
	}
	if (mul > 1)
		tmp[n - 1] = '\0';
	if (kva_parse_i64(tmp, 0, INT64_MAX / mul, out, errstr))
		return -1;
	*out *= mul;
	return 0;
}

enum { O_TOKENS = 256, O_DB, O_OUT, O_LAYERS, O_HEADS, O_DIM, O_DTYPE,
       O_CHUNK, O_SEED, O_MAXBYTES, O_MAXREC };

/* See pcache.h. */
int kva_pcache_main(const char *sub, int argc, char **argv)
{
	static const struct option store_opts[] = {
		{ "tokens", required_argument, NULL, O_TOKENS },
		{ "db", required_argument, NULL, O_DB },
		{ "max-record", required_argument, NULL, O_MAXREC },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option load_opts[] = {
		{ "tokens", required_argument, NULL, O_TOKENS },
		{ "db", required_argument, NULL, O_DB },
		{ "out", required_argument, NULL, O_OUT },
		{ "max-record", required_argument, NULL, O_MAXREC },
		{ "layers", required_argument, NULL, O_LAYERS },
		{ "kv-heads", required_argument, NULL, O_HEADS },
		{ "head-dim", required_argument, NULL, O_DIM },
		{ "dtype", required_argument, NULL, O_DTYPE },
		{ "chunk-tokens", required_argument, NULL, O_CHUNK },
		{ "seed", required_argument, NULL, O_SEED },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option gc_opts[] = {
		{ "db", required_argument, NULL, O_DB },
		{ "max-bytes", required_argument, NULL, O_MAXBYTES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	/* the same bounds as kv-prefill(1)'s options */
	static const struct { int opt; const char *name; int64_t min, max; }
	nums[] = {
		{ O_LAYERS, "--layers", 1, 1 << 16 },
		{ O_HEADS, "--kv-heads", 1, 1 << 16 },
		{ O_DIM, "--head-dim", 1, 1 << 16 },
		{ O_CHUNK, "--chunk-tokens", 1, 1 << 20 },
		{ O_SEED, "--seed", 0, KVA_INT_LIMIT },
	};
	const struct option *opts;
	const char *tpath = NULL, *db = NULL, *out = NULL, *errstr;
	kva_pool_conf pc;
	kva_pcache_layout l;
	int64_t max = -1, v;
	size_t max_record = KVA_MAX_RECORD_DEFAULT;
	int c;

	if (!strcmp(sub, "store"))
		opts = store_opts;
	else if (!strcmp(sub, "load"))
		opts = load_opts;
	else if (!strcmp(sub, "gc"))
		opts = gc_opts;
	else
		kva_die(KVA_EXIT_TROUBLE, "unknown subcommand \"%s\"", sub);

	/* kv-prefill's defaults: 1 layer, 1 head, D 64, f32, C 64, seed 0 */
	kva_pool_conf_default(&pc);
	l.layers = pc.layers;
	l.kv_heads = pc.kv_heads;
	l.head_dim = pc.head_dim;
	l.chunk_tokens = pc.chunk_tokens;
	l.dtype_k = l.dtype_v = pc.dtype;
	l.seed = pc.seed;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		size_t i;

		for (i = 0; i < sizeof nums / sizeof nums[0]; i++)
			if (nums[i].opt == c)
				break;
		if (i < sizeof nums / sizeof nums[0]) {
			if (kva_parse_i64(optarg, nums[i].min, nums[i].max, &v,
					  &errstr))
				kva_die(KVA_EXIT_TROUBLE, "%s: value is %s: %s",
					nums[i].name, errstr, optarg);
			switch (c) {
			case O_LAYERS: l.layers = v; break;
			case O_HEADS: l.kv_heads = v; break;
			case O_DIM: l.head_dim = v; break;
			case O_CHUNK: l.chunk_tokens = v; break;
			case O_SEED: l.seed = (uint64_t)v; break;
			}
			continue;
		}
		switch (c) {
		case 'h':
			usage(sub, stdout);
			/* stdio's buffer, before finish closes fd 1 */
			if (fflush(stdout)) {
				kva_warnx("write error: %s", strerror(errno));
				return KVA_EXIT_TROUBLE;
			}
			return finish(KVA_EXIT_OK);
		case O_TOKENS: tpath = optarg; break;
		case O_DB: db = optarg; break;
		case O_OUT: out = optarg; break;
		case O_DTYPE:
			if (!(l.dtype_k = l.dtype_v = kva_dtype_parse(optarg)))
				kva_die(KVA_EXIT_TROUBLE, "--dtype: want f16 or "
					"f32, not %s", optarg);
			break;
		case O_MAXREC:
			if (kva_parse_size(optarg, &max_record, &errstr))
				kva_die(KVA_EXIT_TROUBLE, "--max-record: value "
					"is %s: %s", errstr, optarg);
			break;
		case O_MAXBYTES:
			if (parse_bytes(optarg, &max, &errstr))
				kva_die(KVA_EXIT_TROUBLE, "--max-bytes: value "
					"is %s: %s", errstr, optarg);
			break;
		case ':':
			kva_warnx("%s: option %s needs a value", sub,
				  argv[optind - 1]);
			usage(sub, stderr);
			return KVA_EXIT_TROUBLE;
		default:
			kva_warnx("%s: unknown option %s", sub,
				  argv[optind - 1]);
			usage(sub, stderr);
			return KVA_EXIT_TROUBLE;
		}
	}
	argc -= optind;
	argv += optind;

	if (!db) {
		kva_warnx("%s: --db is required", sub);
		usage(sub, stderr);
		return KVA_EXIT_TROUBLE;
	}
	if (!strcmp(sub, "store")) {
		if (!tpath || argc != 1) {
			kva_warnx("store: %s", !tpath ? "--tokens is required" :
				  "want exactly one snapshot FILE");
			usage(sub, stderr);
			return KVA_EXIT_TROUBLE;
		}
		return cmd_store(argv[0], tpath, max_record, db);
	}
	if (argc) {
		kva_warnx("%s: unexpected operand %s", sub, argv[0]);
		usage(sub, stderr);
		return KVA_EXIT_TROUBLE;
	}
	if (!strcmp(sub, "load")) {
		if (!tpath || !out) {
			kva_warnx("load: %s is required", !tpath ? "--tokens" :
				  "--out");
			usage(sub, stderr);
			return KVA_EXIT_TROUBLE;
		}
		return cmd_load(tpath, max_record, db, out, &l);
	}
	if (max < 0) {
		kva_warnx("gc: --max-bytes is required");
		usage(sub, stderr);
		return KVA_EXIT_TROUBLE;
	}
	return cmd_gc(db, max);
}
