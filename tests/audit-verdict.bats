#!/usr/bin/env bats
# audit-verdict: the backtest corpus against its frozen answer key, the
# rules' semantics one by one, the records, the trace store, robustness.

load test_helper

A="fixtures/audit"  # relative to $ROOT: provenance in the output reads so
E="$BATS_TEST_DIRNAME/fixtures/audit-verdict"

setup() {
	cd "$ROOT"
}

# run_case LINE [OPTION...]: bench-rederive, then audit-verdict, on the
# case the answer-key LINE describes.  The re-derived records are in
# $T/rd.jsonl, the audit's output in $T/av.jsonl; the statuses in $rd_st
# and $st.
run_case() {
	local line=$1 d s
	local -a args legs cl ev
	shift
	T=$BATS_TEST_TMPDIR
	d=$A/$(jq -r .dir <<< "$line")
	s=$(jq -r .scope <<< "$line")
	mapfile -t args < <(jq -r '.args[]' <<< "$line")
	mapfile -t legs < <(jq -r --arg d "$d" '.legs[] | sub("="; "=\($d)/")' <<< "$line")
	mapfile -t cl < <(jq -r --arg d "$d" '.claims[] | "\($d)/\(.)"' <<< "$line")
	mapfile -t ev < <(jq -r --arg d "$d" '.evidence[] | "\($d)/\(.)"' <<< "$line")
	rd_st=0
	bench-rederive "${legs[@]}" "${cl[@]}" < /dev/null > "$T/rd.jsonl" || rd_st=$?
	st=0
	audit-verdict --scope "$s" "${args[@]}" "$@" "$T/rd.jsonl" "${ev[@]}" > "$T/av.jsonl" || st=$?
}

# key CASE: the answer-key line of CASE
key() {
	jq -c --arg c "$1" 'select(.case == $c)' "$A/answers.jsonl"
}

# ---- the backtest corpus ------------------------------------------------------

@test "the backtest corpus: every case's verdict, action and rules match the frozen answer key" {
	local line c want got n=0 bad=0
	while IFS= read -r line; do
		c=$(jq -r .case <<< "$line")
		run_case "$line"
		want=$(jq -c '{verdict, action, rules}' <<< "$line")
		got=$(jq -c -s 'map(select(.type == "verdict")) | .[0] | {verdict, action, rules: .rules_fired}' "$T/av.jsonl")
		if [ "$got" != "$want" ]; then
			echo "case $c: want $want"
			echo "case $c:  got $got"
			bad=$((bad + 1))
		fi
		# the exit status is the verdict's, and bench-rederive had no trouble
		case $(jq -r .verdict <<< "$line") in
		PASS) [ "$st" = 0 ] || { echo "case $c: exit $st for PASS"; bad=$((bad + 1)); } ;;
		FLAG) [ "$st" = 3 ] || { echo "case $c: exit $st for FLAG"; bad=$((bad + 1)); } ;;
		FAIL) [ "$st" = 1 ] || { echo "case $c: exit $st for FAIL"; bad=$((bad + 1)); } ;;
		esac
		[ "$rd_st" -le 1 ] || { echo "case $c: bench-rederive exit $rd_st"; bad=$((bad + 1)); }
		n=$((n + 1))
	done < "$A/answers.jsonl"
	echo "$n cases, $bad mismatches"
	[ "$bad" -eq 0 ]
	[ "$n" -ge 28 ]
}

@test "the answer key covers every verdict, action and scope the issue asks for" {
	run -0 jq -e -s '
	  def v($c): map(select(.case == $c)) | .[0];
	  (v("clean-win") | .verdict == "PASS")
	  and (v("handicapped-baseline") | .verdict == "FAIL" and (.rules | index("reported-vs-raw")))
	  and (v("self-compare-isolated") | .action == "replace_headline_with_e2e")
	  and (v("noncoherent-reference") | .verdict == "FAIL")
	  and (v("crash-one-rep") | .verdict == "FAIL" and (.rules | index("crash")))
	  and (v("spec-decode-as-kernel") | .action == "downgrade_headline")
	  and (v("baseline-drift") | .verdict == "FAIL" and .rules == ["baseline-drift"])
	  and (v("second-knob") | .verdict == "FAIL")
	  and (v("nulled-medians") | .verdict == "PASS")
	  and (v("ttft-regression") | .verdict == "FLAG")
	  and (v("noisy-baseline") | .action == "remeasure")
	  and (v("two-reps") | .action == "remeasure")
	  and (v("overlapping-noise") | .verdict == "FLAG" and .action == "remeasure" and .rules == ["real-delta"])
	  and ([.[].scope] | unique == ["baseline", "bundle", "harness", "patch", "profile"])' "$A/answers.jsonl"
}

