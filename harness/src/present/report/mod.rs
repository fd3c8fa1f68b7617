//! The report: results folders in, a self-contained report out (`ternbench report`,
//! [`crate::commands::report`], and the end of `ternbench run`).
//!
//! The data flow: [`load`] each run → refuse runs whose scenario settings differ
//! ([`settings`], exit 2 unless `--allow-mismatch`) → derive figures ([`cells`]) → the verdict
//! card of each run, shown first ([`verdict`]) → build the charts ([`charts`], [`cpus`] for several machines) and set the published claims beside
//! the measurements ([`claims`]) → write `index.html` ([`html`]: charts inline as SVG, CSS
//! inline, no network, a print stylesheet), `summary.md` ([`markdown`]), `tables.csv`,
//! `claims.csv`, `cpus.csv` ([`tables`]), `peers.csv` ([`peers`]: the peers side by side) and each chart as `.svg` and `.png` ([`chart`]).
//! To add a chart: a file in `charts/` with a builder returning a [`charts::Figure`], listed in
//! [`charts::all`]; the HTML and Markdown pick it up.

pub mod cells;
pub mod chart;
pub mod charts;
pub mod claims;
pub mod cpus;
pub mod glyphs;
pub mod html;
pub mod load;
pub mod markdown;
pub mod palette;
pub mod peers;
pub mod settings;
pub mod tables;
#[cfg(test)]
pub mod testutil;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::usage;
use crate::records::results::{now_utc, write_atomic};

use charts::Figure;
use load::Loaded;
use settings::Mismatch;

/// Everything a report shows, computed once and written in several formats.
#[derive(Debug)]
pub struct Report {
    /// The runs, in command-line order.
    pub runs: Vec<Loaded>,
    /// The verdict card of each run: the answer, shown first.
    pub cards: Vec<verdict::Card>,
    /// Scenario settings that differ between runs (empty unless `--allow-mismatch`).
    pub mismatches: Vec<Mismatch>,
    /// The charts of the cells (or why each is absent).
    pub figures: Vec<Figure>,
    /// The claims set beside the measurements.
    pub claims: Vec<claims::Row>,
    /// The CPU comparison (several runs only).
    pub cpu_rows: Vec<cpus::Row>,
    /// Its charts.
    pub cpu_figures: Vec<Figure>,
    /// Where run labels and machines disagree ([`cpus::machine_notes`]).
    pub machine_notes: Vec<String>,
    /// When the report was made (RFC 3339 UTC).
    pub generated_utc: String,
}

impl Report {
    /// Whether the runs come from more than one machine.
    pub fn machines_differ(&self) -> bool {
        self.runs
            .iter()
            .any(|r| r.machine_key() != self.runs[0].machine_key())
    }

    /// Whether any run measured a peer (`[[peer]]`): the report then has a peer table.
    pub fn has_peers(&self) -> bool {
        self.runs
            .iter()
            .any(|r| r.run.cells.iter().any(peers::is_peer))
    }

    /// Every chart, the cells' then the CPU comparison's.
    pub fn all_figures(&self) -> impl Iterator<Item = &Figure> {
        self.figures.iter().chain(self.cpu_figures.iter())
    }
}

/// Refuses runs whose scenario settings differ unless `allow`; returns the differences.
pub fn check_settings(runs: &[Loaded], allow: bool) -> Result<Vec<Mismatch>> {
    let m = settings::mismatches(runs);
    if !m.is_empty() && !allow {
        let lines: Vec<String> = m.iter().map(|x| format!("  {}", x.describe())).collect();
        return Err(usage(format!(
            "the runs were made with different scenario settings, so their figures are not comparable:\n{}\n(pass --allow-mismatch to report them anyway; the report then flags these settings)",
            lines.join("\n")
        )));
    }
    Ok(m)
}

