/*
 * llm.c - the offline half of llm-gen(1): prompt templates, divergence
 * summaries for heals, canonical messages and replay keys, the SQLite
 * replay store, the openai and anthropic wire formats, and pulling the C
 * code out of a reply.  See llm.h for the contracts.
 *
 * The heal prompt's one hard rule (SPEC section 5) is that it never shows
 * the model the oracle's formula: this file holds no formula, only the
 * route prototypes, and the summary is made of what grad-trap's records
 * hold (inputs, the cells expected and got).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sqlite3.h>

#include "llm.h"

/* How long a connection waits for another's lock before failing. */
#define REPLAY_BUSY_MS 5000
/* Examples shown per divergence class in a heal summary. */
#define SUMMARY_EXAMPLES 3
/* Table elements shown per input in a summary line. */
#define SUMMARY_TABLE_MAX 16

/* ---- the route ABI ----------------------------------------------------- */

/* The prototypes of kvarbiter_candidate.h, one line each (the unit test
 * holds them equal to the header), and the order of out[] (the test holds
 * that equal to the oracle's outputs). */
static const kva_llm_abi abis[] = {
	{ "radix-1d", "route_radix_1d",
	  "int route_radix_1d(int64_t b_local_idx, int64_t prefix_length, "
	  "int64_t block_size, int64_t out[2]); /* out[]: block, offset */" },
	{ "radix-2d", "route_radix_2d",
	  "int route_radix_2d(int64_t b_local_idx, int64_t head_idx, "
	  "int64_t prefix_length_h, int64_t total_blocks_h, "
	  "int64_t block_size, int64_t out[3]); "
	  "/* out[]: head, block, offset */" },
	{ "paged", "route_paged",
	  "int route_paged(int64_t pos, const int32_t *block_table, "
	  "int64_t table_len, int64_t block_size, int64_t out[3]); "
	  "/* out[]: block, offset, slot */" },
	{ "paged-ring", "route_paged_ring",
	  "int route_paged_ring(int64_t pos, const int32_t *block_table, "
	  "int64_t table_len, int64_t block_size, int64_t window_blocks, "
	  "int64_t out[3]); /* out[]: block, offset, slot */" },
	{ "flashinfer", "route_flashinfer",
	  "int route_flashinfer(int64_t batch, int64_t pos, "
	  "const int32_t *kv_indptr, const int32_t *kv_indices, "
	  "const int32_t *kv_last_page_len, int64_t batch_size, "
	  "int64_t page_size, int64_t out[2]); /* out[]: page, entry */" },
	{ "rolling", "route_rolling",
	  "int route_rolling(int64_t pos, int64_t seq_len, int64_t window, "
	  "int64_t out[1]); /* out[]: slot */" },
};

/* See llm.h. */
const kva_llm_abi *kva_llm_abi_find(const char *oracle)
{
	for (size_t i = 0; oracle && i < sizeof abis / sizeof abis[0]; i++)
		if (!strcmp(abis[i].oracle, oracle))
			return &abis[i];
	return NULL;
}

/* ---- small helpers ----------------------------------------------------- */

/* Replace b's contents with s[0..n); leaves p non-NULL. */
static void buf_set(kva_buf *b, const char *s, size_t n)
{
	b->len = 0;
	kva_buf_put(b, s, n);
}


/* The string value of member key of obj, or NULL when absent or not a
 * string. */
static const kva_jval *get_str(const kva_jval *obj, const char *key)
{
	const kva_jval *v = kva_json_get(obj, key);

	return v && v->t == KVA_JSTR ? v : NULL;
}

/* ---- templates --------------------------------------------------------- */

static const struct {
	const char *name;
	size_t off;
} var_names[] = {
	{ "paper", offsetof(kva_llm_vars, paper) },
	{ "spec", offsetof(kva_llm_vars, spec) },
	{ "oracle", offsetof(kva_llm_vars, oracle) },
	{ "signature", offsetof(kva_llm_vars, signature) },
	{ "code", offsetof(kva_llm_vars, code) },
	{ "divergences", offsetof(kva_llm_vars, divergences) },
	{ "attempt", offsetof(kva_llm_vars, attempt) },
};

/*
 * Render s[0..n) into out; line0 is the template line s starts on (for
 * messages).  Returns 0, or -1 with e naming the line and placeholder.
 */
static int render_n(const char *s, size_t n, long line0,
		    const kva_llm_vars *v, kva_buf *out, kva_err *e)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz_";
	const char *p = s, *end = s + n, *q;
	long line = line0;

	for (;;) {
		const char *name, *val = NULL;
		size_t len, i;

		for (q = p; q + 1 < end && !(q[0] == '{' && q[1] == '{'); q++)
			;
		if (q + 1 >= end)
			break;
		for (const char *c = p; c < q; c++)
			line += *c == '\n';
		kva_buf_put(out, p, (size_t)(q - p));
		name = q + 2;
		for (len = 0; name + len < end && name[len] &&
		     strchr(name_chars, name[len]); len++)
			;
		if (!len || name + len + 2 > end || name[len] != '}' ||
		    name[len + 1] != '}') {
			size_t show = strcspn(q, "\n");

			return kva_errf(e, NULL, "line %ld: malformed "
					"placeholder \"%.*s\"", line,
					(int)(show > 24 ? 24 : show), q);
		}
		for (i = 0; i < sizeof var_names / sizeof var_names[0]; i++)
			if (strlen(var_names[i].name) == len &&
			    !memcmp(var_names[i].name, name, len))
				break;
		if (i == sizeof var_names / sizeof var_names[0])
			return kva_errf(e, NULL, "line %ld: unknown placeholder "
					"{{%.*s}}", line, (int)len, name);
		memcpy(&val, (const char *)v + var_names[i].off, sizeof val);
		if (!val)
			return kva_errf(e, NULL, "line %ld: placeholder {{%.*s}} "
					"has no value", line, (int)len, name);
		kva_buf_puts(out, val);
		p = name + len + 2;
	}
	kva_buf_put(out, p, (size_t)(end - p));
	return 0;
}

/* See llm.h. */
int kva_llm_render(const char *tmpl, const kva_llm_vars *v, kva_buf *out,
		   kva_err *e)
{
	return render_n(tmpl, strlen(tmpl), 1, v, out, e);
}

