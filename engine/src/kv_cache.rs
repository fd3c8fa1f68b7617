//! The key/value cache: per layer, K and V rows (`kv_dim` each) for every position so far,
//! stored as f32 or f16 (`half`), capacity fixed at creation (the requested context).

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

/// K and V for every layer and position.
#[derive(Debug)]
pub struct KvCache {
    ty: KvType,
    kv_dim: usize,
    capacity: usize,
    len: usize,
    k: Vec<Store>,
    v: Vec<Store>,
}

impl KvCache {
    /// An empty cache for `layers` layers, `capacity` positions.
    pub fn new(ty: KvType, layers: usize, kv_dim: usize, capacity: usize) -> Self {
        KvCache {
            ty,
            kv_dim,
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

    /// Writes K and V of position `pos` in `layer`.
    pub fn put(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        assert!(
            pos < self.capacity,
            "KV cache: position {pos} past capacity {}",
            self.capacity
        );
        self.k[layer].write(pos * self.kv_dim, k);
        self.v[layer].write(pos * self.kv_dim, v);
    }

    /// Marks positions `..n` as filled (after every layer has written them).
    pub fn set_len(&mut self, n: usize) {
        assert!(n <= self.capacity);
        self.len = n;
    }

    /// K of `layer` from element `off` of position 0 on: position `j`'s slice starts at
    /// `j·kv_dim` (one head's keys for every position, strided).
    #[inline]
    pub fn k_rows(&self, layer: usize, off: usize) -> KvRows<'_> {
        self.k[layer].rows(off, self.kv_dim)
    }

    /// As [`Self::k_rows`], for V.
    #[inline]
    pub fn v_rows(&self, layer: usize, off: usize) -> KvRows<'_> {
        self.v[layer].rows(off, self.kv_dim)
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
    fn rows(&self, off: usize, stride: usize) -> KvRows<'_> {
        let data = match self {
            Store::F32(v) => KvRow::F32(&v[off..]),
            Store::F16(v) => KvRow::F16(&v[off..]),
        };
        KvRows { data, stride }
    }
}
