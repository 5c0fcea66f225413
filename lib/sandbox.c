/*
 * sandbox.c - confined child processes for candidate code (see sandbox.h).
 *
 * With namespaces the tree is: us -> init (pid 1 of a new PID namespace,
 * in new user, mount, IPC and network namespaces; sets up the mounts,
 * reaps, reports the candidate's wait status) -> the candidate (pid 2,
 * capabilities dropped, limits, seccomp, then exec).  Killing the init
 * kills the namespace, so every process a candidate makes dies with it;
 * the init dies with us (PR_SET_PDEATHSIG), however we end.  Without
 * namespaces the candidate is our child in its own process group, and a
 * SIGINT, SIGTERM or SIGHUP of ours kills the group before we die.
 *
 * The candidate's program image is always fresh (an exec): a fork of us
 * would carry our environment and memory, and with them any key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define OUTSIDE_ID 65534         /* nobody / nogroup: the uid outside */

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Fixed descriptors of a loader child (the re-executed program). */
enum { FD_REQ = 3, FD_REP = 4, FD_PASS = 5, FD_REPORT = 6, FD_EXE = 7 };

/* Messages on the report pipe: setup results and the final status. */
enum { MSG_INIT = 1, MSG_CAND = 2, MSG_STATUS = 3, MSG_FAIL = 4 };
struct msg { uint32_t tag, val; };

struct child_args {
	const kva_sbx_limits *lim;
	const kva_sbx_job *job;
	int rfd, wfd;            /* the candidate's pipe ends (or -1) */
	int report, go;          /* report pipe write end, go pipe read end */
	int exefd;               /* /proc/self/exe, for a loader */
	int close1, close2, close3, close4; /* our ends, closed in the child */
	int ns;                  /* started in new namespaces */
	pid_t parent;            /* the candidate's parent (us, or the init) */
	unsigned layers;         /* what held so far (init's part) */
	const char *private_dir; /* HOME, TMPDIR, the working directory */
};

static int ns_broken;            /* namespaces refused once: not tried again */
static int said;                 /* layers already warned about */
static char fallback_dir[64];    /* private directory without namespaces */

/* The live children, killed by our fatal-signal handler. */
#define MAX_LIVE 8
static volatile pid_t live[MAX_LIVE];
static volatile sig_atomic_t live_grp[MAX_LIVE];

static void on_fatal(int sig)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] > 0) {
			if (live_grp[i])
				kill(-live[i], SIGKILL);
			kill(live[i], SIGKILL);
		}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void track(pid_t pid, int grp)
{
	static int installed;

	if (!installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_fatal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		installed = 1;
	}
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] <= 0) {
			live_grp[i] = grp;
			live[i] = pid;
			return;
		}
}

static void untrack(pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == pid)
			live[i] = 0;
}

/* ---- seccomp ---------------------------------------------------------- */

/* Add a rule for the syscall called name (skipped where this
 * architecture has no such call).  Returns 0 or -1. */
static int rule(scmp_filter_ctx c, uint32_t act, const char *name,
		unsigned n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR || nr < 0)
		return 0;
	return seccomp_rule_add_array(c, act, nr, n, cmp) ? -1 : 0;
}

static int rules(scmp_filter_ctx c, uint32_t act, const char *const *names)
{
	for (; *names; names++)
		if (rule(c, act, *names, 0, NULL))
			return -1;
	return 0;
}

/* A 32-bit argument compared as such (the upper half is undefined). */
static struct scmp_arg_cmp a32(unsigned arg, uint32_t v)
{
	struct scmp_arg_cmp x = { arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, v };

	return x;
}

static struct scmp_arg_cmp amask(unsigned arg, uint64_t mask, uint64_t v)
{
	struct scmp_arg_cmp x = { arg, SCMP_CMP_MASKED_EQ, mask, v };

	return x;
}

/* What computing needs: memory, its pipes, futexes, clocks, threads,
 * exit.  Everything else kills the process (SIGSYS), so the attempt is
 * itself the finding, pinned to the case that made it. */
