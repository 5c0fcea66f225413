/*
 * sandbox.h - run untrusted candidate code confined, in a child process.
 *
 * A candidate (model-written code: hostile until proven otherwise) runs
 * in a process the trap can always kill and whose whole process tree
 * dies with it.  Where the kernel allows, the child is pid 2 of a new PID
 * namespace whose pid 1 is a small init of ours, in new user (uid 0
 * inside is nobody, 65534, outside; the caller's own uid when it is not
 * root), mount, IPC and network namespaces: the file system is read-only
 * but for a private tmpfs (the child's HOME and TMPDIR), /proc shows only
 * the namespace, there is no network interface and every capability is
 * dropped.  In every case the environment is a fixed minimal set (never
 * the caller's), the child gets CPU, address-space, file-size, process
 * and core limits, no file descriptors but its pipes, and a seccomp
 * filter: an allow-list for code loaded into our own child program
 * (KVA_SBX_LOADER, installed before the candidate is opened), a
 * deny-list for the CUDA runtime (KVA_SBX_CUDA) and for co-processes and
 * builds (KVA_SBX_CMD).  grad-trap(1) SECURITY says what each layer stops.
 *
 * The parent talks to a child through kva_sbx_exchange: it writes a
 * request while draining the reply (no pipe deadlock) and gives up when
 * no complete answer has come for timeout seconds.
 */
#ifndef KVA_SANDBOX_H
#define KVA_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "kvarbiter.h"

enum kva_sbx_confine { KVA_CONFINE_AUTO, KVA_CONFINE_STRICT, KVA_CONFINE_OFF };
enum kva_sbx_profile { KVA_SBX_LOADER, KVA_SBX_CUDA, KVA_SBX_CMD };

/* Layers, as bits of kva_sbx.layers. */
enum {
	KVA_L_ENV = 1 << 0,      /* environment replaced by the fixed set */
	KVA_L_USER = 1 << 1,     /* user namespace, unprivileged uid outside */
	KVA_L_PID = 1 << 2,      /* PID namespace with its own /proc */
	KVA_L_MOUNT = 1 << 3,    /* mount namespace: read-only, private tmpfs */
	KVA_L_IPC = 1 << 4,      /* IPC namespace */
	KVA_L_NET = 1 << 5,      /* network namespace: no interface */
	KVA_L_NPROC = 1 << 6,    /* RLIMIT_NPROC that binds (not exempt) */
	KVA_L_SECCOMP = 1 << 7,  /* the profile's seccomp filter */
	KVA_L_CAPS = 1 << 8      /* no capabilities, no new privileges */
};
#define KVA_L_ALL 0x1ffu

typedef struct kva_sbx_limits {
	double timeout_s;    /* no complete answer for this long: timeout */
	double load_timeout_s; /* setting up and loading the candidate */
	int cpu_s;           /* RLIMIT_CPU of the child, seconds */
	size_t as_bytes;     /* RLIMIT_AS above the child's size at start; 0: none */
	size_t fsize_bytes;  /* RLIMIT_FSIZE: bytes of any file the child writes */
	int nproc;           /* RLIMIT_NPROC: processes and threads */
	int keep_stderr;     /* let the candidate write to our stderr */
	int confine;         /* enum kva_sbx_confine */
} kva_sbx_limits;

/* What to run.  Exactly one of argv (this program, re-executed from
 * /proc/self/exe: a loader child) and cmd ("/bin/sh -c cmd"). */
typedef struct kva_sbx_job {
	int profile;         /* enum kva_sbx_profile */
	char *const *argv;   /* loader: argv of the re-executed program */
	const char *cmd;     /* co-process, build, --run */
	int passfd;          /* loader: a descriptor the child gets as fd 5, or -1 */
	int stdio;           /* 1: the child uses our stdin, stdout, stderr (no pipes) */
	int private_cwd;     /* 1: start in the private directory, not ours */
} kva_sbx_job;

