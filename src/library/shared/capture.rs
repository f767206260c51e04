//! Which rows a job changed: TEMP triggers on the writer's own connection record the
//! key of every row inserted, updated (old and new key) or deleted — cascades
//! included — into `temp.auralis_changed`. Only this connection sees them; readers
//! and single-node servers have none.

use super::tables::{TABLES, Table};
use super::values::Key;
use rusqlite::Connection;

fn key_values(t: &Table, row: &str) -> String {
    match t.key {
        [a] => format!("{row}.{a}, NULL"),
        [a, b] => format!("{row}.{a}, {row}.{b}"),
        _ => unreachable!("keys have one or two columns"),
    }
}

/// Creates the capture table and triggers on the writer's connection.
pub(crate) fn install(c: &Connection) -> rusqlite::Result<()> {
    let mut sql = String::from(
        "CREATE TEMP TABLE IF NOT EXISTS auralis_changed (tbl TEXT NOT NULL, k1 INTEGER NOT NULL, k2 INTEGER);\n",
    );
    for t in TABLES {
        let (new, old) = (key_values(t, "new"), key_values(t, "old"));
        let n = t.name;
        sql.push_str(&format!(
            "CREATE TEMP TRIGGER IF NOT EXISTS auralis_{n}_i AFTER INSERT ON main.{n} BEGIN INSERT INTO auralis_changed VALUES ('{n}', {new}); END;\n\
             CREATE TEMP TRIGGER IF NOT EXISTS auralis_{n}_u AFTER UPDATE ON main.{n} BEGIN INSERT INTO auralis_changed VALUES ('{n}', {old}); INSERT INTO auralis_changed VALUES ('{n}', {new}); END;\n\
             CREATE TEMP TRIGGER IF NOT EXISTS auralis_{n}_d AFTER DELETE ON main.{n} BEGIN INSERT INTO auralis_changed VALUES ('{n}', {old}); END;\n"
        ));
    }
    c.execute_batch(&sql)
}

/// Forgets what was recorded (before a job).
pub(crate) fn clear(c: &Connection) -> rusqlite::Result<()> {
    c.execute("DELETE FROM temp.auralis_changed", [])
        .map(|_| ())
}

/// The distinct changed keys, per table.
pub(crate) fn changed(c: &Connection) -> rusqlite::Result<Vec<(String, Key)>> {
    let mut st = c.prepare_cached(
        "SELECT DISTINCT tbl, k1, k2 FROM temp.auralis_changed ORDER BY tbl, k1, k2",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_inserts_updates_deletes_and_cascades() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::library::schema::configure(&c).unwrap();
        crate::library::schema::migrate(&mut c).unwrap();
        install(&c).unwrap();
        c.execute_batch(
            "INSERT INTO playlists(id, name, name_key, created_at, updated_at) VALUES (7, 'a', 'a', 0, 0);",
        )
        .unwrap();
        clear(&c).unwrap();
        c.execute_batch(
            "INSERT INTO tracks(id, path, format, duration_ms, file_size, mtime, title, added_at, title_key, artist_key, album_key, year_key)
             VALUES (3, '/x.wav', 'wav', 1, 1, 1, 't', 0, 't', '', '', 0);
             INSERT INTO playlist_entries VALUES (7, 0, 3);
             UPDATE playlist_entries SET position = 1 WHERE playlist_id = 7;
             DELETE FROM tracks WHERE id = 3;",
        )
        .unwrap();
        let got = changed(&c).unwrap();
        assert_eq!(
            got,
            vec![
                ("playlist_entries".to_string(), (7, Some(0))),
                ("playlist_entries".to_string(), (7, Some(1))),
                ("tracks".to_string(), (3, None)),
            ]
        );
    }
}
