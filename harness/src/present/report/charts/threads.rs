//! Tokens/s against threads, prefill or decode, one line per model × engine × SIMD level × test.

use std::collections::BTreeMap;

use super::{collect, mark, point, run_prefix, Figure};
use crate::present::report::cells;
use crate::present::report::chart::{Chart, Point, XAxis};
use crate::present::report::load::Loaded;

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
