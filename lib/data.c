/*
 * data.c - where a tool finds its data (the prompts, the replay corpus,
 * the candidate corpus): a checkout's fixtures/, which make install
 * copies to PREFIX/share/kvarbiter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "kvarbiter.h"

/* make passes the installed data directory, PREFIX/share/kvarbiter */
#ifndef KVA_DATADIR
#define KVA_DATADIR "/usr/local/share/kvarbiter"
#endif

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* $KVARBITER_DATA when set and not empty (exit 2 when it is not a
 * directory), else fixtures when the current directory holds one (a
 * checkout), else the one make install made. */
const char *kva_datadir(void)
{
	const char *env = getenv("KVARBITER_DATA");

	if (env && *env) {
		if (!is_dir(env))
			kva_die(KVA_EXIT_TROUBLE,
				"KVARBITER_DATA: not a directory: %s", env);
		return env;
	}
	if (is_dir("fixtures"))
		return "fixtures";
	return KVA_DATADIR;
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
