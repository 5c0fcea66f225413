/*
 * trap.c - the gradient trap (see trap.h): the run, its child, the queue,
 * the built-in generator, the records and reports.  Route candidates are
 * run and judged in trap_route.c, kernels in trap_kernel.c.
 *
 * The parent never runs candidate code.  A child (lib/sandbox.c) loads the
 * candidate and answers batches of cases over a pipe: a request is a
 * header and the cases' inputs; the reply is one fixed-size result per
 * case, flushed every RES_FLUSH results (or after each one when a batch is
 * re-run to find the case that crashed or hung).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvarbiter_candidate.h"
#include "cudart.h"
#include "kvcache.h"
#include "trap_internal.h"

const char *const kva_kind_names[5] = { "route", "write", "gather", "copy-blocks",
					"swap-blocks" };

const char *const kva_dtype_names[3] = { "f32", "f16", "bf16" };

const char *const kva_class_names[KVA_C_N] = {
	"misroute", "permutation", "collision", "out_of_bounds",
	"unmapped_write", "missing", "stray_write", "partial_row",
	"kv_mixup", "input_mutation", "nondeterministic", "crash", "timeout", "error"
};

#define CMD_FSIZE ((size_t)64 << 20) /* a co-process's files, in its tmpfs */
#define KERNEL_QUEUE 8             /* kernel calls' worth of cases queued */
#define KERNEL_MAX_BS ((int64_t)1 << 24) /* tokens in a kernel cache block, at most */

/* done() for reading the greeting: u32 layers, u32 length, the text. */
static int greeting_done(kva_buf *b, void *ctx, uint64_t *units)
{
	uint32_t n;

	(void)ctx;
	*units = 0;
	if (b->len < 8)
		return 0;
	memcpy(&n, b->p + 4, 4);
	/* a loaded candidate's greeting ends with its constraints */
	return b->len >= 8 + (size_t)n + (n ? 0 : 8 + sizeof(kva_constraints));
}

/* Stop running: the remaining cases are counted as not run. */
void kva_trap_stop_running(kva_trap *t, const char *why)
{
	if (!t->stop_why[0])
		snprintf(t->stop_why, sizeof t->stop_why, "%s", why);
}

static void load_finding(kva_trap *t, const char *phase, int cls, const char *why);

/*
 * The kernel's constraints (kvarbiter_candidate.h), read from its first
 * child: checked, and held against the run's shape.  A run outside them
 * (a layout or head size the kernel does not claim) checks nothing:
 * trouble, -1 with e.
 */
static int constraints_take(kva_trap *t, kva_err *e)
{
	const kva_constraints *c = &t->cons;

	if (c->version != KVA_CONSTRAINTS_V1)
		return kva_errf(e, NULL, "candidate %s: kva_kernel_constraints: version "
				"0x%08x, not KVA_CONSTRAINTS_V1", t->c.cand_name,
				(unsigned)c->version);
	if ((c->flags & ~KVA_CAN_STRIDED) || c->head_dim_multiple < 0 ||
	    c->max_tokens < 0 || (c->layouts & ~7u))
		return kva_errf(e, NULL, "candidate %s: kva_kernel_constraints: unknown "
				"flags or layouts, or a negative size", t->c.cand_name);
	for (int i = 0; i < 8; i++)
		if (c->block_sizes[i] < 0)
			return kva_errf(e, NULL, "candidate %s: kva_kernel_constraints: "
					"block size %d", t->c.cand_name,
					(int)c->block_sizes[i]);
	t->has_cons = 1;
	if (c->layouts && (!(c->layouts & (1u << t->c.layout)) ||
			   ((t->abi & GREET_PAIR) &&
			    !(c->layouts & (1u << kva_trap_value_layout(t))))))
		return kva_errf(e, NULL, "candidate %s claims other layouts than %s "
				"(kva_kernel_constraints): nothing to check",
				t->c.cand_name, kva_layout_names[(c->layouts & (1u << t->c.layout)) ?
								 kva_trap_value_layout(t) :
								 t->c.layout]);
	if (c->head_dim_multiple > 1 && t->c.head_dim % c->head_dim_multiple)
		return kva_errf(e, NULL, "candidate %s claims head sizes that are "
				"multiples of %d, not %d (kva_kernel_constraints): nothing "
				"to check", t->c.cand_name, (int)c->head_dim_multiple,
				t->c.head_dim);
	return 0;
}

/* Does the kernel claim block size bs?  (No constraints: any.) */
int kva_trap_claims_bs(const kva_trap *t, int64_t bs)
{
	int any = 1;

	if (!t->has_cons)
		return 1;
	for (int i = 0; i < 8 && t->cons.block_sizes[i]; i++) {
		any = 0;
		if (t->cons.block_sizes[i] == bs)
			return 1;
	}
	return any;
}

/*
 * Start a child with the candidate loaded.  Returns 0; 1 when the
 * candidate crashed, exited or hung while loading (a finding: recorded,
 * and the rest of the run is not run); -1 with e for trouble.
 */
static int greet(kva_trap *t, kva_err *e)
{
	kva_sbx_job job;
	kva_sbx_limits lim;
	kva_buf hello = { 0 };
	uint32_t n, layers = 0;
	char as[32], flush[32], arena[32];
	char *argv[] = { (char *)"grad-trap", (char *)(t->c.lim.confine ==
		KVA_CONFINE_OFF ? "--sandbox-child-noconfine" : t->c.lim.confine ==
		KVA_CONFINE_STRICT ? "--sandbox-child-strict" : "--sandbox-child"),
		(char *)kva_kind_names[t->c.kind], (char *)t->c.o->name,
		(char *)(t->c.cuda ? "cuda" : "cpu"), as, flush, arena, NULL };
	int st = KVA_SBX_OK;

	memset(&job, 0, sizeof job);
	job.passfd = -1;
	if (t->c.cmd) {
		job.profile = KVA_SBX_CMD;
		job.cmd = t->c.cmd;
	} else {
		/* the CUDA runtime reserves far more address space than it uses */
		snprintf(as, sizeof as, "%zu", t->c.cuda ? 0 : t->c.lim.as_bytes);
		snprintf(flush, sizeof flush, "%ld", (long)(t->c.lim.timeout_s * 250));
		snprintf(arena, sizeof arena, "%zu", t->arena_next);
		t->arena_child = t->arena_next;
		job.profile = t->c.cuda ? KVA_SBX_CUDA : KVA_SBX_LOADER;
		job.argv = argv;
		job.passfd = t->sofd;
	}
	lim = t->c.lim;
	if (t->c.cmd && lim.fsize_bytes < CMD_FSIZE)
		lim.fsize_bytes = CMD_FSIZE; /* its private tmpfs is writable */
	if (kva_sbx_spawn(&t->sbx, &lim, &job, e))
		return -1;
	if (!t->c.cmd) {
		st = kva_sbx_exchange(&t->sbx, NULL, 0, &hello, greeting_done, NULL,
				      t->c.lim.load_timeout_s);
		/* the child's layers come first, before it opens the candidate */
		if (hello.len >= 4) {
			memcpy(&layers, hello.p, 4);
			t->sbx.layers |= layers;
		}
	}
	/* the layers that held for every child of the run */
	t->layers = t->spawned ? t->layers & t->sbx.layers : t->sbx.layers;
	t->spawned = 1;
	if (t->c.cmd)
		return 0;
	if (st != KVA_SBX_OK) {
		kva_buf_free(&hello);
		if (st == KVA_SBX_TIMEOUT)
			snprintf(t->sbx.why, sizeof t->sbx.why, "no answer for %g s "
				 "(--load-timeout)", t->c.lim.load_timeout_s);
		load_finding(t, "load", st == KVA_SBX_TIMEOUT ? KVA_C_TIMEOUT : KVA_C_CRASH,
			     t->sbx.why);
		return 1;
	}
	memcpy(&n, hello.p + 4, 4);
	if (n) {
		kva_errf(e, NULL, "candidate %s: %.*s", t->c.cand_name, (int)n,
			 hello.p + 8);
		kva_buf_free(&hello);
		kva_sbx_stop(&t->sbx);
		return -1;
	}
	if (!t->spawned_once) {
		uint32_t has;

		memcpy(&has, hello.p + 8, 4);
		memcpy(&t->abi, hello.p + 12 + sizeof t->cons, 4);
		if ((t->c.vlayout >= 0 || t->c.dtype || t->c.vdtype >= 0) &&
		    !(t->abi & GREET_PAIR)) {
			kva_errf(e, NULL, "candidate %s: --value-layout, --dtype and "
				 "--value-dtype are for kva_write_kv_pair kernels",
				 t->c.cand_name);
			kva_buf_free(&hello);
			kva_sbx_stop(&t->sbx);
			return -1;
		}
		if (has) {
			memcpy(&t->cons, hello.p + 12, sizeof t->cons);
			if (constraints_take(t, e)) {
				kva_buf_free(&hello);
				kva_sbx_stop(&t->sbx);
				return -1;
			}
		}
		t->spawned_once = 1;
	}
	kva_buf_free(&hello);
	return kva_sbx_child_layers(&t->sbx, &t->c.lim, 0, e);
}

