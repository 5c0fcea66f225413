#!/usr/bin/env bats
# grad-trap --kind copy-blocks / swap-blocks: block-copy kernels judged
# against the CPU twins (kva_ref_copy_blocks, kva_ref_swap_blocks).

load test_helper

C="$ROOT/fixtures/candidates/blocks"
F="$ROOT/tests/fixtures/grad-trap"

# Every candidate of fixtures/candidates/blocks gets its manifest verdict
# from each run (the boundaries in every layout, a seeded random sweep),
# and every class the manifest names is reported by some run.
@test "blocks corpus: every candidate gets its manifest verdict and classes on --boundaries and --random" {
	n=0
	while IFS='|' read -r file kind verdict classes; do
		seen=""
		for run in "--boundaries --layout nhd" "--boundaries --layout hnd" \
			"--boundaries --layout vllm-x" "--random 150 --layout nhd" \
			"--random 150 --layout hnd"; do
			st=0
			# shellcheck disable=SC2086
			grad-trap --kind "$kind" --candidate "$C/$file" $run --seed 7 --timeout 5 \
				--max-map 0 > "$BATS_TEST_TMPDIR/out" || st=$?
			jq -c 'select(.type == "summary")' "$BATS_TEST_TMPDIR/out" > "$BATS_TEST_TMPDIR/sum"
			[ "$(wc -l < "$BATS_TEST_TMPDIR/sum")" = 1 ] || { echo "$file ($run): no summary (exit $st)"; return 1; }
			v=$(jq -r .verdict "$BATS_TEST_TMPDIR/sum")
			[ "$v" = "$verdict" ] || { echo "$file ($run): $v, manifest says $verdict"; cat "$BATS_TEST_TMPDIR/sum"; return 1; }
			[ "$st" = "$([ "$v" = HARD_BLOCK ] && echo 1 || echo 0)" ]
			run -0 jq -e '.kind == "'"$kind"'" and .cases > 0 and .calls > 0 and .not_run == 0' "$BATS_TEST_TMPDIR/sum"
			seen="$seen $(jq -r '.classes | to_entries[] | select(.value > 0) | .key' "$BATS_TEST_TMPDIR/sum" | tr '\n' ' ')"
		done
		for c in $classes; do
			[[ " $seen " == *" $c "* ]] || { echo "$file: class $c not reported (got:$seen)"; return 1; }
		done
		n=$((n + 1))
	done < <(jq -r '[.file, .kind, .verdict, ((.classes // []) | join(" "))] | join("|")' "$C/manifest.jsonl")
	[ "$n" -ge 8 ]
}

@test "copy-blocks: a chain copied in order is a misroute naming the block it got; a cycle is missing" {
	printf '%s\n' '{"type":"blocks","block_size":4,"num_blocks":6,"pairs":[[1,2],[2,3]]}' \
		'{"type":"blocks","block_size":2,"pairs":[[0,1],[1,0]]}' > "$BATS_TEST_TMPDIR/in"
	run -1 grad-trap --kind copy-blocks --candidate "$C/copy-sequential.c" --seed 1 "$BATS_TEST_TMPDIR/in"
	run -0 jq -e -s '
	  .[0].type == "divergence" and .[0].class == "misroute" and .[0].line == 1
	  and .[0].pair == [2,3] and .[0].expect == {"block":2} and .[0].got == {"block":1}
	  and .[1].class == "missing" and .[1].line == 2 and .[1].pair == [1,0]
	  and .[1].got.unchanged == true
	  and .[2].type == "summary" and .[2].cases == 4 and .[2].calls == 2
	  and .[2].diverged == 2 and .[2].classes.misroute == 1 and .[2].classes.missing == 1
	  and .[2].first.pair == [2,3] and .[2].oracle == "kva_ref_copy_blocks"' <<< "$output"
	run -0 grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" --seed 1 "$BATS_TEST_TMPDIR/in"
	run -0 jq -e '.verdict == "PASS" and .cases == 4 and .diverged == 0' <<< "$output"
}

