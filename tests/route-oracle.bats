#!/usr/bin/env bats
# route-oracle: every oracle, every generator, the robustness list.

load test_helper

F="$BATS_TEST_DIRNAME/fixtures/route-oracle"

@test "every oracle answers its queries; other types pass through in order" {
	run -0 --separate-stderr route-oracle "$F/queries.jsonl"
	assert_output "$(cat "$F/queries.expected")"
	assert_equal "$stderr" ""
}

@test "stdin and - are the same input" {
	run -0 route-oracle - < "$F/queries.jsonl"
	assert_output "$(cat "$F/queries.expected")"
}

@test "several operands are read in order" {
	run -0 route-oracle "$F/queries.jsonl" "$F/queries.jsonl"
	assert_equal "${#lines[@]}" 24
	assert_equal "${lines[12]}" "${lines[0]}"
}

@test "ImpactArbiter's fixtures agree with the oracle" {
	route-oracle "$ROOT/fixtures/boundaries/impactarbiter.jsonl" > "$BATS_TEST_TMPDIR/out"
	run -0 jq -e -s 'length == 8 and all(.[]; .expect == .known)' "$BATS_TEST_TMPDIR/out"
}

@test "empty input gives no output and exit 0" {
	run -0 --separate-stderr route-oracle < /dev/null
	assert_output ""
	assert_equal "$stderr" ""
}

@test "blank lines are skipped and line numbers still count them" {
	printf '\n   \n{"type":"query","oracle":"radix-1d","b_local_idx":0,"prefix_length":0,"block_size":0}\n' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr route-oracle "$BATS_TEST_TMPDIR/in"
	assert_output ""
	assert_equal "$stderr" "route-oracle: $BATS_TEST_TMPDIR/in:3: field \"block_size\": must satisfy block_size >= 1"
}

@test "CRLF line ends are accepted" {
	printf '{"type":"query","oracle":"radix-1d","b_local_idx":3,"prefix_length":13,"block_size":16}\r\n' > "$BATS_TEST_TMPDIR/in"
	run -0 route-oracle "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"case","b_local_idx":3,"prefix_length":13,"block_size":16,"oracle":"radix-1d","expect":{"block":1,"offset":0}}'
}

@test "malformed JSON: exit 2, file:line, records before it are written" {
	{ head -n 2 "$F/queries.jsonl"; echo '{"type":"query",'; head -n 1 "$F/queries.jsonl"; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr route-oracle "$BATS_TEST_TMPDIR/in"
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[1]}" "$(sed -n 2p "$F/queries.expected")"
	assert_equal "$stderr" "route-oracle: $BATS_TEST_TMPDIR/in:3: malformed JSON at column 17: expected member name"
}

@test "trailing garbage after the object is an error" {
	run -2 --separate-stderr route-oracle <<< '{"type":"query","b_local_idx":0,"head_idx":0,"prefix_length_h":0,"total_blocks_h":1,"block_size":1} x'
	assert_output ""
	assert_equal "$stderr" "route-oracle: <stdin>:1: malformed JSON at column 101: trailing garbage after the value"
}

@test "a record without type is an error naming the field" {
	run -2 --separate-stderr route-oracle <<< '{"b_local_idx":0}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "type": missing'
	run -2 --separate-stderr route-oracle <<< '{"type":7}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "type": must be a string'
	run -2 --separate-stderr route-oracle <<< '[1,2]'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: record is not a JSON object'
}

@test "an oversized record is refused and the next one still read" {
	{ printf '{"type":"note","pad":"%0200d"}\n' 0; head -n 1 "$F/queries.jsonl"; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr route-oracle --max-record 100 --keep-going "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":1,\"message\":\"record longer than 100 bytes (see --max-record)\"}"
	assert_equal "${lines[1]}" "$(head -n 1 "$F/queries.expected")"
	assert_equal "$stderr" "route-oracle: $BATS_TEST_TMPDIR/in:1: record longer than 100 bytes (see --max-record)"
}

@test "2^60 is rejected, not rounded; 2^53 is the limit" {
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"radix-1d","b_local_idx":1152921504606846976,"prefix_length":0,"block_size":1}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "b_local_idx": 1152921504606846976 is beyond +-2^53'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"radix-1d","b_local_idx":9007199254740993,"prefix_length":0,"block_size":1}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "b_local_idx": 9007199254740993 is beyond +-2^53'
	run -0 route-oracle <<< '{"type":"query","oracle":"radix-1d","b_local_idx":9007199254740992,"prefix_length":0,"block_size":1}'
	assert_output '{"type":"case","b_local_idx":9007199254740992,"prefix_length":0,"block_size":1,"oracle":"radix-1d","expect":{"block":9007199254740992,"offset":0}}'
}

