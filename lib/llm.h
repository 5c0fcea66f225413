/*
 * llm.h - the offline half of llm-gen(1): prompts, divergence summaries,
 * replay keys, the replay store, provider wire formats and code extraction.
 *
 * Nothing here touches the network.  The HTTP side (lib/http.c) sends the
 * body kva_llm_request_body builds and hands the answer to
 * kva_llm_parse_response; everything else is pure functions of their
 * arguments plus one SQLite file.
 *
 * Buffers: functions that build text (render, summarise, request_body,
 * messages) APPEND to their kva_buf, like kva_json_write; functions that
 * return a result (replay_get, parse_response, extract_code) REPLACE the
 * buffer's contents and leave it NUL-terminated with p != NULL, even when
 * the result is empty.  The caller owns every buffer (kva_buf_free).
 *
 * Errors go into the caller's kva_err (lower case, no full stop), never to
 * stderr.  Unless a comment says otherwise a function returns 0 on success
 * and -1 on failure.
 */
#ifndef KVA_LLM_H
#define KVA_LLM_H

#include "kvarbiter.h"

/* ---- the route ABI, as the model sees it ------------------------------- */

/* One route oracle's entry point: symbol and its exact C prototype from
 * kvarbiter_candidate.h, on one line, followed by a comment naming the
 * elements of out[] in order.  Prototypes only: never a formula. */
typedef struct kva_llm_abi {
	const char *oracle;    /* "radix-2d" */
	const char *symbol;    /* "route_radix_2d" */
	const char *signature; /* "int route_radix_2d(...); /+ out[]: ... +/" */
} kva_llm_abi;

/* The entry for oracle, or NULL when it has no route ABI (user formulas
 * have none). */
const kva_llm_abi *kva_llm_abi_find(const char *oracle);

/* ---- prompt templates -------------------------------------------------- */

/*
 * Values for a template's placeholders.  A placeholder {{NAME}} is replaced
 * by the field of that name; a NULL field is "no value", an error only if
 * the template uses it.  Values are inserted verbatim and never rescanned,
 * so a value may itself contain "{{".
 */
typedef struct kva_llm_vars {
	const char *paper;       /* {{paper}}: paper excerpt (distill) */
	const char *spec;        /* {{spec}}: distilled specification */
	const char *oracle;      /* {{oracle}}: "radix-2d" */
	const char *signature;   /* {{signature}}: kva_llm_abi.signature */
	const char *code;        /* {{code}}: the failing candidate (heal) */
	const char *divergences; /* {{divergences}}: kva_llm_summarise's text */
	const char *attempt;     /* {{attempt}}: heal attempt, as decimal text */
} kva_llm_vars;

/*
 * Append tmpl with every {{name}} replaced (single pass).  A "{{" that does
 * not start "{{" [a-z_]+ "}}" is an error, as are an unknown name and a
 * name whose value is NULL; the message names the template line and the
 * placeholder ("line 4: unknown placeholder {{foo}}").  On error out may
 * hold part of the rendering.
 */
int kva_llm_render(const char *tmpl, const kva_llm_vars *v, kva_buf *out,
		   kva_err *e);

/*
 * Append the messages JSON array for template tmpl: when its first line is
 * "system: TEXT", TEXT (rendered) is the system message and the rest of the
 * file the user message; otherwise the whole file is the user message.
 * The template is split BEFORE rendering, so a value cannot forge a system
 * line.  The user text loses its trailing newlines.  Output:
 * [{"role":"system","content":S},{"role":"user","content":U}] (compact).
 */
int kva_llm_messages(const char *tmpl, const kva_llm_vars *v, kva_buf *out,
		     kva_err *e);

/* Replace out's contents with the file dir/NAME.txt (NAME is "distill",
 * "gen" or "heal", or any other template name).  A file holding a NUL
 * byte is refused. */
int kva_llm_template(const char *dir, const char *name, kva_buf *out,
		     kva_err *e);

/* ---- divergence summaries (heal prompts) ------------------------------- */

