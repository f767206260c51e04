//! Moving rows between the two databases: a row read from one side as typed values,
//! written on the other by key (upsert or delete). The statements are built once per
//! table from [`Table`]; values keep their storage class, so a column's type is
//! checked, never guessed.

use super::SharedError;
use super::tables::{Kind, Table};
use postgres::types::ToSql;
use rusqlite::types::Value;

/// A row's key: one or two integers.
pub(crate) type Key = (i64, Option<i64>);

/// One SQLite value as a PostgreSQL parameter of the column's type.
pub(crate) fn to_pg(
    table: &Table,
    col: usize,
    v: &Value,
) -> Result<Box<dyn ToSql + Sync + Send>, SharedError> {
    let (name, kind) = table.columns[col];
    Ok(match (kind, v) {
        (Kind::Int, Value::Integer(i)) => Box::new(*i),
        (Kind::Int, Value::Null) => Box::new(None::<i64>),
        (Kind::Real, Value::Real(f)) => Box::new(*f),
        (Kind::Real, Value::Integer(i)) => Box::new(*i as f64),
        (Kind::Real, Value::Null) => Box::new(None::<f64>),
        (Kind::Text, Value::Text(s)) => Box::new(s.clone()),
        (Kind::Text, Value::Null) => Box::new(None::<String>),
        (Kind::Blob, Value::Blob(b)) => Box::new(b.clone()),
        (Kind::Blob, Value::Null) => Box::new(None::<Vec<u8>>),
        _ => {
            return Err(SharedError::Type {
                table: table.name,
                column: name,
            });
        }
    })
}

/// Column `col` of a PostgreSQL row as a SQLite value.
pub(crate) fn from_pg(
    table: &Table,
    row: &postgres::Row,
    col: usize,
) -> Result<Value, postgres::Error> {
    Ok(match table.columns[col].1 {
        Kind::Int => row
            .try_get::<_, Option<i64>>(col)?
            .map_or(Value::Null, Value::Integer),
        Kind::Real => row
            .try_get::<_, Option<f64>>(col)?
            .map_or(Value::Null, Value::Real),
        Kind::Text => row
            .try_get::<_, Option<String>>(col)?
            .map_or(Value::Null, Value::Text),
        Kind::Blob => row
            .try_get::<_, Option<Vec<u8>>>(col)?
            .map_or(Value::Null, Value::Blob),
    })
}

/// `a = ?1 AND b = ?2` (SQLite) or with `$n` (PostgreSQL).
fn key_match(table: &Table, dollar: bool) -> String {
    table
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| {
            if dollar {
                format!("{k} = ${}", i + 1)
            } else {
                format!("{k} = ?{}", i + 1)
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

pub(crate) fn select_by_key(table: &Table, dollar: bool) -> String {
    format!(
        "SELECT {} FROM {} WHERE {}",
        table.column_list(),
        table.name,
        key_match(table, dollar)
    )
}

pub(crate) fn delete_by_key(table: &Table, dollar: bool) -> String {
    format!(
        "DELETE FROM {} WHERE {}",
        table.name,
        key_match(table, dollar)
    )
}

/// `INSERT … ON CONFLICT (key) DO UPDATE SET every other column` (both dialects: an
/// update in place, never a delete and insert that would cascade).
pub(crate) fn upsert(table: &Table, dollar: bool) -> String {
    let params: Vec<String> = (1..=table.columns.len())
        .map(|i| {
            if dollar {
                format!("${i}")
            } else {
                format!("?{i}")
            }
        })
        .collect();
    let updates: Vec<String> = table.columns[table.key.len()..]
        .iter()
        .map(|(c, _)| format!("{c} = excluded.{c}"))
        .collect();
    let action = if updates.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", updates.join(", "))
    };
    format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO {action}",
        table.name,
        table.column_list(),
        params.join(", "),
        table.key.join(", ")
    )
}

/// The key's values as parameters.
pub(crate) fn key_params(key: &Key) -> Vec<i64> {
    match key.1 {
        Some(k2) => vec![key.0, k2],
        None => vec![key.0],
    }
}

#[cfg(test)]
mod tests {
    use super::super::tables::table;
    use super::*;

    #[test]
    fn statements_name_every_column_and_the_key() {
        let t = table("playlist_entries").unwrap();
        assert_eq!(
            upsert(t, true),
            "INSERT INTO playlist_entries (playlist_id, position, track_id) VALUES ($1, $2, $3) ON CONFLICT (playlist_id, position) DO UPDATE SET track_id = excluded.track_id"
        );
        assert_eq!(
            delete_by_key(t, false),
            "DELETE FROM playlist_entries WHERE playlist_id = ?1 AND position = ?2"
        );
        let f = table("favorites").unwrap();
        assert!(upsert(f, false).ends_with("DO UPDATE SET created_at = excluded.created_at"));
        assert!(to_pg(f, 0, &Value::Text("x".into())).is_err());
        assert!(to_pg(f, 0, &Value::Null).is_ok());
        // A table of key columns only has nothing to update.
        let keys_only = Table {
            name: "pairs",
            key: &["a", "b"],
            columns: &[("a", Kind::Int), ("b", Kind::Int)],
        };
        assert!(upsert(&keys_only, false).ends_with("DO NOTHING"));
    }
}
