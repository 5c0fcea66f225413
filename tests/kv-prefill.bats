#!/usr/bin/env bats
# kv-prefill: the bounded pool under a prompt 20x its size, pins, the
# probe, the byte check, bad input and the robustness list.

load test_helper

prefill() { printf '{"type":"prefill","tokens":%s}\n' "$1"; }

# the state record of a run's output, as a jq-readable file
state_of() { grep '"type":"state"' "$1" | tail -n 1; }

@test "a prompt 20x the pool: sink, tail and pins resident, evictions, every byte verifies" {
	{ echo '{"type":"pin","lo":640,"hi":700}'; prefill 20480; } > "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr kv-prefill --pool-tokens 1024 --verify "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" ""
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	# 16 blocks: sink chunk 0, pinned chunks 10 (640..699 is in chunk 10),
	# head 319 and tail 315..318, the rest the most recently written
	run -0 jq -e -s '
		(map(select(.type == "state"))[0]) as $s
		| $s.cur_pos == 20480 and $s.chunks == 320 and $s.resident == 16
		and $s.host == 304 and $s.evictions == 304 and $s.allocs == 320
		and $s.resident_chunks == [[0,1],[10,11],[306,320]]
		and $s.pinned_chunks == [[10,11]]
		and (map(select(.type == "verify"))[0] | .ok and .chunks == 320
		     and .bytes == 20480 * 2 * 64 * 4)
		and (map(select(.type == "evict")) | length) == 304
		and all(map(select(.type == "evict"))[]; .chunk != 0 and .chunk != 10)' \
		"$BATS_TEST_TMPDIR/out"
}

@test "two runs are byte-identical; another seed other bytes, same policy" {
	{ echo '{"type":"pin","ranges":[[100,200],[5000,5001]]}'; prefill 20480;
	  echo '{"type":"probe"}'; } > "$BATS_TEST_TMPDIR/in"
	kv-prefill --pool-tokens 1024 --verify "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/a"
	kv-prefill --pool-tokens 1024 --verify "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/b"
	run -0 cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	kv-prefill --pool-tokens 1024 --verify --seed 9 "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/c"
	run -0 diff <(grep -v probe "$BATS_TEST_TMPDIR/a") <(grep -v probe "$BATS_TEST_TMPDIR/c")
	run -1 cmp -s <(grep probe "$BATS_TEST_TMPDIR/a") <(grep probe "$BATS_TEST_TMPDIR/c")
}

@test "no pins: output identical to the same run with an empty pin list" {
	prefill 20480 > "$BATS_TEST_TMPDIR/plain"
	{ echo '{"type":"pin","ranges":[]}'; prefill 20480; } > "$BATS_TEST_TMPDIR/empty"
	kv-prefill --pool-tokens 1024 --routes --verify "$BATS_TEST_TMPDIR/plain" > "$BATS_TEST_TMPDIR/a"
	kv-prefill --pool-tokens 1024 --routes --verify "$BATS_TEST_TMPDIR/empty" > "$BATS_TEST_TMPDIR/b"
	run -0 cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	# and unpin_all undoes a pin: the same evictions afterwards
	{ echo '{"type":"pin","lo":0,"hi":300}'; echo '{"type":"unpin_all"}'; prefill 20480; } > "$BATS_TEST_TMPDIR/undo"
	kv-prefill --pool-tokens 1024 --routes --verify "$BATS_TEST_TMPDIR/undo" | grep -v '"type":"pin"' > "$BATS_TEST_TMPDIR/c"
	run -0 cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/c"
}

@test "an all-covering pin is refused, not hung, and the prefill still runs" {
	{ echo '{"type":"pin","lo":0,"hi":20480}'; prefill 20480; } > "$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr timeout 20 kv-prefill --pool-tokens 1024 --no-events --verify "$BATS_TEST_TMPDIR/in"
	assert_line --index 0 '{"type":"refused","op":"pin","ranges":[[0,20480]],"protected_chunks":325,"limit":15,"reason":"sink, pins and the tail window would protect 325 chunks; at most 15 of 16 blocks may be, so one stays evictable"}'
	assert_line --partial '"type":"verify","ok":true'
	assert_line --partial '"pins":[],"allocs":320,"evictions":304,"page_ins":0,"refused":1'
	# at the minimum pool (sink 1 + tail 4 + 2 = 7 chunks) one pinned
	# chunk beyond the sink is already too many
	run -0 kv-prefill --pool-tokens 448 --no-events <<< '{"type":"pin","lo":64,"hi":65}'
	assert_line --index 0 --partial '"type":"refused","op":"pin"'
}

