#!/usr/bin/env bats
# grad-trap: route candidates of every form, the divergence classes, the
# sandbox, the records, and the robustness list.

load test_helper

F="$BATS_TEST_DIRNAME/fixtures/grad-trap"

setup() {
	export KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
	route-oracle --boundaries > "$BATS_TEST_TMPDIR/b2"
	route-oracle --random 3000 --seed 11 >> "$BATS_TEST_TMPDIR/b2"
}

@test "a correct radix-2d candidate passes the boundaries and a random sweep" {
	run -0 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" "$BATS_TEST_TMPDIR/b2"
	assert_equal "${#lines[@]}" 1
	run -0 jq -e '.type == "summary" and .verdict == "PASS" and .divergence == 0
	  and .diverged == 0 and .cases > 7000 and .first == null and .oracle == "radix-2d"
	  and (.candidate.sha256 | length) == 64 and .tol == 0.0001' <<< "$output"
}

@test "ImpactArbiter's demo bug: HARD_BLOCK at (b=5,h=0,prefix_h=60,N_h=4), exit 1" {
	run -1 --separate-stderr grad-trap --candidate "$F/radix2d-nowrap.c" --max-map 3 "$BATS_TEST_TMPDIR/b2"
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 4
	run -0 jq -e -s '.[0].class == "out_of_bounds" and .[0].inputs.b_local_idx == 5
	  and .[0].got == {"head":0,"block":4,"offset":1} and .[0].divergence == 1
	  and .[3].verdict == "HARD_BLOCK" and .[3].divergence == 1 and .[3].diverged > 2000
	  and .[3].classes.out_of_bounds == .[3].diverged' <<< "$output"
}

@test "--format text prints ImpactArbiter's verdict line and map" {
	run -1 grad-trap --candidate "$F/radix2d-nowrap.c" --format text --max-map 1 "$BATS_TEST_TMPDIR/b2"
	assert_line --index 0 "[AUTOGRAD TRAP FAIL — HARD_BLOCK] divergence=1.00e+00 > tol=1e-04"
	assert_line --index 1 "GRADIENT DIVERGENCE MAP — KV_cache.grad (head × block × offset)"
	assert_line --index 2 "Token (b=5,h=0,prefix_h=60,N_h=4,bs=16) | Expected: head=0 block=0 offset=1 | Got: head=0 block=4 offset=1"
	assert_line --index 3 "Non-zero gradient at: [0, 4, 1, :] — misrouted 128 floats (out_of_bounds)"
	assert_line --partial "misrouted mass, head × block"
	run -0 grad-trap --candidate "$F/radix2d-ok.c" --format text "$BATS_TEST_TMPDIR/b2"
	assert_output --regexp '^\[AUTOGRAD TRAP PASS\] divergence=0.00e\+00 <= tol=1e-04 \([0-9]+ cases, oracle radix-2d\)$'
}

@test "a crash and a hang are findings pinned to their case, not a crash of the trap" {
	jq -c 'select((.b_local_idx == 5 and .prefix_length_h == 60) or (.b_local_idx == 7 and .block_size == 7 and .head_idx == 6) or .block_size == 16)' \
		"$BATS_TEST_TMPDIR/b2" > "$BATS_TEST_TMPDIR/few"
	run -1 --separate-stderr grad-trap --candidate "$F/radix2d-crash-hang.c" --timeout 0.5 --max-map 100 "$BATS_TEST_TMPDIR/few"
	run -0 jq -e -s '(map(select(.class == "crash")) | length) >= 1
	  and all(.[] | select(.class == "crash"); .inputs.b_local_idx == 5 and .inputs.prefix_length_h == 60
	      and (.why | startswith("signal 11")))
	  and all(.[] | select(.class == "timeout"); .inputs.b_local_idx == 7 and .inputs.head_idx == 6)
	  and (map(select(.class == "timeout")) | length) >= 1
	  and (.[-1].classes.crash + .[-1].classes.timeout) == .[-1].diverged' <<< "$output"
}

@test "two tokens swapped are a permutation" {
	printf '{"type":"query","b_local_idx":%d,"head_idx":0,"prefix_length_h":0,"total_blocks_h":4,"block_size":4}\n' 0 1 2 |
		route-oracle > "$BATS_TEST_TMPDIR/seq"
	run -1 grad-trap --candidate "$F/radix2d-swap.c" "$BATS_TEST_TMPDIR/seq"
	assert_equal "${#lines[@]}" 3
	run -0 jq -e -s '.[0].class == "permutation" and .[1].class == "permutation"
	  and .[2].classes.permutation == 2' <<< "$output"
}

@test "vLLM's unguarded block-table read is an unmapped write; the guarded one passes" {
	route-oracle --oracle paged --boundaries > "$BATS_TEST_TMPDIR/p"
	route-oracle --oracle paged --random 2000 --seed 3 >> "$BATS_TEST_TMPDIR/p"
	run -1 grad-trap --candidate "$F/paged-unguarded.c" --max-map 0 "$BATS_TEST_TMPDIR/p"
	run -0 jq -e '.classes.unmapped_write > 0 and .classes.unmapped_write == .diverged' <<< "$output"
	run -0 grad-trap --candidate "$F/paged-ok.c" "$BATS_TEST_TMPDIR/p"
	run -0 jq -e '.verdict == "PASS" and .cases > 2000' <<< "$output"
}

@test "a prebuilt .so and a co-process in another language are candidates too" {
	cc -shared -fPIC -O2 -I"$ROOT/lib" -o "$BATS_TEST_TMPDIR/ok.so" "$F/radix2d-ok.c"
	run -0 grad-trap --candidate "$BATS_TEST_TMPDIR/ok.so" "$BATS_TEST_TMPDIR/b2"
	run -0 jq -e '.verdict == "PASS"' <<< "$output"
	command -v python3 >/dev/null || skip "python3 not installed: co-process form not tested"
	head -n 500 "$BATS_TEST_TMPDIR/b2" > "$BATS_TEST_TMPDIR/b500"
	# the sandbox lets a candidate write no file outside its tmpfs, so the
	# co-process shows what it reads on its stderr (kept by
	# --candidate-stderr; sed writes /dev/stderr to fd 2 itself: the pipe
	# is ours, and the candidate runs as another uid that cannot reopen it)
	grad-trap --candidate-stderr --candidate-cmd "sed -u 'w /dev/stderr' | python3 $F/radix2d-ok.py" \
		"$BATS_TEST_TMPDIR/b500" > "$BATS_TEST_TMPDIR/out" 2> >(cat > "$BATS_TEST_TMPDIR/seen")
	wait $!
	run -0 jq -e '.verdict == "PASS" and .cases == 500' "$BATS_TEST_TMPDIR/out"
	# the co-process sees each case's inputs, never the answer
	run -0 jq -e -s 'length == 500 and all(.[]; has("expect") | not)' "$BATS_TEST_TMPDIR/seen"
	# and writing a file outside is refused (a read-only file system, or
	# the file-size limit where there is no mount namespace): tee says so
	# and goes on, the answers are right, and the file never appears
	run -0 grad-trap --candidate-cmd "tee $BATS_TEST_TMPDIR/f | python3 $F/radix2d-ok.py" "$BATS_TEST_TMPDIR/b500"
	run -0 jq -e '.verdict == "PASS"' <<< "${lines[-1]}"
	[ ! -e "$BATS_TEST_TMPDIR/f" ]
}

