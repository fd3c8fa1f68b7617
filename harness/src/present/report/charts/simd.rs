//! Decode tokens/s per SIMD level (drawn when the scenario ran more than one).

use super::{add, collect, mark, point, run_prefix, Figure, Groups};
use crate::present::report::cells;
use crate::present::report::chart::{Chart, XAxis};
use crate::present::report::load::Loaded;

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
    let mut groups = Groups::new();
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
            c.engine(),
            c.cell.key.model,
            c.cell.key.threads
        );
        add(&mut groups, k, c.engine(), point(x, s, mark(c, false)));
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
        limit: None,
        caption: "The same cells at each SIMD level the scenario ran.".into(),
    }))
}
