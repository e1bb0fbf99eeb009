//! The crate's own API, one thread: configuration, errors as values, the
//! allocation's memory, unique and shared handles, drop order, stats,
//! budget changes, shutdown, region mode.  (Threads: tests/threads.rs.)

use bufpool::{Alloc, Config, Error, Pool, SharedAlloc, Stats, Waiter};
use std::time::{Duration, Instant};

/// A part of a test that cannot run here: "SKIP: part: reason" on stderr,
/// written past the test harness's capture, for tests/run.sh to count.
fn skip(part: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP: {part}: {reason}");
}

fn pool(bs: usize, max: usize) -> Pool {
    Pool::new(Config::new(bs, max)).expect("Pool::new")
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    send_sync::<Alloc>();
    send_sync::<SharedAlloc>();
    send_sync::<Waiter>();
    send_sync::<Error>();
}

#[test]
fn version_is_the_headers() {
    assert_eq!(bufpool::version(), bufpool::ffi::BUFPOOL_VERSION);
}

#[test]
fn bad_configs_are_einval() {
    for cfg in [
        Config::new(0, 1024),
        Config::new(7, 1024),
        Config::new(12, 1024),
        Config::new(2 << 30, 4 << 30),
        Config::new(64, 32),
        Config::new(64, 0),
        Config { hugepages: true, ..Config::new(64, 4096) },
        Config { locked: true, ..Config::new(64, 4096) },
    ] {
        let e = Pool::new(cfg).unwrap_err();
        assert_eq!(e, Error::InvalidArgument, "{cfg:?}");
        assert_eq!(e.errno(), 22);
    }
    // a budget is no reservation: a huge one is fine without region
    assert!(Pool::new(Config::new(64, usize::MAX)).is_ok());
}

#[test]
fn allocation_layout() {
    let p = pool(64, 64 * 64);
    let mut a = p.allocate(16).unwrap();
    assert_eq!(a.buffer_count(), 16);
    assert!(!a.is_empty());
    assert_eq!(a.byte_len(), 16 * 64);
    assert_eq!(a.buffer_size(), 64);
    assert_eq!(a.as_slice().len(), 16 * 64);
    assert_eq!(a.as_ptr() as usize % 64, 0, "aligned to min(buffer_size, 4096)");
    for i in 0..16 {
        let b = a.buffer(i).unwrap();
        assert_eq!(b.len(), 64);
        assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + i * 64);
    }
    assert!(a.buffer(16).is_none());
    assert!(a.buffer(usize::MAX).is_none());
    assert!(a.buffer_mut(16).is_none());
    assert_eq!(a.buffers().count(), 16);

    for (i, b) in a.buffers_mut().enumerate() {
        b.fill(i as u8);
    }
    a.buffer_mut(3).unwrap()[63] = 0xee;
    for (i, b) in a.buffers().enumerate() {
        let want = if i == 3 { &[3u8; 63][..] } else { &[i as u8; 64][..] };
        assert_eq!(&b[..want.len()], want);
    }
    assert_eq!(a.as_slice()[3 * 64 + 63], 0xee);
    assert_eq!(AsRef::<[u8]>::as_ref(&a).len(), 1024);
    AsMut::<[u8]>::as_mut(&mut a)[0] = 9;
    assert_eq!(a.as_slice()[0], 9);
    // not a region pool
    assert_eq!(a.offset(), None);
    assert_eq!(a.buf_index(), Err(Error::InvalidArgument));
}

#[test]
fn page_sized_buffers_are_page_aligned() {
    let p = pool(8192, 1 << 20);
    let a = p.allocate(3).unwrap();
    assert_eq!(a.as_ptr() as usize % 4096, 0);
}

#[test]
fn request_errors_are_values() {
    let p = pool(64, 1024);
    assert_eq!(p.allocate(0).unwrap_err(), Error::InvalidArgument);
    assert_eq!(p.try_allocate(0).unwrap_err(), Error::InvalidArgument);
    assert_eq!(p.allocate_timeout(0, Duration::from_millis(1)).unwrap_err(), Error::InvalidArgument);
    // larger than the whole budget: E2BIG at once, never a wait, in every form
    let t = Instant::now();
    assert_eq!(p.allocate(17).unwrap_err(), Error::TooBig);
    assert_eq!(p.try_allocate(17).unwrap_err(), Error::TooBig);
    assert_eq!(p.allocate_timeout(17, Duration::from_secs(10)).unwrap_err(), Error::TooBig);
    assert_eq!(p.allocate(usize::MAX).unwrap_err(), Error::TooBig, "n * buffer_size overflows");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(Error::TooBig.errno(), 7);
}

