/*
 * kv-snapshot - strict, checksummed snapshots of the paged KV pool
 * (SPEC sections 7 and 8; the format and the pool are lib/snap.c and
 * lib/pool.c).
 *
 *   inspect FILE              header and ledger as JSONL
 *   verify FILE [--regen]     checksums and layout; every byte with --regen
 *   restore --pool-tokens N FILE   into a pool: restored, route, state
 *   dump FILE|- [--values]    tensor dump (row hashes, or values)
 *   diff A B                  first differing row and the count
 *   store | load | gc         the SQLite prefix cache (lib/pcache.c)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvarbiter.h"
#include "pcache.h"
#include "pool.h"
#include "snap.h"

static void usage(FILE *fp)
{
	fputs("usage: kv-snapshot inspect FILE\n"
	      "       kv-snapshot verify [--regen] FILE\n"
	      "       kv-snapshot restore --pool-tokens N [--sink-chunks N]\n"
	      "                   [--tail-chunks N] [--policy lru|score] [--verify]\n"
	      "                   [--no-routes] FILE\n"
	      "       kv-snapshot dump [--values] FILE|-\n"
	      "       kv-snapshot diff A B\n"
	      "       kv-snapshot store FILE --tokens T.jsonl --db CACHE\n"
	      "       kv-snapshot load --tokens T.jsonl --db CACHE --out FILE\n"
	      "       kv-snapshot gc --db CACHE --max-bytes N\n"
	      "       kv-snapshot -h | --help | --version\n", fp);
}

static int open_or_die(const char *path, kva_snap *s, int status)
{
	kva_err e;

	if (kva_snap_open(path, s, &e)) {
		kva_out_flush();
		kva_warnx("%s: %s%s%s%s", path, e.field ? "field \"" : "",
			  e.field ? e.field : "", e.field ? "\": " : "", e.msg);
		exit(status);
	}
	return 0;
}

/* ---- inspect --------------------------------------------------------- */

static int cmd_inspect(const char *path)
{
	kva_snap s;
	kva_buf b = { 0 };

	open_or_die(path, &s, 2);
	kva_buf_puts(&b, "{\"type\":\"snapshot\",\"path\":");
	kva_buf_jstr(&b, path, strlen(path));
	kva_buf_printf(&b, ",\"version\":%u,\"ledger\":%s,\"partial\":%s,"
		       "\"layers\":%lld,\"kv_heads\":%lld,\"head_dim\":%lld,"
		       "\"dtype_k\":\"%s\",\"dtype_v\":\"%s\",\"chunk_tokens\":%lld,"
		       "\"cur_pos\":%lld,\"chunks\":%lld,\"chunk_bytes\":%llu,"
		       "\"seed\":%llu,\"bytes\":%zu,\"header_checksum\":\"%016llx\","
		       "\"trailer_checksum\":\"%016llx\"}", s.version,
		       s.ledger ? "true" : "false",
		       s.flags & KVA_SNAP_PARTIAL ? "true" : "false",
		       (long long)s.layers, (long long)s.kv_heads,
		       (long long)s.head_dim, kva_dtype_name(s.dtype_k), kva_dtype_name(s.dtype_v),
		       (long long)s.chunk_tokens, (long long)s.cur_pos,
		       (long long)s.count, (unsigned long long)s.chunk_bytes,
		       (unsigned long long)s.seed, s.size,
		       (unsigned long long)s.header_sum,
		       (unsigned long long)s.trailer_sum);
	kva_out_record(&b);
	for (int64_t k = 0; s.ledger && k < s.count; k++) {
		kva_snap_entry en;

		kva_snap_entry_get(&s, k, &en);
		kva_buf_printf(&b, "{\"type\":\"ledger\",\"chunk\":%lld,"
			       "\"tokens\":%lld,\"resident\":%s,\"pinned\":%s,",
			       (long long)k, (long long)kva_snap_chunk_tokens(&s, k),
			       en.flags & KVA_SE_RESIDENT ? "true" : "false",
			       en.flags & KVA_SE_PINNED ? "true" : "false");
		if (en.flags & KVA_SE_SCORE)
			kva_buf_printf(&b, "\"score\":%.17g,", en.score);
		else
			kva_buf_puts(&b, "\"score\":null,");
		kva_buf_printf(&b, "\"last_use\":%llu,\"checksum\":\"%016llx\"}",
			       (unsigned long long)en.last_use,
			       (unsigned long long)en.checksum);
		kva_out_record(&b);
	}
	kva_buf_free(&b);
	kva_snap_close(&s);
	return 0;
}

