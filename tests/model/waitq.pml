/*
 * waitq.pml: the wait/wake protocol of src/waitq.c as a Promela model, for
 * spin (tests/model/spin.sh runs it in `make check`).
 * It checks rules W1-W9 of the wait protocol (docs/design.md, "The wait
 * protocol"); the steps that carry them are named there.
 *
 * Scale: a budget of MAXMEM units, all held at the start by two releasers
 * (R1, R2, one unit each); a blocked caller B needing NB units (it may time
 * out); an async waiter A needing 1 unit; optionally a shutdown and a
 * resize.  Every waiter that gets memory releases it again through the
 * same release protocol, so in every correct run every process ends: a
 * waiter left asleep in `state[me] == DONE` (or A in `fd == 1`) while the
 * others have finished is an invalid end state, which is what a lost
 * wakeup looks like.  At the end the monitor asserts that nothing is
 * queued, nwait is 0 and nothing is left in use.
 *
 * Correspondence with the C code (each Promela statement is one atomic
 * step, and statements are sequentially consistent, like the seq_cst
 * operations of the protocol):
 *   lock / unlock            pthread_mutex_lock/unlock(&pool->lock) (unlock
 *                            also stands for bufpool__unlock's FUTEX_WAKE)
 *   charged                  pool->charged (in use + cached + spare + grants)
 *   cache[t]                 thread t's cache (all its bins together)
 *   depot                    pool->depot (depot.c): lock-free; a release
 *                            whose bin is full puts the bin there with a
 *                            seq_cst CAS (R2's third give), serving puts
 *                            its leftovers there under the lock, and B's
 *                            fast path takes a chain with one exchange,
 *                            keeps NB and puts the rest into its bin or
 *                            back, then looks at nwait like a release
 *                            (r_x: the rest, in flight)
 *   inline steal()           bufpool__steal(pool, NULL): every thread's
 *                            cache and the depot, when a waiter registers
 *   inline steal_own(t)      bufpool__steal(pool, tc): thread t's own cache
 *                            and the depot, in a slow release
 *   inline take()            take() in waitq.c: a spare first, else give up
 *                            spares and charge (bufpool__budget_try_charge)
 *   inline serve()           bufpool__serve, with would_fit/promised for
 *                            async waiters in default mode and the FIFO stop
 *                            at the first head that does not fit; the stash
 *                            at its end is spare_stash
 *   inline finish()          finish(): dequeue, result, grant, state = DONE
 *                            (futex word), signal_fd for async waiters
 *   inline enqueue()         enqueue(): link + fetch_add_seqcst(&nwait, 1)
 *   inline release()         bufpool_alloc_release: the give (the push into
 *                            the own cache, a plain store in the owner's
 *                            busy window, or a free into the arena for a
 *                            bin of another length), then the load of
 *                            nwait, then bufpool__release_slow (lock,
 *                            steal_own, serve).  With -DBAD the load comes
 *                            before the push: the known-bad order, which
 *                            spin must refute.
 *   pend[t], flush(t)        the push is a plain store, so the CPU may make
 *                            it visible after the nwait load that follows
 *                            it (x86-TSO: a store waits in the store
 *                            buffer, a later load does not).  A push goes
 *                            to pend[t] first and reaches cache[t] at
 *                            flush(t): after the load when unfenced, at
 *                            once in fenced mode (the fence after the
 *                            push).  This is the only
 *                            reordering the C code exposes: the other gives
 *                            happen under a lock, or are seq_cst RMWs.
 *   fenced, steal()          bufpool__steal(pool, NULL) first runs the
 *                            stealer's barrier (steal_begin in cache.c):
 *                            if the pool is not fenced, it sets fenced (or
 *                            not: the C code does when steals come close
 *                            together) and
 *                            runs membarrier(), which makes every pending
 *                            push visible (flush of every pend[]); if it is
 *                            fenced, only its own fence, and the owners'
 *                            fences order their pushes.  A releaser reads
 *                            fenced inside its busy window (STOP_FENCED),
 *                            and a steal waits for every window to close;
 *                            the close, a release store, makes the push
 *                            visible (busy[], the exit).  With -DUNFENCE
 *                            R2 may leave fenced mode first, under the
 *                            lock, when nobody waits (try_unfence).  Only
 *                            R1 and R2 buffer their push (B and A give
 *                            back what they were served, in fenced order),
 *                            which keeps the search within its time.  The
 *                            liveness suites run with -DSC (no buffer):
 *                            a pending push can delay what a waiter sees,
 *                            which is the safety suites' business, but it
 *                            adds no loop, and the buffer multiplies the
 *                            liveness search's states tenfold.
 *                            With -DBADMB the
 *                            membarrier() is left out, and spin must find
 *                            the lost wakeup.
 *   proctype blocked         bufpool_allocate / _timeout: fast path (cache
 *                            pop, depot refill or charge; the spin before
 *                            queueing only repeats it, and FIFO's
 *                            `arriving` only sends more calls to the slow
 *                            path, so neither is modeled), else
 *                            bufpool__acquire_slow:
 *                            lock, shut check, enqueue, steal+serve, unlock,
 *                            wait_node (the guard state[me] == DONE is the
 *                            futex wait: the kernel rechecks the word), or a
 *                            timeout: lock, dequeue if still queued, serve.
 *                            In the default mode B is told, not given,
 *                            as A is, up to TELLS times (BUFPOOL__TELLS_MAX
 *                            in the C code), and starts over each time.
 *                            With -DSTARVE (default mode) B may turn
 *                            starving at any serve while it is queued
 *                            (starving_now: its clock is kept by the
 *                            servers, under the lock; when it has run out
 *                            is time, which the model leaves open).  While B starves the pool
 *                            hands off (HANDOFF): serve grants in FIFO
 *                            order and stops at B, and A's fresh try and
 *                            B's retry queue first; HANDOFF_ORDER asserts
 *                            that nobody behind B is served before it, and
 *                            -DBADHANDOFF (serve passes a starving B that
 *                            does not fit) must be refuted by it
 *   proctype async           bufpool_waiter_allocate in a poll loop: drain
 *                            the fd, collect a grant, or a fresh try (take,
 *                            else enqueue + steal + serve); poll is the
 *                            guard fd == 1
 *   proctype shutter         bufpool_shutdown: shut = 1, bufpool__cancel_all
 *   proctype resizer         bufpool_set_max_memory: bufpool__fail_impossible
 *                            (-E2BIG for what can never fit) + serve
 * Macros: FIFO (BUFPOOL_FIFO), NB (B's need), SHUTDOWN, RESIZE (the new
 * max_memory), TIMEOUT (B may give up), BAD (the broken release order),
 * BADMB (a steal without membarrier()), BADREFILL (a refill that keeps
 * the rest of its chain without looking at nwait), BADFIT (serve's
 * would_fit taken twice, the second time after a concurrent charge: the
 * 1.0 code, refuted with HOLD), HOLD (B keeps what it
 * got, as a pipeline's producer hands its allocation to a thread that
 * holds it: without HOLD, B's own release would look at nwait for the
 * refill), BADPOLL (the broken poll loop, see below).
 *
 * Liveness.  The safety search (pan -DSAFETY) proves that no run ends with
 * a waiter asleep; it cannot see a run that never ends.  The only loop in
 * the model is A's poll loop (again -> ... -> poll -> again; every other
 * process is straight-line code and bounded loops), so a run that never
 * ends is A retrying forever: a busy event loop, which the library promises
 * not to be ("each waiter_allocate call resets readiness, so a loop never
 * spins when nothing changed").  The liveness search (pan -DNP, -l) looks
 * for such cycles.  A's progress labels mark where its request ends (memory,
 * or a final error); they lie outside every cycle, so in effect any
 * reachable cycle is an error.  Only A carries labels: a label on another
 * process would count every state of a cycle in which that process sits
 * at its label, unscheduled, as progress, and so hide a spin of A.
 *
 * The search runs without weak fairness (pan -f), on purpose.  With -f a
 * cycle is reported only if every process enabled throughout it takes a
 * step in it; a loop of A that spins until another thread (enabled all the
 * while) gets the CPU would be excused, yet it is exactly the busy loop the
 * property forbids.  Without -f every cycle counts, which is the stronger
 * check.  The known-bad variant BADPOLL (the fd is not drained at the top
 * of waiter_allocate) must be refuted with a non-progress cycle; with -f
 * it is not, because its spin lasts only until B runs.  (In FIFO mode the
 * fd turns readable only for a grant or a final result, which both end the
 * loop, so BADPOLL is refuted in the default mode only.)
 *
 * Starvation (a waiter overtaken forever by threads that allocate and
 * release in a loop) is outside this model: it needs processes that never
 * end, and the end-state check above relies on every process ending.  The
 * default mode allows it by design (whoever fits is served at once); FIFO
 * order is tested in tests/test_fifo.c.
 */

