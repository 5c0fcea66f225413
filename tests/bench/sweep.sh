#!/bin/sh
# pipelines/sweep: GNU parallel's scaling and the store's merge rate, in
# one run on one machine:
#   1. a sweep of the candidate corpus: every route candidate of
#      fixtures/candidates/manifest.jsonl written in C that neither hangs
#      nor crashes (those cost a child restart and --timeout per failing
#      case; kernels run ~10^4 cases/s: neither belongs in 10^8), on grids
#      sized so that the grid shards hold BENCH_SWEEP_CASES cases in all
#      (default 10^8), four shards a candidate; once with -j 1 and once
#      with -j 2, each into its own store.  Each store is made with
#      --export first (the boundaries shards run then), so the timed part
#      is the resumed run of the grid shards alone, under GNU parallel.
#      The two stores must hold the same cases, divergences and verdicts,
#      shard by shard.  Reported: seconds and cases/s for each, and the
#      scaling ratio t(-j 1) / t(-j 2) (2 would be perfect on 2 idle cores);
#   2. the merge rate of the one writer: BENCH_MERGE_ROWS shard results
#      (one real shard result, its shard number rewritten for each of a
#      plan of that many one-case shards) merged by sweep --import (256
#      shards a transaction): rows per second.
# Fails only when outputs disagree, never on speed.
#
#   sh tests/bench/sweep.sh     (BENCH_SWEEP_CASES=100000000
#                                BENCH_MERGE_ROWS=20000)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KVA_BIN="$ROOT/${KVA_BUILD:-build}/bin"
TOTAL=${BENCH_SWEEP_CASES:-100000000}
ROWS=${BENCH_MERGE_ROWS:-20000}
SWEEP="$ROOT/pipelines/sweep"
T=$(mktemp -d "${TMPDIR:-/tmp}/kva-bench-sweep.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
KVA_CACHE_DIR="$T/cache"
export KVA_BIN KVA_CACHE_DIR

for t in parallel jq sqlite3; do
	command -v "$t" > /dev/null || { echo "bench: $t not found: skipping the sweep bench"; exit 0; }
done
fail() { echo "bench: $*"; exit 1; }
now() { date +%s.%N; }
# shard_rows DB: candidate|shard|seed|cases|diverged|verdict|classes of
# every shard of run 1, sorted
shard_rows() {
	sqlite3 -cmd '.timeout 5000' "$1" "SELECT s.candidate, s.shard, s.seed, t.cases, t.diverged, t.verdict, t.classes
		FROM sweep_shards s JOIN trap_runs t ON t.id = s.trap_run_id WHERE s.run_id = 1 ORDER BY 1, 2, 3"
}

# ---- 1. the corpus, -j 1 against -j 2 ---------------------------------------

M="$ROOT/fixtures/candidates/manifest.jsonl"
jq -r 'select(.type == "candidate" and .kind == "route" and (.form // "c") == "c" and
	((.classes // []) | index(["timeout"]) == null and index(["crash"]) == null)) |
	[.oracle, .file] | join(" ")' "$M" > "$T/cands"
n=$(wc -l < "$T/cands")
[ "$n" -gt 0 ] || fail "no candidate in $M"
per=$((TOTAL / n))
# each oracle's grid: fixed ranges and one free range, sized to $per
# cases.  Positions stay low and block sizes grow instead: a case's tables
# are as long as its position over its block size, and a grid of long
# tables is slow to make (and grad-trap's child, which makes the cases,
# answers only every 65536 of them, so it could even pass --timeout).
grid() {
	case $1 in
	radix-1d) k=$((per / 3200)); echo "b_local_idx=0:100,prefix_length=0:$((k > 0 ? k : 1)),block_size=1:33" ;;
	radix-2d) k=$((per / 20480)); echo "b_local_idx=0:20,head_idx=0:8,prefix_length_h=0:$((k > 0 ? k : 1)),total_blocks_h=1:9,block_size=1:17" ;;
	paged) k=$((per / 2048)); echo "pos=0:2048,block_size=1:$((k > 0 ? k + 1 : 2))" ;;
	paged-ring) k=$((per / 8192)); echo "pos=0:1024,block_size=1:$((k > 0 ? k + 1 : 2)),window_blocks=1:9" ;;
	flashinfer) k=$((per / 4096)); echo "batch=0:4,pos=0:1024,page_size=1:$((k > 0 ? k + 1 : 2))" ;;
	*) fail "no grid for oracle $1" ;;
	esac
}
{
	echo "{\"type\":\"sweep\",\"name\":\"bench\",\"shard_cases\":$(((per + 3) / 4)),\"timeout\":2}"
	cut -d' ' -f1 "$T/cands" | sort -u | while read -r o; do
		echo "{\"type\":\"oracle\",\"name\":\"$o\",\"grid\":[\"$(grid "$o")\"],\"seeds\":[1]}"
	done
	while read -r o f; do
		echo "{\"type\":\"candidate\",\"path\":\"$ROOT/fixtures/candidates/$f\",\"oracle\":\"$o\"}"
	done < "$T/cands"
} > "$T/bench.jsonl"

