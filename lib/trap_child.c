/*
 * trap_child.c - the loader child of grad-trap: loads a candidate's
 * shared object inside the sandbox and answers the trap's requests (the
 * wire is described in trap_proto.h).  Nothing here judges: the parent
 * (lib/trap.c) compares the answers with the oracle.
 *
 * kva_trap_child_main runs in a fresh image of grad-trap (sandbox.c
 * re-executes /proc/self/exe), so the child holds nothing of the
 * caller's: no environment, no memory.  It installs the seccomp filter
 * before it opens the candidate, so the candidate's constructors already
 * run under it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cudart.h"
#include "kvcache.h"
#include "sandbox.h"
#include "trap.h"
#include "trap_blocks.h"
#include "trap_proto.h"

enum { FD_REQ = 3, FD_REP = 4, FD_PASS = 5 };

typedef int (*fn_r1)(int64_t, int64_t, int64_t, int64_t *);
typedef int (*fn_r2)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t *);
typedef int (*fn_pg)(int64_t, const int32_t *, int64_t, int64_t, int64_t *);
typedef int (*fn_pr)(int64_t, const int32_t *, int64_t, int64_t, int64_t,
		     int64_t *);
typedef int (*fn_fi)(int64_t, int64_t, const int32_t *, const int32_t *,
		     const int32_t *, int64_t, int64_t, int64_t *);
typedef int (*fn_write)(const float *, int64_t, const int64_t *, int64_t,
			float *, const kva_cache_desc *);
typedef int (*fn_gather)(const float *, const kva_cache_desc *,
			 const int64_t *, int64_t, float *, int64_t);
typedef int (*fn_rows)(const float *, int64_t, int64_t, const int64_t *, int64_t,
		       float *, const kva_cache_desc *);
typedef int (*fn_pair)(const void *, int64_t, const void *, int64_t, int64_t,
		       const int64_t *, int64_t, void *, const kva_cache_desc *, void *,
		       const kva_cache_desc *);
typedef int (*fn_paged)(const float *, const kva_cache_desc *, const int32_t *, int64_t,
			const int64_t *, const int64_t *, int64_t, float *, int64_t);

struct child_ctx {
	const kva_oracle *o;
	int oid;
	int kind;                /* enum kva_kind */
	int cuda;                /* kernels get device pointers */
	double flush_s;          /* flush answers at least this often */
	void (*fn)(void);        /* the candidate's symbol, cast at the call */
	kva_cudart cu;           /* --device cuda */
	kva_constraints cons;    /* the kernel's kva_kernel_constraints */
	uint32_t has_cons;
	uint32_t abi;            /* GREET_ROWS: fn is kva_write_kv_rows;
	                            GREET_PAGED: fn is kva_gather_paged;
	                            GREET_PAIR: fn is kva_write_kv_pair */
};

int kva_trap_oracle_id(const kva_oracle *o)
{
	static const char *const names[] = { "radix-1d", "radix-2d", "paged",
					     "paged-ring", "flashinfer", "rolling" };

	for (int i = 0; i < OR_OTHER; i++)
		if (o->eval && !strcmp(o->name, names[i]))
			return i;
	return OR_OTHER;
}

/* Call the candidate on one case.  Tables arrive as int32 (the ABI). */
static int call_route(const struct child_ctx *cc, const int64_t *in,
		      int32_t *const *tab, const uint32_t *tlen, int64_t *out)
{
	switch (cc->oid) {
	case OR_RADIX_1D:
		return ((fn_r1)cc->fn)(in[0], in[1], in[2], out);
	case OR_RADIX_2D:
		return ((fn_r2)cc->fn)(in[0], in[1], in[2], in[3], in[4], out);
	case OR_PAGED:
		return ((fn_pg)cc->fn)(in[0], tab[0], tlen[0], in[1], out);
	case OR_PAGED_RING:
		return ((fn_pr)cc->fn)(in[0], tab[0], tlen[0], in[1], in[2], out);
	case OR_ROLLING:         /* three int64s, as radix-1d's */
		return ((fn_r1)cc->fn)(in[0], in[1], in[2], out);
	default:
		return ((fn_fi)cc->fn)(in[0], in[1], tab[0], tab[1], tab[2],
				       tlen[2], in[2], out);
	}
}

/*
 * Where a route's tables are handed over: one buffer per table that every
 * case reuses, so tables of two cases share an address (an answer kept by
 * the table's address is asked again with another table there).  Past the
 * table the buffer holds zeros, at least TAB_TAIL of them, as a row of an
 * engine's padded block-table tensor does past a sequence's blocks.
 */
#define TAB_TAIL 64

struct tabbuf {
	int32_t *p;
	size_t cap, dirty;       /* entries; those that may not be zero */
};

/* Room for a table of n entries and its zero tail; fill [0, n), then
 * tab_seal.  Exits the child when memory runs out. */
static int32_t *tab_room(struct tabbuf *b, size_t n)
{
	if (n + TAB_TAIL > b->cap) {
		size_t cap = 2 * (n + TAB_TAIL);
		int32_t *q = realloc(b->p, cap * sizeof *q);

		if (!q)
			_exit(3);
		memset(q + b->cap, 0, (cap - b->cap) * sizeof *q);
		b->p = q;
		b->cap = cap;
	}
	return b->p;
}

/* Zero what an earlier, longer table (or a write past one) left past the
 * n entries just filled in. */
static void tab_seal(struct tabbuf *b, size_t n)
{
	if (b->dirty > n)
		memset(b->p + n, 0, (b->dirty - n) * sizeof *b->p);
	b->dirty = n;
}

/* After the call: did it write into the zero tail?  (A write past the
 * table: an input it may not change.) */
static int tab_tail_written(struct tabbuf *b, size_t n)
{
	static const int32_t zero[TAB_TAIL];

	if (!memcmp(b->p + n, zero, sizeof zero))
		return 0;
	b->dirty = n + TAB_TAIL;
	return 1;
}