#ifndef NB
#define NB 2
#endif
#ifndef NA
#define NA 1 /* A's need */
#endif
#ifndef FIFO
#define FIFO 0
#endif
#ifndef SC
#define SC 0 /* 1: every push visible at once (the liveness suites) */
#endif
#ifndef DEPOT0
#define DEPOT0 0 /* units cached in the depot at the start */
#endif
#define MAXMEM (2 + DEPOT0)
#define NW 2      /* waiters: 0 = B (blocked), 1 = A (async) */
#define B 0
#define A 1

#define WAITING 0
#define DONE 1
#define OK 0
#define EAGAIN 1
#define TIMEDOUT 2
#define CANCELED 3
#define E2BIG 4

#ifndef TELLS
#define TELLS 1 /* BUFPOOL__TELLS_MAX, scaled down */
#endif
byte btells = 0;   /* times B was told instead of given (acquire_full's tells) */
byte maxmem = MAXMEM;
byte charged = MAXMEM;
byte inuse = 2;       /* ghost: units in live allocations */
byte held = 0;        /* ghost: what B keeps with -DHOLD */
byte cache[4];     /* by thread: R1 = 0, R2 = 1, B = 2, A = 3 */
byte pend[4];      /* a push not yet visible to other threads (see flush) */
bit xbusy[2];      /* R1's and R2's busy windows, as executed */
bit busy[2];       /* ... and as other threads see them */
bit fenced = 0;
byte depot = DEPOT0;
byte nwait = 0;
bit lock = 0;
bit shut = 0;
byte q[NW];
byte qn = 0;
bit queued[NW];
bit state[NW];
byte result[NW];
byte grant[NW];
byte need[NW];
bit fd = 0;
#ifndef STARVE
#define STARVE 0
#endif
/* Without STARVE none of it is compiled in: the other suites' state spaces
 * stay as they were. */
