//! Whether runs may share one report: their scenario settings must match.
//!
//! Each run's scenario text is parsed as TOML and flattened to `key = value` lines (`name` and
//! `description` are labels, not settings, and are ignored), plus the build that measured it
//! (version, git commit, profile: [`build`]). A key whose value differs between any two runs
//! is a mismatch; `ternbench report` refuses such runs (exit 2) unless
//! `--allow-mismatch`, and then flags every differing setting in the report. Text that is not
//! TOML is compared whole.

use std::collections::{BTreeMap, BTreeSet};

use super::load::Loaded;

/// One setting that differs between runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The setting (`threads`, `energy.source`).
    pub key: String,
    /// Its value in each run, in run order (`(absent)` where a run lacks it).
    pub values: Vec<String>,
}

impl Mismatch {
    /// `threads: #1 = [1, "all"]; #2 = [1, 2]`.
    pub fn describe(&self) -> String {
        let v: Vec<String> = self
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("#{} = {v}", i + 1))
            .collect();
        format!("{}: {}", self.key, v.join("; "))
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The settings of a scenario text, flattened.
pub fn settings(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match text.parse::<toml::Table>() {
        Ok(t) => flatten("", &toml::Value::Table(t), &mut out),
        Err(_) => {
            out.insert("(scenario text)".into(), text.trim().to_string());
        }
    }
    out.remove("name");
    out.remove("description");
    out
}

/// The build that measured a run: `ternbench 0.1.0, git abc1234 (dirty), release`. Runs of
/// different builds are not like for like (a kernel change moves every figure), so the build
/// counts as a setting.
pub fn build(r: &Loaded) -> String {
    let commit = r.machine_str("git_commit");
    format!(
        "ternbench {}, git {}{}, {}",
        r.run.ternbench_version,
        commit.map_or("unknown".into(), |c| c.chars().take(12).collect::<String>()),
        if r.run.machine.get("git_dirty").and_then(|v| v.as_bool()) == Some(true) {
            " (dirty)"
        } else {
            ""
        },
        r.machine_str("build_profile")
            .unwrap_or_else(|| "profile unknown".into())
    )
}

/// Every setting whose value differs between the runs (the build included).
pub fn mismatches(runs: &[Loaded]) -> Vec<Mismatch> {
    let all: Vec<BTreeMap<String, String>> = runs
        .iter()
        .map(|r| {
            let mut m = settings(&r.run.scenario.text);
            m.insert("(ternbench build)".into(), build(r));
            m
        })
        .collect();
    let keys: BTreeSet<&String> = all.iter().flat_map(|m| m.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let values: Vec<String> = all
                .iter()
                .map(|m| m.get(k).cloned().unwrap_or_else(|| "(absent)".into()))
                .collect();
            (values.iter().any(|v| v != &values[0])).then(|| Mismatch {
                key: k.clone(),
                values,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_not_settings_and_nested_keys_flatten() {
        let s = settings(
            "name = \"a\"\ndescription = \"x\"\nthreads = [1, 2]\n[energy]\nsource = \"auto\"\n",
        );
        assert_eq!(s.get("threads").map(String::as_str), Some("[1, 2]"));
        assert_eq!(s.get("energy.source").map(String::as_str), Some("\"auto\""));
        assert!(!s.contains_key("name") && !s.contains_key("description"));
    }

    #[test]
    fn not_toml_is_compared_whole() {
        let s = settings("this is = = not toml");
        assert_eq!(s.len(), 1);
    }
}
