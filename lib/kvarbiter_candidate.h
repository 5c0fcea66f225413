/*
 * kvarbiter_candidate.h - the ABI a candidate implements for grad-trap(1).
 *
 * A candidate is a C (or CUDA, or any language through --candidate-cmd)
 * implementation of one of three things:
 *
 *   route   a function returning a token's coordinates (one per oracle);
 *   write   a kernel that scatters token rows into a paged KV cache by
 *           slot, as vLLM's reshape_and_cache(_flash) does (keys and
 *           values together, or one cache at a time);
 *   gather  a kernel that reads token rows back out of the cache by slot,
 *           or by block table and sequence, the read path of paged
 *           attention;
 *   copy-blocks, swap-blocks
 *           kernels that copy whole blocks within one cache or between
 *           two, as vLLM's copy_blocks (prefix-cache copy-on-write) and
 *           swap_blocks (offloading) do.
 *
 * grad-trap calls candidates in a sandboxed child process; a crash, hang
 * or abort is a finding, never a crash of grad-trap.  This header is
 * self-contained (C99 or later, or C++) so a candidate needs nothing else.
 */
#ifndef KVARBITER_CANDIDATE_H
#define KVARBITER_CANDIDATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- route: return 0 with out[] filled, non-zero for "no route" --------
 * "No route" is correct only where the oracle says unmapped (or padding,
 * for the paged oracles).  Exactly the signatures of SPEC section 4. */

int route_radix_1d(int64_t b_local_idx, int64_t prefix_length,
		   int64_t block_size, int64_t out[2]);      /* block, offset */
int route_radix_2d(int64_t b_local_idx, int64_t head_idx,
		   int64_t prefix_length_h, int64_t total_blocks_h,
		   int64_t block_size, int64_t out[3]); /* head, block, offset */
int route_paged(int64_t pos, const int32_t *block_table, int64_t table_len,
		int64_t block_size, int64_t out[3]);  /* block, offset, slot */
int route_paged_ring(int64_t pos, const int32_t *block_table,
		     int64_t table_len, int64_t block_size,
		     int64_t window_blocks, int64_t out[3]);
int route_flashinfer(int64_t batch, int64_t pos, const int32_t *kv_indptr,
		     const int32_t *kv_indices, const int32_t *kv_last_page_len,
		     int64_t batch_size, int64_t page_size,
		     int64_t out[2]);                          /* page, entry */
/* seq_len: tokens written so far, this write included; window: slots */
int route_rolling(int64_t pos, int64_t seq_len, int64_t window,
		  int64_t out[1]);                             /* slot */

/* ---- write and gather kernels ------------------------------------------ */

/* Cache layouts.  B = num_blocks, S = block_size, H = num_heads,
 * D = head_dim; element (slot, head, dim) with block = slot / S and
 * offset = slot % S lives at:
 *   NHD     [B][S][H][D]        ((block*S + offset)*H + head)*D + dim
 *   HND     [B][H][S][D]        ((block*H + head)*S + offset)*D + dim
 *   VLLM_X  [B][H][D/x][S][x]   (((block*H + head)*(D/x) + dim/x)*S
 *                                + offset)*x + dim%x
 * VLLM_X is vLLM's key-cache layout (x = 16 bytes / element size; here
 * elements are float, so x is 4, but any x dividing D is allowed). */
enum kva_layout {
	KVA_LAYOUT_NHD = 0,
	KVA_LAYOUT_HND = 1,
	KVA_LAYOUT_VLLM_X = 2
};

/* Element types.  Every cache is F32 (float) except a K/V pair's
 * (kva_write_kv_pair), whose key and value caches may each be 16-bit:
 * IEEE half or bfloat16, two bytes an element; strides, offsets and x
 * count elements.  Values are moved bit for bit, never converted. */
enum kva_dtype {
	KVA_DTYPE_F32 = 0,
	KVA_DTYPE_F16 = 1,
	KVA_DTYPE_BF16 = 2
};

