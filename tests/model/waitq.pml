/*
 * waitq.pml: the wait/wake protocol of src/waitq.c as a Promela model, for
 * spin (tests/model/spin.sh runs it in `make check`).
 * It checks rules W1-W9, W12 and W13 of the wait protocol (docs/design.md,
 * "The wait protocol"); the steps that carry them are named there.
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
 * Accounts (-DACCT; the suites accounts-default, accounts-fifo,
 * accounts-defects-default and accounts-defects-fifo).  The account queue
 * of docs/accounts.md: requests through accounts wait in the pool's queue,
 * by priority, and serve skips one whose account's caps do not admit it
 * (W12).  The model follows the C code as it is (src/wait.c, account.c,
 * cache.c); the variants BADD1-BADD3 below are three defects of earlier
 * C code, which the model shows.  Two accounts: X with a cap (max XMAX),
 * Y with a reservation (min YMIN; -DTREE=1: Y is X's child, so that X's
 * cap counts Y's unused reservation).  The budget MAXMEM is full at the
 * start: R1, R2 (-DNR=1: R1 alone) and xrel hold a unit each, the rest is
 * Y's reservation (committed = MAXMEM).  The
 * processes: the plain releasers R1 and R2, as above; xrel, which holds
 * X's unit (X at its cap) and gives it back through the account paths
 * (-DXAGAIN: then allocates through X once more, a hit in its account
 * cache if it can, in either mode, else node XR, and gives that back
 * too); xw, X's request of NX units, blocked on X's cap until xrel
 * gives back (-DTIMEOUT: it may time out); yw, Y's request of NY units
 * (-DNOY: none), within Y's reservation unless NY > YMIN (-DYAGAIN: yw
 * first allocates one unit and gives it back into its account cache,
 * where Y's use still counts it, then asks for NY); with -DPLAIN a plain
 * blocked request pw of 1 unit.  -DXPRIO=1 queues X's requests ahead
 * of plain ones, -DYPRIO=1 Y's ahead of the others.  Everything the
 * waiters get goes back (xw and yw through bufpool__acct_release, pw as
 * B does), so a run that leaves one asleep is an invalid end state, as
 * above.  Checked besides: X's cap, with Y's unused reservation when Y
 * is its child, at every charge (charge()); yw's request, within Y's
 * reservation, succeeds at its first take (acct_take: k_in); acct_take's
 * steal never tightens the caps (its admit after the steal, asserted);
 * pool->committed equals what is carved plus the unused reservations
 * whenever the lock is free (unlock_pool); what serve leaves
 * (left_fitting): in FIFO the line's head, the first request its caps
 * admit, does not fit, so a request on its own cap blocks nobody, and in
 * the default mode, when nobody was told, no request its caps admit
 * fits; FIFO grants nobody while a request ahead of it in the queue is in
 * the line (passed_in_line: equal priorities in arrival order).
 * Correspondence for the accounts:
 *   ause[], EFFX, UNX, UNY,  each account's use (its subtree's), eff,
 *   RESERVE                  unused and the pool's reserve (account.h,
 *                            refresh_up), computed from ause[]
 *   committed                pool->committed: carved memory (charged
 *                            here) plus the unused reservations
 *   ADMIT_OK, ADMIT_CR       bufpool__acct_admit: the caps (a cap counts
 *                            the other descendants' unused reservations)
 *                            and the credit
 *   inline take(n, cr)       bufpool__take: a spare (only the credit comes
 *                            off committed), else a carve with the credit
 *                            (the arena, then commit_try, one step here),
 *                            else the spares to the arena and a carve
 *   inline serve()           bufpool__serve and serve_one: a request its
 *                            caps do not admit is skipped; told when it
 *                            fits (would_fit_credit, with promised and
 *                            promised_c), granted in FIFO and once told
 *                            TELLS times, charged to its account (charge:
 *                            bufpool__acct_grant); depot_stash at the end
 *   inline acct_take()       bufpool__acct_take_locked: admit (on a cap, a
 *                            steal that flushes the account caches of its
 *                            top-level account's subtree, its serve, and
 *                            admit again), line_ahead unless the request
 *                            lies within its reservation, take, else a
 *                            steal that flushes its own subtree's, admit
 *                            again (the credit as it is now) and take
 *                            again; the charge, then serve what is left
 *   inline acct_alloc()      account_allocate_full: acct_take, else
 *                            wait_for (bufpool__wait_told: enqueue, steal,
 *                            serve, sleep, or time out), the grant or told:
 *                            again; the account cache switch and its serve
 *                            with the depot (bufpool__serve_uncharged)
 *   inline acct_release()    bufpool__acct_release: under the lock,
 *                            uncharge, settle (what reopens a reservation
 *                            to the arena, else a spare), serve with the
 *                            depot (bufpool__serve_uncharged)
 *   inline release_x()       xrel's release: acct_release_fast (a push
 *   (release_y(): yw's)      into its account cache acache while its
 *                            cache serves X, tcxr; the look at nwait;
 *                            bufpool__release_pushed) or the locked path
 *   inline take_acct()       take_acct in cache.c: a steal takes xrel's
 *                            (and yw's, ycache) account cache when it
 *                            flushes a subtree on the cache's path
 *                            (bufpool__steal_under, flush_under) or the
 *                            account wants it (acct_wanted), uncharged
 *                            and settled
 *   inline line_ahead()      bufpool__line_ahead
 *   proctype pw              bufpool_allocate's fast path (a carve, or a
 *                            depot chain of one; FIFO: queue_first) and
 *                            acquire_slow
 * Not modeled: the hand-off of a starving request (STARVE is the plain
 * model's; in the C code a starving request on its own caps stops it),
 * async account waiters, set_limits, a reservation given back
 * (reserve_moved, serving with the depot as acct_release does) and an
 * account's destroy (which serves after the tree change), shutdown, the
 * account caches of other threads than xrel's and yw's (whether one
 * serves an account is left open where it matters: the steal in
 * acct_take's cap check), an account thread's own plain cache (empty
 * here), and a carve's arena charge given back after commit_try fails
 * (one step here).
 * Macros: NX, NY, YMIN, XMAX, XPRIO, YPRIO, TREE, NR, PLAIN, NOY, XAGAIN,
 * YAGAIN, TIMEOUT (xw), and the known-bad variants, which spin must
 * refute: BADACCTREL (an account release uncharges without serving: xw
 * left asleep), BADHOL (serve stops at a request on its own cap:
 * left_fitting) and BADORDER (FIFO serve passes a request in the line
 * that does not fit: passed_in_line); and three defects of earlier C
 * code, fixed since (the suites accounts-defects-*): BADD1,
 * bufpool__acct_release and the account cache switch serve with
 * what they gave but not the depot, where the serves that skipped xw on
 * its cap stashed what they had; xw of 2 units, admitted by the release,
 * is left asleep beside it (-DNX=2: an invalid end state; W12's serve
 * with the depot).  BADD2, bufpool__acct_take_locked serves what is left
 * before it charges what it took, so that serve admits and grants xw on
 * X's use without that, and X ends over its cap (-DPLAIN -DXAGAIN -DNOY
 * -DSC=1 -DNR=1, xw told TELLS times; in FIFO -DTREE=1 -DNY=2 -DYPRIO=1
 * -DPLAIN -DSC=1 -DNR=1: yw, X's child of a higher priority, passes xw
 * in the line; the cap asserted in charge(): W12's charge before
 * anything else is served).  BADD3, bufpool__acct_take_locked's second
 * take uses the credit admit gave before its steal flushed the account
 * caches; when that steal reopened the request's own reservation (yw's
 * cache) the credit is too small, and committed keeps the difference for
 * good (-DYAGAIN -DYMIN=2 -DNY=2 -DSC=1: the committed assertion in
 * unlock_pool()).  Each scenario verifies without its variant.
 *
 * Reclaim (-DRECLAIM; the suites reclaim-default and reclaim-fifo).  The
 * reclaim callbacks of issue #23 (src/reclaim.c, W13), the pool's one
 * reclaimer, as the C code is since 2d4f5c0.  A request that its look
 * (W1) left queued and short makes its reclaim call (inline reclaim():
 * reclaimed() and bufpool__reclaim) before it sleeps: busy under the
 * lock, the call with the lock dropped, then under the lock again busy
 * clear and the turn passed (pass_turn(): the first queued node with
 * turn_of gets TURN, unless it has it already).  A blocked request's and
 * the async waiter's node stay queued during the call; a try's is taken
 * out of the queue first (it waits for its call out of the queue, so
 * nobody queues behind a request that will leave without waiting), and
 * after the call the try registers and looks anew (enqueue at the tail,
 * steal, serve) and leaves the queue unless served.  A blocked request
 * whose call returned nonzero while memory came back to the pool
 * (pool->gives, counted by every give's serve, serve_after_give: with
 * one call at a time the bit rgave, set by a give's lock while a call
 * runs, cleared at the call's end) and which is still short and queued
 * calls again at once (RECLAIM_AGAIN), instead of sleeping.  A blocked
 * request that finds the callback busy sets turn_of and sleeps; woken by
 * TURN it takes the lock and, if its state is still TURN (turn_taken:
 * turn_reset()), resets it to WAITING, clears turn_of and makes its own
 * call (again while AGAIN), then, if no call runs, passes the turn on
 * (take_turn's pass, TAKE_TURN_PASS(): modelled, but with one reclaimer
 * that reclaimer_for always returns it never gives anything here: the
 * owner either called, and its call's end passed, or found r busy, and
 * that call's end will; a turn not used because the request now needs
 * another reclaimer or none, which is what the pass is for in the C
 * code, needs accounts' reclaimers or bufpool_set_reclaim, which the
 * model leaves out), and sleeps again unless served.  A node that leaves
 * the queue in TURN passes the turn on (dequeue).  The call (callback())
 * may release one of the application's allocations (appc, APPC of them
 * at the start, counted in inuse and charged) through the ordinary
 * release of the calling thread (W2: a push, the look at nwait, the slow
 * path's serve, which may serve the caller itself), and returns nonzero
 * or 0 (r_got; 0: no more calls for this request, r_done).  A try makes
 * one call and answers at once when the callback is busy; so does the
 * async waiter, once per waiter_allocate.  The processes: R1 (-DNR=1;
 * -DNR=0: none) and R2, B (blocked, NB units) and, with -DNC=n, a second
 * blocked request C (n units, thread 4: blocked(me, tid)), A, or with
 * -DTRY a try T in A's place (tryer: bufpool_try_allocate; a T that is
 * told gives up, as the C code's try does at its last look: it is at the
 * tail, so its claim holds nobody back), the shutdown and the resize as
 * above.  The budget is MAXMEM = NR + APPC (+ DEPOT0).  -DCBGIVES: the
 * callback releases one allocation per call while the application has
 * any and returns 0 once it has none (else it may release or not and
 * return either).  Checked: no lost wakeup (the end state, as above: the
 * scenarios keep the memory outside the application cache enough for
 * everyone, or have the callback give while it has anything (CBGIVES),
 * or let the blocked requests time out, since a request asleep while the
 * application holds memory its callback, which returned nonzero with no
 * give during the call, was not asked for again is what the C code
 * means); no lost turn: at every unlock, if no call runs and a queued
 * node has turn_of, some queued node is in TURN (LOST_TURN, in
 * unlock_pool); one call at a time (ncalls, in callback()); DONE never
 * overwritten by a TURN or a turn's reset (pass_turn(), turn_reset()); at
 * the end nothing queued, no call running, and what is in use is the
 * application's (and HOLD's).  The known-bad variants: BADTURN1 (dequeue
 * does not pass an untaken turn on: the lost-turn assertion), BADTURN2
 * (the owner resets TURN without checking that it still is: DONE
 * overwritten), BADAGAIN (no RECLAIM_AGAIN, the code before c6e3fda: a
 * request whose call's unit went to others sleeps beside the
 * application's memory, left asleep), BADTRYQ (the code before 2d4f5c0:
 * the try's node stays queued during its call and leaves after it
 * without a serve, so those that queued behind it are left unserved).
 * Not modeled: accounts' reclaimers (reclaimer_for choosing one), the
 * callback's bytes (lack), bufpool_set_reclaim during a call, fork().
 * Under RECLAIM serve and dequeue clear their dead locals, which halves
 * the states; the default build's text is unchanged (so is every
 * recorded result).
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
#ifndef ACCT
#define ACCT 0
#endif
#ifndef RECLAIM
#define RECLAIM 0
#endif
#if RECLAIM && (ACCT || STARVE || defined(CALLBACK))
#error "RECLAIM goes with the plain model's B and A only"
#endif
#if ACCT
/* The account queue (-DACCT): see "Accounts" above.  The accounts: */
#define AX 0      /* X: a cap (max XMAX), no reservation */
#define AY 1      /* Y: a reservation (min YMIN), no cap; with TREE, X's child */
#define NOACCT 2  /* a plain request */
#ifndef TREE
#define TREE 0
#endif
#ifndef NX
#define NX 1      /* xw's need */
#endif
#ifndef NY
#define NY 1      /* yw's need (within Y's reservation when NY <= YMIN) */
#endif
#ifndef YMIN
#define YMIN 1
#endif
#ifndef XMAX
#if TREE
#define XMAX (NX + YMIN) /* X's own 1 unit and Y's unused reservation fill it */
#else
#define XMAX NX   /* xrel's 1 unit fills it for xw */
#endif
#endif
#define YMAX 9    /* none */
#ifndef XPRIO
#define XPRIO 0   /* X's priority (plain calls': 0) */
#endif
#ifndef YPRIO
#define YPRIO 0   /* Y's priority */
#endif
/* The nodes: xw (X, NX units), the plain waiter pw, xrel's second request
 * (X, 1 unit; -DXAGAIN), yw (Y, NY units). */
