/*
 * memcpy_peer.c - the peer of tests/bench/kv-prefill.sh: the system's own
 * memcpy of N bytes into freshly allocated memory (page faults included,
 * as kv-prefill's writes into its pool and host store have them), best of
 * REPS runs.  Prints the seconds.
 *
 *   memcpy_peer N REPS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	size_t n;
	int reps;
	double best = 1e30;
	char *src;

	if (argc != 3 || !(n = strtoull(argv[1], NULL, 10)) ||
	    (reps = atoi(argv[2])) < 1) {
		fputs("usage: memcpy_peer N REPS\n", stderr);
		return 2;
	}
	if (!(src = malloc(n)))
		return 2;
	memset(src, 0x5a, n);
	for (int r = 0; r < reps; r++) {
		char *dst = malloc(n);
		double t;

		if (!dst)
			return 2;
		t = now();
		memcpy(dst, src, n);
		t = now() - t;
		if (dst[n - 1] != 0x5a)
			return 1;
		free(dst);
		if (t < best)
			best = t;
	}
	printf("%.6f\n", best);
	free(src);
	return 0;
}
