//! The `avx512` level: AVX-512 F/BW/VL (no VNNI) kernels. [`Avx512`] is the level's token: its
//! [`Simd`] primitives on 512-bit vectors (written by [`avx512_simd!`], which the `avx512vnni`
//! token uses too); the format files implement the format traits of [`crate::x86::drive`] for it
//! and write the entry points.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q4;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;

use std::arch::x86_64::*;

use crate::isa::Isa;
use crate::set::KernelSet;
use crate::vecops::VecOps;
use crate::x86::avx2::vecops;

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Avx512,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    q4: q4::OPS,
    f16: f16::OPS,
    vec: &VEC,
};

/// The AVX2 + FMA + F16C attention primitives (this level requires those features too), with
/// the activation quantiser and the softmax compiled for AVX-512 (16 lanes). Also the
/// `avx512vnni` level's.
pub(crate) static VEC: VecOps = VecOps {
    scores_f16: vecops::f16_rows::scores,
    scores_f32: vecops::f32_rows::scores,
    mix_f16: vecops::f16_rows::mix,
    mix_f32: vecops::f32_rows::mix,
    quantize,
    softmax,
};

crate::vecops::compiled_copies!("avx512f,avx512bw,avx512vl,avx2,fma,f16c");

/// The `avx512` token: proof that the CPU has AVX-512 F/BW/VL, AVX2, FMA and F16C.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// The token.
    ///
    /// # Safety
    /// The CPU must have this level's features ([`Isa::Avx512`]).
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx512(())
    }
}

/// `y`, hidden from the optimiser (see [`Simd::opaque`]).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub(crate) fn opaque(mut y: __m512i) -> __m512i {
    // SAFETY: an empty template: no instruction, no memory access, the value is unchanged.
    unsafe {
        std::arch::asm!("/* {y} */", y = inout(zmm_reg) y, options(pure, nomem, nostack, preserves_flags))
    };
    y
}

/// Writes `impl Simd for $token` on 512-bit vectors: for [`Avx512`] and the `avx512vnni`
/// token, whose levels share these instructions (items after the token override defaults).
macro_rules! avx512_simd {
    ($token:ty $(, { $($extra:item)* })?) => {
        impl $crate::x86::simd::Simd for $token {
            type I = __m512i;
            const VW: usize = 64;
            $($($extra)*)?

            $crate::x86::simd::lift! {
                fn zero() -> __m512i = _mm512_setzero_si512;
                fn splat8(x: i8) -> __m512i = _mm512_set1_epi8;
                fn splat16(x: i16) -> __m512i = _mm512_set1_epi16;
                fn and(a: __m512i, b: __m512i) -> __m512i = _mm512_and_si512;
                fn xor(a: __m512i, b: __m512i) -> __m512i = _mm512_xor_si512;
                fn add8(a: __m512i, b: __m512i) -> __m512i = _mm512_add_epi8;
                fn add16(a: __m512i, b: __m512i) -> __m512i = _mm512_add_epi16;
                fn add32(a: __m512i, b: __m512i) -> __m512i = _mm512_add_epi32;
                fn sub16(a: __m512i, b: __m512i) -> __m512i = _mm512_sub_epi16;
                fn sub32(a: __m512i, b: __m512i) -> __m512i = _mm512_sub_epi32;
                fn maddubs(u: __m512i, s: __m512i) -> __m512i = _mm512_maddubs_epi16;
                fn madd16(a: __m512i, b: __m512i) -> __m512i = _mm512_madd_epi16;
                fn mulhi_u16(a: __m512i, b: __m512i) -> __m512i = _mm512_mulhi_epu16;
                fn abs8(a: __m512i) -> __m512i = _mm512_abs_epi8;
                fn opaque(a: __m512i) -> __m512i = $crate::x86::avx512::opaque;
                fn reduce(a: __m512i) -> i32 = _mm512_reduce_add_epi32;
            }

            #[inline(always)]
            unsafe fn load(self, p: *const u8) -> __m512i {
                // SAFETY: readable (caller); the token proves the features.
                unsafe { _mm512_loadu_si512(p.cast()) }
            }

            #[inline(always)]
            unsafe fn store(self, p: *mut u8, v: __m512i) {
                // SAFETY: writable (caller); the token proves the features.
                unsafe { _mm512_storeu_si512(p.cast(), v) }
            }

            #[inline(always)]
            fn srli16<const N: u32>(self, a: __m512i) -> __m512i {
                // SAFETY: the token proves the features.
                unsafe { _mm512_srli_epi16::<N>(a) }
            }

            #[inline(always)]
            fn slli16<const N: u32>(self, a: __m512i) -> __m512i {
                // SAFETY: the token proves the features.
                unsafe { _mm512_slli_epi16::<N>(a) }
            }

            #[inline(always)]
            fn srai16<const N: u32>(self, a: __m512i) -> __m512i {
                // SAFETY: the token proves the features.
                unsafe { _mm512_srai_epi16::<N>(a) }
            }

            #[inline(always)]
            fn srai32<const N: u32>(self, a: __m512i) -> __m512i {
                // SAFETY: the token proves the features.
                unsafe { _mm512_srai_epi32::<N>(a) }
            }

            #[inline(always)]
            fn cmpgt8(self, a: __m512i, b: __m512i) -> __m512i {
                // SAFETY: the token proves the features.
                unsafe { _mm512_movm_epi8(_mm512_cmpgt_epi8_mask(a, b)) }
            }

            #[inline(always)]
            fn hsum4(self, v: [__m512i; 4]) -> [i32; 4] {
                // SAFETY: the token proves the features; `r` is 16 writable bytes.
                unsafe {
                    let [a, b, c, d] = v.map(|x| {
                        _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64::<1>(x))
                    });
                    let ab =
                        _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
                    let cd =
                        _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
                    let s =
                        _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
                    let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
                    let mut r = [0i32; 4];
                    _mm_storeu_si128(r.as_mut_ptr().cast(), s);
                    r
                }
            }

        }
    };
}
pub(crate) use avx512_simd;

avx512_simd!(Avx512);
