//! Batches of library changes: atomic (one transaction, all or nothing) or not (each
//! item applied or rolled back on its own through a savepoint). Every item keeps its
//! own outcome either way; the transports only parse items and report outcomes.

use super::error::LibraryError;
use super::events::{LibraryEvent, Owner, Tx};
use super::ops::{self, TagEdit};
use rusqlite::Connection;

/// Items one batch may hold.
pub(crate) const MAX_ITEMS: usize = 100;

/// One validated change.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Favorite(i64, bool),
    AddToPlaylist {
        playlist: i64,
        tracks: Vec<i64>,
        position: Option<i64>,
    },
    RemoveFromPlaylist {
        playlist: i64,
        position: i64,
    },
    SetTags(i64, TagEdit),
}

/// What became of one item.
#[derive(Debug)]
pub(crate) enum ItemOutcome {
    /// Applied (and committed); says what changed.
    Applied(String),
    /// Valid, but not applied because another item of an atomic batch failed.
    RolledBack(String),
    Failed(LibraryError),
}

/// A processed batch: every item's outcome, in order, under its client id.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    pub atomic: bool,
    pub items: Vec<(String, ItemOutcome)>,
}

impl BatchOutcome {
    pub(crate) fn failed(&self) -> usize {
        self.count(|o| matches!(o, ItemOutcome::Failed(_)))
    }

    pub(crate) fn applied(&self) -> usize {
        self.count(|o| matches!(o, ItemOutcome::Applied(_)))
    }

    fn count(&self, f: impl Fn(&ItemOutcome) -> bool) -> usize {
        self.items.iter().filter(|(_, o)| f(o)).count()
    }
}

fn apply(c: &Tx<'_>, action: &Action) -> Result<String, LibraryError> {
    match action {
        Action::Favorite(t, on) => {
            ops::set_favorite(c, *t, *on)?;
            let what = if *on { "marked favorite" } else { "unmarked" };
            Ok(format!("track {t} {what}"))
        }
        Action::AddToPlaylist {
            playlist,
            tracks,
            position,
        } => {
            let n = ops::add_tracks(c, *playlist, tracks, *position)?;
            Ok(format!("playlist {playlist} now has {n} tracks"))
        }
        Action::RemoveFromPlaylist { playlist, position } => {
            ops::remove_at(c, *playlist, *position)?;
            Ok(format!("removed entry {position} of playlist {playlist}"))
        }
        Action::SetTags(t, edit) => {
            ops::set_tags(c, *t, edit)?;
            Ok(format!("tags of track {t} updated"))
        }
    }
}

/// Runs a batch on the writer's connection; returns the outcome and the events of
/// what committed.
pub(crate) fn run(
    c: &mut Connection,
    items: Vec<(String, Action)>,
    atomic: bool,
    owner: Owner,
) -> Result<(BatchOutcome, Vec<LibraryEvent>), LibraryError> {
    let tx = Tx::begin(c, owner)?;
    let mut results = Vec::with_capacity(items.len());
    for (id, action) in items {
        // A savepoint per item: a failing item leaves no partial writes (nor events)
        // behind, and later items still see a consistent database.
        tx.execute_batch("SAVEPOINT item")?;
        let mark = tx.mark();
        let r = apply(&tx, &action);
        if r.is_err() {
            tx.execute_batch("ROLLBACK TO item")?;
            tx.forget_since(mark);
        }
        tx.execute_batch("RELEASE item")?;
        results.push((id, r));
    }
    let rolled_back = atomic && results.iter().any(|(_, r)| r.is_err());
    let events = if rolled_back {
        tx.rollback()?;
        Vec::new()
    } else {
        tx.commit()?
    };
    let items = results
        .into_iter()
        .map(|(id, r)| {
            let outcome = match r {
                Ok(msg) if rolled_back => ItemOutcome::RolledBack(msg),
                Ok(msg) => ItemOutcome::Applied(msg),
                Err(e) => ItemOutcome::Failed(e),
            };
            (id, outcome)
        })
        .collect();
    Ok((BatchOutcome { atomic, items }, events))
}
