/* test_kernels.c - the reference KV-cache write and gather kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "kvcache.h"

#define CACHE_POISON (-999.0f) /* every cache cell before a write */
#define DST_POISON (-555.0f)   /* every dst element before a gather */

/* The small cache of the hand-computed index table: B=3 S=4 H=2 D=8. */
static const kva_cache_desc nhd = { KVA_LAYOUT_NHD, 3, 4, 2, 8, 1, 0, { 0 }, 0, 0 };
static const kva_cache_desc hnd = { KVA_LAYOUT_HND, 3, 4, 2, 8, 1, 0, { 0 }, 0, 0 };
static const kva_cache_desc vllm = { KVA_LAYOUT_VLLM_X, 3, 4, 2, 8, 4, 0, { 0 }, 0, 0 };

/* Every shape the round trips run over: the three above, every x for
 * VLLM_X, and an odd shape (B=2 S=5 H=3 D=6) with an odd x. */
static const kva_cache_desc shapes[] = {
	{ KVA_LAYOUT_NHD, 3, 4, 2, 8, 1, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_HND, 3, 4, 2, 8, 1, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_VLLM_X, 3, 4, 2, 8, 4, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_VLLM_X, 3, 4, 2, 8, 1, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_VLLM_X, 3, 4, 2, 8, 2, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_VLLM_X, 3, 4, 2, 8, 8, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_NHD, 2, 5, 3, 6, 1, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_HND, 2, 5, 3, 6, 1, 0, { 0 }, 0, 0 },
	{ KVA_LAYOUT_VLLM_X, 2, 5, 3, 6, 3, 0, { 0 }, 0, 0 },
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

/* Token t's distinct, exactly representable value at (head, dim). */
static float sig(int64_t t, int64_t head, int64_t dim)
{
	return (float)(t * 1000 + head * 100 + dim + 1);
}

/* One write/gather setup; buffers are exactly sized so ASan sees any
 * access past them. */
typedef struct fixture {
	kva_cache_desc d;
	int64_t n;      /* tokens */
	int64_t row;    /* H*D */
	int64_t stride; /* src and dst row stride, >= row */
	int64_t elems;  /* cache floats */
	int64_t *slots; /* n slots, caller fills */
	float *src;     /* n*stride: sig() in each row, NaN in the gaps */
	float *cache;   /* elems floats of CACHE_POISON */
	float *dst;     /* n*stride floats of DST_POISON */
	float *want;    /* elems floats: scratch for the expected cache */
} fixture;

/* Allocate and fill f for n tokens with pad gap floats after each row;
 * exits on out of memory (a test harness, not a library). */
static void fx_open(fixture *f, const kva_cache_desc *d, int64_t n,
		    int64_t pad)
{
	f->d = *d;
	f->n = n;
	f->row = (int64_t)d->num_heads * d->head_dim;
	f->stride = f->row + pad;
	f->elems = kva_cache_elems(d);
	f->slots = calloc((size_t)n + 1, sizeof *f->slots);
	f->src = malloc(((size_t)(n * f->stride) + 1) * sizeof(float));
	f->dst = malloc(((size_t)(n * f->stride) + 1) * sizeof(float));
	f->cache = malloc((size_t)f->elems * sizeof(float));
	f->want = malloc((size_t)f->elems * sizeof(float));
	if (!f->slots || !f->src || !f->dst || !f->cache || !f->want) {
		fprintf(stderr, "unit: out of memory\n");
		exit(2);
	}
	for (int64_t t = 0; t < n; t++)
		for (int64_t e = 0; e < f->stride; e++) {
			f->src[t * f->stride + e] = e < f->row
				? sig(t, e / d->head_dim, e % d->head_dim) : NAN;
			f->dst[t * f->stride + e] = DST_POISON;
		}
	for (int64_t i = 0; i < f->elems; i++)
		f->cache[i] = CACHE_POISON;
}

/* Free f's buffers. */
static void fx_close(fixture *f)
{
	free(f->slots);
	free(f->src);
	free(f->dst);
	free(f->cache);
	free(f->want);
}

/* Fill f->want with the cache a correct write of f's tokens leaves,
 * element by element through kva_cache_index (no run copies). */
static void fx_expect_cache(fixture *f)
{
	int64_t D = f->d.head_dim;

	for (int64_t i = 0; i < f->elems; i++)
		f->want[i] = CACHE_POISON;
	for (int64_t t = 0; t < f->n; t++) {
		if (f->slots[t] == -1)
			continue;
		for (int64_t e = 0; e < f->row; e++)
			f->want[kva_cache_index(&f->d, f->slots[t], e / D, e % D)]
				= f->src[t * f->stride + e];
	}
}

/* Count cells of f's cache still holding CACHE_POISON. */
static int64_t fx_poisoned(const fixture *f)
{
	int64_t k = 0;

	for (int64_t i = 0; i < f->elems; i++)
		k += f->cache[i] == CACHE_POISON;
	return k;
}

/* Check each dst row against its source row (or DST_POISON for padding)
 * and every gap element still DST_POISON. */
static void check_gathered(const fixture *f)
{
	for (int64_t t = 0; t < f->n; t++) {
		const float *in = f->src + t * f->stride;
		const float *out = f->dst + t * f->stride;

		for (int64_t e = 0; e < f->stride; e++) {
			float want = e < f->row && f->slots[t] != -1
				? in[e] : DST_POISON;

			CHECK(memcmp(&out[e], &want, sizeof want) == 0);
		}
	}
}

/* ---- the index formulas --------------------------------------------- */

static void t_index_formulas(void)
{
	/* slot, head, dim, then the NHD, HND and VLLM_X (x=4) offsets,
	 * worked by hand from the formulas of kvarbiter_candidate.h */
	static const int64_t rows[][6] = {
		{ 0, 0, 0, 0, 0, 0 },
		{ 1, 0, 1, 17, 9, 5 },
		{ 5, 1, 6, 94, 110, 118 },
		{ 6, 0, 3, 99, 83, 75 },
		{ 6, 0, 4, 100, 84, 88 },
		{ 11, 1, 7, 191, 191, 191 },
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const int64_t *r = rows[i];

		CHECK_EQ_I64(kva_cache_index(&nhd, r[0], r[1], r[2]), r[3]);
		CHECK_EQ_I64(kva_cache_index(&hnd, r[0], r[1], r[2]), r[4]);
		CHECK_EQ_I64(kva_cache_index(&vllm, r[0], r[1], r[2]), r[5]);
	}
	kva_cache_desc bad = nhd;
	bad.layout = 7;
	CHECK_EQ_I64(kva_cache_index(&bad, 1, 0, 1), -1);
}

static void t_index_bijection(void)
{
	/* each layout is a permutation of [0, B*S*H*D): no two elements
	 * share a cell and none falls outside the cache */
	for (size_t s = 0; s < NSHAPES; s++) {
		const kva_cache_desc *d = &shapes[s];
		int64_t elems = kva_cache_elems(d);
		int64_t nslots = (int64_t)d->num_blocks * d->block_size;
		unsigned char seen[256] = { 0 };

		CHECK(elems > 0 && elems <= 256);
		for (int64_t slot = 0; slot < nslots; slot++)
			for (int64_t h = 0; h < d->num_heads; h++)
				for (int64_t dim = 0; dim < d->head_dim; dim++) {
					int64_t i = kva_cache_index(d, slot, h, dim);

					CHECK(i >= 0 && i < elems);
					CHECK(!seen[i]);
					seen[i] = 1;
				}
	}
}

static void t_layouts_differ(void)
{
	/* the same element sits at a different offset in each layout */
	int64_t a = kva_cache_index(&nhd, 5, 1, 6);
	int64_t b = kva_cache_index(&hnd, 5, 1, 6);
	int64_t c = kva_cache_index(&vllm, 5, 1, 6);

	CHECK(a != b && b != c && a != c);
}

/* Write with layout w, gather with layout g over the same shape: some
 * row must come back wrong, or a layout mix-up would pass. */
static void check_mixup(const kva_cache_desc *w, const kva_cache_desc *g)
{
	fixture f;
	int differs = 0;

	fx_open(&f, w, 12, 0);
	for (int64_t t = 0; t < f.n; t++)
		f.slots[t] = t;
	if (kva_ref_write_kv(f.src, f.stride, f.slots, f.n, f.cache, w) != 0
	    || kva_ref_gather_kv(f.cache, g, f.slots, f.n, f.dst, f.stride) != 0)
		differs = -1;
	else
		differs = memcmp(f.src, f.dst, (size_t)(f.n * f.stride)
				 * sizeof(float)) != 0;
	fx_close(&f);
	CHECK_EQ_I64(differs, 1);
}

static void t_layout_mixup(void)
{
	check_mixup(&nhd, &hnd);
	check_mixup(&hnd, &nhd);
	check_mixup(&nhd, &vllm);
	check_mixup(&vllm, &hnd);
	check_mixup(&hnd, &vllm);
}

/* ---- write and gather ------------------------------------------------ */

/* Fill every slot in a scrambled order (7 is prime to each shape's B*S),
 * check the cache against the element-wise expectation, then gather. */
static void check_round_trip(fixture *f)
{
	int64_t nslots = (int64_t)f->d.num_blocks * f->d.block_size;

	for (int64_t t = 0; t < f->n; t++)
		f->slots[t] = (t * 7 + 3) % nslots;
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, f->slots, f->n,
				      f->cache, &f->d), 0);
	fx_expect_cache(f);
	CHECK(memcmp(f->cache, f->want, (size_t)f->elems * sizeof(float)) == 0);
	CHECK_EQ_I64(fx_poisoned(f), 0);
	CHECK_EQ_I64(kva_ref_gather_kv(f->cache, &f->d, f->slots, f->n,
				       f->dst, f->stride), 0);
	check_gathered(f);
}

