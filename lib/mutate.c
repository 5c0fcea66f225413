/*
 * mutate.c - mutants of a C candidate, for grad-trap --mutate (issue 19).
 *
 * The source is cut into tokens (line and column each; comments and
 * preprocessor lines dropped), brackets are matched, and each function
 * body - a brace group at file scope after a parameter list - is read for
 * its declarations: parameters and locals with their declared types, each
 * visible from the end of its declarator to the end of its block.  The
 * operators then propose edits (one span of the original replaced by new
 * text); the edits are sorted by place, operator and alternative, and
 * each becomes a mutant unless its text equals an earlier one's.  The
 * rules of each operator are in mutate.h.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kvarbiter.h"
#include "bench.h"
#include "mutate.h"

enum { T_ID, T_NUM, T_STR, T_CHR, T_PUNCT };

/* The operators in the order mutants at one place are listed. */
enum {
	OP_ARITH, OP_REL, OP_CONST, OP_DROP_TERM, OP_SWAP_ARGS, OP_SWAP_INDEX,
	OP_SWAP_OUT, OP_DEL_WRITE, OP_NARROW, OP_LOOP_BOUND, OP_VAR
};
static const char *const op_names[] = {
	KVA_MUT_ARITH, KVA_MUT_REL, KVA_MUT_CONST, KVA_MUT_DROP_TERM,
	KVA_MUT_SWAP_ARGS, KVA_MUT_SWAP_INDEX, KVA_MUT_SWAP_OUT,
	KVA_MUT_DEL_WRITE, KVA_MUT_NARROW, KVA_MUT_LOOP_BOUND, KVA_MUT_VAR
};

#define F_DECLNAME 1 /* the name a declarator declares */
#define F_DECLDIM  2 /* a declarator's [..], brackets included */
#define F_DECLPTR  4 /* a declarator's '*' */

struct tok {
	size_t off;
	unsigned len;
	unsigned char kind, flags;
	int line, col;
	int match; /* the other bracket of a pair, else -1 */
	int up;    /* the innermost open bracket around, -1 at file scope */
};

struct decl {
	int name;      /* the token naming it */
	int from, to;  /* visible at tokens [from, to) */
	int param;
	int ptr;       /* pointer levels, array dimensions counted as such */
	int ro;        /* a const object (not a pointer to const) */
	char type[80]; /* base type words and a '*' per level; "" unknown */
};

struct edit {
	size_t off, end; /* the span of the original replaced */
	size_t nw, nwlen; /* the new text, in the pool */
	int tok;          /* the token at off */
	int op;
	unsigned seq;     /* generation order: orders the alternatives */
};

struct gen {
	const char *s;
	size_t len;
	struct tok *t;
	int nt, tcap;
	struct decl *d;  /* of the function being read */
	int nd, dcap;
	struct edit *ed;
	size_t ne, ecap;
	kva_buf pool, tmp;
	int body;        /* the function body's '{' */
};

/* ---- tokens ------------------------------------------------------------- */

static const char *const puncts3[] = { "<<=", ">>=", "...", NULL };
static const char *const puncts2[] = {
	"->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	"+=", "-=", "*=", "/=", "%=", "&=", "^=", "|=", "##", NULL
};
/* Pairs that read as one token when written together: the punctuators
 * above, digraphs and comment openers. */
static const char *const glue2[] = {
	"<:", ":>", "<%", "%>", "%:", "/*", "//", "..", NULL
};

static int ch(const struct gen *g, size_t i)
{
	return i < g->len ? (unsigned char)g->s[i] : 0;
}

