/*
 * test_bench.c - the reader's options bench-rederive needs (NaN as an
 * option, optional "type", documents, line and column of an error),
 * configurations (canonical values, flatten, digest, diff), each format
 * adapter on a small input, and a claim check.
 */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"
#include "bench.h"

/* Write text to a fresh temporary file; its name into path[32]. */
static void tmpfile_with(char path[32], const char *text)
{
	int fd;

	snprintf(path, 32, "/tmp/kva-unit-XXXXXX");
	fd = mkstemp(path);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			path[0] = '\0';
		close(fd);
	}
}

/* Run fn with fd 1 going to a temporary file; its text into out. */
static void capture(void (*fn)(void *), void *arg, kva_buf *out)
{
	char path[32], chunk[4096];
	int saved = dup(1), fd;
	ssize_t n;

	tmpfile_with(path, "");
	fd = open(path, O_RDWR);
	kva_out_flush();
	dup2(fd, 1);
	fn(arg);
	kva_out_flush();
	dup2(saved, 1);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		kva_buf_put(out, chunk, (size_t)n);
	close(fd);
	unlink(path);
}

/* ---- the JSON and JSONL options ------------------------------------------------ */

static void t_json_nonfinite(void)
{
	kva_arena a = { 0 };
	kva_err e;
	const kva_jval *v;
	const char *s = "{\"a\":NaN,\"b\":[Infinity,-Infinity],\"c\":1}";
	double d;
	int64_t i;

	CHECK(!kva_json_parse(&a, s, strlen(s), &e));
	CHECK_STR(e.msg, "malformed JSON at column 6: bad number");
	CHECK(e.line == 1 && e.col == 6);
	CHECK((v = kva_json_parse_opt(&a, s, strlen(s), KVA_JSON_NONFINITE, &e)));
	CHECK(kva_json_nonfinite(kva_json_get(v, "a")));
	CHECK(!kva_json_nonfinite(kva_json_get(v, "c")));
	CHECK(!kva_json_num(kva_json_get(v, "a"), "a", &d, &e) && isnan(d));
	CHECK(!kva_json_num(kva_json_get(v, "b")->child->next, "b", &d, &e) &&
	      isinf(d) && d < 0);
	CHECK(kva_json_int(kva_json_get(v, "a"), "a", &i, &e));
	CHECK_STR(e.msg, "must be an integer, got NaN");
	/* a word is a value, not a prefix of one */
	CHECK(!kva_json_parse_opt(&a, "[NaNx]", 6, KVA_JSON_NONFINITE, &e));
	CHECK(!kva_json_parse_opt(&a, "[nan]", 5, KVA_JSON_NONFINITE, &e));
	kva_arena_free(&a);
}

static void t_json_error_position(void)
{
	kva_arena a = { 0 };
	kva_err e;
	const char *doc = "{\n  \"a\": 1,\n  \"b\": tru\n}";

	CHECK(!kva_json_parse(&a, doc, strlen(doc), &e));
	CHECK_STR(e.msg, "malformed JSON at column 8: unexpected character");
	CHECK(e.line == 3 && e.col == 8);
	CHECK(!kva_json_parse(&a, "{\"a\":1,\"a\":2}", 13, &e));
	CHECK(e.line == 0 && e.col == 0); /* not a syntax error */
	kva_errf(&e, NULL, "x");
	CHECK(e.line == 0);
	kva_arena_free(&a);
}

