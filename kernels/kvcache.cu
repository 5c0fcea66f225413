/*
 * kvcache.cu - the CUDA reference KV-cache write and gather kernels.
 *
 * Same semantics as the CPU twins in kvcache_cpu.c (see kvcache.h): one
 * thread block per token, its threads striding over the row's H*D
 * elements; slot -1 is skipped; elements are moved by plain loads and
 * stores, so results match the CPU twins bit for bit.  The host
 * wrappers allocate nothing: the caller passes device pointers.
 * Compiled by `make cuda` into build/cuda/kvcache.o, not yet part of
 * libkvarbiter.a, hence the kva_cudak_ names.  It calls
 * kva_cache_desc_check, so it links with kvcache_cpu.c (in libkvarbiter.a).
 */
#include <stdio.h>

#include <cuda_runtime.h>

#include "kvcache.h"

/* Set by check_slots when any slot lies outside [-1, nslots). */
static __device__ int bad_slot;

/* Largest grid we launch in x; tokens past it are strided over. */
static const int64_t max_grid = 2147483647;

/* Flag (in bad_slot) any slot outside [-1, nslots). */
static __global__ void check_slots(const int64_t *slots, int64_t n,
				   int64_t nslots)
{
	int64_t step = (int64_t)gridDim.x * blockDim.x;

	for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
	     t < n; t += step)
		if (slots[t] < -1 || slots[t] >= nslots)
			bad_slot = 1;
}

/* Copy row t of src into its slot's cell, for each token t of this block. */
static __global__ void write_kv(const float *src, int64_t src_stride,
				const int64_t *slots, int64_t n, float *cache,
				kva_cache_desc d)
{
	int64_t D = d.head_dim, row_len = (int64_t)d.num_heads * D;

	for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
		int64_t slot = slots[t];
		const float *row = src + t * src_stride;

		if (slot == -1)
			continue;
		for (int64_t e = threadIdx.x; e < row_len; e += blockDim.x)
			cache[kva_cache_index(&d, slot, e / D, e % D)] = row[e];
	}
}

/* Copy each token's cell into row t of dst, for each token t of this block. */
static __global__ void gather_kv(const float *cache, kva_cache_desc d,
				 const int64_t *slots, int64_t n, float *dst,
				 int64_t dst_stride)
{
	int64_t D = d.head_dim, row_len = (int64_t)d.num_heads * D;

	for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
		int64_t slot = slots[t];
		float *row = dst + t * dst_stride;

		if (slot == -1)
			continue;
		for (int64_t e = threadIdx.x; e < row_len; e += blockDim.x)
			row[e] = cache[kva_cache_index(&d, slot, e / D, e % D)];
	}
}

/*
 * Host-side checks shared by both wrappers, then the device slot check.
 * Returns 0 if the kernel may run, -1 for a bad argument or slot, -2 for
 * a CUDA error.  *nothing is set when there are no tokens to move.
 */
static int prepare(const kva_cache_desc *d, const int64_t *slots,
		   int64_t n, const float *rows, int64_t stride,
		   const float *cache, int *nothing)
{
	int bad = 0;
	int64_t nslots, blocks;

	*nothing = 0;
	if (kva_cache_desc_check(d, NULL) || n < 0
	    || stride < (int64_t)d->num_heads * d->head_dim)
		return -1;
	if (n == 0) {
		*nothing = 1;
		return 0;
	}
	if (!slots || !rows || !cache)
		return -1;
	nslots = (int64_t)d->num_blocks * d->block_size;
	blocks = (n + 255) / 256;
	if (blocks > 65535)
		blocks = 65535;
	if (cudaMemcpyToSymbol(bad_slot, &bad, sizeof bad)
	    != cudaSuccess)
		return -2;
	check_slots<<<(unsigned)blocks, 256>>>(slots, n, nslots);
	if (cudaGetLastError() != cudaSuccess)
		return -2;
	if (cudaMemcpyFromSymbol(&bad, bad_slot, sizeof bad)
	    != cudaSuccess)
		return -2;
	return bad ? -1 : 0;
}

