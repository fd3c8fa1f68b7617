//! Items of the command line a user acts on before and around a measurement: `--plan` lists the
//! cells, memory and an estimated duration and writes nothing; thread counts are validated in
//! every command; Ctrl-C in `bench` prints the rows measured so far; `--resume` on a complete run
//! changes nothing and a resumed run's progress starts where it was; `generate` on a synthetic
//! model says the weights are random; completions, man page and `--version` come from the clap
//! definitions; the tree cites no file outside the repository.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TINY: &str = r#"
name = "tiny"
models = [{ name = "bitnet-125m", sample_layers = 1 }]
engines = ["ternary", "fp16"]
formats = ["i2"]
threads = [1]
isa = "best"
tests = ["pp4+tg3", "tg2"]
repetitions = 3
warmup = 1
max_repetitions = 3
[energy]
source = "none"
"#;

fn ternbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(args)
        .output()
        .expect("run ternbench")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> (String, String) {
    let o = ternbench(args);
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "{args:?}: exit {:?}\n{err}",
        o.status.code()
    );
    (out, err)
}

fn tiny(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.toml");
    std::fs::write(&p, TINY).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn run_plan_lists_cells_memory_and_duration_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tiny(tmp.path());
    let out_dir = tmp.path().join("results");
    let (out, _) = ok(&["run", s(&scen), "--plan", "--out", s(&out_dir)]);
    assert!(
        out.contains("plan for `tiny`: 4 cell(s), 2 model build(s)"),
        "{out}"
    );
    for want in [
        "weights GiB",
        "KV cache GiB",
        "SAMPLED",
        "pp4+tg3",
        "1 + 3",
        "estimated duration:",
        "ESTIMATE",
        "available now",
    ] {
        assert!(out.contains(want), "`{want}` missing:\n{out}");
    }
    assert!(!out_dir.exists(), "--plan created {}", out_dir.display());

    let (json, _) = ok(&["run", s(&scen), "--plan", "-o", "json"]);
    let p: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(p["cells"].as_array().unwrap().len(), 4);
    assert_eq!(p["models"].as_array().unwrap().len(), 2);
    let total = p["total_seconds"].as_f64().unwrap();
    let cells: f64 = p["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seconds"].as_f64().unwrap())
        .sum();
    assert!(total >= cells && cells > 0.0, "{p}");
    for m in p["models"].as_array().unwrap() {
        assert!(m["weight_bytes"].as_u64().unwrap() > 0, "{m}");
        assert_eq!(m["layers_built"], 1);
    }
    // FP16 reads 8x the bytes of i2 per weight: its decode cells are estimated slower.
    let tg = |engine: &str| {
        p["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"]["engine"] == engine && c["key"]["test"] == "tg2")
            .map(|c| c["rep_seconds"].as_f64().unwrap())
            .unwrap()
    };
    assert!(tg("fp16") > tg("ternary"), "{p}");
}

#[test]
fn bench_plan_measures_nothing() {
    let (out, _) = ok(&[
        "bench",
        "-m",
        "bitnet-125m",
        "--sample-layers",
        "1",
        "-p",
        "4",
        "-n",
        "2",
        "-r",
        "2",
        "--plan",
    ]);
    assert!(out.contains("plan for `bench`: 4 cell(s)"), "{out}");
    assert!(out.contains("estimated duration:"), "{out}");
    assert!(!out.contains("t/s"), "--plan printed measurements:\n{out}");
}

