#!/usr/bin/env bats
# pipelines/patch-audit: three eval dirs in their three GEAK layouts, the
# whole corpus against its answer key, evidence derived from the legs'
# own files, a broken EVAL_DIR in both fail modes, and the --until-pass loop.

load test_helper

A="$ROOT/fixtures/audit"
PA="$ROOT/pipelines/patch-audit"

# copy CASE_DIR: a private copy of a corpus eval dir (patch-audit writes
# its verdict into EVAL_DIR), as $D
copy() {
	D=$BATS_TEST_TMPDIR/$1
	rm -rf "$D"
	cp -R "$A/$1" "$D"
}

@test "ref/ + cand/: a clean win is a PASS, audit_verdict.json written, the summary printed" {
	copy clean-win
	run -0 --separate-stderr sh "$PA" "$D"
	assert_equal "$stderr" ""
	assert_line --index 0 "patch-audit: $D (legs: ref/ + cand/; verdict in audit_verdict.json)"
	assert_line --index 1 "audit-verdict: patch scope: leg cand against ref, output_throughput (higher is better)"
	assert_line --index 2 "VERDICT PASS: pass"
	run -0 jq -e '.type == "verdict" and .verdict == "PASS" and .layout == "ref/ + cand/"
	  and (.findings | length) == 14 and .rederived == "audit_rederive.jsonl"
	  and .eval_dir == "'"$D"'"' "$D/audit_verdict.json"
	# provenance is relative to EVAL_DIR, so the verdict moves with it
	run -0 jq -e '[.findings[].evidence[].at // empty] | all(startswith("/") | not)
	  and any(. == "ref/bench_runs.jsonl:1")' "$D/audit_verdict.json"
	# the re-derived legs are kept beside the verdict: the "at" of a
	# derived number points into them
	run -0 jq -e -s 'map(.type) | index("leg") != null and index("comparison") != null' "$D/audit_rederive.jsonl"
	run -0 jq -r '.findings[] | select(.rule == "real-delta") | .evidence[] | select(.what == "delta_pct") | .at' "$D/audit_verdict.json"
	[[ $output == audit_rederive.jsonl:* ]]
	run -0 sed -n "${output##*:}p" "$D/audit_rederive.jsonl"
	[[ $output == '{"type":"comparison","leg":"cand","ref":"ref",'* ]]
}

@test "validation/base + validation/final: the handicapped baseline FAILs, exit 1" {
	copy handicapped-baseline
	run -1 --separate-stderr sh "$PA" "$D" --scope bundle
	assert_equal "$stderr" ""
	assert_line --index 2 "VERDICT FAIL: eject"
	run -0 jq -c '{verdict, action, rules_fired, leg, ref, layout}' "$D/audit_verdict.json"
	assert_output '{"verdict":"FAIL","action":"eject","rules_fired":["same-conditions","reported-vs-raw"],"leg":"final","ref":"base","layout":"validation/base + validation/final"}'
}

@test "baseline/ alone: the noisy baseline FLAGs remeasure, exit 3" {
	copy noisy-baseline
	run -3 --separate-stderr sh "$PA" "$D" --scope baseline
	assert_line --index 2 "VERDICT FLAG: remeasure"
	run -0 jq -c '{verdict, action, rules_fired, leg}' "$D/audit_verdict.json"
	assert_output '{"verdict":"FLAG","action":"remeasure","rules_fired":["baseline-spread","baseline-warmup"],"leg":"baseline"}'
}

@test "the whole corpus through the pipeline agrees with the answer key" {
	local line c d want got st bad=0
	while IFS= read -r line; do
		c=$(jq -r .case <<< "$line")
		d=$(jq -r .dir <<< "$line")
		copy "$d"
		mapfile -t args < <(jq -r '.args[]' <<< "$line")
		st=0
		sh "$PA" "$D" --scope "$(jq -r .scope <<< "$line")" "${args[@]}" > /dev/null 2> "$BATS_TEST_TMPDIR/err" || st=$?
		want=$(jq -c '{verdict, action, rules}' <<< "$line")
		got=$(jq -c '{verdict, action, rules: .rules_fired}' "$D/audit_verdict.json")
		if [ "$got" != "$want" ] || grep -q DEGRADED "$BATS_TEST_TMPDIR/err"; then
			echo "case $c (exit $st): want $want, got $got"
			cat "$BATS_TEST_TMPDIR/err"
			bad=$((bad + 1))
		fi
	done < "$A/answers.jsonl"
	[ "$bad" -eq 0 ]
}

