//! Library scan: walk a folder, probe new or changed files (size + mtime), upsert them
//! in batches through the writer, mark vanished ones missing. Runs on its own thread; a
//! file that fails to probe is reported, never fatal.
//!
//! A scan never destroys what users made: a track whose file is gone keeps its row, its
//! id, its favorites and playlist entries, and comes back when the file does (at the
//! same path, or anywhere, found by its content fingerprint); it is deleted only after
//! `library.missing_grace_days`. A scan whose folder is empty while tracks are known,
//! or that would newly lose more than `library.max_missing_share` of them, changes
//! nothing at all and says why: an unmounted disk looks exactly like that.

use super::probe::{self, AUDIO_EXTENSIONS, Probed};
use super::schema::sort_key;
use super::writer::{WriteError, Writer};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// Files per write transaction.
const BATCH: usize = 64;
/// Failures kept in the report (the count is exact).
const MAX_FAILURES_LISTED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    #[default]
    Idle,
    Running,
    Completed,
    Failed,
    /// Stopped before changing anything (`error` says why).
    Refused,
}

/// What a scan may do to tracks whose files are gone.
#[derive(Debug, Clone, Copy)]
pub struct ScanPolicy {
    /// Missing this long (ms), a track is deleted by the next scan.
    pub missing_grace_ms: i64,
    /// The most of the known tracks one scan may newly mark missing.
    pub max_missing_share: f64,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        crate::config::LibraryConfig::default().scan_policy()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanFailure {
    pub path: String,
    pub error: String,
}

/// Progress and result of the current or last scan.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ScanProgress {
    pub state: ScanState,
    pub root: Option<String>,
    pub files_seen: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Tracks newly marked missing (their files are gone; rows kept).
    pub missing: u64,
    /// Tracks found again under another path by their content (same id).
    pub moved: u64,
    /// Tracks deleted after `library.missing_grace_days` missing.
    pub removed: u64,
    pub failed: u64,
    pub failures: Vec<ScanFailure>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<u64>,
    pub error: Option<String>,
}

/// Shared progress cell: written by the scan thread, read by API handlers (rarely).
pub type SharedProgress = Arc<Mutex<ScanProgress>>;

fn update(progress: &SharedProgress, f: impl FnOnce(&mut ScanProgress)) {
    if let Ok(mut p) = progress.lock() {
        f(&mut p);
    }
}

struct FileInfo {
    path: PathBuf,
    size: i64,
    mtime: i64,
}

fn walk(root: &Path, out: &mut Vec<FileInfo>) -> std::io::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let Ok(entry) = entry else { continue };
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(|e| e.to_ascii_lowercase())
                    .unwrap_or_default();
                if !AUDIO_EXTENSIONS.contains(&ext.as_str()) {
                    continue;
                }
                let Ok(meta) = entry.metadata() else { continue };
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                out.push(FileInfo {
                    path,
                    size: meta.len() as i64,
                    mtime,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

/// Finds or creates an artist by exact name.
/// The artist of a track with no artist tag and no `Artist/Album/` folder.
pub const UNKNOWN_ARTIST: &str = "Unknown Artist";
/// The album of a track with no album tag and no folder.
pub const UNKNOWN_ALBUM: &str = "Unknown Album";

pub(crate) fn artist_id(tx: &Connection, name: Option<&str>) -> rusqlite::Result<Option<i64>> {
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return Ok(None);
    };
    if let Some(id) = tx
        .query_row("SELECT id FROM artists WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?
    {
        return Ok(Some(id));
    }
    tx.execute(
        "INSERT INTO artists(name, name_key) VALUES (?1, ?2)",
        params![name, sort_key(Some(name))],
    )?;
    Ok(Some(tx.last_insert_rowid()))
}

pub(crate) fn album_id(
    tx: &Connection,
    title: Option<&str>,
    artist: Option<i64>,
    year: Option<i64>,
) -> rusqlite::Result<Option<i64>> {
    let Some(title) = title.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    if let Some(id) = tx
        .query_row(
            "SELECT id FROM albums WHERE title = ?1 AND artist_id IS ?2",
            params![title, artist],
            |r| r.get(0),
        )
        .optional()?
    {
        return Ok(Some(id));
    }
    tx.execute(
        "INSERT INTO albums(title, artist_id, year, title_key) VALUES (?1, ?2, ?3, ?4)",
        params![title, artist, year, sort_key(Some(title))],
    )?;
    Ok(Some(tx.last_insert_rowid()))
}

/// What `upsert_track` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Added,
    Updated,
    /// A missing track found again at a new path by its content fingerprint.
    Moved,
}

/// The id a new track gets: above every id ever given (`id_floor`), never a reused
/// one, and the floor raised to it.
fn next_track_id(tx: &Connection) -> rusqlite::Result<i64> {
    let id: i64 = tx.query_row(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM tracks), 0), COALESCE((SELECT floor FROM id_floor WHERE id = 1), 0)) + 1",
        [],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO id_floor(id, floor) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET floor = MAX(floor, excluded.floor)",
        [id],
    )?;
    Ok(id)
}