static void t_round_trip(void)
{
	for (size_t s = 0; s < NSHAPES; s++) {
		fixture f;
		int before = unit_failed_checks;

		fx_open(&f, &shapes[s], (int64_t)shapes[s].num_blocks
			* shapes[s].block_size, 0);
		check_round_trip(&f);
		fx_close(&f);
		if (unit_failed_checks != before)
			fprintf(stderr, "  in shape %zu\n", s);
	}
}

/* Padding rows (slot -1) write nothing and gather nothing. */
static void check_padding(fixture *f)
{
	static const int64_t slots[] = { 3, -1, 0, 9, -1, 7 };
	int64_t live = 4;

	memcpy(f->slots, slots, sizeof slots);
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, f->slots, f->n,
				      f->cache, &f->d), 0);
	fx_expect_cache(f);
	CHECK(memcmp(f->cache, f->want, (size_t)f->elems * sizeof(float)) == 0);
	CHECK_EQ_I64(fx_poisoned(f), f->elems - live * f->row);
	CHECK_EQ_I64(kva_ref_gather_kv(f->cache, &f->d, f->slots, f->n,
				       f->dst, f->stride), 0);
	check_gathered(f);
}

static void t_padding(void)
{
	for (size_t s = 0; s < NSHAPES; s++) {
		fixture f;
		int before = unit_failed_checks;

		fx_open(&f, &shapes[s], 6, 0);
		check_padding(&f);
		fx_close(&f);
		if (unit_failed_checks != before)
			fprintf(stderr, "  in shape %zu\n", s);
	}
}