@test "a co-process that answers garbage or dies is a finding" {
	head -n 20 "$BATS_TEST_TMPDIR/b2" > "$BATS_TEST_TMPDIR/b20"
	run -1 grad-trap --candidate-cmd 'while read -r l; do echo nonsense; done' "$BATS_TEST_TMPDIR/b20"
	run -0 jq -e '.classes.error == 20' <<< "${lines[-1]}"
	run -1 grad-trap --candidate-cmd 'exit 3' "$BATS_TEST_TMPDIR/b20"
	run -0 jq -e '.classes.crash == 20' <<< "${lines[-1]}"
}

@test "a candidate that does not build, or lacks the symbol, is trouble (exit 2)" {
	run -2 --separate-stderr grad-trap --candidate "$F/bad-syntax.c" "$BATS_TEST_TMPDIR/b2"
	assert_output ""
	[[ ${stderr_lines[-1]} == "grad-trap: $F/bad-syntax.c: build failed (cc exit 1)" ]]
	run -2 --separate-stderr grad-trap --candidate "$F/paged-ok.c" "$BATS_TEST_TMPDIR/b2"
	[[ $stderr == *"does not define route_radix_2d()"* ]]
	run -2 --separate-stderr grad-trap --candidate "$F/nope.c" "$BATS_TEST_TMPDIR/b2"
	assert_equal "$stderr" "grad-trap: $F/nope.c: No such file or directory"
}

@test "CUDA: a .cu candidate needs --device cuda, and a device" {
	C="$ROOT/fixtures/candidates/cuda/write_nhd.cu"
	command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || skip "nvcc not installed: a .cu candidate cannot be built"
	route-oracle --oracle paged --boundaries > "$BATS_TEST_TMPDIR/p"
	run -2 --separate-stderr grad-trap --kind write --candidate "$C" "$BATS_TEST_TMPDIR/p"
	assert_equal "$stderr" "grad-trap: $C: a CUDA candidate needs --device cuda"
	if nvidia-smi -L >/dev/null 2>&1; then
		run -0 grad-trap --kind write --device cuda --candidate "$C" "$BATS_TEST_TMPDIR/p"
		run -0 jq -e '.verdict == "PASS"' <<< "$output"
	else
		# no GPU: the sandboxed child loads the CUDA runtime and says why
		run -2 --separate-stderr grad-trap --kind write --device cuda --candidate "$C" "$BATS_TEST_TMPDIR/p"
		[[ $stderr == "grad-trap: candidate $C: no CUDA device"* ]]
		echo "# no GPU here: only the refusal was tested ($stderr)" >&3
	fi
}

@test "a .c candidate is built once and cached by content" {
	run -0 grad-trap --candidate "$F/radix2d-ok.c" "$BATS_TEST_TMPDIR/b2"
	n=$(ls "$KVA_CACHE_DIR"/cand-*.so | wc -l)
	run -0 grad-trap --candidate "$F/radix2d-ok.c" "$BATS_TEST_TMPDIR/b2"
	assert_equal "$(ls "$KVA_CACHE_DIR"/cand-*.so | wc -l)" "$n"
}

@test "--db appends the run to the SQLite trace store" {
	command -v sqlite3 >/dev/null || skip "sqlite3 CLI not installed: cannot read the store back"
	grad-trap --candidate "$F/radix2d-ok.c" --db "$BATS_TEST_TMPDIR/t.db" "$BATS_TEST_TMPDIR/b2" > /dev/null
	run -1 grad-trap --candidate "$F/radix2d-nowrap.c" --db "$BATS_TEST_TMPDIR/t.db" "$BATS_TEST_TMPDIR/b2"
	run -0 sqlite3 "$BATS_TEST_TMPDIR/t.db" "select verdict, oracle, kind, diverged > 0, json_extract(first_case, '\$.class') from trap_runs order by id"
	assert_line --index 0 "PASS|radix-2d|route|0|"
	assert_line --index 1 "HARD_BLOCK|radix-2d|route|1|out_of_bounds"
}

@test "--dump writes both gradient tensors of the failing world as a tensor dump" {
	run -1 grad-trap --candidate "$F/radix2d-nowrap.c" --dump "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/b2"
	run -0 jq -e -s '(map(select(.type == "tensor")) | map(.name)) == ["grad.oracle", "grad.candidate"]
	  and (map(select(.type == "tensor")) | .[0].shape == .[1].shape and .[0].shape[-1] == 128
	       and .[0].layout == "head,block,offset,dim" and .[0].tokens == .[1].tokens)
	  and ([.[] | select(.type == "cells" and .name == "grad.oracle") | .index]
	       != [.[] | select(.type == "cells" and .name == "grad.candidate") | .index])
	  and all(.[] | select(.type == "cells"); (.values | length) == 128 and .values[0] >= 1)' "$BATS_TEST_TMPDIR/d"
	# kernels: cells are slots, rows are H*D floats
	route-oracle --oracle paged --boundaries > "$BATS_TEST_TMPDIR/p"
	# route-oracle's block sizes past 2^31 are routes' only: a kernel
	# counts them too_large and checks the rest
	run -0 grad-trap --kind write --candidate "$ROOT/fixtures/candidates/write/correct-index.c" "$BATS_TEST_TMPDIR/p"
	big=$(jq -s 'map(select(.block_size > 16777216)) | length' "$BATS_TEST_TMPDIR/p")
	[ "$big" -gt 0 ]
	run -0 jq -e -s --argjson big "$big" --argjson n "$(wc -l < "$BATS_TEST_TMPDIR/p")" \
		'.[-1] | .verdict == "PASS" and .too_large == $big and .cases == $n - $big' <<< "$output"
	run -1 grad-trap --kind write --candidate "$ROOT/fixtures/candidates/write/swap-pairs.c" --dump "$BATS_TEST_TMPDIR/k" "$BATS_TEST_TMPDIR/p"
	run -0 jq -e -s '.[0].layout == "slot,head_dim" and .[0].shape[1] == 32
	  and ([.[] | select(.type == "cells" and .name == "grad.oracle") | .values]
	       != [.[] | select(.type == "cells" and .name == "grad.candidate") | .values])' "$BATS_TEST_TMPDIR/k"
}

@test "built-in generator mode checks a sweep without JSON in the loop" {
	run -0 grad-trap --candidate "$F/radix2d-ok.c" --oracle radix-2d --sweep b_local_idx=0:20,head_idx=0:2,prefix_length_h=0:50,total_blocks_h=1:5,block_size=1:9
	run -0 jq -e '.cases == 20*2*50*4*8 and .verdict == "PASS"' <<< "$output"
	run -1 grad-trap --candidate "$F/radix2d-nowrap.c" --oracle radix-2d --boundaries --max-map 0
	run -1 grad-trap --candidate "$F/radix2d-nowrap.c" --oracle radix-2d --random 500 --seed 2 --max-map 0
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" --boundaries
	[[ $stderr == *"needs --oracle"* ]]
}