/// The row a probed file is: the track at its path, else a missing track with its
/// content fingerprint (`true`: found by content, the file moved), else none.
fn known_track(
    tx: &Connection,
    path: &str,
    fingerprint: Option<&str>,
) -> rusqlite::Result<(Option<i64>, bool)> {
    let by_path: Option<i64> = tx
        .query_row("SELECT id FROM tracks WHERE path = ?1", [path], |r| {
            r.get(0)
        })
        .optional()?;
    if by_path.is_some() {
        return Ok((by_path, false));
    }
    let Some(fp) = fingerprint else {
        return Ok((None, false));
    };
    let moved: Option<i64> = tx
        .query_row(
            "SELECT id FROM tracks WHERE fingerprint = ?1 AND missing = 1 ORDER BY id LIMIT 1",
            [fp],
            |r| r.get(0),
        )
        .optional()?;
    Ok((moved, moved.is_some()))
}

// Long: a row's 30 columns are bound once, in column order, for whichever of the two
// statements runs; split, the two lists would have to stay in step by hand.
/// Inserts or updates one track row from a probe: by path, else a missing track with
/// the same content fingerprint (a moved or renamed file keeps its id), else new.
pub fn upsert_track(
    tx: &Connection,
    path: &str,
    size: i64,
    mtime: i64,
    p: &Probed,
    now_ms: i64,
) -> rusqlite::Result<Upserted> {
    let title = p.title.clone().unwrap_or_else(|| {
        Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("untitled")
            .to_string()
    });
    // Untagged and outside an `Artist/Album/` folder: grouped under named entries, so
    // browsing by artist or album reaches every track.
    let artist_name = p.artist.as_deref().unwrap_or(UNKNOWN_ARTIST);
    let album_name = p.album.as_deref().unwrap_or(UNKNOWN_ALBUM);
    let artist = artist_id(tx, Some(artist_name))?;
    let album_artist = match p.album_artist.as_deref() {
        Some(aa) => artist_id(tx, Some(aa))?,
        None => artist,
    };
    let album = album_id(tx, Some(album_name), album_artist, p.year)?;
    let (existing, moved) = known_track(tx, path, p.fingerprint.as_deref())?;
    let tag_source = serde_json::to_string(&p.tag_source).unwrap_or_default();
    let values = params![
        path,
        p.format,
        p.codec,
        p.duration_ms,
        p.sample_rate,
        p.channels,
        p.bit_depth,
        size,
        mtime,
        title,
        artist_name,
        album_name,
        p.album_artist,
        p.track_number,
        p.disc_number,
        p.year,
        p.genre,
        artist,
        album,
        sort_key(Some(&title)),
        sort_key(Some(artist_name)),
        sort_key(Some(album_name)),
        p.year.unwrap_or(0),
        p.frames,
        tag_source,
        p.fingerprint,
        p.loudness_lufs,
        p.album_loudness_lufs,
        p.cover,
    ];
    match existing {
        Some(id) => {
            tx.execute(
                "UPDATE tracks SET path=?1, format=?2, codec=?3, duration_ms=?4, sample_rate=?5, channels=?6, bit_depth=?7,
                 file_size=?8, mtime=?9, title=?10, artist=?11, album=?12, album_artist=?13, track_number=?14,
                 disc_number=?15, year=?16, genre=?17, artist_id=?18, album_id=?19, title_key=?20, artist_key=?21,
                 album_key=?22, year_key=?23, frames=?24, tag_source=?25, fingerprint=?26, missing=0,
                 missing_since=NULL, loudness_lufs=?27, album_loudness_lufs=?28, cover=?29
                 WHERE id = ?30",
                rusqlite::params_from_iter(values.iter().copied().chain(std::iter::once(&id as &dyn rusqlite::ToSql))),
            )?;
            Ok(if moved {
                Upserted::Moved
            } else {
                Upserted::Updated
            })
        }
        None => {
            let id = next_track_id(tx)?;
            let tail: [&dyn rusqlite::ToSql; 2] = [&now_ms, &id];
            tx.execute(
                "INSERT INTO tracks(path, format, codec, duration_ms, sample_rate, channels, bit_depth, file_size, mtime,
                 title, artist, album, album_artist, track_number, disc_number, year, genre, artist_id, album_id,
                 title_key, artist_key, album_key, year_key, frames, tag_source, fingerprint, loudness_lufs,
                 album_loudness_lufs, cover, added_at, id)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,
                 ?27,?28,?29,?30,?31)",
                rusqlite::params_from_iter(values.iter().copied().chain(tail)),
            )?;
            Ok(Upserted::Added)
        }
    }
}

