/*
 * trap.h - the gradient trap for route candidates (grad-trap(1)).
 *
 * Every token t carries a signature row g_t.  The trap scatters the g_t
 * once through the candidate and once through the oracle: the gradient of
 * L = sum_t <KV[route(t)], g_t> with respect to the cache.  Where a
 * candidate puts every token in its oracle cell the two gradients are
 * equal by construction, so the fast path compares coordinates; a token
 * that lands elsewhere contributes |g_t| = 1 to max|G_cand - G_oracle|
 * (divergence 1.00e+00 for one fully misrouted token, as ImpactArbiter
 * prints) and is classified against the other tokens of its batch.
 */
#ifndef KVA_TRAP_H
#define KVA_TRAP_H

#include "kvarbiter.h"
#include "sandbox.h"

enum kva_kind { KVA_KIND_ROUTE, KVA_KIND_WRITE, KVA_KIND_GATHER,
		KVA_KIND_COPY_BLOCKS, KVA_KIND_SWAP_BLOCKS };
extern const char *const kva_kind_names[5];
/* The block-copy kinds (kva_copy_blocks, kva_swap_blocks). */
#define KVA_KIND_BLOCKS(k) ((k) == KVA_KIND_COPY_BLOCKS || (k) == KVA_KIND_SWAP_BLOCKS)
/* "nhd", "hnd", "vllm-x", by enum kva_layout. */
extern const char *const kva_layout_names[3];
/* "f32", "f16", "bf16", by enum kva_dtype. */
extern const char *const kva_dtype_names[3];

enum kva_class {
	KVA_C_MISROUTE, KVA_C_PERMUTATION, KVA_C_COLLISION, KVA_C_OOB,
	KVA_C_UNMAPPED_WRITE, KVA_C_MISSING, KVA_C_STRAY_WRITE,
	KVA_C_PARTIAL_ROW, KVA_C_KV_MIXUP, KVA_C_INPUT_MUTATION, KVA_C_NONDETERMINISTIC,
	KVA_C_CRASH, KVA_C_TIMEOUT, KVA_C_ERROR, KVA_C_N
};
extern const char *const kva_class_names[KVA_C_N];

/* One diverging case as the trap judged it, for grad-trap --mutate's kill
 * matrix (kva_trap_conf.on_div). */
typedef struct kva_trap_div {
	uint64_t index;          /* the case's index over the run */
	const char *file;        /* as given to kva_trap_add ("" generated) */
	long line;               /* 0: a generated case */
	int cls;                 /* enum kva_class */
	const char *phase;       /* "load" or "soak": a finding outside any
	                            case (index, file, line, case_json unset);
	                            NULL for a case */
	const char *case_json;   /* the case as a "case" record grad-trap reads
	                            back (no newline), or NULL */
} kva_trap_div;

typedef struct kva_trap_conf {
	const kva_oracle *o;
	const char *so;          /* candidate shared object (dlopen'd in the child) */
	const char *cmd;         /* or a co-process command */
	const char *cand_name;   /* as shown in records */
	char sha256[65];         /* of the candidate's source or command */
	kva_sbx_limits lim;
	double tol;
	int head_dim;            /* floats per token row (maps, dumps) */
	int64_t max_map;         /* divergence records printed */
	size_t batch;            /* cases per child round trip */
	uint64_t seed;
	int text;                /* --format text: no JSON records */
	int kind;                /* enum kva_kind */
	int layout;              /* write, gather: enum kva_layout */
	int vlayout;             /* a K/V pair's value cache: enum kva_layout,
	                            or -1: as layout */
	int dtype;               /* a K/V pair's key cache: enum kva_dtype */
	int vdtype;              /* its value cache's, or -1: as dtype */
	int heads;               /* write, gather: H */
	int x;                   /* write, gather: vllm-x chunk */
	int stride_pad;          /* write, gather: row stride is H*D + this */
	int cuda;                /* --device cuda: kernels get device pointers */
	int max_hangs;           /* timeouts before the rest is not run */
	int repeat;              /* runs of each kernel call (>= 1) */
	uint64_t soak;           /* calls each child makes before the cases */
	int soak_set;            /* --soak given (else 65536, CPU children) */
	/* called for every diverging case, not only the first max_map, and
	 * for a load or soak finding; NULL: none (grad-trap --mutate) */
	void (*on_div)(void *ctx, const kva_trap_div *d);
	void *on_div_ctx;
	int stop_first;          /* the first diverging case, crash or hang
	                            stops the run: the rest is not run
	                            (--mutate without --minimize) */
} kva_trap_conf;

typedef struct kva_trap kva_trap;

