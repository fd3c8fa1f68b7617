//! Which charts a report draws, built from the runs' cells (one file per chart kind).
//!
//! Every builder returns a [`Figure`]: a [`Chart`] or, when there is nothing to draw, the
//! sentence saying why it was left out — never an empty axis, and never an axis with a single
//! value (one thread count, one model): the figure is then in the verdict card and the results
//! table, and the sentence says so. A chart by model size falls back to threads when the run has
//! one model ([`XDim`]). Error bars are 95% confidence intervals ([`crate::records::stats`]: a
//! cell's median from order statistics, a ratio's from both cells' repetitions), clipped at a
//! feasible limit where there is one. Each series names its engine and format (its family),
//! which fixes its colour in every chart ([`super::palette`]). SAMPLED cells and ESTIMATED
//! energy carry their [`Mark`], and a series wholly of one kind says so in its name.
//! To add a chart: a file here with a builder returning a [`Figure`], listed in [`all`].

mod batch;
mod energy;
mod latency;
mod roofline;
mod simd;
mod speedup;
mod threads;

use std::collections::BTreeMap;

use super::cells::Cell;
use super::chart::{Chart, Mark, Point, Series, XAxis};
use super::claims::Claim;
use super::load::Loaded;
use crate::records::stats::{Estimate, Summary};

pub use batch::batch;
pub use energy::{energy_reduction, joules};
pub use latency::latency;
pub use roofline::roofline;
pub use simd::simd;
pub use speedup::speedup;
pub use threads::threads;

/// A chart, or why it is absent.
#[derive(Debug, Clone)]
pub enum Figure {
    /// Drawn.
    Chart(Box<Chart>),
    /// Left out: title and reason.
    Omitted(String, String),
}

pub(super) fn mark(c: &Cell<'_>, energy: bool) -> Mark {
    if energy && c.estimated() {
        Mark::Estimated
    } else if c.sampled() {
        Mark::Sampled
    } else {
        Mark::Measured
    }
}

pub(super) fn point(x: f64, s: &Summary, m: Mark) -> Point {
    estimate_point(x, &s.estimate(), m)
}

/// A point from an estimate: its value, its interval (none when too few repetitions), marked
/// when the interval was clipped at a limit.
pub(super) fn estimate_point(x: f64, e: &Estimate, m: Mark) -> Point {
    Point {
        x,
        y: e.value,
        lo: e.ci95_low,
        hi: e.ci95_high,
        clipped: e.clipped.is_some(),
        mark: m,
    }
}

/// What a chart "by model size" puts on its x axis: the models when there are several, else
/// the thread counts when there are several; `Err(why)` when both have one value.
#[derive(Debug, Clone)]
pub(super) enum XDim {
    /// Model names, smallest first, and their labels.
    Models(Vec<String>, Vec<String>),
    /// Thread counts, ascending.
    Threads(Vec<usize>),
}

