//! A linear layer in any kernel format, and the activation buffers it reuses.
//!
//! Ternary layers (BitLinear, W1.58A8) quantise their input per token to int8 (`ActQ8`, exactly
//! BitNet's absmax rule) and run an `i2`/`tq1`/`tl` kernel, which applies `β/s`. The FP16 twin's
//! layers run the `f16` kernel on f32 activations. `q8` and `q4` serve the LM head.

use std::collections::HashMap;

use ternbench_kernels::{
    matmul, matmul_group, ActF32, ActQ8, F16Matrix, Format, I2Matrix, KernelSet, Op, Q4Matrix,
    Q8Matrix, ThreadPool, TlMatrix, Tq1Matrix,
};

use crate::error::EngineError;

/// A weight matrix (`rows` outputs × `cols` inputs) in one of the kernel formats.
#[derive(Debug)]
pub enum Linear {
    /// 2-bit ternary.
    I2(I2Matrix),
    /// base-3 ternary.
    Tq1(Tq1Matrix),
    /// lookup-table ternary.
    Tl(TlMatrix),
    /// int8 with row scales.
    Q8(Q8Matrix),
    /// 4-bit with block scales (the compact LM head).
    Q4(Q4Matrix),
    /// IEEE half.
    F16(F16Matrix),
}

impl Linear {
    /// Packs ternary values `w` (row-major, `rows × cols`) with scale β into `format`; `f16`
    /// stores the dequantised values `w·β`, `q8` quantises them per row.
    pub fn from_ternary(
        format: Format,
        rows: usize,
        cols: usize,
        w: &[i8],
        beta: f32,
    ) -> Result<Self, EngineError> {
        Ok(match format {
            Format::I2 => Linear::I2(I2Matrix::from_ternary(rows, cols, w, beta)?),
            Format::Tq1 => Linear::Tq1(Tq1Matrix::from_ternary(rows, cols, w, beta)?),
            Format::Tl => Linear::Tl(TlMatrix::from_ternary(rows, cols, w, beta)?),
            Format::F16 => {
                let f: Vec<f32> = w.iter().map(|&v| v as f32 * beta).collect();
                Linear::F16(F16Matrix::from_f32(rows, cols, &f)?)
            }
            Format::Q8 => {
                let f: Vec<f32> = w.iter().map(|&v| v as f32 * beta).collect();
                Linear::Q8(Q8Matrix::from_f32(rows, cols, &f)?)
            }
            Format::Q4 => {
                let f: Vec<f32> = w.iter().map(|&v| v as f32 * beta).collect();
                Linear::Q4(Q4Matrix::from_f32(rows, cols, &f)?)
            }
        })
    }

    /// The format.
    pub fn format(&self) -> Format {
        match self {
            Linear::I2(_) => Format::I2,
            Linear::Tq1(_) => Format::Tq1,
            Linear::Tl(_) => Format::Tl,
            Linear::Q8(_) => Format::Q8,
            Linear::Q4(_) => Format::Q4,
            Linear::F16(_) => Format::F16,
        }
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        match self {
            Linear::I2(m) => m.rows(),
            Linear::Tq1(m) => m.rows(),
            Linear::Tl(m) => m.rows(),
            Linear::Q8(m) => m.rows(),
            Linear::Q4(m) => m.rows(),
            Linear::F16(m) => m.rows(),
        }
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        match self {
            Linear::I2(m) => m.cols(),
            Linear::Tq1(m) => m.cols(),
            Linear::Tl(m) => m.cols(),
            Linear::Q8(m) => m.cols(),
            Linear::Q4(m) => m.cols(),
            Linear::F16(m) => m.cols(),
        }
    }

    /// Bytes one pass over the weights reads.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Linear::I2(m) => m.weight_bytes(),
            Linear::Tq1(m) => m.weight_bytes(),
            Linear::Tl(m) => m.weight_bytes(),
            Linear::Q8(m) => m.weight_bytes(),
            Linear::Q4(m) => m.weight_bytes(),
            Linear::F16(m) => m.weight_bytes(),
        }
    }
}

/// What a forward pass needs to run kernels: the level, the pool and the thread count.
#[derive(Debug, Clone, Copy)]
pub struct Exec<'a> {
    /// Kernels of the chosen SIMD level.
    pub ks: &'static KernelSet,
    /// The worker pool.
    pub pool: &'a ThreadPool,
    /// Threads per matmul.
    pub threads: usize,
}

