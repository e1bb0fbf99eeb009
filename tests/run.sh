#!/bin/sh
# Runs each test program under a timeout.  Exit 0 = pass, 77 = skip, other =
# fail.  Ends with the line "N passed, M failed, K skipped".
# TEST_TIMEOUT (seconds, default 300) bounds each program.
timeout_s=${TEST_TIMEOUT:-300}
pass=0; fail=0; skip=0; failed=""
for t in "$@"; do
    name=$(basename "$t")
    start=$(date +%s.%N)
    timeout -k 10 "$timeout_s" "$t" > "$t.log" 2>&1
    rc=$?
    dur=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
    case $rc in
    0) pass=$((pass + 1)); echo "PASS  $name (${dur}s)" ;;
    77) skip=$((skip + 1)); echo "SKIP  $name: $(tail -n 1 "$t.log")" ;;
    124|137) fail=$((fail + 1)); failed="$failed $name"; echo "FAIL  $name (timed out after ${timeout_s}s)"; tail -n 20 "$t.log" ;;
    *) fail=$((fail + 1)); failed="$failed $name"; echo "FAIL  $name (exit $rc)"; tail -n 20 "$t.log" ;;
    esac
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
