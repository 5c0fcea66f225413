/*
 * test_audit.c - lib/audit.c's arithmetic and lever table, the verdict's
 * precedence, and audit-verdict's rows in the trace store (schema 3, and
 * 6 for a partial status).
 *
 * The smallest reachable Mann-Whitney p is checked two ways: against the
 * fractions 2 / C(n+m, n) worked out by hand, and against what lib/stats
 * computes for perfectly separated samples (the p bench-rederive would
 * report), so the two cannot drift apart.
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "unit.h"
#include "kvarbiter.h"
#include "audit.h"
#include "db.h"
#include "stats.h"

#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
	if (!(fabs(a_ - b_) <= (tol))) { \
	fprintf(stderr, "%s:%d: %s == %.17g, want %.17g (tol %g)\n", __FILE__, \
		__LINE__, #a, a_, b_, (double)(tol)); unit_failed_checks++; \
	return; } } while (0)

static void t_min_p_by_hand(void)
{
	CHECK_NEAR(kva_audit_min_p(2, 2), 1.0 / 3, 1e-15);   /* 2 / C(4,2) = 2/6 */
	CHECK_NEAR(kva_audit_min_p(3, 3), 0.1, 1e-15);       /* 2 / 20 */
	CHECK_NEAR(kva_audit_min_p(3, 4), 2.0 / 35, 1e-15);  /* just above 0.05 */
	CHECK_NEAR(kva_audit_min_p(3, 5), 2.0 / 56, 1e-15);  /* just below */
	CHECK_NEAR(kva_audit_min_p(4, 4), 2.0 / 70, 1e-15);
	CHECK_NEAR(kva_audit_min_p(5, 5), 2.0 / 252, 1e-15);
	CHECK_NEAR(kva_audit_min_p(1, 1), 1, 0);              /* capped at 1 */
	CHECK_NEAR(kva_audit_min_p(1, 5), 1.0 / 3, 1e-15);   /* 2 / 6 */
	CHECK(isnan(kva_audit_min_p(0, 5)));
	CHECK(isnan(kva_audit_min_p(5, 0)));
	/* so 3 and 3 reps can never be significant at 0.05, 4 and 4 can */
	CHECK(!(kva_audit_min_p(3, 3) < 0.05) && kva_audit_min_p(4, 4) < 0.05);
}

/*
 * Reps for 80% power, by hand: pi (1.959964 + 0.841621)^2 = 24.6563...;
 * sd 2.5, effect 4 over a floor of 1: 24.6563 x 6.25 / 9 = 17.12, so 18.
 */
static void t_power_reps_by_hand(void)
{
	CHECK(kva_audit_power_reps(2.5, 4, 1, 0.05) == 18);
	CHECK(kva_audit_power_reps(3, 10, 1, 0.05) == 4);    /* 2.74 -> 3, but p needs 4 */
	CHECK(kva_audit_power_reps(0, 10, 1, 0.05) == 4);    /* no spread: p's floor */
	CHECK(kva_audit_power_reps(0, 10, 1, 0.01) == 5);    /* 2/252 < 0.01, 2/70 not */
	CHECK(kva_audit_power_reps(5, 2, 1, 0.05) == 617);   /* 616.4 */
	CHECK(kva_audit_power_reps(3, 1, 1, 0.05) == 0);     /* nothing beyond the floor */
	CHECK(kva_audit_power_reps(3, 0.5, 1, 0.05) == 0);
	CHECK(kva_audit_power_reps(NAN, 5, 1, 0.05) == 0);
	CHECK(kva_audit_power_reps(-1, 5, 1, 0.05) == 0);
}

/* The smallest p lib/stats computes: every x above every y. */
static void t_min_p_matches_stats(void)
{
	static const unsigned sizes[][2] = { { 2, 2 }, { 2, 5 }, { 3, 3 },
		{ 4, 7 }, { 9, 9 }, { 25, 25 }, { 26, 25 }, { 40, 60 } };

	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		unsigned n = sizes[k][0], m = sizes[k][1];
		double *x = malloc(n * sizeof *x), *y = malloc(m * sizeof *y);
		kva_mw mw;
		int rc;

		for (unsigned i = 0; i < n; i++)
			x[i] = 1000 + i;
		for (unsigned i = 0; i < m; i++)
			y[i] = i;
		rc = kva_stats_mann_whitney_sorted(x, n, y, m, &mw);
		free(x);
		free(y);
		CHECK(rc == 0);
		CHECK(mw.exact == (n + m <= KVA_STATS_MW_EXACT_MAX));
		CHECK_NEAR(kva_audit_min_p(n, m), mw.p, 1e-12 * mw.p + 1e-300);
	}
}