#if STARVE
bit bstarve = 0;      /* B's node is starving: the pool hands off (FIFO order) */
#define HANDOFF (FIFO || bstarve)
/* While B starves, nobody queued behind it is served before it. */
#define HANDOFF_ORDER() assert(!(s_w == A && bstarve && s_i > 0 && q[0] == B))
#else
#define HANDOFF FIFO
#define HANDOFF_ORDER() skip
#endif

/* A's readiness.  Its fd (bufpool_waiter_create): written by the
 * signaller under the lock, drained by A under the lock (W9).  With
 * -DCALLBACK (bufpool_waiter_create_callback) the signaller queues A's
 * call under the lock (cbpend: this section's list; cbq: notify_queued,
 * 1 until the runner is about to call), and whoever unlocks runs it after
 * the unlock (W5): cbq = 0, then the call, which makes A's loop retry
 * (fd = 1 stands for the task being woken).  A consumes the wake before
 * its call, outside the lock, and its drain under the lock takes back a
 * call its own section queued. */
#ifdef CALLBACK
bit cbpend = 0;
bit cbq = 0;
bit cbrun[8];      /* by _pid: a call this process runs after its unlock */
#define SIGNAL_A() if :: !cbq -> cbq = 1; cbpend = 1 :: else -> skip fi
#define DRAIN_A_LOCKED() if :: cbpend -> cbpend = 0; cbq = 0 :: else -> skip fi
inline lock_pool() { atomic { lock == 0 -> lock = 1 } }
inline unlock_pool() {
    atomic { cbrun[_pid] = cbpend; cbpend = 0; lock = 0 };
    if
    :: cbrun[_pid] -> cbq = 0; atomic { cbrun[_pid] = 0; fd = 1 }
    :: else -> skip
    fi
}
#else
#define SIGNAL_A() fd = 1
#define DRAIN_A_LOCKED() fd = 0
inline lock_pool() { atomic { lock == 0 -> lock = 1 } }
inline unlock_pool() { lock = 0 }
#endif