/* See llm.h. */
int kva_llm_messages(const char *tmpl, const kva_llm_vars *v, kva_buf *out,
		     kva_err *e)
{
	kva_buf sys = { 0 }, user = { 0 };
	const char *body = tmpl;
	long line = 1;
	int have_sys = 0, rc = -1;

	if (!strncmp(tmpl, "system:", 7)) {
		const char *s = tmpl + 7, *nl;
		size_t n;

		s += strspn(s, " \t");
		nl = s + strcspn(s, "\n");
		n = (size_t)(nl - s);
		while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' ||
			     s[n - 1] == '\t'))
			n--;
		if (render_n(s, n, 1, v, &sys, e))
			goto out;
		have_sys = 1;
		body = *nl ? nl + 1 : nl;
		line = 2;
	}
	if (render_n(body, strlen(body), line, v, &user, e))
		goto out;
	while (user.len && (user.p[user.len - 1] == '\n' ||
			    user.p[user.len - 1] == '\r'))
		user.p[--user.len] = '\0';
	if (!user.len) {
		kva_errf(e, NULL, "template has no user message");
		goto out;
	}
	kva_buf_putc(out, '[');
	if (have_sys) {
		kva_buf_puts(out, "{\"role\":\"system\",\"content\":");
		kva_buf_jstr(out, sys.p ? sys.p : "", sys.len);
		kva_buf_puts(out, "},");
	}
	kva_buf_puts(out, "{\"role\":\"user\",\"content\":");
	kva_buf_jstr(out, user.p, user.len);
	kva_buf_puts(out, "}]");
	rc = 0;
out:
	kva_buf_free(&sys);
	kva_buf_free(&user);
	return rc;
}

/* Replace out with the whole of file path.  Returns 0, or -1 with e
 * ("WHAT PATH: strerror"). */
static int read_file(const char *what, const char *path, kva_buf *out,
		     kva_err *e)
{
	char chunk[8192];
	FILE *f;
	size_t n;
	int err;

	if (!(f = fopen(path, "rb")))
		return kva_errf(e, NULL, "%s %s: %s", what, path,
				strerror(errno));
	buf_set(out, "", 0);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		kva_buf_put(out, chunk, n);
	err = ferror(f) ? errno : 0;
	fclose(f);
	if (err)
		return kva_errf(e, NULL, "%s %s: %s", what, path,
				strerror(err));
	if (strlen(out->p) != out->len)
		return kva_errf(e, NULL, "%s %s: holds a nul byte", what, path);
	return 0;
}

/* See llm.h. */
int kva_llm_template(const char *dir, const char *name, kva_buf *out,
		     kva_err *e)
{
	kva_buf path = { 0 };
	int rc;

	kva_buf_printf(&path, "%s/%s.txt", dir, name);
	rc = read_file("prompt template", path.p, out, e);
	kva_buf_free(&path);
	return rc;
}

/* ---- divergence summaries ---------------------------------------------- */

/* One divergence class as the summary lists it. */
struct sum_class {
	const char *name;        /* class name (points into the records) */
	size_t namelen;
	uint64_t records;        /* divergence records of this class */
	int64_t total;           /* the summary record's count, or -1 */
	const kva_jval *ex[SUMMARY_EXAMPLES]; /* first records, in order */
};

/* One failing case: its class, inputs (an object, or the summary's
 * "first" object whose other members are the inputs), cells and why. */
struct sum_case {
	const kva_jval *cls, *inputs, *expect, *got, *why;
	int flat;                /* inputs is a summary "first" object */
};

/* Members of a summary "first" object that are not inputs. */
static int not_an_input(const kva_jval *m)
{
	static const char *const skip[] = {
		"type", "class", "case", "oracle", "file", "line", "expect",
		"got", "why", "divergence", "floats"
	};

	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (strlen(skip[i]) == m->keylen &&
		    !memcmp(skip[i], m->key, m->keylen))
			return 1;
	return 0;
}

/* |v| for a number (any JSON number); a table sums its elements. */
static double abs_sum(const kva_jval *v)
{
	double d = 0, s = 0;

	if (v->t == KVA_JNUM && !kva_json_num(v, NULL, &d, NULL))
		return fabs(d);
	if (v->t == KVA_JARR)
		for (const kva_jval *k = v->child; k; k = k->next)
			s += abs_sum(k);
	return s;
}

static double case_size(const struct sum_case *c)
{
	double s = 0;

	for (const kva_jval *m = c->inputs->child; m; m = m->next)
		if (!c->flat || !not_an_input(m))
			s += abs_sum(m);
	return s;
}

/* A value as the summary shows it: numbers as written, tables compact
 * (at most SUMMARY_TABLE_MAX elements), strings as JSON. */
static void put_value(kva_buf *b, const kva_jval *v)
{
	size_t i = 0;

	if (v->t != KVA_JARR) {
		kva_json_write_canon(b, v);
		return;
	}
	kva_buf_putc(b, '[');
	for (const kva_jval *k = v->child; k; k = k->next, i++) {
		if (i == SUMMARY_TABLE_MAX) {
			kva_buf_printf(b, ",...(%zu more)", v->n - i);
			break;
		}
		if (i)
			kva_buf_putc(b, ',');
		kva_json_write_canon(b, k);
	}
	kva_buf_putc(b, ']');
}

/* "name=value name=value", skipping non-inputs of a flat object. */
static void put_inputs(kva_buf *b, const struct sum_case *c)
{
	int first = 1;

	if (!c->inputs || c->inputs->t != KVA_JOBJ) {
		kva_buf_puts(b, "(no inputs recorded)");
		return;
	}
	for (const kva_jval *m = c->inputs->child; m; m = m->next) {
		if (c->flat && not_an_input(m))
			continue;
		if (!first)
			kva_buf_putc(b, ' ');
		first = 0;
		kva_buf_put(b, m->key, m->keylen);
		kva_buf_putc(b, '=');
		put_value(b, m);
	}
}

/* Whether obj is exactly {"NAME":true}. */
static int is_flag(const kva_jval *obj, const char *name)
{
	const kva_jval *v = kva_json_get(obj, name);

	return obj && obj->t == KVA_JOBJ && obj->n == 1 && v &&
	       v->t == KVA_JTRUE;
}

/* A cell: "head=0 block=4 offset=1"; a member that is true shows as its
 * name alone. */