static void t_classify(void)
{
	static const struct { const char *key, *lever; char cls; } t[] = {
		{ "server_info.speculative_algorithm", "spec-decode", 'B' },
		{ "server_info.speculative_num_draft_tokens", "spec-decode", 'B' },
		{ "server_info.tp_size", "tp-size", 'B' },
		{ "tensor_parallel_size", "tp-size", 'B' },
		{ "server_info.ep_size", "ep-size", 'B' },
		{ "server_info.dp_size", "dp-size", 'B' },
		{ "server_info.mem_fraction_static", "kv-budget", 'B' },
		{ "server_info.max_total_num_tokens", "kv-budget", 'B' },
		{ "gpu_memory_utilization", "kv-budget", 'B' },
		{ "server_info.chunked_prefill_size", "chunked-prefill", 'B' },
		{ "server_info.schedule_policy", "scheduling", 'B' },
		{ "server_info.max_running_requests", "scheduling", 'B' },
		{ "server_info.quantization", "quantization", 'B' },
		{ "server_info.kv_cache_dtype", "quantization", 'B' }, /* not kv-budget */
		{ "server_info.attention_backend", "attention-backend", 'A' },
		{ "server_info.decode_attention_backend", "attention-backend", 'A' },
		{ "VLLM_ATTENTION_BACKEND", "attention-backend", 'A' },
		{ "server_info.moe_runner_backend", "gemm-backend", 'A' },
		{ "server_info.fp8_gemm_backend", "gemm-backend", 'A' },
		{ "parameters.kernel_overlay", "kernel-rebind", 'A' },
	};
	char cls;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK_STR(kva_audit_classify_key(t[i].key, &cls), t[i].lever);
		CHECK(cls == t[i].cls);
	}
	CHECK(kva_audit_classify_key("server_info.model_path", &cls) == NULL && cls == 0);
	CHECK(kva_audit_classify_key("server_info.cuda_graph_max_bs", &cls) == NULL);
}

/* Feed one record (text) to a. */
static int feed(kva_audit *a, const char *text, long line)
{
	kva_arena ar = { 0 };
	kva_err e;
	const kva_jval *v = kva_json_parse(&ar, text, strlen(text), &e);
	int rc = v ? kva_audit_add(a, v, text, strlen(text), "t.jsonl", line, &e) : -1;

	kva_arena_free(&ar);
	return rc;
}

/* With nothing to go on, every rule either finds its evidence absent or
 * does not apply; none holds, and the verdict is FAIL. */
static void t_empty_is_fail(void)
{
	static const int scopes[] = { KVA_SCOPE_PATCH, KVA_SCOPE_BUNDLE,
		KVA_SCOPE_BASELINE, KVA_SCOPE_PROFILE, KVA_SCOPE_HARNESS };

	for (size_t s = 0; s < sizeof scopes / sizeof scopes[0]; s++) {
		kva_audit_opts o;
		kva_audit *a;
		const kva_audit_result *r;
		kva_err e;
		int holds = 0;

		kva_audit_opts_default(&o);
		o.scope = scopes[s];
		a = kva_audit_new(&o);
		r = kva_audit_eval(a, &e);
		if (!r) {
			kva_audit_free(a);
			CHECK(r != NULL);
		}
		for (size_t i = 1; i < r->nfindings; i++) /* 0: evidence-complete */
			holds += !strcmp(r->findings[i].status, "holds");
		CHECK_EQ_I64(r->verdict, KVA_SEV_FAIL);
		CHECK_EQ_I64(kva_audit_exit_status(r->verdict), 1);
		CHECK_EQ_I64(holds, 0);
		kva_audit_free(a);
	}
}

/* The verdict is the worst finding and takes its action by precedence;
 * a FLAG from an interpretive rule cannot lift a FAIL. */
static void t_precedence(void)
{
	kva_audit_opts o;
	kva_audit *a;
	const kva_audit_result *r;
	kva_err e;
	int worst = 0;

	kva_audit_opts_default(&o);
	o.scope = KVA_SCOPE_HARNESS;
	a = kva_audit_new(&o);
	/* self-comparing (FAIL) and no oracle digests (FLAG) */
	CHECK(!feed(a, "{\"type\":\"harness\",\"baseline_backend\":\"x\","
		    "\"candidate_backend\":\"x\",\"rel_err\":0,\"dispatch_path\":"
		    "\"p\",\"served_path\":\"p\",\"shapes\":[1],\"served_shapes\":[1]}", 1));
	r = kva_audit_eval(a, &e);
	CHECK(r != NULL);
	for (size_t i = 0; i < r->nfindings; i++)
		worst = r->findings[i].severity > worst ? r->findings[i].severity : worst;
	CHECK_EQ_I64(r->verdict, worst);
	CHECK_EQ_I64(r->verdict, KVA_SEV_FAIL);
	CHECK_STR(r->action, "redo_harness");
	CHECK_STR(r->findings[5].rule, "harness-oracle");
	CHECK_EQ_I64(r->findings[5].severity, KVA_SEV_FLAG);
	CHECK_STR(r->findings[5].status, "evidence_absent");
	kva_audit_free(a);

	/* the same harness, fair: only the missing digests remain, a FLAG */
	a = kva_audit_new(&o);
	CHECK(!feed(a, "{\"type\":\"harness\",\"baseline_backend\":\"x\","
		    "\"candidate_backend\":\"y\",\"rel_err\":0,\"dispatch_path\":"
		    "\"p\",\"served_path\":\"p\",\"shapes\":[1],\"served_shapes\":[1]}", 1));
	r = kva_audit_eval(a, &e);
	CHECK(r != NULL);
	CHECK_EQ_I64(r->verdict, KVA_SEV_FLAG);
	CHECK_STR(r->action, "flag");
	CHECK_EQ_I64(kva_audit_exit_status(r->verdict), 3);
	kva_audit_free(a);
}

