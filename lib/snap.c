/*
 * snap.c - pool snapshots: the strict reader, the atomic writer, restore
 * (the format and the contract are in snap.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "snap.h"

static const unsigned char magic[8] = "KVASNAP";   /* + NUL */
static const unsigned char endmagic[8] = "KVASEND"; /* + NUL */

/* ---- little-endian fields -------------------------------------------- */

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void wr64(unsigned char *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

uint64_t kva_fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static size_t esize(int dtype)
{
	return dtype == KVA_DT_F16 ? 2 : 4;
}

size_t kva_snap_esize(const kva_snap *s, int kv)
{
	return esize(kv ? s->dtype_v : s->dtype_k);
}

/* layers * kv_heads * C * D * (esize K + esize V), or 0 on overflow. */
static uint64_t layout_bytes(uint64_t layers, uint64_t heads, uint64_t C,
			     uint64_t D, uint64_t es)
{
	uint64_t n;

	if (__builtin_mul_overflow(layers, heads, &n) ||
	    __builtin_mul_overflow(n, C, &n) ||
	    __builtin_mul_overflow(n, D, &n) ||
	    __builtin_mul_overflow(n, es, &n))
		return 0;
	return n;
}

/* ---- the reader ------------------------------------------------------ */

const unsigned char *kva_snap_chunk(const kva_snap *s, int64_t k)
{
	return s->chunks + (size_t)k * s->chunk_bytes;
}

int64_t kva_snap_chunk_tokens(const kva_snap *s, int64_t k)
{
	int64_t n = s->cur_pos - k * s->chunk_tokens;

	return n < 0 ? 0 : n > s->chunk_tokens ? s->chunk_tokens : n;
}

void kva_snap_entry_get(const kva_snap *s, int64_t k, kva_snap_entry *out)
{
	const unsigned char *p;
	uint64_t bits;

	memset(out, 0, sizeof *out);
	if (!s->ledger) {
		out->flags = KVA_SE_RESIDENT;
		out->last_use = (uint64_t)k + 1;
		return;
	}
	p = s->ledger + (size_t)k * KVA_SNAP_ENTRY;
	out->flags = p[0];
	bits = rd64(p + 8);
	memcpy(&out->score, &bits, 8);
	out->last_use = rd64(p + 16);
	out->checksum = rd64(p + 24);
}

/* Within chunk k, are the rows past cur_pos all zero? */
static int tail_zero(const kva_snap *s, int64_t k)
{
	int64_t used = kva_snap_chunk_tokens(s, k), C = s->chunk_tokens;
	const unsigned char *c = kva_snap_chunk(s, k);
	size_t off = 0;

	if (used == C)
		return 1;
	for (int64_t l = 0; l < s->layers; l++)
		for (int kv = 0; kv < 2; kv++) {
			size_t rb = (size_t)s->head_dim * kva_snap_esize(s, kv);

			for (int64_t h = 0; h < s->kv_heads; h++) {
				if (!all_zero(c + off + (size_t)used * rb,
					      (size_t)(C - used) * rb))
					return 0;
				off += (size_t)C * rb;
			}
		}
	return 1;
}

int kva_snap_parse(const void *img, size_t n, kva_snap *s, kva_err *e)
{
	const unsigned char *b = img;
	uint64_t v, want, per, body, total;
	XXH3_state_t *st;
	int bad = 0;

	memset(s, 0, sizeof *s);
	if (memcmp(b, magic, n < 8 ? n : 8))
		return kva_errf(e, "magic", "bad magic: not a kvarbiter "
				"snapshot");
	if (n < KVA_SNAP_HEADER)
		return kva_errf(e, "header", "truncated header: %zu bytes, a "
				"header is %d", n, KVA_SNAP_HEADER);
	s->version = rd32(b + 8);
	if (s->version != KVA_SNAP_VERSION)
		return kva_errf(e, "version", "unsupported version %u (this "
				"reader knows %d)", s->version,
				KVA_SNAP_VERSION);
	s->header_sum = rd64(b + 72);
	if (XXH3_64bits(b, 72) != s->header_sum)
		return kva_errf(e, "header_checksum", "header checksum "
				"mismatch");
	s->flags = rd32(b + 12);
	if (s->flags & ~(uint32_t)(KVA_SNAP_LEDGER | KVA_SNAP_PARTIAL))
		return kva_errf(e, "flags", "unknown flag bits 0x%x",
				s->flags & ~(uint32_t)(KVA_SNAP_LEDGER |
						       KVA_SNAP_PARTIAL));
	s->layers = rd32(b + 16);
	s->kv_heads = rd32(b + 20);
	s->head_dim = rd32(b + 24);
	s->dtype_k = b[28];
	s->dtype_v = b[29];
	s->chunk_tokens = rd32(b + 32);
	if (s->layers < 1 || s->layers > (1 << 16))
		return kva_errf(e, "layers", "%lld is not in [1, 65536]",
				(long long)s->layers);
	if (s->kv_heads < 1 || s->kv_heads > (1 << 16))
		return kva_errf(e, "kv_heads", "%lld is not in [1, 65536]",
				(long long)s->kv_heads);
	if (s->head_dim < 1 || s->head_dim > (1 << 16))
		return kva_errf(e, "head_dim", "%lld is not in [1, 65536]",
				(long long)s->head_dim);
	if (s->chunk_tokens < 1 || s->chunk_tokens > (1 << 20))
		return kva_errf(e, "chunk_tokens", "%lld is not in [1, 1048576]",
				(long long)s->chunk_tokens);
	if (s->dtype_k != KVA_DT_F16 && s->dtype_k != KVA_DT_F32)
		return kva_errf(e, "dtype_k", "unknown dtype %d (1 f16, 2 f32)",
				s->dtype_k);
	if (s->dtype_v != KVA_DT_F16 && s->dtype_v != KVA_DT_F32)
		return kva_errf(e, "dtype_v", "unknown dtype %d (1 f16, 2 f32)",
				s->dtype_v);
	if ((s->dtype_k == KVA_DT_F16 || s->dtype_v == KVA_DT_F16) &&
	    s->head_dim % 2)
		return kva_errf(e, "head_dim", "%lld is odd; f16 rows are whole "
				"32-bit words", (long long)s->head_dim);
	if (!all_zero(b + 30, 2) || !all_zero(b + 36, 4))
		return kva_errf(e, "pad", "header pad bytes are not zero");
	s->chunk_bytes = rd64(b + 56);
	if (s->chunk_bytes == 0)
		return kva_errf(e, "chunk_bytes", "chunk_bytes is 0");
	want = layout_bytes((uint64_t)s->layers, (uint64_t)s->kv_heads,
			    (uint64_t)s->chunk_tokens, (uint64_t)s->head_dim,
			    esize(s->dtype_k) + esize(s->dtype_v));
	if (s->chunk_bytes != want)
		return kva_errf(e, "chunk_bytes", "chunk_bytes %llu does not "
				"match the layout (%llu)",
				(unsigned long long)s->chunk_bytes,
				(unsigned long long)want);
	s->seed = rd64(b + 64);
	v = rd64(b + 48);
	per = s->chunk_bytes + (s->flags & KVA_SNAP_LEDGER ? KVA_SNAP_ENTRY : 0);
	if (v > (uint64_t)KVA_INT_LIMIT ||
	    __builtin_mul_overflow(v, per, &body) ||
	    __builtin_add_overflow(body, (uint64_t)(KVA_SNAP_HEADER +
						    KVA_SNAP_TRAILER), &total))
		return kva_errf(e, "count", "chunk count %llu is impossibly "
				"large", (unsigned long long)v);
	if (total > n)
		return kva_errf(e, "count", "truncated body: %zu bytes, the "
				"header's %llu chunks need %llu", n,
				(unsigned long long)v,
				(unsigned long long)total);
	if (total < n)
		return kva_errf(e, "size", "%llu trailing bytes after the "
				"trailer", (unsigned long long)(n - total));
	s->count = (int64_t)v;
	v = rd64(b + 40);
	if (v > (uint64_t)s->count * (uint64_t)s->chunk_tokens ||
	    (s->count && v <= (uint64_t)(s->count - 1) *
	     (uint64_t)s->chunk_tokens))
		return kva_errf(e, "cur_pos", "cur_pos %llu does not fall in "
				"the last of %lld chunks of %lld tokens",
				(unsigned long long)v, (long long)s->count,
				(long long)s->chunk_tokens);
	s->cur_pos = (int64_t)v;
	if ((s->flags & KVA_SNAP_PARTIAL) &&
	    s->cur_pos != s->count * s->chunk_tokens)
		return kva_errf(e, "flags", "a partial snapshot must end on a "
				"chunk boundary");
	s->image = b;
	s->size = n;
	s->chunks = b + KVA_SNAP_HEADER;
	if (s->flags & KVA_SNAP_LEDGER)
		s->ledger = s->chunks + (size_t)s->count * s->chunk_bytes;
	if (memcmp(b + n - 8, endmagic, 8))
		return kva_errf(e, "trailer", "bad trailer magic");
	s->trailer_sum = rd64(b + n - 16);

	/* one pass: each chunk's checksum and the running trailer sum */
	if (!(st = XXH3_createState()))
		kva_die(2, "out of memory");
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, b, KVA_SNAP_HEADER);
	for (int64_t k = 0; k < s->count && !bad; k++) {
		const unsigned char *c = kva_snap_chunk(s, k);
		kva_snap_entry en;

		XXH3_64bits_update(st, c, s->chunk_bytes);
		if (!s->ledger)
			continue;
		kva_snap_entry_get(s, k, &en);
		if (XXH3_64bits(c, s->chunk_bytes) != en.checksum) {
			kva_errf(e, "ledger", "chunk %lld checksum mismatch",
				 (long long)k);
			bad = 1;
		}
	}
	if (!bad && s->ledger)
		XXH3_64bits_update(st, s->ledger,
				   (size_t)s->count * KVA_SNAP_ENTRY);
	if (!bad && XXH3_64bits_digest(st) != s->trailer_sum) {
		kva_errf(e, "trailer", "trailer checksum mismatch");
		bad = 1;
	}
	XXH3_freeState(st);
	if (bad)
		return -1;
	for (int64_t k = 0; s->ledger && k < s->count; k++) {
		const unsigned char *p = s->ledger + (size_t)k * KVA_SNAP_ENTRY;
		kva_snap_entry en;

		kva_snap_entry_get(s, k, &en);
		if (en.flags & ~(unsigned)(KVA_SE_RESIDENT | KVA_SE_PINNED |
					   KVA_SE_SCORE))
			return kva_errf(e, "ledger", "chunk %lld: unknown entry "
					"flags 0x%x", (long long)k, en.flags);
		if (!all_zero(p + 1, 7))
			return kva_errf(e, "ledger", "chunk %lld: pad bytes are "
					"not zero", (long long)k);
		if (!isfinite(en.score) ||
		    (!(en.flags & KVA_SE_SCORE) && rd64(p + 8)))
			return kva_errf(e, "ledger", "chunk %lld: bad score",
					(long long)k);
	}
	if (s->count && !tail_zero(s, s->count - 1))
		return kva_errf(e, "cur_pos", "chunk %lld: rows past cur_pos "
				"are not zero", (long long)(s->count - 1));
	return 0;
}

