#!/usr/bin/env bats
# llm-gen: replay, the live path against a local fake model server, heal
# prompts, secrets, and the robustness list.

load test_helper

F="$BATS_TEST_DIRNAME/fixtures/llm-gen"
KEY=sk-kvatest-7f3c9a1e5b2d
DISTILL='{"type":"distill","paper":"Each head owns a ring of total_blocks_h blocks."}'

# Start fake_llm.py on 127.0.0.1; sets PORT, BASE and SERVER_PID.  The
# server logs each request to $LOG (with the key logged as <KEY>).
start_server() {
	LOG="$BATS_TEST_TMPDIR/requests.jsonl"
	: > "$LOG"
	FAKE_LLM_KEY=$KEY python3 "$F/fake_llm.py" "$LOG" > "$BATS_TEST_TMPDIR/port" &
	SERVER_PID=$!
	for _ in $(seq 50); do
		[ -s "$BATS_TEST_TMPDIR/port" ] && break
		sleep 0.1
	done
	PORT=$(head -n 1 "$BATS_TEST_TMPDIR/port")
	[[ $PORT =~ ^[0-9]+$ ]] || { echo "fake server did not start"; return 1; }
	BASE="http://127.0.0.1:$PORT"
}

# Stop the server (it dies of SIGTERM: wait reports 143).
stop_server() {
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2> /dev/null || [ $? = 143 ]
	SERVER_PID=
}

teardown() {
	if [ -n "${SERVER_PID:-}" ]; then
		kill "$SERVER_PID" 2> /dev/null
		wait "$SERVER_PID" 2> /dev/null
	fi
	return 0
}

# The key must appear in no output, no diagnostic and no file of the test.
assert_no_key() {
	[[ $output != *"$KEY"* ]] || { echo "key in stdout"; return 1; }
	[[ ${stderr:-} != *"$KEY"* ]] || { echo "key in stderr"; return 1; }
	run grep -r -l -F -e "$KEY" "$BATS_TEST_TMPDIR"
	assert_failure 1
}

# ---- replay ----------------------------------------------------------------

@test "distill from the replay corpus; other types pass through in order" {
	run -0 --separate-stderr llm-gen --replay-dir "$F/replay" "$F/distill.jsonl"
	assert_output "$(cat "$F/distill.expected")"
	assert_equal "$stderr" ""
}

@test "gen from the replay corpus: the first attempt forgets the ring wrap" {
	run -0 --separate-stderr llm-gen --replay-dir "$F/replay" "$F/gen.jsonl"
	assert_output "$(cat "$F/gen.expected")"
	assert_equal "$stderr" ""
	run -0 jq -e -r '.type == "candidate" and .oracle == "radix-2d" and .lang == "c"
	  and .symbol == "route_radix_2d" and .source == "replay" and .model == "gpt-4o-mini"
	  and (.key | test("^[0-9a-f]{64}$")) and (.code | contains("% total_blocks_h") | not)
	  and has("reasoning") == false' "$F/gen.expected"
}

@test "heal from the replay corpus fixes it, and the fix passes the trap" {
	run -0 --separate-stderr llm-gen --replay-dir "$F/replay" "$F/heal.jsonl"
	assert_output "$(cat "$F/heal.expected")"
	jq -r .code "$F/heal.expected" > "$BATS_TEST_TMPDIR/fixed.c"
	grep -q '% total_blocks_h' "$BATS_TEST_TMPDIR/fixed.c"
	jq -r .code "$F/gen.expected" > "$BATS_TEST_TMPDIR/first.c"
	cd "$BATS_TEST_TMPDIR"
	run -1 grad-trap --candidate first.c --oracle radix-2d --boundaries
	run -0 grad-trap --candidate fixed.c --oracle radix-2d --boundaries
}