static void t_reader_options(void)
{
	char path[32];
	kva_reader r;
	kva_rec rec;
	kva_err e;

	tmpfile_with(path, "{\"x\":1}\n\n{\"type\":\"run\",\"v\":NaN}\r\n{\"type\":3}\n");
	CHECK(!kva_reader_open(&r, path, 0));
	CHECK(kva_reader_next(&r, &rec, &e) == -1); /* strict by default */
	CHECK_STR(e.field, "type");
	CHECK(kva_reader_next(&r, &rec, &e) == -1 && rec.line == 3);
	CHECK_STR(e.msg, "malformed JSON at column 19: bad number");
	kva_reader_close(&r);

	CHECK(!kva_reader_open(&r, path, 0));
	r.flags = KVA_READ_UNTYPED | KVA_READ_NONFINITE;
	CHECK(kva_reader_next(&r, &rec, &e) == 1 && !rec.type && !rec.nonfinite);
	CHECK(kva_reader_next(&r, &rec, &e) == 1 && rec.line == 3);
	CHECK_STR(rec.type, "run");
	CHECK(rec.nonfinite && rec.strict.col == 19);
	CHECK(rec.len == strlen("{\"type\":\"run\",\"v\":NaN}")); /* no CR */
	CHECK(kva_reader_next(&r, &rec, &e) == -1);
	CHECK_STR(e.msg, "must be a string");
	CHECK(kva_reader_next(&r, &rec, &e) == 0);
	kva_reader_close(&r);
	unlink(path);
}

static void t_reader_document(void)
{
	char path[32];
	kva_reader r;
	kva_rec rec;
	kva_err e;
	const kva_jval *t;

	tmpfile_with(path, "\n{\n  \"results\": [\n    {\"times\": [1,\n 2]}\n  ]\n}\n");
	CHECK(!kva_reader_open(&r, path, 0));
	r.flags = KVA_READ_UNTYPED | KVA_READ_DOCUMENT;
	CHECK(kva_reader_next(&r, &rec, &e) == 1 && rec.line == 2 && rec.nl);
	t = kva_json_get(kva_json_get(rec.root, "results")->child, "times");
	CHECK(kva_rec_line(&rec, t->child->raw) == 4);
	CHECK(kva_rec_line(&rec, t->child->next->raw) == 5);
	CHECK(kva_rec_line(&rec, rec.root->raw) == 2);
	CHECK(kva_reader_next(&r, &rec, &e) == 0);
	kva_reader_close(&r);
	unlink(path);

	tmpfile_with(path, "{\n  \"a\": 1,\n  \"b\": [1,\n    2,, 3]\n}\n");
	CHECK(!kva_reader_open(&r, path, 0));
	r.flags = KVA_READ_DOCUMENT;
	CHECK(kva_reader_next(&r, &rec, &e) == -1);
	CHECK(rec.line == 4 && e.line == 4 && e.col == 7);
	CHECK_STR(e.msg, "malformed JSON at column 7: bad number");
	CHECK(kva_reader_next(&r, &rec, &e) == 0);
	kva_reader_close(&r);
	unlink(path);
}

/* ---- configurations ------------------------------------------------------------- */

/* Flatten JSON text s (under prefix) into c, sealed. */
static void cfg_of(kva_cfg *c, const char *prefix, const char *s)
{
	kva_arena a = { 0 };
	kva_err e;
	kva_buf path = { 0 };
	const kva_jval *v = kva_json_parse_opt(&a, s, strlen(s), KVA_JSON_NONFINITE, &e);

	kva_buf_puts(&path, prefix);
	if (v)
		kva_cfg_flatten(c, &path, v, NULL);
	kva_cfg_seal(c);
	kva_buf_free(&path);
	kva_arena_free(&a);
}

static void diff_line(void *arg, const char *key, const char *a, const char *b)
{
	kva_buf_printf(arg, "%s:%s:%s;", key, a ? a : "-", b ? b : "-");
}