inline dequeue(w) {
    d_i = 0;
    do
    :: d_i < qn && q[d_i] != w -> d_i++
    :: else -> break
    od;
    assert(d_i < qn);
    do
    :: d_i + 1 < qn -> q[d_i] = q[d_i + 1]; d_i++
    :: else -> break
    od;
    qn--;
    queued[w] = 0;
#if STARVE
    if
    :: w == B -> bstarve = 0                     /* the hand-off ends with it */
    :: else -> skip
    fi;
#endif
    nwait--
}

inline enqueue(w) {
    q[qn] = w; qn++;
    queued[w] = 1;
    state[w] = WAITING;
    result[w] = OK;
    nwait++
}

/* w must be a plain variable: inline arguments are substituted as text,
 * and dequeue() moves q[]. */
inline finish(w, r, g) {
    dequeue(w);
    result[w] = r;
    grant[w] = g;
    state[w] = DONE;
    if
    :: w == A -> SIGNAL_A()
    :: else -> skip
    fi
}

/* A thread's pending push becomes visible. */
inline flush(t) { atomic { cache[t] = cache[t] + pend[t]; pend[t] = 0 } }

inline steal() {
    atomic {
#if !defined(BADMB) && !SC
        if
        :: !fenced ->                            /* [fenced = 1;] membarrier() */
            if                                   /* steals close together, or not */
            :: fenced = 1
            :: skip
            fi;
            busy[0] = xbusy[0]; busy[1] = xbusy[1];
            cache[0] = cache[0] + pend[0]; pend[0] = 0;
            cache[1] = cache[1] + pend[1]; pend[1] = 0;
            cache[2] = cache[2] + pend[2]; pend[2] = 0;
            cache[3] = cache[3] + pend[3]; pend[3] = 0
        :: else -> skip                          /* fenced: its own fence */
        fi;
#endif
        busy[0] == 0 && busy[1] == 0;            /* steal_one: wait for the windows */
        spare = spare + cache[0] + cache[1] + cache[2] + cache[3] + depot;
        cache[0] = 0; cache[1] = 0; cache[2] = 0; cache[3] = 0; depot = 0
    }
}

inline steal_own(t) { atomic { spare = spare + cache[t] + depot; cache[t] = 0; depot = 0 } }

/* take(n): a spare first, else give up spares and charge; sets t_ok */
inline take(n) {
    if
    :: spare >= n -> spare = spare - n; t_ok = 1
    :: else ->
        charged = charged - spare; spare = 0;
        if
        :: charged + n <= maxmem -> charged = charged + n; t_ok = 1
        :: else -> t_ok = 0
        fi
    fi
}

