//! Which charts a report draws, built from the runs' cells (one file per chart kind).
//!
//! Every builder returns a [`Figure`]: a [`Chart`] or, when there is nothing to draw, the
//! sentence saying why it was left out — never an empty axis. Error bars are the cells' 95%
//! confidence intervals (for ratios, the conservative interval of
//! [`crate::present::report::cells::Ratio`]). SAMPLED cells and ESTIMATED energy carry their [`Mark`],
//! and a series wholly of one kind says so in its name.
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
use super::chart::{Chart, Mark, Point, Series};
use super::claims::Claim;
use super::load::Loaded;
use crate::records::stats::Summary;

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
    Point {
        x,
        y: s.median,
        lo: s.ci95_low,
        hi: s.ci95_high,
        mark: m,
    }
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

pub(super) fn collect(groups: BTreeMap<String, Vec<Point>>) -> Vec<Series> {
    groups
        .into_iter()
        .map(|(k, points)| Series {
            name: series_name(k, &points),
            points,
        })
        .collect()
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

pub(super) fn published_for(claims: &[Claim], id: &str, models: &[String]) -> Vec<(f64, f64)> {
    claims
        .iter()
        .filter(|c| c.id == id)
        .flat_map(|c| c.published.iter())
        .filter_map(|(k, v)| models.iter().position(|m| m == k).map(|i| (i as f64, *v)))
        .collect()
}

pub(super) fn energy_missing(runs: &[Loaded]) -> String {
    runs.iter()
        .map(|r| format!("{}: {}", r.label(), r.energy_text()))
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
            Figure::Omitted(_, why) => assert!(why.contains("no counters in this VM"), "{why}"),
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
            ],
        );
        let claims = crate::present::report::claims::load(None).unwrap();
        let Figure::Chart(c) = speedup(&[r], &claims) else {
            panic!("no chart")
        };
        assert_eq!(c.series.len(), 1);
        assert_eq!(c.series[0].points[0].y, 4.0);
        assert_eq!(c.references, vec![(0.0, 3.88)]);
    }
}
