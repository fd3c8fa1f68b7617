//! Causal grouped-query attention over the KV cache.
//!
//! Query head `h` attends with KV head `h / (heads / kv_heads)`; scores are scaled by
//! `1/sqrt(head_dim)`, softmax in f32 over positions `0..=pos` (causal), as Hugging Face's eager
//! attention. The work items are (KV head, block of query tokens): the `heads / kv_heads` query
//! heads sharing a KV head (adjacent in `q`), for every token of the block ([`PREFILL_TOKENS`]
//! at most; one at decode), go through the cached rows together, so each row is read once for
//! all of them (`KernelSet::scores_f16` and kin take the group; 16 queries and more take their
//! outer-product tiles). Items are shared out in chunks over the pool's threads.
//!
//! A batch of several sequences ([`attend_seqs`]: a batched decode, one token per sequence, or
//! several prompts) runs in one dispatch whose items are (sequence, KV head, block): each
//! sequence attends over its own cache and positions only.

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
// SAFETY: each chunk writes a disjoint set of heads (see `attend_seqs`).
unsafe impl Sync for OutPtr {}

/// One sequence's share of a batched attention call ([`attend_seqs`]): its cache, and where its
/// query tokens lie in the batch.
#[derive(Debug, Clone, Copy)]
pub struct SeqSpan<'a> {
    /// The sequence's cache (its K/V for the span's tokens already written).
    pub cache: &'a KvCache,
    /// Index of its first query token in the batch.
    pub first: usize,
    /// Its query tokens.
    pub tokens: usize,
    /// Position of its first query token (the cached positions before it).
    pub pos0: usize,
}

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
    let span = SeqSpan {
        cache,
        first: 0,
        tokens: batch,
        pos0,
    };
    attend_seqs(ex, shape, layer, &[span], q, out);
}

/// [`attend`] for several sequences in one pool dispatch (a batched decode or prefill): the
/// query tokens of every span lie back to back in `q` (`heads × head_dim` each, span `s` from
/// token `spans[s].first`), and each attends over its own cache only. The work items are
/// (sequence, KV head, block of query tokens), shared out over the pool's threads as [`attend`]'s.
///
/// Panics if `q` or `out` is not `tokens × heads × head_dim` long for the spans' total tokens,
/// or the spans do not cover the tokens in order.
pub fn attend_seqs(
    ex: Exec<'_>,
    shape: AttnShape,
    layer: usize,
    spans: &[SeqSpan<'_>],
    q: &[f32],
    out: &mut [f32],
) {
    let AttnShape {
        heads,
        kv_heads,
        head_dim: hd,
    } = shape;
    let dim = heads * hd;
    let total: usize = spans.iter().map(|s| s.tokens).sum();
    assert_eq!(q.len(), total * dim);
    assert_eq!(out.len(), total * dim);
    let mut next = 0;
    for s in spans {
        assert_eq!(
            s.first, next,
            "attention spans must cover the tokens in order"
        );
        next += s.tokens;
    }
    let group = heads / kv_heads;
    let gd = group * hd;
    let scale = 1.0 / (hd as f32).sqrt();
    let optr = OutPtr(out.as_mut_ptr());
    let optr = &optr;
    // Items: (sequence, KV head, block of up to PREFILL_TOKENS query tokens), claimed chunk by
    // chunk (a participant that is off its core leaves its share to the others). `starts[s]` is
    // the first item of span `s`.
    let tb = PREFILL_TOKENS.min(spans.iter().map(|s| s.tokens).max().unwrap_or(0).max(1));
    let mut starts = Vec::with_capacity(spans.len() + 1);
    let mut work = 0;
    let mut most_pos = 0;
    for s in spans {
        starts.push(work);
        work += kv_heads * s.tokens.div_ceil(tb);
        most_pos = most_pos.max(s.pos0 + s.tokens);
    }
    starts.push(work);
    if work == 0 {
        return;
    }
    let (ks, pool) = (ex.ks, ex.pool);
    let threads = ex.threads.min(work).max(1);
    let chunks = ternbench_kernels::threads::Chunks::new(work, 1, threads, 1);
    pool.run_chunks(threads, chunks.count, |c| {
        let mut qbuf = vec![0f32; tb * gd];
        let mut ybuf = vec![0f32; tb * gd];
        let mut scores = vec![0f32; tb * group * most_pos];
        for item in chunks.range(c) {
            let si = starts.partition_point(|&st| st <= item) - 1;
            let span = &spans[si];
            let blocks = span.tokens.div_ceil(tb);
            let local = item - starts[si];
            let (kvh, b) = (local / blocks, local % blocks);
            let (pos0, base) = (span.pos0, span.first);
            let (t0, t1) = (b * tb, ((b + 1) * tb).min(span.tokens));
            // The block's queries back to back, token by token, the group's heads within.
            let gq = group * (t1 - t0);
            for t in t0..t1 {
                let src = (base + t) * dim + kvh * gd;
                qbuf[(t - t0) * gd..(t - t0 + 1) * gd].copy_from_slice(&q[src..src + gd]);
            }
            // Every query of the block against the positions its last token sees; each
            // query's own causal range is `0..pos0 + t + 1`, the rest masked out below.
            let np = pos0 + t1;
            let sc = &mut scores[..gq * np];
            span.cache
                .k_rows(layer, kvh)
                .scores(ks, &qbuf[..gq * hd], gq, scale, sc);
            for (r, s) in sc.chunks_exact_mut(np).enumerate() {
                let own = pos0 + t0 + r / group + 1;
                ks.softmax(&mut s[..own]);
                s[own..].fill(0.0);
            }
            let y = &mut ybuf[..gq * hd];
            span.cache.v_rows(layer, kvh).mix(ks, sc, gq, y);
            for t in t0..t1 {
                // SAFETY: item (sequence, kvh, block) belongs to exactly one chunk, run once, so
                // the outputs of its tokens' group heads are written by one participant alone,
                // inside `out` (token base + t < total, heads of KV head kvh).
                let o = unsafe {
                    std::slice::from_raw_parts_mut(optr.0.add((base + t) * dim + kvh * gd), gd)
                };
                o.copy_from_slice(&y[(t - t0) * gd..(t - t0 + 1) * gd]);
            }
        }
    });
}
