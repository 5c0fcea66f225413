#!/usr/bin/env bats
# kv-snapshot store / load / gc: the SQLite prefix cache (lib/pcache.c).
# Longest prefix, bit-exact prefixes, the documented key chain, layout
# mismatches, LRU eviction, concurrent writers, bad input.

load test_helper

setup() {
	T=$BATS_TEST_TMPDIR
	DB=$T/cache.db
}

# snap PATH NTOKENS [kv-prefill options]: a snapshot of a prefill of
# NTOKENS tokens (pool of 512 tokens unless the options say otherwise)
snap() {
	local path=$1 n=$2
	shift 2
	printf '%s\n' "{\"type\":\"prefill\",\"tokens\":$n}" \
		"{\"type\":\"snapshot\",\"path\":\"$path\"}" > "$T/prefill.in"
	kv-prefill --pool-tokens 512 --no-events "$@" "$T/prefill.in" > /dev/null
}

# partial PATH NTOKENS K [kv-prefill options]: the same prefill, saved as
# its first K chunks by kv-prefill itself
partial() {
	local path=$1 n=$2 k=$3
	shift 3
	printf '%s\n' "{\"type\":\"prefill\",\"tokens\":$n}" \
		"{\"type\":\"snapshot\",\"path\":\"$path\",\"max_chunks\":$k}" > "$T/prefill.in"
	kv-prefill --pool-tokens 512 --no-events "$@" "$T/prefill.in" > /dev/null
}

# toks FIRST COUNT [INDEX VALUE]: one tokens record of the ids FIRST,
# FIRST+1, ..., with the id at INDEX replaced by VALUE
toks() {
	local ids
	ids=$(seq -s, "$1" $(($1 + $2 - 1)))
	if [ $# -eq 4 ]; then
		ids=$(tr , '\n' <<< "$ids" | awk -v i="$3" -v v="$4" 'NR == i + 1 { $0 = v } 1' | paste -sd,)
	fi
	printf '{"type":"tokens","tokens":[%s]}\n' "$ids"
}

# the fields of the last run's record that a test compares
pick() { jq -c "$1" <<< "$output"; }

@test "the longest cached prefix wins; a different token in chunk 2 stops the match at chunk 1" {
	snap "$T/s3.snap" 192   # chunks 0..2
	snap "$T/s6.snap" 400   # chunks 0..6, six of them full
	snap "$T/sb.snap" 320 --seed 0
	toks 1000 450 > "$T/a.jsonl"
	toks 5000 450 > "$T/b.jsonl"
	toks 1000 261 > "$T/a4.jsonl"          # 4 full chunks and 5 tokens
	run -0 --separate-stderr kv-snapshot store "$T/s3.snap" --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "$stderr" ""
	assert_equal "$(pick '[.type, .snapshot, .new, .chunks, .cur_pos, .tokens, .prefixes]')" '["stored",1,true,3,192,450,3]'
	assert_equal "$(pick .bytes)" "$(stat -c %s "$T/s3.snap")"
	# only the 3-chunk snapshot is there: a 4-chunk request gets its 3
	run -0 --separate-stderr kv-snapshot load --tokens "$T/a4.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.type, .path, .hit_chunks, .hit_tokens, .tokens, .request_chunks, .snapshot]')" "[\"loaded\",\"$T/o.snap\",3,192,261,4,1]"
	run -0 cmp "$T/o.snap" "$T/s3.snap"   # all of it: the file itself
	run -0 kv-snapshot store "$T/s6.snap" --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .chunks, .prefixes]')" '[2,7,6]'
	run -0 kv-snapshot store "$T/sb.snap" --tokens "$T/b.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .prefixes]')" '[3,5]'
	# now the 6-chunk one holds the 4th chunk
	run -0 kv-snapshot load --tokens "$T/a4.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .hit_tokens, .snapshot]')" '[4,256,2]'
	# the whole stream: 7 request chunks, 6 cached
	run -0 kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .request_chunks, .snapshot]')" '[6,7,2]'
	# two chunks: both hold them; the one with fewer chunks is read
	toks 1000 128 > "$T/a2.jsonl"
	run -0 kv-snapshot load --tokens "$T/a2.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .snapshot]')" '[2,1]'
	# one token changed in chunk 2 (token 71): chunk 1 still matches
	toks 1000 450 71 999999 > "$T/a-chunk2.jsonl"
	run -0 kv-snapshot load --tokens "$T/a-chunk2.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .snapshot]')" '[1,1]'
	# the last token of chunk 6 changed: 5 chunks
	toks 1000 450 383 7 > "$T/a-chunk6.jsonl"
	run -0 kv-snapshot load --tokens "$T/a-chunk6.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .snapshot]')" '[5,2]'
	# token 0 changed: a miss, exit 1, nothing written
	rm "$T/o.snap"
	toks 1000 450 0 1001 > "$T/a-chunk1.jsonl"
	run -1 --separate-stderr kv-snapshot load --tokens "$T/a-chunk1.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$stderr" ""
	assert_output '{"type":"loaded","path":null,"hit_chunks":0,"hit_tokens":0,"tokens":450,"request_chunks":7,"snapshot":null,"layout":"kvarbiter-layout-1 layers=1 kv_heads=1 head_dim=64 dtype_k=f32 dtype_v=f32 chunk_tokens=64 seed=0"}'
	[ ! -e "$T/o.snap" ]
	# fewer tokens than one chunk: nothing to look up
	toks 1000 63 > "$T/short.jsonl"
	run -1 kv-snapshot load --tokens "$T/short.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .request_chunks]')" '[0,0]'
	# the other stream finds its own snapshot
	run -0 kv-snapshot load --tokens "$T/b.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .snapshot]')" '[5,3]'
	# records are concatenated: the stream split over three records
	{ toks 1000 100; echo '{"type":"note"}'; toks 1100 100; toks 1200 61; } > "$T/split.jsonl"
	run -0 kv-snapshot load --tokens "$T/split.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .snapshot, .tokens]')" '[4,2,261]'
}

