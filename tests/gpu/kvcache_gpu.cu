/*
 * kvcache_gpu.cu - the CUDA write and gather kernels against their CPU
 * twins, bit for bit, for every layout.  Built and run by
 * tests/gpu/run.sh.  Prints "SKIP: <reason>" and exits 0 when no CUDA
 * device is usable; otherwise one line per failure and the closing line
 * "N passed, N failed", exit 1 if any failed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "kvcache.h"

#define CACHE_POISON (-999.0f)
#define DST_POISON (-555.0f)

static int failed;

/* Report a failed check of shape s and count it. */
static void fail(int s, int line, const char *what)
{
	fprintf(stderr, "kvcache_gpu.cu:%d: shape %d: %s\n", line, s, what);
	failed++;
}
#define EXPECT(cond) do { if (!(cond)) { fail(s, __LINE__, #cond); \
	goto out; } } while (0)

/* splitmix64: a seeded, reproducible stream for slot mappings. */
static uint64_t next_rand(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Exits 2 with a message when memory runs out; never returns NULL. */
static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "kvcache_gpu: out of memory\n");
		exit(2);
	}
	return p;
}

/* Exits 2 naming what failed unless err is cudaSuccess: a broken device
 * is trouble, not a finding about the kernels. */
static void cuda_ok(cudaError_t err, const char *what)
{
	if (err != cudaSuccess) {
		fprintf(stderr, "kvcache_gpu: %s: %s\n", what,
			cudaGetErrorString(err));
		exit(2);
	}
}

/* Shapes: the unit-test ones, rows wider than a thread block (H*D >
 * 256), a head_dim that is no warp multiple, and a one-float row. */
