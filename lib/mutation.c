/*
 * mutation.c - grad-trap --mutate: trap the original on the case set
 * (mutation of a wrong candidate means nothing), generate its mutants
 * (lib/mutate.c), build them in --jobs forked workers that report back
 * over a pipe (lib/candidate.c: confined, cached by hash), trap each one
 * as its build arrives, with the original's trap configuration, and
 * report which cases kill which mutant.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "candidate.h"
#include "mutate.h"
#include "mutation.h"

/* ---- the case set ---------------------------------------------------------------- */

void kva_caseset_add(kva_caseset *cs, const kva_args *a, const kva_route *expect,
		     const char *file, long line)
{
	kva_mcase *k;
	size_t f;

	for (f = 0; f < cs->nfiles; f++)
		if (!strcmp(cs->files[f], file))
			break;
	if (f == cs->nfiles) {
		if (!(cs->files = realloc(cs->files, (f + 1) * sizeof *cs->files)) ||
		    !(cs->files[f] = strdup(file)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		cs->nfiles++;
	}
	if (cs->nc == cs->capc) {
		cs->capc = cs->capc ? 2 * cs->capc : 1024;
		if (!(cs->c = realloc(cs->c, cs->capc * sizeof *cs->c)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
	}
	k = &cs->c[cs->nc++];
	memset(k, 0, sizeof *k);
	memcpy(k->in, a->in, sizeof k->in);
	for (int i = 0; i < cs->o->ntab; i++) {
		if (cs->npool + a->tab[i].n > cs->cappool) {
			cs->cappool = 2 * (cs->npool + a->tab[i].n) + 1024;
			if (!(cs->pool = realloc(cs->pool, cs->cappool * sizeof *cs->pool)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
		}
		k->toff[i] = cs->npool;
		k->tlen[i] = a->tab[i].n;
		if (a->tab[i].n)
			memcpy(cs->pool + cs->npool, a->tab[i].v,
			       a->tab[i].n * sizeof *cs->pool);
		cs->npool += a->tab[i].n;
	}
	k->expect = *expect;
	k->file = f;
	k->line = line;
}

void kva_caseset_free(kva_caseset *cs)
{
	for (size_t f = 0; f < cs->nfiles; f++)
		free(cs->files[f]);
	free(cs->files);
	free(cs->c);
	free(cs->pool);
	memset(cs, 0, sizeof *cs);
}

/* The inputs of case k. */
static void case_args(const kva_caseset *cs, const kva_mcase *k, kva_args *a)
{
	memset(a, 0, sizeof *a);
	memcpy(a->in, k->in, sizeof a->in);
	for (int j = 0; j < cs->o->ntab; j++) {
		a->tab[j].v = cs->pool + k->toff[j];
		a->tab[j].n = k->tlen[j];
	}
}

/* ---- one candidate on the case set ------------------------------------------------ */

enum { M_PENDING, M_KILLED, M_SURVIVED, M_NOT_COMPILED, M_EQUIV };
static const char *const status_names[] = { "pending", "killed", "survived",
					    "not_compiled", "equivalent_likely" };

/* Records' cases are keyed by (input, line), generated ones by index:
 * either way the order of the case set, the same for every mutant. */
#define KEY_FILE_SHIFT 44

struct mres {                    /* one candidate's outcome */
	int status;
	int has_first;
	uint64_t first_key, first_index;
	const char *first_file;      /* "" for a generated case */
	long first_line;
	int cls;                     /* the first divergence's, or -1 */
	int phase_cls;               /* a load or soak finding's, or -1 */
	uint64_t *kills;             /* keys of the cases that kill it */
	size_t nkills, capkills;
	int grid_kill;               /* a survivor the grid kills: a gap */
	uint64_t grid_key;           /* its first grid case's key */
	int unit;                    /* --unit-test: 1 its test fails (kills
	                                it), 0 passes, -1 not run */
};

struct gstore {                  /* generated cases that killed, by index */
	char **json;
	size_t n;
};

struct tctx {
	const kva_caseset *cs;
	struct mres *r;
	struct gstore *gs;           /* NULL: no --minimize */
	int all;                     /* run every case (else stop at the
	                                first divergence) */
};

static uint64_t case_key(const kva_caseset *cs, const kva_trap_div *d)
{
	if (!cs->mode && d->line > 0)
		for (size_t f = 0; f < cs->nfiles; f++)
			if (d->file == cs->files[f])
				return ((uint64_t)f << KEY_FILE_SHIFT) | (uint64_t)d->line;
	return d->index;
}

static void on_div(void *ctx, const kva_trap_div *d)
{
	struct tctx *x = ctx;
	struct mres *r = x->r;
	uint64_t key;

	if (d->phase) {
		if (r->phase_cls < 0)
			r->phase_cls = d->cls;
		return;
	}
	key = case_key(x->cs, d);
	if (!r->has_first || key < r->first_key) {
		r->has_first = 1;
		r->first_key = key;
		r->first_index = d->index;
		r->first_file = d->line ? d->file : "";
		r->first_line = d->line;
		r->cls = d->cls;
	}
	if (!x->gs)
		return;
	if (r->nkills == r->capkills) {
		r->capkills = r->capkills ? 2 * r->capkills : 64;
		if (!(r->kills = realloc(r->kills, r->capkills * sizeof *r->kills)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
	}
	r->kills[r->nkills++] = key;
	if (x->cs->mode && d->case_json) {
		struct gstore *g = x->gs;

		if (key >= g->n) {
			size_t n = 2 * key + 1024;

			if (!(g->json = realloc(g->json, n * sizeof *g->json)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
			memset(g->json + g->n, 0, (n - g->n) * sizeof *g->json);
			g->n = n;
		}
		if (!g->json[key] && !(g->json[key] = strdup(d->case_json)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
	}
}

/* Trap the shared object so (name, sha256: as records would show them)
 * on the case set with the original's configuration, silently: the
 * outcome goes to r.  *verdict: kva_trap_verdict's.  Returns 0 or -1
 * with e (trouble). */
static int trap_one(const kva_mutation_conf *mc, const kva_caseset *cs,
		    const char *so, const char *name, const char *sha256,
		    struct tctx *x, int *verdict, kva_trap_facts *f, kva_err *e)
{
	kva_trap_conf c = mc->trap;
	kva_trap *t;
	int rc = 0;

	c.so = so;
	c.cmd = NULL;
	c.cand_name = name;
	memcpy(c.sha256, sha256, sizeof c.sha256);
	c.o = cs->o;
	c.text = 1;               /* no divergence records: ours instead */
	c.max_map = 0;
	c.on_div = on_div;
	c.on_div_ctx = x;
	c.stop_first = !x->all;   /* the original's count, --minimize's matrix */
	x->r->cls = -1;
	x->r->phase_cls = -1;
	if (!(t = kva_trap_new(&c, e)))
		return -1;
	if (cs->mode) {
		rc = kva_trap_generate(t, cs->mode, cs->arg, cs->n, &cs->go, e);
	} else {
		for (size_t i = 0; i < cs->nc && !rc; i++) {
			const kva_mcase *k = &cs->c[i];
			kva_args a;

			case_args(cs, k, &a);
			rc = kva_trap_add(t, &a, &k->expect, cs->files[k->file], k->line, e);
		}
		if (!rc)
			rc = kva_trap_flush(t, e);
	}
	if (!rc) {
		*verdict = kva_trap_verdict(t);
		kva_trap_get_facts(t, f);
	}
	kva_trap_free(t);
	return rc;
}

/* ---- the equivalence grid ------------------------------------------------------------ */

/*
 * A survivor is trapped once more, on a grid made for the oracle alone
 * (not from the case set): the small grid, every scalar input over
 * -1 .. W-2 with W the largest width (at most GRID_WIDTH) for which
 * W^inputs <= GRID_CELLS (GRID_KERNEL_CELLS for a kernel, each of whose
 * cases is a token of a call), and for a route the far rows, each input
 * in turn at each value of grid_far with every other input over
 * -1 .. GRID_NEAR-2.  A kernel has no far rows: a position past 2^31 is
 * a cache of 2^31 tokens.  Cells the oracle rejects are left out; tables
 * are built per cell as --sweep builds them.
 */
#define GRID_CELLS 65536
#define GRID_KERNEL_CELLS 4096
#define GRID_WIDTH 64
#define GRID_NEAR 5
static const int64_t grid_far[] = {
	INT32_MAX, (int64_t)INT32_MAX + 1, UINT32_MAX, (int64_t)UINT32_MAX + 1
};
#define GRID_FILE "<grid>"

struct grid_feed {
	kva_caseset *g;
	long line;
	uint64_t far;                /* cases with an input past INT32_MAX */
};

static int grid_emit(void *ctx, const kva_oracle *o, const kva_args *a)
{
	struct grid_feed *f = ctx;
	kva_route r;
	kva_err e;
	int far = 0;

	if (kva_oracle_eval(o, a, &r, &e))
		return 0;
	/* tables reach a route as int32_t: a value past that is no case */
	for (int t = 0; t < o->ntab; t++)
		for (size_t k = 0; k < a->tab[t].n; k++)
			if (a->tab[t].v[k] > INT32_MAX || a->tab[t].v[k] < INT32_MIN)
				return 0;
	for (int i = 0; i < o->nin; i++)
		far |= a->in[i] > INT32_MAX || a->in[i] < INT32_MIN;
	f->far += (uint64_t)far;
	kva_caseset_add(f->g, a, &r, GRID_FILE, ++f->line);
	return 0;
}

/* One sweep of the grid: input fix at value v (fix < 0: none), every
 * other input over [lo, hi). */
static int grid_sweep(const kva_caseset *cs, struct grid_feed *f, int fix,
		      int64_t v, int64_t lo, int64_t hi, kva_err *e)
{
	const kva_oracle *o = cs->o;
	kva_buf spec = { 0 };
	int rc;

	for (int i = 0; i < o->nin; i++) {
		if (i)
			kva_buf_putc(&spec, ',');
		if (i == fix)
			kva_buf_printf(&spec, "%s=%lld", o->in[i], (long long)v);
		else
			kva_buf_printf(&spec, "%s=%lld:%lld", o->in[i], (long long)lo,
				       (long long)hi);
	}
	kva_buf_putc(&spec, '\0');
	rc = kva_gen_sweep(o, spec.p, &cs->go, grid_emit, f, e);
	kva_buf_free(&spec);
	return rc;
}

/* The grid of cs's oracle into g (case records, file GRID_FILE, lines
 * 1, 2, ...); *far: how many have an input past the int32_t range. */
static int grid_build(const kva_caseset *cs, int kernel, kva_caseset *g,
		      uint64_t *far, kva_err *e)
{
	struct grid_feed f = { g, 0, 0 };
	int nin = cs->o->nin, w = 1;
	uint64_t max = kernel ? GRID_KERNEL_CELLS : GRID_CELLS;

	memset(g, 0, sizeof *g);
	g->o = cs->o;
	g->go = cs->go;
	for (;;) {
		uint64_t cells = 1;

		for (int i = 0; i < nin; i++)
			cells *= (uint64_t)(w + 1);
		if (w + 1 > GRID_WIDTH || cells > max)
			break;
		w++;
	}
	if (grid_sweep(cs, &f, -1, 0, -1, w - 1, e))
		return -1;
	*far = 0;
	if (kernel)
		return 0;
	/* a far row the generator cannot build (a table of 2^31 entries
	 * for a position past 2^31) is left out, keeping the cells of it
	 * made before */
	for (int i = 0; i < nin; i++)
		for (size_t k = 0; k < sizeof grid_far / sizeof *grid_far; k++) {
			kva_err ignored;

			grid_sweep(cs, &f, i, grid_far[k], -1, GRID_NEAR - 1, &ignored);
		}
	*far = f.far;
	return 0;
}

/* Judge the survivor r (shared object so, named name, sha256) on the
 * grid: killed there, it stays a survivor with the case (a gap of the
 * case set); else it is equivalent_likely, but for a narrow mutant when
 * wide is 0: no grid case of a route has an input past the int32_t
 * range, or a kernel's case set made no overflow call (an element
 * index past 2^31 and 2^32).  Returns 0 or -1 with e. */
static int grid_judge(const kva_mutation_conf *mc, const kva_caseset *g,
		      uint64_t wide, const kva_mutant *m, const char *so,
		      const char *name, const char *sha256, struct mres *r,
		      kva_err *e)
{
	struct mres gr;
	struct tctx x = { g, &gr, NULL, 0 };
	kva_trap_facts f;
	int verdict;

	memset(&gr, 0, sizeof gr);
	if (trap_one(mc, g, so, name, sha256, &x, &verdict, &f, e))
		return -1;
	if (verdict || f.not_run) {
		r->grid_kill = gr.has_first ? 1 : 2;
		r->grid_key = gr.first_key;
	} else if (strcmp(m->op, KVA_MUT_NARROW) || wide) {
		r->status = M_EQUIV;
	}
	return 0;
}

/* ---- the model's unit test ----------------------------------------------------------- */

#define UNIT_SYMBOL "test_route"

static int unit_done(kva_buf *rep, void *ctx, uint64_t *units)
{
	size_t want = *(const size_t *)ctx;

	*units = rep->len >= 4;
	return rep->len >= want;
}

/*
 * Run UNIT_SYMBOL() of the shared object so in a loader child, confined
 * as the trap's (same limits, seccomp filter and layers): *fails = 0 when
 * it returned 0; 1 when it returned non-zero, crashed, exited or gave no
 * answer for --timeout seconds.  Returns 0; 1 when so has no such
 * function; -1 with e for trouble (no sandbox).
 */
static int unit_test(const kva_mutation_conf *mc, const char *so, int *fails,
		     kva_err *e)
{
	const kva_sbx_limits *lim = &mc->trap.lim;
	char as[32];
	char *argv[] = { (char *)"grad-trap", (char *)(lim->confine ==
		KVA_CONFINE_OFF ? "--sandbox-unit-noconfine" : lim->confine ==
		KVA_CONFINE_STRICT ? "--sandbox-unit-strict" : "--sandbox-unit"),
		(char *)UNIT_SYMBOL, as, NULL };
	kva_sbx_job job;
	kva_sbx s;
	kva_buf rep = { 0 };
	uint32_t layers = 0, ans[2];
	size_t want = 4;
	int fd, st, rc = 0;

	if ((fd = open(so, O_RDONLY | O_CLOEXEC)) < 0)
		return kva_errf(e, NULL, "%s: %s", so, strerror(errno));
	snprintf(as, sizeof as, "%zu", lim->as_bytes);
	memset(&job, 0, sizeof job);
	job.profile = KVA_SBX_LOADER;
	job.argv = argv;
	job.passfd = fd;
	if (kva_sbx_spawn(&s, lim, &job, e)) {
		close(fd);
		return -1;
	}
	close(fd);
	/* the child's layers first, then, the test run: found, its value */
	st = kva_sbx_exchange(&s, NULL, 0, &rep, unit_done, &want, lim->load_timeout_s);
	if (st == KVA_SBX_OK) {
		memcpy(&layers, rep.p, 4);
		if (kva_sbx_child_layers(&s, lim, layers, e)) {
			kva_buf_free(&rep);
			return -1;
		}
		want = 12;
		st = kva_sbx_exchange(&s, NULL, 0, &rep, unit_done, &want,
				      lim->timeout_s);
	}
	*fails = 1;
	if (st == KVA_SBX_OK) {
		memcpy(ans, rep.p + 4, sizeof ans);
		if (!ans[0])
			rc = 1;
		else
			*fails = ans[1] != 0;
	}
	kva_sbx_stop(&s);
	kva_buf_free(&rep);
	return rc;
}

/* ---- the build workers ------------------------------------------------------------ */

/* What is asked of each compiled mutant besides the case set. */
struct judge {
	const kva_caseset *grid;     /* survivors on the grid, or NULL (the
	                                original fails it) */
	uint64_t far;                /* grid cases past int32 (routes) */
	uint64_t ocalls;             /* the original's overflow calls (kernels) */
	int unit;                    /* --unit-test */
};

struct bhdr {                    /* a worker's report on one mutant */
	uint32_t i;                  /* the mutant's index */
	int32_t st;                  /* kva_candidate_build_src's result, or
	                                -1: trouble judging it */
	uint32_t solen, msglen;      /* then the shared object's path (st 0)
	                                or the message (st != 0) */
	uint32_t judged;             /* 1: a struct mres follows (st 0, no
	                                path): the worker judged it */
};

struct worker {
	pid_t pid;
	int fd;                      /* -1 at end of file */
	kva_buf in;
};

static int judge_mutant(const kva_mutation_conf *mc, const kva_caseset *cs,
			const kva_mutant *mu, const char *so, struct mres *mr,
			struct gstore *gs, const struct judge *jd, kva_err *e);

/*
 * A worker's whole life: build mutants w, w + jobs, ... and report each;
 * with jd (no --minimize) also trap and judge each and report the
 * outcome, so that the traps run in parallel too.  A struct mres is sent
 * as its bytes: the worker is a fork made after the case set, so its
 * first_file points where the parent's would.
 */
static _Noreturn void worker_main(int fd, const kva_mutation_conf *mc,
				  const kva_caseset *cs, const struct judge *jd,
				  const kva_mutant *m, size_t n, size_t w,
				  size_t jobs)
{
	for (size_t i = w; i < n; i += jobs) {
		kva_candidate c;
		kva_err e;
		kva_buf b = { 0 };
		struct bhdr h;
		struct mres r;
		int st;

		memset(&e, 0, sizeof e);
		memset(&h, 0, sizeof h);
		st = kva_candidate_build_src(mc->path, m[i].src, m[i].len,
					     mc->cache_dir, 1, &c, &e);
		if (st == 0 && jd) {
			memset(&r, 0, sizeof r);
			r.unit = -1;
			if (judge_mutant(mc, cs, &m[i], c.so, &r, NULL, jd, &e))
				st = -1;
			else
				h.judged = 1;
		}
		h.i = (uint32_t)i;
		h.st = st;
		h.solen = st == 0 && !h.judged ? (uint32_t)strlen(c.so) : 0;
		h.msglen = st != 0 ? (uint32_t)strlen(e.msg) : 0;
		kva_buf_put(&b, &h, sizeof h);
		kva_buf_put(&b, c.so, h.solen);
		kva_buf_put(&b, e.msg, h.msglen);
		if (h.judged)
			kva_buf_put(&b, &r, sizeof r);
		if (kva_sbx_write_full(fd, b.p, b.len))
			_exit(1);
		kva_buf_free(&b);
	}
	_exit(0);
}

static void stop_workers(struct worker *w, size_t jobs)
{
	for (size_t j = 0; j < jobs; j++) {
		if (w[j].fd >= 0)
			close(w[j].fd);
		w[j].fd = -1;
		if (w[j].pid > 0) {
			kill(w[j].pid, SIGTERM);
			while (waitpid(w[j].pid, NULL, 0) < 0 && errno == EINTR)
				;
			w[j].pid = 0;
		}
		kva_buf_free(&w[j].in);
	}
}

/* ---- the report --------------------------------------------------------------------- */

struct opstat {
	const char *op;
	uint64_t total, compiled, killed, survived, equiv;
};

static void put_score(kva_buf *b, uint64_t killed, uint64_t compiled)
{
	if (compiled)
		kva_buf_num(b, (double)killed / (double)compiled);
	else
		kva_buf_puts(b, "null");
}

static void put_case(kva_buf *b, const kva_caseset *cs, const struct gstore *gs,
		     uint64_t key);

/* A mutant's killed_by: the first case that kills it, or null. */
static void put_killed_by(kva_buf *b, const struct mres *r)
{
	if (r->status == M_KILLED && r->has_first) {
		kva_buf_puts(b, "{\"case\":");
		kva_buf_i64(b, (int64_t)r->first_index);
		if (r->first_line) {
			kva_buf_puts(b, ",\"file\":");
			kva_buf_jstr(b, r->first_file, strlen(r->first_file));
			kva_buf_puts(b, ",\"line\":");
			kva_buf_i64(b, r->first_line);
		}
		kva_buf_putc(b, '}');
	} else {
		kva_buf_puts(b, "null");
	}
}

/* A mutant's class: the killing divergence's (or finding's), or NULL. */
static const char *mutant_class(const struct mres *r)
{
	int cls = r->has_first ? r->cls : r->phase_cls;

	return r->status == M_KILLED && cls >= 0 ? kva_class_names[cls] : NULL;
}

static void put_mutant(kva_buf *b, const kva_mutant *m, const struct mres *r,
		       const kva_caseset *grid, int unit)
{
	const char *cls = mutant_class(r);

	kva_buf_printf(b, "{\"type\":\"mutant\",\"id\":%u,\"op\":", m->id);
	kva_buf_jstr(b, m->op, strlen(m->op));
	kva_buf_printf(b, ",\"line\":%d,\"col\":%d,\"patch\":", m->line, m->col);
	kva_buf_jstr(b, m->patch, strlen(m->patch));
	kva_buf_printf(b, ",\"status\":\"%s\",\"killed_by\":", status_names[r->status]);
	put_killed_by(b, r);
	kva_buf_puts(b, ",\"class\":");
	if (cls)
		kva_buf_jstr(b, cls, strlen(cls));
	else
		kva_buf_puts(b, "null");
	kva_buf_puts(b, ",\"grid_kill\":");
	if (r->grid_kill == 1)
		put_case(b, grid, NULL, r->grid_key);
	else
		kva_buf_puts(b, "null");
	if (unit)
		kva_buf_printf(b, ",\"killed_by_unit_test\":%s", r->unit < 0 ? "null" :
			       r->unit ? "true" : "false");
	kva_buf_putc(b, '}');
}

/* Split s[0..n) into lines: *lines (starts) and *lens; returns the count. */
static size_t split_lines(const char *s, size_t n, const char ***lines, size_t **lens)
{
	size_t cnt = 0, at = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n')
			cnt++;
	if (n && s[n - 1] != '\n')
		cnt++;
	if (!(*lines = malloc((cnt + 1) * sizeof **lines)) ||
	    !(*lens = malloc((cnt + 1) * sizeof **lens)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t l = 0; l < cnt; l++) {
		size_t end = at;

		while (end < n && s[end] != '\n')
			end++;
		(*lines)[l] = s + at;
		(*lens)[l] = end - at;
		at = end + 1;
	}
	return cnt;
}

static void diff_lines(kva_buf *b, int mark, const char *const *l, const size_t *len,
		       size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		kva_buf_putc(b, mark);
		kva_buf_put(b, l[i], len[i]);
		kva_buf_putc(b, '\n');
	}
}

/* The mutant m of src[0..n) as a unified diff with one line of context. */
static void put_diff(kva_buf *b, const char *path, const char *src, size_t n,
		     const kva_mutant *m)
{
	const char **ol, **ml;
	size_t *olen, *mlen;
	size_t no = split_lines(src, n, &ol, &olen), nm = split_lines(m->src, m->len, &ml, &mlen);
	size_t p = 0, s = 0, c0, c1, oc, mc, os, ms;

	while (p < no && p < nm && olen[p] == mlen[p] && !memcmp(ol[p], ml[p], olen[p]))
		p++;
	while (s < no - p && s < nm - p && olen[no - 1 - s] == mlen[nm - 1 - s] &&
	       !memcmp(ol[no - 1 - s], ml[nm - 1 - s], olen[no - 1 - s]))
		s++;
	c0 = p > 0;
	c1 = s > 0;
	oc = no - s - p + c0 + c1;
	mc = nm - s - p + c0 + c1;
	os = p - c0 + (oc ? 1 : 0);
	ms = p - c0 + (mc ? 1 : 0);
	kva_buf_printf(b, "--- %s\n+++ %s (mutant %u, %s)\n@@ -%zu,%zu +%zu,%zu @@\n",
		       path, path, m->id, m->op, os, oc, ms, mc);
	diff_lines(b, ' ', ol, olen, p - c0, p);
	diff_lines(b, '-', ol, olen, p, no - s);
	diff_lines(b, '+', ml, mlen, p, nm - s);
	diff_lines(b, ' ', ol, olen, no - s, no - s + c1);
	free(ol);
	free(olen);
	free(ml);
	free(mlen);
}

static void text_row(kva_buf *b, const char *op, uint64_t total, uint64_t compiled,
		     uint64_t killed, uint64_t survived, uint64_t equiv)
{
	kva_buf_printf(b, "%-12s %6llu %9llu %7llu %9llu %11llu  ", op,
		       (unsigned long long)total, (unsigned long long)compiled,
		       (unsigned long long)killed, (unsigned long long)survived,
		       (unsigned long long)equiv);
	if (compiled)
		kva_buf_printf(b, "%.3f\n", (double)killed / (double)compiled);
	else
		kva_buf_puts(b, "-\n");
}

/* ---- --minimize ---------------------------------------------------------------------- */

struct pair { uint64_t key; size_t m; };

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->m < y->m ? -1 : x->m > y->m;
}

static int key_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Greedy set cover of the killed mutants by the cases that kill them,
 * ties to the earlier case: the chosen keys, in case set order, into
 * *out (*nout). */
static void cover(const struct mres *r, size_t n, uint64_t **out, size_t *nout)
{
	struct pair *pr = NULL;
	size_t np = 0, cap = 0, left = 0, *gstart = NULL, ng = 0;
	char *covered = calloc(n + 1, 1);

	if (!covered)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (r[i].status != M_KILLED || !r[i].nkills)
			continue;
		left++;
		for (size_t k = 0; k < r[i].nkills; k++) {
			if (np == cap) {
				cap = cap ? 2 * cap : 1024;
				if (!(pr = realloc(pr, cap * sizeof *pr)))
					kva_die(KVA_EXIT_TROUBLE, "out of memory");
			}
			pr[np].key = r[i].kills[k];
			pr[np++].m = i;
		}
	}
	qsort(pr, np, sizeof *pr, pair_cmp);
	if (!(gstart = malloc((np + 1) * sizeof *gstart)) ||
	    !(*out = malloc((left + 1) * sizeof **out)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < np; i++)
		if (!i || pr[i].key != pr[i - 1].key)
			gstart[ng++] = i;
	gstart[ng] = np;
	*nout = 0;
	while (left) {
		size_t best = 0, bestn = 0;

		for (size_t g = 0; g < ng; g++) {
			size_t cnt = 0;

			for (size_t i = gstart[g]; i < gstart[g + 1]; i++)
				cnt += !covered[pr[i].m] &&
				       (i == gstart[g] || pr[i].m != pr[i - 1].m);
			if (cnt > bestn) {
				bestn = cnt;
				best = g;
			}
		}
		for (size_t i = gstart[best]; i < gstart[best + 1]; i++)
			if (!covered[pr[i].m]) {
				covered[pr[i].m] = 1;
				left--;
			}
		(*out)[(*nout)++] = pr[gstart[best]].key;
	}
	qsort(*out, *nout, sizeof **out, key_cmp);
	free(pr);
	free(gstart);
	free(covered);
}

/* The case of key as a case record. */
static void put_case(kva_buf *b, const kva_caseset *cs, const struct gstore *gs,
		     uint64_t key)
{
	if (cs->mode) {
		kva_buf_puts(b, key < gs->n && gs->json[key] ? gs->json[key] : "");
		return;
	}
	for (size_t i = 0; i < cs->nc; i++) {
		const kva_mcase *k = &cs->c[i];
		kva_args a;

		if ((((uint64_t)k->file << KEY_FILE_SHIFT) | (uint64_t)k->line) != key)
			continue;
		case_args(cs, k, &a);
		kva_buf_puts(b, "{\"type\":\"case\",\"oracle\":");
		kva_buf_jstr(b, cs->o->name, strlen(cs->o->name));
		kva_args_write(b, cs->o, &a);
		kva_buf_puts(b, ",\"expect\":");
		kva_route_write(b, cs->o, &k->expect);
		kva_buf_putc(b, '}');
		return;
	}
}

static int write_minimized(const char *path, const kva_caseset *cs,
			   const struct gstore *gs, const uint64_t *keys,
			   size_t n, kva_err *e)
{
	kva_buf b = { 0 };
	FILE *fp = fopen(path, "w");
	int bad;

	if (!fp)
		return kva_errf(e, NULL, "--minimize: %s: %s", path, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		put_case(&b, cs, gs, keys[i]);
		kva_buf_putc(&b, '\n');
	}
	bad = b.len && fwrite(b.p, 1, b.len, fp) != b.len;
	bad |= fclose(fp) != 0;
	kva_buf_free(&b);
	if (bad)
		return kva_errf(e, NULL, "--minimize: %s: %s", path, strerror(errno));
	return 0;
}

/* ---- the run ------------------------------------------------------------------------------- */

static int read_source(const char *path, kva_buf *b, kva_err *e)
{
	char chunk[16384];
	size_t n;
	FILE *fp = fopen(path, "r");

	if (!fp)
		return kva_errf(e, NULL, "%s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		kva_buf_put(b, chunk, n);
	if (ferror(fp)) {
		fclose(fp);
		return kva_errf(e, NULL, "%s: read error", path);
	}
	fclose(fp);
	kva_buf_putc(b, '\0');
	b->len--;
	return 0;
}

/* The original: built and PASS on the case set, or trouble. */
static int check_original(const kva_mutation_conf *mc, const kva_caseset *cs,
			  kva_candidate *cand, uint64_t *cases, uint64_t *ocalls,
			  kva_err *e)
{
	struct mres r;
	struct tctx x = { cs, &r, NULL, 1 };
	kva_trap_facts f;
	int verdict;

	if (kva_candidate_build(mc->path, mc->cache_dir, cand, e))
		return -1;
	memset(&r, 0, sizeof r);
	if (trap_one(mc, cs, cand->so, mc->path, cand->sha256, &x, &verdict, &f, e))
		return -1;
	*cases = f.cases;
	*ocalls = f.overflow_calls;
	if (f.cases == 0 && f.not_run == 0)
		return kva_errf(e, NULL, "no cases: nothing was checked");
	if (!verdict && !f.not_run)
		return 0;
	if (r.has_first)
		return kva_errf(e, NULL, "mutation needs a correct candidate: the "
				"original fails %llu of %llu cases (first: case %llu, %s)",
				(unsigned long long)f.diverged,
				(unsigned long long)(f.cases + f.not_run),
				(unsigned long long)r.first_index,
				kva_class_names[r.cls]);
	return kva_errf(e, NULL, "mutation needs a correct candidate: the original "
			"fails the trap (%s%s%s, %llu of %llu cases not run)", f.verdict,
			r.phase_cls >= 0 ? ": " : "",
			r.phase_cls >= 0 ? kva_class_names[r.phase_cls] : "",
			(unsigned long long)f.not_run,
			(unsigned long long)(f.cases + f.not_run));
}

/* Trap the built mutant mu (shared object so) on cs and judge it into
 * mr: killed or survived, then a survivor on the grid, then --unit-test.
 * gs: --minimize's store (every case runs), or NULL.  Returns 0 or -1
 * with e (trouble). */
static int judge_mutant(const kva_mutation_conf *mc, const kva_caseset *cs,
			const kva_mutant *mu, const char *so, struct mres *mr,
			struct gstore *gs, const struct judge *jd, kva_err *e)
{
	char sha[65], name[4300];
	struct tctx x;
	kva_trap_facts f;
	int verdict;

	snprintf(name, sizeof name, "%s (mutant %u)", mc->path, mu->id);
	kva_sha256_hex(mu->src, mu->len, sha);
	x.cs = cs;
	x.r = mr;
	x.gs = gs;
	x.all = gs != NULL;
	if (trap_one(mc, cs, so, name, sha, &x, &verdict, &f, e))
		return -1;
	mr->status = verdict || f.not_run ? M_KILLED : M_SURVIVED;
	if (mr->status == M_SURVIVED && jd->grid &&
	    grid_judge(mc, jd->grid, mc->trap.kind == KVA_KIND_ROUTE ? jd->far :
		       jd->ocalls, mu, so, name, sha, mr, e))
		return -1;
	if (jd->unit && unit_test(mc, so, &mr->unit, e) < 0)
		return -1;
	return 0;
}

/* Build the n mutants in mc->jobs workers and trap each as it arrives
 * (in the workers themselves, but for --minimize, whose kill matrix the
 * parent keeps). */
static int build_and_trap(const kva_mutation_conf *mc, const kva_caseset *cs,
			  const kva_mutant *m, size_t n, struct mres *res,
			  struct gstore *gs, const struct judge *jd, kva_err *e)
{
	size_t jobs = (size_t)(mc->jobs > 0 ? mc->jobs : 1), live, got = 0;
	struct worker *w;
	struct pollfd *pf;
	kva_progress prog;
	int rc = 0;

	if (jobs > n)
		jobs = n;
	if (!jobs)
		return 0;
	if (!(w = calloc(jobs, sizeof *w)) || !(pf = calloc(jobs, sizeof *pf)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	kva_out_flush();
	fflush(NULL);
	for (size_t j = 0; j < jobs; j++) {
		int p[2];

		w[j].fd = -1;
		if (pipe(p) || (w[j].pid = fork()) < 0) {
			kva_errf(e, NULL, "build workers: %s", strerror(errno));
			stop_workers(w, j);
			free(w);
			free(pf);
			return -1;
		}
		if (w[j].pid == 0) {
			close(p[0]);
			for (size_t k = 0; k < j; k++)
				close(w[k].fd);
			worker_main(p[1], mc, cs, gs ? NULL : jd, m, n, j, jobs);
		}
		close(p[1]);
		w[j].fd = p[0];
	}
	kva_progress_init(&prog, "mutants", mc->progress, mc->quiet);
	live = jobs;
	while (live && !rc) {
		size_t np = 0;

		for (size_t j = 0; j < jobs; j++)
			if (w[j].fd >= 0) {
				pf[np].fd = w[j].fd;
				pf[np].events = POLLIN;
				pf[np++].revents = 0;
			}
		if (poll(pf, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = kva_errf(e, NULL, "build workers: %s", strerror(errno));
			break;
		}
		for (size_t j = 0; j < jobs && !rc; j++) {
			char chunk[4096];
			ssize_t r;
			struct bhdr h;

			if (w[j].fd < 0)
				continue;
			for (size_t q = 0; q < np; q++)
				if (pf[q].fd == w[j].fd && !pf[q].revents)
					goto next;
			if ((r = read(w[j].fd, chunk, sizeof chunk)) < 0) {
				if (errno != EINTR && errno != EAGAIN)
					rc = kva_errf(e, NULL, "build workers: %s",
						      strerror(errno));
				continue;
			}
			if (r == 0) {
				close(w[j].fd);
				w[j].fd = -1;
				live--;
				continue;
			}
			kva_buf_put(&w[j].in, chunk, (size_t)r);
			while (!rc && w[j].in.len >= sizeof h) {
				char so[4200];
				struct mres *mr;
				size_t len;

				memcpy(&h, w[j].in.p, sizeof h);
				len = sizeof h + h.solen + h.msglen +
				      (h.judged ? sizeof *mr : 0);
				if (w[j].in.len < len)
					break;
				if (h.i >= n || h.solen >= sizeof so || res[h.i].status != M_PENDING) {
					rc = kva_errf(e, NULL, "build workers: a garbled report");
					break;
				}
				mr = &res[h.i];
				memcpy(so, w[j].in.p + sizeof h, h.solen);
				so[h.solen] = '\0';
				if (h.st < 0) {
					rc = kva_errf(e, NULL, "mutant %u: %.*s", m[h.i].id,
						      (int)(h.msglen > 200 ? 200 : h.msglen),
						      w[j].in.p + sizeof h + h.solen);
					break;
				}
				got++;
				if (h.st > 0) {
					mr->status = M_NOT_COMPILED;
				} else if (h.judged) {
					memcpy(mr, w[j].in.p + sizeof h, sizeof *mr);
					mr->kills = NULL;
					mr->nkills = mr->capkills = 0;
					if (mr->status != M_KILLED && mr->status != M_SURVIVED &&
					    mr->status != M_EQUIV) {
						rc = kva_errf(e, NULL, "build workers: a garbled report");
						break;
					}
				} else if (judge_mutant(mc, cs, &m[h.i], so, mr, gs, jd, e)) {
					rc = -1;
					break;
				}
				kva_progress_tick(&prog, got);
				w[j].in.len -= len;
				memmove(w[j].in.p, w[j].in.p + len, w[j].in.len);
			}
next:			;
		}
	}
	kva_progress_done(&prog, got);
	for (size_t j = 0; j < jobs && !rc; j++) {
		int st;

		while (waitpid(w[j].pid, &st, 0) < 0 && errno == EINTR)
			;
		w[j].pid = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			rc = kva_errf(e, NULL, "build workers: a worker died");
	}
	if (!rc && got != n)
		rc = kva_errf(e, NULL, "build workers: %zu of %zu mutants not reported",
			      n - got, n);
	stop_workers(w, jobs);
	free(w);
	free(pf);
	return rc;
}

/* --db: row and one mutants row per m[i], in one transaction.  Returns 0,
 * or -1 with e. */
static int store(const kva_mutation_conf *mc, kva_mutation_row *row,
		 const kva_mutant *m, const struct mres *res, kva_err *e)
{
	kva_mutant_row *mr;
	kva_buf *kb;
	int rc;

	if (!(mr = calloc(row->nmutants + 1, sizeof *mr)) ||
	    !(kb = calloc(row->nmutants + 1, sizeof *kb)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < row->nmutants; i++) {
		mr[i].id = m[i].id;
		mr[i].line = m[i].line;
		mr[i].col = m[i].col;
		mr[i].op = m[i].op;
		mr[i].patch = m[i].patch;
		mr[i].status = status_names[res[i].status];
		mr[i].class_name = mutant_class(&res[i]);
		put_killed_by(&kb[i], &res[i]);
		mr[i].killed_by_json = strcmp(kb[i].p, "null") ? kb[i].p : NULL;
		mr[i].killed_by_unit_test = mc->unit_test ? res[i].unit : -1;
	}
	row->mutants = mr;
	rc = kva_db_add_mutation_run(mc->db, row, NULL, e);
	for (size_t i = 0; i < row->nmutants; i++)
		kva_buf_free(&kb[i]);
	free(kb);
	free(mr);
	return rc;
}

int kva_mutation_run(const kva_mutation_conf *mc, const kva_caseset *cs,
		     kva_err *e)
{
	kva_buf src = { 0 }, b = { 0 };
	kva_mutant *m = NULL;
	size_t n = 0, nops = 0, nmin = 0;
	struct mres *res = NULL;
	struct opstat *ops = NULL;
	struct gstore gs = { NULL, 0 };
	uint64_t cases = 0, compiled = 0, killed = 0, survived = 0, equiv = 0;
	uint64_t *minkeys = NULL, ukilled = 0, ucompiled = 0;
	kva_caseset grid;
	struct judge jd = { NULL, 0, 0, mc->unit_test };
	int grid_orig = 0, unit_orig = 0;
	kva_candidate cand;
	double t0 = kva_now();
	int rc = -1;

	memset(&grid, 0, sizeof grid);

	if (read_source(mc->path, &src, e))
		return -1;
	if (kva_mutate(src.p, src.len, &m, &n, e)) {
		char msg[sizeof e->msg];

		m = NULL;
		n = 0;
		snprintf(msg, sizeof msg, "%s", e->msg);
		kva_errf(e, NULL, "%s: %s", mc->path, msg);
		goto out;
	}
	if (!n) {
		kva_errf(e, NULL, "%s: no mutants: no operator fits the source", mc->path);
		goto out;
	}
	if (check_original(mc, cs, &cand, &cases, &jd.ocalls, e))
		goto out;
	if (mc->unit_test) {
		int st = unit_test(mc, cand.so, &unit_orig, e);

		if (st < 0)
			goto out;
		if (st > 0) {
			kva_errf(e, NULL, "--unit-test: %s defines no int %s(void)",
				 mc->path, UNIT_SYMBOL);
			goto out;
		}
	}
	/* the grid judges survivors only when the original passes it */
	if (grid_build(cs, mc->trap.kind != KVA_KIND_ROUTE, &grid, &jd.far, e))
		goto out;
	{
		struct mres r;
		struct tctx x = { &grid, &r, NULL, 0 };
		kva_trap_facts f;
		int verdict;

		memset(&r, 0, sizeof r);
		if (grid.nc && trap_one(mc, &grid, cand.so, mc->path, cand.sha256, &x,
					&verdict, &f, e))
			goto out;
		grid_orig = !grid.nc ? -1 : verdict || f.not_run;
		if (!grid_orig)
			jd.grid = &grid;
	}
	if (!(res = calloc(n, sizeof *res)) || !(ops = calloc(n, sizeof *ops)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < n; i++)
		res[i].unit = -1;
	if (build_and_trap(mc, cs, m, n, res, mc->minimize ? &gs : NULL, &jd, e))
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t o;

		for (o = 0; o < nops; o++)
			if (!strcmp(ops[o].op, m[i].op))
				break;
		if (o == nops)
			ops[nops++].op = m[i].op;
		ops[o].total++;
		ops[o].compiled += res[i].status != M_NOT_COMPILED;
		ops[o].killed += res[i].status == M_KILLED;
		ops[o].survived += res[i].status == M_SURVIVED;
		ops[o].equiv += res[i].status == M_EQUIV;
		compiled += res[i].status != M_NOT_COMPILED;
		killed += res[i].status == M_KILLED;
		survived += res[i].status == M_SURVIVED;
		equiv += res[i].status == M_EQUIV;
		ucompiled += res[i].unit >= 0;
		ukilled += res[i].unit > 0;
		if (res[i].nkills > 1) {
			size_t u = 1;

			qsort(res[i].kills, res[i].nkills, sizeof *res[i].kills, key_cmp);
			for (size_t k = 1; k < res[i].nkills; k++)
				if (res[i].kills[k] != res[i].kills[u - 1])
					res[i].kills[u++] = res[i].kills[k];
			res[i].nkills = u;
		}
	}
	if (mc->minimize) {
		cover(res, n, &minkeys, &nmin);
		if (write_minimized(mc->minimize, cs, &gs, minkeys, nmin, e))
			goto out;
	}
	if (mc->text) {
		kva_buf_printf(&b, "MUTATION %s: %zu mutants, %llu compiled, %llu killed, "
			       "%llu survived, %llu equivalent_likely (oracle %s, %llu "
			       "cases)\n", mc->path, n,
			       (unsigned long long)compiled, (unsigned long long)killed,
			       (unsigned long long)survived, (unsigned long long)equiv,
			       cs->o->name, (unsigned long long)cases);
		kva_buf_printf(&b, "%-12s %6s %9s %7s %9s %11s  %s\n", "op", "total",
			       "compiled", "killed", "survived", "equivalent", "score");
		for (size_t o = 0; o < nops; o++)
			text_row(&b, ops[o].op, ops[o].total, ops[o].compiled,
				 ops[o].killed, ops[o].survived, ops[o].equiv);
		text_row(&b, "all", n, compiled, killed, survived, equiv);
		if (compiled > equiv)
			kva_buf_printf(&b, "score of the non-equivalent: %.3f\n",
				       (double)killed / (double)(compiled - equiv));
		if (grid_orig)
			kva_buf_printf(&b, "grid: %s; no survivor judged equivalent\n",
				       grid_orig > 0 ? "the original fails it" :
				       "no case is valid");
		if (mc->unit_test)
			kva_buf_printf(&b, "unit test kills %.0f%% (%llu of %llu); the case "
				       "set kills %.0f%%%s\n", ucompiled ? 100.0 *
				       (double)ukilled / (double)ucompiled : 0.0,
				       (unsigned long long)ukilled,
				       (unsigned long long)ucompiled, compiled ? 100.0 *
				       (double)killed / (double)compiled : 0.0,
				       unit_orig ? " (the unit test fails on the original)" : "");
		if (mc->minimize)
			kva_buf_printf(&b, "minimized: %zu cases in %s\n", nmin, mc->minimize);
		for (size_t i = 0; i < n; i++)
			if (res[i].status == M_SURVIVED) {
				kva_buf_putc(&b, '\n');
				put_diff(&b, mc->path, src.p, src.len, &m[i]);
				if (res[i].grid_kill == 1) {
					kva_buf_puts(&b, "grid kill: ");
					put_case(&b, &grid, NULL, res[i].grid_key);
					kva_buf_putc(&b, '\n');
				}
			}
		kva_out_line(b.p, b.len - 1);
		b.len = 0;
	} else {
		for (size_t i = 0; i < n; i++) {
			put_mutant(&b, &m[i], &res[i], &grid, mc->unit_test);
			kva_out_record(&b);
		}
		kva_buf_puts(&b, "{\"type\":\"mutation\",\"candidate\":");
		kva_buf_jstr(&b, mc->path, strlen(mc->path));
		kva_buf_puts(&b, ",\"sha256\":");
		kva_buf_jstr(&b, cand.sha256, strlen(cand.sha256));
		kva_buf_puts(&b, ",\"oracle\":");
		kva_buf_jstr(&b, cs->o->name, strlen(cs->o->name));
		kva_buf_printf(&b, ",\"kind\":\"%s\",\"cases\":%llu,\"total\":%zu,"
			       "\"compiled\":%llu,\"not_compiled\":%llu,\"killed\":%llu,"
			       "\"survived\":%llu,\"score\":", kva_kind_names[mc->trap.kind],
			       (unsigned long long)cases, n, (unsigned long long)compiled,
			       (unsigned long long)(n - compiled), (unsigned long long)killed,
			       (unsigned long long)survived);
		put_score(&b, killed, compiled);
		kva_buf_puts(&b, ",\"survivors\":[");
		for (size_t i = 0, k = 0; i < n; i++)
			if (res[i].status == M_SURVIVED)
				kva_buf_printf(&b, "%s%u", k++ ? "," : "", m[i].id);
		kva_buf_printf(&b, "],\"equivalent_likely\":%llu,\"equivalent_likely_ids\":[",
			       (unsigned long long)equiv);
		for (size_t i = 0, k = 0; i < n; i++)
			if (res[i].status == M_EQUIV)
				kva_buf_printf(&b, "%s%u", k++ ? "," : "", m[i].id);
		kva_buf_puts(&b, "],\"score_non_equivalent\":");
		put_score(&b, killed, compiled - equiv);
		kva_buf_printf(&b, ",\"grid\":{\"cases\":%zu,\"far\":%llu,"
			       "\"original\":\"%s\"", grid.nc,
			       (unsigned long long)jd.far, grid_orig > 0 ? "fails" :
			       grid_orig < 0 ? "no_cases" : "passes");
		if (mc->trap.kind != KVA_KIND_ROUTE)
			kva_buf_printf(&b, ",\"overflow_calls\":%llu",
				       (unsigned long long)jd.ocalls);
		kva_buf_putc(&b, '}');
		if (mc->unit_test) {
			kva_buf_printf(&b, ",\"unit_test_original\":\"%s\",\"unit_test\":"
				       "{\"killed\":%llu,\"compiled\":%llu,\"score\":",
				       unit_orig ? "fails" : "passes",
				       (unsigned long long)ukilled,
				       (unsigned long long)ucompiled);
			put_score(&b, ukilled, ucompiled);
			kva_buf_putc(&b, '}');
		}
		kva_buf_puts(&b, ",\"by_op\":{");
		for (size_t o = 0; o < nops; o++) {
			kva_buf_printf(&b, "%s", o ? "," : "");
			kva_buf_jstr(&b, ops[o].op, strlen(ops[o].op));
			kva_buf_printf(&b, ":{\"total\":%llu,\"compiled\":%llu,\"killed\":%llu,"
				       "\"survived\":%llu,\"equivalent_likely\":%llu}",
				       (unsigned long long)ops[o].total,
				       (unsigned long long)ops[o].compiled,
				       (unsigned long long)ops[o].killed,
				       (unsigned long long)ops[o].survived,
				       (unsigned long long)ops[o].equiv);
		}
		kva_buf_putc(&b, '}');
		if (mc->minimize) {
			kva_buf_puts(&b, ",\"minimized\":{\"file\":");
			kva_buf_jstr(&b, mc->minimize, strlen(mc->minimize));
			kva_buf_printf(&b, ",\"cases\":%zu}", nmin);
		}
		kva_buf_printf(&b, ",\"jobs\":%d,\"seed\":%llu,\"seconds\":", mc->jobs,
			       (unsigned long long)mc->trap.seed);
		kva_buf_num(&b, kva_now() - t0);
		kva_buf_putc(&b, '}');
		kva_out_record(&b);
	}
	if (!compiled) {
		kva_errf(e, NULL, "no mutant compiled: nothing was measured");
		goto out;
	}
	if (mc->db) {
		kva_mutation_row row = {
			mc->path, cand.sha256, cs->o->name, kva_kind_names[mc->trap.kind],
			(int64_t)cases, (int64_t)n, (int64_t)compiled,
			(int64_t)(n - compiled), (int64_t)killed, (int64_t)survived,
			(int64_t)equiv, (double)killed / (double)compiled,
			mc->unit_test ? (int64_t)ukilled : -1,
			mc->unit_test ? (int64_t)ucompiled : -1,
			kva_now() - t0, NULL, n
		};

		if (store(mc, &row, m, res, e))
			goto out;
	}
	rc = survived ? 1 : 0;
out:
	if (res)
		for (size_t i = 0; i < n; i++)
			free(res[i].kills);
	if (gs.json)
		for (size_t i = 0; i < gs.n; i++)
			free(gs.json[i]);
	free(gs.json);
	kva_caseset_free(&grid);
	free(minkeys);
	free(res);
	free(ops);
	kva_mutants_free(m, n);
	kva_buf_free(&src);
	kva_buf_free(&b);
	return rc;
}
