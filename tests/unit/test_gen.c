/*
 * test_gen.c - the case generators: --boundaries reaches the edges the
 * SPEC names (ring sizes 1 and 3, odd block sizes, every head, b_local_idx
 * past a block, k*bs-1..k*bs+1 around the wrap, unmapped and padding
 * tokens, both sides of a FlashInfer sequence end) with no duplicates;
 * --sweep walks its grid in order and rejects bad specs with exact
 * messages; --random is reproducible from its seed.
 */
#include <stdlib.h>

#include "unit.h"
#include "kvarbiter.h"

/* One generated case, copied out of the generator's storage. */
typedef struct kase {
	int64_t in[KVA_MAX_IN];
	size_t tn[KVA_MAX_TAB];
	int64_t *tv[KVA_MAX_TAB];
	kva_route r;
} kase;

/* Everything one generator run emitted. */
typedef struct cases {
	const kva_oracle *o;
	kase *c;
	size_t n, cap;
	size_t invalid;   /* emitted but refused by kva_oracle_eval: a bug */
	uint64_t hash;    /* of the whole sequence, in order */
	size_t stop_at;   /* emit returns 1 at this count (0: never) */
} cases;

static uint64_t fold(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ULL + (h >> 29);
}

/* kva_emit_fn: copy the case and its route. */
static int collect(void *ctx, const kva_oracle *o, const kva_args *a)
{
	cases *cs = ctx;
	kase *k;
	kva_err e;

	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? 2 * cs->cap : 256;
		kase *p = realloc(cs->c, cap * sizeof *p);

		if (!p)
			abort();
		cs->c = p;
		cs->cap = cap;
	}
	k = &cs->c[cs->n++];
	memset(k, 0, sizeof *k);
	for (int i = 0; i < o->nin; i++) {
		k->in[i] = a->in[i];
		cs->hash = fold(cs->hash, (uint64_t)a->in[i]);
	}
	for (int t = 0; t < o->ntab; t++) {
		k->tn[t] = a->tab[t].n;
		k->tv[t] = malloc((a->tab[t].n + 1) * sizeof (int64_t));
		if (!k->tv[t])
			abort();
		if (a->tab[t].n)
			memcpy(k->tv[t], a->tab[t].v, a->tab[t].n * sizeof (int64_t));
		cs->hash = fold(cs->hash, a->tab[t].n);
		for (size_t j = 0; j < a->tab[t].n; j++)
			cs->hash = fold(cs->hash, (uint64_t)a->tab[t].v[j]);
	}
	if (kva_oracle_eval(o, a, &k->r, &e))
		cs->invalid++;
	return cs->stop_at && cs->n == cs->stop_at;
}

static void cases_free(cases *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		for (int t = 0; t < KVA_MAX_TAB; t++)
			free(cs->c[i].tv[t]);
	free(cs->c);
	memset(cs, 0, sizeof *cs);
}

/* Generate into cs: mode 'b' boundaries, 's' sweep (arg), 'r' random. */
static int run_gen(cases *cs, const char *oracle, int mode, const char *arg,
		   uint64_t n, int64_t heads, uint64_t seed, kva_err *e)
{
	kva_gen_opts opt = { heads, seed, 0 };

	memset(cs, 0, sizeof *cs);
	cs->o = kva_oracle_find(oracle);
	if (!cs->o)
		return -2;
	if (mode == 'b')
		return kva_gen_boundaries(cs->o, &opt, collect, cs, e);
	if (mode == 's')
		return kva_gen_sweep(cs->o, arg, &opt, collect, cs, e);
	return kva_gen_random(cs->o, n, &opt, collect, cs, e);
}

