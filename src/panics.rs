//! Panics at the boundaries that catch them (the HTTP pipeline, a connection task, the
//! WebSocket dispatcher, the scanner's probe, the decode pool): what the panic said, for
//! the log line, and a future wrapper that turns a panic during a poll into a value.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The panic's message: its `&str` or `String` payload, else a placeholder.
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// Polls a future inside `catch_unwind`, so a panic in one request or connection ends
/// that request or connection (the caller answers or logs it) instead of unwinding
/// through the core's event loop, which monoio does not catch: the core's thread would
/// die while its listening socket kept taking connections no one answers.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
