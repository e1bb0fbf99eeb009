# bufpool: `make` builds the libraries, `make check` runs every test,
# `make bench` runs the benchmarks.  Area-specific rules live in mk/*.mk.

# The version is written once, in include/bufpool.h; the library's file
# names, the pkg-config and CMake files and the man pages take it from there.
bp_version_part = $(shell sed -n 's/^\#define BUFPOOL_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' include/bufpool.h)
VERSION_MAJOR := $(call bp_version_part,MAJOR)
VERSION_MINOR := $(call bp_version_part,MINOR)
VERSION_PATCH := $(call bp_version_part,PATCH)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
ifneq ($(words $(VERSION_MAJOR) $(VERSION_MINOR) $(VERSION_PATCH)),3)
$(error no BUFPOOL_VERSION_MAJOR/MINOR/PATCH in include/bufpool.h)
endif

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
# Warnings are errors in CI (CI=true in the environment), not for users.
ifneq ($(CI),)
WERROR ?= -Werror
else
WERROR ?=
endif
# Flags the build needs, whatever the user's CFLAGS say.
BP_CFLAGS := -std=gnu11 -Wall -Wextra -Wpedantic $(WERROR) -fPIC -fvisibility=hidden \
	-Iinclude -Isrc -pthread
LDLIBS_PT := -pthread

# Out-of-tree build directory; `make BUILD=build-asan CFLAGS=...` gives a
# separate variant without mixing objects.
BUILD ?= build