@test "a loaded prefix is bit-identical to the same prefix saved by kv-prefill" {
	snap "$T/s6.snap" 400
	toks 7 400 > "$T/a.jsonl"
	run -0 kv-snapshot store "$T/s6.snap" --tokens "$T/a.jsonl" --db "$DB"
	for k in 1 4 6; do
		toks 7 $((k * 64)) > "$T/req.jsonl"
		run -0 kv-snapshot load --tokens "$T/req.jsonl" --db "$DB" --out "$T/o$k.snap"
		assert_equal "$(pick .hit_chunks)" "$k"
		partial "$T/p$k.snap" 400 "$k"
		run -0 cmp "$T/o$k.snap" "$T/p$k.snap"
		run -0 kv-snapshot verify --regen "$T/o$k.snap"
	done
	# another layout: f16, 2 layers, 2 heads, D 32, chunks of 16, seed 9
	set -- --layers 2 --kv-heads 2 --head-dim 32 --dtype f16 --chunk-tokens 16 --seed 9
	snap "$T/f16.snap" 100 "$@"
	run -0 kv-snapshot store "$T/f16.snap" --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "$(pick '[.chunks, .prefixes, .layout]')" '[7,6,"kvarbiter-layout-1 layers=2 kv_heads=2 head_dim=32 dtype_k=f16 dtype_v=f16 chunk_tokens=16 seed=9"]'
	toks 7 90 > "$T/req.jsonl"
	run -0 kv-snapshot load --tokens "$T/req.jsonl" --db "$DB" --out "$T/of.snap" "$@"
	assert_equal "$(pick .hit_chunks)" 5
	partial "$T/pf.snap" 100 5 "$@"
	run -0 cmp "$T/of.snap" "$T/pf.snap"
}

