//! Machine probes: the loops the harness times to find this CPU's ceilings. No I/O, no timing.
//!
//! * **Read bandwidth** ([`ReadProbe`]): read a byte slice as fast as the core can, with the
//!   widest loads of a level, several independent accumulators, optionally several interleaved
//!   streams (parts of the slice far apart, read in lock step, so more DRAM pages are open at
//!   once) and optional software prefetch. Each returns the xor of every byte's 64-bit word, so
//!   no byte can be skipped by the optimiser. The harness times a slice far larger than the
//!   last-level cache and divides bytes by seconds: that is the roofline's denominator.
//! * **Arithmetic peak** ([`PeakProbe`]): in-register loops of many independent dependency
//!   chains of one multiply-add instruction, int8 (`pmaddubsw`, `vpdpbusd`) or f32 (`mulps` +
//!   `addps`, `vfmadd`), returning how many multiply-adds (products) they did so the harness
//!   divides by time.
//!
//! Probes are reached only through [`read_probes`] / [`peak_probes`], which list those this CPU
//! can run (checked with [`Isa::check`]); that is why their `run` methods are safe.
//!
//! To add a probe: write a `#[target_feature]` function with the signature of its kind, and add
//! a line to the list in [`read_probes`] or [`peak_probes`] with the level it needs.

use crate::isa::Isa;

/// Bytes each stream reads per loop step: four 64-byte cache lines.
pub const READ_STEP: usize = 256;

type ReadFn = unsafe fn(&[u8]) -> u64;
type PeakFn = unsafe fn(u64) -> u64;

/// One way to read memory: a level's widest loads, `streams` interleaved pointers, and a
/// software prefetch distance (0: none).
#[derive(Clone, Copy)]
pub struct ReadProbe {
    isa: Isa,
    streams: usize,
    prefetch: usize,
    hint: &'static str,
    f: ReadFn,
}

impl std::fmt::Debug for ReadProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl ReadProbe {
    /// The level whose loads it uses.
    pub fn isa(&self) -> Isa {
        self.isa
    }
    /// Independent streams (parts of the slice read in lock step).
    pub fn streams(&self) -> usize {
        self.streams
    }
    /// Software prefetch distance in bytes ahead of each stream (0: none).
    pub fn prefetch(&self) -> usize {
        self.prefetch
    }
    /// Software prefetch hint (`t0`: into L1, `t1`: L2, `t2`: L3, `nta`), `""` without prefetch.
    pub fn prefetch_hint(&self) -> &'static str {
        self.hint
    }
    /// Width of one load in bits.
    pub fn load_bits(&self) -> usize {
        match self.isa {
            Isa::Scalar | Isa::Neon => 64,
            Isa::Sse41 => 128,
            Isa::Avx2 => 256,
            Isa::Avx512 | Isa::Avx512Vnni => 512,
        }
    }
    /// A short name: `avx512/512b/2 streams/prefetch 1024`.
    pub fn name(&self) -> String {
        let pf = if self.prefetch == 0 {
            "no prefetch".to_string()
        } else {
            format!("prefetch {} B {}", self.prefetch, self.hint)
        };
        format!(
            "{} {}-bit loads, {} stream{}, {pf}",
            self.isa,
            self.load_bits(),
            self.streams,
            if self.streams == 1 { "" } else { "s" }
        )
    }
    /// Reads every byte of `data`; returns the xor of all its 64-bit words (tail bytes folded
    /// in too), so the result depends on every byte.
    pub fn run(&self, data: &[u8]) -> u64 {
        // SAFETY: a ReadProbe is only built by `read_probes`, which keeps those whose level
        // passes `Isa::check` on this CPU; the function reads only inside `data`.
        unsafe { (self.f)(data) }
    }
}

