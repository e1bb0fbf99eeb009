//! compat's panics point at the caller's line, not into the crate
//! (`#[track_caller]`), and so do the crate's own (`set_filled`, `slice`).
//! Alone in its process: it swaps the panic hook.

use bufpool::compat::bufpool::{BufPool, BufPoolCfg};
use bufpool::compat::utils::BufferSize;
use bufpool::{Config, Pool};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

/// The file and line `f` panics at.
fn panic_location(f: impl FnOnce()) -> (String, u32) {
    let seen = Arc::new(Mutex::new(None));
    let s = Arc::clone(&seen);
    let old = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let l = info.location().unwrap();
        *s.lock().unwrap() = Some((l.file().to_string(), l.line()));
    }));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(old);
    assert!(r.is_err(), "it did not panic");
    seen.lock().unwrap().take().unwrap()
}

/// The panic was at `line` of this file.
#[track_caller]
fn at(line: u32, (file, at): (String, u32)) {
    assert!(file.ends_with("track_caller.rs"), "a panic at {file}:{at}, not in the test (line {line})");
    assert_eq!(at, line, "a panic at {file}:{at}");
}

#[test]
fn panics_point_at_the_caller() {
    let cfg = BufPoolCfg { buffer_size: BufferSize::S64, max_memory: 64 * 4 };
    let small = BufPoolCfg { max_memory: 32, ..cfg };
    at(line!(), panic_location(|| drop(BufPool::new(small))));
    at(line!(), panic_location(|| drop(BufPool::new(cfg).allocate(0))));
    at(line!(), panic_location(|| drop(BufPool::new(cfg).allocate(5))));
    at(line!(), panic_location(|| drop(BufPool::new(cfg).allocate(usize::MAX))));

    let alloc = || Pool::new(Config::new(64, 4096)).unwrap().allocate(1).unwrap();
    at(line!(), panic_location(|| alloc().set_filled(65)));
    at(line!(), panic_location(|| drop(alloc().into_shared().slice(..65))));
}