const char *kva_file_kind(mode_t m)
{
	return S_ISREG(m) ? "a regular file" : S_ISDIR(m) ? "a directory" :
	       S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" :
	       S_ISLNK(m) ? "a symbolic link" : "not a file";
}

int kva_open_nonblock(const char *path, struct stat *sb, kva_err *e)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		int err = errno;

		/* a socket cannot be opened at all: name what it is */
		if (err == ENXIO && !stat(path, sb) && S_ISSOCK(sb->st_mode))
			return kva_errf(e, NULL, "not a regular file (a socket)");
		return kva_errf(e, NULL, "%s", strerror(err));
	}
	if (fstat(fd, sb) < 0) {
		int err = errno;

		close(fd);
		return kva_errf(e, NULL, "%s", strerror(err));
	}
	return fd;
}

int kva_snap_open(const char *path, kva_snap *s, kva_err *e)
{
	struct stat sb;
	void *m = NULL;
	int fd, rc;

	memset(s, 0, sizeof *s);
	/* without blocking: a FIFO with no writer would wait in open */
	if ((fd = kva_open_nonblock(path, &sb, e)) < 0)
		return -1;
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return kva_errf(e, NULL, "not a regular file (%s)",
				kva_file_kind(sb.st_mode));
	}
	if (sb.st_size > 0) {
		m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			close(fd);
			return kva_errf(e, NULL, "mmap: %s", strerror(errno));
		}
		(void)madvise(m, (size_t)sb.st_size, MADV_SEQUENTIAL);
	}
	close(fd);
	rc = kva_snap_parse(m ? m : "", (size_t)sb.st_size, s, e);
	s->map = m;
	s->size = (size_t)sb.st_size;
	if (rc) {
		kva_snap_close(s);
		return -1;
	}
	return 0;
}