@test "crash and engagement records are derived from the legs' server.log" {
	copy crash-one-rep
	grep -v '"crash"' "$A/crash-one-rep/evidence.jsonl" | grep -v engagement > "$D/evidence.jsonl"
	run -1 sh "$PA" "$D" --engage-pattern '\[overlay\]'
	# ref/ has no server.log: nothing is derived for it
	run -0 cat "$D/audit_derived.jsonl"
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 '{"type":"crash","leg":"cand","crashed":true,"count":2,"message":"[2026-06-22 13:42:27] HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION: The agent attempted to access memory beyond the largest legal address.","source":"cand/server.log:88"}'
	assert_line --index 1 '{"type":"engagement","leg":"cand","count":1,"pattern":"\\[overlay\\]","line":"[2026-06-22 13:40:20] [overlay] decode_attention rebound to the fused kernel (cand/overlay.diff)","source":"cand/server.log:5"}'
	run -0 jq -e '(.findings[] | select(.rule == "crash") | .evidence | any(.source == "cand/server.log:88" and .value == true))
	  and (.findings[] | select(.rule == "engagement") | .status == "holds")' "$D/audit_verdict.json"
	# without the pattern nothing shows the kernel ran
	run -1 sh "$PA" "$D"
	run -0 jq -r '.findings[] | select(.rule == "engagement") | .status' "$D/audit_verdict.json"
	assert_output evidence_absent
}

@test "a server_info.json that disagrees with the raw rows is a reported-vs-raw finding" {
	copy clean-win
	jq -c '.server_info | del(.internal_states)' "$A/clean-win/cand/bench_runs.jsonl" | head -n 1 > "$D/cand/server_info.json"
	run -0 sh "$PA" "$D"
	jq '.mem_fraction_static = 0.9' "$D/cand/server_info.json" > "$D/x" && mv "$D/x" "$D/cand/server_info.json"
	run -3 sh "$PA" "$D"
	run -0 jq -c '.findings[] | select(.rule == "reported-vs-raw") | .evidence[] | select(.value == 0.9)' "$D/audit_verdict.json"
	assert_output '{"what":"reported cand config server_info.mem_fraction_static","value":0.9,"at":"audit_derived.jsonl:3"}'
}

@test "a candidate leg without bench_runs.jsonl is missing evidence: FAIL, not DEGRADED" {
	copy isolated-only
	run -1 --separate-stderr sh "$PA" "$D"
	assert_equal "$stderr" "patch-audit: leg cand: no cand/bench_runs.jsonl (its evidence is absent)"
	run -0 jq -r '.verdict' "$D/audit_verdict.json"
	assert_output FAIL
}

@test "--db passes to audit-verdict: one verdict row per run" {
	command -v sqlite3 > /dev/null || skip "the sqlite3 CLI is not installed"
	copy clean-win
	cd "$BATS_TEST_TMPDIR"
	run -0 sh "$PA" "$D" --db store.db
	run -0 sh "$PA" "$D" --db store.db
	run -0 sqlite3 store.db "SELECT count(*), min(verdict), max(verdict) FROM audit_verdicts"
	assert_output "2|PASS|PASS"
}

# ---- the loop: --until-pass, --remeasure, --redo-harness, --rounds ------------------

PRODUCER="$ROOT/tests/fixtures/patch-audit/producer"

@test "--until-pass: a producer that fixes the rows ends the loop at PASS in round 2, one store row per round" {
	command -v sqlite3 > /dev/null || skip "the sqlite3 CLI is not installed"
	copy two-reps
	export PRODUCER_LOG=$BATS_TEST_TMPDIR/log
	run -0 --separate-stderr sh "$PA" "$D" --until-pass "sh '$PRODUCER' '$A/clean-win'" --db "$BATS_TEST_TMPDIR/store.db"
	assert_line --index 0 "patch-audit: $D: round 1 of 3 (legs: ref/ + cand/; verdict in audit_verdict.json)"
	assert_line "VERDICT FLAG: remeasure"
	assert_line "patch-audit: $D: round 2 of 3 (legs: ref/ + cand/; verdict in audit_verdict.json)"
	assert_line "VERDICT PASS: pass"
	assert_equal "${lines[${#lines[@]} - 1]}" "patch-audit: $D: PASS in round 2 of 3"
	assert_equal "$stderr" "patch-audit: round 2 of 3: FLAG (remeasure): running --until-pass: sh '$PRODUCER' '$A/clean-win'"
	# the producer ran once, in the eval dir, with round 1's findings
	run -0 cat "$PRODUCER_LOG"
	assert_output "round=2 verdict=FLAG action=remeasure eval_dir=$D pwd=$D findings=15"
	run -0 jq -s -c '[.[] | select(.type == "finding" and .severity != "PASS") | .rule], (.[-1] | {type, verdict})' "$PRODUCER_LOG.2"
	assert_line --index 0 '["real-delta","min-reps"]'
	assert_line --index 1 '{"type":"verdict","verdict":"FLAG"}'
	run -0 jq -c '{verdict, round, rounds}' "$D/audit_verdict.json"
	assert_output '{"verdict":"PASS","round":2,"rounds":3}'
	run -0 sqlite3 "$BATS_TEST_TMPDIR/store.db" "SELECT verdict, action FROM audit_verdicts ORDER BY id"
	assert_output $'FLAG|remeasure\nPASS|pass'
}

