/*
 * llm-gen - code generation with deterministic replay (SPEC section 5).
 *
 * Reads distill and gen requests and writes spec and candidate records;
 * every other record passes through in order.  The model's answer comes
 * from a replay store (--replay, the default, offline) or from a provider
 * over HTTP (--live, --record).  Prompts, keys, the store, wire formats
 * and code extraction live in lib/llm.c; the transport in lib/http.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "candidate.h"
#include "http.h"
#include "kvarbiter.h"
#include "llm.h"

static void usage(FILE *fp)
{
	fputs("usage: llm-gen [--replay | --mock | --live | --record]\n"
	      "               [--provider openai|anthropic|gemini]\n"
	      "               [--model NAME] [--base-url URL] [--prompts DIR]\n"
	      "               [--replay-dir DIR] [--store FILE] [--full-agent-trace]\n"
	      "               [--timeout S] [--retries N] [--keep-going]\n"
	      "               [--max-record SIZE] [--unbuffered] [FILE ...]\n"
	      "       llm-gen --fetch URL [--timeout S] [--retries N]\n"
	      "       llm-gen -h | --help | --version\n",
	      fp);
}

enum mode { M_REPLAY, M_LIVE, M_RECORD };

/* The providers: the default model and base URL, the path of a request
 * (OpenAI's wire format but Anthropic's), the variables a key comes from
 * (then KVA_API_KEY).  Gemini is served through Google's OpenAI-compatible
 * endpoint. */
static const struct provider {
	const char *name, *model, *base, *path, *key[2];
} providers[] = {
	{ "openai", "gpt-4o-mini", "https://api.openai.com", "/v1/chat/completions",
	  { "OPENAI_API_KEY", NULL } },
	{ "anthropic", "claude-3-5-haiku-latest", "https://api.anthropic.com", "/v1/messages",
	  { "ANTHROPIC_API_KEY", NULL } },
	{ "gemini", "gemini-2.0-flash", "https://generativelanguage.googleapis.com/v1beta/openai",
	  "/chat/completions", { "GEMINI_API_KEY", "GOOGLE_API_KEY" } },
};

typedef struct opts {
	enum mode mode;
	const char *provider;     /* "openai", "anthropic" or "gemini" */
	const struct provider *prov;
	const char *model;
	const char *base_url;     /* without the /v1/... path */
	const char *prompts;      /* template directory */
	const char *store_path;   /* --store, or NULL */
	const char *key_var;      /* environment variable the key came from */
	const char *key;          /* API key (live modes), never printed */
	/* every configured key, NULL-terminated (key_names below): scrubbed
	 * from whatever is stored or printed, whichever provider is used */
	const char *secrets[6];
	const char *secret_vars[6];
	double timeout_s;         /* 0: the http layer's default */
	int retries;              /* -1: default; else tries after the first */
	int trace, keep_going, unbuffered;
	size_t max_record;
} opts;

/* Everything one run shares across records.  Each buffer is reused. */
typedef struct run {
	const opts *op;
	kva_replay *store;        /* --store file, or NULL */
	kva_replay *corpus;       /* in-memory store loaded from the replay dir */
	kva_buf tmpl[3];          /* distill, gen, heal; p == NULL: not loaded */
	kva_buf msgs, text, reasoning, code, summary, out, body, url;
	kva_http_resp resp;
	char hint[96];            /* advice after a fatal error's message, or "" */
} run;

static const char *const tmpl_names[3] = { "distill", "gen", "heal" };

/* The environment variables a key may come from, for any provider. */
static const char *const key_names[] = {
	"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
	"GOOGLE_API_KEY", "KVA_API_KEY", NULL
};

/* Replace every configured key in the answer (text and reasoning) by
 * "***": a server that echoes its request headers, or a model that
 * repeats a key, must not put one in the store or on the output. */
static void scrub_answer(run *rn)
{
	kva_http_redact(&rn->text, rn->op->secrets);
	kva_http_redact(&rn->reasoning, rn->op->secrets);
}

/* Outcome of one request: done, a bad record (reported as bad input and
 * skippable with --keep-going), or trouble that ends the run. */
enum { R_OK = 0, R_BAD = -1, R_FATAL = -2 };

