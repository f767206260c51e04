//! A core's WebSocket connections and topic subscriptions, and fan-out. A publish is
//! sent once to every core's inbox; each core delivers to its own subscribers by
//! queueing (never waiting), so a slow subscriber never delays the others.

use super::connection::WsConn;
use super::outbound::OutFrame;
use super::protocol::Priority;
use crate::runtime::core_state::CoreState;
use crate::runtime::mailbox::CoreMessage;
use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Topics a client may subscribe to (plus `session:<id>`).
pub const TOPICS: &[&str] = &["player", "library", "cache", "metrics", "notifications"];

#[derive(Default)]
pub struct WsHub {
    conns: RefCell<HashMap<u64, Rc<WsConn>>>,
    topics: RefCell<HashMap<String, HashSet<u64>>>,
    next: Cell<u64>,
}

impl WsHub {
    pub fn next_id(&self) -> u64 {
        self.next.set(self.next.get() + 1);
        self.next.get()
    }

    pub fn register(&self, core: &CoreState, conn: Rc<WsConn>) {
        self.conns.borrow_mut().insert(conn.id, conn);
        core.gauge().ws_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unregister(&self, core: &CoreState, conn: &WsConn) {
        if self.conns.borrow_mut().remove(&conn.id).is_some() {
            core.gauge().ws_connections.fetch_sub(1, Ordering::Relaxed);
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

    pub fn subscribe(&self, conn: &WsConn, topic: &str) {
        conn.subscriptions.borrow_mut().insert(topic.to_string());
        self.topics
            .borrow_mut()
            .entry(topic.to_string())
            .or_default()
            .insert(conn.id);
    }

    pub fn unsubscribe(&self, conn: &WsConn, topic: &str) {
        conn.subscriptions.borrow_mut().remove(topic);
        let mut topics = self.topics.borrow_mut();
        if let Some(set) = topics.get_mut(topic) {
            set.remove(&conn.id);
            if set.is_empty() {
                topics.remove(topic);
            }
        }
    }

    /// Queues `text` to every local subscriber of `topic`; returns how many took it.
    pub fn deliver(&self, topic: &str, text: &Bytes, priority: Priority) -> usize {
        let ids: Vec<u64> = match self.topics.borrow().get(topic) {
            Some(set) => set.iter().copied().collect(),
            None => return 0,
        };
        let conns = self.conns.borrow();
        ids.iter()
            .filter_map(|id| conns.get(id))
            .filter(|c| c.send(OutFrame::Text(text.clone(), priority)))
            .count()
    }

    pub fn all(&self) -> Vec<Rc<WsConn>> {
        let mut v: Vec<_> = self.conns.borrow().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.borrow().is_empty()
    }
}

/// Publishes a message to a topic on every core (this one included, through its inbox,
/// so ordering per topic is the inbox order everywhere).
pub fn publish(core: &CoreState, topic: &str, text: String, priority: Priority) {
    if let Some(m) = core.shared.mailboxes.get() {
        m.broadcast(CoreMessage::Publish {
            topic: Arc::from(topic),
            text: Bytes::from(text),
            priority,
        });
    }
}
