//! The subscribing thread: one PSUBSCRIBE to every topic channel, each message from
//! another node handed to [`Inbound`] delivery (the cores' mailboxes, which never
//! block). On (re)connect it first reads every stored session, so a node that starts
//! late, or comes back, knows the sessions made while it was away. A lost connection
//! is retried with [`Backoff`]; local fan-out never depends on this thread.

use super::backoff::Backoff;
use super::envelope::{CHANNEL_PREFIX, Envelope};
use super::publisher::{IO_TIMEOUT, SESSION_KEY, connect};
use super::stats::{BrokerStats, bump};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What the subscriber hands to the node.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A topic message published by another node.
    Message(Envelope),
    /// A session's last stored `status_update` text, read at (re)connect.
    StoredSession { id: String, text: Bytes },
}

/// Where inbound messages go (installed by the runtime: into the cores' inboxes).
pub(crate) type Deliver = Box<dyn Fn(Inbound) + Send>;

struct Subscriber {
    client: redis::Client,
    stats: Arc<BrokerStats>,
    origin: u64,
    deliver: Deliver,
}

/// Runs for the life of the process.
pub(crate) fn run(client: redis::Client, stats: Arc<BrokerStats>, origin: u64, deliver: Deliver) {
    let s = Subscriber {
        client,
        stats,
        origin,
        deliver,
    };
    let mut backoff = Backoff::default();
    loop {
        std::thread::sleep(backoff.wait());
        let err = s.listen(&mut backoff);
        s.stats.in_up.store(false, Ordering::Relaxed);
        s.stats.failed("subscribe", &err);
        backoff.failed();
    }
}

impl Subscriber {
    /// Subscribes, replays stored sessions, then delivers until the connection fails.
    fn listen(&self, backoff: &mut Backoff) -> redis::RedisError {
        let mut con = match self.client.get_connection_with_timeout(IO_TIMEOUT) {
            Ok(c) => c,
            Err(e) => return e,
        };
        // Blocking reads: a timeout mid-message could desynchronise the reply parser.
        // A broker that goes away ends the read (EOF/reset); the publisher's keep-alive
        // shows it in health within a second either way.
        if let Err(e) = con.set_read_timeout(None) {
            return e;
        }
        let mut ps = con.as_pubsub();
        if let Err(e) = ps.psubscribe(format!("{CHANNEL_PREFIX}*")) {
            return e;
        }
        if let Err(e) = self.replay_sessions() {
            return e;
        }
        backoff.succeeded();
        bump(&self.stats.connects);
        bump(&self.stats.subscribes);
        self.stats.in_up.store(true, Ordering::Relaxed);
        loop {
            match ps.get_message() {
                Ok(msg) => self.handle(msg.get_channel_name(), msg.get_payload_bytes()),
                Err(e) => return e,
            }
        }
    }

    fn handle(&self, channel: &str, payload: &[u8]) {
        match Envelope::decode(channel, payload) {
            Ok(e) if e.origin == self.origin => {}
            Ok(e) => {
                bump(&self.stats.received);
                let span = e.span(super::envelope::Operation::Process);
                (self.deliver)(Inbound::Message(e));
                if let Some(span) = span {
                    span.end();
                }
            }
            Err(e) => {
                bump(&self.stats.invalid);
                self.stats.failed("inbound message", &e);
            }
        }
    }

    /// Every stored session (SCAN, then one GET each) handed over as `StoredSession`.
    fn replay_sessions(&self) -> redis::RedisResult<()> {
        let mut con = connect(&self.client)?;
        let keys: Vec<String> =
            redis::Commands::scan_match::<_, String>(&mut con, format!("{SESSION_KEY}*"))?
                .collect();
        for key in keys {
            let text: Option<Vec<u8>> = redis::Commands::get(&mut con, &key)?;
            if let (Some(text), Some(id)) = (text, key.strip_prefix(SESSION_KEY)) {
                (self.deliver)(Inbound::StoredSession {
                    id: id.to_string(),
                    text: Bytes::from(text),
                });
            }
        }
        Ok(())
    }
}
