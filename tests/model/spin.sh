#!/bin/sh
# Checks the wait protocol model (tests/model/waitq.pml) with spin, in
# nineteen suites that `make check` runs as nineteen programs (in
# parallel), each well under the runner's 300 s timeout:
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
#       single verdict (-DHOLD verified, -DBADFIT: looking twice, refuted);
#   accounts-default, accounts-fifo   the account queue (-DACCT, the
#       model's "Accounts"), as the C code is, one mode each: every
#       scenario must verify (no lost wakeup, X's cap never exceeded, yw's
#       request within Y's reservation served at once, committed exact,
#       and what serve leaves: a request on its own cap blocks nobody, FIFO
#       passes nobody in the line), and the known-bad variants must be
#       refuted: -DBADACCTREL (an account release uncharges without
#       serving: xw left asleep), -DBADHOL (serve stops at a capped
#       request: the assertion that nobody who fits is left) and, in FIFO,
#       -DBADORDER (serve passes a request in the line that does not fit:
#       the order assertion);
#   accounts-defects-default, accounts-defects-fifo   three defects of
#       earlier C code, fixed since, in each mode: the scenario that shows
#       each verifies as the C code is, and the old code, a known-bad
#       variant, must be refuted: -DBADD1, an account release (and the
#       account cache switch) served without the depot (-DNX=2: xw left
#       asleep); -DBADD2, an account's take that serves before it charges
#       its account (X over its cap); -DBADD3, an account's take that
#       carves with the credit it had before its steal flushed the account
#       caches (committed keeps a unit nobody holds);
#   reclaim-default, reclaim-fifo   the reclaim callbacks of #23 (-DRECLAIM,
#       the model's "Reclaim", W13), one mode each: no lost wakeup with
#       the reclaim step, no lost turn, one call at a time, DONE never
#       overwritten; -DBADTURN1 (no pass-on in dequeue) and -DBADTURN2
#       (the turn's reset unchecked) refuted by those assertions; the
#       repeat call (RECLAIM_AGAIN) that lets the turn scenarios verify
#       without timeouts, -DBADAGAIN (none: a sleep) refuted; a try waiting
#       for its call out of the queue verified, -DBADTRYQ (its node queued
#       during the call, leaving without a serve) refuted.
# The model file says why the liveness search runs without weak fairness.
#
# Recorded results.  A search's result is a function of the model as spin
# reads it (waitq.pml through the C preprocessor with the scenario's
# flags, as spin runs it: comments and layout do not count), of spin's
# version and of pan's options; nothing else, the C code included, goes
# into it.  tests/model/verified holds, for each scenario, a hash of those
# and the result the search gave (`make spin-record` searches every
# scenario and writes it anew).  A scenario whose hash is there and whose
# recorded search stored more than SPIN_LIVE_STATES states (default 1
# million) is not searched again: its line says "recorded".  Every other
# one is searched on each run: the refutations (each known-bad variant
# must still fail, which shows spin and pan at work), the smallest
# scenarios, and any scenario whose model, flags or spin changed.  So a
# change to the model is always searched in full, and an unchanged one
# still gets a real search of its refutations and its small scenarios.
# SPIN_RECORDED=0 searches all of them.
# Usage: spin.sh [workdir [suite...]]; no suite: all nineteen, one after the
# other.  Exit 0 pass, 1 fail, 77 skip (no spin or C compiler).
root=$(cd "$(dirname "$0")/../.." && pwd)
# pan.c's compiler: clang if there is one (it compiles pan.c at -O2 in
# 5 s, gcc in 7.5 s; the searches run as fast), else $CC.  PAN_CC
# overrides.
PAN_CC=${PAN_CC:-$(command -v clang 2>/dev/null || echo "${CC:-cc}")}
command -v spin >/dev/null 2>&1 || { echo "skipped: spin not installed (apt-get install spin)"; exit 77; }
command -v "${PAN_CC%% *}" >/dev/null 2>&1 || { echo "skipped: no C compiler"; exit 77; }
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/bufpool-spin.XXXXXX")}
[ $# -gt 0 ] && shift
all_suites="safety-default safety-default-large safety-fifo safety-fifo-large pipeline starve liveness-default liveness-default-large liveness-fifo liveness-resize-default liveness-resize-fifo callback-default callback-fifo accounts-default accounts-fifo accounts-defects-default accounts-defects-fifo reclaim-default reclaim-fifo"
suites=${*:-$all_suites}
mkdir -p "$work" && cd "$work" || exit 1
cp "$root/tests/model/waitq.pml" . || exit 1
failed=0
recorded=$root/tests/model/verified
[ "${SPIN_RECORDED:-1}" = 0 ] && recorded=
live_states=${SPIN_LIVE_STATES:-1000000}
: > verified.new

# The search is exhaustive in every scenario (no bitstate, no hash
# compaction): COLLAPSE stores each state compressed, exactly (about a
# third of the memory: 3.7 GB instead of 10.8 for the largest, 72 million
# states).  What makes it fast, measured on a 2-CPU VM with a 12.8 million
# state search (safety -DFIFO=0 -DTIMEOUT -DSHUTDOWN), CPU seconds:
#   pan at -O0, pan's defaults                        compile 1.1  search 18.4
#   pan at -O2, malloc's memory on transparent huge
#     pages, hash table of 2^26 slots (-w26)          compile 5.0  search 11.7
# The search is bound by memory latency (its hash table is read at random:
# over half its time is the load of a hash slot).  Huge pages
# (glibc.malloc.hugetlb=1: malloc asks for them with madvise, which the
# kernel's default THP mode "madvise" grants) take most of the TLB misses
# away, and only then does -O2 pay: with 4 KiB pages it saves about 10%.
# Each scenario below names its class, from the state counts measured:
#   S  -O0: up to about 4 million states, where -O2 does not pay for its
#      compile (0.6 s at -O0, 4.7 s at -O2)
#   L  -O2
#   X  -O2 -w26: over 25 million states.  The table is sized for up to 134
#      million, so that pan never stops to rehash (the default, -w24, is
#      grown at 33 million); below that its 512 MB cost more to clear than
#      they save.
# Each result line gives the CPU time of the compile and of the search.
export GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1
# cpu: cpu_s = the CPU seconds (user + system) of the children waited for
# so far (`times` in this shell: a $(...) child has no children of its own)
cpu() {
    times > times.out
    cpu_s=$(awk 'NR == 2 { t = 0
        for (f = 1; f <= 2; f++) { split($f, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2] }
        print t }' times.out)
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
verify() { # S|L|X safety|liveness ok|bad spin-flags...
    class=$1 kind=$2 expect=$3; shift 3
    rm -f pan pan.* waitq.pml.trail
    [ "$kind" = liveness ] && set -- -DSC=1 "$@" # the model says why
    case $kind in
    safety) cflags=-DSAFETY panflags= want="invalid end state" ;;
    liveness) cflags=-DNP panflags=-l want="non-progress cycle" ;;
    esac
    depth=-m200000
    # what the result depends on (see "Recorded results" above): the model
    # through spin's preprocessor (gcc -std=gnu99 -E -x c), its white space
    # squeezed, and spin's version
    key=$({ spin -V; gcc -std=gnu99 -E -P -x c "$@" waitq.pml | tr -s ' \t\n' '   '; } | sha256sum | cut -c1-32)
    key="$key $cflags${panflags:+ $panflags} $depth $expect"
    if [ -n "$recorded" ] && line=$(grep -F "$key: " "$recorded" 2>/dev/null | head -n 1) &&
        n=$(echo "$line" | sed -n 's/.*: verified, \([0-9]*\) states$/\1/p') && [ -n "$n" ] && [ "$n" -gt "$live_states" ]; then
        echo "ok    [$kind $*] ${line#*: } (recorded: tests/model/verified)"
        echo "# [$kind $*]" >> verified.new
        echo "$line" >> verified.new
        return
    fi
    if ! spin "$@" -a waitq.pml > spin.log 2>&1; then cat spin.log; echo "FAIL: spin -a $*"; failed=1; return; fi
    case $class in S) opt=-O0 w= ;; L) opt=-O2 w= ;; X) opt=-O2 w=-w26 ;; esac
    cpu; t0=$cpu_s
    $PAN_CC $opt $cflags -DCOLLAPSE -o pan pan.c > cc.log 2>&1 || { cat cc.log; echo "FAIL: $PAN_CC pan.c ($*)"; failed=1; return; }
    cpu; t1=$cpu_s
    ./pan $panflags $depth $w > pan.log 2>&1
    cpu; t2=$cpu_s
    took="CPU: $(basename "${PAN_CC%% *}") $opt $(secs "$t0" "$t1") s, pan${w:+ $w} $(secs "$t1" "$t2") s"
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log)
    states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' pan.log)
    if grep -q "max search depth too small" pan.log; then echo "FAIL [$kind $*]: search depth too small"; failed=1; return; fi
    [ "$expect" = bad-assert ] && want="assertion violated" && expect=bad
    case $expect in
    ok) if [ "$errors" = 0 ]; then result="verified, $states states"
        else echo "FAIL  [$kind $*]: $errors errors"; cat pan.log; spin "$@" -t -p waitq.pml | tail -40; failed=1; return; fi ;;
    bad) if [ -n "$errors" ] && [ "$errors" != 0 ] && grep -q "$want" pan.log; then
            result="refuted as expected: $(grep '^pan:1' pan.log)"
        else echo "FAIL  [$kind $*]: the known-bad variant was not refuted ($want)"; cat pan.log; failed=1; return; fi ;;
    esac
    echo "ok    [$kind $*] $result ($took)"
    echo "# [$kind $*]" >> verified.new
    echo "$key: $result" >> verified.new
}

