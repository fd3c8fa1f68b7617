//! Energy charts: decode J/token and the reduction of ternary over FP16, by model size (or by
//! threads with one model), drawn only when a run has energy (else one short line; the reason
//! itself is in the run's verdict card); ESTIMATED energy is marked.

use super::{
    add, collect, energy_missing, estimate_point, mark, point, published_for, run_prefix, Figure,
    Groups, XDim,
};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::{Chart, Mark};
use crate::present::report::claims::Claim;
use crate::present::report::load::Loaded;

/// Decode J/token per model (or thread count) and engine.
pub fn joules(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "Decode energy per token".to_string();
    let with: Vec<Cell> = cells
        .iter()
        .filter(|c| {
            c.cell
                .energy
                .as_ref()
                .is_some_and(|e| e.decode_jpt().is_some())
        })
        .copied()
        .collect();
    if with.is_empty() {
        return Figure::Omitted(title, energy_missing(runs));
    }
    let xd = match XDim::pick(&with, "the J/token figures") {
        Ok(x) => x,
        Err(why) => return Figure::Omitted(title, why),
    };
    let mut groups = Groups::new();
    for c in &with {
        let s = c
            .cell
            .energy
            .as_ref()
            .and_then(|e| e.decode_jpt())
            .map(|(s, _)| s)
            .expect("filtered");
        let k = format!(
            "{}{}{} {}",
            run_prefix(c, multi),
            c.engine(),
            xd.threads_in_name(c),
            c.cell.key.isa
        );
        add(&mut groups, k, c.engine(), point(xd.x(c), s, mark(c, true)));
    }
    let (x, x_label) = xd.axis();
    Figure::Chart(Box::new(Chart {
        id: "joules_per_token".into(),
        title,
        x_label,
        y_label: "J per generated token (gross, median, 95% CI)".into(),
        x,
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        limit: None,
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
        .filter(|p| p.energy_ratio().is_some())
        .collect();
    if with.is_empty() {
        return Figure::Omitted(title, energy_missing(runs));
    }
    let tern: Vec<Cell> = with.iter().map(|p| p.tern).collect();
    let xd = match XDim::pick(&tern, "the reductions") {
        Ok(x) => x,
        Err(why) => return Figure::Omitted(title, why),
    };
    let mut groups = Groups::new();
    for p in &with {
        let r = p.energy_ratio().expect("filtered");
        // 1 − ratio, in percent; the interval turned round.
        let mut e = r.clone();
        e.value = (1.0 - r.value) * 100.0;
        e.ci95_low = r.ci95_high.map(|h| (1.0 - h) * 100.0);
        e.ci95_high = r.ci95_low.map(|l| (1.0 - l) * 100.0);
        let k = format!(
            "{}{}{}",
            run_prefix(&p.tern, multi),
            p.tern.engine(),
            xd.threads_in_name(&p.tern)
        );
        let m = if p.estimated() {
            Mark::Estimated
        } else if p.sampled() {
            Mark::Sampled
        } else {
            Mark::Measured
        };
        add(
            &mut groups,
            k,
            p.tern.engine(),
            estimate_point(xd.x(&p.tern), &e, m),
        );
    }
    let refs = published_for(claims, "3", &xd);
    let (x, x_label) = xd.axis();
    Figure::Chart(Box::new(Chart {
        id: "energy_reduction".into(),
        title,
        x_label,
        y_label: "% less J per token than FP16".into(),
        x,
        series: collect(groups),
        reference_label: if refs.is_empty() {
            String::new()
        } else {
            "published: i7-13700H, method undocumented (claim 3)".into()
        },
        references: refs,
        percent: false,
        limit: None,
        caption: "1 − ternary J/token ÷ FP16 J/token of the same run and threads, with the 95% CI of the ratio from both cells' repetitions.".into(),
    }))
}