typedef struct kva_sbx {
	pid_t pid;           /* the process we kill (init of the namespace, or
	                        the child itself); 0 when none runs */
	int ns;              /* pid is the init of a PID namespace */
	int to, from;        /* request pipe (write end), reply pipe (read end) */
	int report;          /* report pipe from the child's init, or -1 */
	int status;          /* the candidate's wait status once reaped */
	unsigned layers;     /* KVA_L_* that held for this child */
	char why[96];        /* "signal 11 (Segmentation fault)", "exit 3", ... */
} kva_sbx;

enum { KVA_SBX_OK = 0, KVA_SBX_DIED = 1, KVA_SBX_TIMEOUT = 2 };

/*
 * Start job under lim.  Returns 0 with s filled, or -1 with e: the child
 * could not be set up, or (KVA_CONFINE_STRICT) a layer did not hold.
 * Layers the kernel refuses are said once on stderr (unless quiet) and
 * left out of s->layers.  For a loader child the seccomp layer is added
 * by the child itself (kva_sbx_child_enter) and reported in its greeting.
 */
int kva_sbx_spawn(kva_sbx *s, const kva_sbx_limits *lim, const kva_sbx_job *job,
		  kva_err *e);

/*
 * Send req[0..reqlen) and append the reply to rep until done(rep, ctx,
 * &units) returns non-zero.  done may consume what it has read from the
 * front of rep and sets *units to the complete answers seen so far: the
 * timer restarts only when that count grows (a byte is not progress).
 * Returns KVA_SBX_OK; KVA_SBX_DIED when the child exited or closed its
 * pipes first (reaped, s->why says how); or KVA_SBX_TIMEOUT when no
 * complete answer came for timeout_s (the child's tree is killed and
 * reaped).
 */
int kva_sbx_exchange(kva_sbx *s, const void *req, size_t reqlen, kva_buf *rep,
		     int (*done)(kva_buf *rep, void *ctx, uint64_t *units),
		     void *ctx, double timeout_s);

/* Wait up to timeout_s for a child without pipes (job.stdio) to end.
 * Returns KVA_SBX_DIED (s->status, s->why) or KVA_SBX_TIMEOUT (killed). */
int kva_sbx_wait(kva_sbx *s, double timeout_s);

/* Close the pipes, kill the child's whole tree if it still runs, reap. */
void kva_sbx_stop(kva_sbx *s);
/* The end of a run: close the pipes, give the child grace_s seconds to
 * exit on its own (it ends at end of file, its init reaps it, so the CPU
 * time of the whole tree is accounted to us), then kva_sbx_stop. */
void kva_sbx_end(kva_sbx *s, double grace_s);

/* The layers as the summary's "confinement" object (kvarbiter(7)). */
void kva_sbx_layers_json(kva_buf *b, unsigned layers, int profile, int confine);
/* The names of the layers of want that are missing from have, e.g.
 * "user, seccomp", into buf. */
void kva_sbx_missing(unsigned want, unsigned have, char *buf, size_t n);
/* A loader child reported the layers it set up itself (its seccomp
 * filter): add them to s->layers; a missing filter is said once, or under
 * --confine strict is an error (the child is stopped).  Returns 0 or -1. */
int kva_sbx_child_layers(kva_sbx *s, const kva_sbx_limits *lim, unsigned layers,
			 kva_err *e);

/*
 * Child side, in the re-executed loader program: set the address-space
 * limit relative to what the process maps now (a sanitizer's shadow is
 * already there), reset fault handlers, and install the profile's
 * seccomp filter.  Returns the layers that held (KVA_L_SECCOMP or 0).
 */
unsigned kva_sbx_child_enter(int profile, size_t as_bytes);

/* Read exactly n bytes (0, or -1 at end of file or error) and write all
 * n bytes (0 or -1). */
int kva_sbx_read_full(int fd, void *p, size_t n);
int kva_sbx_write_full(int fd, const void *p, size_t n);

#endif