/* A stride past H*D: the NaN gap floats must never reach the cache, and
 * the gap floats of dst must never be written. */
static void check_stride(fixture *f)
{
	for (int64_t t = 0; t < f->n; t++)
		f->slots[t] = f->n - 1 - t;
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, f->slots, f->n,
				      f->cache, &f->d), 0);
	for (int64_t i = 0; i < f->elems; i++)
		CHECK(!isnan(f->cache[i]));
	fx_expect_cache(f);
	CHECK(memcmp(f->cache, f->want, (size_t)f->elems * sizeof(float)) == 0);
	CHECK_EQ_I64(kva_ref_gather_kv(f->cache, &f->d, f->slots, f->n,
				       f->dst, f->stride), 0);
	check_gathered(f);
}

static void t_src_stride(void)
{
	for (size_t s = 0; s < NSHAPES; s++) {
		fixture f;
		int before = unit_failed_checks;

		fx_open(&f, &shapes[s], 5, 5);
		check_stride(&f);
		fx_close(&f);
		if (unit_failed_checks != before)
			fprintf(stderr, "  in shape %zu\n", s);
	}
}

/* A bad slot anywhere, even after good ones, fails the whole call
 * before anything is written. */
static void check_bad_slot(fixture *f, int64_t bad)
{
	f->slots[0] = 0;
	f->slots[1] = 5;
	f->slots[2] = bad;
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, f->slots, f->n,
				      f->cache, &f->d), -1);
	CHECK_EQ_I64(fx_poisoned(f), f->elems);
	for (int64_t i = 0; i < f->elems; i++)
		f->cache[i] = (float)i;
	CHECK_EQ_I64(kva_ref_gather_kv(f->cache, &f->d, f->slots, f->n,
				       f->dst, f->stride), -1);
	for (int64_t i = 0; i < f->n * f->stride; i++)
		CHECK(f->dst[i] == DST_POISON);
}

static void t_bad_slot(void)
{
	const int64_t bads[] = { 12, -2, INT64_MAX, INT64_MIN };

	for (size_t s = 0; s < 3; s++)
		for (size_t b = 0; b < sizeof bads / sizeof bads[0]; b++) {
			fixture f;

			fx_open(&f, &shapes[s], 3, 0);
			check_bad_slot(&f, bads[b]);
			fx_close(&f);
		}
}

/* Each argument the twins refuse, with nothing written. */
static void check_bad_args(fixture *f)
{
	kva_cache_desc bad = f->d;

	f->slots[0] = 1;
	f->slots[1] = 2;
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->row - 1, f->slots, f->n,
				      f->cache, &f->d), -1);
	CHECK_EQ_I64(kva_ref_gather_kv(f->cache, &f->d, f->slots, f->n,
				       f->dst, f->row - 1), -1);
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, f->slots, -1,
				      f->cache, &f->d), -1);
	CHECK_EQ_I64(kva_ref_write_kv(NULL, f->stride, f->slots, f->n,
				      f->cache, &f->d), -1);
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, NULL, f->n,
				      f->cache, &f->d), -1);
	CHECK_EQ_I64(kva_ref_gather_kv(NULL, &f->d, f->slots, f->n,
				       f->dst, f->stride), -1);
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, f->slots, f->n,
				      f->cache, NULL), -1);
	bad.head_dim = 0;
	CHECK_EQ_I64(kva_ref_write_kv(f->src, f->stride, f->slots, f->n,
				      f->cache, &bad), -1);
	CHECK_EQ_I64(kva_ref_gather_kv(f->cache, &bad, f->slots, f->n,
				       f->dst, f->stride), -1);
	CHECK_EQ_I64(fx_poisoned(f), f->elems);
	for (int64_t i = 0; i < f->n * f->stride; i++)
		CHECK(f->dst[i] == DST_POISON);
	/* no tokens: nothing to read, so no buffers needed */
	CHECK_EQ_I64(kva_ref_write_kv(NULL, f->row, NULL, 0, NULL, &f->d), 0);
	CHECK_EQ_I64(kva_ref_gather_kv(NULL, &f->d, NULL, 0, NULL, f->row), 0);
}

