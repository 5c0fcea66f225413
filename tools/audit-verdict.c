/*
 * audit-verdict - the independent sign-off: PASS, FLAG or FAIL, with the
 * raw numbers and where they came from behind every finding.
 *
 * Reads bench-rederive's records (leg, comparison, claim_check, claim) and
 * evidence records (engagement, parity, lever, crash, contention, harness,
 * profile, inert), passes every other record through, and writes one
 * finding per rule of the scope, with --ledger one ledger record per claim,
 * and one verdict.  The rules are in
 * lib/audit.c; this file reads, writes and records.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db.h"

static void usage(FILE *fp)
{
	fputs("usage: audit-verdict [--scope patch|bundle|baseline|profile|harness]\n"
	      "                     [--noise-band PCT] [--baseline-throughput X]\n"
	      "                     [--min-reps N] [--alpha A] [--min-effect PCT]\n"
	      "                     [--latency-regress-pct PCT] [--latency-hard-limit PCT]\n"
	      "                     [--rel-tol X]"
	      " [--fragment-pct PCT] [--cand LEG] [--ref LEG]\n"
	      "                     [--format jsonl|text] [--ledger] [--db FILE] [--keep-going]\n"
	      "                     [--max-record SIZE] [FILE ...]\n"
	      "       audit-verdict -h | --help | --version\n",
	      fp);
}

typedef struct opts {
	kva_audit_opts ao;
	const char *db;
	int text, keep_going;
	size_t max_record;
} opts;

/*
 * The record loop over one input: consumed records go to the audit, the
 * rest pass through (in jsonl output).  Returns 0, 1 if a bad record was
 * turned into an error record (--keep-going), or -1 to stop (reported).
 */
static int filter(const opts *op, kva_audit *a, const char *path)
{
	kva_reader rd;
	kva_rec rec;
	kva_err e;
	int st, rc = 0;

	if (kva_reader_open(&rd, path, op->max_record))
		return -1;
	while ((st = kva_reader_next(&rd, &rec, &e)) != 0) {
		if (st == -2) {
			rc = -1;
			break;
		}
		if (st == 1 && !kva_audit_consumes(rec.type)) {
			if (!op->text)
				kva_out_line(rec.text, rec.len);
			continue;
		}
		if (st == 1 && !kva_audit_add(a, rec.root, rec.text, rec.len,
					      rd.name, rec.line, &e))
			continue;
		kva_report_bad(&rd, rec.line, &e, op->keep_going && !op->text);
		if (!op->keep_going) {
			rc = -1;
			break;
		}
		kva_audit_note_refused(a, rd.name, rec.line);
		rc = 1;
	}
	kva_reader_close(&rd);
	return rc;
}

/* Record the verdict and its findings in the trace store; 0 or -1. */
static int record(const char *path, const kva_audit_result *r)
{
	kva_finding_row *fr = calloc(r->nfindings ? r->nfindings : 1, sizeof *fr);
	kva_verdict_row vr;
	kva_db *db = NULL;
	kva_err e;
	int rc = 0;

	if (!fr)
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	for (size_t i = 0; i < r->nfindings; i++) {
		const kva_audit_finding *f = &r->findings[i];

		fr[i].rule = f->rule;
		fr[i].severity = kva_sev_names[f->severity];
		fr[i].status = f->status;
		fr[i].action = f->action;
		fr[i].threshold = f->threshold;
		fr[i].record_json = f->json.p;
	}
	memset(&vr, 0, sizeof vr);
	vr.scope = r->scope;
	vr.leg = r->leg;
	vr.ref = r->ref;
	vr.metric = r->metric;
	vr.verdict = kva_sev_names[r->verdict];
	vr.action = r->action;
	vr.lever_class = r->lever_class;
	vr.headline_integrity = r->headline_integrity;
	vr.correctness_status = r->correctness_status;
	vr.counts_as_kernel_win = r->counts_as_kernel_win;
	vr.e2e_delta_pct = r->e2e_delta_pct;
	vr.baseline_drift_pct = r->baseline_drift_pct;
	vr.record_json = r->json.p;
	vr.findings = fr;
	vr.nfindings = r->nfindings;
	if (kva_db_open(path, &db, &e) || kva_db_add_verdict(db, &vr, NULL, &e)) {
		kva_warnx("%s", e.msg);
		rc = -1;
	}
	kva_db_close(db);
	free(fr);
	return rc;
}

/* A percentage or other non-negative number option. */
static double num_opt(const char *name, const char *arg, double lo, int lo_open,
		      double hi, int hi_open)
{
	const char *errstr;
	double v;

	if (kva_parse_double(arg, &v, &errstr))
		kva_die(2, "--%s: value is %s: %s", name, errstr, arg);
	if (!isfinite(v) || (lo_open ? v <= lo : v < lo))
		kva_die(2, "--%s: value is too small: %s", name, arg);
	if (hi_open ? v >= hi : v > hi)
		kva_die(2, "--%s: value is too large: %s", name, arg);
	return v;
}

