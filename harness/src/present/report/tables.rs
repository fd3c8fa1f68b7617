//! The report's tables, shared by HTML and Markdown, and their CSV files.
//!
//! - `tables.csv`: one row per cell of every run (the figures drawn, with the labels SAMPLED /
//!   ESTIMATED spelled out in `labels`, `energy_method` and `sampled`).
//! - `claims.csv`: the claim reproduction rows.
//! - `cpus.csv`: the CPU comparison (several runs only).
//!
//! Also the machine block's key fields ([`machine_fields`]).

use super::cells::{self, Cell};
use super::load::Loaded;
use super::Report;
use crate::output::csv;
use crate::records::results::PrefetchChoice;
use crate::records::stats::Summary;

fn f(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// `41.66 [40.10, 43.02]` (median and its 95% CI), as every command prints a cell.
pub fn fmt_summary(s: Option<&Summary>) -> String {
    s.map_or_else(|| "-".into(), Summary::show)
}

/// The measured J/token column: the figure with DRAM in or out beside it, or why there is none
/// (an estimate has a column of its own, [`estimated_energy_cell`]).
fn energy_cell(c: &Cell<'_>) -> String {
    match &c.cell.energy {
        Some(e) if e.method == "estimated" => "-".into(),
        Some(e) => match e.measured_decode_jpt() {
            Some(j) => format!("{} ({})", j.show(), e.dram_label()),
            None => format!("- ({})", e.missing.as_deref().unwrap_or("no figure")),
        },
        None => "unavailable".into(),
    }
}

/// The ESTIMATED J/token column.
fn estimated_energy_cell(c: &Cell<'_>) -> String {
    match c
        .cell
        .energy
        .as_ref()
        .and_then(|e| e.estimated_decode_jpt())
    {
        Some(j) => format!("{} ESTIMATED", j.show()),
        None => "-".into(),
    }
}

/// Header of the cell table shown in HTML and Markdown.
pub const CELL_HEADER: &[&str] = &[
    "run",
    "model",
    "engine",
    "head",
    "isa",
    "threads",
    "test",
    "pp t/s median [95% CI]",
    "tg t/s median [95% CI]",
    "tg p50/p90/p99 ms",
    "roofline [95% CI]",
    "J/token measured",
    "J/token ESTIMATED",
    "ternary ÷ FP16 tg [95% CI]",
    "labels",
];

/// The cell table's rows.
pub fn cell_rows(report: &Report) -> Vec<Vec<String>> {
    let all = cells::all(&report.runs);
    let pairs = cells::pairs(&all);
    all.iter()
        .map(|c| {
            let sp = pairs
                .iter()
                .find(|p| std::ptr::eq(p.tern.cell, c.cell))
                .and_then(|p| p.decode_speedup())
                .map(|r| r.show(2, "x", false))
                .unwrap_or_else(|| "-".into());
            let mut tg = fmt_summary(c.cell.decode_tokens_per_s.as_ref());
            if let Some(e) = c.cell.decode_tokens_per_s_full_depth_estimate {
                tg.push_str(&format!(" (full depth ESTIMATE {e:.2})"));
            }
            vec![
                format!("#{}", c.run.index),
                c.model_label(),
                c.engine(),
                c.cell.key.head.clone(),
                c.cell.key.isa.clone(),
                c.cell.key.threads.to_string(),
                c.cell.key.test.clone(),
                fmt_summary(c.cell.prefill_tokens_per_s.as_ref()),
                tg,
                c.cell
                    .decode_latency_ms
                    .as_ref()
                    .map(|p| format!("{:.1}/{:.1}/{:.1}", p.p50, p.p90, p.p99))
                    .unwrap_or_else(|| "-".into()),
                c.cell
                    .roofline()
                    .map(|r| r.show(0, "%", true))
                    .unwrap_or_else(|| "-".into()),
                energy_cell(c),
                estimated_energy_cell(c),
                sp,
                c.flags(),
            ]
        })
        .collect()
}

/// `tables.csv`.
pub fn cells_csv(report: &Report) -> String {
    let all = cells::all(&report.runs);
    let pairs = cells::pairs(&all);
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|c| {
            let p = pairs.iter().find(|p| std::ptr::eq(p.tern.cell, c.cell));
            let s = |x: Option<&Summary>| -> [String; 3] {
                [
                    f(x.map(|s| s.median)),
                    f(x.and_then(|s| s.ci95_low)),
                    f(x.and_then(|s| s.ci95_high)),
                ]
            };
            let [pm, pl, ph] = s(c.cell.prefill_tokens_per_s.as_ref());
            let [dm, dl, dh] = s(c.cell.decode_tokens_per_s.as_ref());
            let lat = c.cell.decode_latency_ms.as_ref();
            let e = c.cell.energy.as_ref();
            vec![
                c.run.run.run_id.clone(),
                c.run.cpu(),
                c.cell.key.model.clone(),
                c.params().map(|p| p.to_string()).unwrap_or_default(),
                c.cell.key.engine.clone(),
                c.cell.key.format.clone(),
                c.cell.key.head.clone(),
                c.cell.key.isa.clone(),
                c.cell.key.threads.to_string(),
                c.cell.key.test.clone(),
                c.cell.n_prompt.to_string(),
                c.cell.n_gen.to_string(),
                c.cell.repetitions.to_string(),
                c.cell
                    .sampled
                    .as_ref()
                    .map(|s| format!("SAMPLED {}/{}", s.layers_built, s.layers_total))
                    .unwrap_or_default(),
                pm,
                pl,
                ph,
                dm,
                dl,
                dh,
                f(c.cell.decode_tokens_per_s_full_depth_estimate),
                f(lat.map(|l| l.p50)),
                f(lat.map(|l| l.p90)),
                f(lat.map(|l| l.p99)),
                f(c.cell.bandwidth_gbps),
                f(c.cell.decode_roofline_fraction),
                f(c.cell.roofline().and_then(|e| e.ci95_low)),
                f(c.cell.roofline().and_then(|e| e.ci95_high)),
                c.cell
                    .roofline()
                    .and_then(|e| e.clipped)
                    .unwrap_or_default(),
                match e {
                    Some(e) if e.method == "estimated" => "ESTIMATED".into(),
                    Some(e) => e.method.clone(),
                    None => "unavailable".into(),
                },
                f(e.and_then(|e| e.measured_decode_jpt()).map(|s| s.median)),
                f(e.and_then(|e| e.decode_net_joules_per_token.as_ref())
                    .map(|s| s.median)),
                e.and_then(|e| e.dram_in_total)
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                f(e.and_then(|e| e.estimated_decode_jpt()).map(|s| s.median)),
                f(p.and_then(|p| p.decode_speedup()).map(|r| r.value)),
                f(p.and_then(|p| p.decode_speedup()).and_then(|r| r.ci95_low)),
                f(p.and_then(|p| p.decode_speedup()).and_then(|r| r.ci95_high)),
                f(p.and_then(|p| p.prefill_speedup()).map(|r| r.value)),
                f(p.and_then(|p| p.prefill_speedup()).and_then(|r| r.ci95_low)),
                f(p.and_then(|p| p.prefill_speedup())
                    .and_then(|r| r.ci95_high)),
                c.cell.noisy.to_string(),
                c.flags(),
            ]
        })
        .collect();
    csv(
        &[
            "run_id",
            "cpu",
            "model",
            "params",
            "engine",
            "format",
            "head",
            "isa",
            "threads",
            "test",
            "n_prompt",
            "n_gen",
            "repetitions",
            "sampled",
            "prefill_tps_median",
            "prefill_tps_ci95_low",
            "prefill_tps_ci95_high",
            "decode_tps_median",
            "decode_tps_ci95_low",
            "decode_tps_ci95_high",
            "decode_tps_full_depth_estimate",
            "decode_latency_ms_p50",
            "decode_latency_ms_p90",
            "decode_latency_ms_p99",
            "bandwidth_gbps",
            "decode_roofline_fraction",
            "decode_roofline_ci95_low",
            "decode_roofline_ci95_high",
            "decode_roofline_clipped",
            "energy_method",
            "decode_j_per_token",
            "decode_net_j_per_token",
            "dram_in_total",
            "decode_j_per_token_ESTIMATED",
            "decode_speedup_vs_fp16",
            "decode_speedup_ci95_low",
            "decode_speedup_ci95_high",
            "prefill_speedup_vs_fp16",
            "prefill_speedup_ci95_low",
            "prefill_speedup_ci95_high",
            "noisy",
            "labels",
        ],
        &rows,
    )
}

