/*
 * kv-prefill - a bounded paged KV pool with chunked prefill, eviction and
 * pinning (SPEC section 7; the pool itself is lib/pool.c).
 *
 * Reads operation records (prefill, append, pin, unpin_all, scores,
 * reselect, probe, state) and writes what the pool did (alloc, evict,
 * page_in, pin, refused, probe, state, and with --routes and --verify the
 * block table and the byte check).  Other records pass through.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvarbiter.h"
#include "pool.h"
#include "snap.h"

static void usage(FILE *fp)
{
	fputs("usage: kv-prefill [--pool-tokens N] [--chunk-tokens N] [--layers N]\n"
	      "                  [--kv-heads N] [--head-dim N] [--dtype f16|f32]\n"
	      "                  [--sink-chunks N] [--tail-chunks N]\n"
	      "                  [--policy lru|score] [--seed S] [--no-data]\n"
	      "                  [--no-events] [--routes] [--verify]\n"
	      "                  [--device cpu|cuda] [--host-budget SIZE]\n"
	      "                  [--keep-going] [--max-record SIZE]\n"
	      "                  [--unbuffered] [--progress | --quiet] [FILE ...]\n"
	      "       kv-prefill -h | --help | --version\n", fp);
}

typedef struct run {
	kva_pool *p;
	kva_buf b;
	int events, routes, verify, keep_going;
	size_t max_record;
	int64_t host_budget;  /* bytes the host store may need */
	kva_progress prog;
	uint64_t done;
} run;

static void on_event(void *ctx, const kva_pool_ev *ev)
{
	run *r = ctx;
	static const char *const kind[] = { "alloc", "evict", "page_in" };

	if (!r->events)
		return;
	kva_buf_printf(&r->b, "{\"type\":\"%s\",\"chunk\":%lld,\"block\":%lld",
		       kind[ev->kind], (long long)ev->chunk, (long long)ev->block);
	if (ev->kind == KVA_EV_ALLOC)
		kva_buf_printf(&r->b, ",\"pos\":%lld",
			       (long long)(ev->chunk * r->p->c.chunk_tokens));
	if (ev->why)
		kva_buf_printf(&r->b, ",\"why\":\"%s\"", ev->why);
	kva_buf_puts(&r->b, "}");
	kva_out_record(&r->b);
}

/* "tokens": a count, or an array whose length is the count. */
static int get_tokens(const kva_jval *rec, int64_t *n, kva_err *e)
{
	const kva_jval *t = kva_json_get(rec, "tokens");

	if (t && t->t == KVA_JARR) {
		for (const kva_jval *x = t->child; x; x = x->next) {
			int64_t id;

			if (kva_json_int(x, "tokens", &id, e))
				return -1;
		}
		*n = (int64_t)t->n;
		return 0;
	}
	if (kva_json_int(t, "tokens", n, e))
		return -1;
	if (*n < 0)
		return kva_errf(e, "tokens", "must be >= 0");
	return 0;
}

/* An optional integer member, else def. */
static int opt_int(const kva_jval *rec, const char *f, int64_t def,
		   int64_t *out, kva_err *e)
{
	const kva_jval *v = kva_json_get(rec, f);

	if (!v) {
		*out = def;
		return 0;
	}
	return kva_json_int(v, f, out, e);
}

/*
 * What the host store needs for a sequence of n chunks: every chunk beyond
 * the pool's blocks paged out whole (none without data), and each chunk's
 * bookkeeping (its kva_chunk, and with data its host pointer).  Saturates
 * at INT64_MAX.
 */
static int64_t host_need(const kva_pool *p, int64_t n)
{
	int64_t per = (int64_t)sizeof(kva_chunk) +
		      (p->data ? (int64_t)sizeof(float *) : 0), a, b;
	int64_t out = n > p->nb && p->data ? n - p->nb : 0;

	if (__builtin_mul_overflow(out, (int64_t)kva_pool_chunk_bytes(p), &a) ||
	    __builtin_mul_overflow(n, per, &b) ||
	    __builtin_add_overflow(a, b, &a))
		return INT64_MAX;
	return a;
}