/* Text of case k, for sorting; malloc'd. */
static char *case_text(const cases *cs, const kase *k)
{
	size_t cap = 24 * (KVA_MAX_IN + KVA_MAX_TAB + 1), len = 0;
	char *s;

	for (int t = 0; t < cs->o->ntab; t++)
		cap += 24 * k->tn[t];
	if (!(s = malloc(cap)))
		return NULL;
	s[0] = '\0';
	for (int i = 0; i < cs->o->nin; i++)
		len += (size_t)snprintf(s + len, cap - len, "%lld,",
					(long long)k->in[i]);
	for (int t = 0; t < cs->o->ntab; t++) {
		len += (size_t)snprintf(s + len, cap - len, "|%zu:", k->tn[t]);
		for (size_t j = 0; j < k->tn[t]; j++)
			len += (size_t)snprintf(s + len, cap - len, "%lld,",
						(long long)k->tv[t][j]);
	}
	return s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Number of cases in cs that equal an earlier one. */
static size_t duplicates(const cases *cs)
{
	char **t = malloc((cs->n + 1) * sizeof *t);
	size_t dup = 0;

	if (!t)
		abort();
	for (size_t i = 0; i < cs->n; i++)
		if (!(t[i] = case_text(cs, &cs->c[i])))
			abort();
	qsort(t, cs->n, sizeof *t, cmp_str);
	for (size_t i = 1; i < cs->n; i++)
		dup += !strcmp(t[i - 1], t[i]);
	for (size_t i = 0; i < cs->n; i++)
		free(t[i]);
	free(t);
	return dup;
}

/* Do the block ids of table t in case k differ from each other and from
 * their own index? */
static int deranged(const kase *k, int t)
{
	for (size_t i = 0; i < k->tn[t]; i++) {
		if (k->tv[t][i] == (int64_t)i)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (k->tv[t][i] == k->tv[t][j])
				return 0;
	}
	return 1;
}

static void t_radix2d_boundaries(void)
{
	static const int64_t rings[] = { 1, 2, 3, 4, 5, 8 };
	static const int64_t blocks[] = { 1, 2, 3, 7, 16, 17, 64 };
	cases cs;
	kva_err e;
	int heads = 0, past_block = 0;

	CHECK_EQ_I64(run_gen(&cs, "radix-2d", 'b', NULL, 0, 8, 1, &e), 0);
	CHECK(cs.n >= 1000 && cs.n <= 30000);
	CHECK_EQ_I64(cs.invalid, 0);
	CHECK_EQ_I64(duplicates(&cs), 0);
	for (size_t r = 0; r < sizeof rings / sizeof rings[0]; r++)
		for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
			int64_t N = rings[r], bs = blocks[b];
			/* a = k*bs-1, k*bs, k*bs+1 for k = 0, 1, 2, N, 2N+1 */
			int64_t ks[5] = { 0, 1, 2, N, 2 * N + 1 };
			int seen[5][3] = { { 0 } };

			for (size_t i = 0; i < cs.n; i++) {
				const int64_t *in = cs.c[i].in;
				int64_t a = in[0] + in[2];

				if (in[3] != N || in[4] != bs)
					continue;
				for (int k = 0; k < 5; k++)
					for (int d = -1; d <= 1; d++)
						if (a == ks[k] * bs + d)
							seen[k][d + 1] = 1;
			}
			for (int k = 0; k < 5; k++)
				for (int d = -1; d <= 1; d++)
					if (!(k == 0 && d == -1)) /* a = -1 is invalid */
						CHECK(seen[k][d + 1]);
		}
	for (size_t i = 0; i < cs.n; i++) {
		const int64_t *in = cs.c[i].in;

		heads |= 1 << in[1];
		CHECK(in[1] >= 0 && in[1] < 8);
		if (in[0] >= in[4] && in[2] > 0 && (in[4] == 3 || in[4] == 7 ||
						    in[4] == 17))
			past_block |= in[4] == 3 ? 1 : in[4] == 7 ? 2 : 4;
	}
	CHECK_EQ_I64(heads, 0xff);
	CHECK_EQ_I64(past_block, 7);
	/* the position past 2^31 and 2^32, on the ring's last block */
	{
		int past31 = 0, past32 = 0;

		for (size_t i = 0; i < cs.n; i++) {
			const int64_t *in = cs.c[i].in;
			int64_t a = in[0] + in[2];

			if (a < (int64_t)1 << 31)
				continue;
			CHECK_EQ_I64(in[3], a / in[4] + 1);
			CHECK_EQ_I64(cs.c[i].r.out[1], a / in[4]);
			past31 |= a == (int64_t)1 << 31;
			past32 |= a == ((int64_t)1 << 32) + 1;
		}
		CHECK(past31 && past32);
	}
	/* the ring wraps in the output, not only in the input */
	{
		int wrapped = 0;

		for (size_t i = 0; i < cs.n; i++) {
			const int64_t *in = cs.c[i].in;

			if (in[3] == 3 && (in[0] + in[2]) / in[4] == 3 &&
			    cs.c[i].r.out[1] == 0)
				wrapped = 1;
		}
		CHECK(wrapped);
	}
	cases_free(&cs);
	/* more heads: all of them appear */
	CHECK_EQ_I64(run_gen(&cs, "radix-2d", 'b', NULL, 0, 12, 1, &e), 0);
	heads = 0;
	for (size_t i = 0; i < cs.n; i++)
		heads |= 1 << cs.c[i].in[1];
	CHECK_EQ_I64(heads, 0xfff);
	cases_free(&cs);
}

