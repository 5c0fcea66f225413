#!/usr/bin/env bats
# pipelines/auto-heal: ImpactArbiter's demo, offline from the replay corpus.

load test_helper

setup() {
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
	# no key and no network: the demo must not need either
	unset OPENAI_API_KEY ANTHROPIC_API_KEY KVA_API_KEY
	export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
}

@test "the demo: no ring wrap, the model's test passes, the trap fires, one heal, FINAL PASS" {
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d
	assert_equal "$stderr" ""
	assert_line --index 0 "[QUICK DISTILL] radix-2d from radix.txt"
	assert_line "[GENERATED CODE & TESTS] attempt 0 (gpt-4o-mini, replay)"
	assert_line "[LLM UNIT TEST PASS] the model's own test_route() returned 0 (not trusted)"
	assert_line "[AUTOGRAD TRAP FAIL — HARD_BLOCK] divergence=1.00e+00 > tol=1e-04"
	assert_line "Token (b=5,h=0,prefix_h=60,N_h=4,bs=16) | Expected: head=0 block=0 offset=1 | Got: head=0 block=4 offset=1"
	assert_line "[AUTO-HEAL attempt 1/2]"
	assert_line "[GENERATED CODE & TESTS] attempt 1 (gpt-4o-mini, replay)"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
	# the order of the transcript is ImpactArbiter's
	order=$(printf '%s\n' "${lines[@]}" | grep -n -e '^\[QUICK' -e '^\[GENERATED' -e '^\[LLM UNIT' -e '^\[AUTOGRAD' -e '^\[AUTO-HEAL' -e '^\[FINAL' | cut -d: -f2 | cut -c1-12 | tr '\n' '|')
	assert_equal "$order" "[QUICK DISTI|[GENERATED C|[LLM UNIT TE|[AUTOGRAD TR|[AUTO-HEAL a|[GENERATED C|[LLM UNIT TE|[FINAL PASS]|"
}

