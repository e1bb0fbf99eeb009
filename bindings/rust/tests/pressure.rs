//! Acting before the budget bites (issue 23): reclaim callbacks
//! (`Pool::set_reclaim`, `Account::set_reclaim`: when they are called,
//! with which bytes, `Error::Deadlock` inside, panics, the closure's life),
//! stall time (`Stats::stall_ns`), leak tracking (`Config::track`,
//! `Pool::report_live`) and watermark watches (`Watch`).  Every wait has a
//! deadline, so a lost wake-up fails a test instead of hanging it.

use bufpool::{AccountConfig, Alloc, Config, Error, Pool, Watch};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

const BUF: usize = 4096;
const DEADLINE: Duration = Duration::from_secs(60);

fn pool(buffers: usize) -> Pool {
    Pool::new(Config::new(BUF, buffers * BUF)).expect("Pool::new")
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A cache of allocations that a reclaim callback evicts from, oldest
/// first, and what the callback saw.
#[derive(Default)]
struct Cache {
    held: Mutex<Vec<Alloc>>,
    calls: AtomicUsize,
    needed: Mutex<Vec<usize>>,
    /// Evict at most this many bytes a call (0: what is asked).
    give: AtomicUsize,
    /// Return this instead of what it freed (usize::MAX: no).
    answer: AtomicUsize,
}

impl Cache {
    fn new() -> Arc<Cache> {
        let c = Cache::default();
        c.answer.store(usize::MAX, Ordering::Relaxed);
        Arc::new(c)
    }

    fn hold(&self, a: Alloc) {
        self.held.lock().unwrap().push(a);
    }

    fn len(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// The reclaim callback's work: evict until `needed` bytes are freed.
    fn evict(&self, needed: usize) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.needed.lock().unwrap().push(needed);
        let goal = match self.give.load(Ordering::Relaxed) {
            0 => needed,
            g => g,
        };
        let mut freed = 0;
        let mut held = self.held.lock().unwrap();
        while freed < goal && !held.is_empty() {
            freed += held.remove(0).byte_len(); // dropped: released
        }
        drop(held);
        match self.answer.load(Ordering::Relaxed) {
            usize::MAX => freed,
            a => a,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn needed(&self) -> Vec<usize> {
        self.needed.lock().unwrap().clone()
    }
}

fn set_cache(pool: &Pool, cache: &Arc<Cache>) {
    let c = cache.clone();
    pool.set_reclaim(move |needed| c.evict(needed));
}

// ---- reclaim: when, with which bytes ----

#[test]
fn reclaim_lets_a_short_request_through_without_waiting() {
    // budget 8, 6 held, ask 4: short by 2 buffers, in every kind of call
    for kind in 0..3 {
        let p = pool(8);
        let cache = Cache::new();
        set_cache(&p, &cache);
        for _ in 0..6 {
            cache.hold(p.try_allocate(1).unwrap());
        }
        let a = match kind {
            0 => p.allocate(4),
            1 => p.try_allocate(4),
            _ => p.allocate_timeout(4, DEADLINE),
        }
        .unwrap_or_else(|e| panic!("kind {kind}: {e}"));
        assert_eq!(a.buffer_count(), 4);
        assert_eq!(cache.calls(), 1, "kind {kind}");
        assert_eq!(cache.needed(), [2 * BUF], "kind {kind}: the lack, not the request's size");
        assert_eq!(cache.len(), 4, "kind {kind}: two evicted");
        let s = p.stats();
        assert_eq!((s.total_wait_ns, s.waiters), (0, 0), "kind {kind}: it never slept");
    }
}

#[test]
fn a_blocked_allocate_on_another_thread_evicts_from_the_owners_cache() {
    // The cache's owner holds the whole budget in a Mutex<Vec<Alloc>>; a
    // blocking request on another thread is short by 4, calls the callback
    // on its own thread, which evicts for it.
    let p = pool(8);
    let cache = Cache::new();
    for _ in 0..8 {
        cache.hold(p.allocate(1).unwrap());
    }
    let on: Arc<Mutex<Option<thread::ThreadId>>> = Arc::default();
    let (c, o) = (cache.clone(), on.clone());
    p.set_reclaim(move |n| {
        *o.lock().unwrap() = Some(thread::current().id());
        c.evict(n)
    });
    let p2 = p.clone();
    let t = thread::spawn(move || (thread::current().id(), p2.allocate(4).map(|a| a.buffer_count())));
    let (id, got) = t.join().unwrap();
    assert_eq!(got, Ok(4));
    assert_eq!(*on.lock().unwrap(), Some(id), "on the requesting thread");
    assert_eq!((cache.calls(), cache.needed()), (1, vec![4 * BUF]));
    assert_eq!(cache.len(), 4);
}

#[test]
fn a_try_calls_once() {
    let p = pool(4);
    let cache = Cache::new();
    for _ in 0..4 {
        cache.hold(p.allocate(1).unwrap());
    }
    set_cache(&p, &cache);
    cache.give.store(1, Ordering::Relaxed); // one buffer a call: not enough
    cache.answer.store(0, Ordering::Relaxed);
    assert_eq!(p.try_allocate(4).unwrap_err(), Error::WouldBlock);
    assert_eq!(cache.calls(), 1);
    cache.answer.store(BUF, Ordering::Relaxed); // "more is coming": still one call
    assert_eq!(p.try_allocate(4).unwrap_err(), Error::WouldBlock);
    assert_eq!(cache.calls(), 2);
    p.clear_reclaim();
    assert_eq!(p.try_allocate(4).unwrap_err(), Error::WouldBlock);
    assert_eq!(cache.calls(), 2, "no callback: no call");
    assert_eq!(cache.len(), 2);
}

#[test]
fn allocating_inside_the_callback_is_a_deadlock_error() {
    let p = pool(8);
    let acct = p.account(&AccountConfig::new("a")).unwrap();
    let other = pool(8);
    let seen: Arc<Mutex<Vec<Result<usize, Error>>>> = Arc::default();
    let cache = Cache::new();
    for _ in 0..8 {
        cache.hold(p.allocate(1).unwrap());
    }
    let (p2, a2, o2, s2, c2) = (p.clone(), acct.clone(), other.clone(), seen.clone(), cache.clone());
    p.set_reclaim(move |needed| {
        let mut s = s2.lock().unwrap();
        s.push(p2.allocate(1).map(|a| a.buffer_count()));
        s.push(p2.try_allocate(1).map(|a| a.buffer_count()));
        s.push(p2.allocate_timeout(1, DEADLINE).map(|a| a.buffer_count()));
        s.push(a2.try_allocate(1).map(|a| a.buffer_count()));
        s.push(o2.try_allocate(1).map(|a| a.buffer_count())); // another pool: fine
        drop(s);
        c2.evict(needed)
    });
    let a = p.allocate(2).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [Err(Error::Deadlock), Err(Error::Deadlock), Err(Error::Deadlock), Err(Error::Deadlock), Ok(1)]
    );
    assert_eq!(Error::Deadlock.errno(), 35);
    drop(a);
    // The closure holds a Pool and an Account: a cycle until cleared.
    p.clear_reclaim();
    assert_eq!(p.try_allocate(1).unwrap().buffer_count(), 1, "served again afterwards");
}

#[test]
fn account_callback_when_its_max_binds() {
    let p = pool(16);
    let top = p.account(&AccountConfig { max_bytes: 8 * BUF, ..AccountConfig::new("top") }).unwrap();
    let kid = top.child(&AccountConfig { max_bytes: 4 * BUF, ..AccountConfig::new("kid") }).unwrap();
    let (ck, ct, cp) = (Cache::new(), Cache::new(), Cache::new());
    for _ in 0..3 {
        ck.hold(kid.allocate(1).unwrap()); // kid: 3 of its 4
    }
    for _ in 0..4 {
        ct.hold(top.allocate(1).unwrap()); // top: 7 of its 8
    }
    let c = ck.clone();
    kid.set_reclaim(move |n| c.evict(n));
    let c = ct.clone();
    top.set_reclaim(move |n| c.evict(n));
    set_cache(&p, &cp);
    // kid's max binds (3 + 2 > 4), and top's (7 + 2 > 8): the nearest
    let a = kid.try_allocate(2).unwrap();
    assert_eq!((ck.calls(), ct.calls(), cp.calls()), (1, 0, 0));
    assert_eq!(ck.needed(), [BUF], "the account's lack");
    drop(a);
    // without kid's: top's, with top's lack
    kid.clear_reclaim();
    ck.hold(kid.allocate(1).unwrap()); // kid 3 again, top 7
    assert_eq!(kid.try_allocate(2).unwrap_err(), Error::WouldBlock, "kid's max still binds");
    assert_eq!((ct.calls(), ct.needed()), (1, vec![BUF]));
    assert_eq!(cp.calls(), 0);
    // the callbacks of the accounts are not the pool's: a plain request
    // short of memory calls the pool's alone
    ck.held.lock().unwrap().clear();
    ct.held.lock().unwrap().clear();
    for _ in 0..15 {
        cp.hold(p.allocate(1).unwrap());
    }
    let a = kid.allocate_timeout(2, DEADLINE).unwrap();
    assert_eq!((cp.calls(), cp.needed()), (1, vec![BUF]));
    assert_eq!(ct.calls(), 1);
    drop(a);
}

#[test]
fn a_panicking_callback_counts_as_returning_zero() {
    let p = pool(4);
    let held: Vec<Alloc> = (0..4).map(|_| p.allocate(1).unwrap()).collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    p.set_reclaim(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        panic!("a reclaim callback panics (this test expects it)");
    });
    // It does not unwind into C nor out of the try: the try answers.
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock, "it stays set");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A blocked request goes on waiting (the call gave 0: no second call)
    // and is served by a release.
    let p2 = p.clone();
    let t = thread::spawn(move || p2.allocate_timeout(1, DEADLINE).map(|a| a.buffer_count()));
    eventually("the call", || calls.load(Ordering::SeqCst) == 3);
    drop(held);
    assert_eq!(t.join().unwrap(), Ok(1));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

// ---- reclaim: the closure's life ----

/// Counts its drops.
struct Token(Arc<AtomicUsize>);
impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_replaced_or_cleared_closure_is_dropped_when_the_call_returns() {
    let p = pool(4);
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Token(drops.clone());
    p.set_reclaim(move |_| {
        let _ = &t;
        0
    });
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let t = Token(drops.clone());
    p.set_reclaim(move |_| {
        let _ = &t;
        0
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1, "replaced: dropped");
    p.clear_reclaim();
    assert_eq!(drops.load(Ordering::SeqCst), 2, "cleared: dropped");
    p.clear_reclaim(); // none: nothing happens

    // Replaced from inside its own call: the running call keeps it, and
    // drops it when it returns.
    let held: Vec<Alloc> = (0..4).map(|_| p.allocate(1).unwrap()).collect();
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let (p2, d2, ic) = (p.clone(), drops.clone(), inner_calls.clone());
    let t = Token(drops.clone());
    p.set_reclaim(move |_| {
        let _ = &t;
        let ic = ic.clone();
        p2.set_reclaim(move |_| {
            ic.fetch_add(1, Ordering::SeqCst);
            0
        });
        // replaced, and still here: its Token is alive
        assert_eq!(d2.load(Ordering::SeqCst), 2);
        0
    });
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    assert_eq!(drops.load(Ordering::SeqCst), 3, "dropped once its call returned");
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    assert_eq!(inner_calls.load(Ordering::SeqCst), 1, "the replacement runs next");
    p.clear_reclaim();
    drop(held);
}

#[test]
fn clearing_waits_for_a_call_running_on_another_thread() {
    let p = pool(4);
    let held: Vec<Alloc> = (0..4).map(|_| p.allocate(1).unwrap()).collect();
    let running = Arc::new(AtomicBool::new(false));
    let drops = Arc::new(AtomicUsize::new(0));
    let (r, t) = (running.clone(), Token(drops.clone()));
    p.set_reclaim(move |_| {
        let _ = &t;
        r.store(true, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(30));
        r.store(false, Ordering::SeqCst);
        0
    });
    let p2 = p.clone();
    let req = thread::spawn(move || p2.try_allocate(1).map(|a| a.buffer_count()));
    eventually("the call runs", || running.load(Ordering::SeqCst));
    p.clear_reclaim();
    assert!(!running.load(Ordering::SeqCst), "returned only after the call");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "and the closure is gone");
    assert_eq!(req.join().unwrap(), Err(Error::WouldBlock));
    drop(held);
}

#[test]
fn the_last_handle_drops_the_closure_and_what_it_holds() {
    // A cache holding the pool's own allocations does not keep the pool:
    // the last Pool handle drops the closure, which releases them.
    let p = pool(4);
    let cache = Cache::new();
    for _ in 0..4 {
        cache.hold(p.allocate(1).unwrap());
    }
    set_cache(&p, &cache);
    let weak: Weak<Cache> = Arc::downgrade(&cache);
    drop(cache);
    let w = p.waiter().unwrap(); // a waiter does not keep the closure
    let p2 = p.clone();
    drop(p);
    assert!(weak.upgrade().is_some(), "a Pool handle is left");
    drop(p2);
    assert!(weak.upgrade().is_none(), "the last Pool handle dropped the closure");
    let p = w.pool(); // a Pool again, from the waiter: no callback now
    assert_eq!(p.stats().live_allocations, 0, "the cache's allocations went with it");
    drop((p, w));

    // The same for an account, whose allocations hold it.
    let p = pool(8);
    let acct = p.account(&AccountConfig { max_bytes: 4 * BUF, ..AccountConfig::new("a") }).unwrap();
    let cache = Cache::new();
    for _ in 0..4 {
        cache.hold(acct.allocate(1).unwrap());
    }
    let c = cache.clone();
    acct.set_reclaim(move |n| c.evict(n));
    let weak = Arc::downgrade(&cache);
    drop(cache);
    drop(acct);
    assert!(weak.upgrade().is_none(), "the last Account handle dropped the closure");
    assert_eq!(p.stats().live_allocations, 0);
}

#[test]
fn the_last_handle_dropped_during_a_call_does_not_wait() {
    // The closure is running on another thread when the last handle goes:
    // the drop returns at once, and the running call drops the closure.
    let p = pool(4);
    let held: Vec<Alloc> = (0..4).map(|_| p.allocate(1).unwrap()).collect();
    let acct = p.account(&AccountConfig::new("a")).unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    let drops = Arc::new(AtomicUsize::new(0));
    let (g, r, t) = (go.clone(), running.clone(), Token(drops.clone()));
    p.set_reclaim(move |_| {
        let _ = &t;
        r.store(true, Ordering::SeqCst);
        let end = Instant::now() + DEADLINE;
        while !g.load(Ordering::SeqCst) && Instant::now() < end {
            thread::sleep(Duration::from_millis(1));
        }
        0
    });
    // through the account: its requests call the pool's callback
    let req = thread::spawn(move || acct.try_allocate(1).map(|a| a.buffer_count()));
    eventually("the call runs", || running.load(Ordering::SeqCst));
    let w = held[0].pool().unwrap().waiter().unwrap(); // keeps the C pool
    drop(p); // the last Pool: must not wait for the call
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the running call holds it");
    go.store(true, Ordering::SeqCst);
    assert_eq!(req.join().unwrap(), Err(Error::WouldBlock));
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped by the call that ran it");
    // The registration went with the next call, which found no closure;
    // a new handle may set another.
    let p = w.pool();
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    p.set_reclaim(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        0
    });
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    p.clear_reclaim();
    drop(held);
}