#define XW 0
#define PW 1
#define XR 2
#define YW 3
#define NW 4
#define NACCT(w) ((w) == PW -> NOACCT : ((w) == YW -> AY : AX))
#define NEED(w) ((w) == XW -> NX : ((w) == YW -> NY : 1))
#define NPRIO(w) ((w) == XW || (w) == XR -> XPRIO : ((w) == YW -> YPRIO : 0))
/* The tree's arithmetic (account.c, account.h), from ause[] alone: eff
 * (the reservation a subtree keeps), unused = max(eff - use, the
 * children's unused), the pool's reserve (the top level's unused). */
#define POS(a, b) ((a) > (b) -> (a) - (b) : 0)
#define MAX2(a, b) ((a) > (b) -> (a) : (b))
#define UNY POS(YMIN, ause[AY])
#if TREE
#define EFFX YMIN         /* max(X's min 0, Y's eff) */
#define KUX UNY           /* X's kids_unused */
#else
#define EFFX 0
#define KUX 0
#endif
#define UNX MAX2(POS(EFFX, ause[AX]), KUX)
#if TREE
#define RESERVE UNX
#else
#define RESERVE (UNX + UNY)
#endif
/* bufpool__acct_admit(a, b): may a take b more under every max on its
 * path (a cap counts the other descendants' unused reservations)?  And
 * its credit: how much of the reservations that uses (the drop of the
 * top level's unused). */