static int loader_rules(scmp_filter_ctx c, pid_t self)
{
	static const char *const allow[] = {
		"read", "readv", "pread64", "preadv", "preadv2", "write", "writev",
		"close", "fstat", "newfstatat", "statx", "stat", "lstat",
		"lseek", "mmap", "munmap", "mprotect", "mremap", "brk", "madvise",
		"msync", "mincore", "futex", "futex_waitv", "set_robust_list",
		"get_robust_list", "rseq", "set_tid_address", "clock_gettime",
		"clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
		"time", "getpid", "gettid", "getppid", "getuid", "geteuid",
		"getgid", "getegid", "getresuid", "getresgid", "getgroups",
		"getpgrp", "getrusage", "times", "sysinfo", "uname", "exit",
		"exit_group", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
		"sigaltstack", "sched_yield", "sched_getaffinity", "getcpu",
		"getrandom", "membarrier", "getcwd", "readlink", "readlinkat",
		"access", "faccessat", "faccessat2", "getdents64", "statfs",
		"fstatfs", "poll", "ppoll", "sched_get_priority_max",
		"sched_get_priority_min", "sched_getparam", "sched_getscheduler",
		"getrlimit", "arch_prctl", "restart_syscall", NULL
	};
	const uint64_t wr = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND;
	struct scmp_arg_cmp x;

	if (rules(c, SCMP_ACT_ALLOW, allow))
		return -1;
	x = amask(1, wr, 0);                   /* read-only opens */
	if (rule(c, SCMP_ACT_ALLOW, "open", 1, &x))
		return -1;
	x = amask(2, wr, 0);
	if (rule(c, SCMP_ACT_ALLOW, "openat", 1, &x))
		return -1;
	x = amask(0, CLONE_THREAD, CLONE_THREAD); /* threads, never processes */
	if (rule(c, SCMP_ACT_ALLOW, "clone", 1, &x))
		return -1;
	x = a32(0, (uint32_t)self);            /* signals to itself only */
	if (rule(c, SCMP_ACT_ALLOW, "kill", 1, &x) ||
	    rule(c, SCMP_ACT_ALLOW, "tgkill", 1, &x))
		return -1;
	x = a32(0, 0);
	if (rule(c, SCMP_ACT_ALLOW, "sched_setaffinity", 1, &x))
		return -1;
	x = amask(2, ~(uint64_t)0, 0);          /* prlimit64 to read only */
	if (rule(c, SCMP_ACT_ALLOW, "prlimit64", 1, &x))
		return -1;
	static const int fcmds[] = { F_GETFD, F_SETFD, F_GETFL };
	for (int i = 0; i < 3; i++) {
		x = a32(1, (uint32_t)fcmds[i]);
		if (rule(c, SCMP_ACT_ALLOW, "fcntl", 1, &x))
			return -1;
	}
	x = a32(1, TCGETS);                    /* isatty() of stdio */
	if (rule(c, SCMP_ACT_ALLOW, "ioctl", 1, &x))
		return -1;
	x = a32(0, PR_SET_NAME);
	if (rule(c, SCMP_ACT_ALLOW, "prctl", 1, &x))
		return -1;
	x = a32(0, PR_GET_NAME);
	if (rule(c, SCMP_ACT_ALLOW, "prctl", 1, &x))
		return -1;
	/* calls whose arguments a filter cannot see: glibc falls back */
	if (rule(c, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL) ||
	    rule(c, SCMP_ACT_ERRNO(ENOSYS), "openat2", 0, NULL))
		return -1;
	return 0;
}

/* Never for a candidate, whatever the profile. */
static const char *const never[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "mount",
	"umount2", "pivot_root", "chroot", "unshare", "setns", "keyctl",
	"add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
	"init_module", "finit_module", "delete_module", "kexec_load",
	"kexec_file_load", "reboot", "swapon", "swapoff", "acct", "syslog",
	"iopl", "ioperm", "quotactl", "open_by_handle_at", "name_to_handle_at",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "fanotify_init", "vhangup",
	"move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
	"mount_setattr", "pidfd_getfd", "kcmp", NULL
};

static int deny_clone_ns(scmp_filter_ctx c, uint32_t act)
{
	static const uint64_t nsf[] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID,
		CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP };

	for (size_t i = 0; i < sizeof nsf / sizeof *nsf; i++) {
		struct scmp_arg_cmp x = amask(0, nsf[i], nsf[i]);

		if (rule(c, act, "clone", 1, &x))
			return -1;
	}
	return rule(c, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
}

/* The CUDA runtime opens device files, makes threads and talks ioctl to
 * the driver: a deny-list, each denial a kill (a finding). */
static int cuda_rules(scmp_filter_ctx c, pid_t self)
{
	static const char *const deny[] = { "execve", "execveat", "fork", "vfork",
		"tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal",
		"pidfd_open", "connect", "bind", "listen", "accept", "accept4",
		"alarm", "setitimer", NULL };
	struct scmp_arg_cmp x;

	if (rules(c, SCMP_ACT_KILL_PROCESS, never) ||
	    rules(c, SCMP_ACT_KILL_PROCESS, deny))
		return -1;
	/* the driver may use unix sockets (no network here anyway) */
	x = (struct scmp_arg_cmp){ 0, SCMP_CMP_NE, AF_UNIX, 0 };
	if (rule(c, SCMP_ACT_KILL_PROCESS, "socket", 1, &x))
		return -1;
	x = amask(0, CLONE_THREAD, 0);          /* a process, not a thread */
	if (rule(c, SCMP_ACT_KILL_PROCESS, "clone", 1, &x))
		return -1;
	x = (struct scmp_arg_cmp){ 0, SCMP_CMP_NE, (uint64_t)self, 0 };
	if (rule(c, SCMP_ACT_KILL_PROCESS, "kill", 1, &x) ||
	    rule(c, SCMP_ACT_KILL_PROCESS, "tgkill", 1, &x))
		return -1;
	return deny_clone_ns(c, SCMP_ACT_KILL_PROCESS);
}

