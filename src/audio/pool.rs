//! The decode pool: a few threads that do the CPU-heavy work (symphonia decoding,
//! loudness measurement) off the cores' event loops. Jobs of one track always go to
//! the same worker, which keeps that track's decoder open, so sequential chunks
//! continue where the last one stopped. Two priorities: requests first, prefetch after.
//! Queues are bounded: a full queue refuses the job instead of growing.

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
    queues: Mutex<Queues>,
    ready: Condvar,
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
    started: Instant,
    /// High-priority jobs refused because a queue was full, since start.
    refused: AtomicU64,
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
    pub(crate) fn start(threads: usize, high_capacity: usize) -> std::io::Result<Arc<DecodePool>> {
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let w = Arc::new(Worker {
                queues: Mutex::new(Queues::default()),
                ready: Condvar::new(),
            });
            let worker = w.clone();
            std::thread::Builder::new()
                .name(format!("auralis-decode-{i}"))
                .spawn(move || run(worker))?;
            workers.push(w);
        }
        Ok(Arc::new(DecodePool {
            workers,
            high_capacity: high_capacity.max(1),
            started: Instant::now(),
            refused: AtomicU64::new(0),
            last_refused_ms: AtomicU64::new(0),
        }))
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
        let now = self.started.elapsed().as_millis() as u64 + 1;
        PoolLoad {
            queued_max,
            capacity: self.high_capacity,
            refused: self.refused.load(Ordering::Relaxed),
            since_refusal_ms: (last > 0).then(|| now.saturating_sub(last)),
        }
    }

    fn note_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64 + 1;
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

fn run(worker: Arc<Worker>) {
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
        // A panicking decoder must not kill the worker (and strand every later job).
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut sessions)));
        if let Err(panic) = result {
            let what = crate::panics::message(&*panic);
            tracing::error!(panic = %what, "decode job panicked; its decoder sessions are reset");
            sessions.open.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_does_not_take_its_worker_down() {
        let pool = DecodePool::start(1, 4).unwrap();
        pool.submit(1, Priority::High, |_| panic!("injected decode panic"))
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(1, Priority::High, move |_| tx.send(42).unwrap())
            .unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_secs(5));
        assert_eq!(got, Ok(42), "the same worker runs the next job");
    }
}
