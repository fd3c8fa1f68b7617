//! The `sse41` level: SSE4.1 + SSSE3 kernels. [`Sse41`] is the level's token: its [`Simd`]
//! primitives on 128-bit vectors; the format files implement the format traits of
//! [`crate::x86::drive`] for it and write the entry points.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q4;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;

use std::arch::x86_64::*;

use crate::isa::Isa;
use crate::set::KernelSet;
use crate::x86::simd::{imm, lift, Simd};

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Sse41,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    q4: q4::OPS,
    f16: f16::OPS,
    // No F16C at this level: the portable reference.
    vec: &crate::vecops::SCALAR,
};

/// The `sse41` token: proof that the CPU has SSE4.1 and SSSE3.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sse41(());

impl Sse41 {
    /// The token.
    ///
    /// # Safety
    /// The CPU must have this level's features ([`Isa::Sse41`]).
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Sse41(())
    }
}

/// `y`, hidden from the optimiser (see [`Simd::opaque`]).
#[inline]
#[target_feature(enable = "sse4.1,ssse3")]
fn opaque(mut y: __m128i) -> __m128i {
    // SAFETY: an empty template: no instruction, no memory access, the value is unchanged.
    unsafe {
        std::arch::asm!("/* {y} */", y = inout(xmm_reg) y, options(pure, nomem, nostack, preserves_flags))
    };
    y
}

impl Simd for Sse41 {
    type I = __m128i;
    const VW: usize = 16;

    lift! {
        fn zero() -> __m128i = _mm_setzero_si128;
        fn splat8(x: i8) -> __m128i = _mm_set1_epi8;
        fn splat16(x: i16) -> __m128i = _mm_set1_epi16;
        fn and(a: __m128i, b: __m128i) -> __m128i = _mm_and_si128;
        fn xor(a: __m128i, b: __m128i) -> __m128i = _mm_xor_si128;
        fn add8(a: __m128i, b: __m128i) -> __m128i = _mm_add_epi8;
        fn add16(a: __m128i, b: __m128i) -> __m128i = _mm_add_epi16;
        fn add32(a: __m128i, b: __m128i) -> __m128i = _mm_add_epi32;
        fn sub16(a: __m128i, b: __m128i) -> __m128i = _mm_sub_epi16;
        fn sub32(a: __m128i, b: __m128i) -> __m128i = _mm_sub_epi32;
        fn maddubs(u: __m128i, s: __m128i) -> __m128i = _mm_maddubs_epi16;
        fn madd16(a: __m128i, b: __m128i) -> __m128i = _mm_madd_epi16;
        fn mulhi_u16(a: __m128i, b: __m128i) -> __m128i = _mm_mulhi_epu16;
        fn abs8(a: __m128i) -> __m128i = _mm_abs_epi8;
        fn cmpgt8(a: __m128i, b: __m128i) -> __m128i = _mm_cmpgt_epi8;
        fn opaque(a: __m128i) -> __m128i = opaque;
    }

    #[inline(always)]
    unsafe fn load(self, p: *const u8) -> __m128i {
        // SAFETY: readable (caller); the token proves the features.
        unsafe { _mm_loadu_si128(p.cast()) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut u8, v: __m128i) {
        // SAFETY: writable (caller); the token proves the features.
        unsafe { _mm_storeu_si128(p.cast(), v) }
    }

    #[inline(always)]
    fn srli16<const N: u32>(self, a: __m128i) -> __m128i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm_srli_epi16, N, a) }
    }

    #[inline(always)]
    fn slli16<const N: u32>(self, a: __m128i) -> __m128i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm_slli_epi16, N, a) }
    }

    #[inline(always)]
    fn srai16<const N: u32>(self, a: __m128i) -> __m128i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm_srai_epi16, N, a) }
    }

    #[inline(always)]
    fn srai32<const N: u32>(self, a: __m128i) -> __m128i {
        // SAFETY: the token proves the features.
        unsafe { imm!(_mm_srai_epi32, N, a) }
    }

    #[inline(always)]
    fn hsum4(self, v: [__m128i; 4]) -> [i32; 4] {
        let [a, b, c, d] = v;
        // SAFETY: the token proves the features; `r` is 16 writable bytes.
        unsafe {
            let ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
            let cd = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
            let s = _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd));
            let mut r = [0i32; 4];
            _mm_storeu_si128(r.as_mut_ptr().cast(), s);
            r
        }
    }

    #[inline(always)]
    fn reduce(self, a: __m128i) -> i32 {
        // SAFETY: the token proves the features.
        unsafe {
            let s = _mm_add_epi32(a, _mm_shuffle_epi32::<0b01_00_11_10>(a));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            _mm_cvtsi128_si32(s)
        }
    }
}
