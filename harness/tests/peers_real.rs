//! Opt-in: the real peers (llama.cpp's and bitnet.cpp's `llama-bench`, built by
//! `scripts/peers/build-llama-cpp.sh` and `build-bitnet-cpp.sh`) measured beside ternbench on the
//! same small GGUF files, one interleaved run. It runs only where `TERNBENCH_PEERS` names the
//! folder those scripts fill (`llama.cpp/build/bin/llama-bench`, `bitnet.cpp/build/bin/llama-bench`)
//! and the 125M files `ternbench export` writes into `models/`; elsewhere it says so and passes
//! (CI has no peer builds: building bitnet.cpp takes clang-19 and longer than CI's budget).
//!
//! ```sh
//! ternbench export -m bitnet-125m --type tq2_0 --out $TERNBENCH_PEERS/models/125m-bitnet.tq2_0.gguf
//! ternbench export -m bitnet-125m --type i2_s --out $TERNBENCH_PEERS/models/125m-bitnet.i2_s.gguf
//! TERNBENCH_PEERS=/path/to/peers cargo test -p ternbench --test peers_real -- --nocapture
//! ```

use std::path::PathBuf;

mod common;
use common::{run_json, run_quiet};

#[test]
fn the_real_peers_measure_the_same_small_files_beside_ternbench() {
    let Some(root) = std::env::var_os("TERNBENCH_PEERS").map(PathBuf::from) else {
        eprintln!("skipped: TERNBENCH_PEERS is not set (see this file's header)");
        return;
    };
    let llama = root.join("llama.cpp/build/bin/llama-bench");
    let bitnet = root.join("bitnet.cpp/build/bin/llama-bench");
    let tq2 = root.join("models/125m-bitnet.tq2_0.gguf");
    let i2s = root.join("models/125m-bitnet.i2_s.gguf");
    for p in [&llama, &bitnet, &tq2, &i2s] {
        assert!(
            p.exists(),
            "TERNBENCH_PEERS={} lacks {} (scripts/peers/, then ternbench export)",
            root.display(),
            p.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("real-peers.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
models = ["{tq2}", "{i2s}"]
engines = ["ternary"]
threads = [1]
tests = ["pp32", "tg16"]
repetitions = 2
warmup = 0
[[peer]]
name = "llama.cpp"
bench = "{llama}"
model = "{tq2}"
[[peer]]
name = "bitnet.cpp"
bench = "{bitnet}"
model = "{i2s}"
"#,
            tq2 = tq2.display(),
            i2s = i2s.display(),
            llama = llama.display(),
            bitnet = bitnet.display(),
        ),
    )
    .unwrap();
    let run = run_quiet(&scenario, &dir.path().join("out"));
    let j = run_json(&run);
    assert_eq!(j["status"], "complete");
    let cells = j["cells"].as_array().unwrap();
    for peer in ["llama.cpp", "bitnet.cpp"] {
        for (test, field) in [
            ("pp32", "prefill_tokens_per_s"),
            ("tg16", "decode_tokens_per_s"),
        ] {
            let c = cells
                .iter()
                .find(|c| c["key"]["engine"] == peer && c["key"]["test"] == test)
                .unwrap_or_else(|| panic!("no {peer} {test} cell: {cells:#?}"));
            assert!(c.get("error").is_none(), "{peer} {test}: {}", c["error"]);
            assert_eq!(c["repetitions"], 2, "{peer} {test}");
            let ts = c[field]["median"].as_f64().unwrap();
            assert!(ts > 0.0, "{peer} {test}: {ts}");
            assert!(c["decode_bytes_per_token"].as_u64().unwrap() > 0);
            eprintln!("{peer} {test}: {ts:.1} t/s (median of 2)");
        }
    }
    // ternbench's own cells on the same two files.
    let ours = cells
        .iter()
        .filter(|c| c["key"]["engine"] == "ternary" && c.get("error").is_none())
        .count();
    assert!(ours >= 4, "ternbench cells: {cells:#?}");
}
