//! CPU comparison: several runs of one scenario on different machines, side by side.
//!
//! Per run and per model × engine, the cell with the most threads (the machine at full use)
//! gives decode and prefill tokens/s, tokens/s per core (÷ the cores that cell used: its
//! threads, at most the machine's physical cores), tokens/s per watt (= tokens per joule,
//! where the run measured or estimated energy; estimates are labelled) and tokens per dollar
//! at the machine's hourly price (`ternbench run --price-per-hour`, or `report --price
//! RUN=USD_PER_HOUR`, which wins). Rows are grouped by machine (the run's `--label`, else its
//! CPU), and [`machine_notes`] says where labels and machines disagree: one label over
//! different CPUs, or different labels over one kind of machine, and where the runs' energy
//! totals differ in scope (DRAM in one, out of another: [`dram_note`]).

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
    /// Run label (`#2 c7i.xlarge`, or `#2 AMD EPYC (Zen 4)` without `--label`).
    pub label: String,
    /// The machine it groups under (its label, else its CPU).
    pub group: String,
    /// The CPU's name.
    pub cpu: String,
    /// Run id.
    pub run_id: String,
    /// Model.
    pub model: String,
    /// Engine.
    pub engine: String,
    /// Threads of the cell used.
    pub threads: usize,
    /// Cores of the machine (physical, else logical CPUs).
    pub cores: Option<f64>,
    /// Cores the cell used: its threads, at most the machine's cores.
    pub cores_used: Option<f64>,
    /// Median decode tokens/s.
    pub decode_tps: Option<f64>,
    /// Median prefill tokens/s.
    pub prefill_tps: Option<f64>,
    /// Decode tokens/s per core used.
    pub decode_tps_per_core: Option<f64>,
    /// Decode tokens/s per watt (tokens per joule), and whether it is an estimate.
    pub decode_tps_per_watt: Option<(f64, bool)>,
    /// Whether DRAM energy is in the run's measured totals (`None`: not measured, or unknown).
    pub dram_in_total: Option<bool>,
    /// USD per hour: `report --price`, else the run's `--price-per-hour`.
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
            let cores_used = cores.map(|n| n.min(c.cell.key.threads as f64));
            let decode = c.decode();
            let per_watt = c
                .j_per_token()
                .filter(|j| *j > 0.0)
                .map(|j| (1.0 / j, c.estimated()));
            let price = prices.get(&r.index).copied().or(r.run.price_usd_per_hour);
            out.push(Row {
                label: r.label(),
                group: r.group(),
                cpu: r.cpu(),
                run_id: r.run.run_id.clone(),
                model,
                engine,
                threads: c.cell.key.threads,
                cores,
                cores_used,
                decode_tps: decode,
                prefill_tps: c.prefill(),
                decode_tps_per_core: decode.zip(cores_used).map(|(d, n)| d / n),
                decode_tps_per_watt: per_watt,
                dram_in_total: r.run.dram_in_total(),
                usd_per_hour: price,
                decode_tokens_per_usd: decode.zip(price).map(|(d, p)| d * 3600.0 / p),
                flags: c.flags(),
                sampled: c.sampled(),
            });
        }
    }
    // Group by machine, in order of first appearance (a stable sort keeps run order within).
    let mut order: Vec<String> = Vec::new();
    for r in &out {
        if !order.contains(&r.group) {
            order.push(r.group.clone());
        }
    }
    out.sort_by_key(|r| order.iter().position(|g| g == &r.group));
    out
}

