//! `ternbench compare BASELINE NEW`: regression tracking between two runs.
//!
//! Cells are matched by their settings ([`CellKey`], less any `--ignore`d fields). For each
//! metric and matched cell the relative change `median(new)/median(baseline) − 1` gets a
//! confidence interval at `1 − --alpha` (95%) and a verdict, following criterion's recipe:
//!
//! 1. The interval of the ratio comes from the one function every command uses for ratios,
//!    [`stats::ratio_at`] (the Mann-Whitney test inverted on the logarithms of the raw
//!    repetitions; its p-value is shown). An interval that contains no change is `unchanged`.
//! 2. Otherwise the interval is set against the noise band ±threshold: `regressed` (or
//!    `improved`) only when the whole interval lies beyond the band on the worse (better)
//!    side; a significant change inside the band is `unchanged`.
//!
//! Each side shows the median with its 95% interval, as `run`, `bench` and `report` show the
//! same cell. Where a results file keeps only mean, stddev and n (older runs; counter
//! summaries), Welch's t-test and the delta method of the means stand in, and the row says so.
//!
//! Direction is per metric: more tokens/s is better; fewer joules, instructions or ms is
//! better. A cell is `not comparable` when the runs come from different machines (the
//! fingerprints' comparable key differs), when its settings are in one run only (listed
//! apart), when the metric is in one run only, or when the sampled layers differ.
//!
//! Gating: with no `--metric`, the exit code follows one metric, instructions per decode token
//! (±1%) when both runs measured counters, else decode tokens/s (±10%, and the output says
//! so); the other metrics are shown beside it. Every metric named with `--metric` gates.
//! Exit codes: 0 nothing gating regressed, 1 something did, 2 bad input.
//!
//! To add a metric: a [`Metric`] variant, its name, direction and default threshold, and its
//! samples in [`Metric::data`].

pub mod counts;
pub mod load;
pub mod render;

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::error::usage;
use crate::records::counters::CounterStatus;
use crate::records::results::CellKey;
use crate::records::results::{CellResult, SampleRecord};
use crate::records::stats::{self, moments, moments::Moments, Summary};
use load::Loaded;

/// What `compare` can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Instructions retired per decode token (hardware counters).
    InstructionsPerToken,
    /// Decode tokens/s.
    DecodeTps,
    /// Prompt tokens/s.
    PrefillTps,
    /// Gross joules per decode token.
    JPerToken,
    /// Median per-token decode latency, ms.
    LatencyP50,
    /// 99th percentile per-token decode latency, ms.
    LatencyP99,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 6] = [
        Metric::InstructionsPerToken,
        Metric::DecodeTps,
        Metric::PrefillTps,
        Metric::JPerToken,
        Metric::LatencyP50,
        Metric::LatencyP99,
    ];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::InstructionsPerToken => "instructions_per_token",
            Metric::DecodeTps => "decode_tps",
            Metric::PrefillTps => "prefill_tps",
            Metric::JPerToken => "j_per_token",
            Metric::LatencyP50 => "latency_p50",
            Metric::LatencyP99 => "latency_p99",
        }
    }

    /// A heading for people.
    pub fn label(self) -> &'static str {
        match self {
            Metric::InstructionsPerToken => "instructions per decode token",
            Metric::DecodeTps => "decode tokens/s",
            Metric::PrefillTps => "prefill tokens/s",
            Metric::JPerToken => "joules per decode token (gross)",
            Metric::LatencyP50 => "decode latency p50 (ms)",
            Metric::LatencyP99 => "decode latency p99 (ms)",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::DecodeTps | Metric::PrefillTps)
    }

    /// The default noise band, percent: 1 for counted instructions (deterministic up to a
    /// fraction of a percent), 10 for anything measured by a clock or a power meter.
    pub fn default_threshold_pct(self) -> f64 {
        match self {
            Metric::InstructionsPerToken => 1.0,
            _ => 10.0,
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s.trim())
    }

    /// This metric's data for one cell: raw per-repetition samples where the run keeps them,
    /// else a summary (mean, stddev, n), else a pooled point estimate (latency percentiles
    /// without cells.jsonl). `None` when the cell lacks the metric.
    pub fn data(self, cell: &CellResult, samples: Option<&[SampleRecord]>) -> Option<Data> {
        let summary = |s: &Option<Summary>| s.as_ref().map(|s| Data::Summary(s.clone()));
        let raw = |v: &[f64], fallback: &Option<Summary>| {
            if v.is_empty() {
                summary(fallback)
            } else {
                Some(Data::Raw(v.to_vec()))
            }
        };
        match self {
            Metric::DecodeTps => raw(&cell.samples_decode_tokens_per_s, &cell.decode_tokens_per_s),
            Metric::PrefillTps => raw(
                &cell.samples_prefill_tokens_per_s,
                &cell.prefill_tokens_per_s,
            ),
            Metric::InstructionsPerToken => summary(&cell.decode_instructions_per_token),
            Metric::JPerToken => cell
                .energy
                .as_ref()
                .and_then(|e| e.decode_jpt().and_then(|(s, _)| summary(&Some(s.clone())))),
            Metric::LatencyP50 | Metric::LatencyP99 => {
                let q = if self == Metric::LatencyP50 {
                    0.5
                } else {
                    0.99
                };
                let per_rep = samples.map(|s| latency_per_rep(s, &cell.key, q));
                match per_rep {
                    Some(v) if !v.is_empty() => Some(Data::Raw(v)),
                    _ => cell.decode_latency_ms.as_ref().map(|p| {
                        Data::Point(if self == Metric::LatencyP50 {
                            p.p50
                        } else {
                            p.p99
                        })
                    }),
                }
            }
        }
    }
}