/* Start the candidate: load it in a confined child.  A file that is no
 * candidate (cannot be loaded, lacks the symbol) or a child that cannot
 * be set up is trouble: NULL with e filled.  A candidate that crashes,
 * exits or hangs while loading is a finding (phase "load"): the trap is
 * returned, every case is then counted as not run. */
kva_trap *kva_trap_new(const kva_trap_conf *c, kva_err *e);
/* Queue one case; runs a batch when full.  file/line name its source
 * (line 0 for generated cases).  Returns 0, or -1 with e (trouble). */
int kva_trap_add(kva_trap *t, const kva_args *a, const kva_route *expect,
		 const char *file, long line, kva_err *e);
/* Run what is queued. */
int kva_trap_flush(kva_trap *t, kva_err *e);
/* Built-in generator mode: the child generates the cases itself (no JSON,
 * no pipe per case).  mode is "boundaries", "sweep" (arg = spec) or
 * "random" (n).  Returns 0 or -1 with e. */
int kva_trap_generate(kva_trap *t, const char *mode, const char *arg,
		      uint64_t n, const kva_gen_opts *go, kva_err *e);
/* ---- the block-copy kinds (lib/trap_blocks.c) ---- */

/* One "blocks" record (kvarbiter(7)): the call it makes. */
typedef struct kva_blocks_case {
	int64_t block_size;
	int64_t num_blocks;      /* blocks of the cache (swap: the source) */
	int64_t dst_blocks;      /* swap: blocks of the destination cache */
	int64_t *pairs;          /* npairs [src, dst], flattened (owned) */
	int64_t npairs;
	int dst_layout;          /* swap: the destination's layout (enum
	                            kva_layout); copy: unused */
	int strided;             /* -1: every other call (when the kernel
	                            declares KVA_CAN_STRIDED); 0, 1: this call */
	const char *label;       /* --boundaries: the case's name, or NULL */
} kva_blocks_case;

/* Read a "blocks" record's fields into c (the trap's kind says whether
 * dst_blocks is allowed; layouts from the conf).  Ids outside their
 * cache, a destination named twice or a cache too large for the trap
 * are bad input: -1 with e naming the field.  free with
 * kva_blocks_case_free. */
int kva_blocks_parse(const kva_trap_conf *c, const kva_jval *root,
		     kva_blocks_case *bc, kva_err *e);
void kva_blocks_case_free(kva_blocks_case *bc);
/* Run one record as one call and judge it (file/line name it: line 0
 * for generated ones).  Returns 0, or -1 with e (trouble). */
int kva_trap_blocks_add(kva_trap *t, const kva_blocks_case *bc, const char *file,
			long line, kva_err *e);
/* The built-in generators: mode "boundaries" or "random" (n records).
 * Returns 0 or -1 with e. */
int kva_trap_blocks_generate(kva_trap *t, const char *mode, uint64_t n, kva_err *e);

/* 0 for PASS, 1 for HARD_BLOCK. */
int kva_trap_verdict(const kva_trap *t);
/* The summary record (JSON) into b. */
void kva_trap_summary(const kva_trap *t, kva_buf *b);
/* The human report: verdict line, divergence map, heat map. */
void kva_trap_text(const kva_trap *t, kva_buf *b);
/* The two gradients of the smallest failing token (the oracle's row at
 * its cell, the candidate's at the cell it chose) as a tensor dump
 * (kvarbiter(7)).  Returns 0 or -1 with e. */
int kva_trap_dump(const kva_trap *t, const char *path, kva_err *e);
/* Facts for the trace store. */
typedef struct kva_trap_facts {
	uint64_t cases, diverged;
	double divergence, seconds;
	const char *verdict;
	char first_case[1024];   /* JSON of the smallest failing case, or "" */
	char classes[512];       /* JSON object of per-class counts */
	uint64_t not_run;        /* cases never run (hang budget, load) */
	uint64_t overflow_calls; /* a kernel's calls past 2^31 elements */
	char confinement[512];   /* JSON object: the layers that held */
} kva_trap_facts;
void kva_trap_get_facts(const kva_trap *t, kva_trap_facts *f);
void kva_trap_free(kva_trap *t);

/* The loader child's whole program: grad-trap calls it when its argv[1]
 * is "--sandbox-child" (lib/trap_child.c, wire in lib/trap_proto.h).
 * Never returns. */
int kva_trap_child_main(int argc, char **argv) __attribute__((noreturn));
/* The unit-test child of grad-trap --mutate --unit-test: argv[1] is
 * "--sandbox-unit" (lib/trap_child.c).  Never returns. */
int kva_unit_child_main(int argc, char **argv) __attribute__((noreturn));

#endif