@test "fractions, strings and negatives are rejected where integers are needed" {
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"radix-1d","b_local_idx":1.5,"prefix_length":0,"block_size":1}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "b_local_idx": must be an integer, got 1.5'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"radix-1d","b_local_idx":"1","prefix_length":0,"block_size":1}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "b_local_idx": must be an integer, got "1"'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"radix-1d","b_local_idx":-1,"prefix_length":0,"block_size":1}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "b_local_idx": must satisfy b_local_idx >= 0'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"paged","pos":1,"block_size":1,"block_table":[1,-2]}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "block_table[1]": must be in [0, 2^31-1]'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"radix-1d","prefix_length":0,"block_size":1}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "b_local_idx": missing'
}

@test "block_size 0 and other invalid queries are input errors" {
	run -2 --separate-stderr route-oracle <<< '{"type":"query","b_local_idx":0,"head_idx":0,"prefix_length_h":0,"total_blocks_h":1,"block_size":0}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "block_size": must satisfy block_size >= 1'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","b_local_idx":0,"head_idx":0,"prefix_length_h":0,"total_blocks_h":0,"block_size":4}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "total_blocks_h": must satisfy total_blocks_h >= 1'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"flashinfer","batch":0,"pos":0,"page_size":4,"kv_indptr":[0,1],"kv_indices":[3],"kv_last_page_len":[5]}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "kv_last_page_len": must satisfy kv_last_page_len[batch] <= page_size'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"nope"}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "oracle": unknown oracle "nope"'
}

@test "--keep-going turns bad records into error records and exits 2" {
	printf '%s\n' '{"type":"query","oracle":"radix-1d","b_local_idx":0,"prefix_length":0,"block_size":0}' \
		'{"type":"query","oracle":"radix-1d","b_local_idx":3,"prefix_length":13,"block_size":16}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr route-oracle --keep-going "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":1,\"field\":\"block_size\",\"message\":\"must satisfy block_size >= 1\"}"
	assert_equal "${lines[1]}" "$(head -n 1 "$F/queries.expected")"
}

@test "a duplicate member is an error" {
	run -2 --separate-stderr route-oracle <<< '{"type":"query","type":"query"}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: duplicate member "type"'
}

@test "a missing input file is trouble, named" {
	run -2 --separate-stderr route-oracle "$BATS_TEST_TMPDIR/nope"
	assert_equal "$stderr" "route-oracle: $BATS_TEST_TMPDIR/nope: No such file or directory"
}

@test "--help prints usage to stdout, exit 0" {
	run -0 --separate-stderr route-oracle --help
	assert_line --index 0 --partial "usage: route-oracle"
	assert_equal "$stderr" ""
	run -0 route-oracle -h
	assert_line --index 0 --partial "usage: route-oracle"
}

@test "--version" {
	run -0 route-oracle --version
	assert_output --regexp '^route-oracle [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "a bad option prints usage to stderr, exit 2" {
	run -2 --separate-stderr route-oracle --bogus
	assert_output ""
	[[ ${stderr_lines[0]} == *"unrecognized option '--bogus'" ]]
	[[ ${stderr_lines[1]} == "usage: route-oracle"* ]]
}

@test "bad option values are refused with the value named" {
	run -2 --separate-stderr route-oracle --random -3
	assert_equal "$stderr" "route-oracle: --random: value is too small: -3"
	run -2 --separate-stderr route-oracle --seed x
	assert_equal "$stderr" "route-oracle: --seed: value is invalid: x"
	run -2 --separate-stderr route-oracle --oracle nope
	assert_equal "$stderr" 'route-oracle: --oracle: unknown oracle "nope" (see --list)'
	run -2 --separate-stderr route-oracle --boundaries --random 3
	[[ $stderr == *"exclude each other"* ]]
}

