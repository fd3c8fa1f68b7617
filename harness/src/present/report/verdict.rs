//! The verdict card: the answer a run gives, above everything else in the report.
//!
//! Per run: one sentence (ternary ÷ FP16 decode and prefill at the run's widest setting, with
//! the 95% CIs of the ratios), a row per like-for-like pair (same model, SIMD level, threads and
//! test) with both ratios and both cells' roofline fractions, the energy (J/token per engine,
//! or one short line on why it is unavailable; the full reason and its fix are given once per
//! run, in the folded machine block), $/Mtok when `--price` names the machine's hourly price, and every label
//! that qualifies a figure (NOISY, SAMPLED, ESTIMATED, an interval clipped at a limit, too few
//! repetitions for an interval). Every ratio comes from [`crate::records::stats::ratio`], so the
//! card, the tables, the charts, `run` and `compare` print the same figures.

use std::collections::BTreeMap;

use super::cells::{self, Cell, Pair};
use super::load::Loaded;
use crate::records::stats::{fmt_num, Estimate};

/// One like-for-like pair of the card.
#[derive(Debug, Clone)]
pub struct PairRow {
    /// `bitnet-700m, 2 thr, avx2, pp64+tg32`.
    pub setup: String,
    /// Ternary ÷ FP16 decode tokens/s.
    pub decode: Option<Estimate>,
    /// Ternary ÷ FP16 prefill tokens/s.
    pub prefill: Option<Estimate>,
    /// The ternary cell's roofline fraction.
    pub roofline_ternary: Option<Estimate>,
    /// The FP16 cell's roofline fraction.
    pub roofline_fp16: Option<Estimate>,
    /// The ternary cell's decode tokens/s as shown everywhere (`14.44 [13.90, 14.80]`).
    pub decode_tps_ternary: String,
    /// The FP16 cell's.
    pub decode_tps_fp16: String,
}

/// The header of the card's like-for-like table (HTML and Markdown alike).
pub const ROW_HEADER: &[&str] = &[
    "like for like",
    "decode ternary ÷ FP16 [95% CI]",
    "prefill ternary ÷ FP16 [95% CI]",
    "decode t/s ternary",
    "decode t/s FP16",
    "roofline ternary",
    "roofline FP16",
];

impl PairRow {
    /// The row's cells under [`ROW_HEADER`], as text ("-" where a figure is missing).
    pub fn cells(&self) -> Vec<String> {
        let opt = |e: &Option<Estimate>, f: fn(&Estimate) -> String| {
            e.as_ref().map_or_else(|| "-".into(), f)
        };
        vec![
            self.setup.clone(),
            opt(&self.decode, ratio_text),
            opt(&self.prefill, ratio_text),
            self.decode_tps_ternary.clone(),
            self.decode_tps_fp16.clone(),
            opt(&self.roofline_ternary, roofline_text),
            opt(&self.roofline_fp16, roofline_text),
        ]
    }
}

/// The card of one run.
#[derive(Debug, Clone)]
pub struct Card {
    /// `#1 AMD EPYC 7763 (Zen 3)`.
    pub run_label: String,
    /// Run id.
    pub run_id: String,
    /// The scenario's name.
    pub scenario: String,
    /// The answer in one sentence.
    pub headline: String,
    /// One row per pair, widest setting first.
    pub rows: Vec<PairRow>,
    /// Energy: J/token per engine (DRAM in/out beside each), or one short line on why it is
    /// unavailable (the full reason is in the machine block, once per run).
    pub energy: String,
    /// What qualifies the energy figures, one line each: the counters' caveats (AMD, VM
    /// passthrough), an idle baseline that was NOT QUIET, IDLE DRIFT between the baselines, and
    /// the cells (or repetitions) without a figure, with why.
    pub energy_notes: Vec<String>,
    /// $/Mtok of decode when a price is known, else how to get it.
    pub cost: String,
    /// BUSY (other processes used the CPU when the run started), NOISY, SAMPLED, ESTIMATED,
    /// clipped intervals, missing intervals: one line each.
    pub labels: Vec<String>,
}