static int idch(int c)
{
	return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') ||
	       (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Whether token k is the text w. */
static int is(const struct gen *g, int k, const char *w)
{
	size_t n = strlen(w);

	return k >= 0 && k < g->nt && g->t[k].len == n &&
	       !memcmp(g->s + g->t[k].off, w, n);
}

static int is_any(const struct gen *g, int k, const char *const *ws)
{
	for (; *ws; ws++)
		if (is(g, k, *ws))
			return 1;
	return 0;
}

static int same_text(const struct gen *g, int a, int b)
{
	return g->t[a].len == g->t[b].len &&
	       !memcmp(g->s + g->t[a].off, g->s + g->t[b].off, g->t[a].len);
}

static size_t tend(const struct gen *g, int k)
{
	return g->t[k].off + g->t[k].len;
}

static const char *const keywords[] = {
	"auto", "break", "case", "char", "const", "continue", "default", "do",
	"double", "else", "enum", "extern", "float", "for", "goto", "if",
	"inline", "int", "long", "register", "restrict", "return", "short",
	"signed", "sizeof", "static", "struct", "switch", "typedef", "union",
	"unsigned", "void", "volatile", "while", "_Alignas", "_Alignof",
	"_Atomic", "_Bool", "_Complex", "_Generic", "_Noreturn",
	"_Static_assert", "_Thread_local", "alignof", "bool", "__attribute__",
	"__restrict", "__inline", "typeof", "__typeof__", NULL
};
static const char *const type_words[] = {
	"void", "char", "short", "int", "long", "float", "double", "signed",
	"unsigned", "_Bool", "bool", "_Complex", NULL
};
static const char *const qualifiers[] = {
	"const", "volatile", "restrict", "__restrict", "static", "register",
	"extern", "auto", "inline", "_Thread_local", "_Atomic", NULL
};
static const char *const cv[] = { "const", "volatile", NULL };
static const char *const tags[] = { "struct", "union", "enum", NULL };
static const char *const assign_ops[] = {
	"=", "+=", "-=", "*=", "/=", "%=", "&=", "^=", "|=", "<<=", ">>=",
	"++", "--", NULL
};
static const char *const arith_ops[] = { "+", "-", "*", "/", "%", NULL };
static const char *const ptr_ops[] = { "+", "-", NULL };
static const char *const rel_ops[] = { "<", "<=", ">", ">=", "==", "!=", NULL };

static int is_word(const struct gen *g, int k)
{
	return k >= 0 && k < g->nt && g->t[k].kind == T_ID &&
	       !is_any(g, k, keywords);
}

static int fail_at(kva_err *e, int line, int col, const char *what)
{
	kva_errf(e, NULL, "%s at %d:%d", what, line, col);
	if (e) {
		e->line = line;
		e->col = col;
	}
	return -1;
}

static void push_tok(struct gen *g, int kind, size_t off, size_t end,
		     int line, size_t bol)
{
	struct tok *t;

	KVA_GROW(g->t, g->nt, g->tcap);
	t = &g->t[g->nt++];
	t->off = off;
	t->len = (unsigned)(end - off);
	t->kind = (unsigned char)kind;
	t->flags = 0;
	t->line = line;
	t->col = (int)(off - bol + 1);
	t->match = t->up = -1;
}

/* Skip the comment at *i ("/" then "*"); -1 when it never ends. */
static int skip_comment(const struct gen *g, size_t *i, int *line, size_t *bol)
{
	size_t j;

	for (j = *i + 2; j < g->len; j++) {
		if (g->s[j] == '\n') {
			++*line;
			*bol = j + 1;
		} else if (g->s[j] == '*' && ch(g, j + 1) == '/') {
			*i = j + 2;
			return 0;
		}
	}
	return -1;
}

/* Skip a preprocessor line from its '#' to (not past) its newline,
 * following backslash continuations and comments. */
static int skip_directive(const struct gen *g, size_t *i, int *line,
			  size_t *bol, kva_err *e)
{
	size_t j = *i;

	while (j < g->len && g->s[j] != '\n') {
		if (g->s[j] == '\\' && ch(g, j + 1) == '\n') {
			j += 2;
			++*line;
			*bol = j;
		} else if (g->s[j] == '/' && ch(g, j + 1) == '*') {
			int l0 = *line, c0 = (int)(j - *bol + 1);

			if (skip_comment(g, &j, line, bol))
				return fail_at(e, l0, c0, "unterminated comment");
		} else if (g->s[j] == '/' && ch(g, j + 1) == '/') {
			while (j < g->len && g->s[j] != '\n')
				j++;
		} else {
			j++;
		}
	}
	*i = j;
	return 0;
}

/* Length of the punctuator at i, 0 for a character that is none. */
static size_t punct_len(const struct gen *g, size_t i)
{
	for (int w = 3; w >= 2; w--)
		for (const char *const *p = w == 3 ? puncts3 : puncts2; *p; p++)
			if (i + (size_t)w <= g->len && !memcmp(g->s + i, *p, (size_t)w))
				return (size_t)w;
	return g->s[i] && strchr("[](){}.&*+-~!/%<>^|?:;=,#", g->s[i]) ? 1 : 0;
}

static int tokenize(struct gen *g, kva_err *e)
{
	size_t i = 0, bol = 0, j;
	int line = 1, first = 1; /* first: only blanks so far on this line */

	while (i < g->len) {
		int c = ch(g, i), col = (int)(i - bol + 1);

		if (c == '\n') {
			line++;
			bol = ++i;
			first = 1;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
			   c == '\v') {
			i++;
		} else if (c == '\\' && ch(g, i + 1) == '\n') {
			i += 2;
			line++;
			bol = i;
		} else if (c == '/' && ch(g, i + 1) == '*') {
			if (skip_comment(g, &i, &line, &bol))
				return fail_at(e, line, col, "unterminated comment");
		} else if (c == '/' && ch(g, i + 1) == '/') {
			while (i < g->len && g->s[i] != '\n')
				i++;
		} else if (c == '#' && first) {
			if (skip_directive(g, &i, &line, &bol, e))
				return -1;
		} else if (c == '"' || c == '\'') {
			int line0 = line;
			size_t bol0 = bol;

			for (j = i + 1; j < g->len && g->s[j] != c; j++) {
				if (g->s[j] == '\\' && ch(g, j + 1) == '\n') {
					line++;
					bol = j + 2;
				}
				if (g->s[j] == '\n')
					break;
				if (g->s[j] == '\\')
					j++;
			}
			if (j >= g->len || g->s[j] != c)
				return fail_at(e, line0, col, c == '"' ?
					       "unterminated string" :
					       "unterminated character constant");
			push_tok(g, c == '"' ? T_STR : T_CHR, i, j + 1, line0, bol0);
			i = j + 1;
			first = 0;
		} else if (digit(c) || (c == '.' && digit(ch(g, i + 1)))) {
			for (j = i + 1; j < g->len; j++) {
				int d = ch(g, j);

				if (strchr("eEpP", d) && d &&
				    (ch(g, j + 1) == '+' || ch(g, j + 1) == '-'))
					j++;
				else if (!idch(d) && d != '.')
					break;
			}
			push_tok(g, T_NUM, i, j, line, bol);
			i = j;
			first = 0;
		} else if (idch(c)) {
			for (j = i + 1; j < g->len && idch(ch(g, j)); j++)
				;
			push_tok(g, T_ID, i, j, line, bol);
			i = j;
			first = 0;
		} else if ((j = punct_len(g, i))) {
			push_tok(g, T_PUNCT, i, i + j, line, bol);
			i += j;
			first = 0;
		} else {
			char what[32];

			snprintf(what, sizeof what, c >= 0x20 && c < 0x7f ?
				 "stray '%c'" : "stray byte 0x%02x", c);
			return fail_at(e, line, col, what);
		}
	}
	return 0;
}

static const char *bracket_name(const struct gen *g, int k)
{
	switch (g->s[g->t[k].off]) {
	case '(': case ')':
		return "unbalanced parentheses";
	case '[': case ']':
		return "unbalanced brackets";
	default:
		return "unbalanced braces";
	}
}

/* Pair the brackets and set every token's up; -1 on the first bracket
 * that has no partner. */
static int match_brackets(struct gen *g, kva_err *e)
{
	int *st = kva_xrealloc(NULL, (size_t)g->nt + 1, sizeof *st), n = 0;
	int bad = -1;

	for (int k = 0; k < g->nt && bad < 0; k++) {
		struct tok *t = &g->t[k];
		int c = t->kind == T_PUNCT && t->len == 1 ? g->s[t->off] : 0;

		t->up = n ? st[n - 1] : -1;
		if (c == '(' || c == '[' || c == '{') {
			st[n++] = k;
		} else if (c == ')' || c == ']' || c == '}') {
			int o = n ? st[n - 1] : -1;
			int want = c == ')' ? '(' : c == ']' ? '[' : '{';

			if (o < 0)
				bad = k;
			else if (g->s[g->t[o].off] != want)
				bad = o;
			else {
				t->match = o;
				g->t[o].match = k;
				t->up = g->t[o].up;
				n--;
			}
		}
	}
	if (bad < 0 && n)
		bad = st[n - 1];
	free(st);
	if (bad >= 0)
		return fail_at(e, g->t[bad].line, g->t[bad].col,
			       bracket_name(g, bad));
	return 0;
}

/* ---- declarations ------------------------------------------------------- */

/* Append the word p[0..n) to type; -1 when it does not fit. */
static int type_add(char *type, size_t size, const char *p, size_t n)
{
	size_t l = strlen(type);

	if (l + n + 2 > size)
		return -1;
	if (l && p[0] != '*')
		type[l++] = ' ';
	memcpy(type + l, p, n);
	type[l + n] = '\0';
	return 0;
}

/* The declared type of tokens [a, b) with ptr levels into type: less
 * qualifiers and storage class, but with const and volatile of what a
 * pointer points to; "" (unknown: equal to none) when too long. */
static void type_of(const struct gen *g, int a, int b, int ptr, char *type,
		    size_t size)
{
	int bad = 0;

	type[0] = '\0';
	for (int k = a; k < b; k++)
		if (!is_any(g, k, qualifiers) || (ptr && is_any(g, k, cv)))
			bad |= type_add(type, size, g->s + g->t[k].off, g->t[k].len);
	while (ptr-- > 0)
		bad |= type_add(type, size, "*", 1);
	if (bad)
		type[0] = '\0';
}

static void add_decl(struct gen *g, int name, int from, int to, int param,
		     int b0, int b1, int ptr)
{
	struct decl *d;

	KVA_GROW(g->d, g->nd, g->dcap);
	d = &g->d[g->nd++];
	d->name = name;
	d->from = from;
	d->to = to;
	d->param = param;
	d->ptr = ptr;
	d->ro = 0;
	for (int k = b0; k < b1 && !ptr; k++)
		d->ro |= is(g, k, "const");
	type_of(g, b0, b1, ptr, d->type, sizeof d->type);
	g->t[name].flags |= F_DECLNAME;
}

/* The declaration of token name's name visible at token at (the
 * innermost), or NULL. */
static const struct decl *lookup_at(const struct gen *g, int name, int at)
{
	const struct decl *best = NULL;

	if (!is_word(g, name))
		return NULL;
	for (int i = 0; i < g->nd; i++) {
		const struct decl *d = &g->d[i];

		if (at >= d->from && at < d->to && same_text(g, d->name, name) &&
		    (!best || d->from >= best->from))
			best = d;
	}
	return best;
}

static const struct decl *lookup(const struct gen *g, int k)
{
	return lookup_at(g, k, k);
}

static void add_edit(struct gen *g, int op, int tok, size_t end,
		     const char *nw, size_t n);

static void narrow(struct gen *g, int a, int b)
{
	for (int k = a; k < b; k++)
		if (is(g, k, "int64_t"))
			add_edit(g, OP_NARROW, k, tend(g, k), "int32_t", 7);
}

/* The parameters between the parentheses o and c, visible in the body. */
static void read_params(struct gen *g, int o, int c, int body_end)
{
	for (int a = o + 1; a < c;) {
		int b = a, name = -1, ptr = 0, nbase;

		while (b < c && !(is(g, b, ",") && g->t[b].up == o))
			b = g->t[b].match > b ? g->t[b].match + 1 : b + 1;
		for (int k = a; k < b; k++) {
			if (is(g, k, "(")) {
				name = -1; /* a function pointer: not read */
				break;
			}
			if (is(g, k, "["))
				break;
			if (g->t[k].kind == T_ID && !is_any(g, k, keywords))
				name = k;
		}
		for (nbase = a; nbase < name && !is(g, nbase, "*"); nbase++)
			;
		if (name > a && nbase > a && !is_any(g, name - 1, tags)) {
			for (int k = nbase; k < b; k++) {
				if (is(g, k, "*") || is(g, k, "["))
					ptr++;
				if (is(g, k, "*"))
					g->t[k].flags |= F_DECLPTR;
				if (is(g, k, "[")) {
					for (int x = k; x <= g->t[k].match; x++)
						g->t[x].flags |= F_DECLDIM;
					k = g->t[k].match;
				}
			}
			add_decl(g, name, g->body, body_end, 1, a, nbase, ptr);
		}
		a = b + 1;
	}
}

/* The end of the scope of a declaration at statement start k. */
static int scope_end(const struct gen *g, int k)
{
	int u = g->t[k].up, x;

	if (is(g, u, "{"))
		return g->t[u].match;
	/* a for loop's first clause: to the end of the loop */
	x = g->t[u].match + 1;
	if (is(g, x, "{"))
		return g->t[x].match;
	for (; x < g->nt && !(is(g, x, ";") && g->t[x].up == g->t[u].up); x++)
		;
	return x;
}

/* Read a declaration starting at token k if there is one there. */
static void read_local(struct gen *g, int k)
{
	int j = k, b1, to = scope_end(g, k);

	while (is_any(g, j, qualifiers))
		j++;
	if (is_any(g, j, type_words)) {
		while (is_any(g, j, type_words) || is_any(g, j, qualifiers))
			j++;
	} else if (is_any(g, j, tags) && g->t[j + 1].kind == T_ID &&
		   !is(g, j + 2, "{")) {
		j += 2;
	} else if (is_word(g, j) &&
		   (is_word(g, j + 1) ||
		    (is(g, j + 1, "*") && (is_word(g, j + 2) || is(g, j + 2, "*") ||
					   is_any(g, j + 2, qualifiers))))) {
		j++;
	} else {
		return;
	}
	b1 = j;
	for (;;) {
		int ptr = 0, name;

		for (; is(g, j, "*") || is_any(g, j, qualifiers); j++)
			if (is(g, j, "*")) {
				g->t[j].flags |= F_DECLPTR;
				ptr++;
			}
		if (!is_word(g, j))
			return; /* a function pointer, or not a declaration */
		name = j++;
		while (is(g, j, "[")) {
			for (int x = j; x <= g->t[j].match; x++)
				g->t[x].flags |= F_DECLDIM;
			j = g->t[j].match + 1;
			ptr++;
		}
		if (is(g, j, "="))
			while (j < g->nt && !((is(g, j, ",") || is(g, j, ";")) &&
					     g->t[j].up == g->t[k].up))
				j = g->t[j].match > j ? g->t[j].match + 1 : j + 1;
		if (!is(g, j, ",") && !is(g, j, ";"))
			return;
		if (!g->nd || g->d[g->nd - 1].name < k)
			narrow(g, k, b1); /* once per declaration */
		add_decl(g, name, j, to, 0, k, b1, ptr);
		if (is(g, j++, ";"))
			return;
	}
}

/* Whether token k starts a statement that is a block's own (not the
 * body of an if, for, ...). */
static int block_stmt(const struct gen *g, int k)
{
	return is(g, g->t[k].up, "{") &&
	       (is(g, k - 1, "{") || is(g, k - 1, ";") || is(g, k - 1, "}"));
}

/* Whether token k starts a statement. */
static int stmt_start(const struct gen *g, int k)
{
	int p = k - 1, o;

	if (is(g, p, "else") || is(g, p, "do") ||
	    (is(g, p, ":") && is(g, g->t[k].up, "{")))
		return 1;
	if (is(g, p, ")")) {
		o = g->t[p].match;
		return is(g, o - 1, "if") || is(g, o - 1, "for") ||
		       is(g, o - 1, "while");
	}
	return block_stmt(g, k);
}

/* ---- edits ---------------------------------------------------------------- */

/* Whether characters a and b written together would read as one token. */
static int glues(int a, int b)
{
	char two[3] = { (char)a, (char)b, 0 };

	if (!a || !b)
		return 0;
	if (idch(a) && idch(b))
		return 1;
	for (const char *const *p = puncts2; *p; p++)
		if (!strcmp(*p, two))
			return 1;
	for (const char *const *p = glue2; *p; p++)
		if (!strcmp(*p, two))
			return 1;
	return 0;
}

/* Propose replacing the original from token tok's start to end by
 * nw[0..n), with a space on a side where the new text would otherwise
 * run into its neighbour. */
static void add_edit(struct gen *g, int op, int tok, size_t end,
		     const char *nw, size_t n)
{
	size_t off = g->t[tok].off;
	int l = off ? ch(g, off - 1) : 0, r = ch(g, end);
	struct edit *ed;

	if (n == end - off && !memcmp(g->s + off, nw, n))
		return;
	KVA_GROW(g->ed, g->ne, g->ecap);
	ed = &g->ed[g->ne];
	ed->off = off;
	ed->end = end;
	ed->tok = tok;
	ed->op = op;
	ed->seq = (unsigned)g->ne++;
	ed->nw = g->pool.len;
	/* "1e" then "-": a number would swallow a new sign */
	if (n && (glues(l, nw[0]) ||
		  (strchr("+-", nw[0]) && strchr("eEpP", l) && l &&
		   tok && g->t[tok - 1].kind == T_NUM)))
		kva_buf_putc(&g->pool, ' ');
	kva_buf_put(&g->pool, nw, n);
	if (n && glues(nw[n - 1], r))
		kva_buf_putc(&g->pool, ' ');
	ed->nwlen = g->pool.len - ed->nw;
}

/* Propose the original from token tok to end with the byte ranges
 * [a0, a1) and [b0, b1) inside it exchanged (a1 <= b0). */
static void add_swap(struct gen *g, int op, int tok, size_t end,
		     size_t a0, size_t a1, size_t b0, size_t b1)
{
	kva_buf *t = &g->tmp;

	t->len = 0;
	kva_buf_put(t, g->s + g->t[tok].off, a0 - g->t[tok].off);
	kva_buf_put(t, g->s + b0, b1 - b0);
	kva_buf_put(t, g->s + a1, b0 - a1);
	kva_buf_put(t, g->s + a0, a1 - a0);
	kva_buf_put(t, g->s + b1, end - b1);
	add_edit(g, op, tok, end, t->p, t->len);
}

/* ---- expressions ---------------------------------------------------------- */

/* Whether tokens (o, c) read as a type name: a cast when in parentheses. */
static int is_type_name(const struct gen *g, int o, int c)
{
	int j = o + 1;

	while (j < c && is_any(g, j, qualifiers))
		j++;
	if (j < c && is_any(g, j, type_words)) {
		while (j < c && (is_any(g, j, type_words) || is_any(g, j, qualifiers)))
			j++;
	} else if (j + 1 < c && is_any(g, j, tags)) {
		j += 2;
	} else if (is_word(g, j) && j < c) {
		const struct tok *t = &g->t[j];

		if (!is(g, j + 1, "*") &&
		    !(t->len > 2 && !memcmp(g->s + t->off + t->len - 2, "_t", 2)))
			return 0;
		j++;
	} else {
		return 0;
	}
	while (j < c && (is(g, j, "*") || is_any(g, j, qualifiers)))
		j++;
	return j == c;
}

/* Whether token k ends an operand, so that an operator after it is
 * binary (not unary minus, a dereference, ...). */
static int ends_operand(const struct gen *g, int k)
{
	int o;

	if (k < 0)
		return 0;
	switch (g->t[k].kind) {
	case T_ID:
		return !is_any(g, k, keywords);
	case T_NUM: case T_STR: case T_CHR:
		return 1;
	}
	if (is(g, k, "]"))
		return 1;
	if (is(g, k, "++") || is(g, k, "--"))
		return ends_operand(g, k - 1);
	if (!is(g, k, ")"))
		return 0;
	o = g->t[k].match;
	if (is(g, o - 1, "sizeof") || is(g, o - 1, "_Alignof") ||
	    is(g, o - 1, "alignof"))
		return 1;
	if (is(g, o - 1, "if") || is(g, o - 1, "while") || is(g, o - 1, "for") ||
	    is(g, o - 1, "switch"))
		return 0;
	return !is_type_name(g, o, k);
}

/* The first token of the operand ending at token k, -1 when k ends none
 * this reader follows. */
static int operand_back(const struct gen *g, int k)
{
	for (;;) {
		if (k < 0)
			return -1;
		if (is(g, k, "]")) {
			k = g->t[k].match - 1;
			continue;
		}
		if (is(g, k, ")")) {
			int o = g->t[k].match;

			if (!is_word(g, o - 1) && !is(g, o - 1, "]") &&
			    !is(g, o - 1, ")"))
				return o;
			k = o - 1;
			continue;
		}
		if (g->t[k].kind == T_PUNCT || is_any(g, k, keywords))
			return -1;
		if (!is(g, k - 1, ".") && !is(g, k - 1, "->"))
			return k;
		k -= 2;
	}
}

/* The last token of the primary starting at token k (with its postfix
 * [..], (..), .f, ->f, ++, --), -1 when none starts there. */
static int operand_fwd(const struct gen *g, int k)
{
	if (is(g, k, "(")) {
		if (is_type_name(g, k, g->t[k].match))
			return -1; /* a cast */
		k = g->t[k].match;
	} else if (!is_word(g, k) && g->t[k].kind != T_NUM &&
		   g->t[k].kind != T_STR && g->t[k].kind != T_CHR) {
		return -1;
	}
	for (;;) {
		if (is(g, k + 1, "[") || is(g, k + 1, "("))
			k = g->t[k + 1].match;
		else if ((is(g, k + 1, ".") || is(g, k + 1, "->")) &&
			 g->t[k + 2].kind == T_ID)
			k += 2;
		else if (is(g, k + 1, "++") || is(g, k + 1, "--"))
			k++;
		else
			return k;
	}
}

/* The first ';' after token k in the same bracket as k. */
static int stmt_end(const struct gen *g, int k)
{
	int x = k;

	while (x < g->nt && !(is(g, x, ";") && g->t[x].up == g->t[k].up))
		x = g->t[x].match > x ? g->t[x].match + 1 : x + 1;
	return x < g->nt ? x : -1;
}

/* ---- the operators ---------------------------------------------------------- */

/* Each other operator of the list ops in place of token k. */
static void swap_op(struct gen *g, int op, int k, const char *const *ops)
{
	for (; *ops; ops++)
		add_edit(g, op, k, tend(g, k), *ops, strlen(*ops));
}

static void drop_term(struct gen *g, int k)
{
	int l = operand_back(g, k - 1), r = operand_fwd(g, k + 1);

	if (l >= 0 && r >= 0)
		add_edit(g, OP_DROP_TERM, l, tend(g, r), g->s + g->t[l].off,
			 tend(g, k - 1) - g->t[l].off);
}

static void constant(struct gen *g, int k)
{
	const char *p = g->s + g->t[k].off, *sfx;
	unsigned long long v = 0, nv[2];
	int base = 10, upper = 0, n = 0;
	size_t i = 0, len = g->t[k].len;
	char out[48];

	if (len > 1 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (len > 1 && p[0] == '0') {
		base = 8;
	}
	for (; i < len; i++) {
		int c = p[i], d = digit(c) ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;

		if (d >= base)
			break;
		upper |= c >= 'A' && c <= 'F';
		if (v > (~0ULL - (unsigned)d) / (unsigned)base)
			return;
		v = v * (unsigned)base + (unsigned)d;
	}
	sfx = p + i;
	if (i == (base == 16 ? 2u : 0u) || strspn(sfx, "uUlL") < len - i)
		return; /* a float, a binary literal, a bad suffix */
	if (v < ~0ULL)
		nv[n++] = v + 1;
	if (v > 0)
		nv[n++] = v - 1;
	for (int a = 0; a < n; a++) {
		int w = base == 16 ? snprintf(out, sizeof out, upper ? "%.2s%llX" :
					      "%.2s%llx", p, nv[a]) :
			base == 8 ? snprintf(out, sizeof out, "0%llo", nv[a]) :
			snprintf(out, sizeof out, "%llu", nv[a]);

		snprintf(out + w, sizeof out - (size_t)w, "%.*s",
			 (int)(len - i), sfx);
		add_edit(g, OP_CONST, k, tend(g, k), out, strlen(out));
	}
}

/* Two arguments of the call whose '(' is o, each a variable of one type. */
static void swap_args(struct gen *g, int o)
{
	int c = g->t[o].match, args[64], n = 0;

	for (int a = o + 1; a < c && n < 64;) {
		int b = a;

		while (b < c && !is(g, b, ","))
			b = g->t[b].match > b ? g->t[b].match + 1 : b + 1;
		args[n++] = b == a + 1 && lookup(g, a) ? a : -1;
		a = b + 1;
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			int a = args[i], b = args[j];

			if (a < 0 || b < 0 || same_text(g, a, b) ||
			    !lookup(g, a)->type[0] ||
			    strcmp(lookup(g, a)->type, lookup(g, b)->type))
				continue;
			add_swap(g, OP_SWAP_ARGS, a, tend(g, b), g->t[a].off,
				 tend(g, a), g->t[b].off, tend(g, b));
		}
}

/* a[i][j] -> a[j][i] for the '[' at k, i and j variables of one type. */
static void swap_index(struct gen *g, int k)
{
	int c = g->t[k].match, i = k + 1, j = c + 2, from;
	const struct decl *di, *dj;

	if (!is(g, c + 1, "[") || g->t[k].flags & F_DECLDIM ||
	    i + 1 != c || j + 1 != g->t[c + 1].match)
		return;
	di = lookup(g, i);
	dj = lookup(g, j);
	if (!di || !dj || !di->type[0] || strcmp(di->type, dj->type) ||
	    same_text(g, i, j))
		return;
	from = g->t[k - 1].kind == T_ID ? k - 1 : k;
	add_swap(g, OP_SWAP_INDEX, from, tend(g, j + 1), g->t[i].off,
		 tend(g, i), g->t[j].off, tend(g, j));
}

/* P[k] = E; at statement start s (tokens s..s+4), else -1: its ';'. */
static int out_write(const struct gen *g, int s)
{
	if (!is_word(g, s) || !is(g, s + 1, "[") || g->t[s + 2].kind != T_NUM ||
	    !is(g, s + 3, "]") || !is(g, s + 4, "="))
		return -1;
	return stmt_end(g, s);
}

/* Each pair of P[k1] = E1; P[k2] = E2; in the block of statement s. */
static void swap_out(struct gen *g, int s)
{
	int e = out_write(g, s), blk = g->t[s].up;

	if (e < 0)
		return;
	for (int x = e + 1; x < g->t[blk].match; x++) {
		int f;

		if (g->t[x].up != blk || !block_stmt(g, x) ||
		    (f = out_write(g, x)) < 0)
			continue;
		if (same_text(g, s, x) && !same_text(g, s + 2, x + 2))
			add_swap(g, OP_SWAP_OUT, s, tend(g, f), g->t[s + 2].off,
				 tend(g, s + 2), g->t[x + 2].off, tend(g, x + 2));
		x = f;
	}
}

/* A statement at s writing through a pointer parameter, made empty. */
static void del_write(struct gen *g, int s)
{
	const struct decl *d;
	int j = s, e;

	if (is(g, s, "*"))
		j++;
	if (!(d = lookup(g, j)) || !d->param || !d->ptr)
		return;
	if (j == s) {
		if (!is(g, j + 1, "[") && !is(g, j + 1, "->"))
			return;
		for (j++;;) {
			if (is(g, j, "["))
				j = g->t[j].match + 1;
			else if ((is(g, j, "->") || is(g, j, ".")) &&
				 g->t[j + 1].kind == T_ID)
				j += 2;
			else
				break;
		}
	} else {
		j++;
	}
	if (!is_any(g, j, assign_ops) || (e = stmt_end(g, s)) < 0)
		return;
	g->tmp.len = 0;
	kva_buf_putc(&g->tmp, ';');
	for (size_t x = g->t[s].off; x < tend(g, e); x++)
		if (g->s[x] == '\n')
			kva_buf_putc(&g->tmp, '\n');
	add_edit(g, OP_DEL_WRITE, s, tend(g, e), g->tmp.p, g->tmp.len);
}

/* for (..; i REL E; ..): E -> E + 1 and E - 1 (parenthesised unless one
 * primary), when REL is the condition's only operator of its rank or
 * lower and E is not a lone integer constant (const covers that). */
static void loop_bound(struct gen *g, int k)
{
	static const char *const low[] = {
		"&&", "||", "?", ":", ",", "==", "!=", "&", "|", "^", "=", "+=",
		"-=", "*=", "/=", "%=", "&=", "^=", "|=", "<<=", ">>=", NULL
	};
	static const char *const rel4[] = { "<", "<=", ">", ">=", NULL };
	int o = k + 1, s1 = -1, s2 = -1, rel = -1, x;
	int one;

	if (!is(g, o, "("))
		return;
	for (x = o + 1; x < g->t[o].match; x++)
		if (is(g, x, ";") && g->t[x].up == o) {
			if (s1 < 0)
				s1 = x;
			else
				s2 = x;
		}
	if (s2 < 0)
		return;
	for (x = s1 + 1; x < s2; x = g->t[x].match > x ? g->t[x].match + 1 : x + 1) {
		if (is_any(g, x, low))
			return;
		if (is_any(g, x, rel4)) {
			if (rel >= 0)
				return;
			rel = x;
		}
	}
	if (rel < 0 || rel + 1 >= s2 ||
	    (rel + 2 == s2 && g->t[rel + 1].kind == T_NUM))
		return;
	one = operand_fwd(g, rel + 1) == s2 - 1;
	for (int a = 0; a < 2; a++) {
		g->tmp.len = 0;
		kva_buf_printf(&g->tmp, one ? "%.*s %s" : "(%.*s) %s",
			       (int)(tend(g, s2 - 1) - g->t[rel + 1].off),
			       g->s + g->t[rel + 1].off, a ? "- 1" : "+ 1");
		add_edit(g, OP_LOOP_BOUND, rel + 1, tend(g, s2 - 1), g->tmp.p,
			 g->tmp.len);
	}
}

/* Each other variable visible at the use k, of its declared type (and
 * not a const one where k is written). */
static void var(struct gen *g, int k)
{
	const struct decl *d = lookup(g, k);
	int written = is_any(g, k + 1, assign_ops) || is(g, k - 1, "++") ||
		      is(g, k - 1, "--");

	if (!d || !d->type[0] || g->t[k].flags & F_DECLNAME ||
	    is(g, k - 1, ".") || is(g, k - 1, "->"))
		return;
	for (int i = 0; i < g->nd; i++) {
		const struct decl *o = &g->d[i];

		if (k < o->from || k >= o->to || same_text(g, o->name, k) ||
		    (written && o->ro) ||
		    strcmp(o->type, d->type) || lookup_at(g, o->name, k) != o)
			continue;
		add_edit(g, OP_VAR, k, tend(g, k), g->s + g->t[o->name].off,
			 g->t[o->name].len);
	}
}

/* Read the function whose parameters are in (o, c) and body at b. */
static void function(struct gen *g, int o, int c, int b)
{
	int be = g->t[b].match;

	g->nd = 0;
	g->body = b;
	read_params(g, o, c, be);
	for (int k = b + 1; k < be; k++)
		if (stmt_start(g, k) ||
		    (is(g, k - 1, "(") && is(g, k - 2, "for")))
			read_local(g, k);
	for (int k = b + 1; k < be; k++) {
		if (is_any(g, k, arith_ops) && ends_operand(g, k - 1) &&
		    !(g->t[k].flags & F_DECLPTR)) {
			const struct decl *d = lookup(g, k - 1);

			/* pointer + n: only + and - are C (*p + n: all) */
			if (d && d->ptr && operand_back(g, k - 1) == k - 1 &&
			    !(is(g, k - 2, "*") && !ends_operand(g, k - 3)))
				swap_op(g, OP_ARITH, k, ptr_ops);
			else
				swap_op(g, OP_ARITH, k, arith_ops);
			if (is(g, k, "/") || is(g, k, "%"))
				drop_term(g, k);
		} else if (is_any(g, k, rel_ops)) {
			swap_op(g, OP_REL, k, rel_ops);
		} else if (g->t[k].kind == T_NUM && !(g->t[k].flags & F_DECLDIM)) {
			constant(g, k);
		} else if (is(g, k, "[")) {
			swap_index(g, k);
		} else if (is(g, k, "for")) {
			loop_bound(g, k);
		} else if (is_word(g, k) && is(g, k + 1, "(") &&
			   !(g->t[k].flags & F_DECLNAME)) {
			swap_args(g, k + 1);
		}
		if (stmt_start(g, k)) {
			if (block_stmt(g, k))
				swap_out(g, k);
			del_write(g, k);
		}
		var(g, k);
	}
}

/* ---- mutants ---------------------------------------------------------------- */

static int cmp_edit(const void *pa, const void *pb)
{
	const struct edit *a = pa, *b = pb;

	if (a->off != b->off)
		return a->off < b->off ? -1 : 1;
	if (a->op != b->op)
		return a->op - b->op;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* p[0..n) on one line: each run of blanks as one space. */
static void put_line(kva_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int blank = strchr(" \t\r\n\f\v", p[i]) != NULL;

		if (!blank)
			kva_buf_putc(b, p[i]);
		else if (b->len && b->p[b->len - 1] != ' ' && i + 1 < n)
			kva_buf_putc(b, ' ');
	}
}

static kva_mutant *build(struct gen *g, size_t *nout)
{
	kva_mutant *m = kva_xrealloc(NULL, g->ne + 1, sizeof *m);
	uint64_t *hs = kva_xrealloc(NULL, g->ne + 1, sizeof *hs);
	kva_hset seen = { 0 };
	size_t n = 0;

	if (g->ne)
		qsort(g->ed, g->ne, sizeof *g->ed, cmp_edit);
	for (size_t i = 0; i < g->ne; i++) {
		const struct edit *ed = &g->ed[i];
		size_t len = g->len - (ed->end - ed->off) + ed->nwlen, j = n;
		char *s = kva_xrealloc(NULL, len + 1, 1);
		kva_buf patch = { 0 };
		uint64_t h;

		memcpy(s, g->s, ed->off);
		memcpy(s + ed->off, g->pool.p + ed->nw, ed->nwlen);
		memcpy(s + ed->off + ed->nwlen, g->s + ed->end, g->len - ed->end);
		s[len] = '\0';
		h = XXH3_64bits(s, len);
		if (!kva_hset_add(&seen, h))
			for (j = 0; j < n; j++)
				if (hs[j] == h && m[j].len == len &&
				    !memcmp(m[j].src, s, len))
					break;
		if (j < n) {
			free(s);
			continue;
		}
		kva_buf_printf(&patch, "%d:%d: ", g->t[ed->tok].line,
			       g->t[ed->tok].col);
		put_line(&patch, g->s + ed->off, ed->end - ed->off);
		kva_buf_puts(&patch, " -> ");
		put_line(&patch, g->pool.p + ed->nw, ed->nwlen);
		while (patch.len && patch.p[patch.len - 1] == ' ')
			patch.p[--patch.len] = '\0';
		hs[n] = h;
		m[n] = (kva_mutant){
			.id = (unsigned)n + 1, .op = op_names[ed->op],
			.line = g->t[ed->tok].line, .col = g->t[ed->tok].col,
			.patch = patch.p, .src = s, .len = len
		};
		n++;
	}
	kva_hset_free(&seen);
	free(hs);
	*nout = n;
	return m;
}

/* See mutate.h. */
int kva_mutate(const char *src, size_t len, kva_mutant **out, size_t *n,
	       kva_err *e)
{
	struct gen g = { .s = src, .len = len };
	int rc = -1, bodies = 0;

	*out = NULL;
	*n = 0;
	if (tokenize(&g, e) || match_brackets(&g, e))
		goto done;
	for (int k = 0; k < g.nt; k++) {
		int c = k - 1, o;

		if (!is(&g, k, "{") || g.t[k].up != -1 || !is(&g, c, ")"))
			continue;
		o = g.t[c].match;
		/* int f(void) __attribute__((x)) { */
		while (is(&g, o - 1, "__attribute__") && is(&g, o - 2, ")")) {
			c = o - 2;
			o = g.t[c].match;
		}
		if (!is_word(&g, o - 1))
			continue;
		bodies++;
		/* the model's own unit test is not the code under test */
		if (is(&g, o - 1, "test_route"))
			continue;
		function(&g, o, c, k);
	}
	if (!bodies) {
		kva_errf(e, NULL, "no function body");
		goto done;
	}
	*out = build(&g, n);
	rc = 0;
done:
	free(g.t);
	free(g.d);
	free(g.ed);
	kva_buf_free(&g.pool);
	kva_buf_free(&g.tmp);
	return rc;
}

void kva_mutants_free(kva_mutant *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++) {
		free(m[i].patch);
		free(m[i].src);
	}
	free(m);
}
