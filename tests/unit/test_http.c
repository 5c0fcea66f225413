/*
 * test_http.c - the HTTP transport against tests/fixtures/http/server.py,
 * a scripted server on 127.0.0.1 (never any other address).
 *
 * The server starts on first use and stops in the last test (POST /quit);
 * an atexit hook ends it when a name filter skipped that test.  Without
 * python3 the server tests print "skip: ..." and pass; any other trouble
 * starting the server fails them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "unit.h"
#include "kvarbiter.h"
#include "http.h"

#define SERVER_SCRIPT "tests/fixtures/http/server.py"
#define SECRET "sk-test-0123456789abcdef"
#define URL_MAX 96

/* Server state: 0 not started, 1 up, -1 python3 missing, -2 broken. */
static int srv_state;
static pid_t srv_pid = -1;
static int srv_port;

static const char *const auth_headers[] = {
	"Authorization: Bearer " SECRET, NULL
};
static const char *const secrets[] = { SECRET, NULL };

/* At exit: end a server that no test stopped (SIGTERM, then reap it). */
static void server_reap(void)
{
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
		srv_pid = -1;
	}
}

/* Read the server's first stdout line (its port) from fd, waiting at most
 * 10 s.  Returns the port, or -1. */
static int read_port(int fd)
{
	char line[32], *end;
	size_t n = 0;
	long port;

	while (n < sizeof line - 1) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&p, 1, 10000) != 1)
			return -1;
		if ((r = read(fd, line + n, 1)) != 1)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	port = strtol(line, &end, 10);
	return end != line && !*end && port > 0 && port < 65536 ? (int)port : -1;
}

/* Start the server (fork, exec python3, read the port).  Sets srv_state;
 * a failed exec reports its errno through a close-on-exec pipe, so a
 * missing python3 is told apart from a broken script. */
static void server_start(void)
{
	int out[2], ex[2], err = 0;
	ssize_t r;

	srv_state = -2;
	if (pipe(out) || pipe(ex))
		return;
	fcntl(ex[1], F_SETFD, FD_CLOEXEC);
	fflush(NULL);
	if ((srv_pid = fork()) < 0) {
		close(out[0]);
		close(out[1]);
		close(ex[0]);
		close(ex[1]);
		return;
	}
	if (srv_pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		close(ex[0]);
		execlp("python3", "python3", SERVER_SCRIPT, (char *)NULL);
		err = errno;
		if (write(ex[1], &err, sizeof err) < 0)
			_exit(126);
		_exit(127);
	}
	close(out[1]);
	close(ex[1]);
	while ((r = read(ex[0], &err, sizeof err)) < 0 && errno == EINTR)
		;
	close(ex[0]);
	if (r == (ssize_t)sizeof err) {
		waitpid(srv_pid, NULL, 0);
		srv_pid = -1;
		close(out[0]);
		srv_state = err == ENOENT ? -1 : -2;
		return;
	}
	atexit(server_reap);
	srv_port = read_port(out[0]);
	close(out[0]);
	if (srv_port < 0) {
		server_reap();
		return;
	}
	/* fast retries; the proxy variables must not divert 127.0.0.1 */
	setenv("KVA_HTTP_BACKOFF_SCALE", "0.1", 1);
	setenv("no_proxy", "127.0.0.1", 1);
	setenv("NO_PROXY", "127.0.0.1", 1);
	srv_state = 1;
}

/* 1 when the server is up, 0 when python3 is missing, -1 when broken. */
static int server_up(void)
{
	if (srv_state == 0)
		server_start();
	return srv_state == 1 ? 1 : srv_state == -1 ? 0 : -1;
}

#define NEED_SERVER() do { int up_ = server_up(); if (up_ == 0) { \
	fprintf(stderr, "skip: %s: python3 not found, no test server\n", \
		__func__); return; } CHECK(up_ == 1); } while (0)

/* "http://127.0.0.1:PORT" + path into buf. */
static const char *url_of(const char *path, char buf[URL_MAX])
{
	snprintf(buf, URL_MAX, "http://127.0.0.1:%d%s", srv_port, path);
	return buf;
}