@test "every finding that holds or is violated cites FILE:LINE evidence, and each cited line exists" {
	local line c bad=0 at file ln
	while IFS= read -r line; do
		c=$(jq -r .case <<< "$line")
		run_case "$line"
		bare=$(jq -r 'select(.type == "finding" and (.status == "holds" or .status == "violated")
		  and ([.evidence[] | select((.at // "") | test(":[0-9]+$"))] | length) == 0) | .rule' "$T/av.jsonl")
		[ -z "$bare" ] || { echo "case $c: no FILE:LINE evidence in $bare"; bad=$((bad + 1)); }
		# every cited line of a file in the corpus is there
		while IFS= read -r at; do
			file=${at%:*} ln=${at##*:}
			[ "$(sed -n "${ln}p" "$file" | wc -c)" -gt 1 ] || { echo "case $c: $at does not exist"; bad=$((bad + 1)); }
		done < <(jq -r 'select(.type == "finding") | .evidence[].at // empty | select(startswith("fixtures/"))' "$T/av.jsonl")
	done < "$A/answers.jsonl"
	[ "$bad" -eq 0 ]
}

@test "the handicapped baseline: both legs' raw mem fractions and the misreporting summary, each with its line" {
	run_case "$(key handicapped-baseline)"
	[ "$st" = 1 ]
	run -0 jq -e -s '
	  (map(select(.rule == "same-conditions")) | .[0].evidence) as $sc
	  | (map(select(.rule == "reported-vs-raw")) | .[0].evidence) as $rr
	  | (map(select(.type == "verdict")) | .[0]) as $v
	  | ($sc | any(.what == "base server_info.mem_fraction_static" and .value == 0.7225
	      and .at == "fixtures/audit/handicapped-baseline/validation/base/bench_runs.jsonl:1"))
	  and ($sc | any(.what == "final server_info.mem_fraction_static" and .value == 0.85
	      and .at == "fixtures/audit/handicapped-baseline/validation/final/bench_runs.jsonl:1"))
	  and ($rr | any(.what == "reported base config server_info.mem_fraction_static"
	      and .value == 0.85 and .at == "fixtures/audit/handicapped-baseline/claims.jsonl:2"))
	  and ($rr | any(.what == "raw base config server_info.mem_fraction_static" and .value == 0.7225))
	  and $v.same_conditions_ok == false and $v.counts_as_kernel_win == false
	  and $v.lever_class == "A" and $v.correctness_status == "byte_parity_pass"
	  and $v.engagement_ok == true and $v.non_overlapping == true' "$T/av.jsonl"
}

@test "--format text: the human summary, as expected" {
	local line
	line=$(key handicapped-baseline)
	run_case "$line"
	run -1 --separate-stderr audit-verdict --scope bundle --format text - "$A/handicapped-baseline/evidence.jsonl" < "$T/rd.jsonl"
	assert_equal "$stderr" ""
	diff -u "$E/handicapped-baseline.txt" <(printf '%s\n' "$output")
}

@test "the verdict record has SPEC section 10's fields, typed" {
	run_case "$(key clean-win)"
	[ "$st" = 0 ]
	run -0 jq -e -s 'map(select(.type == "verdict")) | length == 1 and (.[0] |
	  .scope == "patch" and .verdict == "PASS" and .action == "pass" and .reasons == []
	  and .lever_class == "A" and .counts_as_kernel_win == true
	  and (.e2e_delta_pct | type) == "number" and .non_overlapping == true
	  and .same_conditions_ok == true and .baseline_drift_pct == null
	  and .headline_integrity == "ok" and .correctness_status == "byte_parity_pass"
	  and .leg == "cand" and .ref == "ref" and .metric == "output_throughput"
	  and .findings == {"PASS": 14, "FLAG": 0, "FAIL": 0}
	  and .thresholds.noise_band_pct == 0.5 and .thresholds.alpha == 0.05
	  and .metrics.output_throughput == {"ref": 1500.2, "cand": 1615.8})' "$T/av.jsonl"
	# one finding per rule, in rule order, then the verdict last
	run -0 jq -r -s 'map(.rule // .type) | join(" ")' "$T/av.jsonl"
	assert_output "evidence-complete same-conditions contention baseline-drift real-delta run-order min-reps crash engagement correctness reported-vs-raw headline-latency lever-class isolated-vs-e2e verdict"
}

@test "exit status: 0 PASS, 3 FLAG, 1 FAIL" {
	run_case "$(key clean-win)"
	assert_equal "$st" 0
	run_case "$(key spec-decode-as-kernel)"
	assert_equal "$st" 3
	run_case "$(key baseline-drift)"
	assert_equal "$st" 1
}

@test "output is deterministic: the same input twice, the same bytes" {
	run_case "$(key bundle-decomposition)"
	cp "$T/av.jsonl" "$T/first"
	run_case "$(key bundle-decomposition)"
	cmp "$T/first" "$T/av.jsonl"
}

# ---- the rules, one by one ------------------------------------------------------

# legs N M: generic run records, N reps of ref and M of cand, 10% apart,
# with a configuration and TTFT; then the evidence of a clean kernel change
legs() {
	local i
	for i in $(seq 1 "$1"); do
		echo "{\"type\":\"run\",\"leg\":\"ref\",\"metric\":\"tokens_per_s\",\"value\":$((1000 + i)),\"server_info\":{\"tp_size\":1}}"
	done
	for i in $(seq 1 "$2"); do
		echo "{\"type\":\"run\",\"leg\":\"cand\",\"metric\":\"tokens_per_s\",\"value\":$((1100 + i)),\"server_info\":{\"tp_size\":1}}"
	done
	echo '{"type":"run","leg":"ref","metric":"ttft_ms","value":200}'
	echo '{"type":"run","leg":"cand","metric":"ttft_ms","value":198}'
}
clean_evidence() {
	echo '{"type":"lever","name":"k","class":"A","evidence":"k.diff:1"}'
	echo '{"type":"engagement","leg":"cand","count":7}'
	echo '{"type":"parity","byte_exact":12,"total":12,"reference_coherent":true}'
}

@test "significance is computed from the rep counts: 3 and 3 reps cannot pass, 4 and 4 can" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	legs 3 3 | bench-rederive > "$BATS_TEST_TMPDIR/rd3"
	run -3 audit-verdict "$BATS_TEST_TMPDIR/rd3" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '
	  (map(select(.rule == "real-delta")) | .[0] | .severity == "FLAG" and .action == "remeasure"
	    and .status == "partial" and (.message | contains("smallest possible p is 0.1,")))
	  and (map(select(.rule == "min-reps")) | .[0] | .severity == "FLAG" and .status == "partial"
	    and (.evidence | any(.what == "smallest possible two-sided p" and .value == 0.1)))
	  and (.[-1] | .verdict == "FLAG" and .action == "remeasure"
	    and .partial == ["real-delta", "min-reps"] and .evidence_absent == [])'
	# a looser alpha makes 3 and 3 reachable: 0.1 < 0.15, and the exact p is 0.1
	run -0 audit-verdict --alpha 0.15 "$BATS_TEST_TMPDIR/rd3" "$BATS_TEST_TMPDIR/ev"
	# 4 and 4 reach 2/70 < 0.05: a clean change passes
	legs 4 4 | bench-rederive > "$BATS_TEST_TMPDIR/rd4"
	run -0 audit-verdict "$BATS_TEST_TMPDIR/rd4" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '.[-1] | .verdict == "PASS" and .mw_p == 2 / 70'
	# --min-reps asks for more than significance needs
	run -3 audit-verdict --min-reps 5 "$BATS_TEST_TMPDIR/rd4" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '.[-1].rules_fired == ["min-reps"]'
}

@test "run-order: a reference measured wholly before the candidate FLAGs remeasure; interleaved legs pass; no order is n/a" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	# seq numbers the runs: every ref run first, then every cand run
	legs 5 5 | jq -c 'if .metric == "tokens_per_s" then .seq = input_line_number - 1 else . end' |
		bench-rederive > "$BATS_TEST_TMPDIR/blocks"
	run -3 audit-verdict "$BATS_TEST_TMPDIR/blocks" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '
	  (map(select(.rule == "run-order")) | .[0] | .severity == "FLAG" and .status == "violated"
	    and .action == "remeasure"
	    and (.message | startswith("every rep of ref was measured before every rep of cand"))
	    and (.evidence | any(.what == "run_order" and .value == "ref_first")))
	  and (.[-1] | .verdict == "FLAG" and .action == "remeasure" and .rules_fired == ["run-order"])'
	# the same runs in ABAB order
	legs 5 5 | jq -c 'if .metric != "tokens_per_s" then . elif .leg == "ref" then .seq = 2 * (.value - 1001) else .seq = 2 * (.value - 1101) + 1 end' |
		bench-rederive > "$BATS_TEST_TMPDIR/abab"
	run -0 audit-verdict "$BATS_TEST_TMPDIR/abab" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s 'map(select(.rule == "run-order")) | .[0] | .severity == "PASS" and .status == "holds"'
	legs 5 5 | bench-rederive > "$BATS_TEST_TMPDIR/none"
	run -0 audit-verdict "$BATS_TEST_TMPDIR/none" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s 'map(select(.rule == "run-order")) | .[0] | .severity == "PASS" and .status == "n/a"'
}

# runs LEG VALUE...: run records of LEG, one per value
runs() {
	local l=$1 v
	shift
	for v in "$@"; do
		echo "{\"type\":\"run\",\"leg\":\"$l\",\"metric\":\"tokens_per_s\",\"value\":$v,\"server_info\":{\"tp_size\":1}}"
	done
}

# +10% over 9 reps a leg, the reference's fastest rep beyond the
# candidate's slowest: the legs overlap
overlapping_win() {
	runs ref 970 980 990 1000 1000 1010 1020 1030 1110
	runs cand 1080 1090 1095 1100 1100 1105 1110 1120 1130
	echo '{"type":"run","leg":"ref","metric":"ttft_ms","value":200}'
	echo '{"type":"run","leg":"cand","metric":"ttft_ms","value":198}'
}

@test "real-delta holds by the CI beyond the floor and p, the legs overlapping: non-overlap is evidence, not required" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	overlapping_win | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	run -0 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -s -e '
	  (map(select(.rule == "real-delta")) | .[0] | .severity == "PASS" and .status == "holds"
	    and .threshold == "the 95% CI of delta_pct wholly above the floor 1% (--min-effect) and Mann-Whitney p < 0.05; non-overlap is evidence, not required"
	    and .message == "cand beats ref by +10.00% (95% CI [+7.28%, +12.24%], above the floor 1%); p = 0.00143974; the legs overlap"
	    and (.evidence | any(.what == "non_overlap" and .value == false)))
	  and (.[-1] | .verdict == "PASS")'
}

@test "real-delta FLAGs remeasure when the delta clears the floor but its CI does not, naming the reps for 80% power" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	{ runs ref 1000 1030 970 1010 990; runs cand 1040 1000 1070 1060 1030; } |
		bench-rederive > "$BATS_TEST_TMPDIR/rd"
	run -3 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	# pooled stdev 25 = 2.5% of 1000: pi (1.96 + 0.84)^2 2.5^2 / (4 - 1)^2 = 17.1
	echo "$output" | jq -s -e '
	  (map(select(.rule == "real-delta")) | .[0] | .severity == "FLAG" and .action == "remeasure"
	    and .status == "partial"
	    and .message == "the delta +4.00% clears the floor 1% but its 95% CI [+0.00%, +8.08%] does not: about 18 reps per leg give 80% power at the observed pooled rep stdev 2.5%"
	    and (.evidence | any(.what == "reps per leg for 80% power" and .value == 18))
	    and (.evidence | any(.what == "pooled rep stdev, percent of the reference median" and .value > 2.49 and .value < 2.51)))
	  and (.[-1] | .verdict == "FLAG" and .action == "remeasure")'
}

@test "--min-effect sets the floor: the CI below it FLAGs, the delta below it FAILs; bad values are named" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	overlapping_win | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	run -3 audit-verdict --min-effect 8 "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -s -e 'map(select(.rule == "real-delta")) | .[0] | .severity == "FLAG"
	  and (.message | startswith("the delta +10.00% clears the floor 8% but its 95% CI [+7.28%, +12.24%] does not: about "))'
	run -1 audit-verdict --min-effect 12 "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -s -e 'map(select(.rule == "real-delta")) | .[0] | .severity == "FAIL"
	  and .message == "delta +10.00% is not above the floor 12% (95% CI [+7.28%, +12.24%], p = 0.00143974)"'
	run -2 --separate-stderr audit-verdict --min-effect -1 "$BATS_TEST_TMPDIR/rd"
	[ "$stderr" = "audit-verdict: --min-effect: value is too small: -1" ]
	run -2 --separate-stderr audit-verdict --min-effect 101 "$BATS_TEST_TMPDIR/rd"
	[ "$stderr" = "audit-verdict: --min-effect: value is too large: 101" ]
}