/// Where labels and machines disagree, one line each: one label over machines of different
/// kinds (its runs are not one machine's figures), several labels over one kind of machine
/// (one host or identical instances: runs made at once on one host share its cores and memory
/// bandwidth), and labels that several runs share (grouped in the comparison).
pub fn machine_notes(runs: &[Loaded]) -> Vec<String> {
    let mut by_label: BTreeMap<&str, Vec<&Loaded>> = BTreeMap::new();
    let mut by_machine: BTreeMap<String, Vec<&Loaded>> = BTreeMap::new();
    for r in runs {
        if let Some(l) = &r.run.label {
            by_label.entry(l.as_str()).or_default().push(r);
        }
        by_machine.entry(r.machine_key()).or_default().push(r);
    }
    let ids = |rs: &[&Loaded]| {
        rs.iter()
            .map(|r| format!("#{}", r.index))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    for (label, rs) in &by_label {
        let mut kinds: Vec<String> = rs.iter().map(|r| r.machine_key()).collect();
        kinds.sort();
        kinds.dedup();
        if kinds.len() > 1 {
            let each: Vec<String> = rs
                .iter()
                .map(|r| {
                    format!(
                        "#{} {} ({} CPUs)",
                        r.index,
                        r.cpu(),
                        r.machine_str("logical_cpus").unwrap_or_else(|| "?".into())
                    )
                })
                .collect();
            out.push(format!(
                "label \"{label}\" covers different machines: {}; its rows are not one machine's figures (an instance type can be served by several CPU generations: label them apart)",
                each.join("; ")
            ));
        } else if rs.len() > 1 {
            out.push(format!(
                "label \"{label}\": {} runs ({}), grouped together",
                rs.len(),
                ids(rs)
            ));
        }
    }
    for rs in by_machine.values() {
        let mut labels: Vec<&str> = rs.iter().filter_map(|r| r.run.label.as_deref()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() > 1 {
            out.push(format!(
                "{} ({}) report the same kind of machine ({}, {} CPUs, same ISA): one host or identical instances; runs made at the same time on one host share its cores and memory bandwidth",
                labels
                    .iter()
                    .map(|l| format!("\"{l}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                ids(rs),
                rs[0].cpu(),
                rs[0].machine_str("logical_cpus").unwrap_or_else(|| "?".into())
            ));
        }
    }
    if let Some(n) = dram_note(runs) {
        out.push(n);
    }
    out
}

/// Runs whose measured energy totals differ in scope (DRAM energy in one total, out of
/// another: machines expose different RAPL domains): their J/token and tokens per watt are not
/// like for like. `None` when every run with measured energy agrees.
pub fn dram_note(runs: &[Loaded]) -> Option<String> {
    let known: Vec<(&Loaded, bool)> = runs
        .iter()
        .filter_map(|r| r.run.dram_in_total().map(|d| (r, d)))
        .collect();
    if !known.iter().any(|(_, d)| *d) || known.iter().all(|(_, d)| *d) {
        return None;
    }
    let which = |want: bool| {
        known
            .iter()
            .filter(|(_, d)| *d == want)
            .map(|(r, _)| format!("#{}", r.index))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "energy is not like for like across these runs: DRAM energy is in the totals of {} (Σpackage + Σdram) and out of {} (package alone; no DRAM counter on that machine), so their J/token and tokens per watt differ in scope",
        which(true),
        which(false)
    ))
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
    let mut groups: BTreeMap<String, (String, Vec<Point>)> = BTreeMap::new();
    for r in rows {
        let Some((y, mark)) = value(r) else { continue };
        let x = cats.iter().position(|c| c == &r.label).unwrap_or(0) as f64;
        groups
            .entry(format!("{} {}", r.engine, r.model))
            .or_insert_with(|| (r.engine.clone(), Vec::new()))
            .1
            .push(Point::bare(x, y, mark));
    }
    if groups.is_empty() {
        return None;
    }
    // A machine without the figure says so under its (empty) slot.
    for (i, c) in cats.iter_mut().enumerate() {
        let has = groups
            .values()
            .any(|(_, pts)| pts.iter().any(|p| p.x == i as f64));
        if !has {
            c.push_str(&format!(" ({missing})"));
        }
    }
    let series = groups
        .into_iter()
        .map(|(k, (family, points))| {
            let mut name = k;
            if points.iter().all(|p| p.mark == Mark::Sampled) {
                name.push_str(" (SAMPLED)");
            }
            if points.iter().all(|p| p.mark == Mark::Estimated) {
                name.push_str(" (ESTIMATED)");
            }
            Series {
                name,
                family,
                points,
            }
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
        limit: None,
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
    let scopes: Vec<bool> = rows.iter().filter_map(|r| r.dram_in_total).collect();
    let per_watt_caption = format!(
        "Tokens/s per watt = tokens per joule (1 ÷ gross J/token). ESTIMATED bars come from a TDP model.{}",
        if scopes.contains(&true) && scopes.contains(&false) {
            " NOT LIKE FOR LIKE: DRAM energy is in some machines' totals and out of others' (see the table's DRAM column and the notes)."
        } else {
            ""
        }
    );
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
                "Median decode tokens/s at the highest thread count ÷ the cores it used (its threads, at most the machine's physical cores; logical CPUs where cores are unknown).",
                "cores unknown",
                |r| r.decode_tps_per_core.map(|v| (v, m(r)))),
            "Decode tokens/s per core",
            "no run recorded its core count",
        ),
        fig(
            bar_chart(rows, "cpu_per_watt", "Decode tokens/s per watt", "tokens per joule",
                &per_watt_caption,
                "energy unavailable",
                |r| r.decode_tps_per_watt.map(|(v, est)| (v, if est { Mark::Estimated } else { m(r) }))),
            "Decode tokens/s per watt",
            "no run measured or estimated energy",
        ),
        fig(
            bar_chart(rows, "cpu_per_dollar", "Decode tokens per dollar", "tokens per USD",
                "Median decode tokens/s × 3600 ÷ the machine's hourly price (ternbench run --price-per-hour, or report --price).",
                "no price",
                |r| r.decode_tokens_per_usd.map(|v| (v, m(r)))),
            "Decode tokens per dollar",
            "no price: run with --price-per-hour USD, or add --price RUN=USD_PER_HOUR to the report",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::testutil::{cell, run};

    fn measured(index: usize, cpu: &str, dram: Option<bool>) -> Loaded {
        let mut r = run(
            cpu,
            "measured",
            vec![cell(
                "bitnet-700m",
                "ternary",
                2,
                20.0,
                Some(("measured", 0.5)),
            )],
        );
        r.index = index;
        r.run.run_id = format!("r{index}");
        r.run.energy = serde_json::json!({"status": "measured", "source": "powercap"});
        if let Some(d) = dram {
            r.run.energy["dram_in_total"] = serde_json::Value::Bool(d);
        }
        r
    }

    #[test]
    fn runs_whose_energy_totals_differ_in_dram_scope_are_flagged() {
        let runs = [
            measured(1, "Intel Xeon", Some(true)),
            measured(2, "AMD EPYC", Some(false)),
            measured(3, "Intel Xeon", Some(true)),
        ];
        let notes = machine_notes(&runs);
        let n = notes
            .iter()
            .find(|n| n.starts_with("energy is not like for like"))
            .unwrap_or_else(|| panic!("no DRAM note: {notes:?}"));
        assert!(
            n.contains("DRAM energy is in the totals of #1, #3") && n.contains("out of #2"),
            "{n}"
        );
        // The table says each row's scope, and the per-watt chart's caption warns.
        let rows = rows(&runs, &BTreeMap::new());
        // (grouped by machine: the two Xeon runs first)
        assert_eq!(
            rows.iter().map(|r| r.dram_in_total).collect::<Vec<_>>(),
            [Some(true), Some(true), Some(false)]
        );
        let per_watt = charts(&rows)
            .into_iter()
            .find_map(|f| match f {
                Figure::Chart(c) if c.id == "cpu_per_watt" => Some(c),
                _ => None,
            })
            .expect("a per-watt chart");
        assert!(
            per_watt.caption.contains("NOT LIKE FOR LIKE"),
            "{}",
            per_watt.caption
        );

        // Agreeing runs, or runs without measured energy, raise nothing.
        let same = [
            measured(1, "Intel Xeon", Some(true)),
            measured(2, "AMD EPYC", Some(true)),
        ];
        assert_eq!(dram_note(&same), None);
        let mut unknown = measured(2, "AMD EPYC", None);
        unknown.run.energy = serde_json::json!({"status": "unavailable", "reason": "VM"});
        assert_eq!(
            dram_note(&[measured(1, "Intel Xeon", Some(false)), unknown]),
            None
        );
        let rows = super::rows(&same, &BTreeMap::new());
        assert!(!charts(&rows)
            .iter()
            .any(|f| matches!(f, Figure::Chart(c) if c.caption.contains("NOT LIKE FOR LIKE"))));
    }
}
