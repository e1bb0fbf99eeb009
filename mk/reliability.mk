# Reliability checks: the model-based test and its fuzz target, fault
# injection, misuse death tests, sanitizers, valgrind, the spin model of the
# wait protocol, bad input, and the stress test.  Included by the top
# Makefile.

# ---- the models (tests/model/): test_model checks random operation
# sequences against a reference model of the contract (model.h); the same
# code is the fuzz target below; waitq.pml is the wait protocol for spin.
MODEL_BIN := $(BUILD)/tests/test_model
$(MODEL_BIN): tests/model/test_model.c tests/model/model.h include/bufpool.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS_PT)
CHECK_PROGS += $(MODEL_BIN)
tests-build: $(MODEL_BIN)

# ---- stress: `make check` runs it for STRESS_SECONDS, `make soak` for longer
STRESS_SECONDS ?= 10
SOAK_SECONDS ?= 600
$(BUILD)/tests/stress: tests/stress.c include/bufpool.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS_PT)
$(BUILD)/tests/stress.sh: $(BUILD)/tests/stress
	printf '#!/bin/sh\nexec "%s" %s\n' "$(CURDIR)/$<" "$(STRESS_SECONDS)" > $@
	chmod +x $@
CHECK_PROGS += $(BUILD)/tests/stress.sh

.PHONY: soak
soak: $(BUILD)/tests/stress
	$(BUILD)/tests/stress $(SOAK_SECONDS)

# ---- fault injection: the library's allocator and eventfd calls go through
# the wrappers in tests/test_faults.c
TEST_LDLIBS_test_faults := -Wl,--wrap=malloc,--wrap=calloc,--wrap=posix_memalign,--wrap=mmap,--wrap=eventfd
# the arena's reservations and purges go through the wrappers in
# tests/test_arena_faults.c
TEST_LDLIBS_test_arena_faults := -Wl,--wrap=mmap,--wrap=munmap,--wrap=madvise