#[test]
fn threads_are_validated_in_every_command() {
    let logical = std::thread::available_parallelism().unwrap().get();
    let too_many = (logical + 1).to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["generate", "-m", "bitnet-125m", "--tokens", "1", "-t"],
        vec!["logits", "-m", "bitnet-125m", "--tokens", "1", "-t"],
        vec!["bench", "-m", "bitnet-125m", "-t"],
        vec!["bandwidth", "-t"],
        vec!["peak", "-t"],
        vec!["kernels", "--quick", "-t"],
    ];
    for case in &cases {
        for n in ["0", too_many.as_str()] {
            let mut args = case.clone();
            args.push(n);
            let o = ternbench(&args);
            let (out, err) = text(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(out.is_empty(), "{args:?} printed {out}");
            if n == "0" {
                assert!(err.contains("start at 1"), "{args:?}: {err}");
            } else {
                assert!(
                    err.contains("logical CPU") && err.contains("--oversubscribe"),
                    "{args:?}: {err}"
                );
            }
        }
    }
    // A scenario's explicit count above the CPUs: refused, naming the file and key.
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("big.toml");
    std::fs::write(
        &p,
        format!("models = [\"bitnet-125m\"]\ntests = [\"tg1\"]\nthreads = [{too_many}]\n"),
    )
    .unwrap();
    let o = ternbench(&["run", s(&p), "--out", s(&tmp.path().join("r"))]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("big.toml") && err.contains("threads") && err.contains("--oversubscribe"),
        "{err}"
    );
    assert!(!tmp.path().join("r").exists());
    // Asked for: runs.
    let (out, err) = ok(&[
        "generate",
        "-m",
        "bitnet-125m",
        "--sample-layers",
        "1",
        "--tokens",
        "1",
        "--max-tokens",
        "1",
        "-t",
        &too_many,
        "--oversubscribe",
    ]);
    assert!(!out.trim().is_empty(), "{err}");
}

#[test]
fn generate_on_a_synthetic_model_says_the_weights_are_random() {
    let (_, err) = ok(&[
        "generate",
        "-m",
        "bitnet-125m",
        "--sample-layers",
        "1",
        "--tokens",
        "1,2",
        "--max-tokens",
        "3",
    ]);
    assert!(err.contains("synthetic") && err.contains("random"), "{err}");
    assert!(err.contains("repeated"), "{err}");
}

