/*
 * test_equiv.c - every built-in oracle's formula, evaluated through the
 * expression language's AST, equals its compiled path over a dense sweep:
 * same verdict on validity (same field, same message), same status, same
 * coordinates.  Invalid corners are in the sweep on purpose.
 */
#include <stdlib.h>

#include "unit.h"
#include "kvarbiter.h"

static long compared;

/* Compare the two paths on a; returns 0 if they agree (and reports). */
static int agree(const kva_oracle *o, const kva_oracle *fo, const kva_args *a)
{
	kva_route r1, r2;
	kva_err e1 = { 0 }, e2 = { 0 };
	int c1 = kva_oracle_eval(o, a, &r1, &e1);
	int c2 = kva_formula_eval(fo->f, a, &r2, &e2);

	compared++;
	if (c1 != c2 || (c1 && (strcmp(e1.field ? e1.field : "", e2.field ? e2.field : "") ||
				strcmp(e1.msg, e2.msg))) ||
	    (!c1 && (r1.status != r2.status ||
		     (r1.status == KVA_ROUTED &&
		      memcmp(r1.out, r2.out, sizeof r1.out))))) {
		fprintf(stderr, "%s: paths differ at in=(%lld,%lld,%lld,%lld,%lld): "
			"compiled rc=%d st=%d out=(%lld,%lld,%lld) [%s: %s] "
			"formula rc=%d st=%d out=(%lld,%lld,%lld) [%s: %s]\n", o->name,
			(long long)a->in[0], (long long)a->in[1], (long long)a->in[2],
			(long long)a->in[3], (long long)a->in[4],
			c1, r1.status, (long long)r1.out[0], (long long)r1.out[1],
			(long long)r1.out[2], e1.field ? e1.field : "", e1.msg,
			c2, r2.status, (long long)r2.out[0], (long long)r2.out[1],
			(long long)r2.out[2], e2.field ? e2.field : "", e2.msg);
		return 0;
	}
	return 1;
}

/* The formula of o as an oracle of its own, checked for the same shape. */
static int formula_twin(const kva_oracle *o, kva_oracle *fo)
{
	kva_err e;
	struct kva_formula *f = kva_oracle_formula(o, &e);

	if (!f) {
		fprintf(stderr, "%s: formula does not parse: %s\n", o->name, e.msg);
		return 0;
	}
	memset(fo, 0, sizeof *fo);
	if (kva_formula_oracle(f, fo, &e))
		return 0;
	if (strcmp(fo->name, o->name) || fo->nin != o->nin || fo->ntab != o->ntab ||
	    fo->nout != o->nout)
		return 0;
	for (int i = 0; i < o->nin; i++)
		if (strcmp(fo->in[i], o->in[i]))
			return 0;
	for (int i = 0; i < o->ntab; i++)
		if (strcmp(fo->tab[i], o->tab[i]))
			return 0;
	for (int i = 0; i < o->nout; i++)
		if (strcmp(fo->out[i], o->out[i]))
			return 0;
	return 1;
}

static void t_equiv_radix(void)
{
	const kva_oracle *o1 = kva_oracle_find("radix-1d"), *o2 = kva_oracle_find("radix-2d");
	kva_oracle f1, f2;
	kva_args a;

	CHECK(formula_twin(o1, &f1));
	CHECK(formula_twin(o2, &f2));
	memset(&a, 0, sizeof a);
	for (a.in[0] = -1; a.in[0] < 40; a.in[0]++)
		for (a.in[1] = -1; a.in[1] < 70; a.in[1]++)
			for (a.in[2] = -1; a.in[2] < 20; a.in[2]++)
				CHECK(agree(o1, &f1, &a));
	memset(&a, 0, sizeof a);
	for (a.in[0] = -1; a.in[0] < 20; a.in[0]++)
		for (a.in[1] = -1; a.in[1] < 3; a.in[1]++)
			for (a.in[2] = -1; a.in[2] < 60; a.in[2]++)
				for (a.in[3] = -1; a.in[3] < 9; a.in[3]++)
					for (a.in[4] = -1; a.in[4] < 18; a.in[4]++)
						CHECK(agree(o2, &f2, &a));
	/* the far end of the integer range */
	a.in[0] = KVA_INT_LIMIT; a.in[1] = 0; a.in[2] = KVA_INT_LIMIT;
	a.in[3] = KVA_INT_LIMIT; a.in[4] = 3;
	CHECK(agree(o2, &f2, &a));
}

