/*
 * test_expr.c - the formula language: parse errors (exact text), operator
 * precedence, floor division, checked arithmetic, short-circuits, the
 * field a failed require names, canonical printing, and the built-in
 * formulas on the SPEC's fixtures.
 */
#include <stdlib.h>

#include "unit.h"
#include "kvarbiter.h"

/* The table every one-line test formula sees as t. */
static int64_t tab_v[] = { 5, 9, 2 };
static kva_table tab_t = { tab_v, 3 };

/* Parse text; the error message, or "(parsed)". */
static const char *parse_error(const char *text)
{
	static kva_err e;
	struct kva_formula *f;

	memset(&e, 0, sizeof e);
	f = kva_formula_parse(text, strlen(text), &e);
	if (f) {
		kva_formula_free(f);
		return "(parsed)";
	}
	return e.msg;
}

/* e->field points into the formula: copy it before the formula goes. */
static void keep_field(kva_err *e)
{
	static char field[64];

	if (e->field) {
		snprintf(field, sizeof field, "%s", e->field);
		e->field = field;
	}
}

/*
 * Evaluate "out r = EXPR" with inputs x, y and table t.  Returns the
 * eval's return code (-2 if it does not parse); *out is r, e says why it
 * failed.
 */
static int eval_expr(const char *expr, int64_t x, int64_t y, int64_t *out,
		     kva_err *e)
{
	char text[600];
	struct kva_formula *f;
	kva_args a;
	kva_route r;
	int rc;

	snprintf(text, sizeof text, "oracle t\ninput x y\ntable t\nout r = %s\n",
		 expr);
	memset(e, 0, sizeof *e);
	if (!(f = kva_formula_parse(text, strlen(text), e))) {
		fprintf(stderr, "eval_expr: %s: %s\n", expr, e->msg);
		return -2;
	}
	memset(&a, 0, sizeof a);
	a.in[0] = x;
	a.in[1] = y;
	a.tab[0] = tab_t;
	rc = kva_formula_eval(f, &a, &r, e);
	*out = r.out[0];
	keep_field(e);
	kva_formula_free(f);
	return rc;
}

/* EXPR evaluated with x, y (must succeed). */
static int64_t val(const char *expr, int64_t x, int64_t y)
{
	kva_err e;
	int64_t v = INT64_MIN;

	if (eval_expr(expr, x, y, &v, &e) != 0)
		fprintf(stderr, "val: %s: %s\n", expr, e.msg);
	return v;
}