inline serve() {
#if STARVE
    if                                           /* starving_now: B's window passed */
    :: queued[B] && !bstarve && !FIFO -> bstarve = 1
    :: true -> skip
    fi;
#endif
    promised = 0;
    s_i = 0;
    do
    :: s_i < qn ->
        s_w = q[s_i];
        if
        :: (s_w == A || s_w == B && btells < TELLS) && !HANDOFF -> /* told, not given */
            /* one verdict per look (would_fit), as in the C code: B's
             * fast path may charge between two looks */
            if
            :: charged + promised + need[s_w] <= maxmem -> t_ok = 1
            :: else -> t_ok = 0
            fi;
#ifndef BADFIT
            if
            :: !t_ok && spare > 0 ->
                charged = charged - spare; spare = 0;
                if
                :: charged + promised + need[s_w] <= maxmem -> t_ok = 1
                :: else -> skip
                fi
            :: else -> skip
            fi;
#else
            if                                   /* BADFIT: free, then look again */
            :: !t_ok && spare > 0 -> charged = charged - spare; spare = 0
            :: else -> skip
            fi;
            if
            :: charged + promised + need[s_w] <= maxmem -> t_ok = 1
            :: else -> t_ok = 0
            fi;
#endif
            if
            :: t_ok ->
                promised = promised + need[s_w];
#if STARVE
                HANDOFF_ORDER();
#endif
                finish(s_w, OK, 0)
            :: else -> s_i++
            fi
        :: else ->
            take(need[s_w]);
            if
            :: t_ok ->
#if STARVE
                HANDOFF_ORDER();
#endif
                finish(s_w, OK, need[s_w])
#ifndef BADHANDOFF
            :: !t_ok && HANDOFF -> break
            :: !t_ok && !HANDOFF -> s_i++
#else
            :: !t_ok && FIFO -> break                /* BADHANDOFF: a starving B is passed */
            :: !t_ok && !FIFO -> s_i++
#endif
            fi
        fi
    :: else -> break
    od;
    /* spare_stash: back to the depot, or freed when over the budget */
    if
    :: charged <= maxmem -> depot = depot + spare
    :: else -> charged = charged - spare
    fi;
    spare = 0
}

/* The give of a release: the push into the own cache (a plain store in
 * the busy window, buffered for R1 and R2, see pend[]); or, for R1 (one
 * releaser is enough to cover each path, and keeps the search small), when
 * its bin holds another length, the free into the arena, where any request
 * may take it (under the arena's lock, which a waiter's take() acquires
 * after its nwait increment; an atomic step here); or, for R2, when its
 * bin is full, the put of the bin into the depot (a seq_cst CAS: nothing
 * buffered).  The model counts memory free in the arena as uncharged: it
 * is reused as it is, or purged to make room, by whoever takes it. */
inline give(u) {
    if
    :: tid < 2 && !SC ->                               /* R1, R2: the store buffer */
        atomic { xbusy[tid] = 1; r_f = fenced };       /* the window, STOP_FENCED */
        if
        :: r_f -> busy[tid] = 1                        /* fenced: the fence */
        :: else -> skip
        fi;
        atomic { pend[tid] = pend[tid] + u; inuse = inuse - u };
        if
        :: r_f -> flush(tid)                           /* fenced: the fence */
        :: else -> skip
        fi
    :: else -> atomic { cache[tid] = cache[tid] + u; inuse = inuse - u }
    :: tid == 0 -> atomic { charged = charged - u; inuse = inuse - u }
    :: tid == 1 -> atomic { depot = depot + u; inuse = inuse - u } /* a full bin */
    fi
}

/* The store buffer drains: the push, then the window's exit (stores
 * become visible in order), so a stealer that sees the exit sees the push.
 * For B and A, and the free into the arena, nothing is pending. */
inline drain() {
    if
    :: tid < 2 ->
        busy[tid] = xbusy[tid];
        atomic { flush(tid); busy[tid] = 0; xbusy[tid] = 0 }
    :: else -> skip
    fi
}