@test "blocks: a bad record is an error naming file, line and field; the records before it are judged and printed" {
	in="$BATS_TEST_TMPDIR/in"
	printf '%s\n' '{"type":"blocks","block_size":4,"num_blocks":6,"pairs":[[1,2],[2,3]]}' \
		'{"type":"blocks","block_size":4,"pairs":[[0,3],[1,3]]}' > "$in"
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-sequential.c" "$in"
	assert_equal "$stderr" "grad-trap: $in:2: field \"pairs[1][1]\": destination block 3 named twice (pairs[0][1])"
	run -0 jq -e -s '.[0].class == "misroute" and .[0].line == 1 and .[1].type == "summary"
	  and .[1].cases == 2' <<< "$output"
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" \
		<<< '{"type":"blocks","block_size":4,"num_blocks":4,"pairs":[[0,4]]}'
	assert_equal "$stderr" "grad-trap: <stdin>:1: field \"pairs[0][1]\": block 4 is outside the cache's 4 blocks"
	run -2 --separate-stderr grad-trap --kind swap-blocks --candidate "$C/swap-cells.c" \
		<<< '{"type":"blocks","block_size":4,"num_blocks":2,"dst_blocks":8,"pairs":[[5,1]]}'
	assert_equal "$stderr" "grad-trap: <stdin>:1: field \"pairs[0][0]\": block 5 is outside the source cache's 2 blocks"
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" \
		<<< '{"type":"blocks","pairs":[[0,1]]}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "block_size": missing'
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" \
		<<< '{"type":"blocks","block_size":4,"dst_blocks":3,"pairs":[[0,1]]}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "dst_blocks": only for --kind swap-blocks'
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" \
		<<< '{"type":"blocks","block_size":4,"pairs":[[0,1,2]]}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "pairs[0]": must be a [src, dst] pair of block ids'
	run -2 --separate-stderr grad-trap --kind swap-blocks --candidate "$C/swap-cells.c" \
		<<< '{"type":"blocks","block_size":4,"pairs":[[0,1]],"dst_layout":"xyz"}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "dst_layout": must be "nhd", "hnd" or "vllm-x"'
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" \
		<<< '{"type":"blocks","block_size":4,"pairs":[[0,1]],"dst_layout":"hnd"}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "dst_layout": only for --kind swap-blocks'
	# a swap into a cache of another layout, as a record asks
	run -1 --separate-stderr grad-trap --kind swap-blocks --candidate "$C/swap-pair-reversed.c" --max-map 1 \
		<<< '{"type":"blocks","block_size":4,"pairs":[[0,1],[2,0]],"dst_layout":"vllm-x"}'
	run -0 jq -e -s '.[0].layout == "nhd" and .[0].dst_layout == "vllm-x"' <<< "$output"
	run -0 --separate-stderr grad-trap --kind swap-blocks --candidate "$C/swap-cells.c" \
		<<< '{"type":"blocks","block_size":4,"pairs":[[0,1],[2,0]],"dst_layout":"vllm-x"}'
	# --keep-going: the bad record is an error record, the good ones run
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" --keep-going "$in"
	run -0 jq -e -s '.[0] == {"type":"error","file":"'"$in"'","line":2,"field":"pairs[1][1]",
	  "message":"destination block 3 named twice (pairs[0][1])"}
	  and .[1].type == "summary" and .[1].cases == 2' <<< "$output"
}

@test "blocks: a crash and a hang are pinned to their call (line), and the run goes on" {
	printf '%s\n' '{"type":"blocks","block_size":4,"pairs":[[0,1]]}' \
		'{"type":"blocks","block_size":3,"pairs":[[0,1],[1,2]]}' \
		'{"type":"note","x":1}' \
		'{"type":"blocks","block_size":5,"pairs":[[2,0]]}' \
		'{"type":"blocks","block_size":8,"num_blocks":6,"pairs":[[1,0],[0,1]]}' > "$BATS_TEST_TMPDIR/in"
	run -1 grad-trap --kind copy-blocks --candidate "$F/blocks-crash-hang.c" --timeout 1 "$BATS_TEST_TMPDIR/in"
	run -0 jq -e -s '
	  .[0].class == "crash" and .[0].line == 2 and .[0].pair == null and .[0].pairs == 2
	  and .[1] == {"type":"note","x":1}
	  and .[2].class == "timeout" and .[2].line == 4
	  and .[3].type == "summary" and .[3].calls == 4 and .[3].cases == 6
	  and .[3].classes.crash == 1 and .[3].classes.timeout == 1 and .[3].diverged == 2
	  and .[3].not_run == 0' <<< "$output"
}

@test "blocks: changing the pairs or the swap's source is input_mutation" {
	run -1 grad-trap --kind copy-blocks --candidate "$F/blocks-mutate-pairs.c" --seed 1 \
		<<< '{"type":"blocks","block_size":4,"pairs":[[3,0],[1,2]]}'
	run -0 jq -e -s '.[0].class == "input_mutation" and .[0].got.changed == "pairs"
	  and .[1].classes.input_mutation == 1' <<< "$output"
	run -1 grad-trap --kind swap-blocks --candidate "$F/swap-moves-src.c" --seed 1 \
		<<< '{"type":"blocks","block_size":4,"num_blocks":4,"dst_blocks":2,"pairs":[[3,0],[1,1]]}'
	# pinned to the pair whose source holds the first changed element
	run -0 jq -e -s '.[0].class == "input_mutation" and .[0].got.changed == "src"
	  and .[0].pair == [1,1] and .[0].got.at == 128 and .[1].classes.input_mutation == 1 and .[1].oracle == "kva_ref_swap_blocks"' <<< "$output"
}