@test "writing to /dev/full is an error, exit 2" {
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run -2 --separate-stderr sh -c 'exec route-oracle "$1" > /dev/full' sh "$F/queries.jsonl"
	assert_equal "$stderr" "route-oracle: write error: No space left on device"
	run -2 --separate-stderr sh -c 'exec route-oracle --boundaries > /dev/full'
	assert_equal "$stderr" "route-oracle: write error: No space left on device"
	run -2 --separate-stderr sh -c 'exec route-oracle --list > /dev/full'
	assert_equal "$stderr" "route-oracle: write error: No space left on device"
}

@test "--list describes every oracle" {
	run -0 route-oracle --list
	assert_equal "${#lines[@]}" 6
	assert_line --index 1 '{"type":"oracle","name":"radix-2d","inputs":["b_local_idx","head_idx","prefix_length_h","total_blocks_h","block_size"],"outputs":["head","block","offset"]}'
}

@test "--print-formula prints each built-in's formula" {
	for o in radix-1d radix-2d paged paged-ring flashinfer rolling; do
		run -0 route-oracle --oracle "$o" --print-formula
		assert_line "oracle $o"
	done
	run -0 route-oracle --print-formula
	assert_line "out block = (a div block_size) mod total_blocks_h"
}

# ---- generators ------------------------------------------------------------

@test "--boundaries: ring sizes 1 and 3, odd block sizes, heads >= 4, b >= block_size" {
	route-oracle --boundaries > "$BATS_TEST_TMPDIR/b"
	run -0 jq -e -s '
	  (map(.total_blocks_h) | unique) as $rings
	  | (map(.block_size) | unique) as $bss
	  | ($rings | index(1)) != null and ($rings | index(3)) != null
	  and ([3,7,17] - $bss) == []
	  and (map(.head_idx) | max) == 7 and any(.[]; .head_idx >= 4)
	  and any(.[]; .b_local_idx >= .block_size and .block_size > 1)
	  and all(.[]; .type == "case" and .oracle == "radix-2d")' "$BATS_TEST_TMPDIR/b"
}

@test "--boundaries: values at k*m-1, k*m, k*m+1 around the ring wrap" {
	route-oracle --boundaries > "$BATS_TEST_TMPDIR/b"
	# for N = 3 and bs = 7 the wrap is at a = 21: 20, 21 and 22 must all be there
	run -0 jq -e -s '[.[] | select(.total_blocks_h == 3 and .block_size == 7)
	  | .prefix_length_h + .b_local_idx] as $a
	  | ([20, 21, 22, 0, 1, 6, 7, 8, 48, 49, 50] - $a) == []' "$BATS_TEST_TMPDIR/b"
}

@test "--boundaries includes ImpactArbiter's three-row table first, and no duplicates" {
	route-oracle --boundaries > "$BATS_TEST_TMPDIR/b"
	run -0 head -n 3 "$BATS_TEST_TMPDIR/b"
	assert_output "$(sed -n 2,4p "$F/queries.expected")"
	run -0 jq -e -s 'length == (unique | length)' "$BATS_TEST_TMPDIR/b"
}

@test "--boundaries for paged covers padding, unmapped and the paged fixtures" {
	route-oracle --oracle paged --boundaries > "$BATS_TEST_TMPDIR/b"
	run -0 jq -e -s 'any(.[]; .expect == {"slot":-1})
	  and any(.[]; .expect == {"unmapped":true})
	  and ([15,99,100,105,128] - map(select(.block_size == 16 and (.block_table | length) == 8) | .pos)) == []
	  and all(.[]; .block_table as $t | [range(0; $t|length)] | all(. as $i | $t[$i] != $i) )' "$BATS_TEST_TMPDIR/b"
}

@test "--boundaries for every oracle is valid, deterministic input for route-oracle itself" {
	for o in radix-1d radix-2d paged paged-ring flashinfer rolling; do
		route-oracle --oracle "$o" --boundaries > "$BATS_TEST_TMPDIR/b"
		[ -s "$BATS_TEST_TMPDIR/b" ]
		# feeding the cases back as queries reproduces them exactly
		jq -c '.type = "query"' "$BATS_TEST_TMPDIR/b" > "$BATS_TEST_TMPDIR/q"
		route-oracle "$BATS_TEST_TMPDIR/q" > "$BATS_TEST_TMPDIR/again"
		cmp "$BATS_TEST_TMPDIR/b" "$BATS_TEST_TMPDIR/again"
		route-oracle --oracle "$o" --boundaries | cmp - "$BATS_TEST_TMPDIR/b"
	done
}

