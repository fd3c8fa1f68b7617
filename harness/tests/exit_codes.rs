//! Exit codes, one test per command family (docs/cli.md): 0 success; 1 only for a regression
//! verdict (`compare`, tested in compare_cli.rs); 2 for every usage or input error, with the
//! message on stderr and nothing on stdout; never 1 for an error.

use std::process::{Command, Output};

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

/// Each case must exit 2, print nothing on stdout and say something on stderr.
fn all_exit_2(cases: &[&[&str]]) {
    for args in cases {
        let o = ternbench(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: stderr:\n{err}");
        assert!(o.stdout.is_empty(), "{args:?} printed on stdout");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
}

fn exits_0(args: &[&str]) {
    let o = ternbench(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn usage_of_the_binary() {
    all_exit_2(&[&[], &["no-such-command"], &["run", "--no-such-flag"]]);
    exits_0(&["--help"]);
    exits_0(&["--version"]);
    exits_0(&["run", "--help"]);
}

#[test]
fn machine_commands_bandwidth_peak_kernels_sysinfo() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    all_exit_2(&[
        &["bandwidth", "--size-mib", "0"],
        &["bandwidth", "-o", "yaml"],
        &["peak", "-t", "0"],
        &["kernels", "--weight-format", "i3"],
        &["kernels", "--isa", "avx9000"],
        &["sysinfo", "--compare", bad.to_str().unwrap()],
        &["sysinfo", "--compare", "/no/such/fingerprint.json"],
    ]);
    exits_0(&["sysinfo", "--no-bandwidth"]);
}

#[test]
fn engine_commands_generate_logits_bench() {
    all_exit_2(&[
        &["generate", "-m", "bitnet-3b", "--tokens", "1"],
        &["generate", "-m", "/no/such/model.gguf", "--tokens", "1"],
        &["generate", "-m", "bitnet-125m", "--tokens", "x"],
        &["generate", "-m", "bitnet-125m", "--prompt", "hi"],
        &[
            "generate",
            "-m",
            "bitnet-125m",
            "--tokens",
            "1",
            "--prefetch",
            "100",
        ],
        &[
            "generate",
            "-m",
            "bitnet-125m",
            "--tokens",
            "1",
            "--prefetch",
            "soon",
        ],
        &["logits", "-m", "bitnet-125m", "--tokens", "99999999"],
        &[
            "logits",
            "-m",
            "bitnet-125m",
            "--tokens",
            "1",
            "--weight-format",
            "f16",
        ],
        &["bench", "-m", "bitnet-3b"],
        &["bench", "-m", "bitnet-125m", "-r", "0"],
        &["bench", "-m", "bitnet-125m", "-p", "0", "-n", "0"],
        &["bench", "-m", "bitnet-125m", "--weight-format", "q8"],
        &["bench", "-m", "bitnet-125m", "--prefetch", "131072"],
    ]);
    exits_0(&[
        "logits",
        "-m",
        "bitnet-125m",
        "--tokens",
        "1",
        "--weight-format",
        "i2",
    ]);
}

#[test]
fn run_and_its_scenarios() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "models = [\"bitnet-125m\"]\nrepetitions = \"many\"\n").unwrap();
    let out = tmp.path().join("r");
    all_exit_2(&[
        &[
            "run",
            "/no/such/scenario.toml",
            "--out",
            out.to_str().unwrap(),
        ],
        &["run", bad.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &["run", "--resume", tmp.path().to_str().unwrap()],
        &["run", "--energy", "solar"],
    ]);
    assert!(!out.exists(), "a refused run left a results folder");
}

#[test]
fn results_commands_report_compare_baseline_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("run.json");
    std::fs::write(&junk, "{}").unwrap();
    let d = tmp.path().to_str().unwrap();
    all_exit_2(&[
        &["report", "/no/such/run"],
        &["report", junk.to_str().unwrap(), "--out", d],
        &["compare", "/no/such/a", "/no/such/b"],
        &["compare", junk.to_str().unwrap(), junk.to_str().unwrap()],
        &["compare", "a", "b", "--metric", "speed"],
        &[
            "baseline",
            "save",
            "bad name!",
            junk.to_str().unwrap(),
            "--dir",
            d,
        ],
        &["baseline", "save", "ok", "/no/such/run", "--dir", d],
        &["cost", "--requests-per-day", "-5"],
        &["cost"],
        &["cost", "--gpu", "no-such-gpu"],
        &["cost", "--run", "/no/such/run"],
        &["cost", "--catalogue", "/no/such/catalogue.toml"],
    ]);
    exits_0(&[
        "cost",
        "--cpu-ternary-decode-tps",
        "20",
        "--cpu-ternary-prefill-tps",
        "50",
        "--cpu-fp16-decode-tps",
        "5",
        "--cpu-fp16-prefill-tps",
        "40",
    ]);
    exits_0(&["baseline", "list", "--dir", d]);
}

#[test]
fn completions_and_man() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    all_exit_2(&[
        &["completions", "tcsh"],
        &["man", "--out", file.join("sub").to_str().unwrap()],
    ]);
    exits_0(&["completions", "fish"]);
    exits_0(&["man"]);
}
