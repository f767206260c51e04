//! `api-mix`: a weighted mix of auralis-server's REST API, as a music player's clients
//! produce it: list pages walked with their cursors, searches, single tracks, albums and
//! artists, and playlist writes. The mix is discovered from the server's own
//! `/api/openapi.json` (an operation is kept only if the server documents it) or read
//! from a TOML file; ids and search words come from the server's library.
//!
//! Writes touch only playlists the harness creates itself (one per connection, replaced
//! every [`ADDS_PER_PLAYLIST`] additions, deleted at the end), never user data.

use crate::blocking::SetupClient;
use crate::client::Answer;
use crate::workload::{Workload, WorkloadFactory};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// Additions before a connection's playlist is deleted and a new one made, so a long run
/// keeps playlists small.
pub const ADDS_PER_PLAYLIST: u32 = 50;

/// One operation of the mix. `path` and `body` may hold placeholders: `{track_id}`,
/// `{album_id}`, `{artist_id}` (random ids from the library), `{word}` (a word of a
/// track title) and `{playlist_id}` (the connection's own playlist).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    pub name: String,
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "one")]
    pub weight: u32,
    /// Walk the list with `meta.next_cursor`, back to page one after the last page.
    #[serde(default)]
    pub follow_cursor: bool,
}

impl OpSpec {
    /// Whether the operation writes to the connection's own playlist.
    fn uses_playlist(&self) -> bool {
        let p = "{playlist_id}";
        self.path.contains(p) || self.body.as_deref().is_some_and(|b| b.contains(p))
    }
}

fn get() -> String {
    "GET".into()
}
fn one() -> u32 {
    1
}

/// The TOML file for `--mix`: `[[op]]` tables of [`OpSpec`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MixFile {
    op: Vec<OpSpec>,
}

/// The built-in mix: (spec, OpenAPI method and path that must exist for it to be kept).
fn builtin() -> Vec<(OpSpec, &'static str, &'static str)> {
    let op = |name: &str, method: &str, path: &str, body: Option<&str>, weight, follow| OpSpec {
        name: name.into(),
        method: method.into(),
        path: path.into(),
        body: body.map(str::to_string),
        weight,
        follow_cursor: follow,
    };
    vec![
        (
            op("tracks page", "GET", "/api/tracks?limit=50", None, 15, true),
            "get",
            "/api/tracks",
        ),
        (
            op("albums page", "GET", "/api/albums?limit=50", None, 5, true),
            "get",
            "/api/albums",
        ),
        (
            op(
                "artists page",
                "GET",
                "/api/artists?limit=50",
                None,
                5,
                true,
            ),
            "get",
            "/api/artists",
        ),
        (
            op(
                "search",
                "GET",
                "/api/tracks?search={word}&limit=20",
                None,
                20,
                false,
            ),
            "get",
            "/api/tracks",
        ),
        (
            op("track", "GET", "/api/tracks/{track_id}", None, 20, false),
            "get",
            "/api/tracks/{id}",
        ),
        (
            op("album", "GET", "/api/albums/{album_id}", None, 8, false),
            "get",
            "/api/albums/{id}",
        ),
        (
            op(
                "album tracks",
                "GET",
                "/api/albums/{album_id}/tracks",
                None,
                5,
                false,
            ),
            "get",
            "/api/albums/{id}/tracks",
        ),
        (
            op("artist", "GET", "/api/artists/{artist_id}", None, 4, false),
            "get",
            "/api/artists/{id}",
        ),
        (
            op(
                "stream metadata",
                "GET",
                "/api/stream/{track_id}/metadata",
                None,
                5,
                false,
            ),
            "get",
            "/api/stream/{track_id}/metadata",
        ),
        (
            op(
                "playlist add",
                "POST",
                "/api/playlists/{playlist_id}/tracks",
                Some(r#"{"track_ids":[{track_id}]}"#),
                8,
                false,
            ),
            "post",
            "/api/playlists/{id}/tracks",
        ),
    ]
}

/// What the library offers to fill placeholders with.
#[derive(Debug, Default)]
pub struct Seeds {
    pub tracks: Vec<u64>,
    pub albums: Vec<u64>,
    pub artists: Vec<u64>,
    pub words: Vec<String>,
}

/// The mix, ready to run: the operations and the seeds.
pub struct ApiMix {
    shared: Arc<ApiMixShared>,
}

impl ApiMix {
    /// Builds the mix: from `file` when given, else discovered from the server's
    /// OpenAPI document; seeds from its library.
    pub fn discover(
        server: &crate::endpoint::Endpoint,
        file: Option<&std::path::Path>,
    ) -> Result<ApiMix, String> {
        let mut setup = SetupClient::connect(server)?;
        let specs = match file {
            Some(f) => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                let mix: MixFile =
                    toml::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
                mix.op
            }
            None => {
                let doc = setup.get_data("/api/openapi.json")?;
                let paths = doc
                    .get("paths")
                    .and_then(|p| p.as_object())
                    .ok_or("/api/openapi.json has no `paths`")?;
                builtin()
                    .into_iter()
                    .filter(|(_, m, p)| paths.get(*p).and_then(|o| o.get(*m)).is_some())
                    .map(|(s, _, _)| s)
                    .collect()
            }
        };
        for s in &specs {
            check_spec(s)?;
        }
        if specs.iter().all(|s| s.weight == 0) {
            return Err("the mix has no operation with a weight above 0".into());
        }
        let seeds = Seeds::fetch(&mut setup)?;
        Ok(ApiMix::new(server.addr, specs, seeds))
    }

    pub fn new(server: SocketAddr, specs: Vec<OpSpec>, seeds: Seeds) -> ApiMix {
        ApiMix {
            shared: Arc::new(ApiMixShared {
                host: server.to_string(),
                uses_playlist: specs.iter().map(OpSpec::uses_playlist).collect(),
                specs,
                tracks: seeds.tracks,
                albums: seeds.albums,
                artists: seeds.artists,
                words: seeds.words,
            }),
        }
    }
}

