//! The one writer: a thread owning the read-write SQLite connection. Cores send it
//! jobs and await the result, so a write never blocks a core's event loop and SQLite
//! never sees two writers (no SQLITE_BUSY under load). With a shared store
//! (`[library] database_url`), the same thread also owns the PostgreSQL connection:
//! each job runs inside [`SharedStore::run`], and catch-up jobs apply other nodes'
//! commits to this node's copy.

use super::events;
use super::schema;
use super::shared::{SharedStatus, SharedStore};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

/// Jobs queued at most; past this, writes are refused with 503 instead of queueing.
pub(crate) const WRITER_QUEUE: usize = 1024;

/// Why a write could not run.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the database writer is overloaded")]
    Busy,
    #[error("the database writer has stopped")]
    Stopped,
    /// The shared library database refused or could not take the change; nothing was
    /// changed on this node either.
    #[error("the shared library database is unavailable: {0}")]
    Shared(Box<super::shared::SharedError>),
}

/// What the caller gets once the job's outcome is known: with a shared store, only
/// after the shared database committed (or refused) the job's changes.
pub(crate) type Deliver = Box<dyn FnOnce(Result<(), WriteError>) + Send>;

/// A job for the writer. Crosses threads.
pub(crate) trait WriteJob: Send {
    /// Runs the job; its result is handed over by the returned [`Deliver`].
    fn run(self: Box<Self>, conn: &mut Connection) -> Deliver;
    /// Answers without running (the shared database is unreachable).
    fn refuse(self: Box<Self>, e: WriteError);
}

struct Typed<F, R> {
    f: F,
    tx: async_channel::Sender<Result<R, WriteError>>,
}

impl<F, R> WriteJob for Typed<F, R>
where
    F: FnOnce(&mut Connection) -> R + Send,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut Connection) -> Deliver {
        let r = (self.f)(conn);
        let tx = self.tx;
        Box::new(move |outcome| {
            let _ = tx.send_blocking(outcome.map(|()| r));
        })
    }

    fn refuse(self: Box<Self>, e: WriteError) {
        let _ = self.tx.send_blocking(Err(e));
    }
}

enum Job {
    /// A write, with the span of the work that asked for it (its trace's parent).
    Work(Box<dyn WriteJob>, Option<crate::trace::SpanContext>),
    /// Apply other nodes' commits (sent by the shared store's listener).
    CatchUp,
}

/// Handle to the writer thread; cheap to clone, shared by all cores.
#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Job>,
    generation: Arc<AtomicU64>,
    catch_up_queued: Arc<AtomicBool>,
    /// The shared store's link status, when there is one.
    pub(crate) shared: Option<Arc<SharedStatus>>,
}

impl Writer {
    /// Opens (and migrates) the database and starts the writer thread.
    pub fn start(path: &Path) -> rusqlite::Result<Writer> {
        let conn = open(path)?;
        Self::spawn(conn, None).map_err(|e| {
            rusqlite::Error::InvalidPath(format!("cannot start writer thread: {e}").into())
        })
    }

    /// Like [`start`](Self::start), with this node's copy following a shared store
    /// (already connected and copied by the caller).
    pub(crate) fn start_shared(conn: Connection, store: SharedStore) -> std::io::Result<Writer> {
        Self::spawn(conn, Some(store))
    }

    fn spawn(mut conn: Connection, mut store: Option<SharedStore>) -> std::io::Result<Writer> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(WRITER_QUEUE);
        let writer = Writer {
            tx,
            generation: Arc::new(AtomicU64::new(1)),
            catch_up_queued: Arc::new(AtomicBool::new(false)),
            shared: store.as_ref().map(|s| s.status.clone()),
        };
        let (generation, queued) = (writer.generation.clone(), writer.catch_up_queued.clone());
        std::thread::Builder::new()
            .name("auralis-db-writer".into())
            .spawn(move || {
                for job in rx {
                    let changed = match (job, store.as_mut()) {
                        (Job::Work(job, parent), store) => {
                            let span = crate::trace::child_of(
                                parent,
                                "library write",
                                crate::trace::Kind::Internal,
                            );
                            let _current = crate::trace::ambient::enter(
                                span.as_ref().map(crate::trace::Span::context),
                            );
                            let changed = match store {
                                None => {
                                    job.run(&mut conn)(Ok(()));
                                    events::take_committed();
                                    true
                                }
                                Some(s) => s.run(&mut conn, job),
                            };
                            if let Some(span) = span {
                                span.end();
                            }
                            changed
                        }
                        (Job::CatchUp, Some(s)) => {
                            queued.store(false, Ordering::Release);
                            s.catch_up_now(&mut conn)
                        }
                        (Job::CatchUp, None) => false,
                    };
                    // Changed data: readers drop cached counts and track facts.
                    if changed {
                        generation.fetch_add(1, Ordering::Release);
                    }
                }
            })?;
        Ok(writer)
    }

    /// Data generation: changes after every write job.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Asks the writer to apply other nodes' commits soon (at most one such job is
    /// queued at a time).
    pub(crate) fn catch_up_soon(&self) {
        if self.catch_up_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.tx.try_send(Job::CatchUp).is_err() {
            self.catch_up_queued.store(false, Ordering::Release);
        }
    }

    fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<async_channel::Receiver<Result<R, WriteError>>, WriteError> {
        let (tx, rx) = async_channel::bounded(1);
        let job = Job::Work(Box::new(Typed { f, tx }), crate::trace::ambient::current());
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(WriteError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(WriteError::Stopped),
        }
    }

    /// Runs `f` on the writer and awaits its result (from a core: never blocks).
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, WriteError> {
        let rx = self.submit(f)?;
        rx.recv().await.map_err(|_| WriteError::Stopped)?
    }

    /// Runs `f` on the writer and blocks this thread for the result (scan threads).
    pub fn run_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, WriteError> {
        let rx = self.submit(f)?;
        rx.recv_blocking().map_err(|_| WriteError::Stopped)?
    }
}

/// The read-write connection, configured and migrated.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    schema::configure(&conn)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}