/* A request to path on the test server with quick, small settings. */
static kva_http_req req_for(const char *path, char buf[URL_MAX])
{
	kva_http_req rq = { 0 };

	rq.url = url_of(path, buf);
	rq.headers = auth_headers;
	rq.body = "{\"q\":1}";
	rq.body_len = strlen(rq.body);
	rq.connect_timeout_s = 5;
	rq.total_timeout_s = 10;
	rq.backoff_s = 0.01;
	rq.secrets = secrets;
	return rq;
}

/* How many requests the server has had for path, or -1. */
static long hits(const char *path)
{
	char buf[URL_MAX], p[48];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;
	long n = -1;

	snprintf(p, sizeof p, "/hits%s", path);
	rq = req_for(p, buf);
	if (kva_http_post(&rq, &resp, &e) == 0)
		n = strtol(resp.body.p, NULL, 10);
	kva_http_resp_free(&resp);
	return n;
}

/* Value of the one header called name (any case) in the echo's list, or
 * NULL; *count gets how many such headers came. */
static const char *echo_header(const kva_jval *root, const char *name,
			       int *count)
{
	const kva_jval *l = kva_json_get(root, "headers");
	const char *v = NULL;

	*count = 0;
	if (!l || l->t != KVA_JARR)
		return NULL;
	for (const kva_jval *h = l->child; h; h = h->next)
		if (h->t == KVA_JARR && h->n == 2 &&
		    h->child->t == KVA_JSTR && h->child->next->t == KVA_JSTR &&
		    strcasecmp(h->child->s, name) == 0) {
			v = h->child->next->s;
			(*count)++;
		}
	return v;
}

