/*
 * bfmt_run.c - generic run records, {"type":"run","leg":..,"metric":..,
 * "value":..}: one rep each; server_info is the configuration; runs of
 * TTFT or TPOT feed the leg's medians, runs of other metrics are counted.
 */
#include <string.h>

#include "bench.h"

/* Why the run is a failed rep, into why ("" if it is not); -1 with e. */
static int run_failed(kva_bench_unit *u, const kva_jval *row, char *why,
		      size_t cap, kva_err *e)
{
	const kva_jval *f;
	int64_t completed, asked, ec;

	if (kva_bench_count(u, row, "completed", &completed, e) ||
	    kva_bench_count(u, row, "num_prompts", &asked, e))
		return -1;
	if ((f = kva_json_get(row, "exit_code")) && f->t != KVA_JNULL) {
		u->errline = kva_bench_line(u, f);
		if (kva_json_int(f, "exit_code", &ec, e))
			return -1;
		if (ec)
			snprintf(why, cap, "exit code %lld", (long long)ec);
	}
	if ((f = kva_json_get(row, "failed")) && f->t != KVA_JNULL) {
		u->errline = kva_bench_line(u, f);
		if (f->t != KVA_JTRUE && f->t != KVA_JFALSE)
			return kva_errf(e, "failed", "must be true or false");
		if (f->t == KVA_JTRUE && !why[0])
			snprintf(why, cap, "failed");
	}
	if (!why[0] && asked >= 0 && completed >= 0 && completed < asked)
		snprintf(why, cap, "completed %lld of %lld requests",
			 (long long)completed, (long long)asked);
	return 0;
}

static int read_run(kva_bench *b, kva_bench_unit *u, const kva_jval *row,
		    kva_err *e)
{
	const char *metric;
	const kva_jval *si;
	double val;
	int64_t seq;
	char why[96] = "";
	kva_bench_leg *l;
	kva_cfg c = { 0 };
	kva_buf path = { 0 };

	if (kva_bench_str(u, row, "metric", &metric, e))
		return -1;
	if (!metric)
		return kva_errf(e, "metric", "missing");
	if (kva_bench_num(u, kva_json_get(row, "value"), "value", &val, e) ||
	    kva_bench_settle_metric(b, u, metric, e) ||
	    run_failed(u, row, why, sizeof why, e) ||
	    kva_bench_count(u, row, "seq", &seq, e))
		return -1;
	if ((si = kva_json_get(row, "server_info")) && si->t != KVA_JOBJ) {
		u->errline = kva_bench_line(u, si);
		return kva_errf(e, "server_info", "must be an object");
	}
	if (kva_bench_row_leg(b, u, row, NULL, &l, e))
		return -1;
	if (strcmp(metric, b->metric)) {
		/* a TTFT or TPOT run feeds the leg's medians; others wait for
		 * a run with that --metric */
		if (!strcmp(metric, "ttft_ms") || !strcmp(metric, "median_ttft_ms"))
			kva_bench_ttft(l, val);
		else if (!strcmp(metric, "tpot_ms") || !strcmp(metric, "median_tpot_ms"))
			kva_bench_tpot(l, val);
		else
			l->other_metric++;
		return 0;
	}
	kva_buf_puts(&path, "server_info");
	if (si)
		kva_cfg_flatten(&c, &path, si, NULL);
	kva_buf_free(&path);
	kva_bench_leg_config(l, &c);
	kva_bench_rep_add(b, l, u, val, kva_bench_line(u, kva_json_get(row, "value")),
			  why[0] ? why : NULL);
	if (seq >= 0)
		kva_bench_rep_order(l, KVA_ORDER_SEQ, (double)seq);
	return 0;
}

const kva_bench_fmt kva_bfmt_run = {
	"run", NULL, "run", NULL, read_run
};
