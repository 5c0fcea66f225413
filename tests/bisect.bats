#!/usr/bin/env bats
# pipelines/bisect (a failing case shrunk to a minimal reproducer),
# pipelines/git-bisect-trap (a predicate for git bisect run), and bisection
# by tensor dumps: grad-trap --dump and kv-snapshot dump into kv-snapshot
# diff narrow a one-row corruption to its row.

load test_helper

setup() {
	export KVA_BIN="$ROOT/${KVA_BUILD:-build}/bin"
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
	BISECT="$ROOT/pipelines/bisect"
	GBT="$ROOT/pipelines/git-bisect-trap"
	C="$ROOT/fixtures/candidates"
	cd "$BATS_TEST_TMPDIR"
}

# alone Q CAND ORACLE: the class of query Q (inputs, a JSON object)
# trapped by itself, or "none" if it does not diverge, or "refused" if
# the oracle refuses it
alone() {
	local st=0
	echo "$1" | jq -c '{type: "query"} + .' | route-oracle --oracle "$3" > "$BATS_TEST_TMPDIR/alone.case" 2> /dev/null || st=$?
	if [ "$st" != 0 ]; then
		echo refused
		return 0
	fi
	st=0
	grad-trap --candidate "$2" --batch 1 --timeout 0.5 "$BATS_TEST_TMPDIR/alone.case" > "$BATS_TEST_TMPDIR/alone.out" || st=$?
	case $st in
	0) echo none ;;
	1) jq -r 'select(.type == "divergence") | .class' "$BATS_TEST_TMPDIR/alone.out" ;;
	*) echo "grad-trap exit $st"; return 1 ;;
	esac
}

@test "bisect: ImpactArbiter's demo token shrinks to the smallest case that still overruns the ring" {
	run -0 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d \
		'{"type":"case","b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":4,"block_size":16}'
	assert_output '{"type":"case","b_local_idx":0,"head_idx":0,"prefix_length_h":1,"total_blocks_h":1,"block_size":1,"oracle":"radix-2d","expect":{"head":0,"block":0,"offset":0}}
GRADIENT DIVERGENCE MAP — KV_cache.grad (head × block × offset)
Token (b=0,h=0,prefix_h=1,N_h=1,bs=1) | Expected: head=0 block=0 offset=0 | Got: head=0 block=1 offset=0
Non-zero gradient at: [0, 1, 0, :] — misrouted 128 floats (out_of_bounds)'
	[[ $stderr =~ ^bisect:\ out_of_bounds\ kept:\ b_local_idx\ 5-\>0,\ prefix_length_h\ 60-\>1,\ total_blocks_h\ 4-\>1,\ block_size\ 16-\>1\ \([0-9]+\ rounds,\ [0-9]+\ trap\ runs,\ [0-9]+\ cases\)$ ]]
	# minimal along every parameter, checked here case by case: one less
	# anywhere is refused by the oracle or no longer out_of_bounds
	min='{"b_local_idx":0,"head_idx":0,"prefix_length_h":1,"total_blocks_h":1,"block_size":1}'
	run -0 alone "$min" "$C/radix-2d/no-ring-wrap.c" radix-2d
	assert_output out_of_bounds
	for p in b_local_idx head_idx prefix_length_h total_blocks_h block_size; do
		q=$(echo "$min" | jq -c --arg p "$p" '.[$p] -= 1')
		run -0 alone "$q" "$C/radix-2d/no-ring-wrap.c" radix-2d
		[ "$output" != out_of_bounds ] || { echo "$q still diverges: not minimal along $p"; return 1; }
	done
	# --case-only: the reproducer alone, ready for grad-trap
	sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d --case-only \
		'{"type":"case","b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":4,"block_size":16}' > min.jsonl 2> /dev/null
	run -1 grad-trap --candidate "$C/radix-2d/no-ring-wrap.c" min.jsonl
	assert_line --index 1 --partial '"cases":1,"diverged":1,'
}

@test "bisect keeps what the bug needs: a crash at head 7, block size 7, from grad-trap's summary on stdin" {
	grad-trap --candidate "$C/radix-2d/null-trace-crash.c" --oracle radix-2d --boundaries --max-map 0 > sum.jsonl || [ $? = 1 ]
	run -0 jq -c '.first | {class, head_idx, block_size}' sum.jsonl
	assert_output '{"class":"crash","head_idx":7,"block_size":7}'
	run -0 --separate-stderr sh "$BISECT" "$C/radix-2d/null-trace-crash.c" --oracle radix-2d - < sum.jsonl
	assert_line --index 0 '{"type":"case","b_local_idx":0,"head_idx":7,"prefix_length_h":0,"total_blocks_h":1,"block_size":7,"oracle":"radix-2d","expect":{"head":7,"block":0,"offset":0}}'
	assert_line --index 2 'Token (b=0,h=7,prefix_h=0,N_h=1,bs=7) | Expected: head=7 block=0 offset=0 | Got: crash (signal 11 (Segmentation fault))'
	assert_equal "${#lines[@]}" 3
	[[ $stderr == "bisect: crash kept: "* ]]
}

