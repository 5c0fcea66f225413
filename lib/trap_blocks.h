/*
 * trap_blocks.h - the block-copy kinds' child side (internal): the loader
 * child serves MODE_BLOCKS (trap_proto.h) with lib/trap_blocks_child.c,
 * which borrows the guard-page and repeat helpers of lib/trap_child.c.
 */
#ifndef KVA_TRAP_BLOCKS_H
#define KVA_TRAP_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "trap_proto.h"

/* Serve one MODE_BLOCKS request with the candidate's fn (kva_copy_blocks
 * or kva_swap_blocks, by kind): run, check, repeat, reply on wfd.
 * Returns 0, or -1 (a malformed request, no memory, a broken pipe). */
int kva_trap_serve_blocks(int kind, void (*fn)(void), const struct req_hdr *hd,
			  const char *payload, int wfd);

/* lib/trap_child.c's helpers (see there): n bytes between PROT_NONE
 * pages; a copy with every value's bits xor mask; the first element that
 * differs (xor mask), or -1; one CPU (on) or the whole set back. */
void *kva_trap_guarded(size_t n, void **map, size_t *maplen);
void kva_trap_copy_xor(float *to, const float *from, size_t n, uint32_t mask);
int64_t kva_trap_diff_xor(const float *region, const float *want, size_t n,
			  uint32_t mask);
int64_t kva_trap_first_diff(const void *a, const void *b, size_t n, size_t sz);
void kva_trap_one_cpu(int on);

#endif
