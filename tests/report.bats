#!/usr/bin/env bats
# pipelines/report, and what pipelines/auto-heal --db records for it:
# heal_runs and heal_attempts (trace store schema version 2).
# Every test name says "db" so that `bats -f db` picks them all.

load test_helper

setup() {
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
	# no key and no network: the demo must not need either
	unset OPENAI_API_KEY ANTHROPIC_API_KEY KVA_API_KEY KVA_NOW
	export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
	command -v sqlite3 >/dev/null || skip "sqlite3 CLI not installed: cannot read the store back"
	DB=$BATS_TEST_TMPDIR/t.db
}

# q SQL: one query on the store, '|'-separated
q() {
	sqlite3 "$DB" "$1"
}

# the two runs of the demo: one heal to PASS, then one attempt to FAIL;
# their transcripts in $BATS_TEST_TMPDIR/heal.txt and fail.txt
two_runs() {
	run -0 sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$DB"
	printf '%s\n' "${lines[@]}" > "$BATS_TEST_TMPDIR/heal.txt"
	run -1 sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$DB" --max-attempts 0
	printf '%s\n' "${lines[@]}" > "$BATS_TEST_TMPDIR/fail.txt"
}

# printed_code FILE K: the code the transcript FILE shows for attempt K
printed_code() {
	awk -v k="$2" '$0 ~ "^\\[GENERATED CODE & TESTS\\] attempt " k " " { f = 1; next } /^\[/ { f = 0 } f' "$1" |
		sed 's/^    //'
}

@test "auto-heal --db records the runs and every attempt" {
	two_runs
	run -0 q "select id, oracle, model, source, paper, max_attempts, final_verdict, attempts from heal_runs order by id"
	assert_output $'1|radix-2d|gpt-4o-mini|replay|radix.txt|2|PASS|2\n2|radix-2d|gpt-4o-mini|replay|radix.txt|0|FAIL|1'
	run -0 q "select count(*) from heal_runs where ts glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'"
	assert_output 2
	run -0 q "select run_id, attempt, verdict, unit_test, model, source, divergence, diverged > 0, typeof(code) from heal_attempts order by id"
	assert_output $'1|0|HARD_BLOCK|pass|gpt-4o-mini|replay|1.0|1|text\n1|1|PASS|pass|gpt-4o-mini|replay|0.0|0|text\n2|0|HARD_BLOCK|pass|gpt-4o-mini|replay|1.0|1|text'
	# first_case: the trap's smallest failing case, only where it fired
	run -0 q "select group_concat(coalesce(json_type(first_case), 'null'), ',') from (select first_case from heal_attempts order by id)"
	assert_output "object,null,object"
	# each attempt points at the trap run grad-trap made for it
	run -0 q "select a.id, t.id, t.verdict = a.verdict, t.oracle from heal_attempts a join trap_runs t on t.id = a.trap_run_id order by a.id"
	assert_output $'1|1|1|radix-2d\n2|2|1|radix-2d\n3|3|1|radix-2d'
	run -0 q "select count(*) from trap_runs"
	assert_output 3
}

@test "auto-heal --db stores the code the transcript printed" {
	two_runs
	run -0 q "select code from heal_attempts where run_id = 1 and attempt = 0"
	assert_output --partial "out[1] = a / block_size;"
	assert_equal "$(q "select code from heal_attempts where run_id = 1 and attempt = 0")" "$(printed_code "$BATS_TEST_TMPDIR/heal.txt" 0)"
	assert_equal "$(q "select code from heal_attempts where run_id = 1 and attempt = 1")" "$(printed_code "$BATS_TEST_TMPDIR/heal.txt" 1)"
	assert_equal "$(q "select code from heal_attempts where run_id = 2 and attempt = 0")" "$(printed_code "$BATS_TEST_TMPDIR/fail.txt" 0)"
	# the heal changed the code
	run -0 q "select count(distinct code) from heal_attempts"
	assert_output 2
}

@test "auto-heal --db prints the same transcript as without it" {
	sh "$ROOT/pipelines/auto-heal" --oracle radix-2d > "$BATS_TEST_TMPDIR/a"
	sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$DB" > "$BATS_TEST_TMPDIR/b"
	cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
}

@test "auto-heal --db with KVA_NOW stamps the run with it" {
	KVA_NOW=2024-05-01T12:00:00Z run -0 sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$DB"
	run -0 q "select ts from heal_runs union all select distinct ts from trap_runs"
	assert_output $'2024-05-01T12:00:00Z\n2024-05-01T12:00:00Z'
}

@test "report db: results.csv and the summary table" {
	two_runs
	mkdir "$BATS_TEST_TMPDIR/out"
	run -0 --separate-stderr sh "$ROOT/pipelines/report" "$DB" --out "$BATS_TEST_TMPDIR/out"
	assert_equal "$stderr" ""
	assert_line --index 0 --regexp '^oracle +total_runs +trap_fired +healed +unresolved *$'
	assert_line --regexp '^radix-2d +2 +2 +1 +1 *$'
	assert_equal "${#lines[@]}" 3
	csv=$BATS_TEST_TMPDIR/out/results.csv
	run -0 cut -d, -f2- "$csv"
	assert_output $'oracle_type,trap_status,heal_success,heal_attempts\nradix-2d,HARD_BLOCK,1,1\nradix-2d,HARD_BLOCK,0,0'
	run -0 cut -d, -f1 "$csv"
	assert_line --index 0 timestamp
	assert_line --index 1 --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
	assert_line --index 2 --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
	# default --out: the current directory
	cd "$BATS_TEST_TMPDIR"
	run -0 sh "$ROOT/pipelines/report" "$DB"
	cmp "$BATS_TEST_TMPDIR/results.csv" "$csv"
}

