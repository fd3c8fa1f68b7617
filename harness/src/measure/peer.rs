//! Peers: a llama.cpp-family `llama-bench` binary (upstream llama.cpp, bitnet.cpp's fork, any
//! other fork) run as an engine of a scenario, one repetition per invocation, so that its
//! repetitions interleave with ternbench's and each is bracketed by the runner's bandwidth
//! readings.
//!
//! One repetition: `llama-bench -m FILE -p P -n G [-d D] -t T -r 1 -o json -ctk K -ctv K`
//! (`-pg P,G` for a `ppP+tgG` test), plus `--cpu-mask`/`--cpu-strict 1` when the scenario pins
//! threads (the first T cores, as ternbench pins its workers) and the peer's own extra
//! arguments. llama-bench loads the model, runs its untimed warm-up, then the timed run; its
//! JSON row says how long the timed run took (`samples_ns`). The process window around it —
//! what an energy reading around the invocation covers — is longer by the load and warm-up, and
//! [`PeerRep::window_seconds`] records it beside the timed seconds so energy figures can say
//! what they include.
//!
//! Failures are errors of the cell, each naming the binary, the file and what happened: the
//! binary is missing or not executable, it exited non-zero (a refused file: the tail of its
//! stderr is quoted), it died by a signal (a crash), it ran past the time limit (killed), or it
//! printed no row for the test or something that is not llama-bench's JSON.
//!
//! The build: a `peer.json` beside the binary (written by `scripts/peers/build-*.sh`: commits,
//! compiler, flags) is read when present; llama-bench's own `build_commit` and `cpu_info` come
//! with every row.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::plan::scenario::TestSpec;

/// A peer of the scenario (`[[peer]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerSpec {
    /// Display name (`llama.cpp`, `bitnet.cpp`): the cell's engine.
    pub name: String,
    /// The `llama-bench` binary.
    pub bench: PathBuf,
    /// The GGUF file it runs.
    pub model: PathBuf,
    /// Extra arguments appended to every invocation.
    #[serde(default)]
    pub args: Vec<String>,
    /// Seconds one invocation may take before it is killed.
    pub timeout_seconds: f64,
}

/// How to run one repetition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerRun {
    /// The test.
    pub test: TestSpec,
    /// Threads (`-t`).
    pub threads: usize,
    /// Pin the threads to the first `threads` cores (`--cpu-mask`, `--cpu-strict 1`).
    pub pin: bool,
    /// KV cache type: f16 (llama-bench's default) or f32.
    pub kv_f16: bool,
}

/// Why a repetition of a peer produced no measurement.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PeerError {
    /// The binary could not be started.
    #[error("{bench}: cannot run it: {reason}{hint}")]
    Spawn {
        /// The binary.
        bench: String,
        /// What the OS said.
        reason: String,
        /// A fix.
        hint: &'static str,
    },
    /// It exited with a failure status (typically: it refused the model file).
    #[error(
        "{bench} exited with status {code} on {model}{}: {stderr_tail}",
        refusal_hint(stderr_tail)
    )]
    Failed {
        /// The binary.
        bench: String,
        /// The model file.
        model: String,
        /// Its exit status.
        code: i32,
        /// The last lines it printed on stderr.
        stderr_tail: String,
    },
    /// It was killed by a signal (a crash).
    #[error("{bench} crashed (signal {signal}) on {model}; its last words: {stderr_tail}")]
    Crashed {
        /// The binary.
        bench: String,
        /// The model file.
        model: String,
        /// The signal.
        signal: i32,
        /// The last lines it printed on stderr.
        stderr_tail: String,
    },
    /// It ran past the time limit and was killed.
    #[error("{bench} ran past its limit of {limit_s:.0} s on {model} and was killed (raise `timeout_seconds` of this [[peer]] for a larger model)")]
    TimedOut {
        /// The binary.
        bench: String,
        /// The model file.
        model: String,
        /// The limit.
        limit_s: f64,
    },
    /// Its output is not the JSON row the test needs.
    #[error("{bench} printed no usable result for {test} on {model}: {reason}")]
    Output {
        /// The binary.
        bench: String,
        /// The model file.
        model: String,
        /// The test.
        test: String,
        /// What is wrong.
        reason: String,
    },
}

fn refusal_hint(stderr: &str) -> &'static str {
    if stderr.contains("failed to load model") || stderr.contains("error loading model") {
        " (it refused the file: a type or architecture this build does not read)"
    } else {
        ""
    }
}