const PLACEHOLDERS: [&str; 5] = [
    "{track_id}",
    "{album_id}",
    "{artist_id}",
    "{word}",
    "{playlist_id}",
];

fn check_spec(s: &OpSpec) -> Result<(), String> {
    if !matches!(
        s.method.as_str(),
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH"
    ) {
        return Err(format!(
            "operation `{}`: method {} (GET, POST, PUT, DELETE, PATCH)",
            s.name, s.method
        ));
    }
    if !s.path.starts_with('/') || s.path.contains(char::is_whitespace) {
        return Err(format!(
            "operation `{}`: path must start with / and hold no spaces",
            s.name
        ));
    }
    // In a path every `{` opens a placeholder; a JSON body has braces of its own.
    let texts = [(Some(s.path.as_str()), true), (s.body.as_deref(), false)];
    for (text, strict) in texts.into_iter().filter_map(|(t, k)| Some((t?, k))) {
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            let tail = &rest[i..];
            if let Some(p) = PLACEHOLDERS.iter().find(|p| tail.starts_with(**p)) {
                rest = &tail[p.len()..];
            } else if strict {
                return Err(format!(
                    "operation `{}`: unknown placeholder in {text} (known: {})",
                    s.name,
                    PLACEHOLDERS.join(" ")
                ));
            } else {
                rest = &tail[1..];
            }
        }
    }
    Ok(())
}

fn ids(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.get("id")?.as_u64()).collect())
        .unwrap_or_default()
}

impl Seeds {
    /// Ids and words from the first pages of the library's lists.
    pub fn fetch(setup: &mut SetupClient) -> Result<Seeds, String> {
        Ok(Seeds {
            albums: ids(&setup.get_data("/api/albums?limit=500")?),
            artists: ids(&setup.get_data("/api/artists?limit=500")?),
            ..Seeds::fetch_tracks(setup)?
        })
    }

    /// Track ids and title words only (what the listeners need).
    pub fn fetch_tracks(setup: &mut SetupClient) -> Result<Seeds, String> {
        let tracks = setup.get_data("/api/tracks?limit=500")?;
        let mut words: Vec<String> = tracks
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("title")?.as_str())
            .flat_map(|t| t.split(|c: char| !c.is_ascii_alphanumeric()))
            .filter(|w| w.len() >= 3)
            .map(str::to_ascii_lowercase)
            .collect();
        words.sort();
        words.dedup();
        let seeds = Seeds {
            tracks: ids(&tracks),
            words,
            ..Seeds::default()
        };
        if seeds.tracks.is_empty() {
            return Err("the server's library has no tracks: scan one, or run the server on its demo library".into());
        }
        Ok(seeds)
    }
}

/// A small, fast, seeded generator: each connection's choices are reproducible.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        (!v.is_empty()).then(|| &v[self.below(v.len())])
    }
}

impl WorkloadFactory for ApiMix {
    fn scenario(&self) -> &'static str {
        "api-mix"
    }
    /// The specs, then the playlist bookkeeping, then each spec's pages fetched with a
    /// cursor (separate, as deep keyset pages are what pagination tests care about).
    /// Operations never sent are left out of the report.
    fn operations(&self) -> Vec<String> {
        let specs = &self.shared.specs;
        let mut names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        names.push("playlist create".into());
        names.push("playlist delete".into());
        names.extend(specs.iter().map(|s| format!("{} (cursor)", s.name)));
        names
    }
    fn connection(&self, index: usize) -> Box<dyn Workload> {
        let mut table = Vec::new();
        for (i, s) in self.shared.specs.iter().enumerate() {
            table.extend(std::iter::repeat_n(i, s.weight as usize));
        }
        Box::new(MixConn {
            mix: self.shared.clone(),
            table,
            index,
            rng: XorShift::new(index as u64 + 1),
            cursors: vec![None; self.shared.specs.len()],
            playlist: None,
            adds: 0,
            made: 0,
        })
    }
}

