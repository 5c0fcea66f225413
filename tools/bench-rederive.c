/*
 * bench-rederive - re-derive every benchmark number from the raw rows.
 *
 * Reads SGLang bench_serving rows, vLLM --save-result JSON, hyperfine
 * --export-json documents and generic run records, groups the reps into
 * legs, and writes one leg record per leg, one comparison record per leg
 * against the reference leg, and claim_check records for reported numbers
 * (claim records, and the summaries the raw formats carry themselves).
 * The model, the format adapters and the output are in lib/bench*.c and
 * lib/bfmt_*.c; this file is the command line and the reading loop.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *fp)
{
	fputs("usage: bench-rederive [--metric NAME] [--higher-is-better | --lower-is-better]\n"
	      "                      [--ref LEG] [--resamples N] [--seed S] [--tolerance PCT]\n"
	      "                      [--input-format auto|sglang|vllm|hyperfine|run|\n"
	      "                                      gbench|pytest-benchmark|criterion]\n"
	      "                      [--format jsonl|text] [--max-reps N] [--keep-going]\n"
	      "                      [--max-record SIZE] [--progress | --quiet]\n"
	      "                      [[LEG=]FILE ...]\n"
	      "       bench-rederive -h | --help | --version\n",
	      fp);
}

/*
 * Read one operand ("FILE", "LEG=FILE", "-") into b.  Returns 0, 1 if bad
 * records were turned into error records (--keep-going), -1 to stop.
 */
static int read_operand(kva_bench *b, const char *operand, size_t max_record)
{
	kva_reader r;
	kva_rec rec;
	kva_bench_unit u;
	kva_err e;
	char *legname = NULL;
	const char *path = operand, *eq = strchr(operand, '=');
	int st, rc = 0;

	memset(&u, 0, sizeof u);
	if (eq && eq != operand && !memchr(operand, '/', (size_t)(eq - operand))) {
		legname = kva_xrealloc(NULL, (size_t)(eq - operand) + 1, 1);
		memcpy(legname, operand, (size_t)(eq - operand));
		legname[eq - operand] = '\0';
		path = eq + 1;
	}
	if (kva_reader_open(&r, path, max_record)) {
		free(legname);
		return -1;
	}
	/* foreign rows have no "type" and may hold NaN; hyperfine and vLLM
	 * write pretty-printed documents */
	r.flags = KVA_READ_UNTYPED | KVA_READ_NONFINITE | KVA_READ_DOCUMENT;
	u.src = kva_bench_src(b, r.name);
	u.leg_name = legname;
	u.rec = &rec;
	while ((st = kva_reader_next(&r, &rec, &e)) != 0) {
		if (st == -2) {
			rc = -1;
			break;
		}
		u.errline = rec.line;
		if (st == 1 && !kva_bench_record(b, &u, &e))
			continue;
		kva_report_bad(&r, u.errline, &e, b->op.keep_going);
		if (!b->op.keep_going) {
			rc = -1;
			break;
		}
		rc = 1;
	}
	kva_reader_close(&r);
	free(legname);
	return rc;
}

enum { O_METRIC = 256, O_HIGHER, O_LOWER, O_REF, O_RESAMPLES, O_SEED, O_TOL,
       O_INFMT, O_FORMAT, O_MAXREPS };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "metric", required_argument, NULL, O_METRIC },
		{ "higher-is-better", no_argument, NULL, O_HIGHER },
		{ "lower-is-better", no_argument, NULL, O_LOWER },
		{ "ref", required_argument, NULL, O_REF },
		{ "resamples", required_argument, NULL, O_RESAMPLES },
		{ "seed", required_argument, NULL, O_SEED },
		{ "tolerance", required_argument, NULL, O_TOL },
		{ "input-format", required_argument, NULL, O_INFMT },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "max-reps", required_argument, NULL, O_MAXREPS },
		{ "keep-going", no_argument, NULL, KVA_OPT_KEEP },
		{ "max-record", required_argument, NULL, KVA_OPT_MAXREC },
		{ "progress", no_argument, NULL, KVA_OPT_PROGRESS },
		{ "quiet", no_argument, NULL, KVA_OPT_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, KVA_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	kva_bench b;
	kva_bench_opts *op = &b.op;
	const char *errstr;
	int64_t v;
	int c, rc = 0, r;
	size_t max_record = KVA_MAX_RECORD_DEFAULT;
	kva_stdopts so = { 0 };

	kva_progname = "bench-rederive";
	kva_bench_init(&b);

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_METRIC:
			if (!*optarg)
				kva_die(2, "--metric: value is empty");
			op->metric = optarg;
			break;
		case O_HIGHER: op->dir = 1; break;
		case O_LOWER: op->dir = -1; break;
		case O_REF: op->ref = optarg; break;
		case O_RESAMPLES:
			if (kva_parse_i64(optarg, 1, 100000000, &v, &errstr))
				kva_die(2, "--resamples: value is %s: %s", errstr, optarg);
			op->resamples = (uint64_t)v;
			break;
		case O_SEED:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &v, &errstr))
				kva_die(2, "--seed: value is %s: %s", errstr, optarg);
			op->seed = (uint64_t)v;
			break;
		case O_TOL:
			if (kva_parse_double(optarg, &op->tolerance_pct, &errstr))
				kva_die(2, "--tolerance: value is %s: %s", errstr, optarg);
			if (op->tolerance_pct < 0)
				kva_die(2, "--tolerance: value is too small: %s", optarg);
			break;
		case O_INFMT:
			op->input_format = kva_bench_fmt_find(optarg);
			if (!op->input_format && strcmp(optarg, "auto"))
				kva_die(2, "--input-format: want auto, sglang, vllm, "
					"hyperfine, run, gbench, pytest-benchmark or "
					"criterion, not %s", optarg);
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "text"))
				op->text = 1;
			else if (strcmp(optarg, "jsonl"))
				kva_die(2, "--format: want jsonl or text, not %s", optarg);
			break;
		case O_MAXREPS:
			if (kva_parse_i64(optarg, 0, KVA_INT_LIMIT, &v, &errstr))
				kva_die(2, "--max-reps: value is %s: %s", errstr, optarg);
			op->max_reps = (size_t)v;
			break;
		default:
			kva_stdopt(c, optarg, &so, usage);
			break;
		}
	}
	op->keep_going = so.keep_going;
	if (so.max_record)
		max_record = so.max_record;
	argc -= optind;
	argv += optind;
	if (op->metric && !op->dir && !kva_bench_direction(op->metric))
		kva_die(2, "--metric: cannot tell whether a higher or lower \"%s\" is "
			"better (give --higher-is-better or --lower-is-better)",
			op->metric);
	kva_out_init(0);
	kva_progress_init(&b.prog, "rows", so.progress, so.quiet);

	if (argc == 0 && read_operand(&b, "-", max_record))
		rc = 2;
	for (int i = 0; i < argc; i++) {
		r = read_operand(&b, argv[i], max_record);
		if (r)
			rc = 2;
		if (r < 0 && !op->keep_going)
			break;
	}
	kva_progress_done(&b.prog, b.rows);
	/* a leg missing reps would be a wrong answer */
	if (!rc || op->keep_going) {
		r = kva_bench_finish(&b);
		rc = r > rc ? r : rc;
	}
	if (kva_out_close())
		rc = 2;
	kva_bench_free(&b);
	return rc;
}
