/* test_pool.c - the paged KV pool: protection at its boundaries, the
 * invariant, the victim order, reselect, the generator and the verifier. */
#include <math.h>
#include <stdlib.h>

#include "unit.h"
#include "pool.h"

/* Every event, as "a3:1" (alloc chunk 3 -> block 1), "e3:1", "p3:1". */
typedef struct log {
	char s[8192];
	size_t n;
} log_t;

static void rec(void *ctx, const kva_pool_ev *ev)
{
	log_t *l = ctx;

	l->n += (size_t)snprintf(l->s + l->n, sizeof l->s - l->n, "%s%c%lld:%lld",
				 l->n ? " " : "", "aep"[ev->kind],
				 (long long)ev->chunk, (long long)ev->block);
}

/* C = 4 tokens, nb blocks, sink 1, tail 2, f32, 1 layer, 1 head, D 4. */
static kva_pool *small(int64_t nb, int policy, log_t *l)
{
	kva_pool_conf c;
	kva_err e;

	kva_pool_conf_default(&c);
	c.chunk_tokens = 4;
	c.pool_tokens = 4 * nb;
	c.head_dim = 4;
	c.tail_chunks = 2;
	c.policy = policy;
	if (l)
		l->n = 0, l->s[0] = 0;
	return kva_pool_new(&c, l ? rec : NULL, l, &e);
}

static int pin1(kva_pool *p, int64_t lo, int64_t hi)
{
	int64_t r[1][2] = { { lo, hi } };
	kva_pool_refusal f;
	kva_err e;

	return kva_pool_pin(p, (const int64_t (*)[2])r, 1, &f, &e);
}

static int append(kva_pool *p, int64_t n)
{
	kva_pool_refusal f;
	kva_err e;

	return kva_pool_append(p, n, 1, &f, &e);
}

static void t_conf_errors(void)
{
	kva_pool_conf c;
	kva_err e;

	kva_pool_conf_default(&c);
	c.pool_tokens = 1000; /* not a multiple of 64 */
	CHECK(!kva_pool_new(&c, NULL, NULL, &e));
	CHECK_STR(e.field, "pool_tokens");
	CHECK(strstr(e.msg, "multiple"));
	c.pool_tokens = 64 * 6; /* minimum is 1 + 4 + 2 = 7 chunks */
	CHECK(!kva_pool_new(&c, NULL, NULL, &e));
	CHECK(strstr(e.msg, "minimum is sink + tail + 2 = 7 chunks (448 tokens)"));
	c.pool_tokens = 64 * 7;
	kva_pool_free(kva_pool_new(&c, NULL, NULL, &e));
	c.dtype = KVA_DT_F16;
	c.head_dim = 63;
	CHECK(!kva_pool_new(&c, NULL, NULL, &e));
	CHECK_STR(e.field, "head_dim");
}

/* Pins at exact chunk edges cover exactly the chunks they touch. */
static void t_pin_edges(void)
{
	kva_pool *p = small(16, KVA_POL_LRU, NULL);

	CHECK(p);
	CHECK(append(p, 40) == 0); /* chunks 0..9 */
	CHECK(pin1(p, 16, 20) == 0); /* exactly chunk 4 */
	CHECK(p->ch[4].pinned && !p->ch[3].pinned && !p->ch[5].pinned);
	CHECK(pin1(p, 23, 24) == 0); /* lo == hi - 1, last token of chunk 5 */
	CHECK(p->ch[5].pinned && !p->ch[6].pinned);
	CHECK(pin1(p, 27, 29) == 0); /* straddles chunks 6 and 7 */
	CHECK(p->ch[6].pinned && p->ch[7].pinned && !p->ch[8].pinned);
	CHECK(!kva_pool_protected(p, 3) && kva_pool_protected(p, 4));
	kva_pool_free(p);
}

/* The tail window at the start of a sequence, and as the head moves. */
static void t_tail_window(void)
{
	kva_pool *p = small(16, KVA_POL_LRU, NULL);

	CHECK(append(p, 1) == 0); /* one partial chunk: sink and head */
	CHECK(kva_pool_protected(p, 0));
	CHECK(append(p, 11) == 0); /* chunks 0..2: all in sink + tail */
	for (int k = 0; k < 3; k++)
		CHECK(kva_pool_protected(p, k));
	CHECK(p->nheap + (int64_t)p->nq == 0);
	CHECK(append(p, 4) == 0); /* chunk 3 is head: 1..3 tail+head */
	CHECK(kva_pool_protected(p, 1));
	CHECK(append(p, 1) == 0); /* chunk 4 opens: chunk 1 leaves */
	CHECK(!kva_pool_protected(p, 1) && kva_pool_protected(p, 2));
	CHECK(p->nheap + (int64_t)p->nq == 1);
	kva_pool_free(p);
}

/* One invariant for every class: at the minimum pool no pin outside the
 * sink fits; the refusal changes nothing. */
