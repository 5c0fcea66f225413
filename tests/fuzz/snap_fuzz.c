/*
 * snap_fuzz.c - libFuzzer target for the snapshot reader (lib/snap.c):
 * any bytes must be refused cleanly or, when accepted, be walkable to the
 * end (every ledger entry, every row against the generator) without a
 * fault.  Built and run by tests/fuzz/run.sh (make fuzz).
 */
#include <stddef.h>
#include <stdint.h>

#include "snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kva_snap s;
	kva_err e;
	kva_verify v;

	if (kva_snap_parse(data, size, &s, &e))
		return 0;
	for (int64_t k = 0; k < s.count; k++) {
		kva_snap_entry en;

		kva_snap_entry_get(&s, k, &en);
		(void)kva_snap_chunk_tokens(&s, k);
	}
	(void)kva_snap_regen(&s, &v);
	return 0;
}