/* Refuse a sequence of tokens the host store could not hold; field f. */
static int host_check(const run *r, int64_t tokens, const char *f,
		      kva_err *e)
{
	int64_t C = r->p->c.chunk_tokens, n = tokens / C + (tokens % C != 0);
	int64_t need = host_need(r->p, n);

	if (need <= r->host_budget)
		return 0;
	return kva_errf(e, f, "a sequence of %lld tokens is %lld chunks: the "
			"host store would need %lld bytes%s, over --host-budget "
			"(%lld bytes)", (long long)tokens, (long long)n,
			(long long)need, need == INT64_MAX ? " or more" : "",
			(long long)r->host_budget);
}

/*
 * The default --host-budget: half of MemAvailable (/proc/meminfo), else
 * half of the available physical pages, else no limit.
 */
static int64_t default_host_budget(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long long kb = -1;
	long pages, psz;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	if (kb >= 0 && kb < INT64_MAX / 1024)
		return kb * 1024 / 2;
	pages = sysconf(_SC_AVPHYS_PAGES);
	psz = sysconf(_SC_PAGESIZE);
	if (pages > 0 && psz > 0 && pages < INT64_MAX / psz)
		return (int64_t)pages * psz / 2;
	return INT64_MAX;
}

static void emit_state(run *r)
{
	kva_pool_write_state(r->p, &r->b);
}

static void emit_refused(run *r, const kva_pool_refusal *f, int64_t a,
			 int64_t b)
{
	kva_buf_printf(&r->b, "{\"type\":\"refused\",\"op\":\"append\","
		       "\"pos\":%lld,\"tokens\":%lld", (long long)a, (long long)b);
	kva_buf_printf(&r->b, ",\"protected_chunks\":%lld,\"limit\":%lld,"
		       "\"reason\":", (long long)f->protected_chunks,
		       (long long)f->limit);
	kva_buf_jstr(&r->b, f->why, strlen(f->why));
	kva_buf_puts(&r->b, "}");
	kva_out_record(&r->b);
}

static void emit_routes(run *r)
{
	kva_pool_write_routes(r->p, &r->b);
}

/* One range [lo, hi) from an object, or from a [lo, hi] pair. */
static int get_range(const kva_jval *v, int64_t out[2], kva_err *e)
{
	if (v->t == KVA_JARR) {
		if (v->n != 2)
			return kva_errf(e, "ranges", "each range is [lo, hi]");
		if (kva_json_int(v->child, "lo", &out[0], e) ||
		    kva_json_int(v->child->next, "hi", &out[1], e))
			return -1;
	} else if (kva_json_int(kva_json_get(v, "lo"), "lo", &out[0], e) ||
		   kva_json_int(kva_json_get(v, "hi"), "hi", &out[1], e)) {
		return -1;
	}
	if (out[0] < 0)
		return kva_errf(e, "lo", "must be >= 0");
	if (out[1] <= out[0])
		return kva_errf(e, "hi", "must be > lo: the range is half-open "
				"[lo, hi)");
	return 0;
}