/// Header of the claims table.
pub const CLAIM_HEADER: &[&str] = &[
    "#",
    "claim",
    "for",
    "published",
    "measured here",
    "verdict",
    "detail",
];

/// The claims table's rows.
pub fn claim_rows(report: &Report) -> Vec<Vec<String>> {
    report
        .claims
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.claim.clone(),
                r.item.clone(),
                r.published.clone(),
                r.measured.clone(),
                r.verdict.text(),
                r.detail.clone(),
            ]
        })
        .collect()
}

/// `claims.csv`.
pub fn claims_csv(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .claims
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.claim.clone(),
                r.source.clone(),
                r.item.clone(),
                r.published.clone(),
                r.measured.clone(),
                r.verdict.word().into(),
                r.verdict.text(),
                r.detail.clone(),
            ]
        })
        .collect();
    csv(
        &[
            "id",
            "claim",
            "source",
            "item",
            "published",
            "measured",
            "verdict",
            "reason",
            "detail",
        ],
        &rows,
    )
}

/// Header of the CPU comparison table.
pub const CPU_HEADER: &[&str] = &[
    "machine",
    "CPU",
    "model",
    "engine",
    "threads",
    "cores used",
    "tg t/s",
    "pp t/s",
    "tg t/s per core",
    "tg t/s per W",
    "USD/h",
    "tokens per USD",
    "labels",
];

