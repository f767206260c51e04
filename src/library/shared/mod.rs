//! The shared library store (`[library] database_url = "postgres://…"`): PostgreSQL
//! holds the library every node serves, and each node keeps its SQLite file as a copy
//! that follows it, so the domain API, its SQL and the cores' reads stay exactly those
//! of a single node (reads never leave the node, nor block a core on the network).
//!
//! Writes: the node's writer thread takes the store's advisory lock in a PostgreSQL
//! transaction, applies every commit it has not seen, runs the job on its copy inside
//! one open SQLite transaction, ships the rows the job changed (captured by TEMP
//! triggers) with the job's events, and commits PostgreSQL first, SQLite second. The
//! lock serializes writers across nodes and each writes on an up-to-date copy, so new
//! rows get the same ids everywhere, constraints are checked as on one node, and a
//! failed write changes nothing anywhere (the caller gets 503).
//!
//! Reads elsewhere: each commit NOTIFYs; every node's listener thread asks its writer
//! to fetch the changed rows and apply them in one transaction (the data generation
//! moves, so per-core count and track caches are re-read), and the commit's events
//! reach that node's `library` topic. A node that is behind the feed's horizon, or
//! starting, copies every row.

mod capture;
mod follow;
mod listen;
mod resume;
mod ship;
mod status;
pub(crate) mod tables;
mod values;

use super::events::{self, EventSink, LibraryEvent};
use super::writer::{WriteError, WriteJob};
use crate::cluster::backoff::Backoff;
use rusqlite::Connection;
pub(crate) use status::{SharedReport, SharedStatus};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use values::Key;

/// The advisory lock every node's writer takes around a write ("auralis").
const LOCK_KEY: i64 = 0x0061_7572_616c_6973;
/// Connect limit for both connections.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the shared store failed.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("postgresql: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("local copy: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the change feed holds an unknown table {0:?}")]
    UnknownTable(String),
    #[error("{table}.{column} holds a value of another type")]
    Type {
        table: &'static str,
        column: &'static str,
    },
    #[error("change feed entry: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the connection was closed")]
    Closed,
    #[error("no random bytes for the database's id: {0}")]
    Random(std::io::Error),
}

pub(crate) fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("auralis-server");
    config.connect(postgres::NoTls)
}

/// The secrets every node must share (cursor, token and account keys): the first node's
/// become everyone's.
fn shared_secret(
    pg: &mut postgres::Transaction<'_>,
    name: &str,
    candidate: [u8; 32],
) -> Result<[u8; 32], SharedError> {
    pg.execute(
        "INSERT INTO cluster_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&name, &candidate.to_vec()],
    )?;
    let secret: Vec<u8> = pg
        .query_one(
            "SELECT secret FROM cluster_secrets WHERE name = $1",
            &[&name],
        )?
        .get(0);
    secret.try_into().map_err(|_| SharedError::Type {
        table: "cluster_secrets",
        column: "secret",
    })
}

/// The listener thread's part, before it starts.
pub(crate) struct Listener {
    url: String,
    status: Arc<SharedStatus>,
}

impl Listener {
    pub(crate) fn spawn(self, writer: super::writer::Writer) -> std::io::Result<()> {
        listen::spawn(self.url, writer, self.status)
    }
}

/// The writer's side of the store (owned by the writer thread).
pub(crate) struct SharedStore {
    url: String,
    node: String,
    client: Option<postgres::Client>,
    backoff: Backoff,
    /// The newest feed commit this copy includes.
    last_seq: i64,
    /// The copy may differ from the store (a local commit failed after the store's).
    needs_copy: bool,
    pub(crate) status: Arc<SharedStatus>,
    events: Arc<OnceLock<EventSink>>,
}

/// What opening the store gives the library: the writer's side and the shared keys.
pub(crate) struct Opened {
    pub store: SharedStore,
    pub cursor_key: [u8; 32],
    pub token_key: [u8; 32],
    /// Seals users' passwords: every node must open every node's.
    pub account_key: [u8; 32],
}

