#!/bin/sh
# The real-delta rule of audit-verdict as a test: how often does it accept
# a candidate leg?  Synthetic SGLang legs (bench_serving rows, one per rep)
# of a base and a head, the head's true output throughput effect% above
# the base's, each rep's value drawn with noise% relative Gaussian noise;
# PAIRS pairs a row, through bench-rederive | audit-verdict --scope patch,
# reading only the real-delta finding.  A row's acceptance rate is the
# share of pairs whose real-delta is PASS.  Goals (issue 18): A/A (effect
# 0) accepted at most 1% in every row; +5%/1%/9 reps and +10%/3%/9 reps
# accepted at least 95%.  Exits 1 when a goal is not met.
#
#   sh tests/bench/audit-power.sh       (BENCH_PAIRS=200, BENCH_SEED=18)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/${KVA_BUILD:-build}/bin"
PAIRS=${BENCH_PAIRS:-200}
SEED=${BENCH_SEED:-18}
T=$(mktemp -d "${TMPDIR:-/tmp}/kva-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 2' INT TERM

# The legs: Park and Miller's minimal standard generator (every product
# below 2^53, so exact in awk's doubles and the same in every awk), normal
# deviates by Box and Muller.  $T/R/P.base and $T/R/P.head for row R
# (effect noise reps) and pair P; $T/rows lists the rows.
awk -v pairs="$PAIRS" -v seed="$SEED" -v dir="$T" '
function u() { s = (s * 16807) % 2147483647; return s / 2147483647 }
function gauss(  a, b) {
	if (have) { have = 0; return spare }
	a = u(); b = u()
	spare = sqrt(-2 * log(a)) * sin(6.283185307179586 * b); have = 1
	return sqrt(-2 * log(a)) * cos(6.283185307179586 * b)
}
function leg(f, mean, noise, reps,  i) {
	for (i = 0; i < reps; i++)
		printf "{\"backend\":\"sglang\",\"completed\":1000,\"output_throughput\":%.2f,\"median_ttft_ms\":180,\"median_tpot_ms\":41,\"server_info\":{\"tp_size\":1}}\n", mean * (1 + noise / 100 * gauss()) > f
	close(f)
}
BEGIN {
	s = seed % 2147483646 + 1
	split("0 2 5 10", E); split("1 3 5", N); split("5 9 15", K)
	for (e = 1; e <= 4; e++) for (n = 1; n <= 3; n++) for (k = 1; k <= 3; k++) {
		r = E[e] "-" N[n] "-" K[k]
		print E[e], N[n], K[k] > (dir "/rows")
		system("mkdir " dir "/" r)
		for (p = 0; p < pairs; p++) {
			leg(dir "/" r "/" p ".base", 1500, N[n], K[k])
			leg(dir "/" r "/" p ".head", 1500 * (1 + E[e] / 100), N[n], K[k])
		}
	}
}'

printf 'audit-power: real-delta acceptance, %s pairs a row (seed %s)\n' "$PAIRS" "$SEED"
printf '  %6s %6s %5s %9s\n' effect noise reps accepted
fail=0
while read -r e n k; do
	acc=0 p=0
	while [ "$p" -lt "$PAIRS" ]; do
		if "$BIN/bench-rederive" "base=$T/$e-$n-$k/$p.base" "head=$T/$e-$n-$k/$p.head" |
			"$BIN/audit-verdict" --scope patch |
			grep -q '"rule":"real-delta","scope":"patch","severity":"PASS"'
		then
			acc=$((acc + 1))
		fi
		p=$((p + 1))
	done
	goal=
	if [ "$e" = 0 ]; then
		goal='<= 1%'
		[ $((acc * 100)) -le "$PAIRS" ] || goal='<= 1% NOT MET'
	elif [ "$e $n $k" = "5 1 9" ] || [ "$e $n $k" = "10 3 9" ]; then
		goal='>= 95%'
		[ $((acc * 100)) -ge $((95 * PAIRS)) ] || goal='>= 95% NOT MET'
	fi
	case $goal in *NOT*) fail=1 ;; esac
	awk -v e="$e" -v n="$n" -v k="$k" -v a="$acc" -v p="$PAIRS" -v g="$goal" \
		'BEGIN { printf "  %5s%% %5s%% %5s %8.1f%%%s\n", e, n, k, 100 * a / p, g == "" ? "" : "  " g }'
done < "$T/rows"
if [ "$fail" = 0 ]; then
	echo "  goals met"
else
	echo "  goals NOT met"
fi
exit "$fail"