static void t_equiv_paged(void)
{
	const kva_oracle *op = kva_oracle_find("paged"), *or = kva_oracle_find("paged-ring");
	kva_oracle fp, fr;
	int64_t tab[] = { 11, 3, 7, 0, 2147483647, 5 };
	kva_args a;

	CHECK(formula_twin(op, &fp));
	CHECK(formula_twin(or, &fr));
	memset(&a, 0, sizeof a);
	a.tab[0].v = tab;
	for (size_t len = 0; len <= 6; len++) {
		a.tab[0].n = len;
		for (a.in[0] = -2; a.in[0] < 80; a.in[0]++)
			for (a.in[1] = -1; a.in[1] < 18; a.in[1]++) {
				a.in[2] = 0;
				CHECK(agree(op, &fp, &a));
				for (a.in[2] = -1; a.in[2] < 8; a.in[2]++)
					CHECK(agree(or, &fr, &a));
			}
	}
	/* slot overflow: both paths must refuse the query */
	a.tab[0].n = 6;
	a.in[0] = KVA_INT_LIMIT; a.in[1] = KVA_INT_LIMIT / 4; a.in[2] = 1;
	CHECK(agree(op, &fp, &a));
}

static void t_equiv_flashinfer(void)
{
	const kva_oracle *o = kva_oracle_find("flashinfer");
	kva_oracle fo;
	int64_t indices[] = { 9, 4, 12, 0, 7, 3, 8, 1, 6, 2, 5, 11 };
	int64_t indptr[5], last[4];
	kva_args a;

	CHECK(formula_twin(o, &fo));
	memset(&a, 0, sizeof a);
	a.tab[0].v = indptr;
	a.tab[1].v = indices;
	a.tab[2].v = last;
	/* worlds: up to 3 requests, 0..3 pages each, last_page_len 0..5 for
	 * the first request, plus broken tables */
	for (int nb = 0; nb <= 3; nb++)
		for (int pg = 0; pg < 64; pg++)
			for (int lp = 0; lp <= 5; lp++)
				for (int broken = 0; broken < 4; broken++) {
					int p = pg;

					indptr[0] = 0;
					for (int b = 0; b < nb; b++, p /= 4) {
						indptr[b + 1] = indptr[b] + p % 4;
						last[b] = b == 0 ? lp : 1 + b % 2;
					}
					a.tab[0].n = (size_t)nb + 1;
					a.tab[1].n = 12;
					a.tab[2].n = (size_t)nb;
					if (broken == 1)
						indptr[0] = 1;
					if (broken == 2 && nb >= 2)
						indptr[1] = indptr[2] + 1;
					if (broken == 3)
						a.tab[1].n = (size_t)indptr[nb] / 2;
					if (nb == 0 && broken == 2)
						a.tab[0].n = 0;
					for (a.in[0] = -1; a.in[0] <= nb; a.in[0]++)
						for (a.in[1] = -1; a.in[1] < 16; a.in[1]++)
							for (a.in[2] = 0; a.in[2] <= 5; a.in[2]++)
								CHECK(agree(o, &fo, &a));
				}
}

static void t_equiv_rolling(void)
{
	const kva_oracle *o = kva_oracle_find("rolling");
	kva_oracle fo;
	kva_args a;

	CHECK(o != NULL);
	if (!o)
		return;
	CHECK(formula_twin(o, &fo));
	memset(&a, 0, sizeof a);
	/* every position around the live range of every state, from the
	 * empty cache through the fill and several rolls */
	for (a.in[2] = -1; a.in[2] < 20; a.in[2]++)
		for (a.in[1] = -2; a.in[1] < 70; a.in[1]++)
			for (a.in[0] = -3; a.in[0] < 75; a.in[0]++)
				CHECK(agree(o, &fo, &a));
	/* the far ends of the integer range */
	a.in[0] = KVA_INT_LIMIT - 1; a.in[1] = KVA_INT_LIMIT; a.in[2] = 1;
	CHECK(agree(o, &fo, &a));
	a.in[0] = 0; a.in[1] = KVA_INT_LIMIT; a.in[2] = KVA_INT_LIMIT;
	CHECK(agree(o, &fo, &a));
	a.in[0] = -KVA_INT_LIMIT; a.in[1] = 0; a.in[2] = KVA_INT_LIMIT;
	CHECK(agree(o, &fo, &a));
}

static void t_equiv_count(void)
{
	/* the sweeps above really ran (a vacuous loop would pass too) */
	CHECK(compared > 1000000);
}

const unit_test suite_equiv[] = {
	{ "equiv_radix", t_equiv_radix },
	{ "equiv_paged", t_equiv_paged },
	{ "equiv_flashinfer", t_equiv_flashinfer },
	{ "equiv_rolling", t_equiv_rolling },
	{ "equiv_count", t_equiv_count },
	{ NULL, NULL }
};
