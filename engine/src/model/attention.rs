//! Causal grouped-query attention over the KV cache.
//!
//! Query head `h` attends with KV head `h / (heads / kv_heads)`; scores are scaled by
//! `1/sqrt(head_dim)`, softmax in f32 over positions `0..=pos` (causal), as Hugging Face's eager
//! attention. The work items are (KV head, block of query tokens): the `heads / kv_heads` query
//! heads sharing a KV head (adjacent in `q`), for every token of the block ([`PREFILL_TOKENS`]
//! at most; one at decode), go through the cached rows together, so each row is read once for
//! all of them (`KernelSet::scores_f16` and kin take the group; 16 queries and more take their
//! outer-product tiles). Items are shared out in chunks over the pool's threads.

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

/// Query tokens per work item: their queries (times the group) go through the cached rows in
/// one `scores` and one `mix` call, so each row is loaded once for all of them (the wide tiles of
/// [`ternbench_kernels::KernelSet::scores_f16`] for 16 queries and more). The block's queries
/// all score the positions its last token sees, and the earlier tokens' extra positions are
/// masked out (at most `PREFILL_TOKENS - 1` per query).
const PREFILL_TOKENS: usize = 32;

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
    let optr = &optr;
    // Items: (KV head, block of up to PREFILL_TOKENS query tokens), claimed chunk by chunk (a
    // participant that is off its core leaves its share to the others).
    let tb = PREFILL_TOKENS.min(batch.max(1));
    let blocks = batch.div_ceil(tb);
    let work = kv_heads * blocks;
    let (ks, pool) = (ex.ks, ex.pool);
    let threads = ex.threads.min(work).max(1);
    let chunks = ternbench_kernels::threads::Chunks::new(work, 1, threads, 1);
    pool.run_chunks(threads, chunks.count, |c| {
        let mut qbuf = vec![0f32; tb * gd];
        let mut ybuf = vec![0f32; tb * gd];
        let mut scores = vec![0f32; tb * group * (pos0 + batch)];
        for item in chunks.range(c) {
            let (kvh, b) = (item / blocks, item % blocks);
            let (t0, t1) = (b * tb, ((b + 1) * tb).min(batch));
            // The block's queries back to back, token by token, the group's heads within.
            let gq = group * (t1 - t0);
            for t in t0..t1 {
                let src = t * dim + kvh * gd;
                qbuf[(t - t0) * gd..(t - t0 + 1) * gd].copy_from_slice(&q[src..src + gd]);
            }
            // Every query of the block against the positions its last token sees; each
            // query's own causal range is `0..pos0 + t + 1`, the rest masked out below.
            let np = pos0 + t1;
            let sc = &mut scores[..gq * np];
            cache
                .k_rows(layer, kvh)
                .scores(ks, &qbuf[..gq * hd], gq, scale, sc);
            for (r, s) in sc.chunks_exact_mut(np).enumerate() {
                let own = pos0 + t0 + r / group + 1;
                ks.softmax(&mut s[..own]);
                s[own..].fill(0.0);
            }
            let y = &mut ybuf[..gq * hd];
            cache.v_rows(layer, kvh).mix(ks, sc, gq, y);
            for t in t0..t1 {
                // SAFETY: item (kvh, block) belongs to exactly one chunk, run once, so the
                // outputs of its tokens' group heads are written by one participant alone,
                // inside `out` (token t < batch, heads of KV head kvh).
                let o =
                    unsafe { std::slice::from_raw_parts_mut(optr.0.add(t * dim + kvh * gd), gd) };
                o.copy_from_slice(&y[(t - t0) * gd..(t - t0 + 1) * gd]);
            }
        }
    });
}