/* b as lower-case hex into a new string (caller frees). */
static char *hex_of(const char *b, size_t n)
{
	char *s = malloc(2 * n + 1);

	for (size_t i = 0; s && i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", (unsigned char)b[i]);
	if (s)
		s[2 * n] = '\0';
	return s;
}

static void t_redact(void)
{
	static const char *const one[] = { "abc123", NULL };
	static const char *const nested[] = { "abc", "abcdef", "", NULL };
	static const char *const tiny[] = { "X", NULL };
	kva_buf b = { 0 };

	kva_buf_puts(&b, "key=abc123 and abc123abc123.");
	kva_http_redact(&b, one);
	CHECK_STR(b.p, "key=*** and ******.");
	b.len = 0;
	/* the longest secret wins, so "abcdef" leaves no "def" behind */
	kva_buf_puts(&b, "xabcdefy abc ab");
	kva_http_redact(&b, nested);
	CHECK_STR(b.p, "x***y *** ab");
	b.len = 0;
	kva_buf_puts(&b, "aXaXX");
	kva_http_redact(&b, tiny);
	CHECK_STR(b.p, "a***a******");
	CHECK_EQ_I64(b.len, 11);
	/* NUL bytes in the buffer do not end the scan */
	b.len = 0;
	kva_buf_put(&b, "a\0abc123\0b", 10);
	kva_http_redact(&b, one);
	CHECK_EQ_I64(b.len, 7);
	CHECK(memcmp(b.p, "a\0***\0b", 7) == 0);
	/* nothing to do: no list, empty list, no match */
	b.len = 0;
	kva_buf_puts(&b, "plain");
	kva_http_redact(&b, NULL);
	CHECK_STR(b.p, "plain");
	static const char *const none[] = { NULL };
	kva_http_redact(&b, none);
	CHECK_STR(b.p, "plain");
	kva_http_redact(&b, one);
	CHECK_STR(b.p, "plain");
	kva_buf_free(&b);
	kva_http_redact(&b, one); /* a zeroed buffer */
	CHECK(b.p == NULL);
}

static void t_bad_request(void)
{
	static const char *const crlf[] = {
		"X-Ok: 1", "Authorization: Bearer " SECRET "\r\nX-Evil: 1", NULL
	};
	kva_http_req rq = { 0 };
	kva_http_resp resp = { 0 };
	kva_err e;

	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_STR(e.msg, "no URL given");
	rq.url = "http://127.0.0.1:1/x";
	rq.total_timeout_s = -1;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_STR(e.field, "total_timeout_s");
	rq.total_timeout_s = 0;
	rq.max_retries = 101;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_STR(e.msg, "max_retries is 101: at most 100");
	rq.max_retries = 0;
	/* a header that would smuggle in another line; its text is not quoted */
	rq.headers = crlf;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_STR(e.msg, "header 2 holds a line break");
	rq.headers = NULL;
	const char *old = getenv("KVA_HTTP_BACKOFF_SCALE");
	char keep[64];

	snprintf(keep, sizeof keep, "%s", old ? old : "");
	setenv("KVA_HTTP_BACKOFF_SCALE", "fast", 1);
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	if (old)
		setenv("KVA_HTTP_BACKOFF_SCALE", keep, 1);
	else
		unsetenv("KVA_HTTP_BACKOFF_SCALE");
	CHECK_STR(e.msg, "KVA_HTTP_BACKOFF_SCALE is \"fast\": want a number >= 0");
	CHECK_EQ_I64(resp.attempts, 0);
	kva_http_resp_free(&resp);
}

static void t_echo(void)
{
	/* bytes that need care: quotes, a newline, UTF-8, a NUL */
	static const char body[] = "{\"msg\":\"h\xc3\xa9llo \\\"q\\\"\\n\"}\0!";
	char buf[URL_MAX];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_arena a = { 0 };
	const kva_jval *root, *v;
	kva_err e;
	int n;
	char *hex;

	NEED_SERVER();
	rq = req_for("/ok", buf);
	rq.body = body;
	rq.body_len = sizeof body - 1;
	CHECK(kva_http_post(&rq, &resp, &e) == 0);
	CHECK_EQ_I64(resp.status, 200);
	CHECK_EQ_I64(resp.attempts, 1);
	CHECK((root = kva_json_parse(&a, resp.body.p, resp.body.len, &e)));
	CHECK((v = kva_json_get(root, "method")) && v->t == KVA_JSTR);
	CHECK_STR(v->s, "POST");
	CHECK((v = kva_json_get(root, "path")) && v->t == KVA_JSTR);
	CHECK_STR(v->s, "/ok");
	CHECK_STR(echo_header(root, "Content-Type", &n), "application/json");
	CHECK_EQ_I64(n, 1);
	CHECK_STR(echo_header(root, "Authorization", &n), "Bearer " SECRET);
	CHECK_EQ_I64(n, 1);
	CHECK_STR(echo_header(root, "User-Agent", &n), "kvarbiter/" KVA_VERSION);
	CHECK(echo_header(root, "Expect", &n) == NULL);
	CHECK((v = kva_json_get(root, "body_len")) && v->t == KVA_JNUM);
	CHECK_EQ_I64(v->rawlen, 2);
	CHECK(memcmp(v->raw, "26", 2) == 0);
	CHECK((v = kva_json_get(root, "body_hex")) && v->t == KVA_JSTR);
	hex = hex_of(body, sizeof body - 1);
	CHECK(hex);
	int same = strcmp(v->s, hex) == 0;
	free(hex);
	CHECK(same);
	kva_arena_free(&a);
	kva_http_resp_free(&resp);
}

static void t_big_body(void)
{
	/* 1 MiB each way: many write callbacks, and no Expect: 100-continue */
	size_t n = 1u << 20;
	char *body = malloc(n), buf[URL_MAX], want[64];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;
	int rc;

	NEED_SERVER();
	CHECK(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	rq = req_for("/ok", buf);
	rq.body = body;
	rq.body_len = n;
	rc = kva_http_post(&rq, &resp, &e);
	free(body);
	CHECK(rc == 0);
	CHECK(resp.body.len > 2 * n);
	snprintf(want, sizeof want, "\"body_len\": %zu", n);
	CHECK(strstr(resp.body.p, want));
	CHECK(strstr(resp.body.p, "\"body_hex\": \"6162636465"));
	kva_http_resp_free(&resp);
}

static void t_own_content_type(void)
{
	static const char *const hdrs[] = {
		"content-type: text/plain", "X-Extra: yes", NULL
	};
	char buf[URL_MAX];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_arena a = { 0 };
	const kva_jval *root;
	kva_err e;
	int n;

	NEED_SERVER();
	rq = req_for("/ok", buf);
	rq.headers = hdrs;
	rq.body = NULL;
	rq.body_len = 0;
	CHECK(kva_http_post(&rq, &resp, &e) == 0);
	CHECK((root = kva_json_parse(&a, resp.body.p, resp.body.len, &e)));
	CHECK_STR(echo_header(root, "Content-Type", &n), "text/plain");
	CHECK_EQ_I64(n, 1);
	CHECK_STR(echo_header(root, "X-Extra", &n), "yes");
	CHECK(echo_header(root, "Authorization", &n) == NULL);
	CHECK_STR(kva_json_get(root, "method")->s, "POST");
	CHECK_STR(kva_json_get(root, "body_hex")->s, "");
	kva_arena_free(&a);
	kva_http_resp_free(&resp);
}

static void t_garbage(void)
{
	char buf[URL_MAX];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;

	NEED_SERVER();
	rq = req_for("/garbage", buf);
	CHECK(kva_http_post(&rq, &resp, &e) == 0);
	CHECK_EQ_I64(resp.status, 200);
	CHECK_EQ_I64(resp.body.len, 23);
	CHECK(memcmp(resp.body.p, "<html>not json\0\xff</html>", 23) == 0);
	kva_http_resp_free(&resp);
}

static void t_429_retry_after(void)
{
	char buf[URL_MAX];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;
	double t0, dt;

	NEED_SERVER();
	rq = req_for("/429-then-200", buf);
	rq.backoff_s = 0.001; /* alone it would wait 0.1 ms, scaled */
	t0 = kva_now();
	CHECK(kva_http_post(&rq, &resp, &e) == 0);
	dt = kva_now() - t0;
	CHECK_EQ_I64(resp.status, 200);
	CHECK_EQ_I64(resp.attempts, 2);
	CHECK_STR(resp.body.p, "{\"ok\":true}");
	/* Retry-After: 1 at KVA_HTTP_BACKOFF_SCALE=0.1 is 0.1 s */
	if (dt < 0.1 || dt > 5)
		fprintf(stderr, "429 then 200 took %.3f s\n", dt);
	CHECK(dt >= 0.1 && dt < 5);
	CHECK_EQ_I64(hits("/429-then-200"), 2);
	kva_http_resp_free(&resp);
}

static void t_503_gives_up(void)
{
	char buf[URL_MAX], want[512];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;

	NEED_SERVER();
	rq = req_for("/503", buf);
	rq.max_retries = 3;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_EQ_I64(resp.status, 503);
	CHECK_EQ_I64(resp.attempts, 4);
	snprintf(want, sizeof want, "HTTP 503 from %s after 4 attempts: "
		 "{\"error\":\"overloaded\"}", buf);
	CHECK_STR(e.msg, want);
	CHECK_EQ_I64(hits("/503"), 4);
	/* the default is 3 retries too; KVA_HTTP_NO_RETRY means one try */
	rq.max_retries = KVA_HTTP_NO_RETRY;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_EQ_I64(resp.attempts, 1);
	snprintf(want, sizeof want, "HTTP 503 from %s: {\"error\":\"overloaded\"}",
		 buf);
	CHECK_STR(e.msg, want);
	rq.max_retries = 0;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_EQ_I64(resp.attempts, 4);
	CHECK_EQ_I64(hits("/503"), 9);
	kva_http_resp_free(&resp);
}

static void t_401_redacted(void)
{
	char buf[URL_MAX], want[512];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;

	NEED_SERVER();
	rq = req_for("/401", buf);
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_EQ_I64(resp.status, 401);
	CHECK_EQ_I64(resp.attempts, 1);
	CHECK(strstr(e.msg, "HTTP 401"));
	CHECK(strstr(e.msg, SECRET) == NULL);
	CHECK(strstr(e.msg, "***"));
	snprintf(want, sizeof want, "HTTP 401 from %s: {\"error\": {\"message\": "
		 "\"invalid key: Bearer ***\"}}", buf);
	CHECK_STR(e.msg, want);
	/* the body the caller keeps is scrubbed as well */
	CHECK(strstr(resp.body.p, SECRET) == NULL);
	CHECK(strstr(resp.body.p, "Bearer ***"));
	CHECK_EQ_I64(hits("/401"), 1);
	kva_http_resp_free(&resp);
}

static void t_excerpt(void)
{
	char buf[URL_MAX], want[512], xs[171];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;

	NEED_SERVER();
	/* The raw body has the key across byte 200; it is redacted before it
	 * is cut, white space runs become one space, and the cut backs off
	 * to the start of a UTF-8 sequence: 195 bytes, then two e-acutes. */
	rq = req_for("/400-long", buf);
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_EQ_I64(resp.status, 400);
	CHECK_EQ_I64(resp.attempts, 1);
	memset(xs, 'x', 170);
	xs[170] = '\0';
	snprintf(want, sizeof want, "HTTP 400 from %s: { \"error\": \"%s "
		 "Bearer ***\xc3\xa9\xc3\xa9...", buf, xs);
	CHECK_STR(e.msg, want);
	CHECK(strstr(e.msg, "sk-") == NULL);
	kva_http_resp_free(&resp);
}

static void t_404_no_retry(void)
{
	char buf[URL_MAX], want[512];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;

	NEED_SERVER();
	rq = req_for("/404", buf);
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_EQ_I64(resp.status, 404);
	CHECK_EQ_I64(resp.attempts, 1);
	snprintf(want, sizeof want, "HTTP 404 from %s: "
		 "{\"error\":\"no such path: /404\"}", buf);
	CHECK_STR(e.msg, want);
	CHECK_EQ_I64(hits("/404"), 1);
	kva_http_resp_free(&resp);
}

static void t_url_scrubbed(void)
{
	char url[256], want[512];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;

	NEED_SERVER();
	/* a key in the query string, and a password in the authority */
	rq = req_for("/", url);
	snprintf(url, sizeof url, "http://me:pw-%s@127.0.0.1:%d/nowhere?key=%s"
		 "#frag", "hidden", srv_port, "qsecret");
	rq.url = url;
	rq.secrets = NULL;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	snprintf(want, sizeof want, "HTTP 404 from http://127.0.0.1:%d/nowhere: "
		 "{\"error\":\"no such path: /nowhere\"}", srv_port);
	CHECK_STR(e.msg, want);
	kva_http_resp_free(&resp);
}

static void t_slow_times_out(void)
{
	char buf[URL_MAX], want[512];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;
	double t0, dt;

	NEED_SERVER();
	rq = req_for("/slow", buf);
	rq.total_timeout_s = 0.5;
	rq.max_retries = 1;
	t0 = kva_now();
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	dt = kva_now() - t0;
	CHECK_EQ_I64(resp.status, 0);
	CHECK_EQ_I64(resp.attempts, 2);
	snprintf(want, sizeof want, "timed out after 0.5 s waiting for %s "
		 "(2 attempts)", buf);
	CHECK_STR(e.msg, want);
	CHECK(dt >= 0.9 && dt < 2.9);
	kva_http_resp_free(&resp);
}

/* A 127.0.0.1 port that was free a moment ago: bound, read, closed. */
static int free_port(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void t_refused(void)
{
	char url[64], want[128];
	int port = free_port();
	kva_http_req rq = { 0 };
	kva_http_resp resp = { 0 };
	kva_err e;

	CHECK(port > 0);
	setenv("no_proxy", "127.0.0.1", 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	rq.url = url;
	rq.max_retries = 1;
	rq.backoff_s = 0.001;
	CHECK(kva_http_post(&rq, &resp, &e) == -1);
	CHECK_EQ_I64(resp.status, 0);
	CHECK_EQ_I64(resp.attempts, 2);
	snprintf(want, sizeof want, "cannot connect to %s after 2 attempts: ", url);
	if (strncmp(e.msg, want, strlen(want)) != 0)
		fprintf(stderr, "got \"%s\"\n", e.msg);
	CHECK(strncmp(e.msg, want, strlen(want)) == 0);
	CHECK(strlen(e.msg) > strlen(want));
	kva_http_resp_free(&resp);
}

/* A 127.0.0.1 listener whose accept queue is full, so a new connection
 * hangs in the handshake: listen(0) and never accept, with connections
 * parked in the queue until the kernel drops further SYNs.  Returns the
 * listener (its port in *port) and the parked sockets in parked[4], or -1. */
static int full_listener(int *port, int parked[4])
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	for (int i = 0; i < 4; i++)
		parked[i] = -1;
	if (fd < 0)
		return -1;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 0) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	for (int i = 0; i < 4; i++) {
		parked[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (parked[i] >= 0)
			connect(parked[i], (struct sockaddr *)&sa, sizeof sa);
	}
	usleep(50000); /* let the handshakes that can finish, finish */
	return fd;
}

static void t_connect_times_out(void)
{
	char url[64], want[128];
	int port = 0, parked[4], fd = full_listener(&port, parked);
	kva_http_req rq = { 0 };
	kva_http_resp resp = { 0 };
	kva_err e;
	double t0, dt;

	CHECK(fd >= 0);
	setenv("no_proxy", "127.0.0.1", 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	rq.url = url;
	rq.connect_timeout_s = 0.3;
	rq.total_timeout_s = 5;
	rq.max_retries = KVA_HTTP_NO_RETRY;
	t0 = kva_now();
	int rc = kva_http_post(&rq, &resp, &e);
	dt = kva_now() - t0;
	for (int i = 0; i < 4; i++)
		if (parked[i] >= 0)
			close(parked[i]);
	close(fd);
	CHECK(rc == -1);
	CHECK_EQ_I64(resp.attempts, 1);
	snprintf(want, sizeof want, "timed out after 0.3 s connecting to %s", url);
	CHECK_STR(e.msg, want);
	CHECK(dt >= 0.25 && dt < 3);
	kva_http_resp_free(&resp);
}

static void t_quit(void)
{
	char buf[URL_MAX];
	kva_http_req rq;
	kva_http_resp resp = { 0 };
	kva_err e;
	int status = -1;
	pid_t got = 0;

	NEED_SERVER();
	rq = req_for("/quit", buf);
	rq.max_retries = KVA_HTTP_NO_RETRY;
	CHECK(kva_http_post(&rq, &resp, &e) == 0);
	kva_http_resp_free(&resp);
	/* bounded wait: 100 x 50 ms */
	for (int i = 0; i < 100 && got == 0; i++) {
		got = waitpid(srv_pid, &status, WNOHANG);
		if (got == 0)
			usleep(50000);
	}
	if (got == srv_pid)
		srv_pid = -1;
	CHECK(got > 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	srv_state = -2; /* gone: later calls must not start another */
}

UNIT_SUITE(suite_http) = {
	{ "http_redact", t_redact },
	{ "http_bad_request", t_bad_request },
	{ "http_echo", t_echo },
	{ "http_big_body", t_big_body },
	{ "http_own_content_type", t_own_content_type },
	{ "http_garbage", t_garbage },
	{ "http_429_retry_after", t_429_retry_after },
	{ "http_503_gives_up", t_503_gives_up },
	{ "http_401_redacted", t_401_redacted },
	{ "http_excerpt", t_excerpt },
	{ "http_404_no_retry", t_404_no_retry },
	{ "http_url_scrubbed", t_url_scrubbed },
	{ "http_slow_times_out", t_slow_times_out },
	{ "http_refused", t_refused },
	{ "http_connect_times_out", t_connect_times_out },
	{ "http_quit", t_quit },
	{ NULL, NULL }
};