fn roofline(c: &Cell<'_>) -> Option<Estimate> {
    c.cell.roofline()
}

fn tps(c: &Cell<'_>) -> String {
    c.cell
        .decode_tokens_per_s
        .as_ref()
        .map_or_else(|| "-".into(), |s| s.show())
}

/// `2.37x [2.10x, 2.61x]`, or `2.37x (no CI: n=3 and 3: too few …)`.
pub fn ratio_text(e: &Estimate) -> String {
    match e.ci() {
        Some(_) => e.show(2, "x", false),
        None => format!(
            "{:.2}x (no CI: {})",
            e.value,
            e.no_ci.as_deref().unwrap_or("no interval")
        ),
    }
}

/// A roofline fraction: `62% [58%, 66%]`, marked when clipped.
pub fn roofline_text(e: &Estimate) -> String {
    e.show(0, "%", true)
}

/// `4.00x [3.92x, 4.08x] as fast as`, with a word when the CI includes 1x.
fn as_fast(e: &Estimate) -> String {
    let tie = match e.ci() {
        Some((l, h)) if l <= 1.0 && 1.0 <= h => " (no measurable difference: the CI includes 1x)",
        _ => "",
    };
    format!("{} as fast{tie}", ratio_text(e))
}

/// Builds the card of each run; `prices` maps run index → USD per hour.
pub fn cards(runs: &[Loaded], prices: &BTreeMap<usize, f64>) -> Vec<Card> {
    runs.iter().map(|r| card(r, prices.get(&r.index))).collect()
}

fn card(run: &Loaded, price: Option<&f64>) -> Card {
    let all = cells::all(std::slice::from_ref(run));
    let mut pairs: Vec<Pair> = cells::pairs(&all);
    // Widest setting first: most threads, then the model's order in the run.
    pairs.sort_by_key(|p| std::cmp::Reverse(p.tern.cell.key.threads));
    let rows: Vec<PairRow> = pairs
        .iter()
        .map(|p| PairRow {
            // The file's name (not its folder) and the ternary format: a run with i2 and tq1
            // has a row for each, and they must not read the same.
            setup: format!(
                "{}, ternary {}, {}",
                super::peers::file_label(&p.tern.cell.key.model),
                p.tern.cell.key.format,
                p.setup()
            ),
            decode: p.decode_speedup(),
            prefill: p.prefill_speedup(),
            roofline_ternary: roofline(&p.tern),
            roofline_fp16: roofline(&p.fp16),
            decode_tps_ternary: tps(&p.tern),
            decode_tps_fp16: tps(&p.fp16),
        })
        .collect();
    let headline = match (pairs.first(), rows.first()) {
        (Some(p), Some(r)) => {
            let k = &p.tern.cell.key;
            let mut s = format!(
                "{} at {} thread{} ({}, {}): ternary {} ",
                super::peers::file_label(&k.model),
                k.threads,
                if k.threads == 1 { "" } else { "s" },
                k.isa,
                k.test,
                k.format
            );
            match (&r.decode, &r.prefill) {
                (Some(d), Some(f)) => s.push_str(&format!(
                    "decodes {} as its FP16 twin, and prefills {}.",
                    as_fast(d),
                    as_fast(f)
                )),
                (Some(d), None) => s.push_str(&format!("decodes {} as its FP16 twin.", as_fast(d))),
                (None, Some(f)) => {
                    s.push_str(&format!("prefills {} as its FP16 twin.", as_fast(f)))
                }
                (None, None) => s.push_str("has no tokens/s to set beside its FP16 twin."),
            }
            s
        }
        _ => {
            let engines: Vec<String> = {
                let mut v: Vec<String> = all.iter().map(|c| c.engine()).collect();
                v.sort();
                v.dedup();
                v
            };
            format!(
                "No ternary cell has an FP16 twin at the same model, threads, SIMD level and test in this run (engines: {}): no ternary ÷ FP16 ratio. Add both engines to the scenario's `engines`.",
                if engines.is_empty() {
                    "none".into()
                } else {
                    engines.join(", ")
                }
            )
        }
    };
    Card {
        run_label: run.label(),
        run_id: run.run.run_id.clone(),
        scenario: run.run.scenario.name.clone(),
        headline,
        energy: energy_line(run, &pairs),
        energy_notes: energy_notes(run, &all),
        cost: cost_line(&pairs, price),
        labels: busy_label(run)
            .into_iter()
            .chain(weak_baseline(run))
            .chain(labels(&all))
            .collect(),
        rows,
    }
}

