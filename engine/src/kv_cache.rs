//! The key/value cache: per layer, K and V for every position so far, stored as f32 or f16
//! (`half`), capacity fixed at creation (the requested context).
//!
//! **Layout: head-major.** Each layer's K (and V) is `kv_heads` blocks of `capacity ×
//! head_dim` elements: one KV head's rows for every position are contiguous. Attention reads
//! one KV head at a time (its query group), so it streams one block front to back. With rows
//! position-major (`capacity × kv_dim`, every head of a position together), each head's pass
//! took `head_dim` elements out of every `kv_dim`: a strided walk that the hardware prefetchers
//! fill in whole (five times the bytes for 2B4T's five KV heads), and that, once the weights
//! have streamed through the last-level cache between two tokens, comes from DRAM. On the
//! 2-vCPU Zen 4 VM, 2B4T decode after a 1024-token prefill ran at 19.7 tok/s at 1 thread
//! position-major against 30 from an empty cache (see the engine issue's notes for the
//! measurement head-major).

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use ternbench_kernels::KernelSet;

/// Element type of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    /// 4 bytes per element.
    F32,
    /// 2 bytes per element.
    F16,
}

#[derive(Debug)]
enum Store {
    F32(Vec<f32>),
    F16(Vec<u16>),
}

impl Store {
    fn new(ty: KvType, n: usize) -> Self {
        match ty {
            KvType::F32 => Store::F32(vec![0.0; n]),
            KvType::F16 => Store::F16(vec![0; n]),
        }
    }
    fn write(&mut self, off: usize, src: &[f32]) {
        match self {
            Store::F32(v) => v[off..off + src.len()].copy_from_slice(src),
            // The slice conversion runs F16C eight at a time where the CPU has it (per
            // element it was a call each).
            Store::F16(v) => v[off..off + src.len()]
                .reinterpret_cast_mut::<f16>()
                .convert_from_f32_slice(src),
        }
    }
}

/// K and V for every layer and position (head-major, see the module doc).
#[derive(Debug)]
pub struct KvCache {
    ty: KvType,
    kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
    k: Vec<Store>,
    v: Vec<Store>,
}

impl KvCache {
    /// An empty cache for `layers` layers of `kv_heads` heads of `head_dim` elements,
    /// `capacity` positions.
    pub fn new(
        ty: KvType,
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        capacity: usize,
    ) -> Self {
        let kv_dim = kv_heads * head_dim;
        KvCache {
            ty,
            kv_heads,
            head_dim,
            capacity,
            len: 0,
            k: (0..layers)
                .map(|_| Store::new(ty, capacity * kv_dim))
                .collect(),
            v: (0..layers)
                .map(|_| Store::new(ty, capacity * kv_dim))
                .collect(),
        }
    }

    /// Bytes a cache of this shape occupies.
    pub fn bytes_for(ty: KvType, layers: usize, kv_dim: usize, capacity: usize) -> u64 {
        let el = if ty == KvType::F32 { 4 } else { 2 };
        2 * layers as u64 * kv_dim as u64 * capacity as u64 * el
    }

    /// Element type.
    pub fn ty(&self) -> KvType {
        self.ty
    }
    /// Positions stored.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether no position is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Positions it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Forgets every position.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Writes K and V of position `pos` in `layer` (`kv_heads × head_dim` each, head by head).
    pub fn put(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        assert!(
            pos < self.capacity,
            "KV cache: position {pos} past capacity {}",
            self.capacity
        );
        let hd = self.head_dim;
        assert_eq!(k.len(), self.kv_heads * hd, "KV cache: K row length");
        assert_eq!(v.len(), self.kv_heads * hd, "KV cache: V row length");
        for (h, (kh, vh)) in k.chunks_exact(hd).zip(v.chunks_exact(hd)).enumerate() {
            let off = self.offset(h, pos);
            self.k[layer].write(off, kh);
            self.v[layer].write(off, vh);
        }
    }

    /// Element offset of (KV head `h`, position `pos`) in a layer's store.
    #[inline]
    fn offset(&self, h: usize, pos: usize) -> usize {
        (h * self.capacity + pos) * self.head_dim
    }

    /// Marks positions `..n` as filled (after every layer has written them).
    pub fn set_len(&mut self, n: usize) {
        assert!(n <= self.capacity);
        self.len = n;
    }

    /// The keys of KV head `head` in `layer` for every position: row `j` (position `j`) is
    /// `head_dim` elements at `j·head_dim` (contiguous).
    #[inline]
    pub fn k_rows(&self, layer: usize, head: usize) -> KvRows<'_> {
        self.k[layer].rows(self.block(head), self.head_dim)
    }

    /// As [`Self::k_rows`], for V.
    #[inline]
    pub fn v_rows(&self, layer: usize, head: usize) -> KvRows<'_> {
        self.v[layer].rows(self.block(head), self.head_dim)
    }

    /// Element range of KV head `head`'s block in a layer's store.
    #[inline]
    fn block(&self, head: usize) -> std::ops::Range<usize> {
        assert!(
            head < self.kv_heads,
            "KV cache: head {head} of {}",
            self.kv_heads
        );
        self.offset(head, 0)..self.offset(head + 1, 0)
    }
}

