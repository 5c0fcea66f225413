/*
 * kvcache_cpu.c - the CPU twins of the KV-cache write and gather
 * kernels, the descriptor checks, and the kva_cuda_* fallbacks of a
 * build without CUDA support.  Self-contained (kvcache.h and libc) so
 * tests/gpu/run.sh can compile it on its own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache.h"

/*
 * Multiply *acc by f (f >= 1) in place; returns -1, leaving *acc alone,
 * if the product would pass INT64_MAX.
 */
static int mul_checked(int64_t *acc, int64_t f)
{
	if (*acc > INT64_MAX / f)
		return -1;
	*acc *= f;
	return 0;
}

/* See kvcache.h. */
int kva_cache_dims(const kva_cache_desc *d, int64_t n[5])
{
	int64_t x = d->x >= 1 ? d->x : 1;

	n[0] = d->num_blocks;
	switch (d->layout) {
	case KVA_LAYOUT_NHD:
		n[1] = d->block_size, n[2] = d->num_heads, n[3] = d->head_dim;
		return 4;
	case KVA_LAYOUT_HND:
		n[1] = d->num_heads, n[2] = d->block_size, n[3] = d->head_dim;
		return 4;
	default:
		n[1] = d->num_heads, n[2] = d->head_dim / x, n[3] = d->block_size;
		n[4] = x;
		return 5;
	}
}

/* B*S*H*D (contiguous) or the strided span, or -1 for a NULL desc, a
 * size below 1, or int64 overflow. */
int64_t kva_cache_elems(const kva_cache_desc *d)
{
	int64_t n = 1, dims[5], end;
	int nd;

	if (!d || d->num_blocks < 1 || d->block_size < 1 || d->num_heads < 1
	    || d->head_dim < 1)
		return -1;
	if (mul_checked(&n, d->num_blocks) || mul_checked(&n, d->block_size)
	    || mul_checked(&n, d->num_heads) || mul_checked(&n, d->head_dim))
		return -1;
	if (!d->stride[0])
		return n;
	if (d->offset < 0)
		return -1;
	nd = kva_cache_dims(d, dims);
	end = d->offset;
	for (int k = 0; k < nd; k++) {
		int64_t step = dims[k] - 1;

		if (d->stride[k] < 1 || (step && mul_checked(&step, d->stride[k])) ||
		    end > INT64_MAX - 1 - step)
			return -1;
		end += step;
	}
	return end + 1;
}