/* The buffers' addresses, for call_route. */
static void tab_ptrs(struct tabbuf *b, int n, int32_t **tab)
{
	for (int k = 0; k < n; k++)
		tab[k] = b[k].p;
}

/* Decode one case of a request payload at *p: scalars, then each table
 * as a u32 length and int32 values.  Returns 0, or -1 if malformed. */
static int take_case(const kva_oracle *o, const char **p, const char *end,
		     int64_t *in, int32_t **tab, uint32_t *tlen)
{
	size_t sz = (size_t)o->nin * sizeof *in;

	if ((size_t)(end - *p) < sz)
		return -1;
	memcpy(in, *p, sz);
	*p += sz;
	for (int k = 0; k < o->ntab; k++) {
		if ((size_t)(end - *p) < 4)
			return -1;
		memcpy(&tlen[k], *p, 4);
		*p += 4;
		if ((size_t)(end - *p) < (size_t)tlen[k] * 4)
			return -1;
		tab[k] = (int32_t *)(uintptr_t)*p; /* payload is 8-aligned per case */
		*p += (size_t)tlen[k] * 4;
		while (((uintptr_t)*p) & 7)
			(*p)++;
	}
	return 0;
}

/* First index at which a and b (n elements of size sz) differ, or -1. */
int64_t kva_trap_first_diff(const void *a, const void *b, size_t n, size_t sz)
{
	const char *x = a, *y = b;

	if (!memcmp(x, y, n * sz))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (memcmp(x + i * sz, y + i * sz, sz))
			return (int64_t)i;
	return -1;
}

/* Call the kernel: src a write's rows, slots the slot mapping (a paged
 * gather's sequences: trap_proto.h), cache the cache, out a gather's first
 * output row, desc the cache's description (a pair's: the key cache's,
 * then the value cache's). */
static int32_t kfn(const struct child_ctx *cc, const struct kreq *kr, float *src,
		   int64_t *slots, float *cache, float *out, const kva_cache_desc *desc)
{
	if (cc->abi & GREET_PAIR)
		return ((fn_pair)cc->fn)(src, kr->stride, (char *)src + kr->vrows, kr->vstride,
					 kr->n, slots, kr->nslots, cache, desc,
					 (char *)cache + kr->vbase, desc + 1);
	if (cc->abi & GREET_PAGED)
		return ((fn_paged)cc->fn)(cache, desc, (const int32_t *)(const void *)
					  (slots + 2 * kr->nseq), kr->maxb, slots,
					  slots + kr->nseq, kr->nseq, out, kr->stride);
	if (cc->abi & GREET_ROWS)
		return ((fn_rows)cc->fn)(src, kr->stride, kr->n, slots, kr->nslots, cache, desc);
	if (cc->kind == KVA_KIND_WRITE)
		return ((fn_write)cc->fn)(src, kr->stride, slots, kr->n, cache, desc);
	return ((fn_gather)cc->fn)(cache, desc, slots, kr->n, out, kr->stride);
}

/*
 * The same kernel call on a GPU: copy the slot mapping, the data and the
 * region to the device, run the candidate on device pointers, copy the
 * region back, and the inputs too, to see whether the call changed them.
 * Returns the kernel's value, or -1000 minus the CUDA error for a failed
 * allocation or copy.
 */
static int cuda_kernel(const struct child_ctx *cc, const struct kreq *kr,
		       const kva_cache_desc *desc, int64_t *slots, float *data,
		       float *region)
{
	const kva_cudart *cu = &cc->cu;
	size_t ns = (size_t)kr->nslots * sizeof *slots, nd = (size_t)kr->ndata * sizeof *data;
	size_t nr = (size_t)kr->nreg * sizeof *region;
	void *ds = NULL, *dd = NULL, *dr = NULL;
	int err, rc = -1;

	if ((err = cu->malloc_(&ds, ns + 8)) || (err = cu->malloc_(&dd, nd + 4)) ||
	    (err = cu->malloc_(&dr, nr + 4)) ||
	    (err = cu->memcpy_(ds, slots, ns, KVA_CUDA_H2D)) ||
	    (err = cu->memcpy_(dd, data, nd, KVA_CUDA_H2D)) ||
	    (err = cu->memcpy_(dr, region, nr, KVA_CUDA_H2D))) {
		rc = -1000 - err;
		goto out;
	}
	rc = kfn(cc, kr, dd, ds, (float *)(cc->kind == KVA_KIND_WRITE ? dr : dd) + kr->glo,
		 (float *)dr + kr->glo, desc);
	if ((err = cu->synchronize()) ||
	    (err = cu->memcpy_(region, dr, nr, KVA_CUDA_D2H)) ||
	    (err = cu->memcpy_(slots, ds, ns, KVA_CUDA_D2H)) ||
	    (err = cu->memcpy_(data, dd, nd, KVA_CUDA_D2H)))
		rc = -1000 - err;
out:
	if (ds)
		cu->free_(ds);
	if (dd)
		cu->free_(dd);
	if (dr)
		cu->free_(dr);
	return rc;
}

/* n bytes between two PROT_NONE pages, their end against the upper one
 * (a region whose length is a page multiple touches both).  Returns the
 * address, with the mapping in *map and *maplen, or NULL. */
void *kva_trap_guarded(size_t n, void **map, size_t *maplen)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = (n + pg - 1) / pg * pg;
	char *p = mmap(NULL, body + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + pg, body ? body : pg, PROT_READ | PROT_WRITE)) {
		munmap(p, body + 2 * pg);
		return NULL;
	}
	*map = p;
	*maplen = body + 2 * pg;
	return p + pg + body - n;
}

/* The buffers of one run of a call, each between guard pages.  In an
 * overflow call the cache's buffer is also kept in the arena, at win:
 * copied there before the call and back after it, so what is compared
 * is the same either way. */
struct krun {
	int64_t *slots;
	float *data, *region;
	kva_cache_desc *desc;
	float *win;              /* overflow: the cache's buffer in the arena */
	void *map[4];
	size_t len[4];
};

