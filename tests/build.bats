#!/usr/bin/env bats
# The build itself: deps, install, lint's completeness rule, the unit
# runner's closing line.

load test_helper

# make as a user types it, even when this suite runs under make asan
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -s "$@"; }

@test "make deps as a non-root user prints the exact apt-get line, exit 2" {
	mkdir -p "$BATS_TEST_TMPDIR/shim"
	printf '#!/bin/sh\necho 1000\n' > "$BATS_TEST_TMPDIR/shim/id"
	# pretend bats and jq are missing, everything else present
	printf '#!/bin/sh\ncase "$2" in bats|jq) exit 1;; esac\nexit 0\n' > "$BATS_TEST_TMPDIR/shim/dpkg"
	chmod +x "$BATS_TEST_TMPDIR/shim/id" "$BATS_TEST_TMPDIR/shim/dpkg"
	PATH="$BATS_TEST_TMPDIR/shim:$PATH" run -2 mk -C "$ROOT" deps
	assert_line "deps: missing packages; run as root:"
	assert_line "  apt-get install -y bats jq"
}

@test "make deps with everything present says so" {
	mkdir -p "$BATS_TEST_TMPDIR/shim"
	printf '#!/bin/sh\nexit 0\n' > "$BATS_TEST_TMPDIR/shim/dpkg"
	chmod +x "$BATS_TEST_TMPDIR/shim/dpkg"
	PATH="$BATS_TEST_TMPDIR/shim:$PATH" run -0 mk -C "$ROOT" deps
	assert_output "deps: all present"
}

@test "make install puts tools and man pages under DESTDIR/PREFIX" {
	run -0 mk -C "$ROOT" B="${KVA_BUILD:-build}" install DESTDIR="$BATS_TEST_TMPDIR/d" PREFIX=/opt/kva
	[ -x "$BATS_TEST_TMPDIR/d/opt/kva/bin/route-oracle" ]
	[ -f "$BATS_TEST_TMPDIR/d/opt/kva/share/man/man1/route-oracle.1" ]
	[ -f "$BATS_TEST_TMPDIR/d/opt/kva/share/man/man7/kvarbiter.7" ]
	[ -f "$BATS_TEST_TMPDIR/d/opt/kva/share/man/man1/grad-trap.1" ]
	[ -f "$BATS_TEST_TMPDIR/d/opt/kva/include/kvarbiter_candidate.h" ]
	# the installed tool needs no data directory: fixtures are built in
	cd "$BATS_TEST_TMPDIR"
	run -0 "$BATS_TEST_TMPDIR/d/opt/kva/bin/route-oracle" --boundaries
	assert_line --index 0 --partial '"prefix_length_h":47'
}

@test "the unit runner closes with 'N passed, N failed'" {
	run -0 "$ROOT/${KVA_BUILD:-build}/unit" json_ints
	assert_output "1 passed, 0 failed"
}

@test "lint refuses a tool without a man page or a bats file" {
	command -v mandoc >/dev/null || skip "mandoc not installed: lint cannot run"
	command -v shellcheck >/dev/null || skip "shellcheck not installed: lint cannot run"
	T="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$T/tools" "$T/tests/bench" "$T/tests/gpu" "$T/tests/fuzz" "$T/.ci"
	cp -R "$ROOT/Makefile" "$ROOT/man" "$ROOT/pipelines" "$T/"
	cp "$ROOT/.ci/run" "$T/.ci/"
	cp "$ROOT"/tests/bench/*.sh "$T/tests/bench/"
	cp "$ROOT"/tests/gpu/run.sh "$T/tests/gpu/"
	cp "$ROOT"/tests/fuzz/run.sh "$T/tests/fuzz/"
	cp "$ROOT"/tests/mutate-corpus.sh "$T/tests/"
	cp "$ROOT"/tools/*.c "$T/tools/"
	cp "$ROOT"/tests/*.bats "$T/tests/"
	run -0 mk -C "$T" lint
	assert_line --partial "tools have man pages and tests"
	touch "$T/tools/fake.c"
	run -2 mk -C "$T" lint
	assert_line "lint: tools/fake.c has no man/fake.1"
	sed 's/ROUTE-ORACLE/FAKE/' "$ROOT/man/route-oracle.1" > "$T/man/fake.1"
	run -2 mk -C "$T" lint
	assert_line "lint: tools/fake.c has no tests/fake.bats"
}
