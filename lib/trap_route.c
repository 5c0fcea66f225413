/*
 * trap_route.c - route candidates: the round trip to the child (a batch of
 * cases out, one answer per case back; a crash, hang or garbled answer
 * pinned to its case by re-running the rest case by case) and the
 * judging (each case against the oracle's cell; misroutes refined into
 * permutations and collisions within their world).  See trap_internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include "trap_internal.h"

/* The largest entry of table i of case k, or -1 for an empty table. */
static int64_t table_max(const kva_trap *t, const struct tcase *k, int i)
{
	int64_t m = -1;

	for (size_t j = 0; j < k->tlen[i]; j++)
		if (t->pool[k->toff[i] + j] > m)
			m = t->pool[k->toff[i] + j];
	return m;
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
	int g = kva_trap_ensure_child(t, e);

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
			       kva_trap_bytes_done, &w, t->c.lim.timeout_s);
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
int kva_trap_route_queue(kva_trap *t, kva_err *e)
{
	size_t from = 0;
	int careful = 0;

	while (from < t->nq) {
		int st = KVA_SBX_OK;
		size_t to = careful ? from + 1 : t->nq, got;
		struct tcase *k;

		if (t->stop_why[0]) {
			kva_trap_skip(t, from, t->nq);
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
			kva_trap_count_hang(t);
		} else if (st == SBX_GARBLED) {
			k->cls = KVA_C_ERROR;
			snprintf(k->why, sizeof k->why, "answer garbled: the reply "
				 "pipe held bytes that are not the trap's");
		} else {
			k->cls = KVA_C_CRASH;
			snprintf(k->why, sizeof k->why, "%s", t->sbx.why);
			kva_trap_count_crash(t);
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
	case OR_ROLLING:
		return o[0] >= in[2];    /* slot past the window */
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
	if (k->got.mut)
		return KVA_C_INPUT_MUTATION;
	if (k->expect.status != KVA_ROUTED)
		return k->got.rc == 0 ? KVA_C_UNMAPPED_WRITE : -1;
	if (k->got.rc != 0)
		return KVA_C_MISSING;
	if (!memcmp(k->got.out, k->expect.out, (size_t)t->c.o->nout * sizeof(int64_t)))
		return -1;
	return out_of_bounds(t, k) ? KVA_C_OOB : KVA_C_MISROUTE;
}

/* Hash of a case's world (the inputs and tables that fix its cache). */
uint64_t kva_trap_world_hash(const kva_trap *t, const struct tcase *k)
{
	uint64_t h = 0x776f726c64ULL;

	if (k->wh_set)           /* tables can be long: hashed once a case */
		return k->wh;

	for (int i = 0; i < t->c.o->nin; i++)
		if (t->world >> i & 1)
			h = kva_trap_mix64(h, (uint64_t)k->in[i]);
	for (int i = 0; i < t->c.o->ntab; i++) {
		h = kva_trap_mix64(h, k->tlen[i]);
		for (size_t j = 0; j < k->tlen[i]; j++)
			h = kva_trap_mix64(h, (uint64_t)t->pool[k->toff[i] + j]);
	}
	((struct tcase *)(uintptr_t)k)->wh = h;
	((struct tcase *)(uintptr_t)k)->wh_set = 1;
	return h;
}

static uint64_t cell_hash(uint64_t w, const int64_t *out, int n)
{
	for (int i = 0; i < n; i++)
		w = kva_trap_mix64(w, (uint64_t)out[i]);
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

		wh[i] = kva_trap_world_hash(t, k);
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


/* See trap_internal.h. */
void kva_trap_route_judge(kva_trap *t)
{
	for (size_t i = 0; i < t->nq; i++) {
		t->q[i].cls = judge(t, &t->q[i]);
		if (t->q[i].cls == KVA_C_INPUT_MUTATION && !t->q[i].why[0])
			snprintf(t->q[i].why, sizeof t->q[i].why,
				 "the call changed a table it was given");
	}
	refine(t);
}
