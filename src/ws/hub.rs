//! A core's WebSocket connections and topic subscriptions, and fan-out. A publish is
//! sent once to every core's inbox; each core delivers to its own subscribers by
//! queueing (never waiting), so a slow subscriber never delays the others.
//!
//! Pacing: a burst of publishes can reach a core faster than its own writers drain
//! their queues. Shedding then would cost listeners that keep up messages they would
//! have read, so the core's inbox waits for its writers instead (the inbox is the
//! buffer, and a full inbox is counted). Only a subscriber whose socket is full — a
//! peer not reading — loses `low` messages, counted in its `dropped_low`.

use super::connection::WsConn;
use super::protocol::Priority;
use crate::cluster::Broker;
use crate::runtime::core_state::CoreState;
use crate::runtime::mailbox::{CoreMessage, InboxFull, Mailboxes};
use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What one delivery did on this core.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Delivered {
    /// Subscribers that took the message (sent or queued).
    pub took: usize,
    /// Of those, how many have it queued for their writer task.
    pub queued: usize,
}

/// Topics a client may subscribe to (plus `session:<id>`).
pub(crate) const TOPICS: &[&str] = &["player", "library", "cache", "metrics", "notifications"];

#[derive(Default)]
pub(crate) struct WsHub {
    conns: RefCell<HashMap<u64, Rc<WsConn>>>,
    /// Subscribers per topic, by connection id, holding the connection itself so that
    /// a delivery walks one table (no second lookup per subscriber).
    topics: RefCell<HashMap<String, HashMap<u64, Rc<WsConn>>>>,
    next: Cell<u64>,
    /// Message budgets per client address, shared by its connections.
    pub(crate) budgets: RefCell<super::limiter::ClientBudgets>,
    /// The welcome message's constant parts, built at the first connection.
    pub(crate) welcome: std::cell::OnceCell<super::handlers::WelcomeParts>,
}

impl WsHub {
    pub(crate) fn next_id(&self) -> u64 {
        self.next.set(self.next.get() + 1);
        self.next.get()
    }

