#!/usr/bin/env bats
# grad-trap-hostile: the hostile-candidate corpus of fixtures/candidates/
# hostile/ (its manifest.jsonl gives each candidate's expected verdict,
# classes and checks) run under grad-trap's confinement, and grad-trap
# killed by signals while a candidate's grandchild runs.
#
# Every candidate routes radix-2d correctly except on ImpactArbiter's
# token (b=5,h=0,prefix_h=60,N_h=4,bs=16), case 16 of
# fixtures/grad-trap-hostile/cases.jsonl, where it makes its attempt:
# write outside, read a secret, phone home, kill, fork, hang, flood...
# An attempt that fails softly returns the marker route (-7,-7,-7), an
# out_of_bounds; one the sandbox kills is a crash; a secret that was read
# comes back smuggled in the route instead of the marker.
#
# SAFETY: hostile candidates run only with --confine strict, and only
# after a correct candidate ran under it here (setup_file); where grad-trap
# cannot confine them, every test that would run one is skipped, saying
# why.  Each run is bounded (reaper.py --limit) and anything it leaves
# behind is listed and killed.
#
# On every run:   grad-trap ends within its bound (60 s unless the
#                 manifest says bounded:N); no process it started outlives
#                 it by more than 5 s (reaper.py, a child subreaper);
#                 stdout is only divergence records and one summary, last;
#                 exit 1 and verdict HARD_BLOCK; the summary's confinement
#                 object is strict with every layer and seccomp "loader"
#                 (.c) or "coprocess" (--candidate-cmd); every class the
#                 manifest names occurred and no other; the first
#                 divergence record is of such a class and pinned (the
#                 trigger's inputs, "phase":"load", or the manifest's
#                 "pin"); not_run is 0 and every case ran, unless the
#                 manifest checks not_run.
# Named checks:   marker, only_trigger, all_pinned, why:TEXT, key_absent,
#                 file_untouched, cwd_untouched, listener_silent,
#                 no_process:ARGS, not_run, bounded:N, stderr_empty (see
#                 check_candidate); stdout_records_only and no_leftovers
#                 name assertions made on every run.

# jq programs are single-quoted on purpose
# shellcheck disable=SC2016

load test_helper

