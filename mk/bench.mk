# `make bench`: the benchmark.  bench/ by role: harness/ (main.c runs the
# sections; what they share, the summary, plot.gp, publish.sh), baselines/
# (the pools it compares bufpool with, and bufpool 1.0's names), sections/
# (one file per section), uring/ (the io_uring copy, a program of its own:
# mk/region.mk).
#
# What a run writes, all in $(BUILD)/bench:
#   results.md   the tables: every section, then the io_uring copy, the
#                Rust crate's (bench/harness/rust.sh), then
#                BENCH_BUSY_SECTIONS again with BENCH_BUSY busy threads
#                (`bench --busy`: CPU-bound threads in a child process
#                compete for the CPUs; a pool's backpressure matters most
#                on an overloaded machine)
#   targets.md   the verdicts against the targets, a maintainer's file
#   bench.png    the plot (gnuplot, when installed), from the quiet run
# A full run (no BENCH_ARGS) then publishes results.md into $(BENCH_DOC)
# from its marker line on, and the plot beside it (bench/harness/publish.sh);
# BENCH_DOC= leaves the docs alone, BENCH_BUSY=0 skips the busy run.
# `make bench BENCH_ARGS=--quick` for a short run, BENCH_ARGS="--section
# threads" for one section (no busy run then).

