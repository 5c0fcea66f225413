/*
 * buf.c - a growable byte buffer for building records.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kvarbiter.h"

/* Make room for n more bytes plus a NUL; exits 2 when memory runs out. */
static void buf_reserve(kva_buf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (n > SIZE_MAX - b->len - 1)
		kva_die(KVA_EXIT_TROUBLE, "buffer size overflow");
	want = b->len + n + 1;
	if (want <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (!(p = realloc(b->p, cap)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory (%zu bytes)", cap);
	b->p = p;
	b->cap = cap;
}

void kva_buf_put(kva_buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void kva_buf_puts(kva_buf *b, const char *s)
{
	kva_buf_put(b, s, strlen(s));
}

void kva_buf_putc(kva_buf *b, int c)
{
	if (b->len + 2 > b->cap)
		buf_reserve(b, 1);
	b->p[b->len++] = (char)c;
	b->p[b->len] = '\0';
}

void kva_buf_printf(kva_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		kva_die(KVA_EXIT_TROUBLE, "format error");
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Decimal int64 without printf: this is on the hot path of every tool. */
void kva_buf_i64(kva_buf *b, int64_t v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	kva_buf_put(b, q, (size_t)(tmp + sizeof tmp - q));
}

/* JSON string literal: escapes ", \ and control bytes; other bytes pass
 * through (input was validated UTF-8 or is our own ASCII).  Reserves the
 * worst case once so the loop writes without checks. */
void kva_buf_jstr(kva_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *q;

	if (n > (SIZE_MAX - 3) / 6)
		kva_die(KVA_EXIT_TROUBLE, "buffer size overflow");
	buf_reserve(b, 6 * n + 2);
	q = b->p + b->len;
	*q++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\') {
			*q++ = (char)c;
			continue;
		}
		*q++ = '\\';
		switch (c) {
		case '"': *q++ = '"'; break;
		case '\\': *q++ = '\\'; break;
		case '\n': *q++ = 'n'; break;
		case '\r': *q++ = 'r'; break;
		case '\t': *q++ = 't'; break;
		case '\b': *q++ = 'b'; break;
		case '\f': *q++ = 'f'; break;
		default:
			memcpy(q, "u00", 3);
			q[3] = hex[c >> 4];
			q[4] = hex[c & 15];
			q += 5;
		}
	}
	*q++ = '"';
	*q = '\0';
	b->len = (size_t)(q - b->p);
}

void kva_buf_free(kva_buf *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* See kvarbiter.h. */
void kva_buf_num(kva_buf *b, double v)
{
	char tmp[40];

	if (!isfinite(v)) {
		kva_buf_puts(b, "null");
		return;
	}
	if (v == 0) {
		kva_buf_putc(b, '0');
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	kva_buf_puts(b, tmp);
}
