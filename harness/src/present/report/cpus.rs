//! CPU comparison: several runs of one scenario on different machines, side by side.
//!
//! Per run and per model × engine, the cell with the most threads (the machine at full use)
//! gives decode and prefill tokens/s, tokens/s per core, tokens/s per watt (= tokens per
//! joule, where the run measured or estimated energy; estimates are labelled) and tokens per
//! dollar when `--price RUN=USD_PER_HOUR` names the machine's hourly price.

use std::collections::BTreeMap;

use anyhow::Result;

use super::cells::{self, Cell};
use super::chart::{Chart, Mark, Point, Series, XAxis};
use super::charts::Figure;
use super::load::Loaded;
use crate::error::usage;

/// Parses `--price` values (`RUNID_OR_INDEX=USD_PER_HOUR`) into run index → USD per hour.
pub fn parse_prices(specs: &[String], runs: &[Loaded]) -> Result<BTreeMap<usize, f64>> {
    let mut out = BTreeMap::new();
    for s in specs {
        let Some((who, usd)) = s.split_once('=') else {
            return Err(usage(format!(
                "--price {s}: expected RUNID_OR_INDEX=USD_PER_HOUR, e.g. --price 1=0.085"
            )));
        };
        let usd: f64 = usd
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| {
                usage(format!(
                    "--price {s}: `{usd}` is not a positive number of dollars per hour"
                ))
            })?;
        let who = who.trim();
        let run = runs
            .iter()
            .find(|r| r.run.run_id == who || who.parse::<usize>().ok() == Some(r.index))
            .ok_or_else(|| {
                usage(format!(
                    "--price {s}: no run `{who}` (give a run id or an index 1..={})",
                    runs.len()
                ))
            })?;
        out.insert(run.index, usd);
    }
    Ok(out)
}

/// One machine's figures for one model and engine.
#[derive(Debug, Clone)]
pub struct Row {
    /// Run label (`#2 AMD EPYC (Zen 4)`).
    pub label: String,
    /// Run id.
    pub run_id: String,
    /// Model.
    pub model: String,
    /// Engine.
    pub engine: String,
    /// Threads of the cell used.
    pub threads: usize,
    /// Cores of the machine.
    pub cores: Option<f64>,
    /// Median decode tokens/s.
    pub decode_tps: Option<f64>,
    /// Median prefill tokens/s.
    pub prefill_tps: Option<f64>,
    /// Decode tokens/s per core.
    pub decode_tps_per_core: Option<f64>,
    /// Decode tokens/s per watt (tokens per joule), and whether it is an estimate.
    pub decode_tps_per_watt: Option<(f64, bool)>,
    /// USD per hour given with `--price`.
    pub usd_per_hour: Option<f64>,
    /// Decode tokens per dollar at that price.
    pub decode_tokens_per_usd: Option<f64>,
    /// SAMPLED and so on.
    pub flags: String,
    /// Whether the cell was sampled.
    pub sampled: bool,
}

/// The comparison rows.
pub fn rows(runs: &[Loaded], prices: &BTreeMap<usize, f64>) -> Vec<Row> {
    let mut out = Vec::new();
    for r in runs {
        let cells = cells::all(std::slice::from_ref(r));
        let mut best: BTreeMap<(String, String), Cell> = BTreeMap::new();
        for c in cells {
            let k = (c.cell.key.model.clone(), c.engine());
            let better = best
                .get(&k)
                .is_none_or(|b| c.cell.key.threads > b.cell.key.threads);
            if better && (c.decode().is_some() || c.prefill().is_some()) {
                best.insert(k, c);
            }
        }
        for ((model, engine), c) in best {
            let cores = r.cores();
            let decode = c.decode();
            let per_watt = c
                .j_per_token()
                .filter(|j| *j > 0.0)
                .map(|j| (1.0 / j, c.estimated()));
            let price = prices.get(&r.index).copied();
            out.push(Row {
                label: r.label(),
                run_id: r.run.run_id.clone(),
                model,
                engine,
                threads: c.cell.key.threads,
                cores,
                decode_tps: decode,
                prefill_tps: c.prefill(),
                decode_tps_per_core: decode.zip(cores).map(|(d, n)| d / n),
                decode_tps_per_watt: per_watt,
                usd_per_hour: price,
                decode_tokens_per_usd: decode.zip(price).map(|(d, p)| d * 3600.0 / p),
                flags: c.flags(),
                sampled: c.sampled(),
            });
        }
    }
    out
}

