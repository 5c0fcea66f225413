#!/usr/bin/env bats
# bench-rederive: every input format, provenance, the statistics against
# independent jq arithmetic, claims, failed reps, bad input, robustness.

load test_helper

B="fixtures/bench"  # relative to $ROOT: provenance in goldens reads so
E="$BATS_TEST_DIRNAME/fixtures/bench-rederive"

setup() {
	cd "$ROOT"
}

# ---- formats -------------------------------------------------------------

@test "SGLang rows, LEG=FILE legs and claims: the whole output as expected" {
	run -1 --separate-stderr bench-rederive base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl $B/claims.jsonl
	assert_equal "$stderr" ""
	diff -u "$E/sglang-claims.expected" <(printf '%s\n' "$output")
}

@test "SGLang rows: every leg statistic agrees with jq computing it from the raw file" {
	bench-rederive --max-reps 0 base=$B/sglang-base.jsonl > "$BATS_TEST_TMPDIR/out"
	# jq re-derives from the raw rows (NaN/Infinity-free fields only):
	# median, mean, min, max, sample stdev, type-7 quartiles, MAD
	jq -n --slurpfile rows <(sed 's/Infinity/null/' $B/sglang-base.jsonl) '
	  def q($s; $p): ($s | length) as $n | (($n - 1) * $p) as $h | ($h | floor) as $j
	    | if $j + 1 >= $n then $s[$j] else $s[$j] + ($h - $j) * ($s[$j + 1] - $s[$j]) end;
	  def med($s): q($s; 0.5);
	  ($rows | map(.output_throughput)) as $x | ($x | sort) as $s | ($x | length) as $n
	  | ($x | add / $n) as $mean
	  | {median: med($s), mean: $mean, min: $s[0], max: $s[-1],
	     stdev: ((($x | map((. - $mean) * (. - $mean)) | add) / ($n - 1)) | sqrt),
	     q1: q($s; 0.25), q3: q($s; 0.75),
	     mad: med($x | map(. - med($s) | fabs) | sort),
	     ttft: med($rows | map(.median_ttft_ms) | sort)}' > "$BATS_TEST_TMPDIR/ref"
	run -0 jq -e -s --slurpfile r "$BATS_TEST_TMPDIR/ref" '
	  .[0] as $l | $r[0] as $r
	  | def near($a; $b): (($a - $b) | fabs) <= 1e-9 * ($b | fabs) + 1e-12;
	  near($l.median; $r.median) and near($l.mean; $r.mean) and $l.min == $r.min
	  and $l.max == $r.max and near($l.stdev; $r.stdev) and near($l.q1; $r.q1)
	  and near($l.q3; $r.q3) and near($l.mad; $r.mad) and near($l.ttft_median_ms; $r.ttft)
	  and $l.n == 5 and $l.median == 1500.2 and $l.quartile_method == "linear"' "$BATS_TEST_TMPDIR/out"
}

@test "SGLang rows: delta, speedup, exact Mann-Whitney p and the non-overlap chance by hand" {
	run -0 --separate-stderr bench-rederive base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl
	echo "$output" | jq -e -s '.[2] | .type == "comparison" and .leg == "patch" and .ref == "base"
	  and .delta_pct == 100 * (1615.8 - 1500.2) / 1500.2
	  and .speedup == 1615.8 / 1500.2
	  and .mw_u == 25 and .mw_method == "exact"
	  and ((.mw_p - 2 / 252) | fabs) < 1e-15
	  and .non_overlap and ((.non_overlap_chance - 1 / 252) | fabs) < 1e-15
	  and .ci_low_pct < .delta_pct and .delta_pct < .ci_high_pct and .ci_low_pct > 0
	  and .config_same and .config_diff == []
	  and .ttft_delta_pct == 100 * (181.2 - 185.1) / 181.2'
}

@test "vLLM --save-result: a pretty-printed document and appended lines" {
	run -0 --separate-stderr bench-rederive --max-reps 1 $B/vllm-base.jsonl $B/vllm-result.json
	assert_equal "$stderr" ""
	echo "$output" | jq -e -s '
	  .[0].leg == "fixtures/bench/vllm-base.jsonl" and .[0].format == "vllm" and .[0].n == 3
	  and .[0].median == 612.4 and .[0].reps == [{"rep":0,"value":612.4,"at":"fixtures/bench/vllm-base.jsonl:1","order":1795169700}] and .[0].run_order == "clock"
	  and .[1].format == "vllm" and .[1].n == 1 and .[1].median == 640.2
	  and .[1].reps[0].at == "fixtures/bench/vllm-result.json:16"
	  and .[1].stdev == null and .[1].drift_pct_per_rep == null
	  and .[0].embedded_checked == 12 and .[0].embedded_mismatched == 0
	  and .[1].embedded_checked == 4
	  and .[2].type == "comparison" and .[2].config_same == true and .[2].mw_p == 0.5'
	# the value on that line is the one reported
	run -0 sed -n 16p $B/vllm-result.json
	assert_output '    "output_throughput": 640.2,'
}

@test "hyperfine --export-json: a leg per command, a rep per time with its own line" {
	run -0 --separate-stderr bench-rederive $B/hyperfine.json
	assert_equal "$stderr" ""
	echo "$output" | jq -e -s '
	  .[0].leg == "./attn-old" and .[0].metric == "time" and .[0].direction == "lower"
	  and .[0].n == 10 and .[0].median == 0.10125 and .[0].format == "hyperfine"
	  and .[0].embedded_checked == 5 and .[0].embedded_mismatched == 0
	  and .[1].leg == "./attn-new" and .[1].median == (0.092 + 0.0921) / 2
	  and .[2].type == "comparison" and .[2].delta_pct > 9 and .[2].speedup > 1.09
	  and ((.[2].mw_p - 2 / 184756) | fabs) < 1e-18'
	# every rep's line holds its value
	bad=$(echo "$output" | jq -r 'select(.type == "leg") | .reps[] | "\(.at) \(.value)"' |
	while read -r at v; do
		line=$(sed -n "${at##*:}p" "${at%:*}")
		[ "$(echo "$line" | tr -d ' ,')" = "$v" ] || echo "$at: $line != $v"
	done)
	assert_equal "$bad" ""
	[ "$(echo "$output" | jq -s '[.[] | select(.type == "leg") | .reps[]] | length')" = 20 ]
}

