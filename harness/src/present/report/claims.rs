//! Claim reproduction: the published claims of `data/claims.toml` set beside a run's figures.
//!
//! Each claim names a `kind` (what to measure), the models or thread counts its published
//! numbers are for, and how to compare (`at_least`, `at_most`, `within`, with a relative
//! tolerance). [`evaluate`] gives one [`Row`] per claim, run and published item with a
//! [`Verdict`] that respects the 95% interval of our figure ([`judge`]): *reproduced* only when
//! the whole interval satisfies the claim, *not reproduced* when the whole interval contradicts
//! it, *inconclusive* otherwise (with about how many repetitions would decide it), never
//! *reproduced* for a NOISY cell; *different hardware* for an absolute figure measured on
//! another machine (ours ÷ theirs given); *not measurable here* with the reason (no energy
//! counters, the model or thread count is not in the run, the claim is a model rather than a
//! measurement). Ratios (speedups, energy reductions) are compared across machines. To add a
//! kind: a branch in [`evaluate_run`] and a line in docs/reports.md.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::cells::{self, Cell, Pair};
use super::load::Loaded;
use super::peers;
use crate::records::stats::Estimate;

/// The claims built into the binary.
pub const EMBEDDED: &str = include_str!("../../../../data/claims.toml");

/// One published claim.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Short id (`1`, `9b`).
    pub id: String,
    /// The claim in words.
    pub claim: String,
    /// Where it was published.
    pub source: String,
    /// The hardware it was measured on.
    pub hardware: String,
    /// A substring of our `cpu_model` meaning "the same hardware" (absent: any hardware).
    #[serde(default)]
    pub hardware_match: Option<String>,
    /// `x86_64`, `aarch64` or `any`.
    #[serde(default = "any")]
    pub arch: String,
    /// Models or workload it was measured on.
    pub measured_on: String,
    /// Threads, test and other settings, as published.
    pub settings: String,
    /// What to measure (see the module docs and data/claims.toml).
    pub kind: String,
    /// `decode` or `prefill`, where the kind needs it.
    #[serde(default)]
    pub metric: Option<String>,
    /// The model, for `tps_by_threads`.
    #[serde(default)]
    pub model: Option<String>,
    /// Threads the claim was measured at.
    #[serde(default)]
    pub threads: Option<usize>,
    /// Prompt tokens the claim's prefill used.
    #[serde(default)]
    pub n_prompt: Option<usize>,
    /// Generated tokens the claim's decode used.
    #[serde(default)]
    pub n_gen: Option<usize>,
    /// Unit of the published numbers.
    pub unit: String,
    /// `at_least`, `at_most` or `within`.
    #[serde(default)]
    pub compare: Option<String>,
    /// Relative tolerance of the comparison.
    #[serde(default)]
    pub tolerance: f64,
    /// Why a `none` claim cannot be measured.
    #[serde(default)]
    pub why: Option<String>,
    /// Anything else a reader should know.
    #[serde(default)]
    pub note: Option<String>,
    /// Published numbers by model name or thread count.
    pub published: BTreeMap<String, f64>,
}

fn any() -> String {
    "any".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    claim: Vec<Claim>,
}

/// Parses a claims file's text.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Claim>> {
    let f: ClaimsFile = toml::from_str(text).with_context(|| format!("parsing claims {origin}"))?;
    for c in &f.claim {
        if c.published.is_empty() {
            bail!("claims {origin}: claim {} publishes no number", c.id);
        }
    }
    Ok(f.claim)
}

/// The claims of `path`, or the embedded ones.
pub fn load(path: Option<&Path>) -> Result<Vec<Claim>> {
    match path {
        Some(p) => {
            let t = std::fs::read_to_string(p)
                .with_context(|| format!("reading claims {}", p.display()))?;
            parse(&t, &p.display().to_string())
        }
        None => parse(EMBEDDED, "data/claims.toml (built in)"),
    }
}

/// The outcome of setting a claim beside a measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The whole 95% interval of our figure satisfies the claim.
    Reproduced,
    /// The whole interval contradicts it; the text says by how much.
    NotReproduced(String),
    /// The interval reaches both sides, or there is none, or the cell is NOISY; the text says
    /// why and what would decide it.
    Inconclusive(String),
    /// An absolute figure measured on other hardware: not compared; the text gives ours ÷ theirs.
    DifferentHardware(String),
    /// Nothing here can test it; the text says why.
    NotMeasurable(String),
}

impl Verdict {
    /// Short word for tables and CSS classes.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced(_) => "not reproduced",
            Verdict::Inconclusive(_) => "inconclusive",
            Verdict::DifferentHardware(_) => "different hardware",
            Verdict::NotMeasurable(_) => "not measurable here",
        }
    }

    /// The word with its reason.
    pub fn text(&self) -> String {
        match self {
            Verdict::Reproduced => "reproduced".into(),
            Verdict::NotReproduced(w) => format!("not reproduced ({w})"),
            Verdict::Inconclusive(w) => format!("inconclusive ({w})"),
            Verdict::DifferentHardware(w) => format!("different hardware ({w})"),
            Verdict::NotMeasurable(w) => format!("not measurable here ({w})"),
        }
    }
}