/// WEAK BASELINE: where the run measured a peer's F16 program on the same file, threads and
/// test as our FP16 twin, and the whole 95% CI of twin ÷ peer lies below 1x, the ternary ÷ FP16
/// ratios of the card are set against the slower FP16 program and overstate the gain over FP16
/// inference by up to 1 ÷ that ratio. Said on the card, where the ratios are read.
fn weak_baseline(run: &Loaded) -> Vec<String> {
    let mut out = Vec::new();
    for row in super::peers::rows(std::slice::from_ref(run)) {
        let Some(ours) = row.ours else { continue };
        if ours.cell.key.engine != "fp16" || !row.peer.cell.key.format.eq_ignore_ascii_case("f16") {
            continue;
        }
        let Some(e) = row.ratio() else { continue };
        let Some((_, high)) = e.ci() else { continue };
        if high >= 1.0 {
            continue;
        }
        let k = &row.peer.cell.key;
        let phase = if row.peer.cell.n_gen > 0 {
            "decodes"
        } else {
            "prefills"
        };
        out.push(format!(
            "WEAK BASELINE: our FP16 twin {phase} at {} the speed of {} F16 on the same file ({}, {} thr, {}), so the ternary ÷ FP16 {} ratios here overstate the gain over FP16 inference by up to {:.2}x; set ternary beside the peer instead (Peers side by side).",
            ratio_text(&e),
            k.engine,
            super::peers::file_label(&k.model),
            k.threads,
            k.test,
            if row.peer.cell.n_gen > 0 { "decode" } else { "prefill" },
            1.0 / e.value
        ));
    }
    out
}

fn energy_line(run: &Loaded, pairs: &[Pair]) -> String {
    match run.energy_status().as_str() {
        "unavailable" => format!(
            "{} (the full reason and how to fix it: Machine and scenario, below)",
            run.energy_brief()
        ),
        status => {
            let est = if status == "estimated" {
                " ESTIMATED (a model, not a measurement)"
            } else {
                ""
            };
            let per: Vec<String> = pairs
                .iter()
                .take(1)
                .flat_map(|p| [p.tern, p.fp16])
                .filter_map(|c| {
                    let e = c.cell.energy.as_ref()?;
                    let (j, est) = e.decode_jpt()?;
                    // DRAM in/out beside every measured J/token: the cell's own scope, else
                    // the run's (an estimate models no DRAM domain).
                    let dram = match (e.dram_label(), est, run.run.dram_in_total()) {
                        ("", false, Some(true)) => ", DRAM in".to_string(),
                        ("", false, Some(false)) => ", DRAM out".to_string(),
                        ("", ..) => String::new(),
                        (d, ..) => format!(", {d}"),
                    };
                    Some(format!("{} {} J/token{dram}", c.engine(), j.show()))
                })
                .collect();
            if per.is_empty() {
                format!("{} — no decode cell has energy", run.energy_text())
            } else {
                let ratio = pairs
                    .first()
                    .and_then(|p| p.energy_ratio())
                    .map(|r| format!("; ternary ÷ FP16 {}", ratio_text(&r)))
                    .unwrap_or_default();
                format!("decode energy{est}: {}{ratio}", per.join(", "))
            }
        }
    }
}