static void t_parse_errors(void)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "", "1:1: formula must start with 'oracle NAME'" },
		{ "# only a comment\n\n", "1:1: formula must start with 'oracle NAME'" },
		{ "input x\noracle t\n", "1:1: formula must start with 'oracle NAME'" },
		{ "oracle t\n", "2:1: oracle 't' has no 'input' statement" },
		{ "oracle t\ninput x\n", "3:1: oracle 't' has no 'out' statement" },
		{ "oracle t\ninput x\nlet a = x", "3:10: oracle 't' has no 'out' statement" },
		{ "oracle t\noracle u\n", "2:1: duplicate 'oracle' statement" },
		{ "oracle\n", "1:7: expected an oracle name" },
		{ "oracle 2d\n", "1:8: bad oracle name '2d'" },
		{ "oracle a$b\n", "1:8: bad oracle name 'a$b'" },
		{ "oracle t\ninput block_size\nout o = 3 + blok_size\n",
		  "3:13: unknown name 'blok_size'" },
		{ "oracle t\ninput x x\n", "2:9: duplicate name 'x'" },
		{ "oracle t\ninput x\ntable x\n", "3:7: duplicate name 'x'" },
		{ "oracle t\ninput x\nlet x = 1\n", "3:5: duplicate name 'x'" },
		{ "oracle t\ninput x\nout o = x\nout o = x\n", "4:5: duplicate name 'o'" },
		{ "oracle t\ninput div\n", "2:7: 'div' is a reserved word" },
		{ "oracle t\ninput\n", "2:6: expected a name after 'input'" },
		{ "oracle t\ninput x 3\n", "2:9: expected a name, found '3'" },
		{ "oracle t\ninput x\nout o = x[0]\n", "3:9: 'x' is not a table" },
		{ "oracle t\ninput x\nlet a = 1\nout o = a [0]\n", "4:9: 'a' is not a table" },
		{ "oracle t\ninput x\ntable t\nout o = t + 1\n",
		  "4:9: table 't' used as a scalar" },
		{ "oracle t\ninput x\nout o = len(x)\n", "3:13: 'x' is not a table" },
		{ "oracle t\ninput x\nout o = sorted(zz)\n", "3:16: unknown name 'zz'" },
		{ "oracle t\ninput a b c d e f g h i\n", "2:23: too many inputs (max 8)" },
		{ "oracle t\ninput x\ntable a b c d e\n", "3:15: too many tables (max 4)" },
		{ "oracle t\ninput x\nout a = x\nout b = x\nout c = x\nout d = x\n"
		  "out e = x\n", "7:5: too many outputs (max 4)" },
		{ "oracle t\ninput x\nout o = a\nlet a = 1\n", "3:9: unknown name 'a'" },
		{ "oracle t\ninput x\nlet a = a + 1\n", "3:9: unknown name 'a'" },
		{ "oracle t\ninput x\nout o = (x + 1\n",
		  "3:15: expected ')', found end of line" },
		{ "oracle t\ninput x\nout o = x +\n",
		  "3:12: expected an expression, found end of line" },
		{ "oracle t\ninput x\nout o = x x\n", "3:11: unexpected 'x'" },
		{ "oracle t\ninput x\nout o x\n", "3:7: expected '=', found 'x'" },
		{ "oracle t\ninput x\nout o = 1 < x < 3\n",
		  "3:15: comparisons do not chain; use 'and'" },
		{ "oracle t\ninput x\nout o = x $ 1\n", "3:11: bad character '$'" },
		{ "oracle t\ninput x\nout o = x \xc3\xa9\n", "3:11: bad byte 0xc3" },
		{ "oracle t\ninput x\nout o = 12ab\n", "3:9: bad number '12ab'" },
		{ "oracle t\ninput x\nout o = 9223372036854775808\n",
		  "3:9: integer literal 9223372036854775808 out of range" },
		{ "oracle t\ninput x\nfrobnicate x\n", "3:1: unknown statement 'frobnicate'" },
		{ "oracle t\ninput x\nout o = div\n",
		  "3:9: expected an expression, found 'div'" },
		{ "oracle t\ninput x\nout o = min(x)\n", "3:14: expected ',', found ')'" },
		{ "oracle t\ninput x\nout o = if(x, 1)\n", "3:16: expected ',', found ')'" },
		{ "oracle t\ninput x\nout o = min x\n",
		  "3:13: expected '(' after 'min', found 'x'" },
		{ "oracle t\ninput x\n= x\n", "3:1: expected a statement, found '='" },
		{ "oracle t\ninput x\nout o = x !\n", "3:11: bad character '!'" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_STR(parse_error(cases[i].text), cases[i].msg);
}

static void t_parse_depth(void)
{
	char text[4096], *p;

	/* a tree 64 levels deep parses, 65 does not: x + (x + (... x)) */
	for (int k = 63; k <= 64; k++) {
		p = text + sprintf(text, "oracle t\ninput x\nout o = ");
		for (int i = 0; i < k; i++)
			p += sprintf(p, "x + (");
		p += sprintf(p, "x");
		for (int i = 0; i < k; i++)
			*p++ = ')';
		strcpy(p, "\n");
		if (k == 63)
			CHECK_STR(parse_error(text), "(parsed)");
		else
			CHECK_STR(parse_error(text),
				  "3:394: expression nested too deeply (max 64)");
	}
	/* a long flat chain is as deep as it is long */
	p = text + sprintf(text, "oracle t\ninput x\nout o = x");
	for (int i = 0; i < 100; i++)
		p += sprintf(p, " + x");
	strcpy(p, "\n");
	CHECK(strstr(parse_error(text), "expression nested too deeply (max 64)"));
	/* a flood of brackets is refused before the stack suffers */
	{
		size_t n = 1000000;
		char *big = malloc(n + 64);

		CHECK(big);
		p = big + sprintf(big, "oracle t\ninput x\nout o = ");
		memset(p, '(', n);
		strcpy(p + n, "x\n");
		CHECK(strstr(parse_error(big), "expression nested too deeply"));
		memset(p, '-', n);
		CHECK(strstr(parse_error(big), "expression nested too deeply"));
		free(big);
	}
}