@test "--boundaries for flashinfer has mapped and unmapped cases on both sides of the end" {
	route-oracle --oracle flashinfer --boundaries > "$BATS_TEST_TMPDIR/b"
	run -0 jq -e -s '
	  def seqlen: (.kv_indptr[.batch+1] - .kv_indptr[.batch]) as $p
	    | if $p == 0 then 0 else ($p - 1) * .page_size + .kv_last_page_len[.batch] end;
	  any(.[]; .pos == seqlen - 1 and .expect.page != null)
	  and any(.[]; .pos == seqlen and .expect.unmapped)
	  and any(.[]; .pos == seqlen + 1 and .expect.unmapped)
	  and any(.[]; .batch >= 1)' "$BATS_TEST_TMPDIR/b"
}

# ---- rolling ------------------------------------------------------------------

@test "rolling: slots by hand, the issue's window of 8 through the fill and the rolls" {
	# transformers#37574's run: window 8, a prefill of 6, then one token a
	# step; after the write that makes seq_len tokens the cache holds the
	# last min(seq_len, 8) of them, oldest in slot 0
	for q in '0 6 8 0' '5 6 8 5' '6 6 8 u' '7 8 8 7' '0 8 8 0' '0 9 8 u' '1 9 8 0' \
		'8 9 8 7' '9 9 8 u' '2 10 8 0' '9 10 8 7' '11 20 8 u' '12 20 8 0' '13 20 8 1' \
		'19 20 8 7' '4 5 1 0' '3 5 1 u' '-1 0 1 u' '-1 9 8 u' '0 0 8 u'; do
		set -- $q
		want="{\"slot\":$4}"
		[ "$4" = u ] && want='{"unmapped":true}'
		run -0 route-oracle <<< "{\"type\":\"query\",\"oracle\":\"rolling\",\"pos\":$1,\"seq_len\":$2,\"window\":$3}"
		assert_output "{\"type\":\"case\",\"pos\":$1,\"seq_len\":$2,\"window\":$3,\"oracle\":\"rolling\",\"expect\":$want}"
	done
	# a window of 2^31 + 1 puts the newest token on slot 2^31
	run -0 route-oracle <<< '{"type":"query","oracle":"rolling","pos":4294967296,"seq_len":4294967297,"window":2147483649}'
	assert_output --partial '"expect":{"slot":2147483648}'
}

@test "rolling: a bad window or seq_len is refused naming the field; pos -2 is only unmapped" {
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"rolling","pos":0,"seq_len":4,"window":0}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "window": must satisfy window >= 1'
	run -2 --separate-stderr route-oracle <<< '{"type":"query","oracle":"rolling","pos":0,"seq_len":-1,"window":0}'
	assert_equal "$stderr" 'route-oracle: <stdin>:1: field "seq_len": must satisfy seq_len >= 0'
	run -0 route-oracle <<< '{"type":"query","oracle":"rolling","pos":-2,"seq_len":4,"window":2}'
	assert_output --partial '"expect":{"unmapped":true}'
}

@test "rolling: the compiled oracle and its formula, read as a user oracle, agree" {
	# the formula renamed, so that it is answered by the AST, not the C
	route-oracle --oracle rolling --print-formula | sed 's/^oracle rolling$/oracle rolling-f/' > "$BATS_TEST_TMPDIR/f.kvf"
	grep -qx 'oracle rolling-f' "$BATS_TEST_TMPDIR/f.kvf"
	{ route-oracle --oracle rolling --boundaries
	  route-oracle --oracle rolling --random 3000 --seed 4
	  route-oracle --oracle rolling --sweep pos=-2:30,seq_len=0:30,window=1:12; } > "$BATS_TEST_TMPDIR/c"
	jq -c '{type: "query", pos, seq_len, window}' "$BATS_TEST_TMPDIR/c" |
		route-oracle --formula "$BATS_TEST_TMPDIR/f.kvf" > "$BATS_TEST_TMPDIR/f"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/f")" -gt 13000 ]
	run -0 jq -e -s 'all(.[]; .oracle == "rolling-f")' "$BATS_TEST_TMPDIR/f"
	cmp <(jq -c .expect "$BATS_TEST_TMPDIR/c") <(jq -c .expect "$BATS_TEST_TMPDIR/f")
}