/*
 * A strided cache (stride[0] != 0; given only to a kernel that declares
 * KVA_CAN_STRIDED, below) is a view, as a torch tensor's: the element at
 * index (i0, i1, ...) of the layout's dimensions, in the order written
 * above ([B][S][H][D] for NHD, [B][H][S][D] for HND, [B][H][D/x][S][x]
 * for VLLM_X), lives at
 *   offset + i0*stride[0] + i1*stride[1] + ...
 * so kv[:, 0] of a [B][2][S][H][D] buffer (K and V interleaved by block)
 * has stride[0] = 2*S*H*D, and padding between dimensions makes a stride
 * larger than the dimensions inside it.  The elements between cells
 * belong to no cell: a kernel must leave them as they are.  With
 * stride[0] == 0 the cache is contiguous, offset and stride unused.
 */
typedef struct kva_cache_desc {
	int32_t layout;     /* enum kva_layout */
	int32_t num_blocks; /* B */
	int32_t block_size; /* S */
	int32_t num_heads;  /* H */
	int32_t head_dim;   /* D */
	int32_t x;          /* VLLM_X chunk; 1 for the other layouts */
	int64_t offset;     /* strided: element (0, 0, ...) is cache[offset] */
	int64_t stride[5];  /* strided: per dimension, in elements; [0] == 0:
	                       contiguous */
	int32_t dtype;      /* enum kva_dtype of the elements */
	int32_t reserved;   /* 0 */
} kva_cache_desc;

/*
 * What a kernel claims to handle, declared by defining
 *   const kva_constraints kva_kernel_constraints = { KVA_CONSTRAINTS_V1, ... };
 * grad-trap(1) gives it only calls within them, and counts the cases it
 * skips (unclaimed, never held against the kernel).  Without the symbol,
 * any block size, head size, layout and call length, contiguous caches.
 */
#define KVA_CONSTRAINTS_V1 0x6b760001u
#define KVA_CAN_STRIDED 1u  /* honours desc->offset and desc->stride */
typedef struct kva_constraints {
	uint32_t version;          /* KVA_CONSTRAINTS_V1 */
	uint32_t flags;            /* KVA_CAN_STRIDED */
	int32_t block_sizes[8];    /* the block sizes handled, 0 after the
	                              last; all 0: any */
	int32_t head_dim_multiple; /* head_dim a multiple of this (0: any) */
	int32_t max_tokens;        /* tokens per call at most (0: any); for
	                              the block-copy kinds, pairs per call */
	uint32_t layouts;          /* 1 << KVA_LAYOUT_* handled (0: all) */
} kva_constraints;

/*
 * Scatter num_tokens rows into cache.  Row t starts at src + t*src_stride
 * (src_stride >= H*D elements; the row holds H*D floats, head-major) and
 * goes to slot slot_mapping[t]; slot -1 means padding: write nothing.
 * The kernel must write exactly the H*D elements of each row's cell and
 * nothing else.  Returns 0, or non-zero to report failure.
 */
int kva_write_kv(const float *src, int64_t src_stride,
		 const int64_t *slot_mapping, int64_t num_tokens,
		 float *cache, const kva_cache_desc *desc);

/*
 * The same write with the slot list's length apart from the rows', as
 * vLLM's reshape_and_cache takes them since vllm-project/vllm#13922: rows
 * [0, num_slots) go to slot_mapping[t] (-1: padding, as above); rows
 * [num_slots, num_rows) are padding past the slot list (a batch padded to
 * a captured CUDA-graph size) and are written nowhere; slot_mapping holds
 * num_slots entries, no more.  A write kernel that defines it is called
 * through it instead of kva_write_kv.
 */
int kva_write_kv_rows(const float *src, int64_t src_stride, int64_t num_rows,
		      const int64_t *slot_mapping, int64_t num_slots,
		      float *cache, const kva_cache_desc *desc);

/*
 * The key and the value of each token in one call, each into its own
 * cache, as vLLM's reshape_and_cache writes key_cache and value_cache:
 * row t of the keys (at key + t*key_stride) goes to the key cache's cell
 * of slot slot_mapping[t], row t of the values (at value +
 * t*value_stride) to the value cache's cell of the same slot.  The two
 * caches have the same num_blocks, block_size, num_heads and head_dim,
 * each its own layout, x and strides (vLLM's key cache is VLLM_X, its
 * value cache VLLM_X with x 1; two strided views may interleave in one
 * buffer, as kv[:, 0] and kv[:, 1]).  The rows past num_slots are
 * padding past the slot list, as for kva_write_kv_rows.  Each cache has
 * its own dtype (key_desc->dtype, value_desc->dtype), and the key rows
 * are of the key cache's, the value rows of the value cache's: the
 * strides count those elements, and a row is copied bit for bit.  A
 * write kernel that defines it is called through it instead of
 * kva_write_kv or kva_write_kv_rows.
 */
