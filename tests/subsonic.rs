//! The Subsonic API (`/rest/`), tested as apps use it: real client libraries no one
//! here wrote (py-opensonic from PyPI, the npm `subsonic-api` package) logging in with
//! token auth and with an API key, browsing, searching, starring, scrobbling, editing a
//! playlist, fetching cover art and streaming a song to its end (decoded by ffprobe);
//! then every trust decision forged by hand: wrong and conflicting credentials, the
//! failed-login limit, other users' data, deleted users, sealed passwords.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// An API key acting as `user`.
fn api_key(s: &Server, user: &str, name: &str) -> String {
    token_cli(s, &["create", "--user", user, "--name", name])
        .trim()
        .to_string()
}

/// The real encoders' corpus with a cover beside the MP3 (`None` without ffmpeg).
fn corpus_library() -> Option<std::path::PathBuf> {
    let dir = temp_dir("subsonic-lib");
    corpus::build(&dir)?;
    let cover = dir.join("Lame Artist/Lame Album/cover.jpg");
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=orange:s=320x320",
            "-frames:v",
            "1",
        ])
        .arg(&cover)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir)
}

fn server_with_corpus() -> Option<Server> {
    let lib = corpus_library()?;
    let s = Server::start(library_opts(&lib));
    wait_scan(&s);
    Some(s)
}