/* Template i, loaded on first use.  NULL with e filled on failure. */
static const char *template_text(run *rn, int i, kva_err *e)
{
	if (!rn->tmpl[i].p &&
	    kva_llm_template(rn->op->prompts, tmpl_names[i], &rn->tmpl[i], e)) {
		kva_buf_free(&rn->tmpl[i]);
		return NULL;
	}
	return rn->tmpl[i].p;
}

/* A string member, or NULL with e naming it (missing or not a string). */
static const char *need_str(const kva_jval *root, const char *name, kva_err *e)
{
	const kva_jval *v = kva_json_get(root, name);

	if (!v) {
		kva_errf(e, name, "missing");
		return NULL;
	}
	if (v->t != KVA_JSTR) {
		kva_errf(e, name, "must be a string");
		return NULL;
	}
	if (strlen(v->s) != v->slen) {
		kva_errf(e, name, "must not hold a NUL character");
		return NULL;
	}
	return v->s;
}

/*
 * Ask the provider for messages (live and record modes).  On success text
 * and reasoning hold the answer and, with --record, it is in the store.
 * Returns R_OK, or R_FATAL with e holding the message (no field).
 */
static int ask_live(run *rn, kva_err *e)
{
	const opts *op = rn->op;
	int anthropic = !strcmp(op->provider, "anthropic");
	kva_buf auth = { 0 };
	const char *headers[3];
	kva_http_req rq = { 0 };
	size_t ul;
	int rc = R_FATAL;

	/* a key in the prompt would go to the provider and into the store */
	for (int i = 0; op->secrets[i]; i++)
		if (strstr(rn->msgs.p, op->secrets[i])) {
			kva_errf(e, NULL, "the prompt holds the value of %s: not "
				 "sent", op->secret_vars[i]);
			return R_FATAL;
		}
	rn->body.len = 0;
	if (kva_llm_request_body(op->provider, op->model, rn->msgs.p, &rn->body, e))
		return R_FATAL;
	rn->url.len = 0;
	kva_buf_puts(&rn->url, op->base_url);
	ul = rn->url.len;
	while (ul > 0 && rn->url.p[ul - 1] == '/')
		ul--;
	rn->url.len = ul;
	kva_buf_puts(&rn->url, op->prov->path);
	if (anthropic) {
		kva_buf_printf(&auth, "x-api-key: %s", op->key);
		headers[0] = auth.p;
		headers[1] = "anthropic-version: 2023-06-01";
	} else {
		kva_buf_printf(&auth, "Authorization: Bearer %s", op->key);
		headers[0] = auth.p;
		headers[1] = NULL;
	}
	headers[2] = NULL;
	rq.url = rn->url.p;
	rq.headers = headers;
	rq.body = rn->body.p;
	rq.body_len = rn->body.len;
	rq.total_timeout_s = op->timeout_s;
	rq.connect_timeout_s = op->timeout_s > 0 && op->timeout_s < 10 ?
		op->timeout_s : 0;
	rq.max_retries = op->retries < 0 ? 0 :
		op->retries == 0 ? KVA_HTTP_NO_RETRY : op->retries;
	rq.secrets = op->secrets;
	if (kva_http_post(&rq, &rn->resp, e)) {
		if (rn->resp.status == 401 || rn->resp.status == 403)
			snprintf(rn->hint, sizeof rn->hint, "; check %s",
				 op->key_var);
		else if (rn->resp.status == 404)
			snprintf(rn->hint, sizeof rn->hint, "; check --base-url "
				 "(without the /v1 path) and --model");
		goto out;
	}
	if (kva_llm_parse_response(op->provider, rn->resp.body.p,
				   rn->resp.body.len, &rn->text,
				   &rn->reasoning, e)) {
		char why[sizeof e->msg];

		memcpy(why, e->msg, sizeof why);
		kva_errf(e, NULL, "%s: %s", rq.url, why);
		goto out;
	}
	scrub_answer(rn);
	if (op->mode == M_RECORD &&
	    kva_replay_put(rn->store, op->provider, op->model, rn->msgs.p,
			   rn->text.p, rn->reasoning.len ? rn->reasoning.p : NULL,
			   NULL, e))
		goto out;
	rc = R_OK;
out:
	/* the header held the key: wipe it before the buffer goes */
	if (auth.p)
		memset(auth.p, 0, auth.cap);
	kva_buf_free(&auth);
	return rc;
}

/* Look key up in the store, then the corpus.  Returns 1 found, 0 not,
 * R_FATAL on an SQLite error (e filled). */