@test "rolling: transformers#38046's fix passes, #37574's early roll is a HARD_BLOCK, piped and generated" {
	C="$ROOT/fixtures/candidates/rolling"
	route-oracle --oracle rolling --boundaries > "$BATS_TEST_TMPDIR/r"
	route-oracle --oracle rolling --random 3000 --seed 5 >> "$BATS_TEST_TMPDIR/r"
	run -0 grad-trap --candidate "$C/correct-roll.c" "$BATS_TEST_TMPDIR/r"
	run -0 jq -e '.verdict == "PASS" and .oracle == "rolling" and .cases > 3400 and .diverged == 0' <<< "$output"
	run -0 grad-trap --candidate "$C/correct-roll.c" --oracle rolling --boundaries
	run -0 jq -e '.verdict == "PASS" and .cases > 300' <<< "$output"
	run -0 grad-trap --candidate "$C/correct-roll.c" --oracle rolling --random 3000 --seed 5
	run -0 jq -e '.verdict == "PASS" and .cases == 3000' <<< "$output"
	# the early roll: window 8, seq_len 8 (the write that fills the
	# cache) loses token 0 and moves token 1 into its slot
	run -1 grad-trap --candidate "$C/rolls-at-fill.c" --max-map 1000 "$BATS_TEST_TMPDIR/r"
	run -0 jq -e -s '.[-1].verdict == "HARD_BLOCK"
	  and .[-1].classes.missing > 0 and .[-1].classes.collision > 0
	  and any(.[]; .inputs == {"pos":0,"seq_len":8,"window":8} and .class == "missing")
	  and any(.[]; .inputs == {"pos":1,"seq_len":8,"window":8} and .got == {"slot":0} and .class == "collision")
	  and all(.[:-1][]; .inputs.seq_len >= .inputs.window)' <<< "$output"
	run -1 grad-trap --candidate "$C/rolls-at-fill.c" --oracle rolling --boundaries --max-map 0
	run -0 jq -e '.verdict == "HARD_BLOCK" and .classes.missing > 0 and .classes.collision > 0' <<< "$output"
	run -1 grad-trap --candidate "$C/rolls-at-fill.c" --oracle rolling --random 3000 --seed 5 --max-map 0
	run -0 jq -e '.verdict == "HARD_BLOCK" and .classes.misroute > 0' <<< "$output"
	# a slot past the window is out of bounds, not a misroute
	printf '%s\n' '#include "kvarbiter_candidate.h"' \
		'int route_rolling(int64_t pos, int64_t seq_len, int64_t window, int64_t out[1])' \
		'{ if (pos < 0 || pos >= seq_len || pos < seq_len - window) return 1; out[0] = pos; return 0; }' \
		> "$BATS_TEST_TMPDIR/no-roll.c"
	run -1 grad-trap --candidate "$BATS_TEST_TMPDIR/no-roll.c" --oracle rolling --boundaries --max-map 0
	run -0 jq -e '.verdict == "HARD_BLOCK" and .classes.out_of_bounds > 0' <<< "$output"
}

@test "other record types pass through in order; cases before them are judged first" {
	{ head -n 2 "$BATS_TEST_TMPDIR/b2"; echo '{"type":"note","n":1}'; sed -n 3p "$BATS_TEST_TMPDIR/b2"; } > "$BATS_TEST_TMPDIR/mix"
	run -1 grad-trap --candidate "$F/radix2d-nowrap.c" "$BATS_TEST_TMPDIR/mix"
	assert_equal "${lines[1]}" '{"type":"note","n":1}'
	run -0 jq -e -s '.[0].type == "divergence" and .[0].case == 1 and .[2].case == 2' <<< "$output"
}

@test "a case's own expect is the reference; without one the oracle computes it" {
	echo '{"type":"case","b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":4,"block_size":16,"oracle":"radix-2d"}' > "$BATS_TEST_TMPDIR/noexp"
	run -1 grad-trap --candidate "$F/radix2d-nowrap.c" "$BATS_TEST_TMPDIR/noexp"
	echo '{"type":"case","b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":4,"block_size":16,"oracle":"radix-2d","expect":{"head":0,"block":4,"offset":1}}' > "$BATS_TEST_TMPDIR/wrongexp"
	run -0 grad-trap --candidate "$F/radix2d-nowrap.c" "$BATS_TEST_TMPDIR/wrongexp"
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" <<< '{"type":"case","b_local_idx":5,"head_idx":0,"prefix_length_h":60,"total_blocks_h":4,"block_size":16,"oracle":"radix-2d","expect":{"head":0}}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "expect.block": missing'
}

# ---- the candidate corpus ---------------------------------------------------

# Every candidate in fixtures/candidates/manifest.jsonl gets its manifest
# verdict, and every class the manifest names is reported, over the
# boundaries and a seeded random sweep (no false positive allowed).
# Kernels run in all three layouts: a verdict is HARD_BLOCK if any layout
# fails, and the classes are the union.  A candidate's "args" are options
# of its run (a K/V pair's dtypes).
@test "every candidate of the corpus gets its manifest verdict and classes" {
	M="$ROOT/fixtures/candidates/manifest.jsonl"
	C="$ROOT/fixtures/candidates"
	n=0
	for o in radix-1d radix-2d paged paged-ring flashinfer rolling; do
		route-oracle --oracle "$o" --boundaries > "$BATS_TEST_TMPDIR/$o.b"
		cp "$BATS_TEST_TMPDIR/$o.b" "$BATS_TEST_TMPDIR/$o.br"
		route-oracle --oracle "$o" --random 2000 --seed 1 >> "$BATS_TEST_TMPDIR/$o.br"
		# kernels move whole rows through a cache sized by the batch's
		# largest slot: a shorter random sweep keeps them quick
		cp "$BATS_TEST_TMPDIR/$o.b" "$BATS_TEST_TMPDIR/$o.bk"
		route-oracle --oracle "$o" --random 300 --seed 1 >> "$BATS_TEST_TMPDIR/$o.bk"
	done
	# "|" separates the fields: IFS white space would merge empty ones
	while IFS='|' read -r file kind oracle verdict classes any form args; do
		# boundaries and a seeded random sweep; a candidate that hangs
		# on an input runs the boundaries only (each hang costs --timeout)
		cases="$BATS_TEST_TMPDIR/$oracle.br" tmo=0.3
		# (a hanging candidate's hangs are timeouts whatever the limit, and
		# a slow answer would be one too: 0.1 s keeps its dozens short)
		[[ " $classes " == *" timeout "* ]] && cases="$BATS_TEST_TMPDIR/$oracle.b" tmo=0.1
		[ "$kind" = route ] || cases="$BATS_TEST_TMPDIR/$oracle.bk"
		if [ "$form" = cu ]; then
			# tested on its own below (needs nvcc and a GPU)
			continue
		fi
		layouts=nhd
		[ "$kind" = route ] || layouts="nhd hnd vllm-x"
		got=PASS seen=""
		for L in $layouts; do
			if [ "$form" = cmd ]; then
				st=0
				grad-trap --candidate-cmd "python3 $C/$file" --timeout 1 --max-map 0 "$cases" > "$BATS_TEST_TMPDIR/out" || st=$?
			else
				st=0
				# shellcheck disable=SC2086 # args: the manifest's options, split
				grad-trap --kind "$kind" --layout "$L" $args --candidate "$C/$file" --timeout "$tmo" --max-map 0 "$cases" > "$BATS_TEST_TMPDIR/out" || st=$?
			fi
			[ "$st" -le 1 ] || { echo "$file ($L): trouble, exit $st"; return 1; }
			# the summary: a load or soak finding comes before it
			# even with --max-map 0
			jq -c 'select(.type == "summary")' "$BATS_TEST_TMPDIR/out" > "$BATS_TEST_TMPDIR/sum"
			[ "$(wc -l < "$BATS_TEST_TMPDIR/sum")" = 1 ] || { echo "$file ($L): no summary"; return 1; }
			v=$(jq -r .verdict "$BATS_TEST_TMPDIR/sum")
			[ "$v" = HARD_BLOCK ] && got=HARD_BLOCK
			[ "$st" = "$([ "$v" = HARD_BLOCK ] && echo 1 || echo 0)" ]
			seen="$seen $(jq -r '.classes | to_entries[] | select(.value > 0) | .key' "$BATS_TEST_TMPDIR/sum" | tr '\n' ' ')"
		done
		[ "$got" = "$verdict" ] || { echo "$file: verdict $got, manifest says $verdict (classes:$seen)"; return 1; }
		for c in $classes; do
			[[ " $seen " == *" $c "* ]] || { echo "$file: class $c not reported (got:$seen)"; return 1; }
		done
		if [ -n "$any" ]; then
			hit=0
			for c in $any; do [[ " $seen " == *" $c "* ]] && hit=1; done
			[ "$hit" = 1 ] || { echo "$file: none of $any reported (got:$seen)"; return 1; }
		fi
		n=$((n + 1))
	done < <(jq -r '[.file, .kind, .oracle, .verdict, ((.classes // []) | join(" ")), ((.classes_any // []) | join(" ")), (.form // "c"), ((.args // []) | join(" "))] | join("|")' "$M")
	echo "$n candidates checked"
	[ "$n" -ge 50 ]
}

