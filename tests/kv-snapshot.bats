#!/usr/bin/env bats
# kv-snapshot: round trips through kv-prefill, every rejection with its
# own message, restore that touches nothing when it fails, dump and diff.
# The prefix cache (store, load, gc) is tests/kv-snapshot-cache.bats.

load test_helper

# snap FILE TOKENS [kv-prefill options...]: a snapshot of a TOKENS prefill
snap() {
	local f=$1 n=$2
	shift 2
	printf '{"type":"prefill","tokens":%s}\n{"type":"snapshot","path":"%s"}\n' "$n" "$f" |
		kv-prefill --no-events "$@" > /dev/null
}

patcher() {
	[ -x "$BATS_TEST_TMPDIR/patch" ] ||
		cc -o "$BATS_TEST_TMPDIR/patch" "$FIX/kv-snapshot/patch.c" -lxxhash
	"$BATS_TEST_TMPDIR/patch" "$@"
}

@test "round trip: restore, append, snapshot equals the sequence made in one go" {
	T=$BATS_TEST_TMPDIR
	for pool in 448 512 4096; do
		snap "$T/a.snap" 700 --pool-tokens 512
		# two appends of 50: each spans 2 chunks, which with the 4 tail
		# chunks and the sink fit even the 7 blocks of the smallest pool
		printf '%s\n' "{\"type\":\"restore\",\"path\":\"$T/a.snap\"}" '{"type":"append","tokens":50}' \
			'{"type":"append","tokens":50}' "{\"type\":\"snapshot\",\"path\":\"$T/b.snap\"}" |
			kv-prefill --pool-tokens "$pool" --no-events --verify > "$T/out"
		run -1 grep -c '"type":"refused"' "$T/out"
		run -0 grep -c '"type":"verify","ok":true' "$T/out"
		snap "$T/c.snap" 800 --pool-tokens 512
		run -0 kv-snapshot diff "$T/b.snap" "$T/c.snap"
		assert_output '{"type":"diff","equal":true,"rows":1664,"rows_differ":0}'
	done
}

@test "round trip at chunk - 1, chunk and chunk + 1 tokens, then appending" {
	T=$BATS_TEST_TMPDIR
	for n in 63 64 65 1; do
		snap "$T/a.snap" "$n" --pool-tokens 448 --dtype f16 --layers 2 --kv-heads 2
		run -0 kv-snapshot verify --regen "$T/a.snap"
		printf '%s\n' "{\"type\":\"restore\",\"path\":\"$T/a.snap\"}" '{"type":"append","tokens":5}' \
			"{\"type\":\"snapshot\",\"path\":\"$T/b.snap\"}" |
			kv-prefill --pool-tokens 448 --dtype f16 --layers 2 --kv-heads 2 --no-events --verify > "$T/out"
		run -0 grep -c '"ok":true' "$T/out"
		snap "$T/c.snap" $((n + 5)) --pool-tokens 448 --dtype f16 --layers 2 --kv-heads 2
		run -0 kv-snapshot diff "$T/b.snap" "$T/c.snap"
		assert_output --partial '"equal":true,'
		run -0 kv-snapshot verify --regen "$T/b.snap"
	done
}

@test "a partial snapshot floors to a chunk boundary; its chunks are the first k, bit for bit" {
	T=$BATS_TEST_TMPDIR
	printf '%s\n' '{"type":"prefill","tokens":1000}' "{\"type\":\"snapshot\",\"path\":\"$T/full.snap\"}" \
		"{\"type\":\"snapshot\",\"path\":\"$T/part.snap\",\"max_chunks\":6}" \
		"{\"type\":\"snapshot\",\"path\":\"$T/pos.snap\",\"pos\":400}" |
		kv-prefill --pool-tokens 512 --no-events > "$T/out"
	run -0 grep saved "$T/out"
	assert_line --index 1 --partial '"chunks":6,"cur_pos":384,'
	assert_line --index 1 --partial '"partial":true,"note":"floored to a chunk boundary: 384 of 1000 tokens"'
	assert_line --index 2 --partial '"chunks":6,"cur_pos":384,'
	run -0 cmp "$T/part.snap" "$T/pos.snap"
	# 6 chunks x (1 layer x 2 x 1 head x 64 rows) = 768 rows of the full dump
	kv-snapshot dump "$T/full.snap" | sed -n '2,769p' > "$T/full.rows"
	kv-snapshot dump "$T/part.snap" | sed -n '2,$p' > "$T/part.rows"
	run -0 cmp "$T/full.rows" "$T/part.rows"
	run -0 kv-snapshot verify --regen "$T/part.snap"
}