/// The `q` quantile of each repetition's decode step latencies (ms), in repetition order (the
/// last record of a repetition wins, as after a resume).
fn latency_per_rep(samples: &[SampleRecord], key: &CellKey, q: f64) -> Vec<f64> {
    let mut by_rep: BTreeMap<usize, &SampleRecord> = BTreeMap::new();
    for s in samples.iter().filter(|s| &s.key == key) {
        by_rep.insert(s.rep, s);
    }
    by_rep
        .values()
        .filter(|s| !s.decode_step_seconds.is_empty())
        .map(|s| {
            let mut v: Vec<f64> = s.decode_step_seconds.iter().map(|x| x * 1e3).collect();
            v.sort_by(f64::total_cmp);
            stats::quantile_sorted(&v, q)
        })
        .collect()
}

/// One side's data for one metric and cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Per-repetition samples.
    Raw(Vec<f64>),
    /// The summary only (no repetitions kept).
    Summary(Summary),
    /// A single pooled value without a spread.
    Point(f64),
}

impl Data {
    fn moments(&self) -> Option<Moments> {
        match self {
            Data::Raw(v) => Moments::of(v),
            Data::Summary(s) => Some(Moments {
                n: s.n,
                mean: s.mean,
                sd: s.stddev,
            }),
            Data::Point(x) => Some(Moments {
                n: 1,
                mean: *x,
                sd: 0.0,
            }),
        }
    }

    /// The side as shown: the median with its interval (as every command shows a cell).
    fn side(&self) -> Option<Side> {
        let s = match self {
            Data::Raw(v) => Summary::of(v)?,
            Data::Summary(s) => s.clone(),
            Data::Point(x) => Summary::of(&[*x])?,
        };
        Some(Side {
            n: s.n,
            median: s.median,
            ci95_low: s.ci().map(|c| c.0),
            ci95_high: s.ci().map(|c| c.1),
            shown: if matches!(self, Data::Point(_)) {
                format!("{} (pooled)", render::num(s.median))
            } else {
                render::summary(&s)
            },
            mean: s.mean,
            sd: s.stddev,
        })
    }
}

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly better, the whole CI beyond the noise band.
    Improved,
    /// No significant change, or one inside the noise band.
    Unchanged,
    /// Significantly worse, the whole CI beyond the noise band.
    Regressed,
    /// Different machines, different sampled layers, or data on one side only.
    NotComparable,
}

impl Verdict {
    /// The word printed.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Regressed => "regressed",
            Verdict::NotComparable => "not comparable",
        }
    }
}

/// One side of a row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Repetitions.
    pub n: usize,
    /// Median: the figure compared.
    pub median: f64,
    /// Lower end of the median's 95% interval (`null`: too few repetitions).
    pub ci95_low: Option<f64>,
    /// Upper end of the median's 95% interval.
    pub ci95_high: Option<f64>,
    /// The figure as printed (`14.44 [13.90, 14.80] (n=6)`).
    pub shown: String,
    /// Mean (secondary).
    pub mean: f64,
    /// Sample standard deviation (secondary).
    pub sd: f64,
}

