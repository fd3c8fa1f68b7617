//! `ternbench compare` and `ternbench baseline`, run as a user would.
//!
//! Synthetic runs are built here with serde_json from one template: the machine block is this
//! machine's `ternbench sysinfo -o json --no-bandwidth`, every cell has seeded normal noise
//! (CV 3%, 8 repetitions). On them: an injected 10% slowdown is `regressed`, two draws of the
//! same distribution are `unchanged`, different machines are `not comparable`, the counters
//! gate on instructions per token, J/token is direction-aware, and exit codes are 0/1/2.
//! Then two real tiny runs: the same build twice is not regressed, and the scalar level
//! against the best one (matched with `--ignore isa`) is regressed on decode tokens/s.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{json, Value};

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// This machine's fingerprint (read once).
fn machine() -> Value {
    static M: OnceLock<Value> = OnceLock::new();
    M.get_or_init(|| {
        let o = ternbench(&["sysinfo", "-o", "json", "--no-bandwidth"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    })
    .clone()
}

/// A seeded normal generator (SplitMix64 + Box-Muller).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// `n` draws of `mean · (1 + cv·N(0,1))`.
    fn samples(&mut self, n: usize, mean: f64, cv: f64) -> Vec<f64> {
        (0..n).map(|_| mean * (1.0 + cv * self.normal())).collect()
    }
}

/// The Summary object `run.json` holds for `v`.
fn summary(v: &[f64]) -> Value {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    json!({
        "n": n, "median": s[n / 2], "mean": mean, "stddev": sd,
        "ci95_low": mean - 2.0 * sd / (n as f64).sqrt(),
        "ci95_high": mean + 2.0 * sd / (n as f64).sqrt(),
        "min": s[0], "max": s[n - 1], "cv": sd / mean, "outliers": []
    })
}

/// How a synthetic run differs from the template.
#[derive(Clone)]
struct Spec {
    seed: u64,
    /// Decode and prefill tokens/s are multiplied by this.
    speed: f64,
    /// Instructions per token multiplied by this; `None`: counters unavailable.
    instructions: Option<f64>,
    /// J/token multiplied by this; `None`: no energy.
    joules: Option<f64>,
    /// Replaces the CPU model.
    cpu_model: Option<&'static str>,
    /// The cells' test name.
    test: &'static str,
    /// The cells' SIMD level.
    isa: &'static str,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            seed: 1,
            speed: 1.0,
            instructions: None,
            joules: None,
            cpu_model: None,
            test: "pp16+tg8",
            isa: "avx2",
        }
    }
}

const REPS: usize = 8;
const CV: f64 = 0.03;

fn synth_run(dir: &Path, name: &str, spec: &Spec) -> PathBuf {
    let mut noise = Noise(spec.seed);
    let mut machine = machine();
    if let Some(m) = spec.cpu_model {
        machine["cpu_model"] = json!(m);
    }
    let mut cells = Vec::new();
    for engine in ["ternary", "fp16"] {
        for threads in [1, 2] {
            let base = if engine == "ternary" { 40.0 } else { 12.0 } * threads as f64;
            let dec = noise.samples(REPS, base * spec.speed, CV);
            let pre = noise.samples(REPS, 4.0 * base * spec.speed, CV);
            let instr = spec
                .instructions
                .map(|f| summary(&noise.samples(REPS, 2.0e8 * f, 0.001)));
            let energy = spec.joules.map(|f| {
                json!({
                    "method": "measured",
                    "prefill_joules_per_token": null,
                    "decode_joules_per_token": summary(&noise.samples(REPS, 0.5 * f, CV)),
                    "decode_net_joules_per_token": null,
                    "decode_watts": null
                })
            });
            cells.push(json!({
                "key": {"model": "bitnet-125m", "engine": engine, "format": "i2", "head": "f16",
                        "isa": spec.isa, "threads": threads, "test": spec.test},
                "n_prompt": 16, "n_gen": 8, "sampled": null, "repetitions": REPS,
                "load_seconds": 0.1, "decode_bytes_per_token": 1000,
                "prefill_tokens_per_s": summary(&pre),
                "decode_tokens_per_s": summary(&dec),
                "ttft_seconds": null, "decode_latency_ms": null, "peak_rss_bytes": null,
                "decode_instructions_per_token": instr,
                "decode_cycles_per_token": null, "decode_cache_misses_per_token": null,
                "prefill_instructions_per_token": null, "bandwidth_gbps": null,
                "decode_roofline_fraction": null,
                "decode_tokens_per_s_full_depth_estimate": null,
                "prefill_tokens_per_s_full_depth_estimate": null,
                "energy": energy, "noisy": false,
                "samples_prefill_tokens_per_s": pre,
                "samples_decode_tokens_per_s": dec
            }));
        }
    }
    let counters = match spec.instructions {
        Some(_) => {
            json!({"status": "available", "events": ["instructions", "cycles", "cache-misses"]})
        }
        None => json!({"status": "unavailable", "reason": "no hardware PMU (test)"}),
    };
    let run = json!({
        "schema_version": 1, "run_id": name, "status": "complete", "ternbench_version": "0.1.0",
        "started_utc": "2026-11-23T00:00:00Z", "finished_utc": "2026-11-23T00:01:00Z",
        "resumed": 0,
        "scenario": {"name": "synthetic", "description": "test", "file": null, "text": "x"},
        "machine": machine, "bandwidth": [], "counters": counters,
        "energy": {"status": "unavailable", "reason": "test"},
        "models": [], "cells": cells, "notes": []
    });
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("run.json"),
        serde_json::to_string_pretty(&run).unwrap(),
    )
    .unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `compare ... -o json`, with the exit code.