@test "the default corpus is fixtures/replay, and KVA_REPLAY_DIR replaces it" {
	cd "$ROOT"
	run -0 llm-gen "$F/gen.jsonl"
	assert_output "$(cat "$F/gen.expected")"
	# an empty corpus file: a directory with no *.jsonl at all makes
	# kva_replay_load_dir call qsort(NULL, 0, ...), which UBSan refuses
	mkdir "$BATS_TEST_TMPDIR/corpus"
	: > "$BATS_TEST_TMPDIR/corpus/none.jsonl"
	run -2 --separate-stderr env KVA_REPLAY_DIR="$BATS_TEST_TMPDIR/corpus" llm-gen "$F/gen.jsonl"
	[[ $stderr == "llm-gen: $F/gen.jsonl:1: no replay for key "* ]]
}

@test "a replay miss names the key, provider and model; earlier records are written" {
	printf '%s\n' '{"type":"note"}' '{"type":"distill","paper":"unseen"}' '{"type":"note","n":2}' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"note"}'
	assert_equal "$stderr" "llm-gen: $BATS_TEST_TMPDIR/in:2: no replay for key 101708693912b828ea21d786749adfbdb70c501221997b4bddf7448acbe19cbc (provider openai, model gpt-4o-mini); run with --record --store FILE to record it"
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" --provider anthropic "$F/distill.jsonl"
	[[ $stderr == *"(provider anthropic, model claude-3-5-haiku-latest);"* ]]
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" --keep-going "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"note"}'
}

@test "--full-agent-trace puts the reasoning in the record and on stderr" {
	run -0 --separate-stderr llm-gen --replay-dir "$F/replay" --full-agent-trace "$F/heal.jsonl"
	assert_equal "$(jq -r .reasoning <<< "$output")" "block must wrap modulo total_blocks_h"
	assert_equal "$stderr" "llm-gen: $F/heal.jsonl:1: reasoning:
block must wrap modulo total_blocks_h"
}

@test "a bad replay corpus is trouble, named" {
	mkdir "$BATS_TEST_TMPDIR/corpus"
	sed 's/"key":"[0-9a-f]/"key":"x/' "$F/replay/radix-2d-demo.jsonl" > "$BATS_TEST_TMPDIR/corpus/a.jsonl"
	run -2 --separate-stderr llm-gen --replay-dir "$BATS_TEST_TMPDIR/corpus" < /dev/null
	[[ $stderr == "llm-gen: replay corpus $BATS_TEST_TMPDIR/corpus/a.jsonl:1: key: "* ]]
	run -2 --separate-stderr llm-gen --replay-dir "$BATS_TEST_TMPDIR/nope" < /dev/null
	assert_equal "$stderr" "llm-gen: replay corpus $BATS_TEST_TMPDIR/nope: No such file or directory"
}

# ---- request validation ------------------------------------------------------

@test "requests with missing or mistyped fields are errors naming the field" {
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"distill"}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "paper": missing'
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"distill","paper":3}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "paper": must be a string'
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"gen","oracle":"nope","spec":"s"}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "oracle": no route ABI for oracle "nope"'
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"gen","oracle":"radix-2d"}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "spec": missing'
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"gen","oracle":"radix-2d","spec":"s","attempt":1.5}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "attempt": must be an integer, got 1.5'
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"gen","oracle":"radix-2d","spec":"s","attempt":-1}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "attempt": must be >= 0'
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"gen","oracle":"radix-2d","spec":"s","code":"int x;"}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "divergences": missing (a heal request carries code and divergences)'
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"gen","oracle":"radix-2d","spec":"s","code":"int x;","divergences":{}}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "divergences": must be an array'
}