int kva_write_kv_pair(const void *key, int64_t key_stride,
		      const void *value, int64_t value_stride, int64_t num_rows,
		      const int64_t *slot_mapping, int64_t num_slots,
		      void *key_cache, const kva_cache_desc *key_desc,
		      void *value_cache, const kva_cache_desc *value_desc);

/*
 * Gather num_tokens rows out of cache: row t of dst (at dst +
 * t*dst_stride, dst_stride >= H*D) receives the H*D elements of slot
 * slot_mapping[t]; slot -1 means padding: leave that dst row untouched.
 * Returns 0, or non-zero to report failure.
 */
int kva_gather_kv(const float *cache, const kva_cache_desc *desc,
		  const int64_t *slot_mapping, int64_t num_tokens,
		  float *dst, int64_t dst_stride);

/* ---- block-copy kernels ------------------------------------------------ */

/*
 * Copy blocks within one cache.  pairs holds num_pairs [src, dst] block
 * ids, flattened (pairs[2*i] is pair i's source, pairs[2*i + 1] its
 * destination), each in [0, desc->num_blocks); no destination is named
 * twice, but a source may be any pair's destination and src == dst is
 * allowed.  Every cell of block src (all block_size slots, every head
 * and dim, bit for bit) is copied to the same place of block dst, with
 * simultaneous semantics: every source is read as it was before the
 * call, so a chain (a->b, b->c) gives c the old b and a cycle (a->b,
 * b->a) swaps the two.  A strided view's elements between cells, and
 * every block that is no destination, are left as they are; pairs and
 * desc are not written.  Returns 0, or non-zero to report failure.
 */
int kva_copy_blocks(float *cache, const kva_cache_desc *desc,
		    const int64_t *pairs, int64_t num_pairs);

/*
 * Copy blocks from one cache to another: for each of the num_pairs
 * [src, dst] pairs (flattened as above; src in [0, src_desc->num_blocks),
 * dst in [0, dst_desc->num_blocks), no dst named twice) every cell of
 * block src of the first cache goes to the same (offset, head, dim) of
 * block dst of the second.  The two caches have the same block_size,
 * num_heads and head_dim; their layouts, strides, offsets and block
 * counts may differ.  src, pairs and both descriptors are not written;
 * in dst only the destination blocks' cells are.  Returns 0, or non-zero
 * to report failure.
 */
int kva_swap_blocks(const float *src, const kva_cache_desc *src_desc,
		    float *dst, const kva_cache_desc *dst_desc,
		    const int64_t *pairs, int64_t num_pairs);

/*
 * The gather as a paged-attention read path walks the cache: by block
 * table and sequence, not by slot (as vLLM's gather_cache takes them, a
 * chunk's start included).  Sequence i holds positions seq_starts[i] ..
 * seq_starts[i] + seq_lens[i] - 1; position p of it lives at slot
 *   block_tables[i*max_blocks + p/S] * S + p % S
 * and goes to dst row cu_i + (p - seq_starts[i]), where cu_i is the sum of
 * seq_lens[0..i): the sequences' rows follow each other, in order.  A
 * sequence of length 0 (a batch padded to a captured size) has no rows;
 * the rows of dst past the last sequence's are padding and must not be
 * written.  Only the entries of block_tables that the positions name are
 * blocks of the cache; the others may hold anything.  A gather kernel
 * that defines it is called through it instead of kva_gather_kv.
 */
int kva_gather_paged(const float *cache, const kva_cache_desc *desc,
		     const int32_t *block_tables, int64_t max_blocks,
		     const int64_t *seq_starts, const int64_t *seq_lens,
		     int64_t num_seqs, float *dst, int64_t dst_stride);

/*
 * CUDA candidates (a .cu file, run with grad-trap --device cuda) export
 * the write and gather functions (the block-copy kinds run on the CPU
 * only) as extern "C" host functions; src, cache, dst, slot_mapping,
 * block_tables, seq_starts and seq_lens are then DEVICE pointers (desc
 * stays in host memory),
 * and the function launches its kernels and synchronises before it
 * returns.
 */

#ifdef __cplusplus
}
#endif

#endif
