/*
 * mutate.h - mutants of a C candidate (lib/mutate.c), for grad-trap
 * --mutate: how many wrong kernels a case set would catch.
 *
 * A small C tokenizer (no compiler plugin) finds the function bodies of
 * the source and applies each operator at each place it fits; every
 * mutant is the whole source with one change.  Comments, strings,
 * character constants and preprocessor lines are never mutated.
 */
#ifndef KVA_MUTATE_H
#define KVA_MUTATE_H

#include "kvarbiter.h"

/* The operators, by the name records carry ("op"). */
#define KVA_MUT_ARITH      "arith"       /* + - * / % swapped for another */
#define KVA_MUT_REL        "rel"         /* < <= > >= == != swapped */
#define KVA_MUT_CONST      "const"       /* integer constant +1, -1; 0 <-> 1 */
#define KVA_MUT_DROP_TERM  "drop-term"   /* "a % x" or "a / x" -> "a" */
#define KVA_MUT_SWAP_ARGS  "swap-args"   /* two call arguments of one type */
#define KVA_MUT_SWAP_INDEX "swap-index"  /* a[i][j] -> a[j][i] (same type) */
#define KVA_MUT_SWAP_OUT   "swap-out"    /* out[0] = ..; out[1] = .. swapped */
#define KVA_MUT_DEL_WRITE  "del-write"   /* a statement writing an output gone */
#define KVA_MUT_NARROW     "narrow"      /* int64_t declaration -> int32_t */
#define KVA_MUT_LOOP_BOUND "loop-bound"  /* for-loop bound off by one */
#define KVA_MUT_VAR        "var"         /* a variable for another in scope,
					  * of the same declared type */

typedef struct kva_mutant {
	unsigned id;       /* 1, 2, ... in generation order (deterministic) */
	const char *op;    /* KVA_MUT_* */
	int line, col;     /* of the change in the original, 1-based */
	char *patch;       /* the change on one line: "LINE:COL: OLD -> NEW"
			    * with OLD and NEW the replaced and replacing text
			    * (newlines and tabs as spaces) */
	char *src;         /* the whole mutated source, NUL-terminated */
	size_t len;
} kva_mutant;

/*
 * The mutants of the C source src[0..len): one per operator and place,
 * and per alternative where an operator has several (each other
 * arithmetic operator, ...), in source order; mutants whose text equals
 * the original or an earlier mutant's are left out.  Returns 0 with *out
 * (free with kva_mutants_free) and *n, or -1 with e when src is not C the
 * tokenizer can read (an unterminated comment or string, unbalanced
 * braces, no function body).
 */
int kva_mutate(const char *src, size_t len, kva_mutant **out, size_t *n,
	       kva_err *e);
void kva_mutants_free(kva_mutant *m, size_t n);

#endif