@test "with and without a ledger; restore into smaller and larger pools" {
	T=$BATS_TEST_TMPDIR
	printf '%s\n' '{"type":"pin","lo":130,"hi":140}' '{"type":"prefill","tokens":1500}' \
		'{"type":"scores","scores":[3,1,2]}' \
		"{\"type\":\"snapshot\",\"path\":\"$T/l.snap\"}" \
		"{\"type\":\"snapshot\",\"path\":\"$T/n.snap\",\"ledger\":false}" |
		kv-prefill --pool-tokens 512 --policy score --no-events > /dev/null
	run -0 kv-snapshot inspect "$T/l.snap"
	assert_line --index 0 --partial '"ledger":true,'
	assert_line --index 3 '{"type":"ledger","chunk":2,"tokens":64,"resident":true,"pinned":true,"score":2,"last_use":3,"checksum":"'"$(kv-snapshot inspect "$T/l.snap" | sed -n '4s/.*"checksum":"\([0-9a-f]*\)".*/\1/p')"'"}'
	assert_equal "${#lines[@]}" 25
	run -0 kv-snapshot inspect "$T/n.snap"
	assert_equal "${#lines[@]}" 1
	assert_line --partial '"ledger":false,'
	run -0 kv-snapshot verify "$T/n.snap"
	assert_output --partial '"ok":true,"chunks":24,'
	assert_output --partial '"checksums":"trailer"'
	# smaller: 7 blocks; the sink, the pinned chunk 2 and the tail (3 here,
	# so the pin fits the invariant) are kept
	run -0 kv-snapshot restore --pool-tokens 448 --tail-chunks 3 --no-routes --verify "$T/l.snap"
	assert_line --index 0 '{"type":"restored","path":"'"$T"'/l.snap","chunks":24,"cur_pos":1500,"resident":7,"host":17,"pins":1,"pins_dropped":0}'
	assert_line --index 1 --partial '"ok":true'
	# larger: only what was resident comes back resident
	run -0 kv-snapshot restore --pool-tokens 4096 --no-routes "$T/l.snap"
	assert_line --index 0 --partial '"resident":8,"host":16,'
	# without a ledger every chunk counts as resident, the later ones first
	run -0 kv-snapshot restore --pool-tokens 4096 --no-routes "$T/n.snap"
	assert_line --index 0 --partial '"resident":24,"host":0,"pins":0,'
	run -0 kv-snapshot restore --pool-tokens 448 --verify "$T/n.snap"
	assert_line --index 0 --partial '"resident":7,'
	assert_line --index 1 --regexp '^\{"type":"route","oracle":"paged","pos":0,"block_size":64,'
	# the minimum pool with a pin it cannot keep: dropped and counted
	run -0 kv-snapshot restore --pool-tokens 448 --no-routes "$T/l.snap"
	assert_line --index 0 --partial '"pins":0,"pins_dropped":1}'
	run -2 --separate-stderr kv-snapshot restore --pool-tokens 384 "$T/l.snap"
	assert_equal "$stderr" "kv-snapshot: --pool-tokens: 384 tokens is 6 chunks; the minimum is sink + tail + 2 = 7 chunks (448 tokens)"
}