/// Builds the report from loaded runs.
pub fn build(
    runs: Vec<Loaded>,
    mismatches: Vec<Mismatch>,
    claim_list: &[claims::Claim],
    prices: &BTreeMap<usize, f64>,
) -> Report {
    let figures = charts::all(&runs, claim_list);
    let claims = claims::evaluate(claim_list, &runs);
    let (cpu_rows, cpu_figures, machine_notes) = if runs.len() > 1 {
        let rows = cpus::rows(&runs, prices);
        let figs = cpus::charts(&rows);
        (rows, figs, cpus::machine_notes(&runs))
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    Report {
        cards: verdict::cards(&runs, prices),
        runs,
        mismatches,
        figures,
        claims,
        cpu_rows,
        cpu_figures,
        machine_notes,
        generated_utc: now_utc(),
    }
}

/// Writes every file of the report into `out`; returns the files written.
pub fn write(report: &Report, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the report folder {}", out.display()))?;
    let mut written = Vec::new();
    let mut svgs = BTreeMap::new();
    for f in report.all_figures() {
        if let Figure::Chart(c) = f {
            let svg = chart::to_svg(c)?;
            let png = chart::to_png(c)?;
            let (ps, pp) = (
                out.join(format!("{}.svg", c.id)),
                out.join(format!("{}.png", c.id)),
            );
            write_atomic(&ps, svg.as_bytes())?;
            write_atomic(&pp, &png)?;
            written.push(ps);
            written.push(pp);
            svgs.insert(c.id.clone(), svg);
        }
    }
    let files: [(&str, String); 6] = [
        ("index.html", html::render(report, &svgs)),
        ("summary.md", markdown::render(report)),
        ("tables.csv", tables::cells_csv(report)),
        ("claims.csv", tables::claims_csv(report)),
        ("cpus.csv", tables::cpus_csv(report)),
        ("peers.csv", peers::csv(&report.runs)),
    ];
    for (name, text) in files {
        if name == "cpus.csv" && report.cpu_rows.is_empty() {
            continue;
        }
        if name == "peers.csv" && !report.has_peers() {
            continue;
        }
        let p = out.join(name);
        write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::results::{RunFile, ScenarioInfo, SCHEMA_VERSION};

    fn run(text: &str, idx: usize) -> Loaded {
        Loaded {
            path: PathBuf::from("run.json"),
            index: idx,
            run: RunFile {
                schema_version: SCHEMA_VERSION,
                run_id: format!("r{idx}"),
                status: "complete".into(),
                ternbench_version: "0".into(),
                started_utc: String::new(),
                finished_utc: None,
                resumed: 0,
                scenario: ScenarioInfo {
                    name: "s".into(),
                    description: String::new(),
                    file: None,
                    text: text.into(),
                },
                machine: serde_json::json!({"cpu_model": "X"}),
                label: None,
                price_usd_per_hour: None,
                bandwidth: Vec::new(),
                prefetch: Vec::new(),
                counters: crate::records::counters::CounterStatus::Unavailable {
                    reason: "none".into(),
                },
                energy: serde_json::json!({"status": "unavailable", "reason": "no counters"}),
                models: Vec::new(),
                cells: Vec::new(),
                notes: Vec::new(),
            },
        }
    }

    #[test]
    fn differing_settings_are_refused_with_exit_2_and_listed() {
        let a = run("name = \"a\"\nthreads = [1, 2]\nrepetitions = 5\n", 1);
        let b = run("name = \"b\"\nthreads = [1, 4]\nrepetitions = 5\n", 2);
        let e = check_settings(&[a.clone(), b.clone()], false).unwrap_err();
        assert!(e.downcast_ref::<crate::error::UsageError>().is_some());
        let msg = e.to_string();
        assert!(msg.contains("threads: #1 = [1, 2]; #2 = [1, 4]"), "{msg}");
        assert!(!msg.contains("repetitions"), "{msg}");
        assert!(!msg.contains("name"), "names are labels: {msg}");
        let m = check_settings(&[a, b], true).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].key, "threads");
    }

    #[test]
    fn same_settings_pass() {
        let t = "threads = [1]\n[energy]\nsource = \"auto\"\n";
        assert!(check_settings(&[run(t, 1), run(t, 2)], false)
            .unwrap()
            .is_empty());
    }
}