/// Reusable activation buffers, keyed by shape.
#[derive(Debug, Default)]
pub struct ActBuffers {
    q8: HashMap<(usize, usize), ActQ8>,
    f32: HashMap<(usize, usize), ActF32>,
}

impl ActBuffers {
    /// The f32 activation buffer for `batch × cols`, holding `x`.
    fn f32_act(&mut self, x: &[f32], batch: usize, cols: usize) -> &ActF32 {
        let a = self
            .f32
            .entry((batch, cols))
            .or_insert_with(|| ActF32::new(&vec![0.0; batch * cols], batch, cols));
        a.set(x);
        a
    }

    /// The int8 activation buffer for `batch × cols`, holding `x` quantised.
    fn q8_act(&mut self, ks: &KernelSet, x: &[f32], batch: usize, cols: usize) -> &ActQ8 {
        let a = self
            .q8
            .entry((batch, cols))
            .or_insert_with(|| ActQ8::zeros(batch, cols));
        a.requantize_with(ks, x);
        a
    }

    /// [`Self::apply`] for a half matrix not wrapped in a [`Linear`] (the tied LM head, which
    /// borrows the embedding).
    pub fn apply_f16(
        &mut self,
        ex: Exec<'_>,
        m: &F16Matrix,
        x: &[f32],
        batch: usize,
        out: &mut [f32],
    ) -> Result<(), EngineError> {
        let a = self.f32_act(x, batch, m.cols());
        matmul(ex.ks, ex.pool, ex.threads, op_for(batch), m, a, out)?;
        Ok(())
    }

    /// `out[t*rows + r] = (W x_t)[r]` for `batch` tokens `x` (`batch × cols`, token-major).
    pub fn apply(
        &mut self,
        ex: Exec<'_>,
        lin: &Linear,
        x: &[f32],
        batch: usize,
        out: &mut [f32],
    ) -> Result<(), EngineError> {
        self.apply_group(ex, &[lin], x, batch, &mut [out])
    }

    /// [`Self::apply`] for layers sharing one input (q/k/v, gate/up): when all are in the same
    /// format the input is quantised once and the kernels run as one pool dispatch
    /// ([`matmul_group`]); mixed formats fall back to one group each. `outs[g]` gets layer
    /// `g`'s output.
    pub fn apply_group(
        &mut self,
        ex: Exec<'_>,
        lins: &[&Linear],
        x: &[f32],
        batch: usize,
        outs: &mut [&mut [f32]],
    ) -> Result<(), EngineError> {
        assert_eq!(lins.len(), outs.len(), "apply_group: layers vs outputs");
        let Some(first) = lins.first() else {
            return Ok(());
        };
        let cols = first.cols();
        debug_assert_eq!(x.len(), batch * cols);
        let same = lins
            .iter()
            .all(|l| l.format() == first.format() && l.cols() == cols);
        if !same {
            for (l, o) in lins.iter().zip(outs.iter_mut()) {
                self.apply(ex, l, x, batch, o)?;
            }
            return Ok(());
        }
        let op = op_for(batch);
        macro_rules! group {
            ($variant:ident, $act:expr) => {{
                let ms: Vec<_> = lins
                    .iter()
                    .map(|l| match l {
                        Linear::$variant(m) => m,
                        _ => unreachable!("formats checked equal"),
                    })
                    .collect();
                matmul_group(ex.ks, ex.pool, ex.threads, op, &ms, $act, outs)?
            }};
        }
        match first {
            Linear::F16(_) => group!(F16, self.f32_act(x, batch, cols)),
            Linear::I2(_) => group!(I2, self.q8_act(ex.ks, x, batch, cols)),
            Linear::Tq1(_) => group!(Tq1, self.q8_act(ex.ks, x, batch, cols)),
            Linear::Tl(_) => group!(Tl, self.q8_act(ex.ks, x, batch, cols)),
            Linear::Q8(_) => group!(Q8, self.q8_act(ex.ks, x, batch, cols)),
            Linear::Q4(_) => group!(Q4, self.q8_act(ex.ks, x, batch, cols)),
        }
        Ok(())
    }
}

/// One token at a time (decode) or tiled (prefill).
fn op_for(batch: usize) -> Op {
    if batch == 1 {
        Op::Gemv
    } else {
        Op::Gemm
    }
}