/* pin: {"lo","hi"} or {"ranges":[[lo,hi],...]}, accepted or refused whole. */
static int pin(run *r, const kva_jval *o, kva_err *e)
{
	const kva_jval *rs = kva_json_get(o, "ranges");
	int64_t (*rg)[2], n = 0;
	kva_pool_refusal f;
	int rc;

	if (rs && rs->t != KVA_JARR)
		return kva_errf(e, "ranges", "must be an array of [lo, hi] pairs");
	rg = calloc(rs && rs->n ? rs->n : 1, sizeof *rg);
	if (!rg)
		kva_die(2, "out of memory");
	if (rs) {
		for (const kva_jval *x = rs->child; x; x = x->next)
			if (get_range(x, rg[n++], e))
				return free(rg), -1;
	} else if (get_range(o, rg[n++], e)) {
		return free(rg), -1;
	}
	rc = kva_pool_pin(r->p, (const int64_t (*)[2])rg, n, &f, e);
	if (rc < 0)
		return free(rg), -2;
	if (rc == 1) {
		kva_buf_printf(&r->b, "{\"type\":\"refused\",\"op\":\"pin\","
			       "\"ranges\":[");
		for (int64_t i = 0; i < n; i++)
			kva_buf_printf(&r->b, "%s[%lld,%lld]", i ? "," : "",
				       (long long)rg[i][0], (long long)rg[i][1]);
		kva_buf_printf(&r->b, "],\"protected_chunks\":%lld,\"limit\":%lld,"
			       "\"reason\":", (long long)f.protected_chunks,
			       (long long)f.limit);
		kva_buf_jstr(&r->b, f.why, strlen(f.why));
		kva_buf_puts(&r->b, "}");
		kva_out_record(&r->b);
	}
	for (int64_t i = 0; rc == 0 && i < n; i++) {
		int64_t C = r->p->c.chunk_tokens;

		kva_buf_printf(&r->b, "{\"type\":\"pin\",\"lo\":%lld,\"hi\":%lld,"
			       "\"chunks\":[%lld,%lld]}", (long long)rg[i][0],
			       (long long)rg[i][1], (long long)(rg[i][0] / C),
			       (long long)((rg[i][1] - 1) / C + 1));
		kva_out_record(&r->b);
	}
	free(rg);
	return 0;
}

/* snapshot: {"path", "max_chunks"?, "pos"?, "ledger"?} -> a saved record. */
static int snapshot(run *r, const kva_jval *o, kva_err *e)
{
	const kva_jval *path = kva_json_get(o, "path"), *led;
	int64_t maxc, upto;
	kva_snap_info info;
	int ledger = 1;

	if (!path || path->t != KVA_JSTR || !path->slen)
		return kva_errf(e, "path", "must be a non-empty string");
	if (opt_int(o, "max_chunks", -1, &maxc, e) ||
	    opt_int(o, "pos", -1, &upto, e))
		return -1;
	if (kva_json_get(o, "max_chunks") && maxc < 0)
		return kva_errf(e, "max_chunks", "must be >= 0");
	if (kva_json_get(o, "pos") && upto < 0)
		return kva_errf(e, "pos", "must be >= 0");
	if ((led = kva_json_get(o, "ledger"))) {
		if (led->t != KVA_JTRUE && led->t != KVA_JFALSE)
			return kva_errf(e, "ledger", "must be true or false");
		ledger = led->t == KVA_JTRUE;
	}
	if (kva_snap_save(r->p, path->s, maxc, upto, ledger, &info, e)) {
		e->field = "path";
		return -1;
	}
	kva_buf_puts(&r->b, "{\"type\":\"saved\",\"path\":");
	kva_buf_jstr(&r->b, path->s, path->slen);
	kva_buf_printf(&r->b, ",\"chunks\":%lld,\"cur_pos\":%lld,\"bytes\":%lld,"
		       "\"ledger\":%s,\"partial\":%s", (long long)info.chunks,
		       (long long)info.cur_pos, (long long)info.bytes,
		       ledger ? "true" : "false", info.partial ? "true" : "false");
	if (info.partial)
		kva_buf_printf(&r->b, ",\"note\":\"floored to a chunk boundary: "
			       "%lld of %lld tokens\"", (long long)info.cur_pos,
			       (long long)r->p->cur_pos);
	kva_buf_puts(&r->b, "}");
	kva_out_record(&r->b);
	return 0;
}

/* restore: {"path"} -> the pool replaced, or the record refused with the
 * pool untouched. */
