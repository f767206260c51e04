//! A rescan never destroys what users made: an emptied (unmounted) library root, a
//! scan that would lose most of the library, a moved, re-tagged or deleted-then-
//! restored file, the grace period before a missing track is purged, and ids that are
//! never given twice — each against the real server and real files on disk.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;

/// Titles → (id, missing) of every track, missing ones included.
fn tracks(s: &Server) -> Vec<(String, i64, bool)> {
    let all = ok_data(&get(s, "/api/tracks?limit=500"));
    all.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["title"].as_str().unwrap().to_string(),
                t["id"].as_i64().unwrap(),
                t["missing"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn id_of(s: &Server, title: &str) -> i64 {
    tracks(s)
        .into_iter()
        .find(|t| t.0 == title)
        .unwrap_or_else(|| panic!("no track {title}"))
        .1
}

fn rescan(s: &Server) -> Value {
    let r = request(s, "POST", "/api/library/scan", None);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    wait_scan(s)
}

/// A library of `n` tracks, a favorite (track "Song 000") and a playlist of the first
/// three, made the way a user would.
fn library_with_user_data(n: usize, extra: &[(&str, &str)]) -> (Server, std::path::PathBuf, i64) {
    let lib = temp_dir("safety-lib");
    make_library(&lib, 0, n);
    let mut opts = library_opts(&lib);
    for (k, v) in extra {
        opts = opts.env(k, v);
    }
    let s = Server::start(opts);
    wait_scan(&s);
    let first = id_of(&s, "Song 000");
    let fav = request(&s, "POST", &format!("/api/tracks/{first}/favorite"), None);
    assert!(fav.status < 300, "{}", String::from_utf8_lossy(&fav.body));
    let ids: Vec<i64> = ["Song 000", "Song 001", "Song 002"]
        .iter()
        .map(|t| id_of(&s, t))
        .collect();
    let made = request(
        &s,
        "POST",
        "/api/playlists",
        Some(&json!({"name": "keep"}).to_string()),
    );
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let pid = made.json()["data"]["id"].as_i64().unwrap();
    let added = request(
        &s,
        "POST",
        &format!("/api/playlists/{pid}/tracks"),
        Some(&json!({"track_ids": ids}).to_string()),
    );
    assert!(
        added.status < 300,
        "{}",
        String::from_utf8_lossy(&added.body)
    );
    (s, lib, pid)
}

fn playlist_tracks(s: &Server, pid: i64) -> Vec<i64> {
    let p = ok_data(&get(s, &format!("/api/playlists/{pid}")));
    p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

fn favorite(s: &Server, id: i64) -> bool {
    ok_data(&get(s, &format!("/api/tracks/{id}")))["favorite"]
        .as_bool()
        .unwrap()
}

#[test]
fn an_emptied_library_root_changes_nothing_and_says_why() {
    let (s, lib, pid) = library_with_user_data(5, &[]);
    let before = tracks(&s);
    let entries = playlist_tracks(&s, pid);
    let first = id_of(&s, "Song 000");
    // An unmounted disk: the folder is there, empty.
    let away = temp_dir("safety-away");
    files_into(&lib, &away, Transfer::Move);
    let report = rescan(&s);
    assert_eq!(report["state"], "refused", "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("no audio files"),
        "{report}"
    );
    assert_eq!(tracks(&s), before, "nothing marked, nothing deleted");
    assert_eq!(playlist_tracks(&s, pid), entries);
    assert!(favorite(&s, first));
    // The disk comes back: the same tracks, the same ids.
    files_into(&away, &lib, Transfer::Move);
    assert_eq!(rescan(&s)["state"], "completed");
    assert_eq!(tracks(&s), before);
}

#[test]
fn a_scan_that_would_lose_most_of_the_library_is_refused() {
    let (s, lib, _pid) = library_with_user_data(4, &[]);
    let before = tracks(&s);
    for i in 0..3 {
        std::fs::remove_file(lib.join(format!("song-{i:03}.wav"))).unwrap();
    }
    let report = rescan(&s);
    assert_eq!(report["state"], "refused", "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("max_missing_share"),
        "{report}"
    );
    assert_eq!(tracks(&s), before);
}

#[test]
fn a_missing_track_keeps_its_id_favorite_and_playlist_place_and_comes_back() {
    let (s, lib, pid) = library_with_user_data(4, &[]);
    let first = id_of(&s, "Song 000");
    let entries = playlist_tracks(&s, pid);
    let file = lib.join("song-000.wav");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let report = rescan(&s);
    assert_eq!(report["state"], "completed", "{report}");
    assert_eq!(report["missing"], 1, "{report}");
    assert_eq!(report["removed"], 0, "{report}");
    let t = tracks(&s);
    assert!(t.contains(&("Song 000".into(), first, true)), "{t:?}");
    assert_eq!(
        playlist_tracks(&s, pid),
        entries,
        "its playlist place is kept"
    );
    assert!(favorite(&s, first), "so is its favorite");
    assert_eq!(
        get(&s, &format!("/api/stream/{first}/chunk/0?format=wav")).status,
        404,
        "a missing file is 404"
    );
    std::fs::write(&file, bytes).unwrap();
    assert_eq!(rescan(&s)["state"], "completed");
    assert!(tracks(&s).contains(&("Song 000".into(), first, false)));
    assert!(favorite(&s, first));
    assert_eq!(
        get(&s, &format!("/api/stream/{first}/chunk/0?format=wav")).status,
        200
    );
}

#[test]
fn a_moved_and_retagged_file_keeps_its_id() {
    let (s, lib, pid) = library_with_user_data(4, &[]);
    let second = id_of(&s, "Song 001");
    let entries = playlist_tracks(&s, pid);
    // Moved into another folder under another name, and its tags rewritten: the same
    // audio in a different file.
    let old = lib.join("song-001.wav");
    let fresh = temp_dir("safety-fresh");
    make_library(&fresh, 1, 1);
    let audio_of = |p: &Path| {
        let b = std::fs::read(p).unwrap();
        let at = b.windows(4).position(|w| w == b"data").unwrap();
        b[at..].to_vec()
    };
    let mut retagged = std::fs::read(fresh.join("song-001.wav")).unwrap();
    assert_eq!(audio_of(&old), audio_of(&fresh.join("song-001.wav")));
    // Same samples, new title: rewrite every copy of the title in place (same length).
    let mut found = 0;
    while let Some(at) = retagged.windows(8).position(|w| w == b"Song 001") {
        retagged[at..at + 8].copy_from_slice(b"Tune 001");
        found += 1;
    }
    assert!(found > 0, "the title is in the file");
    std::fs::remove_file(&old).unwrap();
    std::fs::create_dir_all(lib.join("moved")).unwrap();
    std::fs::write(lib.join("moved/renamed.wav"), &retagged).unwrap();
    let report = rescan(&s);
    assert_eq!(report["state"], "completed", "{report}");
    assert_eq!(report["moved"], 1, "{report}");
    assert_eq!(report["added"], 0, "{report}");
    let t = tracks(&s);
    assert!(t.contains(&("Tune 001".into(), second, false)), "{t:?}");
    assert_eq!(playlist_tracks(&s, pid), entries);
}

#[test]
fn missing_tracks_are_purged_after_the_grace_period_and_ids_are_never_reused() {
    let (s, lib, pid) = library_with_user_data(4, &[("AURALIS_LIBRARY__MISSING_GRACE_DAYS", "0")]);
    let max = tracks(&s).iter().map(|t| t.1).max().unwrap();
    let (title, _, _) = tracks(&s).into_iter().find(|t| t.1 == max).unwrap();
    let n: usize = title.trim_start_matches("Song ").parse().unwrap();
    std::fs::remove_file(lib.join(format!("song-{n:03}.wav"))).unwrap();
    let report = rescan(&s);
    assert_eq!(report["removed"], 1, "grace 0: purged at once: {report}");
    assert!(tracks(&s).iter().all(|t| t.1 != max));
    // A new file never gets the purged track's id (chunk URLs are cached by id).
    make_library(&lib, 10, 1);
    assert_eq!(rescan(&s)["added"], 1);
    let new = id_of(&s, "Song 010");
    assert!(new > max, "new id {new} after purged {max}");
    let _ = playlist_tracks(&s, pid);
}

#[test]
fn an_admin_purges_missing_tracks_at_once_and_nothing_else() {
    let (s, lib, pid) = library_with_user_data(4, &[]);
    let first = id_of(&s, "Song 000");
    std::fs::remove_file(lib.join("song-000.wav")).unwrap();
    assert_eq!(rescan(&s)["missing"], 1);
    // Missing for less than a day: a purge of tracks missing 1+ days leaves it.
    let body = json!({"older_than_days": 1}).to_string();
    let r = request(&s, "POST", "/api/library/missing/purge", Some(&body));
    assert_eq!(
        ok_data(&r)["purged"],
        0,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let bad = json!({"older_than_days": -1}).to_string();
    let r = request(&s, "POST", "/api/library/missing/purge", Some(&bad));
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    // Every missing track, now: only it goes, with its playlist entry and favorite.
    let r = request(&s, "POST", "/api/library/missing/purge", None);
    assert_eq!(
        ok_data(&r)["purged"],
        1,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(get(&s, &format!("/api/tracks/{first}")).status, 404);
    assert_eq!(tracks(&s).len(), 3, "the present tracks stay");
    assert_eq!(playlist_tracks(&s, pid).len(), 2);
    // An administrator's action: a listener's token may not.
    let listener = create(&s, "listener", "purge-attempt");
    let r = ureq_post(&s, "/api/library/missing/purge", &listener);
    assert_eq!(r, 403);
}

/// POST with a bearer token; the status.
fn ureq_post(s: &Server, path: &str, token: &str) -> u16 {
    let mut raw = Raw::connect(s.addr);
    raw.send(
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    );
    raw.read_response().expect("a response").status
}
