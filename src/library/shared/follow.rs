//! Bringing this node's SQLite copy up to the shared database: the current rows of
//! the keys other nodes' commits changed, or every row (at start, or when the change
//! feed no longer reaches back to this copy). Applied in one SQLite transaction with
//! foreign keys checked at its commit, deletions first, so the copy is never seen
//! half-applied by the cores' readers.

use super::SharedError;
use super::tables::{TABLES, Table, table};
use super::values::{Key, delete_by_key, from_pg, key_params, select_by_key, upsert};
use postgres::GenericClient;
use rusqlite::Connection;
use rusqlite::types::Value;
use std::collections::BTreeSet;

/// A table's rows to write and keys to delete.
#[derive(Default)]
struct TableDelta {
    upserts: Vec<Vec<Value>>,
    deletes: Vec<Key>,
}

fn read_row(t: &Table, row: &postgres::Row) -> Result<Vec<Value>, SharedError> {
    (0..t.columns.len())
        .map(|i| from_pg(t, row, i).map_err(SharedError::from))
        .collect()
}

/// The shared database's current rows of `keys`, per table in [`TABLES`] order.
fn fetch(
    pg: &mut impl GenericClient,
    keys: &BTreeSet<(String, Key)>,
) -> Result<Vec<TableDelta>, SharedError> {
    let mut out: Vec<TableDelta> = TABLES.iter().map(|_| TableDelta::default()).collect();
    for (i, t) in TABLES.iter().enumerate() {
        let mine: Vec<&Key> = keys
            .iter()
            .filter(|(n, _)| n == t.name)
            .map(|(_, k)| k)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let st = pg.prepare(&select_by_key(t, true))?;
        for key in mine {
            let params = key_params(key);
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p as _).collect();
            match pg.query_opt(&st, &refs)? {
                Some(row) => out[i].upserts.push(read_row(t, &row)?),
                None => out[i].deletes.push(*key),
            }
        }
    }
    Ok(out)
}

/// Every row of every table.
fn fetch_all(pg: &mut impl GenericClient) -> Result<Vec<TableDelta>, SharedError> {
    TABLES
        .iter()
        .map(|t| {
            let rows = pg.query(&format!("SELECT {} FROM {}", t.column_list(), t.name), &[])?;
            let upserts = rows
                .iter()
                .map(|r| read_row(t, r))
                .collect::<Result<_, _>>()?;
            Ok(TableDelta {
                upserts,
                deletes: Vec::new(),
            })
        })
        .collect()
}

/// Writes `deltas` in one transaction (after `wipe`, every table emptied first),
/// recording in it that the copy now includes feed commit `seq`.
fn write(
    c: &mut Connection,
    deltas: &[TableDelta],
    wipe: bool,
    seq: i64,
) -> Result<(), SharedError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
    for (t, d) in TABLES.iter().zip(deltas).rev() {
        if wipe {
            tx.execute(&format!("DELETE FROM {}", t.name), [])?;
        }
        let mut st = tx.prepare_cached(&delete_by_key(t, false))?;
        for key in &d.deletes {
            st.execute(rusqlite::params_from_iter(key_params(key)))?;
        }
    }
    for (t, d) in TABLES.iter().zip(deltas) {
        let mut st = tx.prepare_cached(&upsert(t, false))?;
        for row in &d.upserts {
            st.execute(rusqlite::params_from_iter(row.iter()))?;
        }
    }
    super::resume::record(&tx, seq)?;
    tx.commit()?;
    Ok(())
}

/// Applies the shared database's current state of `keys`, which brings the copy up
/// to feed commit `seq`; returns the rows touched.
pub(crate) fn apply_keys(
    pg: &mut impl GenericClient,
    c: &mut Connection,
    keys: &[(String, Key)],
    seq: i64,
) -> Result<usize, SharedError> {
    let mut set = BTreeSet::new();
    for (name, key) in keys {
        let t = table(name).ok_or_else(|| SharedError::UnknownTable(name.clone()))?;
        set.insert((t.name.to_string(), *key));
    }
    let deltas = fetch(pg, &set)?;
    write(c, &deltas, false, seq)?;
    Ok(set.len())
}

/// Replaces every row of the copy with the shared database's as of feed commit
/// `seq` (read in the same transaction); returns the rows copied.
pub(crate) fn copy_all(
    pg: &mut impl GenericClient,
    c: &mut Connection,
    seq: i64,
) -> Result<usize, SharedError> {
    let deltas = fetch_all(pg)?;
    write(c, &deltas, true, seq)?;
    Ok(deltas.iter().map(|d| d.upserts.len()).sum())
}