@test "the probe finds the sink after the middle is evicted, for pools of 1024 and 4096" {
	for pool in 1024 4096; do
		{ prefill 40960; echo '{"type":"probe","query_pos":0}'; } > "$BATS_TEST_TMPDIR/in"
		run -0 kv-prefill --pool-tokens "$pool" --no-events "$BATS_TEST_TMPDIR/in"
		assert_line --index 0 --regexp '^\{"type":"probe","pos":40959,"layer":0,"head":0,"query_pos":0,"candidates":'"$pool"',"winner":0,"winner_chunk":0,"sink":true,'
		assert_line --index 1 --partial '"host_chunks":[[1,'
	done
	# a query equal to an evicted key cannot find it
	{ prefill 40960; echo '{"type":"probe","query_pos":5000}'; } > "$BATS_TEST_TMPDIR/in"
	run -0 kv-prefill --pool-tokens 1024 --no-events "$BATS_TEST_TMPDIR/in"
	refute_line --index 0 --partial '"winner":5000,'
	# an explicit query vector of head_dim numbers, on f16 with 2 layers
	{ prefill 300; printf '{"type":"probe","pos":299,"layer":1,"head":1,"query":[%s1]}\n' "$(printf '0,%.0s' $(seq 63))"; } > "$BATS_TEST_TMPDIR/q"
	run -0 kv-prefill --pool-tokens 512 --dtype f16 --layers 2 --kv-heads 2 --no-events "$BATS_TEST_TMPDIR/q"
	assert_line --index 0 --regexp '^\{"type":"probe","pos":299,"layer":1,"head":1,"candidates":300,"winner":[0-9]+,'
}

@test "--no-data runs the policy alone: the same events as with data" {
	{ echo '{"type":"pin","lo":1000,"hi":1100}'; prefill 20000; echo '{"type":"append","tokens":100}'; } > "$BATS_TEST_TMPDIR/in"
	kv-prefill --pool-tokens 1024 "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/a"
	kv-prefill --pool-tokens 1024 --no-data "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/b"
	run -0 cmp "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	run -2 --separate-stderr kv-prefill --no-data --verify < /dev/null
	assert_equal "$stderr" "kv-prefill: --verify needs the data: drop --no-data"
	# a long prompt, metadata only
	run -0 kv-prefill --pool-tokens 65536 --no-data --no-events <<< '{"type":"prefill","tokens":67108864}'
	assert_output --partial '"chunks":1048576,"blocks":1024,"resident":1024,"host":1047552'
}

@test "append: chunk by chunk after a prefill, or refused whole when it cannot be co-resident" {
	{ prefill 1000; echo '{"type":"append","tokens":24}'; echo '{"type":"append","tokens":600}'; echo '{"type":"append","tokens":1}'; } > "$BATS_TEST_TMPDIR/in"
	run -0 kv-prefill --pool-tokens 640 --no-events --verify "$BATS_TEST_TMPDIR/in"
	assert_line --index 0 '{"type":"refused","op":"append","pos":1024,"tokens":600,"protected_chunks":15,"limit":10,"reason":"the append spans 10 chunks that must be resident at once with the sink, the tail and the pins: 15 chunks > 10 blocks"}'
	assert_line --index 1 --partial '"ok":true,"chunks":17,'
	assert_line --index 2 --partial '"cur_pos":1025,'
}