# ---- kernels ------------------------------------------------------------------

@test "write and gather kernels: records name the slot a token's row went to" {
	route-oracle --oracle paged --boundaries > "$BATS_TEST_TMPDIR/p"
	C="$ROOT/fixtures/candidates"
	run -1 grad-trap --kind write --candidate "$C/write/swap-pairs.c" --max-map 1 "$BATS_TEST_TMPDIR/p"
	run -0 jq -e -s '.[0].class == "permutation" and (.[0].got.slot | type) == "number"
	  and .[1].kind == "write" and .[1].verdict == "HARD_BLOCK"' <<< "$output"
	run -1 grad-trap --kind gather --layout hnd --candidate "$C/gather/hnd-as-nhd.c" --format text --max-map 1 "$BATS_TEST_TMPDIR/p"
	assert_line --index 0 --regexp '^\[AUTOGRAD TRAP FAIL — HARD_BLOCK\] divergence=[0-9.]+e[-+][0-9]+ > tol=1e-04$'
	run -2 --separate-stderr grad-trap --kind write --candidate "$C/write/correct-index.c" "$BATS_TEST_TMPDIR/b2"
	[[ $stderr == *"write kernels are trapped on slot cases"* ]]
	run -2 --separate-stderr grad-trap --kind write --head-dim 3 --candidate "$C/write/correct-index.c" "$BATS_TEST_TMPDIR/p"
	[[ $stderr == *"--head-dim must be at least 4"* ]]
}

# ---- robustness ----------------------------------------------------------------

@test "empty input checked nothing: exit 2, never a PASS" {
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" < /dev/null
	assert_output ""
	assert_equal "$stderr" "grad-trap: no case records: nothing was checked"
}

@test "blank lines and CRLF are accepted" {
	{ echo; head -n 3 "$BATS_TEST_TMPDIR/b2" | sed 's/$/\r/'; echo "  "; } > "$BATS_TEST_TMPDIR/in"
	run -0 grad-trap --candidate "$F/radix2d-ok.c" "$BATS_TEST_TMPDIR/in"
	run -0 jq -e '.cases == 3' <<< "$output"
}