/* The overflow arena (argv ARENA_BYTES), reserved PROT_NONE before the
 * limits were set (trap_proto.h). */
static char *arena;
static size_t arena_len;

/* Reserve the arena: address space only (MAP_NORESERVE), nothing in it
 * readable.  Returns 0 or -1. */
static int arena_reserve(size_t n)
{
	void *p;

	if (!n)
		return 0;
	p = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	arena = p;
	arena_len = n;
	return 0;
}

/* The cache's buffer of an overflow call (n floats at element base of the
 * arena's cache) made readable and writable; NULL when the request does
 * not fit the arena or its pages. */
static float *arena_window(int64_t base, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), at;

	if (!arena || arena_len <= KVA_ARENA_LOW || base < 0 || !n ||
	    (uint64_t)base > (arena_len - KVA_ARENA_LOW) / 4)
		return NULL;
	at = KVA_ARENA_LOW + (size_t)base * 4;
	if (at % pg || (n * 4) % pg || n > (arena_len - at) / 4)
		return NULL;
	if (mprotect(arena + at, n * 4, PROT_READ | PROT_WRITE))
		return NULL;
	return (float *)(void *)(arena + at);
}

/* Give the window's pages back: the arena is address space only again. */
static void arena_close(float *win, size_t n)
{
	if (win)
		mmap(win, n * 4, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		     MAP_FIXED, -1, 0);
}

static int krun_new(struct krun *r, const struct kreq *kr)
{
	memset(r, 0, sizeof *r);
	r->slots = kva_trap_guarded((size_t)kr->nslots * sizeof *r->slots, &r->map[0], &r->len[0]);
	r->data = kva_trap_guarded((size_t)kr->ndata * sizeof *r->data, &r->map[1], &r->len[1]);
	r->region = kva_trap_guarded((size_t)kr->nreg * sizeof *r->region, &r->map[2], &r->len[2]);
	r->desc = kva_trap_guarded(2 * sizeof *r->desc, &r->map[3], &r->len[3]);  /* a pair: 2 */
	return r->slots && r->data && r->region && r->desc ? 0 : -1;
}

static void krun_free(struct krun *r)
{
	for (int i = 0; i < 4; i++)
		if (r->map[i])
			munmap(r->map[i], r->len[i]);
}

/* Copy n floats, their bits xor mask (mantissa bits only: a finite
 * value stays finite, and a copy of x^m is the copy of x, ^m). */
void kva_trap_copy_xor(float *to, const float *from, size_t n, uint32_t mask)
{
	if (!mask) {
		memcpy(to, from, n * sizeof *to);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &from[i], 4);
		u ^= mask;
		memcpy(&to[i], &u, 4);
	}
}

/* First element at which region, its bits xor mask, differs from want,
 * or -1. */
int64_t kva_trap_diff_xor(const float *region, const float *want, size_t n, uint32_t mask)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t a, b;

		memcpy(&a, &region[i], 4);
		memcpy(&b, &want[i], 4);
		if ((a ^ mask) != b)
			return (int64_t)i;
	}
	return -1;
}

/* The cache's buffer of a run (the region of a write, the data of a
 * gather) and its length in floats. */
static float *kbig(const struct child_ctx *cc, const struct kreq *kr,
		   const struct krun *r, size_t *n)
{
	int w = cc->kind == KVA_KIND_WRITE;

	*n = (size_t)(w ? kr->nreg : kr->ndata);
	return w ? r->region : r->data;
}

/* An overflow call's cache buffer, from the arena back to the run's copy
 * (what the call, or a thread it left, has made of it). */
static void krun_sync(const struct child_ctx *cc, const struct kreq *kr,
		      struct krun *r)
{
	size_t n;
	float *big = kbig(cc, kr, r, &n);

	if (r->win)
		memcpy(big, r->win, n * sizeof *big);
}

/* One run: fresh copies of the inputs (every value xor mask), the call. */
static int32_t krun_call(const struct child_ctx *cc, const struct kreq *kr,
			 struct krun *r, const int64_t *slots, const float *data,
			 const float *init, uint32_t mask)
{
	size_t nbig;
	float *big = kbig(cc, kr, r, &nbig), *cache;
	int32_t rc;

	memcpy(r->slots, slots, (size_t)kr->nslots * sizeof *slots);
	kva_trap_copy_xor(r->data, data, (size_t)kr->ndata, mask);
	kva_trap_copy_xor(r->region, init, (size_t)kr->nreg, mask);
	r->desc[0] = kr->desc;
	r->desc[1] = kr->vdesc;
	if (cc->cuda)
		return cuda_kernel(cc, kr, r->desc, r->slots, r->data, r->region);
	cache = big + kr->glo;
	if (r->win) {
		memcpy(r->win, big, nbig * sizeof *big);
		cache = (float *)(void *)(arena + KVA_ARENA_LOW);
	}
	rc = kfn(cc, kr, r->data, r->slots, cache, r->region + kr->glo, r->desc);
	krun_sync(cc, kr, r);
	return rc;
}

/* Pin this process to one CPU of its set (on), or give the set back. */
void kva_trap_one_cpu(int on)
{
	static cpu_set_t all;
	static int have;
	cpu_set_t one;

	if (on) {
		if (!have && sched_getaffinity(0, sizeof all, &all))
			return;
		have = 1;
		CPU_ZERO(&one);
		for (int c = CPU_SETSIZE - 1; c >= 0; c--)
			if (CPU_ISSET(c, &all)) {
				CPU_SET(c, &one);
				break;
			}
		sched_setaffinity(0, sizeof one, &one);
	} else if (have) {
		sched_setaffinity(0, sizeof all, &all);
	}
}

/* One call of a kernel request, as the child runs it. */
struct kjob {
	struct kreq kr;
	const int64_t *slots;
	const float *data, *init;
	struct krun first, again;
	float *out;              /* the first run's region, as it returned */
	struct krep rep;
};

