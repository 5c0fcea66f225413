/*
 * test_mutate.c - the mutant generator: each operator on a tiny source
 * (every mutant's op and patch, one mutant's whole text), places where
 * no operator may fire, sources it must refuse, and the counts on two
 * candidates of fixtures/ (a radix-2d route, a write kernel).
 */
#include <stdlib.h>

#include "unit.h"
#include "mutate.h"

/* The mutants of src; none (and the message on stderr) if it fails. */
static kva_mutant *mutants(const char *src, size_t *n)
{
	kva_mutant *m = NULL;
	kva_err e;

	if (kva_mutate(src, strlen(src), &m, n, &e)) {
		fprintf(stderr, "kva_mutate: %s\n", e.msg);
		*n = 0;
	}
	return m;
}

/* "OP PATCH\n" for each mutant, into b; checks ids, line and col. */
static const char *listing(kva_buf *b, const kva_mutant *m, size_t n)
{
	kva_buf_puts(b, "");
	for (size_t i = 0; i < n; i++) {
		char at[32];

		snprintf(at, sizeof at, "%d:%d: ", m[i].line, m[i].col);
		if (m[i].id != i + 1 || strncmp(m[i].patch, at, strlen(at)))
			kva_buf_puts(b, "BAD ID OR PLACE ");
		kva_buf_printf(b, "%s %s\n", m[i].op, m[i].patch);
	}
	return b->p;
}

/* The text of the mutant whose patch is patch, or NULL. */
static const char *text_of(const kva_mutant *m, size_t n, const char *patch)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].patch, patch))
			return m[i].src;
	return NULL;
}

/* The mutants of src must be want (a listing), and the one with patch
 * p (unless NULL) must read text. */
static int expect(const char *src, const char *want, const char *p,
		  const char *text)
{
	kva_buf b = { 0 };
	size_t n;
	kva_mutant *m = mutants(src, &n);
	const char *got = listing(&b, m, n), *t = text_of(m, n, p);
	int ok = !strcmp(got, want) && (!p || (t && !strcmp(t, text)));

	if (!ok)
		fprintf(stderr, "mutants of:\n%s\ngot:\n%swant:\n%s"
			"mutant \"%s\":\n%s\nwant:\n%s\n", src, got, want,
			p ? p : "", t ? t : "(none)", text ? text : "");
	kva_buf_free(&b);
	kva_mutants_free(m, n);
	return ok;
}

static void t_mutate_arith(void)
{
	CHECK(expect("int f(int a, int b)\n{\n\treturn a + b;\n}\n",
		     "var 3:9: a -> b\n"
		     "arith 3:11: + -> -\n"
		     "arith 3:11: + -> *\n"
		     "arith 3:11: + -> /\n"
		     "arith 3:11: + -> %\n"
		     "var 3:13: b -> a\n",
		     "3:11: + -> %",
		     "int f(int a, int b)\n{\n\treturn a % b;\n}\n"));
	/* after a pointer only + and - are C (after *p all five); a space
	 * where "/" would open a comment (the patch does not show it) */
	CHECK(expect("int f(int *p, int a)\n{\n\treturn *(p + a) * a-*p;\n}\n",
		     "arith 3:13: + -> -\n"
		     "arith 3:18: * -> +\n"
		     "arith 3:18: * -> -\n"
		     "arith 3:18: * -> /\n"
		     "arith 3:18: * -> %\n"
		     "arith 3:21: - -> +\n"
		     "arith 3:21: - -> *\n"
		     "arith 3:21: - -> /\n"
		     "arith 3:21: - -> %\n",
		     "3:21: - -> /",
		     "int f(int *p, int a)\n{\n\treturn *(p + a) * a/ *p;\n}\n"));
}

static void t_mutate_rel(void)
{
	CHECK(expect("int f(int a, int b)\n{\n\treturn a < b;\n}\n",
		     "var 3:9: a -> b\n"
		     "rel 3:11: < -> <=\n"
		     "rel 3:11: < -> >\n"
		     "rel 3:11: < -> >=\n"
		     "rel 3:11: < -> ==\n"
		     "rel 3:11: < -> !=\n"
		     "var 3:13: b -> a\n",
		     "3:11: < -> !=",
		     "int f(int a, int b)\n{\n\treturn a != b;\n}\n"));
}

