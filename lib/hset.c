/*
 * hset.c - a set of 64-bit hashes (open addressing, linear probing), for
 * dropping duplicate cases.  Two different cases whose hashes collide
 * count as one: at 10^6 cases the chance is about 3*10^-8.
 */
#include <stdlib.h>

#include "kvarbiter.h"

/* Insert h (0 is mapped to 1: 0 marks an empty slot).  Returns 1 if h was
 * new, 0 if already present; exits 2 when memory runs out. */
int kva_hset_add(kva_hset *s, uint64_t h)
{
	size_t i;

	h |= !h;
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint64_t *nh = calloc(cap, sizeof *nh);

		if (!nh)
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		for (size_t k = 0; k < s->cap; k++)
			if (s->h[k]) {
				for (i = s->h[k] & (cap - 1); nh[i]; i = (i + 1) & (cap - 1))
					;
				nh[i] = s->h[k];
			}
		free(s->h);
		s->h = nh;
		s->cap = cap;
	}
	for (i = h & (s->cap - 1); s->h[i]; i = (i + 1) & (s->cap - 1))
		if (s->h[i] == h)
			return 0;
	s->h[i] = h;
	s->n++;
	return 1;
}

void kva_hset_free(kva_hset *s)
{
	if (!s)
		return;
	free(s->h);
	s->h = NULL;
	s->cap = s->n = 0;
}