#define ADMIT_OK(a, b) ((a) == AX -> (ause[AX] + (b) + KUX <= XMAX) : \
    ((a) == AY -> (ause[AY] + (b) <= YMAX && (!TREE || ause[AX] + (b) <= XMAX)) : 1))
#define CR_X(b) (UNX - MAX2(POS(EFFX, ause[AX] + (b)), KUX))
#if TREE
#define CR_Y(b) (UNX - MAX2(POS(EFFX, ause[AX] + (b)), POS(YMIN, ause[AY] + (b))))
#else
#define CR_Y(b) (UNY - POS(YMIN, ause[AY] + (b)))
#endif
#define ADMIT_CR(a, b) ((a) == AX -> CR_X(b) : ((a) == AY -> CR_Y(b) : 0))
#define NODE_OK(w) ADMIT_OK(NACCT(w), NEED(w))
#define NODE_CR(w) ADMIT_CR(NACCT(w), NEED(w))
/* Over the budget (bufpool__over_budget): spares are not reused. */
#define OVER (charged > maxmem || committed > maxmem)
/* A carve (bufpool__block_new_locked): the arena, then commit_try with
 * the credit. */
#define CARVE_OK(n, cr) (charged + (n) <= maxmem && committed + (n) - (cr) <= maxmem)
#ifndef NR
#define NR 2      /* plain releasers: R1 (and R2) */
#endif
#define CHARGED0 (NR + 1)  /* the releasers and xrel hold one unit each */
#define INUSE0 CHARGED0
#define MAXMEM (CHARGED0 + YMIN) /* and Y's reservation: committed is full */
#elif RECLAIM
/* Reclaim callbacks (-DRECLAIM): see "Reclaim" above. */
#ifndef NR
#define NR 2      /* plain releasers: R1 (and R2) */
#endif
#ifndef APPC
#define APPC 1    /* the application's cache: allocations of 1 unit it holds */
#endif
#ifndef NC
#define NC 0      /* C's need: a second blocked request (0: none) */
#endif
#define CHARGED0 MAXMEM
#define INUSE0 (NR + APPC)
#define MAXMEM (NR + DEPOT0 + APPC)
#define NW 3      /* waiters: 0 = B (blocked), 1 = A (async), 2 = C (blocked) */
#define B 0
#define A 1
#define C 2
#else
#define CHARGED0 MAXMEM
#define INUSE0 2
#define MAXMEM (2 + DEPOT0)
#define NW 2      /* waiters: 0 = B (blocked), 1 = A (async) */
#define B 0
#define A 1
#endif

#define WAITING 0
#define DONE 1
#define TURN 2    /* WN_TURN (-DRECLAIM) */
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
byte charged = CHARGED0;
byte inuse = INUSE0;  /* ghost: units in live allocations */
byte held = 0;        /* ghost: what B keeps with -DHOLD */
#if RECLAIM
byte cache[5];     /* by thread: R1 = 0, R2 = 1, B = 2, A = 3, C = 4 */
byte pend[5];      /* a push not yet visible to other threads (see flush) */
#else
byte cache[4];     /* by thread: R1 = 0, R2 = 1, B = 2, A = 3 */
byte pend[4];      /* a push not yet visible to other threads (see flush) */
#endif
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
#if RECLAIM
byte state[NW];       /* WAITING, DONE or TURN */
#else
bit state[NW];
#endif
byte result[NW];
byte grant[NW];
#if ACCT
byte tells[NW];       /* a request's tells (node.tells, B's btells) */
byte ause[2];         /* each account's use (a child's counts in its parent's) */
byte committed = MAXMEM; /* pool->committed: carved memory + unused reservations */
byte acache = 0;      /* xrel's account cache: memory still charged to X */
bit tcxr = 1;         /* xrel's thread cache serves X (tc->acct) */
byte ycache = 0;      /* yw's account cache (-DYAGAIN): memory still charged to Y */
bit tcyw = 0;         /* yw's thread cache serves Y */
bit gfree = 0;        /* ghost: R1 freed into the arena and has not looked yet */
hidden byte h_j;      /* d_step temporaries */
hidden byte reserve;  /* RESERVE, for the assertion's text */
hidden byte x_use;    /* X's use with Y's unused reservation, the same */
hidden byte passed_in_line, left_fitting; /* the assertions of serve */
#else
byte need[NW];
#endif
#if RECLAIM
/* The pool's reclaimer (struct reclaimer; one: the plain model has no
 * accounts) and the application's cache, which only its callback
 * releases. */
byte rtells[NW];      /* each blocked request's tells (btells: B's, unused here) */
bit rbusy = 0;        /* r->busy: a call runs, outside the lock */
bit turnof[NW];       /* node.turn_of == r: found r busy, waits for its turn */
byte appc = APPC;     /* the application's allocations (in use: inuse counts them) */
byte ncalls = 0;      /* ghost: calls of the callback running */
bit rgave = 0;        /* pool->gives moved since the running call began */
hidden byte p_i;      /* pass_turn's walk (d_step) */
#endif
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
#if ACCT
/* committed counts what is carved and the unused reservations, exactly,
 * whenever the lock is free (a take with a credit and the charge that
 * uses the reservation happen under one lock) */
inline unlock_pool() { d_step { reserve = RESERVE; assert(committed == charged + reserve); reserve = 0; lock = 0 } }
#elif RECLAIM
/* No lost turn (W13): whenever the lock is free and no call runs, a
 * queued request that found the callback busy has a turn pending (its
 * own or another's: a queued node in TURN). */
#define TWAIT(w) (queued[w] && turnof[w])
#define TPEND(w) (queued[w] && state[w] == TURN)
#define LOST_TURN (!rbusy && (TWAIT(B) || TWAIT(A) || TWAIT(C)) && !(TPEND(B) || TPEND(A) || TPEND(C)))
inline unlock_pool() { d_step { assert(!LOST_TURN); lock = 0 } }
/* serve_after_give's lock: pool->gives++ (a give during a call: rgave) */
inline give_lock() { atomic { lock == 0 -> lock = 1; rgave = (rgave || rbusy) } }
#define GIVE_LOCK() give_lock()
#else
inline unlock_pool() { lock = 0 }
#endif
#endif

