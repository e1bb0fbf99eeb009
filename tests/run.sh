#!/bin/sh
# run.sh: runs test programs, several at a time, each under a timeout, and
# sums them up.
#
# Usage: run.sh [-j N] [-t FILE] PROG...
#   -j N   run up to N slots' worth of programs at once (default: the number
#          of cores, nproc).  `make check JOBS=N` passes it on.
#   -t FILE  write every program's times there (see Times below).
#   TEST_TIMEOUT (seconds, default 300) bounds each program; it is sent TERM
#   then, and KILL 10 s later.
#
# Results.  Exit 0 = pass, 77 = skip (the reason is its last line of
# output), anything else or a timeout = fail.  Each program's output goes to
# PROG.log beside it.
#
# Skipped parts.  A program that skips part of its work (a tool is missing,
# say) and does the rest prints, for each part, a line
#     SKIP: <part>: <reason>
# Each such line counts as one more skip in the summary and is shown after
# the program's result.  (Not counted for a program that exits 77: that is
# one skip, the whole program.)  The runner writes its own skips in the same
# form, so the skips of a nested run (tests/sanitize.sh runs this script)
# add up in the outer summary.
#
# Output, one line per program as it finishes:
#     PASS: NAME (SECONDSs)
#     SKIP: NAME: REASON (SECONDSs)
#     FAIL: NAME (exit RC | timed out, SECONDSs), then the log's last 20 lines
# and at the end, if any failed, "failed: NAMES", then the times (below),
# then the summary, alone on the last line: "N passed, M failed, K skipped"
# (K: skipped programs plus skipped parts).  Exit 1 if anything failed,
# else 0.
#
# Times.  For each program its wall time and its CPU time (user + system of
# the program and everything it ran and waited for, from `times`), slowest
# first: the ten slowest at the end of the output, all of them in the -t
# file, with the run's own wall time and the sum of the CPU times.  On a
# machine others use too the wall times grow with their load; the CPU
# times much less, and the CPU sum over the number of cores is the least
# wall time the run could take there.
#
# Slots.  A program takes one slot, except those that slots() below lets
# run alone (they take every slot).  A program finds its number of slots in
# BUFPOOL_JOBS, so a script that runs work of its own can use that many
# cores.  Start order: programs that run alone first (then nothing has to
# drain before they start), then the others longest first (so that the
# run does not end with one long program on one core while the others
# idle), by the duration of their previous run (kept in PROG.dur), else by
# the one tests/durations expects (for a fresh build directory: what a
# clean clone in CI has); programs with neither start first, in the order
# given.
usage() { echo "usage: run.sh [-j N] [-t FILE] PROG..." >&2; exit 2; }
jobs=$(nproc 2>/dev/null || echo 1)
times_file=
while getopts j:t: opt; do
    case $opt in
    j) jobs=$OPTARG ;;
    t) times_file=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
case $jobs in ''|*[!0-9]*) usage ;; esac
[ "$jobs" -ge 1 ] || usage
timeout_s=${TEST_TIMEOUT:-300}