/// Every read probe this CPU can run, most portable level first.
pub fn read_probes() -> Vec<ReadProbe> {
    let mut v: Vec<ReadProbe> = Vec::new();
    let mut add = |isa: Isa, streams: usize, prefetch: usize, hint: &'static str, f: ReadFn| {
        if isa.is_available() {
            v.push(ReadProbe {
                isa,
                streams,
                prefetch,
                hint: if prefetch == 0 { "" } else { hint },
                f,
            });
        }
    };
    add(Isa::Scalar, 1, 0, "", read_scalar);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0 as T0, _MM_HINT_T1 as T1, _MM_HINT_T2 as T2};
        use x86::*;
        add(Isa::Sse41, 1, 0, "", read_sse41);
        // The default set of the harness is (4, 2048, t0), (4, 2048, t1), (4, 4096, t1),
        // (8, 4096, t1) and (8, 0); the others document what was tried (`ternbench bandwidth --all-methods`).
        add(Isa::Avx2, 1, 0, "", read_avx2::<1, 0, T0>);
        add(Isa::Avx2, 2, 0, "", read_avx2::<2, 0, T0>);
        add(Isa::Avx2, 4, 0, "", read_avx2::<4, 0, T0>);
        add(Isa::Avx2, 8, 0, "", read_avx2::<8, 0, T0>);
        add(Isa::Avx2, 16, 0, "", read_avx2::<16, 0, T0>);
        add(Isa::Avx2, 1, 1024, "t0", read_avx2::<1, 1024, T0>);
        add(Isa::Avx2, 4, 2048, "t0", read_avx2::<4, 2048, T0>);
        add(Isa::Avx2, 4, 2048, "t1", read_avx2::<4, 2048, T1>);
        add(Isa::Avx2, 4, 4096, "t1", read_avx2::<4, 4096, T1>);
        add(Isa::Avx2, 8, 4096, "t1", read_avx2::<8, 4096, T1>);
        add(Isa::Avx2, 8, 4096, "t2", read_avx2::<8, 4096, T2>);
        add(Isa::Avx512, 1, 0, "", read_avx512::<1, 0, T0>);
        add(Isa::Avx512, 2, 0, "", read_avx512::<2, 0, T0>);
        add(Isa::Avx512, 4, 0, "", read_avx512::<4, 0, T0>);
        add(Isa::Avx512, 8, 0, "", read_avx512::<8, 0, T0>);
        add(Isa::Avx512, 1, 1024, "t0", read_avx512::<1, 1024, T0>);
        add(Isa::Avx512, 1, 4096, "t1", read_avx512::<1, 4096, T1>);
        add(Isa::Avx512, 2, 4096, "t1", read_avx512::<2, 4096, T1>);
        add(Isa::Avx512, 4, 1024, "t0", read_avx512::<4, 1024, T0>);
        add(Isa::Avx512, 4, 2048, "t0", read_avx512::<4, 2048, T0>);
        add(Isa::Avx512, 4, 2048, "t1", read_avx512::<4, 2048, T1>);
        add(Isa::Avx512, 4, 4096, "t1", read_avx512::<4, 4096, T1>);
        add(Isa::Avx512, 4, 8192, "t1", read_avx512::<4, 8192, T1>);
        add(Isa::Avx512, 4, 4096, "t2", read_avx512::<4, 4096, T2>);
        add(Isa::Avx512, 8, 4096, "t1", read_avx512::<8, 4096, T1>);
        add(Isa::Avx512, 8, 8192, "t1", read_avx512::<8, 8192, T1>);
    }
    v
}

/// What a peak probe multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeakKind {
    /// int8 × int8 (u8 × i8) products summed into wider integers: what ternary and q8 kernels
    /// do.
    Int8,
    /// f32 × f32 fused (or mul + add) multiply-adds: what f16 kernels do after converting.
    F32,
}

impl PeakKind {
    /// Name in results (`int8`, `f32`).
    pub fn name(self) -> &'static str {
        match self {
            PeakKind::Int8 => "int8",
            PeakKind::F32 => "f32",
        }
    }
}

/// One arithmetic peak loop: a level, what it multiplies and with which instruction.
#[derive(Clone, Copy)]
pub struct PeakProbe {
    isa: Isa,
    kind: PeakKind,
    instr: &'static str,
    chains: usize,
    f: PeakFn,
}