/// One line of the claims table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The claim's id.
    pub id: String,
    /// The claim in words.
    pub claim: String,
    /// Where and on what it was published.
    pub source: String,
    /// What the number is for (model, thread count), empty for the claim as a whole.
    pub item: String,
    /// The published figure with its unit.
    pub published: String,
    /// Our figure with its settings and labels (`-` when none).
    pub measured: String,
    /// The outcome.
    pub verdict: Verdict,
    /// Different hardware, sampled layers, notes.
    pub detail: String,
}

fn fmt_num(v: f64, unit: &str) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    match unit {
        "x" => format!("{s}x"),
        "%" => format!("{s}%"),
        "" => s,
        u => format!("{s} {u}"),
    }
}

/// The region of our figure that satisfies the claim: `(low, high)` limits, either open.
fn region(c: &Claim, published: f64) -> (Option<f64>, Option<f64>) {
    let tol = c.tolerance.max(0.0);
    match c.compare.as_deref().unwrap_or("within") {
        "at_least" => (Some(published * (1.0 - tol)), None),
        "at_most" => (None, Some(published * (1.0 + tol))),
        _ => (
            Some(published - tol * published.abs()),
            Some(published + tol * published.abs()),
        ),
    }
}

/// `at least 3.30x (3.88x less 15%)`: the region in words.
fn region_text(c: &Claim, published: f64) -> String {
    let tol = c.tolerance.max(0.0);
    let p = fmt_num(published, &c.unit);
    let pct = format!("{:.0}%", tol * 100.0);
    match region(c, published) {
        (Some(l), None) if tol > 0.0 => {
            format!("at least {} ({p} less {pct})", fmt_num(l, &c.unit))
        }
        (Some(_), None) => format!("at least {p}"),
        (None, Some(h)) if tol > 0.0 => format!("at most {} ({p} plus {pct})", fmt_num(h, &c.unit)),
        (None, Some(_)) => format!("at most {p}"),
        (Some(l), Some(h)) => format!(
            "between {} and {} ({p} ± {pct})",
            fmt_num(l, &c.unit),
            fmt_num(h, &c.unit)
        ),
        (None, None) => p,
    }
}

/// Sets our figure, with its 95% interval, beside the published one as the claim says:
/// *reproduced* only when the whole interval lies in the region the claim allows, *not
/// reproduced* when the whole interval lies outside it, *inconclusive* otherwise (or when there
/// is no interval), with about how many repetitions per cell would decide it. A `noisy` figure
/// is never *reproduced*. An exact figure (bytes of a model) is its own interval.
pub fn judge(c: &Claim, ours: &Estimate, published: f64, noisy: Option<&str>) -> Verdict {
    let (lo_ok, hi_ok) = region(c, published);
    let want = region_text(c, published);
    let rel = if published != 0.0 {
        (ours.value - published) / published.abs() * 100.0
    } else {
        0.0
    };
    let Some((lo, hi)) = ours.ci() else {
        return Verdict::Inconclusive(format!(
            "{} with no 95% interval: {}; the claim needs {want}",
            fmt_num(ours.value, &c.unit),
            ours.no_ci
                .clone()
                .unwrap_or_else(|| "too few repetitions".into())
        ));
    };
    let shown = if lo == hi {
        fmt_num(ours.value, &c.unit)
    } else if c.unit == "x" || c.unit == "%" {
        format!(
            "{} [{}, {}]",
            fmt_num(ours.value, &c.unit),
            fmt_num(lo, &c.unit),
            fmt_num(hi, &c.unit)
        )
    } else {
        format!(
            "{} [{}, {}] {}",
            fmt_num(ours.value, ""),
            fmt_num(lo, ""),
            fmt_num(hi, ""),
            c.unit
        )
    };
    let inside = lo_ok.is_none_or(|l| lo >= l) && hi_ok.is_none_or(|h| hi <= h);
    let outside = lo_ok.is_some_and(|l| hi < l) || hi_ok.is_some_and(|h| lo > h);
    if outside {
        let miss = if lo_ok.is_some_and(|l| hi < l) {
            "below"
        } else {
            "above"
        };
        return Verdict::NotReproduced(format!(
            "{shown}: the whole 95% CI is {miss} {want} ({rel:+.0}% from the published figure)"
        ));
    }
    if inside {
        return match noisy {
            Some(why) => Verdict::Inconclusive(format!(
                "{shown} meets {want}, but the cell is NOISY ({why}): rerun on a quieter machine"
            )),
            None => Verdict::Reproduced,
        };
    }
    // Across an edge: the one nearest the median decides.
    let edge = [lo_ok, hi_ok]
        .into_iter()
        .flatten()
        .min_by(|a, b| (a - ours.value).abs().total_cmp(&(b - ours.value).abs()));
    let more = edge
        .and_then(|e| ours.reps_to_decide(e))
        .map(|n| {
            format!("; about {n} repetitions per cell would decide it if the spread stays as it is")
        })
        .unwrap_or_else(|| {
            "; the median sits on the edge: more repetitions alone may not decide it".into()
        });
    let noisy = noisy
        .map(|w| format!("; the cell is NOISY ({w})"))
        .unwrap_or_default();
    Verdict::Inconclusive(format!(
        "{shown}: the 95% CI reaches both sides of {want}{noisy}{more}"
    ))
}