@test "report db: auto-heal --mutate --db puts the case set's and the model's unit test's kills side by side" {
	run -0 sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --mutate --db "$DB"
	mline=${lines[${#lines[@]} - 1]}
	[[ $mline == "[MUTATION] "* ]]
	# the run grad-trap --mutate --db stored is the one the line reports
	run -0 q "select compiled || ' ' || killed || ' ' || unit_test_killed || ' ' || survived from mutation_runs"
	read -r c k u s <<< "$output"
	assert_equal "$mline" "[MUTATION] $c mutants of the final candidate: the boundary set kills $k ($(( (200 * k / c + 1) / 2 ))%), the model's own unit test $u ($(( (200 * u / c + 1) / 2 ))%); $s survived"
	[ "$u" -lt "$k" ]
	run -0 --separate-stderr sh "$ROOT/pipelines/report" "$DB" --out "$BATS_TEST_TMPDIR"
	assert_equal "$stderr" ""
	# the heal table, a blank line (bats leaves it out of lines), the
	# mutation table
	assert_line --index 2 --regexp '^radix-2d +1 +1 +1 +0 *$'
	[[ $output == *$'0         \n\nts '* ]]
	assert_line --index 3 --regexp '^ts +oracle +compiled +case_set_killed +case_set_pct +unit_test_killed +unit_test_pct +survived +equivalent_likely *$'
	pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
	assert_line --index 5 --regexp "^[0-9T:-]+Z +radix-2d +$c +$k +$(pct "$k" "$c") +$u +$(pct "$u" "$c") +$s +0 *\$"
	assert_equal "${#lines[@]}" 6
}

@test "report db: a run that passed at once is neither fired nor healed" {
	export KVA_NOW=2024-05-01T12:00:00Z
	two_runs
	# a run whose only attempt passed, added by hand
	q "insert into heal_runs (ts, oracle, model, source, max_attempts, final_verdict, attempts) values ('2024-05-02T00:00:00Z', 'paged', 'm', 'replay', 3, 'PASS', 1);
	   insert into heal_attempts (run_id, attempt, code, verdict, model, source) values (3, 0, 'x', 'PASS', 'm', 'replay')"
	run -0 sh "$ROOT/pipelines/report" "$DB" --out "$BATS_TEST_TMPDIR"
	assert_line --regexp '^paged +1 +0 +0 +0 *$'
	assert_line --regexp '^radix-2d +2 +2 +1 +1 *$'
	assert_line --index 2 --regexp "^paged "
	run -0 cat "$BATS_TEST_TMPDIR/results.csv"
	assert_output "timestamp,oracle_type,trap_status,heal_success,heal_attempts
2024-05-01T12:00:00Z,radix-2d,HARD_BLOCK,1,1
2024-05-01T12:00:00Z,radix-2d,HARD_BLOCK,0,0
2024-05-02T00:00:00Z,paged,PASS,0,0"
}

@test "report db errors: missing store, no heal_runs, not sqlite, usage; exit 2" {
	run -2 --separate-stderr sh "$ROOT/pipelines/report" "$BATS_TEST_TMPDIR/none.db"
	assert_equal "$stderr" "report: $BATS_TEST_TMPDIR/none.db: no such trace store"
	[ ! -e "$BATS_TEST_TMPDIR/none.db" ]
	# a version 1 store, as grad-trap --db made it before the heal tables
	sqlite3 "$DB" "create table schema_version (version integer not null); insert into schema_version values (1); create table trap_runs (id integer primary key)"
	run -2 --separate-stderr sh "$ROOT/pipelines/report" "$DB" --out "$BATS_TEST_TMPDIR"
	assert_equal "$stderr" "report: $DB has no heal_runs: not a trace store that auto-heal wrote to (schema version 2)"
	[ ! -e "$BATS_TEST_TMPDIR/results.csv" ]
	echo hello > "$BATS_TEST_TMPDIR/hello.db"
	run -2 --separate-stderr sh "$ROOT/pipelines/report" "$BATS_TEST_TMPDIR/hello.db"
	[[ $stderr == "report: $BATS_TEST_TMPDIR/hello.db: "*"file is not a database"* ]]
	run -2 --separate-stderr sh "$ROOT/pipelines/report"
	assert_equal "$stderr" "report: usage: report DB [--out DIR]"
	run -2 --separate-stderr sh "$ROOT/pipelines/report" "$DB" --out "$BATS_TEST_TMPDIR/no/such"
	assert_equal "$stderr" "report: --out $BATS_TEST_TMPDIR/no/such: not a directory"
	run -2 --separate-stderr sh "$ROOT/pipelines/report" "$DB" --bogus
	assert_equal "$stderr" "report: unknown option: --bogus"
}

@test "report db: a summary it cannot write is trouble, exit 2, not a report" {
	[ -w /dev/full ] || skip "no /dev/full: cannot make stdout fail"
	run -1 sh "$ROOT/pipelines/auto-heal" --oracle radix-2d --db "$DB" --max-attempts 0
	cd "$BATS_TEST_TMPDIR"
	run -2 --separate-stderr sh -c 'sh "$1" "$2" > /dev/full' sh "$ROOT/pipelines/report" "$DB"
	assert_equal "$stderr" "report: cannot write the summary to standard output"
	# results.csv was written before the table
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/results.csv")" 2
}