static void t_bad_args(void)
{
	fixture f;

	fx_open(&f, &vllm, 2, 0);
	check_bad_args(&f);
	fx_close(&f);
}

static void t_duplicate_slot(void)
{
	/* the CPU twin's documented tie-break: the later token wins */
	fixture f;
	int ok;

	fx_open(&f, &hnd, 2, 0);
	f.slots[0] = 4;
	f.slots[1] = 4;
	ok = kva_ref_write_kv(f.src, f.stride, f.slots, f.n, f.cache, &f.d)
		== 0 && f.cache[kva_cache_index(&f.d, 4, 1, 2)] == sig(1, 1, 2);
	fx_close(&f);
	CHECK(ok);
}

/* ---- descriptors ------------------------------------------------------ */

/* The message kva_cache_desc_check gives d, or "ok". */
static const char *why_not(kva_cache_desc d)
{
	const char *why = "unset";

	if (kva_cache_desc_check(&d, &why) == 0)
		return why == NULL ? "ok" : "ok but why set";
	return why;
}

static void t_desc_check(void)
{
	kva_cache_desc d;

	CHECK_STR(why_not(nhd), "ok");
	CHECK_STR(why_not(hnd), "ok");
	CHECK_STR(why_not(vllm), "ok");
	CHECK(kva_cache_desc_check(NULL, NULL) == -1);
	{
		const char *why = NULL;

		CHECK(kva_cache_desc_check(NULL, &why) == -1);
		CHECK_STR(why, "no cache descriptor");
	}
	d = nhd, d.layout = 3;
	CHECK_STR(why_not(d), "unknown layout");
	d = nhd, d.layout = -1;
	CHECK_STR(why_not(d), "unknown layout");
	d = nhd, d.num_blocks = 0;
	CHECK_STR(why_not(d), "num_blocks must be >= 1");
	d = nhd, d.block_size = -4;
	CHECK_STR(why_not(d), "block_size must be >= 1");
	d = hnd, d.num_heads = 0;
	CHECK_STR(why_not(d), "num_heads must be >= 1");
	d = hnd, d.head_dim = 0;
	CHECK_STR(why_not(d), "head_dim must be >= 1");
	d = vllm, d.x = 0;
	CHECK_STR(why_not(d), "x must be >= 1");
	d = nhd, d.x = 4;
	CHECK_STR(why_not(d), "x must be 1 for the nhd and hnd layouts");
	d = hnd, d.x = 2;
	CHECK_STR(why_not(d), "x must be 1 for the nhd and hnd layouts");
	d = vllm, d.x = 3;
	CHECK_STR(why_not(d), "head_dim must be a multiple of x");
	d = vllm, d.x = 16;
	CHECK_STR(why_not(d), "head_dim must be a multiple of x");
	/* (2^31-1)^2 * 2 fits in int64; once more times 2 does not */
	d = (kva_cache_desc){ KVA_LAYOUT_NHD, INT32_MAX, INT32_MAX, 2, 1, 1, 0, { 0 }, 0, 0 };
	CHECK_STR(why_not(d), "ok");
	CHECK_EQ_I64(kva_cache_elems(&d), (int64_t)INT32_MAX * INT32_MAX * 2);
	d.head_dim = 2;
	CHECK_STR(why_not(d), "cache size overflows int64");
	CHECK_EQ_I64(kva_cache_elems(&d), -1);
	/* 3577 * 42799 * 92737 * 649657 is INT64_MAX itself: it fits */
	d = (kva_cache_desc){ KVA_LAYOUT_HND, 3577, 42799, 92737, 649657, 1, 0, { 0 }, 0, 0 };
	CHECK_STR(why_not(d), "ok");
	CHECK_EQ_I64(kva_cache_elems(&d), INT64_MAX);
	d.num_blocks++;
	CHECK_STR(why_not(d), "cache size overflows int64");
	d = (kva_cache_desc){ KVA_LAYOUT_VLLM_X, INT32_MAX, INT32_MAX,
			      INT32_MAX, INT32_MAX, 1, 0, { 0 }, 0, 0 };
	CHECK_STR(why_not(d), "cache size overflows int64");
}