#ifndef GIVE_LOCK
#define GIVE_LOCK() lock_pool() /* the lock of a give's look */
#endif

#if ACCT
/* The queue under the lock, each change one step (nobody sees it but
 * through the lock, and nwait's RMW is the last of it). */
inline dequeue_body(w) {
    h_j = 0;
    do
    :: h_j < qn && q[h_j] != w -> h_j++
    :: else -> break
    od;
    assert(h_j < qn);
    do
    :: h_j + 1 < qn -> q[h_j] = q[h_j + 1]; h_j++
    :: else -> break
    od;
    qn--;
    q[qn] = 0;
    queued[w] = 0;
    nwait--;
    h_j = 0
}

inline dequeue(w) { d_step { dequeue_body(w) } }

/* bufpool__enqueue: behind every node of its priority or higher */
inline enqueue(w) {
    d_step {
        h_j = qn;
        do
        :: h_j > 0 && NPRIO(q[h_j - 1]) < NPRIO(w) -> q[h_j] = q[h_j - 1]; h_j--
        :: else -> break
        od;
        q[h_j] = w;
        qn++;
        queued[w] = 1;
        state[w] = WAITING;
        result[w] = OK;
        nwait++;
        h_j = 0
    }
}

/* result and grant, then the futex word (W5) */
inline finish(w, r, g) {
    d_step {
        dequeue_body(w);
        result[w] = r;
        grant[w] = g;
        state[w] = DONE
    }
}
#else
#if RECLAIM
/* bufpool__pass_turn (waitq.c): a call of r ended, or a node left the
 * queue with its turn untaken: the first queued node that found r busy
 * gets a turn (TURN: its wake, as finish's DONE, W5), unless it has one
 * already.  Under the lock, in a d_step.  A served node is never given
 * a turn (asserted: DONE is never overwritten). */
inline pass_turn() {
    p_i = 0;
    do
    :: p_i < qn && !turnof[q[p_i]] -> p_i++
    :: else -> break
    od;
    if
    :: p_i < qn && state[q[p_i]] != TURN -> assert(state[q[p_i]] != DONE); state[q[p_i]] = TURN
    :: else -> skip
    fi;
    p_i = 0
}
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
#if RECLAIM
    d_step {                                     /* a turn it leaves untaken */
        if
        :: turnof[w] ->
            turnof[w] = 0;
#ifndef BADTURN1
            if
            :: state[w] == TURN -> pass_turn()
            :: else -> skip
            fi
#else
            skip                                 /* BADTURN1: not passed on */
#endif
        :: else -> skip
        fi
    };
#endif
#if RECLAIM
    d_step { nwait--; d_i = 0 }
#else
    nwait--
#endif
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
#endif

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
#if RECLAIM
        spare = spare + cache[0] + cache[1] + cache[2] + cache[3] + cache[4] + depot;
        cache[0] = 0; cache[1] = 0; cache[2] = 0; cache[3] = 0; cache[4] = 0; depot = 0
#else
        spare = spare + cache[0] + cache[1] + cache[2] + cache[3] + depot;
        cache[0] = 0; cache[1] = 0; cache[2] = 0; cache[3] = 0; depot = 0
#endif
    }
}

inline steal_own(t) { atomic { spare = spare + cache[t] + depot; cache[t] = 0; depot = 0 } }

#if ACCT
/* take(n, cr), bufpool__take: a spare (committed already: only the
 * credit comes off), else a carve with the credit, else the spares given
 * back to the arena and a carve again; sets t_ok */
inline take(n, cr) {
    if
    :: spare >= n && !OVER -> spare = spare - n; committed = committed - (cr); t_ok = 1
    :: else ->
        if
        :: atomic { CARVE_OK(n, cr) -> charged = charged + n; committed = committed + n - (cr) }; t_ok = 1
        :: else ->
            if
            :: spare > 0 ->
                atomic { charged = charged - spare; committed = committed - spare; spare = 0 };
                if
                :: atomic { CARVE_OK(n, cr) -> charged = charged + n; committed = committed + n - (cr) }; t_ok = 1
                :: else -> t_ok = 0
                fi
            :: else -> t_ok = 0
            fi
        fi
    fi
}

/* bufpool__acct_charge_path: u more units in use on a's path.  The caps
 * hold: X's use and Y's unused reservation (which X's own requests may
 * not take, with TREE) within X's max. */
inline charge(a, u) {
    d_step {
        ause[a] = ause[a] + (u);
        if
        :: TREE && (a) == AY -> ause[AX] = ause[AX] + (u)
        :: else -> skip
        fi;
        x_use = ause[AX] + KUX;                  /* X's use, Y's unused reservation counted */
        assert(x_use <= XMAX);
        x_use = 0
    }
}

/* bufpool__acct_uncharge: u units less on a's path; r_re: what that
 * reopens of the reservations (the reserve's growth) */
inline uncharge(a, u) {
    d_step {
        r_re = RESERVE;
        ause[a] = ause[a] - (u);
        if
        :: TREE && (a) == AY -> ause[AX] = ause[AX] - (u)
        :: else -> skip
        fi;
        r_re = RESERVE - r_re
    }
}

/* take_acct (cache.c): a steal takes xrel's account cache when it
 * flushes the subtree of an account on the cache's path (u: flush_under,
 * bufpool__steal_under; NOACCT: none) or when X wants it (acct_wanted:
 * X's use and Y's unused reservation, when Y is its child, above its
 * eff, or a request of X's subtree queued), uncharges it and settles it
 * (bufpool__acct_settle: when that reopens a reservation the memory goes
 * to the arena and committed grows by what reopened, else it joins the
 * spares); the cache serves no account from then on.  yw's cache alike,
 * its path Y and (TREE) X. */
#define XWANTED (ause[AX] + KUX > EFFX || queued[XW] || queued[XR] || TREE && queued[YW])
#define YWANTED (ause[AY] > YMIN || queued[YW] || TREE && XWANTED)
#define UNDER_X(u) ((u) == AX)
#define UNDER_Y(u) ((u) == AY || TREE && (u) == AX)
#define TOP(a) (TREE -> AX : (a)) /* a's top-level account */
#define ALLC 0    /* every cache (a steal of them all) */
#define XC 1      /* xrel's own (bufpool__steal(pool, tc)) */
#define YC 2      /* yw's own */
inline take_acct(u, c) {
    d_step {
        if
        :: tcyw && (c) != XC && (UNDER_Y(u) || YWANTED) ->
            r_re = RESERVE;
            ause[AY] = ause[AY] - ycache;
            if
            :: TREE -> ause[AX] = ause[AX] - ycache
            :: else -> skip
            fi;
            r_re = RESERVE - r_re;
            if
            :: r_re > 0 -> charged = charged - ycache; committed = committed - ycache + r_re
            :: else -> spare = spare + ycache
            fi;
            ycache = 0;
            tcyw = 0;
            r_re = 0
        :: else -> skip
        fi;
        if
        :: tcxr && (c) != YC && (UNDER_X(u) || XWANTED) ->
            r_re = RESERVE;
            ause[AX] = ause[AX] - acache;
            r_re = RESERVE - r_re;
            if
            :: r_re > 0 -> charged = charged - acache; committed = committed - acache + r_re
            :: else -> spare = spare + acache
            fi;
            acache = 0;
            tcxr = 0;
            r_re = 0
        :: else -> skip
        fi
    }
}

