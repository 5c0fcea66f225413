/*
 * http.c - JSON POST on libcurl for the model backends: timeouts, retries
 * with backoff, and messages scrubbed of secrets (see http.h).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"

#define DEFAULT_CONNECT_S 10.0
#define DEFAULT_TOTAL_S 120.0
#define DEFAULT_RETRIES 3
#define DEFAULT_BACKOFF_S 1.0
#define MAX_RETRIES 100
#define MAX_TIMEOUT_S 86400.0  /* a day: keeps milliseconds within a long */
#define BACKOFF_CAP_S 30.0
#define EXCERPT_MAX 200

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* Run once per process: set up libcurl's global state and arrange for it
 * to be released at exit.  The outcome is left in curl_init_rc. */
static void http_global_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (curl_init_rc == CURLE_OK)
		atexit(curl_global_cleanup);
}

/* Length of the longest non-empty secret that starts at p (n bytes left),
 * or 0 if none does. */
static size_t secret_at(const char *p, size_t n, const char *const *secrets)
{
	size_t best = 0;

	for (const char *const *s = secrets; *s; s++) {
		size_t sl = strlen(*s);

		if (sl > best && sl <= n && (*s)[0] == p[0] &&
		    memcmp(p, *s, sl) == 0)
			best = sl;
	}
	return best;
}

/* Replace secrets in b (contract in http.h).  Leaves b untouched, without
 * allocating, when no secret occurs in it. */
void kva_http_redact(kva_buf *b, const char *const *secrets)
{
	kva_buf out = { 0 };
	size_t i, sl, from;

	if (!b || !b->p || !secrets)
		return;
	for (i = 0; i < b->len; i++)
		if (secret_at(b->p + i, b->len - i, secrets))
			break;
	if (i == b->len)
		return;
	kva_buf_put(&out, b->p, i);
	for (from = i; i < b->len;) {
		if ((sl = secret_at(b->p + i, b->len - i, secrets))) {
			kva_buf_put(&out, b->p + from, i - from);
			kva_buf_puts(&out, "***");
			i += sl;
			from = i;
		} else {
			i++;
		}
	}
	kva_buf_put(&out, b->p + from, i - from);
	kva_buf_free(b);
	*b = out;
}

/* Release r's body and zero r; NULL is accepted. */
void kva_http_resp_free(kva_http_resp *r)
{
	if (!r)
		return;
	kva_buf_free(&r->body);
	memset(r, 0, sizeof *r);
}

/* Append url to m as messages show it: scheme and host, path, but no
 * user:password@, query string or fragment, any of which may hold a key. */
static void put_url(kva_buf *m, const char *url)
{
	const char *host = strstr(url, "://"), *at = NULL;
	size_t authlen;

	if (host) {
		host += 3;
		authlen = strcspn(host, "/?#");
		for (const char *p = host; p < host + authlen; p++)
			if (*p == '@')
				at = p;
		kva_buf_put(m, url, (size_t)(host - url));
		url = at ? at + 1 : host;
	}
	kva_buf_put(m, url, strcspn(url, "?#"));
}

/* Append ": " and the start of body to m on one line: at most EXCERPT_MAX
 * bytes, never cutting a UTF-8 sequence, each run of white space and
 * control bytes turned into one space, "..." when cut.  Appends nothing
 * for a body that is empty or all white space.  body is already
 * redacted: cutting it first could split a secret and leak its head. */
static void put_excerpt(kva_buf *m, const kva_buf *body)
{
	size_t n = body->len, i;
	int cut = 0, space = 0, any = 0;

	if (n > EXCERPT_MAX) {
		n = EXCERPT_MAX;
		while (n > 0 && ((unsigned char)body->p[n] & 0xC0) == 0x80)
			n--;
		cut = 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)body->p[i];

		if (c <= ' ' || c == 0x7f) {
			space = any;
			continue;
		}
		kva_buf_puts(m, any ? (space ? " " : "") : ": ");
		kva_buf_putc(m, c);
		space = 0;
		any = 1;
	}
	if (any && cut)
		kva_buf_puts(m, "...");
}

