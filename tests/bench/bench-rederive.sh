#!/bin/sh
# bench-rederive on a million run records across four legs, against jq -s
# computing just the four medians of the same file in the same run.
# bench-rederive does far more (every leg statistic, three comparisons
# with 10000-replicate bootstrap CIs and Mann-Whitney tests); the ratio
# is reported, not judged.  Fails only if the two disagree on a median
# (the peer doubles as an independent check), never on speed.
#
#   sh tests/bench/bench-rederive.sh          (BENCH_N=1000000 rows)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/${KVA_BUILD:-build}/bin"
N=${BENCH_N:-1000000}
T=$(mktemp -d "${TMPDIR:-/tmp}/kva-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

command -v jq >/dev/null || { echo "bench: jq not found: skipping bench-rederive bench"; exit 0; }

# deterministic rows from an LCG: four legs a few percent apart, noise
# of about 5%, two decimals as a harness would print them
awk -v n="$N" 'BEGIN {
	s = 2024
	for (i = 0; i < n; i++) {
		s = (s * 1103515245 + 12345) % 2147483648
		leg = i % 4
		printf "{\"type\":\"run\",\"leg\":\"leg%d\",\"metric\":\"tokens_per_s\",\"value\":%.2f}\n", leg, 1000 * (1 + 0.02 * leg) + (s % 100000) / 1000
	}
}' > "$T/rows.jsonl"

now() { date +%s.%N; }

t0=$(now)
"$BIN/bench-rederive" --max-reps 0 "$T/rows.jsonl" > "$T/ours.jsonl"
t1=$(now)
jq -s -c 'group_by(.leg) | map({leg: .[0].leg,
    median: (map(.value) | sort
             | if length % 2 == 1 then .[(length - 1) / 2]
               else (.[length / 2 - 1] + .[length / 2]) / 2 end)}) | .[]' \
	"$T/rows.jsonl" > "$T/jq.jsonl"
t2=$(now)

jq -c 'select(.type == "leg") | {leg, median}' "$T/ours.jsonl" > "$T/ours-medians.jsonl"
if ! jq -e -n --slurpfile a "$T/ours-medians.jsonl" --slurpfile b "$T/jq.jsonl" '
	($a | length) == 4 and ($a | length) == ($b | length)
	and ([range(0; $a | length) | $a[.].leg == $b[.].leg
	      and (($a[.].median - $b[.].median) | fabs) <= 1e-9 * $b[.].median] | all)' >/dev/null
then
	echo "bench: bench-rederive and jq disagree on a median:"
	paste "$T/ours-medians.jsonl" "$T/jq.jsonl"
	exit 1
fi
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	ours = b - a; peer = c - b
	printf "bench-rederive: %d rows, 4 legs; medians identical to jq -s\n", n
	printf "  bench-rederive %8.3f s  %12.0f rows/s  (all statistics, 3 comparisons, 10000-replicate CIs)\n", ours, n / ours
	printf "  jq -s          %8.3f s  %12.0f rows/s  (the 4 medians only)\n", peer, n / peer
	printf "  ratio          %8.1fx  (goal >= 5x)\n", peer / ours
}'