/// The CPU comparison's rows.
pub fn cpu_rows(report: &Report) -> Vec<Vec<String>> {
    let g = |v: Option<f64>, d: usize| v.map_or("-".into(), |x| format!("{x:.d$}"));
    report
        .cpu_rows
        .iter()
        .map(|r| {
            vec![
                r.label.clone(),
                r.cpu.clone(),
                r.model.clone(),
                r.engine.clone(),
                r.threads.to_string(),
                match (r.cores_used, r.cores) {
                    (Some(u), Some(n)) => format!("{u:.0} of {n:.0}"),
                    _ => "-".into(),
                },
                g(r.decode_tps, 2),
                g(r.prefill_tps, 2),
                g(r.decode_tps_per_core, 2),
                match (r.decode_tps_per_watt, r.dram_in_total) {
                    (Some((v, true)), _) => format!("{v:.2} ESTIMATED"),
                    (Some((v, false)), Some(true)) => format!("{v:.2} (DRAM in)"),
                    (Some((v, false)), Some(false)) => format!("{v:.2} (DRAM out)"),
                    (Some((v, false)), None) => format!("{v:.2}"),
                    (None, _) => "energy unavailable".into(),
                },
                g(r.usd_per_hour, 3),
                r.decode_tokens_per_usd
                    .map_or("no price".into(), |v| format!("{v:.0}")),
                r.flags.clone(),
            ]
        })
        .collect()
}