@test "--until-pass that never passes: --rounds N audits, the last verdict stands (3 FLAG, 1 FAIL)" {
	copy two-reps
	export PRODUCER_LOG=$BATS_TEST_TMPDIR/log
	run -3 sh "$PA" "$D" --until-pass "sh '$PRODUCER'" --rounds 2
	assert_equal "${lines[${#lines[@]} - 1]}" "patch-audit: $D: no PASS in 2 rounds; the verdict of round 2 stands: FLAG (remeasure)"
	run -0 wc -l < "$PRODUCER_LOG"
	assert_output 1
	copy handicapped-baseline
	rm "$PRODUCER_LOG"
	run -1 sh "$PA" "$D" --scope bundle --until-pass "sh '$PRODUCER'" --rounds 3
	assert_equal "${lines[${#lines[@]} - 1]}" "patch-audit: $D: no PASS in 3 rounds; the verdict of round 3 stands: FAIL (eject)"
	run -0 cut -d ' ' -f 1-3 "$PRODUCER_LOG"
	assert_output $'round=2 verdict=FAIL action=eject\nround=3 verdict=FAIL action=eject'
	# --rounds 1 is the single audit, the producer never runs
	rm "$PRODUCER_LOG"
	run -1 sh "$PA" "$D" --scope bundle --until-pass "sh '$PRODUCER'" --rounds 1
	[ ! -e "$PRODUCER_LOG" ]
}

@test "--remeasure runs on action remeasure, --redo-harness on redo_harness, any other action --until-pass, none: the loop stops" {
	export PRODUCER_LOG=$BATS_TEST_TMPDIR/log
	copy two-reps
	run -0 --separate-stderr sh "$PA" "$D" --until-pass 'exit 9' --redo-harness 'exit 9' --remeasure "sh '$PRODUCER' '$A/clean-win'"
	assert_equal "$stderr" "patch-audit: round 2 of 3: FLAG (remeasure): running --remeasure: sh '$PRODUCER' '$A/clean-win'"
	copy harness-graph-replay
	run -0 --separate-stderr sh "$PA" "$D" --scope harness --remeasure 'exit 9' --redo-harness "sh '$PRODUCER' '$A/harness-clean'"
	assert_equal "$stderr" "patch-audit: round 2 of 3: FAIL (redo_harness): running --redo-harness: sh '$PRODUCER' '$A/harness-clean'"
	assert_equal "${lines[${#lines[@]} - 1]}" "patch-audit: $D: PASS in round 2 of 3"
	# an action with no command of its own: --until-pass's
	copy handicapped-baseline
	run -1 --separate-stderr sh "$PA" "$D" --scope bundle --remeasure 'exit 9' --until-pass "sh '$PRODUCER'" --rounds 2
	assert_equal "$stderr" "patch-audit: round 2 of 2: FAIL (eject): running --until-pass: sh '$PRODUCER'"
	# no command for the action: the loop stops at the verdict it has
	run -1 --separate-stderr sh "$PA" "$D" --scope bundle --remeasure 'exit 9' --redo-harness 'exit 9'
	assert_equal "$stderr" ""
	assert_equal "${lines[${#lines[@]} - 1]}" "patch-audit: $D: round 1: no producer for action eject (no --until-pass); the verdict stands: FAIL (eject)"
}

