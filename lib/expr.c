/*
 * expr.c - the formula language: a small line-oriented file that defines a
 * routing oracle as checked int64 expressions over named inputs and
 * tables (SPEC section 3; the reference is route-oracle(1)).
 *
 * Parsing builds a flat node array (struct kva_formula in expr_internal.h);
 * evaluation walks it recursively without allocating.  The depth of every
 * expression is bounded at parse time, so evaluation cannot run away with
 * the stack.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"
#include "expr_internal.h"

/* ---- printing ----------------------------------------------------------- */

/* Where printed text goes: a stream, or a fixed buffer that truncates. */
struct sink {
	FILE *fp;    /* non-NULL: write here */
	char *buf;   /* else: append here, always NUL-terminated */
	size_t size; /* bytes in buf */
	size_t len;  /* bytes used, not counting the NUL */
};

/* Append n bytes of p to s (silently truncating a buffer sink). */
static void sink_put(struct sink *s, const char *p, size_t n)
{
	if (s->fp) {
		fwrite(p, 1, n, s->fp);
		return;
	}
	if (s->len + 1 >= s->size)
		return;
	if (n > s->size - 1 - s->len)
		n = s->size - 1 - s->len;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

/* Append the string p to s. */
static void sink_puts(struct sink *s, const char *p)
{
	sink_put(s, p, strlen(p));
}

/* Append v in decimal to s. */
static void sink_i64(struct sink *s, int64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%lld", (long long)v);
	sink_puts(s, tmp);
}

/* Binding strength of node nd as printed: higher binds tighter. */
static int prec(const struct kva_node *nd)
{
	switch (nd->op) {
	case KVA_OP_OR:
		return 1;
	case KVA_OP_AND:
		return 2;
	case KVA_OP_NOT:
		return 3;
	case KVA_OP_LT: case KVA_OP_LE: case KVA_OP_GT: case KVA_OP_GE:
	case KVA_OP_EQ: case KVA_OP_NE:
		return 4;
	case KVA_OP_ADD: case KVA_OP_SUB:
		return 5;
	case KVA_OP_MUL: case KVA_OP_DIV: case KVA_OP_MOD:
		return 6;
	case KVA_OP_NEG:
		return 7;
	case KVA_OP_CONST:
		return nd->v < 0 ? 7 : 8;
	default:
		return 8;
	}
}

/* Spelling of a binary operator, with its surrounding spaces. */
static const char *binop_text(int op)
{
	switch (op) {
	case KVA_OP_OR: return " or ";
	case KVA_OP_AND: return " and ";
	case KVA_OP_LT: return " < ";
	case KVA_OP_LE: return " <= ";
	case KVA_OP_GT: return " > ";
	case KVA_OP_GE: return " >= ";
	case KVA_OP_EQ: return " == ";
	case KVA_OP_NE: return " != ";
	case KVA_OP_ADD: return " + ";
	case KVA_OP_SUB: return " - ";
	case KVA_OP_MUL: return " * ";
	case KVA_OP_DIV: return " div ";
	case KVA_OP_MOD: return " mod ";
	default: return " ? ";
	}
}

/*
 * Print node n so that it parses back to the same tree when it stands
 * where an operand of binding strength minprec is expected: parentheses
 * only where the precedence rules need them.
 */
static void print_node(const struct kva_formula *f, int n, int minprec,
		       struct sink *s)
{
	const struct kva_node *nd = &f->node[n];
	int p = prec(nd), open = p < minprec;

	if (open)
		sink_puts(s, "(");
	switch (nd->op) {
	case KVA_OP_CONST:
		sink_i64(s, nd->v);
		break;
	case KVA_OP_IN:
		sink_puts(s, f->in[nd->v]);
		break;
	case KVA_OP_VAL:
		sink_puts(s, f->val[nd->v]);
		break;
	case KVA_OP_IDX:
		sink_puts(s, f->tab[nd->v]);
		sink_puts(s, "[");
		print_node(f, nd->a, 0, s);
		sink_puts(s, "]");
		break;
	case KVA_OP_LEN:
	case KVA_OP_SORTED:
		sink_puts(s, nd->op == KVA_OP_LEN ? "len(" : "sorted(");
		sink_puts(s, f->tab[nd->v]);
		sink_puts(s, ")");
		break;
	case KVA_OP_NEG:
		sink_puts(s, "-");
		/* "-(-x)" rather than "--x" */
		print_node(f, nd->a, prec(&f->node[nd->a]) == 7 ? 8 : 7, s);
		break;
	case KVA_OP_NOT:
		sink_puts(s, "not ");
		print_node(f, nd->a, 3, s);
		break;
	case KVA_OP_MIN:
	case KVA_OP_MAX:
		sink_puts(s, nd->op == KVA_OP_MIN ? "min(" : "max(");
		print_node(f, nd->a, 0, s);
		sink_puts(s, ", ");
		print_node(f, nd->b, 0, s);
		sink_puts(s, ")");
		break;
	case KVA_OP_IF:
		sink_puts(s, "if(");
		print_node(f, nd->a, 0, s);
		sink_puts(s, ", ");
		print_node(f, nd->b, 0, s);
		sink_puts(s, ", ");
		print_node(f, nd->c, 0, s);
		sink_puts(s, ")");
		break;
	default: {
		const struct kva_node *l = &f->node[nd->a];
		int lp = p == 4 ? 5 : p; /* comparisons do not chain */

		/* "(a div b) mod c" reads better than the equivalent
		 * "a div b mod c": only a * b * c goes bare */
		if (p == 6 && prec(l) == 6 &&
		    (nd->op != KVA_OP_MUL || l->op != KVA_OP_MUL))
			lp = 7;
		print_node(f, nd->a, lp, s);
		sink_puts(s, binop_text(nd->op));
		print_node(f, nd->b, p + 1, s);
		break;
	}
	}
	if (open)
		sink_puts(s, ")");
}

/* See expr_internal.h. */
void kva_expr_sprint(const struct kva_formula *f, int n, char *buf,
		     size_t size)
{
	struct sink s = { NULL, buf, size, 0 };

	buf[0] = '\0';
	print_node(f, n, 0, &s);
}

/* See kvarbiter.h.  Comments and blank lines are not kept; declarations
 * come first (one input line, one table line), then the other statements
 * in file order. */
void kva_formula_print(const struct kva_formula *f, FILE *fp)
{
	static const char *const kw[] = {
		"require", "let", "out", "padding", "unmapped"
	};
	struct sink s = { fp, NULL, 0, 0 };

	fprintf(fp, "oracle %s\ninput", f->name);
	for (int i = 0; i < f->nin; i++)
		fprintf(fp, " %s", f->in[i]);
	fputc('\n', fp);
	if (f->ntab) {
		fputs("table", fp);
		for (int i = 0; i < f->ntab; i++)
			fprintf(fp, " %s", f->tab[i]);
		fputc('\n', fp);
	}
	for (int i = 0; i < f->nstmt; i++) {
		const struct kva_stmt *st = &f->stmt[i];

		fprintf(fp, "%s ", kw[st->kind]);
		if (st->kind == KVA_ST_LET || st->kind == KVA_ST_OUT)
			fprintf(fp, "%s = ", f->val[st->slot]);
		print_node(f, st->expr, 0, &s);
		fputc('\n', fp);
	}
}

/* ---- evaluation --------------------------------------------------------- */

enum { EV_OK, EV_UNKNOWN, EV_DIV0, EV_OVF, EV_INDEX };

/* One evaluation in progress. */
struct ev {
	const struct kva_formula *f;
	const kva_args *a;
	int64_t *vals;       /* values of lets and outs */
	uint64_t valok;      /* value slots that may be read */
	unsigned inmask;     /* scalar inputs that may be read */
	unsigned tabmask;    /* tables that may be read */
	int err;             /* EV_* of the first failure */
	int errnode;         /* node that failed */
	int64_t errval;      /* EV_INDEX: the bad index */
};

/* Record failure kind at node n; returns -1. */
static int ev_fail(struct ev *c, int n, int kind)
{
	c->err = kind;
	c->errnode = n;
	return -1;
}

/*
 * Evaluate node n into *out.  Returns 0, or -1 with c->err saying why.
 * and, or and if evaluate only the operands they need.
 */
static int ev(struct ev *c, int n, int64_t *out)
{
	const struct kva_node *nd = &c->f->node[n];
	const kva_table *t;
	int64_t x, y;

	switch (nd->op) {
	case KVA_OP_CONST:
		*out = nd->v;
		return 0;
	case KVA_OP_IN:
		if (!(c->inmask >> nd->v & 1))
			return ev_fail(c, n, EV_UNKNOWN);
		*out = c->a->in[nd->v];
		return 0;
	case KVA_OP_VAL:
		if (!(c->valok >> nd->v & 1))
			return ev_fail(c, n, EV_UNKNOWN);
		*out = c->vals[nd->v];
		return 0;
	case KVA_OP_IDX:
		if (!(c->tabmask >> nd->v & 1))
			return ev_fail(c, n, EV_UNKNOWN);
		if (ev(c, nd->a, &x))
			return -1;
		t = &c->a->tab[nd->v];
		if (x < 0 || (uint64_t)x >= t->n) {
			c->errval = x;
			return ev_fail(c, n, EV_INDEX);
		}
		*out = t->v[x];
		return 0;
	case KVA_OP_LEN:
	case KVA_OP_SORTED:
		if (!(c->tabmask >> nd->v & 1))
			return ev_fail(c, n, EV_UNKNOWN);
		t = &c->a->tab[nd->v];
		if (nd->op == KVA_OP_LEN) {
			*out = (int64_t)t->n;
			return 0;
		}
		*out = 1;
		for (size_t i = 1; i < t->n; i++)
			if (t->v[i - 1] > t->v[i]) {
				*out = 0;
				break;
			}
		return 0;
	case KVA_OP_NEG:
		if (ev(c, nd->a, &x))
			return -1;
		if (x == INT64_MIN)
			return ev_fail(c, n, EV_OVF);
		*out = -x;
		return 0;
	case KVA_OP_NOT:
		if (ev(c, nd->a, &x))
			return -1;
		*out = !x;
		return 0;
	case KVA_OP_AND:
	case KVA_OP_OR:
		if (ev(c, nd->a, &x))
			return -1;
		if ((x != 0) == (nd->op == KVA_OP_OR)) {
			*out = x != 0;
			return 0;
		}
		if (ev(c, nd->b, &y))
			return -1;
		*out = y != 0;
		return 0;
	case KVA_OP_IF:
		if (ev(c, nd->a, &x))
			return -1;
		return ev(c, x ? nd->b : nd->c, out);
	default:
		break;
	}
	if (ev(c, nd->a, &x) || ev(c, nd->b, &y))
		return -1;
	switch (nd->op) {
	case KVA_OP_ADD:
		if (__builtin_add_overflow(x, y, out))
			return ev_fail(c, n, EV_OVF);
		return 0;
	case KVA_OP_SUB:
		if (__builtin_sub_overflow(x, y, out))
			return ev_fail(c, n, EV_OVF);
		return 0;
	case KVA_OP_MUL:
		if (__builtin_mul_overflow(x, y, out))
			return ev_fail(c, n, EV_OVF);
		return 0;
	case KVA_OP_DIV:
		if (y == 0)
			return ev_fail(c, n, EV_DIV0);
		if (x == INT64_MIN && y == -1)
			return ev_fail(c, n, EV_OVF);
		*out = kva_floordiv(x, y);
		return 0;
	case KVA_OP_MOD:
		if (y == 0)
			return ev_fail(c, n, EV_DIV0);
		*out = y == -1 ? 0 : kva_floormod(x, y); /* INT64_MIN % -1 */
		return 0;
	case KVA_OP_MIN: *out = x < y ? x : y; return 0;
	case KVA_OP_MAX: *out = x > y ? x : y; return 0;
	case KVA_OP_LT: *out = x < y; return 0;
	case KVA_OP_LE: *out = x <= y; return 0;
	case KVA_OP_GT: *out = x > y; return 0;
	case KVA_OP_GE: *out = x >= y; return 0;
	case KVA_OP_EQ: *out = x == y; return 0;
	case KVA_OP_NE: *out = x != y; return 0;
	default:
		return ev_fail(c, n, EV_UNKNOWN); /* not reached */
	}
}

/* See expr_internal.h.  Every let and out is tried in order first (each
 * once: a chain of lets that use the previous one twice stays linear). */
int kva_expr_peval(const struct kva_formula *f, int n, const kva_args *a,
		   unsigned inmask, unsigned tabmask, int64_t *out)
{
	int64_t vals[KVA_EXPR_MAX_VAL];
	struct ev c = { f, a, vals, 0, inmask, tabmask, EV_OK, -1, 0 };

	for (int i = 0; i < f->nval; i++)
		if (!ev(&c, f->val_expr[i], &vals[i]))
			c.valok |= (uint64_t)1 << i;
	return ev(&c, n, out);
}

/*
 * The first input or table name under node n in source order (a table
 * before its index), or NULL.  expand: look through lets and outs into
 * their expressions (only with !scalar_only); scalar_only: skip table
 * names.
 */
static const char *first_name(const struct kva_formula *f, int n, int expand,
			      int scalar_only)
{
	const struct kva_node *nd = &f->node[n];
	const char *r = NULL;

	switch (nd->op) {
	case KVA_OP_CONST:
		return NULL;
	case KVA_OP_IN:
		return f->in[nd->v];
	case KVA_OP_VAL:
		/* memoised at parse time for expand && !scalar_only, the only
		 * expanding use */
		return expand ? f->val_first[nd->v] : NULL;
	case KVA_OP_LEN:
	case KVA_OP_SORTED:
		return scalar_only ? NULL : f->tab[nd->v];
	case KVA_OP_IDX:
		if (!scalar_only)
			return f->tab[nd->v];
		break;
	default:
		break;
	}
	if (nd->a >= 0 && (r = first_name(f, nd->a, expand, scalar_only)))
		return r;
	if (nd->b >= 0 && (r = first_name(f, nd->b, expand, scalar_only)))
		return r;
	if (nd->c >= 0)
		r = first_name(f, nd->c, expand, scalar_only);
	return r;
}

/*
 * Describe the evaluation error c holds, met while running statement st
 * (not a require), in e.  Returns -1.
 */
static int eval_error(const struct kva_formula *f, const struct kva_stmt *st,
		      const struct ev *c, kva_err *e)
{
	const struct kva_node *nd = &f->node[c->errnode];
	const char *field;
	char text[160];

	kva_expr_sprint(f, c->errnode, text, sizeof text);
	switch (c->err) {
	case EV_DIV0:
		field = first_name(f, nd->b, 1, 0);
		return kva_errf(e, field ? field : first_name(f, st->expr, 1, 0),
				"division by zero in %s", text);
	case EV_INDEX:
		return kva_errf(e, f->tab[nd->v], "index %lld out of range in %s",
				(long long)c->errval, text);
	default:
		/* the scalar that scales the statement's value is the usual
		 * culprit: the first one it names itself */
		field = first_name(f, st->expr, 0, 1);
		if (!field)
			field = first_name(f, st->expr, 1, 0);
		if (st->kind == KVA_ST_LET || st->kind == KVA_ST_OUT)
			return kva_errf(e, field, "%s overflows int64",
					f->val[st->slot]);
		return kva_errf(e, field, "integer overflow in %s", text);
	}
}

/* See kvarbiter.h.  r is zeroed first; padding and unmapped leave out[]
 * zero. */
int kva_formula_eval(const struct kva_formula *f, const kva_args *a,
		     kva_route *r, kva_err *e)
{
	int64_t vals[KVA_EXPR_MAX_VAL];
	/* a slot is always written before a later statement reads it */
	struct ev c = { f, a, vals, ~(uint64_t)0, ~0u, ~0u, EV_OK, -1, 0 };

	memset(r, 0, sizeof *r);
	for (int i = 0; i < f->nstmt; i++) {
		const struct kva_stmt *st = &f->stmt[i];
		int64_t v;

		if (ev(&c, st->expr, &v) || (st->kind == KVA_ST_REQUIRE && !v)) {
			char text[200];

			if (st->kind != KVA_ST_REQUIRE)
				return eval_error(f, st, &c, e);
			kva_expr_sprint(f, st->expr, text, sizeof text);
			return kva_errf(e, st->field, "must satisfy %s", text);
		}
		switch (st->kind) {
		case KVA_ST_LET:
		case KVA_ST_OUT:
			vals[st->slot] = v;
			break;
		case KVA_ST_PADDING:
		case KVA_ST_UNMAPPED:
			if (v) {
				r->status = st->kind == KVA_ST_PADDING ?
					KVA_PADDING : KVA_UNMAPPED;
				return 0;
			}
			break;
		default:
			break;
		}
	}
	r->status = KVA_ROUTED;
	for (int i = 0; i < f->nout; i++)
		r->out[i] = vals[f->out_slot[i]];
	return 0;
}

/* ---- lexing ------------------------------------------------------------- */

enum tok {
	T_EOF, T_EOL, T_NAME, T_INT, T_PLUS, T_MINUS, T_STAR, T_LP, T_RP,
	T_LB, T_RB, T_COMMA, T_ASSIGN, T_LT, T_LE, T_GT, T_GE, T_EQ, T_NE,
	T_ERR
};

struct parser {
	const char *p, *end;  /* text not yet read */
	int line, col;        /* position of p (col counts characters) */
	int tok;              /* current token (enum tok) */
	const char *ts;       /* its text */
	size_t tn;            /* its length */
	int64_t tv;           /* T_INT: its value */
	int tline, tcol;      /* its position */
	int depth;            /* nesting of the expression being parsed */
	struct kva_formula *f;
	kva_err *e;
	int failed;           /* an error is in e; stop */
};

/* Report "LINE:COL: message" (the first error only); returns -1. */
static int perr(struct parser *ps, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int perr(struct parser *ps, int line, int col, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (ps->failed)
		return -1;
	ps->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return kva_errf(ps->e, NULL, "%d:%d: %s", line, col, msg);
}

/* Report at the current token. */
#define PERR(ps, ...) perr((ps), (ps)->tline, (ps)->tcol, __VA_ARGS__)

/* Can ch start a name? */
static int is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

/* Is ch a decimal digit? */
static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* Advance p by n bytes that make up one character. */
static void adv(struct parser *ps, size_t n)
{
	ps->p += n;
	ps->col++;
}

/* Skip blanks and a comment, stopping at a newline or the end. */
static void skip_blank(struct parser *ps)
{
	while (ps->p < ps->end) {
		if (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' ||
		    *ps->p == '\f' || *ps->p == '\v') {
			adv(ps, 1);
		} else if (*ps->p == '#') {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		} else {
			break;
		}
	}
}

/* Describe the current token for a message: 'x', end of line, end of
 * file. */
static const char *tok_desc(struct parser *ps, char *buf, size_t size)
{
	if (ps->tok == T_EOL)
		return "end of line";
	if (ps->tok == T_EOF)
		return "end of file";
	snprintf(buf, size, "'%.*s'", ps->tn > 40 ? 40 : (int)ps->tn, ps->ts);
	return buf;
}

/* Read the next token into ps->tok.  T_ERR has already been reported. */
static void next(struct parser *ps)
{
	const char *p;
	int ch;

	skip_blank(ps);
	ps->ts = p = ps->p;
	ps->tline = ps->line;
	ps->tcol = ps->col;
	ps->tn = 1;
	if (p == ps->end) {
		ps->tok = T_EOF;
		ps->tn = 0;
		return;
	}
	ch = (unsigned char)*p;
	if (ch == '\n') {
		ps->tok = T_EOL;
		ps->p++;
		ps->line++;
		ps->col = 1;
		return;
	}
	if (is_digit(ch)) {
		uint64_t v = 0;
		int big = 0;

		while (ps->p < ps->end && is_digit(*ps->p)) {
			v = v * 10 + (uint64_t)(*ps->p - '0');
			if (v > (uint64_t)INT64_MAX) {
				big = 1;
				v = (uint64_t)INT64_MAX;
			}
			adv(ps, 1);
		}
		while (ps->p < ps->end && (is_alpha(*ps->p) || is_digit(*ps->p)))
			adv(ps, 1);
		ps->tn = (size_t)(ps->p - p);
		ps->tok = T_ERR;
		if (is_alpha(p[ps->tn - 1]))
			PERR(ps, "bad number '%.*s'", (int)ps->tn, p);
		else if (big)
			PERR(ps, "integer literal %.*s out of range", (int)ps->tn, p);
		else
			ps->tok = T_INT;
		ps->tv = (int64_t)v;
		return;
	}
	if (is_alpha(ch)) {
		while (ps->p < ps->end && (is_alpha(*ps->p) || is_digit(*ps->p)))
			adv(ps, 1);
		ps->tn = (size_t)(ps->p - p);
		ps->tok = T_NAME;
		return;
	}
	/* U+00B7 MIDDLE DOT is multiplication, as in the SPEC's table */
	if (ch == 0xc2 && ps->end - p >= 2 && (unsigned char)p[1] == 0xb7) {
		adv(ps, 2);
		ps->tn = 2;
		ps->tok = T_STAR;
		return;
	}
	adv(ps, 1);
	switch (ch) {
	case '+': ps->tok = T_PLUS; return;
	case '-': ps->tok = T_MINUS; return;
	case '*': ps->tok = T_STAR; return;
	case '(': ps->tok = T_LP; return;
	case ')': ps->tok = T_RP; return;
	case '[': ps->tok = T_LB; return;
	case ']': ps->tok = T_RB; return;
	case ',': ps->tok = T_COMMA; return;
	case '<': case '>': case '=': case '!':
		if (ps->p < ps->end && *ps->p == '=') {
			adv(ps, 1);
			ps->tn = 2;
			ps->tok = ch == '<' ? T_LE : ch == '>' ? T_GE :
				ch == '=' ? T_EQ : T_NE;
			return;
		}
		if (ch != '!') {
			ps->tok = ch == '<' ? T_LT : ch == '>' ? T_GT : T_ASSIGN;
			return;
		}
		break;
	default:
		break;
	}
	ps->tok = T_ERR;
	if (ch >= 0x21 && ch < 0x7f)
		PERR(ps, "bad character '%c'", ch);
	else
		PERR(ps, "bad byte 0x%02x", ch);
}

/* Is the current token the word w? */
static int tok_is(const struct parser *ps, const char *w)
{
	return ps->tok == T_NAME && strlen(w) == ps->tn &&
		!memcmp(ps->ts, w, ps->tn);
}

/* Words that cannot be names: statement keywords and operators. */
static const char *const reserved[] = {
	"oracle", "input", "table", "require", "let", "out", "padding",
	"unmapped", "div", "mod", "and", "or", "not", "min", "max", "len",
	"sorted", "if", NULL
};

/* Is the current token a reserved word? */
static int tok_reserved(const struct parser *ps)
{
	for (int i = 0; reserved[i]; i++)
		if (tok_is(ps, reserved[i]))
			return 1;
	return 0;
}

/* ---- names -------------------------------------------------------------- */

enum { NAME_NONE, NAME_IN, NAME_TAB, NAME_VAL };

/* Look the current token up: returns NAME_* and sets *idx. */
static int lookup(const struct parser *ps, int *idx)
{
	const struct kva_formula *f = ps->f;

#define FIND(arr, cnt, kind) \
	for (int i = 0; i < (cnt); i++) \
		if (strlen((arr)[i]) == ps->tn && !memcmp((arr)[i], ps->ts, ps->tn)) { \
			*idx = i; \
			return (kind); \
		}
	FIND(f->in, f->nin, NAME_IN)
	FIND(f->tab, f->ntab, NAME_TAB)
	FIND(f->val, f->nval, NAME_VAL)
#undef FIND
	return NAME_NONE;
}

/* Copy the current token as a new name, checking it is free.  Returns the
 * copy (the caller stores it in f), or NULL after reporting. */
static char *new_name(struct parser *ps)
{
	char buf[64];
	char *s;
	int idx;

	if (ps->tok != T_NAME) {
		PERR(ps, "expected a name, found %s", tok_desc(ps, buf, sizeof buf));
		return NULL;
	}
	if (tok_reserved(ps)) {
		PERR(ps, "'%.*s' is a reserved word", (int)ps->tn, ps->ts);
		return NULL;
	}
	if (lookup(ps, &idx) != NAME_NONE) {
		PERR(ps, "duplicate name '%.*s'", (int)ps->tn, ps->ts);
		return NULL;
	}
	if (!(s = malloc(ps->tn + 1))) {
		PERR(ps, "out of memory");
		return NULL;
	}
	memcpy(s, ps->ts, ps->tn);
	s[ps->tn] = '\0';
	return s;
}

/* ---- expressions -------------------------------------------------------- */

/* Append a node; returns its index or -1 after reporting (too deep, out
 * of memory). */
static int mknode(struct parser *ps, int op, int a, int b, int c, int64_t v)
{
	struct kva_formula *f = ps->f;
	struct kva_node *nd;
	int h = 0;

	if (f->nnode == f->capnode) {
		int cap = f->capnode ? f->capnode * 2 : 64;
		struct kva_node *p = realloc(f->node, (size_t)cap * sizeof *p);

		if (!p)
			return PERR(ps, "out of memory");
		f->node = p;
		f->capnode = cap;
	}
	if (a >= 0 && f->node[a].h > h)
		h = f->node[a].h;
	if (b >= 0 && f->node[b].h > h)
		h = f->node[b].h;
	if (c >= 0 && f->node[c].h > h)
		h = f->node[c].h;
	if (h + 1 > KVA_EXPR_MAX_DEPTH)
		return PERR(ps, "expression nested too deeply (max %d)",
			    KVA_EXPR_MAX_DEPTH);
	nd = &f->node[f->nnode];
	nd->op = op;
	nd->a = a;
	nd->b = b;
	nd->c = c;
	nd->h = h + 1;
	nd->v = v;
	return f->nnode++;
}

static int parse_or(struct parser *ps);

/* Consume token tok or report "expected WHAT, found X". */
static int expect(struct parser *ps, int tok, const char *what)
{
	char buf[64];

	if (ps->tok != tok)
		return PERR(ps, "expected %s, found %s", what,
			    tok_desc(ps, buf, sizeof buf));
	next(ps);
	return ps->failed ? -1 : 0;
}

/* A full expression inside brackets or a call, depth-limited. */
static int parse_sub(struct parser *ps)
{
	int n;

	if (++ps->depth > KVA_EXPR_MAX_DEPTH)
		return PERR(ps, "expression nested too deeply (max %d)",
			    KVA_EXPR_MAX_DEPTH);
	n = parse_or(ps);
	ps->depth--;
	return n;
}

/* The table named by the current token (for len, sorted); its index or
 * -1 after reporting. */
static int table_operand(struct parser *ps)
{
	char buf[64];
	int idx, kind;

	if (ps->tok != T_NAME)
		return PERR(ps, "expected a table name, found %s",
			    tok_desc(ps, buf, sizeof buf));
	kind = lookup(ps, &idx);
	if (kind == NAME_NONE)
		return PERR(ps, "unknown name '%.*s'", (int)ps->tn, ps->ts);
	if (kind != NAME_TAB)
		return PERR(ps, "'%.*s' is not a table", (int)ps->tn, ps->ts);
	next(ps);
	return ps->failed ? -1 : idx;
}

/* Function-call forms: min, max, if, len, sorted.  The current token is
 * the function name. */
static int parse_call(struct parser *ps)
{
	int op = tok_is(ps, "min") ? KVA_OP_MIN : tok_is(ps, "max") ? KVA_OP_MAX :
		tok_is(ps, "if") ? KVA_OP_IF : tok_is(ps, "len") ? KVA_OP_LEN :
		KVA_OP_SORTED;
	int nargs = op == KVA_OP_IF ? 3 : 2, arg[3] = { -1, -1, -1 };
	char what[32];

	snprintf(what, sizeof what, "'(' after '%.*s'", (int)ps->tn, ps->ts);
	next(ps);
	if (ps->failed || expect(ps, T_LP, what))
		return -1;
	if (op == KVA_OP_LEN || op == KVA_OP_SORTED) {
		int t = table_operand(ps);

		if (t < 0 || expect(ps, T_RP, "')'"))
			return -1;
		return mknode(ps, op, -1, -1, -1, t);
	}
	for (int i = 0; i < nargs; i++) {
		if ((arg[i] = parse_sub(ps)) < 0)
			return -1;
		if (expect(ps, i + 1 < nargs ? T_COMMA : T_RP,
			   i + 1 < nargs ? "','" : "')'"))
			return -1;
	}
	return mknode(ps, op, arg[0], arg[1], arg[2], 0);
}

/* primary: integer, name, table[expr], call, ( expr ). */
static int parse_primary(struct parser *ps)
{
	char buf[64];
	int n, idx, kind, line, col;

	switch (ps->tok) {
	case T_INT:
		n = mknode(ps, KVA_OP_CONST, -1, -1, -1, ps->tv);
		next(ps);
		return ps->failed ? -1 : n;
	case T_LP:
		next(ps);
		if (ps->failed || (n = parse_sub(ps)) < 0 ||
		    expect(ps, T_RP, "')'"))
			return -1;
		return n;
	case T_NAME:
		break;
	case T_ERR:
		return -1;
	default:
		return PERR(ps, "expected an expression, found %s",
			    tok_desc(ps, buf, sizeof buf));
	}
	if (tok_is(ps, "min") || tok_is(ps, "max") || tok_is(ps, "if") ||
	    tok_is(ps, "len") || tok_is(ps, "sorted"))
		return parse_call(ps);
	if (tok_reserved(ps))
		return PERR(ps, "expected an expression, found '%.*s'",
			    (int)ps->tn, ps->ts);
	kind = lookup(ps, &idx);
	if (kind == NAME_NONE)
		return PERR(ps, "unknown name '%.*s'", (int)ps->tn, ps->ts);
	line = ps->tline;
	col = ps->tcol;
	next(ps);
	if (ps->failed)
		return -1;
	if (ps->tok == T_LB) {
		const struct kva_formula *f = ps->f;

		if (kind != NAME_TAB)
			return perr(ps, line, col, "'%s' is not a table",
				    kind == NAME_IN ? f->in[idx] : f->val[idx]);
		next(ps);
		if (ps->failed || (n = parse_sub(ps)) < 0 ||
		    expect(ps, T_RB, "']'"))
			return -1;
		return mknode(ps, KVA_OP_IDX, n, -1, -1, idx);
	}
	if (kind == NAME_TAB)
		return perr(ps, line, col, "table '%s' used as a scalar",
			    ps->f->tab[idx]);
	return mknode(ps, kind == NAME_IN ? KVA_OP_IN : KVA_OP_VAL, -1, -1, -1,
		      idx);
}

/* unary: '-' unary | primary.  A minus before a literal folds into it. */
static int parse_unary(struct parser *ps)
{
	int n;

	if (ps->tok != T_MINUS)
		return parse_primary(ps);
	if (++ps->depth > KVA_EXPR_MAX_DEPTH)
		return PERR(ps, "expression nested too deeply (max %d)",
			    KVA_EXPR_MAX_DEPTH);
	next(ps);
	if (ps->failed || (n = parse_unary(ps)) < 0)
		return -1;
	ps->depth--;
	if (ps->f->node[n].op == KVA_OP_CONST) {
		ps->f->node[n].v = -ps->f->node[n].v; /* never INT64_MIN */
		return n;
	}
	return mknode(ps, KVA_OP_NEG, n, -1, -1, 0);
}

/* mul: unary (('*' | '·' | 'div' | 'mod') unary)* */
static int parse_mul(struct parser *ps)
{
	int l = parse_unary(ps), r, op;

	while (l >= 0) {
		if (ps->tok == T_STAR)
			op = KVA_OP_MUL;
		else if (tok_is(ps, "div"))
			op = KVA_OP_DIV;
		else if (tok_is(ps, "mod"))
			op = KVA_OP_MOD;
		else
			break;
		next(ps);
		if (ps->failed || (r = parse_unary(ps)) < 0)
			return -1;
		l = mknode(ps, op, l, r, -1, 0);
	}
	return l;
}

/* add: mul (('+' | '-') mul)* */
static int parse_add(struct parser *ps)
{
	int l = parse_mul(ps), r, op;

	while (l >= 0 && (ps->tok == T_PLUS || ps->tok == T_MINUS)) {
		op = ps->tok == T_PLUS ? KVA_OP_ADD : KVA_OP_SUB;
		next(ps);
		if (ps->failed || (r = parse_mul(ps)) < 0)
			return -1;
		l = mknode(ps, op, l, r, -1, 0);
	}
	return l;
}

/* The comparison operator of the current token, or -1. */
static int cmp_op(const struct parser *ps)
{
	switch (ps->tok) {
	case T_LT: return KVA_OP_LT;
	case T_LE: return KVA_OP_LE;
	case T_GT: return KVA_OP_GT;
	case T_GE: return KVA_OP_GE;
	case T_EQ: return KVA_OP_EQ;
	case T_NE: return KVA_OP_NE;
	default: return -1;
	}
}

/* cmp: add (cmpop add)?  -- comparisons do not chain. */
static int parse_cmp(struct parser *ps)
{
	int l = parse_add(ps), r, op;

	if (l < 0 || (op = cmp_op(ps)) < 0)
		return l;
	next(ps);
	if (ps->failed || (r = parse_add(ps)) < 0)
		return -1;
	if (cmp_op(ps) >= 0)
		return PERR(ps, "comparisons do not chain; use 'and'");
	return mknode(ps, op, l, r, -1, 0);
}

/* not: 'not' not | cmp */
static int parse_not(struct parser *ps)
{
	int n;

	if (!tok_is(ps, "not"))
		return parse_cmp(ps);
	if (++ps->depth > KVA_EXPR_MAX_DEPTH)
		return PERR(ps, "expression nested too deeply (max %d)",
			    KVA_EXPR_MAX_DEPTH);
	next(ps);
	if (ps->failed || (n = parse_not(ps)) < 0)
		return -1;
	ps->depth--;
	return mknode(ps, KVA_OP_NOT, n, -1, -1, 0);
}

/* and: not ('and' not)* */
static int parse_and(struct parser *ps)
{
	int l = parse_not(ps), r;

	while (l >= 0 && tok_is(ps, "and")) {
		next(ps);
		if (ps->failed || (r = parse_not(ps)) < 0)
			return -1;
		l = mknode(ps, KVA_OP_AND, l, r, -1, 0);
	}
	return l;
}

/* or: and ('or' and)* -- the whole expression. */
static int parse_or(struct parser *ps)
{
	int l = parse_and(ps), r;

	while (l >= 0 && tok_is(ps, "or")) {
		next(ps);
		if (ps->failed || (r = parse_and(ps)) < 0)
			return -1;
		l = mknode(ps, KVA_OP_OR, l, r, -1, 0);
	}
	return l;
}

/* ---- statements --------------------------------------------------------- */

/* Append a statement; returns 0 or -1 after reporting. */
static int add_stmt(struct parser *ps, int kind, int expr, int slot, int line)
{
	struct kva_formula *f = ps->f;
	struct kva_stmt *st;

	if (f->nstmt == f->capstmt) {
		int cap = f->capstmt ? f->capstmt * 2 : 16;
		struct kva_stmt *p = realloc(f->stmt, (size_t)cap * sizeof *p);

		if (!p)
			return PERR(ps, "out of memory");
		f->stmt = p;
		f->capstmt = cap;
	}
	st = &f->stmt[f->nstmt++];
	st->kind = kind;
	st->expr = expr;
	st->slot = slot;
	st->field = kind == KVA_ST_REQUIRE ? first_name(f, expr, 1, 0) : NULL;
	st->line = line;
	return 0;
}

/* oracle NAME -- the name may hold '-' and '.' (radix-2d). */
static int parse_oracle(struct parser *ps)
{
	struct kva_formula *f = ps->f;
	const char *p;
	size_t n;
	int col;

	if (f->name)
		return PERR(ps, "duplicate 'oracle' statement");
	skip_blank(ps);
	p = ps->p;
	col = ps->col;
	while (ps->p < ps->end && *ps->p != ' ' && *ps->p != '\t' &&
	       *ps->p != '\n' && *ps->p != '\r' && *ps->p != '#')
		adv(ps, 1);
	n = (size_t)(ps->p - p);
	if (n == 0)
		return perr(ps, ps->line, col, "expected an oracle name");
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)p[i];

		if (!(is_alpha(ch) || (i > 0 && (is_digit(ch) || ch == '-' ||
						 ch == '.'))))
			return perr(ps, ps->line, col, "bad oracle name '%.*s'",
				    n > 40 ? 40 : (int)n, p);
	}
	if (!(f->name = malloc(n + 1)))
		return PERR(ps, "out of memory");
	memcpy(f->name, p, n);
	f->name[n] = '\0';
	next(ps);
	return ps->failed ? -1 : 0;
}