@test "--keep-going turns a bad request into an error record and exits 2" {
	{ echo '{"type":"distill"}'; cat "$F/distill.jsonl"; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" --keep-going "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":1,\"field\":\"paper\",\"message\":\"missing\"}"
	assert_equal "${lines[1]}" "$(head -n 1 "$F/distill.expected")"
	assert_equal "${#lines[@]}" 3
	assert_equal "$stderr" "llm-gen: $BATS_TEST_TMPDIR/in:1: field \"paper\": missing"
}

@test "a missing prompt template is trouble, named" {
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" --prompts "$BATS_TEST_TMPDIR" "$F/distill.jsonl"
	assert_output ""
	[[ $stderr == "llm-gen: $F/distill.jsonl:1: "*"$BATS_TEST_TMPDIR/distill.txt"* ]]
	cd "$BATS_TEST_TMPDIR"
	# no fixtures/ here: the prompts are in $KVARBITER_DATA/prompts
	run -2 --separate-stderr env KVARBITER_DATA="$BATS_TEST_TMPDIR" llm-gen --replay-dir "$F/replay" "$F/distill.jsonl"
	[[ $stderr == *"prompt template $BATS_TEST_TMPDIR/prompts/distill.txt: No such file or directory"* ]]
	run -0 env KVA_PROMPTS="$ROOT/fixtures/prompts" llm-gen --replay-dir "$F/replay" "$F/distill.jsonl"
	assert_output "$(cat "$F/distill.expected")"
}

# ---- the robustness list ------------------------------------------------------

@test "empty input gives no output and exit 0" {
	run -0 --separate-stderr llm-gen --replay-dir "$F/replay" < /dev/null
	assert_output ""
	assert_equal "$stderr" ""
}

@test "blank lines are skipped and line numbers still count them" {
	printf '\n  \n{"type":"distill"}\n' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" "$BATS_TEST_TMPDIR/in"
	assert_output ""
	assert_equal "$stderr" "llm-gen: $BATS_TEST_TMPDIR/in:3: field \"paper\": missing"
}

@test "CRLF line ends are accepted" {
	sed 's/$/\r/' "$F/distill.jsonl" > "$BATS_TEST_TMPDIR/in"
	run -0 llm-gen --replay-dir "$F/replay" "$BATS_TEST_TMPDIR/in"
	assert_output "$(cat "$F/distill.expected")"
}

@test "malformed JSON: exit 2, file:line, records before it are written" {
	printf '%s\n' '{"type":"note"}' '{"type":"distill",' > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" "$BATS_TEST_TMPDIR/in"
	assert_output '{"type":"note"}'
	assert_equal "$stderr" "llm-gen: $BATS_TEST_TMPDIR/in:2: malformed JSON at column 19: expected member name"
}

@test "trailing garbage after the object is an error" {
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"type":"distill","paper":"x"} x'
	assert_output ""
	assert_equal "$stderr" "llm-gen: <stdin>:1: malformed JSON at column 32: trailing garbage after the value"
}

@test "a record without type is an error naming the field" {
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" <<< '{"paper":"x"}'
	assert_equal "$stderr" 'llm-gen: <stdin>:1: field "type": missing'
}

@test "an oversized record is refused and the next one still read" {
	{ printf '{"type":"distill","paper":"%0200d"}\n' 0; cat "$F/distill.jsonl"; } > "$BATS_TEST_TMPDIR/in"
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" --max-record 100 --keep-going "$BATS_TEST_TMPDIR/in"
	assert_equal "${lines[0]}" "{\"type\":\"error\",\"file\":\"$BATS_TEST_TMPDIR/in\",\"line\":1,\"message\":\"record longer than 100 bytes (see --max-record)\"}"
	assert_equal "${lines[1]}" "$(head -n 1 "$F/distill.expected")"
	assert_equal "$stderr" "llm-gen: $BATS_TEST_TMPDIR/in:1: record longer than 100 bytes (see --max-record)"
}

@test "--help prints usage to stdout, exit 0" {
	run -0 --separate-stderr llm-gen --help
	assert_line --index 0 --partial "usage: llm-gen"
	assert_equal "$stderr" ""
	run -0 llm-gen -h
	assert_line --index 0 --partial "usage: llm-gen"
}

@test "--version" {
	run -0 llm-gen --version
	assert_output --regexp '^llm-gen [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "a bad option prints usage to stderr, exit 2" {
	run -2 --separate-stderr llm-gen --bogus
	assert_output ""
	[[ ${stderr_lines[0]} == *"unrecognized option '--bogus'" ]]
	[[ ${stderr_lines[1]} == "usage: llm-gen"* ]]
}

