#!/bin/sh
# tests/gpu/run.sh - build tests/gpu/kvcache_gpu.cu with kernels/kvcache.cu
# and the CPU twins (kernels/kvcache_cpu.c, built by cc), then run it: the
# CUDA write and gather kernels against the CPU twins, bit for bit.
#
# Prints "SKIP: <reason>" and exits 0 when nvcc is missing or no CUDA
# device is usable.  A build failure or a mismatch exits non-zero.
# Objects go to $KVA_BUILD/gpu (default build/gpu).  NVCC, CC and
# NVCCFLAGS (e.g. -arch=sm_90) may be set in the environment; NVCC=
# (empty) means no nvcc.
set -eu

cd "$(dirname "$0")/../.."
b=${KVA_BUILD:-build}/gpu
# NVCC set, even to nothing (as `make asan` does), overrides the search.
if [ "${NVCC+set}" = set ]; then
	nvcc=$NVCC
elif command -v nvcc >/dev/null; then
	nvcc=$(command -v nvcc)
elif [ -x /usr/local/cuda/bin/nvcc ]; then
	nvcc=/usr/local/cuda/bin/nvcc
else
	nvcc=
fi
if [ -z "$nvcc" ]; then
	echo "SKIP: nvcc not found (NVCC empty, or not in PATH nor /usr/local/cuda/bin)"
	exit 0
fi

mkdir -p "$b"
# shellcheck disable=SC2086 # NVCCFLAGS is a list of words
{
	"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Ilib -Ikernels \
		-c kernels/kvcache_cpu.c -o "$b/kvcache_cpu.o"
	"$nvcc" -O2 -std=c++17 ${NVCCFLAGS:-} -Ilib -Ikernels \
		-c kernels/kvcache.cu -o "$b/kvcache.o"
	"$nvcc" -O2 -std=c++17 ${NVCCFLAGS:-} -Ilib -Ikernels \
		-c tests/gpu/kvcache_gpu.cu -o "$b/kvcache_gpu.o"
	"$nvcc" ${NVCCFLAGS:-} -o "$b/kvcache_gpu" "$b/kvcache_gpu.o" \
		"$b/kvcache.o" "$b/kvcache_cpu.o"
}
rc=0
"$b/kvcache_gpu" > "$b/kvcache_gpu.out" || rc=$?
cat "$b/kvcache_gpu.out"
[ "$rc" = 0 ] || exit "$rc"
grep -q '^SKIP:' "$b/kvcache_gpu.out" && exit 0

# kv-prefill's pool on the GPU against the same run on the CPU twins, byte
# for byte: writes, page-outs, page-ins (pins, reselect), probe, verify.
bin=${KVA_BUILD:-build}/bin/kv-prefill
lib=${KVA_BUILD:-build}/cuda/libkvcache_cuda.so
if [ ! -x "$bin" ] || [ ! -f "$lib" ]; then
	echo "SKIP: kv-prefill --device cuda: $bin or $lib not built (make all cuda)"
	exit 0
fi
in=$b/kv-prefill.in
{
	echo '{"type":"pin","lo":1000,"hi":1100}'
	echo '{"type":"prefill","tokens":20480}'
	echo '{"type":"scores","scores":[5,4,3,2,1,9,8,7]}'
	echo '{"type":"reselect"}'
	echo '{"type":"append","tokens":77}'
	echo '{"type":"probe","query_pos":0}'
} > "$in"
for dt in f16 f32; do
	set -- --pool-tokens 1024 --layers 2 --kv-heads 4 --head-dim 64 \
		--dtype "$dt" --policy score --verify
	"$bin" "$@" "$in" > "$b/cpu.out"
	KVA_CUDA_KERNELS=$lib "$bin" "$@" --device cuda "$in" > "$b/gpu.out"
	if ! cmp -s "$b/cpu.out" "$b/gpu.out"; then
		echo "FAIL: kv-prefill --device cuda ($dt) differs from the CPU run"
		diff "$b/cpu.out" "$b/gpu.out" | head -n 6
		exit 1
	fi
	echo "ok: kv-prefill --device cuda ($dt): $(wc -l < "$b/gpu.out") records identical to the CPU run"
done
