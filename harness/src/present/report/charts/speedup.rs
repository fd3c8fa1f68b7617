//! Ternary ÷ FP16 decode speedup by model size, the shape of bitnet.cpp's published chart,
//! with claim 1's published figures as reference levels.

use std::collections::BTreeMap;

use super::{collect, model_labels, models, published_for, run_prefix, Figure};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::{Chart, Mark, Point, XAxis};
use crate::present::report::claims::Claim;
use crate::present::report::load::Loaded;

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
