/*
 * route-oracle - closed-form KV-cache routing oracles.
 *
 * Reads query records and writes case records (the query's fields, the
 * oracle's name and its expect object), or generates cases itself from
 * the oracle's formula: --boundaries, --sweep, --random.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"

static void usage(FILE *fp)
{
	fputs("usage: route-oracle [--oracle NAME | --formula FILE] [--keep-going]\n"
	      "                    [--max-record SIZE] [--unbuffered] [FILE ...]\n"
	      "       route-oracle [--oracle NAME | --formula FILE] --boundaries\n"
	      "                    [--num-heads N]\n"
	      "       route-oracle [--oracle NAME | --formula FILE] --sweep SPEC [--seed S]\n"
	      "       route-oracle [--oracle NAME | --formula FILE] --random N [--seed S]\n"
	      "       route-oracle [--oracle NAME | --formula FILE] --print-formula\n"
	      "       route-oracle --list | -h | --help | --version\n"
	      "oracles: radix-1d radix-2d (default) paged paged-ring flashinfer rolling\n",
	      fp);
}

/* 64-bit FNV-1a of a serialised case, for kva_hset. */
static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

typedef struct gen_ctx {
	kva_buf b;
	kva_hset *dedup; /* NULL: emit everything */
	uint64_t n;
	kva_progress prog;
} gen_ctx;

/* Serialise one case: type, inputs, oracle, expect. */
static void write_case(kva_buf *b, const kva_oracle *o, const kva_args *a,
		       const kva_route *r)
{
	kva_buf_puts(b, "{\"type\":\"case\"");
	kva_args_write(b, o, a);
	kva_buf_puts(b, ",\"oracle\":");
	kva_buf_jstr(b, o->name, strlen(o->name));
	kva_buf_puts(b, ",\"expect\":");
	kva_route_write(b, o, r);
	kva_buf_putc(b, '}');
}

/* kva_emit_fn: the generators call this for every valid query. */
static int emit_case(void *vctx, const kva_oracle *o, const kva_args *a)
{
	gen_ctx *g = vctx;
	kva_route r;
	kva_err e;

	if (kva_oracle_eval(o, a, &r, &e))
		return 0; /* generators emit valid queries; skip defensively */
	g->b.len = 0;
	write_case(&g->b, o, a, &r);
	if (g->dedup && !kva_hset_add(g->dedup, fnv1a(g->b.p, g->b.len)))
		return 0;
	kva_out_record(&g->b);
	kva_progress_tick(&g->prog, ++g->n);
	return 0;
}

typedef struct opts {
	const kva_oracle *oracle;
	kva_oracle user;       /* from --formula */
	const char *formula_path;
	int keep_going, unbuffered, progress, quiet;
	size_t max_record;
} opts;

/* Which oracle a query record names ("oracle" field), or the default. */
static const kva_oracle *record_oracle(const opts *op, const kva_jval *root,
				       kva_err *e)
{
	const kva_jval *v = kva_json_get(root, "oracle");
	const kva_oracle *o;

	if (!v)
		return op->oracle;
	if (v->t != KVA_JSTR) {
		kva_errf(e, "oracle", "must be a string");
		return NULL;
	}
	if (op->formula_path && !strcmp(v->s, op->user.name))
		return &op->user;
	if (!(o = kva_oracle_find(v->s)))
		kva_errf(e, "oracle", "unknown oracle \"%.60s\"", v->s);
	return o;
}

/* Turn one query record into a case record in b.  Returns 0 or -1. */
static int query_to_case(const opts *op, const kva_rec *rec, kva_buf *b,
			 kva_tabstore *ts, kva_err *e)
{
	const kva_oracle *o = record_oracle(op, rec->root, e);
	kva_args a;
	kva_route r;

	if (!o || kva_args_from_json(o, rec->root, &a, ts, e) ||
	    kva_oracle_eval(o, &a, &r, e))
		return -1;
	b->len = 0;
	kva_buf_puts(b, "{\"type\":\"case\"");
	for (const kva_jval *k = rec->root->child; k; k = k->next) {
		if (!strcmp(k->key, "type") || !strcmp(k->key, "oracle") ||
		    !strcmp(k->key, "expect"))
			continue;
		kva_buf_putc(b, ',');
		kva_buf_jstr(b, k->key, k->keylen);
		kva_buf_putc(b, ':');
		kva_json_write(b, k);
	}
	kva_buf_puts(b, ",\"oracle\":");
	kva_buf_jstr(b, o->name, strlen(o->name));
	kva_buf_puts(b, ",\"expect\":");
	kva_route_write(b, o, &r);
	kva_buf_putc(b, '}');
	return 0;
}

