#!/usr/bin/env bats
# pipelines/nightly: the sweep under cron: a lock, a log, silence when all
# is well, the regression list and exit 1 when not.

load test_helper

setup() {
	export KVA_BIN="$ROOT/${KVA_BUILD:-build}/bin"
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
	for t in parallel sqlite3 jq flock python3; do
		command -v "$t" > /dev/null || skip "$t not installed (make deps): the nightly sweep here needs it"
	done
	NIGHTLY="$ROOT/pipelines/nightly"
	C="$ROOT/fixtures/candidates"
	DB=$BATS_TEST_TMPDIR/t.db
	cd "$BATS_TEST_TMPDIR"
	cp "$C/radix-2d/correct-divmod.c" cand.c
	# a candidate that takes a second to answer each shard (a co-process
	# that sleeps before it starts), so that a run lasts a few seconds
	printf '%s\n' '{"type":"sweep","name":"nightly"}' \
		'{"type":"oracle","name":"radix-2d","random":200}' \
		'{"type":"candidate","path":"cand.c","oracle":"radix-2d"}' \
		"{\"type\":\"candidate\",\"cmd\":\"sleep 1; exec python3 $C/cmd/radix2d.py\",\"oracle\":\"radix-2d\"}" > n.jsonl
}

# q SQL: one query on the store
q() {
	sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

@test "nightly: silent when nothing regressed; the sweep's table and the run in the log" {
	run -0 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB"
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	run -0 cat "$DB.log"
	assert_line --index 0 --regexp "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z nightly\[[0-9]+\]: start: sweep n.jsonl --db $DB --since last \$"
	assert_line "run 1 nightly: 4 of 4 shards"
	assert_line "regressions: no earlier finished run of nightly to compare with"
	assert_line --regexp '^cand\.c +radix-2d +route +2 .* PASS +- *$'
	assert_line --index $((${#lines[@]} - 1)) --regexp 'nightly\[[0-9]+\]: end: sweep exit 0$'
	run -0 q "select count(*), min(status) from sweep_runs"
	assert_output "1|done"
	[ -f "$DB.lock" ]
}

@test "nightly twice at once: the second does not start, logs why and exits 0; one run in the store" {
	sh "$NIGHTLY" n.jsonl --db "$DB" > first.out 2>&1 &
	first=$!
	# the first holds the lock once it logs its start (polling with flock
	# itself could take the lock from under it)
	for _ in $(seq 3000); do
		grep -q ': start: ' "$DB.log" 2> /dev/null && break
		sleep 0.02
	done
	# (a loaded machine may take a while to start it; a minute is plenty)
	run -0 grep -c ': start: ' "$DB.log"
	run -1 flock -n "$DB.lock" true
	run -0 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB"
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	grep -q "nightly\[[0-9]*\]: not started: another run holds $DB.lock\$" "$DB.log"
	wait "$first"
	run -0 cat first.out
	assert_output ""
	run -0 q "select count(*) from sweep_runs"
	assert_output 1
	run -0 grep -c ': start: ' "$DB.log"
	assert_output 1
}

@test "nightly --wait: the second waits for the first, then runs; the runs never overlap" {
	sh "$NIGHTLY" n.jsonl --db "$DB" > first.out 2>&1 &
	first=$!
	# the first holds the lock once it logs its start (polling with flock
	# itself could take the lock from under it)
	for _ in $(seq 3000); do
		grep -q ': start: ' "$DB.log" 2> /dev/null && break
		sleep 0.02
	done
	# (a loaded machine may take a while to start it; a minute is plenty)
	run -0 grep -c ': start: ' "$DB.log"
	run -1 flock -n "$DB.lock" true
	run -0 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB" --wait 120
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	wait "$first"
	# the log: start, end, then start, end; the second compared with the first
	run -0 grep -o -E ': (start|end): ' "$DB.log"
	assert_output $': start: \n: end: \n: start: \n: end: '
	run -0 grep -F 'regressions since run 1: 0' "$DB.log"
	run -0 q "select count(*), min(status), max(status) from sweep_runs"
	assert_output "2|done|done"
	run -0 q "select (select ts from sweep_runs where id = 2) >= (select finished from sweep_runs where id = 1)"
	assert_output 1
}

@test "nightly: a regression is printed and exits 1; trouble exits 2 and points at the log" {
	run -0 sh "$NIGHTLY" n.jsonl --db "$DB" --log n.log --lock n.lock
	cp "$C/radix-2d/no-ring-wrap.c" cand.c
	run -1 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB" --log n.log --lock n.lock
	assert_equal "$stderr" ""
	assert_output "regressions since run 1: 1
REGRESSION cand.c (radix-2d, route): PASS -> HARD_BLOCK, new classes: out_of_bounds"
	grep -q '^REGRESSION cand.c ' n.log
	grep -q 'nightly\[[0-9]*\]: end: sweep exit 1$' n.log
	[ ! -e "$DB.log" ]
	echo '{"type":"oracle","name":"radix-9d"}' > bad.jsonl
	run -2 --separate-stderr sh "$NIGHTLY" bad.jsonl --db "$DB" --log n.log
	assert_equal "$output" ""
	assert_equal "${stderr_lines[0]}" "nightly: the sweep failed (exit 2); the last lines of n.log:"
	[[ $stderr == *'sweep: bad.jsonl:1: field "name": unknown oracle "radix-9d" (route-oracle --list)'* ]]
}

@test "nightly: usage errors exit 2; --help" {
	run -0 sh "$NIGHTLY" --help
	assert_line --index 0 --partial "nightly - pipelines/sweep for cron"
	assert_line --partial "0 2 * * * cd /srv/kvarbiter && sh pipelines/nightly"
	run -2 --separate-stderr sh "$NIGHTLY" n.jsonl
	assert_equal "$stderr" "nightly: --db STORE is required"
	run -2 --separate-stderr sh "$NIGHTLY" --db "$DB"
	assert_equal "$stderr" "nightly: usage: nightly SWEEPFILE --db STORE [--log FILE] [--lock FILE] [--wait SECONDS] [sweep options]"
	run -2 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB" --wait soon
	assert_equal "$stderr" "nightly: --wait: want whole seconds, not soon"
	run -2 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB" --since 3
	assert_equal "$stderr" "nightly: unknown option: --since"
	run -2 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB" --log /nonexistent/dir/log
	assert_equal "$stderr" "nightly: --log /nonexistent/dir/log: cannot write to it"
	run -2 --separate-stderr sh "$NIGHTLY" n.jsonl --db "$DB" --lock /nonexistent/dir/lock
	assert_equal "$stderr" "nightly: --lock /nonexistent/dir/lock: cannot open it"
	run -2 --separate-stderr sh "$NIGHTLY" n.jsonl --db
	assert_equal "$stderr" "nightly: --db needs a value"
}
