//! The BitNet b1.58 forward pass (anchors §2, Hugging Face `models/bitnet`), shared by the
//! ternary model and its FP16 twin — only the linear layers' format differs:
//!
//! ```text
//! x = embed[tokens]   (exact stored values when the f16 copy rounds them, see `EmbedRows`)
//! per layer:  h = RMSNorm(x);  q,k,v = BitLinear(h);  RoPE(q,k);  a = causal GQA attention
//!             a = attn_sub_norm(a);  x += o_proj(a)
//!             h = RMSNorm(x);  f = act(gate(h)) · up(h);  f = ffn_sub_norm(f);  x += down(f)
//! logits = RMSNorm(x) · embeddingᵀ   (tied head; full precision f16, or q8 when chosen)
//! ```
//! A batch of sequences ([`Model::forward_batch`]) runs the same graph with every sequence's
//! tokens stacked for the linear layers and attention per sequence (each its own cache).
//!
//! `act` is relu² for 2B4T and SiLU for the 1bitLLM-derived shapes (from the config). A layer
//! whose sub-norms are absent (`None`: Llama-architecture BitNet checkpoints) skips them.

pub mod attention;
pub mod norm;
pub mod rope;

use ternbench_kernels::ThreadPool;

use crate::config::Activation;
use crate::error::EngineError;
use crate::kv_cache::{KvCache, KvType};
use crate::linear::{ActBuffers, Exec};
use crate::weights::Weights;
use attention::{attend_seqs, AttnShape, SeqSpan};
use norm::{rms_norm, rms_norm_inplace};
use rope::Rope;

/// Which positions' logits a forward pass returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token's (generation).
    Last,
    /// Every token's (`ternbench logits`, golden tests).
    All,
    /// None (prefill timing of a prompt whose logits are not needed).
    None,
}

/// A model ready to run: weights plus RoPE tables.
#[derive(Debug)]
pub struct Model {
    /// The weights.
    pub weights: Weights,
    rope: Rope,
}

/// Per-sequence state: the KV cache and reusable buffers.
#[derive(Debug)]
pub struct Session {
    /// The cache.
    pub cache: KvCache,
    bufs: ActBuffers,
}

impl Model {
    /// Wraps weights; RoPE tables cover the config's context limit.
    pub fn new(weights: Weights) -> Self {
        let c = &weights.cfg;
        let rope = Rope::new(c.head_dim(), c.rope_theta, c.max_positions);
        Model { weights, rope }
    }

    /// A session whose cache holds `context` positions (at most the model's limit).
    pub fn session(&self, context: usize, kv: KvType) -> Result<Session, EngineError> {
        let c = &self.weights.cfg;
        if context > c.max_positions {
            return Err(EngineError::ContextFull {
                needed: context,
                limit: c.max_positions,
            });
        }
        Ok(Session {
            cache: KvCache::new(
                kv,
                self.weights.layers.len(),
                c.kv_heads,
                c.head_dim(),
                context,
            ),
            bufs: ActBuffers::default(),
        })
    }

    /// Runs `tokens` at the positions after the session's cache, appends their K/V, and returns
    /// the requested logits (`vocab` per returned position, position-major).
    pub fn forward(
        &self,
        ex: Exec<'_>,
        s: &mut Session,
        tokens: &[u32],
        want: Logits,
    ) -> Result<Vec<f32>, EngineError> {
        self.forward_batch(ex, std::slice::from_mut(s), &[tokens], want)
    }

