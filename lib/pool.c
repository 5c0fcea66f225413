/*
 * pool.c - the bounded paged KV pool (the contract is in pool.h).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* ---- the generator --------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* One key per (layer, K|V, head, position) row; elements mix in dim. */
static uint32_t row_key(uint64_t seed, int64_t layer, int kv, int64_t head,
			int64_t pos)
{
	uint64_t h = mix64(seed);

	h = mix64(h ^ (uint64_t)layer);
	h = mix64(h ^ ((uint64_t)head << 1 | (uint64_t)kv));
	h = mix64(h ^ (uint64_t)pos);
	return (uint32_t)(h ^ (h >> 32));
}

/*
 * One hash per 32-bit word of a row (half of lowbias32: one multiply, so
 * the generator keeps up with memcpy).  A word is one f32 element, or two
 * f16 elements: dims 2w (low half) and 2w + 1 (high half).
 */
static inline uint32_t word_hash(uint32_t key, uint32_t w)
{
	uint32_t x = key ^ (w * 0x9E3779B9u);

	x ^= x >> 16;
	x *= 0x7FEB352Du;
	return x ^ (x >> 15);
}

/* Keep the sign and mantissa bits, force the exponent of 0.5: finite,
 * magnitude in [0.5, 1), whatever the hash. */
static inline uint32_t f32_word(uint32_t x)
{
	return (x & 0x807FFFFFu) | 0x3F000000u;
}

static inline uint32_t f16x2_word(uint32_t x)
{
	return (x & 0x83FF83FFu) | 0x38003800u;
}

uint32_t kva_kv_bits(uint64_t seed, int dtype, int64_t layer, int kv,
		     int64_t head, int64_t pos, int64_t dim)
{
	uint32_t key = row_key(seed, layer, kv, head, pos);

	if (dtype == KVA_DT_F16) {
		uint32_t w = f16x2_word(word_hash(key, (uint32_t)(dim / 2)));

		return dim % 2 ? w >> 16 : w & 0xFFFFu;
	}
	return f32_word(word_hash(key, (uint32_t)dim));
}

void kva_kv_head_row(uint64_t seed, int dtype, int64_t layer, int kv,
		     int64_t head, int64_t pos, int64_t D, void *out)
{
	uint32_t key = row_key(seed, layer, kv, head, pos);
	uint32_t *o = out;

	if (dtype == KVA_DT_F16)
		for (int64_t w = 0; w < D / 2; w++)
			o[w] = f16x2_word(word_hash(key, (uint32_t)w));
	else
		for (int64_t w = 0; w < D; w++)
			o[w] = f32_word(word_hash(key, (uint32_t)w));
}

void kva_pool_gen_row(const kva_pool *p, int64_t pos, float *row)
{
	int64_t H = p->c.kv_heads;

	for (int64_t l = 0; l < p->c.layers; l++)
		for (int kv = 0; kv < 2; kv++)
			for (int64_t h = 0; h < H; h++)
				kva_kv_head_row(p->c.seed, p->c.dtype, l, kv, h, pos,
						p->c.head_dim, row +
						((l * 2 + kv) * H + h) * p->dw);
}

