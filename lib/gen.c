/*
 * gen.c - the query generators of route-oracle: --boundaries, --sweep and
 * --random.  They work for any oracle with a formula, built-in or user,
 * because they read the formula's AST rather than a list per oracle:
 *
 *  - every div/mod node (dividend X, divisor m) gives the divisor's inputs
 *    the role of a size (a "ring" size when X itself divides, else a
 *    "block" size) and X's inputs the role of positions; other inputs are
 *    free (head-like, or batch-like when they index a table);
 *  - --boundaries puts X at k*m-1, k*m, k*m+1 for every size assignment
 *    and solves the formula backwards for the positions;
 *  - tables are built after the scalars: a block table holds distinct,
 *    deranged block ids and is sized around the index the query looks
 *    up; a CSR group (indptr/indices/last_page_len, recognised from how
 *    the formula uses them) becomes a small batch of requests around the
 *    queried one.
 *
 * The built-in rolling oracle is the one exception: it has no div or mod,
 * so nothing in its AST says that window is a size and seq_len the
 * length that, with it, fixes which tokens are still in the cache.  It
 * gets those roles by name, and --boundaries and --random add its own
 * cases (the window filling, the first roll, rolls past the window).
 *
 * Only queries that pass validation (kva_oracle_eval) are emitted.  Output
 * depends on nothing but the oracle, the options and the seed.  The
 * reference is route-oracle(1), section FORMULA LANGUAGE, "Case generation".
 */
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"
#include "expr_internal.h"

#define MAX_TABLE (1 << 20)       /* entries in one generated table */
#define MAX_CELLS 10000000000LL   /* sweep grid */
#define SOLVE_BUDGET 4096         /* solver steps per target */
#define RANDOM_POS_MAX 4095       /* --random positions in [0, 4095] */

/* R_LEN: a sequence length, which with the sizes fixes the cache's state
 * (rolling's seq_len) */
enum role { R_POS, R_BLOCK, R_RING, R_HEAD, R_BATCH, R_LEN };

static const int64_t block_sizes[] = { 1, 2, 3, 7, 16, 17, 64 };
static const int64_t ring_sizes[] = { 1, 2, 3, 4, 5, 8 };

/* A CSR page table as FlashInfer lays it out. */
struct csr {
	int indptr;  /* table: sorted offsets, indexed by the batch input */
	int indices; /* table indexed through indptr, or -1 */
	int lastlen; /* table indexed like indptr (fill of the last page), or -1 */
	int batch;   /* scalar input that picks the request */
	int tidx;    /* index expression of a lookup in indices, or -1 */
	int pdiv;    /* divisor of the first div/mod inside tidx, or -1 */
	int rmod;    /* a mod node with the same divisor, or -1 */
};

/* How the tables of one case are built, in order: CSR groups first. */
struct group {
	int csr;     /* index into gen.csr, or -1 for a block table */
	int t;       /* the block table */
};

/* A comparison in a require/padding/unmapped: side == value(other) +- 1. */
struct cmpt {
	int side;       /* holds positions or free inputs, no tables */
	int other;      /* holds neither, and no tables */
	unsigned solve; /* free inputs in side: solved, not cycled */
};

/* A scalar assignment being solved for. */
struct cand {
	kva_args a;      /* in[] as assigned so far */
	unsigned known;  /* bit i: in[i] is assigned */
};

/* A target still to meet once the current one is met. */
struct goal {
	int node;
	int64_t t;
	int64_t hint;
	const struct goal *next;
};

struct gen {
	const kva_oracle *o;
	const struct kva_formula *f;
	const char *mode;            /* "boundaries", "sweep", "random" */
	int rolling;                 /* the built-in rolling oracle */
	int64_t num_heads;
	uint64_t seed;
	kva_emit_fn emit;
	void *ctx;
	kva_err *e;
	int role[KVA_MAX_IN];        /* enum role of each scalar input */
	unsigned slot_in[KVA_EXPR_MAX_VAL];  /* inputs a let uses, expanded */
	unsigned slot_tab[KVA_EXPR_MAX_VAL]; /* tables a let uses, expanded */
	int slot_div[KVA_EXPR_MAX_VAL];      /* a let holds a div or mod */
	int npair;                   /* distinct (dividend, divisor) pairs */
	int *px, *pm;
	int ncmp;
	struct cmpt *cmp;
	int ncsr;
	struct csr csr[KVA_MAX_TAB];
	int ngroup;
	struct group group[KVA_MAX_TAB];
	int64_t padval[KVA_MAX_IN];  /* padding value of a position input */
	unsigned padmask;
	kva_args args;               /* the case being built */
	unsigned built;              /* tables of args filled so far */
	int64_t *tv[KVA_MAX_TAB];    /* table storage */
	size_t tcap[KVA_MAX_TAB];
	int64_t *pool;               /* scratch for shuffles */
	size_t poolcap;
	int pick;                    /* one table variant per case (sweep, random) */
	kva_rng *rng;                /* chooses it */
	kva_hset seen;               /* hashes of cases seen (boundaries) */
	uint64_t cycle;              /* free inputs cycle through their range */
	uint64_t emitted;
	uint64_t valid;              /* valid cases met, duplicates included */
	int budget;                  /* solver steps left for this target */
	int64_t hint0;               /* a block size of the current assignment */
	int stop;                    /* emit asked to stop */
	int failed;                  /* e holds an error */
};

/* ---- hashing ------------------------------------------------------------ */

/* Fold v into h (splitmix64's finaliser: every input bit moves every
 * output bit). */