@test "the keys are the documented hash chain, byte for byte" {
	snap "$T/s.snap" 200 --chunk-tokens 32 --seed 3
	toks 40 200 > "$T/a.jsonl"
	run -0 kv-snapshot store "$T/s.snap" --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "$(pick .prefixes)" 6
	key=$(jq -r .key <<< "$output")
	# h_0 = SHA-256(layout id); h_k = SHA-256(hex(h_{k-1}) || ids of
	# chunk k as u64 little-endian || layout id), computed independently
	run -0 python3 - "$T/a.jsonl" <<-'EOF'
		import hashlib, json, struct, sys
		lid = b"kvarbiter-layout-1 layers=1 kv_heads=1 head_dim=64 dtype_k=f32 dtype_v=f32 chunk_tokens=32 seed=3"
		t = json.load(open(sys.argv[1]))["tokens"]
		h = hashlib.sha256(lid).hexdigest()
		for k in range(6):
		    ids = b"".join(struct.pack("<Q", x) for x in t[32 * k:32 * k + 32])
		    h = hashlib.sha256(h.encode() + ids + lid).hexdigest()
		    print(k + 1, h)
	EOF
	assert_line --index 5 "6 $key"
	# and every row of the table is one of them, with its chunk count
	expected=$output
	run -0 sqlite3 "$DB" "SELECT chunks || ' ' || hash FROM prefixes ORDER BY chunks"
	assert_output "$expected"
}

@test "a layout mismatch is a miss, not a wrong hit" {
	snap "$T/s.snap" 256
	snap "$T/h.snap" 256 --dtype f16
	toks 0 256 > "$T/a.jsonl"
	run -0 kv-snapshot store "$T/s.snap" --tokens "$T/a.jsonl" --db "$DB"
	for opt in "--seed 1" "--chunk-tokens 32" "--chunk-tokens 128" "--dtype f16" \
		   "--layers 2" "--kv-heads 2" "--head-dim 32"; do
		# shellcheck disable=SC2086
		run -1 --separate-stderr kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out "$T/o.snap" $opt
		assert_equal "$(pick .hit_chunks)" 0
		assert_equal "$stderr" ""
		[ ! -e "$T/o.snap" ]
	done
	# the defaults, spelled out, are the stored layout
	run -0 kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out "$T/o.snap" \
		--layers 1 --kv-heads 1 --head-dim 64 --dtype f32 --chunk-tokens 64 --seed 0
	assert_equal "$(pick '[.hit_chunks, .snapshot]')" '[4,1]'
	# the same tokens under f16 are another key: each layout its own
	run -0 kv-snapshot store "$T/h.snap" --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .new]')" '[2,true]'
	run -0 kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out "$T/o.snap" --dtype f16
	assert_equal "$(pick '[.hit_chunks, .snapshot]')" '[4,2]'
	run -0 cmp "$T/o.snap" "$T/h.snap"
	run -0 kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick .snapshot)" 1
	run -0 cmp "$T/o.snap" "$T/s.snap"
}

@test "store keys no more chunks than the tokens and cur_pos cover, and stores a file once" {
	snap "$T/s.snap" 400
	toks 0 1000 > "$T/long.jsonl"
	toks 0 200 > "$T/short.jsonl"
	toks 9 200 > "$T/other.jsonl"
	run -0 kv-snapshot store "$T/s.snap" --tokens "$T/short.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .new, .prefixes]')" '[1,true,3]'
	run -0 kv-snapshot store "$T/s.snap" --tokens "$T/long.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .new, .prefixes]')" '[1,false,6]'
	run -0 kv-snapshot store "$T/s.snap" --tokens "$T/other.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .new, .prefixes]')" '[1,false,3]'
	run -0 sqlite3 "$DB" "SELECT count(*), sum(bytes) FROM snapshots; SELECT count(*) FROM prefixes"
	assert_output "1|$(stat -c %s "$T/s.snap")
9"
	# both streams find it
	run -0 kv-snapshot load --tokens "$T/other.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$(pick '[.hit_chunks, .snapshot]')" '[3,1]'
	# fewer tokens than a chunk: nothing to key it by, nothing stored
	toks 0 63 > "$T/tiny.jsonl"
	snap "$T/t.snap" 100
	run -0 --separate-stderr kv-snapshot store "$T/t.snap" --tokens "$T/tiny.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .prefixes, .bytes, .note]')" '[null,0,0,"not stored: no full chunk of known tokens to key it by"]'
	run -0 sqlite3 "$DB" "SELECT count(*) FROM snapshots"
	assert_output 1
	# and a snapshot of less than a chunk, whatever the tokens
	snap "$T/u.snap" 50
	run -0 kv-snapshot store "$T/u.snap" --tokens "$T/long.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .chunks, .cur_pos, .tokens, .prefixes]')" '[null,1,50,1000,0]'
	run -0 sqlite3 "$DB" "SELECT count(*) FROM snapshots"
	assert_output 1
	# an empty tokens file is zero tokens
	: > "$T/empty.jsonl"
	run -0 kv-snapshot store "$T/t.snap" --tokens "$T/empty.jsonl" --db "$DB"
	assert_equal "$(pick '[.tokens, .prefixes]')" '[0,0]'
	run -1 kv-snapshot load --tokens "$T/empty.jsonl" --db "$DB" --out "$T/o2.snap"
	[ ! -e "$T/o2.snap" ]
}

