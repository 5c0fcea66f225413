#!/bin/sh
# kv-prefill benchmarks (SPEC section 7), ratios not timed tests:
#  1. --no-data: time per chunk allocation as the pool grows from 2^10 to
#     2^20 blocks, each with a prompt 4x the pool.  The goal (slowest size
#     within 2x of the fastest) is judged on the pool's own cost, timed in
#     process with warm chunk records (tests/bench/pool_alloc.c); the
#     tool end to end is shown beside it, cold, for what a user sees.
#  2. with data: KV bytes written per second (the generator, the write
#     kernel, page-outs to the host store) against the system's memcpy of
#     the same bytes into fresh memory (tests/bench/memcpy_peer.c), in the
#     same run, best of BENCH_REPS.  Goal: >= 50% of memcpy.
#
#   sh tests/bench/kv-prefill.sh     (BENCH_ALLOCS=4194304 BENCH_REPS=3)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/${KVA_BUILD:-build}/bin"
ALLOCS=${BENCH_ALLOCS:-4194304}
REPS=${BENCH_REPS:-3}
T=$(mktemp -d "${TMPDIR:-/tmp}/kva-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

now() { date +%s.%N; }

# best of REPS wall seconds of: kv-prefill ARGS < FILE
best() {
	file=$1
	shift
	b=""
	i=0
	while [ "$i" -lt "$REPS" ]; do
		t0=$(now)
		"$BIN/kv-prefill" "$@" < "$file" > "$T/out.jsonl"
		t1=$(now)
		b=$(awk -v a="$t0" -v z="$t1" -v b="$b" \
			'BEGIN { t = z - a; if (b == "" || t < b) b = t; print b }')
		i=$((i + 1))
	done
	echo "$b"
}

echo "pool allocation, warm (tests/bench/pool_alloc.c): ns per chunk allocation,"
echo "prompt = 4 x pool, chunk 64, no data, lru"
cc -O2 -I"$ROOT/lib" -I"$ROOT/kernels" -o "$T/pool_alloc" \
	"$ROOT/tests/bench/pool_alloc.c" "$BIN/../libkvarbiter.a" -lm
"$T/pool_alloc" "$ALLOCS" > "$T/warm.txt"
awk '{ printf "  2^%-2d blocks  %9d allocations  %7.1f ns/alloc\n", $1, $2, $3
	if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3 }
END { printf "  spread       %.2fx slowest/fastest  (goal <= 2x)\n", max / min }' "$T/warm.txt"

echo "kv-prefill --no-data end to end, cold (page faults for the chunk"
echo "records and the final state record included; an empty run subtracted)"
echo '{"type":"state"}' > "$T/empty.jsonl"
: > "$T/flat.txt"
for k in 10 12 14 16 18 20; do
	nb=$((1 << k))
	pt=$((nb * 64))
	rounds=$((ALLOCS / (4 * nb)))
	[ "$rounds" -ge 1 ] || rounds=1
	awk -v n="$rounds" -v t="$((pt * 4))" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "{\"type\":\"prefill\",\"tokens\":%d}\n", t }' > "$T/p.jsonl"
	tr=$(best "$T/p.jsonl" --no-data --no-events --pool-tokens "$pt")
	allocs=$(sed -n 's/.*"allocs":\([0-9]*\).*/\1/p' "$T/out.jsonl")
	[ "$allocs" = $((rounds * nb * 4)) ] || { echo "bench: expected $((rounds * nb * 4)) allocations, got $allocs"; exit 1; }
	te=$(best "$T/empty.jsonl" --no-data --no-events --pool-tokens "$pt")
	awk -v k="$k" -v r="$tr" -v e="$te" -v a="$allocs" 'BEGIN {
		printf "  2^%-2d blocks  %9d allocations  %7.1f ns/alloc\n", k, a, (r - e) / a * 1e9 }' | tee -a "$T/flat.txt"
done
awk '{ v = $(NF - 1); if (min == "" || v < min) min = v; if (v > max) max = v }
END { printf "  spread       %.2fx slowest/fastest\n", max / min }' "$T/flat.txt"

cc -O2 -o "$T/memcpy_peer" "$ROOT/tests/bench/memcpy_peer.c"
echo "kv-prefill with data: 4 layers x 8 kv-heads x 128 dims, f16, pool 4096 tokens"
for mult in 1 4; do
	tok=$((4096 * mult))
	echo "{\"type\":\"prefill\",\"tokens\":$tok}" > "$T/d.jsonl"
	t=$(best "$T/d.jsonl" --no-events --pool-tokens 4096 --layers 4 \
		--kv-heads 8 --head-dim 128 --dtype f16)
	bytes=$(sed -n 's/.*"bytes_written":\([0-9]*\).*/\1/p' "$T/out.jsonl")
	evs=$(sed -n 's/.*"evictions":\([0-9]*\).*/\1/p' "$T/out.jsonl")
	peer=$("$T/memcpy_peer" "$bytes" "$REPS")
	awk -v m="$mult" -v b="$bytes" -v t="$t" -v p="$peer" -v ev="$evs" 'BEGIN {
		printf "  prompt %dx pool (%d evictions): %d bytes\n", m, ev, b
		printf "    kv-prefill %8.3f s  %8.0f MB/s\n", t, b / t / 1e6
		printf "    memcpy     %8.3f s  %8.0f MB/s\n", p, b / p / 1e6
		printf "    ratio      %8.0f%% of memcpy  (goal >= 50%%)\n", 100 * p / t }'
done
