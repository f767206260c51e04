//! Access control against the real server: tokens made with the real CLI, roles on
//! every change route, the no-token safe default, tokens on the WebSocket upgrade,
//! CORS that never grants a change to `*`, and the security scheme in OpenAPI.

mod common;

use common::*;
use serde_json::{Value, json};

/// A request with an optional bearer token (and body).
fn call(s: &Server, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut c = Raw::connect(s.addr);
    c.send(req.as_bytes());
    c.read_response_opts(method == "HEAD").expect("response")
}

#[test]
fn without_a_token_only_loopback_may_change_things() {
    // Loopback counts as local by default: the README's first command works as is.
    let s = lib_server(3, &[]);
    assert_eq!(call(&s, "POST", "/api/cache/clear", None, None).status, 200);
    // Behind a reverse proxy on the same host every client is loopback: off, the
    // exposed node is read-only and says how to get a token.
    let s = lib_server(3, &[("AURALIS_AUTH__TRUST_LOOPBACK", "false")]);
    let r = call(&s, "POST", "/api/cache/clear", None, None);
    assert_eq!(r.status, 403, "{}", r.json());
    assert_eq!(r.json()["error"], "forbidden");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("token create")
    );
    assert_eq!(
        call(&s, "GET", "/api/tracks", None, None).status,
        200,
        "reads stay open"
    );
}

#[test]
fn tokens_gate_every_change_by_role() {
    let s = lib_server(3, &[]);
    let admin = create(&s, "admin", "ops");
    let listener = create(&s, "listener", "alice");
    assert!(admin.starts_with("aur_") && listener.starts_with("aur_"));
    let id = track_ids(&s, "/api/tracks")[0];

    // Now that a token exists, loopback is no longer enough.
    let r = call(&s, "POST", "/api/cache/clear", None, None);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some(r#"Bearer realm="auralis-server""#)
    );
    assert_eq!(
        call(&s, "POST", "/api/cache/clear", Some(&listener), None).status,
        403
    );
    assert_eq!(
        call(&s, "POST", "/api/cache/clear", Some(&admin), None).status,
        200
    );
    for (method, path, body) in [
        ("POST", "/api/library/scan".to_string(), None),
        (
            "POST",
            "/api/notifications".to_string(),
            Some(json!({"title": "hi"})),
        ),
        ("DELETE", format!("/api/cache/track/{id}"), None),
    ] {
        let r = call(&s, method, &path, Some(&listener), body);
        assert_eq!(r.status, 403, "{method} {path}: {}", r.json());
    }
    // A listener's own things: favorites and playlists.
    assert_eq!(
        call(
            &s,
            "POST",
            &format!("/api/tracks/{id}/favorite"),
            Some(&listener),
            None
        )
        .status,
        200
    );
    let pl = call(
        &s,
        "POST",
        "/api/playlists",
        Some(&listener),
        Some(json!({"name": "Mine"})),
    );
    assert_eq!(pl.status, 201, "{}", pl.json());
    // Batches are checked item by item: tags are an admin's.
    let tags = json!({"items": [{"id": "a", "action": "set_tags", "data": {"track_id": id, "title": "DEFACED"}}], "atomic": true});
    assert_eq!(
        call(
            &s,
            "POST",
            "/api/batch",
            Some(&listener),
            Some(tags.clone())
        )
        .status,
        403
    );
    assert_eq!(
        call(&s, "POST", "/api/batch", None, Some(tags.clone())).status,
        401
    );
    let favs = json!({"items": [{"id": "f", "action": "favorite", "data": {"track_id": id}}], "atomic": true});
    assert_eq!(
        call(&s, "POST", "/api/batch", Some(&listener), Some(favs)).status,
        200
    );
    assert_eq!(
        call(&s, "POST", "/api/batch", Some(&admin), Some(tags)).status,
        200
    );
    // Reads need nothing; the connection table is an operator's.
    assert_eq!(call(&s, "GET", "/api/tracks", None, None).status, 200);
    assert_eq!(
        call(&s, "GET", "/api/ws/connections", Some(&listener), None).status,
        403
    );

    // A wrong token is refused as such; a revoked one too.
    let r = call(&s, "GET", "/api/tracks", Some("aur_not-a-token"), None);
    assert_eq!(r.status, 401);
    assert!(
        r.header("WWW-Authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    token_cli(&s, &["revoke", "alice"]);
    assert_eq!(
        call(
            &s,
            "POST",
            "/api/playlists",
            Some(&listener),
            Some(json!({"name": "Late"}))
        )
        .status,
        401
    );

    // The secret is shown once: neither the list nor the database holds it.
    let list = token_cli(&s, &["list"]);
    assert!(
        list.contains("\"ops\"") && list.contains("\"revoked_at\""),
        "{list}"
    );
    assert!(!list.contains(&admin));
    let db = std::fs::read(s.data_dir.join("library.db")).unwrap_or_default();
    let wal = std::fs::read(s.data_dir.join("library.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(admin.len()).any(|w| w == admin.as_bytes()),
            "a secret stored in clear"
        );
    }
}

#[test]
fn the_websocket_upgrade_carries_the_token() {
    let s = lib_server(3, &[]);
    let admin = create(&s, "admin", "ops");
    let listener = create(&s, "listener", "bob");
    let open = |protocols: Option<String>| {
        use tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}/ws", s.addr).into_client_request().unwrap();
        if let Some(p) = protocols {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        let stream = std::net::TcpStream::connect(s.addr).unwrap();
        // A refused handshake as its HTTP status (0: refused otherwise).
        tungstenite::client(req, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r)) => {
                r.status().as_u16()
            }
            _ => 0,
        })
    };
    // Browsers: the token beside the subprotocol, which the server selects.
    let (mut ws, resp) = open(Some(format!("auralis.v1, bearer.{admin}"))).expect("upgrade");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "auralis.v1");
    ws_next(&mut ws);
    let m = ws_rpc(&mut ws, "library_sync", json!({}));
    assert_eq!(m["type"], "library_sync", "{m}");
    // A listener may not scan; anonymous connections need a token once one exists.
    let (mut ws, _) = open(Some(format!("auralis.v1, bearer.{listener}"))).expect("upgrade");
    ws_next(&mut ws);
    assert_eq!(
        ws_rpc(&mut ws, "library_sync", json!({}))["payload"]["error"],
        "forbidden"
    );
    let (mut ws, _) = open(None).expect("upgrade");
    ws_next(&mut ws);
    assert_eq!(
        ws_rpc(&mut ws, "library_sync", json!({}))["payload"]["error"],
        "unauthorized"
    );
    // An unknown token is refused at the upgrade: 401, no socket.
    let refused = open(Some("auralis.v1, bearer.aur_nope".into())).map(|(_, r)| r.status());
    assert_eq!(refused.err(), Some(401));
}

