//! Cross-core messages: one bounded inbox per core. This is one of the few things that
//! crosses cores, so it stays small and explicit. Nothing on a core waits for another
//! core to answer a request.

use async_channel::{Receiver, Sender, TrySendError};

/// A message into a core's inbox. Crosses threads (`Send`).
#[derive(Debug, Clone)]
pub enum CoreMessage {
    /// Stop accepting, drain in-flight requests, exit the core's runtime.
    Shutdown,
    /// Drop tier-1 chunks of one track, or all of them.
    ClearCache { track: Option<i64> },
    /// Send the monitor this core's snapshot (swap-and-send).
    Snapshot(std::sync::mpsc::Sender<crate::monitor::snapshot::CoreSnapshot>),
    /// Deliver a WebSocket message to this core's subscribers of `topic`.
    Publish {
        topic: std::sync::Arc<str>,
        text: bytes::Bytes,
        priority: crate::ws::protocol::Priority,
    },
}

/// Capacity of each inbox; a full inbox drops the message for that core (logged).
pub const INBOX_CAPACITY: usize = 1024;

/// Senders to every core's inbox.
#[derive(Clone, Debug)]
pub struct Mailboxes {
    senders: Vec<Sender<CoreMessage>>,
}

impl Mailboxes {
    /// Makes `cores` inboxes; returns the senders and each core's receiver.
    pub fn new(cores: usize) -> (Self, Vec<Receiver<CoreMessage>>) {
        let (senders, receivers) = (0..cores)
            .map(|_| async_channel::bounded(INBOX_CAPACITY))
            .unzip();
        (Self { senders }, receivers)
    }

    /// True once every core has stopped (its inbox receiver is gone).
    pub fn all_closed(&self) -> bool {
        self.senders.iter().all(|s| s.is_closed())
    }

    /// Sends a copy to every core without waiting.
    pub fn broadcast(&self, msg: CoreMessage) {
        for (core, tx) in self.senders.iter().enumerate() {
            match tx.try_send(msg.clone()) {
                Ok(()) | Err(TrySendError::Closed(_)) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(core, "core inbox full; message dropped")
                }
            }
        }
    }
}
