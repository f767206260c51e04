//! One pinned glommio executor per CPU, each running its share of a scenario; results
//! come back when all have finished. The executors share nothing but what the scenario
//! passes in explicitly (atomics for the progress line, a ready counter).

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use std::future::Future;

/// Executors started by [`start`], running.
pub struct Running<T: Send + 'static> {
    handles: Vec<ExecutorJoinHandle<T>>,
}

/// Starts `body(k)` on an executor pinned to `cpus[k]`, for every k.
pub fn start<T, F, Fut>(cpus: &[usize], name: &str, body: F) -> Result<Running<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = T> + 'static,
{
    let mut handles = Vec::new();
    for (k, cpu) in cpus.iter().copied().enumerate() {
        let body = body.clone();
        let h = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("{name}-{k}"))
            .spawn(move || {
                precise_timers();
                body(k)
            })
            .map_err(|e| format!("cannot start executor on CPU {cpu}: {e}"))?;
        handles.push(h);
    }
    Ok(Running { handles })
}

impl<T: Send + 'static> Running<T> {
    /// Waits for every executor; their results in CPU order.
    pub fn join(self) -> Result<Vec<T>, String> {
        self.handles
            .into_iter()
            .map(|h| h.join().map_err(|e| format!("executor failed: {e}")))
            .collect()
    }
}

/// [`start`], then [`Running::join`].
pub fn on_cores<T, F, Fut>(cpus: &[usize], name: &str, body: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = T> + 'static,
{
    start(cpus, name, body)?.join()
}

/// Asks the kernel to wake this thread's timers on time: the default 50 µs of timer
/// slack would show up as open-model latency (requests sent late are charged from
/// their intended time).
fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}