# The scenarios, for both kinds of check; the largest (a resize to 3 units
# and a shutdown) only when the third argument is not "small".  The
# shutdown scenario is L but in FIFO mode's liveness search (3.8 million
# states; 7.6 to 12.8 million in the others).
scenarios() { # safety|liveness fifo [small]
    case $1$2 in liveness1) c=S ;; *) c=L ;; esac
    verify S "$1" ok -DFIFO=$2
    verify S "$1" ok -DFIFO=$2 -DTIMEOUT
    verify $c "$1" ok -DFIFO=$2 -DTIMEOUT -DSHUTDOWN
    verify L "$1" ok -DFIFO=$2 -DRESIZE=1 -DTIMEOUT
    [ "$3" = small ] || verify X "$1" ok -DFIFO=$2 -DRESIZE=3 -DSHUTDOWN
    verify L "$1" ok -DFIFO=$2 -DNB=1 -DTIMEOUT -DSHUTDOWN
}

# The pipeline: B keeps what it got (a producer hands it on), a unit waits
# in the depot at the start, A needs 2: a refill finds more than it needs
# while A sleeps.  With -DBADREFILL (no look after the refill) A must be
# left asleep.
pipeline() { # safety|liveness fifo
    verify S "$1" ok -DFIFO=$2 -DNB=1 -DNA=2 -DHOLD -DDEPOT0=1
    [ "$1" = safety ] && verify S safety bad -DFIFO=$2 -DNB=1 -DNA=2 -DHOLD -DDEPOT0=1 -DBADREFILL
}

