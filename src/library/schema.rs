//! The SQLite schema and its migrations, versioned in code. Each migration runs once,
//! in order, inside a transaction; `PRAGMA user_version` records how far a file got.

use rusqlite::{Connection, OptionalExtension};

/// Migrations in order; index + 1 is the version a file has after applying it.
const MIGRATIONS: &[&str] = &[
    // v1: library and playlists.
    r#"
    CREATE TABLE artists (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        name_key TEXT NOT NULL
    );
    CREATE INDEX artists_name ON artists(name_key, id);
    CREATE TABLE albums (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        artist_id INTEGER REFERENCES artists(id) ON DELETE SET NULL,
        year INTEGER,
        title_key TEXT NOT NULL,
        UNIQUE(title, artist_id)
    );
    CREATE INDEX albums_title ON albums(title_key, id);
    CREATE INDEX albums_artist ON albums(artist_id);
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        format TEXT NOT NULL,
        codec TEXT,
        duration_ms INTEGER NOT NULL,
        sample_rate INTEGER,
        channels INTEGER,
        bit_depth INTEGER,
        file_size INTEGER NOT NULL,
        mtime INTEGER NOT NULL,
        title TEXT NOT NULL,
        artist TEXT,
        album TEXT,
        album_artist TEXT,
        track_number INTEGER,
        disc_number INTEGER,
        year INTEGER,
        genre TEXT,
        artist_id INTEGER REFERENCES artists(id) ON DELETE SET NULL,
        album_id INTEGER REFERENCES albums(id) ON DELETE SET NULL,
        favorite INTEGER NOT NULL DEFAULT 0,
        play_count INTEGER NOT NULL DEFAULT 0,
        added_at INTEGER NOT NULL,
        title_key TEXT NOT NULL,
        artist_key TEXT NOT NULL,
        album_key TEXT NOT NULL,
        year_key INTEGER NOT NULL,
        loudness_lufs REAL
    );
    CREATE INDEX tracks_title ON tracks(title_key, id);
    CREATE INDEX tracks_artist_key ON tracks(artist_key, id);
    CREATE INDEX tracks_album_key ON tracks(album_key, id);
    CREATE INDEX tracks_year ON tracks(year_key, id);
    CREATE INDEX tracks_added ON tracks(added_at, id);
    CREATE INDEX tracks_duration ON tracks(duration_ms, id);
    CREATE INDEX tracks_artist_id ON tracks(artist_id);
    CREATE INDEX tracks_album_order ON tracks(album_id, disc_number, track_number, id);
    CREATE INDEX tracks_genre ON tracks(genre);
    CREATE VIRTUAL TABLE tracks_fts USING fts5(
        title, artist, album, content='tracks', content_rowid='id', tokenize='unicode61'
    );
    CREATE TRIGGER tracks_fts_ai AFTER INSERT ON tracks BEGIN
        INSERT INTO tracks_fts(rowid, title, artist, album) VALUES (new.id, new.title, new.artist, new.album);
    END;
    CREATE TRIGGER tracks_fts_ad AFTER DELETE ON tracks BEGIN
        INSERT INTO tracks_fts(tracks_fts, rowid, title, artist, album) VALUES ('delete', old.id, old.title, old.artist, old.album);
    END;
    CREATE TRIGGER tracks_fts_au AFTER UPDATE OF title, artist, album ON tracks BEGIN
        INSERT INTO tracks_fts(tracks_fts, rowid, title, artist, album) VALUES ('delete', old.id, old.title, old.artist, old.album);
        INSERT INTO tracks_fts(rowid, title, artist, album) VALUES (new.id, new.title, new.artist, new.album);
    END;
    CREATE TABLE playlists (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        description TEXT,
        name_key TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX playlists_name ON playlists(name_key, id);
    CREATE TABLE playlist_entries (
        playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        PRIMARY KEY (playlist_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX playlist_entries_track ON playlist_entries(track_id);
    "#,
    // v2: exact length in frames, so chunk counts are exact.
    r#"
    ALTER TABLE tracks ADD COLUMN frames INTEGER;
    "#,
    // v3: where each tag came from (JSON: field → embedded|riff_info|id3|path), and
    // tracks whose file disappeared (answered 404 until a rescan finds it again).
    r#"
    ALTER TABLE tracks ADD COLUMN tag_source TEXT;
    ALTER TABLE tracks ADD COLUMN missing INTEGER NOT NULL DEFAULT 0;
    "#,
    // v4: access tokens (keyed hashes only; see library::tokens).
    r#"
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'listener')),
        hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    "#,
    // v5: playlists belong to the principal that made them (NULL: made without a
    // token, visible to everyone who may see all).
    r#"
    ALTER TABLE playlists ADD COLUMN owner_id INTEGER;
    CREATE INDEX playlists_owner ON playlists(owner_id, name_key, id);
    "#,
    // v6: a listener's favorites are its own (tracks.favorite stays the shared flag
    // of requests made without a listener token).
    r#"
    CREATE TABLE favorites (
        principal_id INTEGER NOT NULL,
        track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        PRIMARY KEY (principal_id, track_id)
    ) WITHOUT ROWID;
    CREATE INDEX favorites_track ON favorites(track_id);
    "#,
    // v7: playlist names are unique per owner, not across owners: a 409 for another
    // listener's name told that it existed. SQLite cannot drop a column's UNIQUE, so
    // the table is rebuilt (foreign keys are off around migrations: see `migrate`).
    r#"
    CREATE TABLE playlists_v7 (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL COLLATE NOCASE,
        description TEXT,
        name_key TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        owner_id INTEGER
    );
    INSERT INTO playlists_v7(id, name, description, name_key, created_at, updated_at, owner_id)
        SELECT id, name, description, name_key, created_at, updated_at, owner_id FROM playlists;
    DROP TABLE playlists;
    ALTER TABLE playlists_v7 RENAME TO playlists;
    CREATE INDEX playlists_name ON playlists(name_key, id);
    CREATE INDEX playlists_owner ON playlists(owner_id, name_key, id);
    CREATE UNIQUE INDEX playlists_owner_name ON playlists(IFNULL(owner_id, 0), name COLLATE NOCASE);
    "#,
    // v8: a track whose file disappears is marked missing (since when), never deleted
    // by a scan until `library.missing_grace_days` have passed; a content fingerprint
    // finds it again when its file comes back under another name; and the highest
    // track id ever given (`id_floor` row 1), so an id is never given twice (chunk URLs
    // are cached publicly by id).
    r#"
    ALTER TABLE tracks ADD COLUMN missing_since INTEGER;
    ALTER TABLE tracks ADD COLUMN fingerprint TEXT;
    CREATE INDEX tracks_fingerprint ON tracks(fingerprint) WHERE fingerprint IS NOT NULL;
    CREATE TABLE id_floor (id INTEGER PRIMARY KEY, floor INTEGER NOT NULL);
    INSERT INTO id_floor(id, floor) SELECT 1, COALESCE(MAX(id), 0) FROM tracks;
    "#,
    // v9: play history: when a track was last played (0: never), beside `play_count`;
    // indexed with it for `sort=recent` and `sort=most_played`.
    r#"
    ALTER TABLE tracks ADD COLUMN last_played_at INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tracks_last_played ON tracks(last_played_at, id);
    CREATE INDEX tracks_play_count ON tracks(play_count, id);
    "#,
    // v10: the moved-file lookup asks for a *missing* track with a fingerprint; indexed
    // on the fingerprint alone it walked every present copy of the same audio (a library
    // of identical files, or 100 000 copies in the scan benchmark: quadratic, 191
    // files/s). Only missing tracks are indexed now: the lookup is one probe.
    r#"
    DROP INDEX tracks_fingerprint;
    CREATE INDEX tracks_missing_fingerprint ON tracks(fingerprint, id) WHERE missing = 1;
    "#,
    // v11: the album's loudness from ReplayGain/R128 tags (the track's goes in
    // `loudness_lufs`, measured only when no tag says), and where the cover art is
    // (`embedded` or a picture file's name beside the track; NULL: none).
    r#"
    ALTER TABLE tracks ADD COLUMN album_loudness_lufs REAL;
    ALTER TABLE tracks ADD COLUMN cover TEXT;
    "#,
    // v12: users and what Subsonic apps keep per user. A user is a principal (a
    // `tokens` row) with a sealed `password` (library::accounts); an API key is a token
    // whose `parent_id` names the user it acts as. Ratings, the time a favorite was
    // made (Subsonic's `starred`) and each user's saved play queue.
    r#"
    ALTER TABLE tokens ADD COLUMN password BLOB;
    ALTER TABLE tokens ADD COLUMN parent_id INTEGER;
    ALTER TABLE favorites ADD COLUMN created_at INTEGER;
    CREATE TABLE ratings (
        principal_id INTEGER NOT NULL,
        track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
        PRIMARY KEY (principal_id, track_id)
    ) WITHOUT ROWID;
    CREATE INDEX ratings_track ON ratings(track_id);
    CREATE TABLE play_queues (
        principal_id INTEGER PRIMARY KEY,
        track_ids TEXT NOT NULL,
        current_id INTEGER,
        position_ms INTEGER NOT NULL,
        changed_at INTEGER NOT NULL,
        changed_by TEXT NOT NULL
    );
    "#,
];

