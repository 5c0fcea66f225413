/*
 * pcache.h - the prefix cache of kv-snapshot(1) (lib/pcache.c): snapshots
 * stored whole in SQLite and keyed by a hash chain over their token
 * chunks, so a later request finds its longest cached prefix.
 *
 * The key of the first k chunks of a token stream under a layout:
 *
 *   layout id  the ASCII text (no NUL, no newline)
 *              "kvarbiter-layout-1 layers=L kv_heads=H head_dim=D
 *              dtype_k=K dtype_v=V chunk_tokens=C seed=S"
 *              with single spaces, decimal integers, K and V "f16"|"f32"
 *   h_0        SHA-256 of the layout id
 *   h_k        SHA-256 of: h_{k-1} as 64 lower-case hex digits, then the
 *              C token ids of chunk k (tokens [(k-1)C, kC)) each as an
 *              8-byte little-endian unsigned integer, then the layout id
 *
 * Keys are stored and compared as 64 lower-case hex digits.  The seed
 * stands for the model: the KV content is synthetic (SPEC section 7).
 *
 * Schema (PRAGMA user_version = KVA_PCACHE_SCHEMA_VERSION, PRAGMA
 * application_id = KVA_PCACHE_APP_ID, WAL, incremental auto-vacuum,
 * pages of 64 KiB):
 *
 *   snapshots(id INTEGER PRIMARY KEY AUTOINCREMENT,  never reused
 *             sha256 TEXT NOT NULL UNIQUE,    of the file: stored once
 *             layout TEXT NOT NULL,           the layout id
 *             chunks INTEGER NOT NULL,        the header's chunk count
 *             cur_pos INTEGER NOT NULL,
 *             bytes INTEGER NOT NULL,         the file's length
 *             stored_at TEXT NOT NULL,        UTC, kva_timestamp
 *             used_at TEXT NOT NULL,          UTC of the last store/load
 *             last_use INTEGER NOT NULL,      use clock: max + 1 per use
 *             hits INTEGER NOT NULL DEFAULT 0)  loads that read it
 *   blobs(snapshot INTEGER PRIMARY KEY REFERENCES snapshots(id)
 *                  ON DELETE CASCADE,
 *         data BLOB NOT NULL)                 the snapshot file
 *   prefixes(hash TEXT NOT NULL,              hex of h_k
 *             snapshot INTEGER NOT NULL REFERENCES snapshots(id)
 *                      ON DELETE CASCADE,
 *             chunks INTEGER NOT NULL,        k
 *             PRIMARY KEY (hash, snapshot)) WITHOUT ROWID
 *   index prefixes_snapshot on prefixes(snapshot)
 *   index snapshots_last_use on snapshots(last_use)
 *
 * Every write is one BEGIN IMMEDIATE transaction and every connection
 * waits on the busy timeout, so concurrent writers (a cron sweep) are
 * serialised by SQLite and none loses a row.
 */
#ifndef KVA_PCACHE_H
#define KVA_PCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "kvarbiter.h"

#define KVA_PCACHE_SCHEMA_VERSION 1
#define KVA_PCACHE_APP_ID 0x4b564143 /* "KVAC" */

/* What a key is computed under (a snapshot header's layout fields). */
typedef struct kva_pcache_layout {
	int64_t layers, kv_heads, head_dim, chunk_tokens;
	int dtype_k, dtype_v; /* KVA_DT_F16 or KVA_DT_F32 (pool.h) */
	uint64_t seed;
} kva_pcache_layout;

/* The layout id of l into out (n bytes); returns its length, or -1 when
 * it does not fit. */
int kva_pcache_layout_id(const kva_pcache_layout *l, char *out, size_t n);

/*
 * The keys h_1 .. h_F of tokens[0..ntok) under layout id lid, F =
 * ntok / chunk_tokens, into keys[F][65] (the caller allocates; F may be
 * 0).  h_0 is not stored.  Token ids must be >= 0.
 */
void kva_pcache_keys(const char *lid, int64_t chunk_tokens,
		     const int64_t *tokens, int64_t ntok, char (*keys)[65]);

/*
 * Run one subcommand of kv-snapshot(1): sub is "store", "load" or "gc",
 * argv[0] its name and the rest its options and operands (getopt_long,
 * optind reset here).  Diagnostics go to stderr as "kv-snapshot: ...",
 * records to stdout, which is flushed and closed before returning.
 * Returns the exit status: 0 done, 1 a load that found no cached prefix,
 * 2 trouble (usage, bad input, a bad snapshot, SQLite, I/O).
 */
int kva_pcache_main(const char *sub, int argc, char **argv);

#endif