static void t_mutate_const(void)
{
	/* suffix and base kept; 1 -> 0 once though both rules make it */
	CHECK(expect("unsigned f(void)\n{\n\treturn 0x1Fu + 1 - 010 + 0;\n}\n",
		     "const 3:9: 0x1Fu -> 0x20u\n"
		     "const 3:9: 0x1Fu -> 0x1Eu\n"
		     "arith 3:15: + -> -\n"
		     "arith 3:15: + -> *\n"
		     "arith 3:15: + -> /\n"
		     "arith 3:15: + -> %\n"
		     "const 3:17: 1 -> 2\n"
		     "const 3:17: 1 -> 0\n"
		     "arith 3:19: - -> +\n"
		     "arith 3:19: - -> *\n"
		     "arith 3:19: - -> /\n"
		     "arith 3:19: - -> %\n"
		     "const 3:21: 010 -> 011\n"
		     "const 3:21: 010 -> 07\n"
		     "arith 3:25: + -> -\n"
		     "arith 3:25: + -> *\n"
		     "arith 3:25: + -> /\n"
		     "arith 3:25: + -> %\n"
		     "const 3:27: 0 -> 1\n",
		     "3:9: 0x1Fu -> 0x1Eu",
		     "unsigned f(void)\n{\n\treturn 0x1Eu + 1 - 010 + 0;\n}\n"));
	/* not an array size, a float, nor a parameter list */
	CHECK(expect("double f(int a[4])\n{\n\tint b[2];\n\treturn 1.5;\n}\n",
		     "", NULL, NULL));
}

static void t_mutate_drop_term(void)
{
	CHECK(expect("int64_t f(int64_t a, const int64_t *x)\n"
		     "{\n\treturn (a + 1) % x[0];\n}\n",
		     "drop-term 3:9: (a + 1) % x[0] -> (a + 1)\n"
		     "arith 3:12: + -> -\n"
		     "arith 3:12: + -> *\n"
		     "arith 3:12: + -> /\n"
		     "arith 3:12: + -> %\n"
		     "const 3:14: 1 -> 2\n"
		     "const 3:14: 1 -> 0\n"
		     "arith 3:17: % -> +\n"
		     "arith 3:17: % -> -\n"
		     "arith 3:17: % -> *\n"
		     "arith 3:17: % -> /\n"
		     "const 3:21: 0 -> 1\n",
		     "3:9: (a + 1) % x[0] -> (a + 1)",
		     "int64_t f(int64_t a, const int64_t *x)\n"
		     "{\n\treturn (a + 1);\n}\n"));
}

static void t_mutate_swap_args(void)
{
	/* a and c differ in type: only g(a, b) */
	CHECK(expect("int g(int, int);\nint f(int a, int b, long c)\n"
		     "{\n\treturn g(a, b) + g(a, c);\n}\n",
		     "swap-args 4:11: a, b -> b, a\n"
		     "var 4:11: a -> b\n"
		     "var 4:14: b -> a\n"
		     "arith 4:17: + -> -\n"
		     "arith 4:17: + -> *\n"
		     "arith 4:17: + -> /\n"
		     "arith 4:17: + -> %\n"
		     "var 4:21: a -> b\n",
		     "4:11: a, b -> b, a",
		     "int g(int, int);\nint f(int a, int b, long c)\n"
		     "{\n\treturn g(b, a) + g(a, c);\n}\n"));
}

static void t_mutate_swap_index(void)
{
	CHECK(expect("int f(int m[4][4], int i, int j)\n{\n\treturn m[i][j];\n}\n",
		     "swap-index 3:9: m[i][j] -> m[j][i]\n"
		     "var 3:11: i -> j\n"
		     "var 3:14: j -> i\n",
		     "3:9: m[i][j] -> m[j][i]",
		     "int f(int m[4][4], int i, int j)\n{\n\treturn m[j][i];\n}\n"));
}

