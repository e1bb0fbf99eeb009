# `make bench`: the benchmark (bench/main.c runs the sections, one file each
# over bench/harness.c; the baseline pools are in bench/baselines.c).
# Prints markdown tables, keeps them in $(BUILD)/bench/results.md, and plots
# $(BUILD)/bench/bench.png with gnuplot when it is installed.
# `make bench BENCH_ARGS=--quick` for a short run, BENCH_ARGS="--section
# threads" for one section.

BENCH_DIR := $(BUILD)/bench
BENCH_BIN := $(BENCH_DIR)/bench
# Every bench/*.c but the io_uring copy, a program of its own (mk/region.mk).
BENCH_SRCS := $(filter-out bench/uring_bench.c,$(sort $(wildcard bench/*.c)))
BENCH_OBJS := $(BENCH_SRCS:bench/%.c=$(BENCH_DIR)/obj/%.o)
BENCH_HDRS := $(wildcard bench/*.h) include/bufpool.h
BENCH_ARGS ?=

# -O2 after $(CFLAGS): benchmark numbers come from an optimized build even
# when CFLAGS asks for -O0.  -ldl for dlopen of jemalloc/mimalloc, -lm for log();
# liburing for the bufring section (BENCH_URING_LIBS, set in mk/region.mk).
$(BENCH_DIR)/obj/%.o: bench/%.c $(BENCH_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) -O2 $(CPPFLAGS) -c $< -o $@

$(BENCH_BIN): $(BENCH_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(BP_CFLAGS) $(CFLAGS) -O2 $(BENCH_OBJS) -o $@ $(LIB_A) $(LDFLAGS) $(BENCH_URING_LIBS) $(LDLIBS_PT) -ldl -lm

bench: $(BENCH_BIN)
	$(BENCH_BIN) --out $(BENCH_DIR) --md $(BENCH_DIR)/results.md $(BENCH_ARGS)
	@if command -v gnuplot >/dev/null 2>&1; then \
	    gnuplot -e "dir='$(BENCH_DIR)'" bench/plot.gp && echo "plot: $(BENCH_DIR)/bench.png"; \
	else \
	    echo "note: gnuplot not installed (apt-get install gnuplot-nox): plot skipped"; \
	fi
	@$(MAKE) --no-print-directory bench-uring
	@echo "results: $(BENCH_DIR)/results.md"

# Smoke test for `make check`: the bench binary runs every section in
# --quick mode.  A copy of the script sits beside the binary, so its log
# (tests/run.sh writes PROG.log) stays out of the source tree.
$(BENCH_DIR)/smoke.sh: bench/smoke.sh $(BENCH_BIN)
	@mkdir -p $(dir $@)
	cp bench/smoke.sh $@ && chmod +x $@

CHECK_PROGS += $(BENCH_DIR)/smoke.sh
