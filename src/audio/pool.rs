//! The decode pool: a few threads that do the CPU-heavy work (symphonia decoding,
//! loudness measurement) off the cores' event loops. Jobs of one track always go to
//! the same worker, which keeps that track's decoder open, so sequential chunks
//! continue where the last one stopped. Two priorities: requests first, prefetch after.
//! Queues are bounded: a full queue refuses the job instead of growing.

use super::decode::{DecodeError, TrackDecoder};
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

/// Decoders kept open per worker.
const SESSIONS_PER_WORKER: usize = 16;
/// Jobs queued per worker and priority.
pub(crate) const QUEUE_HIGH: usize = 1024;
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
}

impl DecodePool {
    pub(crate) fn start(threads: usize) -> std::io::Result<Arc<DecodePool>> {
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
        Ok(Arc::new(DecodePool { workers }))
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
            Priority::High => (&mut q.high, QUEUE_HIGH),
            Priority::Low => (&mut q.low, QUEUE_LOW),
        };
        if queue.len() >= cap {
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
        if result.is_err() {
            tracing::error!("decode job panicked; its decoder sessions are reset");
            sessions.open.clear();
        }
    }
}
