/*
 * jsonl.c - reading and writing one JSON record per line.
 *
 * The reader pulls bytes with read(2) into a fixed buffer and assembles
 * lines in one reused buffer, so memory is proportional to the largest
 * record, and a line longer than max_record is refused as soon as it
 * passes the limit, without being held in memory or read to its end (a
 * line may never end: /dev/zero).  The writer buffers stdout and reports
 * a write error once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvarbiter.h"

#define READ_CHUNK (256 * 1024)

/* See kvarbiter.h. */
int kva_reader_open(kva_reader *r, const char *path, size_t max_record)
{
	memset(r, 0, sizeof *r);
	r->max_record = max_record ? max_record : KVA_MAX_RECORD_DEFAULT;
	if (!path || !strcmp(path, "-")) {
		r->name = "<stdin>";
		r->fd = 0;
	} else {
		r->name = path;
		if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			kva_warnx("%s: %s", path, strerror(errno));
			return -1;
		}
		r->owned = 1;
	}
	if (!(r->rbuf = malloc(READ_CHUNK)))
		kva_die(KVA_EXIT_TROUBLE, "out of memory");
	r->rcap = READ_CHUNK;
	return 0;
}

void kva_reader_close(kva_reader *r)
{
	if (!r)
		return;
	if (r->owned)
		close(r->fd);
	free(r->rbuf);
	kva_buf_free(&r->lbuf);
	kva_buf_free(&r->doc);
	free(r->nl);
	kva_arena_free(&r->arena);
	memset(r, 0, sizeof *r);
}

/* Refill the read buffer.  Returns bytes read, 0 at EOF, -1 on error. */
static ssize_t fill(kva_reader *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->rbuf, r->rcap);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		kva_warnx("%s: read error: %s", r->name, strerror(errno));
		return -1;
	}
	r->rpos = 0;
	r->rlen = (size_t)n;
	if (n == 0)
		r->eof = 1;
	return n;
}

/* The most of an oversized line's rest that is skipped (--keep-going
 * reads on) before it is taken for a line that does not end. */
static size_t skip_limit(const kva_reader *r)
{
	size_t m = r->max_record > SIZE_MAX / 16 ? SIZE_MAX : 16 * r->max_record;

	return m > ((size_t)64 << 20) ? m : (size_t)64 << 20;
}

/*
 * Discard the rest of a line refused as oversized, through its '\n' or to
 * EOF, but no more than skip_limit: a line that goes on past it may never
 * end (/dev/zero), and the rest of the input is not read.  Returns 0, or
 * -2 on I/O error or such a line.
 */
static int skip_rest(kva_reader *r)
{
	size_t skipped = 0;

	while (r->skip) {
		char *nl;

		if (r->rpos == r->rlen) {
			ssize_t n;

			if (r->eof)
				break;
			if ((n = fill(r)) < 0)
				return -2;
			if (n == 0)
				break;
		}
		nl = memchr(r->rbuf + r->rpos, '\n', r->rlen - r->rpos);
		if (nl) {
			r->rpos = (size_t)(nl - r->rbuf) + 1;
			break;
		}
		skipped += r->rlen - r->rpos;
		r->rpos = r->rlen;
		if (skipped > skip_limit(r)) {
			kva_warnx("%s:%ld: a line that does not end within %zu bytes: "
				  "the rest is not read", r->name, r->line,
				  skip_limit(r) + r->max_record);
			r->eof = 1;
			r->skip = 0;
			return -2;
		}
	}
	r->skip = 0;
	return 0;
}

/* See kvarbiter.h. */
int kva_reader_line(kva_reader *r)
{
	int any = 0;

	if (skip_rest(r))
		return -2;
	r->lbuf.len = 0;
	for (;;) {
		char *nl;
		size_t take;

		if (r->rpos == r->rlen) {
			if (r->eof)
				break;
			ssize_t n = fill(r);

			if (n < 0)
				return -2;
			if (n == 0)
				break;
		}
		any = 1;
		nl = memchr(r->rbuf + r->rpos, '\n', r->rlen - r->rpos);
		take = nl ? (size_t)(nl - (r->rbuf + r->rpos)) : r->rlen - r->rpos;
		if (r->lbuf.len + take > r->max_record) {
			r->line++;
			r->lbuf.len = 0;
			r->rpos += take + (nl != NULL);
			r->skip = !nl;
			return -1;
		}
		kva_buf_put(&r->lbuf, r->rbuf + r->rpos, take);
		r->rpos += take;
		if (nl) {
			r->rpos++;
			break;
		}
	}
	if (!any)
		return 0;
	r->line++;
	if (!r->lbuf.p)
		kva_buf_put(&r->lbuf, "", 0);
	return 1;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* The line, less surrounding blanks, is a lone "{" or "[": the start of
 * a pretty-printed document. */
static int opens_document(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && strchr(" \t\r", s[i]))
		i++;
	if (i == n || (s[i] != '{' && s[i] != '['))
		return 0;
	i++;
	while (i < n && strchr(" \t\r", s[i]))
		i++;
	return i == n;
}

