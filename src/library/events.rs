//! Library events: what changed, emitted once the change has committed, whatever made
//! it (an HTTP request, a WebSocket message, a batch, a scan). Operations record them
//! on the transaction ([`Tx::emit`]); `Library::transact` and `Library::batch` hand
//! the committed ones to the sink the runtime installed at boot (the WebSocket
//! `library` topic). A rolled-back change emits nothing. The library knows no sockets.

use rusqlite::{Connection, Savepoint};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::ops::Deref;

/// One committed change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum LibraryEvent {
    /// `owner`: the listener whose favorite it is (`None`: the shared flag).
    FavoriteChanged {
        track_id: i64,
        favorite: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<i64>,
    },
    TagsChanged {
        track_id: i64,
    },
    /// `owner`: the listener whose playlist it is (`None`: it belongs to no one).
    PlaylistCreated {
        playlist_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<i64>,
    },
    PlaylistChanged {
        playlist_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<i64>,
    },
    PlaylistDeleted {
        playlist_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<i64>,
    },
    ScanStarted {
        root: String,
    },
    ScanFinished {
        state: String,
        added: u64,
        updated: u64,
        removed: u64,
        failed: u64,
        /// Newly marked missing, and found again elsewhere (added with v8).
        #[serde(default)]
        missing: u64,
        #[serde(default)]
        moved: u64,
        /// Why a scan was refused or failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl LibraryEvent {
    /// The listener this change belongs to, if any: only its sockets and admins hear it.
    pub(crate) fn owner(&self) -> Option<i64> {
        match self {
            LibraryEvent::FavoriteChanged { owner, .. }
            | LibraryEvent::PlaylistCreated { owner, .. }
            | LibraryEvent::PlaylistChanged { owner, .. }
            | LibraryEvent::PlaylistDeleted { owner, .. } => *owner,
            _ => None,
        }
    }
}

/// Where committed events go (installed once at boot; none in tools like `scan`).
pub(crate) type EventSink = Box<dyn Fn(&[LibraryEvent]) + Send + Sync>;

/// Whose data a request may see and touch: everyone's (an admin), one principal's own
/// (a listener's playlists and favorites), or — without a token — only what belongs
/// to no one (another listener's playlist is as absent to an anonymous reader as to
/// another listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Anyone,
    Principal(i64),
    Nobody,
}

impl Owner {
    /// The owner a new row gets (`None`: made without a principal).
    pub(crate) fn id(self) -> Option<i64> {
        match self {
            Owner::Anyone | Owner::Nobody => None,
            Owner::Principal(id) => Some(id),
        }
    }

    /// An SQL condition on `column` (an owner id) for the rows this owner may see.
    /// The id is ours (an integer from the tokens table), so it is inlined.
    pub(crate) fn visible(self, column: &str) -> String {
        match self {
            Owner::Anyone => "1".to_string(),
            Owner::Nobody => format!("{column} IS NULL"),
            Owner::Principal(id) => format!("{column} = {id}"),
        }
    }
}

thread_local! {
    /// Events committed by the writer's current job, for a shared store to pass on
    /// to the other nodes with the job's changes (only the writer thread runs a `Tx`).
    static COMMITTED: RefCell<Vec<LibraryEvent>> = const { RefCell::new(Vec::new()) };
}

/// Takes the events committed on this thread since the last call.
pub(crate) fn take_committed() -> Vec<LibraryEvent> {
    COMMITTED.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// Records an event made outside a `Tx` (a scan's start and end) for the other nodes.
pub(crate) fn record_committed(e: LibraryEvent) {
    COMMITTED.with(|c| c.borrow_mut().push(e));
}

/// A writer transaction that collects the events of the changes made in it, acting
/// for one [`Owner`]. A savepoint, so that a shared store's writer can hold one outer
/// transaction open until the shared database has committed (alone, it is a plain
/// transaction).
pub(crate) struct Tx<'c> {
    tx: Savepoint<'c>,
    events: RefCell<Vec<LibraryEvent>>,
    owner: Owner,
}

impl<'c> Tx<'c> {
    pub(crate) fn begin(c: &'c mut Connection, owner: Owner) -> rusqlite::Result<Self> {
        Ok(Self {
            tx: c.savepoint()?,
            events: RefCell::new(Vec::new()),
            owner,
        })
    }

    /// Whom this transaction acts for.
    pub(crate) fn owner(&self) -> Owner {
        self.owner
    }

    /// Records an event, emitted only if this transaction commits.
    pub(crate) fn emit(&self, e: LibraryEvent) {
        self.events.borrow_mut().push(e);
    }

    /// Events recorded so far (a savepoint rolled back truncates back to this).
    pub(crate) fn mark(&self) -> usize {
        self.events.borrow().len()
    }

    pub(crate) fn forget_since(&self, mark: usize) {
        self.events.borrow_mut().truncate(mark);
    }

    /// Commits; the events are the caller's to emit.
    pub(crate) fn commit(self) -> rusqlite::Result<Vec<LibraryEvent>> {
        self.tx.commit()?;
        let events = self.events.into_inner();
        COMMITTED.with(|c| c.borrow_mut().extend(events.iter().cloned()));
        Ok(events)
    }

    pub(crate) fn rollback(mut self) -> rusqlite::Result<()> {
        self.tx.rollback()
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.tx
    }
}
