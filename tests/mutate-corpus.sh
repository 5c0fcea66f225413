#!/bin/bash
# grad-trap --mutate --boundaries on every correct C candidate of the
# corpus (the PASS entries of fixtures/candidates/**/manifest.jsonl whose
# kind is route, write or gather): issue 19's claim that the boundary set
# kills every mutant that is not equivalent.  A kernel is mutated once per
# layout it serves (its manifest's "layouts", else nhd, hnd and vllm-x),
# since code only another layout runs is equivalent_likely in each run; a
# mutant is killed when any layout's run kills it, survived when none
# kills it and one leaves it a survivor, equivalent_likely when every run
# calls it so.  Prints one row a candidate and one an oracle, and exits 1
# when any mutant survived, 2 on trouble.
#
#   tests/mutate-corpus.sh [--routes | --kernels] [--match ERE] [--jobs N]
#                          [--timeout S]
#       (--match: only the candidates whose path matches ERE)
#       (KVA_BUILD=build; the per-run records stay in $KVA_MUTATE_OUT if set)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/${KVA_BUILD:-build}/bin"
only="" match="" jobs=$(getconf _NPROCESSORS_ONLN) timeout=2
while [ $# -gt 0 ]; do
	case $1 in
	--routes) only=route ;;
	--kernels) only=kernel ;;
	--match) match=$2; shift ;;
	--jobs) jobs=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	*) echo "usage: $0 [--routes | --kernels] [--match ERE] [--jobs N] [--timeout S]" >&2; exit 2 ;;
	esac
	shift
done
T=$(mktemp -d "${TMPDIR:-/tmp}/kva-mutcorpus.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
OUT=${KVA_MUTATE_OUT:-$T/runs}
mkdir -p "$OUT"
export KVA_CACHE_DIR="$T/cache"
cd "$ROOT/fixtures/candidates"

# file, kind, oracle, layouts (space-separated), extra args (JSON) of each
# correct C candidate, once per file and args
for m in manifest.jsonl */manifest.jsonl; do
	d=$(dirname "$m")
	jq -r --arg d "$d" 'select(.verdict == "PASS" and (.file | endswith(".c"))
	  and (.kind == "route" or .kind == "write" or .kind == "gather"))
	  | [(if $d == "." or (.file | startswith($d + "/")) then .file else $d + "/" + .file end),
	     .kind, .oracle, ((.layouts // []) | join(" ")), ((.args // []) | tojson)] | join("|")' "$m"
done | sort -u > "$T/list"

printf '%-48s %-7s %-10s %8s %7s %6s %5s %8s\n' candidate kind oracle compiled killed equiv surv score_ne
: > "$T/rows"
n=0
# '|': a tab is whitespace to read, which would fold an empty field
while IFS='|' read -r file kind oracle layouts args; do
	case $only in
	route) [ "$kind" = route ] || continue ;;
	kernel) [ "$kind" != route ] || continue ;;
	esac
	[ -z "$match" ] || grep -Eq -- "$match" <<< "$file" || continue
	n=$((n + 1))
	if [ "$kind" = route ]; then
		set -- ""
	else
		# shellcheck disable=SC2086
		set -- ${layouts:-nhd hnd vllm-x}
	fi
	mapfile -t extra < <(jq -r '.[]' <<< "$args")
	runs=()
	for lay in "$@"; do
		f="$OUT/$(tr '/' '_' <<< "$file")${lay:+.$lay}.$n.jsonl"
		rc=0
		"$BIN/grad-trap" --mutate --candidate "$file" --kind "$kind" --oracle "$oracle" \
			${lay:+--layout "$lay"} "${extra[@]}" --boundaries --seed 1 -j "$jobs" \
			--timeout "$timeout" > "$f" 2> "$f.err" || rc=$?
		if [ "$rc" -gt 1 ]; then
			echo "mutate-corpus: $file${lay:+ --layout $lay}: grad-trap exit $rc: $(head -c 300 "$f.err")" >&2
			exit 2
		fi
		runs+=("$f")
	done
	# one status a mutant over the layouts' runs
	jq -s -c --arg file "$file" --arg kind "$kind" --arg oracle "$oracle" '
	  map(select(.type == "mutant")) | group_by(.id) | map(map(.status)) as $st
	  | ($st | map(if index("killed") then "killed"
	               elif index("survived") then "survived"
	               elif all(.[]; . == "equivalent_likely") then "equivalent_likely"
	               else "not_compiled" end)) as $s
	  | {file: $file, kind: $kind, oracle: $oracle,
	     compiled: ($s | map(select(. != "not_compiled")) | length),
	     killed: ($s | map(select(. == "killed")) | length),
	     equiv: ($s | map(select(. == "equivalent_likely")) | length),
	     survived: ($s | map(select(. == "survived")) | length)}' "${runs[@]}" >> "$T/rows"
	tail -n 1 "$T/rows" | jq -r '[.file, .kind, .oracle, .compiled, .killed, .equiv, .survived,
	  (if .compiled > .equiv then (.killed / (.compiled - .equiv) * 1000 | round / 1000) else "-" end)]
	  | @tsv' | awk -F'\t' '{ printf "%-48s %-7s %-10s %8s %7s %6s %5s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
done < "$T/list"
[ "$n" -gt 0 ] || { echo "mutate-corpus: no candidate" >&2; exit 2; }

echo
printf '%-18s %10s %8s %7s %6s %5s %8s\n' oracle candidates compiled killed equiv surv score_ne
jq -s -r 'group_by(.kind + " " + .oracle)[] | {o: (.[0].kind + " " + .[0].oracle), c: length,
    compiled: (map(.compiled) | add), killed: (map(.killed) | add),
    equiv: (map(.equiv) | add), survived: (map(.survived) | add)}
  | [.o, .c, .compiled, .killed, .equiv, .survived,
     (if .compiled > .equiv then (.killed / (.compiled - .equiv) * 1000 | round / 1000) else "-" end)]
  | @tsv' "$T/rows" | awk -F'\t' '{ printf "%-18s %10s %8s %7s %6s %5s %8s\n", $1, $2, $3, $4, $5, $6, $7 }'
s=$(jq -s 'map(.survived) | add' "$T/rows")
echo "survived: $s"
[ "$s" -eq 0 ]