/*
 * Append a plain-text summary of grad-trap's records for a heal prompt.
 * divs is a JSON array of divergence records ({"type":"divergence",
 * "class":..,"inputs":{..},"expect":{..},"got":{..}|null,"why":..}); a
 * grad-trap summary record in the array supplies the true per-class
 * totals (records are capped by --max-map) and its "first" case; anything
 * else in the array is ignored.  Output, deterministic for a given array:
 *
 *   diverging cases: 2893 of 4155 (examples from 20 divergence records)
 *   out_of_bounds: 2893 cases
 *     b_local_idx=5 head_idx=0 ... → expected head=0 block=0 offset=1,
 *     got head=0 block=4 offset=1                (one line, up to 3)
 *   smallest failing case: <the case with the least sum of |inputs|>
 *
 * Classes are ordered by count (descending), then name.  The text holds
 * only what the records hold: inputs, expected and observed cells, the
 * trap's "why" - never a formula.
 */
void kva_llm_summarise(const kva_jval *divs, kva_buf *out);

/* ---- canonical messages and replay keys ----------------------------------
 *
 * A replay key is the lower-case hex SHA-256 of the UTF-8 bytes
 *
 *   {"provider":P,"model":M,"messages":MESSAGES}
 *
 * with exactly these three members in this order and no whitespace outside
 * strings, where MESSAGES is the messages array re-serialised compactly:
 * members in their given order; strings (values and member names) decoded
 * and re-escaped so that only '"' '\\' and bytes below 0x20 are escaped
 * (\" \\ \b \f \n \r \t, the rest as \u00XX with lower-case hex) and all
 * other bytes, non-ASCII UTF-8 and '/' included, are written as they are;
 * numbers as their source text; true, false, null.  For messages made of
 * strings this is exactly Python's
 *
 *   json.dumps({"provider": P, "model": M, "messages": MSGS},
 *              ensure_ascii=False, separators=(",", ":")).encode()
 *
 * Messages must be a non-empty array of objects, each with a string "role"
 * (system, user or assistant) and a string "content"; other members are
 * kept (and so are part of the key).
 */

/* Append the canonical compact form of messages_json (validated as above;
 * e names the element: "messages[1].content: must be a string"). */
int kva_llm_messages_canon(const char *messages_json, kva_buf *out,
			   kva_err *e);
/* Append the canonical key text {"provider":..,"model":..,"messages":..}. */
int kva_llm_key_text(const char *provider, const char *model,
		     const char *messages_json, kva_buf *out, kva_err *e);
/* The key into out (64 hex digits + NUL).  Returns 0, or -1 when
 * messages_json is not valid messages (kva_llm_key_text says why). */
int kva_llm_key(const char *provider, const char *model,
		const char *messages_json, char out[65]);

/* ---- the replay store -----------------------------------------------------
 *
 * One SQLite table, created if missing:
 *
 *   replay(key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
 *          messages TEXT NOT NULL,          canonical messages JSON
 *          response TEXT NOT NULL, reasoning TEXT,
 *          created TEXT NOT NULL)           UTC "YYYY-MM-DDTHH:MM:SSZ"
 *
 * created is KVA_NOW when that is set and not empty (it must then have
 * exactly that shape), else the clock.  A handle is for one thread.
 */
typedef struct kva_replay kva_replay;

/* Open (creating) the store at path, or an in-memory store for NULL.
 * Returns NULL with e filled ("replay store PATH: ..."). */
kva_replay *kva_replay_open(const char *path, kva_err *e);

/*
 * Load a JSONL corpus: one record a line, {"type":"replay","provider":P,
 * "model":M,"messages":[..],"response":TEXT,"reasoning":TEXT|null?,
 * "key":HEX?}; blank lines (and CRLF line ends) are allowed.  The key is
 * always recomputed from provider, model and messages; a record whose
 * "key" differs is refused.  A key already in the store with the same
 * response and reasoning is fine; with a different one it is an error.
 * A file loads in one transaction: all of it, or on error none of it.
 * Errors name the place: "FILE:LINE: key: recorded key 12ab... is not the
 * computed key 34cd...".
 */