/* input NAME... / table NAME... */
static int parse_decl(struct parser *ps, int is_table)
{
	struct kva_formula *f = ps->f;
	char buf[64];

	next(ps);
	if (ps->failed)
		return -1;
	if (ps->tok == T_EOL || ps->tok == T_EOF)
		return PERR(ps, "expected a name after '%s'",
			    is_table ? "table" : "input");
	while (ps->tok != T_EOL && ps->tok != T_EOF) {
		char *s;

		if (ps->tok != T_NAME)
			return PERR(ps, "expected a name, found %s",
				    tok_desc(ps, buf, sizeof buf));
		if (is_table ? f->ntab == KVA_MAX_TAB : f->nin == KVA_MAX_IN)
			return is_table ?
				PERR(ps, "too many tables (max %d)", KVA_MAX_TAB) :
				PERR(ps, "too many inputs (max %d)", KVA_MAX_IN);
		if (!(s = new_name(ps)))
			return -1;
		if (is_table)
			f->tab[f->ntab++] = s;
		else
			f->in[f->nin++] = s;
		next(ps);
		if (ps->failed)
			return -1;
	}
	return 0;
}

/* let NAME = EXPR / out NAME = EXPR; the name is bound after EXPR, so an
 * expression cannot refer to its own statement. */
