#!/usr/bin/env bats
# grad-trap --mutate: the original must pass, every mutant is built and
# trapped on the same case set, the records add up, a dead value's
# mutants are equivalent_likely on the grid while a narrowing stays a
# survivor, --unit-test measures the model's own test, --minimize keeps
# every kill, and bad input is exit 2.  No test
# counts the mutants: the generator (lib/mutate.c) may add operators.

load test_helper

F="$BATS_TEST_DIRNAME/fixtures/grad-trap-mutate"
# the corpus' correct radix-2d route, and its ring-wrap bug
OK="$BATS_TEST_DIRNAME/../fixtures/candidates/radix-2d/correct-divmod.c"
BAD="$BATS_TEST_DIRNAME/../fixtures/candidates/radix-2d/no-ring-wrap.c"
# a case set with no position past 2^31 (2560 cases, a < 47): int64_t a
# narrowed to int32_t survives it, a known survivor the grid kills
SMALL='b_local_idx=0:8,head_idx=0:2,prefix_length_h=0:40,total_blocks_h=64,block_size=1:5'

setup() {
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
}

# The summary adds up against the mutant records before it (stdin).
adds_up='(map(select(.type == "mutant"))) as $m | .[-1] as $s
  | $s.type == "mutation" and ($m | length) == $s.total
  and ([$m[].id] == [range(1; $s.total + 1)])
  and $s.killed + $s.survived + $s.equivalent_likely + $s.not_compiled == $s.total
  and $s.compiled == $s.killed + $s.survived + $s.equivalent_likely
  and ($m | map(select(.status == "equivalent_likely")) | length) == $s.equivalent_likely
  and $s.equivalent_likely_ids == [$m[] | select(.status == "equivalent_likely") | .id]
  and ($s.score_non_equivalent == (if $s.compiled > $s.equivalent_likely
       then $s.killed / ($s.compiled - $s.equivalent_likely) else null end))
  and ([$s.by_op[].equivalent_likely] | add) == $s.equivalent_likely
  and ($m | map(select(.status == "killed")) | length) == $s.killed
  and ($m | map(select(.status == "survived")) | length) == $s.survived
  and ($m | map(select(.status == "not_compiled")) | length) == $s.not_compiled
  and $s.survivors == [$m[] | select(.status == "survived") | .id]
  and ($s.score == (if $s.compiled > 0 then $s.killed / $s.compiled else null end))
  and ([$s.by_op[].total] | add) == $s.total
  and ([$s.by_op[].killed] | add) == $s.killed
  and ([$s.by_op[].survived] | add) == $s.survived
  and ([$s.by_op[].compiled] | add) == $s.compiled
  and all($m[]; . as $x | (.status == "killed") == (.killed_by != null)
                and (.status != "killed") == (.class == null)
                and (.grid_kill == null or .status == "survived")
                and (.patch | startswith("\($x.line):\($x.col): ")))'

@test "the boundary set kills the / -> * mutant of the block index; the summary adds up" {
	run -0 grad-trap --candidate "$OK" --oracle radix-2d --boundaries --seed 1
	cases=$(jq .cases <<< "$output")
	run --separate-stderr grad-trap --mutate --candidate "$OK" --oracle radix-2d --boundaries --seed 1
	assert_equal "$stderr" ""
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	# exit 0 exactly when every compiled mutant is killed
	survived=$(jq -s '.[-1].survived' "$BATS_TEST_TMPDIR/out")
	if [ "$survived" = 0 ]; then assert_equal "$status" 0; else assert_equal "$status" 1; fi
	jq -e -s --argjson cases "$cases" '.[-1] | .cases == $cases and .oracle == "radix-2d"
	  and .kind == "route" and .candidate == "'"$OK"'" and (.sha256 | length) == 64
	  and .seed == 1 and .jobs >= 1' "$BATS_TEST_TMPDIR/out"
	# out[1] = (a / block_size) % total_blocks_h is line 11
	run -0 jq -e -s 'map(select(.type == "mutant" and .op == "arith" and .line == 11
	    and (.patch | test("^11:[0-9]+: / -> \\*$")))) | length == 1
	  and .[0].status == "killed" and (.[0].killed_by.case | type) == "number"
	  and .[0].killed_by.file == null and (.[0].class | type) == "string"' "$BATS_TEST_TMPDIR/out"
}