@test "bisect on a paged table: a padding token routed, from a divergence record in a file" {
	grad-trap --candidate "$C/paged/padding-as-pos0.c" --oracle paged --random 300 --seed 4 --max-map 1 > div.jsonl || [ $? = 1 ]
	head -n 1 div.jsonl > one.jsonl
	run -0 jq -c '[.class, .inputs.pos]' one.jsonl
	assert_output '["unmapped_write",-1]'
	run -0 --separate-stderr sh "$BISECT" "$C/paged/padding-as-pos0.c" --oracle paged --dump d.jsonl one.jsonl
	assert_line --index 0 --regexp '^\{"type":"case","pos":-1,"block_size":1,"block_table":\[[0-9]+\],"oracle":"paged","expect":\{"slot":-1\}\}$'
	assert_line --index 2 --regexp '^Token \(pos=-1,block_size=1\) \| Expected: padding \(no write\) \| Got: block=[0-9]+ offset=0 slot=[0-9]+$'
	# the table cannot go: without an entry the candidate writes nothing
	run -0 alone '{"pos":-1,"block_size":1,"block_table":[]}' "$C/paged/padding-as-pos0.c" paged
	assert_output none
	# --dump: the minimal case's two gradients, which differ in one row
	jq -c 'select(.name == "grad.oracle")' d.jsonl > o.jsonl
	jq -c 'select(.name == "grad.candidate")' d.jsonl > c.jsonl
	run -1 kv-snapshot diff o.jsonl c.jsonl
	assert_output --regexp '^\{"type":"diff","equal":false,"rows":1,"rows_differ":1,"first":\{"block":([0-9]+),"offset":0,"slot":\1,"dim":0,"index":\[\1,0,\1\]\}\}$'
}

@test "bisect: a case that does not diverge exits 1; bad cases and usage exit 2" {
	ok='{"type":"case","b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":4,"block_size":16}'
	run -1 --separate-stderr sh "$BISECT" "$C/radix-2d/correct-divmod.c" --oracle radix-2d "$ok"
	assert_equal "$output" ""
	assert_equal "$stderr" "bisect: the case does not diverge for $C/radix-2d/correct-divmod.c when trapped alone"
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d '{"type":"case","b_local_idx":5}'
	assert_equal "$stderr" 'bisect: CASE:1: field "head_idx": missing (the b_local_idx, head_idx, prefix_length_h, total_blocks_h, block_size of the case)'
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d '{"type":"case",'
	assert_equal "$stderr" "bisect: CASE:1: not valid JSON"
	printf '\n[1]\n' > arr.jsonl
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d arr.jsonl
	assert_equal "$stderr" "bisect: arr.jsonl:2: not a JSON object"
	echo '{"type":"summary","first":null}' > sum.jsonl
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d sum.jsonl
	assert_equal "$stderr" "bisect: sum.jsonl:1: a summary without a failing case (first is null)"
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d \
		'{"b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":0,"block_size":16}'
	assert_equal "$stderr" 'bisect: CASE: route-oracle refuses the case: route-oracle: <stdin>:1: field "total_blocks_h": must satisfy total_blocks_h >= 1'
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-9d "$ok"
	assert_equal "$stderr" "bisect: --oracle: unknown oracle radix-9d (route-oracle --list)"
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" "$ok"
	assert_equal "$stderr" "bisect: --oracle is required"
	run -2 --separate-stderr sh "$BISECT" nope.c --oracle radix-2d "$ok"
	assert_equal "$stderr" "bisect: nope.c: no such candidate file"
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d
	assert_equal "$stderr" "bisect: want one CASE, got 0"
	run -2 --separate-stderr sh "$BISECT" "$C/radix-2d/no-ring-wrap.c" --oracle radix-2d --max-rounds 0 "$ok"
	assert_equal "$stderr" "bisect: --max-rounds: want a positive integer, not 0"
	run -2 --separate-stderr sh "$BISECT" --bogus
	assert_equal "${stderr_lines[0]}" "bisect: unknown option: --bogus"
	run -0 sh "$BISECT" --help
	assert_line --index 0 --partial "bisect - shrink a failing case to a minimal reproducer"
}

