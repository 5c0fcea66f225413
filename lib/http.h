/*
 * http.h - the HTTP transport of the model backends (SPEC section 5): one
 * JSON POST on libcurl with timeouts, retries with backoff on 429, 5xx and
 * network errors, and error messages that never carry a secret.
 *
 * Secrets: API keys reach this layer only inside the caller's header lines.
 * Nothing here prints, logs or stores them: the library never writes to
 * stdout or stderr, curl's verbose mode stays off, request headers and the
 * request body never appear in a message, and every message and every
 * failed response body has each of the caller's secrets replaced by "***"
 * before the caller sees it.  URLs in messages lose their user:password@
 * part, query string and fragment (where some providers put a key).
 *
 * Redirects are not followed (a 3xx is an error); only http and https are
 * spoken.  Proxies come from curl's usual environment variables
 * (https_proxy, http_proxy, no_proxy).
 *
 * Environment: KVA_HTTP_BACKOFF_SCALE, when set and not empty, is a number
 * >= 0 that multiplies every backoff sleep (Retry-After included), so tests
 * can exercise retries in milliseconds: 0.01 turns a 1 s wait into 10 ms.
 * It never changes the timeouts.  Any other value makes kva_http_post fail.
 *
 * Threads: kva_http_post may be called from several threads at once; the
 * first call initialises libcurl (curl_global_cleanup runs at exit).
 */
#ifndef KVA_HTTP_H
#define KVA_HTTP_H

#include <stddef.h>

#include "kvarbiter.h"

/* max_retries value for "try once, never retry" (0 selects the default). */
#define KVA_HTTP_NO_RETRY (-1)
/* Largest response body accepted; a longer one fails the request. */
#define KVA_HTTP_MAX_BODY (64u << 20)

/* One request.  A zero field takes the default given beside it. */
typedef struct kva_http_req {
	const char *url;              /* http:// or https:// URL to POST to */
	const char *const *headers;   /* NULL-terminated "Name: value" lines, or
				       * NULL; may hold a secret.  Content-Type:
				       * application/json is added unless one is
				       * given */
	const char *body;             /* request body (JSON); may be NULL when
				       * body_len is 0 */
	size_t body_len;              /* bytes of body */
	double connect_timeout_s;     /* limit on connecting (default 10) */
	double total_timeout_s;       /* limit on one whole try (default 120) */
	int max_retries;              /* tries after the first on 429, 5xx and
				       * network errors, timeouts included
				       * (default 3; at most 100;
				       * KVA_HTTP_NO_RETRY for none) */
	double backoff_s;             /* wait before the first retry (default
				       * 1.0), doubled for each next one; a
				       * Retry-After from the server replaces
				       * it; every wait is capped at 30 s */
	const char *const *secrets;   /* NULL-terminated strings that must never
				       * appear in a message (API keys), or
				       * NULL; empty strings are ignored */
} kva_http_req;

/* What came back.  Zero it before the first use; free it after the last. */
typedef struct kva_http_resp {
	long status;   /* last HTTP status; 0 if no response came */
	kva_buf body;  /* last response body; on failure with every secret
			* replaced by "***" */
	int attempts;  /* tries made (1 + retries used) */
} kva_http_resp;

/*
 * POST rq->body to rq->url.  resp must be zeroed or left by an earlier call
 * (its buffer is then reused); it is filled whatever happens, and the
 * caller frees it with kva_http_resp_free.
 *
 * Returns 0 on a 2xx response, with resp->body holding the body as sent.
 * Otherwise returns -1 with e->msg naming the URL and the problem:
 *   "HTTP 401 from URL: EXCERPT"   any 4xx but 429, and 1xx/3xx: no retry
 *   "HTTP 503 from URL after 4 attempts: EXCERPT"   429 or 5xx, retries
 *                                                  spent
 *   "timed out after N s connecting to URL"
 *   "timed out after N s waiting for URL"
 *   "cannot connect to URL: CURL ERROR"
 *   "request to URL failed: CURL ERROR"
 *   "response from URL is larger than 67108864 bytes"
 * EXCERPT is the first 200 bytes of the (redacted) response body on one
 * line, with "..." when cut; ": EXCERPT" is left out for an empty body.
 * A message after more than one try says how many were made.  Turning
 * "HTTP 401" into advice about which key to check is the caller's job.
 */
int kva_http_post(const kva_http_req *rq, kva_http_resp *resp, kva_err *e);

/* The same as a GET of rq->url: body and body_len are not used, and no
 * Content-Type is added.  Same retries, limits, results and messages. */
int kva_http_get(const kva_http_req *rq, kva_http_resp *resp, kva_err *e);

/* Release r's body and zero r.  Accepts NULL and a zeroed response. */
void kva_http_resp_free(kva_http_resp *r);

/*
 * Replace every occurrence in b of each non-empty string of the
 * NULL-terminated list secrets by "***", scanning left to right and taking
 * the longest secret that matches at each place, so a secret that is a
 * prefix of another never leaves the other's tail behind.  b may hold NUL
 * bytes; it may grow (a secret shorter than 3 bytes).  secrets may be NULL.
 */
void kva_http_redact(kva_buf *b, const char *const *secrets);

#endif
