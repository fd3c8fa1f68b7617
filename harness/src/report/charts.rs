//! Which charts a report draws, built from the runs' cells (one function per chart kind).
//!
//! Every builder returns a [`Figure`]: a [`Chart`] or, when there is nothing to draw, the
//! sentence saying why it was left out — never an empty axis. Error bars are the cells' 95%
//! confidence intervals (for ratios, the conservative interval of [`cells::Ratio`]). SAMPLED
//! cells and ESTIMATED energy carry their [`Mark`], and series names say so too.

use std::collections::BTreeMap;

use super::cells::{self, Cell};
use super::chart::{Chart, Mark, Point, Series, XAxis};
use super::claims::Claim;
use super::load::Loaded;
use crate::stats::Summary;

/// A chart, or why it is absent.
#[derive(Debug, Clone)]
pub enum Figure {
    /// Drawn.
    Chart(Box<Chart>),
    /// Left out: title and reason.
    Omitted(String, String),
}

fn mark(c: &Cell<'_>, energy: bool) -> Mark {
    if energy && c.estimated() {
        Mark::Estimated
    } else if c.sampled() {
        Mark::Sampled
    } else {
        Mark::Measured
    }
}

fn point(x: f64, s: &Summary, m: Mark) -> Point {
    Point {
        x,
        y: s.median,
        lo: s.ci95_low,
        hi: s.ci95_high,
        mark: m,
    }
}

fn run_prefix(c: &Cell<'_>, multi: bool) -> String {
    if multi {
        format!("{} ", c.run.label())
    } else {
        String::new()
    }
}