HOSTILE="$ROOT/fixtures/candidates/hostile"
HF="$BATS_TEST_DIRNAME/fixtures/grad-trap-hostile"
# the candidates name these paths and this port themselves
OUTSIDE=/tmp/kvarbiter-hostile
PORT=47913
TRIGGER='{"b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":4,"block_size":16}'
MARKER='{"head":-7,"block":-7,"offset":-7}'
VICTIM_TEXT='kvarbiter victim: this line must survive every hostile candidate'
NCASES=31       # cases in cases.jsonl
NBOUNDARIES=4263 # route-oracle --oracle radix-2d --boundaries
# a summary's confinement object when every layer held (--confine strict)
CONFINED='.confinement | type == "object" and .mode == "strict" and .env == true
  and .user == true and .pid == true and .mount == true and .ipc == true
  and .net == true and .nproc == true and (.caps // true) == true
  and .seccomp == $sc'

setup_file() {
	# one fixed directory and port for every test: never two at once
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	export KVA_CACHE_DIR="$BATS_FILE_TMPDIR/cache"
	local st=0
	# the confinement probe: a correct candidate under --confine strict
	timeout -k 5 60 grad-trap --confine strict --max-map 0 --timeout 5 \
		--candidate "$ROOT/fixtures/candidates/radix-2d/correct-divmod.c" "$HF/cases.jsonl" \
		> "$BATS_FILE_TMPDIR/probe.out" 2> "$BATS_FILE_TMPDIR/probe.err" 3>&- || st=$?
	if [ "$st" != 0 ]; then
		HOSTILE_SKIP="grad-trap --confine strict did not run a correct candidate here (exit $st: $(head -n 1 "$BATS_FILE_TMPDIR/probe.err" | cut -c 1-200)): hostile candidates are never run unconfined"
		export HOSTILE_SKIP
	fi
}

teardown_file() {
	rm -rf "$OUTSIDE"
	rm -f "$ROOT/kvarbiter-hostile-cwd-write"
}

setup() {
	T=$BATS_TEST_TMPDIR
	OPENAI_API_KEY="sk-kvarbiter-test-$RANDOM$RANDOM"
	export OPENAI_API_KEY
	LISTENER_PID=""
}

teardown() {
	if [ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2> /dev/null; then
		wait "$LISTENER_PID" || [ $? = 143 ]
	fi
}

# ---- helpers -----------------------------------------------------------------

need_confinement() {
	[ -z "${HOSTILE_SKIP:-}" ] || skip "$HOSTILE_SKIP"
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds (0) or
# the time is up (1).
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# no_process ARGS: no process whose command line ends with ARGS ("sleep
# 987654" matches `sleep 987654`, `/bin/sleep 987654`, `sh -c sleep
# 987654`, not this test's own bats process, whose name holds the number).
no_process() {
	! pgrep -f -- "(^|[ /])$1\$" > /dev/null
}

# The processes no_process ARGS looks for, to name them.
list_process() {
	pgrep -af -- "(^|[ /])$1\$"
}

# The outside world the candidates reach for: a world-writable directory
# with a world-writable victim of known content, and a world-readable fake
# home with a fake ssh key (grad-trap runs with HOME there, so only the
# sandbox's own environment keeps a candidate from it).
plant_outside() {
	rm -rf "$OUTSIDE"
	rm -f "$ROOT/kvarbiter-hostile-cwd-write"
	mkdir -p "$OUTSIDE/home/.ssh"
	chmod 0777 "$OUTSIDE"
	chmod 0755 "$OUTSIDE/home" "$OUTSIDE/home/.ssh"
	printf '%s\n' "$VICTIM_TEXT" > "$OUTSIDE/victim"
	chmod 0666 "$OUTSIDE/victim"
	FAKE_KEY="-----BEGIN OPENSSH PRIVATE KEY----- kvarbiter-fake-key-$RANDOM$RANDOM"
	printf '%s\n' "$FAKE_KEY" > "$OUTSIDE/home/.ssh/id_rsa"
	chmod 0644 "$OUTSIDE/home/.ssh/id_rsa"
}

# The phone-home catcher on 127.0.0.1:$PORT, proven to record by a probe
# of our own; stopped by its PID in teardown.
start_listener() {
	python3 "$HF/listener.py" "$PORT" "$T/listener.log" "$T/listener.ready" 3>&- &
	LISTENER_PID=$!
	wait_for 10 test -e "$T/listener.ready" ||
		fail "listener.py did not start on 127.0.0.1:$PORT (port taken?)"
	printf 'probe\n' > "/dev/tcp/127.0.0.1/$PORT"
	wait_for 10 grep -qx probe "$T/listener.log" ||
		fail "listener.py did not record the test's own probe"
}

# hostile_run LIMIT ARG...: grad-trap ARG... from the repository root
# under reaper.py, with HOME at the fake home; sets ST (its exit status,
# 124 past LIMIT seconds) and SECS; stdout in $T/out, stderr in $T/err,
# what outlived it in $T/left.
hostile_run() {
	local limit=$1 t0
	shift
	t0=$(date +%s)
	ST=0
	(cd "$ROOT" && exec env HOME="$OUTSIDE/home" \
		python3 "$HF/reaper.py" --limit "$limit" "$T/left" -- grad-trap "$@") \
		> "$T/out" 2> "$T/err" 3>&- || ST=$?
	SECS=$(($(date +%s) - t0))
}

# The first divergence record's got, and the bytes it holds if it smuggled
# any (read from stdout itself: jq would round integers beyond 2^53).
show_got() {
	grep -m 1 '^{"type":"divergence",' "$T/out" | python3 -c '
import json, sys
g = json.loads(sys.stdin.read()).get("got")
print("got:", json.dumps(g))
if isinstance(g, dict) and all(isinstance(g.get(k), int) for k in ("head", "block", "offset")):
    b = b"".join((g[k] & (2**64 - 1)).to_bytes(8, "little") for k in ("head", "block", "offset"))
    print("as bytes:", b.replace(b"\0", b""))'
}

# check_candidate NAME: run the hostile candidate NAME (its file name) as
# its manifest line says and assert everything listed at the top.
check_candidate() {
	local name=$1 line file cmd cases phase pin tmo ltmo limit sc ncases
	local classes any allowed first c n
	local -a checks args
	need_confinement
	line=$(jq -c --arg n "$name" 'select(((.file // .cmd) | split("/") | last) == $n)' \
		"$HOSTILE/manifest.jsonl")
	[ -n "$line" ] || fail "$name: no line in $HOSTILE/manifest.jsonl"
	[ "$(printf '%s\n' "$line" | wc -l)" = 1 ] || fail "$name: several manifest lines"
	echo "# $line"
	file=$(jq -r '.file // ""' <<< "$line")
	cmd=$(jq -r '.cmd // ""' <<< "$line")
	cases=$(jq -r .cases <<< "$line")
	phase=$(jq -r '.phase // ""' <<< "$line")
	tmo=$(jq -r '.timeout // 1' <<< "$line")
	ltmo=$(jq -r '.load_timeout // 5' <<< "$line")
	limit=$(jq -r '[.checks[] | select(startswith("bounded:")) | ltrimstr("bounded:")] | first // "60"' <<< "$line")
	classes=$(jq -c '.classes // []' <<< "$line")
	any=$(jq -c '.classes_any // []' <<< "$line")
	allowed=$(jq -c '(.classes // []) + (.classes_any // [])' <<< "$line")
	mapfile -t checks < <(jq -r '.checks[]' <<< "$line")
	if [ -n "$phase" ]; then
		pin='{"phase":"load"}'
	else
		pin=$(jq -c --argjson t "$TRIGGER" '.pin // {inputs: $t}' <<< "$line")
	fi

	# ---- prepare
	plant_outside
	for c in "${checks[@]}"; do
		case $c in
		listener_silent) start_listener ;;
		no_process:*)
			wait_for 5 no_process "${c#no_process:}" ||
				fail "$name: '${c#no_process:}' already runs before the test: $(list_process "${c#no_process:}")"
			;;
		esac
	done
	args=(--confine strict --max-map 100 --timeout "$tmo" --db "$T/trace.db")
	if [ -n "$file" ]; then
		args+=(--candidate "$ROOT/fixtures/candidates/$file" --load-timeout "$ltmo")
		sc=loader
	else
		args+=(--candidate-cmd "$cmd")
		sc=coprocess
	fi
	if [ "$cases" = boundaries ]; then
		args+=(--oracle radix-2d --boundaries)
		ncases=$NBOUNDARIES
	else
		args+=("$HF/cases.jsonl")
		ncases=$NCASES
	fi

	# ---- run
	echo "# grad-trap ${args[*]}"
	hostile_run "$limit" "${args[@]}"
	echo "# exit $ST after ${SECS}s; stderr: $(head -c 600 "$T/err")"
	echo "# summary: $(tail -n 1 "$T/out")"

	# ---- on every run
	[ "$ST" != 124 ] || fail "$name: grad-trap did not end within ${limit}s"
	[ ! -s "$T/left" ] || fail "$name: processes of the run outlived grad-trap by 5 s: $(cat "$T/left")"
	[ "$ST" = 1 ] || fail "$name: exit $ST, want 1 (HARD_BLOCK); stderr: $(head -c 600 "$T/err")"
	if grep -v -e '^{"type":"divergence",' -e '^{"type":"summary",' "$T/out" > "$T/alien"; then
		fail "$name: stdout holds lines that are not grad-trap's records: $(head -c 300 "$T/alien")"
	fi
	jq -e -s 'length > 0 and all(.[]; type == "object")
	  and (map(select(.type == "summary")) | length) == 1 and .[-1].type == "summary"' \
		"$T/out" > /dev/null || fail "$name: stdout is not divergence records and one summary, last"
	tail -n 1 "$T/out" > "$T/sum"
	jq -e '.verdict == "HARD_BLOCK"' "$T/sum" > /dev/null || fail "$name: verdict is not HARD_BLOCK"
	jq -e --arg sc "$sc" "$CONFINED" "$T/sum" > /dev/null ||
		fail "$name: confinement is not strict with every layer and seccomp \"$sc\": $(jq -c .confinement "$T/sum")"
	jq -e --argjson cl "$classes" '. as $s | all($cl[]; . as $c | $s.classes[$c] > 0)' "$T/sum" > /dev/null ||
		fail "$name: a class of $classes did not occur: $(jq -c .classes "$T/sum")"
	jq -e --argjson cl "$any" '. as $s | ($cl | length) == 0 or any($cl[]; . as $c | $s.classes[$c] > 0)' "$T/sum" > /dev/null ||
		fail "$name: none of $any occurred: $(jq -c .classes "$T/sum")"
	jq -e --argjson al "$allowed" '[.classes | to_entries[] | select(.value > 0) | .key] - $al == []' "$T/sum" > /dev/null ||
		fail "$name: a class outside $allowed occurred: $(jq -c .classes "$T/sum")"
	if [[ " ${checks[*]} " == *" not_run "* ]]; then
		jq -e --argjson n "$ncases" '.not_run > 0 and (.not_run_reason | type) == "string"
		  and .cases + .not_run == $n' "$T/sum" > /dev/null ||
			fail "$name: want cases not run (cases + not_run = $ncases, with a reason)"
	else
		jq -e --argjson n "$ncases" '.not_run == 0 and .not_run_reason == null and .cases == $n' \
			"$T/sum" > /dev/null || fail "$name: want all $ncases cases run and none not_run"
	fi
	first=$(jq -c -s 'map(select(.type == "divergence")) | first // empty' "$T/out")
	[ -n "$first" ] || fail "$name: no divergence record"
	echo "# first divergence: $first"
	jq -e --argjson al "$allowed" --argjson pin "$pin" '(.class as $c | $al | index($c)) != null
	  and contains($pin)' <<< "$first" > /dev/null ||
		fail "$name: the first divergence is not a class of $allowed pinned to $pin"

	# ---- the named checks
	for c in "${checks[@]}"; do
		case $c in
		marker)
			jq -e --argjson m "$MARKER" '.got == $m' <<< "$first" > /dev/null ||
				fail "$name: the trigger's got is not the marker $MARKER: $(show_got)"
			;;
		only_trigger)
			jq -e '.diverged == 1' "$T/sum" > /dev/null ||
				fail "$name: want the trigger as the only diverging case, $(jq .diverged "$T/sum") diverged"
			;;
		all_pinned)
			jq -e -s --argjson pin "$pin" 'all(.[] | select(.type == "divergence"); contains($pin))' \
				"$T/out" > /dev/null || fail "$name: a divergence record is not pinned to $pin"
			;;
		why:*)
			jq -e --arg w "${c#why:}" '(.why // "") | startswith($w)' <<< "$first" > /dev/null ||
				fail "$name: why is $(jq -c .why <<< "$first"), want \"${c#why:}\""
			;;
		key_absent)
			sqlite3 "$T/trace.db" .dump > "$T/dump.sql"
			grep -q 'trap_runs' "$T/dump.sql" || fail "$name: --db stored no trap_runs row"
			if grep -l -F -e "$OPENAI_API_KEY" -e "$FAKE_KEY" -- "$T/out" "$T/err" "$T/dump.sql" > "$T/leaks"; then
				fail "$name: the API key or the fake ssh key is in $(cat "$T/leaks")"
			fi
			;;
		file_untouched)
			[ "$(cat "$OUTSIDE/victim")" = "$VICTIM_TEXT" ] ||
				fail "$name: $OUTSIDE/victim changed: $(head -c 200 "$OUTSIDE/victim")"
			[ ! -e "$OUTSIDE/created" ] || fail "$name: $OUTSIDE/created exists"
			;;
		cwd_untouched)
			[ ! -e "$ROOT/kvarbiter-hostile-cwd-write" ] ||
				fail "$name: it wrote kvarbiter-hostile-cwd-write in its working directory"
			;;
		listener_silent)
			[ "$(cat "$T/listener.log")" = "<<conn>>"$'\n'"probe" ] ||
				fail "$name: the listener on port $PORT received: $(cat "$T/listener.log")"
			;;
		no_process:*)
			n=${c#no_process:}
			wait_for 5 no_process "$n" ||
				fail "$name: '$n' still runs 5 s after grad-trap exited: $(list_process "$n")"
			;;
		bounded:*)
			[ "$SECS" -le "${c#bounded:}" ] || fail "$name: took ${SECS}s, bound ${c#bounded:}s"
			;;
		stderr_empty)
			[ ! -s "$T/err" ] || fail "$name: grad-trap's stderr is not empty: $(head -c 300 "$T/err")"
			;;
		not_run | stdout_records_only | no_leftovers) ;; # asserted above, on every run
		*) fail "$name: unknown check '$c' in the manifest" ;;
		esac
	done
}