LIB_SRCS := $(wildcard src/*.c)
LIB_HDRS := $(wildcard src/*.h) include/bufpool.h

# $(eval $(call bp_library,DIR,CPPFLAGS)): DIR/libbufpool.a from src/*.c,
# objects in DIR/obj, compiled with CPPFLAGS added to the usual flags.  The
# library is DIR = $(BUILD); its variants are $(BUILD)/<variant>:
# debug and vg in mk/reliability.mk, hooks for the race tests below.
bp_objs = $(LIB_SRCS:src/%.c=$(1)/obj/%.o)
define bp_library
$(1)/obj/%.o: src/%.c $$(LIB_HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BP_CFLAGS) $$(CFLAGS) $$(CPPFLAGS) $(2) -c $$< -o $$@
$(1)/libbufpool.a: $$(call bp_objs,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(AR) rcs $$@ $$^
endef

LIB_OBJS := $(call bp_objs,$(BUILD))
LIB_A := $(BUILD)/libbufpool.a
SONAME := libbufpool.so.$(VERSION_MAJOR)
LIB_SO := $(BUILD)/libbufpool.so.$(VERSION)
# Symbol versions of the shared library (BUFPOOL_1.0, ...); what it does not
# list stays local.
LIB_MAP := libbufpool.map

.PHONY: all lib check bench clean install uninstall help
all: lib
lib: $(LIB_A) $(LIB_SO)

$(eval $(call bp_library,$(BUILD),))

$(LIB_SO): $(LIB_OBJS) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=$(LIB_MAP) $(CFLAGS) $(LDFLAGS) \
	    -o $@ $(LIB_OBJS) $(LDLIBS_PT)
	ln -sf libbufpool.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libbufpool.so

# ---- tests: one program per area, linked statically (internal symbols are
# reachable for the unit tests of internal pieces such as the region).
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
# Other rules (mk/*.mk) append programs or scripts to run to CHECK_PROGS.
CHECK_PROGS := $(TEST_BINS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS_PT) $(TEST_LDLIBS_$*)
# test_try counts the library's system calls through its own syscall().
TEST_LDLIBS_test_try := -Wl,--wrap=syscall
# test_pressure's leak report names its functions: dladdr needs them exported.
TEST_LDLIBS_test_pressure := -rdynamic
# test_watch counts the library's write() (an eventfd's) and syscall() calls.
TEST_LDLIBS_test_watch := -Wl,--wrap=write,--wrap=syscall

# Race tests (tests/race_*.c, helpers in tests/race.h): each forces one
# interleaving through the hook points of the library variant built with
# -DBUFPOOL_TEST_HOOKS.  (Make prefers this rule to the one above: its stem
# is shorter.)
HOOKS_LIB := $(BUILD)/hooks/libbufpool.a
$(eval $(call bp_library,$(BUILD)/hooks,-DBUFPOOL_TEST_HOOKS))
RACE_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/race_*.c))
$(BUILD)/tests/race_%: tests/race_%.c tests/check.h tests/race.h $(LIB_HDRS) $(HOOKS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(HOOKS_LIB) $(LDFLAGS) $(LDLIBS_PT) $(TEST_LDLIBS_race_$*)
CHECK_PROGS += $(RACE_BINS)

# Build (not run) the unit and race tests; used by the clang build check.
.PHONY: tests-build
tests-build: $(TEST_BINS) $(RACE_BINS)

-include $(sort $(wildcard mk/*.mk))

# clang -Werror build of the library and tests (a wrapper keeps the
# runner's log in the build directory).
$(BUILD)/tests/build_clang.sh: tests/build_clang.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/build_clang.sh"\n' "$(CURDIR)" > $@
	chmod +x $@
CHECK_PROGS += $(BUILD)/tests/build_clang.sh

# The layer order of src/ (tests/layers.sh), on the objects of the release,
# debug and hooks variants.
$(BUILD)/tests/layers.sh: tests/layers.sh $(LIB_A) $(HOOKS_LIB) $(DBG_LIB)
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/layers.sh" "%s/obj" "%s/debug/obj" "%s/hooks/obj"\n' \
	    "$(CURDIR)" "$(abspath $(BUILD))" "$(abspath $(BUILD))" "$(abspath $(BUILD))" > $@
	chmod +x $@
CHECK_PROGS += $(BUILD)/tests/layers.sh

# The runner (tests/run.sh) runs JOBS programs at a time, each under a
# timeout, and ends with each program's wall and CPU time, slowest first
# (all of them in $(BUILD)/tests/times.txt), and "N passed, M failed, K
# skipped".
# The programs are built first, JOBS at a time unless make was given -j.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
.PHONY: check-progs
check-progs: $(CHECK_PROGS)
check:
	+@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS)) check-progs
	@tests/run.sh -j $(JOBS) -t $(BUILD)/tests/times.txt $(CHECK_PROGS)

clean:
	rm -rf build build-*

# Paths as the installed CMake package writes them: the package is in
# $(LIBDIR)/cmake/bufpool and climbs CM_UP from there to PREFIX, so a path
# under PREFIX is relative to that (a moved install still works); with a
# LIBDIR outside PREFIX every path stays absolute.
bp_empty :=
bp_space := $(bp_empty) $(bp_empty)
cm_rel = $(patsubst $(PREFIX)/%,%,$(1))
cm_movable = $(filter-out /%,$(call cm_rel,$(LIBDIR)))
CM_UP = $(if $(cm_movable),$(subst $(bp_space),/,$(foreach d,$(subst /, ,$(cm_movable)) cmake bufpool,..)),.)
cm_path = $(if $(and $(cm_movable),$(filter-out /%,$(call cm_rel,$(1)))),$${_bufpool_prefix}/$(call cm_rel,$(1)),$(1))

install: lib
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/bufpool.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libbufpool.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libbufpool.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    bufpool.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/bufpool.pc
	install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(LIBDIR)/cmake/bufpool
	@# A variant's page (man/bufpool_try_allocate.3, ...) is a symlink to the page
	@# that documents it, and is installed as one.  The pages say the
	@# header's version, whatever man/ says (mk/man.mk).
	for p in $(MAN_PAGES); do \
	    sed $(MAN_VERSION_SED) $$p > $(DESTDIR)$(MANDIR)/man3/$${p##*/} && \
	    chmod 644 $(DESTDIR)$(MANDIR)/man3/$${p##*/} || exit 1; \
	done
	cp -P $(shell find man -maxdepth 1 -name '*.3' -type l) $(DESTDIR)$(MANDIR)/man3/
	@# The CMake files find the prefix from their own place (CM_UP, cm_path
	@# below), never from DESTDIR, and name the pointer size of the compiler
	@# that built the library.
	ptr=$$(printf '__SIZEOF_POINTER__\n' | $(CC) $(CFLAGS) -E -P -x c - | tr -d ' \n') && \
	for f in bufpoolConfig bufpoolConfigVersion; do \
	    sed -e 's|@CMAKE_UP@|$(CM_UP)|g' -e 's|@LIBDIR@|$(call cm_path,$(LIBDIR))|g' \
	        -e 's|@INCLUDEDIR@|$(call cm_path,$(INCLUDEDIR))|g' -e 's|@VERSION@|$(VERSION)|g' \
	        -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' -e "s|@SIZEOF_VOID_P@|$$ptr|g" \
	        cmake/$$f.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/bufpool/$$f.cmake || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/bufpool.h $(DESTDIR)$(LIBDIR)/libbufpool.a \
	    $(DESTDIR)$(LIBDIR)/libbufpool.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libbufpool.so $(DESTDIR)$(LIBDIR)/pkgconfig/bufpool.pc
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(wildcard man/*.3))) \
	    $(DESTDIR)$(LIBDIR)/cmake/bufpool/bufpoolConfig.cmake \
	    $(DESTDIR)$(LIBDIR)/cmake/bufpool/bufpoolConfigVersion.cmake
	rmdir $(DESTDIR)$(LIBDIR)/cmake/bufpool 2>/dev/null || true

# (`make debug` is in mk/reliability.mk, with the debug variant.)

# `make help`: the targets and the variables a user may set, with their
# values as this make sees them.
help:
	@printf '%s\n' \
	'Targets:' \
	'  all, lib         the static and shared libraries in $(BUILD)/ (the default)' \
	'  install          the libraries, header, pkg-config and CMake files, man pages' \
	'  uninstall        removes what install put there' \
	'  check            every test, JOBS programs at a time' \
	'  tests-build      builds the unit and race tests without running them' \
	'  examples         builds examples/ (examples-region: the io_uring ones)' \
	'  debug            the debug library, $(BUILD)/debug/libbufpool.a' \
	'  check-sanitize   the tests under ASan+UBSan and TSan' \
	'  rust-check       the Rust crate'"'"'s tests (bindings/rust)' \
	'  soak             the stress test for SOAK_SECONDS' \
	'  bench            the benchmarks (BENCH_ARGS=--quick for a short run)' \
	'  bench-uring      the io_uring copy benchmark alone' \
	'  man-version      writes include/bufpool.h'"'"'s version into man/' \
	'  rust-sync        copies src/ and include/ into bindings/rust/csrc (make check fails while they differ)' \
	'  clean            removes build and build-*' \
	'' \
	'Variables (make VAR=value), with their values here:' \
	'  PREFIX=$(PREFIX)	install prefix' \
	'  LIBDIR=$(LIBDIR)	libraries, pkgconfig/ and cmake/bufpool/' \
	'  INCLUDEDIR=$(INCLUDEDIR)	bufpool.h' \
	'  MANDIR=$(MANDIR)	man3/ pages' \
	'  DESTDIR=$(DESTDIR)	staging root (packagers): files go under it' \
	'  CC=$(CC)  CFLAGS=$(CFLAGS)  CPPFLAGS=$(CPPFLAGS)  LDFLAGS=$(LDFLAGS)' \
	'  BUILD=$(BUILD)	build directory (another one for another CFLAGS)' \
	'  JOBS=$(JOBS)	test programs run at once by make check' \
	'  CI=$(CI)	when set, warnings are errors (WERROR=$(WERROR))' \
	'  STRESS_SECONDS=$(STRESS_SECONDS)  SOAK_SECONDS=$(SOAK_SECONDS)' \
	'  BENCH_ARGS=$(BENCH_ARGS)  URING_BENCH_ARGS=$(URING_BENCH_ARGS)  BENCH_V10=$(BENCH_V10)' \
	'Environment of make check: TEST_TIMEOUT (seconds a program, 300),' \
	'  FUZZ_SECONDS (30), BUFPOOL_SKIP_SANITIZE=1 (skips the sanitizer runs).' \
	| expand -t 32
