/*
 * candidate.h - building candidates for grad-trap (lib/candidate.c).
 */
#ifndef KVA_CANDIDATE_H
#define KVA_CANDIDATE_H

#include "kvarbiter.h"
#include "sandbox.h"

typedef struct kva_candidate {
	char so[4200];     /* shared object to dlopen */
	char sha256[65];   /* of the candidate's file */
	int cuda;          /* built with nvcc: needs --device cuda */
} kva_candidate;

/* How builds are confined (enum kva_sbx_confine; grad-trap sets it from
 * --confine / --no-confine): the compiler runs in the sandbox too. */
extern int kva_candidate_confine;

/*
 * Prepare the candidate at path (.so as is; .c with $CC or cc, .cu with
 * nvcc, cached under cache_dir or the default cache).  The compiler
 * runs confined (sandbox.h, co-process profile) on a copy of the source
 * named as the file is; its messages go to stderr.  Returns 0, or -1 with e ("build failed").
 */
/* The default cache directory: $KVA_CACHE_DIR, $XDG_CACHE_HOME/kvarbiter,
 * $HOME/.cache/kvarbiter, else /tmp/kvarbiter-cache-UID (made when used). */
void kva_default_cache(char *dir, size_t n);

int kva_candidate_build(const char *path, const char *cache_dir,
			kva_candidate *c, kva_err *e);

/*
 * The same for a .c or .cu source held in memory, src[0..len): name is
 * the file the compiler sees (its last component) and messages name; its
 * extension picks the compiler.  quiet drops the compiler's messages
 * (grad-trap --mutate: mutants that do not compile are counted, not
 * shown).  Returns 0; 1 when the compiler failed (e: "NAME: build failed
 * (cc exit N)"); or -1 with e for trouble (no sandbox, a build that never
 * ends, a cache that cannot be written).
 */
int kva_candidate_build_src(const char *name, const char *src, size_t len,
			    const char *cache_dir, int quiet, kva_candidate *c,
			    kva_err *e);

#endif