static void put_cell(kva_buf *b, const kva_jval *v)
{
	if (!v || v->t != KVA_JOBJ) {
		if (v)
			kva_json_write_canon(b, v);
		else
			kva_buf_puts(b, "(not recorded)");
		return;
	}
	for (const kva_jval *m = v->child; m; m = m->next) {
		if (m != v->child)
			kva_buf_putc(b, ' ');
		kva_buf_put(b, m->key, m->keylen);
		if (m->t != KVA_JTRUE) {
			kva_buf_putc(b, '=');
			put_value(b, m);
		}
	}
}

/* "INPUTS → expected CELL, got CELL: WHY" */
static void put_case(kva_buf *b, const struct sum_case *c)
{
	put_inputs(b, c);
	kva_buf_puts(b, " \xe2\x86\x92 expected ");
	if (is_flag(c->expect, "unmapped"))
		kva_buf_puts(b, "no route (unmapped: must not be written)");
	else
		put_cell(b, c->expect);
	kva_buf_puts(b, ", got ");
	if (c->got && c->got->t == KVA_JNULL)
		kva_buf_puts(b, "no answer");
	else if (is_flag(c->got, "none"))
		kva_buf_puts(b, "no route (non-zero return)");
	else
		put_cell(b, c->got);
	if (c->why && c->why->t == KVA_JSTR) {
		kva_buf_puts(b, ": ");
		kva_buf_put(b, c->why->s, c->why->slen);
	}
}

static void case_of_record(const kva_jval *r, struct sum_case *c)
{
	c->cls = get_str(r, "class");
	c->inputs = kva_json_get(r, "inputs");
	c->expect = kva_json_get(r, "expect");
	c->got = kva_json_get(r, "got");
	c->why = kva_json_get(r, "why");
	c->flat = 0;
}