static void t_cfg(void)
{
	kva_cfg a = { 0 }, b = { 0 }, c = { 0 };
	kva_buf d = { 0 };

	cfg_of(&a, "", "{\"tp\":2,\"m\":{\"y\":1.0,\"x\":\"\\u0041\"},\"version\":\"1\","
	       "\"o\":{\"z\":[1,2.50],\"w\":{}},\"n\":NaN,\"s\":{\"pid\":7,\"k\":null}}");
	cfg_of(&b, "", "{\"s\":{\"k\":null,\"pid\":8},\"n\":NaN,\"o\":{\"w\":{},\"z\":[1e0,2.5]},"
	       "\"m\":{\"x\":\"A\",\"y\":1},\"tp\":2,\"version\":\"2\"}");
	CHECK(a.n == 7); /* version and s.pid are runtime keys */
	CHECK_STR(a.e[0].key, "m.x");
	CHECK_STR(a.e[0].val, "\"A\"");
	CHECK_STR(kva_cfg_find(&a, "m.y")->val, "1");
	CHECK_STR(kva_cfg_find(&a, "o.z")->val, "[1,2.5]");
	CHECK_STR(kva_cfg_find(&a, "o.w")->val, "{}");
	CHECK_STR(kva_cfg_find(&a, "n")->val, "\"NaN\"");
	CHECK(!kva_cfg_find(&a, "version") && !kva_cfg_find(&a, "s.pid"));
	CHECK_STR(a.digest, b.digest); /* order and spelling do not matter */
	kva_cfg_diff(&a, &b, diff_line, &d);
	CHECK(d.len == 0);
	cfg_of(&c, "server_info", "{\"tp\":4,\"ep\":1}");
	CHECK_STR(c.e[0].key, "server_info.ep");
	kva_cfg_free(&b);
	cfg_of(&b, "", "{\"tp\":4,\"m\":{\"x\":\"A\",\"y\":1},\"extra\":true}");
	kva_cfg_diff(&a, &b, diff_line, &d);
	CHECK_STR(d.p, "extra:-:true;n:\"NaN\":-;o.w:{}:-;o.z:[1,2.5]:-;s.k:null:-;tp:2:4;");
	kva_cfg_free(&a);
	kva_cfg_free(&b);
	kva_cfg_free(&c);
	kva_buf_free(&d);
}

/* ---- adapters ------------------------------------------------------------------- */

/* Feed every record of text (as file name) to b: the number of bad
 * records; the last error into e. */
static int feed(kva_bench *b, const char *text, const char *leg, kva_err *e)
{
	char path[32];
	kva_reader r;
	kva_rec rec;
	kva_bench_unit u = { 0 };
	int st, bad = 0;

	tmpfile_with(path, text);
	if (kva_reader_open(&r, path, 0))
		return -1;
	r.flags = KVA_READ_UNTYPED | KVA_READ_NONFINITE | KVA_READ_DOCUMENT;
	u.src = kva_bench_src(b, "in");
	u.leg_name = leg;
	u.rec = &rec;
	while ((st = kva_reader_next(&r, &rec, e)) != 0)
		if (st != 1 || kva_bench_record(b, &u, e))
			bad++;
	kva_reader_close(&r);
	unlink(path);
	return bad;
}

static void t_bfmt_serving(void)
{
	kva_bench b;
	kva_err e;
	const kva_bench_leg *l;

	kva_bench_init(&b);
	b.op.text = 1;
	CHECK(feed(&b, "{\"output_throughput\":100,\"completed\":4,\"num_prompts\":4,"
		   "\"duration\":2,\"total_output_tokens\":200,\"median_ttft_ms\":NaN,"
		   "\"server_info\":{\"tp\":1}}\n"
		   "{\"output_throughput\":90,\"completed\":3,\"num_prompts\":4,"
		   "\"duration\":2,\"median_ttft_ms\":12,\"server_info\":{\"tp\":2}}\n",
		   "base", &e) == 0);
	CHECK((l = kva_bench_find_leg(&b, "base")) && l->n == 2);
	CHECK(l->fmt == &kva_bfmt_sglang);
	CHECK(l->reps[0].v == 100 && !l->reps[0].why && l->reps[1].line == 2);
	CHECK_STR(l->reps[1].why, "completed 3 of 4 requests");
	CHECK(l->failed == 1 && l->nttft == 1 && l->ttft[0] == 12);
	CHECK(l->emb_checked == 1 && l->emb_mismatched == 0); /* 200 / 2 */
	CHECK(l->nvaries == 1);
	CHECK_STR(l->varies[0], "server_info.tp");
	CHECK_STR(b.metric, "output_throughput");
	/* vLLM by its members; a leg of two formats is refused */
	CHECK(feed(&b, "{\"output_throughput\":1,\"model_id\":\"m\"}\n", "base", &e) == 1);
	CHECK_STR(e.msg, "leg \"base\" mixes sglang and vllm rows");
	CHECK(feed(&b, "{\"leg\":\"a\",\"value\":1}\n", NULL, &e) == 1);
	CHECK_STR(e.msg, "missing, and the record is not SGLang, vLLM, hyperfine, "
		  "Google Benchmark, pytest-benchmark or criterion output");
	kva_bench_free(&b);
}