@test "a producer that fails is DEGRADED: by default it never raises round 1's verdict, --fail-closed exits 2" {
	copy two-reps
	run -3 --separate-stderr sh "$PA" "$D" --until-pass 'echo rebuilding; exit 7'
	assert_equal "${lines[${#lines[@]} - 1]}" "patch-audit: $D: VERDICT DEGRADED (fail_open): round 2: the producer (--until-pass) failed (exit 7): echo rebuilding; exit 7"
	# the producer's output goes to standard error, the verdicts' stream stays clean
	assert_equal "${stderr_lines[1]}" "rebuilding"
	assert_equal "${stderr_lines[2]}" "patch-audit: *** DEGRADED: no verdict for $D: round 2: the producer (--until-pass) failed (exit 7): echo rebuilding; exit 7 ***"
	assert_equal "${stderr_lines[3]}" "patch-audit: *** fail-open (the default; --fail-closed blocks), but round 1's FLAG (remeasure) stands: exit 3 ***"
	run -0 jq -c '{verdict, action, round, last_verdict}' "$D/audit_verdict.json"
	assert_output '{"verdict":"DEGRADED","action":"fail_open","round":2,"last_verdict":"FLAG (remeasure)"}'
	run -2 sh "$PA" "$D" --until-pass 'exit 7' --fail-closed
	run -0 jq -c '{verdict, action}' "$D/audit_verdict.json"
	assert_output '{"verdict":"DEGRADED","action":"fail_closed"}'
	# an explicit FAIL withholds: exit 1, not fail-open's 0
	copy handicapped-baseline
	run -1 sh "$PA" "$D" --scope bundle --until-pass 'exit 7'
	[[ $output == *"VERDICT DEGRADED (fail_open): round 2: the producer (--until-pass) failed (exit 7): exit 7" ]]
	# a tooling failure before any verdict is DEGRADED as without the loop: exit 0
	run -0 sh "$PA" "$BATS_TEST_TMPDIR/nowhere" --until-pass 'exit 7'
	run -2 sh "$PA" "$BATS_TEST_TMPDIR/nowhere" --until-pass 'exit 7' --fail-closed
}

@test "the loop's usage errors: exit 2, nothing run" {
	copy two-reps
	run -2 --separate-stderr sh "$PA" "$D" --rounds 2
	assert_equal "$stderr" "patch-audit: --rounds needs --until-pass, --remeasure or --redo-harness"
	run -2 --separate-stderr sh "$PA" "$D" --until-pass true --rounds 0
	assert_equal "$stderr" "patch-audit: --rounds: want a whole number from 1, not 0"
	run -2 --separate-stderr sh "$PA" "$D" --until-pass true --rounds two
	assert_equal "$stderr" "patch-audit: --rounds: want a whole number from 1, not two"
	run -2 --separate-stderr sh "$PA" "$D" --until-pass ''
	assert_equal "$stderr" "patch-audit: --until-pass: an empty value"
	run -2 --separate-stderr sh "$PA" "$D" --remeasure
	assert_equal "$stderr" "patch-audit: --remeasure needs a value"
	[ ! -e "$D/audit_verdict.json" ]
}

# ---- tooling failures: DEGRADED ---------------------------------------------------

@test "a broken EVAL_DIR, fail-open (the default): DEGRADED, loudly, exit 0; --fail-open is the same" {
	copy clean-win
	echo '{"output_throughput": 1500.2, "completed":' >> "$D/cand/bench_runs.jsonl"
	run -0 --separate-stderr sh "$PA" "$D"
	assert_output "patch-audit: $D: VERDICT DEGRADED (fail_open): bench-rederive failed (exit 2): bench-rederive: cand/bench_runs.jsonl:6: malformed JSON at column 43: unexpected end of input"
	[[ ${stderr_lines[0]} == "patch-audit: *** DEGRADED: no verdict for $D: bench-rederive failed (exit 2): "* ]]
	assert_equal "${stderr_lines[1]}" "patch-audit: *** fail-open (the default; --fail-closed blocks): exit 0, but NOTHING WAS VERIFIED ***"
	run -0 jq -c '{verdict, action}' "$D/audit_verdict.json"
	assert_output '{"verdict":"DEGRADED","action":"fail_open"}'
	# --fail-open, the old way to ask for it, is accepted and changes nothing
	run -0 --separate-stderr sh "$PA" "$D" --fail-open
	assert_output "patch-audit: $D: VERDICT DEGRADED (fail_open): bench-rederive failed (exit 2): bench-rederive: cand/bench_runs.jsonl:6: malformed JSON at column 43: unexpected end of input"
}

@test "a broken EVAL_DIR, --fail-closed: DEGRADED, as loudly, exit 2" {
	copy clean-win
	echo '{"output_throughput": 1500.2, "completed":' >> "$D/cand/bench_runs.jsonl"
	run -2 --separate-stderr sh "$PA" "$D" --fail-closed
	[[ $output == "patch-audit: $D: VERDICT DEGRADED (fail_closed): bench-rederive failed"* ]]
	assert_equal "${stderr_lines[1]}" "patch-audit: *** --fail-closed: exit 2, the change is blocked until an audit runs ***"
	run -0 jq -c '{verdict, action}' "$D/audit_verdict.json"
	assert_output '{"verdict":"DEGRADED","action":"fail_closed"}'
	# the last of --fail-open and --fail-closed wins
	run -0 sh "$PA" "$D" --fail-closed --fail-open
	run -2 sh "$PA" "$D" --fail-open --fail-closed
}