@test "hyperfine: the cold first run is a warm-up outlier by hyperfine's rule, counted not dropped" {
	run -0 bench-rederive --max-reps 0 $B/hyperfine.json
	# z = (0.2514 - 0.10125) / MAD, MAD = 0.0003: 500.5 > 14.826
	echo "$output" | jq -e -s '.[0] | .warmup_outlier and (.warmup_z - 500.5 | fabs) < 1e-6
	  and .tukey_1_5 == 1 and .tukey_3 == 1 and .n == 10 and .max == 0.2514
	  and .outliers == [] and .reps == []'
	run -0 bench-rederive $B/hyperfine.json
	echo "$output" | jq -e -s '.[0].outliers == [{"rep":0,"value":0.2514,"at":"fixtures/bench/hyperfine.json:13","beyond_iqr":3}]
	  and (.[1].warmup_outlier | not)'
}

@test "generic run records: leg field, TTFT from ttft_ms runs, server_info digest" {
	run -0 --separate-stderr bench-rederive $B/runs.jsonl
	echo "$output" | jq -e -s '
	  .[0].leg == "base" and .[0].metric == "tokens_per_s" and .[0].direction == "higher"
	  and .[0].n == 6 and .[0].median == (980.5 + 980.9) / 2 and .[0].ttft_median_ms == (52.0 + 52.1) / 2
	  and .[1].n == 6 and .[1].median == (1004.8 + 1005.1) / 2
	  and .[0].config_digest == .[1].config_digest and (.[0].config_digest | length) == 64
	  and .[2].config_same and .[2].mw_p == 2 / 924 and .[2].non_overlap'
}

@test "a 2-rep leg: everything defined that can be, exact p 1/3 and chance 1/6" {
	run -0 --separate-stderr bench-rederive $B/runs-2rep.jsonl
	echo "$output" | jq -e -s '
	  .[0].n == 2 and .[0].median == 12.5 and (.[0].mad - 0.1 | fabs) < 1e-12
	  and (.[0].stdev - ((0.2 * 0.2 / 2) | sqrt) | fabs) < 1e-12
	  and .[0].q1 == 12.4 + 0.25 * (12.6 - 12.4)
	  and .[0].warmup_outlier == false and .[0].direction == "lower"
	  and .[2].mw_u == 0 and ((.[2].mw_p - 1 / 3) | fabs) < 1e-15
	  and ((.[2].non_overlap_chance - 1 / 6) | fabs) < 1e-15
	  and .[2].delta_pct == 100 * (12.5 - 11.95) / 12.5'
}

@test "a 1-rep leg: stdev, cv and drift are null; comparisons still made" {
	printf '%s\n' '{"type":"run","leg":"a","metric":"time","value":2}' \
		'{"type":"run","leg":"b","metric":"time","value":1}' > "$BATS_TEST_TMPDIR/in"
	run -0 bench-rederive "$BATS_TEST_TMPDIR/in"
	echo "$output" | jq -e -s '.[0].stdev == null and .[0].cv_pct == null
	  and .[0].drift_pct_per_rep == null and .[0].mad == 0 and .[2].delta_pct == 50
	  and .[2].speedup == 2 and .[2].mw_p == 1'
}

@test "a leg with only rows of another metric has no reps and no comparison" {
	printf '%s\n' '{"type":"run","leg":"a","metric":"ttft_ms","value":1}' \
		'{"type":"run","leg":"a","metric":"gpu_util","value":0.9}' \
		'{"type":"run","leg":"b","metric":"time","value":2}' > "$BATS_TEST_TMPDIR/in"
	run -0 bench-rederive --metric time "$BATS_TEST_TMPDIR/in"
	assert_equal "${#lines[@]}" 2
	echo "${lines[0]}" | jq -e '.leg == "a" and .n == 0 and .median == null and .ttft_median_ms == 1
	  and .rows_other_metric == 1 and .median_at == [] and .min_at == null'
	run -0 bench-rederive --metric time --format text "$BATS_TEST_TMPDIR/in"
	[[ ${lines[1]} == *"reps 2 .. 2" ]]
	[[ ${lines[2]} == "a       0    0           -        -        -                   -         -  |"* ]]
}

# ---- Google Benchmark, pytest-benchmark, criterion ---------------------------------

@test "Google Benchmark: a leg per run_name, a rep per repetition, the aggregates checked" {
	run -0 --separate-stderr bench-rederive $B/gbench.json
	assert_equal "$stderr" ""
	# the reps are the iteration entries' real_time, read by jq apart
	jq -c '[.benchmarks[] | select(.run_type == "iteration") | .real_time]' $B/gbench.json > "$BATS_TEST_TMPDIR/want"
	echo "$output" | jq -s -c '[.[] | select(.type == "leg") | .reps[].value]' | diff - "$BATS_TEST_TMPDIR/want"
	echo "$output" | jq -s -e 'map(select(.type == "leg")) | length == 2
	  and .[0].leg == "BM_WriteKV/naive/4096" and .[0].format == "gbench"
	  and .[0].metric == "real_time" and .[0].direction == "lower"
	  and .[0].n == 5 and .[0].embedded_checked == 4 and .[0].embedded_mismatched == 0
	  and .[0].reps[0].at == "fixtures/bench/gbench.json:51"'
	run -0 sed -n 51p $B/gbench.json
	assert_output --partial '"real_time": '
	run -0 bench-rederive --metric cpu_time --max-reps 0 $B/gbench.json
	m=$(jq '[.benchmarks[] | select(.run_type == "iteration" and .run_name == "BM_WriteKV/naive/4096") | .cpu_time] | sort | .[2]' $B/gbench.json)
	echo "$output" | jq -s -e --argjson m "$m" '.[0].metric == "cpu_time" and .[0].embedded_checked == 4 and .[0].median == $m'
}

@test "Google Benchmark: an aggregate that its own repetitions do not give is a mismatch at its line" {
	run -1 bench-rederive $B/gbench-tampered.json
	want=$(jq '[.benchmarks[] | select(.run_type == "iteration") | .real_time] | add / length' $B/gbench-tampered.json)
	echo "$output" | jq -s -e --argjson want "$want" '
	  map(select(.type == "claim_check")) | length == 1
	  and .[0].stat == "mean" and .[0].status == "mismatch" and .[0].source == "embedded"
	  and (.[0].derived - $want | fabs) < 1e-9 * $want
	  and .[0].at == "fixtures/bench/gbench-tampered.json:122"'
	run -0 sed -n 122p $B/gbench-tampered.json
	assert_output --partial '"real_time": '
}

