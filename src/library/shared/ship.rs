//! Sending one job's changes to the shared database, inside the transaction that holds
//! the store's advisory lock: each changed key's row as this node's copy now has it
//! (upserted), or its deletion; then one `library_commits` row (keys + events) and a
//! NOTIFY, both delivered to the other nodes only when the transaction commits.

use super::SharedError;
use super::tables::{TABLES, Table, table};
use super::values::{Key, delete_by_key, key_params, select_by_key, to_pg, upsert};
use crate::library::events::LibraryEvent;
use postgres::types::ToSql;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

/// The channel other nodes LISTEN on; the payload is the commit's seq.
pub(crate) const CHANNEL: &str = "auralis_library";
/// Commits kept in the feed; a copy further behind is copied whole.
const FEED_KEEP: i64 = 100_000;

/// The row of `key` in this node's copy (inside the job's transaction).
fn local_row(c: &Connection, t: &Table, key: &Key) -> rusqlite::Result<Option<Vec<Value>>> {
    let mut st = c.prepare_cached(&select_by_key(t, false))?;
    st.query_row(rusqlite::params_from_iter(key_params(key)), |r| {
        (0..t.columns.len()).map(|i| r.get::<_, Value>(i)).collect()
    })
    .optional()
}

fn write_rows(
    pg: &mut postgres::Transaction<'_>,
    c: &Connection,
    changed: &[(String, Key)],
) -> Result<(), SharedError> {
    let mut rows: Vec<(&'static Table, Key, Option<Vec<Value>>)> = Vec::new();
    for (name, key) in changed {
        let t = table(name).ok_or_else(|| SharedError::UnknownTable(name.clone()))?;
        rows.push((t, *key, local_row(c, t, key)?));
    }
    let order = |t: &Table| TABLES.iter().position(|x| x.name == t.name).unwrap_or(0);
    // Deletions first, children before parents; then rows, parents first.
    rows.sort_by_key(|(t, _, row)| match row {
        None => (0, usize::MAX - order(t)),
        Some(_) => (1, order(t)),
    });
    for (t, key, row) in rows {
        match row {
            None => {
                let params = key_params(&key);
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
                pg.execute(&delete_by_key(t, true), &refs)?;
            }
            Some(values) => {
                let params = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| to_pg(t, i, v))
                    .collect::<Result<Vec<_>, _>>()?;
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                pg.execute(&upsert(t, true), &refs)?;
            }
        }
    }
    Ok(())
}

/// Ships the changes and events; `Some(seq)` of the commit row when there was any.
pub(crate) fn ship(
    pg: &mut postgres::Transaction<'_>,
    c: &Connection,
    node: &str,
    changed: &[(String, Key)],
    events: &[LibraryEvent],
) -> Result<Option<i64>, SharedError> {
    if changed.is_empty() && events.is_empty() {
        return Ok(None);
    }
    write_rows(pg, c, changed)?;
    let changes = serde_json::to_string(changed)?;
    let events = serde_json::to_string(events)?;
    // The write's trace travels with the commit, so the other nodes' apply joins it.
    let traceparent = crate::trace::ambient::current().map(|c| c.traceparent());
    let seq: i64 = pg
        .query_one(
            "INSERT INTO library_commits (node, changes, events, traceparent) VALUES ($1, $2, $3, $4) RETURNING seq",
            &[&node, &changes, &events, &traceparent],
        )?
        .get(0);
    pg.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])?;
    if seq % 1000 == 0 {
        prune(pg, seq - FEED_KEEP)?;
    }
    Ok(Some(seq))
}

/// Drops feed rows up to `through`, remembering how far it was pruned.
fn prune(pg: &mut postgres::Transaction<'_>, through: i64) -> Result<(), SharedError> {
    if through <= 0 {
        return Ok(());
    }
    pg.execute("DELETE FROM library_commits WHERE seq <= $1", &[&through])?;
    pg.execute(
        "INSERT INTO cluster_state (name, value) VALUES ('feed_pruned_through', $1)
         ON CONFLICT (name) DO UPDATE SET value = GREATEST(cluster_state.value, excluded.value)",
        &[&through],
    )?;
    Ok(())
}