/* Co-processes and builds: any program, any interpreter.  A deny-list,
 * each denial an EPERM the program can handle. */
static int cmd_rules(scmp_filter_ctx c)
{
	static const char *const deny[] = { "socket", "rt_sigqueueinfo",
		"rt_tgsigqueueinfo", NULL };
	struct scmp_arg_cmp x = a32(0, (uint32_t)-1);

	if (rules(c, SCMP_ACT_ERRNO(EPERM), never) ||
	    rules(c, SCMP_ACT_ERRNO(EPERM), deny) ||
	    rule(c, SCMP_ACT_ERRNO(EPERM), "kill", 1, &x))
		return -1;
	return deny_clone_ns(c, SCMP_ACT_ERRNO(EPERM));
}

/* Install the profile's filter in this process.  Returns 0 or -1. */
static int seccomp_install(int profile)
{
	scmp_filter_ctx c;
	pid_t self = getpid();
	int rc;

	c = seccomp_init(profile == KVA_SBX_LOADER ? SCMP_ACT_KILL_PROCESS :
			 SCMP_ACT_ALLOW);
	if (!c)
		return -1;
	if (profile == KVA_SBX_LOADER)
		rc = loader_rules(c, self);
	else if (profile == KVA_SBX_CUDA)
		rc = cuda_rules(c, self);
	else
		rc = cmd_rules(c);
	if (!rc)
		rc = seccomp_load(c) ? -1 : 0;
	seccomp_release(c);
	return rc;
}

/* ---- the child --------------------------------------------------------- */

static void report(int fd, uint32_t tag, uint32_t val)
{
	struct msg m = { tag, val };

	if (fd >= 0)
		kva_sbx_write_full(fd, &m, sizeof m);
}

/* Move fd to at (dup2, or nothing if it is there).  The caller moved
 * every source above the targets first. */
static void put_fd(int fd, int at)
{
	if (fd < 0 || fd == at)
		return;
	dup2(fd, at);
}

/* Lift fd above every fixed number, so the dup2s cannot clobber it. */
static int lift(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD, 16);
}

/* Drop every capability for good: bounding set, securebits, ambient,
 * the sets themselves.  Returns 0 or -1. */
static int drop_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int ok = 0;

	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno == EINVAL)
			break;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
		  SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
		  SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
		  SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0))
		ok = -1;
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d))
		ok = -1;
	return ok;
}

/* The candidate: limits, descriptors, privileges, environment, filter,
 * then exec.  Never returns. */
