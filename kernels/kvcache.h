/*
 * kvcache.h - the reference KV-cache write and gather kernels.
 *
 * The oracles grad-trap(1) holds write and gather candidates against:
 * a CPU twin of each (kernels/kvcache_cpu.c, always built into
 * libkvarbiter.a) and a CUDA version (kernels/kvcache.cu).  Both have
 * exactly the ABI of kva_write_kv / kva_gather_kv in
 * kvarbiter_candidate.h, so a candidate and a reference are called the
 * same way.  Usable from C11 and from CUDA C++.
 *
 * Return codes, everywhere below:
 *    0  done;
 *   -1  invalid argument (bad descriptor, negative token count, stride
 *       shorter than a row, NULL buffer, or a slot outside [-1, B*S));
 *       nothing was written;
 *   -2  device failure (a CUDA error, or no CUDA support in this build).
 *
 * Linking.  kvcache_cpu.c defines kva_ref_* and fallbacks kva_cuda_*
 * that report "built without CUDA support".  The real CUDA host
 * wrappers are named kva_cudak_* and live only in build/cuda/kvcache.o
 * (`make cuda`, when nvcc exists); they are not in libkvarbiter.a yet.
 * A later change will link them and route kva_cuda_* to them; until
 * then a program that wants the GPU links build/cuda/kvcache.o itself
 * and calls kva_cudak_* (tests/gpu/run.sh does).
 */
#ifndef KVCACHE_H
#define KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "kvarbiter_candidate.h"

#ifdef __CUDACC__
#define KVA_HOST_DEVICE __host__ __device__
#else
#define KVA_HOST_DEVICE
#endif

/*
 * The element offset of (slot, head, dim) in a cache described by d,
 * per the layout formulas of kvarbiter_candidate.h.  d must have passed
 * kva_cache_desc_check and the coordinates must be in range (slot in
 * [0, B*S), head in [0, H), dim in [0, D)); nothing is checked here.
 * An unknown layout gives -1.  Callable from host and device code.
 */
static inline KVA_HOST_DEVICE int64_t
kva_cache_index(const kva_cache_desc *d, int64_t slot, int64_t head,
		int64_t dim)
{
	int64_t S = d->block_size, H = d->num_heads, D = d->head_dim;
	int64_t x = d->x;
	int64_t block = slot / S, offset = slot % S;
	const int64_t *st = d->stride;

	if (st[0]) {             /* a strided view: dimensions in layout order */
		switch (d->layout) {
		case KVA_LAYOUT_NHD:
			return d->offset + block * st[0] + offset * st[1] +
			       head * st[2] + dim * st[3];
		case KVA_LAYOUT_HND:
			return d->offset + block * st[0] + head * st[1] +
			       offset * st[2] + dim * st[3];
		case KVA_LAYOUT_VLLM_X:
			return d->offset + block * st[0] + head * st[1] +
			       (dim / x) * st[2] + offset * st[3] + (dim % x) * st[4];
		default:
			return -1;
		}
	}
	switch (d->layout) {
	case KVA_LAYOUT_NHD:
		return ((block * S + offset) * H + head) * D + dim;
	case KVA_LAYOUT_HND:
		return ((block * H + head) * S + offset) * D + dim;
	case KVA_LAYOUT_VLLM_X:
		return (((block * H + head) * (D / x) + dim / x) * S + offset)
			* x + dim % x;
	default:
		return -1;
	}
}

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The number of floats the cache spans from its pointer: B*S*H*D for a
 * contiguous one, offset + the largest element index + 1 for a strided
 * view; -1 if d is NULL, a size is below 1, or it does not fit in int64.
 */
int64_t kva_cache_elems(const kva_cache_desc *d);

/*
 * Returns 0 if d describes a usable cache: a known layout and dtype,
 * every size >= 1, x >= 1 dividing head_dim (x == 1 for NHD and HND), the size
 * fitting in int64, and for a strided view offset >= 0, every stride of
 * the layout's dimensions >= 1 and no two cells' elements on one place
 * (ordered by stride, each dimension's stride at least the span of the
 * dimensions inside it).  Otherwise returns -1 and, if why is non-NULL,
 * sets *why to a static message naming the first problem found.
 */
int kva_cache_desc_check(const kva_cache_desc *d, const char **why);

/* Bytes of an element of d's dtype (4 or 2), or -1 for an unknown one. */
int kva_dtype_size(const kva_cache_desc *d);

/* The layout's dimensions, outermost first: their count (4 or 5) and
 * their sizes in n[]. */
int kva_cache_dims(const kva_cache_desc *d, int64_t n[5]);

/* A strided view's dimensions by stride, narrowest first, in order[]
 * (indices into d->stride); returns their count. */
int kva_cache_stride_order(const kva_cache_desc *d, int order[5]);

/*
 * CPU twins of kva_write_kv / kva_gather_kv (kvarbiter_candidate.h):
 * same arguments, same semantics, host pointers.  Every slot is
 * validated before anything is written: if any slot is < -1 or >= B*S
 * the call returns -1 and the cache (write) or dst (gather) is left
 * untouched.  Slot -1 is padding and is skipped.  Rows are copied bit
 * for bit (memcpy, no float arithmetic), so NaN payloads survive.  If
 * two tokens of one write share a slot the later token wins.  The
 * elements of a source row past H*D (src_stride > H*D) are never read;
 * those of a dst row are never written.
 */