@test "rejections: each with its own message" {
	T=$BATS_TEST_TMPDIR
	snap "$T/ok.snap" 300 --pool-tokens 512
	size=$(wc -c < "$T/ok.snap")
	check() { # FILE MESSAGE
		run -1 --separate-stderr kv-snapshot verify "$1"
		assert_output --partial "\"reason\":\"$2"
		run -2 --separate-stderr kv-snapshot inspect "$1"
		[[ $stderr == "kv-snapshot: $1: "*"$2"* ]]
	}
	cp "$T/ok.snap" "$T/magic.snap"; printf 'X' | dd of="$T/magic.snap" conv=notrunc 2>/dev/null
	check "$T/magic.snap" "bad magic: not a kvarbiter snapshot"
	cp "$T/ok.snap" "$T/ver.snap"; patcher "$T/ver.snap" 8 4 2
	check "$T/ver.snap" "unsupported version 2 (this reader knows 1)"
	head -c 50 "$T/ok.snap" > "$T/th.snap"
	check "$T/th.snap" "truncated header: 50 bytes, a header is 80"
	head -c $((size - 100)) "$T/ok.snap" > "$T/tb.snap"
	check "$T/tb.snap" "truncated body: $((size - 100)) bytes, the header's 5 chunks need $size"
	{ cat "$T/ok.snap"; printf 'x'; } > "$T/trail.snap"
	check "$T/trail.snap" "1 trailing bytes after the trailer"
	cp "$T/ok.snap" "$T/huge.snap"; patcher "$T/huge.snap" 48 8 4611686018427387904
	check "$T/huge.snap" "chunk count 4611686018427387904 is impossibly large"
	cp "$T/ok.snap" "$T/many.snap"; patcher "$T/many.snap" 48 8 1000000
	check "$T/many.snap" "truncated body: $size bytes, the header's 1000000 chunks need"
	cp "$T/ok.snap" "$T/zero.snap"; patcher "$T/zero.snap" 56 8 0
	check "$T/zero.snap" "chunk_bytes is 0"
	cp "$T/ok.snap" "$T/cb.snap"; patcher "$T/cb.snap" 56 8 4096
	check "$T/cb.snap" "chunk_bytes 4096 does not match the layout (32768)"
	cp "$T/ok.snap" "$T/dt.snap"; patcher "$T/dt.snap" 28 1 7
	check "$T/dt.snap" "unknown dtype 7 (1 f16, 2 f32)"
	cp "$T/ok.snap" "$T/fl.snap"; patcher "$T/fl.snap" 12 4 9
	check "$T/fl.snap" "unknown flag bits 0x8"
	cp "$T/ok.snap" "$T/pad.snap"; patcher "$T/pad.snap" 30 1 1
	check "$T/pad.snap" "header pad bytes are not zero"
	cp "$T/ok.snap" "$T/cur.snap"; patcher "$T/cur.snap" 40 8 100
	check "$T/cur.snap" "cur_pos 100 does not fall in the last of 5 chunks of 64 tokens"
	cp "$T/ok.snap" "$T/hs.snap"; patcher "$T/hs.snap" 72 8 12345
	check "$T/hs.snap" "header checksum mismatch"
	# one data byte in chunk 1: named by its ledger checksum, or without a
	# ledger by the trailer's
	cp "$T/ok.snap" "$T/flip.snap"; printf '\377' | dd of="$T/flip.snap" bs=1 seek=40000 conv=notrunc 2>/dev/null
	check "$T/flip.snap" "chunk 1 checksum mismatch"
	printf '{"type":"prefill","tokens":300}\n{"type":"snapshot","path":"%s","ledger":false}\n' "$T/nl.snap" | kv-prefill --pool-tokens 512 --no-events > /dev/null
	printf '\377' | dd of="$T/nl.snap" bs=1 seek=40000 conv=notrunc 2>/dev/null
	check "$T/nl.snap" "trailer checksum mismatch"
	# an empty file and a missing one
	: > "$T/empty.snap"
	check "$T/empty.snap" "truncated header: 0 bytes"
	run -2 --separate-stderr kv-snapshot verify "$T/nope.snap"
	assert_equal "$stderr" "kv-snapshot: $T/nope.snap: No such file or directory"
}