# aa_legs VALUE...: the overlapping win with an A/A leg of these values
aa_legs() {
	overlapping_win
	runs aa "$@"
	echo '{"type":"run","leg":"aa","metric":"ttft_ms","value":200}'
}

@test "an aa leg is the empirical floor: the larger of --min-effect and its CI's largest bound; it is never the candidate" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	# a quiet A/A (CI of aa against ref up to 2.53%): the win clears it
	aa_legs 975 985 995 1000 1005 1010 1015 1025 1040 | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	run -0 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -s -e '
	  (map(select(.rule == "real-delta")) | .[0] | .severity == "PASS"
	    and .threshold == "the 95% CI of delta_pct wholly above the floor 2.52525% (the larger of --min-effect 1% and the A/A leg'"'"'s) and Mann-Whitney p < 0.05; non-overlap is evidence, not required"
	    and .message == "cand beats ref by +10.00% (95% CI [+7.28%, +12.24%], above the floor 2.52525%); p = 0.00143974; the legs overlap"
	    and (.evidence | any(.what == "A/A floor: largest |bound| of the 95% CI of leg aa against ref"
	                         and .value > 2.525 and .value < 2.526 and (.at | endswith("/rd:5")))))
	  and (.[-1] | .verdict == "PASS")'
	# --min-effect above the A/A floor is the floor
	run -3 audit-verdict --min-effect 8 "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -s -e 'map(select(.rule == "real-delta")) | .[0] | .severity == "FLAG"
	  and (.message | startswith("the delta +10.00% clears the floor 8% but"))'
	# a noisy A/A (CI [-7%, +11.1%]): the same +10% is inside the noise
	aa_legs 900 930 960 1000 1040 1080 1100 1120 1150 | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	run -1 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -s -e 'map(select(.rule == "real-delta")) | .[0] | .severity == "FAIL"
	  and .message == "delta +10.00% is not above the floor 11.1111% (95% CI [+7.28%, +12.24%], p = 0.00143974)"'
	# audited itself, aa has no floor of its own but --min-effect
	run -1 audit-verdict --cand aa "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -s -e 'map(select(.rule == "real-delta")) | .[0]
	  | (.threshold | contains("floor 1% (--min-effect)")) and (.evidence | all(.what | startswith("A/A") | not))'
}

