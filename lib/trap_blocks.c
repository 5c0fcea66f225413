/*
 * trap_blocks.c - the block-copy kinds (copy-blocks, swap-blocks): one
 * "blocks" record is one call of the candidate's kva_copy_blocks or
 * kva_swap_blocks, run in the loader child (MODE_BLOCKS, trap_proto.h;
 * the child's side in trap_blocks_child.c) and judged against the CPU
 * twins kva_ref_copy_blocks / kva_ref_swap_blocks (kernels/kvcache.h).
 *
 * Every cell of each cache holds a value of its own (random bits of a
 * finite float from the run's seed, the call, the cache, the block and
 * the cell's place in the block), the elements between a strided view's
 * cells and the slack bands around the cache values of their own; so
 * what a destination block holds after the call tells which block it
 * came from.  The region the kernel writes (slack, the cache, slack) is
 * compared with the twin's bit for bit; where they differ, each pair is
 * classified by its destination block, and the rest of the region (the
 * blocks that are no destination, the gaps, the slack) is charged to the
 * pair whose values it holds, else to the first pair not yet charged.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache.h"
#include "trap_internal.h"

#define PAGE_FLOATS 1024                 /* a 4 KiB page of floats */
#define MAX_ELEMS ((int64_t)1 << 26)     /* floats of a record's cache */
#define MAX_PAIRS ((int64_t)1 << 16)     /* pairs of a record */

enum { C_DST = 0, C_SRC = 1 };  /* the cache written (copy's only one); swap's source */
enum { V_CELL = 1, V_SLACK, V_GAP };

/* A value's identity: a row key for kva_trap_kval. */
static uint64_t vkey(const kva_trap *t, int kind, uint64_t call, int cache, int64_t b)
{
	return kva_trap_mix64(kva_trap_mix64(t->c.seed ^ 0x626c6f636b73ULL,
					     ((uint64_t)kind << 8) | (uint64_t)cache),
			      call * 0x100000000ULL + (uint64_t)b);
}

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

/* ---- the record ------------------------------------------------------------ */

void kva_blocks_case_free(kva_blocks_case *bc)
{
	free(bc->pairs);
	bc->pairs = NULL;
}

/* Are the ids of bc within their caches, no destination named twice?
 * Returns 0, or -1 with e naming the pair's field. */
static int pairs_check(const kva_blocks_case *bc, kva_err *e)
{
	static char field[48];
	int64_t *seen = calloc((size_t)bc->dst_blocks + 1, sizeof *seen);

	if (!seen)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int64_t i = 0; i < bc->npairs; i++) {
		int64_t s = bc->pairs[2 * i], d = bc->pairs[2 * i + 1];
		int rc = 0;

		snprintf(field, sizeof field, "pairs[%lld][%d]", (long long)i,
			 s < 0 || s >= bc->num_blocks ? 0 : 1);
		if (s < 0 || s >= bc->num_blocks)
			rc = kva_errf(e, field, "block %lld is outside the %scache's %lld "
				      "blocks", (long long)s, bc->dst_blocks != bc->num_blocks ?
				      "source " : "", (long long)bc->num_blocks);
		else if (d < 0 || d >= bc->dst_blocks)
			rc = kva_errf(e, field, "block %lld is outside the %scache's %lld "
				      "blocks", (long long)d, bc->dst_blocks != bc->num_blocks ?
				      "destination " : "", (long long)bc->dst_blocks);
		else if (seen[d])
			rc = kva_errf(e, field, "destination block %lld named twice "
				      "(pairs[%lld][1])", (long long)d, (long long)(seen[d] - 1));
		if (rc) {
			free(seen);
			return -1;
		}
		seen[d] = i + 1;
	}
	free(seen);
	return 0;
}