/* Call j's part of a request at *p (at most end): struct kreq, the slots,
 * the data, the region, padded to 8 bytes.  Returns 0 or -1. */
static int kjob_take(const struct child_ctx *cc, struct kjob *j, const char **p,
		     const char *end)
{
	struct kreq *kr = &j->kr;
	size_t left = (size_t)(end - *p), need;

	if (left < sizeof *kr)
		return -1;
	memcpy(kr, *p, sizeof *kr);
	if (kr->n < 0 || kr->nslots < 0 || kr->nseq < 0 || kr->maxb < 0 ||
	    ((cc->abi & GREET_PAGED) ? kr->nseq > kr->n + 65536 || kr->maxb > (1 << 24) ||
	     kr->nslots != 2 * kr->nseq + (kr->nseq * kr->maxb + 1) / 2 :
	     kr->nseq || kr->maxb || kr->nslots > kr->n ||
	     (kr->nslots < kr->n && !(cc->abi & (GREET_ROWS | GREET_PAIR)))) ||
	    ((cc->abi & GREET_PAIR) && (kr->vstride < 0 || kr->vbase < 0 || kr->vrows < 0 ||
					kr->vbase > 4 * kr->nreg || kr->vrows > 4 * kr->ndata ||
					kr->base >= 0)) ||
	    kr->stride < 0 || kr->glo < 0 || kr->ghi < 0 || kr->elems < 0 ||
	    kr->ndata < 0 || kr->nreg < 0 || kr->repeat < 1 || (kr->base >= 0 && cc->cuda) ||
	    (uint64_t)kr->nslots > left || (uint64_t)kr->ndata > left ||
	    (uint64_t)kr->nreg > left)
		return -1;
	need = sizeof *kr + (size_t)kr->nslots * sizeof *j->slots +
	       ((size_t)kr->ndata + (size_t)kr->nreg) * sizeof *j->data;
	need = (need + 7) / 8 * 8;
	if (left < need)
		return -1;
	j->slots = (const int64_t *)(const void *)(*p + sizeof *kr);
	j->data = (const float *)(const void *)(j->slots + kr->nslots);
	j->init = j->data + kr->ndata;
	*p += need;
	return 0;
}

/* The first run of call j: its region kept, its inputs compared. */
static int kjob_first(const struct child_ctx *cc, struct kjob *j)
{
	struct kreq *kr = &j->kr;

	j->rep.mut_at = -1;
	j->rep.nondet_at = -1;
	if (krun_new(&j->first, kr) || krun_new(&j->again, kr) ||
	    !(j->out = malloc((size_t)kr->nreg * sizeof *j->out + 1)))
		return -1;
	if (kr->base >= 0) {
		size_t nbig;

		kbig(cc, kr, &j->first, &nbig);
		if (!(j->first.win = j->again.win = arena_window(kr->base, nbig)))
			return -1;
	}
	j->rep.rc = krun_call(cc, kr, &j->first, j->slots, j->data, j->init, 0);
	memcpy(j->out, j->first.region, (size_t)kr->nreg * sizeof *j->out);
	if ((j->rep.mut_at = kva_trap_first_diff(j->first.data, j->data, (size_t)kr->ndata,
					sizeof *j->data)) >= 0)
		j->rep.mut |= KREP_MUT_DATA;
	else if ((j->rep.mut_at = kva_trap_first_diff(j->first.slots, j->slots, (size_t)kr->nslots,
					     sizeof *j->slots)) >= 0)
		j->rep.mut |= KREP_MUT_SLOTS;
	else if (memcmp(&j->first.desc[0], &kr->desc, sizeof kr->desc) ||
		 memcmp(&j->first.desc[1], &kr->vdesc, sizeof kr->vdesc))
		j->rep.mut |= KREP_MUT_DESC;
	return 0;
}

/* The later runs of call j, which must agree with the first. */
static void kjob_again(const struct child_ctx *cc, struct kjob *j)
{
	struct kreq *kr = &j->kr;

	/* 16-bit elements: the same mask in both halves of a word (an element
	 * may move from one half to the other), within the low 7 bits of
	 * each, bfloat16's mantissa (half's has 10) */
	int half = (cc->abi & GREET_PAIR) && (kr->desc.dtype || kr->vdesc.dtype);

	for (int r = 1; r < kr->repeat && j->rep.rc == 0 && j->rep.nondet_at < 0; r++) {
		uint32_t mask = (uint32_t)(0x002a5a5aU * (uint32_t)r) & 0x007fffffU;
		struct krun *at = r == 1 ? &j->first : &j->again;

		if (half)
			mask = (mask & 0x7fU) * 0x00010001U;

		krun_call(cc, kr, at, j->slots, j->data, j->init, mask ? mask : 1);
		j->rep.nondet_at = kva_trap_diff_xor(at->region, j->out, (size_t)kr->nreg,
					    mask ? mask : 1);
	}
}

static void kjob_free(const struct child_ctx *cc, struct kjob *j)
{
	if (j->first.win) {
		size_t nbig;

		kbig(cc, &j->kr, &j->first, &nbig);
		arena_close(j->first.win, nbig);
	}
	krun_free(&j->first);
	krun_free(&j->again);
	free(j->out);
}

/*
 * Serve a kernel request of hd->n calls: run each call kreq.repeat times
 * between guard pages, see whether its first run changed its inputs,
 * whether its region changed after the call returned, and whether the
 * later runs agree with it; reply, call by call, with struct krep and
 * the first run's region.  The first runs of all the calls come first,
 * then one pause for a thread a call left behind (every first run's
 * region must still be what it returned), then the later runs, on one
 * CPU.  The later runs get other values (every value's mantissa xor a
 * mask, so a kernel that moves values moves them to the same places);
 * the second one at the first one's addresses, the others elsewhere: a
 * kernel that replays an answer it kept, by address or by content, is
 * caught.  An overflow call (kreq.base >= 0) comes alone.  Returns 0 or
 * -1.
 */
