#!/bin/sh
# Checks the wait protocol model (tests/model/waitq.pml) with spin: every
# configuration of the correct protocol must verify (no assertion violation,
# no invalid end state = no lost wakeup), and the known-bad release order
# (-DBAD: load nwait before the push) must be refuted.
# Usage: spin.sh [workdir].  Exit 0 pass, 1 fail, 77 skip (no spin or cc).
root=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
command -v spin >/dev/null 2>&1 || { echo "skipped: spin not installed (apt-get install spin)"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || { echo "skipped: no C compiler"; exit 77; }
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/bufpool-spin.XXXXXX")}
mkdir -p "$work" && cd "$work" || exit 1
cp "$root/tests/model/waitq.pml" . || exit 1
failed=0

verify() { # expect(0|bad) flags...
    expect=$1; shift
    rm -f pan pan.* waitq.pml.trail
    if ! spin "$@" -a waitq.pml > spin.log 2>&1; then cat spin.log; echo "FAIL: spin -a $*"; failed=1; return; fi
    "$CC" -O2 -DSAFETY -o pan pan.c > cc.log 2>&1 || { cat cc.log; echo "FAIL: cc pan.c ($*)"; failed=1; return; }
    ./pan -m200000 > pan.log 2>&1
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log)
    states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' pan.log)
    if grep -q "max search depth too small" pan.log; then echo "FAIL [$*]: search depth too small"; failed=1; return; fi
    case $expect in
    ok) if [ "$errors" = 0 ]; then echo "ok    [$*] verified, $states states"
        else echo "FAIL  [$*]: $errors errors"; cat pan.log; spin "$@" -t -p waitq.pml | tail -40; failed=1; fi ;;
    bad) if [ -n "$errors" ] && [ "$errors" != 0 ] && grep -q "invalid end state" pan.log; then
            echo "ok    [$*] refuted as expected: $(grep '^pan:1' pan.log)"
        else echo "FAIL  [$*]: the known-bad variant was not refuted"; cat pan.log; failed=1; fi ;;
    esac
}

for fifo in 0 1; do
    verify ok -DFIFO=$fifo
    verify ok -DFIFO=$fifo -DTIMEOUT
    verify ok -DFIFO=$fifo -DTIMEOUT -DSHUTDOWN
    verify ok -DFIFO=$fifo -DRESIZE=1 -DTIMEOUT
    verify ok -DFIFO=$fifo -DRESIZE=3 -DSHUTDOWN
    verify ok -DFIFO=$fifo -DNB=1 -DTIMEOUT -DSHUTDOWN
    verify bad -DFIFO=$fifo -DBAD
done
[ $failed -eq 0 ] && echo "spin: the wait protocol verified; the bad release order refuted"
exit $failed
