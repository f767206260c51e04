//! The decode pool: a few threads that do the CPU-heavy work (symphonia decoding,
//! loudness measurement) off the cores' event loops. Jobs of one track always go to
//! the same worker, which keeps that track's decoder open, so sequential chunks
//! continue where the last one stopped. Two priorities: requests first, prefetch after.
//! Queues are bounded: a full queue refuses the job instead of growing.
//!
//! A job can hang (a file on a hung network mount): past `cache.decode_timeout_ms` its
//! thread counts as stuck, and when every thread of a worker is stuck a watchdog starts
//! another on the same queue, so later jobs of that worker's tracks still run (up to
//! [`MAX_THREADS_PER_WORKER`]; past that the worker is wedged and readiness fails). A
//! stuck thread that finishes while others serve its queue exits.

use super::decode::{DecodeError, TrackDecoder};
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Decoders kept open per worker.
const SESSIONS_PER_WORKER: usize = 16;
/// Prefetch jobs queued per worker (client jobs: `[cache] decode_queue`).
pub(crate) const QUEUE_LOW: usize = 64;
/// Threads one worker's queue may have: the first plus replacements for stuck ones.
pub(crate) const MAX_THREADS_PER_WORKER: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// A client is waiting for this.
    High,
    /// Prefetch: done when nothing else waits.
    Low,
}

/// Open decoders of one worker, by track id.
pub(crate) struct Sessions {
    open: lru::LruCache<i64, TrackDecoder>,
}

impl Sessions {
    /// The open decoder of `track`, (re)opened if absent or if its file changed path.
    pub(crate) fn decoder(
        &mut self,
        track: i64,
        path: &Path,
    ) -> Result<&mut TrackDecoder, DecodeError> {
        let stale = self.open.peek(&track).is_some_and(|d| d.path != path);
        if stale || !self.open.contains(&track) {
            let d = TrackDecoder::open(path)?;
            self.open.put(track, d);
        }
        // Just put (or found) above; the cache holds at least one entry.
        self.open.get_mut(&track).ok_or(DecodeError::Crashed)
    }

    /// Forgets a track's decoder (after an error, its state is unknown).
    pub(crate) fn drop_track(&mut self, track: i64) {
        self.open.pop(&track);
    }
}

type Work = Box<dyn FnOnce(&mut Sessions) + Send>;

#[derive(Default)]
struct Queues {
    high: VecDeque<Work>,
    low: VecDeque<Work>,
}

struct Worker {
    index: usize,
    queues: Mutex<Queues>,
    ready: Condvar,
    /// The threads serving this queue.
    slots: Mutex<Vec<Arc<Slot>>>,
}

/// One thread of a worker: when its current job started (ms since the pool started,
/// plus one; 0 = idle).
#[derive(Default)]
struct Slot {
    busy_since: AtomicU64,
}

/// The pool's clock and deadline, copied into each thread.
#[derive(Clone, Copy)]
struct Clock {
    started: Instant,
    deadline: Duration,
}

impl Clock {
    fn now_ms(self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    fn stuck(self, slot: &Slot, now_ms: u64) -> bool {
        let since = slot.busy_since.load(Ordering::Relaxed);
        since > 0 && now_ms.saturating_sub(since) > self.deadline.as_millis() as u64
    }
}

/// The worker's queue for that priority is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the decode queue is full")]
pub(crate) struct QueueFull;

/// Handle to the pool; shared by all cores.
pub(crate) struct DecodePool {
    workers: Vec<Arc<Worker>>,
    /// High-priority jobs a worker queues before it refuses more.
    high_capacity: usize,
    clock: Clock,
    /// High-priority jobs refused because a queue was full, since start.
    refused: AtomicU64,
    /// Threads started to replace stuck ones, since start.
    replaced: AtomicU64,
    /// When the last one was refused (ms since `started`, plus one; 0 = never).
    last_refused_ms: AtomicU64,
}

/// How loaded the pool is (readiness and `/api/cache/stats` read it).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct PoolLoad {
    /// The fullest worker's high-priority queue.
    pub queued_max: usize,
    pub capacity: usize,
    pub refused: u64,
    /// Milliseconds since a job was last refused (`None`: never).
    pub since_refusal_ms: Option<u64>,
    /// Threads busy on one job past `cache.decode_timeout_ms`.
    pub stuck_threads: usize,
    /// Workers whose every thread is stuck and that may start no more: their tracks
    /// cannot be decoded.
    pub wedged_workers: usize,
    /// Threads started to replace stuck ones, since start.
    pub replaced_threads: u64,
}

