/*
 * stats.c - order statistics, spread, drift, the Mann-Whitney U test and
 * a seeded bootstrap of the median, for bench-rederive.
 *
 * Everything here is written from the definitions stated in stats.h and
 * bench-rederive(1); nothing is ported from a statistics package.  The
 * only randomness is the caller's kva_rng, so a seed fixes every result.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* ---- sorting ---------------------------------------------------------------- */

static void insertion_sort(double *x, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double v = x[i];
		size_t j = i;

		for (; j > 0 && x[j - 1] > v; j--)
			x[j] = x[j - 1];
		x[j] = v;
	}
}

static void sift_down(double *x, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && x[child + 1] > x[child])
			child++;
		if (!(x[child] > x[root]))
			return;
		double t = x[root];

		x[root] = x[child];
		x[child] = t;
	}
}

static void heap_sort(double *x, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(x, i, n);
	for (size_t i = n; i-- > 1;) {
		double t = x[0];

		x[0] = x[i];
		x[i] = t;
		sift_down(x, 0, i);
	}
}

/*
 * Introsort: quicksort on a median-of-three pivot with a Hoare partition,
 * the smaller side first on an explicit stack (depth <= log2 n), insertion
 * sort below 24 values, heap sort when the partitions degrade.  Three
 * times the speed of qsort's callback on a leg of a million reps.
 */
static void intro_sort(double *x, size_t n, int depth)
{
	while (n > 24) {
		double a, b, c, p;
		size_t i, j;

		if (depth-- == 0) {
			heap_sort(x, n);
			return;
		}
		a = x[0], b = x[n / 2], c = x[n - 1];
		p = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
		i = 0;
		j = n - 1;
		for (;;) {
			while (x[i] < p)
				i++;
			while (x[j] > p)
				j--;
			if (i >= j)
				break;
			double t = x[i];

			x[i] = x[j];
			x[j] = t;
			i++, j--;
		}
		/* [0, j] <= p <= [j+1, n): recurse on the smaller side */
		if (j + 1 < n - (j + 1)) {
			intro_sort(x, j + 1, depth);
			x += j + 1;
			n -= j + 1;
		} else {
			intro_sort(x + j + 1, n - (j + 1), depth);
			n = j + 1;
		}
	}
	insertion_sort(x, n);
}

void kva_stats_sort(double *x, size_t n)
{
	int depth = 0;

	for (size_t k = n; k > 1; k >>= 1)
		depth += 2;
	intro_sort(x, n, depth);
}

/* Neumaier's compensated sum: exact enough that the mean of a million
 * equal values is that value. */
double kva_stats_mean(const double *x, size_t n)
{
	double sum = 0, c = 0;

	if (n == 0)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		double t = sum + x[i];

		if (fabs(sum) >= fabs(x[i]))
			c += (sum - t) + x[i];
		else
			c += (x[i] - t) + sum;
		sum = t;
	}
	return (sum + c) / (double)n;
}

double kva_stats_stdev(const double *x, size_t n)
{
	double m, ss = 0;

	if (n < 2)
		return NAN;
	m = kva_stats_mean(x, n);
	for (size_t i = 0; i < n; i++)
		ss += (x[i] - m) * (x[i] - m);
	return sqrt(ss / (double)(n - 1));
}

double kva_stats_median_sorted(const double *x, size_t n)
{
	if (n == 0)
		return NAN;
	if (n % 2)
		return x[n / 2];
	return (x[n / 2 - 1] + x[n / 2]) / 2;
}

double kva_stats_quantile_sorted(const double *x, size_t n, double p)
{
	double h, f;
	size_t j;

	if (n == 0)
		return NAN;
	if (p <= 0)
		return x[0];
	if (p >= 1)
		return x[n - 1];
	h = (double)(n - 1) * p;
	j = (size_t)floor(h);
	f = h - (double)j;
	if (j + 1 >= n || f == 0)
		return x[j];
	return x[j] + f * (x[j + 1] - x[j]);
}

/*
 * The deviations |x_i - med| of a sorted sample form two ascending runs:
 * med - x[i] for i = k-1 down to 0 (the values <= med) and x[j] - med for
 * j = k up to n-1 (the values above it).  Merging the runs up to the
 * middle gives the median deviation in O(n) without a buffer.
 */
