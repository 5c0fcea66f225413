#!/bin/sh
# grad-trap --mutate from a cold cache (generate, build every mutant in
# the confined compiler, trap each on the boundary set, judge each
# survivor on the grid), against plain cc building as many shared objects
# of the same file, in parallel over the same cores, in the same run.
# Issue 19's goal: about 200 mutants of a 20-line route in <= 10 s on 2
# cores.  flashinfer/correct-basic.c is such a route (21 lines, 213
# mutants); radix-2d/correct-divmod.c (70) is the demo's.  Fails only if
# a run itself fails (exit 2) or its summary does not add up, never on
# speed.
#
#   sh tests/bench/mutate.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/${KVA_BUILD:-build}/bin"
J=$(getconf _NPROCESSORS_ONLN)
T=$(mktemp -d "${TMPDIR:-/tmp}/kva-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
cd "$ROOT"

now() { date +%s.%N; }

# bench CANDIDATE ORACLE: one row pair
bench() {
	cand=$1 oracle=$2
	rm -rf "$T/cache" "$T"/c*.c "$T"/c*.so
	t0=$(now)
	rc=0
	KVA_CACHE_DIR="$T/cache" "$BIN/grad-trap" --mutate --candidate "$cand" \
		--oracle "$oracle" --boundaries -j "$J" > "$T/out.jsonl" || rc=$?
	t1=$(now)
	[ "$rc" -le 1 ] || { echo "bench: grad-trap --mutate $cand failed (exit $rc)"; exit 1; }
	n=$(jq -s '.[-1] | if .killed + .survived + .equivalent_likely + .not_compiled == .total
		then .total else error("the summary does not add up") end' "$T/out.jsonl")
	eq=$(jq -s '.[-1].equivalent_likely' "$T/out.jsonl")

	# the peer: n shared objects of the same file, each made distinct, by cc
	i=0
	while [ "$i" -lt "$n" ]; do
		{ cat "$cand"; printf '/* copy %d */\n' "$i"; } > "$T/c$i.c"
		i=$((i + 1))
	done
	t2=$(now)
	find "$T" -name "c*.c" -print0 | xargs -0 -P "$J" -I{} cc -O2 -shared -fPIC -Ilib -o {}.so {}
	t3=$(now)

	awk -v c="${cand#fixtures/candidates/}" -v l="$(wc -l < "$cand")" -v n="$n" -v q="$eq" \
	    -v j="$J" -v a="$t0" -v b="$t1" -v c2="$t2" -v d="$t3" 'BEGIN {
		ours = b - a; peer = d - c2
		printf "grad-trap --mutate: %s (%d lines), %d mutants (%d equivalent_likely, each judged on the grid), -j %d, cold cache\n", c, l, n, q, j
		printf "  --mutate      %8.3f s  %8.1f mutants/s  (%.1f s per 200; goal <= 10 s)\n", ours, n / ours, 200 * ours / n
		printf "  plain cc      %8.3f s  %8.1f builds/s\n", peer, n / peer
		printf "  ratio         %8.1fx  the time of plain cc building as many files\n", ours / peer
	}'
}

bench fixtures/candidates/flashinfer/correct-basic.c flashinfer
bench fixtures/candidates/radix-2d/correct-divmod.c radix-2d