# ---- debug build: misuse aborts with a message.  One debug library, the
# variant $(BUILD)/debug/libbufpool.a (-DBUFPOOL_DEBUG): `make debug` builds
# it, test_misuse links it; link it instead of $(BUILD)/libbufpool.a.
DBG_LIB := $(BUILD)/debug/libbufpool.a
$(eval $(call bp_library,$(BUILD)/debug,-DBUFPOOL_DEBUG))
.PHONY: debug
debug: $(DBG_LIB)
$(BUILD)/tests/test_misuse: tests/test_misuse.c tests/check.h $(DBG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(DBG_LIB) $(LDFLAGS) $(LDLIBS_PT)

# The unit tests of the wait paths again, against the debug library: its
# assertions check what comments used to only say (BUFPOOL__ASSERT_LOCKED,
# BUFPOOL__ASSERT_OWNER in src/debug.h and src/cache.h).
DBG_TESTS := test_api test_bufring test_callback test_fifo test_fork test_threads test_wait test_waiter test_watch
DBG_TEST_BINS := $(DBG_TESTS:%=$(BUILD)/tests/debug/%)
$(BUILD)/tests/debug/%: tests/%.c tests/check.h $(DBG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(DBG_LIB) $(LDFLAGS) $(LDLIBS_PT) $(TEST_LDLIBS_$*)
$(BUILD)/tests/debug/test_bufring: private CPPFLAGS += $(URING_CFLAGS)
CHECK_PROGS += $(DBG_TEST_BINS)

# ---- valgrind: memcheck runs of the tests; a library variant with client
# requests (-DBUFPOOL_VALGRIND) for the use-after-release check
VG_LIB := $(BUILD)/vg/libbufpool.a
$(eval $(call bp_library,$(BUILD)/vg,-DBUFPOOL_VALGRIND))
HAVE_VG_H := $(shell test -f /usr/include/valgrind/memcheck.h && echo yes)
ifeq ($(HAVE_VG_H),yes)
VG_UAR := $(BUILD)/tests/vg_use_after_release
$(VG_UAR): tests/vg_use_after_release.c $(VG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(VG_LIB) $(LDFLAGS) $(LDLIBS_PT)
endif
$(BUILD)/tests/valgrind.sh: tests/valgrind.sh $(TEST_BINS) $(MODEL_BIN) $(VG_UAR)
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/valgrind.sh" "%s" "$$@"\n' "$(CURDIR)" "$(CURDIR)/$(BUILD)" > $@
	chmod +x $@

# ---- libFuzzer: the model-based test for FUZZ_SECONDS
$(BUILD)/tests/fuzz.sh: tests/model/fuzz.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/model/fuzz.sh" "%s" "$$@"\n' "$(CURDIR)" "$(CURDIR)/$(BUILD)" > $@
	chmod +x $@

# ---- spin: the wait protocol model, one program per property and mode, and
# one for the largest liveness scenario (the runner runs them side by side;
# each has a work directory of its own)
SPIN_SUITES := liveness-resize-default liveness-resize-fifo liveness-default \
	liveness-default-large liveness-fifo safety-default-large safety-fifo-large \
	safety-default safety-fifo pipeline starve callback-default callback-fifo \
	accounts-default accounts-fifo accounts-defects-default accounts-defects-fifo \
	reclaim-default reclaim-fifo
SPIN_PROGS := $(SPIN_SUITES:%=$(BUILD)/tests/spin-%.sh)
$(SPIN_PROGS): $(BUILD)/tests/spin-%.sh: tests/model/spin.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/model/spin.sh" "%s/spin/%s" %s\n' "$(CURDIR)" "$(CURDIR)/$(BUILD)" "$*" "$*" > $@
	chmod +x $@
# Recorded results (tests/model/spin.sh, "Recorded results", says why they
# hold): a large scenario whose model, flags and spin are those of a result
# in tests/model/verified is not searched again.  SPIN_RECORDED=0 searches
# every scenario.  `make spin-record` searches every scenario and writes
# tests/model/verified anew: run it after changing the model.
SPIN_RECORDED ?= 1
export SPIN_RECORDED
.PHONY: spin-record
spin-record: $(SPIN_PROGS)
	@SPIN_RECORDED=0 tests/run.sh -j $(JOBS) $(SPIN_PROGS)
	@{ echo "# The results of tests/model/spin.sh's searches, by a hash of what each"; \
	   echo "# depends on (spin.sh, \"Recorded results\"), for make check."; \
	   echo "# Written by \`make spin-record\`: HASH PAN-FLAGS DEPTH EXPECTED: RESULT."; \
	   cat $(SPIN_SUITES:%=$(BUILD)/spin/%/verified.new); } > tests/model/verified
	@echo "tests/model/verified: $$(grep -vc '^#' tests/model/verified) results"

# ---- sanitizers: the test programs and stress in build-asan and build-tsan.
# The sanitizer builds make only reliability-progs, never check, so nothing
# recurses; and a sanitizer build's own check does not start another one.
REL_PROGS := $(TEST_BINS) $(MODEL_BIN) $(RACE_BINS) $(BUILD)/tests/stress
.PHONY: reliability-progs print-reliability-progs check-sanitize
reliability-progs: $(REL_PROGS)
print-reliability-progs:
	@echo $(REL_PROGS)
check-sanitize:
	tests/sanitize.sh
# One program per variant, so that each has the runner's whole timeout.
$(BUILD)/tests/sanitize-%.sh: tests/sanitize.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/sanitize.sh" %s\n' "$(CURDIR)" "$*" > $@
	chmod +x $@

# The spin programs and the fuzz run are among the longest: first in the
# list, so that tests/run.sh starts them early even with no durations of a
# previous run to go by (a fresh build).
CHECK_PROGS := $(SPIN_PROGS) $(BUILD)/tests/fuzz.sh $(CHECK_PROGS) $(BUILD)/tests/valgrind.sh
ifeq ($(filter build-asan build-tsan,$(BUILD)),)
CHECK_PROGS += $(BUILD)/tests/sanitize-asan.sh $(BUILD)/tests/sanitize-tsan.sh
endif
