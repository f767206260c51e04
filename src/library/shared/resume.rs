//! Where this node's copy stands, kept in the copy itself: which shared database it
//! copies (that database's id, agreed once in `cluster_secrets`) and the newest feed
//! commit it includes. The commit is recorded in the same SQLite transaction as the
//! rows it brought, so after any stop — clean, killed, or a crash — the node resumes
//! from the feed instead of copying every row, and its start time does not grow
//! with the library.

use rusqlite::{Connection, OptionalExtension};

const TABLE: &str = "CREATE TABLE IF NOT EXISTS shared_copy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store TEXT NOT NULL,
    applied_seq INTEGER NOT NULL
)";

/// The feed commit this copy includes, when it is a copy of `store`; otherwise the
/// copy is marked unknown (`None`: it must be copied whole).
pub(crate) fn prepare(c: &Connection, store: &str) -> rusqlite::Result<Option<i64>> {
    c.execute_batch(TABLE)?;
    let found: Option<(String, i64)> = c
        .query_row(
            "SELECT store, applied_seq FROM shared_copy WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match found {
        Some((s, seq)) if s == store && seq >= 0 => Ok(Some(seq)),
        _ => {
            c.execute(
                "INSERT INTO shared_copy (id, store, applied_seq) VALUES (1, ?1, -1)
                 ON CONFLICT (id) DO UPDATE SET store = excluded.store, applied_seq = -1",
                [store],
            )?;
            Ok(None)
        }
    }
}

/// Records, inside the caller's open transaction, that the copy includes `seq`.
pub(crate) fn record(c: &Connection, seq: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE shared_copy SET applied_seq = ?1 WHERE id = 1",
        [seq],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_resumes_only_from_its_own_store() {
        let c = Connection::open_in_memory().unwrap();
        assert_eq!(
            prepare(&c, "store-a").unwrap(),
            None,
            "a new copy is unknown"
        );
        record(&c, 42).unwrap();
        assert_eq!(prepare(&c, "store-a").unwrap(), Some(42));
        assert_eq!(
            prepare(&c, "store-b").unwrap(),
            None,
            "another database: copy whole"
        );
        assert_eq!(
            prepare(&c, "store-a").unwrap(),
            None,
            "and the old mark is gone"
        );
    }
}