# descendants PID: every process below PID.
descendants() {
	local p
	for p in $(pgrep -P "$1"); do
		echo "$p"
		descendants "$p"
	done
}

# Is a sandbox (anything but the compiler) running below PID?
has_sandbox() {
	local d comm n=0
	for d in $(descendants "$1"); do
		comm=$(cat "/proc/$d/comm" 2> /dev/null) || continue
		case $comm in
		cc | cc1 | gcc | as | ld | collect2 | clang*) return 1 ;;
		esac
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}

gone() {
	! kill -0 "$1" 2> /dev/null
}

# signal_grandchild SIG N: grad-trap traps the co-process grandchild.sh,
# whose grandchild `sleep N` sits in a session of its own, deaf to HUP,
# INT and TERM; once it runs grad-trap gets SIG.  grad-trap must end, and
# the grandchild and the co-process be gone within 5 s.
signal_grandchild() {
	local sig=$1 n=$2 pid rp
	need_confinement
	plant_outside
	wait_for 5 no_process "sleep $n" || fail "'sleep $n' already runs before the test"
	(cd "$ROOT" && exec env HOME="$OUTSIDE/home" python3 "$HF/reaper.py" --limit 90 \
		--pidfile "$T/pid" "$T/left" -- grad-trap --confine strict --candidate-stderr \
		--timeout 60 --max-map 100 --candidate-cmd "sh $HF/grandchild.sh $n" "$HF/cases.jsonl") \
		> "$T/out" 2> "$T/err" 3>&- &
	rp=$!
	wait_for 30 grep -q "grandchild sleep $n started" "$T/err" ||
		fail "the co-process never started its grandchild: $(head -c 500 "$T/err")"
	wait_for 10 test -s "$T/pid" || fail "reaper.py wrote no pid"
	pid=$(cat "$T/pid")
	wait_for 10 list_process "sleep $n" > /dev/null || fail "no 'sleep $n' to be seen"
	kill -s "$sig" "$pid"
	wait_for 20 gone "$pid" || fail "grad-trap still runs 20 s after SIG$sig"
	ST=0
	wait "$rp" || ST=$?
	echo "# exit $ST; stderr: $(head -c 600 "$T/err")"
	[ ! -s "$T/left" ] || fail "SIG$sig: processes outlived grad-trap by 5 s: $(cat "$T/left")"
	wait_for 5 no_process "sleep $n" || fail "SIG$sig: 'sleep $n' still runs: $(list_process "sleep $n")"
	wait_for 5 no_process "grandchild.sh $n" ||
		fail "SIG$sig: the co-process still runs: $(list_process "grandchild.sh $n")"
	[ "$ST" != 124 ] || fail "SIG$sig: grad-trap ran until reaper.py's limit"
	[ "$ST" != 0 ] || fail "SIG$sig: grad-trap exited 0"
}

