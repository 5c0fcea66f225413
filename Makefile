# kvarbiter - one pattern rule builds every tools/X.c against the library.
#
#   make            build everything (CUDA kernels too when nvcc is present)
#   make demo       the main job: the auto-heal demo, offline (make tour: a tour)
#   make check      C unit tests + every tests/*.bats
#   make CC=clang B=build-clang   the same tree with clang (CI: WERROR=1)
#   make asan       the whole suite under AddressSanitizer + UBSan
#   make lint       man pages, shell scripts, every tool documented and tested
#   make bench      tests/bench/*.sh (ratios against a peer, not timed tests)
#   make mutate-corpus  grad-trap --mutate on every correct candidate (long)
#   make fuzz       snapshot reader, JSON and formula parsers under libFuzzer,
#                   FUZZ_TIME=60 seconds each
#   make deps       install missing Debian packages (root), else print the line
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall: the same)

B       ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
NVCC    ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)

WARN    = -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wwrite-strings -Wformat=2 -Wvla
CFLAGS  ?= -O2 -g
ifeq ($(WERROR),1)
WARN   += -Werror
endif
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) \
             $(CFLAGS) -Ilib -Ikernels
LDLIBS  = -lcurl -lsqlite3 -lxxhash -lseccomp -ldl -lm

TOOLS   = $(patsubst tools/%.c,%,$(wildcard tools/*.c))
LIBSRC  = $(wildcard lib/*.c) $(wildcard kernels/*.c)
LIBOBJ  = $(patsubst %.c,$(B)/%.o,$(LIBSRC)) $(B)/gen/fixtures.o \
          $(B)/gen/candidate_h.o
UNITSRC = $(wildcard tests/unit/*.c)
CUSRC   = $(wildcard kernels/*.cu)
HDRS    = $(wildcard lib/*.h) $(wildcard kernels/*.h)

# parallel ... git: pipelines/sweep and its tests; openssh-server is there
# for its sshd binary (tests/sweep.bats starts its own, in a network
# namespace), but on a systemd host the package also starts the ssh service
DEBS    = gcc make bats bats-assert bats-support jq mandoc shellcheck python3 \
          libsqlite3-dev sqlite3 libcurl4-openssl-dev poppler-utils \
          libxxhash-dev libseccomp-dev clang libclang-rt-dev \
          parallel openssh-client openssh-server iproute2 util-linux procps git

.PHONY: all check unit bats asan lint bench mutate-corpus install uninstall clean deps \
        cuda demo tour fuzz
.DELETE_ON_ERROR:

# tool objects are named here so make never treats them as intermediate
all: $(patsubst %,$(B)/tools/%.o,$(TOOLS)) $(addprefix $(B)/bin/,$(TOOLS)) \
     $(B)/unit cuda

# the KV generator's per-element hash is the pool's hot loop: -O3 vectorises
# it (gcc 12 does not at -O2, even with -ftree-vectorize)
$(B)/lib/pool.o: ALL_CFLAGS += -O3

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# ImpactArbiter's boundary fixtures, embedded so an installed route-oracle
# needs no data directory.
$(B)/gen/fixtures.c: $(wildcard fixtures/boundaries/*.jsonl)
	@mkdir -p $(@D)
	{ echo '/* generated from fixtures/boundaries by make */'; \
	  echo 'const char *const kva_boundary_fixtures[] = {'; \
	  cat $^ | sed -e '/^[[:space:]]*$$/d' -e '/^#/d' \
	    -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/",/'; \
	  echo '0 };'; } > $@

# The candidate ABI header, embedded so grad-trap can compile a .c
# candidate against it wherever it is installed.
$(B)/gen/candidate_h.c: lib/kvarbiter_candidate.h
	@mkdir -p $(@D)
	{ echo '/* generated from lib/kvarbiter_candidate.h by make */'; \
	  echo 'const char kva_candidate_h[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@

$(B)/gen/candidate_h.o: $(B)/gen/candidate_h.c
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Wno-overlength-strings -c -o $@ $<

$(B)/gen/fixtures.o: $(B)/gen/fixtures.c
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(B)/libkvarbiter.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/bin/%: $(B)/tools/%.o $(B)/libkvarbiter.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/unit: $(patsubst %.c,$(B)/%.o,$(UNITSRC)) $(B)/libkvarbiter.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
$(B)/tests/unit/%.o: tests/unit/%.c $(HDRS) tests/unit/unit.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

# CUDA: compiled when nvcc exists; the CPU twins in kernels/*.c always are.
ifneq ($(NVCC),)
CUOBJ = $(patsubst kernels/%.cu,$(B)/cuda/%.o,$(CUSRC))
cuda: $(CUOBJ) $(B)/cuda/libkvcache_cuda.so
# the kernels as a library kv-prefill --device cuda loads at run time
$(B)/cuda/libkvcache_cuda.so: kernels/kvcache.cu kernels/kvcache_cpu.c $(HDRS)
	@mkdir -p $(@D)
	$(NVCC) -O2 -std=c++17 -shared -Xcompiler -fPIC -Ilib -Ikernels \
	  -o $@ kernels/kvcache.cu kernels/kvcache_cpu.c
$(B)/cuda/%.o: kernels/%.cu $(HDRS)
	@mkdir -p $(@D)
	$(NVCC) -O2 -std=c++17 -Ilib -Ikernels -c -o $@ $<
else
cuda:
	@[ -z "$(CUSRC)" ] || echo "make: nvcc not found: skipping $(CUSRC) (CPU twins built)"
endif

# the main job: ImpactArbiter's auto-heal demo, offline from the replay corpus
demo: all
	sh pipelines/auto-heal --oracle radix-2d --mutate

tour: all
	sh pipelines/tour

unit: $(B)/unit
	$(B)/unit

bats: all
	KVA_BUILD=$(B) bats tests/*.bats

check: all
	$(B)/unit
	KVA_BUILD=$(B) NVCC=$(NVCC) sh tests/gpu/run.sh
	KVA_BUILD=$(B) sh tests/fuzz/run.sh $(FUZZ_CHECK_TIME)
	KVA_BUILD=$(B) bats tests/*.bats

# the snapshot reader, the JSON parser and the formula parser under
# libFuzzer (clang), FUZZ_TIME seconds each; make check runs them for
# FUZZ_CHECK_TIME each (0: skip, as make asan does: the fuzz targets carry
# ASan and UBSan already)
FUZZ_TIME ?= 60
FUZZ_CHECK_TIME ?= 10
fuzz: all
	KVA_BUILD=$(B) sh tests/fuzz/run.sh $(FUZZ_TIME)

asan:
	$(MAKE) B=build-asan CC=$(CC) NVCC= FUZZ_CHECK_TIME=0 \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  check

lint:
	mandoc -Tlint -W warning man/*.1 man/*.7
	shellcheck -x .ci/run tests/bench/*.sh tests/gpu/run.sh tests/fuzz/run.sh \
	  tests/mutate-corpus.sh \
	  $(wildcard pipelines/*)
	@for t in $(TOOLS); do \
	  [ -f man/$$t.1 ] || { echo "lint: tools/$$t.c has no man/$$t.1"; exit 1; }; \
	  [ -f tests/$$t.bats ] || { echo "lint: tools/$$t.c has no tests/$$t.bats"; exit 1; }; \
	done; echo "lint: $(words $(TOOLS)) tools have man pages and tests"

bench: all
	@for s in tests/bench/*.sh; do KVA_BUILD=$(B) sh $$s || exit 1; done

# grad-trap --mutate --boundaries on every correct candidate of the corpus,
# kernels once per layout (long: make check runs the routes only)
mutate-corpus: all
	KVA_BUILD=$(B) bash tests/mutate-corpus.sh

deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	  echo "deps: missing packages; run as root:"; \
	  echo "  apt-get install -y" $$missing; exit 2; \
	fi

# the installed product (kvarbiter(7), FILES): the tools and the
# kvarbiter command in bin, the pipelines in libexec/kvarbiter, the
# fixtures (prompts, replay corpus, papers, candidates) in share/kvarbiter;
# each finds the others relative to itself, so nothing has PREFIX built in
DATADIR    = $(PREFIX)/share/kvarbiter
LIBEXECDIR = $(PREFIX)/libexec/kvarbiter
PIPELINES  = $(filter-out pipelines/kvarbiter,$(wildcard pipelines/*))
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR)
	install -m 755 $(addprefix $(B)/bin/,$(TOOLS)) pipelines/kvarbiter \
	  $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(PIPELINES) $(DESTDIR)$(LIBEXECDIR)/
	cp -R fixtures/. $(DESTDIR)$(DATADIR)/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	install -m 644 lib/kvarbiter_candidate.h $(DESTDIR)$(PREFIX)/include/
	if [ -f $(B)/cuda/libkvcache_cuda.so ]; then \
	  install -d $(DESTDIR)$(PREFIX)/lib/kvarbiter; \
	  install -m 755 $(B)/cuda/libkvcache_cuda.so $(DESTDIR)$(PREFIX)/lib/kvarbiter/; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(TOOLS) kvarbiter) \
	  $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(wildcard man/*.1))) \
	  $(addprefix $(DESTDIR)$(PREFIX)/share/man/man7/,$(notdir $(wildcard man/*.7))) \
	  $(DESTDIR)$(PREFIX)/include/kvarbiter_candidate.h
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR) \
	  $(DESTDIR)$(PREFIX)/lib/kvarbiter

clean:
	rm -rf build build-asan build-clang
