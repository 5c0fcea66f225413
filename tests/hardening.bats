#!/usr/bin/env bats
# hardening: inputs that never end, builds with both compilers, the
# pipelines' usage (issue 17).

load test_helper

# A line that never ends must not hang a filter: the reader fails as soon
# as the line passes --max-record (16M by default), exit 2, naming the
# line, and the records before it are still written.  timeout only bounds
# a regression; the exit status and the message are what is asserted.

NOTE='{"type":"note","n":1}'

@test "route-oracle /dev/zero: exit 2 at the limit, not a hang" {
	run -2 --separate-stderr timeout 20 route-oracle /dev/zero
	assert_output ""
	assert_equal "$stderr" "route-oracle: /dev/zero:1: record longer than 16777216 bytes (see --max-record)"
}

@test "kv-prefill /dev/zero: exit 2 at the limit, not a hang" {
	run -2 --separate-stderr timeout 20 kv-prefill /dev/zero
	assert_equal "$stderr" "kv-prefill: /dev/zero:1: record longer than 16777216 bytes (see --max-record)"
}

@test "bench-rederive /dev/zero: exit 2 at the limit, not a hang" {
	run -2 --separate-stderr timeout 20 bench-rederive /dev/zero
	assert_equal "$stderr" "bench-rederive: /dev/zero:1: record longer than 16777216 bytes (see --max-record)"
}

@test "audit-verdict /dev/zero: exit 2 at the limit, not a hang" {
	run -2 --separate-stderr timeout 20 audit-verdict /dev/zero
	assert_equal "$stderr" "audit-verdict: /dev/zero:1: record longer than 16777216 bytes (see --max-record)"
}

@test "kv-snapshot dump /dev/zero: a device is refused at once; on standard input, exit 2 at the limit" {
	run -2 --separate-stderr timeout 20 kv-snapshot dump /dev/zero
	assert_output ""
	assert_equal "$stderr" "kv-snapshot: /dev/zero: a character device, not a snapshot or a tensor dump"
	run -2 --separate-stderr timeout 20 sh -c 'exec kv-snapshot dump - < /dev/zero'
	assert_output ""
	assert_equal "$stderr" "kv-snapshot: <stdin>:1: record longer than 16777216 bytes (see --max-record)"
}

@test "grad-trap and llm-gen on an endless stdin: exit 2 at the limit" {
	run -2 --separate-stderr timeout 20 sh -c 'exec grad-trap --oracle radix-2d --candidate "$1" --max-record 1K < /dev/zero' sh "$ROOT/fixtures/candidates/radix-2d/no-ring-wrap.c"
	assert_equal "$stderr" "grad-trap: <stdin>:1: record longer than 1024 bytes (see --max-record)"
	run -2 --separate-stderr timeout 20 sh -c 'exec llm-gen --max-record 1K < /dev/zero'
	assert_equal "$stderr" "llm-gen: <stdin>:1: record longer than 1024 bytes (see --max-record)"
}

# the records before an endless line: passed through and written
endless() { # TOOL ARGS...: a note, then a line that never ends, on stdin
	{ echo "$NOTE"; exec cat /dev/zero; } | timeout 20 "$@" --max-record 1K
}

@test "route-oracle: the record before an endless line is written" {
	run -2 --separate-stderr endless route-oracle
	assert_output "$NOTE"
	assert_equal "$stderr" "route-oracle: <stdin>:2: record longer than 1024 bytes (see --max-record)"
}

@test "kv-prefill: the record before an endless line is written" {
	run -2 --separate-stderr endless kv-prefill
	assert_output "$NOTE"
	assert_equal "$stderr" "kv-prefill: <stdin>:2: record longer than 1024 bytes (see --max-record)"
}

@test "bench-rederive: the record before an endless line is written" {
	run -2 --separate-stderr endless bench-rederive
	assert_output "$NOTE"
	assert_equal "$stderr" "bench-rederive: <stdin>:2: record longer than 1024 bytes (see --max-record)"
}

@test "audit-verdict: the record before an endless line is written" {
	run -2 --separate-stderr endless audit-verdict
	assert_output "$NOTE"
	assert_equal "$stderr" "audit-verdict: <stdin>:2: record longer than 1024 bytes (see --max-record)"
}