@test "Google Benchmark: an errored repetition is a failed rep, left out of the aggregates as Google Benchmark does" {
	run -0 bench-rederive $B/gbench-error.json
	echo "$output" | jq -s -e '.[0].n == 3 and .[0].failed == 1
	  and .[0].failed_reps == [{"rep":1,"value":14864.26567976052,"at":"fixtures/bench/gbench-error.json:67","order":1796047331,"failed":true,"why":"cudaMalloc: out of memory"}]
	  and .[0].embedded_checked == 4 and .[0].embedded_mismatched == 0'
}

@test "Google Benchmark: aggregates without repetitions, and times in another unit, are refused" {
	run -2 --separate-stderr bench-rederive $B/gbench-aggregates.json
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/gbench-aggregates.json:41: field "benchmarks[0]": "BM_WriteKV/vec/4096" has aggregates but no repetitions (written with --benchmark_report_aggregates_only): there is nothing to re-derive'
	assert_output ""
	sed 's/"time_unit": "ns"/"time_unit": "us"/' $B/gbench-error.json > "$BATS_TEST_TMPDIR/us.json"
	run -2 --separate-stderr bench-rederive a=$B/gbench-tampered.json b="$BATS_TEST_TMPDIR/us.json"
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/us.json:53: field \"benchmarks[0].time_unit\": \"us\" is not the \"ns\" of the files before: times in other units cannot be compared"
	run -2 --separate-stderr bench-rederive x=$B/gbench.json
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/gbench.json:171: field "benchmarks[9].run_name": LEG=FILE names one leg, but the file holds "BM_WriteKV/naive/4096" and "BM_WriteKV/vec/4096"'
}

@test "pytest-benchmark: a leg per test, a rep per round of stats.data, the stats checked" {
	run -0 --separate-stderr bench-rederive $B/pytest-benchmark.json
	assert_equal "$stderr" ""
	jq -c '[.benchmarks[].stats.data[]]' $B/pytest-benchmark.json > "$BATS_TEST_TMPDIR/want"
	echo "$output" | jq -s -c '[.[] | select(.type == "leg") | .reps[].value]' | diff - "$BATS_TEST_TMPDIR/want"
	echo "$output" | jq -s -e 'map(select(.type == "leg")) | length == 2
	  and .[0].leg == "tests/test_kv.py::test_write_kv[naive]" and .[0].format == "pytest-benchmark"
	  and .[0].metric == "time" and .[0].n == 7 and .[1].n == 9
	  and .[0].embedded_checked == 8 and .[0].embedded_mismatched == 0
	  and (.[0].config_digest != .[1].config_digest)'
	# a mean that is not the mean of its rounds
	jq '.benchmarks[1].stats.mean *= 0.9' $B/pytest-benchmark.json > "$BATS_TEST_TMPDIR/t.json"
	run -1 bench-rederive "$BATS_TEST_TMPDIR/t.json"
	echo "$output" | jq -s -e 'map(select(.type == "claim_check")) | length == 1
	  and .[0].stat == "mean" and .[0].leg == "tests/test_kv.py::test_write_kv[vec]"'
}

@test "pytest-benchmark: a file of summaries only is refused, naming the field" {
	run -2 --separate-stderr bench-rederive $B/pytest-benchmark-nodata.json
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/pytest-benchmark-nodata.json:31: field "benchmarks[0].stats.data": missing: the file holds summaries only (saved without --benchmark-save-data), and a summary cannot be re-derived'
	run -2 --separate-stderr bench-rederive $B/gbench.json $B/pytest-benchmark.json
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/pytest-benchmark.json:1: field "benchmarks": pytest-benchmark files hold the metric "time", not "real_time"'
}

@test "criterion: a rep per sample (times / iters), the leg from benchmark.json, estimates.json checked" {
	C=$B/criterion/write_kv
	run -0 --separate-stderr bench-rederive $C/naive/4096/new/sample.json $C/vec/4096/new/sample.json
	assert_equal "$stderr" ""
	jq -c '[.iters as $i | .times | to_entries[] | .value / $i[.key]]' $C/naive/4096/new/sample.json > "$BATS_TEST_TMPDIR/want"
	echo "$output" | jq -s -c '.[0].reps | map(.value)' | diff - "$BATS_TEST_TMPDIR/want"
	echo "$output" | jq -s -e 'map(select(.type == "leg")) | length == 2
	  and .[0].leg == "write_kv/naive/4096" and .[1].leg == "write_kv/vec/4096"
	  and .[0].format == "criterion" and .[0].metric == "iter_time_ns" and .[0].n == 10
	  and .[0].embedded_checked == 5 and .[0].embedded_mismatched == 0
	  and .[0].reps[3].at == "fixtures/bench/criterion/write_kv/naive/4096/new/sample.json:1"'
	run -1 bench-rederive $C/tampered/4096/new/sample.json
	echo "$output" | jq -s -e 'map(select(.type == "claim_check")) | length == 1
	  and .[0].stat == "median" and .[0].diff_pct < -9.99 and .[0].diff_pct > -10.01
	  and .[0].at == "fixtures/bench/criterion/write_kv/tampered/4096/new/estimates.json:1"'
	# alone, a sample is its file's leg and nothing is checked
	cp $C/vec/4096/new/sample.json "$BATS_TEST_TMPDIR/"
	run -0 bench-rederive "$BATS_TEST_TMPDIR/sample.json"
	echo "$output" | jq -s -e --arg f "$BATS_TEST_TMPDIR/sample.json" '.[0].leg == $f and .[0].embedded_checked == 0'
	run -2 --separate-stderr bench-rederive $C/vec/4096/new/estimates.json
	assert_equal "$stderr" "bench-rederive: $C/vec/4096/new/estimates.json:1: a criterion estimates.json holds no samples: give the sample.json beside it (it is checked against them)"
}

# ---- run order ---------------------------------------------------------------------