#[test]
fn try_and_timeout() {
    let p = pool(64, 1024);
    let a = p.allocate(16).unwrap(); // the whole budget
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    // zero: a try that reports the timeout
    assert_eq!(p.allocate_timeout(1, Duration::ZERO).unwrap_err(), Error::TimedOut);
    let t = Instant::now();
    assert_eq!(p.allocate_timeout(1, Duration::from_millis(50)).unwrap_err(), Error::TimedOut);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(50), "waited only {waited:?}");
    drop(a);
    assert_eq!(p.try_allocate(16).unwrap().buffer_count(), 16);
    assert_eq!(p.allocate_timeout(16, Duration::MAX).unwrap().buffer_count(), 16, "an unbounded timeout");
}

#[test]
fn error_display_and_conversions() {
    assert!(Error::TooBig.to_string().starts_with("request larger than the whole budget"));
    assert!(Error::WouldBlock.to_string().contains("budget exhausted, try again later"));
    assert_eq!(Error::Canceled.to_string(), "pool is shut down");
    // every errno bufpool returns has its variant, both ways
    let all = [
        (Error::InvalidArgument, 22),
        (Error::TooBig, 7),
        (Error::WouldBlock, 11),
        (Error::TimedOut, 110),
        (Error::Canceled, 125),
        (Error::OutOfMemory, 12),
        (Error::NotSupported, 95),
        (Error::PermissionDenied, 1),
        (Error::BadFd, 9),
        (Error::OutOfRange, 34),
        (Error::NoSpace, 28),
        (Error::Deadlock, 35),
    ];
    for (e, errno) in all {
        assert_eq!(e.errno(), errno);
        assert_eq!(Error::from_code(-errno), e);
        assert_eq!(Error::from_code(errno), e);
        assert_ne!(e.to_string(), "unknown error", "{e:?}");
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::Error::from_raw_os_error(errno).kind());
    }
    // other errnos pass through with the system's message
    let e = Error::from_code(-24);
    assert_eq!(e, Error::Other(24));
    assert!(e.to_string().contains("os error 24"), "{e}");
    assert_eq!(std::io::Error::from(e).raw_os_error(), Some(24));
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::TimedOut);
    assert_eq!(boxed.to_string(), "timed out waiting for budget");
}

#[test]
fn shared_handles_count_references() {
    let p = pool(64, 1024);
    let mut a = p.allocate(4).unwrap();
    a.as_mut_slice().fill(7);
    let s1 = a.into_shared();
    let s2 = s1.clone();
    let s3 = SharedAlloc::from(p.allocate(1).unwrap());
    assert_eq!(s1.as_ptr(), s2.as_ptr());
    assert_eq!((s2.buffer_count(), s2.byte_len(), s2.buffer_size()), (4, 256, 64));
    assert!(s2.as_slice().iter().all(|&b| b == 7));
    assert_eq!(s2.buffer(3).unwrap().len(), 64);
    assert!(s2.buffer(4).is_none());
    assert_eq!(p.stats().in_use_bytes, 5 * 64);
    drop(s1);
    assert_eq!(p.stats().in_use_bytes, 5 * 64, "a clone still holds it");
    assert!(s2.as_slice().iter().all(|&b| b == 7));
    drop(s2);
    assert_eq!(p.stats().in_use_bytes, 64, "the last handle gave it back");
    drop(s3);
    let st = p.stats();
    assert_eq!((st.in_use_bytes, st.live_allocations), (0, 0));
}

#[test]
fn drop_order_pool_first() {
    // An allocation outlives its pool's handles: the pool handle may go first.
    let p = pool(64, 1024);
    let mut a = p.allocate(2).unwrap();
    let w = p.waiter().unwrap();
    drop(p);
    a.as_mut_slice().fill(1);
    // The waiter is a handle: the pool still takes requests.
    let p2 = a.pool().expect("the waiter still holds the pool");
    assert_eq!(p2.stats().live_allocations, 1);
    drop(p2);
    let s = a.into_shared();
    let s2 = s.clone();
    drop(s);
    assert_eq!(s2.as_slice()[127], 1);
    drop(w);
    // No handle is left: the pool is being destroyed, the allocation stays
    // valid, and no handle can be made from it.
    assert!(s2.pool().is_none());
    assert_eq!(s2.as_slice()[127], 1);
    drop(s2);
}