/* FIFO: serve grants w only when nobody ahead of it is in the line (a
 * node its caps admit): equal priorities in arrival order. */
inline order_check() {
    d_step {
        h_j = 0;
        passed_in_line = 0;
        do
        :: FIFO && h_j < s_i -> passed_in_line = passed_in_line || NODE_OK(q[h_j]); h_j++
        :: else -> break
        od;
        assert(!passed_in_line);
        h_j = 0
    }
}

/* What serve leaves: in FIFO the line's head (the first node its caps
 * admit) does not fit, so a node waiting on its own caps blocks nobody;
 * in the default mode, when nobody was told, no node its caps admit fits.
 * A fit counts the spares and the arena (the depot, as in would_fit, not):
 * FITS.  Not while R1's free into the arena has not looked yet (gfree):
 * its own look serves. */
#define FITS(w) (charged - spare + NEED(w) <= maxmem && committed - spare + NEED(w) - NODE_CR(w) <= maxmem)
inline hol_check() {
    d_step {
        h_j = 0;
        left_fitting = 0;
        if
        :: FIFO ->
            do
            :: h_j < qn && !NODE_OK(q[h_j]) -> h_j++
            :: else -> break
            od;
            left_fitting = !gfree && h_j < qn && FITS(q[h_j])
        :: !FIFO && promised == 0 ->
            do
            :: h_j < qn -> left_fitting = left_fitting || !gfree && NODE_OK(q[h_j]) && FITS(q[h_j]); h_j++
            :: else -> break
            od
        :: else -> skip
        fi;
        assert(!left_fitting);
        h_j = 0
    }
}

/* bufpool__serve and serve_one (waitq.c), in the queue's order: a node
 * its caps do not admit is skipped (outside the line); one they admit is
 * told when it fits (the default mode: with its credit, and the claims of
 * those told before it, promised and promised_c), or granted in order in
 * FIFO and once told TELLS times, and then charged to its account. */
inline serve() {
    promised = 0;
    promised_c = 0;
    s_i = 0;
    do
    :: s_i < qn ->
        d_step { s_w = q[s_i]; a_ok = NODE_OK(s_w); a_cr = (a_ok -> NODE_CR(s_w) : 0) };
        if
        :: !a_ok ->                              /* on its own caps: outside the line */
#ifndef BADHOL
            s_i++
#else
            break                                /* BADHOL: the line stops at it */
#endif
        :: a_ok && !FIFO && tells[s_w] < TELLS -> /* told, not given */
            if                                   /* pass_fits: one verdict per look */
            :: charged + promised + NEED(s_w) <= maxmem &&
               committed + promised_c + NEED(s_w) - a_cr <= maxmem -> t_ok = 1
            :: else -> t_ok = 0
            fi;
            if
            :: !t_ok && spare > 0 ->
                atomic { charged = charged - spare; committed = committed - spare; spare = 0 };
                if
                :: charged + promised + NEED(s_w) <= maxmem &&
                   committed + promised_c + NEED(s_w) - a_cr <= maxmem -> t_ok = 1
                :: else -> skip
                fi
            :: else -> skip
            fi;
            if
            :: t_ok ->
                promised = promised + NEED(s_w);
                promised_c = promised_c + NEED(s_w) - a_cr;
                finish(s_w, OK, 0)
            :: else -> s_i++
            fi
        :: a_ok && (FIFO || tells[s_w] >= TELLS) -> /* granted */
            take(NEED(s_w), a_cr);
            if
            :: t_ok ->
                d_step {
                    order_check();
                    if
                    :: NACCT(s_w) != NOACCT -> charge(NACCT(s_w), NEED(s_w)) /* bufpool__acct_grant */
                    :: else -> skip
                    fi;
                    finish(s_w, OK, NEED(s_w))
                }
#ifndef BADORDER
            :: !t_ok && FIFO -> break            /* the line stops here */
#else
            :: !t_ok && FIFO -> s_i++            /* BADORDER: passed, as in the default mode */
#endif
            :: !t_ok && !FIFO -> s_i++
            fi
        fi
    :: else -> break
    od;
    d_step {                                     /* bufpool__depot_stash */
        hol_check();
        if
        :: !OVER -> depot = depot + spare
        :: else -> charged = charged - spare; committed = committed - spare
        fi;
        spare = 0; promised = 0; promised_c = 0; s_i = 0; s_w = 0; a_ok = 0; a_cr = 0; t_ok = 0
    }
}

/* bufpool__line_ahead: in FIFO, is a request of priority pr or higher in
 * the line (plain, or one its caps admit)?  Sets l_ah. */
inline line_ahead(pr) {
    d_step {
        l_ah = 0;
        h_j = 0;
        do
        :: FIFO && h_j < qn && NPRIO(q[h_j]) >= (pr) ->
            if
            :: NODE_OK(q[h_j]) -> l_ah = 1; break
            :: else -> h_j++
            fi
        :: else -> break
        od;
        h_j = 0
    }
}

/* bufpool__acct_take_locked: k_ok = 1 when it took n units for account a
 * and charged them to it, 0 for -EAGAIN.  Under the lock.  After the
 * flushing steal the credit is admit's again (the caps only loosen:
 * asserted); the grant is charged before what is left serves others. */
inline acct_take(w, a, n) {
    d_step {
        k_in = ((a) == AY && ause[AY] + (n) <= YMIN); /* within Y's reservation */
        a_ok = ADMIT_OK(a, n)
    };
    if
    :: !a_ok ->                                  /* its caps count the account caches */
        if                                       /* cached: a cache serves TOP(a)'s subtree */
        :: k_fl = 1                              /* (xrel's and yw's as the model keeps */
        :: !(tcxr && UNDER_X(TOP(a)) || tcyw && UNDER_Y(TOP(a))) -> /* them, others' */
            k_fl = 0                             /* left open) */
        fi;
        if
        :: k_fl -> k_fl = 0; steal(); take_acct(TOP(a), ALLC); serve(); d_step { a_ok = ADMIT_OK(a, n) }
        :: else -> skip
        fi
    :: else -> skip
    fi;
    k_ok = 0;
    if
    :: a_ok ->
        d_step { a_cr = ADMIT_CR(a, n); line_ahead(NPRIO(w)) };
        if
        :: a_cr < (n) && l_ah -> skip            /* in line: beyond its reservation */
        :: else ->
            take(n, a_cr);
            if
            :: !t_ok -> steal(); take_acct(a, ALLC); /* every cache, a's subtree's account caches too */
#ifndef BADD3
                d_step { assert(ADMIT_OK(a, n)); a_cr = ADMIT_CR(a, n) }; /* admit again: the credit now */
#endif
                take(n, a_cr)                    /* BADD3: the credit from before the steal */
            :: else -> skip
            fi;
            k_ok = t_ok;
#ifndef BADD2
            if                                   /* the charge, then what is left */
            :: k_ok -> charge(a, n)
            :: else -> skip
            fi;
            serve()
#else
            serve();                             /* BADD2: what is left first, then the charge */
            if
            :: k_ok -> charge(a, n)
            :: else -> skip
            fi
#endif
        fi
    :: else -> skip
    fi;
    assert(k_ok || !k_in);                       /* a request within its reservation: at once */
    k_in = 0; a_ok = 0; a_cr = 0; l_ah = 0
}