static int ask_replay(run *rn, const char *key, kva_err *e)
{
	kva_replay *where[2] = { rn->store, rn->corpus };

	for (int i = 0; i < 2; i++) {
		int g;

		if (!where[i])
			continue;
		g = kva_replay_get(where[i], key, &rn->text, &rn->reasoning);
		if (g < 0) {
			kva_errf(e, NULL, "%s", kva_replay_error(where[i]));
			return R_FATAL;
		}
		if (g == 1)
			return 1;
	}
	return 0;
}

/* Append ,"name":"s" to b. */
static void put_member(kva_buf *b, const char *name, const char *s)
{
	kva_buf_printf(b, ",\"%s\":", name);
	kva_buf_jstr(b, s, strlen(s));
}

/*
 * Handle one distill or gen record: build the messages, get the answer,
 * write the result record.  Returns R_OK, R_BAD (e names the field) or
 * R_FATAL (e says why; a replay miss is one).
 */
static int handle(run *rn, const kva_reader *rd, const kva_rec *rec, kva_err *e)
{
	const opts *op = rn->op;
	int distill = !strcmp(rec->type, "distill");
	kva_llm_vars v = { 0 };
	const kva_llm_abi *abi = NULL;
	const char *tmpl;
	char key[65], attempt[24];
	int which = 0, got;

	if (distill) {
		if (!(v.paper = need_str(rec->root, "paper", e)))
			return R_BAD;
	} else {
		const kva_jval *code = kva_json_get(rec->root, "code");
		const kva_jval *divs = kva_json_get(rec->root, "divergences");
		const kva_jval *at = kva_json_get(rec->root, "attempt");
		int64_t n = 0;

		if (!(v.oracle = need_str(rec->root, "oracle", e)))
			return R_BAD;
		if (!(abi = kva_llm_abi_find(v.oracle))) {
			kva_errf(e, "oracle", "no route ABI for oracle \"%.60s\"",
				 v.oracle);
			return R_BAD;
		}
		if (!(v.spec = need_str(rec->root, "spec", e)))
			return R_BAD;
		if (at && kva_json_int(at, "attempt", &n, e))
			return R_BAD;
		if (n < 0) {
			kva_errf(e, "attempt", "must be >= 0");
			return R_BAD;
		}
		snprintf(attempt, sizeof attempt, "%lld", (long long)n);
		v.attempt = attempt;
		v.signature = abi->signature;
		which = 1;
		if (code || divs) {
			if (!(v.code = need_str(rec->root, "code", e)))
				return R_BAD;
			if (!divs) {
				kva_errf(e, "divergences", "missing (a heal request "
					 "carries code and divergences)");
				return R_BAD;
			}
			if (divs->t != KVA_JARR) {
				kva_errf(e, "divergences", "must be an array");
				return R_BAD;
			}
			rn->summary.len = 0;
			kva_llm_summarise(divs, &rn->summary);
			kva_buf_putc(&rn->summary, '\0');
			rn->summary.len--;
			v.divergences = rn->summary.p;
			which = 2;
		}
	}
	if (!(tmpl = template_text(rn, which, e)))
		return R_FATAL;
	rn->msgs.len = 0;
	if (kva_llm_messages(tmpl, &v, &rn->msgs, e)) {
		char why[sizeof e->msg];

		memcpy(why, e->msg, sizeof why);
		kva_errf(e, NULL, "%s/%s.txt: %s", op->prompts,
			 tmpl_names[which], why);
		return R_FATAL;
	}
	if (kva_llm_key(op->provider, op->model, rn->msgs.p, key)) {
		kva_errf(e, NULL, "cannot compute the replay key");
		return R_FATAL;
	}
	if (op->mode == M_REPLAY) {
		if ((got = ask_replay(rn, key, e)) < 0)
			return R_FATAL;
		if (!got) {
			kva_errf(e, NULL, "no replay for key %s (provider %s, "
				 "model %s); run with --record --store FILE to "
				 "record it", key, op->provider, op->model);
			return R_FATAL;
		}
		scrub_answer(rn);
	} else if (ask_live(rn, e)) {
		return R_FATAL;
	}

	if (op->trace && rn->reasoning.len)
		fprintf(stderr, "%s: %s:%ld: reasoning:\n%s\n", kva_progname,
			rd->name, rec->line, rn->reasoning.p);

	rn->out.len = 0;
	if (distill) {
		kva_buf_puts(&rn->out, "{\"type\":\"spec\"");
		put_member(&rn->out, "text", rn->text.p);
	} else {
		kva_err ce;
		int bad = kva_llm_extract_code(rn->text.p, abi->symbol,
					       &rn->code, &ce);

		kva_buf_puts(&rn->out, "{\"type\":\"candidate\"");
		put_member(&rn->out, "oracle", abi->oracle);
		kva_buf_printf(&rn->out, ",\"attempt\":%s", attempt);
		put_member(&rn->out, "lang", "c");
		put_member(&rn->out, "symbol", abi->symbol);
		if (bad)
			put_member(&rn->out, "error", ce.msg);
		else
			put_member(&rn->out, "code", rn->code.p);
	}
	put_member(&rn->out, "model", op->model);
	put_member(&rn->out, "source", op->mode == M_REPLAY ? "replay" : "live");
	put_member(&rn->out, "key", key);
	if (op->trace)
		put_member(&rn->out, "reasoning", rn->reasoning.p ? rn->reasoning.p : "");
	kva_buf_putc(&rn->out, '}');
	kva_out_record(&rn->out);
	return R_OK;
}

