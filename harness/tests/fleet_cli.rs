//! Fleet runs on the harness side: `ternbench run --label/--price-per-hour` recorded in
//! run.json (and kept on --resume), and `ternbench report` over a fleet folder
//! (`hosts/<host>/<run-id>/`, as deploy/ansible and deploy/slurm leave it): complete runs
//! found under it and unfinished ones left out with a note, rows grouped by machine label,
//! prices from run.json, tokens/s per core over the cores a cell used, notes where labels and
//! machines disagree, and runs of different settings or builds refused. Synthetic runs are
//! written here with serde_json; `recorded_loopback_fleet_merges` reads a fleet folder
//! recorded by deploy/tests/ansible-loopback.sh (tests/fixtures/fleet-loopback/).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const SCENARIO: &str = "name = \"fleet\"\nmodels = [\"bitnet-700m\"]\nengines = [\"ternary\", \"fp16\"]\nthreads = [1, \"all\"]\ntests = [\"pp64+tg32\"]\n";

const TINY: &str = r#"
name = "tiny"
models = [{ name = "bitnet-125m", sample_layers = 1 }]
engines = ["ternary"]
threads = [1]
tests = ["tg2"]
repetitions = 2
warmup = 0
max_repetitions = 2
[energy]
source = "none"
"#;

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("running ternbench")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ternbench-fleet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn summary(median: f64) -> Value {
    json!({
        "n": 5, "median": median, "mean": median, "stddev": median * 0.02,
        "ci95_low": median * 0.98, "ci95_high": median * 1.02,
        "min": median * 0.97, "max": median * 1.03, "cv": 0.02, "outliers": []
    })
}

fn cell(engine: &str, threads: usize, tg: f64) -> Value {
    json!({
        "key": {
            "model": "bitnet-700m", "engine": engine,
            "format": if engine == "ternary" { "i2" } else { "f16" },
            "head": "f16", "isa": "avx2", "threads": threads, "test": "pp64+tg32"
        },
        "n_prompt": 64, "n_gen": 32, "sampled": null, "repetitions": 5, "load_seconds": 1.0,
        "decode_bytes_per_token": 200_000_000u64,
        "prefill_tokens_per_s": summary(tg * 4.0),
        "decode_tokens_per_s": summary(tg),
        "ttft_seconds": summary(0.3),
        "decode_latency_ms": {"n": 160, "p50": 1000.0 / tg, "p90": 1100.0 / tg, "p99": 1200.0 / tg},
        "peak_rss_bytes": 1u64 << 30, "bandwidth_gbps": 20.0,
        "decode_roofline_fraction": tg * 2e8 / 20e9,
        "decode_tokens_per_s_full_depth_estimate": null, "energy": null, "noisy": false,
        "samples_prefill_tokens_per_s": [tg * 4.0], "samples_decode_tokens_per_s": [tg]
    })
}

/// One synthetic run.
struct Run<'a> {
    label: Option<&'a str>,
    price: Option<f64>,
    cpu: &'a str,
    cores: usize,
    status: &'a str,
    commit: &'a str,
    scenario: &'a str,
    speed: f64,
}

impl Default for Run<'_> {
    fn default() -> Self {
        Run {
            label: None,
            price: None,
            cpu: "AMD EPYC 9R14",
            cores: 4,
            status: "complete",
            commit: "abcdef1234567890",
            scenario: SCENARIO,
            speed: 1.0,
        }
    }
}

