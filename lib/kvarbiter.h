/*
 * kvarbiter.h - the shared library behind every kvarbiter tool.
 *
 * One concern per file in lib/; this header is their whole public face.
 * Exported symbols carry the kva_ prefix.  Unless a comment says otherwise,
 * functions return 0 on success and -1 on failure, and a failure has already
 * been reported (or is described in the kva_err the caller passed).
 */
#ifndef KVARBITER_H
#define KVARBITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KVA_VERSION "0.1.0"

/* Exit status, the same in every tool (SPEC section 2). */
enum {
	KVA_EXIT_OK = 0,      /* success, PASS */
	KVA_EXIT_NEGATIVE = 1,/* the check's negative answer */
	KVA_EXIT_TROUBLE = 2, /* usage, bad input, I/O */
	KVA_EXIT_FLAG = 3     /* audit-verdict FLAG */
};

/* Largest integer magnitude accepted from JSON or options: 2^53. */
#define KVA_INT_LIMIT 9007199254740992LL

/* ---- errors (lib/err.c) ---------------------------------------------- */

/* The running tool's name, used as the prefix of every diagnostic. */
extern const char *kva_progname;

/* A diagnostic being built: the field it is about (may be NULL) and text. */
typedef struct kva_err {
	const char *field; /* name of the offending field, or NULL */
	char msg[256];     /* lower case, no full stop */
	long line, col;    /* where in the parsed text a JSON syntax error is
			    * (1-based; col within that line), 0 when the
			    * error has no such position */
} kva_err;

/* Fill e (if non-NULL) with a formatted message about field (line and col
 * 0); returns -1. */
