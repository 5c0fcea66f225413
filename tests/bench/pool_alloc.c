/*
 * pool_alloc.c - the pool's allocation cost alone (tests/bench/kv-prefill.sh):
 * for pools of 2^10 .. 2^20 blocks (chunk 64, no data, lru), prefill a
 * prompt 4x the pool, once to warm the chunk records, then again in rounds
 * until at least MIN_ALLOCS allocations have been timed.  Prints one line
 * per size: blocks, allocations timed, ns per allocation.  Every round is
 * checked: 4x pool allocations, 3x pool evictions.
 *
 *   pool_alloc [MIN_ALLOCS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	long long min = argc > 1 ? atoll(argv[1]) : 4194304;

	kva_progname = "pool_alloc";
	for (int k = 10; k <= 20; k += 2) {
		kva_pool_conf c;
		kva_pool_refusal r;
		kva_pool *p;
		kva_err e;
		int64_t nb = (int64_t)1 << k, done = 0;
		double t = 0;

		kva_pool_conf_default(&c);
		c.no_data = 1;
		c.pool_tokens = nb * c.chunk_tokens;
		if (!(p = kva_pool_new(&c, NULL, NULL, &e)))
			kva_die(2, "%s", e.msg);
		for (int round = 0; round == 0 || done < min; round++) {
			uint64_t a0 = p->n_alloc, e0 = p->n_evict;
			double t0;

			kva_pool_reset(p);
			t0 = now();
			if (kva_pool_append(p, 4 * c.pool_tokens, 1, &r, &e))
				kva_die(2, "%s", e.msg);
			if (p->n_alloc - a0 != (uint64_t)(4 * nb) ||
			    p->n_evict - e0 != (uint64_t)(3 * nb))
				kva_die(1, "2^%d: wrong allocation or eviction count", k);
			if (round) {
				t += now() - t0;
				done += 4 * nb;
			}
		}
		printf("%d %lld %.1f\n", k, (long long)done, t / (double)done * 1e9);
		kva_pool_free(p);
	}
	return 0;
}