@test "scores and reselect: the best-scored chunks come back, page-outs before page-ins" {
	{ prefill 2048; printf '{"type":"scores","scores":[%s]}\n' "$(seq -s, 0 31)";
	  echo '{"type":"state"}'; echo '{"type":"reselect"}'; } > "$BATS_TEST_TMPDIR/in"
	run -0 kv-prefill --pool-tokens 640 --policy score --verify "$BATS_TEST_TMPDIR/in"
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	# chunks 0..31, 10 blocks: sink 0 and 27..31 protected; four more by
	# score: 23..26 were resident already; reselect has nothing to move
	run -0 jq -e -s '[.[] | select(.type == "state")] | .[0].resident_chunks == [[0,1],[23,32]] and .[1].resident_chunks == [[0,1],[23,32]] and .[1].epoch == 2' "$BATS_TEST_TMPDIR/out"
	# reversed scores: reselect brings back chunks 1..4 and drops 23..26
	{ prefill 2048; printf '{"type":"scores","scores":[%s]}\n' "$(seq -s, 31 -1 0)"; echo '{"type":"reselect"}'; } > "$BATS_TEST_TMPDIR/in"
	run -0 kv-prefill --pool-tokens 640 --policy score --verify "$BATS_TEST_TMPDIR/in"
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/out"
	# page-outs worst first, page-ins best first
	run -0 jq -e -s '
		[.[] | select(.type == "evict" and .why == "reselect") | .chunk] == [26,25,24,23]
		and [.[] | select(.type == "page_in") | .chunk] == [1,2,3,4]
		and ((.[] | select(.type == "state")).resident_chunks == [[0,5],[27,32]])
		and ((.[] | select(.type == "verify")).ok)' "$BATS_TEST_TMPDIR/out"
	run -0 awk '/"page_in"/ { p = NR } /"why":"reselect"/ { e = NR } END { exit !(e < p) }' "$BATS_TEST_TMPDIR/out"
}

@test "--routes: the compacted block table, which grad-trap checks as paged cases" {
	prefill 2000 > "$BATS_TEST_TMPDIR/in"
	run -0 kv-prefill --pool-tokens 640 --no-events --routes "$BATS_TEST_TMPDIR/in"
	assert_line --index 0 '{"type":"route","oracle":"paged","pos":0,"block_size":64,"block_table":[0,5,6,7,8,9,1,2,3,4],"chunk":0,"logical_pos":0,"expect":{"block":0,"offset":0,"slot":0}}'
	assert_line --index 19 '{"type":"route","oracle":"paged","pos":591,"block_size":64,"block_table":[0,5,6,7,8,9,1,2,3,4],"chunk":31,"logical_pos":1999,"expect":{"block":4,"offset":15,"slot":271}}'
	kv-prefill --pool-tokens 640 --no-events --routes "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/routes"
	run -0 grad-trap --candidate "$ROOT/fixtures/candidates/paged/correct-basic.c" "$BATS_TEST_TMPDIR/routes"
	assert_line --partial '"cases":20,"diverged":0'
	run -1 grad-trap --candidate "$ROOT/fixtures/candidates/paged/ceil-div.c" "$BATS_TEST_TMPDIR/routes"
	assert_line --partial '"verdict":"HARD_BLOCK"'
}

@test "--device cuda: the device path, on a stand-in library, matches the CPU run byte for byte" {
	cc -shared -fPIC -I"$ROOT/lib" -I"$ROOT/kernels" -o "$BATS_TEST_TMPDIR/fake.so" \
		"$FIX/kv-prefill/fakecuda.c" "$ROOT/kernels/kvcache_cpu.c"
	{ echo '{"type":"pin","lo":1000,"hi":1100}'; prefill 20480;
	  echo '{"type":"scores","scores":[5,4,3,2,1,9,8,7]}'; echo '{"type":"reselect"}';
	  echo '{"type":"pin","lo":300,"hi":301}'; echo '{"type":"append","tokens":77}';
	  echo "{\"type\":\"snapshot\",\"path\":\"$BATS_TEST_TMPDIR/s.snap\"}";
	  echo '{"type":"append","tokens":500}';
	  echo "{\"type\":\"restore\",\"path\":\"$BATS_TEST_TMPDIR/s.snap\"}";
	  echo '{"type":"probe","query_pos":0}'; } > "$BATS_TEST_TMPDIR/in"
	for dt in f16 f32; do
		set -- --pool-tokens 1024 --layers 2 --kv-heads 4 --dtype "$dt" --policy score --verify --routes
		kv-prefill "$@" "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/cpu"
		KVA_CUDA_KERNELS="$BATS_TEST_TMPDIR/fake.so" kv-prefill "$@" --device cuda "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/gpu"
		run -0 cmp "$BATS_TEST_TMPDIR/cpu" "$BATS_TEST_TMPDIR/gpu"
		run -0 grep -c '"page_in"' "$BATS_TEST_TMPDIR/gpu"
		[ "$output" -gt 0 ]
		run -0 grep -c '"ok":true' "$BATS_TEST_TMPDIR/gpu"
	done
}

