/*
 * grad-trap - run candidate routing code in a sandbox and compare the
 * KV-cache gradient it produces with the oracle's.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "candidate.h"
#include "kvarbiter_candidate.h"
#include "db.h"
#include "mutation.h"
#include "trap.h"

static void usage(FILE *fp)
{
	fputs("usage: grad-trap (--candidate FILE | --candidate-cmd CMD)\n"
	      "                 [--kind route|write|gather|copy-blocks|swap-blocks]\n"
	      "                 [--layout nhd|hnd|vllm-x]\n"
	      "                 [--heads H] [--x X] [--stride-pad P]\n"
	      "                 [--value-layout nhd|hnd|vllm-x] [--dtype f32|f16|bf16]\n"
	      "                 [--value-dtype f32|f16|bf16]\n"
	      "                 [--oracle NAME] [--tol X] [--max-map N] [--format jsonl|text]\n"
	      "                 [--dump FILE] [--db FILE] [--timeout S] [--cpu-limit S]\n"
	      "                 [--mem-limit SIZE] [--batch N] [--seed S] [--head-dim N]\n"
	      "                 [--device cpu|cuda] [--cache-dir DIR] [--candidate-stderr]\n"
	      "                 [--load-timeout S] [--max-hangs N] [--repeat N] [--soak N]\n"
	      "                 [--confine auto|strict | --no-confine]\n"
	      "                 [--keep-going] [--max-record SIZE] [--unbuffered]\n"
	      "                 [--progress | --quiet] [FILE ...]\n"
	      "       grad-trap ... --oracle NAME (--boundaries | --sweep SPEC | --random N)\n"
	      "       grad-trap --kind copy-blocks|swap-blocks ... (--boundaries | --random N)\n"
	      "       grad-trap --mutate --candidate FILE.c [-j N | --jobs N] [--minimize FILE]\n"
	      "                 [--unit-test]\n"
	      "                 [options] ([FILE ...] | --oracle NAME (--boundaries |\n"
	      "                 --sweep SPEC | --random N))\n"
	      "       grad-trap --run CMD [--timeout S] [--confine auto|strict]\n"
	      "       grad-trap -h | --help | --version\n", fp);
}

/* The expect of a case record: {"unmapped":true}, {"slot":-1} or the
 * oracle's outputs by name.  Returns 0 or -1 with e. */
static int parse_expect(const kva_oracle *o, const kva_jval *x, kva_route *r,
			kva_err *e)
{
	const kva_jval *u = kva_json_get(x, "unmapped"), *s = kva_json_get(x, "slot");
	int64_t v;

	memset(r, 0, sizeof *r);
	if (x->t != KVA_JOBJ)
		return kva_errf(e, "expect", "must be an object");
	if (u && u->t == KVA_JTRUE && x->n == 1) {
		r->status = KVA_UNMAPPED;
		return 0;
	}
	if (s && x->n == 1 && !kva_json_int(s, "expect.slot", &v, e) && v == -1) {
		r->status = KVA_PADDING;
		return 0;
	}
	for (int i = 0; i < o->nout; i++) {
		static char field[KVA_MAX_OUT][80];

		snprintf(field[i], sizeof field[i], "expect.%s", o->out[i]);
		if (kva_json_int(kva_json_get(x, o->out[i]), field[i], &r->out[i], e))
			return -1;
	}
	r->status = KVA_ROUTED;
	return 0;
}

typedef struct opts {
	const char *candidate, *cmd, *oracle_name, *dump, *db, *cache_dir;
	const char *sweep, *device, *run, *minimize;
	int timeout_set, seed_set, batch_set, x_set, mutate, unit_test;
	int64_t jobs;
	kva_caseset *cs;         /* --mutate: case records are kept here */
	int boundaries, text, keep_going, unbuffered, progress, quiet;
	int64_t nrandom;
	size_t max_record;
	kva_trap_conf conf;
	kva_gen_opts go;
} opts;

/* Start the trap once the oracle is known. */
static kva_trap *start(opts *op, const kva_oracle *o)
{
	kva_err e;
	kva_trap *t;

	op->conf.o = o;
	if (!(t = kva_trap_new(&op->conf, &e)))
		kva_die(2, "%s", e.msg);
	return t;
}