static void t_mutate_swap_out(void)
{
	/* the write in the if's body is not the block's own */
	CHECK(expect("void f(long *o, long *p, int c)\n{\n"
		     "\to[0] = c;\n\tif (c)\n\t\to[2] = 1;\n\tp[1] = 2;\n"
		     "\to[1] = -c;\n}\n",
		     "swap-out 3:2: o[0] = c; if (c) o[2] = 1; p[1] = 2; o[1] = -c;"
		     " -> o[1] = c; if (c) o[2] = 1; p[1] = 2; o[0] = -c;\n"
		     "del-write 3:2: o[0] = c; -> ;\n"
		     "var 3:2: o -> p\n"
		     "const 3:4: 0 -> 1\n"
		     "del-write 5:3: o[2] = 1; -> ;\n"
		     "var 5:3: o -> p\n"
		     "const 5:5: 2 -> 3\n"
		     "const 5:5: 2 -> 1\n"
		     "const 5:10: 1 -> 2\n"
		     "const 5:10: 1 -> 0\n"
		     "del-write 6:2: p[1] = 2; -> ;\n"
		     "var 6:2: p -> o\n"
		     "const 6:4: 1 -> 2\n"
		     "const 6:4: 1 -> 0\n"
		     "const 6:9: 2 -> 3\n"
		     "const 6:9: 2 -> 1\n"
		     "del-write 7:2: o[1] = -c; -> ;\n"
		     "var 7:2: o -> p\n"
		     "const 7:4: 1 -> 2\n"
		     "const 7:4: 1 -> 0\n",
		     "3:2: o[0] = c; if (c) o[2] = 1; p[1] = 2; o[1] = -c;"
		     " -> o[1] = c; if (c) o[2] = 1; p[1] = 2; o[0] = -c;",
		     "void f(long *o, long *p, int c)\n{\n"
		     "\to[1] = c;\n\tif (c)\n\t\to[2] = 1;\n\tp[1] = 2;\n"
		     "\to[0] = -c;\n}\n"));
}

static void t_mutate_del_write(void)
{
	/* *p, p[..] op=, p->f++; not a write to a non-pointer; a statement
	 * over two lines keeps its newline */
	CHECK(expect("struct s { int v; };\n"
		     "void f(int *p, int *q, struct s *r, int n)\n{\n"
		     "\t*p = n;\n\tq[0] += n;\n\tr->v++;\n\tn = 2;\n"
		     "\t*q =\n\t\t3;\n}\n",
		     "del-write 4:2: *p = n; -> ;\n"
		     "var 4:3: p -> q\n"
		     "del-write 5:2: q[0] += n; -> ;\n"
		     "var 5:2: q -> p\n"
		     "const 5:4: 0 -> 1\n"
		     "del-write 6:2: r->v++; -> ;\n"
		     "const 7:6: 2 -> 3\n"
		     "const 7:6: 2 -> 1\n"
		     "del-write 8:2: *q = 3; -> ;\n"
		     "var 8:3: q -> p\n"
		     "const 9:3: 3 -> 4\n"
		     "const 9:3: 3 -> 2\n",
		     "8:2: *q = 3; -> ;",
		     "struct s { int v; };\n"
		     "void f(int *p, int *q, struct s *r, int n)\n{\n"
		     "\t*p = n;\n\tq[0] += n;\n\tr->v++;\n\tn = 2;\n"
		     "\t;\n\n}\n"));
}

static void t_mutate_narrow(void)
{
	/* locals, once per declaration; not a parameter (the candidate
	 * header declares it), a return type or a cast */
	CHECK(expect("int64_t f(int64_t a)\n{\n\tint64_t b = a, c;\n"
		     "\treturn (int64_t)b;\n}\n",
		     "narrow 3:2: int64_t -> int32_t\n"
		     "var 4:18: b -> a\n"
		     "var 4:18: b -> c\n",
		     "3:2: int64_t -> int32_t",
		     "int64_t f(int64_t a)\n{\n\tint32_t b = a, c;\n"
		     "\treturn (int64_t)b;\n}\n"));
}

static void t_mutate_loop_bound(void)
{
	kva_buf b = { 0 };
	size_t n;
	kva_mutant *m = mutants("int f(int n)\n{\n\tint s = 0;\n"
				"\tfor (int i = 0; i < n - 1; i++)\n\t\ts += i;\n"
				"\tfor (int i = 0; i < 10; i++)\n\t\ts--;\n"
				"\tfor (int i = 0; i < n && s; i++)\n\t\ts--;\n"
				"\tfor (int i = n; i >= s; i--)\n\t\ts--;\n"
				"\treturn s;\n}\n", &n);
	const char *t;

	/* not a constant bound (const has it), nor a condition with && */
	kva_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].op, KVA_MUT_LOOP_BOUND))
			kva_buf_printf(&b, "%s\n", m[i].patch);
	CHECK_STR(b.p, "4:22: n - 1 -> (n - 1) + 1\n"
		  "4:22: n - 1 -> (n - 1) - 1\n"
		  "10:23: s -> s + 1\n"
		  "10:23: s -> s - 1\n");
	t = text_of(m, n, "10:23: s -> s - 1");
	CHECK(t && strstr(t, "for (int i = n; i >= s - 1; i--)"));
	kva_buf_free(&b);
	kva_mutants_free(m, n);
}