/// `GET /rest/{method}?{query}&f=json`, the `subsonic-response` object.
fn sub(s: &Server, method: &str, query: &str) -> serde_json::Value {
    let r = get(s, &format!("/rest/{method}?{query}&f=json&v=1.16.1&c=test"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["subsonic-response"].clone()
}

fn code(v: &serde_json::Value) -> i64 {
    assert_eq!(v["status"], "failed", "{v}");
    v["error"]["code"].as_i64().unwrap()
}

/// Runs a client's flow script; it must exit 0 with a JSON summary saying `ok` last.
fn run_client(s: &Server, client: &str, mode: &str, mut cmd: Command) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{client} {mode}: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["ok"], true);
    println!("{client} {mode}: {summary}");
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn py_opensonic_browses_stars_scrobbles_edits_a_playlist_and_streams_with_both_logins() {
    if !python_has("libopensonic") {
        println!("SKIPPED: py-opensonic is not installed (pip install py-opensonic==10.4.1)");
        return;
    }
    let Some(s) = server_with_corpus() else {
        println!("SKIPPED: ffmpeg is not installed (the corpus is made by real encoders)");
        return;
    };
    create_user(&s, "alice", "listener", "correct horse");
    let key = api_key(&s, "alice", "alice-phone");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/subsonic/opensonic_flows.py");
    let port = s.addr.port().to_string();
    for args in [
        vec!["token", "alice", "correct horse"],
        vec!["apikey", key.as_str(), "alice"],
    ] {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg("http://127.0.0.1")
            .arg(&port)
            .args(&args);
        run_client(&s, "py-opensonic", args[0], cmd);
    }
}

/// Where the npm `subsonic-api` package is installed for the test (once, under
/// `target/`); `None` when node or the registry is missing.
fn subsonic_api_package() -> Option<std::path::PathBuf> {
    const VERSION: &str = "3.3.1";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/subsonic-npm");
    let marker = dir.join("node_modules/subsonic-api/package.json");
    let installed = std::fs::read_to_string(&marker)
        .is_ok_and(|p| p.contains(&format!("\"version\": \"{VERSION}\"")));
    if !installed {
        std::fs::create_dir_all(&dir).ok()?;
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg(format!("subsonic-api@{VERSION}"))
            .output()
            .ok()?;
        if !out.status.success() {
            println!(
                "npm install subsonic-api: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
    }
    Some(dir)
}

#[test]
fn the_npm_subsonic_api_client_browses_stars_scrobbles_edits_a_playlist_and_streams() {
    let Some(package) = subsonic_api_package() else {
        println!(
            "SKIPPED: node/npm or the npm registry is missing (npm install subsonic-api@3.3.1)"
        );
        return;
    };
    let Some(s) = server_with_corpus() else {
        println!("SKIPPED: ffmpeg is not installed (the corpus is made by real encoders)");
        return;
    };
    create_user(&s, "bea", "listener", "p@ss w0rd&=");
    let key = api_key(&s, "bea", "bea-web");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/subsonic/subsonic_api_flows.mjs");
    let url = format!("http://127.0.0.1:{}", s.addr.port());
    for args in [
        vec!["token", "bea", "p@ss w0rd&="],
        vec!["apikey", key.as_str(), "bea"],
    ] {
        let mut cmd = Command::new("node");
        cmd.arg(&script).arg(&package).arg(&url).args(&args);
        run_client(&s, "subsonic-api", args[0], cmd);
    }
}

/// A small library (tiny WAV tracks), alice (listener, password `pw`), bob (listener),
/// carol (admin); rate limits high enough for the forged logins below.
fn small_server() -> Server {
    let s = lib_server(12, &[]);
    create_user(&s, "alice", "listener", "pw");
    create_user(&s, "bob", "listener", "bob-pw");
    create_user(&s, "carol", "admin", "carol-pw");
    s
}

fn token_of(password: &str, salt: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import hashlib;print(hashlib.md5(b'{password}{salt}').hexdigest())"),
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn every_login_is_checked_conflicts_are_refused_and_answers_have_the_subsonic_shape() {
    let s = small_server();
    let key = api_key(&s, "alice", "alice-key");
    let ok = |q: &str| {
        let v = sub(&s, "ping", q);
        assert_eq!(v["status"], "ok", "{q}: {v}");
    };
    ok("u=alice&p=pw");
    ok("u=alice&p=enc:7077");
    ok(&format!("u=alice&t={}&s=salt42", token_of("pw", "salt42")));
    ok(&format!(
        "u=alice&t={}&s=salt42",
        token_of("pw", "salt42").to_uppercase()
    ));
    ok(&format!("apiKey={key}"));
    assert_eq!(code(&sub(&s, "ping", "u=alice&p=nope")), 40);
    assert_eq!(code(&sub(&s, "ping", "u=mallory&p=pw")), 40);
    assert_eq!(code(&sub(&s, "ping", "u=alice&t=00&s=salt42")), 40);
    assert_eq!(code(&sub(&s, "ping", "u=alice&t=00")), 10);
    assert_eq!(code(&sub(&s, "ping", "u=alice")), 10);
    assert_eq!(code(&sub(&s, "ping", "")), 10);
    assert_eq!(code(&sub(&s, "ping", &format!("apiKey={key}&u=alice"))), 43);
    assert_eq!(code(&sub(&s, "ping", "u=alice&p=pw&t=x&s=y")), 43);
    assert_eq!(code(&sub(&s, "ping", "apiKey=aur_forged")), 44);
    assert_eq!(code(&sub(&s, "ping", "u=alice&p=enc:7")), 0, "odd hex");
    // The extensions list is public; an unknown method is a 404 with code 70.
    let ext = sub(&s, "getOpenSubsonicExtensions", "");
    assert_eq!(
        ext["openSubsonicExtensions"][0]["name"],
        "apiKeyAuthentication"
    );
    let r = get(&s, "/rest/getVideos?u=alice&p=pw&f=json");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["subsonic-response"]["error"]["code"], 70);
    // XML by default, the Subsonic namespace, the OpenSubsonic attributes.
    let r = get(&s, "/rest/getMusicFolders.view?u=alice&p=pw");
    let xml = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        r.header("content-type").unwrap().starts_with("text/xml"),
        "{xml}"
    );
    assert!(
        xml.contains("<subsonic-response status=\"ok\" version=\"1.16.1\" type=\"auralis\"")
            && xml.contains("openSubsonic=\"true\"")
            && xml.contains("xmlns=\"http://subsonic.org/restapi\"")
            && xml.contains("<musicFolders><musicFolder id=\"1\" name=\"Music\"/></musicFolders>"),
        "{xml}"
    );
    let json = sub(&s, "getMusicFolders", "u=alice&p=pw");
    assert_eq!(json["musicFolders"]["musicFolder"][0]["id"], 1);
    // A form POST carries the password in the body, not the URL.
    let mut c = Raw::connect(s.addr);
    let body = "u=alice&p=pw&f=json&id=tr-1";
    c.send(format!("POST /rest/getSong.view HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(
        r.json()["subsonic-response"]["song"]["id"],
        "tr-1",
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    // JSONP only with a plain callback name.
    let r = get(&s, "/rest/ping?u=alice&p=pw&f=jsonp&callback=cb_1");
    assert!(String::from_utf8_lossy(&r.body).starts_with("cb_1({"));
    let r = get(&s, "/rest/ping?u=alice&p=pw&f=jsonp&callback=alert(1)");
    assert!(String::from_utf8_lossy(&r.body).starts_with("{\"subsonic-response\""));
}

#[test]
fn failed_logins_lock_a_user_and_an_address_even_against_the_right_password() {
    let s = small_server();
    let from = |ip: [u8; 4], q: &str| -> serde_json::Value {
        let mut c = Raw::connect_from(std::net::Ipv4Addr::from(ip), s.addr);
        c.send(
            format!("GET /rest/ping?{q}&f=json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        c.read_response().unwrap().json()["subsonic-response"].clone()
    };
    for _ in 0..10 {
        assert_eq!(code(&from([127, 0, 0, 2], "u=alice&p=guess")), 40);
    }
    let locked = from([127, 0, 0, 9], "u=alice&p=pw");
    assert_eq!(code(&locked), 40, "the user is locked from any address");
    assert!(
        locked["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many failed logins")
    );
    assert_eq!(
        from([127, 0, 0, 9], "u=bob&p=bob-pw")["status"],
        "ok",
        "others are not"
    );
    // An address spraying names is locked for every name, a valid login included.
    for i in 0..30 {
        assert_eq!(code(&from([127, 0, 0, 3], &format!("u=nobody{i}&p=x"))), 40);
    }
    let sprayer = from([127, 0, 0, 3], "u=carol&p=carol-pw");
    assert!(
        sprayer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many failed logins")
    );
    assert_eq!(from([127, 0, 0, 4], "u=carol&p=carol-pw")["status"], "ok");
    assert!(
        s.log().contains("failed-login limit reached"),
        "shed logins are logged"
    );
}

#[test]
fn each_user_sees_only_its_own_stars_ratings_playlists_and_queue() {
    let s = small_server();
    let alice = "u=alice&p=pw";
    let bob = "u=bob&p=bob-pw";
    assert_eq!(
        sub(&s, "star", &format!("{alice}&id=tr-1&id=tr-2&id=tr-5"))["status"],
        "ok"
    );
    assert_eq!(
        sub(&s, "setRating", &format!("{alice}&id=tr-1&rating=3"))["status"],
        "ok"
    );
    let made = sub(
        &s,
        "createPlaylist",
        &format!("{alice}&name=Mine&songId=tr-3"),
    );
    let pid = made["playlist"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        sub(
            &s,
            "savePlayQueue",
            &format!("{alice}&id=tr-4&current=tr-4&position=9")
        )["status"],
        "ok"
    );
    // Three songs by two artists (tr-1 and tr-5 are Alpha's, on two albums that sort
    // apart): each artist listed once.
    let starred = sub(&s, "getStarred2", alice)["starred2"].clone();
    assert_eq!(starred["song"].as_array().unwrap().len(), 3);
    assert_eq!(starred["album"].as_array().unwrap().len(), 3);
    assert_eq!(starred["artist"].as_array().unwrap().len(), 2, "{starred}");
    assert_eq!(
        sub(&s, "getSong", &format!("{alice}&id=tr-1"))["song"]["userRating"],
        3
    );
    // Bob sees none of it, and cannot touch it.
    assert!(
        sub(&s, "getStarred2", bob)["starred2"]["song"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        sub(&s, "getSong", &format!("{bob}&id=tr-1"))["song"]
            .get("userRating")
            .is_none()
    );
    assert!(
        sub(&s, "getPlaylists", bob)["playlists"]["playlist"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        code(&sub(&s, "getPlaylist", &format!("{bob}&id={pid}"))),
        70
    );
    assert_eq!(
        code(&sub(&s, "deletePlaylist", &format!("{bob}&id={pid}"))),
        70
    );
    assert_eq!(
        code(&sub(
            &s,
            "updatePlaylist",
            &format!("{bob}&playlistId={pid}&songIdToAdd=tr-5")
        )),
        70
    );
    assert!(sub(&s, "getPlayQueue", bob).get("playQueue").is_none());
    assert_eq!(
        code(&sub(&s, "getPlaylists", &format!("{bob}&username=alice"))),
        50
    );
    // A listener asks only about itself; an admin about anyone.
    assert_eq!(
        code(&sub(&s, "getUser", &format!("{bob}&username=alice"))),
        50
    );
    let seen = sub(&s, "getUser", "u=carol&p=carol-pw&username=alice");
    assert_eq!(seen["user"]["adminRole"], false);
    assert_eq!(
        sub(&s, "getUser", "u=carol&p=carol-pw&username=carol")["user"]["adminRole"],
        true
    );
    // Album and artist stars are not served: said, not dropped.
    let e = sub(&s, "star", &format!("{alice}&albumId=al-1"));
    assert_eq!(code(&e), 0);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only songs")
    );
}

#[test]
fn passwords_are_sealed_at_rest_and_a_deleted_user_and_its_keys_stop_working() {
    let s = small_server();
    let key = api_key(&s, "alice", "alice-key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.data_dir.join("account.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The database holds no password in clear (a checkpointed copy, WAL included).
    for file in ["library.db", "library.db-wal"] {
        if let Ok(bytes) = std::fs::read(s.data_dir.join(file)) {
            assert!(
                !bytes.windows(6).any(|w| w == b"bob-pw"),
                "{file} holds a password in clear"
            );
        }
    }
    let list = user_cli(&s, &["list"], "");
    let users: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 3);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("pw"));
    // A new password: the old one fails, the new one works.
    let out = user_cli(&s, &["passwd", "alice"], "second\n");
    assert!(out.status.success());
    assert_eq!(code(&sub(&s, "ping", "u=alice&p=pw")), 40);
    assert_eq!(sub(&s, "ping", "u=alice&p=second")["status"], "ok");
    // Deleted: the password and the API key stop at once; the bearer token too.
    assert_eq!(sub(&s, "ping", &format!("apiKey={key}"))["status"], "ok");
    let out = user_cli(&s, &["delete", "alice"], "");
    assert!(out.status.success());
    assert_eq!(code(&sub(&s, "ping", "u=alice&p=second")), 40);
    assert_eq!(code(&sub(&s, "ping", &format!("apiKey={key}"))), 44);
    let mut c = Raw::connect(s.addr);
    c.send(format!("GET /api/playlists HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(c.read_response().unwrap().status, 401);
    // Users are not tokens: `token revoke` leaves them, `token list` omits them; a
    // deleted user's name is free for a new one.
    let revoke = Command::new(env!("CARGO_BIN_EXE_auralis-server"))
        .args(["token", "revoke", "bob", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(!revoke.status.success(), "a user is not revoked as a token");
    assert_eq!(sub(&s, "ping", "u=bob&p=bob-pw")["status"], "ok");
    let tokens: serde_json::Value = serde_json::from_str(&token_cli(&s, &["list"])).unwrap();
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "bob" && t["name"] != "carol"),
        "{tokens}"
    );
    create_user(&s, "alice", "listener", "third");
    assert_eq!(sub(&s, "ping", "u=alice&p=third")["status"], "ok");
    // Empty passwords and a missing user are refused by the CLI.
    assert!(
        !user_cli(&s, &["create", "--name", "eve"], "\n")
            .status
            .success()
    );
    assert!(!user_cli(&s, &["passwd", "nobody"], "x\n").status.success());
}

#[test]
fn sizes_from_the_wire_are_bounded_and_streams_keep_their_promised_length() {
    let s = small_server();
    let a = "u=alice&p=pw";
    assert_eq!(
        code(&sub(
            &s,
            "getAlbumList2",
            &format!("{a}&type=newest&size=501")
        )),
        0
    );
    assert_eq!(
        code(&sub(
            &s,
            "getAlbumList2",
            &format!("{a}&type=newest&offset=18446744073709551615")
        )),
        0
    );
    assert_eq!(
        code(&sub(&s, "getAlbumList2", &format!("{a}&type=sideways"))),
        0
    );
    assert_eq!(
        code(&sub(
            &s,
            "getAlbumList2",
            &format!("{a}&type=byYear&fromYear=1990")
        )),
        10
    );
    let big = sub(
        &s,
        "getAlbumList2",
        &format!("{a}&type=alphabeticalByName&size=500&offset=9223372036854775807"),
    );
    assert!(big["albumList2"]["album"].as_array().unwrap().is_empty());
    assert_eq!(
        code(&sub(&s, "getSong", &format!("{a}&id=tr-99999999999"))),
        70
    );
    assert_eq!(
        code(&sub(
            &s,
            "getSong",
            &format!("{a}&id=tr-99999999999999999999999")
        )),
        70
    );
    assert_eq!(
        code(&sub(&s, "getSong", &format!("{a}&id=../../etc/passwd"))),
        70
    );
    let salt = "s".repeat(300);
    assert_eq!(code(&sub(&s, "ping", &format!("u=alice&t=00&s={salt}"))), 0);
    // Past what a URL may carry (431), and past the queue's cap in a form body.
    let many = "&id=tr-1".repeat(10_001);
    assert_eq!(
        get(&s, &format!("/rest/savePlayQueue?{a}{many}")).status,
        431
    );
    let mut c = Raw::connect(s.addr);
    let body = format!("{a}&f=json{many}");
    c.send(format!("POST /rest/savePlayQueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(code(&r.json()["subsonic-response"]), 0);
    // Searches: wildcards are literal, every page bounded.
    let found = sub(&s, "search3", &format!("{a}&query=%25&songCount=500"));
    assert!(
        found["searchResult3"]["song"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{found}"
    );
    let all = sub(
        &s,
        "search3",
        &format!("{a}&query=&songCount=500&artistCount=0&albumCount=0"),
    );
    assert_eq!(all["searchResult3"]["song"].as_array().unwrap().len(), 12);
    // WAV made from the chunks: exactly the promised length, from an offset too.
    let r = get(&s, &format!("/rest/stream?{a}&id=tr-1&format=wav"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 44 + 400 * 2, "0.05 s of 8 kHz mono");
    assert_eq!(
        r.header("content-length").unwrap(),
        (44 + 400 * 2).to_string()
    );
    let r = get(
        &s,
        &format!("/rest/stream?{a}&id=tr-1&format=wav&timeOffset=9223372036854775807"),
    );
    assert_eq!(r.body.len(), 44, "an offset past the end is an empty track");
    let r = request(
        &s,
        "HEAD",
        &format!("/rest/stream?{a}&id=tr-1&format=wav"),
        None,
    );
    assert_eq!(r.header("content-length").unwrap(), "844");
    assert!(r.body.is_empty());
    // The file itself, with Range.
    let mut c = Raw::connect(s.addr);
    c.send(format!("GET /rest/stream?{a}&id=tr-1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-11\r\nConnection: close\r\n\r\n").as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 12);
    assert_eq!(&r.body[..4], b"RIFF");
    assert_eq!(
        code(&sub(
            &s,
            "stream",
            &format!("{a}&id=tr-1&maxBitRate=100001")
        )),
        0
    );
    assert_eq!(
        code(&sub(
            &s,
            "stream",
            &format!("{a}&id=tr-1&format=opus&maxBitRate=31")
        )),
        0
    );
    // If-Range naming another version of the file: the whole file, not a piece.
    let mut c = Raw::connect(s.addr);
    c.send(format!("GET /rest/stream?{a}&id=tr-1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-11\r\nIf-Range: \"old\"\r\nConnection: close\r\n\r\n").as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200, "the whole file");
    assert!(r.body.len() > 844, "{}", r.body.len());
    // Past the end: FLAC is its head alone, Opus nothing.
    let r = get(
        &s,
        &format!("/rest/stream?{a}&id=tr-1&format=flac&timeOffset=100"),
    );
    assert_eq!((r.status, &r.body[..4]), (200, &b"fLaC"[..]));
    assert!(r.body.len() < 100, "{}", r.body.len());
    let r = get(
        &s,
        &format!("/rest/stream?{a}&id=tr-1&format=opus&timeOffset=100"),
    );
    assert_eq!((r.status, r.body.len()), (200, 0));
    // Playlist edits are held to the limits creation is; scrobble times are not negative.
    let pid = sub(&s, "createPlaylist", &format!("{a}&name=Mine"))["playlist"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        code(&sub(
            &s,
            "updatePlaylist",
            &format!("{a}&playlistId={pid}&name=")
        )),
        0
    );
    let long = "x".repeat(1001);
    assert_eq!(
        code(&sub(
            &s,
            "updatePlaylist",
            &format!("{a}&playlistId={pid}&comment={long}")
        )),
        0
    );
    assert_eq!(
        code(&sub(&s, "scrobble", &format!("{a}&id=tr-1&time=-1"))),
        0
    );
    assert_eq!(code(&sub(&s, "getUser", &format!("{a}&username="))), 10);
}

#[test]
fn a_file_gone_under_a_transcode_is_a_subsonic_error_before_any_audio() {
    let lib = temp_dir("subsonic-gone");
    make_library(&lib, 0, 3);
    let s = Server::start(library_opts(&lib));
    wait_scan(&s);
    create_user(&s, "alice", "listener", "pw");
    std::fs::remove_file(lib.join("song-001.wav")).unwrap();
    for format in ["wav", "flac", "opus"] {
        let r = get(
            &s,
            &format!("/rest/stream?u=alice&p=pw&f=json&id=tr-2&format={format}"),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json()["subsonic-response"]["error"]["code"],
            70,
            "{format}"
        );
        let ok = get(
            &s,
            &format!("/rest/stream?u=alice&p=pw&id=tr-1&format={format}"),
        );
        assert!(ok.body.len() > 40, "{format}: the others still stream");
    }
}

#[test]
fn tags_no_xml_can_carry_still_make_a_well_formed_document() {
    use auralis_server::audio::{Tags, wav};
    let dir = temp_dir("subsonic-tags");
    let tags = Tags {
        title: "A <b>&amp; \"quoted\" 'it' \u{1}\u{7f} ]]> end".into(),
        artist: "Ünïcødé & Co".into(),
        album: "<album/>".into(),
        album_artist: None,
        track_number: 1,
        year: 2000,
        genre: "x\ty".into(),
    };
    let samples = vec![0i16; 800];
    std::fs::write(
        dir.join("t.wav"),
        wav::encode_pcm16(&samples, 1, 8000, Some(&tags)),
    )
    .unwrap();
    let s = Server::start(library_opts(&dir));
    wait_scan(&s);
    create_user(&s, "alice", "listener", "pw");
    for method in [
        "getSong.view?id=tr-1",
        "getAlbumList2?type=newest",
        "getArtists",
        "search3?query=",
    ] {
        let sep = if method.contains('?') { '&' } else { '?' };
        let r = get(&s, &format!("/rest/{method}{sep}u=alice&p=pw"));
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import sys,xml.etree.ElementTree as E; E.fromstring(sys.stdin.buffer.read())",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&r.body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{method}: {}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&r.body),
            s.log()
        );
    }
    let song = sub(&s, "getSong", "u=alice&p=pw&id=tr-1");
    assert!(
        song["song"]["title"]
            .as_str()
            .unwrap()
            .starts_with("A <b>&amp; \"quoted\"")
    );
}

/// A WebSocket opened with `key` as its bearer token.
fn ws_with_token(s: &Server, key: &str) -> Ws {
    let url = format!("ws://{}/ws", s.addr);
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    let stream = std::net::TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok();
    let (mut ws, _) = tungstenite::client(req, stream).expect("handshake");
    ws_next(&mut ws);
    ws
}

fn closed_with(ws: &mut Ws) -> u16 {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(frame)) => break frame.expect("a code").code.into(),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

#[test]
fn revoking_an_api_key_or_deleting_its_user_closes_what_the_key_opened() {
    let s = small_server();
    let phone = api_key(&s, "alice", "alice-phone");
    let laptop = api_key(&s, "alice", "alice-laptop");
    let mut by_phone = ws_with_token(&s, &phone);
    let mut by_laptop = ws_with_token(&s, &laptop);
    // The key acts as its user: her playlists, not the key's own.
    sub(&s, "createPlaylist", "u=alice&p=pw&name=Hers");
    let mut c = Raw::connect(s.addr);
    c.send(format!("GET /api/playlists HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {laptop}\r\nConnection: close\r\n\r\n").as_bytes());
    let lists = c.read_response().unwrap().json();
    assert_eq!(lists["data"][0]["name"], "Hers", "{lists}");
    token_cli(&s, &["revoke", "alice-phone"]);
    assert_eq!(closed_with(&mut by_phone), 1008, "the revoked key's socket");
    assert_eq!(code(&sub(&s, "ping", &format!("apiKey={phone}"))), 44);
    assert_eq!(sub(&s, "ping", &format!("apiKey={laptop}"))["status"], "ok");
    assert!(user_cli(&s, &["delete", "alice"], "").status.success());
    assert_eq!(
        closed_with(&mut by_laptop),
        1008,
        "the deleted user's other key"
    );
}

#[test]
fn the_readme_and_the_book_name_every_method_served() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## Subsonic apps")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a Subsonic apps section");
    let chapter = std::fs::read_to_string(root.join("docs/src/subsonic.md")).unwrap();
    for name in auralis_server::subsonic::method_names() {
        let quoted = format!("`{name}`");
        assert!(
            section.contains(&quoted),
            "README's Subsonic section lacks {quoted}"
        );
        assert!(
            chapter.contains(&quoted),
            "docs/src/subsonic.md lacks {quoted}"
        );
    }
}
