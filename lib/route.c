/*
 * route.c - the built-in routing oracles, compiled: exact int64, floor
 * division, non-negative modulo.  Each one checks its query in the same
 * order, naming the same field, as its formula in lib/formulas.c does; a
 * unit test holds the two paths equal over dense sweeps.
 */
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"

#define REQ(cond, field, text) do { if (!(cond)) \
	return kva_errf(e, field, "must satisfy %s", text); } while (0)

/* radix-1d: a = prefix_length + b_local_idx; (a div bs, a mod bs). */
static int eval_radix_1d(const kva_args *a, kva_route *r, kva_err *e)
{
	int64_t b = a->in[0], prefix = a->in[1], bs = a->in[2], pos;

	REQ(b >= 0, "b_local_idx", "b_local_idx >= 0");
	REQ(prefix >= 0, "prefix_length", "prefix_length >= 0");
	REQ(bs >= 1, "block_size", "block_size >= 1");
	pos = prefix + b; /* both <= 2^53: no overflow */
	r->status = KVA_ROUTED;
	r->out[0] = pos / bs; /* pos >= 0: floor division is C division */
	r->out[1] = pos % bs;
	return 0;
}

/* radix-2d: the per-head ring of total_blocks_h blocks. */
static int eval_radix_2d(const kva_args *a, kva_route *r, kva_err *e)
{
	int64_t b = a->in[0], head = a->in[1], prefix = a->in[2];
	int64_t nblk = a->in[3], bs = a->in[4], pos;

	REQ(b >= 0, "b_local_idx", "b_local_idx >= 0");
	REQ(head >= 0, "head_idx", "head_idx >= 0");
	REQ(prefix >= 0, "prefix_length_h", "prefix_length_h >= 0");
	REQ(nblk >= 1, "total_blocks_h", "total_blocks_h >= 1");
	REQ(bs >= 1, "block_size", "block_size >= 1");
	pos = prefix + b;
	r->status = KVA_ROUTED;
	r->out[0] = head;
	r->out[1] = (pos / bs) % nblk;
	r->out[2] = pos % bs;
	return 0;
}

/* Shared tail of paged and paged-ring: block id, offset and slot. */
static int paged_slot(int64_t block, int64_t pos, int64_t bs, kva_route *r,
		      kva_err *e)
{
	int64_t off = pos % bs, slot;

	if (__builtin_mul_overflow(block, bs, &slot) ||
	    __builtin_add_overflow(slot, off, &slot))
		return kva_errf(e, "block_size", "slot overflows int64");
	r->status = KVA_ROUTED;
	r->out[0] = block;
	r->out[1] = off;
	r->out[2] = slot;
	return 0;
}

/* paged (vLLM): block_table[pos div bs]; pos -1 is padding. */
static int eval_paged(const kva_args *a, kva_route *r, kva_err *e)
{
	int64_t pos = a->in[0], bs = a->in[1], idx;
	const kva_table *t = &a->tab[0];

	REQ(pos >= -1, "pos", "pos >= -1");
	REQ(bs >= 1, "block_size", "block_size >= 1");
	if (pos == -1) {
		r->status = KVA_PADDING;
		return 0;
	}
	idx = pos / bs;
	if ((uint64_t)idx >= t->n) {
		r->status = KVA_UNMAPPED;
		return 0;
	}
	return paged_slot(t->v[idx], pos, bs, r, e);
}

/* paged-ring (vLLM v0 sliding window): the table is a ring of
 * window_blocks entries. */
static int eval_paged_ring(const kva_args *a, kva_route *r, kva_err *e)
{
	int64_t pos = a->in[0], bs = a->in[1], w = a->in[2], idx;
	const kva_table *t = &a->tab[0];

	REQ(pos >= -1, "pos", "pos >= -1");
	REQ(bs >= 1, "block_size", "block_size >= 1");
	REQ(w >= 1, "window_blocks", "window_blocks >= 1");
	if (pos == -1) {
		r->status = KVA_PADDING;
		return 0;
	}
	idx = (pos / bs) % w;
	if ((uint64_t)idx >= t->n) {
		r->status = KVA_UNMAPPED;
		return 0;
	}
	return paged_slot(t->v[idx], pos, bs, r, e);
}

