# Examples and the install/consumer check, run by `make check`.
# Included by the top-level Makefile after BUILD, BP_CFLAGS, LIB_A and
# CHECK_PROGS are defined.

EX_DIR := $(BUILD)/examples
EX_PROGS := $(EX_DIR)/pipeline $(EX_DIR)/epoll_server

# A static pattern rule, so that other mk files may build their own examples
# into the same directory with their own libraries.
$(EX_PROGS): $(EX_DIR)/%: examples/%.c include/bufpool.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS_PT)

# libuv is optional: without it the check runs a stub that reports the skip.
HAVE_LIBUV := $(shell pkg-config --exists libuv 2>/dev/null && echo yes)
ifeq ($(HAVE_LIBUV),yes)
$(EX_DIR)/uv_example: examples/uv_example.c include/bufpool.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) $(shell pkg-config --cflags libuv) $< -o $@ \
	    $(LIB_A) $(LDFLAGS) $(shell pkg-config --libs libuv) $(LDLIBS_PT)
else
.PHONY: $(EX_DIR)/uv_example
$(EX_DIR)/uv_example:
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\necho "skipped: libuv1-dev not installed"\nexit 77\n' > $@
	chmod +x $@
endif

# The runner logs next to each program; a wrapper in the build directory
# keeps that log out of the source tree.  Make passes its command-line
# variables (BUILD, CFLAGS, ...) on to the make inside the script.
$(BUILD)/tests/consumers.sh: tests/consumers.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/consumers.sh" "$$@"\n' "$(CURDIR)" > $@
	chmod +x $@

# ABI check against the releases' dumps in abi/ (tests/abi.sh,
# abi/README.md).  1.0.0 had no symbol versions, so the check also compares
# the same objects linked without the version script.
ABI_NOVER_SO := $(BUILD)/abi/libbufpool-nover.so
$(ABI_NOVER_SO): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) $(CFLAGS) $(LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS_PT)
$(BUILD)/tests/abi.sh: tests/abi.sh $(LIB_SO) $(ABI_NOVER_SO)
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/abi.sh" "%s" "$$@"\n' "$(CURDIR)" "$(abspath $(BUILD))" > $@
	chmod +x $@

.PHONY: examples
examples: $(EX_PROGS) $(EX_DIR)/uv_example

CHECK_PROGS += $(EX_PROGS) $(EX_DIR)/uv_example $(BUILD)/tests/consumers.sh $(BUILD)/tests/abi.sh
