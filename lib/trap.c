/*
 * trap.c - the gradient trap for route candidates (see trap.h).
 *
 * The parent never runs candidate code.  A child (lib/sandbox.c) loads the
 * candidate and answers batches of cases over a pipe: a request is a
 * header and the cases' inputs; the reply is one fixed-size result per
 * case, flushed every RES_FLUSH results (or after each one when a batch is
 * re-run to find the case that crashed or hung).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvarbiter_candidate.h"
#include "cudart.h"
#include "kvcache.h"
#include "trap.h"
#include "trap_proto.h"

const char *const kva_kind_names[3] = { "route", "write", "gather" };

const char *const kva_class_names[KVA_C_N] = {
	"misroute", "permutation", "collision", "out_of_bounds",
	"unmapped_write", "missing", "stray_write", "partial_row", "crash",
	"timeout", "error"
};

#define MAX_TABLE (1u << 24)
#define CMD_FSIZE ((size_t)64 << 20) /* a co-process's files, in its tmpfs */

/* ---- the parent's side ------------------------------------------------------ */

struct tcase {                   /* one queued case */
	int64_t in[KVA_MAX_IN];
	size_t toff[KVA_MAX_TAB];    /* into pool */
	size_t tlen[KVA_MAX_TAB];
	kva_route expect;
	long line;
	uint64_t index;              /* 0-based, over the run */
	struct cres got;
	int cls;                     /* -1: agrees with the oracle */
	int skipped;                 /* never run (hang budget, load) */
	char why[96];
};

struct dtok {                    /* one token of the dumped world */
	int64_t oc[KVA_MAX_OUT];     /* oracle cell (if routed) */
	int64_t cc[KVA_MAX_OUT];     /* candidate cell (if it wrote one) */
	int oroute, croute;
	uint64_t index;
};

struct kva_trap {
	kva_trap_conf c;
	int oid;
	unsigned world;              /* world inputs mask */
	kva_sbx sbx;
	int sofd;                    /* the candidate's shared object, or -1 */
	unsigned layers;             /* confinement layers that held (all spawns) */
	int spawned;                 /* a child was set up at least once */
	uint32_t seq;                /* of the last request */
	const char *file;            /* source of the cases being queued */
	struct tcase *q;
	size_t nq, capq;
	int64_t *pool;
	size_t npool, cappool;
	kva_buf req, rep;
	uint64_t cases, diverged, printed;
	uint64_t cls[KVA_C_N];
	uint64_t hangs;              /* timeouts pinned to a case */
	uint64_t not_run;            /* cases never run */
	char stop_why[160];          /* why the rest is not run ("" runs on) */
	double divergence, t0, t1;
	int have_first;
	int load_cls;                /* a load finding's class, or -1 */
	char load_why[96];
	struct dtok *wtok;           /* the tokens sharing first's cache */
	size_t nwtok;
	struct tcase first;          /* smallest failing case */
	int64_t *first_tab;          /* its tables */
	char first_file[256];
	kva_buf map;                 /* text map lines (first max_map) */
	uint64_t heat[8][16];        /* misrouted floats by head x block */
	int heat_h, heat_b;
};

/* The largest entry of table i of case k, or -1 for an empty table. */
static int64_t table_max(const kva_trap *t, const struct tcase *k, int i)
{
	int64_t m = -1;

	for (size_t j = 0; j < k->tlen[i]; j++)
		if (t->pool[k->toff[i] + j] > m)
			m = t->pool[k->toff[i] + j];
	return m;
}

/* done() for reading the greeting: u32 layers, u32 length, the text. */
static int greeting_done(kva_buf *b, void *ctx, uint64_t *units)
{
	uint32_t n;

	(void)ctx;
	*units = 0;
	if (b->len < 8)
		return 0;
	memcpy(&n, b->p + 4, 4);
	return b->len >= 8 + (size_t)n;
}

/* Stop running: the remaining cases are counted as not run. */
static void stop_running(kva_trap *t, const char *why)
{
	if (!t->stop_why[0])
		snprintf(t->stop_why, sizeof t->stop_why, "%s", why);
}

static void load_finding(kva_trap *t, int cls, const char *why);

/*
 * Start a child with the candidate loaded.  Returns 0; 1 when the
 * candidate crashed, exited or hung while loading (a finding: recorded,
 * and the rest of the run is not run); -1 with e for trouble.
 */
static int greet(kva_trap *t, kva_err *e)
{
	kva_sbx_job job;
	kva_sbx_limits lim;
	kva_buf hello = { 0 };
	uint32_t n, layers;
	char as[32], flush[32];
	char *argv[] = { (char *)"grad-trap", (char *)(t->c.lim.confine ==
		KVA_CONFINE_OFF ? "--sandbox-child-noconfine" : t->c.lim.confine ==
		KVA_CONFINE_STRICT ? "--sandbox-child-strict" : "--sandbox-child"),
		(char *)kva_kind_names[t->c.kind], (char *)t->c.o->name,
		(char *)(t->c.cuda ? "cuda" : "cpu"), as, flush, NULL };
	int st;

	memset(&job, 0, sizeof job);
	job.passfd = -1;
	if (t->c.cmd) {
		job.profile = KVA_SBX_CMD;
		job.cmd = t->c.cmd;
	} else {
		/* the CUDA runtime reserves far more address space than it uses */
		snprintf(as, sizeof as, "%zu", t->c.cuda ? 0 : t->c.lim.as_bytes);
		snprintf(flush, sizeof flush, "%ld", (long)(t->c.lim.timeout_s * 250));
		job.profile = t->c.cuda ? KVA_SBX_CUDA : KVA_SBX_LOADER;
		job.argv = argv;
		job.passfd = t->sofd;
	}
	lim = t->c.lim;
	if (t->c.cmd && lim.fsize_bytes < CMD_FSIZE)
		lim.fsize_bytes = CMD_FSIZE; /* its private tmpfs is writable */
	if (kva_sbx_spawn(&t->sbx, &lim, &job, e))
		return -1;
	t->layers = t->spawned ? t->layers & t->sbx.layers : t->sbx.layers;
	t->spawned = 1;
	if (t->c.cmd)
		return 0;
	st = kva_sbx_exchange(&t->sbx, NULL, 0, &hello, greeting_done, NULL,
			      t->c.lim.load_timeout_s);
	layers = 0;
	if (hello.len >= 4)      /* sent before the candidate was opened */
		memcpy(&layers, hello.p, 4);
	if (st != KVA_SBX_OK && hello.len >= 4)
		t->layers = (t->layers & ~(unsigned)KVA_L_SECCOMP) |
			    (layers & KVA_L_SECCOMP);
	if (st != KVA_SBX_OK) {
		kva_buf_free(&hello);
		if (st == KVA_SBX_TIMEOUT)
			snprintf(t->sbx.why, sizeof t->sbx.why, "no answer for %g s "
				 "(--load-timeout)", t->c.lim.load_timeout_s);
		load_finding(t, st == KVA_SBX_TIMEOUT ? KVA_C_TIMEOUT : KVA_C_CRASH,
			     t->sbx.why);
		return 1;
	}
	memcpy(&n, hello.p + 4, 4);
	if (n) {
		kva_errf(e, NULL, "candidate %s: %.*s", t->c.cand_name, (int)n,
			 hello.p + 8);
		kva_buf_free(&hello);
		kva_sbx_stop(&t->sbx);
		return -1;
	}
	kva_buf_free(&hello);
	if (t->c.lim.confine != KVA_CONFINE_OFF) {
		if (!(layers & KVA_L_SECCOMP) && t->c.lim.confine == KVA_CONFINE_STRICT) {
			kva_sbx_stop(&t->sbx);
			return kva_errf(e, NULL, "confinement: seccomp unavailable "
					"(--confine strict)");
		}
		if (!(layers & KVA_L_SECCOMP) && !(t->layers & KVA_L_SECCOMP) &&
		    t->spawned == 1)
			kva_warnx("confinement: seccomp unavailable: candidates run "
				  "without (see grad-trap(1) SECURITY)");
		t->spawned = 2;
	}
	t->layers = (t->layers & ~(unsigned)KVA_L_SECCOMP) | (layers & KVA_L_SECCOMP);
	return 0;
}

kva_trap *kva_trap_new(const kva_trap_conf *c, kva_err *e)
{
	kva_trap *t = calloc(1, sizeof *t);

	if (!t)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	t->c = *c;
	t->sofd = -1;
	t->load_cls = -1;
	t->oid = kva_trap_oracle_id(c->o);
	if (!c->cmd && t->oid == OR_OTHER) {
		kva_errf(e, NULL, "oracle %s has no C ABI: use --candidate-cmd",
			 c->o->name);
		free(t);
		return NULL;
	}
	if (c->kind != KVA_KIND_ROUTE && t->oid != OR_PAGED &&
	    t->oid != OR_PAGED_RING && t->oid != OR_FLASHINFER) {
		kva_errf(e, NULL, "%s kernels are trapped on slot cases: use "
			 "paged, paged-ring or flashinfer, not %s",
			 kva_kind_names[c->kind], c->o->name);
		free(t);
		return NULL;
	}
	if (c->kind != KVA_KIND_ROUTE && c->cmd) {
		kva_errf(e, NULL, "--candidate-cmd answers routes; write and gather "
			 "kernels must be a .c, .so or .cu file");
		free(t);
		return NULL;
	}
	if (c->kind != KVA_KIND_ROUTE && c->head_dim < 4) {
		kva_errf(e, NULL, "--head-dim must be at least 4 for %s kernels",
			 kva_kind_names[c->kind]);
		free(t);
		return NULL;
	}
	if (!c->cmd && (t->sofd = open(c->so, O_RDONLY | O_CLOEXEC)) < 0) {
		kva_errf(e, NULL, "%s: %s", c->so, strerror(errno));
		free(t);
		return NULL;
	}
	t->t0 = kva_now();
	if (kva_oracle_world(c->o, &t->world, e) || greet(t, e) < 0) {
		if (t->sofd >= 0)
			close(t->sofd);
		free(t);
		return NULL;
	}
	return t;
}

/* ---- queueing ----------------------------------------------------------------- */

