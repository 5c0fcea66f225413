/*
 * snap.h - pool snapshots (lib/snap.c): the file format of kv-snapshot(1),
 * its strict reader, the atomic writer, and restore into any pool.
 *
 * The format, little-endian throughout (kv-snapshot(1) has the table):
 *
 *   header   80 bytes: magic "KVASNAP\0", version 1, flags, layers,
 *            kv_heads, head_dim, dtype K, dtype V, pad, chunk_tokens, pad,
 *            cur_pos, chunk count, chunk_bytes, seed, XXH3-64 of bytes 0..71
 *   chunks   count * chunk_bytes: chunk k's elements in logical order,
 *            [layer][K, V][kv-head][token][dim]; rows past cur_pos zero
 *   ledger   (flag LEDGER) count * 32 bytes: flags (resident, pinned,
 *            has_score), 7 zero bytes, score (f64), last_use (u64),
 *            XXH3-64 of the chunk's bytes
 *   trailer  16 bytes: XXH3-64 of everything before it, "KVASEND\0"
 */
#ifndef KVA_SNAP_H
#define KVA_SNAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "kvarbiter.h"
#include "pool.h"

#define KVA_SNAP_VERSION 1
#define KVA_SNAP_HEADER 80
#define KVA_SNAP_ENTRY 32
#define KVA_SNAP_TRAILER 16

enum { KVA_SNAP_LEDGER = 1, KVA_SNAP_PARTIAL = 2 };           /* flags */
enum { KVA_SE_RESIDENT = 1, KVA_SE_PINNED = 2, KVA_SE_SCORE = 4 }; /* entry */

typedef struct kva_snap_entry {
	unsigned flags;
	double score;
	uint64_t last_use, checksum;
} kva_snap_entry;

/* A parsed snapshot: the fields, and pointers into the image. */
typedef struct kva_snap {
	uint32_t version, flags;
	int64_t layers, kv_heads, head_dim, chunk_tokens;
	int dtype_k, dtype_v;
	int64_t cur_pos, count;
	uint64_t chunk_bytes, seed;
	uint64_t header_sum, trailer_sum;
	const unsigned char *image;  /* the whole file */
	size_t size;
	const unsigned char *chunks; /* count * chunk_bytes */
	const unsigned char *ledger; /* count * 32, or NULL */
	void *map;                   /* kva_snap_open's mapping */
} kva_snap;

/*
 * Parse and check an image of n bytes strictly: magic, version, every
 * enum, flag and pad byte, chunk_bytes against the layout (checked
 * multiplication), the count against the bytes present, the exact
 * length, the header and trailer checksums, and with a ledger every
 * chunk's checksum and entry.  Allocates nothing.  -1 with e on the first
 * fault (e->field names the header field where there is one).
 */
int kva_snap_parse(const void *img, size_t n, kva_snap *s, kva_err *e);
/* Map path and parse it; kva_snap_close unmaps.  Anything but a regular
 * file is refused without blocking: "not a regular file (a FIFO)". */
int kva_snap_open(const char *path, kva_snap *s, kva_err *e);

/* Open path read-only without blocking (a FIFO with no writer, a device)
 * and fstat it into *sb: the fd, or -1 with e (errno's text).  The fd
 * keeps O_NONBLOCK. */
int kva_open_nonblock(const char *path, struct stat *sb, kva_err *e);
/* "a directory", "a FIFO", "a character device", ... for st_mode m. */
const char *kva_file_kind(mode_t m);
void kva_snap_close(kva_snap *s);

void kva_snap_entry_get(const kva_snap *s, int64_t k, kva_snap_entry *out);
const unsigned char *kva_snap_chunk(const kva_snap *s, int64_t k);
/* Bytes of one element of K (kv 0) or V (kv 1). */
size_t kva_snap_esize(const kva_snap *s, int kv);
/* Tokens of chunk k that are inside cur_pos. */
int64_t kva_snap_chunk_tokens(const kva_snap *s, int64_t k);

/* What a save wrote. */
typedef struct kva_snap_info {
	int64_t chunks, cur_pos, bytes;
	int partial;  /* floored to a chunk boundary */
} kva_snap_info;

/*
 * Save the pool's first chunks to path atomically (a temp file in the same
 * directory, fsync, rename, fsync of the directory).  max_chunks < 0 means
 * all; upto_pos >= 0 limits to the chunks wholly below it.  A limit below
 * the sequence floors to a chunk boundary and sets info->partial.  ledger
 * 0 leaves the ledger out.
 */
int kva_snap_save(kva_pool *p, const char *path, int64_t max_chunks,
		  int64_t upto_pos, int ledger, kva_snap_info *info, kva_err *e);

/* Write chunks [0, k) of a parsed snapshot as a new (partial) snapshot. */
int kva_snap_save_prefix(const kva_snap *s, int64_t k, const char *path,
			 kva_err *e);

/*
 * Does the snapshot fit the pool's layout?  Checked in the order layers,
 * kv_heads, chunk_tokens, dtype K, dtype V, head_dim, so a dtype swap is
 * named as such even when the row sizes are equal.
 */
int kva_snap_compatible(const kva_snap *s, const kva_pool *p, kva_err *e);

/* What a restore did. */
typedef struct kva_restore_info {
	int64_t chunks, resident, host, pins, pins_dropped;
} kva_restore_info;

/*
 * Restore into p: everything is checked first (kva_snap_compatible); only
 * then is the pool replaced, so a rejected restore leaves it exactly as it
 * was.  Residency: protected chunks (sink, tail window, restored pins)
 * first, then the ledger's resident chunks best first by the victim order,
 * up to the pool's blocks; the rest go to the host store.  Pinned chunks
 * are pinned again when they fit the invariant, else dropped and counted.
 * No events are reported.  Epoch + 1.
 */
int kva_snap_restore(kva_pool *p, const kva_snap *s, kva_restore_info *info,
		     kva_err *e);

/*
 * Compare every row with the generator (the header's seed); rows past
 * cur_pos must be zero.  Returns the number of differing rows, the first
 * one in *v (chunk, layer, kv, head, row, dim).
 */
int64_t kva_snap_regen(const kva_snap *s, kva_verify *v);

/* 64-bit FNV-1a, the tensor dump's row hash. */
uint64_t kva_fnv1a(const void *p, size_t n);

#endif