@test "bad option values are refused with the value named" {
	run -2 --separate-stderr llm-gen --provider nope
	assert_equal "$stderr" 'llm-gen: --provider: unknown provider "nope" (openai, anthropic or gemini)'
	run -2 --separate-stderr llm-gen --timeout x
	assert_equal "$stderr" "llm-gen: --timeout: value is invalid: x"
	run -2 --separate-stderr llm-gen --timeout 0
	assert_equal "$stderr" "llm-gen: --timeout: value is out of range (0, 86400]: 0"
	run -2 --separate-stderr llm-gen --retries 101
	assert_equal "$stderr" "llm-gen: --retries: value is too large: 101"
	run -2 --separate-stderr llm-gen --record
	assert_equal "$stderr" "llm-gen: --record needs --store FILE to record into"
}

@test "writing to /dev/full is an error, exit 2" {
	[ -w /dev/full ] || skip "no /dev/full on this system"
	run -2 --separate-stderr sh -c 'exec llm-gen --replay-dir "$1/replay" "$1/distill.jsonl" > /dev/full' sh "$F"
	assert_equal "$stderr" "llm-gen: write error: No space left on device"
}

# ---- the live path against a local server --------------------------------------

@test "--live without a key is exit 2 naming the variable" {
	run -2 --separate-stderr env -u OPENAI_API_KEY -u KVA_API_KEY llm-gen --live < /dev/null
	assert_equal "$stderr" "llm-gen: --live needs an API key: set OPENAI_API_KEY (or KVA_API_KEY)"
	run -2 --separate-stderr env -u ANTHROPIC_API_KEY -u KVA_API_KEY llm-gen --live --provider anthropic < /dev/null
	assert_equal "$stderr" "llm-gen: --live needs an API key: set ANTHROPIC_API_KEY (or KVA_API_KEY)"
	run -2 --separate-stderr env OPENAI_API_KEY="$(printf 'k\r\nX-Evil: 1')" llm-gen --live < /dev/null
	assert_equal "$stderr" "llm-gen: OPENAI_API_KEY holds a control character"
}

@test "openai: path, bearer header and body; the answer is live" {
	start_server
	OPENAI_API_KEY=$KEY run -0 --separate-stderr llm-gen --live --base-url "$BASE/" "$F/distill.jsonl"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c 'del(.source)' <<< "${lines[0]}")" "$(head -n 1 "$F/distill.expected" | jq -c 'del(.source)')"
	assert_equal "$(jq -r .source <<< "${lines[0]}")" live
	assert_equal "$(wc -l < "$LOG")" 1
	run -0 jq -e '.path == "/v1/chat/completions"
	  and ([.headers[] | select(.[0] == "Authorization")] == [["Authorization", "Bearer <KEY>"]])
	  and ([.headers[] | select(.[0] == "Content-Type")[1]] == ["application/json"])
	  and (.body | keys) == ["messages", "model", "temperature"]
	  and .body.model == "gpt-4o-mini" and .body.temperature == 0
	  and (.body.messages | map(.role)) == ["system", "user"]
	  and (.body.messages[1].content | contains("Each head owns a ring"))' "$LOG"
	assert_no_key
}

@test "KVA_API_KEY is used when the provider variable is unset" {
	start_server
	run -0 env -u OPENAI_API_KEY KVA_API_KEY=$KEY llm-gen --live --base-url "$BASE" "$F/distill.jsonl"
	run -0 jq -e '.headers[] | select(.[0] == "Authorization") | .[1] == "Bearer <KEY>"' "$LOG"
	assert_no_key
}

@test "anthropic: /v1/messages, x-api-key and anthropic-version, system apart" {
	start_server
	ANTHROPIC_API_KEY=$KEY run -0 --separate-stderr llm-gen --live --provider anthropic --model claude-test --base-url "$BASE" "$F/gen.jsonl"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '{model, source, code}' <<< "$output")" \
		"$(jq -c '{model: "claude-test", source: "live", code}' "$F/gen.expected")"
	run -0 jq -e '.path == "/v1/messages"
	  and ([.headers[] | select(.[0] == "x-api-key")[1]] == ["<KEY>"])
	  and ([.headers[] | select(.[0] == "anthropic-version")[1]] == ["2023-06-01"])
	  and ([.headers[] | select(.[0] == "Authorization")] == [])
	  and .body.model == "claude-test" and .body.temperature == 0
	  and .body.max_tokens == 4096 and (.body.system | startswith("You write small"))
	  and (.body.messages | map(.role)) == ["user"]' "$LOG"
	assert_no_key
}

