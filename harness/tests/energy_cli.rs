//! `ternbench energy` run as a user would. On a machine with counters it reads them; on this
//! project's VMs (no powercap, no `power` PMU, no MSR device) it must say why each source is
//! unavailable and how to fix it, and exit 0. Bad arguments are usage errors (exit 2).
//! Agreement and disagreement between sources are tested on fake trees in
//! `energy/src/tests/selfcheck.rs`.

use std::process::{Command, Output};

use serde_json::Value;

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

#[test]
fn energy_lists_sources_and_says_why_any_is_unavailable() {
    let o = ternbench(&["energy", "--seconds", "0.2", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let sources = v["sources"].as_array().unwrap();
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["powercap", "perf", "msr"]);
    for s in sources {
        if s["available"] == Value::Bool(false) {
            let why = s["unavailable"]["detail"].as_str().unwrap();
            assert!(!why.is_empty());
        } else {
            assert!(!s["found"].as_array().unwrap().is_empty(), "{s}");
        }
    }
    assert!(!v["summary"].as_str().unwrap().is_empty());

    let o = ternbench(&["energy", "--seconds", "0.2"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for name in ["powercap:", "perf:", "msr:"] {
        assert!(text.contains(name), "{text}");
    }
    if !sources.iter().any(|s| s["available"] == Value::Bool(true)) {
        assert!(
            text.contains("unavailable") && text.contains("fix:"),
            "{text}"
        );
        assert!(text.contains("no energy source is available"), "{text}");
    }
}

#[test]
fn energy_refuses_bad_windows() {
    let o = ternbench(&["energy", "--seconds", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--seconds"));
    let o = ternbench(&["energy", "--tolerance", "-1"]);
    assert_eq!(o.status.code(), Some(2));
}