/// One cell of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The matched settings as one line (ignored settings shown as `*`).
    pub cell: String,
    /// The baseline cell's settings.
    pub baseline_key: CellKey,
    /// The new cell's settings.
    pub new_key: CellKey,
    /// Baseline figures.
    pub baseline: Option<Side>,
    /// New figures.
    pub new: Option<Side>,
    /// `100·(median_new/median_baseline − 1)` (of the means where only summaries exist).
    pub change_pct: Option<f64>,
    /// Lower end of the 95% CI of the change, percent.
    pub ci95_low_pct: Option<f64>,
    /// Upper end of the 95% CI of the change, percent.
    pub ci95_high_pct: Option<f64>,
    /// Two-sided p-value: Mann-Whitney on the repetitions, Welch on summaries.
    pub p_value: Option<f64>,
    /// `ratio_of_medians_mann_whitney` (repetitions) or `delta_of_means` (summaries).
    pub ci_method: Option<&'static str>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, where the verdict needs a word.
    pub note: Option<String>,
}

/// Counts of verdicts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Improved.
    pub improved: usize,
    /// Unchanged.
    pub unchanged: usize,
    /// Regressed.
    pub regressed: usize,
    /// Not comparable.
    pub not_comparable: usize,
}

/// One metric's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricReport {
    /// The metric.
    pub metric: Metric,
    /// Its heading.
    pub label: &'static str,
    /// `higher` or `lower` is better.
    pub better: &'static str,
    /// The noise band, percent.
    pub threshold_pct: f64,
    /// Whether a regression here sets exit code 1.
    pub gating: bool,
    /// One row per matched cell that has the metric in either run.
    pub rows: Vec<Row>,
    /// Verdict counts.
    pub counts: Counts,
}

/// What a side was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// As named on the command line.
    pub source: String,
    /// Run id.
    pub run_id: String,
    /// Scenario name.
    pub scenario: String,
    /// Start time.
    pub started_utc: String,
    /// Git commit of the build.
    pub git_commit: Option<String>,
    /// Whether the build's checkout was dirty.
    pub git_dirty: Option<bool>,
    /// Cargo profile.
    pub build_profile: Option<String>,
    /// One-line machine summary.
    pub machine: String,
    /// `available` or `unavailable: <why>`.
    pub counters: String,
    /// Cells in the run.
    pub cells: usize,
}

/// Which metric gates, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// The gating metrics.
    pub metrics: Vec<Metric>,
    /// A sentence saying what gates and why.
    pub explanation: String,
}

/// The whole comparison: what `-o json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `ternbench-compare/1`.
    pub schema: &'static str,
    /// The baseline.
    pub baseline: RunInfo,
    /// The new run.
    pub new: RunInfo,
    /// Whether the fingerprints' comparable keys match.
    pub same_machine: bool,
    /// What differs between the machines, one sentence each.
    pub machine_differences: Vec<String>,
    /// Comparable-key settings a partial (older) machine block does not record, so unchecked.
    pub machine_unchecked: Vec<String>,
    /// The gate.
    pub gate: Gate,
    /// Significance level.
    pub alpha: f64,
    /// Settings left out of matching.
    pub ignore: Vec<String>,
    /// How verdicts are reached, in one paragraph.
    pub method: String,
    /// One table per metric.
    pub metrics: Vec<MetricReport>,
    /// Settings of cells only in the baseline.
    pub only_in_baseline: Vec<String>,
    /// Settings of cells only in the new run.
    pub only_in_new: Vec<String>,
    /// Remarks.
    pub notes: Vec<String>,
    /// Whether a gating metric regressed.
    pub regressed: bool,
    /// The exit code: 0 or 1.
    pub exit_code: i32,
}

/// Comparison options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Metrics named on the command line (`None`: the default gate and companions).
    pub metrics: Option<Vec<Metric>>,
    /// `--threshold` (`None`: each metric's default).
    pub threshold_pct: Option<f64>,
    /// Settings left out of matching.
    pub ignore: Vec<String>,
    /// Significance level.
    pub alpha: f64,
}