# ---- partial evidence: present, but short of what the rule needs ----------------

@test "partial: parity on fewer than 10 prompts; an accuracy probe on fewer than 10 prompts" {
	legs 5 5 | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	clean_evidence | grep -v parity > "$BATS_TEST_TMPDIR/ev0"
	# every output byte-exact, but only 6 of them: nothing diverged, too little compared
	{ cat "$BATS_TEST_TMPDIR/ev0"; echo '{"type":"parity","byte_exact":6,"total":6,"reference_coherent":true}'; } > "$BATS_TEST_TMPDIR/ev"
	run -3 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '
	  (map(select(.rule == "correctness")) | .[0] | .severity == "FLAG" and .status == "partial"
	    and .action == "remeasure"
	    and .message == "6/6 outputs byte-exact, but parity on fewer than 10 prompts does not certify correctness")
	  and (.[-1] | .verdict == "FLAG" and .action == "remeasure" and .partial == ["correctness"]
	    and .evidence_absent == [] and .correctness_status == "byte_parity_short")'
	# 10 of 12 byte-exact, the divergence probed on 5 prompts: still unjudged, still a FAIL
	{ cat "$BATS_TEST_TMPDIR/ev0"; echo '{"type":"parity","byte_exact":10,"total":12,"reference_coherent":true,"accuracy":{"metric":"gsm8k","ref":0.8,"cand":0.8,"max_drop":0.01,"n":5}}'; } > "$BATS_TEST_TMPDIR/ev"
	run -1 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '
	  (map(select(.rule == "correctness")) | .[0] | .severity == "FAIL" and .status == "partial"
	    and .action == "eject"
	    and .message == "10/12 byte-exact; the accuracy probe (drop 0, max_drop 0.01) ran on 5 prompts, fewer than 10: the divergence is judged on too little"
	    and (.evidence | any(.what == "accuracy probe prompts" and .value == 5 and (.at | endswith("/ev:3")))))
	  and (.[-1] | .correctness_status == "accuracy_probe_short" and .partial == ["correctness"])'
	# the same probe on 12 prompts judges it
	sed 's/"n":5/"n":12/' "$BATS_TEST_TMPDIR/ev" > "$BATS_TEST_TMPDIR/ev2"
	run -0 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev2"
	echo "$output" | jq -e -s '.[-1] | .correctness_status == "accuracy_gate_pass" and .partial == []'
}

@test "partial: a leg with fewer reps than --min-reps; a leg with none is absent" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	legs 2 6 | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	run -3 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '
	  (map(select(.rule == "min-reps")) | .[0] | .severity == "FLAG" and .status == "partial"
	    and .action == "remeasure"
	    and (.message | startswith("leg ref has 2 reps, fewer than 3; ")))
	  and (.[-1] | .verdict == "FLAG" and (.partial | index("min-reps")))'
	# the candidate leg without a rep: its evidence is absent, not short
	runs ref 1000 1001 1002 | bench-rederive > "$BATS_TEST_TMPDIR/rd1"
	run -1 audit-verdict --cand cand "$BATS_TEST_TMPDIR/rd1" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s 'map(select(.rule == "min-reps")) | .[0] | .status == "evidence_absent"
	  and .message == "leg cand has no reps"'
}

@test "partial: reported numbers only some of which could be re-derived; none is absent" {
	clean_evidence > "$BATS_TEST_TMPDIR/ev"
	printf '%s\n' '{"type":"claim","leg":"cand","median":1103}' '{"type":"claim","leg":"ghost","median":5}' > "$BATS_TEST_TMPDIR/claims"
	# bench-rederive exits 1: a claim it could not check
	legs 5 5 | bench-rederive - "$BATS_TEST_TMPDIR/claims" > "$BATS_TEST_TMPDIR/rd" || [ $? = 1 ]
	run -3 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '
	  (map(select(.rule == "reported-vs-raw")) | .[0] | .severity == "FLAG" and .status == "partial"
	    and .message == "1 of 2 reported numbers could not be re-derived from the raw rows (1 agree): ghost median ('"$BATS_TEST_TMPDIR"'/claims:2, no leg \"ghost\" in the input)")
	  and (.[-1] | .partial == ["reported-vs-raw"])'
	tail -n 1 "$BATS_TEST_TMPDIR/claims" > "$BATS_TEST_TMPDIR/claims1"
	legs 5 5 | bench-rederive - "$BATS_TEST_TMPDIR/claims1" > "$BATS_TEST_TMPDIR/rd" || [ $? = 1 ]
	run -3 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s 'map(select(.rule == "reported-vs-raw")) | .[0] | .severity == "FLAG"
	  and .status == "evidence_absent"'
}

@test "partial: engagement shown in another leg only; harness records only some of which carry a field" {
	legs 5 5 | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	{ clean_evidence | grep -v engagement; echo '{"type":"engagement","leg":"spec","count":3}'; } > "$BATS_TEST_TMPDIR/ev"
	run -1 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '
	  (map(select(.rule == "engagement")) | .[0] | .severity == "FAIL" and .status == "partial"
	    and .message == "engagement of leg cand is shown only in part: the path ran in leg spec, not in cand; no engagement record shows lever k ran")
	  and (.[-1] | .engagement_ok == false and .partial == ["engagement"])'
	# two harness records, one without its oracle digests
	h='"baseline_backend":"x","candidate_backend":"y","rel_err":0,"dispatch_path":"p","served_path":"p","shapes":[1],"served_shapes":[1]'
	printf '%s\n' "{\"type\":\"harness\",\"op\":\"a\",$h,\"oracle_sha256\":\"s\",\"oracle_sha256_ref\":\"s\"}" "{\"type\":\"harness\",\"op\":\"b\",$h}" > "$BATS_TEST_TMPDIR/h"
	run -3 audit-verdict --scope harness "$BATS_TEST_TMPDIR/h"
	echo "$output" | jq -e -s '.[-1].partial == ["harness-oracle"] and .[-1].evidence_absent == []'
	tail -n 1 "$BATS_TEST_TMPDIR/h" > "$BATS_TEST_TMPDIR/h1"
	run -3 audit-verdict --scope harness "$BATS_TEST_TMPDIR/h1"
	echo "$output" | jq -e -s '.[-1].evidence_absent == ["harness-oracle"] and .[-1].partial == []'
}