static void t_cache_elems(void)
{
	kva_cache_desc d = vllm;

	CHECK_EQ_I64(kva_cache_elems(&nhd), 192);
	CHECK_EQ_I64(kva_cache_elems(&shapes[6]), 2 * 5 * 3 * 6);
	CHECK_EQ_I64(kva_cache_elems(NULL), -1);
	d.num_heads = 0;
	CHECK_EQ_I64(kva_cache_elems(&d), -1);
}

/* kv[:, 1] of a [B][2][S][H][D] buffer with a gap after each head row:
 * worked by hand, then every cell distinct and inside the span, and the
 * CPU twins' round trip through the view leaving the gaps alone. */
static void t_strided(void)
{
	kva_cache_desc d = nhd;      /* B=3 S=4 H=2 D=8 */
	float buf[512], src[16], dst[16];
	unsigned char seen[512] = { 0 };
	int64_t slot = 6;

	d.stride[3] = 1;
	d.stride[2] = 8 + 2;         /* a row of 8 and a gap of 2 */
	d.stride[1] = 2 * 10;
	d.stride[0] = 2 * 4 * 20;    /* K and V blocks interleaved */
	d.offset = 4 * 20;           /* the V half */
	CHECK_STR(why_not(d), "ok");
	/* slot 6: block 1, offset 2; head 1, dim 3 */
	CHECK_EQ_I64(kva_cache_index(&d, 6, 1, 3), 80 + 160 + 2 * 20 + 10 + 3);
	CHECK_EQ_I64(kva_cache_elems(&d), 80 + 2 * 160 + 3 * 20 + 10 + 7 + 1);
	for (int64_t s = 0; s < 12; s++)
		for (int64_t h = 0; h < 2; h++)
			for (int64_t e = 0; e < 8; e++) {
				int64_t i = kva_cache_index(&d, s, h, e);

				CHECK(i >= d.offset && i < kva_cache_elems(&d));
				CHECK(!seen[i]);
				seen[i] = 1;
			}
	for (int i = 0; i < 512; i++)
		buf[i] = CACHE_POISON;
	for (int i = 0; i < 16; i++)
		src[i] = (float)i + 0.5f;
	CHECK_EQ_I64(kva_ref_write_kv(src, 16, &slot, 1, buf, &d), 0);
	CHECK_EQ_I64(kva_ref_gather_kv(buf, &d, &slot, 1, dst, 16), 0);
	CHECK(!memcmp(src, dst, sizeof src));
	/* only slot 6's 16 elements changed: the gaps and K's half not */
	{
		int changed = 0, mine = 1;

		for (int i = 0; i < 512; i++)
			if (buf[i] != CACHE_POISON) {
				changed++;
				mine &= buf[i] == src[0] || (i >= kva_cache_index(&d, 6, 0, 0) &&
							     i <= kva_cache_index(&d, 6, 1, 7));
			}
		CHECK_EQ_I64(changed, 16);
		CHECK(mine);
	}
	/* overlapping and bad strides are refused */
	d.stride[2] = 7;
	CHECK_STR(why_not(d), "strides overlap: two cells share an element");
	d.stride[2] = 10, d.stride[1] = 0;
	CHECK_STR(why_not(d), "strides must be >= 1 and the span fit in int64");
	d.stride[1] = 20, d.offset = -1;
	CHECK_STR(why_not(d), "offset must be >= 0");
}

/* The engine layouts grad-trap(1) maps onto a descriptor, element by
 * element: vLLM's value cache [B][H][D][S] is VLLM_X with x 1; llama.cpp's
 * transposed V (ne = [kv_size, n_embd_v], the token fastest) is the same
 * with one block of kv_size; SGLang's token-major pool [size][H][D] is NHD
 * with block size 1. */
static void t_engine_layouts(void)
{
	kva_cache_desc v = { KVA_LAYOUT_VLLM_X, 3, 4, 2, 8, 1, 0, { 0 }, 0, 0 };
	kva_cache_desc t = { KVA_LAYOUT_VLLM_X, 1, 12, 2, 8, 1, 0, { 0 }, 0, 0 };
	kva_cache_desc p = { KVA_LAYOUT_NHD, 12, 1, 2, 8, 1, 0, { 0 }, 0, 0 };

	for (int64_t s = 0; s < 12; s++)
		for (int64_t h = 0; h < 2; h++)
			for (int64_t d = 0; d < 8; d++) {
				CHECK_EQ_I64(kva_cache_index(&v, s, h, d),
					     (((s / 4) * 2 + h) * 8 + d) * 4 + s % 4);
				CHECK_EQ_I64(kva_cache_index(&t, s, h, d), (h * 8 + d) * 12 + s);
				CHECK_EQ_I64(kva_cache_index(&p, s, h, d), (s * 2 + h) * 8 + d);
			}
}

/* Cell (s, h, e) of a block-copy test cache: its slot's signature. */
static void fill_cells(float *c, const kva_cache_desc *d, int64_t tag)
{
	for (int64_t s = 0; s < (int64_t)d->num_blocks * d->block_size; s++)
		for (int64_t h = 0; h < d->num_heads; h++)
			for (int64_t e = 0; e < d->head_dim; e++)
				c[kva_cache_index(d, s, h, e)] = sig(tag + s, h, e);
}