/* See kvcache.h (insertion sort: at most five dimensions). */
int kva_cache_stride_order(const kva_cache_desc *d, int order[5])
{
	int64_t dims[5];
	int nd = kva_cache_dims(d, dims);

	for (int i = 0; i < nd; i++) {
		int j = i;

		for (; j > 0 && d->stride[order[j - 1]] > d->stride[i]; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	return nd;
}

/* A strided view's cells apart: ordered by stride, each dimension's
 * stride at least the span of those inside it.  0 or -1. */
static int strides_apart(const kva_cache_desc *d)
{
	int64_t dims[5], span = 0;
	int order[5], nd = kva_cache_stride_order(d, order);

	kva_cache_dims(d, dims);
	for (int i = 0; i < nd; i++) {
		int k = order[i];

		if (dims[k] > 1) {
			if (d->stride[k] <= span)
				return -1;
			span += (dims[k] - 1) * d->stride[k];
		}
	}
	return 0;
}

/* 0 if d is usable, else -1 with *why (if why) naming the first fault. */
int kva_cache_desc_check(const kva_cache_desc *d, const char **why)
{
	const char *msg = NULL;

	if (!d)
		msg = "no cache descriptor";
	else if (d->layout != KVA_LAYOUT_NHD && d->layout != KVA_LAYOUT_HND
		 && d->layout != KVA_LAYOUT_VLLM_X)
		msg = "unknown layout";
	else if (d->num_blocks < 1)
		msg = "num_blocks must be >= 1";
	else if (d->block_size < 1)
		msg = "block_size must be >= 1";
	else if (d->num_heads < 1)
		msg = "num_heads must be >= 1";
	else if (d->head_dim < 1)
		msg = "head_dim must be >= 1";
	else if (d->x < 1)
		msg = "x must be >= 1";
	else if (d->layout != KVA_LAYOUT_VLLM_X && d->x != 1)
		msg = "x must be 1 for the nhd and hnd layouts";
	else if (d->head_dim % d->x != 0)
		msg = "head_dim must be a multiple of x";
	else if (kva_dtype_size(d) < 0)
		msg = "unknown dtype";
	else if (d->stride[0] && d->offset < 0)
		msg = "offset must be >= 0";
	else if (kva_cache_elems(d) < 0)
		msg = d->stride[0] ? "strides must be >= 1 and the span fit in int64" :
		      "cache size overflows int64";
	else if (d->stride[0] && strides_apart(d))
		msg = "strides overlap: two cells share an element";
	if (why)
		*why = msg;
	return msg ? -1 : 0;
}

/*
 * The argument checks shared by both twins: returns 0 if the call may
 * go ahead (desc valid, num_tokens >= 0, stride >= H*D, buffers non-NULL
 * unless there are no tokens, every slot in [-1, B*S)), else -1.
 */
static int check_call(const kva_cache_desc *desc, const int64_t *slots,
		      int64_t num_tokens, const float *rows, int64_t stride,
		      const float *cache)
{
	int64_t nslots;

	if (kva_cache_desc_check(desc, NULL) || desc->dtype != KVA_DTYPE_F32 || num_tokens < 0)
		return -1;
	if (stride < (int64_t)desc->num_heads * desc->head_dim)
		return -1;
	if (num_tokens == 0)
		return 0;
	if (!slots || !rows || !cache)
		return -1;
	nslots = (int64_t)desc->num_blocks * desc->block_size;
	for (int64_t t = 0; t < num_tokens; t++)
		if (slots[t] < -1 || slots[t] >= nslots)
			return -1;
	return 0;
}

/*
 * The length of a contiguous run of one head's floats in the cache: all
 * D of them in NHD and HND, x of them in VLLM_X.
 */
static int64_t run_length(const kva_cache_desc *d)
{
	return d->layout == KVA_LAYOUT_VLLM_X ? d->x : d->head_dim;
}

/* The pairs of a block copy: every id in [0, nsrc) or [0, ndst), no
 * destination twice.  0 or -1. */
static int check_pairs(const int64_t *pairs, int64_t npairs, int64_t nsrc, int64_t ndst)
{
	if (npairs < 0 || (npairs && !pairs))
		return -1;
	for (int64_t i = 0; i < npairs; i++) {
		if (pairs[2 * i] < 0 || pairs[2 * i] >= nsrc ||
		    pairs[2 * i + 1] < 0 || pairs[2 * i + 1] >= ndst)
			return -1;
		for (int64_t j = 0; j < i; j++)
			if (pairs[2 * j + 1] == pairs[2 * i + 1])
				return -1;
	}
	return 0;
}

int kva_dtype_size(const kva_cache_desc *d)
{
	return d->dtype == KVA_DTYPE_F32 ? 4 : d->dtype == KVA_DTYPE_F16 ||
	       d->dtype == KVA_DTYPE_BF16 ? 2 : -1;
}

/* The H*D elements of the cell at slot into row, or of row into the
 * cell (to_cache), a contiguous run of a head at a time. */
static void move_cell(void *cache, const kva_cache_desc *d, int64_t slot, void *row,
		      int to_cache)
{
	int64_t H = d->num_heads, D = d->head_dim, run = run_length(d);
	size_t es = (size_t)kva_dtype_size(d);

	for (int64_t h = 0; h < H; h++)
		for (int64_t dim = 0; dim < D; dim += run) {
			char *c = (char *)cache + (size_t)kva_cache_index(d, slot, h, dim) * es;
			char *r = (char *)row + (size_t)(h * D + dim) * es;

			memcpy(to_cache ? c : r, to_cache ? r : c, (size_t)run * es);
		}
}

static void read_cell(const float *cache, const kva_cache_desc *d, int64_t slot, float *row)
{
	move_cell((void *)(uintptr_t)cache, d, slot, row, 0);
}

static void write_cell(void *cache, const kva_cache_desc *d, int64_t slot, const void *row)
{
	move_cell(cache, d, slot, (void *)(uintptr_t)row, 1);
}

/* Block b's cells as rows (slot, head, dimension order), and back, a
 * contiguous run of a head at a time. */
static void get_block(const float *cache, const kva_cache_desc *d, int64_t b, float *rows)
{
	int64_t S = d->block_size, HD = (int64_t)d->num_heads * d->head_dim;

	for (int64_t o = 0; o < S; o++)
		read_cell(cache, d, b * S + o, rows + o * HD);
}

static void put_block(float *cache, const kva_cache_desc *d, int64_t b, const float *rows)
{
	int64_t S = d->block_size, HD = (int64_t)d->num_heads * d->head_dim;

	for (int64_t o = 0; o < S; o++)
		write_cell(cache, d, b * S + o, rows + o * HD);
}

/* Floats of a block's cells. */
static int64_t block_floats(const kva_cache_desc *d)
{
	return (int64_t)d->block_size * d->num_heads * d->head_dim;
}

/* See kvcache.h: the sources first, into scratch, then the writes. */
int kva_ref_copy_blocks(float *cache, const kva_cache_desc *desc,
			const int64_t *pairs, int64_t npairs)
{
	int64_t per;
	float *held;

	if (kva_cache_desc_check(desc, NULL) ||
	    check_pairs(pairs, npairs, desc->num_blocks, desc->num_blocks))
		return -1;
	if (!npairs)
		return 0;
	if (!cache)
		return -1;
	per = block_floats(desc);
	if ((uint64_t)npairs > SIZE_MAX / sizeof *held / (uint64_t)per ||
	    !(held = malloc((size_t)(npairs * per) * sizeof *held)))
		return -2;
	for (int64_t i = 0; i < npairs; i++)
		get_block(cache, desc, pairs[2 * i], held + i * per);
	for (int64_t i = 0; i < npairs; i++)
		put_block(cache, desc, pairs[2 * i + 1], held + i * per);
	free(held);
	return 0;
}

/* See kvcache.h. */
int kva_ref_swap_blocks(const float *src, const kva_cache_desc *src_desc,
			float *dst, const kva_cache_desc *dst_desc,
			const int64_t *pairs, int64_t npairs)
{
	float *rows;

	if (kva_cache_desc_check(src_desc, NULL) || kva_cache_desc_check(dst_desc, NULL) ||
	    src_desc->block_size != dst_desc->block_size ||
	    src_desc->num_heads != dst_desc->num_heads ||
	    src_desc->head_dim != dst_desc->head_dim ||
	    check_pairs(pairs, npairs, src_desc->num_blocks, dst_desc->num_blocks))
		return -1;
	if (!npairs)
		return 0;
	if (!src || !dst)
		return -1;
	if (!(rows = malloc((size_t)block_floats(src_desc) * sizeof *rows)))
		return -2;
	for (int64_t i = 0; i < npairs; i++) {
		get_block(src, src_desc, pairs[2 * i], rows);
		put_block(dst, dst_desc, pairs[2 * i + 1], rows);
	}
	free(rows);
	return 0;
}

/* Scatter rows into cache by slot; -1, cache untouched, on any bad
 * argument or slot (the whole contract is in kvcache.h). */
int kva_ref_write_kv(const float *src, int64_t src_stride,
		     const int64_t *slot_mapping, int64_t num_tokens,
		     float *cache, const kva_cache_desc *desc)
{
	if (check_call(desc, slot_mapping, num_tokens, src, src_stride, cache))
		return -1;
	for (int64_t t = 0; t < num_tokens; t++)
		if (slot_mapping[t] != -1)
			write_cell(cache, desc, slot_mapping[t], src + t * src_stride);
	return 0;
}

/* See kvcache.h: both caches and every slot checked, then the writes. */
int kva_ref_write_kv_pair(const void *key, int64_t key_stride,
			  const void *value, int64_t value_stride, int64_t num_rows,
			  const int64_t *slot_mapping, int64_t num_slots,
			  void *key_cache, const kva_cache_desc *key_desc,
			  void *value_cache, const kva_cache_desc *value_desc)
{
	kva_cache_desc k, v;
	size_t ek, ev;

	if (!key_desc || !value_desc || num_slots < 0 || num_slots > num_rows)
		return -1;
	/* the checks of a float call, on the shapes as float caches */
	k = *key_desc;
	v = *value_desc;
	k.dtype = v.dtype = KVA_DTYPE_F32;
	if (kva_cache_desc_check(key_desc, NULL) || kva_cache_desc_check(value_desc, NULL) ||
	    check_call(&k, slot_mapping, num_slots, key, key_stride, key_cache) ||
	    check_call(&v, slot_mapping, num_slots, value, value_stride, value_cache) ||
	    k.num_blocks != v.num_blocks || k.block_size != v.block_size ||
	    k.num_heads != v.num_heads || k.head_dim != v.head_dim)
		return -1;
	ek = (size_t)kva_dtype_size(key_desc);
	ev = (size_t)kva_dtype_size(value_desc);
	for (int64_t t = 0; t < num_slots; t++)
		if (slot_mapping[t] != -1) {
			write_cell(key_cache, key_desc, slot_mapping[t],
				   (const char *)key + (size_t)(t * key_stride) * ek);
			write_cell(value_cache, value_desc, slot_mapping[t],
				   (const char *)value + (size_t)(t * value_stride) * ev);
		}
	return 0;
}

/* Gather rows out of cache by slot; -1, dst untouched, on any bad
 * argument or slot (the whole contract is in kvcache.h). */
int kva_ref_gather_kv(const float *cache, const kva_cache_desc *desc,
		      const int64_t *slot_mapping, int64_t num_tokens,
		      float *dst, int64_t dst_stride)
{
	if (check_call(desc, slot_mapping, num_tokens, dst, dst_stride, cache))
		return -1;
	for (int64_t t = 0; t < num_tokens; t++)
		if (slot_mapping[t] != -1)
			read_cell(cache, desc, slot_mapping[t], dst + t * dst_stride);
	return 0;
}

/* See kvcache.h: every sequence and named table entry checked, then the
 * rows read in order. */
int kva_ref_gather_paged(const float *cache, const kva_cache_desc *desc,
			 const int32_t *block_tables, int64_t max_blocks,
			 const int64_t *seq_starts, const int64_t *seq_lens,
			 int64_t num_seqs, float *dst, int64_t dst_stride)
{
	int64_t S, row = 0;

	if (kva_cache_desc_check(desc, NULL) || num_seqs < 0 || max_blocks < 0 ||
	    dst_stride < (int64_t)desc->num_heads * desc->head_dim ||
	    (num_seqs && (!seq_starts || !seq_lens)))
		return -1;
	S = desc->block_size;
	for (int64_t i = 0; i < num_seqs; i++) {
		int64_t p0 = seq_starts[i], n = seq_lens[i];

		if (p0 < 0 || n < 0 || n > max_blocks * S || p0 > max_blocks * S - n)
			return -1;
		for (int64_t b = n ? p0 / S : 0; n && b <= (p0 + n - 1) / S; b++)
			if (block_tables[i * max_blocks + b] < 0 ||
			    block_tables[i * max_blocks + b] >= desc->num_blocks)
				return -1;
		if (n && (!cache || !dst || !block_tables))
			return -1;
	}
	for (int64_t i = 0; i < num_seqs; i++)
		for (int64_t p = seq_starts[i]; p < seq_starts[i] + seq_lens[i]; p++, row++)
			read_cell(cache, desc, block_tables[i * max_blocks + p / S] * S + p % S,
				  dst + row * dst_stride);
	return 0;
}

/* ---- fallbacks until the CUDA object is linked (see kvcache.h) ------- */

/* Fallback: no CUDA support in this build; always -2, touches nothing. */
int kva_cuda_write_kv(const float *src, int64_t src_stride,
		      const int64_t *slot_mapping, int64_t num_tokens,
		      float *cache, const kva_cache_desc *desc)
{
	(void)src, (void)src_stride, (void)slot_mapping, (void)num_tokens;
	(void)cache, (void)desc;
	return -2;
}

/* Fallback: no CUDA support in this build; always -2, touches nothing. */
int kva_cuda_gather_kv(const float *cache, const kva_cache_desc *desc,
		       const int64_t *slot_mapping, int64_t num_tokens,
		       float *dst, int64_t dst_stride)
{
	(void)cache, (void)desc, (void)slot_mapping, (void)num_tokens;
	(void)dst, (void)dst_stride;
	return -2;
}

/* Fallback: returns 0 with "built without CUDA support" in why. */
int kva_cuda_available(char *why, size_t n)
{
	if (why && n)
		snprintf(why, n, "%s", "built without CUDA support");
	return 0;
}
