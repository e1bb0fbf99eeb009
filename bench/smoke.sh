#!/bin/sh
# Smoke test of the benchmark: every section in --quick mode (a few
# seconds), output kept away from the real results; then one section again
# with busy threads, appended as `make bench` does; then publish.sh on a
# scratch doc.  Checks every section's heading (the bufring section's table
# may be a note that io_uring is unavailable instead), the rounds' range in
# the tables, the plot's data files, the verdicts in their own file, the
# busy run's headings and that its busy threads are gone after it, and the
# scratch doc's results part replaced.  The syscalls section may print a
# note instead of its table (no strace, or ptrace not permitted), and so
# may the instr section (no valgrind): either is accepted.  Exit 0 on
# success.
# Run from the build directory copy ($(BUILD)/bench/smoke.sh, next to the
# binary and a copy of publish.sh) or as bench/smoke.sh from the top of the
# tree after `make bench`'s binary exists (BENCH_BIN overrides where it is).
here=$(cd "$(dirname "$0")" && pwd)
bin=${BENCH_BIN:-}
if [ -z "$bin" ]; then
    if [ -x "$here/bench" ]; then bin=$here/bench; else bin=build/bench/bench; fi
fi
pub=$here/publish.sh
[ -f "$pub" ] || pub=$here/harness/publish.sh
[ -x "$bin" ] || { echo "smoke: no bench binary at $bin (make build/bench/bench)"; exit 1; }
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT
"$bin" --quick --out "$out" --md "$out/results.md" --targets "$out/targets.md" \
    > "$out/stdout" 2> "$out/stderr"
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
            "## Instructions per roundtrip" "## Provided-buffer rings" "| bufpool |" \
            "## Reclaim: an LRU cache beside bursts" "| bufpool + reclaim |"; do
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
# The verdicts go to their own file, not into the results.
grep -q '^# Targets' "$out/targets.md" || { echo "smoke: no verdicts in targets.md"; exit 1; }
! grep -q 'Targets' "$out/results.md" || { echo "smoke: verdicts in results.md"; exit 1; }
# The data files plot.gp reads.
for f in machine.gp latency.dat threads.dat backpressure.dat wait_wake.dat wait_paced.dat \
         region_frag.dat mixed.dat xthread.dat oversub.dat; do
    [ -s "$out/$f" ] || { echo "smoke: no data file $f"; exit 1; }
done
# --busy: a section between busy threads, appended to the results as
# `make bench` does; its heading says so, and its busy child is gone after.
"$bin" --quick --busy 2 --section wake --append --out "$out/busy" --md "$out/results.md" \
    > "$out/busy.stdout" 2>&1 &
pid=$!
wait $pid || { echo "smoke: bench --busy exited $?"; cat "$out/busy.stdout"; exit 1; }
for want in "## With 2 busy threads" "## Wake latency: release -> blocked allocate returns, with 2 busy threads" \
            "Time of the run with busy threads"; do
    grep -qF "$want" "$out/results.md" || { echo "smoke: missing '$want' in results"; exit 1; }
done
[ "$(grep -c '^# bufpool benchmark' "$out/results.md")" = 1 ] ||
    { echo "smoke: --append repeated the machine table"; exit 1; }
for p in /proc/[0-9]*; do tr '\0' ' ' < "$p/cmdline"; echo; done 2>/dev/null |
    grep -q "^bench --child busy .* $pid $" && { echo "smoke: busy threads left running"; exit 1; }
# publish.sh: a doc's results part, from its marker line on, replaced.
marker='<!-- results: written by make bench -->'
printf '# Doc\n\n## Results\n\n%s\n\nold tables\n' "$marker" > "$out/doc.md"
sh "$pub" "$out/results.md" "$out/doc.md" > /dev/null ||
    { echo "smoke: publish.sh failed"; exit 1; }
grep -qxF "$marker" "$out/doc.md" && grep -q '^### Wake latency' "$out/doc.md" &&
    ! grep -q 'old tables\|^# bufpool benchmark' "$out/doc.md" ||
    { echo "smoke: publish.sh did not replace the results part"; exit 1; }
echo "smoke: ok"
