//! The book under docs/ (mdBook) stays true: its configuration reference is generated
//! from `src/config.rs` (field doc comments) and `auralis-server config --print` (the
//! defaults), and every relative link in README.md and the book resolves to a file
//! and, for a `#fragment`, to a heading there. A stale reference fails with the
//! command that regenerates it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Struct name → its fields in order, each with its doc comment (one paragraph).
fn struct_docs(src: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    let mut doc = String::new();
    for line in src.lines() {
        let t = line.trim();
        if let Some(name) = t
            .strip_prefix("pub struct ")
            .and_then(|r| r.strip_suffix(" {"))
        {
            current = Some((name.to_string(), Vec::new()));
            doc.clear();
        } else if t == "}" {
            if let Some((name, fields)) = current.take() {
                out.insert(name, fields);
            }
        } else if let Some(d) = t.strip_prefix("///") {
            doc.push_str(d.trim());
            doc.push(' ');
        } else if let (Some((_, fields)), Some(rest)) = (&mut current, t.strip_prefix("pub ")) {
            if let Some((field, ty)) = rest.split_once(':') {
                let ty = ty.trim().trim_end_matches(',');
                fields.push((field.to_string(), format!("{ty}\u{0}{}", doc.trim())));
            }
            doc.clear();
        } else if !t.starts_with("#[") {
            doc.clear();
        }
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The reference page, generated.
fn reference() -> String {
    let src = std::fs::read_to_string(root().join("src/config.rs")).unwrap();
    let structs = struct_docs(&src);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auralis-server"))
        .args(["config", "--print"])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let defaults: toml::Table = String::from_utf8(out.stdout).unwrap().parse().unwrap();
    let mut page = String::from(
        "# Configuration reference\n\n\
         Generated from `src/config.rs` (its doc comments) and `auralis-server config --print` \
         (the defaults) by `tests/book.rs`; regenerate with \
         `AURALIS_UPDATE_BOOK=1 cargo test --test book`. Every key can also be set as \
         `AURALIS_<SECTION>__<KEY>` (see [Configuration](configuration.md)).\n",
    );
    for (section, ty) in &structs["Config"] {
        let ty = ty.split('\u{0}').next().unwrap();
        page.push_str(&format!(
            "\n## `[{section}]`\n\n| key | default | what it does |\n|---|---|---|\n"
        ));
        for (key, entry) in &structs[ty] {
            let (_, doc) = entry.split_once('\u{0}').unwrap();
            let default = match (section.as_str(), key.as_str()) {
                // Machine-dependent: the page must not depend on where it was made.
                ("cluster", "node") => "the host name".to_string(),
                _ => defaults
                    .get(section)
                    .and_then(|t| t.get(key))
                    .map_or("unset".to_string(), |v| format!("`{v}`")),
            };
            let doc = if doc.is_empty() { "—" } else { doc };
            page.push_str(&format!(
                "| `{key}` | {} | {} |\n",
                cell(&default),
                cell(doc)
            ));
        }
    }
    page
}

#[test]
fn the_configuration_reference_is_generated_from_config_rs() {
    let path = root().join("docs/src/config-reference.md");
    let want = reference();
    if std::env::var_os("AURALIS_UPDATE_BOOK").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/src/config-reference.md is stale: AURALIS_UPDATE_BOOK=1 cargo test --test book"
    );
    assert!(want.contains("| `stale_ws_share` |"), "{want}");
}

/// mdBook's id of a heading: lowercase, spaces to `-`, other punctuation dropped.
fn heading_id(h: &str) -> String {
    h.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The text of a book page with its `{{#include …}}` files pulled in.
fn expanded(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| match l.trim().strip_prefix("{{#include ") {
            Some(rest) => expanded(&path.parent().unwrap().join(rest.trim_end_matches("}}"))),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn headings(path: &Path) -> BTreeSet<String> {
    let mut in_code = false;
    expanded(path)
        .lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            !in_code && l.starts_with('#')
        })
        .map(|l| heading_id(l.trim_start_matches('#')))
        .collect()
}

/// Relative links `](target)` of a markdown text (not `http…`, not `mailto:`).
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .filter(|l| !l.is_empty() && !l.contains("://") && !l.starts_with("mailto:"))
        .collect()
}

#[test]
fn every_link_in_the_readme_and_the_book_resolves() {
    let mut pages: Vec<PathBuf> = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs/src")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).unwrap();
    assert!(links(&summary).len() >= 10, "{summary}");
    let mut broken = Vec::new();
    for page in &pages {
        for link in links(&expanded(page)) {
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
            } else if !fragment.is_empty()
                && target.extension().is_some_and(|x| x == "md")
                && !headings(&target).contains(fragment)
            {
                broken.push(format!("{}: {link} (no such heading)", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