@test "bisect --candidate-cmd: a co-process candidate shrinks the same way" {
	run -0 --separate-stderr sh "$BISECT" --candidate-cmd "python3 $C/cmd/radix2d-nowrap.py" --oracle radix-2d \
		'{"b_local_idx":3,"head_idx":2,"prefix_length_h":40,"total_blocks_h":2,"block_size":8}'
	assert_line --index 0 '{"type":"case","b_local_idx":0,"head_idx":0,"prefix_length_h":1,"total_blocks_h":1,"block_size":1,"oracle":"radix-2d","expect":{"head":0,"block":0,"offset":0}}'
}

@test "tensor dumps: grad-trap --dump into kv-snapshot dump and diff narrows a one-token corruption to its row" {
	route-oracle --oracle radix-2d --sweep b_local_idx=0:48,head_idx=0:2,prefix_length_h=0,total_blocks_h=4,block_size=8 > cases.jsonl
	run -1 grad-trap --candidate "$ROOT/tests/fixtures/bisect/one-token.c" --head-dim 8 --dump d.jsonl --max-map 0 cases.jsonl
	# each tensor of the dump on its own, rewritten by kv-snapshot dump
	# (row hashes), then diffed: the first row that differs is the planted
	# token's own cell, head 1, block 0, offset 5 (37 = 4*8 + 5, the ring
	# of 4 wrapped); its row went to offset 6 (the second row that differs)
	jq -c 'select(.name == "grad.oracle")' d.jsonl > o.values
	jq -c 'select(.name == "grad.candidate")' d.jsonl > c.values
	kv-snapshot dump - < o.values > oracle.jsonl
	kv-snapshot dump - < c.values > candidate.jsonl
	run -1 --separate-stderr kv-snapshot diff oracle.jsonl - < candidate.jsonl
	assert_output '{"type":"diff","equal":false,"rows":64,"rows_differ":2,"first":{"head":1,"block":0,"offset":5,"index":[1,0,5]}}'
	# the same as one pipeline (pipefail: no stage may fail unseen)
	run -1 bash -c 'set -o pipefail; jq -c "select(.name == \"grad.candidate\")" d.jsonl | kv-snapshot dump - | kv-snapshot diff oracle.jsonl -'
	assert_output '{"type":"diff","equal":false,"rows":64,"rows_differ":2,"first":{"head":1,"block":0,"offset":5,"index":[1,0,5]}}'
	# the same row grad-trap names for the token
	run -1 grad-trap --candidate "$ROOT/tests/fixtures/bisect/one-token.c" --max-map 1 cases.jsonl
	assert_line --index 0 --partial '"inputs":{"b_local_idx":37,"head_idx":1,"prefix_length_h":0,"total_blocks_h":4,"block_size":8},"expect":{"head":1,"block":0,"offset":5},"got":{"head":1,"block":0,"offset":6}'
	# and the two tensors agree everywhere else: the oracle's against itself
	run -0 kv-snapshot diff oracle.jsonl o.values
}

@test "tensor dumps: a snapshot with one row corrupted, dumped and diffed, names chunk, layer, K|V, head and row" {
	printf '%s\n' '{"type":"prefill","tokens":700}' "{\"type\":\"snapshot\",\"path\":\"$BATS_TEST_TMPDIR/a.snap\"}" |
		kv-prefill --pool-tokens 512 --layers 2 --kv-heads 2 --head-dim 16 --no-events > /dev/null
	kv-snapshot dump --values a.snap > a.jsonl
	# plant: one element of the V row 5 of head 1, layer 1, chunk 3
	jq -c 'if .type == "cells" and .index == [3,1,1,1,5] then .values[7] += 0.5 else . end' a.jsonl > b.jsonl
	kv-snapshot dump b.jsonl > b.hash
	run -1 --separate-stderr kv-snapshot diff - a.snap < b.hash
	assert_output '{"type":"diff","equal":false,"rows":5632,"rows_differ":1,"first":{"chunk":3,"layer":1,"kv":"V","head":1,"row":5,"index":[3,1,1,1,5]}}'
	# by value, the element too
	run -1 kv-snapshot diff b.jsonl a.snap
	assert_output '{"type":"diff","equal":false,"rows":5632,"rows_differ":1,"first":{"chunk":3,"layer":1,"kv":"V","head":1,"row":5,"dim":7,"index":[3,1,1,1,5]}}'
	run -1 bash -c 'set -o pipefail; kv-snapshot dump b.jsonl | kv-snapshot diff - a.snap'
	assert_output '{"type":"diff","equal":false,"rows":5632,"rows_differ":1,"first":{"chunk":3,"layer":1,"kv":"V","head":1,"row":5,"index":[3,1,1,1,5]}}'
	run -0 kv-snapshot diff a.jsonl a.snap
}