BENCH_DIR := $(BUILD)/bench
BENCH_BIN := $(BENCH_DIR)/bench
BENCH_PARTS := harness baselines sections
BENCH_SRCS := $(sort $(foreach d,$(BENCH_PARTS),$(wildcard bench/$(d)/*.c)))
BENCH_OBJS := $(BENCH_SRCS:bench/%.c=$(BENCH_DIR)/obj/%.o)
BENCH_HDRS := $(foreach d,$(BENCH_PARTS),$(wildcard bench/$(d)/*.h)) include/bufpool.h
BENCH_INC := $(foreach d,$(BENCH_PARTS),-Ibench/$(d))
BENCH_ARGS ?=

# ---- bufpool 1.0 as a baseline (sections xthread, oversub, instr) --------
# The 1.0.0 release, commit $(V10_COMMIT), built from this repository's
# history beside the current library: its src/ and include/ from `git
# archive` into $(V10_DIR)/tree, compiled with the library's own flags,
# linked with `ld -r` into one relocatable object whose internal (hidden)
# symbols, bufpool__* among them, are made local and whose public bufpool_*
# symbols are renamed bp10_* (bench/baselines/v10.h declares the ones the
# bench uses).  Without the history (a tarball, a shallow clone) the bench
# builds without it: BENCH_HAVE_V10=0, and its rows say "not available".
# BENCH_V10=0 forces that.  A stamp file named after the setting rebuilds the bench objects when
# it changes.
V10_COMMIT := f85f7bb
V10_DIR := $(BENCH_DIR)/v10
BENCH_V10 ?= $(shell test -e .git && git cat-file -e $(V10_COMMIT)^{commit} 2>/dev/null && echo 1 || echo 0)
ifeq ($(BENCH_V10),1)
V10_OBJ := $(V10_DIR)/bp10.o
else
V10_OBJ :=
endif
V10_STAMP := $(V10_DIR)/have-$(BENCH_V10)
OBJCOPY ?= objcopy
NM ?= nm

$(V10_STAMP):
	@mkdir -p $(dir $@)
	@rm -f $(V10_DIR)/have-*
	@touch $@

$(V10_DIR)/bp10.o: mk/bench.mk
	rm -rf $(V10_DIR)/tree $(V10_DIR)/obj
	mkdir -p $(V10_DIR)/tree $(V10_DIR)/obj
	git archive $(V10_COMMIT) src include | tar -x -C $(V10_DIR)/tree
	for f in $(V10_DIR)/tree/src/*.c; do \
	    $(CC) -I$(V10_DIR)/tree/include -I$(V10_DIR)/tree/src $(BP_CFLAGS) $(CFLAGS) $(CPPFLAGS) \
	        -c $$f -o $(V10_DIR)/obj/$$(basename $$f .c).o || exit 1; \
	done
	$(LD) -r -o $(V10_DIR)/all.o $(V10_DIR)/obj/*.o
	$(NM) -g --defined-only $(V10_DIR)/all.o | \
	    awk '$$3 ~ /^bufpool_[a-z]/ { print $$3, "bp10_" substr($$3, 9) }' > $(V10_DIR)/redefine.syms
	$(OBJCOPY) --localize-hidden --redefine-syms=$(V10_DIR)/redefine.syms $(V10_DIR)/all.o $@.tmp
	@# nothing global may be left under the library's names
	@if $(NM) -g --defined-only $@.tmp | awk '{ print $$3 }' | grep '^bufpool'; then \
	    echo "v10: symbols above would clash with the current library"; rm -f $@.tmp; exit 1; fi
	mv $@.tmp $@

# -O2 after $(CFLAGS): benchmark numbers come from an optimized build even
# when CFLAGS asks for -O0.  -ldl for dlopen of jemalloc/mimalloc, -lm for log();
# liburing for the bufring section (BENCH_URING_LIBS, set in mk/region.mk).
$(BENCH_DIR)/obj/%.o: bench/%.c $(BENCH_HDRS) $(V10_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(BENCH_INC) $(CFLAGS) -O2 $(CPPFLAGS) -DBENCH_HAVE_V10=$(BENCH_V10) -c $< -o $@

$(BENCH_BIN): $(BENCH_OBJS) $(LIB_A) $(V10_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) -O2 $(BENCH_OBJS) $(V10_OBJ) -o $@ $(LIB_A) $(LDFLAGS) $(BENCH_URING_LIBS) $(LDLIBS_PT) -ldl -lm

# The run with busy threads (its data files in $(BENCH_DIR)/busy, not
# plotted) and the publishing, each unless told otherwise.
BENCH_BUSY ?= 2
BENCH_BUSY_SECTIONS ?= backpressure,wake,xthread,oversub,isolation,reclaim
BENCH_DOC ?= docs/benchmarks.md

BENCH_BUSY_RUN = $(BENCH_BIN) --busy $(BENCH_BUSY) --section $(BENCH_BUSY_SECTIONS) --append \
	--out $(BENCH_DIR)/busy --md $(BENCH_DIR)/results.md $(BENCH_ARGS)
ifneq ($(filter --section,$(BENCH_ARGS)),)
BENCH_BUSY_RUN = @echo "bench: no run with busy threads (BENCH_ARGS picks the sections)"
endif
ifeq ($(strip $(BENCH_BUSY)),0)
BENCH_BUSY_RUN = @echo "bench: no run with busy threads (BENCH_BUSY=0)"
endif
# The Rust crate's tables (bench/harness/rust.sh), unless BENCH_ARGS picks
# sections; --quick passes on.
BENCH_RUST_RUN = sh bench/harness/rust.sh $(BENCH_DIR)/results.md $(abspath $(BENCH_DIR)) $(filter --quick,$(BENCH_ARGS))
ifneq ($(filter --section,$(BENCH_ARGS)),)
BENCH_RUST_RUN = @echo "bench: no Rust tables (BENCH_ARGS picks the sections)"
endif
BENCH_PUBLISH = sh bench/harness/publish.sh $(BENCH_DIR)/results.md $(BENCH_DOC) $(BENCH_DIR)/bench.png
ifneq ($(strip $(BENCH_ARGS)),)
BENCH_PUBLISH = @echo "bench: $(BENCH_DOC) not updated (BENCH_ARGS given: not a full run)"
endif
ifeq ($(strip $(BENCH_DOC)),)
BENCH_PUBLISH = @echo "bench: no docs updated (BENCH_DOC is empty)"
endif

bench: $(BENCH_BIN)
	$(BENCH_BIN) --out $(BENCH_DIR) --md $(BENCH_DIR)/results.md --targets $(BENCH_DIR)/targets.md \
	    $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-uring
	$(BENCH_RUST_RUN)
	$(BENCH_BUSY_RUN)
	@if command -v gnuplot >/dev/null 2>&1; then \
	    gnuplot -e "dir='$(BENCH_DIR)'" bench/harness/plot.gp && echo "plot: $(BENCH_DIR)/bench.png"; \
	else \
	    echo "note: gnuplot not installed (apt-get install gnuplot-nox): plot skipped"; \
	fi
	$(BENCH_PUBLISH)
	@echo "results: $(BENCH_DIR)/results.md; targets: $(BENCH_DIR)/targets.md"

# Smoke test for `make check`: the bench binary runs every section in
# --quick mode, one with --busy, and publish.sh writes a scratch doc.  A
# copy of the script sits beside the binary with one of publish.sh, so its
# log (tests/run.sh writes PROG.log) stays out of the source tree.
$(BENCH_DIR)/smoke.sh: bench/smoke.sh bench/harness/publish.sh $(BENCH_BIN)
	@mkdir -p $(dir $@)
	cp bench/harness/publish.sh $(dir $@)publish.sh
	cp bench/smoke.sh $@ && chmod +x $@

CHECK_PROGS += $(BENCH_DIR)/smoke.sh
