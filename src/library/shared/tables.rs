//! The replicated tables: each table of the SQLite schema (`library/schema.rs`, v8) with
//! its key and typed columns, in dependency order (a row's references come before
//! it), and the PostgreSQL schema that mirrors them. PostgreSQL checks the same
//! constraints; those other than primary keys are DEFERRABLE, so the rows of one
//! commit can be written in any order and are checked at COMMIT, as SQLite checked
//! them statement by statement on the node that made the change.

/// A column's storage class, the same on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

/// One replicated table.
#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    /// Primary key columns (one or two integers), a prefix of `columns`.
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Kind)],
}

use Kind::*;

pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "artists",
        key: &["id"],
        columns: &[("id", Int), ("name", Text), ("name_key", Text)],
    },
    Table {
        name: "albums",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("title", Text),
            ("artist_id", Int),
            ("year", Int),
            ("title_key", Text),
        ],
    },
    Table {
        name: "tracks",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("path", Text),
            ("format", Text),
            ("codec", Text),
            ("duration_ms", Int),
            ("sample_rate", Int),
            ("channels", Int),
            ("bit_depth", Int),
            ("file_size", Int),
            ("mtime", Int),
            ("title", Text),
            ("artist", Text),
            ("album", Text),
            ("album_artist", Text),
            ("track_number", Int),
            ("disc_number", Int),
            ("year", Int),
            ("genre", Text),
            ("artist_id", Int),
            ("album_id", Int),
            ("favorite", Int),
            ("play_count", Int),
            ("added_at", Int),
            ("title_key", Text),
            ("artist_key", Text),
            ("album_key", Text),
            ("year_key", Int),
            ("loudness_lufs", Real),
            ("frames", Int),
            ("tag_source", Text),
            ("missing", Int),
            ("missing_since", Int),
            ("fingerprint", Text),
            ("last_played_at", Int),
            ("album_loudness_lufs", Real),
            ("cover", Text),
        ],
    },
    Table {
        name: "playlists",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("name", Text),
            ("description", Text),
            ("name_key", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("owner_id", Int),
        ],
    },
    Table {
        name: "playlist_entries",
        key: &["playlist_id", "position"],
        columns: &[("playlist_id", Int), ("position", Int), ("track_id", Int)],
    },
    Table {
        name: "tokens",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("name", Text),
            ("role", Text),
            ("hash", Blob),
            ("created_at", Int),
            ("revoked_at", Int),
            ("password", Blob),
            ("parent_id", Int),
        ],
    },
    Table {
        name: "favorites",
        key: &["principal_id", "track_id"],
        columns: &[
            ("principal_id", Int),
            ("track_id", Int),
            ("created_at", Int),
        ],
    },
    Table {
        name: "ratings",
        key: &["principal_id", "track_id"],
        columns: &[("principal_id", Int), ("track_id", Int), ("rating", Int)],
    },
    Table {
        name: "play_queues",
        key: &["principal_id"],
        columns: &[
            ("principal_id", Int),
            ("track_ids", Text),
            ("current_id", Int),
            ("position_ms", Int),
            ("changed_at", Int),
            ("changed_by", Text),
        ],
    },
    Table {
        name: "id_floor",
        key: &["id"],
        columns: &[("id", Int), ("floor", Int)],
    },
];

pub(crate) fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

