//! Cross-core messages: one bounded inbox per core. This is one of the few things that
//! crosses cores, so it stays small and explicit. Nothing on a core waits for another
//! core to answer a request.

use async_channel::{Receiver, Sender, TrySendError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A message into a core's inbox. Crosses threads (`Send`).
#[derive(Debug, Clone)]
pub(crate) enum CoreMessage {
    /// Stop accepting, drain in-flight requests, exit the core's runtime.
    Shutdown,
    /// Drop tier-1 chunks of one track, or all of them.
    ClearCache { track: Option<i64> },
    /// Send the monitor this core's snapshot (swap-and-send).
    Snapshot(std::sync::mpsc::Sender<crate::monitor::snapshot::CoreSnapshot>),
    /// Send this core's WebSocket connection details (`/api/ws/connections`).
    WsConnections(Sender<(u16, Vec<crate::ws::connection::ConnectionInfo>)>),
    /// Serve a connection accepted on another core for a client that belongs here.
    Adopt(Arc<Handoff>),
    /// Deliver a WebSocket message to this core's subscribers of `topic`.
    Publish {
        topic: std::sync::Arc<str>,
        text: bytes::Bytes,
        priority: crate::ws::protocol::Priority,
    },
}

/// A connection on its way to its client's core (a proxied connection's descriptor).
/// Sent to one core only, so the receiver holds the only `Arc` and takes the stream.
#[derive(Debug)]
pub(crate) struct Handoff {
    stream: std::net::TcpStream,
    client: std::net::SocketAddr,
}

impl Handoff {
    pub(crate) fn new(stream: std::net::TcpStream, client: std::net::SocketAddr) -> Self {
        Self { stream, client }
    }
}

impl Handoff {
    /// The connection (`None` if the message was cloned, which `send_to` never does).
    pub(crate) fn take(h: Arc<Handoff>) -> Option<(std::net::TcpStream, std::net::SocketAddr)> {
        Arc::try_unwrap(h).ok().map(|h| (h.stream, h.client))
    }
}

/// Capacity of each inbox; a full inbox refuses the message for that core: counted
/// per core ([`Mailboxes::refused`], `/metrics`) and reported to the sender.
pub(crate) const INBOX_CAPACITY: usize = 1024;

/// A message that some cores could not take: their inboxes were full (counted).
#[derive(Debug, thiserror::Error)]
#[error("{cores} core(s) are too busy to take the message; retry shortly")]
pub struct InboxFull {
    pub cores: usize,
}

/// Senders to every core's inbox.
#[derive(Clone, Debug)]
pub(crate) struct Mailboxes {
    senders: Vec<Sender<CoreMessage>>,
    /// Messages each core's full inbox refused (written by any sender).
    refused: Arc<[AtomicU64]>,
}

impl Mailboxes {
    /// Makes `cores` inboxes; returns the senders and each core's receiver.
    pub(crate) fn new(cores: usize) -> (Self, Vec<Receiver<CoreMessage>>) {
        let (senders, receivers) = (0..cores)
            .map(|_| async_channel::bounded(INBOX_CAPACITY))
            .unzip();
        let refused = (0..cores).map(|_| AtomicU64::new(0)).collect();
        (Self { senders, refused }, receivers)
    }

    /// True once every core has stopped (its inbox receiver is gone).
    pub(crate) fn all_closed(&self) -> bool {
        self.senders.iter().all(|s| s.is_closed())
    }

    /// Sends a copy to every core without waiting; returns how many cores' inboxes
    /// were full and refused it (each counted).
    pub(crate) fn broadcast(&self, msg: CoreMessage) -> usize {
        let mut full = 0;
        for (core, tx) in self.senders.iter().enumerate() {
            match tx.try_send(msg.clone()) {
                Ok(()) | Err(TrySendError::Closed(_)) => {}
                Err(TrySendError::Full(_)) => {
                    full += 1;
                    self.refused[core].fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(core, "core inbox full; message refused");
                }
            }
        }
        full
    }

    /// Sends to one core without waiting; a full (or closed) inbox gives it back.
    pub(crate) fn send_to(&self, core: usize, msg: CoreMessage) -> Result<(), CoreMessage> {
        let Some(tx) = self.senders.get(core) else {
            return Err(msg);
        };
        tx.try_send(msg).map_err(|e| e.into_inner())
    }

    /// Messages refused by each core's full inbox since start.
    pub(crate) fn refused(&self) -> Vec<u64> {
        self.refused
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .collect()
    }
}
