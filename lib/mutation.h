/*
 * mutation.h - grad-trap --mutate (lib/mutation.c): how many mutants of a
 * correct C candidate a case set kills.  The mutants come from
 * lib/mutate.c, are built like any candidate (lib/candidate.c, in
 * parallel workers) and trapped like the original (lib/trap.c).
 */
#ifndef KVA_MUTATION_H
#define KVA_MUTATION_H

#include "db.h"
#include "trap.h"

/* One case record of the set. */
typedef struct kva_mcase {
	int64_t in[KVA_MAX_IN];
	size_t toff[KVA_MAX_TAB], tlen[KVA_MAX_TAB];   /* into the pool */
	kva_route expect;
	size_t file;                 /* into files */
	long line;
} kva_mcase;

/* The case set every candidate is trapped on: a generator, or the case
 * records read (kept, since stdin is read once). */
typedef struct kva_caseset {
	const kva_oracle *o;
	const char *mode;            /* "boundaries", "sweep", "random", or
	                                NULL: the records below */
	const char *arg;             /* sweep: the spec */
	uint64_t n;                  /* random: the count */
	kva_gen_opts go;
	kva_mcase *c;
	size_t nc, capc;
	int64_t *pool;
	size_t npool, cappool;
	char **files;                /* the inputs, as the reader names them */
	size_t nfiles;
} kva_caseset;

/* Keep one case record (its inputs, expect, file and line). */
void kva_caseset_add(kva_caseset *cs, const kva_args *a, const kva_route *expect,
		     const char *file, long line);
void kva_caseset_free(kva_caseset *cs);

typedef struct kva_mutation_conf {
	kva_trap_conf trap;          /* how every candidate is trapped (so,
	                                cand_name, sha256, o, on_div and the
	                                output fields are set per candidate) */
	const char *path;            /* the candidate's C source */
	const char *cache_dir;       /* builds, or NULL: the default cache */
	int jobs;                    /* build workers (>= 1) */
	int text;                    /* --format text */
	const char *minimize;        /* --minimize FILE, or NULL */
	int unit_test;               /* --unit-test: run test_route() too */
	int progress, quiet;
	kva_db *db;                  /* --db: the run is stored here, or NULL */
} kva_mutation_conf;

/*
 * Mutate, build and trap: the mutant records and the mutation summary
 * (or the text report) on the output.  Returns 0 when every compiled
 * mutant is killed, 1 when some survive, or -1 with e: trouble (a source
 * the tokenizer cannot read, an original that does not build or does not
 * pass the case set, no case, no mutant compiled, a build or trap that
 * cannot be set up, a --minimize file that cannot be written, a run
 * the trace store refuses).  With mc->db, once the summary is written,
 * the run and its mutants are stored in one transaction.
 */
int kva_mutation_run(const kva_mutation_conf *mc, const kva_caseset *cs,
		     kva_err *e);

#endif