@test "gemini: OpenAI's wire format at the base URL's /chat/completions, GEMINI_API_KEY else GOOGLE_API_KEY, its own replay key" {
	start_server
	# the fake server answers OpenAI's path: a base URL ending in /v1
	GEMINI_API_KEY=$KEY run -0 --separate-stderr env -u OPENAI_API_KEY llm-gen --live --provider gemini --model gemini-test --base-url "$BASE/v1" "$F/gen.jsonl"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '{model, source, code}' <<< "$output")" \
		"$(jq -c '{model: "gemini-test", source: "live", code}' "$F/gen.expected")"
	run -0 jq -e -s '.[-1].path == "/v1/chat/completions"
	  and ([.[-1].headers[] | select(.[0] == "Authorization")[1]] == ["Bearer <KEY>"])
	  and .[-1].body.model == "gemini-test"' "$LOG"
	GOOGLE_API_KEY=$KEY run -0 --separate-stderr env -u GEMINI_API_KEY llm-gen --live --provider gemini --model gemini-test --base-url "$BASE/v1" "$F/gen.jsonl"
	run -2 --separate-stderr env -u GEMINI_API_KEY -u GOOGLE_API_KEY -u KVA_API_KEY llm-gen --live --provider gemini < /dev/null
	assert_equal "$stderr" "llm-gen: --live needs an API key: set GEMINI_API_KEY or GOOGLE_API_KEY (or KVA_API_KEY)"
	# replayed, it is a key of its own: not the openai answer
	run -2 --separate-stderr llm-gen --replay-dir "$F/replay" --provider gemini "$F/distill.jsonl"
	[[ $stderr == *"(provider gemini, model gemini-2.0-flash);"* ]]
	assert_no_key
}