int kva_replay_load_jsonl(kva_replay *r, const char *path, kva_err *e);

/* Load every *.jsonl file in dir, in strcmp order of their names; stops
 * at the first error.  A dir with no such file loads nothing (success). */
int kva_replay_load_dir(kva_replay *r, const char *dir, kva_err *e);

/*
 * Look key up.  Returns 1 with response (and reasoning, empty when the
 * row has none; reasoning may be NULL) replaced, 0 when the store has no
 * such key, -1 on an SQLite error (kva_replay_error says which).
 */
int kva_replay_get(kva_replay *r, const char *key, kva_buf *response,
		   kva_buf *reasoning);

/* Store an answer (for --record): the key is computed from provider,
 * model and messages_json; an existing row for it is replaced.
 * reasoning may be NULL.  If key_out is non-NULL it receives the key. */
int kva_replay_put(kva_replay *r, const char *provider, const char *model,
		   const char *messages_json, const char *response,
		   const char *reasoning, char key_out[65], kva_err *e);

/* Number of rows in the store, or -1 on error. */
int64_t kva_replay_count(kva_replay *r);

/* Message of the last failed call on r ("" if none). */
const char *kva_replay_error(const kva_replay *r);

/* Close; accepts NULL. */
void kva_replay_close(kva_replay *r);

/* ---- provider wire formats -------------------------------------------------
 *
 * provider is "openai" (any /v1/chat/completions server) or "anthropic"
 * (the messages API); anything else is an error naming it.
 */

/*
 * Append the request body for messages_json:
 *   openai     {"model":M,"messages":MESSAGES,"temperature":0}
 *   anthropic  {"model":M,"max_tokens":4096,"temperature":0,"system":S,
 *               "messages":[the non-system messages]}
 * MESSAGES in canonical form (above).  S joins the system messages'
 * contents with a blank line; "system" is left out when there are none.
 */
int kva_llm_request_body(const char *provider, const char *model,
			 const char *messages_json, kva_buf *out, kva_err *e);

/*
 * Parse a response body body[0..n) into the reply text and the model's
 * reasoning (both replaced; reasoning empty when there is none).
 *   openai     text: choices[0].message.content (a string, or an array of
 *              {"type":"text","text":..} parts); reasoning:
 *              choices[0].message.reasoning_content, else .reasoning
 *   anthropic  text: the "text" of every content[] item of type "text",
 *              concatenated; reasoning: the "thinking" of items of type
 *              "thinking"
 * Then for both, every <thinking>...</thinking> (or <think>...</think>)
 * span of the text moves to the reasoning (an unclosed one runs to the
 * end), and so does whitespace after a closing tag.  Reasoning pieces are
 * joined by a newline.  A body with an "error" member is an error carrying
 * the API's message ("openai api error: ..."); a missing field is an error
 * naming it ("openai response has no choices[0].message.content").
 */
int kva_llm_parse_response(const char *provider, const char *body, size_t n,
			   kva_buf *text, kva_buf *reasoning, kva_err *e);

/* ---- code extraction --------------------------------------------------- */

/*
 * Replace code with the C source in reply: the first fenced block (```
 * at the start of a line, up to 3 spaces of indent) whose info string is
 * empty or c, c89, c99, c11, c17, c18 or c23 (any case) and that defines
 * symbol; when the reply has no fenced block at all, the whole reply (a
 * reply whose only blocks are in other languages, cpp included, has no
 * code).  An unclosed fence runs to the end of the reply.  "Defines" means
 * the identifier symbol, outside comments and string or character
 * literals, followed by a parenthesised parameter list and then '{'; a
 * mention in a comment, a prototype or a call is not a definition.
 * Otherwise the error is "reply defines no SYMBOL()".  code ends with a
 * newline.
 */
int kva_llm_extract_code(const char *reply, const char *symbol, kva_buf *code,
			 kva_err *e);

#endif
