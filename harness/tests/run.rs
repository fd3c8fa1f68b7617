//! `ternbench run` end to end: a results folder with the three files, bad scenarios refused with
//! file/line/key, and a run killed mid-way then resumed ends with the same cells as an
//! uninterrupted one.
//!
//! Scenarios here build one sampled layer of the smallest zoo model and run a few tokens, so
//! each run takes seconds even in a debug build.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{run_dirs, run_json, run_quiet, ternbench};

const TINY: &str = r#"
name = "tiny"
description = "test scenario"
models = [{ name = "bitnet-125m", sample_layers = 1 }]
engines = ["ternary", "fp16"]
formats = ["i2"]
threads = [1, 2]
isa = "best"
tests = ["pp4+tg3", "tg2"]
repetitions = 3
warmup = 1
max_repetitions = 3
[energy]
source = "auto"
idle_seconds = 0.0
"#;

fn cells(dir: &Path) -> BTreeSet<(String, String, u64, String, u64)> {
    let run = run_json(dir);
    assert_eq!(run["schema_version"], 1);
    assert_eq!(run["status"], "complete");
    run["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"]["engine"].as_str().unwrap().to_string(),
                c["key"]["isa"].as_str().unwrap().to_string(),
                c["key"]["threads"].as_u64().unwrap(),
                c["key"]["test"].as_str().unwrap().to_string(),
                c["repetitions"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The run folder under `root` once its `cells.jsonl` holds `n` timed repetitions.
fn wait_for_samples(root: &Path, n: usize) -> std::path::PathBuf {
    let t0 = Instant::now();
    loop {
        if let Some(d) = run_dirs(root).into_iter().next() {
            let have = std::fs::read_to_string(d.join("cells.jsonl"))
                .map(|s| s.lines().filter(|l| l.contains("\"sample\"")).count())
                .unwrap_or(0);
            if have >= n {
                return d;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "run made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn run_writes_three_files_and_says_energy_status() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("tiny.toml");
    std::fs::write(&scen, TINY).unwrap();
    let out = tmp.path().join("results");
    let o = ternbench(&[
        "run",
        scen.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("energy: "), "{stdout}");
    assert!(stdout.contains("SAMPLED 1/"), "{stdout}");
    let dirs = run_dirs(&out);
    assert_eq!(dirs.len(), 1);
    let d = &dirs[0];
    for f in [
        "cells.jsonl",
        "run.json",
        "cells.csv",
        "scenario.toml",
        "summary.md",
        "report/index.html",
        "report/summary.md",
    ] {
        assert!(d.join(f).is_file(), "missing {f}");
    }
    let html = std::fs::read_to_string(d.join("report/index.html")).unwrap();
    assert!(html.contains("<svg"), "the report has no inline chart");
    assert!(
        html.contains("SAMPLED"),
        "sampled cells must be labelled in the report"
    );
    let c = cells(d);
    // 2 engines x 2 threads x 2 tests, 3 repetitions each.
    assert_eq!(c.len(), 8, "{c:?}");
    assert!(c.iter().all(|x| x.4 == 3));
    let run = run_json(d);
    // The decode kernels' prefetch distance was calibrated before the cells: i2 (the ternary
    // engine, its f16 head) and f16 (the twin) at both thread counts where the best level reads
    // one, each choice with every candidate's rounds.
    let pf = run["prefetch"].as_array().expect("run.json prefetch");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        assert_eq!(pf.len(), 4, "{pf:?}");
    }
    for c in pf {
        assert_eq!(c["source"], "calibrated", "{c}");
        assert!(
            ["i2", "f16"].contains(&c["format"].as_str().unwrap()),
            "{c}"
        );
        let cands = c["candidates"].as_array().unwrap();
        assert_eq!(cands.len(), 5, "{c}");
        assert!(cands.iter().any(|k| k["bytes"] == c["bytes"]), "{c}");
        assert!(cands
            .iter()
            .all(|k| k["median_gbps"].as_f64().unwrap() > 0.0));
    }
    // Energy is either measured or says why not; never a bare zero.
    let e = &run["energy"];
    assert!(e["status"].is_string(), "{e}");
    if e["status"] == "unavailable" {
        assert!(!e["reason"].as_str().unwrap_or("").is_empty());
        assert!(run["cells"][0]["energy"].is_null());
    }
    let cell = &run["cells"][0];
    for k in [
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
        "ttft_seconds",
        "decode_latency_ms",
        "peak_rss_bytes",
        "load_seconds",
    ] {
        assert!(!cell[k].is_null(), "{k} missing in {cell}");
    }
    for k in ["median", "mean", "stddev", "min", "max", "cv"] {
        assert!(cell["decode_tokens_per_s"][k].is_number(), "{k}");
    }
    // 3 repetitions: too few for the median's distribution-free 95% CI, so no bounds (the
    // mean's t-interval used to print negative rates here).
    let tg = &cell["decode_tokens_per_s"];
    assert_eq!(tg["n"], 3, "{tg}");
    assert!(
        tg["ci95_low"].is_null() && tg["ci95_high"].is_null(),
        "{tg}"
    );
    assert_eq!(tg["ci_method"], "median_order_statistics", "{tg}");
    // Sampled: the full-depth figure is labelled an estimate.
    assert!(cell["decode_tokens_per_s_full_depth_estimate"].is_number());
    // cells.csv: a header and one row per cell.
    let csv = std::fs::read_to_string(d.join("cells.csv")).unwrap();
    assert_eq!(csv.lines().count(), 9);
    assert!(csv.starts_with("run_id,model,engine"));
    // cells.jsonl: one model record per engine and one line per timed repetition.
    let jsonl = std::fs::read_to_string(d.join("cells.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 2 + 8 * 3);
    // Every repetition carries the bandwidth read just before and just after it, and every
    // decode cell's roofline is the median of its repetitions' ratios to their mean.
    let mut ratios: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for line in jsonl.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if r["record"] != "sample" {
            continue;
        }
        let before = r["bandwidth_before_gbps"]
            .as_f64()
            .expect("bandwidth before each repetition");
        let after = r["bandwidth_after_gbps"]
            .as_f64()
            .expect("bandwidth after each repetition");
        assert!(before > 0.0 && after > 0.0, "{r}");
        let bw = (before + after) / 2.0;
        let steps: Vec<f64> = r["decode_step_seconds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let key = &r["key"];
        let id = format!(
            "{}/{}/{}/{}",
            key["engine"], key["threads"], key["test"], key["isa"]
        );
        let tps = steps.len() as f64 / steps.iter().sum::<f64>();
        ratios.entry(id).or_default().push(tps / bw);
    }
    for c in run["cells"].as_array().unwrap() {
        let key = &c["key"];
        let id = format!(
            "{}/{}/{}/{}",
            key["engine"], key["threads"], key["test"], key["isa"]
        );
        assert_eq!(c["roofline_paired"], true, "{c}");
        // The roofline's bytes: the weights plus the KV cache a step reads, the mean over the
        // test's steps of (prompt + step + 1) cached positions.
        let model = run["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["engine"] == key["engine"])
            .expect("model record");
        let per_pos = model["kv_bytes_per_position"].as_u64().unwrap();
        assert!(per_pos > 0 && per_pos % (2 * model["layers_built"].as_u64().unwrap()) == 0);
        let np = c["n_depth"].as_u64().unwrap() + c["n_prompt"].as_u64().unwrap();
        let ng = c["n_gen"].as_u64().unwrap();
        let kv = c["decode_kv_bytes_per_token"].as_u64().unwrap();
        assert_eq!(kv, per_pos * (2 * np + ng + 1) / 2, "{id}");
        let bytes = c["decode_bytes_per_token"].as_f64().unwrap() + kv as f64;
        let mut v = ratios[&id].clone();
        v.sort_by(f64::total_cmp);
        let want = v[v.len() / 2] * bytes / 1e9;
        let got = c["decode_roofline_fraction"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-9 * want.max(1e-9),
            "{id}: {got} vs {want}"
        );
    }
}

#[test]
fn killed_run_resumes_to_the_same_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("tiny.toml");
    std::fs::write(&scen, TINY).unwrap();
    // Uninterrupted.
    let want = cells(&run_quiet(&scen, &tmp.path().join("full")));

    // Killed once a few repetitions are on disk.
    let part = tmp.path().join("part");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "run",
            scen.to_str().unwrap(),
            "--out",
            part.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = wait_for_samples(&part, 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    let killed_mid_way = run["status"] == "running";

    let o = ternbench(&["run", "--resume", dir.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(cells(&dir), want);
    if killed_mid_way {
        let resumed: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(resumed["resumed"], 1);
        // The resumed cells ran with the distances the run started with.
        assert_eq!(resumed["prefetch"], run["prefetch"]);
    }
    // Every repetition appears exactly once in the records.
    let jsonl = std::fs::read_to_string(dir.join("cells.jsonl")).unwrap();
    let samples: Vec<Value> = jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["record"] == "sample")
        .collect();
    let keys: BTreeSet<String> = samples
        .iter()
        .map(|v| format!("{}|{}", v["key"], v["rep"]))
        .collect();
    assert_eq!(keys.len(), samples.len(), "a repetition was recorded twice");
    assert_eq!(samples.len(), 8 * 3);
}

#[test]
fn bad_scenarios_name_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("models = [\"bitnet-125m\"]\nthreads = [0]\n", "threads[0]"),
        (
            "models = [\"bitnet-125m\"]\nengines = [\"gpu\"]\n",
            "engines[0]",
        ),
        ("models = [\"bitnet-125m\"]\nrepetitons = 3\n", "repetitons"),
        (
            "models = [\"bitnet-125m\"]\nisa = [\"avx9000\"]\n",
            "isa[0]",
        ),
    ];
    for (text, key) in cases {
        let p = tmp.path().join("bad.toml");
        std::fs::write(&p, text).unwrap();
        let o = ternbench(&[
            "run",
            p.to_str().unwrap(),
            "--out",
            tmp.path().to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains("bad.toml:2:"), "{text}: {err}");
        assert!(err.contains(key), "{text}: {err}");
    }
    // A model that is not in the zoo: an error naming it and the zoo.
    let p = tmp.path().join("nomodel.toml");
    std::fs::write(&p, "models = [\"bitnet-3b\"]\ntests=[\"tg1\"]\n").unwrap();
    let o = ternbench(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        tmp.path().join("r").to_str().unwrap(),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err.contains("bitnet-3b") && err.contains("bitnet-2b4t"),
        "{err}"
    );
    // A results folder that is not one.
    let o = ternbench(&["run", "--resume", tmp.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a ternbench results folder"), "{err}");
}

#[test]
fn ctrl_c_marks_the_run_interrupted_and_resume_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("tiny.toml");
    std::fs::write(&scen, TINY).unwrap();
    let part = tmp.path().join("part");
    let child = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "run",
            scen.to_str().unwrap(),
            "--out",
            part.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dir = wait_for_samples(&part, 3);
    let pid = child.id().to_string();
    let k = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(k.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    if out.status.code() == Some(130) {
        assert_eq!(run["status"], "interrupted");
        assert!(err.contains("--resume"), "{err}");
    } else {
        // The run finished before the signal landed.
        assert!(out.status.success(), "{err}");
    }
    let o = ternbench(&["run", "--resume", dir.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(cells(&dir).len(), 8);
}

#[test]
fn run_measures_real_checkpoints_hf_and_gguf() {
    let fx =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/bitnet-autobitlinear");
    let gguf = fx.join("model-i2_s.gguf");
    assert!(fx.join("config.json").is_file() && gguf.is_file());
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("ckpt.toml");
    std::fs::write(
        &scen,
        format!(
            "models = [{:?}, {:?}]\nengines = [\"ternary\", \"fp16\"]\ntests = [\"pp6+tg3\"]\nrepetitions = 2\n",
            fx.display().to_string(),
            gguf.display().to_string()
        ),
    )
    .unwrap();
    let d = &run_quiet(&scen, &tmp.path().join("r"));
    assert_eq!(cells(d).len(), 2, "ternary and fp16 for each model");
    let run = run_json(d);
    let models: BTreeSet<&str> = run["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"]["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        run["cells"].as_array().unwrap().len(),
        4,
        "2 models x 2 engines"
    );
    assert_eq!(models.len(), 2);
}

#[test]
fn tests_at_a_depth_fill_the_cache_first_and_count_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("depth.toml");
    std::fs::write(
        &scen,
        r#"
models = [{ name = "bitnet-125m", sample_layers = 1 }]
engines = ["ternary"]
formats = ["i2"]
threads = [1]
tests = ["tg3", "tg3 @ d600", "pp4+tg2 @ d5"]
repetitions = 1
warmup = 0
[energy]
source = "none"
"#,
    )
    .unwrap();
    let d = &run_quiet(&scen, &tmp.path().join("out"));
    let run = run_json(d);
    let per_pos = run["models"][0]["kv_bytes_per_position"].as_u64().unwrap();
    let cells = run["cells"].as_array().unwrap();
    let by_test = |t: &str| {
        cells
            .iter()
            .find(|c| c["key"]["test"] == t)
            .unwrap_or_else(|| panic!("no cell {t}: {cells:?}"))
    };
    // (test, depth, prompt, generated); 600 is more than one 512-token fill chunk.
    for (t, depth, np, ng) in [
        ("tg3", 0u64, 0u64, 3u64),
        ("tg3 @ d600", 600, 0, 3),
        ("pp4+tg2 @ d5", 5, 4, 2),
    ] {
        let c = by_test(t);
        assert_eq!(c["n_depth"], depth, "{c}");
        assert_eq!(c["n_prompt"], np, "{c}");
        assert_eq!(c["n_gen"], ng, "{c}");
        assert_eq!(
            c["decode_kv_bytes_per_token"].as_u64().unwrap(),
            per_pos * (2 * (depth + np) + ng + 1) / 2,
            "{t}"
        );
        assert!(c["decode_tokens_per_s"]["median"].as_f64().unwrap() > 0.0);
    }
    assert!(
        by_test("pp4+tg2 @ d5")["prefill_tokens_per_s"]["median"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let jsonl = std::fs::read_to_string(d.join("cells.jsonl")).unwrap();
    assert!(jsonl.contains("\"n_depth\":600"), "{jsonl}");
    let csv = std::fs::read_to_string(d.join("cells.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("n_depth"));
}