static int parse_binding(struct parser *ps, int is_out, int line)
{
	struct kva_formula *f = ps->f;
	char *s;
	int n, slot;

	next(ps);
	if (ps->failed)
		return -1;
	if (is_out && f->nout == KVA_MAX_OUT)
		return PERR(ps, "too many outputs (max %d)", KVA_MAX_OUT);
	if (f->nval == KVA_EXPR_MAX_VAL)
		return PERR(ps, "too many 'let' and 'out' statements (max %d)",
			    KVA_EXPR_MAX_VAL);
	if (!(s = new_name(ps)))
		return -1;
	next(ps);
	if (ps->failed || expect(ps, T_ASSIGN, "'='") ||
	    (n = parse_or(ps)) < 0) {
		free(s);
		return -1;
	}
	slot = f->nval++;
	f->val[slot] = s;
	f->val_expr[slot] = n;
	f->val_first[slot] = first_name(f, n, 1, 0);
	if (is_out)
		f->out_slot[f->nout++] = slot;
	return add_stmt(ps, is_out ? KVA_ST_OUT : KVA_ST_LET, n, slot, line);
}

/* One statement, from its keyword to the end of its line. */
static int parse_stmt(struct parser *ps)
{
	static const struct { const char *kw; int kind; } cond[] = {
		{ "require", KVA_ST_REQUIRE }, { "padding", KVA_ST_PADDING },
		{ "unmapped", KVA_ST_UNMAPPED }
	};
	int line = ps->tline, rc = -1;
	char buf[64];

	if (ps->tok != T_NAME)
		return ps->tok == T_ERR ? -1 : PERR(ps, "expected a statement, "
			"found %s", tok_desc(ps, buf, sizeof buf));
	if (!ps->f->name && !tok_is(ps, "oracle"))
		return PERR(ps, "formula must start with 'oracle NAME'");
	if (tok_is(ps, "oracle")) {
		rc = parse_oracle(ps);
	} else if (tok_is(ps, "input") || tok_is(ps, "table")) {
		rc = parse_decl(ps, tok_is(ps, "table"));
	} else if (tok_is(ps, "let") || tok_is(ps, "out")) {
		rc = parse_binding(ps, tok_is(ps, "out"), line);
	} else {
		for (size_t i = 0; i < sizeof cond / sizeof cond[0]; i++)
			if (tok_is(ps, cond[i].kw)) {
				int n;

				next(ps);
				if (ps->failed || (n = parse_or(ps)) < 0)
					return -1;
				rc = add_stmt(ps, cond[i].kind, n, -1, line);
				break;
			}
		if (rc < 0 && !ps->failed)
			return PERR(ps, "unknown statement '%.*s'",
				    (int)ps->tn, ps->ts);
	}
	if (rc < 0)
		return -1;
	if (ps->tok != T_EOL && ps->tok != T_EOF)
		return ps->tok == T_ERR ? -1 : PERR(ps, "unexpected %s",
			tok_desc(ps, buf, sizeof buf));
	return 0;
}