void kva_snap_close(kva_snap *s)
{
	if (s->map)
		munmap(s->map, s->size);
	memset(s, 0, sizeof *s);
}

/* ---- the writer ------------------------------------------------------ */

typedef struct wfile {
	int fd;
	char *tmp;
	const char *path;
	XXH3_state_t *st;
	unsigned char *buf;
	size_t len, cap;
} wfile;

static int w_flush(wfile *w, kva_err *e)
{
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kva_errf(e, NULL, "%s: write: %s", w->tmp,
					strerror(errno));
		off += (size_t)n;
	}
	w->len = 0;
	return 0;
}

static int w_put(wfile *w, const void *p, size_t n, kva_err *e)
{
	XXH3_64bits_update(w->st, p, n);
	if (n >= w->cap) {
		if (w_flush(w, e))
			return -1;
		for (size_t off = 0; off < n;) {
			ssize_t r = write(w->fd, (const char *)p + off, n - off);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return kva_errf(e, NULL, "%s: write: %s", w->tmp,
						strerror(errno));
			off += (size_t)r;
		}
		return 0;
	}
	if (w->len + n > w->cap && w_flush(w, e))
		return -1;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

/*
 * The temporary file being written, removed by a SIGINT or SIGTERM and at
 * exit (kva_die) as well as on every failure.  A kill -9 leaves it: the
 * next write of the same target removes such leftovers, each once no
 * process holds its lock (a writer holds an flock on its temp file).
 */
static char live_tmp[4096];
static volatile sig_atomic_t live_set;
static struct sigaction old_int, old_term;

static void live_signal(int sig)
{
	if (live_set)
		unlink(live_tmp);
	live_set = 0;
	sigaction(sig, sig == SIGINT ? &old_int : &old_term, NULL);
	raise(sig); /* blocked until the handler returns, then as before */
}

static void live_atexit(void)
{
	if (live_set)
		unlink(live_tmp);
	live_set = 0;
}

static void live_begin(const char *tmp)
{
	static int registered;
	struct sigaction sa;

	if (strlen(tmp) >= sizeof live_tmp)
		return;
	if (!registered++)
		atexit(live_atexit);
	memcpy(live_tmp, tmp, strlen(tmp) + 1);
	live_set = 1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = live_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
}

static void live_end(void)
{
	if (!live_set)
		return;
	live_set = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
}

/* Remove PATH.tmp.XXXXXX files no live writer holds. */
static void sweep_leftovers(const char *path)
{
	char *d = strdup(path), *b = strdup(path);
	const char *base;
	DIR *dp;
	struct dirent *de;
	size_t bl;

	if (!d || !b)
		kva_die(2, "out of memory");
	base = basename(b);
	bl = strlen(base);
	if ((dp = opendir(dirname(d)))) {
		while ((de = readdir(dp))) {
			const char *n = de->d_name;
			struct stat sb;
			int fd;

			if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5) ||
			    strlen(n + bl + 5) != 6)
				continue;
			fd = openat(dirfd(dp), n, O_RDONLY | O_NONBLOCK |
				    O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (!fstat(fd, &sb) && S_ISREG(sb.st_mode) &&
			    !flock(fd, LOCK_EX | LOCK_NB))
				(void)unlinkat(dirfd(dp), n, 0);
			close(fd);
		}
		closedir(dp);
	}
	free(d);
	free(b);
}

