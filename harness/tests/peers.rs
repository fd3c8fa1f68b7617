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

mod common;
use common::{run_json, run_quiet, ternbench};

fn fake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peers/fake-llama-bench")
}

fn tiny_gguf(dir: &Path) -> PathBuf {
    tiny_gguf_as(dir, WeightType::Tq2_0, "tiny.tq2_0.gguf")
}

fn tiny_gguf_as(dir: &Path, weights: WeightType, name: &str) -> PathBuf {
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
    let p = dir.join(name);
    let opts = ExportOptions {
        arch: Arch::Bitnet,
        weights,
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
    let run = run_quiet(&scenario, &dir.path().join("out"));
    let j = run_json(&run);
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

/// llama-bench runs one sequence per test: a batched test (or the `+head` ceiling) beside a
/// peer is refused, naming the test.
#[test]
fn a_batched_test_with_peers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_gguf(dir.path());
    let scenario = dir.path().join("bad.toml");
    std::fs::write(
        &scenario,
        format!(
            "models = [\"{m}\"]\ntests = [\"tg4\"]\nbatch = [1, 4]\n[[peer]]\nname = \"x\"\nbench = \"{b}\"\nmodel = \"{m}\"\n",
            m = model.display(),
            b = fake().display()
        ),
    )
    .unwrap();
    let o = ternbench(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("one sequence per test") && e.contains("tg4 @ b4"),
        "{e}"
    );
}

/// The report of a run with llama.cpp on an F16 file and bitnet.cpp on the I2_S file of the
/// same model, ternbench's engines on both: the peer table (tokens/s with CIs, roofline,
/// ternbench ÷ peer per file, threads and test) and claim 1's row with the programs' own ratio
/// beside ternbench's, judged on its CI.
#[test]
fn the_report_sets_the_peers_beside_ternbench_and_in_the_claims() {
    let dir = tempfile::tempdir().unwrap();
    let f16 = tiny_gguf_as(dir.path(), WeightType::F16, "tiny.f16.gguf");
    let i2s = tiny_gguf_as(dir.path(), WeightType::I2s, "tiny.i2_s.gguf");
    let llama = wrapper(
        dir.path(),
        "llama-bench",
        "FAKE_LLAMA_BENCH_PP_TS=100 FAKE_LLAMA_BENCH_TG_TS=20",
    );
    let bitnet = wrapper(
        dir.path(),
        "bitnet-bench",
        "FAKE_LLAMA_BENCH_PP_TS=150 FAKE_LLAMA_BENCH_TG_TS=60 FAKE_LLAMA_BENCH_COMMIT=40ed0f2",
    );
    let scenario = dir.path().join("peers.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
models = ["{f16}", "{i2s}"]
engines = ["ternary", "fp16"]
formats = ["i2"]
threads = [1]
tests = ["pp8", "tg4"]
repetitions = 6
max_repetitions = 6
warmup = 0
[[peer]]
name = "llama.cpp"
bench = "{llama}"
model = "{f16}"
[[peer]]
name = "bitnet.cpp"
bench = "{bitnet}"
model = "{i2s}"
[energy]
source = "none"
idle_seconds = 0.0
"#,
            f16 = f16.display(),
            i2s = i2s.display(),
            llama = llama.display(),
            bitnet = bitnet.display(),
        ),
    )
    .unwrap();
    let run = run_quiet(&scenario, &dir.path().join("out"));
    let rep = dir.path().join("report");
    let o = ternbench(&[
        "report",
        run.to_str().unwrap(),
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(rep.join("summary.md")).unwrap();
    let at = md.find("## Peers side by side").expect("a peer table");
    let section = &md[at..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let table: Vec<&str> = section.lines().filter(|l| l.starts_with("| #")).collect();
    // Each peer cell (2 peers × 2 tests) beside ternbench's two engines on its file.
    assert_eq!(table.len(), 8, "{table:#?}");
    let row = table
        .iter()
        .find(|l| l.contains("llama.cpp F16") && l.contains("tg4") && l.contains("| fp16"))
        .unwrap_or_else(|| panic!("{table:#?}"));
    let cols: Vec<&str> = row.split(" | ").collect();
    assert_eq!(cols[1], "tiny.f16.gguf", "{row}");
    // Peer tokens/s with its CI (six repetitions), its roofline, ternbench's ratio with a CI.
    assert!(cols[5].starts_with("19.80 [19.80, 19.80]"), "{row}");
    assert!(cols[6].contains('%'), "roofline of the peer: {row}");
    assert!(cols[10].contains("x [") && cols[10].ends_with(']'), "{row}");
    let pp = table
        .iter()
        .find(|l| l.contains("bitnet.cpp I2_S") && l.contains("pp8"))
        .unwrap();
    assert!(pp.contains("- (prefill)"), "{pp}");
    let csv = std::fs::read_to_string(rep.join("peers.csv")).unwrap();
    assert_eq!(csv.lines().count(), 9, "{csv}");
    assert!(std::fs::read_to_string(rep.join("index.html"))
        .unwrap()
        .contains("id=\"peers\""));
    // Claim 1: bitnet.cpp I2_S ÷ llama.cpp F16 measured here (60 ÷ 20 = 3.00x, no spread),
    // ternbench's ratio on the same files beside it; the size is not on the published ladder,
    // so it is judged against 2.37x less 15%: reproduced.
    let claims = std::fs::read_to_string(rep.join("claims.csv")).unwrap();
    let c1 = claims
        .lines()
        .find(|l| l.starts_with("1,") && l.contains("bitnet.cpp I2_S ÷ llama.cpp F16"))
        .unwrap_or_else(|| panic!("{claims}"));
    assert!(c1.contains("3.00x"), "{c1}");
    assert!(
        c1.contains("ternbench ternary i2 ÷ fp16 on the same files:"),
        "{c1}"
    );
    assert!(c1.contains(",reproduced,"), "{c1}");
    assert!(c1.contains("smallest published figure"), "{c1}");
}

/// `ternbench export`: a zoo model as a GGUF file ternbench reads back; bad input exits 2.
#[test]
fn export_writes_a_gguf_file_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("125m.tq1_0.gguf");
    let o = ternbench(&[
        "export",
        "-m",
        "bitnet-125m",
        "--type",
        "tq1_0",
        "--out",
        f.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["type"], "TQ1_0");
    assert_eq!(j["arch"], "bitnet");
    assert_eq!(
        j["file_bytes"].as_u64().unwrap(),
        std::fs::metadata(&f).unwrap().len()
    );
    assert_eq!(&std::fs::read(&f).unwrap()[..4], b"GGUF");
    let o = ternbench(&["logits", "-m", f.to_str().unwrap(), "--tokens", "1,2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // An existing file is kept unless --force; an unknown model is named.
    let o = ternbench(&[
        "export",
        "-m",
        "bitnet-125m",
        "--type",
        "f16",
        "--out",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    let o = ternbench(&[
        "export",
        "-m",
        "bitnet-9z",
        "--type",
        "f16",
        "--out",
        dir.path().join("x.gguf").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bitnet-9z"));
}