/// One row of llama-bench's JSON output (the fields ternbench uses; others are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// llama-bench's build commit.
    #[serde(default)]
    pub build_commit: String,
    /// The CPU as llama-bench names it.
    #[serde(default)]
    pub cpu_info: String,
    /// `llama_model_desc`: arch, size, type.
    #[serde(default)]
    pub model_type: String,
    /// Model bytes as llama-bench counts them (bitnet.cpp's fork misreports I2_S).
    #[serde(default)]
    pub model_size: u64,
    /// Prompt tokens.
    pub n_prompt: usize,
    /// Generated tokens.
    pub n_gen: usize,
    /// Depth.
    #[serde(default)]
    pub n_depth: usize,
    /// Threads.
    pub n_threads: usize,
    /// CPU mask as llama-bench applied it.
    #[serde(default)]
    pub cpu_mask: String,
    /// K cache type.
    #[serde(default)]
    pub type_k: String,
    /// Nanoseconds of each timed repetition.
    pub samples_ns: Vec<u64>,
    /// Tokens per second of each timed repetition.
    #[serde(default)]
    pub samples_ts: Vec<f64>,
}

/// One measured repetition of a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRep {
    /// The row llama-bench printed for the test.
    pub row: BenchRow,
    /// Seconds of the timed run (llama-bench's `samples_ns`).
    pub timed_seconds: f64,
    /// Seconds of the whole invocation: model load, warm-up and the timed run.
    pub window_seconds: f64,
}

/// The arguments of one repetition.
pub fn args(spec: &PeerSpec, run: &PeerRun) -> Vec<String> {
    let t = run.test;
    let mut a: Vec<String> = vec!["-m".into(), spec.model.display().to_string()];
    if t.n_prompt > 0 && t.n_gen > 0 {
        a.extend(["-p", "0", "-n", "0", "-pg"].map(String::from));
        a.push(format!("{},{}", t.n_prompt, t.n_gen));
    } else {
        a.extend(["-p".into(), t.n_prompt.to_string()]);
        a.extend(["-n".into(), t.n_gen.to_string()]);
    }
    if t.n_depth > 0 {
        a.extend(["-d".into(), t.n_depth.to_string()]);
    }
    a.extend(["-t".into(), run.threads.to_string()]);
    a.extend(["-r", "1", "-o", "json"].map(String::from));
    let kv = if run.kv_f16 { "f16" } else { "f32" };
    a.extend(["-ctk", kv, "-ctv", kv].map(String::from));
    if run.pin {
        a.extend(["--cpu-mask".into(), cpu_mask(run.threads)]);
        a.extend(["--cpu-strict", "1"].map(String::from));
    }
    a.extend(spec.args.iter().cloned());
    a
}

/// llama-bench's hex mask of the first `n` CPUs.
pub fn cpu_mask(n: usize) -> String {
    let mut digits = Vec::new();
    let mut left = n;
    while left > 0 || digits.is_empty() {
        let bits = left.min(4);
        digits.push(char::from_digit((1u32 << bits) - 1, 16).expect("a hex digit"));
        left -= bits;
    }
    format!("0x{}", digits.iter().rev().collect::<String>())
}

/// Parses llama-bench's `-o json` (an array) or `-o jsonl` (one object a line) output.
pub fn parse_rows(out: &str) -> Result<Vec<BenchRow>, String> {
    let t = out.trim();
    if t.is_empty() {
        return Err("nothing on stdout".into());
    }
    if t.starts_with('[') {
        return serde_json::from_str(t).map_err(|e| format!("not llama-bench's JSON: {e}"));
    }
    t.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("not llama-bench's JSONL: {e}")))
        .collect()
}

/// The last `n` non-empty lines of `s`, joined with ` | `.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(n);
    let t = lines[from..].join(" | ");
    if t.is_empty() {
        "(nothing on stderr)".into()
    } else {
        t
    }
}