@test "layout mismatches, a dtype swap with equal row sizes among them, are refused" {
	T=$BATS_TEST_TMPDIR
	snap "$T/f16.snap" 200 --pool-tokens 512 --dtype f16 --head-dim 128
	run -2 --separate-stderr kv-prefill --pool-tokens 512 --dtype f32 --head-dim 64 --no-events <<< "{\"type\":\"restore\",\"path\":\"$T/f16.snap\"}"
	assert_equal "$stderr" "kv-prefill: <stdin>:1: field \"path\": $T/f16.snap: dtype mismatch: the snapshot has K f16 and V f16, the pool f32 (row sizes 256 and 256 bytes)"
	run -2 --separate-stderr kv-prefill --pool-tokens 512 --dtype f16 --head-dim 128 --layers 2 --no-events <<< "{\"type\":\"restore\",\"path\":\"$T/f16.snap\"}"
	assert_equal "$stderr" "kv-prefill: <stdin>:1: field \"path\": $T/f16.snap: layout mismatch: the snapshot has 1 layers, the pool 2"
	run -2 --separate-stderr kv-prefill --pool-tokens 512 --dtype f16 --head-dim 64 --no-events <<< "{\"type\":\"restore\",\"path\":\"$T/f16.snap\"}"
	assert_equal "$stderr" "kv-prefill: <stdin>:1: field \"path\": $T/f16.snap: layout mismatch: the snapshot has head_dim 128, the pool 64"
	run -2 --separate-stderr kv-prefill --pool-tokens 1024 --chunk-tokens 128 --dtype f16 --head-dim 128 --no-events <<< "{\"type\":\"restore\",\"path\":\"$T/f16.snap\"}"
	assert_equal "$stderr" "kv-prefill: <stdin>:1: field \"path\": $T/f16.snap: layout mismatch: the snapshot has chunks of 64 tokens, the pool 128"
}

@test "a rejected restore leaves the live pool exactly as it was" {
	T=$BATS_TEST_TMPDIR
	snap "$T/ok.snap" 300 --pool-tokens 512
	cp "$T/ok.snap" "$T/bad.snap"; printf '\377' | dd of="$T/bad.snap" bs=1 seek=40000 conv=notrunc 2>/dev/null
	snap "$T/other.snap" 300 --pool-tokens 512 --head-dim 32
	printf '%s\n' '{"type":"pin","lo":64,"hi":70}' '{"type":"prefill","tokens":900}' '{"type":"state"}' \
		"{\"type\":\"restore\",\"path\":\"$T/bad.snap\"}" \
		"{\"type\":\"restore\",\"path\":\"$T/other.snap\"}" \
		"{\"type\":\"restore\",\"path\":\"$T/missing.snap\"}" '{"type":"state"}' > "$T/in"
	run -2 --separate-stderr kv-prefill --pool-tokens 512 --no-events --keep-going --verify "$T/in"
	assert_line --index 2 --partial '"message":"'"$T"'/bad.snap: chunk 1 checksum mismatch"'
	assert_line --index 3 --partial '"message":"'"$T"'/other.snap: layout mismatch: the snapshot has head_dim 32, the pool 64"'
	assert_line --index 4 --partial '"message":"'"$T"'/missing.snap: No such file or directory"'
	assert_equal "${lines[1]}" "${lines[5]}"
	assert_line --index 6 --partial '"type":"verify","ok":true'
}