/* Gather the document whose first line (n bytes) is in r->lbuf and the
 * rest of the input into r->doc, noting where its newlines are.  Returns
 * 1, -1 if it passes max_record, -2 on an I/O error (reported). */
static int read_document(kva_reader *r, size_t n)
{
	int st = 1;

	r->doc.len = 0;
	r->nnl = 0;
	kva_buf_put(&r->doc, r->lbuf.p, n);
	while (st == 1) {
		if (r->nnl == r->nlcap) {
			r->nlcap = r->nlcap ? 2 * r->nlcap : 64;
			if (!(r->nl = realloc(r->nl, r->nlcap * sizeof *r->nl)))
				kva_die(KVA_EXIT_TROUBLE, "out of memory");
		}
		r->nl[r->nnl++] = r->doc.len;
		kva_buf_putc(&r->doc, '\n');
		if ((st = kva_reader_line(r)) == 1) {
			if (r->doc.len + r->lbuf.len > r->max_record)
				st = -1;
			else
				kva_buf_put(&r->doc, r->lbuf.p, r->lbuf.len);
		}
	}
	return st == 0 ? 1 : st;
}

/* Parse text as one record; with KVA_READ_NONFINITE a text the strict
 * parser refuses is tried again with NaN/Infinity as numbers. */
static const kva_jval *parse_record(kva_reader *r, kva_rec *rec,
				    const char *text, size_t n, kva_err *e)
{
	const kva_jval *root;

	kva_arena_reset(&r->arena);
	if ((root = kva_json_parse(&r->arena, text, n, e)) ||
	    !(r->flags & KVA_READ_NONFINITE))
		return root;
	rec->strict = *e;
	kva_arena_reset(&r->arena);
	if ((root = kva_json_parse_opt(&r->arena, text, n, KVA_JSON_NONFINITE, e))) {
		rec->nonfinite = 1;
		return root;
	}
	*e = rec->strict; /* the strict parser's word on it */
	return NULL;
}

/* See kvarbiter.h. */
int kva_reader_next(kva_reader *r, kva_rec *rec, kva_err *e)
{
	for (;;) {
		int st = r->done ? 0 : kva_reader_line(r);
		const kva_jval *root, *type;
		const char *text;
		size_t n;

		memset(rec, 0, sizeof *rec);
		rec->line = r->line;
		if (st == 0 || st == -2)
			return st;
		if (st == -1) {
			r->started = 1;
			return kva_errf(e, NULL, "record longer than %zu bytes "
					"(see --max-record)", r->max_record);
		}
		n = r->lbuf.len;
		if (n && r->lbuf.p[n - 1] == '\r')
			r->lbuf.p[--n] = '\0';
		if (blank(r->lbuf.p, n))
			continue;
		text = r->lbuf.p;
		if ((r->flags & KVA_READ_DOCUMENT) && !r->started &&
		    opens_document(r->lbuf.p, n)) {
			r->done = 1;
			if ((st = read_document(r, n)) == -2)
				return -2;
			if (st == -1)
				return kva_errf(e, NULL, "document longer than %zu "
						"bytes (see --max-record)",
						r->max_record);
			text = r->doc.p;
			n = r->doc.len;
			rec->nl = r->nl;
			rec->nnl = r->nnl;
		}
		r->started = 1;
		if (!(root = parse_record(r, rec, text, n, e))) {
			if (e && e->line > 1)
				rec->line += e->line - 1;
			return -1;
		}
		if (root->t != KVA_JOBJ)
			return kva_errf(e, NULL, "record is not a JSON object");
		if (!(type = kva_json_get(root, "type"))) {
			if (!(r->flags & KVA_READ_UNTYPED))
				return kva_errf(e, "type", "missing");
		} else if (type->t != KVA_JSTR) {
			return kva_errf(e, "type", "must be a string");
		}
		rec->root = root;
		rec->type = type ? type->s : NULL;
		rec->text = text;
		rec->len = n;
		return 1;
	}
}

