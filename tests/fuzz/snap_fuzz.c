/*
 * snap_fuzz.c - libFuzzer target for the snapshot reader (lib/snap.c):
 * any bytes must be refused cleanly or, when accepted, be walkable to the
 * end (every ledger entry, every row against the generator) without a
 * fault.  Built and run by tests/fuzz/run.sh (make fuzz).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void reseal(unsigned char *b, size_t n)
{
	uint64_t count, cb;

	if (n < 96)
		return;
	count = get64(b + 48);
	cb = get64(b + 56);
	if ((b[12] & 1) && cb && cb <= n && count <= (n - 96) / (cb + 32) &&
	    96 + count * (cb + 32) == n)
		for (uint64_t k = 0; k < count; k++)
			put64(b + 80 + count * cb + k * 32 + 24,
			      XXH3_64bits(b + 80 + k * cb, (size_t)cb));
	put64(b + 72, XXH3_64bits(b, 72));
	memcpy(b + n - 8, "KVASEND", 8);
	put64(b + n - 16, XXH3_64bits(b, n - 16));
}

static void walk(const unsigned char *data, size_t size)
{
	kva_snap s;
	kva_err e;
	kva_verify v;

	if (kva_snap_parse(data, size, &s, &e))
		return;
	for (int64_t k = 0; k < s.count; k++) {
		kva_snap_entry en;

		kva_snap_entry_get(&s, k, &en);
		(void)kva_snap_chunk_tokens(&s, k);
	}
	(void)kva_snap_regen(&s, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);

	walk(data, size);
	if (copy) {
		memcpy(copy, data, size);
		reseal(copy, size);
		walk(copy, size);
		free(copy);
	}
	return 0;
}