@test "records on stdin are the case set: killed_by names the file and line, as divergence records do" {
	route-oracle --boundaries > "$BATS_TEST_TMPDIR/b"
	run --separate-stderr grad-trap --mutate --candidate "$OK" < "$BATS_TEST_TMPDIR/b"
	[ "$status" -le 1 ]
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	n=$(wc -l < "$BATS_TEST_TMPDIR/b")
	jq -e -s --argjson n "$n" '.[-1].cases == $n and
	  all(.[] | select(.type == "mutant" and .status == "killed");
	      .killed_by.file == "<stdin>" and .killed_by.line == .killed_by.case + 1)' "$BATS_TEST_TMPDIR/out"
	# the / -> * mutant's first killing case, run on the original's trap: a
	# case of the file (route-oracle writes one record a line)
	line=$(jq -s 'map(select(.type == "mutant" and (.patch | test("^11:[0-9]+: / -> \\*$"))))[0].killed_by.line' "$BATS_TEST_TMPDIR/out")
	run -0 jq -e -s --argjson l "$line" '.[$l - 1].type == "case"' "$BATS_TEST_TMPDIR/b"
}

@test "a value no output depends on: its mutants are equivalent_likely on the grid; the boundary set kills every other one" {
	run --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --boundaries --seed 2
	# exit 0: equivalent_likely mutants are not survivors
	assert_equal "$status" 0
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	# line 10 is the DEAD one: never diverges on the grid
	run -0 jq -e -s '.[-1] as $s | map(select(.type == "mutant" and .line == 10
	    and .status != "not_compiled")) as $d
	  | ($d | length) >= 1 and all($d[]; .status == "equivalent_likely"
	    and .killed_by == null and .grid_kill == null and .class == null
	    and (.id as $i | $s.equivalent_likely_ids | index($i) != null))
	  and $s.grid.original == "passes" and $s.grid.cases > 0 and $s.grid.far > 0
	  and $s.survived == 0 and $s.score_non_equivalent == 1' "$BATS_TEST_TMPDIR/out"
}

@test "a case set with no position past 2^31: the narrowed local survives it, and the grid case that kills it is past 2^31" {
	run --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --sweep "$SMALL" --seed 2
	assert_equal "$status" 1
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	# line 9's int64_t a narrowed to int32_t: the only survivor, and the
	# grid case that kills it takes prefix_length_h + b_local_idx past 2^31
	run -0 jq -e -s '.[-1] as $s | map(select(.type == "mutant" and .status == "survived"))
	  | length == 1 and .[0].op == "narrow" and .[0].line == 9
	  and $s.survivors == [.[0].id] and $s.score_non_equivalent < 1
	  and (.[0].grid_kill | .type == "case" and .oracle == "radix-2d"
	       and .prefix_length_h + .b_local_idx > 2147483647)' "$BATS_TEST_TMPDIR/out"
}