/* The record loop over one input: cases go to the trap, other records
 * pass through (after the cases before them are judged, to keep order). */
static int filter(opts *op, kva_trap **tp, const char *path, kva_progress *prog,
		  uint64_t *done)
{
	kva_reader rd;
	kva_rec rec;
	kva_err e;
	kva_tabstore ts = { 0 };
	int st, rc = 0;

	if (kva_reader_open(&rd, path, op->max_record))
		return -1;
	while ((st = kva_reader_next(&rd, &rec, &e)) != 0) {
		const kva_oracle *o;
		const kva_jval *on, *ex;
		kva_args a;
		kva_route r;

		if (st == -2) {
			rc = -1;
			break;
		}
		/* the block-copy kinds: a "blocks" record is a call */
		if (st == 1 && KVA_KIND_BLOCKS(op->conf.kind) && !strcmp(rec.type, "blocks")) {
			kva_blocks_case bc;

			if (!kva_blocks_parse(&op->conf, rec.root, &bc, &e)) {
				if (!*tp)
					*tp = start(op, kva_oracle_find("paged"));
				if (kva_trap_blocks_add(*tp, &bc, rd.name, rec.line, &e))
					kva_die(2, "%s", e.msg);
				kva_blocks_case_free(&bc);
				kva_progress_tick(prog, ++*done);
				continue;
			}
			st = -1;
		} else if (st == 1 && KVA_KIND_BLOCKS(op->conf.kind)) {
			kva_out_line(rec.text, rec.len);
			continue;
		}
		/* kv-prefill's route records are paged cases too */
		if (st == 1 && strcmp(rec.type, "case") &&
		    strcmp(rec.type, "route")) {
			if (*tp && kva_trap_flush(*tp, &e))
				kva_die(2, "%s", e.msg);
			kva_out_line(rec.text, rec.len);
			continue;
		}
		if (st == 1) {
			on = kva_json_get(rec.root, "oracle");
			o = *tp ? op->conf.o : op->cs && op->cs->o ? op->cs->o :
			    op->oracle_name ? kva_oracle_find(op->oracle_name) : NULL;
			if (on && on->t == KVA_JSTR && !o)
				o = kva_oracle_find(on->s);
			if (!o) {
				st = -1;
				kva_errf(&e, "oracle", on ? "unknown oracle" :
					 "missing (or give --oracle)");
			} else if (on && (on->t != KVA_JSTR || strcmp(on->s, o->name))) {
				st = -1;
				kva_errf(&e, "oracle", "this run traps %s", o->name);
			} else if (kva_args_from_json(o, rec.root, &a, &ts, &e)) {
				st = -1;
			} else if (kva_oracle_eval(o, &a, &r, &e)) {
				st = -1; /* invalid inputs never reach a candidate */
			} else if ((ex = kva_json_get(rec.root, "expect")) &&
				   parse_expect(o, ex, &r, &e)) {
				st = -1;
			}
			if (st == 1 && op->cs) {
				op->cs->o = o;
				kva_caseset_add(op->cs, &a, &r, rd.name, rec.line);
				kva_progress_tick(prog, ++*done);
				continue;
			}
			if (st == 1) {
				if (!*tp)
					*tp = start(op, o);
				if (kva_trap_add(*tp, &a, &r, rd.name, rec.line, &e))
					kva_die(2, "%s", e.msg);
				kva_progress_tick(prog, ++*done);
				continue;
			}
		}
		kva_report_bad(&rd, rec.line, &e, op->keep_going);
		if (!op->keep_going) {
			rc = -1;
			break;
		}
		rc = 1;
	}
	kva_tabstore_free(&ts);
	kva_reader_close(&rd);
	return rc;
}

/*
 * --run CMD: CMD under the co-process confinement, in an empty private
 * directory, with our stdin, stdout and stderr; --timeout is its wall
 * clock.  Exit status as timeout(1): CMD's own, 128+N for signal N, 124
 * when it ran out of time, 125 when it could not be started.
 */