/* See kvarbiter.h. */
void kva_formula_free(struct kva_formula *f)
{
	if (!f)
		return;
	free(f->text);
	free(f->name);
	for (int i = 0; i < f->nin; i++)
		free(f->in[i]);
	for (int i = 0; i < f->ntab; i++)
		free(f->tab[i]);
	for (int i = 0; i < f->nval; i++)
		free(f->val[i]);
	free(f->node);
	free(f->stmt);
	free(f);
}

/* See kvarbiter.h.  The formula owns a copy of text. */
struct kva_formula *kva_formula_parse(const char *text, size_t len, kva_err *e)
{
	struct parser ps;
	struct kva_formula *f = calloc(1, sizeof *f);

	if (!f || !(f->text = malloc(len + 1))) {
		free(f);
		kva_errf(e, NULL, "out of memory");
		return NULL;
	}
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	memset(&ps, 0, sizeof ps);
	ps.p = f->text;
	ps.end = f->text + len;
	ps.line = ps.col = 1;
	ps.f = f;
	ps.e = e;
	next(&ps);
	while (!ps.failed && ps.tok != T_EOF) {
		if (ps.tok == T_EOL) {
			next(&ps);
			continue;
		}
		if (parse_stmt(&ps))
			break;
	}
	if (!ps.failed) {
		if (!f->name)
			perr(&ps, 1, 1, "formula must start with 'oracle NAME'");
		else if (!f->nin)
			perr(&ps, ps.line, ps.col, "oracle '%s' has no 'input' "
			     "statement", f->name);
		else if (!f->nout)
			perr(&ps, ps.line, ps.col, "oracle '%s' has no 'out' "
			     "statement", f->name);
	}
	if (ps.failed) {
		kva_formula_free(f);
		return NULL;
	}
	return f;
}