/* Records are checked field by field; a bad one is not kept. */
static void t_schema(void)
{
	static const struct { const char *rec, *field, *msg; } t[] = {
		{ "{\"type\":\"parity\",\"byte_exact\":13,\"total\":12,\"reference_coherent\":true}",
		  "byte_exact", "must be <= total" },
		{ "{\"type\":\"parity\",\"byte_exact\":1.5,\"total\":12,\"reference_coherent\":true}",
		  "byte_exact", NULL },
		{ "{\"type\":\"engagement\",\"leg\":\"c\",\"count\":-1}", "count",
		  "must be >= 0, got -1" },
		{ "{\"type\":\"lever\",\"name\":\"x\",\"class\":\"C\"}", "class",
		  "must be A or B, got \"C\"" },
		{ "{\"type\":\"lever\",\"name\":\"x\",\"keys\":[\"a\",3]}", "keys[1]",
		  "must be a string" },
		{ "{\"type\":\"parity\",\"byte_exact\":1,\"total\":2,\"reference_coherent\":true,"
		  "\"accuracy\":{\"ref\":1,\"cand\":1}}", "accuracy.max_drop", "missing" },
		{ "{\"type\":\"comparison\",\"leg\":\"a\",\"ref\":\"b\",\"n\":1,\"n_ref\":1,"
		  "\"ci_low_pct\":null,\"mw_p\":null,\"non_overlap\":true,\"config_diff\":[]}",
		  "delta_pct", "missing" },
		{ "{\"type\":\"profile\",\"kernel\":\"k\",\"op\":\"g\",\"shape\":1,\"gpu_time_us\":1}",
		  "shape", "must be a string or an array" },
	};
	kva_audit_opts o;

	kva_audit_opts_default(&o);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		kva_audit *a = kva_audit_new(&o);
		kva_arena ar = { 0 };
		kva_err e = { 0 };
		const kva_jval *v = kva_json_parse(&ar, t[i].rec, strlen(t[i].rec), &e);
		int rc = kva_audit_add(a, v, t[i].rec, strlen(t[i].rec), "t", 1, &e);

		kva_arena_free(&ar);
		kva_audit_free(a);
		CHECK(rc == -1);
		CHECK_STR(e.field, t[i].field);
		if (t[i].msg)
			CHECK_STR(e.msg, t[i].msg);
	}
}

/* ---- the trace store ------------------------------------------------------ */

static int64_t q_int(const char *path, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_open(path, &h) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return v;
}