@test "absent evidence is never a PASS: no parity, no engagement, no lever, no evidence at all" {
	legs 5 5 | bench-rederive > "$BATS_TEST_TMPDIR/rd"
	clean_evidence | grep -v parity > "$BATS_TEST_TMPDIR/ev"
	run -1 audit-verdict "$BATS_TEST_TMPDIR/rd" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '.[-1] | .rules_fired == ["correctness"] and .evidence_absent == ["correctness"]
	  and .correctness_status == "evidence_absent"'
	run -1 audit-verdict "$BATS_TEST_TMPDIR/rd"
	echo "$output" | jq -e -s '.[-1].evidence_absent == ["engagement", "correctness", "lever-class"]'
	# a drift that was not measured is n/a: reported, but not as a passed gate
	echo "$output" | jq -e -s 'map(select(.rule == "baseline-drift")) | .[0] | .status == "n/a" and .severity == "PASS"'
}

@test "baseline drift: 29 % below --baseline-throughput fails, within the band holds" {
	local line
	line=$(key baseline-drift)
	run_case "$line"
	jq -e -s 'map(select(.rule == "baseline-drift")) | .[0] | .severity == "FAIL"
	  and (.evidence | any(.what == "drift_pct" and (.value * 10 | round) == -290))' "$T/av.jsonl"
	jq -e -s '.[-1].baseline_drift_pct < -28.9' "$T/av.jsonl"
	run_case "$line" --baseline-throughput 1503
	jq -e -s '(map(select(.rule == "baseline-drift")) | .[0].status == "holds") and .[-1].verdict == "PASS"' "$T/av.jsonl"
	# --noise-band is the one threshold: 0.1 % makes 1503 drift too far
	run_case "$line" --baseline-throughput 1503 --noise-band 0.1
	jq -e -s '.[-1].rules_fired == ["baseline-drift"]' "$T/av.jsonl"
}

@test "levers: inferred from config_diff keys, with a decomposition line when several changed" {
	run_case "$(key spec-decode-as-kernel)"
	jq -e -s '.[-1] | .levers == [{"name": "spec-decode", "class": "B", "from": "config_diff",
	  "why": "inferred from server_info.speculative_algorithm",
	  "at": "fixtures/audit/spec-decode-as-kernel/cand/bench_runs.jsonl:1"}]' "$T/av.jsonl"
	run_case "$(key second-knob)"
	run -0 jq -r -s '.[-1].lever_decomposition' "$T/av.jsonl"
	assert_output "e2e +9.80% = attention-backend(A), chunked-prefill(B) +9.80% (not separated)"
	jq -e -s 'map(select(.rule == "same-conditions")) | .[0].message | contains("2 changes where a patch makes one")' "$T/av.jsonl"
	run_case "$(key bundle-decomposition)"
	run -0 jq -r -s '.[-1].lever_decomposition' "$T/av.jsonl"
	assert_output "e2e +56.00% = EAGLE spec-decode(B) +34.50% (leg spec) x FlyDSL GEMM(A) +15.99% (residual)"
}

@test "a lever record whose keys say B is overruled, however it is declared" {
	local line
	line=$(key spec-decode-as-kernel)
	cp "$A/spec-decode-as-kernel/evidence.jsonl" "$BATS_TEST_TMPDIR/ev"
	echo '{"type":"lever","name":"fused MoE kernel","class":"A","keys":["server_info.speculative_algorithm","server_info.speculative_num_steps","server_info.speculative_eagle_topk","server_info.speculative_num_draft_tokens"]}' >> "$BATS_TEST_TMPDIR/ev"
	run_case "$line"
	run -3 audit-verdict "$T/rd.jsonl" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '.[-1] | .action == "downgrade_headline" and .levers[0].class == "B"
	  and .levers[0].why == "declared A, but its key server_info.speculative_algorithm is a class B lever"'
	# declared with nothing to back it, a class is indeterminate: FAIL
	grep -v lever "$BATS_TEST_TMPDIR/ev" > "$BATS_TEST_TMPDIR/ev2"
	echo '{"type":"lever","name":"fused MoE kernel","class":"A"}' >> "$BATS_TEST_TMPDIR/ev2"
	run -1 audit-verdict "$T/rd.jsonl" "$BATS_TEST_TMPDIR/ev2"
	echo "$output" | jq -e -s 'map(select(.rule == "lever-class")) | .[0] | .status == "evidence_absent"
	  and (.message | contains("declared A with nothing to back it"))'
}

@test "a declared consequence is FLAGged only when shown inert; observed at the limit FAILs" {
	run_case "$(key inert-consequence)"
	assert_equal "$st" 3
	sed 's/"observed":188416/"observed":414000/' "$A/inert-consequence/evidence.jsonl" > "$BATS_TEST_TMPDIR/ev"
	run -1 audit-verdict "$T/rd.jsonl" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s 'map(select(.rule == "same-conditions")) | .[0].message ==
	  "server_info.max_total_num_tokens is a declared consequence of lever triton decode attention but not inert: observed 414000 >= limit 414000"'
	grep -v inert "$A/inert-consequence/evidence.jsonl" > "$BATS_TEST_TMPDIR/ev"
	run -1 audit-verdict "$T/rd.jsonl" "$BATS_TEST_TMPDIR/ev"
	echo "$output" | jq -e -s '.[-1].rules_fired == ["same-conditions"]'
}

@test "a hidden TTFT regression FLAGs, and FAILs past --latency-hard-limit" {
	local line
	line=$(key ttft-regression)
	run_case "$line"
	jq -e -s 'map(select(.rule == "headline-latency")) | .[0].message ==
	  "TTFT regressed by 223.9% (2916 -> 9446 ms) under the throughput headline"' "$T/av.jsonl"
	run_case "$line" --latency-hard-limit 200
	assert_equal "$st" 1
	jq -e -s '.[-1] | .headline_integrity == "fail" and .action == "eject"' "$T/av.jsonl"
	run_case "$line" --latency-regress-pct 250
	assert_equal "$st" 0
	run -2 --separate-stderr audit-verdict --latency-regress-pct 50 --latency-hard-limit 40 /dev/null
	assert_equal "$stderr" "audit-verdict: --latency-hard-limit: value is below --latency-regress-pct: 40"
}

