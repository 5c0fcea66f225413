/*
 * trap_kernel.c - write and gather kernels (see trap_internal.h).
 *
 * The queue's tokens are run as kernel calls: one block size a call,
 * distinct slots, as many tokens as --batch allows (mixed block sizes are
 * grouped, never one call a case; small calls share a request, kv_run).
 * Unmapped and padding tokens get slot -1: no write.  Every value the
 * kernel sees or must leave alone comes from the run's seed, as random
 * bits over the whole range of finite floats, with no fixed structure a
 * kernel could recognise:
 *
 *   write   the source rows are the tokens' payloads (the stride gap has
 *           its own values); the cache, and a slack band on each side of
 *           it up to the guard pages, hold values of their own.  The
 *           expected cache is the CPU twin's (kernels/) run on the same
 *           input; the whole cache is compared bit for bit, and each cell
 *           that differs is decoded to what it holds.
 *   gather  the cache holds the tokens' payloads at their cells and values
 *           of their own everywhere else; the output rows start as values
 *           of their own; each output row is decoded to where it came from.
 *
 * The child also checks that the call left its inputs alone (the source
 * rows or the cache a gather reads, the slot mapping, the descriptor:
 * class input_mutation) and runs the call --repeat times on fresh copies,
 * the later runs pinned to one CPU, and once more looks at the first
 * run's output a moment after it returned (a differing run, or a late
 * write: class nondeterministic).  Payload values are compared bit for
 * bit, so a kernel must move them, not compute them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache.h"
#include "trap_internal.h"

#define PAGE_FLOATS 1024         /* a 4 KiB page of floats: slack rounding */

/* Kinds of value, mixed into the seed. */
enum { V_TOKEN = 1, V_CELL, V_SLACK, V_GAP, V_DST, V_VALUE };

/* What a row holds. */
enum { DEC_POISON, DEC_FULL, DEC_PARTIAL, DEC_CELL, DEC_GUARD, DEC_GARBAGE };

/* The key of the value row of kind with identity id. */
static uint64_t vrow(uint64_t seed, int kind, uint64_t id)
{
	return kva_trap_mix64(seed ^ ((uint64_t)kind << 56), id);
}

/* Element pos of the value row with key r: random bits of a finite float
 * (never an infinity or a NaN, which a copy through a floating-point
 * register could change). */
static float vat(uint64_t r, uint64_t pos)
{
	uint64_t h = kva_trap_mix64(r, pos);
	uint32_t u;
	float f;

	for (;;) {
		u = (uint32_t)h;
		if ((u & 0x7f800000u) != 0x7f800000u)
			break;
		u = (uint32_t)(h >> 32);
		if ((u & 0x7f800000u) != 0x7f800000u)
			break;
		h = kva_trap_mix64(h, 0x6b76);
	}
	memcpy(&f, &u, 4);
	return f;
}

/* Element pos of the value row of kind with identity id. */
static float kval(uint64_t seed, int kind, uint64_t id, uint64_t pos)
{
	return vat(vrow(seed, kind, id), pos);
}

float kva_trap_kval(uint64_t seed, uint64_t id, uint64_t pos)
{
	return kval(seed, V_TOKEN, id, pos);
}

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

/* Open-addressing map from 32-bit keys (a value's bits, or a slot) to
 * 64-bit values; key ~0 never occurs as a payload (it is a NaN). */
struct vmap {
	uint64_t *kv;            /* key in the high half, value index low */
	int64_t *val;
	size_t cap;
};

#define VMAP_EMPTY (~(uint64_t)0)

static void vmap_init(struct vmap *m, size_t n)
{
	for (m->cap = 16; m->cap < 2 * n + 2; m->cap *= 2)
		;
	m->kv = malloc(m->cap * sizeof *m->kv);
	m->val = malloc(m->cap * sizeof *m->val);
	if (!m->kv || !m->val)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < m->cap; i++)
		m->kv[i] = VMAP_EMPTY;
}