int kva_errf(kva_err *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "TOOL: message" on stderr. */
void kva_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "TOOL: message" on stderr, then exit(status). */
_Noreturn void kva_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- growable byte buffer (lib/buf.c) -------------------------------- */

typedef struct kva_buf {
	char *p;    /* bytes; always NUL-terminated when len > 0 or p != NULL */
	size_t len; /* bytes in use */
	size_t cap; /* bytes allocated */
} kva_buf;

/* Appenders abort the process with exit 2 on out-of-memory: a tool that
 * cannot grow a record buffer cannot produce correct output anyway. */
void kva_buf_put(kva_buf *b, const void *p, size_t n);
void kva_buf_puts(kva_buf *b, const char *s);
void kva_buf_putc(kva_buf *b, int c);
void kva_buf_printf(kva_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void kva_buf_i64(kva_buf *b, int64_t v);
/* The shortest %g that reads back as v; null for NaN and infinities. */
void kva_buf_num(kva_buf *b, double v);
/* Append s (n bytes, may hold NUL) as a JSON string literal with quotes. */
void kva_buf_jstr(kva_buf *b, const char *s, size_t n);
void kva_buf_free(kva_buf *b); /* accepts a zeroed buffer */

/* ---- the data directory (lib/data.c) --------------------------------- */

/* Where the prompts, the replay corpus and the candidate corpus are:
 * $KVARBITER_DATA when set and not empty (exit 2 when it is not a
 * directory), else ./fixtures when it exists (a checkout), else
 * ../share/kvarbiter beside the running binary (PREFIX/bin installed). */
const char *kva_datadir(void);
/* "DATADIR/sub" into buf[n], exit 2 when it does not fit; returns buf. */
char *kva_data_path(char *buf, size_t n, const char *sub);

/* ---- timestamps (lib/db.c) -------------------------------------------- */

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC) into buf[21]: $KVA_NOW when set and not
 * empty (for reproducible stores and tests), else the clock.  Returns 0,
 * or -1 with e when KVA_NOW is not a real time of exactly that form. */
int kva_timestamp(char buf[21], kva_err *e);

/* ---- SHA-256 (lib/sha256.c) ------------------------------------------ */

/* Lower-case hex SHA-256 of data[0..n) into out (64 digits + NUL). */
void kva_sha256_hex(const void *data, size_t n, char out[65]);

/* ---- set of 64-bit hashes (lib/hset.c) ------------------------------- */

typedef struct kva_hset {
	uint64_t *h;  /* slots; 0 = empty */
	size_t cap;   /* power of two */
	size_t n;     /* members */
} kva_hset;
int kva_hset_add(kva_hset *s, uint64_t h); /* 1 if new, 0 if present */
void kva_hset_free(kva_hset *s);           /* accepts a zeroed set */

/* ---- JSON values (lib/json.c) ---------------------------------------- */

typedef enum {
	KVA_JNULL, KVA_JFALSE, KVA_JTRUE, KVA_JNUM, KVA_JSTR, KVA_JARR, KVA_JOBJ
} kva_jtype;

/*
 * A parsed JSON value.  Every value lives in the arena of the parse that
 * made it and dies with the next parse.  Numbers and strings keep their
 * exact source text (raw) so a record can be copied without rounding.
 */
typedef struct kva_jval {
	kva_jtype t;
	const char *raw;       /* source text of the token (numbers, strings) */
	size_t rawlen;
	const char *s;         /* decoded string, NUL-terminated (KVA_JSTR) */
	size_t slen;           /* decoded length; may include NUL bytes */
	const char *key;       /* decoded member name when inside an object */
	size_t keylen;
	struct kva_jval *child;/* first element / member */
	struct kva_jval *next; /* next sibling */
	size_t n;              /* number of elements / members */
} kva_jval;

/* Bump allocator reused record after record: memory ~ largest record. */
typedef struct kva_arena {
	struct kva_arena_blk *head;
	size_t used_total;
} kva_arena;
void kva_arena_reset(kva_arena *a);
void kva_arena_free(kva_arena *a);

/*
 * Parse exactly one JSON value from s[0..n) (whitespace around it allowed,
 * anything else after it is "trailing garbage").  Returns the root or NULL
 * with e filled: e->msg says what and at which column of its line, and a
 * syntax error sets e->line and e->col (a duplicate member leaves them 0).
 */
kva_jval *kva_json_parse(kva_arena *a, const char *s, size_t n, kva_err *e);

/* Options of kva_json_parse_opt. */
enum {
	/* NaN, Infinity and -Infinity, bare as Python's json module writes
	 * them, are numbers: raw holds the word, kva_json_num gives the
	 * value and kva_json_int refuses it (kva_json_nonfinite tells them) */
	KVA_JSON_NONFINITE = 1
};
kva_jval *kva_json_parse_opt(kva_arena *a, const char *s, size_t n,
			     unsigned flags, kva_err *e);
/* 1 if v is a NaN, Infinity or -Infinity word (KVA_JSON_NONFINITE). */
int kva_json_nonfinite(const kva_jval *v);

/* Member of an object by exact (case-sensitive) name, or NULL. */
const kva_jval *kva_json_get(const kva_jval *obj, const char *key);

/*
 * Exact integer from a number token: rejects fractions, exponents that do
 * not yield an integer, and magnitudes beyond 2^53.  Never rounds.
 * Returns 0, or -1 with e naming field.
 */
int kva_json_int(const kva_jval *v, const char *field, int64_t *out, kva_err *e);
/* The value as a double (any JSON number). */
int kva_json_num(const kva_jval *v, const char *field, double *out, kva_err *e);

/* Append v compactly to b (numbers and strings byte-exact from source). */
void kva_json_write(kva_buf *b, const kva_jval *v);
/* The same, but strings decoded and re-escaped (only ", \ and control
 * bytes escaped): a canonical form, e.g. for hashing. */
void kva_json_write_canon(kva_buf *b, const kva_jval *v);

/* ---- JSONL records in and out (lib/jsonl.c) --------------------------- */

#define KVA_MAX_RECORD_DEFAULT (16u << 20)

/* Options of a reader: set r->flags after kva_reader_open. */
enum {
	KVA_READ_UNTYPED = 1,   /* a record may lack "type" (rec->type NULL) */
	KVA_READ_NONFINITE = 2, /* NaN, Infinity and -Infinity are numbers
				 * (KVA_JSON_NONFINITE) in a record that
				 * needs them: see kva_rec.nonfinite */
	KVA_READ_DOCUMENT = 4   /* a first non-blank line that is a lone "{"
				 * or "[" opens a pretty-printed document:
				 * the rest of the input is that one record */
};

typedef struct kva_reader {
	const char *name;    /* for diagnostics: the operand, or "<stdin>" */
	int fd;
	int owned;           /* close fd at kva_reader_close */
	long line;           /* line number of the record last returned */
	size_t max_record;   /* bytes per line before it is refused */
	unsigned flags;      /* KVA_READ_* */
	char *rbuf;          /* read buffer */
	size_t rpos, rlen, rcap;
	int eof;
	int skip;            /* the rest of an oversized line is unread */
	int started;         /* a record (or a bad one) was returned */
	int done;            /* a document was returned: nothing follows */
	kva_buf lbuf;        /* current line */
	kva_buf doc;         /* a document's text (KVA_READ_DOCUMENT) */
	size_t *nl, nnl, nlcap; /* offsets of the newlines in doc */
	kva_arena arena;
} kva_reader;

/* One record: its root object, type, and raw text (CR/LF stripped). */
typedef struct kva_rec {
	const kva_jval *root;
	const char *type;     /* value of "type" (NULL: none, KVA_READ_UNTYPED) */
	const char *text;     /* the line, as read (without line end), or the
			       * document (its lines joined by '\n') */
	size_t len;
	long line;            /* of its first byte; of a bad record, of the
			       * error (a syntax error inside a document: its line) */
	const size_t *nl;     /* a document: offsets of its newlines in text */
	size_t nnl;
	int nonfinite;        /* KVA_READ_NONFINITE: the record parsed only
			       * with NaN/Infinity as numbers; strict is
			       * what the strict parser said about it */
	kva_err strict;
} kva_rec;

/* Line of the byte at p inside rec->text (rec->line for a single line). */
long kva_rec_line(const kva_rec *rec, const char *p);

/* Open path ("-" = stdin).  On failure prints "TOOL: PATH: strerror". */
int kva_reader_open(kva_reader *r, const char *path, size_t max_record);
void kva_reader_close(kva_reader *r);

/*
 * Next record.  Returns 1 and fills rec, 0 at end of input, -1 on a bad
 * record (rec->line is set; e says why and names the field).  Blank lines
 * are skipped; a line may end in CRLF.  After -1 the reader can go on
 * (after a bad document there is nothing more).  Returns -2 on an I/O
 * error (already reported).
 */
int kva_reader_next(kva_reader *r, kva_rec *rec, kva_err *e);

/*
 * The next line, as it is, into r->lbuf (without its '\n'; r->line is its
 * number): 1 for a line, 0 at end of input, -1 for a line longer than
 * max_record, -2 on an I/O error (reported).  An oversized line is
 * refused as soon as it passes max_record; its rest is skipped when the
 * next line is asked for, up to 16 times max_record (at least 64 MiB):
 * a line that goes on past that may never end (/dev/zero), and is -2
 * (reported) with the rest of the input unread.
 */
int kva_reader_line(kva_reader *r);

/* Output: records go through a buffered writer on stdout. */
void kva_out_init(int unbuffered);
/* Write b as one record line (adds '\n'); clears b. */
void kva_out_record(kva_buf *b);
/* Write an already serialised line verbatim (pass-through). */
void kva_out_line(const char *s, size_t n);
/* Flush; returns 0, or -1 after reporting a write error. */
int kva_out_flush(void);
/* Flush and close stdout; reports a write error and returns -1. */
int kva_out_close(void);

/*
 * Report a bad record: "TOOL: FILE:LINE: field "F": message" on stderr, or
 * with keep_going an {"type":"error",...} record on stdout.
 */
void kva_report_bad(const kva_reader *r, long line, const kva_err *e,
		    int keep_going);

/* ---- command line (lib/cli.c) ---------------------------------------- */

/*
 * strtonum-style parser: the whole string must be a decimal integer in
 * [min, max].  Returns 0, or -1 with *errstr set to "invalid",
 * "too small" or "too large".
 */
int kva_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
		  const char **errstr);