/// Drops artists and albums no track refers to any more.
pub(crate) fn prune_orphans(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DELETE FROM albums WHERE id NOT IN (SELECT album_id FROM tracks WHERE album_id IS NOT NULL);
         DELETE FROM artists WHERE id NOT IN (SELECT artist_id FROM tracks WHERE artist_id IS NOT NULL)
                              AND id NOT IN (SELECT artist_id FROM albums WHERE artist_id IS NOT NULL);",
    )
}

impl ScanProgress {
    /// The report of a scan of `root` starting now.
    pub(crate) fn starting(root: &Path) -> Self {
        ScanProgress {
            state: ScanState::Running,
            root: Some(root.display().to_string()),
            started_at: Some(crate::timestamp::timestamp_now()),
            ..ScanProgress::default()
        }
    }
}

/// Why a scan stopped (a file that cannot be probed does not stop it: it is counted
/// in `failed` and listed in the report).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot scan {path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Walk {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("library writer unavailable: {0}")]
    Writer(#[from] WriteError),
    #[error("database failed: {0}")]
    Database(#[from] rusqlite::Error),
    /// Nothing was changed.
    #[error("scan refused, nothing changed: {0}")]
    Refused(String),
}

/// Scans `root` to completion on this thread, reporting into `progress`.
pub fn scan_blocking(
    writer: &Writer,
    root: &Path,
    progress: &SharedProgress,
    policy: ScanPolicy,
) -> Result<(), ScanError> {
    let started = std::time::Instant::now();
    update(progress, |p| *p = ScanProgress::starting(root));
    let result = scan_inner(writer, root, progress, policy);
    update(progress, |p| {
        p.finished_at = Some(crate::timestamp::timestamp_now());
        p.elapsed_ms = Some(started.elapsed().as_millis() as u64);
        match &result {
            Ok(()) => p.state = ScanState::Completed,
            Err(ScanError::Refused(why)) => {
                p.state = ScanState::Refused;
                p.error = Some(why.clone());
            }
            Err(e) => {
                p.state = ScanState::Failed;
                p.error = Some(e.to_string());
            }
        }
    });
    if let Ok(p) = progress.lock() {
        tracing::info!(root = %root.display(), seen = p.files_seen, added = p.added, updated = p.updated,
            unchanged = p.unchanged, missing = p.missing, moved = p.moved, removed = p.removed,
            failed = p.failed, ms = p.elapsed_ms, "library scan finished");
    }
    result
}

// Long: walk, guard, probe and batch-write in one pass; the batch, the seen set and
// the progress are locals every step updates.
fn scan_inner(
    writer: &Writer,
    root: &Path,
    progress: &SharedProgress,
    policy: ScanPolicy,
) -> Result<(), ScanError> {
    let root = root.canonicalize().map_err(|source| ScanError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    walk(&root, &mut files).map_err(|source| ScanError::Walk {
        path: root.clone(),
        source,
    })?;
    update(progress, |p| p.files_seen = files.len() as u64);

    let prefix = format!("{}/", root.display());
    let known: HashMap<String, (i64, i64)> =
        writer.run_blocking(move |c| -> rusqlite::Result<HashMap<String, (i64, i64)>> {
            let mut st = c.prepare(
                // A track marked missing never reads as unchanged: the rescan that
                // finds its file again probes it and clears the mark.
                "SELECT path, file_size, CASE WHEN missing THEN -1 ELSE mtime END FROM tracks
                 WHERE substr(path, 1, length(?1)) = ?1",
            )?;
            let rows = st.query_map([prefix], |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?)))
            })?;
            rows.collect()
        })??;
    let (vanished, newly) = guard_vanished(&root, &files, &known, policy)?;
    mark_missing(writer, vanished)?;
    update(progress, |p| p.missing = newly as u64);

    let mut seen_paths = std::collections::HashSet::with_capacity(files.len());
    let mut batch: Vec<(String, i64, i64, Probed)> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<(String, i64, i64, Probed)>| -> Result<(), ScanError> {
        if batch.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(batch);
        let (added, updated, moved) =
            writer.run_blocking(move |c| -> rusqlite::Result<(u64, u64, u64)> {
                let tx = c.savepoint()?;
                let now = super::model::now_ms();
                let (mut a, mut u, mut m) = (0, 0, 0);
                for (path, size, mtime, p) in &items {
                    match upsert_track(&tx, path, *size, *mtime, p, now)? {
                        Upserted::Added => a += 1,
                        Upserted::Updated => u += 1,
                        Upserted::Moved => m += 1,
                    }
                }
                prune_orphans(&tx)?;
                tx.commit()?;
                Ok((a, u, m))
            })??;
        update(progress, |p| {
            p.added += added;
            p.updated += updated;
            p.moved += moved;
        });
        Ok(())
    };

    for f in files {
        let path = f.path.display().to_string();
        seen_paths.insert(path.clone());
        if known.get(&path) == Some(&(f.size, f.mtime)) {
            update(progress, |p| p.unchanged += 1);
            continue;
        }
        match probe::probe_guarded(&f.path) {
            Ok(mut p) => {
                p.fill_from_path(&root, &f.path);
                batch.push((path, f.size, f.mtime, p));
            }
            Err(error) => {
                tracing::warn!(path = %path, error = %error, "cannot probe file; skipped");
                update(progress, |p| {
                    p.failed += 1;
                    if p.failures.len() < MAX_FAILURES_LISTED {
                        p.failures.push(ScanFailure {
                            path: path.clone(),
                            error: error.to_string(),
                        });
                    }
                });
            }
        }
        if batch.len() >= BATCH {
            flush(&mut batch)?;
        }
    }
    flush(&mut batch)?;

    purge_missing(writer, policy, progress)
}