static int restore(run *r, const kva_jval *o, kva_err *e)
{
	const kva_jval *path = kva_json_get(o, "path");
	kva_restore_info info;
	kva_snap s;
	int rc;

	if (!path || path->t != KVA_JSTR || !path->slen)
		return kva_errf(e, "path", "must be a non-empty string");
	if (kva_snap_open(path->s, &s, e)) {
		char m[sizeof e->msg];

		snprintf(m, sizeof m, "%s", e->msg);
		return kva_errf(e, "path", "%s: %s", path->s, m);
	}
	if (host_check(r, s.cur_pos, "path", e)) {
		char m[sizeof e->msg];

		kva_snap_close(&s);
		snprintf(m, sizeof m, "%s", e->msg);
		return kva_errf(e, "path", "%s: %s", path->s, m);
	}
	rc = kva_snap_restore(r->p, &s, &info, e);
	kva_snap_close(&s);
	if (rc) {
		char m[sizeof e->msg];

		snprintf(m, sizeof m, "%s", e->msg);
		return kva_errf(e, "path", "%s: %s", path->s, m);
	}
	kva_buf_puts(&r->b, "{\"type\":\"restored\",\"path\":");
	kva_buf_jstr(&r->b, path->s, path->slen);
	kva_buf_printf(&r->b, ",\"chunks\":%lld,\"cur_pos\":%lld,\"resident\":%lld,"
		       "\"host\":%lld,\"pins\":%lld,\"pins_dropped\":%lld}",
		       (long long)info.chunks, (long long)r->p->cur_pos,
		       (long long)info.resident, (long long)info.host,
		       (long long)info.pins, (long long)info.pins_dropped);
	kva_out_record(&r->b);
	return 0;
}

/* One operation record; 0 done, -1 bad record (e), -2 internal failure. */
static int apply(run *r, const kva_rec *rec, kva_err *e)
{
	kva_pool *p = r->p;
	const kva_jval *o = rec->root;
	const char *ty = rec->type;
	kva_pool_refusal f;
	int64_t a, b;
	int rc;

	if (!strcmp(ty, "prefill") || !strcmp(ty, "append")) {
		int pre = ty[0] == 'p';

		if (get_tokens(o, &a, e))
			return -1;
		/* before the reset: a refused prefill leaves the pool as it was */
		b = pre ? 0 : p->cur_pos;
		if (a <= KVA_INT_LIMIT - b && host_check(r, b + a, "tokens", e))
			return -1;
		if (pre)
			kva_pool_reset(p);
		b = p->cur_pos;
		rc = kva_pool_append(p, a, pre, &f, e);
		if (rc < 0)
			return -2;
		if (rc == 1)
			emit_refused(r, &f, b, a);
		return 0;
	}
	if (!strcmp(ty, "pin"))
		return pin(r, o, e);
	if (!strcmp(ty, "unpin_all")) {
		kva_pool_unpin_all(p);
		return 0;
	}
	if (!strcmp(ty, "scores")) {
		const kva_jval *s = kva_json_get(o, "scores");
		double *v;
		int64_t i = 0;

		if (opt_int(o, "start", 0, &a, e))
			return -1;
		if (!s || s->t != KVA_JARR)
			return kva_errf(e, "scores", "must be an array of numbers");
		v = calloc(s->n ? s->n : 1, sizeof *v);
		if (!v)
			kva_die(2, "out of memory");
		for (const kva_jval *x = s->child; x; x = x->next)
			if (kva_json_num(x, "scores", &v[i++], e)) {
				free(v);
				return -1;
			}
		rc = kva_pool_scores(p, a, v, (int64_t)s->n, e);
		free(v);
		return rc;
	}
	if (!strcmp(ty, "reselect"))
		return kva_pool_reselect(p, e) ? -2 : 0;
	if (!strcmp(ty, "probe")) {
		const kva_jval *q = kva_json_get(o, "query");
		int64_t layer, head, qpos = 0, D = p->c.head_dim;
		double *qv = NULL;
		kva_probe pr;

		if (opt_int(o, "pos", p->cur_pos - 1, &a, e) ||
		    opt_int(o, "layer", 0, &layer, e) ||
		    opt_int(o, "head", 0, &head, e))
			return -1;
		if (q) {
			int64_t i = 0;

			if (q->t != KVA_JARR || (int64_t)q->n != D)
				return kva_errf(e, "query", "must be an array of "
						"head_dim (%lld) numbers",
						(long long)D);
			if (!(qv = calloc((size_t)D, sizeof *qv)))
				kva_die(2, "out of memory");
			for (const kva_jval *x = q->child; x; x = x->next)
				if (kva_json_num(x, "query", &qv[i++], e)) {
					free(qv);
					return -1;
				}
		} else if (opt_int(o, "query_pos", 0, &qpos, e)) {
			return -1;
		} else if (qpos < 0) {
			return kva_errf(e, "query_pos", "must be >= 0");
		}
		rc = kva_pool_probe(p, a, layer, head, qv, qpos, &pr, e);
		free(qv);
		if (rc)
			return -1;
		kva_buf_printf(&r->b, "{\"type\":\"probe\",\"pos\":%lld,"
			       "\"layer\":%lld,\"head\":%lld,", (long long)a,
			       (long long)layer, (long long)head);
		if (!q)
			kva_buf_printf(&r->b, "\"query_pos\":%lld,", (long long)qpos);
		kva_buf_printf(&r->b, "\"candidates\":%lld,\"winner\":%lld,"
			       "\"winner_chunk\":%lld,\"sink\":%s,"
			       "\"weight\":%.6g,\"logit\":%.6g}",
			       (long long)pr.candidates, (long long)pr.winner,
			       (long long)(pr.winner < 0 ? -1 :
					   pr.winner / p->c.chunk_tokens),
			       pr.winner >= 0 && pr.winner / p->c.chunk_tokens <
			       p->c.sink_chunks ? "true" : "false",
			       pr.weight, pr.logit);
		kva_out_record(&r->b);
		return 0;
	}
	if (!strcmp(ty, "state")) {
		emit_state(r);
		return 0;
	}
	if (!strcmp(ty, "snapshot"))
		return snapshot(r, o, e);
	if (!strcmp(ty, "restore"))
		return restore(r, o, e);
	kva_out_line(rec->text, rec->len);
	return 0;
}