@test "malformed JSON, trailing garbage, missing type: exit 2 naming file and line" {
	{ head -n 2 "$BATS_TEST_TMPDIR/b2"; echo '{"type":"case",'; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-nowrap.c" "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "grad-trap: $BATS_TEST_TMPDIR/in:3: malformed JSON at column 16: expected member name"
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" <<< '{"type":"case"} x'
	assert_equal "$stderr" "grad-trap: <stdin>:1: malformed JSON at column 17: trailing garbage after the value"
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" <<< '{"oracle":"radix-2d"}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "type": missing'
}

@test "an oversized record and 2^60 are refused; --keep-going goes on" {
	{ printf '{"type":"note","pad":"%0300d"}\n' 0; head -n 1 "$BATS_TEST_TMPDIR/b2"; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" --max-record 250 --keep-going "$BATS_TEST_TMPDIR/in"
	assert_line --index 0 --partial '"type":"error"'
	run -0 jq -e '.type == "summary" and .cases == 1' <<< "${lines[1]}"
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" <<< '{"type":"case","oracle":"radix-2d","b_local_idx":1152921504606846976,"head_idx":0,"prefix_length_h":0,"total_blocks_h":1,"block_size":1}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "b_local_idx": 1152921504606846976 is beyond +-2^53'
	run -2 --separate-stderr grad-trap --candidate "$F/radix2d-ok.c" <<< '{"type":"case","oracle":"radix-2d","b_local_idx":0,"head_idx":0,"prefix_length_h":0,"total_blocks_h":1,"block_size":0}'
	assert_equal "$stderr" 'grad-trap: <stdin>:1: field "block_size": must satisfy block_size >= 1'
}

@test "--help, --version, a bad option, bad values" {
	run -0 grad-trap --help
	assert_line --index 0 --partial "usage: grad-trap"
	run -0 grad-trap --version
	assert_output --regexp '^grad-trap [0-9.]+$'
	run -2 --separate-stderr grad-trap --bogus
	[[ ${stderr_lines[1]} == "usage: grad-trap"* ]]
	run -2 --separate-stderr grad-trap
	[[ ${stderr_lines[0]} == "grad-trap: give exactly one of --candidate and --candidate-cmd" ]]
	run -2 --separate-stderr grad-trap --candidate x.c --kind scatter
	assert_equal "$stderr" "grad-trap: --kind: want route, write, gather, copy-blocks or swap-blocks, not scatter"
	run -2 --separate-stderr grad-trap --candidate x.c --timeout 0
	assert_equal "$stderr" "grad-trap: --timeout: value is invalid: 0"
	run -2 --separate-stderr grad-trap --candidate x.c --max-hangs -1
	assert_equal "$stderr" "grad-trap: --max-hangs: value is too small: -1"
	run -2 --separate-stderr grad-trap --candidate x.c --load-timeout x
	assert_equal "$stderr" "grad-trap: --load-timeout: value is invalid: x"
	run -2 --separate-stderr grad-trap --candidate x.c --confine loose
	assert_equal "$stderr" "grad-trap: --confine: want auto or strict, not loose"
	run -2 --separate-stderr grad-trap --run true --candidate x.c
	assert_equal "${stderr_lines[0]}" "grad-trap: --run takes a command and nothing to trap"
}

@test "--run: a command confined like a co-process; its status, 124 past --timeout" {
	export OPENAI_API_KEY=sk-kvarbiter-run-$RANDOM$RANDOM
	run -0 --separate-stderr grad-trap --run 'env; pwd'
	assert_equal "$stderr" ""
	refute_output --partial "$OPENAI_API_KEY"
	refute_output --partial "OPENAI"
	assert_line "LC_ALL=C"
	assert_line "PATH=/usr/local/bin:/usr/bin:/bin"
	# stdin and stdout are ours; files only in the private directory
	run -0 --separate-stderr grad-trap --run 'cat > f && wc -c < f' <<< "hello"
	assert_output "6"
	run -3 --separate-stderr grad-trap --run "echo pwned > $BATS_TEST_TMPDIR/x; exit 3"
	[ ! -e "$BATS_TEST_TMPDIR/x" ]
	run -124 --separate-stderr grad-trap --run 'sleep 100' --timeout 0.5
	assert_equal "$stderr" "grad-trap: --run: no end for 0.5 s"
	run -137 --separate-stderr grad-trap --run 'kill -9 $$'
}

@test "without namespaces: the missing layers are said once and recorded; strict refuses" {
	# a user namespace in which no further one may be made: clone fails
	unshare --user --map-root-user sh -c 'echo 0 > /proc/sys/user/max_user_namespaces' 2> /dev/null ||
		skip "cannot make a user namespace here to take namespaces away"
	run -1 --separate-stderr unshare --user --map-root-user sh -c \
		'echo 0 > /proc/sys/user/max_user_namespaces && exec grad-trap --candidate "$1" --db "$3" "$2"' \
		sh "$F/radix2d-nowrap.c" "$BATS_TEST_TMPDIR/b2" "$BATS_TEST_TMPDIR/t.db"
	assert_equal "${#stderr_lines[@]}" 1
	[[ ${stderr_lines[0]} == "grad-trap: confinement: user, pid, mount, ipc, net"*"unavailable: clone: "* ]]
	run -0 jq -e '.verdict == "HARD_BLOCK" and .confinement.mode == "auto" and .confinement.env
	  and (.confinement.user | not) and (.confinement.pid | not) and .confinement.seccomp == "loader"' <<< "${lines[-1]}"
	if command -v sqlite3 > /dev/null; then
		run -0 sqlite3 "$BATS_TEST_TMPDIR/t.db" "select json_extract(confinement, '\$.user'), json_extract(confinement, '\$.seccomp'), not_run from trap_runs"
		assert_output "0|loader|0"
	fi
	run -2 --separate-stderr unshare --user --map-root-user sh -c \
		'echo 0 > /proc/sys/user/max_user_namespaces && exec grad-trap --confine strict --candidate "$1" "$2"' \
		sh "$F/radix2d-ok.c" "$BATS_TEST_TMPDIR/b2"
	[[ $stderr == *"confinement: user, pid, mount, ipc, net"*"unavailable: clone: "*"(--confine strict)"* ]]
	assert_output ""
	# --no-confine says so in the summary
	run -0 grad-trap --no-confine --candidate "$F/radix2d-ok.c" "$BATS_TEST_TMPDIR/b2"
	run -0 jq -e '.confinement == {"mode":"off"}' <<< "${lines[-1]}"
}

@test "a hanging candidate: --format text says how many cases were not run and why" {
	run -1 grad-trap --candidate "$ROOT/fixtures/candidates/hostile/hang-tb3.c" --oracle radix-2d \
		--boundaries --timeout 0.5 --max-hangs 1 --format text --max-map 1
	assert_line --regexp '^[0-9]+ of [0-9]+ cases diverged: timeout=1$'
	assert_line --regexp '^[0-9]+ cases not run: hang budget spent: 1 timeout \(--max-hangs 1\)$'
}

@test "writing to /dev/full is an error, exit 2" {
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run -2 --separate-stderr sh -c 'exec grad-trap --candidate "$1" "$2" > /dev/full' sh "$F/radix2d-ok.c" "$BATS_TEST_TMPDIR/b2"
	assert_equal "$stderr" "grad-trap: write error: No space left on device"
}

@test "kv-prefill's route records are trapped as paged cases" {
	echo '{"type":"prefill","tokens":1000}' | kv-prefill --pool-tokens 512 --no-events --routes > "$BATS_TEST_TMPDIR/r"
	run -0 grad-trap --candidate "$ROOT/fixtures/candidates/paged/correct-slot-first.c" "$BATS_TEST_TMPDIR/r"
	assert_line --index 1 --partial '"cases":16,"diverged":0'
	assert_line --index 0 --partial '"type":"state"'
}

@test "every EXAMPLES entry of grad-trap(1) runs and prints what the page shows" {
	run -0 check_man_examples grad-trap.1
}

@test "the red-team corpus: every candidate judged as its manifest says" {
	# the tools of this build (build-asan under make asan), not build/'s
	GRAD_TRAP=$(command -v grad-trap) ROUTE_ORACLE=$(command -v route-oracle) \
		run bash "$FIX/redteam/run-corpus.sh" -j 2
	# on failure, everything but the OK rows: the MISS rows (tab-separated,
	# with what each run got) and any message of the script or a tool
	if [ "$status" -ne 0 ]; then
		printf '%s\n' "${lines[@]}" | grep -v "$(printf '\tOK\t')" | sed 's/^/# /' >&3
	fi
	[ "$status" -eq 0 ]
	assert_line '66 candidates: 66 OK, 0 MISS (0 not explained by a feature not built yet: )'
	run -0 jq -s -e 'length == 66 and (map(select(.verdict == "PASS")) | length) >= 10' \
		"$ROOT/fixtures/candidates/redteam/manifest.jsonl"
}

@test "kernels: overflow calls past 2^31 and 2^32 bytes and floats: a correct kernel passes, an int32 index faults on them" {
	run -0 --separate-stderr grad-trap --kind write --candidate "$ROOT/fixtures/candidates/write/correct-index.c" --oracle paged --boundaries
	run -0 jq -e '.verdict == "PASS" and .overflow.calls == 4 and .overflow.tokens == 84
	  and .overflow.arena_bytes > 24 * 1024 * 1024 * 1024 and .overflow.why_not == null' <<< "${lines[-1]}"
	# an int32 element index is right below 2^31 floats and faults above:
	# the tokens of the 2^31 and 2^32 calls crash (the one at 2^31 - 1 does not)
	run -1 --separate-stderr grad-trap --kind gather --candidate "$ROOT/fixtures/candidates/redteam/gather-int32-index.c" --oracle flashinfer --boundaries --max-map 100
	run -0 jq -e -s --argjson hd 32 '(map(select(.type == "divergence")) | length) == 35
	  and all(.[] | select(.type == "divergence"); .class == "crash" and (.expect.page * 16 + .expect.entry + 1) * $hd > 2147483648)
	  and .[-1].overflow.calls > 4' <<< "$output"
	# calls from the input or a random sweep are never overflow calls
	run -0 --separate-stderr grad-trap --kind write --candidate "$ROOT/fixtures/candidates/write/correct-index.c" --oracle paged --random 50
	run -0 jq -e '.overflow == {"calls":0,"tokens":0,"arena_bytes":0,"why_not":"made by the built-in --boundaries only"}' <<< "${lines[-1]}"
}

@test "the soak: a route that drifts after 4096 calls is caught before its first case, and passes with --soak 0" {
	C="$ROOT/fixtures/candidates/redteam/route-flashinfer-drift-after-4096.c"
	run -1 --separate-stderr grad-trap --candidate "$C" --oracle flashinfer --boundaries --max-map 0
	run -0 jq -e '.verdict == "HARD_BLOCK" and .soak == {"calls":65536,"why_not":null}' <<< "${lines[-1]}"
	run -0 --separate-stderr grad-trap --candidate "$C" --oracle flashinfer --boundaries --soak 0
	run -0 jq -e '.verdict == "PASS" and .soak == {"calls":0,"why_not":"--soak 0"}' <<< "${lines[-1]}"
}

@test "the soak: a crash in it is a finding of phase soak, and the cases still run" {
	run -1 --separate-stderr grad-trap --candidate "$F/radix1d-crash-after-2000.c" --oracle radix-1d --boundaries
	assert_equal "${#lines[@]}" 2
	run -0 jq -e -s '.[0].phase == "soak" and .[0].class == "crash" and (.[0].why | startswith("signal 11"))
	  and .[1].cases > 100 and .[1].not_run == 0 and .[1].diverged == 0 and .[1].classes.crash == 1
	  and .[1].first.phase == "soak" and (.[1].soak.why_not | startswith("the soak failed"))' <<< "$output"
	run -0 --separate-stderr grad-trap --candidate "$F/radix1d-crash-after-2000.c" --oracle radix-1d --boundaries --soak 1000
	run -0 jq -e '.verdict == "PASS" and .soak.calls == 1000' <<< "${lines[-1]}"
}

@test "kernels: a padding token written just before the cache is its unmapped_write, no one else's" {
	printf '%s\n' '{"type":"case","oracle":"paged","pos":1,"block_size":4,"block_table":[2,0]}' \
		'{"type":"case","oracle":"paged","pos":-1,"block_size":4,"block_table":[2,0]}' \
		'{"type":"case","oracle":"paged","pos":6,"block_size":4,"block_table":[2,0]}' > "$BATS_TEST_TMPDIR/pad"
	run -1 --separate-stderr grad-trap --kind write --candidate "$F/write-padding-before-cache.c" "$BATS_TEST_TMPDIR/pad"
	assert_equal "${#lines[@]}" 2
	run -0 jq -e -s '.[0].case == 1 and .[0].class == "unmapped_write"
	  and .[1].diverged == 1 and .[1].classes.unmapped_write == 1' <<< "$output"
}

@test "kernels: every padding token that writes is charged itself, however many write one place" {
	# issue 25's minimal case: two padding tokens, then pos 5 (nhd, one head)
	printf '%s\n' '{"type":"case","oracle":"paged","pos":-1,"block_size":4,"block_table":[2,0]}' \
		'{"type":"case","oracle":"paged","pos":-1,"block_size":4,"block_table":[2,0]}' \
		'{"type":"case","oracle":"paged","pos":5,"block_size":4,"block_table":[2,0]}' > "$BATS_TEST_TMPDIR/pad2"
	run -1 --separate-stderr grad-trap --kind write --heads 1 --candidate "$F/write-padding-before-cache.c" "$BATS_TEST_TMPDIR/pad2"
	run -0 jq -e -s '(map(select(.type == "divergence") | [.case, .class]) == [[0, "unmapped_write"], [1, "unmapped_write"]])
	  and .[-1].diverged == 2' <<< "$output"
	# six padding tokens between six tokens, all of them on slot -1: six
	# unmapped_writes, no correct token charged
	for i in 1 2 3 4 5 6; do
		echo '{"type":"case","oracle":"paged","pos":-1,"block_size":4,"block_table":[2,0]}'
		echo '{"type":"case","oracle":"paged","pos":'"$i"',"block_size":4,"block_table":[2,0]}'
	done > "$BATS_TEST_TMPDIR/pad6"
	run -1 --separate-stderr grad-trap --kind write --candidate "$F/write-padding-before-cache.c" "$BATS_TEST_TMPDIR/pad6"
	run -0 jq -e -s '(map(select(.type == "divergence") | .case) == [0, 2, 4, 6, 8, 10])
	  and .[-1].classes.unmapped_write == 6 and .[-1].diverged == 6' <<< "$output"
}

@test "kernels: strided caches: the fix passes, the packed block stride is blocked; only a kernel that declares strides gets them" {
	S="$ROOT/fixtures/candidates/strided"
	for L in nhd hnd vllm-x; do
		run -0 --separate-stderr grad-trap --kind write --layout "$L" --candidate "$S/write-strides-honoured.c" --oracle paged --boundaries
		run -0 jq -e '.verdict == "PASS" and .strided_calls > 5 and .constraints.strided == true' <<< "${lines[-1]}"
		run -1 --separate-stderr grad-trap --kind write --layout "$L" --candidate "$S/write-block-stride-assumed.c" --oracle paged --boundaries --max-map 0
		run -0 jq -e '.verdict == "HARD_BLOCK" and .classes.missing > 0 and .classes.unmapped_write == 0' <<< "${lines[-1]}"
	done
	# the same bug reads its strides only when they are given: a kernel
	# that does not declare KVA_CAN_STRIDED is never given any
	run -0 --separate-stderr grad-trap --kind write --candidate "$ROOT/fixtures/candidates/write/correct-index.c" --oracle paged --boundaries
	run -0 jq -e '.strided_calls == 0 and .constraints == null and .unclaimed == 0' <<< "${lines[-1]}"
}

@test "kernels: a kernel's constraints: its cases are what it claims, the rest unclaimed; a run outside them or a bad declaration is trouble" {
	K="$ROOT/fixtures/candidates/constraints"
	run -0 --separate-stderr grad-trap --kind write --layout hnd --candidate "$K/write-bs16-declared.c" --oracle paged --boundaries
	run -0 jq -e '.verdict == "PASS" and .unclaimed > 100 and .cases > 1000
	  and .constraints == {"block_sizes":[16],"head_dim_multiple":16,"max_tokens":0,"layouts":["nhd","hnd","vllm-x"],"strided":false}
	  and .overflow.calls == 4' <<< "${lines[-1]}"
	run -0 --separate-stderr grad-trap --kind write --layout hnd --candidate "$K/write-bs16-declared.c" --oracle paged --boundaries --format text
	assert_equal "${#lines[@]}" 2
	assert_line --index 1 --regexp '^[0-9]+ cases not checked: outside what the kernel claims \(kva_kernel_constraints\)$'
	run -1 --separate-stderr grad-trap --kind write --layout hnd --candidate "$K/write-bs16-undeclared.c" --oracle paged --boundaries --max-map 0
	run -0 jq -e '.verdict == "HARD_BLOCK" and .classes.partial_row > 0 and .unclaimed == 0' <<< "${lines[-1]}"
	# a head size it does not claim: nothing to check
	run -2 --separate-stderr grad-trap --kind write --head-dim 24 --candidate "$K/write-bs16-declared.c" --oracle paged --boundaries
	assert_output ""
	[[ "$stderr" == *"claims head sizes that are multiples of 16, not 24"* ]]
	# max_tokens: no call longer, the longer engine calls counted unclaimed
	sed 's/{ BS }, 16, 0, 0 }/{ BS }, 16, 100, 1 << KVA_LAYOUT_NHD }/' "$K/write-bs16-declared.c" > "$BATS_TEST_TMPDIR/k100.c"
	run -0 --separate-stderr grad-trap --kind write --candidate "$BATS_TEST_TMPDIR/k100.c" --oracle paged --boundaries
	run -0 jq -e '.verdict == "PASS" and .constraints.max_tokens == 100 and .constraints.layouts == ["nhd"]
	  and .unclaimed > 8192' <<< "${lines[-1]}"
	run -2 --separate-stderr grad-trap --kind write --layout hnd --candidate "$BATS_TEST_TMPDIR/k100.c" --oracle paged --boundaries
	[[ "$stderr" == *"claims other layouts than hnd"* ]]
	# a declaration of another version
	sed 's/KVA_CONSTRAINTS_V1, 0/7, 0/' "$K/write-bs16-declared.c" > "$BATS_TEST_TMPDIR/kv7.c"
	run -2 --separate-stderr grad-trap --kind write --candidate "$BATS_TEST_TMPDIR/kv7.c" --oracle paged --boundaries
	[[ "$stderr" == *"kva_kernel_constraints: version 0x00000007, not KVA_CONSTRAINTS_V1"* ]]
}

@test "kernels: rows past the slot list (kva_write_kv_rows): counted from the slots passes, from the rows is blocked" {
	R="$ROOT/fixtures/candidates/rows"
	run -0 --separate-stderr grad-trap --kind write --candidate "$R/write-rows-from-slots.c" --oracle paged --boundaries
	run -0 jq -e '.verdict == "PASS" and .rows_calls > 5' <<< "${lines[-1]}"
	# the padding rows it writes, or that make it read past the list, are
	# charged to themselves and to nothing else
	run -1 --separate-stderr grad-trap --kind write --candidate "$R/write-rows-from-key.c" --oracle paged --boundaries --max-map 1000
	run -0 jq -e -s '(map(select(.type == "divergence")) | length > 0
	  and all(.[]; .class == "unmapped_write" and (.expect.unmapped == true or .expect.slot == -1)))
	  and .[-1].classes.unmapped_write > 0 and .[-1].diverged == .[-1].classes.unmapped_write' <<< "$output"
	# a kernel with kva_write_kv only never gets rows past its slot list
	run -0 --separate-stderr grad-trap --kind write --candidate "$ROOT/fixtures/candidates/write/correct-index.c" --oracle paged --boundaries
	run -0 jq -e '.rows_calls == 0' <<< "${lines[-1]}"
}

@test "kernels: K and V in one call (kva_write_kv_pair): the fix passes on every layout pair, view and dtype, the cited bugs are blocked, a K/V swap is a kv_mixup" {
	P="$ROOT/fixtures/candidates/pair"
	for L in nhd hnd vllm-x; do
		for V in nhd vllm-x; do
			run -0 --separate-stderr grad-trap --kind write --layout "$L" --value-layout "$V" --candidate "$P/correct-pair.c" --oracle paged --boundaries
			run -0 jq -e '.verdict == "PASS" and .pair_calls > 20 and .strided_calls > 5 and .rows_calls > 5
			  and .overflow.why_not == "not made for kva_write_kv_pair kernels"' <<< "${lines[-1]}"
		done
		# a swap of the two caches: every written token, and nothing else
		run -1 --separate-stderr grad-trap --kind write --layout "$L" --candidate "$F/pair-caches-swapped.c" --oracle paged --boundaries --max-map 1
		run -0 jq -e -s '.[0].class == "kv_mixup" and .[0].why == "a head of its key in the value cache"
		  and .[-1].diverged > 10000 and .[-1].diverged == .[-1].classes.kv_mixup' <<< "$output"
		# the value rows read at the key rows' stride
		run -1 --separate-stderr grad-trap --kind write --layout "$L" --candidate "$P/value-key-stride.c" --oracle paged --boundaries --max-map 1
		run -0 jq -e -s '.[0].why == "in the value cache" and .[-1].classes.partial_row > 100' <<< "$output"
	done
	# K and V packed in the content dimension: a row copied whole puts a
	# key's head on the value cache
	run -1 --separate-stderr grad-trap --kind write --candidate "$P/bulk-row-packed.c" --oracle paged --boundaries --max-map 0
	run -0 jq -e '.classes.kv_mixup > 100' <<< "${lines[-1]}"
	# 16-bit caches, alike or beside a float one: moved bit for bit
	for d in "f16" "bf16" "bf16 --value-dtype f32" "f32 --value-dtype f16"; do
		for L in nhd vllm-x; do
			# shellcheck disable=SC2086 # d: the dtype options, split
			run -0 --separate-stderr grad-trap --kind write --layout "$L" --dtype $d --candidate "$P/correct-pair.c" --oracle paged --boundaries
			run -0 jq -e '.verdict == "PASS" and .pair_calls > 20' <<< "${lines[-1]}"
		done
	done
	# the value cache at the key cache's element size: right for one
	# dtype, wrong for two
	run -0 --separate-stderr grad-trap --kind write --dtype bf16 --candidate "$P/value-key-elem-size.c" --oracle paged --boundaries
	run -1 --separate-stderr grad-trap --kind write --dtype bf16 --value-dtype f32 --candidate "$P/value-key-elem-size.c" --oracle paged --boundaries --max-map 1
	run -0 jq -e -s '.[0].class == "partial_row" and .[0].why == "in the value cache" and .[-1].classes.partial_row > 1000' <<< "$output"
	# a 16-bit kernel's wrong slot or short row is decoded as a float one's
	sed 's/int64_t slot = slot_mapping\[t\];/int64_t slot = slot_mapping[t] ^ 1;/' "$P/correct-pair.c" > "$BATS_TEST_TMPDIR/xor.c"
	run -1 --separate-stderr grad-trap --kind write --dtype f16 --candidate "$BATS_TEST_TMPDIR/xor.c" --oracle paged --boundaries --max-map 0
	run -0 jq -e '.classes.permutation > 1000' <<< "${lines[-1]}"
	# the options are for pair kernels only; 16-bit needs an even head size
	run -2 --separate-stderr grad-trap --kind write --value-layout hnd --candidate "$ROOT/fixtures/candidates/write/correct-index.c" --oracle paged --boundaries
	[[ "$stderr" == *"--value-layout, --dtype and --value-dtype are for kva_write_kv_pair kernels"* ]]
	run -2 --separate-stderr grad-trap --kind write --dtype f16 --candidate "$ROOT/fixtures/candidates/write/correct-index.c" --oracle paged --boundaries
	[[ "$stderr" == *"are for kva_write_kv_pair kernels"* ]]
	run -2 --separate-stderr grad-trap --kind write --dtype f16 --head-dim 5 --candidate "$P/correct-pair.c" --oracle paged --boundaries
	[[ "$stderr" == *"--head-dim must be even for 16-bit caches"* ]]
	run -2 --separate-stderr grad-trap --kind write --dtype f8 --candidate "$P/correct-pair.c" --oracle paged --boundaries
	[[ "$stderr" == *"--dtype: want f32, f16 or bf16, not f8"* ]]
	run -2 --separate-stderr grad-trap --kind write --value-layout nhx --candidate "$P/correct-pair.c" --oracle paged --boundaries
	[[ "$stderr" == *"--value-layout: want nhd, hnd or vllm-x, not nhx"* ]]
}

@test "kernels: a paged gather (kva_gather_paged) walks block tables by sequence: the fixes pass, the cited bugs are blocked, a changed table is input_mutation" {
	G="$ROOT/fixtures/candidates/paged-gather"
	for o in paged paged-ring flashinfer; do
		for c in correct-table-walk correct-row-search; do
			run -0 --separate-stderr grad-trap --kind gather --layout vllm-x --candidate "$G/$c.c" --oracle "$o" --boundaries
			run -0 jq -e '.verdict == "PASS" and .paged_calls > 20 and .overflow.calls == 4 and .cases > 20000' <<< "${lines[-1]}"
		done
		# the table at the chunk's own positions, not its request's
		run -1 --separate-stderr grad-trap --kind gather --candidate "$G/chunk-relative-table.c" --oracle "$o" --boundaries --max-map 0
		run -0 jq -e '.verdict == "HARD_BLOCK" and .classes.misroute > 100' <<< "${lines[-1]}"
		# table rows max_blocks apart, not packed
		run -1 --separate-stderr grad-trap --kind gather --candidate "$G/packed-table-rows.c" --oracle "$o" --boundaries --max-map 0
		run -0 jq -e '.verdict == "HARD_BLOCK" and .classes.misroute > 1000' <<< "${lines[-1]}"
		# the rows past a sequence's length are the padding rows' own
		run -1 --separate-stderr grad-trap --kind gather --candidate "$G/whole-last-block.c" --oracle "$o" --boundaries --max-map 1000
		run -0 jq -e -s '.[-1].classes.unmapped_write > 100 and (map(select(.class == "unmapped_write")) | length > 0
		  and all(.[]; .expect.unmapped == true or .expect.slot == -1))' <<< "$output"
	done
	# strided views only where declared
	run -0 --separate-stderr grad-trap --kind gather --candidate "$G/correct-table-walk.c" --oracle paged --boundaries
	run -0 jq -e '.strided_calls > 5' <<< "${lines[-1]}"
	run -0 --separate-stderr grad-trap --kind gather --candidate "$G/correct-row-search.c" --oracle paged --boundaries
	run -0 jq -e '.strided_calls == 0' <<< "${lines[-1]}"
	run -1 --separate-stderr grad-trap --kind gather --candidate "$F/gather-paged-mutates-table.c" --oracle paged --boundaries --max-map 1
	run -0 jq -e -s '.[0].class == "input_mutation" and .[0].why == "the call changed the block tables or sequences"
	  and .[-1].classes.input_mutation > 0 and .[-1].diverged == .[-1].classes.input_mutation' <<< "$output"
	# a kva_gather_kv kernel is never called by table
	run -0 --separate-stderr grad-trap --kind gather --candidate "$ROOT/fixtures/candidates/gather/correct-index.c" --oracle paged --boundaries
	run -0 jq -e '.paged_calls == 0' <<< "${lines[-1]}"
}