static void t_lexical(void)
{
	/* comments, CRLF, tabs, blank lines, the middle dot */
	static const char text[] =
		"# header\r\n\r\noracle t   # name\r\n\tinput x y\r\n"
		"out o = x \xc2\xb7 y # product\r\n";
	struct kva_formula *f;
	kva_err e;
	kva_args a;
	kva_route r;

	f = kva_formula_parse(text, sizeof text - 1, &e);
	CHECK(f);
	memset(&a, 0, sizeof a);
	a.in[0] = 6;
	a.in[1] = 7;
	CHECK_EQ_I64(kva_formula_eval(f, &a, &r, &e), 0);
	CHECK_EQ_I64(r.out[0], 42);
	kva_formula_free(f);
	/* a NUL byte is a bad byte, not the end of the text */
	CHECK_STR(parse_error("oracle t\ninput x\nout o = x"), "(parsed)");
	f = kva_formula_parse("oracle t\ninput x\0y\nout o = x\n", 27, &e);
	CHECK(!f);
	CHECK_STR(e.msg, "2:8: bad byte 0x00");
}

static void t_precedence(void)
{
	CHECK_EQ_I64(val("1 + 2 * 3", 0, 0), 7);
	CHECK_EQ_I64(val("(1 + 2) * 3", 0, 0), 9);
	CHECK_EQ_I64(val("10 - 4 - 3", 0, 0), 3);
	CHECK_EQ_I64(val("100 div 10 div 5", 0, 0), 2);
	CHECK_EQ_I64(val("17 div 3 mod 4", 0, 0), 1);
	CHECK_EQ_I64(val("2 * 7 mod 4", 0, 0), 2);
	CHECK_EQ_I64(val("-x * 3", 2, 0), -6);
	CHECK_EQ_I64(val("- -x", 2, 0), 2);
	CHECK_EQ_I64(val("-2 - -3", 0, 0), 1);
	CHECK_EQ_I64(val("1 + 2 < 4", 0, 0), 1);
	CHECK_EQ_I64(val("(1 < 2) == 1", 0, 0), 1);
	CHECK_EQ_I64(val("not 1 == 2", 0, 0), 1);
	CHECK_EQ_I64(val("not x and y", 0, 1), 1);
	CHECK_EQ_I64(val("not (x and y)", 1, 0), 1);
	CHECK_EQ_I64(val("x or y and 0", 1, 1), 1);
	CHECK_EQ_I64(val("(x or y) and 0", 1, 1), 0);
	CHECK_EQ_I64(val("x == 1 or y == 1 and x == 2", 1, 0), 1);
	CHECK_EQ_I64(val("min(x, y) + max(x, y) * 2", 3, 8), 19);
	CHECK_EQ_I64(val("t[x + 1] * 10 + t[0]", 1, 0), 25);
	CHECK_EQ_I64(val("len(t) + sorted(t)", 0, 0), 3);
	CHECK_EQ_I64(val("if(x > y, x, y)", 3, 8), 8);
	CHECK_EQ_I64(val("7 != 7", 0, 0), 0);
	CHECK_EQ_I64(val("3 >= 3", 0, 0) + val("3 > 3", 0, 0) + val("2 <= 3", 0, 0), 2);
	CHECK_EQ_I64(val("x and 5", 3, 0), 1); /* truth values are 0 and 1 */
}