int kva_parse_double(const char *s, double *out, const char **errstr);
/* Size with optional K, M, G suffix (powers of 1024). */
int kva_parse_size(const char *s, size_t *out, const char **errstr);

/*
 * The options every filter shares.  A tool maps those it offers to these
 * ids in its getopt_long table and hands every option its own switch does
 * not know to kva_stdopt, which records them, prints help (usage to
 * stdout, exit 0) or the version (exit 0), and for anything else prints
 * usage to stderr and exits 2.
 */
enum { KVA_OPT_VERSION = 0x1000, KVA_OPT_KEEP, KVA_OPT_MAXREC, KVA_OPT_UNBUF,
       KVA_OPT_PROGRESS, KVA_OPT_QUIET };
typedef struct kva_stdopts {
	int keep_going, unbuffered, progress, quiet;
	size_t max_record; /* 0: the reader's default */
} kva_stdopts;
void kva_stdopt(int c, const char *arg, kva_stdopts *so, void (*usage)(FILE *));

/* Progress on stderr: shown when stderr is a terminal, or forced. */
typedef struct kva_progress {
	int on;
	double last;
	const char *what;
} kva_progress;
void kva_progress_init(kva_progress *p, const char *what, int force, int quiet);
void kva_progress_tick(kva_progress *p, uint64_t done);
void kva_progress_done(kva_progress *p, uint64_t done);
double kva_now(void); /* monotonic seconds */