/* Hand m to e with every secret replaced, free m, and return -1. */
static int fail_msg(kva_err *e, kva_buf *m, const char *const *secrets)
{
	kva_http_redact(m, secrets);
	kva_errf(e, NULL, "%s", m->p ? m->p : "");
	kva_buf_free(m);
	return -1;
}

/* The scale factor for backoff sleeps from KVA_HTTP_BACKOFF_SCALE into
 * *scale (1 when unset or empty).  Returns 0, or -1 with e filled. */
static int backoff_scale(double *scale, kva_err *e)
{
	const char *v = getenv("KVA_HTTP_BACKOFF_SCALE");
	char *end;
	double d;

	*scale = 1.0;
	if (!v || !*v)
		return 0;
	errno = 0;
	d = strtod(v, &end);
	if (errno || *end || end == v || !isfinite(d) || d < 0)
		return kva_errf(e, NULL, "KVA_HTTP_BACKOFF_SCALE is \"%.32s\": "
				"want a number >= 0", v);
	*scale = d;
	return 0;
}

/* A duration option: 0 selects dflt, else it must lie in (0, MAX_TIMEOUT_S].
 * Returns 0 with *out set, or -1 with e naming the field. */
static int duration(double v, double dflt, const char *field, double *out,
		    kva_err *e)
{
	if (v == 0) {
		*out = dflt;
		return 0;
	}
	if (!(v > 0 && v <= MAX_TIMEOUT_S))
		return kva_errf(e, field, "%s must be in (0, %g] seconds",
				field, MAX_TIMEOUT_S);
	*out = v;
	return 0;
}

/* Sleep for s seconds, going back to sleep when a signal interrupts. */
static void sleep_s(double s)
{
	struct timespec ts, rem;

	if (!(s > 0))
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

/* Where the body of one try goes. */
typedef struct sink {
	kva_buf *b;   /* the response body so far */
	int too_big;  /* set when the body passed KVA_HTTP_MAX_BODY */
} sink;

/* Append to the response body; returning less than asked makes curl stop
 * with CURLE_WRITE_ERROR, which is how an oversized body ends. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	sink *k = ctx;
	size_t n = size * nmemb;

	if (n > KVA_HTTP_MAX_BODY - k->b->len) {
		k->too_big = 1;
		return 0;
	}
	kva_buf_put(k->b, data, n);
	return n;
}

/* The outcome of one try. */
typedef struct attempt {
	CURLcode rc;              /* curl's result */
	long status;              /* HTTP status, 0 if none came */
	int connected;            /* a connection was made before the end */
	double retry_after;       /* seconds the server asked for, 0 if none */
	int too_big;              /* the body passed KVA_HTTP_MAX_BODY */
	char err[CURL_ERROR_SIZE];/* curl's detailed message, or empty */
} attempt;

/* One POST on a fresh handle (so "connected" is about this try alone),
 * body into b (emptied first).  Fills a; never fails otherwise. */
static void try_once(const kva_http_req *rq, int get, struct curl_slist *hdrs,
		     long connect_ms, long total_ms, kva_buf *b, attempt *a)
{
	sink k = { b, 0 };
	CURL *h;
	CURLcode rc;
	curl_off_t t = 0;

	memset(a, 0, sizeof *a);
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
	if (!(h = curl_easy_init())) {
		a->rc = CURLE_FAILED_INIT;
		return;
	}
	rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->err);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_URL, rq->url);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS,
				      (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_USERAGENT,
				      "kvarbiter/" KVA_VERSION);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (!rc && get)
		rc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (!rc && !get)
		rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				      (curl_off_t)rq->body_len);
	if (!rc && !get)
		rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS,
				      rq->body ? rq->body : "");
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	if (!rc)
		rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
	if (!rc)
		rc = curl_easy_perform(h);
	a->rc = rc;
	a->too_big = k.too_big;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status) != CURLE_OK)
		a->status = 0;
	if (curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK)
		a->connected = t > 0;