/// Writes `dir/<id>/run.json` (and scenario.toml) as `ternbench run` leaves them.
fn write_run(dir: &Path, id: &str, r: &Run) -> PathBuf {
    let cells: Vec<Value> = [1usize, r.cores]
        .iter()
        .flat_map(|&t| {
            let s = r.speed * t as f64;
            [cell("ternary", t, 30.0 * s), cell("fp16", t, 10.0 * s)]
        })
        .collect();
    let run = json!({
        "schema_version": 1, "run_id": id, "status": r.status, "ternbench_version": "0.1.0",
        "started_utc": "2026-12-01T10:00:00Z",
        "finished_utc": if r.status == "complete" { json!("2026-12-01T10:05:00Z") } else { Value::Null },
        "resumed": 0,
        "scenario": {"name": "fleet", "description": "", "file": null, "text": r.scenario},
        "machine": {
            "cpu_model": r.cpu, "physical_cores": r.cores, "logical_cpus": r.cores, "sockets": 1,
            "memory_bytes": 17_179_869_184u64, "isa_features": {"avx2": true, "avx512f": false},
            "target": "x86_64-unknown-linux-gnu", "build_profile": "release",
            "git_commit": r.commit, "git_dirty": false
        },
        "label": r.label, "price_usd_per_hour": r.price,
        "bandwidth": [{"threads": 1, "before_gbps": 20.0, "after_gbps": 20.0}],
        "counters": {"status": "unavailable", "reason": "no PMU in this VM"},
        "energy": {"status": "unavailable", "source": "none", "reason": "none in this test", "fix": null},
        "models": [], "cells": if r.status == "complete" { json!(cells) } else { json!([]) },
        "notes": []
    });
    let d = dir.join(id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("scenario.toml"), r.scenario).unwrap();
    std::fs::write(
        d.join("run.json"),
        serde_json::to_string_pretty(&run).unwrap(),
    )
    .unwrap();
    d
}

/// A fleet folder: three labelled hosts (two of one instance type, one of them another CPU
/// generation), one host stopped mid-run, one killed before its first run.json.
fn fleet(root: &Path) -> PathBuf {
    let f = root.join("fleet");
    let hosts = f.join("hosts");
    let c7i = |cpu, speed| Run {
        label: Some("c7i.xlarge"),
        price: Some(0.1785),
        cpu,
        speed,
        ..Run::default()
    };
    write_run(
        &hosts.join("a"),
        "r-a",
        &c7i("Intel Xeon Platinum 8488C", 1.0),
    );
    write_run(
        &hosts.join("b"),
        "r-b",
        &Run {
            label: Some("m7a.xlarge"),
            price: Some(0.23184),
            cpu: "AMD EPYC 9R14",
            speed: 1.5,
            ..Run::default()
        },
    );
    write_run(
        &hosts.join("c"),
        "r-c",
        &Run {
            label: Some("c6a.xlarge"),
            status: "running",
            ..Run::default()
        },
    );
    let d = hosts.join("d").join("r-d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("scenario.toml"), SCENARIO).unwrap();
    std::fs::write(d.join("cells.jsonl"), "").unwrap();
    // The fleet folder's own copy of the scenario does not make it a run folder.
    std::fs::write(f.join("scenario.toml"), SCENARIO).unwrap();
    write_run(
        &hosts.join("e"),
        "r-e",
        &c7i("Intel Xeon Platinum 8375C", 0.8),
    );
    f
}

fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let t = std::fs::read_to_string(path).unwrap();
    let mut lines = t
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let head = lines.next().unwrap();
    (head, lines.collect())
}

fn col(head: &[String], name: &str) -> usize {
    head.iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {head:?}"))
}