static void child_run(struct child_args *ca) __attribute__((noreturn));
static void child_run(struct child_args *ca)
{
	const kva_sbx_limits *lim = ca->lim;
	const kva_sbx_job *job = ca->job;
	char home[96], tmpdir[96], cuda[2][4200];
	char *envp[] = { (char *)"PATH=/usr/local/bin:/usr/bin:/bin",
			 (char *)"LC_ALL=C", home, tmpdir, NULL, NULL, NULL, NULL };
	unsigned layers = KVA_L_ENV;
	struct rlimit r;
	sigset_t none;
	int rfd, wfd, pass, rep, exe, null = open("/dev/null", O_RDWR);

	if (!ca->ns) {
		char c;

		setpgid(0, 0);
		if (read(ca->go, &c, 1) != 1) /* our parent is gone */
			_exit(1);
	}
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* descriptors: lift, place, close the rest */
	rfd = lift(ca->rfd);
	wfd = lift(ca->wfd);
	pass = lift(job->passfd);
	rep = lift(ca->report);
	exe = lift(ca->exefd);
	null = lift(null);
	if (!job->stdio) {
		put_fd(job->cmd ? rfd : null, 0);
		put_fd(job->cmd ? wfd : null, 1);
		if (!lim->keep_stderr)
			put_fd(null, 2);
	}
	if (job->argv) {
		put_fd(rfd, FD_REQ);
		put_fd(wfd, FD_REP);
		put_fd(pass, FD_PASS);
		put_fd(exe, FD_EXE);
		fcntl(FD_EXE, F_SETFD, FD_CLOEXEC);
	}
	put_fd(rep, FD_REPORT);
	fcntl(FD_REPORT, F_SETFD, FD_CLOEXEC);
	close_range(FD_EXE + 1, ~0u, 0);
	if (!job->argv)
		close_range(3, FD_REPORT - 1, 0);

	/* limits (the loader's address space is set after its exec,
	 * relative to what a sanitizer runtime maps at start) */
	r.rlim_cur = r.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &r);
	r.rlim_cur = (rlim_t)lim->cpu_s;
	r.rlim_max = (rlim_t)lim->cpu_s + 1;
	setrlimit(RLIMIT_CPU, &r);
	r.rlim_cur = r.rlim_max = (rlim_t)lim->fsize_bytes;
	setrlimit(RLIMIT_FSIZE, &r);

	/* privileges: none.  Root without a user namespace becomes nobody. */
	if (ca->ns) {
		if (!drop_caps())
			layers |= KVA_L_CAPS;
	} else if (geteuid() == 0) {
		if (!setgroups(0, NULL) && !setresgid(OUTSIDE_ID, OUTSIDE_ID, OUTSIDE_ID) &&
		    !setresuid(OUTSIDE_ID, OUTSIDE_ID, OUTSIDE_ID))
			layers |= KVA_L_CAPS;
	} else {
		layers |= KVA_L_CAPS;
	}
	if (lim->nproc > 0) {
		r.rlim_cur = r.rlim_max = (rlim_t)lim->nproc;
		if (!setrlimit(RLIMIT_NPROC, &r) && (layers & KVA_L_CAPS))
			layers |= KVA_L_NPROC;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		layers &= ~(unsigned)KVA_L_CAPS;
	/* die with our parent: set after every credential change (each one
	 * clears it), then make sure the parent did not go in between */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ca->parent)
		_exit(1);

	snprintf(home, sizeof home, "HOME=%s", ca->private_dir);
	snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", ca->private_dir);
	if (SANITIZED && job->argv)
		/* a sanitized loader (make asan) behaves as the real one: no
		 * leak check at a candidate's exit(), the candidate's calls to
		 * memset, memmem, strlen... are libc's (they fault, or read a
		 * poisoned stack, as they would), a refused malloc is NULL */
		envp[4] = (char *)"ASAN_OPTIONS=detect_leaks=0:replace_intrin=0:"
			  "allocator_may_return_null=1:intercept_memmem=0:"
			  "intercept_strstr=0:intercept_strlen=0:intercept_strchr=0:"
			  "intercept_memcmp=0:intercept_strndup=0";
	if (job->profile == KVA_SBX_CUDA) {
		/* which runtime and which devices: the caller's choice */
		static const char *const keep[] = { "CUDA_HOME", "CUDA_VISIBLE_DEVICES" };
		int n = envp[4] ? 5 : 4;

		for (int i = 0; i < 2; i++) {
			const char *v = getenv(keep[i]);

			if (v && strlen(v) < 4096) {
				snprintf(cuda[i], sizeof cuda[i], "%s=%s", keep[i], v);
				envp[n++] = cuda[i];
			}
		}
	}
	if (job->private_cwd || job->argv) {
		if (chdir(ca->private_dir))
			_exit(126);
	}
	if (job->cmd && lim->confine != KVA_CONFINE_OFF &&
	    !seccomp_install(KVA_SBX_CMD))
		layers |= KVA_L_SECCOMP;
	report(FD_REPORT, MSG_CAND, layers);
	/* last: until the exec this is our image, and a sanitizer runtime
	 * in it reserves terabytes of address space */
	if (lim->as_bytes && job->cmd) {
		r.rlim_cur = r.rlim_max = (rlim_t)lim->as_bytes;
		setrlimit(RLIMIT_AS, &r);
	}
	if (job->argv) {
		fexecve(FD_EXE, job->argv, envp);
	} else {
		char *const argv[] = { (char *)"sh", (char *)"-c", (char *)job->cmd, NULL };

		execve("/bin/sh", argv, envp);
	}
	report(FD_REPORT, MSG_FAIL, (uint32_t)errno);
	_exit(127);
}

/* Inside the new namespaces, as uid 0 there: the mounts.  Returns the
 * layers that held and sets *dir to the private directory. */
static unsigned ns_mounts(const char **dir)
{
	struct mount_attr ro;
	unsigned l = 0;
	int rdonly, priv, proc;

	*dir = "/";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return 0;
	memset(&ro, 0, sizeof ro);
	ro.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
	rdonly = mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof ro) == 0;
	*dir = "/dev/shm";
	priv = mount("tmpfs", *dir, "tmpfs", MS_NOSUID | MS_NODEV,
		     "size=64m,mode=0700") == 0;
	if (!priv) {
		*dir = "/tmp";
		priv = mount("tmpfs", *dir, "tmpfs", MS_NOSUID | MS_NODEV,
			     "size=64m,mode=0700") == 0;
	}
	if (!priv)
		*dir = "/";
	proc = mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     NULL) == 0;
	if (rdonly && priv)
		l |= KVA_L_MOUNT;
	if (proc)
		l |= KVA_L_PID;
	return l;
}