/* See kvarbiter.h.  o's strings point into f, which must outlive o. */
int kva_formula_oracle(struct kva_formula *f, kva_oracle *o, kva_err *e)
{
	if (!f)
		return kva_errf(e, NULL, "no formula");
	memset(o, 0, sizeof *o);
	o->name = f->name;
	o->nin = f->nin;
	for (int i = 0; i < f->nin; i++)
		o->in[i] = f->in[i];
	o->ntab = f->ntab;
	for (int i = 0; i < f->ntab; i++)
		o->tab[i] = f->tab[i];
	o->nout = f->nout;
	for (int i = 0; i < f->nout; i++)
		o->out[i] = f->val[f->out_slot[i]];
	o->eval = NULL;
	o->formula_text = f->text;
	o->f = f;
	return 0;
}

/* ---- built-ins' formulas, parsed once ----------------------------------- */

/* Formulas parsed for oracles that carry only text; freed at exit. */
struct fcache {
	const kva_oracle *o;      /* key: the oracle */
	const char *text;         /* and its formula text */
	struct kva_formula *f;
	struct fcache *next;
};
static struct fcache *fcache_head;

/* atexit: free every cached formula. */
static void fcache_free(void)
{
	while (fcache_head) {
		struct fcache *c = fcache_head;

		fcache_head = c->next;
		kva_formula_free(c->f);
		free(c);
	}
}

/* See kvarbiter.h.  The result belongs to o (or to a cache keyed by o and
 * its text, freed at exit); never free it.  Not thread-safe. */
struct kva_formula *kva_oracle_formula(const kva_oracle *o, kva_err *e)
{
	static int registered;
	struct fcache *c;

	if (o->f)
		return o->f;
	for (c = fcache_head; c; c = c->next)
		if (c->o == o && c->text == o->formula_text)
			return c->f;
	if (!o->formula_text) {
		kva_errf(e, NULL, "oracle '%s' has no formula", o->name);
		return NULL;
	}
	if (!(c = malloc(sizeof *c))) {
		kva_errf(e, NULL, "out of memory");
		return NULL;
	}
	if (!(c->f = kva_formula_parse(o->formula_text, strlen(o->formula_text),
				       e))) {
		free(c);
		return NULL;
	}
	if (!registered) {
		registered = 1;
		atexit(fcache_free);
	}
	c->o = o;
	c->text = o->formula_text;
	c->next = fcache_head;
	fcache_head = c;
	return c->f;
}
