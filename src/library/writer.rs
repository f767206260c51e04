//! The one writer: a thread owning the read-write SQLite connection. Cores send it
//! closures and await the result, so a write never blocks a core's event loop and
//! SQLite never sees two writers (no SQLITE_BUSY under load).

use super::schema;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

/// A job for the writer. Crosses threads.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Jobs queued at most; past this, writes are refused with 503 instead of queueing.
pub(crate) const WRITER_QUEUE: usize = 1024;

/// Why a write could not run.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the database writer is overloaded")]
    Busy,
    #[error("the database writer has stopped")]
    Stopped,
}

/// Handle to the writer thread; cheap to clone, shared by all cores.
#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Job>,
    generation: Arc<AtomicU64>,
}

impl Writer {
    /// Opens (and migrates) the database and starts the writer thread.
    pub fn start(path: &Path) -> rusqlite::Result<Writer> {
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(WRITER_QUEUE);
        let generation = Arc::new(AtomicU64::new(1));
        let gen2 = generation.clone();
        std::thread::Builder::new()
            .name("auralis-db-writer".into())
            .spawn(move || {
                for job in rx {
                    job(&mut conn);
                    // Every job may have changed data: readers drop cached counts.
                    gen2.fetch_add(1, Ordering::Release);
                }
            })
            .map_err(|e| {
                rusqlite::Error::InvalidPath(format!("cannot start writer thread: {e}").into())
            })?;
        Ok(Writer { tx, generation })
    }

    /// Data generation: changes after every write job.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<async_channel::Receiver<R>, WriteError> {
        let (tx, rx) = async_channel::bounded(1);
        let job: Job = Box::new(move |conn| {
            let _ = tx.send_blocking(f(conn));
        });
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
        rx.recv().await.map_err(|_| WriteError::Stopped)
    }

    /// Runs `f` on the writer and blocks this thread for the result (scan threads).
    pub fn run_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, WriteError> {
        let rx = self.submit(f)?;
        rx.recv_blocking().map_err(|_| WriteError::Stopped)
    }
}