@test "kernels: the payload comes from the seed: fresh by default, recorded, replayed by --seed" {
	C="$ROOT/fixtures/candidates/write/correct-index.c"
	run -0 grad-trap --kind write --candidate "$C" --oracle paged --boundaries
	s1=$(jq -r .seed <<< "${lines[-1]}")
	run -0 grad-trap --kind write --candidate "$C" --oracle paged --boundaries
	s2=$(jq -r .seed <<< "${lines[-1]}")
	[ "$s1" != "$s2" ]
	# the same seed, the same records but for the times
	F2="$ROOT/fixtures/candidates/redteam/write-k-only-half-heads.c"
	run -1 --separate-stderr grad-trap --kind write --candidate "$F2" --oracle paged --boundaries --seed "$s1" --max-map 5
	printf '%s\n' "${lines[@]}" > "$BATS_TEST_TMPDIR/a"
	run -1 --separate-stderr grad-trap --kind write --candidate "$F2" --oracle paged --boundaries --seed "$s1" --max-map 5
	printf '%s\n' "${lines[@]}" > "$BATS_TEST_TMPDIR/b"
	run -0 diff <(jq -c 'del(.seconds, .cases_per_s, .soak.calls)' "$BATS_TEST_TMPDIR/a") <(jq -c 'del(.seconds, .cases_per_s, .soak.calls)' "$BATS_TEST_TMPDIR/b")
	run -0 jq -e -s --argjson s "$s1" '.[-1].seed == $s and .[-1].classes.partial_row > 0' "$BATS_TEST_TMPDIR/a"
}