@test "run order: seq, vLLM's date and a file's date order the reps; the comparison says how the legs lie in time" {
	# base measured wholly before head, then the same reps interleaved
	for i in 0 1 2 3 4; do
		printf '{"type":"run","leg":"base","metric":"tok_s","value":%d,"seq":%d}\n' $((100 + i)) $i
		printf '{"type":"run","leg":"head","metric":"tok_s","value":%d,"seq":%d}\n' $((110 + i)) $((5 + i))
	done > "$BATS_TEST_TMPDIR/blocks"
	run -0 bench-rederive "$BATS_TEST_TMPDIR/blocks"
	echo "$output" | jq -s -e '.[0].run_order == "seq" and .[0].reps[1].order == 1
	  and .[2].type == "comparison" and .[2].run_order == "ref_first"'
	jq -c '.seq = (if .leg == "base" then 2 * (.value - 100) else 2 * (.value - 110) + 1 end)' "$BATS_TEST_TMPDIR/blocks" > "$BATS_TEST_TMPDIR/abab"
	run -0 bench-rederive "$BATS_TEST_TMPDIR/abab"
	echo "$output" | jq -s -e '.[2].run_order == "interleaved"'
	# head first
	run -0 bench-rederive --ref head "$BATS_TEST_TMPDIR/blocks"
	echo "$output" | jq -s -e '.[2].leg == "base" and .[2].run_order == "ref_last"'
	# one rep without seq: the order is not known
	sed '1s/,"seq":0//' "$BATS_TEST_TMPDIR/blocks" > "$BATS_TEST_TMPDIR/some"
	run -0 bench-rederive "$BATS_TEST_TMPDIR/some"
	echo "$output" | jq -s -e '.[0].run_order == null and .[2].run_order == null and (.[0].reps[0] | has("order") | not)'
	# a negative seq is refused
	run -2 --separate-stderr bench-rederive <<<'{"type":"run","leg":"a","metric":"t_ms","value":1,"seq":-1}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "seq": must be >= 0, got -1'
	# vLLM rows a day apart; two benchmarks of one Google Benchmark file share its date
	jq -c '.date = "20261121-101500"' $B/vllm-base.jsonl > "$BATS_TEST_TMPDIR/later.jsonl"
	run -0 bench-rederive a=$B/vllm-base.jsonl b="$BATS_TEST_TMPDIR/later.jsonl"
	echo "$output" | jq -s -e 'map(select(.type == "comparison")) | .[0].run_order == "ref_first"'
	run -0 bench-rederive $B/gbench.json
	echo "$output" | jq -s -e '.[0].run_order == "clock" and .[2].run_order == "tied"'
}

# ---- provenance -------------------------------------------------------------

@test "provenance: min, max, median and every rep name the line of their value" {
	run -0 bench-rederive patch=$B/sglang-patch.jsonl
	echo "$output" | jq -e '.min_at == "fixtures/bench/sglang-patch.jsonl:3"
	  and .max_at == "fixtures/bench/sglang-patch.jsonl:5"
	  and .median_at == ["fixtures/bench/sglang-patch.jsonl:4"]
	  and .sources == ["fixtures/bench/sglang-patch.jsonl"]
	  and ([.reps[].at] == [range(1; 6) | "fixtures/bench/sglang-patch.jsonl:\(.)"])'
	# rows of one leg from two files keep their own files
	run -0 bench-rederive x=$B/sglang-base.jsonl x=$B/sglang-patch.jsonl
	echo "$output" | jq -e '.n == 10 and .reps[5].at == "fixtures/bench/sglang-patch.jsonl:1"
	  and .sources == ["fixtures/bench/sglang-base.jsonl", "fixtures/bench/sglang-patch.jsonl"]'
}

# ---- failed reps -------------------------------------------------------------

@test "failed reps are counted and listed with their reason, never dropped" {
	run -0 bench-rederive $B/vllm-failed.jsonl
	echo "$output" | jq -e '.n == 2 and .failed == 1 and .median == (598.1 + 611.0) / 2
	  and .failed_reps == [{"rep":0,"value":598.1,"at":"fixtures/bench/vllm-failed.jsonl:1","order":1795169700,"failed":true,"why":"completed 6 of 8 requests"}]
	  and .reps[1].failed == null'
	run -0 bench-rederive $B/hyperfine-failed.json
	echo "$output" | jq -e '.n == 5 and .failed == 1 and .failed_reps[0].rep == 2
	  and .failed_reps[0].why == "exit code 1" and .failed_reps[0].at == "fixtures/bench/hyperfine-failed.json:15"'
	printf '%s\n' '{"type":"run","leg":"a","metric":"time","value":2,"failed":true}' \
		'{"type":"run","leg":"a","metric":"time","value":3,"exit_code":139}' \
		'{"type":"run","leg":"a","metric":"time","value":4,"completed":9,"num_prompts":10}' \
		'{"type":"run","leg":"a","metric":"time","value":5,"exit_code":0,"failed":false}' > "$BATS_TEST_TMPDIR/in"
	run -0 bench-rederive "$BATS_TEST_TMPDIR/in"
	echo "$output" | jq -e '.n == 4 and .failed == 3 and .median == 3.5
	  and ([.failed_reps[].why] == ["failed", "exit code 139", "completed 9 of 10 requests"])'
}

@test "the failed counts reach the comparison" {
	run -0 bench-rederive ok=$B/vllm-base.jsonl bad=$B/vllm-failed.jsonl
	echo "$output" | jq -e -s '.[2] | .failed == 1 and .failed_ref == 0'
}

# ---- bad values: NaN, strings, missing ----------------------------------------

@test "a NaN headline: file:line and field, exit 2, records before it written, no legs" {
	{ echo '{"type":"note","n":1}'; head -n 2 $B/sglang-base.jsonl
	  sed -n 3p $B/sglang-base.jsonl | sed 's/"output_throughput": [0-9.]*/"output_throughput": NaN/'
	  sed -n 4p $B/sglang-base.jsonl; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"note","n":1}'
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:4: field \"output_throughput\": must be a finite number, got NaN"
	printf '%s\n' '{"type":"run","leg":"a","metric":"time","value":1}' '{"type":"run","leg":"a","metric":"time","value":-Infinity}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_output ""
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:2: field \"value\": must be a finite number, got -Infinity"
	run -2 --separate-stderr bench-rederive <<< '{"type":"run","leg":"a","metric":"time","value":1e999}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "value": must be a finite number, got 1e999'
}

@test "a NaN in a hyperfine time names its line inside the document" {
	sed '16s/0.1017/NaN/' $B/hyperfine.json > "$BATS_TEST_TMPDIR/hf.json"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/hf.json"
	assert_output ""
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/hf.json:16: field \"results[0].times[3]\": must be a finite number, got NaN"
}

