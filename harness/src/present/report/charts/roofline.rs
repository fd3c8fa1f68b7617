//! The fraction of the memory-bandwidth roofline reached in decode, per model and cell.

use std::collections::BTreeMap;

use super::{collect, mark, model_labels, models, run_prefix, Figure};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::{Chart, Point, XAxis};
use crate::present::report::load::Loaded;

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
