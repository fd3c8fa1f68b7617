//! Helpers the CLI tests share: run the binary, run a scenario into a folder, read its records.
//! Each test file takes what it needs (`mod common;`), so some go unused in some files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `ternbench ARGS`, its output captured.
pub fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

/// The run folders under `root`, sorted (none when it does not exist).
pub fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `ternbench run SCENARIO --out OUT --quiet`, which must succeed; returns its run folder.
pub fn run_quiet(scenario: &Path, out: &Path) -> PathBuf {
    let o = ternbench(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run_dirs(out).remove(0)
}

/// A run folder's `run.json`.
pub fn run_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}
