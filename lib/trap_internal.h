/*
 * trap_internal.h - the trap's state, shared by lib/trap.c (the run: the
 * child, the queue, the generator, the records and reports), lib/trap_route.c
 * (route candidates: the round trip and the judging) and lib/trap_kernel.c
 * (write and gather kernels: the call and the judging).  Not a public
 * interface: grad-trap uses trap.h.
 */
#ifndef KVA_TRAP_INTERNAL_H
#define KVA_TRAP_INTERNAL_H

#include "trap.h"
#include "trap_proto.h"

#define MAX_TABLE (1u << 24)

/* The child's answers were not the trap's protocol: bytes the candidate
 * wrote into the reply pipe itself, or a pipe it garbled. */
#define SBX_GARBLED 3

struct tcase {                   /* one queued case */
	int64_t in[KVA_MAX_IN];
	size_t toff[KVA_MAX_TAB];    /* into pool */
	size_t tlen[KVA_MAX_TAB];
	kva_route expect;
	long line;
	uint64_t index;              /* 0-based, over the run */
	struct cres got;
	int cls;                     /* -1: agrees with the oracle */
	int skipped;                 /* never run (hang budget, load) */
	int wh_set;                  /* wh holds the world hash */
	int overflow;                /* a token of an overflow call */
	uint64_t wh;
	char why[96];
};

struct dtok {                    /* one token of the dumped world */
	int64_t oc[KVA_MAX_OUT];     /* oracle cell (if routed) */
	int64_t cc[KVA_MAX_OUT];     /* candidate cell (if it wrote one) */
	int oroute, croute;
	uint64_t index;
};

struct kva_trap {
	kva_trap_conf c;
	int oid;
	unsigned world;              /* world inputs mask */
	kva_sbx sbx;
	int sofd;                    /* the candidate's shared object, or -1 */
	unsigned layers;             /* confinement layers that held (all spawns) */
	int spawned;                 /* a child was set up at least once */
	uint32_t seq;                /* of the last request */
	uint64_t kcalls;             /* kernel calls made (numbers their values) */
	size_t arena;                /* the arena overflow calls need (0: none made) */
	size_t arena_next;           /* the one the next child reserves */
	size_t arena_child;          /* the one the running child reserved */
	uint64_t soaked;             /* the fewest calls a child's soak made */
	uint64_t soaks;              /* children soaked */
	const char *soak_why;        /* why children are not soaked, or NULL */
	char soak_buf[160];
	kva_constraints cons;        /* the kernel's, when has_cons */
	int has_cons;
	int spawned_once;            /* the first child greeted (cons read) */
	uint64_t unclaimed;          /* cases outside the kernel's constraints */
	uint64_t too_large;          /* kernel cases of a block no cache holds */
	uint64_t scalls;             /* calls on a strided cache */
	uint32_t abi;                /* GREET_ROWS: kva_write_kv_rows */
	uint64_t rcalls;             /* calls with padding rows past the slots */
	uint64_t pcalls;             /* calls through kva_gather_paged */
	uint64_t kvcalls;            /* calls through kva_write_kv_pair */
	int queue_overflow;          /* cases queued now are overflow tokens */
	uint64_t ocalls, otokens;    /* overflow calls made, their tokens */
	const char *overflow_why;    /* why overflow calls were not made, or NULL */
	const char *file;            /* source of the cases being queued */
	struct tcase *q;
	size_t nq, capq;
	int64_t *pool;
	size_t npool, cappool;
	kva_buf req, rep;
	uint64_t cases, diverged, printed;
	uint64_t cls[KVA_C_N];
	uint64_t hangs;              /* timeouts pinned to a case */
	uint64_t crashes;            /* crashes pinned to a case */
	uint64_t not_run;            /* cases never run */
	char stop_why[160];          /* why the rest is not run ("" runs on) */
	double divergence, t0, t1;
	int have_first;
	int load_cls;                /* a load finding's class, or -1 */
	char load_why[96];
	const char *load_phase;      /* "load" or "soak" */
	struct dtok *wtok;           /* the tokens sharing first's cache */
	size_t nwtok;
	struct tcase first;          /* smallest failing case */
	int64_t *first_tab;          /* its tables */
	char first_file[256];
	kva_buf map;                 /* text map lines (first max_map) */
	uint64_t heat[8][16];        /* misrouted floats by head x block */
	int heat_h, heat_b;
	uint64_t bcalls;             /* block-copy kinds: calls made */
	kva_buf bfirst;              /* block-copy kinds: the first finding */
};