@test "dump and diff: a planted one-value corruption is found at its row and dim" {
	T=$BATS_TEST_TMPDIR
	snap "$T/a.snap" 300 --pool-tokens 512 --kv-heads 2
	kv-snapshot dump --values "$T/a.snap" > "$T/a.values"
	run -0 kv-snapshot diff "$T/a.values" "$T/a.snap"
	assert_output '{"type":"diff","equal":true,"rows":1280,"rows_differ":0}'
	# chunk 2, layer 0, V, head 1, row 5: the third value doubled
	awk '/"index":\[2,0,1,1,5\]/ { sub(/"values":\[[^,]*,[^,]*,/, "&2,") } { print }' "$T/a.values" > "$T/b.values"
	sed -i 's/"values":\[\([^,]*\),\([^,]*\),2,[^,]*,/"values":[\1,\2,2,/' "$T/b.values"
	run -1 kv-snapshot diff "$T/a.snap" "$T/b.values"
	assert_output '{"type":"diff","equal":false,"rows":1280,"rows_differ":1,"first":{"chunk":2,"layer":0,"kv":"V","head":1,"row":5,"dim":2,"index":[2,0,1,1,5]}}'
	# by hash: the row is found, its dim is not known
	kv-snapshot dump "$T/b.values" > "$T/b.hash"
	run -1 kv-snapshot diff "$T/b.hash" "$T/a.snap"
	assert_output '{"type":"diff","equal":false,"rows":1280,"rows_differ":1,"first":{"chunk":2,"layer":0,"kv":"V","head":1,"row":5,"index":[2,0,1,1,5]}}'
	# the value dump round-trips to the same hashes as the file
	run -0 diff <(kv-snapshot dump "$T/a.values" | sed 1d) <(kv-snapshot dump "$T/a.snap" | sed 1d)
	# another seed differs from the first row on
	snap "$T/s.snap" 300 --pool-tokens 512 --kv-heads 2 --seed 5
	run -1 kv-snapshot diff "$T/a.snap" "$T/s.snap"
	assert_output --partial '"rows_differ":1200,"first":{"chunk":0,"layer":0,"kv":"K","head":0,"row":0,"dim":0,'
	snap "$T/l.snap" 300 --pool-tokens 512 --kv-heads 2 --layers 2
	run -1 kv-snapshot diff "$T/a.snap" "$T/l.snap"
	assert_output '{"type":"diff","equal":false,"reason":"the tensors differ in dtype or shape"}'
}

@test "verify --regen names the first wrong byte of a consistent but wrong file" {
	T=$BATS_TEST_TMPDIR
	snap "$T/a.snap" 200 --pool-tokens 512
	# the seed in the header no longer matches the data; the checksums do
	patcher "$T/a.snap" 64 8 3
	run -0 kv-snapshot verify "$T/a.snap"
	run -1 kv-snapshot verify --regen "$T/a.snap"
	assert_output --partial '"ok":false,'
	assert_output --partial '"bad_rows":400,"bad_chunks":4,"first":{"chunk":0,"layer":0,"kv":"K","head":0,"row":0,"dim":0}'
}

@test "bad tensor-dump input names file, line and field" {
	T=$BATS_TEST_TMPDIR
	printf '%s\n' '{"type":"tensor","name":"kv","dtype":"f32","shape":[2,3],"layout":"a,b"}' \
		'{"type":"cells","index":[0],"values":[1,2,3]}' '{"type":"cells","index":[0],"values":[1,2,3]}' > "$T/d"
	run -2 --separate-stderr kv-snapshot dump "$T/d"
	assert_equal "$stderr" "kv-snapshot: $T/d:3: field \"index\": rows must come in increasing index order"
	printf '%s\n' '{"type":"tensor","dtype":"f64","shape":[2]}' > "$T/e"
	run -2 --separate-stderr kv-snapshot dump "$T/e"
	assert_equal "$stderr" "kv-snapshot: $T/e:1: field \"dtype\": must be \"f16\" or \"f32\""
	printf '%s\n' '{"type":"tensor","dtype":"f32","shape":[2,2]}' '{"type":"cells","index":[5],"values":[1,2]}' > "$T/f"
	run -2 --separate-stderr kv-snapshot dump "$T/f"
	assert_equal "$stderr" "kv-snapshot: $T/f:2: field \"index\": out of the shape"
	printf '%s\n' '{"type":"tensor","dtype":"f32","shape":[2,2]}' '{"type":"cells","index":[0],"values":[1,"x"]}' > "$T/g"
	run -2 --separate-stderr kv-snapshot dump "$T/g"
	assert_equal "$stderr" "kv-snapshot: $T/g:2: field \"values\": must be a number, got \"x\""
	run -2 --separate-stderr kv-snapshot dump - < /dev/null
	assert_equal "$stderr" "kv-snapshot: <stdin>: empty input: no tensor header"
}

