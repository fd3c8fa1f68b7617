//! The per-level primitives the x86 drivers are written against: one [`Simd`] implementation
//! per SIMD level (a zero-sized token type in the level's module), whose methods are single
//! intrinsics (load, store, byte/word/dword arithmetic, shifts, `pmaddubsw`, `pmaddwd`,
//! shuffles) or short fixed sequences (horizontal sums).
//!
//! **How it compiles per level.** Every method is `#[inline(always)]` and carries no
//! `#[target_feature]`; the drivers ([`super::drive`]) are `#[inline(always)]` generic functions;
//! each level's kernel entry point is a `#[target_feature(enable = ...)]` function that calls a
//! driver with its token. Monomorphised and inlined there, the whole kernel is one function
//! compiled with that level's features, so the instructions are the level's own (LLVM inlines
//! an intrinsic, itself a `#[target_feature]` function, once its caller has the features).
//!
//! **Why the methods are safe.** A token can only be made with its `unsafe fn new`, whose
//! contract is that the CPU has the level's features; the entry points make one after
//! [`crate::KernelSet::get`] checked them. So a method that executes the level's instructions is
//! sound to call on any token that exists. Methods that dereference a raw pointer stay `unsafe`.
//!
//! To add a level: a token, its `Simd` implementation (the [`lift!`] macro writes the one-line
//! wrappers), and the format traits of [`super::drive`] for it.

/// One SIMD level's integer vector primitives. `I` is the level's integer vector (`__m128i`,
/// `__m256i` or `__m512i`); byte, word and dword lanes are named by the method (`8`, `16`, `32`).
/// Every operation works lane by lane as the instruction itself does.
pub(crate) trait Simd: Copy {
    /// The integer vector.
    type I: Copy;
    /// Bytes per vector.
    const VW: usize;

    /// All zeros.
    fn zero(self) -> Self::I;
    /// Every byte `x`.
    fn splat8(self, x: i8) -> Self::I;
    /// Every word `x`.
    fn splat16(self, x: i16) -> Self::I;
    /// Loads `VW` bytes from `p` (any alignment).
    ///
    /// # Safety
    /// `p..p+VW` must be readable.
    unsafe fn load(self, p: *const u8) -> Self::I;
    /// Stores `VW` bytes to `p` (any alignment).
    ///
    /// # Safety
    /// `p..p+VW` must be writable.
    unsafe fn store(self, p: *mut u8, v: Self::I);

