/*
 * trap_proto.h - the wire between grad-trap and its loader child (internal
 * to lib/trap.c, the parent, and lib/trap_child.c, the child).
 *
 * The child is this program re-executed in the sandbox (sandbox.h) with
 * argv "--sandbox-child KIND ORACLE DEVICE AS_BYTES FLUSH_MS ARENA_BYTES" (or
 * --sandbox-child-strict: no load without the filter; or
 * --sandbox-child-noconfine: no filter); the
 * candidate's shared object is its fd 5, requests arrive on fd 3 and
 * replies leave on fd 4, all in host byte order.
 *
 * Greeting (child -> parent, once): u32 layers (KVA_L_* the child itself
 * set up: its seccomp filter), written before the candidate is opened;
 * then u32 n and n bytes of text: empty when the candidate loaded, else
 * why not ("cannot load: ..."); after an empty text, u32 1 and the
 * kernel's kva_constraints (kvarbiter_candidate.h) when it defines
 * kva_kernel_constraints, else u32 0 and as many zero bytes; then u32
 * ABI flags (GREET_ROWS: a write kernel defines kva_write_kv_rows;
 * GREET_PAGED: a gather kernel defines kva_gather_paged; GREET_PAIR: a
 * write kernel defines kva_write_kv_pair).
 *
 * Request: struct req_hdr, then len payload bytes.  Every answer carries
 * the request's seq, so bytes a candidate writes into the reply pipe by
 * itself are seen as garbage, not as answers (a candidate in the child's
 * address space could still forge them with effort: grad-trap(1)).
 *   MODE_CASES     n cases: per case the oracle's nin int64 inputs, then
 *                  per table a u32 length and int32 values, padded to 8.
 *                  Reply: n struct cres, flushed every RES_FLUSH cases or
 *                  every FLUSH_MS milliseconds (each one when
 *                  FLAG_UNBUFFERED), so progress is visible.
 *   MODE_GENERATE  struct greq and the sweep spec: the child generates and
 *                  runs the cases itself; reply: a stream of struct gmsg
 *                  (GMSG_DIV with its table data, GMSG_BEAT every
 *                  BEAT_EVERY cases or BEAT_SECONDS, GMSG_DONE last).
 *   MODE_KERNEL    n calls (at most KREQ_MAX_CALLS), each: struct kreq,
 *                  the slot mapping (int64 x nslots; for a paged gather
 *                  the call's sequences instead: seq_starts and seq_lens,
 *                  int64 x nseq each, then the block tables, int32 x
 *                  nseq x maxb, zero-padded to 8 bytes), the input data
 *                  (ndata floats: the source rows of a write, a K/V
 *                  pair's key rows then, from byte vrows, its value
 *                  rows, each in its cache's dtype; or the slack, the
 *                  cache and the slack of a gather), then the region the
 *                  kernel writes as it is before the call (nreg floats:
 *                  slack, the cache or the output rows, slack; a pair's
 *                  value cache in the same buffer as its key cache,
 *                  from byte vbase; its end falls on a page), padded to
 *                  8 bytes.
 *                  The child places each call's region and data between
 *                  PROT_NONE pages, runs every call once, pauses once,
 *                  runs each call repeat - 1 more times on fresh copies,
 *                  and replies, call by call, with struct krep (tag: the
 *                  request's seq plus the call's index) and the first
 *                  run's region.
 *                  An overflow call (kreq.base >= 0, alone in its
 *                  request) has a cache far larger than is sent: the
 *                  child keeps an arena of ARENA_BYTES of address space,
 *                  reserved PROT_NONE before its limits are set; the
 *                  kernel's cache starts KVA_ARENA_LOW bytes into it,
 *                  and only the buffer sent for the cache (the region of
 *                  a write, the data of a gather: slack, a window of the
 *                  cache, slack) is readable and writable, at element
 *                  base of the cache.
 *                  Everything else in the arena faults when touched.
 *   MODE_BLOCKS    one call of a block-copy kernel (kind copy-blocks or
 *                  swap-blocks; hd.n is 1): struct breq, the pairs
 *                  (int64 x 2 npairs), the source buffer (swap: nsrc
 *                  floats: slack, the source cache, slack; copy: none),
 *                  then the region the kernel writes as it is before the
 *                  call (nreg floats: slack, the cache (swap: the
 *                  destination), slack), padded to 8 bytes.  The child
 *                  places the pairs, the source buffer, the region and
 *                  the descriptors each between PROT_NONE pages, runs the
 *                  call, checks that the pairs, the source buffer and
 *                  the descriptors are as sent (struct krep: mut
 *                  KREP_MUT_SLOTS for the pairs with mut_at the int64
 *                  index, KREP_MUT_DATA for the source buffer with mut_at
 *                  its element, KREP_MUT_DESC), pauses, looks at the
 *                  region again (nondet_late), runs the call repeat - 1
 *                  more times on fresh copies as MODE_KERNEL does
 *                  (nondet_at: an element of the region), and replies
 *                  with struct krep (tag: the request's seq) and the
 *                  first run's region.
 *   MODE_SOAK      struct sreq: the child calls the candidate up to
 *                  sreq.calls times, for at most sreq.ms milliseconds, on
 *                  inputs of its own (mapped positions of a small table;
 *                  for a kernel one token into a one-block cache shaped
 *                  like sreq.desc), and judges nothing: the cases that
 *                  follow meet a candidate that has made that many calls.
 *                  Reply: struct srep.
 */