/* Is block b's every cell what block was's held under tag? */
static int block_holds(const float *c, const kva_cache_desc *d, int64_t b, int64_t tag,
		       int64_t was)
{
	int64_t S = d->block_size;

	for (int64_t o = 0; o < S; o++)
		for (int64_t h = 0; h < d->num_heads; h++)
			for (int64_t e = 0; e < d->head_dim; e++)
				if (c[kva_cache_index(d, b * S + o, h, e)] != sig(tag + was * S + o, h, e))
					return 0;
	return 1;
}

/* copy_blocks: simultaneous semantics over chains and cycles, in every
 * layout and on a strided view whose gaps stay; bad pairs write nothing. */
static void t_copy_blocks(void)
{
	kva_cache_desc g = nhd;      /* a strided view: rows of 8, gaps of 2 */

	g.num_blocks = 5;
	g.stride[3] = 1, g.stride[2] = 10, g.stride[1] = 20, g.stride[0] = 80;
	for (size_t k = 0; k <= NSHAPES; k++) {
		kva_cache_desc d = k < NSHAPES ? shapes[k] : g;
		int64_t n, chain[] = { 0, 1, 1, 2 }, cycle[] = { 0, 1, 1, 0 };
		int64_t dup[] = { 0, 1, 2, 1 }, far[] = { 0, 1, 1, 99 };
		float *c, *keep;

		d.num_blocks = 5;
		n = kva_cache_elems(&d);
		c = malloc((size_t)n * sizeof *c);
		keep = malloc((size_t)n * sizeof *keep);
		CHECK(c && keep);
		for (int64_t i = 0; i < n; i++)
			c[i] = CACHE_POISON;
		fill_cells(c, &d, 0);
		memcpy(keep, c, (size_t)n * sizeof *c);
		/* a chain: block 2 gets what block 1 held before the call */
		CHECK_EQ_I64(kva_ref_copy_blocks(c, &d, chain, 2), 0);
		CHECK(block_holds(c, &d, 1, 0, 0) && block_holds(c, &d, 2, 0, 1));
		CHECK(block_holds(c, &d, 0, 0, 0) && block_holds(c, &d, 3, 0, 3));
		/* a cycle swaps */
		memcpy(c, keep, (size_t)n * sizeof *c);
		CHECK_EQ_I64(kva_ref_copy_blocks(c, &d, cycle, 2), 0);
		CHECK(block_holds(c, &d, 0, 0, 1) && block_holds(c, &d, 1, 0, 0));
		/* the gaps of the strided view and blocks not named: untouched */
		for (int64_t i = 0, b0 = kva_cache_index(&d, 0, 0, 0),
		     b2 = kva_cache_index(&d, 2 * d.block_size, 0, 0); i < n; i++)
			if (i < b0 || i >= b2 || keep[i] == CACHE_POISON)
				CHECK(c[i] == keep[i]);
		/* a destination twice, an id outside: -1, nothing written */
		memcpy(c, keep, (size_t)n * sizeof *c);
		CHECK_EQ_I64(kva_ref_copy_blocks(c, &d, dup, 2), -1);
		CHECK_EQ_I64(kva_ref_copy_blocks(c, &d, far, 2), -1);
		CHECK_EQ_I64(kva_ref_copy_blocks(c, &d, NULL, 1), -1);
		CHECK_EQ_I64(kva_ref_copy_blocks(c, &d, chain, -1), -1);
		CHECK_EQ_I64(kva_ref_copy_blocks(c, &d, NULL, 0), 0);
		CHECK(!memcmp(c, keep, (size_t)n * sizeof *c));
		free(c);
		free(keep);
	}
}

/* swap_blocks: from one cache into another of the same block shape, any
 * layouts; the source is left as it was; mismatched caches are refused. */
static void t_swap_blocks(void)
{
	kva_cache_desc s = vllm, d = hnd, bad = hnd;
	int64_t pairs[] = { 2, 0, 0, 2 }, ns, nd;
	float *a, *b, *akeep, *bkeep;

	d.num_blocks = 4;
	ns = kva_cache_elems(&s);
	nd = kva_cache_elems(&d);
	a = malloc((size_t)ns * sizeof *a);
	b = malloc((size_t)nd * sizeof *b);
	akeep = malloc((size_t)ns * sizeof *a);
	bkeep = malloc((size_t)nd * sizeof *b);
	CHECK(a && b && akeep && bkeep);
	fill_cells(a, &s, 0);
	fill_cells(b, &d, 5000);
	memcpy(akeep, a, (size_t)ns * sizeof *a);
	memcpy(bkeep, b, (size_t)nd * sizeof *b);
	CHECK_EQ_I64(kva_ref_swap_blocks(a, &s, b, &d, pairs, 2), 0);
	CHECK(block_holds(b, &d, 0, 0, 2) && block_holds(b, &d, 2, 0, 0));
	CHECK(block_holds(b, &d, 1, 5000, 1) && block_holds(b, &d, 3, 5000, 3));
	CHECK(!memcmp(a, akeep, (size_t)ns * sizeof *a));
	/* a source id past the source cache (3 blocks), a head count that
	 * differs: refused, nothing written */
	memcpy(b, bkeep, (size_t)nd * sizeof *b);
	pairs[0] = 3;
	CHECK_EQ_I64(kva_ref_swap_blocks(a, &s, b, &d, pairs, 2), -1);
	pairs[0] = 2;
	bad.num_heads = 1;
	CHECK_EQ_I64(kva_ref_swap_blocks(a, &s, b, &bad, pairs, 2), -1);
	CHECK(!memcmp(b, bkeep, (size_t)nd * sizeof *b));
	free(a);
	free(b);
	free(akeep);
	free(bkeep);
}