@test "crash: a failed rep and a crash record each fail the audit, with their lines" {
	run_case "$(key crash-one-rep)"
	jq -e -s 'map(select(.rule == "crash")) | .[0] | .severity == "FAIL"
	  and (.evidence | any(.what == "leg cand rep 1 failed" and .at == "fixtures/audit/crash-one-rep/cand/bench_runs.jsonl:2"))
	  and (.evidence | any(.source == "cand/server.log:88" and .value == true))' "$T/av.jsonl"
	# a candidate that crashed before it left a single rep crashed all the same
	run_case "$(key isolated-only)"
	echo '{"type":"crash","leg":"cand","crashed":true,"message":"Segmentation fault"}' > "$T/ev"
	run -1 audit-verdict "$T/rd.jsonl" "$T/ev"
	echo "$output" | jq -e -s 'map(select(.rule == "crash")) | .[0] | .severity == "FAIL"
	  and .message == "the server of leg cand crashed: Segmentation fault"'
}

@test "harness and profile scopes read their evidence only" {
	run -1 audit-verdict --scope harness "$A/harness-graph-replay/evidence.jsonl"
	echo "$output" | jq -e -s '(map(select(.rule == "harness-dispatch")) | .[0].message ==
	  "gemm_a8w8: measured through cuda_graph_replay(gemm_a8w8_NO_GRAPH), served through gemm_a8w8_bare_core")
	  and (map(select(.rule == "harness-shapes")) | .[0].message == "gemm_a8w8: served shape [8,4096,4096] not measured")'
	run -1 audit-verdict --scope harness < /dev/null
	echo "$output" | jq -e -s '.[-1].evidence_absent == ["harness-self-compare", "harness-rel-err", "harness-dispatch", "harness-shapes", "harness-oracle"]'
	run -3 audit-verdict --scope profile "$A/profile-fragmented/evidence.jsonl"
	echo "$output" | jq -e -s 'map(select(.rule == "profile-fragmentation")) | .[0].evidence
	  | any(.what == "GPU time share of op moe_gemm (16 entries), %" and .value > 66 and .value < 67)'
	# with a larger fragment threshold nothing changes: the top entry is still the wrong op
	run -3 audit-verdict --scope profile --fragment-pct 2 "$A/profile-fragmented/evidence.jsonl"
}

# ---- the ledger --------------------------------------------------------------------------

@test "--ledger binds every claim to the finding that judged it and the raw rows behind it, FILE:LINE" {
	local c=fixtures/audit/clean-win
	run_case "$(key clean-win)" --ledger
	assert_equal "$st" 0
	# between the findings and the verdict, one record per claim
	run -0 jq -r -s 'map(.type) | unique | join(" ")' "$T/av.jsonl"
	assert_output "finding ledger verdict"
	jq -e -s '.[-1].type == "verdict" and (map(select(.type == "ledger")) | length) == 6' "$T/av.jsonl"
	# the win: real-delta on every rep of both legs
	jq -e -s --arg rd "$T/rd.jsonl" --arg c "$c" 'map(select(.type == "ledger" and .kind == "delta")) | .[0]
	  | .claim == "cand beats ref (headline kernel)" and .claim_at == "\($rd):1"
	  and .source == "integrate_result.json:3" and .finding == "real-delta" and .status == "holds"
	  and .rows == ([range(1; 6) | "\($c)/cand/bench_runs.jsonl:\(.)"] + [range(1; 6) | "\($c)/ref/bench_runs.jsonl:\(.)"])
	  and .blocked_by == [] and .discharged == true' "$T/av.jsonl"
	# a reported configuration: its claim line and the rep the configuration was read at
	jq -e -s --arg c "$c" 'map(select(.type == "ledger" and .claim == "ref config server_info.mem_fraction_static = 0.85")) | .[0]
	  | .kind == "reported" and .claim_at == "\($c)/claims.jsonl:2" and .finding == "reported-vs-raw"
	  and .status == "holds" and .rows == ["\($c)/ref/bench_runs.jsonl:1"] and .discharged == true' "$T/av.jsonl"
	# the kernel headline: lever-class, on the lever record that cites the hunk
	jq -e -s --arg c "$c" 'map(select(.type == "ledger" and .kind == "headline")) | .[0]
	  | .finding == "lever-class" and .rows == ["\($c)/evidence.jsonl:1"] and .discharged == true' "$T/av.jsonl"
	# without --ledger there is none
	run_case "$(key clean-win)"
	jq -e -s 'map(select(.type == "ledger")) == []' "$T/av.jsonl"
}

@test "--ledger: a misreport is not discharged, and a win blocked by a FAIL gate is not either" {
	local c=fixtures/audit/handicapped-baseline
	run_case "$(key handicapped-baseline)" --ledger
	assert_equal "$st" 1
	jq -e -s --arg c "$c" '
	  (map(select(.type == "ledger" and .claim == "base config server_info.mem_fraction_static = 0.85")) | .[0]
	    | .status == "violated" and .claim_at == "\($c)/claims.jsonl:2"
	    and .rows == ["\($c)/validation/base/bench_runs.jsonl:1"] and .discharged == false)
	  and (map(select(.type == "ledger" and .kind == "delta")) | .[0]
	    | .status == "holds" and .blocked_by == ["same-conditions"] and .discharged == false)' "$T/av.jsonl"
}

@test "--ledger: a claim no finding judged is a row of its own, evidence absent, never dropped" {
	run_case "$(key config-sweep)" --cand mf090 --ledger
	# the claim is about mf095; mf090 was audited
	jq -e -s 'map(select(.type == "ledger" and .kind == "delta")) | .[0]
	  | .claim == "mf095 beats baseline (headline serving)" and .finding == null
	  and .status == "evidence_absent" and .rows == [] and .discharged == false' "$T/av.jsonl"
	# a claim with nothing the audit judges, in a scope with no rule for it
	run -0 audit-verdict --scope harness --ledger "$A/harness-clean/evidence.jsonl" - <<< '{"type":"claim","leg":"cand","lever":"x","source":"s.json:1"}'
	echo "$output" | jq -e -s 'map(select(.type == "ledger")) == [{"type": "ledger", "kind": "claim",
	  "claim": "the claim of cand", "claim_at": "<stdin>:1", "source": "s.json:1", "leg": "cand",
	  "finding": null, "severity": null, "status": "evidence_absent", "rows": [], "discharged": false}]'
}

@test "--ledger --format text: a ledger table, rows of one file as ranges" {
	run_case "$(key clean-win)"
	run -0 audit-verdict --ledger --format text "$T/rd.jsonl" "$A/clean-win/evidence.jsonl"
	assert_line "  ledger: 6 claims (status, finding, claim, where it was read; the raw rows behind it)"
	assert_line "    holds           real-delta        cand beats ref (headline kernel)  ($T/rd.jsonl:1, integrate_result.json:3)"
	assert_line "        rows: fixtures/audit/clean-win/cand/bench_runs.jsonl:1-5, fixtures/audit/clean-win/ref/bench_runs.jsonl:1-5"
	assert_line "    holds           reported-vs-raw   ref config server_info.tp_size = 1  (fixtures/audit/clean-win/claims.jsonl:2)"
}

