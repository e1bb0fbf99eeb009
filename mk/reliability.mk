# Reliability checks (issue 4): model-based test, fuzzing, fault injection,
# misuse death tests, sanitizers, valgrind, the spin model of the wait
# protocol, bad input, and the stress test.  Included by the top Makefile.
$(BUILD)/tests/test_model: tests/model.h

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