/* The entry for key (created with value -1 when absent). */
static int64_t *vmap_at(struct vmap *m, uint64_t key)
{
	size_t i = (size_t)kva_trap_mix64(0, key) & (m->cap - 1);

	while (m->kv[i] != VMAP_EMPTY && m->kv[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (m->kv[i] == VMAP_EMPTY) {
		m->kv[i] = key;
		m->val[i] = -1;
	}
	return &m->val[i];
}

/* The value of key, or -1; inserts nothing. */
static int64_t vmap_get(const struct vmap *m, uint64_t key)
{
	size_t i;

	if (!m->cap)
		return -1;
	for (i = (size_t)kva_trap_mix64(0, key) & (m->cap - 1); m->kv[i] != VMAP_EMPTY;
	     i = (i + 1) & (m->cap - 1))
		if (m->kv[i] == key)
			return m->val[i];
	return -1;
}

static void vmap_free(struct vmap *m)
{
	free(m->kv);
	free(m->val);
	memset(m, 0, sizeof *m);
}

/* One kernel call: its tokens (queue indices), the cache, the values. */
struct kcall {
	kva_trap *t;
	const size_t *ix;        /* the queue index of each token */
	size_t n;
	kva_cache_desc dc;
	int64_t H, D, S, stride, elems, ncell;
	int64_t glo, ghi;        /* slack floats before and after the region */
	int64_t *slots;
	struct vmap owner;       /* slot -> local token */
	struct vmap heads;       /* bits of a token's head-row start -> i*H + h
	                            (built when first needed) */
	struct vmap cells;       /* gather: bits of a cell's first value -> slot
	                            (built when first needed) */
	struct vmap slack;       /* bits of a slack value -> its offset (built
	                            when first needed, from init) */
	float *init;             /* the region the kernel writes, before the
	                            call (slack, body, slack) */
	int64_t nreg;            /* its floats */
	struct vmap anyval;      /* bits of any value of a token's row -> the
	                            token (built when first needed) */
	uint64_t call;           /* numbers the calls of the run */
	int64_t nblk;            /* blocks the tokens use (orig's length) */
	int64_t *orig;           /* the call's block -> the cases' block id
	                            (of its first world, when it is shared) */
	struct vmap origcell;    /* the call's slot of a token -> its case's slot */
	/* changes no token's values explain, charged after the padding
	 * tokens have been run alone (kv_call): */
	int lost_oob;            /* a slack band written with no one's values */
	int slack_written;       /* a slack band written at all */
	int64_t lost_cell;       /* a cell no token owns changed, or -1 */
	int64_t lost_gap;        /* an element between cells changed, or -1 */
	/* a paged gather (GREET_PAGED): its sequences, the local token
	 * that heads each (a padding token for one of length 0) */
	int64_t nseq, maxb;
	size_t *seqtok;
	/* a K/V pair (GREET_PAIR): H counts both caches' heads, the key
	 * cache's first, so a token's row is its key row, then its value
	 * row; H1 is one cache's.  The value cache is vdc, vbase elements
	 * into the call's cache buffer (a strided one placed by its offset),
	 * its rows vstride apart. */
	int pair;
	int64_t H1, vbase, vstride;
	kva_cache_desc vdc;
	/* the caches' element sizes; wide: a 16-bit one, so the call's
	 * buffers as sent (raw) are not those judged: there every element of
	 * a 16-bit cache is a float of its bits and the next of its head's
	 * (widen), and the value cache starts at rvbase bytes of the raw
	 * cache buffer, of rbody floats, and vbase elements of the judged */
	int ek, ev, wide;
	int64_t rvbase, rbody;
};

/* The identity of local token i: its index in the run, so its payload is
 * the same whichever call carries it. */
static uint64_t tok_id(const struct kcall *kc, size_t i)
{
	return kc->t->q[kc->ix[i]].index + 1;
}

/* The 16-bit element of dtype a value gives: its low half, finite (an
 * exponent of all ones loses its top bit). */
static uint16_t h16(float f, int dtype)
{
	uint32_t u;
	uint16_t h;

	memcpy(&u, &f, 4);
	h = (uint16_t)u;
	if (dtype == KVA_DTYPE_F16 ? (h & 0x7c00) == 0x7c00 : (h & 0x7f80) == 0x7f80)
		h ^= 0x4000;
	return h;
}

/* Two 16-bit elements as the judge sees the first: a float of both. */
static float widen(uint16_t a, uint16_t b)
{
	uint32_t u = (uint32_t)a << 16 | b;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Element e of dtype dt at base: the value f, as that dtype holds it. */
static void put_elem(char *base, int64_t e, int dt, float f)
{
	uint16_t h = h16(f, dt);

	if (dt == KVA_DTYPE_F32)
		memcpy(base + e * 4, &f, 4);
	else
		memcpy(base + e * 2, &h, 2);
}

/* The judged value of element q (h*D + d) of a row with value key r in
 * half w (0 key, 1 value): the value, or for a 16-bit cache the element
 * and the next of its head (widen). */
static float elem_val(const struct kcall *kc, int w, uint64_t r, int64_t q)
{
	int dt = w ? kc->vdc.dtype : kc->dc.dtype;
	int64_t nq = q / kc->D * kc->D + (q % kc->D + 1) % kc->D;

	if (dt == KVA_DTYPE_F32)
		return vat(r, (uint64_t)q);
	return widen(h16(vat(r, (uint64_t)q), dt), h16(vat(r, (uint64_t)nq), dt));
}

static float tok_val(const struct kcall *kc, size_t i, int64_t pos)
{
	int64_t H1D = kc->H1 * kc->D;
	int w = kc->pair && pos >= H1D;

	return elem_val(kc, w, vrow(kc->t->c.seed, w ? V_VALUE : V_TOKEN, tok_id(kc, i)),
			w ? pos - H1D : pos);
}

static uint64_t cell_row(const struct kcall *kc, int64_t s)
{
	return vrow(kc->t->c.seed, V_CELL, kc->call * 0x100000000ULL + (uint64_t)s);
}

/* The element of (slot, head, dim) in the call's cache buffer: a pair's
 * heads H1.. are the value cache's. */
static int64_t cidx(const struct kcall *kc, int64_t s, int64_t h, int64_t d)
{
	if (kc->pair && h >= kc->H1)
		return kc->vbase + kva_cache_index(&kc->vdc, s, h - kc->H1, d);
	return kva_cache_index(&kc->dc, s, h, d);
}

/* Element pos (h*D + d) of the row a cache holds at slot s. */
static float cache_at(const struct kcall *kc, const float *cache, int64_t s, int64_t pos)
{
	return cache[cidx(kc, s, pos / kc->D, pos % kc->D)];
}

/* The owner of each slot. */
static void kcall_maps(struct kcall *kc)
{
	vmap_init(&kc->owner, kc->n);
	for (size_t i = 0; i < kc->n; i++)
		if (kc->slots[i] >= 0)
			*vmap_at(&kc->owner, (uint64_t)kc->slots[i]) = (int64_t)i;
}

/* Each token's head rows keyed by their first value, built the first
 * time a row needs them. */
static const struct vmap *kcall_heads(struct kcall *kc)
{
	if (kc->heads.cap)
		return &kc->heads;
	vmap_init(&kc->heads, kc->n * (size_t)kc->H);
	for (size_t i = 0; i < kc->n; i++)
		for (int64_t h = 0; h < kc->H; h++)
			*vmap_at(&kc->heads, bits(tok_val(kc, i, h * kc->D))) =
				(int64_t)i * kc->H + h;
	return &kc->heads;
}

/* The gather cells' map, built the first time a row needs it. */
static void kcall_cells(struct kcall *kc, const float *cache)
{
	if (kc->cells.cap)
		return;
	vmap_init(&kc->cells, (size_t)kc->ncell);
	for (int64_t s = 0; s < kc->ncell; s++)
		if (vmap_get(&kc->owner, (uint64_t)s) < 0)
			*vmap_at(&kc->cells, bits(cache_at(kc, cache, s, 0))) = s;
}

/* The slack map, built the first time a row needs it. */
static const struct vmap *kcall_slack(struct kcall *kc)
{
	int64_t nreg = kc->nreg;

	if (kc->slack.cap)
		return &kc->slack;
	vmap_init(&kc->slack, (size_t)(kc->glo + kc->ghi));
	for (int64_t i = 0; i < nreg; i++)
		if (i < kc->glo || i >= nreg - kc->ghi)
			*vmap_at(&kc->slack, bits(kc->init[i])) = i;
	return &kc->slack;
}

/* Does element p + 1 of the row (as decode reads it) hold the second
 * value of head row e (token e / H, head e % H), as element p holds its
 * first?  (A head of one element: yes.) */
static int head_second(const struct kcall *kc, const float *row, const float *cache,
		       int64_t s, int64_t p, int64_t e)
{
	int64_t u = e / kc->H, h = e % kc->H;
	float v;

	if (kc->D < 2)
		return 1;
	if (p + 1 >= kc->H * kc->D)
		return 0;
	v = cache ? cache_at(kc, cache, s, p + 1) : row[p + 1];
	return bits(v) == bits(tok_val(kc, (size_t)u, h * kc->D + 1));
}

/*
 * What row (H*D floats, element pos at row[pos] for a dst row, or read
 * from the cache at slot `s` when cache is set) holds, given what it held
 * before (init, same addressing).  *who is the local token (FULL,
 * PARTIAL) or the slot (CELL).  A row some of whose head rows are a
 * token's, in place, and the rest untouched or other, is PARTIAL.
 */
static int decode(struct kcall *kc, const float *row, const float *cache, int64_t s,
		  const float *init, const float *gcache, int64_t *who)
{
	int64_t HD = kc->H * kc->D, first = -1, u = -1;
	int all_tok = 1;

	*who = -1;
	for (int64_t p = 0; p < HD; p++) {
		float v = cache ? cache_at(kc, cache, s, p) : row[p];
		float w = cache ? cache_at(kc, init, s, p) : init[p];

		if (bits(v) != bits(w)) {
			first = p;
			break;
		}
	}
	if (first < 0)
		return DEC_POISON;
	/* the first head row that changed, looked up by its first value and
	 * confirmed by its second: among millions of random values one
	 * alone meets another token's now and then */
	for (int64_t h = first / kc->D; h < kc->H && u < 0; h++) {
		float v = cache ? cache_at(kc, cache, s, h * kc->D) : row[h * kc->D];
		int64_t e = vmap_get(kcall_heads(kc), bits(v));

		if (e >= 0 && e % kc->H == h && head_second(kc, row, cache, s, h * kc->D, e))
			u = e / kc->H;
	}
	if (u >= 0) {
		for (int64_t p = 0; p < HD && all_tok; p++) {
			float v = cache ? cache_at(kc, cache, s, p) : row[p];

			all_tok = bits(v) == bits(tok_val(kc, (size_t)u, p));
		}
		*who = u;
		return all_tok ? DEC_FULL : DEC_PARTIAL;
	}
	/* a token's head row moved within the row (a wrong stride): part of
	 * that token's row, out of place */
	for (int64_t p = first; p < HD; p++) {
		float v = cache ? cache_at(kc, cache, s, p) : row[p];
		int64_t e = vmap_get(kcall_heads(kc), bits(v));

		if (e >= 0 && head_second(kc, row, cache, s, p, e)) {
			*who = e / kc->H;
			return DEC_PARTIAL;
		}
	}
	if (!cache) {
		/* a gather's output row: a cell's own values, or the slack */
		int64_t c;

		kcall_cells(kc, gcache);
		if ((c = vmap_get(&kc->cells, bits(row[0]))) >= 0) {
			for (int64_t p = 0; p < HD; p++)
				if (bits(row[p]) != bits(cache_at(kc, gcache, c, p)))
					return DEC_GARBAGE;
			*who = c;
			return DEC_CELL;
		}
		if (vmap_get(kcall_slack(kc), bits(row[0])) >= 0)
			return DEC_GUARD;
	}
	return DEC_GARBAGE;
}

int kva_trap_value_layout(const kva_trap *t)
{
	return t->c.vlayout >= 0 ? t->c.vlayout : t->c.layout;
}

/* Slot and block size of a case for the kernels (slot -1: no write). */
int64_t kva_trap_case_slot(const kva_trap *t, const struct tcase *k)
{
	if (k->expect.status != KVA_ROUTED)
		return -1;
	if (t->oid == OR_FLASHINFER)
		return k->expect.out[0] * k->in[2] + k->expect.out[1];
	return k->expect.out[2];
}

int64_t kva_trap_case_bs(const kva_trap *t, const struct tcase *k)
{
	return kva_trap_inputs_bs(t, k->in);
}

int64_t kva_trap_inputs_bs(const kva_trap *t, const int64_t *in)
{
	return t->oid == OR_FLASHINFER ? in[2] : in[1];
}

static int kv_call(kva_trap *t, const size_t *ix, size_t n, kva_err *e);

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

static struct tcase *tok(const struct kcall *kc, size_t i)
{
	return &kc->t->q[kc->ix[i]];
}

/* The cases' slot of the call's slot s: exact for a token's cell; for a
 * cell no token owns, counted in its block's first world. */
static int64_t orig_slot(const struct kcall *kc, int64_t s)
{
	int64_t o;

	if (s < 0)
		return s;
	if ((o = vmap_get(&kc->origcell, (uint64_t)s)) >= 0)
		return o;
	if (s / kc->S >= kc->nblk)   /* a block no token uses: its own number */
		return s;
	return kc->orig[s / kc->S] * kc->S + s % kc->S;
}

const char *const kva_layout_names[3] = { "nhd", "hnd", "vllm-x" };

/* Does slot s hold token i's row when the cache is read in another
 * layout (a kernel that confused NHD, HND and vLLM's x-chunked key
 * layout)?  Returns that layout, or -1. */
static int other_layout(const struct kcall *kc, const float *cache, int64_t s, size_t i)
{
	/* l == 3: this layout, its strides ignored (read as contiguous); a
	 * pair's mix-ups are its own finding (kv_mixup) */
	for (int l = 0; l < 4 && !kc->pair; l++) {
		kva_cache_desc o = kc->dc;
		const char *why;
		int bad = 0;

		if (l == kc->dc.layout || (l == 3 && !kc->dc.stride[0]))
			continue;
		o.offset = 0;
		memset(o.stride, 0, sizeof o.stride);
		o.layout = l == 3 ? kc->dc.layout : l;
		o.x = o.layout == KVA_LAYOUT_VLLM_X ? kc->t->c.x : 1;
		if (kva_cache_desc_check(&o, &why))
			continue;
		for (int64_t h = 0; h < kc->H && !bad; h++)
			for (int64_t d = 0; d < kc->D && !bad; d++)
				bad = bits(cache[kva_cache_index(&o, s, h, d)]) !=
				      bits(tok_val(kc, i, h * kc->D + d));
		if (!bad)
			return l;
	}
	return -1;
}

/* The slot whose row holds element e of a strided cache, or -1 (an
 * element between cells): the coordinates taken off, widest stride
 * first. */
static int64_t slot_of_strided(const struct kcall *kc, const kva_cache_desc *d, int64_t e)
{
	int64_t n[5], c[5], rem = e - d->offset;
	int order[5], nd = kva_cache_stride_order(d, order);

	kva_cache_dims(d, n);
	if (rem < 0)
		return -1;
	for (int i = nd; i-- > 0;) {
		int k = order[i];

		c[k] = rem / d->stride[k];
		rem %= d->stride[k];
		if (c[k] >= n[k])
			return -1;
	}
	if (rem)
		return -1;
	/* the block, then the offset: dimension 1 (NHD), 2 (HND), 3 (VLLM_X) */
	return c[0] * kc->S + c[d->layout == KVA_LAYOUT_NHD ? 1 :
				d->layout == KVA_LAYOUT_HND ? 2 : 3];
}

/* The slot whose row holds element e of the cache d (any layout). */
static int64_t view_slot(const struct kcall *kc, const kva_cache_desc *d, int64_t e)
{
	int64_t S = kc->S, HD = kc->H1 * kc->D, block = e / (S * HD);

	if (d->stride[0])
		return slot_of_strided(kc, d, e);

	switch (d->layout) {
	case KVA_LAYOUT_NHD:
		return e / HD;
	case KVA_LAYOUT_HND:
		return block * S + (e / kc->D) % S;
	default:
		return block * S + (e / d->x) % S;
	}
}

/* The slot whose row holds element e of the call's cache buffer: a
 * pair's value cache from vbase, or between the key cache's cells. */
static int64_t slot_of_elem(const struct kcall *kc, int64_t e)
{
	int64_t s;

	if (!kc->pair)
		return view_slot(kc, &kc->dc, e);
	if (kc->dc.stride[0])
		return (s = view_slot(kc, &kc->dc, e)) >= 0 ? s : view_slot(kc, &kc->vdc, e);
	return e < kc->vbase ? view_slot(kc, &kc->dc, e) : view_slot(kc, &kc->vdc, e - kc->vbase);
}

/*
 * A slack band was written: whose values are there?  The tokens whose
 * payload landed in the slack are marked: a padding token as an
 * unmapped_write, any other as out_of_bounds.  Returns how many were.
 */
static int slack_owners(struct kcall *kc, const float *band, const float *iband,
			int64_t len)
{
	int found = 0;

	for (int64_t i = 0; i < len; i++) {
		int64_t e;
		size_t u;

		if (bits(band[i]) == bits(iband[i]))
			continue;
		/* any value of a token's row, not only a head's first, and
		 * only a value no two tokens share (-2): among the millions
		 * of values of a run two tokens' random values meet now and
		 * then */
		if (!kc->anyval.cap) {
			vmap_init(&kc->anyval, kc->n * (size_t)(kc->H * kc->D));
			for (size_t v = 0; v < kc->n; v++)
				for (int64_t p = 0; p < kc->H * kc->D; p++) {
					int64_t *at = vmap_at(&kc->anyval, bits(tok_val(kc, v, p)));

					*at = *at == -1 || *at == (int64_t)v ? (int64_t)v : -2;
				}
		}
		if ((e = vmap_get(&kc->anyval, bits(band[i]))) < 0)
			continue;
		u = (size_t)e;
		if (tok(kc, u)->cls >= 0)
			continue;
		kmark(tok(kc, u), kc->slots[u] < 0 ? KVA_C_UNMAPPED_WRITE : KVA_C_OOB, -1);
		found++;
	}
	return found;
}

/* Classify a write kernel's cache.  cand and init are slack+cache+slack. */
static void judge_write(struct kcall *kc, const float *cand, const float *init)
{
	size_t n = kc->n;
	const float *cache = cand + kc->glo, *icache = init + kc->glo;
	int *kind = malloc((size_t)kc->ncell * sizeof *kind);
	int64_t *who = malloc((size_t)kc->ncell * sizeof *who);
	int64_t *full_at = malloc(n * sizeof *full_at), *part_at = malloc(n * sizeof *part_at);
	int guard_bad = 0, attributed = 0;

	if (!kind || !who || !full_at || !part_at)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int64_t i = 0; i < kc->glo; i++)
		guard_bad |= bits(cand[i]) != bits(init[i]);
	for (int64_t i = 0; i < kc->ghi; i++)
		guard_bad |= bits(cand[kc->glo + kc->elems + i]) !=
			     bits(init[kc->glo + kc->elems + i]);
	for (size_t i = 0; i < n; i++)
		full_at[i] = part_at[i] = -1;
	if (guard_bad)
		attributed = slack_owners(kc, cand, init, kc->glo) +
			     slack_owners(kc, cand + kc->glo + kc->elems,
					  init + kc->glo + kc->elems, kc->ghi);
	/* what each cell holds, and where each token's row went */
	for (int64_t s = 0; s < kc->ncell; s++) {
		kind[s] = decode(kc, NULL, cache, s, icache, NULL, &who[s]);
		if (kind[s] == DEC_FULL || kind[s] == DEC_PARTIAL) {
			size_t u = (size_t)who[s];
			int64_t own = kc->slots[u];
			int64_t *at = kind[s] == DEC_FULL ? &full_at[u] : &part_at[u];

			if (*at < 0 || *at == own || s == own)
				*at = s == own && *at >= 0 && *at != own ? *at : s;
			if (kind[s] == DEC_FULL && s != own)
				full_at[u] = s; /* prefer where it strayed to */
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct tcase *k = tok(kc, i);
		int64_t s = kc->slots[i], u;
		int lay;

		if (s < 0) {
			if (full_at[i] >= 0 || part_at[i] >= 0)
				kmark(k, KVA_C_UNMAPPED_WRITE, full_at[i] >= 0 ? full_at[i] : part_at[i]);
			continue;
		}
		if (kind[s] == DEC_FULL && who[s] == (int64_t)i) {
			if (full_at[i] >= 0 && full_at[i] != s)
				kmark(k, KVA_C_STRAY_WRITE, full_at[i]);
			continue;
		}
		if (full_at[i] >= 0 && full_at[i] != s) {
			u = vmap_get(&kc->owner, (uint64_t)full_at[i]);
			if (u >= 0) {
				int swapped = kind[s] == DEC_FULL && who[s] == u;

				kmark(k, swapped ? KVA_C_PERMUTATION : KVA_C_COLLISION, full_at[i]);
			} else {
				kmark(k, KVA_C_MISROUTE, full_at[i]);
			}
		} else if (kind[s] == DEC_FULL) {
			kmark(k, KVA_C_COLLISION, -1);
		} else if ((lay = other_layout(kc, cache, s, i)) >= 0) {
			kmark(k, KVA_C_MISROUTE, s);
			if (lay == 3)
				snprintf(k->why, sizeof k->why, "row written as if the "
					 "cache were contiguous (its strides ignored)");
			else
				snprintf(k->why, sizeof k->why, "row written in the %s layout",
					 kva_layout_names[lay]);
		} else if (guard_bad) {
			kmark(k, KVA_C_OOB, -1);
		} else if (kind[s] == DEC_PARTIAL || part_at[i] >= 0) {
			kmark(k, KVA_C_PARTIAL_ROW, part_at[i] >= 0 ? part_at[i] : s);
		} else {
			kmark(k, KVA_C_MISSING, -1);
		}
	}
	/* cells no token owns that changed: a token's row there is a stray
	 * write (a padding token's, an unmapped_write: marked above);
	 * anything else is the cache changed where no token writes */
	for (int64_t s = 0; s < kc->ncell; s++) {
		if (kind[s] == DEC_POISON || vmap_get(&kc->owner, (uint64_t)s) >= 0)
			continue;
		if (kind[s] == DEC_FULL || kind[s] == DEC_PARTIAL)
			kmark(tok(kc, (size_t)who[s]), KVA_C_STRAY_WRITE, s);
		else if (kc->lost_cell < 0)
			kc->lost_cell = s;
	}
	/* a strided cache: the elements between cells, which no token
	 * writes; one written holds a token's value (out_of_bounds, or
	 * unmapped_write for padding) or is unexplained */
	if (kc->dc.stride[0]) {
		unsigned char *incell = calloc((size_t)kc->elems + 1, 1);

		if (!incell)
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		for (int64_t s = 0; s < kc->ncell; s++)
			for (int64_t p = 0; p < kc->H * kc->D; p++)
				incell[cidx(kc, s, p / kc->D, p % kc->D)] = 1;
		for (int64_t e = 0; e < kc->elems; e++)
			if (!incell[e] && bits(cache[e]) != bits(icache[e])) {
				kc->slack_written = 1;
				if (!slack_owners(kc, cache + e, icache + e, 1) && kc->lost_gap < 0)
					kc->lost_gap = e;
			}
		free(incell);
	}
	kc->lost_oob = guard_bad && !attributed;
	kc->slack_written |= guard_bad;
	free(kind); free(who); free(full_at); free(part_at);
}

/*
 * Padding tokens that wrote may hide each other (two that write one place
 * leave the values of one), and a change no token's values explain
 * (kc->lost_*) may be one's: so when a slack band was written, a padding
 * token was charged, or a change is unexplained, the padding tokens not
 * charged yet are run again as a call of their own, which halves down to
 * each one that writes.  Only if none is charged there is an unexplained
 * change charged as before: a slack band to the last otherwise correct
 * token (out_of_bounds), a cell no token owns to the first
 * (input_mutation).
 */
/* The first token of the call not yet classed (skipping the padding
 * tokens when skip_pads), or kc->n. */
static size_t first_unclassed(const struct kcall *kc, int skip_pads)
{
	size_t w = 0;

	while (w < kc->n && (tok(kc, w)->cls >= 0 || (skip_pads && kc->slots[w] < 0)))
		w++;
	return w;
}

static int kv_lost(struct kcall *kc, kva_err *e)
{
	kva_trap *t = kc->t;
	size_t n = kc->n, np = 0, w;
	size_t *pads;
	int rc = 0, charged = 0, any = 0, padwrote = 0;

	for (size_t i = 0; i < n; i++)
		padwrote |= kc->slots[i] < 0 && tok(kc, i)->cls >= 0;
	if (!kc->lost_oob && kc->lost_cell < 0 && kc->lost_gap < 0 && !kc->slack_written &&
	    !padwrote)
		return 0;
	if (!(pads = malloc((n + 1) * sizeof *pads)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (kc->slots[i] < 0 && tok(kc, i)->cls < 0)
			pads[np++] = kc->ix[i];
	if (np && np < n) {
		rc = kv_call(t, pads, np, e);
		for (size_t i = 0; i < np; i++)
			charged |= t->q[pads[i]].cls >= 0;
	}
	free(pads);
	if (rc || charged || (!kc->lost_oob && kc->lost_cell < 0 && kc->lost_gap < 0))
		return rc;
	/* the padding tokens were run alone and wrote nothing: the first
	 * other token not yet classed takes what is left (a padding token
	 * only in a call of padding) */
	if (kc->lost_gap >= 0 && (w = first_unclassed(kc, np < n)) < n) {
		kmark(tok(kc, w), kc->slots[w] < 0 ? KVA_C_UNMAPPED_WRITE :
		      KVA_C_INPUT_MUTATION, -1);
		snprintf(tok(kc, w)->why, sizeof tok(kc, w)->why,
			 "the call changed element %lld of the strided cache, "
			 "between its cells", (long long)kc->lost_gap);
	}
	if (kc->lost_cell >= 0 && (w = first_unclassed(kc, np < n)) < n) {
		kmark(tok(kc, w), kc->slots[w] < 0 ? KVA_C_UNMAPPED_WRITE :
		      KVA_C_INPUT_MUTATION, orig_slot(kc, kc->lost_cell));
		snprintf(tok(kc, w)->why, sizeof tok(kc, w)->why,
			 "the call changed slot %lld, which no token writes",
			 (long long)orig_slot(kc, kc->lost_cell));
	}
	if (kc->lost_oob) {
		for (size_t i = 0; i < n; i++)
			any |= tok(kc, i)->cls == KVA_C_OOB || tok(kc, i)->cls ==
			       KVA_C_UNMAPPED_WRITE;
		for (size_t i = n; i-- > 0 && !any;)
			if (tok(kc, i)->cls < 0 && (kc->slots[i] >= 0 || np == n)) {
				kmark(tok(kc, i), kc->slots[i] < 0 ? KVA_C_UNMAPPED_WRITE :
				      KVA_C_OOB, -1);
				any = 1;
			}
	}
	return 0;
}

/* Classify a gather kernel's output rows (cand and init: slack+dst+slack;
 * gcache: the cache it read). */
static void judge_gather(struct kcall *kc, const float *cand, const float *init,
			 const float *gcache)
{
	int64_t HD = kc->H * kc->D, rows = (int64_t)kc->n * kc->stride;
	int guard_bad = 0;

	for (int64_t i = 0; i < kc->glo; i++)
		guard_bad |= bits(cand[i]) != bits(init[i]);
	for (int64_t i = 0; i < kc->ghi; i++)
		guard_bad |= bits(cand[kc->glo + rows + i]) != bits(init[kc->glo + rows + i]);
	for (size_t i = 0; i < kc->n; i++) {
		struct tcase *k = tok(kc, i);
		const float *row = cand + kc->glo + (int64_t)i * kc->stride;
		const float *irow = init + kc->glo + (int64_t)i * kc->stride;
		int64_t s = kc->slots[i], who;
		int dk = decode(kc, row, NULL, 0, irow, gcache, &who), gap = 0;

		for (int64_t g = HD; g < kc->stride; g++)
			gap |= bits(row[g]) != bits(irow[g]);
		if (s < 0) {
			if (dk != DEC_POISON || gap)
				kmark(k, KVA_C_UNMAPPED_WRITE, -1);
			continue;
		}
		switch (dk) {
		case DEC_FULL:
			if (who == (int64_t)i) {
				if (gap)
					kmark(k, KVA_C_PARTIAL_ROW, s);
				break;
			}
			{
				const float *ru = cand + kc->glo + who * kc->stride;
				const float *iru = init + kc->glo + who * kc->stride;
				int64_t who2;
				int swapped = decode(kc, ru, NULL, 0, iru, gcache, &who2) == DEC_FULL &&
					      who2 == (int64_t)i;

				kmark(k, swapped ? KVA_C_PERMUTATION : KVA_C_MISROUTE,
				      kc->slots[who]);
			}
			break;
		case DEC_CELL:
			kmark(k, KVA_C_MISROUTE, who);
			break;
		case DEC_GUARD:
			kmark(k, KVA_C_OOB, -1);
			break;
		case DEC_POISON:
			kmark(k, KVA_C_MISSING, -1);
			break;
		case DEC_PARTIAL:
			kmark(k, who == (int64_t)i ? KVA_C_PARTIAL_ROW : KVA_C_MISROUTE, s);
			break;
		default:
			kmark(k, KVA_C_MISROUTE, -1);
		}
	}
	kc->lost_oob = kc->slack_written = guard_bad;
}

/* The judged element of a write's cache that float f of the raw cache
 * buffer holds (its first byte's). */
static int64_t raw_elem(const struct kcall *kc, int64_t f)
{
	int64_t b = 4 * f;

	if (!kc->wide || f < 0)
		return f;
	if (kc->dc.stride[0])
		return b / 2;
	return b < kc->rvbase ? b / kc->ek : kc->vbase + (b - kc->rvbase) / kc->ev;
}

/* The child's report of a call (struct krep): inputs the call changed,
 * and runs that differed; pin each to a token. */
static void judge_report(struct kcall *kc, const struct krep *r)
{
	int write = kc->t->c.kind == KVA_KIND_WRITE;
	size_t who = 0;

	if (r->mut) {
		if ((r->mut & KREP_MUT_DATA) && write) {
			int64_t b = 4 * r->mut_at, keys = (int64_t)kc->n * kc->stride * kc->ek;

			who = (size_t)(b < keys ? b / (kc->stride * kc->ek) :
				       (b - keys) / (kc->vstride * kc->ev));
		} else if (r->mut & KREP_MUT_DATA) {
			int64_t e = r->mut_at - kc->glo, s, u;

			if (e >= 0 && e < kc->elems && (s = slot_of_elem(kc, e)) >= 0 &&
			    (u = vmap_get(&kc->owner, (uint64_t)s)) >= 0)
				who = (size_t)u;
		} else if ((r->mut & KREP_MUT_SLOTS) && kc->nseq) {
			/* starts, lengths, then the table rows, two a word */
			int64_t q = r->mut_at < 2 * kc->nseq ? r->mut_at % kc->nseq :
				    (r->mut_at - 2 * kc->nseq) * 2 / kc->maxb;

			who = q < kc->nseq ? kc->seqtok[q] : 0;
		} else if (r->mut & KREP_MUT_SLOTS) {
			who = (size_t)r->mut_at;
		}
		if (who >= kc->n)
			who = 0;
		kmark(tok(kc, who), KVA_C_INPUT_MUTATION, -1);
		snprintf(tok(kc, who)->why, sizeof tok(kc, who)->why, "the call changed %s",
			 r->mut & KREP_MUT_DATA ? (write ? "its source rows" :
			 "the cache it reads") : r->mut & KREP_MUT_SLOTS ? (kc->nseq ?
			 "the block tables or sequences" : "the slot mapping") :
			 "the cache descriptor");
	}
	if (r->nondet_at >= 0) {
		int64_t e = raw_elem(kc, r->nondet_at - kc->glo), u = -1;

		if (write && e >= 0 && e < kc->elems)
			u = vmap_get(&kc->owner, (uint64_t)slot_of_elem(kc, e));
		else if (!write && e >= 0 && e < (int64_t)kc->n * kc->stride)
			u = e / kc->stride;
		who = u >= 0 && (size_t)u < kc->n ? (size_t)u : 0;
		kmark(tok(kc, who), KVA_C_NONDETERMINISTIC, -1);
		snprintf(tok(kc, who)->why, sizeof tok(kc, who)->why, "%s",
			 r->nondet_late ? "written after the call returned" :
			 "repeats of the call differ");
	}
}

/* A block of a case: its world (kva_trap_world_hash) and its id. */
struct wblock {
	uint64_t world;
	int64_t id;
};

static uint64_t wkey(uint64_t world, int64_t id)
{
	return kva_trap_mix64(world, (uint64_t)id);
}

/*
 * The call's cache: the cases come from different block tables, so the
 * same slot of two cases is two cells, and the kernel needs only distinct
 * slots, each at its offset in its block.  So each block a case uses
 * (its world, kva_trap_world_hash, and its id) becomes a block of the
 * call's cache, in order; and the worlds of one block and one token (the
 * random cases) share blocks wherever their offsets are free: a call of
 * scattered tokens costs about a row a token, not the largest slot.  The kernel
 * sees slots in this cache; kc->orig maps them back for the records.
 * Returns the call's largest slot, or -1.
 */
static int64_t kcall_blocks(struct kcall *kc)
{
	size_t n = kc->n, ng = 0;
	struct wblock *b = malloc((n + 1) * sizeof *b);
	int64_t *gof = malloc((n + 1) * sizeof *gof);   /* token -> group */
	int64_t *gblk = malloc((n + 1) * sizeof *gblk); /* group -> call block */
	int64_t S = kc->S, nblk = 0, cap = 16, maxslot = -1;
	unsigned char *used = NULL;      /* nblk x S: offsets taken */
	int64_t *nextfree = NULL;        /* offset -> first block it may be free in */
	size_t *start = NULL, *byg = NULL;
	struct vmap grp, wcount;

	if (!b || !gof || !gblk)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	vmap_init(&grp, n);
	/* the groups: one per (world, block) */
	for (size_t i = 0; i < n; i++) {
		int64_t *g;

		gof[i] = -1;
		if (kc->slots[i] < 0)
			continue;
		b[ng].world = kva_trap_world_hash(kc->t, tok(kc, i));
		b[ng].id = kc->slots[i] / S;
		g = vmap_at(&grp, wkey(b[ng].world, b[ng].id));
		if (*g < 0)
			*g = (int64_t)ng++;
		gof[i] = *g;
	}
	if (S <= (int64_t)1 << 20 && !(nextfree = calloc((size_t)S, sizeof *nextfree)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	if (!(used = calloc((size_t)cap, (size_t)S)) ||
	    !(kc->orig = calloc((size_t)cap, sizeof *kc->orig)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	/* worlds of more than one block keep theirs to themselves */
	vmap_init(&wcount, ng);
	for (size_t g = 0; g < ng; g++) {
		int64_t *c = vmap_at(&wcount, b[g].world);

		*c = *c < 0 ? 1 : *c + 1;
	}
	/* the tokens by group (counting sort): start[g] .. start[g + 1] */
	if (!(start = calloc(ng + 2, sizeof *start)) || !(byg = malloc((n + 1) * sizeof *byg)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (gof[i] >= 0)
			start[gof[i] + 2]++;
	for (size_t g = 0; g < ng; g++)
		start[g + 2] += start[g + 1];
	for (size_t i = 0; i < n; i++)
		if (gof[i] >= 0)
			byg[start[gof[i] + 1]++] = i;
	for (size_t g = 0; g < ng; g++) {
		int64_t at = -1, nofs = 0, ofs = -1;

		/* a group of one offset fits the first block where it is free */
		for (size_t j = start[g]; j < start[g + 1]; j++) {
			if (ofs != kc->slots[byg[j]] % S)
				nofs++;
			ofs = kc->slots[byg[j]] % S;
		}
		if (nofs == 1 && nextfree && vmap_get(&wcount, b[g].world) == 1) {
			while (nextfree[ofs] < nblk && used[nextfree[ofs] * S + ofs])
				nextfree[ofs]++;
			if (nextfree[ofs] < nblk)
				at = nextfree[ofs];
		}
		if (at < 0) {
			if (nblk == cap) {
				cap *= 2;
				if (!(used = realloc(used, (size_t)(cap * S))) ||
				    !(kc->orig = realloc(kc->orig, (size_t)cap * sizeof *kc->orig)))
					kva_die(KVA_EXIT_TROUBLE, "out of memory");
			}
			memset(used + nblk * S, 0, (size_t)S);
			kc->orig[nblk] = b[g].id;
			at = nblk++;
		}
		gblk[g] = at;
		for (size_t j = start[g]; j < start[g + 1]; j++)
			used[at * S + kc->slots[byg[j]] % S] = 1;
	}
	kc->nblk = nblk;
	vmap_init(&kc->origcell, n);
	for (size_t i = 0; i < n; i++)
		if (kc->slots[i] >= 0) {
			int64_t o = kc->slots[i];

			kc->slots[i] = gblk[gof[i]] * S + o % S;
			*vmap_at(&kc->origcell, (uint64_t)kc->slots[i]) = o;
			if (kc->slots[i] > maxslot)
				maxslot = kc->slots[i];
		}
	if (!kc->orig && !(kc->orig = calloc(1, sizeof *kc->orig)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	vmap_free(&grp);
	vmap_free(&wcount);
	free(b);
	free(gof);
	free(gblk);
	free(used);
	free(nextfree);
	free(start);
	free(byg);
	return maxslot;
}

/*
 * An overflow call's cache, as the judging sees it: the window of blocks
 * its tokens use, [lo, hi), renumbered from 0.  Every layout keeps a
 * block's elements together (element e of block b is b*S*H*D + f), so a
 * window is the same cache less the blocks before it, and the kernel can
 * be given the real slots while the judge works on the window.  Returns
 * the largest window slot, or -1; *lo is the first block.
 */
static int64_t kcall_window(struct kcall *kc, int64_t *lo)
{
	int64_t S = kc->S, first = -1, last = -1, maxslot = -1;

	for (size_t i = 0; i < kc->n; i++)
		if (kc->slots[i] >= 0) {
			int64_t b = kc->slots[i] / S;

			first = first < 0 || b < first ? b : first;
			last = b > last ? b : last;
		}
	*lo = first < 0 ? 0 : first;
	kc->nblk = last - *lo + 1;
	if (!(kc->orig = malloc((size_t)(kc->nblk > 0 ? kc->nblk : 1) * sizeof *kc->orig)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int64_t b = 0; b < kc->nblk; b++)
		kc->orig[b] = *lo + b;
	vmap_init(&kc->origcell, kc->n);
	for (size_t i = 0; i < kc->n; i++)
		if (kc->slots[i] >= 0) {
			int64_t o = kc->slots[i];

			kc->slots[i] = o - *lo * S;
			*vmap_at(&kc->origcell, (uint64_t)kc->slots[i]) = o;
			maxslot = kc->slots[i] > maxslot ? kc->slots[i] : maxslot;
		}
	return maxslot;
}

/* See trap_internal.h. */
int64_t kva_trap_view_strides(kva_cache_desc *d, uint64_t *r)
{
	int64_t n[5], span;
	int nd = kva_cache_dims(d, n);

	d->stride[nd - 1] = 1;
	for (int k = nd - 2; k >= 1; k--) {
		d->stride[k] = d->stride[k + 1] * n[k + 1] + (int64_t)(*r & 3);
		*r >>= 2;
	}
	span = d->stride[1] * n[1] + (int64_t)(*r & 3);
	*r >>= 2;
	return span;
}

/*
 * Make the call's cache a strided view (a kernel that declares
 * KVA_CAN_STRIDED gets every other call so): view_strides, and blocks
 * interleaved with another cache's, as kv[:, 0] or kv[:, 1] of a
 * [B][2][...] buffer is: the block stride twice a block's span, the
 * offset 0 or one span.  A pair's two caches are that other cache: each
 * has its own inner strides, both the block stride of the two spans, and
 * one of them (the seed's) comes first; or, every other time, when both
 * have one layout, they are packed in the content dimension.
 */
static void kcall_strided(struct kcall *kc)
{
	uint64_t r = kva_trap_mix64(kc->t->c.seed ^ 0x737472ULL, kc->call);
	int64_t span, vspan;
	int second;

	kc->t->scalls++;
	if (kc->pair && kc->dc.layout == kc->vdc.layout && kc->dc.x == kc->vdc.x &&
	    kc->call / 4 % 2) {
		/* packed in the content dimension, as vllm-project/vllm#44455
		 * packs them: each innermost run of the key cache, then the
		 * value cache's */
		int64_t n[5];
		int nd = kva_cache_dims(&kc->dc, n);

		kc->dc.stride[nd - 1] = 1;
		kc->dc.stride[nd - 2] = 2 * n[nd - 1];
		for (int k = nd - 3; k >= 0; k--)
			kc->dc.stride[k] = kc->dc.stride[k + 1] * n[k + 1];
		memcpy(kc->vdc.stride, kc->dc.stride, sizeof kc->vdc.stride);
		kc->dc.offset = 0;
		kc->vdc.offset = n[nd - 1];
		return;
	}
	span = kva_trap_view_strides(&kc->dc, &r);
	vspan = span;
	second = r & 1;
	if (kc->pair)
		vspan = kva_trap_view_strides(&kc->vdc, &r);
	kc->dc.stride[0] = kc->vdc.stride[0] = span + vspan;
	kc->dc.offset = second ? vspan : 0;
	kc->vdc.offset = second ? 0 : span;
}

/* Round n floats up so that a region of n floats ends on a page. */
static int64_t page_pad(int64_t n)
{
	return (PAGE_FLOATS - n % PAGE_FLOATS) % PAGE_FLOATS;
}

static void kcall_free(struct kcall *kc)
{
	free(kc->slots);
	free(kc->init);
	free(kc->orig);
	free(kc->seqtok);
	vmap_free(&kc->origcell);
	vmap_free(&kc->owner);
	vmap_free(&kc->heads);
	vmap_free(&kc->cells);
	vmap_free(&kc->slack);
	vmap_free(&kc->anyval);
}

/* The call crashed, hung or garbled: narrow it to its tokens.  Halves
 * are run as calls of their own (a half that runs is judged as a call),
 * down to one token, the culprit; so a call of n tokens with one bad
 * token costs about 2 log2 n calls, not n. */
static int kv_narrow(kva_trap *t, const size_t *ix, size_t n, int st, kva_err *e)
{
	/* stopping at the first divergence (--mutate): a first token that
	 * hangs alone is the answer after one timeout, not one a halving;
	 * one that does not costs a run without a timeout */
	if (n > 1 && st == KVA_SBX_TIMEOUT && t->c.stop_first && !t->stop_why[0]) {
		if (kv_call(t, ix, 1, e))
			return -1;
		if (t->stop_why[0]) {
			for (size_t j = 1; j < n; j++)
				kva_trap_skip(t, ix[j], ix[j] + 1);
			return 0;
		}
		ix++;
		n--;
		if (n == 1)        /* not run alone yet: run it */
			return kv_call(t, ix, 1, e);
	}
	if (n > 1) {
		size_t h = n / 2;

		if (t->stop_why[0]) {
			for (size_t j = 0; j < n; j++)
				kva_trap_skip(t, ix[j], ix[j] + 1);
			return 0;
		}
		if (kv_call(t, ix, h, e))
			return -1;
		if (t->stop_why[0]) {
			for (size_t j = h; j < n; j++)
				kva_trap_skip(t, ix[j], ix[j] + 1);
			return 0;
		}
		return kv_call(t, ix + h, n - h, e);
	}
	{
		struct tcase *k = &t->q[ix[0]];
		int pad = kva_trap_case_slot(t, k) < 0;

		/* a padding token that makes the call fault wrote where it may
		 * not write at all */
		k->cls = st == KVA_SBX_TIMEOUT ? KVA_C_TIMEOUT : st == SBX_GARBLED ?
			 KVA_C_ERROR : pad ? KVA_C_UNMAPPED_WRITE : KVA_C_CRASH;
		if (st == SBX_GARBLED)
			snprintf(k->why, sizeof k->why, "answer garbled: the reply "
				 "pipe held bytes that are not the trap's");
		else
			snprintf(k->why, sizeof k->why, "%s", t->sbx.why);
		k->got.done = 0;
		if (st == KVA_SBX_TIMEOUT)
			kva_trap_count_hang(t);
		else
			kva_trap_count_crash(t);
		t->divergence = 1;
	}
	return 0;
}

/* A call made ready to send: its cache and values and what the kernel
 * must leave (ref), kept while the batch it is in runs. */
struct kprep {
	struct kcall kc;
	size_t *ix;              /* the tokens' queue indices, in the order sent */
	float *data, *ref;       /* the kernel's inputs; the region it must leave */
	size_t ndata, nslots;
	int sparse;              /* an overflow call: the cache in the arena */
	int64_t wlo;             /* overflow: the window's first block */
	int64_t *pos;            /* a paged gather: each token's position */
	uint64_t *pseq;          /* and its sequence's key */
	int64_t *seqs;           /* what is sent in the slots' place */
	float *rinit;            /* the region as sent (kc.init unless wide) */
	int64_t rnreg;           /* and its floats */
	struct kreq kr;
	uint32_t seq;            /* of its request in the batch */
	size_t rep_end;          /* where its reply ends in the batch's reply */
};

static void kprep_free(struct kprep *p)
{
	free(p->data);
	free(p->ref);
	free(p->ix);
	free(p->pos);
	free(p->pseq);
	free(p->seqs);
	if (p->rinit != p->kc.init)
		free(p->rinit);
	kcall_free(&p->kc);
	memset(p, 0, sizeof *p);
}

/* A token of a paged gather's call: its sequence (the world, and for
 * flashinfer the request), its position, its place in the call. */
struct ptok {
	uint64_t seq;
	int64_t pos;
	size_t at;
};

static int by_seq(const void *a, const void *b)
{
	const struct ptok *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * A paged gather's call (GREET_PAGED) in the order its rows come: the
 * tokens by sequence and position, then the padding tokens, whose rows
 * follow the last sequence's.  Each run of consecutive positions of one
 * sequence becomes a sequence of the call (kprep_seqs).
 */
static void kprep_paged(kva_trap *t, struct kprep *p, size_t n)
{
	struct ptok *pt = malloc((n + 1) * sizeof *pt);
	size_t nr = 0;

	p->pos = malloc((n + 1) * sizeof *p->pos);
	p->pseq = malloc((n + 1) * sizeof *p->pseq);
	if (!pt || !p->pos || !p->pseq)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct tcase *k = &t->q[p->ix[i]];
		int fi = t->oid == OR_FLASHINFER;

		if (kva_trap_case_slot(t, k) < 0)
			continue;
		pt[nr].seq = wkey(kva_trap_world_hash(t, k), fi ? k->in[0] : 0);
		pt[nr].pos = k->in[fi ? 1 : 0];
		pt[nr++].at = p->ix[i];
	}
	qsort(pt, nr, sizeof *pt, by_seq);
	for (size_t i = 0, m = nr; i < n; i++)
		if (kva_trap_case_slot(t, &t->q[p->ix[i]]) < 0) {
			pt[m].seq = 0;
			pt[m].pos = -1;
			pt[m++].at = p->ix[i];
		}
	for (size_t i = 0; i < n; i++) {
		p->ix[i] = pt[i].at;
		p->pos[i] = pt[i].pos;
		p->pseq[i] = pt[i].seq;
	}
	free(pt);
	t->pcalls++;
}

/*
 * The sequences of a paged gather's call, sent in the slots' place
 * (trap_proto.h): a run of consecutive positions of one sequence is a
 * sequence; each padding token a sequence of length 0, spread among
 * them, the first one in front and another at the end.  A table row
 * names, at each block a position uses, the call's block of its slot
 * (the real block for an overflow call); every other entry names the
 * block past the cache.  A sequence whose first block is past the 16th
 * is moved down by whole blocks to start in the 16th: its rows and cells
 * are the same, and the tables stay the size engines give.
 */
static void kprep_seqs(struct kprep *p, int64_t nblocks)
{
	struct kcall *kc = &p->kc;
	size_t n = kc->n, nr = 0, npad, nrs = 0, k = 0;
	int64_t S = kc->S, base = p->sparse ? p->wlo : 0, maxb = 1, *shift;
	int32_t *tab;

	for (size_t i = 0; i < n; i++)
		if (kc->slots[i] >= 0) {
			nrs += !nr || p->pseq[i] != p->pseq[i - 1] || p->pos[i] != p->pos[i - 1] + 1;
			nr++;
		}
	npad = n - nr;
	kc->nseq = (int64_t)(nrs + npad);
	if (!(kc->seqtok = malloc((size_t)(kc->nseq + 1) * sizeof *kc->seqtok)) ||
	    !(shift = calloc((size_t)kc->nseq + 1, sizeof *shift)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	/* the sequences in order: seqtok, and each one's length in shift
	 * for now (a padding sequence: -1) */
	for (size_t i = 0, r = 0, pad = 0; i <= nr; i++) {
		int head = i < nr && (!i || p->pseq[i] != p->pseq[i - 1] ||
				      p->pos[i] != p->pos[i - 1] + 1);

		/* before real sequence r: the padding ones due there */
		while ((i == nr || head) && pad < npad &&
		       (npad == 1 ? r == nrs / 2 : pad * nrs / (npad - 1) <= r)) {
			kc->seqtok[k] = nr + pad++;
			shift[k++] = -1;
		}
		if (head) {
			kc->seqtok[k] = i;
			shift[k++] = 0;
			r++;
		}
	}
	/* the table rows' length */
	for (int64_t q = 0; q < kc->nseq; q++) {
		size_t h = kc->seqtok[q], e = h;

		if (shift[q] < 0)
			continue;
		while (e + 1 < nr && p->pseq[e + 1] == p->pseq[h] && p->pos[e + 1] == p->pos[e] + 1)
			e++;
		shift[q] = p->pos[h] / S > 16 ? (p->pos[h] / S - 16) * S : 0;
		if ((p->pos[e] - shift[q]) / S + 1 > maxb)
			maxb = (p->pos[e] - shift[q]) / S + 1;
	}
	kc->maxb = maxb;
	p->nslots = (size_t)(2 * kc->nseq + (kc->nseq * maxb + 1) / 2);
	if (!(p->seqs = calloc(p->nslots + 1, sizeof *p->seqs)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	tab = (int32_t *)(void *)(p->seqs + 2 * kc->nseq);
	for (int64_t q = 0; q < kc->nseq; q++) {
		size_t h = kc->seqtok[q], e = h;

		for (int64_t b = 0; b < maxb; b++)
			tab[q * maxb + b] = (int32_t)nblocks;
		if (shift[q] < 0)
			continue;
		for (; e < nr && p->pseq[e] == p->pseq[h] && p->pos[e] == p->pos[h] + (int64_t)(e - h); e++)
			tab[q * maxb + (p->pos[e] - shift[q]) / S] =
				(int32_t)(kc->slots[e] / S + base);
		p->seqs[q] = p->pos[h] - shift[q];
		p->seqs[kc->nseq + q] = (int64_t)(e - h);
	}
	free(shift);
	p->kr.nseq = kc->nseq;
	p->kr.maxb = maxb;
	p->kr.nslots = (int64_t)p->nslots;
}

/*
 * A K/V pair's call: its raw cache buffer (init + glo: a strided pair's
 * gaps, then every cell of both caches, each element in its cache's
 * dtype), its rows (the key rows, then the value rows, with their
 * stride gaps) and what the CPU twin makes of them (ref, a copy of the
 * raw region nreg floats long).
 */
static void kprep_pair(struct kcall *kc, float *data, float *init, float *ref, size_t nreg)
{
	uint64_t seed = kc->t->c.seed;
	char *cache = (char *)(init + kc->glo), *vrows;
	size_t n = kc->n;
	int64_t H1D = kc->H1 * kc->D;

	vrows = (char *)data + (size_t)((int64_t)n * kc->stride * kc->ek);
	if (kc->dc.stride[0]) {
		uint64_t g = vrow(seed, V_GAP, kc->call * 0x100000000ULL + 0x80000000ULL);

		for (int64_t e = 0; e < kc->rbody * 4 / kc->ek; e++)
			put_elem(cache, e, kc->dc.dtype, vat(g, (uint64_t)e));
	}
	for (int64_t s = 0; s < kc->ncell; s++) {
		uint64_t r = cell_row(kc, s);

		for (int64_t q = 0; q < 2 * H1D; q++) {
			int w = q >= H1D;
			int64_t qq = q - w * H1D;
			const kva_cache_desc *d = w ? &kc->vdc : &kc->dc;

			put_elem(cache + (w ? kc->rvbase : 0), kva_cache_index(d, s, qq / kc->D, qq % kc->D),
				 d->dtype, vat(r, (uint64_t)q));
		}
	}
	for (size_t i = 0; i < 2 * n; i++) {
		int w = i >= n;
		uint64_t id = tok_id(kc, w ? i - n : i);
		uint64_t r = vrow(seed, w ? V_VALUE : V_TOKEN, id), gr = vrow(seed, V_GAP, w ? ~id : id);
		int64_t st = w ? kc->vstride : kc->stride, es = w ? kc->ev : kc->ek;
		char *row = (w ? vrows : (char *)data) + (size_t)((int64_t)(w ? i - n : i) * st * es);

		for (int64_t j = 0; j < st; j++)
			put_elem(row, j, (w ? &kc->vdc : &kc->dc)->dtype, vat(j < H1D ? r : gr, (uint64_t)j));
	}
	memcpy(ref, init, nreg * sizeof *ref);
	kva_ref_write_kv_pair(data, kc->stride, vrows, kc->vstride, (int64_t)n, kc->slots,
			      (int64_t)n, ref + kc->glo, &kc->dc, (char *)(ref + kc->glo) + kc->rvbase,
			      &kc->vdc);
}

/* The 16-bit element e at base. */
static uint16_t u16_at(const char *base, int64_t e)
{
	uint16_t h;

	memcpy(&h, base + e * 2, 2);
	return h;
}

/*
 * A wide call's region as judged (out: slack, the judged cache, slack)
 * from the raw one: a float cache's elements as they are, a 16-bit
 * one's each widened with the next element of its head (gaps: with the
 * next element of the buffer).
 */
static void widen_region(const struct kcall *kc, const float *raw, float *out)
{
	const char *cache = (const char *)(raw + kc->glo);
	float *o = out + kc->glo;

	memcpy(out, raw, (size_t)kc->glo * sizeof *out);
	memcpy(o + kc->elems, raw + kc->glo + kc->rbody, (size_t)kc->ghi * sizeof *out);
	for (int pass = 0; pass < 2; pass++)
		for (int w = 0; w < 2; w++) {
			const kva_cache_desc *d = w ? &kc->vdc : &kc->dc;
			const char *rb = cache + (w ? kc->rvbase : 0);
			float *ob = o + (w ? kc->vbase : 0);
			int64_t nel = kc->dc.stride[0] ? kc->elems : kva_cache_elems(d);

			if (pass == 0 && d->dtype == KVA_DTYPE_F32)
				memcpy(ob, rb, (size_t)nel * sizeof *ob);
			for (int64_t e = 0; pass == 0 && d->dtype && e < nel; e++)
				ob[e] = widen(u16_at(rb, e), u16_at(rb, e + 1 < nel ? e + 1 : e));
			for (int64_t s = 0; pass == 1 && d->dtype && s < kc->ncell; s++)
				for (int64_t h = 0; h < kc->H1; h++)
					for (int64_t dd = 0; dd < kc->D; dd++) {
						int64_t i = kva_cache_index(d, s, h, dd);

						ob[i] = widen(u16_at(rb, i), u16_at(rb, kva_cache_index(d, s, h,
							(dd + 1) % kc->D)));
					}
		}
}

/*
 * Make tokens ix[0..n) of the queue one kernel call: the call's cache,
 * the values the kernel is given, and the reference (the CPU twin's
 * answer).  Returns 0, or -1 with e (the call cannot be set up).
 */
static int kprep_make(kva_trap *t, const size_t *ix, size_t n, struct kprep *p, kva_err *e)
{
	struct kcall *kc = &p->kc;
	int64_t maxslot = -1;
	float *data, *init, *ref;
	const char *why;
	int write = t->c.kind == KVA_KIND_WRITE, sparse = t->q[ix[0]].overflow;
	int pair = write && (t->abi & GREET_PAIR);
	uint64_t seed = t->c.seed, call = ++t->kcalls;
	size_t ndata, nreg, nslots = n;

	memset(p, 0, sizeof *p);
	if (!(p->ix = malloc((n + 1) * sizeof *p->ix)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	memcpy(p->ix, ix, n * sizeof *ix);
	/* a kernel with kva_write_kv_rows (or _pair): every other call has
	 * its padding tokens as rows past the slot list, the others first,
	 * in order */
	if ((t->abi & (GREET_ROWS | GREET_PAIR)) && write && !sparse && call % 2 == 0) {
		size_t nr = 0;

		for (size_t i = 0; i < n; i++)
			if (kva_trap_case_slot(t, &t->q[ix[i]]) >= 0)
				p->ix[nr++] = ix[i];
		if ((nslots = nr) < n) {
			for (size_t i = 0; i < n; i++)
				if (kva_trap_case_slot(t, &t->q[ix[i]]) < 0)
					p->ix[nr++] = ix[i];
			t->rcalls++;
		}
	}
	if ((t->abi & GREET_PAGED) && !write)
		kprep_paged(t, p, n);
	ix = p->ix;
	kc->lost_cell = kc->lost_gap = -1;
	kc->t = t;
	kc->ix = ix;
	kc->n = n;
	kc->call = call;
	kc->pair = pair;
	kc->H1 = t->c.heads;
	kc->H = pair ? 2 * kc->H1 : kc->H1;
	kc->D = t->c.head_dim;
	kc->S = kva_trap_case_bs(t, &t->q[ix[0]]);
	kc->stride = kc->H1 * kc->D + t->c.stride_pad;
	/* a pair: calls 2 and 3 of every 4 give the values a stride of
	 * their own */
	kc->vstride = kc->stride + (call / 2 % 2 ? 4 : 0);
	if (!(kc->slots = malloc(n * sizeof *kc->slots)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < n; i++)
		kc->slots[i] = kva_trap_case_slot(t, &t->q[ix[i]]);
	for (size_t i = 0; sparse && i < n && kc->slots[i] < 0; i++)
		if (i + 1 == n)
			sparse = 0;      /* padding only: no window, a small cache */
	maxslot = sparse ? kcall_window(kc, &p->wlo) : kcall_blocks(kc);
	kc->dc.layout = t->c.layout;
	kc->dc.num_blocks = (int32_t)(maxslot < 0 ? 1 : maxslot / kc->S + 1);
	kc->dc.block_size = (int32_t)kc->S;
	kc->dc.num_heads = (int32_t)kc->H1;
	kc->dc.head_dim = (int32_t)kc->D;
	kc->dc.x = t->c.layout == KVA_LAYOUT_VLLM_X ? t->c.x : 1;
	kc->vdc = kc->dc;
	kc->vdc.layout = kva_trap_value_layout(t);
	kc->vdc.x = 1;           /* vLLM's value cache: VLLM_X with x 1 */
	kc->ek = kc->ev = 4;
	if (pair) {
		kc->dc.dtype = t->c.dtype;
		kc->vdc.dtype = t->c.vdtype >= 0 ? t->c.vdtype : t->c.dtype;
		kc->ek = kva_dtype_size(&kc->dc);
		kc->ev = kva_dtype_size(&kc->vdc);
		kc->wide = kc->ek < 4 || kc->ev < 4;
	}
	/* two views of one buffer have one element size */
	if (!sparse && t->has_cons && (t->cons.flags & KVA_CAN_STRIDED) && kc->call % 2 &&
	    kc->ek == kc->ev)
		kcall_strided(kc);
	if (kva_cache_desc_check(&kc->dc, &why) ||
	    (pair && kva_cache_desc_check(&kc->vdc, &why))) {
		kprep_free(p);
		return kva_errf(e, NULL, "cache geometry: %s", why);
	}
	kc->elems = kva_cache_elems(&kc->dc);
	if (pair && kc->dc.stride[0]) {     /* the two views share a buffer */
		if (kva_cache_elems(&kc->vdc) > kc->elems)
			kc->elems = kva_cache_elems(&kc->vdc);
		kc->rbody = (kc->elems * kc->ek + 3) / 4;
		if (kc->wide)            /* every 16-bit element of it */
			kc->elems = 2 * kc->rbody;
	} else if (pair) {                   /* the value cache after the key cache */
		kc->vbase = kc->elems;
		kc->rvbase = kc->elems * kc->ek;
		kc->rbody = (kc->rvbase + kva_cache_elems(&kc->vdc) * kc->ev + 3) / 4;
		kc->elems += kva_cache_elems(&kc->vdc);
	} else {
		kc->rbody = kc->elems;
	}
	if (kc->S > INT32_MAX || maxslot / kc->S + 1 > INT32_MAX ||
	    kc->elems > ((int64_t)1 << 28)) {
		kprep_free(p);
		return kva_errf(e, NULL, "a cache for slot %lld of block size %lld "
				"is too large for the trap", (long long)maxslot,
				(long long)kc->S);
	}
	kc->ncell = (int64_t)kc->dc.num_blocks * kc->S;
	kcall_maps(kc);
	/* slack bands: at least a block's worth (and 1024 floats) on each
	 * side, the high one rounded so the region ends on a page: the child
	 * puts guard pages right around it */
	kc->glo = kc->S * kc->H * kc->D > 1024 ? kc->S * kc->H * kc->D : 1024;
	if (sparse) {
		/* the window's buffer starts on a page of the arena: slack
		 * that the real cache's blocks around the window hold */
		int64_t at = p->wlo * kc->S * kc->H * kc->D;

		kc->glo += ((at - kc->glo) % PAGE_FLOATS + PAGE_FLOATS) % PAGE_FLOATS;
		if (at < kc->glo) {
			kprep_free(p);
			return kva_errf(e, NULL, "an overflow call's window starts too "
					"near the cache's start");
		}
	}
	{
		/* as sent: the raw cache buffer; as judged: its elements */
		int64_t body = write ? kc->rbody : (int64_t)n * kc->stride;

		kc->ghi = kc->glo + page_pad(2 * kc->glo + body);
		nreg = (size_t)(kc->glo + body + kc->ghi);
		kc->nreg = kc->glo + (write ? kc->elems : body) + kc->ghi;
		ndata = pair ? (size_t)(((int64_t)n * (kc->stride * kc->ek + kc->vstride * kc->ev) +
					 3) / 4) :
			write ? n * (size_t)kc->stride :
			(size_t)(kc->glo + kc->elems + kc->glo + page_pad(2 * kc->glo + kc->elems));
	}
	data = malloc(ndata * sizeof *data + 1);
	p->rinit = init = malloc(nreg * sizeof *init + 1);
	p->rnreg = (int64_t)nreg;
	kc->init = kc->wide ? malloc((size_t)kc->nreg * sizeof *kc->init + 1) : init;
	ref = malloc(nreg * sizeof *ref + 1);
	if (!data || !init || !ref || !kc->init)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	/* the region the kernel writes, before the call */
	{
		/* the slack bands; a gather's output rows */
		uint64_t r = vrow(seed, V_SLACK, kc->call);
		int64_t body = (int64_t)nreg - kc->glo - kc->ghi;

		for (int64_t i = 0; i < kc->glo; i++)
			init[i] = vat(r, (uint64_t)i);
		for (int64_t i = kc->glo + body; i < (int64_t)nreg; i++)
			init[i] = vat(r, (uint64_t)i);
		for (int64_t row = 0; !write && row < (int64_t)n; row++) {
			uint64_t d = vrow(seed, V_DST, kc->call * 0x100000000ULL + (uint64_t)row);

			for (int64_t j = 0; j < kc->stride; j++)
				init[kc->glo + row * kc->stride + j] = vat(d, (uint64_t)j);
		}
	}
	if (pair) {
		kprep_pair(kc, data, init, ref, nreg);
		if (kc->wide)
			widen_region(kc, init, kc->init);
	} else if (write) {
		uint64_t g = vrow(seed, V_GAP, kc->call * 0x100000000ULL + 0x80000000ULL);

		/* values of their own between a strided cache's cells */
		for (int64_t i = 0; kc->dc.stride[0] && i < kc->elems; i++)
			init[kc->glo + i] = vat(g, (uint64_t)i);
		for (int64_t s = 0; s < kc->ncell; s++) {
			uint64_t r = cell_row(kc, s);

			for (int64_t q = 0; q < kc->H * kc->D; q++)
				init[kc->glo + kva_cache_index(&kc->dc, s, q / kc->D, q % kc->D)] =
					vat(r, (uint64_t)q);
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t r = vrow(seed, V_TOKEN, tok_id(kc, i));
			uint64_t gr = vrow(seed, V_GAP, tok_id(kc, i));
			float *row = data + i * (size_t)kc->stride;

			for (int64_t j = 0; j < kc->stride; j++)
				row[j] = vat(j < kc->H * kc->D ? r : gr, (uint64_t)j);
		}
		memcpy(ref, init, nreg * sizeof *ref);
		kva_ref_write_kv(data, kc->stride, kc->slots, (int64_t)n, ref + kc->glo, &kc->dc);
	} else {
		uint64_t r = vrow(seed, V_SLACK, kc->call ^ 0x5555);

		for (size_t i = 0; i < ndata; i++)
			data[i] = vat(r, i);
		for (int64_t s = 0; s < kc->ncell; s++) {
			int64_t u = vmap_get(&kc->owner, (uint64_t)s);
			uint64_t cr = u >= 0 ? vrow(seed, V_TOKEN, tok_id(kc, (size_t)u)) :
				      cell_row(kc, s);

			for (int64_t q = 0; q < kc->H * kc->D; q++)
				data[kc->glo + kva_cache_index(&kc->dc, s, q / kc->D, q % kc->D)] =
					vat(cr, (uint64_t)q);
		}
		memcpy(ref, init, nreg * sizeof *ref);
		kva_ref_gather_kv(data + kc->glo, &kc->dc, kc->slots, (int64_t)n, ref + kc->glo,
				  kc->stride);
	}
	p->data = data;
	p->ref = ref;
	p->ndata = ndata;
	p->nslots = nslots;
	p->sparse = sparse;
	/* the request */
	p->kr.desc = kc->dc;
	p->kr.n = (int64_t)n;
	p->kr.stride = kc->stride;
	p->kr.glo = kc->glo;
	p->kr.ghi = kc->ghi;
	p->kr.elems = kc->elems;
	p->kr.ndata = (int64_t)ndata;
	p->kr.nreg = (int64_t)nreg;
	p->kr.repeat = t->c.repeat;
	p->kr.nslots = (int64_t)nslots;
	p->kr.base = -1;
	p->kr.vdesc = kc->vdc;
	p->kr.vstride = kc->vstride;
	p->kr.vrows = (int64_t)n * kc->stride * kc->ek;
	p->kr.vbase = kc->rvbase;
	if (sparse) {
		/* the kernel sees the real cache and the real slots */
		p->kr.desc.num_blocks = (int32_t)(p->wlo + kc->nblk + 1);
		p->kr.base = p->wlo * kc->S * kc->H * kc->D - kc->glo;
	}
	if (p->pseq)
		kprep_seqs(p, p->kr.desc.num_blocks);
	t->kvcalls += (uint64_t)pair;
	return 0;
}

/* Append the call's part of a request to t->req (trap_proto.h). */
static void kprep_put(kva_trap *t, struct kprep *p)
{
	struct kcall *kc = &p->kc;
	static const char zero[8];

	kva_buf_put(&t->req, &p->kr, sizeof p->kr);
	/* an overflow call: the kernel is given the real slots */
	for (size_t i = 0; p->sparse && !p->seqs && i < kc->n; i++)
		if (kc->slots[i] >= 0)
			kc->slots[i] += p->wlo * kc->S;
	kva_buf_put(&t->req, p->seqs ? p->seqs : kc->slots, p->nslots * sizeof *kc->slots);
	for (size_t i = 0; p->sparse && !p->seqs && i < kc->n; i++)
		if (kc->slots[i] >= 0)
			kc->slots[i] -= p->wlo * kc->S;
	kva_buf_put(&t->req, p->data, p->ndata * sizeof *p->data);
	kva_buf_put(&t->req, p->rinit, (size_t)p->rnreg * sizeof *p->rinit);
	kva_buf_put(&t->req, zero, (8 - t->req.len % 8) % 8);
	if (p->sparse) {
		t->ocalls++;
		t->otokens += kc->n;
	}
}

/* Does half v (0 key, 1 value) of the cell at s hold half w of token
 * i's row (head: only that head of it, and at any head of the cell; -1:
 * the whole half in place)? */
static int half_holds(const struct kcall *kc, const float *cache, int64_t s, int v, size_t i,
		      int w, int64_t head)
{
	int64_t D = kc->D, H1D = kc->H1 * D;

	if (head < 0) {
		for (int64_t q = 0; q < H1D; q++)
			if (bits(cache_at(kc, cache, s, v * H1D + q)) !=
			    bits(tok_val(kc, i, w * H1D + q)))
				return 0;
		return 1;
	}
	for (int64_t h = 0; h < kc->H1; h++) {
		int64_t q = 0;

		while (q < D && bits(cache_at(kc, cache, s, v * H1D + h * D + q)) ==
				bits(tok_val(kc, i, w * H1D + head * D + q)))
			q++;
		if (q == D)
			return 1;
	}
	return 0;
}

/*
 * A K/V pair: a token with a head of its key in its value cell, or of
 * its value in its key cell, is a kv_mixup, before anything else is
 * judged; once judged, a token found wrong in one cache only says which.
 */
static void judge_pair(struct kcall *kc, const float *cache, int after)
{
	for (size_t i = 0; i < kc->n; i++) {
		struct tcase *k = tok(kc, i);
		int64_t s = kc->slots[i];
		int kk, vv, kv = 0, vk = 0;

		if (s < 0 || (after && (k->cls < 0 || k->why[0])))
			continue;
		kk = half_holds(kc, cache, s, 0, i, 0, -1);
		vv = half_holds(kc, cache, s, 1, i, 1, -1);
		if (after) {
			if (kk != vv)
				snprintf(k->why, sizeof k->why, "in the %s cache",
					 kk ? "value" : "key");
			continue;
		}
		for (int64_t h = 0; h < kc->H1 && !kv && !vk; h++) {
			kv = half_holds(kc, cache, s, 1, i, 0, h);
			vk = half_holds(kc, cache, s, 0, i, 1, h);
		}
		if (kv || vk) {
			kmark(k, KVA_C_KV_MIXUP, s);
			snprintf(k->why, sizeof k->why, "%s in the %s cache",
				 kv ? "a head of its key" : "a head of its value",
				 kv ? "value" : "key");
		}
	}
}

/* Judge the call from its reply (rep, and cand: the region as the first
 * run left it).  Returns 0 or -1 with e. */
static int kprep_judge(kva_trap *t, struct kprep *p, const struct krep *rep,
		       const float *cand, kva_err *e)
{
	struct kcall *kc = &p->kc;
	const size_t *ix = kc->ix;
	size_t n = kc->n;
	int marked = 0, pads = 0;

	if (rep->rc != 0) {
		for (size_t i = 0; i < n; i++) {
			t->q[ix[i]].cls = KVA_C_ERROR;
			snprintf(t->q[ix[i]].why, sizeof t->q[ix[i]].why,
				 "kernel returned %d", (int)rep->rc);
		}
		t->divergence = 1;
		return 0;
	}
	judge_report(kc, rep);
	if (memcmp(cand, p->ref, (size_t)p->rnreg * sizeof *p->ref)) {
		/* the whole region, bit for bit: any difference is a
		 * finding, each decoded to what the cell or row holds (a
		 * wide call's as judged) */
		float *wide = NULL;

		if (kc->wide) {
			if (!(wide = malloc((size_t)kc->nreg * sizeof *wide + 1)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
			widen_region(kc, cand, wide);
			cand = wide;
		}
		t->divergence = 1;
		if (kc->pair)
			judge_pair(kc, cand + kc->glo, 0);
		if (t->c.kind == KVA_KIND_WRITE)
			judge_write(kc, cand, kc->init);
		else
			judge_gather(kc, cand, kc->init, p->data);
		if (kc->pair)
			judge_pair(kc, cand + kc->glo, 1);
		free(wide);
	}
	for (size_t i = 0; i < n; i++) {
		marked |= t->q[ix[i]].cls >= 0;
		pads += kc->slots[i] < 0;
	}
	if (n > 1 && (size_t)pads == n &&
	    (marked || kc->lost_oob || kc->lost_cell >= 0 || kc->lost_gap >= 0)) {
		/* padding only, and something was written: halves, down
		 * to each token that writes (two that write one place
		 * leave the values of one) */
		for (size_t i = 0; i < n; i++) {
			struct tcase *k = &t->q[ix[i]];

			k->cls = -1;
			k->why[0] = '\0';
			memset(&k->got, 0, sizeof k->got);
		}
		if (kv_call(t, ix, n / 2, e))
			return -1;
		return kv_call(t, ix + n / 2, n - n / 2, e);
	}
	for (size_t i = 0; i < n; i++) {
		struct tcase *k = &t->q[ix[i]];

		if (k->cls < 0)
			continue;
		t->divergence = 1;
		if (k->got.done && k->got.rc == 0)
			k->got.out[0] = orig_slot(kc, k->got.out[0]);
	}
	return kv_lost(kc, e);
}

/* done() for a batch's replies: each a struct krep and its region; a
 * complete one is progress. */
struct bwant {
	const struct kprep *p;
	size_t m;
};

static int batch_done(kva_buf *b, void *ctx, uint64_t *units)
{
	const struct bwant *w = ctx;
	uint64_t u = 0;

	while (u < w->m && b->len >= w->p[u].rep_end)
		u++;
	*units = u;
	return u == w->m;
}

static void kprep_skip(kva_trap *t, const struct kprep *p)
{
	for (size_t i = 0; i < p->kc.n; i++)
		kva_trap_skip(t, p->ix[i], p->ix[i] + 1);
}

/*
 * Run the calls p[0..m) (an overflow call alone) as one request
 * (trap_proto.h): the child runs them all, pauses once, and answers each
 * in turn.  Each reply is judged as its call's own.  A crash, hang or
 * garbled answer ends the batch at the first call whose reply is not
 * complete (or not the trap's); that call and the ones after it are run
 * again, each alone, which narrows the one that fails to its token.
 * Returns 0 or -1 with e.
 */
static int kv_run(kva_trap *t, struct kprep *p, size_t m, kva_err *e)
{
	struct bwant w = { p, m };
	struct req_hdr hd = { REQ_MAGIC, MODE_KERNEL, (uint32_t)m, 0, 0, 0, 0 };
	struct krep rep;
	kva_buf got;
	size_t at = 0, i = 0, end = 0;
	int st, g = 0, rc = 0;

	/* an overflow call needs a child with the arena, any other call
	 * one without it */
	t->arena_next = t->q[p[0].ix[0]].overflow ? t->arena : 0;
	if (t->sbx.pid > 0 && t->arena_child != t->arena_next && (p[0].sparse || t->arena_child))
		kva_sbx_end(&t->sbx, 0.5);
	if (t->stop_why[0] || (g = kva_trap_ensure_child(t, e)) > 0) {
		for (size_t j = 0; j < m; j++)
			kprep_skip(t, &p[j]);
		return 0;
	}
	if (g < 0)
		return -1;
	hd.seq = t->seq + 1;
	t->seq += (uint32_t)m;
	t->req.len = 0;
	kva_buf_put(&t->req, &hd, sizeof hd);
	for (size_t j = 0; j < m; j++) {
		kprep_put(t, &p[j]);
		p[j].seq = hd.seq + (uint32_t)j;
		end += sizeof rep + (size_t)p[j].rnreg * sizeof(float);
		p[j].rep_end = end;
	}
	((struct req_hdr *)(void *)t->req.p)->len = t->req.len - sizeof hd;
	t->rep.len = 0;
	st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep, batch_done, &w,
			      t->c.lim.timeout_s);
	if (st == KVA_SBX_OK && t->rep.len != end)
		st = SBX_GARBLED;        /* bytes past the last reply */
	/* the replies are judged from a buffer of their own: a judgement
	 * may run calls of its own */
	got = t->rep;
	memset(&t->rep, 0, sizeof t->rep);
	for (; i < m && !rc && got.len >= p[i].rep_end; i++) {
		memcpy(&rep, got.p + at, sizeof rep);
		if (rep.tag != p[i].seq || (st == SBX_GARBLED && i + 1 == m))
			break;
		rc = kprep_judge(t, &p[i], &rep, (const float *)(const void *)
				 (got.p + at + sizeof rep), e);
		at = p[i].rep_end;
	}
	if (!t->rep.cap)
		t->rep = got;
	else
		kva_buf_free(&got);
	if (rc || i == m)
		return rc;
	if (st == KVA_SBX_OK)
		st = SBX_GARBLED;        /* a reply that is not the trap's */
	if (st == SBX_GARBLED)
		kva_sbx_stop(&t->sbx);
	if (m == 1)
		return kv_narrow(t, p[0].kc.ix, p[0].kc.n, st, e);
	/* the calls left are run alone: the replies come after every call's
	 * first run, so the first one missing need not be the call that
	 * failed */
	for (; i < m && !rc; i++)
		rc = kv_run(t, &p[i], 1, e);
	return rc;
}

/*
 * Run tokens ix[0..n) of the queue as one kernel call.  A crash, hang or
 * garbled answer is narrowed to its token by running halves of the call.
 * Returns 0 or -1 with e (trouble: the call cannot be set up).
 */
static int kv_call(kva_trap *t, const size_t *ix, size_t n, kva_err *e)
{
	struct kprep p;
	int rc;

	if (kprep_make(t, ix, n, &p, e))
		return -1;
	rc = kv_run(t, &p, 1, e);
	kprep_free(&p);
	return rc;
}

/* Calls waiting to be sent together: at most KREQ_MAX_CALLS of them,
 * and about BATCH_BYTES of requests (a call of more is sent alone). */
#define BATCH_BYTES ((size_t)4 << 20)

struct kbatch {
	struct kprep p[KREQ_MAX_CALLS];
	size_t m, bytes;
};

/* Run the waiting calls.  Returns 0 or -1 with e. */
static int kv_batch_run(kva_trap *t, struct kbatch *b, kva_err *e)
{
	int rc = b->m ? kv_run(t, b->p, b->m, e) : 0;

	for (size_t i = 0; i < b->m; i++)
		kprep_free(&b->p[i]);
	b->m = b->bytes = 0;
	return rc;
}

/* Make tokens ix[0..n) a call and queue it in b; an overflow call goes
 * alone.  Returns 0 or -1 with e. */
static int kv_batch_add(kva_trap *t, struct kbatch *b, const size_t *ix, size_t n,
			kva_err *e)
{
	struct kprep *p;
	int alone = t->q[ix[0]].overflow;

	if (alone && kv_batch_run(t, b, e))
		return -1;
	p = &b->p[b->m];
	if (kprep_make(t, ix, n, p, e)) {
		kv_batch_run(t, b, e);
		return -1;
	}
	b->m++;
	b->bytes += (p->ndata + (size_t)p->rnreg) * sizeof(float) +
		    p->nslots * sizeof(int64_t);
	if (alone || b->m == KREQ_MAX_CALLS || b->bytes >= BATCH_BYTES)
		return kv_batch_run(t, b, e);
	return 0;
}

/* Order for grouping: block size, then the queue's order. */
struct bskey {
	int64_t bs;
	size_t i;
};

static int by_bs(const void *a, const void *b)
{
	const struct bskey *x = a, *y = b;

	if (x->bs != y->bs)
		return x->bs < y->bs ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * See trap_internal.h.  The queue is grouped by block size; each group is
 * cut into calls of distinct cells (a slot of a world): a token whose
 * cell the call already has waits for the next call of its group.
 */
int kva_trap_kernel_queue(kva_trap *t, kva_err *e)
{
	size_t *order = malloc((t->nq + 1) * sizeof *order);
	size_t *call = malloc((t->nq + 1) * sizeof *call);
	size_t *later = malloc((t->nq + 1) * sizeof *later);
	struct kbatch *b = calloc(1, sizeof *b);
	int rc = 0;

	if (!order || !call || !later || !b)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	{
		struct bskey *key = malloc((t->nq + 1) * sizeof *key);

		if (!key)
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		for (size_t i = 0; i < t->nq; i++) {
			key[i].bs = kva_trap_case_bs(t, &t->q[i]);
			key[i].i = i;
		}
		qsort(key, t->nq, sizeof *key, by_bs);
		for (size_t i = 0; i < t->nq; i++)
			order[i] = key[i].i;
		free(key);
	}
	for (size_t from = 0; from < t->nq && !rc;) {
		int64_t S = kva_trap_case_bs(t, &t->q[order[from]]);
		size_t to = from, left;

		while (to < t->nq && kva_trap_case_bs(t, &t->q[order[to]]) == S)
			to++;
		/* the group order[from..to): calls of distinct slots */
		left = to - from;
		memcpy(later, order + from, left * sizeof *later);
		while (left && !rc) {
			struct vmap seen;
			size_t nc = 0, nl = 0;

			if (t->stop_why[0]) {
				for (size_t i = 0; i < left; i++)
					kva_trap_skip(t, later[i], later[i] + 1);
				break;
			}
			vmap_init(&seen, left);
			for (size_t i = 0; i < left; i++) {
				/* a call holds --batch, and no more than the kernel
				 * claims */
				if (nc == t->c.batch || (t->has_cons && t->cons.max_tokens &&
							 nc == (size_t)t->cons.max_tokens)) {
					later[nl++] = later[i];
					continue;
				}
				const struct tcase *k = &t->q[later[i]];
				int64_t s = kva_trap_case_slot(t, k);

				/* one cell of one world once a call: the same slot of
				 * another block table is another cell */
				if (s >= 0) {
					int64_t *v = vmap_at(&seen, wkey(kva_trap_world_hash(t, k),
									 s));

					if (*v >= 0) {
						later[nl++] = later[i];
						continue;
					}
					*v = 1;
				}
				call[nc++] = later[i];
			}
			vmap_free(&seen);
			rc = kv_batch_add(t, b, call, nc, e);
			left = nl;
		}
		from = to;
	}
	if (!rc)
		rc = kv_batch_run(t, b, e);
	else
		for (size_t i = 0; i < b->m; i++)
			kprep_free(&b->p[i]);
	free(b);
	free(order);
	free(call);
	free(later);
	return rc;
}

/* Lengths of the engine-sized calls: around the usual tile and grid
 * sizes, up to what --batch allows. */
static const int64_t call_lens[] = { 1, 31, 32, 33, 63, 64, 65, 127, 128, 129,
	255, 256, 257, 1023, 1024, 1025, 8191, 8192, 65535, 65536, 65537 };

/* Queue one token of a synthetic call: the oracle's answer is its
 * reference.  Returns 0 or -1 with e. */
static int call_token(kva_trap *t, kva_args *a, kva_err *e)
{
	kva_route r;

	if (kva_oracle_eval(t->c.o, a, &r, e))
		return -1;
	return kva_trap_add(t, a, &r, "", 0, e);
}

/* The offsets an int32 or uint32 index wraps at, in floats: 2^31 and
 * 2^32 bytes, 2^31 and 2^32 elements. */
static const int64_t overflow_at[] = { (int64_t)1 << 29, (int64_t)1 << 30,
				       (int64_t)1 << 31, (int64_t)1 << 32 };

/*
 * The overflow calls: for each offset of overflow_at, one call whose
 * tokens fill the block of block size 16 that holds it, with the last
 * slot of the block before and the first of the block after, padding at
 * both ends and in the middle; the kernel gets the real slots on a cache
 * of that many blocks, sparse (trap_proto.h: the arena).  Returns 0 or -1
 * with e.
 */
static int kernel_overflow(kva_trap *t, kva_err *e)
{
	const int64_t bs = 16, BS = bs * t->c.heads * t->c.head_dim;
	int fi = t->oid == OR_FLASHINFER;
	int64_t top = overflow_at[sizeof overflow_at / sizeof *overflow_at - 1];
	size_t arena;

	if (t->c.cuda) {
		t->overflow_why = "not made on --device cuda";
		return 0;
	}
	if (t->abi & GREET_PAIR) {
		t->overflow_why = "not made for kva_write_kv_pair kernels";
		return 0;
	}
	if (t->c.batch < (size_t)bs + 5) {
		t->overflow_why = "--batch is smaller than an overflow call (21 tokens)";
		return 0;
	}
	if (!kva_trap_claims_bs(t, bs) ||
	    (t->has_cons && t->cons.max_tokens && t->cons.max_tokens < bs + 5)) {
		t->overflow_why = "the kernel does not claim its calls (block size 16, "
				  "21 tokens)";
		return 0;
	}
	/* the cache up to the block after the last window, slack, rounded
	 * to a MiB */
	arena = (size_t)KVA_ARENA_LOW + (size_t)((top / BS + 4) * BS + 2 * BS + 8192) * 4;
	arena = (arena + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
	t->overflow_why = NULL;
	for (size_t k = 0; k < sizeof overflow_at / sizeof *overflow_at; k++) {
		int64_t b = overflow_at[k] / BS, tab[3] = { b - 1, b, b + 1 };
		int64_t indptr[2] = { 0, 3 }, last[1] = { 1 }, pos[40];  /* 2 * bs + 4 */
		kva_args a;
		int rc = 0, np = 0;

		if (b < 3)      /* a block so large the offset is near the start */
			continue;
		if (kva_trap_flush(t, e))
			return -1;
		t->arena = arena;
		t->queue_overflow = 1;
		/* padding (pos -1), S-1 (block b-1), S..2S-1 (block b) with
		 * padding in the middle, 2S (block b+1), padding */
		pos[np++] = -1;
		for (int64_t p = bs - 1; p <= 2 * bs; p++) {
			pos[np++] = p;
			if (p == bs + bs / 2)
				pos[np++] = -1;
		}
		pos[np++] = -1;
		for (int j = 0; j < np && !rc; j++) {
			memset(&a, 0, sizeof a);
			if (fi) {
				a.in[0] = 0;
				a.in[1] = pos[j] < 0 ? 2 * bs + 1 : pos[j]; /* past the end */
				a.in[2] = bs;
				a.tab[0].v = indptr;
				a.tab[0].n = 2;
				a.tab[1].v = tab;
				a.tab[1].n = 3;
				a.tab[2].v = last;
				a.tab[2].n = 1;
			} else {
				a.in[0] = pos[j];
				a.in[1] = bs;
				a.in[2] = 3;          /* paged-ring: no wrap */
				a.tab[0].v = tab;
				a.tab[0].n = 3;
			}
			rc = call_token(t, &a, e);
		}
		t->queue_overflow = 0;
		if (rc || kva_trap_flush(t, e))
			return -1;
	}
	return 0;
}

/*
 * See trap_internal.h.  Each call: block size 16, one to three sequences
 * with ragged starts and ends on disjoint, scattered blocks, padding
 * tokens (pos -1; for flashinfer a position past its sequence, unmapped)
 * at both ends and between the tokens, in an order the seed picks; the
 * queue is flushed around it, so it is one kernel call.
 */
int kva_trap_kernel_calls(kva_trap *t, kva_err *e)
{
	const int64_t bs = 16;
	kva_rng rng;
	int fi = t->oid == OR_FLASHINFER;

	/* kva_rng_range(lo, hi) is lo..hi inclusive */
	kva_rng_seed(&rng, t->c.seed ^ 0x63616c6cULL);
	for (size_t li = 0; li < sizeof call_lens / sizeof *call_lens; li++) {
		int64_t L = call_lens[li], nseq = 1 + L % 3, pads, reals, len[3], p0[3];
		int64_t next = kva_rng_range(&rng, 0, 63), nblk[3], *tab[3];
		int64_t *indptr, *indices, *last, ntot = 0;
		kva_args a;
		int64_t left, done = 0, k;
		int64_t *order;

		if ((size_t)L > t->c.batch)
			break;
		if (t->has_cons && t->cons.max_tokens && L > t->cons.max_tokens) {
			t->unclaimed += (uint64_t)L;   /* a call it does not claim */
			continue;
		}
		if (kva_trap_flush(t, e))
			return -1;
		pads = L >= 3 ? 2 + L / 9 : 0;
		reals = L - pads;
		if (reals < nseq)
			nseq = reals > 0 ? reals : 1;
		/* split the real tokens into the sequences */
		left = reals;
		for (int j = 0; j < nseq; j++) {
			len[j] = j == nseq - 1 ? left :
				 1 + kva_rng_range(&rng, 0, left - (nseq - 1 - j) - 1);
			left -= len[j];
			p0[j] = fi ? 0 : kva_rng_range(&rng, 0, bs - 1);
			nblk[j] = (p0[j] + len[j] + bs - 1) / bs;
			if (nblk[j] < 1)
				nblk[j] = 1;
			if (!(tab[j] = malloc((size_t)nblk[j] * sizeof **tab)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
			for (int64_t b = 0; b < nblk[j]; b++) {
				tab[j][b] = next;
				next += 1 + kva_rng_range(&rng, 0, 2); /* scattered */
			}
			ntot += nblk[j];
		}
		/* flashinfer: one CSR world for all the sequences */
		indptr = malloc((size_t)(nseq + 1) * sizeof *indptr);
		indices = malloc((size_t)(ntot + 1) * sizeof *indices);
		last = malloc((size_t)nseq * sizeof *last);
		if (!indptr || !indices || !last)
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		indptr[0] = 0;
		for (int j = 0, at = 0; j < nseq; j++) {
			for (int64_t b = 0; b < nblk[j]; b++)
				indices[at++] = tab[j][b];
			indptr[j + 1] = at;
			last[j] = len[j] - (nblk[j] - 1) * bs;
		}
		/* the order: token r < reals is real, the rest padding; the
		 * first and last are padding, the others shuffled in */
		if (!(order = malloc((size_t)L * sizeof *order)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		for (k = 0; k < L; k++)
			order[k] = k;
		for (k = L - 1; k > 0; k--) {
			int64_t j = kva_rng_range(&rng, 0, k), x = order[k];

			order[k] = order[j];
			order[j] = x;
		}
		if (pads >= 2) {
			/* padding at both ends: swap a padding token to each end */
			for (k = 0; k < L && order[k] < reals; k++)
				;
			if (k < L) {
				int64_t x = order[0];

				order[0] = order[k];
				order[k] = x;
			}
			for (k = L - 1; k > 0 && order[k] < reals; k--)
				;
			if (k > 0 && k != L - 1) {
				int64_t x = order[L - 1];

				order[L - 1] = order[k];
				order[k] = x;
			}
		}
		for (k = 0; k < L; k++) {
			int64_t r = order[k], j = 0, p, acc = 0;
			int pad = r >= reals;

			/* a real token: its sequence and position, in order */
			if (!pad) {
				for (j = 0; j < nseq && r >= acc + len[j]; j++)
					acc += len[j];
				p = r - acc;
			} else {
				j = (r - reals) % nseq;
				p = 0;
			}
			memset(&a, 0, sizeof a);
			if (fi) {
				a.in[0] = j;
				a.in[1] = pad ? len[j] : p;   /* past the end: unmapped */
				a.in[2] = bs;
				a.tab[0].v = indptr;
				a.tab[0].n = (size_t)nseq + 1;
				a.tab[1].v = indices;
				a.tab[1].n = (size_t)ntot;
				a.tab[2].v = last;
				a.tab[2].n = (size_t)nseq;
			} else {
				a.in[0] = pad ? -1 : p0[j] + p;
				a.in[1] = bs;
				a.in[2] = nblk[j];            /* paged-ring: no wrap */
				a.tab[0].v = tab[j];
				a.tab[0].n = (size_t)nblk[j];
			}
			if (call_token(t, &a, e)) {
				done = -1;
				break;
			}
		}
		free(order);
		free(indptr);
		free(indices);
		free(last);
		for (int j = 0; j < nseq; j++)
			free(tab[j]);
		if (done < 0 || kva_trap_flush(t, e))
			return -1;
	}
	return kernel_overflow(t, e);
}