/// Runs one repetition.
pub fn run_once(spec: &PeerSpec, run: &PeerRun) -> Result<PeerRep, PeerError> {
    let bench = spec.bench.display().to_string();
    let model = spec.model.display().to_string();
    let test = run.test.name();
    let t0 = Instant::now();
    let mut cmd = Command::new(&spec.bench);
    cmd.args(args(spec, run))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        // Its own process group, so a timeout ends everything it started (a wrapper script's
        // children too), not only the first process.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| PeerError::Spawn {
            bench: bench.clone(),
            hint: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    " (no such file: build it with scripts/peers/build-llama-cpp.sh or build-bitnet-cpp.sh, or fix `bench` in the [[peer]])"
                }
                std::io::ErrorKind::PermissionDenied => " (not executable: chmod +x it)",
                _ => "",
            },
            reason: e.to_string(),
        })?;
    // Drain both pipes while it runs (a full pipe would stall it).
    let mut so = child.stdout.take().expect("piped");
    let mut se = child.stderr.take().expect("piped");
    let out_h = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err_h = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let limit = Duration::from_secs_f64(spec.timeout_seconds.max(0.001));
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Ok(st),
            Ok(None) if t0.elapsed() > limit => {
                kill_group(&mut child);
                let _ = child.wait();
                break Err(());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                return Err(PeerError::Spawn {
                    bench,
                    reason: format!("waiting for it failed: {e}"),
                    hint: "",
                });
            }
        }
    };
    let window_seconds = t0.elapsed().as_secs_f64();
    let stdout = out_h.join().unwrap_or_default();
    let stderr = err_h.join().unwrap_or_default();
    let Ok(status) = status else {
        return Err(PeerError::TimedOut {
            bench,
            model,
            limit_s: spec.timeout_seconds,
        });
    };
    if !status.success() {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return Err(PeerError::Crashed {
                    bench,
                    model,
                    signal,
                    stderr_tail: tail(&stderr, 3),
                });
            }
        }
        return Err(PeerError::Failed {
            bench,
            model,
            code: status.code().unwrap_or(-1),
            stderr_tail: tail(&stderr, 3),
        });
    }
    let output = |reason: String| PeerError::Output {
        bench: bench.clone(),
        model: model.clone(),
        test: test.clone(),
        reason,
    };
    let rows = parse_rows(&stdout).map_err(output)?;
    let t = run.test;
    let row = rows
        .into_iter()
        .find(|r| r.n_prompt == t.n_prompt && r.n_gen == t.n_gen && r.n_depth == t.n_depth)
        .ok_or_else(|| {
            output(format!(
                "no row with n_prompt {}, n_gen {}, n_depth {}",
                t.n_prompt, t.n_gen, t.n_depth
            ))
        })?;
    if row.n_threads != run.threads {
        return Err(output(format!(
            "it ran {} threads, not the {} asked for",
            row.n_threads, run.threads
        )));
    }
    let ns = match row.samples_ns.as_slice() {
        [ns] if *ns > 0 => *ns,
        other => {
            return Err(output(format!(
                "expected one positive timed sample (-r 1), found {other:?}"
            )))
        }
    };
    Ok(PeerRep {
        timed_seconds: ns as f64 / 1e9,
        window_seconds,
        row,
    })
}