/* flashinfer: CSR page table (kv_indptr, kv_indices, kv_last_page_len). */
static int eval_flashinfer(const kva_args *a, kva_route *r, kva_err *e)
{
	int64_t batch = a->in[0], pos = a->in[1], P = a->in[2];
	const kva_table *indptr = &a->tab[0], *indices = &a->tab[1];
	const kva_table *last = &a->tab[2];
	int64_t pages, seqlen;

	REQ(P >= 1, "page_size", "page_size >= 1");
	REQ(pos >= 0, "pos", "pos >= 0");
	REQ(batch >= 0, "batch", "batch >= 0");
	REQ(indptr->n == last->n + 1, "kv_indptr",
	    "len(kv_indptr) == len(kv_last_page_len) + 1");
	REQ((uint64_t)batch < last->n, "batch", "batch < len(kv_last_page_len)");
	REQ(indptr->v[0] == 0, "kv_indptr", "kv_indptr[0] == 0");
	for (size_t i = 1; i < indptr->n; i++)
		REQ(indptr->v[i - 1] <= indptr->v[i], "kv_indptr",
		    "sorted(kv_indptr)");
	REQ((uint64_t)indptr->v[indptr->n - 1] <= indices->n, "kv_indptr",
	    "kv_indptr[len(kv_indptr) - 1] <= len(kv_indices)");
	pages = indptr->v[batch + 1] - indptr->v[batch];
	REQ(last->v[batch] <= P, "kv_last_page_len",
	    "kv_last_page_len[batch] <= page_size");
	REQ(last->v[batch] >= 1 || pages == 0, "kv_last_page_len",
	    "kv_last_page_len[batch] >= 1 or pages == 0");
	/* pages <= 2^31 and P <= 2^53 could overflow; pos < seqlen only
	 * matters, so compare without forming seqlen when it is huge */
	if (pages == 0) {
		seqlen = 0;
	} else if (__builtin_mul_overflow(pages - 1, P, &seqlen) ||
		   __builtin_add_overflow(seqlen, last->v[batch], &seqlen)) {
		return kva_errf(e, "page_size", "seqlen overflows int64");
	}
	if (pos >= seqlen) {
		r->status = KVA_UNMAPPED;
		return 0;
	}
	r->status = KVA_ROUTED;
	r->out[0] = indices->v[indptr->v[batch] + pos / P];
	r->out[1] = pos % P;
	return 0;
}

/*
 * rolling (transformers' sliding-window layers): a cache of window slots
 * that shifts left on a write once it is full, the newest token always
 * last.  The map is read in the state after the write that brought the
 * sequence to seq_len tokens: the live tokens are the last
 * min(seq_len, window), at slot pos until the cache fills, then at
 * pos - (seq_len - window).  Everything else was never written or has
 * been rolled out; pos -1 (padding) is one of those.
 */
static int eval_rolling(const kva_args *a, kva_route *r, kva_err *e)
{
	int64_t pos = a->in[0], len = a->in[1], w = a->in[2];

	REQ(len >= 0, "seq_len", "seq_len >= 0");
	REQ(w >= 1, "window", "window >= 1");
	/* |inputs| <= 2^53: len - w cannot overflow */
	if (pos < 0 || pos >= len || pos < len - w) {
		r->status = KVA_UNMAPPED;
		return 0;
	}
	r->status = KVA_ROUTED;
	r->out[0] = len > w ? pos - (len - w) : pos;
	return 0;
}

static const kva_oracle radix_1d = {
	"radix-1d", 3, { "b_local_idx", "prefix_length", "block_size" },
	0, { 0 }, 2, { "block", "offset" }, eval_radix_1d,
	kva_formula_radix_1d, NULL
};
static const kva_oracle radix_2d = {
	"radix-2d", 5, { "b_local_idx", "head_idx", "prefix_length_h",
			 "total_blocks_h", "block_size" },
	0, { 0 }, 3, { "head", "block", "offset" }, eval_radix_2d,
	kva_formula_radix_2d, NULL
};
static const kva_oracle paged = {
	"paged", 2, { "pos", "block_size" }, 1, { "block_table" },
	3, { "block", "offset", "slot" }, eval_paged, kva_formula_paged, NULL
};
static const kva_oracle paged_ring = {
	"paged-ring", 3, { "pos", "block_size", "window_blocks" },
	1, { "block_table" }, 3, { "block", "offset", "slot" },
	eval_paged_ring, kva_formula_paged_ring, NULL
};
static const kva_oracle flashinfer = {
	"flashinfer", 3, { "batch", "pos", "page_size" },
	3, { "kv_indptr", "kv_indices", "kv_last_page_len" },
	2, { "page", "entry" }, eval_flashinfer, kva_formula_flashinfer, NULL
};
static const kva_oracle rolling = {
	"rolling", 3, { "pos", "seq_len", "window" }, 0, { 0 },
	1, { "slot" }, eval_rolling, kva_formula_rolling, NULL
};