/// One head's cached rows for every position: row `j` starts at `j·stride`.
#[derive(Debug, Clone, Copy)]
pub struct KvRows<'a> {
    data: KvRow<'a>,
    stride: usize,
}

impl KvRows<'_> {
    /// `out[q·n + j] = scale · (row_j · x_q)` for the `g` query vectors held back to back in
    /// `x` and the first `n = out.len() / g` positions (the query heads sharing this KV head).
    #[inline]
    pub fn scores(self, ks: &KernelSet, x: &[f32], g: usize, scale: f32, out: &mut [f32]) {
        match self.data {
            KvRow::F32(r) => ks.scores_f32(r, self.stride, x, g, scale, out),
            KvRow::F16(r) => ks.scores_f16(r, self.stride, x, g, scale, out),
        }
    }

    /// `y_q = Σ_j p[q·n + j] · row_j` for the `g` weight vectors held back to back in `p`
    /// (over the first `n = p.len() / g` positions) into `g` outputs back to back in `y`.
    #[inline]
    pub fn mix(self, ks: &KernelSet, p: &[f32], g: usize, y: &mut [f32]) {
        match self.data {
            KvRow::F32(r) => ks.mix_f32(r, self.stride, p, g, y),
            KvRow::F16(r) => ks.mix_f16(r, self.stride, p, g, y),
        }
    }
}

/// A borrowed run of cache elements.
#[derive(Debug, Clone, Copy)]
enum KvRow<'a> {
    /// f32 elements.
    F32(&'a [f32]),
    /// f16 bit patterns.
    F16(&'a [u16]),
}

impl Store {
    #[inline]
    fn rows(&self, range: std::ops::Range<usize>, stride: usize) -> KvRows<'_> {
        let data = match self {
            Store::F32(v) => KvRow::F32(&v[range]),
            Store::F16(v) => KvRow::F16(&v[range]),
        };
        KvRows { data, stride }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ternbench_kernels::Isa;

    /// A value exact in f16 naming (layer, position, head, element).
    fn val(layer: usize, pos: usize, head: usize, d: usize, v: bool) -> f32 {
        (((layer * 7 + pos) * 5 + head) * 4 + d) as f32 + if v { 0.5 } else { 0.0 }
    }

    #[test]
    fn rows_of_a_head_read_back_what_was_put_at_every_position() {
        let (layers, heads, hd, cap, filled) = (2, 3, 4, 6, 5);
        for ty in [KvType::F32, KvType::F16] {
            let mut c = KvCache::new(ty, layers, heads, hd, cap);
            for layer in 0..layers {
                for pos in 0..filled {
                    let row = |v| -> Vec<f32> {
                        (0..heads * hd)
                            .map(|e| val(layer, pos, e / hd, e % hd, v))
                            .collect()
                    };
                    c.put(layer, pos, &row(false), &row(true));
                }
            }
            c.set_len(filled);
            for ks in KernelSet::available()
                .into_iter()
                .chain(KernelSet::get(Isa::Scalar))
            {
                for layer in 0..layers {
                    for head in 0..heads {
                        for d in 0..hd {
                            // Unit query e_d: score j = K[pos j][head][d].
                            let mut e = vec![0f32; hd];
                            e[d] = 1.0;
                            let mut s = vec![0f32; filled];
                            c.k_rows(layer, head).scores(ks, &e, 1, 1.0, &mut s);
                            let want: Vec<f32> =
                                (0..filled).map(|p| val(layer, p, head, d, false)).collect();
                            assert_eq!(s, want, "{ty:?} {} K l{layer} h{head} d{d}", ks.isa);
                        }
                        // One-hot weights on position p: the mix is V[p][head].
                        for p in 0..filled {
                            let mut w = vec![0f32; filled];
                            w[p] = 1.0;
                            let mut y = vec![0f32; hd];
                            c.v_rows(layer, head).mix(ks, &w, 1, &mut y);
                            let want: Vec<f32> =
                                (0..hd).map(|d| val(layer, p, head, d, true)).collect();
                            assert_eq!(y, want, "{ty:?} {} V l{layer} h{head} p{p}", ks.isa);
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "K row length")]
    fn a_row_of_the_wrong_length_is_refused() {
        let mut c = KvCache::new(KvType::F32, 1, 2, 4, 3);
        c.put(0, 0, &[0.0; 7], &[0.0; 8]);
    }
}