#[test]
fn report_over_a_fleet_folder_groups_by_label_and_prices_from_the_runs() {
    let root = tmp("report");
    let f = fleet(&root);
    let out = root.join("report");
    let o = ternbench(&["report", f.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // The unfinished hosts are named, with how to finish them.
    assert!(
        t.contains("left out") && t.contains("r-c") && t.contains("`running`"),
        "{t}"
    );
    assert!(t.contains("r-d") && t.contains("--resume"), "{t}");
    assert!(t.contains("3 run(s)"), "{t}");

    let (head, rows) = csv_rows(&out.join("cpus.csv"));
    let (m, run, eng) = (
        col(&head, "machine"),
        col(&head, "run_id"),
        col(&head, "engine"),
    );
    // Grouped by machine label: both c7i.xlarge runs first (a, e), then m7a.xlarge (b).
    let order: Vec<&str> = rows.iter().map(|r| r[run].as_str()).collect();
    assert_eq!(
        order,
        ["r-a", "r-a", "r-e", "r-e", "r-b", "r-b"],
        "{rows:?}"
    );
    assert!(rows[0][m].ends_with("c7i.xlarge") && rows[4][m].ends_with("m7a.xlarge"));
    assert!(rows.iter().any(|r| r[col(&head, "cpu")].contains("8375C")));
    // Prices from run.json: m7a ternary at 4 threads: 30 × 4 × 1.5 = 180 tok/s → × 3600 / 0.23184.
    let b = rows
        .iter()
        .find(|r| r[run] == "r-b" && r[eng].starts_with("ternary"))
        .unwrap();
    assert_eq!(b[col(&head, "usd_per_hour")], "0.23184");
    let per_usd: f64 = b[col(&head, "decode_tokens_per_usd")].parse().unwrap();
    assert!(
        (per_usd - 180.0 * 3600.0 / 0.23184).abs() < 1.0,
        "{per_usd}"
    );
    // Per core: 180 tok/s over the 4 cores the 4-thread cell used.
    let per_core: f64 = b[col(&head, "decode_tps_per_core")].parse().unwrap();
    assert!((per_core - 45.0).abs() < 1e-6, "{per_core}");
    assert_eq!(b[col(&head, "cores_used")], "4");

    // One label over two CPU generations is called out, where a person reads the comparison.
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("\"c7i.xlarge\" covers different machines"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("covers different machines") && html.contains("m7a.xlarge"));
    assert!(
        html.contains("0.23184 USD/hour"),
        "the machine block shows the price"
    );

    // report --price still wins over the run's price.
    let out2 = root.join("report2");
    let o = ternbench(&[
        "report",
        f.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
        "--price",
        "r-b=0.5",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (head, rows) = csv_rows(&out2.join("cpus.csv"));
    let b = rows
        .iter()
        .find(|r| r[col(&head, "run_id")] == "r-b")
        .unwrap();
    assert_eq!(b[col(&head, "usd_per_hour")], "0.5");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn per_core_divides_by_the_cores_a_cell_used_and_same_machine_labels_are_noted() {
    let root = tmp("percore");
    let hosts = root.join("fleet").join("hosts");
    // Two labels, one kind of machine (loopback hosts on one box); one thread only.
    let one =
        "name = \"fleet\"\nmodels = [\"bitnet-700m\"]\nthreads = [1]\ntests = [\"pp64+tg32\"]\n";
    for (h, label) in [("x", "loopback A"), ("y", "loopback B")] {
        let d = write_run(
            &hosts.join(h),
            &format!("r-{h}"),
            &Run {
                label: Some(label),
                scenario: one,
                ..Run::default()
            },
        );
        // Keep only the 1-thread cells.
        let p = d.join("run.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["cells"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["key"]["threads"] == 1);
        std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    let out = root.join("report");
    let o = ternbench(&[
        "report",
        root.join("fleet").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (head, rows) = csv_rows(&out.join("cpus.csv"));
    let t = rows
        .iter()
        .find(|r| r[col(&head, "engine")].starts_with("ternary"))
        .unwrap();
    // 30 tok/s on 1 thread of a 4-core machine: 30 per core used, not 7.5.
    assert_eq!(t[col(&head, "cores_used")], "1");
    assert_eq!(t[col(&head, "decode_tps_per_core")], "30");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("\"loopback A\", \"loopback B\"") && md.contains("same kind of machine"),
        "{md}"
    );
    assert!(md.contains("1 of 4"), "{md}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_fleet_of_different_settings_or_builds_is_refused_then_flagged() {
    let root = tmp("mismatch");
    let hosts = root.join("fleet").join("hosts");
    write_run(
        &hosts.join("a"),
        "r-a",
        &Run {
            label: Some("a"),
            ..Run::default()
        },
    );
    let other = SCENARIO.replace("pp64+tg32", "pp128+tg64");
    write_run(
        &hosts.join("b"),
        "r-b",
        &Run {
            label: Some("b"),
            scenario: &other,
            ..Run::default()
        },
    );
    write_run(
        &hosts.join("c"),
        "r-c",
        &Run {
            label: Some("c"),
            commit: "0123456789ab",
            ..Run::default()
        },
    );
    let f = root.join("fleet");
    let out = root.join("report");
    let o = ternbench(&["report", f.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("tests:") && t.contains("pp128+tg64"), "{t}");
    assert!(
        t.contains("(ternbench build)") && t.contains("git 0123456789ab"),
        "{t}"
    );
    assert!(!out.join("index.html").exists());
    let o = ternbench(&[
        "report",
        f.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--allow-mismatch",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("(ternbench build)") && md.contains("tests"),
        "{md}"
    );
    // A folder with no run under it says so.
    let empty = root.join("empty");
    std::fs::create_dir_all(empty.join("hosts").join("z")).unwrap();
    let o = ternbench(&["report", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no complete run folder"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn run_records_label_and_price_and_resume_keeps_them() {
    let root = tmp("run");
    let scen = root.join("tiny.toml");
    std::fs::write(&scen, TINY).unwrap();
    let out = root.join("results");
    let o = ternbench(&[
        "run",
        scen.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--label",
        "  lab box 7 ",
        "--price-per-hour",
        "0.25",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let read = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
    };
    let v = read();
    assert_eq!(v["label"], "lab box 7");
    assert_eq!(v["price_usd_per_hour"], 0.25);
    // Resuming without the flags keeps them; a new price replaces the old one.
    let o = ternbench(&[
        "run",
        "--resume",
        dir.to_str().unwrap(),
        "--quiet",
        "--price-per-hour",
        "0.3",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v = read();
    assert_eq!(
        (v["label"].as_str(), v["price_usd_per_hour"].as_f64()),
        (Some("lab box 7"), Some(0.3))
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_labels_and_prices_are_usage_errors() {
    for (flag, value, says) in [
        ("--price-per-hour", "-1", "positive number of US dollars"),
        ("--price-per-hour", "abc", "positive number of US dollars"),
        ("--price-per-hour", "inf", "positive number of US dollars"),
        ("--label", "  ", "at least one visible character"),
        ("--label", "a\nb", "control characters"),
    ] {
        let o = ternbench(&["run", "--out", "/nonexistent", flag, value]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {value:?}: {t}");
        assert!(
            t.contains(flag) && t.contains(says),
            "{flag} {value:?}: {t}"
        );
    }
}

#[test]
fn recorded_loopback_fleet_merges() {
    // Recorded by deploy/tests/ansible-loopback.sh --keep: three loopback hosts of one machine,
    // beta killed mid-run and resumed.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet-loopback");
    let root = tmp("recorded");
    let out = root.join("report");
    let o = ternbench(&[
        "report",
        fixture.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("3 run(s)"), "{t}");
    let (head, rows) = csv_rows(&out.join("cpus.csv"));
    assert_eq!(rows.len(), 6, "3 machines x 2 engines: {rows:?}");
    for label in ["loopback A", "loopback B", "loopback C"] {
        assert!(
            rows.iter()
                .any(|r| r[col(&head, "machine")].ends_with(label)),
            "{label}"
        );
    }
    assert!(rows
        .iter()
        .all(|r| !r[col(&head, "decode_tokens_per_usd")].is_empty()));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("same kind of machine"), "{md}");
    let resumed: Vec<Value> = std::fs::read_dir(fixture.join("hosts/beta"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("run.json").is_file())
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.path().join("run.json")).unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(
        resumed[0]["resumed"], 1,
        "beta was recorded killed and resumed"
    );
    let _ = std::fs::remove_dir_all(&root);
}