/* What an exchange waits for (kva_sbx_exchange's done callbacks). */
struct want {
	size_t bytes, unit;          /* binary answers: all, one of them */
	size_t lines, scanned, nl;   /* co-process answers: lines */
};



/* ---- lib/trap.c ---- */

/* Stop running: the remaining cases are counted as not run (the first
 * reason is kept). */
void kva_trap_stop_running(kva_trap *t, const char *why);
/* Cases [from, to) of the queue will not run: count them. */
void kva_trap_skip(kva_trap *t, size_t from, size_t to);
/* A timeout pinned to its case: spend the hang budget. */
void kva_trap_count_hang(kva_trap *t);
/* A crash pinned to its case: spend the crash budget (256). */
void kva_trap_count_crash(kva_trap *t);
/* A loaded child: 0; 1 when the candidate failed while loading (the rest
 * will not run); -1 with e for trouble. */
int kva_trap_ensure_child(kva_trap *t, kva_err *e);
/* done() for binary answers (struct want: bytes, unit). */
int kva_trap_bytes_done(kva_buf *b, void *ctx, uint64_t *units);
/* SplitMix64-style mixing of v into h. */
uint64_t kva_trap_mix64(uint64_t h, uint64_t v);

/* Does the kernel claim block size bs (kva_kernel_constraints)? */
int kva_trap_claims_bs(const kva_trap *t, int64_t bs);

/* ---- lib/trap_route.c ---- */

/* Run the queued route cases in the child, pinning crashes, hangs and
 * garbled answers to their case.  Returns 0 or -1 with e (trouble). */
int kva_trap_route_queue(kva_trap *t, kva_err *e);
/* Classify every queued case against the oracle (cls), then refine the
 * misroutes into permutations and collisions within their world. */
void kva_trap_route_judge(kva_trap *t);
/* Hash of a case's world: the inputs and tables that fix its cache. */
uint64_t kva_trap_world_hash(const kva_trap *t, const struct tcase *k);

/* ---- lib/trap_kernel.c ---- */


/* Run the queued cases through the write or gather kernel, in calls of
 * one block size and distinct slots, and classify every token.  Returns 0
 * or -1 with e (trouble: a call that cannot be set up). */
int kva_trap_kernel_queue(kva_trap *t, kva_err *e);
/* The engine-sized calls of a kernel's --boundaries: calls of 1 to 65537
 * tokens (within --batch) around the usual tile and grid sizes, several
 * sequences each, padding at the ends and in between.  Returns 0 or -1
 * with e. */
int kva_trap_kernel_calls(kva_trap *t, kva_err *e);
/* The layout of a K/V pair's value cache (--value-layout, else
 * --layout's). */
int kva_trap_value_layout(const kva_trap *t);
/* The inner strides of a strided view of d: its last dimension
 * contiguous, a gap of 0 to 3 elements (taken from *r, which is shifted
 * past them) after each inner dimension.  Returns the span of a block;
 * stride[0] and the offset are left to the caller. */
int64_t kva_trap_view_strides(kva_cache_desc *d, uint64_t *r);
/* A case's slot for the kernels (-1: no write) and its block size. */
int64_t kva_trap_case_slot(const kva_trap *t, const struct tcase *k);
int64_t kva_trap_case_bs(const kva_trap *t, const struct tcase *k);
/* The same from a case's inputs (a kernel oracle's). */
int64_t kva_trap_inputs_bs(const kva_trap *t, const int64_t *in);
/* Element pos (head * head_dim + dim) of the payload row of the token
 * with identity id (its index in the run + 1): random bits of a finite
 * float, from the run's seed. */
float kva_trap_kval(uint64_t seed, uint64_t id, uint64_t pos);

#endif
