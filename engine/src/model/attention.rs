//! Causal grouped-query attention over the KV cache.
//!
//! Query head `h` attends with KV head `h / (heads / kv_heads)`; scores are scaled by
//! `1/sqrt(head_dim)`, softmax in f32 over positions `0..=pos` (causal), as Hugging Face's eager
//! attention. The work items are (token, KV head): the `heads / kv_heads` query heads sharing a
//! KV head (adjacent in `q`) go through the cached rows together, so each row is read once for
//! all of them (`KernelSet::scores_f16` and kin take the group). Items are shared out in chunks
//! over the pool's threads.

use super::softmax::softmax;
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
    let gd = group * hd;
    let scale = 1.0 / (hd as f32).sqrt();
    let optr = OutPtr(out.as_mut_ptr());
    let work = batch * kv_heads;
    let optr = &optr;
    // Claimed chunk by chunk (a participant that is off its core leaves its share to the
    // others); whole (token, KV head) items.
    let (ks, pool) = (ex.ks, ex.pool);
    let threads = ex.threads.min(work).max(1);
    let chunks = ternbench_kernels::threads::Chunks::new(work, 1, threads, 1);
    pool.run_chunks(threads, chunks.count, |c| {
        let mut scores = vec![0f32; group * (pos0 + batch)];
        for item in chunks.range(c) {
            let (t, kvh) = (item / kv_heads, item % kv_heads);
            let np = pos0 + t + 1;
            // The group's query heads kvh·group .. (kvh+1)·group, back to back.
            let qg = &q[t * dim + kvh * gd..t * dim + (kvh + 1) * gd];
            let sc = &mut scores[..group * np];
            cache.k_rows(layer, kvh).scores(ks, qg, group, scale, sc);
            for s in sc.chunks_exact_mut(np) {
                softmax(s);
            }
            // SAFETY: item (t, kvh) belongs to exactly one chunk, run once, so its group's
            // `group·hd` outputs are written by one participant alone, inside `out`.
            let o = unsafe { std::slice::from_raw_parts_mut(optr.0.add(t * dim + kvh * gd), gd) };
            cache.v_rows(layer, kvh).mix(ks, sc, group, o);
        }
    });
}