/* The record loop over one input.  Returns 0, 1 if a bad record was
 * skipped under --keep-going, or -1 to stop (already reported). */
static int filter(const opts *op, const char *path, kva_progress *prog,
		  uint64_t *done)
{
	kva_reader rd;
	kva_rec rec;
	kva_err e;
	kva_buf b = { 0 };
	kva_tabstore ts = { 0 };
	int st, rc = 0;

	if (kva_reader_open(&rd, path, op->max_record))
		return -1;
	while ((st = kva_reader_next(&rd, &rec, &e)) != 0) {
		if (st == -2) {
			rc = -1;
			break;
		}
		if (st == 1 && strcmp(rec.type, "query")) {
			kva_out_line(rec.text, rec.len);
			continue;
		}
		if (st == 1 && !query_to_case(op, &rec, &b, &ts, &e)) {
			kva_out_record(&b);
			kva_progress_tick(prog, ++*done);
			continue;
		}
		kva_report_bad(&rd, rec.line, &e, op->keep_going);
		if (!op->keep_going) {
			rc = -1;
			break;
		}
		rc = 1;
	}
	kva_buf_free(&b);
	kva_tabstore_free(&ts);
	kva_reader_close(&rd);
	return rc;
}

/* Read a whole file into memory (formula files are small). */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	kva_buf b = { 0 };
	char chunk[4096];
	size_t n;

	if (!fp)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		kva_buf_put(&b, chunk, n);
	if (ferror(fp)) {
		fclose(fp);
		kva_buf_free(&b);
		return NULL;
	}
	fclose(fp);
	kva_buf_put(&b, "", 0);
	*len = b.len;
	return b.p;
}