// ---- stall time ----

#[test]
fn stall_time_grows_while_a_request_waits() {
    let p = pool(4);
    assert_eq!(p.stats().stall_ns, 0);
    let held = p.allocate(4).unwrap();
    let start = Instant::now();
    let p2 = p.clone();
    let t = thread::spawn(move || p2.allocate_timeout(1, DEADLINE).map(|a| a.buffer_count()));
    eventually("the request waits", || p.stats().waiters == 1);
    thread::sleep(Duration::from_millis(20));
    let during = p.stats().stall_ns;
    assert!(during >= 20_000_000, "a request waits: {during} ns");
    drop(held);
    assert_eq!(t.join().unwrap(), Ok(1));
    let after = p.stats().stall_ns;
    let wall = start.elapsed().as_nanos() as u64;
    assert!(after >= during && after <= wall, "{during} <= {after} <= {wall}");
    thread::sleep(Duration::from_millis(5));
    assert_eq!(p.stats().stall_ns, after, "nobody waits: it stays");
}

// ---- leak tracking ----

#[test]
fn report_live_names_each_call_site_of_the_sampled_allocations() {
    // 64-byte buffers; one allocation in 113 of this thread is sampled: the
    // 113th, the 226th.  Two loops, two call sites.
    let p = Pool::new(Config { track: true, ..Config::new(64, 1024 * 64) }).unwrap();
    let mut live = Vec::new();
    for _ in 0..113 {
        live.push(p.allocate(1).unwrap());
    }
    for _ in 0..113 {
        live.push(p.try_allocate(2).unwrap());
    }
    let mut out = Vec::new();
    assert_eq!(p.report_live(Duration::ZERO, &mut out).unwrap(), 2);
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains("(1 in 113)") && lines[0].ends_with("2 sites"), "{text}");
    // the most bytes first: the 2-buffer allocation's site
    assert!(lines[1].trim_start().starts_with("1 allocation, 128 bytes, oldest "), "{text}");
    assert!(lines[2].trim_start().starts_with("1 allocation, 64 bytes, oldest "), "{text}");
    let site = |l: &str| l.split_once(" ms: ").map(|(_, s)| s.to_string()).unwrap();
    assert_ne!(site(lines[1]), site(lines[2]), "two sites: {text}");
    // nothing old enough
    let mut out = Vec::new();
    assert_eq!(p.report_live(DEADLINE, &mut out).unwrap(), 0);
    // nothing live
    drop(live);
    let mut out = Vec::new();
    assert_eq!(p.report_live(Duration::ZERO, &mut out).unwrap(), 0);
    assert!(String::from_utf8_lossy(&out).contains(": 0 sites"));

    // A pool without tracking says so.
    let mut out = Vec::new();
    assert_eq!(pool(4).report_live(Duration::ZERO, &mut out).unwrap(), 0);
    assert!(String::from_utf8_lossy(&out).contains("leak tracking is off"));
}

