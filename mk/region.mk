# io_uring: the io_uring parts of test_region, test_bufring, the uring_copy and
# uring_echo examples and the uring bench (the bufring bench section links
# liburing through mk/bench.mk).  Included by the top Makefile after BUILD,
# BP_CFLAGS, LIB_A, LDLIBS_PT and CHECK_PROGS are defined.
#
# liburing is optional.  Without it, tests/test_region.c builds without its
# io_uring part (and says so), and the example and bench become stubs that
# exit 77 with a message.

HAVE_LIBURING := $(shell pkg-config --exists liburing 2>/dev/null && echo yes)
ifeq ($(HAVE_LIBURING),yes)
URING_CFLAGS := -DBUFPOOL_HAVE_LIBURING $(shell pkg-config --cflags liburing)
URING_LIBS := $(shell pkg-config --libs liburing)
endif

# The bench's bufring section (bench/sections/bufring.c, linked into the one
# bench binary of mk/bench.mk): without liburing it prints a note instead.
$(BUILD)/bench/obj/sections/bufring.o: private CPPFLAGS += $(URING_CFLAGS)
BENCH_URING_LIBS := $(URING_LIBS)

# tests/test_region.c is built by the top Makefile's pattern rule, which
# appends TEST_LDLIBS_<name>.  The flags are private, so the library
# objects built as its prerequisites do not inherit them.
$(BUILD)/tests/test_region: private CPPFLAGS += $(URING_CFLAGS)
TEST_LDLIBS_test_region := $(URING_LIBS)

# ---- the io_uring examples ----------------------------------------------
# examples/uring_copy.c: with no argument it copies a 64 MiB file it makes
# beside itself (in the build directory) and removes both files afterwards.
# examples/uring_echo.c: an echo server on a bufpool provided-buffer ring.
# Without liburing each is a script that reports the skip.
URING_EXAMPLES := $(BUILD)/examples/uring_copy $(BUILD)/examples/uring_echo

ifeq ($(HAVE_LIBURING),yes)
$(URING_EXAMPLES): $(BUILD)/examples/%: examples/%.c include/bufpool.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $(URING_CFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(URING_LIBS) $(LDLIBS_PT)
else
.PHONY: $(URING_EXAMPLES)
$(URING_EXAMPLES):
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\necho "skipped: liburing-dev not installed"\nexit 77\n' > $@
	chmod +x $@
endif

CHECK_PROGS += $(URING_EXAMPLES)

.PHONY: examples-region
examples-region: $(URING_EXAMPLES)

# ---- bench/uring/uring_bench.c ---------------------------------------------
# `make bench-uring` runs it alone: a 256 MiB file in $(BUILD)/bench, three
# ways of copying it, medians; the table goes to $(BUILD)/bench/uring.md and
# is appended to $(BUILD)/bench/results.md when that exists.  The program
# removes the file and its copy when it ends; the rule does too, in case it
# was killed.
#
# `make bench` runs it right after the main bench (mk/bench.mk), so its
# table follows the main tables in results.md.
URING_BENCH_BIN := $(BUILD)/bench/uring_bench
URING_BENCH_ARGS ?=

ifeq ($(HAVE_LIBURING),yes)
$(URING_BENCH_BIN): bench/uring/uring_bench.c bench/harness/harness.h include/bufpool.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(BENCH_INC) $(CFLAGS) -O2 $(CPPFLAGS) $(URING_CFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(URING_LIBS) $(LDLIBS_PT)
else
.PHONY: $(URING_BENCH_BIN)
$(URING_BENCH_BIN):
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\necho "skipped: liburing-dev not installed"\nexit 77\n' > $@
	chmod +x $@
endif

.PHONY: bench-uring
bench-uring: $(URING_BENCH_BIN)
	@$(URING_BENCH_BIN) --dir $(BUILD)/bench --md $(BUILD)/bench/uring.md \
	    --append $(BUILD)/bench/results.md \
	    $(URING_BENCH_ARGS); rc=$$?; \
	    rm -f $(BUILD)/bench/uring_bench.src $(BUILD)/bench/uring_bench.dst; \
	    [ $$rc -eq 0 ] || [ $$rc -eq 77 ]

# ---- tests/test_bufring.c: provided-buffer rings through liburing -----------
# (the library itself never links liburing)
ifeq ($(HAVE_LIBURING),yes)
$(BUILD)/tests/test_bufring: private CPPFLAGS += $(URING_CFLAGS)
TEST_LDLIBS_test_bufring := $(URING_LIBS)
endif
