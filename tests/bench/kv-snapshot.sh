#!/bin/sh
# kv-snapshot benchmark (SPEC section 7): save and verify of a 1 GiB pool
# snapshot against `cat FILE > /dev/null` and the system's memcpy of the
# same bytes into fresh memory (tests/bench/memcpy_peer.c), in the same
# run, best of BENCH_REPS.  Goal: each of save and verify at >= 50% of the
# slower peer.  Reported as ratios, never a timed pass/fail.
#
# The pool: 8 layers x 8 kv-heads x 128 dims, f16, 32768 tokens = 1 GiB.
# Save = (prefill + snapshot) - (prefill alone): the atomic write with its
# fsync, checksums and ledger.  Verify = kv-snapshot verify: the strict
# parse, every chunk checksum and the trailer.  Files go to BENCH_DIR
# (default /dev/shm, so the disk is not what is measured).
#
#   sh tests/bench/kv-snapshot.sh     (BENCH_TOKENS=32768 BENCH_REPS=3)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/${KVA_BUILD:-build}/bin"
TOK=${BENCH_TOKENS:-32768}
REPS=${BENCH_REPS:-3}
DIR=${BENCH_DIR:-/dev/shm}
[ -d "$DIR" ] && [ -w "$DIR" ] || DIR=${TMPDIR:-/tmp}
T=$(mktemp -d "$DIR/kva-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
POOL="--pool-tokens $TOK --layers 8 --kv-heads 8 --head-dim 128 --dtype f16 --no-events"

now() { date +%s.%N; }

# best of REPS wall seconds of a command
best() {
	b=""
	i=0
	while [ "$i" -lt "$REPS" ]; do
		# a fresh file each time (FRESH=1): replacing the old one would
		# time the freeing of its pages too
		[ "${FRESH:-0}" = 0 ] || rm -f "$T/a.snap"
		t0=$(now)
		"$@" > "$T/out"
		t1=$(now)
		b=$(awk -v a="$t0" -v z="$t1" -v b="$b" \
			'BEGIN { t = z - a; if (b == "" || t < b) b = t; print b }')
		i=$((i + 1))
	done
	echo "$b"
}

echo "{\"type\":\"prefill\",\"tokens\":$TOK}" > "$T/p.jsonl"
printf '{"type":"prefill","tokens":%d}\n{"type":"snapshot","path":"%s"}\n' "$TOK" "$T/a.snap" > "$T/s.jsonl"
# shellcheck disable=SC2086 # POOL is a list of options
tp=$(best "$BIN/kv-prefill" $POOL "$T/p.jsonl")
# shellcheck disable=SC2086
ts=$(FRESH=1 best "$BIN/kv-prefill" $POOL "$T/s.jsonl")
bytes=$(wc -c < "$T/a.snap")
tv=$(best "$BIN/kv-snapshot" verify "$T/a.snap")
grep -q '"ok":true' "$T/out" || { echo "bench: the snapshot does not verify"; cat "$T/out"; exit 1; }
tc=$(best cat "$T/a.snap")
cc -O2 -o "$T/memcpy_peer" "$ROOT/tests/bench/memcpy_peer.c"
tm=$("$T/memcpy_peer" "$bytes" "$REPS")
awk -v b="$bytes" -v tp="$tp" -v ts="$ts" -v tv="$tv" -v tc="$tc" -v tm="$tm" -v d="$DIR" 'BEGIN {
	save = ts - tp; mb = b / 1e6
	slow = tc > tm ? tc : tm
	printf "kv-snapshot: a %d-byte snapshot (1 GiB pool) in %s\n", b, d
	printf "  save       %8.3f s  %8.0f MB/s  (prefill+snapshot %.3f s - prefill %.3f s)\n", save, mb / save, ts, tp
	printf "  verify     %8.3f s  %8.0f MB/s\n", tv, mb / tv
	printf "  cat        %8.3f s  %8.0f MB/s\n", tc, mb / tc
	printf "  memcpy     %8.3f s  %8.0f MB/s\n", tm, mb / tm
	printf "  save   at %5.0f%% of the slower peer (goal >= 50%%)\n", 100 * slow / save
	printf "  verify at %5.0f%% of the slower peer (goal >= 50%%)\n", 100 * slow / tv
}'