/* The last release of u units.  Unfenced, the pending push drains after
 * the load of nwait (the reordering; the order of the code is the fenced
 * case), and before a slow release, which takes the lock (a locked
 * instruction drains the buffer). */
inline release(u) {
#ifndef BAD
    give(u);
    r_nw = nwait;                                      /* the look */
    drain();
    if
    :: r_nw > 0 ->
        lock_pool(); steal_own(tid); serve(); unlock_pool() /* release_slow */
    :: else -> skip
    fi
#else
    r_nw = nwait;                                      /* BAD: look first */
    give(u);                                           /* then give */
    drain();
    if
    :: r_nw > 0 ->
        lock_pool(); steal_own(tid); serve(); unlock_pool()
    :: else -> skip
    fi
#endif
}

/* try_unfence: under the lock, with nobody waiting. */
inline unfence() {
    lock_pool();
    if
    :: nwait == 0 -> fenced = 0
    :: else -> skip
    fi;
    unlock_pool()
}

proctype releaser(byte tid) {
    byte spare, promised, s_i, s_w, d_i, r_nw;
    bit t_ok, r_f;
#ifdef UNFENCE
    if
    :: tid == 1 -> unfence()
    :: skip
    fi;
#endif
    release(1)
}

proctype blocked() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got, r_x;
    bit t_ok, r_f;
    byte me = B, tid = 2;
    need[me] = NB;
retry:
    /* the fast path: pop a cached allocation or charge, lock-free */
    if
    :: HANDOFF && nwait > 0 -> goto slow
    :: else -> skip
    fi;
    atomic {
        if
        :: cache[tid] >= NB -> cache[tid] = cache[tid] - NB; got = NB
        :: depot >= NB -> got = NB; r_x = depot - NB; depot = 0 /* refill: the exchange */
        :: charged + NB <= maxmem -> charged = charged + NB; got = NB
        :: else -> skip
        fi
    };
    if
    :: r_x > 0 ->                                /* the rest of the chain */
        if
        :: atomic { cache[tid] = cache[tid] + r_x; r_x = 0 } /* into the bin */
        :: atomic { depot = depot + r_x; r_x = 0 }           /* back: no room */
        fi;
#ifndef BADREFILL
        r_nw = nwait;                            /* the look */
        if
        :: r_nw > 0 -> lock_pool(); steal_own(tid); serve(); unlock_pool()
        :: else -> skip
        fi
#else
        skip                                     /* BADREFILL: no look */
#endif
    :: else -> skip
    fi;
    if
    :: got > 0 -> goto use
    :: else -> skip
    fi;
slow:
    lock_pool();
    if
    :: shut -> unlock_pool(); goto out
    :: else -> skip
    fi;
    if
    :: NB > maxmem -> unlock_pool(); goto out   /* -E2BIG (checked before the lock in C) */
    :: else -> skip
    fi;
    enqueue(me);
    steal();
    serve();
    if
    :: state[me] == WAITING ->
        unlock_pool();
        if
        :: state[me] == DONE -> skip             /* futex wait, woken */
#ifdef TIMEOUT
        :: true ->                               /* the deadline passed */
            lock_pool();
            if
            :: queued[me] -> dequeue(me); result[me] = TIMEDOUT; serve()
            :: else -> skip
            fi;
            unlock_pool()
#endif
        fi
    :: else -> unlock_pool()
    fi;
    if
    :: result[me] == OK && grant[me] == 0 ->     /* told: try again */
        btells++; goto retry
    :: result[me] == OK && grant[me] > 0 -> got = grant[me]; grant[me] = 0;
        atomic { inuse = inuse + got }
    :: else -> goto out
    fi;
    goto release_it;
use:
    atomic { inuse = inuse + got };
release_it:
#ifndef HOLD
    release(got);
#else
    held = got;                                  /* HOLD: handed on, kept */
#endif
out:
    skip
}