static void t_mutate_var(void)
{
	/* d is not in scope in its own initialiser; b is another type; a
	 * member name is no variable; a const one is not written */
	CHECK(expect("struct s { int a; };\n"
		     "int f(int a, long b, const int c, struct s *p)\n{\n"
		     "\tint d = a;\n\td = p->a;\n\treturn d + c;\n}\n",
		     "var 4:10: a -> c\n"
		     "var 5:2: d -> a\n"
		     "var 6:9: d -> a\n"
		     "var 6:9: d -> c\n"
		     "arith 6:11: + -> -\n"
		     "arith 6:11: + -> *\n"
		     "arith 6:11: + -> /\n"
		     "arith 6:11: + -> %\n"
		     "var 6:13: c -> a\n"
		     "var 6:13: c -> d\n",
		     "5:2: d -> a",
		     "struct s { int a; };\n"
		     "int f(int a, long b, const int c, struct s *p)\n{\n"
		     "\tint d = a;\n\ta = p->a;\n\treturn d + c;\n}\n"));
}

static void t_mutate_quiet(void)
{
	/* comments, strings, character constants, directives (continued),
	 * unary minus, dereference, casts, sizeof: only the three binary
	 * operators of the return */
	CHECK(expect("#define TWO (1 + 1) \\\n\t- 2 * 3\n/* a - b < c 1 */\n"
		     "#include <stdint.h>\n"
		     "int f(const int *p, int a)\n{\n"
		     "\tconst char *s = \"x - 1 < 2\"; // a + b 3\n"
		     "\tchar c = '-';\n"
		     "\treturn -a - *p * (int)-c + (int)sizeof *s;\n}\n",
		     "arith 9:12: - -> +\n"
		     "arith 9:12: - -> *\n"
		     "arith 9:12: - -> /\n"
		     "arith 9:12: - -> %\n"
		     "arith 9:17: * -> +\n"
		     "arith 9:17: * -> -\n"
		     "arith 9:17: * -> /\n"
		     "arith 9:17: * -> %\n"
		     "arith 9:27: + -> -\n"
		     "arith 9:27: + -> *\n"
		     "arith 9:27: + -> /\n"
		     "arith 9:27: + -> %\n",
		     "9:17: * -> -",
		     "#define TWO (1 + 1) \\\n\t- 2 * 3\n/* a - b < c 1 */\n"
		     "#include <stdint.h>\n"
		     "int f(const int *p, int a)\n{\n"
		     "\tconst char *s = \"x - 1 < 2\"; // a + b 3\n"
		     "\tchar c = '-';\n"
		     "\treturn -a - *p - (int)-c + (int)sizeof *s;\n}\n"));
}

static void t_mutate_test_route(void)
{
	/* the model's own test is not mutated: only f's + */
	CHECK(expect("int f(int a)\n{\n\treturn a + 1;\n}\n"
		     "int test_route(void)\n{\n\treturn f(1) - 2 != 0;\n}\n",
		     "arith 3:11: + -> -\n"
		     "arith 3:11: + -> *\n"
		     "arith 3:11: + -> /\n"
		     "arith 3:11: + -> %\n"
		     "const 3:13: 1 -> 2\n"
		     "const 3:13: 1 -> 0\n", "3:13: 1 -> 0",
		     "int f(int a)\n{\n\treturn a + 0;\n}\n"
		     "int test_route(void)\n{\n\treturn f(1) - 2 != 0;\n}\n"));
}

static void t_mutate_bad(void)
{
	static const char *const cases[][2] = {
		{ "int f(void) { /* x", "unterminated comment at 1:15" },
		{ "int f(void) {\n\treturn \"x; }", "unterminated string at 2:9" },
		{ "It's not C at all.\n", "unterminated character constant at 1:3" },
		{ "This is not C at all.\n", "no function body" },
		{ "int x = 1;\n", "no function body" },
		{ "", "no function body" },
		{ "int f(void) { return 0; ", "unbalanced braces at 1:13" },
		{ "int f(void) { return 0; }}", "unbalanced braces at 1:26" },
		{ "int f(void) { return (0; }", "unbalanced parentheses at 1:22" },
		{ "int f(int a[2) { return 0; }", "unbalanced brackets at 1:12" },
		{ "int f(void) { return 1 @ 2; }", "stray '@' at 1:24" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		kva_mutant *m = (kva_mutant *)&m;
		size_t n = 7;
		kva_err e;

		CHECK(kva_mutate(cases[i][0], strlen(cases[i][0]), &m, &n, &e) == -1);
		CHECK(!m && !n);
		CHECK_STR(e.msg, cases[i][1]);
	}
}

/* The mutants of the file at path (from the top of the tree). */
static kva_mutant *mutants_of(const char *path, size_t *n)
{
	char text[8192];
	FILE *fp = fopen(path, "r");
	size_t len = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
	kva_mutant *m = NULL;
	kva_err e;

	if (fp)
		fclose(fp);
	*n = 0;
	if (kva_mutate(text, len, &m, n, &e))
		fprintf(stderr, "%s: %s\n", path, e.msg);
	return m;
}

/* "op=N ..." for the operators with mutants, in mutate.h's order. */
static const char *counts(kva_buf *b, const kva_mutant *m, size_t n)
{
	static const char *const ops[] = {
		KVA_MUT_ARITH, KVA_MUT_REL, KVA_MUT_CONST, KVA_MUT_DROP_TERM,
		KVA_MUT_SWAP_ARGS, KVA_MUT_SWAP_INDEX, KVA_MUT_SWAP_OUT,
		KVA_MUT_DEL_WRITE, KVA_MUT_NARROW, KVA_MUT_LOOP_BOUND, KVA_MUT_VAR
	};

	b->len = 0;
	kva_buf_puts(b, "");
	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		size_t c = 0;

		for (size_t i = 0; i < n; i++)
			c += !strcmp(m[i].op, ops[o]);
		if (c)
			kva_buf_printf(b, "%s%s=%zu", b->len ? " " : "", ops[o], c);
	}
	return b->p;
}