for s in $suites; do
    case $s in
    safety-default) scenarios safety 0 small; verify S safety bad -DFIFO=0 -DBAD
        verify S safety ok -DFIFO=0 -DTIMEOUT -DUNFENCE
        verify S safety bad -DFIFO=0 -DBADMB ;;
    safety-fifo) scenarios safety 1 small; verify S safety bad -DFIFO=1 -DBAD
        verify S safety ok -DFIFO=1 -DTIMEOUT -DUNFENCE
        verify S safety bad -DFIFO=1 -DBADMB ;;
    # the largest safety scenario (72 million states in the default mode
    # since a steal may leave the pool unfenced), a program of its own
    safety-default-large) verify X safety ok -DFIFO=0 -DRESIZE=3 -DSHUTDOWN ;;
    safety-fifo-large) verify X safety ok -DFIFO=1 -DRESIZE=3 -DSHUTDOWN ;;
    pipeline) for f in 0 1; do pipeline safety $f; pipeline liveness $f; done
        verify S safety ok -DFIFO=0 -DNB=1 -DHOLD
        verify S safety bad -DFIFO=0 -DNB=1 -DHOLD -DBADFIT ;;
    # the default mode's bound on starvation (-DSTARVE): B may turn
    # starving, and the pool then hands off to it; the hand-off order is
    # asserted, and -DBADHANDOFF (a starving B passed) must violate it
    starve) verify S safety ok -DFIFO=0 -DSTARVE
        verify L safety ok -DFIFO=0 -DSTARVE -DTIMEOUT
        verify L safety ok -DFIFO=0 -DSTARVE -DNB=1 -DTIMEOUT
        verify S safety bad-assert -DFIFO=0 -DSTARVE -DBADHANDOFF
        verify L liveness ok -DFIFO=0 -DSTARVE -DTIMEOUT ;;
    # In FIFO mode the fd turns readable only for a grant or a final result,
    # both of which end the poll loop, so -DBADPOLL changes nothing there.
    # the default mode's liveness scenarios, in two programs
    liveness-default) verify S liveness ok -DFIFO=0; verify S liveness ok -DFIFO=0 -DTIMEOUT
        verify L liveness ok -DFIFO=0 -DTIMEOUT -DSHUTDOWN
        verify S liveness bad -DFIFO=0 -DBADPOLL ;;
    liveness-default-large) verify L liveness ok -DFIFO=0 -DRESIZE=1 -DTIMEOUT
        verify L liveness ok -DFIFO=0 -DNB=1 -DTIMEOUT -DSHUTDOWN ;;
    liveness-fifo) scenarios liveness 1 small ;;
    liveness-resize-default) verify X liveness ok -DFIFO=0 -DRESIZE=3 -DSHUTDOWN ;;
    liveness-resize-fifo) verify L liveness ok -DFIFO=1 -DRESIZE=3 -DSHUTDOWN ;;
    # A as a callback waiter (-DCALLBACK): its call queued under the lock,
    # run after the unlock; safety and liveness, BADPOLL refuted, the
    # revocation of a held grant (RESIZE) in FIFO mode, where grants are held
    callback-default) verify S safety ok -DFIFO=0 -DCALLBACK -DTIMEOUT
        verify L safety ok -DFIFO=0 -DCALLBACK -DTIMEOUT -DSHUTDOWN
        verify S liveness ok -DFIFO=0 -DCALLBACK -DTIMEOUT
        verify S liveness bad -DFIFO=0 -DCALLBACK -DBADPOLL ;;
    callback-fifo) verify S safety ok -DFIFO=1 -DCALLBACK -DTIMEOUT
        verify L safety ok -DFIFO=1 -DCALLBACK -DTIMEOUT -DSHUTDOWN
        verify L safety ok -DFIFO=1 -DCALLBACK -DRESIZE=1 -DTIMEOUT
        verify S liveness ok -DFIFO=1 -DCALLBACK -DTIMEOUT ;;
    # The account queue (-DACCT): R1 and R2 release plain memory, xrel gives
    # X's unit back through the account paths, xw waits on X's cap, yw's
    # request lies within Y's reservation; -DPLAIN adds a plain blocked
    # request (with -DNOY, without yw; with -DSC=1, R1 and R2 without their
    # store buffers), -DNX=2 xw asking for 2 units, -DXAGAIN a second
    # request of xrel's through X, -DYAGAIN -DYMIN=2 -DNY=2 yw's first
    # unit given back into its account cache before it asks for 2,
    # -DTREE=1 -DNY=2 Y as X's child asking beyond its reservation (it waits
    # on X's cap too), -DXPRIO=1 X's requests ahead of plain ones, -DYPRIO=1
    # Y's ahead of X's and plain ones.  The model says what each checks.
    # No liveness search: every loop of these processes is bounded.
    # All of class S: the model's macros make pan.c slow to compile at -O2.
    accounts-default) verify S safety ok -DACCT -DFIFO=0
        verify S safety ok -DACCT -DFIFO=0 -DTIMEOUT
        verify S safety ok -DACCT -DFIFO=0 -DXAGAIN -DNR=1
        verify S safety ok -DACCT -DFIFO=0 -DXAGAIN -DSC=1
        verify S safety ok -DACCT -DFIFO=0 -DTREE=1 -DNY=2 -DTIMEOUT -DSC=1
        verify S safety ok -DACCT -DFIFO=0 -DPLAIN -DNOY -DSC=1
        verify S safety ok -DACCT -DFIFO=0 -DPLAIN -DSC=1 -DNR=1
        verify S safety bad -DACCT -DFIFO=0 -DBADACCTREL
        verify S safety bad-assert -DACCT -DFIFO=0 -DPLAIN -DNOY -DSC=1 -DBADHOL ;;
    accounts-fifo) verify S safety ok -DACCT -DFIFO=1
        verify S safety ok -DACCT -DFIFO=1 -DTIMEOUT
        verify S safety ok -DACCT -DFIFO=1 -DXAGAIN -DNR=1
        verify S safety ok -DACCT -DFIFO=1 -DXAGAIN -DSC=1
        verify S safety ok -DACCT -DFIFO=1 -DTREE=1 -DNY=2 -DTIMEOUT -DSC=1
        verify S safety ok -DACCT -DFIFO=1 -DPLAIN -DNOY -DSC=1
        verify S safety ok -DACCT -DFIFO=1 -DPLAIN -DSC=1 -DNR=1
        verify S safety ok -DACCT -DFIFO=1 -DPLAIN -DNOY -DSC=1 -DXPRIO=1 -DTIMEOUT
        verify S safety ok -DACCT -DFIFO=1 -DTREE=1 -DNY=2 -DYPRIO=1 -DSC=1
        verify S safety bad -DACCT -DFIFO=1 -DBADACCTREL
        verify S safety bad-assert -DACCT -DFIFO=1 -DPLAIN -DNOY -DSC=1 -DBADHOL
        verify S safety bad-assert -DACCT -DFIFO=1 -DPLAIN -DNOY -DSC=1 -DNX=2 -DBADORDER ;;
    # Three defects of earlier C code (fixed since), each in the scenario
    # that shows it: the scenario verifies as the C code is, and the old
    # code, a known-bad variant, must be refuted.  BADD1:
    # bufpool__acct_release and the account cache switch serve without
    # the depot, where serves stashed what came while xw waited on its
    # cap: xw (2 units) admitted by the release is left asleep beside it.
    # BADD2: bufpool__acct_take_locked serves what is left before it
    # charges what it took, so that serve grants xw on X's use without it,
    # and X ends over its cap (xw told TELLS times; in FIFO, yw of a higher
    # priority, X's child, passing xw, which waits for memory).  BADD3:
    # yw's second request, Y's reservation half in yw's account cache:
    # bufpool__acct_take_locked's steal flushes that cache (reopening the
    # reservation) and the take then carves with the credit admit gave
    # before it, so committed keeps a unit nobody holds.
    accounts-defects-default) verify S safety ok -DACCT -DFIFO=0 -DNX=2
        verify S safety bad -DACCT -DFIFO=0 -DNX=2 -DBADD1
        verify S safety ok -DACCT -DFIFO=0 -DPLAIN -DXAGAIN -DNOY -DSC=1 -DNR=1
        verify S safety bad-assert -DACCT -DFIFO=0 -DPLAIN -DXAGAIN -DNOY -DSC=1 -DNR=1 -DBADD2
        verify S safety ok -DACCT -DFIFO=0 -DYAGAIN -DYMIN=2 -DNY=2 -DSC=1
        verify S safety bad-assert -DACCT -DFIFO=0 -DYAGAIN -DYMIN=2 -DNY=2 -DSC=1 -DBADD3 ;;
    accounts-defects-fifo) verify S safety ok -DACCT -DFIFO=1 -DNX=2
        verify S safety bad -DACCT -DFIFO=1 -DNX=2 -DBADD1
        verify S safety ok -DACCT -DFIFO=1 -DTREE=1 -DNY=2 -DYPRIO=1 -DPLAIN -DSC=1 -DNR=1
        verify S safety bad-assert -DACCT -DFIFO=1 -DTREE=1 -DNY=2 -DYPRIO=1 -DPLAIN -DSC=1 -DNR=1 -DBADD2
        verify S safety ok -DACCT -DFIFO=1 -DYAGAIN -DYMIN=2 -DNY=2 -DSC=1
        verify S safety bad-assert -DACCT -DFIFO=1 -DYAGAIN -DYMIN=2 -DNY=2 -DSC=1 -DBADD3 ;;
    # Reclaim callbacks (#23, -DRECLAIM: the model's "Reclaim"), one mode
    # each.  B and A (the async waiter, one call per try) with R1 and an
    # application cache of 2 that the callback may release, returning 0
    # or not: no lost wakeup (B and A must end), with a timeout and a
    # shutdown, and A's poll loop, with its calls, free of non-progress
    # cycles.  The turns, the application cache all the memory there is
    # (-DNR=0) and the callback giving one unit a call while it has any
    # (-DCBGIVES): a try T calls while B and C find the callback busy
    # (-DTRY -DNC=1), without timeouts: a blocked request whose call's
    # unit went to others calls again (RECLAIM_AGAIN), and -DBADAGAIN
    # (no AGAIN: the code before c6e3fda, a sleep beside the application's
    # memory) must be refuted with B or C left asleep; with timeouts too.
    # No lost turn (asserted at every unlock), one call at a time and DONE
    # never overwritten by a turn (asserted); -DBADTURN2 (the owner resets
    # TURN without checking it is still TURN) refuted.  -DBADTURN1 (no
    # pass-on in dequeue) needs two requests waiting for turns when the
    # first leaves, which T's call no longer leaves (T waits out of the
    # queue, so the unit its callback frees goes to C): A calls instead
    # (-DNC=1 without -DTRY: its node stays queued, its callback's unit
    # serves it), with timeouts, and BADTURN1 refuted there.  The try out
    # of the queue during its call (2d4f5c0), its look after the call a new
    # register and look: verified (-DTRY -DNR=1, FIFO -DNA=2), and the old
    # code, its node queued during the call and leaving without a serve
    # (-DBADTRYQ), refuted (B left asleep beside memory it fits).  All
    # -DSC=1 (no store buffers: W3 is the other suites'), all of class S
    # (under 3 million states each).
    reclaim-default) verify S safety ok -DRECLAIM -DSC=1 -DFIFO=0 -DNR=1 -DNB=1 -DAPPC=2
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=0 -DNR=1 -DNB=1 -DTIMEOUT -DSHUTDOWN
        verify S liveness ok -DRECLAIM -DFIFO=0 -DNR=1 -DNB=1 -DTIMEOUT
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=0 -DTRY -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES
        verify S safety bad -DRECLAIM -DSC=1 -DFIFO=0 -DTRY -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DBADAGAIN
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=0 -DTRY -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DTIMEOUT
        verify S safety bad-assert -DRECLAIM -DSC=1 -DFIFO=0 -DTRY -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DBADTURN2
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=0 -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DTIMEOUT
        verify S safety bad-assert -DRECLAIM -DSC=1 -DFIFO=0 -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DTIMEOUT -DBADTURN1
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=0 -DTRY -DNR=1 -DNB=1
        verify S safety bad -DRECLAIM -DSC=1 -DFIFO=0 -DTRY -DNR=1 -DNB=1 -DBADTRYQ ;;
    reclaim-fifo) verify S safety ok -DRECLAIM -DSC=1 -DFIFO=1 -DNR=1 -DNB=1 -DAPPC=2
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=1 -DNR=1 -DNB=1 -DTIMEOUT -DSHUTDOWN
        verify S liveness ok -DRECLAIM -DFIFO=1 -DNR=1 -DNB=1 -DTIMEOUT
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=1 -DTRY -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES
        verify S safety bad -DRECLAIM -DSC=1 -DFIFO=1 -DTRY -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DBADAGAIN
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=1 -DTRY -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DTIMEOUT
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=1 -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DTIMEOUT
        verify S safety bad-assert -DRECLAIM -DSC=1 -DFIFO=1 -DNC=1 -DNB=2 -DNR=0 -DAPPC=2 -DCBGIVES -DTIMEOUT -DBADTURN1
        verify S safety ok -DRECLAIM -DSC=1 -DFIFO=1 -DTRY -DNA=2 -DNR=1 -DNB=1
        verify S safety bad -DRECLAIM -DSC=1 -DFIFO=1 -DTRY -DNA=2 -DNR=1 -DNB=1 -DBADTRYQ ;;
    *) echo "FAIL: unknown suite $s ($all_suites)"; failed=1 ;;
    esac
done
[ $failed -eq 0 ] && echo "spin: $suites: the wait protocol verified; the known-bad variants refuted"
exit $failed