impl PoolLoad {
    /// A client's job would be refused now, or was within `recent`.
    pub(crate) fn saturated(&self, recent: Duration) -> bool {
        self.queued_max >= self.capacity
            || self
                .since_refusal_ms
                .is_some_and(|ms| ms < recent.as_millis() as u64)
    }
}

impl DecodePool {
    pub(crate) fn start(
        threads: usize,
        high_capacity: usize,
        deadline: Duration,
    ) -> std::io::Result<Arc<DecodePool>> {
        let clock = Clock {
            started: Instant::now(),
            deadline,
        };
        let mut workers = Vec::new();
        for index in 0..threads.max(1) {
            let w = Arc::new(Worker {
                index,
                queues: Mutex::new(Queues::default()),
                ready: Condvar::new(),
                slots: Mutex::new(Vec::new()),
            });
            let slot = spawn_thread(&w, clock)?;
            if let Ok(mut slots) = w.slots.lock() {
                slots.push(slot);
            }
            workers.push(w);
        }
        let pool = Arc::new(DecodePool {
            workers,
            high_capacity: high_capacity.max(1),
            clock,
            refused: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
            last_refused_ms: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&pool);
        let tick = (deadline / 4).clamp(Duration::from_millis(20), Duration::from_millis(250));
        std::thread::Builder::new()
            .name("auralis-decode-watch".into())
            .spawn(move || {
                while let Some(pool) = weak.upgrade() {
                    pool.replace_stuck();
                    drop(pool);
                    std::thread::sleep(tick);
                }
            })?;
        Ok(pool)
    }

    /// Starts a thread on each worker whose every thread is stuck.
    fn replace_stuck(&self) {
        let now = self.clock.now_ms();
        for w in &self.workers {
            let Ok(mut slots) = w.slots.lock() else {
                continue;
            };
            let all_stuck = slots.iter().all(|s| self.clock.stuck(s, now));
            if !all_stuck || slots.len() >= MAX_THREADS_PER_WORKER {
                continue;
            }
            match spawn_thread(w, self.clock) {
                Ok(slot) => {
                    slots.push(slot);
                    self.replaced.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        worker = w.index,
                        threads = slots.len(),
                        "a decode job is stuck past cache.decode_timeout_ms; another thread takes its queue"
                    );
                }
                Err(e) => {
                    tracing::error!(worker = w.index, error = %e, "cannot start a replacement decode thread")
                }
            }
        }
    }

    /// The pool's load now.
    pub(crate) fn load(&self) -> PoolLoad {
        let queued_max = self
            .workers
            .iter()
            .map(|w| w.queues.lock().map(|q| q.high.len()).unwrap_or(usize::MAX))
            .max()
            .unwrap_or(0);
        let last = self.last_refused_ms.load(Ordering::Relaxed);
        let now = self.clock.now_ms();
        let (mut stuck_threads, mut wedged_workers) = (0, 0);
        for w in &self.workers {
            if let Ok(slots) = w.slots.lock() {
                let stuck = slots.iter().filter(|s| self.clock.stuck(s, now)).count();
                stuck_threads += stuck;
                if stuck == slots.len() && stuck >= MAX_THREADS_PER_WORKER {
                    wedged_workers += 1;
                }
            }
        }
        PoolLoad {
            queued_max,
            capacity: self.high_capacity,
            refused: self.refused.load(Ordering::Relaxed),
            since_refusal_ms: (last > 0).then(|| now.saturating_sub(last)),
            stuck_threads,
            wedged_workers,
            replaced_threads: self.replaced.load(Ordering::Relaxed),
        }
    }

