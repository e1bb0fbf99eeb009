#!/bin/sh
# check-sanitize: builds the library and the test programs (the test_*
# programs and stress, not this script) in build-asan (ASan + UBSan) and
# build-tsan (TSan) through `make BUILD=... CFLAGS=... reliability-progs`,
# then runs them with tests/run.sh.  No suppressions.  Exit 0 pass, 1 fail,
# 77 skip (BUFPOOL_SKIP_SANITIZE=1).  Builds and runs BUFPOOL_JOBS at a time
# (the slots tests/run.sh gives it: all of them), else one per core.
# Usage: sanitize.sh [asan|tsan]: one variant (`make check` runs the two as
# two programs, sanitize-asan.sh and sanitize-tsan.sh, each with its own
# timeout), or both.
root=$(cd "$(dirname "$0")/.." && pwd)
MAKE=${MAKE:-make}
jobs=${BUFPOOL_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ -n "$BUFPOOL_SKIP_SANITIZE" ] && { echo "skipped: BUFPOOL_SKIP_SANITIZE is set"; exit 77; }
export BUFPOOL_STRESS_SECONDS=${BUFPOOL_SAN_STRESS_SECONDS:-6}
export BUFPOOL_MODEL_SEQS=${BUFPOOL_SAN_MODEL_SEQS:-1000}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
common="-O1 -g -fno-omit-frame-pointer"
failed=0
for v in ${1:-asan tsan}; do
    case $v in
    asan) flags="$common -fsanitize=address,undefined -fno-sanitize-recover=all" ;;
    tsan) flags="$common -fsanitize=thread" ;;
    esac
    b=build-$v
    mkdir -p "$root/$b"
    echo "== $b: CFLAGS=$flags"
    if ! "$MAKE" -C "$root" --no-print-directory -j"$jobs" BUILD=$b CFLAGS="$flags" reliability-progs \
            > "$root/$b/make.log" 2>&1; then
        tail -n 30 "$root/$b/make.log"; echo "FAIL: building $b"; failed=1; continue
    fi
    progs=$("$MAKE" -C "$root" --no-print-directory -s BUILD=$b print-reliability-progs)
    (cd "$root" && tests/run.sh -j "$jobs" -t "$b/tests/times.txt" $progs) || failed=1
done
exit $failed
