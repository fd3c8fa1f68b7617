//! Ternary ÷ FP16 decode speedup by model size (the shape of bitnet.cpp's published chart, with
//! claim 1's published figures as reference levels), or by threads when the run has one model.

use super::{add, collect, estimate_point, published_for, run_prefix, Figure, Groups, XDim};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::{Chart, Mark};
use crate::present::report::claims::Claim;
use crate::present::report::load::Loaded;

/// Ternary ÷ FP16 decode speedup per model size (or per thread count), with claim 1's
/// published figures.
pub fn speedup(runs: &[Loaded], claims: &[Claim]) -> Figure {
    let cells = cells::all(runs);
    let pairs = cells::pairs(&cells);
    let multi = runs.len() > 1;
    let title = "Ternary speedup over FP16 (decode)".to_string();
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
    let xd = match XDim::pick(&tern_cells, "the ratios") {
        Ok(x) => x,
        Err(why) => return Figure::Omitted(title, why),
    };
    let mut groups = Groups::new();
    for p in &with {
        let r = p.decode_speedup().expect("filtered");
        let k = format!(
            "{}{} ÷ fp16{} {} {}",
            run_prefix(&p.tern, multi),
            p.tern.engine(),
            xd.threads_in_name(&p.tern),
            p.tern.cell.key.isa,
            p.tern.cell.key.test
        );
        let m = if p.sampled() {
            Mark::Sampled
        } else {
            Mark::Measured
        };
        add(
            &mut groups,
            k,
            p.tern.engine(),
            estimate_point(xd.x(&p.tern), &r, m),
        );
    }
    let refs = published_for(claims, "1", &xd);
    let (x, x_label) = xd.axis();
    Figure::Chart(Box::new(Chart {
        id: "speedup".into(),
        title,
        x_label,
        y_label: "ternary ÷ FP16 decode tokens/s".into(),
        x,
        series: collect(groups),
        reference_label: if refs.is_empty() {
            String::new()
        } else {
            "published: bitnet.cpp vs llama.cpp FP16, i7-13700H (claim 1; other hardware)".into()
        },
        references: refs,
        percent: false,
        limit: None,
        caption: "Ratio of median decode tokens/s, ternary over its FP16 twin, same run, threads, SIMD level and test. Error bars: the 95% CI of the ratio from both cells' repetitions (docs/method.md). Diamonds: published speedups on different hardware.".into(),
    }))
}