@test "the corpus' correct-divmod.c: the boundary set kills every mutant, the narrowed local by a position past 2^31" {
	route-oracle --oracle radix-2d --boundaries > "$BATS_TEST_TMPDIR/b"
	run -0 --separate-stderr grad-trap --mutate --candidate "$OK" --seed 1 "$BATS_TEST_TMPDIR/b"
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	run -0 jq -e -s '.[-1] | .survived == 0 and .equivalent_likely == 0
	  and .score == 1 and .score_non_equivalent == 1' "$BATS_TEST_TMPDIR/out"
	# the case that kills int64_t a narrowed to int32_t is one of
	# lib/gen.c's overflow cases: prefix_length_h + b_local_idx >= 2^31
	line=$(jq -s 'map(select(.type == "mutant" and .op == "narrow"))
	  | if length == 1 and .[0].status == "killed" then .[0].killed_by.line else error("not one killed narrow") end' "$BATS_TEST_TMPDIR/out")
	run -0 jq -e -s --argjson l "$line" '.[$l - 1] | .type == "case"
	  and .prefix_length_h + .b_local_idx >= 2147483648' "$BATS_TEST_TMPDIR/b"
}

@test "--unit-test: the model's own test kills fewer mutants than the boundary set" {
	D="$F/demo-healed.c"
	run -0 --separate-stderr grad-trap --mutate --unit-test --candidate "$D" --oracle radix-2d --boundaries --seed 1
	assert_equal "$stderr" ""
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	run -0 jq -e -s '(map(select(.type == "mutant"))) as $m | .[-1] as $s
	  | $s.unit_test_original == "passes"
	  and all($m[]; (.killed_by_unit_test | type) == (if .status == "not_compiled" then "null" else "boolean" end))
	  and $s.unit_test.killed == ($m | map(select(.killed_by_unit_test == true)) | length)
	  and $s.unit_test.compiled == $s.compiled
	  and $s.unit_test.score == $s.unit_test.killed / $s.unit_test.compiled
	  and $s.unit_test.score < $s.score' "$BATS_TEST_TMPDIR/out"
	# the narrowed local passes the model's test too
	run -0 jq -e -s 'map(select(.type == "mutant" and .op == "narrow"))[0].killed_by_unit_test == false' "$BATS_TEST_TMPDIR/out"
	line=$(jq -r -s '.[-1] | "unit test kills \(.unit_test.score * 100 | round)% (\(.unit_test.killed) of \(.unit_test.compiled)); the case set kills \(.score * 100 | round)%"' "$BATS_TEST_TMPDIR/out")
	run -0 --separate-stderr grad-trap --mutate --unit-test --candidate "$D" --oracle radix-2d --boundaries --seed 1 --format text
	assert_line "$line"
}

@test "--unit-test: a test that fails (crashes) on the original is said, and every mutant counts as killed by it" {
	sed 's/^int test_route(void)$/int test_route(void) { *(volatile int *)0 = 0; return 0; }\nint unused_test(void)/' \
		"$F/demo-healed.c" > "$BATS_TEST_TMPDIR/crash.c"
	grep -q 'volatile int' "$BATS_TEST_TMPDIR/crash.c"
	run -0 --separate-stderr grad-trap --mutate --unit-test --candidate "$BATS_TEST_TMPDIR/crash.c" --oracle radix-2d --boundaries --seed 1
	run -0 jq -e -s '.[-1] | .unit_test_original == "fails" and .unit_test.killed == .unit_test.compiled' <<< "$output"
	run -2 --separate-stderr grad-trap --mutate --unit-test --candidate "$OK" --oracle radix-2d --boundaries
	assert_output ""
	assert_equal "$stderr" "grad-trap: --unit-test: $OK defines no int test_route(void)"
	run -2 --separate-stderr grad-trap --unit-test --candidate "$OK" --oracle radix-2d --boundaries
	assert_equal "$stderr" "grad-trap: --jobs, --minimize and --unit-test go with --mutate"
}

@test "--unit-test: a test that spins on a mutant is killed by --timeout, and the run goes on" {
	# spin-test.c's test_route loops while the offset of (1, 4, 4) is
	# not 1; the run must end (timeout(1) is the test's own guard)
	run -0 --separate-stderr timeout 600 grad-trap --mutate --unit-test --candidate "$F/spin-test.c" \
		--oracle radix-1d --boundaries --seed 1 --timeout 1
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	# % -> + on the offset: 5 + 4, the loop never ends; killed by the
	# test all the same
	run -0 jq -e -s '.[-1].unit_test_original == "passes"
	  and (map(select(.type == "mutant" and (.patch | test("^[0-9]+:[0-9]+: % -> \\+$"))))
	       | length == 1 and .[0].killed_by_unit_test == true)' "$BATS_TEST_TMPDIR/out"
}

@test "-j 1 and -j 3 give the same records" {
	# exit 1: int64_t a narrowed to int32_t survives (no random case
	# takes prefix_length_h + b_local_idx past 2^31)
	run -1 --separate-stderr grad-trap --mutate --candidate "$OK" --oracle radix-2d --random 500 --seed 5 -j 1
	a=$(jq -c 'del(.seconds, .jobs)' <<< "$output")
	rm -rf "$KVA_CACHE_DIR"
	run -1 --separate-stderr grad-trap --mutate --candidate "$OK" --oracle radix-2d --random 500 --seed 5 --jobs 3
	b=$(jq -c 'del(.seconds, .jobs)' <<< "$output")
	assert_equal "$a" "$b"
	run -0 jq -e -s '.[-1].jobs == 3' <<< "$output"
}

@test "--minimize writes fewer cases that still kill every mutant the whole set kills" {
	min="$BATS_TEST_TMPDIR/min.jsonl"
	run --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --boundaries --seed 3 --minimize "$min"
	assert_equal "$status" 0
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/full"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/full"
	n=$(wc -l < "$min")
	jq -e -s --argjson n "$n" --arg min "$min" '.[-1] | .minimized == {"file": $min, "cases": $n}
	  and $n >= 1 and $n < .cases and $n <= .killed' "$BATS_TEST_TMPDIR/full"
	run -0 jq -e -s 'all(.[]; .type == "case" and .oracle == "radix-2d" and (.expect | type) == "object")' "$min"
	# the original passes them; every mutant has the same status on them
	run -0 grad-trap --candidate "$F/dead.c" "$min"
	run --separate-stderr grad-trap --mutate --candidate "$F/dead.c" "$min"
	assert_equal "$status" 0
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/small"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/small"
	want=$(jq -c -s '[.[] | select(.type == "mutant") | [.id, .status]]' "$BATS_TEST_TMPDIR/full")
	got=$(jq -c -s '[.[] | select(.type == "mutant") | [.id, .status]]' "$BATS_TEST_TMPDIR/small")
	assert_equal "$got" "$want"
	run -0 jq -e -s --argjson n "$n" '.[-1].cases == $n' "$BATS_TEST_TMPDIR/small"
}

@test "--format text: a table by operator and each survivor as a unified diff" {
	run -1 --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --sweep "$SMALL" --seed 4
	json=$(tail -n 1 <<< "$output")
	run -1 --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --sweep "$SMALL" --seed 4 --format text
	assert_line --index 0 --regexp "^MUTATION $F/dead.c: [0-9]+ mutants, [0-9]+ compiled, [0-9]+ killed, [1-9][0-9]* survived, [0-9]+ equivalent_likely \(oracle radix-2d, [0-9]+ cases\)$"
	assert_line --index 1 --regexp '^op +total +compiled +killed +survived +equivalent +score$'
	row=$(jq -r '"all \(.total) \(.compiled) \(.killed) \(.survived) \(.equivalent_likely)"' <<< "$json")
	assert_line --regexp "^$(sed 's/ / +/g' <<< "$row") +0\.[0-9]{3}$"
	grep -qxF -- "--- $F/dead.c" <<< "$output"
	assert_line --regexp "^\+\+\+ $F/dead.c \(mutant [0-9]+, [a-z0-9-]+\)$"
	assert_line --regexp '^@@ -[0-9]+,[0-9]+ \+[0-9]+,[0-9]+ @@$'
	assert_line "score of the non-equivalent: $(jq -r '.score_non_equivalent * 1000 | round / 1000' <<< "$json")"
	grep -qxF -- "-	int64_t a = prefix_length_h + b_local_idx;" <<< "$output"
	# one diff per survivor (not per equivalent_likely one), each with
	# the grid case that kills it
	s=$(jq .survived <<< "$json")
	assert_equal "$(grep -c '^+++ ' <<< "$output")" "$s"
	assert_equal "$(grep -c '^grid kill: {"type":"case",' <<< "$output")" "$s"
}

@test "a write kernel: the same code path, its records add up; code only another layout runs is equivalent_likely, a narrowing needs overflow calls" {
	run --separate-stderr grad-trap --mutate --candidate "$ROOT/fixtures/candidates/write/correct-index.c" \
		--kind write --oracle paged --random 200 --seed 3 --soak 0
	[ "$status" -le 1 ]
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	# the kernel grid: small, no far rows; --random makes no overflow call
	run -0 jq -e -s '.[-1] | .kind == "write" and .oracle == "paged" and .cases == 200
	  and .grid.cases > 0 and .grid.cases <= 4096 and .grid.far == 0
	  and .grid.original == "passes" and .grid.overflow_calls == 0' "$BATS_TEST_TMPDIR/out"
	# line 13 is the HND branch of cache_index, which an NHD trap never
	# runs: none of its mutants is killed, the grid calls them equivalent
	run -0 jq -e -s 'map(select(.type == "mutant" and .line == 13 and .status != "not_compiled"))
	  | length > 0 and all(.[]; .status == "equivalent_likely")' "$BATS_TEST_TMPDIR/out"
	# without overflow calls no narrowing is called equivalent
	run -0 jq -e -s 'map(select(.type == "mutant" and .op == "narrow"))
	  | length > 0 and all(.[]; .status != "equivalent_likely")' "$BATS_TEST_TMPDIR/out"
	# under --layout hnd the same branch is live, and the case set kills
	# its mutants
	run --separate-stderr grad-trap --mutate --candidate "$ROOT/fixtures/candidates/write/correct-index.c" \
		--kind write --layout hnd --oracle paged --random 200 --seed 3 --soak 0
	[ "$status" -le 1 ]
	run -0 jq -e -s 'map(select(.type == "mutant" and .line == 13 and .op == "arith"))
	  | length > 0 and all(.[]; .status == "killed")' <<< "$output"
}

@test "--db stores the run and its mutants in the trace store; a file that is not one is exit 2 before any mutant is built" {
	command -v sqlite3 > /dev/null || skip "the sqlite3 CLI is not installed"
	DB="$BATS_TEST_TMPDIR/t.db"
	KVA_NOW=2026-06-22T13:00:00Z run -1 --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --sweep "$SMALL" --seed 2 --db "$DB"
	assert_equal "$stderr" ""
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	want=$(jq -r -s '.[-1] | [.cases, .total, .compiled, .not_compiled, .killed, .survived, .equivalent_likely, .score, .sha256, .oracle, .kind] | join("|")' "$BATS_TEST_TMPDIR/out")
	run -0 sqlite3 "$DB" "SELECT version FROM schema_version; SELECT ts, candidate, unit_test_killed IS NULL, unit_test_compiled IS NULL FROM mutation_runs; SELECT cases, total, compiled, not_compiled, killed, survived, equivalent_likely, score, sha256, oracle, kind FROM mutation_runs"
	assert_output "7
2026-06-22T13:00:00Z|$F/dead.c|1|1
$want"
	# one row per mutant record, each as its record says
	run -0 sqlite3 "$DB" "SELECT count(*) = (SELECT total FROM mutation_runs) FROM mutants WHERE run_id = 1"
	assert_output 1
	run -0 sqlite3 -json "$DB" "SELECT id, op, line, col, patch, status, class, json(killed_by) AS killed_by FROM mutants ORDER BY id"
	jq -e -s --argjson rows "$output" '[.[] | select(.type == "mutant")
	  | {id, op, line, col, patch, status, class, killed_by}] == ($rows
	  | map(.killed_by |= (if . == null then null else fromjson end)))' "$BATS_TEST_TMPDIR/out"
	# the narrowed local, dead.c's survivor
	run -0 sqlite3 "$DB" "SELECT op, line, status, killed_by IS NULL, killed_by_unit_test IS NULL FROM mutants WHERE status = 'survived'"
	assert_output "narrow|9|survived|1|1"
	# --unit-test fills its columns, a second run appends
	run -0 grad-trap --mutate --unit-test --candidate "$F/demo-healed.c" --oracle radix-2d --boundaries --seed 1 --db "$DB"
	want=$(jq -r -s '.[-1].unit_test | "\(.killed)|\(.compiled)"' <<< "$output")
	run -0 sqlite3 "$DB" "SELECT unit_test_killed || '|' || unit_test_compiled FROM mutation_runs WHERE id = 2; SELECT count(*) FROM mutants WHERE run_id = 2 AND killed_by_unit_test IS NOT NULL"
	assert_equal "${lines[0]}" "$want"
	assert_equal "${lines[1]}" "${want#*|}"
	# not a trace store: refused before any mutant is built (no cache)
	echo "not sqlite" > "$BATS_TEST_TMPDIR/bad.db"
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache2"
	run -2 --separate-stderr grad-trap --mutate --candidate "$OK" --oracle radix-2d --boundaries --db "$BATS_TEST_TMPDIR/bad.db"
	assert_output ""
	[[ $stderr == "grad-trap: trace store $BATS_TEST_TMPDIR/bad.db: "* ]]
	[ ! -e "$BATS_TEST_TMPDIR/cache2" ] || [ -z "$(ls -A "$BATS_TEST_TMPDIR/cache2")" ]
	assert_equal "$(cat "$BATS_TEST_TMPDIR/bad.db")" "not sqlite"
}

