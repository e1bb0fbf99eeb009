//! What several test programs share: a task queue run by worker threads
//! (an executor written here: the crate has no dependency), with a
//! deadline on every wait, so that a lost wake-up fails a test instead of
//! hanging it.  `mod common;` in a test program includes it.
#![allow(dead_code)] // each program uses what it needs

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// How long any wait of a test may take.
pub const DEADLINE: Duration = Duration::from_secs(60);

// ---- a task queue run by worker threads ----

pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Job {
    fut: Mutex<Option<Task>>,
    queued: AtomicBool,
    exec: Arc<Exec>,
}

struct Exec {
    queue: Mutex<VecDeque<Arc<Job>>>,
    ready: Condvar,
    live: AtomicUsize,
}

impl Wake for Job {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // Once in the queue at a time; a wake while queued changes nothing.
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.exec.queue.lock().unwrap().push_back(self.clone());
            self.exec.ready.notify_one();
        }
    }
}

impl Exec {
    fn worker(self: &Arc<Self>) {
        loop {
            let job = {
                let mut q = self.queue.lock().unwrap();
                loop {
                    if self.live.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    if let Some(j) = q.pop_front() {
                        break j;
                    }
                    q = self.ready.wait_timeout(q, Duration::from_millis(100)).unwrap().0;
                }
            };
            // Cleared before the poll: a wake during it queues the job again.
            job.queued.store(false, Ordering::Release);
            let waker = Waker::from(job.clone());
            let mut slot = job.fut.lock().unwrap();
            let ready = match slot.as_mut() {
                Some(f) => f.as_mut().poll(&mut Context::from_waker(&waker)).is_ready(),
                None => false,
            };
            if ready {
                *slot = None;
                if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.ready.notify_all();
                }
            }
        }
    }
}

/// Run `tasks` on `threads` worker threads until all complete; panics past
/// the deadline, saying how many were left.
pub fn run_tasks(threads: usize, tasks: Vec<Task>) {
    let exec = Arc::new(Exec {
        queue: Mutex::new(VecDeque::new()),
        ready: Condvar::new(),
        live: AtomicUsize::new(tasks.len()),
    });
    for t in tasks {
        let job =
            Arc::new(Job { fut: Mutex::new(Some(t)), queued: AtomicBool::new(false), exec: exec.clone() });
        Waker::from(job).wake();
    }
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let e = exec.clone();
            thread::spawn(move || e.worker())
        })
        .collect();
    let end = Instant::now() + DEADLINE;
    while exec.live.load(Ordering::Acquire) > 0 {
        // A lost wake-up leaves tasks that nothing queues again.
        assert!(Instant::now() < end, "{} tasks never completed", exec.live.load(Ordering::Acquire));
        thread::sleep(Duration::from_millis(5));
    }
    for w in workers {
        w.join().unwrap();
    }
}

/// Pending once, having woken itself: a point where other tasks run.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