@test "gc deletes the least recently used snapshots and their keys until the bytes fit" {
	snap "$T/s1.snap" 128
	snap "$T/s2.snap" 256
	snap "$T/s3.snap" 320
	for i in 1 2 3; do
		toks $((i * 1000)) 400 > "$T/t$i.jsonl"
		run -0 kv-snapshot store "$T/s$i.snap" --tokens "$T/t$i.jsonl" --db "$DB"
	done
	b1=$(stat -c %s "$T/s1.snap") b2=$(stat -c %s "$T/s2.snap") b3=$(stat -c %s "$T/s3.snap")
	# a load makes snapshot 1 the most recently used: 2 is now the oldest
	run -0 kv-snapshot load --tokens "$T/t1.jsonl" --db "$DB" --out "$T/o.snap"
	run -0 sqlite3 "$DB" "SELECT id, hits FROM snapshots ORDER BY last_use"
	assert_output $'2|0\n3|0\n1|1'
	# already small enough: nothing goes
	run -0 --separate-stderr kv-snapshot gc --db "$DB" --max-bytes $((b1 + b2 + b3))
	assert_output "{\"type\":\"gc\",\"max_bytes\":$((b1 + b2 + b3)),\"deleted\":0,\"kept\":3,\"bytes_before\":$((b1 + b2 + b3)),\"bytes_after\":$((b1 + b2 + b3))}"
	assert_equal "$stderr" ""
	# one byte less: the oldest, snapshot 2, goes with its 4 keys
	run -0 kv-snapshot gc --db "$DB" --max-bytes $((b1 + b2 + b3 - 1))
	assert_output "{\"type\":\"gc\",\"max_bytes\":$((b1 + b2 + b3 - 1)),\"deleted\":1,\"kept\":2,\"bytes_before\":$((b1 + b2 + b3)),\"bytes_after\":$((b1 + b3))}"
	run -0 sqlite3 "$DB" "SELECT group_concat(id) FROM (SELECT id FROM snapshots ORDER BY id); SELECT group_concat(snapshot) FROM (SELECT snapshot FROM blobs ORDER BY snapshot); SELECT snapshot, count(*) FROM prefixes GROUP BY snapshot; PRAGMA foreign_key_check; PRAGMA freelist_count"
	assert_output $'1,3\n1,3\n1|2\n3|5\n0'
	run -1 kv-snapshot load --tokens "$T/t2.jsonl" --db "$DB" --out "$T/o2.snap"
	[ ! -e "$T/o2.snap" ]
	# a size with a suffix; 3 is older than 1
	run -0 kv-snapshot gc --db "$DB" --max-bytes 100K
	assert_equal "$(pick '[.max_bytes, .deleted, .kept, .bytes_after]')" "[102400,1,1,$b1]"
	run -0 kv-snapshot load --tokens "$T/t1.jsonl" --db "$DB" --out "$T/o.snap"
	# 0 empties the cache; storing again works
	run -0 kv-snapshot gc --db "$DB" --max-bytes 0
	assert_equal "$(pick '[.deleted, .kept, .bytes_after]')" '[1,0,0]'
	run -0 sqlite3 "$DB" "SELECT (SELECT count(*) FROM snapshots) + (SELECT count(*) FROM blobs) + (SELECT count(*) FROM prefixes)"
	assert_output 0
	run -0 kv-snapshot store "$T/s3.snap" --tokens "$T/t3.jsonl" --db "$DB"
	assert_equal "$(pick '[.snapshot, .prefixes]')" '[4,5]'
}