struct ApiMixShared {
    host: String,
    specs: Vec<OpSpec>,
    /// `specs[i].uses_playlist()`, worked out once rather than per request.
    uses_playlist: Vec<bool>,
    tracks: Vec<u64>,
    albums: Vec<u64>,
    artists: Vec<u64>,
    words: Vec<String>,
}

/// One connection's state: where each list's walk is, its own playlist.
struct MixConn {
    mix: Arc<ApiMixShared>,
    table: Vec<usize>,
    index: usize,
    rng: XorShift,
    cursors: Vec<Option<String>>,
    playlist: Option<u64>,
    adds: u32,
    made: u32,
}

impl MixConn {
    fn create_op(&self) -> usize {
        self.mix.specs.len()
    }
    fn delete_op(&self) -> usize {
        self.mix.specs.len() + 1
    }
    /// The operation for spec `i`'s pages fetched with a cursor.
    fn cursor_op(&self, i: usize) -> usize {
        self.mix.specs.len() + 2 + i
    }
    /// The spec an operation belongs to, if any.
    fn spec_of(&self, op: usize) -> Option<usize> {
        let n = self.mix.specs.len();
        match op {
            _ if op < n => Some(op),
            _ if op >= n + 2 && op < 2 * n + 2 => Some(op - n - 2),
            _ => None,
        }
    }

    /// `text` with its placeholders filled (random library entries, the playlist).
    fn fill(rng: &mut XorShift, m: &ApiMixShared, text: &str, playlist: u64) -> String {
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let (value, used) = if tail.starts_with("{track_id}") {
                (rng.pick(&m.tracks).map(u64::to_string), 10)
            } else if tail.starts_with("{album_id}") {
                (rng.pick(&m.albums).map(u64::to_string), 10)
            } else if tail.starts_with("{artist_id}") {
                (rng.pick(&m.artists).map(u64::to_string), 11)
            } else if tail.starts_with("{word}") {
                (rng.pick(&m.words).cloned(), 6)
            } else if tail.starts_with("{playlist_id}") {
                (Some(playlist.to_string()), 13)
            } else {
                (None, 0)
            };
            if used == 0 {
                out.push('{');
                rest = &tail[1..];
            } else {
                // A list without entries (no albums, say): id 0, which answers 404.
                out.push_str(value.as_deref().unwrap_or("0"));
                rest = &tail[used..];
            }
        }
        out.push_str(rest);
        out
    }

    fn write(&self, out: &mut Vec<u8>, method: &str, path: &str, body: Option<&str>) {
        crate::client::write_request(out, method, &self.mix.host, path, body);
    }

    fn delete_request(&self, out: &mut Vec<u8>, id: u64) {
        self.write(out, "DELETE", &format!("/api/playlists/{id}"), None);
    }
}

impl Workload for MixConn {
    fn next(&mut self, out: &mut Vec<u8>) -> usize {
        let i = self.table[self.rng.below(self.table.len())];
        if self.mix.uses_playlist[i] {
            match self.playlist {
                None => {
                    self.made += 1;
                    let body = format!(
                        r#"{{"name":"auralis-loadtest {} #{}","description":"made by auralis-loadtest; deleted at the end of the run"}}"#,
                        self.index, self.made
                    );
                    self.write(out, "POST", "/api/playlists", Some(&body));
                    return self.create_op();
                }
                Some(id) if self.adds >= ADDS_PER_PLAYLIST => {
                    self.delete_request(out, id);
                    self.playlist = None;
                    self.adds = 0;
                    return self.delete_op();
                }
                Some(_) => self.adds += 1,
            }
        }
        let playlist = self.playlist.unwrap_or(0);
        let spec = &self.mix.specs[i];
        let mut path = Self::fill(&mut self.rng, &self.mix, &spec.path, playlist);
        let mut op = i;
        if let Some(c) = self.cursors[i].as_deref() {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str("cursor=");
            path.push_str(c);
            op = self.cursor_op(i);
        }
        let body = spec
            .body
            .as_deref()
            .map(|b| Self::fill(&mut self.rng, &self.mix, b, playlist));
        crate::client::write_request(out, &spec.method, &self.mix.host, &path, body.as_deref());
        op
    }

    fn wants_body(&self, op: usize) -> bool {
        op == self.create_op()
            || self
                .spec_of(op)
                .is_some_and(|i| self.mix.specs[i].follow_cursor)
    }