@test "usage: subcommands, operands, options, --help, --version, /dev/full" {
	run -0 kv-snapshot --help
	assert_line --index 0 --partial "usage: kv-snapshot inspect"
	run -0 kv-snapshot --version
	assert_output "kv-snapshot 0.1.0"
	run -2 --separate-stderr kv-snapshot
	[[ ${stderr_lines[0]} == "usage: kv-snapshot"* ]]
	run -2 --separate-stderr kv-snapshot frob x
	assert_equal "${stderr_lines[0]}" 'kv-snapshot: unknown subcommand "frob"'
	run -2 --separate-stderr kv-snapshot diff a
	assert_equal "${stderr_lines[0]}" "kv-snapshot: diff: want two inputs, A and B"
	run -2 --separate-stderr kv-snapshot restore x.snap
	assert_equal "$stderr" "kv-snapshot: restore: --pool-tokens is required"
	run -2 --separate-stderr kv-snapshot inspect --regen x.snap
	assert_equal "${stderr_lines[0]}" "kv-snapshot: inspect: an option given does not apply"
	run -2 --separate-stderr kv-snapshot restore --pool-tokens 0 x.snap
	assert_equal "$stderr" "kv-snapshot: --pool-tokens: value is too small: 0"
	[ -w /dev/full ] || skip "no /dev/full on this system"
	snap "$BATS_TEST_TMPDIR/a.snap" 100 --pool-tokens 512
	run -2 --separate-stderr sh -c 'exec kv-snapshot dump "$1" > /dev/full' sh "$BATS_TEST_TMPDIR/a.snap"
	assert_equal "$stderr" "kv-snapshot: write error: No space left on device"
}

@test "a snapshot to an unwritable place fails cleanly and leaves no temp file" {
	T=$BATS_TEST_TMPDIR
	run -2 --separate-stderr kv-prefill --no-events <<< '{"type":"prefill","tokens":10}
{"type":"snapshot","path":"/nonexistent/dir/a.snap"}'
	[[ $stderr == 'kv-prefill: <stdin>:2: field "path": /nonexistent/dir/a.snap: cannot create a temporary file: No such file or directory' ]]
	mkdir "$T/d"
	printf '%s\n' '{"type":"prefill","tokens":10}' "{\"type\":\"snapshot\",\"path\":\"$T/d/a.snap\"}" | kv-prefill --no-events > /dev/null
	run -0 ls "$T/d"
	assert_output "a.snap"
	run -2 --separate-stderr kv-prefill --no-data --no-events <<< '{"type":"snapshot","path":"x.snap"}'
	assert_equal "$stderr" 'kv-prefill: <stdin>:1: field "path": a snapshot needs the data (not --no-data)'
}

@test "every EXAMPLES entry of kv-snapshot(1) runs and prints what the page shows" {
	run -0 check_man_examples kv-snapshot.1
}

@test "diff reads a dump from a pipe given by name (a process substitution)" {
	snap "$BATS_TEST_TMPDIR/a.snap" 200 --pool-tokens 512
	run -0 kv-snapshot diff <(kv-snapshot dump "$BATS_TEST_TMPDIR/a.snap") "$BATS_TEST_TMPDIR/a.snap"
	assert_output '{"type":"diff","equal":true,"rows":512,"rows_differ":0}'
}