double kva_stats_mad_sorted(const double *x, size_t n)
{
	double med, lo_mid = 0, d = 0;
	size_t k = 0, lo, hi, i, j, stop;

	if (n == 0)
		return NAN;
	med = kva_stats_median_sorted(x, n);
	lo = 0;
	hi = n; /* k = first index with x[k] > med */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x[mid] <= med)
			lo = mid + 1;
		else
			hi = mid;
	}
	k = lo;
	i = k;       /* next left element is x[i-1] */
	j = k;       /* next right element is x[j] */
	stop = n / 2; /* merged positions 0 .. stop are needed */
	for (size_t pos = 0; pos <= stop; pos++) {
		double dl = i > 0 ? med - x[i - 1] : INFINITY;
		double dr = j < n ? x[j] - med : INFINITY;

		if (dl <= dr) {
			d = dl;
			i--;
		} else {
			d = dr;
			j++;
		}
		if (n % 2 == 0 && pos == stop - 1)
			lo_mid = d;
	}
	return n % 2 ? d : (lo_mid + d) / 2;
}

double kva_stats_modified_z(double value, double median, double mad)
{
	return (value - median) / (mad > 0 ? mad : DBL_EPSILON);
}

void kva_stats_tukey_fences(double q1, double q3, double k, double *lo,
			    double *hi)
{
	double iqr = q3 - q1;

	*lo = q1 - k * iqr;
	*hi = q3 + k * iqr;
}

/* With t = 0 .. n-1: tbar = (n-1)/2 and sum (t - tbar)^2 = n(n^2-1)/12,
 * so only sum (t - tbar) y needs a pass (sum (t - tbar) ybar is 0). */
double kva_stats_drift_slope(const double *y, size_t n)
{
	double tbar, sxx, sxy = 0, dn = (double)n;

	if (n < 2)
		return NAN;
	tbar = (dn - 1) / 2;
	sxx = dn * (dn * dn - 1) / 12;
	for (size_t i = 0; i < n; i++)
		sxy += ((double)i - tbar) * y[i];
	return sxy / sxx;
}

double kva_stats_inv_choose(uint64_t n, uint64_t m)
{
	uint64_t k = n < m ? n : m, big = n + m;
	double c = 1;

	if (k == 0)
		return 1;
	if (k <= 64) {
		/* C(N, k) = prod_{i=1..k} (N - k + i) / i, each partial
		 * product an integer (exact while below 2^53) */
		for (uint64_t i = 1; i <= k; i++)
			c = c * (double)(big - k + i) / (double)i;
		return 1 / c;
	}
	return exp(lgamma((double)n + 1) + lgamma((double)m + 1) -
		   lgamma((double)big + 1));
}

/* ---- Mann-Whitney U ------------------------------------------------------ */

/*
 * Exact two-sided p of the doubled rank sum s2 of the n x-values among
 * the N = n + m doubled ranks dr[] (2 x midrank, an integer), by counting
 * the n-subsets of dr with each sum.  Counts stay below C(50, 25) < 2^53,
 * so they are exact in a double.
 */
