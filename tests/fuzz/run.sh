#!/bin/sh
# tests/fuzz/run.sh [SECONDS] - build the snapshot reader's libFuzzer target
# (tests/fuzz/snap_fuzz.c, with ASan and UBSan) and run it for SECONDS
# (default 60) from a seed corpus of valid snapshots made by kv-prefill:
# f16 and f32, with and without a ledger, partial and full, empty.
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
"$cc" -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Ilib -Ikernels -o "$f/snap_fuzz" tests/fuzz/snap_fuzz.c lib/snap.c \
	lib/pool.c lib/err.c lib/jsonl.c lib/json.c lib/buf.c \
	kernels/kvcache_cpu.c -lxxhash -ldl -lm

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
echo "fuzz: $i seed snapshots; running for ${secs}s"
cd "$f"
./snap_fuzz -max_total_time="$secs" -max_len=8192 -print_final_stats=1 \
	corpus 2> run.log || { tail -n 40 run.log; exit 1; }
sed -n -e '/^Done/p' -e '/^stat::number_of_executed_units/p' run.log
echo "fuzz: no crash, leak or sanitizer report in ${secs}s"