kva_trap *kva_trap_new(const kva_trap_conf *c, kva_err *e)
{
	kva_trap *t = calloc(1, sizeof *t);

	if (!t)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	t->c = *c;
	t->overflow_why = "made by the built-in --boundaries only";
	t->sofd = -1;
	t->load_cls = -1;
	t->oid = kva_trap_oracle_id(c->o);
	if (!c->cmd && t->oid == OR_OTHER) {
		kva_errf(e, NULL, "oracle %s has no C ABI: use --candidate-cmd",
			 c->o->name);
		free(t);
		return NULL;
	}
	if (KVA_KIND_BLOCKS(c->kind) && (c->cmd || c->cuda)) {
		kva_errf(e, NULL, "%s kernels must be a .c or .so file, run on "
			 "--device cpu", kva_kind_names[c->kind]);
		free(t);
		return NULL;
	}
	if (KVA_KIND_BLOCKS(c->kind))
		t->soak_why = "not made for the block-copy kinds";
	if (c->kind != KVA_KIND_ROUTE && t->oid != OR_PAGED &&
	    t->oid != OR_PAGED_RING && t->oid != OR_FLASHINFER) {
		kva_errf(e, NULL, "%s kernels are trapped on slot cases: use "
			 "paged, paged-ring or flashinfer, not %s",
			 kva_kind_names[c->kind], c->o->name);
		free(t);
		return NULL;
	}
	if (c->kind != KVA_KIND_ROUTE && c->cmd) {
		kva_errf(e, NULL, "--candidate-cmd answers routes; write and gather "
			 "kernels must be a .c, .so or .cu file");
		free(t);
		return NULL;
	}
	if (c->kind != KVA_KIND_ROUTE && c->head_dim < 4) {
		kva_errf(e, NULL, "--head-dim must be at least 4 for %s kernels",
			 kva_kind_names[c->kind]);
		free(t);
		return NULL;
	}
	if ((c->dtype || c->vdtype > 0) && c->head_dim % 2) {
		kva_errf(e, NULL, "--head-dim must be even for 16-bit caches");
		free(t);
		return NULL;
	}
	if (!c->cmd && (t->sofd = open(c->so, O_RDONLY | O_CLOEXEC)) < 0) {
		kva_errf(e, NULL, "%s: %s", c->so, strerror(errno));
		free(t);
		return NULL;
	}
	t->t0 = kva_now();
	if (kva_oracle_world(c->o, &t->world, e) || kva_trap_ensure_child(t, e) < 0) {
		if (t->sofd >= 0)
			close(t->sofd);
		free(t);
		return NULL;
	}
	return t;
}

/* ---- queueing ----------------------------------------------------------------- */

