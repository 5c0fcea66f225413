/*
 * pool.h - the bounded paged KV pool (lib/pool.c), shared by kv-prefill(1)
 * and kv-snapshot(1).  SPEC section 7.
 *
 * A sequence is a run of chunks of chunk_tokens tokens; chunk k holds
 * tokens [k*C, (k+1)*C).  The pool has NB = pool_tokens / C blocks, each
 * holding one chunk for every layer, K and V, and kv-head.  Inside the
 * pool the data is one cache in the HND layout of kvarbiter_candidate.h
 * whose "heads" are the (layer, K|V, kv-head) triples in that order
 * (layer-major, K then V, head-minor), so every write and page copy goes
 * through the reference kernels of kernels/kvcache.h with the block table
 * as the slot mapping: slot = block * C + offset.  f16 rows travel as
 * 32-bit words (head_dim must then be even); bytes are never converted.
 *
 * Chunks not resident are kept bit-exact in a host store (token-major:
 * a token's row is the (layer, K|V, head, dim) elements in that order).
 *
 * Protected from eviction: chunks [0, sink), the head chunk (the last one)
 * and the tail chunks before it, chunks overlapping a pinned token range
 * [lo, hi), and the span an append is writing.  The rest of the resident
 * chunks sit in a binary heap keyed by the victim order:
 *   lru:   (last_use, chunk)                   smallest first
 *   score: (score, last_use, chunk), a chunk without a score ranking
 *          below every scored one
 * (with an ordered queue in front for the common in-order case), so an
 * allocation costs O(1) amortised or O(log NB), never a scan of chunks.
 *
 * The one invariant: the protected chunks, counted whether or not they
 * exist yet, plus the tail window at full size, leave at least one block
 * to evict.  pin (and append) check it before changing anything and are
 * refused whole when it would break, so an allocation can never find the
 * pool full of protected blocks.
 */
#ifndef KVA_POOL_H
#define KVA_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "kvarbiter.h"
#include "kvcache.h"

enum { KVA_DT_F16 = 1, KVA_DT_F32 = 2 };
enum { KVA_POL_LRU = 0, KVA_POL_SCORE = 1 };
enum { KVA_EV_ALLOC, KVA_EV_EVICT, KVA_EV_PAGE_IN };

typedef struct kva_pool_conf {
	int64_t chunk_tokens;  /* C, default 64 */
	int64_t pool_tokens;   /* a multiple of C */
	int64_t layers, kv_heads, head_dim;
	int dtype;             /* KVA_DT_F16 or KVA_DT_F32 */
	int64_t sink_chunks;   /* default 1 */
	int64_t tail_chunks;   /* default 4 */
	int policy;            /* KVA_POL_LRU or KVA_POL_SCORE */
	uint64_t seed;
	int no_data;           /* metadata only: no bytes are stored */
	const char *cuda_lib;  /* non-NULL: the pool lives on the GPU, moved
				  by the kernels of this libkvcache_cuda.so */
} kva_pool_conf;

/* "f16" / "f32" and back (0 for an unknown name); "lru" / "score" to a
 * policy (-1 for an unknown name).  The one spelling of each. */
const char *kva_dtype_name(int dtype);
int kva_dtype_parse(const char *s);
int kva_policy_parse(const char *s);

/* Defaults of kv-prefill(1): C 64, pool 1024, 1 layer, 1 head, D 64, f32,
 * sink 1, tail 4, lru, seed 0, with data. */
void kva_pool_conf_default(kva_pool_conf *c);

/* One residency change, reported through the pool's callback. */
typedef struct kva_pool_ev {
	int kind;      /* KVA_EV_* */
	int64_t chunk; /* logical chunk */
	int64_t block; /* the block it got (alloc, page_in) or left (evict) */
	const char *why; /* evict: "alloc", "pin", "reselect" */
} kva_pool_ev;

typedef void (*kva_pool_cb)(void *ctx, const kva_pool_ev *ev);