# ---- input --------------------------------------------------------------------------

@test "records of other types pass through unchanged and in order, before the findings" {
	run_case "$(key clean-win)"
	{ echo '{"type":"note","n":1}'; cat "$T/rd.jsonl"; echo '{"type":"note","n":2,"x":[1, 2]}'; } > "$T/in"
	run -0 audit-verdict "$T/in" "$A/clean-win/evidence.jsonl"
	assert_equal "${lines[0]}" '{"type":"note","n":1}'
	assert_equal "${lines[1]}" '{"type":"note","n":2,"x":[1, 2]}'
	assert_equal "$(echo "${lines[2]}" | jq -r .rule)" evidence-complete
	# claims are consumed, not passed on
	run -0 jq -s 'map(select(.type == "claim")) | length' <(printf '%s\n' "${lines[@]}")
	assert_output 0
}

@test "stdin and - are the same input; operands are read in order" {
	run_case "$(key clean-win)"
	audit-verdict "$T/rd.jsonl" "$A/clean-win/evidence.jsonl" > "$T/a"
	audit-verdict - "$A/clean-win/evidence.jsonl" < "$T/rd.jsonl" | sed 's/<stdin>/X/g' > "$T/b"
	sed "s|$T/rd.jsonl|X|g" "$T/a" > "$T/a2"
	cmp "$T/a2" "$T/b"
}

@test "several comparisons: --cand names the one to audit, --ref must be its reference" {
	local line
	line=$(key config-sweep)
	run_case "$line"
	jq -c 'select(.type != "claim")' "$T/rd.jsonl" > "$T/noclaim"
	run -2 --separate-stderr audit-verdict "$T/noclaim"
	assert_output ""
	assert_equal "$stderr" "audit-verdict: 2 comparisons in the input (legs mf090, mf095): name the one to audit with --cand"
	run -0 audit-verdict --cand mf095 "$T/rd.jsonl" "$A/config-sweep/evidence.jsonl"
	run -2 --separate-stderr audit-verdict --cand mf095 --ref mf090 "$T/rd.jsonl"
	assert_equal "$stderr" "audit-verdict: --ref mf090: leg mf095 is compared with baseline in the input"
	# the claim's leg picks it when --cand does not
	run -0 audit-verdict "$T/rd.jsonl" "$A/config-sweep/evidence.jsonl"
}

@test "bad evidence records: file, line and field, records before them written, no verdict" {
	printf '%s\n' '{"type":"note"}' '{"type":"engagement","leg":"c","count":-1}' '{"type":"note"}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr audit-verdict "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"note"}'
	assert_equal "$stderr" "audit-verdict: $BATS_TEST_TMPDIR/in:2: field \"count\": must be >= 0, got -1"
	run -2 --separate-stderr audit-verdict <<< '{"type":"parity","byte_exact":1,"total":2,"reference_coherent":"yes"}'
	assert_equal "$stderr" 'audit-verdict: <stdin>:1: field "reference_coherent": must be true or false'
	run -2 --separate-stderr audit-verdict <<< '{"type":"lever","name":"x","class":"C"}'
	assert_equal "$stderr" 'audit-verdict: <stdin>:1: field "class": must be A or B, got "C"'
	run -2 --separate-stderr audit-verdict <<< '{"type":"parity","byte_exact":1,"total":2,"reference_coherent":true,"accuracy":{"ref":0.8,"cand":"0.7","max_drop":0.01}}'
	assert_equal "$stderr" 'audit-verdict: <stdin>:1: field "accuracy.cand": must be a number'
	run -2 --separate-stderr audit-verdict <<< '{"type":"comparison","leg":"a","ref":"b","n":2,"n_ref":2,"delta_pct":1,"ci_low_pct":1,"mw_p":0.3,"non_overlap":true,"config_diff":[{"ref":1}]}'
	assert_equal "$stderr" 'audit-verdict: <stdin>:1: field "config_diff[0].key": missing'
	run -2 --separate-stderr audit-verdict <<< '{"type":"leg","leg":"a","metric":"m","direction":"up","n":1,"failed":0,"median":1}'
	assert_equal "$stderr" 'audit-verdict: <stdin>:1: field "direction": must be higher or lower, got "up"'
	run -2 --separate-stderr audit-verdict <<< '{"type":"inert","key":"k","observed":1e400,"limit":2}'
	assert_equal "$stderr" 'audit-verdict: <stdin>:1: field "observed": must be a finite number'
}

@test "--keep-going: a bad record becomes an error record, the verdict says the evidence is incomplete, exit 2" {
	run_case "$(key clean-win)"
	{ cat "$T/rd.jsonl" "$A/clean-win/evidence.jsonl"; echo '{"type":"crash","leg":"cand","crashed":"no"}'; } > "$T/in"
	run -2 --separate-stderr audit-verdict --keep-going "$T/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$T/in\",\"line\":13,\"field\":\"crashed\",\"message\":\"must be true or false\"}"
	assert_equal "$stderr" "audit-verdict: $T/in:13: field \"crashed\": must be true or false"
	# twelve records were read, one refused: the evidence is partial, not absent
	echo "${lines[-1]}" | jq -e '.verdict == "FAIL" and .rules_fired == ["evidence-complete"]
	  and .partial == ["evidence-complete"] and .evidence_absent == []'
}

@test "an error record from bench-rederive --keep-going makes the evidence incomplete" {
	printf '%s\n' '{"type":"run","leg":"a","metric":"time","value":1}' '{"type":"run","leg":"a","metric":"time","value":NaN}' > "$BATS_TEST_TMPDIR/rows"
	run -2 --separate-stderr bench-rederive --keep-going "$BATS_TEST_TMPDIR/rows"
	printf '%s\n' "${lines[@]}" > "$BATS_TEST_TMPDIR/rd"
	run -1 audit-verdict --scope baseline "$BATS_TEST_TMPDIR/rd"
	echo "$output" | jq -e -s 'map(select(.rule == "evidence-complete")) | .[0] | .severity == "FAIL"
	  and (.message | contains("(the first at '"$BATS_TEST_TMPDIR"'/rows:2)"))'
}

# ---- the trace store ------------------------------------------------------------------

