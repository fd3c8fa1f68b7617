//! Peers as engines of a scenario, end to end with the fake `llama-bench`
//! (`tests/fixtures/peers/fake-llama-bench`): a tiny model written as GGUF by ternbench's
//! exporter, ternbench's ternary engine and two peers on that same file, interleaved in one run;
//! the peers' cells carry the fake's rates, llama-bench's build, bytes per token read from the
//! file, the bandwidth brackets; a peer that refuses its file or cannot be started is an error of
//! its cells while the run completes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use ternbench_engine::export::{write_gguf, Arch, EmbedType, ExportOptions, Synthetic, WeightType};
use ternbench_engine::{Activation, ModelConfig};

fn fake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peers/fake-llama-bench")
}

fn tiny_gguf(dir: &Path) -> PathBuf {
    let cfg = ModelConfig {
        name: "tiny".into(),
        hidden: 256,
        intermediate: 512,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        vocab: 320,
        max_positions: 64,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        act: Activation::Silu,
        bos: 1,
        eos: vec![2],
    };
    let p = dir.join("tiny.tq2_0.gguf");
    let opts = ExportOptions {
        arch: Arch::Bitnet,
        weights: WeightType::Tq2_0,
        embed: EmbedType::F16,
    };
    write_gguf(&Synthetic { cfg, seed: 1 }, &opts, &p).unwrap();
    p
}

/// A wrapper that runs the fake with environment settings (as a [[peer]]'s `bench`).
fn wrapper(dir: &Path, name: &str, env: &str) -> PathBuf {
    let w = dir.join(name);
    std::fs::write(
        &w,
        format!("#!/bin/sh\n{env} exec {} \"$@\"\n", fake().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    w
}

#[test]
fn peers_interleave_with_ternbench_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_gguf(dir.path());
    let good = wrapper(
        dir.path(),
        "llama-bench",
        "FAKE_LLAMA_BENCH_PP_TS=100 FAKE_LLAMA_BENCH_TG_TS=20",
    );
    // peer.json beside the binary, as scripts/peers leaves it.
    std::fs::write(
        dir.path().join("peer.json"),
        r#"{"name": "fake.cpp", "source": {"commit": "abc1234"}}"#,
    )
    .unwrap();
    let log = dir.path().join("calls.log");
    let logged = wrapper(
        dir.path(),
        "logged-bench",
        &format!("FAKE_LLAMA_BENCH_LOG={}", log.display()),
    );
    let scenario = dir.path().join("peers.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
models = ["{m}"]
engines = ["ternary"]
threads = [1, 2]
tests = ["pp8", "tg4"]
repetitions = 2
warmup = 0
pin = true
[[peer]]
name = "fake.cpp"
bench = "{good}"
model = "{m}"
[[peer]]
name = "logged.cpp"
bench = "{logged}"
model = "{m}"
args = ["--delay", "0"]
[[peer]]
name = "refuses.cpp"
bench = "{good}"
model = "{missing}"
[[peer]]
name = "absent.cpp"
bench = "{absent}"
model = "{m}"
"#,
            m = model.display(),
            good = good.display(),
            logged = logged.display(),
            missing = dir.path().join("missing.gguf").display(),
            absent = dir.path().join("no-such-llama-bench").display(),
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let run = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let cells = j["cells"].as_array().unwrap();
    let cell = |engine: &str, threads: u64, test: &str| {
        cells
            .iter()
            .find(|c| {
                c["key"]["engine"] == engine
                    && c["key"]["threads"] == threads
                    && c["key"]["test"] == test
            })
            .unwrap_or_else(|| panic!("no cell {engine} {threads} {test}: {cells:#?}"))
    };
    // ternbench's own cells and the good peer's, all measured.
    for t in [1, 2] {
        assert_eq!(cell("ternary", t, "tg4")["repetitions"], 2);
        let tg = cell("fake.cpp", t, "tg4");
        assert_eq!(tg["repetitions"], 2);
        assert_eq!(tg["key"]["format"], "TQ2_0");
        assert_eq!(tg["key"]["head"], "F16");
        let m = tg["decode_tokens_per_s"]["median"].as_f64().unwrap();
        assert!((m - 20.0).abs() < 0.5, "{m}");
        let pp = cell("fake.cpp", t, "pp8")["prefill_tokens_per_s"]["median"]
            .as_f64()
            .unwrap();
        assert!((pp - 100.0).abs() < 2.0, "{pp}");
        // Bytes per token from the file itself.
        assert!(tg["decode_bytes_per_token"].as_u64().unwrap() > 0);
        assert!(tg.get("error").is_none());
    }
    // The failing peers are errors of their cells, named; the run completed.
    let e = cell("refuses.cpp", 1, "tg4")["error"].as_str().unwrap();
    assert!(e.contains("missing.gguf"), "{e}");
    let e = cell("absent.cpp", 2, "pp8")["error"].as_str().unwrap();
    assert!(
        e.contains("no-such-llama-bench") && e.contains("build-llama-cpp.sh"),
        "{e}"
    );
    assert_eq!(cell("absent.cpp", 2, "pp8")["repetitions"], 0);
    assert_eq!(j["status"], "complete");
    // The model record of the peer carries llama-bench's build and the build record.
    let recs = std::fs::read_to_string(run.join("cells.jsonl")).unwrap();
    let model = recs
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["record"] == "model" && r["engine"] == "fake.cpp")
        .unwrap();
    assert_eq!(model["peer"]["build_commit"], "0c1e57098");
    assert_eq!(model["peer"]["record"]["source"]["commit"], "abc1234");
    // Every peer repetition was bracketed by bandwidth readings and interleaved with ours.
    let samples: Vec<Value> = recs
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["record"] == "sample")
        .collect();
    let order: Vec<String> = samples
        .iter()
        .map(|r| r["key"]["engine"].as_str().unwrap().to_string())
        .collect();
    let first_peer = order.iter().position(|e| e == "fake.cpp").unwrap();
    let last_ours = order.iter().rposition(|e| e == "ternary").unwrap();
    assert!(first_peer < last_ours, "interleaved: {order:?}");
    assert!(samples
        .iter()
        .filter(|r| r["key"]["engine"] == "fake.cpp")
        .all(|r| r["peer_window_seconds"].as_f64().unwrap() > 0.0));
    // Threads and pinning were passed through.
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("-t 2 -r 1 -o json -d 0 -C 0x3"), "{calls}");
    assert!(calls.contains("-t 1 -r 1 -o json -d 0 -C 0x1"), "{calls}");
}

#[test]
fn a_combined_test_with_peers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_gguf(dir.path());
    let scenario = dir.path().join("bad.toml");
    std::fs::write(
        &scenario,
        format!(
            "models = [\"{m}\"]\ntests = [\"pp8+tg4\"]\n[[peer]]\nname = \"x\"\nbench = \"{b}\"\nmodel = \"{m}\"\n",
            m = model.display(),
            b = fake().display()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("one span") && e.contains("\"pp8\" and \"tg4\""),
        "{e}"
    );
}
