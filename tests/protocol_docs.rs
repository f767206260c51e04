//! docs/PROTOCOL.md against the server, both ways, so they cannot drift: every client
//! message type its tables list (by category) is one the server takes and lists in
//! `connect`, and the other way round; every topic it names can be subscribed; every
//! envelope field the server sends is one it documents.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

fn protocol() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap()
}

/// The lines of section `## title` (up to the next `## `).
fn section<'a>(doc: &'a str, title: &str) -> Vec<&'a str> {
    doc.lines()
        .skip_while(|l| l.trim() != format!("## {title}"))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect()
}

/// Category (lowercased `### ` heading) → the backticked types of its table's first
/// column.
fn documented_types(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = None;
    for line in section(doc, "Client → server messages") {
        if let Some(h) = line.strip_prefix("### ") {
            current = Some(h.trim().to_lowercase());
            out.entry(h.trim().to_lowercase()).or_default();
        } else if let (Some(c), Some(cell)) = (&current, line.strip_prefix("| `")) {
            let name = cell.split('`').next().unwrap().to_string();
            out.get_mut(c).unwrap().insert(name);
        }
    }
    out
}

/// The envelope fields the Envelope section lists (`- `name``).
fn documented_fields(doc: &str) -> BTreeSet<String> {
    section(doc, "Envelope")
        .iter()
        .filter_map(|l| l.strip_prefix("- `"))
        .map(|l| l.split('`').next().unwrap().to_string())
        .chain(
            // "Server messages carry `timestamp` … and `priority`".
            section(doc, "Envelope")
                .iter()
                .filter(|l| l.contains("Server messages carry"))
                .flat_map(|l| l.split('`').skip(1).step_by(2).map(str::to_string))
                .collect::<Vec<_>>(),
        )
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn every_documented_message_type_and_topic_is_the_servers_and_back() {
    let doc = protocol();
    let documented = documented_types(&doc);
    assert!(documented.len() >= 6, "{documented:?}");
    let s = lib_server(3, &[]);
    let (mut ws, welcome) = ws_connect(&s, LOCAL);
    let served: BTreeMap<String, BTreeSet<String>> = welcome["categories"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(c, types)| {
            let set = types.as_array().unwrap().iter();
            (
                c.clone(),
                set.map(|t| t.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(documented, served, "PROTOCOL.md's tables vs `connect`");
    // Every documented type is one the server takes (a payload error, not unknown).
    for t in documented.values().flatten().filter(|t| *t != "disconnect") {
        let reply = ws_rpc(&mut ws, t, json!({}));
        assert_ne!(reply["payload"]["error"], "unknown_type", "{t}: {reply}");
    }
    let reply = ws_rpc(&mut ws, "undocumented_type", json!({}));
    assert_eq!(reply["payload"]["error"], "unknown_type");
    // Topics: the ones `subscribe` is documented to accept are accepted.
    let topics_line = section(&doc, "Topics")
        .into_iter()
        .find(|l| l.contains("accepts"))
        .unwrap()
        .to_string();
    let listed = topics_line.split_once("accepts").unwrap().1;
    let topics: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    assert!(topics.contains(&"notifications"), "{topics:?}");
    for t in topics.iter().filter(|t| !t.starts_with("session:")) {
        let reply = ws_rpc(&mut ws, "subscribe", json!({"topics": [t]}));
        assert_eq!(reply["type"], "subscribed", "{t}: {reply}");
    }
    let reply = ws_rpc(&mut ws, "subscribe", json!({"topics": ["undocumented"]}));
    assert_eq!(reply["type"], "error", "{reply}");
    // Every envelope field the server sends is documented: a reply, the welcome and
    // a topic delivery (which names its topic).
    let fields = documented_fields(&doc);
    let body = json!({"title": "docs"}).to_string();
    let posted = request(&s, "POST", "/api/notifications", Some(&body));
    assert_eq!(posted.status, 202);
    let delivered = loop {
        let m = ws_next(&mut ws);
        if m["type"] == "notification" {
            break m;
        }
    };
    assert_eq!(delivered["topic"], "notifications", "{delivered}");
    let pong = ws_rpc(&mut ws, "ping", json!({}));
    for m in [&pong, &delivered] {
        let undocumented: Vec<_> = keys(m).difference(&fields).cloned().collect();
        assert!(
            undocumented.is_empty(),
            "{undocumented:?} in {m}; documented {fields:?}"
        );
    }
}