@test "four concurrent writers on a new cache, then stores, loads and gc at once: nothing lost" {
	for i in 1 2 3 4; do
		snap "$T/w$i.snap" $((i * 512)) --pool-tokens 4096 --layers 2 --kv-heads 2 --seed "$i"
		toks $((i * 100000)) 3000 > "$T/w$i.jsonl"
		toks $((i * 7777)) 3000 > "$T/v$i.jsonl"
	done
	# four different snapshots into a file none of them has created yet
	pids=()
	for i in 1 2 3 4; do
		kv-snapshot store "$T/w$i.snap" --tokens "$T/w$i.jsonl" --db "$DB" > "$T/out$i" 2> "$T/err$i" &
		pids+=($!)
	done
	for i in 0 1 2 3; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		assert_equal "$rc" 0
		run -0 cat "$T/err$((i + 1))"
		assert_output ""
	done
	run -0 sqlite3 "$DB" "SELECT count(*), count(DISTINCT sha256), sum(bytes) FROM snapshots; SELECT count(*) FROM prefixes; PRAGMA journal_mode; PRAGMA user_version; PRAGMA integrity_check"
	total=0
	for i in 1 2 3 4; do
		total=$((total + $(stat -c %s "$T/w$i.snap")))
	done
	# keys: 512/64 + 1024/64 + 1536/64 + 2048/64 = 8 + 16 + 24 + 32
	assert_output "4|4|$total
80
wal
1
ok"
	# four writers storing one snapshot under four streams: one row, all keys
	pids=()
	for i in 1 2 3 4; do
		kv-snapshot store "$T/w4.snap" --tokens "$T/v$i.jsonl" --db "$DB" > "$T/out$i" 2> "$T/err$i" &
		pids+=($!)
	done
	for i in 0 1 2 3; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		assert_equal "$rc" 0
	done
	run -0 sqlite3 "$DB" "SELECT count(*) FROM snapshots; SELECT count(*) FROM prefixes; SELECT count(*) FROM prefixes WHERE snapshot = (SELECT id FROM snapshots WHERE bytes = $(stat -c %s "$T/w4.snap"))"
	assert_output $'4\n208\n160'
	# stores, loads and gc at once: loads hit, gc (nothing to drop) waits
	pids=()
	for i in 1 2 3 4; do
		toks $((i * 3333)) 3000 > "$T/u$i.jsonl"
		kv-snapshot store "$T/w$i.snap" --tokens "$T/u$i.jsonl" --db "$DB" > "$T/out$i" 2> "$T/err$i" &
		pids+=($!)
		kv-snapshot load --tokens "$T/w$i.jsonl" --db "$DB" --out "$T/l$i.snap" --layers 2 --kv-heads 2 --seed "$i" > "$T/lout$i" 2> "$T/lerr$i" &
		pids+=($!)
	done
	kv-snapshot gc --db "$DB" --max-bytes "$total" > "$T/gc" 2> "$T/gcerr" &
	pids+=($!)
	for pid in "${pids[@]}"; do
		rc=0
		wait "$pid" || rc=$?
		assert_equal "$rc" 0
	done
	run -0 cat "$T"/err[1-4] "$T"/lerr[1-4] "$T/gcerr"
	assert_output ""
	for i in 1 2 3 4; do
		run -0 cmp "$T/l$i.snap" "$T/w$i.snap"
	done
	run -0 jq -c '[.deleted, .kept]' "$T/gc"
	assert_output '[0,4]'
	run -0 sqlite3 "$DB" "SELECT count(*), sum(hits) FROM snapshots; SELECT count(*) FROM prefixes; PRAGMA integrity_check; PRAGMA foreign_key_check"
	assert_output $'4|4\n288\nok'
	for i in 1 2 3 4; do
		run -0 kv-snapshot load --tokens "$T/v$i.jsonl" --db "$DB" --out "$T/o.snap" --layers 2 --kv-heads 2 --seed 4
		assert_equal "$(pick .hit_chunks)" 32
		run -0 kv-snapshot load --tokens "$T/w$i.jsonl" --db "$DB" --out "$T/o.snap" --layers 2 --kv-heads 2 --seed "$i"
		assert_equal "$(pick .hit_chunks)" $((i * 8))
		run -0 cmp "$T/o.snap" "$T/w$i.snap"
	done
}

