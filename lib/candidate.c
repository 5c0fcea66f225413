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

int kva_candidate_confine = KVA_CONFINE_AUTO;

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

/* Append s to b single-quoted for sh. */
static void sh_quote(kva_buf *b, const char *s)
{
	kva_buf_putc(b, '\'');
	for (; *s; s++)
		if (*s == '\'')
			kva_buf_puts(b, "'\\''");
		else
			kva_buf_putc(b, *s);
	kva_buf_putc(b, '\'');
}

/* The build's reply is the shared object, up to end of file. */
static int build_done(kva_buf *b, void *ctx, uint64_t *units)
{
	(void)ctx;
	*units = b->len;         /* any output of the build is progress */
	return 0;
}

#define BUILD_TIMEOUT 300.0     /* seconds for one compile */

/*
 * Compile src (named base, e.g. "cand.c") in the sandbox: model-written
 * code is hostile even to its compiler (an #include of /etc/shadow or of
 * /proc/self/environ would put them in the messages).  The compiler runs
 * confined like a co-process, in the empty private directory, with the
 * header and the source on its stdin; its messages go to our stderr, the
 * shared object comes back on its stdout and is written to out.
 * quiet: the compiler's messages are dropped.  Returns the compiler's
 * exit status, or -1 with e.
 */
static int build_confined(const char *cc, int cuda, const kva_buf *src,
			  const char *base, const char *out, int quiet, kva_err *e)
{
	extern const char kva_candidate_h[];
	kva_buf cmd = { 0 }, req = { 0 }, so = { 0 };
	kva_sbx_limits lim;
	kva_sbx_job job;
	kva_sbx s;
	int st, rc = -1;

	memset(&lim, 0, sizeof lim);
	lim.timeout_s = BUILD_TIMEOUT;
	lim.load_timeout_s = 30;
	lim.cpu_s = (int)BUILD_TIMEOUT;
	lim.as_bytes = (size_t)8 << 30;
	lim.fsize_bytes = (size_t)256 << 20;
	lim.nproc = 64;
	lim.keep_stderr = !quiet;
	lim.confine = kva_candidate_confine;
	/* both files are counted: the command never waits for end of file */
	kva_buf_printf(&cmd, "head -c %zu > kvarbiter_candidate.h && head -c %zu > ",
		       strlen(kva_candidate_h), src->len);
	sh_quote(&cmd, base);
	kva_buf_puts(&cmd, " && ");
	if (cuda)
		kva_buf_puts(&cmd, "/usr/local/cuda/bin/nvcc -O2 -shared -Xcompiler -fPIC");
	else {
		sh_quote(&cmd, cc);
		kva_buf_puts(&cmd, " -O2 -shared -fPIC");
	}
	kva_buf_puts(&cmd, " -I. -o cand.so ");
	sh_quote(&cmd, base);
	kva_buf_puts(&cmd, " >&2 && cat cand.so");
	kva_buf_putc(&cmd, '\0');
	kva_buf_puts(&req, kva_candidate_h);
	kva_buf_put(&req, src->p ? src->p : "", src->len);
	memset(&job, 0, sizeof job);
	job.profile = KVA_SBX_CMD;
	job.cmd = cmd.p;
	job.passfd = -1;
	job.private_cwd = 1;
	if (kva_sbx_spawn(&s, &lim, &job, e))
		goto out;
	st = kva_sbx_exchange(&s, req.p, req.len, &so, build_done, NULL,
			      BUILD_TIMEOUT);
	if (st == KVA_SBX_TIMEOUT) {
		kva_errf(e, NULL, "build: no end for %g s", BUILD_TIMEOUT);
		goto out;
	}
	kva_sbx_stop(&s);
	if (!WIFEXITED(s.status) || WEXITSTATUS(s.status) != 0) {
		rc = WIFEXITED(s.status) ? WEXITSTATUS(s.status) : 128;
		goto out;
	}
	if (write_atomic(out, so.p ? so.p : "", so.len, e))
		goto out;
	rc = 0;
out:
	kva_buf_free(&cmd);
	kva_buf_free(&req);
	kva_buf_free(&so);
	return rc;
}

/* See candidate.h. */
void kva_default_cache(char *dir, size_t n)
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
int kva_candidate_build_src(const char *name, const char *src, size_t len,
			    const char *cache_dir, int quiet, kva_candidate *c,
			    kva_err *e)
{
	kva_buf key = { 0 };
	const char *dot = strrchr(name, '.'), *base = strrchr(name, '/');
	char dir[4096], so[4200], keyhex[65];
	const char *cc = getenv("CC");
	kva_buf sb = { (char *)(uintptr_t)src, len, len };
	int st, rc = -1;

	memset(c, 0, sizeof *c);
	kva_sha256_hex(src ? src : "", len, c->sha256);
	if (!dot || (strcmp(dot, ".c") && strcmp(dot, ".cu")))
		return kva_errf(e, NULL, "%s: a candidate is a .c, .cu or .so file",
				name);
	c->cuda = !strcmp(dot, ".cu");
	if (!cc || !*cc)
		cc = "cc";
	if (cache_dir)
		snprintf(dir, sizeof dir, "%s", cache_dir);
	else
		kva_default_cache(dir, sizeof dir);
	if (mkdirs(dir, e))
		goto out;
	/* the key covers everything the build depends on */
	kva_buf_put(&key, src ? src : "", len);
	kva_buf_puts(&key, c->cuda ? "\nnvcc -O2 -shared -Xcompiler -fPIC\n" :
		     "\n-O2 -shared -fPIC\n");
	kva_buf_puts(&key, c->cuda ? "" : cc);
	kva_buf_puts(&key, kva_candidate_h);
	kva_sha256_hex(key.p, key.len, keyhex);
	snprintf(so, sizeof so, "%s/cand-%.32s.so", dir, keyhex);
	snprintf(c->so, sizeof c->so, "%s", so);
	if (access(so, R_OK) == 0) {
		rc = 0;
		goto out;
	}
	st = build_confined(cc, c->cuda, &sb, base ? base + 1 : name, so, quiet, e);
	if (st < 0)
		goto out;
	if (st != 0) {
		kva_errf(e, NULL, "%s: build failed (%s exit %d)", name,
			 c->cuda ? "nvcc" : cc, st);
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	kva_buf_free(&key);
	return rc;
}

/* See candidate.h. */
int kva_candidate_build(const char *path, const char *cache_dir,
			kva_candidate *c, kva_err *e)
{
	kva_buf src = { 0 };
	const char *dot = strrchr(path, '.');
	int rc;

	memset(c, 0, sizeof *c);
	if (read_file(path, &src, e))
		return -1;
	if (dot && !strcmp(dot, ".so")) {
		kva_sha256_hex(src.p ? src.p : "", src.len, c->sha256);
		snprintf(c->so, sizeof c->so, "%s", path);
		if (!strchr(path, '/')) /* dlopen would search the library path */
			snprintf(c->so, sizeof c->so, "./%s", path);
		kva_buf_free(&src);
		return 0;
	}
	rc = kva_candidate_build_src(path, src.p, src.len, cache_dir, 0, c, e);
	kva_buf_free(&src);
	return rc ? -1 : 0;
}