@test "a string where a number belongs" {
	sed '2s/"output_throughput": 1618.0/"output_throughput": "1618.0"/' $B/sglang-patch.jsonl > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:2: field \"output_throughput\": must be a number, got \"1618.0\""
	sed 's/0.1009,/"0.1009",/' $B/hyperfine.json > "$BATS_TEST_TMPDIR/hf.json"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/hf.json"
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/hf.json:15: field \"results[0].times[2]\": must be a number, got \"0.1009\""
	run -2 --separate-stderr bench-rederive <<< '{"type":"run","leg":"a","metric":"time","value":true}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "value": must be a number, got true'
	run -2 --separate-stderr bench-rederive <<< '{"type":"run","leg":"a","metric":"time","value":1,"completed":"all"}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "completed": must be an integer, got "all"'
	run -2 --separate-stderr bench-rederive <<< '{"type":"run","leg":7,"metric":"time","value":1}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "leg": must be a string'
}

@test "a missing metric: file:line and field" {
	sed '3s/"output_throughput": [0-9.]*, //' $B/sglang-base.jsonl > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_output ""
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:3: field \"output_throughput\": missing"
	run -2 --separate-stderr bench-rederive --metric p99_ttft_ms <<< '{"completed":1,"duration":2}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "p99_ttft_ms": missing'
	run -2 --separate-stderr bench-rederive <<< '{"type":"run","leg":"a","metric":"time"}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "value": missing'
	run -2 --separate-stderr bench-rederive <<< '{"type":"run","leg":"a","value":1}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "metric": missing'
	run -2 --separate-stderr bench-rederive <<< '{"results":[{"command":"x"}]}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "results[0].times": missing'
}

@test "NaN outside the fields read is no error; a NaN TTFT leaves the rep out of the TTFT median" {
	sed '1s/"median_ttft_ms": [0-9.]*/"median_ttft_ms": NaN/; 2s/"std_itl_ms": [0-9.]*/"std_itl_ms": NaN/' \
		$B/sglang-base.jsonl > "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr bench-rederive --max-reps 0 "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" ""
	# the TTFTs left: 179.9 183.4 180.6 182.0 -> (180.6 + 182.0) / 2
	echo "$output" | jq -e '.n == 5 and (.ttft_median_ms - 181.3 | fabs) < 1e-12'
}

@test "bare NaN in a kvarbiter record other than run is malformed JSON" {
	run -2 --separate-stderr bench-rederive <<< '{"type":"note","x":NaN}'
	assert_output ""
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: malformed JSON at column 20: bad number'
}

# ---- claims ----------------------------------------------------------------------

@test "a reported number that is off is a mismatch, exit 1; rounding is not" {
	printf '%s\n' '{"type":"claim","leg":"patch","median":1616}' \
		'{"type":"claim","leg":"patch","median":1620}' \
		'{"type":"claim","leg":"patch","speedup":1.08}' \
		'{"type":"claim","leg":"patch","speedup":1.2}' \
		'{"type":"claim","leg":"patch","delta_pct":7.7}' \
		'{"type":"claim","leg":"base","mean":1500.06,"tolerance_pct":0}' > "$BATS_TEST_TMPDIR/c"
	run -1 --separate-stderr bench-rederive base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl "$BATS_TEST_TMPDIR/c"
	assert_equal "$stderr" ""
	echo "$output" | jq -e -s '[.[] | select(.type == "claim_check") | [.stat, .status]]
	  == [["median","agree"],["median","mismatch"],["speedup","agree"],["speedup","mismatch"],
	      ["delta_pct","agree"],["mean","agree"]]'
	# 1616 vs 1615.8: within 0.1%; 1620 is 0.26% off
	echo "$output" | jq -e -s '[.[] | select(.type == "claim_check")][1]
	  | .reported == 1620 and .derived == 1615.8 and .allowed == 1.6158
	  and .at == "'"$BATS_TEST_TMPDIR"'/c:2" and .source == "claim"'
	# with a wider tolerance the 1620 agrees
	run -1 bench-rederive --tolerance 0.5 base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl "$BATS_TEST_TMPDIR/c"
	echo "$output" | jq -e -s '[.[] | select(.type == "claim_check" and .status != "agree") | .stat] == ["speedup"]'
}

@test "claims that cannot be verified are unverifiable, with the reason, exit 1" {
	printf '%s\n' '{"type":"claim","leg":"nope","median":1}' \
		'{"type":"claim","leg":"base","metric":"request_throughput","median":5.8}' \
		'{"type":"claim","leg":"base","speedup":1}' \
		'{"type":"claim","leg":"base","ref":"ghost","delta_pct":1}' \
		'{"type":"claim","leg":"base","config":{"server_info.nope":1}}' > "$BATS_TEST_TMPDIR/c"
	run -1 --separate-stderr bench-rederive base=$B/sglang-base.jsonl "$BATS_TEST_TMPDIR/c"
	echo "$output" | jq -e -s '[.[] | select(.type == "claim_check") | [.status, .reason]] == [
	  ["unverifiable", "no leg \"nope\" in the input"],
	  ["unverifiable", "the claim is about \"request_throughput\"; the headline metric is \"output_throughput\" (see --metric)"],
	  ["unverifiable", "the leg is its own reference"],
	  ["unverifiable", "no leg \"ghost\" in the input"],
	  ["unverifiable", "the leg'"'"'s configuration has no \"server_info.nope\""]]'
	printf '%s\n' '{"type":"claim","leg":"a","stdev":1}' '{"type":"run","leg":"a","metric":"time","value":1}' > "$BATS_TEST_TMPDIR/c"
	run -1 bench-rederive "$BATS_TEST_TMPDIR/c"
	echo "$output" | jq -e -s '.[-1] | .status == "unverifiable" and .reason == "stdev is not defined for this input (n = 1)"'
}

@test "configuration claims: equal, off, and a value that differs between reps" {
	printf '%s\n' '{"type":"claim","leg":"m","server_info":{"mem_fraction_static":0.88,"tp_size":1,"attention_backend":"triton"}}' > "$BATS_TEST_TMPDIR/c"
	run -1 bench-rederive m=$B/sglang-memfrac.jsonl "$BATS_TEST_TMPDIR/c"
	echo "$output" | jq -e -s '[.[] | select(.type == "claim_check") | [.key, .derived, .status]] == [
	  ["server_info.mem_fraction_static", 0.9, "mismatch"], ["server_info.tp_size", 1, "agree"],
	  ["server_info.attention_backend", "flashinfer", "mismatch"]]'
	{ cat $B/sglang-base.jsonl; sed -n 1p $B/sglang-memfrac.jsonl; } > "$BATS_TEST_TMPDIR/mixed"
	echo '{"type":"claim","leg":"x","config":{"server_info.mem_fraction_static":0.88}}' > "$BATS_TEST_TMPDIR/c"
	run -1 bench-rederive x="$BATS_TEST_TMPDIR/mixed" "$BATS_TEST_TMPDIR/c"
	echo "$output" | jq -e -s '.[1].config_varies == ["server_info.max_total_num_tokens", "server_info.mem_fraction_static"]
	  and .[-1].status == "unverifiable" and .[-1].reason == "the value differs between the leg'"'"'s reps"'
}