/* The class slot for name, added when new. */
static struct sum_class *class_slot(struct sum_class **cl, size_t *n,
				    const char *name, size_t len)
{
	struct sum_class *p;

	for (size_t i = 0; i < *n; i++)
		if ((*cl)[i].namelen == len && !memcmp((*cl)[i].name, name, len))
			return &(*cl)[i];
	if (!(p = realloc(*cl, (*n + 1) * sizeof *p)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	*cl = p;
	p = &p[(*n)++];
	memset(p, 0, sizeof *p);
	p->name = name;
	p->namelen = len;
	p->total = -1;
	return p;
}

static uint64_t class_count(const struct sum_class *c)
{
	return c->total >= 0 && (uint64_t)c->total > c->records ?
	       (uint64_t)c->total : c->records;
}

/* By count, descending, then by name: the dominant failure first. */
static int class_cmp(const void *pa, const void *pb)
{
	const struct sum_class *a = pa, *b = pb;
	uint64_t ca = class_count(a), cb = class_count(b);
	size_t n = a->namelen < b->namelen ? a->namelen : b->namelen;
	int d;

	if (ca != cb)
		return ca > cb ? -1 : 1;
	if ((d = memcmp(a->name, b->name, n)))
		return d;
	return a->namelen < b->namelen ? -1 : a->namelen > b->namelen;
}

/* See llm.h. */
void kva_llm_summarise(const kva_jval *divs, kva_buf *out)
{
	struct sum_class *cl = NULL;
	struct sum_case best = { 0 }, c;
	const kva_jval *summary = NULL;
	size_t ncl = 0;
	uint64_t nrec = 0;
	int64_t cases = -1, diverged = -1;
	double best_size = 0;
	int have_best = 0;

	for (const kva_jval *r = divs && divs->t == KVA_JARR ? divs->child :
	     NULL; r; r = r->next) {
		const kva_jval *type = get_str(r, "type");
		struct sum_class *k;

		if (type && !strcmp(type->s, "summary")) {
			summary = r;
			continue;
		}
		if (!type || strcmp(type->s, "divergence"))
			continue;
		case_of_record(r, &c);
		k = c.cls ? class_slot(&cl, &ncl, c.cls->s, c.cls->slen) :
		    class_slot(&cl, &ncl, "unclassified", 12);
		if (k->records < SUMMARY_EXAMPLES)
			k->ex[k->records] = r;
		k->records++;
		nrec++;
		if (c.inputs && c.inputs->t == KVA_JOBJ &&
		    (!have_best || case_size(&c) < best_size)) {
			best = c;
			best_size = case_size(&c);
			have_best = 1;
		}
	}
	if (summary) {
		const kva_jval *classes = kva_json_get(summary, "classes");
		const kva_jval *first = kva_json_get(summary, "first");

		kva_json_int(kva_json_get(summary, "cases"), NULL, &cases, NULL);
		kva_json_int(kva_json_get(summary, "diverged"), NULL, &diverged,
			     NULL);
		for (const kva_jval *m = classes && classes->t == KVA_JOBJ ?
		     classes->child : NULL; m; m = m->next) {
			int64_t n;

			if (!kva_json_int(m, NULL, &n, NULL) && n > 0)
				class_slot(&cl, &ncl, m->key, m->keylen)->total = n;
		}
		if (first && first->t == KVA_JOBJ) {
			c.cls = get_str(first, "class");
			c.inputs = first;
			c.expect = kva_json_get(first, "expect");
			c.got = kva_json_get(first, "got");
			c.why = kva_json_get(first, "why");
			c.flat = 1;
			if (!have_best || case_size(&c) < best_size) {
				best = c;
				best_size = case_size(&c);
				have_best = 1;
			}
		}
	}
	if (!ncl) {
		kva_buf_puts(out, "no divergence records\n");
		return;
	}
	if (diverged >= 0 && cases >= 0)
		kva_buf_printf(out, "diverging cases: %lld of %lld",
			       (long long)diverged, (long long)cases);
	else if (diverged >= 0)
		kva_buf_printf(out, "diverging cases: %lld",
			       (long long)diverged);
	else
		kva_buf_printf(out, "diverging cases: %llu",
			       (unsigned long long)nrec);
	kva_buf_printf(out, " (examples from %llu divergence record%s)\n",
		       (unsigned long long)nrec, nrec == 1 ? "" : "s");
	if (ncl)
		qsort(cl, ncl, sizeof *cl, class_cmp);
	for (size_t i = 0; i < ncl; i++) {
		uint64_t n = class_count(&cl[i]);

		kva_buf_put(out, cl[i].name, cl[i].namelen);
		kva_buf_printf(out, ": %llu case%s%s\n", (unsigned long long)n,
			       n == 1 ? "" : "s",
			       cl[i].records ? "" : " (no example kept)");
		for (uint64_t j = 0; j < cl[i].records && j < SUMMARY_EXAMPLES;
		     j++) {
			case_of_record(cl[i].ex[j], &c);
			kva_buf_puts(out, "  ");
			put_case(out, &c);
			kva_buf_putc(out, '\n');
		}
	}
	if (have_best) {
		kva_buf_puts(out, "smallest failing case");
		if (best.cls) {
			kva_buf_puts(out, " (");
			kva_buf_put(out, best.cls->s, best.cls->slen);
			kva_buf_putc(out, ')');
		}
		kva_buf_puts(out, ": ");
		put_case(out, &best);
		kva_buf_putc(out, '\n');
	}
	free(cl);
}

/* ---- canonical messages and keys --------------------------------------- */

/* Check that m is valid messages (llm.h).  Returns 0, or -1 with e naming
 * the element. */
static int messages_check(const kva_jval *m, kva_err *e)
{
	size_t i = 0;

	if (m->t != KVA_JARR || !m->n)
		return kva_errf(e, "messages", "messages: must be a non-empty "
				"array");
	for (const kva_jval *k = m->child; k; k = k->next, i++) {
		const kva_jval *role = kva_json_get(k, "role");

		if (k->t != KVA_JOBJ)
			return kva_errf(e, "messages", "messages[%zu]: must be "
					"an object", i);
		if (!role || role->t != KVA_JSTR)
			return kva_errf(e, "messages", "messages[%zu].role: "
					"must be a string", i);
		if (strcmp(role->s, "system") && strcmp(role->s, "user") &&
		    strcmp(role->s, "assistant"))
			return kva_errf(e, "messages", "messages[%zu].role: "
					"must be system, user or assistant, "
					"got \"%.40s\"", i, role->s);
		if (!get_str(k, "content"))
			return kva_errf(e, "messages", "messages[%zu].content: "
					"must be a string", i);
	}
	return 0;
}

/* Parse and check messages_json into arena a.  Returns the array, or NULL
 * with e filled. */
static const kva_jval *messages_parse(kva_arena *a, const char *messages_json,
				      kva_err *e)
{
	kva_err je = { 0 };
	const kva_jval *m;

	if (!messages_json) {
		kva_errf(e, "messages", "messages: missing");
		return NULL;
	}
	if (!(m = kva_json_parse(a, messages_json, strlen(messages_json),
				 &je))) {
		kva_errf(e, "messages", "messages: %s", je.msg);
		return NULL;
	}
	return messages_check(m, e) ? NULL : m;
}

/* The canonical key text for already checked messages m. */
static void key_text(kva_buf *b, const char *prov, size_t provlen,
		     const char *model, size_t modellen, const kva_jval *m)
{
	kva_buf_puts(b, "{\"provider\":");
	kva_buf_jstr(b, prov, provlen);
	kva_buf_puts(b, ",\"model\":");
	kva_buf_jstr(b, model, modellen);
	kva_buf_puts(b, ",\"messages\":");
	kva_json_write_canon(b, m);
	kva_buf_putc(b, '}');
}

/* SHA-256 of the key text of m into out. */
static void key_of(const char *prov, size_t provlen, const char *model,
		   size_t modellen, const kva_jval *m, char out[65])
{
	kva_buf b = { 0 };

	key_text(&b, prov, provlen, model, modellen, m);
	kva_sha256_hex(b.p, b.len, out);
	kva_buf_free(&b);
}

/* See llm.h. */
int kva_llm_messages_canon(const char *messages_json, kva_buf *out,
			   kva_err *e)
{
	kva_arena a = { 0 };
	const kva_jval *m = messages_parse(&a, messages_json, e);

	if (m)
		kva_json_write_canon(out, m);
	kva_arena_free(&a);
	return m ? 0 : -1;
}

/* See llm.h. */
int kva_llm_key_text(const char *provider, const char *model,
		     const char *messages_json, kva_buf *out, kva_err *e)
{
	kva_arena a = { 0 };
	const kva_jval *m;

	if (!provider || !model)
		return kva_errf(e, provider ? "model" : "provider",
				"%s: missing", provider ? "model" : "provider");
	if ((m = messages_parse(&a, messages_json, e)))
		key_text(out, provider, strlen(provider), model, strlen(model),
			 m);
	kva_arena_free(&a);
	return m ? 0 : -1;
}

/* See llm.h. */
int kva_llm_key(const char *provider, const char *model,
		const char *messages_json, char out[65])
{
	kva_buf b = { 0 };

	if (kva_llm_key_text(provider, model, messages_json, &b, NULL)) {
		kva_buf_free(&b);
		return -1;
	}
	kva_sha256_hex(b.p, b.len, out);
	kva_buf_free(&b);
	return 0;
}

/* ---- the replay store -------------------------------------------------- */

struct kva_replay {
	sqlite3 *h;          /* the connection */
	char *path;          /* as given, or ":memory:", for messages */
	sqlite3_stmt *get;   /* SELECT response, reasoning by key */
	sqlite3_stmt *ins;   /* INSERT OR IGNORE (loading) */
	sqlite3_stmt *put;   /* INSERT OR REPLACE (recording) */
	char err[256];       /* the last failure, for kva_replay_error */
};

/* Fill e and r->err with "replay store PATH: WHAT: sqlite's message";
 * returns -1. */
static int replay_fail(kva_replay *r, const char *what, kva_err *e)
{
	const char *msg = sqlite3_errmsg(r->h);

	if (what)
		snprintf(r->err, sizeof r->err, "replay store %s: %s: %s",
			 r->path, what, msg);
	else
		snprintf(r->err, sizeof r->err, "replay store %s: %s",
			 r->path, msg);
	return kva_errf(e, NULL, "%s", r->err);
}

/* Keep a failure described in e as r's last error too; returns -1. */
static int replay_note(kva_replay *r, const kva_err *e)
{
	if (e)
		snprintf(r->err, sizeof r->err, "%s", e->msg);
	return -1;
}

/* Prepare *st from sql once; returns 0, or -1 with e filled. */
static int replay_prepare(kva_replay *r, sqlite3_stmt **st, const char *sql,
			  kva_err *e)
{
	if (!*st && sqlite3_prepare_v2(r->h, sql, -1, st, NULL) != SQLITE_OK)
		return replay_fail(r, NULL, e);
	return 0;
}

/* See llm.h. */
kva_replay *kva_replay_open(const char *path, kva_err *e)
{
	kva_replay *r;
	const char *name = path ? path : ":memory:";

	if (path && !*path) {
		kva_errf(e, NULL, "replay store path is empty");
		return NULL;
	}
	if (!(r = calloc(1, sizeof *r)) || !(r->path = strdup(name))) {
		free(r);
		kva_errf(e, NULL, "replay store %s: out of memory", name);
		return NULL;
	}
	if (sqlite3_open_v2(name, &r->h, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (r->h)
			replay_fail(r, NULL, e);
		else
			kva_errf(e, NULL, "replay store %s: out of memory",
				 name);
		goto fail;
	}
	if (sqlite3_busy_timeout(r->h, REPLAY_BUSY_MS) != SQLITE_OK ||
	    sqlite3_exec(r->h,
	    "CREATE TABLE IF NOT EXISTS replay ("
	    " key TEXT PRIMARY KEY,"
	    " provider TEXT NOT NULL,"
	    " model TEXT NOT NULL,"
	    " messages TEXT NOT NULL,"
	    " response TEXT NOT NULL,"
	    " reasoning TEXT,"
	    " created TEXT NOT NULL)", NULL, NULL, NULL) != SQLITE_OK) {
		replay_fail(r, NULL, e);
		goto fail;
	}
	return r;
fail:
	kva_replay_close(r);
	return NULL;
}

/* See llm.h. */
void kva_replay_close(kva_replay *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->get);
	sqlite3_finalize(r->ins);
	sqlite3_finalize(r->put);
	sqlite3_close(r->h);
	free(r->path);
	free(r);
}

/* See llm.h. */
const char *kva_replay_error(const kva_replay *r)
{
	return r ? r->err : "";
}


/*
 * Look key up into response/reasoning (either may be NULL); *has_reasoning
 * (may be NULL) says whether the row's reasoning is not NULL.  Returns 1,
 * 0 for no row, -1 with e filled.
 */
static int replay_lookup(kva_replay *r, const char *key, kva_buf *response,
			 kva_buf *reasoning, int *has_reasoning, kva_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (replay_prepare(r, &r->get, "SELECT response, reasoning FROM replay"
			   " WHERE key = ?1", e))
		return -1;
	st = r->get;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		if (response)
			buf_set(response, p ? p : "", p ? n : 0);
		p = (const char *)sqlite3_column_text(st, 1);
		n = (size_t)sqlite3_column_bytes(st, 1);
		if (reasoning)
			buf_set(reasoning, p ? p : "", p ? n : 0);
		if (has_reasoning)
			*has_reasoning = sqlite3_column_type(st, 1) !=
					 SQLITE_NULL;
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = replay_fail(r, NULL, e);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* See llm.h. */
int kva_replay_get(kva_replay *r, const char *key, kva_buf *response,
		   kva_buf *reasoning)
{
	int rc = replay_lookup(r, key, response, reasoning, NULL, NULL);

	if (rc == 0) {
		if (response)
			buf_set(response, "", 0);
		if (reasoning)
			buf_set(reasoning, "", 0);
	}
	return rc;
}

/* Bind the seven columns of a row to st (the strings must outlive the
 * step); reasoning may be NULL. */
static void bind_row(sqlite3_stmt *st, const char *key, const char *prov,
		     size_t provlen, const char *model, size_t modellen,
		     const kva_buf *msgs, const char *resp, size_t resplen,
		     const char *reas, size_t reaslen, const char *created)
{
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prov, (int)provlen, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, model, (int)modellen, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, msgs->p, (int)msgs->len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, resp, (int)resplen, SQLITE_STATIC);
	if (reas)
		sqlite3_bind_text(st, 6, reas, (int)reaslen, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_text(st, 7, created, -1, SQLITE_STATIC);
}

/* Run a bound insert; returns 0, or -1 with e filled.  Drops the
 * bindings (they point into the caller's strings). */
static int replay_step(kva_replay *r, sqlite3_stmt *st, kva_err *e)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		replay_fail(r, NULL, e);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Does a buffer hold exactly s[0..n)? */
static int buf_is(const kva_buf *b, const char *s, size_t n)
{
	return b->len == n && (!n || !memcmp(b->p, s, n));
}

/* A string field of a replay record: required (reasoning: optional,
 * null allowed, *out NULL then).  Returns 0, or -1 with e naming it. */
static int record_str(const kva_jval *rec, const char *field, int optional,
		      const kva_jval **out, kva_err *e)
{
	const kva_jval *v = kva_json_get(rec, field);

	*out = NULL;
	if (!v || (optional && v->t == KVA_JNULL)) {
		if (optional)
			return 0;
		return kva_errf(e, field, "%s: missing", field);
	}
	if (v->t != KVA_JSTR)
		return kva_errf(e, field, "%s: must be a string", field);
	if (v->slen > INT32_MAX)
		return kva_errf(e, field, "%s: too long", field);
	*out = v;
	return 0;
}

/* Load one parsed record (line of path).  Returns 0, or -1 with e
 * filled (without the place; the caller adds it). */
static int load_record(kva_replay *r, const kva_jval *rec,
		       const char *created, kva_buf *msgs, kva_buf *old,
		       kva_buf *oldreas, kva_err *e)
{
	const kva_jval *type, *prov, *model, *m, *resp, *reas, *key;
	char k[65];
	int has_reas = 0, rc;

	if (rec->t != KVA_JOBJ)
		return kva_errf(e, NULL, "not a json object");
	if (record_str(rec, "type", 0, &type, e))
		return -1;
	if (strcmp(type->s, "replay"))
		return kva_errf(e, "type", "type: expected \"replay\", got "
				"\"%.40s\"", type->s);
	if (record_str(rec, "provider", 0, &prov, e) ||
	    record_str(rec, "model", 0, &model, e) ||
	    record_str(rec, "response", 0, &resp, e) ||
	    record_str(rec, "reasoning", 1, &reas, e) ||
	    record_str(rec, "key", 1, &key, e))
		return -1;
	if (!(m = kva_json_get(rec, "messages")))
		return kva_errf(e, "messages", "messages: missing");
	if (messages_check(m, e))
		return -1;
	key_of(prov->s, prov->slen, model->s, model->slen, m, k);
	if (key && strcmp(key->s, k))
		return kva_errf(e, "key", "key: recorded key %.64s is not the "
				"computed key %s", key->s, k);
	msgs->len = 0;
	kva_json_write_canon(msgs, m);
	if (replay_prepare(r, &r->ins, "INSERT OR IGNORE INTO replay (key,"
			   " provider, model, messages, response, reasoning,"
			   " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", e))
		return -1;
	bind_row(r->ins, k, prov->s, prov->slen, model->s, model->slen, msgs,
		 resp->s, resp->slen, reas ? reas->s : NULL,
		 reas ? reas->slen : 0, created);
	if (replay_step(r, r->ins, e))
		return -1;
	if (sqlite3_changes(r->h))
		return 0;
	/* The key was there already: fine if the answer is the same. */
	if ((rc = replay_lookup(r, k, old, oldreas, &has_reas, e)) < 0)
		return -1;
	if (rc == 0 || !buf_is(old, resp->s, resp->slen) ||
	    has_reas != (reas != NULL) ||
	    (reas && !buf_is(oldreas, reas->s, reas->slen)))
		return kva_errf(e, "response", "key %s already holds a "
				"different response", k);
	return 0;
}

/* See llm.h. */
int kva_replay_load_jsonl(kva_replay *r, const char *path, kva_err *e)
{
	kva_buf msgs = { 0 }, old = { 0 }, oldreas = { 0 };
	kva_arena a = { 0 };
	kva_err re = { 0 };
	char created[21], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	FILE *f;
	int rc = -1, err;

	if (kva_timestamp(created, e))
		return replay_note(r, e);
	if (!(f = fopen(path, "r"))) {
		kva_errf(e, NULL, "%s: %s", path, strerror(errno));
		return replay_note(r, e);
	}
	if (sqlite3_exec(r->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		replay_fail(r, "cannot lock", e);
		fclose(f);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		const kva_jval *rec;
		size_t len = (size_t)n;

		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (strspn(line, " \t") >= len)
			continue;
		kva_arena_reset(&a);
		if (!(rec = kva_json_parse(&a, line, len, &re)) ||
		    load_record(r, rec, created, &msgs, &old, &oldreas, &re)) {
			kva_errf(e, re.field, "%s:%ld: %s", path, lineno,
				 re.msg);
			goto out;
		}
	}
	if ((err = ferror(f) ? errno : 0)) {
		kva_errf(e, NULL, "%s: %s", path, strerror(err));
		goto out;
	}
	if (sqlite3_exec(r->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		replay_fail(r, "cannot commit", e);
		goto out;
	}
	rc = 0;
out:
	if (rc) {
		replay_note(r, e);
		sqlite3_exec(r->h, "ROLLBACK", NULL, NULL, NULL);
	}
	fclose(f);
	free(line);
	kva_arena_free(&a);
	kva_buf_free(&msgs);
	kva_buf_free(&old);
	kva_buf_free(&oldreas);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* See llm.h.  Names starting with a dot are skipped, as the shell's *
 * would. */
int kva_replay_load_dir(kva_replay *r, const char *dir, kva_err *e)
{
	char **names = NULL, **grown;
	size_t n = 0, i;
	struct dirent *de;
	kva_buf path = { 0 };
	DIR *d;
	int rc = 0;

	if (!(d = opendir(dir))) {
		kva_errf(e, NULL, "%s: %s", dir, strerror(errno));
		return replay_note(r, e);
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= 6 ||
		    strcmp(de->d_name + len - 6, ".jsonl"))
			continue;
		if (!(grown = realloc(names, (n + 1) * sizeof *names)) ||
		    !(grown[n] = strdup(de->d_name)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		names = grown;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, name_cmp);
	for (i = 0; i < n && !rc; i++) {
		path.len = 0;
		kva_buf_printf(&path, "%s/%s", dir, names[i]);
		rc = kva_replay_load_jsonl(r, path.p, e);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	kva_buf_free(&path);
	return rc;
}

/* See llm.h. */
int kva_replay_put(kva_replay *r, const char *provider, const char *model,
		   const char *messages_json, const char *response,
		   const char *reasoning, char key_out[65], kva_err *e)
{
	kva_arena a = { 0 };
	kva_buf msgs = { 0 };
	const kva_jval *m;
	char k[65], created[21];
	int rc = -1;

	if (!provider || !model || !response) {
		kva_errf(e, NULL, "%s: missing", !provider ? "provider" :
			 !model ? "model" : "response");
		return replay_note(r, e);
	}
	if (!(m = messages_parse(&a, messages_json, e)) ||
	    kva_timestamp(created, e)) {
		replay_note(r, e);
		goto out;
	}
	key_of(provider, strlen(provider), model, strlen(model), m, k);
	kva_json_write_canon(&msgs, m);
	if (replay_prepare(r, &r->put, "INSERT OR REPLACE INTO replay (key,"
			   " provider, model, messages, response, reasoning,"
			   " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", e))
		goto out;
	bind_row(r->put, k, provider, strlen(provider), model, strlen(model),
		 &msgs, response, strlen(response), reasoning,
		 reasoning ? strlen(reasoning) : 0, created);
	if (replay_step(r, r->put, e))
		goto out;
	if (key_out)
		memcpy(key_out, k, sizeof k);
	rc = 0;
out:
	kva_arena_free(&a);
	kva_buf_free(&msgs);
	return rc;
}

/* See llm.h. */
int64_t kva_replay_count(kva_replay *r)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(r->h, "SELECT count(*) FROM replay", -1, &st,
			       NULL) != SQLITE_OK) {
		replay_fail(r, NULL, NULL);
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		replay_fail(r, NULL, NULL);
	sqlite3_finalize(st);
	return n;
}

/* ---- provider wire formats --------------------------------------------- */

enum { PROV_OPENAI, PROV_ANTHROPIC };

/* The provider's number, or -1 with e naming it. */
static int provider_of(const char *provider, kva_err *e)
{
	/* gemini: Google's OpenAI-compatible endpoint */
	if (provider && (!strcmp(provider, "openai") || !strcmp(provider, "gemini")))
		return PROV_OPENAI;
	if (provider && !strcmp(provider, "anthropic"))
		return PROV_ANTHROPIC;
	return kva_errf(e, "provider", "unknown provider \"%.40s\" (expected "
			"openai, anthropic or gemini)", provider ? provider : "");
}

/* See llm.h. */
int kva_llm_request_body(const char *provider, const char *model,
			 const char *messages_json, kva_buf *out, kva_err *e)
{
	kva_arena a = { 0 };
	kva_buf sys = { 0 };
	const kva_jval *m;
	int prov = provider_of(provider, e), first, have_sys = 0, rc = -1;

	if (prov < 0)
		return -1;
	if (!model)
		return kva_errf(e, "model", "model: missing");
	if (!(m = messages_parse(&a, messages_json, e)))
		goto out;
	kva_buf_puts(out, "{\"model\":");
	kva_buf_jstr(out, model, strlen(model));
	if (prov == PROV_OPENAI) {
		kva_buf_puts(out, ",\"messages\":");
		kva_json_write_canon(out, m);
		kva_buf_puts(out, ",\"temperature\":0}");
		rc = 0;
		goto out;
	}
	kva_buf_puts(out, ",\"max_tokens\":4096,\"temperature\":0");
	for (const kva_jval *k = m->child; k; k = k->next) {
		const kva_jval *c = get_str(k, "content");

		if (strcmp(get_str(k, "role")->s, "system"))
			continue;
		if (have_sys)
			kva_buf_puts(&sys, "\n\n");
		kva_buf_put(&sys, c->s, c->slen);
		have_sys = 1;
	}
	if (have_sys) {
		kva_buf_puts(out, ",\"system\":");
		kva_buf_jstr(out, sys.p, sys.len);
	}
	kva_buf_puts(out, ",\"messages\":[");
	first = 1;
	for (const kva_jval *k = m->child; k; k = k->next) {
		if (!strcmp(get_str(k, "role")->s, "system"))
			continue;
		if (!first)
			kva_buf_putc(out, ',');
		first = 0;
		kva_json_write_canon(out, k);
	}
	kva_buf_puts(out, "]}");
	rc = 0;
out:
	kva_arena_free(&a);
	kva_buf_free(&sys);
	return rc;
}

/*
 * Move every <thinking>...</thinking> and <think>...</think> span of text
 * to reasoning (joined by newlines), with the whitespace after a closing
 * tag; an unclosed span runs to the end of the text.
 */
static void move_thinking(kva_buf *text, kva_buf *reasoning)
{
	static const char *const open[] = { "<thinking>", "<think>" };
	static const char *const close[] = { "</thinking>", "</think>" };
	kva_buf kept = { 0 };
	const char *p = text->p, *end = text->p + text->len;
	int moved = 0;

	for (;;) {
		const char *at = NULL, *stop;
		int which = 0;

		for (int i = 0; i < 2; i++) {
			const char *f = strstr(p, open[i]);

			if (f && (!at || f < at))
				at = f, which = i;
		}
		if (!at)
			break;
		moved = 1;
		kva_buf_put(&kept, p, (size_t)(at - p));
		at += strlen(open[which]);
		if (!(stop = strstr(at, close[which])))
			stop = end;
		if (reasoning->len)
			kva_buf_putc(reasoning, '\n');
		kva_buf_put(reasoning, at, (size_t)(stop - at));
		p = stop == end ? end : stop + strlen(close[which]);
		while (p < end && isspace((unsigned char)*p))
			p++;
	}
	if (moved) {
		kva_buf_put(&kept, p, (size_t)(end - p));
		buf_set(text, kept.p ? kept.p : "", kept.len);
	}
	kva_buf_free(&kept);
}

/* The text of an openai message content: a string, or an array of parts
 * whose "text" parts are concatenated.  Returns 0, or -1 if neither. */
static int openai_content(const kva_jval *c, kva_buf *text)
{
	int any = 0;

	if (c && c->t == KVA_JSTR) {
		buf_set(text, c->s, c->slen);
		return 0;
	}
	if (!c || c->t != KVA_JARR)
		return -1;
	buf_set(text, "", 0);
	for (const kva_jval *k = c->child; k; k = k->next) {
		const kva_jval *type = get_str(k, "type");
		const kva_jval *t = get_str(k, "text");

		if (type && !strcmp(type->s, "text") && t) {
			kva_buf_put(text, t->s, t->slen);
			any = 1;
		}
	}
	return any ? 0 : -1;
}

/* Fill e from the body's "error" member when it has one: returns -1 then,
 * else 0. */
static int api_error(const char *provider, const kva_jval *root, kva_err *e)
{
	const kva_jval *err = kva_json_get(root, "error"), *msg, *type;

	if (!err || err->t == KVA_JNULL)
		return 0;
	if (err->t == KVA_JSTR)
		return kva_errf(e, "error", "%s api error: %.200s", provider,
				err->s);
	msg = get_str(err, "message");
	type = get_str(err, "type");
	if (type && msg)
		return kva_errf(e, "error", "%s api error (%.40s): %.200s",
				provider, type->s, msg->s);
	return kva_errf(e, "error", "%s api error: %.200s", provider,
			msg ? msg->s : "no message");
}

/* See llm.h. */
int kva_llm_parse_response(const char *provider, const char *body, size_t n,
			   kva_buf *text, kva_buf *reasoning, kva_err *e)
{
	kva_arena a = { 0 };
	kva_err je = { 0 };
	const kva_jval *root;
	int prov = provider_of(provider, e), rc = -1;

	if (prov < 0)
		return -1;
	buf_set(text, "", 0);
	buf_set(reasoning, "", 0);
	if (!(root = kva_json_parse(&a, body, n, &je))) {
		kva_errf(e, NULL, "%s response is not json: %s", provider,
			 je.msg);
		goto out;
	}
	if (root->t != KVA_JOBJ) {
		kva_errf(e, NULL, "%s response is not a json object", provider);
		goto out;
	}
	if (api_error(provider, root, e))
		goto out;
	if (prov == PROV_OPENAI) {
		const kva_jval *ch = kva_json_get(root, "choices"), *msg, *r;

		if (!ch || ch->t != KVA_JARR || !ch->child) {
			kva_errf(e, "choices", "openai response has no "
				 "choices[0]");
			goto out;
		}
		msg = kva_json_get(ch->child, "message");
		if (!msg || msg->t != KVA_JOBJ) {
			kva_errf(e, "choices", "openai response has no "
				 "choices[0].message");
			goto out;
		}
		if (openai_content(kva_json_get(msg, "content"), text)) {
			kva_errf(e, "choices", "openai response has no "
				 "choices[0].message.content");
			goto out;
		}
		if ((r = get_str(msg, "reasoning_content")) ||
		    (r = get_str(msg, "reasoning")))
			buf_set(reasoning, r->s, r->slen);
	} else {
		const kva_jval *content = kva_json_get(root, "content");
		int any = 0;

		if (!content || content->t != KVA_JARR) {
			kva_errf(e, "content", "anthropic response has no "
				 "content");
			goto out;
		}
		for (const kva_jval *k = content->child; k; k = k->next) {
			const kva_jval *type = get_str(k, "type"), *t;

			if (!type)
				continue;
			if (!strcmp(type->s, "text") &&
			    (t = get_str(k, "text"))) {
				kva_buf_put(text, t->s, t->slen);
				any = 1;
			} else if (!strcmp(type->s, "thinking") &&
				   (t = get_str(k, "thinking"))) {
				if (reasoning->len)
					kva_buf_putc(reasoning, '\n');
				kva_buf_put(reasoning, t->s, t->slen);
			}
		}
		if (!any) {
			kva_errf(e, "content", "anthropic response has no "
				 "content[] item of type text");
			goto out;
		}
	}
	move_thinking(text, reasoning);
	rc = 0;
out:
	kva_arena_free(&a);
	return rc;
}

/* ---- code extraction --------------------------------------------------- */

static int ident_char(int c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Index past a comment starting at s[i], or i when none starts there. */
static size_t skip_comment(const char *s, size_t n, size_t i)
{
	if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
		for (i += 2; i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'); i++)
			;
		return i + 1 < n ? i + 2 : n;
	}
	if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
		while (i < n && s[i] != '\n')
			i++;
	}
	return i;
}

/* Index past whitespace and comments from s[i]. */
static size_t skip_trivia(const char *s, size_t n, size_t i)
{
	for (;;) {
		size_t j;

		while (i < n && isspace((unsigned char)s[i]))
			i++;
		if ((j = skip_comment(s, n, i)) == i)
			return i;
		i = j;
	}
}

/* Index past a string or character literal opening at s[i] (ends at an
 * unescaped quote or the line's end). */
static size_t skip_literal(const char *s, size_t n, size_t i)
{
	char q = s[i++];

	while (i < n && s[i] != q && s[i] != '\n')
		i += s[i] == '\\' && i + 1 < n ? 2 : 1;
	return i < n && s[i] == q ? i + 1 : i;
}

/* Does s[0..n) define function sym: the identifier outside comments and
 * literals, then "(" balanced ")" and then "{"? */
static int defines(const char *s, size_t n, const char *sym)
{
	size_t symlen = strlen(sym), i = 0;

	while (i < n) {
		size_t j = skip_comment(s, n, i), start;

		if (j != i) {
			i = j;
			continue;
		}
		if (s[i] == '"' || s[i] == '\'') {
			i = skip_literal(s, n, i);
			continue;
		}
		if (!ident_char(s[i])) {
			i++;
			continue;
		}
		start = i;
		while (i < n && ident_char(s[i]))
			i++;
		if (i - start != symlen || memcmp(s + start, sym, symlen) ||
		    isdigit((unsigned char)s[start]))
			continue;
		j = skip_trivia(s, n, i);
		if (j < n && s[j] == '(') {
			int depth = 0;

			while (j < n) {
				size_t k = skip_comment(s, n, j);

				if (k != j) {
					j = k;
					continue;
				}
				if (s[j] == '"' || s[j] == '\'') {
					j = skip_literal(s, n, j);
					continue;
				}
				if (s[j] == '(')
					depth++;
				else if (s[j] == ')' && !--depth)
					break;
				j++;
			}
			if (j < n) {
				j = skip_trivia(s, n, j + 1);
				if (j < n && s[j] == '{')
					return 1;
			}
		}
	}
	return 0;
}

/* Is the info string s[0..n) (trimmed) one a C block may carry? */
static int c_info(const char *s, size_t n)
{
	static const char *const ok[] = {
		"c", "c89", "c99", "c11", "c17", "c18", "c23"
	};
	size_t w = 0;

	while (w < n && !isspace((unsigned char)s[w]) && s[w] != '{')
		w++;
	if (!w)
		return 1;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strlen(ok[i]) == w && !strncasecmp(ok[i], s, w))
			return 1;
	return 0;
}

/* If the line s[0..n) is a fence (up to 3 spaces, then 3 or more
 * backticks), the number of backticks, else 0. */
static size_t fence_len(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n && i < 3 && s[i] == ' ')
		i++;
	for (k = 0; i + k < n && s[i + k] == '`'; k++)
		;
	return k >= 3 ? k : 0;
}

/* See llm.h. */
int kva_llm_extract_code(const char *reply, const char *symbol, kva_buf *code,
			 kva_err *e)
{
	const char *p = reply, *body = NULL, *found = NULL;
	size_t open = 0, found_len = 0;
	int in_c = 0, any_fence = 0;

	while (*p && !found) {
		size_t len = strcspn(p, "\n"), k = fence_len(p, len);
		const char *next = p[len] ? p + len + 1 : p + len;

		if (!open && k) {
			const char *info = p + strspn(p, " ") + k;
			size_t ilen = (size_t)(p + len - info);

			while (ilen && isspace((unsigned char)*info))
				info++, ilen--;
			while (ilen && isspace((unsigned char)info[ilen - 1]))
				ilen--;
			if (!memchr(info, '`', ilen)) {
				open = k;
				in_c = c_info(info, ilen);
				any_fence = 1;
				body = next;
			}
		} else if (open && k >= open) {
			const char *rest = p + strspn(p, " ") + k;

			while (rest < p + len && isspace((unsigned char)*rest))
				rest++;
			if (rest == p + len) {
				if (in_c && defines(body, (size_t)(p - body),
						    symbol)) {
					found = body;
					found_len = (size_t)(p - body);
				}
				open = 0;
			}
		}
		p = next;
	}
	if (!found && open && in_c &&
	    defines(body, (size_t)(p - body), symbol)) {
		found = body;
		found_len = (size_t)(p - body);
	}
	if (!found && !any_fence && defines(reply, strlen(reply), symbol)) {
		found = reply;
		found_len = strlen(reply);
	}
	if (!found) {
		buf_set(code, "", 0);
		return kva_errf(e, NULL, "reply defines no %s()", symbol);
	}
	buf_set(code, found, found_len);
	if (!code->len || code->p[code->len - 1] != '\n')
		kva_buf_putc(code, '\n');
	return 0;
}