/* An existing target must be a regular file (not followed if a link). */
static int target_ok(const char *path, kva_err *e)
{
	struct stat sb;

	if (lstat(path, &sb) < 0 || S_ISREG(sb.st_mode))
		return 0;
	return kva_errf(e, NULL, "%s: not a regular file (%s); a snapshot "
			"replaces only a regular file", path,
			kva_file_kind(sb.st_mode));
}

static int w_open(wfile *w, const char *path, kva_err *e)
{
	memset(w, 0, sizeof *w);
	if (target_ok(path, e))
		return -1;
	w->path = path;
	w->cap = 1 << 20;
	if (!(w->tmp = malloc(strlen(path) + 16)) || !(w->buf = malloc(w->cap)) ||
	    !(w->st = XXH3_createState()))
		kva_die(2, "out of memory");
	sweep_leftovers(path);
	sprintf(w->tmp, "%s.tmp.XXXXXX", path);
	/* mkstemp creates it O_EXCL, next to the target */
	if ((w->fd = mkstemp(w->tmp)) < 0) {
		kva_errf(e, NULL, "%s: cannot create a temporary file: %s",
			 path, strerror(errno));
		free(w->tmp), free(w->buf), XXH3_freeState(w->st);
		return -1;
	}
	live_begin(w->tmp);
	(void)flock(w->fd, LOCK_EX);
	(void)fchmod(w->fd, 0644);
	XXH3_64bits_reset(w->st);
	return 0;
}