@test "--boundaries for rolling: the fill, the first roll, rolls past the window, window 1, both edges" {
	route-oracle --oracle rolling --boundaries > "$BATS_TEST_TMPDIR/b"
	run -0 jq -e -s '
	  def st($w; $s): map(select(.window == $w and .seq_len == $s) | .pos);
	  def edges($w; $s): ([$s - $w - 1, $s - $w, $s - 1, $s] | map(select(. >= -1))) - st($w; $s) == [];
	  all([1, 2, 3, 8, 17][] as $w
	      | [$w - 1, $w, $w + 1, 2 * $w + 1, 3 * $w + 2][] as $s | edges($w; $s); .)
	  and any(.[]; .pos == -1 and .expect.unmapped)
	  and any(.[]; .window == 1 and .seq_len > 2 and .expect.slot == 0)
	  and any(.[]; .seq_len == 4294967297 and .expect.slot == 2147483648)
	  and all(.[]; .pos < 0 or .pos >= .seq_len or .pos < .seq_len - .window
	      or .expect.slot == .pos - ([.seq_len - .window, 0] | max))
	  and all(.[]; .type == "case" and .oracle == "rolling")
	  and length == (unique | length)' "$BATS_TEST_TMPDIR/b"
	# the first roll: with window 8, seq_len 8 keeps token 0 in slot 0,
	# seq_len 9 has rolled it out and moved token 1 there
	run -0 jq -e -s 'any(.[]; .window == 8 and .seq_len == 8 and .pos == 0 and .expect.slot == 0)
	  and any(.[]; .window == 8 and .seq_len == 9 and .pos == 0 and .expect.unmapped)
	  and any(.[]; .window == 8 and .seq_len == 9 and .pos == 1 and .expect.slot == 0)
	  and any(.[]; .window == 8 and .seq_len == 26 and .pos == 17 and .expect.unmapped)
	  and any(.[]; .window == 8 and .seq_len == 26 and .pos == 18 and .expect.slot == 0)' "$BATS_TEST_TMPDIR/b"
}

@test "--random for rolling draws states on both sides of the fill and positions near the live range" {
	route-oracle --oracle rolling --random 2000 --seed 1 > "$BATS_TEST_TMPDIR/r"
	run -0 jq -e -s '(map(select(.expect.slot != null)) | length) > 1000
	  and any(.[]; .seq_len <= .window and .expect.slot != null)
	  and any(.[]; .seq_len > 2 * .window and .expect.slot != null)
	  and any(.[]; .pos == .seq_len - .window - 1 and .expect.unmapped)
	  and any(.[]; .pos == -1) and all(.[]; .window >= 1 and .window <= 64)' "$BATS_TEST_TMPDIR/r"
}

@test "--sweep emits the full grid, skipping invalid cells" {
	run -0 route-oracle --sweep b_local_idx=0:40,prefix_length_h=0:30,total_blocks_h=1:9,block_size=1:33,head_idx=0
	assert_equal "${#lines[@]}" $((40 * 30 * 8 * 32))
	run -0 route-oracle --oracle radix-1d --sweep b_local_idx=-1:2,prefix_length=0,block_size=0:2
	assert_equal "${#lines[@]}" 2
}

@test "--sweep errors name the problem" {
	run -2 --separate-stderr route-oracle --oracle radix-1d --sweep b_local_idx=0:4,prefix_length=0
	assert_output ""
	[[ $stderr == *"block_size"* ]]
	run -2 --separate-stderr route-oracle --oracle radix-1d --sweep b_local_idx=0:4,prefix_length=0,block_size=1,nope=3
	[[ $stderr == *"nope"* ]]
	run -2 route-oracle --oracle radix-1d --sweep b_local_idx=4:0,prefix_length=0,block_size=1
}

@test "--random: same seed, same bytes; another seed, other cases; all valid" {
	route-oracle --oracle paged --random 500 --seed 7 > "$BATS_TEST_TMPDIR/a"
	route-oracle --oracle paged --random 500 --seed 7 > "$BATS_TEST_TMPDIR/b"
	route-oracle --oracle paged --random 500 --seed 8 > "$BATS_TEST_TMPDIR/c"
	cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	! cmp -s "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/c"
	run -0 jq -e -s 'length == 500' "$BATS_TEST_TMPDIR/a"
	for o in radix-1d radix-2d paged-ring flashinfer rolling; do
		run -0 route-oracle --oracle "$o" --random 200 --seed 1
		assert_equal "${#lines[@]}" 200
	done
}

# ---- user formulas ------------------------------------------------------------