/* pid 1 of the new namespaces: wait for our maps, become uid 0 there,
 * mount, start the candidate, reap everything, report its status. */
static void ns_init(struct child_args *ca) __attribute__((noreturn));
static void ns_init(struct child_args *ca)
{
	pid_t cand;
	char c;
	int st;

	close(ca->close1);
	close(ca->close2);
	close(ca->close3);
	close(ca->close4);
	if (read(ca->go, &c, 1) != 1) /* our parent is gone */
		_exit(1);
	close(ca->go);
	ca->go = -1;
	/* /proc/1 must not show our memory (it holds the caller's env) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setgroups(0, NULL);              /* refused when not root: kept */
	if (setresgid(0, 0, 0) || setresuid(0, 0, 0)) {
		report(ca->report, MSG_FAIL, (uint32_t)errno);
		_exit(1);
	}
	/* after the credentials change, which clears it; if we are already
	 * orphaned, the report below raises SIGPIPE and we die all the same */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_DFL);
	ca->layers |= KVA_L_USER | KVA_L_IPC | KVA_L_NET;
	ca->layers |= ns_mounts(&ca->private_dir);
	report(ca->report, MSG_INIT, ca->layers);
	if ((cand = fork()) < 0) {
		report(ca->report, MSG_FAIL, (uint32_t)errno);
		_exit(1);
	}
	if (cand == 0) {
		ca->parent = 1;
		child_run(ca);
	}
	if (ca->rfd >= 0)
		close(ca->rfd);
	if (ca->wfd >= 0)
		close(ca->wfd);
	if (ca->job->passfd >= 0)
		close(ca->job->passfd);
	for (;;) {
		pid_t r = waitpid(-1, &st, 0);

		if (r == cand)
			break;
		if (r < 0 && errno != EINTR)
			_exit(1);
	}
	report(ca->report, MSG_STATUS, (uint32_t)st);
	_exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = kva_sbx_write_full(fd, s, strlen(s));
	return close(fd) | rc;
}

/* The child's uid and gid maps: 0 inside is nobody outside (or the
 * caller's own ids when the caller is not root).  Returns 0 or -1. */
static int write_maps(pid_t pid)
{
	char path[64], map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (uid != 0) {
		snprintf(path, sizeof path, "/proc/%ld/setgroups", (long)pid);
		if (write_file(path, "deny"))
			return -1;
	}
	snprintf(path, sizeof path, "/proc/%ld/uid_map", (long)pid);
	snprintf(map, sizeof map, "0 %ld 1", uid ? (long)uid : (long)OUTSIDE_ID);
	if (write_file(path, map))
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/gid_map", (long)pid);
	snprintf(map, sizeof map, "0 %ld 1", uid ? (long)gid : (long)OUTSIDE_ID);
	return write_file(path, map);
}

/* Read one report message within timeout_s.  Returns 0, or -1 at end of
 * file or timeout. */