/* ---- verify ---------------------------------------------------------- */

static int cmd_verify(const char *path, int regen)
{
	kva_snap s;
	kva_err e;
	kva_buf b = { 0 };
	kva_verify v;
	int64_t bad = 0;

	kva_buf_puts(&b, "{\"type\":\"verify\",\"path\":");
	kva_buf_jstr(&b, path, strlen(path));
	if (kva_snap_open(path, &s, &e)) {
		/* the file could not be read at all: trouble, not an answer */
		if (!e.field && !strstr(e.msg, "trailing"))
			kva_die(2, "%s: %s", path, e.msg);
		kva_buf_puts(&b, ",\"ok\":false,\"field\":");
		kva_buf_jstr(&b, e.field ? e.field : "", e.field ? strlen(e.field) : 0);
		kva_buf_puts(&b, ",\"reason\":");
		kva_buf_jstr(&b, e.msg, strlen(e.msg));
		kva_buf_puts(&b, "}");
		kva_out_record(&b);
		kva_buf_free(&b);
		return 1;
	}
	if (regen)
		bad = kva_snap_regen(&s, &v);
	kva_buf_printf(&b, ",\"ok\":%s,\"chunks\":%lld,\"bytes\":%zu,"
		       "\"checksums\":\"%s\",\"regen\":%s", bad ? "false" : "true",
		       (long long)s.count, s.size,
		       s.ledger ? "trailer+chunks" : "trailer",
		       regen ? "true" : "false");
	if (bad)
		kva_buf_printf(&b, ",\"bad_rows\":%lld,\"bad_chunks\":%lld,"
			       "\"first\":{\"chunk\":%lld,\"layer\":%lld,"
			       "\"kv\":\"%s\",\"head\":%lld,\"row\":%lld,"
			       "\"dim\":%lld}", (long long)v.bad_rows,
			       (long long)v.bad_chunks, (long long)v.chunk,
			       (long long)v.layer, v.kv ? "V" : "K",
			       (long long)v.head, (long long)v.row,
			       (long long)v.dim);
	kva_buf_puts(&b, "}");
	kva_out_record(&b);
	kva_buf_free(&b);
	kva_snap_close(&s);
	return bad ? 1 : 0;
}

/* ---- restore --------------------------------------------------------- */