@test "--formula adds a user oracle usable by every mode" {
	K="$ROOT/fixtures/formulas/paged-hnd.kvf"
	run -0 route-oracle --formula "$K" <<< '{"type":"query","pos":5,"head":1,"num_heads":2,"block_size":4,"block_table":[7,3]}'
	assert_output '{"type":"case","pos":5,"head":1,"num_heads":2,"block_size":4,"block_table":[7,3],"oracle":"paged-hnd","expect":{"cell":29}}'
	route-oracle --formula "$K" --boundaries > "$BATS_TEST_TMPDIR/b"
	# derived from the user's formula: pos around k*7 for block size 7,
	# both sides of the table's end, and head < num_heads respected
	run -0 jq -e -s '([6,7,8,13,14,15] - map(select(.block_size == 7) | .pos)) == []
	  and any(.[]; .expect.unmapped) and any(.[]; .expect.cell != null)
	  and all(.[]; .head < .num_heads)' "$BATS_TEST_TMPDIR/b"
	run -0 route-oracle --formula "$K" --random 20 --seed 3
	assert_equal "${#lines[@]}" 20
	run -0 route-oracle --formula "$K" --print-formula
	assert_line "oracle paged-hnd"
	# built-ins stay reachable by name
	run -0 route-oracle --formula "$K" <<< '{"type":"query","oracle":"radix-1d","b_local_idx":3,"prefix_length":13,"block_size":16}'
	assert_output "$(head -n 1 "$F/queries.expected")"
}

@test "a bad formula is refused with file, line and column" {
	printf 'oracle x\ninput a\nout b = a div blok\n' > "$BATS_TEST_TMPDIR/f.kvf"
	run -2 --separate-stderr route-oracle --formula "$BATS_TEST_TMPDIR/f.kvf" --print-formula
	assert_output ""
	[[ $stderr == "route-oracle: $BATS_TEST_TMPDIR/f.kvf:3:"*"blok"* ]]
	run -2 --separate-stderr route-oracle --formula "$BATS_TEST_TMPDIR/missing.kvf"
	[[ $stderr == "route-oracle: $BATS_TEST_TMPDIR/missing.kvf: cannot read: No such file or directory" ]]
}

@test "a user formula's canonical print parses back to the same oracle" {
	route-oracle --formula "$ROOT/fixtures/formulas/paged-hnd.kvf" --print-formula > "$BATS_TEST_TMPDIR/c.kvf"
	route-oracle --formula "$ROOT/fixtures/formulas/paged-hnd.kvf" --random 300 --seed 5 > "$BATS_TEST_TMPDIR/a"
	route-oracle --formula "$BATS_TEST_TMPDIR/c.kvf" --random 300 --seed 5 > "$BATS_TEST_TMPDIR/b"
	cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
}

@test "every EXAMPLES entry of route-oracle(1) runs and prints what the page shows" {
	run -0 check_man_examples route-oracle.1
	assert_line --partial "examples checked"
}

@test "the tour (make tour) runs" {
	run -0 sh "$ROOT/pipelines/tour"
	assert_line --partial "ImpactArbiter's demo token"
	assert_line "tour: 10 steps, each as shown"
}

@test "--unbuffered answers each query before the input ends" {
	Q='{"type":"query","oracle":"radix-1d","b_local_idx":3,"prefix_length":13,"block_size":16}'
	coproc RO { exec route-oracle --unbuffered; }
	pid=$RO_PID in=${RO[1]} out=${RO[0]}
	echo "$Q" >&"$in"
	read -t 10 -r line <&"$out"
	assert_equal "$line" "$(head -n 1 "$F/queries.expected")"
	exec {in}>&-
	wait "$pid"
	# buffered (the default), the answer waits for more input or the end
	coproc RB { exec route-oracle; }
	pid=$RB_PID in=${RB[1]} out=${RB[0]}
	echo "$Q" >&"$in"
	run -142 read -t 1 -r line <&"$out"
	exec {in}>&-
	wait "$pid"
}

@test "--progress reports on stderr; --quiet and a non-terminal stay silent" {
	run -0 --separate-stderr route-oracle --random 3000 --progress
	assert_equal "${#lines[@]}" 3000
	[[ $stderr == *"3000 cases, done" ]]
	run -0 --separate-stderr route-oracle --random 3000
	assert_equal "$stderr" ""
	run -0 --separate-stderr route-oracle --random 3000 --progress --quiet
	assert_equal "$stderr" ""
}