enum { O_SCOPE = 256, O_BAND, O_BASE, O_MINREPS, O_ALPHA, O_MINEFF, O_LREG, O_LHARD,
       O_RELTOL, O_FRAG, O_CAND, O_REF, O_FORMAT, O_DB, O_LEDGER };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "scope", required_argument, NULL, O_SCOPE },
		{ "noise-band", required_argument, NULL, O_BAND },
		{ "baseline-throughput", required_argument, NULL, O_BASE },
		{ "min-reps", required_argument, NULL, O_MINREPS },
		{ "alpha", required_argument, NULL, O_ALPHA },
		{ "min-effect", required_argument, NULL, O_MINEFF },
		{ "latency-regress-pct", required_argument, NULL, O_LREG },
		{ "latency-hard-limit", required_argument, NULL, O_LHARD },
		{ "rel-tol", required_argument, NULL, O_RELTOL },
		{ "fragment-pct", required_argument, NULL, O_FRAG },
		{ "cand", required_argument, NULL, O_CAND },
		{ "ref", required_argument, NULL, O_REF },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "db", required_argument, NULL, O_DB },
		{ "ledger", no_argument, NULL, O_LEDGER },
		{ "keep-going", no_argument, NULL, KVA_OPT_KEEP },
		{ "max-record", required_argument, NULL, KVA_OPT_MAXREC },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, KVA_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	opts op;
	kva_audit *a;
	const kva_audit_result *res;
	const char *errstr;
	kva_err e;
	int64_t v;
	int c, rc = 0, s;

	kva_progname = "audit-verdict";
	memset(&op, 0, sizeof op);
	kva_audit_opts_default(&op.ao);
	op.max_record = KVA_MAX_RECORD_DEFAULT;
	kva_stdopts so = { 0 };

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SCOPE:
			for (s = 0; kva_scope_names[s] && strcmp(optarg, kva_scope_names[s]); s++)
				;
			if (!kva_scope_names[s])
				kva_die(2, "--scope: want patch, bundle, baseline, "
					"profile or harness, not %s", optarg);
			op.ao.scope = s;
			break;
		case O_BAND:
			op.ao.noise_band_pct = num_opt("noise-band", optarg, 0, 0, 100, 0);
			break;
		case O_BASE:
			op.ao.baseline_throughput = num_opt("baseline-throughput",
							    optarg, 0, 1, INFINITY, 1);
			break;
		case O_MINREPS:
			if (kva_parse_i64(optarg, 1, 1000000, &v, &errstr))
				kva_die(2, "--min-reps: value is %s: %s", errstr, optarg);
			op.ao.min_reps = v;
			break;
		case O_ALPHA:
			op.ao.alpha = num_opt("alpha", optarg, 0, 1, 1, 1);
			break;
		case O_MINEFF:
			op.ao.min_effect_pct = num_opt("min-effect", optarg, 0, 0, 100, 0);
			break;
		case O_LREG:
			op.ao.latency_regress_pct = num_opt("latency-regress-pct",
							    optarg, 0, 0, INFINITY, 1);
			break;
		case O_LHARD:
			op.ao.latency_hard_pct = num_opt("latency-hard-limit", optarg,
							 0, 0, INFINITY, 1);
			break;
		case O_RELTOL:
			op.ao.rel_tol = num_opt("rel-tol", optarg, 0, 1, INFINITY, 1);
			break;
		case O_FRAG:
			op.ao.fragment_pct = num_opt("fragment-pct", optarg, 0, 1, 100, 0);
			break;
		case O_CAND: op.ao.cand = optarg; break;
		case O_REF: op.ao.ref = optarg; break;
		case O_FORMAT:
			if (!strcmp(optarg, "text"))
				op.text = 1;
			else if (strcmp(optarg, "jsonl"))
				kva_die(2, "--format: want jsonl or text, not %s", optarg);
			break;
		case O_DB: op.db = optarg; break;
		case O_LEDGER: op.ao.ledger = 1; break;
		default:
			kva_stdopt(c, optarg, &so, usage);
			break;
		}
	}
	op.keep_going = so.keep_going;
	if (so.max_record)
		op.max_record = so.max_record;
	argc -= optind;
	argv += optind;
	if (op.ao.latency_hard_pct < op.ao.latency_regress_pct)
		kva_die(2, "--latency-hard-limit: value is below --latency-regress-pct: %g",
			op.ao.latency_hard_pct);
	kva_out_init(0);
	a = kva_audit_new(&op.ao);
	if (argc == 0 && filter(&op, a, "-"))
		rc = 2;
	for (int i = 0; i < argc; i++) {
		int r = filter(&op, a, argv[i]);

		if (r)
			rc = 2;
		if (r < 0 && !op.keep_going)
			break;
	}
	/* without --keep-going a bad record stops the audit: a verdict on
	 * the records before it would be a wrong answer */
	if (rc && !op.keep_going)
		goto out;
	if (!(res = kva_audit_eval(a, &e))) {
		kva_out_flush();
		kva_warnx("%s", e.msg);
		rc = 2;
		goto out;
	}
	if (op.text) {
		kva_out_line(res->text.p, res->text.len ? res->text.len - 1 : 0);
	} else {
		for (size_t i = 0; i < res->nfindings; i++)
			kva_out_line(res->findings[i].json.p, res->findings[i].json.len);
		/* the ledger records, between the findings and the verdict */
		for (size_t i = 0, n; i < res->ledger.len; i += n + 1) {
			n = (size_t)((char *)memchr(res->ledger.p + i, '\n',
						    res->ledger.len - i) - (res->ledger.p + i));
			kva_out_line(res->ledger.p + i, n);
		}
		kva_out_line(res->json.p, res->json.len);
	}
	if (op.db && record(op.db, res))
		rc = 2;
	if (!rc)
		rc = kva_audit_exit_status(res->verdict);
out:
	if (kva_out_close())
		rc = 2;
	kva_audit_free(a);
	return rc;
}
