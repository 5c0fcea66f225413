/*
 * cudart.h - the CUDA runtime, loaded at run time (lib/cudart.c).
 *
 * grad-trap links no CUDA library: a machine without one still runs every
 * CPU path, and a CUDA candidate is refused with the runtime's own reason.
 * Only the sandboxed child loads it (CUDA does not survive fork), so the
 * parent never initialises a device.
 */
#ifndef KVA_CUDART_H
#define KVA_CUDART_H

#include <stddef.h>

typedef struct kva_cudart {
	void *h;
	int (*get_device_count)(int *);
	int (*malloc_)(void **, size_t);
	int (*free_)(void *);
	int (*memcpy_)(void *, const void *, size_t, int);
	int (*synchronize)(void);
	const char *(*error_string)(int);
} kva_cudart;

enum { KVA_CUDA_H2D = 1, KVA_CUDA_D2H = 2 }; /* cudaMemcpyKind values */

/* Load libcudart and check that a device is usable.  Returns 0, or -1
 * with why ("CUDA runtime not found", "no CUDA device: ..."). */
int kva_cudart_load(kva_cudart *c, char *why, size_t n);

#endif
