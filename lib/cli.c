/*
 * cli.c - strict option values and progress reporting.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvarbiter.h"

/* See kvarbiter.h.  Unlike atoi/strtol alone: no leading space, no
 * trailing junk, no silent clamping. */
int kva_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
		  const char **errstr)
{
	char *end;
	long long v;

	*errstr = "invalid";
	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end)
		return -1;
	if ((errno == ERANGE && v < 0) || v < min) {
		*errstr = "too small";
		return -1;
	}
	if (errno == ERANGE || v > max) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	*errstr = NULL;
	return 0;
}

int kva_parse_double(const char *s, double *out, const char **errstr)
{
	char *end;
	double v;

	*errstr = "invalid";
	if (!s || !*s || strchr(" \t\n", *s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (*end || errno || !isfinite(v))
		return -1;
	*out = v;
	*errstr = NULL;
	return 0;
}

int kva_parse_size(const char *s, size_t *out, const char **errstr)
{
	char tmp[32];
	size_t n = s ? strlen(s) : 0, mul = 1;
	int64_t v;

	*errstr = "invalid";
	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n + 1);
	switch (tmp[n - 1]) {
	case 'K': case 'k': mul = 1024; break;
	case 'M': case 'm': mul = 1024 * 1024; break;
	case 'G': case 'g': mul = 1024 * 1024 * 1024; break;
	}
	if (mul > 1)
		tmp[n - 1] = '\0';
	if (kva_parse_i64(tmp, 1, INT64_MAX / (int64_t)mul, &v, errstr))
		return -1;
	*out = (size_t)v * mul;
	return 0;
}

double kva_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Progress is for people: shown only on a terminal unless forced, and
 * never more often than four times a second. */
void kva_progress_init(kva_progress *p, const char *what, int force, int quiet)
{
	p->on = !quiet && (force || isatty(2));
	p->last = 0;
	p->what = what;
}

void kva_progress_tick(kva_progress *p, uint64_t done)
{
	double t;

	if (!p->on || (done & 1023))
		return;
	if ((t = kva_now()) - p->last < 0.25)
		return;
	p->last = t;
	fprintf(stderr, "\r%s: %llu %s", kva_progname, (unsigned long long)done,
		p->what);
}

void kva_progress_done(kva_progress *p, uint64_t done)
{
	if (p->on)
		fprintf(stderr, "\r%s: %llu %s, done\n", kva_progname,
			(unsigned long long)done, p->what);
}

void kva_stdopt(int c, const char *arg, kva_stdopts *so, void (*usage)(FILE *))
{
	const char *errstr;

	switch (c) {
	case KVA_OPT_KEEP: so->keep_going = 1; break;
	case KVA_OPT_MAXREC:
		if (kva_parse_size(arg, &so->max_record, &errstr))
			kva_die(2, "--max-record: value is %s: %s", errstr, arg);
		break;
	case KVA_OPT_UNBUF: so->unbuffered = 1; break;
	case KVA_OPT_PROGRESS: so->progress = 1; break;
	case KVA_OPT_QUIET: so->quiet = 1; break;
	case 'h':
		usage(stdout);
		exit(0);
	case KVA_OPT_VERSION:
		printf("%s %s\n", kva_progname, KVA_VERSION);
		exit(0);
	default:
		usage(stderr);
		exit(2);
	}
}