/* account_allocate_full: lock; bufpool__acct_take_locked; else wait_for
 * (bufpool__wait_told: register and look (W1), sleep, or time out: lock,
 * dequeue if still queued, serve), then the grant, or told: again; at
 * the end the account cache switch, and its serve with the depot
 * (bufpool__serve_uncharged).  got: what it got. */
inline acct_alloc(w, a, n) {
    lock_pool();
    do
    :: true ->
        acct_take(w, a, n);
        if
        :: k_ok -> k_ok = 0; got = n; break
        :: else -> skip
        fi;
        enqueue(w);
        steal();
        take_acct(NOACCT, ALLC);
        serve();
        if
        :: state[w] == WAITING ->
            unlock_pool();
            if
            :: state[w] == DONE -> lock_pool()   /* futex wait, woken */
#ifdef TIMEOUT
            :: (w) == XW ->                      /* the deadline passed */
                lock_pool();
                if
                :: queued[w] -> dequeue(w); result[w] = TIMEDOUT; serve()
                :: else -> skip
                fi
#endif
            fi
        :: else -> skip
        fi;
        if
        :: result[w] != OK -> break
        :: result[w] == OK && grant[w] > 0 -> got = grant[w]; grant[w] = 0; break
        :: else -> tells[w]++                    /* told: again */
        fi
    od;
    if
    :: got > 0 ->
        atomic { inuse = inuse + got };
        if                                       /* bufpool__tcache_acct_switch */
        :: (w) == XR -> tcxr = 1
#ifdef YAGAIN
        :: (w) == YW -> tcyw = 1
#endif
        :: else -> skip
        fi;
#ifndef BADD1
        atomic { spare = spare + depot; depot = 0 }; /* bufpool__serve_uncharged: the depot too */
#endif
        serve()                                  /* BADD1: without the depot */
    :: else -> skip
    fi;
    unlock_pool()
}

/* bufpool__acct_release: the locked path of an account allocation's last
 * release: uncharge its path, settle (what that reopens of a reservation
 * goes to the arena, committed growing by it; else a spare), serve with
 * the depot (bufpool__serve_uncharged). */
inline acct_release(a, u) {
    lock_pool();
    d_step {
        inuse = inuse - (u);
        uncharge(a, u);
        if
        :: r_re > 0 -> charged = charged - (u); committed = committed - (u) + r_re
        :: else -> spare = u
        fi;
        r_re = 0
    };
#ifdef BADACCTREL
    d_step { depot = depot + spare; spare = 0 }; /* BADACCTREL: uncharged, not served */
#else
#ifndef BADD1
    atomic { spare = spare + depot; depot = 0 }; /* bufpool__serve_uncharged: the depot too */
#endif
    serve();                                     /* BADD1: without the depot */
#endif
    unlock_pool()
}

/* xrel's release of u units of X: acct_release_fast (a push into its
 * account cache, when the cache serves X, then the look of W2 and
 * bufpool__release_pushed: its own cache, the account cache if X wants
 * it, and the depot), or the locked path (when the push cannot be made:
 * a stealer in the window, a full bin, another account). */
inline release_x(u) {
    if
    :: atomic { tcxr -> acache = acache + (u); inuse = inuse - (u) };
        r_nw = nwait;
        if
        :: r_nw > 0 ->
            lock_pool();
            take_acct(NOACCT, XC);
            atomic { spare = spare + depot; depot = 0 };
            serve();
            unlock_pool()
        :: else -> skip
        fi;
        r_nw = 0
    :: acct_release(AX, u)
    fi
}
#else
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
#if RECLAIM
        :: (s_w == A || s_w != A && rtells[s_w] < TELLS) && !HANDOFF -> /* told, not given */
#else
        :: (s_w == A || s_w == B && btells < TELLS) && !HANDOFF -> /* told, not given */
#endif
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
#if RECLAIM
    d_step { spare = 0; promised = 0; s_i = 0; s_w = 0; t_ok = 0 } /* dead from here: not kept in the state */
#else
    spare = 0
#endif
}
#endif

/* The give of a release: the push into the own cache (a plain store in
 * the busy window, buffered for R1 and R2, see pend[]); or, for R1 (one
 * releaser is enough to cover each path, and keeps the search small), when
 * its bin holds another length, the free into the arena, where any request
 * may take it (under the arena's lock, which a waiter's take() acquires
 * after its nwait increment; an atomic step here); or, for R2, when its
 * bin is full, the put of the bin into the depot (a seq_cst CAS: nothing
 * buffered).  The model counts memory free in the arena as uncharged: it
 * is reused as it is, or purged to make room, by whoever takes it. */
#if ACCT
#define ACCT_FREE(u) ; committed = committed - u; gfree = 1 /* uncommit */
#define ACCT_LOOKED() ; if :: tid == 0 -> gfree = 0 :: else -> skip fi
#define ACCT_LOCALS byte promised_c, a_cr, r_re; bit a_ok, k_ok, k_fl, k_in, l_ah;
#else
#define ACCT_FREE(u)
#define ACCT_LOOKED()
#define ACCT_LOCALS
#endif

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
    :: tid == 0 -> atomic { charged = charged - u; inuse = inuse - u ACCT_FREE(u) }
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
        GIVE_LOCK(); steal_own(tid); serve(); unlock_pool() /* release_slow */
    :: else -> skip
    fi ACCT_LOOKED()
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

#if RECLAIM
/* The application's reclaim callback, run by the calling thread (tid)
 * with the lock dropped: it may release one of the application's
 * allocations, by the ordinary release (W2: its give, the look at nwait,
 * which the caller's own node keeps nonzero, and the slow path's serve,
 * which may serve the caller itself), and it returns nonzero (it freed
 * something, or says it may free more) or 0 (no more calls for this
 * request), either way.  ncalls: the calls running, at most one
 * (asserted: one call per reclaimer at a time). */
inline callback() {
    d_step { ncalls++; assert(ncalls == 1) };
#ifdef CBGIVES
    if                                           /* CBGIVES: one per call while it has any */
    :: atomic { appc > 0 -> appc-- }; release(1)
    :: else -> skip
    fi;
    d_step { ncalls--; r_got = (appc > 0) }      /* 0 once it has nothing left */
#else
    if
    :: atomic { appc > 0 -> appc-- }; release(1)
    :: skip
    fi;
    if
    :: d_step { ncalls--; r_got = 1 }
    :: d_step { ncalls--; r_got = 0 }
    fi
#endif
}