#[test]
fn cors_never_grants_a_change_to_the_wildcard() {
    let s = Server::start(Opts::cores(1));
    let preflight = |origin: &str, method: &str| {
        let mut c = Raw::connect(s.addr);
        c.send(
            format!("OPTIONS /api/cache/clear HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\n\r\n")
                .as_bytes(),
        );
        c.read_response().unwrap()
    };
    // The default `*` covers anonymous reads only.
    let r = preflight("http://evil.example", "DELETE");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    assert_eq!(r.header("Access-Control-Allow-Methods"), None);
    assert_eq!(
        preflight("http://evil.example", "GET").header("Access-Control-Allow-Origin"),
        Some("*")
    );
    let mut c = Raw::connect(s.addr);
    c.send(b"GET /api/version HTTP/1.1\r\nHost: t\r\nOrigin: http://evil.example\r\nAuthorization: Bearer x\r\n\r\n");
    assert_eq!(
        c.read_response()
            .unwrap()
            .header("Access-Control-Allow-Origin"),
        None,
        "credentials never meet *"
    );
    // An origin listed by name is echoed, changes included.
    let s = Server::start(
        Opts::cores(1).env("AURALIS_CORS__ALLOWED_ORIGINS", "[\"https://app.example\"]"),
    );
    let mut c = Raw::connect(s.addr);
    c.send(b"OPTIONS /api/cache/clear HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(
        (r.status, r.header("Access-Control-Allow-Origin")),
        (204, Some("https://app.example"))
    );
}

#[test]
fn openapi_shows_the_security_scheme_per_operation() {
    let s = Server::start(Opts::cores(1));
    let doc = get(&s, "/api/openapi.json").json();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    let clear = &doc["paths"]["/api/cache/clear"]["post"];
    // No token exists yet and this client is on loopback: the token is optional for it.
    assert_eq!(clear["security"], json!([{"bearerAuth": []}, {}]));
    assert_eq!(clear["x-required-role"], "admin");
    assert!(clear["responses"]["401"].is_object() && clear["responses"]["403"].is_object());
    assert_eq!(
        doc["paths"]["/api/playlists"]["post"]["x-required-role"],
        "listener"
    );
    assert!(
        doc["paths"]["/api/tracks"]["get"].get("security").is_none(),
        "reads are public"
    );
    // Once a token exists, every change needs one: the document says so.
    create(&s, "admin", "ops");
    let doc = get(&s, "/api/openapi.json").json();
    assert_eq!(
        doc["paths"]["/api/cache/clear"]["post"]["security"],
        json!([{"bearerAuth": []}])
    );
}