int kva_blocks_parse(const kva_trap_conf *c, const kva_jval *root,
		     kva_blocks_case *bc, kva_err *e)
{
	static char field[48];
	const kva_jval *p = kva_json_get(root, "pairs"), *nb = kva_json_get(root, "num_blocks");
	const kva_jval *db = kva_json_get(root, "dst_blocks"), *x;
	const kva_jval *dl = kva_json_get(root, "dst_layout");
	int swap = c->kind == KVA_KIND_SWAP_BLOCKS;
	int64_t top = -1, i = 0, cells;

	memset(bc, 0, sizeof *bc);
	bc->strided = -1;
	bc->dst_layout = c->layout;
	if (kva_json_int(kva_json_get(root, "block_size"), "block_size", &bc->block_size, e))
		return -1;
	if (bc->block_size < 1 || bc->block_size > 65536)
		return kva_errf(e, "block_size", "must be 1 to 65536, not %lld",
				(long long)bc->block_size);
	if (!p)
		return kva_errf(e, "pairs", "missing");
	if (p->t != KVA_JARR)
		return kva_errf(e, "pairs", "must be an array of [src, dst] pairs");
	if ((int64_t)p->n > MAX_PAIRS)
		return kva_errf(e, "pairs", "more than %lld pairs", (long long)MAX_PAIRS);
	if (!(bc->pairs = malloc((2 * p->n + 2) * sizeof *bc->pairs)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (x = p->child; x; x = x->next, i++) {
		snprintf(field, sizeof field, "pairs[%lld]", (long long)i);
		if (x->t != KVA_JARR || x->n != 2) {
			kva_blocks_case_free(bc);
			return kva_errf(e, field, "must be a [src, dst] pair of block ids");
		}
		for (int k = 0; k < 2; k++) {
			const kva_jval *v = k ? x->child->next : x->child;

			snprintf(field, sizeof field, "pairs[%lld][%d]", (long long)i, k);
			if (kva_json_int(v, field, &bc->pairs[2 * i + k], e)) {
				kva_blocks_case_free(bc);
				return -1;
			}
			top = bc->pairs[2 * i + k] > top ? bc->pairs[2 * i + k] : top;
		}
	}
	bc->npairs = i;
	bc->num_blocks = top + 1 > 0 ? top + 1 : 1;
	if (nb && kva_json_int(nb, "num_blocks", &bc->num_blocks, e)) {
		kva_blocks_case_free(bc);
		return -1;
	}
	bc->dst_blocks = bc->num_blocks;
	if (db && !swap) {
		kva_blocks_case_free(bc);
		return kva_errf(e, "dst_blocks", "only for --kind swap-blocks");
	}
	if (db && kva_json_int(db, "dst_blocks", &bc->dst_blocks, e)) {
		kva_blocks_case_free(bc);
		return -1;
	}
	if (dl && !swap) {
		kva_blocks_case_free(bc);
		return kva_errf(e, "dst_layout", "only for --kind swap-blocks");
	}
	if (dl) {
		bc->dst_layout = -1;
		for (int l = 0; l < 3 && dl->t == KVA_JSTR; l++)
			if (!strcmp(dl->s, kva_layout_names[l]))
				bc->dst_layout = l;
		if (bc->dst_layout < 0) {
			kva_blocks_case_free(bc);
			return kva_errf(e, "dst_layout", "must be \"nhd\", \"hnd\" or "
					"\"vllm-x\"");
		}
	}
	cells = bc->block_size * c->heads * c->head_dim;
	if (bc->num_blocks < 1 || bc->num_blocks > MAX_ELEMS / cells) {
		kva_blocks_case_free(bc);
		return kva_errf(e, "num_blocks", "must be 1 to %lld (2^26 floats a cache "
				"of block_size %lld), not %lld", (long long)(MAX_ELEMS / cells),
				(long long)bc->block_size, (long long)bc->num_blocks);
	}
	if (bc->dst_blocks < 1 || bc->dst_blocks > MAX_ELEMS / cells) {
		kva_blocks_case_free(bc);
		return kva_errf(e, "dst_blocks", "must be 1 to %lld (2^26 floats a cache "
				"of block_size %lld), not %lld", (long long)(MAX_ELEMS / cells),
				(long long)bc->block_size, (long long)bc->dst_blocks);
	}
	if (pairs_check(bc, e)) {
		kva_blocks_case_free(bc);
		return -1;
	}
	return 0;
}

/* ---- one call ---------------------------------------------------------------- */

/* What a pair (or the call) was found to do. */
struct bfind {
	int cls;                 /* -1: agrees with the twin */
	char got[160];           /* the record's "got" object */
	char why[128];
};

struct bcall {
	kva_trap *t;
	const kva_blocks_case *bc;
	uint64_t call, first;    /* the call's number; the run's index of its first pair */
	kva_cache_desc dc, sc;   /* the cache written (swap: dst); swap: the source */
	int64_t S, H, D, per;    /* per: floats of a block's cells */
	int64_t glo, ghi, elems, nreg;       /* the region */
	int64_t sglo, sghi, selems, nsrc;    /* swap: the source buffer */
	float *init, *ref, *src;
	struct bfind *f;         /* per pair, and f[npairs]: the call's own */
	int swap;
	/* every cell's value, sorted by its bits, built when first needed */
	struct bval { uint32_t bits, cache; int64_t block, q; } *vals;
	size_t nvals;
};

/* The element of cell q (offset*H*D + head*D + dim) of block b. */
static int64_t cell_at(const kva_cache_desc *d, int64_t b, int64_t q)
{
	int64_t HD = (int64_t)d->num_heads * d->head_dim;

	return kva_cache_index(d, b * d->block_size + q / HD, (q % HD) / d->head_dim,
			       q % d->head_dim);
}

/* Round n floats up so that a region of n floats ends on a page. */
static int64_t page_pad(int64_t n)
{
	return (PAGE_FLOATS - n % PAGE_FLOATS) % PAGE_FLOATS;
}

/* Fill a buffer (slack glo, the cache d, slack ghi) with the values of
 * cache c: slack, gaps, cells. */
static void fill(struct bcall *k, float *buf, int64_t glo, int64_t n,
		 const kva_cache_desc *d, int c)
{
	uint64_t sk = vkey(k->t, V_SLACK, k->call, c, 0), gk = vkey(k->t, V_GAP, k->call, c, 0);
	int64_t elems = kva_cache_elems(d);

	for (int64_t i = 0; i < n; i++)
		buf[i] = kva_trap_kval(sk, 0, (uint64_t)i);
	for (int64_t i = 0; d->stride[0] && i < elems; i++)
		buf[glo + i] = kva_trap_kval(gk, 0, (uint64_t)i);
	for (int64_t b = 0; b < d->num_blocks; b++) {
		uint64_t ck = vkey(k->t, V_CELL, k->call, c, b);

		for (int64_t q = 0; q < k->per; q++)
			buf[glo + cell_at(d, b, q)] = kva_trap_kval(ck, 0, (uint64_t)q);
	}
}

static int by_bits(const void *a, const void *b)
{
	const struct bval *x = a, *y = b;

	if (x->bits != y->bits)
		return x->bits < y->bits ? -1 : 1;
	return x->cache != y->cache ? (x->cache < y->cache ? -1 : 1) :
	       x->block != y->block ? (x->block < y->block ? -1 : 1) : 0;
}

/* Which block's cell q holds the value v, in place (the same q), or -1;
 * *cache is its cache. */
static int64_t holder(struct bcall *k, float v, int64_t q, int *cache)
{
	uint32_t u = bits(v);
	size_t lo = 0, hi;

	if (!k->vals) {
		int nc = k->swap ? 2 : 1;

		k->nvals = 0;
		hi = (size_t)(k->dc.num_blocks + (k->swap ? k->sc.num_blocks : 0)) *
		     (size_t)k->per;
		if (!(k->vals = malloc((hi + 1) * sizeof *k->vals)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		for (int c = 0; c < nc; c++) {
			const kva_cache_desc *d = c == C_DST ? &k->dc : &k->sc;
			const float *buf = c == C_DST ? k->init + k->glo : k->src + k->sglo;

			for (int64_t b = 0; b < d->num_blocks; b++)
				for (int64_t p = 0; p < k->per; p++) {
					struct bval *x = &k->vals[k->nvals++];

					x->bits = bits(buf[cell_at(d, b, p)]);
					x->cache = (uint32_t)c;
					x->block = b;
					x->q = p;
				}
		}
		qsort(k->vals, k->nvals, sizeof *k->vals, by_bits);
	}
	hi = k->nvals;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->vals[mid].bits < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* the expected source's cache first (swap: the source) */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = lo; i < k->nvals && k->vals[i].bits == u; i++)
			if (k->vals[i].q == q &&
			    (int)k->vals[i].cache == (pass == 0 ? k->swap : !k->swap)) {
				*cache = (int)k->vals[i].cache;
				return k->vals[i].block;
			}
	*cache = -1;
	return -1;
}

/* Charge pair i (or, when it has its class, or i < 0, the first pair
 * without one; with none left and no finding in the call, the call
 * itself) with class c. */
static void charge(struct bcall *k, int64_t i, int c, const char *why, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void charge(struct bcall *k, int64_t i, int c, const char *why, const char *fmt, ...)
{
	int64_t n = k->bc->npairs;
	struct bfind *f;
	va_list ap;

	if (i < 0 || i >= n || k->f[i].cls >= 0)
		for (i = 0; i < n && k->f[i].cls >= 0; i++)
			;
	if (i == n) {
		int any = k->f[n].cls >= 0;

		for (int64_t j = 0; j < n && !any; j++)
			any = k->f[j].cls >= 0;
		if (any)
			return;  /* the verdict is HARD_BLOCK already */
	}
	f = &k->f[i];
	f->cls = c;
	snprintf(f->why, sizeof f->why, "%s", why ? why : "");
	va_start(ap, fmt);
	vsnprintf(f->got, sizeof f->got, fmt, ap);
	va_end(ap);
}

/* The first pair whose source is block b of cache c, or -1. */
static int64_t pair_of_src(const struct bcall *k, int c, int64_t b)
{
	if (c != (k->swap ? C_SRC : C_DST))
		return -1;
	for (int64_t i = 0; i < k->bc->npairs; i++)
		if (k->bc->pairs[2 * i] == b)
			return i;
	return -1;
}

static const char *cache_name(const struct bcall *k, int c)
{
	return !k->swap ? "" : c == C_SRC ? ",\"cache\":\"src\"" : ",\"cache\":\"dst\"";
}

/* The block of element e of cache d (a strided view's gap: the block
 * whose stride it is in), or -1 before the first. */
static int64_t block_of(const kva_cache_desc *d, int64_t e, int64_t per)
{
	int64_t b;

	if (!d->stride[0])
		return e / per;
	if (e < d->offset)
		return -1;
	b = (e - d->offset) / d->stride[0];
	return b < d->num_blocks ? b : d->num_blocks - 1;
}

/* Classify each pair from its destination block, then whatever else
 * changed.  cand: the region as the call left it. */
static void judge(struct bcall *k, const float *cand)
{
	const kva_blocks_case *bc = k->bc;
	const float *cache = cand + k->glo, *icache = k->init + k->glo, *rcache = k->ref + k->glo;
	int64_t n = bc->npairs, B = k->dc.num_blocks;
	int64_t *dstof = malloc((size_t)(B + 1) * sizeof *dstof);

	if (!dstof)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int64_t b = 0; b < B; b++)
		dstof[b] = -1;
	for (int64_t i = 0; i < n; i++)
		dstof[bc->pairs[2 * i + 1]] = i;
	/* each destination block */
	for (int64_t i = 0; i < n; i++) {
		int64_t d = bc->pairs[2 * i + 1], right = 0, same = 0, wrong = -1;
		int64_t hb = -1, hb0 = -1;
		int hc = -1, hc0 = -1, one = 1;

		for (int64_t q = 0; q < k->per; q++) {
			int64_t at = cell_at(&k->dc, d, q);
			uint32_t v = bits(cache[at]);

			right += v == bits(rcache[at]);
			same += v == bits(icache[at]);
			if (v != bits(rcache[at]) && wrong < 0)
				wrong = q;
			if (one) {
				hb = holder(k, cache[at], q, &hc);
				if (q == 0) {
					hb0 = hb;
					hc0 = hc;
				}
				one = hb >= 0 && hb == hb0 && hc == hc0;
			}
		}
		if (right == k->per)
			continue;
		if (same == k->per) {
			charge(k, i, KVA_C_MISSING, "the destination block is as it was",
			       "{\"block\":%lld%s,\"unchanged\":true}", (long long)d,
			       cache_name(k, C_DST));
		} else if (one) {
			charge(k, i, KVA_C_MISROUTE, "the destination holds another block's cells",
			       "{\"block\":%lld%s}", (long long)hb0, cache_name(k, hc0));
		} else {
			int64_t HD = k->H * k->D;

			charge(k, i, KVA_C_PARTIAL_ROW, "the destination block is partly right",
			       "{\"cells_right\":%lld,\"cells\":%lld,\"first_wrong\":"
			       "{\"offset\":%lld,\"head\":%lld,\"dim\":%lld}}",
			       (long long)right, (long long)k->per, (long long)(wrong / HD),
			       (long long)((wrong % HD) / k->D), (long long)(wrong % k->D));
		}
	}
	/* blocks that are no destination */
	for (int64_t b = 0; b < B; b++) {
		int64_t q, hb;
		int hc;

		if (dstof[b] >= 0)
			continue;
		for (q = 0; q < k->per; q++)
			if (bits(cache[cell_at(&k->dc, b, q)]) != bits(icache[cell_at(&k->dc, b, q)]))
				break;
		if (q == k->per)
			continue;
		hb = holder(k, cache[cell_at(&k->dc, b, q)], q, &hc);
		if (hb >= 0)
			charge(k, pair_of_src(k, hc, hb), KVA_C_STRAY_WRITE,
			       "a block that is no destination changed",
			       "{\"stray_block\":%lld,\"holds\":{\"block\":%lld%s}}",
			       (long long)b, (long long)hb, cache_name(k, hc));
		else
			charge(k, -1, KVA_C_STRAY_WRITE, "a block that is no destination changed",
			       "{\"stray_block\":%lld,\"holds\":null}", (long long)b);
	}
	/* a strided view's gaps */
	if (k->dc.stride[0]) {
		unsigned char *in = calloc((size_t)k->elems + 1, 1);

		if (!in)
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		for (int64_t b = 0; b < B; b++)
			for (int64_t q = 0; q < k->per; q++)
				in[cell_at(&k->dc, b, q)] = 1;
		for (int64_t e = 0; e < k->elems; e++)
			if (!in[e] && bits(cache[e]) != bits(icache[e])) {
				int64_t b = block_of(&k->dc, e, k->per);

				charge(k, b >= 0 ? dstof[b] : -1, KVA_C_STRAY_WRITE,
				       "an element between a strided view's cells changed",
				       "{\"stray_block\":%lld,\"gap_element\":%lld}",
				       (long long)b, (long long)e);
				break;
			}
		free(in);
	}
	/* the slack bands */
	for (int64_t i = 0; i < k->nreg; i++) {
		int64_t e = i - k->glo;

		if (e >= 0 && e < k->elems) {
			i = k->glo + k->elems - 1;
			continue;
		}
		if (bits(cand[i]) != bits(k->init[i])) {
			charge(k, -1, KVA_C_OOB, "written outside the cache",
			       "{\"slack_element\":%lld}", (long long)e);
			break;
		}
	}
	/* a difference none of the above explains */
	{
		int any = k->f[n].cls >= 0;

		for (int64_t i = 0; i < n && !any; i++)
			any = k->f[i].cls >= 0;
		if (!any)
			charge(k, -1, KVA_C_PARTIAL_ROW, "the cache differs from the twin's",
			       "null");
	}
	free(dstof);
}

/* The child's report: inputs the call changed, runs that differed. */
static void judge_report(struct bcall *k, const struct krep *r)
{
	int64_t n = k->bc->npairs, who = -1;

	if (r->mut & KREP_MUT_SLOTS) {
		who = r->mut_at / 2;
		charge(k, who, KVA_C_INPUT_MUTATION, "the call changed the pairs",
		       "{\"changed\":\"pairs\",\"at\":%lld}", (long long)r->mut_at);
	} else if (r->mut & KREP_MUT_DATA) {
		int64_t e = r->mut_at - k->sglo, b;

		if (e >= 0 && e < k->selems && (b = block_of(&k->sc, e, k->per)) >= 0)
			who = pair_of_src(k, C_SRC, b);
		charge(k, who, KVA_C_INPUT_MUTATION, "the call changed the source cache",
		       "{\"changed\":\"src\",\"at\":%lld}", (long long)e);
	} else if (r->mut & KREP_MUT_DESC) {
		charge(k, -1, KVA_C_INPUT_MUTATION, "the call changed a cache descriptor",
		       "{\"changed\":\"desc\",\"at\":null}");
	}
	if (r->nondet_at >= 0) {
		int64_t e = r->nondet_at - k->glo, b;

		who = -1;
		if (e >= 0 && e < k->elems && (b = block_of(&k->dc, e, k->per)) >= 0)
			for (int64_t i = 0; i < n; i++)
				if (k->bc->pairs[2 * i + 1] == b)
					who = i;
		charge(k, who, KVA_C_NONDETERMINISTIC, r->nondet_late ?
		       "written after the call returned" : "repeats of the call differ",
		       "{\"at\":%lld,\"late\":%s}", (long long)e, r->nondet_late ? "true" : "false");
	}
}

/* Record the call's findings: counts, records, the map, the first. */
static void record(struct bcall *k, const char *file, long line)
{
	kva_trap *t = k->t;
	const kva_blocks_case *bc = k->bc;
	int64_t n = bc->npairs;
	kva_buf core = { 0 }, b = { 0 };

	for (int64_t i = 0; i <= n; i++) {
		const struct bfind *f = &k->f[i];
		const char *cn;

		if (f->cls < 0)
			continue;
		cn = kva_class_names[f->cls];
		t->diverged++;
		t->cls[f->cls]++;
		t->divergence = 1;
		core.len = 0;
		kva_buf_puts(&core, "\"class\":");
		kva_buf_jstr(&core, cn, strlen(cn));
		kva_buf_printf(&core, ",\"case\":%llu,\"call\":%llu", (unsigned long long)(k->first +
			       (uint64_t)(i < n ? i : 0)), (unsigned long long)k->call);
		if (line) {
			kva_buf_puts(&core, ",\"file\":");
			kva_buf_jstr(&core, file, strlen(file));
			kva_buf_printf(&core, ",\"line\":%ld", line);
		}
		if (bc->label) {
			kva_buf_puts(&core, ",\"boundary\":");
			kva_buf_jstr(&core, bc->label, strlen(bc->label));
		}
		if (i < n)
			kva_buf_printf(&core, ",\"pair\":[%lld,%lld]", (long long)bc->pairs[2 * i],
				       (long long)bc->pairs[2 * i + 1]);
		else
			kva_buf_printf(&core, ",\"pair\":null,\"pairs\":%lld", (long long)n);
		kva_buf_printf(&core, ",\"block_size\":%lld,\"num_blocks\":%d,\"layout\":\"%s\"",
			       (long long)k->S, (int)(k->swap ? k->sc.num_blocks : k->dc.num_blocks),
			       kva_layout_names[k->swap ? k->sc.layout : k->dc.layout]);
		if (k->swap)
			kva_buf_printf(&core, ",\"dst_blocks\":%d,\"dst_layout\":\"%s\"",
				       (int)k->dc.num_blocks, kva_layout_names[k->dc.layout]);
		kva_buf_printf(&core, ",\"strided\":%s", k->dc.stride[0] ? "true" : "false");
		if (i < n)
			kva_buf_printf(&core, ",\"expect\":{\"block\":%lld%s}",
				       (long long)bc->pairs[2 * i], cache_name(k, k->swap));
		else
			kva_buf_puts(&core, ",\"expect\":null");
		kva_buf_printf(&core, ",\"got\":%s", f->got[0] ? f->got : "null");
		if (f->why[0]) {
			kva_buf_puts(&core, ",\"why\":");
			kva_buf_jstr(&core, f->why, strlen(f->why));
		}
		if (!t->bfirst.len) {
			kva_buf_putc(&t->bfirst, '{');
			kva_buf_put(&t->bfirst, core.p, core.len);
			kva_buf_putc(&t->bfirst, '}');
		}
		if (t->printed >= (uint64_t)t->c.max_map)
			continue;
		t->printed++;
		if (i < n)
			kva_buf_printf(&t->map, "Pair [%lld,%lld] (block_size %lld, call %llu) | "
				       "Expected: block %lld | Got: %s (%s)\n",
				       (long long)bc->pairs[2 * i], (long long)bc->pairs[2 * i + 1],
				       (long long)k->S, (unsigned long long)k->call,
				       (long long)bc->pairs[2 * i], f->got[0] ? f->got : "null", cn);
		else
			kva_buf_printf(&t->map, "Call %llu (%lld pairs, block_size %lld) | "
				       "Got: %s (%s)\n", (unsigned long long)k->call, (long long)n,
				       (long long)k->S, cn, f->why);
		if (t->c.text)
			continue;
		b.len = 0;
		kva_buf_puts(&b, "{\"type\":\"divergence\",\"kind\":");
		kva_buf_jstr(&b, kva_kind_names[t->c.kind], strlen(kva_kind_names[t->c.kind]));
		kva_buf_putc(&b, ',');
		kva_buf_put(&b, core.p, core.len);
		kva_buf_printf(&b, ",\"divergence\":1,\"floats\":%lld}", (long long)k->per);
		kva_out_record(&b);
	}
	kva_buf_free(&core);
	kva_buf_free(&b);
}

/*
 * Make the cache a strided view, as grad-trap makes the write kind's
 * (lib/trap_kernel.c): its last dimension contiguous, a gap of 0 to 3
 * elements after each inner dimension, blocks interleaved with another
 * cache's (the block stride twice a block's span, the offset 0 or one
 * span).
 */
static void strided(kva_cache_desc *d, uint64_t r)
{
	int64_t span = kva_trap_view_strides(d, &r);

	d->stride[0] = 2 * span;
	d->offset = r & 1 ? span : 0;
}

/* Does the kernel claim this call?  (Block size, layouts, pairs.) */
static int claims(const kva_trap *t, const kva_blocks_case *bc)
{
	const kva_constraints *c = &t->cons;

	if (!kva_trap_claims_bs(t, bc->block_size))
		return 0;
	if (!t->has_cons)
		return 1;
	if (c->layouts && !(c->layouts & (1u << t->c.layout)))
		return 0;
	if (t->c.kind == KVA_KIND_SWAP_BLOCKS && c->layouts &&
	    !(c->layouts & (1u << bc->dst_layout)))
		return 0;
	return !c->max_tokens || bc->npairs <= c->max_tokens;
}

/* A cache's descriptor for the run. */
static int make_desc(const kva_trap *t, kva_cache_desc *d, int layout, int64_t blocks,
		     int64_t S, int view, uint64_t r, kva_err *e)
{
	const char *why;

	memset(d, 0, sizeof *d);
	d->layout = layout;
	d->num_blocks = (int32_t)blocks;
	d->block_size = (int32_t)S;
	d->num_heads = t->c.heads;
	d->head_dim = t->c.head_dim;
	d->x = layout == KVA_LAYOUT_VLLM_X ? t->c.x : 1;
	if (view)
		strided(d, r);
	if (kva_cache_desc_check(d, &why))
		return kva_errf(e, NULL, "cache geometry: %s", why);
	return 0;
}

/* Send the call, read the reply, judge.  Returns 0 or -1 with e. */
static int exchange(struct bcall *k, kva_err *e)
{
	kva_trap *t = k->t;
	const kva_blocks_case *bc = k->bc;
	struct req_hdr hd = { REQ_MAGIC, MODE_BLOCKS, 1, 0, 0, 0, 0 };
	struct breq br;
	struct krep rep;
	struct want w;
	static const char zero[8];
	int64_t n = bc->npairs;
	int st, g;

	if ((g = kva_trap_ensure_child(t, e)) < 0)
		return -1;
	if (g > 0 || t->stop_why[0]) {
		t->not_run += (uint64_t)n;
		return 0;
	}
	memset(&br, 0, sizeof br);
	br.desc = k->dc;
	br.sdesc = k->sc;
	br.repeat = t->c.repeat;
	br.npairs = n;
	br.glo = k->glo;
	br.ghi = k->ghi;
	br.nreg = k->nreg;
	br.sglo = k->sglo;
	br.nsrc = k->nsrc;
	hd.seq = ++t->seq;
	t->req.len = 0;
	kva_buf_put(&t->req, &hd, sizeof hd);
	kva_buf_put(&t->req, &br, sizeof br);
	kva_buf_put(&t->req, bc->pairs, (size_t)n * 2 * sizeof *bc->pairs);
	kva_buf_put(&t->req, k->src, (size_t)k->nsrc * sizeof *k->src);
	kva_buf_put(&t->req, k->init, (size_t)k->nreg * sizeof *k->init);
	kva_buf_put(&t->req, zero, (8 - t->req.len % 8) % 8);
	((struct req_hdr *)(void *)t->req.p)->len = t->req.len - sizeof hd;
	memset(&w, 0, sizeof w);
	w.bytes = w.unit = sizeof rep + (size_t)k->nreg * sizeof(float);
	t->rep.len = 0;
	st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep, kva_trap_bytes_done,
			      &w, t->c.lim.timeout_s);
	if (st == KVA_SBX_OK) {
		memcpy(&rep, t->rep.p, sizeof rep);
		if (t->rep.len != w.bytes || rep.tag != hd.seq)
			st = SBX_GARBLED;
	}
	if (st != KVA_SBX_OK) {
		/* the call is the unit: the finding is the call's */
		struct bfind *f = &k->f[n];

		f->cls = st == KVA_SBX_TIMEOUT ? KVA_C_TIMEOUT : st == SBX_GARBLED ?
			 KVA_C_ERROR : KVA_C_CRASH;
		snprintf(f->why, sizeof f->why, "%s", st == SBX_GARBLED ? "answer garbled: "
			 "the reply pipe held bytes that are not the trap's" : t->sbx.why);
		if (st == SBX_GARBLED)
			kva_sbx_stop(&t->sbx);
		if (st == KVA_SBX_TIMEOUT)
			kva_trap_count_hang(t);
		else
			kva_trap_count_crash(t);
		return 0;
	}
	if (rep.rc != 0) {
		k->f[n].cls = KVA_C_ERROR;
		snprintf(k->f[n].why, sizeof k->f[n].why, "kernel returned %d", (int)rep.rc);
		return 0;
	}
	judge_report(k, &rep);
	if (memcmp(t->rep.p + sizeof rep, k->ref, (size_t)k->nreg * sizeof *k->ref))
		judge(k, (const float *)(const void *)(t->rep.p + sizeof rep));
	return 0;
}

int kva_trap_blocks_add(kva_trap *t, const kva_blocks_case *bc, const char *file,
			long line, kva_err *e)
{
	struct bcall k;
	int64_t n = bc->npairs;
	int view, rc = 0, twin;
	uint64_t r;

	if (!claims(t, bc)) {
		t->unclaimed += (uint64_t)n;
		return 0;
	}
	memset(&k, 0, sizeof k);
	k.t = t;
	k.bc = bc;
	k.call = ++t->bcalls;
	k.first = t->cases;
	k.swap = t->c.kind == KVA_KIND_SWAP_BLOCKS;
	k.S = bc->block_size;
	k.H = t->c.heads;
	k.D = t->c.head_dim;
	k.per = k.S * k.H * k.D;
	t->cases += (uint64_t)n;
	if (t->stop_why[0]) {
		t->not_run += (uint64_t)n;
		return 0;
	}
	/* a view every other call (or as the boundary says); a swap's two
	 * views are alike (one shape, one offset) in the boundaries and
	 * every other strided call, else each its own */
	view = t->has_cons && (t->cons.flags & KVA_CAN_STRIDED) &&
	       (bc->strided < 0 ? (int)(k.call % 2) : bc->strided);
	r = kva_trap_mix64(t->c.seed ^ 0x737472ULL, k.call);
	if (make_desc(t, &k.dc, k.swap ? bc->dst_layout : t->c.layout,
		      k.swap ? bc->dst_blocks : bc->num_blocks, k.S, view, r, e) ||
	    (k.swap && make_desc(t, &k.sc, t->c.layout, bc->num_blocks, k.S, view,
				 bc->strided > 0 || k.call % 4 == 1 ? r : kva_trap_mix64(r, 1),
				 e)))
		return -1;
	if (view)
		t->scalls++;
	/* slack bands: at least a block (and 1024 floats) on each side, the
	 * high one rounded so the buffer ends on a page (the guard page) */
	k.elems = kva_cache_elems(&k.dc);
	k.glo = k.per > 1024 ? k.per : 1024;
	k.ghi = k.glo + page_pad(2 * k.glo + k.elems);
	k.nreg = k.glo + k.elems + k.ghi;
	if (k.swap) {
		k.selems = kva_cache_elems(&k.sc);
		k.sglo = k.glo;
		k.sghi = k.sglo + page_pad(2 * k.sglo + k.selems);
		k.nsrc = k.sglo + k.selems + k.sghi;
	}
	k.init = malloc((size_t)k.nreg * sizeof *k.init);
	k.ref = malloc((size_t)k.nreg * sizeof *k.ref);
	k.src = malloc((size_t)k.nsrc * sizeof *k.src + 1);
	k.f = malloc((size_t)(n + 1) * sizeof *k.f);
	if (!k.init || !k.ref || !k.src || !k.f)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int64_t i = 0; i <= n; i++) {
		k.f[i].cls = -1;
		k.f[i].got[0] = k.f[i].why[0] = '\0';
	}
	fill(&k, k.init, k.glo, k.nreg, &k.dc, C_DST);
	if (k.swap)
		fill(&k, k.src, k.sglo, k.nsrc, &k.sc, C_SRC);
	memcpy(k.ref, k.init, (size_t)k.nreg * sizeof *k.ref);
	twin = k.swap ? kva_ref_swap_blocks(k.src + k.sglo, &k.sc, k.ref + k.glo, &k.dc,
					    bc->pairs, n) :
	       kva_ref_copy_blocks(k.ref + k.glo, &k.dc, bc->pairs, n);
	if (twin)
		rc = kva_errf(e, NULL, "the CPU twin refused the call (%d)", twin);
	else if (!(rc = exchange(&k, e)))
		record(&k, file, line);
	free(k.init);
	free(k.ref);
	free(k.src);
	free(k.f);
	free(k.vals);
	return rc;
}

/* ---- the generators -------------------------------------------------------- */

/* The layout after l: nhd -> hnd -> vllm-x -> nhd (a swap's destination
 * in the boundaries marked so); the same when x does not divide D. */
static int next_layout(const kva_trap *t, int l)
{
	int n = (l + 1) % 3;

	return n == KVA_LAYOUT_VLLM_X && t->c.head_dim % t->c.x ? (n + 1) % 3 : n;
}

/* Run one generated case, contiguous and (when the kernel declares
 * KVA_CAN_STRIDED) as a strided view.  Returns 0 or -1 with e. */
static int gen_one(kva_trap *t, kva_blocks_case *bc, kva_err *e)
{
	int views = t->has_cons && (t->cons.flags & KVA_CAN_STRIDED) ? 2 : 1;

	if (bc->dst_blocks < 1)
		bc->dst_blocks = bc->num_blocks;
	for (int v = 0; v < views; v++) {
		bc->strided = v;
		if (kva_trap_blocks_add(t, bc, "", 0, e))
			return -1;
	}
	return 0;
}

/* A boundary: its name, block size, blocks (source, destination: 0 the
 * same), whether a swap's destination takes the next layout, pairs. */
struct bnd {
	const char *label;
	int64_t S, B, DB;
	int other;
	int np;
	int64_t p[12];
};

static const struct bnd bnds[] = {
	{ "one pair", 16, 4, 0, 1, 1, { 1, 2 } },
	{ "first to last", 16, 8, 0, 0, 1, { 0, 7 } },
	{ "last to first", 16, 8, 0, 0, 1, { 7, 0 } },
	{ "adjacent blocks", 16, 6, 0, 0, 2, { 2, 3, 5, 4 } },
	{ "chain", 16, 8, 0, 1, 3, { 1, 2, 2, 3, 3, 4 } },
	{ "cycle", 16, 4, 0, 0, 2, { 0, 1, 1, 0 } },
	{ "three-cycle", 16, 5, 0, 1, 3, { 0, 1, 1, 2, 2, 0 } },
	{ "copy-on-write fan-out", 16, 8, 0, 0, 5, { 2, 0, 2, 1, 2, 3, 2, 5, 2, 7 } },
	{ "src == dst", 16, 4, 0, 0, 2, { 1, 1, 2, 3 } },
	{ "block size 1", 1, 8, 0, 1, 3, { 0, 3, 3, 5, 7, 0 } },
	{ "block size 256", 256, 4, 0, 1, 2, { 0, 2, 3, 1 } },
	{ "out of order", 16, 16, 0, 0, 5, { 9, 3, 1, 12, 14, 0, 5, 7, 0, 9 } },
	{ "no pairs", 16, 2, 0, 0, 0, { 0 } },
	{ "source larger", 16, 8, 4, 1, 2, { 7, 0, 5, 3 } },
	{ "destination larger", 16, 4, 8, 0, 2, { 3, 7, 0, 5 } },
};

/* The boundary "many pairs": 1000 pairs on 2048 blocks, destinations a
 * seeded choice of distinct blocks, sources any block (chains among
 * them), in no order. */
static int gen_many(kva_trap *t, kva_blocks_case *bc, kva_err *e)
{
	const int64_t np = 1000, B = 2048;
	int64_t *perm = malloc((size_t)B * sizeof *perm);
	kva_rng rng;
	int rc;

	if (!perm || !(bc->pairs = malloc((size_t)np * 2 * sizeof *bc->pairs)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	kva_rng_seed(&rng, t->c.seed ^ 0x6d616e79ULL);
	for (int64_t i = 0; i < B; i++)
		perm[i] = i;
	for (int64_t i = B - 1; i > 0; i--) {
		int64_t j = kva_rng_range(&rng, 0, i), x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (int64_t i = 0; i < np; i++) {
		bc->pairs[2 * i] = kva_rng_range(&rng, 0, B - 1);
		bc->pairs[2 * i + 1] = perm[i];
	}
	bc->npairs = np;
	bc->block_size = 16;
	bc->num_blocks = bc->dst_blocks = B;
	bc->label = "many pairs";
	rc = gen_one(t, bc, e);
	free(perm);
	kva_blocks_case_free(bc);
	return rc;
}

/* A random record: block size 1 to 64 (or one of 128, 256), 1 to 64
 * blocks, 0 to B pairs (at most 64) to distinct destinations. */
static int gen_random(kva_trap *t, kva_rng *rng, kva_blocks_case *bc, kva_err *e)
{
	static const int64_t big[] = { 128, 256 };
	int64_t B, DB, np, *perm;
	int rc;

	bc->block_size = kva_rng_range(rng, 0, 7) ? kva_rng_range(rng, 1, 64) :
			 big[kva_rng_range(rng, 0, 1)];
	B = kva_rng_range(rng, 1, 64);
	DB = t->c.kind == KVA_KIND_SWAP_BLOCKS && kva_rng_range(rng, 0, 1) ?
	     kva_rng_range(rng, 1, 64) : B;
	np = kva_rng_range(rng, 0, DB < 64 ? DB : 64);
	if (!(perm = malloc((size_t)DB * sizeof *perm)) ||
	    !(bc->pairs = malloc((size_t)(np + 1) * 2 * sizeof *bc->pairs)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int64_t i = 0; i < DB; i++)
		perm[i] = i;
	for (int64_t i = DB - 1; i > 0; i--) {
		int64_t j = kva_rng_range(rng, 0, i), x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (int64_t i = 0; i < np; i++) {
		bc->pairs[2 * i] = kva_rng_range(rng, 0, B - 1);
		bc->pairs[2 * i + 1] = perm[i];
	}
	bc->npairs = np;
	bc->num_blocks = B;
	bc->dst_blocks = DB;
	bc->dst_layout = t->c.kind == KVA_KIND_SWAP_BLOCKS && kva_rng_range(rng, 0, 1) ?
			 next_layout(t, t->c.layout) : t->c.layout;
	bc->strided = -1;
	bc->label = NULL;
	rc = kva_trap_blocks_add(t, bc, "", 0, e);
	free(perm);
	kva_blocks_case_free(bc);
	return rc;
}

int kva_trap_blocks_generate(kva_trap *t, const char *mode, uint64_t n, kva_err *e)
{
	kva_blocks_case bc;

	memset(&bc, 0, sizeof bc);
	if (!strcmp(mode, "random")) {
		kva_rng rng;

		kva_rng_seed(&rng, t->c.seed ^ 0x72616e64ULL);
		for (uint64_t i = 0; i < n; i++)
			if (gen_random(t, &rng, &bc, e))
				return -1;
		return 0;
	}
	if (strcmp(mode, "boundaries"))
		return kva_errf(e, NULL, "the block-copy kinds have --boundaries and "
				"--random, not --%s", mode);
	for (size_t i = 0; i < sizeof bnds / sizeof *bnds; i++) {
		const struct bnd *x = &bnds[i];
		int swap = t->c.kind == KVA_KIND_SWAP_BLOCKS;

		if (x->DB && !swap)
			continue;        /* two caches: swap only */
		memset(&bc, 0, sizeof bc);
		bc.label = x->label;
		bc.block_size = x->S;
		bc.num_blocks = x->B;
		bc.dst_blocks = x->DB ? x->DB : x->B;
		bc.npairs = x->np;
		bc.pairs = (int64_t *)(uintptr_t)x->p;
		bc.dst_layout = swap && x->other ? next_layout(t, t->c.layout) : t->c.layout;
		if (bc.num_blocks * x->S * t->c.heads * t->c.head_dim > MAX_ELEMS)
			continue;
		if (gen_one(t, &bc, e))
			return -1;
	}
	memset(&bc, 0, sizeof bc);
	bc.dst_layout = t->c.layout;
	return gen_many(t, &bc, e);
}