/* The record loop over one input.  Returns 0, 1 if a bad record was
 * skipped under --keep-going, or -1 to stop (already reported). */
static int filter(run *rn, const char *path)
{
	const opts *op = rn->op;
	kva_reader rd;
	kva_rec rec;
	kva_err e;
	int st, rc = 0;

	if (kva_reader_open(&rd, path, op->max_record))
		return -1;
	while ((st = kva_reader_next(&rd, &rec, &e)) != 0) {
		int hr = R_BAD;

		if (st == -2) {
			rc = -1;
			break;
		}
		if (st == 1 && strcmp(rec.type, "distill") &&
		    strcmp(rec.type, "gen")) {
			kva_out_line(rec.text, rec.len);
			continue;
		}
		if (st == 1) {
			e.field = NULL;
			rn->hint[0] = '\0';
			if ((hr = handle(rn, &rd, &rec, &e)) == R_OK)
				continue;
		}
		/* A bad record may be skipped; trouble with the model or the
		 * store (a replay miss, HTTP) is the same for every record,
		 * so it stops the run even under --keep-going.  The hint goes
		 * after the message so a long HTTP excerpt cannot cut it. */
		kva_out_flush();
		if (hr == R_FATAL) {
			kva_buf m = { 0 };

			kva_buf_puts(&m, e.msg);
			kva_http_redact(&m, op->secrets);
			fprintf(stderr, "%s: %s:%ld: %s%s\n", kva_progname, rd.name,
				rec.line, m.p ? m.p : "", rn->hint);
			kva_buf_free(&m);
			rc = -1;
			break;
		}
		kva_report_bad(&rd, rec.line, &e, op->keep_going);
		if (!op->keep_going) {
			rc = -1;
			break;
		}
		rc = 1;
	}
	kva_reader_close(&rd);
	return rc;
}

/* Make directory path and its parents (0700).  0 or -1 with errno. */
static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(path, 0700) && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
}

/*
 * --fetch URL: the paper at URL, downloaded once (a GET through libcurl,
 * with the --live retries and --timeout) into CACHE/papers/SHA, SHA the
 * sha256 of the URL, its last path component's extension kept (.pdf,
 * .txt), and written there whole (a temporary file renamed); its path on
 * standard output.  A second fetch of the URL reads the cache.  Returns
 * the exit status.
 */