@test "a claim with numbers must name its leg; a declaration only passes through" {
	run -2 --separate-stderr bench-rederive <<< '{"type":"claim","median":3}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "leg": missing (a claim names the leg it is about)'
	run -2 --separate-stderr bench-rederive <<< '{"type":"claim","leg":"a","median":"fast"}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "median": must be a number, got "fast"'
	run -2 --separate-stderr bench-rederive <<< '{"type":"claim","leg":"a","server_info":{"x":{"y":1}}}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "server_info.x": must be a number, string, boolean, null or array'
	run -0 --separate-stderr bench-rederive <<< '{"type":"claim","scope":"patch","lever":"kernel"}'
	assert_output '{"type":"claim","scope":"patch","lever":"kernel"}'
}

@test "a row whose own summary does not match its raw numbers is an embedded mismatch" {
	run -1 --separate-stderr bench-rederive --max-reps 0 $B/sglang-tampered.jsonl
	echo "$output" | jq -e -s '.[0].embedded_checked == 6 and .[0].embedded_mismatched == 1
	  and .[1] == {"type":"claim_check","source":"embedded","at":"fixtures/bench/sglang-tampered.jsonl:2",
	    "leg":"fixtures/bench/sglang-tampered.jsonl","stat":"output_throughput","rep":1,"reported":1598.7,
	    "derived":1498.7,"derived_from":"total_output_tokens / duration","diff":100,
	    "diff_pct":(100 * 100 / 1498.7),"allowed":0.05,"status":"mismatch"}'
	# hyperfine's own median, edited (0.1 would be 0.10125 rounded: no mismatch)
	sed 's/"median": 0.10125/"median": 0.1125/' $B/hyperfine.json > "$BATS_TEST_TMPDIR/hf.json"
	run -1 bench-rederive "$BATS_TEST_TMPDIR/hf.json"
	echo "$output" | jq -e -s '[.[] | select(.type == "claim_check")] | length == 1 and .[0].stat == "median"
	  and .[0].derived == 0.10125 and .[0].at == "'"$BATS_TEST_TMPDIR"'/hf.json:7"'
}

# ---- comparisons and options ------------------------------------------------------

@test "a configuration difference is listed; runtime-only keys are not" {
	run -0 bench-rederive base=$B/sglang-base.jsonl mem=$B/sglang-memfrac.jsonl
	echo "$output" | jq -e -s '.[2].config_same == false and .[2].config_diff == [
	  {"key":"server_info.max_total_num_tokens","ref":414000,"leg":423000},
	  {"key":"server_info.mem_fraction_static","ref":0.88,"leg":0.9}]
	  and .[0].config_digest != .[1].config_digest'
	# base and patch differ in version and internal_states only
	run -0 bench-rederive base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl
	echo "$output" | jq -e -s '.[0].config_digest == .[1].config_digest and .[2].config_same'
	# a bench argument is part of the conditions too
	sed 's/"max_concurrency": 64/"max_concurrency": 128/' $B/sglang-patch.jsonl > "$BATS_TEST_TMPDIR/p"
	run -0 bench-rederive base=$B/sglang-base.jsonl p="$BATS_TEST_TMPDIR/p"
	echo "$output" | jq -e -s '.[2].config_diff == [{"key":"max_concurrency","ref":64,"leg":128}]'
}

@test "--ref picks the reference; a leg that is not there is trouble" {
	run -0 bench-rederive --ref patch base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl
	echo "$output" | jq -e -s '.[2].leg == "base" and .[2].ref == "patch" and .[2].delta_pct < 0 and .[2].mw_u == 0'
	run -2 --separate-stderr bench-rederive --ref nope base=$B/sglang-base.jsonl
	assert_output ""
	assert_equal "$stderr" 'bench-rederive: --ref: no leg named "nope" with output_throughput reps in the input'
}

@test "direction: from the name, refused when unknown, overridden by a flag" {
	printf '%s\n' '{"type":"run","leg":"a","metric":"score","value":10}' '{"type":"run","leg":"b","metric":"score","value":11}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:1: field \"metric\": cannot tell whether a higher or lower \"score\" is better (give --higher-is-better or --lower-is-better)"
	run -0 bench-rederive --higher-is-better "$BATS_TEST_TMPDIR/in"
	echo "$output" | jq -e -s '.[2].delta_pct == 10 and .[2].speedup == 1.1'
	run -0 bench-rederive --lower-is-better "$BATS_TEST_TMPDIR/in"
	echo "$output" | jq -e -s '.[2].delta_pct == -10 and .[2].direction == "lower"'
	run -2 --separate-stderr bench-rederive --metric score "$BATS_TEST_TMPDIR/in"
	[[ $stderr == 'bench-rederive: --metric: cannot tell whether'* ]]
	# latency: lower is better, so a smaller median is a positive delta
	run -0 bench-rederive --metric median_e2e_latency_ms base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl
	echo "$output" | jq -e -s '.[0].direction == "lower" and .[2].delta_pct > 0'
}

@test "--seed: the same seed gives the same bytes; another seed another interval" {
	bench-rederive --seed 7 base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl > "$BATS_TEST_TMPDIR/a"
	bench-rederive --seed 7 base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl > "$BATS_TEST_TMPDIR/b"
	cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	# five reps have few distinct resample medians, so the interval of
	# another seed may land on the same ones; 400 continuous reps do not
	awk 'BEGIN { s = 7; for (i = 0; i < 800; i++) { s = (s * 1103515245 + 12345) % 2147483648
	  printf "{\"type\":\"run\",\"leg\":\"%s\",\"metric\":\"time\",\"value\":%.6f}\n", i % 2 ? "b" : "a", 10 + (i % 2) * 0.1 + s / 2147483648 } }' > "$BATS_TEST_TMPDIR/in"
	bench-rederive --max-reps 0 --seed 7 "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/c7"
	bench-rederive --max-reps 0 --seed 8 "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/c8"
	run -0 jq -e -s --slurpfile c "$BATS_TEST_TMPDIR/c8" '.[2].ci_low_pct != $c[2].ci_low_pct
	  and .[2].ci_high_pct != $c[2].ci_high_pct and .[2].seed == 7 and $c[2].seed == 8
	  and .[2].delta_pct == $c[2].delta_pct' "$BATS_TEST_TMPDIR/c7"
	# a comparison's interval does not depend on which other legs were read
	run -0 bench-rederive --seed 7 base=$B/sglang-base.jsonl mem=$B/sglang-memfrac.jsonl patch=$B/sglang-patch.jsonl
	echo "$output" | jq -e -s --slurpfile a "$BATS_TEST_TMPDIR/a" '.[4] == $a[2]'
}

