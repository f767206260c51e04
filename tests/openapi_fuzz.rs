//! The OpenAPI document against an independent tester: Schemathesis generates requests
//! from `/api/openapi.json` (valid and invalid ones) and checks every answer against the
//! same document (`--checks all`: statuses, content types, headers, response schemas,
//! security, what is accepted and what is refused). Run three ways: before any token
//! exists (a loopback client needs none), then with an admin token, then without one.
//! Any failure fails the test; its report is printed.
//!
//! Pinned: `.ci/run` installs this version (`pip install schemathesis==…`). The
//! cross-parameter rules a schema cannot state are in `tests/schemathesis/hooks.py`.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const SCHEMATHESIS: &str = "4.32.5";

/// The pinned Schemathesis CLI, or why it cannot run.
fn schemathesis() -> Result<(), String> {
    let out = Command::new("st")
        .arg("--version")
        .output()
        .map_err(|e| format!("the `st` command (Schemathesis) is missing: {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout).to_string();
    if version.contains(SCHEMATHESIS) {
        Ok(())
    } else {
        Err(format!(
            "Schemathesis {SCHEMATHESIS} is pinned, found {version:?}"
        ))
    }
}

/// One run; panics with Schemathesis's report on any failure.
fn run(s: &Server, label: &str, token: Option<&str>) {
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let work = temp_dir("schemathesis");
    let mut cmd = Command::new("st");
    cmd.current_dir(&work)
        .env("PYTHONPATH", &hooks)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .args(["run", &format!("http://{}/api/openapi.json", s.addr)])
        .args(["--checks", "all", "--max-examples", "25", "--workers", "2"])
        // Not the stateful phase: its inferred links send an unresolved `{id}` when a
        // list they read is empty (a 422 for a non-integer id, reported as a valid
        // request refused). Every operation still gets examples, coverage and fuzzing.
        .args(["--phases", "examples,coverage,fuzzing"])
        // Reproducible in CI; a wider search: drop the seed, raise --max-examples.
        .args(["--seed", "20261203", "--generation-database", "none"])
        .args(["--request-timeout", "30", "--no-color"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let mut out = cmd.output().expect("run schemathesis");
    // CPython 3.11 before 3.11.8 (gh-106905) can fail `ast.parse` inside Hypothesis
    // with this message, at random: an interpreter bug in the tool, not a finding
    // about the server. Retried once, said aloud; any other error fails at once.
    if !out.status.success()
        && String::from_utf8_lossy(&out.stdout).contains("AST constructor recursion depth mismatch")
    {
        eprintln!(
            "schemathesis {label}: CPython's AST recursion bug (gh-106905) hit the tool; retrying once"
        );
        out = cmd.output().expect("run schemathesis");
    }
    let report = String::from_utf8_lossy(&out.stdout);
    let summary: String = report
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("schemathesis {label}:\n{summary}");
    assert!(
        out.status.success(),
        "schemathesis {label} reported failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("Tested:"),
        "schemathesis {label} tested nothing:\n{report}"
    );
}

#[test]
fn schemathesis_finds_no_failure_with_or_without_a_token() {
    if let Err(why) = schemathesis() {
        eprintln!(
            "SKIPPED schemathesis_finds_no_failure_with_or_without_a_token: {why} (pip install schemathesis=={SCHEMATHESIS}; .ci/run installs it)"
        );
        return;
    }
    // A small library (ids 1..=4 exist, so some generated ids hit real tracks) and no
    // rate limit (a fuzzer is one client sending thousands of requests).
    let s = lib_server(4, &[("AURALIS_RATE_LIMIT__ENABLED", "false")]);
    run(&s, "before any token (loopback)", None);
    let admin = create(&s, "admin", "schemathesis");
    run(&s, "with an admin token", Some(&admin));
    run(&s, "without a token", None);
}
