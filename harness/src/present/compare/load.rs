//! Reading the two sides of a comparison: a results folder, a `run.json` file or a named
//! baseline (`<baselines dir>/<name>/`). Every failure here is a usage error (exit code 2):
//! the arguments name something that is not a readable run.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::usage;
use crate::records::fingerprint::Fingerprint;
use crate::records::results::{read_records, Record, RunFile, SampleRecord, SCHEMA_VERSION};

/// One side of a comparison, read.
#[derive(Debug)]
pub struct Loaded {
    /// What the user named: a path, or `baseline NAME`.
    pub label: String,
    /// The run.
    pub run: RunFile,
    /// Its repetitions from `cells.jsonl` (`None` when the file is absent or unreadable).
    pub samples: Option<Vec<SampleRecord>>,
    /// The machine block parsed (`None` when it does not parse as this version's fingerprint).
    pub machine: Option<Fingerprint>,
    /// Remarks on reading it (an incomplete run, an unreadable cells.jsonl).
    pub notes: Vec<String>,
}

/// Whether `name` is a valid baseline name: 1–100 of letters, digits, `.`, `_`, `-`, not
/// starting with `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The names of the baselines under `dir` (folders holding a run.json, or the icount.json of
/// an instruction-count baseline), sorted.
pub fn baseline_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.path().join("run.json").is_file()
                        || e.path().join(crate::records::icount::FILE_NAME).is_file()
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads a named baseline.
pub fn load_named(name: &str, baselines_dir: &Path) -> Result<Loaded> {
    let dir = baselines_dir.join(name);
    if !valid_name(name) || !dir.join("run.json").is_file() {
        let names = baseline_names(baselines_dir);
        return Err(usage(format!(
            "no baseline named `{name}` in {} ({}); save one with `ternbench baseline save {name} RUN`",
            baselines_dir.display(),
            if names.is_empty() {
                "it holds none".to_string()
            } else {
                format!("it holds: {}", names.join(", "))
            }
        )));
    }
    load_path(&dir, format!("baseline {name}"))
}

/// Reads `arg`: a results folder, a run.json, else a baseline name under `baselines_dir`.
pub fn resolve(arg: &str, baselines_dir: &Path) -> Result<Loaded> {
    let p = Path::new(arg);
    if p.exists() {
        return load_path(p, arg.to_string());
    }
    if valid_name(arg) && baselines_dir.join(arg).join("run.json").is_file() {
        return load_named(arg, baselines_dir);
    }
    Err(usage(format!(
        "`{arg}`: no such run folder or run.json, nor a baseline of that name in {}",
        baselines_dir.display()
    )))
}

/// The run.json of a folder or file path, and the folder.
pub fn run_json_path(p: &Path) -> (PathBuf, Option<PathBuf>) {
    if p.is_dir() {
        (p.join("run.json"), Some(p.to_path_buf()))
    } else {
        (p.to_path_buf(), p.parent().map(Path::to_path_buf))
    }
}

/// Parses a run.json (usage error naming the file when it cannot).
pub fn read_run(path: &Path) -> Result<RunFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("{}: cannot read ({e})", path.display())))?;
    RunFile::parse(&text).map_err(|e| {
        usage(format!(
            "{}: not a ternbench run.json of schema {SCHEMA_VERSION} ({e})",
            path.display()
        ))
    })
}

fn load_path(p: &Path, label: String) -> Result<Loaded> {
    let (json, dir) = run_json_path(p);
    let run = read_run(&json)?;
    let mut notes = Vec::new();
    if run.status != "complete" {
        notes.push(format!(
            "{label}: run {} has status `{}` (not complete): only its finished cells are compared",
            run.run_id, run.status
        ));
    }
    let samples = dir
        .map(|d| d.join("cells.jsonl"))
        .filter(|j| j.is_file())
        .and_then(|j| match read_records(&j) {
            Ok(recs) => Some(
                recs.into_iter()
                    .filter_map(|r| match r {
                        Record::Sample(s) => Some(*s),
                        Record::Model(_) => None,
                    })
                    .collect(),
            ),
            Err(e) => {
                notes.push(format!(
                    "{label}: cells.jsonl unreadable ({e:#}): no per-repetition latencies"
                ));
                None
            }
        });
    let machine = serde_json::from_value::<Fingerprint>(run.machine.clone()).ok();
    Ok(Loaded {
        label,
        run,
        samples,
        machine,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("main"));
        assert!(valid_name("v0.1_x-2"));
        assert!(!valid_name(""));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("../x"));
        assert!(!valid_name("a b"));
    }
}
