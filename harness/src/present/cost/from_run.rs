//! CPU (or measured GPU) figures from a results run (`results/<id>/run.json`): for one model and
//! engine, the decode cell to size from (at `--threads` when given): of the cells meeting the
//! per-stream latency target ([`super::slo`]), the one with the highest aggregate decode
//! tokens/s, which with batched cells is the largest batch whose streams still meet it; its
//! prefill figure from the same settings, and its J/token where the run measured or estimated
//! energy. When no cell meets the target, the one with the fastest streams, labelled as missing
//! it.
//!
//! Labels: `measured (run <id>, cell <cell id>: <median [95% CI]>)`, the cell as every command
//! shows it; a sampled cell's full-depth figure is `ESTIMATE (run <id>, cell <cell id>: K/N
//! layers built, scaled to full depth from the measured <median [95% CI]>)`; energy a run
//! estimated from a TDP model is `ESTIMATE (run <id>, cell <cell id>: TDP model)`.

use std::path::Path;

use crate::present::cost::model::Figure;
use crate::present::cost::slo::{self, Candidate, Miss, Slo};
use crate::records::results::{CellResult, RunFile};

/// What a run says about one engine of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuFigures {
    /// Decode tokens/s (median, or the full-depth estimate of a sampled cell).
    pub decode_tps: Figure,
    /// Prefill tokens/s from a cell with the same settings, if any.
    pub prefill_tps: Option<Figure>,
    /// Gross J per generated token, if the run has energy.
    pub decode_j_per_token: Option<Figure>,
    /// Gross J per prompt token, if the run has energy.
    pub prefill_j_per_token: Option<Figure>,
    /// The chosen cell's id.
    pub cell: String,
    /// Threads of the chosen cell.
    pub threads: usize,
    /// Sequences the chosen cell decodes together.
    pub batch: usize,
    /// How the latency target chose it (every candidate's figure).
    pub slo_summary: String,
    /// No cell meets the target: sized at the fastest streams, and labelled so.
    pub misses_slo: bool,
    /// Caveats (noisy cell, incomplete run, a mean latency held to a p99 target).
    pub notes: Vec<String>,
}

/// Reads `run.json` from a run folder or the file itself.
pub fn load_run(path: &Path) -> Result<RunFile, String> {
    let file = if path.is_dir() {
        path.join("run.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "--run {}: cannot read {}: {e}",
            path.display(),
            file.display()
        )
    })?;
    RunFile::parse(&text).map_err(|e| {
        format!(
            "--run {}: {} is not a ternbench run.json (schema {}): {e}",
            path.display(),
            file.display(),
            crate::records::results::SCHEMA_VERSION
        )
    })
}

/// Why the run has no energy figure, from its `energy` block.
pub fn energy_unavailable_reason(run: &RunFile) -> String {
    let reason = run
        .energy
        .get("reason")
        .and_then(|v| v.as_str())
        .unwrap_or("the run recorded no energy");
    format!("run {}: energy {}: {reason}", run.run_id, status_of(run))
}

fn status_of(run: &RunFile) -> String {
    run.energy
        .get("status")
        .and_then(|v| v.as_str())
        .unwrap_or("unavailable")
        .to_string()
}

/// Scale of a sampled cell to the full depth (`built / total`; 1 when not sampled).
fn depth_scale(c: &CellResult) -> Option<(usize, usize)> {
    c.sampled
        .as_ref()
        .filter(|s| s.layers_built < s.layers_total && s.layers_built > 0)
        .map(|s| (s.layers_built, s.layers_total))
}

fn decode_of(run: &RunFile, c: &CellResult) -> Option<Figure> {
    let s = c.decode_tokens_per_s.as_ref()?;
    let med = s.median;
    let id = c.key.id();
    Some(match depth_scale(c) {
        // The cell as every command shows it: median [95% CI].
        None => Figure::new(
            med,
            format!("measured (run {}, cell {id}: {})", run.run_id, s.show()),
        ),
        Some((b, t)) => Figure::new(
            c.decode_tokens_per_s_full_depth_estimate
                .unwrap_or(med * b as f64 / t as f64),
            format!(
                "ESTIMATE (run {}, cell {id}: {b}/{t} layers built, scaled to full depth from the measured {})",
                run.run_id,
                s.show()
            ),
        ),
    })
}

