//! The connection table of one core: who is connected, since when, how busy.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Instant, SystemTime};

/// Identifier of a connection, unique on its core.
pub type ConnId = u64;

/// What the core knows about one connection. Shared (`Rc`) between the table and the
/// connection's task so updates need no lookup.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub accepted_at: SystemTime,
    pub last_activity: Instant,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// A request is partly read or being answered (graceful shutdown waits for these).
    pub busy: bool,
}

pub type ConnHandle = Rc<RefCell<ConnectionInfo>>;

/// All open connections of one core.
#[derive(Debug, Default)]
pub struct ConnectionTable {
    next_id: ConnId,
    open: HashMap<ConnId, ConnHandle>,
}

impl ConnectionTable {
    pub fn open(&mut self, peer: SocketAddr) -> ConnHandle {
        self.next_id += 1;
        let info = Rc::new(RefCell::new(ConnectionInfo {
            id: self.next_id,
            peer,
            accepted_at: SystemTime::now(),
            last_activity: Instant::now(),
            requests: 0,
            bytes_in: 0,
            bytes_out: 0,
            busy: false,
        }));
        self.open.insert(self.next_id, info.clone());
        info
    }

    pub fn close(&mut self, id: ConnId) {
        self.open.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Connections in the middle of a request.
    pub fn busy(&self) -> usize {
        self.open.values().filter(|c| c.borrow().busy).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConnHandle> {
        self.open.values()
    }
}