@test "every correct route of the corpus: the boundary set kills every mutant that is not equivalent_likely" {
	# a claim about the case sets, not about memory: make check makes it;
	# under make asan the same --mutate paths run in the tests above
	if grep -q __asan_init "$(command -v grad-trap)"; then
		skip "an AddressSanitizer build: the corpus run (about 10 minutes under ASan) is make check's"
	fi
	# tests/mutate-corpus.sh --routes: 16 routes, about 2 minutes on 2
	# cores; the kernels (once per layout) are make mutate-corpus's.  A
	# generous --timeout: on a loaded machine a trap that runs out of time
	# would count a kill, or on the grid a survivor
	run --separate-stderr bash "$ROOT/tests/mutate-corpus.sh" --routes --timeout 10
	# shown when the test fails
	printf '%s\n' "$output" "$stderr"
	assert_equal "$status" 0
	assert_equal "$stderr" ""
	assert_line --regexp '^radix-2d/correct-divmod\.c +route +radix-2d +[0-9]+ +[0-9]+ +0 +0 +1$'
	assert_line --regexp '^route flashinfer +3 +[0-9]+ +[0-9]+ +[0-9]+ +0 +1$'
	assert_line "survived: 0"
	# one row a correct C route of the manifests
	n=$(cat "$ROOT"/fixtures/candidates/manifest.jsonl "$ROOT"/fixtures/candidates/*/manifest.jsonl |
		jq -s 'map(select(.verdict == "PASS" and .kind == "route" and (.file | endswith(".c")))) | length')
	assert_equal "$(grep -c ' route ' <<< "$output")" "$n"
}

@test "bad input is exit 2 with a clear message and no records" {
	run -2 --separate-stderr grad-trap --mutate --candidate "$F/notc.c" --oracle radix-2d --boundaries
	assert_output ""
	[[ $stderr == "grad-trap: $F/notc.c: "* ]]
	run -2 --separate-stderr grad-trap --mutate --candidate "$F/broken.c" --oracle radix-2d --boundaries
	assert_output ""
	[[ $stderr == *"grad-trap: $F/broken.c: build failed (cc exit 1)" ]]
	# the numbers grad-trap itself gives: diverged of cases, and the first
	# divergence record (records come in case order)
	run -1 grad-trap --candidate "$BAD" --oracle radix-2d --boundaries --seed 1 --max-map 1
	want="grad-trap: mutation needs a correct candidate: the original fails $(jq -s '.[1].diverged' <<< "$output") of $(jq -s '.[1].cases' <<< "$output") cases (first: case $(jq -s '.[0].case' <<< "$output"), $(jq -r -s '.[0].class' <<< "$output"))"
	run -2 --separate-stderr grad-trap --mutate --candidate "$BAD" --oracle radix-2d --boundaries --seed 1
	assert_output ""
	assert_equal "$stderr" "$want"
	cp "$OK" "$BATS_TEST_TMPDIR/route.so"
	run -2 --separate-stderr grad-trap --mutate --candidate "$BATS_TEST_TMPDIR/route.so" --oracle radix-2d --boundaries
	assert_equal "$stderr" "grad-trap: --mutate needs the candidate's C source (a .c file), not $BATS_TEST_TMPDIR/route.so"
	run -2 --separate-stderr grad-trap --mutate --candidate "$ROOT/fixtures/candidates/cuda/write_nhd.cu" --kind write --oracle paged --boundaries
	[[ $stderr == "grad-trap: --mutate needs the candidate's C source"* ]]
	run -2 --separate-stderr grad-trap --mutate --candidate-cmd "python3 $ROOT/fixtures/candidates/cmd/radix2d.py" --oracle radix-2d --boundaries
	assert_equal "$stderr" "grad-trap: --mutate needs the candidate's C source (a .c file), not --candidate-cmd"
	run -2 --separate-stderr grad-trap --candidate "$OK" --oracle radix-2d --boundaries --minimize "$BATS_TEST_TMPDIR/m"
	assert_equal "$stderr" "grad-trap: --jobs, --minimize and --unit-test go with --mutate"
	run -2 --separate-stderr grad-trap --mutate --candidate "$OK" < /dev/null
	assert_equal "$stderr" "grad-trap: no case records: nothing was checked"
	run -2 --separate-stderr grad-trap --mutate --candidate "$OK" --oracle radix-2d --boundaries -j 0
	[[ $stderr == "grad-trap: --jobs: value is too small: 0" ]]
}
