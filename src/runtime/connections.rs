//! The connection table of one core: who is connected, since when, how busy.

use monoio::io::Canceller;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

/// Identifier of a connection, unique on its core.
pub(crate) type ConnId = u64;

/// What the core knows about one connection. Shared (`Rc`) between the table and the
/// connection's task so updates need no lookup.
pub(crate) struct ConnectionInfo {
    pub id: ConnId,
    pub last_activity: Instant,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// A request is partly read or being answered (graceful shutdown waits for these).
    pub busy: bool,
    /// When the pending read or write must have completed; the core's deadline sweep
    /// cancels the operation past it (one sweep per tick instead of a timer per read).
    pub deadline: Option<Instant>,
    /// Cancels the connection's in-flight read or write.
    pub canceller: Canceller,
    /// Set by the sweep when it cancelled an operation of this connection.
    pub timed_out: bool,
    /// The key its client is counted under (`cidr::client_key`).
    pub client: IpAddr,
}

pub(crate) type ConnHandle = Rc<RefCell<ConnectionInfo>>;

/// All open connections of one core.
#[derive(Default)]
pub(crate) struct ConnectionTable {
    next_id: ConnId,
    open: HashMap<ConnId, ConnHandle>,
    /// Open connections per client key (`http.max_connections_per_ip`).
    per_client: HashMap<IpAddr, u32>,
}

impl ConnectionTable {
    /// Opens an entry for a connection of `client` (a `cidr::client_key`).
    pub(crate) fn open(&mut self, client: IpAddr) -> ConnHandle {
        self.next_id += 1;
        *self.per_client.entry(client).or_insert(0) += 1;
        let info = Rc::new(RefCell::new(ConnectionInfo {
            id: self.next_id,
            last_activity: Instant::now(),
            requests: 0,
            bytes_in: 0,
            bytes_out: 0,
            busy: false,
            deadline: None,
            canceller: Canceller::new(),
            timed_out: false,
            client,
        }));
        self.open.insert(self.next_id, info.clone());
        info
    }

    pub(crate) fn close(&mut self, id: ConnId) {
        let Some(info) = self.open.remove(&id) else {
            return;
        };
        let client = info.borrow().client;
        if let Some(n) = self.per_client.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&client);
            }
        }
        // After a burst the map would keep its peak capacity (and the sweep would
        // walk it): give most of it back once it is mostly empty.
        let cap = self.open.capacity();
        if cap > 1024 && self.open.len() < cap / 8 {
            self.open.shrink_to(self.open.len() * 2);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    /// Open connections of one client key.
    pub(crate) fn of_client(&self, client: IpAddr) -> usize {
        self.per_client.get(&client).map_or(0, |&n| n as usize)
    }

    /// Connections in the middle of a request.
    pub(crate) fn busy(&self) -> usize {
        self.open.values().filter(|c| c.borrow().busy).count()
    }

    /// Cancels the pending operation of every connection whose deadline has passed.
    /// Returns how many were cancelled.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        for conn in self.open.values() {
            let mut c = conn.borrow_mut();
            if c.deadline.is_some_and(|d| d <= now) {
                c.deadline = None;
                c.timed_out = true;
                let old = std::mem::replace(&mut c.canceller, Canceller::new());
                c.canceller = old.cancel();
                n += 1;
            }
        }
        n
    }
}