@test "--resamples: fewer replicates, a coarser interval; bad values refused" {
	run -0 bench-rederive --resamples 50 base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl
	echo "$output" | jq -e -s '.[2].resamples == 50 and .[2].ci_low_pct < .[2].ci_high_pct'
	run -2 --separate-stderr bench-rederive --resamples 0
	assert_equal "$stderr" "bench-rederive: --resamples: value is too small: 0"
	run -2 --separate-stderr bench-rederive --tolerance -1
	assert_equal "$stderr" "bench-rederive: --tolerance: value is too small: -1"
	run -2 --separate-stderr bench-rederive --seed x
	assert_equal "$stderr" "bench-rederive: --seed: value is invalid: x"
	run -2 --separate-stderr bench-rederive --format csv
	assert_equal "$stderr" "bench-rederive: --format: want jsonl or text, not csv"
	run -2 --separate-stderr bench-rederive --input-format perf
	assert_equal "$stderr" "bench-rederive: --input-format: want auto, sglang, vllm, hyperfine, run, gbench, pytest-benchmark or criterion, not perf"
}

@test "a large leg takes the normal approximation; its counts stay exact past --max-reps" {
	awk 'BEGIN { for (i = 0; i < 3000; i++) printf "{\"type\":\"run\",\"leg\":\"%s\",\"metric\":\"time\",\"value\":%d}\n", i % 2 ? "b" : "a", 100 + i % 7 + (i % 2) }' > "$BATS_TEST_TMPDIR/in"
	run -0 bench-rederive --max-reps 3 "$BATS_TEST_TMPDIR/in"
	echo "$output" | jq -e -s '.[0].n == 1500 and .[0].reps_listed == 3 and (.[0].reps | length) == 3
	  and .[2].mw_method == "normal" and .[2].mw_p < 1e-6 and .[2].delta_pct < 0'
}

@test "--input-format forces a format; run refuses untyped rows" {
	run -0 bench-rederive --input-format vllm --max-reps 0 $B/sglang-base.jsonl
	echo "$output" | jq -e '.format == "vllm" and .n == 5'
	run -2 --separate-stderr bench-rederive --input-format run $B/sglang-base.jsonl
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/sglang-base.jsonl:1: field "type": missing'
	run -2 --separate-stderr bench-rederive --input-format hyperfine $B/sglang-base.jsonl
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/sglang-base.jsonl:1: field "results": missing'
	run -2 --separate-stderr bench-rederive --metric output_throughput $B/hyperfine.json
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/hyperfine.json:1: field "results": hyperfine exports hold the metric "time", not "output_throughput"'
}

@test "one leg of two harnesses is refused; LEG=FILE must name one hyperfine command" {
	run -2 --separate-stderr bench-rederive a=$B/sglang-base.jsonl a=$B/vllm-base.jsonl
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/vllm-base.jsonl:1: leg "a" mixes sglang and vllm rows'
	run -2 --separate-stderr bench-rederive old=$B/hyperfine.json
	assert_equal "$stderr" 'bench-rederive: fixtures/bench/hyperfine.json:2: field "results": LEG=FILE names one leg, but the export holds 2 commands'
	run -0 bench-rederive new=$B/hyperfine-failed.json
	echo "$output" | jq -e '.leg == "new"'
}

# ---- text ---------------------------------------------------------------------------

@test "--format text: the table, the strip plot and the claim lines" {
	run -1 --separate-stderr bench-rederive --format text base=$B/sglang-base.jsonl patch=$B/sglang-patch.jsonl mem=$B/sglang-memfrac.jsonl $B/claims.jsonl
	assert_equal "$stderr" ""
	diff -u "$E/text.expected" <(printf '%s\n' "$output")
}

@test "--format text: the strip plot counts reps per column" {
	printf '%s\n' 1 1 1 2 10 | awk '{ printf "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"time\",\"value\":%s}\n", $1 }' > "$BATS_TEST_TMPDIR/in"
	for i in $(seq 12); do echo '{"type":"run","leg":"b","metric":"time","value":10}'; done >> "$BATS_TEST_TMPDIR/in"
	run -0 bench-rederive --format text "$BATS_TEST_TMPDIR/in"
	# 1 -> column 0 (three), 2 -> round(31/9) = 3, 10 -> 31
	[[ ${lines[2]} == *'|3  .                           .|' ]]
	[[ ${lines[3]} == *'|                               #|' ]]
}

# ---- robustness (STYLE.md) -------------------------------------------------------------

@test "empty input: no output, exit 0" {
	run -0 --separate-stderr bench-rederive < /dev/null
	assert_output ""
	assert_equal "$stderr" ""
}

@test "blank lines are skipped and line numbers still count them" {
	printf '\n  \n{"type":"run","leg":"a","metric":"time","value":"x"}\n' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:3: field \"value\": must be a number, got \"x\""
}

@test "CRLF line ends are accepted, in rows and in documents" {
	sed 's/$/\r/' $B/sglang-base.jsonl > "$BATS_TEST_TMPDIR/crlf"
	sed 's/$/\r/' $B/hyperfine.json > "$BATS_TEST_TMPDIR/hf.json"
	run -0 bench-rederive --max-reps 0 "$BATS_TEST_TMPDIR/crlf"
	echo "$output" | jq -e '.n == 5 and .median == 1500.2'
	run -0 bench-rederive --max-reps 0 "$BATS_TEST_TMPDIR/hf.json"
	echo "$output" | jq -e -s '.[0].n == 10 and .[0].min_at == "'"$BATS_TEST_TMPDIR"'/hf.json:18"'
}