    fn note_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now_ms();
        self.last_refused_ms.store(now, Ordering::Relaxed);
    }

    /// Queues `work` on the worker that owns `track`. `Err` when that queue is full.
    pub(crate) fn submit(
        &self,
        track: i64,
        priority: Priority,
        work: impl FnOnce(&mut Sessions) + Send + 'static,
    ) -> Result<(), QueueFull> {
        let w = &self.workers[track.unsigned_abs() as usize % self.workers.len()];
        let Ok(mut q) = w.queues.lock() else {
            return Err(QueueFull);
        };
        let (queue, cap) = match priority {
            Priority::High => (&mut q.high, self.high_capacity),
            Priority::Low => (&mut q.low, QUEUE_LOW),
        };
        if queue.len() >= cap {
            drop(q);
            if priority == Priority::High {
                self.note_refusal();
            }
            return Err(QueueFull);
        }
        queue.push_back(Box::new(work));
        drop(q);
        w.ready.notify_one();
        Ok(())
    }
}

/// Starts one more thread on `worker`'s queue; returns its slot (not yet listed).
fn spawn_thread(worker: &Arc<Worker>, clock: Clock) -> std::io::Result<Arc<Slot>> {
    let slot = Arc::new(Slot::default());
    let (w, s) = (worker.clone(), slot.clone());
    std::thread::Builder::new()
        .name(format!("auralis-decode-{}", worker.index))
        .spawn(move || run(w, s, clock))?;
    Ok(slot)
}

fn run(worker: Arc<Worker>, slot: Arc<Slot>, clock: Clock) {
    let mut sessions = Sessions {
        open: lru::LruCache::new(
            NonZeroUsize::new(SESSIONS_PER_WORKER).unwrap_or(NonZeroUsize::MIN),
        ),
    };
    loop {
        let work = {
            let Ok(mut q) = worker.queues.lock() else {
                return;
            };
            loop {
                if let Some(w) = q.high.pop_front().or_else(|| q.low.pop_front()) {
                    break w;
                }
                q = match worker.ready.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        };
        slot.busy_since.store(clock.now_ms(), Ordering::Relaxed);
        let started = Instant::now();
        // A panicking decoder must not kill the worker (and strand every later job).
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut sessions)));
        slot.busy_since.store(0, Ordering::Relaxed);
        if let Err(panic) = result {
            let what = crate::panics::message(&*panic);
            tracing::error!(panic = %what, "decode job panicked; its decoder sessions are reset");
            sessions.open.clear();
        }
        if started.elapsed() > clock.deadline && retire(&worker, &slot) {
            return;
        }
    }
}

/// A thread back from a job that took past the deadline leaves if another thread
/// serves its queue now (it was replaced); `true` when it should exit.
fn retire(worker: &Worker, slot: &Arc<Slot>) -> bool {
    let Ok(mut slots) = worker.slots.lock() else {
        return false;
    };
    if slots.len() < 2 {
        return false;
    }
    slots.retain(|s| !Arc::ptr_eq(s, slot));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_does_not_take_its_worker_down() {
        let pool = DecodePool::start(1, 4, Duration::from_secs(10)).unwrap();
        pool.submit(1, Priority::High, |_| panic!("injected decode panic"))
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(1, Priority::High, move |_| tx.send(42).unwrap())
            .unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_secs(5));
        assert_eq!(got, Ok(42), "the same worker runs the next job");
    }

    #[test]
    fn a_job_stuck_past_the_deadline_gets_its_queue_a_new_thread() {
        let pool = DecodePool::start(1, 4, Duration::from_millis(100)).unwrap();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        pool.submit(1, Priority::High, move |_| {
            let _ = stuck.recv();
        })
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(1, Priority::High, move |_| tx.send(7).unwrap())
            .unwrap();
        let got = rx.recv_timeout(Duration::from_secs(5));
        assert_eq!(got, Ok(7), "the job behind the stuck one ran");
        let load = pool.load();
        assert_eq!((load.stuck_threads, load.replaced_threads), (1, 1));
        assert_eq!(load.wedged_workers, 0);
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.workers[0].slots.lock().unwrap().len() > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            pool.workers[0].slots.lock().unwrap().len(),
            1,
            "the stuck one left"
        );
    }
}