impl SharedStore {
    /// Connects, creates the schema if missing, agrees on the shared keys and copies
    /// the store into `conn` (this node's file).
    pub(crate) fn open(
        url: &str,
        node: &str,
        conn: &mut Connection,
        keys: ([u8; 32], [u8; 32], [u8; 32]),
        events: Arc<OnceLock<EventSink>>,
    ) -> Result<Opened, SharedError> {
        let mut client = connect(url)?;
        let mut pg = client.transaction()?;
        pg.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
        pg.batch_execute(tables::PG_SCHEMA)?;
        let cursor_key = shared_secret(&mut pg, "cursor", keys.0)?;
        let token_key = shared_secret(&mut pg, "token", keys.1)?;
        let account_key = shared_secret(&mut pg, "account", keys.2)?;
        // This database's id: a copy made from another one is never resumed.
        let mut id = [0u8; 32];
        crate::random::fill(&mut id).map_err(SharedError::Random)?;
        let store_id: String = shared_secret(&mut pg, "store", id)?[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let head = feed_head(&mut pg)?;
        // A mark past the feed's head: the database was restored from an older backup.
        let resume = resume::prepare(conn, &store_id)?.filter(|&seq| seq <= head);
        let status = Arc::new(SharedStatus::default());
        status.writable.store(true, Ordering::Relaxed);
        let mut store = SharedStore {
            url: url.to_string(),
            node: node.to_string(),
            client: None,
            backoff: Backoff::default(),
            last_seq: resume.unwrap_or(0),
            needs_copy: resume.is_none(),
            status,
            events,
        };
        store.advance(store.last_seq);
        store.catch_up(&mut pg, conn)?;
        pg.commit()?;
        store.client = Some(client);
        capture::install(conn)?;
        Ok(Opened {
            store,
            cursor_key,
            token_key,
            account_key,
        })
    }

    /// What the listener thread needs (started once the writer exists).
    pub(crate) fn listener(&self) -> Listener {
        Listener {
            url: self.url.clone(),
            status: self.status.clone(),
        }
    }

    /// The connection, (re)made when the backoff allows.
    fn take_client(&mut self) -> Result<postgres::Client, SharedError> {
        if let Some(c) = self.client.take().filter(|c| !c.is_closed()) {
            return Ok(c);
        }
        if !self.backoff.ready() {
            return Err(SharedError::Closed);
        }
        match connect(&self.url) {
            Ok(c) => {
                self.backoff.succeeded();
                Ok(c)
            }
            Err(e) => {
                self.backoff.failed();
                Err(e.into())
            }
        }
    }

    fn outcome<T>(&mut self, client: postgres::Client, r: &Result<T, SharedError>) {
        let closed = client.is_closed();
        if !closed {
            self.client = Some(client);
        }
        let ok = r.is_ok() || !closed;
        self.status.writable.store(ok, Ordering::Relaxed);
        if let Err(e) = r {
            self.status.failed("write", e);
        }
    }

    /// Runs one write job (see the module doc); `true` if this node's data changed.
    pub(crate) fn run(&mut self, conn: &mut Connection, job: Box<dyn WriteJob>) -> bool {
        let mut client = match self.take_client() {
            Ok(c) => c,
            Err(e) => {
                self.status.writable.store(false, Ordering::Relaxed);
                self.status.failed("connect", &e);
                self.status.refused_writes.fetch_add(1, Ordering::Relaxed);
                job.refuse(WriteError::Shared(Box::new(e)));
                return false;
            }
        };
        let r = self.write(&mut client, conn, job);
        self.outcome(client, &r);
        r.unwrap_or(true)
    }

    // Long: the two-database commit protocol in one place, each step's failure handled
    // where it happens (before the job: refused; after it: rolled back everywhere).
    fn write(
        &mut self,
        client: &mut postgres::Client,
        conn: &mut Connection,
        job: Box<dyn WriteJob>,
    ) -> Result<bool, SharedError> {
        let mut pg = match self.begin(client, conn) {
            Ok(pg) => pg,
            Err(e) => {
                self.status.refused_writes.fetch_add(1, Ordering::Relaxed);
                self.status.failed("write", &e);
                job.refuse(WriteError::Shared(Box::new(e)));
                return Ok(false);
            }
        };
        let shipped = capture::clear(conn)
            .map_err(SharedError::from)
            .map(|()| job.run(conn))
            .and_then(|deliver| {
                let events = events::take_committed();
                let changed = capture::changed(conn)?;
                let mut span =
                    crate::trace::child("ship library commit", crate::trace::Kind::Client);
                if let Some(span) = &mut span {
                    span.set("db.system.name", "postgresql");
                    span.set("db.operation.name", "COMMIT");
                    span.set("db.collection.name", "library_commits");
                    span.set("auralis.changed_rows", changed.len() as u64);
                }
                let shipped = ship::ship(&mut pg, conn, &self.node, &changed, &events)
                    .and_then(|seq| Ok(pg.commit().map(|()| seq)?));
                if let Some(mut span) = span {
                    if let Err(e) = &shipped {
                        span.fail(e.to_string());
                    }
                    span.end();
                }
                Ok((deliver, shipped?))
            });
        match shipped {
            Ok((deliver, seq)) => {
                let mut local = Ok(());
                if let Some(seq) = seq {
                    self.advance(seq);
                    // In the job's own transaction: the mark and the rows agree.
                    local = resume::record(conn, seq);
                }
                if let Err(e) = local.and_then(|()| conn.execute_batch("COMMIT")) {
                    // The store has the change; the copy is made again from it.
                    self.status.failed("local commit", &e);
                    self.needs_copy = true;
                }
                deliver(Ok(()));
                Ok(true)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                self.status.refused_writes.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// The store's transaction holding the lock, with this copy caught up and its own
    /// transaction open.
    fn begin<'c>(
        &mut self,
        client: &'c mut postgres::Client,
        conn: &mut Connection,
    ) -> Result<postgres::Transaction<'c>, SharedError> {
        let mut pg = client.transaction()?;
        pg.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
        self.catch_up(&mut pg, conn)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(pg)
    }

    fn advance(&mut self, seq: i64) {
        self.last_seq = seq;
        self.status.applied(seq);
    }

    /// A catch-up job from the listener: applies other nodes' commits now. A
    /// connection found dead (the database restarted) is replaced once at once: the
    /// listener only asks again on the next commit.
    pub(crate) fn catch_up_now(&mut self, conn: &mut Connection) -> bool {
        for _ in 0..2 {
            let mut client = match self.take_client() {
                Ok(c) => c,
                Err(e) => {
                    self.status.failed("catch up", &e);
                    return false;
                }
            };
            let r = self.catch_up(&mut client, conn);
            let retry = r.is_err() && client.is_closed();
            self.outcome(client, &r);
            if !retry {
                return matches!(r, Ok(n) if n > 0);
            }
            self.backoff.succeeded();
        }
        false
    }

    /// Applies every feed commit after this copy's; returns how many.
    fn catch_up(
        &mut self,
        pg: &mut impl postgres::GenericClient,
        conn: &mut Connection,
    ) -> Result<usize, SharedError> {
        let pruned: i64 = pg
            .query_opt(
                "SELECT value FROM cluster_state WHERE name = 'feed_pruned_through'",
                &[],
            )?
            .map_or(0, |r| r.get(0));
        if self.needs_copy || self.last_seq < pruned {
            let head = feed_head(pg)?;
            follow::copy_all(pg, conn, head)?;
            self.needs_copy = false;
            self.status.full_copies.fetch_add(1, Ordering::Relaxed);
            self.advance(head);
            return Ok(1);
        }
        let rows = pg.query(
            "SELECT seq, changes, events, traceparent FROM library_commits WHERE seq > $1 ORDER BY seq",
            &[&self.last_seq],
        )?;
        let applying = applying_spans(&rows);
        let Some(head) = rows.last().map(|r| r.get::<_, i64>(0)) else {
            return Ok(0);
        };
        let mut keys: Vec<(String, Key)> = Vec::new();
        let mut announced: Vec<LibraryEvent> = Vec::new();
        for r in &rows {
            keys.extend(serde_json::from_str::<Vec<(String, Key)>>(r.get(1))?);
            announced.extend(serde_json::from_str::<Vec<LibraryEvent>>(r.get(2))?);
        }
        let applied = follow::apply_keys(pg, conn, &keys, head);
        for mut span in applying {
            if let Err(e) = &applied {
                span.fail(e.to_string());
            }
            span.end();
        }
        applied?;
        self.advance(head);
        self.status
            .remote_commits
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        if let Some(sink) = self.events.get()
            && !announced.is_empty()
        {
            sink(&announced);
        }
        Ok(rows.len())
    }
}

/// One CONSUMER span per traced commit being applied here: the other node's write
/// and this node's apply are one trace.
fn applying_spans(rows: &[postgres::Row]) -> Vec<crate::trace::Span> {
    if crate::trace::tracer().is_none() {
        return Vec::new();
    }
    rows.iter()
        .filter_map(|r| {
            let parent = r.get::<_, Option<&str>>(3)?;
            let parent = crate::trace::SpanContext::parse(parent).ok();
            let mut span = crate::trace::child_of(
                parent,
                "apply library commit",
                crate::trace::Kind::Consumer,
            )?;
            span.set("db.system.name", "postgresql");
            span.set("auralis.commit_seq", r.get::<_, i64>(0));
            Some(span)
        })
        .collect()
}

/// The newest commit in the feed (0 when empty).
fn feed_head(pg: &mut impl postgres::GenericClient) -> Result<i64, SharedError> {
    Ok(pg
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM library_commits", &[])?
        .get(0))
}