const kva_oracle *const kva_oracles[] = {
	&radix_1d, &radix_2d, &paged, &paged_ring, &flashinfer, &rolling, NULL
};

const kva_oracle *kva_oracle_find(const char *name)
{
	for (int i = 0; kva_oracles[i]; i++)
		if (!strcmp(kva_oracles[i]->name, name))
			return kva_oracles[i];
	return NULL;
}

/* See kvarbiter.h. */
int kva_oracle_eval(const kva_oracle *o, const kva_args *a, kva_route *r,
		    kva_err *e)
{
	memset(r, 0, sizeof *r);
	if (o->eval)
		return o->eval(a, r, e);
	return kva_formula_eval(o->f, a, r, e);
}

/* ---- queries as JSON ---------------------------------------------------- */

void kva_tabstore_free(kva_tabstore *ts)
{
	if (!ts)
		return;
	for (int i = 0; i < KVA_MAX_TAB; i++) {
		free(ts->v[i]);
		ts->v[i] = NULL;
		ts->cap[i] = 0;
	}
}

/* See kvarbiter.h. */
int kva_args_from_json(const kva_oracle *o, const kva_jval *rec, kva_args *a,
		       kva_tabstore *ts, kva_err *e)
{
	static char elem[KVA_MAX_TAB][96];

	memset(a, 0, sizeof *a);
	for (int i = 0; i < o->nin; i++) {
		const kva_jval *v = kva_json_get(rec, o->in[i]);

		if (kva_json_int(v, o->in[i], &a->in[i], e))
			return -1;
	}
	for (int i = 0; i < o->ntab; i++) {
		const kva_jval *v = kva_json_get(rec, o->tab[i]), *x;
		size_t k = 0;

		if (!v)
			return kva_errf(e, o->tab[i], "missing");
		if (v->t != KVA_JARR)
			return kva_errf(e, o->tab[i], "must be an array of integers");
		if (v->n > ts->cap[i]) {
			int64_t *p = realloc(ts->v[i], v->n * sizeof *p);

			if (!p)
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
			ts->v[i] = p;
			ts->cap[i] = v->n;
		}
		for (x = v->child; x; x = x->next, k++) {
			int bad = kva_json_int(x, NULL, &ts->v[i][k], e);

			if (!bad && ts->v[i][k] >= 0 && ts->v[i][k] <= INT32_MAX)
				continue;
			/* name the element only on the error path */
			snprintf(elem[i], sizeof elem[i], "%s[%zu]", o->tab[i], k);
			if (bad) {
				e->field = elem[i];
				return -1;
			}
			return kva_errf(e, elem[i], "must be in [0, 2^31-1]");
		}
		a->tab[i].v = ts->v[i];
		a->tab[i].n = v->n;
	}
	return 0;
}

void kva_args_write(kva_buf *b, const kva_oracle *o, const kva_args *a)
{
	for (int i = 0; i < o->nin; i++) {
		kva_buf_putc(b, ',');
		kva_buf_jstr(b, o->in[i], strlen(o->in[i]));
		kva_buf_putc(b, ':');
		kva_buf_i64(b, a->in[i]);
	}
	for (int i = 0; i < o->ntab; i++) {
		kva_buf_putc(b, ',');
		kva_buf_jstr(b, o->tab[i], strlen(o->tab[i]));
		kva_buf_puts(b, ":[");
		for (size_t k = 0; k < a->tab[i].n; k++) {
			if (k)
				kva_buf_putc(b, ',');
			kva_buf_i64(b, a->tab[i].v[k]);
		}
		kva_buf_putc(b, ']');
	}
}

void kva_route_write(kva_buf *b, const kva_oracle *o, const kva_route *r)
{
	if (r->status == KVA_UNMAPPED) {
		kva_buf_puts(b, "{\"unmapped\":true}");
		return;
	}
	if (r->status == KVA_PADDING) {
		kva_buf_puts(b, "{\"slot\":-1}");
		return;
	}
	kva_buf_putc(b, '{');
	for (int i = 0; i < o->nout; i++) {
		if (i)
			kva_buf_putc(b, ',');
		kva_buf_jstr(b, o->out[i], strlen(o->out[i]));
		kva_buf_putc(b, ':');
		kva_buf_i64(b, r->out[i]);
	}
	kva_buf_putc(b, '}');
}