static int cmd_restore(const kva_pool_conf *base, const char *path, int verify,
		       int routes)
{
	kva_pool_conf c = *base;
	kva_restore_info info;
	kva_pool *p;
	kva_snap s;
	kva_err e;
	kva_buf b = { 0 };
	int rc = 0;

	open_or_die(path, &s, 2);
	c.layers = s.layers;
	c.kv_heads = s.kv_heads;
	c.head_dim = s.head_dim;
	c.chunk_tokens = s.chunk_tokens;
	c.dtype = s.dtype_k;
	c.seed = s.seed;
	if (s.dtype_k != s.dtype_v)
		kva_die(2, "%s: field \"dtype_v\": K %s and V %s differ; the pool "
			"has one dtype", path, kva_dtype_name(s.dtype_k), kva_dtype_name(s.dtype_v));
	if (!(p = kva_pool_new(&c, NULL, NULL, &e)))
		kva_die(2, "--pool-tokens: %s", e.msg);
	if (kva_snap_restore(p, &s, &info, &e))
		kva_die(2, "%s: %s", path, e.msg);
	kva_buf_puts(&b, "{\"type\":\"restored\",\"path\":");
	kva_buf_jstr(&b, path, strlen(path));
	kva_buf_printf(&b, ",\"chunks\":%lld,\"cur_pos\":%lld,\"resident\":%lld,"
		       "\"host\":%lld,\"pins\":%lld,\"pins_dropped\":%lld}",
		       (long long)info.chunks, (long long)p->cur_pos,
		       (long long)info.resident, (long long)info.host,
		       (long long)info.pins, (long long)info.pins_dropped);
	kva_out_record(&b);
	if (routes)
		kva_pool_write_routes(p, &b);
	if (verify) {
		kva_verify v;
		int64_t bad = kva_pool_verify(p, &v);

		kva_buf_printf(&b, "{\"type\":\"verify\",\"ok\":%s,\"chunks\":%lld,"
			       "\"bytes\":%lld,\"bad_chunks\":%lld}",
			       bad ? "false" : "true", (long long)v.chunks,
			       (long long)v.bytes, (long long)v.bad_chunks);
		kva_out_record(&b);
		rc = bad ? 1 : 0;
	}
	kva_pool_write_state(p, &b);
	kva_buf_free(&b);
	kva_pool_free(p);
	kva_snap_close(&s);
	return rc;
}

/* ---- tensor rows: from a snapshot or from a tensor dump -------------- */

#define MAXDIM 8

typedef struct rows {
	const char *name;
	int is_snap;
	kva_snap s;
	kva_reader rd;
	int rd_open;
	/* the tensor */
	int ndim, dtype;     /* dtype KVA_DT_* */
	int64_t shape[MAXDIM];
	char layout[160];
	/* the current row */
	int have;
	int64_t idx[MAXDIM];
	int hashed;          /* only the hash is known */
	uint64_t hash;
	unsigned char *bytes;/* the row's bytes when known */
	size_t rb;           /* row bytes */
	int64_t n;           /* rows produced */
} rows;