int kva_ref_write_kv(const float *src, int64_t src_stride,
		     const int64_t *slot_mapping, int64_t num_tokens,
		     float *cache, const kva_cache_desc *desc);
int kva_ref_gather_kv(const float *cache, const kva_cache_desc *desc,
		      const int64_t *slot_mapping, int64_t num_tokens,
		      float *dst, int64_t dst_stride);

/*
 * CPU twin of kva_write_kv_pair (kvarbiter_candidate.h): the keys into
 * key_cache and the values into value_cache, each row t < num_slots at
 * slot slot_mapping[t] (-1: padding), the rows past num_slots nowhere.
 * Both caches, their shapes (the same B, S, H and D) and every slot are
 * checked first: -1 with nothing written if one is bad.  Two views that
 * share an element are not detected: the value is written last.
 */
int kva_ref_write_kv_pair(const void *key, int64_t key_stride,
			  const void *value, int64_t value_stride, int64_t num_rows,
			  const int64_t *slot_mapping, int64_t num_slots,
			  void *key_cache, const kva_cache_desc *key_desc,
			  void *value_cache, const kva_cache_desc *value_desc);

/*
 * CPU twin of kva_gather_paged (kvarbiter_candidate.h): the rows of each
 * sequence's positions, read through its block-table row, one sequence
 * after the other into dst.  Every sequence is checked first (start and
 * length >= 0, its positions within max_blocks blocks, each table entry
 * they name in [0, B)): -1 with nothing written if one is not.  The rows
 * past the last sequence's are left alone.
 */
int kva_ref_gather_paged(const float *cache, const kva_cache_desc *desc,
			 const int32_t *block_tables, int64_t max_blocks,
			 const int64_t *seq_starts, const int64_t *seq_lens,
			 int64_t num_seqs, float *dst, int64_t dst_stride);

/*
 * CPU twins of the block copies serving engines make (vLLM's copy_blocks
 * within one cache, as prefix-cache copy-on-write does, and swap_blocks
 * between two caches, as offloading does): pairs holds npairs [src, dst]
 * block ids, flattened.  Only the cells are copied (every slot of the
 * block, every head and dimension, bit for bit); a strided view's gaps
 * are left alone.  kva_ref_copy_blocks has simultaneous semantics: every
 * source block is read before any destination is written, so chains
 * (a->b, b->c) and cycles (a->b, b->a) copy what the blocks held before
 * the call.  kva_ref_swap_blocks copies from src's blocks to dst's, two
 * caches of the same block size, heads and head size (their layouts and
 * strides may differ).  Every id is validated first: an id outside its
 * cache, a destination named twice, mismatched caches or a bad
 * descriptor return -1 with nothing written; -2 when scratch memory
 * cannot be had.
 */
int kva_ref_copy_blocks(float *cache, const kva_cache_desc *desc,
			const int64_t *pairs, int64_t npairs);
int kva_ref_swap_blocks(const float *src, const kva_cache_desc *src_desc,
			float *dst, const kva_cache_desc *dst_desc,
			const int64_t *pairs, int64_t npairs);

/*
 * The CUDA references, as linked into libkvarbiter.a: same arguments
 * as the CPU twins, but src, cache, dst and slot_mapping are DEVICE
 * pointers (desc stays in host memory); they launch, synchronise and
 * return.  In this build they are the fallbacks of kvcache_cpu.c and
 * always return -2.
 *
 * kva_cuda_available returns 1 if a CUDA device is usable, else 0 with
 * a reason (at most n-1 bytes plus NUL) in why, e.g. "no CUDA device"
 * or "built without CUDA support".  why may be NULL when n is 0.
 */
int kva_cuda_write_kv(const float *src, int64_t src_stride,
		      const int64_t *slot_mapping, int64_t num_tokens,
		      float *cache, const kva_cache_desc *desc);
int kva_cuda_gather_kv(const float *cache, const kva_cache_desc *desc,
		       const int64_t *slot_mapping, int64_t num_tokens,
		       float *dst, int64_t dst_stride);
int kva_cuda_available(char *why, size_t n);

/*
 * The real CUDA host wrappers, defined only in kernels/kvcache.cu
 * (build/cuda/kvcache.o).  Semantics as kva_cuda_* above, with the
 * CPU twins' slot rule: a bad slot anywhere means -1 and no write.
 * With two tokens on one slot, which row lands is unspecified.  Slot
 * validation uses one __device__ flag, so calls from several host
 * threads at once are not supported.  On success kva_cudak_available
 * writes device 0's name to why.
 */
int kva_cudak_write_kv(const float *src, int64_t src_stride,
		       const int64_t *slot_mapping, int64_t num_tokens,
		       float *cache, const kva_cache_desc *desc);
int kva_cudak_gather_kv(const float *cache, const kva_cache_desc *desc,
			const int64_t *slot_mapping, int64_t num_tokens,
			float *dst, int64_t dst_stride);
int kva_cudak_available(char *why, size_t n);
/* Device memory through the same runtime (kernels/kvcache.cu). */
void *kva_cudak_alloc(size_t n);
void kva_cudak_release(void *p);
int kva_cudak_copy(void *dst, const void *src, size_t n, int to_device);

#ifdef __cplusplus
}
#endif

#endif
