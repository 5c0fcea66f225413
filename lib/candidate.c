/*
 * candidate.c - turn a candidate file into a shared object grad-trap can
 * load in its sandbox: a .so is used as it is; a .c is compiled with the
 * system cc, a .cu with nvcc, into a cache directory keyed by the SHA-256
 * of the source, the compiler command and the ABI header, so a candidate
 * is built once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "candidate.h"

extern const char kva_candidate_h[];

/* Read a whole file into b.  Returns 0 or -1 with e. */
static int read_file(const char *path, kva_buf *b, kva_err *e)
{
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return kva_errf(e, NULL, "%s: %s", path, strerror(errno));
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		kva_buf_put(b, chunk, (size_t)n);
	close(fd);
	if (n < 0)
		return kva_errf(e, NULL, "%s: %s", path, strerror(errno));
	return 0;
}

/* mkdir -p for the cache directory. */
static int mkdirs(const char *dir, kva_err *e)
{
	char tmp[4096];
	size_t n = strlen(dir);

	if (n >= sizeof tmp)
		return kva_errf(e, NULL, "cache directory path too long");
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return kva_errf(e, NULL, "%s: %s", tmp, strerror(errno));
			*p = '/';
		}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return kva_errf(e, NULL, "%s: %s", tmp, strerror(errno));
	return 0;
}

/* Write data to path atomically (temp file, rename). */
static int write_atomic(const char *path, const char *data, size_t n, kva_err *e)
{
	char tmp[4300];
	int fd;

	if (strlen(path) > 4200)
		return kva_errf(e, NULL, "path too long");
	snprintf(tmp, sizeof tmp, "%.4200s.%ld.tmp", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return kva_errf(e, NULL, "%s: %s", tmp, strerror(errno));
	if (kva_sbx_write_full(fd, data, n) || close(fd) || rename(tmp, path)) {
		unlink(tmp);
		return kva_errf(e, NULL, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* Run argv, its output going to our stderr.  Returns the exit status or
 * -1 if it could not run. */
static int run(char *const argv[])
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(2, 1); /* compiler chatter is diagnostics, never records */
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Default cache: $KVA_CACHE_DIR, $XDG_CACHE_HOME/kvarbiter,
 * $HOME/.cache/kvarbiter, else /tmp/kvarbiter-cache-UID. */
static void default_cache(char *dir, size_t n)
{
	const char *v;

	if ((v = getenv("KVA_CACHE_DIR")) && *v)
		snprintf(dir, n, "%s", v);
	else if ((v = getenv("XDG_CACHE_HOME")) && *v)
		snprintf(dir, n, "%s/kvarbiter", v);
	else if ((v = getenv("HOME")) && *v)
		snprintf(dir, n, "%s/.cache/kvarbiter", v);
	else
		snprintf(dir, n, "/tmp/kvarbiter-cache-%ld", (long)getuid());
}

/* See candidate.h. */
int kva_candidate_build(const char *path, const char *cache_dir,
			kva_candidate *c, kva_err *e)
{
	kva_buf src = { 0 }, key = { 0 };
	const char *dot = strrchr(path, '.');
	char dir[4096], hdr[4200], so[4200], tmp[4300], keyhex[65];
	const char *cc = getenv("CC");
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (read_file(path, &src, e))
		return -1;
	kva_sha256_hex(src.p ? src.p : "", src.len, c->sha256);
	if (dot && !strcmp(dot, ".so")) {
		snprintf(c->so, sizeof c->so, "%s", path);
		if (!strchr(path, '/')) /* dlopen would search the library path */
			snprintf(c->so, sizeof c->so, "./%s", path);
		kva_buf_free(&src);
		return 0;
	}
	if (!dot || (strcmp(dot, ".c") && strcmp(dot, ".cu"))) {
		kva_buf_free(&src);
		return kva_errf(e, NULL, "%s: a candidate is a .c, .cu or .so file",
				path);
	}
	c->cuda = !strcmp(dot, ".cu");
	if (!cc || !*cc)
		cc = "cc";
	if (cache_dir)
		snprintf(dir, sizeof dir, "%s", cache_dir);
	else
		default_cache(dir, sizeof dir);
	if (mkdirs(dir, e))
		goto out;
	/* the key covers everything the build depends on */
	kva_buf_put(&key, src.p ? src.p : "", src.len);
	kva_buf_puts(&key, c->cuda ? "\nnvcc -O2 -shared -Xcompiler -fPIC\n" :
		     "\n-O2 -shared -fPIC\n");
	kva_buf_puts(&key, c->cuda ? "" : cc);
	kva_buf_puts(&key, kva_candidate_h);
	kva_sha256_hex(key.p, key.len, keyhex);
	snprintf(hdr, sizeof hdr, "%s/kvarbiter_candidate.h", dir);
	snprintf(so, sizeof so, "%s/cand-%.32s.so", dir, keyhex);
	snprintf(c->so, sizeof c->so, "%s", so);
	if (access(so, R_OK) == 0) {
		rc = 0;
		goto out;
	}
	if (write_atomic(hdr, kva_candidate_h, strlen(kva_candidate_h), e))
		goto out;
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", so, (long)getpid());
	{
		char inc[4300];
		int st;

		snprintf(inc, sizeof inc, "-I%s", dir);
		if (c->cuda) {
			const char *nvcc = access("/usr/local/cuda/bin/nvcc", X_OK) == 0 ?
					   "/usr/local/cuda/bin/nvcc" : "nvcc";
			char *const argv[] = { (char *)nvcc, (char *)"-O2", (char *)"-shared",
				(char *)"-Xcompiler", (char *)"-fPIC", inc, (char *)"-o", tmp,
				(char *)path, NULL };

			st = run(argv);
		} else {
			char *const argv[] = { (char *)cc, (char *)"-O2", (char *)"-shared",
				(char *)"-fPIC", inc, (char *)"-o", tmp, (char *)path, NULL };

			st = run(argv);
		}
		if (st != 0) {
			unlink(tmp);
			kva_errf(e, NULL, "%s: build failed (%s exit %d)", path,
				 c->cuda ? "nvcc" : cc, st);
			goto out;
		}
	}
	if (rename(tmp, so)) {
		unlink(tmp);
		kva_errf(e, NULL, "%s: %s", so, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	kva_buf_free(&src);
	kva_buf_free(&key);
	return rc;
}