static int serve_kernel(const struct child_ctx *cc, const struct req_hdr *hd,
			const char *payload, int wfd)
{
	const char *p = payload, *end = payload + hd->len;
	struct kjob *jobs;
	uint32_t m = hd->n;
	int bad = 0, late = 0;

	if (!m || m > KREQ_MAX_CALLS || !(jobs = calloc(m, sizeof *jobs)))
		return -1;
	for (uint32_t i = 0; i < m && !bad; i++) {
		jobs[i].rep.tag = hd->seq + i;
		bad = kjob_take(cc, &jobs[i], &p, end) ||
		      (m > 1 && jobs[i].kr.base >= 0);
		late |= jobs[i].kr.repeat > 1;
	}
	for (uint32_t i = 0; i < m && !bad; i++)
		bad = kjob_first(cc, &jobs[i]);
	if (!bad && late) {
		/* a moment for a thread a call left behind, then each
		 * region must still be what its call returned */
		struct timespec pause = { 0, 100000 };

		nanosleep(&pause, NULL);
		for (uint32_t i = 0; i < m; i++) {
			struct kjob *j = &jobs[i];

			if (j->kr.repeat < 2)
				continue;
			krun_sync(cc, &j->kr, &j->first);
			if ((j->rep.nondet_at = kva_trap_first_diff(j->first.region, j->out,
							   (size_t)j->kr.nreg,
							   sizeof *j->out)) >= 0)
				j->rep.nondet_late = 1;
		}
	}
	if (!bad && late)
		kva_trap_one_cpu(1);
	for (uint32_t i = 0; i < m && !bad; i++) {
		kjob_again(cc, &jobs[i]);
		bad = kva_sbx_write_full(wfd, &jobs[i].rep, sizeof jobs[i].rep) ||
		      kva_sbx_write_full(wfd, jobs[i].out, (size_t)jobs[i].kr.nreg *
					 sizeof *jobs[i].out);
	}
	if (late)
		kva_trap_one_cpu(0);
	for (uint32_t i = 0; i < m; i++)
		kjob_free(cc, &jobs[i]);
	free(jobs);
	return bad ? -1 : 0;
}

/* ---- soak ------------------------------------------------------------------- */

/* Serve MODE_SOAK: call the candidate on inputs of our own, answers
 * unread, until sreq.calls calls or sreq.ms milliseconds.  A route gets
 * mapped positions of a four-block table of block size 16 (tables
 * restored before each call); a kernel one token, its slot cycling
 * through a one-block cache, its values changing every call.  Returns 0
 * or -1. */
static int serve_soak(const struct child_ctx *cc, const struct req_hdr *hd,
		      const char *payload, int wfd)
{
	static const int32_t tab0[4] = { 5, 2, 9, 7 }, indptr[2] = { 0, 4 }, last[1] = { 16 };
	struct sreq sq;
	struct srep sp = { 0 };
	struct kreq kr;
	struct krun r;
	double stop;
	uint64_t x = 0x9e3779b97f4a7c15ULL, every = 1;
	int kernel = cc->kind != KVA_KIND_ROUTE;
	int bad = -1;

	if (hd->len < sizeof sq)
		return -1;
	memcpy(&sq, payload, sizeof sq);
	sp.tag = hd->seq;
	stop = kva_now() + sq.ms / 1000.0;
	memset(&kr, 0, sizeof kr);
	memset(&r, 0, sizeof r);
	if (kernel) {
		const char *why;
		int64_t HD;

		kr.desc = sq.desc;
		kr.desc.num_blocks = 1;
		if (kva_cache_desc_check(&kr.desc, &why) || cc->cuda)
			goto reply;      /* no calls: the reply says 0 */
		HD = (int64_t)kr.desc.num_heads * kr.desc.head_dim;
		kr.n = kr.nslots = 1;
		if (cc->abi & GREET_PAGED)  /* one sequence of one token */
			kr.nseq = kr.maxb = 1, kr.nslots = 3;
		kr.stride = HD;
		kr.ndata = cc->kind == KVA_KIND_WRITE ? HD : kva_cache_elems(&kr.desc);
		kr.nreg = cc->kind == KVA_KIND_WRITE ? kva_cache_elems(&kr.desc) : HD;
		if (cc->abi & GREET_PAIR) {  /* the value cache after the key cache */
			kr.vdesc = kr.desc;
			kr.vstride = HD;
			kr.vrows = 4 * kr.ndata;
			kr.vbase = 4 * kr.nreg;
			kr.ndata *= 2;
			kr.nreg *= 2;
		}
		if (krun_new(&r, &kr))
			goto reply;
		for (int64_t i = 0; i < kr.ndata; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			r.data[i] = (float)(int32_t)(x >> 40) / 4096.0f;
		}
	}
	/* the clock (a system call where the VM's clock source has no vDSO,
	 * and then through the filter) is read every call for the first
	 * 256, then every 256 if those took under 100 us each */
	while (sp.calls < sq.calls) {
		uint64_t i = sp.calls;

		if (i == 256 && kva_now() < stop - sq.ms / 1000.0 + 0.025)
			every = 256;
		if (i % every == 0 && kva_now() >= stop)
			break;
		sp.calls++;

		if (kernel) {
			/* the slot; a paged gather's start, length 1, table {0} */
			r.slots[0] = (int64_t)(i % (uint64_t)kr.desc.block_size);
			if (kr.nseq)
				r.slots[1] = 1, r.slots[2] = 0;
			r.desc[0] = kr.desc;
			r.desc[1] = kr.vdesc;
			r.data[i % (uint64_t)kr.ndata] += 1.0f;
			kfn(cc, &kr, r.data, r.slots, cc->kind == KVA_KIND_WRITE ? r.region : r.data,
			    r.region, r.desc);
		} else {
			static int32_t t0[4], t1[2], t2[4], t3[1];
			int64_t in[KVA_MAX_IN] = { 0 }, out[KVA_MAX_OUT];
			int32_t *tab[KVA_MAX_TAB] = { t0, NULL, NULL };
			uint32_t tlen[KVA_MAX_TAB] = { 4, 0, 0 };
			int64_t pos = (int64_t)(i % 64);

			memcpy(t0, tab0, sizeof t0);
			switch (cc->oid) {
			case OR_RADIX_1D:
				in[0] = pos, in[1] = 16 * (int64_t)(i % 8), in[2] = 16;
				break;
			case OR_RADIX_2D:
				in[0] = pos % 16, in[1] = (int64_t)(i % 4);
				in[2] = 16 * (int64_t)(i % 8), in[3] = 8, in[4] = 16;
				break;
			case OR_FLASHINFER:
				memcpy(t1, indptr, sizeof t1);
				memcpy(t2, tab0, sizeof t2);
				memcpy(t3, last, sizeof t3);
				tab[0] = t1, tab[1] = t2, tab[2] = t3;
				tlen[0] = 2, tlen[1] = 4, tlen[2] = 1;
				in[0] = 0, in[1] = pos, in[2] = 16;
				break;
			case OR_ROLLING: /* a window of 16 that has rolled */
				in[1] = 32 + (int64_t)(i % 32), in[2] = 16;
				in[0] = in[1] - 1 - (int64_t)(i % 16);
				break;
			default:         /* paged, paged-ring: a ring of the table */
				in[0] = pos, in[1] = 16, in[2] = 4;
			}
			call_route(cc, in, tab, tlen, out);
		}
	}
reply:
	bad = kva_sbx_write_full(wfd, &sp, sizeof sp);
	krun_free(&r);
	return bad ? -1 : 0;
}