# Programs that take every slot, and why.  Everything else takes one.
#  sanitize.sh: a whole suite in itself (two builds of the library and the
#    tests, ASan+UBSan and TSan, each run through this script).  Alone, it
#    builds and runs its tests N at a time (BUFPOOL_JOBS), instead of
#    competing with other programs for the cores; sharing them would
#    oversubscribe the machine.
#  stress: more threads than cores by design, for a fixed time, with a
#    watchdog that takes 10 s without progress for a lost wakeup and 5 s
#    of grace for a shrink to take effect, so a starved run can fail for
#    want of CPU.  And next to other programs it would slow them: the
#    timing-sensitive tests (test_wait: woken within 100 ms; test_fifo,
#    test_waiter: windows of 30-150 ms) would run on a machine it
#    saturates.  Those tests themselves take one slot: with one slot per
#    core, what runs beside them is one other program, which leaves them a
#    core.
slots() {
    case $(basename "$1") in
    sanitize*.sh|stress|stress.sh) echo "$jobs" ;;
    *) echo 1 ;;
    esac
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-run.XXXXXX") || exit 1
mkfifo "$tmp/done" || exit 1
# Read and write ends on one descriptor: opening never blocks, and the
# reader never sees end-of-file while the runner itself holds it open.
exec 3<>"$tmp/done"
stop() {
    for f in "$tmp"/*.pid; do [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done
    rm -rf "$tmp"
}
trap 'rm -rf "$tmp"' EXIT
trap 'stop; trap - EXIT; exit 130' INT
trap 'stop; trap - EXIT; exit 143' TERM

# Number the programs (prog_1 ...) and sort them into the start order.
# tests/durations: "SECONDS DIR/NAME" lines (DIR/NAME: the program's last
# two path components, tests/stress.sh say).
expected=$(dirname "$0")/durations
n=0
for t in "$@"; do
    n=$((n + 1))
    eval "prog_$n=\$t"
    w=$(slots "$t"); [ "$w" -gt "$jobs" ] && w=$jobs
    eval "slots_$n=$w"
    prev=$(cat "$t.dur" 2>/dev/null)
    case $prev in
    ''|*[!0-9.]*)
        key=$(basename "$(dirname "$t")")/$(basename "$t")
        prev=$(awk -v k="$key" '$2 == k { print $1; exit }' "$expected" 2>/dev/null) ;;
    esac
    case $prev in ''|*[!0-9.]*) prev=1000000 ;; esac
    # alone first (0), then by previous duration, longest first, then as given
    if [ "$w" -eq "$jobs" ] && [ "$jobs" -gt 1 ]; then alone=0; else alone=1; fi
    echo "$alone $prev $n" >> "$tmp/keys"
done
[ "$n" -gt 0 ] || usage
order=$(sort -k1,1n -k2,2gr -k3,3n "$tmp/keys" | awk '{ print $3 }')

# One program: run it under the timeout, then report "INDEX RC SECONDS" on
# the pipe.  Its output goes to PROG.log; descriptor 3 is not passed on.
start() {
    i=$1
    eval "t=\$prog_$i; w=\$slots_$i"
    (
        s=$(date +%s.%N)
        BUFPOOL_JOBS=$w timeout -k 10 "$timeout_s" "$t" > "$t.log" 2>&1 3>&- &
        echo $! > "$tmp/$i.pid"
        wait $!
        rc=$?
        rm -f "$tmp/$i.pid"
        d=$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
        # CPU time: the second line of `times` is this subshell's waited-for
        # children, "XmY.YYYs XmY.YYYs" (user, system).  (Into a file: in a
        # pipe it would run in a child of its own, which has no children.)
        times > "$tmp/$i.times"
        c=$(awk 'NR == 2 { t = 0
            for (f = 1; f <= 2; f++) { split($f, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2] }
            printf "%.2f", t }' "$tmp/$i.times")
        echo "$i $rc $d ${c:-0}" >&3
    ) &
}

pass=0; fail=0; skip=0; failed=""
# Print one finished program's result and count it.
report() {
    i=$1 rc=$2 d=$3 c=$4
    eval "t=\$prog_$i"
    name=$(basename "$t")
    echo "$d" > "$t.dur"
    case $rc in 124|137) ;; *) echo "$d $c $t" >> "$tmp/times" ;; esac
    case $rc in
    0) pass=$((pass + 1)); echo "PASS: $name (${d}s)" ;;
    77) skip=$((skip + 1))
        echo "SKIP: $name: $(tail -n 1 "$t.log" | sed 's/^skipped: //') (${d}s)"
        return ;;
    124|137) fail=$((fail + 1)); failed="$failed $name"
        echo "$d $c $t (timed out: CPU time incomplete)" >> "$tmp/times"
        echo "FAIL: $name (timed out after ${timeout_s}s)"; tail -n 20 "$t.log" | sed 's/^/    /' ;;
    *) fail=$((fail + 1)); failed="$failed $name"
        echo "FAIL: $name (exit $rc, ${d}s)"; tail -n 20 "$t.log" | sed 's/^/    /' ;;
    esac
    parts=$(grep -c '^SKIP: ' "$t.log")
    if [ "$parts" -gt 0 ]; then
        skip=$((skip + parts))
        grep '^SKIP: ' "$t.log" | sed "s/^SKIP: /SKIP: $name: /"
    fi
}

free=$jobs
running=0
run_start=$(date +%s.%N)
: > "$tmp/times"
set -- $order
while [ $# -gt 0 ] || [ "$running" -gt 0 ]; do
    # Start what fits, in order; the next program waits for its slots.
    while [ $# -gt 0 ]; do
        eval "w=\$slots_$1"
        [ "$w" -le "$free" ] || break
        start "$1"
        free=$((free - w)); running=$((running + 1))
        shift
    done
    read -r i rc d c <&3 || { echo "run.sh: lost track of the programs" >&2; exit 1; }
    report "$i" "$rc" "$d" "$c"
    eval "w=\$slots_$i"
    free=$((free + w)); running=$((running - 1))
done
[ -n "$failed" ] && echo "failed:$failed"

# The times, slowest first: all of them in the -t file, the ten slowest
# here (all of them without -t).
elapsed=$(awk -v s="$run_start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
sort -k1,1gr "$tmp/times" | awk -v el="$elapsed" -v j="$jobs" '
    { n++; p = $0; sub(/^[^ ]+ [^ ]+ /, "", p); line[n] = sprintf("%8.2f %8.2f  %s", $1, $2, p); cpu += $2 }
    END {
        printf "times: %.1f s wall for the run; CPU %.1f s in all, %.1f s a core over %d\n", el, cpu, cpu / j, j
        printf "%8s %8s  %s\n", "wall s", "CPU s", "program (slowest first)"
        for (i = 1; i <= n; i++) print line[i]
    }' > "$tmp/table"
if [ -n "$times_file" ]; then
    cp "$tmp/table" "$times_file" || echo "run.sh: cannot write $times_file" >&2
    head -n 12 "$tmp/table"
    [ "$n" -gt 10 ] && echo "(all $n: $times_file)"
else
    cat "$tmp/table"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