/// The energy notes of a run: each caveat, idle-baseline and missing-figure note once.
fn energy_notes(run: &Loaded, all: &[Cell<'_>]) -> Vec<String> {
    let e = &run.run.energy;
    let status = run.energy_status();
    let mut v: Vec<String> = Vec::new();
    let mut push = |n: String| {
        if !v.contains(&n) {
            v.push(n);
        }
    };
    if status == "measured" {
        match run.run.dram_in_total() {
            Some(true) => push(
                "DRAM in: the totals are Σpackage + Σdram (memory energy counted)".into(),
            ),
            Some(false) => push(
                "DRAM OUT: this machine exposes no DRAM counter, so the totals are the package alone, without memory energy; compare J/token only with runs that agree".into(),
            ),
            None => {}
        }
    }
    let strs = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect()
    };
    for c in strs(e.get("caveats")) {
        push(format!("caveat: {c}"));
    }
    for (key, when) in [
        ("idle", "before the sweep"),
        ("idle_end", "after the sweep"),
    ] {
        let Some(idle) = e.get(key) else { continue };
        if idle.get("quiet").and_then(|q| q.as_bool()) == Some(false) {
            let said = strs(idle.get("notes"))
                .into_iter()
                .find(|n| n.starts_with("NOT QUIET"));
            push(match said {
                Some(n) => format!("idle baseline {when}: {n}"),
                None => format!(
                    "idle baseline {when}: NOT QUIET: other processes used {} CPUs during it; their power is in the baseline",
                    idle.get("other_load_cpus")
                        .and_then(|o| o.as_f64())
                        .map_or("?".into(), |o| format!("{o:.2}"))
                ),
            });
        }
    }
    if let Some(n) = e
        .get("idle_drift")
        .and_then(|d| d.get("note"))
        .and_then(|n| n.as_str())
    {
        push(n.to_string());
    }
    if let Some(err) = e.get("idle_end_error").and_then(|n| n.as_str()) {
        push(format!(
            "no idle baseline after the sweep ({err}): drift could not be checked"
        ));
    }
    if status != "unavailable" {
        // Cells without a figure (or with some repetitions only), grouped by reason.
        let mut by_reason: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in all {
            let name = format!(
                "{} {} thr {}",
                c.engine(),
                c.cell.key.threads,
                c.cell.key.test
            );
            match c.cell.energy.as_ref() {
                None if c.cell.decode_tokens_per_s.is_some() => by_reason
                    .entry("no energy figure recorded".into())
                    .or_default()
                    .push(name),
                None => {}
                Some(ce) => {
                    let part = ce.decode_repetitions > 0
                        && ce.decode_repetitions_with_energy < ce.decode_repetitions;
                    let name = if part {
                        format!(
                            "{name} ({} of {} decode repetitions have a figure)",
                            ce.decode_repetitions_with_energy, ce.decode_repetitions
                        )
                    } else {
                        name
                    };
                    if let Some(m) = &ce.missing {
                        by_reason.entry(m.clone()).or_default().push(name);
                    } else if part {
                        by_reason
                            .entry("no reason recorded".into())
                            .or_default()
                            .push(name);
                    }
                }
            }
        }
        for (why, cells) in by_reason {
            push(format!("energy missing for {}: {why}", cells.join(", ")));
        }
    }
    v
}

/// BUSY: the processes the fingerprint saw using the CPU when the run started.
fn busy_label(run: &Loaded) -> Option<String> {
    let busy = run.run.machine.get("busy_processes")?.as_array()?;
    if busy.is_empty() {
        return None;
    }
    let each: Vec<String> = busy
        .iter()
        .take(3)
        .map(|p| {
            format!(
                "{} ({:.0}% of a CPU)",
                p.get("name").and_then(|n| n.as_str()).unwrap_or("?"),
                p.get("cpu_percent").and_then(|c| c.as_f64()).unwrap_or(0.0)
            )
        })
        .collect();
    let more = match busy.len().saturating_sub(3) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Some(format!(
        "BUSY: other processes used the CPU when the run started: {}{more}. They compete for cores and memory bandwidth: the figures may be slower and noisier than on a quiet machine (see 'other busy processes' under Machine and scenario).",
        each.join(", ")
    ))
}