typedef struct kva_chunk {  /* 32 bytes: a long prompt has many */
	int64_t hpos;      /* evictable-set position (pool.c), or -1 */
	uint64_t last_use; /* write tick of the last write */
	double score;
	int32_t block;     /* resident block, or -1 */
	uint32_t ntok : 22;/* tokens written, 0..C */
	uint32_t has_score : 1, pinned : 1;
} kva_chunk;

typedef struct kva_pool {
	kva_pool_conf c;
	int64_t nb;          /* blocks */
	int64_t hall;        /* layers * 2 * kv_heads */
	int64_t dw;          /* 32-bit words per (head, token) row */
	size_t row_words;    /* hall * dw: one token's words */
	size_t chunk_words;  /* C * row_words */
	float *data;         /* nb * chunk_words words, HND, or NULL; a
				device pointer with cuda_lib */
	struct kva_pool_cuda *cu; /* the device backend, or NULL */
	kva_cache_desc desc;

	kva_chunk *ch;       /* nchunks chunks */
	float **host;        /* per chunk: paged-out bytes (token-major) or
				NULL; the array itself is NULL with no_data */
	int64_t nchunks, cap;
	int64_t cur_pos;
	int64_t *freel, nfree; /* free blocks, a LIFO stack */
	int64_t *heap, nheap;  /* evictable resident chunks ... */
	int64_t *q;            /* ... and an ordered queue in front (pool.c) */
	uint64_t qbase, qhead, qtail, qcap, nq;
	int64_t *owner;        /* block -> chunk, or -1 */

	int64_t (*pins)[2];    /* token ranges [lo, hi) as given */
	int64_t npins, pincap;
	int64_t (*pch)[2];     /* pinned chunk ranges, merged, sorted */
	int64_t npch;
	int64_t span_lo, span_hi; /* chunks of the append in progress */

	uint64_t tick, epoch;
	uint64_t n_alloc, n_evict, n_page_in, n_refused;
	uint64_t bytes_written;
	kva_pool_cb cb;
	void *ctx;
	float *row;            /* one token's words, staging */
	int64_t *slots;        /* C slots, staging */
} kva_pool;

/* A refusal: what was asked, and the count that broke the invariant. */
typedef struct kva_pool_refusal {
	int64_t protected_chunks; /* chunks protected had it been accepted */
	int64_t limit;            /* most allowed */
	char why[256];
} kva_pool_refusal;

/*
 * Check c (a field name and message in e on failure: pool not a multiple
 * of the chunk, pool below (sink + tail + 2) chunks, a size below 1, odd
 * head_dim with f16, sizes that overflow) and allocate the pool.
 */
kva_pool *kva_pool_new(const kva_pool_conf *c, kva_pool_cb cb, void *ctx,
		       kva_err *e);
void kva_pool_free(kva_pool *p);

/* Bytes of one chunk (all layers, K and V, heads, C tokens). */
size_t kva_pool_chunk_bytes(const kva_pool *p);

/* Start a new sequence: every chunk and host copy dropped, blocks freed,
 * scores gone; pins stay (they protect the coming prefill); epoch + 1. */
void kva_pool_reset(kva_pool *p);

/*
 * Append n tokens.  chunked = 1 (prefill): chunk by chunk, only the chunk
 * being written is protected, never refused.  chunked = 0 (append): the
 * whole span must be resident at once; returns 1 with *r filled, having
 * changed nothing, when that would break the invariant.  0 on success, -1
 * on an internal failure (e).
 */
int kva_pool_append(kva_pool *p, int64_t n, int chunked, kva_pool_refusal *r,
		    kva_err *e);

/* Pin the n token ranges rg[i] = [lo, hi) (0 <= lo < hi) together: 0,
 * or 1 refused whole (*r; nothing changed).  Host-only chunks they cover
 * are paged in at once.  n == 0 changes nothing. */
int kva_pool_pin(kva_pool *p, const int64_t (*rg)[2], int64_t n,
		 kva_pool_refusal *r, kva_err *e);
void kva_pool_unpin_all(kva_pool *p);

/* Scores of chunks start .. start+n-1; every one must exist (else -1,
 * field "scores"); values finite.  The victim heap is rebuilt. */