/// Per-connection settings: WAL so readers never block the writer, foreign keys on.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
    )
}

/// Brings a database file up to the latest schema version. Foreign keys are off while
/// migrations run (SQLite's procedure for rebuilding a table: dropping the old one must
/// not cascade into the rows that refer to it), and checked before each commit.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current as usize >= MIGRATIONS.len() {
        return Ok(current);
    }
    let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = (|| {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            let broken: Option<String> = tx
                .query_row(
                    "SELECT \"table\" FROM pragma_foreign_key_check LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(table) = broken {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                    Some(format!("migration {} broke a reference in {table}", i + 1)),
                ));
            }
            tx.pragma_update(None, "user_version", (i + 1) as u32)?;
            tx.commit()?;
        }
        Ok(MIGRATIONS.len() as u32)
    })();
    conn.pragma_update(None, "foreign_keys", fk)?;
    result
}

/// Sort key of a text: case-folded and trimmed, so ordering is case-insensitive and
/// keyset comparisons use the same value the index holds.
pub(crate) fn sort_key(s: Option<&str>) -> String {
    s.unwrap_or("").trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_keeps_every_playlist_and_entry_and_makes_names_unique_per_owner() {
        let mut c = Connection::open_in_memory().unwrap();
        configure(&c).unwrap();
        for (i, sql) in MIGRATIONS[..6].iter().enumerate() {
            c.execute_batch(sql).unwrap();
            c.pragma_update(None, "user_version", (i + 1) as u32)
                .unwrap();
        }
        c.execute_batch(
            "INSERT INTO tracks(id, path, format, duration_ms, file_size, mtime, title, added_at, title_key, artist_key, album_key, year_key) VALUES (1, '/a.wav', 'wav', 1000, 10, 0, 'A', 0, 'a', '', '', 0);
             INSERT INTO playlists(id, name, name_key, created_at, updated_at, owner_id) VALUES (5, 'Mix', 'mix', 0, 0, 7);
             INSERT INTO playlist_entries(playlist_id, position, track_id) VALUES (5, 0, 1);",
        )
        .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), MIGRATIONS.len() as u32);
        let entries: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM playlist_entries WHERE playlist_id = 5",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(entries, 1, "the rebuild cascaded into no entry");
        let insert = |owner: Option<i64>, name: &str| {
            c.execute(
                "INSERT INTO playlists(name, name_key, created_at, updated_at, owner_id) VALUES (?1, ?1, 0, 0, ?2)",
                rusqlite::params![name, owner],
            )
        };
        assert!(
            insert(Some(8), "MIX").is_ok(),
            "another owner may use the name"
        );
        assert!(insert(None, "mix").is_ok(), "so may no one");
        assert!(insert(Some(7), "mIx").is_err(), "the same owner may not");
        assert!(insert(None, "Mix").is_err());
        let fk: bool = c
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(fk, "foreign keys are back on");
        c.execute("DELETE FROM playlists WHERE id = 5", []).unwrap();
        let entries: i64 = c
            .query_row("SELECT COUNT(*) FROM playlist_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(entries, 0, "the entries still follow their playlist");
    }
}
