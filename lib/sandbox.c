/*
 * sandbox.c - child processes for candidate code (see sandbox.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

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

/* Apply lim in the child; failures are ignored only where the limit is
 * already tighter. */
static void child_limits(const kva_sbx_limits *lim)
{
	struct rlimit r;

	r.rlim_cur = r.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &r);
	r.rlim_cur = (rlim_t)lim->cpu_s;
	r.rlim_max = (rlim_t)lim->cpu_s + 1;
	setrlimit(RLIMIT_CPU, &r);
	r.rlim_cur = r.rlim_max = (rlim_t)lim->fsize_bytes;
	setrlimit(RLIMIT_FSIZE, &r);
	/* AddressSanitizer reserves terabytes of shadow address space: an
	 * address-space limit would kill every sanitized child at start */
	if (lim->as_bytes && !SANITIZED) {
		r.rlim_cur = r.rlim_max = (rlim_t)lim->as_bytes;
		setrlimit(RLIMIT_AS, &r);
	}
}

/* In the child: make rfd/wfd the only descriptors beyond 0-2, and point
 * 0, 1 (and 2 unless kept) at /dev/null. */
static void child_fds(int *rfd, int *wfd, int keep_stderr)
{
	int null = open("/dev/null", O_RDWR), maxfd;

	/* move the pipes above 2 first so the dup2s below cannot clobber them */
	if (*rfd <= 2) {
		int n = fcntl(*rfd, F_DUPFD, 3);

		*rfd = n;
	}
	if (*wfd <= 2) {
		int n = fcntl(*wfd, F_DUPFD, 3);

		*wfd = n;
	}
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (!keep_stderr)
			dup2(null, 2);
	}
	maxfd = (int)sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	for (int fd = 3; fd < maxfd; fd++)
		if (fd != *rfd && fd != *wfd)
			close(fd);
}

/* Fork with two pipes.  In the parent returns the child's pid (> 0) and
 * fills s; in the child returns 0 with *crfd, *cwfd its ends. */
static pid_t sbx_fork(kva_sbx *s, int *crfd, int *cwfd, kva_err *e)
{
	int req[2], rep[2];
	pid_t pid;

	memset(s, 0, sizeof *s);
	s->to = s->from = -1;
	if (pipe(req))
		return kva_errf(e, NULL, "pipe: %s", strerror(errno));
	if (pipe(rep)) {
		close(req[0]);
		close(req[1]);
		return kva_errf(e, NULL, "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		close(req[0]); close(req[1]); close(rep[0]); close(rep[1]);
		return kva_errf(e, NULL, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(req[1]);
		close(rep[0]);
		*crfd = req[0];
		*cwfd = rep[1];
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* a candidate's fault is a signal the parent can name, even
		 * when a sanitizer runtime installed its own handlers */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		return 0;
	}
	setpgid(pid, pid); /* both sides, so kill(-pid) works at once */
	close(req[0]);
	close(rep[1]);
	s->pid = pid;
	s->to = req[1];
	s->from = rep[0];
	fcntl(s->to, F_SETFD, FD_CLOEXEC);
	fcntl(s->from, F_SETFD, FD_CLOEXEC);
	fcntl(s->to, F_SETFL, fcntl(s->to, F_GETFL) | O_NONBLOCK);
	fcntl(s->from, F_SETFL, fcntl(s->from, F_GETFL) | O_NONBLOCK);
	return pid;
}

int kva_sbx_spawn(kva_sbx *s, const kva_sbx_limits *lim, kva_sbx_main fn,
		  void *ctx, kva_err *e)
{
	int rfd, wfd;
	pid_t pid = sbx_fork(s, &rfd, &wfd, e);

	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_fds(&rfd, &wfd, lim->keep_stderr);
		child_limits(lim);
		fn(ctx, rfd, wfd);
		_exit(0);
	}
	return 0;
}

int kva_sbx_spawn_cmd(kva_sbx *s, const kva_sbx_limits *lim, const char *cmd,
		      kva_err *e)
{
	int rfd, wfd;
	pid_t pid = sbx_fork(s, &rfd, &wfd, e);

	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_fds(&rfd, &wfd, lim->keep_stderr);
		if (dup2(rfd, 0) < 0 || dup2(wfd, 1) < 0)
			_exit(127);
		close(rfd);
		close(wfd);
		child_limits(lim);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return 0;
}

/* Describe a wait status for a divergence record. */
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
	if (s->to >= 0)
		close(s->to);
	if (s->from >= 0)
		close(s->from);
	s->to = s->from = -1;
}

void kva_sbx_stop(kva_sbx *s)
{
	close_pipes(s);
	if (s->pid > 0) {
		kill(-s->pid, SIGKILL);
		while (waitpid(s->pid, &s->status, 0) < 0 && errno == EINTR)
			;
		describe(s);
	}
	s->pid = 0;
}

/* The child went away: reap it without killing (it may still be exiting
 * on its own after closing its pipe). */
static int died(kva_sbx *s)
{
	close_pipes(s);
	if (s->pid > 0) {
		/* a child that closed its reply pipe but lives on is killed */
		for (int i = 0; i < 200; i++) {
			pid_t r = waitpid(s->pid, &s->status, WNOHANG);

			if (r == s->pid)
				goto reaped;
			usleep(5000);
		}
		kill(-s->pid, SIGKILL);
		while (waitpid(s->pid, &s->status, 0) < 0 && errno == EINTR)
			;
reaped:
		kill(-s->pid, SIGKILL); /* grandchildren of a command */
		describe(s);
	}
	s->pid = 0;
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
		     int (*done)(kva_buf *rep, void *ctx), void *ctx,
		     double timeout_s)
{
	const char *p = req;
	size_t sent = 0;
	double last = kva_now();
	char chunk[65536];

	if (s->pid <= 0)
		return died(s);
	while (!done(rep, ctx)) {
		struct pollfd pf[2];
		int nf = 0, wait_ms;
		double left = timeout_s - (kva_now() - last);

		if (left <= 0) {
			kva_sbx_stop(s);
			snprintf(s->why, sizeof s->why, "no progress for %g s",
				 timeout_s);
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

			if (n > 0) {
				kva_buf_put(rep, chunk, (size_t)n);
				last = kva_now();
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				return died(s);
			}
		}
		if (nf > 1 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write_nosigpipe(s->to, p + sent, reqlen - sent);

			if (n > 0) {
				sent += (size_t)n;
				last = kva_now();
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return died(s); /* EPIPE: the child is gone */
			}
		}
	}
	return KVA_SBX_OK;
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