# ---- git-bisect-trap ----------------------------------------------------------

# a repository in $BATS_TEST_TMPDIR/repo whose route.c is, commit by
# commit: good, good, bad (no ring wrap), unbuildable, bad (ring off by one)
make_history() {
	command -v git > /dev/null || skip "git not installed: cannot make a history to bisect"
	mkdir repo
	cd repo
	git init -q .
	commit() {
		git add route.c
		git -c user.name=kvarbiter -c user.email=kvarbiter@invalid commit -q -m "$1"
	}
	cp "$C/radix-2d/correct-divmod.c" route.c
	commit "good: the formula"
	c1=$(git rev-parse HEAD)
	cp "$C/radix-2d/correct-ring-span.c" route.c
	commit "good: fold into the ring span"
	c2=$(git rev-parse HEAD)
	cp "$C/radix-2d/no-ring-wrap.c" route.c
	commit "bad: drop the ring wrap"
	c3=$(git rev-parse HEAD)
	printf 'int route_radix_2d(\n' > route.c
	commit "unbuildable: half a declaration"
	c4=$(git rev-parse HEAD)
	cp "$C/radix-2d/ring-off-by-one.c" route.c
	commit "bad: ring of N+1"
	c5=$(git rev-parse HEAD)
}

@test "git-bisect-trap: good, good, bad, unbuildable, bad: git bisect run finds the first bad commit" {
	make_history
	git bisect start "$c5" "$c2" "$c1" > /dev/null
	run -0 git bisect run sh "$GBT" --oracle radix-2d route.c
	assert_line "$c3 is the first bad commit"
	# the unbuildable commit was skipped on the way, not called bad
	run -0 git bisect log
	assert_line "git bisect skip $c4"
	refute_line "git bisect bad $c4"
}

@test "git-bisect-trap: exits 0, 1, 125 commit by commit; 128 on trouble" {
	make_history
	check() {
		git checkout -q "$1"
		run "-$2" --separate-stderr sh "$GBT" --oracle radix-2d route.c
	}
	check "$c1" 0
	assert_output --regexp "^git-bisect-trap: [0-9a-f]+: PASS \([0-9]+ cases\)$"
	check "$c2" 0
	check "$c3" 1
	assert_output --regexp '^git-bisect-trap: [0-9a-f]+: HARD_BLOCK \{"diverged":[0-9]+,"first":\{"class":"out_of_bounds",'
	check "$c4" 125
	[[ $stderr == "git-bisect-trap: $(git rev-parse --short HEAD): skip: route.c does not compile: route.c:1:"*"error"* ]]
	check "$c5" 1
	# exit 125 (git bisect's "skip this commit"), asserted with its message: a --build step that fails, a candidate missing
	run -125 --separate-stderr sh "$GBT" --oracle radix-2d --build 'echo no compiler here; exit 3' route.c
	assert_equal "$stderr" "git-bisect-trap: $(git rev-parse --short HEAD): skip: --build failed (exit 3): no compiler here"
	run -125 --separate-stderr sh "$GBT" --oracle radix-2d other.c
	assert_equal "$stderr" "git-bisect-trap: $(git rev-parse --short HEAD): skip: no other.c at this commit"
	# a build step that makes the candidate, a fixed case file, a sweep
	git checkout -q "$c1"
	route-oracle --oracle radix-2d --boundaries > "$BATS_TEST_TMPDIR/cases.jsonl"
	run -0 sh "$GBT" --oracle radix-2d --build 'cp route.c built.c' --cases "$BATS_TEST_TMPDIR/cases.jsonl" built.c
	assert_output --regexp ': PASS \([0-9]+ cases\)$'
	run -0 sh "$GBT" --oracle radix-2d --sweep b_local_idx=0:4,head_idx=0:2,prefix_length_h=0:40,total_blocks_h=1:4,block_size=1:5 route.c
	assert_output --regexp ': PASS \(3840 cases\)$'
	# trouble stops git bisect run: 128, never 1 or 125
	run -128 --separate-stderr sh "$GBT" --oracle radix-2d --bogus route.c
	assert_equal "$stderr" "git-bisect-trap: unknown option: --bogus (exit 128 stops git bisect run)"
	run -128 --separate-stderr sh "$GBT" route.c
	assert_equal "$stderr" "git-bisect-trap: --oracle is required (exit 128 stops git bisect run)"
	run -128 --separate-stderr sh "$GBT" --oracle radix-9d route.c
	[[ $stderr == "git-bisect-trap: route-oracle --oracle radix-9d: "*"(exit 128 stops git bisect run)" ]]
	run -0 sh "$GBT" --help
	assert_line --index 0 --partial "git-bisect-trap - a predicate for \`git bisect run\`"
}