/// Snapshot of a results folder: every file's bytes and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let m = e.metadata().unwrap().modified().unwrap();
                v.push((p.clone(), std::fs::read(&p).unwrap(), m));
            }
        }
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn resume_of_a_complete_run_says_so_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tiny(tmp.path());
    let root = tmp.path().join("r");
    ok(&["run", s(&scen), "--out", s(&root), "-q"]);
    let dir = std::fs::read_dir(&root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let before = snapshot(&dir);
    std::thread::sleep(Duration::from_millis(20));
    let (out, err) = ok(&["run", "--resume", s(&dir)]);
    assert!(
        err.contains("already complete") && err.contains("nothing changed"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        snapshot(&dir),
        before,
        "--resume of a complete run changed the folder"
    );
}

/// The `[k/N]` of the first progress line a non-terminal run prints.
fn first_progress(err: &str) -> Option<(usize, usize)> {
    err.lines().find_map(|l| {
        let rest = l.strip_prefix('[')?;
        let (k, rest) = rest.split_once('/')?;
        let (n, _) = rest.split_once(']')?;
        Some((k.parse().ok()?, n.parse().ok()?))
    })
}

#[test]
fn resumed_progress_starts_at_the_fraction_done() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tiny(tmp.path());
    let root = tmp.path().join("r");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args(["run", s(&scen), "--out", s(&root), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until at least 5 repetitions are on disk, then stop it.
    let t0 = Instant::now();
    let dir = loop {
        let found = std::fs::read_dir(&root)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok());
        if let Some(e) = found {
            let n = std::fs::read_to_string(e.path().join("cells.jsonl"))
                .map(|t| {
                    t.lines()
                        .filter(|l| l.contains("\"record\":\"sample\""))
                        .count()
                })
                .unwrap_or(0);
            if n >= 5 {
                break e.path();
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no samples appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let had = std::fs::read_to_string(dir.join("cells.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"record\":\"sample\""))
        .count();
    if had >= 12 {
        return; // finished before the kill landed: nothing to resume
    }
    let (_, err) = ok(&["run", "--resume", s(&dir)]);
    let (k, n) = first_progress(&err).unwrap_or_else(|| panic!("no progress line:\n{err}"));
    assert_eq!(n, 12, "{err}");
    assert_eq!(
        k,
        had + 1,
        "the first line after resuming {had} of 12:\n{err}"
    );
    assert!(!err.contains(" us") && !err.contains("µs"), "{err}");
    let last = err.lines().rfind(|l| l.starts_with('[')).unwrap();
    assert!(
        last.starts_with("[12/12]") && last.ends_with("ETA done"),
        "{last}"
    );
}

#[test]
fn ctrl_c_in_bench_prints_the_rows_measured_so_far() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ternbench"))
        .args([
            "bench",
            "-m",
            "bitnet-125m",
            "--sample-layers",
            "1",
            "-p",
            "4",
            "-n",
            "2",
            "-r",
            "200",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress lines (stderr is not a terminal): wait for a few repetitions, then Ctrl-C.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        let rep = l.starts_with('[');
        seen.push(l);
        if rep && seen.iter().filter(|l| l.starts_with('[')).count() >= 6 {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    let err = format!("{}\n{}", seen.join("\n"), rest.join("\n"));
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty(), "no rows printed");
    for r in rows {
        let n = r["samples_ts"].as_array().unwrap().len();
        assert!((1..200).contains(&n), "{r}");
    }
}

#[test]
fn completions_man_and_version_come_from_the_definitions() {
    let (bash, _) = ok(&["completions", "bash"]);
    for w in [
        "_ternbench()",
        "--weight-format",
        "--oversubscribe",
        "--plan",
    ] {
        assert!(bash.contains(w), "bash completion lacks {w}");
    }
    assert!(
        !bash.contains("--quiet-progress"),
        "a deprecated alias is completed"
    );
    let (zsh, _) = ok(&["completions", "zsh"]);
    assert!(zsh.contains("#compdef ternbench"), "{zsh}");
    let (man, _) = ok(&["man"]);
    assert!(
        man.contains(".TH ternbench 1") && man.contains("completions"),
        "{man}"
    );
    let tmp = tempfile::tempdir().unwrap();
    ok(&["man", "--out", s(tmp.path())]);
    for page in [
        "ternbench.1",
        "ternbench-run.1",
        "ternbench-bench.1",
        "ternbench-compare.1",
    ] {
        let t = std::fs::read_to_string(tmp.path().join(page)).unwrap();
        assert!(t.contains(".TH"), "{page}");
    }
    let (v, _) = ok(&["-V"]);
    assert!(v.starts_with("ternbench ") && v.contains("(commit "), "{v}");
    let (long, _) = ok(&["--version"]);
    assert!(
        long.contains("commit: ") && long.contains("rustc"),
        "{long}"
    );
}

#[test]
fn deprecated_spellings_still_work_with_a_warning() {
    let (out, err) = ok(&["sysinfo", "--json", "--no-bandwidth"]);
    assert!(serde_json::from_str::<Value>(&out).is_ok(), "{out}");
    assert!(
        err.contains("deprecated") && err.contains("-o json"),
        "{err}"
    );
    let (_, err) = ok(&["sysinfo", "-o", "json", "--no-bandwidth"]);
    assert!(!err.contains("deprecated"), "{err}");
}

/// Files under `dir` (no `target`, `.git` or `fuzz/target`) whose text mentions `needle`.
fn grep_tree(dir: &Path, needle: &str, hits: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && name != ".git" && name != "node_modules" {
                grep_tree(&p, needle, hits);
            }
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            if t.contains(needle) {
                hits.push(p.display().to_string());
            }
        }
    }
}

#[test]
fn nothing_cites_files_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Built so that this file does not match itself.
    for needle in [
        format!("{}{}", "reference", ".md"),
        format!("{}{}", "anchors", ".md"),
        format!("{}{}", "/work/", "shared"),
    ] {
        let mut hits = Vec::new();
        grep_tree(&root, &needle, &mut hits);
        assert!(
            hits.is_empty(),
            "`{needle}` cited in {hits:?}: cite the public source itself"
        );
    }
    let (help, _) = ok(&["cost", "--help"]);
    assert!(!help.contains(".md §"), "{help}");
}