static void t_bfmt_hyperfine(void)
{
	kva_bench b;
	kva_err e;
	const kva_bench_leg *l;

	kva_bench_init(&b);
	CHECK(feed(&b, "{\n  \"results\": [\n    {\"command\": \"./a\",\n"
		   "     \"times\": [0.5,\n       0.25],\n     \"exit_codes\": [0, 2],\n"
		   "     \"mean\": 0.375, \"min\": 0.31}\n  ]\n}\n", NULL, &e) == 0);
	CHECK((l = kva_bench_find_leg(&b, "./a")) && l->n == 2);
	CHECK(l->fmt == &kva_bfmt_hyperfine);
	CHECK(l->reps[0].line == 4 && l->reps[1].line == 5);
	CHECK(!l->reps[0].why);
	CHECK_STR(l->reps[1].why, "exit code 2");
	CHECK(l->emb_checked == 2 && l->emb_mismatched == 1); /* min is 0.25, not 0.31 */
	CHECK(b.checks.len > 0 && b.mismatch);
	kva_bench_free(&b);

	kva_bench_init(&b);
	CHECK(feed(&b, "{\n \"results\": [{\"command\": \"x\",\n  \"times\": [1, NaN]}]\n}\n",
		   NULL, &e) == 1);
	CHECK_STR(e.field, "results[0].times[1]");
	CHECK_STR(e.msg, "must be a finite number, got NaN");
	CHECK(b.nlegs == 0); /* a bad document adds nothing */
	kva_bench_free(&b);
}

static void t_bfmt_run(void)
{
	kva_bench b;
	kva_err e;
	const kva_bench_leg *l;

	kva_bench_init(&b);
	b.op.text = 1;
	CHECK(feed(&b, "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"time\",\"value\":2}\n"
		   "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"time\",\"value\":3,\"exit_code\":1}\n"
		   "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"ttft_ms\",\"value\":9}\n"
		   "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"time\",\"value\":NaN}\n"
		   "{\"type\":\"note\",\"x\":NaN}\n", NULL, &e) == 2);
	CHECK_STR(e.msg, "malformed JSON at column 20: bad number");
	CHECK((l = kva_bench_find_leg(&b, "a")) && l->n == 2 && l->fmt == &kva_bfmt_run);
	CHECK_STR(l->reps[1].why, "exit code 1");
	CHECK(l->nttft == 1 && l->ttft[0] == 9 && b.dir == -1);
	kva_bench_free(&b);
}

