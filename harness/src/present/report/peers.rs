//! The peers side by side: every cell a peer (`[[peer]]`: llama.cpp, bitnet.cpp, any
//! llama-bench) measured, beside each of ternbench's cells on the same file, threads and test
//! in the same run, with tokens/s and their 95% CIs, the roofline fraction of decode, and the
//! ratio ternbench ÷ peer with the interval of the ratio from both cells' repetitions
//! ([`crate::records::stats::ratio`] through [`CellResult::tps_ratio`]).
//!
//! Also the pairs the claims section needs ([`program_pairs`]): a peer's ternary file (I2_S,
//! TL1, TL2, TQ*) over another peer's F16 file of the same model (same parameters and
//! layers), same threads and test: "bitnet.cpp ÷ llama.cpp FP16" measured here.

use crate::records::results::CellResult;
use crate::records::stats::Estimate;

use super::cells::{self, Cell};
use super::load::Loaded;
use super::tables::fmt_summary;

/// Whether a cell is a peer's (not one of ternbench's engines).
pub fn is_peer(c: &CellResult) -> bool {
    !matches!(c.key.engine.as_str(), "ternary" | "fp16")
}

/// Whether a cell's test times decode (else prefill).
fn decodes(c: &CellResult) -> bool {
    c.n_gen > 0
}

/// One row of the peer table: a peer cell and, where the run has one, a ternbench cell on the
/// same file, threads and test.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The peer's cell.
    pub peer: Cell<'a>,
    /// Ternbench's cell beside it.
    pub ours: Option<Cell<'a>>,
}

impl Row<'_> {
    /// Ternbench ÷ peer tokens/s (decode for a tg test, prefill for a pp test), with its 95%
    /// interval.
    pub fn ratio(&self) -> Option<Estimate> {
        let o = self.ours?;
        o.cell.tps_ratio(self.peer.cell, decodes(self.peer.cell))
    }
}

/// Every peer cell of every run, each beside every ternbench cell on the same file, threads
/// and test (one row per pair; a peer cell with no such cell gets a row of its own).
pub fn rows(runs: &[Loaded]) -> Vec<Row<'_>> {
    let all = cells::all(runs);
    let mut out = Vec::new();
    for p in all.iter().filter(|c| is_peer(c.cell)) {
        let ours: Vec<Cell> = all
            .iter()
            .filter(|o| {
                !is_peer(o.cell)
                    && std::ptr::eq(o.run, p.run)
                    && o.cell.key.model == p.cell.key.model
                    && o.cell.key.threads == p.cell.key.threads
                    && o.cell.key.test == p.cell.key.test
            })
            .copied()
            .collect();
        if ours.is_empty() {
            out.push(Row {
                peer: *p,
                ours: None,
            });
        }
        for o in ours {
            out.push(Row {
                peer: *p,
                ours: Some(o),
            });
        }
    }
    out
}

/// The file a cell ran, as shown: its name without the folder.
pub fn file_label(model: &str) -> String {
    std::path::Path::new(model)
        .file_name()
        .map_or_else(|| model.to_string(), |f| f.to_string_lossy().into_owned())
}

fn tps(c: &Cell<'_>) -> String {
    let s = if decodes(c.cell) {
        c.cell.decode_tokens_per_s.as_ref()
    } else {
        c.cell.prefill_tokens_per_s.as_ref()
    };
    match (&c.cell.error, s) {
        (Some(e), None) => format!("FAILED: {e}"),
        (Some(e), Some(s)) => format!("{} (then FAILED: {e})", s.show()),
        (None, s) => fmt_summary(s),
    }
}

fn roofline(c: &Cell<'_>) -> String {
    if !decodes(c.cell) {
        return "- (prefill)".into();
    }
    c.cell
        .roofline()
        .map_or_else(|| "-".into(), |r| r.show(0, "%", true))
}

/// Header of the peer table.
pub const HEADER: &[&str] = &[
    "run",
    "file",
    "threads",
    "test",
    "peer",
    "peer t/s [95% CI]",
    "peer roofline [95% CI]",
    "ternbench",
    "ternbench t/s [95% CI]",
    "ternbench roofline [95% CI]",
    "ternbench ÷ peer [95% CI]",
    "labels",
];

