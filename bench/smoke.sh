#!/bin/sh
# Smoke test of the benchmark: every section in --quick mode (a few
# seconds), output kept away from the real results.  The syscalls section
# may print a note instead of its table (no strace, or ptrace not
# permitted): either is accepted.  Exit 0 on success.
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
for want in "## Table 1" "## Table 2" "## Throughput" "## Backpressure" \
            "## Backpressure, paced" "## Wake latency" "## CPU used" "## Peak RSS" \
            "## Region mode" "## System calls" "| bufpool |"; do
    grep -qF "$want" "$out/results.md" || { echo "smoke: missing '$want' in results"; exit 1; }
done
grep -qE '^\| bufpool \| 64 B, n = 1 \||^Note: .*section skipped' "$out/results.md" ||
    { echo "smoke: syscalls section has neither a table nor a note"; exit 1; }
echo "smoke: ok"