/* gather_paged: the rows of each sequence through its table row, in
 * order, the same rows as a gather of their slots; the rows past the
 * last sequence and the table entries no position names are left alone;
 * a bad sequence or entry writes nothing. */
static void t_gather_paged(void)
{
	for (size_t k = 0; k < NSHAPES; k++) {
		const kva_cache_desc *d = &shapes[k];
		int64_t S = d->block_size, HD = (int64_t)d->num_heads * d->head_dim;
		/* three sequences of 3 blocks' rows: one from 0, one of length
		 * 0, one from S + 1 crossing into the third block */
		int32_t tab[3 * 3] = { 1, 0, 7, 99, 99, 99, -5, 1, 0 };
		int64_t starts[3] = { 0, 0, S + 1 }, lens[3] = { S + 1, 0, S }, nrow = 2 * S + 3;
		int64_t slots[64], n = 0, elems = kva_cache_elems(d);
		float *c = malloc((size_t)elems * sizeof *c);
		float *got = malloc((size_t)(nrow * HD) * sizeof *got);
		float *want = malloc((size_t)(nrow * HD) * sizeof *want);

		CHECK(c && got && want && 2 * S + 1 <= 64);
		fill_cells(c, d, 0);
		for (int64_t i = 0; i < nrow * HD; i++)
			got[i] = want[i] = CACHE_POISON;
		for (int64_t q = 0; q < 3; q++)
			for (int64_t p = starts[q]; p < starts[q] + lens[q]; p++)
				slots[n++] = (int64_t)tab[q * 3 + p / S] * S + p % S;
		CHECK_EQ_I64(kva_ref_gather_kv(c, d, slots, n, want, HD), 0);
		CHECK_EQ_I64(kva_ref_gather_paged(c, d, tab, 3, starts, lens, 3, got, HD), 0);
		CHECK(!memcmp(got, want, (size_t)(nrow * HD) * sizeof *got));
		CHECK(got[(2 * S + 1) * HD] == CACHE_POISON);
		/* a named entry outside the cache, a sequence past its row, a
		 * negative length: -1, nothing written */
		for (int64_t i = 0; i < nrow * HD; i++)
			got[i] = CACHE_POISON;
		tab[2] = 3;
		lens[0] = 2 * S + 1;
		CHECK_EQ_I64(kva_ref_gather_paged(c, d, tab, 3, starts, lens, 3, got, HD), -1);
		tab[2] = 7;
		lens[0] = 3 * S + 1;
		CHECK_EQ_I64(kva_ref_gather_paged(c, d, tab, 3, starts, lens, 3, got, HD), -1);
		lens[0] = -1;
		CHECK_EQ_I64(kva_ref_gather_paged(c, d, tab, 3, starts, lens, 3, got, HD), -1);
		CHECK(got[0] == CACHE_POISON && got[nrow * HD - 1] == CACHE_POISON);
		free(c);
		free(got);
		free(want);
	}
}

/* write_kv_pair: keys into the key cache, values into the value cache,
 * each at its own stride and layout; the rows past num_slots nowhere;
 * caches of different shapes refused with nothing written. */