enum { O_ORACLE = 256, O_FORMULA, O_BOUNDARIES, O_SWEEP, O_RANDOM, O_SEED,
       O_NUM_HEADS, O_PRINT, O_LIST };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "oracle", required_argument, NULL, O_ORACLE },
		{ "formula", required_argument, NULL, O_FORMULA },
		{ "boundaries", no_argument, NULL, O_BOUNDARIES },
		{ "sweep", required_argument, NULL, O_SWEEP },
		{ "random", required_argument, NULL, O_RANDOM },
		{ "seed", required_argument, NULL, O_SEED },
		{ "num-heads", required_argument, NULL, O_NUM_HEADS },
		{ "print-formula", no_argument, NULL, O_PRINT },
		{ "list", no_argument, NULL, O_LIST },
		{ "keep-going", no_argument, NULL, KVA_OPT_KEEP },
		{ "max-record", required_argument, NULL, KVA_OPT_MAXREC },
		{ "unbuffered", no_argument, NULL, KVA_OPT_UNBUF },
		{ "progress", no_argument, NULL, KVA_OPT_PROGRESS },
		{ "quiet", no_argument, NULL, KVA_OPT_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, KVA_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	opts op = { 0 };
	kva_gen_opts go = { 8, 0, 0 };
	const char *oracle_name = "radix-2d", *sweep = NULL, *errstr;
	int boundaries = 0, print = 0, list = 0, c, rc = 0, modes;
	int64_t v, nrandom = -1;
	struct kva_formula *uf = NULL;
	char *ftext = NULL;
	kva_err e;
	kva_progress prog;
	uint64_t done = 0;

	kva_progname = "route-oracle";
	kva_stdopts so = { 0 };

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ORACLE: oracle_name = optarg; break;
		case O_FORMULA: op.formula_path = optarg; break;
		case O_BOUNDARIES: boundaries = 1; break;
		case O_SWEEP: sweep = optarg; break;
		case O_RANDOM:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &nrandom, &errstr))
				kva_die(2, "--random: value is %s: %s", errstr, optarg);
			break;
		case O_SEED:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &v, &errstr))
				kva_die(2, "--seed: value is %s: %s", errstr, optarg);
			go.seed = (uint64_t)v;
			break;
		case O_NUM_HEADS:
			if (kva_parse_i64(optarg, 1, 65536, &go.num_heads, &errstr))
				kva_die(2, "--num-heads: value is %s: %s", errstr, optarg);
			break;
		case O_PRINT: print = 1; break;
		case O_LIST: list = 1; break;
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

	if (list) {
		kva_buf b = { 0 };

		for (int i = 0; kva_oracles[i]; i++) {
			const kva_oracle *o = kva_oracles[i];

			kva_buf_puts(&b, "{\"type\":\"oracle\",\"name\":");
			kva_buf_jstr(&b, o->name, strlen(o->name));
			kva_buf_puts(&b, ",\"inputs\":[");
			for (int k = 0; k < o->nin + o->ntab; k++) {
				const char *n = k < o->nin ? o->in[k] : o->tab[k - o->nin];

				if (k)
					kva_buf_putc(&b, ',');
				kva_buf_jstr(&b, n, strlen(n));
			}
			kva_buf_puts(&b, "],\"outputs\":[");
			for (int k = 0; k < o->nout; k++) {
				if (k)
					kva_buf_putc(&b, ',');
				kva_buf_jstr(&b, o->out[k], strlen(o->out[k]));
			}
			kva_buf_puts(&b, "]}");
			kva_out_record(&b);
		}
		kva_buf_free(&b);
		return kva_out_close() ? 2 : 0;
	}

	if (op.formula_path) {
		size_t len;

		if (!(ftext = slurp(op.formula_path, &len)))
			kva_die(2, "%s: cannot read: %s", op.formula_path,
				strerror(errno));
		if (!(uf = kva_formula_parse(ftext, len, &e)))
			kva_die(2, "%s:%s", op.formula_path, e.msg);
		if (kva_formula_oracle(uf, &op.user, &e))
			kva_die(2, "%s: %s", op.formula_path, e.msg);
		op.oracle = &op.user;
	} else if (!(op.oracle = kva_oracle_find(oracle_name))) {
		kva_die(2, "--oracle: unknown oracle \"%s\" (see --list)", oracle_name);
	}

	modes = boundaries + (sweep != NULL) + (nrandom >= 0) + print;
	if (modes > 1 || (modes && argc > 0)) {
		kva_warnx("--boundaries, --sweep, --random and --print-formula "
			  "exclude each other and input files");
		usage(stderr);
		return 2;
	}
	if (print) {
		if (uf)
			kva_formula_print(uf, stdout);
		else
			fputs(op.oracle->formula_text, stdout);
		if (fflush(stdout) || ferror(stdout))
			kva_die(2, "write error: %s", strerror(errno));
		rc = 0;
		goto out;
	}

	kva_progress_init(&prog, "cases", op.progress, op.quiet);
	if (modes) {
		gen_ctx g = { { 0 }, NULL, 0, prog };
		kva_hset dd = { 0 };
		int grc;

		if (boundaries) {
			g.dedup = &dd;
			grc = kva_gen_fixtures(op.oracle, emit_case, &g, &e);
			if (!grc)
				grc = kva_gen_boundaries(op.oracle, &go, emit_case, &g, &e);
		} else if (sweep) {
			grc = kva_gen_sweep(op.oracle, sweep, &go, emit_case, &g, &e);
		} else {
			grc = kva_gen_random(op.oracle, (uint64_t)nrandom, &go,
					     emit_case, &g, &e);
		}
		kva_progress_done(&g.prog, g.n);
		kva_buf_free(&g.b);
		kva_hset_free(&dd);
		if (grc) {
			kva_out_flush();
			kva_warnx("%s", e.msg);
			rc = 2;
		}
		goto out;
	}

	if (argc == 0) {
		if (filter(&op, "-", &prog, &done))
			rc = 2;
	}
	for (int i = 0; i < argc; i++) {
		int frc = filter(&op, argv[i], &prog, &done);

		if (frc)
			rc = 2;
		if (frc < 0 && !op.keep_going)
			break;
	}
	kva_progress_done(&prog, done);
out:
	if (kva_out_close())
		rc = 2;
	kva_formula_free(uf);
	free(ftext);
	return rc;
}
