//! The span a thread is working for now, so code far below a request (the chunk path
//! submitting a decode, the library submitting a write, the hub forwarding to the
//! broker) can name its parent without every signature carrying one.
//!
//! Concurrency contract: a core runs many requests' futures interleaved, so the
//! current span is set only while a request's future is being polled ([`Scoped`]) or
//! while synchronous work runs ([`enter`]), and restored when that poll or call
//! returns: code reads the span of the work it is part of, never a neighbour's.

use super::context::SpanContext;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    static CURRENT: Cell<Option<SpanContext>> = const { Cell::new(None) };
}

/// The span this thread works for now (`None`: untraced work).
pub(crate) fn current() -> Option<SpanContext> {
    CURRENT.with(Cell::get)
}

/// Restores the previous current span when dropped.
pub(crate) struct Entered {
    previous: Option<SpanContext>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `span` the current one until the guard drops.
pub(crate) fn enter(span: Option<SpanContext>) -> Entered {
    Entered {
        previous: CURRENT.with(|c| c.replace(span)),
    }
}

/// A future polled with its span current.
pub(crate) struct Scoped<F> {
    span: Option<SpanContext>,
    inner: F,
}

pub(crate) fn scoped<F: Future>(span: Option<SpanContext>, inner: F) -> Scoped<F> {
    Scoped { span, inner }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: never moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = enter(this.span);
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::context::{SpanId, TraceId};

    fn ctx(n: u8) -> SpanContext {
        SpanContext {
            trace_id: TraceId([n; 16]),
            span_id: SpanId([n; 8]),
            sampled: true,
        }
    }

    #[test]
    fn interleaved_futures_each_see_their_own_span() {
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let task = |n: u8| {
            let seen = seen.clone();
            scoped(Some(ctx(n)), async move {
                seen.borrow_mut().push(current());
                crate::runtime::yield_now::yield_now().await;
                seen.borrow_mut().push(current());
            })
        };
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        rt.block_on(async {
            let a = monoio::spawn(task(1));
            let b = monoio::spawn(task(2));
            a.await;
            b.await;
            assert_eq!(current(), None);
        });
        let seen = seen.borrow();
        assert_eq!(seen.len(), 4);
        assert!(seen.iter().filter(|s| **s == Some(ctx(1))).count() == 2);
        assert!(seen.iter().filter(|s| **s == Some(ctx(2))).count() == 2);
        let _outer = enter(Some(ctx(9)));
        {
            let _inner = enter(None);
            assert_eq!(current(), None);
        }
        assert_eq!(current(), Some(ctx(9)));
    }
}