fn compare_json(args: &[&str]) -> (i32, Value) {
    let mut a = vec!["compare"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    let o = ternbench(&a);
    let code = o.status.code().unwrap();
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&o)));
    (code, v)
}

fn verdicts(report: &Value, metric: &str) -> Vec<String> {
    report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} table: {report:#}"))["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ten_percent_slowdown_is_regressed() {
    let tmp = tempfile::tempdir().unwrap();
    let a = synth_run(tmp.path(), "a", &Spec::default());
    let b = synth_run(
        tmp.path(),
        "b",
        &Spec {
            seed: 2,
            speed: 0.9,
            ..Spec::default()
        },
    );
    let (code, r) = compare_json(&[s(&a), s(&b), "--threshold", "3"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(verdicts(&r, "decode_tps"), vec!["regressed"; 4], "{r:#}");
    assert_eq!(r["gate"]["metrics"], json!(["decode_tps"]));
    for row in r["metrics"][0]["rows"].as_array().unwrap() {
        let c = row["change_pct"].as_f64().unwrap();
        assert!((-14.0..-6.0).contains(&c), "{row}");
        assert!(row["ci95_low_pct"].as_f64().unwrap() < c);
        assert!(row["ci95_high_pct"].as_f64().unwrap() > c);
        assert_eq!(row["ci_method"], "ratio_of_medians_mann_whitney");
        assert!(row["p_value"].as_f64().unwrap() < 0.05);
    }
    // The Markdown says what gates and why, with plain verdict words.
    let o = ternbench(&["compare", s(&a), s(&b), "--threshold", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("## ternbench compare: REGRESSED"), "{md}");
    assert!(
        md.contains("counters unavailable on") && md.contains("gating on wall time with ±3%"),
        "{md}"
    );
    assert!(md.contains("| regressed |"), "{md}");
    let emoji = |c: char| {
        ('\u{1F300}'..='\u{1FAFF}').contains(&c) || ('\u{2600}'..='\u{27BF}').contains(&c)
    };
    assert!(!md.chars().any(emoji), "{md}");
    // Reversed, the same change is an improvement (direction-aware), exit 0.
    let (code, r) = compare_json(&[s(&b), s(&a), "--threshold", "3"]);
    assert_eq!(code, 0);
    assert_eq!(verdicts(&r, "decode_tps"), vec!["improved"; 4], "{r:#}");
}

#[test]
fn default_wall_time_gate_is_ten_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let a = synth_run(tmp.path(), "a", &Spec::default());
    let b = synth_run(
        tmp.path(),
        "b",
        &Spec {
            seed: 3,
            speed: 0.75,
            ..Spec::default()
        },
    );
    let (code, r) = compare_json(&[s(&a), s(&b)]);
    assert_eq!(code, 1);
    assert_eq!(r["metrics"][0]["threshold_pct"], 10.0);
    assert!(
        r["gate"]["explanation"]
            .as_str()
            .unwrap()
            .contains("gating on wall time with ±10%"),
        "{r:#}"
    );
    // Prefill regressed too, but it is shown, not gating.
    let pre = r["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "prefill_tps")
        .unwrap();
    assert_eq!(pre["gating"], false);
}

#[test]
fn same_distribution_is_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    for seed in 0..5u64 {
        let a = synth_run(
            tmp.path(),
            &format!("a{seed}"),
            &Spec {
                seed: 100 + seed,
                ..Spec::default()
            },
        );
        let b = synth_run(
            tmp.path(),
            &format!("b{seed}"),
            &Spec {
                seed: 200 + seed,
                ..Spec::default()
            },
        );
        let (code, r) = compare_json(&[s(&a), s(&b)]);
        assert_eq!(code, 0, "{r:#}");
        for m in ["decode_tps", "prefill_tps"] {
            assert_eq!(verdicts(&r, m), vec!["unchanged"; 4], "{r:#}");
        }
        assert_eq!(r["regressed"], false);
    }
}

#[test]
fn different_machines_are_not_comparable() {
    let tmp = tempfile::tempdir().unwrap();
    let a = synth_run(tmp.path(), "a", &Spec::default());
    let b = synth_run(
        tmp.path(),
        "b",
        &Spec {
            seed: 2,
            speed: 0.5,
            cpu_model: Some("Some Other CPU 9000"),
            ..Spec::default()
        },
    );
    let (code, r) = compare_json(&[s(&a), s(&b)]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["same_machine"], false);
    assert!(r["machine_differences"][0]
        .as_str()
        .unwrap()
        .contains("Some Other CPU 9000"));
    assert_eq!(verdicts(&r, "decode_tps"), vec!["not_comparable"; 4]);
    let o = ternbench(&["compare", s(&a), s(&b)]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("NOT COMPARABLE"), "{md}");
}

#[test]
fn counters_gate_on_instructions_and_energy_is_lower_better() {
    let tmp = tempfile::tempdir().unwrap();
    let a = synth_run(
        tmp.path(),
        "a",
        &Spec {
            instructions: Some(1.0),
            joules: Some(1.0),
            ..Spec::default()
        },
    );
    // 3% more instructions per token, the same speed, 20% more joules.
    let b = synth_run(
        tmp.path(),
        "b",
        &Spec {
            seed: 2,
            instructions: Some(1.03),
            joules: Some(1.2),
            ..Spec::default()
        },
    );
    let (code, r) = compare_json(&[s(&a), s(&b)]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["gate"]["metrics"], json!(["instructions_per_token"]));
    assert_eq!(r["metrics"][0]["threshold_pct"], 1.0);
    assert_eq!(verdicts(&r, "instructions_per_token"), vec!["regressed"; 4]);
    assert_eq!(verdicts(&r, "decode_tps"), vec!["unchanged"; 4]);
    // J/token shown beside it (lower is better); named alone it gates.
    let (code, r) = compare_json(&[s(&a), s(&b), "--metric", "j_per_token"]);
    assert_eq!(code, 1);
    assert_eq!(r["metrics"][0]["better"], "lower");
    assert_eq!(verdicts(&r, "j_per_token"), vec!["regressed"; 4]);
    assert_eq!(r["metrics"][0]["rows"][0]["ci_method"], "delta_of_means");
    // Fewer instructions: improved, exit 0.
    let (code, r) = compare_json(&[s(&b), s(&a)]);
    assert_eq!(code, 0);
    assert_eq!(verdicts(&r, "instructions_per_token"), vec!["improved"; 4]);
}

#[test]
fn bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let a = synth_run(tmp.path(), "a", &Spec::default());
    let other = synth_run(
        tmp.path(),
        "other",
        &Spec {
            test: "tg64",
            ..Spec::default()
        },
    );
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{\"schema_version\": 1}").unwrap();
    let missing = tmp.path().join("nope");
    let bdir = tmp.path().join("baselines");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![s(&a), s(&missing)], "no such run folder"),
        (vec![s(&a), s(&bad)], "not a ternbench run.json"),
        (vec![s(&a), s(&a), "--metric", "speed"], "unknown"),
        (vec![s(&a), s(&other)], "no cells in common"),
        (
            vec![s(&a), s(&a), "--ignore", "colour"],
            "not a cell setting",
        ),
        (
            vec![s(&a), s(&a), "--metric", "instructions_per_token"],
            "counters",
        ),
        (
            vec![s(&a), "--baseline", "main", "--baselines-dir", s(&bdir)],
            "no baseline named `main`",
        ),
    ];
    for (args, want) in cases {
        let mut v = vec!["compare"];
        v.extend(args.iter());
        let o = ternbench(&v);
        assert_eq!(o.status.code(), Some(2), "{v:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{v:?}: want `{want}`: {}",
            text(&o)
        );
    }
    // Identical runs: exit 0.
    let o = ternbench(&["compare", s(&a), s(&a)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn named_baselines_save_list_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let a = synth_run(tmp.path(), "a", &Spec::default());
    std::fs::write(a.join("cells.csv"), "run_id\na\n").unwrap();
    let b = synth_run(
        tmp.path(),
        "b",
        &Spec {
            seed: 2,
            speed: 0.8,
            ..Spec::default()
        },
    );
    let dir = tmp.path().join("baselines");
    let o = ternbench(&["baseline", "save", "main", s(&a), "--dir", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.join("main/run.json").is_file());
    assert!(dir.join("main/cells.csv").is_file());
    // No overwrite without --force.
    let o = ternbench(&["baseline", "save", "main", s(&b), "--dir", s(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    let o = ternbench(&["baseline", "save", "../evil", s(&b), "--dir", s(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = ternbench(&["baseline", "list", "--dir", s(&dir), "-o", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let l: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l[0]["name"], "main");
    assert_eq!(l[0]["run_id"], "a");
    // --baseline NAME, and a name as the positional BASELINE.
    let (code, r) = compare_json(&[s(&b), "--baseline", "main", "--baselines-dir", s(&dir)]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["baseline"]["source"], "baseline main");
    let (code, _) = compare_json(&["main", s(&a), "--baselines-dir", s(&dir)]);
    assert_eq!(code, 0);
    // --force replaces it.
    let o = ternbench(&[
        "baseline",
        "save",
        "main",
        s(&b),
        "--dir",
        s(&dir),
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (code, _) = compare_json(&[s(&b), "--baseline", "main", "--baselines-dir", s(&dir)]);
    assert_eq!(code, 0);
}

#[test]
fn ignore_matches_across_one_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let a = synth_run(tmp.path(), "a", &Spec::default());
    let b = synth_run(
        tmp.path(),
        "b",
        &Spec {
            seed: 2,
            speed: 0.2,
            isa: "scalar",
            ..Spec::default()
        },
    );
    let o = ternbench(&["compare", s(&a), s(&b)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--ignore"));
    let (code, r) = compare_json(&[s(&a), s(&b), "--ignore", "isa"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(verdicts(&r, "decode_tps"), vec!["regressed"; 4]);
    // Ignoring threads folds two cells into one: refused.
    let o = ternbench(&["compare", s(&a), s(&b), "--ignore", "isa,threads"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("same settings"));
}

// ---- Real runs on this machine ----

const TINY: &str = r#"
name = "compare-tiny"
description = "compare test: one sampled layer, decode only"
models = [{ name = "bitnet-125m", sample_layers = 1 }]
engines = ["ternary"]
formats = ["i2"]
threads = [1]
isa = "ISA"
tests = ["tg6"]
repetitions = 5
warmup = 1
max_repetitions = 5
[energy]
source = "none"
idle_seconds = 0.0
"#;

fn real_run(root: &Path, isa: &str) -> PathBuf {
    let scen = root.join(format!("{isa}.toml"));
    std::fs::write(&scen, TINY.replace("ISA", isa)).unwrap();
    let out = root.join(format!("results-{isa}-{}", rand_suffix()));
    let o = ternbench(&["run", s(&scen), "--out", s(&out), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let dirs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1);
    dirs[0].clone()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn real_runs_same_build_not_regressed_and_scalar_is() {
    let tmp = tempfile::tempdir().unwrap();
    let best1 = real_run(tmp.path(), "best");
    let best2 = real_run(tmp.path(), "best");
    // A wide band: on a shared 2-core VM two runs of one build differ by 40% and more (other
    // jobs steal the cores), and a run may legitimately read faster; only a whole CI below
    // -75% would fail here.
    let (code, r) = compare_json(&[s(&best1), s(&best2), "--threshold", "75"]);
    assert_eq!(code, 0, "{r:#}");
    assert!(
        !verdicts(&r, "decode_tps").contains(&"regressed".to_string()),
        "{r:#}"
    );
    let best_isa = r["metrics"][0]["rows"][0]["baseline_key"]["isa"]
        .as_str()
        .unwrap()
        .to_string();
    if best_isa == "scalar" {
        eprintln!("this CPU's best level is scalar: nothing to compare it against");
        return;
    }
    let scalar = real_run(tmp.path(), "scalar");
    let (code, r) = compare_json(&[
        s(&best1),
        s(&scalar),
        "--ignore",
        "isa",
        "--metric",
        "decode_tps",
    ]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(verdicts(&r, "decode_tps"), vec!["regressed"], "{r:#}");
    // Latency from cells.jsonl, lower is better: scalar is slower per token.
    let (_, r) = compare_json(&[
        s(&best1),
        s(&scalar),
        "--ignore",
        "isa",
        "--metric",
        "latency_p50",
    ]);
    assert_eq!(verdicts(&r, "latency_p50"), vec!["regressed"], "{r:#}");
}

#[test]
fn ci_bench_script_saves_then_compares_and_writes_the_step_summary() {
    let bash_ok = Command::new("bash").arg("--version").output().is_ok();
    if !bash_ok || !cfg!(unix) {
        eprintln!("no bash: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("tiny.toml");
    std::fs::write(&scen, TINY.replace("ISA", "best")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ci-bench.sh");
    let summary = tmp.path().join("summary.md");
    let ci = |extra: &[&str]| {
        let mut c = Command::new("bash");
        c.arg(&script)
            .args(["--bin", env!("CARGO_BIN_EXE_ternbench")])
            .args(["-s", s(&scen), "-b", "main"])
            .args(["-d", s(&tmp.path().join("baselines"))])
            .args(["-o", s(&tmp.path().join("ci"))])
            .args(extra)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env_remove("TERNBENCH");
        c.output().unwrap()
    };
    // No baseline yet: refused, unless asked to save it.
    let o = ci(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = ci(&["--save-if-missing"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(tmp.path().join("baselines/main/run.json").is_file());
    // Against it, with a wide band (noisy shared machine): not regressed, summary written.
    let o = ci(&["-t", "75"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("## ternbench compare: no regression"), "{md}");
    assert!(tmp.path().join("ci/compare.json").is_file());
    // A compare error is exit 2 and a fenced block in the summary.
    let o = ci(&["--", "--metric", "speed"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("error (exit 2)") && md.contains("--metric speed"),
        "{md}"
    );
}

/// Sets a synthetic run's energy status to measured, with DRAM in or out of the total.
fn set_dram(run: &Path, dram: bool) {
    let p = run.join("run.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["energy"] = json!({"status": "measured", "source": "powercap", "dram_in_total": dram});
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

// Issue 21 defect 7: J/token from a run with DRAM in the total set against one without it is
// not like for like, and the comparison says so.
#[test]
fn energy_with_dram_in_and_out_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = Spec {
        joules: Some(1.0),
        ..Spec::default()
    };
    let a = synth_run(tmp.path(), "a", &spec);
    let b = synth_run(tmp.path(), "b", &Spec { seed: 2, ..spec });
    set_dram(&a, true);
    set_dram(&b, false);
    let (_, r) = compare_json(&[s(&a), s(&b), "--metric", "j_per_token"]);
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("DRAM energy is in the baseline's total and out the new run's"),
        "{r:#}"
    );
    set_dram(&b, true);
    let (_, r) = compare_json(&[s(&a), s(&b), "--metric", "j_per_token"]);
    assert!(!r["notes"].to_string().contains("DRAM"), "{r:#}");
}