static void rows_fail(rows *r, long line, const char *field, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5), noreturn));
static void rows_fail(rows *r, long line, const char *field, const char *fmt,
		      ...)
{
	va_list ap;

	kva_out_flush();
	if (line)
		fprintf(stderr, "%s: %s:%ld: ", kva_progname, r->name, line);
	else
		fprintf(stderr, "%s: %s: ", kva_progname, r->name);
	if (field)
		fprintf(stderr, "field \"%s\": ", field);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* half from a double that should be one exactly; round to nearest even
 * otherwise. */
static uint16_t to_half(double v)
{
	uint16_t sign = signbit(v) ? 0x8000 : 0;
	double a = fabs(v);
	int e;

	if (isnan(v))
		return 0x7E00;
	if (a >= 65520.0)
		return sign | 0x7C00;
	if (a < ldexp(1, -25))
		return sign;
	frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
	if (e < -13) {   /* subnormal: units of 2^-24 */
		return sign | (uint16_t)nearbyint(ldexp(a, 24));
	} else {
		double m = ldexp(a, 11 - e); /* in [1024, 2048) */
		long mi = (long)nearbyint(m);
		int ex = e + 14;

		if (mi == 2048) {
			mi = 1024;
			ex++;
		}
		if (ex >= 31)
			return sign | 0x7C00;
		return sign | (uint16_t)(ex << 10) | (uint16_t)(mi & 0x3FF);
	}
}

/* A row (the last axis) at most this many elements; the whole tensor at
 * most 2^53. */
#define MAXROW (1 << 24)

static int parse_header(rows *r, const kva_rec *rec)
{
	const kva_jval *o = rec->root, *v;
	kva_err e;
	int64_t all = 1;
	int i = 0;

	if (strcmp(rec->type, "tensor"))
		rows_fail(r, rec->line, "type", "a tensor dump starts with "
			  "a \"tensor\" record");
	v = kva_json_get(o, "dtype");
	if (!v || v->t != KVA_JSTR || !(r->dtype = kva_dtype_parse(v->s)))
		rows_fail(r, rec->line, "dtype", "must be \"f16\" or \"f32\"");
	v = kva_json_get(o, "shape");
	if (!v || v->t != KVA_JARR || v->n < 1 || v->n > MAXDIM)
		rows_fail(r, rec->line, "shape", "must be an array of 1 to 8 "
			  "sizes");
	for (const kva_jval *x = v->child; x; x = x->next, i++)
		if (kva_json_int(x, "shape", &r->shape[i], &e) || r->shape[i] < 1)
			rows_fail(r, rec->line, "shape", "sizes must be "
				  "integers >= 1");
	r->ndim = i;
	if (r->shape[i - 1] > MAXROW)
		rows_fail(r, rec->line, "shape", "a row (the last axis) is at "
			  "most %d elements", MAXROW);
	for (i = 0; i < r->ndim; i++)
		if (__builtin_mul_overflow(all, r->shape[i], &all) ||
		    all > KVA_INT_LIMIT)
			rows_fail(r, rec->line, "shape", "the sizes multiply "
				  "past 2^53 elements");
	v = kva_json_get(o, "layout");
	snprintf(r->layout, sizeof r->layout, "%s",
		 v && v->t == KVA_JSTR ? v->s : "");
	v = kva_json_get(o, "rows");
	r->hashed = v && v->t == KVA_JSTR && !strcmp(v->s, "hash");
	r->rb = (size_t)r->shape[r->ndim - 1] * (r->dtype == KVA_DT_F16 ? 2 : 4);
	if (!(r->bytes = malloc(r->rb)))
		kva_die(2, "out of memory");
	return 0;
}

static void rows_open(rows *r, const char *path)
{
	char head[8] = { 0 };
	struct stat sb;
	kva_rec rec;
	kva_err e;
	int st, fd = 0;

	memset(r, 0, sizeof *r);
	r->name = strcmp(path, "-") ? path : "<stdin>";
	/* opened without blocking (a FIFO with no writer reads as empty);
	 * a regular file is a snapshot or a dump, a pipe or FIFO (a process
	 * substitution) a dump, anything else refused; the magic is sniffed
	 * only of a regular file: reading from a pipe would eat what the
	 * reader needs */
	if (strcmp(path, "-")) {
		if ((fd = kva_open_nonblock(path, &sb, &e)) < 0)
			rows_fail(r, 0, NULL, "%s", e.msg);
		if (S_ISREG(sb.st_mode)) {
			if (pread(fd, head, sizeof head, 0) == 8 &&
			    !memcmp(head, "KVASNAP", 8))
				r->is_snap = 1;
		} else if (!S_ISFIFO(sb.st_mode)) {
			close(fd);
			rows_fail(r, 0, NULL, "%s, not a snapshot or a tensor "
				  "dump", kva_file_kind(sb.st_mode));
		}
		if (r->is_snap)
			close(fd);
		else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK))
			rows_fail(r, 0, NULL, "%s", strerror(errno));
	}
	if (r->is_snap) {
		open_or_die(path, &r->s, 2);
		if (r->s.dtype_k != r->s.dtype_v)
			rows_fail(r, 0, "dtype_v", "K and V dtypes differ");
		r->ndim = 6;
		r->shape[0] = r->s.count;
		r->shape[1] = r->s.layers;
		r->shape[2] = 2;
		r->shape[3] = r->s.kv_heads;
		r->shape[4] = r->s.chunk_tokens;
		r->shape[5] = r->s.head_dim;
		r->dtype = r->s.dtype_k;
		snprintf(r->layout, sizeof r->layout, "chunk,layer,kv,head,row,dim");
		r->rb = (size_t)r->s.head_dim * kva_snap_esize(&r->s, 0);
		return;
	}
	if (kva_reader_open(&r->rd, "-", 0))
		exit(2);
	if (fd) {
		/* the reader reads the descriptor opened above */
		r->rd.fd = fd;
		r->rd.owned = 1;
		r->rd.name = r->name;
	}
	r->rd_open = 1;
	while ((st = kva_reader_next(&r->rd, &rec, &e)) != 0) {
		if (st == -2)
			exit(2); /* an I/O error, reported */
		if (st < 0) {
			kva_report_bad(&r->rd, rec.line, &e, 0);
			exit(2);
		}
		parse_header(r, &rec);
		return;
	}
	rows_fail(r, 0, NULL, "empty input: no tensor header");
}