    fn observe(&mut self, op: usize, answer: &Answer) {
        if op == self.create_op() {
            self.playlist = (answer.status == 201 || answer.status == 200)
                .then(|| created_id(&answer.body))
                .flatten();
        } else if let Some(i) = self
            .spec_of(op)
            .filter(|&i| self.mix.specs[i].follow_cursor)
        {
            self.cursors[i] = (answer.status == 200)
                .then(|| next_cursor(&answer.body))
                .flatten();
        }
    }

    fn cleanup(&mut self) -> Vec<Vec<u8>> {
        self.playlist
            .take()
            .map(|id| {
                let mut out = Vec::new();
                self.delete_request(&mut out, id);
                out
            })
            .into_iter()
            .collect()
    }
}

/// `data.id` of a created resource.
fn created_id(body: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("data")?.get("id")?.as_u64()
}

/// `meta.next_cursor` of a list page, without parsing the whole page (cursors are
/// URL-safe base64, so they need no escaping in a query).
pub fn next_cursor(body: &[u8]) -> Option<String> {
    let key = b"\"next_cursor\":\"";
    let at = body.windows(key.len()).rposition(|w| w == key)? + key.len();
    let len = body[at..].iter().position(|&b| b == b'"')?;
    let c = std::str::from_utf8(&body[at..at + len]).ok()?;
    c.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        .then(|| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_ids_are_read_from_answers() {
        let page = br#"{"status":"success","data":[{"title":"x \"next_cursor\":\"no\""}],"meta":{"limit":2,"has_more":true,"next_cursor":"eyJz-_9"}}"#;
        assert_eq!(next_cursor(page).as_deref(), Some("eyJz-_9"));
        assert_eq!(next_cursor(br#"{"meta":{"next_cursor":null}}"#), None);
        assert_eq!(
            created_id(br#"{"status":"success","data":{"id":17,"name":"p"}}"#),
            Some(17)
        );
    }

    #[test]
    fn list_walks_follow_the_cursor_and_restart_after_the_last_page() {
        let spec = OpSpec {
            name: "tracks page".into(),
            method: "GET".into(),
            path: "/api/tracks?limit=2".into(),
            body: None,
            weight: 1,
            follow_cursor: true,
        };
        let seeds = Seeds {
            tracks: vec![1],
            ..Seeds::default()
        };
        let mix = ApiMix::new("127.0.0.1:1".parse().unwrap(), vec![spec], seeds);
        let mut c = mix.connection(0);
        let answer = |body: &[u8]| Answer {
            status: 200,
            bytes: 0,
            close: false,
            tier: None,
            node: None,
            body: body.to_vec(),
        };
        let mut out = Vec::new();
        let op = c.next(&mut out);
        assert!(c.wants_body(op));
        assert!(out.starts_with(b"GET /api/tracks?limit=2 HTTP/1.1"));
        c.observe(
            op,
            &answer(br#"{"meta":{"has_more":true,"next_cursor":"abc_D-1"}}"#),
        );
        out.clear();
        let deep = c.next(&mut out);
        assert!(
            out.starts_with(b"GET /api/tracks?limit=2&cursor=abc_D-1 HTTP/1.1"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(mix.operations()[deep], "tracks page (cursor)");
        c.observe(
            deep,
            &answer(br#"{"meta":{"has_more":false,"next_cursor":null}}"#),
        );
        out.clear();
        c.next(&mut out);
        assert!(
            out.starts_with(b"GET /api/tracks?limit=2 HTTP/1.1"),
            "back to page one"
        );
    }

    #[test]
    fn placeholders_are_checked_and_filled() {
        let spec = |path: &str, body: Option<&str>| OpSpec {
            name: "t".into(),
            method: "GET".into(),
            path: path.into(),
            body: body.map(str::to_string),
            weight: 1,
            follow_cursor: false,
        };
        assert!(check_spec(&spec("/api/tracks/{nope}", None)).is_err());
        assert!(
            check_spec(&spec(
                "/api/p/{playlist_id}",
                Some(r#"{"track_ids":[{track_id}]}"#)
            ))
            .is_ok()
        );
        let seeds = Seeds {
            tracks: vec![7],
            albums: vec![],
            artists: vec![3],
            words: vec!["tide".into()],
        };
        let mix = ApiMix::new(
            "127.0.0.1:1".parse().unwrap(),
            vec![spec(
                "/x/{track_id}/{album_id}?q={word}&a={artist_id}",
                None,
            )],
            seeds,
        );
        let mut c = mix.connection(0);
        let mut out = Vec::new();
        assert_eq!(c.next(&mut out), 0);
        assert!(
            out.starts_with(b"GET /x/7/0?q=tide&a=3 HTTP/1.1\r\n"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}