/// The peer table's rows.
pub fn table_rows(runs: &[Loaded]) -> Vec<Vec<String>> {
    rows(runs)
        .iter()
        .map(|r| {
            let k = &r.peer.cell.key;
            let mut labels = Vec::new();
            for c in std::iter::once(&r.peer).chain(r.ours.iter()) {
                let f = c.flags();
                if !f.is_empty() {
                    labels.push(format!("{}: {f}", c.engine()));
                }
            }
            vec![
                format!("#{}", r.peer.run.index),
                file_label(&k.model),
                k.threads.to_string(),
                k.test.clone(),
                r.peer.engine(),
                tps(&r.peer),
                roofline(&r.peer),
                r.ours.map_or("-".into(), |o| {
                    // A compact head re-packed from the file is named: the peer reads the
                    // file's own head, so the row compares two configurations of one model.
                    let head = &o.cell.key.head;
                    if head.is_empty() || head.eq_ignore_ascii_case("f16") {
                        format!("{} ({})", o.engine(), o.cell.key.isa)
                    } else {
                        format!("{}, head {head} ({})", o.engine(), o.cell.key.isa)
                    }
                }),
                r.ours.map_or("-".into(), |o| tps(&o)),
                r.ours.map_or("-".into(), |o| roofline(&o)),
                r.ratio()
                    .map_or_else(|| "-".into(), |e| e.show(2, "x", false)),
                labels.join("; "),
            ]
        })
        .collect()
}

/// `peers.csv`: the peer table with every figure in columns of its own.
pub fn csv(runs: &[Loaded]) -> String {
    let f = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    fn pick(c: &CellResult) -> Option<&crate::records::stats::Summary> {
        if decodes(c) {
            c.decode_tokens_per_s.as_ref()
        } else {
            c.prefill_tokens_per_s.as_ref()
        }
    }
    let rows: Vec<Vec<String>> = rows(runs)
        .iter()
        .map(|r| {
            let p = r.peer.cell;
            let o = r.ours.map(|o| o.cell);
            let ps = pick(p);
            let os = o.and_then(pick);
            let pr = decodes(p).then(|| p.roofline()).flatten();
            let or = o.filter(|o| decodes(o)).and_then(|o| o.roofline());
            let ratio = r.ratio();
            vec![
                r.peer.run.run.run_id.clone(),
                p.key.model.clone(),
                p.key.threads.to_string(),
                p.key.test.clone(),
                if decodes(p) { "decode" } else { "prefill" }.into(),
                p.key.engine.clone(),
                p.key.format.clone(),
                f(ps.map(|s| s.median)),
                f(ps.and_then(|s| s.ci95_low)),
                f(ps.and_then(|s| s.ci95_high)),
                f(pr.as_ref().map(|e| e.value)),
                f(pr.as_ref().and_then(|e| e.ci95_low)),
                f(pr.as_ref().and_then(|e| e.ci95_high)),
                o.map(|o| o.key.engine.clone()).unwrap_or_default(),
                o.map(|o| o.key.format.clone()).unwrap_or_default(),
                o.map(|o| o.key.isa.clone()).unwrap_or_default(),
                f(os.map(|s| s.median)),
                f(os.and_then(|s| s.ci95_low)),
                f(os.and_then(|s| s.ci95_high)),
                f(or.as_ref().map(|e| e.value)),
                f(or.as_ref().and_then(|e| e.ci95_low)),
                f(or.as_ref().and_then(|e| e.ci95_high)),
                f(ratio.as_ref().map(|e| e.value)),
                f(ratio.as_ref().and_then(|e| e.ci95_low)),
                f(ratio.as_ref().and_then(|e| e.ci95_high)),
                p.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    crate::output::csv(
        &[
            "run_id",
            "file",
            "threads",
            "test",
            "metric",
            "peer",
            "peer_format",
            "peer_tps_median",
            "peer_tps_ci95_low",
            "peer_tps_ci95_high",
            "peer_roofline",
            "peer_roofline_ci95_low",
            "peer_roofline_ci95_high",
            "ternbench_engine",
            "ternbench_format",
            "ternbench_isa",
            "ternbench_tps_median",
            "ternbench_tps_ci95_low",
            "ternbench_tps_ci95_high",
            "ternbench_roofline",
            "ternbench_roofline_ci95_low",
            "ternbench_roofline_ci95_high",
            "ternbench_over_peer",
            "ternbench_over_peer_ci95_low",
            "ternbench_over_peer_ci95_high",
            "peer_error",
        ],
        &rows,
    )
}

/// A peer's ternary file over another peer's F16 file of the same model, same threads and
/// test, in one run: the programs' own speedup measured here ("bitnet.cpp I2_S ÷ llama.cpp
/// F16"), with ternbench's ternary ÷ FP16 on the same two files beside it.
#[derive(Debug, Clone, Copy)]
pub struct ProgramPair<'a> {
    /// The ternary peer's cell (bitnet.cpp on I2_S).
    pub ternary: Cell<'a>,
    /// The F16 peer's cell (llama.cpp on F16).
    pub f16: Cell<'a>,
    /// Ternbench's ternary engine on the ternary peer's file (its `i2` format preferred).
    pub ours_ternary: Option<Cell<'a>>,
    /// Ternbench's FP16 engine on the F16 peer's file, at the same SIMD level.
    pub ours_fp16: Option<Cell<'a>>,
}

impl ProgramPair<'_> {
    /// The peers' ratio, decode or prefill.
    pub fn peers_ratio(&self, decode: bool) -> Option<Estimate> {
        self.ternary.cell.tps_ratio(self.f16.cell, decode)
    }

    /// Ternbench's ratio on the same files.
    pub fn ours_ratio(&self, decode: bool) -> Option<Estimate> {
        self.ours_ternary?
            .cell
            .tps_ratio(self.ours_fp16?.cell, decode)
    }

    /// Parameters of the model (from the run's model records).
    pub fn params(&self) -> Option<u64> {
        self.ternary.params()
    }

    /// `2 thr, tg64`.
    pub fn setup(&self) -> String {
        let k = &self.ternary.cell.key;
        format!("{} thr, {}", k.threads, k.test)
    }

    /// The activations of the two files' graphs, when they differ (`relu2` vs `silu`).
    pub fn activation_note(&self) -> Option<String> {
        let act = |c: &Cell<'_>| {
            c.run
                .run
                .models
                .iter()
                .find(|m| m.model == c.cell.key.model && m.engine == c.cell.key.engine)
                .map(|m| m.activation.clone())
        };
        match (act(&self.ternary), act(&self.f16)) {
            (Some(a), Some(b)) if a != b => Some(format!(
                "the two files' graphs differ in their FFN activation ({} {a}, {} {b}): same shape and weights",
                file_label(&self.ternary.cell.key.model),
                file_label(&self.f16.cell.key.model)
            )),
            _ => None,
        }
    }
}