@test "the demo with --mutate (make demo): the model's own unit test kills fewer mutants of the healed code than the boundary set" {
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --mutate
	assert_equal "$stderr" ""
	assert_line --index $((${#lines[@]} - 2)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
	# 70 mutants: the boundary set kills all but the narrowed local
	# (no boundary case sums past 2^31); the model's two asserts kill 60
	assert_line --index $((${#lines[@]} - 1)) "[MUTATION] 70 mutants of the final candidate: the boundary set kills 70 (100%), the model's own unit test 60 (86%); 0 survived"
}

@test "the demo is deterministic: two runs print the same transcript" {
	sh "$ROOT/pipelines/auto-heal" --oracle radix-2d > "$BATS_TEST_TMPDIR/a"
	sh "$ROOT/pipelines/auto-heal" --oracle radix-2d > "$BATS_TEST_TMPDIR/b"
	cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
}

@test "without the heal (--max-attempts 0: no heal after the first try) the loop ends in FINAL FAIL, exit 1" {
	run -1 sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --max-attempts 0
	assert_line "[AUTOGRAD TRAP FAIL — HARD_BLOCK] divergence=1.00e+00 > tol=1e-04"
	refute_line --partial "[AUTO-HEAL attempt"
	assert_line --index $((${#lines[@]} - 1)) "[FINAL FAIL] no candidate passed the trap in 1 attempts (the first try and 0 heals)"
}

@test "--db records every trap run of the loop" {
	command -v sqlite3 >/dev/null || skip "sqlite3 CLI not installed: cannot read the store back"
	run -0 sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$BATS_TEST_TMPDIR/t.db"
	run -0 sqlite3 "$BATS_TEST_TMPDIR/t.db" "select verdict from trap_runs order by id"
	assert_output $'HARD_BLOCK\nPASS'
}

@test "a paper the corpus has no answer for is a replay miss naming the key, exit 2" {
	echo "A different paper." > "$BATS_TEST_TMPDIR/other.txt"
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --paper "$BATS_TEST_TMPDIR/other.txt"
	[[ $stderr == *"no replay for key "*"--record --store"* ]]
}

@test "usage errors exit 2" {
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal"
	assert_equal "$stderr" "auto-heal: --oracle is required"
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --max-attempts -1
	assert_equal "$stderr" "auto-heal: --max-attempts: want the heal attempts after the first try, 0 or more, not -1"
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --bogus
	assert_equal "$stderr" "auto-heal: unknown option: --bogus"
	run -0 sh "$ROOT/pipelines/auto-heal" --help
	assert_line --index 0 --partial "auto-heal - ImpactArbiter's loop"
}

# The recorded scenarios of fixtures/replay/auto-heal-*.jsonl (see
# tests/fixtures/auto-heal/record.sh): each model name picks one script.

# the transcript's [AUTO-HEAL attempt k/N] lines, joined by '|'
heal_lines() {
	printf '%s\n' "${lines[@]}" | grep '^\[AUTO-HEAL attempt ' | tr '\n' '|'
}

@test "radix-1d: a power-of-two offset mask, its own test passes, the trap fires, one heal, FINAL PASS" {
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-1d
	assert_equal "$stderr" ""
	assert_line --index 0 "[QUICK DISTILL] radix-1d from radix.txt"
	assert_line "[GENERATED CODE & TESTS] attempt 0 (gpt-4o-mini, replay)"
	assert_line "[LLM UNIT TEST PASS] the model's own test_route() returned 0 (not trusted)"
	assert_line "[AUTOGRAD TRAP FAIL — HARD_BLOCK] divergence=1.00e+00 > tol=1e-04"
	assert_line "Token (b_local_idx=0,prefix_length=1,block_size=3) | Expected: block=0 offset=1 | Got: block=0 offset=0"
	assert_equal "$(heal_lines)" "[AUTO-HEAL attempt 1/2]|"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
}

@test "paged: vLLM's unguarded block-table read writes past the table (unmapped_write), the heal adds the bounds check" {
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle paged
	assert_equal "$stderr" ""
	assert_line --index 0 "[QUICK DISTILL] paged from paged.txt"
	assert_line "[AUTOGRAD TRAP FAIL — HARD_BLOCK] divergence=1.00e+00 > tol=1e-04"
	assert_line "Token (pos=128,block_size=16) | Expected: unmapped (no write) | Got: block=0 offset=0 slot=0"
	assert_line --regexp '^Non-zero gradient at: .* \(unmapped_write\)$'
	assert_line --regexp '^[0-9]+ of [0-9]+ cases diverged: unmapped_write=[0-9]+$'
	assert_equal "$(heal_lines)" "[AUTO-HEAL attempt 1/2]|"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
}

@test "two heals: no ring wrap, then a power-of-two wrap, then right: FINAL PASS at attempt 2; --max-attempts 3 is three heals, ImpactArbiter's 1/3" {
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --model scripted-two-heals --max-attempts 3
	assert_equal "$stderr" ""
	assert_line "[GENERATED CODE & TESTS] attempt 2 (scripted-two-heals, replay)"
	n=$(printf '%s\n' "${lines[@]}" | grep -c '^\[AUTOGRAD TRAP FAIL — HARD_BLOCK\]')
	assert_equal "$n" 2
	# the second trap catches the & (N_h - 1) mask on a ring of 3 blocks
	assert_line "Token (b=0,h=6,prefix_h=1,N_h=3,bs=1) | Expected: head=6 block=1 offset=0 | Got: head=6 block=0 offset=0"
	assert_equal "$(heal_lines)" "[AUTO-HEAL attempt 1/3]|[AUTO-HEAL attempt 2/3]|"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 2$'
}

@test "never heals: every answer is wrong, FINAL FAIL, exit 1" {
	run -1 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --model scripted-never-heals
	assert_equal "$stderr" ""
	n=$(printf '%s\n' "${lines[@]}" | grep -c '^\[AUTOGRAD TRAP FAIL — HARD_BLOCK\]')
	assert_equal "$n" 3
	assert_equal "$(heal_lines)" "[AUTO-HEAL attempt 1/2]|[AUTO-HEAL attempt 2/2]|"
	refute_line --partial "[FINAL PASS]"
	assert_line --index $((${#lines[@]} - 1)) "[FINAL FAIL] no candidate passed the trap in 3 attempts (the first try and 2 heals)"
}

@test "no compile: the build error is fed back, the heal compiles, FINAL PASS at attempt 1" {
	# the compiler's messages are part of the heal prompt's replay key:
	# the recording ran cc in the C locale
	export LC_ALL=C
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --model scripted-no-compile
	assert_equal "$stderr" ""
	assert_line "[LLM UNIT TEST FAIL] the model's own test_route() failed or did not build"
	assert_line --regexp '^\[BUILD FAIL\] grad-trap: .*cand\.c: build failed \(cc exit 1\)$'
	refute_line --partial "[AUTOGRAD TRAP FAIL"
	assert_equal "$(heal_lines)" "[AUTO-HEAL attempt 1/2]|"
	assert_line "[GENERATED CODE & TESTS] attempt 1 (scripted-no-compile, replay)"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
	# the order: build failure, then the heal
	order=$(printf '%s\n' "${lines[@]}" | grep -e '^\[BUILD FAIL' -e '^\[AUTO-HEAL' -e '^\[FINAL' | cut -c1-12 | tr '\n' '|')
	assert_equal "$order" "[BUILD FAIL]|[AUTO-HEAL a|[FINAL PASS]|"
}

@test "a PDF paper goes through pdftotext and the demo still replays offline" {
	command -v pdftotext >/dev/null || skip "pdftotext (poppler-utils) not installed: PDF papers not tested"
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --paper "$ROOT/fixtures/papers/radix.pdf"
	assert_line --index 0 "[QUICK DISTILL] radix-2d from radix.pdf"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
}

@test "--live against a model on 127.0.0.1: the same loop, answers marked live; --full-agent-trace shows reasoning" {
	command -v python3 >/dev/null || skip "python3 not installed: no local model server"
	python3 "$ROOT/tests/fixtures/auto-heal/scripted_model.py" demo > "$BATS_TEST_TMPDIR/port" &
	pid=$!
	for _ in $(seq 50); do [ -s "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.1; done
	port=$(head -n 1 "$BATS_TEST_TMPDIR/port")
	export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
	OPENAI_API_KEY=sk-bats-live-key run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d \
		--live --base-url "http://127.0.0.1:$port" --full-agent-trace
	kill "$pid"
	wait "$pid" || [ $? -eq 143 ]
	assert_line "[GENERATED CODE & TESTS] attempt 0 (gpt-4o-mini, live)"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
	# the model's reasoning travels on stderr; the key goes nowhere
	[[ $stderr == *"block numbers past the ring must wrap"* ]]
	[[ $output != *sk-bats-live-key* && $stderr != *sk-bats-live-key* ]]
}

@test "a transcript it cannot write is trouble: exit 2, never FINAL FAIL's 1" {
	[ -w /dev/full ] || skip "no /dev/full: cannot make stdout fail"
	run -2 --separate-stderr sh -c 'sh "$1" --oracle radix-2d --max-attempts 0 > /dev/full' sh "$ROOT/pipelines/auto-heal"
	assert_equal "${stderr_lines[${#stderr_lines[@]} - 1]}" "auto-heal: stopped by a failed command or write (exit 1)"
}

@test "trouble is not healed: a store grad-trap refuses stops the loop, exit 2, no BUILD FAIL, no heal request" {
	command -v sqlite3 >/dev/null || skip "sqlite3 CLI not installed: cannot make the store"
	# a database, but from a newer kvarbiter: grad-trap refuses it
	sqlite3 "$BATS_TEST_TMPDIR/new.db" "create table schema_version (version integer); insert into schema_version values (99)"
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$BATS_TEST_TMPDIR/new.db"
	assert_equal "$stderr" "auto-heal: grad-trap failed (exit 2) on attempt 0: grad-trap: trace store $BATS_TEST_TMPDIR/new.db has schema version 99, newer than this build's 7"
	refute_line --partial "[BUILD FAIL]"
	refute_line --partial "[AUTO-HEAL attempt"
	assert_line "[GENERATED CODE & TESTS] attempt 0 (gpt-4o-mini, replay)"
}

@test "trouble before any model call: a store that is not a database, an unknown oracle, a missing paper; exit 2" {
	echo hello > "$BATS_TEST_TMPDIR/hello.db"
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$BATS_TEST_TMPDIR/hello.db"
	assert_equal "$stderr" "auto-heal: --db $BATS_TEST_TMPDIR/hello.db: not a trace store: file is not a database"
	assert_output ""
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle nope
	assert_equal "$stderr" "auto-heal: --oracle nope: unknown oracle (route-oracle --list: radix-1d radix-2d paged paged-ring flashinfer rolling)"
	assert_output ""
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --paper "$BATS_TEST_TMPDIR/none.txt"
	assert_equal "$stderr" "auto-heal: --paper $BATS_TEST_TMPDIR/none.txt: no such file (or not readable)"
	assert_output ""
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --paper "$BATS_TEST_TMPDIR/none.pdf"
	assert_equal "$stderr" "auto-heal: --paper $BATS_TEST_TMPDIR/none.pdf: no such file (or not readable)"
	echo "not a pdf" > "$BATS_TEST_TMPDIR/bad.pdf"
	if command -v pdftotext > /dev/null; then
		run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --paper "$BATS_TEST_TMPDIR/bad.pdf"
		[[ $stderr == "auto-heal: --paper $BATS_TEST_TMPDIR/bad.pdf: pdftotext cannot read it: "* ]]
		assert_output ""
	fi
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --paper
	assert_equal "$stderr" "auto-heal: --paper needs a value"
}

@test "ImpactArbiter's names: --mock is the default replay, --oracle radix is radix-1d and vllm is paged" {
	sh "$ROOT/pipelines/auto-heal" --oracle radix-1d > "$BATS_TEST_TMPDIR/radix-1d"
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --mock --oracle radix
	assert_equal "$stderr" ""
	assert_line --index 0 "[QUICK DISTILL] radix-1d from radix.txt"
	assert_equal "$output" "$(cat "$BATS_TEST_TMPDIR/radix-1d")"
	sh "$ROOT/pipelines/auto-heal" --oracle paged > "$BATS_TEST_TMPDIR/paged"
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle vllm
	assert_line --index 0 "[QUICK DISTILL] paged from paged.txt"
	assert_equal "$output" "$(cat "$BATS_TEST_TMPDIR/paged")"
}