impl Table {
    pub(crate) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The PostgreSQL schema, created if missing (under the store's advisory lock, so
/// nodes starting together create it once). `library_commits` is the change feed: one
/// row per committed write with its changed keys and events, announced by NOTIFY.
pub(crate) const PG_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS artists (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    CONSTRAINT artists_name_unique UNIQUE (name) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS albums (
    id BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    artist_id BIGINT REFERENCES artists(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    year BIGINT,
    title_key TEXT NOT NULL,
    CONSTRAINT albums_title_artist UNIQUE (title, artist_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS tracks (
    id BIGINT PRIMARY KEY,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    codec TEXT,
    duration_ms BIGINT NOT NULL,
    sample_rate BIGINT,
    channels BIGINT,
    bit_depth BIGINT,
    file_size BIGINT NOT NULL,
    mtime BIGINT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT,
    album TEXT,
    album_artist TEXT,
    track_number BIGINT,
    disc_number BIGINT,
    year BIGINT,
    genre TEXT,
    artist_id BIGINT REFERENCES artists(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    album_id BIGINT REFERENCES albums(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    favorite BIGINT NOT NULL DEFAULT 0,
    play_count BIGINT NOT NULL DEFAULT 0,
    added_at BIGINT NOT NULL,
    title_key TEXT NOT NULL,
    artist_key TEXT NOT NULL,
    album_key TEXT NOT NULL,
    year_key BIGINT NOT NULL,
    loudness_lufs DOUBLE PRECISION,
    frames BIGINT,
    tag_source TEXT,
    missing BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT tracks_path_unique UNIQUE (path) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS playlists (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    name_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    owner_id BIGINT,
    -- SQLite's COLLATE NOCASE folds ASCII letters only; so does this.
    name_folded TEXT GENERATED ALWAYS AS (translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
);
-- v8: missing tracks keep their rows; ids are never given twice.
ALTER TABLE tracks ADD COLUMN IF NOT EXISTS missing_since BIGINT;
ALTER TABLE tracks ADD COLUMN IF NOT EXISTS fingerprint TEXT;
ALTER TABLE tracks ADD COLUMN IF NOT EXISTS last_played_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tracks ADD COLUMN IF NOT EXISTS album_loudness_lufs DOUBLE PRECISION;
ALTER TABLE tracks ADD COLUMN IF NOT EXISTS cover TEXT;
CREATE TABLE IF NOT EXISTS id_floor (id BIGINT PRIMARY KEY, floor BIGINT NOT NULL);
-- Names are unique per owner (SQLite v7), so a 409 tells nothing of other owners'
-- playlists; a database made before is brought to the same constraint.
ALTER TABLE playlists ADD COLUMN IF NOT EXISTS owner_key BIGINT GENERATED ALWAYS AS (COALESCE(owner_id, 0)) STORED;
ALTER TABLE playlists DROP CONSTRAINT IF EXISTS playlists_name_unique;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'playlists_owner_name_unique') THEN
        ALTER TABLE playlists ADD CONSTRAINT playlists_owner_name_unique
            UNIQUE (owner_key, name_folded) DEFERRABLE INITIALLY DEFERRED;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS playlist_entries (
    playlist_id BIGINT NOT NULL REFERENCES playlists(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    position BIGINT NOT NULL,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (playlist_id, position)
);
CREATE TABLE IF NOT EXISTS tokens (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'listener')),
    hash BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    CONSTRAINT tokens_name_unique UNIQUE (name) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT tokens_hash_unique UNIQUE (hash) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE IF NOT EXISTS favorites (
    principal_id BIGINT NOT NULL,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (principal_id, track_id)
);
-- v12: users (sealed passwords), API keys acting as users, ratings, play queues.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS password BYTEA;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS parent_id BIGINT;
ALTER TABLE favorites ADD COLUMN IF NOT EXISTS created_at BIGINT;
CREATE TABLE IF NOT EXISTS ratings (
    principal_id BIGINT NOT NULL,
    track_id BIGINT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    rating BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (principal_id, track_id)
);
CREATE TABLE IF NOT EXISTS play_queues (
    principal_id BIGINT PRIMARY KEY,
    track_ids TEXT NOT NULL,
    current_id BIGINT,
    position_ms BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS library_commits (
    seq BIGSERIAL PRIMARY KEY,
    node TEXT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    changes TEXT NOT NULL,
    events TEXT NOT NULL,
    traceparent TEXT
);
ALTER TABLE library_commits ADD COLUMN IF NOT EXISTS traceparent TEXT;
CREATE TABLE IF NOT EXISTS cluster_state (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_secrets (
    name TEXT PRIMARY KEY,
    secret BYTEA NOT NULL
);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The replicated columns are exactly the SQLite schema's, table by table.
    #[test]
    fn tables_match_the_sqlite_schema() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::library::schema::migrate(&mut c).unwrap();
        let mut names: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'tracks_fts%'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        names.sort();
        let mut ours: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        ours.sort();
        assert_eq!(names, ours);
        for t in TABLES {
            let cols: Vec<(String, String, i64)> = c
                .prepare(&format!(
                    "SELECT name, type, pk FROM pragma_table_info('{}')",
                    t.name
                ))
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let mut want: Vec<(String, Kind)> =
                t.columns.iter().map(|(n, k)| (n.to_string(), *k)).collect();
            let mut have: Vec<(String, Kind)> = cols
                .iter()
                .map(|(n, ty, _)| {
                    let k = match ty.as_str() {
                        "INTEGER" => Int,
                        "REAL" => Real,
                        "TEXT" => Text,
                        "BLOB" => Blob,
                        other => panic!("{}.{n}: type {other}", t.name),
                    };
                    (n.clone(), k)
                })
                .collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            have.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(have, want, "{}", t.name);
            let mut keys: Vec<(i64, &str)> = cols
                .iter()
                .filter(|c| c.2 > 0)
                .map(|c| (c.2, c.0.as_str()))
                .collect();
            keys.sort();
            let keys: Vec<&str> = keys.into_iter().map(|k| k.1).collect();
            assert_eq!(keys, t.key, "{} key", t.name);
            assert_eq!(
                &t.columns[..t.key.len()]
                    .iter()
                    .map(|c| c.0)
                    .collect::<Vec<_>>(),
                &t.key.to_vec()
            );
        }
    }
}