static int q_exec(const char *path, const char *sql)
{
	sqlite3 *h;
	int rc = sqlite3_open(path, &h);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

static void t_db_verdict(void)
{
	char dir[] = "/tmp/kva-audit-XXXXXX", path[64];
	kva_finding_row f[2] = {
		{ "real-delta", "PASS", "holds", "pass", "delta > 0.5", "{\"type\":\"finding\"}" },
		{ "engagement", "FAIL", "evidence_absent", "eject", "count > 0", "{\"type\":\"finding\"}" },
	};
	kva_verdict_row v = { "patch", "cand", "ref", "output_throughput", "FAIL",
		"eject", "A", NULL, "byte_parity_pass", 0, 7.7, NAN,
		"{\"type\":\"verdict\"}", f, 2 };
	kva_db *db = NULL;
	kva_err e;
	int64_t id = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/t.db", dir);
	CHECK(!kva_db_open(path, &db, &e));
	CHECK_EQ_I64(kva_db_version(db), KVA_DB_SCHEMA_VERSION);
	CHECK(!kva_db_add_verdict(db, &v, &id, &e));
	CHECK_EQ_I64(id, 1);
	/* a severity outside the set: refused, and nothing of it written */
	f[1].severity = "MAYBE";
	CHECK(kva_db_add_verdict(db, &v, &id, &e) == -1);
	CHECK(strstr(e.msg, "CHECK constraint failed") != NULL);
	/* a record that is not an object: refused before SQL */
	f[1].severity = "FAIL";
	v.record_json = "[1]";
	CHECK(kva_db_add_verdict(db, &v, &id, &e) == -1);
	kva_db_close(db);
	CHECK_EQ_I64(q_int(path, "SELECT count(*) FROM audit_verdicts"), 1);
	CHECK_EQ_I64(q_int(path, "SELECT count(*) FROM audit_findings WHERE verdict_id = 1"), 2);
	CHECK_EQ_I64(q_int(path, "SELECT baseline_drift_pct IS NULL AND"
			   " counts_as_kernel_win = 0 FROM audit_verdicts"), 1);

	/* a version 5 store (no 'partial' status, no mutation tables) is
	 * migrated with its rows */
	CHECK(q_exec(path, "DROP TABLE mutants; DROP TABLE mutation_runs;"
		     "DROP TABLE audit_findings;"
		     "CREATE TABLE audit_findings (id INTEGER PRIMARY KEY,"
		     " verdict_id INTEGER NOT NULL REFERENCES audit_verdicts(id),"
		     " rule TEXT NOT NULL, severity TEXT NOT NULL CHECK (severity IN"
		     " ('PASS','FLAG','FAIL')), status TEXT NOT NULL CHECK (status IN"
		     " ('holds','violated','evidence_absent','n/a')),"
		     " action TEXT NOT NULL, threshold TEXT NOT NULL,"
		     " record TEXT NOT NULL, UNIQUE (verdict_id, rule));"
		     "INSERT INTO audit_findings VALUES (7, 1, 'min-reps', 'FLAG',"
		     " 'violated', 'remeasure', 't', '{}');"
		     "UPDATE schema_version SET version = 5") == SQLITE_OK);
	CHECK(q_exec(path, "INSERT INTO audit_findings VALUES (8, 1, 'crash',"
		     " 'FLAG', 'partial', 'remeasure', 't', '{}')") != SQLITE_OK);
	CHECK(!kva_db_open(path, &db, &e));
	CHECK_EQ_I64(kva_db_version(db), KVA_DB_SCHEMA_VERSION);
	f[1].status = "partial";
	v.record_json = "{\"type\":\"verdict\"}";
	CHECK(!kva_db_add_verdict(db, &v, &id, &e));
	kva_db_close(db);
	f[1].status = "evidence_absent";
	CHECK_EQ_I64(q_int(path, "SELECT count(*) FROM audit_findings WHERE id = 7"
			   " AND rule = 'min-reps' AND status = 'violated'"), 1);
	CHECK_EQ_I64(q_int(path, "SELECT count(*) FROM audit_findings"
			   " WHERE status = 'partial' AND verdict_id = 2"), 1);
	CHECK_EQ_I64(q_int(path, "SELECT count(*) FROM audit_findings"), 3);

	/* a version 2 store (no audit tables) is migrated in place */
	CHECK(q_exec(path, "DROP VIEW sweep_summary; DROP TABLE sweep_shards;"
		     "DROP TABLE sweep_runs;"
		     "DROP TABLE mutants; DROP TABLE mutation_runs;"
		     "ALTER TABLE trap_runs DROP COLUMN not_run;"
		     "ALTER TABLE trap_runs DROP COLUMN confinement;"
		     "DROP TABLE audit_findings; DROP TABLE audit_verdicts;"
		     "UPDATE schema_version SET version = 2") == SQLITE_OK);
	CHECK(!kva_db_open(path, &db, &e));
	CHECK_EQ_I64(kva_db_version(db), KVA_DB_SCHEMA_VERSION);
	v.record_json = "{\"type\":\"verdict\"}";
	CHECK(!kva_db_add_verdict(db, &v, &id, &e));
	kva_db_close(db);
	CHECK_EQ_I64(q_int(path, "SELECT count(*) FROM audit_verdicts"), 1);
	CHECK_EQ_I64(q_int(path, "SELECT version FROM schema_version"),
		     KVA_DB_SCHEMA_VERSION);
	unlink(path);
	snprintf(path, sizeof path, "%s/t.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/t.db-shm", dir);
	unlink(path);
	rmdir(dir);
}

UNIT_SUITE(suite_audit) = {
	{ "audit_min_p_by_hand", t_min_p_by_hand },
	{ "audit_power_reps_by_hand", t_power_reps_by_hand },
	{ "audit_min_p_matches_stats", t_min_p_matches_stats },
	{ "audit_classify", t_classify },
	{ "audit_empty_is_fail", t_empty_is_fail },
	{ "audit_precedence", t_precedence },
	{ "audit_schema", t_schema },
	{ "audit_db_verdict", t_db_verdict },
	{ NULL, NULL }
};