static int idx_cmp(const int64_t *a, const int64_t *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/* Advance to the next row; 0 at the end. */
static int rows_next(rows *r)
{
	int nd = r->ndim - 1;
	kva_rec rec;
	kva_err e;
	int st;

	if (r->is_snap) {
		int64_t i = r->n, t, h, kv, l, k;
		size_t off;

		if (i >= r->s.count * r->s.layers * 2 * r->s.kv_heads *
		    r->s.chunk_tokens)
			return r->have = 0;
		t = i % r->s.chunk_tokens;
		i /= r->s.chunk_tokens;
		h = i % r->s.kv_heads;
		i /= r->s.kv_heads;
		kv = i % 2;
		i /= 2;
		l = i % r->s.layers;
		k = i / r->s.layers;
		r->idx[0] = k, r->idx[1] = l, r->idx[2] = kv, r->idx[3] = h;
		r->idx[4] = t;
		off = (size_t)(r->n % (r->s.layers * 2 * r->s.kv_heads *
				       r->s.chunk_tokens)) * r->rb;
		r->bytes = (unsigned char *)kva_snap_chunk(&r->s, k) + off;
		r->hashed = 0;
		r->n++;
		return r->have = 1;
	}
	while ((st = kva_reader_next(&r->rd, &rec, &e)) != 0) {
		const kva_jval *o, *v;
		int64_t prev[MAXDIM];
		int i = 0;

		if (st == -2)
			exit(2); /* an I/O error, reported */
		if (st < 0) {
			kva_out_flush(); /* the rows before it, as rows_fail */
			kva_report_bad(&r->rd, rec.line, &e, 0);
			exit(2);
		}
		if (!strcmp(rec.type, "tensor")) {
			/* checked as the first was, then refused */
			rows t = { .name = r->name };

			parse_header(&t, &rec);
			free(t.bytes);
			rows_fail(r, rec.line, "type", "a second tensor header; "
				  "an input holds one tensor");
		}
		if (strcmp(rec.type, "cells"))
			continue; /* other records pass by */
		o = rec.root;
		memcpy(prev, r->idx, sizeof prev);
		v = kva_json_get(o, "index");
		if (!v || v->t != KVA_JARR || (int)v->n != nd)
			rows_fail(r, rec.line, "index", "must be an array of %d "
				  "integers", nd);
		for (const kva_jval *x = v->child; x; x = x->next, i++)
			if (kva_json_int(x, "index", &r->idx[i], &e) ||
			    r->idx[i] < 0 || r->idx[i] >= r->shape[i])
				rows_fail(r, rec.line, "index", "out of the "
					  "shape");
		if (r->n && idx_cmp(prev, r->idx, nd) >= 0)
			rows_fail(r, rec.line, "index", "rows must come in "
				  "increasing index order");
		if ((v = kva_json_get(o, "hash"))) {
			char *end;

			if (v->t != KVA_JSTR || v->slen != 16)
				rows_fail(r, rec.line, "hash", "must be 16 "
					  "hex digits");
			errno = 0;
			r->hash = strtoull(v->s, &end, 16);
			if (*end || errno)
				rows_fail(r, rec.line, "hash", "must be 16 "
					  "hex digits");
			r->hashed = 1;
		} else if ((v = kva_json_get(o, "values"))) {
			size_t es = r->dtype == KVA_DT_F16 ? 2 : 4, j = 0;

			if (v->t != KVA_JARR ||
			    (int64_t)v->n != r->shape[r->ndim - 1])
				rows_fail(r, rec.line, "values", "must hold "
					  "one row of the last axis");
			for (const kva_jval *x = v->child; x; x = x->next, j++) {
				double d;

				if (kva_json_num(x, "values", &d, &e))
					rows_fail(r, rec.line, "values", "%s", e.msg);
				if (es == 2) {
					uint16_t hb = to_half(d);

					memcpy(r->bytes + j * 2, &hb, 2);
				} else {
					float f = (float)d;

					memcpy(r->bytes + j * 4, &f, 4);
				}
			}
			r->hashed = 0;
		} else {
			rows_fail(r, rec.line, "values", "a cells record "
				  "needs values or hash");
		}
		r->n++;
		return r->have = 1;
	}
	return r->have = 0;
}

static void rows_close(rows *r)
{
	if (r->is_snap)
		kva_snap_close(&r->s);
	else
		free(r->bytes);
	if (r->rd_open)
		kva_reader_close(&r->rd);
}

/* ---- dump ------------------------------------------------------------ */

static void put_value(kva_buf *b, int dtype, const unsigned char *p)
{
	if (dtype == KVA_DT_F16) {
		uint16_t h;

		memcpy(&h, p, 2);
		kva_buf_printf(b, "%.9g", kva_half_to_double(h));
	} else {
		float f;

		memcpy(&f, p, 4);
		kva_buf_printf(b, "%.9g", (double)f);
	}
}

static int cmd_dump(const char *path, int values)
{
	rows r;
	kva_buf b = { 0 };
	size_t es;

	rows_open(&r, path);
	es = r.dtype == KVA_DT_F16 ? 2 : 4;
	kva_buf_printf(&b, "{\"type\":\"tensor\",\"name\":\"kv\",\"dtype\":\"%s\","
		       "\"shape\":[", kva_dtype_name(r.dtype));
	for (int i = 0; i < r.ndim; i++)
		kva_buf_printf(&b, "%s%lld", i ? "," : "", (long long)r.shape[i]);
	kva_buf_puts(&b, "],\"layout\":");
	kva_buf_jstr(&b, r.layout, strlen(r.layout));
	kva_buf_printf(&b, ",\"source\":\"kv-snapshot\",\"rows\":\"%s\","
		       "\"sparse\":false", values ? "values" : "hash");
	if (r.is_snap)
		kva_buf_printf(&b, ",\"cur_pos\":%lld", (long long)r.s.cur_pos);
	kva_buf_puts(&b, "}");
	kva_out_record(&b);
	while (rows_next(&r)) {
		kva_buf_puts(&b, "{\"type\":\"cells\",\"name\":\"kv\",\"index\":[");
		for (int i = 0; i < r.ndim - 1; i++)
			kva_buf_printf(&b, "%s%lld", i ? "," : "", (long long)r.idx[i]);
		kva_buf_puts(&b, "],");
		if (values && r.hashed)
			rows_fail(&r, r.rd.line, "values", "this dump has "
				  "only row hashes");
		if (values) {
			kva_buf_puts(&b, "\"values\":[");
			for (size_t j = 0; j < r.rb / es; j++) {
				if (j)
					kva_buf_putc(&b, ',');
				put_value(&b, r.dtype, r.bytes + j * es);
			}
			kva_buf_puts(&b, "]}");
		} else {
			kva_buf_printf(&b, "\"hash\":\"%016llx\"}", (unsigned long long)
				       (r.hashed ? r.hash : kva_fnv1a(r.bytes, r.rb)));
		}
		kva_out_record(&b);
	}
	kva_buf_free(&b);
	rows_close(&r);
	return 0;
}

/* ---- diff ------------------------------------------------------------ */

static int cmd_diff(const char *pa, const char *pb)
{
	rows a, b;
	kva_buf o = { 0 };
	int64_t ndiff = 0, compared = 0, first[MAXDIM], fdim = -1;
	unsigned char *zero;
	int nd, have_first = 0;

	if (!strcmp(pa, "-") && !strcmp(pb, "-"))
		kva_die(2, "diff: only one side can be standard input");
	rows_open(&a, pa);
	rows_open(&b, pb);
	if (a.ndim != b.ndim || a.dtype != b.dtype ||
	    memcmp(a.shape, b.shape, sizeof a.shape)) {
		kva_buf_printf(&o, "{\"type\":\"diff\",\"equal\":false,\"reason\":"
			       "\"the tensors differ in dtype or shape\"}");
		kva_out_record(&o);
		kva_buf_free(&o);
		rows_close(&a);
		rows_close(&b);
		return 1;
	}
	nd = a.ndim - 1;
	if (!(zero = calloc(1, a.rb)))
		kva_die(2, "out of memory");
	rows_next(&a);
	rows_next(&b);
	while (a.have || b.have) {
		int c = !a.have ? 1 : !b.have ? -1 : idx_cmp(a.idx, b.idx, nd);
		const int64_t *at = c <= 0 ? a.idx : b.idx;
		int differ, dim = -1;
		/* a side without this row has a zero row (sparse dumps) */
		int ha = c <= 0 ? a.hashed : 0, hb = c >= 0 ? b.hashed : 0;
		const unsigned char *ba = c <= 0 ? a.bytes : zero;
		const unsigned char *bb = c >= 0 ? b.bytes : zero;
		uint64_t xa = ha ? a.hash : kva_fnv1a(ba, a.rb);
		uint64_t xb = hb ? b.hash : kva_fnv1a(bb, b.rb);

		if (!ha && !hb) {
			differ = memcmp(ba, bb, a.rb) != 0;
			if (differ) {
				size_t es = a.dtype == KVA_DT_F16 ? 2 : 4;

				for (dim = 0; !memcmp(ba + (size_t)dim * es,
						      bb + (size_t)dim * es, es);
				     dim++)
					;
			}
		} else {
			differ = xa != xb;
		}
		compared++;
		if (differ) {
			if (!have_first) {
				memcpy(first, at, sizeof first);
				fdim = dim;
				have_first = 1;
			}
			ndiff++;
		}
		if (c <= 0)
			rows_next(&a);
		if (c >= 0)
			rows_next(&b);
	}
	kva_buf_printf(&o, "{\"type\":\"diff\",\"equal\":%s,\"rows\":%lld,"
		       "\"rows_differ\":%lld", ndiff ? "false" : "true",
		       (long long)compared, (long long)ndiff);
	if (have_first) {
		char lay[160], *save = NULL, *tok;
		int i = 0;

		kva_buf_puts(&o, ",\"first\":{");
		snprintf(lay, sizeof lay, "%s", a.layout);
		for (tok = strtok_r(lay, ",", &save); tok && i < nd;
		     tok = strtok_r(NULL, ",", &save), i++) {
			kva_buf_jstr(&o, tok, strlen(tok));
			if (!strcmp(tok, "kv") && nd >= 3)
				kva_buf_printf(&o, ":\"%s\",", first[i] ? "V" : "K");
			else
				kva_buf_printf(&o, ":%lld,", (long long)first[i]);
		}
		for (; i < nd; i++)
			kva_buf_printf(&o, "\"axis%d\":%lld,", i, (long long)first[i]);
		if (fdim >= 0)
			kva_buf_printf(&o, "\"dim\":%lld,", (long long)fdim);
		kva_buf_puts(&o, "\"index\":[");
		for (i = 0; i < nd; i++)
			kva_buf_printf(&o, "%s%lld", i ? "," : "", (long long)first[i]);
		kva_buf_puts(&o, "]}");
	}
	kva_buf_puts(&o, "}");
	kva_out_record(&o);
	kva_buf_free(&o);
	free(zero);
	rows_close(&a);
	rows_close(&b);
	return ndiff ? 1 : 0;
}

/* ---- main ------------------------------------------------------------ */

enum { O_REGEN = 256, O_VALUES, O_POOL, O_SINK, O_TAIL, O_POLICY, O_VERIFY,
       O_NOROUTES, O_VERSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "regen", no_argument, NULL, O_REGEN },
		{ "values", no_argument, NULL, O_VALUES },
		{ "pool-tokens", required_argument, NULL, O_POOL },
		{ "sink-chunks", required_argument, NULL, O_SINK },
		{ "tail-chunks", required_argument, NULL, O_TAIL },
		{ "policy", required_argument, NULL, O_POLICY },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "no-routes", no_argument, NULL, O_NOROUTES },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	const char *sub, *errstr;
	kva_pool_conf conf;
	int c, regen = 0, values = 0, verify = 0, routes = 1, rc, pool_set = 0;
	int64_t v;

	kva_progname = "kv-snapshot";
	kva_pool_conf_default(&conf);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(sub, "--version")) {
		printf("kv-snapshot %s\n", KVA_VERSION);
		return 0;
	}
	if (!strcmp(sub, "store") || !strcmp(sub, "load") || !strcmp(sub, "gc"))
		return kva_pcache_main(sub, argc - 1, argv + 1);
	if (strcmp(sub, "inspect") && strcmp(sub, "verify") &&
	    strcmp(sub, "restore") && strcmp(sub, "dump") && strcmp(sub, "diff")) {
		kva_warnx("unknown subcommand \"%s\"", sub);
		usage(stderr);
		return 2;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_REGEN: regen = 1; break;
		case O_VALUES: values = 1; break;
		case O_VERIFY: verify = 1; break;
		case O_NOROUTES: routes = 0; break;
		case O_POOL:
		case O_SINK:
		case O_TAIL:
			if (kva_parse_i64(optarg, c == O_POOL ? 1 : 0, c == O_POOL ?
					  KVA_INT_LIMIT : INT32_MAX, &v, &errstr))
				kva_die(2, "--%s: value is %s: %s", c == O_POOL ?
					"pool-tokens" : c == O_SINK ? "sink-chunks" :
					"tail-chunks", errstr, optarg);
			if (c == O_POOL)
				conf.pool_tokens = v, pool_set = 1;
			else if (c == O_SINK)
				conf.sink_chunks = v;
			else
				conf.tail_chunks = v;
			break;
		case O_POLICY:
			if ((conf.policy = kva_policy_parse(optarg)) < 0)
				kva_die(2, "--policy: want lru or score, not %s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("kv-snapshot %s\n", KVA_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != (!strcmp(sub, "diff") ? 2 : 1)) {
		kva_warnx("%s: want %s", sub, !strcmp(sub, "diff") ?
			  "two inputs, A and B" : "one file");
		usage(stderr);
		return 2;
	}
	if ((regen && strcmp(sub, "verify")) || (values && strcmp(sub, "dump")) ||
	    ((verify || !routes || pool_set) && strcmp(sub, "restore"))) {
		kva_warnx("%s: an option given does not apply", sub);
		usage(stderr);
		return 2;
	}
	if (!strcmp(sub, "restore") && !pool_set)
		kva_die(2, "restore: --pool-tokens is required");
	kva_out_init(0);
	if (!strcmp(sub, "inspect"))
		rc = cmd_inspect(argv[0]);
	else if (!strcmp(sub, "verify"))
		rc = cmd_verify(argv[0], regen);
	else if (!strcmp(sub, "restore"))
		rc = cmd_restore(&conf, argv[0], verify, routes);
	else if (!strcmp(sub, "dump"))
		rc = cmd_dump(argv[0], values);
	else
		rc = cmd_diff(argv[0], argv[1]);
	if (kva_out_close())
		rc = 2;
	return rc;
}