static int read_msg(int fd, struct msg *m, double timeout_s)
{
	size_t got = 0;
	double t0 = kva_now();

	while (got < sizeof *m) {
		struct pollfd pf = { fd, POLLIN, 0 };
		double left = timeout_s - (kva_now() - t0);
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&pf, 1, (int)(left * 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (!pf.revents)
			continue;
		n = read(fd, (char *)m + got, sizeof *m - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Without namespaces: a private directory of our own making, writable by
 * the uid the candidate runs as.  Returns its path or "/". */
static const char *make_fallback_dir(void)
{
	if (!fallback_dir[0]) {
		snprintf(fallback_dir, sizeof fallback_dir, "/tmp/kvarbiter-sbx-XXXXXX");
		if (!mkdtemp(fallback_dir)) {
			fallback_dir[0] = '\0';
			return "/";
		}
		if (geteuid() == 0 && chown(fallback_dir, OUTSIDE_ID, OUTSIDE_ID))
			chmod(fallback_dir, 0777);
	}
	return fallback_dir;
}

static const char *const layer_names[] = { "env", "user", "pid", "mount", "ipc",
	"net", "nproc", "seccomp", "caps" };

void kva_sbx_missing(unsigned want, unsigned have, char *buf, size_t n)
{
	size_t at = 0;

	buf[0] = '\0';
	for (int i = 0; i < 9; i++)
		if ((want & (1u << i)) && !(have & (1u << i)) && at < n)
			at += (size_t)snprintf(buf + at, n - at, "%s%s", at ? ", " : "",
					       layer_names[i]);
}

void kva_sbx_layers_json(kva_buf *b, unsigned layers, int profile, int confine)
{
	static const char *const prof[] = { "loader", "cuda", "coprocess" };

	if (confine == KVA_CONFINE_OFF) {
		kva_buf_puts(b, "{\"mode\":\"off\"}");
		return;
	}
	kva_buf_printf(b, "{\"mode\":\"%s\"", confine == KVA_CONFINE_STRICT ?
		       "strict" : "auto");
	for (int i = 0; i < 9; i++) {
		if (i == 7) {
			kva_buf_puts(b, ",\"seccomp\":");
			if (layers & KVA_L_SECCOMP)
				kva_buf_printf(b, "\"%s\"", prof[profile]);
			else
				kva_buf_puts(b, "false");
			continue;
		}
		kva_buf_printf(b, ",\"%s\":%s", layer_names[i],
			       layers & (1u << i) ? "true" : "false");
	}
	kva_buf_putc(b, '}');
}

/* Say once which layers the kernel refused. */
static void say_missing(unsigned want, unsigned have, const char *extra)
{
	char miss[128];

	want &= ~(unsigned)said;
	kva_sbx_missing(want, have, miss, sizeof miss);
	if (!miss[0])
		return;
	said |= (int)(want & ~have);
	kva_warnx("confinement: %s unavailable%s%s: candidates run without "
		  "(see grad-trap(1) SECURITY)", miss, extra ? ": " : "",
		  extra ? extra : "");
}

/* want against have under lim: under --confine strict a missing layer
 * is an error (e), else it is said once.  Returns 0 or -1. */
static int check_layers(const kva_sbx_limits *lim, unsigned want, unsigned have,
			const char *why, kva_err *e)
{
	char miss[128];

	if (lim->confine == KVA_CONFINE_OFF)
		return 0;
	if (lim->confine == KVA_CONFINE_STRICT && (want & ~have)) {
		kva_sbx_missing(want, have, miss, sizeof miss);
		return kva_errf(e, NULL, "confinement: %s unavailable%s%s "
				"(--confine strict)", miss, why ? ": " : "", why ? why : "");
	}
	say_missing(want, have, why);
	return 0;
}

int kva_sbx_child_layers(kva_sbx *s, const kva_sbx_limits *lim, unsigned layers,
			 kva_err *e)
{
	s->layers |= layers;
	if (check_layers(lim, KVA_L_SECCOMP, s->layers, NULL, e)) {
		kva_sbx_stop(s);
		return -1;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int kva_sbx_spawn(kva_sbx *s, const kva_sbx_limits *lim, const kva_sbx_job *job,
		  kva_err *e)
{
	static int exefd = -1;
	int req[2] = { -1, -1 }, rep[2] = { -1, -1 }, rpt[2], go[2];
	struct child_args ca;
	char why[96] = "";
	struct msg m;
	pid_t pid = -1;
	int confine = lim->confine != KVA_CONFINE_OFF;

	memset(s, 0, sizeof *s);
	s->to = s->from = s->report = -1;
	if (job->argv && exefd < 0 &&
	    (exefd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) < 0)
		return kva_errf(e, NULL, "/proc/self/exe: %s", strerror(errno));
	if ((!job->stdio && (pipe2(req, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))) ||
	    pipe2(rpt, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) {
		kva_errf(e, NULL, "pipe: %s", strerror(errno));
		close_fd(&req[0]); close_fd(&req[1]); close_fd(&rep[0]); close_fd(&rep[1]);
		return -1;
	}
	/* a kernel call moves its cache both ways: pipes of 1 MiB (or what
	 * the system allows; the default 64 KiB is kept otherwise) take a
	 * call in a few wakeups of each side, not dozens */
	if (!job->stdio) {
		(void)fcntl(req[1], F_SETPIPE_SZ, 1 << 20);
		(void)fcntl(rep[1], F_SETPIPE_SZ, 1 << 20);
	}
	memset(&ca, 0, sizeof ca);
	ca.lim = lim;
	ca.job = job;
	ca.rfd = req[0];
	ca.wfd = rep[1];
	ca.report = rpt[1];
	ca.go = go[0];
	ca.exefd = exefd;
	ca.close1 = req[1];
	ca.close2 = rep[0];
	ca.close3 = rpt[0];
	ca.close4 = go[1];
	fflush(NULL);
	if (confine && !ns_broken) {
		/* clone(2) as fork(2) does it, on a copy of our own stack (a
		 * stack of its own would puzzle a sanitizer runtime) */
		ca.ns = 1;
		pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER |
			    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET |
			    SIGCHLD), NULL, NULL, NULL, NULL);
		if (pid == 0)
			ns_init(&ca);
		if (pid < 0) {
			ns_broken = 1;
			ca.ns = 0;
			snprintf(why, sizeof why, "clone: %s", strerror(errno));
		} else if (write_maps(pid)) {
			snprintf(why, sizeof why, "uid map: %s", strerror(errno));
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ns_broken = 1;
			ca.ns = 0;
			pid = -1;
		}
	}
	if (pid < 0) {
		ca.private_dir = make_fallback_dir();
		ca.parent = getpid();
		if ((pid = fork()) < 0) {
			kva_errf(e, NULL, "fork: %s", strerror(errno));
			goto fail;
		}
		if (pid == 0) {
			close(ca.close1); close(ca.close2); close(ca.close3); close(ca.close4);
			child_run(&ca);
		}
		setpgid(pid, pid); /* both sides, so kill(-pid) works at once */
	}
	s->pid = pid;
	s->ns = ca.ns;
	track(pid, !ca.ns);
	close_fd(&req[0]);
	close_fd(&rep[1]);
	close_fd(&rpt[1]);
	close_fd(&go[0]);
	if (write(go[1], "g", 1) != 1) {
		kva_errf(e, NULL, "sandbox: %s", strerror(errno));
		goto fail_child;
	}
	close_fd(&go[1]);
	s->report = rpt[0];
	s->to = req[1];
	s->from = rep[0];
	if (s->to >= 0) {
		fcntl(s->to, F_SETFL, fcntl(s->to, F_GETFL) | O_NONBLOCK);
		fcntl(s->from, F_SETFL, fcntl(s->from, F_GETFL) | O_NONBLOCK);
	}
	/* setup reports: the init's (with namespaces), then the candidate's */
	for (;;) {
		if (read_msg(s->report, &m, lim->load_timeout_s)) {
			kva_errf(e, NULL, "sandbox: the child died while being set up");
			goto fail_child;
		}
		if (m.tag == MSG_FAIL) {
			kva_errf(e, NULL, "sandbox: setting up the child: %s",
				 strerror((int)m.val));
			goto fail_child;
		}
		if (m.tag == MSG_INIT)
			s->layers |= m.val;
		if (m.tag == MSG_CAND) {
			s->layers |= m.val;
			break;
		}
	}
	/* a loader's own filter is the child's to report (kva_sbx_child_layers) */
	if (check_layers(lim, job->argv ? KVA_L_ALL & ~(unsigned)KVA_L_SECCOMP :
			 KVA_L_ALL, s->layers, why[0] ? why : NULL, e))
		goto fail_child;
	return 0;
fail_child:
	kva_sbx_stop(s);
	return -1;
fail:
	close_fd(&req[0]); close_fd(&req[1]); close_fd(&rep[0]); close_fd(&rep[1]);
	close_fd(&rpt[0]); close_fd(&rpt[1]); close_fd(&go[0]); close_fd(&go[1]);
	return -1;
}

/* Describe the candidate's wait status for a divergence record. */
static void describe(kva_sbx *s)
{
	int st = s->status;

	if (WIFSIGNALED(st))
		snprintf(s->why, sizeof s->why, "signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else if (WIFEXITED(st))
		snprintf(s->why, sizeof s->why, "exit %d", WEXITSTATUS(st));
	else
		snprintf(s->why, sizeof s->why, "status %d", st);
}

static void close_pipes(kva_sbx *s)
{
	close_fd(&s->to);
	close_fd(&s->from);
}

/* s->pid was reaped with wait status st: take the candidate's status
 * (the init's report with namespaces, st without), kill what is left of
 * its process group (without namespaces), forget the child. */
static void reaped(kva_sbx *s, int st)
{
	struct msg m;

	untrack(s->pid);
	s->status = st;
	if (!s->ns)
		kill(-s->pid, SIGKILL); /* grandchildren */
	if (s->ns && s->report >= 0) {
		/* the init wrote the candidate's status before it exited */
		while (read_msg(s->report, &m, 0.05) == 0)
			if (m.tag == MSG_STATUS)
				s->status = (int)m.val;
	}
	close_fd(&s->report);
	s->pid = 0;
	describe(s);
}

/* Reap s->pid, blocking. */
static void reap(kva_sbx *s)
{
	int st = 0;

	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	reaped(s, st);
}

void kva_sbx_stop(kva_sbx *s)
{
	close_pipes(s);
	if (s->pid > 0) {
		if (!s->ns)
			kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
		reap(s);
	}
	close_fd(&s->report);
	s->pid = 0;
}

/* Wait up to secs for s->pid to end on its own; reap it then.  Returns
 * 1 when it was reaped, 0 when it still runs. */
static int reap_within(kva_sbx *s, double secs)
{
	double t0 = kva_now();

	while (s->pid > 0) {
		int st;

		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			reaped(s, st);
			return 1;
		}
		if (kva_now() - t0 >= secs)
			return 0;
		usleep(1000);
	}
	return 1;
}

void kva_sbx_end(kva_sbx *s, double grace_s)
{
	close_pipes(s);
	reap_within(s, grace_s);
	kva_sbx_stop(s);
}

/* The child closed its reply pipe: reap it without killing (it may be
 * exiting on its own), but kill a tree that lives on for a second. */
static int died(kva_sbx *s)
{
	kva_sbx_end(s, 1.0);
	return KVA_SBX_DIED;
}

/* write(2) to a child's pipe without letting a dead child's SIGPIPE kill
 * us: the signal is blocked for the call and a pending one discarded, so
 * EPIPE comes back as an error instead.  SIGPIPE on our own stdout keeps
 * its default meaning. */
static ssize_t write_nosigpipe(int fd, const void *p, size_t n)
{
	sigset_t pipe_set, old;
	ssize_t r;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	r = write(fd, p, n);
	saved = errno;
	if (r < 0 && errno == EPIPE) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
			;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return r;
}

int kva_sbx_exchange(kva_sbx *s, const void *req, size_t reqlen, kva_buf *rep,
		     int (*done)(kva_buf *rep, void *ctx, uint64_t *units),
		     void *ctx, double timeout_s)
{
	const char *p = req;
	size_t sent = 0;
	double last = kva_now();
	uint64_t units = 0, seen = 0;
	char chunk[65536];

	if (s->pid <= 0)
		return died(s);
	while (!done(rep, ctx, &units)) {
		struct pollfd pf[2];
		int nf = 0, wait_ms;
		double left;

		if (units > seen) {      /* a complete answer: progress */
			seen = units;
			last = kva_now();
		}
		left = timeout_s - (kva_now() - last);
		if (left <= 0) {
			kva_sbx_stop(s);
			snprintf(s->why, sizeof s->why, "no answer for %g s", timeout_s);
			return KVA_SBX_TIMEOUT;
		}
		pf[nf].fd = s->from;
		pf[nf++].events = POLLIN;
		if (sent < reqlen) {
			pf[nf].fd = s->to;
			pf[nf++].events = POLLOUT;
		}
		wait_ms = (int)(left * 1000) + 1;
		if (poll(pf, (nfds_t)nf, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			kva_sbx_stop(s);
			return KVA_SBX_DIED;
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(s->from, chunk, sizeof chunk);

			if (n > 0)
				kva_buf_put(rep, chunk, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				return died(s);
		}
		if (nf > 1 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write_nosigpipe(s->to, p + sent, reqlen - sent);

			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return died(s); /* EPIPE: the child is gone */
		}
	}
	return KVA_SBX_OK;
}

int kva_sbx_wait(kva_sbx *s, double timeout_s)
{
	if (reap_within(s, timeout_s))
		return KVA_SBX_DIED;
	kva_sbx_stop(s);
	snprintf(s->why, sizeof s->why, "no end for %g s", timeout_s);
	return KVA_SBX_TIMEOUT;
}

/* ---- the child side of a loader ------------------------------------------ */

unsigned kva_sbx_child_enter(int profile, size_t as_bytes)
{
	static const int faults[] = { SIGPIPE, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				      SIGABRT, SIGSYS };
	unsigned layers = 0;

	/* a candidate's fault is a signal the parent can name, even when a
	 * sanitizer runtime installed its own handlers */
	for (size_t i = 0; i < sizeof faults / sizeof *faults; i++)
		signal(faults[i], SIG_DFL);
	if (as_bytes) {
		long pages = 0, psz = sysconf(_SC_PAGESIZE);
		FILE *fp = fopen("/proc/self/statm", "r");
		struct rlimit r;

		if (fp) {
			if (fscanf(fp, "%ld", &pages) != 1)
				pages = 0;
			fclose(fp);
		}
		r.rlim_cur = r.rlim_max = (rlim_t)pages * (rlim_t)psz + (rlim_t)as_bytes;
		setrlimit(RLIMIT_AS, &r);
	}
	if (profile >= 0 && !seccomp_install(profile))
		layers |= KVA_L_SECCOMP;
	return layers;
}

int kva_sbx_read_full(int fd, void *p, size_t n)
{
	char *q = p;

	while (n) {
		ssize_t r = read(fd, q, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

int kva_sbx_write_full(int fd, const void *p, size_t n)
{
	const char *q = p;

	while (n) {
		ssize_t r = write(fd, q, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}
