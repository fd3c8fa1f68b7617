//! The `avx512vnni` level: AVX-512 F/BW/VL + VNNI kernels. [`Avx512Vnni`] is the level's token:
//! the `avx512` level's [`crate::x86::simd::Simd`] primitives, plus `vpdpbusd` where the format
//! traits of [`crate::x86::drive`] use it.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q4;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;

use std::arch::x86_64::*;

use crate::isa::Isa;
use crate::set::KernelSet;

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Avx512Vnni,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    q4: q4::OPS,
    f16: f16::OPS,
    // The avx512 level's (AVX2 attention primitives, AVX-512 quantiser).
    vec: &crate::x86::avx512::VEC,
};

/// The `avx512vnni` token: proof that the CPU has AVX-512 F/BW/VL + VNNI, AVX2, FMA and F16C.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512Vnni(());

impl Avx512Vnni {
    /// The token.
    ///
    /// # Safety
    /// The CPU must have this level's features ([`Isa::Avx512Vnni`]).
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx512Vnni(())
    }

    /// `vpdpbusd`: `acc` plus, per dword lane, the four products of unsigned bytes of `u` and
    /// signed bytes of `s` (wrapping).
    #[inline(always)]
    pub(crate) fn dpbusd(self, acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
        // SAFETY: the token proves the features.
        unsafe { _mm512_dpbusd_epi32(acc, u, s) }
    }
}

crate::x86::avx512::avx512_simd!(Avx512Vnni, {
    /// `vpdpbusd`: the code sums are dwords.
    #[inline(always)]
    fn dot_codes(self, s: __m512i, c: __m512i, a: __m512i) -> __m512i {
        self.dpbusd(s, c, a)
    }

    /// The code sums are dwords already.
    #[inline(always)]
    fn widen_codes(self, acc: __m512i, s: __m512i) -> __m512i {
        self.add32(acc, s)
    }
});

impl From<Avx512Vnni> for crate::x86::avx512::Avx512 {
    /// The `avx512` token: this level has every feature of it.
    #[inline(always)]
    fn from(_: Avx512Vnni) -> Self {
        // SAFETY: an `Avx512Vnni` token proves AVX-512 F/BW/VL, AVX2, FMA and F16C.
        unsafe { crate::x86::avx512::Avx512::new() }
    }
}