@test "--fetch URL: a GET through libcurl into the cache under the URL's sha256, read from there the next time; auto-heal --paper URL uses it" {
	mkdir -p "$BATS_TEST_TMPDIR/papers"
	cp "$ROOT/fixtures/papers/radix.txt" "$ROOT/fixtures/papers/radix.pdf" "$BATS_TEST_TMPDIR/papers/"
	export FAKE_PAPERS_DIR="$BATS_TEST_TMPDIR/papers" KVA_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
	start_server
	url="$BASE/papers/radix.txt"
	sha=$(printf '%s' "$url" | sha256sum | cut -d' ' -f1)
	run -0 --separate-stderr llm-gen --fetch "$url"
	assert_equal "$output" "$KVA_CACHE_DIR/papers/$sha.txt"
	cmp "$output" "$ROOT/fixtures/papers/radix.txt"
	assert_equal "$(jq -s 'map(select(.path == "/papers/radix.txt")) | length' "$LOG")" 1
	# the second time from the cache: no request
	run -0 --separate-stderr llm-gen --fetch "$url"
	assert_equal "$output" "$KVA_CACHE_DIR/papers/$sha.txt"
	assert_equal "$(jq -s 'map(select(.path == "/papers/radix.txt")) | length' "$LOG")" 1
	# what is not there, and what is no URL: exit 2, nothing cached
	run -2 --separate-stderr llm-gen --fetch "$BASE/papers/none.txt" --retries 0
	assert_output ""
	[[ $stderr == "llm-gen: --fetch: HTTP 404 from $BASE/papers/none.txt"* ]]
	run -2 --separate-stderr llm-gen --fetch "file:///etc/passwd"
	assert_equal "$stderr" "llm-gen: --fetch: file:///etc/passwd: not an http:// or https:// URL"
	[ "$(ls "$KVA_CACHE_DIR/papers" | wc -l)" = 1 ]
	# ImpactArbiter's --paper URL: downloaded once, then distilled as a file
	run -0 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix --paper "$BASE/papers/radix.pdf"
	assert_line "[QUICK DISTILL] radix-1d from radix.pdf"
	assert_line --index $((${#lines[@]} - 1)) --regexp '^\[FINAL PASS\] '
	[ -f "$KVA_CACHE_DIR/papers/$(printf '%s' "$BASE/papers/radix.pdf" | sha256sum | cut -d' ' -f1).pdf" ]
	run -2 --separate-stderr sh "$ROOT/pipelines/auto-heal" --oracle radix --paper "$BASE/papers/none.pdf"
	[[ $stderr == "llm-gen: --fetch: HTTP 404 from $BASE/papers/none.pdf"* ]]
}

@test "429 then 200: the retry succeeds" {
	start_server
	KVA_HTTP_BACKOFF_SCALE=0.01 OPENAI_API_KEY=$KEY run -0 --separate-stderr llm-gen --live --model m-429 --base-url "$BASE" "$F/distill.jsonl"
	assert_equal "$stderr" ""
	assert_equal "$(jq -r .type <<< "${lines[0]}")" spec
	assert_equal "$(wc -l < "$LOG")" 2
	assert_no_key
}

@test "a slow server times out: exit 2 with the transport's message" {
	start_server
	OPENAI_API_KEY=$KEY run -2 --separate-stderr llm-gen --live --model m-slow --timeout 0.5 --retries 0 --base-url "$BASE" "$F/distill.jsonl"
	assert_output ""
	assert_equal "$stderr" "llm-gen: $F/distill.jsonl:1: timed out after 0.5 s waiting for $BASE/v1/chat/completions"
	assert_no_key
}

@test "401: exit 2, the hint names the key variable, the key is redacted" {
	start_server
	OPENAI_API_KEY=$KEY run -2 --separate-stderr llm-gen --live --model m-401 --base-url "$BASE" "$F/distill.jsonl"
	assert_output ""
	assert_equal "$stderr" "llm-gen: $F/distill.jsonl:1: HTTP 401 from $BASE/v1/chat/completions: {\"error\": {\"message\": \"invalid key: Bearer ***\"}}; check OPENAI_API_KEY"
	assert_equal "$(wc -l < "$LOG")" 1
	assert_no_key
	ANTHROPIC_API_KEY=$KEY run -2 --separate-stderr llm-gen --live --provider anthropic --model m-401 --base-url "$BASE" "$F/distill.jsonl"
	[[ $stderr == *"invalid key: ***\"}}; check ANTHROPIC_API_KEY" ]]
	assert_no_key
	# a long body is cut (to an excerpt, and at the 255 bytes of a message):
	# the hint still comes after it
	OPENAI_API_KEY=$KEY run -2 --separate-stderr llm-gen --live --model m-401-long --base-url "$BASE" "$F/distill.jsonl"
	[[ $stderr == "llm-gen: $F/distill.jsonl:1: HTTP 401 from $BASE/v1/chat/completions: {\"error\": {\"message\": \"xxx"*"; check OPENAI_API_KEY" ]]
	assert_no_key
}

@test "several operands are read in order" {
	run -0 llm-gen --replay-dir "$F/replay" --unbuffered "$F/distill.jsonl" "$F/gen.jsonl" - < "$F/heal.jsonl"
	assert_output "$(cat "$F/distill.expected" "$F/gen.expected" "$F/heal.expected")"
}

@test "a malformed response body is exit 2, named" {
	start_server
	OPENAI_API_KEY=$KEY run -2 --separate-stderr llm-gen --live --model m-malformed --base-url "$BASE" "$F/distill.jsonl"
	assert_output ""
	assert_equal "$stderr" "llm-gen: $F/distill.jsonl:1: $BASE/v1/chat/completions: openai response is not json: malformed JSON at column 1: bad number"
	assert_no_key
}

@test "404: exit 2, the hint points at --base-url and --model" {
	start_server
	OPENAI_API_KEY=$KEY run -2 --separate-stderr llm-gen --live --base-url "$BASE/v1" "$F/distill.jsonl"
	assert_output ""
	assert_equal "$stderr" "llm-gen: $F/distill.jsonl:1: HTTP 404 from $BASE/v1/v1/chat/completions: {\"error\":{\"message\":\"no such path\"}}; check --base-url (without the /v1 path) and --model"
	assert_no_key
}

@test "a reply with no function is a candidate with an error, exit 0" {
	start_server
	OPENAI_API_KEY=$KEY run -0 --separate-stderr llm-gen --live --model m-nocode --base-url "$BASE" "$F/gen.jsonl"
	run -0 jq -e '.type == "candidate" and .error == "reply defines no route_radix_2d()"
	  and (has("code") | not) and .source == "live"' <<< "$output"
	assert_no_key
}

@test "a refused connection is exit 2 after the retries" {
	start_server
	stop_server
	KVA_HTTP_BACKOFF_SCALE=0.01 OPENAI_API_KEY=$KEY run -2 --separate-stderr llm-gen --live --retries 1 --base-url "$BASE" "$F/distill.jsonl"
	[[ $stderr == "llm-gen: $F/distill.jsonl:1: cannot connect to $BASE/v1/chat/completions"* ]]
}

@test "--record stores the answers; a replay without the server reproduces them" {
	start_server
	cat "$F/distill.jsonl" "$F/gen.jsonl" "$F/heal.jsonl" > "$BATS_TEST_TMPDIR/in"
	OPENAI_API_KEY=$KEY llm-gen --record --store "$BATS_TEST_TMPDIR/s.db" --base-url "$BASE" --full-agent-trace \
		"$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/live.out" 2> "$BATS_TEST_TMPDIR/live.err"
	assert_equal "$(wc -l < "$LOG")" 3
	stop_server
	mkdir "$BATS_TEST_TMPDIR/empty"
	: > "$BATS_TEST_TMPDIR/empty/none.jsonl" # see the KVA_REPLAY_DIR test
	llm-gen --replay-dir "$BATS_TEST_TMPDIR/empty" --store "$BATS_TEST_TMPDIR/s.db" --full-agent-trace \
		"$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/replay1.out" 2> "$BATS_TEST_TMPDIR/replay1.err"
	llm-gen --replay-dir "$BATS_TEST_TMPDIR/empty" --store "$BATS_TEST_TMPDIR/s.db" --full-agent-trace \
		"$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/replay2.out" 2> "$BATS_TEST_TMPDIR/replay2.err"
	# the only difference between the live and the replayed run is "source"
	sed 's/"source":"live"/"source":"replay"/' "$BATS_TEST_TMPDIR/live.out" > "$BATS_TEST_TMPDIR/live.as-replay"
	diff -u "$BATS_TEST_TMPDIR/live.as-replay" "$BATS_TEST_TMPDIR/replay1.out"
	cmp "$BATS_TEST_TMPDIR/replay1.out" "$BATS_TEST_TMPDIR/replay2.out"
	cmp "$BATS_TEST_TMPDIR/live.err" "$BATS_TEST_TMPDIR/replay1.err"
	cmp "$BATS_TEST_TMPDIR/replay1.err" "$BATS_TEST_TMPDIR/replay2.err"
	run -0 grep -c '"source":"replay"' "$BATS_TEST_TMPDIR/replay1.out"
	assert_output 3
	# the recorded answers are the checked-in corpus's answers
	diff -u <(jq -c 'del(.reasoning)' "$BATS_TEST_TMPDIR/replay1.out") \
		<(cat "$F/distill.expected" "$F/gen.expected" "$F/heal.expected")
	run -0 sqlite3 "$BATS_TEST_TMPDIR/s.db" 'select count(*) from replay'
	assert_output 3
	output=""; stderr=""
	assert_no_key
}

@test "the heal prompt shows the code and all divergences, never the oracle's formula" {
	start_server
	OPENAI_API_KEY=$KEY run -0 llm-gen --live --base-url "$BASE" "$F/heal.jsonl"
	jq -r '.body.messages[1].content' "$LOG" > "$BATS_TEST_TMPDIR/prompt"
	jq -r '.[0].code' <(jq -s . "$F/heal.jsonl") > "$BATS_TEST_TMPDIR/code"
	grep -q -F -f "$BATS_TEST_TMPDIR/code" "$BATS_TEST_TMPDIR/prompt"
	grep -q -F 'This is repair attempt 1.' "$BATS_TEST_TMPDIR/prompt"
	grep -q -F 'diverging cases: 2893 of 4155 (examples from 20 divergence records)' "$BATS_TEST_TMPDIR/prompt"
	grep -q -F 'out_of_bounds: 2893 cases' "$BATS_TEST_TMPDIR/prompt"
	grep -q -F 'b_local_idx=5 head_idx=0 prefix_length_h=60 total_blocks_h=4 block_size=16 → expected head=0 block=0 offset=1, got head=0 block=4 offset=1' "$BATS_TEST_TMPDIR/prompt"
	grep -q -F 'smallest failing case' "$BATS_TEST_TMPDIR/prompt"
	# no line of route-oracle's formula, and nothing of its expression language
	route-oracle --oracle radix-2d --print-formula | grep '^out ' > "$BATS_TEST_TMPDIR/formula"
	[ -s "$BATS_TEST_TMPDIR/formula" ]
	run -1 grep -F -f "$BATS_TEST_TMPDIR/formula" "$BATS_TEST_TMPDIR/prompt"
	run -1 grep -E '\bdiv\b|\bout (head|block|offset) =' "$BATS_TEST_TMPDIR/prompt"
	run -1 grep -F -e '% total_blocks_h' "$BATS_TEST_TMPDIR/prompt"
	assert_no_key
}

@test "man page examples run offline and print what the page shows" {
	run -0 check_man_examples llm-gen.1
}

@test "every configured key is scrubbed from what is stored and printed: a server that echoes the header, a model that repeats the other provider's key" {
	OTHER=sk-ant-kvatest-other-91d2c
	export FAKE_LLM_ECHO=$OTHER
	start_server
	cat "$F/distill.jsonl" "$F/gen.jsonl" > "$BATS_TEST_TMPDIR/in"
	OPENAI_API_KEY=$KEY ANTHROPIC_API_KEY=$OTHER run -0 --separate-stderr llm-gen --record \
		--store "$BATS_TEST_TMPDIR/s.db" --model m-echo --base-url "$BASE" --full-agent-trace "$BATS_TEST_TMPDIR/in"
	# the server echoed both; what comes out has neither
	[[ $output == *'headers: Bearer *** ***'* ]]
	[[ $stderr == *'you sent Bearer *** ***'* ]]
	run -0 sqlite3 "$BATS_TEST_TMPDIR/s.db" "select count(*) from replay where response like '%headers: Bearer *** ***%' and reasoning like 'you sent Bearer *** ***%'"
	assert_output 2
	# a replay of the store prints the scrubbed answers too
	mkdir "$BATS_TEST_TMPDIR/empty"
	: > "$BATS_TEST_TMPDIR/empty/none.jsonl"
	run -0 llm-gen --replay-dir "$BATS_TEST_TMPDIR/empty" --store "$BATS_TEST_TMPDIR/s.db" --model m-echo "$BATS_TEST_TMPDIR/in"
	[[ $output == *'headers: Bearer *** ***'* ]]
	output=""; stderr=""
	assert_no_key
	run grep -r -l -F -e "$OTHER" "$BATS_TEST_TMPDIR"
	assert_failure 1
	# a prompt that holds a configured key is not sent
	n=$(wc -l < "$LOG")
	printf '{"type":"distill","paper":"key: %s"}\n' "$OTHER" > "$BATS_TEST_TMPDIR/leak.jsonl"
	OPENAI_API_KEY=$KEY ANTHROPIC_API_KEY=$OTHER run -2 --separate-stderr llm-gen --live --model m-echo \
		--base-url "$BASE" "$BATS_TEST_TMPDIR/leak.jsonl"
	assert_equal "$stderr" "llm-gen: $BATS_TEST_TMPDIR/leak.jsonl:1: the prompt holds the value of ANTHROPIC_API_KEY: not sent"
	assert_equal "$(wc -l < "$LOG")" "$n"
}

@test "--mock is --replay (ImpactArbiter's name), even after --live" {
	run -0 --separate-stderr llm-gen --mock --replay-dir "$F/replay" "$F/distill.jsonl"
	assert_output "$(cat "$F/distill.expected")"
	run -0 --separate-stderr env -u OPENAI_API_KEY -u KVA_API_KEY llm-gen --live --mock --replay-dir "$F/replay" "$F/distill.jsonl"
	assert_output "$(cat "$F/distill.expected")"
}
