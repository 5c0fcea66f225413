/*
 * cudart.c - load the CUDA runtime with dlopen (see cudart.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cudart.h"

/* Copy a dlsym result into a function pointer (POSIX allows this). */
static int sym(void *h, const char *name, void *fnp)
{
	void *p = dlsym(h, name);

	memcpy(fnp, &p, sizeof p);
	return p ? 0 : -1;
}

int kva_cudart_load(kva_cudart *c, char *why, size_t n)
{
	static const char *const names[] = {
		"libcudart.so", "libcudart.so.13", "libcudart.so.12",
		"/usr/local/cuda/lib64/libcudart.so",
		"/usr/local/cuda/lib64/libcudart.so.13", NULL
	};
	char path[4096];
	const char *home = getenv("CUDA_HOME");
	int count = 0, err;

	memset(c, 0, sizeof *c);
	if (home && *home) {
		snprintf(path, sizeof path, "%s/lib64/libcudart.so", home);
		c->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	}
	for (int i = 0; !c->h && names[i]; i++)
		c->h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!c->h) {
		snprintf(why, n, "no CUDA device: CUDA runtime (libcudart) not found");
		return -1;
	}
	if (sym(c->h, "cudaGetDeviceCount", &c->get_device_count) ||
	    sym(c->h, "cudaMalloc", &c->malloc_) ||
	    sym(c->h, "cudaFree", &c->free_) ||
	    sym(c->h, "cudaMemcpy", &c->memcpy_) ||
	    sym(c->h, "cudaDeviceSynchronize", &c->synchronize) ||
	    sym(c->h, "cudaGetErrorString", &c->error_string)) {
		snprintf(why, n, "no CUDA device: libcudart lacks %s", dlerror());
		return -1;
	}
	if ((err = c->get_device_count(&count)) != 0) {
		snprintf(why, n, "no CUDA device: %s", c->error_string(err));
		return -1;
	}
	if (count < 1) {
		snprintf(why, n, "no CUDA device");
		return -1;
	}
	return 0;
}