fn bar_chart(
    rows: &[Row],
    id: &str,
    title: &str,
    y_label: &str,
    caption: &str,
    missing: &str,
    value: impl Fn(&Row) -> Option<(f64, Mark)>,
) -> Option<Chart> {
    let mut cats: Vec<String> = Vec::new();
    for r in rows {
        if !cats.contains(&r.label) {
            cats.push(r.label.clone());
        }
    }
    let mut groups: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for r in rows {
        let Some((y, mark)) = value(r) else { continue };
        let x = cats.iter().position(|c| c == &r.label).unwrap_or(0) as f64;
        groups
            .entry(format!("{} {}", r.model, r.engine))
            .or_default()
            .push(Point {
                x,
                y,
                lo: None,
                hi: None,
                mark,
            });
    }
    if groups.is_empty() {
        return None;
    }
    // A machine without the figure says so under its (empty) slot.
    for (i, c) in cats.iter_mut().enumerate() {
        let has = groups
            .values()
            .any(|pts| pts.iter().any(|p| p.x == i as f64));
        if !has {
            c.push_str(&format!(" ({missing})"));
        }
    }
    let series = groups
        .into_iter()
        .map(|(k, points)| {
            let mut name = k;
            if points.iter().all(|p| p.mark == Mark::Sampled) {
                name.push_str(" (SAMPLED)");
            }
            if points.iter().all(|p| p.mark == Mark::Estimated) {
                name.push_str(" (ESTIMATED)");
            }
            Series { name, points }
        })
        .collect();
    Some(Chart {
        id: id.into(),
        title: title.into(),
        x_label: "machine (run)".into(),
        y_label: y_label.into(),
        x: XAxis::Categories(cats),
        series,
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        caption: caption.into(),
    })
}

/// The comparison's charts (only for two or more runs).
pub fn charts(rows: &[Row]) -> Vec<Figure> {
    let m = |r: &Row| {
        if r.sampled {
            Mark::Sampled
        } else {
            Mark::Measured
        }
    };
    let fig = |c: Option<Chart>, title: &str, why: &str| match c {
        Some(c) => Figure::Chart(Box::new(c)),
        None => Figure::Omitted(title.into(), why.into()),
    };
    vec![
        fig(
            bar_chart(rows, "cpu_decode", "Decode tokens/s per CPU", "decode tokens/s (median)",
                "Each machine at its highest thread count in the run.",
                "no decode",
                |r| r.decode_tps.map(|v| (v, m(r)))),
            "Decode tokens/s per CPU",
            "no run decoded tokens",
        ),
        fig(
            bar_chart(rows, "cpu_per_core", "Decode tokens/s per core", "decode tokens/s ÷ cores",
                "Median decode tokens/s at the highest thread count ÷ the machine's physical cores (logical CPUs where cores are unknown).",
                "cores unknown",
                |r| r.decode_tps_per_core.map(|v| (v, m(r)))),
            "Decode tokens/s per core",
            "no run recorded its core count",
        ),
        fig(
            bar_chart(rows, "cpu_per_watt", "Decode tokens/s per watt", "tokens per joule",
                "Tokens/s per watt = tokens per joule (1 ÷ gross J/token). ESTIMATED bars come from a TDP model.",
                "energy unavailable",
                |r| r.decode_tps_per_watt.map(|(v, est)| (v, if est { Mark::Estimated } else { m(r) }))),
            "Decode tokens/s per watt",
            "no run measured or estimated energy",
        ),
        fig(
            bar_chart(rows, "cpu_per_dollar", "Decode tokens per dollar", "tokens per USD",
                "Median decode tokens/s × 3600 ÷ the hourly price given with --price.",
                "no --price",
                |r| r.decode_tokens_per_usd.map(|v| (v, m(r)))),
            "Decode tokens per dollar",
            "no price given: add --price RUN=USD_PER_HOUR for each machine",
        ),
    ]
}