fn cost_line(pairs: &[Pair], price: Option<&f64>) -> String {
    let Some(&usd) = price else {
        return "$/Mtok: give the machine's price with `ternbench report RUN --price 1=USD_PER_HOUR`.".into();
    };
    let Some(p) = pairs.first() else {
        return format!("${usd}/hour: no ternary/FP16 pair to price.");
    };
    // One stream decoding without pause: $ per million tokens = $/h ÷ (tokens/s · 3600) · 1e6.
    let per = |c: &Cell<'_>| -> Option<String> {
        let s = c.cell.decode_tokens_per_s.as_ref()?;
        let m = |t: f64| usd / (t * 3600.0) * 1e6;
        Some(match s.ci() {
            Some((l, h)) => format!(
                "{} ${} [{}, {}]",
                c.engine(),
                fmt_num(m(s.median)),
                fmt_num(m(h)),
                fmt_num(m(l))
            ),
            None => format!("{} ${} (no CI)", c.engine(), fmt_num(m(s.median))),
        })
    };
    let v: Vec<String> = [p.tern, p.fp16].iter().filter_map(per).collect();
    format!(
        "$/Mtok of decode at ${usd}/hour, one stream at {} thread(s), no batching: {}",
        p.tern.cell.key.threads,
        v.join(", ")
    )
}

