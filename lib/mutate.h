/*
 * mutate.h - mutants of a C candidate (lib/mutate.c), for grad-trap
 * --mutate: how many wrong kernels a case set would catch.
 *
 * A small C tokenizer (no compiler plugin) finds the function bodies of
 * the source and applies each operator at each place it fits; every
 * mutant is the whole source with one change.  Comments, strings,
 * character constants and preprocessor lines are never mutated, nor is
 * anything outside function bodies, nor the body of a function named
 * test_route (the candidate's own unit test, grad-trap --unit-test).
 *
 * Types: a variable's declared type is its parameter's or local
 * declaration's type words and pointer levels (an array dimension counts
 * as one), less storage class and less const/volatile of the variable
 * itself (const int64_t and int64_t are one type; const float * and
 * float * are two).  A local is in scope from the end of its declarator
 * to the end of its block (a for clause's: of the loop).
 *
 * The rules, where C leaves a choice:
 *   arith       a binary + - * / % (one after an identifier, a number, a
 *               string, ')' not closing a cast or an if/for/while/switch
 *               head, ']' or a postfix ++/--) by each of the other four;
 *               after a pointer variable only + and -.  Compound
 *               assignments (+=, ...), unary minus, dereferences and
 *               declarators' '*' are left alone.
 *   rel         each of < <= > >= == != by each of the other five.
 *   const       an integer literal (decimal, octal or hex, suffix kept)
 *               v -> v+1 and v -> v-1 when v > 0: that is 0 -> 1 and
 *               1 -> 0 too.  Not floats, nor array sizes in declarators.
 *   drop-term   "a / x" and "a % x" -> "a": a the operand before (an
 *               identifier or constant with postfix [..] (..) .f ->f,
 *               or a parenthesised group), x the primary after; not
 *               when x is a cast.
 *   swap-args   two arguments of one call, each a plain variable, of one
 *               type and different names: one mutant per pair.
 *   swap-index  a[i][j] -> a[j][i], i and j variables of one type.
 *   swap-out    "P[k1] = E1;" and "P[k2] = E2;", statements of one block
 *               (not an if's or loop's body) with integer constant
 *               indices: k1 and k2 exchanged, one mutant per pair.
 *   del-write   a statement assigning (= op= ++ --) to P[..], P->f or
 *               *P, P a pointer parameter, replaced by ";" (its newlines
 *               kept, so the lines after it keep their numbers).
 *   narrow      each int64_t among the type words of a local declaration
 *               -> int32_t (not a parameter's: kvarbiter_candidate.h
 *               declares every entry point, so such a mutant would never
 *               compile, and a 32-bit intermediate is the bug to catch).
 *   loop-bound  for (..; i REL E; ..) with REL one of < <= > >= the only
 *               operator of the condition binding as loosely: E -> E + 1
 *               and E - 1 ("(E) + 1" unless E is one primary); not when E
 *               is an integer constant, which const changes already.
 *   var         each use of a variable (not its declarator, not a member
 *               name) by each other variable in scope of the same type,
 *               in declaration order; not a const one where the use is
 *               written.
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
	int line, col;     /* of the change in the original, 1-based; col
			    * counts bytes (a tab is one column) */
	char *patch;       /* the change on one line: "LINE:COL: OLD -> NEW"
			    * with OLD and NEW the replaced and replacing text
			    * (each run of blanks and newlines as one space) */
	char *src;         /* the whole mutated source, NUL-terminated */
	size_t len;
} kva_mutant;

/*
 * The mutants of the C source src[0..len): one per operator and place,
 * and per alternative where an operator has several (each other
 * arithmetic operator, ...), in source order; mutants whose text equals
 * the original or an earlier mutant's are left out.  Ordered by the
 * place of the change (the start of OLD), then operator (the order of the
 * KVA_MUT_* above), then alternative.  Returns 0 with *out (free with
 * kva_mutants_free) and *n, or -1 with e when src is not C the tokenizer
 * can read: "unterminated comment at L:C" (string, character constant),
 * "unbalanced braces at L:C" (parentheses, brackets; the bracket without
 * a partner), "stray '@' at L:C", "no function body"; e->line and e->col
 * are set where the message has a place.
 */
int kva_mutate(const char *src, size_t len, kva_mutant **out, size_t *n,
	       kva_err *e);
void kva_mutants_free(kva_mutant *m, size_t n);

#endif