static void t_invariant(void)
{
	kva_pool *p = small(5, KVA_POL_LRU, NULL); /* 1 + 2 + 2 */
	int64_t r2[2][2] = { { 0, 4 }, { 40, 41 } };
	kva_pool_refusal f;
	kva_err e;

	CHECK(p);
	CHECK(pin1(p, 0, 4) == 0); /* the sink itself: nothing new */
	CHECK(pin1(p, 4, 5) == 1);
	CHECK(p->npins == 1 && p->n_refused == 1);
	kva_pool_free(p);

	p = small(6, KVA_POL_LRU, NULL); /* room for one pinned chunk */
	CHECK(pin1(p, 8, 12) == 0);
	CHECK(kva_pool_pin(p, (const int64_t (*)[2])r2, 2, &f, &e) == 1);
	CHECK(f.protected_chunks == 6 && f.limit == 5);
	CHECK(p->npins == 1);
	CHECK(append(p, 400) == 0); /* 100 chunks through 6 blocks */
	CHECK(p->ch[0].block >= 0 && p->ch[2].block >= 0);
	for (int64_t k = 97; k < 100; k++)
		CHECK(p->ch[k].block >= 0);
	CHECK(kva_pool_verify(p, &(kva_verify){ 0 }) == 0);
	kva_pool_free(p);
}

/* A co-resident append that cannot fit is refused whole. */
static void t_append_refused(void)
{
	kva_pool *p = small(8, KVA_POL_LRU, NULL);
	kva_pool_refusal f;
	kva_err e;

	CHECK(append(p, 40) == 0);
	/* chunks 10..14, the 2 tail chunks before them and the sink: 8 */
	CHECK(kva_pool_append(p, 20, 0, &f, &e) == 0);
	CHECK(p->cur_pos == 60);
	/* chunks 15..20 + 2 + 1 = 9 > 8 blocks */
	CHECK(kva_pool_append(p, 24, 0, &f, &e) == 1);
	CHECK(p->cur_pos == 60 && p->nchunks == 15);
	CHECK(f.protected_chunks == 9 && f.limit == 8);
	kva_pool_free(p);
}

/* lru evicts the least recently written; score the lowest score, chunks
 * without one first, ties by last_use then chunk; free blocks LIFO. */
static void t_victims(void)
{
	log_t l;
	kva_pool *p = small(6, KVA_POL_LRU, &l);
	double s[7] = { 5, 1, 3, 1, 4, 6, 7 };
	kva_err e;

	CHECK(append(p, 24) == 0); /* chunks 0..5 fill blocks 0..5 */
	CHECK_STR(l.s, "a0:0 a1:1 a2:2 a3:3 a4:4 a5:5");
	l.n = 0;
	CHECK(append(p, 4) == 0);
	CHECK_STR(l.s, "e1:1 a6:1");
	kva_pool_free(p);

	p = small(8, KVA_POL_SCORE, &l);
	CHECK(append(p, 32) == 0); /* chunks 0..7; 1..4 evictable */
	CHECK(kva_pool_scores(p, 1, s, 7, &e) == 0);
	l.n = 0;
	CHECK(append(p, 12) == 0); /* three allocations */
	/* 2 and 4 tie at 1: chunk 2 was written first; then 3 (3) */
	CHECK_STR(l.s, "e2:2 a8:2 e4:4 a9:4 e3:3 a10:3");
	l.n = 0;
	/* chunks 8 and 9 leave the window unscored: below every score */
	CHECK(append(p, 8) == 0);
	CHECK_STR(l.s, "e8:2 a11:2 e9:4 a12:4");
	CHECK(kva_pool_scores(p, 99, s, 1, &e) == -1);
	CHECK_STR(e.field, "scores");
	kva_pool_free(p);
}

/* reselect keeps the best scores, pages out before it pages in, and
 * page-ins reuse the freed blocks LIFO. */
static void t_reselect(void)
{
	log_t l;
	kva_pool *p = small(6, KVA_POL_SCORE, &l);
	double s[8] = { 0, 9, 0, 0, 0, 0, 0, 0 };
	kva_verify v;
	kva_err e;

	CHECK(append(p, 40) == 0); /* chunks 0..9; resident 0, 6..9, 5 */
	CHECK(p->ch[1].block < 0);
	CHECK(kva_pool_scores(p, 0, s, 8, &e) == 0);
	l.n = 0;
	CHECK(kva_pool_reselect(p, &e) == 0);
	/* resident 0, 5..9; 0 and 7..9 protected; room for 2 more: chunk 1
	 * (score 9) and, of the zeros, the most recently written: 6.  5 goes
	 * first and its block 5 is the one chunk 1 gets (LIFO). */
	CHECK_STR(l.s, "e5:5 p1:5");
	CHECK(p->ch[1].block == 5 && p->ch[6].block >= 0);
	CHECK(kva_pool_verify(p, &v) == 0 && v.chunks == 10);
	kva_pool_free(p);
}

