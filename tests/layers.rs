//! The architecture's rules, checked over the source (docs/ARCHITECTURE.md "Layers"):
//! what may import what, and functions short enough to read at once.

use std::path::{Path, PathBuf};

/// Lines a function may span before it needs a written reason (`// Long: …` above it).
const MAX_FN_LINES: usize = 80;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn src(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(folder)
}

/// The code of a file without its `#[cfg(test)]` module (tests may reach anywhere).
fn non_test_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// `(file, line)` of every use of a forbidden module path in a folder's code.
fn crossings(folder: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(&src(folder)) {
        for (n, line) in non_test_code(&file).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden {
                if code.contains(&format!("crate::{f}::"))
                    || code.contains(&format!("crate::{f}}}"))
                {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn the_domain_imports_no_transport() {
    for folder in ["library", "cache", "audio", "monitor"] {
        let found = crossings(folder, &["http", "api"]);
        assert!(
            found.is_empty(),
            "{folder} reaches a transport:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_websocket_adapter_never_calls_the_http_adapter() {
    let found = crossings("ws", &["api"]);
    assert!(found.is_empty(), "ws reaches api:\n{}", found.join("\n"));
}

#[test]
fn the_adapters_never_call_each_other() {
    for (folder, others) in [
        ("subsonic", &["api", "ws"][..]),
        // `api` hands the WebSocket upgrade to `ws` (its route lives in the REST table).
        ("api", &["subsonic"][..]),
        ("ws", &["subsonic"][..]),
    ] {
        let found = crossings(folder, others);
        assert!(
            found.is_empty(),
            "{folder} reaches another adapter:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_domain_knows_nothing_of_subsonic() {
    for folder in ["library", "cache", "audio", "monitor", "runtime", "http"] {
        let found = crossings(folder, &["subsonic"])
            .into_iter()
            // Shared holds the adapter's process-wide state, as it holds ws's sessions.
            .filter(|l| !l.contains("subsonic: crate::subsonic::SubsonicShared"))
            .collect::<Vec<_>>();
        assert!(
            found.is_empty(),
            "{folder} reaches subsonic:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_cluster_link_sits_below_both_adapters() {
    let found = crossings("cluster", &["http", "api"]);
    assert!(
        found.is_empty(),
        "cluster reaches an adapter:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_runtime_sits_below_http() {
    let found = crossings("runtime", &["http", "api"]);
    assert!(
        found.is_empty(),
        "runtime reaches http:\n{}",
        found.join("\n")
    );
}

/// Functions longer than [`MAX_FN_LINES`] with no `// Long:` reason above them.
fn long_functions(path: &Path) -> Vec<String> {
    let code = non_test_code(path);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let is_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) async fn ",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p));
        if !is_fn || trimmed.ends_with(';') {
            continue;
        }
        let close = format!("{}}}", " ".repeat(indent));
        let Some(len) = lines[i..].iter().position(|l| *l == close) else {
            continue;
        };
        let reason = lines[..i]
            .iter()
            .rev()
            .take_while(|l| {
                let t = l.trim_start();
                t.starts_with("//") || t.starts_with("#[")
            })
            .any(|l| l.trim_start().starts_with("// Long:"));
        if len + 1 > MAX_FN_LINES && !reason {
            found.push(format!("{}:{} ({} lines)", path.display(), i + 1, len + 1));
        }
    }
    found
}

#[test]
fn no_function_runs_past_eighty_lines_without_a_reason() {
    let mut found = Vec::new();
    for file in rust_files(&src("")) {
        found.extend(long_functions(&file));
    }
    assert!(found.is_empty(), "long functions:\n{}", found.join("\n"));
}
