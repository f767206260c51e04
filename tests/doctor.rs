//! `auralis-server doctor` as an operator runs it: every check printed with its
//! verdict, a fix for each one not ok, and exit 1 when one fails.

use std::process::Command;

fn doctor(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_auralis-server"))
        .arg("doctor")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run doctor");
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn doctor_checks_the_host_and_says_what_to_change() {
    let (code, text) = doctor(&[]);
    let checks: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(checks.len(), 8, "{text}");
    for name in [
        "io_uring",
        "cpus",
        "open files",
        "somaxconn",
        "client-IP pinning",
    ] {
        assert!(text.contains(name), "{name} checked:\n{text}");
    }
    let not_ok = checks.iter().filter(|l| !l.starts_with("[ok  ]")).count();
    assert_eq!(
        text.matches("fix:").count(),
        not_ok,
        "one fix per check not ok:\n{text}"
    );
    assert!(text.contains("8 checks:"), "{text}");
    let failed = checks.iter().any(|l| l.starts_with("[FAIL]"));
    assert_eq!(code, Some(if failed { 1 } else { 0 }), "{text}");

    // More cores than the process may use: a failure, with the fix, exit 1.
    let (code, text) = doctor(&["--cores", "100000"]);
    assert_eq!(code, Some(1), "{text}");
    let cpus = text
        .lines()
        .skip_while(|l| !l.contains("] cpus"))
        .take(2)
        .collect::<Vec<_>>();
    assert!(
        cpus[0].starts_with("[FAIL]") && cpus[1].contains("fix:"),
        "{text}"
    );
}
