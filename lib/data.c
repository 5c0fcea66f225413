/*
 * data.c - where a tool finds its data (the prompts, the replay corpus,
 * the candidate corpus): a checkout's fixtures/, which make install
 * copies to PREFIX/share/kvarbiter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvarbiter.h"

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* $KVARBITER_DATA when set and not empty (exit 2 when it is not a
 * directory), else fixtures when the current directory holds one (a
 * checkout), else ../share/kvarbiter beside this binary: make install
 * puts the tools in PREFIX/bin and the data in PREFIX/share/kvarbiter,
 * found where the tree is, as kv-prefill finds its CUDA kernels. */
const char *kva_datadir(void)
{
	static char dir[4096];
	const char *env = getenv("KVARBITER_DATA");
	char exe[2048];
	ssize_t len;

	if (env && *env) {
		if (!is_dir(env))
			kva_die(KVA_EXIT_TROUBLE,
				"KVARBITER_DATA: not a directory: %s", env);
		return env;
	}
	if (is_dir("fixtures"))
		return "fixtures";
	if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		kva_die(KVA_EXIT_TROUBLE, "no data directory: /proc/self/exe "
			"is unreadable and KVARBITER_DATA is not set");
	exe[len] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(dir, sizeof dir, "%s/../share/kvarbiter", exe);
	return dir;
}

/* DATADIR/sub into buf[n] (exit 2 when it does not fit); returns buf. */
char *kva_data_path(char *buf, size_t n, const char *sub)
{
	const char *dir = kva_datadir();
	int len = snprintf(buf, n, "%s/%s", dir, sub);

	if (len < 0 || (size_t)len >= n)
		kva_die(KVA_EXIT_TROUBLE, "data directory path too long: %s/%s",
			dir, sub);
	return buf;
}
