/*
 * rng.c - xoshiro256** seeded through splitmix64.  Integer-only, so the
 * same seed gives the same stream on every machine and compiler.
 */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kvarbiter.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void kva_rng_seed(kva_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t kva_rng_u64(kva_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [lo, hi] by rejection: no modulo bias. */
int64_t kva_rng_range(kva_rng *r, int64_t lo, int64_t hi)
{
	uint64_t span = (uint64_t)hi - (uint64_t)lo, x, lim;

	if (span == UINT64_MAX)
		return (int64_t)kva_rng_u64(r);
	span++;
	lim = UINT64_MAX - UINT64_MAX % span;
	do
		x = kva_rng_u64(r);
	while (x >= lim);
	return (int64_t)((uint64_t)lo + x % span);
}

uint64_t kva_fresh_seed(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	return v & (((uint64_t)1 << 53) - 1);
}
