//! The figures the report derives from cells: labels and flags, model sizes, and the
//! ternary-over-FP16 pairs (same run, model, SIMD level, threads and test).
//!
//! Flags travel with every figure drawn or tabled: `SAMPLED` (only some layers were built;
//! the figures are for those layers) and `ESTIMATED` (energy from a model, not a counter).

use crate::records::results::CellResult;

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

    /// The engine as shown: `ternary i2 (head f16)`, `fp16`.
    pub fn engine(&self) -> String {
        if self.cell.key.engine == "ternary" {
            format!("ternary {}", self.cell.key.format)
        } else {
            self.cell.key.engine.clone()
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

    /// Median gross decode J/token.
    pub fn j_per_token(&self) -> Option<f64> {
        self.cell
            .energy
            .as_ref()
            .and_then(|e| e.decode_joules_per_token.as_ref())
            .map(|s| s.median)
    }

    /// Whether `other` has the same model, SIMD level, threads and test, in the same run.
    pub fn same_setup(&self, other: &Cell<'_>) -> bool {
        std::ptr::eq(self.run, other.run)
            && self.cell.key.model == other.cell.key.model
            && self.cell.key.isa == other.cell.key.isa
            && self.cell.key.threads == other.cell.key.threads
            && self.cell.key.test == other.cell.key.test
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

/// A ratio of two medians with a conservative interval from the two 95% CIs (low ÷ high,
/// high ÷ low): wider than the ratio's own CI, never narrower.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// Median ÷ median.
    pub value: f64,
    /// Lower bound.
    pub lo: Option<f64>,
    /// Upper bound.
    pub hi: Option<f64>,
}

fn ratio(
    a: Option<&crate::records::stats::Summary>,
    b: Option<&crate::records::stats::Summary>,
) -> Option<Ratio> {
    let (a, b) = (a?, b?);
    if b.median <= 0.0 {
        return None;
    }
    let lo = match (a.ci95_low, b.ci95_high) {
        (Some(l), Some(h)) if h > 0.0 => Some(l.max(0.0) / h),
        _ => None,
    };
    let hi = match (a.ci95_high, b.ci95_low) {
        (Some(h), Some(l)) if l > 0.0 => Some(h / l),
        _ => None,
    };
    Some(Ratio {
        value: a.median / b.median,
        lo,
        hi,
    })
}

impl Pair<'_> {
    /// Ternary ÷ FP16 decode tokens/s.
    pub fn decode_speedup(&self) -> Option<Ratio> {
        ratio(
            self.tern.cell.decode_tokens_per_s.as_ref(),
            self.fp16.cell.decode_tokens_per_s.as_ref(),
        )
    }

    /// Ternary ÷ FP16 prefill tokens/s.
    pub fn prefill_speedup(&self) -> Option<Ratio> {
        ratio(
            self.tern.cell.prefill_tokens_per_s.as_ref(),
            self.fp16.cell.prefill_tokens_per_s.as_ref(),
        )
    }

    /// Percent less decode energy per token than FP16, `1 − tern ÷ fp16`.
    pub fn energy_reduction_pct(&self) -> Option<f64> {
        let (t, f) = (self.tern.j_per_token()?, self.fp16.j_per_token()?);
        (f > 0.0).then(|| (1.0 - t / f) * 100.0)
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
