//! The music library: SQLite store (per-core readers, one writer), scanning, the demo
//! library. Shared by all cores through [`Library`]; each core opens its own
//! [`store::LibraryReader`].

pub mod accounts;
pub(crate) mod batch;
pub(crate) mod catalog;
pub mod cover;
pub mod demo;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod model;
pub(crate) mod ops;
pub(crate) mod page;
pub mod probe;
pub(crate) mod query;
pub(crate) mod riff_tags;
pub mod scan;
pub(crate) mod schema;
pub(crate) mod shared;
pub(crate) mod store;
pub mod tokens;
pub(crate) mod user_data;
pub(crate) mod writer;

pub use error::LibraryError;
use page::CursorCodec;
use scan::{ScanState, SharedProgress};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use writer::Writer;

/// Process-wide library handle. Crosses threads: the writer handle, the scan progress
/// (a mutex read only by the scan-status endpoint) and fixed paths and keys.
pub struct Library {
    pub db_path: PathBuf,
    pub writer: Writer,
    pub scan: SharedProgress,
    pub cursors: CursorCodec,
    /// The key of the tokens' keyed hashes (`token.key` in the data dir).
    pub(crate) token_key: [u8; 32],
    /// Seals users' passwords (`account.key` in the data dir; see [`accounts`]).
    pub(crate) vault: accounts::Vault,
    account_key: [u8; 32],
    /// The folder scans walk (`--library`, or the demo library).
    pub root: Option<PathBuf>,
    /// What scans may do to tracks whose files are gone.
    pub scan_policy: scan::ScanPolicy,
    /// Where committed changes are announced (set once at boot by the runtime); the
    /// shared store's writer announces other nodes' changes through it too.
    events: Arc<std::sync::OnceLock<events::EventSink>>,
}

/// Why the library could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("data dir {path} is not writable: {source}")]
    NotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or create the key {path}: {source}")]
    Key {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("library.database_url: {0}")]
    Shared(#[from] shared::SharedError),
    #[error("cannot start the shared library's writer or listener thread: {0}")]
    Thread(std::io::Error),
}

/// Where the library lives: this node's file alone, or a copy of a shared PostgreSQL
/// database (`[library] database_url`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sharing<'a> {
    pub database_url: Option<&'a str>,
    /// This node's name in the shared change feed.
    pub node: &'a str,
    /// What scans may do to tracks whose files are gone (`[library]`).
    pub scan_policy: scan::ScanPolicy,
}

/// A secret per data dir and purpose (`cursor.key`, `token.key`, `account.key`), so
/// cursors, tokens and sealed passwords survive restarts but can't be forged or read.
/// A new key file is written 0600 from its first byte (a temporary file made with that
/// mode, linked into place), never readable by others even for a moment; an existing
/// one of the wrong size is refused, not replaced (replacing `account.key` would lose
/// every user's password).
fn secret_key(data_dir: &Path, file: &str) -> Result<[u8; 32], OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(file);
    let err = |source| OpenError::Key {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} bytes, not 32: restore it from a backup", bytes.len()),
                ))
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut key = [0u8; 32];
    crate::random::fill(&mut key).map_err(err)?;
    let tmp = data_dir.join(format!(".{file}.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, &key)?;
            f.sync_all()
        })
        // link(2), not rename(2): if another process made the key meanwhile, theirs
        // stays and is the one used.
        .and_then(|()| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => secret_key(data_dir, file),
        Err(e) => Err(err(e)),
    }
}

/// Bytes the start-up probe writes: a data dir without this much room cannot take a
/// scan's first commits, so the server refuses to start rather than fail later.
const WRITE_PROBE_BYTES: usize = 64 * 1024;

/// Writes and removes a probe file, so a read-only or full data dir stops the start
/// with the OS's own reason ("Read-only file system", "No space left on device")
/// instead of an opaque database error on the first write.
fn check_writable(data_dir: &Path) -> Result<(), OpenError> {
    let probe = data_dir.join(".write-probe");
    let result = std::fs::write(&probe, vec![0u8; WRITE_PROBE_BYTES]);
    let _ = std::fs::remove_file(&probe);
    result.map_err(|source| OpenError::NotWritable {
        path: data_dir.to_path_buf(),
        source,
    })
}

impl Library {
    /// Opens (creating and migrating) `<data_dir>/library.db` and starts the writer.
    pub fn open(data_dir: &Path, root: Option<PathBuf>) -> Result<Arc<Library>, OpenError> {
        Self::open_shared(data_dir, root, Sharing::default())
    }

