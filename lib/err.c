/*
 * err.c - diagnostics in the house format "TOOL: message".
 */
#include <stdarg.h>
#include <stdlib.h>

#include "kvarbiter.h"

const char *kva_progname = "kvarbiter";

/* Fill e with field and the formatted text; returns -1 so callers can
 * "return kva_errf(...)".  e may be NULL (the message is then dropped). */
int kva_errf(kva_err *e, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->field = field;
	e->line = e->col = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* "TOOL: message\n" on stderr. */
void kva_warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", kva_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Print like kva_warnx, flush what stdout holds (records already made are
 * never lost) and exit with status. */
void kva_die(int status, const char *fmt, ...)
{
	va_list ap;

	kva_out_flush();
	fprintf(stderr, "%s: ", kva_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}