static int run_confined(opts *op)
{
	kva_sbx_job job;
	kva_sbx_limits lim = op->conf.lim;
	kva_sbx s;
	kva_err e;
	int st;

	memset(&job, 0, sizeof job);
	job.profile = KVA_SBX_CMD;
	job.cmd = op->run;
	job.passfd = -1;
	job.stdio = 1;
	job.private_cwd = 1;
	if (!op->timeout_set)
		lim.timeout_s = 60;
	if (lim.fsize_bytes < ((size_t)64 << 20))
		lim.fsize_bytes = (size_t)64 << 20;
	lim.keep_stderr = 1;
	if (kva_sbx_spawn(&s, &lim, &job, &e)) {
		kva_warnx("--run: %s", e.msg);
		return 125;
	}
	if (kva_sbx_wait(&s, lim.timeout_s) == KVA_SBX_TIMEOUT) {
		kva_warnx("--run: %s", s.why);
		return 124;
	}
	st = s.status;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
}

/*
 * --mutate: the case set (records kept in memory, or the generator), then
 * lib/mutation.c.  Exit 0 when every compiled mutant is killed, 1 when
 * some survive, 2 on trouble.
 */
static int mutate(opts *op, int argc, char **argv, int modes)
{
	kva_caseset cs;
	kva_mutation_conf mc;
	kva_progress prog;
	kva_err e;
	uint64_t done = 0;
	int rc = 0, mrc;

	memset(&cs, 0, sizeof cs);
	memset(&mc, 0, sizeof mc);
	/* a store that is not one is refused before any case is read or
	 * mutant built; the run is written once its summary is known */
	if (op->db && kva_db_open(op->db, &mc.db, &e))
		kva_die(2, "%s", e.msg);
	if (modes) {
		cs.o = kva_oracle_find(op->oracle_name);
		cs.mode = op->boundaries ? "boundaries" : op->sweep ? "sweep" : "random";
		cs.arg = op->sweep;
		cs.n = (uint64_t)(op->nrandom < 0 ? 0 : op->nrandom);
		cs.go = op->go;
	} else {
		kva_trap *none = NULL;

		op->cs = &cs;
		kva_progress_init(&prog, "cases", op->progress, op->quiet);
		if (argc == 0 && filter(op, &none, "-", &prog, &done))
			rc = 2;
		for (int i = 0; i < argc; i++) {
			int frc = filter(op, &none, argv[i], &prog, &done);

			if (frc)
				rc = 2;
			if (frc < 0 && !op->keep_going)
				break;
		}
		kva_progress_done(&prog, done);
		if (rc && !op->keep_going) {
			kva_db_close(mc.db);
			kva_caseset_free(&cs);
			kva_out_close();
			return 2;
		}
		if (!cs.nc) {
			kva_warnx("no case records: nothing was checked");
			kva_db_close(mc.db);
			kva_caseset_free(&cs);
			kva_out_close();
			return 2;
		}
	}
	mc.trap = op->conf;
	mc.path = op->candidate;
	mc.cache_dir = op->cache_dir;
	mc.jobs = op->jobs ? (int)op->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (mc.jobs < 1)
		mc.jobs = 1;
	mc.text = op->text;
	mc.minimize = op->minimize;
	mc.unit_test = op->unit_test;
	mc.progress = op->progress;
	mc.quiet = op->quiet;
	mrc = kva_mutation_run(&mc, &cs, &e);
	kva_db_close(mc.db);
	kva_caseset_free(&cs);
	if (kva_out_close())
		return 2;
	if (mrc < 0) {
		kva_warnx("%s", e.msg);
		return 2;
	}
	return rc ? rc : mrc;
}

enum { O_CAND = 256, O_CMD, O_KIND, O_ORACLE, O_TOL, O_MAXMAP, O_FORMAT,
       O_DUMP, O_DB, O_TIMEOUT, O_CPU, O_MEM, O_BATCH, O_SEED, O_HEADDIM,
       O_DEVICE, O_CACHE, O_CSTDERR, O_BOUNDARIES, O_SWEEP, O_RANDOM, O_NUMHEADS,
       O_LAYOUT, O_HEADS, O_X, O_PAD, O_LOADTO, O_MAXHANGS, O_CONFINE,
       O_NOCONFINE, O_RUN, O_REPEAT, O_SOAK, O_VLAYOUT, O_DTYPE, O_VDTYPE,
       O_MUTATE, O_MINIMIZE, O_UNIT };