    /// [`open`](Self::open), the file being a copy of the shared database when
    /// `sharing` names one (made afresh from it, then kept following it).
    pub fn open_shared(
        data_dir: &Path,
        root: Option<PathBuf>,
        sharing: Sharing<'_>,
    ) -> Result<Arc<Library>, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        check_writable(data_dir)?;
        let db_path = data_dir.join("library.db");
        let db_err = |source| OpenError::Database {
            path: db_path.clone(),
            source,
        };
        let keys = (
            secret_key(data_dir, "cursor.key")?,
            secret_key(data_dir, "token.key")?,
            secret_key(data_dir, "account.key")?,
        );
        let events = Arc::new(std::sync::OnceLock::new());
        let scan_policy = sharing.scan_policy;
        let (writer, (cursor_key, token_key, account_key)) = match sharing.database_url {
            None => (Writer::start(&db_path).map_err(db_err)?, keys),
            Some(url) => {
                let mut conn = writer::open(&db_path).map_err(db_err)?;
                let opened =
                    shared::SharedStore::open(url, sharing.node, &mut conn, keys, events.clone())?;
                let listener = opened.store.listener();
                let writer = Writer::start_shared(conn, opened.store).map_err(OpenError::Thread)?;
                listener.spawn(writer.clone()).map_err(OpenError::Thread)?;
                (
                    writer,
                    (opened.cursor_key, opened.token_key, opened.account_key),
                )
            }
        };
        Ok(Arc::new(Library {
            db_path,
            writer,
            scan: SharedProgress::default(),
            cursors: CursorCodec::new(cursor_key),
            token_key,
            vault: accounts::Vault::new(&account_key),
            account_key,
            root,
            scan_policy,
            events,
        }))
    }

    /// Creates an access token (CLI: `token create`); the secret is returned once.
    pub fn create_token(
        &self,
        name: &str,
        role: tokens::Role,
    ) -> Result<(tokens::Principal, String), LibraryError> {
        let (name, key) = (name.to_string(), self.token_key);
        self.writer
            .run_blocking(move |c| tokens::create(c, &key, &name, role))?
    }

    /// Revokes a token by name or id (CLI: `token revoke`).
    pub fn revoke_token(&self, which: &str) -> Result<(), LibraryError> {
        let which = which.to_string();
        self.writer
            .run_blocking(move |c| tokens::revoke(c, &which))?
    }

    /// Creates a user with a password (CLI: `user create`).
    pub fn create_user(
        &self,
        name: &str,
        role: tokens::Role,
        password: &str,
    ) -> Result<tokens::Principal, LibraryError> {
        let (name, password, key) = (name.to_string(), password.to_string(), self.token_key);
        let vault = accounts::Vault::new(&self.account_key);
        self.writer
            .run_blocking(move |c| accounts::create(c, (&key, &vault), &name, role, &password))?
    }

    /// Replaces a user's password (CLI: `user passwd`).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), LibraryError> {
        let (name, password) = (name.to_string(), password.to_string());
        let vault = accounts::Vault::new(&self.account_key);
        self.writer
            .run_blocking(move |c| accounts::set_password(c, &vault, &name, &password))?
    }

    /// Deletes a user and revokes its API keys (CLI: `user delete`).
    pub fn delete_user(&self, name: &str) -> Result<(), LibraryError> {
        let name = name.to_string();
        self.writer
            .run_blocking(move |c| accounts::delete(c, &name))?
    }

    /// Every active user, without passwords (CLI: `user list`).
    pub fn users(&self) -> Result<Vec<accounts::UserInfo>, LibraryError> {
        self.writer.run_blocking(|c| accounts::list(c))?
    }

    /// Creates an API key acting as a user (CLI: `token create --user`); shown once.
    pub fn create_api_key(
        &self,
        user: &str,
        name: &str,
    ) -> Result<(tokens::Principal, String), LibraryError> {
        let (user, name, key) = (user.to_string(), name.to_string(), self.token_key);
        self.writer
            .run_blocking(move |c| accounts::create_api_key(c, &key, &user, &name))?
    }

    /// Every token, without secrets (CLI: `token list`).
    pub fn tokens(&self) -> Result<Vec<tokens::TokenInfo>, LibraryError> {
        self.writer.run_blocking(|c| tokens::list(c))?
    }

    /// How long the writer waits on a lock held by another process before a write
    /// fails as busy (then answered 503 with `Retry-After`).
    pub fn set_busy_timeout(&self, timeout: std::time::Duration) -> Result<(), LibraryError> {
        Ok(self
            .writer
            .run_blocking(move |c| c.busy_timeout(timeout))??)
    }

    /// Installs where committed changes are announced; the first call wins.
    pub(crate) fn set_event_sink(&self, sink: events::EventSink) {
        let _ = self.events.set(sink);
    }

    /// Announces events made outside a writer transaction (a scan's start and end) here
    /// and, through the shared store's feed, on the other nodes.
    fn announce_everywhere(&self, e: events::LibraryEvent) {
        self.announce(std::slice::from_ref(&e));
        if self.writer.shared.is_some() {
            let _ = self
                .writer
                .run_blocking(move |_| events::record_committed(e));
        }
    }

    fn announce(&self, events: &[events::LibraryEvent]) {
        if let Some(sink) = self.events.get()
            && !events.is_empty()
        {
            sink(events);
        }
    }

    /// Runs `f` in one writer transaction, committed when it succeeds (awaited from a
    /// core: the write never blocks its event loop); then announces its events.
    pub(crate) async fn transact<R: Send + 'static>(
        &self,
        f: impl FnOnce(&events::Tx<'_>) -> Result<R, LibraryError> + Send + 'static,
    ) -> Result<R, LibraryError> {
        self.transact_as(events::Owner::Anyone, f).await
    }

    /// [`transact`](Self::transact) acting for `owner`: operations on owned rows
    /// (playlists) see only that owner's, and new ones belong to it.
    pub(crate) async fn transact_as<R: Send + 'static>(
        &self,
        owner: events::Owner,
        f: impl FnOnce(&events::Tx<'_>) -> Result<R, LibraryError> + Send + 'static,
    ) -> Result<R, LibraryError> {
        let (r, events) = self
            .writer
            .run(move |c| {
                let tx = events::Tx::begin(c, owner)?;
                let r = f(&tx)?;
                Ok::<_, LibraryError>((r, tx.commit()?))
            })
            .await??;
        self.announce(&events);
        Ok(r)
    }

    /// Runs a batch of changes on the writer (see [`batch`]); announces what committed.
    pub(crate) async fn batch(
        &self,
        items: Vec<(String, batch::Action)>,
        atomic: bool,
        owner: events::Owner,
    ) -> Result<batch::BatchOutcome, LibraryError> {
        let (outcome, events) = self
            .writer
            .run(move |c| batch::run(c, items, atomic, owner))
            .await??;
        self.announce(&events);
        Ok(outcome)
    }

    /// Starts a scan of `root` on its own thread; `false` if one is already running.
    pub fn start_scan(self: &Arc<Self>, root: PathBuf) -> bool {
        {
            let Ok(mut p) = self.scan.lock() else {
                return false;
            };
            if p.state == ScanState::Running {
                return false;
            }
            // The report is of this scan from now on, not of the previous one.
            *p = scan::ScanProgress::starting(&root);
        }
        let lib = self.clone();
        let spawned = std::thread::Builder::new()
            .name("auralis-scan".into())
            .spawn(move || {
                lib.announce_everywhere(events::LibraryEvent::ScanStarted {
                    root: root.display().to_string(),
                });
                match scan::scan_blocking(&lib.writer, &root, &lib.scan, lib.scan_policy) {
                    Err(e @ scan::ScanError::Refused(_)) => {
                        tracing::warn!(root = %root.display(), reason = %e, "library scan refused");
                    }
                    Err(e) => {
                        tracing::error!(root = %root.display(), error = %e, "library scan failed")
                    }
                    Ok(()) => {}
                }
                let p = lib.scan.lock().map(|p| p.clone()).unwrap_or_default();
                lib.announce_everywhere(events::LibraryEvent::ScanFinished {
                    state: format!("{:?}", p.state).to_ascii_lowercase(),
                    added: p.added,
                    updated: p.updated,
                    removed: p.removed,
                    failed: p.failed,
                    missing: p.missing,
                    moved: p.moved,
                    reason: p.error.clone(),
                });
            });
        if spawned.is_err()
            && let Ok(mut p) = self.scan.lock()
        {
            p.state = ScanState::Failed;
        }
        spawned.is_ok()
    }
}