/* ---- seeded PRNG (lib/rng.c) ----------------------------------------- */

/* xoshiro256** seeded by splitmix64: same seed, same stream, everywhere. */
typedef struct kva_rng { uint64_t s[4]; } kva_rng;
void kva_rng_seed(kva_rng *r, uint64_t seed);
uint64_t kva_rng_u64(kva_rng *r);
/* A fresh seed from the kernel's random source (getrandom), below 2^53
 * so it stays an exact JSON integer; the clock and pid if that fails. */
uint64_t kva_fresh_seed(void);
/* Uniform in [lo, hi] inclusive, unbiased; requires lo <= hi. */
int64_t kva_rng_range(kva_rng *r, int64_t lo, int64_t hi);

/* ---- checked int64 arithmetic (lib/route.c) -------------------------- */

/* Floor division and the matching modulo (sign of m; non-negative for
 * m > 0).  m must not be 0. */
static inline int64_t kva_floordiv(int64_t a, int64_t m)
{
	int64_t q = a / m;
	if ((a % m != 0) && ((a < 0) != (m < 0)))
		q--;
	return q;
}
static inline int64_t kva_floormod(int64_t a, int64_t m)
{
	int64_t r = a % m;
	if (r != 0 && ((r < 0) != (m < 0)))
		r += m;
	return r;
}

/* ---- routing oracles (lib/route.c, lib/expr.c, lib/gen.c) ------------- */

#define KVA_MAX_IN 8
#define KVA_MAX_TAB 4
#define KVA_MAX_OUT 4

/* An integer table (block table, kv_indptr, ...).  Values fit in int32. */
typedef struct kva_table {
	int64_t *v;
	size_t n;
} kva_table;

/* The inputs of one query, in the oracle's declared order. */
typedef struct kva_args {
	int64_t in[KVA_MAX_IN];
	kva_table tab[KVA_MAX_TAB];
} kva_args;

enum {
	KVA_ROUTED = 0,   /* out[] holds the coordinates */
	KVA_UNMAPPED = 1, /* no cell owns this token: it must not be written */
	KVA_PADDING = 2   /* padding token (slot -1): no write */
};

typedef struct kva_route {
	int status;
	int64_t out[KVA_MAX_OUT];
} kva_route;

struct kva_formula; /* lib/expr.c: a parsed formula file */

typedef struct kva_oracle {
	const char *name;
	int nin;
	const char *in[KVA_MAX_IN];   /* scalar input names */
	int ntab;
	const char *tab[KVA_MAX_TAB]; /* table input names */
	int nout;
	const char *out[KVA_MAX_OUT]; /* output names, in ABI order */
	/* Compiled path (NULL for a user formula): validate and route in one,
	 * same contract as kva_oracle_eval. */
	int (*eval)(const struct kva_args *a, kva_route *r, kva_err *e);
	const char *formula_text;     /* the formula, in the expression language */
	struct kva_formula *f;        /* parsed formula (lazily for built-ins) */
} kva_oracle;

/* The built-in oracles' formulas, in the expression language (lib/formulas.c). */
extern const char kva_formula_radix_1d[], kva_formula_radix_2d[],
	kva_formula_paged[], kva_formula_paged_ring[], kva_formula_flashinfer[],
	kva_formula_rolling[];

/* Built-in oracles, NULL-terminated, and lookup by name (NULL if none). */
extern const kva_oracle *const kva_oracles[];
const kva_oracle *kva_oracle_find(const char *name);