/* Threads per block for rows of row_len floats: a warp multiple, <= 256. */
static unsigned threads_for(int64_t row_len)
{
	int64_t t = (row_len + 31) / 32 * 32;

	return (unsigned)(t > 256 ? 256 : t);
}

/* Launch write_kv on device pointers and synchronise; see kvcache.h. */
extern "C" int kva_cudak_write_kv(const float *src, int64_t src_stride,
				  const int64_t *slot_mapping,
				  int64_t num_tokens, float *cache,
				  const kva_cache_desc *desc)
{
	int nothing, rc;
	int64_t grid;

	rc = prepare(desc, slot_mapping, num_tokens, src, src_stride, cache,
		     &nothing);
	if (rc || nothing)
		return rc;
	grid = num_tokens < max_grid ? num_tokens : max_grid;
	write_kv<<<(unsigned)grid, threads_for((int64_t)desc->num_heads
						* desc->head_dim)>>>(
		src, src_stride, slot_mapping, num_tokens, cache, *desc);
	if (cudaGetLastError() != cudaSuccess
	    || cudaDeviceSynchronize() != cudaSuccess)
		return -2;
	return 0;
}

/* Launch gather_kv on device pointers and synchronise; see kvcache.h. */
extern "C" int kva_cudak_gather_kv(const float *cache,
				   const kva_cache_desc *desc,
				   const int64_t *slot_mapping,
				   int64_t num_tokens, float *dst,
				   int64_t dst_stride)
{
	int nothing, rc;
	int64_t grid;

	rc = prepare(desc, slot_mapping, num_tokens, dst, dst_stride, cache,
		     &nothing);
	if (rc || nothing)
		return rc;
	grid = num_tokens < max_grid ? num_tokens : max_grid;
	gather_kv<<<(unsigned)grid, threads_for((int64_t)desc->num_heads
						 * desc->head_dim)>>>(
		cache, *desc, slot_mapping, num_tokens, dst, dst_stride);
	if (cudaGetLastError() != cudaSuccess
	    || cudaDeviceSynchronize() != cudaSuccess)
		return -2;
	return 0;
}

/* 1 with device 0's name in why if a CUDA device is usable, else 0 and
 * the reason in why. */
extern "C" int kva_cudak_available(char *why, size_t n)
{
	int count = 0;
	cudaError_t err = cudaGetDeviceCount(&count);
	cudaDeviceProp prop;

	if (err != cudaSuccess || count < 1) {
		if (why && n)
			snprintf(why, n, "no CUDA device%s%s",
				 err != cudaSuccess ? ": " : "",
				 err != cudaSuccess ? cudaGetErrorString(err)
						    : "");
		return 0;
	}
	if (why && n) {
		if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
			snprintf(why, n, "%s", prop.name);
		else
			snprintf(why, n, "%s", "CUDA device 0");
	}
	return 1;
}

/*
 * Device memory for a caller that loads these kernels at run time (the
 * pool of kv-prefill(1) --device cuda, through libkvcache_cuda.so): the
 * same CUDA runtime as the kernels.  kva_cudak_alloc returns NULL on
 * failure; kva_cudak_copy copies n bytes host to device (to_device 1) or
 * device to host (0) and returns 0, or -2 on a CUDA error.
 */
extern "C" void *kva_cudak_alloc(size_t n)
{
	void *p = NULL;

	return cudaMalloc(&p, n ? n : 1) == cudaSuccess ? p : NULL;
}

extern "C" void kva_cudak_release(void *p)
{
	if (p)
		cudaFree(p);
}

extern "C" int kva_cudak_copy(void *dst, const void *src, size_t n,
			      int to_device)
{
	return cudaMemcpy(dst, src, n, to_device ? cudaMemcpyHostToDevice
				      : cudaMemcpyDeviceToHost) == cudaSuccess
	       ? 0 : -2;
}