static void t_write_kv_pair(void)
{
	kva_cache_desc kd = vllm, vd = vllm, bad = nhd;
	int64_t slots[3] = { 5, -1, 0 }, nk, nv;
	float key[3 * 20], value[3 * 24], *kc, *vc, *kw, *vw;

	vd.x = 1;
	nk = kva_cache_elems(&kd);
	nv = kva_cache_elems(&vd);
	kc = malloc((size_t)nk * sizeof *kc);
	vc = malloc((size_t)nv * sizeof *vc);
	kw = malloc((size_t)nk * sizeof *kw);
	vw = malloc((size_t)nv * sizeof *vw);
	CHECK(kc && vc && kw && vw);
	for (int64_t i = 0; i < 3 * 20; i++)
		key[i] = (float)(i + 1);
	for (int64_t i = 0; i < 3 * 24; i++)
		value[i] = (float)(-i - 1);
	for (int64_t i = 0; i < nk; i++)
		kc[i] = kw[i] = CACHE_POISON;
	for (int64_t i = 0; i < nv; i++)
		vc[i] = vw[i] = CACHE_POISON;
	/* two slots, the third row past the list: slot 0 stays poison */
	CHECK_EQ_I64(kva_ref_write_kv_pair(key, 20, value, 24, 3, slots, 2, kc, &kd, vc, &vd), 0);
	CHECK_EQ_I64(kva_ref_write_kv(key, 20, slots, 2, kw, &kd), 0);
	CHECK_EQ_I64(kva_ref_write_kv(value, 24, slots, 2, vw, &vd), 0);
	CHECK(!memcmp(kc, kw, (size_t)nk * sizeof *kc) && !memcmp(vc, vw, (size_t)nv * sizeof *vc));
	CHECK(vc[kva_cache_index(&vd, 0, 0, 0)] == CACHE_POISON);
	/* another head count, num_slots past the rows: -1, nothing written */
	bad.num_heads = 1;
	CHECK_EQ_I64(kva_ref_write_kv_pair(key, 20, value, 24, 3, slots, 3, kc, &kd, vc, &bad), -1);
	CHECK_EQ_I64(kva_ref_write_kv_pair(key, 20, value, 24, 2, slots, 3, kc, &kd, vc, &vd), -1);
	CHECK(!memcmp(kc, kw, (size_t)nk * sizeof *kc) && !memcmp(vc, vw, (size_t)nv * sizeof *vc));
	/* a 16-bit key cache (bfloat16) beside the float value cache: its
	 * rows and cells two bytes an element, copied bit for bit */
	{
		uint16_t k16[3 * 20], *c16 = malloc((size_t)nk * sizeof *c16);

		CHECK(c16 != NULL);
		kd.dtype = KVA_DTYPE_BF16;
		CHECK_EQ_I64(kva_dtype_size(&kd), 2);
		for (int64_t i = 0; i < 3 * 20; i++)
			k16[i] = (uint16_t)(0x3f00 + i);
		memset(c16, 0, (size_t)nk * sizeof *c16);
		CHECK_EQ_I64(kva_ref_write_kv_pair(k16, 20, value, 24, 3, slots, 2, c16, &kd, vc,
						   &vd), 0);
		for (int64_t h = 0; h < 2; h++)
			for (int64_t e = 0; e < 8; e++) {
				CHECK(c16[kva_cache_index(&kd, 5, h, e)] == k16[h * 8 + e]);
				CHECK(c16[kva_cache_index(&kd, 0, h, e)] == 0);
			}
		/* the float twins take float caches only */
		CHECK_EQ_I64(kva_ref_write_kv(key, 20, slots, 1, kc, &kd), -1);
		kd.dtype = 7;
		CHECK(kva_cache_desc_check(&kd, NULL) == -1 && kva_dtype_size(&kd) == -1);
		free(c16);
	}
	free(kc);
	free(vc);
	free(kw);
	free(vw);
}

static void t_cuda_fallback(void)
{
	/* libkvarbiter.a carries the fallbacks until the CUDA object is
	 * linked in: they must say why and refuse, never pretend */
	char why[64] = "unset";
	float cell = CACHE_POISON;
	int64_t slot = 0;

	CHECK_EQ_I64(kva_cuda_available(why, sizeof why), 0);
	CHECK_STR(why, "built without CUDA support");
	CHECK_EQ_I64(kva_cuda_available(why, 5), 0);
	CHECK_STR(why, "buil");
	CHECK_EQ_I64(kva_cuda_available(NULL, 0), 0);
	CHECK_EQ_I64(kva_cuda_write_kv(&cell, 1, &slot, 1, &cell, &nhd), -2);
	CHECK_EQ_I64(kva_cuda_gather_kv(&cell, &nhd, &slot, 1, &cell, 1), -2);
	CHECK(cell == CACHE_POISON);
}

const unit_test suite_kernels[] = {
	{ "kernels_index_formulas", t_index_formulas },
	{ "kernels_index_bijection", t_index_bijection },
	{ "kernels_layouts_differ", t_layouts_differ },
	{ "kernels_layout_mixup", t_layout_mixup },
	{ "kernels_round_trip", t_round_trip },
	{ "kernels_padding", t_padding },
	{ "kernels_src_stride", t_src_stride },
	{ "kernels_bad_slot", t_bad_slot },
	{ "kernels_bad_args", t_bad_args },
	{ "kernels_duplicate_slot", t_duplicate_slot },
	{ "kernels_desc_check", t_desc_check },
	{ "kernels_cache_elems", t_cache_elems },
	{ "kernels_strided", t_strided },
	{ "kernels_engine_layouts", t_engine_layouts },
	{ "kernels_copy_blocks", t_copy_blocks },
	{ "kernels_swap_blocks", t_swap_blocks },
	{ "kernels_gather_paged", t_gather_paged },
	{ "kernels_write_kv_pair", t_write_kv_pair },
	{ "kernels_cuda_fallback", t_cuda_fallback },
	{ NULL, NULL }
};