@test "an explicit FAIL always withholds: exit 1 whatever the fail mode, never DEGRADED" {
	copy handicapped-baseline
	run -1 --separate-stderr sh "$PA" "$D" --scope bundle
	assert_equal "$stderr" ""
	run -1 sh "$PA" "$D" --scope bundle --fail-open
	run -1 sh "$PA" "$D" --scope bundle --fail-closed
	run -0 jq -r .verdict "$D/audit_verdict.json"
	assert_output FAIL
}

@test "no EVAL_DIR, no legs, no tools: DEGRADED in both modes" {
	run -0 --separate-stderr sh "$PA" "$BATS_TEST_TMPDIR/nowhere"
	[[ ${stderr_lines[0]} == "patch-audit: *** DEGRADED: no verdict for $BATS_TEST_TMPDIR/nowhere: $BATS_TEST_TMPDIR/nowhere is not a directory ***" ]]
	[[ $stderr == *"could not write $BATS_TEST_TMPDIR/nowhere/audit_verdict.json"* ]]
	run -2 sh "$PA" "$BATS_TEST_TMPDIR/nowhere" --fail-closed
	mkdir "$BATS_TEST_TMPDIR/empty"
	run -0 --separate-stderr sh "$PA" "$BATS_TEST_TMPDIR/empty"
	[[ $output == *"VERDICT DEGRADED (fail_open): no legs: "* ]]
	run -0 jq -r .verdict "$BATS_TEST_TMPDIR/empty/audit_verdict.json"
	assert_output DEGRADED
	run -2 sh "$PA" "$BATS_TEST_TMPDIR/empty" --fail-closed
}

@test "tools that are not installed: DEGRADED" {
	PATH=/usr/bin:/bin command -v bench-rederive > /dev/null && skip "bench-rederive is installed in /usr/bin"
	# a copy of the pipeline away from the build tree, which it would use
	mkdir -p "$BATS_TEST_TMPDIR/p/pipelines"
	cp "$PA" "$BATS_TEST_TMPDIR/p/pipelines/"
	copy clean-win
	run -0 --separate-stderr env PATH=/usr/bin:/bin sh "$BATS_TEST_TMPDIR/p/pipelines/patch-audit" "$D"
	assert_equal "${stderr_lines[0]}" "patch-audit: *** DEGRADED: no verdict for $D: bench-rederive is not installed (or not on PATH) ***"
	run -0 jq -r .verdict "$D/audit_verdict.json"
	assert_output DEGRADED
	run -2 env PATH=/usr/bin:/bin sh "$BATS_TEST_TMPDIR/p/pipelines/patch-audit" "$D" --fail-closed
}

@test "usage errors are not tooling failures: exit 2 in either mode, no verdict file" {
	copy clean-win
	run -2 --separate-stderr sh "$PA" "$D" --fail-open --noise-band abc
	assert_equal "$stderr" "patch-audit: --noise-band: not a number: abc"
	run -2 --separate-stderr sh "$PA" "$D" --fail-open --scope nightly
	assert_equal "$stderr" "patch-audit: --scope: want patch, bundle, baseline, profile or harness, not nightly"
	run -2 --separate-stderr sh "$PA" "$D" --bogus
	[[ ${stderr_lines[0]} == "patch-audit: unknown option: --bogus" ]]
	run -2 --separate-stderr sh "$PA"
	[ ! -e "$D/audit_verdict.json" ]
	run -0 sh "$PA" --help
	assert_line --index 0 --partial "usage: patch-audit EVAL_DIR"
}

@test "a verdict it cannot write to stdout is trouble, exit 2 in either mode, never the FAIL's 1 or fail-open's 0" {
	[ -w /dev/full ] || skip "no /dev/full: cannot make stdout fail"
	copy handicapped-baseline
	run -2 --separate-stderr sh -c 'sh "$1" "$2" --scope bundle > /dev/full' sh "$PA" "$D"
	assert_equal "${stderr_lines[${#stderr_lines[@]} - 1]}" "patch-audit: stopped by a failed command or write (exit 1)"
	copy clean-win
	echo '{"output_throughput": 1500.2, "completed":' >> "$D/cand/bench_runs.jsonl"
	run -2 --separate-stderr sh -c 'sh "$1" "$2" > /dev/full' sh "$PA" "$D"
	assert_equal "${stderr_lines[${#stderr_lines[@]} - 1]}" "patch-audit: cannot write the verdict to standard output"
}