static void t_floor(void)
{
	CHECK_EQ_I64(val("x div y", -7, 2), -4);
	CHECK_EQ_I64(val("x mod y", -7, 2), 1);
	CHECK_EQ_I64(val("x div y", 7, -2), -4);
	CHECK_EQ_I64(val("x mod y", 7, -2), -1);
	CHECK_EQ_I64(val("x div y", -7, -2), 3);
	CHECK_EQ_I64(val("x mod y", -7, -2), -1);
	CHECK_EQ_I64(val("x div y", -8, 2), -4);
	CHECK_EQ_I64(val("x mod y", -8, 2), 0);
	CHECK_EQ_I64(val("x mod y", -1, 16), 15);
	CHECK_EQ_I64(val("x mod y", INT64_MIN, -1), 0);
	/* the identity that defines mod */
	for (int64_t x = -20; x <= 20; x++)
		for (int64_t y = -5; y <= 5; y++)
			if (y)
				CHECK_EQ_I64(val("y * (x div y) + x mod y", x, y), x);
}

static void t_eval_errors(void)
{
	kva_err e;
	int64_t v;

	CHECK_EQ_I64(eval_expr("x * y + 1", INT64_MAX, 2, &v, &e), -1);
	CHECK_STR(e.msg, "r overflows int64");
	CHECK_STR(e.field, "x");
	CHECK_EQ_I64(eval_expr("x + y", INT64_MAX, 1, &v, &e), -1);
	CHECK_EQ_I64(eval_expr("x - y", INT64_MIN, 1, &v, &e), -1);
	CHECK_EQ_I64(eval_expr("-x", INT64_MIN, 0, &v, &e), -1);
	CHECK_EQ_I64(eval_expr("x div y", INT64_MIN, -1, &v, &e), -1);
	CHECK_STR(e.msg, "r overflows int64");
	CHECK_EQ_I64(eval_expr("x div y", 5, 0, &v, &e), -1);
	CHECK_STR(e.msg, "division by zero in x div y");
	CHECK_STR(e.field, "y");
	CHECK_EQ_I64(eval_expr("1 + x mod (y - 3)", 5, 3, &v, &e), -1);
	CHECK_STR(e.msg, "division by zero in x mod (y - 3)");
	CHECK_STR(e.field, "y");
	CHECK_EQ_I64(eval_expr("t[x + 1]", 2, 0, &v, &e), -1);
	CHECK_STR(e.msg, "index 3 out of range in t[x + 1]");
	CHECK_STR(e.field, "t");
	CHECK_EQ_I64(eval_expr("t[x]", -1, 0, &v, &e), -1);
	CHECK_STR(e.msg, "index -1 out of range in t[x]");
	/* overflow at the edge, not before */
	CHECK_EQ_I64(eval_expr("x + y", INT64_MAX - 1, 1, &v, &e), 0);
	CHECK_EQ_I64(v, INT64_MAX);
	CHECK_EQ_I64(eval_expr("x * y", INT64_MIN / 2, 2, &v, &e), 0);
	CHECK_EQ_I64(v, INT64_MIN);
}

static void t_short_circuit(void)
{
	kva_err e;
	int64_t v;
	kva_table saved = tab_t;

	tab_t.n = 0;
	CHECK_EQ_I64(eval_expr("if(len(t) == 0, 0, t[0])", 0, 0, &v, &e), 0);
	CHECK_EQ_I64(v, 0);
	CHECK_EQ_I64(eval_expr("len(t) > 0 and t[0] == 5", 0, 0, &v, &e), 0);
	CHECK_EQ_I64(v, 0);
	CHECK_EQ_I64(eval_expr("len(t) == 0 or t[0] == 5", 0, 0, &v, &e), 0);
	CHECK_EQ_I64(v, 1);
	CHECK_EQ_I64(eval_expr("x == 0 or 1 div x", 0, 0, &v, &e), 0);
	CHECK_EQ_I64(eval_expr("x != 0 and 1 div x", 0, 0, &v, &e), 0);
	CHECK_EQ_I64(v, 0);
	/* without the guard the lookup fails */
	CHECK_EQ_I64(eval_expr("len(t) == 0 and t[0] == 5", 0, 0, &v, &e), -1);
	tab_t = saved;
	CHECK_EQ_I64(eval_expr("sorted(t)", 0, 0, &v, &e), 0);
	CHECK_EQ_I64(v, 0);
}