static void t_radix1d_boundaries(void)
{
	cases cs;
	kva_err e;
	int seen17 = 0, big_b = 0, big_block = 0;

	CHECK_EQ_I64(run_gen(&cs, "radix-1d", 'b', NULL, 0, 8, 1, &e), 0);
	CHECK(cs.n >= 50);
	CHECK_EQ_I64(cs.invalid, 0);
	CHECK_EQ_I64(duplicates(&cs), 0);
	for (size_t i = 0; i < cs.n; i++) {
		if (cs.c[i].in[2] == 17 && cs.c[i].in[0] + cs.c[i].in[1] == 35)
			seen17 = 1;
		/* b_local_idx itself past 2^31, and a block past 2^31 */
		big_b |= cs.c[i].in[0] > INT32_MAX && cs.c[i].in[1] < 1024;
		big_block |= cs.c[i].r.out[0] > INT32_MAX;
	}
	CHECK(seen17 && big_b && big_block);
	cases_free(&cs);
}

static void t_paged_boundaries(void)
{
	cases cs;
	kva_err e;
	int st[3] = { 0 }, at_len = 0, past_len = 0, last = 0, odd = 0, span = 0;

	CHECK_EQ_I64(run_gen(&cs, "paged", 'b', NULL, 0, 8, 1, &e), 0);
	CHECK_EQ_I64(cs.invalid, 0);
	CHECK_EQ_I64(duplicates(&cs), 0);
	for (size_t i = 0; i < cs.n; i++) {
		const kase *k = &cs.c[i];
		int64_t pos = k->in[0], bs = k->in[1], idx;

		st[k->r.status]++;
		CHECK(deranged(k, 0));
		if (pos < 0)
			continue;
		idx = pos / bs;
		if (idx == (int64_t)k->tn[0])
			at_len = 1;
		if (idx == (int64_t)k->tn[0] + 1)
			past_len = 1;
		if (idx == (int64_t)k->tn[0] - 1 && k->r.status == KVA_ROUTED) {
			last = 1;
			CHECK_EQ_I64(k->r.out[0], k->tv[0][idx]);
			CHECK_EQ_I64(k->r.out[2], k->tv[0][idx] * bs + pos % bs);
		}
		if (bs == 7 || bs == 17)
			odd = 1;
		/* a short table mapping more than 2^31 tokens: its last one */
		if (k->tn[0] == 2 && bs >= INT32_MAX && pos == 2 * bs - 1)
			span = k->r.status == KVA_ROUTED;
	}
	CHECK(st[KVA_ROUTED] > 0 && st[KVA_UNMAPPED] > 0 && st[KVA_PADDING] > 0);
	CHECK(at_len && past_len && last && odd && span);
	cases_free(&cs);
}