int kva_trap_add(kva_trap *t, const kva_args *a, const kva_route *expect,
		 const char *file, long line, kva_err *e)
{
	struct tcase *k;

	for (int i = 0; i < t->c.o->ntab; i++)
		if (a->tab[i].n > MAX_TABLE)
			return kva_errf(e, t->c.o->tab[i], "longer than %u entries",
					MAX_TABLE);
	if (t->stop_why[0] && !t->nq) {  /* the rest is not run */
		t->cases++;
		t->not_run++;
		return 0;
	}
	if (t->nq && file != t->file && kva_trap_flush(t, e))
		return -1;
	t->file = file;
	if (t->nq == t->capq) {
		t->capq = t->capq ? 2 * t->capq : 1024;
		if (!(t->q = realloc(t->q, t->capq * sizeof *t->q)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
	}
	k = &t->q[t->nq++];
	memset(k, 0, sizeof *k);
	memcpy(k->in, a->in, sizeof k->in);
	for (int i = 0; i < t->c.o->ntab; i++) {
		if (t->npool + a->tab[i].n > t->cappool) {
			t->cappool = 2 * (t->npool + a->tab[i].n) + 1024;
			if (!(t->pool = realloc(t->pool, t->cappool * sizeof *t->pool)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
		}
		k->toff[i] = t->npool;
		k->tlen[i] = a->tab[i].n;
		if (a->tab[i].n)
			memcpy(t->pool + t->npool, a->tab[i].v,
			       a->tab[i].n * sizeof *t->pool);
		t->npool += a->tab[i].n;
	}
	k->expect = *expect;
	k->line = line;
	k->index = t->cases + t->nq - 1;
	k->cls = -1;
	if (t->nq >= t->c.batch)
		return kva_trap_flush(t, e);
	return 0;
}

/* ---- talking to the child -------------------------------------------------------- */

/* The child's answers were not the trap's protocol: bytes the candidate
 * wrote into the reply pipe itself, or a pipe it garbled. */
#define SBX_GARBLED 3

/* Cases [from, to) of the queue will not run: count them. */
static void skip_range(kva_trap *t, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (!t->q[i].skipped) {
			t->q[i].skipped = 1;
			t->not_run++;
		}
}

/* A timeout pinned to its case: spend the hang budget. */
static void count_hang(kva_trap *t)
{
	char why[160];

	if (++t->hangs < (uint64_t)t->c.max_hangs)
		return;
	snprintf(why, sizeof why, "hang budget spent: %llu timeout%s (--max-hangs %d)",
		 (unsigned long long)t->hangs, t->hangs == 1 ? "" : "s", t->c.max_hangs);
	stop_running(t, why);
}

/* Serialise cases [from, to) of the queue as a request into t->req. */
static void put_request(kva_trap *t, size_t from, size_t to, uint32_t flags)
{
	struct req_hdr hd = { REQ_MAGIC, MODE_CASES, (uint32_t)(to - from), flags,
			      ++t->seq, 0, 0 };
	const kva_oracle *o = t->c.o;

	t->req.len = 0;
	kva_buf_put(&t->req, &hd, sizeof hd);
	for (size_t i = from; i < to; i++) {
		const struct tcase *k = &t->q[i];

		kva_buf_put(&t->req, k->in, (size_t)o->nin * sizeof *k->in);
		for (int j = 0; j < o->ntab; j++) {
			uint32_t n = (uint32_t)k->tlen[j];

			kva_buf_put(&t->req, &n, 4);
			for (size_t x = 0; x < n; x++) {
				int32_t v = (int32_t)t->pool[k->toff[j] + x];

				kva_buf_put(&t->req, &v, 4);
			}
			while (t->req.len & 7)
				kva_buf_putc(&t->req, 0);
		}
	}
	((struct req_hdr *)(void *)t->req.p)->len = t->req.len - sizeof hd;
}

struct want {
	size_t bytes, unit;          /* binary answers: all, one of them */
	size_t lines, scanned, nl;   /* co-process answers: lines */
};

/* Binary answers: a complete one is progress, bytes are not. */
static int bytes_done(kva_buf *b, void *ctx, uint64_t *units)
{
	const struct want *w = ctx;

	*units = b->len / w->unit;
	return b->len >= w->bytes;
}

/* Co-process answers: a complete line is progress, a byte is not. */
static int lines_done(kva_buf *b, void *ctx, uint64_t *units)
{
	struct want *w = ctx;

	for (; w->scanned < b->len; w->scanned++)
		w->nl += b->p[w->scanned] == '\n';
	*units = w->nl;
	return w->nl >= w->lines;
}

/* A co-process request: the cases as JSONL, without their expect. */
static void put_cmd_request(kva_trap *t, size_t from, size_t to)
{
	const kva_oracle *o = t->c.o;

	t->req.len = 0;
	for (size_t i = from; i < to; i++) {
		const struct tcase *k = &t->q[i];
		kva_args a;

		memset(&a, 0, sizeof a);
		memcpy(a.in, k->in, sizeof a.in);
		for (int j = 0; j < o->ntab; j++) {
			a.tab[j].v = t->pool + k->toff[j];
			a.tab[j].n = k->tlen[j];
		}
		kva_buf_puts(&t->req, "{\"type\":\"case\"");
		kva_args_write(&t->req, o, &a);
		kva_buf_puts(&t->req, ",\"oracle\":");
		kva_buf_jstr(&t->req, o->name, strlen(o->name));
		kva_buf_puts(&t->req, "}\n");
	}
}

/* Parse the co-process's answer lines into results.  A line that is not
 * a route record is an error finding for its case. */
static void take_cmd_replies(kva_trap *t, size_t from, size_t navail)
{
	const char *p = t->rep.p, *end = t->rep.p + t->rep.len;
	kva_arena ar = { 0 };

	for (size_t i = 0; i < navail; i++) {
		struct tcase *k = &t->q[from + i];
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const kva_jval *v, *out, *none, *ty;
		kva_err e;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		kva_arena_reset(&ar);
		k->got.done = 1;
		if (!(v = kva_json_parse(&ar, p, n, &e)) || v->t != KVA_JOBJ) {
			k->cls = KVA_C_ERROR;
			snprintf(k->why, sizeof k->why, "bad reply: %.60s",
				 v ? "not an object" : e.msg);
		} else if (!(ty = kva_json_get(v, "type")) || ty->t != KVA_JSTR ||
			   strcmp(ty->s, "route")) {
			k->cls = KVA_C_ERROR;
			snprintf(k->why, sizeof k->why, "reply is not a route record");
		} else if ((none = kva_json_get(v, "none")) && none->t == KVA_JTRUE) {
			k->got.rc = 1;
		} else if (!(out = kva_json_get(v, "out")) || out->t != KVA_JARR ||
			   (int)out->n != t->c.o->nout) {
			k->cls = KVA_C_ERROR;
			snprintf(k->why, sizeof k->why,
				 "reply has no \"out\" array of %d integers",
				 t->c.o->nout);
		} else {
			int j = 0;

			for (const kva_jval *x = out->child; x; x = x->next, j++)
				if (kva_json_int(x, "out", &k->got.out[j], &e)) {
					k->cls = KVA_C_ERROR;
					snprintf(k->why, sizeof k->why, "reply: %.80s", e.msg);
					break;
				}
		}
		p = nl ? nl + 1 : end;
	}
	kva_arena_free(&ar);
}

/* A child, loaded: 0; 1 when the candidate failed while loading (the rest
 * will not run); -1 with e for trouble. */
static int ensure_child(kva_trap *t, kva_err *e)
{
	if (t->sbx.pid > 0)
		return 0;
	if (t->stop_why[0])
		return 1;
	return greet(t, e);
}

/*
 * Run cases [from, to) in the child.  Returns how many got an answer:
 * all of them, or fewer when the child died, hung or garbled its answers,
 * in which case the child is gone and *st says which.  Returns
 * (size_t)-1 for trouble, (size_t)-2 when nothing can run any more.
 */
static size_t run_range(kva_trap *t, size_t from, size_t to, uint32_t flags,
			int *st, kva_err *e)
{
	struct want w;
	size_t got;
	int g = ensure_child(t, e);

	if (g)
		return g < 0 ? (size_t)-1 : (size_t)-2;
	memset(&w, 0, sizeof w);
	t->rep.len = 0;
	if (t->c.cmd) {
		put_cmd_request(t, from, to);
		w.lines = to - from;
		*st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep,
				       lines_done, &w, t->c.lim.timeout_s);
		got = 0;
		for (size_t i = 0; i < t->rep.len; i++)
			got += t->rep.p[i] == '\n';
		if (got > to - from)
			got = to - from;
		take_cmd_replies(t, from, got);
		return got;
	}
	put_request(t, from, to, flags);
	w.unit = sizeof(struct cres);
	w.bytes = (to - from) * sizeof(struct cres);
	*st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep,
			       bytes_done, &w, t->c.lim.timeout_s);
	got = t->rep.len / sizeof(struct cres);
	if (got > to - from)
		got = to - from;
	for (size_t i = 0; i < got; i++) {
		struct cres r;

		memcpy(&r, t->rep.p + i * sizeof r, sizeof r);
		if (r.done != 1 || r.tag != t->seq) {
			got = i;
			*st = SBX_GARBLED;
			kva_sbx_stop(&t->sbx);
			break;
		}
		t->q[from + i].got = r;
	}
	return got;
}

/*
 * Run the whole queue, naming the case behind a crash, hang or garbled
 * answer: after a failure the rest is re-run with the child answering
 * case by case, so the first case without an answer is the culprit.
 * Once the hang budget is spent (or the candidate no longer loads) the
 * rest of the queue is not run.
 */
static int run_queue(kva_trap *t, kva_err *e)
{
	size_t from = 0;
	int careful = 0;

	while (from < t->nq) {
		int st = KVA_SBX_OK;
		size_t to = careful ? from + 1 : t->nq, got;
		struct tcase *k;

		if (t->stop_why[0]) {
			skip_range(t, from, t->nq);
			break;
		}
		got = run_range(t, from, to, careful ? FLAG_UNBUFFERED : 0, &st, e);
		if (got == (size_t)-1)
			return -1;
		if (got == (size_t)-2)
			continue;        /* stop_why is set: the loop skips the rest */
		from += got;
		if (st == KVA_SBX_OK)
			continue;
		if (!careful) {
			careful = 1; /* find the culprit among the rest */
			continue;
		}
		/* from is the culprit: the child died, hung or garbled on it */
		k = &t->q[from++];
		if (st == KVA_SBX_TIMEOUT) {
			k->cls = KVA_C_TIMEOUT;
			snprintf(k->why, sizeof k->why, "%s", t->sbx.why);
			count_hang(t);
		} else if (st == SBX_GARBLED) {
			k->cls = KVA_C_ERROR;
			snprintf(k->why, sizeof k->why, "answer garbled: the reply "
				 "pipe held bytes that are not the trap's");
		} else {
			k->cls = KVA_C_CRASH;
			snprintf(k->why, sizeof k->why, "%s", t->sbx.why);
		}
	}
	return 0;
}

/* ---- judging ------------------------------------------------------------------------ */

/* Does the candidate's cell lie outside the cache the case describes? */
static int out_of_bounds(const kva_trap *t, const struct tcase *k)
{
	const int64_t *o = k->got.out, *in = k->in;
	int64_t maxid;

	for (int i = 0; i < t->c.o->nout; i++)
		if (o[i] < 0)
			return 1;
	switch (t->oid) {
	case OR_RADIX_1D:
		return o[1] >= in[2];
	case OR_RADIX_2D:
		return o[1] >= in[3] || o[2] >= in[4];
	case OR_PAGED:
	case OR_PAGED_RING:
		maxid = table_max(t, k, 0);
		return o[1] >= in[1] || o[2] >= (maxid + 1) * in[1] ||
		       o[0] > maxid;
	case OR_FLASHINFER:
		maxid = table_max(t, k, 1);
		return o[1] >= in[2] || o[0] > maxid;
	default:
		return 0;
	}
}

/* First-pass class of one case, or -1 when it agrees with the oracle. */
static int judge(const kva_trap *t, const struct tcase *k)
{
	if (k->skipped)
		return -1;
	if (k->cls >= 0)
		return k->cls;
	if (k->expect.status != KVA_ROUTED)
		return k->got.rc == 0 ? KVA_C_UNMAPPED_WRITE : -1;
	if (k->got.rc != 0)
		return KVA_C_MISSING;
	if (!memcmp(k->got.out, k->expect.out, (size_t)t->c.o->nout * sizeof(int64_t)))
		return -1;
	return out_of_bounds(t, k) ? KVA_C_OOB : KVA_C_MISROUTE;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
	uint64_t z = h + 0x9e3779b97f4a7c15ULL + v * 0xbf58476d1ce4e5b9ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Hash of a case's world (the inputs and tables that fix its cache). */
static uint64_t world_hash(const kva_trap *t, const struct tcase *k)
{
	uint64_t h = 0x776f726c64ULL;

	for (int i = 0; i < t->c.o->nin; i++)
		if (t->world >> i & 1)
			h = mix64(h, (uint64_t)k->in[i]);
	for (int i = 0; i < t->c.o->ntab; i++) {
		h = mix64(h, k->tlen[i]);
		for (size_t j = 0; j < k->tlen[i]; j++)
			h = mix64(h, (uint64_t)t->pool[k->toff[i] + j]);
	}
	return h;
}

static uint64_t cell_hash(uint64_t w, const int64_t *out, int n)
{
	for (int i = 0; i < n; i++)
		w = mix64(w, (uint64_t)out[i]);
	return w;
}

/* A map from cell hash to the queue index of the one case whose oracle
 * cell it is (-2 when several own it). */
struct cellmap {
	uint64_t *key;
	int64_t *val;
	size_t cap;
};

static int64_t *cellmap_slot(struct cellmap *m, uint64_t k)
{
	size_t i;

	k |= !k;
	for (i = k & (m->cap - 1); m->key[i] && m->key[i] != k; i = (i + 1) & (m->cap - 1))
		;
	if (!m->key[i]) {
		m->key[i] = k;
		m->val[i] = -1;
	}
	return &m->val[i];
}

/*
 * Second pass over the misroutes of the queue: a token sent to the cell
 * that another token alone owns is a collision, or, when that token was
 * sent to the first one's cell, a permutation.  Cells are compared only
 * within one world (same sizes and tables).
 */
static void refine(kva_trap *t)
{
	struct cellmap own = { 0 }, sent = { 0 };
	uint64_t *wh;
	int nout = t->c.o->nout, any = 0;

	for (size_t i = 0; i < t->nq; i++)
		any |= t->q[i].cls == KVA_C_MISROUTE;
	if (!any)
		return;
	for (own.cap = 16; own.cap < 4 * t->nq; own.cap *= 2)
		;
	sent.cap = own.cap;
	own.key = calloc(own.cap, sizeof *own.key);
	own.val = calloc(own.cap, sizeof *own.val);
	sent.key = calloc(sent.cap, sizeof *sent.key);
	sent.val = calloc(sent.cap, sizeof *sent.val);
	wh = calloc(t->nq, sizeof *wh);
	if (!own.key || !own.val || !sent.key || !sent.val || !wh)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < t->nq; i++) {
		struct tcase *k = &t->q[i];
		int64_t *v;

		wh[i] = world_hash(t, k);
		if (k->expect.status != KVA_ROUTED)
			continue;
		v = cellmap_slot(&own, cell_hash(wh[i], k->expect.out, nout));
		*v = *v == -1 ? (int64_t)i : -2;
	}
	for (size_t i = 0; i < t->nq; i++) {
		struct tcase *k = &t->q[i];
		int64_t *v, u;

		if (k->cls != KVA_C_MISROUTE)
			continue;
		u = *cellmap_slot(&own, cell_hash(wh[i], k->got.out, nout));
		if (u >= 0 && (size_t)u != i) {
			const struct tcase *o = &t->q[u];

			k->cls = o->got.rc == 0 && !memcmp(o->got.out, k->expect.out,
				 (size_t)nout * sizeof(int64_t)) ?
				 KVA_C_PERMUTATION : KVA_C_COLLISION;
			continue;
		}
		/* two tokens sent to one cell collide, unless the oracle had
		 * them in one cell already (a ring wrap puts many there) */
		v = cellmap_slot(&sent, cell_hash(wh[i], k->got.out, nout));
		if (*v >= 0 && memcmp(t->q[*v].expect.out, k->expect.out,
				      (size_t)nout * sizeof(int64_t))) {
			k->cls = KVA_C_COLLISION;
			t->q[*v].cls = KVA_C_COLLISION;
		} else if (*v < 0) {
			*v = (int64_t)i;
		}
	}
	free(own.key); free(own.val); free(sent.key); free(sent.val); free(wh);
}

/* Order on failing cases: smaller inputs first (sum of magnitudes, then
 * the inputs in order, then table lengths), so "first" is reproducible and
 * the smallest reproducer. */
static int smaller(const kva_trap *t, const struct tcase *a,
		   const struct tcase *b)
{
	uint64_t sa = 0, sb = 0;
	const kva_oracle *o = t->c.o;

	for (int i = 0; i < o->nin; i++) {
		sa += (uint64_t)llabs(a->in[i]);
		sb += (uint64_t)llabs(b->in[i]);
	}
	for (int i = 0; i < o->ntab; i++) {
		sa += a->tlen[i];
		sb += b->tlen[i];
	}
	if (sa != sb)
		return sa < sb;
	for (int i = 0; i < o->nin; i++)
		if (a->in[i] != b->in[i])
			return a->in[i] < b->in[i];
	return a->index < b->index;
}

/* Write the inputs of k as ,"name":v... */
static void put_inputs(const kva_trap *t, kva_buf *b, const struct tcase *k,
		       const int64_t *pool)
{
	kva_args a;

	memset(&a, 0, sizeof a);
	memcpy(a.in, k->in, sizeof a.in);
	for (int j = 0; j < t->c.o->ntab; j++) {
		a.tab[j].v = (int64_t *)(uintptr_t)(pool + k->toff[j]);
		a.tab[j].n = k->tlen[j];
	}
	kva_args_write(b, t->c.o, &a);
}

static void put_got(const kva_trap *t, kva_buf *b, const struct tcase *k)
{
	if (k->cls == KVA_C_CRASH || k->cls == KVA_C_TIMEOUT ||
	    k->cls == KVA_C_ERROR || !k->got.done) {
		kva_buf_puts(b, "null");
		return;
	}
	if (k->got.rc != 0) {
		kva_buf_puts(b, "{\"none\":true}");
		return;
	}
	if (t->c.kind != KVA_KIND_ROUTE) {
		kva_buf_puts(b, "{\"slot\":");
		kva_buf_i64(b, k->got.out[0]);
		kva_buf_putc(b, '}');
		return;
	}
	kva_route r = { KVA_ROUTED, { 0 } };

	memcpy(r.out, k->got.out, sizeof r.out);
	kva_route_write(b, t->c.o, &r);
}

static int64_t case_slot(const kva_trap *t, const struct tcase *k);

/* ImpactArbiter's short names for the radix-2d inputs, in its map lines. */
static const char *short_name(const kva_trap *t, int i)
{
	static const char *const r2[] = { "b", "h", "prefix_h", "N_h", "bs" };

	if (t->oid == OR_RADIX_2D)
		return r2[i];
	return t->c.o->in[i];
}

static void put_coords(const kva_trap *t, kva_buf *b, const int64_t *out)
{
	for (int i = 0; i < t->c.o->nout; i++)
		kva_buf_printf(b, "%s%s=%lld", i ? " " : "", t->c.o->out[i],
			       (long long)out[i]);
}

/* The map lines for one diverging case, as ImpactArbiter prints them. */
static void map_lines(kva_trap *t, const struct tcase *k)
{
	kva_buf *b = &t->map;
	int nout = t->c.o->nout;

	kva_buf_puts(b, "Token (");
	for (int i = 0; i < t->c.o->nin; i++)
		kva_buf_printf(b, "%s%s=%lld", i ? "," : "", short_name(t, i),
			       (long long)k->in[i]);
	kva_buf_puts(b, ") | Expected: ");
	if (k->expect.status == KVA_UNMAPPED)
		kva_buf_puts(b, "unmapped (no write)");
	else if (k->expect.status == KVA_PADDING)
		kva_buf_puts(b, "padding (no write)");
	else
		put_coords(t, b, k->expect.out);
	kva_buf_puts(b, " | Got: ");
	switch (k->cls) {
	case KVA_C_CRASH:
	case KVA_C_TIMEOUT:
	case KVA_C_ERROR:
		kva_buf_printf(b, "%s (%s)\n", kva_class_names[k->cls], k->why);
		return;
	}
	if (t->c.kind != KVA_KIND_ROUTE) {
		int64_t s = case_slot(t, k), rowf = (int64_t)t->c.heads * t->c.head_dim;

		if (k->got.rc == 0)
			kva_buf_printf(b, "slot=%lld\nNon-zero gradient at: [slot %lld, :] "
				       "\xe2\x80\x94 %lld floats (%s)\n",
				       (long long)k->got.out[0], (long long)k->got.out[0],
				       (long long)rowf, kva_class_names[k->cls]);
		else
			kva_buf_printf(b, "none\nGradient differs at: [slot %lld, :] "
				       "\xe2\x80\x94 %lld floats (%s)\n", (long long)s,
				       (long long)rowf, kva_class_names[k->cls]);
		return;
	}
	if (k->got.rc != 0) {
		kva_buf_puts(b, "no route\n");
		kva_buf_puts(b, "No gradient at: [");
		for (int i = 0; i < nout; i++)
			kva_buf_printf(b, "%lld, ", (long long)k->expect.out[i]);
		kva_buf_printf(b, ":] - %s, %d floats dropped\n",
			       kva_class_names[k->cls], t->c.head_dim);
		return;
	}
	put_coords(t, b, k->got.out);
	kva_buf_puts(b, "\nNon-zero gradient at: [");
	for (int i = 0; i < nout; i++)
		kva_buf_printf(b, "%lld, ", (long long)k->got.out[i]);
	if (k->cls == KVA_C_MISROUTE)
		kva_buf_printf(b, ":] \xe2\x80\x94 misrouted %d floats\n",
			       t->c.head_dim);
	else
		kva_buf_printf(b, ":] \xe2\x80\x94 misrouted %d floats (%s)\n",
			       t->c.head_dim, kva_class_names[k->cls]);
}

static uint64_t world_hash(const kva_trap *t, const struct tcase *k);
static int64_t case_bs(const kva_trap *t, const struct tcase *k);

/* Remember the tokens of k's queue that share its cache: the rows the
 * two dumped gradients are made of.  Routes: same world (sizes, tables);
 * kernels: same block size, cells are slots.  In generator mode the
 * queue holds only the diverging tokens. */
static void keep_world(kva_trap *t, const struct tcase *k)
{
	int route = t->c.kind == KVA_KIND_ROUTE;
	uint64_t w = route ? world_hash(t, k) : 0;

	t->nwtok = 0;
	free(t->wtok);
	if (!(t->wtok = calloc(t->nq + 1, sizeof *t->wtok)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < t->nq; i++) {
		const struct tcase *u = &t->q[i];
		struct dtok *d = &t->wtok[t->nwtok];

		if (u->skipped ||
		    (route ? world_hash(t, u) != w : case_bs(t, u) != case_bs(t, k)))
			continue;
		d->index = u->index;
		if (route) {
			d->oroute = u->expect.status == KVA_ROUTED;
			memcpy(d->oc, u->expect.out, sizeof d->oc);
			d->croute = u->got.done && u->got.rc == 0 &&
				    (u->cls < 0 || u->cls < KVA_C_CRASH);
			memcpy(d->cc, u->cls < 0 ? u->expect.out : u->got.out, sizeof d->cc);
		} else {
			int64_t s = case_slot(t, u);

			d->oroute = s >= 0;
			d->oc[0] = s;
			d->croute = u->cls < 0 ? s >= 0 : u->got.done && u->got.rc == 0;
			d->cc[0] = u->cls < 0 ? s : u->got.out[0];
		}
		t->nwtok++;
	}
}

/* Account for one judged case: counts, divergence record, map, first. */
static void record(kva_trap *t, struct tcase *k)
{
	kva_buf b = { 0 };
	int hi = -1, bi = -1;

	t->diverged++;
	t->cls[k->cls]++;
	if (t->c.kind == KVA_KIND_ROUTE)
		t->divergence = 1.0; /* |g_t| = 1: one token fully elsewhere */
	if (!t->have_first || smaller(t, k, &t->first)) {
		int64_t *tabs;
		size_t tot = 0, off = 0;

		for (int i = 0; i < t->c.o->ntab; i++)
			tot += k->tlen[i];
		if (!(tabs = malloc((tot + 1) * sizeof *tabs)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		t->first = *k;
		for (int i = 0; i < t->c.o->ntab; i++) {
			memcpy(tabs + off, t->pool + k->toff[i], k->tlen[i] * sizeof *tabs);
			t->first.toff[i] = off;
			off += k->tlen[i];
		}
		free(t->first_tab);
		t->first_tab = tabs;
		t->have_first = 1;
		keep_world(t, k);
		snprintf(t->first_file, sizeof t->first_file, "%s",
			 t->file ? t->file : "");
	}
	/* heat map of misrouted mass by the cell's head and block */
	for (int i = 0; i < t->c.o->nout; i++) {
		if (!strcmp(t->c.o->out[i], "head"))
			hi = i;
		if (!strcmp(t->c.o->out[i], "block") || !strcmp(t->c.o->out[i], "page"))
			bi = i;
	}
	if (t->c.kind == KVA_KIND_ROUTE && k->got.done && k->got.rc == 0 && bi >= 0) {
		int64_t h = hi >= 0 ? k->got.out[hi] : 0, bl = k->got.out[bi];

		if (h >= 0 && h < 8 && bl >= 0 && bl < 16) {
			t->heat[h][bl] += (uint64_t)t->c.head_dim;
			if (h + 1 > t->heat_h)
				t->heat_h = (int)h + 1;
			if (bl + 1 > t->heat_b)
				t->heat_b = (int)bl + 1;
		}
	}
	if (t->printed >= (uint64_t)t->c.max_map)
		return;
	t->printed++;
	map_lines(t, k);
	if (t->c.text)
		return;
	kva_buf_puts(&b, "{\"type\":\"divergence\",\"case\":");
	kva_buf_i64(&b, (int64_t)k->index);
	if (k->line) {
		kva_buf_puts(&b, ",\"file\":");
		kva_buf_jstr(&b, t->file, strlen(t->file));
		kva_buf_puts(&b, ",\"line\":");
		kva_buf_i64(&b, k->line);
	}
	kva_buf_puts(&b, ",\"class\":");
	kva_buf_jstr(&b, kva_class_names[k->cls], strlen(kva_class_names[k->cls]));
	kva_buf_puts(&b, ",\"oracle\":");
	kva_buf_jstr(&b, t->c.o->name, strlen(t->c.o->name));
	kva_buf_puts(&b, ",\"inputs\":{");
	{
		size_t at = b.len;

		put_inputs(t, &b, k, t->pool);
		b.p[at] = ' '; /* drop the leading comma */
		memmove(b.p + at, b.p + at + 1, b.len - at - 1);
		b.len--;
	}
	kva_buf_puts(&b, "},\"expect\":");
	kva_route_write(&b, t->c.o, &k->expect);
	kva_buf_puts(&b, ",\"got\":");
	put_got(t, &b, k);
	if (k->why[0]) {
		kva_buf_puts(&b, ",\"why\":");
		kva_buf_jstr(&b, k->why, strlen(k->why));
	}
	kva_buf_puts(&b, ",\"divergence\":1,\"floats\":");
	kva_buf_i64(&b, t->c.kind == KVA_KIND_ROUTE ? t->c.head_dim :
		    (int64_t)t->c.heads * t->c.head_dim);
	kva_buf_putc(&b, '}');
	kva_out_record(&b);
	kva_buf_free(&b);
}

/* The candidate crashed, exited or hung while loading (its constructors
 * run then): a finding of its own, with no case to pin it to; every case
 * from here on is not run. */
static void load_finding(kva_trap *t, int cls, const char *why)
{
	char stop[160];
	kva_buf b = { 0 };

	t->cls[cls]++;
	t->divergence = 1;
	if (t->load_cls < 0) {
		t->load_cls = cls;
		snprintf(t->load_why, sizeof t->load_why, "%s", why);
	}
	snprintf(stop, sizeof stop, "the candidate did not load: %s %s",
		 kva_class_names[cls], why);
	stop_running(t, stop);
	kva_buf_printf(&t->map, "Load | Expected: the candidate's symbol | Got: %s (%s)\n",
		       kva_class_names[cls], why);
	if (t->c.text)
		return;
	kva_buf_puts(&b, "{\"type\":\"divergence\",\"phase\":\"load\",\"class\":");
	kva_buf_jstr(&b, kva_class_names[cls], strlen(kva_class_names[cls]));
	kva_buf_puts(&b, ",\"oracle\":");
	kva_buf_jstr(&b, t->c.o->name, strlen(t->c.o->name));
	kva_buf_puts(&b, ",\"candidate\":");
	kva_buf_jstr(&b, t->c.cand_name, strlen(t->c.cand_name));
	kva_buf_puts(&b, ",\"why\":");
	kva_buf_jstr(&b, why, strlen(why));
	kva_buf_puts(&b, ",\"divergence\":1}");
	kva_out_record(&b);
	kva_buf_free(&b);
}

static int kv_run_queue(kva_trap *t, kva_err *e);

int kva_trap_flush(kva_trap *t, kva_err *e)
{
	if (!t->nq)
		return 0;
	if (t->c.kind != KVA_KIND_ROUTE) {
		if (kv_run_queue(t, e))
			return -1;
	} else {
		if (run_queue(t, e))
			return -1;
		for (size_t i = 0; i < t->nq; i++)
			t->q[i].cls = judge(t, &t->q[i]);
		refine(t);
	}
	for (size_t i = 0; i < t->nq; i++)
		if (t->q[i].cls >= 0)
			record(t, &t->q[i]);
	t->cases += t->nq;
	t->nq = 0;
	t->npool = 0;
	return 0;
}

/* ---- built-in generator mode ----------------------------------------------------------- */

/* Parent side of the child's stream: findings since the last heartbeat
 * are held back, and committed (judged, recorded) when one arrives, so a
 * crash can re-run exactly the unaccounted cases. */
struct gstream {
	kva_trap *t;
	uint64_t beat;           /* every case below this is accounted for */
	uint64_t msgs;           /* complete messages: the progress */
	int done, rc;
	int garbled;             /* a message that is not the trap's */
};

static void commit(kva_trap *t, uint64_t beat)
{
	for (size_t i = 0; i < t->nq; i++)
		t->q[i].cls = judge(t, &t->q[i]);
	refine(t);
	for (size_t i = 0; i < t->nq; i++)
		if (t->q[i].cls >= 0)
			record(t, &t->q[i]);
	t->nq = 0;
	t->npool = 0;
	t->cases = beat;
}

/* Is m one of the trap's messages, in order?  (Bytes a candidate wrote
 * into the pipe by itself are not.) */
static int gmsg_ok(const struct gstream *gs, const struct gmsg *m)
{
	const kva_trap *t = gs->t;
	uint64_t tab = 0;

	if (m->tag != t->seq || m->index < gs->beat)
		return 0;
	if (m->type == GMSG_BEAT || m->type == GMSG_DONE)
		return m->len == 0;
	if (m->type != GMSG_DIV || m->got.done != 1 || m->got.tag != t->seq)
		return 0;
	for (int j = 0; j < KVA_MAX_TAB; j++) {
		if (m->tlen[j] > MAX_TABLE || (j >= t->c.o->ntab && m->tlen[j]))
			return 0;
		tab += (uint64_t)m->tlen[j] * 4;
	}
	return tab == m->len;
}

static int gstream_done(kva_buf *rep, void *ctx, uint64_t *units)
{
	struct gstream *gs = ctx;
	kva_trap *t = gs->t;
	size_t off = 0;

	while (!gs->garbled && rep->len - off >= sizeof(struct gmsg)) {
		struct gmsg m;
		struct tcase *k;

		memcpy(&m, rep->p + off, sizeof m);
		if (!gmsg_ok(gs, &m)) {
			gs->garbled = 1;
			break;
		}
		if (rep->len - off < sizeof m + m.len)
			break;
		if (m.type == GMSG_DIV) {
			const char *tp = rep->p + off + sizeof m;
			kva_args a;
			kva_route r;
			kva_err e;

			if (t->nq == t->capq) {
				t->capq = t->capq ? 2 * t->capq : 1024;
				if (!(t->q = realloc(t->q, t->capq * sizeof *t->q)))
					kva_die(KVA_EXIT_TROUBLE, "out of memory");
			}
			memset(&a, 0, sizeof a);
			memcpy(a.in, m.in, sizeof a.in);
			k = &t->q[t->nq];
			memset(k, 0, sizeof *k);
			memcpy(k->in, m.in, sizeof k->in);
			for (int j = 0; j < t->c.o->ntab; j++) {
				if (t->npool + m.tlen[j] > t->cappool) {
					t->cappool = 2 * (t->npool + m.tlen[j]) + 1024;
					if (!(t->pool = realloc(t->pool, t->cappool * sizeof *t->pool)))
						kva_die(KVA_EXIT_TROUBLE, "out of memory");
				}
				k->toff[j] = t->npool;
				k->tlen[j] = m.tlen[j];
				for (uint32_t x = 0; x < m.tlen[j]; x++) {
					int32_t v;

					memcpy(&v, tp, 4);
					tp += 4;
					t->pool[t->npool++] = v;
				}
			}
			for (int j = 0; j < t->c.o->ntab; j++) {
				a.tab[j].v = t->pool + k->toff[j];
				a.tab[j].n = k->tlen[j];
			}
			if (kva_oracle_eval(t->c.o, &a, &r, &e)) {
				/* not a case the generator makes: not ours */
				gs->garbled = 1;
				break;
			}
			k->expect = r;
			k->got = m.got;
			k->index = m.index;
			k->cls = -1;
			t->nq++;
		} else {
			commit(t, m.index);
			gs->beat = m.index;
			if (m.type == GMSG_DONE) {
				gs->done = 1;
				gs->rc = m.got.rc;
			}
		}
		gs->msgs++;
		off += sizeof m + m.len;
	}
	if (off) {
		memmove(rep->p, rep->p + off, rep->len - off);
		rep->len -= off;
	}
	*units = gs->msgs;
	return gs->done || gs->garbled;
}

struct gen_feed {
	kva_trap *t;
	kva_err *e;
	uint64_t skip, seen;
	int failed;
};

/* kva_emit_fn in the parent (co-processes, kernels, and the remainder of
 * a generator run after the child crashed): queue the case. */
static int feed(void *vctx, const kva_oracle *o, const kva_args *a)
{
	struct gen_feed *f = vctx;
	kva_route r;
	kva_err e;

	if (f->seen++ < f->skip)
		return 0;
	if (kva_oracle_eval(o, a, &r, &e))
		return 0;
	if (kva_trap_add(f->t, a, &r, "", 0, f->e)) {
		f->failed = 1;
		return 1;
	}
	return 0;
}

/* Generate in the parent, skipping the first skip cases. */
static int generate_here(kva_trap *t, const char *mode, const char *arg,
			 uint64_t n, const kva_gen_opts *go, uint64_t skip,
			 kva_err *e)
{
	struct gen_feed f = { t, e, skip, 0, 0 };
	int rc;

	if (!strcmp(mode, "boundaries")) {
		rc = kva_gen_fixtures(t->c.o, feed, &f, e);
		if (!rc && !f.failed)
			rc = kva_gen_boundaries(t->c.o, go, feed, &f, e);
	} else if (!strcmp(mode, "sweep")) {
		rc = kva_gen_sweep(t->c.o, arg, go, feed, &f, e);
	} else {
		rc = kva_gen_random(t->c.o, n, go, feed, &f, e);
	}
	if (rc || f.failed)
		return -1;
	return kva_trap_flush(t, e);
}

/* kva_emit_fn that stops at the first case: checks a sweep spec. */
static int stop_at_once(void *ctx, const kva_oracle *o, const kva_args *a)
{
	(void)ctx;
	(void)o;
	(void)a;
	return 1;
}

/*
 * See trap.h.  Route candidates in a shared object: the child generates
 * the cases and runs them itself, streaming back only disagreements and a
 * heartbeat every BEAT_EVERY cases.  If it crashes or hangs, the cases
 * after the last heartbeat are generated here and run batch-wise, which
 * pins the culprit to its case.
 */
int kva_trap_generate(kva_trap *t, const char *mode, const char *arg,
		      uint64_t n, const kva_gen_opts *go, kva_err *e)
{
	struct req_hdr hd = { REQ_MAGIC, MODE_GENERATE, 0, 0, 0, 0, 0 };
	struct greq gr;
	struct gstream gs;
	int st, g;

	if (t->c.cmd || t->c.kind != KVA_KIND_ROUTE)
		return generate_here(t, mode, arg, n, go, 0, e);
	/* validate the spec here: a bad one is our error, not the child's */
	if (!strcmp(mode, "sweep") && kva_gen_sweep(t->c.o, arg, go, stop_at_once,
						     NULL, e))
		return -1;
	if ((g = ensure_child(t, e)) < 0)
		return -1;
	if (g > 0)               /* it does not load: count what is not run */
		return generate_here(t, mode, arg, n, go, 0, e);
	memset(&gr, 0, sizeof gr);
	gr.gen = !strcmp(mode, "boundaries") ? 0 : !strcmp(mode, "sweep") ? 1 : 2;
	gr.speclen = arg ? (uint32_t)strlen(arg) : 0;
	gr.n = n;
	gr.seed = go->seed;
	gr.num_heads = go->num_heads;
	hd.seq = ++t->seq;
	t->req.len = 0;
	kva_buf_put(&t->req, &hd, sizeof hd);
	kva_buf_put(&t->req, &gr, sizeof gr);
	kva_buf_put(&t->req, arg ? arg : "", gr.speclen);
	((struct req_hdr *)(void *)t->req.p)->len = t->req.len - sizeof hd;
	memset(&gs, 0, sizeof gs);
	gs.t = t;
	t->rep.len = 0;
	st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep, gstream_done,
			      &gs, t->c.lim.timeout_s);
	if (st == KVA_SBX_OK && !gs.garbled) {
		if (gs.rc)
			return kva_errf(e, NULL, "generator failed in the sandbox");
		return 0;
	}
	/* a crash, hang or garbled stream: drop the findings after the last
	 * heartbeat and redo those cases batch-wise, which pins the culprit */
	kva_sbx_stop(&t->sbx);
	t->nq = 0;
	t->npool = 0;
	t->cases = gs.beat;
	return generate_here(t, mode, arg, n, go, gs.beat, e);
}

/* ---- reports ------------------------------------------------------------------------------ */

/* HARD_BLOCK when the gradients differ by more than --tol, or when the
 * candidate crashed, hung or answered nonsense (no gradient at all). */
int kva_trap_verdict(const kva_trap *t)
{
	return t->divergence > t->c.tol || t->cls[KVA_C_CRASH] ||
	       t->cls[KVA_C_TIMEOUT] || t->cls[KVA_C_ERROR];
}

static void put_classes(const kva_trap *t, kva_buf *b)
{
	kva_buf_putc(b, '{');
	for (int i = 0; i < KVA_C_N; i++) {
		if (i)
			kva_buf_putc(b, ',');
		kva_buf_jstr(b, kva_class_names[i], strlen(kva_class_names[i]));
		kva_buf_putc(b, ':');
		kva_buf_i64(b, (int64_t)t->cls[i]);
	}
	kva_buf_putc(b, '}');
}

static void put_first(const kva_trap *t, kva_buf *b)
{
	if (!t->have_first && t->load_cls >= 0) {
		kva_buf_puts(b, "{\"class\":");
		kva_buf_jstr(b, kva_class_names[t->load_cls],
			     strlen(kva_class_names[t->load_cls]));
		kva_buf_puts(b, ",\"phase\":\"load\",\"why\":");
		kva_buf_jstr(b, t->load_why, strlen(t->load_why));
		kva_buf_putc(b, '}');
		return;
	}
	if (!t->have_first) {
		kva_buf_puts(b, "null");
		return;
	}
	kva_buf_puts(b, "{\"class\":");
	kva_buf_jstr(b, kva_class_names[t->first.cls],
		     strlen(kva_class_names[t->first.cls]));
	kva_buf_puts(b, ",\"case\":");
	kva_buf_i64(b, (int64_t)t->first.index);
	put_inputs(t, b, &t->first, t->first_tab);
	kva_buf_puts(b, ",\"expect\":");
	kva_route_write(b, t->c.o, &t->first.expect);
	kva_buf_puts(b, ",\"got\":");
	put_got(t, b, &t->first);
	kva_buf_putc(b, '}');
}

static double elapsed(const kva_trap *t)
{
	return (t->t1 > 0 ? t->t1 : kva_now()) - t->t0;
}

/* Cases run and judged (the rest were not run). */
static uint64_t checked(const kva_trap *t)
{
	return t->cases - t->not_run;
}

static int profile(const kva_trap *t)
{
	return t->c.cmd ? KVA_SBX_CMD : t->c.cuda ? KVA_SBX_CUDA : KVA_SBX_LOADER;
}

void kva_trap_summary(const kva_trap *t, kva_buf *b)
{
	double s = elapsed(t);
	int hard = kva_trap_verdict(t);

	kva_buf_puts(b, "{\"type\":\"summary\",\"oracle\":");
	kva_buf_jstr(b, t->c.o->name, strlen(t->c.o->name));
	kva_buf_puts(b, ",\"kind\":\"");
	kva_buf_puts(b, kva_kind_names[t->c.kind]);
	kva_buf_puts(b, "\",\"candidate\":{\"path\":");
	kva_buf_jstr(b, t->c.cand_name, strlen(t->c.cand_name));
	kva_buf_puts(b, ",\"sha256\":\"");
	kva_buf_puts(b, t->c.sha256);
	kva_buf_puts(b, "\"},\"cases\":");
	kva_buf_i64(b, (int64_t)checked(t));
	kva_buf_puts(b, ",\"diverged\":");
	kva_buf_i64(b, (int64_t)t->diverged);
	kva_buf_printf(b, ",\"divergence\":%.17g,\"tol\":%.17g,\"verdict\":\"%s\","
		       "\"classes\":", t->divergence, t->c.tol,
		       hard ? "HARD_BLOCK" : "PASS");
	put_classes(t, b);
	kva_buf_puts(b, ",\"first\":");
	put_first(t, b);
	kva_buf_puts(b, ",\"not_run\":");
	kva_buf_i64(b, (int64_t)t->not_run);
	kva_buf_puts(b, ",\"not_run_reason\":");
	if (t->not_run || t->stop_why[0])
		kva_buf_jstr(b, t->stop_why, strlen(t->stop_why));
	else
		kva_buf_puts(b, "null");
	kva_buf_puts(b, ",\"confinement\":");
	kva_sbx_layers_json(b, t->layers, profile(t), t->c.lim.confine);
	kva_buf_printf(b, ",\"seconds\":%.6f,\"cases_per_s\":%.0f,\"seed\":%llu}",
		       s, s > 0 ? (double)checked(t) / s : 0.0,
		       (unsigned long long)t->c.seed);
}

void kva_trap_text(const kva_trap *t, kva_buf *b)
{
	static const char ramp[] = " .:-=+*#%@";

	if (!kva_trap_verdict(t)) {
		kva_buf_printf(b, "[AUTOGRAD TRAP PASS] divergence=%.2e <= tol=%.0e "
			       "(%llu cases, oracle %s)\n", t->divergence, t->c.tol,
			       (unsigned long long)checked(t), t->c.o->name);
		return;
	}
	kva_buf_printf(b, "[AUTOGRAD TRAP FAIL \xe2\x80\x94 HARD_BLOCK] divergence=%.2e "
		       "> tol=%.0e\n", t->divergence, t->c.tol);
	kva_buf_puts(b, "GRADIENT DIVERGENCE MAP \xe2\x80\x94 KV_cache.grad (");
	for (int i = 0; i < t->c.o->nout; i++)
		kva_buf_printf(b, "%s%s", i ? " \xc3\x97 " : "", t->c.o->out[i]);
	kva_buf_puts(b, ")\n");
	kva_buf_put(b, t->map.p ? t->map.p : "", t->map.len);
	if (t->diverged > t->printed)
		kva_buf_printf(b, "... %llu more diverging cases (see --max-map)\n",
			       (unsigned long long)(t->diverged - t->printed));
	kva_buf_printf(b, "%llu of %llu cases diverged:", (unsigned long long)t->diverged,
		       (unsigned long long)checked(t));
	for (int i = 0; i < KVA_C_N; i++)
		if (t->cls[i])
			kva_buf_printf(b, " %s=%llu", kva_class_names[i],
				       (unsigned long long)t->cls[i]);
	kva_buf_putc(b, '\n');
	if (t->not_run)
		kva_buf_printf(b, "%llu cases not run: %s\n",
			       (unsigned long long)t->not_run, t->stop_why);
	if (t->heat_b > 0) {
		uint64_t max = 1;

		for (int h = 0; h < t->heat_h; h++)
			for (int bl = 0; bl < t->heat_b; bl++)
				if (t->heat[h][bl] > max)
					max = t->heat[h][bl];
		kva_buf_puts(b, "misrouted mass, head \xc3\x97 block (where it landed):\n");
		kva_buf_puts(b, "     block");
		for (int bl = 0; bl < t->heat_b; bl++)
			kva_buf_printf(b, "%3d", bl);
		kva_buf_putc(b, '\n');
		for (int h = 0; h < t->heat_h; h++) {
			kva_buf_printf(b, "head %-6d", h);
			for (int bl = 0; bl < t->heat_b; bl++) {
				uint64_t v = t->heat[h][bl];
				int lvl = v ? 1 + (int)((v * 8) / max) : 0;

				kva_buf_puts(b, "  ");
				kva_buf_putc(b, ramp[lvl > 9 ? 9 : lvl]);
			}
			kva_buf_putc(b, '\n');
		}
	}
}

void kva_trap_get_facts(const kva_trap *t, kva_trap_facts *f)
{
	kva_buf b = { 0 };

	memset(f, 0, sizeof *f);
	f->cases = checked(t);
	f->not_run = t->not_run;
	f->diverged = t->diverged;
	f->divergence = t->divergence;
	f->seconds = elapsed(t);
	f->verdict = kva_trap_verdict(t) ? "HARD_BLOCK" : "PASS";
	if (t->have_first || t->load_cls >= 0) {
		put_first(t, &b);
		snprintf(f->first_case, sizeof f->first_case, "%s", b.p);
	}
	b.len = 0;
	put_classes(t, &b);
	snprintf(f->classes, sizeof f->classes, "%s", b.p);
	b.len = 0;
	kva_sbx_layers_json(&b, t->layers, profile(t), t->c.lim.confine);
	snprintf(f->confinement, sizeof f->confinement, "%s", b.p);
	kva_buf_free(&b);
}

/* Signature value of token `id`, element d (seeded, exact in float,
 * in [-1, 1], element 0 always 1 so max|g_t| = 1). */
static float signature(uint64_t seed, uint64_t id, int d)
{
	if (d == 0)
		return 1.0f;
	return (float)((int)(mix64(mix64(seed, id), (uint64_t)d) & 0xffff) - 32768) /
	       32768.0f;
}

enum { SIG_TOKEN, SIG_CELL, SIG_GUARD };
static float ksig(uint64_t seed, uint64_t id, int64_t h, int64_t d, int what);

/* A row of a dumped gradient: a cell and the tokens scattered into it. */
struct drow {
	int64_t cell[KVA_MAX_OUT];
	uint64_t index;
};

static int ncoord;

static int drow_cmp(const void *a, const void *b)
{
	const struct drow *x = a, *y = b;

	for (int i = 0; i < ncoord; i++)
		if (x->cell[i] != y->cell[i])
			return x->cell[i] < y->cell[i] ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* See trap.h.  Each tensor is the scatter of the world's token
 * signatures into the cells the oracle (or the candidate) chose; tokens
 * in one cell add up, as gradients do.  Cells with a negative coordinate
 * cannot be indexed and are counted in "outside". */
int kva_trap_dump(const kva_trap *t, const char *path, kva_err *e)
{
	int route = t->c.kind == KVA_KIND_ROUTE;
	int nc = route ? t->c.o->nout : 1;
	int64_t width = route ? t->c.head_dim : (int64_t)t->c.heads * t->c.head_dim;
	int64_t shape[KVA_MAX_OUT];
	struct drow *rows = malloc((t->nwtok + 1) * sizeof *rows);
	float *acc = malloc((size_t)width * sizeof *acc);
	kva_buf b = { 0 };
	FILE *fp;

	if (!rows || !acc)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int i = 0; i < nc; i++)
		shape[i] = 1;
	for (size_t j = 0; j < t->nwtok; j++)
		for (int i = 0; i < nc; i++) {
			const struct dtok *d = &t->wtok[j];

			if (d->oroute && d->oc[i] + 1 > shape[i])
				shape[i] = d->oc[i] + 1;
			if (d->croute && d->cc[i] + 1 > shape[i])
				shape[i] = d->cc[i] + 1;
		}
	if (!(fp = fopen(path, "w"))) {
		free(rows);
		free(acc);
		return kva_errf(e, NULL, "%s: %s", path, strerror(errno));
	}
	for (int which = 0; which < 2; which++) {
		const char *name = which ? "grad.candidate" : "grad.oracle";
		size_t nr = 0, outside = 0;

		for (size_t j = 0; j < t->nwtok; j++) {
			const struct dtok *d = &t->wtok[j];
			const int64_t *c = which ? d->cc : d->oc;
			int neg = 0;

			if (!(which ? d->croute : d->oroute))
				continue;
			for (int i = 0; i < nc; i++)
				neg |= c[i] < 0;
			if (neg) {
				outside++;
				continue;
			}
			memcpy(rows[nr].cell, c, sizeof rows[nr].cell);
			rows[nr++].index = d->index;
		}
		ncoord = nc;
		qsort(rows, nr, sizeof *rows, drow_cmp);
		b.len = 0;
		kva_buf_puts(&b, "{\"type\":\"tensor\",\"name\":");
		kva_buf_jstr(&b, name, strlen(name));
		kva_buf_puts(&b, ",\"dtype\":\"f32\",\"shape\":[");
		for (int i = 0; i < nc; i++)
			kva_buf_printf(&b, "%lld,", (long long)shape[i]);
		kva_buf_printf(&b, "%lld],\"layout\":\"", (long long)width);
		if (route)
			for (int i = 0; i < nc; i++)
				kva_buf_printf(&b, "%s,", t->c.o->out[i]);
		else
			kva_buf_puts(&b, "slot,");
		kva_buf_printf(&b, "%s\",\"source\":\"grad-trap\",\"rows\":\"values\","
			       "\"sparse\":true,\"tokens\":%zu,\"outside\":%zu}\n",
			       route ? "dim" : "head_dim", nr, outside);
		for (size_t j = 0; j < nr;) {
			size_t k = j;

			for (int64_t x = 0; x < width; x++)
				acc[x] = 0;
			for (; k < nr && !memcmp(rows[k].cell, rows[j].cell,
						 (size_t)nc * sizeof(int64_t)); k++)
				for (int64_t x = 0; x < width; x++)
					acc[x] += route ? signature(t->c.seed, rows[k].index, (int)x) :
						  ksig(t->c.seed, rows[k].index + 1, x / t->c.head_dim,
						       x % t->c.head_dim, SIG_TOKEN);
			kva_buf_puts(&b, "{\"type\":\"cells\",\"name\":");
			kva_buf_jstr(&b, name, strlen(name));
			kva_buf_puts(&b, ",\"index\":[");
			for (int i = 0; i < nc; i++)
				kva_buf_printf(&b, "%s%lld", i ? "," : "", (long long)rows[j].cell[i]);
			kva_buf_puts(&b, "],\"values\":[");
			for (int64_t x = 0; x < width; x++)
				kva_buf_printf(&b, "%s%.9g", x ? "," : "", (double)acc[x]);
			kva_buf_puts(&b, "]}\n");
			j = k;
		}
		fwrite(b.p, 1, b.len, fp);
	}
	kva_buf_free(&b);
	free(rows);
	free(acc);
	if (ferror(fp) | fclose(fp))
		return kva_errf(e, NULL, "%s: write error", path);
	return 0;
}

void kva_trap_free(kva_trap *t)
{
	if (!t)
		return;
	kva_sbx_stop(&t->sbx);
	if (t->sofd >= 0)
		close(t->sofd);
	free(t->q);
	free(t->pool);
	free(t->first_tab);
	free(t->wtok);
	kva_buf_free(&t->req);
	kva_buf_free(&t->rep);
	kva_buf_free(&t->map);
	free(t);
}

/* ==== write and gather kernels ============================================
 *
 * The trap gives the candidate kernel a batch of tokens with their
 * slots (from the cases' expect; unmapped and padding tokens get slot -1,
 * no write) and compares what it did with the CPU twin in kernels/:
 *
 *   write   the cache starts poisoned (a NaN bit pattern) between two
 *           poisoned guard zones; every token row is its signature g_t.
 *           The written cache is the gradient of L with respect to the
 *           cache; each cell is decoded back to the token it holds.
 *   gather  every token's cell holds g_t, every other cell a signature of
 *           its own slot, the guard zones a guard signature; each output
 *           row is decoded to the cell it was read from.
 */

#define GAP_BITS 0x7fb0b0b0u     /* source row padding: never to be read */

enum { DEC_POISON, DEC_FULL, DEC_PARTIAL, DEC_CELL, DEC_GUARD, DEC_GARBAGE };

/* Element (h, d) of the signature of a token, an unowned cell or a guard
 * zone with identity id: exact in float, in [-1, 1]; element 0 tells the
 * three apart (1, -1, -0.5) and elements 1-3 carry id in 16-bit pieces. */
static float ksig(uint64_t seed, uint64_t id, int64_t h, int64_t d, int what)
{
	static const float anchor[] = { 1.0f, -1.0f, -0.5f };

	if (d == 0)
		return anchor[what];
	if (d <= 3)
		return (float)((id >> (16 * (d - 1))) & 0xffff) / 65536.0f;
	return (float)((int)(mix64(mix64(seed ^ (uint64_t)what, id),
				   (uint64_t)(h * 65536 + d)) & 0xffff) - 32768) / 32768.0f;
}

static int is_bits(float f, uint32_t bits)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u == bits;
}

/* What a row of H*D floats holds.  *id is the token id, cell slot + 1 or
 * 0.  A row that starts like a token's but differs elsewhere is partial. */
static int decode(const kva_trap *t, const float *row, int64_t H, int64_t D,
		  uint64_t *id)
{
	int64_t n = H * D, poison = 0;
	int what;
	uint64_t v = 0;

	*id = 0;
	for (int64_t i = 0; i < n; i++)
		poison += is_bits(row[i], POISON_BITS);
	if (poison == n)
		return DEC_POISON;
	if (row[0] == 1.0f)
		what = SIG_TOKEN;
	else if (row[0] == -1.0f)
		what = SIG_CELL;
	else if (row[0] == -0.5f)
		what = SIG_GUARD;
	else
		return DEC_GARBAGE;
	for (int d = 1; d <= 3; d++) {
		float f = row[d];

		if (!(f >= 0.0f && f < 1.0f))
			return what == SIG_TOKEN ? DEC_GARBAGE : DEC_GARBAGE;
		v |= (uint64_t)(f * 65536.0f) << (16 * (d - 1));
	}
	*id = v;
	for (int64_t h = 0; h < H; h++)
		for (int64_t d = 0; d < D; d++)
			if (row[h * D + d] != ksig(t->c.seed, v, h, d, what) ||
			    is_bits(row[h * D + d], POISON_BITS))
				return what == SIG_TOKEN ? DEC_PARTIAL : DEC_GARBAGE;
	return what == SIG_TOKEN ? DEC_FULL : what == SIG_CELL ? DEC_CELL : DEC_GUARD;
}

/* Slot and block size of a case for the kernels (slot -1: no write). */
static int64_t case_slot(const kva_trap *t, const struct tcase *k)
{
	if (k->expect.status != KVA_ROUTED)
		return -1;
	if (t->oid == OR_FLASHINFER)
		return k->expect.out[0] * k->in[2] + k->expect.out[1];
	return k->expect.out[2];
}

static int64_t case_bs(const kva_trap *t, const struct tcase *k)
{
	return t->oid == OR_FLASHINFER ? k->in[2] : k->in[1];
}

/* Element difference for the divergence: poison counts as 0 (nothing
 * written), any other non-number as a full unit. */
static double elem(float f)
{
	if (is_bits(f, POISON_BITS))
		return 0;
	if (f != f)
		return 2;
	return f;
}

/* Mark token k diverging with class c, the landing slot (or -1). */
static void kmark(struct tcase *k, int c, int64_t landed)
{
	if (k->cls >= 0)
		return;
	k->cls = c;
	k->got.done = 1;
	k->got.rc = landed < 0;
	k->got.out[0] = landed;
}

/* Open-addressing map slot -> local token index for one batch. */
struct slotmap {
	int64_t *key;
	int64_t *val;
	size_t cap;
};

static void slotmap_init(struct slotmap *m, size_t n)
{
	for (m->cap = 16; m->cap < 4 * n; m->cap *= 2)
		;
	m->key = malloc(m->cap * sizeof *m->key);
	m->val = malloc(m->cap * sizeof *m->val);
	if (!m->key || !m->val)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < m->cap; i++)
		m->key[i] = -1;
}

/* The entry for slot s (created with value -1 when absent). */
static int64_t *slotmap_at(struct slotmap *m, int64_t s)
{
	size_t i = (size_t)mix64(0, (uint64_t)s) & (m->cap - 1);

	while (m->key[i] != -1 && m->key[i] != s)
		i = (i + 1) & (m->cap - 1);
	if (m->key[i] == -1) {
		m->key[i] = s;
		m->val[i] = -1;
	}
	return &m->val[i];
}

/* The token owning slot s, or -1; inserts nothing. */
static int64_t slotmap_get(const struct slotmap *m, int64_t s)
{
	size_t i = (size_t)mix64(0, (uint64_t)s) & (m->cap - 1);

	while (m->key[i] != -1) {
		if (m->key[i] == s)
			return m->val[i];
		i = (i + 1) & (m->cap - 1);
	}
	return -1;
}

static void slotmap_free(struct slotmap *m)
{
	free(m->key);
	free(m->val);
}

static const char *const layout_names[] = { "nhd", "hnd", "vllm-x" };

/* Does slot s hold token id's row when the cache is read in another
 * layout (a kernel that confused NHD, HND and vLLM's x-chunked key
 * layout)?  Returns that layout, or -1.  row is scratch of H*D floats. */
static int other_layout(const kva_trap *t, const kva_cache_desc *dc,
			const float *cache, int64_t s, uint64_t id, float *row)
{
	int64_t H = dc->num_heads, D = dc->head_dim;

	for (int l = 0; l < 3; l++) {
		kva_cache_desc o = *dc;
		const char *why;
		int64_t bad = 0;

		if (l == dc->layout)
			continue;
		o.layout = l;
		o.x = l == KVA_LAYOUT_VLLM_X ? t->c.x : 1;
		if (kva_cache_desc_check(&o, &why))
			continue;
		for (int64_t h = 0; h < H && !bad; h++)
			for (int64_t d = 0; d < D && !bad; d++) {
				row[h * D + d] = cache[kva_cache_index(&o, s, h, d)];
				bad = row[h * D + d] != ksig(t->c.seed, id, h, d, SIG_TOKEN);
			}
		if (!bad)
			return l;
	}
	return -1;
}

/* Classify a write kernel's cache.  cand and ref are guard+cache+guard. */
static void judge_write(kva_trap *t, size_t from, size_t n, const kva_cache_desc *dc,
			const float *cand, int64_t guard, struct slotmap *owner)
{
	int64_t H = dc->num_heads, D = dc->head_dim;
	int64_t ncell = (int64_t)dc->num_blocks * dc->block_size;
	uint64_t base = t->q[from].index + 1;
	float *row = malloc((size_t)(H * D) * sizeof *row);
	int *kind = malloc((size_t)ncell * sizeof *kind);
	uint64_t *cid = malloc((size_t)ncell * sizeof *cid);
	int64_t *full_at = malloc(n * sizeof *full_at), *part_at = malloc(n * sizeof *part_at);
	int guard_bad = 0;

	if (!row || !kind || !cid || !full_at || !part_at)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int64_t i = 0; i < guard; i++)
		if (!is_bits(cand[i], POISON_BITS) ||
		    !is_bits(cand[guard + kva_cache_elems(dc) + i], POISON_BITS))
			guard_bad = 1;
	for (size_t i = 0; i < n; i++)
		full_at[i] = part_at[i] = -1;
	/* what each cell holds, and where each token's row went */
	for (int64_t s = 0; s < ncell; s++) {
		for (int64_t h = 0; h < H; h++)
			for (int64_t d = 0; d < D; d++)
				row[h * D + d] = cand[guard + kva_cache_index(dc, s, h, d)];
		kind[s] = decode(t, row, H, D, &cid[s]);
		if ((kind[s] == DEC_FULL || kind[s] == DEC_PARTIAL) &&
		    cid[s] >= base && cid[s] - base < n) {
			size_t u = (size_t)(cid[s] - base);
			int64_t own = case_slot(t, &t->q[from + u]);
			int64_t *at = kind[s] == DEC_FULL ? &full_at[u] : &part_at[u];

			if (*at < 0 || *at == own || s == own)
				*at = s == own && *at >= 0 && *at != own ? *at : s;
			if (kind[s] == DEC_FULL && s != own)
				full_at[u] = s; /* prefer where it strayed to */
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct tcase *k = &t->q[from + i];
		int64_t s = case_slot(t, k), u;
		uint64_t id = base + i;
		int lay;

		if (s < 0) {
			if (full_at[i] >= 0 || part_at[i] >= 0)
				kmark(k, KVA_C_UNMAPPED_WRITE, full_at[i] >= 0 ? full_at[i] : part_at[i]);
			continue;
		}
		if (kind[s] == DEC_FULL && cid[s] == id) {
			if (full_at[i] >= 0 && full_at[i] != s)
				kmark(k, KVA_C_STRAY_WRITE, full_at[i]);
			continue;
		}
		if (full_at[i] >= 0 && full_at[i] != s) {
			u = slotmap_get(owner, full_at[i]);
			if (u >= 0) {
				int64_t su = full_at[i];
				int swapped = kind[s] == DEC_FULL && cid[s] == base + (uint64_t)u;

				(void)su;
				kmark(k, swapped ? KVA_C_PERMUTATION : KVA_C_COLLISION, full_at[i]);
			} else {
				kmark(k, KVA_C_MISROUTE, full_at[i]);
			}
		} else if (kind[s] == DEC_FULL && cid[s] >= base && cid[s] - base < n) {
			kmark(k, KVA_C_COLLISION, -1);
		} else if ((lay = other_layout(t, dc, cand + guard, s, id, row)) >= 0) {
			kmark(k, KVA_C_MISROUTE, s);
			snprintf(k->why, sizeof k->why, "row written in the %s layout",
				 layout_names[lay]);
		} else if (guard_bad) {
			kmark(k, KVA_C_OOB, -1);
		} else if (kind[s] == DEC_PARTIAL || part_at[i] >= 0) {
			kmark(k, KVA_C_PARTIAL_ROW, part_at[i] >= 0 ? part_at[i] : s);
		} else {
			kmark(k, KVA_C_MISSING, -1);
		}
	}
	/* writes to cells no token owns that no finding above explains */
	for (int64_t s = 0; s < ncell; s++) {
		size_t who = 0;

		if (kind[s] == DEC_POISON || slotmap_get(owner, s) >= 0)
			continue;
		if ((kind[s] == DEC_FULL || kind[s] == DEC_PARTIAL) &&
		    cid[s] >= base && cid[s] - base < n)
			who = (size_t)(cid[s] - base);
		if (t->q[from + who].cls < 0)
			kmark(&t->q[from + who], KVA_C_STRAY_WRITE, s);
	}
	if (guard_bad) {
		int any = 0;

		for (size_t i = 0; i < n; i++)
			any |= t->q[from + i].cls == KVA_C_OOB;
		for (size_t i = n; i-- > 0 && !any;)
			if (t->q[from + i].cls < 0) {
				kmark(&t->q[from + i], KVA_C_OOB, -1);
				any = 1;
			}
	}
	free(row); free(kind); free(cid); free(full_at); free(part_at);
}

/* Classify a gather kernel's output rows (cand: guard+dst+guard). */
static void judge_gather(kva_trap *t, size_t from, size_t n, const kva_cache_desc *dc,
			 const float *cand, int64_t guard, int64_t stride,
			 struct slotmap *owner)
{
	int64_t H = dc->num_heads, D = dc->head_dim;
	uint64_t base = t->q[from].index + 1;
	int guard_bad = 0;

	for (int64_t i = 0; i < guard; i++)
		if (!is_bits(cand[i], POISON_BITS) ||
		    !is_bits(cand[guard + (int64_t)n * stride + i], POISON_BITS))
			guard_bad = 1;
	for (size_t i = 0; i < n; i++) {
		struct tcase *k = &t->q[from + i];
		const float *row = cand + guard + (int64_t)i * stride;
		int64_t s = case_slot(t, k);
		uint64_t id;
		int dk = decode(t, row, H, D, &id), gap = 0;

		for (int64_t g = H * D; g < stride; g++)
			gap |= !is_bits(row[g], POISON_BITS);
		if (s < 0) {
			if (dk != DEC_POISON || gap)
				kmark(k, KVA_C_UNMAPPED_WRITE, -1);
			continue;
		}
		switch (dk) {
		case DEC_FULL:
			if (id == base + i) {
				if (gap)
					kmark(k, KVA_C_PARTIAL_ROW, s);
				break;
			}
			if (id >= base && id - base < n) {
				size_t u = (size_t)(id - base);
				const float *ru = cand + guard + (int64_t)u * stride;
				uint64_t id2;
				int swapped = decode(t, ru, H, D, &id2) == DEC_FULL &&
					      id2 == base + i;

				kmark(k, swapped ? KVA_C_PERMUTATION : KVA_C_MISROUTE,
				      case_slot(t, &t->q[from + u]));
			} else {
				kmark(k, KVA_C_MISROUTE, -1);
			}
			break;
		case DEC_CELL:
			kmark(k, KVA_C_MISROUTE, (int64_t)id - 1);
			break;
		case DEC_GUARD:
			kmark(k, KVA_C_OOB, -1);
			break;
		case DEC_POISON:
			kmark(k, KVA_C_MISSING, -1);
			break;
		case DEC_PARTIAL:
			kmark(k, id == base + i ? KVA_C_PARTIAL_ROW : KVA_C_MISROUTE, s);
			break;
		default:
			kmark(k, KVA_C_MISROUTE, -1);
		}
	}
	(void)owner;
	if (guard_bad)
		for (size_t i = n; i-- > 0;)
			if (t->q[from + i].cls < 0) {
				kmark(&t->q[from + i], KVA_C_OOB, -1);
				break;
			}
}

/*
 * Run tokens [from, from+n) of the queue through the kernel.  A crash or
 * hang of a batch is narrowed to its token by running them one by one.
 * Returns 0 or -1 with e (trouble: the batch cannot be set up).
 */
static int kv_batch(kva_trap *t, size_t from, size_t n, kva_err *e)
{
	kva_cache_desc dc;
	int64_t H = t->c.heads, D = t->c.head_dim, S = case_bs(t, &t->q[from]);
	int64_t maxslot = -1, stride = H * D + t->c.stride_pad, guard, elems;
	int64_t *slots = malloc(n * sizeof *slots);
	float *src, *ref;
	size_t ndata, nreg;
	struct req_hdr hd = { REQ_MAGIC, MODE_KERNEL, (uint32_t)n, 0, 0, 0, 0 };
	struct kreq kr;
	struct want w;
	struct slotmap owner;
	const char *why;
	uint32_t poison = POISON_BITS, gapb = GAP_BITS;
	int st, write = t->c.kind == KVA_KIND_WRITE, rc = 0;
	double div = 0;

	if (!slots)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	slotmap_init(&owner, n);
	for (size_t i = 0; i < n; i++) {
		slots[i] = case_slot(t, &t->q[from + i]);
		if (slots[i] > maxslot)
			maxslot = slots[i];
		if (slots[i] >= 0)
			*slotmap_at(&owner, slots[i]) = (int64_t)i;
	}
	memset(&dc, 0, sizeof dc);
	dc.layout = t->c.layout;
	dc.num_blocks = (int32_t)(maxslot < 0 ? 1 : maxslot / S + 1);
	dc.block_size = (int32_t)S;
	dc.num_heads = (int32_t)H;
	dc.head_dim = (int32_t)D;
	dc.x = t->c.layout == KVA_LAYOUT_VLLM_X ? t->c.x : 1;
	if (kva_cache_desc_check(&dc, &why)) {
		free(slots);
		slotmap_free(&owner);
		return kva_errf(e, NULL, "cache geometry: %s", why);
	}
	if (S > INT32_MAX || maxslot / S + 1 > INT32_MAX ||
	    (elems = kva_cache_elems(&dc)) > ((int64_t)1 << 28)) {
		free(slots);
		slotmap_free(&owner);
		return kva_errf(e, NULL, "a cache for slot %lld of block size %lld "
				"is too large for the trap", (long long)maxslot,
				(long long)S);
	}
	guard = S * H * D > 1024 ? S * H * D : 1024;
	/* the source rows (write) or the filled cache (gather) */
	ndata = write ? n * (size_t)stride : (size_t)(2 * guard + elems);
	nreg = (size_t)(2 * guard) + (write ? (size_t)elems : n * (size_t)stride);
	src = malloc(ndata * sizeof *src + 1);
	ref = malloc(nreg * sizeof *ref + 1);
	if (!src || !ref)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < nreg; i++)
		memcpy(&ref[i], &poison, 4);
	if (write) {
		for (size_t i = 0; i < n; i++)
			for (int64_t j = 0; j < stride; j++) {
				float *f = &src[i * (size_t)stride + (size_t)j];

				if (j < H * D)
					*f = ksig(t->c.seed, t->q[from + i].index + 1,
						  j / D, j % D, SIG_TOKEN);
				else
					memcpy(f, &gapb, 4);
			}
		kva_ref_write_kv(src, stride, slots, (int64_t)n, ref + guard, &dc);
	} else {
		for (int64_t j = 0; j < guard; j++) {
			src[j] = ksig(t->c.seed, 0, 0, j % (H * D) % D, SIG_GUARD);
			src[guard + elems + j] = src[j];
		}
		for (int64_t s = 0; s < elems / (H * D); s++)
			for (int64_t h = 0; h < H; h++)
				for (int64_t d = 0; d < D; d++) {
					int64_t u = slotmap_get(&owner, s);

					src[guard + kva_cache_index(&dc, s, h, d)] = u >= 0 ?
						ksig(t->c.seed, t->q[from + (size_t)u].index + 1,
						     h, d, SIG_TOKEN) :
						ksig(t->c.seed, (uint64_t)s + 1, h, d, SIG_CELL);
				}
		kva_ref_gather_kv(src + guard, &dc, slots, (int64_t)n, ref + guard, stride);
	}
	/* the request */
	memset(&kr, 0, sizeof kr);
	kr.desc = dc;
	kr.n = (int64_t)n;
	kr.stride = stride;
	kr.guard = guard;
	kr.elems = elems;
	{
		int g = ensure_child(t, e);

		if (g) {
			if (g < 0)
				rc = -1;
			else
				skip_range(t, from, from + n);
			goto out;
		}
	}
	hd.seq = ++t->seq;
	t->req.len = 0;
	kva_buf_put(&t->req, &hd, sizeof hd);
	kva_buf_put(&t->req, &kr, sizeof kr);
	kva_buf_put(&t->req, slots, n * sizeof *slots);
	kva_buf_put(&t->req, src, ndata * sizeof *src);
	((struct req_hdr *)(void *)t->req.p)->len = t->req.len - sizeof hd;
	t->rep.len = 0;
	memset(&w, 0, sizeof w);
	w.bytes = w.unit = 8 + nreg * sizeof(float);
	st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep, bytes_done,
			      &w, t->c.lim.timeout_s);
	if (st == KVA_SBX_OK) {
		uint32_t tag;

		memcpy(&tag, t->rep.p + 4, 4);
		if (tag != t->seq || t->rep.len != w.bytes) {
			st = SBX_GARBLED;
			kva_sbx_stop(&t->sbx);
		}
	}
	if (st != KVA_SBX_OK) {
		if (n > 1) {
			for (size_t i = 0; i < n && !rc; i++) {
				if (t->stop_why[0]) {
					skip_range(t, from + i, from + n);
					break;
				}
				rc = kv_batch(t, from + i, 1, e);
			}
		} else {
			struct tcase *k = &t->q[from];

			k->cls = st == KVA_SBX_TIMEOUT ? KVA_C_TIMEOUT :
				 st == SBX_GARBLED ? KVA_C_ERROR : KVA_C_CRASH;
			if (st == SBX_GARBLED)
				snprintf(k->why, sizeof k->why, "answer garbled: the reply "
					 "pipe held bytes that are not the trap's");
			else
				snprintf(k->why, sizeof k->why, "%s", t->sbx.why);
			k->got.done = 0;
			if (st == KVA_SBX_TIMEOUT)
				count_hang(t);
			div = 1;
		}
		goto out;
	}
	{
		int32_t krc;
		const float *cand = (const float *)(const void *)(t->rep.p + 8);

		memcpy(&krc, t->rep.p, 4);
		if (krc != 0) {
			for (size_t i = 0; i < n; i++) {
				t->q[from + i].cls = KVA_C_ERROR;
				snprintf(t->q[from + i].why, sizeof t->q[from + i].why,
					 "kernel returned %d", (int)krc);
			}
			div = 1;
			goto out;
		}
		for (size_t i = 0; i < nreg; i++) {
			int pc = is_bits(cand[i], POISON_BITS), pr = is_bits(ref[i], POISON_BITS);
			double dd = elem(cand[i]) - elem(ref[i]);

			if (dd < 0)
				dd = -dd;
			/* written where nothing may be, or not written where
			 * a row must be: a whole unit, even if the value is 0 */
			if (pc != pr && dd < 1)
				dd = 1;
			if (dd > div)
				div = dd;
		}
		if (write)
			judge_write(t, from, n, &dc, cand, guard, &owner);
		else
			judge_gather(t, from, n, &dc, cand, guard, stride, &owner);
	}
out:
	if (div > t->divergence)
		t->divergence = div;
	free(slots);
	free(src);
	free(ref);
	slotmap_free(&owner);
	return rc;
}

/* Split the queue into kernel batches (one block size, distinct slots)
 * and run them. */
static int kv_run_queue(kva_trap *t, kva_err *e)
{
	size_t from = 0;

	while (from < t->nq) {
		struct slotmap seen;
		size_t to = from;
		int64_t S = case_bs(t, &t->q[from]);

		if (t->stop_why[0]) {
			skip_range(t, from, t->nq);
			break;
		}
		slotmap_init(&seen, t->nq - from);
		while (to < t->nq && case_bs(t, &t->q[to]) == S) {
			int64_t s = case_slot(t, &t->q[to]);

			if (s >= 0) {
				int64_t *v = slotmap_at(&seen, s);

				if (*v >= 0)
					break;
				*v = 1;
			}
			to++;
		}
		slotmap_free(&seen);
		if (kv_batch(t, from, to - from, e))
			return -1;
		from = to;
	}
	return 0;
}
