/*
 * trap_kernel.c - write and gather kernels (see trap_internal.h).
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
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache.h"
#include "trap_internal.h"

#define GAP_BITS 0x7fb0b0b0u     /* source row padding: never to be read */

enum { DEC_POISON, DEC_FULL, DEC_PARTIAL, DEC_CELL, DEC_GUARD, DEC_GARBAGE };

/* Element (h, d) of the signature of a token, an unowned cell or a guard
 * zone with identity id: exact in float, in [-1, 1]; element 0 tells the
 * three apart (1, -1, -0.5) and elements 1-3 carry id in 16-bit pieces. */
float kva_trap_ksig(uint64_t seed, uint64_t id, int64_t h, int64_t d, int what)
{
	static const float anchor[] = { 1.0f, -1.0f, -0.5f };

	if (d == 0)
		return anchor[what];
	if (d <= 3)
		return (float)((id >> (16 * (d - 1))) & 0xffff) / 65536.0f;
	return (float)((int)(kva_trap_mix64(kva_trap_mix64(seed ^ (uint64_t)what, id),
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
			if (row[h * D + d] != kva_trap_ksig(t->c.seed, v, h, d, what) ||
			    is_bits(row[h * D + d], POISON_BITS))
				return what == SIG_TOKEN ? DEC_PARTIAL : DEC_GARBAGE;
	return what == SIG_TOKEN ? DEC_FULL : what == SIG_CELL ? DEC_CELL : DEC_GUARD;
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
	size_t i = (size_t)kva_trap_mix64(0, (uint64_t)s) & (m->cap - 1);

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
	size_t i = (size_t)kva_trap_mix64(0, (uint64_t)s) & (m->cap - 1);

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
				bad = row[h * D + d] != kva_trap_ksig(t->c.seed, id, h, d, SIG_TOKEN);
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
			int64_t own = kva_trap_case_slot(t, &t->q[from + u]);
			int64_t *at = kind[s] == DEC_FULL ? &full_at[u] : &part_at[u];

			if (*at < 0 || *at == own || s == own)
				*at = s == own && *at >= 0 && *at != own ? *at : s;
			if (kind[s] == DEC_FULL && s != own)
				full_at[u] = s; /* prefer where it strayed to */
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct tcase *k = &t->q[from + i];
		int64_t s = kva_trap_case_slot(t, k), u;
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
		int64_t s = kva_trap_case_slot(t, k);
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
				      kva_trap_case_slot(t, &t->q[from + u]));
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
	int64_t H = t->c.heads, D = t->c.head_dim, S = kva_trap_case_bs(t, &t->q[from]);
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
		slots[i] = kva_trap_case_slot(t, &t->q[from + i]);
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
					*f = kva_trap_ksig(t->c.seed, t->q[from + i].index + 1,
						  j / D, j % D, SIG_TOKEN);
				else
					memcpy(f, &gapb, 4);
			}
		kva_ref_write_kv(src, stride, slots, (int64_t)n, ref + guard, &dc);
	} else {
		for (int64_t j = 0; j < guard; j++) {
			src[j] = kva_trap_ksig(t->c.seed, 0, 0, j % (H * D) % D, SIG_GUARD);
			src[guard + elems + j] = src[j];
		}
		for (int64_t s = 0; s < elems / (H * D); s++)
			for (int64_t h = 0; h < H; h++)
				for (int64_t d = 0; d < D; d++) {
					int64_t u = slotmap_get(&owner, s);

					src[guard + kva_cache_index(&dc, s, h, d)] = u >= 0 ?
						kva_trap_ksig(t->c.seed, t->q[from + (size_t)u].index + 1,
						     h, d, SIG_TOKEN) :
						kva_trap_ksig(t->c.seed, (uint64_t)s + 1, h, d, SIG_CELL);
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
		int g = kva_trap_ensure_child(t, e);

		if (g) {
			if (g < 0)
				rc = -1;
			else
				kva_trap_skip(t, from, from + n);
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
	st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep, kva_trap_bytes_done,
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
					kva_trap_skip(t, from + i, from + n);
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
				kva_trap_count_hang(t);
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
int kva_trap_kernel_queue(kva_trap *t, kva_err *e)
{
	size_t from = 0;

	while (from < t->nq) {
		struct slotmap seen;
		size_t to = from;
		int64_t S = kva_trap_case_bs(t, &t->q[from]);

		if (t->stop_why[0]) {
			kva_trap_skip(t, from, t->nq);
			break;
		}
		slotmap_init(&seen, t->nq - from);
		while (to < t->nq && kva_trap_case_bs(t, &t->q[to]) == S) {
			int64_t s = kva_trap_case_slot(t, &t->q[to]);

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
