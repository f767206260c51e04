//! Wake-ups between tasks of one core: a [`Notify`] (a coalescing "there is work"
//! flag with one waiter) and a [`Latch`] (set once, wakes every waiter, stays set).
//!
//! Why not a channel: a WebSocket fan-out wakes every subscriber's writer once per
//! message, and `async_channel` — built for threads — paid for that with atomics, an
//! `Arc`'d queue and a heap-allocated `event_listener` registration on every wait
//! (≈ 20 % of a broadcasting core's samples in `perf`). Everything here lives on one
//! core (`!Send`, `Cell`s), so a wake-up is a flag and a stored `Waker`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// "There is work": [`Notify::notify`] sets a flag and wakes the one task waiting in
/// [`Notify::notified`], which clears it. Notifications before the wait are not lost,
/// and many coalesce into one wake-up (the waiter drains everything it finds).
#[derive(Default)]
pub(crate) struct Notify {
    pending: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("pending", &self.pending.get())
            .finish_non_exhaustive()
    }
}

impl Notify {
    pub(crate) fn notify(&self) {
        self.pending.set(true);
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
    }

    /// Completes once a notification is pending (at once if one already is),
    /// consuming it. Meant for one waiting task at a time: a second waiter replaces
    /// the first's registration.
    pub(crate) fn notified(&self) -> Notified<'_> {
        Notified(self)
    }
}

/// The future of [`Notify::notified`].
#[derive(Debug)]
pub(crate) struct Notified<'a>(&'a Notify);

impl Future for Notified<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.pending.replace(false) {
            return Poll::Ready(());
        }
        store(&self.0.waiter, cx.waker());
        Poll::Pending
    }
}

/// Keeps `waker` in `slot`, reusing the stored one when it wakes the same task.
fn store(slot: &Cell<Option<Waker>>, waker: &Waker) {
    let mut current = slot.take();
    match &mut current {
        Some(w) => w.clone_from(waker),
        None => current = Some(waker.clone()),
    }
    slot.set(current);
}

/// Set once, for good: every task waiting in [`Latch::wait`] is woken and every
/// later wait completes at once.
#[derive(Debug, Default)]
pub(crate) struct Latch {
    set: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Latch {
    pub(crate) fn set(&self) {
        if self.set.replace(true) {
            return;
        }
        for w in self.waiters.take() {
            w.wake();
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.get()
    }

    pub(crate) fn wait(&self) -> LatchWait<'_> {
        LatchWait(self)
    }
}

/// The future of [`Latch::wait`].
#[derive(Debug)]
pub(crate) struct LatchWait<'a>(&'a Latch);

impl Future for LatchWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.set.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.0.waiters.borrow_mut();
        // The same task polling again (each turn of a select loop) keeps one entry.
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn poll<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(w))
    }

    #[test]
    fn a_notification_before_the_wait_is_kept_and_many_coalesce() {
        let n = Notify::default();
        let (count, w) = waker();
        n.notify();
        n.notify();
        assert!(poll(&mut n.notified(), &w).is_ready());
        let mut wait = n.notified();
        assert!(
            poll(&mut wait, &w).is_pending(),
            "both were consumed by one wait"
        );
        n.notify();
        n.notify();
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "one wake-up");
        assert!(poll(&mut wait, &w).is_ready());
    }

    #[test]
    fn a_latch_wakes_every_waiter_once_and_stays_set() {
        let l = Latch::default();
        let (a, wa) = waker();
        let (b, wb) = waker();
        let (mut x, mut y) = (l.wait(), l.wait());
        for _ in 0..3 {
            assert!(poll(&mut x, &wa).is_pending());
        }
        assert!(poll(&mut y, &wb).is_pending());
        assert_eq!(
            l.waiters.borrow().len(),
            2,
            "a task polling again is kept once"
        );
        l.set();
        l.set();
        assert_eq!(a.0.load(Ordering::Relaxed), 1);
        assert_eq!(b.0.load(Ordering::Relaxed), 1);
        assert!(l.is_set() && poll(&mut l.wait(), &wa).is_ready());
    }
}
