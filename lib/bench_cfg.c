/*
 * bench_cfg.c - a benchmark's configuration as sorted "path" -> value
 * pairs: flattened from a row's members, sealed with a digest, diffed.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* See bench.h. */
int kva_cfg_runtime_key(const char *k)
{
	static const char *const keys[] = { "version", "sglang_version",
		"vllm_version", "internal_states", "memory_usage",
		"last_gen_throughput", "avg_spec_accept_length", "timestamp",
		"start_time", "end_time", "date", "uptime", "pid", "port", "host",
		NULL };

	for (int i = 0; keys[i]; i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return 0;
}

static int cmp_member(const void *a, const void *b)
{
	const kva_jval *x = *(const kva_jval *const *)a;
	const kva_jval *y = *(const kva_jval *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* See bench.h. */
void kva_cfg_canon(kva_buf *b, const kva_jval *v)
{
	int64_t i;
	double d;

	switch (v->t) {
	case KVA_JNUM:
		if (kva_json_nonfinite(v))
			kva_buf_jstr(b, v->raw, v->rawlen);
		else if (!kva_json_int(v, NULL, &i, NULL))
			kva_buf_i64(b, i);
		else if (!kva_json_num(v, NULL, &d, NULL))
			kva_buf_num(b, d);
		break;
	case KVA_JARR:
		kva_buf_putc(b, '[');
		for (const kva_jval *k = v->child; k; k = k->next) {
			if (k != v->child)
				kva_buf_putc(b, ',');
			kva_cfg_canon(b, k);
		}
		kva_buf_putc(b, ']');
		break;
	case KVA_JOBJ: {
		const kva_jval **m = kva_xrealloc(NULL, v->n, sizeof *m);
		size_t n = 0;

		for (const kva_jval *k = v->child; k; k = k->next)
			m[n++] = k;
		qsort(m, n, sizeof *m, cmp_member);
		kva_buf_putc(b, '{');
		for (size_t j = 0; j < n; j++) {
			if (j)
				kva_buf_putc(b, ',');
			kva_buf_jstr(b, m[j]->key, m[j]->keylen);
			kva_buf_putc(b, ':');
			kva_cfg_canon(b, m[j]);
		}
		kva_buf_putc(b, '}');
		free(m);
		break;
	}
	default:
		kva_json_write_canon(b, v);
	}
}

static void cfg_add(kva_cfg *c, const char *key, const char *val, size_t vlen)
{
	KVA_GROW(c->e, c->n, c->cap);
	c->e[c->n].key = kva_xstrdup(key);
	c->e[c->n].val = kva_xrealloc(NULL, vlen + 1, 1);
	memcpy(c->e[c->n].val, val, vlen + 1);
	c->n++;
}

/* See bench.h. */
void kva_cfg_flatten(kva_cfg *c, kva_buf *path, const kva_jval *obj,
		     int (*skip)(const char *key))
{
	kva_buf val = { 0 };

	for (const kva_jval *k = obj->child; k; k = k->next) {
		size_t plen = path->len;

		if (memchr(k->key, '\0', k->keylen) || kva_cfg_runtime_key(k->key))
			continue;
		if (skip && skip(k->key))
			continue;
		if (plen)
			kva_buf_putc(path, '.');
		kva_buf_put(path, k->key, k->keylen);
		if (k->t == KVA_JOBJ && k->n > 0) {
			kva_cfg_flatten(c, path, k, NULL);
		} else {
			val.len = 0;
			kva_cfg_canon(&val, k);
			cfg_add(c, path->p, val.p, val.len);
		}
		path->len = plen;
		path->p[plen] = '\0';
	}
	kva_buf_free(&val);
}

static int cmp_cfgent(const void *a, const void *b)
{
	return strcmp(((const kva_cfgent *)a)->key, ((const kva_cfgent *)b)->key);
}

/* See bench.h. */
void kva_cfg_seal(kva_cfg *c)
{
	kva_buf all = { 0 };

	if (c->n == 0) { /* every plain run record's */
		kva_sha256_hex("", 0, c->digest);
		return;
	}
	qsort(c->e, c->n, sizeof *c->e, cmp_cfgent);
	for (size_t i = 0; i < c->n; i++)
		kva_buf_printf(&all, "%s=%s\n", c->e[i].key, c->e[i].val);
	kva_sha256_hex(all.p ? all.p : "", all.len, c->digest);
	kva_buf_free(&all);
}

void kva_cfg_free(kva_cfg *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].key);
		free(c->e[i].val);
	}
	free(c->e);
	memset(c, 0, sizeof *c);
}

/* See bench.h. */
const kva_cfgent *kva_cfg_find(const kva_cfg *c, const char *key)
{
	kva_cfgent k = { (char *)(uintptr_t)key, NULL };

	return c->n ? bsearch(&k, c->e, c->n, sizeof *c->e, cmp_cfgent) : NULL;
}

/* See bench.h. */
void kva_cfg_diff(const kva_cfg *a, const kva_cfg *b,
		  void (*fn)(void *, const char *, const char *, const char *),
		  void *arg)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->e[i].key, b->e[j].key);

		if (c < 0) {
			fn(arg, a->e[i].key, a->e[i].val, NULL);
			i++;
		} else if (c > 0) {
			fn(arg, b->e[j].key, NULL, b->e[j].val);
			j++;
		} else {
			if (strcmp(a->e[i].val, b->e[j].val))
				fn(arg, a->e[i].key, a->e[i].val, b->e[j].val);
			i++, j++;
		}
	}
}