static void t_ring_boundaries(void)
{
	cases cs;
	kva_err e;
	int wrap = 0, unmapped = 0, span = 0;

	CHECK_EQ_I64(run_gen(&cs, "paged-ring", 'b', NULL, 0, 8, 1, &e), 0);
	CHECK_EQ_I64(cs.invalid, 0);
	CHECK_EQ_I64(duplicates(&cs), 0);
	for (size_t i = 0; i < cs.n; i++) {
		const kase *k = &cs.c[i];
		int64_t pos = k->in[0], bs = k->in[1], w = k->in[2];

		CHECK(deranged(k, 0));
		if (pos >= 0 && w == 3 && pos / bs == 3 && k->r.status == KVA_ROUTED) {
			CHECK_EQ_I64(k->r.out[0], k->tv[0][0]);
			wrap = 1;
		}
		unmapped += k->r.status == KVA_UNMAPPED;
		/* a ring of 2 spanning more than 2^31 tokens, in its second
		 * round: back in the first block */
		if (w == 2 && bs >= INT32_MAX && pos == 2 * bs + 3) {
			CHECK(k->r.status == KVA_ROUTED && k->r.out[0] == k->tv[0][0]);
			span = 1;
		}
	}
	CHECK(wrap && unmapped && span);
	cases_free(&cs);
}

/* rolling: every window of the list goes through the fill, the first
 * roll and rolls past the window, with the live range's edges in each
 * state; the world is the state (seq_len, window), not the position. */
static void t_rolling_boundaries(void)
{
	static const int64_t wins[] = { 1, 2, 3, 4, 5, 8, 17 };
	const kva_oracle *o = kva_oracle_find("rolling");
	cases cs;
	kva_err e;
	unsigned world = 0;
	int big = 0, pad = 0;

	CHECK_EQ_I64(run_gen(&cs, "rolling", 'b', NULL, 0, 8, 1, &e), 0);
	CHECK(cs.n > 300 && cs.n < 5000);
	CHECK_EQ_I64(cs.invalid, 0);
	CHECK_EQ_I64(duplicates(&cs), 0);
	for (size_t w = 0; w < sizeof wins / sizeof *wins; w++) {
		int64_t W = wins[w];
		/* seen[j]: the cases with seq_len lens[j] have pos at each
		 * edge of the live range (bits: first, last, one before --
		 * when that is not below -1 -- and one after) */
		int64_t lens[] = { W - 1, W, W + 1, 2 * W + 1, 3 * W + 2 };
		unsigned seen[5] = { 0 };

		for (size_t i = 0; i < cs.n; i++) {
			const kase *k = &cs.c[i];
			int64_t pos = k->in[0], s = k->in[1];

			if (k->in[2] != W)
				continue;
			for (int j = 0; j < 5; j++) {
				int64_t lo = s - W < 0 ? 0 : s - W;

				if (s != lens[j])
					continue;
				seen[j] |= (pos == lo) << 0 | (pos == s - 1) << 1 |
					(pos == s - W - 1) << 2 | (pos == s) << 3;
			}
		}
		for (int j = 0; j < 5; j++)
			CHECK_EQ_I64(seen[j], lens[j] - W - 1 < -1 ? 0xb : 0xf);
	}
	for (size_t i = 0; i < cs.n; i++) {
		const kase *k = &cs.c[i];
		int64_t pos = k->in[0], s = k->in[1], W = k->in[2];

		/* hand-computed: the newest token is in the last slot once
		 * the cache is full, the oldest live one in slot 0 */
		if (s >= W && pos == s - 1)
			CHECK(k->r.status == KVA_ROUTED && k->r.out[0] == W - 1);
		if (s >= W && pos == s - W)
			CHECK(k->r.status == KVA_ROUTED && k->r.out[0] == 0);
		if (pos == s - W - 1 || pos == s || pos == -1)
			CHECK_EQ_I64(k->r.status, KVA_UNMAPPED);
		pad |= pos == -1;
		/* the newest token of a window past 2^31 lands on slot 2^31,
		 * which an int32 slot cannot hold */
		big |= s == ((int64_t)1 << 32) + 1 && pos == s - 1 &&
			W == ((int64_t)1 << 31) + 1 && k->r.out[0] == (int64_t)1 << 31;
	}
	CHECK(pad && big);
	CHECK_EQ_I64(kva_oracle_world(o, &world, &e), 0);
	CHECK_EQ_I64(world, 6);   /* seq_len and window */
	cases_free(&cs);
}