@test "pool errors: unaligned, below the minimum, odd f16 head_dim" {
	run -2 --separate-stderr kv-prefill --pool-tokens 1000 < /dev/null
	assert_equal "$stderr" "kv-prefill: --pool-tokens: 1000 is not a positive multiple of the chunk (64 tokens)"
	run -2 --separate-stderr kv-prefill --pool-tokens 384 < /dev/null
	assert_equal "$stderr" "kv-prefill: --pool-tokens: 384 tokens is 6 chunks; the minimum is sink + tail + 2 = 7 chunks (448 tokens)"
	run -0 kv-prefill --pool-tokens 448 < /dev/null
	run -2 --separate-stderr kv-prefill --pool-tokens 96 --chunk-tokens 16 --sink-chunks 0 --tail-chunks 5 < /dev/null
	assert_equal "$stderr" "kv-prefill: --pool-tokens: 96 tokens is 6 chunks; the minimum is sink + tail + 2 = 7 chunks (112 tokens)"
	run -2 --separate-stderr kv-prefill --dtype f16 --head-dim 63 < /dev/null
	assert_equal "$stderr" "kv-prefill: --head-dim: must be even with f16 (rows move as 32-bit words)"
	run -2 --separate-stderr kv-prefill --dtype bf16 < /dev/null
	assert_equal "$stderr" "kv-prefill: --dtype: want f16 or f32, not bf16"
	run -2 --separate-stderr kv-prefill --policy fifo < /dev/null
	assert_equal "$stderr" "kv-prefill: --policy: want lru or score, not fifo"
	run -2 --separate-stderr kv-prefill --pool-tokens -64 < /dev/null
	assert_equal "$stderr" "kv-prefill: --pool-tokens: value is too small: -64"
}

@test "bad records name file, line and field; what came before is written" {
	printf '%s\n' '{"type":"prefill","tokens":100}' '{"type":"state"}' '{"type":"pin","lo":5,"hi":5}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr kv-prefill --pool-tokens 448 --no-events "$BATS_TEST_TMPDIR/in"
	assert_equal "${#lines[@]}" 1
	assert_line --index 0 --partial '"type":"state","epoch":1,"cur_pos":100,'
	assert_equal "$stderr" "kv-prefill: $BATS_TEST_TMPDIR/in:3: field \"hi\": must be > lo: the range is half-open [lo, hi)"
	run -2 --separate-stderr kv-prefill <<< '{"type":"pin","lo":-1,"hi":5}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "lo": must be >= 0'
	run -2 --separate-stderr kv-prefill <<< '{"type":"prefill","tokens":-3}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "tokens": must be >= 0'
	run -2 --separate-stderr kv-prefill <<< '{"type":"prefill","tokens":1.5}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "tokens": must be an integer, got 1.5'
	run -2 --separate-stderr kv-prefill <<< '{"type":"prefill"}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "tokens": missing'
	printf '%s\n' '{"type":"prefill","tokens":640}' '{"type":"scores","start":8,"scores":[1,2,3]}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr kv-prefill --no-events "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "kv-prefill: $BATS_TEST_TMPDIR/in:2: field \"scores\": scores for chunks 8..10, but only chunks 0..9 exist"
	run -2 --separate-stderr kv-prefill <<< '{"type":"scores","scores":[1,"x"]}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "scores": must be a number, got "x"'
	run -2 --separate-stderr kv-prefill <<< '{"type":"probe"}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "pos": must be in [0, 0) (the tokens written)'
	printf '%s\n' '{"type":"prefill","tokens":10}' '{"type":"probe","query":[1,2]}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr kv-prefill --no-events "$BATS_TEST_TMPDIR/in"
	assert_equal "$stderr" "kv-prefill: $BATS_TEST_TMPDIR/in:2: field \"query\": must be an array of head_dim (64) numbers"
	run -2 --separate-stderr kv-prefill <<< '{"type":"pin","ranges":[[1]]}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "ranges": each range is [lo, hi]'
}

