//! Reading the runs a report is made of: a results folder or its `run.json`, parsed into
//! [`RunFile`], with a short label and the machine facts the report shows.
//!
//! `machine` is kept as JSON in `run.json` (older runs hold only a few fields), so every
//! machine fact is read with [`Loaded::machine_str`] / [`Loaded::machine_num`] and is `None`
//! when the run did not record it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::records::results::RunFile;

/// One run as the report sees it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Where it was read from (the run.json).
    pub path: PathBuf,
    /// The run.
    pub run: RunFile,
    /// 1-based position on the command line (`--price 2=...`).
    pub index: usize,
}

/// Reads `path`: a results folder (its `run.json`) or a `run.json` itself.
pub fn load(path: &Path, index: usize) -> Result<Loaded> {
    let file = if path.is_dir() {
        path.join("run.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "reading {} (give a results folder written by `ternbench run`, or its run.json)",
            file.display()
        )
    })?;
    let run = RunFile::parse(&text)
        .with_context(|| format!("{}: not a ternbench run.json", file.display()))?;
    Ok(Loaded {
        path: file,
        run,
        index,
    })
}

/// How deep [`expand`] looks under a folder for run folders (a fleet folder holds
/// `hosts/<host>/<run-id>/`).
const FLEET_DEPTH: usize = 4;

/// The runs named on the command line: a results folder or run.json is itself; any other
/// folder (a fleet folder, a `results/` folder) stands for every run folder under it, sorted
/// by path, complete ones only. Returns the run paths and a line for each run left out.
pub fn expand(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        if !p.is_dir() || is_run_folder(p) {
            runs.push(p.clone());
            continue;
        }
        let mut found = Vec::new();
        find_runs(p, FLEET_DEPTH, &mut found)
            .with_context(|| format!("looking for run folders under {}", p.display()))?;
        found.sort();
        let before = runs.len();
        for d in found {
            let status = std::fs::read_to_string(d.join("run.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v.get("status")?.as_str().map(str::to_string));
            match status.as_deref() {
                Some("complete") => runs.push(d),
                Some(s) => skipped.push(format!(
                    "{}: status `{s}`, not finished (finish it with `ternbench run --resume {}`, or rerun the fleet)",
                    d.display(),
                    d.display()
                )),
                None => skipped.push(format!(
                    "{}: no readable run.json (stopped before its first write? resume it with `ternbench run --resume {}`)",
                    d.display(),
                    d.display()
                )),
            }
        }
        if runs.len() == before {
            anyhow::bail!(
                "{}: no complete run folder (a folder holding run.json) within {FLEET_DEPTH} levels{}",
                p.display(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" ({} unfinished)", skipped.len())
                }
            );
        }
    }
    Ok((runs, skipped))
}

/// A folder `ternbench run` made: it holds run.json, or cells.jsonl (created with the folder,
/// before run.json's first write).
fn is_run_folder(p: &Path) -> bool {
    p.join("run.json").is_file() || p.join("cells.jsonl").is_file()
}

fn find_runs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        let p = e.path();
        if is_run_folder(&p) {
            out.push(p);
        } else if depth > 1 {
            find_runs(&p, depth - 1, out)?;
        }
    }
    Ok(())
}