for j in 1 2; do
	sh "$SWEEP" "$T/bench.jsonl" --db "$T/j$j.db" --export "$T/ex$j" > "$T/export$j.out" ||
		fail "sweep --export failed"
	t0=$(now)
	st=0
	sh "$SWEEP" "$T/bench.jsonl" --db "$T/j$j.db" -j "$j" > "$T/j$j.out" 2> "$T/j$j.err" || st=$?
	t1=$(now)
	[ "$st" = 0 ] || { cat "$T/j$j.err"; fail "sweep -j $j exited $st"; }
	echo "$t0 $t1" > "$T/j$j.t"
done
shard_rows "$T/j1.db" > "$T/rows1"
shard_rows "$T/j2.db" > "$T/rows2"
cmp -s "$T/rows1" "$T/rows2" || { diff "$T/rows1" "$T/rows2" | head; fail "-j 1 and -j 2 stored different shards"; }
cases=$(sqlite3 "$T/j1.db" "SELECT sum(t.cases) FROM sweep_shards s JOIN trap_runs t ON t.id = s.trap_run_id WHERE s.shard LIKE 'grid:%'")
shards=$(sqlite3 "$T/j1.db" "SELECT count(*) FROM sweep_shards WHERE shard LIKE 'grid:%'")
blocked=$(sqlite3 "$T/j1.db" "SELECT count(*) FROM sweep_summary WHERE verdict = 'HARD_BLOCK'")

# ---- 2. the merge rate ------------------------------------------------------

{
	echo "{\"type\":\"sweep\",\"name\":\"merge\",\"shard_cases\":1}"
	echo "{\"type\":\"oracle\",\"name\":\"radix-2d\",\"grid\":[\"b_local_idx=0:$ROWS,head_idx=0,prefix_length_h=0,total_blocks_h=1,block_size=1\"]}"
	echo "{\"type\":\"candidate\",\"path\":\"$ROOT/fixtures/candidates/radix-2d/correct-divmod.c\",\"oracle\":\"radix-2d\"}"
} > "$T/merge.jsonl"
sh "$SWEEP" "$T/merge.jsonl" --db "$T/m.db" --export "$T/exm" > /dev/null || fail "sweep --export of the merge plan failed"
[ "$(wc -l < "$T/exm/shards.tsv")" = "$ROWS" ] || fail "the merge plan has $(wc -l < "$T/exm/shards.tsv") shards, want $ROWS"
# one real result, then the same for every shard of the plan
us=$(printf '\037')
IFS=$us read -r f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 < "$T/exm/shards.tsv"
sh "$SWEEP" --shard "$KVA_BIN" "$f1" "$f2" "$f3" "$f4" "$f5" "$f6" "$f7" "$f8" "$f9" "$f10" "$f11" > "$T/one.jsonl"
cut -d "$us" -f1 "$T/exm/shards.tsv" |
	awk -v line="$(cat "$T/one.jsonl")" '{ s = line; sub(/"idx":[0-9]+,/, "\"idx\":" $1 ",", s); print s }' > "$T/exm/results/all.jsonl"
sh "$SWEEP" "$T/merge.jsonl" --db "$T/m.db" --import "$T/exm" --progress > /dev/null 2> "$T/m.err" ||
	{ cat "$T/m.err"; fail "sweep --import failed"; }
got=$(sqlite3 "$T/m.db" "SELECT count(*) FROM sweep_shards WHERE shard LIKE 'grid:%'")
[ "$got" = "$ROWS" ] || fail "$got rows merged, want $ROWS"
merged=$(sed -n 's/^sweep: merged \([0-9]*\) shard results in \([0-9.]*\) s (\([0-9]*\) rows\/s)$/\1 \2 \3/p' "$T/m.err")
[ -n "$merged" ] || { cat "$T/m.err"; fail "sweep --import did not say how fast it merged"; }

# ---- the report -------------------------------------------------------------

read -r a1 b1 < "$T/j1.t"
read -r a2 b2 < "$T/j2.t"
awk -v n="$n" -v cases="$cases" -v shards="$shards" -v blocked="$blocked" -v cores="$(nproc)" \
	-v a1="$a1" -v b1="$b1" -v a2="$a2" -v b2="$b2" -v merged="$merged" 'BEGIN {
	t1 = b1 - a1; t2 = b2 - a2
	split(merged, m, " ")
	printf "sweep: %d route candidates of the corpus (%d HARD_BLOCK), %.0f grid cases in %d shards, %d cores\n", n, blocked, cases, shards, cores
	printf "  -j 1: %7.2f s  %.3g cases/s\n", t1, cases / t1
	printf "  -j 2: %7.2f s  %.3g cases/s\n", t2, cases / t2
	printf "  scaling t(-j 1)/t(-j 2): %.2fx (2 on two idle cores)\n", t1 / t2
	printf "  merge: %d shard rows in %.2f s: %d rows/s (one writer, sweep --import)\n", m[1], m[2], m[3]
}'