/// Settings `--ignore` accepts.
pub const IGNORABLE: &[&str] = &[
    "model", "engine", "format", "head", "isa", "threads", "test",
];

fn reduce(k: &CellKey, ignore: &[String]) -> CellKey {
    let mut k = k.clone();
    for f in ignore {
        match f.as_str() {
            "model" => k.model = "*".into(),
            "engine" => k.engine = "*".into(),
            "format" => k.format = "*".into(),
            "head" => k.head = "*".into(),
            "isa" => k.isa = "*".into(),
            "threads" => k.threads = 0,
            "test" => k.test = "*".into(),
            _ => {}
        }
    }
    k
}

fn cell_label(k: &CellKey) -> String {
    let id = k.id();
    if k.threads == 0 {
        id.replace(" t0 ", " t* ")
    } else {
        id
    }
}

fn index<'a>(run: &'a Loaded, ignore: &[String]) -> Result<BTreeMap<CellKey, &'a CellResult>> {
    let mut m: BTreeMap<CellKey, &CellResult> = BTreeMap::new();
    for c in &run.run.cells {
        let k = reduce(&c.key, ignore);
        if let Some(prev) = m.insert(k.clone(), c) {
            return Err(usage(format!(
                "{}: cells `{}` and `{}` have the same settings once {} left out; ignore fewer settings",
                run.label,
                prev.key.id(),
                c.key.id(),
                if ignore.is_empty() {
                    "nothing is".to_string()
                } else {
                    format!("{} are", ignore.join(", "))
                }
            )));
        }
    }
    Ok(m)
}

fn counters_text(s: &CounterStatus) -> String {
    match s {
        CounterStatus::Available { .. } => "available".into(),
        CounterStatus::Unavailable { reason } => format!("unavailable: {reason}"),
    }
}

fn run_info(l: &Loaded) -> RunInfo {
    let fp = l.machine.as_ref();
    RunInfo {
        source: l.label.clone(),
        run_id: l.run.run_id.clone(),
        scenario: l.run.scenario.name.clone(),
        started_utc: l.run.started_utc.clone(),
        git_commit: fp.and_then(|f| f.git_commit.clone()),
        git_dirty: fp.and_then(|f| f.git_dirty),
        build_profile: fp.map(|f| f.build_profile.clone()),
        machine: fp.map_or_else(
            || {
                let m = &l.run.machine;
                format!(
                    "{}, {} logical CPUs (partial machine block)",
                    m.get("cpu_model")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown CPU"),
                    m.get("logical_cpus")
                        .and_then(Value::as_u64)
                        .map_or("?".into(), |n| n.to_string())
                )
            },
            |f| f.summary(),
        ),
        counters: counters_text(&l.run.counters),
        cells: l.run.cells.len(),
    }
}