@test "--keep-going: error records, the run goes on, exit 2" {
	printf '%s\n' '{"type":"pin","lo":9,"hi":3}' '{"type":"prefill","tokens":70}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr kv-prefill --no-events --keep-going "$BATS_TEST_TMPDIR/in"
	assert_line --index 0 "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":1,\"field\":\"hi\",\"message\":\"must be > lo: the range is half-open [lo, hi)\"}"
	assert_line --index 1 --partial '"cur_pos":70,'
}

@test "robustness: empty input, blank lines, CRLF, pass-through, operands, malformed JSON" {
	run -0 --separate-stderr kv-prefill --no-events < /dev/null
	assert_output --partial '{"type":"state","epoch":0,"cur_pos":0,"chunks":0,'
	assert_equal "$stderr" ""
	printf '\n{"type":"note","x":1}\r\n\n{"type":"prefill","tokens":3}\r\n' > "$BATS_TEST_TMPDIR/in"
	run -0 kv-prefill --no-events "$BATS_TEST_TMPDIR/in"
	assert_line --index 0 '{"type":"note","x":1}'
	assert_line --index 1 --partial '"cur_pos":3,'
	run -0 kv-prefill --no-events - "$BATS_TEST_TMPDIR/in" < "$BATS_TEST_TMPDIR/in"
	assert_line --index 2 --partial '"cur_pos":3,'
	printf '%s\n' '{"type":"prefill","tokens":3}' '{"type":"state"' > "$BATS_TEST_TMPDIR/bad"
	run -2 --separate-stderr kv-prefill --no-events "$BATS_TEST_TMPDIR/bad"
	assert_output ""
	assert_equal "$stderr" "kv-prefill: $BATS_TEST_TMPDIR/bad:2: malformed JSON at column 16: expected ',' or '}'"
	run -2 --separate-stderr kv-prefill <<< '{"tokens":3}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "type": missing'
	run -2 --separate-stderr kv-prefill "$BATS_TEST_TMPDIR/nope"
	assert_equal "$stderr" "kv-prefill: $BATS_TEST_TMPDIR/nope: No such file or directory"
	run -2 --separate-stderr kv-prefill --max-record 20 <<< '{"type":"prefill","tokens":3000000}'
	assert_equal "$stderr" "kv-prefill: <stdin>:1: record longer than 20 bytes (see --max-record)"
}

@test "options: --help, --version, a bad option, /dev/full, --device cuda without CUDA" {
	run -0 --separate-stderr kv-prefill --help
	assert_line --index 0 --partial "usage: kv-prefill"
	run -0 kv-prefill --version
	assert_output "kv-prefill 0.1.0"
	run -2 --separate-stderr kv-prefill --bogus
	assert_output ""
	[[ ${stderr_lines[0]} == *"unrecognized option '--bogus'" ]]
	[[ ${stderr_lines[1]} == "usage: kv-prefill"* ]]
	# no GPU here: the reason is the loader's or the runtime's
	if ! nvidia-smi -L >/dev/null 2>&1; then
		run -2 --separate-stderr kv-prefill --device cuda < /dev/null
		[[ $stderr == "kv-prefill: --device cuda: "* ]]
		KVA_CUDA_KERNELS=/nonexistent/lib.so run -2 --separate-stderr kv-prefill --device cuda < /dev/null
		[[ $stderr == "kv-prefill: --device cuda: cannot load the CUDA kernels: /nonexistent/lib.so: "* ]]
	fi
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run -2 --separate-stderr sh -c 'exec kv-prefill < /dev/null > /dev/full'
	assert_equal "$stderr" "kv-prefill: write error: No space left on device"
}

