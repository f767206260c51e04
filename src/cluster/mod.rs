//! Cluster mode: nodes behind a load balancer share WebSocket topics and listening
//! sessions through a Redis broker (docs/ARCHITECTURE.md §8).
//!
//! Why Redis: one engine gives both what crosses nodes — pub/sub for topic messages
//! and a key store for session state that must outlive its node — and its client has
//! a plain blocking API, so the link is two ordinary threads with no async runtime
//! beside the cores. (NATS would need JetStream for the store and an async client.)
//!
//! Concurrency contract: cores hand messages to [`Broker::publish`], which only
//! `try_send`s into a bounded queue (full: counted as shed); the publishing thread owns
//! one connection; the subscribing thread owns another and delivers into the cores'
//! mailboxes, which never block either. Broker down: cores go on delivering locally,
//! messages are counted as not forwarded, both threads reconnect with backoff, and
//! `/api/health` reports the cluster degraded.

pub(crate) mod backoff;
pub(crate) mod envelope;
pub(crate) mod last_error;
pub(crate) mod publisher;
pub(crate) mod stats;
pub(crate) mod subscriber;

use crate::ws::protocol::Priority;
use bytes::Bytes;
use envelope::Envelope;
use stats::{BrokerStats, bump};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
pub(crate) use subscriber::{Deliver, Inbound};

/// Messages queued for the publishing thread at most.
const QUEUE: usize = 8192;

/// Topics whose messages cross nodes. `metrics` is per node; `library` changes cross
/// through the shared database's own notifications, not the broker.
pub(crate) fn crosses_nodes(topic: &str) -> bool {
    matches!(topic, "notifications" | "player" | "cache")
        || topic.starts_with("session:")
        || topic.starts_with("player!session:")
}

/// Why the broker link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cluster.broker_url: {0}")]
    Url(redis::RedisError),
    #[error("cannot start the broker threads: {0}")]
    Thread(std::io::Error),
}

/// This node's link to the broker (shared by every core).
pub(crate) struct Broker {
    tx: SyncSender<Envelope>,
    pub stats: Arc<BrokerStats>,
    /// This process's id on the broker (random), so it skips its own messages.
    pub origin: u64,
}

impl Broker {
    /// Starts the publishing and subscribing threads; connecting happens on them.
    pub(crate) fn start(url: &str, deliver: Deliver) -> Result<Arc<Broker>, BrokerError> {
        let client = redis::Client::open(url).map_err(BrokerError::Url)?;
        let stats = Arc::new(BrokerStats::default());
        let origin = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            ^ u64::from(std::process::id());
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let (c, s) = (client.clone(), stats.clone());
        std::thread::Builder::new()
            .name("auralis-broker-out".into())
            .spawn(move || publisher::run(c, s, rx))
            .map_err(BrokerError::Thread)?;
        let s = stats.clone();
        std::thread::Builder::new()
            .name("auralis-broker-in".into())
            .spawn(move || subscriber::run(client, s, origin, deliver))
            .map_err(BrokerError::Thread)?;
        Ok(Arc::new(Broker { tx, stats, origin }))
    }

    /// Hands a topic message to the other nodes without waiting; a full queue is
    /// counted (`shed`) and the message stays local.
    pub(crate) fn publish(&self, topic: &str, text: &Bytes, priority: Priority) {
        let e = Envelope {
            origin: self.origin,
            topic: topic.to_string(),
            priority,
            text: text.clone(),
            // The span that caused the message; the publisher's PRODUCER span is its
            // child and travels in the envelope.
            trace: crate::trace::ambient::current(),
        };
        match self.tx.try_send(e) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => bump(&self.stats.shed),
            Err(TrySendError::Disconnected(_)) => bump(&self.stats.not_forwarded),
        }
    }
}
