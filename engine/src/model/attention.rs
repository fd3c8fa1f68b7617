//! Causal grouped-query attention over the KV cache.
//!
//! Query head `h` attends with KV head `h / (heads / kv_heads)`; scores are scaled by
//! `1/sqrt(head_dim)`, softmax in f32 over positions `0..=pos` (causal), as Hugging Face's eager
//! attention. (token, head) items are shared out in chunks over the pool's threads; the dot
//! products and sums run on the level's vector primitives (`KernelSet::scores_f16` and kin).

use crate::kv_cache::KvCache;
use crate::linear::Exec;

/// Shape of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    /// Query heads.
    pub heads: usize,
    /// KV heads.
    pub kv_heads: usize,
    /// Per-head dimension.
    pub head_dim: usize,
}

struct OutPtr(*mut f32);
// SAFETY: each chunk writes a disjoint set of heads (see `attend`).
unsafe impl Sync for OutPtr {}

/// For each of `batch` query tokens at positions `pos0..pos0+batch` (whose K/V are already in
/// `cache` for `layer`), writes the attention output (`heads × head_dim` per token) to `out`.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    ex: Exec<'_>,
    shape: AttnShape,
    cache: &KvCache,
    layer: usize,
    q: &[f32],
    batch: usize,
    pos0: usize,
    out: &mut [f32],
) {
    let AttnShape {
        heads,
        kv_heads,
        head_dim: hd,
    } = shape;
    let dim = heads * hd;
    assert_eq!(q.len(), batch * dim);
    assert_eq!(out.len(), batch * dim);
    let group = heads / kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let optr = OutPtr(out.as_mut_ptr());
    let work = batch * heads;
    let optr = &optr;
    // Claimed chunk by chunk (a participant that is off its core leaves its share to the
    // others); whole (token, head) items.
    let (ks, pool) = (ex.ks, ex.pool);
    let threads = ex.threads.min(work).max(1);
    let chunks = ternbench_kernels::threads::Chunks::new(work, 1, threads, 1);
    pool.run_chunks(threads, chunks.count, |c| {
        let mut scores = vec![0f32; pos0 + batch];
        for item in chunks.range(c) {
            let (t, h) = (item / heads, item % heads);
            let pos = pos0 + t;
            let kvh = h / group;
            let qh = &q[t * dim + h * hd..t * dim + (h + 1) * hd];
            let sc = &mut scores[..pos + 1];
            cache.k_rows(layer, kvh * hd).scores(ks, qh, scale, sc);
            let max = sc.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0f32;
            for s in sc.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let inv = 1.0 / sum;
            sc.iter_mut().for_each(|s| *s *= inv);
            // SAFETY: item (t, h) belongs to exactly one chunk, run once, so this head's `hd`
            // outputs are written by one participant alone, inside `out`.
            let o = unsafe { std::slice::from_raw_parts_mut(optr.0.add(t * dim + h * hd), hd) };
            cache.v_rows(layer, kvh * hd).mix(ks, sc, o);
        }
    });
}