static double mw_exact_p(const uint32_t *dr, size_t big, size_t n, uint64_t s2)
{
	size_t smax = 0, w;
	double *cnt, total = 0, below = 0, above = 0, p;

	for (size_t i = 0; i < big; i++)
		smax += dr[i];
	w = smax + 1;
	if (!(cnt = calloc((n + 1) * w, sizeof *cnt)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	cnt[0] = 1;
	for (size_t i = 0; i < big; i++) {
		size_t kmax = i + 1 < n ? i + 1 : n;

		for (size_t k = kmax; k >= 1; k--)
			for (size_t s = smax; s >= dr[i]; s--)
				cnt[k * w + s] += cnt[(k - 1) * w + s - dr[i]];
	}
	for (size_t s = 0; s <= smax; s++) {
		double c = cnt[n * w + s];

		total += c;
		if (s <= s2)
			below += c;
		if (s >= s2)
			above += c;
	}
	free(cnt);
	p = 2 * (below < above ? below : above) / total;
	return p < 1 ? p : 1;
}

int kva_stats_mann_whitney_sorted(const double *x, size_t n, const double *y,
				  size_t m, kva_mw *out)
{
	size_t big = n + m, i = 0, j = 0, pos = 0;
	uint64_t s2 = 0;
	double ties = 0, dn = (double)n, dm = (double)m, dbig = (double)big;
	uint32_t *dr = NULL;
	int exact = big <= KVA_STATS_MW_EXACT_MAX;

	if (n == 0 || m == 0)
		return -1;
	if (exact && !(dr = malloc(big * sizeof *dr)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	/* walk the merged order one group of equal values at a time; the
	 * group at 1-based ranks pos+1 .. pos+t has midrank pos + (t+1)/2,
	 * doubled 2 pos + t + 1 */
	while (i < n || j < m) {
		double v = i < n && (j >= m || x[i] <= y[j]) ? x[i] : y[j];
		size_t tx = 0, ty = 0, t;
		uint64_t d;

		while (i < n && x[i] == v)
			i++, tx++;
		while (j < m && y[j] == v)
			j++, ty++;
		t = tx + ty;
		d = 2 * (uint64_t)pos + t + 1;
		s2 += tx * d;
		ties += (double)t * (double)t * (double)t - (double)t;
		if (exact) {
			/* x's of the group first, then y's: order within a
			 * group does not change the subset sums */
			for (size_t k = 0; k < t; k++)
				dr[pos + k] = (uint32_t)d;
		}
		pos += t;
	}
	out->u = (double)s2 / 2 - dn * (dn + 1) / 2;
	out->ties = ties;
	out->exact = exact;
	if (exact) {
		out->z = NAN;
		out->p = mw_exact_p(dr, big, n, s2);
		free(dr);
	} else {
		double var = dn * dm / 12 * ((dbig + 1) - ties / (dbig * (dbig - 1)));
		double num = fabs(out->u - dn * dm / 2) - 0.5;

		if (var <= 0) {
			out->z = 0;
			out->p = 1;
		} else {
			out->z = num / sqrt(var);
			out->p = out->z <= 0 ? 1 : erfc(out->z / sqrt(2.0));
			if (out->p > 1)
				out->p = 1;
		}
	}
	return 0;
}

/* ---- bootstrap ------------------------------------------------------------ */

double kva_stats_uniform(kva_rng *r)
{
	return ((double)(kva_rng_u64(r) >> 11) + 0.5) * 0x1p-53;
}

/* Standard normal by Marsaglia's polar method (one of the pair kept, so
 * no state outlives the call). */
static double normal(kva_rng *r)
{
	double u, v, s;

	do {
		u = 2 * kva_stats_uniform(r) - 1;
		v = 2 * kva_stats_uniform(r) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	return u * sqrt(-2 * log(s) / s);
}

/* Gamma(a, 1) for a >= 1 by Marsaglia and Tsang's squeeze method. */
static double gamma_draw(double a, kva_rng *r)
{
	double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);

	for (;;) {
		double z, v, u;

		do {
			z = normal(r);
			v = 1 + c * z;
		} while (v <= 0);
		v = v * v * v;
		u = kva_stats_uniform(r);
		if (u < 1 - 0.0331 * z * z * z * z)
			return d * v;
		if (log(u) < 0.5 * z * z + d * (1 - v + log(v)))
			return d * v;
	}
}

/* Beta(a, b), a, b >= 1, as G_a / (G_a + G_b). */
static double beta_draw(double a, double b, kva_rng *r)
{
	double ga = gamma_draw(a, r), gb = gamma_draw(b, r);

	return ga / (ga + gb);
}

/* 0-based index of the value a resampled index ceil(n u) picks. */
static size_t pick(size_t n, double u)
{
	double c = ceil((double)n * u);

	if (c < 1)
		return 0;
	if (c > (double)n)
		return n - 1;
	return (size_t)c - 1;
}

double kva_stats_boot_median_sorted(const double *x, size_t n, kva_rng *r)
{
	size_t k;
	double u1, u2;

	if (n == 1)
		return x[0];
	if (n % 2) {
		k = (n + 1) / 2;
		return x[pick(n, beta_draw((double)k, (double)(n - k + 1), r))];
	}
	k = n / 2;
	u1 = beta_draw((double)k, (double)(n - k + 1), r);
	/* the smallest of the n - k uniforms above u1: Beta(1, n-k) on
	 * (u1, 1), by inversion */
	u2 = u1 + (1 - u1) * (1 - pow(kva_stats_uniform(r), 1.0 / (double)(n - k)));
	return (x[pick(n, u1)] + x[pick(n, u2)]) / 2;
}

int kva_stats_boot_rel_change_ci(const double *x, size_t n, const double *y,
				 size_t m, uint64_t b, double level,
				 kva_rng *r, double *lo, double *hi)
{
	double *rep;

	if (n == 0 || m == 0 || b == 0 || !(y[0] > 0))
		return -1;
	if (b > SIZE_MAX / sizeof *rep || !(rep = malloc(b * sizeof *rep)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (uint64_t i = 0; i < b; i++) {
		double mx = kva_stats_boot_median_sorted(x, n, r);
		double my = kva_stats_boot_median_sorted(y, m, r);

		rep[i] = (mx - my) / my;
	}
	kva_stats_sort(rep, b);
	*lo = kva_stats_quantile_sorted(rep, b, (1 - level) / 2);
	*hi = kva_stats_quantile_sorted(rep, b, (1 + level) / 2);
	free(rep);
	return 0;
}