/* Pinning a paged-out chunk brings it back, bit-exact. */
static void t_pin_pages_in(void)
{
	log_t l;
	kva_pool *p = small(8, KVA_POL_LRU, &l);
	kva_verify v;

	CHECK(append(p, 80) == 0);
	CHECK(p->ch[3].block < 0);
	l.n = 0;
	CHECK(pin1(p, 12, 16) == 0);
	CHECK(strstr(l.s, "p3:"));
	CHECK(p->ch[3].block >= 0);
	CHECK(kva_pool_verify(p, &v) == 0 && v.bytes == 80 * 2 * 4 * 4);
	kva_pool_unpin_all(p);
	CHECK(!kva_pool_protected(p, 3));
	kva_pool_free(p);
}

/* The verifier names the first corrupted element. */
static void t_verify_finds(void)
{
	kva_pool *p = small(8, KVA_POL_LRU, NULL);
	kva_verify v;
	int64_t b;

	CHECK(append(p, 30) == 0);
	b = p->ch[2].block;
	/* chunk 2, token 1 (pos 9), V (head index 1), dim 3 */
	p->data[kva_cache_index(&p->desc, b * 4 + 1, 1, 3)] *= -1.0f;
	CHECK(kva_pool_verify(p, &v) == 1);
	CHECK(v.chunk == 2 && v.row == 1 && v.kv == 1 && v.head == 0 &&
	      v.dim == 3 && v.layer == 0);
	kva_pool_free(p);
}

/* The generator: documented bit shape, per-element function = rows. */
static void t_generator(void)
{
	kva_pool_conf c;
	kva_pool *p;
	kva_err e;
	float row[2 * 2 * 2 * 3];
	uint32_t w;

	CHECK(kva_half_to_double(0x3C00) == 1.0);
	CHECK(kva_half_to_double(0xC000) == -2.0);
	CHECK(kva_half_to_double(0x0001) == ldexp(1, -24));
	CHECK(isinf(kva_half_to_double(0x7C00)));
	kva_pool_conf_default(&c);
	c.chunk_tokens = 4;
	c.pool_tokens = 32;
	c.layers = 2;
	c.kv_heads = 2;
	c.head_dim = 6;
	c.dtype = KVA_DT_F16;
	c.seed = 7;
	CHECK((p = kva_pool_new(&c, NULL, NULL, &e)));
	kva_pool_gen_row(p, 11, row);
	for (int l = 0; l < 2; l++)
		for (int kv = 0; kv < 2; kv++)
			for (int h = 0; h < 2; h++)
				for (int d = 0; d < 6; d++) {
					uint32_t bits = kva_kv_bits(7, KVA_DT_F16, l,
								    kv, h, 11, d);
					double v = kva_pool_row_value(p, row, l,
								      kv, h, d);

					CHECK(v == kva_half_to_double((uint16_t)bits));
					CHECK(fabs(v) >= 0.5 && fabs(v) < 1);
				}
	w = kva_kv_bits(7, KVA_DT_F32, 0, 0, 0, 0, 0);
	CHECK((w & 0x7F800000u) == 0x3F000000u);
	CHECK(kva_kv_bits(7, KVA_DT_F32, 0, 0, 0, 0, 0) !=
	      kva_kv_bits(8, KVA_DT_F32, 0, 0, 0, 0, 0));
	kva_pool_free(p);
}

/* The probe finds the sink after the middle is gone. */
static void t_probe_sink(void)
{
	kva_pool_conf c;
	kva_pool *p;
	kva_probe pr;
	kva_err e;

	kva_pool_conf_default(&c);
	CHECK((p = kva_pool_new(&c, NULL, NULL, &e)));
	CHECK(append(p, 20 * 1024) == 0);
	CHECK(p->ch[1].block < 0);
	CHECK(kva_pool_probe(p, 20 * 1024 - 1, 0, 0, NULL, 0, &pr, &e) == 0);
	CHECK(pr.winner == 0 && pr.candidates == 1024);
	CHECK(kva_pool_probe(p, 20 * 1024, 0, 0, NULL, 0, &pr, &e) == -1);
	CHECK_STR(e.field, "pos");
	kva_pool_free(p);
}

UNIT_SUITE(suite_pool) = {
	{ "pool_conf_errors", t_conf_errors },
	{ "pool_pin_edges", t_pin_edges },
	{ "pool_tail_window", t_tail_window },
	{ "pool_invariant", t_invariant },
	{ "pool_append_refused", t_append_refused },
	{ "pool_victims", t_victims },
	{ "pool_reselect", t_reselect },
	{ "pool_pin_pages_in", t_pin_pages_in },
	{ "pool_verify_finds", t_verify_finds },
	{ "pool_generator", t_generator },
	{ "pool_probe_sink", t_probe_sink },
	{ NULL, NULL }
};
