#!/usr/bin/env bats
# pipelines/sweep and pipelines/sweep.sbatch: shards through GNU parallel
# (local cores, two ssh hosts in network namespaces), one writer into the
# trace store, resume after a kill, --since regressions, --export/--import.

load test_helper

setup() {
	export KVA_BIN="$ROOT/${KVA_BUILD:-build}/bin"
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
	unset KVA_NOW
	for t in parallel sqlite3 jq; do
		command -v "$t" > /dev/null || skip "$t not installed (make deps): the sweep needs it"
	done
	SWEEP="$ROOT/pipelines/sweep"
	C="$ROOT/fixtures/candidates"
	DB=$BATS_TEST_TMPDIR/t.db
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/hosts/netns" ]; then
		sh "$ROOT/tests/fixtures/sweep/hosts.sh" down "$BATS_TEST_TMPDIR/hosts"
	fi
}

# q SQL: one query on the store, '|'-separated
q() {
	sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

# shard_rows DB: every shard of the store's first run as
# candidate|shard|seed|cases|diverged|verdict|classes, sorted
shard_rows() {
	sqlite3 -cmd '.timeout 5000' "$1" "select s.candidate, s.shard, s.seed, t.cases, t.diverged, t.verdict, t.classes
		from sweep_shards s join trap_runs t on t.id = s.trap_run_id where s.run_id = 1 order by 1, 2, 3"
}

# a sweep file of CAND (a path) on a radix-2d grid cut into shards of
# SHARD_CASES cases, two seeds: into $1
grid_sweep() {
	printf '%s\n' "{\"type\":\"sweep\",\"name\":\"grid\",\"shard_cases\":$3}" \
		'{"type":"oracle","name":"radix-2d","grid":["b_local_idx=0:64,head_idx=0:4,prefix_length_h=0:512,total_blocks_h=1:9,block_size=1:17"],"seeds":[3]}' \
		"{\"type\":\"candidate\",\"path\":\"$2\",\"oracle\":\"radix-2d\"}" > "$1"
}

@test "a sweep: boundaries, grid and random shards merged into the store; the summary table" {
	run -0 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" -j 2
	assert_equal "$stderr" ""
	assert_line --index 0 "run 1 small: 10 of 10 shards"
	assert_line --index 1 --regexp '^[0-9]+ cases, [0-9]+ diverged, hosts: [^ ]+$'
	assert_line --index 2 --regexp '^candidate +oracle +kind +shards +cases +diverged +verdict +classes *$'
	assert_line --regexp '/correct-divmod\.c +radix-2d +route +5 +[0-9]+ +0 +PASS +- *$'
	assert_line --regexp '/no-ring-wrap\.c +radix-2d +route +5 +[0-9]+ +[1-9][0-9]* +HARD_BLOCK +out_of_bounds *$'
	# a row per (candidate, shard), each pointing at its own verdict
	run -0 q "select count(*), count(distinct candidate || shard || seed), count(distinct trap_run_id) from sweep_shards"
	assert_output "10|10|10"
	run -0 q "select name, shards, status, finished is not null from sweep_runs"
	assert_output "small|10|done|1"
	run -0 q "select shard, seed, count(*) from sweep_shards group by shard, seed order by shard, seed"
	assert_output "boundaries|1|2
grid:b_local_idx=0:8,head_idx=0:2,prefix_length_h=0:64,total_blocks_h=1:5,block_size=1:9|1|2
grid:b_local_idx=0:8,head_idx=0:2,prefix_length_h=0:64,total_blocks_h=1:5,block_size=1:9|2|2
random:500|1|2
random:500|2|2"
	# the boundaries shards were recorded by grad-trap --db itself, the
	# others merged from the shards' JSONL by the sweep
	run -0 q "select t.tool, count(*) from sweep_shards s join trap_runs t on t.id = s.trap_run_id group by t.tool"
	assert_output "grad-trap|2
sweep|8"
	run -0 q "select count(*) from trap_runs"
	assert_output 10
	# a merged row holds what grad-trap says on its own for that shard
	grad-trap --candidate "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d --seed 2 --max-map 0 \
		--sweep b_local_idx=0:8,head_idx=0:2,prefix_length_h=0:64,total_blocks_h=1:5,block_size=1:9 > "$BATS_TEST_TMPDIR/direct" || [ $? = 1 ]
	want=$(jq -r '[.cases, .diverged, .verdict, (.classes | tojson), (.first | tojson), .candidate.sha256] | join("|")' "$BATS_TEST_TMPDIR/direct")
	run -0 q "select t.cases, t.diverged, t.verdict, t.classes, t.first_case, t.candidate_sha256 from sweep_shards s join trap_runs t on t.id = s.trap_run_id
		where s.candidate like '%/no-ring-wrap.c' and s.shard like 'grid:%' and s.seed = 2"
	assert_output "$want"
	# the summary view adds the shards up
	run -0 q "select sum(t.cases) = (select cases from sweep_summary where candidate like '%/no-ring-wrap.c') from sweep_shards s join trap_runs t on t.id = s.trap_run_id where s.candidate like '%/no-ring-wrap.c'"
	assert_output 1
}

@test "a grid larger than shard_cases is cut into shards that add up to the whole grid" {
	grid_sweep "$BATS_TEST_TMPDIR/g.jsonl" "$C/radix-2d/ring-pow2-mask.c" 300000
	run -0 sh "$SWEEP" "$BATS_TEST_TMPDIR/g.jsonl" --db "$DB"
	# 64*4*512*8*16 = 16777216 points, cut along prefix_length_h (the
	# widest): 32768 points a value, 9 values (294912 points) a slice
	run -0 q "select count(*) from sweep_shards where shard like 'grid:%'"
	assert_output 57
	run -0 q "select count(*) from sweep_shards where shard in ('grid:b_local_idx=0:64,head_idx=0:4,prefix_length_h=0:9,total_blocks_h=1:9,block_size=1:17', 'grid:b_local_idx=0:64,head_idx=0:4,prefix_length_h=504:512,total_blocks_h=1:9,block_size=1:17')"
	assert_output 2
	run -0 q "select max(t.cases) from sweep_shards s join trap_runs t on t.id = s.trap_run_id where s.shard like 'grid:%'"
	assert_output 294912
	# the same cases and the same divergences as one run over the whole grid
	grad-trap --candidate "$C/radix-2d/ring-pow2-mask.c" --oracle radix-2d --seed 3 --max-map 0 \
		--sweep b_local_idx=0:64,head_idx=0:4,prefix_length_h=0:512,total_blocks_h=1:9,block_size=1:17 > "$BATS_TEST_TMPDIR/whole" || [ $? = 1 ]
	run -0 q "select sum(t.cases), sum(t.diverged) from sweep_shards s join trap_runs t on t.id = s.trap_run_id where s.shard like 'grid:%'"
	assert_output "$(jq -r '"\(.cases)|\(.diverged)"' "$BATS_TEST_TMPDIR/whole")"
}

@test "a killed sweep resumes: the killed shard is rerun, no row duplicated or lost" {
	# 9 grid shards of 61 prefix values (1998848 cases) and the boundaries
	grid_sweep "$BATS_TEST_TMPDIR/g.jsonl" "$C/radix-2d/correct-divmod.c" 2000000
	# its own session, so that one signal reaches the sweep, parallel,
	# the shard and grad-trap; the session's id is the sweep's pid
	setsid sh -c 'echo $$ > "$1/pid"; shift; exec sh "$@"' sh "$BATS_TEST_TMPDIR" \
		"$SWEEP" "$BATS_TEST_TMPDIR/g.jsonl" --db "$DB" -j 1 > "$BATS_TEST_TMPDIR/out1" 2> "$BATS_TEST_TMPDIR/err1" &
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/pid" ] && break; sleep 0.05; done
	pid=$(cat "$BATS_TEST_TMPDIR/pid")
	# kill it while a grid shard runs, two grid shards in
	for _ in $(seq 600); do
		n=$(q "select count(*) from sweep_shards where shard like 'grid:%'" 2> /dev/null) || n=0
		# (GNU parallel puts each job in a process group of its own, in
		# the sweep's session)
		if [ "${n:-0}" -ge 2 ] && pgrep -s "$pid" -x grad-trap > /dev/null; then
			break
		fi
		sleep 0.05
	done
	[ "${n:-0}" -ge 2 ] || { echo "the sweep did not get two shards in"; cat "$BATS_TEST_TMPDIR/err1"; kill -TERM -- "-$pid"; return 1; }
	kill -TERM -- "-$pid"
	# the whole session is gone before the rerun
	for _ in $(seq 100); do pgrep -s "$pid" > /dev/null || break; sleep 0.05; done
	run -1 pgrep -s "$pid"
	run -0 q "select count(*), status from sweep_shards join sweep_runs r on r.id = run_id"
	[[ $output =~ ^([0-9]+)\|running$ ]] || { echo "after the kill: $output"; return 1; }
	before=${BASH_REMATCH[1]}
	[ "$before" -ge 3 ] && [ "$before" -lt 10 ] || { echo "$before rows in after the kill: want 3 to 9 of 10"; return 1; }
	# the shard killed mid-run left no row
	[ "$before" = "$(q "select count(*) from trap_runs")" ]
	q "select id, shard, trap_run_id from sweep_shards order by id" > "$BATS_TEST_TMPDIR/rows.before"
	# the same command again: the same run, only the missing shards
	run -0 --separate-stderr sh "$SWEEP" "$BATS_TEST_TMPDIR/g.jsonl" --db "$DB" -j 1
	assert_equal "$stderr" "sweep: resuming run 1 of grid: $before of 10 shards are in the store"
	assert_line --index 0 "run 1 grid: 10 of 10 shards"
	run -0 q "select count(*), count(distinct shard || '/' || seed), min(run_id), max(run_id) from sweep_shards"
	assert_output "10|10|1|1"
	run -0 q "select status, (select count(*) from sweep_runs) from sweep_runs"
	assert_output "done|1"
	# the rows merged before the kill are the same rows, untouched
	q "select id, shard, trap_run_id from sweep_shards where id <= $before order by id" > "$BATS_TEST_TMPDIR/rows.after"
	diff -u "$BATS_TEST_TMPDIR/rows.before" "$BATS_TEST_TMPDIR/rows.after"
	# one trap run per shard: nothing merged twice
	run -0 q "select count(*), count(distinct id) from trap_runs where id in (select trap_run_id from sweep_shards)"
	assert_output "10|10"
	run -0 q "select count(*) from trap_runs where tool = 'sweep'"
	assert_output 9
	# and the rows are those of a sweep never killed
	sh "$SWEEP" "$BATS_TEST_TMPDIR/g.jsonl" --db "$BATS_TEST_TMPDIR/ref.db" -j 1 > /dev/null
	diff -u <(shard_rows "$BATS_TEST_TMPDIR/ref.db") <(shard_rows "$DB")
}

@test "two hosts: network namespaces with their own sshd, results back as JSONL, one writer" {
	command -v ip > /dev/null || skip "ip (iproute2) not installed: cannot make network namespaces"
	run sh "$ROOT/tests/fixtures/sweep/hosts.sh" up "$BATS_TEST_TMPDIR/hosts" 2
	if [ "$status" = 3 ]; then
		skip "cannot make two ssh hosts on this machine: $output"
	fi
	[ "$status" = 0 ] || { echo "hosts.sh up failed (exit $status): $output"; return 1; }
	H=$BATS_TEST_TMPDIR/hosts
	run -0 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --sshloginfile "$H/sshlogins"
	assert_line --index 0 "run 1 small: 10 of 10 shards"
	# the 8 grid and random shards ran over ssh, on both addresses; the
	# boundaries shards here
	a1=$(sed -n 1p "$H/addrs") a2=$(sed -n 2p "$H/addrs")
	run -0 q "select count(*) from sweep_shards where shard <> 'boundaries' and host in ('$a1', '$a2')"
	assert_output 8
	run -0 q "select count(distinct host) from sweep_shards where shard <> 'boundaries'"
	assert_output 2
	run -0 q "select count(*) from sweep_shards where shard = 'boundaries' and host = '$(uname -n)'"
	assert_output 2
	# the candidates were compiled on the hosts, in their own cache
	compgen -G "$H/remote-cache/cand-*.so" > /dev/null
	# the same rows as a sweep on this machine alone
	sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$BATS_TEST_TMPDIR/local.db" > /dev/null
	diff -u <(shard_rows "$BATS_TEST_TMPDIR/local.db") <(shard_rows "$DB")
}

@test "--since last: a candidate that passed and now fails, a new class; exit 1" {
	cp "$C/radix-2d/correct-divmod.c" cand.c
	printf '%s\n' '{"type":"oracle","name":"radix-2d","random":300}' \
		'{"type":"candidate","path":"cand.c","oracle":"radix-2d"}' \
		"{\"type\":\"candidate\",\"path\":\"$C/radix-2d/head-mod4.c\",\"oracle\":\"radix-2d\"}" > nightly.jsonl
	run -0 sh "$SWEEP" nightly.jsonl --db "$DB" --since last
	assert_line "regressions: no earlier finished run of nightly to compare with"
	run -0 sh "$SWEEP" nightly.jsonl --db "$DB" --since last
	assert_line "regressions since run 1: 0"
	cp "$C/radix-2d/no-ring-wrap.c" cand.c
	run -1 --separate-stderr sh "$SWEEP" nightly.jsonl --db "$DB" --since last
	assert_equal "$stderr" ""
	assert_line "regressions since run 2: 1"
	assert_line "REGRESSION cand.c (radix-2d, route): PASS -> HARD_BLOCK, new classes: out_of_bounds"
	refute_line --partial "head-mod4.c ("
	# still failing, but in a new way: a new class only
	cp "$C/radix-2d/swap-offsets-01.c" cand.c
	run -1 sh "$SWEEP" nightly.jsonl --db "$DB" --since last
	assert_line "REGRESSION cand.c (radix-2d, route): HARD_BLOCK, new classes: misroute,permutation"
	# against a named run
	run -1 sh "$SWEEP" nightly.jsonl --db "$DB" --since 1
	assert_line "regressions since run 1: 1"
	run -2 --separate-stderr sh "$SWEEP" nightly.jsonl --db "$DB" --since 99
	assert_equal "$stderr" "sweep: --since 99: no finished sweep run 99 in $DB"
	run -0 q "select id, status from sweep_runs order by id"
	assert_output $'1|done\n2|done\n3|done\n4|done\n5|done'
}

@test "--progress: shards done/total, cases/s, ETA on stderr; --quiet: nothing" {
	run -0 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --progress -j 1
	[[ ${stderr_lines[0]} == "sweep: 2 boundaries shards here first" ]]
	[[ ${stderr_lines[1]} == "sweep: 8 shards under GNU parallel" ]]
	[[ ${stderr_lines[2]} =~ ^sweep:\ 3/10\ shards,\ [0-9.e+]+\ cases/s,\ ETA\ 0:[0-9]{2}:[0-9]{2}$ ]]
	[[ ${stderr_lines[9]} =~ ^sweep:\ 10/10\ shards,\ [0-9.e+]+\ cases/s$ ]]
	assert_equal "${#stderr_lines[@]}" 10
	# (stderr not a terminal and no --progress: silence, as the first test shows)
	run -0 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --quiet
	assert_equal "$stderr" ""
}

@test "progress on a terminal: one line redrawn with \\r" {
	command -v script > /dev/null || skip "script (bsdutils) not installed: cannot give the sweep a terminal"
	script -qec "sh $SWEEP $ROOT/tests/fixtures/sweep/small.jsonl --db $BATS_TEST_TMPDIR/tty.db -j 1 > /dev/null" /dev/null < /dev/null > tty.out
	grep -q $'\rsweep: 3/10 shards, [0-9.e+]* cases/s, ETA 0:[0-9][0-9]:[0-9][0-9]' tty.out
	grep -q $'\rsweep: 10/10 shards, [0-9.e+]* cases/s' tty.out
	# the progress lines end in \r-redrawn lines, not one line each
	run -1 grep '^sweep: [0-9]*/10 shards' tty.out
}

@test "a candidate that does not compile: its shards are ERROR rows with grad-trap's message; exit 2" {
	printf 'int route_radix_2d(\n' > broken.c
	printf '%s\n' '{"type":"oracle","name":"radix-2d","random":100}' \
		'{"type":"candidate","path":"broken.c","oracle":"radix-2d"}' \
		"{\"type\":\"candidate\",\"path\":\"$C/radix-2d/correct-divmod.c\",\"oracle\":\"radix-2d\"}" > b.jsonl
	run -2 --separate-stderr sh "$SWEEP" b.jsonl --db "$DB"
	assert_line --index 0 "run 1 b: 4 of 4 shards"
	assert_line --regexp '^broken\.c +radix-2d +route +2 +0 +0 +ERROR +- *$'
	[[ $stderr == *"sweep: $BATS_TEST_TMPDIR/broken.c: grad-trap: $BATS_TEST_TMPDIR/broken.c: build failed (cc exit 1)"* ]]
	[[ $stderr == *"sweep: 2 shards ended in ERROR (sweep_shards.error in $DB says why)" ]]
	run -0 q "select s.shard, t.verdict, t.tool, s.error like '%build failed (cc exit 1)%' from sweep_shards s join trap_runs t on t.id = s.trap_run_id where s.candidate like '%broken.c' order by s.shard"
	assert_output $'boundaries|ERROR|sweep|1\nrandom:100|ERROR|sweep|1'
	# a store no candidate could make is not made
	printf '%s\n' '{"type":"candidate","path":"broken.c","oracle":"radix-2d"}' > only-broken.jsonl
	run -2 --separate-stderr sh "$SWEEP" only-broken.jsonl --db "$BATS_TEST_TMPDIR/none.db"
	[[ $stderr == *"sweep: no candidate could be checked, so $BATS_TEST_TMPDIR/none.db was not made (see the errors above)" ]]
	[ ! -e "$BATS_TEST_TMPDIR/none.db" ]
}

@test "candidates from a directory, a command and a manifest (a hang expected there: boundaries only)" {
	mkdir dir
	cp "$C/paged/correct-basic.c" "$C/paged/padding-as-pos0.c" dir/
	printf '%s\n' '{"type":"candidate","file":"correct-divmod.c","kind":"route","oracle":"radix-2d","verdict":"PASS","classes":[]}' \
		'{"type":"candidate","file":"no-ring-wrap.c","kind":"route","oracle":"radix-2d","verdict":"HARD_BLOCK","classes":["timeout"]}' > m.jsonl
	cp "$C/radix-2d/correct-divmod.c" "$C/radix-2d/no-ring-wrap.c" .
	printf '%s\n' '{"type":"oracle","name":"paged","random":200}' \
		'{"type":"oracle","name":"radix-2d","random":200}' \
		'{"type":"candidate","path":"dir","oracle":"paged"}' \
		"{\"type\":\"candidate\",\"cmd\":\"python3 $C/cmd/radix2d.py\",\"oracle\":\"radix-2d\"}" \
		'{"type":"manifest","path":"m.jsonl"}' > mixed.jsonl
	run -0 sh "$SWEEP" mixed.jsonl --db "$DB"
	assert_line --index 0 "run 1 mixed: 9 of 9 shards"
	assert_line --regexp '^dir/correct-basic\.c +paged +route +2 .* PASS +- *$'
	assert_line --regexp '^dir/padding-as-pos0\.c +paged +route +2 .* HARD_BLOCK +unmapped_write *$'
	assert_line --regexp "^python3 $C/cmd/radix2d\.py +radix-2d +route +2 .* PASS +- *\$"
	assert_line --regexp '^correct-divmod\.c +radix-2d +route +2 .* PASS +- *$'
	# the manifest expects a hang: boundaries only
	assert_line --regexp '^no-ring-wrap\.c +radix-2d +route +1 .* HARD_BLOCK +out_of_bounds *$'
}

@test "--export and sweep.sbatch tasks (SLURM_ARRAY_TASK_ID set by hand), then --import: the same rows" {
	run -0 sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --export ex
	assert_output "run 1 small: 8 shards to run in $BATS_TEST_TMPDIR/ex/shards.tsv
sbatch --array=1-8 $ROOT/pipelines/sweep.sbatch $BATS_TEST_TMPDIR/ex
then: sh $SWEEP $ROOT/tests/fixtures/sweep/small.jsonl --db $DB --import $BATS_TEST_TMPDIR/ex"
	run -0 q "select count(*), min(shard), (select status from sweep_runs) from sweep_shards"
	assert_output "2|boundaries|running"
	# Slurm is not here: run the array's tasks as Slurm would, one by one,
	# all but task 5 (a failed task)
	for i in 1 2 3 4 6 7 8; do
		SLURM_ARRAY_TASK_ID=$i sh "$ROOT/pipelines/sweep.sbatch" ex
	done
	run -2 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --import ex
	assert_line --index 0 "run 1 small: 9 of 10 shards"
	[[ $stderr == *"sweep: 1 of 10 shards did not come back (see the messages above); run the same command again to resume run 1" ]]
	# task 5 resubmitted, imported again: merging is idempotent
	SLURM_ARRAY_TASK_ID=5 sh "$ROOT/pipelines/sweep.sbatch" ex
	run -0 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --import ex
	assert_line --index 0 "run 1 small: 10 of 10 shards"
	run -0 q "select count(*), count(distinct shard || seed || candidate), (select status from sweep_runs) from sweep_shards"
	assert_output "10|10|done"
	sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$BATS_TEST_TMPDIR/direct.db" > /dev/null
	diff -u <(shard_rows "$BATS_TEST_TMPDIR/direct.db") <(shard_rows "$DB")
	# outside an array job, or past the list, the template refuses
	run -2 --separate-stderr sh "$ROOT/pipelines/sweep.sbatch" ex
	[[ $stderr == *"SLURM_ARRAY_TASK_ID: not a Slurm array task: submit with sbatch --array=1-N" ]]
	SLURM_ARRAY_TASK_ID=9 run -2 --separate-stderr sh "$ROOT/pipelines/sweep.sbatch" ex
	assert_equal "$stderr" "sweep.sbatch: task 9: ex/shards.tsv has no line 9"
}

@test "bad sweep files: the error names file, line and field; nothing is run, no store is made" {
	bad() {
		printf '# a comment, then a blank line\r\n\n%s\r\n' "$1" > bad.jsonl
		run -2 --separate-stderr sh "$SWEEP" bad.jsonl --db "$DB"
		assert_equal "$output" ""
		assert_equal "$stderr" "sweep: bad.jsonl:3: $2"
		[ ! -e "$DB" ]
	}
	bad '{"type":"candidate","path":"x.c"}' 'field "oracle": missing'
	bad '{"type":"candidate","path":"x.c","cmd":"y","oracle":"paged"}' 'field "path": want path or cmd, not both or neither'
	bad '{"type":"candidate","path":"nope.c","oracle":"paged"}' "field \"path\": no such file: $BATS_TEST_TMPDIR/nope.c"
	bad '{"type":"candidate","path":"x.txt","oracle":"paged"}' "field \"path\": no such file or directory: $BATS_TEST_TMPDIR/x.txt"
	bad '{"type":"candidate","path":"x.c","oracle":"radix-9d"}' 'field "oracle": unknown oracle "radix-9d" (route-oracle --list)'
	bad '{"type":"candidate","path":"x.c","oracle":"paged","kind":"write","layouts":["nhd","nhd"]}' 'field "layouts": want distinct nhd, hnd, vllm-x, for write and gather kernels only'
	bad '{"type":"candidate","cmd":"x","oracle":"paged","kind":"gather"}' 'field "cmd": a command candidate is a route candidate'
	bad '{"type":"oracle","name":"radix-2d","grid":["b_local_idx=3:1"]}' 'field "grid": want an array of NAME=LO:HI,... specs (LO < HI) or NAME=V'
	bad '{"type":"oracle","name":"radix-2d","grid":["b_local_idx=0:3"]}' "field \"grid\": b_local_idx=0:3: sweep: no range for 'head_idx'"
	bad '{"type":"oracle","name":"radix-2d","seeds":[1.5]}' 'field "seeds": want a non-empty array of integers >= 0'
	bad '{"type":"oracle","name":"radix-2d","random":0}' 'field "random": want an integer >= 1'
	bad '{"type":"sweep","timeout":0}' 'field "timeout": want seconds, more than 0 and at most 86400'
	bad '{"type":"sweep","name":"a b"}' 'field "name": want letters, digits, dot, dash, underscore'
	bad '{"type":"sweep","bogus":1}' 'field "bogus": unknown field'
	bad '{"type":"manifest"}' 'field "path": missing'
	bad '{"type":"x"}' 'field "type": unknown record type "x" (sweep, oracle, candidate, manifest)'
	bad '{"oracle":"paged"}' 'field "type": missing'
	bad '[1]' 'not a JSON object'
	bad '{"type":"sweep"} x' "not valid JSON: Invalid numeric literal at EOF at line 1, column 18 (while parsing '{\"type\":\"sweep\"} x')"
	bad '{"type":"sweep","name":"' "not valid JSON: Unfinished string at EOF at line 1, column 24 (while parsing '{\"type\":\"sweep\",\"name\":\"')"
	printf '%s\n' '{"type":"oracle","name":"paged"}' '{"type":"oracle","name":"paged"}' > two.jsonl
	run -2 --separate-stderr sh "$SWEEP" two.jsonl --db "$DB"
	assert_equal "$stderr" 'sweep: two.jsonl:2: field "name": a second oracle record for paged'
	: > empty.jsonl
	run -2 --separate-stderr sh "$SWEEP" empty.jsonl --db "$DB"
	assert_equal "$stderr" "sweep: empty.jsonl: no candidates: add a candidate or manifest record"
	echo '{"type":"candidate","file":"x.c","oracle":"paged"}' > man.jsonl
	echo '{"type":"manifest","path":"man.jsonl"}' > m.jsonl
	run -2 --separate-stderr sh "$SWEEP" m.jsonl --db "$DB"
	assert_equal "$stderr" "sweep: m.jsonl:1: field \"path\": no such file: $BATS_TEST_TMPDIR/x.c"
	[ ! -e "$DB" ]
}

@test "usage: options, --help, a store that is not one; exit 2" {
	run -0 sh "$SWEEP" --help
	assert_line --index 0 --partial "sweep - oracles x candidates x parameter grids and seeds through grad-trap"
	assert_line --partial "usage: sweep SWEEPFILE --db STORE"
	run -2 --separate-stderr sh "$SWEEP"
	assert_equal "$stderr" "sweep: usage: sweep SWEEPFILE --db STORE [options] (sweep -h for more)"
	run -2 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl"
	assert_equal "$stderr" "sweep: --db STORE is required: the trace store the shards are merged into"
	run -2 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --bogus
	assert_equal "${stderr_lines[0]}" "sweep: unknown option: --bogus"
	[[ ${stderr_lines[1]} == "usage: sweep SWEEPFILE --db STORE "* ]]
	run -2 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" -j 0
	assert_equal "$stderr" "sweep: -j: want a number of jobs from 1 to 9999, not 0"
	run -2 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --since yesterday
	assert_equal "$stderr" "sweep: --since: want last or a run id, not yesterday"
	run -2 --separate-stderr sh "$SWEEP" nope.jsonl --db "$DB"
	assert_equal "$stderr" "sweep: nope.jsonl: no such sweep file"
	run -2 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB" --import "$BATS_TEST_TMPDIR"
	assert_equal "$stderr" "sweep: --import $BATS_TEST_TMPDIR: not a directory sweep --export made (no $BATS_TEST_TMPDIR/export)"
	echo hello > "$DB"
	run -2 --separate-stderr sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" --db "$DB"
	assert_equal "$stderr" "sweep: --db $DB: not a trace store: file is not a database (26)"
	assert_equal "$(cat "$DB")" hello
}

@test "stdout that cannot be written: exit 2 naming the write, not the store; a reader that stops early is no trouble" {
	[ -w /dev/full ] || skip "no /dev/full: cannot make stdout fail"
	run -2 --separate-stderr sh -c 'sh "$1" "$2" --db "$3" -j 2 > /dev/full' sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" "$DB"
	assert_equal "$stderr" "sweep: cannot write to standard output (run 1 is complete in $DB)"
	run -0 q "select status from sweep_runs"
	assert_output done
	# the run's first line to a reader that then goes away: the run is
	# done and said so, exit 0, and nothing claims the store unreadable
	run -0 --separate-stderr bash -c 'sh "$1" "$2" --db "$3" -j 2 | head -n 1; exit "${PIPESTATUS[0]}"' sh "$SWEEP" "$ROOT/tests/fixtures/sweep/small.jsonl" "$BATS_TEST_TMPDIR/new.db"
	assert_equal "$stderr" ""
	assert_output "run 1 small: 10 of 10 shards"
}