static const kva_cache_desc shapes[] = {
	{ KVA_LAYOUT_NHD, 3, 4, 2, 8, 1 },
	{ KVA_LAYOUT_HND, 3, 4, 2, 8, 1 },
	{ KVA_LAYOUT_VLLM_X, 3, 4, 2, 8, 4 },
	{ KVA_LAYOUT_VLLM_X, 2, 5, 3, 6, 3 },
	{ KVA_LAYOUT_NHD, 64, 16, 8, 128, 1 },
	{ KVA_LAYOUT_HND, 64, 16, 8, 128, 1 },
	{ KVA_LAYOUT_VLLM_X, 64, 16, 8, 128, 4 },
	{ KVA_LAYOUT_VLLM_X, 64, 16, 8, 128, 8 },
	{ KVA_LAYOUT_NHD, 17, 3, 5, 80, 1 },
	{ KVA_LAYOUT_HND, 17, 3, 5, 80, 1 },
	{ KVA_LAYOUT_VLLM_X, 17, 3, 5, 80, 4 },
	{ KVA_LAYOUT_NHD, 5, 1, 1, 1, 1 },
	{ KVA_LAYOUT_VLLM_X, 5, 1, 1, 1, 1 },
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/*
 * Run shape s: scatter a random subset of slots (every fifth token
 * padding, NaN in the gap after each source row) with the CPU twin and
 * with CUDA from the same poisoned cache, compare the caches bit for
 * bit; gather back both ways and compare; then check that a bad slot
 * makes the CUDA calls return -1 with nothing written.  Returns 0 if
 * every check held.
 */
static int run_shape(int s, uint64_t *rng)
{
	const kva_cache_desc *d = &shapes[s];
	int64_t elems = kva_cache_elems(d);
	int64_t nslots = (int64_t)d->num_blocks * d->block_size;
	int64_t row = (int64_t)d->num_heads * d->head_dim;
	int64_t stride = row + 3;
	int64_t n = nslots * 3 / 4 + 1;
	size_t rows_bytes = (size_t)(n * stride) * sizeof(float);
	size_t cache_bytes = (size_t)elems * sizeof(float);
	int64_t *perm = (int64_t *)xmalloc((size_t)nslots * sizeof(int64_t));
	int64_t *slots = (int64_t *)xmalloc((size_t)n * sizeof(int64_t));
	float *src = (float *)xmalloc(rows_bytes);
	float *cache = (float *)xmalloc(cache_bytes);
	float *cache_cpu = (float *)xmalloc(cache_bytes);
	float *cache_gpu = (float *)xmalloc(cache_bytes);
	float *dst_cpu = (float *)xmalloc(rows_bytes);
	float *dst_gpu = (float *)xmalloc(rows_bytes);
	float *d_src, *d_cache, *d_dst;
	int64_t *d_slots;
	int before = failed;

	for (int64_t i = 0; i < nslots; i++)
		perm[i] = i;
	for (int64_t i = nslots - 1; i > 0; i--) {
		int64_t j = (int64_t)(next_rand(rng) % (uint64_t)(i + 1));
		int64_t tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	for (int64_t t = 0; t < n; t++) {
		slots[t] = t % 5 == 4 ? -1 : perm[t];
		for (int64_t e = 0; e < stride; e++) {
			src[t * stride + e] = e < row
				? (float)(t * 100000 + e + 1) : NAN;
			dst_cpu[t * stride + e] = DST_POISON;
		}
	}
	for (int64_t i = 0; i < elems; i++)
		cache[i] = cache_cpu[i] = CACHE_POISON;

	cuda_ok(cudaMalloc((void **)&d_src, rows_bytes), "cudaMalloc");
	cuda_ok(cudaMalloc((void **)&d_dst, rows_bytes), "cudaMalloc");
	cuda_ok(cudaMalloc((void **)&d_cache, cache_bytes), "cudaMalloc");
	cuda_ok(cudaMalloc((void **)&d_slots, (size_t)n * sizeof(int64_t)),
		"cudaMalloc");
	cuda_ok(cudaMemcpy(d_src, src, rows_bytes, cudaMemcpyHostToDevice),
		"copy src");
	cuda_ok(cudaMemcpy(d_dst, dst_cpu, rows_bytes,
			   cudaMemcpyHostToDevice), "copy dst");
	cuda_ok(cudaMemcpy(d_cache, cache, cache_bytes,
			   cudaMemcpyHostToDevice), "copy cache");
	cuda_ok(cudaMemcpy(d_slots, slots, (size_t)n * sizeof(int64_t),
			   cudaMemcpyHostToDevice), "copy slots");

	/* write: both from the same poisoned cache */
	EXPECT(kva_ref_write_kv(src, stride, slots, n, cache_cpu, d) == 0);
	EXPECT(kva_cudak_write_kv(d_src, stride, d_slots, n, d_cache, d) == 0);
	cuda_ok(cudaMemcpy(cache_gpu, d_cache, cache_bytes,
			   cudaMemcpyDeviceToHost), "copy cache back");
	EXPECT(memcmp(cache_gpu, cache_cpu, cache_bytes) == 0);

	/* gather: both from the written cache into the same poisoned rows */
	EXPECT(kva_ref_gather_kv(cache_cpu, d, slots, n, dst_cpu, stride) == 0);
	EXPECT(kva_cudak_gather_kv(d_cache, d, d_slots, n, d_dst, stride)
	       == 0);
	cuda_ok(cudaMemcpy(dst_gpu, d_dst, rows_bytes,
			   cudaMemcpyDeviceToHost), "copy dst back");
	EXPECT(memcmp(dst_gpu, dst_cpu, rows_bytes) == 0);
	/* the round trip itself: live rows come back, padding rows and the
	 * NaN gaps stay as they were */
	for (int64_t t = 0; t < n; t++)
		for (int64_t e = 0; e < stride; e++) {
			float want = e < row && slots[t] != -1
				? src[t * stride + e] : DST_POISON;

			EXPECT(memcmp(&dst_gpu[t * stride + e], &want,
				      sizeof want) == 0);
		}

	/* no tokens is a no-op; a bad slot, even last, writes nothing */
	EXPECT(kva_cudak_write_kv(d_src, stride, d_slots, 0, d_cache, d) == 0);
	slots[n - 1] = nslots;
	cuda_ok(cudaMemcpy(d_slots, slots, (size_t)n * sizeof(int64_t),
			   cudaMemcpyHostToDevice), "copy slots");
	cuda_ok(cudaMemset(d_cache, 0, cache_bytes), "clear cache");
	EXPECT(kva_cudak_write_kv(d_src, stride, d_slots, n, d_cache, d) == -1);
	EXPECT(kva_cudak_gather_kv(d_cache, d, d_slots, n, d_dst, stride)
	       == -1);
	EXPECT(kva_ref_write_kv(src, stride, slots, n, cache_cpu, d) == -1);
	cuda_ok(cudaMemcpy(cache_gpu, d_cache, cache_bytes,
			   cudaMemcpyDeviceToHost), "copy cache back");
	for (int64_t i = 0; i < elems; i++)
		EXPECT(cache_gpu[i] == 0.0f);
	cuda_ok(cudaMemcpy(dst_gpu, d_dst, rows_bytes,
			   cudaMemcpyDeviceToHost), "copy dst back");
	EXPECT(memcmp(dst_gpu, dst_cpu, rows_bytes) == 0);
	EXPECT(kva_cudak_write_kv(d_src, row - 1, d_slots, n, d_cache, d)
	       == -1);
out:
	cudaFree(d_src);
	cudaFree(d_dst);
	cudaFree(d_cache);
	cudaFree(d_slots);
	free(perm);
	free(slots);
	free(src);
	free(cache);
	free(cache_cpu);
	free(cache_gpu);
	free(dst_cpu);
	free(dst_gpu);
	return failed != before;
}

int main(void)
{
	char why[256];
	uint64_t rng = 20240601;
	int passed = 0;

	if (!kva_cudak_available(why, sizeof why)) {
		printf("SKIP: %s\n", why);
		return 0;
	}
	printf("device: %s\n", why);
	for (int s = 0; s < NSHAPES; s++)
		passed += run_shape(s, &rng) == 0;
	printf("%d passed, %d failed\n", passed, NSHAPES - passed);
	return passed == NSHAPES ? 0 : 1;
}