@test "a FIFO, a directory or a device is refused at once and named, never waited on (issue 17)" {
	T=$BATS_TEST_TMPDIR
	mkfifo "$T/f"
	mkdir "$T/d"
	for x in "$T/f:a FIFO" "$T/d:a directory" "/dev/null:a character device"; do
		p=${x%%:*}
		run -2 --separate-stderr timeout 20 kv-snapshot inspect "$p"
		assert_equal "$stderr" "kv-snapshot: $p: not a regular file (${x#*:})"
		run -2 --separate-stderr timeout 20 kv-snapshot verify "$p"
		assert_equal "$stderr" "kv-snapshot: $p: not a regular file (${x#*:})"
		run -2 --separate-stderr timeout 20 kv-snapshot restore --pool-tokens 512 "$p"
		assert_equal "$stderr" "kv-snapshot: $p: not a regular file (${x#*:})"
		run -2 --separate-stderr timeout 20 kv-prefill --no-events <<< "{\"type\":\"restore\",\"path\":\"$p\"}"
		assert_equal "$stderr" "kv-prefill: <stdin>:1: field \"path\": $p: not a regular file (${x#*:})"
	done
	# dump and diff read a pipe given by name; a FIFO nobody writes is empty
	run -2 --separate-stderr timeout 20 kv-snapshot dump "$T/f"
	assert_equal "$stderr" "kv-snapshot: $T/f: empty input: no tensor header"
	snap "$T/a.snap" 100 --pool-tokens 512
	run -2 --separate-stderr timeout 20 kv-snapshot diff "$T/a.snap" "$T/f"
	assert_equal "$stderr" "kv-snapshot: $T/f: empty input: no tensor header"
	# a FIFO whose writer is waiting in open is read as a tensor dump
	sh -c 'exec kv-snapshot dump "$1" > "$2"' sh "$T/a.snap" "$T/f" &
	w=$!
	for _ in $(seq 200); do
		[ "$(cat /proc/$w/wchan 2>/dev/null)" = wait_for_partner ] && break
		sleep 0.1
	done
	run -0 timeout 20 kv-snapshot diff "$T/f" "$T/a.snap"
	wait "$w"
	assert_output '{"type":"diff","equal":true,"rows":256,"rows_differ":0}'
}

@test "dump: every tensor header is checked and a second one refused; a directory is one message (issue 17)" {
	T=$BATS_TEST_TMPDIR
	h='{"type":"tensor","dtype":"f32","shape":[2,2]}'
	c='{"type":"cells","index":[0],"values":[1,2]}'
	for bad in '[-5,2]' '[1e400,2]'; do
		printf '%s\n' "$h" "{\"type\":\"tensor\",\"dtype\":\"f32\",\"shape\":$bad}" "$c" > "$T/in"
		run -2 --separate-stderr kv-snapshot dump - < "$T/in"
		assert_equal "$stderr" 'kv-snapshot: <stdin>:2: field "shape": sizes must be integers >= 1'
		assert_output --partial '{"type":"tensor","name":"kv","dtype":"f32","shape":[2,2],'
	done
	printf '%s\n' "$h" "$c" "$h" > "$T/in"
	run -2 --separate-stderr kv-snapshot dump "$T/in"
	assert_equal "$stderr" "kv-snapshot: $T/in:3: field \"type\": a second tensor header; an input holds one tensor"
	assert_line --index 1 '{"type":"cells","name":"kv","index":[0],"hash":"097a69ee2da301d8"}'
	run -2 --separate-stderr kv-snapshot diff "$T/in" "$T/in"
	assert_equal "$stderr" "kv-snapshot: $T/in:3: field \"type\": a second tensor header; an input holds one tensor"
	printf '%s\n' '{"type":"tensor","dtype":"f32","shape":[1,9007199254740992]}' > "$T/in"
	run -2 --separate-stderr kv-snapshot dump "$T/in"
	assert_equal "$stderr" "kv-snapshot: $T/in:1: field \"shape\": a row (the last axis) is at most 16777216 elements"
	printf '%s\n' '{"type":"tensor","dtype":"f32","shape":[4294967296,4294967296,2]}' > "$T/in"
	run -2 --separate-stderr kv-snapshot dump "$T/in"
	assert_equal "$stderr" "kv-snapshot: $T/in:1: field \"shape\": the sizes multiply past 2^53 elements"
	mkdir "$T/d"
	run -2 --separate-stderr kv-snapshot dump "$T/d"
	assert_equal "$stderr" "kv-snapshot: $T/d: a directory, not a snapshot or a tensor dump"
	printf '%s\n' "$h" "$c" > "$T/ok"
	run -2 --separate-stderr kv-snapshot diff "$T/ok" "$T/d"
	assert_equal "$stderr" "kv-snapshot: $T/d: a directory, not a snapshot or a tensor dump"
}

