//! Energy charts: decode J/token by model size and the reduction of ternary over FP16, drawn
//! only when a run has energy (else the run's reason); ESTIMATED energy is marked.

use std::collections::BTreeMap;

use super::{
    collect, energy_missing, mark, model_labels, models, point, published_for, run_prefix, Figure,
};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::{Chart, Mark, Point, XAxis};
use crate::present::report::claims::Claim;
use crate::present::report::load::Loaded;

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