@test "a prefill the host store cannot hold is refused up front, naming line and field (issue 17)" {
	T=$BATS_TEST_TMPDIR
	# bounded, so that a build without the check fails instead of eating
	# the machine (not under AddressSanitizer, which reserves terabytes of
	# address space for its shadow at start)
	grep -q __asan_init "$(command -v kv-prefill)" || ulimit -v 4000000
	printf '%s\n' '{"type":"prefill","tokens":100}' '{"type":"state"}' '{"type":"prefill","tokens":9007199254740992}' > "$T/in"
	run -2 --separate-stderr timeout 60 kv-prefill --no-events "$T/in"
	assert_equal "${#lines[@]}" 1
	assert_line --index 0 --partial '"type":"state","epoch":1,"cur_pos":100,'
	# the default budget is half of MemAvailable, which moves
	[[ $stderr =~ ^"kv-prefill: $T/in:3: field \"tokens\": a sequence of 9007199254740992 tokens is 140737488355328 chunks: the host store would need 4617315517961076736 bytes, over --host-budget ("[0-9]+" bytes)"$ ]]
	# --no-data keeps 32 bytes a chunk and is bounded the same way
	run -2 --separate-stderr timeout 60 kv-prefill --no-data --no-events --host-budget 1G <<< '{"type":"prefill","tokens":9007199254740992}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "tokens": a sequence of 9007199254740992 tokens is 140737488355328 chunks: the host store would need 4503599627370496 bytes, over --host-budget (1073741824 bytes)'
	# an explicit budget: 100 chunks of 32 KiB in 16 blocks need 84 of them
	# on the host, 2756512 bytes with the bookkeeping; 32 chunks fit
	run -2 --separate-stderr kv-prefill --no-events --host-budget 1M <<< '{"type":"prefill","tokens":6400}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "tokens": a sequence of 6400 tokens is 100 chunks: the host store would need 2756512 bytes, over --host-budget (1048576 bytes)'
	run -0 kv-prefill --no-events --host-budget 1M <<< '{"type":"prefill","tokens":2048}'
	assert_line --partial '"cur_pos":2048,'
	# an append counts the sequence it makes; under --keep-going the pool
	# is untouched and the run goes on
	printf '%s\n' '{"type":"prefill","tokens":2048}' '{"type":"append","tokens":4352}' '{"type":"prefill","tokens":9007199254740992}' '{"type":"append","tokens":10}' > "$T/in"
	run -2 --separate-stderr kv-prefill --no-events --keep-going --host-budget 1M "$T/in"
	assert_line --index 0 "{\"type\":\"error\",\"file\":\"$T/in\",\"line\":2,\"field\":\"tokens\",\"message\":\"a sequence of 6400 tokens is 100 chunks: the host store would need 2756512 bytes, over --host-budget (1048576 bytes)\"}"
	assert_line --index 1 --partial '"line":3,"field":"tokens","message":"a sequence of 9007199254740992 tokens is 140737488355328 chunks: '
	assert_line --index 2 --partial '"cur_pos":2058,'
	# a restore of such a sequence is refused and the pool kept
	printf '%s\n' '{"type":"prefill","tokens":6400}' "{\"type\":\"snapshot\",\"path\":\"$T/a.snap\"}" | kv-prefill --no-events > /dev/null
	printf '%s\n' '{"type":"prefill","tokens":10}' "{\"type\":\"restore\",\"path\":\"$T/a.snap\"}" > "$T/in"
	run -2 --separate-stderr kv-prefill --no-events --keep-going --host-budget 1M "$T/in"
	assert_line --index 0 "{\"type\":\"error\",\"file\":\"$T/in\",\"line\":2,\"field\":\"path\",\"message\":\"$T/a.snap: a sequence of 6400 tokens is 100 chunks: the host store would need 2756512 bytes, over --host-budget (1048576 bytes)\"}"
	assert_line --index 1 --partial '"cur_pos":10,'
	run -2 --separate-stderr kv-prefill --host-budget 1X < /dev/null
	assert_equal "$stderr" 'kv-prefill: --host-budget: value is invalid: 1X'
}

@test "every EXAMPLES entry of kv-prefill(1) runs and prints what the page shows" {
	run -0 check_man_examples kv-prefill.1
}
