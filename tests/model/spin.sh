#!/bin/sh
# Checks the wait protocol model (tests/model/waitq.pml) with spin, in
# eleven suites that `make check` runs as eleven programs (in parallel), each
# well under the runner's 300 s timeout:
#   safety-default, safety-fifo (and -large: the largest scenario, a resize
#   and a shutdown, one mode each)   every scenario of the correct protocol must
#       verify (no assertion violation, no invalid end state = no lost
#       wakeup), and the known-bad release order (-DBAD: load nwait before
#       the push) and the steal without membarrier() (-DBADMB) must be
#       refuted with an invalid end state;
#   liveness-default, liveness-default-large, liveness-fifo,
#   liveness-resize-*   every scenario must be free of non-progress cycles
#       (-DNP, pan -l: no waiter spins without another thread acting), and,
#       in the default mode, the known-bad poll loop (-DBADPOLL: readiness
#       not reset) must be refuted with one.  The default mode's scenarios
#       are two programs; liveness-resize-default and -fifo are the largest
#       scenario (a resize and a shutdown), one mode each;
#   starve   the default mode's bound on starvation (-DSTARVE): safety and
#       liveness with B turning starving, the hand-off order asserted, and
#       -DBADHANDOFF (serve passes a starving B) refuted by that assertion;
#   pipeline   the pipeline scenario (see pipeline() below) in both modes,
#       for safety and liveness, with -DBADREFILL refuted, and serve's
#       single verdict (-DHOLD verified, -DBADFIT: looking twice, refuted).
# The model file says why the liveness search runs without weak fairness.
# Usage: spin.sh [workdir [suite...]]; no suite: all eleven, one after the
# other.  Exit 0 pass, 1 fail, 77 skip (no spin or cc).
root=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
command -v spin >/dev/null 2>&1 || { echo "skipped: spin not installed (apt-get install spin)"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || { echo "skipped: no C compiler"; exit 77; }
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/bufpool-spin.XXXXXX")}
[ $# -gt 0 ] && shift
suites=${*:-safety-default safety-default-large safety-fifo safety-fifo-large pipeline starve liveness-default liveness-default-large liveness-fifo liveness-resize-default liveness-resize-fifo}
mkdir -p "$work" && cd "$work" || exit 1
cp "$root/tests/model/waitq.pml" . || exit 1
failed=0

# pan.c is compiled at -O0: at -O2 the compiler takes 5-9 s per scenario,
# at -O0 about 1 s, and a search of a few million states is as fast.  The
# suites of the largest scenario (50 to 72 million states) are the
# exception: -O2 (pan_opt) cuts a search from 200 s to 125 s here.  COLLAPSE compresses stored
# states (about 40% less memory, same time).
pan_opt=-O0
verify() { # safety|liveness ok|bad spin-flags...
    kind=$1 expect=$2; shift 2
    rm -f pan pan.* waitq.pml.trail
    [ "$kind" = liveness ] && set -- -DSC=1 "$@" # the model says why
    if ! spin "$@" -a waitq.pml > spin.log 2>&1; then cat spin.log; echo "FAIL: spin -a $*"; failed=1; return; fi
    case $kind in
    safety) cflags=-DSAFETY panflags= want="invalid end state" ;;
    liveness) cflags=-DNP panflags=-l want="non-progress cycle" ;;
    esac
    "$CC" $pan_opt $cflags -DCOLLAPSE -o pan pan.c > cc.log 2>&1 || { cat cc.log; echo "FAIL: cc pan.c ($*)"; failed=1; return; }
    ./pan $panflags -m200000 > pan.log 2>&1
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log)
    states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' pan.log)
    if grep -q "max search depth too small" pan.log; then echo "FAIL [$kind $*]: search depth too small"; failed=1; return; fi
    [ "$expect" = bad-assert ] && want="assertion violated" && expect=bad
    case $expect in
    ok) if [ "$errors" = 0 ]; then echo "ok    [$kind $*] verified, $states states"
        else echo "FAIL  [$kind $*]: $errors errors"; cat pan.log; spin "$@" -t -p waitq.pml | tail -40; failed=1; fi ;;
    bad) if [ -n "$errors" ] && [ "$errors" != 0 ] && grep -q "$want" pan.log; then
            echo "ok    [$kind $*] refuted as expected: $(grep '^pan:1' pan.log)"
        else echo "FAIL  [$kind $*]: the known-bad variant was not refuted ($want)"; cat pan.log; failed=1; fi ;;
    esac
}

