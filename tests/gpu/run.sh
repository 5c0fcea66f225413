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
exec "$b/kvcache_gpu"