/// Compares one metric of one matched cell.
#[allow(clippy::too_many_arguments)]
fn compare_cell(
    metric: Metric,
    cell: String,
    a: &CellResult,
    b: &CellResult,
    sa: Option<&[SampleRecord]>,
    sb: Option<&[SampleRecord]>,
    threshold_pct: f64,
    alpha: f64,
) -> Option<Row> {
    let (da, db) = (metric.data(a, sa), metric.data(b, sb));
    if da.is_none() && db.is_none() {
        return None;
    }
    let mut row = Row {
        cell: cell.clone(),
        baseline_key: a.key.clone(),
        new_key: b.key.clone(),
        baseline: da.as_ref().and_then(Data::side),
        new: db.as_ref().and_then(Data::side),
        change_pct: None,
        ci95_low_pct: None,
        ci95_high_pct: None,
        p_value: None,
        ci_method: None,
        verdict: Verdict::NotComparable,
        note: None,
    };
    let (Some(da), Some(db)) = (da, db) else {
        row.note = Some(format!(
            "{} only in the {} run",
            metric.label(),
            if row.baseline.is_some() {
                "baseline"
            } else {
                "new"
            }
        ));
        return Some(row);
    };
    if a.sampled != b.sampled {
        let s = |c: &CellResult| {
            c.sampled.as_ref().map_or("all".to_string(), |s| {
                format!("{}/{}", s.layers_built, s.layers_total)
            })
        };
        row.note = Some(format!("layers built differ: {} vs {}", s(a), s(b)));
        return Some(row);
    }
    let (ci, significant) = match (&da, &db) {
        (Data::Raw(x), Data::Raw(y)) => {
            // The one ratio function: new ÷ baseline, medians, rank interval.
            let Some(r) = stats::ratio_at(y, x, 1.0 - alpha) else {
                row.verdict = Verdict::Unchanged;
                row.note = Some("no ratio (a median is 0): not judged".into());
                return Some(row);
            };
            row.change_pct = Some(100.0 * (r.value - 1.0));
            row.p_value = stats::ranks::mann_whitney_p(x, y);
            let Some((lo, hi)) = r.ci() else {
                row.verdict = Verdict::Unchanged;
                row.note = Some(format!(
                    "{}: not judged",
                    r.no_ci.unwrap_or_else(|| "no interval".into())
                ));
                return Some(row);
            };
            row.ci_method = Some(stats::RATIO_CI);
            ((lo - 1.0, hi - 1.0), lo > 1.0 || hi < 1.0)
        }
        _ => {
            let (Some(ma), Some(mb)) = (da.moments(), db.moments()) else {
                return Some(row);
            };
            if ma.mean != 0.0 {
                row.change_pct = Some(100.0 * (mb.mean / ma.mean - 1.0));
            }
            let Some(w) = moments::welch(&ma, &mb) else {
                row.verdict = Verdict::Unchanged;
                row.note = Some(
                    if matches!(da, Data::Point(_)) || matches!(db, Data::Point(_)) {
                        "pooled percentile only (no cells.jsonl): not tested".to_string()
                    } else {
                        format!(
                            "fewer than 2 repetitions (n {} vs {}): not tested",
                            ma.n, mb.n
                        )
                    },
                );
                return Some(row);
            };
            row.p_value = Some(w.p);
            let Some(ci) = moments::delta_rel_change_ci(&ma, &mb) else {
                row.verdict = Verdict::Unchanged;
                row.note = Some("no interval (a mean is 0): not judged".into());
                return Some(row);
            };
            row.ci_method = Some("delta_of_means");
            row.note = Some("summaries only (no repetitions kept): means compared".into());
            (ci, w.p < alpha)
        }
    };
    let (lo, hi) = ci;
    row.ci95_low_pct = Some(100.0 * lo);
    row.ci95_high_pct = Some(100.0 * hi);
    if !significant {
        row.verdict = Verdict::Unchanged;
        return Some(row);
    }
    let t = threshold_pct / 100.0;
    let (worse, better) = if metric.higher_is_better() {
        (hi < -t, lo > t)
    } else {
        (lo > t, hi < -t)
    };
    row.verdict = if worse {
        Verdict::Regressed
    } else if better {
        Verdict::Improved
    } else {
        row.note = Some(format!(
            "significant, but the CI reaches into ±{threshold_pct}%"
        ));
        Verdict::Unchanged
    };
    Some(row)
}

/// Reads one setting from a raw machine block.
type Getter = fn(&Value) -> Option<String>;

