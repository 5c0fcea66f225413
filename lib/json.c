/*
 * json.c - a strict RFC 8259 parser into an arena, with exact integers.
 *
 * Why not cJSON: it stores numbers as doubles, so 2^53+1 silently becomes
 * 2^53 and 1.0000000000000001 becomes 1; it truncates strings at \u0000.
 * A verifier must reject what it cannot represent, so every number keeps
 * its source text and integers are derived from that text exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"

#define JSON_MAX_DEPTH 512

/* ---- arena ------------------------------------------------------------ */

struct kva_arena_blk {
	struct kva_arena_blk *next;
	size_t used, cap;
	max_align_t data[];
};

/* Allocate n bytes (aligned for any type) from a; exits 2 on OOM. */
static void *arena_alloc(kva_arena *a, size_t n)
{
	struct kva_arena_blk *b = a->head;
	size_t al = sizeof(max_align_t);

	n = (n + al - 1) / al * al;
	if (!b || b->cap - b->used < n) {
		size_t cap = 64 * 1024;

		while (cap < n)
			cap *= 2;
		if (!(b = malloc(sizeof *b + cap)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	b->used += n;
	a->used_total += n;
	return (char *)b->data + b->used - n;
}

/* Forget everything allocated.  Keeps one block sized for the whole of
 * the last use, so steady state is one block ~ the largest record. */
void kva_arena_reset(kva_arena *a)
{
	struct kva_arena_blk *b = a->head, *nx;

	if (b && !b->next) {
		b->used = 0;
		a->used_total = 0;
		return;
	}
	size_t total = a->used_total;
	for (; b; b = nx) {
		nx = b->next;
		free(b);
	}
	a->head = NULL;
	a->used_total = 0;
	if (total) {
		arena_alloc(a, total);
		a->head->used = 0;
		a->used_total = 0;
	}
}

void kva_arena_free(kva_arena *a)
{
	struct kva_arena_blk *b, *nx;

	if (!a)
		return;
	for (b = a->head; b; b = nx) {
		nx = b->next;
		free(b);
	}
	a->head = NULL;
	a->used_total = 0;
}

/* ---- parser ------------------------------------------------------------ */

typedef struct parser {
	const char *s, *p, *end;
	kva_arena *a;
	kva_err *e;
	int depth;
	unsigned flags;      /* KVA_JSON_* */
} parser;

/* "malformed JSON at column C: what", C counted in the line of s that
 * ps->p is on; e->line and e->col say where. */
static int fail(parser *ps, const char *what)
{
	const char *bol = ps->s;
	long line = 1;

	for (const char *q = ps->s; q < ps->p; q++)
		if (*q == '\n') {
			line++;
			bol = q + 1;
		}
	kva_errf(ps->e, NULL, "malformed JSON at column %ld: %s",
		 (long)(ps->p - bol) + 1, what);
	if (ps->e) {
		ps->e->line = line;
		ps->e->col = (long)(ps->p - bol) + 1;
	}
	return -1;
}

static void skip_ws(parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + (unsigned)d;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *q, unsigned cp)
{
	if (cp < 0x80) {
		q[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		q[0] = (char)(0xC0 | cp >> 6);
		q[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		q[0] = (char)(0xE0 | cp >> 12);
		q[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		q[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	q[0] = (char)(0xF0 | cp >> 18);
	q[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	q[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	q[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Length of the valid UTF-8 sequence at p (p < end), or 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], cp;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return n;
}

/* Parse a string token at ps->p (a '"'); decoded text into the arena.
 * Plain ASCII runs are copied in bulk: they are nearly all of JSONL. */
static int parse_string(parser *ps, const char **out, size_t *outlen)
{
	const char *p = ps->p + 1, *start;
	char *q, *dst;

	/* find the closing quote first so the decoded buffer can be sized */
	for (start = p; p < ps->end && *p != '"'; p++)
		if (*p == '\\' && ++p >= ps->end)
			break;
	if (p >= ps->end)
		return fail(ps, "unterminated string");
	dst = q = arena_alloc(ps->a, (size_t)(p - start) + 1);
	for (p = start; *p != '"';) {
		unsigned char c = (unsigned char)*p;

		if (c >= 0x20 && c < 0x80 && c != '\\') {
			*q++ = (char)c;
			p++;
			continue;
		}
		if (c < 0x20) {
			ps->p = p;
			return fail(ps, "control character in string");
		}
		if (c != '\\') {
			size_t n = utf8_len((const unsigned char *)p,
					    (const unsigned char *)ps->end);

			if (!n) {
				ps->p = p;
				return fail(ps, "invalid UTF-8 in string");
			}
			memcpy(q, p, n);
			q += n;
			p += n;
			continue;
		}
		const char *esc = p++; /* errors point at the backslash */

		switch (*p) {
		case '"': *q++ = '"'; break;
		case '\\': *q++ = '\\'; break;
		case '/': *q++ = '/'; break;
		case 'b': *q++ = '\b'; break;
		case 'f': *q++ = '\f'; break;
		case 'n': *q++ = '\n'; break;
		case 'r': *q++ = '\r'; break;
		case 't': *q++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (ps->end - p < 5 || hex4(p + 1, &cp)) {
				ps->p = esc;
				return fail(ps, "bad \\u escape");
			}
			p += 4;
			if (cp >= 0xDC00 && cp <= 0xDFFF) {
				ps->p = esc;
				return fail(ps, "lone low surrogate");
			}
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (ps->end - p < 7 || p[1] != '\\' || p[2] != 'u' ||
				    hex4(p + 3, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
					ps->p = esc;
					return fail(ps, "lone high surrogate");
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
			q += put_utf8(q, cp);
			break;
		}
		default:
			ps->p = esc;
			return fail(ps, "bad escape in string");
		}
		p++;
	}
	*q = '\0';
	*out = dst;
	*outlen = (size_t)(q - dst);
	ps->p = p + 1;
	return 0;
}

static int parse_number(parser *ps)
{
	const char *p = ps->p;

	if (p < ps->end && *p == '-')
		p++;
	if (p >= ps->end || *p < '0' || *p > '9')
		return fail(ps, "bad number");
	if (*p == '0')
		p++;
	else
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	if (p < ps->end && *p == '.') {
		if (++p >= ps->end || *p < '0' || *p > '9') {
			ps->p = p;
			return fail(ps, "bad number");
		}
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= ps->end || *p < '0' || *p > '9') {
			ps->p = p;
			return fail(ps, "bad number");
		}
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	ps->p = p;
	return 0;
}

static kva_jval *parse_value(parser *ps);

/* The words Python's json module writes for undefined and unbounded
 * values, longest first. */
static const char *const nonfinite_words[] = { "-Infinity", "Infinity", "NaN" };

/* Length of the NaN/Infinity/-Infinity word at ps->p, or 0. */
static size_t nonfinite_at(const parser *ps)
{
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(nonfinite_words[i]);

		if ((size_t)(ps->end - ps->p) >= n &&
		    !memcmp(ps->p, nonfinite_words[i], n))
			return n;
	}
	return 0;
}

static int literal(parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return fail(ps, "unexpected character");
	ps->p += n;
	return 0;
}

/* Member names seen in one object: a linear scan while the object is
 * small, an open-addressing table of names once it is not, so a record
 * with a million members cannot turn duplicate checks quadratic. */
typedef struct keyset {
	const kva_jval **slot;
	size_t cap;
} keyset;

#define KEYSET_LINEAR 16

static uint64_t key_hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 0x100000001b3ULL;
	return h;
}

static void keyset_put(keyset *ks, const kva_jval *m)
{
	size_t i = key_hash(m->key, m->keylen) & (ks->cap - 1);

	while (ks->slot[i])
		i = (i + 1) & (ks->cap - 1);
	ks->slot[i] = m;
}

/* Is key among v's members so far?  Members already in v->child are
 * indexed lazily; the caller appends the new member afterwards. */
static int member_seen(parser *ps, keyset *ks, const kva_jval *v,
		       const kva_jval *last, const char *key, size_t keylen)
{
	const kva_jval *k;
	size_t i;

	if (v->n < KEYSET_LINEAR) {
		for (k = v->child; k; k = k->next)
			if (k->keylen == keylen && !memcmp(k->key, key, keylen))
				return 1;
		return 0;
	}
	if (2 * (v->n + 1) > ks->cap) {
		size_t cap = ks->cap ? 2 * ks->cap : 4 * KEYSET_LINEAR;

		ks->slot = arena_alloc(ps->a, cap * sizeof *ks->slot);
		memset(ks->slot, 0, cap * sizeof *ks->slot);
		ks->cap = cap;
		for (k = v->child; k; k = k->next)
			keyset_put(ks, k);
	} else if (v->n > KEYSET_LINEAR) {
		keyset_put(ks, last); /* appended since the last call */
	}
	for (i = key_hash(key, keylen) & (ks->cap - 1); ks->slot[i];
	     i = (i + 1) & (ks->cap - 1))
		if (ks->slot[i]->keylen == keylen &&
		    !memcmp(ks->slot[i]->key, key, keylen))
			return 1;
	return 0;
}

static kva_jval *parse_container(parser *ps, kva_jval *v, int obj)
{
	kva_jval **tail = &v->child;
	keyset ks = { NULL, 0 };
	kva_jval *last = NULL;
	char close = obj ? '}' : ']';

	if (++ps->depth > JSON_MAX_DEPTH) {
		fail(ps, "nesting too deep");
		return NULL;
	}
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return v;
	}
	for (;;) {
		kva_jval *kid;
		const char *key = NULL;
		size_t keylen = 0;

		skip_ws(ps);
		if (obj) {
			if (ps->p >= ps->end || *ps->p != '"') {
				fail(ps, "expected member name");
				return NULL;
			}
			if (parse_string(ps, &key, &keylen))
				return NULL;
			if (member_seen(ps, &ks, v, last, key, keylen)) {
				kva_errf(ps->e, NULL, "duplicate member \"%.60s\"", key);
				return NULL;
			}
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				fail(ps, "expected ':'");
				return NULL;
			}
			ps->p++;
			skip_ws(ps);
		}
		if (!(kid = parse_value(ps)))
			return NULL;
		if (obj) {
			kid->key = key;
			kid->keylen = keylen;
		}
		*tail = kid;
		tail = &kid->next;
		last = kid;
		v->n++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return v;
		}
		fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
		return NULL;
	}
}

static kva_jval *parse_value(parser *ps)
{
	kva_jval *v = arena_alloc(ps->a, sizeof *v);

	memset(v, 0, sizeof *v);
	skip_ws(ps);
	if (ps->p >= ps->end) {
		fail(ps, "unexpected end of input");
		return NULL;
	}
	v->raw = ps->p;
	switch (*ps->p) {
	case '{':
		v->t = KVA_JOBJ;
		return parse_container(ps, v, 1);
	case '[':
		v->t = KVA_JARR;
		return parse_container(ps, v, 0);
	case '"':
		v->t = KVA_JSTR;
		if (parse_string(ps, &v->s, &v->slen))
			return NULL;
		break;
	case 't':
		v->t = KVA_JTRUE;
		if (literal(ps, "true"))
			return NULL;
		break;
	case 'f':
		v->t = KVA_JFALSE;
		if (literal(ps, "false"))
			return NULL;
		break;
	case 'n':
		v->t = KVA_JNULL;
		if (literal(ps, "null"))
			return NULL;
		break;
	default:
		v->t = KVA_JNUM;
		if ((ps->flags & KVA_JSON_NONFINITE) && nonfinite_at(ps)) {
			ps->p += nonfinite_at(ps);
			break;
		}
		if (parse_number(ps))
			return NULL;
	}
	v->rawlen = (size_t)(ps->p - v->raw);
	return v;
}

/* See kvarbiter.h. */
kva_jval *kva_json_parse(kva_arena *a, const char *s, size_t n, kva_err *e)
{
	return kva_json_parse_opt(a, s, n, 0, e);
}

/* See kvarbiter.h. */
kva_jval *kva_json_parse_opt(kva_arena *a, const char *s, size_t n,
			     unsigned flags, kva_err *e)
{
	parser ps = { s, s, s + n, a, e, 0, flags };
	kva_jval *v;

	if (!(v = parse_value(&ps)))
		return NULL;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		fail(&ps, "trailing garbage after the value");
		return NULL;
	}
	return v;
}

const kva_jval *kva_json_get(const kva_jval *obj, const char *key)
{
	size_t n;

	if (!obj || obj->t != KVA_JOBJ)
		return NULL;
	n = strlen(key);
	for (const kva_jval *k = obj->child; k; k = k->next)
		if (k->keylen == n && !memcmp(k->key, key, n))
			return k;
	return NULL;
}

/* See kvarbiter.h. */
int kva_json_nonfinite(const kva_jval *v)
{
	if (!v || v->t != KVA_JNUM || !v->raw)
		return 0;
	for (int i = 0; i < 3; i++)
		if (v->rawlen == strlen(nonfinite_words[i]) &&
		    !memcmp(v->raw, nonfinite_words[i], v->rawlen))
			return 1;
	return 0;
}

/* Short printable excerpt of a token for messages. */
static void excerpt(const kva_jval *v, char *dst, size_t cap)
{
	size_t n = v->rawlen;
	const char *kind[] = { "null", "false", "true", "", "", "an array", "an object" };

	if (v->t == KVA_JARR || v->t == KVA_JOBJ || !v->raw) {
		snprintf(dst, cap, "%s", kind[v->t]);
		return;
	}
	if (n > 40)
		snprintf(dst, cap, "%.37s...", v->raw);
	else
		snprintf(dst, cap, "%.*s", (int)n, v->raw);
}

/* See kvarbiter.h.  Works on the decimal text: digits D, exponent E, value
 * D * 10^E; trailing zeros of D move into E, and E < 0 left over means a
 * fraction. */
int kva_json_int(const kva_jval *v, const char *field, int64_t *out, kva_err *e)
{
	char ex[48];
	const char *p, *end;
	int neg = 0, ndig = 0;
	char dig[24];
	long e10 = 0, fracdig = 0, expv = 0;
	int expneg = 0, lead = 1;
	uint64_t u = 0;

	if (!v || v->t != KVA_JNUM) {
		if (!v)
			return kva_errf(e, field, "missing");
		excerpt(v, ex, sizeof ex);
		return kva_errf(e, field, "must be an integer, got %s", ex);
	}
	if (kva_json_nonfinite(v)) {
		excerpt(v, ex, sizeof ex);
		return kva_errf(e, field, "must be an integer, got %s", ex);
	}
	p = v->raw;
	end = v->raw + v->rawlen;
	if (*p == '-')
		neg = 1, p++;
	for (int infrac = 0; p < end && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			infrac = 1;
			continue;
		}
		if (infrac)
			fracdig++;
		if (lead && *p == '0')
			continue; /* leading zeros carry no value */
		lead = 0;
		if (ndig < (int)sizeof dig)
			dig[ndig] = *p;
		ndig++;
	}
	if (p < end) {
		p++;
		if (*p == '+' || *p == '-')
			expneg = *p++ == '-';
		for (; p < end; p++)
			if (expv < 1000000)
				expv = expv * 10 + (*p - '0');
	}
	e10 = (expneg ? -expv : expv) - fracdig;
	if (ndig == 0) {
		*out = 0;
		return 0;
	}
	if (ndig > (int)sizeof dig)
		goto toobig;
	while (ndig > 0 && dig[ndig - 1] == '0')
		ndig--, e10++;
	if (e10 < 0) {
		excerpt(v, ex, sizeof ex);
		return kva_errf(e, field, "must be an integer, got %s", ex);
	}
	if (ndig + e10 > 16)
		goto toobig;
	for (int i = 0; i < ndig; i++)
		u = u * 10 + (uint64_t)(dig[i] - '0');
	for (long i = 0; i < e10; i++)
		u *= 10;
	if (u > (uint64_t)KVA_INT_LIMIT)
		goto toobig;
	*out = neg ? -(int64_t)u : (int64_t)u;
	return 0;
toobig:
	excerpt(v, ex, sizeof ex);
	return kva_errf(e, field, "%s is beyond +-2^53", ex);
}

int kva_json_num(const kva_jval *v, const char *field, double *out, kva_err *e)
{
	char ex[48], tmp[64];

	if (!v)
		return kva_errf(e, field, "missing");
	if (v->t != KVA_JNUM) {
		excerpt(v, ex, sizeof ex);
		return kva_errf(e, field, "must be a number, got %s", ex);
	}
	if (v->rawlen < sizeof tmp) {
		memcpy(tmp, v->raw, v->rawlen);
		tmp[v->rawlen] = '\0';
		*out = strtod(tmp, NULL);
	} else {
		char *big = malloc(v->rawlen + 1);

		if (!big)
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
		memcpy(big, v->raw, v->rawlen);
		big[v->rawlen] = '\0';
		*out = strtod(big, NULL);
		free(big);
	}
	return 0;
}

/* Compact writer behind kva_json_write (canon 0: strings copied from
 * their source text) and kva_json_write_canon (canon 1: strings decoded
 * and re-escaped, so two spellings of one string serialise alike). */
static void json_write(kva_buf *b, const kva_jval *v, int canon)
{
	const kva_jval *k;

	switch (v->t) {
	case KVA_JOBJ:
	case KVA_JARR:
		kva_buf_putc(b, v->t == KVA_JOBJ ? '{' : '[');
		for (k = v->child; k; k = k->next) {
			if (k != v->child)
				kva_buf_putc(b, ',');
			if (v->t == KVA_JOBJ) {
				kva_buf_jstr(b, k->key, k->keylen);
				kva_buf_putc(b, ':');
			}
			json_write(b, k, canon);
		}
		kva_buf_putc(b, v->t == KVA_JOBJ ? '}' : ']');
		break;
	case KVA_JSTR:
		if (canon) {
			kva_buf_jstr(b, v->s, v->slen);
			break;
		}
		/* fall through */
	default:
		kva_buf_put(b, v->raw, v->rawlen);
	}
}

/* See kvarbiter.h. */
void kva_json_write(kva_buf *b, const kva_jval *v)
{
	json_write(b, v, 0);
}

/* See kvarbiter.h. */
void kva_json_write_canon(kva_buf *b, const kva_jval *v)
{
	json_write(b, v, 1);
}