impl std::fmt::Debug for PeakProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PeakProbe {{ {} {} {} x{} }}",
            self.isa,
            self.kind.name(),
            self.instr,
            self.chains
        )
    }
}

impl PeakProbe {
    /// The level.
    pub fn isa(&self) -> Isa {
        self.isa
    }
    /// int8 or f32.
    pub fn kind(&self) -> PeakKind {
        self.kind
    }
    /// The instruction(s) timed (`vpdpbusd zmm`).
    pub fn instr(&self) -> &'static str {
        self.instr
    }
    /// Independent dependency chains in the loop.
    pub fn chains(&self) -> usize {
        self.chains
    }
    /// Runs `iters` loop iterations (each one instruction per chain); returns the number of
    /// multiply-adds (products) done.
    pub fn run(&self, iters: u64) -> u64 {
        // SAFETY: a PeakProbe is only built by `peak_probes`, which keeps those whose level
        // passes `Isa::check` on this CPU; the loops touch registers only.
        unsafe { (self.f)(iters) }
    }
}

/// Every peak probe this CPU can run, most portable level first, int8 then f32 per level.
pub fn peak_probes() -> Vec<PeakProbe> {
    let mut v: Vec<PeakProbe> = Vec::new();
    let mut add = |isa: Isa, kind: PeakKind, instr: &'static str, chains: usize, f: PeakFn| {
        if isa.is_available() {
            v.push(PeakProbe {
                isa,
                kind,
                instr,
                chains,
                f,
            });
        }
    };
    add(
        Isa::Scalar,
        PeakKind::Int8,
        "portable i32 mul+add",
        SCALAR_CHAINS,
        peak_scalar_int8,
    );
    add(
        Isa::Scalar,
        PeakKind::F32,
        "portable f32 mul+add",
        SCALAR_CHAINS,
        peak_scalar_f32,
    );
    #[cfg(target_arch = "x86_64")]
    {
        use x86::*;
        add(
            Isa::Sse41,
            PeakKind::Int8,
            "pmaddubsw xmm",
            12,
            peak_sse41_int8,
        );
        add(
            Isa::Sse41,
            PeakKind::F32,
            "mulps+addps xmm",
            12,
            peak_sse41_f32,
        );
        add(
            Isa::Avx2,
            PeakKind::Int8,
            "vpmaddubsw ymm",
            12,
            peak_avx2_int8,
        );
        add(Isa::Avx2, PeakKind::F32, "vfmadd ymm", 12, peak_avx2_f32);
        add(
            Isa::Avx512,
            PeakKind::Int8,
            "vpmaddubsw zmm",
            16,
            peak_avx512_int8,
        );
        add(
            Isa::Avx512,
            PeakKind::F32,
            "vfmadd zmm",
            16,
            peak_avx512_f32,
        );
        add(
            Isa::Avx512Vnni,
            PeakKind::Int8,
            "vpdpbusd zmm",
            16,
            peak_vnni_int8,
        );
        add(
            Isa::Avx512Vnni,
            PeakKind::F32,
            "vfmadd zmm",
            16,
            peak_avx512_f32,
        );
    }
    v
}

/// The peak probe of `isa` and `kind`, if this CPU can run it.
pub fn peak_probe(isa: Isa, kind: PeakKind) -> Option<PeakProbe> {
    peak_probes()
        .into_iter()
        .find(|p| p.isa == isa && p.kind == kind)
}

/// Chains of the portable loops.
const SCALAR_CHAINS: usize = 16;

/// Portable int8 stand-in: `x = x * k + c` on 16 independent i32 chains (one product each).
/// Compiled for the target's baseline, as the scalar kernels are.
///
/// # Safety
/// None beyond the signature (it is `unsafe fn` only to share [`PeakFn`]).
unsafe fn peak_scalar_int8(iters: u64) -> u64 {
    let (x0, k, c) = std::hint::black_box((3i32, 7i32, 11i32));
    let mut acc = [x0; SCALAR_CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a += i as i32;
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.wrapping_mul(k).wrapping_add(c);
        }
    }
    std::hint::black_box(acc);
    iters * SCALAR_CHAINS as u64
}