fn labels(all: &[Cell<'_>]) -> Vec<String> {
    let mut v = Vec::new();
    let noisy: Vec<String> = all
        .iter()
        .filter(|c| c.cell.noisy)
        .map(|c| {
            let cv = c
                .cell
                .decode_tokens_per_s
                .as_ref()
                .or(c.cell.prefill_tokens_per_s.as_ref())
                .and_then(|s| s.cv)
                .map_or("?".into(), |cv| format!("{:.1}%", cv * 100.0));
            format!("{} {} thr (cv {cv})", c.engine(), c.cell.key.threads)
        })
        .collect();
    if !noisy.is_empty() {
        v.push(format!(
            "NOISY: {} vary by more than the scenario's max_cv between repetitions; no claim is reproduced on them. Rerun on a quieter machine or with more repetitions.",
            noisy.join(", ")
        ));
    }
    if let Some(c) = all.iter().find(|c| c.sampled()) {
        let s = c.cell.sampled.as_ref().expect("sampled");
        v.push(format!(
            "SAMPLED: {} built {}/{} layers; its figures are for those layers (full-depth figures are ESTIMATES).",
            c.cell.key.model, s.layers_built, s.layers_total
        ));
    }
    if all.iter().any(|c| c.estimated()) {
        v.push(
            "ESTIMATED: the energy figures come from a TDP × utilisation model, not counters."
                .into(),
        );
    }
    let clipped: Vec<(String, String)> = all
        .iter()
        .filter_map(|c| {
            let why = c.cell.roofline()?.clipped?;
            Some((format!("{} {} thr", c.engine(), c.cell.key.threads), why))
        })
        .collect();
    if !clipped.is_empty() {
        // The reason once: the part after the figures (`upper end 1.2 clipped to 1: <why>`).
        let why = clipped[0]
            .1
            .split_once(": ")
            .map_or(clipped[0].1.as_str(), |x| x.1);
        v.push(format!(
            "roofline CI clipped at 100% for {}: {why}.",
            clipped
                .iter()
                .map(|(c, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(note) = all.iter().find_map(|c| c.cell.roofline()?.note) {
        v.push(format!("roofline: {note}."));
    }
    let mut no_ci: Vec<String> = all
        .iter()
        .filter_map(|c| c.cell.decode_tokens_per_s.as_ref()?.no_ci_reason())
        .collect();
    no_ci.sort();
    no_ci.dedup();
    v.extend(no_ci);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::testutil::{cell, cell_with, run};

    #[test]
    fn the_card_answers_with_both_ratios_and_their_intervals() {
        let r = run(
            "AMD EPYC 7763",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 20.0, None),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
                cell("bitnet-700m", "ternary", 2, 40.0, None),
                cell("bitnet-700m", "fp16", 2, 16.0, None),
            ],
        );
        let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
        // The widest setting leads.
        assert!(
            c.headline.starts_with(
                "bitnet-700m at 2 threads (avx2, pp128+tg128): ternary i2 decodes 2.50x ["
            ),
            "{}",
            c.headline
        );
        assert!(
            c.headline
                .contains("x] as fast as its FP16 twin, and prefills 2.50x ["),
            "{}",
            c.headline
        );
        assert_eq!(c.rows.len(), 2);
        assert_eq!(
            c.rows[0].setup,
            "bitnet-700m, ternary i2, 2 thr, avx2, pp128+tg128"
        );
        // One short line on why energy is unavailable.
        assert_eq!(
            c.energy,
            "unavailable: no counters in this VM (the full reason and how to fix it: Machine and scenario, below)"
        );
        assert!(c.cost.contains("--price"), "{}", c.cost);
    }

    #[test]
    fn prices_give_dollars_per_million_tokens_and_labels_are_listed() {
        let noisy = [30.0, 44.0, 40.0, 52.0, 39.0, 41.0];
        let r = run(
            "CPU",
            "unavailable",
            vec![
                cell_with("bitnet-700m", "ternary", 1, &noisy, None),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
            ],
        );
        let prices = BTreeMap::from([(1, 0.36)]);
        let c = &cards(std::slice::from_ref(&r), &prices)[0];
        // $0.36/h at 10 tokens/s: 0.36 / 36000 · 1e6 = $10 per million tokens.
        assert!(c.cost.contains("fp16 $10.00 ["), "{}", c.cost);
        assert!(
            c.labels
                .iter()
                .any(|l| l.starts_with("NOISY: ternary i2 1 thr")),
            "{:?}",
            c.labels
        );
    }

    #[test]
    fn measured_energy_shows_dram_caveats_idle_notes_and_missing_cells() {
        let mut r = run(
            "AMD EPYC 7763",
            "measured",
            vec![
                cell("bitnet-700m", "ternary", 2, 40.0, Some(("measured", 0.5))),
                cell("bitnet-700m", "fp16", 2, 16.0, Some(("measured", 1.5))),
                cell("bitnet-700m", "ternary", 1, 20.0, Some(("measured", 0.6))),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
            ],
        );
        r.run.energy = serde_json::json!({
            "status": "measured", "source": "powercap", "dram_in_total": false,
            "caveats": ["AMD: the package counter includes the I/O die (RAPL on Zen)"],
            "idle": {"cpu_total_watts": 40.0, "quiet": false, "other_load_cpus": 0.8,
                     "notes": ["NOT QUIET: other processes used 0.80 CPUs during the 5.0 s idle window"]},
            "idle_end": {"cpu_total_watts": 52.0, "quiet": true, "notes": []},
            "idle_drift": {"start_watts": 40.0, "end_watts": 52.0, "relative": 0.3, "flagged": true,
                           "note": "IDLE DRIFT: idle power moved +30% during the run"}
        });
        // One cell lost a repetition's figure, one has none at all.
        {
            let e = r.run.cells[2].energy.as_mut().unwrap();
            e.decode_repetitions = 6;
            e.decode_repetitions_with_energy = 5;
            e.missing = Some("the counter wrapped twice in one window".into());
        }
        let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
        // DRAM in/out beside each J/token.
        assert!(
            c.energy.starts_with("decode energy: ternary i2 0.5000 [0.5000, 0.5000] J/token, DRAM out, fp16 1.50 [1.50, 1.50] J/token, DRAM out;"),
            "{}",
            c.energy
        );
        let notes = c.energy_notes.join("\n");
        for want in [
            "DRAM OUT: this machine exposes no DRAM counter",
            "caveat: AMD: the package counter includes the I/O die",
            "idle baseline before the sweep: NOT QUIET: other processes used 0.80 CPUs",
            "IDLE DRIFT: idle power moved +30%",
            "energy missing for ternary i2 1 thr pp128+tg128 (5 of 6 decode repetitions have a figure): the counter wrapped twice in one window",
            "energy missing for fp16 1 thr pp128+tg128: no energy figure recorded",
        ] {
            assert!(notes.contains(want), "{want:?} not in:\n{notes}");
        }
        assert!(!notes.contains("after the sweep: NOT QUIET"), "{notes}");
        // Each note once, in both formats; the HTML sets them under the energy line.
        assert_eq!(c.energy_notes.len(), 6, "{notes}");
        let mut h = String::new();
        crate::present::report::html::card_for_test(&mut h, c);
        assert!(h.contains("<ul class=\"notes\"><li>DRAM OUT"), "{h}");
        // Unavailable energy: the one short line, no per-cell notes.
        let u = run(
            "CPU",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 20.0, None),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
            ],
        );
        let c = &cards(std::slice::from_ref(&u), &BTreeMap::new())[0];
        assert!(c.energy_notes.is_empty(), "{:?}", c.energy_notes);
    }

    #[test]
    fn other_busy_processes_are_a_warning_on_the_card() {
        let mut r = run(
            "CPU",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 20.0, None),
                cell("bitnet-700m", "fp16", 1, 10.0, None),
            ],
        );
        let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
        assert!(
            !c.labels.iter().any(|l| l.starts_with("BUSY")),
            "{:?}",
            c.labels
        );
        r.run.machine["busy_processes"] = serde_json::json!([
            {"name": "rustc", "pid": 11, "cpu_percent": 96.2},
            {"name": "cc1plus", "pid": 12, "cpu_percent": 40.0},
            {"name": "rustc", "pid": 13, "cpu_percent": 33.3},
            {"name": "ld", "pid": 14, "cpu_percent": 6.0}
        ]);
        let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
        assert!(
            c.labels[0].starts_with(
                "BUSY: other processes used the CPU when the run started: rustc (96% of a CPU), cc1plus (40% of a CPU), rustc (33% of a CPU) and 1 more."
            ),
            "{:?}",
            c.labels
        );
        // An empty list (a quiet machine) warns of nothing.
        r.run.machine["busy_processes"] = serde_json::json!([]);
        let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
        assert!(!c.labels.iter().any(|l| l.starts_with("BUSY")));
    }

    #[test]
    fn a_slower_fp16_twin_than_the_peers_f16_is_a_weak_baseline_on_the_card() {
        let peer = |tg: f64| {
            let mut c = cell_with(
                "/m/x.f16.gguf",
                "llama.cpp",
                1,
                &[tg, tg * 1.01, tg * 0.99, tg * 1.02, tg * 0.98, tg],
                None,
            );
            c["key"]["format"] = serde_json::json!("F16");
            c["key"]["isa"] = serde_json::json!("peer");
            c
        };
        let ours = |engine: &str, tg: f64| {
            cell_with(
                "/m/x.f16.gguf",
                engine,
                1,
                &[tg, tg * 1.01, tg * 0.99, tg * 1.02, tg * 0.98, tg],
                None,
            )
        };
        // Our FP16 twin at 0.8x llama.cpp's F16: the card says the ratios are inflated.
        let r = run(
            "CPU",
            "unavailable",
            vec![ours("ternary", 20.0), ours("fp16", 4.0), peer(5.0)],
        );
        let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
        let weak: Vec<&String> = c
            .labels
            .iter()
            .filter(|l| l.starts_with("WEAK BASELINE"))
            .collect();
        assert_eq!(weak.len(), 1, "{:?}", c.labels);
        assert!(
            weak[0].contains("decodes at 0.80x [")
                && weak[0].contains("llama.cpp F16 on the same file (x.f16.gguf, 1 thr")
                && weak[0].contains("by up to 1.25x"),
            "{}",
            weak[0]
        );
        // As fast or faster (or a CI that reaches 1x): nothing to say.
        for tg in [4.0, 3.5] {
            let r = run(
                "CPU",
                "unavailable",
                vec![ours("ternary", 20.0), ours("fp16", 4.0), peer(tg)],
            );
            let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
            assert!(
                !c.labels.iter().any(|l| l.starts_with("WEAK BASELINE")),
                "{:?}",
                c.labels
            );
        }
    }

    #[test]
    fn a_run_without_twins_says_so() {
        let r = run(
            "CPU",
            "unavailable",
            vec![cell("bitnet-700m", "ternary", 1, 20.0, None)],
        );
        let c = &cards(std::slice::from_ref(&r), &BTreeMap::new())[0];
        assert!(
            c.headline.starts_with("No ternary cell has an FP16 twin"),
            "{}",
            c.headline
        );
        assert!(c.rows.is_empty());
    }
}