fn series_name(base: String, pts: &[Point]) -> String {
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

fn collect(groups: BTreeMap<String, Vec<Point>>) -> Vec<Series> {
    groups
        .into_iter()
        .map(|(k, points)| Series {
            name: series_name(k, &points),
            points,
        })
        .collect()
}

/// Models present, smallest first (by parameters).
fn models(cells: &[Cell<'_>]) -> Vec<String> {
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

fn model_labels(cells: &[Cell<'_>], ms: &[String]) -> Vec<String> {
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

/// Tokens/s against threads, one line per model × engine × SIMD level × test.
pub fn threads(runs: &[Loaded], decode: bool) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let (what, id) = if decode {
        ("decode", "decode_threads")
    } else {
        ("prefill", "prefill_threads")
    };
    let mut groups: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    let mut ticks: Vec<f64> = Vec::new();
    for c in &cells {
        let s = if decode {
            c.cell.decode_tokens_per_s.as_ref()
        } else {
            c.cell.prefill_tokens_per_s.as_ref()
        };
        let Some(s) = s else { continue };
        let x = c.cell.key.threads as f64;
        if !ticks.contains(&x) {
            ticks.push(x);
        }
        let k = format!(
            "{}{} {} {} {}",
            run_prefix(c, multi),
            c.cell.key.model,
            c.engine(),
            c.cell.key.isa,
            c.cell.key.test
        );
        groups
            .entry(k)
            .or_default()
            .push(point(x, s, mark(c, false)));
    }
    let title = format!("{what} tokens/s vs threads");
    if groups.is_empty() {
        return Figure::Omitted(
            title,
            format!(
                "no cell measured {what} (the scenario's tests have no {})",
                if decode { "tg" } else { "pp" }
            ),
        );
    }
    ticks.sort_by(f64::total_cmp);
    Figure::Chart(Box::new(Chart {
        id: id.into(),
        title,
        x_label: "threads".into(),
        y_label: format!("{what} tokens/s (median, 95% CI)"),
        x: XAxis::Numeric(ticks),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        caption: format!(
            "Median {what} tokens/s per cell; bars are the 95% confidence interval of the mean over repetitions."
        ),
    }))
}

fn published_for(claims: &[Claim], id: &str, models: &[String]) -> Vec<(f64, f64)> {
    claims
        .iter()
        .filter(|c| c.id == id)
        .flat_map(|c| c.published.iter())
        .filter_map(|(k, v)| models.iter().position(|m| m == k).map(|i| (i as f64, *v)))
        .collect()
}

/// Ternary ÷ FP16 decode speedup per model size, with claim 1's published figures.
pub fn speedup(runs: &[Loaded], claims: &[Claim]) -> Figure {
    let cells = cells::all(runs);
    let pairs = cells::pairs(&cells);
    let multi = runs.len() > 1;
    let title = "Ternary speedup over FP16 (decode) by model size".to_string();
    let with: Vec<_> = pairs
        .iter()
        .filter(|p| p.decode_speedup().is_some())
        .collect();
    if with.is_empty() {
        return Figure::Omitted(
            title,
            "no model was run with both the ternary and the FP16 engine at the same threads, SIMD level and test".into(),
        );
    }
    let tern_cells: Vec<Cell> = with.iter().map(|p| p.tern).collect();
    let ms = models(&tern_cells);
    let mut groups: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for p in &with {
        let r = p.decode_speedup().expect("filtered");
        let x = ms
            .iter()
            .position(|m| m == &p.tern.cell.key.model)
            .unwrap_or(0) as f64;
        let k = format!(
            "{}{} {} thr {} {}",
            run_prefix(&p.tern, multi),
            p.tern.engine(),
            p.tern.cell.key.threads,
            p.tern.cell.key.isa,
            p.tern.cell.key.test
        );
        groups.entry(k).or_default().push(Point {
            x,
            y: r.value,
            lo: r.lo,
            hi: r.hi,
            mark: if p.sampled() {
                Mark::Sampled
            } else {
                Mark::Measured
            },
        });
    }
    let refs = published_for(claims, "1", &ms);
    Figure::Chart(Box::new(Chart {
        id: "speedup".into(),
        title,
        x_label: "model (parameters)".into(),
        y_label: "ternary ÷ FP16 decode tokens/s".into(),
        x: XAxis::Categories(model_labels(&tern_cells, &ms)),
        series: collect(groups),
        reference_label: "published: bitnet.cpp vs llama.cpp FP16, i7-13700H (claim 1; other hardware)"
            .into(),
        references: refs,
        percent: false,
        caption: "Ratio of median decode tokens/s, ternary over its FP16 twin, same run, threads, SIMD level and test (the shape of bitnet.cpp's published chart). Error bars: conservative interval from both cells' 95% CIs. Diamonds: published speedups on different hardware.".into(),
    }))
}

fn energy_missing(runs: &[Loaded]) -> String {
    runs.iter()
        .map(|r| format!("{}: {}", r.label(), r.energy_text()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Decode J/token per model and engine.
pub fn joules(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "Decode energy per token by model size".to_string();
    let with: Vec<Cell> = cells
        .iter()
        .filter(|c| {
            c.cell
                .energy
                .as_ref()
                .is_some_and(|e| e.decode_joules_per_token.is_some())
        })
        .copied()
        .collect();
    if with.is_empty() {
        return Figure::Omitted(title, energy_missing(runs));
    }
    let ms = models(&with);
    let mut groups: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for c in &with {
        let s = c
            .cell
            .energy
            .as_ref()
            .and_then(|e| e.decode_joules_per_token.as_ref())
            .expect("filtered");
        let x = ms.iter().position(|m| m == &c.cell.key.model).unwrap_or(0) as f64;
        let k = format!(
            "{}{} {} thr {}",
            run_prefix(c, multi),
            c.engine(),
            c.cell.key.threads,
            c.cell.key.isa
        );
        groups
            .entry(k)
            .or_default()
            .push(point(x, s, mark(c, true)));
    }
    Figure::Chart(Box::new(Chart {
        id: "joules_per_token".into(),
        title,
        x_label: "model (parameters)".into(),
        y_label: "J per generated token (gross, median, 95% CI)".into(),
        x: XAxis::Categories(model_labels(&with, &ms)),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        caption: "Gross cpu_total joules (Σpackage + Σdram) per generated token over the decode windows. ESTIMATED bars come from a TDP × utilisation model, not counters.".into(),
    }))
}

/// Percent less decode energy per token than FP16, with claim 3's published figures.
pub fn energy_reduction(runs: &[Loaded], claims: &[Claim]) -> Figure {
    let cells = cells::all(runs);
    let pairs = cells::pairs(&cells);
    let multi = runs.len() > 1;
    let title = "Energy reduction of ternary over FP16 (decode J/token)".to_string();
    let with: Vec<_> = pairs
        .iter()
        .filter(|p| p.energy_reduction_pct().is_some())
        .collect();
    if with.is_empty() {
        return Figure::Omitted(title, energy_missing(runs));
    }
    let tern: Vec<Cell> = with.iter().map(|p| p.tern).collect();
    let ms = models(&tern);
    let mut groups: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for p in &with {
        let v = p.energy_reduction_pct().expect("filtered");
        let x = ms
            .iter()
            .position(|m| m == &p.tern.cell.key.model)
            .unwrap_or(0) as f64;
        let k = format!(
            "{}{} {} thr",
            run_prefix(&p.tern, multi),
            p.tern.engine(),
            p.tern.cell.key.threads
        );
        let m = if p.estimated() {
            Mark::Estimated
        } else if p.sampled() {
            Mark::Sampled
        } else {
            Mark::Measured
        };
        groups.entry(k).or_default().push(Point {
            x,
            y: v,
            lo: None,
            hi: None,
            mark: m,
        });
    }
    Figure::Chart(Box::new(Chart {
        id: "energy_reduction".into(),
        title,
        x_label: "model (parameters)".into(),
        y_label: "% less J per token than FP16".into(),
        x: XAxis::Categories(model_labels(&tern, &ms)),
        series: collect(groups),
        reference_label: "published: i7-13700H, method undocumented (claim 3)".into(),
        references: published_for(claims, "3", &ms),
        percent: false,
        caption: "1 − ternary J/token ÷ FP16 J/token, medians of the same run and threads.".into(),
    }))
}

/// Fraction of the read-bandwidth roofline reached in decode.
pub fn roofline(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "Decode: fraction of the memory-bandwidth roofline reached".to_string();
    let with: Vec<Cell> = cells
        .iter()
        .filter(|c| c.cell.decode_roofline_fraction.is_some())
        .copied()
        .collect();
    if with.is_empty() {
        return Figure::Omitted(
            title,
            "no cell has a roofline fraction (it needs decode tokens/s, the bytes one decode step reads and the run's bandwidth measurement)".into(),
        );
    }
    let ms = models(&with);
    let mut groups: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for c in &with {
        let x = ms.iter().position(|m| m == &c.cell.key.model).unwrap_or(0) as f64;
        let y = c.cell.decode_roofline_fraction.expect("filtered");
        // The CI of tokens/s scales the fraction alike.
        let (lo, hi) = match (&c.cell.decode_tokens_per_s, c.decode()) {
            (Some(s), Some(m)) if m > 0.0 => (
                s.ci95_low.map(|l| y * l.max(0.0) / m),
                s.ci95_high.map(|h| y * h / m),
            ),
            _ => (None, None),
        };
        let k = format!(
            "{}{} {} thr {}",
            run_prefix(c, multi),
            c.engine(),
            c.cell.key.threads,
            c.cell.key.isa
        );
        groups.entry(k).or_default().push(Point {
            x,
            y,
            lo,
            hi,
            mark: mark(c, false),
        });
    }
    Figure::Chart(Box::new(Chart {
        id: "roofline".into(),
        title,
        x_label: "model (parameters)".into(),
        y_label: "tokens/s × bytes/token ÷ read bandwidth".into(),
        x: XAxis::Categories(model_labels(&with, &ms)),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: true,
        caption: "Median decode tokens/s × bytes one decode step reads ÷ the read bandwidth measured in the same run at the same threads (mean of before and after the sweep). Near 100%: memory-bound; well below: compute-bound.".into(),
    }))
}

/// p50 / p90 / p99 per-token decode latency per cell.
pub fn latency(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "Decode latency per token: p50 / p90 / p99".to_string();
    let with: Vec<Cell> = cells
        .iter()
        .filter(|c| c.cell.decode_latency_ms.is_some())
        .copied()
        .collect();
    if with.is_empty() {
        return Figure::Omitted(title, "no cell decoded tokens (no tg test)".into());
    }
    let mut cats = Vec::new();
    let mut groups: Vec<Series> = ["p50", "p90", "p99"]
        .iter()
        .map(|n| Series {
            name: (*n).to_string(),
            points: Vec::new(),
        })
        .collect();
    for (i, c) in with.iter().enumerate() {
        let p = c.cell.decode_latency_ms.as_ref().expect("filtered");
        let short_model = c.cell.key.model.trim_start_matches("bitnet-");
        cats.push(format!(
            "{}{} {} {}t",
            if multi {
                format!("#{} ", c.run.index)
            } else {
                String::new()
            },
            short_model,
            if c.cell.key.engine == "ternary" {
                "tern"
            } else {
                "fp16"
            },
            c.cell.key.threads
        ));
        for (s, v) in groups.iter_mut().zip([p.p50, p.p90, p.p99]) {
            s.points.push(Point {
                x: i as f64,
                y: v,
                lo: None,
                hi: None,
                mark: mark(c, false),
            });
        }
    }
    let groups: Vec<Series> = groups
        .into_iter()
        .map(|s| Series {
            name: series_name(s.name, &s.points),
            points: s.points,
        })
        .collect();
    Figure::Chart(Box::new(Chart {
        id: "latency".into(),
        title,
        x_label: "cell (model, engine, threads)".into(),
        y_label: "ms per token".into(),
        x: XAxis::Categories(cats),
        series: groups,
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        caption: "Percentiles over every decode step of every repetition of the cell.".into(),
    }))
}

/// Decode tokens/s per SIMD level.
pub fn simd(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "Decode tokens/s per SIMD level".to_string();
    let mut levels: Vec<String> = Vec::new();
    for c in &cells {
        if c.decode().is_some() && !levels.contains(&c.cell.key.isa) {
            levels.push(c.cell.key.isa.clone());
        }
    }
    if levels.len() < 2 {
        return Figure::Omitted(
            title,
            format!(
                "only one SIMD level was run ({}); set `isa = \"all\"` in the scenario to compare levels",
                levels.first().map_or("none", String::as_str)
            ),
        );
    }
    let mut groups: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for c in &cells {
        let Some(s) = c.cell.decode_tokens_per_s.as_ref() else {
            continue;
        };
        let x = levels
            .iter()
            .position(|l| l == &c.cell.key.isa)
            .unwrap_or(0) as f64;
        let k = format!(
            "{}{} {} {} thr",
            run_prefix(c, multi),
            c.cell.key.model,
            c.engine(),
            c.cell.key.threads
        );
        groups
            .entry(k)
            .or_default()
            .push(point(x, s, mark(c, false)));
    }
    Figure::Chart(Box::new(Chart {
        id: "simd".into(),
        title,
        x_label: "SIMD level".into(),
        y_label: "decode tokens/s (median, 95% CI)".into(),
        x: XAxis::Categories(levels),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        caption: "The same cells at each SIMD level the scenario ran.".into(),
    }))
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
        simd(runs),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart;
    use crate::report::testutil::{cell, run};

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
        let claims = crate::report::claims::load(None).unwrap();
        let Figure::Chart(c) = speedup(&[r], &claims) else {
            panic!("no chart")
        };
        assert_eq!(c.series.len(), 1);
        assert_eq!(c.series[0].points[0].y, 4.0);
        assert_eq!(c.references, vec![(0.0, 3.88)]);
    }
}