#[test]
fn drop_order_allocations_in_any_order() {
    let p = pool(64, 1024);
    let v: Vec<Alloc> = (0..8).map(|_| p.allocate(2).unwrap()).collect();
    assert_eq!(p.stats().live_allocations, 8);
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    let mut v: Vec<Option<Alloc>> = v.into_iter().map(Some).collect();
    for i in [3, 0, 7, 5, 1, 6, 2, 4] {
        v[i] = None;
    }
    assert_eq!(p.stats().live_allocations, 0);
    drop(v);
    assert_eq!(p.allocate(16).unwrap().buffer_count(), 16);
}

#[test]
fn stats() {
    let p = pool(64, 4096);
    let s0 = p.stats();
    assert_eq!(
        (s0.buffer_size, s0.max_memory, s0.in_use_bytes, s0.live_allocations, s0.waiters),
        (64, 4096, 0, 0, 0)
    );
    let a = p.allocate(10).unwrap();
    let b = p.allocate(6).unwrap();
    let s = p.stats();
    assert_eq!(s.in_use_bytes, 16 * 64);
    assert_eq!(s.live_allocations, 2);
    assert!(s.peak_in_use_bytes >= 16 * 64);
    assert_eq!(s.total_allocations, s0.total_allocations + 2);
    assert!(s.in_use_bytes + s.cached_bytes <= s.max_memory);
    let _ = p.allocate(1000).unwrap_err();
    let _ = p.try_allocate(0).unwrap_err();
    assert_eq!(p.stats().total_failures, s0.total_failures + 2);
    drop((a, b));
    let s = p.stats();
    assert_eq!((s.in_use_bytes, s.live_allocations), (0, 0));
    assert!(s.peak_in_use_bytes >= 16 * 64);
    assert_eq!(s.largest_free_run, 0, "not a region pool");
    let _: Stats = s;
}

#[test]
fn set_max_memory() {
    let p = pool(64, 1024);
    assert_eq!(p.set_max_memory(32), Err(Error::InvalidArgument));
    assert_eq!(p.set_max_memory(0), Err(Error::InvalidArgument));
    assert_eq!(p.allocate(20).unwrap_err(), Error::TooBig);
    p.set_max_memory(2048).unwrap();
    assert_eq!(p.stats().max_memory, 2048);
    let a = p.allocate(20).unwrap();
    // shrinking never revokes a live allocation
    p.set_max_memory(512).unwrap();
    assert_eq!(a.buffer_count(), 20);
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    assert_eq!(p.allocate(9).unwrap_err(), Error::TooBig);
    drop(a);
    assert_eq!(p.allocate(8).unwrap().buffer_count(), 8);
}

#[test]
fn shutdown_cancels_requests_not_allocations() {
    let p = pool(64, 1024);
    let mut a = p.allocate(4).unwrap();
    p.shutdown();
    p.shutdown(); // idempotent
    assert_eq!(p.allocate(1).unwrap_err(), Error::Canceled);
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::Canceled);
    assert_eq!(p.allocate_timeout(1, Duration::from_secs(1)).unwrap_err(), Error::Canceled);
    a.as_mut_slice().fill(3); // still valid
    assert_eq!(a.as_slice()[255], 3);
}

#[test]
fn region_mode() {
    let p = Pool::new(Config { region: true, ..Config::new(4096, 1 << 20) }).unwrap();
    let whole = p.region().unwrap();
    assert_eq!(whole.iov_len, 1 << 20);
    let iov = p.region_iovecs().unwrap();
    assert_eq!(iov.len(), 1);
    assert_eq!(iov[0], whole);
    let a = p.allocate(4).unwrap();
    let b = p.allocate(8).unwrap();
    for x in [&a, &b] {
        assert_eq!(x.buf_index(), Ok(0));
        let off = x.offset().unwrap();
        assert_eq!(off % 4096, 0);
        assert!(off + x.byte_len() <= 1 << 20);
        assert_eq!(whole.iov_base as usize + off, x.as_ptr() as usize);
    }
    assert_ne!(a.offset(), b.offset());
    assert!(p.stats().largest_free_run > 0);
    // beyond the region: EINVAL
    assert_eq!(p.set_max_memory(2 << 20), Err(Error::InvalidArgument));
}