/// The comparable-key check on raw machine blocks, for runs whose block does not parse as
/// this version's fingerprint (older or partial runs): each setting is compared where both
/// blocks have it. Returns the differences and the settings that could not be checked.
fn partial_machine_check(a: &Value, b: &Value) -> (Vec<String>, Vec<&'static str>) {
    let isa = |v: &Value| {
        v.get("isa_features").and_then(Value::as_object).map(|m| {
            let mut f: Vec<String> = m
                .iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect();
            f.sort();
            f.join(" ")
        })
    };
    let mem = |v: &Value| {
        v.get("memory_bytes")
            .and_then(Value::as_u64)
            .map(|b| format!("{} GiB", crate::records::fingerprint::memory_class_gib(b)))
    };
    let fields: [(&'static str, Getter); 4] = [
        (
            "CPU model",
            (|v: &Value| v.get("cpu_model").and_then(Value::as_str).map(String::from)),
        ),
        (
            "logical CPUs",
            (|v: &Value| {
                v.get("logical_cpus")
                    .and_then(Value::as_u64)
                    .map(|n| n.to_string())
            }),
        ),
        ("ISA features", isa),
        ("memory class", mem),
    ];
    let (mut diffs, mut missing) = (Vec::new(), Vec::new());
    for (name, get) in &fields {
        match (get(a), get(b)) {
            (Some(x), Some(y)) if x != y => {
                diffs.push(format!("{name}: {x} in the baseline, {y} in the new run"))
            }
            (Some(_), Some(_)) => {}
            _ => missing.push(*name),
        }
    }
    (diffs, missing)
}

fn has_counters(l: &Loaded) -> bool {
    matches!(l.run.counters, CounterStatus::Available { .. })
}

/// Compares two loaded runs.
pub fn compare(base: &Loaded, new: &Loaded, opt: &Options) -> Result<Report> {
    for f in &opt.ignore {
        if !IGNORABLE.contains(&f.as_str()) {
            return Err(usage(format!(
                "--ignore {f}: not a cell setting (one of {})",
                IGNORABLE.join(", ")
            )));
        }
    }
    if !(opt.alpha > 0.0 && opt.alpha < 1.0) {
        return Err(usage(format!("--alpha {}: must lie in (0, 1)", opt.alpha)));
    }
    if let Some(t) = opt.threshold_pct {
        if !(t.is_finite() && t >= 0.0) {
            return Err(usage(format!("--threshold {t}: must be a percentage >= 0")));
        }
    }
    let mut notes: Vec<String> = base.notes.iter().chain(&new.notes).cloned().collect();

    // The machines.
    let (machine_differences, machine_unchecked) = match (&base.machine, &new.machine) {
        (Some(a), Some(b)) => (a.matches(b), Vec::new()),
        _ => {
            let (diffs, missing) = partial_machine_check(&base.run.machine, &new.run.machine);
            (diffs, missing.into_iter().map(String::from).collect())
        }
    };
    let same_machine = machine_differences.is_empty();
    if let (Some(a), Some(b)) = (&base.machine, &new.machine) {
        if a.build_profile != b.build_profile {
            notes.push(format!(
                "build profiles differ: {} (baseline) vs {} (new)",
                a.build_profile, b.build_profile
            ));
        }
    }
    if let (Some(a), Some(b)) = (base.run.dram_in_total(), new.run.dram_in_total()) {
        if a != b {
            let io = |d: bool| if d { "in" } else { "out" };
            notes.push(format!(
                "J/token is not like for like: DRAM energy is {} the baseline's total and {} the \
                 new run's (machines differ in the RAPL domains they expose)",
                io(a),
                io(b)
            ));
        }
    }
    if base.run.scenario.text != new.run.scenario.text {
        notes.push(format!(
            "the scenarios' texts differ (baseline `{}`, new `{}`): settings outside the cell key (seed, kv type, warm-up) may differ too",
            base.run.scenario.name, new.run.scenario.name
        ));
    }

    // The cells.
    let ia = index(base, &opt.ignore)?;
    let ib = index(new, &opt.ignore)?;
    let common: Vec<&CellKey> = ia.keys().filter(|k| ib.contains_key(*k)).collect();
    let only_in_baseline: Vec<String> = ia
        .keys()
        .filter(|k| !ib.contains_key(*k))
        .map(cell_label)
        .collect();
    let only_in_new: Vec<String> = ib
        .keys()
        .filter(|k| !ia.contains_key(*k))
        .map(cell_label)
        .collect();
    if common.is_empty() {
        return Err(usage(format!(
            "no cells in common: the baseline has [{}], the new run has [{}]{}",
            only_in_baseline.join("; "),
            only_in_new.join("; "),
            if opt.ignore.is_empty() {
                " (to compare across one setting, pass --ignore SETTING, e.g. --ignore isa)"
            } else {
                ""
            }
        )));
    }

    // The gate.
    let both_counters = has_counters(base)
        && has_counters(new)
        && common.iter().any(|k| {
            ia[*k].decode_instructions_per_token.is_some()
                && ib[*k].decode_instructions_per_token.is_some()
        });
    let (metrics, gates, explanation) = match &opt.metrics {
        Some(ms) => {
            let expl = format!(
                "gating on {} (every metric named with --metric)",
                ms.iter()
                    .map(|m| format!(
                        "{} ±{}%",
                        m.name(),
                        opt.threshold_pct.unwrap_or(m.default_threshold_pct())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            (ms.clone(), ms.clone(), expl)
        }
        None => {
            let gate = if both_counters {
                Metric::InstructionsPerToken
            } else {
                Metric::DecodeTps
            };
            let thr = opt.threshold_pct.unwrap_or(gate.default_threshold_pct());
            let expl = if both_counters {
                format!(
                    "gating on instructions per decode token with ±{thr}% (hardware counters in both runs); wall time is shown beside it"
                )
            } else {
                let why = [("baseline", base), ("new", new)]
                    .iter()
                    .filter_map(|(n, l)| match &l.run.counters {
                        CounterStatus::Unavailable { reason } => Some((*n, reason.clone())),
                        CounterStatus::Available { .. } => None,
                    })
                    .collect::<Vec<_>>();
                let machine = base
                    .run
                    .machine
                    .get("cpu_model")
                    .and_then(Value::as_str)
                    .unwrap_or("this machine")
                    .to_string();
                let where_ = match why.as_slice() {
                    [(_, r1), (_, r2)] if r1 == r2 => format!("{machine} ({r1})"),
                    [] => format!("{machine} (no cell has instructions per token in both runs)"),
                    v => v
                        .iter()
                        .map(|(n, r)| format!("the {n} run ({r})"))
                        .collect::<Vec<_>>()
                        .join(" and "),
                };
                format!("counters unavailable on {where_}: gating on wall time with ±{thr}% (decode tokens/s)")
            };
            let mut ms = vec![gate];
            for m in [Metric::DecodeTps, Metric::PrefillTps, Metric::JPerToken] {
                if !ms.contains(&m) {
                    ms.push(m);
                }
            }
            (ms, vec![gate], expl)
        }
    };

    let mut reports = Vec::new();
    for m in metrics {
        let gating = gates.contains(&m);
        let thr = opt.threshold_pct.unwrap_or(m.default_threshold_pct());
        let mut rows = Vec::new();
        for k in &common {
            let (a, b) = (ia[*k], ib[*k]);
            if let Some(mut r) = compare_cell(
                m,
                cell_label(k),
                a,
                b,
                base.samples.as_deref(),
                new.samples.as_deref(),
                thr,
                opt.alpha,
            ) {
                if !same_machine {
                    r.verdict = Verdict::NotComparable;
                    r.note = Some("different machine".into());
                }
                rows.push(r);
            }
        }
        if rows.is_empty() {
            if opt.metrics.is_some() {
                let why = if m == Metric::InstructionsPerToken {
                    format!(
                        " (counters: baseline {}, new {})",
                        counters_text(&base.run.counters),
                        counters_text(&new.run.counters)
                    )
                } else {
                    String::new()
                };
                return Err(usage(format!(
                    "--metric {}: no cell in common has it in either run{why}",
                    m.name()
                )));
            }
            continue;
        }
        let mut counts = Counts::default();
        for r in &rows {
            match r.verdict {
                Verdict::Improved => counts.improved += 1,
                Verdict::Unchanged => counts.unchanged += 1,
                Verdict::Regressed => counts.regressed += 1,
                Verdict::NotComparable => counts.not_comparable += 1,
            }
        }
        reports.push(MetricReport {
            metric: m,
            label: m.label(),
            better: if m.higher_is_better() {
                "higher"
            } else {
                "lower"
            },
            threshold_pct: thr,
            gating,
            rows,
            counts,
        });
    }
    let regressed = reports.iter().any(|r| r.gating && r.counts.regressed > 0);
    Ok(Report {
        schema: "ternbench-compare/1",
        baseline: run_info(base),
        new: run_info(new),
        same_machine,
        machine_differences,
        machine_unchecked,
        gate: Gate {
            metrics: gates,
            explanation,
        },
        alpha: opt.alpha,
        ignore: opt.ignore.clone(),
        method: format!(
            "each side is the median of its repetitions with its 95% CI (order statistics); the change is new ÷ baseline of the medians with its {:.0}% CI from the repetitions of both (the Mann-Whitney test inverted on the logarithms, the same ratio every ternbench command prints), or Welch's t-test and the delta method of the means where a file keeps only mean, stddev and n; a change counts only when the whole CI excludes no change and lies beyond ±threshold (criterion's recipe). See docs/method.md.",
            (1.0 - opt.alpha) * 100.0
        ),
        metrics: reports,
        only_in_baseline,
        only_in_new,
        notes,
        regressed,
        exit_code: i32::from(regressed),
    })
}