/// `cpus.csv`.
pub fn cpus_csv(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .cpu_rows
        .iter()
        .map(|r| {
            vec![
                r.run_id.clone(),
                r.label.clone(),
                r.cpu.clone(),
                r.model.clone(),
                r.engine.clone(),
                r.threads.to_string(),
                f(r.cores),
                f(r.cores_used),
                f(r.decode_tps),
                f(r.prefill_tps),
                f(r.decode_tps_per_core),
                f(r.decode_tps_per_watt.map(|x| x.0)),
                r.decode_tps_per_watt
                    .map(|x| if x.1 { "ESTIMATED" } else { "measured" })
                    .unwrap_or("unavailable")
                    .into(),
                f(r.usd_per_hour),
                f(r.decode_tokens_per_usd),
                r.flags.clone(),
            ]
        })
        .collect();
    csv(
        &[
            "run_id",
            "machine",
            "cpu",
            "model",
            "engine",
            "threads",
            "cores",
            "cores_used",
            "decode_tps",
            "prefill_tps",
            "decode_tps_per_core",
            "decode_tps_per_watt",
            "energy_method",
            "usd_per_hour",
            "decode_tokens_per_usd",
            "labels",
        ],
        &rows,
    )
}

fn bytes_gib(v: Option<f64>) -> Option<String> {
    v.map(|b| format!("{:.1} GiB", b / (1u64 << 30) as f64))
}

