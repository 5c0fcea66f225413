/*
 * sandbox.h - run untrusted candidate code in a child process.
 *
 * The child gets CPU-time, address-space, file-size and core-dump limits,
 * no file descriptors but its two pipes (stdin, stdout and, unless asked,
 * stderr go to /dev/null), its own process group, and dies with its
 * parent.  The parent talks to it through kva_sbx_exchange, which writes a
 * request while draining the reply (no pipe deadlock) and gives up when
 * no byte has moved for timeout seconds.
 */
#ifndef KVA_SANDBOX_H
#define KVA_SANDBOX_H

#include <sys/types.h>

#include "kvarbiter.h"

typedef struct kva_sbx_limits {
	double timeout_s;    /* no progress for this long: timeout */
	int cpu_s;           /* RLIMIT_CPU of the child, seconds */
	size_t as_bytes;     /* RLIMIT_AS; 0 leaves it (sanitizer builds) */
	size_t fsize_bytes;  /* RLIMIT_FSIZE: files the child may write */
	int keep_stderr;     /* let the candidate write to our stderr */
} kva_sbx_limits;

typedef struct kva_sbx {
	pid_t pid;           /* 0 when no child runs */
	int to, from;        /* request pipe (write end), reply pipe (read end) */
	int status;          /* wait status once reaped */
	char why[96];        /* "signal 11 (Segmentation fault)", "exit 3", ... */
} kva_sbx;

enum { KVA_SBX_OK = 0, KVA_SBX_DIED = 1, KVA_SBX_TIMEOUT = 2 };

/* Child body for in-process candidates: serve requests on rfd, answer on
 * wfd, return when rfd reaches end of file. */
typedef void (*kva_sbx_main)(void *ctx, int rfd, int wfd);

/* Fork a child running fn(ctx, ...) under lim.  Returns 0, or -1 with e. */
int kva_sbx_spawn(kva_sbx *s, const kva_sbx_limits *lim, kva_sbx_main fn,
		  void *ctx, kva_err *e);
/* Fork a child running "/bin/sh -c cmd" with the pipes as stdin/stdout. */
int kva_sbx_spawn_cmd(kva_sbx *s, const kva_sbx_limits *lim, const char *cmd,
		      kva_err *e);

/*
 * Send req[0..reqlen) and append the reply to rep until done(rep, ctx)
 * (which may consume what it has read from the front of rep)
 * returns non-zero.  Returns KVA_SBX_OK; KVA_SBX_DIED when the child
 * exited or closed its pipes first (reaped, s->why says how); or
 * KVA_SBX_TIMEOUT when nothing moved for timeout_s (the child's process
 * group is killed and reaped).
 */
int kva_sbx_exchange(kva_sbx *s, const void *req, size_t reqlen, kva_buf *rep,
		     int (*done)(kva_buf *rep, void *ctx), void *ctx,
		     double timeout_s);

/* Close the pipes, kill the process group if it still runs, reap. */
void kva_sbx_stop(kva_sbx *s);

/* Child side: read exactly n bytes (0, or -1 at end of file or error) and
 * write all n bytes (0 or -1). */
int kva_sbx_read_full(int fd, void *p, size_t n);
int kva_sbx_write_full(int fd, const void *p, size_t n);

#endif
