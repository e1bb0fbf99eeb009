#!/bin/sh
# Smoke test of the benchmark: every section in --quick mode (a few
# seconds), output kept away from the real results.  Checks every
# section's heading (the bufring section's table may be a note that
# io_uring is unavailable instead), the rounds' range in the tables and the plot's data
# files.  The syscalls section may print a note instead of its table (no
# strace, or ptrace not permitted), and so may the instr section (no
# valgrind): either is accepted.  Exit 0 on success.
# Run from the build directory copy ($(BUILD)/bench/smoke.sh, next to the
# binary) or as bench/smoke.sh from the top of the tree after `make bench`'s
# binary exists (BENCH_BIN overrides where it is).
here=$(cd "$(dirname "$0")" && pwd)
bin=${BENCH_BIN:-}
if [ -z "$bin" ]; then
    if [ -x "$here/bench" ]; then bin=$here/bench; else bin=build/bench/bench; fi
fi
[ -x "$bin" ] || { echo "smoke: no bench binary at $bin (make build/bench/bench)"; exit 1; }
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT
"$bin" --quick --out "$out" --md "$out/results.md" > "$out/stdout" 2> "$out/stderr"
rc=$?
cat "$out/stdout"
if [ $rc -ne 0 ]; then
    echo "smoke: bench exited $rc"; cat "$out/stderr"; exit 1
fi
# Every general section must have produced its bufpool row.
for want in "## Roundtrip latency" "## Latency by number of buffers" "## Throughput" \
            "## Backpressure" "## Backpressure, paced" "## Wake latency" "## CPU used" \
            "## Peak RSS" "## Region mode" "## System calls" "## Mixed sizes" \
            "### Peak RSS growth under the mixed-size ring" "## Allocate then release at once" \
            "## Footprint" "### Page-sized single buffers" "### Metadata" "### Create" \
            "## Cross-thread release" "### Allocate calls that waited" \
            "## Oversubscription" "### 8 threads" "### 32 threads" "| bufpool FIFO |" \
            "## Instructions per roundtrip" "## Provided-buffer rings" "## Targets" "| bufpool |"; do
    grep -qF "$want" "$out/results.md" || { echo "smoke: missing '$want' in results"; exit 1; }
done
grep -qE '^\| bufpool \| 64 B, n = 1 \||^Note: .*section skipped' "$out/results.md" ||
    { echo "smoke: syscalls section has neither a table nor a note"; exit 1; }
# The instr section: its table (Ir counts, instructions per roundtrip), or
# the note that valgrind is missing.
grep -qE '^\| bufpool \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| |^Note: valgrind .*section skipped' "$out/results.md" ||
    { echo "smoke: instr section has neither a bufpool row nor a note"; exit 1; }
# Every timed table gives its rounds' range next to the median.
grep -qE '^\| bufpool \| [0-9.]+ \([0-9.]+\.\.[0-9.]+\) \|' "$out/results.md" ||
    { echo "smoke: no 'median (min..max)' cell in the bufpool rows"; exit 1; }
# The mixed-size and footprint sections' bufpool rows carry figures, not
# "failed (...)": the throughput and RSS tables, the page-sized fill, the
# metadata and the create rows.
for re in '^\| bufpool \| [0-9.]+ \([0-9.]+\.\.[0-9.]+\) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \(' \
          '^\| bufpool \| -?[0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \| [0-9]+ / [0-9]+ \|' \
          '^\| bufpool \| [0-9]+( \(stopped: [^)]*\))? \| -?[0-9.]+ \| -?[0-9.]+ \| [-A-Z0-9]+ \| [0-9.]+ \|$' \
          '^\| bufpool \(buffer_size 8\) \| -?[0-9.]+ \| -?[0-9.]+ \|' \
          '^\| bufpool \| [0-9.]+ \([0-9.]+\.\.[0-9.]+\) \| [0-9.]+ \([0-9.]+\.\.[0-9.]+\) \| [0-9.]+ \([0-9.]+\.\.[0-9.]+\) \| -?[0-9]+ \|'; do
    grep -qE "$re" "$out/results.md" || { echo "smoke: no bufpool row matching '$re'"; exit 1; }
done
# The bufring section: its bufpool rows, or its note.
grep -qE '^\| (64|256) \| bufpool ring \| [0-9.]+ \([0-9.]+\.\.[0-9.]+\) \||^Note: io_uring provided-buffer rings unavailable' "$out/results.md" ||
    { echo "smoke: bufring section has neither its table nor a note"; exit 1; }
# The data files plot.gp reads.
for f in machine.gp latency.dat threads.dat backpressure.dat wait_wake.dat wait_paced.dat \
         region_frag.dat mixed.dat xthread.dat oversub.dat; do
    [ -s "$out/$f" ] || { echo "smoke: no data file $f"; exit 1; }
done
echo "smoke: ok"