impl XDim {
    /// Picks the axis for `cells`; `what` names the figure for the reason (`the speedups`).
    pub(super) fn pick(cells: &[Cell<'_>], what: &str) -> Result<XDim, String> {
        let ms = models(cells);
        if ms.len() > 1 {
            return Ok(XDim::Models(model_labels(cells, &ms), ms));
        }
        let mut ts: Vec<usize> = cells.iter().map(|c| c.cell.key.threads).collect();
        ts.sort_unstable();
        ts.dedup();
        if ts.len() > 1 {
            return Ok(XDim::Threads(ts));
        }
        Err(format!(
            "one model ({}) at one thread count ({}): a chart would have a single column, so {what} are in the verdict card and the results table",
            ms.first().map_or("none", String::as_str),
            ts.first().map_or("none".into(), |t| t.to_string())
        ))
    }

    /// The category of a cell.
    pub(super) fn x(&self, c: &Cell<'_>) -> f64 {
        match self {
            XDim::Models(_, ms) => ms.iter().position(|m| m == &c.cell.key.model),
            XDim::Threads(ts) => ts.iter().position(|t| *t == c.cell.key.threads),
        }
        .unwrap_or(0) as f64
    }

    /// The axis: its categories and description.
    pub(super) fn axis(&self) -> (XAxis, String) {
        match self {
            XDim::Models(labels, _) => (
                XAxis::Categories(labels.clone()),
                "model (parameters)".into(),
            ),
            XDim::Threads(ts) => (
                XAxis::Categories(ts.iter().map(|t| format!("{t} thr")).collect()),
                "threads".into(),
            ),
        }
    }

    /// The part of a series name the axis does not already say: the threads when the axis is
    /// the models, nothing when it is the threads.
    pub(super) fn threads_in_name(&self, c: &Cell<'_>) -> String {
        match self {
            XDim::Models(..) => format!(" {} thr", c.cell.key.threads),
            XDim::Threads(_) => String::new(),
        }
    }
}

/// One series being built: its family and its points.
pub(super) type Groups = BTreeMap<String, (String, Vec<Point>)>;

/// Adds `p` to the series `name` of `family`.
pub(super) fn add(groups: &mut Groups, name: String, family: String, p: Point) {
    groups
        .entry(name)
        .or_insert_with(|| (family, Vec::new()))
        .1
        .push(p);
}

pub(super) fn run_prefix(c: &Cell<'_>, multi: bool) -> String {
    if multi {
        format!("{} ", c.run.label())
    } else {
        String::new()
    }
}

pub(super) fn series_name(base: String, pts: &[Point]) -> String {
    let mut n = base;
    // A series wholly of one kind says so; a mixed one relies on the legend's style key.
    if !pts.is_empty() && pts.iter().all(|p| p.mark == Mark::Sampled) {
        n.push_str(" (SAMPLED)");
    }
    if !pts.is_empty() && pts.iter().all(|p| p.mark == Mark::Estimated) {
        n.push_str(" (ESTIMATED)");
    }
    n
}

/// The series, grouped by family (so a family's shades sit together in the legend).
pub(super) fn collect(groups: Groups) -> Vec<Series> {
    let mut v: Vec<Series> = groups
        .into_iter()
        .map(|(k, (family, points))| Series {
            name: series_name(k, &points),
            family,
            points,
        })
        .collect();
    v.sort_by(|a, b| a.family.cmp(&b.family).then(a.name.cmp(&b.name)));
    v
}

/// Models present, smallest first (by parameters).
pub(super) fn models(cells: &[Cell<'_>]) -> Vec<String> {
    let mut v: Vec<(u64, String, String)> = Vec::new();
    for c in cells {
        if !v.iter().any(|(_, m, _)| m == &c.cell.key.model) {
            v.push((
                c.params().unwrap_or(u64::MAX),
                c.cell.key.model.clone(),
                c.model_label(),
            ));
        }
    }
    v.sort();
    v.into_iter().map(|(_, m, _)| m).collect()
}

pub(super) fn model_labels(cells: &[Cell<'_>], ms: &[String]) -> Vec<String> {
    ms.iter()
        .map(|m| {
            cells
                .iter()
                .find(|c| &c.cell.key.model == m)
                .map(|c| c.model_label())
                .unwrap_or_else(|| m.clone())
        })
        .collect()
}

pub(super) fn published_for(claims: &[Claim], id: &str, x: &XDim) -> Vec<(f64, f64)> {
    let XDim::Models(_, models) = x else {
        // Published figures are per model; by threads there is nothing to set beside.
        return Vec::new();
    };
    claims
        .iter()
        .filter(|c| c.id == id)
        .flat_map(|c| c.published.iter())
        .filter_map(|(k, v)| models.iter().position(|m| m == k).map(|i| (i as f64, *v)))
        .collect()
}

/// Why an energy chart is absent: one short line per run (the reason itself is in the run's
/// verdict card).
pub(super) fn energy_missing(runs: &[Loaded]) -> String {
    runs.iter()
        .map(|r| format!("{}: {}", r.label(), r.energy_short()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every single-run chart, in report order.
pub fn all(runs: &[Loaded], claims: &[Claim]) -> Vec<Figure> {
    vec![
        threads(runs, false),
        threads(runs, true),
        speedup(runs, claims),
        joules(runs),
        energy_reduction(runs, claims),
        roofline(runs),
        latency(runs),
        batch(runs),
        simd(runs),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::chart;
    use crate::present::report::testutil::{cell, run};

    #[test]
    fn no_energy_means_no_energy_chart_and_the_reason() {
        let r = run(
            "CPU",
            "unavailable",
            vec![cell("bitnet-700m", "ternary", 1, 40.0, None)],
        );
        match joules(std::slice::from_ref(&r)) {
            Figure::Omitted(_, why) => {
                // A short line: the reason in full is in the verdict card, once per run.
                assert!(why.contains("energy unavailable"), "{why}");
                assert!(!why.contains("no counters in this VM"), "{why}");
            }
            Figure::Chart(_) => panic!("an empty energy chart was drawn"),
        }
        assert!(matches!(simd(&[r]), Figure::Omitted(_, w) if w.contains("only one SIMD level")));
    }

    #[test]
    fn estimated_energy_is_marked_and_rendered_both_ways() {
        let r = run(
            "CPU",
            "estimated",
            vec![
                cell("bitnet-700m", "ternary", 1, 40.0, Some(("estimated", 0.1))),
                cell("bitnet-700m", "fp16", 1, 10.0, Some(("estimated", 0.4))),
                cell("bitnet-700m", "ternary", 2, 60.0, Some(("estimated", 0.08))),
                cell("bitnet-700m", "fp16", 2, 15.0, Some(("estimated", 0.3))),
            ],
        );
        let Figure::Chart(c) = joules(&[r]) else {
            panic!("no chart")
        };
        assert!(c.series.iter().all(|s| s.name.ends_with("(ESTIMATED)")
            && s.points.iter().all(|p| p.mark == Mark::Estimated)));
        let svg = chart::to_svg(&c).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("ESTIMATED"));
        let png = chart::to_png(&c).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000);
    }

    #[test]
    fn speedup_pairs_like_for_like_with_published_levels() {
        let r = run(
            "CPU",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 40.0, None),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
                cell("bitnet-700m", "fp16", 2, 15.0, None), // no ternary twin at 2 threads
                cell("bitnet-2b4t", "ternary", 1, 20.0, None),
                cell("bitnet-2b4t", "fp16", 1, 8.0, None),
            ],
        );
        let claims = crate::present::report::claims::load(None).unwrap();
        let Figure::Chart(c) = speedup(std::slice::from_ref(&r), &claims) else {
            panic!("no chart")
        };
        assert_eq!(c.series.len(), 1);
        assert_eq!(c.series[0].points[0].y, 4.0);
        // The interval of the ratio from both cells' six repetitions (±2%).
        let p = &c.series[0].points[0];
        assert!(
            p.lo.unwrap() < 4.0 && 4.0 < p.hi.unwrap() && p.hi.unwrap() < 4.3,
            "{p:?}"
        );
        assert_eq!(c.references, vec![(0.0, 3.88)]);
        // One model at one thread count: no single-column chart, a sentence instead.
        let one = run(
            "CPU",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 40.0, None),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
            ],
        );
        assert!(
            matches!(speedup(&[one], &claims), Figure::Omitted(_, w) if w.contains("single column"))
        );
    }
}
