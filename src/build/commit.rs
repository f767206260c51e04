//! Stamps the binary with the commit it was built from (`AURALIS_COMMIT`, shown by
//! `auralis_build_info` on /metrics): the environment's value when the packager sets
//! one, else `git rev-parse --short HEAD` when the source is a git checkout, else
//! nothing (the metric then says `unknown`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=AURALIS_COMMIT");
    // A new commit moves HEAD's branch ref; a checkout moves HEAD.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("AURALIS_COMMIT").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    if let Some(c) =
        commit.filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        println!("cargo:rustc-env=AURALIS_COMMIT={c}");
    }
}