static uint64_t mix(uint64_t h, uint64_t v)
{
	uint64_t z = h + 0x9e3779b97f4a7c15ULL + v * 0xbf58476d1ce4e5b9ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Hash of the seed and the scalars of the case: seeds its table contents,
 * so the same scalars always get the same tables. */
static uint64_t scalar_hash(const struct gen *g)
{
	uint64_t h = mix(0x6b766172626974ULL, g->seed);

	for (int i = 0; i < g->f->nin; i++)
		h = mix(h, (uint64_t)g->args.in[i]);
	return h;
}

/* Hash of the whole case, tables included. */
static uint64_t case_hash(const struct gen *g)
{
	uint64_t h = scalar_hash(g);

	for (int t = 0; t < g->f->ntab; t++) {
		h = mix(h, g->args.tab[t].n);
		for (size_t k = 0; k < g->args.tab[t].n; k++)
			h = mix(h, (uint64_t)g->args.tab[t].v[k]);
	}
	return h;
}

/* ---- reading the AST ---------------------------------------------------- */

/* Inputs (bit i of *in) and tables (bit j of *tab) that node n uses, with
 * lets and outs expanded. */
static void refs(const struct gen *g, int n, unsigned *in, unsigned *tab)
{
	const struct kva_node *nd = &g->f->node[n];

	switch (nd->op) {
	case KVA_OP_IN:
		*in |= 1u << nd->v;
		return;
	case KVA_OP_VAL:
		*in |= g->slot_in[nd->v];
		*tab |= g->slot_tab[nd->v];
		return;
	case KVA_OP_IDX:
	case KVA_OP_LEN:
	case KVA_OP_SORTED:
		*tab |= 1u << nd->v;
		break;
	default:
		break;
	}
	if (nd->a >= 0)
		refs(g, nd->a, in, tab);
	if (nd->b >= 0)
		refs(g, nd->b, in, tab);
	if (nd->c >= 0)
		refs(g, nd->c, in, tab);
}

/* Does node n hold a div or mod, lets expanded? */
static int has_divmod(const struct gen *g, int n)
{
	const struct kva_node *nd = &g->f->node[n];

	if (nd->op == KVA_OP_DIV || nd->op == KVA_OP_MOD)
		return 1;
	if (nd->op == KVA_OP_VAL)
		return g->slot_div[nd->v];
	return (nd->a >= 0 && has_divmod(g, nd->a)) ||
		(nd->b >= 0 && has_divmod(g, nd->b)) ||
		(nd->c >= 0 && has_divmod(g, nd->c));
}

/* The divisor of the first div/mod under n (lets expanded), or -1. */
static int first_divisor(const struct gen *g, int n)
{
	const struct kva_node *nd = &g->f->node[n];
	int kids[3] = { nd->a, nd->b, nd->c };

	if (nd->op == KVA_OP_DIV || nd->op == KVA_OP_MOD)
		return nd->b;
	if (nd->op == KVA_OP_VAL)
		return g->slot_div[nd->v] ?
			first_divisor(g, g->f->val_expr[nd->v]) : -1;
	for (int i = 0; i < 3; i++)
		if (kids[i] >= 0 && has_divmod(g, kids[i]))
			return first_divisor(g, kids[i]);
	return -1;
}

/* Are nodes x and y the same expression (lets compared by name)? */
static int node_equal(const struct kva_formula *f, int x, int y)
{
	const struct kva_node *a, *b;

	if (x == y)
		return 1;
	if (x < 0 || y < 0)
		return 0;
	a = &f->node[x];
	b = &f->node[y];
	return a->op == b->op && a->v == b->v && node_equal(f, a->a, b->a) &&
		node_equal(f, a->b, b->b) && node_equal(f, a->c, b->c);
}

/* Collect the comparisons under n (through and, or, not) that the solver
 * can aim at; var is the mask of position and free inputs. */
static void collect_cmp(struct gen *g, int n, unsigned var)
{
	const struct kva_node *nd = &g->f->node[n];
	unsigned ia = 0, ta = 0, ib = 0, tb = 0;

	switch (nd->op) {
	case KVA_OP_AND:
	case KVA_OP_OR:
		collect_cmp(g, nd->b, var);
		/* fall through */
	case KVA_OP_NOT:
		collect_cmp(g, nd->a, var);
		return;
	case KVA_OP_LT: case KVA_OP_LE: case KVA_OP_GT: case KVA_OP_GE:
	case KVA_OP_EQ: case KVA_OP_NE:
		break;
	default:
		return;
	}
	refs(g, nd->a, &ia, &ta);
	refs(g, nd->b, &ib, &tb);
	if (ta || tb)
		return; /* table bounds are met by sizing the tables */
	if ((ia & var) && !(ib & var))
		g->cmp[g->ncmp++] = (struct cmpt){ nd->a, nd->b, ia & var };
	else if ((ib & var) && !(ia & var))
		g->cmp[g->ncmp++] = (struct cmpt){ nd->b, nd->a, ib & var };
}

/* Find "pos == CONST" under a padding condition n: --random uses CONST. */
static void collect_pad(struct gen *g, int n)
{
	const struct kva_node *nd = &g->f->node[n];
	const struct kva_node *x, *y;

	if (nd->op == KVA_OP_OR || nd->op == KVA_OP_AND) {
		collect_pad(g, nd->a);
		collect_pad(g, nd->b);
		return;
	}
	if (nd->op != KVA_OP_EQ)
		return;
	x = &g->f->node[nd->a];
	y = &g->f->node[nd->b];
	if (x->op != KVA_OP_IN) {
		const struct kva_node *t = x;

		x = y;
		y = t;
	}
	if (x->op == KVA_OP_IN && y->op == KVA_OP_CONST &&
	    g->role[x->v] == R_POS) {
		g->padval[x->v] = y->v;
		g->padmask |= 1u << x->v;
	}
}

/* Recognise CSR groups: a table X that the formula requires sorted and
 * looks up as X[input] is an indptr; the table whose index goes through
 * X is its indices; a table looked up with the same index as X is its
 * last_page_len.  Returns the tables claimed (bit mask). */
static unsigned find_csr(struct gen *g)
{
	const struct kva_formula *f = g->f;
	unsigned claimed = 0;

	for (int x = 0; x < f->ntab; x++) {
		struct csr c = { x, -1, -1, -1, -1, -1, -1 };
		int sorted = 0, xidx = -1;

		for (int n = 0; n < f->nnode; n++) {
			const struct kva_node *nd = &f->node[n];

			if (nd->op == KVA_OP_SORTED && nd->v == x)
				sorted = 1;
			if (nd->op == KVA_OP_IDX && nd->v == x && xidx < 0 &&
			    f->node[nd->a].op == KVA_OP_IN) {
				xidx = nd->a;
				c.batch = (int)f->node[nd->a].v;
			}
		}
		if (!sorted || xidx < 0 || (claimed >> x & 1))
			continue;
		for (int n = 0; n < f->nnode; n++) {
			const struct kva_node *nd = &f->node[n];
			unsigned in = 0, tab = 0;

			if (nd->op != KVA_OP_IDX || nd->v == x || (claimed >> nd->v & 1))
				continue;
			refs(g, nd->a, &in, &tab);
			if (c.indices < 0 && (tab >> x & 1)) {
				c.indices = (int)nd->v;
				c.tidx = nd->a;
			}
		}
		for (int n = 0; n < f->nnode; n++) {
			const struct kva_node *nd = &f->node[n];

			if (nd->op == KVA_OP_IDX && nd->v != x && nd->v != c.indices &&
			    c.lastlen < 0 && !(claimed >> nd->v & 1) &&
			    node_equal(f, nd->a, xidx))
				c.lastlen = (int)nd->v;
		}
		if (c.tidx >= 0)
			c.pdiv = first_divisor(g, c.tidx);
		for (int n = 0; n < f->nnode && c.pdiv >= 0; n++)
			if (f->node[n].op == KVA_OP_MOD &&
			    node_equal(f, f->node[n].b, c.pdiv)) {
				c.rmod = n;
				break;
			}
		claimed |= 1u << x;
		if (c.indices >= 0)
			claimed |= 1u << c.indices;
		if (c.lastlen >= 0)
			claimed |= 1u << c.lastlen;
		g->csr[g->ncsr] = c;
		g->group[g->ngroup++] = (struct group){ g->ncsr++, -1 };
	}
	return claimed;
}

/*
 * Read the formula: roles of the inputs, the div/mod pairs, comparisons
 * to aim at, CSR groups and the order tables are built in.  Returns 0, or
 * -1 with g->e filled.
 */
static int analyse(struct gen *g)
{
	const struct kva_formula *f = g->f;
	unsigned size = 0, ring = 0, divd = 0, index = 0, var = 0, claimed;

	for (int s = 0; s < f->nval; s++) {
		refs(g, f->val_expr[s], &g->slot_in[s], &g->slot_tab[s]);
		g->slot_div[s] = has_divmod(g, f->val_expr[s]);
	}
	g->px = malloc((size_t)f->nnode * sizeof *g->px);
	g->pm = malloc((size_t)f->nnode * sizeof *g->pm);
	g->cmp = malloc((size_t)f->nnode * sizeof *g->cmp);
	if (!g->px || !g->pm || !g->cmp)
		return kva_errf(g->e, NULL, "out of memory");
	for (int n = 0; n < f->nnode; n++) {
		const struct kva_node *nd = &f->node[n];
		unsigned in = 0, tab = 0;
		int dup = 0;

		if (nd->op == KVA_OP_IDX) {
			refs(g, nd->a, &index, &tab);
			continue;
		}
		if (nd->op != KVA_OP_DIV && nd->op != KVA_OP_MOD)
			continue;
		refs(g, nd->b, &in, &tab);
		size |= in;
		if (has_divmod(g, nd->a))
			ring |= in;
		refs(g, nd->a, &divd, &tab);
		for (int p = 0; p < g->npair && !dup; p++)
			dup = node_equal(f, g->px[p], nd->a) &&
				node_equal(f, g->pm[p], nd->b);
		if (!dup) {
			g->px[g->npair] = nd->a;
			g->pm[g->npair++] = nd->b;
		}
	}
	for (int i = 0; i < f->nin; i++) {
		unsigned bit = 1u << i;

		g->role[i] = (ring & bit) ? R_RING : (size & bit) ? R_BLOCK :
			(divd & bit) ? R_POS : (index & bit) ? R_BATCH : R_HEAD;
		if (g->rolling)
			g->role[i] = !strcmp(f->in[i], "window") ? R_RING :
				!strcmp(f->in[i], "seq_len") ? R_LEN : R_POS;
		if (g->role[i] != R_BLOCK && g->role[i] != R_RING)
			var |= bit;
	}
	for (int s = 0; s < f->nstmt; s++) {
		const struct kva_stmt *st = &f->stmt[s];

		if (st->kind == KVA_ST_LET || st->kind == KVA_ST_OUT)
			continue;
		collect_cmp(g, st->expr, var);
		if (st->kind == KVA_ST_PADDING)
			collect_pad(g, st->expr);
	}
	claimed = find_csr(g);
	for (int t = 0; t < f->ntab; t++)
		if (!(claimed >> t & 1))
			g->group[g->ngroup++] = (struct group){ -1, t };
	return 0;
}

/* ---- tables ------------------------------------------------------------- */

/* Make table t hold n entries (storage only).  Returns 0 or -1 (no
 * memory; g->failed set). */
static int table_room(struct gen *g, int t, size_t n)
{
	if (n + 1 > g->tcap[t]) {
		size_t cap = n + 1 > 2 * g->tcap[t] ? n + 1 : 2 * g->tcap[t];
		int64_t *p = realloc(g->tv[t], cap * sizeof *p);

		if (!p) {
			g->failed = 1;
			return kva_errf(g->e, NULL, "out of memory");
		}
		g->tv[t] = p;
		g->tcap[t] = cap;
	}
	g->args.tab[t].v = g->tv[t];
	g->args.tab[t].n = n;
	return 0;
}

/* A table of n entries would be too big: an error for --sweep and
 * --random (the user asked for it), a silent skip for --boundaries.
 * Returns 1 if the case must be skipped. */
static int too_big(struct gen *g, int t, uint64_t n)
{
	if (n <= MAX_TABLE)
		return 0;
	if (g->pick && !g->failed) {
		g->failed = 1;
		kva_errf(g->e, NULL, "%s: table '%s' would need %llu entries "
			 "(max %d)", g->mode, g->f->tab[t],
			 (unsigned long long)n, MAX_TABLE);
	}
	return 1;
}

/*
 * Fill table t with n distinct block ids from a seeded shuffle of
 * [0, 2n+8), no entry equal to its own index: a candidate that confuses
 * an index with the block id it names cannot pass.  Returns 0 or -1.
 */
static int fill_ids(struct gen *g, int t, size_t n, uint64_t salt)
{
	size_t m = 2 * n + 8, k = n;
	kva_rng r;

	if (table_room(g, t, n))
		return -1;
	if (m > g->poolcap) {
		int64_t *p = realloc(g->pool, m * sizeof *p);

		if (!p) {
			g->failed = 1;
			return kva_errf(g->e, NULL, "out of memory");
		}
		g->pool = p;
		g->poolcap = m;
	}
	kva_rng_seed(&r, mix(mix(scalar_hash(g), salt), (uint64_t)t));
	for (size_t i = 0; i < m; i++)
		g->pool[i] = (int64_t)i;
	for (size_t i = 0; i < n; i++) {
		size_t j = (size_t)kva_rng_range(&r, (int64_t)i, (int64_t)m - 1);
		int64_t x = g->pool[i];

		g->pool[i] = g->pool[j];
		g->pool[j] = x;
	}
	/* the tail [n, m) holds unused ids, at least n of them */
	for (size_t i = 0; i < n; i++)
		if (g->pool[i] == (int64_t)i) {
			g->pool[i] = g->pool[k];
			g->pool[k++] = (int64_t)i;
		}
	memcpy(g->tv[t], g->pool, n * sizeof *g->pool);
	return 0;
}

/* Add v to the list val[*n] unless present. */
static void add_uniq(int64_t *val, int *n, int64_t v)
{
	for (int i = 0; i < *n; i++)
		if (val[i] == v)
			return;
	val[(*n)++] = v;
}

static void build(struct gen *g, int gi);

/* Evaluate node n on the current case (all scalars, tables built so far). */
static int eval_now(const struct gen *g, int n, int64_t *out)
{
	return kva_expr_peval(g->f, n, &g->args, ~0u, g->built, out);
}

/* One CSR world: nb requests, the queried one (b) with the given page
 * count and last-page fill, the others 0..3 pages.  Returns 0 or -1 (skip
 * or error). */
static int make_world(struct gen *g, const struct csr *c, int64_t b, int64_t nb,
		      int64_t pages, int64_t last, int64_t P)
{
	kva_rng r;
	int64_t *ip, *lp = NULL;

	kva_rng_seed(&r, mix(mix(mix(scalar_hash(g), (uint64_t)nb),
				 (uint64_t)pages), (uint64_t)last));
	if (table_room(g, c->indptr, (size_t)nb + 1))
		return -1;
	if (c->lastlen >= 0 && table_room(g, c->lastlen, (size_t)nb))
		return -1;
	ip = g->tv[c->indptr];
	if (c->lastlen >= 0)
		lp = g->tv[c->lastlen];
	ip[0] = 0;
	for (int64_t i = 0; i < nb; i++) {
		int64_t p = i == b ? pages : kva_rng_range(&r, 0, 3);

		ip[i + 1] = ip[i] + p;
		if (lp)
			lp[i] = i == b ? last : p ? kva_rng_range(&r, 1, P) : 0;
	}
	if (c->indices >= 0) {
		if (too_big(g, c->indices, (uint64_t)ip[nb]))
			return -1;
		if (fill_ids(g, c->indices, (size_t)ip[nb], 0x637372))
			return -1;
	}
	return 0;
}

/*
 * Build CSR group ci around the queried request, then the groups after
 * gi.  The queried request needs `need` pages to hold pos; it gets
 * need-1, need and need+1 pages and a last page filled to pos mod P,
 * pos mod P + 1 or P, so pos lands just inside and just past the end of
 * the sequence.
 */
static void build_csr(struct gen *g, int ci, int gi)
{
	const struct csr *c = &g->csr[ci];
	int64_t b = g->args.in[c->batch], need = 1, P = 1, r = 0, v;
	int64_t nbv[2], pgv[3], lastv[3];
	int npg = 0, nlast, i0, j0, k0;
	unsigned tmp = 1u << c->indptr;

	if (b < 0)
		return; /* no such request: the query is invalid anyway */
	if (too_big(g, c->indptr, (uint64_t)b + 2))
		return;
	/* provisional all-zero tables, to evaluate the lookup index */
	if (table_room(g, c->indptr, (size_t)b + 2))
		return;
	memset(g->tv[c->indptr], 0, ((size_t)b + 2) * sizeof (int64_t));
	if (c->lastlen >= 0) {
		if (table_room(g, c->lastlen, (size_t)b + 1))
			return;
		memset(g->tv[c->lastlen], 0, ((size_t)b + 1) * sizeof (int64_t));
		tmp |= 1u << c->lastlen;
	}
	g->built |= tmp;
	if (c->pdiv >= 0 && !eval_now(g, c->pdiv, &v) && v > 0)
		P = v;
	if (c->tidx >= 0 && !eval_now(g, c->tidx, &v))
		need = v >= 0 && v < INT64_MAX ? v + 1 : 0;
	if (c->rmod >= 0 && !eval_now(g, c->rmod, &v))
		r = v;
	g->built &= ~tmp;
	if (need > MAX_TABLE) {
		too_big(g, c->indices >= 0 ? c->indices : c->indptr,
			(uint64_t)need);
		return;
	}
	nbv[0] = b + 1;
	nbv[1] = b + 2;
	for (int64_t d = -1; d <= 1; d++)
		if (need + d >= 0)
			add_uniq(pgv, &npg, need + d);
	if (c->indices >= 0)
		tmp |= 1u << c->indices;
	/* --sweep and --random take one variant: i, j, k drawn in turn */
	i0 = g->pick ? (int)kva_rng_range(g->rng, 0, 1) : 0;
	for (int i = i0; i < (g->pick ? i0 + 1 : 2); i++) {
		j0 = g->pick ? (int)kva_rng_range(g->rng, 0, npg - 1) : 0;
		for (int j = j0; j < (g->pick ? j0 + 1 : npg); j++) {
			int64_t fill[3] = { r, r + 1, P };

			nlast = 0;
			for (int k = 0; k < 3; k++)
				add_uniq(lastv, &nlast, pgv[j] == 0 ? 0 :
					 fill[k] < 1 ? 1 : fill[k] > P ? P : fill[k]);
			k0 = g->pick ? (int)kva_rng_range(g->rng, 0, nlast - 1) : 0;
			for (int k = k0; k < (g->pick ? k0 + 1 : nlast); k++) {
				if (make_world(g, c, b, nbv[i], pgv[j], lastv[k], P))
					return;
				g->built |= tmp;
				build(g, gi + 1);
				g->built &= ~tmp;
				if (g->stop || g->failed)
					return;
			}
		}
	}
}

/*
 * Build block table t, then the groups after gi.  Its length goes around
 * the largest index the formula looks up in it (idx): idx-1 and idx leave
 * the lookup past the end, idx+1 makes it the last entry, idx+2 not.
 */
static void build_blocks(struct gen *g, int t, int gi)
{
	int64_t idx = INT64_MIN, v, len[4];
	int nlen = 0, choice = 0;

	for (int n = 0; n < g->f->nnode; n++) {
		const struct kva_node *nd = &g->f->node[n];

		if (nd->op == KVA_OP_IDX && nd->v == t && !eval_now(g, nd->a, &v) &&
		    v > idx)
			idx = v;
	}
	if (idx == INT64_MIN) {
		len[nlen++] = 1;
		len[nlen++] = 8;
	} else {
		if (too_big(g, t, idx < 0 ? 0 : (uint64_t)idx + 2))
			return;
		for (int64_t d = -1; d <= 2; d++)
			add_uniq(len, &nlen, idx + d < 0 ? 0 : idx + d);
	}
	if (g->pick)
		choice = (int)kva_rng_range(g->rng, 0, nlen - 1);
	for (int i = 0; i < nlen; i++) {
		if (g->pick && i != choice)
			continue;
		if (fill_ids(g, t, (size_t)len[i], 0x626c6b))
			return;
		g->built |= 1u << t;
		build(g, gi + 1);
		if (!g->pick && idx >= 1 && len[i] == idx + 1 && !g->stop &&
		    !g->failed) {
			/* again with block 0, the first cell of the cache, behind
			 * the looked-up entry: kernels must get slot 0 right */
			int64_t *tv = g->tv[t];
			int64_t p = -1;

			for (int64_t j = 0; j < idx; j++)
				if (tv[j] == 0)
					p = j;
			if (p >= 0)
				tv[p] = tv[idx];
			tv[idx] = 0;
			build(g, gi + 1);
		}
		g->built &= ~(1u << t);
		if (g->stop || g->failed)
			return;
	}
}

/* The scalars and tables are complete: keep the case if it is new and
 * valid. */
static void finish(struct gen *g)
{
	kva_route r;
	kva_err e;

	if (kva_oracle_eval(g->o, &g->args, &r, &e))
		return;
	g->valid++;
	if (!g->pick && !kva_hset_add(&g->seen, case_hash(g)))
		return;
	g->emitted++;
	if (g->emit(g->ctx, g->o, &g->args))
		g->stop = 1;
}

/* Build table group gi and those after it, then finish each variant. */
static void build(struct gen *g, int gi)
{
	if (g->stop || g->failed)
		return;
	if (gi == g->ngroup)
		finish(g);
	else if (g->group[gi].csr >= 0)
		build_csr(g, g->group[gi].csr, gi);
	else
		build_blocks(g, g->group[gi].t, gi);
}

/* ---- boundaries: solving the formula backwards --------------------------- */

static void solve(struct gen *g, int n, int64_t t, int64_t hint,
		  const struct cand *c, const struct goal *rest);

/* Node n's value under c, if c knows enough to compute it. */
static int cand_eval(const struct gen *g, int n, const struct cand *c,
		     int64_t *out)
{
	return kva_expr_peval(g->f, n, &c->a, c->known, 0, out);
}

/* Target met: go on with the rest, or complete the case (unassigned
 * positions are 0) and build its tables. */
static void proceed(struct gen *g, const struct cand *c, const struct goal *rest)
{
	if (rest) {
		solve(g, rest->node, rest->t, rest->hint, c, rest->next);
		return;
	}
	memset(&g->args, 0, sizeof g->args);
	for (int i = 0; i < g->f->nin; i++)
		g->args.in[i] = (c->known >> i & 1) ? c->a.in[i] : 0;
	g->built = 0;
	build(g, 0);
}

/*
 * Find assignments of the unknown inputs under node n that make it equal
 * t, extending c; for each one, go on with rest.  Inverts +, -, unary -,
 * * by a known factor, div and mod by a known divisor; a sum of two
 * unknowns is split three ways (all left, all right, and hint+1 on the
 * right so that b_local_idx >= block_size appears).
 */
static void solve(struct gen *g, int n, int64_t t, int64_t hint,
		  const struct cand *c, const struct goal *rest)
{
	const struct kva_node *nd = &g->f->node[n];
	int64_t x, y, s[3];
	int ns = 0;

	if (g->stop || g->failed || --g->budget < 0)
		return;
	if (!cand_eval(g, n, c, &x)) {
		if (x == t)
			proceed(g, c, rest);
		return;
	}
	switch (nd->op) {
	case KVA_OP_IN: {
		struct cand d = *c;

		d.a.in[nd->v] = t;
		d.known |= 1u << nd->v;
		proceed(g, &d, rest);
		return;
	}
	case KVA_OP_VAL:
		solve(g, g->f->val_expr[nd->v], t, hint, c, rest);
		return;
	case KVA_OP_NEG:
		if (t != INT64_MIN)
			solve(g, nd->a, -t, hint, c, rest);
		return;
	case KVA_OP_ADD:
	case KVA_OP_SUB: {
		int add = nd->op == KVA_OP_ADD;

		if (!cand_eval(g, nd->a, c, &x)) {
			/* x + b = t, x - b = t */
			if (!(add ? __builtin_sub_overflow(t, x, &y) :
			      __builtin_sub_overflow(x, t, &y)))
				solve(g, nd->b, y, hint, c, rest);
			return;
		}
		if (!cand_eval(g, nd->b, c, &y)) {
			if (!(add ? __builtin_sub_overflow(t, y, &x) :
			      __builtin_add_overflow(t, y, &x)))
				solve(g, nd->a, x, hint, c, rest);
			return;
		}
		/* both unknown: choose the right operand, solve both */
		add_uniq(s, &ns, 0);
		if (add)
			add_uniq(s, &ns, t);
		if (hint > 0 && hint < INT64_MAX)
			add_uniq(s, &ns, hint + 1);
		for (int i = 0; i < ns; i++) {
			struct goal left = { nd->a, 0, hint, rest };

			if (add ? __builtin_sub_overflow(t, s[i], &left.t) :
			    __builtin_add_overflow(t, s[i], &left.t))
				continue;
			solve(g, nd->b, s[i], hint, c, &left);
		}
		return;
	}
	case KVA_OP_MUL:
		if (!cand_eval(g, nd->a, c, &x)) {
			if (x != 0 && !(x == -1 && t == INT64_MIN) && t % x == 0)
				solve(g, nd->b, t / x, hint, c, rest);
		} else if (!cand_eval(g, nd->b, c, &y)) {
			if (y != 0 && !(y == -1 && t == INT64_MIN) && t % y == 0)
				solve(g, nd->a, t / y, hint, c, rest);
		}
		return;
	case KVA_OP_DIV:
		/* X div m = t for X = t*m + r, r at either end of [0, m) */
		if (cand_eval(g, nd->b, c, &y) || y == 0 || y == INT64_MIN)
			return;
		add_uniq(s, &ns, 0);
		add_uniq(s, &ns, y > 0 ? y - 1 : y + 1);
		for (int i = 0; i < ns; i++)
			if (!__builtin_mul_overflow(t, y, &x) &&
			    !__builtin_add_overflow(x, s[i], &x))
				solve(g, nd->a, x, y > 0 ? y : -y, c, rest);
		return;
	case KVA_OP_MOD:
		if (cand_eval(g, nd->b, c, &y) || y == 0 || y == INT64_MIN)
			return;
		if (y > 0 ? (t >= 0 && t < y) : (t <= 0 && t > y))
			solve(g, nd->a, t, y > 0 ? y : -y, c, rest);
		return;
	default:
		return; /* not invertible here */
	}
}

/* Start a target: node n == t (n < 0: no target, just the base), with the
 * sizes in base and the free inputs not in leave at their next value in
 * the cycle.  Several free inputs of one kind count as the digits of one
 * mixed-radix counter, the first turning fastest and each later one
 * offset by its rank, so two of them (head_idx, num_heads) are not always
 * equal and every combination comes round. */
static void aim_once(struct gen *g, const struct cand *base, int n, int64_t t,
		int64_t hint, unsigned leave)
{
	struct cand c = *base;
	uint64_t hdiv = 1, bdiv = 1;
	int hk = 0, bk = 0;

	for (int i = 0; i < g->f->nin; i++) {
		uint64_t radix;

		if (g->role[i] == R_HEAD) {
			radix = (uint64_t)g->num_heads;
			if (!(leave >> i & 1))
				c.a.in[i] = (int64_t)((g->cycle / hdiv + (uint64_t)hk) % radix);
			hdiv = hdiv > UINT64_MAX / radix ? hdiv : hdiv * radix;
			hk++;
		} else if (g->role[i] == R_BATCH) {
			radix = 3;
			if (!(leave >> i & 1))
				c.a.in[i] = (int64_t)((g->cycle / bdiv + (uint64_t)bk) % radix);
			bdiv = bdiv > UINT64_MAX / radix ? bdiv : bdiv * radix;
			bk++;
		} else {
			continue;
		}
		if (!(leave >> i & 1))
			c.known |= 1u << i;
	}
	g->cycle++;
	g->budget = SOLVE_BUDGET;
	if (n < 0)
		proceed(g, &c, NULL);
	else
		solve(g, n, t, hint, &c, NULL);
}

/* aim_once, retried with the free inputs' next values (at most one round
 * of the head counter) while the target yields no valid case: a formula
 * may constrain free inputs against each other (head < num_heads). */
static void aim(struct gen *g, const struct cand *base, int n, int64_t t,
		int64_t hint, unsigned leave)
{
	uint64_t before = g->valid;
	int free = 0;

	for (int i = 0; i < g->f->nin; i++)
		if ((g->role[i] == R_HEAD || g->role[i] == R_BATCH) &&
		    !(leave >> i & 1))
			free = 1;
	for (int64_t k = 0; k < (free ? g->num_heads : 1); k++) {
		aim_once(g, base, n, t, hint, leave);
		if (g->valid != before || g->stop || g->failed)
			break;
	}
}

/* All targets for one assignment of the size inputs (in base). */
static void boundaries_for(struct gen *g, const struct cand *base,
			   const int64_t *ringv, int nring)
{
	/* every position at 0: a baseline even for a formula without div */
	aim(g, base, -1, 0, 0, 0);
	for (int p = 0; p < g->npair && !g->stop && !g->failed; p++) {
		int64_t m, ks[3 + 2 * KVA_MAX_IN];
		int nk = 0;

		if (cand_eval(g, g->pm[p], base, &m) || m == 0 || m == INT64_MIN)
			continue;
		add_uniq(ks, &nk, 0);
		add_uniq(ks, &nk, 1);
		add_uniq(ks, &nk, 2);
		for (int i = 0; i < nring; i++) {
			add_uniq(ks, &nk, ringv[i]);
			add_uniq(ks, &nk, 2 * ringv[i] + 1);
		}
		for (int k = 0; k < nk; k++)
			for (int64_t d = -1; d <= 1; d++) {
				int64_t t;

				if (__builtin_mul_overflow(ks[k], m, &t) ||
				    __builtin_add_overflow(t, d, &t))
					continue;
				aim(g, base, g->px[p], t, m > 0 ? m : -m, 0);
			}
	}
	for (int i = 0; i < g->ncmp && !g->stop && !g->failed; i++) {
		int64_t v;

		if (cand_eval(g, g->cmp[i].other, base, &v))
			continue;
		for (int64_t d = -1; d <= 1; d++)
			if (!(d > 0 && v == INT64_MAX) && !(d < 0 && v == INT64_MIN))
				aim(g, base, g->cmp[i].side, v + d, g->hint0,
				    g->cmp[i].solve);
	}
}

/* ---- set-up ------------------------------------------------------------- */

/* Free what gen_init and the generators allocated in g (not g). */
static void gen_free(struct gen *g)
{
	free(g->px);
	free(g->pm);
	free(g->cmp);
	for (int t = 0; t < KVA_MAX_TAB; t++)
		free(g->tv[t]);
	free(g->pool);
	kva_hset_free(&g->seen);
}

/* Prepare g for oracle o.  Returns 0, or -1 with e filled (g needs
 * gen_free either way). */
static int gen_init(struct gen *g, const kva_oracle *o, const char *mode,
		    const kva_gen_opts *opt, kva_emit_fn emit, void *ctx,
		    kva_err *e)
{
	const struct kva_formula *f;

	memset(g, 0, sizeof *g);
	g->o = o;
	g->mode = mode;
	g->emit = emit;
	g->ctx = ctx;
	g->e = e;
	g->num_heads = opt && opt->num_heads > 0 ? opt->num_heads : 8;
	g->seed = opt ? opt->seed : 0;
	/* by name, as overflow_cases does: a user formula of the same name
	 * has no compiled path and is read from its AST like any other */
	g->rolling = o->eval && !strcmp(o->name, "rolling");
	if (!(g->f = f = kva_oracle_formula(o, e)))
		return -1;
	if (f->nin != o->nin || f->ntab != o->ntab)
		return kva_errf(e, NULL, "oracle '%s' does not match its formula",
				o->name);
	for (int i = 0; i < f->nin; i++)
		if (strcmp(f->in[i], o->in[i]))
			return kva_errf(e, NULL, "oracle '%s' does not match its "
					"formula", o->name);
	for (int i = 0; i < f->ntab; i++)
		if (strcmp(f->tab[i], o->tab[i]))
			return kva_errf(e, NULL, "oracle '%s' does not match its "
					"formula", o->name);
	return analyse(g);
}

/* The built-in fixtures (fixtures/boundaries/), embedded by make. */
extern const char *const kva_boundary_fixtures[];

/* See kvarbiter.h. */
int kva_gen_fixtures(const kva_oracle *o, kva_emit_fn emit, void *ctx,
		     kva_err *e)
{
	kva_arena ar = { 0 };
	kva_tabstore ts = { 0 };
	int rc = 0;

	for (int i = 0; kva_boundary_fixtures[i] && !rc; i++) {
		const char *line = kva_boundary_fixtures[i];
		const kva_jval *root, *on;
		kva_args a;
		kva_route r;

		kva_arena_reset(&ar);
		root = kva_json_parse(&ar, line, strlen(line), e);
		if (!root || !(on = kva_json_get(root, "oracle")) ||
		    on->t != KVA_JSTR) {
			rc = kva_errf(e, NULL, "built-in fixture %d is malformed", i);
			break;
		}
		if (strcmp(on->s, o->name) || !o->eval)
			continue;
		if (kva_args_from_json(o, root, &a, &ts, e) ||
		    kva_oracle_eval(o, &a, &r, e)) {
			rc = -1;
			break;
		}
		if (emit(ctx, o, &a))
			break;
	}
	kva_tabstore_free(&ts);
	kva_arena_free(&ar);
	return rc;
}

/* See kvarbiter.h: the size inputs (block and ring sizes) read off the
 * AST, and a sequence length, which with the tables fix the cache a token
 * is routed into. */
int kva_oracle_world(const kva_oracle *o, unsigned *mask, kva_err *e)
{
	struct gen g;
	int rc = gen_init(&g, o, "world", NULL, NULL, NULL, e);

	*mask = 0;
	if (!rc)
		for (int i = 0; i < g.f->nin; i++)
			if (g.role[i] == R_BLOCK || g.role[i] == R_RING ||
			    g.role[i] == R_LEN)
				*mask |= 1u << i;
	gen_free(&g);
	return rc;
}

/* ---- the three generators ------------------------------------------------ */

/* A flashinfer query of request 0 at pos, page size P: kv_indptr
 * {0, npages}, kv_indices pages[0..npages), kv_last_page_len {*last}. */
static void fi_query(kva_args *a, int64_t pos, int64_t P, int64_t *indptr,
		     int64_t *pages, size_t npages, int64_t *last)
{
	memset(a, 0, sizeof *a);
	indptr[0] = 0;
	indptr[1] = (int64_t)npages;
	a->in[1] = pos;
	a->in[2] = P;
	a->tab[0].v = indptr;
	a->tab[0].n = 2;
	a->tab[1].v = pages;
	a->tab[1].n = npages;
	a->tab[2].v = last;
	a->tab[2].n = 1;
}

/*
 * paged and paged-ring with a block size near 2^31 and 2^32 and a table of
 * two blocks: the tokens the table maps (table_len * block_size), the
 * ring's span (window_blocks * block_size, a ring of 2) and every slot
 * pass 2^31 while the table stays short.  Positions: in the first block
 * (1, 3), either side of the block edge and of the table's end (for the
 * ring, the second round).  A candidate that holds such a product in 32
 * bits unmaps a mapped token or folds the ring wrongly.  Returns non-zero
 * when emit says stop.
 */
static int big_block_cases(const kva_oracle *o, int ring, kva_emit_fn emit,
			   void *ctx)
{
	static const int64_t bss[] = { INT32_MAX, (int64_t)1 << 31,
				       (int64_t)UINT32_MAX };

	for (size_t i = 0; i < sizeof bss / sizeof *bss; i++) {
		int64_t bs = bss[i], tab[2] = { 2, 3 };
		int64_t pos[] = { 1, 3, bs - 1, bs, bs + 1, 2 * bs - 1, 2 * bs,
				  2 * bs + 3 };

		for (size_t k = 0; k < sizeof pos / sizeof *pos; k++) {
			kva_args a;

			memset(&a, 0, sizeof a);
			a.in[0] = pos[k];
			a.in[1] = bs;
			a.in[2] = ring ? 2 : 0;
			a.tab[0].v = tab;
			a.tab[0].n = 2;
			if (emit(ctx, o, &a))
				return 1;
		}
	}
	return 0;
}

/*
 * flashinfer's sequence length (pages - 1) * page_size + kv_last_page_len
 * past 2^31: one request of two pages, page_size 2^30, 2^31 - 1, 2^31 and
 * 2^32, the last page holding 1 token or all it can (kv_last_page_len is
 * int32), and the positions either side of the page edge and of the end.
 * A length, or a position, held in 32 bits turns negative or wraps, and
 * the candidate calls a mapped token unmapped or the reverse.  Returns
 * non-zero when emit says stop.
 */
static int flashinfer_long_cases(const kva_oracle *o, kva_emit_fn emit,
				 void *ctx)
{
	static const int64_t ps[] = { (int64_t)1 << 30, INT32_MAX,
				      (int64_t)1 << 31, (int64_t)1 << 32 };

	for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
		for (int full = 0; full <= 1; full++) {
			int64_t P = ps[i], L = full ? (P < INT32_MAX ? P : INT32_MAX) : 1;
			/* P + L - 1 is P when L is 1 */
			int64_t pos[] = { P - 1, P, P + L, P + L - 1 };
			int64_t indptr[2], pages[2] = { 5, 3 }, last[1] = { L };

			for (size_t k = 0; k < (L > 1 ? 4u : 3u); k++) {
				kva_args a;

				fi_query(&a, pos[k], P, indptr, pages, 2, last);
				if (emit(ctx, o, &a))
					return 1;
			}
		}
	return 0;
}

/*
 * The overflow boundaries of the built-in slot oracles (and radix-1d's
 * position): cases whose slot (block * block_size + offset), or that slot
 * times a row of 128 floats, in elements and in bytes, is 2^31 - 1, 2^31,
 * 2^31 + 1 and the same around 2^32, with block ids kept in int32 as the
 * ABI's tables are.  radix-2d takes the same values as the position
 * prefix_length_h + b_local_idx, with total_blocks_h one more than the
 * block, so no wrap hides a truncated position; for both the position's
 * large part is in the prefix, then in b_local_idx, and a block past
 * 2^31 (block size 1) is kept, since no table holds it.  flashinfer adds
 * flashinfer_long_cases(), paged and paged-ring big_block_cases(), but
 * not for a kernel (opt->kernel), whose cache could not hold them and
 * whose trap makes its own overflow calls.  A candidate that computes any of them in 32
 * bits lands elsewhere.  Returns non-zero when emit says stop.
 */
/* One overflow case of overflow_cases(): slot in a block of size bs;
 * split says where a radix position's large part goes. */
static int overflow_case(const kva_oracle *o, int kind, int64_t bs,
			 int64_t slot, int split, kva_emit_fn emit, void *ctx)
{
	int64_t id = slot / bs, off = slot % bs;
	/* the position's small part, the rest in the prefix (split 0) or
	 * in b_local_idx (1) */
	int64_t lo = slot % 1024, hi = slot - lo;
	int64_t tab0[2], tab1[1], tab2[1];
	kva_args a;

	memset(&a, 0, sizeof a);
	if (kind == 'r') {              /* radix-1d: prefix + b_local_idx */
		a.in[0] = split ? hi : lo;
		a.in[1] = split ? lo : hi;
		a.in[2] = bs;
	} else if (kind == 'R') {       /* radix-2d: the ring's last block */
		a.in[0] = split ? hi : lo;
		a.in[2] = split ? lo : hi;
		a.in[3] = id + 1;
		a.in[4] = bs;
	} else if (kind == 'f') {       /* one full page */
		tab1[0] = id;
		tab2[0] = bs;
		fi_query(&a, off, bs, tab0, tab1, 1, tab2);
	} else {
		/* the token in the table's second block (no entry equal to
		 * its index, as elsewhere) */
		tab0[0] = 2;
		tab0[1] = id;
		a.in[0] = bs + off;
		a.in[1] = bs;
		a.in[2] = 2;                  /* paged-ring: a ring of 2 */
		a.tab[0].v = tab0;
		a.tab[0].n = 2;
	}
	return emit(ctx, o, &a);
}

static int overflow_cases(const kva_oracle *o, const kva_gen_opts *opt,
			  kva_emit_fn emit, void *ctx)
{
	static const int64_t bss[] = { 1, 7, 16 };
	static const int shifts[] = { 31, 32 };
	static const int64_t per[] = { 1, 128, 512 };   /* slot, floats, bytes */
	int paged = !strcmp(o->name, "paged"), ring = !strcmp(o->name, "paged-ring");
	int fi = !strcmp(o->name, "flashinfer"), r1 = !strcmp(o->name, "radix-1d");
	int r2 = !strcmp(o->name, "radix-2d");
	int kind = r1 ? 'r' : r2 ? 'R' : fi ? 'f' : 'p';

	if (!o->eval || !(paged || ring || fi || r1 || r2))
		return 0;
	if (!(opt && opt->kernel)) {
		if (fi && flashinfer_long_cases(o, emit, ctx))
			return 1;
		if ((paged || ring) && big_block_cases(o, ring, emit, ctx))
			return 1;
	}
	for (size_t b = 0; b < sizeof bss / sizeof *bss; b++)
		for (size_t sh = 0; sh < sizeof shifts / sizeof *shifts; sh++)
			for (size_t pi = 0; pi < sizeof per / sizeof *per; pi++)
				for (int64_t k = -1; k <= 1; k++) {
					int64_t bs = bss[b];
					int64_t slot = ((int64_t)1 << shifts[sh]) / per[pi] + k;

					/* a table's block ids are int32; a radix
					 * block is an output, past 2^31 as well */
					if ((slot / bs > INT32_MAX && !(r1 || r2)) || slot < 0)
						continue;
					for (int split = 0; split <= (r1 || r2); split++)
						if (overflow_case(o, kind, bs, slot, split,
								  emit, ctx))
							return 1;
				}
	return 0;
}

/* The input of g's formula with role r (the rolling oracle has one of
 * each), or -1. */
static int input_of(const struct gen *g, int r)
{
	for (int i = 0; i < g->f->nin; i++)
		if (g->role[i] == r)
			return i;
	return -1;
}

/* One rolling case, kept if new (finish() drops duplicates). */
static void rolling_case(struct gen *g, int64_t pos, int64_t len, int64_t w)
{
	memset(&g->args, 0, sizeof g->args);
	g->args.in[input_of(g, R_POS)] = pos;
	g->args.in[input_of(g, R_LEN)] = len;
	g->args.in[input_of(g, R_RING)] = w;
	g->built = 0;
	finish(g);
}

/*
 * The rolling oracle's boundaries.  A state is the cache after the write
 * that brought the sequence to seq_len tokens; for each window W (1 among
 * them) the states are the empty cache, the window filling (W-1, W), the
 * first roll (W+1, W+2), a whole window rolled (2W) and writes that roll
 * more than the window at once (2W+1, 3W+2: a prefill longer than the
 * window, a chunk of W+1 into a full cache), whose oldest tokens never
 * stay in the cache.  In each, pos -1 (padding), 0 and both edges of the
 * live range [seq_len - W, seq_len), one either side.  Then the same edges
 * at seq_len around 2^31 and 2^32, and a window past 2^31, where int32
 * arithmetic goes wrong.
 */
static void rolling_cases(struct gen *g)
{
	static const int64_t wins[] = { 1, 2, 3, 4, 5, 8, 17 };
	static const int64_t bigw[] = { 1, 8, ((int64_t)1 << 31) + 1 };

	for (size_t i = 0; i < sizeof wins / sizeof *wins; i++) {
		int64_t w = wins[i];
		int64_t lens[] = { 0, 1, w - 1, w, w + 1, w + 2, 2 * w,
				   2 * w + 1, 3 * w + 2 };

		for (size_t j = 0; j < sizeof lens / sizeof *lens; j++) {
			int64_t s = lens[j];
			int64_t ps[] = { -1, 0, s - w - 1, s - w, s - w + 1,
					 s - 2, s - 1, s, s + 1 };

			for (size_t k = 0; k < sizeof ps / sizeof *ps; k++)
				if (s >= 0 && ps[k] >= -1 && !g->stop && !g->failed)
					rolling_case(g, ps[k], s, w);
		}
	}
	for (size_t i = 0; i < sizeof bigw / sizeof *bigw; i++)
		for (int sh = 31; sh <= 32; sh++)
			for (int64_t d = -1; d <= 1; d++) {
				int64_t w = bigw[i], s = ((int64_t)1 << sh) + d;
				int64_t ps[] = { s - w - 1, s - w, s - 1, s };

				for (size_t k = 0; k < sizeof ps / sizeof *ps; k++)
					if (ps[k] >= -1 && !g->stop && !g->failed)
						rolling_case(g, ps[k], s, w);
			}
}

/*
 * See kvarbiter.h.  For every assignment of the size inputs (block sizes
 * {1,2,3,7,16,17,64}, ring sizes {1,2,3,4,5,8}) and every distinct div/mod
 * pair (X, m): X = k*m-1, k*m, k*m+1 for k in {0,1,2} and, for each ring
 * size R of the assignment, k in {R, 2R+1}; then each comparison against
 * a value that does not depend on a position, at value-1, value, value+1.
 * The rolling oracle adds rolling_cases(), every oracle overflow_cases().
 * Returns 0 (also when emit stopped it), or -1 with e filled.
 */
int kva_gen_boundaries(const kva_oracle *o, const kva_gen_opts *opt,
		       kva_emit_fn emit, void *ctx, kva_err *e)
{
	struct gen g;
	int sz[KVA_MAX_IN], nsz = 0, at[KVA_MAX_IN];

	if (gen_init(&g, o, "boundaries", opt, emit, ctx, e)) {
		gen_free(&g);
		return -1;
	}
	for (int i = 0; i < g.f->nin; i++)
		if (g.role[i] == R_BLOCK || g.role[i] == R_RING) {
			at[nsz] = 0;
			sz[nsz++] = i;
		}
	for (;;) {
		struct cand base;
		int64_t ringv[KVA_MAX_IN];
		int nring = 0, k;

		memset(&base, 0, sizeof base);
		g.hint0 = 0;
		for (int j = 0; j < nsz; j++) {
			int ring = g.role[sz[j]] == R_RING;
			int64_t v = ring ? ring_sizes[at[j]] : block_sizes[at[j]];

			base.a.in[sz[j]] = v;
			base.known |= 1u << sz[j];
			if (ring)
				ringv[nring++] = v;
			else if (!g.hint0)
				g.hint0 = v;
		}
		boundaries_for(&g, &base, ringv, nring);
		if (g.stop || g.failed)
			break;
		/* next assignment: the last size input turns fastest */
		for (k = nsz - 1; k >= 0; k--) {
			int n = g.role[sz[k]] == R_RING ?
				(int)(sizeof ring_sizes / sizeof ring_sizes[0]) :
				(int)(sizeof block_sizes / sizeof block_sizes[0]);

			if (++at[k] < n)
				break;
			at[k] = 0;
		}
		if (k < 0)
			break;
	}
	if (g.rolling && !g.stop && !g.failed)
		rolling_cases(&g);
	if (!g.stop && !g.failed)
		overflow_cases(o, opt, emit, ctx);
	gen_free(&g);
	return g.failed ? -1 : 0;
}

/* Narrow [*s, *end) to drop blanks at both ends. */
static void trim(const char **s, const char **end)
{
	while (*s < *end && (**s == ' ' || **s == '\t'))
		++*s;
	while (*end > *s && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		--*end;
}

/* Parse the number in [s, end) (blanks around it allowed) into *out.
 * Returns 0 or -1 with e filled. */
static int sweep_num(const char *name, const char *s, const char *end,
		     int64_t *out, char *num, size_t size, kva_err *e)
{
	const char *errstr;

	trim(&s, &end);
	if ((size_t)(end - s) >= size)
		return kva_errf(e, NULL, "sweep: '%s': %.20s... is too long",
				name, s);
	memcpy(num, s, (size_t)(end - s));
	num[end - s] = '\0';
	if (kva_parse_i64(num, -KVA_INT_LIMIT, KVA_INT_LIMIT, out, &errstr))
		return kva_errf(e, NULL, "sweep: '%s': %s is %s", name,
				num[0] ? num : "\"\"", errstr);
	return 0;
}

/* Parse "NAME=LO:HI" or "NAME=V" (item, n bytes; blanks around the parts
 * allowed) into input *idx's range [*lo, *hi).  Returns 0 or -1 with e
 * filled. */
static int sweep_item(const struct gen *g, const char *item, size_t n,
		      int *idx, int64_t *lo, int64_t *hi, kva_err *e)
{
	const char *end = item + n, *eq, *colon, *ne;
	char num[2][32];
	int i;

	trim(&item, &end);
	n = (size_t)(end - item);
	eq = memchr(item, '=', n);
	ne = eq;
	if (eq)
		trim(&item, &ne);
	if (!eq || ne == item)
		return kva_errf(e, NULL, "sweep: bad range '%.*s' (want NAME=LO:HI "
				"or NAME=VALUE)", n > 60 ? 60 : (int)n, item);
	for (i = 0; i < g->f->nin; i++)
		if (strlen(g->f->in[i]) == (size_t)(ne - item) &&
		    !memcmp(g->f->in[i], item, (size_t)(ne - item)))
			break;
	if (i == g->f->nin) {
		for (int t = 0; t < g->f->ntab; t++)
			if (strlen(g->f->tab[t]) == (size_t)(ne - item) &&
			    !memcmp(g->f->tab[t], item, (size_t)(ne - item)))
				return kva_errf(e, NULL, "sweep: '%s' is a table; "
						"tables are generated", g->f->tab[t]);
		return kva_errf(e, NULL, "sweep: '%.*s' is not an input of %s",
				ne - item > 60 ? 60 : (int)(ne - item), item,
				g->f->name);
	}
	colon = memchr(eq + 1, ':', (size_t)(end - eq - 1));
	if (sweep_num(g->f->in[i], eq + 1, colon ? colon : end, lo, num[0],
		      sizeof num[0], e))
		return -1;
	if (!colon) {
		*hi = *lo + 1; /* a single value v is v:v+1 */
	} else {
		if (sweep_num(g->f->in[i], colon + 1, end, hi, num[1],
			      sizeof num[1], e))
			return -1;
		if (*lo >= *hi)
			return kva_errf(e, NULL, "sweep: empty range for '%s' (%s:%s; "
					"want LO < HI)", g->f->in[i], num[0], num[1]);
	}
	*idx = i;
	return 0;
}

/*
 * See kvarbiter.h.  spec is "NAME=LO:HI,NAME=V,..." (LO inclusive, HI
 * exclusive); every scalar input is named exactly once.  The grid runs as
 * nested loops in the order the names appear, the first outermost.
 * Tables are built per cell, one variant chosen by a generator seeded
 * from the seed and the cell.  Returns 0 (also when emit stopped it), or
 * -1 with e filled.
 */
int kva_gen_sweep(const kva_oracle *o, const char *spec,
		  const kva_gen_opts *opt, kva_emit_fn emit, void *ctx,
		  kva_err *e)
{
	struct gen g;
	int order[KVA_MAX_IN], norder = 0;
	int64_t lo[KVA_MAX_IN], hi[KVA_MAX_IN], cells = 1;
	unsigned named = 0;
	const char *p = spec ? spec : "";
	kva_rng rng;
	int k, rc = -1;

	if (gen_init(&g, o, "sweep", opt, emit, ctx, e))
		goto out;
	g.pick = 1;
	g.rng = &rng;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int64_t l, h;
		int i = -1;

		if (sweep_item(&g, p, n, &i, &l, &h, e))
			goto out;
		if (named >> i & 1) {
			kva_errf(e, NULL, "sweep: duplicate range for '%s'",
				 g.f->in[i]);
			goto out;
		}
		named |= 1u << i;
		lo[i] = l;
		hi[i] = h;
		order[norder++] = i;
		if ((uint64_t)(h - l) > (uint64_t)MAX_CELLS ||
		    __builtin_mul_overflow(cells, h - l, &cells) ||
		    cells > MAX_CELLS) {
			kva_errf(e, NULL, "sweep: grid has more than %lld cells",
				 (long long)MAX_CELLS);
			goto out;
		}
		p += n;
		if (*p == ',' && !*++p) {
			kva_errf(e, NULL, "sweep: empty range after ','");
			goto out;
		}
	}
	for (int i = 0; i < g.f->nin; i++)
		if (!(named >> i & 1)) {
			kva_errf(e, NULL, "sweep: no range for '%s'", g.f->in[i]);
			goto out;
		}
	memset(&g.args, 0, sizeof g.args);
	for (int i = 0; i < g.f->nin; i++)
		g.args.in[i] = lo[i];
	do {
		kva_rng_seed(&rng, scalar_hash(&g));
		g.built = 0;
		build(&g, 0);
		if (g.stop || g.failed)
			break;
		for (k = norder - 1; k >= 0; k--) {
			int i = order[k];

			if (++g.args.in[i] < hi[i])
				break;
			g.args.in[i] = lo[i];
		}
	} while (k >= 0);
	rc = g.failed ? -1 : 0;
out:
	gen_free(&g);
	return rc;
}

/*
 * A rolling query: the window in [1, 64]; the state a quarter of the time
 * filling (seq_len <= window), a quarter within one window past full, else
 * anywhere up to 4095 + window; the position mostly within two of the live
 * range, one time in 16 padding (-1) and one in 8 anywhere in [0, 4095].
 * Positions drawn independently of seq_len would be unmapped nearly always.
 */
static void rolling_draw(struct gen *g, kva_rng *r)
{
	int64_t w = kva_rng_range(r, 1, 64), s, p, lo;

	switch (kva_rng_range(r, 0, 3)) {
	case 0:
		s = kva_rng_range(r, 0, w);
		break;
	case 1:
		s = kva_rng_range(r, w + 1, 2 * w);
		break;
	default:
		s = kva_rng_range(r, 2 * w + 1, RANDOM_POS_MAX + w);
	}
	lo = s - w - 2 < -1 ? -1 : s - w - 2;
	switch (kva_rng_range(r, 0, 15)) {
	case 0:
		p = -1;
		break;
	case 1:
	case 2:
		p = kva_rng_range(r, 0, RANDOM_POS_MAX);
		break;
	default:
		p = kva_rng_range(r, lo, s + 1);
	}
	g->args.in[input_of(g, R_POS)] = p;
	g->args.in[input_of(g, R_LEN)] = s;
	g->args.in[input_of(g, R_RING)] = w;
}

/*
 * See kvarbiter.h.  Inputs are drawn by role: positions in [0, 4095]
 * (and, one time in 16, the padding value the formula compares them to),
 * block sizes [1, 128], ring sizes [1, 16], heads [0, num_heads-1],
 * batch-like inputs [0, 3] (rolling: rolling_draw); then one table
 * variant.  Invalid draws are
 * redrawn; after 100n + 10000 draws without n valid queries it fails.
 * Returns 0 (also when emit stopped it), or -1 with e filled.
 */
int kva_gen_random(const kva_oracle *o, uint64_t n, const kva_gen_opts *opt,
		   kva_emit_fn emit, void *ctx, kva_err *e)
{
	struct gen g;
	kva_rng rng;
	uint64_t tries = 0, max;
	int rc = -1;

	if (gen_init(&g, o, "random", opt, emit, ctx, e))
		goto out;
	g.pick = 1;
	g.rng = &rng;
	kva_rng_seed(&rng, g.seed);
	max = n > (UINT64_MAX - 10000) / 100 ? UINT64_MAX : 100 * n + 10000;
	while (g.emitted < n && !g.stop && !g.failed) {
		if (tries++ == max) {
			kva_errf(e, NULL, "random: only %llu of %llu draws were valid "
				 "queries", (unsigned long long)g.emitted,
				 (unsigned long long)max);
			goto out;
		}
		memset(&g.args, 0, sizeof g.args);
		if (g.rolling)
			rolling_draw(&g, &rng);
		for (int i = 0; i < g.f->nin && !g.rolling; i++) {
			int64_t *v = &g.args.in[i];

			switch (g.role[i]) {
			case R_POS:
				if ((g.padmask >> i & 1) && !kva_rng_range(&rng, 0, 15))
					*v = g.padval[i];
				else
					*v = kva_rng_range(&rng, 0, RANDOM_POS_MAX);
				break;
			case R_BLOCK:
				*v = kva_rng_range(&rng, 1, 128);
				break;
			case R_RING:
				*v = kva_rng_range(&rng, 1, 16);
				break;
			case R_HEAD:
				*v = kva_rng_range(&rng, 0, g.num_heads - 1);
				break;
			default:
				*v = kva_rng_range(&rng, 0, 3);
				break;
			}
		}
		g.built = 0;
		build(&g, 0);
	}
	rc = g.failed ? -1 : 0;
out:
	gen_free(&g);
	return rc;
}
