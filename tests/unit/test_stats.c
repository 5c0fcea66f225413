/*
 * test_stats.c - every statistic of lib/stats.c against values worked
 * out by hand (shown in the comments) or by brute-force enumeration.
 *
 * The Mann-Whitney references were enumerated with exact fractions over
 * all C(n+m, n) ways to split the pooled values (Python's itertools and
 * fractions, midranks for ties): an independent count, not this code.
 */
#include <math.h>
#include <stdlib.h>

#include "unit.h"
#include "kvarbiter.h"
#include "stats.h"

/* |a - b| <= tol, with a message naming both. */
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
	if (!(fabs(a_ - b_) <= (tol))) { \
	fprintf(stderr, "%s:%d: %s == %.17g, want %.17g (tol %g)\n", __FILE__, \
		__LINE__, #a, a_, b_, (double)(tol)); unit_failed_checks++; \
	return; } } while (0)

static void t_median(void)
{
	double odd[] = { 3, 1, 2 }, even[] = { 4, 1, 3, 2 }, one[] = { 7 };

	kva_stats_sort(odd, 3);
	kva_stats_sort(even, 4);
	CHECK(odd[0] == 1 && odd[1] == 2 && odd[2] == 3);
	CHECK(kva_stats_median_sorted(odd, 3) == 2);
	CHECK(kva_stats_median_sorted(even, 4) == 2.5); /* (2 + 3) / 2 */
	CHECK(kva_stats_median_sorted(one, 1) == 7);
	CHECK(isnan(kva_stats_median_sorted(one, 0)));
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The sort against qsort: sizes around the insertion-sort cutoff, heavy
 * duplicates, sorted and reversed runs (quicksort's bad cases). */
static void t_sort(void)
{
	static double a[20000], b[20000];
	size_t sizes[] = { 0, 1, 2, 3, 23, 24, 25, 26, 100, 1000, 20000 };
	kva_rng r;

	kva_rng_seed(&r, 11);
	for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
		for (int shape = 0; shape < 5; shape++) {
			size_t n = sizes[si];

			for (size_t i = 0; i < n; i++)
				a[i] = shape == 0 ? (double)kva_rng_range(&r, -1000, 1000) / 7
				     : shape == 1 ? (double)kva_rng_range(&r, 0, 3)
				     : shape == 2 ? (double)i : shape == 3 ? (double)(n - i)
				     : (double)(i % 2 ? i : n - i);
			memcpy(b, a, n * sizeof *a);
			kva_stats_sort(a, n);
			if (n > 1)
				qsort(b, n, sizeof *b, cmp_d);
			CHECK(n == 0 || !memcmp(a, b, n * sizeof *a));
		}
}

static void t_quantiles(void)
{
	double a[] = { 1, 2, 3, 4 }, b[] = { 1, 2, 3, 4, 5 };
	double c[] = { 7, 15, 36, 39, 40, 41 };

	/* type 7: h = (n-1)p; n = 4, p = .25: h = .75, 1 + .75 (2 - 1) */
	CHECK(kva_stats_quantile_sorted(a, 4, 0.25) == 1.75);
	CHECK(kva_stats_quantile_sorted(a, 4, 0.75) == 3.25); /* h = 2.25 */
	CHECK(kva_stats_quantile_sorted(b, 5, 0.25) == 2);    /* h = 1 */
	CHECK(kva_stats_quantile_sorted(b, 5, 0.75) == 4);    /* h = 3 */
	/* h = 1.25: 15 + .25 (36 - 15) = 20.25; h = 3.75: 39 + .75 */
	CHECK(kva_stats_quantile_sorted(c, 6, 0.25) == 20.25);
	CHECK(kva_stats_quantile_sorted(c, 6, 0.75) == 39.75);
	CHECK(kva_stats_quantile_sorted(c, 6, 0) == 7);
	CHECK(kva_stats_quantile_sorted(c, 6, 1) == 41);
	CHECK(kva_stats_quantile_sorted(c, 1, 0.75) == 7);
	/* the type-7 median equals the median */
	CHECK(kva_stats_quantile_sorted(a, 4, 0.5) == 2.5);
}

static void t_mean_stdev(void)
{
	double x[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
	double *big = malloc(1000000 * sizeof *big);

	CHECK(big);
	CHECK(kva_stats_mean(x, 8) == 5);
	/* sum of squares about 5 is 32; 32 / 7 = 4.571428..., root: */
	CHECK_NEAR(kva_stats_stdev(x, 8), 2.1380899352993950, 1e-15);
	CHECK(isnan(kva_stats_stdev(x, 1)));
	CHECK(isnan(kva_stats_mean(x, 0)));
	/* a million copies of 0.1: compensated summation gives it back */
	for (int i = 0; i < 1000000; i++)
		big[i] = 0.1;
	CHECK(kva_stats_mean(big, 1000000) == 0.1);
	CHECK_NEAR(kva_stats_stdev(big, 1000000), 0, 1e-15);
	free(big);
}

static void t_mad(void)
{
	double a[] = { 1, 1, 2, 2, 4, 6, 9 };   /* med 2: |d| 1 1 0 0 2 4 7 */
	double zero[] = { 5, 5, 5, 9 };         /* med 5: |d| 0 0 0 4 */
	double even[] = { 1, 2, 3, 4 };         /* med 2.5: .5 .5 1.5 1.5 */
	double lop[] = { 1, 10, 11, 12, 13, 14 }; /* med 11.5: ... */
	double one[] = { 3 };

	CHECK(kva_stats_mad_sorted(a, 7) == 1);
	CHECK(kva_stats_mad_sorted(zero, 4) == 0);
	CHECK(kva_stats_mad_sorted(even, 4) == 1);
	/* |d| = 10.5 1.5 .5 .5 1.5 2.5 -> sorted .5 .5 1.5 1.5 2.5 10.5 */
	CHECK(kva_stats_mad_sorted(lop, 6) == 1.5);
	CHECK(kva_stats_mad_sorted(one, 1) == 0);
	CHECK(isnan(kva_stats_mad_sorted(one, 0)));
}

/* hyperfine's own outlier vectors: how many have |z| > 14.826. */
static int outliers(double *x, size_t n)
{
	double med, mad;
	int k = 0;
	double *s = malloc(n * sizeof *s);

	memcpy(s, x, n * sizeof *s);
	kva_stats_sort(s, n);
	med = kva_stats_median_sorted(s, n);
	mad = kva_stats_mad_sorted(s, n);
	for (size_t i = 0; i < n; i++)
		k += fabs(kva_stats_modified_z(x[i], med, mad)) > KVA_STATS_OUTLIER_Z;
	free(s);
	return k;
}

static void t_modified_z(void)
{
	double a[] = { -0.2, 0.0, 0.2 }, b[] = { -0.2, 0.0, 0.2, 4.0 };
	double c[] = { 0.5, 0.30, 0.29, 0.31, 0.30 };
	double d[] = { 10, 10, 10, 10, 10, 10, 10, 100 };
	double e[] = { 10, 10, 10, 10, 10, 10, 10, 100, 100 };
	double two[] = { 1000, 0 };

	CHECK(outliers(a, 3) == 0);
	CHECK(outliers(b, 4) == 1);
	CHECK(outliers(c, 5) == 1);
	CHECK(outliers(d, 8) == 1); /* MAD 0: everything off the median */
	CHECK(outliers(e, 9) == 2);
	CHECK(outliers(two, 2) == 0);
	/* (0.5 - 0.30) / 0.01 = 20 */
	CHECK_NEAR(kva_stats_modified_z(0.5, 0.30, 0.01), 20, 1e-12);
	CHECK(kva_stats_modified_z(10, 10, 0) == 0);
}

static void t_tukey(void)
{
	double lo, hi;

	/* 1 2 3 4 100: q1 = 2, q3 = 4, IQR 2 */
	kva_stats_tukey_fences(2, 4, 1.5, &lo, &hi);
	CHECK(lo == -1 && hi == 7);
	kva_stats_tukey_fences(2, 4, 3, &lo, &hi);
	CHECK(lo == -4 && hi == 10);
}

static void t_drift(void)
{
	double up[] = { 10, 12, 14 }, mixed[] = { 1, 3, 2, 4 }, flat[] = { 5, 5 };

	CHECK(kva_stats_drift_slope(up, 3) == 2);
	/* tbar 1.5: -1.5*1 - .5*3 + .5*2 + 1.5*4 = 4; sxx = 4*15/12 = 5 */
	CHECK_NEAR(kva_stats_drift_slope(mixed, 4), 0.8, 1e-15);
	CHECK(kva_stats_drift_slope(flat, 2) == 0);
	CHECK(isnan(kva_stats_drift_slope(flat, 1)));
}

static void t_inv_choose(void)
{
	CHECK_NEAR(kva_stats_inv_choose(2, 2), 1.0 / 6, 1e-17);
	CHECK_NEAR(kva_stats_inv_choose(3, 3), 1.0 / 20, 1e-17);
	CHECK_NEAR(kva_stats_inv_choose(4, 4), 1.0 / 70, 1e-17);
	CHECK_NEAR(kva_stats_inv_choose(9, 9), 1.0 / 48620, 1e-19);
	CHECK_NEAR(kva_stats_inv_choose(5, 3), 1.0 / 56, 1e-17);
	CHECK(kva_stats_inv_choose(0, 7) == 1);
	/* C(200, 100) ~ 9.05e58 by lgamma: agree with the product */
	CHECK_NEAR(kva_stats_inv_choose(100, 100) * 9.0548514656103281e58, 1, 1e-9);
	CHECK(kva_stats_inv_choose(250000, 250000) == 0); /* underflows */
}

/* Mann-Whitney on unsorted literals: sorts copies first. */
static kva_mw mw(const double *x, size_t n, const double *y, size_t m)
{
	double xs[64], ys[64];
	kva_mw r = { 0 };

	memcpy(xs, x, n * sizeof *x);
	memcpy(ys, y, m * sizeof *y);
	kva_stats_sort(xs, n);
	kva_stats_sort(ys, m);
	if (kva_stats_mann_whitney_sorted(xs, n, ys, m, &r))
		r.p = -1;
	return r;
}

static void t_mw_exact(void)
{
	double x2[] = { 3, 4 }, y2[] = { 1, 2 }, x2b[] = { 1, 3 }, y2b[] = { 2, 4 };
	double x3[] = { 4, 5, 6 }, y3[] = { 1, 2, 3 };
	double x4[] = { 5, 6, 7, 8 }, y4[] = { 1, 2, 3, 4 };
	double x9s[] = { 10, 11, 12, 13, 14, 15, 16, 17, 18 };
	double y9s[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	double x9[] = { 1, 2, 4, 5, 7, 9, 10, 13, 16 };
	double y9[] = { 3, 6, 8, 11, 12, 14, 15, 17, 18 };
	kva_mw r;

	/* complete separation: the one most extreme split of C(N, n),
	 * doubled for two sides: 2/6, 2/20, 2/70, 2/48620 */
	r = mw(x2, 2, y2, 2);
	CHECK(r.exact && r.u == 4);
	CHECK_NEAR(r.p, 1.0 / 3, 1e-15);
	r = mw(y2, 2, x2, 2); /* the other way round: U = 0, same p */
	CHECK(r.u == 0);
	CHECK_NEAR(r.p, 1.0 / 3, 1e-15);
	r = mw(x2b, 2, y2b, 2); /* U = 1: P(U <= 1) = 2/6 -> p = 2/3 */
	CHECK(r.u == 1);
	CHECK_NEAR(r.p, 2.0 / 3, 1e-15);
	r = mw(x3, 3, y3, 3);
	CHECK(r.exact && r.u == 9);
	CHECK_NEAR(r.p, 0.1, 1e-15);
	r = mw(x4, 4, y4, 4);
	CHECK(r.u == 16);
	CHECK_NEAR(r.p, 2.0 / 70, 1e-15);
	r = mw(x9s, 9, y9s, 9);
	CHECK(r.u == 81);
	CHECK_NEAR(r.p, 2.0 / 48620, 1e-17);
	/* 9v9 interleaved: 2759 of 48620 splits have a rank sum <= 67 */
	r = mw(x9, 9, y9, 9);
	CHECK(r.exact && r.u == 22 && r.ties == 0);
	CHECK_NEAR(r.p, 2759.0 / 24310, 1e-15);
}

static void t_mw_ties(void)
{
	double x1[] = { 1, 2, 2 }, y1[] = { 2, 3, 3 };
	double x2[] = { 1.5, 2, 2, 3 }, y2[] = { 2, 2, 3, 4, 5 };
	double x3[] = { 10, 12, 12, 13, 15, 15, 15, 18, 20 };
	double y3[] = { 9, 10, 11, 11, 12, 13, 14, 14, 16 };
	double all[] = { 7, 7, 7 };
	kva_mw r;

	/* ranks 1, 3, 3, 3, 5.5, 5.5: x sums to 7, U = 1; 3 of the 20
	 * splits sum <= 7, all 20 >= 7: p = 2 * 3/20 */
	r = mw(x1, 3, y1, 3);
	CHECK(r.exact && r.u == 1);
	CHECK(r.ties == (27 - 3) + (8 - 2)); /* groups of 3 and 2 */
	CHECK_NEAR(r.p, 0.3, 1e-15);
	r = mw(x2, 4, y2, 5); /* 17 of 126 splits <= the observed sum */
	CHECK(r.u == 4.5);
	CHECK_NEAR(r.p, 34.0 / 126, 1e-15);
	r = mw(x3, 9, y3, 9); /* 3027 of 48620 >= the observed sum */
	CHECK(r.u == 58);
	CHECK_NEAR(r.p, 6054.0 / 48620, 1e-15);
	r = mw(all, 3, all, 3); /* nothing to tell apart */
	CHECK(r.u == 4.5);
	CHECK_NEAR(r.p, 1, 1e-15);
}

static void t_mw_normal(void)
{
	double x[40], y[40], xs[64], ys[64], ex[25], ey[25];
	kva_mw r, a, b;

	/* x = 0..29, y = 10..39: 20 ties of two (T = 20 * 6 = 120),
	 * U = sum_{k=10}^{29} (k - 10) + 20 * .5 = 200, mu = 450,
	 * sigma^2 = 900/12 (61 - 120/3540), z = 249.5 / sigma */
	for (int i = 0; i < 30; i++)
		x[i] = i, y[i] = i + 10;
	r = mw(x, 30, y, 30);
	CHECK(!r.exact && r.u == 200 && r.ties == 120);
	CHECK_NEAR(r.z, 3.6897394969523547, 1e-12);
	CHECK_NEAR(r.p, 0.00022448380595775665, 1e-15);
	/* heavy ties: 40 values of i mod 7 against 35 of i mod 9 + .5 (i mod 2) */
	for (int i = 0; i < 40; i++)
		xs[i] = i % 7;
	for (int i = 0; i < 35; i++)
		ys[i] = i % 9 + 0.5 * (i % 2);
	r = mw(xs, 40, ys, 35);
	CHECK(!r.exact && r.u == 500 && r.ties == 3252);
	CHECK_NEAR(r.z, 2.126881830856846, 1e-12);
	CHECK_NEAR(r.p, 0.03342990285659784, 1e-14);
	/* at the edge, 25 v 25 is exact; 25 v 26 is normal: they agree to
	 * the approximation's accuracy */
	for (int i = 0; i < 25; i++)
		ex[i] = 2 * i + 3, ey[i] = 2 * i;
	a = mw(ex, 25, ey, 25);
	CHECK(a.exact);
	for (int i = 0; i < 25; i++)
		xs[i] = ex[i], ys[i] = ey[i];
	ys[25] = 24.5;
	b = mw(xs, 25, ys, 26);
	CHECK(!b.exact);
	CHECK(fabs(a.p - b.p) < 0.05);
	CHECK(mw(x, 0, y, 3).p == -1);
}

/*
 * The bootstrap median draw against brute force: for n = 4 and n = 5 the
 * n^n equally likely resamples are enumerated exactly; 200000 seeded
 * draws must match every probability within 5 standard errors.
 */
static int boot_matches_enumeration(const double *x, int n)
{
	double probs[64] = { 0 }, freq[64] = { 0 }, vals[64];
	int nv = 0, idx[8], total = 1, draws = 200000;
	kva_rng r;

	for (int i = 0; i < n; i++)
		total *= n;
	for (int t = 0; t < total; t++) {
		double s[8], med;
		int c = t, k;

		for (int i = 0; i < n; i++)
			idx[i] = c % n, c /= n;
		for (int i = 0; i < n; i++)
			s[i] = x[idx[i]];
		kva_stats_sort(s, (size_t)n);
		med = kva_stats_median_sorted(s, (size_t)n);
		for (k = 0; k < nv && vals[k] != med; k++)
			;
		if (k == nv)
			vals[nv++] = med;
		probs[k] += 1.0 / total;
	}
	kva_rng_seed(&r, 42);
	for (int d = 0; d < draws; d++) {
		double med = kva_stats_boot_median_sorted(x, (size_t)n, &r);
		int k;

		for (k = 0; k < nv && vals[k] != med; k++)
			;
		if (k == nv)
			return 0; /* a value resampling can never produce */
		freq[k] += 1.0 / draws;
	}
	for (int k = 0; k < nv; k++) {
		double se = sqrt(probs[k] * (1 - probs[k]) / draws);

		if (fabs(freq[k] - probs[k]) > 5 * se + 1e-4) {
			fprintf(stderr, "median %g: drawn %.5f, exact %.5f\n",
				vals[k], freq[k], probs[k]);
			return 0;
		}
	}
	return 1;
}

static void t_boot_median(void)
{
	double four[] = { 1, 2, 4, 8 }, five[] = { 10, 20, 30, 40, 50 };
	double two[] = { 1, 3 }, one[] = { 9 };
	kva_rng r;

	CHECK(boot_matches_enumeration(four, 4));
	CHECK(boot_matches_enumeration(five, 5));
	CHECK(boot_matches_enumeration(two, 2));
	kva_rng_seed(&r, 1);
	CHECK(kva_stats_boot_median_sorted(one, 1, &r) == 9);
}

static void t_boot_ci(void)
{
	double x[12], y[12], big_x[2000], big_y[2000], lo, hi, lo2, hi2;
	kva_rng r;

	for (int i = 0; i < 12; i++) {
		y[i] = 100 + i;      /* median 105.5 */
		x[i] = 1.1 * y[i];   /* exactly 10% above */
	}
	kva_rng_seed(&r, 7);
	CHECK(!kva_stats_boot_rel_change_ci(x, 12, y, 12, 10000, 0.95, &r, &lo, &hi));
	CHECK(lo <= hi);
	CHECK(lo < 0.1 && 0.1 < hi);
	/* reproducible: the same seed gives the same interval, bit for bit */
	kva_rng_seed(&r, 7);
	CHECK(!kva_stats_boot_rel_change_ci(x, 12, y, 12, 10000, 0.95, &r, &lo2, &hi2));
	CHECK(lo == lo2 && hi == hi2);
	/* another seed, another interval (but the same story) */
	kva_rng_seed(&r, 8);
	CHECK(!kva_stats_boot_rel_change_ci(x, 12, y, 12, 10000, 0.95, &r, &lo2, &hi2));
	CHECK(lo != lo2 || hi != hi2);
	CHECK(lo2 < 0.1 && 0.1 < hi2);
	/* a large sample shifted by 10%: the CI is tight around 0.1 and
	 * excludes 0; the same sample against itself covers 0 */
	kva_rng_seed(&r, 3);
	for (int i = 0; i < 2000; i++) {
		big_y[i] = 1000 + 100 * kva_stats_uniform(&r);
		big_x[i] = big_y[i] * 1.1;
	}
	kva_stats_sort(big_x, 2000);
	kva_stats_sort(big_y, 2000);
	CHECK(!kva_stats_boot_rel_change_ci(big_x, 2000, big_y, 2000, 2000, 0.95, &r, &lo, &hi));
	CHECK(lo > 0.08 && hi < 0.12 && lo < 0.1 && hi > 0.1);
	CHECK(!kva_stats_boot_rel_change_ci(big_y, 2000, big_y, 2000, 2000, 0.95, &r, &lo, &hi));
	CHECK(lo < 0 && hi > 0);
	/* refused: no resamples, or a reference that is not positive */
	CHECK(kva_stats_boot_rel_change_ci(x, 12, y, 12, 0, 0.95, &r, &lo, &hi));
	y[0] = 0;
	CHECK(kva_stats_boot_rel_change_ci(x, 12, y, 12, 10, 0.95, &r, &lo, &hi));
}

static void t_uniform(void)
{
	kva_rng r;
	double lo = 1, hi = 0, sum = 0;

	kva_rng_seed(&r, 0);
	for (int i = 0; i < 100000; i++) {
		double u = kva_stats_uniform(&r);

		lo = u < lo ? u : lo;
		hi = u > hi ? u : hi;
		sum += u;
	}
	CHECK(lo > 0 && hi < 1);
	CHECK_NEAR(sum / 100000, 0.5, 0.005);
}

UNIT_SUITE(suite_stats) = {
	{ "stats_sort", t_sort },
	{ "stats_median", t_median },
	{ "stats_quantiles", t_quantiles },
	{ "stats_mean_stdev", t_mean_stdev },
	{ "stats_mad", t_mad },
	{ "stats_modified_z", t_modified_z },
	{ "stats_tukey", t_tukey },
	{ "stats_drift", t_drift },
	{ "stats_inv_choose", t_inv_choose },
	{ "stats_mw_exact", t_mw_exact },
	{ "stats_mw_ties", t_mw_ties },
	{ "stats_mw_normal", t_mw_normal },
	{ "stats_boot_median", t_boot_median },
	{ "stats_boot_ci", t_boot_ci },
	{ "stats_uniform", t_uniform },
	{ NULL, NULL }
};