int kva_pool_scores(kva_pool *p, int64_t start, const double *v, int64_t n,
		    kva_err *e);

/* Re-choose residency: protected chunks, then the best by the victim
 * order reversed, up to NB; page-outs first, then page-ins. epoch + 1. */
int kva_pool_reselect(kva_pool *p, kva_err *e);

/* Is chunk k protected now? */
int kva_pool_protected(const kva_pool *p, int64_t k);

/* The probe: attention of a query over the resident tokens <= pos of
 * (layer, head)'s K.  The query is q (head_dim floats), or, when q is
 * NULL, the key the generator gives position qpos.  With --no-data the
 * keys come from the generator too. */
typedef struct kva_probe {
	int64_t winner, candidates;
	double weight, logit;
} kva_probe;
int kva_pool_probe(kva_pool *p, int64_t pos, int64_t layer, int64_t head,
		   const double *q, int64_t qpos, kva_probe *out, kva_err *e);

/* Re-derive every resident and host chunk from the generator and compare
 * byte for byte.  Returns the number of mismatching chunks (0 = clean);
 * the first mismatch is described in where. */
typedef struct kva_verify {
	int64_t chunks, bytes, bad_chunks, bad_rows;
	int64_t chunk, layer, head, row, dim; /* first mismatch */
	int kv;                               /* 0 K, 1 V */
} kva_verify;
int64_t kva_pool_verify(kva_pool *p, kva_verify *v);

/* The pool's final "state" record, and the "route" records of its
 * compacted block table (kv-prefill(1) documents both), each written
 * with kva_out_record through b. */
void kva_pool_write_state(const kva_pool *p, kva_buf *b);
void kva_pool_write_routes(const kva_pool *p, kva_buf *b);

/* ---- for lib/snap.c -------------------------------------------------- */

/* Gather the n token rows at p->slots[0..n) into rows (token-major). */
int kva_pool_read_rows(kva_pool *p, float *rows, int64_t n);

/* A sequence to load: count chunks covering cur_pos tokens; meta gives
 * chunk k's ledger (KVA_SE_* flags of snap.h, score, last_use), rows its
 * ntok token-major rows. */
typedef struct kva_pool_src {
	int64_t count, cur_pos;
	void *ctx;
	void (*meta)(void *ctx, int64_t k, unsigned *flags, double *score,
		     uint64_t *last_use);
	void (*rows)(void *ctx, int64_t k, int64_t ntok, float *rows);
} kva_pool_src;

/*
 * Replace the pool's sequence with src (the caller has checked it): pins
 * are the chunks src marks pinned, each kept while the invariant allows
 * (the rest counted in *dropped); residency is protected chunks first,
 * then src's resident chunks best first by the victim order, up to the
 * blocks; the rest on the host.  No events.  Epoch + 1.  -1 only on a
 * device failure, which leaves the pool empty.
 */
int kva_pool_load(kva_pool *p, const kva_pool_src *src, int64_t *dropped,
		  kva_err *e);

/* The generator: element (layer, kv, head, pos, dim) as dtype bits (f32
 * in the low 32 bits, f16 in the low 16).  Finite, magnitude in [0.5, 1),
 * random sign. */
uint32_t kva_kv_bits(uint64_t seed, int dtype, int64_t layer, int kv,
		     int64_t head, int64_t pos, int64_t dim);
/* One head's row of D elements (D * 2 or D * 4 bytes; D even with f16). */
void kva_kv_head_row(uint64_t seed, int dtype, int64_t layer, int kv,
		     int64_t head, int64_t pos, int64_t D, void *out);
/* One token's row (p->row_words words) for position pos. */
void kva_pool_gen_row(const kva_pool *p, int64_t pos, float *row);
/* The element at (layer, kv, head, dim) of a token row, as a double. */
double kva_pool_row_value(const kva_pool *p, const float *row, int64_t layer,
			  int kv, int64_t head, int64_t dim);
double kva_half_to_double(uint16_t h);

#endif