    pub(crate) fn register(&self, core: &CoreState, conn: Rc<WsConn>) {
        self.conns.borrow_mut().insert(conn.id, conn);
        core.gauge().ws_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unregister(&self, core: &CoreState, conn: &WsConn) {
        if self.conns.borrow_mut().remove(&conn.id).is_some() {
            core.gauge().ws_connections.fetch_sub(1, Ordering::Relaxed);
            // Its shed and refused counts outlive it in the core's totals.
            let out = conn.out.borrow();
            let c = &core.counters;
            c.ws_dropped_low_closed
                .set(c.ws_dropped_low_closed.get() + out.dropped_low);
            c.ws_refused_closed
                .set(c.ws_refused_closed.get() + out.refused);
        }
        let mut topics = self.topics.borrow_mut();
        for t in conn.subscriptions.borrow().iter() {
            if let Some(set) = topics.get_mut(t) {
                set.remove(&conn.id);
                if set.is_empty() {
                    topics.remove(t);
                }
            }
        }
    }

    pub(crate) fn subscribe(&self, conn: &WsConn, topic: &str) {
        // Only registered connections subscribe (the read loop runs after `register`).
        let Some(rc) = self.conns.borrow().get(&conn.id).cloned() else {
            return;
        };
        conn.subscriptions.borrow_mut().insert(topic.to_string());
        self.topics
            .borrow_mut()
            .entry(topic.to_string())
            .or_default()
            .insert(conn.id, rc);
    }

    pub(crate) fn unsubscribe(&self, conn: &WsConn, topic: &str) {
        conn.subscriptions.borrow_mut().remove(topic);
        let mut topics = self.topics.borrow_mut();
        if let Some(set) = topics.get_mut(topic) {
            set.remove(&conn.id);
            if set.is_empty() {
                topics.remove(topic);
            }
        }
    }

    /// Delivers `text` to every local subscriber of `topic`: written straight to each
    /// idle subscriber's socket, queued for the others (`WsConn::send_broadcast`).
    /// A topic written `base!other` ([`except`]) reaches subscribers of `base` that are
    /// not subscribers of `other` (they get the event through `other`).
    pub(crate) fn deliver(&self, topic: &str, text: &Bytes, priority: Priority) -> Delivered {
        let (base, other) = split_except(topic);
        let topics = self.topics.borrow();
        let Some(set) = topics.get(base) else {
            return Delivered::default();
        };
        let skip = other.and_then(|o| topics.get(o));
        // The frame header is the same for every subscriber: formatted once.
        let head = super::writer::Head::of(fastwebsockets::OpCode::Text, text);
        let mut d = Delivered::default();
        // Sending never re-enters the hub (a refused frame only queues a close), so
        // the table stays borrowed for the whole loop: no copy of the subscriber list.
        for (id, c) in set.iter() {
            if skip.is_some_and(|s| s.contains_key(id)) {
                continue;
            }
            let (took, queued) = c.send_broadcast(&head, text, priority);
            d.took += took as usize;
            d.queued += queued as usize;
        }
        d
    }

    /// Whether a subscriber of `topic` whose peer keeps up has a backlog: the core's
    /// writers, not the peer, are behind.
    pub(crate) fn behind(&self, topic: &str) -> bool {
        let topics = self.topics.borrow();
        let Some(set) = topics.get(split_except(topic).0) else {
            return false;
        };
        set.values()
            .any(|c| !c.is_killed() && c.out.borrow().backlogged() && c.keeps_up())
    }

    /// `low` messages shed and messages refused by the live connections' queues.
    pub(crate) fn live_losses(&self) -> (u64, u64) {
        self.conns.borrow().values().fold((0, 0), |(d, r), c| {
            let out = c.out.borrow();
            (d + out.dropped_low, r + out.refused)
        })
    }

    pub(crate) fn all(&self) -> Vec<Rc<WsConn>> {
        let mut v: Vec<_> = self.conns.borrow().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.conns.borrow().is_empty()
    }
}

/// The `player` topic except subscribers of `session` (who get a session's status on
/// its own topic): one event, one copy per connection, on every core and node (the
/// exception travels in the topic name, so the broker needs no other field).
pub(crate) fn except(session: &str) -> String {
    format!("player!{session}")
}

fn split_except(topic: &str) -> (&str, Option<&str>) {
    match topic.split_once('!') {
        Some((base, other)) => (base, Some(other)),
        None => (topic, None),
    }
}

/// Delivers one publish on this core, then lets the writers run until no subscriber
/// that keeps up is backlogged (bounded by `slow_close_ms`, the time after which a
/// stuck subscriber is closed anyway).
pub(crate) async fn deliver_paced(core: &CoreState, topic: &str, text: &Bytes, priority: Priority) {
    // Only queued frames need their writers to run; a delivery written straight to
    // every socket is done.
    if core.ws.deliver(topic, text, priority).queued == 0 {
        return;
    }
    let limit = Instant::now() + Duration::from_millis(core.shared.config.ws.slow_close_ms);
    let mut rounds = 0u32;
    while core.ws.behind(topic) && Instant::now() < limit {
        // Writers woken by the delivery run before a yielded task; a writer whose
        // write is still in the ring (compat transport) needs a driver tick: sleep.
        if rounds < 8 {
            crate::runtime::yield_now::yield_now().await;
        } else {
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
        rounds += 1;
    }
}

/// Publishes a message to a topic on every core (this one included, through its inbox,
/// so ordering per topic is the inbox order everywhere) and, in a cluster, hands it
/// to the broker for the other nodes.
pub(crate) fn publish(
    core: &CoreState,
    topic: &str,
    text: String,
    priority: Priority,
) -> Result<(), InboxFull> {
    let Some(m) = core.shared.mailboxes.get() else {
        return Ok(());
    };
    let text = Bytes::from(text);
    forward(core.shared.broker.get(), topic, &text, priority);
    let full = m.broadcast(CoreMessage::Publish {
        topic: Arc::from(topic),
        text,
        priority,
    });
    if full > 0 {
        return Err(InboxFull { cores: full });
    }
    Ok(())
}

/// Hands a topic message to the other nodes, when this node is in a cluster and the
/// topic crosses nodes.
fn forward(broker: Option<&Arc<Broker>>, topic: &str, text: &Bytes, priority: Priority) {
    if let Some(b) = broker
        && crate::cluster::crosses_nodes(topic)
    {
        b.publish(topic, text, priority);
    }
}

/// Where messages from other nodes go: a session's state is recorded, then the
/// message is delivered on every core as a local publish would be.
pub(crate) fn cluster_inbound(
    shared: Arc<crate::runtime::core_state::Shared>,
    m: Mailboxes,
) -> crate::cluster::Deliver {
    use crate::cluster::Inbound;
    Box::new(move |inbound| match inbound {
        Inbound::StoredSession { id, text } => super::sessions::record_text(&shared, &id, &text),
        Inbound::Message(e) => {
            if let Some(id) = e.topic.strip_prefix("session:") {
                super::sessions::record_text(&shared, id, &e.text);
            }
            m.broadcast(CoreMessage::Publish {
                topic: Arc::from(e.topic.as_str()),
                text: e.text,
                priority: e.priority,
            });
        }
    })
}

/// The library's event sink: each committed change becomes a `library_changed`
/// message on the `library` topic of every core, whatever transport made it.
/// The internal topic that carries owned library changes: one listener's
/// (`library@<id>`), or every listener's for admins (`library@admin`). A socket
/// subscribing to `library` joins the one its principal may hear; clients cannot name
/// these topics.
pub(crate) fn library_topic_of(owner: Option<i64>) -> Arc<str> {
    match owner {
        Some(id) => Arc::from(format!("library@{id}")),
        None => Arc::from("library@admin"),
    }
}

pub(crate) fn library_sink(m: Mailboxes) -> crate::library::events::EventSink {
    let seq = std::sync::atomic::AtomicU64::new(0);
    Box::new(move |events| {
        for e in events {
            let n = seq.fetch_add(1, Ordering::Relaxed) + 1;
            let text = Bytes::from(super::protocol::encode_on(
                "library_changed",
                &format!("lib{n}"),
                "library",
                e,
            ));
            let topics = match e.owner() {
                // A listener's own change: its sockets and admins', not every subscriber.
                Some(id) => vec![library_topic_of(Some(id)), library_topic_of(None)],
                None => vec![Arc::from("library")],
            };
            for topic in topics {
                m.broadcast(CoreMessage::Publish {
                    topic,
                    text: text.clone(),
                    priority: Priority::Normal,
                });
            }
        }
    })
}

/// The cache's event sink: each clear or pressure report becomes a `cache_changed`
/// message on the `cache` topic of every core (and, in a cluster, every node).
pub(crate) fn cache_sink(
    m: Mailboxes,
    broker: Option<Arc<Broker>>,
) -> crate::cache::events::CacheSink {
    let seq = std::sync::atomic::AtomicU64::new(0);
    Box::new(move |e| {
        let n = seq.fetch_add(1, Ordering::Relaxed) + 1;
        let text = Bytes::from(super::protocol::encode_on(
            "cache_changed",
            &format!("cache{n}"),
            "cache",
            e,
        ));
        forward(broker.as_ref(), "cache", &text, Priority::Normal);
        m.broadcast(CoreMessage::Publish {
            topic: Arc::from("cache"),
            text,
            priority: Priority::Normal,
        });
    })
}