static int fetch(const opts *op, const char *url)
{
	char dir[4096], path[4400], tmp[4500], hex[65];
	const char *slash = strrchr(url, '/'), *dot;
	kva_http_req rq = { 0 };
	kva_http_resp resp = { 0 };
	size_t el = 0;
	kva_err e;
	struct stat st;
	FILE *fp;
	int fd;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		kva_die(2, "--fetch: %s: not an http:// or https:// URL", url);
	kva_default_cache(dir, sizeof dir - 8);
	strcat(dir, "/papers");
	kva_sha256_hex(url, strlen(url), hex);
	dot = slash && slash[1] ? strrchr(slash + 1, '.') : NULL;
	while (dot && dot[1 + el] && el < 8 && ((dot[1 + el] >= 'a' && dot[1 + el] <= 'z') ||
						 (dot[1 + el] >= '0' && dot[1 + el] <= '9')))
		el++;
	snprintf(path, sizeof path, "%s/%s%s%.*s", dir, hex, el ? "." : "", (int)el,
		 el ? dot + 1 : "");
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		printf("%s\n", path);
		return fflush(stdout) || ferror(stdout) ? 2 : 0;
	}
	if (mkdirs(dir))
		kva_die(2, "--fetch: cannot make %s: %s", dir, strerror(errno));
	rq.url = url;
	rq.total_timeout_s = op->timeout_s;
	rq.max_retries = op->retries < 0 ? 0 : op->retries == 0 ? KVA_HTTP_NO_RETRY :
			 op->retries;
	if (kva_http_get(&rq, &resp, &e)) {
		kva_http_resp_free(&resp);
		kva_die(2, "--fetch: %s", e.msg);
	}
	snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0 || !(fp = fdopen(fd, "wb")))
		kva_die(2, "--fetch: cannot write in %s: %s", dir, strerror(errno));
	if (fwrite(resp.body.p, 1, resp.body.len, fp) != resp.body.len ||
	    fclose(fp) || rename(tmp, path)) {
		int err = errno;

		remove(tmp);
		kva_die(2, "--fetch: cannot write %s: %s", path, strerror(err));
	}
	kva_http_resp_free(&resp);
	printf("%s\n", path);
	return fflush(stdout) || ferror(stdout) ? 2 : 0;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum { O_REPLAY = 256, O_LIVE, O_RECORD, O_PROVIDER, O_MODEL, O_BASE_URL,
       O_PROMPTS, O_REPLAY_DIR, O_STORE, O_TRACE, O_TIMEOUT, O_RETRIES, O_FETCH };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replay", no_argument, NULL, O_REPLAY },
		{ "mock", no_argument, NULL, O_REPLAY }, /* ImpactArbiter's */
		{ "live", no_argument, NULL, O_LIVE },
		{ "record", no_argument, NULL, O_RECORD },
		{ "provider", required_argument, NULL, O_PROVIDER },
		{ "model", required_argument, NULL, O_MODEL },
		{ "base-url", required_argument, NULL, O_BASE_URL },
		{ "prompts", required_argument, NULL, O_PROMPTS },
		{ "replay-dir", required_argument, NULL, O_REPLAY_DIR },
		{ "store", required_argument, NULL, O_STORE },
		{ "full-agent-trace", no_argument, NULL, O_TRACE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "retries", required_argument, NULL, O_RETRIES },
		{ "fetch", required_argument, NULL, O_FETCH },
		{ "keep-going", no_argument, NULL, KVA_OPT_KEEP },
		{ "max-record", required_argument, NULL, KVA_OPT_MAXREC },
		{ "unbuffered", no_argument, NULL, KVA_OPT_UNBUF },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, KVA_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	opts op = { 0 };
	run rn = { 0 };
	const char *replay_dir = NULL, *errstr, *env, *fetch_url = NULL;
	static char prompts_dir[4096], replay_def[4096];
	int c, rc = 0, dir_given = 1;
	int64_t v;
	kva_err e;

	kva_progname = "llm-gen";
	op.mode = M_REPLAY;
	op.provider = "openai";
	op.retries = -1;
	kva_stdopts so = { 0 };

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_REPLAY: op.mode = M_REPLAY; break;
		case O_LIVE: op.mode = M_LIVE; break;
		case O_RECORD: op.mode = M_RECORD; break;
		case O_PROVIDER:
			op.provider = optarg;
			break;
		case O_MODEL:
			if (!*optarg)
				kva_die(2, "--model: value is empty");
			op.model = optarg;
			break;
		case O_BASE_URL: op.base_url = optarg; break;
		case O_PROMPTS: op.prompts = optarg; break;
		case O_REPLAY_DIR: replay_dir = optarg; break;
		case O_STORE: op.store_path = optarg; break;
		case O_FETCH: fetch_url = optarg; break;
		case O_TRACE: op.trace = 1; break;
		case O_TIMEOUT:
			if (kva_parse_double(optarg, &op.timeout_s, &errstr))
				kva_die(2, "--timeout: value is %s: %s", errstr, optarg);
			if (!(op.timeout_s > 0 && op.timeout_s <= 86400))
				kva_die(2, "--timeout: value is out of range "
					"(0, 86400]: %s", optarg);
			break;
		case O_RETRIES:
			if (kva_parse_i64(optarg, 0, 100, &v, &errstr))
				kva_die(2, "--retries: value is %s: %s", errstr, optarg);
			op.retries = (int)v;
			break;
		default:
			kva_stdopt(c, optarg, &so, usage);
			break;
		}
	}
	op.keep_going = so.keep_going;
	op.unbuffered = so.unbuffered;
	if (so.max_record)
		op.max_record = so.max_record;
	argc -= optind;
	argv += optind;
	if (fetch_url) {
		if (argc)
			kva_die(2, "--fetch takes no FILE");
		return fetch(&op, fetch_url);
	}

	for (size_t i = 0; i < sizeof providers / sizeof *providers; i++)
		if (!strcmp(op.provider, providers[i].name))
			op.prov = &providers[i];
	if (!op.prov)
		kva_die(2, "--provider: unknown provider \"%s\" (openai, anthropic or "
			"gemini)", op.provider);
	if (!op.model)
		op.model = op.prov->model;
	if (!op.base_url)
		op.base_url = op.prov->base;
	if (!op.prompts)
		op.prompts = (env = getenv("KVA_PROMPTS")) && *env ?
			env : kva_data_path(prompts_dir, sizeof prompts_dir,
					    "prompts");
	if (!replay_dir) {
		dir_given = 0;
		replay_dir = (env = getenv("KVA_REPLAY_DIR")) && *env ?
			env : kva_data_path(replay_def, sizeof replay_def,
					    "replay");
	}
	if (op.mode == M_RECORD && !op.store_path)
		kva_die(2, "--record needs --store FILE to record into");
	if (op.mode != M_REPLAY) {
		const char *const *kv = op.prov->key;

		for (int i = 0; i < 2 && kv[i] && (!op.key || !*op.key); i++)
			op.key = getenv(op.key_var = kv[i]);
		if (!op.key || !*op.key) {
			op.key = getenv("KVA_API_KEY");
			if (op.key && *op.key)
				op.key_var = "KVA_API_KEY";
		}
		if (!op.key || !*op.key)
			kva_die(2, "--%s needs an API key: set %s%s%s (or KVA_API_KEY)",
				op.mode == M_LIVE ? "live" : "record", kv[0],
				kv[1] ? " or " : "", kv[1] ? kv[1] : "");
		/* it goes into a header line: no CR/LF smuggling */
		for (const char *k = op.key; *k; k++)
			if ((unsigned char)*k < 0x20 || *k == 0x7f)
				kva_die(2, "%s holds a control character",
					op.key_var);
	}

	for (int i = 0, n = 0; key_names[i]; i++) {
		const char *k = getenv(key_names[i]);

		if (k && *k) {
			op.secret_vars[n] = key_names[i];
			op.secrets[n++] = k;
		}
	}
	rn.op = &op;
	if (op.store_path && !(rn.store = kva_replay_open(op.store_path, &e)))
		kva_die(2, "%s", e.msg);
	if (op.mode == M_REPLAY && (dir_given || is_dir(replay_dir))) {
		if (!(rn.corpus = kva_replay_open(NULL, &e)))
			kva_die(2, "%s", e.msg);
		if (kva_replay_load_dir(rn.corpus, replay_dir, &e))
			kva_die(2, "replay corpus %s", e.msg);
	}
	kva_out_init(op.unbuffered);

	if (argc == 0 && filter(&rn, "-"))
		rc = 2;
	for (int i = 0; i < argc; i++) {
		int frc = filter(&rn, argv[i]);

		if (frc)
			rc = 2;
		if (frc < 0)
			break;
	}
	if (kva_out_close())
		rc = 2;
	for (int i = 0; i < 3; i++)
		kva_buf_free(&rn.tmpl[i]);
	kva_buf_free(&rn.msgs);
	kva_buf_free(&rn.text);
	kva_buf_free(&rn.reasoning);
	kva_buf_free(&rn.code);
	kva_buf_free(&rn.summary);
	kva_buf_free(&rn.out);
	kva_buf_free(&rn.body);
	kva_buf_free(&rn.url);
	kva_http_resp_free(&rn.resp);
	kva_replay_close(rn.store);
	kva_replay_close(rn.corpus);
	return rc;
}