/* Finish: trailer, fsync, rename over path, fsync the directory.  On
 * failure (or abort) the temp file is removed and path untouched. */
static int w_close(wfile *w, int abort, kva_err *e)
{
	unsigned char t[KVA_SNAP_TRAILER];
	int rc = abort ? -1 : 0;

	if (!rc) {
		wr64(t, XXH3_64bits_digest(w->st));
		memcpy(t + 8, endmagic, 8);
		if (w_put(w, t, sizeof t, e) || w_flush(w, e))
			rc = -1;
	}
	if (!rc && fsync(w->fd) < 0)
		rc = kva_errf(e, NULL, "%s: fsync: %s", w->tmp, strerror(errno));
	if (!rc && target_ok(w->path, e))
		rc = -1;
	if (!rc && rename(w->tmp, w->path) < 0)
		rc = kva_errf(e, NULL, "%s: rename: %s", w->path,
			      strerror(errno));
	if (rc)
		unlink(w->tmp);
	live_end();
	/* closed only now: the lock marks the temp file live until here */
	if (close(w->fd) < 0 && !rc)
		rc = kva_errf(e, NULL, "%s: close: %s", w->path, strerror(errno));
	if (!rc) {
		char *d = strdup(w->path);
		int dfd = d ? open(dirname(d), O_RDONLY | O_DIRECTORY) : -1;

		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		free(d);
	}
	free(w->tmp);
	free(w->buf);
	XXH3_freeState(w->st);
	return rc;
}

