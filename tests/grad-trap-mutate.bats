#!/usr/bin/env bats
# grad-trap --mutate: the original must pass, every mutant is built and
# trapped on the same case set, the records add up, a known survivor
# survives, --minimize keeps every kill, and bad input is exit 2.  No test
# counts the mutants: the generator (lib/mutate.c) may add operators.

load test_helper

F="$BATS_TEST_DIRNAME/fixtures/grad-trap-mutate"
# the corpus' correct radix-2d route, and its ring-wrap bug
OK="$BATS_TEST_DIRNAME/../fixtures/candidates/radix-2d/correct-divmod.c"
BAD="$BATS_TEST_DIRNAME/../fixtures/candidates/radix-2d/no-ring-wrap.c"

setup() {
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
}

# The summary adds up against the mutant records before it (stdin).
adds_up='(map(select(.type == "mutant"))) as $m | .[-1] as $s
  | $s.type == "mutation" and ($m | length) == $s.total
  and ([$m[].id] == [range(1; $s.total + 1)])
  and $s.killed + $s.survived + $s.not_compiled == $s.total
  and $s.compiled == $s.killed + $s.survived
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
                and (.status == "not_compiled" or .status == "survived") == (.class == null)
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

@test "a value no output depends on: its mutants survive, are listed, exit 1" {
	run --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --boundaries --seed 2
	assert_equal "$status" 1
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	# line 10 is the DEAD one; the route itself is correct
	run -0 jq -e -s '.[-1] as $s | map(select(.type == "mutant" and .line == 10
	    and .status != "not_compiled")) as $d
	  | ($d | length) >= 1 and all($d[]; .status == "survived" and .killed_by == null
	    and .class == null and (.id as $i | $s.survivors | index($i) != null))
	  and $s.survived >= ($d | length) and $s.score < 1' "$BATS_TEST_TMPDIR/out"
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
	assert_equal "$status" 1
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/full"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/full"
	n=$(wc -l < "$min")
	jq -e -s --argjson n "$n" --arg min "$min" '.[-1] | .minimized == {"file": $min, "cases": $n}
	  and $n >= 1 and $n < .cases and $n <= .killed' "$BATS_TEST_TMPDIR/full"
	run -0 jq -e -s 'all(.[]; .type == "case" and .oracle == "radix-2d" and (.expect | type) == "object")' "$min"
	# the original passes them; every mutant has the same status on them
	run -0 grad-trap --candidate "$F/dead.c" "$min"
	run --separate-stderr grad-trap --mutate --candidate "$F/dead.c" "$min"
	assert_equal "$status" 1
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/small"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/small"
	want=$(jq -c -s '[.[] | select(.type == "mutant") | [.id, .status]]' "$BATS_TEST_TMPDIR/full")
	got=$(jq -c -s '[.[] | select(.type == "mutant") | [.id, .status]]' "$BATS_TEST_TMPDIR/small")
	assert_equal "$got" "$want"
	run -0 jq -e -s --argjson n "$n" '.[-1].cases == $n' "$BATS_TEST_TMPDIR/small"
}

@test "--format text: a table by operator and each survivor as a unified diff" {
	run -1 --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --boundaries --seed 4
	json=$(tail -n 1 <<< "$output")
	run -1 --separate-stderr grad-trap --mutate --candidate "$F/dead.c" --oracle radix-2d --boundaries --seed 4 --format text
	assert_line --index 0 --regexp "^MUTATION $F/dead.c: [0-9]+ mutants, [0-9]+ compiled, [0-9]+ killed, [0-9]+ survived \(oracle radix-2d, [0-9]+ cases\)$"
	assert_line --index 1 --regexp '^op +total +compiled +killed +survived +score$'
	row=$(jq -r '"all \(.total) \(.compiled) \(.killed) \(.survived)"' <<< "$json")
	assert_line --regexp "^$(sed 's/ / +/g' <<< "$row") +0\.[0-9]{3}$"
	grep -qxF -- "--- $F/dead.c" <<< "$output"
	assert_line --regexp "^\+\+\+ $F/dead.c \(mutant [0-9]+, [a-z0-9-]+\)$"
	assert_line --regexp '^@@ -[0-9]+,[0-9]+ \+[0-9]+,[0-9]+ @@$'
	grep -qxF -- "-	volatile int64_t unused = b_local_idx * 3 - 1; /* DEAD */" <<< "$output"
	# one diff per survivor
	s=$(jq .survived <<< "$json")
	assert_equal "$(grep -c '^+++ ' <<< "$output")" "$s"
}

@test "a write kernel: the same code path, its records add up" {
	run --separate-stderr grad-trap --mutate --candidate "$ROOT/fixtures/candidates/write/correct-index.c" \
		--kind write --oracle paged --random 200 --seed 3 --soak 0
	[ "$status" -le 1 ]
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	jq -e -s "$adds_up" "$BATS_TEST_TMPDIR/out"
	run -0 jq -e -s '.[-1].kind == "write" and .[-1].oracle == "paged" and .[-1].cases == 200' "$BATS_TEST_TMPDIR/out"
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
	assert_equal "$stderr" "grad-trap: --jobs and --minimize go with --mutate"
	run -2 --separate-stderr grad-trap --mutate --candidate "$OK" < /dev/null
	assert_equal "$stderr" "grad-trap: no case records: nothing was checked"
	run -2 --separate-stderr grad-trap --mutate --candidate "$OK" --oracle radix-2d --boundaries -j 0
	[[ $stderr == "grad-trap: --jobs: value is too small: 0" ]]
}