/// Portable f32: `x = x * a + b` (mul then add, not fused) on 16 independent chains.
///
/// # Safety
/// None beyond the signature (it is `unsafe fn` only to share [`PeakFn`]).
unsafe fn peak_scalar_f32(iters: u64) -> u64 {
    let (x0, m, c) = std::hint::black_box((1.0f32, 0.999_999_9f32, 1e-7f32));
    let mut acc = [x0; SCALAR_CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a += i as f32 * 1e-3;
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = *a * m + c;
        }
    }
    std::hint::black_box(acc);
    iters * SCALAR_CHAINS as u64
}

/// Splits `len` bytes into `streams` equal parts of whole [`READ_STEP`]s: returns the part
/// length. Bytes past `streams * part` are the tail, read separately.
#[inline(always)]
fn stream_part(len: usize, streams: usize) -> usize {
    len / (streams * READ_STEP) * READ_STEP
}

/// xor of the tail bytes `data[from..]` as little-endian 64-bit words (last one zero-padded).
fn xor_tail(data: &[u8], from: usize) -> u64 {
    data[from..].chunks(8).fold(0, |a, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        a ^ u64::from_le_bytes(w)
    })
}

/// Portable read: 64-bit words into eight accumulators (the compiler may widen it with the
/// target's baseline vectors, as it does for the scalar kernels).
///
/// # Safety
/// None beyond the signature (it is `unsafe fn` only to share [`ReadFn`]).
unsafe fn read_scalar(data: &[u8]) -> u64 {
    let part = stream_part(data.len(), 1);
    let mut acc = [0u64; 8];
    for chunk in data[..part].chunks_exact(64) {
        for (a, w) in acc.iter_mut().zip(chunk.chunks_exact(8)) {
            *a ^= u64::from_le_bytes(w.try_into().expect("8 bytes"));
        }
    }
    acc.iter().fold(xor_tail(data, part), |a, &b| a ^ b)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{stream_part, xor_tail, READ_STEP};
    use std::arch::x86_64::*;

    /// xor of the 64-bit lanes of a 128-bit vector.
    #[target_feature(enable = "sse4.1")]
    fn fold128(v: __m128i) -> u64 {
        (_mm_extract_epi64::<0>(v) ^ _mm_extract_epi64::<1>(v)) as u64
    }

    /// 128-bit loads, eight accumulators, one stream.
    ///
    /// # Safety
    /// The CPU must have SSE4.1.
    #[target_feature(enable = "sse4.1,ssse3")]
    pub(super) unsafe fn read_sse41(data: &[u8]) -> u64 {
        let part = stream_part(data.len(), 1);
        let p = data.as_ptr() as *const __m128i;
        let mut acc = [_mm_setzero_si128(); 8];
        let mut i = 0;
        while i * 16 < part {
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: (i + k) * 16 + 16 <= part <= data.len(): inside `data`.
                *a = _mm_xor_si128(*a, unsafe { _mm_loadu_si128(p.add(i + k)) });
            }
            i += 8;
        }
        // 8 x 16 = 128 bytes per step, and part is a multiple of 256: no partial step.
        let mut t = acc[0];
        for a in &acc[1..] {
            t = _mm_xor_si128(t, *a);
        }
        fold128(t) ^ xor_tail(data, part)
    }

    /// 256-bit loads, eight accumulators, `S` streams read in lock step, prefetching `PF` bytes
    /// ahead of each (0: no prefetch) with hint `H` (`_MM_HINT_T0` ...).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn read_avx2<const S: usize, const PF: usize, const H: i32>(
        data: &[u8],
    ) -> u64 {
        let part = stream_part(data.len(), S);
        let base = data.as_ptr();
        let mut acc = [_mm256_setzero_si256(); 8];
        let mut off = 0;
        while off < part {
            for s in 0..S {
                // SAFETY: s * part + off + READ_STEP <= S * part <= data.len().
                let p = unsafe { base.add(s * part + off) };
                if PF > 0 {
                    for l in 0..READ_STEP / 64 {
                        // A prefetch never faults; wrapping_add keeps the address computation
                        // defined past the end of `data`.
                        _mm_prefetch::<H>(p.wrapping_add(PF + 64 * l) as *const i8);
                    }
                }
                let v = p as *const __m256i;
                for (k, a) in acc.iter_mut().enumerate() {
                    // SAFETY: k * 32 + 32 <= READ_STEP bytes past p: inside this stream's step.
                    *a = _mm256_xor_si256(*a, unsafe { _mm256_loadu_si256(v.add(k)) });
                }
            }
            off += READ_STEP;
        }
        let mut t = acc[0];
        for a in &acc[1..] {
            t = _mm256_xor_si256(t, *a);
        }
        let x = _mm_xor_si128(_mm256_castsi256_si128(t), _mm256_extracti128_si256::<1>(t));
        fold128(x) ^ xor_tail(data, S * part)
    }

    /// 512-bit loads, four accumulators (one per cache line of a step), `S` streams read in
    /// lock step, prefetching `PF` bytes ahead of each (0: no prefetch) with hint `H`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn read_avx512<const S: usize, const PF: usize, const H: i32>(
        data: &[u8],
    ) -> u64 {
        let part = stream_part(data.len(), S);
        let base = data.as_ptr();
        let mut acc = [_mm512_setzero_si512(); 4];
        let mut off = 0;
        while off < part {
            for s in 0..S {
                // SAFETY: s * part + off + READ_STEP <= S * part <= data.len().
                let p = unsafe { base.add(s * part + off) };
                if PF > 0 {
                    for l in 0..READ_STEP / 64 {
                        // A prefetch never faults; wrapping_add keeps the address computation
                        // defined past the end of `data`.
                        _mm_prefetch::<H>(p.wrapping_add(PF + 64 * l) as *const i8);
                    }
                }
                let v = p as *const __m512i;
                for (k, a) in acc.iter_mut().enumerate() {
                    // SAFETY: k * 64 + 64 <= READ_STEP bytes past p: inside this stream's step.
                    *a = _mm512_xor_si512(*a, unsafe { _mm512_loadu_si512(v.add(k)) });
                }
            }
            off += READ_STEP;
        }
        let t = _mm512_xor_si512(
            _mm512_xor_si512(acc[0], acc[1]),
            _mm512_xor_si512(acc[2], acc[3]),
        );
        let y = _mm256_xor_si256(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64::<1>(t));
        let x = _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y));
        fold128(x) ^ xor_tail(data, S * part)
    }

    /// Defines a peak loop: `CHAINS` accumulators of vector type `$ty`, each updated once per
    /// iteration by `$step` (with `$a`, `$b` loop-invariant operands), `$per` products per update.
    macro_rules! peak_loop {
        ($(#[$doc:meta])* $name:ident, $feat:literal, $ty:ty, $chains:literal, $per:literal,
         $init:expr, |$x:ident, $a:ident, $b:ident| $step:expr) => {
            $(#[$doc])*
            ///
            /// # Safety
            /// The CPU must have the features this function enables.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $name(iters: u64) -> u64 {
                let (x0, $a, $b): ($ty, $ty, $ty) = std::hint::black_box($init);
                let mut acc = [x0; $chains];
                for _ in 0..iters {
                    for c in acc.iter_mut() {
                        let $x = *c;
                        *c = $step;
                    }
                }
                std::hint::black_box(acc);
                iters * $chains * $per
            }
        };
    }

    peak_loop!(
        /// `pmaddubsw xmm` chained through its own output: 16 u8 × i8 products each.
        peak_sse41_int8, "sse4.1,ssse3", __m128i, 12, 16,
        (_mm_set1_epi8(3), _mm_set1_epi8(5), _mm_set1_epi8(-7)),
        |x, a, _b| _mm_maddubs_epi16(x, a)
    );
    peak_loop!(
        /// `mulps` + `addps` xmm (no FMA at this level): 4 products each.
        peak_sse41_f32, "sse4.1,ssse3", __m128, 12, 4,
        (_mm_set1_ps(1.0), _mm_set1_ps(0.999_999_9), _mm_set1_ps(1e-7)),
        |x, a, b| _mm_add_ps(_mm_mul_ps(x, a), b)
    );
    peak_loop!(
        /// `vpmaddubsw ymm` chained through its own output: 32 u8 × i8 products each.
        peak_avx2_int8, "avx2,fma,f16c", __m256i, 12, 32,
        (_mm256_set1_epi8(3), _mm256_set1_epi8(5), _mm256_set1_epi8(-7)),
        |x, a, _b| _mm256_maddubs_epi16(x, a)
    );
    peak_loop!(
        /// `vfmadd ymm`: 8 products each.
        peak_avx2_f32, "avx2,fma,f16c", __m256, 12, 8,
        (_mm256_set1_ps(1.0), _mm256_set1_ps(0.999_999_9), _mm256_set1_ps(1e-7)),
        |x, a, b| _mm256_fmadd_ps(x, a, b)
    );
    peak_loop!(
        /// `vpmaddubsw zmm` chained through its own output: 64 u8 × i8 products each.
        peak_avx512_int8, "avx512f,avx512bw,avx512vl,avx2,fma,f16c", __m512i, 16, 64,
        (_mm512_set1_epi8(3), _mm512_set1_epi8(5), _mm512_set1_epi8(-7)),
        |x, a, _b| _mm512_maddubs_epi16(x, a)
    );
    peak_loop!(
        /// `vfmadd zmm`: 16 products each.
        peak_avx512_f32, "avx512f,avx512bw,avx512vl,avx2,fma,f16c", __m512, 16, 16,
        (_mm512_set1_ps(1.0), _mm512_set1_ps(0.999_999_9), _mm512_set1_ps(1e-7)),
        |x, a, b| _mm512_fmadd_ps(x, a, b)
    );
    peak_loop!(
        /// `vpdpbusd zmm` accumulating into each chain: 64 u8 × i8 products each.
        peak_vnni_int8, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", __m512i, 16, 64,
        (_mm512_set1_epi32(1), _mm512_set1_epi8(5), _mm512_set1_epi8(-7)),
        |x, a, b| _mm512_dpbusd_epi32(x, a, b)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xor of every little-endian 64-bit word of `data`, the last one zero-padded.
    fn reference(data: &[u8]) -> u64 {
        xor_tail(data, 0)
    }

    #[test]
    fn every_read_probe_reads_every_byte() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let data: Vec<u8> = (0..(3 << 20) + 4096 + 77)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        let probes = read_probes();
        assert!(probes.iter().any(|p| p.isa() == Isa::Scalar));
        // Lengths around every stream split and tail, and offsets that misalign the start.
        for len in [
            0,
            1,
            7,
            8,
            255,
            256,
            257,
            2048 + 8,
            8 * 256 * 16 + 5,
            data.len() - 3,
        ] {
            for off in [0, 3] {
                let d = &data[off..off + len];
                let want = reference(d);
                for p in &probes {
                    assert_eq!(p.run(d), want, "{} len {len} offset {off}", p.name());
                }
            }
        }
        // A single flipped byte anywhere changes the result.
        let mut d = data[..100_000].to_vec();
        let before = reference(&d);
        d[54_321] ^= 0x10;
        for p in &probes {
            assert_ne!(p.run(&d), before, "{}", p.name());
        }
    }

    #[test]
    fn peak_probes_count_products() {
        let probes = peak_probes();
        for isa in Isa::available() {
            for kind in [PeakKind::Int8, PeakKind::F32] {
                let p = peak_probe(isa, kind).expect("every available level has both loops");
                let one = p.run(1);
                assert!(one >= p.chains() as u64, "{p:?}");
                assert_eq!(p.run(1000), 1000 * one, "{p:?}");
                assert_eq!(p.run(0), 0);
            }
        }
        assert!(probes.iter().all(|p| p.isa().is_available()));
    }
}