/* ---- built-in generator mode ---------------------------------------------- */

struct gchild {
	const struct child_ctx *cc;
	int wfd;
	uint32_t seq;
	uint64_t index, skip;
	kva_buf out;             /* messages not yet written */
	double last_beat;        /* kva_now() of the last heartbeat */
	struct tabbuf tb[KVA_MAX_TAB];
	int failed;
};

static void gflush(struct gchild *g)
{
	if (g->out.len && kva_sbx_write_full(g->wfd, g->out.p, g->out.len))
		g->failed = 1;
	g->out.len = 0;
}

/*
 * A heartbeat: the cases done so far (never below skip: those were
 * committed by an earlier child).  Sent every BEAT_EVERY cases, when the
 * buffer fills, and every BEAT_SECONDS whatever the count, so a grid whose
 * cases are slow to generate, or a long skip on resume, is never taken
 * for a hang.
 */
static void gbeat(struct gchild *g)
{
	struct gmsg m;

	memset(&m, 0, sizeof m);
	m.type = GMSG_BEAT;
	m.tag = g->seq;
	m.index = g->index < g->skip ? g->skip : g->index;
	kva_buf_put(&g->out, &m, sizeof m);
	gflush(g);
	g->last_beat = kva_now();
}

static int beat_due(const struct gchild *g)
{
	return (g->index & 15) == 0 && kva_now() - g->last_beat >= BEAT_SECONDS;
}

/* kva_emit_fn: run the candidate on one generated case and report it
 * only if it disagrees with the oracle. */
static int gemit(void *vctx, const kva_oracle *o, const kva_args *a)
{
	struct gchild *g = vctx;
	struct gmsg m;
	int32_t *tab[KVA_MAX_TAB] = { 0 };
	kva_route r;
	kva_err e;
	int bad;

	if (g->index++ < g->skip) {
		if (beat_due(g))
			gbeat(g);
		return g->failed;
	}
	if (kva_oracle_eval(o, a, &r, &e)) {
		if (beat_due(g))
			gbeat(g);
		return g->failed;
	}
	memset(&m, 0, sizeof m);
	for (int k = 0; k < o->ntab; k++) {
		int32_t *q = tab_room(&g->tb[k], a->tab[k].n);

		for (size_t j = 0; j < a->tab[k].n; j++)
			q[j] = (int32_t)a->tab[k].v[j];
		tab_seal(&g->tb[k], a->tab[k].n);
		m.tlen[k] = (uint32_t)a->tab[k].n;
	}
	tab_ptrs(g->tb, o->ntab, tab);
	m.got.rc = call_route(g->cc, a->in, tab, m.tlen, m.got.out);
	m.got.done = 1;
	m.got.tag = g->seq;
	for (int k = 0; k < o->ntab; k++) {
		for (size_t j = 0; j < a->tab[k].n; j++)
			if (g->tb[k].p[j] != (int32_t)a->tab[k].v[j])
				m.got.mut = 1;
		m.got.mut |= tab_tail_written(&g->tb[k], a->tab[k].n);
	}
	if (r.status != KVA_ROUTED)
		bad = m.got.rc == 0;
	else
		bad = m.got.rc != 0 || memcmp(m.got.out, r.out,
					      (size_t)o->nout * sizeof(int64_t));
	bad |= m.got.mut;
	if (bad) {
		m.type = GMSG_DIV;
		m.tag = g->seq;
		m.index = g->index - 1;
		memcpy(m.in, a->in, sizeof m.in);
		for (int k = 0; k < o->ntab; k++)
			m.len += m.tlen[k] * 4;
		kva_buf_put(&g->out, &m, sizeof m);
		for (int k = 0; k < o->ntab; k++)
			kva_buf_put(&g->out, g->tb[k].p, m.tlen[k] * 4);
	}
	if (g->index % BEAT_EVERY == 0 || g->out.len > 60000 || beat_due(g))
		gbeat(g);
	return g->failed;
}