@test "--db records the verdict and every finding in the trace store (schema 3, 6 for partial; the store is at 7)" {
	command -v sqlite3 > /dev/null || skip "the sqlite3 CLI is not installed"
	run_case "$(key handicapped-baseline)"
	KVA_NOW=2026-06-22T13:00:00Z audit-verdict --scope bundle --db "$T/t.db" "$T/rd.jsonl" "$A/handicapped-baseline/evidence.jsonl" > "$T/out" || st=$?
	assert_equal "$st" 1
	run -0 sqlite3 "$T/t.db" "SELECT version FROM schema_version; SELECT ts, scope, leg, ref, verdict, action, lever_class, counts_as_kernel_win, correctness_status FROM audit_verdicts; SELECT count(*), sum(severity = 'FAIL'), sum(severity = 'FLAG') FROM audit_findings WHERE verdict_id = 1;"
	assert_output "7
2026-06-22T13:00:00Z|bundle|final|base|FAIL|eject|A|0|byte_parity_pass
14|1|1"
	# the stored records are the ones written
	run -0 sqlite3 "$T/t.db" "SELECT record FROM audit_verdicts"
	assert_equal "$output" "$(tail -n 1 "$T/out")"
	# a file that is not a trace store: the verdict is still written, exit 2
	echo "not sqlite" > "$T/bad.db"
	run -2 --separate-stderr audit-verdict --scope bundle --db "$T/bad.db" "$T/rd.jsonl"
	[[ $stderr == "audit-verdict: trace store $T/bad.db: "* ]]
	echo "${lines[-1]}" | jq -e '.type == "verdict"'
}

# ---- robustness (STYLE.md) ---------------------------------------------------------------

@test "empty input: every rule's evidence is absent, the verdict is FAIL (never PASS), exit 1" {
	run -1 --separate-stderr audit-verdict < /dev/null
	assert_equal "$stderr" ""
	echo "$output" | jq -e -s '.[-1] | .verdict == "FAIL" and .findings.PASS == 5
	  and .evidence_absent == ["same-conditions", "contention", "real-delta", "min-reps", "crash", "engagement", "correctness", "headline-latency", "lever-class"]'
}

@test "blank lines are skipped and line numbers still count them" {
	printf '\n  \n{"type":"crash","leg":"a"}\n' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr audit-verdict "$BATS_TEST_TMPDIR/in"
	assert_output ""
	assert_equal "$stderr" "audit-verdict: $BATS_TEST_TMPDIR/in:3: field \"crashed\": missing"
}

@test "CRLF line ends are accepted" {
	run_case "$(key clean-win)"
	sed 's/$/\r/' "$A/clean-win/evidence.jsonl" > "$T/ev"
	run -0 audit-verdict "$T/rd.jsonl" "$T/ev"
	echo "${lines[-1]}" | jq -e '.verdict == "PASS"'
}

@test "malformed JSON and trailing garbage: exit 2, file:line, records before written" {
	printf '%s\n' '{"type":"note"}' '{"type":"crash",' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr audit-verdict "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"note"}'
	assert_equal "$stderr" "audit-verdict: $BATS_TEST_TMPDIR/in:2: malformed JSON at column 17: expected member name"
	run -2 --separate-stderr audit-verdict <<< '{"type":"crash","leg":"a","crashed":true} x'
	assert_output ""
	assert_equal "$stderr" "audit-verdict: <stdin>:1: malformed JSON at column 43: trailing garbage after the value"
}

@test "a record without a type is refused" {
	run -2 --separate-stderr audit-verdict <<< '{"leg":"a","crashed":true}'
	assert_equal "$stderr" 'audit-verdict: <stdin>:1: field "type": missing'
}

@test "an oversized record is refused, and with --keep-going the rest is read" {
	{ printf '{"type":"note","pad":"%0200d"}\n' 0; echo '{"type":"crash","leg":"a","crashed":false}'; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr audit-verdict --max-record 100 "$BATS_TEST_TMPDIR/in"
	assert_output ""
	assert_equal "$stderr" "audit-verdict: $BATS_TEST_TMPDIR/in:1: record longer than 100 bytes (see --max-record)"
	run -2 --separate-stderr audit-verdict --max-record 100 --keep-going "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":1,\"message\":\"record longer than 100 bytes (see --max-record)\"}"
	echo "${lines[-1]}" | jq -e '.type == "verdict" and .verdict == "FAIL"'
}

@test "--help prints usage to stdout, exit 0; --version" {
	run -0 --separate-stderr audit-verdict --help
	assert_line --index 0 --partial "usage: audit-verdict"
	assert_equal "$stderr" ""
	run -0 audit-verdict -h
	assert_line --index 0 --partial "usage: audit-verdict"
	run -0 audit-verdict --version
	assert_output --regexp '^audit-verdict [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "a bad option prints usage to stderr, exit 2; bad values are named" {
	run -2 --separate-stderr audit-verdict --bogus
	assert_output ""
	[[ ${stderr_lines[0]} == *"unrecognized option '--bogus'" ]]
	[[ ${stderr_lines[1]} == "usage: audit-verdict"* ]]
	run -2 --separate-stderr audit-verdict --scope nightly
	assert_equal "$stderr" "audit-verdict: --scope: want patch, bundle, baseline, profile or harness, not nightly"
	run -2 --separate-stderr audit-verdict --alpha 1
	assert_equal "$stderr" "audit-verdict: --alpha: value is too large: 1"
	run -2 --separate-stderr audit-verdict --noise-band -1
	assert_equal "$stderr" "audit-verdict: --noise-band: value is too small: -1"
	run -2 --separate-stderr audit-verdict --min-reps 0
	assert_equal "$stderr" "audit-verdict: --min-reps: value is too small: 0"
	run -2 --separate-stderr audit-verdict --baseline-throughput x
	assert_equal "$stderr" "audit-verdict: --baseline-throughput: value is invalid: x"
	run -2 --separate-stderr audit-verdict --format yaml
	assert_equal "$stderr" "audit-verdict: --format: want jsonl or text, not yaml"
}

@test "writing to /dev/full is an error, exit 2" {
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run -2 --separate-stderr sh -c 'exec audit-verdict "$1" > /dev/full' sh "$A/harness-clean/evidence.jsonl"
	assert_equal "$stderr" "audit-verdict: write error: No space left on device"
	run -2 --separate-stderr sh -c 'exec audit-verdict --scope harness --format text "$1" > /dev/full' sh "$A/harness-clean/evidence.jsonl"
	assert_equal "$stderr" "audit-verdict: write error: No space left on device"
}

@test "every EXAMPLES entry of the man page gives the output it shows" {
	run -0 check_man_examples audit-verdict.1
}