double kva_half_to_double(uint16_t h)
{
	int e = (h >> 10) & 0x1F, m = h & 0x3FF;
	double v;

	if (e == 0)
		v = ldexp(m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexp(m | 0x400, e - 25);
	return (h & 0x8000) ? -v : v;
}

/* The element at byte offset off: f32 or f16 bits to a double. */
static double elem_at(const kva_pool *p, const char *base, int64_t dim)
{
	if (p->c.dtype == KVA_DT_F16) {
		uint16_t h;

		memcpy(&h, base + dim * 2, 2);
		return kva_half_to_double(h);
	} else {
		float f;

		memcpy(&f, base + dim * 4, 4);
		return f;
	}
}

static int64_t hidx(const kva_pool *p, int64_t layer, int kv, int64_t head)
{
	return (layer * 2 + kv) * p->c.kv_heads + head;
}

double kva_pool_row_value(const kva_pool *p, const float *row, int64_t layer,
			  int kv, int64_t head, int64_t dim)
{
	return elem_at(p, (const char *)(row + hidx(p, layer, kv, head) * p->dw),
		       dim);
}

/* ---- the device backend ---------------------------------------------- */

/* The CUDA kernels and device memory, loaded from libkvcache_cuda.so
 * (make cuda) so that a build without CUDA links nothing of it. */
typedef struct kva_pool_cuda {
	void *h;
	int (*write)(const float *, int64_t, const int64_t *, int64_t, float *,
		     const kva_cache_desc *);
	int (*gather)(const float *, const kva_cache_desc *, const int64_t *,
		      int64_t, float *, int64_t);
	int (*avail)(char *, size_t);
	void *(*alloc)(size_t);
	void (*release)(void *);
	int (*copy)(void *, const void *, size_t, int);
	float *rows;    /* device staging: C token rows */
	int64_t *slots; /* device staging: C slots */
} kva_pool_cuda;

static void cuda_close(kva_pool_cuda *cu)
{
	if (!cu)
		return;
	if (cu->release) {
		cu->release(cu->rows);
		cu->release(cu->slots);
	}
	if (cu->h)
		dlclose(cu->h);
	free(cu);
}

static kva_pool_cuda *cuda_open(const char *path, kva_err *e)
{
	kva_pool_cuda *cu = calloc(1, sizeof *cu);
	char why[160];

	if (!cu) {
		kva_errf(e, "device", "out of memory");
		return NULL;
	}
	if (!(cu->h = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		kva_errf(e, "device", "cannot load the CUDA kernels: %s",
			 dlerror());
		goto fail;
	}
#define SYM(f, name) \
	if (!(*(void **)&cu->f = dlsym(cu->h, name))) { \
		kva_errf(e, "device", "%s: no %s", path, name); \
		goto fail; \
	}
	SYM(write, "kva_cudak_write_kv")
	SYM(gather, "kva_cudak_gather_kv")
	SYM(avail, "kva_cudak_available")
	SYM(alloc, "kva_cudak_alloc")
	SYM(release, "kva_cudak_release")
	SYM(copy, "kva_cudak_copy")
#undef SYM
	if (!cu->avail(why, sizeof why)) {
		kva_errf(e, "device", "%s", why);
		goto fail;
	}
	return cu;
fail:
	cuda_close(cu);
	return NULL;
}

/* Write n token rows (host, token-major) to the slots in p->slots. */
static int dev_write(kva_pool *p, const float *rows, int64_t n)
{
	kva_pool_cuda *cu = p->cu;

	if (!cu)
		return kva_ref_write_kv(rows, (int64_t)p->row_words, p->slots, n,
					p->data, &p->desc);
	if (cu->copy(cu->rows, rows, (size_t)n * p->row_words * 4, 1) ||
	    cu->copy(cu->slots, p->slots, (size_t)n * sizeof *p->slots, 1))
		return -2;
	return cu->write(cu->rows, (int64_t)p->row_words, cu->slots, n,
			 p->data, &p->desc);
}

/* Gather the n token rows at p->slots into dst (host, token-major). */
static int dev_gather(kva_pool *p, float *dst, int64_t n)
{
	kva_pool_cuda *cu = p->cu;
	int rc;

	if (!cu)
		return kva_ref_gather_kv(p->data, &p->desc, p->slots, n, dst,
					 (int64_t)p->row_words);
	if (cu->copy(cu->slots, p->slots, (size_t)n * sizeof *p->slots, 1))
		return -2;
	rc = cu->gather(p->data, &p->desc, cu->slots, n, cu->rows,
			(int64_t)p->row_words);
	if (rc)
		return rc;
	return cu->copy(dst, cu->rows, (size_t)n * p->row_words * 4, 0);
}

/* ---- set-up ---------------------------------------------------------- */

const char *kva_dtype_name(int dtype)
{
	return dtype == KVA_DT_F16 ? "f16" : "f32";
}

int kva_dtype_parse(const char *s)
{
	return !strcmp(s, "f16") ? KVA_DT_F16 : !strcmp(s, "f32") ? KVA_DT_F32 : 0;
}

int kva_policy_parse(const char *s)
{
	return !strcmp(s, "lru") ? KVA_POL_LRU : !strcmp(s, "score") ?
	       KVA_POL_SCORE : -1;
}

void kva_pool_conf_default(kva_pool_conf *c)
{
	memset(c, 0, sizeof *c);
	c->chunk_tokens = 64;
	c->pool_tokens = 1024;
	c->layers = c->kv_heads = 1;
	c->head_dim = 64;
	c->dtype = KVA_DT_F32;
	c->sink_chunks = 1;
	c->tail_chunks = 4;
	c->policy = KVA_POL_LRU;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *q = n > SIZE_MAX / sz ? NULL : calloc(n ? n : 1, sz);

	if (!q)
		kva_die(2, "out of memory");
	return q;
}

static void *xrealloc(void *q, size_t n)
{
	if (!(q = realloc(q, n ? n : 1)))
		kva_die(2, "out of memory");
	return q;
}

size_t kva_pool_chunk_bytes(const kva_pool *p)
{
	return p->chunk_words * 4;
}

kva_pool *kva_pool_new(const kva_pool_conf *c, kva_pool_cb cb, void *ctx,
		       kva_err *e)
{
	kva_pool *p;
	int64_t nb, hall, words;
	const char *why;

	if (*(const unsigned char *)&(const uint32_t){ 1 } != 1) {
		kva_errf(e, NULL, "the pool's f16 word packing assumes a "
			 "little-endian host");
		return NULL;
	}
	if (c->chunk_tokens < 1 || c->chunk_tokens > (1 << 20)) {
		kva_errf(e, "chunk_tokens", "must be in [1, 1048576]");
		return NULL;
	}
	if (c->pool_tokens < 1 || c->pool_tokens % c->chunk_tokens) {
		kva_errf(e, "pool_tokens", "%lld is not a positive multiple of "
			 "the chunk (%lld tokens)", (long long)c->pool_tokens,
			 (long long)c->chunk_tokens);
		return NULL;
	}
	if (c->layers < 1 || c->kv_heads < 1 || c->head_dim < 1) {
		kva_errf(e, c->layers < 1 ? "layers" : c->kv_heads < 1 ?
			 "kv_heads" : "head_dim", "must be >= 1");
		return NULL;
	}
	if (c->sink_chunks < 0 || c->tail_chunks < 0) {
		kva_errf(e, c->sink_chunks < 0 ? "sink_chunks" : "tail_chunks",
			 "must be >= 0");
		return NULL;
	}
	if (c->dtype != KVA_DT_F16 && c->dtype != KVA_DT_F32) {
		kva_errf(e, "dtype", "must be f16 or f32");
		return NULL;
	}
	if (c->dtype == KVA_DT_F16 && c->head_dim % 2) {
		kva_errf(e, "head_dim", "must be even with f16 (rows move as "
			 "32-bit words)");
		return NULL;
	}
	nb = c->pool_tokens / c->chunk_tokens;
	if (nb > INT32_MAX) {
		kva_errf(e, "pool_tokens", "more than 2^31-1 blocks");
		return NULL;
	}
	if (c->sink_chunks > INT32_MAX || c->tail_chunks > INT32_MAX ||
	    nb < c->sink_chunks + c->tail_chunks + 2) {
		kva_errf(e, "pool_tokens", "%lld tokens is %lld chunks; the "
			 "minimum is sink + tail + 2 = %lld chunks (%lld tokens)",
			 (long long)c->pool_tokens, (long long)nb,
			 (long long)(c->sink_chunks + c->tail_chunks + 2),
			 (long long)((c->sink_chunks + c->tail_chunks + 2) *
				     c->chunk_tokens));
		return NULL;
	}
	if (__builtin_mul_overflow(c->layers, 2 * c->kv_heads, &hall) ||
	    __builtin_mul_overflow(hall, c->dtype == KVA_DT_F16 ?
				   c->head_dim / 2 : c->head_dim, &words) ||
	    __builtin_mul_overflow(words, c->chunk_tokens, &words) ||
	    words > ((int64_t)1 << 40) / 4) {
		kva_errf(e, "head_dim", "a chunk of layers * 2 * kv_heads * "
			 "head_dim * chunk_tokens elements is too large");
		return NULL;
	}
	if (!c->no_data && (nb > INT64_MAX / words ||
			    (uint64_t)(nb * words) > SIZE_MAX / 4)) {
		kva_errf(e, "pool_tokens", "the pool does not fit in memory");
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->c = *c;
	p->nb = nb;
	p->hall = hall;
	p->dw = c->dtype == KVA_DT_F16 ? c->head_dim / 2 : c->head_dim;
	p->row_words = (size_t)(hall * p->dw);
	p->chunk_words = (size_t)words;
	p->desc.layout = KVA_LAYOUT_HND;
	p->desc.num_blocks = nb;
	p->desc.block_size = c->chunk_tokens;
	p->desc.num_heads = hall;
	p->desc.head_dim = p->dw;
	p->desc.x = 1;
	if (kva_cache_desc_check(&p->desc, &why)) {
		kva_errf(e, "pool_tokens", "%s", why);
		free(p);
		return NULL;
	}
	if (c->cuda_lib && !c->no_data) {
		size_t bytes = (size_t)nb * p->chunk_words * 4;

		if (!(p->cu = cuda_open(c->cuda_lib, e))) {
			free(p);
			return NULL;
		}
		p->data = p->cu->alloc(bytes);
		p->cu->rows = p->cu->alloc(p->chunk_words * 4);
		p->cu->slots = p->cu->alloc((size_t)c->chunk_tokens * 8);
		if (!p->data || !p->cu->rows || !p->cu->slots) {
			kva_errf(e, "device", "cannot allocate %zu bytes on the "
				 "device", bytes);
			if (p->data)
				p->cu->release(p->data);
			cuda_close(p->cu);
			free(p);
			return NULL;
		}
		p->row = xcalloc(p->chunk_words, 4);
	} else if (!c->no_data) {
		if (!(p->data = calloc((size_t)nb * p->chunk_words, 4))) {
			kva_errf(e, "pool_tokens", "cannot allocate %lld bytes",
				 (long long)(nb * words * 4));
			free(p);
			return NULL;
		}
		p->row = xcalloc(p->chunk_words, 4);
	}
	p->slots = xcalloc((size_t)c->chunk_tokens, sizeof *p->slots);
	p->freel = xcalloc((size_t)nb, sizeof *p->freel);
	p->heap = xcalloc((size_t)nb, sizeof *p->heap);
	p->owner = xcalloc((size_t)nb, sizeof *p->owner);
	p->cb = cb;
	p->ctx = ctx;
	p->epoch = 0;
	kva_pool_reset(p);
	p->epoch = 0;
	return p;
}

static void drop_chunks(kva_pool *p)
{
	for (int64_t k = 0; p->host && k < p->nchunks; k++)
		free(p->host[k]);
	p->nchunks = 0;
}

void kva_pool_free(kva_pool *p)
{
	if (!p)
		return;
	drop_chunks(p);
	free(p->ch);
	free(p->host);
	if (p->cu) {
		p->cu->release(p->data);
		cuda_close(p->cu);
	} else {
		free(p->data);
	}
	free(p->row);
	free(p->slots);
	free(p->freel);
	free(p->heap);
	free(p->q);
	free(p->owner);
	free(p->pins);
	free(p->pch);
	free(p);
}

void kva_pool_reset(kva_pool *p)
{
	drop_chunks(p);
	p->cur_pos = 0;
	p->nheap = 0;
	p->qhead = p->qtail = p->qbase = 0;
	p->nq = 0;
	p->span_lo = p->span_hi = 0;
	/* LIFO: block 0 on top, so a fresh pool fills blocks 0, 1, 2 ... */
	p->nfree = p->nb;
	for (int64_t i = 0; i < p->nb; i++) {
		p->freel[i] = p->nb - 1 - i;
		p->owner[i] = -1;
	}
	p->epoch++;
}

/* ---- protection ------------------------------------------------------ */

static int in_pch(const kva_pool *p, int64_t k)
{
	int64_t lo = 0, hi = p->npch;

	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;

		if (p->pch[mid][1] <= k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->npch && p->pch[lo][0] <= k;
}

int kva_pool_protected(const kva_pool *p, int64_t k)
{
	int64_t head = p->nchunks - 1;

	return k < p->c.sink_chunks || k >= head - p->c.tail_chunks ||
	       p->ch[k].pinned || (k >= p->span_lo && k < p->span_hi);
}

static int cmp_range(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Merge n sorted-or-not half-open ranges in place; returns the count. */
static int64_t merge_ranges(int64_t (*r)[2], int64_t n)
{
	int64_t m = 0;

	qsort(r, (size_t)n, sizeof *r, cmp_range);
	for (int64_t i = 0; i < n; i++) {
		if (r[i][0] >= r[i][1])
			continue;
		if (m && r[i][0] <= r[m - 1][1]) {
			if (r[i][1] > r[m - 1][1])
				r[m - 1][1] = r[i][1];
		} else {
			r[m][0] = r[i][0];
			r[m][1] = r[i][1];
			m++;
		}
	}
	return m;
}

/* |sink ∪ pinned ∪ extra ranges| in chunks. */
static int64_t count_protected(const kva_pool *p, const int64_t (*extra)[2],
			       int64_t nextra)
{
	int64_t n = p->npch + nextra + 1, m, sum = 0;
	int64_t (*r)[2] = xcalloc((size_t)n, sizeof *r);

	if (p->npch)
		memcpy(r, p->pch, (size_t)p->npch * sizeof *r);
	if (nextra)
		memcpy(r + p->npch, extra, (size_t)nextra * sizeof *r);
	r[n - 1][0] = 0;
	r[n - 1][1] = p->c.sink_chunks;
	m = merge_ranges(r, n);
	for (int64_t i = 0; i < m; i++)
		sum += r[i][1] - r[i][0];
	free(r);
	return sum;
}

/* ---- the victim heap ------------------------------------------------- */

/* Is chunk a a better victim than chunk b? */
static int before(const kva_pool *p, int64_t a, int64_t b)
{
	const kva_chunk *x = &p->ch[a], *y = &p->ch[b];

	if (p->c.policy == KVA_POL_SCORE) {
		if (x->has_score != y->has_score)
			return !x->has_score;
		if (x->has_score && x->score != y->score)
			return x->score < y->score;
	}
	if (x->last_use != y->last_use)
		return x->last_use < y->last_use;
	return a < b;
}

static void heap_set(kva_pool *p, int64_t i, int64_t k)
{
	p->heap[i] = k;
	p->ch[k].hpos = i;
}

static void sift_up(kva_pool *p, int64_t i)
{
	int64_t k = p->heap[i];

	while (i > 0) {
		int64_t up = (i - 1) / 2;

		if (!before(p, k, p->heap[up]))
			break;
		heap_set(p, i, p->heap[up]);
		i = up;
	}
	heap_set(p, i, k);
}

static void sift_down(kva_pool *p, int64_t i)
{
	int64_t k = p->heap[i];

	for (;;) {
		int64_t c = 2 * i + 1;

		if (c >= p->nheap)
			break;
		if (c + 1 < p->nheap && before(p, p->heap[c + 1], p->heap[c]))
			c++;
		if (!before(p, p->heap[c], k))
			break;
		heap_set(p, i, p->heap[c]);
		i = c;
	}
	heap_set(p, i, k);
}

static void heap_push(kva_pool *p, int64_t k)
{
	heap_set(p, p->nheap++, k);
	sift_up(p, p->nheap - 1);
}

static void heap_remove(kva_pool *p, int64_t k)
{
	int64_t i = p->ch[k].hpos, last = p->heap[--p->nheap];

	p->ch[k].hpos = -1;
	if (i == p->nheap)
		return;
	heap_set(p, i, last);
	if (i > 0 && before(p, last, p->heap[(i - 1) / 2]))
		sift_up(p, i);
	else
		sift_down(p, i);
}

static void heap_rebuild(kva_pool *p)
{
	for (int64_t i = p->nheap / 2; i-- > 0;)
		sift_down(p, i);
}

/*
 * The evictable set: the heap, plus an ordered queue in front of it.  A
 * chunk whose key is past the queue's last one (a chunk leaving the tail
 * window is the newest: the common case) is appended in O(1) and leaves
 * from the front in O(1), touching memory in order, so allocation cost
 * stays flat as the pool grows; anything else goes to the heap.  Keys of
 * chunks in the set never change (only the protected head is written;
 * scores rebuild everything into the heap), so the queue stays sorted.
 * A chunk's hpos: >= 0 heap index, -1 not evictable, <= -2 queue entry
 * number -2 - hpos.  Removal from the queue leaves a dead entry that the
 * front and back skip.
 */
static int q_live(const kva_pool *p, uint64_t seq)
{
	int64_t k = p->q[seq - p->qbase];

	return p->ch[k].hpos == -2 - (int64_t)seq;
}

static void q_trim(kva_pool *p)
{
	while (p->qhead < p->qtail && !q_live(p, p->qhead))
		p->qhead++;
	while (p->qtail > p->qhead && !q_live(p, p->qtail - 1))
		p->qtail--;
}

static void ev_push(kva_pool *p, int64_t k)
{
	if (p->qhead == p->qtail ||
	    before(p, p->q[p->qtail - 1 - p->qbase], k)) {
		if (p->qtail - p->qbase == p->qcap) {
			uint64_t live = p->qtail - p->qhead;

			if (p->qcap && p->qhead - p->qbase >= p->qcap / 2) {
				memmove(p->q, p->q + (p->qhead - p->qbase),
					live * sizeof *p->q);
			} else {
				p->qcap = p->qcap ? p->qcap * 2 : 256;
				p->q = xrealloc(p->q, p->qcap * sizeof *p->q);
				memmove(p->q, p->q + (p->qhead - p->qbase),
					live * sizeof *p->q);
			}
			p->qbase = p->qhead;
		}
		p->q[p->qtail - p->qbase] = k;
		p->ch[k].hpos = -2 - (int64_t)p->qtail++;
		p->nq++;
	} else {
		heap_push(p, k);
	}
}

static void ev_remove(kva_pool *p, int64_t k)
{
	if (p->ch[k].hpos >= 0) {
		heap_remove(p, k);
	} else if (p->ch[k].hpos <= -2) {
		p->ch[k].hpos = -1;
		p->nq--;
		q_trim(p);
	}
}

/* The best victim, or -1 when nothing is evictable. */
static int64_t ev_min(kva_pool *p)
{
	int64_t qk = p->qhead < p->qtail ? p->q[p->qhead - p->qbase] : -1;

	if (qk < 0)
		return p->nheap ? p->heap[0] : -1;
	if (!p->nheap || before(p, qk, p->heap[0]))
		return qk;
	return p->heap[0];
}

/* Keys changed: everything into the heap, heapified. */
static void ev_rebuild(kva_pool *p)
{
	for (uint64_t s = p->qhead; s < p->qtail; s++)
		if (q_live(p, s))
			heap_set(p, p->nheap++, p->q[s - p->qbase]);
	p->qhead = p->qtail = p->qbase = 0;
	p->nq = 0;
	heap_rebuild(p);
}

/* Put chunk k in or out of the evictable set to match its state. */
static void reconsider(kva_pool *p, int64_t k)
{
	kva_chunk *c;

	if (k < 0 || k >= p->nchunks)
		return;
	c = &p->ch[k];
	if (c->block >= 0 && !kva_pool_protected(p, k)) {
		if (c->hpos == -1)
			ev_push(p, k);
	} else if (c->hpos != -1) {
		ev_remove(p, k);
	}
}

/* ---- residency ------------------------------------------------------- */

static void emit(kva_pool *p, int kind, int64_t k, int64_t block,
		 const char *why)
{
	kva_pool_ev ev = { kind, k, block, why };

	if (p->cb)
		p->cb(p->ctx, &ev);
}

static void chunk_slots(kva_pool *p, int64_t block, int64_t n)
{
	for (int64_t t = 0; t < n; t++)
		p->slots[t] = block * p->c.chunk_tokens + t;
}

/* Page chunk k out to the host store; its block is returned, not freed. */
static int64_t page_out(kva_pool *p, int64_t k, const char *why, kva_err *e)
{
	kva_chunk *c = &p->ch[k];
	int64_t b = c->block;

	if (c->hpos != -1)
		ev_remove(p, k);
	if (p->data && c->ntok) {
		p->host[k] = malloc((size_t)c->ntok * p->row_words * 4);
		if (!p->host[k])
			kva_die(2, "out of memory paging chunk %lld out",
				(long long)k);
		chunk_slots(p, b, c->ntok);
		if (dev_gather(p, p->host[k], c->ntok))
			return kva_errf(e, NULL, "page-out kernel failed on "
					"chunk %lld", (long long)k);
	}
	c->block = -1;
	p->owner[b] = -1;
	p->n_evict++;
	emit(p, KVA_EV_EVICT, k, b, why);
	return b;
}

/* A block for a new or paged-in chunk: a free one (LIFO), else the best
 * victim's.  -1 with e if none: the invariant makes that a bug. */
static int64_t get_block(kva_pool *p, kva_err *e)
{
	int64_t k;

	if (p->nfree)
		return p->freel[--p->nfree];
	if ((k = ev_min(p)) < 0)
		return kva_errf(e, NULL, "no evictable block (invariant broken)");
	return page_out(p, k, "alloc", e);
}

static int page_in(kva_pool *p, int64_t k, kva_err *e)
{
	kva_chunk *c = &p->ch[k];
	int64_t b = get_block(p, e);

	if (b < 0)
		return -1;
	if (p->data && c->ntok) {
		chunk_slots(p, b, c->ntok);
		if (dev_write(p, p->host[k], c->ntok))
			return kva_errf(e, NULL, "page-in kernel failed on chunk "
					"%lld", (long long)k);
	}
	if (p->host) {
		free(p->host[k]);
		p->host[k] = NULL;
	}
	c->block = b;
	p->owner[b] = k;
	p->n_page_in++;
	emit(p, KVA_EV_PAGE_IN, k, b, NULL);
	reconsider(p, k);
	return 0;
}

/* Open chunk nchunks as the new head; the chunk that leaves the tail
 * window becomes evictable. */
static int new_chunk(kva_pool *p, kva_err *e)
{
	int64_t k = p->nchunks, b;
	kva_chunk *c;

	if (k == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->ch = xrealloc(p->ch, (size_t)p->cap * sizeof *p->ch);
		if (p->data)
			p->host = xrealloc(p->host, (size_t)p->cap *
					   sizeof *p->host);
	}
	if (p->host)
		p->host[k] = NULL;
	c = &p->ch[k];
	memset(c, 0, sizeof *c);
	c->block = c->hpos = -1;
	c->pinned = (uint8_t)in_pch(p, k);
	p->nchunks++;
	reconsider(p, k - p->c.tail_chunks - 1);
	if ((b = get_block(p, e)) < 0)
		return -1;
	c = &p->ch[k];
	c->block = b;
	p->owner[b] = k;
	p->n_alloc++;
	emit(p, KVA_EV_ALLOC, k, b, NULL);
	return 0;
}

/* Write tokens [cur_pos, cur_pos + n) into the head chunk (n fits). */
static int write_tokens(kva_pool *p, int64_t n, kva_err *e)
{
	int64_t C = p->c.chunk_tokens, k = p->cur_pos / C;
	kva_chunk *c = &p->ch[k];
	int64_t off = p->cur_pos % C;

	if (p->data) {
		for (int64_t t = 0; t < n; t++) {
			kva_pool_gen_row(p, p->cur_pos + t,
					 p->row + (size_t)t * p->row_words);
			p->slots[t] = c->block * C + off + t;
		}
		if (dev_write(p, p->row, n))
			return kva_errf(e, NULL, "write kernel failed on chunk %lld",
					(long long)k);
	}
	c->ntok = (uint32_t)(off + n);
	c->last_use = ++p->tick;
	p->cur_pos += n;
	p->bytes_written += (uint64_t)n * p->row_words * 4;
	return 0;
}

int kva_pool_append(kva_pool *p, int64_t n, int chunked, kva_pool_refusal *r,
		    kva_err *e)
{
	int64_t C = p->c.chunk_tokens;

	if (n < 0)
		return kva_errf(e, "tokens", "must be >= 0");
	if (n > KVA_INT_LIMIT - p->cur_pos)
		return kva_errf(e, "tokens", "the sequence would pass 2^53 tokens");
	if (!n)
		return 0;
	if (!chunked) {
		int64_t x[1][2], need;

		p->span_lo = p->cur_pos / C;
		p->span_hi = (p->cur_pos + n - 1) / C + 1;
		x[0][0] = p->span_lo > p->c.tail_chunks ?
			  p->span_lo - p->c.tail_chunks : 0;
		x[0][1] = p->span_hi;
		need = count_protected(p, (const int64_t (*)[2])x, 1);
		if (need > p->nb) {
			int64_t span = p->span_hi - p->span_lo;

			p->span_lo = p->span_hi = 0;
			r->protected_chunks = need;
			r->limit = p->nb;
			snprintf(r->why, sizeof r->why, "the append spans %lld "
				 "chunks that must be resident at once with the "
				 "sink, the tail and the pins: %lld chunks > %lld "
				 "blocks", (long long)span,
				 (long long)need, (long long)p->nb);
			p->n_refused++;
			return 1;
		}
		for (int64_t k = p->span_lo; k < p->span_hi && k < p->nchunks; k++)
			reconsider(p, k);
	}
	while (n > 0) {
		int64_t off = p->cur_pos % C, step = C - off;

		if (step > n)
			step = n;
		if (off == 0 && new_chunk(p, e))
			return -1;
		if (write_tokens(p, step, e))
			return -1;
		n -= step;
	}
	if (!chunked) {
		int64_t lo = p->span_lo, hi = p->span_hi;

		p->span_lo = p->span_hi = 0;
		for (int64_t k = lo; k < hi; k++)
			reconsider(p, k);
	}
	return 0;
}

int kva_pool_pin(kva_pool *p, const int64_t (*rg)[2], int64_t n,
		 kva_pool_refusal *r, kva_err *e)
{
	int64_t C = p->c.chunk_tokens, need, limit;
	int64_t (*x)[2];

	for (int64_t i = 0; i < n; i++) {
		if (rg[i][0] < 0)
			return kva_errf(e, "lo", "must be >= 0");
		if (rg[i][1] <= rg[i][0])
			return kva_errf(e, "hi", "must be > lo (a half-open range "
					"[lo, hi))");
	}
	if (!n)
		return 0;
	x = xcalloc((size_t)n, sizeof *x);
	for (int64_t i = 0; i < n; i++) {
		x[i][0] = rg[i][0] / C;
		x[i][1] = (rg[i][1] - 1) / C + 1;
	}
	need = count_protected(p, (const int64_t (*)[2])x, n) +
	       p->c.tail_chunks + 1;
	limit = p->nb - 1;
	if (need > limit) {
		free(x);
		r->protected_chunks = need;
		r->limit = limit;
		snprintf(r->why, sizeof r->why, "sink, pins and the tail window "
			 "would protect %lld chunks; at most %lld of %lld blocks "
			 "may be, so one stays evictable", (long long)need,
			 (long long)limit, (long long)p->nb);
		p->n_refused++;
		return 1;
	}
	if (p->npins + n > p->pincap) {
		p->pincap = p->npins + n + 8;
		p->pins = xrealloc(p->pins, (size_t)p->pincap * sizeof *p->pins);
		p->pch = xrealloc(p->pch, (size_t)p->pincap * sizeof *p->pch);
	}
	for (int64_t i = 0; i < n; i++) {
		p->pins[p->npins][0] = rg[i][0];
		p->pins[p->npins][1] = rg[i][1];
		p->npins++;
		p->pch[p->npch][0] = x[i][0];
		p->pch[p->npch][1] = x[i][1];
		p->npch++;
	}
	p->npch = merge_ranges(p->pch, p->npch);
	for (int64_t i = 0; i < n; i++)
		for (int64_t k = x[i][0]; k < x[i][1] && k < p->nchunks; k++) {
			p->ch[k].pinned = 1;
			reconsider(p, k);
		}
	for (int64_t i = 0; i < n; i++)
		for (int64_t k = x[i][0]; k < x[i][1] && k < p->nchunks; k++)
			if (p->ch[k].block < 0 && page_in(p, k, e)) {
				free(x);
				return -1;
			}
	free(x);
	return 0;
}

void kva_pool_unpin_all(kva_pool *p)
{
	p->npins = p->npch = 0;
	for (int64_t k = 0; k < p->nchunks; k++)
		if (p->ch[k].pinned) {
			p->ch[k].pinned = 0;
			reconsider(p, k);
		}
}

int kva_pool_scores(kva_pool *p, int64_t start, const double *v, int64_t n,
		    kva_err *e)
{
	if (start < 0)
		return kva_errf(e, "start", "must be >= 0");
	if (n > p->nchunks - start)
		return kva_errf(e, "scores", "scores for chunks %lld..%lld, but "
				"only chunks 0..%lld exist", (long long)start,
				(long long)(start + n - 1),
				(long long)(p->nchunks - 1));
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return kva_errf(e, "scores", "element %lld is not finite",
					(long long)i);
	for (int64_t i = 0; i < n; i++) {
		p->ch[start + i].score = v[i];
		p->ch[start + i].has_score = 1;
	}
	ev_rebuild(p);
	return 0;
}

static const kva_pool *sort_pool;

/* Best first: the victim order reversed. */
static int cmp_best(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x == y ? 0 : before(sort_pool, x, y) ? 1 : -1;
}

int kva_pool_reselect(kva_pool *p, kva_err *e)
{
	int64_t n = p->nchunks, nprot = 0, nun = 0, room;
	int64_t *un = xcalloc((size_t)n, sizeof *un);
	uint8_t *keep = xcalloc((size_t)n, 1);
	int rc = 0;

	for (int64_t k = 0; k < n; k++) {
		if (kva_pool_protected(p, k)) {
			keep[k] = 1;
			nprot++;
		} else {
			un[nun++] = k;
		}
	}
	sort_pool = p;
	qsort(un, (size_t)nun, sizeof *un, cmp_best);
	room = p->nb - nprot;
	for (int64_t i = 0; i < nun && i < room; i++)
		keep[un[i]] = 1;
	/* page-outs first, worst first, so the page-ins find free blocks */
	for (int64_t i = nun; i-- > 0;) {
		int64_t k = un[i], b;

		if (keep[k] || p->ch[k].block < 0)
			continue;
		if ((b = page_out(p, k, "reselect", e)) < 0) {
			rc = -1;
			goto out;
		}
		p->freel[p->nfree++] = b;
	}
	for (int64_t k = 0; k < n; k++)
		if (keep[k] && kva_pool_protected(p, k) && p->ch[k].block < 0 &&
		    page_in(p, k, e)) {
			rc = -1;
			goto out;
		}
	for (int64_t i = 0; i < nun && i < room; i++)
		if (p->ch[un[i]].block < 0 && page_in(p, un[i], e)) {
			rc = -1;
			goto out;
		}
	p->epoch++;
out:
	free(un);
	free(keep);
	return rc;
}

/* ---- records ---------------------------------------------------------- */

static void put_ranges(kva_buf *b, const char *name, const kva_pool *p,
		       int want)
{
	int64_t lo = -1;
	int first = 1;

	kva_buf_printf(b, ",\"%s\":[", name);
	for (int64_t k = 0; k <= p->nchunks; k++) {
		int in = k < p->nchunks &&
			 (want == 0 ? p->ch[k].block >= 0 :
			  want == 1 ? p->ch[k].block < 0 : p->ch[k].pinned);

		if (in && lo < 0)
			lo = k;
		if (!in && lo >= 0) {
			kva_buf_printf(b, "%s[%lld,%lld]", first ? "" : ",",
				       (long long)lo, (long long)k);
			first = 0;
			lo = -1;
		}
	}
	kva_buf_puts(b, "]");
}

void kva_pool_write_state(const kva_pool *p, kva_buf *b)
{
	int64_t res = 0;

	for (int64_t k = 0; k < p->nchunks; k++)
		res += p->ch[k].block >= 0;
	kva_buf_printf(b, "{\"type\":\"state\",\"epoch\":%llu,\"cur_pos\":%lld,"
		       "\"chunks\":%lld,\"blocks\":%lld,\"resident\":%lld,"
		       "\"host\":%lld,\"free_blocks\":%lld",
		       (unsigned long long)p->epoch, (long long)p->cur_pos,
		       (long long)p->nchunks, (long long)p->nb, (long long)res,
		       (long long)(p->nchunks - res), (long long)p->nfree);
	put_ranges(b, "resident_chunks", p, 0);
	put_ranges(b, "host_chunks", p, 1);
	put_ranges(b, "pinned_chunks", p, 2);
	kva_buf_puts(b, ",\"pins\":[");
	for (int64_t i = 0; i < p->npins; i++)
		kva_buf_printf(b, "%s[%lld,%lld]", i ? "," : "",
			       (long long)p->pins[i][0], (long long)p->pins[i][1]);
	kva_buf_printf(b, "],\"allocs\":%llu,\"evictions\":%llu,"
		       "\"page_ins\":%llu,\"refused\":%llu,\"bytes_written\":%llu}",
		       (unsigned long long)p->n_alloc,
		       (unsigned long long)p->n_evict,
		       (unsigned long long)p->n_page_in,
		       (unsigned long long)p->n_refused,
		       (unsigned long long)p->bytes_written);
	kva_out_record(b);
}

/*
 * The block table as an attention kernel sees it: the resident chunks in
 * logical order, compacted (host-only chunks are skipped), so pos is the
 * position in that view and logical_pos the token's own.  One paged case
 * per first and last written token of every resident chunk.
 */
void kva_pool_write_routes(const kva_pool *p, kva_buf *b)
{
	int64_t C = p->c.chunk_tokens, i = 0;
	kva_buf tab = { 0 };

	kva_buf_putc(&tab, '[');
	for (int64_t k = 0; k < p->nchunks; k++)
		if (p->ch[k].block >= 0)
			kva_buf_printf(&tab, "%s%d", i++ ? "," : "",
				       p->ch[k].block);
	kva_buf_putc(&tab, ']');
	i = 0;
	for (int64_t k = 0; k < p->nchunks; k++) {
		const kva_chunk *c = &p->ch[k];

		if (c->block < 0)
			continue;
		for (int j = 0; c->ntok && j < (c->ntok > 1 ? 2 : 1); j++) {
			int64_t t = j ? c->ntok - 1 : 0;

			kva_buf_printf(b, "{\"type\":\"route\",\"oracle\":"
				       "\"paged\",\"pos\":%lld,\"block_size\":%lld,"
				       "\"block_table\":", (long long)(i * C + t),
				       (long long)C);
			kva_buf_put(b, tab.p, tab.len);
			kva_buf_printf(b, ",\"chunk\":%lld,\"logical_pos\":%lld,"
				       "\"expect\":{\"block\":%lld,\"offset\":%lld,"
				       "\"slot\":%lld}}", (long long)k,
				       (long long)(k * C + t), (long long)c->block,
				       (long long)t, (long long)(c->block * C + t));
			kva_out_record(b);
		}
		i++;
	}
	kva_buf_free(&tab);
}

/* ---- loading a saved sequence (lib/snap.c) --------------------------- */

int kva_pool_read_rows(kva_pool *p, float *rows, int64_t n)
{
	return dev_gather(p, rows, n);
}

int kva_pool_load(kva_pool *p, const kva_pool_src *src, int64_t *dropped,
		  kva_err *e)
{
	int64_t C = p->c.chunk_tokens, n = src->count, nres = 0, *order;
	kva_pool_cb cb = p->cb;
	int rc = 0;

	*dropped = 0;
	p->cb = NULL;
	kva_pool_reset(p);
	p->npins = p->npch = 0;
	if (n > p->cap) {
		p->cap = n;
		p->ch = xrealloc(p->ch, (size_t)p->cap * sizeof *p->ch);
		if (p->data)
			p->host = xrealloc(p->host, (size_t)p->cap *
					   sizeof *p->host);
	}
	p->tick = 0;
	for (int64_t k = 0; k < n; k++) {
		kva_chunk *c = &p->ch[k];
		unsigned fl;
		double sc;
		uint64_t lu;

		memset(c, 0, sizeof *c);
		c->block = c->hpos = -1;
		src->meta(src->ctx, k, &fl, &sc, &lu);
		c->last_use = lu;
		c->has_score = (fl & 4) != 0;
		c->score = c->has_score ? sc : 0;
		c->ntok = (uint32_t)(src->cur_pos - k * C > C ? C :
				     src->cur_pos - k * C);
		if (p->host)
			p->host[k] = NULL;
		if (lu > p->tick)
			p->tick = lu;
	}
	p->nchunks = n;
	p->cur_pos = src->cur_pos;
	/* pins: chunk by chunk, while the invariant holds */
	for (int64_t k = 0; k < n; k++) {
		unsigned fl;
		double sc;
		uint64_t lu;
		int64_t x[1][2] = { { k, k + 1 } };

		src->meta(src->ctx, k, &fl, &sc, &lu);
		if (!(fl & 2))
			continue;
		if (count_protected(p, (const int64_t (*)[2])x, 1) +
		    p->c.tail_chunks + 1 > p->nb - 1) {
			++*dropped;
			continue;
		}
		if (p->npins == p->pincap) {
			p->pincap = p->pincap ? p->pincap * 2 : 8;
			p->pins = xrealloc(p->pins, (size_t)p->pincap *
					   sizeof *p->pins);
			p->pch = xrealloc(p->pch, (size_t)p->pincap *
					  sizeof *p->pch);
		}
		p->pins[p->npins][0] = k * C;
		p->pins[p->npins][1] = (k + 1) * C;
		p->npins++;
		p->pch[p->npch][0] = k;
		p->pch[p->npch][1] = k + 1;
		p->npch = merge_ranges(p->pch, p->npch + 1);
		p->ch[k].pinned = 1;
	}
	/* residency: protected first (chunk order), then the resident ones
	 * best first */
	order = xcalloc((size_t)(n ? n : 1), sizeof *order);
	for (int64_t k = 0; k < n; k++)
		if (kva_pool_protected(p, k))
			order[nres++] = k;
	{
		int64_t nprot = nres, m = 0;
		int64_t *cand = xcalloc((size_t)(n ? n : 1), sizeof *cand);

		for (int64_t k = 0; k < n; k++) {
			unsigned fl;
			double sc;
			uint64_t lu;

			src->meta(src->ctx, k, &fl, &sc, &lu);
			if ((fl & 1) && !kva_pool_protected(p, k))
				cand[m++] = k;
		}
		sort_pool = p;
		qsort(cand, (size_t)m, sizeof *cand, cmp_best);
		for (int64_t i = 0; i < m && nres < p->nb; i++)
			order[nres++] = cand[i];
		(void)nprot;
		free(cand);
	}
	if (nres > p->nb)
		nres = p->nb; /* cannot happen: the invariant bounds protection */
	for (int64_t i = 0; i < n && !rc; i++) {
		int64_t k = i < nres ? order[i] : -1;

		if (k < 0)
			break;
		p->ch[k].block = (int32_t)p->freel[--p->nfree];
		p->owner[p->ch[k].block] = k;
		if (p->data && p->ch[k].ntok) {
			src->rows(src->ctx, k, p->ch[k].ntok, p->row);
			chunk_slots(p, p->ch[k].block, p->ch[k].ntok);
			if (dev_write(p, p->row, p->ch[k].ntok))
				rc = kva_errf(e, NULL, "write kernel failed on "
					      "chunk %lld", (long long)k);
		}
	}
	for (int64_t k = 0; k < n && !rc && p->data; k++) {
		kva_chunk *c = &p->ch[k];

		if (c->block >= 0 || !c->ntok)
			continue;
		if (!(p->host[k] = malloc((size_t)c->ntok * p->row_words * 4)))
			kva_die(2, "out of memory");
		src->rows(src->ctx, k, c->ntok, p->host[k]);
	}
	for (int64_t k = 0; k < n; k++)
		reconsider(p, k);
	free(order);
	p->cb = cb;
	if (rc)
		kva_pool_reset(p);
	return rc;
}

/* ---- the probe and the verifier -------------------------------------- */

int kva_pool_probe(kva_pool *p, int64_t pos, int64_t layer, int64_t head,
		   const double *q, int64_t qpos, kva_probe *out, kva_err *e)
{
	int64_t C = p->c.chunk_tokens, D = p->c.head_dim;
	double *qq, *logit, scale = 1.0 / sqrt((double)D), m = -INFINITY;
	double sum = 0;
	float *krow = xcalloc(p->row_words, 4), *rows;

	if (layer < 0 || layer >= p->c.layers)
		return free(krow), kva_errf(e, "layer", "must be in [0, %lld)",
					    (long long)p->c.layers);
	if (head < 0 || head >= p->c.kv_heads)
		return free(krow), kva_errf(e, "head", "must be in [0, %lld)",
					    (long long)p->c.kv_heads);
	if (pos < 0 || pos >= p->cur_pos)
		return free(krow), kva_errf(e, "pos", "must be in [0, %lld) "
					    "(the tokens written)",
					    (long long)p->cur_pos);
	qq = xcalloc((size_t)D, sizeof *qq);
	if (q) {
		memcpy(qq, q, (size_t)D * sizeof *qq);
	} else {
		kva_pool_gen_row(p, qpos, krow);
		for (int64_t d = 0; d < D; d++)
			qq[d] = kva_pool_row_value(p, krow, layer, 0, head, d);
	}
	memset(out, 0, sizeof *out);
	out->winner = -1;
	rows = xcalloc(p->chunk_words, 4);
	logit = xcalloc((size_t)(p->nb * C), sizeof *logit);
	for (int64_t k = 0; k <= pos / C; k++) {
		const kva_chunk *c = &p->ch[k];
		int64_t n = c->ntok;

		if (c->block < 0)
			continue;
		if (n > pos - k * C + 1)
			n = pos - k * C + 1;
		/* the chunk's rows as stored (through the gather kernel), or
		 * as generated with --no-data */
		if (p->data) {
			chunk_slots(p, c->block, n);
			if (dev_gather(p, rows, n)) {
				free(rows), free(logit), free(qq), free(krow);
				return kva_errf(e, NULL, "gather kernel failed on "
						"chunk %lld", (long long)k);
			}
		} else {
			for (int64_t t = 0; t < n; t++)
				kva_pool_gen_row(p, k * C + t,
						 rows + (size_t)t * p->row_words);
		}
		for (int64_t t = 0; t < n; t++) {
			const char *base = (const char *)(rows + (size_t)t *
				p->row_words + hidx(p, layer, 0, head) * p->dw);
			double l = 0;

			for (int64_t d = 0; d < D; d++)
				l += qq[d] * elem_at(p, base, d);
			l *= scale;
			logit[out->candidates++] = l;
			if (l > m) {
				m = l;
				out->winner = k * C + t;
				out->logit = l;
			}
		}
	}
	for (int64_t i = 0; i < out->candidates; i++)
		sum += exp(logit[i] - m);
	out->weight = out->candidates ? 1.0 / sum : 0;
	free(rows);
	free(logit);
	free(qq);
	free(krow);
	return 0;
}

int64_t kva_pool_verify(kva_pool *p, kva_verify *v)
{
	int64_t C = p->c.chunk_tokens;
	float *got = xcalloc(p->chunk_words, 4);
	float *want = xcalloc(p->row_words, 4);
	size_t rb = p->row_words * 4;

	memset(v, 0, sizeof *v);
	v->chunk = -1;
	for (int64_t k = 0; p->data && k < p->nchunks; k++) {
		const kva_chunk *c = &p->ch[k];
		const float *src = p->host[k];
		int bad = 0;

		if (c->block >= 0) {
			chunk_slots(p, c->block, c->ntok);
			if (dev_gather(p, got, c->ntok))
				kva_die(2, "gather kernel failed on chunk %lld",
					(long long)k);
			src = got;
		}
		v->chunks++;
		v->bytes += (int64_t)(c->ntok * rb);
		for (int64_t t = 0; t < c->ntok; t++) {
			const char *g = (const char *)(src + (size_t)t * p->row_words);

			kva_pool_gen_row(p, k * C + t, want);
			if (!memcmp(g, want, rb))
				continue;
			v->bad_rows++;
			if (!bad++ && v->chunk < 0) {
				size_t esz = p->c.dtype == KVA_DT_F16 ? 2 : 4, i;

				for (i = 0; i < rb; i += esz)
					if (memcmp(g + i, (char *)want + i, esz))
						break;
				i /= esz;
				v->chunk = k;
				v->row = t;
				v->dim = (int64_t)(i % (size_t)p->c.head_dim);
				i /= (size_t)p->c.head_dim;
				v->head = (int64_t)(i % (size_t)p->c.kv_heads);
				i /= (size_t)p->c.kv_heads;
				v->kv = (int)(i % 2);
				v->layer = (int64_t)(i / 2);
			}
		}
		if (bad)
			v->bad_chunks++;
	}
	free(got);
	free(want);
	return v->bad_chunks;
}
