//! The `avx2` level: AVX2 + FMA + F16C kernels. [`Avx2`] is the level's token: its [`Simd`]
//! primitives on 256-bit vectors; the format files implement the format traits of
//! [`crate::x86::drive`] for it and write the entry points.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q4;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;
pub(crate) mod vecops;

use std::arch::x86_64::*;

use crate::isa::Isa;
use crate::set::KernelSet;
use crate::x86::simd::{imm, lift, Simd};

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Avx2,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    q4: q4::OPS,
    f16: f16::OPS,
    vec: &vecops::VEC,
};

/// The `avx2` token: proof that the CPU has AVX2, FMA and F16C.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The token.
    ///
    /// # Safety
    /// The CPU must have this level's features ([`Isa::Avx2`]).
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx2(())
    }
}

/// `y`, hidden from the optimiser (see [`Simd::opaque`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn opaque(mut y: __m256i) -> __m256i {
    // SAFETY: an empty template: no instruction, no memory access, the value is unchanged.
    unsafe {
        std::arch::asm!("/* {y} */", y = inout(ymm_reg) y, options(pure, nomem, nostack, preserves_flags))
    };
    y
}

impl Simd for Avx2 {
    type I = __m256i;
    const VW: usize = 32;

    lift! {
        fn zero() -> __m256i = _mm256_setzero_si256;
        fn splat8(x: i8) -> __m256i = _mm256_set1_epi8;
        fn splat16(x: i16) -> __m256i = _mm256_set1_epi16;
        fn and(a: __m256i, b: __m256i) -> __m256i = _mm256_and_si256;
        fn xor(a: __m256i, b: __m256i) -> __m256i = _mm256_xor_si256;
        fn add8(a: __m256i, b: __m256i) -> __m256i = _mm256_add_epi8;
        fn add16(a: __m256i, b: __m256i) -> __m256i = _mm256_add_epi16;
        fn add32(a: __m256i, b: __m256i) -> __m256i = _mm256_add_epi32;
        fn sub16(a: __m256i, b: __m256i) -> __m256i = _mm256_sub_epi16;
        fn sub32(a: __m256i, b: __m256i) -> __m256i = _mm256_sub_epi32;
        fn maddubs(u: __m256i, s: __m256i) -> __m256i = _mm256_maddubs_epi16;
        fn madd16(a: __m256i, b: __m256i) -> __m256i = _mm256_madd_epi16;
        fn mulhi_u16(a: __m256i, b: __m256i) -> __m256i = _mm256_mulhi_epu16;
        fn abs8(a: __m256i) -> __m256i = _mm256_abs_epi8;
        fn cmpgt8(a: __m256i, b: __m256i) -> __m256i = _mm256_cmpgt_epi8;
        fn opaque(a: __m256i) -> __m256i = opaque;
    }

    #[inline(always)]
    unsafe fn load(self, p: *const u8) -> __m256i {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut u8, v: __m256i) {
        // SAFETY: writable (caller); the token proves the features.
        unsafe { _mm256_storeu_si256(p.cast(), v) }
    }

    #[inline(always)]
    fn srli16<const N: u32>(self, a: __m256i) -> __m256i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm256_srli_epi16, N, a) }
    }

    #[inline(always)]
    fn slli16<const N: u32>(self, a: __m256i) -> __m256i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm256_slli_epi16, N, a) }
    }

    #[inline(always)]
    fn srai16<const N: u32>(self, a: __m256i) -> __m256i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm256_srai_epi16, N, a) }
    }

    #[inline(always)]
    fn srai32<const N: u32>(self, a: __m256i) -> __m256i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm256_srai_epi32, N, a) }
    }

    #[inline(always)]
    fn hsum4(self, v: [__m256i; 4]) -> [i32; 4] {
        let [a, b, c, d] = v;
        // SAFETY: the token proves the features; `r` is 16 writable bytes.
        unsafe {
            let ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
            let cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
            let s = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
            let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            let mut r = [0i32; 4];
            _mm_storeu_si128(r.as_mut_ptr().cast(), s);
            r
        }
    }

    #[inline(always)]
    fn reduce(self, a: __m256i) -> i32 {
        // SAFETY: the token proves the features.
        unsafe {
            let s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            _mm_cvtsi128_si32(s)
        }
    }
}