fn prefill_of(run: &RunFile, c: &CellResult) -> Option<Figure> {
    let s = c.prefill_tokens_per_s.as_ref()?;
    let med = s.median;
    let id = c.key.id();
    Some(match depth_scale(c) {
        None => Figure::new(
            med,
            format!("measured (run {}, cell {id}: {})", run.run_id, s.show()),
        ),
        Some((b, t)) => Figure::new(
            c.prefill_tokens_per_s_full_depth_estimate
                .unwrap_or(med * b as f64 / t as f64),
            format!(
                "ESTIMATE (run {}, cell {id}: {b}/{t} layers built, scaled to full depth from the measured {})",
                run.run_id,
                s.show()
            ),
        ),
    })
}

fn joules_of(run: &RunFile, c: &CellResult, decode: bool) -> Option<Figure> {
    let e = c.energy.as_ref()?;
    let (s, _) = if decode {
        e.decode_jpt()?
    } else {
        e.prefill_jpt()?
    };
    let id = c.key.id();
    let scale = depth_scale(c);
    let value = match scale {
        Some((b, t)) => s.median * t as f64 / b as f64,
        None => s.median,
    };
    let mut why = Vec::new();
    if e.method != "measured" {
        why.push(format!("{} energy", e.method));
    }
    if let Some((b, t)) = scale {
        why.push(format!("{b}/{t} layers built, scaled to full depth"));
    }
    let source = if why.is_empty() {
        format!("measured (run {}, cell {id}, gross)", run.run_id)
    } else {
        format!(
            "ESTIMATE (run {}, cell {id}, gross: {})",
            run.run_id,
            why.join("; ")
        )
    };
    Some(Figure::new(value, source))
}

fn list<T: ToString>(v: impl Iterator<Item = T>) -> String {
    let mut s: Vec<String> = v.map(|x| x.to_string()).collect();
    s.sort();
    s.dedup();
    s.join(", ")
}

/// The latency figures of a decode cell, as the target judges them (full-depth estimates for a
/// sampled cell: its rate scaled down and its step times up by total/built layers).
fn candidate(run: &RunFile, c: &CellResult) -> Option<Candidate> {
    let aggregate = decode_of(run, c)?.value;
    let batch = c.batch.max(1);
    let scale = depth_scale(c).map_or(1.0, |(b, t)| t as f64 / b as f64);
    Some(Candidate {
        batch,
        aggregate_tps: aggregate,
        per_stream_tps: aggregate / batch as f64,
        p99_ms: c.decode_latency_ms.as_ref().map(|p| p.p99 * scale),
        typical_ms: c.decode_latency_ms.as_ref().map(|p| p.p50 * scale),
        label: c.key.id(),
    })
}

