/*
 * bfmt_serving.c - serving rows: SGLang bench_serving and vLLM
 * benchmark_serving (--save-result documents and appended lines).  One
 * row is one rep; its non-result members are its configuration; what it
 * reports about itself is checked against its own raw numbers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int ends_with(const char *s, const char *w)
{
	size_t n = strlen(s), k = strlen(w);

	return n >= k && !strcmp(s + n - k, w);
}

/* Top-level members of a serving row that are results, not conditions. */
static int result_key(const char *k)
{
	static const char *const keys[] = { "duration", "completed",
		"concurrency", "accept_length", "input_lens", "output_lens",
		"ttfts", "itls", "generated_texts", "errors", "request_goodput",
		"leg", "type", NULL };

	for (int i = 0; keys[i]; i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return !strncmp(k, "total_", 6) || ends_with(k, "_throughput") ||
	       ends_with(k, "_ms");
}

/* A serving row (a hyperfine export, with results[], is not one). */
static int serving(const kva_jval *row)
{
	return !kva_json_get(row, "results") &&
	       (kva_json_get(row, "output_throughput") ||
		(kva_json_get(row, "completed") && kva_json_get(row, "duration")));
}

/* Members only vLLM's rows have. */
static int vllm_row(const kva_jval *row)
{
	return kva_json_get(row, "model_id") || kva_json_get(row, "tokenizer_id") ||
	       kva_json_get(row, "burstiness") ||
	       kva_json_get(row, "request_goodput");
}

static int detect_sglang(const kva_jval *row)
{
	return serving(row) && !vllm_row(row);
}

static int detect_vllm(const kva_jval *row)
{
	return serving(row) && vllm_row(row);
}

/* The row's median TTFT or TPOT into *out; 0 when it has none (absent,
 * or NaN: no request got that far), 1 when it has, -1 with e. */
static int optional_ms(kva_bench_unit *u, const kva_jval *row, const char *field,
		       double *out, kva_err *e)
{
	const kva_jval *v = kva_json_get(row, field);

	if (!v || kva_bench_nonfinite(v))
		return 0;
	return kva_bench_num(u, v, field, out, e) ? -1 : 1;
}

/* Why the row is a failed rep ("" if it is not). */
static void row_failed(const kva_jval *row, int64_t completed, int64_t asked,
		       char *why, size_t cap)
{
	const kva_jval *errs = kva_json_get(row, "errors");
	size_t nerr = 0, total = 0;

	if (errs && errs->t == KVA_JARR)
		for (const kva_jval *k = errs->child; k; k = k->next, total++)
			if (k->t == KVA_JSTR && k->slen > 0)
				nerr++;
	if (asked >= 0 && completed >= 0 && completed < asked)
		snprintf(why, cap, "completed %lld of %lld requests",
			 (long long)completed, (long long)asked);
	else if (nerr)
		snprintf(why, cap, "%zu of %zu requests failed", nerr, total);
	else if (completed == 0)
		snprintf(why, cap, "no request completed");
}

/* The row's TTFT summaries against its own ttfts[] (seconds). */
static void check_ttfts(kva_bench *b, const kva_bench_unit *u, kva_bench_leg *l,
			long rep_idx, const kva_jval *row)
{
	const kva_jval *v = kva_json_get(row, "ttfts");
	double *t, mean;
	size_t n = 0;

	if (!v || v->t != KVA_JARR || v->n == 0)
		return;
	t = kva_xrealloc(NULL, v->n, sizeof *t);
	for (const kva_jval *k = v->child; k; k = k->next) {
		if (k->t != KVA_JNUM || kva_json_num(k, NULL, &t[n], NULL) ||
		    !isfinite(t[n]))
			break;
		n++;
	}
	if (n == v->n) {
		mean = kva_stats_mean(t, n);
		kva_stats_sort(t, n);
		kva_bench_embedded(b, u, l, rep_idx, "median_ttft_ms",
				   kva_json_get(row, "median_ttft_ms"),
				   kva_stats_median_sorted(t, n) * 1000,
				   "median(ttfts) * 1000");
		kva_bench_embedded(b, u, l, rep_idx, "mean_ttft_ms",
				   kva_json_get(row, "mean_ttft_ms"), mean * 1000,
				   "mean(ttfts) * 1000");
	}
	free(t);
}

static int read_serving(kva_bench *b, kva_bench_unit *u, const kva_jval *row,
			kva_err *e)
{
	const kva_jval *v;
	int64_t completed, asked, outtok;
	double val, dur = NAN, ttft = 0, tpot = 0;
	int has_ttft, has_tpot;
	char why[96] = "";
	kva_bench_leg *l;
	kva_cfg c = { 0 };
	kva_buf path = { 0 };
	long rep_idx;

	if (kva_bench_settle_metric(b, u, "output_throughput", e))
		return -1;
	if (kva_bench_num(u, kva_json_get(row, b->metric), b->metric, &val, e))
		return -1;
	if (kva_bench_count(u, row, "completed", &completed, e) ||
	    kva_bench_count(u, row, "num_prompts", &asked, e) ||
	    kva_bench_count(u, row, "total_output_tokens", &outtok, e))
		return -1;
	row_failed(row, completed, asked, why, sizeof why);
	if ((has_ttft = optional_ms(u, row, "median_ttft_ms", &ttft, e)) < 0 ||
	    (has_tpot = optional_ms(u, row, "median_tpot_ms", &tpot, e)) < 0)
		return -1;
	if (kva_bench_row_leg(b, u, row, NULL, &l, e))
		return -1;
	if (has_ttft)
		kva_bench_ttft(l, ttft);
	if (has_tpot)
		kva_bench_tpot(l, tpot);
	kva_cfg_flatten(&c, &path, row, result_key);
	kva_buf_free(&path);
	kva_bench_leg_config(l, &c);
	kva_bench_rep_add(b, l, u, val,
			  kva_bench_line(u, kva_json_get(row, b->metric)),
			  why[0] ? why : NULL);
	kva_bench_reps_clock(l, 1, kva_json_get(row, "date")); /* vLLM's */
	rep_idx = (long)l->n - 1;

	/* what the row reports about itself, against its own raw numbers */
	v = kva_json_get(row, "duration");
	if (v && v->t == KVA_JNUM && !kva_json_num(v, NULL, &dur, NULL) && dur > 0) {
		if (outtok >= 0)
			kva_bench_embedded(b, u, l, rep_idx, "output_throughput",
					   kva_json_get(row, "output_throughput"),
					   (double)outtok / dur,
					   "total_output_tokens / duration");
		if (completed >= 0)
			kva_bench_embedded(b, u, l, rep_idx, "request_throughput",
					   kva_json_get(row, "request_throughput"),
					   (double)completed / dur,
					   "completed / duration");
	}
	v = kva_json_get(row, "ttfts");
	if (v && v->t == KVA_JARR && (size_t)completed == v->n && !why[0])
		check_ttfts(b, u, l, rep_idx, row);
	return 0;
}

const kva_bench_fmt kva_bfmt_sglang = {
	"sglang", "SGLang", NULL, detect_sglang, read_serving
};
const kva_bench_fmt kva_bfmt_vllm = {
	"vllm", "vLLM", NULL, detect_vllm, read_serving
};
