#!/bin/sh
# route-oracle throughput through the pipe, against jq computing the same
# radix-2d formula on the same file in the same run.  Reports records per
# second and the ratio; fails only if the two disagree on any record (the
# peer doubles as an independent check), never on speed.
#
#   sh tests/bench/route-oracle.sh            (BENCH_N=1000000 queries)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/${KVA_BUILD:-build}/bin"
N=${BENCH_N:-1000000}
T=$(mktemp -d "${TMPDIR:-/tmp}/kva-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

command -v jq >/dev/null || { echo "bench: jq not found: skipping route-oracle bench"; exit 0; }

# deterministic queries from an LCG; sizes like a serving engine's
awk -v n="$N" 'BEGIN {
	s = 12345
	for (i = 0; i < n; i++) {
		s = (s * 1103515245 + 12345) % 2147483648; b = s % 512
		s = (s * 1103515245 + 12345) % 2147483648; h = s % 32
		s = (s * 1103515245 + 12345) % 2147483648; p = s % 65536
		s = (s * 1103515245 + 12345) % 2147483648; nb = 1 + s % 64
		s = (s * 1103515245 + 12345) % 2147483648; bs = 1 + s % 128
		printf "{\"type\":\"query\",\"b_local_idx\":%d,\"head_idx\":%d,\"prefix_length_h\":%d,\"total_blocks_h\":%d,\"block_size\":%d}\n", b, h, p, nb, bs
	}
}' > "$T/q.jsonl"

now() { date +%s.%N; }

t0=$(now)
"$BIN/route-oracle" --oracle radix-2d "$T/q.jsonl" > "$T/ours.jsonl"
t1=$(now)
jq -c '(.prefix_length_h + .b_local_idx) as $a
  | {type: "case"} + (del(.type))
  + {oracle: "radix-2d",
     expect: {head: .head_idx,
              block: ((($a / .block_size) | floor) % .total_blocks_h),
              offset: ($a % .block_size)}}' "$T/q.jsonl" > "$T/jq.jsonl"
t2=$(now)

if ! cmp -s "$T/ours.jsonl" "$T/jq.jsonl"; then
	echo "bench: route-oracle and jq disagree:"
	diff "$T/ours.jsonl" "$T/jq.jsonl" | head -n 6
	exit 1
fi
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	ours = b - a; peer = c - b
	printf "route-oracle pipe: %d radix-2d queries, outputs identical to jq\n", n
	printf "  route-oracle %8.3f s  %12.0f records/s\n", ours, n / ours
	printf "  jq           %8.3f s  %12.0f records/s\n", peer, n / peer
	printf "  ratio        %8.1fx  (goal >= 10x)\n", peer / ours
}'