static void header(unsigned char *h, uint32_t flags, int64_t layers,
		   int64_t heads, int64_t D, int dk, int dv, int64_t C,
		   int64_t cur_pos, int64_t count, uint64_t chunk_bytes,
		   uint64_t seed)
{
	memset(h, 0, KVA_SNAP_HEADER);
	memcpy(h, magic, 8);
	wr32(h + 8, KVA_SNAP_VERSION);
	wr32(h + 12, flags);
	wr32(h + 16, (uint32_t)layers);
	wr32(h + 20, (uint32_t)heads);
	wr32(h + 24, (uint32_t)D);
	h[28] = (unsigned char)dk;
	h[29] = (unsigned char)dv;
	wr32(h + 32, (uint32_t)C);
	wr64(h + 40, (uint64_t)cur_pos);
	wr64(h + 48, (uint64_t)count);
	wr64(h + 56, chunk_bytes);
	wr64(h + 64, seed);
	wr64(h + 72, XXH3_64bits(h, 72));
}

static void entry(unsigned char *p, unsigned flags, double score,
		  uint64_t last_use, uint64_t sum)
{
	uint64_t bits = 0;

	memset(p, 0, KVA_SNAP_ENTRY);
	p[0] = (unsigned char)flags;
	if (flags & KVA_SE_SCORE)
		memcpy(&bits, &score, 8);
	wr64(p + 8, bits);
	wr64(p + 16, last_use);
	wr64(p + 24, sum);
}

/* Chunk k's token-major rows (ntok of them) into out, file order. */
static void to_file_order(const kva_pool *p, const float *rows, int64_t ntok,
			  unsigned char *out)
{
	size_t rb = (size_t)p->dw * 4, C = (size_t)p->c.chunk_tokens;

	memset(out, 0, kva_pool_chunk_bytes(p));
	for (int64_t t = 0; t < ntok; t++)
		for (int64_t h = 0; h < p->hall; h++)
			memcpy(out + ((size_t)h * C + (size_t)t) * rb,
			       (const char *)rows + ((size_t)t * (size_t)p->hall +
						     (size_t)h) * rb, rb);
}

/* The other way: file order into token-major rows. */
static void to_rows(const kva_pool *p, const unsigned char *in, int64_t ntok,
		    float *rows)
{
	size_t rb = (size_t)p->dw * 4, C = (size_t)p->c.chunk_tokens;

	for (int64_t t = 0; t < ntok; t++)
		for (int64_t h = 0; h < p->hall; h++)
			memcpy((char *)rows + ((size_t)t * (size_t)p->hall +
					       (size_t)h) * rb,
			       in + ((size_t)h * C + (size_t)t) * rb, rb);
}

