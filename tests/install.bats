#!/usr/bin/env bats
# The installed product: make install, then the demo, the tour and the
# man pages from an empty directory with the checkout out of reach.

load test_helper

# make as a user types it, even when this suite runs under make asan
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -s "$@"; }

setup_file() {
	P="$BATS_FILE_TMPDIR/prefix"
	export P
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	mk -C "$ROOT" B="${KVA_BUILD:-build}" install PREFIX="$P" >&3 2>&1
}

# installed CMD...: run it in an empty directory with only the installed
# bin and the system's on PATH, no KVARBITER_DATA, and the checkout out of
# reach: an empty file system is mounted over it in a mount namespace of
# its own, so a path of the checkout read is a path that is not there
installed() {
	mkdir -p "$BATS_TEST_TMPDIR/empty"
	cd "$BATS_TEST_TMPDIR/empty"
	env -u KVARBITER_DATA -u KVA_PROMPTS -u KVA_REPLAY_DIR \
		PATH="$P/bin:/usr/bin:/bin" ROOT="$ROOT" \
		unshare -rm sh -c 'mount -t tmpfs none "$ROOT" &&
			[ -z "$(ls -A "$ROOT")" ] && exec "$@"' sh "$@"
}

@test "install: the prefix is outside the checkout and the checkout can be hidden" {
	[[ $P != "$ROOT"/* ]]
	run -0 installed sh -c 'ls -A "$ROOT" | wc -l; pwd'
	assert_line --index 0 0
	assert_line --index 1 "$BATS_TEST_TMPDIR/empty"
}

@test "install: bin, libexec/kvarbiter, share/kvarbiter, man1, man7" {
	for t in route-oracle grad-trap llm-gen kv-prefill kv-snapshot \
		bench-rederive audit-verdict kvarbiter; do
		[ -x "$P/bin/$t" ] || { echo "no $P/bin/$t"; false; }
	done
	for t in auto-heal bisect git-bisect-trap nightly patch-audit report \
		sweep sweep.sbatch tour; do
		[ -x "$P/libexec/kvarbiter/$t" ] || { echo "no $P/libexec/kvarbiter/$t"; false; }
	done
	[ ! -e "$P/libexec/kvarbiter/kvarbiter" ]
	[ -f "$P/share/kvarbiter/prompts/gen.txt" ]
	[ -f "$P/share/kvarbiter/replay/auto-heal-radix-2d.jsonl" ]
	[ -f "$P/share/kvarbiter/papers/radix.txt" ]
	[ -f "$P/share/kvarbiter/candidates/radix-2d/no-ring-wrap.c" ]
	[ -f "$P/include/kvarbiter_candidate.h" ]
}

@test "install: man -M lists every page in its section" {
	for t in route-oracle grad-trap llm-gen kv-prefill kv-snapshot \
		bench-rederive audit-verdict; do
		run -0 installed man -M "$P/share/man" -w 1 "$t"
		assert_output "$P/share/man/man1/$t.1"
	done
	run -0 installed man -M "$P/share/man" -w 7 kvarbiter
	assert_output "$P/share/man/man7/kvarbiter.7"
}

@test "install: the demo, kvarbiter auto-heal, runs with the checkout out of reach" {
	run -0 installed kvarbiter auto-heal --oracle radix-2d
	assert_line --index 0 "[QUICK DISTILL] radix-2d from radix.txt"
	assert_line --partial "[LLM UNIT TEST PASS]"
	assert_line --partial "[AUTOGRAD TRAP FAIL"
	assert_line --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
}

@test "install: llm-gen finds its prompts and replay corpus in PREFIX/share/kvarbiter" {
	cp "$ROOT/tests/fixtures/llm-gen/gen.jsonl" "$BATS_TEST_TMPDIR/gen.jsonl"
	run -0 installed llm-gen "$BATS_TEST_TMPDIR/gen.jsonl"
	run -0 jq -r '[.type, .source, .symbol] | join(" ")' <<< "$output"
	assert_output "candidate replay route_radix_2d"
}

@test "install: kvarbiter --help lists the pipelines; an unknown one is exit 2, named" {
	run -0 installed kvarbiter --help
	assert_line --regexp '^  auto-heal +ImpactArbiter'
	assert_line --regexp '^  tour '
	refute_line --regexp '^  kvarbiter '
	run -2 installed kvarbiter auto-heel --oracle radix-2d
	assert_output "kvarbiter: no pipeline auto-heel in $P/libexec/kvarbiter (kvarbiter --help lists them)"
	run -2 installed kvarbiter ../bin/llm-gen
	assert_output "kvarbiter: not a pipeline name: ../bin/llm-gen (kvarbiter --help lists them)"
	run -2 installed kvarbiter
	assert_line "usage: kvarbiter NAME [ARG ...]"
}

@test "install: KVARBITER_DATA is the data directory; not a directory is exit 2" {
	cp "$ROOT/tests/fixtures/llm-gen/gen.jsonl" "$BATS_TEST_TMPDIR/gen.jsonl"
	cp -R "$P/share/kvarbiter" "$BATS_TEST_TMPDIR/data"
	rm "$BATS_TEST_TMPDIR/data/prompts/gen.txt"
	run -2 installed env KVARBITER_DATA="$BATS_TEST_TMPDIR/data" llm-gen "$BATS_TEST_TMPDIR/gen.jsonl"
	assert_output --partial "prompt template $BATS_TEST_TMPDIR/data/prompts/gen.txt: No such file or directory"
	run -2 installed env KVARBITER_DATA="$BATS_TEST_TMPDIR/nowhere" llm-gen "$BATS_TEST_TMPDIR/gen.jsonl"
	assert_output "llm-gen: KVARBITER_DATA: not a directory: $BATS_TEST_TMPDIR/nowhere"
}

@test "install: kvarbiter tour walks through all seven tools, each step checked" {
	run -0 installed kvarbiter tour
	for t in route-oracle grad-trap llm-gen kv-prefill kv-snapshot \
		bench-rederive audit-verdict; do
		assert_line --regexp "^== [0-9]+\. $t: "
	done
	assert_line "[AUTOGRAD TRAP PASS] divergence=0.00e+00 <= tol=1e-04 (4263 cases, oracle radix-2d)"
	assert_line "VERDICT PASS: pass"
	assert_line --index -1 "tour: 10 steps, each as shown"
}

@test "install: a tour step that does not do what it shows is exit 2, named" {
	cp -R "$P/share/kvarbiter" "$BATS_TEST_TMPDIR/data"
	# the clean win's candidate leg without its rows: FAIL, not PASS
	: > "$BATS_TEST_TMPDIR/data/audit/clean-win/cand/bench_runs.jsonl"
	run -2 --separate-stderr installed env KVARBITER_DATA="$BATS_TEST_TMPDIR/data" kvarbiter tour
	assert_line "== 9. audit-verdict: a clean kernel win signed off (exit 0)"
	refute_line --partial "== 10."
	assert_equal "${stderr##*$'\n'}" "tour: step 9 (audit-verdict: a clean kernel win signed off (exit 0)): audit-verdict exit 1, not 0"
}

@test "docs: README names every man page and links nothing a clone lacks" {
	for m in "$ROOT"/man/*.[17]; do
		grep -qF "man -l man/${m##*/}" "$ROOT/README.md" ||
			{ echo "README does not name man/${m##*/}"; false; }
	done
	# every relative link and backquoted path of README is in the checkout
	run -0 grep -oE '\]\([^)#]+\)|`\.\./[^`]*`' "$ROOT/README.md"
	while IFS= read -r l; do
		l=${l#](}; l=${l%)}; l=${l//\`/}
		case $l in
		http*) continue ;;
		../*|/*) echo "README refers to $l, outside the checkout"; false ;;
		esac
		[ -e "$ROOT/$l" ] || { echo "README refers to $l, not in the checkout"; false; }
	done <<< "$output"
	run -1 grep -n 'first three' "$ROOT/README.md"
}

@test "make uninstall with the same DESTDIR and PREFIX leaves no file behind" {
	D="$BATS_TEST_TMPDIR/stage"
	run -0 mk -C "$ROOT" B="${KVA_BUILD:-build}" install DESTDIR="$D" PREFIX=/opt/kva
	[ -x "$D/opt/kva/bin/kvarbiter" ]
	[ -f "$D/opt/kva/share/kvarbiter/prompts/gen.txt" ]
	run -0 mk -C "$ROOT" B="${KVA_BUILD:-build}" uninstall DESTDIR="$D" PREFIX=/opt/kva
	run -0 find "$D" -type f
	assert_output ""
}

@test "install: kvarbiter sweep --export names the installed sweep.sbatch" {
	S="$BATS_TEST_TMPDIR/s.jsonl"
	printf '%s\n' '{"type":"sweep","name":"inst","timeout":2}' \
		'{"type":"oracle","name":"radix-2d","grid":["b_local_idx=0:4,head_idx=0:1,prefix_length_h=0:8,total_blocks_h=1:3,block_size=1:3"],"seeds":[1]}' \
		"{\"type\":\"candidate\",\"path\":\"$P/share/kvarbiter/candidates/radix-2d/correct-divmod.c\",\"oracle\":\"radix-2d\"}" > "$S"
	run -0 installed kvarbiter sweep "$S" --db "$BATS_TEST_TMPDIR/t.db" --export "$BATS_TEST_TMPDIR/ex"
	assert_line --regexp "^sbatch --array=1-[0-9]+ $P/libexec/kvarbiter/sweep\.sbatch $BATS_TEST_TMPDIR/ex\$"
	[ -f "$P/libexec/kvarbiter/sweep.sbatch" ]
}

@test "install: a tree staged under DESTDIR runs where it is, and through a link to kvarbiter" {
	D="$BATS_TEST_TMPDIR/stage"
	run -0 mk -C "$ROOT" B="${KVA_BUILD:-build}" install DESTDIR="$D" PREFIX=/opt/kva
	mkdir "$BATS_TEST_TMPDIR/links"
	ln -s "$D/opt/kva/bin/kvarbiter" "$BATS_TEST_TMPDIR/links/kvarbiter"
	run -0 installed "$BATS_TEST_TMPDIR/links/kvarbiter" auto-heal --oracle radix-2d
	assert_line --regexp '^\[FINAL PASS\] [0-9]+ cases, divergence=0, attempt 1$'
	cp "$ROOT/tests/fixtures/llm-gen/gen.jsonl" "$BATS_TEST_TMPDIR/gen.jsonl"
	run -0 installed "$D/opt/kva/bin/llm-gen" "$BATS_TEST_TMPDIR/gen.jsonl"
	run -0 jq -r .source <<< "$output"
	assert_output replay
}
