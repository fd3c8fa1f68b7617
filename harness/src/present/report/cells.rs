//! The figures the report derives from cells: labels and flags, model sizes, and the
//! ternary-over-FP16 pairs (same run, model, SIMD level, threads and test).
//!
//! Flags travel with every figure drawn or tabled: `SAMPLED` (only some layers were built;
//! the figures are for those layers) and `ESTIMATED` (energy from a model, not a counter).

use crate::records::results::CellResult;
use crate::records::stats::{self, Estimate};

use super::load::Loaded;

/// A cell and the run it came from.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    /// The run.
    pub run: &'a Loaded,
    /// The cell.
    pub cell: &'a CellResult,
}

/// Every cell of every run, in order.
pub fn all(runs: &[Loaded]) -> Vec<Cell<'_>> {
    runs.iter()
        .flat_map(|r| r.run.cells.iter().map(move |c| Cell { run: r, cell: c }))
        .collect()
}

impl<'a> Cell<'a> {
    /// Whether only some layers were built.
    pub fn sampled(&self) -> bool {
        self.cell.sampled.is_some()
    }

    /// Whether the cell's energy is an estimate.
    pub fn estimated(&self) -> bool {
        self.cell
            .energy
            .as_ref()
            .is_some_and(|e| e.method == "estimated")
    }

    /// `SAMPLED 2/72 layers`, `ESTIMATED`, `NOISY`, joined.
    pub fn flags(&self) -> String {
        let mut f = Vec::new();
        if let Some(s) = &self.cell.sampled {
            f.push(format!(
                "SAMPLED {}/{} layers",
                s.layers_built, s.layers_total
            ));
        }
        if self.estimated() {
            f.push("ESTIMATED energy".into());
        }
        if self.cell.noisy {
            f.push("NOISY".into());
        }
        f.join("; ")
    }

    /// The engine as shown: `ternary i2 (head f16)`, `fp16`, or a peer with its file's type
    /// (`llama.cpp TQ2_0`).
    pub fn engine(&self) -> String {
        match self.cell.key.engine.as_str() {
            "ternary" => format!("ternary {}", self.cell.key.format),
            "fp16" => "fp16".into(),
            peer => format!("{peer} {}", self.cell.key.format),
        }
    }

    /// Parameters of the cell's model (from the run's model records).
    pub fn params(&self) -> Option<u64> {
        self.run
            .run
            .models
            .iter()
            .find(|m| m.model == self.cell.key.model)
            .map(|m| m.params)
    }

    /// The model with its size: `bitnet-700m (0.73B)`.
    pub fn model_label(&self) -> String {
        match self.params() {
            Some(p) => format!("{} ({})", self.cell.key.model, size_label(p)),
            None => self.cell.key.model.clone(),
        }
    }

    /// Median decode tokens/s.
    pub fn decode(&self) -> Option<f64> {
        self.cell.decode_tokens_per_s.as_ref().map(|s| s.median)
    }

    /// Median prefill tokens/s.
    pub fn prefill(&self) -> Option<f64> {
        self.cell.prefill_tokens_per_s.as_ref().map(|s| s.median)
    }

    /// Median gross decode J/token: measured, or ESTIMATED where [`Cell::estimated`].
    pub fn j_per_token(&self) -> Option<f64> {
        self.cell
            .energy
            .as_ref()
            .and_then(|e| e.decode_jpt())
            .map(|(s, _)| s.median)
    }

    /// Whether `other` has the same model, SIMD level, threads and test, in the same run.
    pub fn same_setup(&self, other: &Cell<'_>) -> bool {
        std::ptr::eq(self.run, other.run) && self.cell.same_setup(other.cell)
    }
}

/// `0.73B`, `125M`.
pub fn size_label(params: u64) -> String {
    let p = params as f64;
    if p >= 1e9 {
        format!("{:.2}B", p / 1e9)
    } else {
        format!("{:.0}M", p / 1e6)
    }
}

/// A ternary cell and its FP16 twin.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The ternary cell.
    pub tern: Cell<'a>,
    /// The FP16 cell of the same setup.
    pub fp16: Cell<'a>,
}

impl Pair<'_> {
    /// Ternary ÷ FP16 decode tokens/s, with the interval of the ratio from the repetitions.
    pub fn decode_speedup(&self) -> Option<Estimate> {
        self.tern.cell.tps_ratio(self.fp16.cell, true)
    }

    /// Ternary ÷ FP16 prefill tokens/s, with the interval of the ratio from the repetitions.
    pub fn prefill_speedup(&self) -> Option<Estimate> {
        self.tern.cell.tps_ratio(self.fp16.cell, false)
    }

    /// Ternary ÷ FP16 gross decode J/token, with the interval of the ratio where both cells
    /// kept their repetitions' energy.
    pub fn energy_ratio(&self) -> Option<Estimate> {
        let (t, f) = (
            self.tern.cell.energy.as_ref()?,
            self.fp16.cell.energy.as_ref()?,
        );
        let (ts, fs) = (
            &t.samples_decode_joules_per_token,
            &f.samples_decode_joules_per_token,
        );
        if !ts.is_empty() && !fs.is_empty() {
            return stats::ratio(ts, fs);
        }
        let (a, b) = (self.tern.j_per_token()?, self.fp16.j_per_token()?);
        (b > 0.0).then(|| Estimate {
            value: a / b,
            ci95_low: None,
            ci95_high: None,
            ci_level: None,
            method: stats::RATIO_CI.into(),
            n: 0,
            n_den: None,
            no_ci: Some("per-repetition energy is not in the results file: no interval".into()),
            clipped: None,
            note: None,
        })
    }

    /// Either side sampled.
    pub fn sampled(&self) -> bool {
        self.tern.sampled() || self.fp16.sampled()
    }

    /// Either side's energy estimated.
    pub fn estimated(&self) -> bool {
        self.tern.estimated() || self.fp16.estimated()
    }

    /// `2 thr, avx2, pp64+tg32`.
    pub fn setup(&self) -> String {
        let k = &self.tern.cell.key;
        format!("{} thr, {}, {}", k.threads, k.isa, k.test)
    }
}

/// Every ternary cell with an FP16 twin.
pub fn pairs<'a>(cells: &[Cell<'a>]) -> Vec<Pair<'a>> {
    cells
        .iter()
        .filter(|c| c.cell.key.engine == "ternary")
        .filter_map(|t| {
            cells
                .iter()
                .find(|f| f.cell.key.engine == "fp16" && f.same_setup(t))
                .map(|f| Pair { tern: *t, fp16: *f })
        })
        .collect()
}