int kva_snap_save(kva_pool *p, const char *path, int64_t max_chunks,
		  int64_t upto_pos, int ledger, kva_snap_info *info, kva_err *e)
{
	int64_t C = p->c.chunk_tokens, n = p->nchunks, cur = p->cur_pos;
	size_t cb = kva_pool_chunk_bytes(p);
	unsigned char h[KVA_SNAP_HEADER], *chunk, *led = NULL;
	float *rows;
	uint32_t flags = ledger ? KVA_SNAP_LEDGER : 0;
	wfile w;
	int rc = 0;

	if (!p->data)
		return kva_errf(e, NULL, "a snapshot needs the data (not "
				"--no-data)");
	memset(info, 0, sizeof *info);
	if (max_chunks >= 0 && max_chunks < n) {
		n = max_chunks;
		cur = n * C;
		info->partial = 1;
	}
	if (upto_pos >= 0 && upto_pos < cur) {
		n = upto_pos / C;
		cur = n * C;
		info->partial = 1;
	}
	if (info->partial)
		flags |= KVA_SNAP_PARTIAL;
	if (w_open(&w, path, e))
		return -1;
	chunk = malloc(cb);
	rows = malloc(cb);
	if (ledger)
		led = calloc((size_t)(n ? n : 1), KVA_SNAP_ENTRY);
	if (!chunk || !rows || (ledger && !led))
		kva_die(2, "out of memory");
	header(h, flags, p->c.layers, p->c.kv_heads, p->c.head_dim,
	       p->c.dtype, p->c.dtype, C, cur, n, cb, p->c.seed);
	rc = w_put(&w, h, sizeof h, e);
	for (int64_t k = 0; !rc && k < n; k++) {
		const kva_chunk *c = &p->ch[k];
		const float *src = p->host ? p->host[k] : NULL;
		int64_t ntok = c->ntok;

		const unsigned char *out = chunk;

		if (c->block >= 0 && ntok == C && !p->cu) {
			/* a full resident block in host memory is already in
			 * file order: [layer][K, V][head][token][dim] */
			out = (const unsigned char *)(p->data +
						      (size_t)c->block *
						      p->chunk_words);
		} else {
			if (c->block >= 0 && ntok) {
				for (int64_t t = 0; t < ntok; t++)
					p->slots[t] = c->block * C + t;
				if (kva_pool_read_rows(p, rows, ntok)) {
					rc = kva_errf(e, NULL, "gather kernel failed "
						      "on chunk %lld", (long long)k);
					break;
				}
				src = rows;
			}
			to_file_order(p, src, ntok, chunk);
		}
		if (led)
			entry(led + (size_t)k * KVA_SNAP_ENTRY,
			      (c->block >= 0 ? KVA_SE_RESIDENT : 0) |
			      (c->pinned ? KVA_SE_PINNED : 0) |
			      (c->has_score ? KVA_SE_SCORE : 0),
			      c->score, c->last_use, XXH3_64bits(out, cb));
		rc = w_put(&w, out, cb, e);
	}
	if (!rc && led)
		rc = w_put(&w, led, (size_t)n * KVA_SNAP_ENTRY, e);
	rc = w_close(&w, rc, e);
	free(chunk);
	free(rows);
	free(led);
	if (rc)
		return -1;
	info->chunks = n;
	info->cur_pos = cur;
	info->bytes = (int64_t)(KVA_SNAP_HEADER + (size_t)n * cb +
				(ledger ? (size_t)n * KVA_SNAP_ENTRY : 0) +
				KVA_SNAP_TRAILER);
	return 0;
}

int kva_snap_save_prefix(const kva_snap *s, int64_t k, const char *path,
			 kva_err *e)
{
	unsigned char h[KVA_SNAP_HEADER];
	int64_t cur = k < s->count ? k * s->chunk_tokens : s->cur_pos;
	uint32_t flags = s->flags;
	wfile w;
	int rc;

	if (k > s->count)
		k = s->count;
	if (k < s->count)
		flags |= KVA_SNAP_PARTIAL;
	if (w_open(&w, path, e))
		return -1;
	header(h, flags, s->layers, s->kv_heads, s->head_dim, s->dtype_k,
	       s->dtype_v, s->chunk_tokens, cur, k, s->chunk_bytes, s->seed);
	rc = w_put(&w, h, sizeof h, e);
	if (!rc && k)
		rc = w_put(&w, s->chunks, (size_t)k * s->chunk_bytes, e);
	if (!rc && k && s->ledger)
		rc = w_put(&w, s->ledger, (size_t)k * KVA_SNAP_ENTRY, e);
	return w_close(&w, rc, e);
}

/* ---- restore --------------------------------------------------------- */

int kva_snap_compatible(const kva_snap *s, const kva_pool *p, kva_err *e)
{
	if (s->layers != p->c.layers)
		return kva_errf(e, "layers", "layout mismatch: the snapshot has "
				"%lld layers, the pool %lld", (long long)s->layers,
				(long long)p->c.layers);
	if (s->kv_heads != p->c.kv_heads)
		return kva_errf(e, "kv_heads", "layout mismatch: the snapshot "
				"has %lld kv-heads, the pool %lld",
				(long long)s->kv_heads, (long long)p->c.kv_heads);
	if (s->chunk_tokens != p->c.chunk_tokens)
		return kva_errf(e, "chunk_tokens", "layout mismatch: the "
				"snapshot has chunks of %lld tokens, the pool %lld",
				(long long)s->chunk_tokens,
				(long long)p->c.chunk_tokens);
	if (s->dtype_k != p->c.dtype || s->dtype_v != p->c.dtype)
		return kva_errf(e, s->dtype_k != p->c.dtype ? "dtype_k" :
				"dtype_v", "dtype mismatch: the snapshot has K %s "
				"and V %s, the pool %s (row sizes %zu and %zu "
				"bytes)", kva_dtype_name(s->dtype_k), kva_dtype_name(s->dtype_v),
				kva_dtype_name(p->c.dtype),
				(size_t)s->head_dim * esize(s->dtype_k),
				(size_t)p->c.head_dim * esize(p->c.dtype));
	if (s->head_dim != p->c.head_dim)
		return kva_errf(e, "head_dim", "layout mismatch: the snapshot "
				"has head_dim %lld, the pool %lld",
				(long long)s->head_dim, (long long)p->c.head_dim);
	return 0;
}