@test "a snapshot replaces only a regular file; its temp file goes on failure, SIGTERM and the next write (issue 17)" {
	T=$BATS_TEST_TMPDIR
	mkfifo "$T/f"
	ln -s "$T/real.snap" "$T/l.snap"
	set -- "$T/f:a FIFO" "$T/l.snap:a symbolic link"
	# a device node of our own (as root): a build without the check
	# renames over what it is given, so never a system one such as
	# /dev/full
	if mknod "$T/null" c 1 3 2> /dev/null; then
		set -- "$@" "$T/null:a character device"
	fi
	for x in "$@"; do
		p=${x%%:*}
		printf '%s\n' '{"type":"prefill","tokens":10}' "{\"type\":\"snapshot\",\"path\":\"$p\"}" > "$T/in"
		run -2 --separate-stderr timeout 20 kv-prefill --no-events "$T/in"
		assert_equal "$stderr" "kv-prefill: $T/in:2: field \"path\": $p: not a regular file (${x#*:}); a snapshot replaces only a regular file"
	done
	[ -p "$T/f" ]
	[ -L "$T/l.snap" ]
	[ ! -e "$T/null" ] || [ -c "$T/null" ]
	[ ! -e "$T/real.snap" ]
	# leftovers of a kill -9 go with the next write of the same file, but
	# not one a live writer holds (locked), nor another file's
	mkdir "$T/d"
	touch "$T/d/a.snap.tmp.AbC123" "$T/d/b.snap.tmp.AbC123"
	exec 8> "$T/d/a.snap.tmp.live00"
	flock -n 8
	snap "$T/d/a.snap" 100
	exec 8>&-
	run -0 ls "$T/d"
	assert_output "$(printf '%s\n' a.snap a.snap.tmp.live00 b.snap.tmp.AbC123)"
	# SIGTERM in the middle of a write: the temp file is removed
	mkdir "$T/s"
	{ echo '{"type":"prefill","tokens":1024}'
	  for _ in $(seq 300); do echo "{\"type\":\"snapshot\",\"path\":\"$T/s/a.snap\"}"; done; } > "$T/in"
	caught=0
	for _ in $(seq 10); do
		kv-prefill --no-events --layers 4 --kv-heads 4 --head-dim 128 "$T/in" > /dev/null &
		pid=$!
		for _ in $(seq 400); do
			compgen -G "$T/s/a.snap.tmp.*" > /dev/null && break
			sleep 0.05
		done
		kill -STOP "$pid"
		compgen -G "$T/s/a.snap.tmp.*" > /dev/null && caught=1
		kill -TERM "$pid"
		kill -CONT "$pid"
		st=0
		wait "$pid" || st=$?
		[ "$caught" = 0 ] || break
	done
	assert_equal "$caught" 1
	assert_equal "$st" 143
	run -1 compgen -G "$T/s/a.snap.tmp.*"
}