int kva_trap_add(kva_trap *t, const kva_args *a, const kva_route *expect,
		 const char *file, long line, kva_err *e)
{
	struct tcase *k;

	for (int i = 0; i < t->c.o->ntab; i++)
		if (a->tab[i].n > MAX_TABLE)
			return kva_errf(e, t->c.o->tab[i], "longer than %u entries",
					MAX_TABLE);
	if (t->stop_why[0] && !t->nq) {  /* the rest is not run */
		t->cases++;
		t->not_run++;
		return 0;
	}
	if (t->c.kind != KVA_KIND_ROUTE) {
		int64_t bs = kva_trap_inputs_bs(t, a->in);

		/* a block (or page) of more than KERNEL_MAX_BS tokens is a
		 * route's case only (route-oracle's block-size and
		 * long-request overflow cases): no cache of it is built */
		if (bs > KERNEL_MAX_BS) {
			t->too_large++;
			return 0;
		}
		/* a kernel is given only the block sizes it claims */
		if (!kva_trap_claims_bs(t, bs)) {
			t->unclaimed++;
			return 0;
		}
	}
	if (t->nq && file != t->file && kva_trap_flush(t, e))
		return -1;
	t->file = file;
	if (t->nq == t->capq) {
		t->capq = t->capq ? 2 * t->capq : 1024;
		if (!(t->q = realloc(t->q, t->capq * sizeof *t->q)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
	}
	k = &t->q[t->nq++];
	memset(k, 0, sizeof *k);
	memcpy(k->in, a->in, sizeof k->in);
	for (int i = 0; i < t->c.o->ntab; i++) {
		if (t->npool + a->tab[i].n > t->cappool) {
			t->cappool = 2 * (t->npool + a->tab[i].n) + 1024;
			if (!(t->pool = realloc(t->pool, t->cappool * sizeof *t->pool)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
		}
		k->toff[i] = t->npool;
		k->tlen[i] = a->tab[i].n;
		if (a->tab[i].n)
			memcpy(t->pool + t->npool, a->tab[i].v,
			       a->tab[i].n * sizeof *t->pool);
		t->npool += a->tab[i].n;
	}
	k->expect = *expect;
	k->line = line;
	k->index = t->cases + t->nq - 1;
	k->cls = -1;
	k->overflow = t->queue_overflow;
	/* kernels: --batch bounds a call; the queue holds several calls'
	 * worth, so mixed block sizes still make full calls */
	if (t->nq >= (t->c.kind == KVA_KIND_ROUTE ? t->c.batch : KERNEL_QUEUE * t->c.batch))
		return kva_trap_flush(t, e);
	return 0;
}

/* Cases [from, to) of the queue will not run: count them. */
void kva_trap_skip(kva_trap *t, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (!t->q[i].skipped) {
			t->q[i].skipped = 1;
			t->not_run++;
		}
}

/* A crash pinned to its case: each costs a new child, so after
 * CRASH_BUDGET of them the rest is not run (the verdict is HARD_BLOCK
 * already). */
#define CRASH_BUDGET 256

void kva_trap_count_crash(kva_trap *t)
{
	char why[160];

	if (++t->crashes < (t->c.stop_first ? 1 : CRASH_BUDGET))
		return;
	if (t->c.stop_first)
		snprintf(why, sizeof why, "stopped at the first divergence");
	else
		snprintf(why, sizeof why, "crash budget spent: %d crashes", CRASH_BUDGET);
	kva_trap_stop_running(t, why);
}

/* A timeout pinned to its case: spend the hang budget. */
void kva_trap_count_hang(kva_trap *t)
{
	char why[160];

	if (++t->hangs < (uint64_t)t->c.max_hangs && !t->c.stop_first)
		return;
	if (t->c.stop_first) {
		kva_trap_stop_running(t, "stopped at the first divergence");
		return;
	}
	snprintf(why, sizeof why, "hang budget spent: %llu timeout%s (--max-hangs %d)",
		 (unsigned long long)t->hangs, t->hangs == 1 ? "" : "s", t->c.max_hangs);
	kva_trap_stop_running(t, why);
}

/* Binary answers: a complete one is progress, bytes are not. */
int kva_trap_bytes_done(kva_buf *b, void *ctx, uint64_t *units)
{
	const struct want *w = ctx;

	*units = b->len / w->unit;
	return b->len >= w->bytes;
}

/*
 * The soak of a fresh child (MODE_SOAK): --soak calls, at most SOAK_MS,
 * before any case, so a candidate that counts its calls and changes after
 * some number of them has changed before it is judged.  A soak that
 * crashes, hangs or answers garbage ends the soaks of the run (the cases
 * then find what is wrong, each pinned to its own): the child is stopped
 * and the next one is not soaked.  The fewest calls a soak made is kept.
 */
#define SOAK_MS 250

static void soak(kva_trap *t)
{
	struct req_hdr hd = { REQ_MAGIC, MODE_SOAK, 0, 0, 0, 0, sizeof(struct sreq) };
	struct sreq sq;
	struct srep sp;
	struct want w = { sizeof sp, sizeof sp, 0, 0, 0 };
	int st;

	if (t->c.cmd || !t->c.soak || t->soak_why)
		return;
	/* once a case diverged, crashed or hung the verdict is HARD_BLOCK:
	 * a later child (most are started after a crash) is not soaked */
	if (t->diverged || t->divergence > 0 || t->crashes || t->hangs)
		return;
	if (t->c.cuda) {
		t->soak_why = "not on --device cuda";
		return;
	}
	memset(&sq, 0, sizeof sq);
	sq.desc.layout = t->c.layout;
	sq.desc.num_blocks = 1;
	/* a block size the kernel claims */
	sq.desc.block_size = t->has_cons && t->cons.block_sizes[0] ? t->cons.block_sizes[0] : 16;
	sq.desc.num_heads = t->c.heads;
	sq.desc.head_dim = t->c.head_dim;
	sq.desc.x = t->c.layout == KVA_LAYOUT_VLLM_X ? t->c.x : 1;
	sq.desc.dtype = t->abi & GREET_PAIR ? t->c.dtype : KVA_DTYPE_F32;
	sq.calls = t->c.soak;
	sq.ms = SOAK_MS;
	hd.seq = ++t->seq;
	t->req.len = 0;
	kva_buf_put(&t->req, &hd, sizeof hd);
	kva_buf_put(&t->req, &sq, sizeof sq);
	t->rep.len = 0;
	st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep, kva_trap_bytes_done,
			      &w, t->c.lim.timeout_s + SOAK_MS / 1000.0);
	if (st == KVA_SBX_OK) {
		memcpy(&sp, t->rep.p, sizeof sp);
		if (sp.tag != t->seq || t->rep.len != sizeof sp)
			st = SBX_GARBLED;
	}
	if (st != KVA_SBX_OK) {
		/* valid inputs all: a finding, if of no case */
		snprintf(t->soak_buf, sizeof t->soak_buf, "%s", st == KVA_SBX_TIMEOUT ?
			 "no answer within --timeout" : st == SBX_GARBLED ?
			 "answer garbled: the reply pipe held bytes that are not the trap's" :
			 t->sbx.why);
		kva_sbx_stop(&t->sbx);
		load_finding(t, "soak", st == KVA_SBX_TIMEOUT ? KVA_C_TIMEOUT : st ==
			     SBX_GARBLED ? KVA_C_ERROR : KVA_C_CRASH, t->soak_buf);
		t->soak_why = "the soak failed (a finding); later children were not soaked";
		return;
	}
	if (!t->soaks || sp.calls < t->soaked)
		t->soaked = sp.calls;
	t->soaks++;
}

/* A child, loaded (and soaked): 0; 1 when the candidate failed while
 * loading (the rest will not run); -1 with e for trouble. */
int kva_trap_ensure_child(kva_trap *t, kva_err *e)
{
	int rc;

	if (t->sbx.pid > 0)
		return 0;
	if (t->stop_why[0])
		return 1;
	if ((rc = greet(t, e)))
		return rc;
	soak(t);
	if (t->sbx.pid > 0)
		return 0;
	return greet(t, e);   /* the soak failed: a child without one */
}

uint64_t kva_trap_mix64(uint64_t h, uint64_t v)
{
	uint64_t z = h + 0x9e3779b97f4a7c15ULL + v * 0xbf58476d1ce4e5b9ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Order on failing cases: smaller inputs first (sum of magnitudes, then
 * the inputs in order, then table lengths), so "first" is reproducible and
 * the smallest reproducer. */
static int smaller(const kva_trap *t, const struct tcase *a,
		   const struct tcase *b)
{
	uint64_t sa = 0, sb = 0;
	const kva_oracle *o = t->c.o;

	for (int i = 0; i < o->nin; i++) {
		sa += (uint64_t)llabs(a->in[i]);
		sb += (uint64_t)llabs(b->in[i]);
	}
	for (int i = 0; i < o->ntab; i++) {
		sa += a->tlen[i];
		sb += b->tlen[i];
	}
	if (sa != sb)
		return sa < sb;
	for (int i = 0; i < o->nin; i++)
		if (a->in[i] != b->in[i])
			return a->in[i] < b->in[i];
	return a->index < b->index;
}

/* Write the inputs of k as ,"name":v... */
static void put_inputs(const kva_trap *t, kva_buf *b, const struct tcase *k,
		       const int64_t *pool)
{
	kva_args a;

	memset(&a, 0, sizeof a);
	memcpy(a.in, k->in, sizeof a.in);
	for (int j = 0; j < t->c.o->ntab; j++) {
		a.tab[j].v = (int64_t *)(uintptr_t)(pool + k->toff[j]);
		a.tab[j].n = k->tlen[j];
	}
	kva_args_write(b, t->c.o, &a);
}

static void put_got(const kva_trap *t, kva_buf *b, const struct tcase *k)
{
	if (k->cls == KVA_C_CRASH || k->cls == KVA_C_TIMEOUT ||
	    k->cls == KVA_C_ERROR || !k->got.done) {
		kva_buf_puts(b, "null");
		return;
	}
	if (k->got.rc != 0) {
		kva_buf_puts(b, "{\"none\":true}");
		return;
	}
	if (t->c.kind != KVA_KIND_ROUTE) {
		kva_buf_puts(b, "{\"slot\":");
		kva_buf_i64(b, k->got.out[0]);
		kva_buf_putc(b, '}');
		return;
	}
	kva_route r = { KVA_ROUTED, { 0 } };

	memcpy(r.out, k->got.out, sizeof r.out);
	kva_route_write(b, t->c.o, &r);
}


/* ImpactArbiter's short names for the radix-2d inputs, in its map lines. */
static const char *short_name(const kva_trap *t, int i)
{
	static const char *const r2[] = { "b", "h", "prefix_h", "N_h", "bs" };

	if (t->oid == OR_RADIX_2D)
		return r2[i];
	return t->c.o->in[i];
}

static void put_coords(const kva_trap *t, kva_buf *b, const int64_t *out)
{
	for (int i = 0; i < t->c.o->nout; i++)
		kva_buf_printf(b, "%s%s=%lld", i ? " " : "", t->c.o->out[i],
			       (long long)out[i]);
}

/* The map lines for one diverging case, as ImpactArbiter prints them. */
static void map_lines(kva_trap *t, const struct tcase *k)
{
	kva_buf *b = &t->map;
	int nout = t->c.o->nout;

	kva_buf_puts(b, "Token (");
	for (int i = 0; i < t->c.o->nin; i++)
		kva_buf_printf(b, "%s%s=%lld", i ? "," : "", short_name(t, i),
			       (long long)k->in[i]);
	kva_buf_puts(b, ") | Expected: ");
	if (k->expect.status == KVA_UNMAPPED)
		kva_buf_puts(b, "unmapped (no write)");
	else if (k->expect.status == KVA_PADDING)
		kva_buf_puts(b, "padding (no write)");
	else
		put_coords(t, b, k->expect.out);
	kva_buf_puts(b, " | Got: ");
	switch (k->cls) {
	case KVA_C_CRASH:
	case KVA_C_TIMEOUT:
	case KVA_C_ERROR:
		kva_buf_printf(b, "%s (%s)\n", kva_class_names[k->cls], k->why);
		return;
	}
	if (t->c.kind != KVA_KIND_ROUTE) {
		int64_t s = kva_trap_case_slot(t, k), rowf = (int64_t)t->c.heads * t->c.head_dim;

		if (k->got.rc == 0)
			kva_buf_printf(b, "slot=%lld\nNon-zero gradient at: [slot %lld, :] "
				       "\xe2\x80\x94 %lld floats (%s)\n",
				       (long long)k->got.out[0], (long long)k->got.out[0],
				       (long long)rowf, kva_class_names[k->cls]);
		else
			kva_buf_printf(b, "none\nGradient differs at: [slot %lld, :] "
				       "\xe2\x80\x94 %lld floats (%s)\n", (long long)s,
				       (long long)rowf, kva_class_names[k->cls]);
		return;
	}
	if (k->got.rc != 0) {
		kva_buf_puts(b, "no route\n");
		kva_buf_puts(b, "No gradient at: [");
		for (int i = 0; i < nout; i++)
			kva_buf_printf(b, "%lld, ", (long long)k->expect.out[i]);
		kva_buf_printf(b, ":] - %s, %d floats dropped\n",
			       kva_class_names[k->cls], t->c.head_dim);
		return;
	}
	put_coords(t, b, k->got.out);
	kva_buf_puts(b, "\nNon-zero gradient at: [");
	for (int i = 0; i < nout; i++)
		kva_buf_printf(b, "%lld, ", (long long)k->got.out[i]);
	if (k->cls == KVA_C_MISROUTE)
		kva_buf_printf(b, ":] \xe2\x80\x94 misrouted %d floats\n",
			       t->c.head_dim);
	else
		kva_buf_printf(b, ":] \xe2\x80\x94 misrouted %d floats (%s)\n",
			       t->c.head_dim, kva_class_names[k->cls]);
}


/* Remember the tokens of k's queue that share its cache: the rows the
 * two dumped gradients are made of.  Routes: same world (sizes, tables);
 * kernels: same block size, cells are slots.  In generator mode the
 * queue holds only the diverging tokens. */
static void keep_world(kva_trap *t, const struct tcase *k)
{
	int route = t->c.kind == KVA_KIND_ROUTE;
	uint64_t w = route ? kva_trap_world_hash(t, k) : 0;

	t->nwtok = 0;
	free(t->wtok);
	if (!(t->wtok = calloc(t->nq + 1, sizeof *t->wtok)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < t->nq; i++) {
		const struct tcase *u = &t->q[i];
		struct dtok *d = &t->wtok[t->nwtok];

		if (u->skipped ||
		    (route ? kva_trap_world_hash(t, u) != w : kva_trap_case_bs(t, u) != kva_trap_case_bs(t, k)))
			continue;
		d->index = u->index;
		if (route) {
			d->oroute = u->expect.status == KVA_ROUTED;
			memcpy(d->oc, u->expect.out, sizeof d->oc);
			d->croute = u->got.done && u->got.rc == 0 &&
				    (u->cls < 0 || u->cls < KVA_C_CRASH);
			memcpy(d->cc, u->cls < 0 ? u->expect.out : u->got.out, sizeof d->cc);
		} else {
			int64_t s = kva_trap_case_slot(t, u);

			d->oroute = s >= 0;
			d->oc[0] = s;
			d->croute = u->cls < 0 ? s >= 0 : u->got.done && u->got.rc == 0;
			d->cc[0] = u->cls < 0 ? s : u->got.out[0];
		}
		t->nwtok++;
	}
}

/* Tell conf.on_div of the diverging case k, with k as a case record. */
static void tell_div(kva_trap *t, const struct tcase *k)
{
	kva_buf b = { 0 };
	kva_trap_div d;
	const char *o = t->c.o->name;

	kva_buf_puts(&b, "{\"type\":\"case\",\"oracle\":");
	kva_buf_jstr(&b, o, strlen(o));
	put_inputs(t, &b, k, t->pool);
	kva_buf_puts(&b, ",\"expect\":");
	kva_route_write(&b, t->c.o, &k->expect);
	kva_buf_putc(&b, '}');
	memset(&d, 0, sizeof d);
	d.index = k->index;
	d.file = k->line && t->file ? t->file : "";
	d.line = k->line;
	d.cls = k->cls;
	d.case_json = b.p;
	t->c.on_div(t->c.on_div_ctx, &d);
	kva_buf_free(&b);
}

/* Account for one judged case: counts, divergence record, map, first. */
static void record(kva_trap *t, struct tcase *k)
{
	kva_buf b = { 0 };
	int hi = -1, bi = -1;

	t->diverged++;
	t->cls[k->cls]++;
	if (t->c.kind == KVA_KIND_ROUTE)
		t->divergence = 1.0; /* |g_t| = 1: one token fully elsewhere */
	if (!t->have_first || smaller(t, k, &t->first)) {
		int64_t *tabs;
		size_t tot = 0, off = 0;

		for (int i = 0; i < t->c.o->ntab; i++)
			tot += k->tlen[i];
		if (!(tabs = malloc((tot + 1) * sizeof *tabs)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		t->first = *k;
		for (int i = 0; i < t->c.o->ntab; i++) {
			memcpy(tabs + off, t->pool + k->toff[i], k->tlen[i] * sizeof *tabs);
			t->first.toff[i] = off;
			off += k->tlen[i];
		}
		free(t->first_tab);
		t->first_tab = tabs;
		t->have_first = 1;
		keep_world(t, k);
		snprintf(t->first_file, sizeof t->first_file, "%s",
			 t->file ? t->file : "");
	}
	/* heat map of misrouted mass by the cell's head and block */
	for (int i = 0; i < t->c.o->nout; i++) {
		if (!strcmp(t->c.o->out[i], "head"))
			hi = i;
		if (!strcmp(t->c.o->out[i], "block") || !strcmp(t->c.o->out[i], "page"))
			bi = i;
	}
	if (t->c.kind == KVA_KIND_ROUTE && k->got.done && k->got.rc == 0 && bi >= 0) {
		int64_t h = hi >= 0 ? k->got.out[hi] : 0, bl = k->got.out[bi];

		if (h >= 0 && h < 8 && bl >= 0 && bl < 16) {
			t->heat[h][bl] += (uint64_t)t->c.head_dim;
			if (h + 1 > t->heat_h)
				t->heat_h = (int)h + 1;
			if (bl + 1 > t->heat_b)
				t->heat_b = (int)bl + 1;
		}
	}
	if (t->c.on_div)
		tell_div(t, k);
	if (t->c.stop_first)
		kva_trap_stop_running(t, "stopped at the first divergence");
	if (t->printed >= (uint64_t)t->c.max_map)
		return;
	t->printed++;
	map_lines(t, k);
	if (t->c.text)
		return;
	kva_buf_puts(&b, "{\"type\":\"divergence\",\"case\":");
	kva_buf_i64(&b, (int64_t)k->index);
	if (k->line) {
		kva_buf_puts(&b, ",\"file\":");
		kva_buf_jstr(&b, t->file, strlen(t->file));
		kva_buf_puts(&b, ",\"line\":");
		kva_buf_i64(&b, k->line);
	}
	kva_buf_puts(&b, ",\"class\":");
	kva_buf_jstr(&b, kva_class_names[k->cls], strlen(kva_class_names[k->cls]));
	kva_buf_puts(&b, ",\"oracle\":");
	kva_buf_jstr(&b, t->c.o->name, strlen(t->c.o->name));
	kva_buf_puts(&b, ",\"inputs\":{");
	{
		size_t at = b.len;

		put_inputs(t, &b, k, t->pool);
		b.p[at] = ' '; /* drop the leading comma */
		memmove(b.p + at, b.p + at + 1, b.len - at - 1);
		b.len--;
	}
	kva_buf_puts(&b, "},\"expect\":");
	kva_route_write(&b, t->c.o, &k->expect);
	kva_buf_puts(&b, ",\"got\":");
	put_got(t, &b, k);
	if (k->why[0]) {
		kva_buf_puts(&b, ",\"why\":");
		kva_buf_jstr(&b, k->why, strlen(k->why));
	}
	kva_buf_puts(&b, ",\"divergence\":1,\"floats\":");
	kva_buf_i64(&b, t->c.kind == KVA_KIND_ROUTE ? t->c.head_dim :
		    (int64_t)t->c.heads * t->c.head_dim);
	kva_buf_putc(&b, '}');
	kva_out_record(&b);
	kva_buf_free(&b);
}

/* The candidate crashed, exited or hung while loading (its constructors
 * run then): a finding of its own, with no case to pin it to; every case
 * from here on is not run. */
/* A finding outside any case: the candidate failed while loading (the
 * rest is not run) or in its soak (phase "soak": the cases still run). */
static void load_finding(kva_trap *t, const char *phase, int cls, const char *why)
{
	char stop[160];
	kva_buf b = { 0 };
	int load = !strcmp(phase, "load");

	t->cls[cls]++;
	t->divergence = 1;
	if (t->load_cls < 0) {
		t->load_cls = cls;
		t->load_phase = phase;
		snprintf(t->load_why, sizeof t->load_why, "%s", why);
	}
	if (load) {
		snprintf(stop, sizeof stop, "the candidate did not load: %s %s",
			 kva_class_names[cls], why);
		kva_trap_stop_running(t, stop);
	}
	if (t->c.on_div) {
		kva_trap_div d;

		memset(&d, 0, sizeof d);
		d.cls = cls;
		d.phase = phase;
		d.file = "";
		t->c.on_div(t->c.on_div_ctx, &d);
	}
	kva_buf_printf(&t->map, "%s | Expected: %s | Got: %s (%s)\n",
		       load ? "Load" : "Soak", load ? "the candidate's symbol" :
		       "an answer to each call", kva_class_names[cls], why);
	if (t->c.text)
		return;
	kva_buf_printf(&b, "{\"type\":\"divergence\",\"phase\":\"%s\",\"class\":", phase);
	kva_buf_jstr(&b, kva_class_names[cls], strlen(kva_class_names[cls]));
	kva_buf_puts(&b, ",\"oracle\":");
	kva_buf_jstr(&b, t->c.o->name, strlen(t->c.o->name));
	kva_buf_puts(&b, ",\"candidate\":");
	kva_buf_jstr(&b, t->c.cand_name, strlen(t->c.cand_name));
	kva_buf_puts(&b, ",\"why\":");
	kva_buf_jstr(&b, why, strlen(why));
	kva_buf_puts(&b, ",\"divergence\":1}");
	kva_out_record(&b);
	kva_buf_free(&b);
}


int kva_trap_flush(kva_trap *t, kva_err *e)
{
	if (!t->nq)
		return 0;
	if (t->c.kind != KVA_KIND_ROUTE) {
		if (kva_trap_kernel_queue(t, e))
			return -1;
	} else {
		if (kva_trap_route_queue(t, e))
			return -1;
		kva_trap_route_judge(t);
	}
	for (size_t i = 0; i < t->nq; i++)
		if (t->q[i].cls >= 0)
			record(t, &t->q[i]);
	t->cases += t->nq;
	t->nq = 0;
	t->npool = 0;
	return 0;
}

/* ---- built-in generator mode ----------------------------------------------------------- */

/* Parent side of the child's stream: findings since the last heartbeat
 * are held back, and committed (judged, recorded) when one arrives, so a
 * crash can re-run exactly the unaccounted cases. */
struct gstream {
	kva_trap *t;
	uint64_t beat;           /* every case below this is accounted for */
	uint64_t msgs;           /* complete messages: the progress */
	int done, rc;
	int garbled;             /* a message that is not the trap's */
};

static void commit(kva_trap *t, uint64_t beat)
{
	kva_trap_route_judge(t);
	for (size_t i = 0; i < t->nq; i++)
		if (t->q[i].cls >= 0)
			record(t, &t->q[i]);
	t->nq = 0;
	t->npool = 0;
	t->cases = beat;
}

/* Is m one of the trap's messages, in order?  (Bytes a candidate wrote
 * into the pipe by itself are not.) */
static int gmsg_ok(const struct gstream *gs, const struct gmsg *m)
{
	const kva_trap *t = gs->t;
	uint64_t tab = 0;

	if (m->tag != t->seq || m->index < gs->beat)
		return 0;
	if (m->type == GMSG_BEAT || m->type == GMSG_DONE)
		return m->len == 0;
	if (m->type != GMSG_DIV || m->got.done != 1 || m->got.tag != t->seq)
		return 0;
	for (int j = 0; j < KVA_MAX_TAB; j++) {
		if (m->tlen[j] > MAX_TABLE || (j >= t->c.o->ntab && m->tlen[j]))
			return 0;
		tab += (uint64_t)m->tlen[j] * 4;
	}
	return tab == m->len;
}

static int gstream_done(kva_buf *rep, void *ctx, uint64_t *units)
{
	struct gstream *gs = ctx;
	kva_trap *t = gs->t;
	size_t off = 0;

	while (!gs->garbled && rep->len - off >= sizeof(struct gmsg)) {
		struct gmsg m;
		struct tcase *k;

		memcpy(&m, rep->p + off, sizeof m);
		if (!gmsg_ok(gs, &m)) {
			gs->garbled = 1;
			break;
		}
		if (rep->len - off < sizeof m + m.len)
			break;
		if (m.type == GMSG_DIV) {
			const char *tp = rep->p + off + sizeof m;
			kva_args a;
			kva_route r;
			kva_err e;

			if (t->nq == t->capq) {
				t->capq = t->capq ? 2 * t->capq : 1024;
				if (!(t->q = realloc(t->q, t->capq * sizeof *t->q)))
					kva_die(KVA_EXIT_TROUBLE, "out of memory");
			}
			memset(&a, 0, sizeof a);
			memcpy(a.in, m.in, sizeof a.in);
			k = &t->q[t->nq];
			memset(k, 0, sizeof *k);
			memcpy(k->in, m.in, sizeof k->in);
			for (int j = 0; j < t->c.o->ntab; j++) {
				if (t->npool + m.tlen[j] > t->cappool) {
					t->cappool = 2 * (t->npool + m.tlen[j]) + 1024;
					if (!(t->pool = realloc(t->pool, t->cappool * sizeof *t->pool)))
						kva_die(KVA_EXIT_TROUBLE, "out of memory");
				}
				k->toff[j] = t->npool;
				k->tlen[j] = m.tlen[j];
				for (uint32_t x = 0; x < m.tlen[j]; x++) {
					int32_t v;

					memcpy(&v, tp, 4);
					tp += 4;
					t->pool[t->npool++] = v;
				}
			}
			for (int j = 0; j < t->c.o->ntab; j++) {
				a.tab[j].v = t->pool + k->toff[j];
				a.tab[j].n = k->tlen[j];
			}
			if (kva_oracle_eval(t->c.o, &a, &r, &e)) {
				/* not a case the generator makes: not ours */
				gs->garbled = 1;
				break;
			}
			k->expect = r;
			k->got = m.got;
			k->index = m.index;
			k->cls = -1;
			t->nq++;
		} else {
			commit(t, m.index);
			gs->beat = m.index;
			if (m.type == GMSG_DONE) {
				gs->done = 1;
				gs->rc = m.got.rc;
			}
		}
		gs->msgs++;
		off += sizeof m + m.len;
	}
	if (off) {
		memmove(rep->p, rep->p + off, rep->len - off);
		rep->len -= off;
	}
	*units = gs->msgs;
	return gs->done || gs->garbled;
}

struct gen_feed {
	kva_trap *t;
	kva_err *e;
	uint64_t skip, seen;
	int failed;
};

/* kva_emit_fn in the parent (co-processes, kernels, and the remainder of
 * a generator run after the child crashed): queue the case. */
static int feed(void *vctx, const kva_oracle *o, const kva_args *a)
{
	struct gen_feed *f = vctx;
	kva_route r;
	kva_err e;

	if (f->seen++ < f->skip)
		return 0;
	if (kva_oracle_eval(o, a, &r, &e))
		return 0;
	if (kva_trap_add(f->t, a, &r, "", 0, f->e)) {
		f->failed = 1;
		return 1;
	}
	return 0;
}

/* Generate in the parent, skipping the first skip cases. */
static int generate_here(kva_trap *t, const char *mode, const char *arg,
			 uint64_t n, const kva_gen_opts *go, uint64_t skip,
			 kva_err *e)
{
	struct gen_feed f = { t, e, skip, 0, 0 };
	kva_gen_opts kgo = go ? *go : (kva_gen_opts){ 0 };
	int rc;

	kgo.kernel = t->c.kind != KVA_KIND_ROUTE;
	if (!strcmp(mode, "boundaries")) {
		rc = kva_gen_fixtures(t->c.o, feed, &f, e);
		if (!rc && !f.failed)
			rc = kva_gen_boundaries(t->c.o, &kgo, feed, &f, e);
		/* kernels: and calls the size engines make */
		if (!rc && !f.failed && t->c.kind != KVA_KIND_ROUTE && !skip)
			rc = kva_trap_kernel_calls(t, e);
	} else if (!strcmp(mode, "sweep")) {
		rc = kva_gen_sweep(t->c.o, arg, go, feed, &f, e);
	} else {
		rc = kva_gen_random(t->c.o, n, go, feed, &f, e);
	}
	if (rc || f.failed)
		return -1;
	return kva_trap_flush(t, e);
}

/* kva_emit_fn that stops at the first case: checks a sweep spec. */
static int stop_at_once(void *ctx, const kva_oracle *o, const kva_args *a)
{
	(void)ctx;
	(void)o;
	(void)a;
	return 1;
}

/*
 * See trap.h.  Route candidates in a shared object: the child generates
 * the cases and runs them itself, streaming back only disagreements and a
 * heartbeat every BEAT_EVERY cases.  If it crashes or hangs, the cases
 * after the last heartbeat are generated here and run batch-wise, which
 * pins the culprit to its case.
 */
int kva_trap_generate(kva_trap *t, const char *mode, const char *arg,
		      uint64_t n, const kva_gen_opts *go, kva_err *e)
{
	struct req_hdr hd = { REQ_MAGIC, MODE_GENERATE, 0, 0, 0, 0, 0 };
	struct greq gr;
	struct gstream gs;
	int st, g;

	if (t->c.cmd || t->c.kind != KVA_KIND_ROUTE)
		return generate_here(t, mode, arg, n, go, 0, e);
	/* validate the spec here: a bad one is our error, not the child's */
	if (!strcmp(mode, "sweep") && kva_gen_sweep(t->c.o, arg, go, stop_at_once,
						     NULL, e))
		return -1;
	if ((g = kva_trap_ensure_child(t, e)) < 0)
		return -1;
	if (g > 0)               /* it does not load: count what is not run */
		return generate_here(t, mode, arg, n, go, 0, e);
	memset(&gr, 0, sizeof gr);
	gr.gen = !strcmp(mode, "boundaries") ? 0 : !strcmp(mode, "sweep") ? 1 : 2;
	gr.speclen = arg ? (uint32_t)strlen(arg) : 0;
	gr.n = n;
	gr.seed = go->seed;
	gr.num_heads = go->num_heads;
	hd.seq = ++t->seq;
	t->req.len = 0;
	kva_buf_put(&t->req, &hd, sizeof hd);
	kva_buf_put(&t->req, &gr, sizeof gr);
	kva_buf_put(&t->req, arg ? arg : "", gr.speclen);
	((struct req_hdr *)(void *)t->req.p)->len = t->req.len - sizeof hd;
	memset(&gs, 0, sizeof gs);
	gs.t = t;
	t->rep.len = 0;
	st = kva_sbx_exchange(&t->sbx, t->req.p, t->req.len, &t->rep, gstream_done,
			      &gs, t->c.lim.timeout_s);
	if (st == KVA_SBX_OK && !gs.garbled) {
		if (gs.rc)
			return kva_errf(e, NULL, "generator failed in the sandbox");
		return 0;
	}
	/* a crash, hang or garbled stream: drop the findings after the last
	 * heartbeat and redo those cases batch-wise, which pins the culprit */
	kva_sbx_stop(&t->sbx);
	t->nq = 0;
	t->npool = 0;
	t->cases = gs.beat;
	return generate_here(t, mode, arg, n, go, gs.beat, e);
}

/* ---- reports ------------------------------------------------------------------------------ */

/* HARD_BLOCK when the gradients differ by more than --tol, or when the
 * candidate crashed, hung or answered nonsense (no gradient at all). */
int kva_trap_verdict(const kva_trap *t)
{
	return t->divergence > t->c.tol || t->cls[KVA_C_CRASH] ||
	       t->cls[KVA_C_TIMEOUT] || t->cls[KVA_C_ERROR] ||
	       t->cls[KVA_C_INPUT_MUTATION] || t->cls[KVA_C_NONDETERMINISTIC];
}

static void put_classes(const kva_trap *t, kva_buf *b)
{
	kva_buf_putc(b, '{');
	for (int i = 0; i < KVA_C_N; i++) {
		if (i)
			kva_buf_putc(b, ',');
		kva_buf_jstr(b, kva_class_names[i], strlen(kva_class_names[i]));
		kva_buf_putc(b, ':');
		kva_buf_i64(b, (int64_t)t->cls[i]);
	}
	kva_buf_putc(b, '}');
}

static void put_first(const kva_trap *t, kva_buf *b)
{
	if (t->bfirst.len) {
		kva_buf_put(b, t->bfirst.p, t->bfirst.len);
		return;
	}
	if (!t->have_first && t->load_cls >= 0) {
		kva_buf_puts(b, "{\"class\":");
		kva_buf_jstr(b, kva_class_names[t->load_cls],
			     strlen(kva_class_names[t->load_cls]));
		kva_buf_printf(b, ",\"phase\":\"%s\",\"why\":", t->load_phase);
		kva_buf_jstr(b, t->load_why, strlen(t->load_why));
		kva_buf_putc(b, '}');
		return;
	}
	if (!t->have_first) {
		kva_buf_puts(b, "null");
		return;
	}
	kva_buf_puts(b, "{\"class\":");
	kva_buf_jstr(b, kva_class_names[t->first.cls],
		     strlen(kva_class_names[t->first.cls]));
	kva_buf_puts(b, ",\"case\":");
	kva_buf_i64(b, (int64_t)t->first.index);
	put_inputs(t, b, &t->first, t->first_tab);
	kva_buf_puts(b, ",\"expect\":");
	kva_route_write(b, t->c.o, &t->first.expect);
	kva_buf_puts(b, ",\"got\":");
	put_got(t, b, &t->first);
	kva_buf_putc(b, '}');
}

static double elapsed(const kva_trap *t)
{
	return (t->t1 > 0 ? t->t1 : kva_now()) - t->t0;
}

/* Cases run and judged (the rest were not run). */
static uint64_t checked(const kva_trap *t)
{
	return t->cases - t->not_run;
}

static int profile(const kva_trap *t)
{
	return t->c.cmd ? KVA_SBX_CMD : t->c.cuda ? KVA_SBX_CUDA : KVA_SBX_LOADER;
}

/* The kernel's constraints as JSON, or null. */
static void put_constraints(const kva_trap *t, kva_buf *b)
{
	const kva_constraints *c = &t->cons;
	int first = 1;

	if (!t->has_cons) {
		kva_buf_puts(b, "null");
		return;
	}
	kva_buf_puts(b, "{\"block_sizes\":[");
	for (int i = 0; i < 8 && c->block_sizes[i]; i++)
		kva_buf_printf(b, "%s%d", i ? "," : "", (int)c->block_sizes[i]);
	kva_buf_printf(b, "],\"head_dim_multiple\":%d,\"max_tokens\":%d,\"layouts\":[",
		       (int)c->head_dim_multiple, (int)c->max_tokens);
	for (int l = 0; l < 3; l++)
		if (!c->layouts || (c->layouts & (1u << l))) {
			kva_buf_printf(b, "%s\"%s\"", first ? "" : ",", kva_layout_names[l]);
			first = 0;
		}
	kva_buf_printf(b, "],\"strided\":%s}", c->flags & KVA_CAN_STRIDED ? "true" : "false");
}

/* The reference a run is held against: the oracle, or a block-copy
 * kind's CPU twin. */
static const char *oracle_name(const kva_trap *t)
{
	if (KVA_KIND_BLOCKS(t->c.kind))
		return t->c.kind == KVA_KIND_COPY_BLOCKS ? "kva_ref_copy_blocks" :
		       "kva_ref_swap_blocks";
	return t->c.o->name;
}

void kva_trap_summary(const kva_trap *t, kva_buf *b)
{
	double s = elapsed(t);
	int hard = kva_trap_verdict(t);
	const char *why;

	kva_buf_puts(b, "{\"type\":\"summary\",\"oracle\":");
	kva_buf_jstr(b, oracle_name(t), strlen(oracle_name(t)));
	kva_buf_puts(b, ",\"kind\":\"");
	kva_buf_puts(b, kva_kind_names[t->c.kind]);
	kva_buf_puts(b, "\",\"candidate\":{\"path\":");
	kva_buf_jstr(b, t->c.cand_name, strlen(t->c.cand_name));
	kva_buf_puts(b, ",\"sha256\":\"");
	kva_buf_puts(b, t->c.sha256);
	kva_buf_puts(b, "\"},\"cases\":");
	kva_buf_i64(b, (int64_t)checked(t));
	if (KVA_KIND_BLOCKS(t->c.kind))
		kva_buf_printf(b, ",\"calls\":%llu", (unsigned long long)t->bcalls);
	kva_buf_puts(b, ",\"diverged\":");
	kva_buf_i64(b, (int64_t)t->diverged);
	kva_buf_printf(b, ",\"divergence\":%.17g,\"tol\":%.17g,\"verdict\":\"%s\","
		       "\"classes\":", t->divergence, t->c.tol,
		       hard ? "HARD_BLOCK" : "PASS");
	put_classes(t, b);
	kva_buf_puts(b, ",\"first\":");
	put_first(t, b);
	kva_buf_puts(b, ",\"not_run\":");
	kva_buf_i64(b, (int64_t)t->not_run);
	kva_buf_puts(b, ",\"not_run_reason\":");
	if (t->not_run || t->stop_why[0])
		kva_buf_jstr(b, t->stop_why, strlen(t->stop_why));
	else
		kva_buf_puts(b, "null");
	kva_buf_puts(b, ",\"confinement\":");
	kva_sbx_layers_json(b, t->layers, profile(t), t->c.lim.confine);
	kva_buf_printf(b, ",\"soak\":{\"calls\":%llu,\"why_not\":",
		       (unsigned long long)t->soaked);
	if ((why = t->soak_why ? t->soak_why : t->soaks ? NULL : t->c.cmd ?
		   "not for --candidate-cmd" : !t->c.soak ? "--soak 0" : "no child was started"))
		kva_buf_jstr(b, why, strlen(why));
	else
		kva_buf_puts(b, "null");
	kva_buf_putc(b, '}');
	if (t->c.kind != KVA_KIND_ROUTE) {
		kva_buf_puts(b, ",\"constraints\":");
		put_constraints(t, b);
		kva_buf_printf(b, ",\"unclaimed\":%llu,\"too_large\":%llu,\"strided_calls\":%llu",
			       (unsigned long long)t->unclaimed, (unsigned long long)t->too_large,
			       (unsigned long long)t->scalls);
	}
	if (t->c.kind == KVA_KIND_WRITE || t->c.kind == KVA_KIND_GATHER) {
		kva_buf_printf(b, ",\"rows_calls\":%llu,\"paged_calls\":%llu,\"pair_calls\":%llu",
			       (unsigned long long)t->rcalls, (unsigned long long)t->pcalls,
			       (unsigned long long)t->kvcalls);
		kva_buf_printf(b, ",\"overflow\":{\"calls\":%llu,\"tokens\":%llu,"
			       "\"arena_bytes\":%zu,\"why_not\":",
			       (unsigned long long)t->ocalls,
			       (unsigned long long)t->otokens, t->arena);
		if (t->overflow_why)
			kva_buf_jstr(b, t->overflow_why, strlen(t->overflow_why));
		else
			kva_buf_puts(b, "null");
		kva_buf_putc(b, '}');
	}
	kva_buf_printf(b, ",\"seconds\":%.6f,\"cases_per_s\":%.0f,\"seed\":%llu}",
		       s, s > 0 ? (double)checked(t) / s : 0.0,
		       (unsigned long long)t->c.seed);
}

/* What a PASS does not cover: the cases outside the kernel's claims. */
static void unclaimed_line(const kva_trap *t, kva_buf *b)
{
	if (t->unclaimed)
		kva_buf_printf(b, "%llu cases not checked: outside what the kernel "
			       "claims (kva_kernel_constraints)\n",
			       (unsigned long long)t->unclaimed);
	if (t->too_large)
		kva_buf_printf(b, "%llu cases not checked: a block of more than %lld "
			       "tokens, which no kernel cache holds (routes only)\n",
			       (unsigned long long)t->too_large, (long long)KERNEL_MAX_BS);
}

void kva_trap_text(const kva_trap *t, kva_buf *b)
{
	static const char ramp[] = " .:-=+*#%@";

	if (!kva_trap_verdict(t)) {
		kva_buf_printf(b, "[AUTOGRAD TRAP PASS] divergence=%.2e <= tol=%.0e "
			       "(%llu cases, oracle %s)\n", t->divergence, t->c.tol,
			       (unsigned long long)checked(t), oracle_name(t));
		unclaimed_line(t, b);
		return;
	}
	kva_buf_printf(b, "[AUTOGRAD TRAP FAIL \xe2\x80\x94 HARD_BLOCK] divergence=%.2e "
		       "> tol=%.0e\n", t->divergence, t->c.tol);
	if (KVA_KIND_BLOCKS(t->c.kind)) {
		kva_buf_puts(b, "BLOCK COPY MAP \xe2\x80\x94 [src,dst] pairs\n");
	} else {
		kva_buf_puts(b, "GRADIENT DIVERGENCE MAP \xe2\x80\x94 KV_cache.grad (");
		for (int i = 0; i < t->c.o->nout; i++)
			kva_buf_printf(b, "%s%s", i ? " \xc3\x97 " : "", t->c.o->out[i]);
		kva_buf_puts(b, ")\n");
	}
	kva_buf_put(b, t->map.p ? t->map.p : "", t->map.len);
	if (t->diverged > t->printed)
		kva_buf_printf(b, "... %llu more diverging cases (see --max-map)\n",
			       (unsigned long long)(t->diverged - t->printed));
	kva_buf_printf(b, "%llu of %llu cases diverged:", (unsigned long long)t->diverged,
		       (unsigned long long)checked(t));
	for (int i = 0; i < KVA_C_N; i++)
		if (t->cls[i])
			kva_buf_printf(b, " %s=%llu", kva_class_names[i],
				       (unsigned long long)t->cls[i]);
	kva_buf_putc(b, '\n');
	if (t->not_run)
		kva_buf_printf(b, "%llu cases not run: %s\n",
			       (unsigned long long)t->not_run, t->stop_why);
	unclaimed_line(t, b);
	if (t->heat_b > 0) {
		uint64_t max = 1;

		for (int h = 0; h < t->heat_h; h++)
			for (int bl = 0; bl < t->heat_b; bl++)
				if (t->heat[h][bl] > max)
					max = t->heat[h][bl];
		kva_buf_puts(b, "misrouted mass, head \xc3\x97 block (where it landed):\n");
		kva_buf_puts(b, "     block");
		for (int bl = 0; bl < t->heat_b; bl++)
			kva_buf_printf(b, "%3d", bl);
		kva_buf_putc(b, '\n');
		for (int h = 0; h < t->heat_h; h++) {
			kva_buf_printf(b, "head %-6d", h);
			for (int bl = 0; bl < t->heat_b; bl++) {
				uint64_t v = t->heat[h][bl];
				int lvl = v ? 1 + (int)((v * 8) / max) : 0;

				kva_buf_puts(b, "  ");
				kva_buf_putc(b, ramp[lvl > 9 ? 9 : lvl]);
			}
			kva_buf_putc(b, '\n');
		}
	}
}

void kva_trap_get_facts(const kva_trap *t, kva_trap_facts *f)
{
	kva_buf b = { 0 };

	memset(f, 0, sizeof *f);
	f->cases = checked(t);
	f->not_run = t->not_run;
	f->overflow_calls = t->ocalls;
	f->diverged = t->diverged;
	f->divergence = t->divergence;
	f->seconds = elapsed(t);
	f->verdict = kva_trap_verdict(t) ? "HARD_BLOCK" : "PASS";
	if (t->have_first || t->load_cls >= 0) {
		put_first(t, &b);
		snprintf(f->first_case, sizeof f->first_case, "%s", b.p);
	}
	b.len = 0;
	put_classes(t, &b);
	snprintf(f->classes, sizeof f->classes, "%s", b.p);
	b.len = 0;
	kva_sbx_layers_json(&b, t->layers, profile(t), t->c.lim.confine);
	snprintf(f->confinement, sizeof f->confinement, "%s", b.p);
	kva_buf_free(&b);
}

/* Signature value of token `id`, element d (seeded, exact in float,
 * in [-1, 1], element 0 always 1 so max|g_t| = 1). */
static float signature(uint64_t seed, uint64_t id, int d)
{
	if (d == 0)
		return 1.0f;
	return (float)((int)(kva_trap_mix64(kva_trap_mix64(seed, id), (uint64_t)d) & 0xffff) - 32768) /
	       32768.0f;
}


/* A row of a dumped gradient: a cell and the tokens scattered into it. */
struct drow {
	int64_t cell[KVA_MAX_OUT];
	uint64_t index;
};

static int ncoord;

static int drow_cmp(const void *a, const void *b)
{
	const struct drow *x = a, *y = b;

	for (int i = 0; i < ncoord; i++)
		if (x->cell[i] != y->cell[i])
			return x->cell[i] < y->cell[i] ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* See trap.h.  Each tensor is the scatter of the world's token
 * signatures into the cells the oracle (or the candidate) chose; tokens
 * in one cell add up, as gradients do.  Cells with a negative coordinate
 * cannot be indexed and are counted in "outside". */
int kva_trap_dump(const kva_trap *t, const char *path, kva_err *e)
{
	int route = t->c.kind == KVA_KIND_ROUTE;
	int nc = route ? t->c.o->nout : 1;
	int64_t width = route ? t->c.head_dim : (int64_t)t->c.heads * t->c.head_dim;
	int64_t shape[KVA_MAX_OUT];
	struct drow *rows = malloc((t->nwtok + 1) * sizeof *rows);
	float *acc = malloc((size_t)width * sizeof *acc);
	kva_buf b = { 0 };
	FILE *fp;

	if (!rows || !acc)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (int i = 0; i < nc; i++)
		shape[i] = 1;
	for (size_t j = 0; j < t->nwtok; j++)
		for (int i = 0; i < nc; i++) {
			const struct dtok *d = &t->wtok[j];

			if (d->oroute && d->oc[i] + 1 > shape[i])
				shape[i] = d->oc[i] + 1;
			if (d->croute && d->cc[i] + 1 > shape[i])
				shape[i] = d->cc[i] + 1;
		}
	if (!(fp = fopen(path, "w"))) {
		free(rows);
		free(acc);
		return kva_errf(e, NULL, "%s: %s", path, strerror(errno));
	}
	for (int which = 0; which < 2; which++) {
		const char *name = which ? "grad.candidate" : "grad.oracle";
		size_t nr = 0, outside = 0;

		for (size_t j = 0; j < t->nwtok; j++) {
			const struct dtok *d = &t->wtok[j];
			const int64_t *c = which ? d->cc : d->oc;
			int neg = 0;

			if (!(which ? d->croute : d->oroute))
				continue;
			for (int i = 0; i < nc; i++)
				neg |= c[i] < 0;
			if (neg) {
				outside++;
				continue;
			}
			memcpy(rows[nr].cell, c, sizeof rows[nr].cell);
			rows[nr++].index = d->index;
		}
		ncoord = nc;
		qsort(rows, nr, sizeof *rows, drow_cmp);
		b.len = 0;
		kva_buf_puts(&b, "{\"type\":\"tensor\",\"name\":");
		kva_buf_jstr(&b, name, strlen(name));
		kva_buf_puts(&b, ",\"dtype\":\"f32\",\"shape\":[");
		for (int i = 0; i < nc; i++)
			kva_buf_printf(&b, "%lld,", (long long)shape[i]);
		kva_buf_printf(&b, "%lld],\"layout\":\"", (long long)width);
		if (route)
			for (int i = 0; i < nc; i++)
				kva_buf_printf(&b, "%s,", t->c.o->out[i]);
		else
			kva_buf_puts(&b, "slot,");
		kva_buf_printf(&b, "%s\",\"source\":\"grad-trap\",\"rows\":\"values\","
			       "\"sparse\":true,\"tokens\":%zu,\"outside\":%zu}\n",
			       route ? "dim" : "head_dim", nr, outside);
		for (size_t j = 0; j < nr;) {
			size_t k = j;

			for (int64_t x = 0; x < width; x++)
				acc[x] = 0;
			for (; k < nr && !memcmp(rows[k].cell, rows[j].cell,
						 (size_t)nc * sizeof(int64_t)); k++)
				for (int64_t x = 0; x < width; x++)
					acc[x] += route ? signature(t->c.seed, rows[k].index, (int)x) :
						  kva_trap_kval(t->c.seed, rows[k].index + 1, (uint64_t)x);
			kva_buf_puts(&b, "{\"type\":\"cells\",\"name\":");
			kva_buf_jstr(&b, name, strlen(name));
			kva_buf_puts(&b, ",\"index\":[");
			for (int i = 0; i < nc; i++)
				kva_buf_printf(&b, "%s%lld", i ? "," : "", (long long)rows[j].cell[i]);
			kva_buf_puts(&b, "],\"values\":[");
			for (int64_t x = 0; x < width; x++)
				kva_buf_printf(&b, "%s%.9g", x ? "," : "", (double)acc[x]);
			kva_buf_puts(&b, "]}\n");
			j = k;
		}
		fwrite(b.p, 1, b.len, fp);
	}
	kva_buf_free(&b);
	free(rows);
	free(acc);
	if (ferror(fp) | fclose(fp))
		return kva_errf(e, NULL, "%s: write error", path);
	return 0;
}

void kva_trap_free(kva_trap *t)
{
	if (!t)
		return;
	kva_sbx_end(&t->sbx, 0.5);
	if (t->sofd >= 0)
		close(t->sofd);
	free(t->q);
	free(t->pool);
	free(t->first_tab);
	free(t->wtok);
	kva_buf_free(&t->req);
	kva_buf_free(&t->rep);
	kva_buf_free(&t->map);
	kva_buf_free(&t->bfirst);
	free(t);
}