/* Serve one MODE_GENERATE request: generate, check, stream findings. */
static int serve_generate(const struct child_ctx *cc, const struct req_hdr *hd,
			  const char *payload, int wfd)
{
	struct greq gr;
	struct gchild g;
	struct gmsg m;
	kva_gen_opts go;
	kva_err e;
	char *spec;
	int rc;

	if (hd->len < sizeof gr)
		return -1;
	memcpy(&gr, payload, sizeof gr);
	if (hd->len < sizeof gr + gr.speclen || !(spec = malloc((size_t)gr.speclen + 1)))
		return -1;
	memcpy(spec, payload + sizeof gr, gr.speclen);
	spec[gr.speclen] = '\0';
	memset(&g, 0, sizeof g);
	g.cc = cc;
	g.wfd = wfd;
	g.seq = hd->seq;
	g.skip = gr.skip;
	g.last_beat = kva_now();
	memset(&go, 0, sizeof go);   /* a route's cases: go.kernel 0 */
	go.num_heads = gr.num_heads;
	go.seed = gr.seed;
	rc = kva_gen_fixtures(cc->o, gemit, &g, &e);
	if (gr.gen != 0)
		g.index = 0, rc = 0; /* fixtures belong to --boundaries only */
	if (!rc && gr.gen == 0)
		rc = kva_gen_boundaries(cc->o, &go, gemit, &g, &e);
	else if (!rc && gr.gen == 1)
		rc = kva_gen_sweep(cc->o, spec, &go, gemit, &g, &e);
	else if (!rc)
		rc = kva_gen_random(cc->o, gr.n, &go, gemit, &g, &e);
	memset(&m, 0, sizeof m);
	m.type = GMSG_DONE;
	m.tag = g.seq;
	m.index = g.index;
	m.got.rc = rc;
	kva_buf_put(&g.out, &m, sizeof m);
	gflush(&g);
	kva_buf_free(&g.out);
	for (int k = 0; k < KVA_MAX_TAB; k++)
		free(g.tb[k].p);
	free(spec);
	return g.failed ? -1 : 0;
}

/* Serve MODE_CASES: answers flushed every RES_FLUSH cases and at least
 * every flush_s, so a slow candidate still shows progress. */
static int serve_cases(const struct child_ctx *cc, const struct req_hdr *hd,
		       const char *payload, int wfd)
{
	static struct tabbuf tb[KVA_MAX_TAB];
	const int32_t *q0 = NULL;        /* for sizeof */
	struct cres res[RES_FLUSH];
	const char *p = payload, *end = payload + hd->len;
	double last = kva_now();
	int nres = 0;

	for (uint32_t i = 0; i < hd->n; i++) {
		int64_t in[KVA_MAX_IN] = { 0 };
		int32_t *tab[KVA_MAX_TAB] = { 0 }, *give[KVA_MAX_TAB] = { 0 };
		uint32_t tlen[KVA_MAX_TAB] = { 0 };
		struct cres *r = &res[nres];

		if (take_case(cc->o, &p, end, in, tab, tlen))
			return -1;
		memset(r, 0, sizeof *r);
		/* each table where every case's goes (tab_room), the
		 * request's copy kept to compare after the call */
		for (int k = 0; k < cc->o->ntab; k++) {
			int32_t *q = tab_room(&tb[k], tlen[k]);

			if (tlen[k])
				memcpy(q, tab[k], tlen[k] * sizeof *q0);
			tab_seal(&tb[k], tlen[k]);
		}
		tab_ptrs(tb, cc->o->ntab, give);
		r->rc = call_route(cc, in, give, tlen, r->out);
		for (int k = 0; k < cc->o->ntab; k++)
			if ((tlen[k] && memcmp(tb[k].p, tab[k], tlen[k] * sizeof *q0)) ||
			    tab_tail_written(&tb[k], tlen[k]))
				r->mut = 1;
		r->done = 1;
		r->tag = hd->seq;
		if (++nres == RES_FLUSH || (hd->flags & FLAG_UNBUFFERED) ||
		    i + 1 == hd->n || kva_now() - last >= cc->flush_s) {
			if (kva_sbx_write_full(wfd, res, (size_t)nres * sizeof *res))
				return -1;
			nres = 0;
			last = kva_now();
		}
	}
	return 0;
}

/* Load the candidate: the symbol of this kind and oracle.  Returns 0, or
 * -1 with msg saying why (trouble, not a finding: the file is no
 * candidate for this ABI). */
static int load(struct child_ctx *cc, char *msg, size_t n)
{
	char sym[64];
	void *h = dlopen("/proc/self/fd/5", RTLD_NOW | RTLD_LOCAL), *p;

	if (!h) {
		snprintf(msg, n, "cannot load: %s", dlerror());
		return -1;
	}
	if (cc->kind == KVA_KIND_WRITE && dlsym(h, "kva_write_kv_pair")) {
		snprintf(sym, sizeof sym, "kva_write_kv_pair");
		cc->abi |= GREET_PAIR;
	} else if (cc->kind == KVA_KIND_WRITE && dlsym(h, "kva_write_kv_rows")) {
		snprintf(sym, sizeof sym, "kva_write_kv_rows");
		cc->abi |= GREET_ROWS;
	} else if (cc->kind == KVA_KIND_WRITE) {
		snprintf(sym, sizeof sym, "kva_write_kv");
	} else if (cc->kind == KVA_KIND_GATHER && dlsym(h, "kva_gather_paged")) {
		snprintf(sym, sizeof sym, "kva_gather_paged");
		cc->abi |= GREET_PAGED;
	} else if (cc->kind == KVA_KIND_GATHER) {
		snprintf(sym, sizeof sym, "kva_gather_kv");
	} else if (KVA_KIND_BLOCKS(cc->kind)) {
		snprintf(sym, sizeof sym, "%s", cc->kind == KVA_KIND_COPY_BLOCKS ?
			 "kva_copy_blocks" : "kva_swap_blocks");
	} else {
		snprintf(sym, sizeof sym, "route_%s", cc->o->name);
	}
	for (char *q = sym; *q; q++)
		if (*q == '-')
			*q = '_';
	p = dlsym(h, sym);
	/* POSIX: a dlsym result may be copied into a function pointer */
	memcpy(&cc->fn, &p, sizeof p);
	if (!p) {
		snprintf(msg, n, "does not define %s()", sym);
		return -1;
	}
	if (cc->cuda && kva_cudart_load(&cc->cu, msg, n))
		return -1;
	/* what a kernel claims to handle: copied as it is, the parent
	 * checks it */
	if (cc->kind != KVA_KIND_ROUTE && (p = dlsym(h, "kva_kernel_constraints"))) {
		memcpy(&cc->cons, p, sizeof cc->cons);
		cc->has_cons = 1;
	}
	return 0;
}