/* 0 ok, 1 bad records under --keep-going, -1 stop. */
static int filter(run *r, const char *path)
{
	kva_reader rd;
	kva_rec rec;
	kva_err e;
	int st, rc = 0;

	if (kva_reader_open(&rd, path, r->max_record))
		return -1;
	while ((st = kva_reader_next(&rd, &rec, &e)) != 0) {
		if (st == -2) {
			rc = -1;
			break;
		}
		if (st == 1) {
			int a = apply(r, &rec, &e);

			if (a == -2) {
				kva_out_flush();
				kva_die(2, "%s:%ld: %s", rd.name, rec.line, e.msg);
			}
			if (a == 0) {
				kva_progress_tick(&r->prog, ++r->done);
				continue;
			}
		}
		kva_report_bad(&rd, rec.line, &e, r->keep_going);
		if (!r->keep_going) {
			rc = -1;
			break;
		}
		rc = 1;
	}
	kva_reader_close(&rd);
	return rc;
}

/*
 * The CUDA kernels library: $KVA_CUDA_KERNELS, else beside this binary as
 * built (../cuda/) or installed (../lib/kvarbiter/).  NULL if none.
 */
static const char *cuda_kernels(char *buf, size_t n)
{
	static const char *const rel[] = {
		"/../cuda/libkvcache_cuda.so",
		"/../lib/kvarbiter/libkvcache_cuda.so",
	};
	const char *env = getenv("KVA_CUDA_KERNELS");
	char exe[2048];
	ssize_t len;

	if (env && *env)
		return env;
	if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return NULL;
	exe[len] = 0;
	*strrchr(exe, '/') = 0;
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		if ((size_t)snprintf(buf, n, "%s%s", exe, rel[i]) >= n)
			continue;
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

enum { O_POOL = 256, O_CHUNK, O_LAYERS, O_HEADS, O_DIM, O_DTYPE, O_SINK,
       O_TAIL, O_POLICY, O_SEED, O_NODATA, O_NOEVENTS, O_ROUTES, O_VERIFY,
       O_DEVICE, O_HOSTBUDGET };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pool-tokens", required_argument, NULL, O_POOL },
		{ "chunk-tokens", required_argument, NULL, O_CHUNK },
		{ "layers", required_argument, NULL, O_LAYERS },
		{ "kv-heads", required_argument, NULL, O_HEADS },
		{ "head-dim", required_argument, NULL, O_DIM },
		{ "dtype", required_argument, NULL, O_DTYPE },
		{ "sink-chunks", required_argument, NULL, O_SINK },
		{ "tail-chunks", required_argument, NULL, O_TAIL },
		{ "policy", required_argument, NULL, O_POLICY },
		{ "seed", required_argument, NULL, O_SEED },
		{ "no-data", no_argument, NULL, O_NODATA },
		{ "no-events", no_argument, NULL, O_NOEVENTS },
		{ "routes", no_argument, NULL, O_ROUTES },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "host-budget", required_argument, NULL, O_HOSTBUDGET },
		{ "keep-going", no_argument, NULL, KVA_OPT_KEEP },
		{ "max-record", required_argument, NULL, KVA_OPT_MAXREC },
		{ "unbuffered", no_argument, NULL, KVA_OPT_UNBUF },
		{ "progress", no_argument, NULL, KVA_OPT_PROGRESS },
		{ "quiet", no_argument, NULL, KVA_OPT_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, KVA_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	static const struct { int opt; const char *name; int64_t min, max; }
	nums[] = {
		{ O_POOL, "--pool-tokens", 1, KVA_INT_LIMIT },
		{ O_CHUNK, "--chunk-tokens", 1, 1 << 20 },
		{ O_LAYERS, "--layers", 1, 1 << 16 },
		{ O_HEADS, "--kv-heads", 1, 1 << 16 },
		{ O_DIM, "--head-dim", 1, 1 << 16 },
		{ O_SINK, "--sink-chunks", 0, INT32_MAX },
		{ O_TAIL, "--tail-chunks", 0, INT32_MAX },
		{ O_SEED, "--seed", 0, KVA_INT_LIMIT },
	};
	kva_pool_conf conf;
	run r = { 0 };
	const char *errstr, *device = "cpu";
	char cuda_path[4096];
	int c, rc = 0, progress = 0, quiet = 0, unbuffered = 0;
	kva_err e;

	kva_progname = "kv-prefill";
	kva_pool_conf_default(&conf);
	r.events = 1;
	r.host_budget = -1;
	kva_stdopts so = { 0 };

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int64_t v;
		size_t i;

		for (i = 0; i < sizeof nums / sizeof nums[0]; i++)
			if (nums[i].opt == c)
				break;
		if (i < sizeof nums / sizeof nums[0]) {
			if (kva_parse_i64(optarg, nums[i].min, nums[i].max, &v,
					  &errstr))
				kva_die(2, "%s: value is %s: %s", nums[i].name,
					errstr, optarg);
			switch (c) {
			case O_POOL: conf.pool_tokens = v; break;
			case O_CHUNK: conf.chunk_tokens = v; break;
			case O_LAYERS: conf.layers = v; break;
			case O_HEADS: conf.kv_heads = v; break;
			case O_DIM: conf.head_dim = v; break;
			case O_SINK: conf.sink_chunks = v; break;
			case O_TAIL: conf.tail_chunks = v; break;
			case O_SEED: conf.seed = (uint64_t)v; break;
			}
			continue;
		}
		switch (c) {
		case O_DTYPE:
			if (!(conf.dtype = kva_dtype_parse(optarg)))
				kva_die(2, "--dtype: want f16 or f32, not %s", optarg);
			break;
		case O_POLICY:
			if ((conf.policy = kva_policy_parse(optarg)) < 0)
				kva_die(2, "--policy: want lru or score, not %s", optarg);
			break;
		case O_NODATA: conf.no_data = 1; break;
		case O_NOEVENTS: r.events = 0; break;
		case O_ROUTES: r.routes = 1; break;
		case O_VERIFY: r.verify = 1; break;
		case O_DEVICE:
			if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda"))
				kva_die(2, "--device: want cpu or cuda, not %s", optarg);
			device = optarg;
			break;
		case O_HOSTBUDGET: {
			size_t sz;

			if (kva_parse_size(optarg, &sz, &errstr))
				kva_die(2, "--host-budget: value is %s: %s",
					errstr, optarg);
			r.host_budget = sz > INT64_MAX ? INT64_MAX : (int64_t)sz;
			break;
		}
		default:
			kva_stdopt(c, optarg, &so, usage);
			break;
		}
	}
	if (r.host_budget < 0)
		r.host_budget = default_host_budget();
	r.keep_going = so.keep_going;
	unbuffered = so.unbuffered;
	progress = so.progress;
	quiet = so.quiet;
	if (so.max_record)
		r.max_record = so.max_record;
	argc -= optind;
	argv += optind;
	if (r.verify && conf.no_data)
		kva_die(2, "--verify needs the data: drop --no-data");
	if (!strcmp(device, "cuda") && !conf.no_data &&
	    !(conf.cuda_lib = cuda_kernels(cuda_path, sizeof cuda_path)))
		kva_die(2, "--device cuda: no CUDA kernels library (build with "
			"nvcc present: make cuda; or set KVA_CUDA_KERNELS)");
	if (!(r.p = kva_pool_new(&conf, on_event, &r, &e))) {
		char opt[32];
		size_t i;

		snprintf(opt, sizeof opt, "%s", !e.field ? "pool_tokens" :
			 !strcmp(e.field, "device") ? "device cuda" : e.field);
		for (i = 0; opt[i]; i++)
			if (opt[i] == '_')
				opt[i] = '-';
		kva_die(2, "--%s: %s", opt, e.msg);
	}
	kva_out_init(unbuffered);
	kva_progress_init(&r.prog, "records", progress, quiet);

	if (argc == 0 && filter(&r, "-"))
		rc = 2;
	for (int i = 0; i < argc; i++) {
		int frc = filter(&r, argv[i]);

		if (frc)
			rc = 2;
		if (frc < 0 && !r.keep_going)
			break;
	}
	kva_progress_done(&r.prog, r.done);
	if (rc == 0 || r.keep_going) {
		if (r.routes)
			emit_routes(&r);
		if (r.verify) {
			kva_verify v;
			int64_t bad = kva_pool_verify(r.p, &v);

			kva_buf_printf(&r.b, "{\"type\":\"verify\",\"ok\":%s,"
				       "\"chunks\":%lld,\"bytes\":%lld,"
				       "\"bad_chunks\":%lld", bad ? "false" : "true",
				       (long long)v.chunks, (long long)v.bytes,
				       (long long)v.bad_chunks);
			if (bad)
				kva_buf_printf(&r.b, ",\"first\":{\"chunk\":%lld,"
					       "\"layer\":%lld,\"kv\":\"%s\","
					       "\"head\":%lld,\"row\":%lld,"
					       "\"dim\":%lld}", (long long)v.chunk,
					       (long long)v.layer, v.kv ? "V" : "K",
					       (long long)v.head, (long long)v.row,
					       (long long)v.dim);
			kva_buf_puts(&r.b, "}");
			kva_out_record(&r.b);
			if (bad && rc == 0)
				rc = 1;
		}
		emit_state(&r);
	}
	if (kva_out_close())
		rc = 2;
	kva_buf_free(&r.b);
	kva_pool_free(r.p);
	return rc;
}