@test "a bad tokens file is named by file, line and field" {
	snap "$T/s.snap" 128
	check() {
		printf '%s\n' "$@" > "$T/bad.jsonl"
		run -2 --separate-stderr kv-snapshot store "$T/s.snap" --tokens "$T/bad.jsonl" --db "$DB"
		assert_output ""
		want_store=$stderr
		run -2 --separate-stderr kv-snapshot load --tokens "$T/bad.jsonl" --db "$DB" --out "$T/o.snap"
		assert_equal "$stderr" "$want_store"
	}
	check '{"type":"tokens","tokens":[1,2]}' '{"type":"tokens","tokens":[3,-4]}'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:2: field \"tokens\": element 1: must be >= 0, got -4"
	check '' '{"type":"tokens","tokens":[1.5]}'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:2: field \"tokens\": element 0: must be an integer, got 1.5"
	check '{"type":"tokens","tokens":[1,"2"]}'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:1: field \"tokens\": element 1: must be an integer, got \"2\""
	check '{"type":"tokens","tokens":[9007199254740993]}'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:1: field \"tokens\": element 0: 9007199254740993 is beyond +-2^53"
	check '{"type":"tokens","tokens":{"a":1}}'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:1: field \"tokens\": must be an array of token ids"
	check '{"type":"tokens"}'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:1: field \"tokens\": missing"
	check '{"tokens":[1]}'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:1: field \"type\": missing"
	check '{"type":"tokens","tokens":[1]} x'
	assert_equal "$stderr" "kv-snapshot: $T/bad.jsonl:1: malformed JSON at column 32: trailing garbage after the value"
	check '{"type":"tokens","tokens":[1'
	[[ $stderr == "kv-snapshot: $T/bad.jsonl:1: malformed JSON at column "* ]]
	printf '{"type":"tokens","tokens":[1]}\n{"type":"tokens","tokens":[%s]}\n' "$(seq -s, 0 999)" > "$T/big.jsonl"
	run -2 --separate-stderr kv-snapshot store "$T/s.snap" --tokens "$T/big.jsonl" --db "$DB" --max-record 1K
	assert_equal "$stderr" "kv-snapshot: $T/big.jsonl:2: record longer than 1024 bytes (see --max-record)"
	run -2 --separate-stderr kv-snapshot load --tokens "$T/big.jsonl" --db "$DB" --out "$T/o.snap" --max-record 1K
	assert_equal "$stderr" "kv-snapshot: $T/big.jsonl:2: record longer than 1024 bytes (see --max-record)"
	run -2 --separate-stderr kv-snapshot load --tokens "$T/big.jsonl" --db "$DB" --out "$T/o.snap" --max-record 0
	assert_equal "$stderr" "kv-snapshot: --max-record: value is too small: 0"
	# nothing reached the cache; the load did not create an --out
	[ ! -e "$DB" ]
	[ ! -e "$T/o.snap" ]
	run -2 --separate-stderr kv-snapshot store "$T/s.snap" --tokens "$T/nope.jsonl" --db "$DB"
	assert_equal "$stderr" "kv-snapshot: $T/nope.jsonl: No such file or directory"
	# CRLF, blank lines, other record types and stdin are fine
	printf '\r\n{"type":"note"}\r\n{"type":"tokens","tokens":[%s]}\r\n' "$(seq -s, 0 127)" > "$T/crlf.jsonl"
	run -0 kv-snapshot store "$T/s.snap" --tokens - --db "$DB" < "$T/crlf.jsonl"
	assert_equal "$(pick '[.tokens, .prefixes]')" '[128,2]'
}