@test "kernels: a write just past the slack band faults on the guard page, pinned to its token" {
	printf '%s\n' '{"type":"case","oracle":"paged","pos":1,"block_size":4,"block_table":[2,0]}' \
		'{"type":"case","oracle":"paged","pos":6,"block_size":4,"block_table":[2,0]}' > "$BATS_TEST_TMPDIR/two"
	run -1 --separate-stderr grad-trap --kind write --candidate "$F/write-far-past-cache.c" "$BATS_TEST_TMPDIR/two"
	# (the soak's one-block cache has no slack band: its write lands past
	# the guard page, wherever that is, a crash of phase soak or nothing)
	run -0 jq -e -s 'map(select(.type == "divergence" and .phase == null)) | length == 2
	  and all(.[]; .class == "crash" and (.why | startswith("signal 11")))' <<< "$output"
}

@test "kernels: calls of many block sizes go in one request; a crash and a hang in it are pinned to their own tokens" {
	# expected, from the kernel's bug: every mapped block-5 token at
	# offset 3 a crash, the block-9 token at offset 8 a timeout, nothing
	# else (its neighbours in the request are judged as their own calls)
	route-oracle --oracle paged --random 3000 --seed 5 | jq -c 'select(.block_size != 9)' > "$BATS_TEST_TMPDIR/c"
	for p in 8 3 13; do
		printf '{"type":"case","oracle":"paged","pos":%d,"block_size":9,"block_table":[4,1]}\n' "$p"
	done >> "$BATS_TEST_TMPDIR/c"
	want=$(jq -s '[.[] | select(.block_size == 5 and .pos % 5 == 3 and (.expect.unmapped | not))] | length' "$BATS_TEST_TMPDIR/c")
	[ "$want" -ge 1 ]
	run -1 --separate-stderr grad-trap --kind write --candidate "$F/write-crash-hang-bs.c" --timeout 1 "$BATS_TEST_TMPDIR/c"
	run -0 jq -e -s --argjson want "$want" '
	  (map(select(.type == "divergence")) as $d
	   | ($d | map(select(.class == "crash")) | length) == $want
	   and all($d[] | select(.class == "crash"); .inputs.block_size == 5 and .inputs.pos % 5 == 3)
	   and ($d | map(select(.class == "timeout")) | length) == 1
	   and all($d[] | select(.class == "timeout"); .inputs.block_size == 9 and .inputs.pos == 8))
	  and .[-1].diverged == $want + 1 and .[-1].cases > 2900' <<< "$output"
}