static void t_flashinfer_boundaries(void)
{
	cases cs;
	kva_err e;
	int last_in = 0, at_end = 0, beyond = 0, empty = 0, batches = 0;
	int mid_page = 0, not_last = 0, is_last = 0, long_in = 0, long_end = 0;

	CHECK_EQ_I64(run_gen(&cs, "flashinfer", 'b', NULL, 0, 8, 1, &e), 0);
	CHECK(cs.n > 100);
	CHECK_EQ_I64(cs.invalid, 0);
	CHECK_EQ_I64(duplicates(&cs), 0);
	for (size_t i = 0; i < cs.n; i++) {
		const kase *k = &cs.c[i];
		int64_t b = k->in[0], pos = k->in[1], P = k->in[2];
		int64_t pages = k->tv[0][b + 1] - k->tv[0][b];
		int64_t seqlen = pages ? (pages - 1) * P + k->tv[2][b] : 0;

		batches |= 1 << b;
		CHECK(deranged(k, 1));
		CHECK_EQ_I64(k->r.status, pos < seqlen ? KVA_ROUTED : KVA_UNMAPPED);
		if (pos == seqlen - 1 && P > 1)
			last_in = 1;
		if (pos == seqlen && pages > 0 && P > 1)
			at_end = 1;
		if (pos > seqlen && pages > 0)
			beyond = 1;
		if (pages == 0)
			empty = 1;
		/* past the end but inside a partly filled last page: a
		 * candidate that takes every page as full writes there */
		if (pos == seqlen && pages > 0 && k->tv[2][b] < P)
			mid_page = 1;
		if ((size_t)b + 1 < k->tn[2])
			not_last = 1;
		else
			is_last = 1;
		/* a request longer than 2^31 tokens: its last token, and
		 * the first past its end */
		if (seqlen > INT32_MAX && pos == seqlen - 1 && pos > INT32_MAX)
			long_in = 1;
		if (seqlen > INT32_MAX && pos == seqlen)
			long_end = 1;
	}
	CHECK(long_in && long_end);
	CHECK(last_in && at_end && beyond && empty);
	CHECK(mid_page && not_last && is_last);
	CHECK_EQ_I64(batches, 7);
	cases_free(&cs);
}

static void t_sweep(void)
{
	cases cs;
	kva_err e;

	CHECK_EQ_I64(run_gen(&cs, "radix-2d", 's', "b_local_idx=0:3,head_idx=2,"
			     "prefix_length_h=0:5,total_blocks_h=1:3,block_size=1:4",
			     0, 8, 1, &e), 0);
	CHECK_EQ_I64(cs.n, 3 * 5 * 2 * 3);
	CHECK_EQ_I64(cs.invalid, 0);
	/* the first name turns slowest, the last fastest */
	CHECK_EQ_I64(cs.c[0].in[4], 1);
	CHECK_EQ_I64(cs.c[1].in[4], 2);
	CHECK_EQ_I64(cs.c[3].in[3], 2);
	CHECK_EQ_I64(cs.c[6].in[2], 1);
	CHECK_EQ_I64(cs.c[cs.n - 1].in[0], 2);
	CHECK_EQ_I64(cs.c[cs.n - 1].in[1], 2);
	CHECK_EQ_I64(cs.c[cs.n - 1].in[2], 4);
	cases_free(&cs);
	/* order follows the spec, not the ABI */
	CHECK_EQ_I64(run_gen(&cs, "radix-2d", 's', "block_size=1:4,b_local_idx=0:3,"
			     "head_idx=2,prefix_length_h=0:5,total_blocks_h=1:3",
			     0, 8, 1, &e), 0);
	CHECK_EQ_I64(cs.c[1].in[3], 2);
	CHECK_EQ_I64(cs.c[cs.n - 1].in[4], 3);
	cases_free(&cs);
	/* blanks around the parts are fine */
	CHECK_EQ_I64(run_gen(&cs, "radix-2d", 's', " b_local_idx = 0 : 3 , head_idx=2,"
			     "prefix_length_h=0:5,total_blocks_h= 1:3,block_size =1:4 ",
			     0, 8, 1, &e), 0);
	CHECK_EQ_I64(cs.n, 3 * 5 * 2 * 3);
	cases_free(&cs);
	/* invalid cells are skipped: block_size 0 and negative b */
	CHECK_EQ_I64(run_gen(&cs, "radix-2d", 's', "b_local_idx=-2:2,head_idx=0,"
			     "prefix_length_h=5,total_blocks_h=4,block_size=0:3",
			     0, 8, 1, &e), 0);
	CHECK_EQ_I64(cs.n, 2 * 2);
	cases_free(&cs);
	/* tables come with the cells and repeat with the seed */
	{
		uint64_t h1, h2, h3;
		int st[3] = { 0 };

		CHECK_EQ_I64(run_gen(&cs, "paged", 's', "pos=-1:200,block_size=1:9",
				     0, 8, 7, &e), 0);
		CHECK_EQ_I64(cs.n, 201 * 8);
		for (size_t i = 0; i < cs.n; i++) {
			CHECK(deranged(&cs.c[i], 0));
			st[cs.c[i].r.status]++;
		}
		CHECK(st[0] && st[1] && st[2]);
		h1 = cs.hash;
		cases_free(&cs);
		CHECK_EQ_I64(run_gen(&cs, "paged", 's', "pos=-1:200,block_size=1:9",
				     0, 8, 7, &e), 0);
		h2 = cs.hash;
		cases_free(&cs);
		CHECK_EQ_I64(run_gen(&cs, "paged", 's', "pos=-1:200,block_size=1:9",
				     0, 8, 8, &e), 0);
		h3 = cs.hash;
		cases_free(&cs);
		CHECK(h1 == h2);
		CHECK(h1 != h3);
	}
	CHECK_EQ_I64(run_gen(&cs, "flashinfer", 's', "batch=0:4,pos=0:40,page_size=1:6",
			     0, 8, 1, &e), 0);
	CHECK_EQ_I64(cs.n, 4 * 40 * 5);
	CHECK_EQ_I64(cs.invalid, 0);
	cases_free(&cs);
}