    /// Runs several sequences together, as llama.cpp's `llama-batched-bench` does: sequence `i`
    /// runs `tokens[i]` at the positions after `sessions[i]`'s cache (each sequence has its own
    /// cache and position), in one forward pass whose linear layers take every sequence's tokens
    /// as one batch (`gemm`: each weight is read once per step for all of them) while attention
    /// stays per sequence. A batched decode step is one token per sequence.
    ///
    /// Returns the requested logits sequence by sequence (`vocab` per returned position): for
    /// [`Logits::Last`] one row per sequence, for [`Logits::All`] every token's row in order.
    /// The LM head runs once over all returned rows. The activation buffers are the first
    /// session's.
    ///
    /// Every sequence gets the same outputs it would get alone, up to the summation order of
    /// the float kernels: the ternary and q8 kernels are exact whatever the batch, and the f16
    /// kernels (the FP16 twin's layers, an f16 head) agree within their bound
    /// ([`ternbench_kernels::F16_TOL_FACTOR`]).
    ///
    /// Errors (before any cache changes) if `tokens` and `sessions` differ in length, a sequence
    /// has no tokens, a token is outside the vocabulary or a cache would overflow.
    pub fn forward_batch(
        &self,
        ex: Exec<'_>,
        sessions: &mut [Session],
        tokens: &[&[u32]],
        want: Logits,
    ) -> Result<Vec<f32>, EngineError> {
        let w = &self.weights;
        let c = &w.cfg;
        let (h, kvd, inter) = (c.hidden, c.kv_dim(), c.intermediate);
        if tokens.len() != sessions.len() || sessions.is_empty() {
            return Err(EngineError::BatchShape {
                sessions: sessions.len(),
                token_lists: tokens.len(),
            });
        }
        // Where each sequence's tokens lie in the batch, and its first position.
        let mut spans = Vec::with_capacity(tokens.len());
        let mut n = 0;
        for (i, (s, t)) in sessions.iter().zip(tokens).enumerate() {
            if t.is_empty() {
                return Err(EngineError::NoTokens { seq: i });
            }
            let pos0 = s.cache.len();
            if pos0 + t.len() > s.cache.capacity() {
                return Err(EngineError::ContextFull {
                    needed: pos0 + t.len(),
                    limit: s.cache.capacity(),
                });
            }
            if let Some((j, &id)) = t.iter().enumerate().find(|(_, &id)| id as usize >= c.vocab) {
                return Err(EngineError::BadToken {
                    id,
                    pos: pos0 + j,
                    vocab: c.vocab,
                });
            }
            spans.push((n, t.len(), pos0));
            n += t.len();
        }
        // Embedding gather.
        let mut x = vec![0f32; n * h];
        for (xr, &id) in x
            .chunks_exact_mut(h)
            .zip(tokens.iter().flat_map(|t| t.iter()))
        {
            match &w.embed_rows {
                Some(rows) => xr.copy_from_slice(&rows.row(id as usize)),
                None => {
                    let row = w.embed.row(id as usize);
                    for (o, &b) in xr.iter_mut().zip(row) {
                        *o = half::f16::from_bits(b).to_f32();
                    }
                }
            }
        }
        let mut hbuf = vec![0f32; n * h];
        let mut q = vec![0f32; n * h];
        let mut k = vec![0f32; n * kvd];
        let mut v = vec![0f32; n * kvd];
        let mut a = vec![0f32; n * h];
        let mut o = vec![0f32; n * h];
        let mut g = vec![0f32; n * inter];
        let mut u = vec![0f32; n * inter];
        let shape = AttnShape {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim(),
        };
        let (first, rest) = sessions.split_first_mut().expect("checked non-empty");
        let bufs = &mut first.bufs;
        let mut caches: Vec<&mut KvCache> = std::iter::once(&mut first.cache)
            .chain(rest.iter_mut().map(|s| &mut s.cache))
            .collect();
        for (li, l) in w.layers.iter().enumerate() {
            rms_norm(&x, &l.attn_norm, c.rms_eps, &mut hbuf);
            bufs.apply_group(
                ex,
                &[&l.q, &l.k, &l.v],
                &hbuf,
                n,
                &mut [&mut q, &mut k, &mut v],
            )?;
            for (cache, &(t0, len, pos0)) in caches.iter_mut().zip(&spans) {
                for t in t0..t0 + len {
                    let pos = pos0 + t - t0;
                    self.rope.apply(&mut q[t * h..(t + 1) * h], pos);
                    self.rope.apply(&mut k[t * kvd..(t + 1) * kvd], pos);
                    cache.put(
                        li,
                        pos,
                        &k[t * kvd..(t + 1) * kvd],
                        &v[t * kvd..(t + 1) * kvd],
                    );
                }
            }
            let seqs: Vec<SeqSpan<'_>> = caches
                .iter()
                .zip(&spans)
                .map(|(cache, &(first, tokens, pos0))| SeqSpan {
                    cache,
                    first,
                    tokens,
                    pos0,
                })
                .collect();
            attend_seqs(ex, shape, li, &seqs, &q, &mut a);
            if let Some(w) = &l.attn_sub_norm {
                rms_norm_inplace(&mut a, w, c.rms_eps);
            }
            bufs.apply(ex, &l.o, &a, n, &mut o)?;
            x.iter_mut().zip(&o).for_each(|(xv, ov)| *xv += ov);

            rms_norm(&x, &l.ffn_norm, c.rms_eps, &mut hbuf);
            bufs.apply_group(ex, &[&l.gate, &l.up], &hbuf, n, &mut [&mut g, &mut u])?;
            match c.act {
                Activation::Relu2 => g.iter_mut().zip(&u).for_each(|(gv, uv)| {
                    let r = gv.max(0.0);
                    *gv = r * r * uv;
                }),
                Activation::Silu => g.iter_mut().zip(&u).for_each(|(gv, uv)| {
                    *gv = *gv / (1.0 + (-*gv).exp()) * uv;
                }),
            }
            if let Some(w) = &l.ffn_sub_norm {
                rms_norm_inplace(&mut g, w, c.rms_eps);
            }
            bufs.apply(ex, &l.down, &g, n, &mut o)?;
            x.iter_mut().zip(&o).for_each(|(xv, ov)| *xv += ov);
        }
        for (cache, &(_, len, pos0)) in caches.iter_mut().zip(&spans) {
            cache.set_len(pos0 + len);
        }
        // The rows whose logits are wanted, back to back.
        let rows: std::borrow::Cow<'_, [f32]> = match want {
            Logits::None => return Ok(Vec::new()),
            Logits::All => std::borrow::Cow::Borrowed(&x),
            Logits::Last if spans.len() == 1 => std::borrow::Cow::Borrowed(&x[(n - 1) * h..]),
            Logits::Last => std::borrow::Cow::Owned(
                spans
                    .iter()
                    .flat_map(|&(t0, len, _)| &x[(t0 + len - 1) * h..(t0 + len) * h])
                    .copied()
                    .collect(),
            ),
        };
        let m = rows.len() / h;
        let mut xn = vec![0f32; rows.len()];
        rms_norm(&rows, &w.final_norm, c.rms_eps, &mut xn);
        let mut logits = vec![0f32; m * c.vocab];
        match &w.head {
            Some(head) => bufs.apply(ex, head, &xn, m, &mut logits)?,
            None => bufs.apply_f16(ex, &w.embed, &xn, m, &mut logits)?,
        }
        Ok(logits)
    }
}

/// Convenience: a pool-backed executor for `threads` threads at `ks`.
pub fn exec<'a>(
    ks: &'static ternbench_kernels::KernelSet,
    pool: &'a ThreadPool,
    threads: usize,
) -> Exec<'a> {
    Exec { ks, pool, threads }
}