/* A --dtype or --value-dtype argument: enum kva_dtype. */
static int parse_dtype(const char *opt, const char *arg)
{
	for (int d = 0; d < 3; d++)
		if (!strcmp(arg, kva_dtype_names[d]))
			return d;
	kva_die(2, "--%s: want f32, f16 or bf16, not %s", opt, arg);
}

/* A --layout or --value-layout argument: enum kva_layout. */
static int parse_layout(const char *opt, const char *arg)
{
	for (int l = 0; l < 3; l++)
		if (!strcmp(arg, kva_layout_names[l]))
			return l;
	kva_die(2, "--%s: want nhd, hnd or vllm-x, not %s", opt, arg);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "candidate", required_argument, NULL, O_CAND },
		{ "candidate-cmd", required_argument, NULL, O_CMD },
		{ "kind", required_argument, NULL, O_KIND },
		{ "oracle", required_argument, NULL, O_ORACLE },
		{ "tol", required_argument, NULL, O_TOL },
		{ "max-map", required_argument, NULL, O_MAXMAP },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "dump", required_argument, NULL, O_DUMP },
		{ "db", required_argument, NULL, O_DB },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "cpu-limit", required_argument, NULL, O_CPU },
		{ "mem-limit", required_argument, NULL, O_MEM },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "seed", required_argument, NULL, O_SEED },
		{ "head-dim", required_argument, NULL, O_HEADDIM },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "cache-dir", required_argument, NULL, O_CACHE },
		{ "candidate-stderr", no_argument, NULL, O_CSTDERR },
		{ "keep-going", no_argument, NULL, KVA_OPT_KEEP },
		{ "max-record", required_argument, NULL, KVA_OPT_MAXREC },
		{ "unbuffered", no_argument, NULL, KVA_OPT_UNBUF },
		{ "progress", no_argument, NULL, KVA_OPT_PROGRESS },
		{ "quiet", no_argument, NULL, KVA_OPT_QUIET },
		{ "boundaries", no_argument, NULL, O_BOUNDARIES },
		{ "sweep", required_argument, NULL, O_SWEEP },
		{ "random", required_argument, NULL, O_RANDOM },
		{ "num-heads", required_argument, NULL, O_NUMHEADS },
		{ "layout", required_argument, NULL, O_LAYOUT },
		{ "value-layout", required_argument, NULL, O_VLAYOUT },
		{ "dtype", required_argument, NULL, O_DTYPE },
		{ "value-dtype", required_argument, NULL, O_VDTYPE },
		{ "heads", required_argument, NULL, O_HEADS },
		{ "x", required_argument, NULL, O_X },
		{ "stride-pad", required_argument, NULL, O_PAD },
		{ "load-timeout", required_argument, NULL, O_LOADTO },
		{ "max-hangs", required_argument, NULL, O_MAXHANGS },
		{ "confine", required_argument, NULL, O_CONFINE },
		{ "no-confine", no_argument, NULL, O_NOCONFINE },
		{ "run", required_argument, NULL, O_RUN },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "soak", required_argument, NULL, O_SOAK },
		{ "mutate", no_argument, NULL, O_MUTATE },
		{ "jobs", required_argument, NULL, 'j' },
		{ "minimize", required_argument, NULL, O_MINIMIZE },
		{ "unit-test", no_argument, NULL, O_UNIT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, KVA_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	opts op;
	const char *errstr;
	int c, rc = 0, modes;
	int64_t v;
	double d;
	kva_trap *t = NULL;
	kva_candidate cand;
	kva_err e;
	kva_progress prog;
	uint64_t done = 0;

	/* the loader child: this program re-executed in the sandbox */
	if (argc > 1 && !strncmp(argv[1], "--sandbox-child", 15))
		kva_trap_child_main(argc, argv);
	if (argc > 1 && !strncmp(argv[1], "--sandbox-unit", 14))
		kva_unit_child_main(argc, argv);
	kva_progname = "grad-trap";
	memset(&op, 0, sizeof op);
	op.nrandom = -1;
	op.device = "cpu";
	op.conf.tol = 1e-4;
	op.conf.max_map = 20;
	op.conf.batch = 4096;
	op.conf.head_dim = -1; /* 128 for routes, 16 for kernels */
	op.conf.heads = 2;
	op.conf.vlayout = -1;
	op.conf.vdtype = -1;
	op.conf.x = 4;
	op.conf.stride_pad = 3;
	op.conf.lim.timeout_s = 2;
	op.conf.lim.cpu_s = 600;
	op.conf.lim.as_bytes = (size_t)4 << 30;
	op.conf.lim.load_timeout_s = 30;
	op.conf.lim.nproc = 64;
	op.conf.lim.confine = KVA_CONFINE_AUTO;
	op.conf.max_hangs = 3;
	op.go.num_heads = 8;
	kva_stdopts so = { 0 };

	while ((c = getopt_long(argc, argv, "hj:", longopts, NULL)) != -1) {
		switch (c) {
		case O_CAND: op.candidate = optarg; break;
		case O_CMD: op.cmd = optarg; break;
		case O_KIND:
			if (!strcmp(optarg, "route"))
				op.conf.kind = KVA_KIND_ROUTE;
			else if (!strcmp(optarg, "write"))
				op.conf.kind = KVA_KIND_WRITE;
			else if (!strcmp(optarg, "gather"))
				op.conf.kind = KVA_KIND_GATHER;
			else if (!strcmp(optarg, "copy-blocks"))
				op.conf.kind = KVA_KIND_COPY_BLOCKS;
			else if (!strcmp(optarg, "swap-blocks"))
				op.conf.kind = KVA_KIND_SWAP_BLOCKS;
			else
				kva_die(2, "--kind: want route, write, gather, copy-blocks or "
					"swap-blocks, not %s", optarg);
			break;
		case O_LAYOUT: op.conf.layout = parse_layout("layout", optarg); break;
		case O_VLAYOUT: op.conf.vlayout = parse_layout("value-layout", optarg); break;
		case O_DTYPE: op.conf.dtype = parse_dtype("dtype", optarg); break;
		case O_VDTYPE: op.conf.vdtype = parse_dtype("value-dtype", optarg); break;
		case O_HEADS:
			if (kva_parse_i64(optarg, 1, 1024, &v, &errstr))
				kva_die(2, "--heads: value is %s: %s", errstr, optarg);
			op.conf.heads = (int)v;
			break;
		case O_X:
			if (kva_parse_i64(optarg, 1, 1024, &v, &errstr))
				kva_die(2, "--x: value is %s: %s", errstr, optarg);
			op.conf.x = (int)v;
			op.x_set = 1;
			break;
		case O_PAD:
			if (kva_parse_i64(optarg, 0, 4096, &v, &errstr))
				kva_die(2, "--stride-pad: value is %s: %s", errstr, optarg);
			op.conf.stride_pad = (int)v;
			break;
		case O_ORACLE: op.oracle_name = optarg; break;
		case O_TOL:
			if (kva_parse_double(optarg, &d, &errstr) || d < 0)
				kva_die(2, "--tol: value is invalid: %s", optarg);
			op.conf.tol = d;
			break;
		case O_MAXMAP:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &op.conf.max_map, &errstr))
				kva_die(2, "--max-map: value is %s: %s", errstr, optarg);
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "text"))
				op.text = 1;
			else if (strcmp(optarg, "jsonl"))
				kva_die(2, "--format: want jsonl or text, not %s", optarg);
			break;
		case O_DUMP: op.dump = optarg; break;
		case O_DB: op.db = optarg; break;
		case O_TIMEOUT:
			if (kva_parse_double(optarg, &d, &errstr) || d <= 0 || d > 86400)
				kva_die(2, "--timeout: value is invalid: %s", optarg);
			op.conf.lim.timeout_s = d;
			op.timeout_set = 1;
			break;
		case O_CPU:
			if (kva_parse_i64(optarg, 1, 86400, &v, &errstr))
				kva_die(2, "--cpu-limit: value is %s: %s", errstr, optarg);
			op.conf.lim.cpu_s = (int)v;
			break;
		case O_MEM:
			if (kva_parse_size(optarg, &op.conf.lim.as_bytes, &errstr))
				kva_die(2, "--mem-limit: value is %s: %s", errstr, optarg);
			break;
		case O_BATCH:
			if (kva_parse_i64(optarg, 1, 1 << 20, &v, &errstr))
				kva_die(2, "--batch: value is %s: %s", errstr, optarg);
			op.conf.batch = (size_t)v;
			op.batch_set = 1;
			break;
		case O_SEED:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &v, &errstr))
				kva_die(2, "--seed: value is %s: %s", errstr, optarg);
			op.conf.seed = op.go.seed = (uint64_t)v;
			op.seed_set = 1;
			break;
		case O_HEADDIM:
			if (kva_parse_i64(optarg, 1, 65536, &v, &errstr))
				kva_die(2, "--head-dim: value is %s: %s", errstr, optarg);
			op.conf.head_dim = (int)v;
			break;
		case O_NUMHEADS:
			if (kva_parse_i64(optarg, 1, 65536, &op.go.num_heads, &errstr))
				kva_die(2, "--num-heads: value is %s: %s", errstr, optarg);
			break;
		case O_DEVICE:
			if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda"))
				kva_die(2, "--device: want cpu or cuda, not %s", optarg);
			op.device = optarg;
			break;
		case O_CACHE: op.cache_dir = optarg; break;
		case O_CSTDERR:
			/* stderr may be a file: let it grow, within reason */
			op.conf.lim.keep_stderr = 1;
			op.conf.lim.fsize_bytes = (size_t)64 << 20;
			break;
		case O_LOADTO:
			if (kva_parse_double(optarg, &d, &errstr) || d <= 0 || d > 86400)
				kva_die(2, "--load-timeout: value is invalid: %s", optarg);
			op.conf.lim.load_timeout_s = d;
			break;
		case O_MAXHANGS:
			if (kva_parse_i64(optarg, 1, 1000000, &v, &errstr))
				kva_die(2, "--max-hangs: value is %s: %s", errstr, optarg);
			op.conf.max_hangs = (int)v;
			break;
		case O_CONFINE:
			if (!strcmp(optarg, "auto"))
				op.conf.lim.confine = KVA_CONFINE_AUTO;
			else if (!strcmp(optarg, "strict"))
				op.conf.lim.confine = KVA_CONFINE_STRICT;
			else
				kva_die(2, "--confine: want auto or strict, not %s", optarg);
			break;
		case O_NOCONFINE: op.conf.lim.confine = KVA_CONFINE_OFF; break;
		case O_RUN: op.run = optarg; break;
		case O_REPEAT:
			if (kva_parse_i64(optarg, 1, 100, &v, &errstr))
				kva_die(2, "--repeat: value is %s: %s", errstr, optarg);
			op.conf.repeat = (int)v;
			break;
		case O_SOAK:
			if (kva_parse_i64(optarg, 0, (int64_t)1 << 40, &v, &errstr))
				kva_die(2, "--soak: value is %s: %s", errstr, optarg);
			op.conf.soak = (uint64_t)v;
			op.conf.soak_set = 1;
			break;
		case O_MUTATE: op.mutate = 1; break;
		case 'j':
			if (kva_parse_i64(optarg, 1, 1024, &op.jobs, &errstr))
				kva_die(2, "--jobs: value is %s: %s", errstr, optarg);
			break;
		case O_MINIMIZE: op.minimize = optarg; break;
		case O_UNIT: op.unit_test = 1; break;
		case O_BOUNDARIES: op.boundaries = 1; break;
		case O_SWEEP: op.sweep = optarg; break;
		case O_RANDOM:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &op.nrandom, &errstr))
				kva_die(2, "--random: value is %s: %s", errstr, optarg);
			break;
		default:
			kva_stdopt(c, optarg, &so, usage);
			break;
		}
	}
	op.keep_going = so.keep_going;
	op.unbuffered = so.unbuffered;
	op.progress = so.progress;
	op.quiet = so.quiet;
	if (so.max_record)
		op.max_record = so.max_record;
	argc -= optind;
	argv += optind;
	kva_out_init(op.unbuffered);
	if (op.run) {
		if (op.candidate || op.cmd || argc > 0) {
			kva_warnx("--run takes a command and nothing to trap");
			usage(stderr);
			return 2;
		}
		return run_confined(&op);
	}
	if (!op.candidate == !op.cmd) {
		kva_warnx("give exactly one of --candidate and --candidate-cmd");
		usage(stderr);
		return 2;
	}
	modes = op.boundaries + (op.sweep != NULL) + (op.nrandom >= 0);
	if (!op.mutate && (op.jobs || op.minimize || op.unit_test))
		kva_die(2, "--jobs, --minimize and --unit-test go with --mutate");
	if (op.mutate) {
		const char *dot = op.candidate ? strrchr(op.candidate, '.') : NULL;

		if (!dot || strcmp(dot, ".c"))
			kva_die(2, "--mutate needs the candidate's C source (a .c file), "
				"not %s", op.candidate ? op.candidate : "--candidate-cmd");
		if (KVA_KIND_BLOCKS(op.conf.kind))
			kva_die(2, "--mutate: not for the block-copy kinds (yet)");
		if (op.dump)
			kva_die(2, "--mutate: no --dump (the mutants' gradients are "
				"not kept)");
	}
	if (KVA_KIND_BLOCKS(op.conf.kind) && op.dump)
		kva_die(2, "--dump: the block-copy kinds have no tokens' gradients to "
			"dump (their records name the blocks)");
	if (KVA_KIND_BLOCKS(op.conf.kind) && (op.sweep || op.oracle_name))
		kva_die(2, "--kind %s: no --oracle and no --sweep (the reference is "
			"the CPU twin; generators: --boundaries, --random N)",
			kva_kind_names[op.conf.kind]);
	if (modes > 1 || (modes && argc > 0) ||
	    (modes && !op.oracle_name && !KVA_KIND_BLOCKS(op.conf.kind))) {
		kva_warnx("a generator (--boundaries, --sweep, --random) needs "
			  "--oracle and no input files, and only one of them");
		usage(stderr);
		return 2;
	}
	if (op.oracle_name && !kva_oracle_find(op.oracle_name))
		kva_die(2, "--oracle: unknown oracle \"%s\"", op.oracle_name);
	kva_candidate_confine = op.conf.lim.confine; /* the build too */
	if (op.candidate && !op.mutate) {
		if (kva_candidate_build(op.candidate, op.cache_dir, &cand, &e))
			kva_die(2, "%s", e.msg);
		if (cand.cuda && strcmp(op.device, "cuda"))
			kva_die(2, "%s: a CUDA candidate needs --device cuda",
				op.candidate);
		/* the sandboxed child loads the CUDA runtime and refuses
		 * (exit 2, with the runtime's reason) when no device is usable */
		op.conf.cuda = !strcmp(op.device, "cuda");
		op.conf.so = cand.so;
		op.conf.cand_name = op.candidate;
		memcpy(op.conf.sha256, cand.sha256, sizeof cand.sha256);
	} else if (op.cmd) {
		op.conf.cmd = op.cmd;
		op.conf.cand_name = op.cmd;
		kva_sha256_hex(op.cmd, strlen(op.cmd), op.conf.sha256);
	}
	op.conf.text = op.text;
	/* the payload is unpredictable: a fresh seed unless one is given,
	 * recorded in the summary and the store so the run can be replayed */
	if (!op.seed_set)
		op.conf.seed = op.go.seed = kva_fresh_seed();
	if (!op.conf.soak_set)
		op.conf.soak = 65536;
	if (!op.conf.repeat)
		op.conf.repeat = op.conf.kind == KVA_KIND_ROUTE ? 1 : 2;
	/* a kernel call holds up to --batch tokens: engines make 8192 */
	if (!op.batch_set && op.conf.kind != KVA_KIND_ROUTE)
		op.conf.batch = 8192;
	if (op.conf.head_dim < 0)
		op.conf.head_dim = op.conf.kind == KVA_KIND_ROUTE ? 128 : 16;
	/* vLLM's x: 16 bytes of the key cache's elements */
	if (!op.x_set && op.conf.dtype != KVA_DTYPE_F32)
		op.conf.x = 8;

	if (op.mutate)
		return mutate(&op, argc, argv, modes);
	kva_progress_init(&prog, "cases", op.progress, op.quiet);
	if (modes && KVA_KIND_BLOCKS(op.conf.kind)) {
		t = start(&op, kva_oracle_find("paged"));
		if (kva_trap_blocks_generate(t, op.boundaries ? "boundaries" : "random",
					     (uint64_t)(op.nrandom < 0 ? 0 : op.nrandom), &e)) {
			kva_out_flush();
			kva_die(2, "%s", e.msg);
		}
	} else if (modes) {
		t = start(&op, kva_oracle_find(op.oracle_name));
		if (kva_trap_generate(t, op.boundaries ? "boundaries" : op.sweep ?
				      "sweep" : "random", op.sweep,
				      (uint64_t)(op.nrandom < 0 ? 0 : op.nrandom),
				      &op.go, &e)) {
			kva_out_flush();
			kva_die(2, "%s", e.msg);
		}
	} else {
		if (argc == 0 && filter(&op, &t, "-", &prog, &done))
			rc = 2;
		for (int i = 0; i < argc; i++) {
			int frc = filter(&op, &t, argv[i], &prog, &done);

			if (frc)
				rc = 2;
			if (frc < 0 && !op.keep_going)
				break;
		}
		if (t && kva_trap_flush(t, &e)) {
			kva_out_flush();
			kva_die(2, "%s", e.msg);
		}
	}
	kva_progress_done(&prog, done);
	if (!t) {
		/* an empty run checked nothing: never a PASS */
		if (rc == 0)
			kva_warnx("no case records: nothing was checked");
		kva_out_close();
		return 2;
	}
	{
		kva_trap_facts f;

		kva_trap_get_facts(t, &f);
		if (f.cases == 0 && f.not_run == 0 && rc == 0) {
			/* nothing was checked: no summary, never a PASS */
			kva_warnx("no cases: nothing was checked");
			kva_trap_free(t);
			kva_out_close();
			return 2;
		}
	}
	{
		kva_buf b = { 0 };

		if (op.text)
			kva_trap_text(t, &b);
		else
			kva_trap_summary(t, &b);
		if (op.text) {
			kva_out_line(b.p, b.len ? b.len - 1 : 0);
		} else {
			kva_out_record(&b);
		}
		kva_buf_free(&b);
	}
	if (op.dump && kva_trap_dump(t, op.dump, &e)) {
		kva_warnx("%s", e.msg);
		rc = 2;
	}
	if (op.db) {
		kva_db *db;
		kva_trap_facts f;
		kva_trap_row row;

		kva_trap_get_facts(t, &f);
		memset(&row, 0, sizeof row);
		row.oracle = KVA_KIND_BLOCKS(op.conf.kind) ? (op.conf.kind ==
			     KVA_KIND_COPY_BLOCKS ? "kva_ref_copy_blocks" :
			     "kva_ref_swap_blocks") : op.conf.o->name;
		row.kind = kva_kind_names[op.conf.kind];
		row.candidate = op.conf.cand_name;
		row.candidate_sha256 = op.conf.sha256;
		row.verdict = f.verdict;
		row.first_case_json = f.first_case[0] ? f.first_case : NULL;
		row.classes_json = f.classes;
		row.cases = (int64_t)f.cases;
		row.diverged = (int64_t)f.diverged;
		row.seed = (int64_t)op.conf.seed;
		row.divergence = f.divergence;
		row.tol = op.conf.tol;
		row.seconds = f.seconds;
		row.not_run = (int64_t)f.not_run;
		row.confinement_json = f.confinement;
		if (kva_db_open(op.db, &db, &e) || kva_db_add_trap_run(db, &row, NULL, &e)) {
			kva_warnx("%s", e.msg);
			rc = 2;
		}
		kva_db_close(db);
	}
	if (rc == 0 && kva_trap_verdict(t))
		rc = 1;
	kva_trap_free(t);
	if (kva_out_close())
		rc = 2;
	return rc;
}