/// The figures of `engine` (`ternary`, `fp16`, or `gpu-fp16` in a GPU run) for `model`, at
/// `threads` or any, sized at the cell `slo` allows (see the module doc).
pub fn pick(
    run: &RunFile,
    model: &str,
    engine: &str,
    threads: Option<usize>,
    target: &Slo,
) -> Result<CpuFigures, String> {
    let id = &run.run_id;
    let of_model: Vec<&CellResult> = run.cells.iter().filter(|c| c.key.model == model).collect();
    if of_model.is_empty() {
        return Err(format!(
            "--model {model}: run {id} has no cells for it; models in the run: {}",
            list(run.cells.iter().map(|c| c.key.model.clone()))
        ));
    }
    let of_engine: Vec<&CellResult> = of_model
        .iter()
        .copied()
        .filter(|c| c.key.engine == engine)
        .collect();
    if of_engine.is_empty() {
        return Err(format!(
            "run {id} has no {engine} cells for model {model} (engines there: {}); give the figures with --cpu-{engine}-decode-tps and --cpu-{engine}-prefill-tps instead",
            list(of_model.iter().map(|c| c.key.engine.clone()))
        ));
    }
    let at: Vec<&CellResult> = of_engine
        .iter()
        .copied()
        .filter(|c| threads.is_none_or(|t| c.key.threads == t))
        .collect();
    if at.is_empty() {
        return Err(format!(
            "--threads {}: run {id} has no {engine} cells for {model} at that thread count; threads there: {}",
            threads.unwrap_or(0),
            list(of_engine.iter().map(|c| c.key.threads))
        ));
    }
    let decoding: Vec<(&CellResult, Candidate)> = at
        .iter()
        .filter_map(|c| candidate(run, c).map(|k| (*c, k)))
        .collect();
    if decoding.is_empty() {
        return Err(format!(
            "run {id}: no {engine} cell of {model} has a decode figure (tests: {}); give --cpu-{engine}-decode-tps",
            list(at.iter().map(|c| c.key.test.clone()))
        ));
    }
    let cands: Vec<Candidate> = decoding.iter().map(|(_, k)| k.clone()).collect();
    let (index, slo_summary, misses_slo, slo_notes) = match slo::choose(&cands, target) {
        Ok(ch) => (ch.index, slo::summary(&cands, &ch, target), false, ch.notes),
        Err(Miss::NoneMeets(why)) => {
            let i = slo::fastest_stream(&cands).expect("candidates are not empty");
            let s = format!(
                "MISSES the latency target: {why}; sized at {}, its fastest streams",
                cands[i].name()
            );
            (i, s, true, Vec::new())
        }
        Err(Miss::NoFigure(why)) => return Err(format!("run {id}, {engine}: {why}")),
    };
    let cell = decoding[index].0;
    let decode = decode_of(run, cell).expect("a candidate has a decode figure");
    let decode = Figure::new(
        decode.value,
        format!(
            "{}; batch {}: {:.2} tokens/s per stream",
            decode.source,
            cell.batch.max(1),
            cands[index].per_stream_tps
        ),
    );
    let same = |c: &&CellResult| {
        c.key.format == cell.key.format
            && c.key.head == cell.key.head
            && c.key.isa == cell.key.isa
            && c.key.threads == cell.key.threads
    };
    // A prefill of the same settings: at the chosen batch (its prompts together), else any.
    let pre_cell = std::iter::once(cell)
        .chain(
            at.iter()
                .copied()
                .filter(same)
                .filter(|c| c.batch == cell.batch),
        )
        .chain(at.iter().copied().filter(same))
        .find(|c| c.prefill_tokens_per_s.is_some() && !c.key.test.contains("+head"));
    let mut notes = Vec::new();
    if run.status != "complete" {
        notes.push(format!("run {id} is not complete (status {})", run.status));
    }
    for c in std::iter::once(cell).chain(pre_cell) {
        if c.noisy {
            notes.push(format!(
                "cell {} is marked noisy in run {id} (its repetitions vary more than the scenario's max_cv)",
                c.key.id()
            ));
        }
    }
    notes.extend(slo_notes);
    notes.dedup();
    Ok(CpuFigures {
        decode_tps: decode,
        prefill_tps: pre_cell.and_then(|c| prefill_of(run, c)),
        decode_j_per_token: joules_of(run, cell, true),
        prefill_j_per_token: pre_cell.and_then(|c| joules_of(run, c, false)),
        cell: cell.key.id(),
        threads: cell.key.threads,
        batch: cell.batch.max(1),
        slo_summary,
        misses_slo,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::results::CellKey;
    use crate::records::results::{CellEnergy, Sampled};
    use crate::records::stats::Summary;

    fn cell(engine: &str, threads: usize, decode: f64, prefill: f64) -> CellResult {
        CellResult {
            key: CellKey {
                model: "m".into(),
                engine: engine.into(),
                format: if engine == "ternary" { "i2" } else { "f16" }.into(),
                head: "f16".into(),
                isa: "avx2".into(),
                threads,
                test: "pp64+tg32".into(),
            },
            n_prompt: 64,
            n_gen: 32,
            n_depth: 0,
            batch: 1,
            decode_tokens_per_s_per_stream: Summary::of(&[decode]),
            decode_peak_fraction: None,
            compute_peak: None,
            prefill_peak_fraction: None,
            sampled: None,
            repetitions: 3,
            load_seconds: None,
            decode_bytes_per_token: None,
            decode_kv_bytes_per_token: None,
            prefill_tokens_per_s: Summary::of(&[prefill]),
            decode_tokens_per_s: Summary::of(&[decode]),
            ttft_seconds: None,
            decode_latency_ms: None,
            peak_rss_bytes: None,
            decode_instructions_per_token: None,
            decode_cycles_per_token: None,
            decode_cache_misses_per_token: None,
            prefill_instructions_per_token: None,
            bandwidth_gbps: None,
            decode_roofline_fraction: None,
            decode_roofline: None,
            samples_decode_roofline_fraction: vec![],
            roofline_paired: false,
            decode_tokens_per_s_full_depth_estimate: None,
            prefill_tokens_per_s_full_depth_estimate: None,
            energy: None,
            noisy: false,
            samples_prefill_tokens_per_s: vec![],
            samples_decode_tokens_per_s: vec![],
            error: None,
        }
    }

    fn run(cells: Vec<CellResult>) -> RunFile {
        RunFile {
            schema_version: 1,
            run_id: "r1".into(),
            status: "complete".into(),
            ternbench_version: "0".into(),
            started_utc: String::new(),
            finished_utc: None,
            resumed: 0,
            scenario: crate::records::results::ScenarioInfo {
                name: "s".into(),
                description: String::new(),
                file: None,
                text: String::new(),
            },
            machine: serde_json::Value::Null,
            label: None,
            price_usd_per_hour: None,
            bandwidth: vec![],
            prefetch: Vec::new(),
            counters: serde_json::from_str(r#"{"status":"unavailable","reason":"x"}"#).unwrap(),
            energy: serde_json::json!({"status": "unavailable", "reason": "no counters"}),
            models: vec![],
            cells,
            notes: vec![],
        }
    }

    #[test]
    fn best_threads_and_labels() {
        let r = run(vec![
            cell("ternary", 1, 20.0, 50.0),
            cell("ternary", 2, 30.0, 80.0),
            cell("fp16", 1, 5.0, 40.0),
        ]);
        let f = pick(&r, "m", "ternary", None, &Slo::default()).unwrap();
        assert_eq!(f.threads, 2);
        assert_eq!(f.decode_tps.value, 30.0);
        assert_eq!(f.prefill_tps.unwrap().value, 80.0);
        assert!(f
            .decode_tps
            .source
            .starts_with("measured (run r1, cell m ternary/i2"));
        assert!(f.decode_j_per_token.is_none());
        let f = pick(&r, "m", "ternary", Some(1), &Slo::default()).unwrap();
        assert_eq!(f.decode_tps.value, 20.0);
        assert!(energy_unavailable_reason(&r).contains("no counters"));
    }

    #[test]
    fn prefill_from_a_separate_pp_cell_of_the_same_settings() {
        let mut tg = cell("ternary", 2, 30.0, 0.0);
        tg.key.test = "tg64".into();
        tg.prefill_tokens_per_s = None;
        let mut pp = cell("ternary", 2, 0.0, 80.0);
        pp.key.test = "pp128".into();
        pp.decode_tokens_per_s = None;
        let mut pp1 = cell("ternary", 1, 0.0, 99.0);
        pp1.key.test = "pp128".into();
        pp1.decode_tokens_per_s = None;
        let f = pick(
            &run(vec![pp1, tg, pp]),
            "m",
            "ternary",
            None,
            &Slo::default(),
        )
        .unwrap();
        assert_eq!(f.decode_tps.value, 30.0);
        let p = f.prefill_tps.unwrap();
        assert_eq!(p.value, 80.0);
        assert!(p.source.contains("pp128"), "{}", p.source);
    }

    #[test]
    fn missing_cells_are_named() {
        let r = run(vec![cell("ternary", 1, 20.0, 50.0)]);
        let e = pick(&r, "other", "ternary", None, &Slo::default()).unwrap_err();
        assert!(
            e.contains("--model other") && e.contains("models in the run: m"),
            "{e}"
        );
        let e = pick(&r, "m", "fp16", None, &Slo::default()).unwrap_err();
        assert!(
            e.contains("no fp16 cells") && e.contains("--cpu-fp16-decode-tps"),
            "{e}"
        );
        let e = pick(&r, "m", "ternary", Some(8), &Slo::default()).unwrap_err();
        assert!(
            e.contains("--threads 8") && e.contains("threads there: 1"),
            "{e}"
        );
    }

    #[test]
    fn sampled_and_energy() {
        let mut c = cell("ternary", 1, 20.0, 50.0);
        c.sampled = Some(Sampled {
            layers_built: 4,
            layers_total: 24,
        });
        c.decode_tokens_per_s_full_depth_estimate = Some(3.5);
        c.energy = Some(CellEnergy {
            method: "measured".into(),
            prefill_joules_per_token: Summary::of(&[0.1]),
            decode_joules_per_token: Summary::of(&[0.5]),
            decode_net_joules_per_token: None,
            decode_watts: None,
            ..Default::default()
        });
        let f = pick(&run(vec![c]), "m", "ternary", None, &Slo::default()).unwrap();
        assert_eq!(f.decode_tps.value, 3.5);
        assert!(
            f.decode_tps.source.starts_with("ESTIMATE"),
            "{}",
            f.decode_tps.source
        );
        // prefill has no stored estimate: scaled by built/total.
        assert!((f.prefill_tps.unwrap().value - 50.0 * 4.0 / 24.0).abs() < 1e-12);
        let j = f.decode_j_per_token.unwrap();
        assert!((j.value - 3.0).abs() < 1e-12); // 0.5 × 24/4
        assert!(j.source.starts_with("ESTIMATE"), "{}", j.source);
        // 3.5 tokens/s at full depth misses the default 5 per stream: kept, labelled.
        assert!(
            f.misses_slo && f.slo_summary.starts_with("MISSES"),
            "{}",
            f.slo_summary
        );
    }

    /// A batched sweep by hand: aggregate 17, 30, 48, 60, 64 tokens/s at batch 1, 2, 4, 8, 16
    /// (per stream 17, 15, 12, 7.5, 4); p99 60, 70, 90, 140, 260 ms per token.
    fn sweep() -> RunFile {
        let cells = [
            (1, 17.0, 60.0),
            (2, 30.0, 70.0),
            (4, 48.0, 90.0),
            (8, 60.0, 140.0),
            (16, 64.0, 260.0),
        ]
        .iter()
        .map(|&(b, agg, p99)| {
            let mut c = cell("ternary", 1, agg, 0.0);
            c.batch = b;
            c.key.test = if b > 1 {
                format!("tg32 @ b{b}")
            } else {
                "tg32".into()
            };
            c.prefill_tokens_per_s = None;
            c.decode_latency_ms = Some(crate::records::stats::Percentiles {
                n: 32,
                p50: p99 * 0.9,
                p90: p99 * 0.95,
                p99,
            });
            c
        })
        .collect();
        run(cells)
    }

    #[test]
    fn the_largest_batch_meeting_the_target_is_sized_from() {
        let r = sweep();
        // ≥ 5 tokens/s per stream: batch 8 (7.5) meets, 16 (4) misses.
        let f = pick(&r, "m", "ternary", None, &Slo::StreamTokensPerS(5.0)).unwrap();
        assert_eq!(
            (f.batch, f.decode_tps.value, f.misses_slo),
            (8, 60.0, false)
        );
        assert!(
            f.decode_tps
                .source
                .contains("batch 8: 7.50 tokens/s per stream"),
            "{}",
            f.decode_tps.source
        );
        assert!(
            f.slo_summary
                .starts_with("batch 8, the largest meeting ≥ 5 tokens/s per stream"),
            "{}",
            f.slo_summary
        );
        assert!(
            f.slo_summary
                .contains("batch 16: 4.00 tokens/s per stream misses"),
            "{}",
            f.slo_summary
        );
        // p99 ≤ 100 ms: batch 4.
        let f = pick(&r, "m", "ternary", None, &Slo::P99MsPerToken(100.0)).unwrap();
        assert_eq!((f.batch, f.decode_tps.value), (4, 48.0));
        // 3 per stream: everything meets, batch 16 has the most.
        let f = pick(&r, "m", "ternary", None, &Slo::StreamTokensPerS(3.0)).unwrap();
        assert_eq!(f.batch, 16);
        // 20 per stream: none meets; the fastest streams (batch 1), labelled.
        let f = pick(&r, "m", "ternary", None, &Slo::StreamTokensPerS(20.0)).unwrap();
        assert_eq!((f.batch, f.misses_slo), (1, true));
        assert!(
            f.slo_summary.contains("batch 16: 4.00 tokens/s per stream"),
            "{}",
            f.slo_summary
        );
    }
}