/// The paths of known tracks whose files are gone, and how many of them were not
/// missing yet, once the scan is allowed to mark them: refused when the folder holds no audio while tracks are known there, or when
/// more than `max_missing_share` of them would newly go missing (files that appear at
/// new paths count against that: a moved folder loses nothing).
fn guard_vanished(
    root: &Path,
    files: &[FileInfo],
    known: &HashMap<String, (i64, i64)>,
    policy: ScanPolicy,
) -> Result<(Vec<String>, usize), ScanError> {
    let on_disk: std::collections::HashSet<String> =
        files.iter().map(|f| f.path.display().to_string()).collect();
    let present = known.values().filter(|(_, mtime)| *mtime != -1).count();
    let vanished: Vec<String> = known
        .keys()
        .filter(|p| !on_disk.contains(*p))
        .cloned()
        .collect();
    let newly = vanished
        .iter()
        .filter(|p| known.get(*p).is_some_and(|(_, m)| *m != -1))
        .count();
    if files.is_empty() && present > 0 {
        return Err(ScanError::Refused(format!(
            "{} holds no audio files, but {present} tracks are known there (an unmounted disk?)",
            root.display()
        )));
    }
    let appeared = on_disk.iter().filter(|p| !known.contains_key(*p)).count();
    let lost = newly.saturating_sub(appeared);
    if present > 0 && lost as f64 > policy.max_missing_share * present as f64 {
        return Err(ScanError::Refused(format!(
            "{lost} of the {present} tracks known in {} would go missing, more than library.max_missing_share ({})",
            root.display(),
            policy.max_missing_share
        )));
    }
    Ok((vanished, newly))
}

/// Marks tracks whose files are gone missing (keeping when they first went missing).
fn mark_missing(writer: &Writer, vanished: Vec<String>) -> Result<(), ScanError> {
    if vanished.is_empty() {
        return Ok(());
    }
    writer.run_blocking(move |c| -> rusqlite::Result<()> {
        let tx = c.savepoint()?;
        let now = super::model::now_ms();
        for p in &vanished {
            tx.execute(
                "UPDATE tracks SET missing = 1, missing_since = COALESCE(missing_since, ?2) WHERE path = ?1",
                params![p, now],
            )?;
        }
        tx.commit()
    })??;
    Ok(())
}

/// Deletes tracks missing for longer than the grace period.
fn purge_missing(
    writer: &Writer,
    policy: ScanPolicy,
    progress: &SharedProgress,
) -> Result<(), ScanError> {
    let removed = writer.run_blocking(move |c| -> rusqlite::Result<u64> {
        let tx = c.savepoint()?;
        let cutoff = super::model::now_ms() - policy.missing_grace_ms;
        let n = tx.execute(
            "DELETE FROM tracks WHERE missing = 1 AND missing_since IS NOT NULL AND missing_since <= ?1",
            [cutoff],
        )? as u64;
        if n > 0 {
            prune_orphans(&tx)?;
        }
        tx.commit()?;
        Ok(n)
    })??;
    update(progress, |p| p.removed = removed);
    Ok(())
}