@test "blocks: strided views only for a kernel that declares them; a view's gaps are stray writes" {
	run -0 grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" --boundaries --seed 2
	run -0 jq -e '.strided_calls > 0 and .strided_calls * 2 == .calls' <<< "$output"
	run -0 grad-trap --kind copy-blocks --candidate "$C/copy-memcpy-contig.c" --boundaries --seed 2
	run -0 jq -e '.strided_calls == 0 and .calls > 10' <<< "$output"
	run -1 grad-trap --kind swap-blocks --candidate "$C/swap-stride0-span.c" --boundaries --seed 2 --max-map 1000
	run -0 jq -e -s '[.[] | select(.type == "divergence")] as $d
	  | ($d | length) > 0 and all($d[]; .strided == true)
	  and any($d[]; .class == "stray_write" and (.got.gap_element | type) == "number")' <<< "$output"
	# a swap's boundaries give some destinations the next layout
	run -1 grad-trap --kind swap-blocks --candidate "$C/swap-pair-reversed.c" --boundaries --seed 2 --max-map 1000
	run -0 jq -e -s 'any(.[]; .dst_layout == "hnd" and .layout == "nhd")
	  and any(.[]; .dst_layout == "nhd")' <<< "$output"
}

@test "blocks: a kernel's constraints: the rest is unclaimed and counted; a run outside them is trouble" {
	run -0 grad-trap --kind copy-blocks --candidate "$F/blocks-claims.c" --boundaries --seed 1
	# block size 1 (3 pairs), 256 (2 pairs), the 1000 pairs over max_tokens
	run -0 jq -e '.verdict == "PASS" and .unclaimed == 1005 and .classes.error == 0
	  and .constraints.block_sizes == [16] and .constraints.max_tokens == 100' <<< "$output"
	run -2 --separate-stderr grad-trap --kind copy-blocks --layout vllm-x --candidate "$F/blocks-claims.c" --boundaries
	assert_equal "$stderr" "grad-trap: candidate $F/blocks-claims.c claims other layouts than vllm-x (kva_kernel_constraints): nothing to check"
}

@test "blocks: --random is seeded; --format text; the wrong symbol or options are trouble" {
	run -1 grad-trap --kind copy-blocks --candidate "$C/copy-first-head.c" --random 20 --seed 5 --max-map 3
	a=$output
	run -1 grad-trap --kind copy-blocks --candidate "$C/copy-first-head.c" --random 20 --seed 5 --max-map 3
	[ "$(jq -c 'del(.seconds, .cases_per_s)' <<< "$a")" = "$(jq -c 'del(.seconds, .cases_per_s)' <<< "$output")" ]
	run -1 grad-trap --kind copy-blocks --candidate "$C/copy-first-head.c" --boundaries --seed 5 --format text --max-map 1
	assert_line --index 0 --regexp '^\[AUTOGRAD TRAP FAIL — HARD_BLOCK\] divergence=1\.00e\+00 > tol=1e-04$'
	assert_line --index 1 'BLOCK COPY MAP — [src,dst] pairs'
	assert_line --index 2 --regexp '^Pair \[1,2\] \(block_size 16, call 1\) \| Expected: block 1 \| Got: \{"cells_right":256,"cells":512,.*\(partial_row\)$'
	run -2 --separate-stderr grad-trap --kind swap-blocks --candidate "$C/copy-gather-first.c" --boundaries
	assert_equal "$stderr" "grad-trap: candidate $C/copy-gather-first.c: does not define kva_swap_blocks()"
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" --oracle paged --boundaries
	assert_equal "$stderr" "grad-trap: --kind copy-blocks: no --oracle and no --sweep (the reference is the CPU twin; generators: --boundaries, --random N)"
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-sequential.c" --boundaries --dump "$BATS_TEST_TMPDIR/d"
	assert_equal "$stderr" "grad-trap: --dump: the block-copy kinds have no tokens' gradients to dump (their records name the blocks)"
	[ ! -e "$BATS_TEST_TMPDIR/d" ]
	# other records pass through; with no "blocks" record nothing was checked
	run -2 --separate-stderr grad-trap --kind copy-blocks --candidate "$C/copy-gather-first.c" <<< '{"type":"case","pos":1}'
	assert_output '{"type":"case","pos":1}'
	assert_equal "$stderr" "grad-trap: no case records: nothing was checked"
}