/*
 * Validate and route a through oracle o: the compiled path when o has one,
 * else the formula.  Returns 0 with r filled, or -1 with e naming the
 * field that makes the query invalid.
 */
int kva_oracle_eval(const kva_oracle *o, const kva_args *a, kva_route *r,
		    kva_err *e);

/* ---- the expression language (lib/expr.c) ----------------------------- */

/*
 * Parse a formula file's text.  Returns NULL with e filled ("LINE:COL:
 * message").
 */
struct kva_formula *kva_formula_parse(const char *text, size_t len, kva_err *e);
void kva_formula_free(struct kva_formula *f);
/* Fill o (all fields but eval, which is NULL) from f; o->f = f. */
int kva_formula_oracle(struct kva_formula *f, kva_oracle *o, kva_err *e);
/* Evaluate the formula: same contract as kva_oracle_eval. */
int kva_formula_eval(const struct kva_formula *f, const kva_args *a,
		     kva_route *r, kva_err *e);
/* Write the formula back in canonical form. */
void kva_formula_print(const struct kva_formula *f, FILE *fp);
/* The parsed formula of o (parsing a built-in's text on first use). */
struct kva_formula *kva_oracle_formula(const kva_oracle *o, kva_err *e);

/* ---- case generators (lib/gen.c) --------------------------------------- */

/* Called once per generated (valid) query; non-zero return stops. */
typedef int (*kva_emit_fn)(void *ctx, const kva_oracle *o, const kva_args *a);

typedef struct kva_gen_opts {
	int64_t num_heads;   /* heads 0..num_heads-1 appear (default 8) */
	uint64_t seed;
	int kernel;          /* for a kernel's trap: no case whose block
	                        alone outgrows a cache (flashinfer's pages
	                        of 2^30 tokens and more) */
} kva_gen_opts;

/* ImpactArbiter's fixture queries for built-in oracle o (none for user
 * formulas), kept in fixtures/boundaries/ and built into the library. */
int kva_gen_fixtures(const kva_oracle *o, kva_emit_fn emit, void *ctx,
		     kva_err *e);
/* Boundary cases derived from o's formula AST (SPEC section 3). */
int kva_gen_boundaries(const kva_oracle *o, const kva_gen_opts *opt,
		       kva_emit_fn emit, void *ctx, kva_err *e);
/* Full grid of SPEC "name=lo:hi,..." (inclusive:exclusive). */
int kva_gen_sweep(const kva_oracle *o, const char *spec,
		  const kva_gen_opts *opt, kva_emit_fn emit, void *ctx,
		  kva_err *e);
/*
 * The scalar inputs that, with the tables, fix the cache a token routes
 * into (bit i set for input i): its block and ring sizes, read off the
 * formula's div/mod divisors.  The rest (positions, heads, batch) pick the
 * token.  Two cases whose world inputs and tables are equal share a cache.
 */
int kva_oracle_world(const kva_oracle *o, unsigned *mask, kva_err *e);
/* n seeded random valid queries. */
int kva_gen_random(const kva_oracle *o, uint64_t n, const kva_gen_opts *opt,
		   kva_emit_fn emit, void *ctx, kva_err *e);

/* ---- queries and cases as JSON (lib/route.c) -------------------------- */

/* Owned storage for the tables of parsed queries, reused record to record. */
typedef struct kva_tabstore {
	int64_t *v[KVA_MAX_TAB];
	size_t cap[KVA_MAX_TAB];
} kva_tabstore;
void kva_tabstore_free(kva_tabstore *ts);

/*
 * Read o's inputs from a record: every scalar an exact integer, every
 * table an array of integers in [0, 2^31-1].  Returns 0, or -1 with e
 * naming the field ("block_table[3]" for a bad element).  Does not
 * validate the query (kva_oracle_eval does).
 */
int kva_args_from_json(const kva_oracle *o, const kva_jval *rec, kva_args *a,
		       kva_tabstore *ts, kva_err *e);
/* Append ,"name":value for every input of o (tables as arrays). */
void kva_args_write(kva_buf *b, const kva_oracle *o, const kva_args *a);
/* Append the expect object of r: {"block":..}, {"unmapped":true} or
 * {"slot":-1} for padding. */
void kva_route_write(kva_buf *b, const kva_oracle *o, const kva_route *r);

#endif