#[test]
fn region_pieces_and_out_of_range() {
    // 3 GiB of address space, never touched: three 1 GiB pieces.  An
    // allocation larger than a piece has no buf_index.
    let p = match Pool::new(Config { region: true, ..Config::new(1 << 20, 3 << 30) }) {
        Ok(p) => p,
        Err(Error::OutOfMemory) => {
            skip("region 3 GiB", "the mapping was refused (ENOMEM)");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let iov = p.region_iovecs().unwrap();
    assert_eq!(iov.len(), 3);
    for v in &iov {
        assert_eq!(v.iov_len, 1 << 30);
    }
    let big = p.allocate(1536).unwrap(); // 1.5 GiB: straddles two pieces
    assert_eq!(big.buf_index(), Err(Error::OutOfRange));
    let small = p.allocate(1).unwrap();
    let i = small.buf_index().unwrap();
    assert!(i < 3);
    let base = iov[i].iov_base as usize;
    assert!((base..base + (1 << 30)).contains(&(small.as_ptr() as usize)));
}

#[test]
fn region_calls_without_region() {
    let p = pool(64, 1024);
    assert_eq!(p.region().unwrap_err(), Error::NotSupported);
    assert_eq!(p.region_iovecs().unwrap_err(), Error::NotSupported);
}

#[test]
fn region_flags() {
    let hp = Pool::new(Config { region: true, hugepages: true, ..Config::new(4096, 4 << 20) }).unwrap();
    assert_eq!(hp.allocate(2).unwrap().buffer_count(), 2);
    // locked: mlock may be refused (EPERM under a zero RLIMIT_MEMLOCK without
    // the capability, ENOMEM over it, EAGAIN when it cannot fault the region
    // in): those are the documented errors.
    match Pool::new(Config { region: true, locked: true, ..Config::new(4096, 64 << 10) }) {
        Ok(p) => assert_eq!(p.allocate(16).unwrap().buffer_count(), 16),
        Err(e @ (Error::PermissionDenied | Error::WouldBlock | Error::OutOfMemory)) => {
            skip("region locked", &format!("mlock refused: {e}"))
        }
        Err(e) => panic!("locked region: {e}"),
    }
}

#[test]
fn fifo_try_fails_while_anyone_waits() {
    let p = Pool::new(Config { fifo: true, ..Config::new(64, 1024) }).unwrap();
    let a = p.allocate(10).unwrap();
    let mut w = p.waiter().unwrap();
    assert_eq!(w.allocate(16).unwrap_err(), Error::WouldBlock); // queued
    assert_eq!(p.stats().waiters, 1);
    // 6 buffers are free, but a FIFO pool serves the queue first
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    w.cancel();
    assert_eq!(p.stats().waiters, 0);
    assert_eq!(p.try_allocate(1).unwrap().buffer_count(), 1);
    drop(a);
}

#[test]
fn waiter_readiness_and_errors() {
    use std::os::fd::{AsFd, AsRawFd};
    let p = pool(64, 1024);
    let mut w = p.waiter().unwrap();
    assert!(w.as_raw_fd() >= 0);
    assert_eq!(w.as_fd().as_raw_fd(), w.as_raw_fd());
    assert_eq!(w.allocate(0).unwrap_err(), Error::InvalidArgument);
    assert_eq!(w.allocate(17).unwrap_err(), Error::TooBig);
    let a = w.allocate(16).unwrap(); // fits: granted at once
    assert_eq!(w.allocate(1).unwrap_err(), Error::WouldBlock);
    assert!(!readable(w.as_raw_fd()));
    drop(a);
    assert!(readable(w.as_raw_fd()), "a release that fits makes the fd readable");
    assert_eq!(w.allocate(1).unwrap().buffer_count(), 1);
    p.shutdown();
    assert_eq!(w.allocate(1).unwrap_err(), Error::Canceled);
}

/// poll(2) with a zero timeout: is the fd readable now?
fn readable(fd: i32) -> bool {
    use std::os::raw::{c_int, c_short, c_ulong};
    #[repr(C)]
    struct PollFd {
        fd: c_int,
        events: c_short,
        revents: c_short,
    }
    unsafe extern "C" {
        fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
    }
    let mut p = PollFd { fd, events: 1, revents: 0 };
    // SAFETY: one valid pollfd.
    let rc = unsafe { poll(&mut p, 1, 0) };
    assert!(rc >= 0);
    rc == 1 && p.revents & 1 != 0
}