/* Parse text (must succeed) and evaluate it on in[], tables t0/t1. */
static int run_formula(const char *text, const int64_t *in, int nin,
		       kva_route *r, kva_err *e)
{
	struct kva_formula *f = kva_formula_parse(text, strlen(text), e);
	kva_args a;
	int rc;

	if (!f) {
		fprintf(stderr, "run_formula: %s\n", e->msg);
		return -2;
	}
	memset(&a, 0, sizeof a);
	for (int i = 0; i < nin; i++)
		a.in[i] = in[i];
	a.tab[0] = tab_t;
	memset(e, 0, sizeof *e);
	rc = kva_formula_eval(f, &a, r, e);
	keep_field(e);
	kva_formula_free(f);
	return rc;
}

static void t_require_field(void)
{
	static const char text[] =
		"oracle t\n"
		"input x y\n"
		"table tb\n"
		"require y >= 1\n"
		"let a = tb[x] + 0\n"
		"require 10 > a * y\n"
		"require tb[x + 1] >= 0\n"
		"require 3 + 4 == 7\n"
		"padding x == 9\n"
		"unmapped x == 8\n"
		"out o = a\n";
	kva_route r;
	kva_err e;
	int64_t in[2];

	in[0] = 0; in[1] = 0;
	CHECK_EQ_I64(run_formula(text, in, 2, &r, &e), -1);
	CHECK_STR(e.field, "y");
	CHECK_STR(e.msg, "must satisfy y >= 1");
	/* the first name with lets expanded: a is tb[x] + 0, so tb */
	in[0] = 1; in[1] = 2;
	CHECK_EQ_I64(run_formula(text, in, 2, &r, &e), -1);
	CHECK_STR(e.field, "tb");
	CHECK_STR(e.msg, "must satisfy 10 > a * y");
	/* an evaluation error inside a require fails the require; the let
	 * before it failed first here (index 7), naming the table */
	in[0] = 7; in[1] = 1;
	CHECK_EQ_I64(run_formula(text, in, 2, &r, &e), -1);
	CHECK_STR(e.field, "tb");
	CHECK_STR(e.msg, "index 7 out of range in tb[x]");
	in[0] = 2; in[1] = 1;
	CHECK_EQ_I64(run_formula(text, in, 2, &r, &e), -1);
	CHECK_STR(e.field, "tb");
	CHECK_STR(e.msg, "must satisfy tb[x + 1] >= 0");
	in[0] = 0; in[1] = 1;
	CHECK_EQ_I64(run_formula(text, in, 2, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_ROUTED);
	CHECK_EQ_I64(r.out[0], 5);
	/* a require with no names names no field */
	CHECK_EQ_I64(run_formula("oracle t\ninput x\nrequire 1 == 2\nout o = x\n",
				 in, 1, &r, &e), -1);
	CHECK(e.field == NULL);
	CHECK_STR(e.msg, "must satisfy 1 == 2");
}

static void t_status_order(void)
{
	/* statements run in file order: the first true padding/unmapped
	 * wins; outs before it are discarded */
	static const char text[] =
		"oracle t\ninput x\nout o = x\npadding x == 1\nunmapped x >= 1\n"
		"padding x == 2\nout p = 100 div (x - 3)\n";
	kva_route r;
	kva_err e;
	int64_t in[1];

	in[0] = 1;
	CHECK_EQ_I64(run_formula(text, in, 1, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_PADDING);
	CHECK_EQ_I64(r.out[0], 0);
	in[0] = 2;
	CHECK_EQ_I64(run_formula(text, in, 1, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_UNMAPPED);
	in[0] = 0;
	CHECK_EQ_I64(run_formula(text, in, 1, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_ROUTED);
	CHECK_EQ_I64(r.out[0], 0);
	CHECK_EQ_I64(r.out[1], -34);
	in[0] = -5;
	CHECK_EQ_I64(run_formula(text, in, 1, &r, &e), 0);
	CHECK_EQ_I64(r.out[1], -13);
}

/* Print f into a malloc'd string. */
static char *print_str(const struct kva_formula *f)
{
	char *s = NULL;
	size_t n = 0;
	FILE *fp = open_memstream(&s, &n);

	if (!fp)
		return NULL;
	kva_formula_print(f, fp);
	fclose(fp);
	return s;
}

static void t_print(void)
{
	static const char text[] =
		"oracle p-1.x\n"
		"input x y\n"
		"table t\n"
		"input z   # a second input line\n"
		"let a = ((x + y) * (z - 1)) div 2 mod 3\n"
		"let b = x - (y - z) - -z + (-(x))\n"
		"let c = not (x < y) and (x == 1 or y != 2) or not not z\n"
		"let d = if(len(t) == 0, min(x, max(y, 2)), t[(x * y * z) mod len(t)])\n"
		"let e = (x mod 3) * 2 + x * (y div 2) + (x * y) * z + x * (y * z)\n"
		"require sorted(t) or (x >= -1)\n"
		"out o = a + b + c + d + e\n";
	static const char want[] =
		"oracle p-1.x\n"
		"input x y z\n"
		"table t\n"
		"let a = (((x + y) * (z - 1)) div 2) mod 3\n"
		"let b = x - (y - z) - -z + -x\n"
		"let c = not x < y and (x == 1 or y != 2) or not not z\n"
		"let d = if(len(t) == 0, min(x, max(y, 2)), t[(x * y * z) mod len(t)])\n"
		"let e = (x mod 3) * 2 + x * (y div 2) + x * y * z + x * (y * z)\n"
		"require sorted(t) or x >= -1\n"
		"out o = a + b + c + d + e\n";
	struct kva_formula *f, *g;
	kva_err e;
	char *s, *s2;

	f = kva_formula_parse(text, strlen(text), &e);
	CHECK(f);
	s = print_str(f);
	CHECK(s);
	CHECK_STR(s, want);
	/* printing is a fixed point, and the reprint computes the same */
	g = kva_formula_parse(s, strlen(s), &e);
	CHECK(g);
	s2 = print_str(g);
	CHECK_STR(s2, s);
	for (int64_t x = -3; x <= 3; x++)
		for (int64_t y = -3; y <= 3; y++)
			for (int64_t z = -3; z <= 3; z++) {
				kva_args a;
				kva_route r1, r2;
				kva_err e1, e2;
				int c1, c2;

				memset(&a, 0, sizeof a);
				a.in[0] = x;
				a.in[1] = y;
				a.in[2] = z;
				a.tab[0] = tab_t;
				c1 = kva_formula_eval(f, &a, &r1, &e1);
				c2 = kva_formula_eval(g, &a, &r2, &e2);
				CHECK_EQ_I64(c1, c2);
				CHECK_EQ_I64(r1.out[0], r2.out[0]);
			}
	free(s);
	free(s2);
	kva_formula_free(f);
	kva_formula_free(g);
}

/* Evaluate built-in oracle name's formula on in[] (and table t0). */
static int builtin(const char *name, const int64_t *in, const kva_table *tabs,
		   kva_route *r, kva_err *e)
{
	const kva_oracle *o = kva_oracle_find(name);
	struct kva_formula *f;
	kva_args a;

	if (!o || !(f = kva_oracle_formula(o, e)))
		return -2;
	memset(&a, 0, sizeof a);
	for (int i = 0; i < o->nin; i++)
		a.in[i] = in[i];
	for (int i = 0; i < o->ntab; i++)
		a.tab[i] = tabs[i];
	return kva_formula_eval(f, &a, r, e);
}

static void t_builtins_parse(void)
{
	for (int i = 0; kva_oracles[i]; i++) {
		const kva_oracle *o = kva_oracles[i];
		kva_err e;
		struct kva_formula *f = kva_oracle_formula(o, &e), *g;
		kva_oracle fo;
		char *s;

		CHECK(f);
		CHECK(kva_oracle_formula(o, &e) == f); /* parsed once */
		CHECK_EQ_I64(kva_formula_oracle(f, &fo, &e), 0);
		CHECK_STR(fo.name, o->name);
		CHECK(fo.eval == NULL && fo.f == f);
		CHECK_EQ_I64(fo.nin, o->nin);
		CHECK_EQ_I64(fo.ntab, o->ntab);
		CHECK_EQ_I64(fo.nout, o->nout);
		for (int k = 0; k < o->nin; k++)
			CHECK_STR(fo.in[k], o->in[k]);
		for (int k = 0; k < o->ntab; k++)
			CHECK_STR(fo.tab[k], o->tab[k]);
		for (int k = 0; k < o->nout; k++)
			CHECK_STR(fo.out[k], o->out[k]);
		s = print_str(f);
		CHECK(s);
		g = kva_formula_parse(s, strlen(s), &e);
		free(s);
		CHECK(g);
		kva_formula_free(g);
	}
}

static void t_radix_fixtures(void)
{
	/* ImpactArbiter's table: (b, h, prefix_h, N_h) -> (head, block,
	 * offset); block_size 16 makes all three rows true (4 would give
	 * offset 0 in the third) */
	static const int64_t rows[][8] = {
		{ 0, 0, 47, 8, 16, 0, 2, 15 },
		{ 5, 0, 60, 4, 16, 0, 0, 1 },
		{ 0, 3, 200, 4, 16, 3, 0, 8 },
	};
	kva_route r;
	kva_err e;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		CHECK_EQ_I64(builtin("radix-2d", rows[i], NULL, &r, &e), 0);
		CHECK_EQ_I64(r.status, KVA_ROUTED);
		CHECK_EQ_I64(r.out[0], rows[i][5]);
		CHECK_EQ_I64(r.out[1], rows[i][6]);
		CHECK_EQ_I64(r.out[2], rows[i][7]);
	}
	{
		int64_t in[5] = { 0, 3, 200, 4, 4 };

		CHECK_EQ_I64(builtin("radix-2d", in, NULL, &r, &e), 0);
		CHECK_EQ_I64(r.out[2], 0);
		in[4] = 0;
		CHECK_EQ_I64(builtin("radix-2d", in, NULL, &r, &e), -1);
		CHECK_STR(e.field, "block_size");
		CHECK_STR(e.msg, "must satisfy block_size >= 1");
		in[4] = 16;
		in[3] = 0;
		CHECK_EQ_I64(builtin("radix-2d", in, NULL, &r, &e), -1);
		CHECK_STR(e.field, "total_blocks_h");
		in[0] = -1;
		CHECK_EQ_I64(builtin("radix-2d", in, NULL, &r, &e), -1);
		CHECK_STR(e.field, "b_local_idx");
	}
	{
		int64_t in[3] = { 5, 60, 16 };

		CHECK_EQ_I64(builtin("radix-1d", in, NULL, &r, &e), 0);
		CHECK_EQ_I64(r.out[0], 4);
		CHECK_EQ_I64(r.out[1], 1);
	}
}

static void t_paged_values(void)
{
	/* the historical paged tokens 15, 99, 100, 105, 128 with block 16 */
	int64_t bt[] = { 7, 3, 11, 0, 5, 9, 2, 8 };
	kva_table tabs[1] = { { bt, 7 } };
	kva_route r;
	kva_err e;
	int64_t in[3];

	in[1] = 16;
	in[0] = 15;
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_ROUTED);
	CHECK_EQ_I64(r.out[0], 7);
	CHECK_EQ_I64(r.out[1], 15);
	CHECK_EQ_I64(r.out[2], 127);
	in[0] = 100;
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.out[0], 2);
	CHECK_EQ_I64(r.out[1], 4);
	CHECK_EQ_I64(r.out[2], 36);
	in[0] = 111; /* index 6: the last entry */
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_ROUTED);
	in[0] = 112; /* index 7: past the end */
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_UNMAPPED);
	in[0] = 128;
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_UNMAPPED);
	in[0] = -1;
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_PADDING);
	in[0] = -2;
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), -1);
	CHECK_STR(e.field, "pos");
	CHECK_STR(e.msg, "must satisfy pos >= -1");
	/* slot overflow: named the way the compiled path names it */
	in[0] = KVA_INT_LIMIT;
	in[1] = KVA_INT_LIMIT / 4;
	bt[4] = 2147483647;
	CHECK_EQ_I64(builtin("paged", in, tabs, &r, &e), -1);
	CHECK_STR(e.field, "block_size");
	CHECK_STR(e.msg, "slot overflows int64");
	/* ring: window 3 wraps pos 100 (block 6) onto entry 0 */
	bt[4] = 5;
	in[0] = 100;
	in[1] = 16;
	in[2] = 3;
	CHECK_EQ_I64(builtin("paged-ring", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.out[0], 7);
	CHECK_EQ_I64(r.out[2], 7 * 16 + 4);
	tabs[0].n = 0;
	CHECK_EQ_I64(builtin("paged-ring", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_UNMAPPED);
	in[2] = 0;
	CHECK_EQ_I64(builtin("paged-ring", in, tabs, &r, &e), -1);
	CHECK_STR(e.field, "window_blocks");
}

static void t_flashinfer_values(void)
{
	/* two requests: 0 owns pages {4, 6} with 3 tokens in the last (seq
	 * 4+3 = 7 at page size 4), 1 owns page {1} filled to 2 */
	int64_t indptr[] = { 0, 2, 3 }, indices[] = { 4, 6, 1 }, last[] = { 3, 2 };
	kva_table tabs[3] = { { indptr, 3 }, { indices, 3 }, { last, 2 } };
	kva_route r;
	kva_err e;
	int64_t in[3] = { 0, 6, 4 };

	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_ROUTED);
	CHECK_EQ_I64(r.out[0], 6);
	CHECK_EQ_I64(r.out[1], 2);
	in[1] = 7;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.status, KVA_UNMAPPED);
	in[0] = 1;
	in[1] = 1;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), 0);
	CHECK_EQ_I64(r.out[0], 1);
	CHECK_EQ_I64(r.out[1], 1);
	in[0] = 2;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), -1);
	CHECK_STR(e.field, "batch");
	CHECK_STR(e.msg, "must satisfy batch < len(kv_last_page_len)");
	in[0] = 1;
	last[1] = 0;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), -1);
	CHECK_STR(e.field, "kv_last_page_len");
	CHECK_STR(e.msg, "must satisfy kv_last_page_len[batch] >= 1 or pages == 0");
	last[1] = 5;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), -1);
	CHECK_STR(e.msg, "must satisfy kv_last_page_len[batch] <= page_size");
	last[1] = 2;
	indptr[1] = 4;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), -1);
	CHECK_STR(e.field, "kv_indptr");
	CHECK_STR(e.msg, "must satisfy sorted(kv_indptr)");
	indptr[1] = 2;
	tabs[1].n = 2;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), -1);
	CHECK_STR(e.msg, "must satisfy kv_indptr[len(kv_indptr) - 1] <= "
		  "len(kv_indices)");
	tabs[0].n = 0;
	CHECK_EQ_I64(builtin("flashinfer", in, tabs, &r, &e), -1);
	CHECK_STR(e.msg, "must satisfy len(kv_indptr) == len(kv_last_page_len) + 1");
}

const unit_test suite_expr[] = {
	{ "expr_parse_errors", t_parse_errors },
	{ "expr_parse_depth", t_parse_depth },
	{ "expr_lexical", t_lexical },
	{ "expr_precedence", t_precedence },
	{ "expr_floor", t_floor },
	{ "expr_eval_errors", t_eval_errors },
	{ "expr_short_circuit", t_short_circuit },
	{ "expr_require_field", t_require_field },
	{ "expr_status_order", t_status_order },
	{ "expr_print", t_print },
	{ "expr_builtins_parse", t_builtins_parse },
	{ "expr_radix_fixtures", t_radix_fixtures },
	{ "expr_paged_values", t_paged_values },
	{ "expr_flashinfer_values", t_flashinfer_values },
	{ NULL, NULL }
};