#if LIBCURL_VERSION_NUM >= 0x074200
	t = 0;
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &t) == CURLE_OK && t > 0)
		a->retry_after = (double)t;
#endif
	curl_easy_cleanup(h);
}

/* Is this curl result a failure to reach the server at all? */
static int is_connect_error(CURLcode rc)
{
	return rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_COULDNT_RESOLVE_PROXY ||
	       rc == CURLE_COULDNT_CONNECT || rc == CURLE_SSL_CONNECT_ERROR ||
	       rc == CURLE_PEER_FAILED_VERIFICATION;
}

/* Is a try that ended this way worth making again? */
static int is_retryable(const attempt *a)
{
	if (a->rc == CURLE_OK)
		return a->status == 429 || (a->status >= 500 && a->status <= 599);
	switch (a->rc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* Append curl's account of a failed try to m: its detailed message with
 * the first letter lowered (house style), else the generic one. */
static void put_curl_error(kva_buf *m, const attempt *a)
{
	const char *s = a->err[0] ? a->err : curl_easy_strerror(a->rc);
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	if (n > 1 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'a' && s[1] <= 'z') {
		kva_buf_putc(m, s[0] - 'A' + 'a');
		s++;
		n--;
	}
	kva_buf_put(m, s, n);
}

/* Describe the failed last try a into e, after tries attempts, with every
 * secret of rq scrubbed; resp->body is redacted in place.  Returns -1. */
static int fail_attempt(const kva_http_req *rq, const attempt *a,
			double connect_s, double total_s, int tries,
			kva_http_resp *resp, kva_err *e)
{
	kva_buf m = { 0 };

	kva_http_redact(&resp->body, rq->secrets);
	if (a->rc == CURLE_OK) {
		kva_buf_printf(&m, "HTTP %ld from ", a->status);
		put_url(&m, rq->url);
		if (tries > 1)
			kva_buf_printf(&m, " after %d attempts", tries);
		put_excerpt(&m, &resp->body);
	} else if (a->rc == CURLE_OPERATION_TIMEDOUT) {
		if (a->connected) {
			kva_buf_printf(&m, "timed out after %g s waiting for ",
				       total_s);
		} else {
			kva_buf_printf(&m, "timed out after %g s connecting to ",
				       connect_s < total_s ? connect_s : total_s);
		}
		put_url(&m, rq->url);
		if (tries > 1)
			kva_buf_printf(&m, " (%d attempts)", tries);
	} else if (a->too_big) {
		kva_buf_puts(&m, "response from ");
		put_url(&m, rq->url);
		kva_buf_printf(&m, " is larger than %u bytes", KVA_HTTP_MAX_BODY);
	} else {
		kva_buf_puts(&m, is_connect_error(a->rc) ? "cannot connect to "
							 : "request to ");
		put_url(&m, rq->url);
		if (!is_connect_error(a->rc))
			kva_buf_puts(&m, " failed");
		if (tries > 1)
			kva_buf_printf(&m, " after %d attempts", tries);
		kva_buf_puts(&m, ": ");
		put_curl_error(&m, a);
	}
	return fail_msg(e, &m, rq->secrets);
}

/* Build the header list: the caller's lines, Content-Type: application/json
 * unless the caller gave a Content-Type, and an empty Expect: (no 100-continue
 * round trip).  Returns 0 with *out set (NULL never), or -1 with e filled;
 * the header text is never quoted, since it may hold a key. */
static int build_headers(const char *const *headers, int get, struct curl_slist **out,
			 kva_err *e)
{
	struct curl_slist *l = NULL, *n;
	int has_ct = get;         /* a GET sends no body */

	*out = NULL;
	for (size_t i = 0; headers && headers[i]; i++) {
		if (strpbrk(headers[i], "\r\n")) {
			curl_slist_free_all(l);
			return kva_errf(e, "headers", "header %zu holds a line "
					"break", i + 1);
		}
		if (strncasecmp(headers[i], "content-type:", 13) == 0)
			has_ct = 1;
		if (!(n = curl_slist_append(l, headers[i])))
			goto oom;
		l = n;
	}
	if (!has_ct) {
		if (!(n = curl_slist_append(l, "Content-Type: application/json")))
			goto oom;
		l = n;
	}
	if (!(n = curl_slist_append(l, "Expect:")))
		goto oom;
	*out = n;
	return 0;
oom:
	curl_slist_free_all(l);
	return kva_errf(e, NULL, "out of memory building request headers");
}

/* A POST or a GET with retries (contract in http.h). */
static int http_do(const kva_http_req *rq, int get, kva_http_resp *resp, kva_err *e)
{
	double connect_s = DEFAULT_CONNECT_S, total_s = DEFAULT_TOTAL_S;
	double backoff_s = DEFAULT_BACKOFF_S, scale = 1.0, delay;
	struct curl_slist *hdrs;
	int retries, tries;
	attempt a;

	resp->status = 0;
	resp->attempts = 0;
	resp->body.len = 0;
	if (resp->body.p)
		resp->body.p[0] = '\0';
	if (!rq->url || !*rq->url)
		return kva_errf(e, "url", "no URL given");
	if (!rq->body && rq->body_len)
		return kva_errf(e, "body", "body is NULL but body_len is %zu",
				rq->body_len);
	if (duration(rq->connect_timeout_s, DEFAULT_CONNECT_S,
		     "connect_timeout_s", &connect_s, e) ||
	    duration(rq->total_timeout_s, DEFAULT_TOTAL_S, "total_timeout_s",
		     &total_s, e) ||
	    duration(rq->backoff_s, DEFAULT_BACKOFF_S, "backoff_s", &backoff_s,
		     e))
		return -1;
	retries = rq->max_retries == 0 ? DEFAULT_RETRIES
		  : rq->max_retries < 0 ? 0 : rq->max_retries;
	if (retries > MAX_RETRIES)
		return kva_errf(e, "max_retries", "max_retries is %d: at most %d",
				retries, MAX_RETRIES);
	if (backoff_scale(&scale, e))
		return -1;
	pthread_once(&curl_once, http_global_init);
	if (curl_init_rc != CURLE_OK)
		return kva_errf(e, NULL, "cannot initialise libcurl: %s",
				curl_easy_strerror(curl_init_rc));
	if (build_headers(rq->headers, get, &hdrs, e))
		return -1;

	delay = backoff_s;
	for (tries = 1;; tries++) {
		try_once(rq, get, hdrs, (long)ceil(connect_s * 1000),
			 (long)ceil(total_s * 1000), &resp->body, &a);
		resp->status = a.status;
		resp->attempts = tries;
		if (a.rc == CURLE_OK && a.status >= 200 && a.status <= 299)
			break;
		if (!is_retryable(&a) || tries > retries) {
			curl_slist_free_all(hdrs);
			return fail_attempt(rq, &a, connect_s, total_s, tries,
					    resp, e);
		}
		sleep_s(fmin(a.retry_after > 0 ? a.retry_after : delay,
			     BACKOFF_CAP_S) * scale);
		delay = fmin(delay * 2, BACKOFF_CAP_S);
	}
	curl_slist_free_all(hdrs);
	return 0;
}

int kva_http_post(const kva_http_req *rq, kva_http_resp *resp, kva_err *e)
{
	return http_do(rq, 0, resp, e);
}

int kva_http_get(const kva_http_req *rq, kva_http_resp *resp, kva_err *e)
{
	return http_do(rq, 1, resp, e);
}