/* reclaimed() (wait.c) and bufpool__reclaim (reclaim.c) for w, under the
 * lock, w queued and short.  try: 0 a blocked request, 1 the async
 * waiter's one call (its node stays queued: it is pending), 2 a try.
 * bufpool__reclaim: nothing if this call had its last one (r_done: a
 * try's or the async waiter's one, or one that returned 0) or the pool
 * is shut; if r is busy, a blocked request sets turn_of and sleeps for
 * its turn, a try answers as it is; else busy, a try's node out of the
 * queue (it waits for its call out of the queue: nobody queues behind
 * it; -DBADTRYQ: it stays queued, the code before 2d4f5c0), the call
 * with the lock dropped (run), and under the lock again: busy clear, the
 * turn passed on (bufpool__pass_turn), and RECLAIM_AGAIN if the call
 * returned nonzero and memory came back during it (pool->gives moved:
 * rgave; r_run says AGAIN from there on).  reclaimed(): served, done; a
 * try's node out of the queue: a new register and look (enqueue, steal,
 * serve); AGAIN: at once another call. */
inline reclaim(w, try) {
    do
    :: atomic {                                  /* (a d_step cannot start a loop) */
            if
            :: r_done || shut -> r_run = 0
            :: else ->
                r_run = !rbusy;
                if
                :: rbusy && !(try) -> turnof[w] = 1
                :: else -> skip
                fi;
                if
                :: r_run -> rbusy = 1; r_done = (try > 0)
                :: else -> skip
                fi
            fi
        };
        if
        :: r_run ->
#ifndef BADTRYQ
            if
            :: try == 2 -> dequeue(w)            /* the try waits out of the queue */
            :: else -> skip
            fi;
#endif
            unlock_pool();                       /* run(): the call, the lock dropped */
            callback();
            lock_pool();
            d_step {
                if
                :: r_got == 0 -> r_done = 1
                :: else -> skip
                fi;
#ifndef BADAGAIN
                r_run = (!r_done && rgave);      /* RECLAIM_AGAIN */
#else
                r_run = 0;                       /* BADAGAIN: RAN, a sleep (before c6e3fda) */
#endif
                rgave = 0;
                rbusy = 0;
                pass_turn();
                r_got = 0
            };
            if
            :: state[w] == DONE -> r_run = 0; break /* served */
            :: state[w] != DONE && !queued[w] -> /* a try: a new register and look */
                enqueue(w); steal(); serve(); break
            :: state[w] != DONE && queued[w] && r_run -> r_run = 0 /* AGAIN */
            :: state[w] != DONE && queued[w] && !r_run -> break
            fi
        :: else -> break
        fi
    od
}

/* turn_taken (wait.c), after the check that the state is still TURN
 * (BADTURN2 leaves the check out): a DONE is never overwritten. */
inline turn_reset(w) { d_step { assert(state[w] != DONE); state[w] = WAITING; turnof[w] = 0 } }
/* take_turn (wait.c): after the turn's call, if no call runs, the turn
 * passes on (bufpool__pass_turn: nothing if the first waiter for r is in
 * TURN already).  With one reclaimer that reclaimer_for always returns,
 * a turn's owner either calls (whose end passed the turn) or finds r busy
 * (whose end will), so this pass never gives anything here. */
#define TAKE_TURN_PASS() atomic { if :: !rbusy -> pass_turn() :: else -> skip fi } /* (a break of reclaim() cannot jump into a d_step) */
#define RECLAIM_LOCALS bit r_got, r_run, r_done;
#else
#define RECLAIM_LOCALS
#endif

proctype releaser(byte tid) {
    byte spare, promised, s_i, s_w, d_i, r_nw;
    bit t_ok, r_f;
    ACCT_LOCALS
#ifdef UNFENCE
    if
    :: tid == 1 -> unfence()
    :: skip
    fi;
#endif
    release(1)
}

#if ACCT
/* xrel: holds one unit of X at the start (X at its cap for xw), and
 * releases it through the account paths; with XAGAIN it then allocates
 * through X once more (acct_hit from its account cache, in FIFO too:
 * only a shutdown closes it; else account_allocate_full as node XR) and
 * releases that too. */
proctype xrel() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got;
    bit t_ok, r_f;
    ACCT_LOCALS
    release_x(1);
#ifdef XAGAIN
    if
    :: atomic { tcxr && acache > 0 -> acache = acache - 1; inuse = inuse + 1; got = 1 }
    :: else -> acct_alloc(XR, AX, 1)
    fi;
    if
    :: got > 0 -> release_x(got)
    :: else -> skip
    fi
#endif
}

/* xw: bufpool_account_allocate(X, NX), blocked on X's cap until xrel
 * gives back (it may time out with TIMEOUT); its allocation goes back
 * through the locked path, bufpool__acct_release. */
proctype xw() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got;
    bit t_ok, r_f;
    ACCT_LOCALS
    acct_alloc(XW, AX, NX);
    if
    :: got > 0 -> acct_release(AX, got)
    :: else -> skip
    fi
}

/* yw: bufpool_account_allocate(Y, NY); within Y's reservation it must
 * succeed at once (asserted in acct_take). */
/* yw's release of u units of Y into its account cache, as release_x */
inline release_y(u) {
    if
    :: atomic { tcyw -> ycache = ycache + (u); inuse = inuse - (u) };
        r_nw = nwait;
        if
        :: r_nw > 0 ->
            lock_pool();
            take_acct(NOACCT, YC);
            atomic { spare = spare + depot; depot = 0 };
            serve();
            unlock_pool()
        :: else -> skip
        fi;
        r_nw = 0
    :: acct_release(AY, u)
    fi
}

proctype yw() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got;
    bit t_ok, r_f;
    ACCT_LOCALS
#ifdef YAGAIN
    /* first one unit, given back into its account cache (where Y's use
     * still counts it), then NY units: acct_hit misses (another length) */
    acct_alloc(YW, AY, 1);
    if
    :: got > 0 -> release_y(got); got = 0
    :: else -> skip
    fi;
    tells[YW] = 0;
#endif
    acct_alloc(YW, AY, NY);
    if
    :: got > 0 -> acct_release(AY, got)
    :: else -> skip
    fi
}

/* pw: a plain blocked bufpool_allocate(1).  Its fast path (take_now: a
 * carve, or a depot chain of one), in FIFO only when nobody waits
 * (queue_first); else acquire_slow: register and look, sleep, told: again.
 * Its release is the plain one, as B's. */
proctype pw() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got;
    bit t_ok, r_f;
    ACCT_LOCALS
    byte tid = 2;
retry:
    if
    :: FIFO && nwait > 0 -> goto slow            /* queue_first */
    :: else -> skip
    fi;
    if
    :: atomic { CARVE_OK(1, 0) -> charged = charged + 1; committed = committed + 1; got = 1 }
    :: atomic { depot > 0 -> depot = depot - 1; got = 1 }
    :: else -> skip
    fi;
    if
    :: got > 0 -> goto use
    :: else -> skip
    fi;