# The scenarios, for both kinds of check; the largest (a resize to 3 units
# and a shutdown) only when the second argument is not "small".
scenarios() { # safety|liveness fifo [small]
    verify "$1" ok -DFIFO=$2
    verify "$1" ok -DFIFO=$2 -DTIMEOUT
    verify "$1" ok -DFIFO=$2 -DTIMEOUT -DSHUTDOWN
    verify "$1" ok -DFIFO=$2 -DRESIZE=1 -DTIMEOUT
    [ "$3" = small ] || verify "$1" ok -DFIFO=$2 -DRESIZE=3 -DSHUTDOWN
    verify "$1" ok -DFIFO=$2 -DNB=1 -DTIMEOUT -DSHUTDOWN
}

# The pipeline: B keeps what it got (a producer hands it on), a unit waits
# in the depot at the start, A needs 2: a refill finds more than it needs
# while A sleeps.  With -DBADREFILL (no look after the refill) A must be
# left asleep.
pipeline() { # safety|liveness fifo
    verify "$1" ok -DFIFO=$2 -DNB=1 -DNA=2 -DHOLD -DDEPOT0=1
    [ "$1" = safety ] && verify safety bad -DFIFO=$2 -DNB=1 -DNA=2 -DHOLD -DDEPOT0=1 -DBADREFILL
}

for s in $suites; do
    case $s in
    safety-default) scenarios safety 0 small; verify safety bad -DFIFO=0 -DBAD
        verify safety ok -DFIFO=0 -DTIMEOUT -DUNFENCE
        verify safety bad -DFIFO=0 -DBADMB ;;
    safety-fifo) scenarios safety 1 small; verify safety bad -DFIFO=1 -DBAD
        verify safety ok -DFIFO=1 -DTIMEOUT -DUNFENCE
        verify safety bad -DFIFO=1 -DBADMB ;;
    # the largest safety scenario (72 million states in the default mode
    # since a steal may leave the pool unfenced), a program of its own
    safety-default-large) pan_opt=-O2; verify safety ok -DFIFO=0 -DRESIZE=3 -DSHUTDOWN; pan_opt=-O0 ;;
    safety-fifo-large) pan_opt=-O2; verify safety ok -DFIFO=1 -DRESIZE=3 -DSHUTDOWN; pan_opt=-O0 ;;
    pipeline) for f in 0 1; do pipeline safety $f; pipeline liveness $f; done
        verify safety ok -DFIFO=0 -DNB=1 -DHOLD
        verify safety bad -DFIFO=0 -DNB=1 -DHOLD -DBADFIT ;;
    # the default mode's bound on starvation (-DSTARVE): B may turn
    # starving, and the pool then hands off to it; the hand-off order is
    # asserted, and -DBADHANDOFF (a starving B passed) must violate it
    starve) verify safety ok -DFIFO=0 -DSTARVE
        verify safety ok -DFIFO=0 -DSTARVE -DTIMEOUT
        verify safety ok -DFIFO=0 -DSTARVE -DNB=1 -DTIMEOUT
        verify safety bad-assert -DFIFO=0 -DSTARVE -DBADHANDOFF
        verify liveness ok -DFIFO=0 -DSTARVE -DTIMEOUT ;;
    # In FIFO mode the fd turns readable only for a grant or a final result,
    # both of which end the poll loop, so -DBADPOLL changes nothing there.
    # the default mode's liveness scenarios, in two programs of about 100 s
    liveness-default) verify liveness ok -DFIFO=0; verify liveness ok -DFIFO=0 -DTIMEOUT
        verify liveness ok -DFIFO=0 -DTIMEOUT -DSHUTDOWN
        verify liveness bad -DFIFO=0 -DBADPOLL ;;
    liveness-default-large) verify liveness ok -DFIFO=0 -DRESIZE=1 -DTIMEOUT
        verify liveness ok -DFIFO=0 -DNB=1 -DTIMEOUT -DSHUTDOWN ;;
    liveness-fifo) scenarios liveness 1 small ;;
    liveness-resize-default) pan_opt=-O2; verify liveness ok -DFIFO=0 -DRESIZE=3 -DSHUTDOWN; pan_opt=-O0 ;;
    liveness-resize-fifo) pan_opt=-O2; verify liveness ok -DFIFO=1 -DRESIZE=3 -DSHUTDOWN; pan_opt=-O0 ;;
    *) echo "FAIL: unknown suite $s (safety-default safety-default-large safety-fifo safety-fifo-large pipeline starve liveness-default liveness-default-large liveness-fifo liveness-resize-default liveness-resize-fifo)"; failed=1 ;;
    esac
done
[ $failed -eq 0 ] && echo "spin: $suites: the wait protocol verified; the known-bad variants refuted"
exit $failed