# ---- the corpus itself (nothing is run) ---------------------------------------

@test "hostile manifest: one line per candidate file, each with its verdict, classes and checks" {
	M="$HOSTILE/manifest.jsonl"
	run -0 jq -e -s 'length >= 24 and all(.[]; .type == "candidate"
	  and ((.file != null) != (.cmd != null)) and .kind == "route" and .oracle == "radix-2d"
	  and (.cases == "trigger" or .cases == "boundaries") and .verdict == "HARD_BLOCK"
	  and (((.classes // []) + (.classes_any // [])) | length) > 0
	  and (.phase == null or .phase == "load") and (.attempt | length) > 10
	  and (.checks | type) == "array"
	  and (.cases == "trigger" or .pin != null))' "$M"
	files=$(cd "$HOSTILE" && printf '%s\n' *.c *.py *.sh | sort)
	named=$(jq -r '(.file // .cmd) | split("/") | last' "$M" | sort)
	[ "$files" = "$named" ] || fail "candidate files and manifest lines differ: $(diff <(echo "$files") <(echo "$named"))"
	[ -z "$(uniq -d <<< "$named")" ] || fail "named twice: $(uniq -d <<< "$named")"
	for n in $named; do
		grep -qxF -- $'\tcheck_candidate '"$n" "$BATS_TEST_FILENAME" || fail "$n has no @test here"
		head -n 20 "$HOSTILE/$n" | grep -q 'Expected' || fail "$n: its first comment states no expected result"
	done
	# the case file: the trigger once, as case 16, with ImpactArbiter's answer
	run -0 jq -e -s --argjson t "$TRIGGER" --argjson n "$NCASES" 'length == $n
	  and ([.[] | {b_local_idx, head_idx, prefix_length_h, total_blocks_h, block_size} == $t] | indices(true)) == [16]
	  and .[16].expect == {"head":0,"block":0,"offset":1} and all(.[]; .type == "case")' "$HF/cases.jsonl"
}

@test "every hostile candidate and helper builds (checked without running any)" {
	for f in "$HOSTILE"/*.c; do
		cc -fsyntax-only -Wall -Werror -I "$ROOT/lib" "$f" || fail "$f does not build"
	done
	for f in "$HOSTILE"/*.py "$HF"/*.py; do
		PYTHONPYCACHEPREFIX="$BATS_TEST_TMPDIR/pyc" python3 -m py_compile "$f" || fail "$f does not compile"
	done
	for f in "$HOSTILE"/*.sh "$HF"/*.sh; do
		sh -n "$f" || fail "$f does not parse"
	done
}

@test "controls: a correct .c and a correct co-process PASS under --confine strict, every layer on" {
	need_confinement
	plant_outside
	hostile_run 60 --confine strict --max-map 100 --timeout 5 --load-timeout 5 \
		--candidate "$ROOT/fixtures/candidates/radix-2d/correct-divmod.c" "$HF/cases.jsonl"
	[ "$ST" = 0 ] || fail "correct-divmod.c: exit $ST: $(cat "$T/err")"
	[ ! -s "$T/left" ] || fail "processes outlived grad-trap: $(cat "$T/left")"
	run -0 jq -e --arg sc loader ".verdict == \"PASS\" and .cases == $NCASES and .not_run == 0
	  and .not_run_reason == null and ($CONFINED)" "$T/out"
	hostile_run 60 --confine strict --max-map 100 --timeout 5 \
		--candidate-cmd "python3 fixtures/candidates/cmd/radix2d.py" "$HF/cases.jsonl"
	[ "$ST" = 0 ] || fail "cmd/radix2d.py: exit $ST: $(cat "$T/err")"
	[ ! -s "$T/left" ] || fail "processes outlived grad-trap: $(cat "$T/left")"
	run -0 jq -e --arg sc coprocess ".verdict == \"PASS\" and .cases == $NCASES and .not_run == 0
	  and ($CONFINED)" "$T/out"
}

# ---- loaded candidates (.c): the seccomp allow-list of the loader --------------

@test "hostile create-file.c: open(O_CREAT) outside is SIGSYS on the trigger; nothing created" {
	check_candidate create-file.c
}

@test "hostile truncate-victim.c: truncate(2) is SIGSYS on the trigger; the victim is intact" {
	check_candidate truncate-victim.c
}

@test "hostile unlink-victim.c: unlink(2) is SIGSYS on the trigger; the victim is intact" {
	check_candidate unlink-victim.c
}

@test "hostile read-shadow.c: /etc/shadow is unreadable as nobody: the marker" {
	check_candidate read-shadow.c
}

@test "hostile read-ssh-key.c: ~/.ssh/id_rsa (HOME is /dev/shm) and /root/.ssh: the marker" {
	check_candidate read-ssh-key.c
}

@test "hostile getenv-api-key.c: OPENAI_API_KEY is not in the loader's environment" {
	check_candidate getenv-api-key.c
}

@test "hostile self-environ-key.c: /proc/self/environ holds no API key" {
	check_candidate self-environ-key.c
}

@test "hostile parent-environ-key.c: no ancestor's /proc/PID/environ yields the key" {
	check_candidate parent-environ-key.c
}

@test "hostile parent-mem-key.c: no ancestor's /proc/PID/mem yields the key" {
	check_candidate parent-mem-key.c
}

@test "hostile stack-environ-scan.c: the loader's own stack holds no caller environment" {
	check_candidate stack-environ-scan.c
}

@test "hostile socket-connect.c: socket(2) is SIGSYS; the listener hears nothing" {
	check_candidate socket-connect.c
}

@test "hostile kill-parent.c: kill(getppid()) is SIGSYS; grad-trap carries on" {
	check_candidate kill-parent.c
}

@test "hostile kill-all.c: kill(-1, SIGKILL) is SIGSYS; grad-trap carries on" {
	check_candidate kill-all.c
}

@test "hostile setsid-fork-exec.c: setsid+fork+exec is SIGSYS; no sleep 987654" {
	check_candidate setsid-fork-exec.c
}

@test "hostile fork-bomb.c: the first fork is SIGSYS; no sleep 987658" {
	check_candidate fork-bomb.c
}

@test "hostile exec-shell.c: execve is SIGSYS; no sleep 987663" {
	check_candidate exec-shell.c
}

@test "hostile hang-tb3.c: 754 hanging boundary cases stop after --max-hangs, the rest not run, in bounded time" {
	check_candidate hang-tb3.c
}

@test "hostile load-hang.c: a constructor that spins is a load-phase timeout, HARD_BLOCK, nothing run" {
	check_candidate load-hang.c
}

@test "hostile load-exit.c: exit(0) in a constructor is a load-phase crash, why exit 0" {
	check_candidate load-exit.c
}

@test "hostile flood-stdio.c: 2 MiB of fake records a call reach neither stdout nor stderr" {
	check_candidate flood-stdio.c
}

@test "hostile mmap-64g.c: 64 GiB is refused, the write through MAP_FAILED is SIGSEGV" {
	check_candidate mmap-64g.c
}

@test "hostile mmap-8g-noreserve.c: RLIMIT_AS refuses 8 GiB of MAP_NORESERVE: SIGSEGV" {
	check_candidate mmap-8g-noreserve.c
}

@test "hostile sigstop.c: raise(SIGSTOP) is a timeout on the trigger; the rest still runs" {
	check_candidate sigstop.c
}

@test "hostile alarm.c: alarm(1) is SIGSYS on the trigger, not a SIGALRM on a later case" {
	check_candidate alarm.c
}

@test "hostile thread-left-running.c: a spinning thread outlives its call but not grad-trap" {
	check_candidate thread-left-running.c
}

@test "hostile ptrace-parent.c: ptrace(PTRACE_ATTACH) is SIGSYS" {
	check_candidate ptrace-parent.c
}

@test "hostile close-reply-pipe.c: closing every fd is a crash pinned to the trigger" {
	check_candidate close-reply-pipe.c
}

@test "hostile garble-reply-pipe.c: junk on the reply pipe is an error or crash of the trigger only" {
	check_candidate garble-reply-pipe.c
}

# ---- co-processes: the seccomp deny-list, RLIMIT_NPROC, a read-only world --------

@test "hostile coproc-getenv-key.py: a co-process's environment holds no API key" {
	check_candidate coproc-getenv-key.py
}

@test "hostile coproc-self-environ.py: /proc/self/environ of a co-process holds no API key" {
	check_candidate coproc-self-environ.py
}

@test "hostile coproc-parent-environ.py: no ancestor's environ yields the key" {
	check_candidate coproc-parent-environ.py
}

@test "hostile coproc-socket-connect.py: socket() is EPERM; the listener hears nothing" {
	check_candidate coproc-socket-connect.py
}

@test "hostile coproc-kill-all.py: kill(-1, SIGKILL) is EPERM; grad-trap carries on" {
	check_candidate coproc-kill-all.py
}

@test "hostile coproc-create-file.py: writes outside and into the working directory fail" {
	check_candidate coproc-create-file.py
}

@test "hostile coproc-write-escape.sh: shell redirections outside fail (sh and awk)" {
	check_candidate coproc-write-escape.sh
}

@test "hostile coproc-fork-bomb.py: RLIMIT_NPROC stops the bomb; no sleep 987655 survives" {
	check_candidate coproc-fork-bomb.py
}

@test "hostile coproc-setsid-sleeper.py: a setsid daemon (sleep 987656) does not survive the run" {
	check_candidate coproc-setsid-sleeper.py
}

@test "hostile coproc-trickler.py: a space every 0.5 s is no progress: timeout on case 0, bounded" {
	check_candidate coproc-trickler.py
}

@test "hostile coproc-junk-flood.py: 65536 junk lines are errors from the trigger on, none reaches stdout" {
	check_candidate coproc-junk-flood.py
}

# ---- grad-trap killed while a candidate's grandchild runs ----------------------

@test "SIGKILL to grad-trap: the co-process's setsid grandchild (sleep 987657) is gone within 5 s" {
	signal_grandchild KILL 987657
	[ "$ST" = 137 ] || fail "exit $ST, want 137 (SIGKILL)"
}

@test "timeout -s TERM: grad-trap ends and the grandchild (sleep 987660) is gone within 5 s" {
	need_confinement
	plant_outside
	wait_for 5 no_process "sleep 987660" || fail "'sleep 987660' already runs before the test"
	# timeout(1) is grad-trap's parent, below the reaper
	t0=$(date +%s)
	ST=0
	(cd "$ROOT" && exec env HOME="$OUTSIDE/home" python3 "$HF/reaper.py" --limit 90 "$T/left" -- \
		timeout -s TERM 5 grad-trap --confine strict --candidate-stderr --timeout 60 --max-map 100 \
		--candidate-cmd "sh $HF/grandchild.sh 987660" "$HF/cases.jsonl") > "$T/out" 2> "$T/err" 3>&- || ST=$?
	SECS=$(($(date +%s) - t0))
	echo "# exit $ST after ${SECS}s; stderr: $(head -c 600 "$T/err")"
	grep -q "grandchild sleep 987660 started" "$T/err" ||
		fail "inconclusive: the grandchild had not started when TERM came (5 s)"
	{ [ "$ST" = 124 ] && [ "$SECS" -lt 60 ]; } || fail "exit $ST after ${SECS}s, want timeout(1)'s 124 after 5 s"
	[ ! -s "$T/left" ] || fail "processes outlived grad-trap by 5 s: $(cat "$T/left")"
	wait_for 5 no_process "sleep 987660" || fail "'sleep 987660' still runs: $(list_process "sleep 987660")"
	wait_for 5 no_process "grandchild.sh 987660" ||
		fail "the co-process still runs: $(list_process "grandchild.sh 987660")"
}

@test "SIGINT to grad-trap: the grandchild (sleep 987661) is gone within 5 s" {
	signal_grandchild INT 987661
}

@test "SIGHUP to grad-trap: the grandchild (sleep 987662) is gone within 5 s" {
	signal_grandchild HUP 987662
}

@test "SIGKILL to grad-trap while a loaded candidate hangs: nothing of its sandbox remains" {
	local pid rp
	need_confinement
	plant_outside
	(cd "$ROOT" && exec env HOME="$OUTSIDE/home" python3 "$HF/reaper.py" --limit 90 \
		--pidfile "$T/pid" "$T/left" -- grad-trap --confine strict --timeout 60 --max-map 100 \
		--candidate "$HOSTILE/hang-tb3.c" --oracle radix-2d --boundaries) > "$T/out" 2> "$T/err" 3>&- &
	rp=$!
	wait_for 10 test -s "$T/pid" || fail "reaper.py wrote no pid"
	pid=$(cat "$T/pid")
	wait_for 30 has_sandbox "$pid" || fail "no sandbox ever ran below grad-trap: $(head -c 500 "$T/err")"
	sleep 1 # into the hang (the first total_blocks_h == 3 case)
	echo "# below grad-trap: $(descendants "$pid" | tr '\n' ' ')"
	kill -KILL "$pid"
	ST=0
	wait "$rp" || ST=$?
	[ "$ST" = 137 ] || fail "exit $ST, want 137 (SIGKILL)"
	[ ! -s "$T/left" ] || fail "processes outlived grad-trap by 5 s: $(cat "$T/left")"
}