@test "malformed JSON: exit 2, file:line and column, records before it written" {
	printf '%s\n' '{"type":"note"}' '{"type":"run",' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"note"}'
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:2: malformed JSON at column 15: expected member name"
	# inside a pretty-printed document: the line and column there
	sed '21s/0.1013,/0.1013,,/' $B/hyperfine.json > "$BATS_TEST_TMPDIR/hf.json"
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/hf.json"
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/hf.json:21: malformed JSON at column 16: bad number"
}

@test "trailing garbage after the object is an error" {
	run -2 --separate-stderr bench-rederive <<< '{"type":"run","leg":"a","metric":"time","value":1} x'
	assert_output ""
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: malformed JSON at column 52: trailing garbage after the value'
}

@test "a record without type, and not a known raw format, is an error naming the field" {
	run -2 --separate-stderr bench-rederive <<< '{"leg":"a","value":1}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "type": missing, and the record is not SGLang, vLLM, hyperfine, Google Benchmark, pytest-benchmark or criterion output'
	run -2 --separate-stderr bench-rederive <<< '{"type":7}'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: field "type": must be a string'
	run -2 --separate-stderr bench-rederive <<< '[1,2]'
	assert_equal "$stderr" 'bench-rederive: <stdin>:1: record is not a JSON object'
}

@test "an oversized record is refused and the next one still read with --keep-going" {
	{ printf '{"type":"note","pad":"%0200d"}\n' 0; echo '{"type":"run","leg":"a","metric":"time","value":1}'; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive --max-record 100 --keep-going --max-reps 0 "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":1,\"message\":\"record longer than 100 bytes (see --max-record)\"}"
	echo "${lines[1]}" | jq -e '.type == "leg" and .n == 1'
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:1: record longer than 100 bytes (see --max-record)"
	run -2 --separate-stderr bench-rederive --max-record 500 $B/hyperfine.json
	assert_equal "$stderr" "bench-rederive: fixtures/bench/hyperfine.json:1: document longer than 500 bytes (see --max-record)"
}

@test "--keep-going: bad rows become error records in place, the good ones make the legs, exit 2" {
	printf '%s\n' '{"type":"run","leg":"a","metric":"time","value":1}' \
		'{"type":"run","leg":"a","metric":"time","value":NaN}' \
		'{"type":"run","leg":"a","metric":"time","value":3}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr bench-rederive --keep-going --max-reps 0 "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":2,\"field\":\"value\",\"message\":\"must be a finite number, got NaN\"}"
	echo "${lines[1]}" | jq -e '.type == "leg" and .n == 2 and .median == 2'
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/in:2: field \"value\": must be a finite number, got NaN"
}

@test "records of other types pass through unchanged and in order, before the derived ones" {
	printf '%s\n' '{"type":"note","a":1.50}' '{"type":"run","leg":"a","metric":"time","value":1}' '{"type":"parity","ok":true}' > "$BATS_TEST_TMPDIR/in"
	run -0 bench-rederive --max-reps 0 "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" '{"type":"note","a":1.50}'
	assert_equal "${lines[1]}" '{"type":"parity","ok":true}'
	echo "${lines[2]}" | jq -e '.type == "leg"'
	assert_equal "${#lines[@]}" 3
}

@test "stdin and - are the same input; a missing file is trouble, named" {
	run -0 bench-rederive < $B/runs.jsonl
	local a=$output
	run -0 bench-rederive - < $B/runs.jsonl
	assert_equal "$output" "$a"
	echo "$output" | jq -e -s '.[0].reps[0].at == "<stdin>:1"'
	run -2 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/nope"
	assert_equal "$stderr" "bench-rederive: $BATS_TEST_TMPDIR/nope: No such file or directory"
}

@test "--help prints usage to stdout, exit 0; --version" {
	run -0 --separate-stderr bench-rederive --help
	assert_line --index 0 --partial "usage: bench-rederive"
	assert_equal "$stderr" ""
	run -0 bench-rederive -h
	assert_line --index 0 --partial "usage: bench-rederive"
	run -0 bench-rederive --version
	assert_output --regexp '^bench-rederive [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "a bad option prints usage to stderr, exit 2" {
	run -2 --separate-stderr bench-rederive --bogus
	assert_output ""
	[[ ${stderr_lines[0]} == *"unrecognized option '--bogus'" ]]
	[[ ${stderr_lines[1]} == "usage: bench-rederive"* ]]
}

@test "writing to /dev/full is an error, exit 2" {
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run -2 --separate-stderr sh -c 'exec bench-rederive "$1" > /dev/full' sh $B/runs.jsonl
	assert_equal "$stderr" "bench-rederive: write error: No space left on device"
	run -2 --separate-stderr sh -c 'exec bench-rederive --format text "$1" > /dev/full' sh $B/runs.jsonl
	assert_equal "$stderr" "bench-rederive: write error: No space left on device"
}

@test "--progress counts rows on stderr; --quiet and a non-terminal stay silent" {
	awk 'BEGIN { for (i = 0; i < 3000; i++) printf "{\"type\":\"run\",\"leg\":\"a\",\"metric\":\"time\",\"value\":%d}\n", i }' > "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr bench-rederive --progress --max-reps 0 "$BATS_TEST_TMPDIR/in"
	[[ $stderr == *"3000 rows, done" ]]
	run -0 --separate-stderr bench-rederive --max-reps 0 "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" ""
	run -0 --separate-stderr bench-rederive --progress --quiet --max-reps 0 "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" ""
}

@test "every EXAMPLES entry of bench-rederive(1) runs and prints what the page shows" {
	run -0 check_man_examples bench-rederive.1
	assert_line --partial "examples checked"
}

@test "a claim's null statistics are unreported, not errors; its numbers are still checked" {
	printf '%s\n' '{"type":"run","leg":"a","metric":"tok_s","value":10}' '{"type":"run","leg":"a","metric":"tok_s","value":12}' \
		'{"type":"run","leg":"a","metric":"tok_s","value":11}' \
		'{"type":"claim","leg":"a","median":null,"mean":null,"max":12}' > "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr bench-rederive "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" ""
	run -0 jq -e -s '[.[] | select(.type == "claim_check")] | length == 1 and .[0].stat == "max" and .[0].status == "agree"' <<< "$output"
	# only nulls: a declaration, passed through
	printf '%s\n' '{"type":"run","leg":"a","metric":"tok_s","value":10}' '{"type":"claim","median":null}' > "$BATS_TEST_TMPDIR/in2"
	run -0 bench-rederive "$BATS_TEST_TMPDIR/in2"
	assert_line '{"type":"claim","median":null}'
}
