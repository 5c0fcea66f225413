/*
 * expr_internal.h - the parsed form of a formula file, shared by the
 * evaluator (lib/expr.c) and the case generators (lib/gen.c).  Not part
 * of the public face in kvarbiter.h: only lib/ includes it.
 *
 * A formula is a flat array of nodes (children are indices into the same
 * array) plus a list of statements, each pointing at the root node of its
 * expression.  Every node is reachable from some statement.
 */
#ifndef EXPR_INTERNAL_H
#define EXPR_INTERNAL_H

#include "kvarbiter.h"

#define KVA_EXPR_MAX_DEPTH 64 /* deepest expression tree accepted */
#define KVA_EXPR_MAX_VAL 64   /* let and out statements together */

enum kva_op {
	KVA_OP_CONST,  /* v: the value */
	KVA_OP_IN,     /* v: scalar input index */
	KVA_OP_VAL,    /* v: value slot (a let or an out defined earlier) */
	KVA_OP_IDX,    /* v: table index; a: index expression */
	KVA_OP_LEN,    /* v: table index */
	KVA_OP_SORTED, /* v: table index */
	KVA_OP_NEG,    /* a */
	KVA_OP_NOT,    /* a */
	KVA_OP_ADD, KVA_OP_SUB, KVA_OP_MUL, KVA_OP_DIV, KVA_OP_MOD, /* a, b */
	KVA_OP_MIN, KVA_OP_MAX,                                    /* a, b */
	KVA_OP_LT, KVA_OP_LE, KVA_OP_GT, KVA_OP_GE, KVA_OP_EQ, KVA_OP_NE,
	KVA_OP_AND, KVA_OP_OR, /* a, b; short-circuit */
	KVA_OP_IF              /* a ? b : c; only the chosen arm runs */
};

struct kva_node {
	int op;    /* enum kva_op */
	int a;     /* first child, or -1 */
	int b;     /* second child, or -1 */
	int c;     /* third child (if), or -1 */
	int h;     /* height of the subtree (a leaf is 1) */
	int64_t v; /* see enum kva_op */
};

enum kva_stmt_kind {
	KVA_ST_REQUIRE, KVA_ST_LET, KVA_ST_OUT, KVA_ST_PADDING, KVA_ST_UNMAPPED
};

struct kva_stmt {
	int kind;          /* enum kva_stmt_kind */
	int expr;          /* root node of the expression */
	int slot;          /* LET, OUT: the value slot it defines; else -1 */
	const char *field; /* REQUIRE: field named when it fails; may be NULL */
	int line;          /* source line */
};

struct kva_formula {
	char *text;                          /* copy of the source, NUL-ended */
	char *name;                          /* oracle name */
	int nin;                             /* scalar inputs, ABI order */
	char *in[KVA_MAX_IN];
	int ntab;                            /* table inputs, ABI order */
	char *tab[KVA_MAX_TAB];
	int nval;                            /* let and out names, in order */
	char *val[KVA_EXPR_MAX_VAL];
	int val_expr[KVA_EXPR_MAX_VAL];      /* defining expression of each */
	const char *val_first[KVA_EXPR_MAX_VAL]; /* first input or table
					      * name it uses, lets expanded */
	int nout;                            /* outputs, ABI order */
	int out_slot[KVA_MAX_OUT];           /* value slot of each output */
	struct kva_node *node;               /* the expression nodes */
	int nnode, capnode;
	struct kva_stmt *stmt;               /* statements in file order */
	int nstmt, capstmt;
};

/*
 * Evaluate node n of f, lets and outs included: each one is evaluated
 * in order first and those that fail count as unknown.  Only the scalar
 * inputs whose bit is set in
 * inmask and the tables whose bit is set in tabmask may be read; reading
 * another one fails like an evaluation error does.  Returns 0 with *out
 * set, or -1 (unknown input, overflow, division by zero, bad index).
 * Used by the generators to try partial assignments.
 */
int kva_expr_peval(const struct kva_formula *f, int n, const kva_args *a,
		   unsigned inmask, unsigned tabmask, int64_t *out);

/*
 * Canonical text of node n into buf (size n >= 1), truncated to fit and
 * always NUL-terminated.
 */
void kva_expr_sprint(const struct kva_formula *f, int n, char *buf,
		     size_t size);

#endif