/* The async waiter: waiter_allocate(1) in a poll loop. */
proctype async() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got;
    bit t_ok, r_f;
    byte me = A, tid = 3;
    need[me] = NA;
again:
#if defined(CALLBACK) && !defined(BADPOLL)
    fd = 0;                                      /* the task consumes its wake */
#endif
    lock_pool();
#if !defined(CALLBACK) && !defined(BADPOLL)
    fd = 0;                                      /* drain_fd */
#endif
    if
    :: shut ->
        if
        :: queued[me] -> dequeue(me)
        :: else -> skip
        fi;
        if
        :: grant[me] > 0 -> spare = grant[me]; grant[me] = 0; serve()
        :: else -> skip
        fi;
        state[me] = WAITING;
        unlock_pool();
        goto out
    :: else -> skip
    fi;
    if
    :: state[me] == DONE && result[me] == OK && grant[me] > 0 ->
        got = grant[me]; grant[me] = 0; state[me] = WAITING;
        goto got_it
    :: state[me] == DONE && result[me] != OK ->
        state[me] = WAITING; unlock_pool(); goto out
    :: state[me] == DONE && result[me] == OK && grant[me] == 0 ->
        state[me] = WAITING                      /* told: a fresh try */
    :: state[me] == WAITING && queued[me] && FIFO ->
        unlock_pool(); goto poll                 /* still waiting its turn */
    :: state[me] == WAITING && queued[me] && !FIFO ->
        dequeue(me)                              /* node_reset, fresh try */
    :: state[me] == WAITING && !queued[me] -> skip
    fi;
    /* a fresh try */
    if
    :: !HANDOFF || qn == 0 ->
        steal();
        take(NA);
        if
        :: t_ok -> serve(); got = NA; goto got_it
        :: else -> serve()
        fi
    :: else -> skip
    fi;
    enqueue(me);
    steal();
    serve();
    if
    :: state[me] == WAITING -> unlock_pool(); goto poll   /* -EAGAIN, pending */
    :: state[me] == DONE && result[me] == OK && grant[me] > 0 ->
        got = grant[me]; grant[me] = 0; state[me] = WAITING; DRAIN_A_LOCKED();
        goto got_it
    :: state[me] == DONE && (result[me] != OK || grant[me] == 0) ->
        unlock_pool(); goto again
    fi;
poll:
    fd == 1;                                     /* poll(fd, POLLIN) */
    goto again;
got_it:
progress_got:
    atomic { inuse = inuse + got };
    unlock_pool();
    release(got);
out:
progress_out:
    skip
}

proctype shutter() {
    byte d_i, s_w;
    lock_pool();
    shut = 1;
    do                                           /* bufpool__cancel_all */
    :: qn > 0 -> s_w = q[0]; finish(s_w, CANCELED, 0)
    :: else -> break
    od;
    unlock_pool()
}

proctype resizer() {
    byte spare, promised, s_i, s_w, d_i;
    bit t_ok;
    lock_pool();
#ifdef RESIZE
    maxmem = RESIZE;
#endif
    s_i = 0;                                     /* bufpool__fail_impossible */
    do
    :: s_i < qn && need[q[s_i]] > maxmem -> s_w = q[s_i]; finish(s_w, E2BIG, 0)
    :: s_i < qn && need[q[s_i]] <= maxmem -> s_i++
    :: else -> break
    od;
    steal();
    serve();
    unlock_pool()
}

init {
    atomic {
        need[B] = NB;
        need[A] = NA;
        run releaser(0);
        run releaser(1);
        run blocked();
        run async();
#ifdef SHUTDOWN
        run shutter();
#endif
#ifdef RESIZE
        run resizer();
#endif
    }
    _nr_pr == 1;                                 /* everybody finished */
    assert(qn == 0 && nwait == 0);
    assert(inuse == held);                       /* everything released */
    assert(charged == cache[0] + cache[1] + cache[2] + cache[3] + depot + held); /* the rest is cached */
}