static void t_bfmt_gbench(void)
{
	kva_bench b;
	kva_err e;
	const kva_bench_leg *l;

	kva_bench_init(&b);
	CHECK(feed(&b, "{\n\"context\": {\"num_cpus\": 2}, \"benchmarks\": [\n"
		   "{\"run_name\": \"BM\", \"run_type\": \"iteration\", \"real_time\": 2,"
		   " \"time_unit\": \"ns\"},\n"
		   "{\"run_name\": \"BM\", \"run_type\": \"iteration\", \"real_time\": 4,"
		   " \"time_unit\": \"ns\", \"error_occurred\": true, \"error_message\": \"e\"},\n"
		   "{\"run_name\": \"BM\", \"run_type\": \"iteration\", \"real_time\": 6,"
		   " \"time_unit\": \"ns\"},\n"
		   "{\"run_name\": \"BM\", \"run_type\": \"aggregate\", \"aggregate_name\":"
		   " \"mean\", \"real_time\": 4, \"time_unit\": \"ns\"},\n"
		   "{\"run_name\": \"BM\", \"run_type\": \"aggregate\", \"aggregate_name\":"
		   " \"median\", \"real_time\": 4, \"time_unit\": \"ns\"}]}\n", NULL, &e) == 0);
	CHECK((l = kva_bench_find_leg(&b, "BM")) && l->n == 3 && l->fmt == &kva_bfmt_gbench);
	CHECK(l->reps[0].line == 3 && l->reps[2].line == 5);
	CHECK_STR(l->reps[1].why, "e");
	/* the errored rep is left out: mean and median (of two: the mean) 4 */
	CHECK(l->emb_checked == 2 && l->emb_mismatched == 0);
	CHECK(!strcmp(b.unit, "ns") && b.dir == -1);
	kva_bench_free(&b);
}

static void t_bfmt_pytest(void)
{
	kva_bench b;
	kva_err e;
	const kva_bench_leg *l;

	kva_bench_init(&b);
	CHECK(feed(&b, "{\n\"machine_info\": {}, \"benchmarks\": [{\"fullname\": \"t::a\",\n"
		   " \"stats\": {\"data\": [1, 3], \"mean\": 2, \"min\": 1, \"max\": 4}}]}\n",
		   NULL, &e) == 0);
	CHECK((l = kva_bench_find_leg(&b, "t::a")) && l->n == 2 && l->fmt == &kva_bfmt_pytest);
	CHECK(l->emb_checked == 3 && l->emb_mismatched == 1); /* max is 3 */
	kva_bench_free(&b);

	kva_bench_init(&b);
	CHECK(feed(&b, "{\n\"machine_info\": {}, \"benchmarks\": [{\"fullname\": \"t::a\",\n"
		   " \"stats\": {\"mean\": 2}}]}\n", NULL, &e) == 1);
	CHECK_STR(e.field, "benchmarks[0].stats.data");
	CHECK(b.nlegs == 0);
	kva_bench_free(&b);
}

static void t_bfmt_criterion(void)
{
	kva_bench b;
	kva_err e;
	const kva_bench_leg *l;

	kva_bench_init(&b);
	CHECK(feed(&b, "{\"sampling_mode\":\"Linear\",\"iters\":[2,4],\"times\":[10,24]}\n",
		   "s", &e) == 0);
	CHECK((l = kva_bench_find_leg(&b, "s")) && l->n == 2 && l->fmt == &kva_bfmt_criterion);
	CHECK(l->reps[0].v == 5 && l->reps[1].v == 6 && b.dir == -1);
	CHECK_STR(b.metric, "iter_time_ns");
	kva_bench_free(&b);

	kva_bench_init(&b);
	CHECK(feed(&b, "{\"sampling_mode\":\"Linear\",\"iters\":[2,0],\"times\":[10,24]}\n",
		   NULL, &e) == 1);
	CHECK_STR(e.field, "iters[1]");
	CHECK(feed(&b, "{\"mean\":{\"point_estimate\":5}}\n", NULL, &e) == 1);
	CHECK(b.nlegs == 0);
	kva_bench_free(&b);
}