#[test]
fn a_listeners_playlists_are_its_own() {
    let s = lib_server(3, &[]);
    let admin = create(&s, "admin", "ops");
    let alice = create(&s, "listener", "alice");
    let bob = create(&s, "listener", "bob");
    let track = track_ids(&s, "/api/tracks")[0];
    let made = call(
        &s,
        "POST",
        "/api/playlists",
        Some(&alice),
        Some(json!({"name": "Alice mix"})),
    );
    assert_eq!(made.status, 201, "{}", made.json());
    let id = made.json()["data"]["id"].as_i64().unwrap();
    let path = format!("/api/playlists/{id}");
    // Another listener: as if it did not exist.
    assert_eq!(call(&s, "GET", &path, Some(&bob), None).status, 404);
    assert_eq!(
        call(
            &s,
            "PUT",
            &path,
            Some(&bob),
            Some(json!({"name": "Mine now"}))
        )
        .status,
        404
    );
    assert_eq!(call(&s, "DELETE", &path, Some(&bob), None).status, 404);
    let add = json!({"track_ids": [track]});
    assert_eq!(
        call(
            &s,
            "POST",
            &format!("{path}/tracks"),
            Some(&bob),
            Some(add.clone())
        )
        .status,
        404
    );
    let names = |token: &str| -> Vec<String> {
        call(&s, "GET", "/api/playlists", Some(token), None).json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&bob).is_empty());
    assert_eq!(names(&alice), vec!["Alice mix"]);
    // A batch is checked item by item against the same rule.
    let batch = json!({"items": [{"id": "x", "action": "add_to_playlist", "data": {"playlist_id": id, "track_ids": [track]}}], "atomic": false});
    let r = call(&s, "POST", "/api/batch", Some(&bob), Some(batch.clone()));
    assert_eq!(
        r.json()["data"]["results"][0]["error"]["error"],
        "not_found",
        "{}",
        r.json()
    );
    assert_eq!(
        call(&s, "POST", "/api/batch", Some(&alice), Some(batch)).json()["data"]["successful"],
        1
    );
    // The owner and an admin see it.
    assert_eq!(
        call(&s, "GET", &path, Some(&alice), None).json()["data"]["track_count"],
        1
    );
    assert_eq!(call(&s, "GET", &path, Some(&admin), None).status, 200);
    assert_eq!(names(&admin), vec!["Alice mix"]);
}

#[test]
fn a_listeners_favorites_are_its_own() {
    let s = lib_server(3, &[]);
    let alice = create(&s, "listener", "alice");
    let bob = create(&s, "listener", "bob");
    let ids = track_ids(&s, "/api/tracks?order_by=title");
    let r = call(
        &s,
        "POST",
        &format!("/api/tracks/{}/favorite", ids[0]),
        Some(&alice),
        None,
    );
    assert_eq!(
        (r.status, r.json()["data"]["favorite"].as_bool()),
        (200, Some(true))
    );
    let favorites = |token: &str| -> Vec<i64> {
        call(&s, "GET", "/api/tracks?favorite=true", Some(token), None).json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(favorites(&alice), vec![ids[0]]);
    assert!(favorites(&bob).is_empty(), "bob has none");
    let seen_by_bob = call(
        &s,
        "GET",
        &format!("/api/tracks/{}", ids[0]),
        Some(&bob),
        None,
    );
    assert_eq!(seen_by_bob.json()["data"]["favorite"], false);
    // In a batch too (the transaction acts for its principal).
    let batch = json!({"items": [{"id": "f", "action": "favorite", "data": {"track_id": ids[1]}}], "atomic": true});
    assert_eq!(
        call(&s, "POST", "/api/batch", Some(&bob), Some(batch)).status,
        200
    );
    assert_eq!(favorites(&bob), vec![ids[1]]);
    assert_eq!(favorites(&alice), vec![ids[0]], "alice's are unchanged");
    // Without a listener token, the shared flag: untouched by either.
    assert_eq!(ok_data(&get(&s, "/api/tracks?favorite=true")), json!([]));
}