@test "a bad snapshot is refused with the reader's message and nothing is stored" {
	snap "$T/s.snap" 128
	toks 0 128 > "$T/a.jsonl"
	head -c 1000 "$T/s.snap" > "$T/trunc.snap"
	run -2 --separate-stderr kv-snapshot store "$T/trunc.snap" --tokens "$T/a.jsonl" --db "$DB"
	assert_output ""
	[[ $stderr == "kv-snapshot: $T/trunc.snap: field \"count\": truncated body"* ]]
	cp "$T/s.snap" "$T/flip.snap"
	printf '\001' | dd of="$T/flip.snap" bs=1 seek=5000 conv=notrunc status=none
	run -2 --separate-stderr kv-snapshot store "$T/flip.snap" --tokens "$T/a.jsonl" --db "$DB"
	[[ $stderr == "kv-snapshot: $T/flip.snap: "*checksum* ]]
	run -2 --separate-stderr kv-snapshot store "$T/nope.snap" --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "$stderr" "kv-snapshot: $T/nope.snap: No such file or directory"
	[ ! -e "$DB" ]
	# a damaged blob inside the cache is caught when it is loaded
	run -0 kv-snapshot store "$T/s.snap" --tokens "$T/a.jsonl" --db "$DB"
	sqlite3 "$DB" "SELECT writefile('$T/blob', data) FROM blobs" > /dev/null
	printf '\377' | dd of="$T/blob" bs=1 seek=3000 conv=notrunc status=none
	sqlite3 "$DB" "UPDATE blobs SET data = readfile('$T/blob')"
	run -2 --separate-stderr kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out "$T/o.snap"
	assert_output ""
	[[ $stderr == "kv-snapshot: $DB: snapshot 1: "*checksum* ]]
	[ ! -e "$T/o.snap" ]
}

@test "a file that is not a prefix cache, or a newer one, is refused and left as it was" {
	snap "$T/s.snap" 128
	toks 0 128 > "$T/a.jsonl"
	sqlite3 "$T/other.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1)"
	cp "$T/other.db" "$T/other.orig"
	run -2 --separate-stderr kv-snapshot store "$T/s.snap" --tokens "$T/a.jsonl" --db "$T/other.db"
	assert_equal "$stderr" "kv-snapshot: $T/other.db: not a kvarbiter prefix cache (application_id 0, user_version 0)"
	run -0 cmp "$T/other.db" "$T/other.orig"
	run -2 --separate-stderr kv-snapshot gc --db "$T/other.db" --max-bytes 0
	assert_equal "$stderr" "kv-snapshot: $T/other.db: not a kvarbiter prefix cache (application_id 0, user_version 0)"
	echo 'not a database at all, just text' > "$T/text.db"
	run -2 --separate-stderr kv-snapshot load --tokens "$T/a.jsonl" --db "$T/text.db" --out "$T/o.snap"
	assert_equal "$stderr" "kv-snapshot: $T/text.db: file is not a database"
	run -0 kv-snapshot store "$T/s.snap" --tokens "$T/a.jsonl" --db "$DB"
	run -0 sqlite3 "$DB" "PRAGMA user_version; PRAGMA application_id; PRAGMA journal_mode; PRAGMA auto_vacuum; PRAGMA page_size; PRAGMA foreign_key_list(prefixes); PRAGMA foreign_key_list(blobs)"
	assert_output $'1\n1263944003\nwal\n2\n65536\n0|0|snapshots|snapshot|id|NO ACTION|CASCADE|NONE\n0|0|snapshots|snapshot|id|NO ACTION|CASCADE|NONE'
	sqlite3 "$DB" "PRAGMA user_version = 2"
	run -2 --separate-stderr kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out "$T/o.snap"
	assert_equal "$stderr" "kv-snapshot: $DB: prefix cache schema version 2 is newer than this build's 1"
	# load and gc never create a cache
	run -2 --separate-stderr kv-snapshot gc --db "$T/none.db" --max-bytes 0
	assert_equal "$stderr" "kv-snapshot: $T/none.db: No such file or directory"
	[ ! -e "$T/none.db" ]
}