static void t_bench_time(void)
{
	double t;
	kva_bench_leg a = { 0 }, r = { 0 };
	kva_bench_rep ra[2] = { { .okind = KVA_ORDER_SEQ, .order = 0 },
				{ .okind = KVA_ORDER_SEQ, .order = 2 } };
	kva_bench_rep rr[2] = { { .okind = KVA_ORDER_SEQ, .order = 1 },
				{ .okind = KVA_ORDER_SEQ, .order = 3 } };

	CHECK(kva_bench_time("20261120-101500", &t) == 0 && t == 1795169700);
	CHECK(kva_bench_time("2026-11-20T10:15:00Z", &t) == 0 && t == 1795169700);
	CHECK(kva_bench_time("2026-11-20T12:15:00+02:00", &t) == 0 && t == 1795169700);
	CHECK(kva_bench_time("2026-11-20T05:15:00-0500", &t) == 0 && t == 1795169700);
	CHECK(kva_bench_time("2026-11-20T10:15:00.25", &t) == 0 && t == 1795169700.25);
	CHECK(kva_bench_time("2026-11-20 10:15:00", &t) == 0 && t == 1795169700);
	CHECK(kva_bench_time("2026-13-20T10:15:00", &t) == -1);
	CHECK(kva_bench_time("2026-11-20T10:15:00+2", &t) == -1);
	CHECK(kva_bench_time("20261120-1015", &t) == -1);
	CHECK(kva_bench_time("yesterday", &t) == -1);

	a.reps = ra, a.n = 2;
	r.reps = rr, r.n = 2;
	CHECK_STR(kva_bench_run_order(&a, &r), "interleaved");
	ra[0].order = 4, ra[1].order = 5;
	CHECK_STR(kva_bench_run_order(&a, &r), "ref_first");
	CHECK_STR(kva_bench_run_order(&r, &a), "ref_last");
	ra[0].order = ra[1].order = rr[0].order = rr[1].order = 7;
	CHECK_STR(kva_bench_run_order(&a, &r), "tied");
	rr[1].okind = KVA_ORDER_CLOCK;
	CHECK(kva_bench_run_order(&a, &r) == NULL);
}

/* ---- a claim -------------------------------------------------------------------- */

static void finish(void *arg)
{
	kva_bench *b = arg;

	b->op.text = 0;
	kva_bench_finish(b);
}

static void t_bench_claim(void)
{
	kva_bench b;
	kva_err e;
	kva_buf out = { 0 };

	kva_bench_init(&b);
	b.op.text = 1; /* no pass-through while reading */
	CHECK(feed(&b, "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"time\",\"value\":2}\n"
		   "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"time\",\"value\":4}\n"
		   "{\"type\":\"claim\",\"leg\":\"a\",\"median\":3.0,\"max\":5}\n",
		   NULL, &e) == 0);
	CHECK(b.nclaims == 1);
	capture(finish, &b, &out);
	CHECK(strstr(out.p, "\"stat\":\"median\",\"reported\":3.0,\"derived\":3,"));
	CHECK(strstr(out.p, "\"allowed\":0.05,\"status\":\"agree\"")); /* rounding */
	CHECK(strstr(out.p, "\"stat\":\"max\",\"reported\":5,\"derived\":4,"));
	CHECK(strstr(out.p, "\"status\":\"mismatch\""));
	CHECK(b.mismatch);
	kva_buf_free(&out);
	kva_bench_free(&b);
}

const unit_test suite_bench[] = {
	{ "json_nonfinite", t_json_nonfinite },
	{ "json_error_position", t_json_error_position },
	{ "reader_options", t_reader_options },
	{ "reader_document", t_reader_document },
	{ "bench_cfg", t_cfg },
	{ "bfmt_serving", t_bfmt_serving },
	{ "bfmt_hyperfine", t_bfmt_hyperfine },
	{ "bfmt_run", t_bfmt_run },
	{ "bfmt_gbench", t_bfmt_gbench },
	{ "bfmt_pytest", t_bfmt_pytest },
	{ "bfmt_criterion", t_bfmt_criterion },
	{ "bench_time", t_bench_time },
	{ "bench_claim", t_bench_claim },
	{ NULL, NULL }
};