impl Loaded {
    /// A string field of the machine fingerprint.
    pub fn machine_str(&self, key: &str) -> Option<String> {
        match self.run.machine.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            v => Some(v.to_string()),
        }
    }

    /// A numeric field of the machine fingerprint.
    pub fn machine_num(&self, key: &str) -> Option<f64> {
        self.run.machine.get(key)?.as_f64()
    }

    /// The CPU's name, e.g. `AMD EPYC (Zen 4)`.
    pub fn cpu(&self) -> String {
        let model = self
            .machine_str("cpu_model")
            .unwrap_or_else(|| "unknown CPU".into());
        match self.machine_str("microarchitecture") {
            Some(u) if !u.starts_with("unknown") && !model.contains(&u) => {
                format!("{model} ({u})")
            }
            _ => model,
        }
    }

    /// Cores the run could use: physical cores, else logical CPUs.
    pub fn cores(&self) -> Option<f64> {
        self.machine_num("physical_cores")
            .or_else(|| self.machine_num("logical_cpus"))
            .filter(|&c| c > 0.0)
    }

    /// A short label: the run's own (`#1 c7i.xlarge`, from `ternbench run --label`), else
    /// the CPU's name (`#1 AMD EPYC (Zen 4)`).
    pub fn label(&self) -> String {
        match &self.run.label {
            Some(l) => format!("#{} {l}", self.index),
            None => format!("#{} {}", self.index, self.cpu()),
        }
    }

    /// The machine a run groups under in a CPU comparison: its label, else its identity.
    pub fn group(&self) -> String {
        self.run.label.clone().unwrap_or_else(|| self.cpu())
    }

    /// The machine's comparable identity (CPU model, logical CPUs, ISA set), as text.
    pub fn machine_key(&self) -> String {
        let isa: Vec<String> = self
            .run
            .machine
            .get("isa_features")
            .and_then(|v| v.as_object())
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "{} / {} CPUs / {}",
            self.machine_str("cpu_model").unwrap_or_default(),
            self.machine_str("logical_cpus").unwrap_or_default(),
            isa.join(",")
        )
    }

    /// The widest SIMD level the CPU has, from its ISA features.
    pub fn isa_label(&self) -> Option<String> {
        let f = self.run.machine.get("isa_features")?.as_object()?;
        let has = |k: &str| f.get(k).and_then(|v| v.as_bool()) == Some(true);
        Some(
            if has("avx512f") {
                if has("avx512_vnni") {
                    "AVX-512+VNNI"
                } else {
                    "AVX-512"
                }
            } else if has("avx2") {
                "AVX2"
            } else if has("neon") {
                "NEON"
            } else {
                "SSE/scalar"
            }
            .to_string(),
        )
    }

    /// `x86_64`, `aarch64`, ... from the build target or the ISA features.
    pub fn arch(&self) -> Option<String> {
        if let Some(t) = self.machine_str("target") {
            return t.split('-').next().map(str::to_string);
        }
        let f = self.run.machine.get("isa_features")?.as_object()?;
        if f.contains_key("avx2") || f.contains_key("sse4.1") {
            Some("x86_64".into())
        } else if f.contains_key("neon") {
            Some("aarch64".into())
        } else {
            None
        }
    }

    /// The energy status: `measured`, `estimated` or `unavailable`.
    pub fn energy_status(&self) -> String {
        self.run
            .energy
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("unavailable")
            .to_string()
    }

    /// A pointer for every place but the two that say more (the verdict card's short line and
    /// the machine block's full reason): `energy unavailable on this machine (why: the run's
    /// verdict card)`.
    pub fn energy_short(&self) -> String {
        match self.energy_status().as_str() {
            "unavailable" => {
                "energy unavailable on this machine (why: the run's verdict card)".into()
            }
            "estimated" => "energy ESTIMATED from a model, not measured".into(),
            s => format!("energy {s}"),
        }
    }

    /// The verdict card's one short line on why energy is unavailable: the reason's first
    /// clause (`no energy counters could be read`), and whether the machine is a VM.
    pub fn energy_brief(&self) -> String {
        let reason = self
            .run
            .energy
            .get("reason")
            .and_then(|v| v.as_str())
            .unwrap_or("no reason recorded");
        let head = reason
            .split(" (")
            .next()
            .and_then(|h| h.split("; ").next())
            .unwrap_or(reason)
            .trim_end_matches(['.', ';', ':']);
        let head: String = if head.chars().count() > 100 {
            head.chars().take(99).chain(['…']).collect()
        } else {
            head.to_string()
        };
        let vm = if reason.contains("virtual machine") {
            " on this virtual machine"
        } else {
            ""
        };
        format!("unavailable: {head}{vm}")
    }

    /// Why energy is missing (or how it was obtained), with the fix when one was recorded.
    pub fn energy_text(&self) -> String {
        let e = &self.run.energy;
        let get = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match self.energy_status().as_str() {
            "unavailable" => format!(
                "energy unavailable: {}{}",
                get("reason").unwrap_or_else(|| "no reason recorded".into()),
                get("fix")
                    .map(|f| format!(" (fix: {f})"))
                    .unwrap_or_default()
            ),
            "estimated" => format!(
                "energy ESTIMATED (a model, not a measurement) via {}",
                get("source").unwrap_or_else(|| "?".into())
            ),
            s => format!(
                "energy {s} via {}",
                get("source").unwrap_or_else(|| "?".into())
            ),
        }
    }
}