/// Kills the child's process group (the child and whatever it started).
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group the child leads (it
            // was spawned with process_group(0), so its pgid is its pid); it touches no memory.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

/// The build record `scripts/peers/build-*.sh` leaves beside the binary (`peer.json`), when
/// present and readable.
pub fn build_record(bench: &Path) -> Option<serde_json::Value> {
    let dir = bench.parent()?;
    for p in [dir.join("peer.json"), dir.join("../../peer.json")] {
        if let Ok(s) = std::fs::read_to_string(&p) {
            if let Ok(v) = serde_json::from_str(&s) {
                return Some(v);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peers/fake-llama-bench")
    }

    fn gguf(dir: &Path) -> PathBuf {
        let p = dir.join("m.gguf");
        std::fs::write(&p, b"GGUF\x03\0\0\0 and the rest").unwrap();
        p
    }

    fn spec(bench: PathBuf, model: PathBuf) -> PeerSpec {
        PeerSpec {
            name: "llama.cpp".into(),
            bench,
            model,
            args: vec![],
            timeout_seconds: 30.0,
        }
    }

    fn run(n_prompt: usize, n_gen: usize) -> PeerRun {
        PeerRun {
            test: TestSpec::new(n_prompt, n_gen),
            threads: 2,
            pin: false,
            kv_f16: true,
        }
    }

    #[test]
    fn arguments_follow_the_test_threads_and_pinning() {
        let s = spec("lb".into(), "m.gguf".into());
        let a = args(&s, &run(128, 0)).join(" ");
        assert_eq!(
            a,
            "-m m.gguf -p 128 -n 0 -t 2 -r 1 -o json -ctk f16 -ctv f16"
        );
        let mut r = run(0, 64);
        r.pin = true;
        r.threads = 6;
        r.kv_f16 = false;
        r.test.n_depth = 512;
        let a = args(&s, &r).join(" ");
        assert!(a.contains("-p 0 -n 64 -d 512 -t 6"), "{a}");
        assert!(
            a.ends_with("-ctk f32 -ctv f32 --cpu-mask 0x3f --cpu-strict 1"),
            "{a}"
        );
        assert!(args(&s, &run(16, 8))
            .join(" ")
            .contains("-p 0 -n 0 -pg 16,8"));
        assert_eq!(cpu_mask(1), "0x1");
        assert_eq!(cpu_mask(2), "0x3");
        assert_eq!(cpu_mask(8), "0xff");
        assert_eq!(cpu_mask(9), "0x1ff");
    }

    #[test]
    fn parses_the_recorded_json_of_a_real_llama_bench() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/peers/llama-bench-0c1e57098-125m-tq2_0.json"),
        )
        .unwrap();
        let rows = parse_rows(&text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].build_commit, "0c1e57098");
        assert_eq!((rows[0].n_prompt, rows[0].n_gen), (16, 0));
        assert_eq!((rows[1].n_prompt, rows[1].n_gen), (0, 8));
        assert_eq!(rows[1].samples_ns.len(), 2);
        assert_eq!(rows[0].model_type, "bitnet ?B TQ2_0 - 2.06 bpw ternary");
        // JSONL: one object a line.
        let jsonl: String = rows
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        assert_eq!(parse_rows(&jsonl).unwrap(), rows);
        assert!(parse_rows("").is_err());
        assert!(parse_rows("build: 1234 (5)").is_err());
    }

    #[test]
    fn one_repetition_of_the_fake_peer() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(fake(), gguf(dir.path()));
        let r = run_once(&s, &run(0, 64)).unwrap();
        assert_eq!((r.row.n_gen, r.row.n_threads), (64, 2));
        // The fake's first repetition runs 1 % below its 20 t/s.
        assert!(
            (64.0 / r.timed_seconds - 19.8).abs() < 0.01,
            "{}",
            r.timed_seconds
        );
        assert!(r.window_seconds > 0.0);
        let p = run_once(&s, &run(128, 0)).unwrap();
        assert_eq!(p.row.n_prompt, 128);
    }

    #[test]
    fn failures_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let model = gguf(dir.path());
        let e = run_once(
            &spec(dir.path().join("no-such-bench"), model.clone()),
            &run(8, 0),
        )
        .unwrap_err();
        assert!(matches!(e, PeerError::Spawn { .. }));
        assert!(e.to_string().contains("build-llama-cpp.sh"), "{e}");

        let e = run_once(&spec(fake(), dir.path().join("missing.gguf")), &run(8, 0)).unwrap_err();
        assert!(matches!(e, PeerError::Failed { code: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("refused the file"), "{e}");
        assert!(e.to_string().contains("failed to load model"), "{e}");

        let with_mode = |mode: &str| {
            let mut s = spec(fake(), model.clone());
            // The fake reads its mode from the environment; a wrapper sets it per call.
            let w = dir.path().join(format!("bench-{mode}"));
            std::fs::write(
                &w,
                format!(
                    "#!/bin/sh\nFAKE_LLAMA_BENCH_MODE={mode} exec {} \"$@\"\n",
                    fake().display()
                ),
            )
            .unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            s.bench = w;
            s.timeout_seconds = 2.0;
            run_once(&s, &run(8, 0))
        };
        let e = with_mode("crash").unwrap_err();
        assert!(matches!(e, PeerError::Crashed { signal: 11, .. }), "{e:?}");
        assert!(e.to_string().contains("loading model tensors"), "{e}");
        let e = with_mode("garbage").unwrap_err();
        assert!(matches!(e, PeerError::Output { .. }), "{e:?}");
        let e = with_mode("empty").unwrap_err();
        assert!(e.to_string().contains("no row"), "{e}");
        let e = with_mode("hang").unwrap_err();
        assert!(matches!(e, PeerError::TimedOut { .. }), "{e:?}");
        assert!(with_mode("stderr-noise").is_ok());
    }

    #[test]
    fn the_build_record_is_found_beside_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("build/bin");
        std::fs::create_dir_all(&bin).unwrap();
        assert!(build_record(&bin.join("llama-bench")).is_none());
        std::fs::write(dir.path().join("peer.json"), r#"{"name": "llama.cpp"}"#).unwrap();
        let r = build_record(&bin.join("llama-bench")).unwrap();
        assert_eq!(r["name"], "llama.cpp");
    }
}