/* See kvarbiter.h. */
long kva_rec_line(const kva_rec *rec, const char *p)
{
	size_t off, lo = 0, hi;

	if (!rec->nl || !p || p < rec->text || p > rec->text + rec->len)
		return rec->line;
	off = (size_t)(p - rec->text);
	hi = rec->nnl; /* count the newlines before off */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rec->nl[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return rec->line + (long)lo;
}

/* ---- output ------------------------------------------------------------ */

static struct {
	char *buf;
	size_t len, cap;
	int unbuffered;
	int failed;
} out;

void kva_out_init(int unbuffered)
{
	out.unbuffered = unbuffered;
	if (!out.buf) {
		out.cap = 256 * 1024;
		if (!(out.buf = malloc(out.cap)))
			kva_die(KVA_EXIT_TROUBLE, "out of memory");
	}
}

static void out_free(void)
{
	free(out.buf);
	out.buf = NULL;
}

/* Write everything buffered to fd 1.  Reports the first failure only. */
static int out_drain(void)
{
	size_t off = 0;

	while (off < out.len) {
		ssize_t n = write(1, out.buf + off, out.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!out.failed)
				fprintf(stderr, "%s: write error: %s\n", kva_progname,
					n < 0 ? strerror(errno) : "short write");
			out.failed = 1;
			out.len = 0;
			return -1;
		}
		off += (size_t)n;
	}
	out.len = 0;
	return 0;
}

static void out_put(const char *s, size_t n)
{
	if (!out.buf) {
		kva_out_init(0);
		atexit(out_free);
	}
	if (out.failed)
		return;
	if (out.len + n > out.cap && out_drain())
		return;
	if (n > out.cap) { /* bigger than the buffer: straight out */
		size_t off = 0;

		while (off < n) {
			ssize_t w = write(1, s + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fprintf(stderr, "%s: write error: %s\n", kva_progname,
					w < 0 ? strerror(errno) : "short write");
				out.failed = 1;
				return;
			}
			off += (size_t)w;
		}
		return;
	}
	memcpy(out.buf + out.len, s, n);
	out.len += n;
}

void kva_out_record(kva_buf *b)
{
	kva_buf_putc(b, '\n');
	out_put(b->p, b->len);
	b->len = 0;
	if (out.unbuffered)
		kva_out_flush();
}

void kva_out_line(const char *s, size_t n)
{
	out_put(s, n);
	out_put("\n", 1);
	if (out.unbuffered)
		kva_out_flush();
}

int kva_out_flush(void)
{
	if (out.failed)
		return -1;
	return out.len ? out_drain() : 0;
}

int kva_out_close(void)
{
	int rc = kva_out_flush();

	if (close(1) && errno != EBADF && !out.failed) {
		fprintf(stderr, "%s: write error: %s\n", kva_progname, strerror(errno));
		rc = -1;
	}
	return rc || out.failed ? -1 : 0;
}

/* See kvarbiter.h. */
void kva_report_bad(const kva_reader *r, long line, const kva_err *e,
		    int keep_going)
{
	if (keep_going) {
		kva_buf b = { 0 };

		kva_buf_puts(&b, "{\"type\":\"error\",\"file\":");
		kva_buf_jstr(&b, r->name, strlen(r->name));
		kva_buf_puts(&b, ",\"line\":");
		kva_buf_i64(&b, line);
		if (e->field) {
			kva_buf_puts(&b, ",\"field\":");
			kva_buf_jstr(&b, e->field, strlen(e->field));
		}
		kva_buf_puts(&b, ",\"message\":");
		kva_buf_jstr(&b, e->msg, strlen(e->msg));
		kva_buf_putc(&b, '}');
		kva_out_record(&b);
		kva_buf_free(&b);
	}
	if (e->field)
		fprintf(stderr, "%s: %s:%ld: field \"%s\": %s\n", kva_progname,
			r->name, line, e->field, e->msg);
	else
		fprintf(stderr, "%s: %s:%ld: %s\n", kva_progname, r->name, line,
			e->msg);
}