/* The snapshot as a kva_pool_src. */
typedef struct snapsrc {
	const kva_snap *s;
	const kva_pool *p;
} snapsrc;

static void src_meta(void *ctx, int64_t k, unsigned *flags, double *score,
		     uint64_t *last_use)
{
	const snapsrc *x = ctx;
	kva_snap_entry en;

	kva_snap_entry_get(x->s, k, &en);
	*flags = en.flags;
	*score = en.score;
	*last_use = en.last_use;
}

static void src_rows(void *ctx, int64_t k, int64_t ntok, float *rows)
{
	const snapsrc *x = ctx;

	to_rows(x->p, kva_snap_chunk(x->s, k), ntok, rows);
}

int kva_snap_restore(kva_pool *p, const kva_snap *s, kva_restore_info *info,
		     kva_err *e)
{
	snapsrc x = { s, p };
	kva_pool_src src = { s->count, s->cur_pos, &x, src_meta, src_rows };

	memset(info, 0, sizeof *info);
	if (kva_snap_compatible(s, p, e))
		return -1;
	if (!p->data)
		return kva_errf(e, NULL, "a restore needs the data (not "
				"--no-data)");
	if (kva_pool_load(p, &src, &info->pins_dropped, e))
		return -1;
	info->chunks = p->nchunks;
	for (int64_t k = 0; k < p->nchunks; k++)
		info->resident += p->ch[k].block >= 0;
	info->host = info->chunks - info->resident;
	for (int64_t k = 0; k < p->nchunks; k++)
		info->pins += p->ch[k].pinned;
	return 0;
}

int64_t kva_snap_regen(const kva_snap *s, kva_verify *v)
{
	int64_t C = s->chunk_tokens, D = s->head_dim;
	unsigned char *want = malloc((size_t)D * 4), *zero = calloc((size_t)D, 4);

	if (!want || !zero)
		kva_die(2, "out of memory");
	memset(v, 0, sizeof *v);
	v->chunk = -1;
	for (int64_t k = 0; k < s->count; k++) {
		const unsigned char *c = kva_snap_chunk(s, k);
		int64_t used = kva_snap_chunk_tokens(s, k);
		size_t off = 0;
		int bad = 0;

		v->chunks++;
		for (int64_t l = 0; l < s->layers; l++)
			for (int kv = 0; kv < 2; kv++) {
				int dt = kv ? s->dtype_v : s->dtype_k;
				size_t es = esize(dt), rb = (size_t)D * es;

				for (int64_t h = 0; h < s->kv_heads; h++)
					for (int64_t t = 0; t < C; t++, off += rb) {
						const unsigned char *w = zero;
						int64_t d = 0;

						if (t < used) {
							kva_kv_head_row(s->seed, dt, l, kv,
									h, k * C + t, D,
									want);
							w = want;
							v->bytes += (int64_t)rb;
						}
						if (!memcmp(c + off, w, rb))
							continue;
						while (!memcmp(c + off + (size_t)d * es,
							       w + (size_t)d * es, es))
							d++;
						v->bad_rows++;
						if (!bad++ && v->chunk < 0) {
							v->chunk = k;
							v->layer = l;
							v->kv = kv;
							v->head = h;
							v->row = t;
							v->dim = d;
						}
					}
			}
		if (bad)
			v->bad_chunks++;
	}
	free(want);
	free(zero);
	return v->bad_rows;
}