slow:
    lock_pool();
    enqueue(PW);
    steal();
    take_acct(NOACCT, ALLC);
    serve();
    if
    :: state[PW] == WAITING -> unlock_pool(); state[PW] == DONE
    :: else -> unlock_pool()
    fi;
    if
    :: grant[PW] == 0 -> tells[PW]++; goto retry /* told */
    :: else -> got = grant[PW]; grant[PW] = 0
    fi;
use:
    atomic { inuse = inuse + got };
    release(got)
}

init {
    atomic {
        ause[AX] = 1;
        run releaser(0);
#if NR > 1
        run releaser(1);
#endif
        run xrel();
        run xw();
#ifndef NOY
        run yw();
#endif
#ifdef PLAIN
        run pw();
#endif
    }
    _nr_pr == 1;                                 /* everybody finished */
    assert(qn == 0 && nwait == 0);
    assert(inuse == 0);                          /* everything released */
    assert(ause[AY] == ycache && ause[AX] == acache + TREE * ycache); /* only the account caches */
    assert(charged == cache[0] + cache[1] + cache[2] + cache[3] + depot + acache + ycache);
    assert(committed == charged + RESERVE)
}
#else
#if RECLAIM
#define BNEED need[me]
#define BTELLS rtells[me]
proctype blocked(byte me; byte tid) {        /* B (tid 2) and C (tid 4) */
    byte spare, promised, s_i, s_w, d_i, r_nw, got, r_x;
    bit t_ok, r_f;
    RECLAIM_LOCALS
#else
#define BNEED NB
#define BTELLS btells
proctype blocked() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got, r_x;
    bit t_ok, r_f;
    byte me = B, tid = 2;
    need[me] = NB;
#endif
retry:
    /* the fast path: pop a cached allocation or charge, lock-free */
    if
    :: HANDOFF && nwait > 0 -> goto slow
    :: else -> skip
    fi;
    atomic {
        if
        :: cache[tid] >= BNEED -> cache[tid] = cache[tid] - BNEED; got = BNEED
        :: depot >= BNEED -> got = BNEED; r_x = depot - BNEED; depot = 0 /* refill: the exchange */
        :: charged + BNEED <= maxmem -> charged = charged + BNEED; got = BNEED
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
        :: r_nw > 0 -> GIVE_LOCK(); steal_own(tid); serve(); unlock_pool()
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
    :: BNEED > maxmem -> unlock_pool(); goto out /* -E2BIG (checked before the lock in C) */
    :: else -> skip
    fi;
    enqueue(me);
    steal();
    serve();
#if RECLAIM
    if                                           /* reclaimed(): its call */
    :: state[me] == WAITING -> reclaim(me, 0)
    :: else -> skip
    fi;
    if                                           /* sleep_queued */
    :: state[me] == WAITING ->
        do
        :: unlock_pool();
            if
            :: state[me] == DONE -> break        /* futex wait, woken: served */
            :: state[me] == TURN ->              /* woken for a turn */
                lock_pool();
#ifndef BADTURN2
                if                               /* turn_taken: still TURN? */
                :: state[me] == TURN -> turn_reset(me); reclaim(me, 0); TAKE_TURN_PASS()
                :: else -> skip
                fi;
#else
                turn_reset(me); reclaim(me, 0); TAKE_TURN_PASS(); /* BADTURN2: not checked */
#endif
                if
                :: state[me] == DONE -> unlock_pool(); break /* served meanwhile */
                :: else -> skip                  /* sleeps again */
                fi
#ifdef TIMEOUT
            :: true ->                           /* the deadline passed */
                lock_pool();
                if
                :: queued[me] -> dequeue(me); result[me] = TIMEDOUT; serve()
                :: else -> skip
                fi;
                unlock_pool();
                break
#endif
            fi
        od
    :: else -> unlock_pool()
    fi;
#else
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
#endif
    if
    :: result[me] == OK && grant[me] == 0 ->     /* told: try again */
        BTELLS++; goto retry
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
#elif RECLAIM
    held = held + got;                           /* HOLD: handed on, kept */
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
    RECLAIM_LOCALS
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
#if RECLAIM
    if                                           /* reclaimed(): a try's one call */
    :: state[me] == WAITING -> reclaim(me, 1); r_done = 0
    :: else -> skip
    fi;
#endif
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

#if RECLAIM
/* T (-DTRY, in A's place: node A, thread 3): bufpool_try_allocate(NA).
 * Its fast path (a charge, or a unit from the depot), else acquire_slow
 * as ACQ_TRY: the line (in FIFO, -EAGAIN while anyone is queued:
 * bufpool__line_ahead), register and look, its one reclaim call
 * (reclaimed(); a busy callback: -EAGAIN at once), and out of the queue
 * unless served (-EAGAIN).  Told (the default mode): it gives up (the C
 * code tries twice more; the memory stays where the others find it). */
proctype tryer() {
    byte spare, promised, s_i, s_w, d_i, r_nw, got;
    bit t_ok, r_f;
    RECLAIM_LOCALS
    byte me = A, tid = 3;
    atomic {
        if
        :: depot >= NA -> depot = depot - NA; got = NA
        :: charged + NA <= maxmem -> charged = charged + NA; got = NA
        :: else -> skip
        fi
    };
    if
    :: got > 0 -> goto use
    :: else -> skip
    fi;
    lock_pool();
    if
    :: shut || FIFO && qn > 0 -> unlock_pool(); goto out /* -ECANCELED; -EAGAIN: the line */
    :: else -> skip
    fi;
    enqueue(me);
    steal();
    serve();
    if
    :: state[me] == WAITING -> reclaim(me, 2)
    :: else -> skip
    fi;
    if
    :: queued[me] -> dequeue(me)                 /* -EAGAIN */
    :: else -> skip
    fi;
    unlock_pool();
    if
    :: state[me] == DONE && result[me] == OK && grant[me] > 0 -> got = grant[me]; grant[me] = 0
    :: else -> goto out                          /* -EAGAIN, told, or a failure */
    fi;
use:
    atomic { inuse = inuse + got };
    release(got);
out:
    skip
}
#endif

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

#if RECLAIM
init {
    atomic {
        need[B] = NB;
        need[A] = NA;
        need[C] = NC;
#if NR > 0
        run releaser(0);
#endif
#if NR > 1
        run releaser(1);
#endif
        run blocked(B, 2);
#if NC > 0
        run blocked(C, 4);
#endif
#ifdef TRY
        run tryer();
#elif !defined(NOA)
        run async();
#endif
#ifdef SHUTDOWN
        run shutter();
#endif
#ifdef RESIZE
        run resizer();
#endif
    }
    _nr_pr == 1;                                 /* everybody finished */
    assert(qn == 0 && nwait == 0);
    assert(!rbusy && ncalls == 0);
    assert(inuse == held + appc);                /* everything released, but the application's */
    assert(charged == cache[0] + cache[1] + cache[2] + cache[3] + cache[4] + depot + held + appc)
}
#else
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
#endif
#endif