static void t_sweep_errors(void)
{
	static const struct { const char *oracle, *spec, *msg; } bad[] = {
		{ "radix-2d", "", "sweep: no range for 'b_local_idx'" },
		{ "radix-2d", "b_local_idx=0:3,head_idx=0,prefix_length_h=0:5,"
		  "total_blocks_h=1:3", "sweep: no range for 'block_size'" },
		{ "radix-2d", "foo=1:2", "sweep: 'foo' is not an input of radix-2d" },
		{ "paged", "block_table=0:3",
		  "sweep: 'block_table' is a table; tables are generated" },
		{ "radix-2d", "b_local_idx",
		  "sweep: bad range 'b_local_idx' (want NAME=LO:HI or NAME=VALUE)" },
		{ "radix-2d", "=3", "sweep: bad range '=3' (want NAME=LO:HI or "
		  "NAME=VALUE)" },
		{ "radix-2d", "b_local_idx=3:3",
		  "sweep: empty range for 'b_local_idx' (3:3; want LO < HI)" },
		{ "radix-2d", "b_local_idx=5:-1",
		  "sweep: empty range for 'b_local_idx' (5:-1; want LO < HI)" },
		{ "radix-2d", "b_local_idx=x:3", "sweep: 'b_local_idx': x is invalid" },
		{ "radix-2d", "b_local_idx=0:", "sweep: 'b_local_idx': \"\" is invalid" },
		{ "radix-2d", "b_local_idx=0:99999999999999999",
		  "sweep: 'b_local_idx': 99999999999999999 is too large" },
		{ "radix-2d", "b_local_idx=1 2", "sweep: 'b_local_idx': 1 2 is invalid" },
		{ "radix-2d", "b_local_idx=1,b_local_idx=2",
		  "sweep: duplicate range for 'b_local_idx'" },
		{ "radix-2d", "b_local_idx=1,", "sweep: empty range after ','" },
		{ "radix-2d", "b_local_idx=0:100000,head_idx=0:100000,"
		  "prefix_length_h=0:100000,total_blocks_h=1:3,block_size=1:3",
		  "sweep: grid has more than 10000000000 cells" },
		{ "paged", "pos=100000000:100000001,block_size=1",
		  "sweep: table 'block_table' would need 100000002 entries "
		  "(max 1048576)" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cases cs;
		kva_err e;

		memset(&e, 0, sizeof e);
		CHECK_EQ_I64(run_gen(&cs, bad[i].oracle, 's', bad[i].spec, 0, 8, 1,
				     &e), -1);
		CHECK_STR(e.msg, bad[i].msg);
		cases_free(&cs);
	}
}

static void t_random(void)
{
	static const char *const names[] = {
		"radix-1d", "radix-2d", "paged", "paged-ring", "flashinfer",
		"rolling"
	};

	for (size_t o = 0; o < sizeof names / sizeof names[0]; o++) {
		cases cs;
		kva_err e;
		uint64_t h1, h2, h3;
		int st[3] = { 0 };

		CHECK_EQ_I64(run_gen(&cs, names[o], 'r', NULL, 500, 8, 42, &e), 0);
		CHECK_EQ_I64(cs.n, 500);
		CHECK_EQ_I64(cs.invalid, 0);
		for (size_t i = 0; i < cs.n; i++)
			st[cs.c[i].r.status]++;
		CHECK(st[KVA_ROUTED] > 0);
		if (o >= 2)
			CHECK(st[KVA_UNMAPPED] > 0);
		if (o == 2 || o == 3)
			CHECK(st[KVA_PADDING] > 0);
		h1 = cs.hash;
		cases_free(&cs);
		CHECK_EQ_I64(run_gen(&cs, names[o], 'r', NULL, 500, 8, 42, &e), 0);
		h2 = cs.hash;
		cases_free(&cs);
		CHECK_EQ_I64(run_gen(&cs, names[o], 'r', NULL, 500, 8, 43, &e), 0);
		h3 = cs.hash;
		cases_free(&cs);
		CHECK(h1 == h2);
		CHECK(h1 != h3);
	}
	/* heads stay below num_heads */
	{
		cases cs;
		kva_err e;
		int heads = 0;

		CHECK_EQ_I64(run_gen(&cs, "radix-2d", 'r', NULL, 300, 3, 1, &e), 0);
		for (size_t i = 0; i < cs.n; i++)
			heads |= 1 << cs.c[i].in[1];
		CHECK_EQ_I64(heads, 7);
		cases_free(&cs);
	}
}

static void t_boundaries_deterministic(void)
{
	cases cs;
	kva_err e;
	uint64_t h1, h2;

	CHECK_EQ_I64(run_gen(&cs, "flashinfer", 'b', NULL, 0, 8, 5, &e), 0);
	h1 = cs.hash;
	cases_free(&cs);
	CHECK_EQ_I64(run_gen(&cs, "flashinfer", 'b', NULL, 0, 8, 5, &e), 0);
	h2 = cs.hash;
	cases_free(&cs);
	CHECK(h1 == h2);
}

static void t_emit_stops(void)
{
	cases cs;
	kva_gen_opts opt = { 8, 1, 0 };
	kva_err e;

	memset(&cs, 0, sizeof cs);
	cs.o = kva_oracle_find("radix-2d");
	cs.stop_at = 3;
	CHECK_EQ_I64(kva_gen_boundaries(cs.o, &opt, collect, &cs, &e), 0);
	CHECK_EQ_I64(cs.n, 3);
	cases_free(&cs);
	cs.o = kva_oracle_find("paged");
	cs.stop_at = 2;
	CHECK_EQ_I64(kva_gen_random(cs.o, 100, &opt, collect, &cs, &e), 0);
	CHECK_EQ_I64(cs.n, 2);
	cases_free(&cs);
}

static void t_user_formula(void)
{
	/* a tiled layout with a ring of banks: the generator knows nothing
	 * of it but its AST */
	static const char text[] =
		"oracle tiles\n"
		"input row col tile banks lane\n"
		"table bank_base\n"
		"require tile >= 1\n"
		"require banks >= 1\n"
		"require row >= 0 and col >= 0 and lane >= 0\n"
		"let t = (row div tile) * 2 + col div tile\n"
		"unmapped t mod banks >= len(bank_base)\n"
		"out bank = bank_base[t mod banks] + lane\n"
		"out off = (row mod tile) * tile + col mod tile\n";
	struct kva_formula *f;
	kva_oracle o;
	kva_gen_opts opt = { 4, 9, 0 };
	cases cs;
	kva_err e;
	int lanes = 0, tile7 = 0, bank3 = 0, st[3] = { 0 };

	f = kva_formula_parse(text, strlen(text), &e);
	CHECK(f);
	CHECK_EQ_I64(kva_formula_oracle(f, &o, &e), 0);
	memset(&cs, 0, sizeof cs);
	cs.o = &o;
	CHECK_EQ_I64(kva_gen_boundaries(&o, &opt, collect, &cs, &e), 0);
	CHECK(cs.n > 100 && cs.n < 30000);
	CHECK_EQ_I64(cs.invalid, 0);
	CHECK_EQ_I64(duplicates(&cs), 0);
	for (size_t i = 0; i < cs.n; i++) {
		const kase *k = &cs.c[i];

		lanes |= 1 << k->in[4];
		st[k->r.status]++;
		if (k->in[2] == 7 && (k->in[0] == 6 || k->in[0] == 7 || k->in[0] == 8))
			tile7 |= 1 << (k->in[0] - 6);
		if (k->in[3] == 3 && k->r.status == KVA_ROUTED &&
		    (k->in[0] / k->in[2]) * 2 + k->in[1] / k->in[2] >= 3)
			bank3 = 1;
	}
	CHECK_EQ_I64(lanes, 15);
	CHECK_EQ_I64(tile7, 7);
	CHECK(bank3);
	CHECK(st[KVA_ROUTED] && st[KVA_UNMAPPED]);
	cases_free(&cs);
	cs.o = &o;
	CHECK_EQ_I64(kva_gen_random(&o, 200, &opt, collect, &cs, &e), 0);
	CHECK_EQ_I64(cs.n, 200);
	CHECK_EQ_I64(cs.invalid, 0);
	cases_free(&cs);
	kva_formula_free(f);
}

static void t_no_divmod(void)
{
	/* nothing to divide: the baseline and the require's edges remain */
	static const char text[] =
		"oracle plain\ninput a b\nrequire a >= 2\nout s = a + b\n";
	struct kva_formula *f;
	kva_oracle o;
	kva_gen_opts opt = { 8, 1, 0 };
	cases cs;
	kva_err e;
	int a2 = 0, a3 = 0;

	f = kva_formula_parse(text, strlen(text), &e);
	CHECK(f);
	CHECK_EQ_I64(kva_formula_oracle(f, &o, &e), 0);
	memset(&cs, 0, sizeof cs);
	cs.o = &o;
	CHECK_EQ_I64(kva_gen_boundaries(&o, &opt, collect, &cs, &e), 0);
	CHECK_EQ_I64(cs.invalid, 0);
	for (size_t i = 0; i < cs.n; i++) {
		a2 |= cs.c[i].in[0] == 2;
		a3 |= cs.c[i].in[0] == 3;
	}
	CHECK(a2 && a3);
	cases_free(&cs);
	kva_formula_free(f);
}

static void t_mismatch(void)
{
	/* an oracle whose names disagree with its formula is refused */
	kva_oracle o = *kva_oracle_find("radix-1d");
	kva_gen_opts opt = { 8, 1, 0 };
	cases cs;
	kva_err e;

	o.in[0] = "b";
	memset(&cs, 0, sizeof cs);
	CHECK_EQ_I64(kva_gen_boundaries(&o, &opt, collect, &cs, &e), -1);
	CHECK_STR(e.msg, "oracle 'radix-1d' does not match its formula");
	CHECK_EQ_I64(cs.n, 0);
}

const unit_test suite_gen[] = {
	{ "gen_radix2d_boundaries", t_radix2d_boundaries },
	{ "gen_radix1d_boundaries", t_radix1d_boundaries },
	{ "gen_paged_boundaries", t_paged_boundaries },
	{ "gen_ring_boundaries", t_ring_boundaries },
	{ "gen_rolling_boundaries", t_rolling_boundaries },
	{ "gen_flashinfer_boundaries", t_flashinfer_boundaries },
	{ "gen_sweep", t_sweep },
	{ "gen_sweep_errors", t_sweep_errors },
	{ "gen_random", t_random },
	{ "gen_boundaries_deterministic", t_boundaries_deterministic },
	{ "gen_emit_stops", t_emit_stops },
	{ "gen_user_formula", t_user_formula },
	{ "gen_no_divmod", t_no_divmod },
	{ "gen_mismatch", t_mismatch },
	{ NULL, NULL }
};