// ---- watermark watches ----

fn readable(w: &Watch) -> bool {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    unsafe extern "C" {
        fn poll(fds: *mut PollFd, nfds: std::os::raw::c_ulong, timeout_ms: i32) -> i32;
    }
    let mut p = PollFd { fd: w.as_raw_fd(), events: 1, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { poll(&mut p, 1, 0) == 1 }
}

#[test]
fn a_pool_watch_fires_once_per_crossing() {
    let p = pool(16);
    let mut w = p.watch(12 * BUF, 4 * BUF).unwrap();
    assert!(!readable(&w));
    assert!(!w.state().unwrap());
    let a = p.allocate(8).unwrap();
    assert!(!readable(&w), "within (low, high)");
    let b = p.allocate(4).unwrap(); // 12: high
    assert!(readable(&w), "readable by the time the crossing call returns");
    assert!(w.state().unwrap());
    assert!(!readable(&w), "state() resets it");
    drop(b); // 8: within
    assert!(!readable(&w));
    let c = p.allocate(4).unwrap(); // 12 again, never fell to low: no crossing
    assert!(!readable(&w));
    drop((a, c)); // 0: low
    assert_eq!(w.wait(Some(DEADLINE)).unwrap(), Some(false));
    assert_eq!(w.wait(Some(Duration::from_millis(1))).unwrap(), None);
    // Unread crossings coalesce: up, down, up: readable once, state now.
    let a = p.allocate(12).unwrap();
    drop(a);
    let a = p.allocate(12).unwrap();
    assert!(readable(&w));
    assert!(w.state().unwrap());
    assert!(!readable(&w));
    drop(a);

    // created above high: readable at once
    let _held = p.allocate(12).unwrap();
    let mut w2 = p.watch(8 * BUF, 2 * BUF).unwrap();
    assert!(readable(&w2));
    assert!(w2.state().unwrap());
    // errors
    assert_eq!(p.watch(4 * BUF, 4 * BUF).unwrap_err(), Error::InvalidArgument);
    assert_eq!(p.watch(0, 0).unwrap_err(), Error::InvalidArgument);
}

#[test]
fn an_account_watch_sees_its_own_level_and_keeps_it_alive() {
    let p = pool(16);
    let acct = p.account(&AccountConfig::new("a")).unwrap();
    let kid = acct.child(&AccountConfig::new("kid")).unwrap();
    let mut w = acct.watch(4 * BUF, BUF).unwrap();
    let plain = p.allocate(8).unwrap(); // not the account's
    assert!(!readable(&w));
    let a = kid.allocate(4).unwrap(); // its descendant's count
    assert!(readable(&w));
    assert!(w.state().unwrap());
    assert_eq!(w.account().unwrap().name(), "a");
    drop((acct, kid, p)); // the watch holds the account and the pool
    drop(a);
    assert_eq!(w.wait(Some(DEADLINE)).unwrap(), Some(false));
    assert_eq!(w.pool().stats().in_use_bytes, 8 * BUF);
    drop(plain);
    drop(w);
}

#[test]
fn a_watch_after_shutdown_is_canceled() {
    let p = pool(4);
    let w = p.watch(2 * BUF, BUF).unwrap();
    p.shutdown();
    assert_eq!(p.watch(2 * BUF, BUF).unwrap_err(), Error::Canceled);
    drop(w);
}

#[test]
fn watch_and_account_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Watch>();
    send_sync::<bufpool::Account>();
}