@test "kv-snapshot dump: the rows before an endless line are written" {
	T=$BATS_TEST_TMPDIR
	printf '%s\n' '{"type":"tensor","name":"kv","dtype":"f32","shape":[2,3],"layout":"a,b"}' \
		'{"type":"cells","index":[0],"values":[1,2,3]}' > "$T/d"
	run -2 --separate-stderr timeout 20 sh -c '{ cat "$1"; exec cat /dev/zero; } | kv-snapshot dump -' sh "$T/d"
	assert_line --index 0 --partial '{"type":"tensor","name":"kv"'
	assert_line --index 1 '{"type":"cells","name":"kv","index":[0],"hash":"1de40d89811fe258"}'
	assert_equal "${#lines[@]}" 2
	assert_equal "$stderr" "kv-snapshot: <stdin>:3: record longer than 16777216 bytes (see --max-record)"
}

@test "a last line past the limit without a newline: exit 2, the records before it written" {
	T=$BATS_TEST_TMPDIR
	{ echo "$NOTE"; printf '{"type":"note","pad":"%02000d"}' 0; } > "$T/in"
	for t in route-oracle kv-prefill bench-rederive audit-verdict; do
		run -2 --separate-stderr timeout 20 "$t" --max-record 1K "$T/in"
		assert_output "$NOTE"
		assert_equal "$stderr" "$t: $T/in:2: record longer than 1024 bytes (see --max-record)"
	done
}

@test "--keep-going: the rest of an oversized line is skipped and the next line read" {
	T=$BATS_TEST_TMPDIR
	# the limit passed in the middle of a read, the newline far beyond it
	{ printf '{"type":"note","pad":"%0300000d"}\n' 0; echo "$NOTE"; } > "$T/in"
	run -2 --separate-stderr route-oracle --max-record 1K --keep-going "$T/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$T/in\",\"line\":1,\"message\":\"record longer than 1024 bytes (see --max-record)\"}"
	assert_equal "${lines[1]}" "$NOTE"
	assert_equal "${#lines[@]}" 2
	run -2 --separate-stderr bench-rederive --max-record 1K --keep-going "$T/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$T/in\",\"line\":1,\"message\":\"record longer than 1024 bytes (see --max-record)\"}"
	assert_equal "${lines[1]}" "$NOTE"
}

@test "--keep-going: a line that does not end stops the reader once its rest passes 16 times the limit (64 MiB at least), exit 2" {
	for t in route-oracle kv-prefill audit-verdict bench-rederive; do
		run -2 --separate-stderr timeout 60 "$t" --keep-going /dev/zero
		assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"/dev/zero\",\"line\":1,\"message\":\"record longer than 16777216 bytes (see --max-record)\"}"
		[[ "$stderr" == *"$t: /dev/zero:1: a line that does not end within 285212672 bytes: the rest is not read" ]]
	done
	# a small limit still skips a long line's rest up to 64 MiB
	{ head -c 5000000 /dev/zero | tr '\0' 'x'; echo; echo "$NOTE"; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr route-oracle --max-record 1K --keep-going "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[1]}" "$NOTE"
}

# CI builds with gcc and with clang, both with -Werror: clang's warnings
# differ (a v*printf wrapper needs a format attribute, adjacent string
# literals in an array initialiser).  -O0 into a private build directory.
@test "the whole tree builds with clang -Werror" {
	command -v clang >/dev/null || skip "clang not installed"
	run -0 env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -s -C "$ROOT" \
		-j2 CC=clang WERROR=1 CFLAGS=-O0 NVCC= B="$BATS_TEST_TMPDIR/b" all
	[ -x "$BATS_TEST_TMPDIR/b/bin/route-oracle" ]
	[ -x "$BATS_TEST_TMPDIR/b/unit" ]
}

# Every pipeline prints its usage from its "#/ " lines: the text only, no
# shebang, no code after it (a sed line range printed "set -eu" and more
# once the header grew or shrank).
@test "pipelines: --help prints the usage and nothing else" {
	for p in auto-heal bisect git-bisect-trap nightly patch-audit report sweep tour; do
		run -0 --separate-stderr sh "$ROOT/pipelines/$p" --help
		assert_equal "$stderr" ""
		[ "${#lines[@]}" -ge 5 ]
		case $p in
		patch-audit) assert_line --index 0 --partial "usage: patch-audit EVAL_DIR" ;;
		*) assert_line --index 0 --partial "$p - " ;;
		esac
		refute_line --partial "#!"
		refute_line --regexp '^#'
		refute_line --regexp '^(set -eu|[a-z_]+=.*|[a-z_]+[(][)] [{])$'
		# each line of the usage is in the script as a "#/" line, in order
		assert_equal "$output" "$(sed -n 's/^#\/ \{0,1\}//p' "$ROOT/pipelines/$p")"
	done
}
