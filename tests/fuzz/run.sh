#!/bin/sh
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer targets (with ASan and
# UBSan) and run each for SECONDS (default 60):
#   snap_fuzz  the snapshot reader (tests/fuzz/snap_fuzz.c), from a seed
#              corpus of valid snapshots made by kv-prefill: f16 and f32,
#              with and without a ledger, partial and full, empty;
#   json_fuzz  the JSON parser and writers (tests/fuzz/json_fuzz.c), from
#              the records of the test fixtures;
#   expr_fuzz  the formula parser and evaluator (tests/fuzz/expr_fuzz.c),
#              from every built-in oracle's formula and fixtures/formulas;
#   bench_fuzz bench-rederive's readers and derivation (tests/fuzz/bench_fuzz.c),
#              from the raw benchmark files of fixtures/bench.
#
# Prints "SKIP: <reason>" and exits 0 when clang or its libFuzzer runtime
# is missing.  A crash, a leak or a sanitizer report exits non-zero and
# leaves the input in $KVA_BUILD/fuzz/.  FUZZ_CC picks the compiler.
set -eu

cd "$(dirname "$0")/../.."
b=${KVA_BUILD:-build}
secs=${1:-60}
cc=${FUZZ_CC:-clang}
f=$b/fuzz
mkdir -p "$f/corpus"

if [ "$secs" = 0 ]; then
	echo "SKIP: fuzz: 0 seconds asked (make asan: the target carries ASan and UBSan itself)"
	exit 0
fi
if ! command -v "$cc" >/dev/null; then
	echo "SKIP: fuzz: $cc not found (apt-get install clang libclang-rt-dev)"
	exit 0
fi
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$f/probe.c"
if ! "$cc" -fsanitize=fuzzer -o "$f/probe" "$f/probe.c" 2> "$f/probe.log"; then
	echo "SKIP: fuzz: $cc cannot link libFuzzer ($(head -n 1 "$f/probe.log"))"
	exit 0
fi
fuzzcc() { # OUT SOURCES...
	out=$1
	shift
	"$cc" -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Ilib -Ikernels -o "$f/$out" "$@" -lxxhash -ldl -lm
}
fuzzcc snap_fuzz tests/fuzz/snap_fuzz.c lib/snap.c lib/pool.c lib/err.c \
	lib/jsonl.c lib/json.c lib/buf.c kernels/kvcache_cpu.c
fuzzcc json_fuzz tests/fuzz/json_fuzz.c lib/json.c lib/buf.c lib/err.c \
	lib/jsonl.c
fuzzcc expr_fuzz tests/fuzz/expr_fuzz.c lib/expr.c lib/route.c \
	lib/formulas.c lib/err.c lib/buf.c lib/json.c lib/jsonl.c
fuzzcc bench_fuzz tests/fuzz/bench_fuzz.c lib/bench.c lib/bench_cfg.c \
	lib/bench_claim.c lib/bench_out.c lib/bfmt_*.c lib/stats.c lib/rng.c \
	lib/sha256.c lib/cli.c lib/err.c lib/buf.c lib/json.c lib/jsonl.c

# the seed corpus: small valid snapshots of every shape the writer makes
kvp=$b/bin/kv-prefill
[ -x "$kvp" ] || { echo "fuzz: $kvp not built (make all)"; exit 2; }
i=0
for dt in f16 f32; do
	for led in true false; do
		for n in 0 3 17 40; do
			for cut in '' ',"max_chunks":2'; do
				i=$((i + 1))
				printf '{"type":"pin","lo":4,"hi":6}\n{"type":"prefill","tokens":%d}\n{"type":"scores","scores":[1.5]}\n{"type":"snapshot","path":"%s","ledger":%s%s}\n' \
					"$n" "$f/corpus/seed$i.snap" "$led" "$cut" |
					sed "$([ "$n" = 0 ] && echo '/scores/d' || echo '')" |
					"$kvp" --pool-tokens 32 --chunk-tokens 4 --head-dim 4 \
						--kv-heads 2 --dtype "$dt" --no-events > /dev/null
			done
		done
	done
done
echo "fuzz: $i seed snapshots"

# the JSON seeds: one record a file, from every fixture's JSONL
mkdir -p "$f/json-corpus" "$f/expr-corpus"
i=0
for j in tests/fixtures/*/*.jsonl fixtures/*/*.jsonl; do
	[ -f "$j" ] || continue
	while IFS= read -r line; do
		i=$((i + 1))
		printf '%s' "$line" > "$f/json-corpus/seed$i.json"
		[ "$i" -lt 400 ] || break 2
	done < "$j"
done
echo "fuzz: $i seed records"

# the formula seeds: every built-in oracle's formula, and the user ones
i=0
for o in $("$b/bin/route-oracle" --list | sed -n 's/.*"name":"\([^"]*\)".*/\1/p'); do
	i=$((i + 1))
	"$b/bin/route-oracle" --oracle "$o" --print-formula > "$f/expr-corpus/$o.kvf"
done
for k in fixtures/formulas/*.kvf; do
	i=$((i + 1))
	cp "$k" "$f/expr-corpus/"
done
echo "fuzz: $i seed formulas"

# the benchmark seeds: every raw file of fixtures/bench, whole
mkdir -p "$f/bench-corpus"
i=0
for j in $(find fixtures/bench -name '*.json' -o -name '*.jsonl' | sort); do
	i=$((i + 1))
	cp "$j" "$f/bench-corpus/seed$i.json"
done
echo "fuzz: $i seed benchmark files"

cd "$f"
for t in snap_fuzz:corpus:8192 json_fuzz:json-corpus:4096 \
	expr_fuzz:expr-corpus:4096 bench_fuzz:bench-corpus:16384; do
	name=${t%%:*}
	rest=${t#*:}
	echo "fuzz: $name for ${secs}s"
	"./$name" -max_total_time="$secs" -max_len="${rest#*:}" \
		-print_final_stats=1 "${rest%%:*}" 2> "$name.log" ||
		{ tail -n 40 "$name.log"; exit 1; }
	sed -n -e '/^Done/p' -e '/^stat::number_of_executed_units/p' "$name.log"
done
echo "fuzz: no crash, leak or sanitizer report in ${secs}s each"
