/*
 * stats.h - the statistics behind bench-rederive, written from the math.
 *
 * Pure functions over arrays of doubles: no I/O, no globals, no hidden
 * allocation except where a comment says so.  Inputs are finite numbers
 * (the caller rejects NaN and infinities before they get here).  Functions
 * whose name ends in _sorted require x[0] <= x[1] <= ... <= x[n-1].
 * A result that is undefined for the given n (a standard deviation of one
 * value, say) is returned as NaN; callers print NaN as JSON null.
 *
 * The formulas are stated in bench-rederive(1), section STATISTICS.
 */
#ifndef KVA_STATS_H
#define KVA_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "kvarbiter.h"

/* Sort x[0..n) ascending (introsort; NaN must not occur). */
void kva_stats_sort(double *x, size_t n);

/* Arithmetic mean with compensated (Neumaier) summation; NaN if n == 0. */
double kva_stats_mean(const double *x, size_t n);

/* Sample standard deviation, divisor n - 1, two passes; NaN if n < 2. */
double kva_stats_stdev(const double *x, size_t n);

/* Median: the middle value, or the mean of the two middle values for
 * even n, computed as (a + b) / 2.  NaN if n == 0. */
double kva_stats_median_sorted(const double *x, size_t n);

/*
 * Quantile p in [0, 1] by linear interpolation between order statistics
 * (Hyndman and Fan's type 7, the default of numpy and R): with
 * h = (n - 1) p and j = floor(h), Q = x[j] + (h - j) (x[j+1] - x[j]).
 * NaN if n == 0.
 */
double kva_stats_quantile_sorted(const double *x, size_t n, double p);

/* Median absolute deviation from the median, unscaled:
 * median_i |x_i - median(x)|.  O(n), no allocation.  NaN if n == 0. */
double kva_stats_mad_sorted(const double *x, size_t n);

/*
 * hyperfine's modified z-score of value: (value - median) / mad, where a
 * MAD of 0 is replaced by DBL_EPSILON (so every value off the median is
 * an extreme outlier, and one on it scores 0).
 */
double kva_stats_modified_z(double value, double median, double mad);

/* hyperfine's outlier threshold on the modified z-score: ten standard
 * deviations, the MAD scaled by 1.4826 to estimate one. */
#define KVA_STATS_OUTLIER_Z (1.4826 * 10.0)

/* Tukey's fences for factor k: [q1 - k (q3 - q1), q3 + k (q3 - q1)]. */
void kva_stats_tukey_fences(double q1, double q3, double k, double *lo,
			    double *hi);

/*
 * Least-squares slope of y[i] against t = i (i = 0 .. n-1):
 * sum (t - tbar)(y - ybar) / sum (t - tbar)^2.  NaN if n < 2.
 */
double kva_stats_drift_slope(const double *y, size_t n);

/* 1 / C(n + m, n): the chance that, with no difference, n + m
 * exchangeable values fall so that all n lie above all m.  Exact
 * product for small arguments, lgamma beyond. */
double kva_stats_inv_choose(uint64_t n, uint64_t m);

/* Mann-Whitney U test of x (n values) against y (m values). */
typedef struct kva_mw {
	double u;      /* U of x: #{x_i > y_j} + 0.5 #{x_i = y_j} */
	double z;      /* normal-approximation z (NaN when exact) */
	double p;      /* two-sided p value */
	int exact;     /* 1: exact permutation distribution, 0: normal */
	double ties;   /* tie term sum (t^3 - t) over groups of equal values */
} kva_mw;

/* The largest n + m for which the exact distribution is enumerated. */
#define KVA_STATS_MW_EXACT_MAX 50

/*
 * Two-sided Mann-Whitney U test.  Exact when n + m <= 50: the
 * permutation distribution of the rank sum of x given the observed
 * midranks (so ties are handled exactly), enumerated by dynamic
 * programming over doubled ranks; p = min(1, 2 min(P(S <= s), P(S >= s))).
 * Beyond, the normal approximation with tie correction and continuity
 * correction:  sigma^2 = nm/12 ((N+1) - sum(t^3 - t)/(N(N-1))),
 * z = (|U - nm/2| - 0.5) / sigma, p = erfc(z / sqrt 2), clipped to 1.
 * Returns 0, or -1 if n or m is 0 (out untouched).  Allocates only in
 * the exact case (freed before return; exits 2 on out-of-memory).
 */
int kva_stats_mann_whitney_sorted(const double *x, size_t n, const double *y,
				  size_t m, kva_mw *out);

/* A uniform double in the open interval (0, 1) from r (53 bits). */
double kva_stats_uniform(kva_rng *r);

/*
 * One bootstrap replicate of the median of x: the median of n values
 * drawn from x with replacement, sampled from its exact distribution
 * instead of by drawing n indices.  The k-th smallest of n uniform
 * indices is ceil(n U_(k)), where U_(k), the k-th order statistic of n
 * Uniform(0,1), is Beta(k, n-k+1); for even n the next one is
 * U_(k) + (1 - U_(k)) Beta(1, n-k).  Same distribution as resampling,
 * O(1) per replicate instead of O(n).
 */
double kva_stats_boot_median_sorted(const double *x, size_t n, kva_rng *r);

/*
 * Seeded percentile bootstrap CI of the relative change of medians,
 * (median(x*) - median(y*)) / median(y*), x and y resampled
 * independently, B replicates; [lo, hi] are the type-7 quantiles
 * (1 - level)/2 and (1 + level)/2 of the replicates.  Needs y[0] > 0 (a
 * positive reference sample, so no replicate divides by zero or flips
 * sign): returns -1 otherwise, or if n, m or B is 0.  Allocates B doubles
 * (exits 2 on out-of-memory).
 */
int kva_stats_boot_rel_change_ci(const double *x, size_t n, const double *y,
				 size_t m, uint64_t b, double level,
				 kva_rng *r, double *lo, double *hi);

#endif
