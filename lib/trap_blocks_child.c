/*
 * trap_blocks_child.c - the loader child's side of the block-copy kinds:
 * one MODE_BLOCKS request is one call of kva_copy_blocks or
 * kva_swap_blocks (wire in trap_proto.h).  Nothing is judged here.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "sandbox.h"
#include "trap.h"
#include "trap_blocks.h"

typedef int (*fn_copy)(float *, const kva_cache_desc *, const int64_t *, int64_t);
typedef int (*fn_swap)(const float *, const kva_cache_desc *, float *,
		       const kva_cache_desc *, const int64_t *, int64_t);

/* The buffers of one run, each between guard pages. */
struct brun {
	int64_t *pairs;
	float *src, *region;
	kva_cache_desc *desc;    /* [0] the cache written, [1] the source */
	void *map[4];
	size_t len[4];
};

static int brun_new(struct brun *r, const struct breq *br)
{
	memset(r, 0, sizeof *r);
	r->pairs = kva_trap_guarded((size_t)br->npairs * 2 * sizeof *r->pairs,
				    &r->map[0], &r->len[0]);
	r->src = kva_trap_guarded((size_t)br->nsrc * sizeof *r->src, &r->map[1], &r->len[1]);
	r->region = kva_trap_guarded((size_t)br->nreg * sizeof *r->region, &r->map[2],
				     &r->len[2]);
	r->desc = kva_trap_guarded(2 * sizeof *r->desc, &r->map[3], &r->len[3]);
	return r->pairs && r->src && r->region && r->desc ? 0 : -1;
}

static void brun_free(struct brun *r)
{
	for (int i = 0; i < 4; i++)
		if (r->map[i])
			munmap(r->map[i], r->len[i]);
}

/* One run on fresh copies of the inputs (every value's bits xor mask). */
static int32_t brun_call(int kind, void (*fn)(void), const struct breq *br,
			 struct brun *r, const int64_t *pairs, const float *src,
			 const float *init, uint32_t mask)
{
	memcpy(r->pairs, pairs, (size_t)br->npairs * 2 * sizeof *pairs);
	kva_trap_copy_xor(r->src, src, (size_t)br->nsrc, mask);
	kva_trap_copy_xor(r->region, init, (size_t)br->nreg, mask);
	r->desc[0] = br->desc;
	r->desc[1] = br->sdesc;
	if (kind == KVA_KIND_COPY_BLOCKS)
		return ((fn_copy)fn)(r->region + br->glo, &r->desc[0], r->pairs, br->npairs);
	return ((fn_swap)fn)(r->src + br->sglo, &r->desc[1], r->region + br->glo,
			     &r->desc[0], r->pairs, br->npairs);
}

/* See trap_blocks.h and trap_proto.h (MODE_BLOCKS). */
int kva_trap_serve_blocks(int kind, void (*fn)(void), const struct req_hdr *hd,
			  const char *payload, int wfd)
{
	struct breq br;
	struct krep rep;
	struct brun first, again;
	const int64_t *pairs;
	const float *src, *init;
	float *out = NULL;
	uint64_t left = hd->len, need;
	int bad = -1;

	if (hd->n != 1 || left < sizeof br)
		return -1;
	memcpy(&br, payload, sizeof br);
	left -= sizeof br;
	if (br.npairs < 0 || br.glo < 0 || br.ghi < 0 || br.nreg < 0 || br.sglo < 0 ||
	    br.nsrc < 0 || br.repeat < 1 || (uint64_t)br.npairs > left / 16 ||
	    (uint64_t)br.nsrc > left / 4 || (uint64_t)br.nreg > left / 4)
		return -1;
	need = (uint64_t)br.npairs * 16 + ((uint64_t)br.nsrc + (uint64_t)br.nreg) * 4;
	if (need > left)
		return -1;
	pairs = (const int64_t *)(const void *)(payload + sizeof br);
	src = (const float *)(const void *)(pairs + 2 * br.npairs);
	init = src + br.nsrc;
	memset(&rep, 0, sizeof rep);
	rep.tag = hd->seq;
	rep.mut_at = rep.nondet_at = -1;
	memset(&first, 0, sizeof first);
	memset(&again, 0, sizeof again);
	if (brun_new(&first, &br) || brun_new(&again, &br) ||
	    !(out = malloc((size_t)br.nreg * sizeof *out + 1)))
		goto done;
	rep.rc = brun_call(kind, fn, &br, &first, pairs, src, init, 0);
	memcpy(out, first.region, (size_t)br.nreg * sizeof *out);
	if ((rep.mut_at = kva_trap_first_diff(first.pairs, pairs, (size_t)br.npairs * 2,
					      sizeof *pairs)) >= 0)
		rep.mut |= KREP_MUT_SLOTS;
	else if ((rep.mut_at = kva_trap_first_diff(first.src, src, (size_t)br.nsrc,
						   sizeof *src)) >= 0)
		rep.mut |= KREP_MUT_DATA;
	else if (memcmp(&first.desc[0], &br.desc, sizeof br.desc) ||
		 memcmp(&first.desc[1], &br.sdesc, sizeof br.sdesc))
		rep.mut |= KREP_MUT_DESC;
	if (br.repeat > 1) {
		/* a moment for a thread the call left behind; then the later
		 * runs, on one CPU, the second at the first's addresses */
		struct timespec pause = { 0, 100000 };

		nanosleep(&pause, NULL);
		if ((rep.nondet_at = kva_trap_first_diff(first.region, out, (size_t)br.nreg,
							 sizeof *out)) >= 0)
			rep.nondet_late = 1;
		kva_trap_one_cpu(1);
		for (int r = 1; r < br.repeat && rep.rc == 0 && rep.nondet_at < 0; r++) {
			uint32_t mask = (uint32_t)(0x002a5a5aU * (uint32_t)r) & 0x007fffffU;
			struct brun *at = r == 1 ? &first : &again;

			brun_call(kind, fn, &br, at, pairs, src, init, mask ? mask : 1);
			rep.nondet_at = kva_trap_diff_xor(at->region, out, (size_t)br.nreg,
							  mask ? mask : 1);
		}
		kva_trap_one_cpu(0);
	}
	bad = kva_sbx_write_full(wfd, &rep, sizeof rep) ||
	      kva_sbx_write_full(wfd, out, (size_t)br.nreg * sizeof *out) ? -1 : 0;
done:
	brun_free(&first);
	brun_free(&again);
	free(out);
	return bad;
}