static void t_mutate_route(void)
{
	static const char divmod[] = "fixtures/candidates/radix-2d/correct-divmod.c",
		write[] = "fixtures/candidates/write/correct-index.c";
	kva_buf b = { 0 };
	size_t n, n2;
	kva_mutant *m = mutants_of(divmod, &n), *m2;

	/* 16 arith (+ / % % four ways), 6 const (the 0 1 2 indices,
	 * return 0), 3 drop-term, 3 swap-out (the pairs of out[0..2]),
	 * 3 del-write, 1 narrow (a: parameters are not narrowed), 38 var
	 * (the uses of five int64_t parameters and a; out has no peer).
	 * The brief's example (a / block_size, not % total_blocks_h) gives
	 * 65: 12 arith, 2 drop-term, the rest the same. */
	CHECK_STR(counts(&b, m, n), "arith=16 const=6 drop-term=3 swap-out=3 "
		  "del-write=3 narrow=1 var=38");
	CHECK_EQ_I64(n, 70);
	CHECK(text_of(m, n, "10:2: out[0] = head_idx; out[1] = (a / block_size) "
		      "% total_blocks_h; -> out[1] = head_idx; out[0] = (a / "
		      "block_size) % total_blocks_h;"));
	CHECK(text_of(m, n, "11:11: (a / block_size) % total_blocks_h -> (a / block_size)"));
	/* the same again, in the same order */
	m2 = mutants_of(divmod, &n2);
	CHECK_EQ_I64(n2, n);
	for (size_t i = 0; i < n; i++)
		CHECK(!strcmp(m[i].patch, m2[i].patch) && m[i].len == m2[i].len &&
		      !memcmp(m[i].src, m2[i].src, m[i].len));
	kva_mutants_free(m2, n2);
	kva_mutants_free(m, n);

	/* a write kernel of 38 lines: loops, calls, an index function;
	 * var is most of it (ten int64_t variables in scope) */
	m = mutants_of(write, &n);
	CHECK_STR(counts(&b, m, n), "arith=113 rel=30 const=7 drop-term=5 "
		  "swap-args=3 del-write=1 narrow=7 loop-bound=6 var=347");
	CHECK_EQ_I64(n, 519);
	CHECK_STR(m[n - 1].patch, "37:9: 0 -> 1");
	kva_mutants_free(m, n);
	kva_buf_free(&b);
}

UNIT_SUITE(suite_mutate) = {
	{ "mutate_arith", t_mutate_arith },
	{ "mutate_rel", t_mutate_rel },
	{ "mutate_const", t_mutate_const },
	{ "mutate_drop_term", t_mutate_drop_term },
	{ "mutate_swap_args", t_mutate_swap_args },
	{ "mutate_swap_index", t_mutate_swap_index },
	{ "mutate_swap_out", t_mutate_swap_out },
	{ "mutate_del_write", t_mutate_del_write },
	{ "mutate_narrow", t_mutate_narrow },
	{ "mutate_loop_bound", t_mutate_loop_bound },
	{ "mutate_var", t_mutate_var },
	{ "mutate_quiet", t_mutate_quiet },
	{ "mutate_test_route", t_mutate_test_route },
	{ "mutate_bad", t_mutate_bad },
	{ "mutate_route", t_mutate_route },
	{ NULL, NULL }
};