#ifndef KVA_TRAP_PROTO_H
#define KVA_TRAP_PROTO_H

#include <stdint.h>

#include "kvarbiter_candidate.h"
#include "kvarbiter.h"

#define REQ_MAGIC 0x6b766172u /* "kvar" */
#define RES_FLUSH 256
#define KREQ_MAX_CALLS 64         /* calls in one MODE_KERNEL request */
#define BEAT_EVERY 65536
#define BEAT_SECONDS 0.25
/* The arena below an overflow call's cache: more than 2^31 floats, so an
 * element index that an int32 wrapped negative faults there. */
#define KVA_ARENA_LOW (((uint64_t)1 << 33) + 65536)

enum { MODE_CASES = 1, MODE_GENERATE = 2, MODE_KERNEL = 3, MODE_SOAK = 4,
       MODE_BLOCKS = 5 };
enum { FLAG_UNBUFFERED = 1 };
enum { GMSG_DIV = 1, GMSG_BEAT = 2, GMSG_DONE = 3 };
enum { OR_RADIX_1D, OR_RADIX_2D, OR_PAGED, OR_PAGED_RING, OR_FLASHINFER,
       OR_ROLLING, OR_OTHER };

struct req_hdr {
	uint32_t magic, mode, n, flags;
	uint32_t seq, pad;       /* echoed in every answer */
	uint64_t len;            /* payload bytes after the header */
};

struct cres {                    /* one case's answer from the child */
	int32_t rc;
	int32_t done;            /* 1: the candidate returned */
	uint32_t tag;            /* the request's seq */
	uint32_t mut;            /* 1: the candidate changed a table it was given */
	int64_t out[KVA_MAX_OUT];
};

struct kreq {                    /* after the header in MODE_KERNEL */
	kva_cache_desc desc;
	int32_t repeat;          /* runs of the call (>= 1) */
	int64_t n, stride;       /* tokens, source or output row stride */
	int64_t glo, ghi;        /* slack floats before and after the body */
	int64_t elems;           /* floats of the cache */
	int64_t ndata, nreg;     /* floats of the input data, of the region */
	int64_t nslots;          /* entries of the slot mapping (<= n): rows
	                            past it are padding (kva_write_kv_rows) */
	int64_t base;            /* -1, or an overflow call: the element of
	                            the arena's cache where the cache's buffer
	                            (region or data) starts */
	int64_t nseq, maxb;      /* a paged gather (GREET_PAGED): sequences,
	                            block-table row length; 0 otherwise */
	kva_cache_desc vdesc;    /* a K/V pair (GREET_PAIR): the value cache */
	int64_t vstride;         /* its rows' stride, in its elements */
	int64_t vrows;           /* bytes into the data where its rows start */
	int64_t vbase;           /* bytes from the key cache's start to its */
};

struct breq {                    /* after the header in MODE_BLOCKS */
	kva_cache_desc desc;     /* the cache written (swap: the destination) */
	kva_cache_desc sdesc;    /* swap: the source cache; copy: unused */
	int32_t repeat, pad;     /* runs of the call (>= 1) */
	int64_t npairs;          /* [src, dst] pairs */
	int64_t glo, ghi;        /* slack floats before and after the cache */
	int64_t nreg;            /* floats of the region: glo + cache + ghi */
	int64_t sglo, nsrc;      /* swap: slack floats before the source
	                            cache, floats of the source buffer
	                            (copy: 0, 0) */
};

/* The reply to MODE_KERNEL (and MODE_BLOCKS), before the region the call
 * wrote. */
struct krep {
	int32_t rc;              /* the kernel's return value */
	uint32_t tag;            /* the request's seq + the call's index */
	uint32_t mut;            /* KREP_MUT_*: inputs the call changed */
	uint32_t nondet_late;    /* 1: the region changed after the return */
	int64_t mut_at;          /* first changed element of data, or slot index */
	int64_t nondet_at;       /* first element in which runs differ, or -1 */
};
enum { KREP_MUT_DATA = 1, KREP_MUT_SLOTS = 2, KREP_MUT_DESC = 4 };
enum { GREET_ROWS = 1, GREET_PAGED = 2, GREET_PAIR = 4 };

struct sreq {                    /* after the header in MODE_SOAK */
	kva_cache_desc desc;     /* a kernel's cache shape (num_blocks 1) */
	uint32_t ms, pad;
	uint64_t calls;
};

struct srep {                    /* the reply to MODE_SOAK */
	uint32_t tag, pad;       /* the request's seq */
	uint64_t calls;          /* calls made */
};

struct greq {                    /* after the header in MODE_GENERATE */
	uint32_t gen;            /* 0 boundaries, 1 sweep, 2 random */
	uint32_t speclen;
	uint64_t n, seed, skip;
	int64_t num_heads;
};

struct gmsg {                    /* one message of the child's stream */
	uint32_t type, len;      /* len: bytes of table data that follow */
	uint32_t tag, pad;       /* the request's seq */
	uint64_t index;
	struct cres got;
	int64_t in[KVA_MAX_IN];
	uint32_t tlen[KVA_MAX_TAB];
};

/* The built-in oracles with a C ABI, by name; OR_OTHER for the rest. */
int kva_trap_oracle_id(const kva_oracle *o);

#endif