/// An exact figure (no repetitions: bytes of a model) as an estimate that is its own interval.
fn exact(v: f64) -> Estimate {
    Estimate {
        value: v,
        ci95_low: Some(v),
        ci95_high: Some(v),
        ci_level: Some(1.0),
        method: "exact".into(),
        n: 1,
        n_den: None,
        no_ci: None,
        clipped: None,
        note: None,
    }
}

/// Why a cell (or a pair) is NOISY: `cv 7.1% > max_cv 5%`.
fn noisy_why(cells: &[&Cell<'_>]) -> Option<String> {
    let v: Vec<String> = cells
        .iter()
        .filter(|c| c.cell.noisy)
        .map(|c| {
            let cv = c
                .cell
                .decode_tokens_per_s
                .as_ref()
                .or(c.cell.prefill_tokens_per_s.as_ref())
                .and_then(|s| s.cv)
                .map_or("?".into(), |cv| format!("{:.1}%", cv * 100.0));
            format!("{} cv {cv}", c.engine())
        })
        .collect();
    (!v.is_empty()).then(|| format!("{} above the scenario's max_cv", v.join(", ")))
}

/// `1 − r`, in percent, with the interval turned round: the energy reduction of a J/token
/// ratio.
fn reduction_pct(r: &Estimate) -> Estimate {
    Estimate {
        value: (1.0 - r.value) * 100.0,
        ci95_low: r.ci95_high.map(|h| (1.0 - h) * 100.0),
        ci95_high: r.ci95_low.map(|l| (1.0 - l) * 100.0),
        ..r.clone()
    }
}

/// `e` times `k` (> 0), interval alike.
fn scale(e: &Estimate, k: f64) -> Estimate {
    Estimate {
        value: e.value * k,
        ci95_low: e.ci95_low.map(|v| v * k),
        ci95_high: e.ci95_high.map(|v| v * k),
        ..e.clone()
    }
}

/// `k / e`, interval turned round (a rate to a time per item).
fn reciprocal(e: &Estimate, k: f64) -> Estimate {
    Estimate {
        value: k / e.value,
        ci95_low: e.ci95_high.map(|v| k / v),
        ci95_high: e.ci95_low.map(|v| k / v),
        ..e.clone()
    }
}

fn same_hardware(c: &Claim, run: &Loaded) -> bool {
    match &c.hardware_match {
        None => true,
        Some(m) => run
            .machine_str("cpu_model")
            .is_some_and(|cpu| cpu.to_lowercase().contains(&m.to_lowercase())),
    }
}

fn hardware_note(c: &Claim, run: &Loaded) -> String {
    if same_hardware(c, run) {
        String::new()
    } else {
        format!(
            "different hardware: theirs {}, ours {} ({})",
            c.hardware,
            run.cpu(),
            run.label()
        )
    }
}

/// Sets every claim beside every run.
pub fn evaluate(claims: &[Claim], runs: &[Loaded]) -> Vec<Row> {
    let mut rows = Vec::new();
    for c in claims {
        for r in runs {
            rows.extend(evaluate_run(c, r, runs.len() > 1));
        }
    }
    rows
}

fn by_threads(mut v: Vec<Pair<'_>>) -> Vec<Pair<'_>> {
    v.sort_by_key(|p| p.tern.cell.key.threads);
    v
}

/// One claim beside one run.
pub fn evaluate_run(c: &Claim, run: &Loaded, tag_run: bool) -> Vec<Row> {
    let base = |item: &str, published: String, measured: String, verdict, detail: String| Row {
        id: c.id.clone(),
        claim: c.claim.clone(),
        source: format!(
            "{}; {} on {}; settings: {}",
            c.source, c.measured_on, c.hardware, c.settings
        ),
        item: item.to_string(),
        published,
        measured: if tag_run && measured != "-" {
            format!("{measured} [{}]", run.label())
        } else {
            measured
        },
        verdict,
        detail,
    };
    let published_all = || {
        c.published
            .iter()
            .map(|(k, v)| format!("{k}: {}", fmt_num(*v, &c.unit)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if c.kind == "none" {
        return vec![base(
            "",
            published_all(),
            "-".into(),
            Verdict::NotMeasurable(c.why.clone().unwrap_or_else(|| "no method".into())),
            c.note.clone().unwrap_or_default(),
        )];
    }
    let arch = run.arch().unwrap_or_else(|| "unknown".into());
    if c.arch != "any" && c.arch != arch {
        return vec![base(
            "",
            published_all(),
            "-".into(),
            Verdict::NotMeasurable(format!(
                "different hardware: the claim is for {} ({}), {} is {arch}",
                c.arch,
                c.hardware,
                run.label()
            )),
            c.note.clone().unwrap_or_default(),
        )];
    }
    let all = cells::all(std::slice::from_ref(run));
    let pairs = cells::pairs(&all);
    let hw = hardware_note(c, run);
    let same_hw = hw.is_empty();
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let note = |extra: &[String]| {
        let mut v: Vec<String> = extra.iter().filter(|s| !s.is_empty()).cloned().collect();
        if let Some(n) = &c.note {
            v.push(n.clone());
        }
        v.join("; ")
    };
    let energy = run.energy_status();
    let mut model_absent = false;
    for (item, &pubv) in &c.published {
        let pubs = fmt_num(pubv, &c.unit);
        match c.kind.as_str() {
            "speedup" | "energy_reduction" => {
                let of_model: Vec<Pair> = pairs
                    .iter()
                    .filter(|p| &p.tern.cell.key.model == item)
                    .copied()
                    .collect();
                if of_model.is_empty() {
                    missing.push(item.clone());
                    continue;
                }
                for p in by_threads(of_model) {
                    let sampled = if p.sampled() {
                        "SAMPLED: the ratio is over the built layers only".to_string()
                    } else {
                        String::new()
                    };
                    let noisy = noisy_why(&[&p.tern, &p.fp16]);
                    let hwr = if same_hw {
                        String::new()
                    } else {
                        format!("{hw}; a ratio, so compared")
                    };
                    if c.kind == "speedup" {
                        let decode = c.metric.as_deref() != Some("prefill");
                        let r = if decode {
                            p.decode_speedup()
                        } else {
                            p.prefill_speedup()
                        };
                        let Some(r) = r else {
                            continue;
                        };
                        rows.push(base(
                            item,
                            pubs.clone(),
                            format!(
                                "{} ({}, {}{}{})",
                                r.show(2, "x", false),
                                if decode { "decode" } else { "prefill" },
                                p.setup(),
                                if p.sampled() { ", SAMPLED" } else { "" },
                                if noisy.is_some() { ", NOISY" } else { "" }
                            ),
                            judge(c, &r, pubv, noisy.as_deref()),
                            note(&[hwr.clone(), sampled.clone()]),
                        ));
                    } else {
                        let verdict_base = match energy.as_str() {
                            "measured" => None,
                            "estimated" => Some(
                                "only ESTIMATED energy in this run: a model, not a measurement"
                                    .to_string(),
                            ),
                            _ => Some(run.energy_short()),
                        };
                        // 1 − ternary ÷ FP16 J/token, in percent, with the ratio's interval.
                        let red = p.energy_ratio().map(|r| reduction_pct(&r));
                        let measured = match &red {
                            Some(v) if p.estimated() => {
                                format!("{} ESTIMATED ({})", v.show(1, "%", false), p.setup())
                            }
                            Some(v) => format!("{} ({})", v.show(1, "%", false), p.setup()),
                            None => "-".into(),
                        };
                        let verdict = match (verdict_base, red) {
                            (Some(why), _) => Verdict::NotMeasurable(why),
                            (None, None) => Verdict::NotMeasurable(
                                "no decode energy in these cells".to_string(),
                            ),
                            (None, Some(v)) if p.estimated() => Verdict::NotMeasurable(format!(
                                "only ESTIMATED energy ({})",
                                fmt_num(v.value, "%")
                            )),
                            (None, Some(v)) => judge(c, &v, pubv, noisy.as_deref()),
                        };
                        rows.push(base(
                            item,
                            pubs.clone(),
                            measured,
                            verdict,
                            note(&[hwr.clone(), sampled.clone()]),
                        ));
                    }
                }
            }
            "decode_tps" | "decode_latency_ms" | "j_per_token" => {
                let mut tern: Vec<Cell> = all
                    .iter()
                    .filter(|x| &x.cell.key.model == item && x.cell.key.engine == "ternary")
                    .copied()
                    .collect();
                if tern.is_empty() {
                    missing.push(item.clone());
                    continue;
                }
                let mut extra = Vec::new();
                if let Some(t) = c.threads {
                    if tern.iter().any(|x| x.cell.key.threads == t) {
                        tern.retain(|x| x.cell.key.threads == t);
                    } else {
                        let have: Vec<String> = tern
                            .iter()
                            .map(|x| x.cell.key.threads.to_string())
                            .collect();
                        extra.push(format!(
                            "the claim is at {t} threads; the run has {} (shown: the most)",
                            have.join(", ")
                        ));
                    }
                }
                tern.sort_by_key(|x| std::cmp::Reverse(x.cell.key.threads));
                let x = tern[0];
                if x.sampled() {
                    extra.push("SAMPLED: measured over the built layers only".into());
                }
                let setup = format!(
                    "{} thr, {}, {}",
                    x.cell.key.threads, x.cell.key.isa, x.cell.key.test
                );
                let ours: Option<Estimate> = match c.kind.as_str() {
                    "decode_tps" => x.cell.decode_tokens_per_s.as_ref().map(|s| {
                        let e = s.estimate();
                        match (&x.cell.sampled, x.sampled()) {
                            // The full-depth ESTIMATE scales the median and its interval alike.
                            (Some(sm), true) => {
                                scale(&e, sm.layers_built as f64 / sm.layers_total as f64)
                            }
                            _ => e,
                        }
                    }),
                    // ms per token from the median decode tokens/s and its interval.
                    "decode_latency_ms" => x
                        .cell
                        .decode_tokens_per_s
                        .as_ref()
                        .map(|s| reciprocal(&s.estimate(), 1000.0)),
                    _ => x
                        .cell
                        .energy
                        .as_ref()
                        .and_then(|e| e.decode_jpt())
                        .map(|(s, _)| s.estimate()),
                };
                let est = if c.kind == "decode_tps" && x.sampled() {
                    " full-depth ESTIMATE from SAMPLED layers"
                } else if c.kind == "j_per_token" && x.estimated() {
                    " ESTIMATED"
                } else {
                    ""
                };
                let digits = if c.unit == "J/token" { 3 } else { 1 };
                let measured = ours.as_ref().map_or("-".into(), |v| {
                    format!("{} {}{est} ({setup})", v.show(digits, "", false), c.unit)
                });
                let noisy = noisy_why(&[&x]);
                let verdict = match ours {
                    None if c.kind == "j_per_token" && energy != "measured" => {
                        Verdict::NotMeasurable(run.energy_short())
                    }
                    None => Verdict::NotMeasurable("the cell has no such figure".into()),
                    Some(_) if c.kind == "j_per_token" && energy != "measured" => {
                        Verdict::NotMeasurable(
                            "only ESTIMATED energy in this run: a model, not a measurement".into(),
                        )
                    }
                    Some(v) if !same_hw => Verdict::DifferentHardware(format!(
                        "{hw}: an absolute figure, compared only on the same hardware; ours ÷ theirs = {:.2}",
                        v.value / pubv
                    )),
                    Some(_) if c.threads.is_some_and(|t| t != x.cell.key.threads) => {
                        Verdict::NotMeasurable(format!(
                            "no cell at the claim's {} threads",
                            c.threads.unwrap_or(0)
                        ))
                    }
                    Some(v) => judge(c, &v, pubv, noisy.as_deref()),
                };
                rows.push(base(item, pubs, measured, verdict, note(&extra)));
            }
            "model_bytes" => {
                let Some(m) = run
                    .run
                    .models
                    .iter()
                    .find(|m| &m.model == item && m.engine == "ternary")
                else {
                    missing.push(item.clone());
                    continue;
                };
                let gb = m.decode_bytes_per_token_full_depth as f64 / 1e9;
                rows.push(base(
                    item,
                    pubs.clone(),
                    format!(
                        "{} ({} weights, head {}, all layers)",
                        fmt_num(gb, "GB"),
                        m.format,
                        m.head
                    ),
                    judge(c, &exact(gb), pubv, None),
                    note(&[]),
                ));
            }
            "tps_by_threads" => {
                let model = c.model.clone().unwrap_or_default();
                let Ok(t) = item.parse::<usize>() else {
                    continue;
                };
                let decode = c.metric.as_deref() != Some("prefill");
                let of_model: Vec<Cell> = all
                    .iter()
                    .filter(|x| x.cell.key.model == model && x.cell.key.engine == "ternary")
                    .copied()
                    .collect();
                if of_model.is_empty() {
                    missing.push(item.clone());
                    model_absent = true;
                    continue;
                }
                // Published figures are from an empty cache: cells at a depth never match.
                let len_ok = |x: &Cell| {
                    x.cell.n_depth == 0
                        && if decode {
                            c.n_gen.is_none_or(|n| x.cell.n_gen == n)
                        } else {
                            c.n_prompt.is_none_or(|n| x.cell.n_prompt == n)
                        }
                };
                let Some(x) = of_model
                    .iter()
                    .find(|x| x.cell.key.threads == t && len_ok(x))
                else {
                    let tests: Vec<String> = of_model
                        .iter()
                        .map(|x| format!("{} at {} thr", x.cell.key.test, x.cell.key.threads))
                        .collect();
                    missing.push(format!("{t} thr (run has {})", tests.join(", ")));
                    continue;
                };
                let ours = if decode {
                    x.cell.decode_tokens_per_s.as_ref()
                } else {
                    x.cell.prefill_tokens_per_s.as_ref()
                }
                .map(|s| s.estimate());
                let Some(v) = ours else {
                    missing.push(format!("{t} thr"));
                    continue;
                };
                let verdict = if same_hw {
                    judge(c, &v, pubv, noisy_why(&[x]).as_deref())
                } else {
                    Verdict::DifferentHardware(format!(
                        "{hw}: an absolute speed; ours ÷ theirs = {:.2}",
                        v.value / pubv
                    ))
                };
                rows.push(base(
                    &format!("{model} @ {t} thr"),
                    pubs.clone(),
                    format!(
                        "{} {}{} ({}, {})",
                        v.show(1, "", false),
                        c.unit,
                        if x.sampled() { " SAMPLED" } else { "" },
                        x.cell.key.isa,
                        x.cell.key.test
                    ),
                    verdict,
                    note(&[]),
                ));
            }
            other => rows.push(base(
                item,
                pubs.clone(),
                "-".into(),
                Verdict::NotMeasurable(format!("unknown claim kind `{other}`")),
                String::new(),
            )),
        }
    }
    if c.kind == "speedup" {
        let covered = program_rows(c, run, &mut rows, &base, &note, &hw);
        missing.retain(|m| !covered.contains(m));
    }
    if !missing.is_empty() {
        let published: Vec<String> = c
            .published
            .iter()
            .filter(|(k, _)| missing.iter().any(|m| m.starts_with(k.as_str())))
            .map(|(k, v)| format!("{k}: {}", fmt_num(*v, &c.unit)))
            .collect();
        let by_threads = c.kind == "tps_by_threads" && !model_absent;
        let what = if by_threads {
            "no matching cell".to_string()
        } else if c.kind == "tps_by_threads" {
            format!(
                "{} not in the run",
                c.model.as_deref().unwrap_or("the model")
            )
        } else {
            "model not in the run".to_string()
        };
        rows.push(base(
            &if model_absent {
                format!(
                    "{} @ {} thr",
                    c.model.as_deref().unwrap_or(""),
                    missing.join(", ")
                )
            } else {
                missing.join(", ")
            },
            if published.is_empty() {
                published_all()
            } else {
                published.join(", ")
            },
            "-".into(),
            Verdict::NotMeasurable(format!(
                "{what}{}",
                if by_threads {
                    String::new()
                } else {
                    format!(
                        " (it has {})",
                        run.run
                            .models
                            .iter()
                            .map(|m| m.model.as_str())
                            .collect::<std::collections::BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )),
            note(&[]),
        ));
    }
    rows
}

/// The programs' own speedup measured in this run, for a `speedup` claim: each
/// [`peers::ProgramPair`] (bitnet.cpp I2_S ÷ llama.cpp F16 of one model, same threads and
/// test) whose test times the claim's metric, judged against the published figure of the size
/// with the same parameters (or, for a size the claim does not list, against its smallest
/// figure: the least it says of any size), with ternbench's ternary ÷ FP16 on the same files
/// beside it, each with its 95% CI. Returns the published items covered.
fn program_rows(
    c: &Claim,
    run: &Loaded,
    rows: &mut Vec<Row>,
    base: &dyn Fn(&str, String, String, Verdict, String) -> Row,
    note: &dyn Fn(&[String]) -> String,
    hw: &str,
) -> Vec<String> {
    let decode = c.metric.as_deref() != Some("prefill");
    let zoo_params = |name: &str| {
        ternbench_engine::zoo::config(name)
            .ok()
            .map(|cfg| cfg.linear_params() + cfg.embedding_params())
    };
    let mut covered = Vec::new();
    let Some((low_item, &low)) = c.published.iter().min_by(|a, b| a.1.total_cmp(b.1)) else {
        return covered;
    };
    let mut pairs = peers::program_pairs(run);
    pairs.sort_by_key(|p| (p.params(), p.ternary.cell.key.threads));
    for p in pairs {
        if (p.ternary.cell.n_gen > 0) != decode {
            continue;
        }
        let Some(r) = p.peers_ratio(decode) else {
            continue;
        };
        let item = c
            .published
            .keys()
            .find(|k| p.params().is_some() && zoo_params(k) == p.params());
        let mut extra = Vec::new();
        if !hw.is_empty() {
            extra.push(format!("{hw}; a ratio, so compared"));
        }
        let (label, pubv) = match item {
            Some(k) => {
                covered.push(k.clone());
                (k.clone(), c.published[k])
            }
            None => {
                extra.push(format!(
                    "no published figure for this size: judged against the smallest published figure ({} at {low_item}), the least the claim says of any size",
                    fmt_num(low, &c.unit)
                ));
                (
                    format!(
                        "{} ({})",
                        peers::file_label(&p.ternary.cell.key.model),
                        p.params().map(cells::size_label).unwrap_or_default()
                    ),
                    low,
                )
            }
        };
        if let Some(a) = p.activation_note() {
            extra.push(a);
        }
        let ours = p.ours_ratio(decode);
        let ours_text = match (&ours, p.ours_ternary) {
            (Some(o), Some(t)) => format!(
                "ternbench ternary {} ÷ fp16 on the same files: {}",
                t.cell.key.format,
                o.show(2, "x", false)
            ),
            _ => "ternbench ternary ÷ fp16 on the same files: not in this run".into(),
        };
        if let Some(o) = &ours {
            let noisy = noisy_why(&[
                &p.ours_ternary.unwrap_or(p.ternary),
                &p.ours_fp16.unwrap_or(p.f16),
            ]);
            extra.push(format!(
                "ternbench's own ratio against the claim: {}",
                judge(c, o, pubv, noisy.as_deref()).text()
            ));
        }
        let noisy = noisy_why(&[&p.ternary, &p.f16]);
        rows.push(base(
            &format!("{label}: {} ÷ {}", p.ternary.engine(), p.f16.engine()),
            fmt_num(pubv, &c.unit),
            format!(
                "{} ({}, {}; the programs measured here{}) · {ours_text}",
                r.show(2, "x", false),
                if decode { "decode" } else { "prefill" },
                p.setup(),
                if noisy.is_some() { ", NOISY" } else { "" }
            ),
            judge(c, &r, pubv, noisy.as_deref()),
            note(&extra),
        ));
    }
    covered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::testutil::{cell, run};

    fn claim(id: &str) -> Claim {
        load(None)
            .unwrap()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap()
    }

    #[test]
    fn embedded_claims_parse_with_unique_ids_and_known_kinds() {
        let all = load(None).unwrap();
        assert!(all.len() >= 12);
        let mut ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        for c in &all {
            assert!(
                [
                    "speedup",
                    "energy_reduction",
                    "decode_tps",
                    "decode_latency_ms",
                    "j_per_token",
                    "model_bytes",
                    "tps_by_threads",
                    "none"
                ]
                .contains(&c.kind.as_str()),
                "{}: {}",
                c.id,
                c.kind
            );
            assert!(c.kind != "none" || c.why.is_some(), "{} needs `why`", c.id);
        }
        assert_eq!(claim("1").published["bitnet-13b"], 6.17);
        assert_eq!(claim("1").published["bitnet-1.5b"], 4.47);
    }

    fn est(value: f64, lo: f64, hi: f64) -> Estimate {
        Estimate {
            value,
            ci95_low: Some(lo),
            ci95_high: Some(hi),
            ci_level: Some(0.968),
            method: crate::records::stats::RATIO_CI.into(),
            n: 5,
            n_den: Some(5),
            no_ci: None,
            clipped: None,
            note: None,
        }
    }

    #[test]
    fn reproduced_only_when_the_whole_interval_meets_the_claim() {
        let c = claim("1"); // at_least 3.88x less 15% = 3.298x
        assert_eq!(
            judge(&c, &est(4.0, 3.5, 4.4), 3.88, None),
            Verdict::Reproduced
        );
        // The interval's low end sits below 3.298x: not a reproduction, however high the median.
        match judge(&c, &est(4.39, 2.8, 7.2), 3.88, None) {
            Verdict::Inconclusive(w) => {
                assert!(w.contains("reaches both sides of at least 3.30x"), "{w}");
                assert!(w.contains("repetitions per cell would decide it"), "{w}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn not_reproduced_only_when_the_whole_interval_contradicts_it() {
        let c = claim("1");
        match judge(&c, &est(2.0, 1.8, 2.3), 3.88, None) {
            Verdict::NotReproduced(w) => {
                assert!(w.contains("whole 95% CI is below at least 3.30x"), "{w}");
                assert!(w.contains("-48%"), "{w}");
            }
            v => panic!("{v:?}"),
        }
        let c6 = claim("6"); // at_most 29 ms plus 15%
        assert_eq!(
            judge(&c6, &est(25.0, 24.0, 26.0), 29.0, None),
            Verdict::Reproduced
        );
        let v = judge(&c6, &est(40.0, 38.0, 42.0), 29.0, None);
        assert!(
            matches!(&v, Verdict::NotReproduced(w) if w.starts_with("40.0 [38.0, 42.0] ms/token: the whole 95% CI is above at most 33.3 ms/token")),
            "{v:?}"
        );
    }

    #[test]
    fn inconclusive_says_what_would_decide_it() {
        let c = claim("1");
        // 3.5x [3.0, 4.1]: the edge 3.298 is ln(3.5/3.298) = 0.059 away, the reach 0.154:
        // 5·(0.154/0.059)² ≈ 34 repetitions.
        let Verdict::Inconclusive(w) = judge(&c, &est(3.5, 3.0, 4.1), 3.88, None) else {
            panic!()
        };
        assert!(w.contains("about 34 repetitions per cell"), "{w}");
        // No interval at all (3 repetitions a side): inconclusive, with the reason in words.
        let mut few = est(4.0, 0.0, 0.0);
        few.ci95_low = None;
        few.ci95_high = None;
        few.no_ci = Some(crate::records::stats::too_few_for_ratio(3, 3, 0.95));
        let Verdict::Inconclusive(w) = judge(&c, &few, 3.88, None) else {
            panic!()
        };
        assert!(w.contains("n=3 and 3: too few repetitions"), "{w}");
    }

    #[test]
    fn a_noisy_cell_never_gets_a_green_verdict() {
        let c = claim("1");
        let v = judge(&c, &est(4.39, 4.0, 4.8), 3.88, Some("ternary i2 cv 9.0%"));
        assert!(
            matches!(&v, Verdict::Inconclusive(w) if w.contains("NOISY")),
            "{v:?}"
        );
        // A noisy cell whose whole interval contradicts the claim is still not reproduced.
        assert!(matches!(
            judge(&c, &est(2.0, 1.8, 2.3), 3.88, Some("x")),
            Verdict::NotReproduced(_)
        ));
        // End to end: a NOISY pair in a run.
        let noisy: Vec<f64> = [30.0, 44.0, 40.0, 52.0, 39.0, 41.0].to_vec();
        let r = run(
            "AMD EPYC 7763",
            "unavailable",
            vec![
                crate::present::report::testutil::cell_with(
                    "bitnet-700m",
                    "ternary",
                    1,
                    &noisy,
                    None,
                ),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
            ],
        );
        let rows = evaluate_run(&claim("1"), &r, false);
        let r700 = rows.iter().find(|x| x.item == "bitnet-700m").unwrap();
        assert!(r700.measured.contains("NOISY"), "{}", r700.measured);
        assert_ne!(r700.verdict, Verdict::Reproduced, "{r700:?}");
    }

    #[test]
    fn speedup_is_compared_across_hardware_absolute_speed_is_not() {
        let r = run(
            "AMD EPYC 7763",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 40.0, None),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
                cell("bitnet-2b4t", "ternary", 2, 30.0, None),
            ],
        );
        let rows = evaluate_run(&claim("1"), &r, false);
        let r700 = rows.iter().find(|x| x.item == "bitnet-700m").unwrap();
        assert_eq!(r700.verdict, Verdict::Reproduced, "{r700:?}");
        assert!(r700.measured.starts_with("4.00x ["), "{}", r700.measured);
        assert!(r700.detail.contains("different hardware"));
        let rest = rows.iter().find(|x| x.item.contains("bitnet-13b")).unwrap();
        assert!(
            matches!(&rest.verdict, Verdict::NotMeasurable(w) if w.contains("model not in the run"))
        );

        // ARM claim on an x86 run.
        let rows = evaluate_run(&claim("2"), &r, false);
        assert!(
            matches!(&rows[0].verdict, Verdict::NotMeasurable(w) if w.contains("different hardware"))
        );

        // Energy claim without counters: a short line; the reason itself is in the verdict
        // card, once per run.
        let rows = evaluate_run(&claim("3"), &r, false);
        let e = rows.iter().find(|x| x.item == "bitnet-700m").unwrap();
        assert!(
            matches!(&e.verdict, Verdict::NotMeasurable(w) if w.contains("energy unavailable") && !w.contains("no counters in this VM")),
            "{e:?}"
        );

        // 29 ms at 8 threads: our 2B4T cell is at 2 threads on other hardware.
        let rows = evaluate_run(&claim("6"), &r, false);
        assert!(
            matches!(&rows[0].verdict, Verdict::DifferentHardware(w) if w.contains("ours ÷ theirs = 1.15")),
            "{:?}",
            rows[0].verdict
        );
        assert_eq!(rows[0].verdict.word(), "different hardware");
        assert!(rows[0].detail.contains("8 threads"), "{}", rows[0].detail);
        assert!(
            rows[0].measured.starts_with("33.3 [") && rows[0].measured.contains("] ms/token"),
            "{}",
            rows[0].measured
        );

        // pp128/tg128 by threads: 2 threads matched, ours ÷ theirs given.
        let rows = evaluate_run(&claim("9b"), &r, false);
        let two = rows
            .iter()
            .find(|x| x.item == "bitnet-2b4t @ 2 thr")
            .unwrap();
        assert!(
            matches!(&two.verdict, Verdict::DifferentHardware(w) if w.contains("ours ÷ theirs = 1.05")),
            "{two:?}"
        );
    }

    #[test]
    fn same_hardware_judges_absolute_figures() {
        let r = run(
            "13th Gen Intel(R) Core(TM) i7-13800H",
            "unavailable",
            vec![cell("bitnet-2b4t", "ternary", 8, 40.0, None)],
        );
        let rows = evaluate_run(&claim("6"), &r, false);
        assert_eq!(rows[0].verdict, Verdict::Reproduced, "{rows:?}"); // 25 ms ≤ 29 ms
    }

    #[test]
    fn estimated_energy_is_never_a_reproduction() {
        let r = run(
            "AMD EPYC",
            "estimated",
            vec![
                cell("bitnet-700m", "ternary", 1, 40.0, Some(("estimated", 0.1))),
                cell("bitnet-700m", "fp16", 1, 10.0, Some(("estimated", 0.5))),
            ],
        );
        let rows = evaluate_run(&claim("3"), &r, false);
        let e = rows.iter().find(|x| x.item == "bitnet-700m").unwrap();
        assert!(
            e.measured.starts_with("80.0% [") && e.measured.contains("] ESTIMATED"),
            "{}",
            e.measured
        );
        assert!(matches!(&e.verdict, Verdict::NotMeasurable(w) if w.contains("ESTIMATED")));
    }

    #[test]
    fn measured_energy_reduction_is_judged() {
        let r = run(
            "AMD EPYC",
            "measured",
            vec![
                cell("bitnet-700m", "ternary", 1, 40.0, Some(("measured", 0.1))),
                cell("bitnet-700m", "fp16", 1, 10.0, Some(("measured", 0.5))),
            ],
        );
        let rows = evaluate_run(&claim("3"), &r, false);
        let e = rows.iter().find(|x| x.item == "bitnet-700m").unwrap();
        assert_eq!(e.verdict, Verdict::Reproduced, "{e:?}"); // 80% ≥ 71.9% × 0.9
    }
}