    /// Bitwise and.
    fn and(self, a: Self::I, b: Self::I) -> Self::I;
    /// Bitwise xor.
    fn xor(self, a: Self::I, b: Self::I) -> Self::I;
    /// Wrapping byte add.
    fn add8(self, a: Self::I, b: Self::I) -> Self::I;
    /// Wrapping word add.
    fn add16(self, a: Self::I, b: Self::I) -> Self::I;
    /// Wrapping dword add.
    fn add32(self, a: Self::I, b: Self::I) -> Self::I;
    /// Wrapping word subtract.
    fn sub16(self, a: Self::I, b: Self::I) -> Self::I;
    /// Wrapping dword subtract.
    fn sub32(self, a: Self::I, b: Self::I) -> Self::I;
    /// Logical word shift right by `N`.
    fn srli16<const N: u32>(self, a: Self::I) -> Self::I;
    /// Word shift left by `N`.
    fn slli16<const N: u32>(self, a: Self::I) -> Self::I;
    /// Arithmetic word shift right by `N`.
    fn srai16<const N: u32>(self, a: Self::I) -> Self::I;
    /// Arithmetic dword shift right by `N`.
    fn srai32<const N: u32>(self, a: Self::I) -> Self::I;
    /// `pmaddubsw`: unsigned bytes of `u` times signed bytes of `s`, adjacent pairs added into
    /// saturating words.
    fn maddubs(self, u: Self::I, s: Self::I) -> Self::I;
    /// `pmaddwd`: signed words multiplied, adjacent pairs added into dwords.
    fn madd16(self, a: Self::I, b: Self::I) -> Self::I;
    /// `pmulhuw`: the high word of each unsigned word product.
    fn mulhi_u16(self, a: Self::I, b: Self::I) -> Self::I;
    /// Byte absolute value (-128 stays 0x80).
    fn abs8(self, a: Self::I) -> Self::I;
    /// Signed byte `a > b` as all-ones bytes.
    fn cmpgt8(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a` unchanged, hidden from LLVM's optimiser (an empty `asm!` on the register; no
    /// instruction), so it cannot fold a chain of byte adds into emulated byte multiplies.
    fn opaque(self, a: Self::I) -> Self::I;

    /// Dword lane sums of four vectors, `[Σa, Σb, Σc, Σd]` (a transposing add tree: about 5
    /// instructions per sum).
    fn hsum4(self, v: [Self::I; 4]) -> [i32; 4];
    /// The dword lane sum of one vector.
    fn reduce(self, a: Self::I) -> i32;

    /// `s` plus the products of unsigned bytes `c` (codes, at most 127) and signed bytes `a`, in
    /// the level's code-sum lanes: `pmaddubsw` pairs added into words (which cannot saturate
    /// for codes ≤ 2: a pair is at most 2·2·128 = 512), or `vpdpbusd` quads into dwords.
    #[inline(always)]
    fn dot_codes(self, s: Self::I, c: Self::I, a: Self::I) -> Self::I {
        self.add16(s, self.maddubs(c, a))
    }
    /// `acc` (dwords) plus the code sums `s` of [`Simd::dot_codes`], widened to dwords.
    #[inline(always)]
    fn widen_codes(self, acc: Self::I, s: Self::I) -> Self::I {
        self.add32(acc, self.madd16(s, self.splat16(1)))
    }

    /// Dword lane sums of `N` vectors, four at a time.
    #[inline(always)]
    fn hsum<const N: usize>(self, v: &[Self::I; N]) -> [i32; N] {
        let mut o = [0; N];
        let mut i = 0;
        while i < N {
            let mut x = [self.zero(); 4];
            let n = (N - i).min(4);
            x[..n].copy_from_slice(&v[i..i + n]);
            let s = self.hsum4(x);
            o[i..i + n].copy_from_slice(&s[..n]);
            i += 4;
        }
        o
    }
}

/// Writes `Simd` methods that are one intrinsic each: `fn name(a: I, b: I) -> I = intrinsic;`.
/// Used inside an `impl Simd for Token`, whose token proves the level's features.
macro_rules! lift {
    ($( fn $name:ident ($($a:ident : $t:ty),*) -> $r:ty = $f:path; )*) => {
        $(
            #[inline(always)]
            fn $name(self, $($a: $t),*) -> $r {
                // SAFETY: a token exists only where the CPU has its level's features (its
                // `new` is unsafe with that contract; see the `simd` module).
                unsafe { $f($($a),*) }
            }
        )*
    };
}
pub(crate) use lift;

/// `f::<N>(a)` for an SSE/AVX2 shift whose immediate is an `i32`, with `N` a `u32` const
/// parameter (the AVX-512 shifts take `u32`; the trait follows them): a match on `N` that
/// folds away after monomorphisation. Counts 0 to 15 (a word's bits).
macro_rules! imm {
    ($f:ident, $n:ident, $a:expr) => {
        match $n {
            0 => $f::<0>($a),
            1 => $f::<1>($a),
            2 => $f::<2>($a),
            3 => $f::<3>($a),
            4 => $f::<4>($a),
            5 => $f::<5>($a),
            6 => $f::<6>($a),
            7 => $f::<7>($a),
            8 => $f::<8>($a),
            9 => $f::<9>($a),
            10 => $f::<10>($a),
            11 => $f::<11>($a),
            12 => $f::<12>($a),
            13 => $f::<13>($a),
            14 => $f::<14>($a),
            15 => $f::<15>($a),
            _ => unreachable!("shift counts are below 16"),
        }
    };
}
pub(crate) use imm;

/// Prefetches the line at `p` into all cache levels (a hint: never faults, whatever `p`).
#[inline(always)]
pub(crate) fn prefetch_t0(p: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: SSE is part of the x86-64 baseline; a prefetch reads nothing architecturally.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
}

/// Prefetches the line at `p` into L2 (a hint: never faults, whatever `p`).
#[inline(always)]
pub(crate) fn prefetch_t1(p: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
    // SAFETY: as in `prefetch_t0`.
    unsafe { _mm_prefetch::<_MM_HINT_T1>(p.cast()) }
}