/// Ternary peer formats: bitnet.cpp's and llama.cpp's ternary types.
fn ternary_format(f: &str) -> bool {
    matches!(
        f.to_ascii_uppercase().as_str(),
        "I2_S" | "TL1" | "TL2" | "TQ1_0" | "TQ2_0"
    )
}

/// The model's layers, from the run's model records.
fn layers(c: &Cell<'_>) -> Option<usize> {
    c.run
        .run
        .models
        .iter()
        .find(|m| m.model == c.cell.key.model)
        .map(|m| m.layers_total)
}

/// Every [`ProgramPair`] of one run: each cell of a peer on a ternary file whose program also
/// has a ternary-specific build (`I2_S`, `TL1`, `TL2` always; `TQ*` only when the peer name is
/// not the F16 peer's), over the cell of another peer on an F16 file of a model with the same
/// parameters and layers, at the same threads and test.
pub fn program_pairs(run: &Loaded) -> Vec<ProgramPair<'_>> {
    let all = cells::all(std::slice::from_ref(run));
    let peers: Vec<&Cell> = all.iter().filter(|c| is_peer(c.cell)).collect();
    let mut out = Vec::new();
    for t in peers.iter().filter(|c| {
        ternary_format(&c.cell.key.format) && !c.cell.key.format.to_uppercase().starts_with("TQ")
    }) {
        let Some(f) = peers
            .iter()
            .filter(|f| {
                f.cell.key.format.eq_ignore_ascii_case("F16")
                    && f.cell.key.engine != t.cell.key.engine
                    && f.cell.key.threads == t.cell.key.threads
                    && f.cell.key.test == t.cell.key.test
                    && f.params().is_some()
                    && f.params() == t.params()
                    && layers(f) == layers(t)
            })
            // llama.cpp itself first, when several F16 peers qualify.
            .min_by_key(|f| !f.cell.key.engine.to_lowercase().contains("llama"))
        else {
            continue;
        };
        let same = |o: &&Cell, model: &str, engine: &str| {
            o.cell.key.model == model
                && o.cell.key.engine == engine
                && o.cell.key.threads == t.cell.key.threads
                && o.cell.key.test == t.cell.key.test
        };
        let ours_ternary = all
            .iter()
            .filter(|o| same(o, &t.cell.key.model, "ternary"))
            .min_by_key(|o| o.cell.key.format != "i2")
            .copied();
        let ours_fp16 = ours_ternary.and_then(|ot| {
            all.iter()
                .find(|o| same(o, &f.cell.key.model, "fp16") && o.cell.key.isa == ot.cell.key.isa)
                .copied()
        });
        out.push(ProgramPair {
            ternary: **t,
            f16: **f,
            ours_ternary,
            ours_fp16,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::testutil::{cell_with, reps, run};
    use serde_json::{json, Value};

    fn at(mut c: Value, model: &str, format: &str, isa: &str, test: &str) -> Value {
        c["key"]["model"] = json!(model);
        c["key"]["format"] = json!(format);
        c["key"]["isa"] = json!(isa);
        c["key"]["test"] = json!(test);
        if test.starts_with("pp") {
            c["n_gen"] = json!(0);
        } else {
            c["n_prompt"] = json!(0);
        }
        c
    }

    fn with_models(mut l: Loaded, files: &[(&str, &str, &str)]) -> Loaded {
        l.run.models = files
            .iter()
            .map(|(m, e, act)| {
                serde_json::from_value(
                    json!({"model": m, "engine": e, "format": "x", "head": "F16",
                    "layers_built": 30, "layers_total": 30, "params": 2_400_000_000u64,
                    "weight_bytes": 1, "decode_bytes_per_token": 1,
                    "decode_bytes_per_token_full_depth": 1, "load_seconds": 1.0,
                    "activation": act}),
                )
                .unwrap()
            })
            .collect();
        l
    }

    #[test]
    fn each_peer_cell_sits_beside_ternbench_on_the_same_file_with_the_ratio() {
        let c = |e: &str, t: usize, v: f64, fmt: &str, test: &str| {
            let mut c = at(
                cell_with("f16.gguf", e, t, &reps(v), None),
                "f16.gguf",
                fmt,
                "avx2",
                test,
            );
            if e == "llama.cpp" {
                c["key"]["isa"] = json!("peer");
            }
            c
        };
        let l = run(
            "X",
            "unavailable",
            vec![
                c("llama.cpp", 1, 10.0, "F16", "tg64"),
                c("fp16", 1, 9.0, "f16", "tg64"),
                c("ternary", 1, 20.0, "i2", "tg64"),
                c("llama.cpp", 2, 18.0, "F16", "tg64"),
            ],
        );
        let runs = [l];
        let r = rows(&runs);
        assert_eq!(r.len(), 3, "two of ours at 1 thread, none at 2");
        let e = r[0].ratio().unwrap();
        assert!((e.value - 0.9).abs() < 1e-9, "{e:?}");
        assert!(e.ci().is_some());
        assert!(r[2].ours.is_none());
        let t = table_rows(&runs);
        assert_eq!(t[1][4], "llama.cpp F16");
        assert!(t[1][10].starts_with("2.00x ["), "{:?}", t[1]);
        assert_eq!(t[2][10], "-");
        // The ternbench column names the engine and level; the head only when it is not the
        // file's f16 (the peer reads the file's own head).
        assert!(!t[1][7].contains("head"), "{:?}", t[1]);
        let mut q4 = c("ternary", 1, 20.0, "i2", "tg64");
        q4["key"]["head"] = json!("q4");
        let l = run(
            "X",
            "unavailable",
            vec![c("llama.cpp", 1, 10.0, "F16", "tg64"), q4],
        );
        let t = table_rows(&[l]);
        assert!(t[0][7].contains(", head q4 ("), "{:?}", t[0]);
        let csv = csv(&runs);
        assert!(csv
            .lines()
            .next()
            .unwrap()
            .contains("ternbench_over_peer_ci95_low"));
        assert_eq!(csv.lines().count(), 4);
    }

    #[test]
    fn bitnet_cpp_over_llama_cpp_f16_pairs_files_of_the_same_model() {
        let c = |m: &str, e: &str, v: f64, fmt: &str, isa: &str| {
            at(cell_with(m, e, 2, &reps(v), None), m, fmt, isa, "tg64")
        };
        let l = with_models(
            run(
                "X",
                "unavailable",
                vec![
                    c("f16.gguf", "llama.cpp", 10.0, "F16", "peer"),
                    c("i2s.gguf", "bitnet.cpp", 15.0, "I2_S", "peer"),
                    c("tq2.gguf", "llama.cpp", 14.0, "TQ2_0", "peer"),
                    c("i2s.gguf", "ternary", 30.0, "i2", "avx2"),
                    c("i2s.gguf", "ternary", 28.0, "tq1", "avx2"),
                    c("f16.gguf", "fp16", 9.0, "f16", "avx2"),
                ],
            ),
            &[
                ("f16.gguf", "llama.cpp", "silu"),
                ("i2s.gguf", "bitnet.cpp", "relu2"),
                ("tq2.gguf", "llama.cpp", "silu"),
            ],
        );
        let p = program_pairs(&l);
        assert_eq!(p.len(), 1, "TQ2_0 in llama.cpp is not bitnet.cpp's claim");
        assert_eq!(p[0].f16.cell.key.engine, "llama.cpp");
        assert!((p[0].peers_ratio(true).unwrap().value - 1.5).abs() < 1e-9);
        let ours = p[0].ours_ratio(true).unwrap();
        assert!(
            (ours.value - 30.0 / 9.0).abs() < 1e-9,
            "i2 preferred: {ours:?}"
        );
        assert!(p[0].activation_note().unwrap().contains("relu2"));
    }
}