@test "options: --help, a bad option, missing options, bad values, /dev/full" {
	run -0 --separate-stderr kv-snapshot store --help
	assert_line --index 0 "usage: kv-snapshot store FILE --tokens T.jsonl --db CACHE"
	assert_line --index 1 --regexp '^ +\[--max-record SIZE\]$'
	assert_equal "$stderr" ""
	run -0 kv-snapshot gc -h
	assert_output "usage: kv-snapshot gc --db CACHE --max-bytes N[K|M|G]"
	run -0 kv-snapshot load --help
	assert_line --index 0 "usage: kv-snapshot load --tokens T.jsonl --db CACHE --out FILE"
	run -2 --separate-stderr kv-snapshot gc --db "$DB" --max-bytes 1 --bogus
	assert_output ""
	assert_equal "${stderr_lines[0]}" "kv-snapshot: gc: unknown option --bogus"
	assert_equal "${stderr_lines[1]}" "usage: kv-snapshot gc --db CACHE --max-bytes N[K|M|G]"
	run -2 --separate-stderr kv-snapshot store "$T/s.snap" --tokens "$T/a.jsonl" --out x --db "$DB"
	assert_equal "${stderr_lines[0]}" "kv-snapshot: store: unknown option --out"
	run -2 --separate-stderr kv-snapshot gc --db "$DB" --max-bytes
	assert_equal "${stderr_lines[0]}" "kv-snapshot: gc: option --max-bytes needs a value"
	run -2 --separate-stderr kv-snapshot gc --db "$DB"
	assert_equal "${stderr_lines[0]}" "kv-snapshot: gc: --max-bytes is required"
	run -2 --separate-stderr kv-snapshot gc --max-bytes 0
	assert_equal "${stderr_lines[0]}" "kv-snapshot: gc: --db is required"
	run -2 --separate-stderr kv-snapshot store --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "${stderr_lines[0]}" "kv-snapshot: store: want exactly one snapshot FILE"
	run -2 --separate-stderr kv-snapshot store "$T/s.snap" --db "$DB"
	assert_equal "${stderr_lines[0]}" "kv-snapshot: store: --tokens is required"
	run -2 --separate-stderr kv-snapshot load --tokens "$T/a.jsonl" --db "$DB"
	assert_equal "${stderr_lines[0]}" "kv-snapshot: load: --out is required"
	run -2 --separate-stderr kv-snapshot load --tokens "$T/a.jsonl" --db "$DB" --out o extra
	assert_equal "${stderr_lines[0]}" "kv-snapshot: load: unexpected operand extra"
	run -2 --separate-stderr kv-snapshot gc --db "$DB" --max-bytes -1
	assert_equal "$stderr" "kv-snapshot: --max-bytes: value is too small: -1"
	run -2 --separate-stderr kv-snapshot gc --db "$DB" --max-bytes 1T
	assert_equal "$stderr" "kv-snapshot: --max-bytes: value is invalid: 1T"
	run -2 --separate-stderr kv-snapshot load --tokens a --db b --out c --dtype bf16
	assert_equal "$stderr" "kv-snapshot: --dtype: want f16 or f32, not bf16"
	run -2 --separate-stderr kv-snapshot load --tokens a --db b --out c --chunk-tokens 0
	assert_equal "$stderr" "kv-snapshot: --chunk-tokens: value is too small: 0"
	run -2 --separate-stderr kv-snapshot load --tokens a --db b --out c --seed 9007199254740993
	assert_equal "$stderr" "kv-snapshot: --seed: value is too large: 9007199254740993"
	run -2 --separate-stderr kv-snapshot gc --db "" --max-bytes 0
	assert_equal "$stderr" "kv-snapshot: --db: the path is empty"
	[ -w /dev/full ] || skip "no /dev/full on this system"
	snap "$T/s.snap" 128
	toks 0 128 > "$T/a.jsonl"
	run -2 --separate-stderr sh -c 'exec kv-snapshot store "$1" --tokens "$2" --db "$3" > /dev/full' sh "$T/s.snap" "$T/a.jsonl" "$DB"
	assert_equal "$stderr" "kv-snapshot: write error: No space left on device"
	run -2 --separate-stderr sh -c 'exec kv-snapshot gc --help > /dev/full'
	assert_equal "$stderr" "kv-snapshot: write error: No space left on device"
}

@test "every example of kv-snapshot(1)'s prefix cache section runs and prints what the page shows" {
	# the section sits under DESCRIPTION: check it as an EXAMPLES section
	{ echo '.Sh EXAMPLES'; sed -n '/^\.\\" PREFIX-CACHE-BEGIN$/,/^\.\\" PREFIX-CACHE-END$/p' "$ROOT/man/kv-snapshot.1"; } > "$T/pcache.1"
	run -0 check_man_examples "$(realpath --relative-to="$ROOT/man" "$T/pcache.1")"
	assert_output "6 examples checked"
}