int kva_trap_child_main(int argc, char **argv)
{
	struct child_ctx cc;
	char msg[512] = "";
	uint32_t hello[2];
	char *payload = NULL;
	size_t cap = 0;
	unsigned long long as;
	unsigned layers;

	/* argv: PROG --sandbox-child[-strict|-noconfine] KIND ORACLE DEVICE
	 * AS_BYTES FLUSH_MS ARENA_BYTES */
	if (argc != 8)
		_exit(64);
	memset(&cc, 0, sizeof cc);
	cc.kind = KVA_KIND_ROUTE;
	for (int k = 1; k < 5; k++)
		if (!strcmp(argv[2], kva_kind_names[k]))
			cc.kind = k;
	if (!(cc.o = kva_oracle_find(argv[3])))
		_exit(64);
	cc.oid = kva_trap_oracle_id(cc.o);
	cc.cuda = !strcmp(argv[4], "cuda");
	as = strtoull(argv[5], NULL, 10);
	cc.flush_s = (double)strtoul(argv[6], NULL, 10) / 1000.0;
	/* before the limits: the arena is address space the candidate's own
	 * allocations do not get */
	if (arena_reserve((size_t)strtoull(argv[7], NULL, 10)))
		_exit(3);
	layers = kva_sbx_child_enter(!strcmp(argv[1], "--sandbox-child-noconfine") ? -1 :
				     cc.cuda ? KVA_SBX_CUDA : KVA_SBX_LOADER, (size_t)as);
	/* the layers first: they are known even if a constructor kills us */
	hello[0] = layers;
	if (kva_sbx_write_full(FD_REP, &hello[0], 4))
		_exit(0);
	/* strict: no candidate code runs, constructors included, unfiltered */
	if (!strcmp(argv[1], "--sandbox-child-strict") && !(layers & KVA_L_SECCOMP))
		snprintf(msg, sizeof msg, "confinement: seccomp unavailable "
			 "(--confine strict)");
	else
		load(&cc, msg, sizeof msg);
	hello[1] = (uint32_t)strlen(msg);
	if (kva_sbx_write_full(FD_REP, &hello[1], 4) ||
	    kva_sbx_write_full(FD_REP, msg, hello[1]) || hello[1] ||
	    kva_sbx_write_full(FD_REP, &cc.has_cons, 4) ||
	    kva_sbx_write_full(FD_REP, &cc.cons, sizeof cc.cons) ||
	    kva_sbx_write_full(FD_REP, &cc.abi, 4))
		_exit(0);
	for (;;) {
		struct req_hdr hd;
		int rc;

		if (kva_sbx_read_full(FD_REQ, &hd, sizeof hd) || hd.magic != REQ_MAGIC)
			break;
		if (hd.len > cap) {
			free(payload);
			cap = hd.len;
			if (!(payload = malloc(cap)))
				_exit(3);
		}
		if (kva_sbx_read_full(FD_REQ, payload, hd.len))
			break;
		if (hd.mode == MODE_KERNEL)
			rc = serve_kernel(&cc, &hd, payload, FD_REP);
		else if (hd.mode == MODE_SOAK && !KVA_KIND_BLOCKS(cc.kind))
			rc = serve_soak(&cc, &hd, payload, FD_REP);
		else if (hd.mode == MODE_BLOCKS && KVA_KIND_BLOCKS(cc.kind))
			rc = kva_trap_serve_blocks(cc.kind, cc.fn, &hd, payload, FD_REP);
		else if (KVA_KIND_BLOCKS(cc.kind))
			rc = -1;         /* no other request for a block kernel */
		else if (hd.mode == MODE_GENERATE)
			rc = serve_generate(&cc, &hd, payload, FD_REP);
		else
			rc = serve_cases(&cc, &hd, payload, FD_REP);
		if (rc)
			_exit(5);
	}
	free(payload);
	_exit(0);
}

/*
 * The unit-test child (grad-trap --mutate --unit-test): argv is PROG
 * --sandbox-unit[-strict|-noconfine] SYMBOL AS_BYTES, the shared object
 * is fd 5.  It writes its layers (4 bytes), then, having loaded the
 * object and called int SYMBOL(void): 1 and the value, or 0 and 0 when
 * there is no such function.  Confined as the trap's loader child.
 */
int kva_unit_child_main(int argc, char **argv)
{
	uint32_t out[2] = { 0, 0 }, layers;
	void *h, *p;
	int (*fn)(void);

	if (argc != 4)
		_exit(64);
	layers = kva_sbx_child_enter(!strcmp(argv[1], "--sandbox-unit-noconfine") ? -1 :
				     KVA_SBX_LOADER,
				     (size_t)strtoull(argv[3], NULL, 10));
	if (kva_sbx_write_full(FD_REP, &layers, 4))
		_exit(0);
	/* strict: no candidate code runs unfiltered (the parent stops us) */
	if (!strcmp(argv[1], "--sandbox-unit-strict") && !(layers & KVA_L_SECCOMP))
		_exit(0);
	if (!(h = dlopen("/proc/self/fd/5", RTLD_NOW | RTLD_LOCAL)))
		_exit(3);
	if ((p = dlsym(h, argv[2]))) {
		/* POSIX: a dlsym result may be copied into a function pointer */
		memcpy(&fn, &p, sizeof p);
		out[0] = 1;
		out[1] = (uint32_t)fn();
	}
	kva_sbx_write_full(FD_REP, out, sizeof out);
	_exit(0);
}