/// The fingerprint's `busy_processes`: `rustc (36% of a CPU, pid 16841), …`, `none` when it
/// saw none, `None` for results written before the field existed.
fn busy_processes(r: &Loaded) -> Option<String> {
    let busy = r.run.machine.get("busy_processes")?.as_array()?;
    if busy.is_empty() {
        return Some(format!(
            "none (no other process used {}% of a CPU or more)",
            crate::records::fingerprint::os::BUSY_PERCENT
        ));
    }
    Some(
        busy.iter()
            .map(|p| {
                let pid = p
                    .get("pid")
                    .and_then(|v| v.as_u64())
                    .map_or(String::new(), |pid| format!(", pid {pid}"));
                format!(
                    "{} ({:.0}% of a CPU{pid})",
                    p.get("name").and_then(|n| n.as_str()).unwrap_or("?"),
                    p.get("cpu_percent").and_then(|c| c.as_f64()).unwrap_or(0.0)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The machine block: label and value of each key field the run recorded.
pub fn machine_fields(r: &Loaded) -> Vec<(&'static str, String)> {
    let s = |k: &str| r.machine_str(k);
    let mut v: Vec<(&'static str, Option<String>)> = vec![
        ("label (run --label)", r.run.label.clone()),
        (
            "price (run --price-per-hour)",
            r.run.price_usd_per_hour.map(|p| format!("{p} USD/hour")),
        ),
        ("CPU", Some(r.cpu())),
        ("codename", s("codename")),
        ("vendor", s("cpu_vendor")),
        (
            "cores / logical CPUs / sockets",
            Some(format!(
                "{} / {} / {}",
                s("physical_cores").unwrap_or_else(|| "?".into()),
                s("logical_cpus").unwrap_or_else(|| "?".into()),
                s("sockets").unwrap_or_else(|| "?".into())
            )),
        ),
        ("SMT", s("smt")),
        ("widest SIMD", r.isa_label()),
        ("L2 / L3 (cpu0)", {
            let kib = |k: &str| r.machine_num(k).map(|b| format!("{:.0} KiB", b / 1024.0));
            match (kib("l2_bytes"), kib("l3_bytes")) {
                (None, None) => None,
                (a, b) => Some(format!(
                    "{} / {}",
                    a.unwrap_or_else(|| "?".into()),
                    b.unwrap_or_else(|| "?".into())
                )),
            }
        }),
        ("memory", bytes_gib(r.machine_num("memory_bytes"))),
        (
            "read bandwidth in the run",
            (!r.run.bandwidth.is_empty()).then(|| {
                r.run
                    .bandwidth
                    .iter()
                    .map(|b| {
                        format!(
                            "{} thr {:.1}→{} GB/s",
                            b.threads,
                            b.before_gbps,
                            b.after_gbps.map_or("-".into(), |a| format!("{a:.1}"))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
        (
            "decode prefetch distance (--prefetch)",
            (!r.run.prefetch.is_empty()).then(|| {
                r.run
                    .prefetch
                    .iter()
                    .map(|c| {
                        let d = PrefetchChoice::distance_text(c.bytes);
                        let gain = c
                            .candidates
                            .iter()
                            .find(|k| k.bytes == c.bytes)
                            .zip(c.candidates.iter().find(|k| {
                                k.bytes == ternbench_engine::kernels::tune::DEFAULT_GEMV_PREFETCH
                            }))
                            .filter(|(_, d)| d.median_gbps > 0.0)
                            .map(|(w, d)| {
                                format!(
                                    ", {:.2}x the default's GB/s",
                                    w.median_gbps / d.median_gbps
                                )
                            })
                            .unwrap_or_default();
                        format!(
                            "{} {} {} thr {d} ({}{gain})",
                            c.format, c.isa, c.threads, c.source
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
        (
            "frequency policy",
            match (s("governor"), s("scaling_driver"), s("boost")) {
                (None, None, None) => None,
                (g, d, b) => Some(format!(
                    "governor {}, driver {}, boost {}",
                    g.unwrap_or_else(|| "?".into()),
                    d.unwrap_or_else(|| "?".into()),
                    b.unwrap_or_else(|| "?".into())
                )),
            },
        ),
        (
            "hypervisor",
            match (s("hypervisor"), s("hypervisor_vendor")) {
                (Some(h), v) if h == "true" => Some(v.unwrap_or_else(|| "yes".into())),
                (Some(h), _) => Some(h),
                _ => None,
            },
        ),
        ("load average (1 min)", s("load_avg_1m")),
        (
            "other busy processes (when the run started)",
            busy_processes(r),
        ),
        (
            "OS / kernel",
            match (s("os"), s("kernel_release")) {
                (None, None) => None,
                (o, k) => Some(format!(
                    "{} / {}",
                    o.unwrap_or_else(|| "?".into()),
                    k.unwrap_or_else(|| "?".into())
                )),
            },
        ),
        (
            "build",
            s("build_profile").map(|p| {
                format!(
                    "ternbench {} {p}, git {}{}, {}",
                    r.run.ternbench_version,
                    s("git_commit")
                        .map(|c| c.chars().take(10).collect::<String>())
                        .unwrap_or_else(|| "?".into()),
                    if s("git_dirty").as_deref() == Some("true") {
                        " (dirty)"
                    } else {
                        ""
                    },
                    s("rustc_version").unwrap_or_default()
                )
            }),
        ),
        // The full reason and its fix: once per run, here.
        ("energy", Some(r.energy_text())),
        (
            "counters",
            Some(match &r.run.counters {
                crate::records::counters::CounterStatus::Available { events } => events.join(", "),
                crate::records::counters::CounterStatus::Unavailable { reason } => {
                    format!("unavailable: {reason}")
                }
            }),
        ),
    ];
    if let Some(sm) = s("summary") {
        v.insert(0, ("summary", Some(sm)));
    }
    v.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::testutil::{cell, run};

    #[test]
    fn the_machine_block_labels_the_other_busy_processes() {
        let mut r = run(
            "CPU",
            "unavailable",
            vec![cell("bitnet-700m", "ternary", 1, 20.0, None)],
        );
        let key = "other busy processes (when the run started)";
        // Results written before the field: no row.
        assert!(!machine_fields(&r).iter().any(|(k, _)| *k == key));
        r.run.machine["busy_processes"] = serde_json::json!([
            {"name": "rustc", "pid": 16841, "cpu_percent": 36.4},
            {"name": "opt cgu.3", "pid": 17243, "cpu_percent": 18.2}
        ]);
        let f = machine_fields(&r);
        let (_, v) = f.iter().find(|(k, _)| *k == key).expect("the row");
        assert_eq!(
            v,
            "rustc (36% of a CPU, pid 16841), opt cgu.3 (18% of a CPU, pid 17243)"
        );
        r.run.machine["busy_processes"] = serde_json::json!([]);
        let f = machine_fields(&r);
        let (_, v) = f.iter().find(|(k, _)| *k == key).expect("the row");
        assert_eq!(v, "none (no other process used 5% of a CPU or more)");
    }
}
